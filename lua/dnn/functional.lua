-- dnn.functional: Keras's functional API. nn.Input{3} makes a symbolic
-- tensor (a "KerasTensor": a shape whose batch dim is -1, and the node that
-- produced it); calling a layer on symbolic tensors records a node and finds
-- the output shape by a probe on a batch of one; nn.Model{inputs, outputs}
-- turns the recorded graph into a model that runs its nodes in order.
--
-- A model of several inputs is called with a Lua array of tensors, in the
-- order of `inputs`; a model of several outputs returns them as several Lua
-- values (as every layer of several results does), in the order of `outputs`.
local dnn = require "dnn"
local layer = require "dnn.layer"
local models = require "dnn.models"
local strict = require "dnn.options"

local Layer, is_layer = layer.Layer, layer.is_layer
local Symbolic = layer.symbolic_mt
local shape_string = models.shape_string
local M = {}

local function is_symbolic(v)
  return getmetatable(v) == Symbolic
end
M.is_symbolic = is_symbolic

-- ---- symbolic tensors ----
local probe_tensor = dnn.zeros(1)

Symbolic.__index = function(t, k)
  -- A tensor method called on a symbolic tensor: say what to do instead.
  if type(k) == "string" and k:sub(1, 1) ~= "_" then
    local ok, v = pcall(function() return probe_tensor[k] end)
    if ok and v ~= nil then
      error(string.format("'%s' is not defined on a symbolic tensor (%s): in a functional model, compute with " ..
        "layers (nn.Add, nn.Activation, ...) or call the model on real tensors", k, tostring(t)), 2)
    end
  end
  return nil
end

-- Keras's operators between two symbolic tensors: a + b is nn.Add()({a, b}), and - and * likewise, so that
-- x + nn.PositionEmbedding{...}(x) reads in a functional model as it does on real tensors. Other operators and
-- operands (numbers, real tensors) would need a layer of their own and are refused.
local merge_layer_of = {__add = "Add", __sub = "Subtract", __mul = "Multiply"}
for _, event in ipairs{"__add", "__sub", "__mul", "__div", "__pow", "__unm", "__idiv", "__mod", "__concat"} do
  Symbolic[event] = function(a, b)
    local merge = merge_layer_of[event]
    if merge and getmetatable(a) == Symbolic and getmetatable(b) == Symbolic then
      return require("dnn.nn")[merge]()({a, b})
    end
    error("arithmetic on a symbolic tensor" .. (merge and " and a value that is not one" or "") ..
      ": in a functional model, compute with layers (nn.Add, nn.Multiply, nn.Activation, ...)", 2)
  end
end

Symbolic.__tostring = function(t)
  return string.format("<KerasTensor shape=%s, name=%s>", shape_string(t.shape), t.name)
end

local function new_symbolic(shape, node, index)
  local name = node.layer.name
  if #node.layer._nodes > 1 or index > 1 then name = string.format("%s_%d_%d", name, #node.layer._nodes - 1, index - 1) end
  return setmetatable({shape = shape, ndim = #shape, dtype = "float32", node = node, index = index, name = name},
    Symbolic)
end

local function add_node(l, args, inputs)
  local nodes = rawget(l, "_nodes")
  if not nodes then
    nodes = {}
    rawset(l, "_nodes", nodes)
  end
  local node = {layer = l, args = args, inputs = inputs, outputs = {}, node_index = #nodes}
  nodes[#nodes + 1] = node
  return node
end

-- ---- Input ----
local InputLayer = Layer:extend("InputLayer")
InputLayer.step_wise = true -- passes its input on (model:generate)
M.InputLayer = InputLayer

function InputLayer:forward(x)
  return x
end

-- nn.Input{3}, nn.Input{shape = {28, 28, 1}}, nn.Input({28, 28, 1}, {name = "image"}),
-- nn.Input(3); options: name, batch_size. The batch dim is left out of shape.
function M.Input(...)
  local args, options = layer.args_and_options(...)
  strict.check("Input", options, {"shape", "name", "batch_size"})
  local shape = options.shape or (type(args[1]) == "table" and args[1]) or args
  if type(shape) ~= "table" or #shape == 0 then
    error("Input: expected a shape such as {3} or {shape = {28, 28, 1}}, got " ..
      (type(shape) == "table" and "an empty one" or strict.describe(shape)), 2)
  end
  for i, d in ipairs(shape) do
    if math.type(d) ~= "integer" or (d < 1 and d ~= -1) then
      error(string.format("Input: dim %d of the shape must be a positive integer (or -1: unknown), got %s", i,
        strict.describe(d)), 2)
    end
  end
  local l = Layer.init(InputLayer, {name = options.name}, "input_layer")
  l.input_shape = {table.unpack(shape)}
  l.built = true
  local batch = options.batch_size or -1
  local node = add_node(l, {n = 0}, {})
  node.is_input = true
  local t = new_symbolic({batch, table.unpack(shape)}, node, 1)
  node.outputs[1] = t
  l.output = t
  return t
end

-- ---- calling a layer on symbolic tensors ----

-- The symbolic tensors in a call's arguments (also inside plain tables:
-- {a, b} for a merge layer, {initial_state = {h, c}}), in order.
local function collect(v, out, depth)
  if is_symbolic(v) then
    out[#out + 1] = v
  elseif type(v) == "table" and getmetatable(v) == nil and depth < 3 then
    for _, item in ipairs(v) do collect(item, out, depth + 1) end
    for k, item in pairs(v) do
      if math.type(k) ~= "integer" then collect(item, out, depth + 1) end
    end
  end
  return out
end

-- A copy of v with every symbolic tensor replaced by values[it].
local function substitute(v, values)
  if is_symbolic(v) then return values[v] end
  if type(v) == "table" and getmetatable(v) == nil then
    local copy = {}
    for k, item in pairs(v) do copy[k] = substitute(item, values) end
    return copy
  end
  return v
end

-- Probe tensors for the symbolic inputs: the batch dim 1, an unknown dim
-- (-1) `unknown_size`. Returns them and whether the batch dim was known.
local function probe_tensors(inputs, unknown_size)
  local probes, keep_batch = {}, true
  for _, s in ipairs(inputs) do
    local dims = {table.unpack(s.shape)}
    if dims[1] == nil or dims[1] < 0 then
      dims[1] = 1
      keep_batch = false
    end
    for i = 2, #dims do
      if dims[i] < 0 then dims[i] = unknown_size end
    end
    probes[s] = dnn.ones(table.unpack(dims))
  end
  return probes, keep_batch
end

local function has_unknown_dim(inputs)
  for _, s in ipairs(inputs) do
    for i = 2, #s.shape do
      if s.shape[i] < 0 then return true end
    end
  end
  return false
end

-- The shapes of the layer's leading tensor results on probes of the inputs.
local function probe_shapes(l, args, probes)
  local real = substitute(args, probes)
  local results = table.pack(pcall(models.probe, l, function() return l(table.unpack(real, 1, args.n)) end))
  if not results[1] then error(tostring(results[2]), 4) end
  local shapes = {}
  for i = 2, results.n do
    if not dnn.is_tensor(results[i]) then break end
    shapes[#shapes + 1] = results[i].shape
  end
  return shapes
end

-- Calls layer l on symbolic tensors: runs it on probes to learn its outputs' shapes. Unknown dims past the batch
-- (Input{-1} for sequences of any length) are probed at two sizes; an output dim that changes with them is unknown.
function M.call_symbolic(l, ...)
  local args = table.pack(...)
  local inputs = collect(args, {}, 0)
  local probes, keep_batch = probe_tensors(inputs, 2)
  local shapes = probe_shapes(l, args, probes)
  if has_unknown_dim(inputs) then
    local others = probe_shapes(l, args, (probe_tensors(inputs, 3)))
    for i, shape in ipairs(shapes) do
      for d = 2, #shape do
        if others[i] and shape[d] ~= others[i][d] then shape[d] = -1 end
      end
    end
  end
  local node = add_node(l, args, inputs)
  local outputs = node.outputs
  for _, shape in ipairs(shapes) do
    if not keep_batch then shape[1] = -1 end
    outputs[#outputs + 1] = new_symbolic(shape, node, #outputs + 1)
  end
  -- Keras's layer.output: the first call's output, to cut a sub-graph at a named layer
  if rawget(l, "output") == nil then rawset(l, "output", outputs[1]) end
  return table.unpack(outputs)
end

-- ---- the functional model ----
local Functional = Layer.extend(models.Model, "Functional")
Functional.step_wise = true -- when its layers are
M.Functional = Functional

local function as_list(v, what)
  if is_symbolic(v) then return {v}, true end
  if type(v) ~= "table" or getmetatable(v) ~= nil or #v == 0 then
    error(string.format("Model: expected %s to be a symbolic tensor or an array of them, got %s", what,
      v == nil and "nil" or (is_layer(v) and "a layer" or type(v))), 3)
  end
  for i, s in ipairs(v) do
    if not is_symbolic(s) then
      error(string.format("Model: %s[%d] is not a symbolic tensor (got %s): make inputs with nn.Input and outputs " ..
        "by calling layers on them", what, i, dnn.is_tensor(s) and "a tensor" or type(s)), 3)
    end
  end
  return v, false
end

-- For each node whose layer can run the next ones with it at inference
-- (`_fuse_following`: Conv2D with BatchNormalization and an activation), the
-- chain of up to two nodes that follow it alone: each reads only the output
-- of the one before, which no other node and no model output reads. Sequential
-- runs its layers so by position; here the graph must say they follow.
local function fusable_chains(order, output_list)
  local readers, is_output = {}, {}
  for _, s in ipairs(output_list) do is_output[s] = true end
  for _, node in ipairs(order) do
    for _, s in ipairs(node.inputs) do readers[s] = (readers[s] or 0) + 1 end
  end
  local only_reader = {}
  for _, node in ipairs(order) do
    local arg = node.args[1]
    if node.args.n == 1 and is_symbolic(arg) and readers[arg] == 1 and not is_output[arg] and #arg.node.outputs == 1
    then
      only_reader[arg.node] = node
    end
  end
  local chains = {}
  for _, node in ipairs(order) do
    if node.layer._fuse_following and only_reader[node] then
      local chain = {node.layer, only_reader[node].layer}
      local third = only_reader[only_reader[node]]
      if third then chain[3] = third.layer end
      chains[node] = {layers = chain, nodes = {node, only_reader[node], third}}
    end
  end
  return chains
end

-- nn.Model{inputs = x, outputs = y, name = "..."} or nn.Model(x, y, {name = ...});
-- x and y a symbolic tensor or an array of them.
function Functional.new(...)
  local a, b, c = ...
  local inputs, outputs, options
  if is_symbolic(a) or (type(a) == "table" and getmetatable(a) == nil and is_symbolic(a[1])) then
    inputs, outputs, options = a, b, c or {}
  else
    options = a or {}
    if type(options) ~= "table" then
      error(string.format("Model: expected {inputs = ..., outputs = ...}, got %s",
        strict.describe(options)), 2)
    end
    inputs, outputs = options.inputs, options.outputs
  end
  local input_list, single_input = as_list(inputs, "inputs")
  local output_list, single_output = as_list(outputs, "outputs")
  for i, s in ipairs(input_list) do
    if not s.node.is_input then
      error(string.format("Model: inputs[%d] (%s) was not made by nn.Input", i, tostring(s)), 2)
    end
  end

  -- Nodes in an order where each comes after the nodes it reads.
  local order, visited = {}, {}
  local function visit(node)
    if visited[node] then return end
    visited[node] = true
    for _, s in ipairs(node.inputs) do visit(s.node) end
    order[#order + 1] = node
  end
  for _, s in ipairs(input_list) do visit(s.node) end
  for _, s in ipairs(output_list) do visit(s.node) end

  local is_model_input = {}
  for _, s in ipairs(input_list) do is_model_input[s.node] = true end
  local layers, seen = {}, {}
  for _, node in ipairs(order) do
    if node.is_input and not is_model_input[node] then
      error(string.format("Model: graph disconnected: the outputs need the input '%s' %s, which is not in inputs",
        node.layer.name, shape_string(node.outputs[1].shape)), 2)
    end
    if not seen[node.layer] then
      seen[node.layer] = true
      layers[#layers + 1] = node.layer
    end
  end

  local self = Layer.init(Functional, options, "functional")
  self._chains = fusable_chains(order, output_list)
  self.inputs, self.outputs = input_list, output_list
  self.single_input, self.single_output = single_input, single_output
  self.layers = layers
  self._order = order
  self.built = true
  if #input_list == 1 then self.input_shape = {table.unpack(input_list[1].shape, 2)} end
  self.output_names = {}
  for i, s in ipairs(output_list) do self.output_names[i] = s.node.layer.name end
  return self
end

local function check_input(self, i, t)
  if not dnn.is_tensor(t) then
    error(string.format("Model '%s': input %d must be a tensor, got %s", self.name, i, type(t)), 5)
  end
  local want = self.inputs[i].shape
  local got = t.shape
  local ok = #got == #want
  for d = 2, #want do
    if want[d] >= 0 and got[d] ~= want[d] then ok = false end
  end
  if not ok then
    error(string.format("Model '%s': input %d ('%s') expects shape %s, got (%s)", self.name, i,
      self.inputs[i].node.layer.name, shape_string(want), table.concat(got, ", ")), 5)
  end
end

-- The mask a node's layer gets: that of its input, or the list of its
-- inputs' (false for none); nil when none has one.
local function mask_of(arg, masks)
  if is_symbolic(arg) then return masks[arg] end
  local list, any = {}, false
  for i, s in ipairs(arg) do
    list[i] = masks[s] or false
    any = any or list[i] ~= false
  end
  return any and list or nil
end

-- Keeps the masks compute_mask gives (one per output) for the node's outputs.
local function keep_masks(masks, outputs, ...)
  for i = 1, select("#", ...) do
    local m = select(i, ...)
    if outputs[i] and m then masks[outputs[i]] = m end
  end
end

-- model(x) for one input, model{x1, x2} for several; returns one value per
-- output. opts.mask: the input's mask (an array of them for several inputs);
-- each layer gets the mask its inputs carry, as in Keras's graphs.
function Functional:forward(x, opts)
  local values = {}
  local inputs = self.inputs
  if #inputs == 1 and dnn.is_tensor(x) then
    check_input(self, 1, x)
    values[inputs[1]] = x
  else
    if type(x) ~= "table" or dnn.is_tensor(x) or #x ~= #inputs then
      error(string.format("Model '%s': expected %s, got %s", self.name,
        #inputs == 1 and "a tensor" or ("an array of " .. #inputs .. " tensors"),
        dnn.is_tensor(x) and "a tensor" or (type(x) == "table" and ("an array of " .. #x) or type(x))), 4)
    end
    for i, s in ipairs(inputs) do
      check_input(self, i, x[i])
      values[s] = x[i]
    end
  end
  local input_mask = opts and opts.mask or nil
  local masks = {}
  if input_mask then
    if #inputs == 1 and dnn.is_tensor(x) then
      masks[inputs[1]] = input_mask
    else
      for i, s in ipairs(inputs) do masks[s] = input_mask[i] or nil end
    end
  end
  local fused = {} -- nodes run by an earlier node's fusion (no masks then: fusion needs none)
  for _, node in ipairs(self._order) do
    local chain, y, used = not fused[node] and self._chains[node], nil, nil
    if chain and not masks[node.args[1]] then
      y, used = node.layer:_fuse_following(values[node.args[1]], chain.layers, 1)
    end
    if y then
      for k = 1, used do fused[chain.nodes[k]] = true end
      values[chain.nodes[used].outputs[1]] = y
    elseif not node.is_input and not fused[node] then
      local args = node.args
      local real = substitute(args, values)
      local n = args.n
      local mask = mask_of(args[1], masks)
      if mask then
        real[2] = real[2] or {}
        if real[2].mask == nil then real[2].mask = mask end -- one given in the call wins
        n = math.max(n, 2)
      end
      local l = node.layer
      local results = table.pack(l(table.unpack(real, 1, n)))
      for i, out in ipairs(node.outputs) do values[out] = results[i] end
      keep_masks(masks, node.outputs, l:compute_mask(real[1], real[2] and real[2].mask or nil))
    end
  end
  local outs, out_masks = {}, {}
  for i, s in ipairs(self.outputs) do
    outs[i] = values[s]
    out_masks[i] = masks[s] or false
  end
  models.remember_masks(self, x, input_mask, out_masks)
  return table.unpack(outs)
end
Functional.supports_masking = true

-- The mask of each output (nil for none).
function Functional:compute_mask(inputs, mask)
  local masks = models.last_masks(self, inputs, mask).masks
  local out = {}
  for i = 1, #self.outputs do out[i] = masks[i] or nil end
  return table.unpack(out, 1, #self.outputs)
end


-- ---- reference ----

--- dnn.nn.Input(shape[, options])
-- A symbolic input for a functional model: call layers on it, then
-- `nn.Model{inputs = ..., outputs = ...}`. The batch dim is left out of
-- `shape`: `nn.Input{28, 28, 1}`, `nn.Input(3)`, `nn.Input{shape = {3}}`.
-- @param shape the shape of one example
-- @option name=auto the input layer's name
-- @option batch_size=nil a fixed batch size
-- @example local inputs = nn.Input{784}

--- dnn.nn.InputLayer
-- The layer behind `nn.Input` (first layer of a functional model's `layers`).
-- @example print(model.layers[1].type_name == "InputLayer")

return M
