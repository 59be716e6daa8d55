-- dnn.nn: the layers and models of Keras's API, gathered from the modules
-- that define them (dnn.layer, dnn.layers.*, dnn.models).
local nn = {}

local function gather(module)
  for name, value in pairs(module) do nn[name] = value end
end

local layer = require "dnn.layer"
nn.Layer = layer.Layer
nn.args_and_options = layer.args_and_options
nn.register, nn.registry = layer.register, layer.registry
nn.initializers = require "dnn.initializers"
gather(require "dnn.layers.core")
gather(require "dnn.layers.normalization")
gather(require "dnn.layers.conv")
gather(require "dnn.layers.pooling")
gather(require "dnn.layers.merge")
gather(require "dnn.layers.sequence")
gather(require "dnn.layers.recurrent")
gather(require "dnn.layers.bidirectional")
gather(require "dnn.layers.attention")
gather(require "dnn.layers.transformer")
gather(require "dnn.layers.preprocessing")
local models = require "dnn.models"
nn.Model, nn.Sequential = models.Model, models.Sequential
local functional = require "dnn.functional"
nn.Input = functional.Input
nn.InputLayer = functional.InputLayer

return nn
