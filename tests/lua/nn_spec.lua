-- Layers, losses, optimizers and initializers of the first slice (Dense,
-- fused activations, mse/bce/sparse CE, SGD/Adam, glorot/he/zeros).
local dnn = dnn or require "dnn"
local nn = dnn.nn
local C = require("dnn.core")._nn

local function near(a, b, tol)
  return math.abs(a - b) <= (tol or 1e-5) * (1 + math.abs(b))
end

describe("Dense", function()
  it("computes act(x W + b) with Keras's weight layout", function()
    local layer = nn.Dense(2, {input_shape = {3}, activation = "relu"})
    layer:set_weights{dnn.tensor{{1, -1}, {2, 0}, {0, 1}}, dnn.tensor{0.5, -4}}
    local y = layer(dnn.tensor{{1, 1, 1}, {0, 0, 0}})
    assert.are.same({{3.5, 0}, {0.5, 0}}, y:totable())
    assert.are.same({3, 2}, layer.kernel.shape)
    assert.are.same({2}, layer.bias.shape)
  end)

  it("builds lazily on the first call and counts its parameters", function()
    local layer = nn.Dense{4, activation = "tanh"}
    assert.is_nil(layer.kernel)
    local y = layer(dnn.ones(5, 6))
    assert.are.same({5, 4}, y.shape)
    assert.are.equal(6 * 4 + 4, layer:count_params())
    assert.are.equal(2, #layer:parameters())
  end)

  it("works on (batch, time, features) inputs", function()
    local layer = nn.Dense(3)
    assert.are.same({2, 4, 3}, layer(dnn.ones(2, 4, 5)).shape)
  end)

  it("gives distinct Keras-style names", function()
    local a, b = nn.Dense(1), nn.Dense(1)
    assert.are_not.equal(a.name, b.name)
    assert.truthy(a.name:match("^dense"))
  end)

  it("passes the gradient check for every fused activation", function()
    for _, act in ipairs{"linear", "relu", "leaky_relu", "sigmoid", "tanh", "softmax"} do
      dnn.manual_seed(3)
      local x = dnn.randn(4, 3, {requires_grad = true})
      local w = dnn.randn(3, 5, {requires_grad = true})
      local b = dnn.randn(5, {requires_grad = true})
      local weights = dnn.randn(4, 5)
      local ok, msg = dnn.autograd.gradcheck(function(x_, w_, b_)
        return (C.dense(x_, w_, b_, act) * weights):sum()
      end, {x, w, b})
      assert(ok, act .. ": " .. tostring(msg))
    end
  end)

  it("refuses bad configuration and mismatched inputs with clear errors", function()
    assert.has_error(function() nn.Dense(0) end, "Dense: expected a positive integer number of units, got number 0")
    assert.has_error(function() nn.Dense(2, {activation = "nope"}) end, "Dense: unknown activation 'nope' (expected one of: linear, relu, leaky_relu, elu, selu, gelu, sigmoid, hard_sigmoid, tanh, softmax, softplus, swish)")
    local layer = nn.Dense(2, {input_shape = {3}})
    local ok, err = pcall(layer, dnn.ones(4, 5))
    assert.is_false(ok)
    assert.truthy(err:find("Dense '" .. layer.name .. "'", 1, true), err)
    assert.truthy(err:find("dense", 1, true))
    assert.truthy(err:find("(4, 5)", 1, true), err)
    assert.truthy(err:find("nn_spec.lua", 1, true), "error should name where the layer was created: " .. err)
  end)
end)

describe("Sequential", function()
  it("chains layers and collects their parameters", function()
    local model = nn.Sequential{nn.Dense(4, {input_shape = {3}, activation = "relu"}), nn.Dense(1)}
    model:add(nn.Dense(2, {activation = "softmax"}))
    local y = model(dnn.ones(7, 3))
    assert.are.same({7, 2}, y.shape)
    assert.are.equal(6, #model:parameters())
    assert.are.equal((3 * 4 + 4) + (4 + 1) + (1 * 2 + 2), model:count_params())
    assert.has_error(function() model:add(42) end, "Sequential:add: expected a layer, got number")
  end)

  it("freezes a layer with trainable = false", function()
    local frozen = nn.Dense(2, {input_shape = {2}, trainable = false})
    local model = nn.Sequential{frozen, nn.Dense(1)}
    model(dnn.ones(1, 2))
    assert.are.equal(2, #model:parameters())
  end)
end)

describe("losses", function()
  it("mse is the mean squared difference, (N) against (N, 1) accepted", function()
    local l = dnn.losses.mse(dnn.tensor{1, 2, 3}, dnn.tensor{{1.5}, {2}, {1}})
    assert(near(l:item(), (0.25 + 0 + 4) / 3))
    assert.has_error(function() dnn.losses.mse(dnn.ones(3), dnn.ones(4)) end)
  end)

  it("binary cross-entropy from probabilities and from logits agree", function()
    local z = dnn.tensor{-2, 0.5, 3}
    local y = dnn.tensor{0, 1, 1}
    local from_logits = dnn.losses.binary_crossentropy{from_logits = true}(y, z):item()
    local expected = 0
    for i, zi in ipairs{-2, 0.5, 3} do
      local p = 1 / (1 + math.exp(-zi))
      local yi = ({0, 1, 1})[i]
      expected = expected - (yi * math.log(p) + (1 - yi) * math.log(1 - p)) / 3
    end
    assert(near(from_logits, expected))
    assert(near(dnn.losses.binary_crossentropy(y, z:sigmoid()):item(), expected, 1e-4))
  end)

  it("stay finite on saturated sigmoid and softmax outputs: clipped probabilities, exact from logits", function()
    local z = dnn.tensor{{200, -200}}
    local loss = dnn.losses.sparse_categorical_crossentropy(dnn.tensor{2}, z:softmax(-1))
    assert(near(loss:item(), -math.log(1e-7), 1e-4), tostring(loss:item()))
    loss = dnn.losses.sparse_categorical_crossentropy{from_logits = true}(dnn.tensor{2}, z)
    assert(near(loss:item(), 400, 1e-4), tostring(loss:item()))
    local bce = dnn.losses.binary_crossentropy(dnn.tensor{0}, dnn.tensor{100}:sigmoid())
    assert(near(bce:item(), -math.log(1.1920929e-7), 1e-4), tostring(bce:item()))
    bce = dnn.losses.binary_crossentropy{from_logits = true}(dnn.tensor{0}, dnn.tensor{100})
    assert(near(bce:item(), 100, 1e-4), tostring(bce:item()))
  end)

  it("sparse categorical cross-entropy takes 1-based class ids", function()
    local p = dnn.tensor{{0.7, 0.2, 0.1}, {0.1, 0.1, 0.8}}
    local l = dnn.losses.sparse_categorical_crossentropy(dnn.tensor{1, 3}, p)
    assert(near(l:item(), -(math.log(0.7) + math.log(0.8)) / 2))
    local ok, err = pcall(dnn.losses.sparse_categorical_crossentropy, dnn.tensor{1, 4}, p)
    assert.is_false(ok)
    assert.truthy(err:find("sparse_categorical_crossentropy", 1, true))
    assert.truthy(err:find("expected class ids in [1, 3], got 4", 1, true), err)
    ok, err = pcall(dnn.losses.sparse_categorical_crossentropy, dnn.tensor{1, 2, 3}, p)
    assert.is_false(ok)
    assert.truthy(err:find("labels of shape", 1, true), err)
  end)

  it("pass the gradient check, from probabilities and from logits", function()
    dnn.manual_seed(5)
    local cases = {
      function(z) return dnn.losses.mse(dnn.tensor{{0.1, 0.2}, {0.3, 0.4}}, z) end,
      function(z) return dnn.losses.binary_crossentropy(dnn.tensor{{0, 1}, {1, 0}}, z:sigmoid()) end,
      function(z) return dnn.losses.binary_crossentropy{from_logits = true}(dnn.tensor{{0, 1}, {1, 0}}, z) end,
      function(z) return dnn.losses.binary_crossentropy(dnn.tensor{{0, 1}, {1, 0}}, z:sigmoid():detach() * 0 + z:sigmoid()) end,
      function(z) return dnn.losses.sparse_categorical_crossentropy(dnn.tensor{2, 1}, z:softmax(-1)) end,
      function(z) return dnn.losses.sparse_categorical_crossentropy{from_logits = true}(dnn.tensor{2, 1}, z) end,
      function(z) return dnn.losses.sparse_categorical_crossentropy(dnn.tensor{2, 1}, (z:softmax(-1) + 0)) end,
    }
    for i, f in ipairs(cases) do
      local z = dnn.randn(2, 2, {requires_grad = true})
      local ok, msg = dnn.autograd.gradcheck(f, {z})
      assert(ok, "case " .. i .. ": " .. tostring(msg))
    end
  end)
end)

describe("optimizers", function()
  local function param(values, grad)
    local p = dnn.tensor(values, {requires_grad = true})
    local loss = (p * dnn.tensor(grad)):sum() -- d loss / d p = grad
    loss:backward()
    return p
  end

  it("SGD with momentum follows Keras's rule v = m v - lr g; p += v", function()
    local p = param({1, 2}, {0.5, -1})
    local opt = dnn.optim.SGD{learning_rate = 0.1, momentum = 0.9, params = {p}}
    opt:step()
    assert(near(p:totable()[1], 1 - 0.05) and near(p:totable()[2], 2 + 0.1))
    opt:step() -- same grad again: v = 0.9 * -0.05 - 0.05 = -0.095
    assert(near(p:totable()[1], 0.95 - 0.095), tostring(p:totable()[1]))
  end)

  it("SGD nesterov: p += m v - lr g", function()
    local p = param({1}, {1})
    local opt = dnn.optim.SGD{learning_rate = 0.1, momentum = 0.5, nesterov = true, params = {p}}
    opt:step() -- v = -0.1; p += 0.5 * -0.1 - 0.1
    assert(near(p:item(), 1 - 0.15))
  end)

  it("Adam follows Keras's rule with epsilon outside the bias correction", function()
    local p = param({1, -1}, {0.2, -0.4})
    local opt = dnn.optim.Adam{learning_rate = 0.01, params = {p}}
    local m, v, expected = {0, 0}, {0, 0}, {1, -1}
    local g = {0.2, -0.4}
    for t = 1, 3 do
      opt:step()
      local lr_t = 0.01 * math.sqrt(1 - 0.999 ^ t) / (1 - 0.9 ^ t)
      for i = 1, 2 do
        m[i] = 0.9 * m[i] + 0.1 * g[i]
        v[i] = 0.999 * v[i] + 0.001 * g[i] ^ 2
        expected[i] = expected[i] - lr_t * m[i] / (math.sqrt(v[i]) + 1e-7)
      end
    end
    local got = p:totable()
    assert(near(got[1], expected[1], 1e-6) and near(got[2], expected[2], 1e-6))
  end)

  it("zero_grad clears grads and parameters without grads are skipped", function()
    local p = param({1}, {1})
    local q = dnn.tensor({5}, {requires_grad = true})
    local opt = dnn.optim.Adam{params = {p, q}}
    opt:step()
    assert.are.equal(5, q:item())
    opt:zero_grad()
    assert.are.equal(0, p.grad:item())
  end)

  it("clipnorm scales the global gradient norm", function()
    local p = param({0, 0}, {3, 4})
    local opt = dnn.optim.SGD{learning_rate = 1, clipnorm = 1, params = {p}}
    opt:step()
    assert(near(p:totable()[1], -0.6) and near(p:totable()[2], -0.8))
  end)

  it("are found by name, and unknown names are refused", function()
    assert.are.equal("Adam", dnn.optim.get("adam").name)
    assert.has_error(function() dnn.optim.get("nope") end,
      "unknown optimizer 'nope' (expected one of: adadelta, adafactor, adagrad, adam, adamax, adamw, ftrl, " ..
      "nadam, rmsprop, sgd)")
  end)
end)

describe("initializers", function()
  it("glorot_uniform stays within sqrt(6 / (in + out)) and zeros are zero", function()
    local layer = nn.Dense(300, {input_shape = {200}})
    local limit = math.sqrt(6 / 500)
    assert(layer.kernel:abs():max():item() <= limit)
    assert(layer.kernel:abs():max():item() > 0.9 * limit)
    assert.are.equal(0, layer.bias:abs():sum():item())
  end)

  it("he_normal has stddev sqrt(2 / fan_in), truncated at 2 stddev", function()
    local t = C.init(dnn.zeros(400, 500), "he_normal", 400)
    local std = math.sqrt(2 / 400)
    assert(near(t:var():item() ^ 0.5, std, 0.03))
    assert(t:abs():max():item() <= 2 * std / 0.87962566103423978 + 1e-6)
  end)

  it("follow dnn.manual_seed", function()
    dnn.manual_seed(11)
    local a = nn.Dense(3, {input_shape = {3}}).kernel:totable()
    dnn.manual_seed(11)
    local b = nn.Dense(3, {input_shape = {3}}).kernel:totable()
    assert.are.same(a, b)
  end)

  it("refuse an unknown initializer by name", function()
    assert.has_error(function() nn.Dense(2, {kernel_initializer = "bogus"}) end)
  end)
end)

describe("Sequential with an input_shape", function()
  it("builds every layer at once, so an optimizer made before the first batch sees all weights", function()
    local model = nn.Sequential{
      nn.Dense(8, {input_shape = {4}, activation = "relu"}),
      nn.Dense(8, {activation = "relu"}),
      nn.Dense(2, {activation = "softmax"}),
    }
    assert.are.equal(6, #model:parameters())
    local opt = dnn.optim.Adam{params = model:parameters()}
    local before = model.layers[3].kernel:clone()
    local loss = dnn.losses.sparse_categorical_crossentropy(dnn.tensor{1, 2}, model(dnn.randn(2, 4)))
    opt:zero_grad()
    loss:backward()
    opt:step()
    assert(model.layers[3].kernel:ne(before):sum():item() > 0, "the last layer must train")
  end)
end)

describe("constructor errors", function()
  it("point at the line of the user's code that made the layer", function()
    local ok, err = pcall(function()
      local layer = nn.Dense(0) -- not a tail call: the error names this line
      return layer
    end)
    assert.is_false(ok)
    assert.truthy(err:find("^[^\n]*nn_spec%.lua:%d+: Dense: expected a positive integer"), err)
  end)
end)
