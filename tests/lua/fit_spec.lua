-- compile / fit / evaluate / predict: learning, History, validation,
-- class weights, callbacks, modes, several inputs and outputs, progress
-- output, and every misuse.
local dnn = dnn or require "dnn"
local nn = dnn.nn
local H = require "helpers"

local function errors_with(fn, needle)
  local ok, err = pcall(fn)
  assert.is_false(ok, "expected an error containing: " .. needle)
  assert.truthy(tostring(err):find(needle, 1, true), "error was: " .. tostring(err))
end

local function near(a, b, tol)
  return math.abs(a - b) <= (tol or 1e-5) * (1 + math.abs(b))
end

-- Points in the plane, labelled 1 where x1 * x2 > 0 (a quadrant task no line separates).
local function quadrants(n)
  local x = dnn.randn(n, 2)
  local y = (x:narrow(2, 1, 1) * x:narrow(2, 2, 1)):gt(0):reshape(n)
  return x, y
end

local function mlp(units)
  return nn.Sequential{
    nn.Dense(units or 16, {input_shape = {2}, activation = "relu"}),
    nn.Dense(units or 16, {activation = "relu"}),
    nn.Dense(1, {activation = "sigmoid"}),
  }
end

-- Runs fn with io.stdout sent to a temporary file; returns what was written.
local function captured(fn)
  local real, file = io.stdout, io.tmpfile()
  io.stdout = file
  local ok, err = pcall(fn)
  io.stdout = real
  file:seek("set")
  local text = file:read("a")
  file:close()
  assert(ok, err)
  return text
end

describe("fit", function()
  it("learns a task no line separates to > 95% accuracy", function()
    dnn.manual_seed(1)
    local x, y = quadrants(2000)
    local model = mlp()
    model:compile{optimizer = dnn.optim.Adam{learning_rate = 0.01}, loss = "binary_crossentropy", metrics = {"accuracy"}}
    local history = model:fit(x, y, {epochs = 30, batch_size = 32, verbose = 0})
    assert.truthy(history.history.loss[30] < history.history.loss[1])
    local xt, yt = quadrants(1000)
    local loss, metrics = model:evaluate(xt, yt, {verbose = 0})
    assert.truthy(metrics.accuracy > 0.95, "accuracy " .. metrics.accuracy)
    assert.are.equal(loss, metrics.loss)
    -- the accuracy evaluate reports is the accuracy of predict's outputs
    local p = model:predict(xt, {verbose = 0})
    assert.truthy(near(metrics.accuracy, p:reshape(1000):gt(0.5):eq(yt):mean():item()))
  end)

  it("trains on 2000 Fashion-MNIST images to a sane accuracy", function()
    local ok, train, test = pcall(dnn.datasets.fashion_mnist, {limit = 2000})
    if not ok then
      pending("Fashion-MNIST not installed: " .. tostring(train))
      return
    end
    dnn.manual_seed(7)
    local model = nn.Sequential{
      nn.Flatten{input_shape = {28, 28, 1}},
      nn.Dense(64, {activation = "relu"}),
      nn.Dense(10, {activation = "softmax"}),
    }
    model:compile{optimizer = "adam", loss = "sparse_categorical_crossentropy", metrics = {"accuracy"}}
    local history = model:fit(train.x, train.y, {epochs = 5, batch_size = 64, validation_split = 0.1, verbose = 0})
    assert.truthy(history.history.accuracy[5] > history.history.accuracy[1])
    local _, metrics = model:evaluate(test.x:narrow(1, 1, 1000), test.y:narrow(1, 1, 1000), {verbose = 0})
    assert.truthy(metrics.accuracy > 0.7, "test accuracy " .. metrics.accuracy)
  end)

  it("trains a model compiled before it was built (its first batch builds it)", function()
    dnn.manual_seed(3)
    local model = nn.Sequential{nn.Dense(8, {activation = "relu"}), nn.Dense(1)}
    model:compile{optimizer = dnn.optim.Adam{learning_rate = 0.02}, loss = "mse"}
    assert.are.equal(0, #model.optimizer.params)
    local x = dnn.randn(64, 3)
    local history = model:fit(x, x:sum(2, true), {epochs = 20, batch_size = 16, verbose = 0})
    assert.are.equal(4, #model.optimizer.params)
    assert.truthy(history.history.loss[20] < 0.5 * history.history.loss[1])
  end)

  it("returns a History of every epoch's logs, also as model.history", function()
    dnn.manual_seed(2)
    local x, y = quadrants(64)
    local model = mlp(4)
    model:compile{optimizer = "adam", loss = "binary_crossentropy", metrics = {"accuracy"}}
    local history = model:fit(x, y, {epochs = 3, batch_size = 16, validation_split = 0.25, verbose = 0})
    assert.are.equal(model.history, history)
    assert.are.same({1, 2, 3}, history.epoch)
    for _, key in ipairs{"loss", "accuracy", "val_loss", "val_accuracy"} do
      assert.are.equal(3, #history.history[key], key)
      for _, v in ipairs(history.history[key]) do assert.are.equal("number", type(v)) end
    end
    -- the last val_loss is evaluate's loss on the last 25% with the final weights
    local val_loss = model:evaluate(x:narrow(1, 49, 16), y:narrow(1, 49, 16), {verbose = 0})
    assert.truthy(near(history.history.val_loss[3], val_loss, 1e-5))
  end)

  it("starts at initial_epoch and numbers epochs from 1", function()
    local x, y = quadrants(8)
    local model = mlp(2)
    model:compile{optimizer = "sgd", loss = "mse"}
    local history = model:fit(x, y, {epochs = 5, initial_epoch = 3, verbose = 0})
    assert.are.same({4, 5}, history.epoch)
    assert.are.equal(2, #history.history.loss)
  end)

  it("takes the last fraction for validation_split, before shuffling", function()
    local n = 100
    local x, y = quadrants(n)
    local model = mlp(2)
    model:compile{optimizer = "sgd", loss = "binary_crossentropy"}
    local steps, test_batches, seen = nil, 0, 0
    local cb = {
      set_params = function(_, params) steps = params.steps end,
      on_test_batch_end = function() test_batches = test_batches + 1 end,
      on_train_batch_begin = function() seen = seen + 1 end,
    }
    local history = model:fit(x, y, {epochs = 1, batch_size = 10, validation_split = 0.2, callbacks = {cb}, verbose = 0})
    assert.are.equal(8, steps)
    assert.are.equal(8, seen)
    assert.are.equal(2, test_batches)
    local val_loss = model:evaluate(x:narrow(1, 81, 20), y:narrow(1, 81, 20), {verbose = 0})
    assert.truthy(near(history.history.val_loss[1], val_loss, 1e-5))
    errors_with(function() model:fit(x, y, {validation_split = 1.5, verbose = 0}) end,
      "fit: validation_split must be a number in [0, 1), got number 1.5")
    errors_with(function() model:fit(x:narrow(1, 1, 2), y:narrow(1, 1, 2), {validation_split = 0.6, verbose = 0}) end,
      "fit: validation_split 0.6 of 2 samples leaves 0 for training and 2 for validation")
  end)

  it("shuffles with the dnn PRNG: the same seed gives the same weights", function()
    local function run(seed, shuffle)
      dnn.manual_seed(5)
      local x, y = quadrants(40)
      local model = mlp(3)
      model:compile{optimizer = dnn.optim.SGD{learning_rate = 0.1}, loss = "binary_crossentropy"}
      dnn.manual_seed(seed)
      model:fit(x, y, {epochs = 2, batch_size = 8, shuffle = shuffle, verbose = 0})
      return model:get_weights()[1]:totable()
    end
    assert.are.same(run(1, true), run(1, true))
    assert.are_not.same(run(1, true), run(2, true))
    assert.are.same(run(1, false), run(2, false))
  end)

  it("reports the loss with the layers' regularization losses added, as Keras", function()
    local x = dnn.tensor{{1, 2}, {3, 4}, {5, 6}}
    local y = dnn.tensor{{1}, {0}, {2}}
    local model = nn.Sequential{nn.Dense(1, {input_shape = {2}, kernel_initializer = "ones",
      kernel_regularizer = dnn.regularizers.l2(0.1)})}
    model:compile{optimizer = dnn.optim.SGD{learning_rate = 0}, loss = "mse"}
    local history = model:fit(x, y, {epochs = 1, batch_size = 3, shuffle = false, verbose = 0})
    -- predictions 3, 7, 11: mse = (4 + 49 + 81) / 3; l2 = 0.1 * (1 + 1)
    local expected = (4 + 49 + 81) / 3 + 0.2
    assert.truthy(near(history.history.loss[1], expected), tostring(history.history.loss[1]))
    assert.truthy(near(model:evaluate(x, y, {verbose = 0}), expected))
  end)
end)

describe("data given as Lua tables, and evaluate's return_dict", function()
  local function model()
    dnn.manual_seed(5)
    local m = nn.Sequential{nn.Dense(3, {input_shape = {2}, activation = "softmax"})}
    m:compile{optimizer = "adam", loss = "sparse_categorical_crossentropy", metrics = {"accuracy"}}
    return m
  end

  it("fit, evaluate and predict take nested tables of numbers as dnn.tensor would make them", function()
    local x, y = {{1, 2}, {3, 4}, {-1, 0}}, {1, 2, 3}
    local a, b = model(), model()
    a:fit(x, y, {epochs = 2, batch_size = 2, shuffle = false, verbose = 0})
    b:fit(dnn.tensor(x), dnn.tensor(y), {epochs = 2, batch_size = 2, shuffle = false, verbose = 0})
    assert.are.same(b:predict(dnn.tensor(x)):totable(), a:predict(x):totable())
    assert.are.equal(b:evaluate(dnn.tensor(x), dnn.tensor(y), {verbose = 0}), a:evaluate(x, y, {verbose = 0}))
    H.assert_error({"fit: x as Lua tables must be nested tables of numbers of one shape", "ragged"},
      function() a:fit({{1, 2}, {3}}, {1, 2}, {verbose = 0}) end)
  end)

  it("return_dict gives the metrics table alone; 0-based labels get a hint", function()
    local m = model()
    local x, y = dnn.randn(4, 2), dnn.tensor{1, 2, 3, 1}
    local loss, logs = m:evaluate(x, y, {verbose = 0})
    local dict = m:evaluate(x, y, {verbose = 0, return_dict = true})
    assert.are.equal(loss, dict.loss)
    assert.are.equal(logs.accuracy, dict.accuracy)
    H.assert_error({"evaluate: expected return_dict true or false, got number"},
      function() m:evaluate(x, y, {return_dict = 1}) end)
    H.assert_error({"labels look 0-based: class ids start at 1; pass y + 1"},
      function() m:fit(x, y - 1, {verbose = 0}) end)
  end)
end)

describe("class_weight", function()
  it("weights each sample's loss by its class: sum(w_i l_i) / N", function()
    local x = dnn.tensor{{1, 0}, {0, 1}, {1, 1}, {0.5, -1}}
    local y = dnn.tensor{1, 2, 2, 3}
    local model = nn.Sequential{nn.Dense(3, {input_shape = {2}, activation = "softmax"})}
    model:compile{optimizer = dnn.optim.SGD{learning_rate = 0}, loss = "sparse_categorical_crossentropy"}
    local p = model:predict(x, {verbose = 0}):totable()
    local weights = {[1] = 1, [2] = 3, [3] = 0.5}
    local expected = 0
    for i, id in ipairs{1, 2, 2, 3} do expected = expected - weights[id] * math.log(p[i][id]) end
    expected = expected / 4
    local history = model:fit(x, y, {epochs = 1, batch_size = 4, shuffle = false, class_weight = weights, verbose = 0})
    assert.truthy(near(history.history.loss[1], expected), history.history.loss[1] .. " vs " .. expected)
  end)

  it("keys binary labels by their values 0 and 1, one-hot labels by their argmax", function()
    local x = dnn.tensor{{1}, {-1}, {2}}
    local model = nn.Sequential{nn.Dense(1, {input_shape = {1}, activation = "sigmoid"})}
    model:compile{optimizer = dnn.optim.SGD{learning_rate = 0}, loss = "binary_crossentropy"}
    local y = dnn.tensor{1, 0, 1}
    local p = model:predict(x, {verbose = 0}):reshape(3):totable()
    local expected = -(2 * math.log(p[1]) + 1 * math.log(1 - p[2]) + 2 * math.log(p[3])) / 3
    local h = model:fit(x, y, {batch_size = 3, shuffle = false, class_weight = {[0] = 1, [1] = 2}, verbose = 0})
    assert.truthy(near(h.history.loss[1], expected, 1e-4), h.history.loss[1] .. " vs " .. expected)

    local m2 = nn.Sequential{nn.Dense(2, {input_shape = {1}, activation = "softmax"})}
    m2:compile{optimizer = dnn.optim.SGD{learning_rate = 0}, loss = "categorical_crossentropy"}
    local onehot = dnn.tensor{{0, 1}, {1, 0}, {0, 1}}
    local q = m2:predict(x, {verbose = 0}):totable()
    local want = -(4 * math.log(q[1][2]) + math.log(q[2][1]) + 4 * math.log(q[3][2])) / 3
    local h2 = m2:fit(x, onehot, {batch_size = 3, shuffle = false, class_weight = {[2] = 4}, verbose = 0})
    assert.truthy(near(h2.history.loss[1], want, 1e-4), h2.history.loss[1] .. " vs " .. want)
  end)

  it("moves an undecidable classifier toward the heavier class", function()
    local function positive_rate(class_weight)
      dnn.manual_seed(9)
      local x = dnn.randn(200, 2)
      local y = dnn.rand(200):gt(0.5) -- labels unrelated to x
      local model = nn.Sequential{nn.Dense(1, {input_shape = {2}, activation = "sigmoid"})}
      model:compile{optimizer = dnn.optim.Adam{learning_rate = 0.05}, loss = "binary_crossentropy"}
      model:fit(x, y, {epochs = 10, batch_size = 20, class_weight = class_weight, verbose = 0})
      return model:predict(x, {verbose = 0}):gt(0.5):mean():item()
    end
    assert.truthy(positive_rate{[0] = 1, [1] = 5} > 0.9)
    assert.truthy(positive_rate{[0] = 5, [1] = 1} < 0.1)
  end)

  it("refuses a malformed class_weight", function()
    local model = mlp(2)
    model:compile{optimizer = "sgd", loss = "binary_crossentropy"}
    local x, y = quadrants(4)
    errors_with(function() model:fit(x, y, {class_weight = 2, verbose = 0}) end,
      "fit: class_weight must be a table {[class id] = weight}, got number")
    errors_with(function() model:fit(x, y, {class_weight = {a = 1}, verbose = 0}) end,
      "fit: class_weight maps class ids to weights")
  end)
end)

describe("class_weight through sample weights", function()
  it("weights every sample by its class, 1 for a class left out, and divides by N (Keras)", function()
    -- zero weights: every probability 1/3, every sample's loss log 3; weights 1, 5, 1, 1
    local model = nn.Sequential{nn.Dense(3, {input_shape = {2}, activation = "softmax"})}
    model:set_weights{dnn.zeros(2, 3), dnn.zeros(3)}
    model:compile{optimizer = dnn.optim.SGD{learning_rate = 0}, loss = "sparse_categorical_crossentropy"}
    local x, y = dnn.randn(4, 2), dnn.tensor{1, 2, 3, 1}
    local h = model:fit(x, y, {batch_size = 4, shuffle = false, class_weight = {[2] = 5}, verbose = 0})
    assert.truthy(near(h.history.loss[1], math.log(3) * (1 + 5 + 1 + 1) / 4), tostring(h.history.loss[1]))
    -- evaluate takes no class weights: the plain mean
    assert.truthy(near(model:evaluate(x, y, {verbose = 0}), math.log(3)))
  end)

  it("refuses a user's loss function, which cannot take per-sample weights", function()
    local model = mlp(2)
    model:compile{optimizer = "sgd", loss = function(y, p) return ((y - p) ^ 2):mean() end}
    local x, y = quadrants(4)
    errors_with(function() model:fit(x, y:reshape(4, 1), {class_weight = {[1] = 2}, verbose = 0}) end,
      "fit: class_weight weights each sample through the loss's sample_weight")
  end)
end)

describe("the fused softmax / sigmoid cross-entropy path", function()
  -- One input {1}: logits (0, 1000, -1000); the true class 3 is the least likely by far. From the logits the loss
  -- is 2000; from the probabilities (e^-2000 clipped to 1e-7) it would be -log(1e-7) = 16.1.
  local x, y = dnn.tensor{{1}}, dnn.tensor{3}
  local kernel = dnn.tensor{{0, 1000, -1000}}
  local clipped = -math.log(1e-7)

  local function compiled(model, loss, lr, metrics)
    model:compile{optimizer = dnn.optim.SGD{learning_rate = lr or 0}, loss = loss or "sparse_categorical_crossentropy",
      metrics = metrics}
    return model
  end

  local function softmax_dense()
    local model = nn.Sequential{nn.Dense(3, {input_shape = {1}, activation = "softmax"})}
    model:set_weights{kernel:clone(), dnn.zeros(3)}
    return model
  end

  it("gives fit and evaluate the exact loss of a saturated softmax, while predict returns probabilities", function()
    local model = compiled(softmax_dense())
    assert.truthy(near(model:evaluate(x, y, {verbose = 0}), 2000), tostring(model:evaluate(x, y, {verbose = 0})))
    local h = model:fit(x, y, {verbose = 0})
    assert.truthy(near(h.history.loss[1], 2000), tostring(h.history.loss[1]))
    local p = model:predict(x, {verbose = 0})
    assert.truthy(near(p:sum():item(), 1))
    assert.truthy(near(p:totable()[1][2], 1))
    assert.truthy(near(model(x):sum():item(), 1))
    -- the same with one-hot labels and categorical_crossentropy
    compiled(model, "categorical_crossentropy")
    assert.truthy(near(model:evaluate(x, dnn.tensor{{0, 0, 1}}, {verbose = 0}), 2000))
    -- the loss called on the model's output directly sees probabilities only
    assert.truthy(near(dnn.losses.sparse_categorical_crossentropy(y, model(x)):item(), clipped))
  end)

  it("trains a confidently wrong model with the fused gradient softmax(z) - y", function()
    local model = compiled(softmax_dense(), nil, 0.1)
    model:fit(x, y, {verbose = 0})
    -- dz = (0, 1, -1): the kernel moves by -0.1 * x^T dz; from clipped probabilities it would not move at all
    local w = model:get_weights()[1]:totable()[1]
    assert.truthy(near(w[1], 0, 1e-6) and near(w[2], 1000 - 0.1) and near(w[3], -1000 + 0.1), table.concat(w, " "))
  end)

  it("applies to an Activation layer, a functional model and a sigmoid with binary_crossentropy", function()
    local with_activation = nn.Sequential{nn.Dense(3, {input_shape = {1}}), nn.Activation("softmax")}
    with_activation.layers[1]:set_weights{kernel:clone(), dnn.zeros(3)}
    assert.truthy(near(compiled(with_activation):evaluate(x, y, {verbose = 0}), 2000))

    local input = nn.Input{1}
    local functional = nn.Model{inputs = input, outputs = nn.Dense(3, {activation = "softmax"})(input)}
    functional.layers[2]:set_weights{kernel:clone(), dnn.zeros(3)}
    assert.truthy(near(compiled(functional):evaluate(x, y, {verbose = 0}), 2000))

    -- per-pixel classes from a Conv2D: labels (N, H, W)
    local conv = nn.Sequential{nn.Conv2D(3, 1, {input_shape = {1, 1, 1}, activation = "softmax"})}
    conv:set_weights{kernel:reshape(1, 1, 1, 3), dnn.zeros(3)}
    assert.truthy(near(compiled(conv):evaluate(x:reshape(1, 1, 1, 1), dnn.tensor{{{3}}}, {verbose = 0}), 2000))

    local binary = nn.Sequential{nn.Dense(1, {input_shape = {1}, activation = "sigmoid"})}
    binary:set_weights{dnn.tensor{{500}}, dnn.zeros(1)}
    compiled(binary, "binary_crossentropy", 0, {"mse"})
    local loss, logs = binary:evaluate(x, dnn.tensor{{0}}, {verbose = 0})
    assert.truthy(near(loss, 500), tostring(loss)) -- log(1 + e^500); clipped it would be 15.9
    -- metrics see probabilities: (1 - 0)^2, not the logit's 500^2
    assert.truthy(near(logs.mse, 1), tostring(logs.mse))
  end)

  it("is not taken where the final layer's output is not the model's alone, or the model is a custom one", function()
    -- the softmax output also feeds another layer: it must stay probabilities there
    local input = nn.Input{1}
    local probs = nn.Dense(3, {activation = "softmax", name = "probs"})(input)
    local model = nn.Model{inputs = input, outputs = {probs, nn.Dense(1, {name = "head"})(probs)}}
    model:get_layer("probs"):set_weights{kernel:clone(), dnn.zeros(3)}
    model:compile{optimizer = "sgd", loss = {"sparse_categorical_crossentropy", "mse"}}
    local _, logs = model:evaluate(x, {y, dnn.zeros(1, 1)}, {verbose = 0})
    assert.truthy(near(logs.probs_loss, clipped, 1e-4), tostring(logs.probs_loss))

    local Custom = nn.Model:extend("FusedPathCustom")
    function Custom:init() self.out = nn.Dense(3, {activation = "softmax"}) end
    function Custom:forward(t) return self.out(t) end
    local custom = Custom()
    custom(x)
    custom.out:set_weights{kernel:clone(), dnn.zeros(3)}
    assert.truthy(near(compiled(custom):evaluate(x, y, {verbose = 0}), clipped, 1e-4))

    -- a loss that already takes logits is left alone (the model's output is then taken as logits)
    compiled(model, {dnn.losses.sparse_categorical_crossentropy{from_logits = true}, "mse"})
    local _, logs2 = model:evaluate(x, {y, dnn.zeros(1, 1)}, {verbose = 0})
    local p = model(x)
    assert.truthy(near(logs2.probs_loss, dnn.losses.sparse_categorical_crossentropy{from_logits = true}(y, p):item()))
  end)
end)

describe("callbacks", function()
  it("are called in Keras's order with 1-based epochs and batches, and see the logs", function()
    local events = {}
    local cb = {}
    for _, hook in ipairs{"on_train_begin", "on_train_end", "on_test_begin", "on_test_end"} do
      cb[hook] = function() events[#events + 1] = hook end
    end
    for _, hook in ipairs{"on_epoch_begin", "on_train_batch_begin", "on_train_batch_end", "on_test_batch_begin",
      "on_test_batch_end"} do
      cb[hook] = function(_, n) events[#events + 1] = hook .. " " .. n end
    end
    local epoch_logs = {}
    cb.on_epoch_end = function(_, epoch, logs)
      events[#events + 1] = "on_epoch_end " .. epoch
      epoch_logs[epoch] = logs
    end
    local x, y = quadrants(6)
    local model = mlp(2)
    model:compile{optimizer = "sgd", loss = "binary_crossentropy", metrics = {"accuracy"}}
    model:fit(x:narrow(1, 1, 4), y:narrow(1, 1, 4), {epochs = 2, batch_size = 2, callbacks = {cb}, verbose = 0,
      validation_data = {x:narrow(1, 5, 2), y:narrow(1, 5, 2)}})
    local one_epoch = function(e)
      return {"on_epoch_begin " .. e, "on_train_batch_begin 1", "on_train_batch_end 1", "on_train_batch_begin 2",
        "on_train_batch_end 2", "on_test_begin", "on_test_batch_begin 1", "on_test_batch_end 1", "on_test_end",
        "on_epoch_end " .. e}
    end
    local expected = {"on_train_begin"}
    for e = 1, 2 do
      for _, ev in ipairs(one_epoch(e)) do expected[#expected + 1] = ev end
    end
    expected[#expected + 1] = "on_train_end"
    assert.are.same(expected, events)
    for _, key in ipairs{"loss", "accuracy", "val_loss", "val_accuracy"} do
      assert.are.equal("number", type(epoch_logs[2][key]), key)
    end
    assert.are.equal(model, cb.model)
    assert.are.equal(2, cb.params.epochs)
    assert.are.equal(2, cb.params.steps)
  end)

  it("stop training with model.stop_training = true", function()
    local x, y = quadrants(8)
    local model = mlp(2)
    model:compile{optimizer = "sgd", loss = "binary_crossentropy"}
    local stopper = {on_epoch_end = function(self, epoch) if epoch == 2 then self.model.stop_training = true end end}
    local history = model:fit(x, y, {epochs = 10, callbacks = {stopper}, verbose = 0})
    assert.are.same({1, 2}, history.epoch)
  end)

  it("work with the library's callbacks (EarlyStopping)", function()
    local x, y = quadrants(16)
    local model = mlp(2)
    model:compile{optimizer = dnn.optim.SGD{learning_rate = 0}, loss = "binary_crossentropy"}
    local history = model:fit(x, y, {epochs = 20, verbose = 0,
      callbacks = {dnn.callbacks.EarlyStopping{monitor = "loss", patience = 2}}})
    assert.truthy(#history.epoch < 20)
  end)

  it("evaluate and predict call their hooks", function()
    local events = {}
    local cb = {
      on_test_begin = function() events[#events + 1] = "test_begin" end,
      on_test_end = function(_, logs) events[#events + 1] = "test_end " .. type(logs.loss) end,
      on_predict_begin = function() events[#events + 1] = "predict_begin" end,
      on_predict_batch_end = function(_, b) events[#events + 1] = "predict_batch " .. b end,
      on_predict_end = function() events[#events + 1] = "predict_end" end,
    }
    local x, y = quadrants(5)
    local model = mlp(2)
    model:compile{optimizer = "sgd", loss = "binary_crossentropy"}
    model:evaluate(x, y, {callbacks = {cb}, verbose = 0})
    model:predict(x, {batch_size = 3, callbacks = {cb}, verbose = 0})
    assert.are.same({"test_begin", "test_end number", "predict_begin", "predict_batch 1", "predict_batch 2",
      "predict_end"}, events)
  end)
end)

describe("training and inference modes", function()
  local Spy = nn.Layer:extend("Spy")
  function Spy.new()
    local self = nn.Layer.init(Spy, {}, "spy")
    self.seen = {}
    return self
  end
  function Spy:forward(x)
    self.seen[#self.seen + 1] = self.training
    return x
  end

  it("fit trains in training mode and validates in inference mode; evaluate and predict infer", function()
    local spy = Spy.new()
    local model = nn.Sequential{nn.Dense(1, {input_shape = {2}}), spy}
    model:compile{optimizer = "sgd", loss = "mse"}
    local x, y = dnn.randn(4, 2), dnn.randn(4, 1)
    model:eval()
    spy.seen = {}
    model:fit(x, y, {epochs = 1, batch_size = 2, validation_data = {x, y}, verbose = 0})
    assert.are.same({true, true, false, false}, spy.seen)
    assert.is_false(model.training, "fit restores the mode it found")
    model:train()
    spy.seen = {}
    model:evaluate(x, y, {batch_size = 4, verbose = 0})
    model:predict(x, {batch_size = 4, verbose = 0})
    assert.are.same({false, false}, spy.seen)
    assert.is_true(model.training, "evaluate and predict restore the mode")
    assert.is_true(spy.training)
  end)

  it("restores the mode after an error inside fit", function()
    local model = nn.Sequential{nn.Dense(1, {input_shape = {2}})}
    model:compile{optimizer = "sgd", loss = function() error("boom") end}
    model:eval()
    errors_with(function() model:fit(dnn.ones(2, 2), dnn.ones(2, 1), {verbose = 0}) end, "boom")
    assert.is_false(model.training)
  end)

  it("predict runs without recording a graph and matches one full forward", function()
    local model = nn.Sequential{nn.Dense(3, {input_shape = {2}, activation = "tanh"}), nn.Dropout(0.5), nn.Dense(2)}
    local x = dnn.randn(10, 2)
    local p = model:predict(x, {batch_size = 3, verbose = 0})
    assert.are.same({10, 2}, p.shape)
    assert.is_false(p.requires_grad)
    model:eval()
    local full = model(x)
    for i, row in ipairs(full:totable()) do
      for j, v in ipairs(row) do assert.truthy(near(p:totable()[i][j], v)) end
    end
  end)
end)

describe("models of several inputs and outputs", function()
  it("fit a two-input functional model", function()
    dnn.manual_seed(4)
    local a, b = nn.Input{2, name = "left"}, nn.Input{1, name = "right"}
    local h = nn.Concatenate(){a, b}
    local out = nn.Dense(1)(nn.Dense(8, {activation = "tanh"})(h))
    local model = nn.Model{inputs = {a, b}, outputs = out}
    model:compile{optimizer = dnn.optim.Adam{learning_rate = 0.02}, loss = "mse"}
    local xa, xb = dnn.randn(256, 2), dnn.randn(256, 1)
    local y = xa:narrow(2, 1, 1) - xa:narrow(2, 2, 1) * 0.5 + xb * 2
    local history = model:fit({xa, xb}, y, {epochs = 40, batch_size = 32, verbose = 0})
    assert.truthy(history.history.loss[40] < 0.05 * history.history.loss[1],
      history.history.loss[1] .. " -> " .. history.history.loss[40])
    assert.are.same({256, 1}, model:predict({xa, xb}, {verbose = 0}).shape)
    errors_with(function() model:fit(xa, y, {verbose = 0}) end, "fit: the model has 2 inputs, got a tensor")
    errors_with(function() model:fit({xa, xb:narrow(1, 1, 10)}, y, {verbose = 0}) end,
      "fit: the tensors of x have different numbers of samples: 256 and 10")
  end)

  it("fit a two-output model with a loss per output and reports each output's loss and metrics", function()
    dnn.manual_seed(6)
    local x = nn.Input{3}
    local h = nn.Dense(8, {activation = "relu"})(x)
    local reg = nn.Dense(1, {name = "value"})(h)
    local cls = nn.Dense(2, {activation = "softmax", name = "kind"})(h)
    local model = nn.Model(x, {reg, cls})
    model:compile{optimizer = "adam", loss = {"mse", "sparse_categorical_crossentropy"}, loss_weights = {1, 0.5},
      metrics = {kind = {"accuracy"}}}
    local xs = dnn.randn(64, 3)
    local yv = xs:sum(2, true)
    local yc = xs:narrow(2, 1, 1):gt(0):reshape(64) + 1
    local history = model:fit(xs, {yv, yc}, {epochs = 2, batch_size = 16, verbose = 0, validation_split = 0.25})
    for _, key in ipairs{"loss", "value_loss", "kind_loss", "kind_accuracy", "val_loss", "val_value_loss",
      "val_kind_loss", "val_kind_accuracy"} do
      assert.are.equal(2, #(history.history[key] or {}), key)
    end
    assert.is_nil(history.history.value_accuracy)
    local loss, metrics = model:evaluate(xs, {yv, yc}, {verbose = 0})
    assert.truthy(near(loss, metrics.value_loss + 0.5 * metrics.kind_loss, 1e-4))
    local p1, p2 = model:predict(xs, {verbose = 0})
    assert.are.same({64, 1}, p1.shape)
    assert.are.same({64, 2}, p2.shape)
    errors_with(function() model:fit(xs, yv, {verbose = 0}) end, "fit: the model has 2 outputs, got a tensor")
    errors_with(function() model:compile{loss = {"mse"}} end, "compile: the model has 2 outputs, got 1 losses")
    errors_with(function() model:compile{loss = {nope = "mse"}} end, "compile: losses for an unknown output 'nope'")
    model:compile{optimizer = "adam", loss = "mse"}
    errors_with(function() model:fit(xs, {yv, yc}, {class_weight = {[1] = 2}, verbose = 0}) end,
      "fit: class_weight is for models of one output")
  end)
end)

describe("progress output", function()
  local function tiny()
    local model = mlp(2)
    model:compile{optimizer = "sgd", loss = "binary_crossentropy", metrics = {"accuracy"}}
    return model
  end

  it("writes one line per epoch when stdout is not a terminal (verbose 1 and 2), nothing with verbose 0", function()
    local x, y = quadrants(40)
    for _, verbose in ipairs{1, 2} do
      local model = tiny()
      local text = captured(function()
        model:fit(x, y, {epochs = 3, batch_size = 4, verbose = verbose, validation_split = 0.5})
      end)
      if verbose == 1 and dnn.isatty(1) then return end -- a terminal draws the live bar instead
      local lines = {}
      for line in text:gmatch("[^\n]+") do lines[#lines + 1] = line end
      assert.are.equal(3, #lines, text)
      assert.is_nil(text:find("\r", 1, true))
      assert.truthy(lines[2]:match("^Epoch 2/3 %- %d+s %d+[mu]?s/step %- loss: %d%.%d%d%d%d %- accuracy: %d%.%d%d%d%d " ..
        "%- val_loss: %d%.%d%d%d%d %- val_accuracy: %d%.%d%d%d%d$"), lines[2])
    end
    local model = tiny()
    assert.are.equal("", captured(function() model:fit(x, y, {epochs = 2, verbose = 0}) end))
  end)

  it("draws a live Keras-style bar with \\r updates on a terminal", function()
    local file = io.tmpfile()
    local bar = require("dnn.training").ProgbarLogger{live = true, out = file}
    local x, y = quadrants(40)
    tiny():fit(x, y, {epochs = 1, batch_size = 4, verbose = 0, callbacks = {bar}})
    file:seek("set")
    local text = file:read("a")
    file:close()
    assert.truthy(text:find("^Epoch 1/1\n"), text)
    assert.truthy(text:find("\r 1/10 [==>...........................] - ETA: ", 1, true), text)
    assert.truthy(text:match("\r10/10 %[==============================%] %- %d+s %d+[mu]?s/step %- loss: %d%.%d+ %- " ..
      "accuracy: %d%.%d+ *\n$"), text)
  end)

  it("evaluate prints one line with verbose", function()
    local x, y = quadrants(10)
    local model = tiny()
    local text = captured(function() model:evaluate(x, y, {batch_size = 5, verbose = 2}) end)
    assert.truthy(text:match("^2/2 %- %d+s %d+[mu]?s/step %- loss: %d%.%d+ %- accuracy: %d%.%d+\n$"), text)
  end)
end)

describe("misuse", function()
  local x, y = dnn.randn(6, 2), dnn.tensor{1, 0, 1, 0, 1, 1}

  it("fit, evaluate on a model not compiled", function()
    local model = mlp(2)
    errors_with(function() model:fit(x, y) end, "fit: the model is not compiled; call model:compile{...} first")
    errors_with(function() model:evaluate(x, y) end, "evaluate: the model is not compiled")
    assert.are.same({6, 1}, model:predict(x, {verbose = 0}).shape, "predict needs no compile")
  end)

  it("x and y with different numbers of samples", function()
    local model = mlp(2)
    model:compile{optimizer = "sgd", loss = "binary_crossentropy"}
    errors_with(function() model:fit(x, y:narrow(1, 1, 5), {verbose = 0}) end,
      "fit: x and y have different numbers of samples: 6 and 5")
    errors_with(function() model:evaluate(x, y:narrow(1, 1, 4), {verbose = 0}) end,
      "evaluate: x and y have different numbers of samples: 6 and 4")
    errors_with(function() model:fit(x, nil, {verbose = 0}) end, "fit: expected labels y, got nil")
    errors_with(function() model:fit("x", y, {verbose = 0}) end, "fit: expected x to be a tensor")
  end)

  it("labels whose shape does not match the model's output, naming both shapes", function()
    local model = mlp(2)
    model:compile{optimizer = "sgd", loss = "binary_crossentropy"}
    errors_with(function() model:fit(x, dnn.ones(6, 3), {verbose = 0}) end,
      "fit: the model's output has shape (None, 1) but the labels have shape (None, 3) (loss 'binary_crossentropy')")
    local clf = nn.Sequential{nn.Dense(3, {input_shape = {2}, activation = "softmax"})}
    clf:compile{optimizer = "sgd", loss = "sparse_categorical_crossentropy"}
    errors_with(function() clf:evaluate(x, dnn.ones(6, 3), {verbose = 0}) end,
      "evaluate: the model's output has shape (None, 3) but the labels have shape (None, 3) " ..
      "(loss 'sparse_categorical_crossentropy') (sparse losses take class ids")
    clf:compile{optimizer = "sgd", loss = "categorical_crossentropy"}
    errors_with(function() clf:fit(x, dnn.ones(6), {verbose = 0}) end, "class ids go with sparse_categorical_crossentropy")
  end)

  it("a custom loss that fails names the shapes", function()
    local model = mlp(2)
    model:compile{optimizer = "sgd", loss = function(a, b) return (a - b):mean() end}
    errors_with(function() model:fit(x, dnn.ones(6, 4, 5), {verbose = 0}) end,
      "fit: the loss 'custom' failed on the model's output of shape (None, 1) and labels of shape (None, 4, 5)")
  end)

  it("unknown optimizer, loss and metric names at compile", function()
    local model = mlp(2)
    errors_with(function() model:compile{optimizer = "adamm", loss = "mse"} end, "adamm")
    errors_with(function() model:compile{optimizer = "adam", loss = "msee"} end, "msee")
    errors_with(function() model:compile{optimizer = "adam", loss = "mse", metrics = {"acuracy"}} end, "acuracy")
    errors_with(function() model:compile{optimizer = "adam", loss = "mse", metrics = "accuracy"} end,
      "compile: expected metrics to be a list")
    errors_with(function() model:compile{optimiser = "adam"} end, "compile: unknown option 'optimiser'")
  end)

  it("bad options of fit, evaluate and predict", function()
    local model = mlp(2)
    model:compile{optimizer = "sgd", loss = "binary_crossentropy"}
    errors_with(function() model:fit(x, y, {epoch = 3}) end, "fit: unknown option 'epoch'")
    errors_with(function() model:fit(x, y, {batch_size = 0}) end, "fit: batch_size must be a positive integer, got number 0")
    errors_with(function() model:fit(x, y, {epochs = 1.5}) end, "fit: epochs must be a non-negative integer, got number 1.5")
    errors_with(function() model:fit(x, y, {verbose = 3}) end, "fit: verbose must be 0, 1, 2 or \"auto\", got number 3")
    errors_with(function() model:fit(x, y, {validation_data = {x}}) end, "fit: validation_data must be {x_val, y_val}")
    errors_with(function() model:fit(x, y, {callbacks = {42}, verbose = 0}) end, "fit: callbacks[1] must be a callback")
    errors_with(function() model:evaluate(x, y, {batch = 2}) end, "evaluate: unknown option 'batch'")
    errors_with(function() model:predict(x, {batch_size = -1}) end, "predict: batch_size must be a positive integer")
    errors_with(function() model:predict(dnn.zeros(0, 2)) end, "predict: x has no samples")
  end)
end)
