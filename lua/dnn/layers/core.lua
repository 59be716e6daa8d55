-- dnn.layers.core: Dense and the other basic layers.
local dnn = require "dnn"
local C = require("dnn.core")._nn
local layer = require "dnn.layer"
local initializers = require "dnn.initializers"
local activations = require "dnn.activations"
local L = require("dnn.core")._layers
local options_check = require "dnn.options"
local describe = options_check.describe

local Layer, args_and_options = layer.Layer, layer.args_and_options
local M = {}

-- ---- Dense ----
local Dense = Layer:extend("Dense")
Dense.step_wise = true -- acts on each step alone (model:generate)
M.Dense = Dense
Dense.options = {"units", "activation", "use_bias", "kernel_initializer", "bias_initializer", "kernel_regularizer",
                 "bias_regularizer", "activity_regularizer"}
Dense.supports_masking = true -- it acts on each time step alone

-- Activations the C kernel fuses with the GEMM; the others (and Lua
-- functions) run after a linear dense.
local fused_activations = {linear = true, relu = true, leaky_relu = true, sigmoid = true, tanh = true, softmax = true}

function Dense.new(...)
  local args, options = args_and_options(...)
  local units = args[1] or options.units
  if math.type(units) ~= "integer" or units < 1 then
    error(string.format("Dense: expected a positive integer number of units, got %s", describe(units)), 2)
  end
  -- Keras's Dense(units, activation): the activation may come second.
  local n_args = 0
  for k in pairs(args) do n_args = math.max(n_args, k) end
  if n_args > 2 then
    error(string.format("Dense: expected at most 2 positional arguments (units, activation), got %d", n_args), 2)
  end
  if args[2] ~= nil and options.activation ~= nil then
    error("Dense: activation given twice (as the second argument and as an option)", 2)
  end
  local self = Layer.init(Dense, options, "dense")
  self.units = units
  self.activation = args[2] or options.activation or "linear"
  local act = activations.get(self.activation, "Dense", 2)
  if not fused_activations[self.activation] then self.activation_fn = act end
  self.use_bias = options.use_bias ~= false
  self.kernel_initializer = initializers.get(options.kernel_initializer or "glorot_uniform", "Dense")
  self.bias_initializer = initializers.get(options.bias_initializer or "zeros", "Dense")
  local regularizers = require "dnn.regularizers"
  self.kernel_regularizer = regularizers.get(options.kernel_regularizer)
  self.bias_regularizer = regularizers.get(options.bias_regularizer)
  self.activity_regularizer = regularizers.get(options.activity_regularizer)
  self.input_shape = options.input_shape
  if self.input_shape then self:build({-1, table.unpack(self.input_shape)}) end
  return self
end
getmetatable(Dense).__call = function(_, ...) return Dense.new(...) end

function Dense:build(input_shape)
  local fan_in = input_shape[#input_shape]
  local kernel = dnn.zeros(fan_in, self.units)
  self.kernel_initializer(kernel, fan_in, self.units)
  self:add_weight("kernel", kernel, {regularizer = self.kernel_regularizer})
  if self.use_bias then
    local bias = dnn.zeros(self.units)
    self.bias_initializer(bias, self.units)
    self:add_weight("bias", bias, {regularizer = self.bias_regularizer})
  end
  self.built = true
end

function Dense:forward(x)
  -- _emit_logits: the pre-activation output, for fit's fused cross-entropy (dnn.training)
  if self._emit_logits then return C.dense(x, self.kernel, self.bias, "linear") end
  if self.activation_fn then return self.activation_fn(C.dense(x, self.kernel, self.bias, "linear")) end
  return C.dense(x, self.kernel, self.bias, self.activation)
end

function Dense:output_shape(input_shape)
  local shape = {table.unpack(input_shape)}
  shape[#shape] = self.units
  return shape
end

Dense.compute_output_shape = Dense.output_shape

local shape_text = layer.shape_text

local function copy_shape(shape)
  return {table.unpack(shape)}
end

-- ---- Activation ----
local Activation = Layer:extend("Activation")
Activation.step_wise = true -- acts on each step alone (model:generate)
M.Activation = Activation
Activation.options = {"activation"}
Activation.supports_masking = true

function Activation.new(...)
  local args, options = args_and_options(...)
  local spec = args[1] or options.activation
  if spec == nil then error("Activation: expected an activation name or a function, got nil", 2) end
  local fn = activations.get(spec, "Activation", 2)
  local self = Layer.init(Activation, options, "activation")
  self.activation, self.fn = spec, fn
  return self
end
getmetatable(Activation).__call = function(_, ...) return Activation.new(...) end

function Activation:forward(x)
  if self._emit_logits then return x end -- the input, for fit's fused cross-entropy (dnn.training)
  return self.fn(x)
end

function Activation:compute_output_shape(input_shape)
  return copy_shape(input_shape)
end

-- ---- LeakyReLU ----
local LeakyReLU = Layer:extend("LeakyReLU")
LeakyReLU.step_wise = true -- acts on each step alone (model:generate)
M.LeakyReLU = LeakyReLU
LeakyReLU.options = {"negative_slope"}
LeakyReLU.supports_masking = true

function LeakyReLU.new(...)
  local args, options = args_and_options(...)
  local slope = args[1]
  if slope == nil then slope = options.negative_slope end
  if slope == nil then slope = 0.3 end -- Keras's layer default (the activation's is 0.2)
  options_check.check_number("LeakyReLU", "negative_slope", slope, {min = 0}, 2)
  local self = Layer.init(LeakyReLU, options, "leaky_re_lu")
  self.negative_slope = slope
  return self
end
getmetatable(LeakyReLU).__call = function(_, ...) return LeakyReLU.new(...) end

function LeakyReLU:forward(x)
  return x:leaky_relu(self.negative_slope)
end

function LeakyReLU:compute_output_shape(input_shape)
  return copy_shape(input_shape)
end

-- ---- Dropout ----
-- Inverted dropout (Keras): in training, each unit is zeroed with
-- probability rate and the kept ones scaled by 1 / (1 - rate); the identity
-- otherwise. {seed = n} gives the layer a generator of its own, so its masks
-- repeat from run to run whatever else draws from dnn's PRNG.
local Dropout = Layer:extend("Dropout")
Dropout.step_wise = true -- acts on each step alone (model:generate)
M.Dropout = Dropout
Dropout.options = {"rate", "seed"}
Dropout.supports_masking = true

function Dropout.new(...)
  local args, options = args_and_options(...)
  local rate = args[1] or options.rate
  if type(rate) ~= "number" or not (rate >= 0 and rate < 1) then
    error(string.format("Dropout: expected a rate in [0, 1), got %s", describe(rate)), 2)
  end
  local seed = options.seed
  if seed ~= nil and math.type(seed) ~= "integer" then
    error(string.format("Dropout: expected an integer seed, got %s", describe(seed)), 2)
  end
  local self = Layer.init(Dropout, options, "dropout")
  self.rate, self.seed = rate, seed
  if seed then self.generator = L.generator(seed) end
  return self
end
getmetatable(Dropout).__call = function(_, ...) return Dropout.new(...) end

function Dropout:forward(x)
  if not self.training or self.rate == 0 then return x end
  return L.dropout(x, self.rate, self.generator)
end

function Dropout:compute_output_shape(input_shape)
  return copy_shape(input_shape)
end

-- ---- Flatten ----
-- (batch, ...) -> (batch, product of the rest), a view when possible.
local Flatten = Layer:extend("Flatten")
M.Flatten = Flatten
Flatten.options = {}

function Flatten.new(...)
  local _, options = args_and_options(...)
  return Layer.init(Flatten, options, "flatten")
end
getmetatable(Flatten).__call = function(_, ...) return Flatten.new(...) end

function Flatten:forward(x)
  if x.ndim < 1 then error("expected an input with a batch dim, got a 0-d tensor") end
  local n = 1
  for i = 2, x.ndim do n = n * x.shape[i] end
  return x:reshape(x.shape[1], n)
end

function Flatten:compute_output_shape(input_shape)
  local n = 1
  for i = 2, #input_shape do
    local d = input_shape[i]
    if d == nil or d < 0 then return {input_shape[1], -1} end
    n = n * d
  end
  return {input_shape[1], n}
end

-- ---- Reshape ----
-- Reshape(target_shape): each example to target_shape (without the batch
-- dim, as Keras; one -1 is inferred). Reshape{7, 7, 64}, Reshape({7, 7, 64})
-- and Reshape({7, 7, 64}, {name = ...}) all work.
local Reshape = Layer:extend("Reshape")
M.Reshape = Reshape
Reshape.options = {"target_shape"}

function Reshape.new(...)
  local args, options = args_and_options(...)
  local target = type(args[1]) == "table" and args[1] or (args[1] ~= nil and args) or options.target_shape
  if type(target) ~= "table" or #target == 0 then
    error(string.format("Reshape: expected a target shape (a list of sizes without the batch dim), got %s",
      describe(target)), 2)
  end
  local shape, inferred = {}, nil
  for i, d in ipairs(target) do
    if math.type(d) ~= "integer" or (d < 1 and d ~= -1) then
      error(string.format("Reshape: expected sizes >= 1 or one -1 in the target shape, got %s at [%d]",
        describe(d), i), 2)
    end
    if d == -1 then
      if inferred then error("Reshape: expected at most one -1 in the target shape, got two", 2) end
      inferred = i
    end
    shape[i] = d
  end
  local self = Layer.init(Reshape, options, "reshape")
  self.target_shape, self.inferred = shape, inferred
  return self
end
getmetatable(Reshape).__call = function(_, ...) return Reshape.new(...) end

-- The target shape for examples of n values; errors name both sizes.
function Reshape:_resolve(n, input_text)
  local known = 1
  for i, d in ipairs(self.target_shape) do
    if i ~= self.inferred then known = known * d end
  end
  local shape = copy_shape(self.target_shape)
  if self.inferred then
    if n % known ~= 0 then
      error(string.format("cannot reshape input %s (%d values per example) into %s: %d is not a multiple of %d",
        input_text, n, "(" .. table.concat(self.target_shape, ", ") .. ")", n, known), 0)
    end
    shape[self.inferred] = n // known
  elseif n ~= known then
    error(string.format("cannot reshape input %s (%d values per example) into %s (%d values per example)",
      input_text, n, "(" .. table.concat(self.target_shape, ", ") .. ")", known), 0)
  end
  return shape
end

function Reshape:forward(x)
  if x.ndim < 1 then error("expected an input with a batch dim, got a 0-d tensor") end
  local n = 1
  for i = 2, x.ndim do n = n * x.shape[i] end
  local shape = self:_resolve(n, shape_text(x.shape))
  return x:reshape(x.shape[1], table.unpack(shape))
end

function Reshape:compute_output_shape(input_shape)
  local n = 1
  for i = 2, #input_shape do
    local d = input_shape[i]
    if d == nil or d < 0 then return {input_shape[1], table.unpack(self.target_shape)} end
    n = n * d
  end
  local ok, shape = pcall(self._resolve, self, n, shape_text(input_shape))
  if not ok then error(string.format("Reshape '%s': %s", self.name, shape), 2) end
  return {input_shape[1], table.unpack(shape)}
end

-- ---- PReLU ----
-- y = x if x > 0 else alpha * x, alpha learned per position of an example
-- (the input's shape without the batch, as Keras), shared along
-- shared_axes: dims of the input counted as every dim in dnn (1-based, 1 is
-- the batch, negative from the end), so {2, 3} shares H and W of (N, H, W, C).
local PReLU = Layer:extend("PReLU")
M.PReLU = PReLU
PReLU.options = {"alpha_initializer", "alpha_regularizer", "shared_axes"}
PReLU.supports_masking = true

function PReLU.new(...)
  local _, options = args_and_options(...)
  local self = Layer.init(PReLU, options, "p_re_lu")
  self.alpha_initializer = initializers.get(options.alpha_initializer or "zeros", "PReLU")
  if options.alpha_regularizer ~= nil then
    self.alpha_regularizer = require("dnn.regularizers").get(options.alpha_regularizer)
  end
  local shared = options.shared_axes
  if type(shared) == "number" then shared = {shared} end
  if shared ~= nil and type(shared) ~= "table" then
    error(string.format("PReLU: expected shared_axes as a dim or a list of dims, got %s", describe(shared)), 2)
  end
  for i, d in ipairs(shared or {}) do
    if math.type(d) ~= "integer" or d == 0 then
      error(string.format("PReLU: expected shared_axes of whole non-zero dims, got %s at [%d]", describe(d), i), 2)
    end
  end
  self.shared_axes = shared
  if self.input_shape then self:build({-1, table.unpack(self.input_shape)}) end
  return self
end
getmetatable(PReLU).__call = function(_, ...) return PReLU.new(...) end

function PReLU:build(input_shape)
  local ndim = #input_shape
  if ndim < 2 then
    error(string.format("PReLU '%s': expected an input of at least 2 dims (batch, ...), got %s", self.name,
      shape_text(input_shape)), 3)
  end
  local param_shape = {}
  for i = 2, ndim do param_shape[i - 1] = input_shape[i] end
  for _, d in ipairs(self.shared_axes or {}) do
    local dim = d < 0 and ndim + 1 + d or d
    if dim < 2 or dim > ndim then
      error(string.format("PReLU '%s': shared axis %d is %s for an input %s (dims are 1-based, 1 the batch: " ..
        "share H and W of (N, H, W, C) with {2, 3})", self.name, d, dim == 1 and "the batch dim" or "out of range",
        shape_text(input_shape)), 3)
    end
    param_shape[dim - 1] = 1
  end
  local n = 1
  for _, d in ipairs(param_shape) do n = n * d end
  local alpha = dnn.zeros(table.unpack(param_shape))
  self.alpha_initializer(alpha, n, n)
  self:add_weight("alpha", alpha, {regularizer = self.alpha_regularizer})
  self.built = true
end

function PReLU:forward(x)
  return L.prelu(x, self.alpha)
end

function PReLU:compute_output_shape(input_shape)
  return copy_shape(input_shape)
end

-- ---- Masking ----
-- Keras's: a time step of (batch, time, features) whose features all equal
-- mask_value (0 by default) is masked: its mask entry is 0 (1 where any
-- feature differs) and its output is zeros. The mask (batch, time) is what
-- compute_mask gives and the next layers of a model get (see dnn.layer).
local Masking = Layer:extend("Masking")
M.Masking = Masking
Masking.supports_masking = true
Masking.options = {"mask_value"}

function Masking.new(...)
  local args, options = args_and_options(...)
  local value = args[1]
  if value == nil then value = options.mask_value end
  if value == nil then value = 0 end
  if type(value) ~= "number" then
    error(string.format("Masking: expected a number mask_value, got %s", describe(value)), 2)
  end
  local self = Layer.init(Masking, options, "masking")
  self.mask_value = value
  return self
end
getmetatable(Masking).__call = function(_, ...) return Masking.new(...) end

-- Its own mask from the input alone, whatever mask came with it (as Keras).
function Masking:compute_mask(x)
  if x.ndim < 3 then
    error(string.format("expected an input of (batch, time, features), got %s", shape_text(x.shape)), 2)
  end
  return x:ne(self.mask_value):max(-1)
end

function Masking:forward(x)
  return x * self:compute_mask(x):unsqueeze(-1)
end

function Masking:compute_output_shape(input_shape)
  return copy_shape(input_shape)
end



-- ---- reference ----

--- dnn.nn.Dense(units[, activation][, options])
-- A fully connected layer: `activation(x W + b)` on the last dim. Kernel
-- `(in, units)`, then bias `(units)`. Acts on each step of a sequence alike.
-- @param units the output size
-- @option activation="linear" an activation name (`"relu"`, ...) or a function of a tensor
-- @option use_bias=true whether to add a bias
-- @option kernel_initializer="glorot_uniform" an initializer name or object
-- @option bias_initializer="zeros" an initializer name or object
-- @option kernel_regularizer=nil a regularizer (`dnn.regularizers.l2(0.01)`)
-- @option bias_regularizer=nil a regularizer for the bias
-- @option activity_regularizer=nil a regularizer of the output
-- @example local d = nn.Dense(64, {activation = "relu", input_shape = {784}})

--- dnn.nn.Dense:output_shape(input_shape)
-- The output shape for an input shape (as `compute_output_shape`).
-- @example print(table.concat(nn.Dense(4):output_shape{-1, 3}, ","))

--- dnn.nn.Activation(activation)
-- Applies an activation by name (`"relu"`, `"softmax"`, ...) or a function.
-- @param activation the name or function
-- @example local a = nn.Activation("tanh")

--- dnn.nn.Dropout(rate[, options])
-- In training, zeroes each element with probability `rate` and scales the
-- rest by `1 / (1 - rate)`; the identity in inference.
-- @param rate the fraction dropped, in [0, 1)
-- @option seed=nil an integer: the layer draws its masks from a generator of its own
-- @example local d = nn.Dropout(0.5)

--- dnn.nn.Flatten()
-- Reshapes each example to one dim: `(batch, ...)` to `(batch, n)`.
-- @example local f = nn.Flatten()

--- dnn.nn.Reshape(target_shape)
-- Reshapes each example (the batch dim is kept); one size may be -1.
-- @param target_shape the new shape without the batch dim
-- @example local r = nn.Reshape{7, 7, 64}

--- dnn.nn.LeakyReLU([negative_slope])
-- `x` where `x > 0`, else `negative_slope * x` (Keras's layer; the slope defaults to 0.3, the
-- `"leaky_relu"` activation's to 0.2).
-- @param negative_slope the slope for negative inputs, a number >= 0 (or the option)
-- @example local act = nn.LeakyReLU(0.2)

--- dnn.nn.PReLU([options])
-- Leaky ReLU with a learned slope per element (`alpha`, shape of one example, or shared along `shared_axes`).
-- @option alpha_initializer="zeros" the slopes' initializer
-- @option alpha_regularizer=nil a regularizer of the slopes
-- @option shared_axes=nil dims (1-based, without batch) along which one slope is shared: `{1, 2}` for images
-- @example local p = nn.PReLU{shared_axes = {1, 2}}

--- dnn.nn.Masking([options])
-- Masks the time steps whose features all equal `mask_value`; the next
-- layers (RNNs, pooling) skip them.
-- @option mask_value=0 the padding value
-- @example local m = nn.Masking{mask_value = 0}

return M
