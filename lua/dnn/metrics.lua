-- dnn.metrics: Keras's metrics as stateful objects. Each has a name (the key
-- in fit's logs: "accuracy", "precision", ...), a direction ("up" when bigger
-- is better, "down" otherwise: what EarlyStopping's mode = "auto" reads),
-- reset(), update(y_true, y_pred) and result() -> number.
--
-- State is counts over the epoch, and result() computes from the totals:
-- precision, recall, F1 and AUC of an epoch are those of all its examples,
-- not an average of per-batch values. The arithmetic is tensor ops (no Lua
-- loop over examples); only per-class or per-threshold totals (a few hundred
-- numbers) are combined in Lua.
--
--   dnn.metrics.get("accuracy", loss_name)   -- binary / categorical / sparse picked from the loss, as Keras
--   dnn.metrics.Precision{thresholds = 0.5}  Recall  F1Score{average = "macro"}  AUC{num_thresholds = 200}
--   dnn.metrics.BinaryAccuracy{threshold = 0.5}  CategoricalAccuracy  SparseCategoricalAccuracy
--   dnn.metrics.MeanAbsoluteError  MeanSquaredError  Mean  MeanMetricWrapper(fn, {name = ...})
--   dnn.metrics.confusion_matrix(y_true, y_pred[, num_classes])
--
-- Labels: class ids are 1-based. A metric that wants one-hot labels (Precision,
-- Recall, F1Score, AUC with several outputs per example) also takes class
-- ids (shape (N) or (N, 1) against predictions (N, C)) and one-hot encodes them.
local dnn = require "dnn"
local strict = require "dnn.options"

local M = {}

local EPSILON = 1e-7 -- Keras's backend.epsilon()

-- ---- the Metric base ----
local Metric = {}
Metric.__index = Metric
M.Metric = Metric

function Metric:extend(type_name, default_name, direction)
  local cls = setmetatable({}, {__index = self, __call = function(c, ...) return c.new(...) end})
  cls.__index = cls
  cls.__tostring = Metric.__tostring
  cls.type_name = type_name
  cls.default_name = default_name
  cls.direction = direction
  return cls
end

function Metric.__tostring(self)
  return string.format("%s(%s)", self.type_name, self.name)
end

-- A new metric of class cls with options (a table or nil); known lists the
-- options it takes (anything else is an error, as a misspelt Keras kwarg).
local function init(cls, options, known)
  local valid = {"name"}
  for k in pairs(known) do valid[#valid + 1] = k end
  options = strict.check(cls.type_name, options, valid)
  local self = setmetatable({}, cls)
  self.name = options.name or cls.default_name
  self:_configure(options)
  self:reset()
  return self
end

function Metric:_configure() end

-- Keras's method names, for code written from its documentation: the same
-- calls as update and reset (looked up on the class, so subclasses' own).
function Metric:update_state(...) return self:update(...) end
function Metric:reset_state() return self:reset() end

local function shape_string(t)
  return "(" .. table.concat(t.shape, ", ") .. ")"
end

local function check_tensors(self, y_true, y_pred)
  if not dnn.is_tensor(y_true) or not dnn.is_tensor(y_pred) then
    error(string.format("metric '%s': expected tensors (y_true, y_pred), got %s and %s", self.name,
      dnn.is_tensor(y_true) and "a tensor" or type(y_true), dnn.is_tensor(y_pred) and "a tensor" or type(y_pred)), 4)
  end
  return y_true:detach(), y_pred:detach() -- metrics record nothing for autodiff
end

local function last_dim(t)
  return t.ndim > 0 and t.shape[t.ndim] or 1
end

-- Whether y_true holds class ids for predictions with one column per class:
-- Keras's test (fewer dims, or a last dim of 1 against several).
local function is_sparse(y_true, y_pred)
  return y_pred.ndim >= 2 and last_dim(y_pred) > 1 and
    (y_true.ndim < y_pred.ndim or (y_true.ndim == y_pred.ndim and last_dim(y_true) == 1))
end

-- y_true in y_pred's shape: class ids one-hot encoded, or the same values
-- reshaped ((N) against (N, 1), as Keras squeezes); else an error naming both.
local function labels_like(self, y_true, y_pred)
  if is_sparse(y_true, y_pred) then
    local ids = y_true.ndim == y_pred.ndim and y_true:squeeze(-1) or y_true
    local ok, onehot = pcall(dnn.one_hot, ids, last_dim(y_pred))
    if not ok then
      error(string.format("metric '%s': y_true holds class ids for %d classes: %s", self.name, last_dim(y_pred),
        tostring(onehot):gsub("^[^:\n]*:%d+: ", "")), 4)
    end
    return onehot
  end
  if y_true:numel() ~= y_pred:numel() then
    error(string.format("metric '%s': y_true of shape %s does not match y_pred of shape %s", self.name,
      shape_string(y_true), shape_string(y_pred)), 4)
  end
  if shape_string(y_true) ~= shape_string(y_pred) then return y_true:reshape(y_pred.shape) end
  return y_true
end

local function total(t)
  return t:sum():item()
end

local function ratio(a, b)
  if b == 0 then return 0 end -- Keras's divide_no_nan
  return a / b
end

-- ---- means: a sum and a count ----

-- Mean{name}: update(value[, weight]) with a number or a tensor (each
-- element counts once, times weight); result() the weighted mean.
local Mean = Metric:extend("Mean", "mean", "down")
M.Mean = Mean
function Mean.new(options) return init(Mean, options, {}) end
function Mean:reset() self.sum, self.count = 0, 0 end
function Mean:update(value, weight)
  weight = weight or 1
  if dnn.is_tensor(value) then
    self.sum = self.sum + total(value:detach()) * weight
    self.count = self.count + value:numel() * weight
  elseif type(value) == "number" then
    self.sum = self.sum + value * weight
    self.count = self.count + weight
  else
    error(string.format("metric '%s': expected a number or a tensor, got %s", self.name, strict.describe(value)), 2)
  end
end
function Mean:result() return ratio(self.sum, self.count) end

-- A metric that averages fn(y_true, y_pred) over every example: fn returns a
-- tensor of per-example values, or one value for the batch (a number or a
-- 0-d tensor), then weighted by the batch size so the epoch's result is the
-- mean over examples.
local MeanMetricWrapper = Metric:extend("MeanMetricWrapper", "metric", "down")
M.MeanMetricWrapper = MeanMetricWrapper
function MeanMetricWrapper.new(fn, options)
  if type(fn) ~= "function" and not (type(fn) == "table" and (getmetatable(fn) or {}).__call) then
    error(string.format("MeanMetricWrapper: expected a function, got %s", strict.describe(fn)), 2)
  end
  local self = init(MeanMetricWrapper, options, {direction = true})
  self.fn = fn
  if options and options.direction then self.direction = options.direction end
  return self
end
function MeanMetricWrapper:reset() self.sum, self.count = 0, 0 end
function MeanMetricWrapper:update(y_true, y_pred)
  y_true, y_pred = check_tensors(self, y_true, y_pred)
  local v = self.fn(y_true, y_pred)
  local batch = y_pred.ndim > 0 and y_pred.shape[1] or 1
  if dnn.is_tensor(v) and v.ndim > 0 then
    self.sum = self.sum + total(v)
    self.count = self.count + v:numel()
  else
    if dnn.is_tensor(v) then v = v:item() end
    if type(v) ~= "number" then
      error(string.format("metric '%s': the function returned %s, expected a number or a tensor", self.name,
        type(v)), 2)
    end
    self.sum = self.sum + v * batch
    self.count = self.count + batch
  end
end
MeanMetricWrapper.result = Mean.result

-- Mean over examples of a per-example mean over the last axis, as Keras's
-- mean metrics: with every example the same size, the sum over all elements
-- divided by their count.
local function elementwise_mean_metric(type_name, default_name, direction, values_fn, configure)
  local cls = Metric:extend(type_name, default_name, direction)
  local known = {}
  for k in pairs(configure or {}) do known[k] = true end
  function cls.new(options) return init(cls, options, known) end
  function cls:_configure(options)
    for k, v in pairs(configure or {}) do self[k] = options[k] == nil and v or options[k] end
  end
  function cls:reset() self.sum, self.count = 0, 0 end
  function cls:update(y_true, y_pred)
    y_true, y_pred = check_tensors(self, y_true, y_pred)
    local values, count = values_fn(self, y_true, y_pred)
    self.sum = self.sum + total(values)
    self.count = self.count + count
  end
  cls.result = Mean.result
  return cls
end

M.MeanAbsoluteError = elementwise_mean_metric("MeanAbsoluteError", "mean_absolute_error", "down",
  function(self, y_true, y_pred)
    return (y_pred - labels_like(self, y_true, y_pred)):abs(), y_pred:numel()
  end)

M.MeanSquaredError = elementwise_mean_metric("MeanSquaredError", "mean_squared_error", "down",
  function(self, y_true, y_pred)
    return (y_pred - labels_like(self, y_true, y_pred)):square(), y_pred:numel()
  end)

-- ---- accuracies ----

-- (y_pred > threshold) == y_true, per element.
M.BinaryAccuracy = elementwise_mean_metric("BinaryAccuracy", "binary_accuracy", "up",
  function(self, y_true, y_pred)
    return y_pred:gt(self.threshold):eq(labels_like(self, y_true, y_pred)), y_pred:numel()
  end, {threshold = 0.5})

-- argmax(y_pred) == argmax(y_true), per example (one-hot labels).
M.CategoricalAccuracy = elementwise_mean_metric("CategoricalAccuracy", "categorical_accuracy", "up",
  function(self, y_true, y_pred)
    if shape_string(y_true) ~= shape_string(y_pred) then
      error(string.format("metric '%s': expected one-hot y_true of shape %s, got %s (class ids take " ..
        "sparse_categorical_accuracy)", self.name, shape_string(y_pred), shape_string(y_true)), 4)
    end
    local hits = y_pred:argmax(-1):eq(y_true:argmax(-1))
    return hits, hits:numel()
  end)

-- argmax(y_pred) == y_true, per example (1-based class ids, (N) or (N, 1)).
M.SparseCategoricalAccuracy = elementwise_mean_metric("SparseCategoricalAccuracy", "sparse_categorical_accuracy",
  "up", function(self, y_true, y_pred)
    local pred = y_pred:argmax(-1)
    if y_true.ndim == y_pred.ndim and last_dim(y_true) == 1 then y_true = y_true:squeeze(-1) end
    if y_true:numel() ~= pred:numel() then
      error(string.format("metric '%s': expected %d class ids for y_pred of shape %s, got y_true of shape %s",
        self.name, pred:numel(), shape_string(y_pred), shape_string(y_true)), 4)
    end
    local hits = pred:eq(y_true:reshape(pred.shape))
    return hits, hits:numel()
  end)

-- "accuracy" as Keras resolves it: from the loss when it says (binary,
-- categorical or sparse categorical cross-entropy), else from the shapes at
-- the first update: one output column -> binary; class ids -> sparse;
-- otherwise categorical.
local accuracy_by_loss = {
  binary_crossentropy = M.BinaryAccuracy,
  binary_focal_crossentropy = M.BinaryAccuracy,
  categorical_crossentropy = M.CategoricalAccuracy,
  categorical_focal_crossentropy = M.CategoricalAccuracy,
  sparse_categorical_crossentropy = M.SparseCategoricalAccuracy,
}

local Accuracy = Metric:extend("Accuracy", "accuracy", "up")
M.Accuracy = Accuracy
function Accuracy.new(options)
  local self = init(Accuracy, options, {loss = true})
  local loss = options and options.loss
  if type(loss) ~= "string" and loss ~= nil then loss = dnn.losses.name_of(loss) end
  local cls = loss and accuracy_by_loss[loss]
  if cls then self.impl = cls.new{name = self.name} end
  return self
end
function Accuracy:reset()
  if self.impl then self.impl:reset() end
end
function Accuracy:update(y_true, y_pred)
  if not self.impl then
    local t, p = check_tensors(self, y_true, y_pred)
    local cls = M.CategoricalAccuracy
    if p.ndim < 2 or last_dim(p) == 1 then
      cls = M.BinaryAccuracy
    elseif is_sparse(t, p) then
      cls = M.SparseCategoricalAccuracy
    end
    self.impl = cls.new{name = self.name}
  end
  return self.impl:update(y_true, y_pred)
end
function Accuracy:result()
  return self.impl and self.impl:result() or 0
end
-- Which accuracy it resolved to ("binary_accuracy", ...), nil before.
function Accuracy:kind()
  return self.impl and self.impl.default_name
end

-- ---- precision, recall: confusion counts at a threshold ----

-- Predictions and labels flattened to 0/1 columns, as Keras's Precision and
-- Recall see them (class_id picks one column, 1-based).
local function binary_outcomes(self, y_true, y_pred)
  y_true, y_pred = check_tensors(self, y_true, y_pred)
  local labels = labels_like(self, y_true, y_pred)
  if self.class_id then
    local c = last_dim(y_pred)
    if y_pred.ndim < 2 or self.class_id < 1 or self.class_id > c then
      error(string.format("metric '%s': class_id %d is out of range for y_pred of shape %s", self.name,
        self.class_id, shape_string(y_pred)), 3)
    end
    y_pred = y_pred:narrow(-1, self.class_id, 1)
    labels = labels:narrow(-1, self.class_id, 1)
  end
  local predicted = y_pred:gt(self.thresholds)
  local tp = total(predicted * labels)
  return tp, total(predicted) - tp, total(labels) - tp
end

local function threshold_metric(type_name, default_name, result_fn)
  local cls = Metric:extend(type_name, default_name, "up")
  function cls.new(options) return init(cls, options, {thresholds = true, class_id = true}) end
  function cls:_configure(options)
    self.thresholds = options.thresholds or 0.5
    if type(self.thresholds) ~= "number" then
      error(string.format("%s: expected thresholds to be a number, got %s", type_name,
        strict.describe(self.thresholds)), 4)
    end
    self.class_id = options.class_id
  end
  function cls:reset() self.tp, self.fp, self.fn = 0, 0, 0 end
  function cls:update(y_true, y_pred)
    local tp, fp, fn = binary_outcomes(self, y_true, y_pred)
    self.tp, self.fp, self.fn = self.tp + tp, self.fp + fp, self.fn + fn
  end
  cls.result = result_fn
  return cls
end

-- tp / (tp + fp), 0 when nothing was predicted positive.
M.Precision = threshold_metric("Precision", "precision", function(self) return ratio(self.tp, self.tp + self.fp) end)
-- tp / (tp + fn), 0 when there was no positive.
M.Recall = threshold_metric("Recall", "recall", function(self) return ratio(self.tp, self.tp + self.fn) end)

-- ---- F1 ----
-- Keras's F1Score (FBetaScore with beta = 1): per-class counts over the
-- epoch; predictions are the row's maximum (ties all count) unless threshold
-- is given, then y_pred > threshold. F1 per class = 2 p r / (p + r), with
-- p = tp / (tp + fp + eps) and r = tp / (tp + fn + eps).
--   average = "macro" (default here): the mean of the per-class F1
--   average = "micro": F1 of the counts summed over classes
--   average = "weighted": per-class F1 weighted by each class's true count
-- Keras's default, average = None, returns a vector per class, which a log of
-- numbers cannot hold: result_per_class() gives that (a Lua array).
-- A single output column (a sigmoid) is a binary problem: threshold 0.5 by
-- default there (the row maximum would call every example positive).
local F1Score = Metric:extend("F1Score", "f1_score", "up")
M.F1Score = F1Score
function F1Score.new(options) return init(F1Score, options, {average = true, threshold = true}) end
function F1Score:_configure(options)
  self.average = options.average == nil and "macro" or options.average
  if self.average ~= "macro" and self.average ~= "micro" and self.average ~= "weighted" then
    error(string.format("F1Score: expected average 'macro', 'micro' or 'weighted', got %s",
      strict.describe(self.average)), 4)
  end
  self.threshold = options.threshold
end
function F1Score:reset() self.tp, self.fp, self.fn, self.support = nil, nil, nil, nil end
function F1Score:update(y_true, y_pred)
  y_true, y_pred = check_tensors(self, y_true, y_pred)
  local labels = labels_like(self, y_true, y_pred)
  local c = last_dim(y_pred)
  y_pred, labels = y_pred:reshape(-1, c), labels:reshape(-1, c)
  local predicted
  if self.threshold or c == 1 then
    predicted = y_pred:gt(self.threshold or 0.5)
  else
    predicted = y_pred:ge(y_pred:max(-1, true))
  end
  local tp = (predicted * labels):sum(1)
  local fp = predicted:sum(1) - tp
  local support = labels:sum(1)
  local fn = support - tp
  if self.tp and self.tp:numel() ~= c then
    error(string.format("metric '%s': %d classes in this batch, %d before", self.name, c, self.tp:numel()), 2)
  end
  self.tp = self.tp and self.tp + tp or tp
  self.fp = self.fp and self.fp + fp or fp
  self.fn = self.fn and self.fn + fn or fn
  self.support = self.support and self.support + support or support
end

local function f1_of(tp, fp, fn)
  local p = tp / (tp + fp + EPSILON)
  local r = tp / (tp + fn + EPSILON)
  return 2 * ratio(p * r, p + r)
end

function F1Score:result_per_class()
  if not self.tp then return {} end
  local tp, fp, fn = self.tp:totable(), self.fp:totable(), self.fn:totable()
  local out = {}
  for i = 1, #tp do out[i] = f1_of(tp[i], fp[i], fn[i]) end
  return out
end

function F1Score:result()
  if not self.tp then return 0 end
  if self.average == "micro" then return f1_of(total(self.tp), total(self.fp), total(self.fn)) end
  local per_class = self:result_per_class()
  local sum = 0
  if self.average == "weighted" then
    local support = self.support:totable()
    local all = total(self.support)
    for i, f in ipairs(per_class) do sum = sum + f * ratio(support[i], all) end
    return sum
  end
  for _, f in ipairs(per_class) do sum = sum + f end
  return sum / #per_class
end

-- ---- AUC ----
-- Keras's AUC: confusion counts at num_thresholds thresholds (0 - eps,
-- 1/(n-1), ..., (n-2)/(n-1), 1 + eps), accumulated over the epoch, with
-- y_pred > threshold as a positive; the area by Keras's "interpolation"
-- summation: trapezoids on the ROC curve (curve = "ROC", the default), the
-- Davis & Goadrich interpolation on the PR curve (curve = "PR"). Labels and
-- predictions are flattened (Keras's multi_label = false). The epoch's value
-- matches Keras's to within the thresholds' grid, not the exact area.
local AUC = Metric:extend("AUC", "auc", "up")
M.AUC = AUC

M.frechet_distance = require("dnn.frechet").frechet_distance
require("dnn.metrics_vision").install(M) -- MeanIoU, mean_average_precision
local AUC_CHUNK = 4096 -- rows compared against every threshold at once
function AUC.new(options) return init(AUC, options, {num_thresholds = true, curve = true}) end
function AUC:_configure(options)
  local n = options.num_thresholds or 200
  if type(n) ~= "number" or n < 2 or n % 1 ~= 0 then
    error(string.format("AUC: expected num_thresholds an integer > 1, got %s", strict.describe(n)), 4)
  end
  self.num_thresholds = n
  self.curve = options.curve or "ROC"
  if self.curve ~= "ROC" and self.curve ~= "PR" then
    error(string.format("AUC: expected curve 'ROC' or 'PR', got %s", strict.describe(self.curve)), 4)
  end
  local th = {-EPSILON}
  for i = 1, n - 2 do th[#th + 1] = i / (n - 1) end
  th[#th + 1] = 1 + EPSILON
  self.thresholds = dnn.tensor(th):reshape(1, n)
end
function AUC:reset()
  self.tp = dnn.zeros(1, self.num_thresholds)
  self.predicted = dnn.zeros(1, self.num_thresholds)
  self.positives, self.count = 0, 0
end
function AUC:update(y_true, y_pred)
  y_true, y_pred = check_tensors(self, y_true, y_pred)
  local labels = labels_like(self, y_true, y_pred):reshape(-1)
  local scores = y_pred:reshape(-1)
  local n = scores:numel()
  for start = 1, n, AUC_CHUNK do
    local len = math.min(AUC_CHUNK, n - start + 1)
    local above = scores:narrow(1, start, len):reshape(len, 1):gt(self.thresholds) -- (len, T) of 0/1
    self.tp = self.tp + labels:narrow(1, start, len):reshape(1, len):matmul(above)
    self.predicted = self.predicted + above:sum(1, true)
  end
  self.positives = self.positives + total(labels)
  self.count = self.count + n
end

function AUC:result()
  local tp, p = self.tp:reshape(-1):totable(), self.predicted:reshape(-1):totable()
  local pos, neg = self.positives, self.count - self.positives
  local T = self.num_thresholds
  local area = 0
  if self.curve == "ROC" then
    local function x(i) return ratio(p[i] - tp[i], neg) end -- false positive rate
    local function y(i) return ratio(tp[i], pos) end        -- recall
    for i = 1, T - 1 do area = area + (x(i) - x(i + 1)) * (y(i) + y(i + 1)) / 2 end
    return area
  end
  -- PR: precision interpolated linearly in tp between thresholds (Keras's interpolate_pr_auc)
  for i = 1, T - 1 do
    local dtp = tp[i] - tp[i + 1]
    local dp = p[i] - p[i + 1]
    local slope = ratio(dtp, math.max(dp, 0))
    local intercept = tp[i + 1] - slope * p[i + 1]
    local safe_ratio = (p[i] > 0 and p[i + 1] > 0) and ratio(p[i], math.max(p[i + 1], 0)) or 1
    area = area + ratio(slope * (dtp + intercept * math.log(safe_ratio)), math.max(tp[i + 1] + (pos - tp[i + 1]), 0))
  end
  return area
end

-- ---- by name ----

local by_name = {
  binary_accuracy = M.BinaryAccuracy,
  categorical_accuracy = M.CategoricalAccuracy,
  sparse_categorical_accuracy = M.SparseCategoricalAccuracy,
  precision = M.Precision,
  recall = M.Recall,
  f1_score = M.F1Score,
  auc = M.AUC,
  mae = M.MeanAbsoluteError,
  mean_absolute_error = M.MeanAbsoluteError,
  mse = M.MeanSquaredError,
  mean_squared_error = M.MeanSquaredError,
}

local function is_metric(v)
  return type(v) == "table" and type(v.update) == "function" and type(v.result) == "function" and
    type(v.reset) == "function"
end

-- A metric object from a name ("accuracy", "acc", "precision", "mae", ...;
-- its log name is the name as given), a metric object (returned as is), a
-- metric class (dnn.metrics.AUC: a new one with its defaults) or a function
-- (y_true, y_pred) -> values (averaged; named by dnn.losses.name_of or
-- "metric"). loss: the compiled loss (a name or a function), which picks
-- the kind of "accuracy".
function M.get(spec, loss)
  if type(spec) == "table" and type(rawget(spec, "new")) == "function" and spec.type_name then
    return spec.new() -- a class: dnn.metrics.AUC
  end
  if is_metric(spec) then return spec end
  if type(spec) == "function" then
    return MeanMetricWrapper.new(spec, {name = dnn.losses.name_of(spec) or "metric"})
  end
  local key = type(spec) == "string" and spec:lower()
  if key == "accuracy" or key == "acc" then return Accuracy.new{name = spec, loss = loss} end
  local cls = by_name[key]
  if not cls then
    local names = {"accuracy"}
    for k in pairs(by_name) do names[#names + 1] = k end
    table.sort(names)
    strict.raise(strict.unknown_name("metric", spec, names, "a metric object, a metric class or a function"))
  end
  return cls.new{name = spec}
end

-- ---- confusion matrix ----

-- Class ids from labels: probabilities or one-hot rows (last dim > 1) ->
-- argmax; anything else is taken as 1-based ids.
local function class_ids(t)
  if t.ndim >= 2 and last_dim(t) > 1 then return t:argmax(-1):reshape(-1), last_dim(t) end
  return t:reshape(-1), nil
end

-- Whether every id of ids is 0 or 1 (binary labels, as fit, Precision and
-- Recall take them).
local function zero_one(ids)
  return ids:numel() == 0 or (ids:eq(0) + ids:eq(1)):sum():item() == ids:numel()
end

-- confusion_matrix(y_true, y_pred[, num_classes | {num_classes}]) -> (C, C)
-- tensor of counts, rows the true class and columns the predicted one
-- (Keras's and sklearn's layout). Each argument is 1-based class ids,
-- probabilities / one-hot rows (argmax taken), or binary 0/1 labels on both
-- sides (then row and column 1 are label 0, 2 are label 1, sklearn's order).
-- num_classes defaults to the number of columns of a probability argument,
-- else to the largest id seen. (A sigmoid's output is not labels: pass
-- p:gt(0.5).)
function M.confusion_matrix(y_true, y_pred, num_classes)
  if not dnn.is_tensor(y_true) or not dnn.is_tensor(y_pred) then
    error(string.format("confusion_matrix: expected tensors (y_true, y_pred), got %s and %s",
      dnn.is_tensor(y_true) and "a tensor" or type(y_true), dnn.is_tensor(y_pred) and "a tensor" or type(y_pred)), 2)
  end
  if type(num_classes) == "table" then num_classes = strict.check("confusion_matrix", num_classes, {"num_classes"}).num_classes end
  local t, ct = class_ids(y_true:detach())
  local p, cp = class_ids(y_pred:detach())
  if t:numel() ~= p:numel() then
    error(string.format("confusion_matrix: %d true labels, %d predictions", t:numel(), p:numel()), 2)
  end
  if not ct and not cp and zero_one(t) and zero_one(p) and (t:numel() == 0 or t:min():item() == 0 or p:min():item() == 0) then
    t, p = t + 1, p + 1 -- binary labels 0/1 -> ids 1/2
    num_classes = num_classes or 2
  end
  if num_classes == nil then
    num_classes = ct or cp
    if not num_classes then
      num_classes = t:numel() > 0 and math.max(t:max():item(), p:max():item()) or 1
    end
    num_classes = math.max(math.floor(num_classes), 1)
  elseif type(num_classes) ~= "number" or num_classes < 1 or num_classes % 1 ~= 0 then
    error(string.format("confusion_matrix: expected num_classes an integer >= 1, got %s", tostring(num_classes)), 2)
  end
  local function encode(ids, what)
    local ok, onehot = pcall(dnn.one_hot, ids, num_classes)
    if not ok then
      local hint = ids:numel() > 0 and ids:min():item() == 0 and " (ids look 0-based: class ids start at 1; pass y + 1)"
        or ""
      error(string.format("confusion_matrix: %s must be class ids 1..%d%s: %s", what, num_classes, hint,
        tostring(onehot):gsub("^[^:\n]*:%d+: ", "")), 3)
    end
    return onehot
  end
  return encode(t, "y_true"):transpose(1, 2):matmul(encode(p, "y_pred"))
end


-- ---- character error rate ----

-- A sequence as an array of comparable items: a string's UTF-8 characters, or a Lua array of ids as it is.
local function as_sequence(fn, v, what)
  if type(v) == "string" then
    if not utf8.len(v) then error(string.format("%s: %s is not valid UTF-8", fn, what), 4) end
    local out = {}
    for _, c in utf8.codes(v) do out[#out + 1] = c end
    return out
  end
  if type(v) == "table" then
    for i, x in ipairs(v) do
      if type(x) ~= "number" then
        error(string.format("%s: %s[%d] is %s, expected an id", fn, what, i, strict.describe(x)), 4)
      end
    end
    return v
  end
  error(string.format("%s: expected %s to be a string or a Lua array of ids, got %s", fn, what, strict.describe(v)), 4)
end

-- Levenshtein distance (insertions, deletions, substitutions) of two arrays, two rows of the table.
local function edit_distance(a, b)
  local prev, cur = {}, {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    cur[0] = i
    for j = 1, #b do
      local sub = prev[j - 1] + (a[i] == b[j] and 0 or 1)
      cur[j] = math.min(sub, prev[j] + 1, cur[j - 1] + 1)
    end
    prev, cur = cur, prev
  end
  return prev[#b]
end

-- A list of sequences: one string or id array becomes a list of one.
local function sequence_list(v)
  if type(v) == "table" and (type(v[1]) == "table" or type(v[1]) == "string") then return v, false end
  return {v}, true
end

function M.character_error_rate(predictions, references)
  local fn = "dnn.metrics.character_error_rate"
  local preds = sequence_list(predictions)
  local refs = sequence_list(references)
  if #preds ~= #refs then
    error(string.format("%s: %d predictions for %d references", fn, #preds, #refs), 2)
  end
  local errors, total = 0, 0
  for i = 1, #refs do
    local r = as_sequence(fn, refs[i], "references[" .. i .. "]")
    local p = as_sequence(fn, preds[i], "predictions[" .. i .. "]")
    errors = errors + edit_distance(p, r)
    total = total + #r
  end
  if total == 0 then return errors == 0 and 0 or math.huge, errors, total end
  return errors / total, errors, total
end

-- ---- reference ----

--- dnn.metrics.character_error_rate(predictions, references)
-- The edit distance (insertions, deletions, substitutions) between predictions and references, summed, over the
-- references' total length; each is a string (compared by UTF-8 character) or a Lua array of ids, or a list of them
-- (one per example). Returns the rate (0 when both are empty, inf for errors against empty references), the edit
-- count and the reference length.
-- @example local cer = dnn.metrics.character_error_rate(decoded_texts, true_texts)

--- dnn.metrics.frechet_distance(a, b)
-- The Fréchet distance between feature vectors `a (n, d)` and `b (m, d)`,
-- each taken as a Gaussian: `|mu_a - mu_b|² + tr(S_a + S_b - 2 (S_a S_b)^½)`,
-- the FID when the features are Inception's (a number; covariances over
-- n - 1, eigenproblems in double precision).
-- @example local fd = dnn.metrics.frechet_distance(features(real), features(fake))

--- @module dnn.metrics Metrics (Keras's, stateful)
-- A metric accumulates over an epoch: `m:reset()`, `m:update(y_true,
-- y_pred)` per batch, `m:result()` a number. In `compile`, give names:
-- `"accuracy"` (binary, categorical or sparse, picked from the loss as
-- Keras), `"precision"`, `"recall"`, `"f1_score"`, `"auc"`, `"mae"`,
-- `"mse"`; or metric objects. Class ids are 1-based; metrics that want
-- one-hot labels also take class ids.

--- dnn.metrics.Metric
-- The base of the metrics. Every metric takes `{name = ...}` (its key in
-- fit's logs) and has a `direction` (`"up"` when bigger is better).
-- @example local MyMetric = dnn.metrics.Metric:extend("MyMetric", "my_metric", "up")

--- dnn.metrics.Metric:extend(type_name, default_name, direction)
-- A subclass (a custom metric) with its log name and direction (`"up"` or `"down"`).
-- @example local Hits = dnn.metrics.Metric:extend("Hits", "hits", "up")

--- dnn.metrics.Metric:reset()
-- Clears the accumulated state (fit calls it at each epoch's start).
-- @hook
-- @example m:reset()

--- dnn.metrics.Metric:update(y_true, y_pred)
-- Accumulates one batch.
-- @hook
-- @example m:update(y, model(x))

--- dnn.metrics.Metric:update_state(y_true, y_pred)
-- Keras's name for `update` (it calls the metric's own `update`).
-- @example m:update_state(y, model(x))

--- dnn.metrics.Metric:reset_state()
-- Keras's name for `reset`.
-- @example m:reset_state()

--- dnn.metrics.Metric:result()
-- The metric over everything since the last reset, a number.
-- @hook
-- @example print(m:result())

--- dnn.metrics.Accuracy([options])
-- Keras's `"accuracy"`: binary, categorical or sparse accuracy, picked from
-- the loss or, without one, from the shapes at the first update.
-- @option loss=nil the compiled loss (a name or function) that picks the kind
-- @example local acc = dnn.metrics.Accuracy()

--- dnn.metrics.Accuracy:kind()
-- Which accuracy it resolved to (`"binary_accuracy"`, ...), nil before the first update.
-- @example print(acc:kind())

--- dnn.metrics.BinaryAccuracy([options])
-- The fraction of elements with `(y_pred > threshold) == y_true`.
-- @option threshold=0.5 the decision threshold
-- @example local m = dnn.metrics.BinaryAccuracy{threshold = 0.5}

--- dnn.metrics.CategoricalAccuracy([options])
-- The fraction of examples whose argmax of `y_pred` is the argmax of one-hot `y_true`.
-- @example local m = dnn.metrics.CategoricalAccuracy()

--- dnn.metrics.SparseCategoricalAccuracy([options])
-- The fraction of examples whose argmax of `y_pred` is the 1-based id `y_true`.
-- @example local m = dnn.metrics.SparseCategoricalAccuracy()

--- dnn.metrics.Precision([options])
-- tp / (tp + fp) over the epoch, predictions `y_pred > thresholds`.
-- @option thresholds=0.5 the decision threshold
-- @option class_id=nil only this column (1-based)
-- @example local p = dnn.metrics.Precision{thresholds = 0.5}

--- dnn.metrics.Recall([options])
-- tp / (tp + fn) over the epoch.
-- @option thresholds=0.5 the decision threshold
-- @option class_id=nil only this column (1-based)
-- @example local r = dnn.metrics.Recall()

--- dnn.metrics.F1Score([options])
-- F1 over the epoch's counts; predictions are each row's maximum unless `threshold`.
-- @option average="macro" `"macro"`, `"micro"` or `"weighted"` (per class: `result_per_class`)
-- @option threshold=nil a threshold on `y_pred` instead of the row maximum (0.5 for one column)
-- @example local f1 = dnn.metrics.F1Score{average = "macro"}

--- dnn.metrics.F1Score:result_per_class()
-- The F1 of each class, a Lua array (Keras's `average = None`).
-- @example local per_class = f1:result_per_class()

--- dnn.metrics.AUC([options])
-- The area under the ROC (or PR) curve from confusion counts at `num_thresholds` thresholds.
-- @option num_thresholds=200 the number of thresholds
-- @option curve="ROC" `"ROC"` or `"PR"`
-- @example local auc = dnn.metrics.AUC{curve = "PR"}

--- dnn.metrics.MeanAbsoluteError([options])
-- The mean of `|y_pred - y_true|` over all elements of the epoch.
-- @example local m = dnn.metrics.MeanAbsoluteError()

--- dnn.metrics.MeanSquaredError([options])
-- The mean of `(y_pred - y_true)^2` over all elements of the epoch.
-- @example local m = dnn.metrics.MeanSquaredError()

--- dnn.metrics.Mean([options])
-- The weighted mean of the values given to `update(value[, weight])` (numbers or tensors).
-- @example local m = dnn.metrics.Mean{name = "loss"}

--- dnn.metrics.MeanMetricWrapper(fn[, options])
-- A metric that averages `fn(y_true, y_pred)` (per-example values) over the epoch's examples.
-- @option direction="down" `"up"` when bigger is better
-- @example local m = dnn.metrics.MeanMetricWrapper(function(y, p) return (p - y):abs():mean(-1) end, {name = "l1"})

--- dnn.metrics.get(spec[, loss])
-- A metric object from a name (`"accuracy"`, `"acc"`, `"precision"`, `"mae"`, ...), a metric object, a class or a function;
-- `loss` picks the kind of `"accuracy"`.
-- @example local m = dnn.metrics.get("accuracy", "sparse_categorical_crossentropy")

--- dnn.metrics.confusion_matrix(y_true, y_pred[, num_classes])
-- A `(C, C)` tensor of counts, rows the true class and columns the predicted
-- one (Keras's and sklearn's layout). Each argument is 1-based class ids,
-- probabilities or one-hot rows (argmax taken), or 0/1 labels on both sides
-- (row and column 1 are label 0). `num_classes` (a number or `{num_classes = n}`)
-- defaults to the columns of a probability argument, else the largest id.
-- @example local cm = dnn.metrics.confusion_matrix(y_test, model:predict(x_test))

return M
