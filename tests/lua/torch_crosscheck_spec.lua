-- Forward values and gradients of small Dense networks, and of every loss
-- with each reduction, sample weights and a mask (gradients with respect to
-- both arguments), against PyTorch (Debian's python3-torch), skipped with a
-- message where it is absent.
local dnn = dnn or require "dnn"
local C = require("dnn.core")._nn
local H = require "helpers"

local function write_tensors(path, tensors)
  local f = assert(io.open(path, "w"))
  for name, t in pairs(tensors) do
    f:write(name, " ", table.concat(t.shape, ","), ": ", H.torch_values(t), "\n")
  end
  f:close()
end

local assert_close = H.assert_close_to_reference

describe("Dense networks against PyTorch", function()
  if not H.have_torch() then
    pending("PyTorch (python3-torch) is not installed: cross-check skipped")
    return
  end

  it("agree on forward values, losses and gradients", function()
    dnn.manual_seed(7)
    local x = dnn.randn(8, 5, {requires_grad = true})
    local y = dnn.tensor{1, 4, 2, 3, 4, 1, 2, 3}
    local target = dnn.rand(8, 1)
    local w1 = dnn.randn(5, 7) * 0.5
    local b1 = dnn.randn(7) * 0.1
    local w2 = dnn.randn(7, 4) * 0.5
    local b2 = dnn.randn(4) * 0.1
    local w3 = dnn.randn(7, 1) * 0.5
    local path = os.tmpname()
    write_tensors(path, {x = x:detach(), y = y, t = target, w1 = w1, b1 = b1, w2 = w2, b2 = b2, w3 = w3})
    local ref = H.run_torch_reference("dense_nets.py", path)
    os.remove(path)

    for _, p in ipairs{w1, b1, w2, b2, w3} do p.requires_grad = true end
    local hidden = C.dense(x, w1, b1, "relu")
    local probs = C.dense(hidden, w2, b2, "softmax")
    local loss = dnn.losses.sparse_categorical_crossentropy(y, probs)
    loss:backward()
    assert_close(probs, ref.probs, 1e-5, "probs")
    assert_close(loss, ref.loss, 1e-5, "loss")
    assert_close(w1.grad, ref.grad_w1, 1e-4, "grad w1")
    assert_close(b1.grad, ref.grad_b1, 1e-4, "grad b1")
    assert_close(w2.grad, ref.grad_w2, 1e-4, "grad w2")
    assert_close(b2.grad, ref.grad_b2, 1e-4, "grad b2")
    assert_close(x.grad, ref.grad_x, 1e-4, "grad x")

    local h = C.dense(x:detach(), w1:detach(), nil, "tanh")
    local bce = dnn.losses.binary_crossentropy(target, C.dense(h, w3, nil, "sigmoid"))
    bce:backward()
    assert_close(bce, ref.bce, 1e-5, "binary cross-entropy")
    assert_close(w3.grad, ref.grad_w3, 1e-4, "grad w3 (bce)")

    w3.grad:zero()
    local lin = C.dense(x:detach(), w1:detach(), nil, "linear")
    local mse = dnn.losses.mse(target, C.dense(lin, w3, nil, "linear"))
    mse:backward()
    assert_close(mse, ref.mse, 1e-5, "mse")
    assert_close(w3.grad, ref.grad_w4, 1e-4, "grad w (mse)")
  end)
end)

describe("Losses against PyTorch", function()
  if not H.have_torch() then
    pending("PyTorch (python3-torch) is not installed: cross-check skipped")
    return
  end

  it("agree on values and gradients for both arguments, every reduction, with weights and a mask", function()
    dnn.manual_seed(3)
    local t = dnn.rand(3, 2, 4) * 0.8 + 0.1
    local z = dnn.randn(3, 2, 4)
    local p = dnn.rand(3, 2, 4) * 0.8 + 0.1
    local ids = dnn.tensor{{1, 4}, {3, 2}, {2, 2}}
    local w = dnn.tensor{{2}, {0.5}, {1.5}}
    local m = dnn.tensor{{1, 0}, {1, 1}, {0, 1}}
    local v = dnn.tensor{{1, -2}, {0.5, 3}, {-1, 0.25}}
    local path = os.tmpname()
    write_tensors(path, {t = t, z = z, p = p, ids = ids, w = w, m = m, v = v})
    local ref = H.run_torch_reference("losses_ref.py", path)
    os.remove(path)

    local L = dnn.losses
    local losses = {
      mse = {L.mse, z}, mae = {L.mae, z}, huber = {L.huber{delta = 0.7}, z},
      bce = {L.binary_crossentropy{label_smoothing = 0.1}, p},
      bce_logits = {L.binary_crossentropy{from_logits = true, label_smoothing = 0.1}, z},
      cce = {L.categorical_crossentropy, p},
      cce_logits = {L.categorical_crossentropy{from_logits = true, label_smoothing = 0.2}, z},
      scce_logits = {L.sparse_categorical_crossentropy{from_logits = true}, z, sparse = true},
      kld = {L.kl_divergence, p},
    }
    local cases = {plain = "sum_over_batch_size", sobs = "sum_over_batch_size", sum = "sum", none = "none"}
    local checked = 0
    for name, spec in pairs(losses) do
      for case, reduction in pairs(cases) do
        local options = dnn.losses.options_of(spec[1])
        options.reduction = reduction
        local fn = dnn.losses[dnn.losses.name_of(spec[1])](options)
        local y = spec.sparse and ids or t:clone()
        y.requires_grad = not spec.sparse
        local x = spec[2]:clone()
        x.requires_grad = true
        local value
        if case == "plain" then
          value = fn(y, x)
        else
          value = fn(y, x, w, m)
          if reduction == "none" then value = (value * v):sum() end
        end
        value:backward()
        local prefix = name .. "_" .. case
        assert(ref[prefix], "no reference for " .. prefix)
        assert_close(value, ref[prefix], 1e-5, prefix)
        assert_close(x.grad, ref[prefix .. "_gp"], 1e-4, prefix .. " d/dy_pred")
        if not spec.sparse then assert_close(y.grad, ref[prefix .. "_gt"], 1e-4, prefix .. " d/dy_true") end
        checked = checked + 1
      end
    end
    assert.are.equal(36, checked)
  end)
end)
