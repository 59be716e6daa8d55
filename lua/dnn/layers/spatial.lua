-- dnn.layers.spatial: UpSampling2D, ZeroPadding2D and Cropping2D over the C
-- kernels of pool.h, on channels-last images (batch, height, width,
-- channels) as Keras; and the option helpers the image layers share
-- (M.util, used by dnn.layers.pooling, which gathers these layers for dnn.nn).
local P = require("dnn.core")._pool
local layer = require "dnn.layer"
local describe = require("dnn.options").describe

local Layer, args_and_options = layer.Layer, layer.args_and_options
local M = {}
local util = {}
M.util = util

local shape_text = layer.shape_text
util.shape_text = shape_text

-- An int or a pair of ints ({h, w}) -> h, w; each at least min.
local function int_pair(who, name, v, min)
  local a, b
  if math.type(v) == "integer" then
    a, b = v, v
  elseif type(v) == "table" and #v == 2 and math.type(v[1]) == "integer" and math.type(v[2]) == "integer" then
    a, b = v[1], v[2]
  else
    error(string.format("%s: expected %s an integer or a pair of integers, got %s", who, name, describe(v)), 4)
  end
  if a < min or b < min then
    error(string.format("%s: expected %s of at least %d, got (%d, %d)", who, name, min, a, b), 4)
  end
  return a, b
end
util.int_pair = int_pair

-- Keras's data_format: only channels_last is supported.
local function check_data_format(who, options)
  local f = options.data_format
  if f ~= nil and f ~= "channels_last" then
    error(string.format("%s: expected data_format 'channels_last' (images are (batch, height, width, channels)), " ..
      "got %s", who, describe(f)), 4)
  end
end
util.check_data_format = check_data_format

-- The input shape of an image layer: 4 dims (batch included).
local function check_image_shape(self, input_shape)
  if #input_shape ~= 4 then
    error(string.format("%s '%s': expected a 4-d input (batch, height, width, channels), got %s", self.type_name,
      self.name, shape_text(input_shape)), 3)
  end
end
util.check_image_shape = check_image_shape


local function known(d) return d ~= nil and d >= 0 end

-- The one positional argument of a layer whose argument may be a pair:
-- Cropping2D({1, 2}) and Cropping2D{1, 2} both reach us as positional
-- {1, 2}, which means the pair; a single value is itself.
local function the_argument(args)
  if #args >= 2 then return args end
  return args[1]
end

-- ---- UpSampling2D ----
-- Keras's: each pixel repeated size[1] x size[2] times ("nearest"), or
-- "bilinear" as tf.image.resize with half-pixel centers.
local UpSampling2D = Layer:extend("UpSampling2D")
M.UpSampling2D = UpSampling2D
UpSampling2D.options = {"size", "interpolation", "data_format"}

function UpSampling2D.new(...)
  local args, options = args_and_options(...)
  local who = "UpSampling2D"
  check_data_format(who, options)
  local sh, sw = int_pair(who, "size", the_argument(args) or options.size or 2, 1)
  local interpolation = options.interpolation or "nearest"
  if interpolation ~= "nearest" and interpolation ~= "bilinear" then
    error(string.format("%s: expected interpolation 'nearest' or 'bilinear', got %s", who, describe(interpolation)), 2)
  end
  local self = Layer.init(UpSampling2D, options, "up_sampling2d")
  self.size, self.interpolation = {sh, sw}, interpolation
  return self
end
getmetatable(UpSampling2D).__call = function(_, ...) return UpSampling2D.new(...) end

function UpSampling2D:forward(x)
  return P.upsample2d(x, self.size[1], self.size[2], self.interpolation == "bilinear")
end

function UpSampling2D:compute_output_shape(input_shape)
  check_image_shape(self, input_shape)
  local out = {input_shape[1], -1, -1, input_shape[4]}
  for d = 1, 2 do
    if known(input_shape[d + 1]) then out[d + 1] = input_shape[d + 1] * self.size[d] end
  end
  return out
end

-- ---- ZeroPadding2D and Cropping2D ----
-- Their amounts as Keras takes them: an int (every side), a pair {h, w}
-- (top = bottom = h, left = right = w), or {{top, bottom}, {left, right}};
-- none negative.
local function sides(who, name, v)
  local function int(x) return math.type(x) == "integer" end
  local t, b, l, r
  if int(v) then
    t, b, l, r = v, v, v, v
  elseif type(v) == "table" and #v == 2 and int(v[1]) and int(v[2]) then
    t, b, l, r = v[1], v[1], v[2], v[2]
  elseif type(v) == "table" and #v == 2 and type(v[1]) == "table" and type(v[2]) == "table" and #v[1] == 2 and
      #v[2] == 2 and int(v[1][1]) and int(v[1][2]) and int(v[2][1]) and int(v[2][2]) then
    t, b, l, r = v[1][1], v[1][2], v[2][1], v[2][2]
  else
    error(string.format("%s: expected %s an int, a pair of ints or {{top, bottom}, {left, right}}, got %s", who,
      name, describe(v)), 4)
  end
  if t < 0 or b < 0 or l < 0 or r < 0 then
    error(string.format("%s: expected %s >= 0, got {{%d, %d}, {%d, %d}}", who, name, t, b, l, r), 4)
  end
  return {t, b, l, r}
end

local function sided_class(type_name, base_name, option, default, crop)
  local cls = Layer:extend(type_name)
  cls.options = {option, "data_format"}
  function cls.new(...)
    local args, options = args_and_options(...)
    check_data_format(type_name, options)
    local v = the_argument(args)
    if v == nil then v = options[option] end
    if v == nil then v = default end
    local amounts = sides(type_name, option, v)
    local self = Layer.init(cls, options, base_name)
    self[option] = {{amounts[1], amounts[2]}, {amounts[3], amounts[4]}}
    self.amounts = amounts
    return self
  end
  getmetatable(cls).__call = function(_, ...) return cls.new(...) end

  function cls:forward(x)
    local a = self.amounts
    if crop then return P.crop2d(x, a[1], a[2], a[3], a[4]) end
    return P.zero_pad2d(x, a[1], a[2], a[3], a[4])
  end

  function cls:compute_output_shape(input_shape)
    check_image_shape(self, input_shape)
    local a, sign = self.amounts, crop and -1 or 1
    local out = {input_shape[1], -1, -1, input_shape[4]}
    for d = 1, 2 do
      local n = input_shape[d + 1]
      if known(n) then
        out[d + 1] = n + sign * (a[2 * d - 1] + a[2 * d])
        if out[d + 1] < 1 then
          error(string.format("%s '%s': cropping {{%d, %d}, {%d, %d}} leaves nothing of the input %s", self.type_name,
            self.name, a[1], a[2], a[3], a[4], shape_text(input_shape)), 2)
        end
      end
    end
    return out
  end
  return cls
end

M.ZeroPadding2D = sided_class("ZeroPadding2D", "zero_padding2d", "padding", 1, false)
M.Cropping2D = sided_class("Cropping2D", "cropping2d", "cropping", 0, true)


-- ---- reference ----

--- dnn.nn.UpSampling2D([options])
-- Repeats rows and columns: `(batch, h * size_h, w * size_w, c)`.
-- @option size=2 an int or `{h, w}`
-- @option interpolation="nearest" `"nearest"` or `"bilinear"`
-- @option data_format="channels_last" only `"channels_last"`
-- @example local up = nn.UpSampling2D{size = 2}

--- dnn.nn.ZeroPadding2D(padding)
-- Pads height and width with zeros.
-- @param padding an int, `{h, w}`, or `{{top, bottom}, {left, right}}`
-- @option data_format="channels_last" only `"channels_last"`
-- @example local pad = nn.ZeroPadding2D(1)

--- dnn.nn.Cropping2D(cropping)
-- Crops height and width.
-- @param cropping an int, `{h, w}`, or `{{top, bottom}, {left, right}}`
-- @option data_format="channels_last" only `"channels_last"`
-- @example local crop = nn.Cropping2D{{2, 2}, {4, 4}}

return M
