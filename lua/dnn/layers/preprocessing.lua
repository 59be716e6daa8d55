-- dnn.layers.preprocessing: Keras's augmentation and preprocessing layers.
-- The Random* layers and GaussianNoise act only while the layer is training
-- (the identity after layer:eval(), in a call with {training = false}, in
-- predict and evaluate); Rescaling and
-- Normalization always act. Each random layer draws one transform per image
-- from dnn's PRNG (dnn.manual_seed repeats them) in a batched C kernel; they
-- are data operations: nothing flows back through them to the input.
-- Images are (batch, height, width, channels); a single (H, W, C) image works.
local dnn = require "dnn"
local layer = require "dnn.layer"
local D = require("dnn.core")._data
local strict = require "dnn.options"
local describe = strict.describe

local Layer, args_and_options = layer.Layer, layer.args_and_options
local M = {}

local function copy_shape(s)
  return {table.unpack(s)}
end

-- A factor as Keras takes it: a number f gives (-f, f) (or (1 - f, 1 + f)
-- around one), a pair {lo, hi} is taken as is.
local function range_of(v, what, fname, around_one)
  if type(v) == "number" then
    if not strict.is_finite(v) then error(string.format("%s: %s must be finite, got %s", fname, what, describe(v)), 4) end
    if v < 0 then error(string.format("%s: %s must be >= 0, got %g", fname, what, v), 4) end
    if around_one then return 1 - v, 1 + v end
    return -v, v
  end
  if type(v) == "table" and strict.is_finite(v[1]) and strict.is_finite(v[2]) and v[1] <= v[2] then
    return v[1], v[2]
  end
  error(string.format("%s: %s must be a number or a pair {lower, upper}, got %s", fname, what, describe(v)), 4)
end

-- Runs fn on a batch; a single (H, W, C) image goes through as a batch of one.
local function on_batch(x, fn)
  if x.ndim == 3 then return fn(x:reshape(1, x.shape[1], x.shape[2], x.shape[3]))[1] end
  if x.ndim ~= 4 then error(string.format("expected images (batch, height, width, channels), got %d dims", x.ndim)) end
  return fn(x)
end

local fill_modes = {constant = true, nearest = true, reflect = true, wrap = true}
local interpolations = {bilinear = true, nearest = true}

local function warp_options(self, options, fname)
  self.fill_mode = options.fill_mode or "reflect"
  self.interpolation = options.interpolation or "bilinear"
  self.fill_value = options.fill_value or 0
  if not fill_modes[self.fill_mode] then
    error(fname .. ": fill_mode must be constant, nearest, reflect or wrap, got " .. describe(self.fill_mode), 3)
  end
  if not interpolations[self.interpolation] then
    error(fname .. ": interpolation must be bilinear or nearest, got " .. describe(self.interpolation), 3)
  end
  if type(self.fill_value) ~= "number" then
    error(fname .. ": fill_value must be a number, got " .. describe(self.fill_value), 3)
  end
end

local warp_option_names = {"fill_mode", "interpolation", "fill_value"}

-- The options of a layer that warps: its own and warp_options'.
local function warping(own)
  local list = {table.unpack(warp_option_names)}
  for _, k in ipairs(own) do list[#list + 1] = k end
  return list
end

-- Declares a layer class taking options (their names) with a constructor init(self, args, options).
local function define(type_name, base_name, options, init)
  local cls = Layer:extend(type_name)
  cls.options = options
  M[type_name] = cls
  cls.new = function(...)
    local args, options = args_and_options(...)
    local self = Layer.init(cls, options, base_name)
    init(self, args, options)
    return self
  end
  getmetatable(cls).__call = function(_, ...) return cls.new(...) end
  cls.compute_output_shape = function(_, s) return copy_shape(s) end
  return cls
end

local RandomFlip = define("RandomFlip", "random_flip", {"mode"}, function(self, args, options)
  self.mode = args[1] or options.mode or "horizontal_and_vertical"
  local h = self.mode == "horizontal" or self.mode == "horizontal_and_vertical"
  local v = self.mode == "vertical" or self.mode == "horizontal_and_vertical"
  if not (h or v) then
    error("RandomFlip: mode must be horizontal, vertical or horizontal_and_vertical, got " .. describe(self.mode), 4)
  end
  self.horizontal, self.vertical = h, v
end)

function RandomFlip:forward(x)
  if not self.training then return x end
  return on_batch(x, function(b) return D.random_warp(b, "flip", self.horizontal, self.vertical) end)
end

local RandomRotation = define("RandomRotation", "random_rotation", warping{"factor"}, function(self, args, options)
  local lo, hi = range_of(args[1] or options.factor, "factor", "RandomRotation")
  self.lower, self.upper = lo, hi
  warp_options(self, options, "RandomRotation")
end)

function RandomRotation:forward(x)
  if not self.training then return x end
  local tau = 2 * math.pi
  return on_batch(x, function(b)
    return D.random_warp(b, "rotation", self.lower * tau, self.upper * tau, nil, nil, self.interpolation,
      self.fill_mode, self.fill_value)
  end)
end

local RandomZoom = define("RandomZoom", "random_zoom", warping{"height_factor", "width_factor"},
  function(self, args, options)
  self.h_lower, self.h_upper = range_of(args[1] or options.height_factor, "height_factor", "RandomZoom")
  local wf = args[2] or options.width_factor
  if wf ~= nil then self.w_lower, self.w_upper = range_of(wf, "width_factor", "RandomZoom") end
  warp_options(self, options, "RandomZoom")
end)

function RandomZoom:forward(x)
  if not self.training then return x end
  return on_batch(x, function(b)
    return D.random_warp(b, "zoom", self.h_lower, self.h_upper, self.w_lower, self.w_upper, self.interpolation,
      self.fill_mode, self.fill_value)
  end)
end

local RandomTranslation = define("RandomTranslation", "random_translation",
  warping{"height_factor", "width_factor"}, function(self, args, options)
  self.h_lower, self.h_upper = range_of(args[1] or options.height_factor, "height_factor", "RandomTranslation")
  self.w_lower, self.w_upper = range_of(args[2] or options.width_factor, "width_factor", "RandomTranslation")
  warp_options(self, options, "RandomTranslation")
end)

function RandomTranslation:forward(x)
  if not self.training then return x end
  return on_batch(x, function(b)
    return D.random_warp(b, "translation", self.h_lower, self.h_upper, self.w_lower, self.w_upper, self.interpolation,
      self.fill_mode, self.fill_value)
  end)
end

-- RandomCrop(height, width): a random window in training, the center one otherwise (as Keras 2).
local RandomCrop = define("RandomCrop", "random_crop", {"height", "width"}, function(self, args, options)
  self.height, self.width = args[1] or options.height, args[2] or options.width
  if math.type(self.height) ~= "integer" or math.type(self.width) ~= "integer" or self.height < 1 or self.width < 1 then
    error(string.format("RandomCrop: expected positive integer height and width, got %s and %s",
      describe(self.height), describe(self.width)), 4)
  end
end)

function RandomCrop:forward(x)
  return on_batch(x, function(b)
    local H, W = b.shape[2], b.shape[3]
    if H < self.height or W < self.width then
      error(string.format("RandomCrop: the images (%dx%d) are smaller than the crop (%dx%d)", H, W, self.height,
        self.width))
    end
    if self.training then return D.random_crop(b, self.height, self.width) end
    local top, left = (H - self.height) // 2, (W - self.width) // 2
    return b:narrow(2, top + 1, self.height):narrow(3, left + 1, self.width):contiguous()
  end)
end

function RandomCrop:compute_output_shape(s)
  local out = copy_shape(s)
  out[#out - 2], out[#out - 1] = self.height, self.width
  return out
end

local function value_range(options, fname)
  local r = options.value_range or {0, 1}
  if type(r) ~= "table" or type(r[1]) ~= "number" or type(r[2]) ~= "number" or r[1] >= r[2] then
    error(fname .. ": value_range must be {low, high} with low < high, got " .. describe(r), 4)
  end
  return r[1], r[2]
end

-- RandomContrast(factor): each image's channels scaled about their mean by a factor in [1 - f, 1 + f], clipped to
-- value_range ({0, 1} by default: dnn's images are in [0, 1]).
local RandomContrast = define("RandomContrast", "random_contrast", {"factor", "value_range"},
  function(self, args, options)
  self.lower, self.upper = range_of(args[1] or options.factor, "factor", "RandomContrast", true)
  if self.lower < 0 then error("RandomContrast: factor must be at most 1 (a factor of 1 - f >= 0)", 3) end
  self.value_low, self.value_high = value_range(options, "RandomContrast")
end)

function RandomContrast:forward(x)
  if not self.training then return x end
  return on_batch(x, function(b)
    return D.random_contrast(b, self.lower, self.upper, self.value_low, self.value_high)
  end)
end

-- RandomBrightness(factor, {value_range = {0, 1}}): each image shifted by d (high - low), d in [-f, f] (or the pair
-- given), clipped to value_range.
local RandomBrightness = define("RandomBrightness", "random_brightness", {"factor", "value_range"},
  function(self, args, options)
  self.lower, self.upper = range_of(args[1] or options.factor, "factor", "RandomBrightness")
  if self.lower < -1 or self.upper > 1 then error("RandomBrightness: factor must lie in [-1, 1]", 3) end
  self.value_low, self.value_high = value_range(options, "RandomBrightness")
end)

function RandomBrightness:forward(x)
  if not self.training then return x end
  return on_batch(x, function(b)
    return D.random_brightness(b, self.lower, self.upper, self.value_low, self.value_high)
  end)
end

-- GaussianNoise(stddev): x + N(0, stddev^2) noise in training (any shape).
local GaussianNoise = define("GaussianNoise", "gaussian_noise", {"stddev"}, function(self, args, options)
  self.stddev = strict.check_number("GaussianNoise", "stddev", args[1] or options.stddev, {min = 0}, 4)
end)
GaussianNoise.supports_masking = true

function GaussianNoise:forward(x)
  if not self.training or self.stddev == 0 then return x end
  return x + dnn.randn(x.shape) * self.stddev
end

-- Rescaling(scale, {offset = 0}): x * scale + offset, always.
local Rescaling = define("Rescaling", "rescaling", {"scale", "offset"}, function(self, args, options)
  self.scale = args[1] or options.scale
  self.offset = args[2] or options.offset or 0
  if not strict.is_finite(self.scale) or not strict.is_finite(self.offset) then
    error(string.format("Rescaling: expected a finite number scale and offset, got %s and %s", describe(self.scale),
      describe(self.offset)), 4)
  end
end)

function Rescaling:forward(x)
  return x * self.scale + self.offset
end

-- Normalization{axis = -1, mean, variance}: (x - mean) / max(sqrt(variance), 1e-7) per index of axis, always.
-- layer:adapt(data) (a tensor or a DataLoader) computes the population mean and variance of data over every other
-- dim. As Keras, mean and variance are non-trainable weights (saved with the model's weights); built without them
-- and never adapted, the layer starts at mean 0 and variance 1.
local Normalization = define("Normalization", "normalization", {"axis", "mean", "variance"},
  function(self, args, options)
  self.axis = options.axis or args[1] or -1
  if math.type(self.axis) ~= "integer" then
    error("Normalization: axis must be an integer dim, got " .. describe(self.axis), 4)
  end
  if (options.mean == nil) ~= (options.variance == nil) then
    error("Normalization: give both mean and variance, or neither (then call adapt)", 4)
  end
  if options.mean ~= nil then
    local function as_tensor(v)
      if dnn.is_tensor(v) then return v:detach():clone():reshape(-1) end
      return dnn.tensor(type(v) == "table" and v or {v})
    end
    local mean, variance = as_tensor(options.mean), as_tensor(options.variance)
    if mean:numel() ~= variance:numel() then error("Normalization: mean and variance differ in size", 4) end
    self:_set_stats(mean, variance)
  end
end)

-- Puts mean and variance in the layer's weights (replacing them when the feature count changes).
function Normalization:_set_stats(mean, variance)
  if self.mean and self.mean:numel() == mean:numel() then
    dnn.no_grad(function()
      self.mean:copy(mean)
      self.variance:copy(variance)
    end)
    return
  end
  self.weights = {}
  self:add_weight("mean", mean:detach():contiguous(), {trainable = false})
  self:add_weight("variance", variance:detach():contiguous(), {trainable = false})
end

local function axis_of(self, ndim)
  local a = self.axis < 0 and ndim + 1 + self.axis or self.axis
  if a < 2 or a > ndim then
    error(string.format("Normalization: axis %d is not a feature dim of a %d-d input (dim 1 is the batch)", self.axis,
      ndim))
  end
  return a
end

function Normalization:build(input_shape)
  self.built = true
  if self.mean then return end
  local c = input_shape[axis_of(self, #input_shape)]
  self:_set_stats(dnn.zeros(c), dnn.ones(c))
end

function Normalization:adapt(data)
  if dnn.data.is_loader(data) then
    local parts = {}
    for xb in data do parts[#parts + 1] = xb end
    data = dnn.cat(parts, 1)
  end
  if not dnn.is_tensor(data) then error("Normalization:adapt: expected a tensor or a DataLoader, got " .. type(data), 2) end
  local a = axis_of(self, data.ndim)
  local flat = dnn.no_grad(function()
    local t = data:detach()
    if a ~= t.ndim then t = t:transpose(a, t.ndim) end
    return t:contiguous():reshape(-1, data.shape[a])
  end)
  self:_set_stats(flat:mean(1), flat:var(1))
  self.built = true
  return self
end

function Normalization:forward(x)
  local a = axis_of(self, x.ndim)
  local c = self.mean:numel()
  if c ~= 1 and x.shape[a] ~= c then
    error(string.format("Normalization: expected %d features along dim %d, got %d", c, a, x.shape[a]))
  end
  local shape = {}
  for d = 1, x.ndim do shape[d] = (d == a) and c or 1 end
  local mean = self.mean:reshape(shape)
  local std = self.variance:reshape(shape):sqrt():clamp(1e-7, math.huge)
  return (x - mean) / std
end


-- ---- reference ----

--- dnn.nn.RandomFlip([mode])
-- In training, flips each image at random (one draw per image); the identity otherwise.
-- @param mode `"horizontal"`, `"vertical"` or `"horizontal_and_vertical"` (default)
-- @example local flip = nn.RandomFlip("horizontal")

--- dnn.nn.RandomRotation(factor[, options])
-- In training, rotates each image by a random angle in `factor` turns
-- (0.1: up to ±36°; a pair `{lo, hi}` as is).
-- @param factor a number f for (-f, f), or `{lo, hi}`
-- @option fill_mode="reflect" `"reflect"`, `"wrap"`, `"constant"` or `"nearest"`
-- @option interpolation="bilinear" `"bilinear"` or `"nearest"`
-- @option fill_value=0 the value outside the image with `fill_mode = "constant"`
-- @example local rot = nn.RandomRotation(0.1)

--- dnn.nn.RandomZoom(height_factor[, width_factor][, options])
-- In training, zooms each image by a random factor: negative values zoom in.
-- Without `width_factor` the zoom keeps the aspect ratio.
-- @param height_factor a number f for (-f, f), or `{lo, hi}`
-- @param width_factor the same for the width
-- @option fill_mode="reflect" as RandomRotation
-- @option interpolation="bilinear" `"bilinear"` or `"nearest"`
-- @option fill_value=0 as RandomRotation
-- @example local zoom = nn.RandomZoom(0.2)

--- dnn.nn.RandomTranslation(height_factor, width_factor[, options])
-- In training, shifts each image by a random fraction of its height and width.
-- @param height_factor a number f for (-f, f), or `{lo, hi}`
-- @param width_factor the same for the width
-- @option fill_mode="reflect" as RandomRotation
-- @option interpolation="bilinear" `"bilinear"` or `"nearest"`
-- @option fill_value=0 as RandomRotation
-- @example local shift = nn.RandomTranslation(0.1, 0.1)

--- dnn.nn.RandomCrop(height, width)
-- A random `height` x `width` window in training, the center one otherwise.
-- @param height the output height
-- @param width the output width
-- @example local crop = nn.RandomCrop(24, 24)

--- dnn.nn.RandomContrast(factor[, options])
-- In training, scales each image's channels about their mean by a factor in [1 - f, 1 + f], clipped to `value_range`.
-- @param factor a number f, or `{lo, hi}`
-- @option value_range={0,1} the images' value range
-- @example local c = nn.RandomContrast(0.2)

--- dnn.nn.RandomBrightness(factor[, options])
-- In training, shifts each image by d * (high - low), d in [-f, f], clipped to `value_range`.
-- @param factor a number f, or `{lo, hi}`
-- @option value_range={0,1} the images' value range
-- @example local b = nn.RandomBrightness(0.1)

--- dnn.nn.GaussianNoise(stddev)
-- In training, adds N(0, stddev²) noise (any shape); the identity otherwise.
-- @param stddev the noise's standard deviation
-- @example local noise = nn.GaussianNoise(0.1)

--- dnn.nn.Rescaling(scale[, offset])
-- `x * scale + offset`, always (training and inference).
-- @param scale the factor
-- @option offset=0 added after scaling
-- @example local r = nn.Rescaling(1 / 255)

--- dnn.nn.Normalization([options])
-- `(x - mean) / sqrt(variance)` per index of `axis`, always. Give `mean` and
-- `variance`, or call `adapt`. They are non-trainable weights, saved with the model.
-- @option axis=-1 the feature dim
-- @option mean=nil the means (a number, array or tensor)
-- @option variance=nil the variances
-- @example local norm = nn.Normalization(); norm:adapt(x_train)

--- dnn.nn.Normalization:adapt(data)
-- Sets mean and variance to the population statistics of `data` (a tensor or
-- a DataLoader) over every dim but `axis`.
-- @example norm:adapt(train.x)

return M
