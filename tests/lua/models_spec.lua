-- Models: Sequential, custom models (nn.Model:extend), models as layers,
-- weights in Keras's order, freezing, modes, weight files.
local dnn = dnn or require "dnn"
local nn = dnn.nn

local function errors_with(fn, needle)
  local ok, err = pcall(fn)
  assert.is_false(ok, "expected an error containing: " .. needle)
  assert.truthy(tostring(err):find(needle, 1, true), "error was: " .. tostring(err))
end

describe("Sequential", function()
  it("builds every layer at once from the first layer's input_shape", function()
    local model = nn.Sequential{
      nn.Dense(4, {input_shape = {3}, activation = "relu"}),
      nn.Dense(4, {activation = "relu"}),
      nn.Dense(1, {activation = "sigmoid"}),
    }
    assert.are.equal(6, #model:parameters())
    assert.are.equal(41, (model:count_params()))
    assert.are.same({3}, model.input_shape)
    assert.truthy(model.name:match("^sequential"))
    assert.are.equal("Sequential", model.type_name)
  end)

  it("takes an nn.Input as its first element, as Keras", function()
    local model = nn.Sequential{nn.Input{5}, nn.Dense(2)}
    assert.are.equal(12, (model:count_params()))
    assert.are.equal(1, #model.layers)
    assert.are.same({4, 2}, model(dnn.ones(4, 5)).shape)
    errors_with(function() model:add(nn.Input{3}) end, "an nn.Input can only come first")
  end)

  it("builds lazily on the first call without an input shape, and add/pop change it", function()
    local model = nn.Sequential()
    model:add(nn.Dense(3))
    assert.are.equal(0, #model:parameters())
    assert.are.same({2, 3}, model(dnn.ones(2, 7)).shape)
    assert.are.equal(2, #model:parameters())
    model:add(nn.Dense(5)) -- the input shape is known now: built at once
    assert.are.equal(4, #model:parameters())
    local last = model:pop()
    assert.are.equal(5, last.units)
    assert.are.equal(1, #model.layers)
    errors_with(function() nn.Sequential():pop() end, "Sequential:pop: the model has no layers")
  end)

  it("refuses what is not a layer, and a layer that does not fit the shape so far", function()
    errors_with(function() nn.Sequential{nn.Dense(2, {input_shape = {3}}), 42} end,
      "Sequential:add: expected a layer, got number")
    errors_with(function() nn.Sequential(nn.Dense(2)) end, "Sequential: expected an array of layers, got Dense 'dense")
    local model = nn.Sequential{nn.Dense(2, {input_shape = {3}})}
    errors_with(function() model:add(nn.Dense(4, {input_shape = {7}})) end, "Sequential:add:")
    assert.are.equal(1, #model.layers, "the refused layer is not kept")
  end)

  it("probes shapes in inference mode: building does not touch batch-norm statistics or the PRNG", function()
    dnn.manual_seed(3)
    local expected = dnn.rand(4):totable()
    dnn.manual_seed(3)
    local model = nn.Sequential{nn.Dense(4, {input_shape = {3}, kernel_initializer = "ones"}), nn.Dropout(0.5),
      nn.BatchNormalization()}
    assert.are.same(expected, dnn.rand(4):totable())
    local bn = model.layers[3]
    assert.are.same({0, 0, 0, 0}, bn.moving_mean:totable())
    assert.are.same({1, 1, 1, 1}, bn.moving_variance:totable())
    assert.is_true(model.training, "the model stays in training mode after the probe")
    assert.is_true(bn.training)
  end)

  it("switches every layer (nested models too) with train() and eval()", function()
    local inner = nn.Sequential{nn.Dense(2, {input_shape = {2}}), nn.Dropout(0.5)}
    local model = nn.Sequential{inner, nn.Dense(1)}
    model:eval()
    assert.is_false(model.training)
    assert.is_false(inner.layers[2].training)
    model:train()
    assert.is_true(inner.layers[2].training)
    assert.is_true(model.layers[2].training)
  end)
end)

describe("weights", function()
  local function mlp()
    return nn.Sequential{nn.Dense(3, {input_shape = {2}}), nn.BatchNormalization(), nn.Dense(1)}
  end

  it("get_weights is flat, in Keras's order: layer by layer, kernel then bias, BN gamma, beta, moving stats", function()
    local model = mlp()
    local w = model:get_weights()
    local shapes = {}
    for i, t in ipairs(w) do shapes[i] = table.concat(t.shape, "x") end
    assert.are.same({"2x3", "3", "3", "3", "3", "3", "3x1", "1"}, shapes)
    local names = {}
    for i, nw in ipairs(model:named_weights()) do names[i] = nw.name end
    local d1, bn, d2 = model.layers[1].name, model.layers[2].name, model.layers[3].name
    assert.are.same({d1 .. "/kernel", d1 .. "/bias", bn .. "/gamma", bn .. "/beta", bn .. "/moving_mean",
      bn .. "/moving_variance", d2 .. "/kernel", d2 .. "/bias"}, names)
  end)

  it("set_weights copies a flat list back, and checks count and shapes", function()
    local a, b = mlp(), mlp()
    b:set_weights(a:get_weights())
    local x = dnn.randn(5, 2)
    a:eval()
    b:eval()
    assert.are.same(a(x):totable(), b(x):totable())
    local w = a:get_weights()
    table.remove(w)
    errors_with(function() b:set_weights(w) end, "expects 8 weights, got 7")
    w = a:get_weights()
    w[1] = dnn.zeros(3, 2)
    errors_with(function() b:set_weights(w) end, "has shape {2,3}, got {3,2}")
  end)

  it("get_weights copies: changing them leaves the model alone", function()
    local model = mlp()
    local w = model:get_weights()
    w[1]:fill(7)
    assert.are_not.equal(7, model.layers[1].kernel:totable()[1][1])
  end)

  it("a frozen layer leaves parameters() and counts as non-trainable", function()
    local model = mlp()
    model.layers[1].trainable = false
    assert.are.equal(4, #model:parameters()) -- BN gamma, beta; Dense 2 kernel, bias
    local total, trainable, non_trainable = model:count_params()
    assert.are.equal(9 + 12 + 4, total)
    assert.are.equal(6 + 4, trainable)
    assert.are.equal(9 + 6, non_trainable)
    model.trainable = false
    assert.are.equal(0, #model:parameters())
    assert.are.same({25, 0, 25}, {model:count_params()})
  end)

  it("save_weights / load_weights round-trip through a weights file", function()
    local model = mlp()
    local saved = model:get_weights()
    local path = os.tmpname()
    model:save_weights(path)
    dnn.no_grad(function() for _, w in ipairs(model:named_weights()) do w.tensor:fill(0.5) end end)
    model:load_weights(path)
    os.remove(path)
    local now = model:get_weights()
    for i = 1, #saved do assert.are.same(saved[i]:totable(), now[i]:totable()) end
  end)
end)

describe("custom models (nn.Model:extend)", function()
  local Net = nn.Model:extend("TwoTower")
  function Net:init(units)
    self.hidden = nn.Dense(units, {activation = "relu"})
    self.blocks = {nn.Dense(3), nn.Dense(2)}
    self.head = nn.Dense(1)
    self.note = {"not a layer"}
  end
  function Net:forward(x)
    x = self.hidden(x)
    for _, b in ipairs(self.blocks) do x = b(x) end
    return self.head(x)
  end

  it("track the layers in their fields (arrays too) in assignment order", function()
    local model = Net(4)
    assert.are.equal("two_tower", model.name:match("^two_tower"))
    local y = model(dnn.ones(5, 6))
    assert.are.same({5, 1}, y.shape)
    local layers = model.layers
    assert.are.equal(4, #layers)
    assert.are.equal(model.hidden, layers[1])
    assert.are.equal(model.blocks[1], layers[2])
    assert.are.equal(model.blocks[2], layers[3])
    assert.are.equal(model.head, layers[4])
    assert.are.equal(8, #model:parameters())
    assert.are.equal((6 * 4 + 4) + (4 * 3 + 3) + (3 * 2 + 2) + (2 + 1), (model:count_params()))
  end)

  it("train with an optimizer like any model", function()
    dnn.manual_seed(2)
    local model = Net(8)
    local x, y = dnn.randn(16, 3), dnn.randn(16, 1)
    model(x)
    local opt = dnn.optim.Adam{learning_rate = 0.01, params = model:parameters()}
    local first
    for _ = 1, 30 do
      local loss = dnn.losses.mse(y, model(x))
      first = first or loss:item()
      opt:zero_grad()
      loss:backward()
      opt:step()
    end
    assert.truthy(dnn.losses.mse(y, model(x)):item() < first)
  end)

  it("take a name option, and a layer shared by two fields counts once", function()
    local Shared = nn.Model:extend("Shared")
    function Shared:init()
      self.a = nn.Dense(2)
      self.b = self.a
    end
    function Shared:forward(x) return self.b(self.a(x)) end
    local model = Shared({name = "mine"})
    assert.are.equal("mine", model.name)
    model(dnn.ones(1, 2))
    assert.are.equal(1, #model.layers)
    assert.are.equal(6, (model:count_params()))
  end)
end)

describe("models as layers", function()
  it("a Sequential inside a Sequential trains as one", function()
    local inner = nn.Sequential{nn.Dense(4, {input_shape = {3}, activation = "relu"}), nn.Dense(4)}
    local model = nn.Sequential{inner, nn.Dense(1)}
    assert.are.equal(6, #model:parameters())
    assert.are.equal(16 + 20 + 5, (model:count_params()))
    assert.are.same({2, 1}, model(dnn.ones(2, 3)).shape)
    assert.are.equal(6, #model:get_weights())
    assert.are.equal(inner.layers[1].kernel, model:named_weights()[1].tensor)
  end)

  it("regularization losses of nested layers add up", function()
    local inner = nn.Sequential{nn.Dense(2, {input_shape = {2}, kernel_initializer = "ones",
      kernel_regularizer = dnn.regularizers.l2(0.5)})}
    local model = nn.Sequential{inner, nn.Dense(1, {kernel_initializer = "ones",
      kernel_regularizer = dnn.regularizers.l1(0.25)})}
    -- l2: 0.5 * 4 ones; l1: 0.25 * 2 ones
    assert.are.equal(2 + 0.5, model:regularization_loss():item())
  end)
end)
