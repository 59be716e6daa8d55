-- dnn.onnx.graph: an ONNX graph under construction, as the table form that
-- dnn._onnx.write takes (bindings/l_onnx.c): nodes, initializers, inputs and
-- outputs, with unique names. The exporter (dnn.onnx.export) adds to it.
local dnn = require "dnn"

local M = {}
local Graph = {}
Graph.__index = Graph

-- Typed attribute values: attrs are given as {name = I(1), perm = INTS{0, 2, 3, 1}, ...}.
function M.I(v) return {type = "int", value = math.tointeger(v) or error("onnx: not an integer: " .. tostring(v))} end
function M.F(v) return {type = "float", value = v + 0.0} end
function M.S(v) return {type = "string", value = v} end
function M.INTS(v) return {type = "ints", value = v} end
function M.FLOATS(v) return {type = "floats", value = v} end
function M.STRINGS(v) return {type = "strings", value = v} end

function M.new(opset)
  return setmetatable({opset = opset, nodes = {}, initializers = {}, used = {}, prefix = {}}, Graph)
end

-- A name not used yet in the graph: base, or base_1, base_2, ...
function Graph:fresh(base)
  local name, k = base, 0
  while self.used[name] do
    k = k + 1
    name = base .. "_" .. k
  end
  self.used[name] = true
  return name
end

-- The current layer path ("decoder_1/self_attention") + "/" + what.
function Graph:scoped(what)
  if #self.prefix == 0 then return what end
  return table.concat(self.prefix, "/") .. "/" .. what
end

function Graph:push(name) self.prefix[#self.prefix + 1] = name end
function Graph:pop() self.prefix[#self.prefix] = nil end

-- Adds a node op(inputs) with attrs; returns its n (default 1) output names.
function Graph:node(op, inputs, attrs, n)
  local name = self:fresh(self:scoped(op))
  local outputs = {}
  for i = 1, n or 1 do outputs[i] = self:fresh(name .. ":" .. (i - 1)) end
  local list = {}
  for k, v in pairs(attrs or {}) do list[#list + 1] = {name = k, type = v.type, value = v.value} end
  table.sort(list, function(a, b) return a.name < b.name end)
  self.nodes[#self.nodes + 1] = {name = name, op_type = op, domain = "", inputs = inputs, outputs = outputs,
                                 attrs = list}
  return table.unpack(outputs)
end

-- A float initializer holding a copy of t (any shape), named after the current layer.
function Graph:weight(what, t)
  local name = self:fresh(self:scoped(what))
  local values = dnn.no_grad(function() return t:detach():contiguous():clone() end)
  self.initializers[#self.initializers + 1] = {name = name, dims = {table.unpack(values.shape)}, values = values}
  return name
end

-- An int64 initializer of the given values (1-d, or 0-d when scalar is set).
function Graph:ints(what, values, scalar)
  local name = self:fresh(self:scoped(what))
  local dims = scalar and {} or {#values}
  self.initializers[#self.initializers + 1] = {name = name, dims = dims, ints = values}
  return name
end

-- A float scalar initializer.
function Graph:scalar(what, v)
  return self:weight(what, dnn.tensor(v):reshape())
end

-- The model table for dnn._onnx.write.
function Graph:model(inputs, outputs, name)
  return {ir_version = 8, opset = self.opset, producer_name = "dnnlua", producer_version = dnn.version,
          graph_name = name, nodes = self.nodes, initializers = self.initializers, inputs = inputs, outputs = outputs}
end

return M
