-- dnn.losses: Keras's losses (values against hand-computed numbers and
-- Keras's documented examples), reductions, sample weights and masks,
-- gradients with respect to both arguments (finite differences), no hidden
-- logits on softmax/sigmoid outputs, the fused softmax/sigmoid path that
-- fit and evaluate choose, class_weight, get/name_of, and misuse.
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
    -- the same from the softmax output (probabilities far from the clip)
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

  it("sparse_categorical_crossentropy smooths labels as the one-hot form does (PyTorch's label_smoothing)", function()
    local z = dnn.tensor{{1.5, -0.3, 0.2}, {0.1, 0.4, -2}}
    local ids, onehot = dnn.tensor{2, 3}, dnn.tensor{{0, 1, 0}, {0, 0, 1}}
    for _, ls in ipairs{0.1, 0.5} do
      local want = losses.categorical_crossentropy{from_logits = true, label_smoothing = ls}(onehot, z):item()
      assert_near(want, losses.sparse_categorical_crossentropy{from_logits = true, label_smoothing = ls}(ids, z):item())
      local p = z:softmax(-1)
      assert_near(losses.categorical_crossentropy{label_smoothing = ls}(onehot, p):item(),
        losses.sparse_categorical_crossentropy{label_smoothing = ls}(ids, p):item())
    end
    -- PyTorch's definition: 0.9 * CE + 0.1 * the mean over classes of -log softmax; its
    -- CrossEntropyLoss(label_smoothing=0.1)(z, [1, 2]) gives 2.4708121 for these logits
    local expected = 0
    for r, label in ipairs{2, 3} do
      local row = z[r]:log_softmax(-1):totable()
      local mean = (row[1] + row[2] + row[3]) / 3
      expected = expected - (0.9 * row[label] + 0.1 * mean) / 2
    end
    local got = losses.sparse_categorical_crossentropy{from_logits = true, label_smoothing = 0.1}(ids, z):item()
    assert_near(expected, got)
    assert_near(2.4708121, got, 1e-6)
    local ok, err = pcall(losses.sparse_categorical_crossentropy{label_smoothing = -0.1}, ids, z)
    assert.is_false(ok)
    assert.truthy(err:find("sparse_categorical_crossentropy", 1, true) and err:find("label_smoothing in [0, 1]", 1, true), err)
  end)

  it("see no hidden logits: a saturated softmax / sigmoid output gives Keras's clipped value", function()
    -- Keras: categorical_crossentropy([[0, 1, 0]], softmax([[300, -300, 0]])) = -log(1e-7) = 16.118095
    local z = dnn.tensor{{300, -300, 0}}
    local clipped = losses.categorical_crossentropy(dnn.tensor{{0, 1, 0}}, z:softmax(-1)):item()
    assert_near(-math.log(1e-7), clipped, 1e-5)
    assert_near(16.118095, clipped, 1e-6)
    -- the exact log-sum-exp value needs from_logits, explicitly
    assert_near(600, losses.categorical_crossentropy{from_logits = true}(dnn.tensor{{0, 1, 0}}, z):item(), 1e-4)
    assert_near(-math.log(1e-7), losses.binary_crossentropy(dnn.tensor{1}, dnn.tensor{-300}:sigmoid()):item(), 1e-5)
    assert_near(300, losses.binary_crossentropy{from_logits = true}(dnn.tensor{1}, dnn.tensor{-300}):item(), 1e-4)
    -- the loss depends on the values only: a copy of the probabilities gives the same
    local p = z:softmax(-1)
    local y = dnn.tensor{{0, 1, 0}}
    assert.are.equal(losses.categorical_crossentropy(y, p):item(),
      losses.categorical_crossentropy(y, dnn.tensor(p:totable())):item())
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
      bce_sigmoid = function(z) return losses.binary_crossentropy(bits, z:sigmoid()) end,
      bce_logits_ls = function(z) return losses.binary_crossentropy{from_logits = true, label_smoothing = 0.1}(bits, z) end,
      cce_probs = function(z) return losses.categorical_crossentropy(soft, z:softmax(-1) + 0) end,
      cce_unnormalized = function(z) return losses.categorical_crossentropy(onehot, z:sigmoid() + 0.1) end,
      cce_softmax = function(z) return losses.categorical_crossentropy(soft, z:softmax(-1)) end,
      cce_logits_ls = function(z)
        return losses.categorical_crossentropy{from_logits = true, label_smoothing = 0.2}(onehot, z)
      end,
      scce_probs = function(z) return losses.sparse_categorical_crossentropy(dnn.tensor{3, 1}, z:sigmoid() + 0.1) end,
      scce_logits = function(z)
        return losses.sparse_categorical_crossentropy{from_logits = true}(dnn.tensor{3, 1}, z)
      end,
      scce_logits_ls = function(z)
        return losses.sparse_categorical_crossentropy{from_logits = true, label_smoothing = 0.2}(dnn.tensor{3, 1}, z)
      end,
      scce_probs_ls = function(z)
        return losses.sparse_categorical_crossentropy{label_smoothing = 0.2}(dnn.tensor{3, 1}, z:softmax(-1))
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

-- Every loss with the arguments of the checks below: (name, loss function, y_true, y_pred), y_pred (2, 2, 3) so
-- the per-example shape is (2, 2).
local function every_loss()
  dnn.manual_seed(21)
  local reals, soft = dnn.randn(2, 2, 3), dnn.rand(2, 2, 3) * 0.8 + 0.1
  local probs = dnn.rand(2, 2, 3) * 0.8 + 0.1
  local ids = dnn.tensor{{3, 1}, {2, 2}}
  return {
    {"mse", losses.mse, reals, dnn.randn(2, 2, 3)},
    {"mae", losses.mae, reals, dnn.randn(2, 2, 3)},
    {"huber", losses.huber{delta = 0.6}, reals, dnn.randn(2, 2, 3)},
    {"bce", losses.binary_crossentropy{label_smoothing = 0.1}, soft, probs},
    {"bce_logits", losses.binary_crossentropy{from_logits = true}, soft, dnn.randn(2, 2, 3)},
    {"cce", losses.categorical_crossentropy{label_smoothing = 0.2}, soft, probs},
    {"cce_logits", losses.categorical_crossentropy{from_logits = true}, soft, dnn.randn(2, 2, 3)},
    {"scce", losses.sparse_categorical_crossentropy, ids, probs, sparse = true},
    {"scce_logits", losses.sparse_categorical_crossentropy{from_logits = true}, ids, dnn.randn(2, 2, 3), sparse = true},
    {"kld", losses.kl_divergence, soft, probs},
  }
end

local function with_reduction(fn, reduction)
  local options = losses.options_of(fn)
  options.reduction = reduction
  return losses[losses.name_of(fn)](options)
end

describe("reductions, sample weights and masks", function()
  -- y_pred (2, 2, 2) against zeros: per-example mse {{1, 2}, {4.5, 1}}
  local zeros = dnn.zeros(2, 2, 2)
  local pred = dnn.tensor{{{1, 1}, {2, 0}}, {{0, 3}, {1, -1}}}

  it("none gives the per-example losses, sum their sum, sum_over_batch_size their mean (the default)", function()
    local none = losses.mse{reduction = "none"}(zeros, pred)
    assert.are.same({2, 2}, none.shape)
    assert.are.same({{1, 2}, {4.5, 1}}, none:totable())
    assert_near(8.5, losses.mse{reduction = "sum"}(zeros, pred):item())
    assert_near(8.5 / 4, losses.mse{reduction = "sum_over_batch_size"}(zeros, pred):item())
    assert_near(8.5 / 4, losses.mse(zeros, pred):item())
    -- sparse labels (N) and (N, 1) both give per-example losses of shape (N), as Keras
    local p = dnn.tensor{{0.05, 0.95, 0}, {0.1, 0.8, 0.1}}
    local scce = losses.sparse_categorical_crossentropy{reduction = "none"}
    for _, labels in ipairs{dnn.tensor{2, 3}, dnn.tensor{{2}, {3}}} do
      local l = scce(labels, p)
      assert.are.same({2}, l.shape)
      assert_near(-math.log(0.95), l:totable()[1])
      assert_near(-math.log(0.1), l:totable()[2])
    end
    -- Keras's documented BinaryCrossentropy(reduction="none") example: [0.916, 0.714]
    local bce = losses.binary_crossentropy{reduction = "none"}(dnn.tensor{{0, 1}, {0, 0}}, dnn.tensor{{0.6, 0.4}, {0.4, 0.6}})
    assert_near(0.916, bce:totable()[1], 1e-3)
    assert_near(0.714, bce:totable()[2], 1e-3)
  end)

  it("weight each example by sample_weight (third argument); the mean still divides by the count", function()
    local w = dnn.tensor{{2}, {0.5}} -- per sample, broadcast over the second per-example dim
    assert.are.same({{2, 4}, {2.25, 0.5}}, losses.mse{reduction = "none"}(zeros, pred, w):totable())
    assert_near(8.75, losses.mse{reduction = "sum"}(zeros, pred, w):item())
    assert_near(8.75 / 4, losses.mse(zeros, pred, w):item())
    -- (2) broadcasts along the last per-example dim (NumPy's rules)
    assert_near(1 + 6 + 4.5 + 3, losses.mse{reduction = "sum"}(zeros, pred, dnn.tensor{1, 3}):item())
    -- Keras's documented example: MeanSquaredError()([[0, 1], [0, 0]], [[1, 1], [1, 0]], sample_weight=[0.7, 0.3]) = 0.25
    assert_near(0.25, losses.mse(dnn.tensor{{0, 1}, {0, 0}}, dnn.tensor{{1, 1}, {1, 0}}, dnn.tensor{0.7, 0.3}):item())
  end)

  it("drop masked positions (fourth argument): the masked mean divides by the unmasked count, as Keras 3", function()
    local mask = dnn.tensor{{1, 0}, {1, 1}}
    assert.are.same({{1, 0}, {4.5, 1}}, losses.mse{reduction = "none"}(zeros, pred, nil, mask):totable())
    assert_near(6.5, losses.mse{reduction = "sum"}(zeros, pred, nil, mask):item())
    assert_near(6.5 / 3, losses.mse(zeros, pred, nil, mask):item())
    assert_near((2 + 2.25 + 0.5) / 3, losses.mse(zeros, pred, dnn.tensor{{2}, {0.5}}, mask):item())
    assert.are.equal(0, losses.mse(zeros, pred, nil, dnn.zeros(2, 2)):item()) -- nothing left: 0, not NaN
    -- a masked position contributes 0 even where its loss is infinite
    local l = losses.categorical_crossentropy{from_logits = true}(dnn.tensor{{0, 1}, {1, 0}},
      dnn.tensor{{0, 1}, {-math.huge, 0}}, nil, dnn.tensor{1, 0})
    assert_near(math.log(1 + math.exp(-1)), l:item())
  end)

  it("apply the same way to every loss: sum = sum(w l), sum_over_batch_size = sum(w m l) / sum(m)", function()
    local w = dnn.tensor{{3}, {0.5}}
    local mask = dnn.tensor{{1, 1}, {0, 1}}
    for _, case in ipairs(every_loss()) do
      local fn, y, p = case[2], case[3], case[4]
      local per = with_reduction(fn, "none")(y, p):totable()
      local sum, masked, count = 0, 0, 0
      for i = 1, 2 do
        for j = 1, 2 do
          local wi = ({3, 0.5})[i]
          sum = sum + wi * per[i][j]
          local m = mask:totable()[i][j]
          masked = masked + m * wi * per[i][j]
          count = count + m
        end
      end
      assert_near(sum, with_reduction(fn, "sum")(y, p, w):item(), 1e-5)
      assert_near(sum / 4, fn(y, p, w):item(), 1e-5)
      assert_near(masked / count, fn(y, p, w, mask):item(), 1e-5)
      local none = with_reduction(fn, "none")(y, p, w, mask):totable()
      assert_near(0, none[2][1])
      assert_near(0.5 * per[2][2], none[2][2], 1e-5)
    end
  end)
end)

describe("gradients with respect to both arguments", function()
  it("mse(a, b) with both requiring grad gives a.grad and b.grad", function()
    local a = dnn.tensor({{1, 2}}, {requires_grad = true})
    local b = dnn.tensor({{2, 5}}, {requires_grad = true})
    losses.mse(a, b):backward()
    assert.are.same({{-1, -3}}, a.grad:totable())
    assert.are.same({{1, 3}}, b.grad:totable())
  end)

  it("soft targets of the cross-entropies get -log p (times 1 - label_smoothing)", function()
    local y = dnn.tensor({{0.25, 0.75}}, {requires_grad = true})
    local p = dnn.tensor{{0.2, 0.8}}
    losses.categorical_crossentropy(y, p):backward()
    assert_near(-math.log(0.2), y.grad:totable()[1][1])
    assert_near(-math.log(0.8), y.grad:totable()[1][2])
  end)

  it("pass the finite-difference check for every loss, reduction, weights and mask", function()
    local w = dnn.tensor{{1.5}, {0.25}}
    local mask = dnn.tensor{{1, 1}, {0, 1}}
    local v = dnn.tensor{{1, -2}, {0.5, 3}}
    local checked = 0
    for _, case in ipairs(every_loss()) do
      for _, reduction in ipairs{"sum_over_batch_size", "sum", "none"} do
        for _, weighted in ipairs{false, true} do
          local name, fn = case[1], with_reduction(case[2], reduction)
          local function loss(y, p)
            local l = weighted and fn(y, p, w, mask) or fn(y, p)
            if reduction == "none" then l = (l * v):sum() end
            return l
          end
          local y, p = case[3]:clone(), case[4]:clone()
          p.requires_grad = true
          local f, inputs = loss, {y, p}
          if case.sparse then -- the labels are not an input
            f, inputs = function(q) return loss(y, q) end, {p}
          else
            y.requires_grad = true
          end
          local ok, msg = dnn.autograd.gradcheck(f, inputs)
          assert(ok, string.format("%s %s%s: %s", name, reduction, weighted and " weighted" or "", tostring(msg)))
          checked = checked + 1
        end
      end
    end
    assert.are.equal(60, checked)
  end)

  it("refuse sparse labels that require grad (class ids are not differentiable, as PyTorch's integer targets)", function()
    local labels = dnn.tensor({1, 2}, {requires_grad = true})
    local ok, err = pcall(losses.sparse_categorical_crossentropy, labels, dnn.tensor{{0.5, 0.5}, {0.2, 0.8}})
    assert.is_false(ok)
    assert.truthy(err:find("sparse_categorical_crossentropy", 1, true), err)
    assert.truthy(err:find("labels that do not require grad", 1, true), err)
  end)
end)

describe("reduction and weight misuse", function()
  local y, p = dnn.zeros(4, 2), dnn.ones(4, 2)

  it("refuses an unknown reduction when the loss is made", function()
    assert.has_error(function() losses.mse{reduction = "mean"} end,
      'mean_squared_error: expected option \'reduction\' to be "sum_over_batch_size", "sum" or "none", got "mean"')
    assert.has_error(function() losses.huber{reduction = 1} end,
      "huber: expected option 'reduction' to be a string, got number 1")
  end)

  it("names the function, the per-example shape and the weight's shape", function()
    local ok, err = pcall(losses.kl_divergence, y, p, dnn.ones(3))
    assert.is_false(ok)
    assert.truthy(err:find("'kl_divergence'", 1, true), err)
    assert.truthy(err:find("sample_weight broadcastable to the per-example loss shape (4), got (3)", 1, true), err)
    ok, err = pcall(losses.mae, y, p, nil, dnn.ones(2))
    assert.is_false(ok)
    assert.truthy(err:find("mask broadcastable to the per-example loss shape (4), got (2)", 1, true), err)
    ok, err = pcall(losses.mae, y, p, nil, dnn.tensor{1, 0, 2, 1})
    assert.is_false(ok)
    assert.truthy(err:find("expected a mask of 0s and 1s, got 2 at position 3", 1, true), err)
    ok, err = pcall(losses.mse, y, p, dnn.ones({4}, {requires_grad = true}))
    assert.is_false(ok)
    assert.truthy(err:find("sample_weight that does not require grad", 1, true), err)
  end)

  it("refuses weights and masks that are not tensors", function()
    assert.has_error(function() losses.mse(y, p, {1, 2, 3, 4}) end,
      "mean_squared_error: expected sample_weight (argument 3) to be a tensor or nil, got table")
    assert.has_error(function() losses.mse(y, p, nil, 1) end,
      "mean_squared_error: expected mask (argument 4) to be a tensor or nil, got number")
  end)
end)
