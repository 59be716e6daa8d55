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
  if n == 0 then return {}, {} end
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

-- ---- errors: one decoration path that keeps the traceback ----
-- A pcall that raises the error again loses the frames between the error
-- and itself, so the library never catches that way. Where it adds context
-- (a layer's name to an error in its forward, the user's line to a
-- constructor's error) it calls through xpcall(fn, capture, ...): capture
-- takes the traceback where the error was raised, before the stack unwinds,
-- and the message raised again carries it. The message handlers of dnnlua
-- and the embedding API (ldnn_msghandler) print a message that has a
-- traceback as it is. Elsewhere (no_grad, fit's mode restore, shape probes)
-- cleanup runs from to-be-closed variables, which catch nothing.
local TRACEBACK = "\nstack traceback:\n"
local Captured = {}

-- Whether the innermost Lua function on the stack, above capture (level 2
-- here), is the library's: the error is one of its own checks.
local function raised_in_library()
  for level = 3, 20 do
    local info = debug.getinfo(level, "S")
    if not info then return false end
    if info.what ~= "C" then return info.source:sub(1, 5) == "@dnn/" end
  end
  return false
end

-- xpcall's message handler. An error that already carries a traceback (a
-- nested layer's) or is not a string goes on as it is.
local function capture(err)
  if type(err) ~= "string" or err:find(TRACEBACK, 1, true) then return err end
  return setmetatable({message = err, traceback = debug.traceback("", 2), in_library = raised_in_library()}, Captured)
end
M.capture = capture

-- Raises what xpcall(..., capture) caught in layer l's code, the message
-- prefixed with the layer (its own position dropped: the traceback has it).
local function raise_in_layer(l, err)
  if getmetatable(err) ~= Captured then error(err, 0) end
  error(string.format("%s '%s' (created at %s): %s%s", l.type_name, l.name, l.created_at,
    (err.message:gsub("^[^:]*:%d+: ", "")), err.traceback), 0)
end
M.raise_in_layer = raise_in_layer

local Layer = {}
Layer.__index = Layer
M.Layer = Layer

-- Symbolic tensors (nn.Input and the outputs of layers called on them) are
-- defined by dnn.functional; a call on them records a graph node instead of
-- computing. The check is a metatable compare, so real calls stay cheap.
local symbolic_mt = {}
M.symbolic_mt = symbolic_mt

local function is_symbolic(v)
  if getmetatable(v) == symbolic_mt then return true end
  return type(v) == "table" and getmetatable(v) == nil and getmetatable(v[1]) == symbolic_mt
end
M.is_symbolic = is_symbolic

function Layer.__call(self, ...)
  if is_symbolic(...) then return require("dnn.functional").call_symbolic(self, ...) end
  return self:call(...)
end

-- Layer classes by name, for model files (dnn.serialize finds a layer's
-- class here, never by running code from the file). The library's own
-- classes register themselves when defined; a user's custom layer with
-- nn.register("MyLayer", MyLayer).
local registry = {}
M.registry = registry

function M.register(name, cls)
  if type(name) ~= "string" or name == "" then
    error(string.format("register: expected a class name (string), got %s", type(name)), 2)
  end
  if type(cls) ~= "table" or not getmetatable(cls) then
    error(string.format("register: expected a layer class for '%s', got %s", name, type(cls)), 2)
  end
  registry[name] = cls
  return cls
end

-- A class's constructor (getmetatable(cls).__call, set by each layer file)
-- is wrapped as it is set, so every instance keeps the arguments it was
-- made with: the generic get_config below saves them as they were given.
local class_mt_mt = {
  __newindex = function(mt, k, v)
    if k == "__call" and type(v) == "function" then
      local construct = v
      v = function(cls, ...)
        local ok, obj = xpcall(construct, capture, cls, ...)
        if not ok then
          if getmetatable(obj) ~= Captured then error(obj, 0) end
          -- The library's own argument checks name a line of the library: point at the user's call instead
          -- (the frames below it hold nothing more). Any other error keeps the frames where it was raised.
          local msg = obj.message:gsub("^dnn/[%w_/]+%.lua:%d+: ", "")
          error(obj.in_library and msg or msg .. obj.traceback, 2)
        end
        if type(obj) == "table" and getmetatable(obj) == cls and rawget(obj, "_ctor_args") == nil then
          rawset(obj, "_ctor_args", table.pack(...))
        end
        return obj
      end
    end
    rawset(mt, k, v)
  end,
}

-- layer.trainable = on takes effect at once, as Keras's: the layer's
-- trainable weights (not statistics such as batch norm's moving mean) stop
-- or start asking for gradients, in custom loops too, and a model's layers
-- follow it. The flag lives under the raw key _trainable, so that every
-- assignment reaches __newindex (Lua calls it only for absent keys).
local function set_trainable(self, on)
  if type(on) ~= "boolean" then
    error(string.format("%s '%s': trainable must be true or false, got %s", self.type_name, rawget(self, "name"),
      tostring(on)), 3)
  end
  rawset(self, "_trainable", on)
  for _, w in ipairs(rawget(self, "weights") or {}) do
    if w.trainable then w.tensor.requires_grad = on end
  end
  local layers = self.layers
  if type(layers) == "table" then
    for _, l in ipairs(layers) do l.trainable = on end
  end
end
M.set_trainable = set_trainable

local function set_field(self, k, v)
  if k == "trainable" then return set_trainable(self, v) end
  rawset(self, k, v)
end

-- Subclasses: local Dense = nn.Layer:extend("Dense"); Dense.new(...) builds.
function Layer:extend(type_name)
  local cls = setmetatable({}, setmetatable({__index = self}, class_mt_mt))
  local info = debug.getinfo(2, "S")
  if type(type_name) == "string" and info and info.source:sub(1, 5) == "@dnn/" and registry[type_name] == nil then
    registry[type_name] = cls
  end
  cls.__index = function(t, k)
    if k == "trainable" then return rawget(t, "_trainable") end
    return cls[k]
  end
  cls.__newindex = set_field
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
  self.input_shape = options.input_shape -- without the batch dim; builds a Sequential at once
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
  local ok, y = xpcall(self.forward, capture, self, x)
  if not ok then raise_in_layer(self, y) end
  if self.activity_regularizer then self.activity_loss = self.activity_regularizer(y) end
  if M.recorder then M.recorder(self, y) end
  return y
end

function Layer:build(input_shape)
  self.built = true
end

-- Adds a weight under name, in Keras's order. options: trainable (false for
-- statistics such as batch norm's moving mean: not a parameter, not updated
-- by optimizers, counted as non-trainable), regularizer (tensor -> 0-d loss).
function Layer:add_weight(name, tensor, options)
  options = options or {}
  local entry = {name = name, tensor = tensor, trainable = options.trainable ~= false,
                 regularizer = options.regularizer}
  tensor.requires_grad = self.trainable and entry.trainable
  self[name] = tensor
  self.weights[#self.weights + 1] = entry
  return tensor
end

-- The tensors an optimizer updates: trainable weights of a trainable layer.
function Layer:parameters()
  local params = {}
  if self.trainable then
    for _, w in ipairs(self.weights) do
      if w.trainable then params[#params + 1] = w.tensor end
    end
  end
  return params
end

-- Every weight with a name that says which layer and which weight
-- ("dense_1/kernel"), in order: what weight files store.
function Layer:named_weights()
  local out = {}
  for i, w in ipairs(self.weights) do out[i] = {name = self.name .. "/" .. w.name, tensor = w.tensor} end
  return out
end

-- The sum of the weight and activity regularizers' losses (a 0-d tensor), or nil.
function Layer:regularization_loss()
  local total = self.activity_loss
  self.activity_loss = nil
  if self.trainable then
    for _, w in ipairs(self.weights) do
      if w.regularizer then
        local l = w.regularizer(w.tensor)
        total = total and total + l or l
      end
    end
  end
  return total
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

-- Parameter counts as Keras's summary gives them: total, trainable, non-trainable.
function Layer:count_params()
  local total, trainable = 0, 0
  for _, w in ipairs(self.weights) do
    local n = w.tensor:numel()
    total = total + n
    if self.trainable and w.trainable then trainable = trainable + n end
  end
  return total, trainable, total - trainable
end

-- The layer's configuration: the arguments its constructor was called
-- with (positional ones and named options), its name and trainable flag.
-- dnn.serialize turns it into JSON; a layer class whose instances are not
-- made by calling the class defines its own get_config.
function Layer:get_config()
  local args = rawget(self, "_ctor_args")
  if not args then
    error(string.format("get_config: %s '%s' was not made by calling its class (%s(...)), so its arguments are " ..
      "unknown; define %s:get_config()", self.type_name, self.name, self.type_name, self.type_name), 2)
  end
  local positional, options = args_and_options(table.unpack(args, 1, args.n))
  local opts = {}
  for k, v in pairs(options) do opts[k] = v end
  opts.name = self.name
  opts.trainable = self.trainable
  return {args = {table.unpack(positional, 1, #positional)}, options = opts}
end

-- M.recorder, when set (by summary's dry runs), sees every layer's output.
M.recorder = nil

-- Whether v is a layer (or a model): an instance whose class derives from Layer.
function M.is_layer(v)
  if type(v) ~= "table" then return false end
  local mt = getmetatable(v)
  while type(mt) == "table" do
    if mt == Layer then return true end
    local parent = getmetatable(mt)
    mt = parent and parent.__index
  end
  return false
end

M.unique_name = unique_name
M.creation_site = creation_site

return M
