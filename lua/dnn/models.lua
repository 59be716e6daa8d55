-- dnn.models: Sequential (and the model classes built on Layer).
local dnn = require "dnn"
local layer = require "dnn.layer"

local Layer = layer.Layer
local M = {}

-- ---- Sequential ----
local Sequential = Layer:extend("Sequential")
M.Sequential = Sequential

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

return M
