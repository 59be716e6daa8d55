-- The autodiff's second edition from Lua: versions refuse tensors changed in
-- place after they were saved, in-place ops, retain_graph, dnn.grad,
-- gradients of gradients, slices through one gradient buffer, and backward
-- errors that name the layer.
local dnn = dnn or require "dnn"
local H = require "helpers"
local close = H.assert_close

local function error_of(f)
  local ok, err = pcall(f)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

describe("versions", function()
  it("refuse the three reproducers of the issue", function()
    dnn.manual_seed(3)
    local x = dnn.randn(2, 3, {requires_grad = true})
    local w = dnn.randn(3, 1, {requires_grad = true})
    local y = x:matmul(w)
    assert.matches("fill: cannot write in place into a leaf tensor that requires grad",
      error_of(function() x:fill(0) end), 1, true)
    y:sum():backward() -- x was not changed: the gradient is the right one
    close(w.grad, x:sum(1):reshape(3, 1), 1e-5)

    local y2 = x:matmul(w)
    dnn.no_grad(function() w:copy(w * 5) end)
    local msg = error_of(function() y2:sum():backward() end)
    assert.matches("'matmul' needs its input 2 as it was (version", msg, 1, true)
    assert.matches("changed in place since", msg, 1, true)

    local e = x:exp()
    dnn.no_grad(function() e:fill(0) end)
    assert.matches("'exp' needs a tensor it saved for backward", error_of(function() e:sum():backward() end), 1, true)
  end)

  it("move with optimizer steps and name the layer in backward's error", function()
    local d = dnn.nn.Dense(2, {input_shape = {3}})
    local opt = dnn.optim.SGD{learning_rate = 0.1, params = d:parameters()}
    local x = dnn.randn(4, 3, {requires_grad = true})
    local loss = d(x):sum()
    local stale = d(x):sum()
    loss:backward()
    opt:step()
    local msg = error_of(function() stale:backward() end)
    assert.matches("Dense 'dense", msg, 1, true)
    assert.matches("autograd_versions_spec.lua:", msg, 1, true) -- the line that created the layer
  end)

  it("leave ops that read only shapes alone", function()
    local x = dnn.tensor({1, 2, 3}, {requires_grad = true})
    local c = dnn.tensor{1, 1, 1}
    local y = x + c
    c:fill(5) -- add's backward does not read c
    y:sum():backward()
    close(x.grad, {1, 1, 1})
  end)
end)

describe("in-place ops", function()
  it("compute in place and return the tensor", function()
    local t = dnn.tensor{1, 2, 3}
    assert.are.equal(t, t:add_(1))
    close(t, {2, 3, 4})
    t:sub_(dnn.tensor{1, 1, 1}):mul_(2):div_(4)
    close(t, {0.5, 1, 1.5})
    t:clamp_(0.75, 1.25)
    close(t, {0.75, 1, 1.25})
  end)

  it("with a number and nothing recorded, write into the tensor itself: a view writes through, saved tensors see it",
    function()
    local base = dnn.tensor{{1, 2}, {3, 4}}
    base:transpose(1, 2):mul_(2) -- strided: the general path
    close(base, {{2, 4}, {6, 8}})
    base:narrow(1, 2, 1):add_(1) -- a contiguous view: the direct path
    close(base, {{2, 4}, {7, 9}})

    local w = dnn.tensor({1, 2}, {requires_grad = true})
    local b = dnn.tensor{3, 4}
    local y = w * b -- saves b
    b:div_(2)
    assert.matches("was changed in place since", error_of(function() y:sum():backward() end), 1, true)
  end)

  it("with a number, need no copy of the tensor (peak memory grows by less than half its size)", function()
    local n = 8 * 1024 * 1024 -- 32 MB of floats
    local x = dnn.ones(n)
    local reset = io.open("/proc/self/clear_refs", "w") -- "5" resets the peak RSS (Linux 4.0 and later)
    if not reset or not reset:write("5") or not reset:close() then
      print("skipped: /proc/self/clear_refs cannot reset the peak RSS here")
      return
    end
    local before = H.peak_rss_kb()
    x:div_(4):add_(1)
    local grown = H.peak_rss_kb() - before
    assert.is_true(grown < n * 4 / 1024 / 2, "peak grew by " .. grown .. " KB")
    close(x:narrow(1, n, 1), {1.25})
  end)

  it("are refused on a leaf that requires grad outside no_grad, allowed inside", function()
    local w = dnn.tensor({1, 2}, {requires_grad = true})
    assert.matches("add_: cannot write in place into a leaf tensor that requires grad",
      error_of(function() w:add_(1) end), 1, true)
    dnn.no_grad(function() w:add_(1) end)
    close(w, {2, 3})
  end)

  it("record on a tensor of the graph: the gradient flows through them", function()
    local x = dnn.tensor({1, 2, 3}, {requires_grad = true})
    local u = dnn.tensor({1, 1, 1}, {requires_grad = true})
    local y = x * 2
    y:add_(u):clamp_(0, 6.5)
    y:sum():backward()
    close(x.grad, {2, 2, 0}) -- 3 * 2 + 1 = 7 is clamped
    close(u.grad, {1, 1, 0})
  end)

  it("are refused on a view of a tensor of the graph", function()
    local x = dnn.tensor({1, 2, 3}, {requires_grad = true})
    local v = (x * 2):narrow(1, 1, 2)
    assert.matches("cannot write in place into a view", error_of(function() v:add_(1) end), 1, true)
  end)

  it("refuse a result that changes the shape", function()
    local t = dnn.zeros(3)
    assert.matches("add_", error_of(function() t:add_(dnn.zeros(2, 3)) end), 1, true)
  end)
end)

describe("backward options", function()
  it("retain_graph keeps the graph for a second backward", function()
    local x = dnn.tensor({1, 2}, {requires_grad = true})
    local l = (x * x):sum()
    l:backward{retain_graph = true}
    l:backward()
    close(x.grad, {4, 8})
    assert.matches("retain_graph", error_of(function() l:backward() end), 1, true)
  end)

  it("reject unknown options", function()
    local x = dnn.tensor({1}, {requires_grad = true})
    assert.matches("unknown option 'retain'", error_of(function() (x * 2):sum():backward{retain = true} end), 1, true)
  end)
end)

describe("dnn.grad", function()
  it("returns the gradients and leaves .grad alone", function()
    local x = dnn.tensor({1, 2}, {requires_grad = true})
    local w = dnn.tensor({3, 4}, {requires_grad = true})
    local gx, gw = dnn.grad((x * w):sum(), {x, w})
    close(gx, {3, 4})
    close(gw, {1, 2})
    assert.is_nil(x.grad)
    assert.is_nil(w.grad)
  end)

  it("takes grad_outputs and a non-leaf input", function()
    local x = dnn.tensor({1, 2}, {requires_grad = true})
    local h = x * 3
    local y = h * h
    local gh = dnn.grad(y, h, {grad_outputs = {dnn.tensor{1, 10}}})
    close(gh, {6, 120})
  end)

  it("refuses an unused input unless allow_unused", function()
    local x = dnn.tensor({1}, {requires_grad = true})
    local z = dnn.tensor({1}, {requires_grad = true})
    assert.matches("input 2 was not used", error_of(function() dnn.grad((x * 2):sum(), {x, z}) end), 1, true)
    local gx, gz = dnn.grad((x * 2):sum(), {x, z}, {allow_unused = true})
    close(gx, {2})
    assert.is_nil(gz)
  end)
end)

describe("gradients of gradients", function()
  it("give 6x as the second derivative of x^3", function()
    local x = dnn.tensor({1, -2, 0.5}, {requires_grad = true})
    local g = dnn.grad((x ^ 3):sum(), x, {create_graph = true})
    close(g, {3, 12, 0.75}, 1e-5)
    local h = dnn.grad(g:sum(), x)
    close(h, {6, -12, 3}, 1e-4)
  end)

  it("fill .grad with a graph under backward{create_graph = true}", function()
    local x = dnn.tensor({2}, {requires_grad = true})
    ;(x * x * x):sum():backward{create_graph = true}
    local gx = x.grad
    x.grad = nil
    gx:sum():backward()
    close(x.grad, {12}, 1e-5)
  end)

  it("raise, never a silent zero, through an op without a second derivative", function()
    local x = dnn.randn(4, 3, {requires_grad = true})
    local g = dnn.grad(dnn.nn.Dropout(0.5)(x, {training = true}):sum(), x, {create_graph = true})
    assert.matches("no second derivative", error_of(function() dnn.grad(g:sum(), x) end), 1, true)
  end)
end)

describe("slices", function()
  it("add every time step's gradient into the source", function()
    local T = 7
    local s = dnn.randn(2, T, 3, {requires_grad = true})
    local total
    for t = 1, T do
      local v = s:select(2, t)
      local term = (v * t):sum()
      total = total and total + term or term
    end
    total:backward()
    for t = 1, T do close(s.grad:select(2, t), dnn.full({2, 3}, t)) end
  end)

  it("split is one node of several outputs; a piece nothing reached gets zeros", function()
    local x = dnn.arange(0, 10):reshape(5, 2)
    x.requires_grad = true
    local a, b, c = x:split(2)
    assert.are.same({{2, 2}, {2, 2}, {1, 2}}, {a.shape, b.shape, c.shape})
    assert.are.equal("split", a.grad_fn)
    ;(a:sum() + c:sum() * 3):backward()
    close(x.grad, {{1, 1}, {1, 1}, {0, 0}, {0, 0}, {3, 3}})
    local p, q = x:split(1, -1)
    close(q, {{1}, {3}, {5}, {7}, {9}})
    assert.matches("piece size", error_of(function() x:split(0) end), 1, true)
  end)

  it("keep a leaf's grad the same tensor across backwards", function()
    local s = dnn.zeros({3, 2}, {requires_grad = true})
    s:select(1, 2):sum():backward()
    local g = s.grad
    s:narrow(1, 1, 2):sum():backward()
    assert.are.equal(g, s.grad)
    close(g, {{1, 1}, {2, 2}, {0, 0}})
  end)
end)
