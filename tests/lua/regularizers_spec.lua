-- dnn.regularizers: Keras's l1, l2, l1_l2 (values, gradients, defaults),
-- get(), and their use by Dense (kernel, bias and activity regularizers).
local dnn = dnn or require "dnn"
local R = dnn.regularizers

local function near(a, b, tol)
  return math.abs(a - b) <= (tol or 1e-6) * (1 + math.abs(b))
end

describe("regularizers", function()
  local x = dnn.tensor{{1, -2}, {0.5, 0}}

  it("l1(0.01) is 0.01 * sum(|x|); l2(0.01) is 0.01 * sum(x^2) without a 1/2", function()
    assert(near(R.l1(0.01)(x):item(), 0.01 * 3.5))
    assert(near(R.l2(0.01)(x):item(), 0.01 * 5.25))
    assert(near(R.l2(0.5)(x):item(), 0.5 * 5.25))
    assert.are.same({}, R.l1(0.1)(x).shape) -- a 0-d tensor
  end)

  it("take Keras's defaults: l1 and l2 0.01, l1_l2 0 and 0", function()
    assert(near(R.l1()(x):item(), 0.035))
    assert(near(R.l2()(x):item(), 0.0525))
    assert.are.equal(0, R.l1_l2()(x):item())
    assert(near(R.l1_l2{l1 = 0.1, l2 = 0.2}(x):item(), 0.1 * 3.5 + 0.2 * 5.25))
    assert(near(R.l1_l2(0.1, 0.2)(x):item(), 0.1 * 3.5 + 0.2 * 5.25))
    assert(near(R.l1{l1 = 0.3}(x):item(), 0.3 * 3.5))
  end)

  it("are differentiable: the gradient reaches the weight", function()
    dnn.manual_seed(3)
    local w = dnn.randn(3, 2)
    w.requires_grad = true
    for _, reg in ipairs{R.l2(0.3), R.l1_l2{l1 = 0.1, l2 = 0.2}} do
      local ok, msg = dnn.autograd.gradcheck(function(t) return reg(t) end, {w})
      assert(ok, msg)
    end
    local v = dnn.tensor({1, -2}, {requires_grad = true})
    R.l1(0.5)(v):backward()
    assert.are.same({0.5, -0.5}, v.grad:totable())
  end)

  it("get takes names, functions, objects and nil", function()
    assert(near(R.get("l1")(x):item(), 0.035))
    assert(near(R.get("l2")(x):item(), 0.0525))
    assert.are.equal(0, R.get("l1_l2")(x):item())
    local reg = R.l2(0.1)
    assert.are.equal(reg, R.get(reg))
    local fn = function(t) return t:sum() end
    assert.are.equal(fn, R.get(fn))
    assert.is_nil(R.get(nil))
    assert.are.same({l1 = 0.1, l2 = 0.2}, R.l1_l2{l1 = 0.1, l2 = 0.2}:get_config())
  end)

  it("refuse unknown names and negative strengths", function()
    assert.has_error(function() R.get("l3") end,
      "unknown regularizer 'l3' (did you mean 'l1'? expected one of: l1, l2, l1_l2; or a function or a " ..
      "regularizer object)")
    assert.has_error(function() R.l2(-1) end, "L2: l2 must be a finite number >= 0 (got -1)")
    assert.has_error(function() R.l1_l2{l1 = "a"} end, "L1L2: l1 must be a finite number >= 0 (got string 'a')")
    assert.has_error(function() R.l1(0.1)("x") end, "L1: expected a tensor, got string 'x'")
  end)
end)

describe("Dense with regularizers", function()
  it("adds the kernel, bias and activity losses to regularization_loss", function()
    local layer = dnn.nn.Dense(2, {input_shape = {2}, kernel_regularizer = R.l2(0.1), bias_regularizer = "l1",
                                   activity_regularizer = R.l1(0.5)})
    layer:set_weights{dnn.tensor{{1, 2}, {3, 4}}, dnn.tensor{1, -1}}
    local y = layer(dnn.tensor{{1, 0}})                             -- (1+1, 2-1) = (2, 1)
    local expected = 0.1 * 30 + 0.01 * 2 + 0.5 * 3
    assert(near(layer:regularization_loss():item(), expected, 1e-5))
    assert.are.same({{2, 1}}, y:totable())
  end)

  it("whose gradient reaches the kernel", function()
    local layer = dnn.nn.Dense(1, {input_shape = {2}, kernel_regularizer = R.l2(0.5), use_bias = false})
    layer:set_weights{dnn.tensor{{1}, {-2}}}
    layer:regularization_loss():backward()
    assert.are.same({{1}, {-2}}, layer.kernel.grad:totable()) -- d(0.5 sum w^2) = w
  end)

  it("has none by default", function()
    local layer = dnn.nn.Dense(2, {input_shape = {3}})
    layer(dnn.ones(1, 3))
    assert.is_nil(layer:regularization_loss())
  end)
end)
