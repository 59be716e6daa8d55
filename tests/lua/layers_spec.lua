-- The layers of issue 3: Activation and every activation name (also in
-- Dense), Dropout, BatchNormalization, LayerNormalization, Flatten, Reshape
-- and PReLU: values against hand computation (and PyTorch's BatchNorm where
-- Debian's python3-torch is installed), shapes, parameter counts, misuse,
-- and finite-difference checks of each layer's forward in training mode.
local dnn = dnn or require "dnn"
local H = require "helpers"
local nn = dnn.nn

local gradcheck = dnn.autograd.gradcheck

-- erf (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7), for gelu's reference.
local function erf(x)
  local s = x < 0 and -1 or 1
  x = math.abs(x)
  local t = 1 / (1 + 0.3275911 * x)
  local y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t
    * math.exp(-x * x)
  return s * y
end

local function sigmoid(v) return 1 / (1 + math.exp(-v)) end

-- Each activation's definition on one number (softmax: on a row, below).
local reference = {
  linear = function(v) return v end,
  relu = function(v) return math.max(v, 0) end,
  leaky_relu = function(v) return v > 0 and v or 0.2 * v end,
  elu = function(v) return v > 0 and v or math.exp(v) - 1 end,
  selu = function(v)
    local alpha, scale = 1.6732632423543772, 1.0507009873554805
    return scale * (v > 0 and v or alpha * (math.exp(v) - 1))
  end,
  gelu = function(v) return 0.5 * v * (1 + erf(v / math.sqrt(2))) end,
  sigmoid = sigmoid,
  hard_sigmoid = function(v) return math.min(math.max((v + 3) / 6, 0), 1) end,
  tanh = function(v) return (math.exp(v) - math.exp(-v)) / (math.exp(v) + math.exp(-v)) end,
  softplus = function(v) return math.log(1 + math.exp(v)) end,
  swish = function(v) return v * sigmoid(v) end,
}

-- The activation applied to a 2-d Lua table of rows.
local function apply_reference(name, rows)
  local out = {}
  for i, row in ipairs(rows) do
    out[i] = {}
    if name == "softmax" then
      local m, sum = math.max(table.unpack(row)), 0
      for j, v in ipairs(row) do
        out[i][j] = math.exp(v - m)
        sum = sum + out[i][j]
      end
      for j = 1, #row do out[i][j] = out[i][j] / sum end
    else
      for j, v in ipairs(row) do out[i][j] = reference[name](v) end
    end
  end
  return out
end

local sample = {{-2.5, -0.7, 0, 0.4, 1.3}, {3.1, -4, 0.05, -0.01, 2}}

describe("activations", function()
  it("lists API.md's names, and each matches its definition", function()
    assert.are.same({"linear", "relu", "leaky_relu", "elu", "selu", "gelu", "sigmoid", "hard_sigmoid", "tanh",
                     "softmax", "softplus", "swish"}, dnn.activations.names)
    local x = dnn.tensor(sample)
    for _, name in ipairs(dnn.activations.names) do
      local y = dnn.activations.get(name)(x)
      local ok, msg = H.close(y, apply_reference(name, sample), 1e-5)
      assert(ok, name .. ": " .. tostring(msg))
      assert.are.equal(dnn.activations[name], dnn.activations.get(name))
    end
  end)

  it("passes functions through, takes nil as linear, and names the valid ones on a bad name", function()
    local f = function(t) return t * 2 end
    assert.are.equal(f, dnn.activations.get(f))
    assert.are.equal(dnn.activations.linear, dnn.activations.get(nil))
    H.assert_error({"unknown activation 'rellu'", "linear, relu, leaky_relu, elu, selu, gelu, sigmoid, hard_sigmoid, " ..
      "tanh, softmax, softplus, swish"}, dnn.activations.get, "rellu")
    H.assert_error({"expected an activation name or a function, got number"}, dnn.activations.get, 3)
  end)

  it("give sigmoid and softmax outputs as plain probabilities: a cross-entropy on them clips, as Keras", function()
    local p = nn.Activation("sigmoid")(dnn.tensor{{30}})
    local bce = dnn.losses.get("binary_crossentropy")(dnn.tensor{{0}}, p)
    -- p rounds to 1 in float32, clipped to 1 - 1e-7 (0.99999988): -log(1.1920929e-7); log(1 + e^30) = 30 from logits
    H.assert_close(bce:item(), -math.log(1.1920929e-7), 1e-4)
    local q = nn.Dense(2, {activation = "softmax"})
    q:build({-1, 1})
    q:set_weights{dnn.tensor{{0, 40}}, dnn.zeros(2)}
    local loss = dnn.losses.get("sparse_categorical_crossentropy")(dnn.tensor{1}, q(dnn.tensor{{1}}))
    H.assert_close(loss:item(), -math.log(1e-7), 1e-4) -- e^-40 clipped to 1e-7; 40 from logits
  end)
end)

describe("Activation", function()
  it("applies every name, in both constructor forms, and a Lua function", function()
    local x = dnn.tensor(sample)
    for _, name in ipairs(dnn.activations.names) do
      local want = apply_reference(name, sample)
      H.assert_close(nn.Activation(name)(x), want, 1e-5)
      H.assert_close(nn.Activation{name}(x), want, 1e-5)
    end
    H.assert_close(nn.Activation(function(t) return t:abs() end)(dnn.tensor{-1, 2}), {1, 2})
    local a = nn.Activation("relu")
    assert.truthy(a.name:match("^activation"))
    assert.are.same({-1, 4, 5}, a:compute_output_shape({-1, 4, 5}))
  end)

  it("refuses a missing or unknown activation, listing the valid names", function()
    H.assert_error({"Activation: expected an activation name or a function, got nil"}, nn.Activation)
    H.assert_error({"Activation: unknown activation 'sigmod'", "hard_sigmoid"}, nn.Activation, "sigmod")
  end)

  it("passes the gradient check for every name", function()
    local x = dnn.tensor({{-1.5, -0.3, 0.2, 0.9}, {1.7, -2.2, 0.6, -0.8}}, {requires_grad = true})
    for _, name in ipairs(dnn.activations.names) do
      local layer = nn.Activation(name)
      local ok, msg = gradcheck(function(t) return layer(t) end, {x})
      assert(ok, name .. ": " .. tostring(msg))
    end
  end)
end)

describe("Dense with any activation", function()
  it("equals the activation applied to the linear output, for every name and a function", function()
    dnn.manual_seed(11)
    local x = dnn.randn(4, 3)
    local kernel, bias = dnn.randn(3, 5), dnn.randn(5)
    local linear = nn.Dense(5)
    linear:build({-1, 3})
    linear:set_weights{kernel, bias}
    local z = linear(x)
    for _, name in ipairs(dnn.activations.names) do
      local layer = nn.Dense(5, {activation = name})
      layer:build({-1, 3})
      layer:set_weights{kernel, bias}
      local ok, msg = H.close(layer(x), apply_reference(name, z:totable()), 1e-5)
      assert(ok, name .. ": " .. tostring(msg))
    end
    local f = nn.Dense(5, {activation = function(t) return t * 3 end})
    f:build({-1, 3})
    f:set_weights{kernel, bias}
    H.assert_close(f(x), (z * 3):totable(), 1e-5)
  end)

  it("passes the gradient check for the activations it does not fuse", function()
    dnn.manual_seed(5)
    for _, name in ipairs{"elu", "selu", "gelu", "hard_sigmoid", "softplus", "swish"} do
      local layer = nn.Dense(3, {activation = name})
      local x = dnn.randn(2, 4, {requires_grad = true})
      layer:build({-1, 4})
      local ok, msg = gradcheck(function(t) return layer(t) end, {x, layer.kernel, layer.bias})
      assert(ok, name .. ": " .. tostring(msg))
    end
  end)
end)

describe("Dropout", function()
  it("zeroes about rate of the units and scales the kept ones by 1 / (1 - rate) in training", function()
    local layer = nn.Dropout(0.3)
    local y = layer(dnn.ones(200, 50)):reshape(-1):totable()
    local kept = 0
    for _, v in ipairs(y) do
      if v ~= 0 then
        kept = kept + 1
        assert(math.abs(v - 1 / 0.7) < 1e-6, "a kept unit is " .. v)
      end
    end
    assert(kept > 6700 and kept < 7300, "kept " .. kept .. " of 10000") -- 7000 expected, sd 46
  end)

  it("is the identity in inference and at rate 0", function()
    local x = dnn.randn(5, 6)
    local layer = nn.Dropout{0.5}
    layer:eval()
    assert.are.same(x:totable(), layer(x):totable())
    layer:train()
    assert.are_not.same(x:totable(), layer(x):totable())
    assert.are.same(x:totable(), nn.Dropout(0)(x):totable())
  end)

  it("repeats its masks with a seed, whatever else draws from the PRNG", function()
    local x = dnn.ones(8, 8)
    local a, b = nn.Dropout(0.5, {seed = 42}), nn.Dropout{0.5, seed = 42}
    local ya = a(x):totable()
    dnn.randn(100) -- other draws in between
    assert.are.same(ya, b(x):totable())
    assert.are_not.same(ya, a(x):totable()) -- the generator advances
    -- unseeded: the global PRNG, so dnn.manual_seed repeats it
    local c = nn.Dropout(0.5)
    dnn.manual_seed(7)
    local y1 = c(x):totable()
    dnn.manual_seed(7)
    assert.are.same(y1, c(x):totable())
  end)

  it("passes the gradient check with a fixed mask, and its gradient is the mask", function()
    local layer = nn.Dropout(0.4)
    local x = dnn.randn(3, 5, {requires_grad = true})
    local ok, msg = gradcheck(function(t)
      dnn.manual_seed(3)
      return layer(t)
    end, {x})
    assert(ok, msg)
    dnn.manual_seed(3)
    local y = layer(x)
    y:sum():backward()
    local m = (y:detach() / x:detach()):reshape(-1):totable()
    for i, g in ipairs(x.grad:reshape(-1):totable()) do H.assert_close(g, m[i], 1e-5) end
  end)

  it("has Keras-style names and refuses a bad rate or seed", function()
    local a, b = nn.Dropout(0.1), nn.Dropout(0.1)
    assert.truthy(a.name:match("^dropout"))
    assert.truthy(b.name:match("^dropout_%d+$"))
    assert.are_not.equal(a.name, b.name)
    assert.are.same({-1, 3}, a:compute_output_shape({-1, 3}))
    H.assert_error({"Dropout: expected a rate in [0, 1), got number 1.5"}, nn.Dropout, 1.5)
    H.assert_error({"Dropout: expected a rate in [0, 1), got number 1"}, nn.Dropout, 1)
    H.assert_error({"Dropout: expected a rate in [0, 1), got number -0.1"}, nn.Dropout, -0.1)
    H.assert_error({"Dropout: expected a rate in [0, 1), got nil"}, nn.Dropout)
    H.assert_error({"Dropout: expected an integer seed, got number 1.5"}, nn.Dropout, 0.5, {seed = 1.5})
  end)
end)

-- Per-channel mean and biased variance of a (N, C) Lua table.
local function column_stats(rows)
  local n, c = #rows, #rows[1]
  local mean, var = {}, {}
  for j = 1, c do
    local s = 0
    for i = 1, n do s = s + rows[i][j] end
    mean[j] = s / n
    local s2 = 0
    for i = 1, n do s2 = s2 + (rows[i][j] - mean[j]) ^ 2 end
    var[j] = s2 / n
  end
  return mean, var
end

describe("BatchNormalization", function()
  local rows = {{1, 10, -3}, {2, 14, -1}, {4, 9, 0}, {7, 11, 5}}

  it("normalizes with the batch statistics in training and folds them into the moving ones (Keras)", function()
    local bn = nn.BatchNormalization{momentum = 0.9}
    local x = dnn.tensor(rows)
    local y = bn(x)
    local mean, var = column_stats(rows)
    local want = {}
    for i, row in ipairs(rows) do
      want[i] = {}
      for j, v in ipairs(row) do want[i][j] = (v - mean[j]) / math.sqrt(var[j] + 1e-3) end
    end
    H.assert_close(y, want, 1e-5)
    local mm, mv = {}, {}
    for j = 1, 3 do
      mm[j] = 0 * 0.9 + mean[j] * 0.1
      mv[j] = 1 * 0.9 + var[j] * 0.1 -- the biased batch variance, as Keras
    end
    H.assert_close(bn.moving_mean, mm, 1e-5)
    H.assert_close(bn.moving_variance, mv, 1e-5)
    -- a second step folds again
    bn(x)
    for j = 1, 3 do
      mm[j] = mm[j] * 0.9 + mean[j] * 0.1
      mv[j] = mv[j] * 0.9 + var[j] * 0.1
    end
    H.assert_close(bn.moving_mean, mm, 1e-5)
    H.assert_close(bn.moving_variance, mv, 1e-5)

    -- inference: the moving statistics, which stay as they are
    bn:eval()
    local inf = {}
    for i, row in ipairs(rows) do
      inf[i] = {}
      for j, v in ipairs(row) do inf[i][j] = (v - mm[j]) / math.sqrt(mv[j] + 1e-3) end
    end
    H.assert_close(bn(x), inf, 1e-5)
    H.assert_close(bn.moving_mean, mm, 1e-5)
  end)

  it("applies gamma and beta, and runs frozen (trainable = false) in inference mode as Keras", function()
    local bn = nn.BatchNormalization()
    local x = dnn.tensor(rows)
    bn:build({-1, 3})
    bn:set_weights{dnn.tensor{2, 1, 0.5}, dnn.tensor{1, 0, -1}, dnn.tensor{1, 2, 3}, dnn.tensor{4, 1, 0.25}}
    local mean, var = column_stats(rows)
    local y = bn(x):totable()
    H.assert_close(y[1][1], 2 * (1 - mean[1]) / math.sqrt(var[1] + 1e-3) + 1, 1e-5)
    H.assert_close(y[4][3], 0.5 * (5 - mean[3]) / math.sqrt(var[3] + 1e-3) - 1, 1e-5)
    local moving = bn.moving_mean:totable()
    bn.trainable = false
    local frozen = bn(x):totable()
    H.assert_close(frozen[2][2], 1 * (14 - moving[2]) / math.sqrt(bn.moving_variance:totable()[2] + 1e-3), 1e-5)
    H.assert_close(bn.moving_mean, moving, 0) -- not updated
  end)

  it("takes (N, H, W, C) with statistics over N, H and W, and a channels-first axis", function()
    dnn.manual_seed(2)
    local x = dnn.randn(2, 3, 4, 5) * 3 + 1
    local bn = nn.BatchNormalization()
    local y = bn(x)
    local flat = y:reshape(-1, 5)
    H.assert_close(flat:mean(1), {0, 0, 0, 0, 0}, 1e-5)
    H.assert_close(flat:var(1, false, 0), {1, 1, 1, 1, 1}, 1e-3) -- var / (var + eps)
    assert.are.same({5}, bn.gamma.shape)
    local cf = nn.BatchNormalization{axis = 2} -- (N, C, H, W)
    local z = cf(x:permute(1, 4, 2, 3))
    H.assert_close(z:permute(1, 3, 4, 2), y:totable(), 1e-5)
  end)

  it("counts 4 weights per channel, 2 of them non-trainable, in Keras's order and names", function()
    local bn = nn.BatchNormalization{input_shape = {7}}
    local total, trainable, non_trainable = bn:count_params()
    assert.are.same({28, 14, 14}, {total, trainable, non_trainable})
    assert.are.equal(2, #bn:parameters())
    local names = {}
    for i, w in ipairs(bn:named_weights()) do names[i] = w.name:gsub("^.*/", "") end
    assert.are.same({"gamma", "beta", "moving_mean", "moving_variance"}, names)
    assert.truthy(bn.name:match("^batch_normalization"))
    assert.is_false(bn.moving_mean.requires_grad)
    local plain = nn.BatchNormalization{center = false, scale = false, input_shape = {7}}
    assert.are.same({14, 0, 14}, {plain:count_params()})
    assert.are.same({-1, 7}, bn:compute_output_shape({-1, 7}))
  end)

  it("refuses a bad axis, momentum or epsilon, and an input of other channels", function()
    H.assert_error({"BatchNormalization: expected momentum a number in [0, 1], got number 2"}, nn.BatchNormalization, {momentum = 2})
    H.assert_error({"BatchNormalization: expected epsilon a number > 0, got number 0"}, nn.BatchNormalization, {epsilon = 0})
    H.assert_error({"axis 1 is the batch dim for an input (2, 3)"}, function()
      nn.BatchNormalization{axis = 1}(dnn.ones(2, 3))
    end)
    H.assert_error({"axis 5 is out of range"}, function() nn.BatchNormalization{axis = 5}(dnn.ones(2, 3)) end)
    local bn = nn.BatchNormalization()
    bn(dnn.ones(2, 3))
    H.assert_error({"BatchNormalization '" .. bn.name .. "'", "expected an input with 3 channels on axis -1, got (2, 4)"},
      bn, dnn.ones(2, 4))
  end)

  it("passes the gradient check in training and in inference mode", function()
    dnn.manual_seed(4)
    local bn = nn.BatchNormalization()
    local x = dnn.randn(4, 3, {requires_grad = true})
    bn:build({-1, 3})
    bn:set_weights{dnn.tensor{1.5, -0.5, 2}, dnn.tensor{0.1, 0.2, 0.3}, dnn.tensor{0.5, 0, -1}, dnn.tensor{2, 1, 3}}
    local ok, msg = gradcheck(function(t) return bn(t) end, {x, bn.gamma, bn.beta})
    assert(ok, "training: " .. tostring(msg))
    bn:eval()
    ok, msg = gradcheck(function(t) return bn(t) end, {x, bn.gamma, bn.beta})
    assert(ok, "inference: " .. tostring(msg))
    local bn4 = nn.BatchNormalization()
    local x4 = dnn.randn(2, 2, 2, 3, {requires_grad = true})
    bn4:build({-1, 2, 2, 3})
    ok, msg = gradcheck(function(t) return bn4(t) end, {x4, bn4.gamma, bn4.beta})
    assert(ok, "(N, H, W, C): " .. tostring(msg))
  end)

  describe("against PyTorch's BatchNorm1d / BatchNorm2d", function()
    local have_torch = H.have_torch()

    -- PyTorch in float64: outputs, gradients of sum(y * w), running statistics.
    local script = [[
import sys, torch
vals = {}
for line in open(sys.argv[1]):
    name, rest = line.split(' ', 1)
    shape, data = rest.split(':')
    vals[name] = torch.tensor([float(v) for v in data.split()], dtype=torch.float64).reshape(
        [int(s) for s in shape.split(',')])
two_d = vals['x'].dim() == 4
C = vals['gamma'].numel()
bn = (torch.nn.BatchNorm2d if two_d else torch.nn.BatchNorm1d)(C, eps=1e-3, momentum=0.1).double()
with torch.no_grad():
    bn.weight.copy_(vals['gamma'])
    bn.bias.copy_(vals['beta'])
x = vals['x'].clone().requires_grad_(True)
to_torch = (lambda t: t.permute(0, 3, 1, 2)) if two_d else (lambda t: t)
from_torch = (lambda t: t.permute(0, 2, 3, 1)) if two_d else (lambda t: t)
y = from_torch(bn(to_torch(x)))
(y * vals['w']).sum().backward()
bn.eval()
y_eval = from_torch(bn(to_torch(vals['x'])))
out = {'y': y, 'dx': x.grad, 'dgamma': bn.weight.grad, 'dbeta': bn.bias.grad,
       'running_mean': bn.running_mean, 'running_var': bn.running_var, 'y_eval': y_eval}
for k, v in out.items():
    print(k, ' '.join('%.12g' % f for f in v.detach().reshape(-1).tolist()))
]]

    local function reference(tensors)
      local data = os.tmpname()
      local f = assert(io.open(data, "w"))
      for name, t in pairs(tensors) do
        local parts = {}
        for i, v in ipairs(t:reshape(-1):totable()) do parts[i] = string.format("%.9g", v) end
        f:write(name, " ", table.concat(t.shape, ","), ":", table.concat(parts, " "), "\n")
      end
      f:close()
      local out = H.run_torch_code(script, data)
      os.remove(data)
      return out
    end

    local function compare(shape)
      dnn.manual_seed(9)
      local c = shape[#shape]
      local x = (dnn.randn(table.unpack(shape)) * 2 + 0.5)
      x.requires_grad = true
      local w = dnn.randn(table.unpack(shape))
      local gamma, beta = dnn.randn(c), dnn.randn(c)
      local bn = nn.BatchNormalization{momentum = 0.9}
      bn:build({-1, table.unpack(shape, 2)})
      bn:set_weights{gamma, beta, dnn.zeros(c), dnn.ones(c)}
      local y = bn(x)
      ;(y * w):sum():backward()
      local ref = reference{x = x:detach(), w = w, gamma = gamma, beta = beta}
      local flat = function(t) return t:detach():reshape(-1):totable() end
      H.assert_close(flat(y), ref.y, 1e-4)
      H.assert_close(flat(x.grad), ref.dx, 1e-4)
      H.assert_close(flat(bn.gamma.grad), ref.dgamma, 1e-4)
      H.assert_close(flat(bn.beta.grad), ref.dbeta, 1e-4)
      H.assert_close(flat(bn.moving_mean), ref.running_mean, 1e-5)
      -- PyTorch folds the unbiased variance in; Keras (and dnn) the biased one
      local m = x:numel() / c
      local want_var = {}
      for j, r in ipairs(ref.running_var) do
        local unbiased = (r - 0.9) / 0.1
        want_var[j] = 0.9 + 0.1 * unbiased * (m - 1) / m
      end
      H.assert_close(flat(bn.moving_variance), want_var, 1e-5)
      -- inference after one step: the Keras moving variance, so compare by hand
      bn:eval()
      local mv, mm = flat(bn.moving_variance), flat(bn.moving_mean)
      local xs, ys = x:detach():reshape(-1, c):totable(), bn(x:detach()):reshape(-1, c):totable()
      local g, b = gamma:totable(), beta:totable()
      for i = 1, #xs do
        for j = 1, c do
          H.assert_close(ys[i][j], g[j] * (xs[i][j] - mm[j]) / math.sqrt(mv[j] + 1e-3) + b[j], 1e-5)
        end
      end
    end

    it("matches BatchNorm1d on (N, C)", function()
      if not have_torch then return pending("python3-torch is not installed") end
      compare({6, 4})
    end)

    it("matches BatchNorm2d on (N, H, W, C)", function()
      if not have_torch then return pending("python3-torch is not installed") end
      compare({3, 4, 5, 2})
    end)
  end)
end)

describe("LayerNormalization", function()
  it("normalizes each example over its last axis, then gamma and beta", function()
    local rows = {{1, 2, 3, 6}, {-1, 0, 4, 1}}
    local ln = nn.LayerNormalization()
    ln:build({-1, 4})
    ln:set_weights{dnn.tensor{1, 2, 0.5, -1}, dnn.tensor{0, 1, 0, 2}}
    local y = ln(dnn.tensor(rows))
    local want = {}
    for i, row in ipairs(rows) do
      local m, v = 0, 0
      for _, e in ipairs(row) do m = m + e / 4 end
      for _, e in ipairs(row) do v = v + (e - m) ^ 2 / 4 end
      local g, b = {1, 2, 0.5, -1}, {0, 1, 0, 2}
      want[i] = {}
      for j, e in ipairs(row) do want[i][j] = g[j] * (e - m) / math.sqrt(v + 1e-3) + b[j] end
    end
    H.assert_close(y, want, 1e-5)
    assert.truthy(ln.name:match("^layer_normalization"))
  end)

  it("counts 2 weights per normalized value, takes trailing axes, and refuses others", function()
    local ln = nn.LayerNormalization{input_shape = {3, 5}}
    assert.are.same({10, 10, 0}, {ln:count_params()})
    local ln2 = nn.LayerNormalization{axis = {-2, -1}}
    local y = ln2(dnn.randn(2, 3, 5))
    assert.are.same({3, 5}, ln2.gamma.shape)
    H.assert_close(y:reshape(2, 15):mean(2), {0, 0}, 1e-5)
    H.assert_error({"expected axis to be the last dims of the input (2, 3, 5), got {2}"}, function()
      nn.LayerNormalization{axis = 2}(dnn.randn(2, 3, 5))
    end)
    H.assert_error({"axis 1 is the batch dim"}, function() nn.LayerNormalization{axis = 1}(dnn.randn(2, 3)) end)
    H.assert_error({"LayerNormalization: expected epsilon a number > 0, got number -1"}, nn.LayerNormalization, {epsilon = -1})
    assert.are.same({-1, 3, 5}, ln:compute_output_shape({-1, 3, 5}))
  end)

  it("passes the gradient check", function()
    dnn.manual_seed(8)
    local ln = nn.LayerNormalization()
    local x = dnn.randn(3, 5, {requires_grad = true})
    ln:build({-1, 5})
    ln:set_weights{dnn.randn(5), dnn.randn(5)}
    local ok, msg = gradcheck(function(t) return ln(t) end, {x, ln.gamma, ln.beta})
    assert(ok, msg)
  end)
end)

describe("Flatten and Reshape", function()
  it("flatten each example, as views where they can", function()
    local x = dnn.arange(24):reshape(2, 3, 4)
    local f = nn.Flatten()
    H.assert_shape(f(x), {2, 12})
    assert.are.same(x:reshape(-1):totable(), f(x):reshape(-1):totable())
    assert.are.same({-1, 60}, f:compute_output_shape({-1, 3, 4, 5}))
    H.assert_shape(nn.Flatten{}(dnn.zeros(0, 3, 4)), {0, 12})
    assert.truthy(f.name:match("^flatten"))
  end)

  it("reshape to a target shape without the batch, with one -1 inferred", function()
    local x = dnn.arange(24):reshape(2, 12)
    H.assert_shape(nn.Reshape({3, 4})(x), {2, 3, 4})
    H.assert_shape(nn.Reshape{2, -1}(x), {2, 2, 6})
    H.assert_shape(nn.Reshape({-1, 3}, {name = "to_rows"})(x), {2, 4, 3})
    local r = nn.Reshape{2, 2, 3}
    assert.are.same({-1, 2, 2, 3}, r:compute_output_shape({-1, 12}))
    assert.are.same({-1, 3, 4}, nn.Reshape{3, -1}:compute_output_shape({-1, 2, 6}))
    assert.are.same(x:reshape(-1):totable(), r(x):reshape(-1):totable())
  end)

  it("name both sizes when the target does not fit", function()
    local r = nn.Reshape{5, 3}
    H.assert_error({"Reshape '" .. r.name .. "'", "cannot reshape input (2, 12) (12 values per example) into (5, 3) " ..
      "(15 values per example)"}, r, dnn.zeros(2, 12))
    H.assert_error({"(12 values per example) into (5, -1): 12 is not a multiple of 5"}, nn.Reshape{5, -1},
      dnn.zeros(2, 12))
    H.assert_error({"cannot reshape input (None, 12)", "(15 values per example)"}, r.compute_output_shape, r, {-1, 12})
    H.assert_error({"Reshape: expected at most one -1"}, nn.Reshape, {-1, -1})
    H.assert_error({"Reshape: expected sizes >= 1 or one -1 in the target shape, got number 0 at [2]"}, nn.Reshape, {3, 0})
    H.assert_error({"Reshape: expected a target shape"}, nn.Reshape)
  end)

  it("pass the gradient check", function()
    local x = dnn.randn(2, 3, 4, {requires_grad = true})
    assert(gradcheck(function(t) return nn.Flatten()(t) end, {x}))
    assert(gradcheck(function(t) return nn.Reshape{4, 3}(t) end, {x}))
  end)
end)

describe("PReLU", function()
  it("computes x if x > 0 else alpha * x with alpha of the input's shape without the batch", function()
    local p = nn.PReLU()
    local x = dnn.tensor{{-1, 2, -3}, {4, -5, 0}}
    H.assert_close(p(x), {{0, 2, 0}, {4, 0, 0}}) -- alpha starts at zeros (Keras)
    assert.are.same({3}, p.alpha.shape)
    p:set_weights{dnn.tensor{0.1, 0.2, 0.3}}
    H.assert_close(p(x), {{-0.1, 2, -0.9}, {4, -1, 0}})
    assert.are.same({3, 3, 0}, {p:count_params()})
    assert.truthy(p.name:match("^p_re_lu"))
  end)

  it("shares alpha along shared_axes (1-based dims, 1 the batch)", function()
    local p = nn.PReLU{shared_axes = {2, 3}, alpha_initializer = function(t) return t:fill(0.25) end}
    local x = dnn.randn(2, 4, 4, 3)
    local y = p(x)
    assert.are.same({1, 1, 3}, p.alpha.shape)
    H.assert_close(y, dnn.maximum(x, x * 0.25):totable(), 1e-6)
    assert.are.same({-1, 4, 4, 3}, p:compute_output_shape({-1, 4, 4, 3}))
    H.assert_error({"shared axis 1 is the batch dim"}, function() nn.PReLU{shared_axes = 1}(dnn.randn(2, 3)) end)
    H.assert_error({"shared axis 4 is out of range"}, function() nn.PReLU{shared_axes = {4}}(dnn.randn(2, 3)) end)
  end)

  it("passes the gradient check, shared or not", function()
    local x = dnn.tensor({{-1.2, 0.5, -0.3}, {2.1, -0.7, 0.9}}, {requires_grad = true})
    local p = nn.PReLU()
    p:build({-1, 3})
    p:set_weights{dnn.tensor{0.1, -0.4, 0.6}}
    assert(gradcheck(function(t) return p(t) end, {x, p.alpha}))
    local x4 = (dnn.randn(2, 2, 2, 3) + 0.01)
    x4.requires_grad = true
    local s = nn.PReLU{shared_axes = {2, 3}}
    s:build({-1, 2, 2, 3})
    s:set_weights{dnn.tensor{{{0.2, -0.1, 0.5}}}}
    local ok, msg = gradcheck(function(t) return s(t) end, {x4, s.alpha})
    assert(ok, msg)
  end)
end)

describe("LeakyReLU", function()
  it("scales negative inputs by its slope (0.3 by default, Keras's layer), keeps it through save and load", function()
    local x = dnn.tensor{{-2, -0.5, 0, 1.5}}
    H.assert_close(nn.LeakyReLU()(x), dnn.tensor{{-0.6, -0.15, 0, 1.5}}, 1e-6)
    H.assert_close(nn.LeakyReLU{negative_slope = 0.1}(x), dnn.tensor{{-0.2, -0.05, 0, 1.5}}, 1e-6)
    local model = nn.Sequential{nn.Dense(4, {input_shape = {4}}), nn.LeakyReLU(0.2)}
    local path = os.tmpname()
    model:save(path)
    local loaded = dnn.load_model(path)
    os.remove(path)
    assert.are.equal(0.2, loaded.layers[2].negative_slope)
    H.assert_close(loaded(x), model(x), 1e-6)
    local ok, msg = gradcheck(function(t) return nn.LeakyReLU(0.2)(t) end, {dnn.tensor{{-1.3, 0.7, 2.1}}:requires_grad_()})
    assert(ok, msg)
  end)

  it("refuses a slope that is not a finite number >= 0", function()
    H.assert_error({"LeakyReLU: negative_slope must be a finite number >= 0 (got -1)"}, nn.LeakyReLU, -1)
    H.assert_error({"LeakyReLU: negative_slope must be", "(got string '0.2')"}, nn.LeakyReLU, {negative_slope = "0.2"})
    H.assert_error({"LeakyReLU: negative_slope must be a finite number >= 0 (got nan)"}, nn.LeakyReLU, 0 / 0)
  end)
end)
