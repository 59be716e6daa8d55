-- dnn.initializers: Keras's initializers, checked statistically (mean,
-- stddev, limits) with a fixed seed; fans Keras's way for kernels of any
-- rank; orthogonality; get() and the call forms layers use.
local dnn = dnn or require "dnn"
local I = dnn.initializers

local function stats(t)
  local n = t:numel()
  local mean = t:mean():item()
  local std = math.sqrt(t:var():item() * (n - 1) / n)
  return mean, std, t:min():item(), t:max():item()
end

local function assert_close(expected, got, rel, what)
  assert(math.abs(got - expected) <= rel * math.abs(expected),
    string.format("%s: expected %.6g, got %.6g", what or "", expected, got))
end

describe("initializers' distributions (seeded)", function()
  before_each(function() dnn.manual_seed(1234) end)

  it("zeros, ones, constant", function()
    assert.are.same({0, 0}, I.zeros(dnn.ones(2)):totable())
    assert.are.same({1, 1}, I.ones(dnn.zeros(2)):totable())
    assert.are.same({2.5, 2.5}, I.constant(2.5)(dnn.zeros(2)):totable())
    assert.are.same({-1, -1}, I.Constant{value = -1}(dnn.zeros(2)):totable())
    assert.are.same({0, 0}, I.constant(dnn.ones(2)):totable()) -- Keras's default value 0
  end)

  it("random_normal / random_uniform / truncated_normal with Keras's defaults and options", function()
    local m, s = stats(I.random_normal(dnn.zeros(400, 250)))
    assert(math.abs(m) < 0.002)
    assert_close(0.05, s, 0.02, "random_normal stddev")
    m, s = stats(I.RandomNormal{mean = 1, stddev = 0.1}(dnn.zeros(400, 250)))
    assert_close(1, m, 0.002, "mean")
    assert_close(0.1, s, 0.02, "stddev")
    local _, _, lo, hi = stats(I.random_uniform(dnn.zeros(400, 250)))
    assert(lo >= -0.05 and hi <= 0.05 and lo < -0.0499 and hi > 0.0499)
    m, s, lo, hi = stats(I.RandomUniform{minval = 2, maxval = 4}(dnn.zeros(400, 250)))
    assert_close(3, m, 0.005, "uniform mean")
    assert_close(2 / math.sqrt(12), s, 0.02, "uniform stddev")
    assert(lo >= 2 and hi <= 4)
    -- truncated at 2 stddev, not rescaled (Keras's TruncatedNormal)
    m, s, lo, hi = stats(I.TruncatedNormal{stddev = 0.1}(dnn.zeros(400, 250)))
    assert(lo >= -0.2 and hi <= 0.2 and hi > 0.19)
    assert_close(0.1 * 0.87962566103423978, s, 0.02, "truncated stddev")
  end)

  it("takes Keras's aliases 'uniform' and 'normal' by name", function()
    local _, _, lo, hi = stats(I.get("uniform", "test")(dnn.zeros(400, 250)))
    assert(lo >= -0.05 and hi <= 0.05 and lo < -0.0499 and hi > 0.0499)
    local m, s = stats(I.get("normal", "test")(dnn.zeros(400, 250)))
    assert(math.abs(m) < 0.002)
    assert_close(0.05, s, 0.02, "normal stddev")
  end)

  it("variance scaling family: stddev or limit from Keras's fans", function()
    local fan_in, fan_out = 300, 200
    local cases = {
      glorot_normal = {std = math.sqrt(2 / (fan_in + fan_out)), truncated = true},
      glorot_uniform = {limit = math.sqrt(6 / (fan_in + fan_out))},
      he_normal = {std = math.sqrt(2 / fan_in), truncated = true},
      he_uniform = {limit = math.sqrt(6 / fan_in)},
      lecun_normal = {std = math.sqrt(1 / fan_in), truncated = true},
      lecun_uniform = {limit = math.sqrt(3 / fan_in)},
    }
    for name, want in pairs(cases) do
      local t = I.get(name)(dnn.zeros(fan_in, fan_out))
      local m, s, lo, hi = stats(t)
      assert(math.abs(m) < 0.01 * (want.std or want.limit), name .. " mean " .. m)
      if want.std then
        assert_close(want.std, s, 0.02, name)
        local bound = 2 * want.std / 0.87962566103423978
        assert(lo >= -bound - 1e-6 and hi <= bound + 1e-6, name .. " truncated at 2 stddev of the draw")
      else
        assert(lo >= -want.limit and hi <= want.limit and hi > 0.99 * want.limit, name .. " limits")
        assert_close(want.limit / math.sqrt(3), s, 0.02, name)
      end
    end
  end)

  it("VarianceScaling with its options", function()
    local t = I.VarianceScaling{scale = 4, mode = "fan_out", distribution = "untruncated_normal"}(dnn.zeros(200, 400))
    local _, s, _, hi = stats(t)
    assert_close(math.sqrt(4 / 400), s, 0.02, "stddev")
    assert(hi > 2.5 * math.sqrt(4 / 400), "untruncated draws go past 2 stddev")
    assert.has_error(function() I.VarianceScaling{mode = "fan_sideways"} end,
      "VarianceScaling: expected mode fan_in, fan_out or fan_avg, got 'fan_sideways'")
  end)

  it("fans for conv kernels (kh, kw, in, out) count the receptive field", function()
    assert.are.same({3 * 3 * 16, 3 * 3 * 32}, {I.compute_fans{3, 3, 16, 32}})
    assert.are.same({7, 7}, {I.compute_fans{7}})
    assert.are.same({1, 1}, {I.compute_fans{}})
    local t = I.he_uniform(dnn.zeros(3, 3, 16, 32))
    local limit = math.sqrt(6 / (3 * 3 * 16))
    assert(t:abs():max():item() <= limit and t:abs():max():item() > 0.98 * limit)
    -- explicit fans, as Dense passes them, win
    local u = I.glorot_uniform(dnn.zeros(50, 50), 1, 5)
    assert(u:abs():max():item() > math.sqrt(6 / 100))
  end)

  it("orthogonal: orthonormal columns (or rows), scaled by gain", function()
    for _, shape in ipairs{{6, 4}, {4, 6}, {3, 3, 2, 5}} do
      local t = I.Orthogonal{gain = 1.5}(dnn.zeros(table.unpack(shape)))
      local cols = shape[#shape]
      local m = t:reshape(t:numel() // cols, cols)
      local gram = m:numel() // cols >= cols and m:transpose(1, 2):matmul(m) or m:matmul(m:transpose(1, 2))
      local k = gram.shape[1]
      local err = (gram - dnn.eye(k) * 2.25):abs():max():item()
      assert(err < 1e-5, string.format("shape {%s}: |Q^T Q - gain^2 I| = %g", table.concat(shape, ","), err))
    end
    assert.has_error(function() I.orthogonal(dnn.zeros(5)) end)
  end)

  it("follow dnn.manual_seed", function()
    dnn.manual_seed(9)
    local a = I.orthogonal(dnn.zeros(4, 4)):totable()
    dnn.manual_seed(9)
    assert.are.same(a, I.orthogonal(dnn.zeros(4, 4)):totable())
  end)
end)

describe("initializers.get", function()
  it("takes snake_case and Keras class names, functions and objects", function()
    for _, name in ipairs{"zeros", "ones", "constant", "random_normal", "random_uniform", "truncated_normal",
                          "glorot_normal", "glorot_uniform", "he_normal", "he_uniform", "lecun_normal",
                          "lecun_uniform", "orthogonal", "GlorotUniform", "HeNormal", "Orthogonal"} do
      local init = I.get(name, "test")
      local t = init(dnn.zeros(4, 3), 4, 3)
      assert.are.same({4, 3}, t.shape, name)
    end
    local fn = function(t) return t:fill(7) end
    assert.are.equal(fn, I.get(fn))
    local obj = I.RandomNormal{stddev = 0.1}
    assert.are.equal(obj, I.get(obj))
    assert.are.same({0, 0}, I.get(I.Zeros)(dnn.ones(2)):totable())
  end)

  it("works as Dense's kernel_initializer and bias_initializer", function()
    local layer = dnn.nn.Dense(3, {input_shape = {4}, kernel_initializer = I.Constant{value = 0.5},
                                   bias_initializer = "ones"})
    assert.are.same({0.5, 0.5, 0.5}, layer.kernel:totable()[1])
    assert.are.same({1, 1, 1}, layer.bias:totable())
    layer = dnn.nn.Dense(3, {input_shape = {4}, kernel_initializer = "orthogonal"})
    local g = layer.kernel:transpose(1, 2):matmul(layer.kernel)
    assert((g - dnn.eye(3)):abs():max():item() < 1e-5)
  end)

  it("re-initializes a weight that already requires grad", function()
    local w = dnn.zeros(3, 3)
    w.requires_grad = true
    I.ones(w)
    assert.are.equal(9, w:sum():item())
  end)

  it("refuses unknown names (listing the valid ones) and bad arguments", function()
    local ok, err = pcall(I.get, "bogus", "Dense")
    assert.is_false(ok)
    assert.truthy(err:find("Dense: unknown initializer 'bogus'", 1, true), err)
    assert.truthy(err:find("glorot_uniform", 1, true) and err:find("orthogonal", 1, true), err)
    assert.has_error(function() I.RandomNormal{stdev = 1} end, "RandomNormal: unknown option 'stdev' (did you mean 'stddev'?)")
    assert.has_error(function() I.GlorotUniform{seed = 1} end,
      "GlorotUniform: no per-initializer seed; draws follow dnn.manual_seed(seed)")
    assert.has_error(function() I.RandomNormal{stddev = "big"} end,
      "RandomNormal: expected stddev to be a number, got string 'big'")
    assert.has_error(function() I.he_normal({1, 2}) end)
    assert.has_error(function() I.RandomNormal{stddev = -1} end,
      "RandomNormal: stddev must be a finite number >= 0 (got -1)")
    assert.has_error(function() I.RandomUniform{minval = 0 / 0} end,
      "RandomUniform: minval must be a finite number (got nan)")
  end)
end)
