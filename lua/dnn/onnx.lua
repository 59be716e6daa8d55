-- dnn.onnx: models to and from ONNX files (https://onnx.ai), the exchange
-- format that ONNX Runtime, PyTorch and most deployment tools read.
--
--   dnn.onnx.export(model, "m.onnx", {opset = 17})
--   local m = dnn.onnx.load("m.onnx")
--
-- The bytes are read and written in C (core/src/onnx_*.c, protobuf-c); the
-- graph is built here: dnn.onnx.export walks the model layer by layer
-- (lua/dnn/onnx/export.lua), dnn.onnx.load turns ONNX nodes into layers
-- (lua/dnn/onnx/import.lua). docs/onnx.md has the operator tables and limits.
local dnn = require "dnn"
local layer = require "dnn.layer"

local M = {}

--- @module dnn.onnx ONNX files: export for ONNX Runtime, import (PyTorch's exports too)
-- `dnn.onnx.export(model, path, {opset})` and `dnn.onnx.load(path)`; the
-- operator tables and limits are in docs/onnx.md.

local MIN_OPSET, MAX_OPSET = 13, 17

local function clean(msg)
  return (tostring(msg):gsub("^[^:\n]*:%d+: ", ""):gsub("^onnx%.%a+: ", ""))
end

--- dnn.onnx.export(model, path[, options])
-- Writes `model` (Sequential, functional or nested, of the layers that
-- docs/onnx.md lists) as an ONNX file that ONNX Runtime runs with the same
-- predictions (inference mode: Dropout and the random augmentation layers
-- are identities). Inputs and outputs keep dnnlua's layout (NHWC images,
-- (batch, steps, features) sequences; ids as floats counted from 1) with a
-- free batch dim; weights are initializers named after their layers
-- (`"conv1/kernel"`). A layer without an ONNX form is an error naming it.
-- @param model a model with a known input shape
-- @param path where to write (atomically)
-- @option opset=17 the ONNX opset, 13 to 17
-- @example dnn.onnx.export(model, "model.onnx", {opset = 17})
function M.export(model, path, options)
  if not layer.is_layer(model) then error("onnx.export: expected a model, got " .. type(model), 2) end
  if type(path) ~= "string" then error("onnx.export: expected a path (string), got " .. type(path), 2) end
  if options ~= nil and type(options) ~= "table" then
    error("onnx.export: expected an options table, got " .. type(options), 2)
  end
  options = options or {}
  require("dnn.options").check("onnx.export", options, {"opset"})
  local opset = options.opset or MAX_OPSET
  if math.type(opset) ~= "integer" or opset < MIN_OPSET or opset > MAX_OPSET then
    error(string.format("onnx.export: expected opset an integer from %d to %d, got %s", MIN_OPSET, MAX_OPSET,
      tostring(opset)), 2)
  end
  local ok, err = pcall(function()
    local proto = require("dnn.onnx.export").build(model, opset, model.name)
    dnn._onnx.write(path, proto)
  end)
  if not ok then error(string.format("onnx.export: %s: %s", path, clean(err)), 2) end
end

--- dnn.onnx.read(path)
-- An ONNX file's contents as plain Lua tables, to look inside one:
-- `{opset, ir_version, producer_name, nodes = {{name, op_type, inputs,
-- outputs, attrs = {{name, type, value}}}}, initializers = {{name, dims,
-- values (a tensor) or ints}}, inputs = {{name, elem_type, dims}}, outputs}`.
-- The same checked reader as `dnn.onnx.load`.
-- @param path the .onnx file
-- @example for _, node in ipairs(dnn.onnx.read("model.onnx").nodes) do print(node.op_type) end
function M.read(path)
  if type(path) ~= "string" then error("onnx.read: expected a path (string), got " .. type(path), 2) end
  local ok, proto = pcall(dnn._onnx.read, path)
  if not ok then error("onnx.read: " .. clean(proto), 2) end
  return proto
end

--- dnn.onnx.load(path)
-- A dnnlua model from an ONNX file: PyTorch's `torch.onnx.export`, our
-- own exports, any graph of the operators docs/onnx.md lists. The model
-- takes the inputs the graph declares (in its layout: NCHW for PyTorch's
-- CNNs), predicts, and can be compiled and fine-tuned: the graph's float
-- initializers are its weights, converted once to dnnlua's layouts. The
-- file is checked as it is read (sizes before allocating; tensors in
-- external files are refused); an unsupported operator is an error naming
-- the op, its node and the opset.
-- @param path the .onnx file
-- @example local m = dnn.onnx.load("model.onnx")
function M.load(path)
  if type(path) ~= "string" then error("onnx.load: expected a path (string), got " .. type(path), 2) end
  local ok, model = pcall(function()
    local proto = dnn._onnx.read(path)
    local name = path:match("([^/]+)$"):gsub("%.onnx$", ""):gsub("[^%w_]", "_")
    return require("dnn.onnx.import").model(proto, name)
  end)
  if not ok then error(string.format("onnx.load: %s: %s", path, clean(model):gsub("^" .. path:gsub("%p", "%%%0") .. ": ", "")), 2) end
  return model
end

return M
