-- Autodiff from Lua: backward, accumulation, views/cat/stack in the graph,
-- grad mode (no_grad and friends), detach, and the errors of misuse.
local dnn = dnn or require "dnn"
local H = require "helpers"
local close = H.assert_close

describe("backward", function()
  it("fills the leaves' grad for the API.md example", function()
    local x = dnn.tensor{{1, 2}, {3, 4}, {5, 6}}
    local y = dnn.tensor{{1}, {2}, {3}}
    local w = dnn.tensor({{0.5}, {-1}}, {requires_grad = true})
    local loss = ((x:matmul(w) - y) ^ 2):mean()
    -- residuals r = xw - y = {-2.5, -4.5, -6.5}; d/dw = 2/3 * x^T r
    close(loss, (2.5 ^ 2 + 4.5 ^ 2 + 6.5 ^ 2) / 3)
    loss:backward()
    local r = {-2.5, -4.5, -6.5}
    local g1 = 2 / 3 * (1 * r[1] + 3 * r[2] + 5 * r[3])
    local g2 = 2 / 3 * (2 * r[1] + 4 * r[2] + 6 * r[3])
    close(w.grad, {{g1}, {g2}}, 1e-5)
    assert.is_nil(x.grad)
  end)

  it("accumulates over calls until zeroed, in place (a held grad sees it)", function()
    local w = dnn.tensor({1, 2}, {requires_grad = true})
    ;(w * 3):sum():backward()
    local g = w.grad
    close(g, {3, 3})
    ;(w * w):sum():backward()
    close(w.grad, {5, 7})
    close(g, {5, 7})
    w.grad:zero()
    close(w.grad, {0, 0})
    ;(w + 1):sum():backward()
    close(w.grad, {1, 1})
    w.grad = nil
    assert.is_nil(w.grad)
  end)

  -- Dense adds its kernel's gradient straight into kernel.grad: a second
  -- backward, and a layer used twice in one graph, must add, not overwrite.
  it("accumulates a Dense kernel's gradient over calls and over shared uses", function()
    dnn.manual_seed(3)
    local layer = dnn.nn.Dense(3, {activation = "relu"})
    local a, b = dnn.randn(4, 5), dnn.randn(2, 5)
    layer(a) -- builds the kernel and the bias
    local function grads_of(loss_fn)
      layer.kernel.grad, layer.bias.grad = nil, nil
      loss_fn():backward()
      return layer.kernel.grad:clone(), layer.bias.grad:clone()
    end
    local ka, ba = grads_of(function() return layer(a):sum() end)
    local kb, bb = grads_of(function() return (layer(b) * 2):sum() end)
    local k_shared, b_shared = grads_of(function() return layer(a):sum() + (layer(b) * 2):sum() end)
    close(k_shared, ka + kb, 1e-5)
    close(b_shared, ba + bb, 1e-5)
    layer(a):sum():backward() -- on top of the shared use's grads
    close(layer.kernel.grad, ka * 2 + kb, 1e-5)
    assert.is_true((ka - kb):abs():max():item() > 1e-3) -- the two uses differ: a lost one would show
  end)

  it("uses a given gradient for a non-scalar output", function()
    local w = dnn.tensor({1, 2, 3}, {requires_grad = true})
    local y = w * w
    y:backward(dnn.tensor{1, 0, -1})
    close(w.grad, {2, 0, -6})
  end)

  it("a leaf's own backward seeds its grad", function()
    local s = dnn.tensor(2, {requires_grad = true})
    s:backward()
    close(s.grad, 1)
  end)

  it("flows through views", function()
    local w = dnn.arange(6, {requires_grad = true})
    local m = w:reshape(2, 3)
    local loss = m:transpose(1, 2):narrow(1, 2, 2):sum() * 2 + m[2][3] * 10 + m:select(2, 1):sum()
      + m:unsqueeze(1):squeeze():expand(4, 2, 3):sum() + m:permute(2, 1):contiguous()[1]:sum()
    loss:backward()
    -- narrow(cols 2..3) *2: +2 at cols 2,3; m[2][3]*10; select col 1: +1; expand x4: +4 everywhere;
    -- permute()[1] is column 1: +1
    close(w.grad, {4 + 1 + 1, 4 + 2, 4 + 2, 4 + 1 + 1, 4 + 2, 4 + 2 + 10})
  end)

  it("flows through cat and stack", function()
    local a = dnn.tensor({1, 2}, {requires_grad = true})
    local b = dnn.tensor({3}, {requires_grad = true})
    local c = dnn.cat({a, b}, 1)
    local s = dnn.stack({a, a * 2}, 1)
    local loss = (c * dnn.tensor{1, 2, 3}):sum() + (s * dnn.tensor{{1, 1}, {5, 5}}):sum()
    loss:backward()
    close(a.grad, {1 + 1 + 10, 2 + 1 + 10})
    close(b.grad, {3})
  end)

  it("through a shared subexpression (diamond) and broadcasting", function()
    local x = dnn.tensor({{1, 2}}, {requires_grad = true})
    local b = dnn.tensor({{1}, {2}, {3}}, {requires_grad = true})
    local h = x + b -- (3, 2)
    local loss = (h * h):sum()
    loss:backward()
    -- dL/dh = 2h; x gets the sum over rows, b over columns
    close(x.grad, {{2 * (2 + 3 + 4), 2 * (3 + 4 + 5)}})
    close(b.grad, {{2 * (2 + 3)}, {2 * (3 + 4)}, {2 * (4 + 5)}})
  end)
end)

describe("grad mode", function()
  it("no_grad records nothing and returns the function's results", function()
    local w = dnn.ones(2, {requires_grad = true})
    local y, n, s = dnn.no_grad(function(a, b) return w * 2, a + b, "x" end, 1, 2)
    assert.is_false(y.requires_grad)
    assert.is_nil(y.grad_fn)
    assert.are.equal(3, n)
    assert.are.equal("x", s)
    assert.is_true(dnn.is_grad_enabled())
    assert.is_true((w * 2).requires_grad)
  end)

  it("no_grad restores the mode after an error and passes the error on", function()
    local ok, err = pcall(dnn.no_grad, function()
      assert(not dnn.is_grad_enabled())
      error("boom")
    end)
    assert.is_false(ok)
    assert.is_truthy(tostring(err):find("boom", 1, true))
    assert.is_true(dnn.is_grad_enabled())
    local tbl = {}
    local ok2, err2 = pcall(dnn.no_grad, function() error(tbl) end)
    assert.is_false(ok2)
    assert.are.equal(tbl, err2) -- the error value itself, unchanged
    assert.is_true(dnn.is_grad_enabled())
  end)

  it("enable_grad inside no_grad, set_grad_enabled returns the previous mode", function()
    local w = dnn.ones(2, {requires_grad = true})
    local inner = dnn.no_grad(function()
      local r = dnn.enable_grad(function() return w * 2 end)
      assert.is_false(dnn.is_grad_enabled())
      return r
    end)
    assert.is_true(inner.requires_grad)
    assert.is_true(dnn.set_grad_enabled(false))
    assert.is_false(dnn.is_grad_enabled())
    assert.is_false((w * 2).requires_grad)
    assert.is_false(dnn.set_grad_enabled(true))
    assert.is_true(dnn.is_grad_enabled())
    assert.are.equal(dnn.no_grad, dnn.autograd.no_grad)
  end)

  it("allows in-place updates of parameters under no_grad only", function()
    local w = dnn.tensor({1, 2}, {requires_grad = true})
    H.assert_error({"fill", "requires grad"}, function() w:fill(0) end)
    H.assert_error({"requires grad"}, function() w[1] = 5 end)
    dnn.no_grad(function() w:copy(w - 0.5) end)
    close(w, {0.5, 1.5})
    assert.is_true(w.requires_grad)
  end)
end)

describe("detach", function()
  it("cuts the graph: no grad flows through the detached part", function()
    local w = dnn.tensor({1, 2}, {requires_grad = true})
    local d = (w * 3):detach()
    assert.is_false(d.requires_grad)
    assert.is_true(d.is_leaf)
    local loss = (w * d):sum()
    loss:backward()
    close(w.grad, {3, 6}) -- d counted as a constant
  end)
end)

describe("misuse", function()
  it("backward on a tensor that needs no grad", function()
    H.assert_error({"backward", "does not require grad"}, function() dnn.ones(2):sum():backward() end)
  end)

  it("backward on a non-scalar without a gradient", function()
    local w = dnn.ones(2, {requires_grad = true})
    H.assert_error({"backward", "non-scalar", "(2)"}, function() (w * 2):backward() end)
    H.assert_error({"backward", "expected a gradient of shape (2), got (3)"}, function()
      ;(w * 2):backward(dnn.ones(3))
    end)
  end)

  it("a second backward through a freed graph", function()
    local w = dnn.ones(2, {requires_grad = true})
    local loss = (w * w):sum()
    loss:backward()
    H.assert_error({"backward", "already freed"}, function() loss:backward() end)
    close(w.grad, {2, 2}) -- the failed call changed nothing
  end)

  it("requires_grad only on leaves", function()
    local w = dnn.ones(2, {requires_grad = true})
    local y = w * 2
    H.assert_error({"requires_grad", "leaf"}, function() y.requires_grad = false end)
    H.assert_error({"requires_grad", "boolean"}, function() w.requires_grad = 1 end)
    H.assert_error({"grad", "shape (2)", "(3)"}, function() w.grad = dnn.ones(3) end)
  end)
end)
