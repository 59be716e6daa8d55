-- dnn.callbacks: Keras's callbacks. fit calls them through a CallbackList at
-- each step of training; each callback is an object, or a plain Lua table,
-- with any of these methods (called as cb:method(...), so they take self):
--
--   set_model(model)  set_params(params)
--   on_train_begin(logs)  on_train_end(logs)
--   on_epoch_begin(epoch, logs)  on_epoch_end(epoch, logs)
--   on_train_batch_begin(batch, logs)  on_train_batch_end(batch, logs)   (also on_batch_begin/end)
--   on_test_begin(logs)  on_test_end(logs)  on_test_batch_begin/end(batch, logs)
--   on_predict_begin(logs)  on_predict_end(logs)  on_predict_batch_begin/end(batch, logs)
--
-- Epochs and batches count from 1 (Keras passes 0-based epochs to callbacks
-- but writes 1-based ones in file names and messages; here both are 1-based).
-- logs holds numbers by Keras's names: loss, accuracy, val_loss,
-- val_accuracy, lr. A callback stops training with model.stop_training = true.
-- A plain table without set_model/set_params gets cb.model and cb.params set.
--
-- LambdaCallback{on_epoch_end = function(epoch, logs) ... end} takes
-- functions without self, as Keras's LambdaCallback.
local dnn = require "dnn"
local strict = require "dnn.options"

local M = {}

local HOOKS = {
  "on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_begin", "on_train_batch_end",
  "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end", "on_predict_begin", "on_predict_end",
  "on_predict_batch_begin", "on_predict_batch_end",
}

-- ---- the Callback base: every hook does nothing ----
-- Cls(...) calls Cls.new(...) where the class defines one; otherwise
-- Cls{fields} makes an instance holding those fields (user subclasses:
-- local My = dnn.callbacks.Callback:extend("My"); My{on_epoch_end = ...}).
local function construct(cls, ...)
  local new = rawget(cls, "new")
  if new then return new(...) end
  local fields = ...
  if fields ~= nil and type(fields) ~= "table" then
    error(string.format("%s: expected a table of fields, got %s", cls.type_name, strict.describe(fields)), 2)
  end
  return setmetatable(fields or {}, cls)
end

local Callback = setmetatable({type_name = "Callback"}, {__call = construct})
Callback.__index = Callback
M.Callback = Callback

function Callback:extend(type_name)
  local cls = setmetatable({}, {__index = self, __call = construct})
  cls.__index = cls
  cls.__tostring = Callback.__tostring
  cls.type_name = type_name
  return cls
end

function Callback:__tostring()
  return (self.type_name or "Callback") .. "()"
end

function Callback:set_model(model) self.model = model end
function Callback:set_params(params) self.params = params end
for _, hook in ipairs(HOOKS) do Callback[hook] = function() end end
-- Keras: the train-batch hooks call on_batch_begin/end, which subclasses may define instead.
function Callback:on_batch_begin() end
function Callback:on_batch_end() end
function Callback:on_train_batch_begin(batch, logs) return self:on_batch_begin(batch, logs) end
function Callback:on_train_batch_end(batch, logs) return self:on_batch_end(batch, logs) end

-- Checks an options table against the names a callback takes (a set).
local function options_of(type_name, options, known)
  return strict.check(type_name, options, known)
end

local function known(...)
  local set = {}
  for _, k in ipairs{...} do set[k] = true end
  return set
end

local function warn(msg)
  io.stderr:write("WARNING: ", msg, "\n")
end

local function sorted_keys(logs)
  local keys = {}
  for k in pairs(logs or {}) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  return keys
end

-- ---- CallbackList: what fit calls ----
local CallbackList = Callback:extend("CallbackList")
M.CallbackList = CallbackList

-- CallbackList(list, model, params): list an array of callbacks (nested
-- CallbackLists are flattened, nil entries skipped).
function CallbackList.new(list, model, params)
  if list ~= nil and type(list) ~= "table" then
    error(string.format("CallbackList: expected an array of callbacks, got %s", type(list)), 2)
  end
  local self = setmetatable({callbacks = {}}, CallbackList)
  for i, cb in ipairs(list or {}) do
    if getmetatable(cb) == CallbackList then
      for _, inner in ipairs(cb.callbacks) do self:append(inner) end
    elseif type(cb) ~= "table" then
      error(string.format("CallbackList: callback %d is a %s, expected a table of methods", i, type(cb)), 2)
    else
      self:append(cb)
    end
  end
  if model ~= nil then self:set_model(model) end
  if params ~= nil then self:set_params(params) end
  return self
end

function CallbackList:append(cb)
  self.callbacks[#self.callbacks + 1] = cb
  if self.model ~= nil then self:_give(cb, "set_model", "model", self.model) end
  if self.params ~= nil then self:_give(cb, "set_params", "params", self.params) end
end

function CallbackList:_give(cb, method, field, value)
  if type(cb[method]) == "function" then
    cb[method](cb, value)
  else
    cb[field] = value
  end
end

function CallbackList:set_model(model)
  self.model = model
  for _, cb in ipairs(self.callbacks) do self:_give(cb, "set_model", "model", model) end
end

function CallbackList:set_params(params)
  self.params = params
  for _, cb in ipairs(self.callbacks) do self:_give(cb, "set_params", "params", params) end
end

-- Every hook calls each callback's method of that name, in the list's order,
-- all with the same logs table (a callback may add to it: ReduceLROnPlateau
-- writes lr for the ones after it, as Keras).
local function dispatch(hook, fallback)
  return function(self, ...)
    for _, cb in ipairs(self.callbacks) do
      local fn = cb[hook] or (fallback and cb[fallback])
      if fn then fn(cb, ...) end
    end
  end
end
for _, hook in ipairs(HOOKS) do CallbackList[hook] = dispatch(hook) end
CallbackList.on_train_batch_begin = dispatch("on_train_batch_begin", "on_batch_begin")
CallbackList.on_train_batch_end = dispatch("on_train_batch_end", "on_batch_end")

-- The first callback of class cls in the list, or nil (fit looks for its History).
function CallbackList:find(cls)
  for _, cb in ipairs(self.callbacks) do
    if getmetatable(cb) == cls then return cb end
  end
end

-- ---- LambdaCallback: functions without self ----
local LambdaCallback = Callback:extend("LambdaCallback")
M.LambdaCallback = LambdaCallback

function LambdaCallback.new(options)
  local hooks = {}
  for _, h in ipairs(HOOKS) do hooks[h] = true end
  hooks.on_batch_begin, hooks.on_batch_end = true, true
  options = options_of("LambdaCallback", options, hooks)
  local self = setmetatable({}, LambdaCallback)
  for name, fn in pairs(options) do
    if type(fn) ~= "function" then
      error(string.format("LambdaCallback: '%s' must be a function, got %s", name, strict.describe(fn)), 2)
    end
    self[name] = function(_, ...) return fn(...) end
  end
  return self
end

-- ---- History: each epoch's logs ----
-- fit returns it: history.history.loss[epoch], history.epoch = {1, 2, ...}.
local History = Callback:extend("History")
M.History = History

function History.new(options)
  options_of("History", options, {})
  return setmetatable({history = {}, epoch = {}}, History)
end

function History:set_model(model)
  self.model = model
  model.history = self
end

function History:on_train_begin()
  self.epoch = {}
end

function History:on_epoch_end(epoch, logs)
  self.epoch[#self.epoch + 1] = epoch
  for _, k in ipairs(sorted_keys(logs)) do
    local list = self.history[k]
    if not list then
      list = {}
      self.history[k] = list
    end
    list[#list + 1] = logs[k]
  end
end

-- What fit's backup (BackupAndRestore) keeps of it: the epochs and their logs.
function History:get_state() return {history = self.history, epoch = self.epoch} end

function History:set_state(state)
  self.history, self.epoch = state.history or {}, state.epoch or {}
end

-- ---- monitoring a logged value ----

-- Names of values where bigger is better (Keras reads each metric's own
-- direction; these are ours, and a model's metric objects say theirs).
local MAXIMIZED = known("accuracy", "acc", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
  "precision", "recall", "f1_score", "auc", "top_k_categorical_accuracy")
local MINIMIZED = known("loss", "mae", "mse", "mean_absolute_error", "mean_squared_error")

-- The direction ("up"/"down") of the compiled metric logged as name: the
-- model's compiled metrics (a list per output; logged as "<output>_<name>"
-- with several outputs) or a flat model.metrics list.
local function metric_direction(model, name)
  if type(model) ~= "table" then return nil end
  local c = type(model.compiled) == "table" and model.compiled or {}
  for i, list in ipairs(type(c.metrics) == "table" and c.metrics or {}) do
    local prefix = (c.n_outputs or 1) > 1 and type(c.output_names) == "table" and c.output_names[i] and
      (c.output_names[i] .. "_") or ""
    for _, m in ipairs(type(list) == "table" and list or {}) do
      if type(m) == "table" and (prefix .. tostring(m.name) == name or m.name == name) then return m.direction end
    end
  end
  for _, m in ipairs(type(model.metrics) == "table" and model.metrics or {}) do
    if type(m) == "table" and m.name == name then return m.direction end
  end
end

-- A known name, or one with an output's prefix ("out_accuracy", "out_loss").
local function known_direction(name)
  if MINIMIZED[name] then return "min" end
  if MAXIMIZED[name] then return "max" end
  local suffix = name:match("_([%a_]-)$")
  while suffix do
    if MINIMIZED[suffix] then return "min" end
    if MAXIMIZED[suffix] then return "max" end
    suffix = suffix:match("^[^_]*_(.+)$")
  end
end

-- "min" or "max" for monitor under mode ("auto" as Keras 3: loss and known
-- metrics by their direction, a compiled metric object by its own).
local function resolve_mode(type_name, monitor, mode, model)
  if mode == "min" or mode == "max" then return mode end
  if mode ~= "auto" then
    error(string.format("%s: expected mode 'auto', 'min' or 'max', got '%s'", type_name, tostring(mode)), 4)
  end
  local base = monitor:gsub("^val_", "")
  local direction = metric_direction(model, base)
  if direction == "up" or direction == "down" then return direction == "up" and "max" or "min" end
  local known_mode = known_direction(base)
  if known_mode then return known_mode end
  error(string.format("%s: cannot tell whether '%s' should be minimized or maximized: pass mode = 'min' or " ..
    "mode = 'max'", type_name, monitor), 4)
end

local function monitored(self, logs, what)
  local v = logs and logs[self.monitor]
  if type(v) ~= "number" then
    if not self._warned then
      warn(string.format("%s conditioned on '%s', which is not in the logs. Available: %s", what, self.monitor,
        table.concat(sorted_keys(logs), ", ")))
      self._warned = true
    end
    return nil
  end
  return v
end

-- ---- EarlyStopping ----
-- Keras 3's: stops when monitor has not improved by more than min_delta for
-- patience epochs. With baseline, patience only restarts on an epoch that also
-- beats the baseline. start_from_epoch: the first epochs not watched at all.
-- restore_best_weights: at the end of training the model gets the weights of
-- its best epoch back (through model:get_weights()/set_weights()).
local EarlyStopping = Callback:extend("EarlyStopping")
M.EarlyStopping = EarlyStopping

function EarlyStopping.new(options)
  options = options_of("EarlyStopping", options,
    known("monitor", "min_delta", "patience", "verbose", "mode", "baseline", "restore_best_weights",
      "start_from_epoch"))
  local self = setmetatable({}, EarlyStopping)
  self.monitor = options.monitor or "val_loss"
  strict.check_numbers("EarlyStopping", options, {min_delta = {}, patience = {min = 0, integer = true},
    start_from_epoch = {min = 0, integer = true}})
  self.min_delta = math.abs(options.min_delta or 0)
  self.patience = options.patience or 0
  self.verbose = options.verbose or 0
  self.mode = options.mode or "auto"
  self.baseline = options.baseline
  self.restore_best_weights = options.restore_best_weights == true
  self.start_from_epoch = options.start_from_epoch or 0
  if self.mode ~= "auto" then resolve_mode("EarlyStopping", self.monitor, self.mode) end
  self.wait, self.stopped_epoch, self.best_epoch = 0, 0, 0
  return self
end

function EarlyStopping:on_train_begin()
  self.wait, self.stopped_epoch, self.best_epoch = 0, 0, 0
  self.best, self.best_weights = nil, nil
end

function EarlyStopping:_is_improvement(value, reference)
  if reference == nil then return true end
  if self.resolved_mode == "min" then return value + self.min_delta < reference end
  return value - self.min_delta > reference
end

function EarlyStopping:on_epoch_end(epoch, logs)
  self.resolved_mode = self.resolved_mode or resolve_mode("EarlyStopping", self.monitor, self.mode, self.model)
  local current = monitored(self, logs, "Early stopping")
  if current == nil or epoch <= self.start_from_epoch then return end
  if self.restore_best_weights and self.best_weights == nil then
    self.best_weights = self.model:get_weights() -- until something beats it, this epoch is the best
    self.best_epoch = epoch
  end
  self.wait = self.wait + 1
  if self:_is_improvement(current, self.best) then
    self.best = current
    self.best_epoch = epoch
    if self.restore_best_weights then self.best_weights = self.model:get_weights() end
    if self.baseline == nil or self:_is_improvement(current, self.baseline) then self.wait = 0 end
    return
  end
  if self.wait >= self.patience and epoch > 1 then
    self.stopped_epoch = epoch
    self.model.stop_training = true
  end
end

function EarlyStopping:on_train_end()
  if self.stopped_epoch > 0 and self.verbose > 0 then
    print(string.format("Epoch %d: early stopping", self.stopped_epoch))
  end
  if self.restore_best_weights and self.best_weights ~= nil then
    if self.verbose > 0 then
      print(string.format("Restoring model weights from the end of the best epoch: %d.", self.best_epoch))
    end
    self.model:set_weights(self.best_weights)
  end
end

-- What a checkpoint needs to resume this callback where it was.
function EarlyStopping:get_state()
  return {wait = self.wait, best = self.best, best_epoch = self.best_epoch, stopped_epoch = self.stopped_epoch}
end

function EarlyStopping:set_state(state)
  self.wait, self.best = state.wait or 0, state.best
  self.best_epoch, self.stopped_epoch = state.best_epoch or 0, state.stopped_epoch or 0
end

-- ---- file names with Python's format fields ----
-- "w-{epoch:02d}-{val_loss:.2f}.safetensors": each {name} or {name:spec}
-- is logs[name] (epoch is the 1-based epoch) under the printf spec, as
-- Python's str.format does for these specs (d, f, e, g, with width/precision).
local function format_path(template, values)
  return (template:gsub("{([%w_]+)(:?)([^}]*)}", function(name, colon, spec)
    local v = values[name]
    if v == nil then
      error(string.format("ModelCheckpoint: the filepath '%s' names '%s', which is not in the logs (%s)", template,
        name, table.concat(sorted_keys(values), ", ")), 0)
    end
    if colon == "" or spec == "" then
      if type(v) == "number" and v == math.floor(v) and math.abs(v) < 2 ^ 53 then return string.format("%d", v) end
      return tostring(v)
    end
    if not spec:match("^[-+0 #]*%d*%.?%d*[dfeEgGs]$") then
      error(string.format("ModelCheckpoint: unsupported format spec '%s' in '%s'", spec, template), 0)
    end
    if spec:sub(-1) == "d" then v = math.floor(v + 0.5) end
    return string.format("%" .. spec, v)
  end))
end
M._format_path = format_path

-- ---- ModelCheckpoint ----
-- Saves the model (its weights, by model:save_weights, unless
-- save_weights_only = false: then model:save) at the end of each epoch,
-- or with save_best_only only when monitor improved on the best so far
-- (initial_value_threshold: a value it must beat first).
local ModelCheckpoint = Callback:extend("ModelCheckpoint")
M.ModelCheckpoint = ModelCheckpoint

function ModelCheckpoint.new(filepath, options)
  if type(filepath) == "table" and options == nil then
    options = filepath
    filepath = options.filepath or options[1]
  end
  if type(filepath) ~= "string" then
    error(string.format("ModelCheckpoint: expected a filepath (string), got %s", strict.describe(filepath)), 2)
  end
  local opts = {}
  for k, v in pairs(options or {}) do
    if k ~= "filepath" and k ~= 1 then opts[k] = v end
  end
  opts = options_of("ModelCheckpoint", opts,
    known("monitor", "verbose", "save_best_only", "save_weights_only", "mode", "initial_value_threshold"))
  local self = setmetatable({}, ModelCheckpoint)
  self.filepath = filepath
  self.monitor = opts.monitor or "val_loss"
  self.verbose = opts.verbose or 0
  self.save_best_only = opts.save_best_only == true
  self.save_weights_only = opts.save_weights_only ~= false
  self.mode = opts.mode or "auto"
  if self.mode ~= "auto" then resolve_mode("ModelCheckpoint", self.monitor, self.mode) end
  self.initial_value_threshold = opts.initial_value_threshold
  self.best = self.initial_value_threshold
  return self
end

function ModelCheckpoint:_improved(current)
  if self.best == nil then return true end
  if self.resolved_mode == "min" then return current < self.best end
  return current > self.best
end

function ModelCheckpoint:_save(path)
  if self.save_weights_only then
    self.model:save_weights(path)
  else
    if type(self.model.save) ~= "function" then
      error("ModelCheckpoint: the model has no save method (use save_weights_only = true)", 0)
    end
    self.model:save(path)
  end
end

function ModelCheckpoint:on_epoch_end(epoch, logs)
  local values = {epoch = epoch}
  for k, v in pairs(logs or {}) do values[k] = v end
  local path = format_path(self.filepath, values)
  if not self.save_best_only then
    if self.verbose > 0 then print(string.format("Epoch %d: saving model to %s", epoch, path)) end
    return self:_save(path)
  end
  self.resolved_mode = self.resolved_mode or resolve_mode("ModelCheckpoint", self.monitor, self.mode, self.model)
  local current = monitored(self, logs, "ModelCheckpoint")
  if current == nil then return end
  if self:_improved(current) then
    if self.verbose > 0 then
      print(string.format("Epoch %d: %s improved from %s to %.5f, saving model to %s", epoch, self.monitor,
        self.best and string.format("%.5f", self.best) or (self.resolved_mode == "min" and "inf" or "-inf"), current,
        path))
    end
    self.best = current
    self:_save(path)
  elseif self.verbose > 0 then
    print(string.format("Epoch %d: %s did not improve from %.5f", epoch, self.monitor, self.best))
  end
end

function ModelCheckpoint:get_state() return {best = self.best} end
function ModelCheckpoint:set_state(state) self.best = state.best end

-- ---- learning rates ----

local function optimizer_of(type_name, model)
  local opt = type(model) == "table" and model.optimizer
  if type(opt) ~= "table" then
    error(string.format("%s: the model has no optimizer (compile it first)", type_name), 0)
  end
  return opt
end

local function current_lr(opt)
  if type(opt.current_learning_rate) == "function" then return opt:current_learning_rate() end
  return opt.learning_rate
end

local function set_lr(type_name, opt, lr)
  if type(opt.learning_rate) ~= "number" and opt.learning_rate ~= nil then
    error(string.format("%s: the optimizer's learning_rate is a schedule, which this callback cannot set (give " ..
      "the optimizer a number)", type_name), 0)
  end
  opt.learning_rate = lr
end

-- ReduceLROnPlateau: multiplies the learning rate by factor when monitor has
-- not improved by min_delta for patience epochs, then waits cooldown epochs;
-- never below min_lr. Keras 3's rules; writes logs.lr.
local ReduceLROnPlateau = Callback:extend("ReduceLROnPlateau")
M.ReduceLROnPlateau = ReduceLROnPlateau

function ReduceLROnPlateau.new(options)
  options = options_of("ReduceLROnPlateau", options,
    known("monitor", "factor", "patience", "verbose", "mode", "min_delta", "cooldown", "min_lr"))
  local self = setmetatable({}, ReduceLROnPlateau)
  self.monitor = options.monitor or "val_loss"
  self.factor = options.factor or 0.1
  if type(self.factor) == "number" and self.factor >= 1 then
    error(string.format("ReduceLROnPlateau: factor must be < 1, got %s", tostring(self.factor)), 2)
  end
  strict.check_numbers("ReduceLROnPlateau", options, {factor = {min = 0, below = 1}, patience = {min = 0, integer = true},
    cooldown = {min = 0, integer = true}, min_lr = {min = 0}, min_delta = {min = 0}})
  self.patience = options.patience or 10
  self.verbose = options.verbose or 0
  self.mode = options.mode or "auto"
  self.min_delta = options.min_delta or 1e-4
  self.cooldown = options.cooldown or 0
  self.min_lr = options.min_lr or 0
  if self.mode ~= "auto" then resolve_mode("ReduceLROnPlateau", self.monitor, self.mode) end
  self:_reset()
  return self
end

function ReduceLROnPlateau:_reset()
  self.wait, self.cooldown_counter, self.best = 0, 0, nil
end

function ReduceLROnPlateau:on_train_begin()
  self:_reset()
end

function ReduceLROnPlateau:_improved(current)
  if self.best == nil then return true end
  if self.resolved_mode == "min" then return current < self.best - self.min_delta end
  return current > self.best + self.min_delta
end

function ReduceLROnPlateau:on_epoch_end(epoch, logs)
  local opt = optimizer_of("ReduceLROnPlateau", self.model)
  if logs then logs.lr = current_lr(opt) end
  self.resolved_mode = self.resolved_mode or resolve_mode("ReduceLROnPlateau", self.monitor, self.mode, self.model)
  local current = monitored(self, logs, "Learning rate reduction")
  if current == nil then return end
  if self.cooldown_counter > 0 then
    self.cooldown_counter = self.cooldown_counter - 1
    self.wait = 0
  end
  if self:_improved(current) then
    self.best = current
    self.wait = 0
  elseif self.cooldown_counter <= 0 then
    self.wait = self.wait + 1
    if self.wait >= self.patience then
      local old = current_lr(opt)
      if old > self.min_lr then
        local new = math.max(old * self.factor, self.min_lr)
        set_lr("ReduceLROnPlateau", opt, new)
        if self.verbose > 0 then
          print(string.format("Epoch %d: ReduceLROnPlateau reducing learning rate to %g.", epoch, new))
        end
        self.cooldown_counter = self.cooldown
        self.wait = 0
      end
    end
  end
end

function ReduceLROnPlateau:get_state()
  return {wait = self.wait, cooldown_counter = self.cooldown_counter, best = self.best}
end

function ReduceLROnPlateau:set_state(state)
  self.wait, self.cooldown_counter, self.best = state.wait or 0, state.cooldown_counter or 0, state.best
end

-- LearningRateScheduler(fn): at the start of each epoch the learning rate
-- becomes fn(epoch, lr), epoch 1-based (Keras passes 0-based epochs here;
-- ours count from 1 everywhere). Writes logs.lr at the epoch's end.
local LearningRateScheduler = Callback:extend("LearningRateScheduler")
M.LearningRateScheduler = LearningRateScheduler

function LearningRateScheduler.new(schedule, options)
  if type(schedule) == "table" and options == nil and schedule.schedule then
    options, schedule = schedule, schedule.schedule
  end
  options_of("LearningRateScheduler", options, known("schedule", "verbose"))
  if type(schedule) ~= "function" then
    error(string.format("LearningRateScheduler: expected a function (epoch, lr) -> lr, got %s",
      strict.describe(schedule)), 2)
  end
  local self = setmetatable({}, LearningRateScheduler)
  self.schedule = schedule
  self.verbose = options and options.verbose or 0
  return self
end

function LearningRateScheduler:on_epoch_begin(epoch)
  local opt = optimizer_of("LearningRateScheduler", self.model)
  local lr = self.schedule(epoch, current_lr(opt))
  if dnn.is_tensor(lr) then lr = lr:item() end
  if type(lr) ~= "number" or lr ~= lr then
    error(string.format("LearningRateScheduler: the schedule must return a number, got %s for epoch %d",
      tostring(lr), epoch), 0)
  end
  set_lr("LearningRateScheduler", opt, lr)
  if self.verbose > 0 then
    print(string.format("Epoch %d: LearningRateScheduler setting learning rate to %g.", epoch, lr))
  end
end

function LearningRateScheduler:on_epoch_end(_, logs)
  if logs then logs.lr = current_lr(optimizer_of("LearningRateScheduler", self.model)) end
end

-- ---- CSVLogger ----
-- One row per epoch: epoch, then the logs' keys sorted (Keras's order), the
-- val_ columns added up front when the first epoch has none (validation
-- every few epochs); a missing value is written NA. append = true adds to
-- an existing file (its header kept).

-- The shortest text that reads back as the same number (Python's repr).
local function number_text(v)
  if v ~= v then return "nan" end
  if v == math.huge then return "inf" end
  if v == -math.huge then return "-inf" end
  if math.type(v) == "integer" then return tostring(v) end
  for digits = 1, 17 do
    local s = string.format("%." .. digits .. "g", v)
    if tonumber(s) == v then
      if not s:find("[%.eEn]") then s = s .. ".0" end
      return s
    end
  end
  return string.format("%.17g", v)
end
M._number_text = number_text

local CSVLogger = Callback:extend("CSVLogger")
M.CSVLogger = CSVLogger

function CSVLogger.new(filename, options)
  if type(filename) == "table" and options == nil then
    options = filename
    filename = options.filename or options[1]
  end
  if type(filename) ~= "string" then
    error(string.format("CSVLogger: expected a file name (string), got %s", strict.describe(filename)), 2)
  end
  local opts = {}
  for k, v in pairs(options or {}) do
    if k ~= "filename" and k ~= 1 then opts[k] = v end
  end
  opts = options_of("CSVLogger", opts, known("separator", "append"))
  local self = setmetatable({}, CSVLogger)
  self.filename = filename
  self.separator = opts.separator or ","
  self.append = opts.append == true
  return self
end

function CSVLogger:on_train_begin()
  self.append_header = true
  if self.append then
    local f = io.open(self.filename, "r")
    if f then
      local first = f:read("l")
      f:close()
      self.append_header = not (first and #first > 0)
    end
  end
  -- opened (and emptied, unless append) at the first row: a resumed fit's
  -- set_state still finds the rows of the run it continues
  local probe, err = io.open(self.filename, "a")
  if not probe then error(string.format("CSVLogger: cannot open %s: %s", self.filename, err), 0) end
  probe:close()
  if self.file then self.file:close() end
  self.file, self.keys, self.began = nil, nil, true
end

function CSVLogger:_open()
  local file, err = io.open(self.filename, self.append and "a" or "w")
  if not file then error(string.format("CSVLogger: cannot open %s: %s", self.filename, err), 0) end
  self.file = file
end

local function csv_field(v, sep)
  local s = type(v) == "number" and number_text(v) or tostring(v)
  if s:find(sep, 1, true) or s:find('[\n"]') then s = '"' .. s:gsub('"', '""') .. '"' end
  return s
end

function CSVLogger:on_epoch_end(epoch, logs)
  logs = logs or {}
  if not self.began then self:on_train_begin() end
  if not self.file then self:_open() end
  if not self.keys then
    self.keys = sorted_keys(logs)
    local has_val = false
    for _, k in ipairs(self.keys) do has_val = has_val or k:sub(1, 4) == "val_" end
    if not has_val and #self.keys > 0 then
      local n = #self.keys
      for i = 1, n do self.keys[#self.keys + 1] = "val_" .. self.keys[i] end
    end
    if self.append_header then
      local header = {"epoch"}
      for _, k in ipairs(self.keys) do header[#header + 1] = csv_field(k, self.separator) end
      self.file:write(table.concat(header, self.separator), "\n")
    end
  end
  local row = {csv_field(epoch, self.separator)}
  for _, k in ipairs(self.keys) do
    local v = logs[k]
    row[#row + 1] = v == nil and "NA" or csv_field(v, self.separator)
  end
  self.file:write(table.concat(row, self.separator), "\n")
  self.file:flush()
end

function CSVLogger:on_train_end()
  if self.file then self.file:close() end
  self.file, self.began = nil, nil
end

-- What a resumed fit needs: the columns and the bytes written so far (a row
-- written after the last backup is cut off on resume, so it is not doubled).
function CSVLogger:get_state()
  return {keys = self.keys, size = self.file and self.file:seek("cur") or nil}
end

function CSVLogger:set_state(state)
  if not state.size then return end -- saved before its first row: nothing to keep
  if self.file then self.file:close() end
  local kept = ""
  local f = io.open(self.filename, "rb")
  if f then
    kept = f:read(state.size) or ""
    f:close()
  end
  local file, err = io.open(self.filename, "wb")
  if not file then error(string.format("CSVLogger: cannot open %s: %s", self.filename, err), 0) end
  file:write(kept)
  file:flush()
  self.file, self.keys, self.append_header = file, state.keys, #kept == 0
end

-- ---- TerminateOnNaN ----
-- Stops training at the first batch whose loss is NaN or infinite.
local TerminateOnNaN = Callback:extend("TerminateOnNaN")
M.TerminateOnNaN = TerminateOnNaN

function TerminateOnNaN.new(options)
  options_of("TerminateOnNaN", options, {})
  return setmetatable({}, TerminateOnNaN)
end

function TerminateOnNaN:on_batch_end(batch, logs)
  local loss = logs and logs.loss
  if type(loss) == "number" and (loss ~= loss or loss == math.huge or loss == -math.huge) then
    print(string.format("Batch %d: Invalid loss, terminating training", batch))
    self.model.stop_training = true
  end
end


-- ---- BackupAndRestore ----
-- Keras's BackupAndRestore: fit saves everything it needs to go on into
-- backup_dir (at each epoch's end, and every save_freq steps when that is a
-- number), and a fit run again with the same directory continues from
-- there; the backup is deleted when fit ends normally (delete_checkpoint).
-- The saving and restoring are fit's (lua/dnn/backup.lua); this object
-- holds the settings. fit{backup_dir = dir} makes one.
local BackupAndRestore = Callback:extend("BackupAndRestore")
M.BackupAndRestore = BackupAndRestore

function BackupAndRestore.new(options)
  if type(options) == "string" then options = {backup_dir = options} end
  options = options_of("BackupAndRestore", options, known("backup_dir", "save_freq", "delete_checkpoint"))
  local dir = options.backup_dir
  if type(dir) ~= "string" or dir == "" then
    error(string.format("BackupAndRestore: expected backup_dir, a directory (string), got %s", strict.describe(dir)), 2)
  end
  local freq = options.save_freq or "epoch"
  if freq ~= "epoch" and (math.type(freq) ~= "integer" or freq < 1) then
    error(string.format("BackupAndRestore: save_freq must be \"epoch\" or a number of steps >= 1, got %s",
      strict.describe(freq)), 2)
  end
  local self = setmetatable({}, BackupAndRestore)
  self.backup_dir, self.save_freq = dir, freq
  self.delete_checkpoint = options.delete_checkpoint ~= false
  return self
end

-- The one file of the backup (written atomically: a kill mid-write leaves the previous one).
function BackupAndRestore:path() return self.backup_dir .. "/backup.safetensors" end

-- fit ran to its end: the backup has served.
function BackupAndRestore:on_train_end()
  if self.delete_checkpoint then os.remove(self:path()) end
end

-- ---- reference ----

--- @module dnn.callbacks Callbacks for fit (Keras's)
-- `fit(x, y, {callbacks = {...}})` calls each callback's hooks. A callback
-- is an object of these classes, a `Callback:extend` subclass, or a plain
-- table with any hook methods. `logs` holds numbers by Keras's names
-- (`loss`, `accuracy`, `val_loss`, `lr`). Epochs and batches count from 1.
-- A callback stops training with `self.model.stop_training = true`.

--- dnn.callbacks.Callback([fields])
-- The base: every hook does nothing. `Callback{on_epoch_end = function(self, epoch, logs) ... end}`
-- makes one from a table of methods.
-- @example local cb = dnn.callbacks.Callback{on_epoch_end = function(self, epoch, logs) print(epoch, logs.loss) end}

--- dnn.callbacks.Callback:extend(type_name)
-- A subclass (a custom callback class).
-- @example local Printer = dnn.callbacks.Callback:extend("Printer")

--- dnn.callbacks.Callback:set_model(model)
-- Called by fit with the model (kept as `self.model`).
-- @example cb:set_model(model)

--- dnn.callbacks.Callback:set_params(params)
-- Called by fit with `{epochs, steps, verbose}` (kept as `self.params`).
-- @example cb:set_params{epochs = 1}

--- dnn.callbacks.Callback:on_train_begin(logs)
-- At the start of fit.
-- @example function cb:on_train_begin(logs) end

--- dnn.callbacks.Callback:on_train_end(logs)
-- At the end of fit.
-- @example function cb:on_train_end(logs) end

--- dnn.callbacks.Callback:on_epoch_begin(epoch, logs)
-- At the start of each epoch (1-based).
-- @example function cb:on_epoch_begin(epoch) end

--- dnn.callbacks.Callback:on_epoch_end(epoch, logs)
-- At the end of each epoch, with the epoch's logs (validation included).
-- @example function cb:on_epoch_end(epoch, logs) print(logs.val_loss) end

--- dnn.callbacks.Callback:on_train_batch_begin(batch, logs)
-- Before each training batch (calls `on_batch_begin`).
-- @example function cb:on_train_batch_begin(batch) end

--- dnn.callbacks.Callback:on_train_batch_end(batch, logs)
-- After each training batch (calls `on_batch_end`), logs the running loss and metrics.
-- @example function cb:on_train_batch_end(batch, logs) end

--- dnn.callbacks.Callback:on_batch_begin(batch, logs)
-- Keras's older name of `on_train_batch_begin`.
-- @example function cb:on_batch_begin(batch) end

--- dnn.callbacks.Callback:on_batch_end(batch, logs)
-- Keras's older name of `on_train_batch_end`.
-- @example function cb:on_batch_end(batch, logs) end

--- dnn.callbacks.Callback:on_test_begin(logs)
-- At the start of evaluate (and of fit's validation).
-- @example function cb:on_test_begin(logs) end

--- dnn.callbacks.Callback:on_test_end(logs)
-- At the end of evaluate.
-- @example function cb:on_test_end(logs) end

--- dnn.callbacks.Callback:on_test_batch_begin(batch, logs)
-- Before each evaluation batch.
-- @example function cb:on_test_batch_begin(batch) end

--- dnn.callbacks.Callback:on_test_batch_end(batch, logs)
-- After each evaluation batch.
-- @example function cb:on_test_batch_end(batch, logs) end

--- dnn.callbacks.Callback:on_predict_begin(logs)
-- At the start of predict.
-- @example function cb:on_predict_begin(logs) end

--- dnn.callbacks.Callback:on_predict_end(logs)
-- At the end of predict.
-- @example function cb:on_predict_end(logs) end

--- dnn.callbacks.Callback:on_predict_batch_begin(batch, logs)
-- Before each predict batch.
-- @example function cb:on_predict_batch_begin(batch) end

--- dnn.callbacks.Callback:on_predict_batch_end(batch, logs)
-- After each predict batch.
-- @example function cb:on_predict_batch_end(batch) end

--- dnn.callbacks.CallbackList(list[, model[, params]])
-- What fit calls: each hook calls the callbacks' hooks in order with one
-- shared `logs` table. Nested lists are flattened.
-- @example local cbs = dnn.callbacks.CallbackList({dnn.callbacks.TerminateOnNaN()}, model)

--- dnn.callbacks.CallbackList:append(callback)
-- Adds a callback at the end.
-- @example cbs:append(dnn.callbacks.History())

--- dnn.callbacks.CallbackList:find(cls)
-- The first callback of class `cls` in the list, or nil.
-- @example local h = cbs:find(dnn.callbacks.History)

--- dnn.callbacks.LambdaCallback(hooks)
-- A callback from functions without self: `{on_epoch_end = function(epoch, logs) ... end}` (any hook names).
-- @example local cb = dnn.callbacks.LambdaCallback{on_epoch_end = function(epoch, logs) print(epoch, logs.loss) end}

--- dnn.callbacks.History()
-- Records each epoch's logs; fit returns it: `h.history.loss[epoch]`, `h.epoch = {1, 2, ...}`.
-- @example print(model:fit(x, y).history.loss[1])

--- dnn.callbacks.EarlyStopping([options])
-- Stops training when `monitor` has not improved by more than `min_delta` for `patience` epochs.
-- @option monitor="val_loss" the logged value watched
-- @option min_delta=0 the smallest change that counts as an improvement
-- @option patience=0 epochs without improvement before stopping
-- @option verbose=0 1 prints when it stops
-- @option mode="auto" `"min"`, `"max"`, or `"auto"` (from the value's name)
-- @option baseline=nil a value the monitor must beat
-- @option restore_best_weights=false give the model its best epoch's weights at the end
-- @option start_from_epoch=0 epochs not watched at the start
-- @example local es = dnn.callbacks.EarlyStopping{monitor = "val_loss", patience = 3, restore_best_weights = true}

--- dnn.callbacks.EarlyStopping:get_state()
-- What a checkpoint needs to resume this callback (`dnn.checkpoint`).
-- @example local s = es:get_state()

--- dnn.callbacks.EarlyStopping:set_state(state)
-- Restores `get_state`'s table.
-- @example es:set_state(s)

--- dnn.callbacks.ModelCheckpoint(filepath[, options])
-- Saves the model at the end of each epoch (or only when `monitor`
-- improved). `filepath` may hold Python format fields:
-- `"w-{epoch:02d}-{val_loss:.2f}.safetensors"`.
-- @param filepath the file to write (also `{filepath = ...}`)
-- @option monitor="val_loss" the logged value watched
-- @option verbose=0 1 prints each save
-- @option save_best_only=false save only on improvement
-- @option save_weights_only=true `model:save_weights`; false: `model:save`
-- @option mode="auto" `"min"`, `"max"` or `"auto"`
-- @option initial_value_threshold=nil a value to beat before the first save
-- @example local ckpt = dnn.callbacks.ModelCheckpoint{filepath = "best.safetensors", save_best_only = true}

--- dnn.callbacks.ModelCheckpoint:get_state()
-- The best value so far (for `dnn.checkpoint`).
-- @example local s = ckpt:get_state()

--- dnn.callbacks.ModelCheckpoint:set_state(state)
-- Restores `get_state`'s table.
-- @example ckpt:set_state(s)

--- dnn.callbacks.ReduceLROnPlateau([options])
-- Multiplies the learning rate by `factor` when `monitor` has not improved for `patience` epochs; writes `logs.lr`.
-- @option monitor="val_loss" the logged value watched
-- @option factor=0.1 the multiplier (< 1)
-- @option patience=10 epochs without improvement before reducing
-- @option verbose=0 1 prints each change
-- @option mode="auto" `"min"`, `"max"` or `"auto"`
-- @option min_delta=0.0001 the smallest change that counts
-- @option cooldown=0 epochs to wait after a reduction
-- @option min_lr=0 the lower bound
-- @example local r = dnn.callbacks.ReduceLROnPlateau{factor = 0.5, patience = 2}

--- dnn.callbacks.ReduceLROnPlateau:get_state()
-- Its counters (for `dnn.checkpoint`).
-- @example local s = r:get_state()

--- dnn.callbacks.ReduceLROnPlateau:set_state(state)
-- Restores `get_state`'s table.
-- @example r:set_state(s)

--- dnn.callbacks.LearningRateScheduler(schedule[, options])
-- At each epoch's start the learning rate becomes `schedule(epoch, lr)` (epoch 1-based).
-- @param schedule a function `(epoch, lr) -> lr`
-- @option verbose=0 1 prints each change
-- @example local s = dnn.callbacks.LearningRateScheduler(function(epoch, lr) return epoch < 5 and lr or lr * 0.9 end)

--- dnn.callbacks.CSVLogger(filename[, options])
-- Writes one CSV row per epoch: epoch, then the logs' keys sorted.
-- @param filename the CSV file
-- @option separator="," the field separator
-- @option append=false add to an existing file
-- @example local log = dnn.callbacks.CSVLogger("training.csv")

--- dnn.callbacks.TerminateOnNaN()
-- Stops training at the first batch whose loss is NaN or infinite.
-- @example local t = dnn.callbacks.TerminateOnNaN()

--- dnn.callbacks.History:get_state()
-- The epochs and their logs so far (fit's backup keeps them).
-- @example local s = model.history:get_state()

--- dnn.callbacks.History:set_state(state)
-- Restores `get_state`'s table.
-- @example model.history:set_state(s)

--- dnn.callbacks.CSVLogger:get_state()
-- The columns and the bytes written (fit's backup keeps them; a resumed run appends after them).
-- @example local s = logger:get_state()

--- dnn.callbacks.CSVLogger:set_state(state)
-- Reopens the file at `get_state`'s size, to append the next rows.
-- @example logger:set_state(s)

--- dnn.callbacks.BackupAndRestore(options)
-- Fault tolerance, as Keras's: fit saves into `backup_dir` everything it needs to go on (weights, optimizer
-- state, learning rate, random generator, the epoch's sample order and position, each callback's `get_state`,
-- the history), and the same fit run again after a crash or a kill continues where the last backup was, to
-- the weights an uninterrupted run gives, bit for bit. `fit{backup_dir = dir}` is the short form. Under
-- `dnn.distributed` rank 0 writes the backup (with each rank's own random generator, running metrics and
-- callback states) and every rank reads it; it resumes on the number of ranks that wrote it.
-- @option backup_dir the directory (made if missing)
-- @option save_freq="epoch" `"epoch"`: at each epoch's end; a number N: also every N steps
-- @option delete_checkpoint=true remove the backup when fit ends normally
-- @example model:fit(x, y, {epochs = 10, callbacks = {dnn.callbacks.BackupAndRestore{backup_dir = "run1", save_freq = 100}}})

--- dnn.callbacks.BackupAndRestore:path()
-- The backup file, `backup_dir/backup.safetensors` (a `dnn.checkpoint`).
-- @example print(cb:path())

return M
