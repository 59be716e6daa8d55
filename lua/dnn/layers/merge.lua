-- dnn.layers.merge: layers of several inputs, called with a Lua array:
-- nn.Add(){a, b}, nn.Concatenate{axis = -1}{a, b}. They take real tensors
-- and symbolic ones (functional models) alike; Layer:call checks the array
-- against min_inputs and max_inputs.
local dnn = require "dnn"
local layer = require "dnn.layer"
local describe = require("dnn.options").describe

local Layer, args_and_options = layer.Layer, layer.args_and_options
local M = {}

local Merge = Layer:extend("Merge")
Merge.supports_masking = true

-- Keras's: a step of the output is kept where every input's is kept (the
-- masks multiply; false stands for an input without one).
function Merge:compute_mask(inputs, mask)
  if not mask then return nil end
  local out
  for i = 1, #inputs do
    local m = mask[i]
    if m then out = out and out * m or m end
  end
  return out
end

local function merge_class(type_name, base_name, min_inputs, max_inputs, combine)
  local cls = Merge:extend(type_name)
  cls.min_inputs, cls.max_inputs = min_inputs, max_inputs
  cls.step_wise = true -- elementwise: each step alone (model:generate)
  cls.options = {}
  cls.new = function(...)
    local _, options = args_and_options(...)
    return Layer.init(cls, options, base_name)
  end
  cls.forward = function(_, inputs)
    local y = inputs[1]
    for i = 2, #inputs do y = combine(y, inputs[i]) end
    return y
  end
  getmetatable(cls).__call = function(_, ...) return cls.new(...) end
  M[type_name] = cls
  return cls
end

-- Elementwise over same-shaped inputs (NumPy broadcasting allowed).
merge_class("Add", "add", 2, nil, function(a, b) return a + b end)
merge_class("Subtract", "subtract", 2, 2, function(a, b) return a - b end)
merge_class("Multiply", "multiply", 2, nil, function(a, b) return a * b end)
merge_class("Maximum", "maximum", 2, nil, dnn.maximum)
merge_class("Minimum", "minimum", 2, nil, dnn.minimum)
local Average = merge_class("Average", "average", 2, nil, function(a, b) return a + b end)
function Average:forward(inputs)
  local y = inputs[1]
  for i = 2, #inputs do y = y + inputs[i] end
  return y / #inputs
end

-- The broadcast shape of the inputs, as the elementwise merges compute it.
function Merge:compute_output_shape(shapes)
  local rank = 0
  for _, s in ipairs(shapes) do rank = math.max(rank, #s) end
  local out = {}
  for d = 1, rank do
    local size = 1
    for _, s in ipairs(shapes) do
      local v = s[#s - rank + d] or 1
      if v ~= 1 then size = v end
    end
    out[d] = size
  end
  return out
end

-- ---- Concatenate ----
-- axis counts as every dim here: 1-based with the batch dim first, negative
-- from the end; the default -1 is the last (Keras's axis=-1). Keras's axis=1
-- is axis = 2 here.
local Concatenate = Merge:extend("Concatenate")
Concatenate.min_inputs = 1
Concatenate.options = {"axis"}
M.Concatenate = Concatenate

function Concatenate.new(...)
  local args, options = args_and_options(...)
  local axis = options.axis or args[1] or -1
  if math.type(axis) ~= "integer" or axis == 0 then
    error(string.format("Concatenate: expected a nonzero integer axis, got %s", describe(axis)), 2)
  end
  local self = Layer.init(Concatenate, options, "concatenate")
  self.axis = axis
  return self
end
getmetatable(Concatenate).__call = function(_, ...) return Concatenate.new(...) end

function Concatenate:forward(inputs)
  return dnn.cat(inputs, self.axis)
end

-- Along the features (the last axis) the steps line up: kept where every
-- input's is. Along another axis the masks join as the inputs do, an input
-- without one counting as all kept.
function Concatenate:compute_mask(inputs, mask)
  if not mask then return nil end
  local ndim = inputs[1].ndim
  local axis = self.axis < 0 and ndim + 1 + self.axis or self.axis
  if axis == ndim then return Merge.compute_mask(self, inputs, mask) end
  local parts = {}
  for i, x in ipairs(inputs) do parts[i] = mask[i] or dnn.ones(table.unpack(x.shape, 1, ndim - 1)) end
  return dnn.cat(parts, axis)
end

function Concatenate:compute_output_shape(shapes)
  local out = {table.unpack(shapes[1])}
  local axis = self.axis < 0 and #out + 1 + self.axis or self.axis
  for i = 2, #shapes do out[axis] = out[axis] + shapes[i][axis] end
  return out
end


-- ---- reference ----

--- dnn.nn.Add()
-- The elementwise sum of its inputs (an array of tensors of one shape, broadcasting).
-- @example local s = nn.Add(){a, b}

--- dnn.nn.Subtract()
-- `a - b` of exactly two inputs.
-- @example local d = nn.Subtract(){a, b}

--- dnn.nn.Multiply()
-- The elementwise product of its inputs.
-- @example local p = nn.Multiply(){a, b}

--- dnn.nn.Average()
-- The elementwise mean of its inputs.
-- @example local m = nn.Average(){a, b}

--- dnn.nn.Maximum()
-- The elementwise maximum of its inputs.
-- @example local m = nn.Maximum(){a, b}

--- dnn.nn.Minimum()
-- The elementwise minimum of its inputs.
-- @example local m = nn.Minimum(){a, b}

--- dnn.nn.Concatenate([options])
-- Joins its inputs along `axis`.
-- @option axis=-1 the dim joined
-- @example local c = nn.Concatenate{axis = -1}{a, b}

return M
