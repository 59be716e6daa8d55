-- The dnn library: the C core's functions plus the Lua modules built on them.
local C = require "dnn.core"

local dnn = {}
package.loaded.dnn = dnn -- submodules may require "dnn" while this runs

for name, value in pairs(C) do
  dnn[name] = value
end

dnn.version = "0.1.0"
require "dnn.tensor" -- Lua-side tensor methods (printing) on the C metatable
dnn.autograd = require "dnn.autograd"
dnn.activations = require "dnn.activations"
dnn.nn = require "dnn.nn"
dnn.losses = require "dnn.losses"
dnn.optim = require "dnn.optim"
dnn.regularizers = require "dnn.regularizers"
dnn.initializers = require "dnn.initializers"
dnn.data = require "dnn.data"
dnn.text = require "dnn.text"
dnn.augment = require "dnn.augment"
dnn.datasets = require "dnn.datasets"
dnn.metrics = require "dnn.metrics"
dnn.callbacks = require "dnn.callbacks"
dnn.image = require "dnn.image"
dnn.plot = require "dnn.plot"
dnn.load_model = require("dnn.serialize").load_model
dnn.checkpoint = require "dnn.checkpoint"

return dnn
