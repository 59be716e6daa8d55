-- dnn.losses: Keras's losses, called as loss(y_true, y_pred, sample_weight,
-- mask) (Keras's order; the last two optional), each returning a tensor: by
-- default the per-example losses averaged (Keras's "sum_over_batch_size").
-- Every loss takes reduction = "sum_over_batch_size" | "sum" | "none"
-- ("none": the per-example losses, of y_pred's shape without its last dim).
-- sample_weight is broadcast to the per-example shape; mask (0s and 1s)
-- drops positions, and the masked mean divides by the unmasked count (Keras
-- 3). The arithmetic, values, weighting, reduction and gradients with
-- respect to y_true and y_pred, is in C (core/src/losses.c); this file only
-- parses options.
--
--   dnn.losses.mse(y, p)                                   -- a loss function
--   dnn.losses.mse(y, p, w)                                -- weighted per example
--   dnn.losses.binary_crossentropy{from_logits = true}     -- a loss object (a function too)
--   dnn.losses.get("mse") / get(fn) / get(loss_object)     -- what compile takes
--   dnn.losses.name_of(fn)                                 -- "mean_squared_error", or nil
--   dnn.losses.options_of(fn)                              -- a copy of its options, or nil
local dnn = require "dnn"
local C = require("dnn.core")._nn
local CTC = require("dnn.core")._ctc
local strict = require "dnn.options"

local losses = {}

-- Keras name of every loss function and loss object made here.
local names = setmetatable({}, {__mode = "k"})

local function check_args(name, y_true, y_pred, sample_weight, mask)
  if not dnn.is_tensor(y_true) or not dnn.is_tensor(y_pred) then
    error(string.format("%s: expected tensors (y_true, y_pred), got %s and %s", name,
      dnn.is_tensor(y_true) and "a tensor" or type(y_true), dnn.is_tensor(y_pred) and "a tensor" or type(y_pred)), 3)
  end
  if sample_weight ~= nil and not dnn.is_tensor(sample_weight) then
    error(string.format("%s: expected sample_weight (argument 3) to be a tensor or nil, got %s", name,
      type(sample_weight)), 3)
  end
  if mask ~= nil and not dnn.is_tensor(mask) then
    error(string.format("%s: expected mask (argument 4) to be a tensor or nil, got %s", name, type(mask)), 3)
  end
end

-- Keras 3's reductions (None is nil here, which means the default).
local reductions = {sum_over_batch_size = true, sum = true, none = true}

-- Options each loss takes, with Keras's defaults; every loss also takes reduction.
-- A kernel gets (y_true, y_pred, sample_weight, mask, options).
local specs = {
  mean_squared_error = {kernel = function(y, p, w, m, o) return C.mse_loss(y, p, w, m, o.reduction) end, options = {}},
  mean_absolute_error = {kernel = function(y, p, w, m, o) return C.mae_loss(y, p, w, m, o.reduction) end, options = {}},
  huber = {
    kernel = function(y, p, w, m, o) return C.huber_loss(y, p, w, m, o.reduction, o.delta) end,
    options = {delta = 1.0},
  },
  binary_crossentropy = {
    kernel = function(y, p, w, m, o)
      return C.binary_crossentropy(y, p, w, m, o.reduction, o.from_logits, o.label_smoothing)
    end,
    options = {from_logits = false, label_smoothing = 0},
  },
  categorical_crossentropy = {
    kernel = function(y, p, w, m, o)
      return C.categorical_crossentropy(y, p, w, m, o.reduction, o.from_logits, o.label_smoothing)
    end,
    options = {from_logits = false, label_smoothing = 0},
  },
  sparse_categorical_crossentropy = {
    kernel = function(y, p, w, m, o)
      return C.sparse_categorical_crossentropy(y, p, w, m, o.reduction, o.from_logits, o.label_smoothing)
    end,
    options = {from_logits = false, label_smoothing = 0},
  },
  kl_divergence = {kernel = function(y, p, w, m, o) return C.kl_divergence(y, p, w, m, o.reduction) end, options = {}},
}
for _, spec in pairs(specs) do spec.options.reduction = "sum_over_batch_size" end

-- Keras's short names.
local aliases = {mse = "mean_squared_error", mae = "mean_absolute_error", kld = "kl_divergence",
                 kullback_leibler_divergence = "kl_divergence"}

local function valid_names()
  local list = {}
  for name in pairs(specs) do list[#list + 1] = name end
  for name in pairs(aliases) do list[#list + 1] = name end
  table.sort(list)
  return list
end

-- The options of every loss function made here (copies are handed out).
local options_by_fn = setmetatable({}, {__mode = "k"})

-- A loss function with these options (defaults filled in), named as Keras.
local function make_loss(name, options)
  local spec = specs[name]
  local valid = {"name"}
  for k in pairs(spec.options) do valid[#valid + 1] = k end
  strict.check(name, options, valid)
  local o = {}
  for k, default in pairs(spec.options) do
    local v = options[k]
    if v == nil then v = default end
    if type(v) ~= type(default) then
      error(string.format("%s: expected option '%s' to be a %s, got %s", name, k, type(default), strict.describe(v)), 3)
    end
    o[k] = v
  end
  if not reductions[o.reduction] then
    error(string.format("%s: expected option 'reduction' to be \"sum_over_batch_size\", \"sum\" or \"none\", got %q",
      name, o.reduction), 3)
  end
  local kernel = spec.kernel
  local fn = function(y_true, y_pred, sample_weight, mask)
    check_args(name, y_true, y_pred, sample_weight, mask)
    return kernel(y_true, y_pred, sample_weight, mask, o)
  end
  names[fn] = name
  options_by_fn[fn] = o
  return fn
end

-- losses.<name>(y_true, y_pred) computes the loss with Keras's defaults;
-- losses.<name>{options} returns a loss function with those options.
for name in pairs(specs) do
  local default = make_loss(name, {})
  local entry = function(a, b, ...)
    if b == nil and type(a) == "table" and not dnn.is_tensor(a) then return make_loss(name, a) end
    return default(a, b, ...)
  end
  names[entry] = name
  options_by_fn[entry] = options_by_fn[default]
  losses[name] = entry
end
for alias, name in pairs(aliases) do losses[alias] = losses[name] end

-- CTC (not a Keras (y_true, y_pred) loss: it takes lengths): the options
-- are checked here, the arithmetic is in C (core/src/ctc.c).
local ctc_valid = {"label_lengths", "logit_lengths", "blank", "reduction", "zero_infinity"}
local ctc_reductions = {mean = true, sum = true, none = true}
function losses.ctc(labels, logits, options)
  local fn = "dnn.losses.ctc"
  if not dnn.is_tensor(labels) or not dnn.is_tensor(logits) then
    strict.raise(string.format("%s: expected tensors (labels, logits), got %s and %s", fn, strict.describe(labels),
      strict.describe(logits)))
  end
  local o = strict.check(fn, options, ctc_valid)
  local blank = strict.check_number(fn, "blank", o.blank == nil and 1 or o.blank, {min = 1, integer = true})
  local reduction = o.reduction == nil and "mean" or o.reduction
  if not ctc_reductions[reduction] then
    strict.raise(string.format("%s: reduction must be \"mean\", \"sum\" or \"none\" (got %s)", fn,
      strict.describe(reduction)))
  end
  local zero_infinity = false
  if o.zero_infinity ~= nil then zero_infinity = strict.check_boolean(fn, "zero_infinity", o.zero_infinity) end
  return CTC.ctc_loss(labels, logits, o.label_lengths, o.logit_lengths, blank, reduction, zero_infinity)
end

-- The Keras name of a loss function made here (for the accuracy metric to
-- pick its kind), or nil for a user's own function.
function losses.name_of(fn)
  return names[fn]
end

-- A copy of the options of a loss function made here (defaults filled in:
-- from_logits, reduction, ...), or nil for a user's own function.
function losses.options_of(fn)
  local o = options_by_fn[fn]
  if not o then return nil end
  local copy = {}
  for k, v in pairs(o) do copy[k] = v end
  return copy
end

-- A loss function from a name (Keras's, aliases included), a function
-- (y_true, y_pred) of the user's, or a callable loss object.
function losses.get(spec)
  if type(spec) == "function" then return spec end
  if type(spec) == "table" then
    local mt = getmetatable(spec)
    if mt and mt.__call then return spec end
  end
  if type(spec) == "string" then
    local name = aliases[spec] or spec
    if specs[name] then return losses[name] end
  end
  strict.raise(strict.unknown_name("loss", spec, valid_names(), "a function or a loss object"))
end


-- ---- reference ----

--- @module dnn.losses Losses (Keras's)
-- Each loss is called as `loss(y_true, y_pred[, sample_weight[, mask]])` and
-- returns a tensor (by default the mean of the per-example losses), or as
-- `loss{options}` to get a loss function with those options. In `compile`,
-- give a name (`"mse"`), a loss function or your own function `(y_true, y_pred)`.
-- Every loss takes `reduction = "sum_over_batch_size"` (default), `"sum"` or
-- `"none"` (the per-example losses).

--- dnn.losses.mean_squared_error(y_true, y_pred[, sample_weight[, mask]])
-- The mean of `(y_true - y_pred)^2` over the last dim, per example.
-- @option reduction="sum_over_batch_size" `"sum_over_batch_size"`, `"sum"` or `"none"`
-- @alias dnn.losses.mse
-- @example local loss = dnn.losses.mse(y, model(x))

--- dnn.losses.mean_absolute_error(y_true, y_pred[, sample_weight[, mask]])
-- The mean of `|y_true - y_pred|` over the last dim, per example.
-- @option reduction="sum_over_batch_size" as above
-- @alias dnn.losses.mae
-- @example local loss = dnn.losses.mae(y, p)

--- dnn.losses.huber(y_true, y_pred[, sample_weight[, mask]])
-- Quadratic for errors up to `delta`, linear beyond.
-- @option delta=1.0 where the loss turns linear
-- @option reduction="sum_over_batch_size" as above
-- @example local loss = dnn.losses.huber{delta = 0.5}(y, p)

--- dnn.losses.binary_crossentropy(y_true, y_pred[, sample_weight[, mask]])
-- Cross-entropy of 0/1 targets and probabilities (or logits).
-- @option from_logits=false y_pred are logits, not probabilities
-- @option label_smoothing=0 squeeze targets towards 0.5
-- @option reduction="sum_over_batch_size" as above
-- @example local bce = dnn.losses.binary_crossentropy{from_logits = true}

--- dnn.losses.categorical_crossentropy(y_true, y_pred[, sample_weight[, mask]])
-- Cross-entropy of one-hot (or soft) targets and class probabilities on the last dim.
-- @option from_logits=false y_pred are logits
-- @option label_smoothing=0 mix targets with the uniform distribution
-- @option reduction="sum_over_batch_size" as above
-- @example local loss = dnn.losses.categorical_crossentropy(dnn.one_hot(y, 10), probs)

--- dnn.losses.sparse_categorical_crossentropy(y_true, y_pred[, sample_weight[, mask]])
-- Cross-entropy of 1-based class ids `(batch)` and class probabilities `(batch, classes)`.
-- @option from_logits=false y_pred are logits
-- @option label_smoothing=0 mix the one-hot targets with the uniform distribution (PyTorch's CrossEntropyLoss option)
-- @option reduction="sum_over_batch_size" as above
-- @example local loss = dnn.losses.sparse_categorical_crossentropy(yb, model(xb))

--- dnn.losses.kl_divergence(y_true, y_pred[, sample_weight[, mask]])
-- `sum(y_true * log(y_true / y_pred))` over the last dim, per example.
-- @option reduction="sum_over_batch_size" as above
-- @alias dnn.losses.kld, dnn.losses.kullback_leibler_divergence
-- @example local loss = dnn.losses.kl_divergence(p, q)

--- dnn.losses.ctc(labels, logits[, options])
-- Connectionist temporal classification (PyTorch's `ctc_loss`). `logits` `(batch, time, classes)` are unnormalized:
-- a log_softmax over the classes is taken inside, so the value is PyTorch's `ctc_loss` of
-- `log_softmax(logits)` (moved to its time-first layout), and the gradient is with respect to the logits. `labels`
-- `(batch, max_label_length)` hold 1-based class ids, padded with 0 after each row's labels. Impossible alignments
-- (too few time steps for the labels and the blanks between repeats) give `inf` and NaN gradients, as PyTorch's,
-- unless `zero_infinity`. Computed in double precision, examples in parallel; the result does not depend on the
-- thread count.
-- @option label_lengths=nil a tensor or table of one length per example; default: the ids before each row's first 0
-- @option logit_lengths=nil a tensor or table of the time steps each example uses; default: all
-- @option blank=1 the blank's class id
-- @option reduction="mean" `"mean"` (each loss divided by its label length, then the batch mean: PyTorch's), `"sum"` or `"none"` (one per example)
-- @option zero_infinity=false infinite losses and their gradients become 0
-- @example local loss = dnn.losses.ctc(ids, model(images), {label_lengths = lengths})
-- @example model:compile{optimizer = "adam", loss = function(y, logits) return dnn.losses.ctc(y, logits) end}

--- dnn.losses.get(spec)
-- A loss function from a Keras name (aliases included), a function, or a loss object; what `compile` uses.
-- @example local f = dnn.losses.get("mse")

return losses
