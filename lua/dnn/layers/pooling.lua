-- dnn.layers.pooling: MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D
-- and GlobalMaxPooling2D over the C kernels of pool.h, on channels-last
-- images (batch, height, width, channels) as Keras; the other spatial layers
-- (dnn.layers.spatial: UpSampling2D, ZeroPadding2D, Cropping2D) are gathered
-- here too, so dnn.nn picks them all up from this module.
local P = require("dnn.core")._pool
local layer = require "dnn.layer"
local spatial = require "dnn.layers.spatial"
local describe = require("dnn.options").describe

local Layer, args_and_options = layer.Layer, layer.args_and_options
local M = {}
local util = spatial.util
local shape_text, int_pair = util.shape_text, util.int_pair
local check_data_format, check_image_shape = util.check_data_format, util.check_image_shape

local function known(d) return d ~= nil and d >= 0 end

-- ---- MaxPooling2D and AveragePooling2D ----
-- Keras's: pool_size (an int or a pair, default 2), strides (default the
-- pool size), padding "valid" (windows inside the image: floor((in - pool) /
-- stride) + 1 outputs) or "same" (ceil(in / stride) outputs, the padding
-- split with the extra cell at the end; padded cells never count: the
-- average is over the real cells only, as TF).
local function pooling_class(type_name, base_name, max)
  local cls = Layer:extend(type_name)
  cls.options = {"pool_size", "strides", "padding", "data_format"}
  function cls.new(...)
    local args, options = args_and_options(...)
    local who = type_name
    check_data_format(who, options)
    local pool = args[1] or options.pool_size or 2
    local ph, pw = int_pair(who, "pool_size", pool, 1)
    local strides = args[2] or options.strides
    local sh, sw = ph, pw
    if strides ~= nil then sh, sw = int_pair(who, "strides", strides, 1) end
    local padding = args[3] or options.padding or "valid"
    if type(padding) ~= "string" or (padding:lower() ~= "valid" and padding:lower() ~= "same") then
      error(string.format("%s: expected padding 'valid' or 'same', got %s", who, describe(padding)), 2)
    end
    local self = Layer.init(cls, options, base_name)
    self.pool_size, self.strides, self.padding = {ph, pw}, {sh, sw}, padding:lower()
    return self
  end
  getmetatable(cls).__call = function(_, ...) return cls.new(...) end

  function cls:forward(x)
    return P.pool2d(x, max, self.pool_size[1], self.pool_size[2], self.strides[1], self.strides[2],
      self.padding == "same")
  end

  function cls:compute_output_shape(input_shape)
    check_image_shape(self, input_shape)
    local out = {input_shape[1], -1, -1, input_shape[4]}
    local same = self.padding == "same"
    for d = 1, 2 do
      local n = input_shape[d + 1]
      if known(n) then
        out[d + 1] = P.pool_out_size(n, self.pool_size[d], self.strides[d], same)
        if out[d + 1] < 0 then
          error(string.format("%s '%s': expected a pool size (%d, %d) that fits the input %s with padding 'valid'",
            self.type_name, self.name, self.pool_size[1], self.pool_size[2], shape_text(input_shape)), 2)
        end
      end
    end
    return out
  end
  return cls
end

M.MaxPooling2D = pooling_class("MaxPooling2D", "max_pooling2d", true)
M.AveragePooling2D = pooling_class("AveragePooling2D", "average_pooling2d", false)
M.MaxPool2D, M.AvgPool2D = M.MaxPooling2D, M.AveragePooling2D -- Keras's aliases

-- ---- GlobalAveragePooling2D and GlobalMaxPooling2D ----
-- The mean (or max) of each channel over the whole image: (batch, channels),
-- or (batch, 1, 1, channels) with keepdims = true.
local function global_class(type_name, base_name, max)
  local cls = Layer:extend(type_name)
  cls.options = {"keepdims", "data_format"}
  function cls.new(...)
    local _, options = args_and_options(...)
    check_data_format(type_name, options)
    if options.keepdims ~= nil and type(options.keepdims) ~= "boolean" then
      error(string.format("%s: expected keepdims a boolean, got %s", type_name, describe(options.keepdims)), 2)
    end
    local self = Layer.init(cls, options, base_name)
    self.keepdims = options.keepdims == true
    return self
  end
  getmetatable(cls).__call = function(_, ...) return cls.new(...) end

  function cls:forward(x)
    return P.global_pool2d(x, max, self.keepdims)
  end

  function cls:compute_output_shape(input_shape)
    check_image_shape(self, input_shape)
    if self.keepdims then return {input_shape[1], 1, 1, input_shape[4]} end
    return {input_shape[1], input_shape[4]}
  end
  return cls
end

M.GlobalAveragePooling2D = global_class("GlobalAveragePooling2D", "global_average_pooling2d", false)
M.GlobalMaxPooling2D = global_class("GlobalMaxPooling2D", "global_max_pooling2d", true)
M.GlobalAvgPool2D, M.GlobalMaxPool2D = M.GlobalAveragePooling2D, M.GlobalMaxPooling2D

for name, value in pairs(spatial) do
  if name ~= "util" then M[name] = value end
end


-- ---- reference ----

--- dnn.nn.MaxPooling2D([options])
-- The maximum over windows of each channel.
-- @option pool_size=2 an int or `{h, w}`
-- @option strides=pool_size an int or `{h, w}`
-- @option padding="valid" `"valid"` or `"same"`
-- @option data_format="channels_last" only `"channels_last"`
-- @alias dnn.nn.MaxPool2D
-- @example local p = nn.MaxPooling2D{pool_size = 2}

--- dnn.nn.AveragePooling2D([options])
-- The mean over windows of each channel (padding excluded from the count).
-- @option pool_size=2 an int or `{h, w}`
-- @option strides=pool_size an int or `{h, w}`
-- @option padding="valid" `"valid"` or `"same"`
-- @option data_format="channels_last" only `"channels_last"`
-- @alias dnn.nn.AvgPool2D
-- @example local p = nn.AveragePooling2D{pool_size = 2}

--- dnn.nn.GlobalAveragePooling2D([options])
-- The mean over height and width: `(batch, channels)`.
-- @option keepdims=false keep the pooled dims as size 1
-- @option data_format="channels_last" only `"channels_last"`
-- @alias dnn.nn.GlobalAvgPool2D
-- @example local g = nn.GlobalAveragePooling2D()

--- dnn.nn.GlobalMaxPooling2D([options])
-- The maximum over height and width: `(batch, channels)`.
-- @option keepdims=false keep the pooled dims as size 1
-- @option data_format="channels_last" only `"channels_last"`
-- @alias dnn.nn.GlobalMaxPool2D
-- @example local g = nn.GlobalMaxPooling2D()

return M
