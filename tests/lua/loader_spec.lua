-- dnn.data.DataLoader: batches, drop_last, shuffling (seeded and through
-- dnn.manual_seed), map and map_samples, the for-in protocol, and fit /
-- evaluate / predict through a loader.
local dnn = require "dnn"
local DataLoader = dnn.data.DataLoader

local function ids(n)
  local t = {}
  for i = 1, n do t[i] = i end
  return dnn.tensor(t)
end

local function collect(loader)
  local xs, sizes = {}, {}
  for xb, yb in loader do
    sizes[#sizes + 1] = xb.shape[1]
    for i = 1, xb.shape[1] do xs[#xs + 1] = xb[i]:item() end
    assert.are.same(xb:totable(), (yb - 100):totable()) -- y stays paired with x
  end
  return xs, sizes
end

describe("DataLoader", function()
  local x = ids(10)
  local y = x + 100

  it("gives the batches in order, the last one short", function()
    local loader = DataLoader{x, y, batch_size = 4}
    assert.are.equal(3, #loader)
    local xs, sizes = collect(loader)
    assert.are.same({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, xs)
    assert.are.same({4, 4, 2}, sizes)
  end)

  it("drops the short batch with drop_last", function()
    local loader = DataLoader{x, y, batch_size = 4, drop_last = true}
    assert.are.equal(2, #loader)
    local _, sizes = collect(loader)
    assert.are.same({4, 4}, sizes)
  end)

  it("takes a dataset table, and x alone", function()
    local loader = DataLoader({x = x, y = y}, {batch_size = 5})
    assert.are.equal(2, #loader)
    local n = 0
    for xb, yb in DataLoader{x, batch_size = 3} do
      n = n + 1
      assert.is_nil(yb)
      assert.is_true(dnn.is_tensor(xb))
    end
    assert.are.equal(4, n)
  end)

  it("starts a new epoch for every loop, even after a break", function()
    local loader = DataLoader{x, y, batch_size = 3}
    for xb in loader do
      assert.are.equal(1, xb[1]:item())
      break
    end
    local xs = collect(loader)
    assert.are.same(10, #xs)
    assert.are.equal(1, xs[1])
  end)

  it("shuffles each epoch; a seed repeats the orders", function()
    local a = DataLoader{x, y, batch_size = 4, shuffle = true, seed = 5}
    local b = DataLoader{x, y, batch_size = 4, shuffle = true, seed = 5}
    local a1, a2 = collect(a), collect(a)
    assert.are.same(a1, collect(b))
    assert.are.same(a2, collect(b))
    assert.are_not.same(a1, a2)
    local sorted = {table.unpack(a1)}
    table.sort(sorted)
    assert.are.same({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, sorted)
    assert.are_not.same(a1, collect(DataLoader{x, y, batch_size = 4, shuffle = true, seed = 6}))
  end)

  it("draws a seeded order from dnn's PRNG without moving its global stream", function()
    dnn.manual_seed(5)
    local want = dnn.randperm(10):totable()
    local after = dnn.rand(3):totable()
    dnn.manual_seed(5)
    dnn.randperm(10)
    local xs = collect(DataLoader{x, y, batch_size = 3, shuffle = true, seed = 5}) -- epoch 1: seed 5
    assert.are.same(want, xs)
    assert.are.same(after, dnn.rand(3):totable())
  end)

  it("shuffles without a seed through dnn.manual_seed", function()
    local loader = DataLoader{x, y, batch_size = 10, shuffle = true}
    dnn.manual_seed(3)
    local first = collect(loader)
    dnn.manual_seed(3)
    assert.are.same(first, collect(loader))
  end)

  it("maps batches with map (chainable) and samples with map_samples", function()
    local loader = DataLoader{x, y, batch_size = 4}
        :map(function(xb, yb) return xb * 2, yb end)
        :map(function(xb) return xb + 1 end) -- y kept when the function returns only x
    local got = {}
    for xb, yb in loader do
      for i = 1, xb.shape[1] do got[#got + 1] = xb[i]:item() end
      assert.are.equal(xb.shape[1], yb.shape[1])
    end
    assert.are.same({3, 5, 7, 9, 11, 13, 15, 17, 19, 21}, got)
    local per_sample = DataLoader{x:reshape(10, 1), y, batch_size = 4}:map_samples(function(xi, yi)
      assert.are.same({1}, xi.shape)
      return -xi, yi
    end)
    local n = 0
    for xb, yb in per_sample do
      n = n + xb.shape[1]
      assert.are.same(xb:reshape(xb.shape[1]):totable(), (-(yb - 100)):totable())
    end
    assert.are.equal(10, n)
  end)

  it("refuses bad arguments", function()
    local function fails(want, ...)
      local ok, err = pcall(DataLoader, ...)
      assert.is_false(ok)
      assert.truthy(tostring(err):find(want, 1, true), err)
    end
    fails("batch_size", {x, y, batch_size = 0})
    fails("different numbers of samples", {x, ids(3)})
    fails("unknown option 'batchsize'", {x, y, batchsize = 3})
    fails("expected x as a tensor", {"x"})
    local ok, err = pcall(function() return DataLoader{x, y}:map(3) end)
    assert.is_false(ok)
    assert.truthy(err:find("expected a function", 1, true))
  end)

  it("feeds fit, evaluate and predict", function()
    dnn.manual_seed(11)
    local nn = dnn.nn
    local n = 512
    local xs = dnn.randn(n, 2)
    local ys = (xs:narrow(2, 1, 1) + xs:narrow(2, 2, 1)):reshape(n):gt(0) + 1
    local model = nn.Sequential{nn.Dense(16, {activation = "relu", input_shape = {2}}),
                                nn.Dense(2, {activation = "softmax"})}
    model:compile{optimizer = dnn.optim.Adam{learning_rate = 0.02}, loss = "sparse_categorical_crossentropy",
                  metrics = {"accuracy"}}
    local train = DataLoader{xs, ys, batch_size = 32, shuffle = true, seed = 1}
    local val = DataLoader{xs, ys, batch_size = 100}
    local history = model:fit(train, {epochs = 8, verbose = 0, validation_data = val})
    assert.are.equal(8, #history.history.loss)
    assert.is_true(history.history.loss[8] < history.history.loss[1])
    assert.is_true(history.history.val_accuracy[8] > 0.9, history.history.val_accuracy[8])
    local loss, metrics = model:evaluate(val, {verbose = 0})
    assert.is_true(math.abs(loss - history.history.val_loss[8]) < 1e-5)
    assert.is_true(metrics.accuracy > 0.9)
    local probs = model:predict(DataLoader{xs, batch_size = 100}, {verbose = 0})
    assert.are.same({n, 2}, probs.shape)
    local ok, err = pcall(model.fit, model, train, {epochs = 1, batch_size = 8, verbose = 0})
    assert.is_false(ok)
    assert.truthy(err:find("batch_size", 1, true))
    ok, err = pcall(model.fit, model, DataLoader{xs}, {epochs = 1, verbose = 0})
    assert.is_false(ok)
    assert.truthy(err:find("no labels", 1, true))
  end)
end)
