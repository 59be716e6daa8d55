-- dnn.layer: the Layer base class and the helpers every layer shares.
-- A layer holds its weights (tensors that require grad, in Keras's order)
-- and builds them lazily on its first call, or at once when input_shape is
-- given. Subclasses: local Dense = Layer:extend("Dense").
local dnn = require "dnn"

local M = {}

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
M.args_and_options = args_and_options

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

local Layer = {}
Layer.__index = Layer
M.Layer = Layer

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

M.unique_name = unique_name
M.creation_site = creation_site

return M
