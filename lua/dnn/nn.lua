-- dnn.nn: Keras-style layers over the C kernels, and Sequential.
-- A layer holds its parameters (tensors that require grad) and builds them
-- lazily on its first call, or at once when input_shape is given.
local dnn = require "dnn"
local C = require("dnn.core")._nn

local nn = {}

-- Positional arguments and named options, from either call form:
-- Dense(64, {activation = "relu"}) or Dense{64, activation = "relu"}.
local function args_and_options(...)
  local n = select("#", ...)
  local last = select(n, ...)
  local positional = {}
  local options = {}
  if n == 1 and type(last) == "table" and not dnn.is_tensor(last) then
    for k, v in pairs(last) do
      if type(k) == "number" then positional[k] = v else options[k] = v end
    end
    return positional, options
  end
  for i = 1, n do
    local v = select(i, ...)
    if i == n and type(v) == "table" and not dnn.is_tensor(v) then
      options = v
    else
      positional[i] = v
    end
  end
  return positional, options
end
nn.args_and_options = args_and_options

-- Keras-style unique names per type: dense, dense_1, dense_2, ...
local name_counts = {}
local function unique_name(base)
  local count = name_counts[base]
  name_counts[base] = (count or -1) + 1
  return count and (base .. "_" .. (count + 1)) or base
end

-- Where user code created a layer, so errors can point there.
local function creation_site()
  for level = 3, 8 do
    local info = debug.getinfo(level, "Sl")
    if not info then break end
    if info.source:sub(1, 5) ~= "@dnn/" and info.currentline > 0 then
      return info.short_src .. ":" .. info.currentline
    end
  end
  return "?"
end

-- ---- Layer: the base class ----
local Layer = {}
Layer.__index = Layer
nn.Layer = Layer

function Layer.__call(self, ...)
  return self:call(...)
end

-- Subclasses: local Dense = nn.Layer:extend("Dense"); Dense.new(...) builds.
function Layer:extend(type_name)
  local cls = setmetatable({}, {__index = self})
  cls.__index = cls
  cls.__call = Layer.__call
  cls.__tostring = Layer.__tostring
  cls.type_name = type_name
  return cls
end

function Layer.init(cls, options, base_name)
  local self = setmetatable({}, cls)
  self.name = options.name or unique_name(base_name)
  self.trainable = options.trainable ~= false
  self.training = true
  self.created_at = creation_site()
  self.weights = {} -- ordered: the Keras order of get_weights
  return self
end

function Layer:__tostring()
  return string.format("%s(%s)", self.type_name, self.name)
end

function Layer:call(x)
  if not dnn.is_tensor(x) then
    error(string.format("%s '%s' (created at %s): expected a tensor input, got %s", self.type_name, self.name,
      self.created_at, type(x)), 2)
  end
  if not self.built then self:build(x.shape) end
  local ok, y = pcall(self.forward, self, x)
  if not ok then
    error(string.format("%s '%s' (created at %s): %s", self.type_name, self.name, self.created_at,
      tostring(y):gsub("^[^:]*:%d+: ", "")), 2)
  end
  return y
end

function Layer:build(input_shape)
  self.built = true
end

-- Adds a weight (a leaf that requires grad) under name.
function Layer:add_weight(name, tensor)
  tensor.requires_grad = self.trainable
  self[name] = tensor
  self.weights[#self.weights + 1] = {name = name, tensor = tensor}
  return tensor
end

function Layer:parameters()
  local params = {}
  if self.trainable then
    for _, w in ipairs(self.weights) do params[#params + 1] = w.tensor end
  end
  return params
end

function Layer:get_weights()
  local out = {}
  for i, w in ipairs(self.weights) do out[i] = w.tensor:clone():detach() end
  return out
end

function Layer:set_weights(list)
  if #list ~= #self.weights then
    error(string.format("set_weights: layer '%s' expects %d weights, got %d", self.name, #self.weights, #list), 2)
  end
  dnn.no_grad(function()
    for i, w in ipairs(self.weights) do w.tensor:copy(list[i]) end
  end)
end

function Layer:train(on)
  self.training = on ~= false
  return self
end

function Layer:eval()
  return self:train(false)
end

function Layer:count_params()
  local n = 0
  for _, w in ipairs(self.weights) do n = n + w.tensor:numel() end
  return n
end

-- ---- initializers (the C ones, by Keras name) ----
local initializers = {
  glorot_uniform = function(t, fan_in, fan_out) return C.init(t, "glorot_uniform", fan_in, fan_out) end,
  he_normal = function(t, fan_in) return C.init(t, "he_normal", fan_in) end,
  zeros = function(t) return t:zero() end,
}
nn.initializers = initializers

local function make_initializer(spec, what)
  if type(spec) == "function" then return spec end
  local init = initializers[spec]
  if not init then
    local names = {}
    for k in pairs(initializers) do names[#names + 1] = k end
    table.sort(names)
    error(string.format("%s: unknown initializer '%s' (expected one of %s)", what, tostring(spec),
      table.concat(names, ", ")), 3)
  end
  return init
end

-- ---- Dense ----
local Dense = Layer:extend("Dense")
nn.Dense = Dense

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
  self.kernel_initializer = make_initializer(options.kernel_initializer or "glorot_uniform", "Dense")
  self.bias_initializer = make_initializer(options.bias_initializer or "zeros", "Dense")
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

-- ---- Sequential ----
local Sequential = Layer:extend("Sequential")
nn.Sequential = Sequential

function Sequential.new(layers, options)
  local self = Layer.init(Sequential, options or {}, "sequential")
  self.layers = {}
  for _, layer in ipairs(layers or {}) do self:add(layer) end
  return self
end

-- Builds every layer once the input shape is known (from the first layer's
-- input_shape), as Keras does, so parameters() and the optimizer see all
-- weights before the first batch: a dry run on one zero example.
function Sequential:build_from_input_shape()
  local shape = self.input_shape
  if not shape then return end
  dnn.no_grad(function()
    local x = dnn.zeros(1, table.unpack(shape))
    for _, layer in ipairs(self.layers) do
      if not layer.built then
        x = layer(x)
      else
        x = layer:forward(x)
      end
    end
  end)
  self.built = true
end
getmetatable(Sequential).__call = function(_, ...) return Sequential.new(...) end

function Sequential:add(layer)
  if type(layer) ~= "table" or not layer.forward then
    error(string.format("Sequential:add: expected a layer, got %s", type(layer)), 2)
  end
  self.layers[#self.layers + 1] = layer
  if #self.layers == 1 and layer.input_shape then self.input_shape = layer.input_shape end
  if self.input_shape and not layer.built then self:build_from_input_shape() end
  return self
end

function Sequential:forward(x)
  for _, layer in ipairs(self.layers) do x = layer(x) end
  return x
end

function Sequential:call(x)
  return self:forward(x)
end

function Sequential:parameters()
  local params = {}
  for _, layer in ipairs(self.layers) do
    for _, p in ipairs(layer:parameters()) do params[#params + 1] = p end
  end
  return params
end

function Sequential:train(on)
  self.training = on ~= false
  for _, layer in ipairs(self.layers) do layer:train(on) end
  return self
end

function Sequential:count_params()
  local n = 0
  for _, layer in ipairs(self.layers) do n = n + layer:count_params() end
  return n
end

return nn
