-- The thread count (issue 16): training with a given seed gives bit-identical
-- weights at 1, 2, 3 and 4 threads (3 and 4 oversubscribe a 2-core machine,
-- which is fine here), on the MLP, the CNN and an LSTM; the products are big
-- enough that the GEMMs split into blocks, the reductions and batch norm's
-- statistics run in parallel. dnn.get_num_threads reports the team size, and
-- dnnlua waits without long spinning unless told otherwise.
local dnn = dnn or require "dnn"
local nn = dnn.nn

local DNNLUA = os.getenv("DNNLUA")

-- Labels 1..10 that do not depend on the generator.
local function labels(n)
  local t = {}
  for i = 1, n do t[i] = (i * 7) % 10 + 1 end
  return dnn.tensor(t)
end

local builders = {
  mlp = function()
    local x = dnn.rand(192, 784)
    local model = nn.Sequential{
      nn.Dense(512, {input_shape = {784}, activation = "relu"}),
      nn.Dense(512, {activation = "relu"}),
      nn.Dense(10, {activation = "softmax"}),
    }
    return model, x, labels(192)
  end,
  cnn = function()
    local x = dnn.rand(96, 28, 28, 1)
    local model = dofile(require("helpers").source_dir .. "/examples/lib/fashion_cnn.lua")() -- train_cnn's model
    return model, x, labels(96)
  end,
  lstm = function()
    local x = dnn.rand(128, 24, 16)
    local model = nn.Sequential{
      nn.LSTM(64, {input_shape = {24, 16}, return_sequences = true}),
      nn.LSTM(64),
      nn.Dense(10, {activation = "softmax"}),
    }
    return model, x, labels(128)
  end,
}

-- The weights after a short seeded fit at `threads`, each as its float32 bits.
local function trained_bits(which, threads)
  dnn.set_num_threads(threads)
  dnn.manual_seed(7)
  local model, x, y = builders[which]()
  model:compile{optimizer = dnn.optim.Adam{learning_rate = 1e-3}, loss = "sparse_categorical_crossentropy"}
  model:fit(x, y, {epochs = 1, batch_size = 32, verbose = 0})
  local out = {}
  for i, w in ipairs(model:get_weights()) do
    local flat = w:contiguous():reshape(-1):totable()
    for j = 1, #flat do flat[j] = string.pack("<f", flat[j]) end
    out[i] = table.concat(flat)
  end
  return out
end

describe("the thread count", function()
  local saved
  before_each(function() saved = dnn.get_num_threads() end)
  after_each(function() dnn.set_num_threads(saved) end)

  for _, which in ipairs{"mlp", "cnn", "lstm"} do
    it("does not change the trained " .. which .. "'s weights by a bit", function()
      local one = trained_bits(which, 1)
      for _, threads in ipairs{2, 3, 4} do
        local other = trained_bits(which, threads)
        assert.are.equal(#one, #other)
        for i = 1, #one do
          assert(one[i] == other[i], string.format("%s: weight %d differs between 1 and %d threads", which, i, threads))
        end
      end
    end)
  end

  it("gives the same product at any thread count on shapes that split into blocks", function()
    dnn.manual_seed(3)
    local cases = {
      {dnn.randn(64, 784), dnn.randn(784, 512)}, -- few rows: blocks of columns
      {dnn.randn(3000, 144), dnn.randn(144, 32)}, -- many rows: blocks of rows
      {dnn.randn(784, 64):transpose(1, 2), dnn.randn(784, 512)}, -- a transposed operand
      {dnn.randn(4, 300, 100), dnn.randn(100, 200)}, -- a batch folded into the rows
    }
    for _, c in ipairs(cases) do
      dnn.set_num_threads(1)
      local ref = dnn.matmul(c[1], c[2]):totable()
      for _, threads in ipairs{2, 3} do
        dnn.set_num_threads(threads)
        assert.are.same(ref, dnn.matmul(c[1], c[2]):totable())
      end
    end
  end)

  it("reports the team size", function()
    dnn.set_num_threads(3)
    assert.are.equal(3, dnn.get_num_threads())
    dnn.set_num_threads(1)
    assert.are.equal(1, dnn.get_num_threads())
  end)

  it("reports the team a parallel region really gets under OMP_THREAD_LIMIT", function()
    if not DNNLUA then return pending("DNNLUA is not set (run through ctest)") end
    local cmd = "OMP_THREAD_LIMIT=2 '" .. DNNLUA .. "' -e 'dnn.set_num_threads(4) print(dnn.get_num_threads())'"
    local p = assert(io.popen(cmd))
    local out = p:read("a")
    p:close()
    assert.are.equal("2\n", out)
  end)

  -- libgomp prints its settings with OMP_DISPLAY_ENV=verbose (on stderr).
  local function omp_settings(env)
    local cmd = env .. " OMP_DISPLAY_ENV=verbose '" .. DNNLUA .. "' -e 'print(arg[1], arg[2])' - x y </dev/null 2>&1"
    local p = assert(io.popen(cmd))
    local out = p:read("a")
    p:close()
    return out
  end

  it("has dnnlua's threads spin briefly before they sleep, unless the user chose a policy", function()
    if not DNNLUA then return pending("DNNLUA is not set (run through ctest)") end
    -- two threads (the suite runs with DNN_NUM_THREADS=1, where nothing waits and nothing is set)
    local out = omp_settings("env -u GOMP_SPINCOUNT -u OMP_WAIT_POLICY DNN_NUM_THREADS=2")
    assert.truthy(out:find("GOMP_SPINCOUNT = '1000'", 1, true), out)
    assert.truthy(out:find("x\ty\n", 1, true), out) -- the arguments survive the second start
    out = omp_settings("env -u GOMP_SPINCOUNT OMP_WAIT_POLICY=active DNN_NUM_THREADS=2")
    assert.falsy(out:find("GOMP_SPINCOUNT = '1000'", 1, true), out)
    out = omp_settings("env -u OMP_WAIT_POLICY GOMP_SPINCOUNT=5 DNN_NUM_THREADS=2")
    assert.truthy(out:find("GOMP_SPINCOUNT = '5'", 1, true), out)
    out = omp_settings("env -u GOMP_SPINCOUNT -u OMP_WAIT_POLICY DNN_NUM_THREADS=1")
    assert.falsy(out:find("GOMP_SPINCOUNT = '1000'", 1, true), out)
  end)
end)
