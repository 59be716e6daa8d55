-- dnn.layers.conv: Conv2D, Conv2DTranspose and DepthwiseConv2D over the C
-- kernels of core/src/conv.c (NHWC images, Keras's kernel layouts, bias and
-- activation fused into the output pass).
local dnn = require "dnn"
local C = require("dnn.core")._conv
local layer = require "dnn.layer"
local initializers = require "dnn.initializers"
local activations = require "dnn.activations"
local describe = require("dnn.options").describe

local Layer, args_and_options = layer.Layer, layer.args_and_options
local M = {}

-- Activations the C kernels fuse; the others (and Lua functions) run after a linear conv.
local fused_activations = {linear = true, relu = true, leaky_relu = true, sigmoid = true, tanh = true, softmax = true}

local shape_text = layer.shape_text

-- Raises msg at the user's line, however deep the library's own frames.
local raise = require("dnn.options").raise

-- An int or a pair of positive ints -> {h, w}; errors name the layer and the option.
local function pair(who, name, v)
  local p = math.type(v) == "integer" and {v, v} or v
  if type(p) ~= "table" or #p ~= 2 or math.type(p[1]) ~= "integer" or math.type(p[2]) ~= "integer" or p[1] < 1 or
      p[2] < 1 then
    raise(string.format("%s: expected %s a positive integer or a pair of them, got %s", who, name, describe(v)))
  end
  return {p[1], p[2]}
end

local function padding_of(who, v)
  v = v == nil and "valid" or v
  local p = type(v) == "string" and v:lower() or nil
  if p ~= "valid" and p ~= "same" then
    raise(string.format("%s: expected padding \"valid\" or \"same\", got %s", who, describe(v)))
  end
  return p
end

-- Options every conv layer shares: strides, padding, dilation_rate, activation, use_bias, bias and regularizers.
local shared_options = {"strides", "padding", "dilation_rate", "activation", "use_bias", "bias_initializer",
                        "bias_regularizer", "activity_regularizer", "data_format", "groups"}

-- The options of a conv class: the shared ones and its own.
local function options_with(own)
  local list = {table.unpack(shared_options)}
  for _, k in ipairs(own) do list[#list + 1] = k end
  return list
end

local function common_options(self, who, options)
  if options.data_format ~= nil and options.data_format ~= "channels_last" then
    raise(string.format("%s: only data_format \"channels_last\" (batch, height, width, channels) is supported, got %s",
      who, describe(options.data_format)))
  end
  if options.groups ~= nil and options.groups ~= 1 then
    raise(string.format("%s: grouped convolutions are not supported (groups = 1), got groups %s", who,
      describe(options.groups)))
  end
  self.strides = pair(who, "strides", options.strides or 1)
  self.padding = padding_of(who, options.padding)
  self.dilation_rate = pair(who, "dilation_rate", options.dilation_rate or 1)
  if (self.strides[1] > 1 or self.strides[2] > 1) and (self.dilation_rate[1] > 1 or self.dilation_rate[2] > 1) then
    raise(string.format("%s: strides > 1 together with dilation_rate > 1 is not supported (as Keras), got strides " ..
      "{%d, %d} and dilation_rate {%d, %d}", who, self.strides[1], self.strides[2], self.dilation_rate[1],
      self.dilation_rate[2]))
  end
  self.activation = options.activation or "linear"
  local act = activations.get(self.activation, who, 3)
  if not fused_activations[self.activation] then self.activation_fn = act end
  self.use_bias = options.use_bias ~= false
  self.bias_initializer = initializers.get(options.bias_initializer or "zeros", who)
  local regularizers = require "dnn.regularizers"
  self.bias_regularizer = regularizers.get(options.bias_regularizer)
  self.activity_regularizer = regularizers.get(options.activity_regularizer)
end

-- A layer's own error, raised from build or compute_output_shape (outside Layer:call's wrapping): the message
-- names the layer and where it was created, so it carries no position of its own.
local function fail(self, fmt, ...)
  error(string.format("%s '%s' (created at %s): " .. fmt, self.type_name, self.name, self.created_at, ...), 0)
end

local function check_rank(self, input_shape)
  if #input_shape ~= 4 then
    fail(self, "expected (batch, height, width, channels), got a %d-d input %s", #input_shape, shape_text(input_shape))
  end
end

-- Keras's output size of spatial dim d (1 height, 2 width); an error naming the sizes when the kernel does not fit.
local function conv_length(self, input_shape, d)
  local n = input_shape[d + 1]
  if n == nil or n < 0 then return -1 end
  local len = C.output_length(n, self.kernel_size[d], self.strides[d], self.dilation_rate[d], self.padding)
  if len < 1 then
    local kh, kw = self.kernel_size[1], self.kernel_size[2]
    local dh, dw = self.dilation_rate[1], self.dilation_rate[2]
    local dilated = (dh > 1 or dw > 1) and string.format(" (%dx%d dilated)", (kh - 1) * dh + 1, (kw - 1) * dw + 1)
      or ""
    fail(self, "the kernel %dx%d%s is larger than the input's %sx%s (input %s) with \"valid\" padding", kh, kw, dilated,
      tostring(input_shape[2]), tostring(input_shape[3]), shape_text(input_shape))
  end
  return len
end

-- The forward's checks on a real input: the rank and the channels the layer was built for.
local function check_input(self, x)
  if x.ndim ~= 4 then
    error(string.format("expected (batch, height, width, channels), got a %d-d input %s", x.ndim,
      shape_text(x.shape)), 0)
  end
  if x.shape[4] ~= self.in_channels then
    error(string.format("expected an input with %d channels (the layer was built for them), got %s",
      self.in_channels, shape_text(x.shape)), 0)
  end
end

-- _emit_logits: the pre-activation output, for fit's fused cross-entropy (dnn.training).
local function run(self, fn, x)
  local act = (self.activation_fn or self._emit_logits) and "linear" or self.activation
  local y = fn(x, self.kernel, self.bias, self.strides[1], self.strides[2], self.dilation_rate[1],
    self.dilation_rate[2], self.padding, act)
  if self.activation_fn and not self._emit_logits then y = self.activation_fn(y) end
  return y
end

local function add_bias(self, n)
  if not self.use_bias then return end
  local bias = dnn.zeros(n)
  self.bias_initializer(bias, n)
  self:add_weight("bias", bias, {regularizer = self.bias_regularizer})
end

-- The array part of a table ({3, 3}), or nil when it has none.
local function array_part(t)
  if t[1] == nil then return nil end
  return {table.unpack(t)}
end

local function filters_and_kernel(who, args, options)
  local filters = args[1] or options.filters
  if math.type(filters) ~= "integer" or filters < 1 then
    raise(string.format("%s: expected a positive integer number of filters, got %s", who, describe(filters)))
  end
  local ks = args[2] or options.kernel_size
  if ks == nil then ks = array_part(options) end -- Conv2D(32, {3, 3}): the pair came as the trailing table
  if ks == nil then raise(string.format("%s: expected a kernel_size, got nil", who)) end
  return filters, pair(who, "kernel_size", ks)
end

-- A layer class taking (filters, kernel_size, options): Conv2D and Conv2DTranspose, which differ in the C op, the
-- kernel's last two dims (kernel_dims(filters, in_channels)) and so its fans, and compute_output_shape.
local function filter_conv(class_name, default_name, op, kernel_dims)
  local class = Layer:extend(class_name)
  class.options = options_with{"filters", "kernel_size", "kernel_initializer", "kernel_regularizer"}
  function class.new(...)
    local args, options = args_and_options(...)
    local filters, kernel_size = filters_and_kernel(class_name, args, options)
    local self = Layer.init(class, options, default_name)
    self.filters, self.kernel_size = filters, kernel_size
    common_options(self, class_name, options)
    self.kernel_initializer = initializers.get(options.kernel_initializer or "glorot_uniform", class_name)
    self.kernel_regularizer = require("dnn.regularizers").get(options.kernel_regularizer)
    if self.input_shape then self:build({-1, table.unpack(self.input_shape)}) end
    return self
  end
  getmetatable(class).__call = function(_, ...) return class.new(...) end

  function class:build(input_shape)
    self:compute_output_shape(input_shape)
    local kh, kw, c = self.kernel_size[1], self.kernel_size[2], input_shape[4]
    self.in_channels = c
    local d3, d4 = kernel_dims(self.filters, c)
    local kernel = dnn.zeros(kh, kw, d3, d4)
    self.kernel_initializer(kernel, kh * kw * d3, kh * kw * d4) -- Keras's fans of the (kh, kw, d3, d4) shape
    self:add_weight("kernel", kernel, {regularizer = self.kernel_regularizer})
    add_bias(self, self.filters)
    self.built = true
  end

  function class:forward(x)
    check_input(self, x)
    return run(self, op, x)
  end
  return class
end

-- ---- Conv2D ----
-- Keras's: kernel (kernel_h, kernel_w, in_channels, filters), then bias (filters); "same" pads as TensorFlow
-- (the extra pixel at the bottom/right).
local Conv2D = filter_conv("Conv2D", "conv2d", C.conv2d, function(filters, c) return c, filters end)
M.Conv2D = Conv2D

function Conv2D:compute_output_shape(input_shape)
  check_rank(self, input_shape)
  return {input_shape[1], conv_length(self, input_shape, 1), conv_length(self, input_shape, 2), self.filters}
end

-- ---- inference fusion ----
-- A Sequential model (a functional one: where the graph chains the layers) calls _fuse_following(x, layers, i) on its
-- layer i when it has one, recording is off and no mask runs: Conv2D(linear, no activity regularizer) then
-- BatchNormalization on the channels in inference mode (moving statistics), then optionally Activation(relu, sigmoid
-- or tanh), run as one convolution with the batch norm folded into its kernel and bias and the activation fused in
-- its output pass:
--   bn(conv(x, W) + b) = conv(x, W * s) + (b - mean) * s + beta,   s = gamma / sqrt(moving_variance + epsilon).
-- Returns the output and the number of layers it ran, or nil when the layers do not fit (the model then calls them
-- one by one, and their errors come as usual). Equal to the layers' own outputs within float rounding.
local foldable_activations = {relu = true, sigmoid = true, tanh = true}

local function is_plain_layer(l, type_name)
  return type(l) == "table" and l.type_name == type_name and l.built and not l.activity_regularizer and
    not l._emit_logits
end

function Conv2D:_fuse_following(x, layers, i)
  if dnn.is_grad_enabled() or layer.recorder or not dnn.is_tensor(x) then return nil end
  if not is_plain_layer(self, "Conv2D") or self.activation ~= "linear" or self.activation_fn then return nil end
  if x.ndim ~= 4 or x.shape[4] ~= self.in_channels then return nil end
  local bn = layers[i + 1]
  if not is_plain_layer(bn, "BatchNormalization") or (bn.axis ~= -1 and bn.axis ~= 4) or bn.channels ~= self.filters or
    (layer.training_of(bn) and bn.trainable) then
    return nil
  end
  local act, used = layers[i + 2], 2
  if is_plain_layer(act, "Activation") and foldable_activations[act.activation] then
    used = 3
  else
    act = nil
  end
  local s = 1 / (bn.moving_variance + bn.epsilon):sqrt()
  if bn.gamma then s = s * bn.gamma end
  local bias = self.bias and (self.bias - bn.moving_mean) * s or -bn.moving_mean * s
  if bn.beta then bias = bias + bn.beta end
  local y = C.conv2d(x, self.kernel * s, bias, self.strides[1], self.strides[2], self.dilation_rate[1],
    self.dilation_rate[2], self.padding, act and act.activation or "linear")
  return y, used
end

-- ---- Conv2DTranspose ----
-- Keras's: kernel (kernel_h, kernel_w, filters, in_channels), then bias (filters); output length in * stride
-- ("same") or in * stride + max(dilated kernel - stride, 0) ("valid"); the gradient of a Conv2D with that geometry.
local Conv2DTranspose = filter_conv("Conv2DTranspose", "conv2d_transpose", C.conv2d_transpose,
  function(filters, c) return filters, c end)
M.Conv2DTranspose = Conv2DTranspose

function Conv2DTranspose:compute_output_shape(input_shape)
  check_rank(self, input_shape)
  local out = {input_shape[1]}
  for d = 1, 2 do
    local n = input_shape[d + 1]
    out[d + 1] = (n == nil or n < 0) and -1 or
      C.transpose_output_length(n, self.kernel_size[d], self.strides[d], self.dilation_rate[d], self.padding)
  end
  out[4] = self.filters
  return out
end

-- ---- DepthwiseConv2D ----
-- Keras's: each input channel convolved with its own depth_multiplier filters; kernel (kernel_h, kernel_w,
-- in_channels, depth_multiplier), bias (in_channels * depth_multiplier); output channel c * M + m.
local DepthwiseConv2D = Layer:extend("DepthwiseConv2D")
M.DepthwiseConv2D = DepthwiseConv2D
DepthwiseConv2D.options = options_with{"kernel_size", "depth_multiplier", "depthwise_initializer",
                                       "depthwise_regularizer"}

function DepthwiseConv2D.new(...)
  local args, options = args_and_options(...)
  local who = "DepthwiseConv2D"
  local ks = options.kernel_size or args[1]
  if math.type(args[1]) == "integer" and math.type(args[2]) == "integer" then ks = {args[1], args[2]} end -- ({3, 3})
  if ks == nil then raise(who .. ": expected a kernel_size, got nil") end
  local kernel_size = pair(who, "kernel_size", ks)
  local dm = options.depth_multiplier or 1
  if math.type(dm) ~= "integer" or dm < 1 then
    raise(string.format("%s: expected a positive integer depth_multiplier, got %s", who, describe(dm)))
  end
  local self = Layer.init(DepthwiseConv2D, options, "depthwise_conv2d")
  self.kernel_size, self.depth_multiplier = kernel_size, dm
  common_options(self, who, options)
  self.depthwise_initializer = initializers.get(options.depthwise_initializer or "glorot_uniform", who)
  self.depthwise_regularizer = require("dnn.regularizers").get(options.depthwise_regularizer)
  if self.input_shape then self:build({-1, table.unpack(self.input_shape)}) end
  return self
end
getmetatable(DepthwiseConv2D).__call = function(_, ...) return DepthwiseConv2D.new(...) end

function DepthwiseConv2D:build(input_shape)
  self:compute_output_shape(input_shape)
  local kh, kw, c, m = self.kernel_size[1], self.kernel_size[2], input_shape[4], self.depth_multiplier
  self.in_channels = c
  local kernel = dnn.zeros(kh, kw, c, m)
  self.depthwise_initializer(kernel, kh * kw * c, kh * kw * m)
  -- stored as "kernel" (what the C op takes), named depthwise_kernel in weight files as Keras
  self:add_weight("depthwise_kernel", kernel, {regularizer = self.depthwise_regularizer})
  self.kernel = kernel
  add_bias(self, c * m)
  self.built = true
end

function DepthwiseConv2D:forward(x)
  check_input(self, x)
  return run(self, C.depthwise_conv2d, x)
end

function DepthwiseConv2D:compute_output_shape(input_shape)
  check_rank(self, input_shape)
  local c = input_shape[4]
  return {input_shape[1], conv_length(self, input_shape, 1), conv_length(self, input_shape, 2),
    (c and c >= 0) and c * self.depth_multiplier or -1}
end


-- ---- reference ----

--- dnn.nn.Conv2D(filters, kernel_size[, options])
-- A 2-d convolution over `(batch, height, width, channels)` images. Kernel
-- `(kernel_h, kernel_w, in_channels, filters)`, then bias `(filters)`.
-- @param filters the number of output channels
-- @param kernel_size an int or `{h, w}`
-- @option strides=1 an int or `{h, w}`
-- @option padding="valid" `"valid"` or `"same"` (Keras's, also with stride 2)
-- @option dilation_rate=1 an int or `{h, w}`
-- @option activation="linear" an activation name or function
-- @option use_bias=true whether to add a bias
-- @option kernel_initializer="glorot_uniform" an initializer
-- @option bias_initializer="zeros" an initializer
-- @option kernel_regularizer=nil a regularizer
-- @option bias_regularizer=nil a regularizer
-- @option activity_regularizer=nil a regularizer of the output
-- @option data_format="channels_last" only `"channels_last"` (Keras's default)
-- @option groups=1 only 1
-- @example local c = nn.Conv2D(32, 3, {padding = "same", activation = "relu", input_shape = {28, 28, 1}})

--- dnn.nn.Conv2DTranspose(filters, kernel_size[, options])
-- The transposed convolution (upsampling by `strides`). Kernel
-- `(kernel_h, kernel_w, filters, in_channels)`, as Keras. Options as `Conv2D`.
-- @param filters the number of output channels
-- @param kernel_size an int or `{h, w}`
-- @option strides=1 an int or `{h, w}`
-- @option padding="valid" `"valid"` or `"same"`
-- @option dilation_rate=1 an int or `{h, w}`
-- @option activation="linear" an activation
-- @option use_bias=true whether to add a bias
-- @option kernel_initializer="glorot_uniform" an initializer
-- @option bias_initializer="zeros" an initializer
-- @option kernel_regularizer=nil a regularizer
-- @option bias_regularizer=nil a regularizer
-- @option activity_regularizer=nil a regularizer of the output
-- @option data_format="channels_last" only `"channels_last"`
-- @option groups=1 only 1
-- @example local up = nn.Conv2DTranspose(16, 3, {strides = 2, padding = "same"})

--- dnn.nn.DepthwiseConv2D(kernel_size[, options])
-- A convolution of each input channel alone, `depth_multiplier` outputs per
-- channel. Kernel `(kernel_h, kernel_w, in_channels, depth_multiplier)`.
-- @param kernel_size an int or `{h, w}`
-- @option depth_multiplier=1 outputs per input channel
-- @option depthwise_initializer="glorot_uniform" the kernel's initializer
-- @option depthwise_regularizer=nil the kernel's regularizer
-- @option strides=1 an int or `{h, w}`
-- @option padding="valid" `"valid"` or `"same"`
-- @option dilation_rate=1 an int or `{h, w}`
-- @option activation="linear" an activation
-- @option use_bias=true whether to add a bias
-- @option bias_initializer="zeros" an initializer
-- @option bias_regularizer=nil a regularizer
-- @option activity_regularizer=nil a regularizer of the output
-- @option data_format="channels_last" only `"channels_last"`
-- @option groups=1 only 1
-- @example local dw = nn.DepthwiseConv2D(3, {padding = "same"})

return M
