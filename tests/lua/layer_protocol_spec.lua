-- The layer protocol (issue item 5): call forms (training per call, several
-- inputs), several results, masks, trainable acting at once, and errors that
-- keep the user's traceback.
local dnn = dnn or require "dnn"
local H = require "helpers"
local nn = dnn.nn

local DNNLUA = os.getenv("DNNLUA")

local function write_file(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

-- Runs a script with dnnlua as a user would; returns stderr and the exit code.
local function run_script(source)
  local script, err = os.tmpname() .. ".lua", os.tmpname()
  write_file(script, source)
  local p = assert(io.popen(string.format("'%s' '%s' 2>'%s'", DNNLUA, script, err)))
  p:read("a")
  local _, _, code = p:close()
  local f = assert(io.open(err, "rb"))
  local text = f:read("a")
  f:close()
  os.remove(script)
  os.remove(err)
  return text, code, script
end

describe("errors", function()
  -- A custom model whose forward calls a broken custom layer inside
  -- no_grad; fit runs it. {{BODY}} is the broken forward's line 6.
  local template = [[
local nn = dnn.nn
local Bad = nn.Layer:extend("Bad")
getmetatable(Bad).__call = function(cls) return nn.Layer.init(cls, {}, "bad") end
function Bad:forward(x)
  local t = nil
  {{BODY}}
end
local Net = nn.Model:extend("Net")
function Net:init() self.dense = nn.Dense(3); self.bad = Bad() end
function Net:forward(x)
  local h = self.dense(x)
  return dnn.no_grad(function() return self.bad(h) end)
end
local model = Net()
model:compile{optimizer = "sgd", loss = "mse"}
local x, y = dnn.randn(8, 4), dnn.randn(8, 3)
model:fit(x, y, {epochs = 1, verbose = 0})
]]

  it("in a custom layer's forward, inside no_grad inside fit, names the layer and keeps every frame", function()
    if not DNNLUA then pending("DNNLUA (the dnnlua binary) is not set; ctest sets it") return end
    local err, code, script = run_script((template:gsub("{{BODY}}", "return t.oops + x")))
    assert.are.equal(1, code)
    assert.truthy(err:find("Bad 'bad' (created at " .. script .. ":9): attempt to index a nil value", 1, true), err)
    assert.truthy(err:find(script .. ":6: in ", 1, true), err)      -- the user's forward
    assert.truthy(err:find(script .. ":12: in ", 1, true), err)     -- the no_grad call in the model
    assert.truthy(err:find(script .. ":17: in main chunk", 1, true), err) -- the user's line calling fit
    local _, tracebacks = err:gsub("stack traceback:", "")
    assert.are.equal(1, tracebacks, err)
  end)

  it("raised by error() in a forward shows the error call and the same frames", function()
    if not DNNLUA then pending("DNNLUA (the dnnlua binary) is not set; ctest sets it") return end
    local err, code, script = run_script((template:gsub("{{BODY}}", "error('bad input')")))
    assert.are.equal(1, code)
    assert.truthy(err:find("Bad 'bad' (created at " .. script .. ":9): bad input", 1, true), err)
    assert.truthy(err:find("[C]: in function 'error'", 1, true), err)
    assert.truthy(err:find(script .. ":6: in ", 1, true), err)
    assert.truthy(err:find(script .. ":17: in main chunk", 1, true), err)
  end)

  it("outside any layer, inside no_grad inside fit, keeps every frame", function()
    if not DNNLUA then pending("DNNLUA (the dnnlua binary) is not set; ctest sets it") return end
    local source = template:gsub("{{BODY}}", "return x"):gsub("return self%.bad%(h%)", "error('plain failure')")
    local err, code, script = run_script(source)
    assert.are.equal(1, code)
    assert.truthy(err:find(script .. ":12: plain failure", 1, true), err)
    assert.truthy(err:find("[C]: in function 'error'", 1, true), err)
    assert.truthy(err:find(script .. ":17: in main chunk", 1, true), err)
  end)

  it("caught by pcall still name the layer, and no_grad restores the grad mode", function()
    local Broken = nn.Layer:extend("Broken")
    getmetatable(Broken).__call = function(cls) return nn.Layer.init(cls, {}, "broken") end
    function Broken:forward() error("no luck") end
    local l = Broken()
    local msg = H.error_of(function() return dnn.no_grad(function() return l(dnn.ones(2)) end) end)
    assert.truthy(msg:find("^Broken 'broken' %(created at [^)]+%): no luck\nstack traceback:\n"), msg)
    assert.is_true(dnn.is_grad_enabled())
    dnn.no_grad(function()
      assert.is_false(pcall(dnn.enable_grad, function() error("inner") end))
      assert.is_false(dnn.is_grad_enabled())
    end)
    assert.is_true(dnn.is_grad_enabled())
  end)

  it("in a constructor point at the user's line", function()
    local msg = H.error_of(function()
      local l = nn.Dense(0) -- this line
      return l
    end)
    local line = debug.getinfo(1, "l").currentline - 3
    assert.truthy(msg:find("^[^\n]*layer_protocol_spec%.lua:" .. line .. ": Dense: expected a positive integer"), msg)
  end)

  it("in a custom layer's constructor keep the frames of the user's code", function()
    local Custom = nn.Layer:extend("Custom")
    local function check_units(n)
      if n < 1 then error("units must be positive") end -- the line the traceback must show
    end
    local check_line = debug.getinfo(1, "l").currentline - 2
    getmetatable(Custom).__call = function(cls, n)
      check_units(n)
      return nn.Layer.init(cls, {}, "custom")
    end
    local msg = H.error_of(function()
      local l = Custom(0)
      return l
    end)
    assert.truthy(msg:find("units must be positive\nstack traceback:\n"), msg)
    assert.truthy(msg:find("layer_protocol_spec.lua:" .. check_line .. ": in ", 1, true), msg)
  end)
end)

describe("trainable", function()
  local function grads_of(model)
    local out = {}
    for i, w in ipairs(model:named_weights()) do out[i] = w.tensor.grad end
    return out
  end

  local function count(list)
    local n = 0
    for _ in pairs(list) do n = n + 1 end
    return n
  end

  it("= false stops a frozen discriminator's gradients in a custom GAN loop, and = true brings them back", function()
    dnn.manual_seed(3)
    local G = nn.Sequential{nn.Dense(8, {input_shape = {4}, activation = "relu"}), nn.Dense(6)}
    local D = nn.Sequential{nn.Dense(5, {input_shape = {6}, activation = "relu"}), nn.Dense(1)}
    local z = dnn.randn(10, 4)
    local function generator_step()
      for _, w in ipairs(G:named_weights()) do w.tensor.grad = nil end
      for _, w in ipairs(D:named_weights()) do w.tensor.grad = nil end
      local loss = D(G(z)):mean()
      loss:backward()
    end

    D.trainable = false
    assert.is_false(D.trainable)
    assert.is_false(D.layers[1].trainable) -- a model's layers follow it
    generator_step()
    assert.are.equal(0, count(grads_of(D)))
    assert.are.equal(4, count(grads_of(G)))
    assert.are.equal(0, #D:parameters())

    D.trainable = true
    assert.is_true(D.layers[2].trainable)
    generator_step()
    assert.are.equal(4, count(grads_of(D)))
    assert.are.equal(4, count(grads_of(G)))
    assert.are.equal(4, #D:parameters())
  end)

  it("on one layer acts at once on its own weights only, never on batch norm's moving statistics", function()
    local bn = nn.BatchNormalization{input_shape = {3}}
    local dense = nn.Dense(2, {input_shape = {3}})
    local model = nn.Sequential{bn, dense}
    bn.trainable = false
    assert.is_false(bn.gamma.requires_grad)
    assert.is_false(bn.beta.requires_grad)
    assert.is_true(dense.kernel.requires_grad)
    bn.trainable = true
    assert.is_true(bn.gamma.requires_grad)
    assert.is_true(bn.beta.requires_grad)
    assert.is_false(bn.moving_mean.requires_grad)
    assert.is_false(bn.moving_variance.requires_grad)
    model.trainable = false
    model.trainable = true
    assert.is_false(bn.moving_mean.requires_grad)
    local total, trainable = model:count_params()
    assert.are.same({4 * 3 + 3 * 2 + 2, 2 * 3 + 3 * 2 + 2}, {total, trainable})
  end)

  it("is kept by get_config and model files, and refuses what is not a boolean", function()
    local model = nn.Sequential{nn.Dense(2, {input_shape = {3}}), nn.Dense(1)}
    model.layers[1].trainable = false
    assert.is_false(model.layers[1]:get_config().options.trainable)
    local path = os.tmpname() .. ".safetensors"
    model:save(path)
    local loaded = dnn.load_model(path)
    os.remove(path)
    assert.is_false(loaded.layers[1].trainable)
    assert.is_false(loaded.layers[1].kernel.requires_grad)
    assert.is_true(loaded.layers[2].kernel.requires_grad)
    H.assert_error({"Dense 'dense", "trainable must be true or false, got yes"},
      function() model.layers[2].trainable = "yes" end)
  end)

  it("works on subclassed models and their fields", function()
    local Net = nn.Model:extend("FreezeNet")
    function Net:init() self.a = nn.Dense(2, {input_shape = {3}}) self.b = nn.Dense(1, {input_shape = {2}}) end
    function Net:forward(x) return self.b(self.a(x)) end
    local net = Net()
    net.trainable = false
    assert.is_false(net.a.trainable)
    assert.is_false(net.b.kernel.requires_grad)
    assert.are.equal(0, #net:parameters())
    net.trainable = true
    assert.is_true(net.a.kernel.requires_grad)
    assert.are.same({net.a, net.b}, net.layers)
  end)
end)

-- A layer of three results, to see every value come back.
local Triple = nn.Layer:extend("Triple")
getmetatable(Triple).__call = function(cls, options) return nn.Layer.init(cls, options or {}, "triple") end
function Triple:forward(x) return x * 2, x * 3, x * 4 end
function Triple:compute_output_shape(s) return s end

describe("the call's training option", function()
  local function zeros_in(t)
    local n = 0
    for _, v in ipairs(t:reshape(-1):totable()) do if v == 0 then n = n + 1 end end
    return n
  end

  it("makes Dropout the identity with training = false in training mode, and random with true in eval mode", function()
    local drop = nn.Dropout(0.5)
    local x = dnn.ones(20, 20)
    assert.is_true(drop.training)
    H.assert_close(drop(x, {training = false}), x)
    assert.is_true(drop.training) -- for that call only
    assert.is_true(zeros_in(drop(x)) > 0)
    drop:eval()
    H.assert_close(drop(x), x)
    local y = drop(x, {training = true})
    assert.is_true(zeros_in(y) > 100 and zeros_in(y) < 300, tostring(zeros_in(y)))
    assert.are.equal(2, y:max():item())
    assert.is_false(drop.training)
  end)

  it("makes BatchNormalization use the batch's statistics or the moving ones", function()
    local bn = nn.BatchNormalization{input_shape = {2}, momentum = 0.5, epsilon = 1e-6}
    local x = dnn.tensor{{1, 10}, {3, 30}}
    bn:eval()
    local y = bn(x, {training = true}) -- the batch's: each column to -1, 1
    H.assert_close(y, {{-1, -1}, {1, 1}}, 1e-3)
    H.assert_close(bn.moving_mean, {1, 10}) -- folded in: 0.5 * 0 + 0.5 * mean
    bn:train()
    local m = bn.moving_mean:clone()
    local z = bn(x, {training = false}) -- the moving ones, left as they are
    H.assert_close(bn.moving_mean, m)
    H.assert_close(z, ((x - bn.moving_mean) / (bn.moving_variance + 1e-6):sqrt()), 1e-4)
  end)

  it("reaches every layer of a model called with it, and a layer's own option inside wins", function()
    local model = nn.Sequential{nn.Dense(30, {input_shape = {30}}), nn.Dropout(0.5)}
    local x = dnn.ones(10, 30)
    local plain = dnn.no_grad(function() return model(x, {training = false}) end)
    H.assert_close(plain, model.layers[1](x):detach())
    assert.is_true(model.training and model.layers[2].training)
    model:eval()
    assert.is_true(zeros_in(model(x, {training = true})) > 0)
    H.assert_close(model(x), plain)

    local Net = nn.Model:extend("McDropoutNet")
    function Net:init() self.drop = nn.Dropout(0.5) end
    function Net:forward(x) return self.drop(x, {training = true}) end
    local net = Net()
    assert.is_true(zeros_in(net(dnn.ones(20, 20), {training = false})) > 0)
  end)

  it("is honoured by the augmentation layers and GaussianNoise", function()
    local images = dnn.rand(2, 4, 4, 1)
    local flip = nn.RandomFlip("horizontal")
    H.assert_close(flip(images, {training = false}), images)
    local noise = nn.GaussianNoise(1)
    noise:eval()
    H.assert_close(noise(images), images)
    assert.is_false(H.close(noise(images, {training = true}), images))
  end)

  it("restores the modes when forward fails", function()
    local Fails = nn.Layer:extend("Fails")
    getmetatable(Fails).__call = function(cls) return nn.Layer.init(cls, {}, "fails") end
    function Fails:forward() error("no") end
    local model = nn.Sequential{nn.Dropout(0.5), Fails()}
    model:eval()
    assert.is_false(pcall(model, dnn.ones(4, 4), {training = true}))
    assert.is_false(model.training or model.layers[1].training or model.layers[2].training)
    local drop = nn.Dropout(0.5)
    H.assert_close(drop(dnn.ones(5, 5), {training = false}), dnn.ones(5, 5)) -- nothing inherited
    assert.is_true(zeros_in(drop(dnn.ones(20, 20))) > 0)
  end)

  it("refuses what is not a boolean, and options that are not a table", function()
    local d = nn.Dense(2)
    H.assert_error({"Dense '" .. d.name .. "'", "expected training = true or false, got 1"},
      function() return d(dnn.ones(1, 2), {training = 1}) end)
    H.assert_error({"expected options such as {training = false} after the input, got a tensor",
      "several inputs go in one array"}, function() return d(dnn.ones(1, 2), dnn.ones(1, 2)) end)
    local model = nn.Sequential{nn.Dense(2, {input_shape = {2}})}
    H.assert_error({"Sequential '" .. model.name .. "'", "got number"}, function() return model(dnn.ones(1, 2), 3) end)
  end)
end)

describe("several inputs", function()
  it("go to a layer as one array, with options after it", function()
    local a, b = dnn.tensor{{1, 2}}, dnn.tensor{{3, 4}}
    H.assert_close(nn.Add(){a, b}, {{4, 6}})
    H.assert_close(nn.Concatenate{axis = -1}({a, b}, {training = false}), {{1, 2, 3, 4}})
  end)

  it("go to a custom layer that sets min_inputs, and are checked", function()
    local Weighted = nn.Layer:extend("Weighted")
    Weighted.min_inputs, Weighted.max_inputs = 2, 2
    getmetatable(Weighted).__call = function(cls) return nn.Layer.init(cls, {}, "weighted") end
    function Weighted:build(shapes)
      self.seen = shapes
      self.built = true
    end
    function Weighted:forward(inputs, opts) return inputs[1] * (opts and opts.alpha or 1) + inputs[2] end
    local l = Weighted()
    H.assert_close(l({dnn.ones(1, 2), dnn.ones(1, 2)}, {alpha = 3}), {{4, 4}}) -- opts reach forward as given
    assert.are.same({{1, 2}, {1, 2}}, l.seen)
    H.assert_error({"Weighted '" .. l.name .. "'", "expected an array of 2 tensors, got a single tensor"},
      function() return l(dnn.ones(1, 2)) end)
    H.assert_error({"expected an array of 2 tensors, got an array of 3"},
      function() return l{dnn.ones(1), dnn.ones(1), dnn.ones(1)} end)
    H.assert_error({"input 2 is not a tensor (got number)"}, function() return l{dnn.ones(1), 2} end)
    local d = nn.Dense(2)
    H.assert_error({"Dense '" .. d.name .. "'", "expected a tensor input, got an array of 2"},
      function() return d{dnn.ones(1, 2), dnn.ones(1, 2)} end)
  end)
end)

describe("several results", function()
  it("all come back from a layer's call; the activity regularizer sees the first", function()
    local l = Triple{}
    l.activity_regularizer = function(y) return y:sum() end
    local a, b, c = l(dnn.ones(1, 2))
    H.assert_close({a, b, c}, {{{2, 2}}, {{3, 3}}, {{4, 4}}})
    H.assert_close(l:regularization_loss(), 4)
    assert.are.equal(3, select("#", l(dnn.ones(1, 2), {training = false})))
  end)

  it("each become a symbolic tensor in a functional model, whose outputs come back as several values", function()
    local input = nn.Input{2}
    local a, b, c = Triple{}(input)
    assert.are.same({-1, 2}, c.shape)
    local sum = nn.Add(){a, c}
    local model = nn.Model{inputs = input, outputs = {sum, b}}
    local y1, y2 = model(dnn.ones(3, 2))
    H.assert_close(y1, {{6, 6}, {6, 6}, {6, 6}})
    H.assert_close(y2, {{3, 3}, {3, 3}, {3, 3}})
    local p1, p2 = model:predict(dnn.ones(3, 2), {verbose = 0})
    H.assert_close({p1, p2}, {y1, y2})
  end)

  it("symbolic calls take options: training = true keeps dropout on at inference, but never in a probe", function()
    local input = nn.Input{50}
    local bn = nn.BatchNormalization()
    local h = bn(input, {training = true})
    local out = nn.Dropout(0.5)(h, {training = true})
    local model = nn.Model(input, out)
    H.assert_close(bn.moving_mean, dnn.zeros(50)) -- the build's probe ran in inference
    model:eval()
    local y = model(dnn.randn(8, 50) + 3)
    local zeros = 0
    for _, v in ipairs(y:reshape(-1):totable()) do if v == 0 then zeros = zeros + 1 end end
    assert.is_true(zeros > 0)
    assert.is_false(H.close(bn.moving_mean, dnn.zeros(50)))
  end)
end)

describe("masks", function()
  -- Records the mask each call gets.
  local Reader = nn.Layer:extend("MaskReader")
  Reader.supports_masking = true
  getmetatable(Reader).__call = function(cls) return nn.Layer.init(cls, {}, "mask_reader") end
  function Reader:forward(x, opts)
    self.calls = (self.calls or 0) + 1
    self.seen = opts and opts.mask
    return x
  end
  function Reader:compute_output_shape(s) return s end

  -- Makes a mask as Keras's Embedding{mask_zero = true} does: ids (batch,
  -- time) in, (batch, time, 1) out, the steps of id 0 masked.
  local Ids = nn.Layer:extend("MaskingIds")
  getmetatable(Ids).__call = function(cls) return nn.Layer.init(cls, {}, "masking_ids") end
  function Ids:forward(ids) return ids:unsqueeze(-1) end
  function Ids:compute_mask(ids) return ids:ne(0) end
  function Ids:compute_output_shape(s) return {s[1], s[2], 1} end

  -- (batch 2, time 3, features 2); step 2 of example 1 and step 3 of example 2 all zeros.
  local x = dnn.tensor{{{1, 2}, {0, 0}, {3, 0}}, {{4, 5}, {6, 7}, {0, 0}}}
  local expected_mask = {{1, 0, 1}, {1, 1, 0}}

  it("Masking masks the steps whose features all equal mask_value and zeroes them", function()
    local masking = nn.Masking{mask_value = 0}
    local y = masking(x)
    assert.are.equal(1, select("#", masking(x))) -- the call returns the output alone
    H.assert_close(y, x)
    H.assert_close(masking:compute_mask(x), expected_mask)
    local x7 = dnn.tensor{{{7, 7}, {1, 7}}}
    H.assert_close(nn.Masking(7)(x7), {{{0, 0}, {1, 7}}})
    H.assert_close(nn.Masking(7):compute_mask(x7), {{0, 1}})
    H.assert_error({"Masking: expected a number mask_value, got string"}, function() return nn.Masking("x") end)
    H.assert_error({"expected an input of (batch, time, features), got (2, 2)"},
      function() return nn.Masking()(dnn.ones(2, 2)) end)
  end)

  it("flow through a Sequential: each layer gets the mask the one before it made", function()
    local reader = Reader()
    local model = nn.Sequential{nn.Masking(), nn.Dense(4), nn.Dropout(0.5), reader}
    model(x)
    H.assert_close(reader.seen, expected_mask)
    H.assert_close(model:compute_mask(x), expected_mask)
    -- made by a layer from ids, and given to the model's call
    local ids_reader = Reader()
    local ids_model = nn.Sequential{Ids(), nn.Dense(2), ids_reader}
    ids_model(dnn.tensor{{5, 0, 2}})
    H.assert_close(ids_reader.seen, {{1, 0, 1}})
    local plain = Reader()
    nn.Sequential{nn.Dense(2), plain}(x, {mask = dnn.tensor(expected_mask)})
    H.assert_close(plain.seen, expected_mask)
    nn.Sequential{nn.Dense(2), plain}(x)
    assert.is_nil(plain.seen)
  end)

  it("flow in direct calls through compute_mask and the call's mask option", function()
    local masking, dense, reader = nn.Masking(), nn.Dense(3), Reader()
    local y = masking(x)
    local mask = masking:compute_mask(x)
    local h = dense(y, {mask = mask})
    reader(h, {mask = dense:compute_mask(y, mask)})
    H.assert_close(reader.seen, expected_mask)
  end)

  it("are refused by a layer that does not support them, naming it", function()
    local model = nn.Sequential{nn.Masking(), nn.Flatten()}
    H.assert_error({"Flatten '" .. model.layers[2].name .. "'", "got a mask, but this layer does not support masking"},
      function() return model(x) end)
    H.assert_error({"expected the mask to be a tensor, got an array of 1"},
      function() return nn.Dense(2)(x, {mask = {dnn.ones(2, 3)}}) end)
    H.assert_error({"expected the mask to be an array of one mask per input (false for none), got a tensor"},
      function() return nn.Add()({x, x}, {mask = dnn.ones(2, 3)}) end)
    local Net = nn.Model:extend("NoMaskNet")
    function Net:forward(v) return v end
    H.assert_error({"NoMaskNet", "does not support masking"}, function() return Net()(x, {mask = dnn.ones(2, 3)}) end)
  end)

  it("flow through a functional graph, combined by merge layers", function()
    local input = nn.Input{3, 2}
    local masked = nn.Masking()(input)
    local dense = nn.Dense(2)(masked)
    local reader = Reader()
    local joined = nn.Add(){dense, nn.Dense(2)(input)} -- one input with a mask, one without
    local out = reader(joined)
    local concat = nn.Concatenate{axis = 2}{masked, input}
    local model = nn.Model(input, {out, concat})
    model(x)
    H.assert_close(reader.seen, expected_mask)
    local m_out, m_concat = model:compute_mask(x)
    H.assert_close(m_out, expected_mask)
    H.assert_close(m_concat, {{1, 0, 1, 1, 1, 1}, {1, 1, 0, 1, 1, 1}})
    -- a mask given to the model reaches the layers on its input
    local reader2 = Reader()
    local i2 = nn.Input{3, 2}
    local m2 = nn.Model(i2, reader2(nn.Dense(2)(i2)))
    m2(x, {mask = dnn.tensor(expected_mask)})
    H.assert_close(reader2.seen, expected_mask)
  end)

  it("come out of a model used as a layer without running it twice", function()
    local counter = Reader()
    local inner = nn.Sequential{nn.Masking(), counter}
    local reader = Reader()
    local outer = nn.Sequential{inner, nn.Dense(2), reader}
    outer(x)
    H.assert_close(reader.seen, expected_mask)
    assert.are.equal(1, counter.calls)
    H.assert_close(inner:compute_mask(dnn.zeros(1, 2, 2)), {{0, 0}}) -- other tensors: it runs for them
  end)
end)
