-- dnn.losses: Keras's losses (values against hand-computed numbers and
-- Keras's documented examples), their gradients (finite differences), the
-- fusion with softmax/sigmoid outputs, get/name_of, and misuse.
local dnn = dnn or require "dnn"
local losses = dnn.losses

local function near(a, b, tol)
  return math.abs(a - b) <= (tol or 1e-5) * (1 + math.abs(b))
end

local function assert_near(expected, got, tol)
  assert(near(got, expected, tol), string.format("expected %.9g, got %.9g", expected, got))
end

local function mean(list)
  local s = 0
  for _, v in ipairs(list) do s = s + v end
  return s / #list
end

describe("regression losses", function()
  local y = dnn.tensor{{0, 1}, {2, -1}}
  local p = dnn.tensor{{0.5, 3}, {2, -1.25}}

  it("mean_squared_error: mean over the last axis, then over the batch", function()
    assert_near(mean{0.25, 4, 0, 0.0625}, losses.mean_squared_error(y, p):item())
    assert.are.equal(losses.mse, losses.mean_squared_error)
  end)

  it("mean_absolute_error", function()
    assert_near(mean{0.5, 2, 0, 0.25}, losses.mae(y, p):item())
  end)

  it("huber: quadratic within delta, linear beyond (delta = 1 by default)", function()
    -- errors 0.5, 2, 0, -0.25: 0.125, 2 - 0.5, 0, 0.03125
    assert_near(mean{0.125, 1.5, 0, 0.03125}, losses.huber(y, p):item())
    -- delta = 2: 2 is inside: 0.5 * 4 = 2
    assert_near(mean{0.125, 2, 0, 0.03125}, losses.huber{delta = 2}(y, p):item())
    assert_near(mean{0.125, 2.5 * 2 - 2, 0, 0.03125}, losses.huber{delta = 2}(y, p + dnn.tensor{{0, 0.5}, {0, 0}})
      :item())
  end)

  it("kl_divergence: sum over the last axis of t log(t / p), both clipped to [1e-7, 1]", function()
    local t = dnn.tensor{{0.2, 0.8}, {1, 0}}
    local q = dnn.tensor{{0.5, 0.5}, {0.25, 0.75}}
    local row1 = 0.2 * math.log(0.2 / 0.5) + 0.8 * math.log(0.8 / 0.5)
    local row2 = math.log(1 / 0.25) + 1e-7 * math.log(1e-7 / 0.75)
    assert_near((row1 + row2) / 2, losses.kl_divergence(t, q):item(), 1e-5)
    assert.are.equal(losses.kld, losses.kl_divergence)
  end)
end)

describe("cross-entropies", function()
  it("binary_crossentropy matches Keras's documented example", function()
    -- keras.losses.binary_crossentropy([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]) = [0.916, 0.714]
    local l = losses.binary_crossentropy(dnn.tensor{{0, 1}, {0, 0}}, dnn.tensor{{0.6, 0.4}, {0.4, 0.6}})
    local expected = mean{-(math.log(0.4) + math.log(0.4)) / 2, -(math.log(0.6) + math.log(0.4)) / 2}
    assert_near(expected, l:item())
    assert_near((0.916 + 0.714) / 2, l:item(), 1e-3)
  end)

  it("binary_crossentropy with label smoothing squeezes targets towards 0.5", function()
    local y, z = dnn.tensor{1, 0}, dnn.tensor{0.3, -1.2}
    local ls = 0.2
    local expected = 0
    for i, zi in ipairs{0.3, -1.2} do
      local yi = ({1, 0})[i] * (1 - ls) + 0.5 * ls
      local pi = 1 / (1 + math.exp(-zi))
      expected = expected - (yi * math.log(pi) + (1 - yi) * math.log(1 - pi)) / 2
    end
    assert_near(expected, losses.binary_crossentropy{from_logits = true, label_smoothing = ls}(y, z):item())
    assert_near(expected, losses.binary_crossentropy{label_smoothing = ls}(y, z:sigmoid()):item(), 1e-4)
  end)

  it("categorical_crossentropy matches Keras's documented example", function()
    -- y_true [[0, 1, 0], [0, 0, 1]], y_pred [[0.05, 0.95, 0], [0.1, 0.8, 0.1]] -> [0.0513, 2.303]
    local y = dnn.tensor{{0, 1, 0}, {0, 0, 1}}
    local p = dnn.tensor{{0.05, 0.95, 0}, {0.1, 0.8, 0.1}}
    local l = losses.categorical_crossentropy(y, p):item()
    assert_near((-math.log(0.95) - math.log(0.1)) / 2, l)
    assert_near((0.0513 + 2.303) / 2, l, 1e-3)
  end)

  it("categorical_crossentropy normalizes probabilities that do not sum to 1, as Keras", function()
    local y = dnn.tensor{{0, 1}}
    assert_near(-math.log(0.75), losses.categorical_crossentropy(y, dnn.tensor{{1, 3}}):item())
  end)

  it("categorical_crossentropy from logits, with label smoothing, soft targets", function()
    local z = {{1, 2, 0.5}, {-1, 0, 3}}
    local y = {{0, 1, 0}, {0.2, 0.3, 0.5}}
    local ls = 0.1
    local expected = 0
    for r = 1, 2 do
      local se = 0
      for c = 1, 3 do se = se + math.exp(z[r][c]) end
      for c = 1, 3 do
        local yc = y[r][c] * (1 - ls) + ls / 3
        expected = expected - yc * (z[r][c] - math.log(se)) / 2
      end
    end
    local f = losses.categorical_crossentropy{from_logits = true, label_smoothing = ls}
    assert_near(expected, f(dnn.tensor(y), dnn.tensor(z)):item())
    -- the same from the softmax output: the loss works from its logits
    local g = losses.categorical_crossentropy{label_smoothing = ls}
    assert_near(expected, g(dnn.tensor(y), dnn.tensor(z):softmax(-1)):item(), 1e-5)
  end)

  it("sparse_categorical_crossentropy takes 1-based ids and agrees with the one-hot form", function()
    local p = dnn.tensor{{0.05, 0.95, 0}, {0.1, 0.8, 0.1}}
    local sparse = losses.sparse_categorical_crossentropy(dnn.tensor{2, 3}, p):item()
    local dense = losses.categorical_crossentropy(dnn.tensor{{0, 1, 0}, {0, 0, 1}}, p):item()
    assert_near(dense, sparse)
    -- (N, 1) labels as Keras accepts
    assert_near(dense, losses.sparse_categorical_crossentropy(dnn.tensor{{2}, {3}}, p):item())
  end)

  it("stay finite on saturated softmax / sigmoid outputs (fused with the logits)", function()
    local z = dnn.tensor{{300, -300, 0}}
    assert_near(600, losses.categorical_crossentropy(dnn.tensor{{0, 1, 0}}, z:softmax(-1)):item(), 1e-4)
    assert_near(300, losses.binary_crossentropy(dnn.tensor{1}, dnn.tensor{-300}:sigmoid()):item(), 1e-4)
  end)

  it("clip probabilities at 1e-7 without the logits", function()
    local l = losses.binary_crossentropy(dnn.tensor{1}, dnn.tensor{0}):item()
    assert_near(-math.log(1e-7), l, 1e-3)
  end)
end)

describe("loss gradients", function()
  local function check(name, f, shape, opts)
    dnn.manual_seed(7)
    local z = dnn.randn(table.unpack(shape))
    z.requires_grad = true
    local ok, msg = dnn.autograd.gradcheck(f, {z}, opts)
    assert(ok, name .. ": " .. tostring(msg))
  end

  it("pass the finite-difference check for every loss and option", function()
    local t = dnn.tensor{{0.1, -0.4, 0.9}, {1.5, 0.2, -0.3}}
    local onehot = dnn.tensor{{0, 1, 0}, {1, 0, 0}}
    local soft = dnn.tensor{{0.2, 0.5, 0.3}, {0.6, 0.1, 0.3}}
    local bits = dnn.tensor{{0, 1, 1}, {1, 0, 0}}
    local cases = {
      mse = function(z) return losses.mse(t, z) end,
      mae = function(z) return losses.mae(t, z) end,
      huber = function(z) return losses.huber(t, z * 2) end,
      huber_delta = function(z) return losses.huber{delta = 0.5}(t, z) end,
      bce_probs = function(z) return losses.binary_crossentropy(bits, z:sigmoid() * 0.9 + 0.05) end,
      bce_fused = function(z) return losses.binary_crossentropy(bits, z:sigmoid()) end,
      bce_logits_ls = function(z) return losses.binary_crossentropy{from_logits = true, label_smoothing = 0.1}(bits, z) end,
      cce_probs = function(z) return losses.categorical_crossentropy(soft, z:softmax(-1) + 0) end,
      cce_unnormalized = function(z) return losses.categorical_crossentropy(onehot, z:sigmoid() + 0.1) end,
      cce_fused = function(z) return losses.categorical_crossentropy(soft, z:softmax(-1)) end,
      cce_logits_ls = function(z)
        return losses.categorical_crossentropy{from_logits = true, label_smoothing = 0.2}(onehot, z)
      end,
      scce_probs = function(z) return losses.sparse_categorical_crossentropy(dnn.tensor{3, 1}, z:sigmoid() + 0.1) end,
      scce_logits = function(z)
        return losses.sparse_categorical_crossentropy{from_logits = true}(dnn.tensor{3, 1}, z)
      end,
      kld = function(z) return losses.kl_divergence(soft, z:softmax(-1) + 0) end,
    }
    for name, f in pairs(cases) do check(name, f, {2, 3}) end
  end)

  it("flow into a model's weights through backward", function()
    local w = dnn.tensor({{0.5}, {-0.5}}, {requires_grad = true})
    local x = dnn.tensor{{1, 2}, {3, 4}}
    local loss = losses.mae(dnn.tensor{{0}, {0}}, x:matmul(w))
    loss:backward()
    -- outputs -0.5, -0.5: d/dout = -1/2 each; dW = x^T (-1/2)
    assert.are.same({{-2}, {-3}}, w.grad:totable())
  end)
end)

describe("losses.get and name_of", function()
  it("find losses by Keras name and alias", function()
    for name, canonical in pairs{mse = "mean_squared_error", mae = "mean_absolute_error", kld = "kl_divergence",
                                 huber = "huber", categorical_crossentropy = "categorical_crossentropy",
                                 sparse_categorical_crossentropy = "sparse_categorical_crossentropy",
                                 binary_crossentropy = "binary_crossentropy"} do
      local fn = losses.get(name)
      assert.is_function(fn)
      assert.are.equal(canonical, losses.name_of(fn))
    end
  end)

  it("pass a user's function and a loss object through, with their names", function()
    local mine = function(y, p) return ((y - p) ^ 2):sum() end
    assert.are.equal(mine, losses.get(mine))
    assert.is_nil(losses.name_of(mine))
    local obj = losses.binary_crossentropy{from_logits = true}
    assert.are.equal(obj, losses.get(obj))
    assert.are.equal("binary_crossentropy", losses.name_of(obj))
    assert.are.equal("sparse_categorical_crossentropy",
      losses.name_of(losses.sparse_categorical_crossentropy{from_logits = true}))
  end)

  it("refuse an unknown name, listing the valid ones", function()
    local ok, err = pcall(losses.get, "nope")
    assert.is_false(ok)
    assert.truthy(err:find("unknown loss 'nope'", 1, true), err)
    assert.truthy(err:find("mean_squared_error", 1, true), err)
    assert.truthy(err:find("kld", 1, true), err)
    assert.has_error(function() losses.get(42) end)
  end)

  it("refuse unknown or mistyped options", function()
    assert.has_error(function() losses.huber{delt = 1} end, "huber: unknown option 'delt' (did you mean 'delta'?)")
    assert.has_error(function() losses.binary_crossentropy{from_logits = 1} end,
      "binary_crossentropy: expected option 'from_logits' to be a boolean, got number 1")
  end)
end)

describe("loss misuse", function()
  it("names both shapes when y_true and y_pred differ", function()
    for _, f in ipairs{losses.mse, losses.mae, losses.huber, losses.binary_crossentropy,
                       losses.categorical_crossentropy, losses.kl_divergence} do
      local ok, err = pcall(f, dnn.ones(4, 2), dnn.ones(4, 3))
      assert.is_false(ok)
      assert.truthy(err:find("(4, 3)", 1, true) and err:find("(4, 2)", 1, true), err)
    end
  end)

  it("refuses non-tensors and bad options", function()
    assert.has_error(function() losses.mse({1, 2}, dnn.ones(2)) end,
      "mean_squared_error: expected tensors (y_true, y_pred), got table and a tensor")
    local ok, err = pcall(losses.huber{delta = -1}, dnn.ones(2), dnn.ones(2))
    assert.is_false(ok)
    assert.truthy(err:find("expected delta > 0", 1, true), err)
    ok, err = pcall(losses.categorical_crossentropy{label_smoothing = 2}, dnn.ones(1, 2), dnn.ones(1, 2))
    assert.is_false(ok)
    assert.truthy(err:find("label_smoothing in [0, 1]", 1, true), err)
  end)
end)
