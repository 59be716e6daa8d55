-- dnn.callbacks, fed sequences of logs through a fake model (weights as
-- numbers, an optimizer with learning_rate), so they are tested without fit;
-- then ModelCheckpoint with a real Sequential model's save_weights.
local dnn = dnn or require "dnn"
local H = require "helpers"
local cb = dnn.callbacks

local function fake_model()
  local model = {weights = 0, saved = {}, optimizer = {learning_rate = 0.1}}
  function model:get_weights() return {self.weights} end
  function model:set_weights(list) self.weights = list[1] end
  function model:save_weights(path) self.saved[#self.saved + 1] = path end
  return model
end

-- Runs callback over epochs, the model's weights set to the epoch number
-- before each epoch ends; returns the epoch training stopped after.
local function run(callback, model, values, key)
  local list = cb.CallbackList({callback}, model, {epochs = #values})
  list:on_train_begin({})
  local last = 0
  for epoch, v in ipairs(values) do
    list:on_epoch_begin(epoch, {})
    model.weights = epoch
    list:on_epoch_end(epoch, {[key or "val_loss"] = v})
    last = epoch
    if model.stop_training then break end
  end
  list:on_train_end({})
  return last
end

local function error_of(fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, "expected an error")
  return tostring(err)
end

describe("CallbackList", function()
  it("calls every hook of objects and plain tables, in order, with self", function()
    local calls = {}
    local plain = {
      on_train_begin = function(self, logs) calls[#calls + 1] = "a:train_begin" .. tostring(self.model ~= nil) end,
      on_epoch_end = function(self, epoch, logs) calls[#calls + 1] = "a:epoch_end " .. epoch .. " " .. logs.loss end,
      on_batch_end = function(self, batch) calls[#calls + 1] = "a:batch_end " .. batch end,
    }
    local lambda = cb.LambdaCallback{on_epoch_end = function(epoch, logs) calls[#calls + 1] = "b:epoch_end " .. epoch end}
    local model = fake_model()
    local list = cb.CallbackList({plain, lambda}, model, {epochs = 2})
    assert.are.equal(model, plain.model)
    assert.are.equal(2, plain.params.epochs)
    list:on_train_begin({})
    list:on_train_batch_end(1, {loss = 1})
    list:on_epoch_end(1, {loss = 0.5})
    list:on_test_begin({}) -- hooks nobody defines are fine
    assert.are.same({"a:train_begin" .. "true", "a:batch_end 1", "a:epoch_end 1 0.5", "b:epoch_end 1"}, calls)
  end)

  it("flattens nested lists, skips nothing, refuses non-tables", function()
    local inner = cb.CallbackList({cb.History()})
    local list = cb.CallbackList({inner, cb.TerminateOnNaN()})
    assert.are.equal(2, #list.callbacks)
    assert.is_truthy(list:find(cb.History))
    assert.matches("callback 1 is a number", error_of(cb.CallbackList, {42}))
  end)

  it("user subclasses of Callback", function()
    local Counter = cb.Callback:extend("Counter")
    function Counter:on_epoch_end() self.n = (self.n or 0) + 1 end
    local c = Counter{n = 10}
    local list = cb.CallbackList({c}, fake_model())
    list:on_epoch_end(1, {})
    list:on_train_batch_end(1, {}) -- inherited no-ops
    assert.are.equal(11, c.n)
    assert.are.equal("Counter()", tostring(c))
  end)
end)

describe("History", function()
  it("records each epoch's logs, and sets model.history", function()
    local h = cb.History()
    local model = fake_model()
    local list = cb.CallbackList({h}, model)
    assert.are.equal(h, model.history)
    list:on_train_begin({})
    list:on_epoch_end(1, {loss = 1, accuracy = 0.5})
    list:on_epoch_end(2, {loss = 0.5, accuracy = 0.75})
    assert.are.same({1, 0.5}, h.history.loss)
    assert.are.same({0.5, 0.75}, h.history.accuracy)
    assert.are.same({1, 2}, h.epoch)
  end)
end)

describe("EarlyStopping", function()
  it("stops after patience epochs without improvement (Keras's counts)", function()
    local model = fake_model()
    local es = cb.EarlyStopping{patience = 2}
    -- best at epoch 2; epochs 3 and 4 do not improve: stop at 4
    assert.are.equal(4, run(es, model, {1.0, 0.5, 0.6, 0.55, 0.1}))
    assert.is_true(model.stop_training)
    assert.are.equal(4, es.stopped_epoch)
    assert.are.equal(2, es.best_epoch)
    assert.are.equal(0.5, es.best)
  end)

  it("patience 0 stops at the first epoch that does not improve", function()
    local model = fake_model()
    assert.are.equal(3, run(cb.EarlyStopping{}, model, {1.0, 0.9, 0.95, 0.1}))
  end)

  it("min_delta: an improvement must be larger than it", function()
    local model = fake_model()
    assert.are.equal(2, run(cb.EarlyStopping{min_delta = 0.1}, model, {1.0, 0.95, 0.5}))
    model = fake_model()
    assert.are.equal(3, run(cb.EarlyStopping{min_delta = 0.1}, model, {1.0, 0.85, 0.8}))
  end)

  it("mode auto maximizes accuracies; mode max and min as asked", function()
    local model = fake_model()
    assert.are.equal(3, run(cb.EarlyStopping{monitor = "val_accuracy"}, model, {0.5, 0.6, 0.55}, "val_accuracy"))
    model = fake_model()
    assert.are.equal(2, run(cb.EarlyStopping{monitor = "val_loss", mode = "max"}, model, {0.5, 0.4}))
    -- a metric the callback does not know: its metric object says, or an error asks for mode
    model = fake_model()
    model.metrics = {{name = "iou", direction = "up"}}
    assert.are.equal(3, run(cb.EarlyStopping{monitor = "val_iou"}, model, {0.1, 0.2, 0.15}, "val_iou"))
    model = fake_model()
    model.compiled = {n_outputs = 2, output_names = {"a", "b"}, metrics = {{}, {{name = "iou", direction = "down"}}}}
    assert.are.equal(2, run(cb.EarlyStopping{monitor = "val_b_iou"}, model, {0.1, 0.2}, "val_b_iou"))
    model = fake_model()
    assert.are.equal(3, run(cb.EarlyStopping{monitor = "val_out_sparse_categorical_accuracy"}, model,
      {0.1, 0.2, 0.15}, "val_out_sparse_categorical_accuracy"))
    model = fake_model()
    assert.are.equal(2, run(cb.EarlyStopping{monitor = "val_out_loss"}, model, {0.1, 0.2}, "val_out_loss"))
    assert.matches("pass mode = 'min'", error_of(run, cb.EarlyStopping{monitor = "dice"}, fake_model(), {1}, "dice"))
    assert.matches("expected mode", error_of(cb.EarlyStopping, {mode = "up"}))
    assert.matches("unknown option 'patiance'", error_of(cb.EarlyStopping, {patiance = 3}))
  end)

  it("restore_best_weights gives back the best epoch's weights at the end", function()
    local model = fake_model()
    run(cb.EarlyStopping{patience = 1, restore_best_weights = true}, model, {1.0, 0.5, 0.7, 0.8})
    assert.are.equal(2, model.weights) -- stopped at epoch 3 with weights 3; epoch 2 was best
    -- also when training ends without stopping (Keras 3)
    model = fake_model()
    run(cb.EarlyStopping{patience = 5, restore_best_weights = true}, model, {1.0, 0.2, 0.7})
    assert.are.equal(2, model.weights)
  end)

  it("baseline: patience restarts only on epochs that beat it", function()
    local model = fake_model()
    -- epoch 1 is the best so far but not below the baseline 0.3, so its wait is not reset: with patience 2,
    -- epoch 2 (no improvement) stops; without the baseline epoch 3 would
    assert.are.equal(2, run(cb.EarlyStopping{patience = 2, baseline = 0.3}, model, {0.9, 0.95, 0.97}))
    model = fake_model()
    assert.are.equal(3, run(cb.EarlyStopping{patience = 2}, model, {0.9, 0.95, 0.97}))
    -- an epoch that improves always goes on (Keras returns before the patience test)
    model = fake_model()
    assert.are.equal(4, run(cb.EarlyStopping{patience = 1, baseline = 0.3}, model, {0.9, 0.8, 0.7, 0.6}))
    model = fake_model()
    assert.are.equal(4, run(cb.EarlyStopping{patience = 2, baseline = 0.3}, model, {0.2, 0.1, 0.15, 0.12, 0.01}))
  end)

  it("start_from_epoch: the first epochs are not watched", function()
    local model = fake_model()
    -- epochs 1 and 2 ignored; 3 is the first best, 4 does not improve
    assert.are.equal(4, run(cb.EarlyStopping{start_from_epoch = 2}, model, {5, 9, 1, 2}))
  end)

  it("warns once and goes on when the value is not logged", function()
    local model = fake_model()
    assert.are.equal(3, run(cb.EarlyStopping{monitor = "val_loss"}, model, {1, 2, 3}, "loss"))
    assert.is_nil(model.stop_training)
  end)

  it("state for checkpoints", function()
    local es = cb.EarlyStopping{patience = 3}
    run(es, fake_model(), {1.0, 0.5, 0.6})
    local other = cb.EarlyStopping{patience = 3}
    other:set_state(es:get_state())
    assert.are.same(es:get_state(), other:get_state())
    assert.are.equal(1, other.wait)
  end)
end)

describe("ModelCheckpoint", function()
  it("formats the file name with Python's format fields", function()
    assert.are.equal("w-03-0.12.st", cb._format_path("w-{epoch:02d}-{val_loss:.2f}.st", {epoch = 3, val_loss = 0.12345}))
    assert.are.equal("e7-1.500e-01", cb._format_path("e{epoch}-{loss:.3e}", {epoch = 7, loss = 0.15}))
    assert.matches("names 'val_acc', which is not in the logs", error_of(cb._format_path, "{val_acc}", {epoch = 1}))
    assert.matches("unsupported format spec", error_of(cb._format_path, "{loss:%x}", {loss = 1}))
  end)

  it("saves every epoch, or only improvements", function()
    local model = fake_model()
    run(cb.ModelCheckpoint{filepath = "m-{epoch}.st"}, model, {1, 2, 3})
    assert.are.same({"m-1.st", "m-2.st", "m-3.st"}, model.saved)
    model = fake_model()
    run(cb.ModelCheckpoint("best-{epoch:02d}.st", {save_best_only = true}), model, {1, 0.5, 0.7, 0.4})
    assert.are.same({"best-01.st", "best-02.st", "best-04.st"}, model.saved)
    model = fake_model()
    run(cb.ModelCheckpoint{"acc.st", monitor = "val_accuracy", save_best_only = true}, model, {0.5, 0.4, 0.6},
      "val_accuracy")
    assert.are.same({"acc.st", "acc.st"}, model.saved)
    model = fake_model()
    run(cb.ModelCheckpoint{"t.st", save_best_only = true, initial_value_threshold = 0.6}, model, {0.7, 0.5})
    assert.are.same({"t.st"}, model.saved)
    assert.matches("expected a filepath", error_of(cb.ModelCheckpoint, {save_best_only = true}))
  end)

  it("writes a real model's weights that load back", function()
    local nn = dnn.nn
    local model = nn.Sequential{nn.Dense(3, {input_shape = {2}}), nn.Dense(1)}
    local dir = os.tmpname()
    os.remove(dir)
    local path = dir .. "-ckpt-{epoch}.safetensors"
    local list = cb.CallbackList({cb.ModelCheckpoint{path, save_best_only = true, monitor = "loss"}}, model)
    list:on_train_begin({})
    local before = model:get_weights()
    list:on_epoch_end(1, {loss = 1})
    dnn.no_grad(function() for _, p in ipairs(model:parameters()) do p:fill(7) end end)
    list:on_epoch_end(2, {loss = 2}) -- worse: not saved
    local file = dir .. "-ckpt-1.safetensors"
    assert.is_nil(io.open(dir .. "-ckpt-2.safetensors"))
    model:load_weights(file)
    local after = model:get_weights()
    for i = 1, #before do assert.are.same(before[i]:totable(), after[i]:totable()) end
    os.remove(file)
  end)
end)

describe("ReduceLROnPlateau", function()
  it("multiplies the rate after patience epochs, then cools down, down to min_lr", function()
    local model = fake_model()
    model.optimizer.learning_rate = 1
    local r = cb.ReduceLROnPlateau{patience = 2, factor = 0.5, cooldown = 1, min_lr = 0.2}
    local list = cb.CallbackList({r}, model)
    list:on_train_begin({})
    local rates = {}
    for epoch, v in ipairs{1, 1, 1, 1, 1, 1, 1, 1, 1, 1} do
      local logs = {val_loss = v}
      list:on_epoch_end(epoch, logs)
      rates[epoch] = model.optimizer.learning_rate
      assert.is_number(logs.lr)
    end
    -- Keras's order: epoch 1 best; 2, 3 wait -> 0.5 at 3 (cooldown 1); epoch 4 ends the cooldown (wait reset)
    -- and, no longer cooling, counts a wait; 5 -> 0.25; 6, 7 -> max(0.125, 0.2) = 0.2; then at min_lr no change
    assert.are.same({1, 1, 0.5, 0.5, 0.25, 0.25, 0.2, 0.2, 0.2, 0.2}, rates)
    -- without cooldown the same values reduce every patience epochs
    model.optimizer.learning_rate = 1
    run(cb.ReduceLROnPlateau{patience = 3, factor = 0.5}, model, {1, 1, 1, 1, 1, 1, 1})
    assert.are.equal(0.25, model.optimizer.learning_rate)
  end)

  it("an improvement larger than min_delta resets the wait", function()
    local model = fake_model()
    model.optimizer.learning_rate = 1
    run(cb.ReduceLROnPlateau{patience = 2, factor = 0.1}, model, {1, 0.9, 0.89995, 0.8, 0.7})
    assert.are.equal(1, model.optimizer.learning_rate)
    run(cb.ReduceLROnPlateau{patience = 2, factor = 0.1}, model, {1, 0.99995, 0.99991})
    assert.are.equal(0.1, model.optimizer.learning_rate)
  end)

  it("reads and refuses what it cannot set", function()
    assert.matches("factor must be < 1", error_of(cb.ReduceLROnPlateau, {factor = 2}))
    local model = fake_model()
    model.optimizer.learning_rate = function() return 0.1 end
    model.optimizer.current_learning_rate = function() return 0.1 end
    assert.matches("is a schedule", error_of(run, cb.ReduceLROnPlateau{patience = 1}, model, {1, 1}))
    local bare = fake_model()
    bare.optimizer = nil
    assert.matches("no optimizer", error_of(run, cb.ReduceLROnPlateau{}, bare, {1}))
  end)
end)

describe("LearningRateScheduler", function()
  it("sets fn(epoch, lr) at each epoch's start, epochs from 1", function()
    local model = fake_model()
    model.optimizer.learning_rate = 1
    local seen = {}
    local s = cb.LearningRateScheduler(function(epoch, lr)
      seen[#seen + 1] = epoch
      return epoch < 3 and lr or lr * 0.5
    end)
    local list = cb.CallbackList({s}, model)
    local rates = {}
    for epoch = 1, 4 do
      list:on_epoch_begin(epoch, {})
      rates[epoch] = model.optimizer.learning_rate
      local logs = {}
      list:on_epoch_end(epoch, logs)
      assert.are.equal(rates[epoch], logs.lr)
    end
    assert.are.same({1, 2, 3, 4}, seen)
    assert.are.same({1, 1, 0.5, 0.25}, rates)
    local bad = cb.LearningRateScheduler(function() return "fast" end)
    cb.CallbackList({bad}, model)
    assert.matches("must return a number", error_of(bad.on_epoch_begin, bad, 1))
    assert.matches("expected a function", error_of(cb.LearningRateScheduler, 0.1))
  end)
end)

describe("CSVLogger", function()
  local function read(path)
    return assert(H.read_file(path), "cannot read " .. path)
  end

  it("writes a header and a row per epoch, sorted keys, val_ columns, NA", function()
    local path = os.tmpname()
    local log = cb.CSVLogger(path)
    local list = cb.CallbackList({log}, fake_model())
    list:on_train_begin({})
    list:on_epoch_end(1, {loss = 0.5, accuracy = 0.75})
    list:on_epoch_end(2, {loss = 0.25, accuracy = 1, val_loss = 0.1, val_accuracy = 0.3})
    list:on_train_end({})
    assert.are.equal("epoch,accuracy,loss,val_accuracy,val_loss\n1,0.75,0.5,NA,NA\n2,1,0.25,0.3,0.1\n", read(path))
    -- append keeps the header, adds rows
    local again = cb.CSVLogger(path, {append = true, separator = ";"})
    list = cb.CallbackList({again}, fake_model())
    list:on_train_begin({})
    list:on_epoch_end(1, {loss = 1 / 3})
    list:on_train_end({})
    assert.matches("\n1;0.3333333333333333;NA\n$", read(path))
    assert.are.equal(1, select(2, read(path):gsub("epoch", "")))
    os.remove(path)
  end)

  it("refuses a file it cannot open", function()
    local log = cb.CSVLogger("/nonexistent-dir/x.csv")
    assert.matches("cannot open /nonexistent%-dir/x.csv", error_of(log.on_train_begin, log, {}))
  end)
end)

describe("TerminateOnNaN", function()
  it("stops at a NaN or infinite loss", function()
    local model = fake_model()
    local list = cb.CallbackList({cb.TerminateOnNaN()}, model)
    list:on_train_batch_end(1, {loss = 0.5})
    assert.is_nil(model.stop_training)
    list:on_train_batch_end(2, {loss = 0 / 0})
    assert.is_true(model.stop_training)
    model.stop_training = nil
    list:on_train_batch_end(3, {loss = math.huge})
    assert.is_true(model.stop_training)
  end)
end)
