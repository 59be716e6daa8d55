-- dnn.layers.normalization: BatchNormalization and LayerNormalization, over
-- the fused C kernels (statistics, normalization and backward in one op).
local dnn = require "dnn"
local L = require("dnn.core")._layers
local layer = require "dnn.layer"
local initializers = require "dnn.initializers"
local strict = require "dnn.options"
local describe = strict.describe

local Layer, args_and_options = layer.Layer, layer.args_and_options
local M = {}

local shape_text = layer.shape_text

-- options[name], or default when absent; ok(v) says whether a number is in range, wanted says which range.
local function check_number(who, options, name, default, ok, wanted)
  local v = options[name]
  if v == nil then return default end
  if not strict.is_finite(v) or not ok(v) then
    error(string.format("%s: expected %s %s, got %s", who, name, wanted, describe(v)), 4)
  end
  return v
end

-- Defaults that need no named initializer.
local function zeros(t) return t:zero() end
local function ones(t) return t:fill(1) end

local function init_of(spec, default, who)
  if spec == nil then return default end
  return initializers.get(spec, who)
end

local function regularizer(spec)
  if spec == nil then return nil end
  return require("dnn.regularizers").get(spec)
end

-- A dim given as Lua counts it (1-based, negative from the end) -> 1-based
-- for ndim dims, or nil when out of range.
local function resolve_dim(d, ndim)
  if math.type(d) ~= "integer" then return nil end
  local r = d < 0 and ndim + 1 + d or d
  if r < 1 or r > ndim then return nil end
  return r
end

-- ---- BatchNormalization ----
-- Keras's: in training, normalizes with the batch's mean and (biased)
-- variance over every dim but axis, and folds them into the moving
-- statistics: moving = moving * momentum + batch * (1 - momentum) (the
-- biased variance too, as Keras; PyTorch keeps the unbiased one and its
-- momentum is 1 - Keras's). In inference, and when frozen (trainable =
-- false, as Keras), it uses the moving statistics. axis counts as dnn's dims
-- (1-based, 1 the batch; -1, the default, the channels of channels-last).
-- Weights, in Keras's order: gamma, beta (trainable), moving_mean,
-- moving_variance (non-trainable).
local BatchNormalization = Layer:extend("BatchNormalization")
M.BatchNormalization = BatchNormalization
BatchNormalization.options = {"axis", "momentum", "epsilon", "center", "scale", "beta_initializer",
                              "gamma_initializer", "moving_mean_initializer", "moving_variance_initializer",
                              "beta_regularizer", "gamma_regularizer"}
BatchNormalization.supports_masking = true

function BatchNormalization.new(...)
  local _, options = args_and_options(...)
  local who = "BatchNormalization"
  local self = Layer.init(BatchNormalization, options, "batch_normalization")
  self.axis = options.axis or -1
  if math.type(self.axis) ~= "integer" or self.axis == 0 then
    error(string.format("%s: expected axis a whole non-zero dim, got %s", who, describe(self.axis)), 2)
  end
  self.momentum = check_number(who, options, "momentum", 0.99, function(v) return v >= 0 and v <= 1 end,
    "a number in [0, 1]")
  self.epsilon = check_number(who, options, "epsilon", 1e-3, function(v) return v > 0 end, "a number > 0")
  self.center = options.center ~= false
  self.scale = options.scale ~= false
  self.beta_initializer = init_of(options.beta_initializer, zeros, who)
  self.gamma_initializer = init_of(options.gamma_initializer, ones, who)
  self.moving_mean_initializer = init_of(options.moving_mean_initializer, zeros, who)
  self.moving_variance_initializer = init_of(options.moving_variance_initializer, ones, who)
  self.beta_regularizer = regularizer(options.beta_regularizer)
  self.gamma_regularizer = regularizer(options.gamma_regularizer)
  if self.input_shape then self:build({-1, table.unpack(self.input_shape)}) end
  return self
end
getmetatable(BatchNormalization).__call = function(_, ...) return BatchNormalization.new(...) end

function BatchNormalization:build(input_shape)
  local ndim = #input_shape
  local axis = resolve_dim(self.axis, ndim)
  if not axis or axis == 1 then
    error(string.format("BatchNormalization '%s': axis %d is %s for an input %s (dims are 1-based, 1 the batch; " ..
      "-1, the default, is the channels of (N, ..., C))", self.name, self.axis,
      axis == 1 and "the batch dim" or "out of range", shape_text(input_shape)), 3)
  end
  local c = input_shape[axis]
  self.channels = c
  local function weight(name, init, options)
    local t = dnn.zeros(c)
    init(t, c, c)
    self:add_weight(name, t, options)
  end
  if self.scale then weight("gamma", self.gamma_initializer, {regularizer = self.gamma_regularizer}) end
  if self.center then weight("beta", self.beta_initializer, {regularizer = self.beta_regularizer}) end
  weight("moving_mean", self.moving_mean_initializer, {trainable = false})
  weight("moving_variance", self.moving_variance_initializer, {trainable = false})
  self.built = true
end

function BatchNormalization:forward(x)
  local training = self.training and self.trainable
  local axis = resolve_dim(self.axis, x.ndim)
  if not axis or x.shape[axis] ~= self.channels then
    error(string.format("expected an input with %d channels on axis %d, got %s", self.channels, self.axis,
      shape_text(x.shape)), 0)
  end
  return L.batch_norm(x, self.gamma, self.beta, self.moving_mean, self.moving_variance, training, self.momentum,
    self.epsilon, self.axis)
end

function BatchNormalization:compute_output_shape(input_shape)
  return {table.unpack(input_shape)}
end

-- ---- LayerNormalization ----
-- Keras's: each example normalized over axis (the last dim by default; a
-- list of trailing dims also works: {-2, -1}), then gamma * x + beta with
-- gamma and beta of those dims' shape. epsilon 1e-3 as Keras.
local LayerNormalization = Layer:extend("LayerNormalization")
LayerNormalization.step_wise = true -- acts on each step alone (model:generate)
M.LayerNormalization = LayerNormalization
LayerNormalization.options = {"axis", "epsilon", "center", "scale", "beta_initializer", "gamma_initializer",
                              "beta_regularizer", "gamma_regularizer"}
LayerNormalization.supports_masking = true

function LayerNormalization.new(...)
  local _, options = args_and_options(...)
  local who = "LayerNormalization"
  local self = Layer.init(LayerNormalization, options, "layer_normalization")
  local axis = options.axis or -1
  if type(axis) == "number" then axis = {axis} end
  if type(axis) ~= "table" or #axis == 0 then
    error(string.format("%s: expected axis a dim or a list of dims, got %s", who, describe(options.axis)), 2)
  end
  for i, d in ipairs(axis) do
    if math.type(d) ~= "integer" or d == 0 then
      error(string.format("%s: expected axis of whole non-zero dims, got %s at [%d]", who, describe(d), i), 2)
    end
  end
  self.axis = axis
  self.epsilon = check_number(who, options, "epsilon", 1e-3, function(v) return v > 0 end, "a number > 0")
  self.center = options.center ~= false
  self.scale = options.scale ~= false
  self.beta_initializer = init_of(options.beta_initializer, zeros, who)
  self.gamma_initializer = init_of(options.gamma_initializer, ones, who)
  self.beta_regularizer = regularizer(options.beta_regularizer)
  self.gamma_regularizer = regularizer(options.gamma_regularizer)
  if self.input_shape then self:build({-1, table.unpack(self.input_shape)}) end
  return self
end
getmetatable(LayerNormalization).__call = function(_, ...) return LayerNormalization.new(...) end

-- The number of trailing dims axis names, or an error: the kernel normalizes
-- trailing dims only, never the batch.
function LayerNormalization:_naxes(ndim, input_text, level)
  local seen = {}
  for _, d in ipairs(self.axis) do
    local r = resolve_dim(d, ndim)
    if not r or r == 1 then
      error(string.format("LayerNormalization '%s': axis %d is %s for an input %s (dims are 1-based, 1 the batch)",
        self.name, d, r == 1 and "the batch dim" or "out of range", input_text), level)
    end
    seen[r] = true
  end
  local n = 0
  for _ in pairs(seen) do n = n + 1 end
  for r = ndim - n + 1, ndim do
    if not seen[r] then
      error(string.format("LayerNormalization '%s': expected axis to be the last dims of the input %s, got {%s}",
        self.name, input_text, table.concat(self.axis, ", ")), level)
    end
  end
  return n
end

function LayerNormalization:build(input_shape)
  local ndim = #input_shape
  self.naxes = self:_naxes(ndim, shape_text(input_shape), 4)
  local param_shape, n = {}, 1
  for r = ndim - self.naxes + 1, ndim do
    param_shape[#param_shape + 1] = input_shape[r]
    n = n * input_shape[r]
  end
  local function weight(name, init, reg)
    local t = dnn.zeros(table.unpack(param_shape))
    init(t, n, n)
    self:add_weight(name, t, {regularizer = reg})
  end
  if self.scale then weight("gamma", self.gamma_initializer, self.gamma_regularizer) end
  if self.center then weight("beta", self.beta_initializer, self.beta_regularizer) end
  self.built = true
end

function LayerNormalization:forward(x)
  return L.layer_norm(x, self.gamma, self.beta, self.naxes, self.epsilon)
end

function LayerNormalization:compute_output_shape(input_shape)
  return {table.unpack(input_shape)}
end


-- ---- reference ----

--- dnn.nn.BatchNormalization([options])
-- Normalizes each feature (the last dim) by the batch's statistics in
-- training and by moving averages in inference, then scales and shifts.
-- Weights: gamma, beta, moving_mean, moving_variance (the last two not trainable).
-- @option axis=-1 the feature dim
-- @option momentum=0.99 of the moving averages
-- @option epsilon=0.001 added to the variance
-- @option center=true learn beta
-- @option scale=true learn gamma
-- @option beta_initializer="zeros" an initializer
-- @option gamma_initializer="ones" an initializer
-- @option moving_mean_initializer="zeros" an initializer
-- @option moving_variance_initializer="ones" an initializer
-- @option beta_regularizer=nil a regularizer
-- @option gamma_regularizer=nil a regularizer
-- @example local bn = nn.BatchNormalization{momentum = 0.9}

--- dnn.nn.LayerNormalization([options])
-- Normalizes each example over `axis` (mean 0, variance 1), then scales and shifts.
-- @option axis=-1 the dim (or dims) normalized
-- @option epsilon=0.001 added to the variance
-- @option center=true learn beta
-- @option scale=true learn gamma
-- @option beta_initializer="zeros" an initializer
-- @option gamma_initializer="ones" an initializer
-- @option beta_regularizer=nil a regularizer
-- @option gamma_regularizer=nil a regularizer
-- @example local ln = nn.LayerNormalization{axis = -1}

return M
