-- dnn.layers.sequence: the layers of sequences (batch, timesteps, features),
-- as Keras: Embedding (over the C op of core/src/nn_embedding.c), Conv1D,
-- MaxPooling1D, AveragePooling1D, GlobalAveragePooling1D,
-- GlobalMaxPooling1D, UpSampling1D (over the 2-d kernels of conv.c and
-- pool.c: (N, T, C) is viewed as the image (N, 1, T, C)), and
-- TimeDistributed(layer).
--
-- Ids count from 1, as every id in dnnlua: Embedding(input_dim, output_dim)
-- takes ids 1..input_dim, and id 0 is free to mean padding: with
-- mask_zero = true it embeds to zeros and the layer's mask (ids ~= 0) goes
-- to the next layers (Sequential and functional models pass it on; in a
-- direct call the caller passes emb:compute_mask(ids) as {mask = ...}).
local dnn = require "dnn"
local layer = require "dnn.layer"
local initializers = require "dnn.initializers"
local activations = require "dnn.activations"
local options_lib = require "dnn.options"
local Cconv = require("dnn.core")._conv
local P = require("dnn.core")._pool
local L = require("dnn.core")._layers

local Layer, args_and_options = layer.Layer, layer.args_and_options
local describe, raise = options_lib.describe, options_lib.raise
local M = {}

local shape_text = layer.shape_text

local function known(d) return d ~= nil and d >= 0 end

-- A layer's own error from build or compute_output_shape (outside Layer:call's wrapping): names the layer.
local function fail(self, fmt, ...)
  error(string.format("%s '%s' (created at %s): " .. fmt, self.type_name, self.name, self.created_at, ...), 0)
end

-- A positive integer, or a table of one ({3}, as Keras's tuples); errors name the class and the option.
local function one_int(who, name, v, min)
  local x = v
  if type(v) == "table" and getmetatable(v) == nil and #v == 1 then x = v[1] end
  if math.type(x) ~= "integer" or x < (min or 1) then
    raise(string.format("%s: expected %s a positive integer (or a table of one), got %s", who, name, describe(v)))
  end
  return x
end

-- Keras's data_format: only channels_last, (batch, steps, features).
local function check_data_format(who, options)
  local f = options.data_format
  if f ~= nil and f ~= "channels_last" then
    raise(string.format("%s: only data_format \"channels_last\" (batch, steps, features) is supported, got %s", who,
      describe(f)))
  end
end

local function check_rank3_shape(self, input_shape)
  if #input_shape ~= 3 then
    fail(self, "expected a 3-d input (batch, steps, features), got %s", shape_text(input_shape))
  end
end

-- The forward's check on a real input.
local function check_rank3(x)
  if x.ndim ~= 3 then
    error(string.format("expected a 3-d input (batch, steps, features), got a %d-d input %s", x.ndim,
      shape_text(x.shape)), 0)
  end
end

-- (N, T, C) <-> the image (N, 1, T, C) the 2-d kernels take: views, recorded, so gradients of any order pass.
local function as_image(x) return x:unsqueeze(2) end
local function from_image(y) return y:squeeze(2) end

-- ---- Embedding ----
-- Keras's: one weight, embeddings (input_dim, output_dim), drawn uniform in
-- [-0.05, 0.05]; ids of any shape S -> (S, output_dim). Ids are 1..input_dim
-- (row v of the table for id v); 0 is padding with mask_zero (a row of zeros,
-- no gradient, masked), an error without it, as is any other id outside the
-- range (naming the id and its position). The table is made at construction:
-- its shape does not depend on the input.
--- dnn.nn.Embedding(input_dim, output_dim[, options])
-- Looks up a row of its table `(input_dim, output_dim)` for each token id:
-- ids of any shape S give `(S, output_dim)`. Ids are 1..input_dim; 0 is
-- padding with `mask_zero` (a zero row, no gradient, and a mask passed on).
-- @param input_dim the number of ids (a Tokenizer's `vocabulary_size()`)
-- @param output_dim the embedding size
-- @option embeddings_initializer="uniform" the table's initializer ([-0.05, 0.05])
-- @option embeddings_regularizer=nil a regularizer of the table
-- @option activity_regularizer=nil a regularizer of the output
-- @option mask_zero=false id 0 is padding and masked
-- @option input_length=nil accepted for Keras compatibility (the length of the sequences)
-- @example local emb = nn.Embedding(10000, 64, {mask_zero = true})
local Embedding = Layer:extend("Embedding")
Embedding.step_wise = true -- acts on each step alone (model:generate)
M.Embedding = Embedding
Embedding.options = {"input_dim", "output_dim", "embeddings_initializer", "embeddings_regularizer",
                     "activity_regularizer", "mask_zero", "input_length"}

function Embedding.new(...)
  local args, options = args_and_options(...)
  local who = "Embedding"
  local input_dim = args[1] or options.input_dim
  local output_dim = args[2] or options.output_dim
  if math.type(input_dim) ~= "integer" or input_dim < 1 then
    raise(string.format("%s: expected input_dim, the number of ids (ids are 1..input_dim), a positive integer, " ..
      "got %s", who, describe(input_dim)))
  end
  if math.type(output_dim) ~= "integer" or output_dim < 1 then
    raise(string.format("%s: expected output_dim a positive integer, got %s", who, describe(output_dim)))
  end
  if options.mask_zero ~= nil and type(options.mask_zero) ~= "boolean" then
    raise(string.format("%s: expected mask_zero true or false, got %s", who, describe(options.mask_zero)))
  end
  local input_length = options.input_length
  if input_length ~= nil and (math.type(input_length) ~= "integer" or input_length < 1) then
    raise(string.format("%s: expected input_length a positive integer, got %s", who, describe(input_length)))
  end
  local self = Layer.init(Embedding, options, "embedding")
  self.input_dim, self.output_dim = input_dim, output_dim
  self.mask_zero = options.mask_zero == true
  self.input_length = input_length
  if input_length and not self.input_shape then self.input_shape = {input_length} end -- Keras 2's shape hint
  self.embeddings_initializer = initializers.get(options.embeddings_initializer or "uniform", who)
  local regularizers = require "dnn.regularizers"
  self.embeddings_regularizer = regularizers.get(options.embeddings_regularizer)
  self.activity_regularizer = regularizers.get(options.activity_regularizer)
  local table_ = dnn.zeros(input_dim, output_dim)
  self.embeddings_initializer(table_, input_dim, output_dim)
  self:add_weight("embeddings", table_, {regularizer = self.embeddings_regularizer})
  self.built = true
  return self
end
getmetatable(Embedding).__call = function(_, ...) return Embedding.new(...) end

function Embedding:forward(ids)
  if self.input_length and ids.ndim >= 2 and ids.shape[2] ~= self.input_length then
    error(string.format("expected ids of input_length %d steps, got %s", self.input_length, shape_text(ids.shape)), 0)
  end
  return L.embedding(self.embeddings, ids, self.mask_zero)
end

-- With mask_zero: 1 where the id is a real one, 0 for padding (the ids' shape); else no mask.
function Embedding:compute_mask(ids)
  if not self.mask_zero then return nil end
  return ids:ne(0)
end

function Embedding:compute_output_shape(input_shape)
  local out = {table.unpack(input_shape)}
  out[#out + 1] = self.output_dim
  return out
end

-- ---- Conv1D ----
-- Keras's: kernel (kernel_size, in_channels, filters), then bias (filters);
-- padding "valid", "same" (TensorFlow's, the extra step at the end) or
-- "causal": (kernel_size - 1) * dilation_rate zeros before the first step,
-- then valid, so output t sees inputs up to t only and the length is
-- ceil(steps / strides). Runs as Conv2D on (N, 1, T, C) with the kernel
-- (1, k, C, F): the GEMM path, and gradients of any order.
local fused_activations = {linear = true, relu = true, leaky_relu = true, sigmoid = true, tanh = true, softmax = true}

--- dnn.nn.Conv1D(filters, kernel_size[, options])
-- A 1-d convolution over `(batch, steps, channels)`. Kernel
-- `(kernel_size, in_channels, filters)`, then bias.
-- @param filters the number of output channels
-- @param kernel_size an int
-- @option strides=1 an int
-- @option padding="valid" `"valid"`, `"same"` or `"causal"` (output t sees inputs up to t only)
-- @option dilation_rate=1 an int
-- @option activation="linear" an activation
-- @option use_bias=true whether to add a bias
-- @option kernel_initializer="glorot_uniform" an initializer
-- @option bias_initializer="zeros" an initializer
-- @option kernel_regularizer=nil a regularizer
-- @option bias_regularizer=nil a regularizer
-- @option activity_regularizer=nil a regularizer of the output
-- @option data_format="channels_last" only `"channels_last"`
-- @option groups=1 only 1
-- @example local c = nn.Conv1D(32, 5, {padding = "causal", activation = "relu"})
local Conv1D = Layer:extend("Conv1D")
M.Conv1D = Conv1D
Conv1D.options = {"filters", "kernel_size", "strides", "padding", "dilation_rate", "activation", "use_bias",
                  "kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
                  "activity_regularizer", "data_format", "groups"}

function Conv1D.new(...)
  local args, options = args_and_options(...)
  local who = "Conv1D"
  local filters = args[1] or options.filters
  if math.type(filters) ~= "integer" or filters < 1 then
    raise(string.format("%s: expected a positive integer number of filters, got %s", who, describe(filters)))
  end
  local ks = args[2] or options.kernel_size
  if ks == nil and options[1] ~= nil then ks = {table.unpack(options)} end -- Conv1D(8, {3}): it came as the options
  if ks == nil then raise(string.format("%s: expected a kernel_size, got nil", who)) end
  local kernel_size = one_int(who, "kernel_size", ks)
  check_data_format(who, options)
  if options.groups ~= nil and options.groups ~= 1 then
    raise(string.format("%s: grouped convolutions are not supported (groups = 1), got groups %s", who,
      describe(options.groups)))
  end
  local padding = options.padding == nil and "valid" or options.padding
  padding = type(padding) == "string" and padding:lower() or padding
  if padding ~= "valid" and padding ~= "same" and padding ~= "causal" then
    raise(string.format("%s: expected padding \"valid\", \"same\" or \"causal\", got %s", who,
      describe(options.padding)))
  end
  local strides = one_int(who, "strides", options.strides or 1)
  local dilation = one_int(who, "dilation_rate", options.dilation_rate or 1)
  if strides > 1 and dilation > 1 then
    raise(string.format("%s: strides > 1 together with dilation_rate > 1 is not supported (as Keras), got strides " ..
      "%d and dilation_rate %d", who, strides, dilation))
  end
  local self = Layer.init(Conv1D, options, "conv1d")
  self.filters, self.kernel_size, self.strides, self.dilation_rate, self.padding =
    filters, kernel_size, strides, dilation, padding
  self.activation = options.activation or "linear"
  local act = activations.get(self.activation, who, 3)
  if not fused_activations[self.activation] then self.activation_fn = act end
  self.use_bias = options.use_bias ~= false
  self.kernel_initializer = initializers.get(options.kernel_initializer or "glorot_uniform", who)
  self.bias_initializer = initializers.get(options.bias_initializer or "zeros", who)
  local regularizers = require "dnn.regularizers"
  self.kernel_regularizer = regularizers.get(options.kernel_regularizer)
  self.bias_regularizer = regularizers.get(options.bias_regularizer)
  self.activity_regularizer = regularizers.get(options.activity_regularizer)
  if self.input_shape then self:build({-1, table.unpack(self.input_shape)}) end
  return self
end
getmetatable(Conv1D).__call = function(_, ...) return Conv1D.new(...) end

-- The zeros causal padding puts before the first step.
function Conv1D:_causal_pad()
  return self.padding == "causal" and (self.kernel_size - 1) * self.dilation_rate or 0
end

function Conv1D:compute_output_shape(input_shape)
  check_rank3_shape(self, input_shape)
  local n, len = input_shape[2], -1
  if known(n) then
    local pad = self:_causal_pad()
    len = Cconv.output_length(n + pad, self.kernel_size, self.strides, self.dilation_rate,
      self.padding == "same" and "same" or "valid")
    if len < 1 then
      local k = self.kernel_size
      local dilated = self.dilation_rate > 1 and string.format(" (%d dilated)", (k - 1) * self.dilation_rate + 1) or ""
      fail(self, "the kernel %d%s is longer than the input's %d steps (input %s) with \"valid\" padding", k, dilated, n,
        shape_text(input_shape))
    end
  end
  return {input_shape[1], len, self.filters}
end

function Conv1D:build(input_shape)
  self:compute_output_shape(input_shape)
  local k, c, f = self.kernel_size, input_shape[3], self.filters
  self.in_channels = c
  local kernel = dnn.zeros(k, c, f)
  self.kernel_initializer(kernel, k * c, k * f) -- Keras's fans of the (k, in, filters) shape
  self:add_weight("kernel", kernel, {regularizer = self.kernel_regularizer})
  if self.use_bias then
    local bias = dnn.zeros(f)
    self.bias_initializer(bias, f)
    self:add_weight("bias", bias, {regularizer = self.bias_regularizer})
  end
  self.built = true
end

function Conv1D:forward(x)
  check_rank3(x)
  if x.shape[3] ~= self.in_channels then
    error(string.format("expected an input with %d channels (the layer was built for them), got %s",
      self.in_channels, shape_text(x.shape)), 0)
  end
  local image = as_image(x)
  local pad = self:_causal_pad()
  if pad > 0 then image = dnn.cat({dnn.zeros(x.shape[1], 1, pad, x.shape[3]), image}, 3) end
  -- _emit_logits: the pre-activation output, for fit's fused cross-entropy (dnn.training)
  local act = (self.activation_fn or self._emit_logits) and "linear" or self.activation
  local y = Cconv.conv2d(image, self.kernel:unsqueeze(1), self.bias, 1, self.strides, 1, self.dilation_rate,
    self.padding == "same" and "same" or "valid", act)
  y = from_image(y)
  if self.activation_fn and not self._emit_logits then y = self.activation_fn(y) end
  return y
end

-- ---- MaxPooling1D and AveragePooling1D ----
-- Keras's: pool_size (default 2), strides (default the pool size), padding
-- "valid" or "same" (padded steps never count, as TF); positional order
-- pool_size, strides, padding. Over the 2-d pooling kernels on (N, 1, T, C).
local function pooling_class(type_name, base_name, max)
  local cls = Layer:extend(type_name)
  cls.options = {"pool_size", "strides", "padding", "data_format"}
  function cls.new(...)
    local args, options = args_and_options(...)
    check_data_format(type_name, options)
    local pool = one_int(type_name, "pool_size", args[1] or options.pool_size or 2)
    local strides = args[2] or options.strides
    strides = strides == nil and pool or one_int(type_name, "strides", strides)
    local padding = args[3] or options.padding or "valid"
    if type(padding) ~= "string" or (padding:lower() ~= "valid" and padding:lower() ~= "same") then
      raise(string.format("%s: expected padding \"valid\" or \"same\", got %s", type_name, describe(padding)))
    end
    local self = Layer.init(cls, options, base_name)
    self.pool_size, self.strides, self.padding = pool, strides, padding:lower()
    return self
  end
  getmetatable(cls).__call = function(_, ...) return cls.new(...) end

  function cls:forward(x)
    check_rank3(x)
    return from_image(P.pool2d(as_image(x), max, 1, self.pool_size, 1, self.strides, self.padding == "same"))
  end

  function cls:compute_output_shape(input_shape)
    check_rank3_shape(self, input_shape)
    local n, len = input_shape[2], -1
    if known(n) then
      len = P.pool_out_size(n, self.pool_size, self.strides, self.padding == "same")
      if len < 1 then
        fail(self, "expected a pool size %d that fits the input %s with padding \"valid\"", self.pool_size,
          shape_text(input_shape))
      end
    end
    return {input_shape[1], len, input_shape[3]}
  end
  return cls
end

--- dnn.nn.MaxPooling1D([pool_size[, strides[, padding]]])
-- The maximum over windows of steps, per channel.
-- @option pool_size=2 the window
-- @option strides=pool_size the step between windows
-- @option padding="valid" `"valid"` or `"same"`
-- @option data_format="channels_last" only `"channels_last"`
-- @alias dnn.nn.MaxPool1D
-- @example local p = nn.MaxPooling1D(2)
--- dnn.nn.AveragePooling1D([pool_size[, strides[, padding]]])
-- The mean over windows of steps, per channel (padded steps not counted).
-- @option pool_size=2 the window
-- @option strides=pool_size the step between windows
-- @option padding="valid" `"valid"` or `"same"`
-- @option data_format="channels_last" only `"channels_last"`
-- @alias dnn.nn.AvgPool1D
-- @example local p = nn.AveragePooling1D(2)
M.MaxPooling1D = pooling_class("MaxPooling1D", "max_pooling1d", true)
M.AveragePooling1D = pooling_class("AveragePooling1D", "average_pooling1d", false)
M.MaxPool1D, M.AvgPool1D = M.MaxPooling1D, M.AveragePooling1D -- Keras's aliases

-- ---- GlobalAveragePooling1D and GlobalMaxPooling1D ----
-- The mean (or max) of each feature over the steps: (batch, features), or
-- (batch, 1, features) with keepdims = true. GlobalAveragePooling1D takes a
-- mask (batch, steps) as Keras: the mean of the unmasked steps only; a
-- sequence with every step masked gives zeros (Keras divides 0 by 0). It
-- consumes the mask: none goes on. GlobalMaxPooling1D takes no mask (nor does
-- Keras's).
local function global_class(type_name, base_name, max)
  local cls = Layer:extend(type_name)
  cls.options = {"keepdims", "data_format"}
  cls.supports_masking = not max
  function cls.new(...)
    local _, options = args_and_options(...)
    check_data_format(type_name, options)
    if options.keepdims ~= nil and type(options.keepdims) ~= "boolean" then
      raise(string.format("%s: expected keepdims true or false, got %s", type_name, describe(options.keepdims)))
    end
    local self = Layer.init(cls, options, base_name)
    self.keepdims = options.keepdims == true
    return self
  end
  getmetatable(cls).__call = function(_, ...) return cls.new(...) end

  function cls:forward(x, opts)
    check_rank3(x)
    local mask = opts and opts.mask
    local y
    if mask then
      if mask.ndim ~= 2 or mask.shape[1] ~= x.shape[1] or mask.shape[2] ~= x.shape[2] then
        error(string.format("expected a mask (batch, steps) of %s for the input %s, got %s",
          shape_text({x.shape[1], x.shape[2]}), shape_text(x.shape), shape_text(mask.shape)), 0)
      end
      mask = mask:detach()
      local count = mask:sum(2, true):clamp(1, math.huge) -- (N, 1): the unmasked steps, at least 1
      y = (x * mask:unsqueeze(3)):sum(2) / count
    else
      y = P.global_pool2d(as_image(x), max, false)
    end
    if self.keepdims then y = y:unsqueeze(2) end
    return y
  end

  function cls:compute_mask()
    return nil
  end

  function cls:compute_output_shape(input_shape)
    check_rank3_shape(self, input_shape)
    if self.keepdims then return {input_shape[1], 1, input_shape[3]} end
    return {input_shape[1], input_shape[3]}
  end
  return cls
end

--- dnn.nn.GlobalAveragePooling1D([options])
-- The mean of each feature over the steps, `(batch, features)`; with a mask, over the unmasked steps only.
-- @option keepdims=false keep the steps dim as size 1
-- @option data_format="channels_last" only `"channels_last"`
-- @alias dnn.nn.GlobalAvgPool1D
-- @example local g = nn.GlobalAveragePooling1D()
--- dnn.nn.GlobalMaxPooling1D([options])
-- The maximum of each feature over the steps, `(batch, features)`.
-- @option keepdims=false keep the steps dim as size 1
-- @option data_format="channels_last" only `"channels_last"`
-- @alias dnn.nn.GlobalMaxPool1D
-- @example local g = nn.GlobalMaxPooling1D()
M.GlobalAveragePooling1D = global_class("GlobalAveragePooling1D", "global_average_pooling1d", false)
M.GlobalMaxPooling1D = global_class("GlobalMaxPooling1D", "global_max_pooling1d", true)
M.GlobalAvgPool1D, M.GlobalMaxPool1D = M.GlobalAveragePooling1D, M.GlobalMaxPooling1D

-- ---- UpSampling1D ----
-- Keras's: each step repeated size times (default 2).
--- dnn.nn.UpSampling1D([size])
-- Repeats each step `size` times.
-- @option size=2 the repeat count
-- @example local up = nn.UpSampling1D(2)
local UpSampling1D = Layer:extend("UpSampling1D")
M.UpSampling1D = UpSampling1D
UpSampling1D.options = {"size"}

function UpSampling1D.new(...)
  local args, options = args_and_options(...)
  local size = one_int("UpSampling1D", "size", args[1] or options.size or 2)
  local self = Layer.init(UpSampling1D, options, "up_sampling1d")
  self.size = size
  return self
end
getmetatable(UpSampling1D).__call = function(_, ...) return UpSampling1D.new(...) end

function UpSampling1D:forward(x)
  check_rank3(x)
  return from_image(P.upsample2d(as_image(x), 1, self.size, false))
end

function UpSampling1D:compute_output_shape(input_shape)
  check_rank3_shape(self, input_shape)
  local n = input_shape[2]
  return {input_shape[1], known(n) and n * self.size or -1, input_shape[3]}
end

-- ---- TimeDistributed ----
-- Keras's: TimeDistributed(layer) applies layer to every step of
-- (batch, steps, ...) with one set of weights, by folding the steps into the
-- batch: (N, T, ...) -> (N * T, ...) -> layer -> (N, T, ...). Its weights are
-- the inner layer's (the same tensors, in the wrapper's list, so they are
-- named "time_distributed/kernel" as tf.keras names them); trainable and
-- train()/eval() reach the inner layer. A mask (batch, steps) passes through
-- unchanged: the inner layer acts on each step alone and does not see it.
--- dnn.nn.TimeDistributed(layer)
-- Applies `layer` to every step of `(batch, steps, ...)` with one set of
-- weights (its weights are the inner layer's). A mask passes through.
-- @param layer the layer applied per step
-- @example local td = nn.TimeDistributed(nn.Dense(8))
local TimeDistributed = Layer:extend("TimeDistributed")
M.TimeDistributed = TimeDistributed
TimeDistributed.options = {"layer"}
TimeDistributed.supports_masking = true

-- trainable on the wrapper sets it on the inner layer too (their weights are the same tensors).
TimeDistributed.__newindex = layer.composed_newindex(function(self) return {rawget(self, "layer")} end)

function TimeDistributed.new(...)
  -- TimeDistributed(layer[, options]) or TimeDistributed{layer = layer, ...}: a layer is a table, never options
  local first, second = ...
  local inner, options
  if layer.is_layer(first) then
    inner, options = first, second or {}
    if type(options) ~= "table" or getmetatable(options) ~= nil then
      raise(string.format("TimeDistributed: expected an options table after the layer, got %s", describe(options)))
    end
  else
    local args
    args, options = args_and_options(...)
    inner = args[1] or options.layer
  end
  if not layer.is_layer(inner) then
    raise(string.format("TimeDistributed: expected a layer to wrap, got %s", describe(inner)))
  end
  local self = Layer.init(TimeDistributed, options, "time_distributed")
  rawset(self, "_options", {input_shape = options.input_shape})
  self.layer = inner
  self.trainable = inner.trainable ~= false and self.trainable
  if inner.built then self.weights = inner.weights end
  if self.input_shape then self:build({-1, table.unpack(self.input_shape)}) end
  return self
end
getmetatable(TimeDistributed).__call = function(_, ...) return TimeDistributed.new(...) end

-- The inner layer's input shape: (N * T, ...), -1 where N or T is unknown.
local function folded(input_shape)
  local n, t = input_shape[1], input_shape[2]
  local out = {(known(n) and known(t)) and n * t or -1}
  for i = 3, #input_shape do out[#out + 1] = input_shape[i] end
  return out
end

function TimeDistributed:_check_shape(input_shape)
  if #input_shape < 3 then
    fail(self, "expected an input of at least 3 dims (batch, steps, ...), got %s", shape_text(input_shape))
  end
end

function TimeDistributed:build(input_shape)
  self:_check_shape(input_shape)
  local inner = self.layer
  if not inner.built then inner:build(folded(input_shape)) end
  self.weights = inner.weights
  self.built = true
end

function TimeDistributed:forward(x)
  if x.ndim < 3 then
    error(string.format("expected an input of at least 3 dims (batch, steps, ...), got a %d-d input %s", x.ndim,
      shape_text(x.shape)), 0)
  end
  local n, t = x.shape[1], x.shape[2]
  local y = self.layer(x:reshape(n * t, table.unpack(x.shape, 3)))
  return y:reshape(n, t, table.unpack(y.shape, 2))
end

function TimeDistributed:compute_output_shape(input_shape)
  self:_check_shape(input_shape)
  local inner = self.layer:compute_output_shape(folded(input_shape))
  local out = {input_shape[1], input_shape[2]}
  for i = 2, #inner do out[#out + 1] = inner[i] end
  return out
end

TimeDistributed.get_config = layer.wrapper_config

function TimeDistributed:train(on)
  Layer.train(self, on)
  self.layer:train(on)
  return self
end

function TimeDistributed:regularization_loss()
  return layer.wrapper_regularization_loss(self, {self.layer})
end

return M
