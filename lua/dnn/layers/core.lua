-- dnn.layers.core: Dense and the other basic layers.
local dnn = require "dnn"
local C = require("dnn.core")._nn
local layer = require "dnn.layer"
local initializers = require "dnn.initializers"

local Layer, args_and_options = layer.Layer, layer.args_and_options
local M = {}

-- ---- Dense ----
local Dense = Layer:extend("Dense")
M.Dense = Dense

local activation_names = {linear = true, relu = true, leaky_relu = true, sigmoid = true, tanh = true, softmax = true}

function Dense.new(...)
  local args, options = args_and_options(...)
  local units = args[1]
  if math.type(units) ~= "integer" or units < 1 then
    error(string.format("Dense: expected a positive integer number of units, got %s", tostring(units)), 2)
  end
  local self = Layer.init(Dense, options, "dense")
  self.units = units
  self.activation = options.activation or "linear"
  if not activation_names[self.activation] then
    error(string.format("Dense: unknown activation '%s'", tostring(self.activation)), 2)
  end
  self.use_bias = options.use_bias ~= false
  self.kernel_initializer = initializers.get(options.kernel_initializer or "glorot_uniform", "Dense")
  self.bias_initializer = initializers.get(options.bias_initializer or "zeros", "Dense")
  self.input_shape = options.input_shape
  if self.input_shape then self:build({-1, table.unpack(self.input_shape)}) end
  return self
end
getmetatable(Dense).__call = function(_, ...) return Dense.new(...) end

function Dense:build(input_shape)
  local fan_in = input_shape[#input_shape]
  local kernel = dnn.zeros(fan_in, self.units)
  self.kernel_initializer(kernel, fan_in, self.units)
  self:add_weight("kernel", kernel)
  if self.use_bias then
    local bias = dnn.zeros(self.units)
    self.bias_initializer(bias, self.units)
    self:add_weight("bias", bias)
  end
  self.built = true
end

function Dense:forward(x)
  return C.dense(x, self.kernel, self.bias, self.activation)
end

function Dense:output_shape(input_shape)
  local shape = {table.unpack(input_shape)}
  shape[#shape] = self.units
  return shape
end

return M
