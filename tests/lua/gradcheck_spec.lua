-- dnn.autograd.gradcheck against every differentiable op of ops.h, the
-- views, and softmax/log_softmax; and proof that the checker can fail.
local dnn = dnn or require "dnn"
local H = require "helpers"
local gradcheck = dnn.autograd.gradcheck

local function leaf(values) return dnn.tensor(values, {requires_grad = true}) end

-- Passes when gradcheck does; the failure message names input and element.
local function check(fn, inputs, opts)
  local ok, msg = gradcheck(fn, inputs, opts)
  assert(ok, msg)
end

-- Values away from every kink (0 for relu/abs, +-3 for hard_sigmoid, the
-- clamp bounds below) by much more than eps.
local A = {{-1.3, 0.7, 2.1}, {0.4, -0.6, -2.2}}
local B = {{0.9, -0.35, 1.6}, {-1.1, 0.25, 0.55}}
local POS = {{0.6, 1.7, 2.4}, {0.9, 1.3, 3.1}}

describe("gradcheck passes", function()
  it("for add, sub, mul, div, pow with broadcasting", function()
    local a, row, col = leaf(A), leaf{0.3, -0.8, 1.2}, leaf{{0.5}, {-1.5}}
    local p, q = leaf(POS), leaf{{1.5}, {0.7}}
    check(function(x, y) return x + y end, {a, row})
    check(function(x, y) return x - y end, {a, col})
    check(function(x, y) return x * y end, {col, row})
    check(function(x, y) return x / y end, {a, p})
    check(function(x, y) return x / y end, {row, q})
    check(function(x, y) return x ^ y end, {p, q})
    check(function(x, y) return x ^ y end, {p, leaf(B)})
    check(function(x, y) return x:add(y) end, {a, leaf(B)})
  end)

  it("for the scalar forms (affine, pow and their reversed sides)", function()
    local a, p = leaf(A), leaf(POS)
    check(function(x) return x + 2 end, a)
    check(function(x) return 2 - x end, a)
    check(function(x) return x * -3 end, a)
    check(function(x) return x / 4 end, a)
    check(function(x) return 3 / x end, p)
    check(function(x) return x ^ 2.5 end, p)
    check(function(x) return x ^ 3 end, a)
    check(function(x) return 2 ^ x end, a)
    check(function(x) return -x end, a)
  end)

  it("for maximum and minimum (tensor and number)", function()
    local a, b = leaf(A), leaf(B)
    check(function(x, y) return x:maximum(y) end, {a, b})
    check(function(x, y) return x:minimum(y) end, {a, b})
    check(function(x, y) return dnn.maximum(x, y) end, {a, leaf{0.1, 0.2, 0.3}})
    check(function(x) return x:maximum(0.5) end, a)
    check(function(x) return x:minimum(-0.5) end, a)
  end)

  it("for every unary op", function()
    local a, p = leaf(A), leaf(POS)
    for _, name in ipairs{"neg", "exp", "abs", "relu", "leaky_relu", "sigmoid", "tanh", "elu", "selu", "gelu",
                          "softplus", "swish", "hard_sigmoid", "square"} do
      local ok, msg = gradcheck(function(x) return x[name](x) end, a)
      assert(ok, name .. ": " .. tostring(msg))
    end
    check(function(x) return x:log() end, p)
    check(function(x) return x:sqrt() end, p)
    check(function(x) return x:leaky_relu(0.05) end, a)
    check(function(x) return x:elu(0.5) end, a)
  end)

  it("for clamp", function()
    local a = leaf(A)
    check(function(x) return x:clamp(-1, 1) end, a)
    check(function(x) return x:clamp(0) end, a)
    check(function(x) return x:clamp(nil, 0.5) end, a)
  end)

  it("for sum, mean, var, max, min over dims and over all", function()
    local a = leaf{{{-1.3, 0.7}, {2.1, 0.4}}, {{-0.6, -2.2}, {0.9, 1.45}}, {{0.15, -0.75}, {1.1, -1.9}}}
    for _, op in ipairs{"sum", "mean", "var", "max", "min"} do
      for _, args in ipairs{{}, {1}, {2}, {3}, {-1, true}, {1, true}} do
        local ok, msg = gradcheck(function(x) return (x[op](x, table.unpack(args))) end, a)
        local shown = {}
        for i, v in ipairs(args) do shown[i] = tostring(v) end
        assert(ok, op .. "(" .. table.concat(shown, ", ") .. "): " .. tostring(msg))
      end
    end
    check(function(x) return x:var(2, false, 1) end, a)
  end)

  it("for matmul 2-d, 1-d and batched", function()
    local m, n = leaf(A), leaf{{0.5, -1}, {1.5, 0.25}, {-0.75, 2}}
    local v3, v2 = leaf{0.3, -1.2, 0.8}, leaf{1.1, -0.4}
    check(function(x, y) return x:matmul(y) end, {m, n})
    check(function(x, y) return x:matmul(y) end, {m, v3})
    check(function(x, y) return x:matmul(y) end, {v2, m})
    check(function(x, y) return x:matmul(y) end, {v3, leaf{0.2, 0.4, -0.6}})
    dnn.manual_seed(3)
    local ba, bb = leaf(dnn.randn(2, 3, 4)), leaf(dnn.randn(2, 4, 2))
    check(function(x, y) return dnn.matmul(x, y) end, {ba, bb})
    check(function(x, y) return x:matmul(y) end, {ba, leaf(dnn.randn(4, 2))}) -- broadcast batch
    check(function(x, y) return x:transpose(1, 2):matmul(y) end, {m, leaf{{1, 2}, {3, 4}}}) -- strided
  end)

  it("for cat and stack", function()
    local a, b = leaf(A), leaf{{0.1, 0.2, 0.3}}
    check(function(x, y) return dnn.cat({x, y}, 1) end, {a, b})
    check(function(x, y) return dnn.cat({x, y:transpose(1, 2):expand(3, 2):transpose(1, 2)}, -1) end, {a, b})
    check(function(x, y) return dnn.stack({x, y * 2, x}, 1) end, {a, leaf(B)})
    check(function(x, y) return dnn.stack({x, y}, -1) end, {a, leaf(B)})
  end)

  it("for index_select and gather, repeated ids included", function()
    local a = leaf(A)
    check(function(x) return x:index_select(2, {3, 1, 3}) end, a)
    check(function(x) return x:index_select(1, dnn.tensor{2, 2, 1}) end, a)
    check(function(x) return x:gather(2, {{1, 1}, {3, 2}}) end, a)
    check(function(x) return x:gather(1, {{2, 1, 2}, {2, 2, 1}}) end, a)
  end)

  it("for every view, contiguous and clone", function()
    local a = leaf(A)
    local w = dnn.tensor({1, -2, 3, -4, 5, -6}, {requires_grad = false}):reshape(2, 3)
    -- multiplying by w after the view makes every element's gradient distinct
    check(function(x) return x:reshape(3, 2) * w:reshape(3, 2) end, a)
    check(function(x) return x:view(-1) * w:reshape(-1) end, a)
    check(function(x) return x:transpose(1, 2) * w:transpose(1, 2) end, a)
    check(function(x) return x:permute(2, 1):contiguous() * w:transpose(1, 2) end, a)
    check(function(x) return x:narrow(2, 2, 2) * 3 end, a)
    check(function(x) return x:select(1, -1) * dnn.tensor{1, 2, 3} end, a)
    check(function(x) return x[1] * dnn.tensor{1, 2, 3} end, a)
    check(function(x) return x:unsqueeze(1):expand(4, 2, 3) * dnn.arange(24):reshape(4, 2, 3) end, a)
    check(function(x) return x:unsqueeze(2):squeeze(2) * w end, a)
    check(function(x) return x:reshape(1, 2, 1, 3):squeeze() * w end, a)
    check(function(x) return x:clone() * w end, a)
    local b = leaf{{1.5}, {-0.5}}
    check(function(x) return x:expand(2, 3) * w end, b)
  end)

  it("for softmax and log_softmax over each dim", function()
    local a = leaf(A)
    for _, dim in ipairs{1, 2, -1} do
      check(function(x) return x:softmax(dim) end, a)
      check(function(x) return x:log_softmax(dim) end, a)
    end
    check(function(x) return x:softmax() end, leaf{0.5, -1, 2, 0.1})
  end)

  it("for a small network, several inputs at once", function()
    dnn.manual_seed(5)
    local x = dnn.randn(4, 3)
    local w1, b1 = leaf(dnn.randn(3, 5) * 0.5), leaf(dnn.randn(5) * 0.1)
    local w2 = leaf(dnn.randn(5, 2) * 0.5)
    check(function(w, b, v) return (x:matmul(w) + b):tanh():matmul(v):log_softmax(-1):mean() end, {w1, b1, w2})
  end)

  it("and leaves the inputs' grads as they were", function()
    local a = leaf(A)
    ;(a * 2):sum():backward()
    local before = a.grad:totable()
    check(function(x) return x:exp() end, a)
    assert.are.same(before, a.grad:totable())
    local b = leaf(B)
    check(function(x) return x * 2 end, b)
    assert.is_nil(b.grad)
  end)
end)

describe("gradcheck fails", function()
  it("for a wrong gradient: an output partly detached", function()
    local a = leaf(A)
    local ok, msg = gradcheck(function(x) return x * x:detach() end, a)
    assert.is_false(ok)
    assert.is_truthy(msg:find("input 1 element {", 1, true), msg)
    assert.is_truthy(msg:find("analytic", 1, true))
    assert.is_truthy(msg:find("numeric", 1, true))
  end)

  it("naming the input and the element that differs most", function()
    local a, b = leaf{1, 2}, leaf{{1, 1}, {1, 5}}
    -- b's gradient is missing its detached half: the error grows with b
    local ok, msg = gradcheck(function(x, y) return x:sum() + (y * y:detach()):sum() end, {a, b})
    assert.is_false(ok)
    assert.is_truthy(msg:find("input 2 element {2,2}", 1, true), msg)
  end)

  it("for an output that forgets an input entirely", function()
    local a = leaf(A)
    local ok = gradcheck(function(x) return x:detach() * 2 end, a)
    assert.is_false(ok)
  end)

  it("on bad arguments, with a message naming gradcheck", function()
    H.assert_error({"gradcheck", "function"}, gradcheck, 1, leaf{1})
    H.assert_error({"gradcheck", "requires grad"}, gradcheck, function(x) return x end, dnn.ones(2))
    H.assert_error({"gradcheck", "eps"}, gradcheck, function(x) return x end, leaf{1}, {eps = "big"})
    H.assert_error({"gradcheck", "leaf"}, gradcheck, function(x) return x end, leaf{1} * 2)
  end)
end)
