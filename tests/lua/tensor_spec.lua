-- The tensor surface of API.md: creation, properties, 1-based indexing,
-- views sharing storage, in-place writes, operators with broadcasting,
-- math, reductions, joining, indexing and printing.
local dnn = dnn or require "dnn"
local H = require "helpers"
local close, shape = H.assert_close, H.assert_shape

local function sigmoid(x) return 1 / (1 + math.exp(-x)) end

describe("creation", function()
  it("builds from nested tables, numbers and tensors", function()
    local t = dnn.tensor{{1, 2}, {3, 4}}
    shape(t, {2, 2})
    assert.are.same({{1, 2}, {3, 4}}, t:totable())
    local s = dnn.tensor(5)
    assert.are.equal(0, s.ndim)
    assert.are.same({}, s.shape)
    assert.are.equal(5, s:item())
    assert.are.equal(5, s:totable())
    local c = dnn.tensor(t)
    c:fill(0)
    assert.are.same({{1, 2}, {3, 4}}, t:totable()) -- a copy, not a view
    shape(dnn.tensor{}, {0})
    shape(dnn.tensor{{}, {}}, {2, 0})
    shape(dnn.tensor{{{1}, {2}}, {{3}, {4}}, {{5}, {6}}}, {3, 2, 1})
  end)

  it("takes shapes as integers or as a table", function()
    local a, b = dnn.zeros(3, 2), dnn.zeros{3, 2}
    shape(a, {3, 2})
    shape(b, {3, 2})
    assert.are.same({{0, 0}, {0, 0}, {0, 0}}, a:totable())
    assert.are.same({{1, 1, 1}}, dnn.ones(1, 3):totable())
    assert.are.same({{1, 1, 1}}, dnn.ones{1, 3}:totable())
    shape(dnn.zeros(3, 2, 4, 5), {3, 2, 4, 5})
    assert.are.equal(0, dnn.zeros().ndim)
  end)

  it("full takes the shape as a table or as integers before the value", function()
    assert.are.same({{7, 7, 7}, {7, 7, 7}}, dnn.full({2, 3}, 7):totable())
    assert.are.same({{7.5, 7.5, 7.5}, {7.5, 7.5, 7.5}}, dnn.full(2, 3, 7.5):totable())
    assert.are.equal(-1, dnn.full({}, -1):item())
  end)

  it("arange stops before the end, as NumPy", function()
    assert.are.same({1, 2, 3}, dnn.arange(1, 4):totable())
    assert.are.same({0, 1, 2}, dnn.arange(3):totable())
    assert.are.same({0, 0.25, 0.5, 0.75}, dnn.arange(0, 1, 0.25):totable())
    assert.are.same({5, 3}, dnn.arange(5, 1, -2):totable())
    shape(dnn.arange(4, 1), {0})
  end)

  it("linspace includes both ends; eye is the identity", function()
    close(dnn.linspace(0, 1, 5), {0, 0.25, 0.5, 0.75, 1})
    shape(dnn.linspace(0, 1), {50})
    assert.are.same({{1, 0}, {0, 1}}, dnn.eye(2):totable())
    assert.are.same({{1, 0, 0}, {0, 1, 0}}, dnn.eye(2, 3):totable())
  end)

  it("rand and randn follow manual_seed", function()
    dnn.manual_seed(42)
    local a, na = dnn.rand(100), dnn.randn(1000)
    dnn.manual_seed(42)
    local b, nb = dnn.rand(100), dnn.randn(1000)
    assert.are.same(a:totable(), b:totable())
    assert.are.same(na:totable(), nb:totable())
    assert.is_true(a:min():item() >= 0 and a:max():item() < 1)
    assert.is_true(math.abs(na:mean():item()) < 0.15)
    assert.is_true(math.abs(na:var():item() - 1) < 0.15)
    dnn.manual_seed(7)
    assert.are_not.same(a:totable(), dnn.rand(100):totable())
  end)

  it("every creator takes requires_grad, trailing or in the same table", function()
    for _, t in ipairs{
      dnn.zeros(2, {requires_grad = true}), dnn.zeros{2, requires_grad = true}, dnn.ones(2, 2, {requires_grad = true}),
      dnn.rand(2, {requires_grad = true}), dnn.randn({2}, {requires_grad = true}),
      dnn.full({2}, 1, {requires_grad = true}), dnn.full(2, 1, {requires_grad = true}),
      dnn.arange(1, 3, {requires_grad = true}), dnn.linspace(0, 1, 3, {requires_grad = true}),
      dnn.eye(2, {requires_grad = true}), dnn.tensor({1, 2}, {requires_grad = true}),
      dnn.tensor{1, 2, requires_grad = true}, dnn.tensor(3, {requires_grad = true}),
    } do
      assert.is_true(t.requires_grad)
      assert.is_true(t.is_leaf)
    end
    assert.is_false(dnn.zeros(2).requires_grad)
    assert.is_false(dnn.zeros(2, {requires_grad = false}).requires_grad)
  end)
end)

describe("properties", function()
  it("shape, ndim, numel, dtype, size, dim, #", function()
    local z = dnn.zeros(3, 2, 4, 5)
    assert.are.same({3, 2, 4, 5}, z.shape)
    assert.are.equal("{3,2,4,5}", tostring(z.shape))
    assert.are.equal(4, z.ndim)
    assert.are.equal(120, z:numel())
    assert.are.equal("float32", z.dtype)
    assert.are.same({3, 2, 4, 5}, z:size())
    assert.are.equal(2, z:size(2))
    assert.are.equal(5, z:size(-1))
    assert.are.equal(4, z:dim())
    assert.are.equal(3, #z)
    local s = z.shape
    s[1] = 99 -- a fresh array each time
    assert.are.equal(3, z.shape[1])
  end)

  it("autodiff fields", function()
    local w = dnn.ones(2, {requires_grad = true})
    assert.is_nil(w.grad)
    assert.is_nil(w.grad_fn)
    assert.is_true(w.is_leaf)
    local y = w * 2
    assert.are.equal("string", type(y.grad_fn))
    assert.is_false(y.is_leaf)
    assert.is_true(y.requires_grad)
    local u = dnn.zeros(2)
    u.requires_grad = true
    assert.is_true(u.requires_grad)
    u.requires_grad = false
    assert.is_false(u.requires_grad)
    assert.are.equal(u, u:requires_grad_())
    assert.is_true(u.requires_grad)
    assert.is_false(u:requires_grad_(false).requires_grad)
  end)

  it("is_tensor, identity ==, and dnn.Tensor extends every tensor", function()
    local t = dnn.zeros(2)
    assert.is_true(dnn.is_tensor(t))
    assert.is_false(dnn.is_tensor({}))
    assert.is_false(dnn.is_tensor(3))
    -- a file handle is a userdata of a tensor's size (a FILE* and a function): the tag tells them apart
    assert.is_false(dnn.is_tensor(io.stdout))
    assert.has_error(function() return t + io.stdout end,
      "bad argument #2 to 'add' (expected tensor or number, got userdata)")
    assert.error_matches(function() return dnn.exp(io.stdout) end,
      "bad argument #1 to 'exp' %(tensor expected, got FILE%*%)")
    assert.is_true(t == t)
    assert.is_false(t == t:clone())
    assert.is_false(t == dnn.zeros(2))
    dnn.Tensor.twice = function(self) return self * 2 end
    assert.are.same({2, 2}, dnn.ones(2):twice():totable())
    dnn.Tensor.twice = nil
  end)
end)

describe("indexing", function()
  it("t[i] selects along dim 1 as a view, 1-based, negative from the end", function()
    local t = dnn.tensor{{1, 2}, {3, 4}, {5, 6}}
    assert.are.same({3, 4}, t[2]:totable())
    assert.are.same({5, 6}, t[-1]:totable())
    assert.are.same({1, 2}, t[-3]:totable())
    local e = t[2][1]
    assert.are.equal(0, e.ndim)
    assert.are.equal(3, e:item())
    t[2]:fill(9)
    assert.are.same({{1, 2}, {9, 9}, {5, 6}}, t:totable())
    t[3][2]:fill(-1)
    assert.are.equal(-1, t:totable()[3][2])
  end)

  it("t[i] = v writes a number or a tensor into the slice", function()
    local t = dnn.zeros(3, 2)
    t[1] = 5
    t[-1] = dnn.tensor{7, 8}
    t[2] = dnn.tensor(4) -- broadcast
    assert.are.same({{5, 5}, {4, 4}, {7, 8}}, t:totable())
    t[1][2] = 1
    assert.are.same({5, 1}, t[1]:totable())
  end)

  it("select and narrow take 1-based positions", function()
    local t = dnn.arange(12):reshape(3, 4)
    assert.are.same({1, 5, 9}, t:select(2, 2):totable())
    assert.are.same({8, 9, 10, 11}, t:select(1, -1):totable())
    assert.are.same({{1, 2}, {5, 6}, {9, 10}}, t:narrow(2, 2, 2):totable())
    assert.are.same({{4, 5, 6, 7}, {8, 9, 10, 11}}, t:narrow(1, -2, 2):totable())
    assert.are.same({{2, 3}, {6, 7}, {10, 11}}, t:narrow(-1, 3, 2):totable())
    shape(t:narrow(1, 4, 0), {0, 4})
    t:narrow(2, 1, 1):fill(-1) -- a view
    assert.are.same({-1, -1, -1}, t:select(2, 1):totable())
    assert.are.same({-1, 5, 6, 7}, t[2]:totable())
  end)
end)

describe("views", function()
  it("reshape and view share storage; -1 is inferred", function()
    local t = dnn.tensor{{1, 2}, {3, 4}}
    local r = t:reshape(4, 1)
    shape(r, {4, 1})
    assert.are.same({{1}, {2}, {3}, {4}}, r:totable())
    shape(t:reshape{-1}, {4})
    shape(t:view(1, -1), {1, 4})
    shape(t:reshape(2, 1, 2), {2, 1, 2})
    shape(dnn.tensor{3}:reshape{}, {})
    r:fill(0)
    assert.are.same({{0, 0}, {0, 0}}, t:totable())
  end)

  it("transpose and permute reorder dims without copying", function()
    local t = dnn.tensor{{1, 2, 3}, {4, 5, 6}}
    local tt = t:transpose(1, 2)
    assert.are.same({{1, 4}, {2, 5}, {3, 6}}, tt:totable())
    assert.is_false(tt:is_contiguous())
    assert.is_true(t:is_contiguous())
    assert.are.same({{1, 4}, {2, 5}, {3, 6}}, t:permute(2, 1):totable())
    assert.are.same({{1, 4}, {2, 5}, {3, 6}}, t:transpose(-1, -2):totable())
    local c = tt:contiguous()
    assert.is_true(c:is_contiguous())
    assert.are.same(tt:totable(), c:totable())
    local x = dnn.arange(24):reshape(2, 3, 4)
    local p = x:permute(3, 1, 2)
    shape(p, {4, 2, 3})
    assert.are.equal(x[2][3][4]:item(), p[4][2][3]:item())
    shape(x:permute{-1, -3, -2}, {4, 2, 3})
    tt:fill(7) -- through the view
    assert.are.same({{7, 7, 7}, {7, 7, 7}}, t:totable())
  end)

  it("expand broadcasts size-1 dims with stride 0", function()
    local t = dnn.tensor{{1, 2}}
    local e = t:expand(3, 2)
    assert.are.same({{1, 2}, {1, 2}, {1, 2}}, e:totable())
    assert.are.same({{1, 2}, {1, 2}}, t:expand(2, -1):totable())
    shape(dnn.tensor{1, 2}:expand{4, 3, 2}, {4, 3, 2})
  end)

  it("squeeze and unsqueeze", function()
    local t = dnn.zeros(1, 3, 1, 2)
    shape(t:squeeze(), {3, 2})
    shape(t:squeeze(1), {3, 1, 2})
    shape(t:squeeze(-2), {1, 3, 2})
    shape(t:squeeze(2), {1, 3, 1, 2}) -- not size 1: unchanged
    shape(t:unsqueeze(1), {1, 1, 3, 1, 2})
    shape(t:unsqueeze(-1), {1, 3, 1, 2, 1})
    shape(t:unsqueeze(5), {1, 3, 1, 2, 1})
    shape(dnn.tensor{1, 2}:unsqueeze(2), {2, 1})
  end)

  it("clone copies; detach shares data without history", function()
    local w = dnn.tensor({1, 2}, {requires_grad = true})
    local c = w:clone()
    assert.is_true(c.requires_grad)
    assert.is_false(c.is_leaf)
    local d = w:detach()
    assert.is_false(d.requires_grad)
    dnn.no_grad(function() w:fill(3) end)
    assert.are.same({3, 3}, d:totable())
    assert.are.same({1, 2}, c:totable())
  end)
end)

describe("conversion and in-place", function()
  it("totable and item", function()
    assert.are.same({{{1}, {2}}}, dnn.tensor{{{1}, {2}}}:totable())
    assert.are.equal(4, dnn.tensor{{4}}:item())
    assert.are.equal(2.5, dnn.full({1, 1, 1}, 2.5):item())
    assert.are.equal(2, dnn.tensor{{1, 2}, {3, 4}}:transpose(1, 2)[2][1]:item())
    assert.are.same({{1, 3}, {2, 4}}, dnn.tensor{{1, 2}, {3, 4}}:transpose(1, 2):totable())
  end)

  it("fill, zero and copy work in place, also through views, and return self", function()
    local t = dnn.zeros(2, 3)
    assert.are.equal(t, t:fill(2))
    assert.are.same({{2, 2, 2}, {2, 2, 2}}, t:totable())
    assert.are.equal(t, t:zero())
    assert.are.same({{0, 0, 0}, {0, 0, 0}}, t:totable())
    t:copy(dnn.tensor{1, 2, 3}) -- broadcast
    assert.are.same({{1, 2, 3}, {1, 2, 3}}, t:totable())
    t:transpose(1, 2):copy(dnn.tensor{{1, 4}, {2, 5}, {3, 6}})
    assert.are.same({{1, 2, 3}, {4, 5, 6}}, t:totable())
    t[1]:zero()
    assert.are.same({{0, 0, 0}, {4, 5, 6}}, t:totable())
  end)
end)

describe("arithmetic", function()
  it("operators with tensors and numbers on either side", function()
    local t = dnn.tensor{{1, 2}, {3, 4}}
    local u = (t + 1) * t / 2 - t ^ 2
    close(u, {{0, -1}, {-3, -6}})
    close(-t, {{-1, -2}, {-3, -4}})
    close(1 - t, {{0, -1}, {-2, -3}})
    close(2 * t, {{2, 4}, {6, 8}})
    close(t * 0.5, {{0.5, 1}, {1.5, 2}})
    close(12 / t, {{12, 6}, {4, 3}})
    close(t / 4, {{0.25, 0.5}, {0.75, 1}})
    close(2 ^ t, {{2, 4}, {8, 16}})
    close(t ^ 0.5, {{1, math.sqrt(2)}, {math.sqrt(3), 2}})
    close(t - t, {{0, 0}, {0, 0}})
    close(t / t, {{1, 1}, {1, 1}})
    close(t ^ t, {{1, 4}, {27, 256}})
    close(3 + t, {{4, 5}, {6, 7}})
  end)

  it("broadcasts as NumPy", function()
    local col = dnn.tensor{{1}, {2}}
    local row = dnn.tensor{10, 20, 30}
    local s = col + row
    shape(s, {2, 3})
    close(s, {{11, 21, 31}, {12, 22, 32}})
    close(row - col, {{9, 19, 29}, {8, 18, 28}})
    close(col * row, {{10, 20, 30}, {20, 40, 60}})
    close(row / col, {{10, 20, 30}, {5, 10, 15}})
    close(dnn.ones(2, 1, 3) + dnn.ones(4, 1), dnn.full({2, 4, 3}, 2))
    close(dnn.tensor{2} ^ dnn.tensor{{1}, {3}}, {{2}, {8}})
  end)

  it("methods and dnn functions take tensors or numbers", function()
    local t = dnn.tensor{1, 2}
    close(t:add(1), {2, 3})
    close(t:add(t), {2, 4})
    close(t:sub(1), {0, 1})
    close(t:mul(t), {1, 4})
    close(t:div(2), {0.5, 1})
    close(t:pow(3), {1, 8})
    close(t:neg(), {-1, -2})
    close(dnn.add(t, 1), {2, 3})
    close(dnn.mul(3, t), {3, 6})
    close(dnn.exp(t), {math.exp(1), math.exp(2)})
    close(t:square(), {1, 4})
  end)
end)

describe("math", function()
  local xs = {-2, -0.5, 0.5, 1, 3}
  local x = dnn.tensor(xs)
  local function map(f)
    local out = {}
    for i, v in ipairs(xs) do out[i] = f(v) end
    return out
  end

  it("exp, log, sqrt, abs", function()
    close(x:exp(), map(math.exp))
    close(x:abs(), map(math.abs))
    local p = dnn.tensor{0.5, 1, 4}
    close(p:log(), {math.log(0.5), 0, math.log(4)})
    close(p:sqrt(), {math.sqrt(0.5), 1, 2})
  end)

  it("activations, with Keras's defaults", function()
    close(x:relu(), map(function(v) return math.max(v, 0) end))
    close(x:leaky_relu(), map(function(v) return v > 0 and v or 0.2 * v end))
    close(x:leaky_relu(0.1), map(function(v) return v > 0 and v or 0.1 * v end))
    close(x:sigmoid(), map(sigmoid))
    close(x:tanh(), map(function(v) return (math.exp(v) - math.exp(-v)) / (math.exp(v) + math.exp(-v)) end))
    close(x:elu(), map(function(v) return v > 0 and v or math.exp(v) - 1 end))
    close(x:elu(0.5), map(function(v) return v > 0 and v or 0.5 * (math.exp(v) - 1) end))
    local scale, alpha = 1.0507009873554805, 1.6732632423543772
    close(x:selu(), map(function(v) return scale * (v > 0 and v or alpha * (math.exp(v) - 1)) end))
    close(x:softplus(), map(function(v) return math.log(1 + math.exp(v)) end))
    close(x:swish(), map(function(v) return v * sigmoid(v) end))
    close(dnn.tensor{-4, -1, 0, 1, 4}:hard_sigmoid(), {0, 2 / 6, 0.5, 4 / 6, 1})
    -- exact GELU, x * Phi(x)
    close(dnn.tensor{-1, 0, 0.5, 1}:gelu(), {-0.15865525393145707, 0, 0.34573123063700656, 0.8413447460685429})
  end)

  it("clamp with either bound optional", function()
    close(x:clamp(0, 1), {0, 0, 0.5, 1, 1})
    close(x:clamp(nil, 0.5), {-2, -0.5, 0.5, 0.5, 0.5})
    close(x:clamp(0), {0, 0, 0.5, 1, 3})
  end)

  it("softmax and log_softmax over a dim (default the last)", function()
    local t = dnn.tensor{{1, 2, 3}, {1, 1, 1}}
    local e = {math.exp(1), math.exp(2), math.exp(3)}
    local z = e[1] + e[2] + e[3]
    local want = {{e[1] / z, e[2] / z, e[3] / z}, {1 / 3, 1 / 3, 1 / 3}}
    close(t:softmax(-1), want)
    close(t:softmax(), want)
    close(t:softmax(2), want)
    close(t:log_softmax(-1), {{math.log(e[1] / z), math.log(e[2] / z), math.log(e[3] / z)},
                              {math.log(1 / 3), math.log(1 / 3), math.log(1 / 3)}})
    local byrow = t:softmax(1)
    close(byrow:sum(1), {1, 1, 1})
    close(dnn.softmax(t), want)
  end)

  it("comparisons give 0/1 tensors", function()
    local a, b = dnn.tensor{1, 2, 3}, dnn.tensor{3, 2, 1}
    assert.are.same({0, 1, 0}, a:eq(b):totable())
    assert.are.same({1, 0, 1}, a:ne(b):totable())
    assert.are.same({1, 0, 0}, a:lt(b):totable())
    assert.are.same({1, 1, 0}, a:le(b):totable())
    assert.are.same({0, 0, 1}, a:gt(b):totable())
    assert.are.same({0, 1, 1}, a:ge(b):totable())
    assert.are.same({0, 1, 0}, a:eq(2):totable())
    assert.are.same({0, 0, 1}, a:gt(2):totable())
    assert.are.same({{1, 0, 0}, {0, 1, 0}}, a:eq(dnn.tensor{{1}, {2}}):totable()) -- broadcast
  end)

  it("maximum and minimum", function()
    local a, b = dnn.tensor{1, 5, 3}, dnn.tensor{4, 2, 3}
    assert.are.same({4, 5, 3}, a:maximum(b):totable())
    assert.are.same({1, 2, 3}, a:minimum(b):totable())
    assert.are.same({2, 5, 3}, a:maximum(2):totable())
    assert.are.same({1, 2, 2}, a:minimum(2):totable())
    assert.are.same({4, 5, 3}, a:max(b):totable()) -- t:max(u) elementwise, as torch.max
    assert.are.same({1, 2, 3}, dnn.minimum(a, b):totable())
  end)
end)

describe("reductions", function()
  local t = dnn.tensor{{1, 5, 3}, {4, 2, 6}}

  it("sum and mean over all, a dim, a negative dim, keepdim", function()
    assert.are.equal(21, t:sum():item())
    assert.are.equal(0, t:sum().ndim)
    assert.are.same({5, 7, 9}, t:sum(1):totable())
    assert.are.same({9, 12}, t:sum(2):totable())
    assert.are.same({9, 12}, t:sum(-1):totable())
    assert.are.same({{9}, {12}}, t:sum(-1, true):totable())
    close(t:mean(), 3.5)
    close(t:mean(-1, true), {{3}, {4}})
    close(t:mean(1), {2.5, 3.5, 4.5})
  end)

  it("var is the population variance unless a correction is given", function()
    close(dnn.tensor{1, 2, 3, 4}:var(), 1.25)
    close(dnn.tensor{1, 2, 3, 4}:var(1, false, 1), 5 / 3)
    close(t:var(1), {2.25, 2.25, 2.25})
    close(t:var(2, true), {{8 / 3}, {8 / 3}})
  end)

  it("max and min: over all one value; over a dim values and 1-based positions", function()
    assert.are.equal(6, t:max():item())
    assert.are.equal(1, t:min():item())
    local v, i = t:max(2)
    assert.are.same({5, 6}, v:totable())
    assert.are.same({2, 3}, i:totable())
    v, i = t:min(1)
    assert.are.same({1, 2, 3}, v:totable())
    assert.are.same({1, 2, 1}, i:totable())
    v, i = t:max(-1, true)
    shape(v, {2, 1})
    shape(i, {2, 1})
    assert.is_nil(select(2, t:max()))
  end)

  it("argmax and argmin are 1-based", function()
    assert.are.same({2, 3}, t:argmax(-1):totable())
    assert.are.same({2, 1, 2}, t:argmax(1):totable())
    assert.are.same({1, 2}, t:argmin(2):totable())
    assert.are.equal(6, t:argmax():item()) -- flat position
    assert.are.equal(1, t:argmin():item())
    shape(t:argmax(2, true), {2, 1})
  end)

  it("argmax(-1):eq(y):mean() is the accuracy", function()
    local pred = dnn.tensor{{0.1, 0.9}, {0.8, 0.2}, {0.3, 0.7}, {0.6, 0.4}}
    local y = dnn.tensor{2, 1, 1, 2}
    close(pred:argmax(-1):eq(y):mean(), 0.5)
  end)
end)

describe("matmul", function()
  it("2-d, 1-d and batched", function()
    local a = dnn.tensor{{1, 2}, {3, 4}, {5, 6}}
    local b = dnn.tensor{{1, 0, 2}, {0, 1, 3}}
    close(a:matmul(b), {{1, 2, 8}, {3, 4, 18}, {5, 6, 28}})
    close(dnn.matmul(a, b), {{1, 2, 8}, {3, 4, 18}, {5, 6, 28}})
    close(a:matmul(dnn.tensor{1, 1}), {3, 7, 11})
    close(dnn.tensor{1, 1, 1}:matmul(a), {9, 12})
    close(dnn.tensor{1, 2}:matmul(dnn.tensor{3, 4}), 11)
    local batch = dnn.stack({a, a * 2}, 1)
    local r = batch:matmul(b)
    shape(r, {2, 3, 3})
    close(r[2], {{2, 4, 16}, {6, 8, 36}, {10, 12, 56}})
    close(a:transpose(1, 2):matmul(a), {{35, 44}, {44, 56}}) -- a strided operand
  end)
end)

describe("joining and indexing", function()
  local a, b = dnn.tensor{{1, 2}, {3, 4}}, dnn.tensor{{5, 6}}

  it("cat along a dim (default 1, negative allowed)", function()
    assert.are.same({{1, 2}, {3, 4}, {5, 6}}, dnn.cat({a, b}, 1):totable())
    assert.are.same({{1, 2}, {3, 4}, {5, 6}}, dnn.cat{a, b}:totable())
    assert.are.same({{1, 2, 1, 2}, {3, 4, 3, 4}}, dnn.cat({a, a}, -1):totable())
    assert.are.same({{1, 2, 5}, {3, 4, 6}}, dnn.cat({a, b:transpose(1, 2)}, 2):totable())
  end)

  it("stack's dim counts in the result: -1 is a new last axis", function()
    local s = dnn.stack({a, a * 10}, 1)
    shape(s, {2, 2, 2})
    assert.are.same({{10, 20}, {30, 40}}, s[2]:totable())
    local l = dnn.stack({a, a * 10}, -1)
    shape(l, {2, 2, 2})
    assert.are.same({{1, 10}, {2, 20}}, l[1]:totable())
    shape(dnn.stack({a, a, a}, 2), {2, 3, 2})
  end)

  it("index_select and gather take 1-based ids, as tensors or tables", function()
    local t = dnn.tensor{{1, 2, 3}, {4, 5, 6}}
    assert.are.same({{3, 1}, {6, 4}}, t:index_select(2, dnn.tensor{3, 1}):totable())
    assert.are.same({{4, 5, 6}, {4, 5, 6}}, t:index_select(1, {2, 2}):totable())
    assert.are.same({{2, 1}, {6, 6}}, t:gather(2, dnn.tensor{{2, 1}, {3, 3}}):totable())
    assert.are.same({{4, 2, 3}}, t:gather(1, {{2, 1, 1}}):totable())
    assert.are.same({{3, 1}, {6, 4}}, dnn.index_select(t, -1, {3, 1}):totable())
  end)

  it("one_hot turns 1-based class ids into rows", function()
    local y = dnn.tensor{1, 3, 2}
    assert.are.same({{1, 0, 0}, {0, 0, 1}, {0, 1, 0}}, dnn.one_hot(y, 3):totable())
    assert.are.same({{0, 1, 0, 0}}, y:narrow(1, 3, 1):one_hot(4):totable())
    shape(dnn.one_hot(dnn.tensor{{1, 2}, {2, 1}}, 2), {2, 2, 2})
    shape(dnn.one_hot({1, 2, 3}, 10), {3, 10})
  end)
end)

describe("printing", function()
  it("a matrix of whole numbers, NumPy style", function()
    assert.are.equal("tensor([[1., 2.],\n        [3., 4.]], shape={2,2}, dtype=float32)",
                     tostring(dnn.tensor{{1, 2}, {3, 4}}))
  end)

  it("fractions with 4 decimals in one width", function()
    assert.are.equal("tensor([ 1.5000, -2.0000, 10.2500], shape={3}, dtype=float32)",
                     tostring(dnn.tensor{1.5, -2, 10.25}))
  end)

  it("a 0-d tensor, and autodiff state", function()
    assert.are.equal("tensor(5., shape={}, dtype=float32)", tostring(dnn.tensor(5)))
    assert.are.equal("tensor(-0.5000, shape={}, dtype=float32)", tostring(dnn.tensor(-0.5)))
    assert.are.equal("tensor([0., 0.], shape={2}, dtype=float32, requires_grad=true)",
                     tostring(dnn.zeros(2, {requires_grad = true})))
    local y = dnn.zeros(2, {requires_grad = true}) + 1
    assert.is_truthy(tostring(y):find(", grad_fn=<", 1, true))
  end)

  it("scientific notation for very large or small magnitudes", function()
    assert.are.equal("tensor([1.0000e+09, 1.5000e+00], shape={2}, dtype=float32)", tostring(dnn.tensor{1e9, 1.5}))
    assert.are.equal("tensor([1.0000e-06, 1.0000e+00], shape={2}, dtype=float32)", tostring(dnn.tensor{1e-6, 1}))
    assert.is_truthy(tostring(dnn.tensor{0 / 0, 1 / 0, -1 / 0, 1}):find("[ nan,  inf, -inf,   1.]", 1, true))
  end)

  it("elides the middle of large tensors, 3 items at each edge of each dim", function()
    local s = tostring(dnn.arange(2000))
    assert.are.equal("tensor([   0.,    1.,    2., ..., 1997., 1998., 1999.], shape={2000}, dtype=float32)", s)
    local m = tostring(dnn.arange(10000):reshape(100, 100))
    local lines = {}
    for line in m:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.are.equal(7, #lines) -- 3 rows, "...", 3 rows
    assert.are.equal("tensor([[   0.,    1.,    2., ...,   97.,   98.,   99.],", lines[1])
    assert.are.equal("        ...,", lines[4])
    assert.are.equal("        [9900., 9901., 9902., ..., 9997., 9998., 9999.]], shape={100,100}, dtype=float32)",
                     lines[7])
  end)

  it("separates blocks of 3-d tensors with a blank line; wraps long rows", function()
    local s = tostring(dnn.arange(8):reshape(2, 2, 2))
    assert.are.equal("tensor([[[0., 1.],\n         [2., 3.]],\n\n        [[4., 5.],\n         [6., 7.]]], " ..
                     "shape={2,2,2}, dtype=float32)", s)
    local long = tostring(dnn.linspace(0, 1, 30))
    for line in long:gmatch("[^\n]+") do
      if not line:find("shape=", 1, true) then assert.is_true(#line <= 75) end
    end
    assert.is_truthy(long:find("\n        0.", 1, true))
  end)

  it("empty tensors, and printing a view", function()
    assert.are.equal("tensor([], shape={0}, dtype=float32)", tostring(dnn.zeros(0)))
    assert.are.equal("tensor([[1., 3.],\n        [2., 4.]], shape={2,2}, dtype=float32)",
                     tostring(dnn.tensor{{1, 2}, {3, 4}}:transpose(1, 2)))
  end)

  it("set_printoptions changes precision and checks its options", function()
    dnn.set_printoptions{precision = 2}
    local s = tostring(dnn.tensor{1.125, 2})
    dnn.set_printoptions{precision = 4}
    assert.are.equal("tensor([1.12, 2.00], shape={2}, dtype=float32)", s)
    H.assert_error({"set_printoptions", "unknown option 'precison'"}, dnn.set_printoptions, {precison = 2})
  end)
end)
