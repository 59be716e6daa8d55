-- The functional API: nn.Input, symbolic tensors, nn.Model{inputs, outputs},
-- merge layers on real and symbolic tensors.
local dnn = dnn or require "dnn"
local H = require "helpers"
local nn = dnn.nn

local function errors_with(fn, needle)
  local ok, err = pcall(fn)
  assert.is_false(ok, "expected an error containing: " .. needle)
  assert.truthy(tostring(err):find(needle, 1, true), "error was: " .. tostring(err))
end

describe("nn.Input", function()
  it("makes a symbolic tensor with a batch dim of -1, in every call form", function()
    assert.are.same({-1, 3}, nn.Input{3}.shape)
    assert.are.same({-1, 28, 28, 1}, nn.Input{shape = {28, 28, 1}}.shape)
    assert.are.same({-1, 28, 28, 1}, nn.Input({28, 28, 1}, {name = "image"}).shape)
    assert.are.same({-1, 5}, nn.Input(5).shape)
    assert.are.same({8, 5}, nn.Input{5, batch_size = 8}.shape)
    assert.are.equal("image", nn.Input({2}, {name = "image"}).node.layer.name)
    assert.truthy(tostring(nn.Input{3}):find("shape=(None, 3)", 1, true))
  end)

  it("refuses bad shapes", function()
    errors_with(function() nn.Input{} end, "Input: expected a shape")
    errors_with(function() nn.Input{0} end, "must be a positive integer")
    errors_with(function() nn.Input{2.5} end, "must be a positive integer")
  end)

  it("is not a tensor: tensor methods say to use layers", function()
    local x = nn.Input{3}
    errors_with(function() return x:relu() end, "'relu' is not defined on a symbolic tensor")
    errors_with(function() return x + 1 end, "arithmetic on a symbolic tensor")
    errors_with(function() return -x end, "arithmetic on a symbolic tensor")
    errors_with(function() return x / x end, "arithmetic on a symbolic tensor")
  end)

  it("adds, subtracts and multiplies two symbolic tensors through the merge layers, as Keras", function()
    local a, b = nn.Input{3}, nn.Input{3}
    local sum, diff, prod = a + b, a - b, a * b
    assert.are.equal("Add", sum.node.layer.type_name)
    assert.are.equal("Subtract", diff.node.layer.type_name)
    assert.are.equal("Multiply", prod.node.layer.type_name)
    local model = nn.Model{inputs = {a, b}, outputs = {sum, diff, prod}}
    local x, y = dnn.tensor{{1, 2, 3}}, dnn.tensor{{4, 5, 6}}
    local s, d, p = model{x, y}
    H.assert_close(s, x + y, 0)
    H.assert_close(d, x - y, 0)
    H.assert_close(p, x * y, 0)
    local seq = nn.Input{5, 8}
    local with_positions = seq + nn.PositionEmbedding{sequence_length = 5}(seq)
    assert.are.same({-1, 5, 8}, with_positions.shape)
  end)
end)

describe("layers on symbolic tensors", function()
  it("record the graph and compute output shapes", function()
    local x = nn.Input{3}
    local dense = nn.Dense(4, {activation = "relu"})
    local h = dense(x)
    assert.are.same({-1, 4}, h.shape)
    assert.are.equal(dense, h.node.layer)
    assert.are.equal(x, h.node.inputs[1])
    assert.is_truthy(dense.built, "the probe builds the layer")
    assert.are.same({3, 4}, dense.kernel.shape)
    assert.are.same({-1, 12}, nn.Flatten()(nn.Dense(3)(nn.Input{4, 5})).shape)
  end)

  it("keep a dim of unknown size (-1) unknown where the output follows it", function()
    local ids = nn.Input{-1}
    local x = nn.Embedding(10, 6)(ids)
    assert.are.same({-1, -1, 6}, x.shape)
    assert.are.same({-1, -1, 3}, nn.Dense(3)(x).shape)
    assert.are.same({-1, 6}, nn.GlobalAveragePooling1D()(x).shape)
    assert.are.equal("<KerasTensor shape=(None, None, 6), name=" .. x.name .. ">", tostring(x))
    local model = nn.Model{inputs = ids, outputs = nn.Dense(2)(x)}
    H.assert_shape(model(dnn.tensor{{1, 2, 3, 4, 5}}), {1, 5, 2})
    H.assert_shape(model(dnn.tensor{{1, 2}}), {1, 2, 2})
    local flat = nn.Flatten()(x)
    assert.are.same({-1, -1}, flat.shape)
    errors_with(function() nn.Dense(2)(flat) end, "Dense")
  end)

  it("report a layer that does not fit its input, naming the layer", function()
    local x = nn.Input{4}
    local d = nn.Dense(2, {input_shape = {3}})
    errors_with(function() d(x) end, "Dense '" .. d.name .. "'")
  end)
end)

describe("nn.Model", function()
  it("runs the seeds' MLP and counts its parameters as Keras", function()
    local inputs = nn.Input{3}
    local l1 = nn.Dense(4, {activation = "relu"})(inputs)
    local l2 = nn.Dense(4, {activation = "relu"})(l1)
    local outputs = nn.Dense(1, {activation = "sigmoid"})(l2)
    local model = nn.Model{inputs = inputs, outputs = outputs}
    assert.truthy(model.name:match("^functional"))
    assert.are.equal(41, (model:count_params()))
    assert.are.equal(4, #model.layers) -- the InputLayer first, as Keras
    assert.are.equal("InputLayer", model.layers[1].type_name)
    assert.are.equal(6, #model:parameters())
    local y = model(dnn.rand(7, 3))
    assert.are.same({7, 1}, y.shape)
    assert(y:min():item() > 0 and y:max():item() < 1)
  end)

  it("computes what calling the layers by hand computes", function()
    local d1, d2 = nn.Dense(5, {activation = "tanh"}), nn.Dense(2)
    local inputs = nn.Input{3}
    local model = nn.Model(inputs, d2(d1(inputs)))
    local x = dnn.randn(4, 3)
    assert.are.same(d2(d1(x)):totable(), model(x):totable())
  end)

  it("takes several inputs as an array and returns several outputs as several values", function()
    local a, b = nn.Input{4}, nn.Input{2}
    local joined = nn.Concatenate{axis = -1}{a, b}
    local h = nn.Dense(3)(joined)
    local sum = nn.Add(){h, nn.Dense(3)(b)}
    local model = nn.Model{inputs = {a, b}, outputs = {sum, h}}
    assert.are.same({-1, 6}, joined.shape)
    local o1, o2 = model{dnn.ones(2, 4), dnn.ones(2, 2)}
    assert.are.same({2, 3}, o1.shape)
    assert.are.same({2, 3}, o2.shape)
    assert.are.equal(2, #model.outputs)
    errors_with(function() model(dnn.ones(2, 4)) end, "expected an array of 2 tensors, got a tensor")
    errors_with(function() model{dnn.ones(2, 4)} end, "expected an array of 2 tensors, got an array of 1")
    errors_with(function() model{dnn.ones(2, 4), dnn.ones(2, 3)} end, "input 2")
    errors_with(function() model{dnn.ones(2, 4), dnn.ones(2, 3)} end, "expects shape (None, 2), got (2, 3)")
  end)

  it("backpropagates through branches into every layer", function()
    local x = nn.Input{3}
    local left, right = nn.Dense(2), nn.Dense(2)
    local model = nn.Model(x, nn.Dense(1)(nn.Concatenate(){left(x), right(x)}))
    local loss = model(dnn.randn(5, 3)):sum()
    loss:backward()
    for _, p in ipairs(model:parameters()) do
      assert.is_not_nil(p.grad, "every parameter gets a gradient")
    end
  end)

  it("shares a layer called twice: one set of weights", function()
    local shared = nn.Dense(4)
    local a, b = nn.Input{3}, nn.Input{3}
    local model = nn.Model({a, b}, nn.Add(){shared(a), shared(b)})
    assert.are.equal(2, #model:parameters())
    assert.are.equal(16, (model:count_params()))
    local x = dnn.randn(2, 3)
    assert.are.same((shared(x) * 2):totable(), model{x, x}:totable())
  end)

  it("uses a model as a layer of another model", function()
    local inner_in = nn.Input{3}
    local inner = nn.Model(inner_in, nn.Dense(2)(inner_in))
    local x = nn.Input{3}
    local y = nn.Dense(1)(inner(x))
    assert.are.same({-1, 1}, y.shape)
    local outer = nn.Model(x, y)
    assert.are.equal(inner, outer.layers[2])
    assert.are.equal(8 + 3, (outer:count_params()))
    assert.are.equal(4, #outer:parameters())
    assert.are.same({5, 1}, outer(dnn.ones(5, 3)).shape)
  end)

  it("refuses a disconnected graph, non-Input inputs and non-symbolic outputs", function()
    local a, b = nn.Input{2}, nn.Input{2}
    local sum = nn.Add(){a, b}
    errors_with(function() nn.Model{inputs = a, outputs = sum} end, "graph disconnected")
    errors_with(function() nn.Model{inputs = sum, outputs = sum} end, "was not made by nn.Input")
    errors_with(function() nn.Model{inputs = a, outputs = dnn.ones(2)} end, "outputs")
    errors_with(function() nn.Model{inputs = a} end, "expected outputs to be a symbolic tensor")
    errors_with(function() nn.Model(42) end, "expected {inputs = ..., outputs = ...}")
  end)

  it("leaves probes out of the statistics: batch norm in a graph keeps its moving stats", function()
    local x = nn.Input{3}
    local bn = nn.BatchNormalization()
    nn.Model(x, bn(nn.Dense(3, {kernel_initializer = "ones", bias_initializer = "ones"})(x)))
    assert.are.same({0, 0, 0}, bn.moving_mean:totable())
  end)
end)

describe("merge layers", function()
  it("Add, Subtract, Multiply, Average, Maximum, Minimum on real tensors", function()
    local a, b = dnn.tensor{{1, 5}}, dnn.tensor{{3, 2}}
    assert.are.same({{4, 7}}, nn.Add(){a, b}:totable())
    assert.are.same({{5, 8}}, nn.Add(){a, b, dnn.tensor{{1, 1}}}:totable())
    assert.are.same({{-2, 3}}, nn.Subtract(){a, b}:totable())
    assert.are.same({{3, 10}}, nn.Multiply(){a, b}:totable())
    assert.are.same({{2, 3.5}}, nn.Average(){a, b}:totable())
    assert.are.same({{3, 5}}, nn.Maximum(){a, b}:totable())
    assert.are.same({{1, 2}}, nn.Minimum(){a, b}:totable())
  end)

  it("Concatenate joins along axis (1-based, batch first; -1 the last)", function()
    local a, b = dnn.ones(2, 3), dnn.zeros(2, 1)
    assert.are.same({2, 4}, nn.Concatenate(){a, b}.shape)
    assert.are.same({2, 4}, nn.Concatenate{axis = 2}{a, b}.shape)
    assert.are.same({4, 3}, nn.Concatenate(1){a, a}.shape)
    local s = nn.Concatenate{axis = 2}{nn.Input{2, 5}, nn.Input{3, 5}}
    assert.are.same({-1, 5, 5}, s.shape)
    errors_with(function() nn.Concatenate{axis = 0} end, "nonzero integer axis")
  end)

  it("refuse a single tensor, too few inputs and mismatched shapes, naming the layer", function()
    local add = nn.Add()
    errors_with(function() add(dnn.ones(2)) end, "expected an array of at least 2 tensors, got a single tensor")
    errors_with(function() add{dnn.ones(2)} end, "got an array of 1")
    errors_with(function() nn.Subtract(){dnn.ones(2), dnn.ones(2), dnn.ones(2)} end, "expected an array of 2 tensors")
    errors_with(function() add{dnn.ones(2, 3), dnn.ones(2, 4)} end, "Add '" .. add.name .. "'")
    errors_with(function() add{dnn.ones(2, 3), "x"} end, "input 2 is not a tensor")
    local cat = nn.Concatenate()
    errors_with(function() cat{dnn.ones(2, 3), dnn.ones(3, 3)} end, "Concatenate '" .. cat.name .. "'")
  end)

  it("compute output shapes without running (compute_output_shape)", function()
    assert.are.same({-1, 4}, nn.Add():compute_output_shape{{-1, 4}, {-1, 4}})
    assert.are.same({-1, 7}, nn.Concatenate():compute_output_shape{{-1, 4}, {-1, 3}})
  end)
end)
