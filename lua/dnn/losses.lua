-- dnn.losses: Keras's losses, called as loss(y_true, y_pred) (Keras's order),
-- each returning a 0-d tensor: the per-example loss averaged over the batch
-- (Keras's default reduction). The arithmetic, value and gradient, is fused
-- in C (core/src/losses.c).
--
--   dnn.losses.mse(y, p)                                   -- a loss function
--   dnn.losses.binary_crossentropy{from_logits = true}     -- a loss object (a function too)
--   dnn.losses.get("mse") / get(fn) / get(loss_object)     -- what compile takes
--   dnn.losses.name_of(fn)                                 -- "mean_squared_error", or nil
local dnn = require "dnn"
local C = require("dnn.core")._nn
local strict = require "dnn.options"

local losses = {}

-- Keras name of every loss function and loss object made here.
local names = setmetatable({}, {__mode = "k"})

local function check_pair(name, y_true, y_pred)
  if not dnn.is_tensor(y_true) or not dnn.is_tensor(y_pred) then
    error(string.format("%s: expected tensors (y_true, y_pred), got %s and %s", name,
      dnn.is_tensor(y_true) and "a tensor" or type(y_true), dnn.is_tensor(y_pred) and "a tensor" or type(y_pred)), 3)
  end
end

-- Options each loss takes, with Keras's defaults.
local specs = {
  mean_squared_error = {kernel = function(y, p) return C.mse_loss(y, p) end, options = {}},
  mean_absolute_error = {kernel = function(y, p) return C.mae_loss(y, p) end, options = {}},
  huber = {kernel = function(y, p, o) return C.huber_loss(y, p, o.delta) end, options = {delta = 1.0}},
  binary_crossentropy = {
    kernel = function(y, p, o) return C.binary_crossentropy(y, p, o.from_logits, o.label_smoothing) end,
    options = {from_logits = false, label_smoothing = 0},
  },
  categorical_crossentropy = {
    kernel = function(y, p, o) return C.categorical_crossentropy(y, p, o.from_logits, o.label_smoothing) end,
    options = {from_logits = false, label_smoothing = 0},
  },
  sparse_categorical_crossentropy = {
    kernel = function(y, p, o) return C.sparse_categorical_crossentropy(y, p, o.from_logits) end,
    options = {from_logits = false},
  },
  kl_divergence = {kernel = function(y, p) return C.kl_divergence(y, p) end, options = {}},
}

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
  local kernel = spec.kernel
  local fn = function(y_true, y_pred)
    check_pair(name, y_true, y_pred)
    return kernel(y_true, y_pred, o)
  end
  names[fn] = name
  return fn
end

-- losses.<name>(y_true, y_pred) computes the loss with Keras's defaults;
-- losses.<name>{options} returns a loss function with those options.
for name in pairs(specs) do
  local default = make_loss(name, {})
  local entry = function(a, b)
    if b == nil and type(a) == "table" and not dnn.is_tensor(a) then return make_loss(name, a) end
    return default(a, b)
  end
  names[entry] = name
  losses[name] = entry
end
for alias, name in pairs(aliases) do losses[alias] = losses[name] end

-- The Keras name of a loss function made here (for the accuracy metric to
-- pick its kind), or nil for a user's own function.
function losses.name_of(fn)
  return names[fn]
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

return losses
