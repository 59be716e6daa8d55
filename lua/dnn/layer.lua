-- dnn.layer: the Layer base class and the helpers every layer shares.
-- A layer holds its weights (tensors that require grad, in Keras's order)
-- and builds them lazily on its first call, or at once when input_shape is
-- given. Subclasses: local Dense = Layer:extend("Dense").
local dnn = require "dnn"
local strict = require "dnn.options"

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

-- A shape as text for messages, "(None, 28, 28, 1)" from dim `from` on (1 by
-- default); a dim of -1 or nil shows as None, as Keras.
function M.shape_text(shape, from)
  local parts = {}
  for i = from or 1, #shape do
    local d = shape[i]
    parts[#parts + 1] = (d == nil or d < 0) and "None" or tostring(d)
  end
  return "(" .. table.concat(parts, ", ") .. ")"
end

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

-- What names l in its errors: Dense 'dense_2' (created at script.lua:12).
local function context(l)
  return string.format("%s '%s' (created at %s)", l.type_name, l.name, l.created_at)
end
M.context = context

-- Raises what xpcall(..., capture) caught in layer l's code, the message
-- prefixed with the layer (its own position dropped: the traceback has it).
local function raise_in_layer(l, err)
  if getmetatable(err) ~= Captured then error(err, 0) end
  error(context(l) .. ": " .. err.message:gsub("^[^:]*:%d+: ", "") .. err.traceback, 0)
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

-- Options every layer takes (Layer.init reads them), besides its class's own.
M.common_options = {"input_shape", "name", "trainable"}

-- The options a class takes: the common ones and those it declares in
-- cls.options (Dense.options = {"activation", ...}); nil for a class that
-- declares none (a user's layer that reads options of its own). Declared
-- per class, never inherited: a subclass may take other options.
function M.valid_options(cls)
  local own = rawget(cls, "options")
  if own == nil then return nil end
  local list = {table.unpack(M.common_options)}
  for _, k in ipairs(own) do list[#list + 1] = k end
  return list
end

-- Refuses, before the constructor reads any of them, named options the
-- class does not declare: the string keys of the last argument (as
-- args_and_options takes them). Its array part is left to the constructor
-- (Conv2D(32, {3, 3}) gives its kernel size there), and a last argument with
-- a metatable (a layer, nn.Model(x, y)'s symbolic tensor) is no options table.
local function check_options(cls, ...)
  local valid = M.valid_options(cls)
  local n = select("#", ...)
  local last = n > 0 and select(n, ...) or nil
  if not valid or type(last) ~= "table" or getmetatable(last) ~= nil then return end
  local named = {}
  for k, v in pairs(last) do
    if math.type(k) ~= "integer" then named[k] = v end
  end
  strict.check(cls.type_name, named, valid)
end

-- A class's constructor (getmetatable(cls).__call, set by each layer file)
-- is wrapped as it is set, so that its options are checked first, and every
-- instance keeps the arguments it was made with: the generic get_config
-- below saves them as they were given.
local class_mt_mt = {
  __newindex = function(mt, k, v)
    if k == "__call" and type(v) == "function" then
      local construct = v
      v = function(cls, ...)
        check_options(cls, ...)
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
  local name = options.name
  if name ~= nil and (type(name) ~= "string" or name == "" or name:find("\0", 1, true)) then
    strict.raise(string.format("%s: name must be a non-empty string without NUL bytes (got %s)", cls.type_name,
      strict.describe(name)))
  end
  self.name = name or unique_name(base_name)
  if options.trainable ~= nil then strict.check_boolean(cls.type_name, "trainable", options.trainable) end
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

-- ---- the call: layer(inputs, opts) ----
-- inputs: one tensor, or an array of tensors for a layer of several inputs
-- (its class sets min_inputs, and max_inputs when there is a bound: nn.Add,
-- nn.Concatenate). opts: nil or a table, given to forward as it is (so a
-- custom layer can take more named arguments); the protocol reads
-- training = true | false and mask (see compute_mask). Every value forward
-- returns comes back.
--
-- training in a call overrides the layer's own mode (train()/eval()) for
-- that call only, and the calls made inside it inherit it, so a model called
-- with {training = false} runs all its layers in inference. While the call
-- runs, self.training holds that mode: forward reads self.training, as
-- every layer did before calls could override it.

-- The mode of the innermost call that was given one (nil: none), and the
-- mode shape probes force on every call (nil: none).
local outer_training, forced_training = nil, nil

-- Shape probes run each call in inference, whatever its options: a probe's
-- batch of ones must not move batch norm's statistics. Returns the previous
-- forced mode, to restore.
function M.force_training(mode)
  local was = forced_training
  forced_training = mode
  return was
end

-- The mode a call of l must enter, or nil when l's own mode stands.
local function mode_to_enter(l, opts)
  local mode = opts and opts.training
  if mode == nil then mode = outer_training end
  if forced_training ~= nil then mode = forced_training end
  if mode == nil or (mode == l.training and mode == outer_training) then return nil end
  return mode
end

-- A to-be-closed guard: restores the layer's mode and the inherited one
-- when the call ends, error or not.
local ModeGuard = {__close = function(g)
  g[1].training, outer_training = g[2], g[3]
end}

local function enter_mode(l, mode)
  local guard = setmetatable({l, l.training, outer_training}, ModeGuard)
  l.training, outer_training = mode, mode
  return guard
end

local function describe(v)
  if dnn.is_tensor(v) then return "a tensor" end
  if type(v) == "table" and getmetatable(v) == nil then return "an array of " .. #v end
  return type(v)
end

-- What is wrong with a call's options (nil: nothing). A mask mirrors the
-- inputs: a tensor for one tensor, an array (false for no mask) for an array.
local function options_problem(l, inputs, opts)
  if opts == nil then return nil end
  if type(opts) ~= "table" or getmetatable(opts) ~= nil then
    return string.format("expected options such as {training = false} after the input, got %s%s", describe(opts),
      l.min_inputs and "" or " (several inputs go in one array: layer{a, b})")
  end
  local training = opts.training
  if training ~= nil and type(training) ~= "boolean" then
    return "expected training = true or false, got " .. tostring(training)
  end
  local mask = opts.mask
  if mask then
    if not l.supports_masking then
      return "got a mask, but this layer does not support masking: it would ignore the masked steps (a layer " ..
        "class that keeps or uses them sets supports_masking = true)"
    end
    if dnn.is_tensor(inputs) and not dnn.is_tensor(mask) then
      return "expected the mask to be a tensor, got " .. describe(mask)
    elseif not dnn.is_tensor(inputs) and (type(mask) ~= "table" or getmetatable(mask) ~= nil) then
      return "expected the mask to be an array of one mask per input (false for none), got " .. describe(mask)
    end
  end
  return nil
end
M.options_problem = options_problem

-- What is wrong with a call's inputs (nil: nothing).
local function inputs_problem(l, inputs)
  local min, max = l.min_inputs, l.max_inputs
  if not min then
    if dnn.is_tensor(inputs) then return nil end
    return "expected a tensor input, got " .. describe(inputs)
  end
  local n = type(inputs) == "table" and getmetatable(inputs) == nil and #inputs or 0
  if n < min or (max and n > max) then
    return string.format("expected an array of %s tensors, got %s", max == min and tostring(min) or
      ("at least " .. min), dnn.is_tensor(inputs) and "a single tensor" or describe(inputs))
  end
  for i = 1, n do
    if not dnn.is_tensor(inputs[i]) then return string.format("input %d is not a tensor (got %s)", i, type(inputs[i])) end
  end
  return nil
end

-- What build takes: the input's shape, or the list of the inputs' shapes.
local function input_shapes(inputs)
  if dnn.is_tensor(inputs) then return inputs.shape end
  local shapes = {}
  for i, t in ipairs(inputs) do shapes[i] = t.shape end
  return shapes
end

-- After forward: a failure gets the layer's name; the activity regularizer
-- and summary's recorder look at the first result.
local function finish(self, ok, ...)
  if not ok then raise_in_layer(self, (...)) end
  if self.activity_regularizer then self.activity_loss = self.activity_regularizer((...)) end
  if M.recorder then M.recorder(self, (...)) end
  return ...
end

-- The nodes a layer's forward records carry its context, so that an error
-- raised later in backward names the layer and the line that made it.
local set_scope = require("dnn.core").set_autograd_scope

local function leave_scope(previous, ...)
  set_scope(previous)
  return ...
end

local function run_forward(self, inputs, opts)
  local scope = rawget(self, "_scope")
  if not scope then
    scope = context(self)
    rawset(self, "_scope", scope)
  end
  return leave_scope(set_scope(scope), xpcall(self.forward, capture, self, inputs, opts))
end

function Layer:call(inputs, opts)
  if opts ~= nil or self.min_inputs or not dnn.is_tensor(inputs) then
    local problem = inputs_problem(self, inputs) or options_problem(self, inputs, opts)
    if problem then error(context(self) .. ": " .. problem, 2) end
  end
  if not self.built then self:build(input_shapes(inputs)) end
  -- the per-batch call (no options, no mode from outside) goes straight on
  if opts ~= nil or outer_training ~= nil or forced_training ~= nil then
    local mode = mode_to_enter(self, opts)
    if mode ~= nil then
      local _ <close> = enter_mode(self, mode)
      return finish(self, run_forward(self, inputs, opts))
    end
  end
  return finish(self, run_forward(self, inputs, opts))
end

-- For models' calls (dnn.models), which run without catching: nothing to add.
M.mode_to_enter, M.enter_mode = mode_to_enter, enter_mode

-- Whether l would run in training mode if a model called it now without options (the mode it inherits, else its own):
-- what a model that fuses layers at inference checks before it does.
function M.training_of(l)
  local mode = mode_to_enter(l, nil)
  if mode == nil then return l.training end
  return mode
end

-- ---- masks ----
-- A mask marks the time steps of a sequence (batch, time, ...) to use: a
-- float tensor (batch, time) of 1 (use) and 0 (skip), as Keras's. A layer
-- takes one in its call's options (opts.mask) and says the mask of its
-- output with compute_mask(inputs, mask). Sequential and functional models
-- pass each layer the mask the layer before it made; in direct calls the
-- caller does (nothing is attached to tensors):
--   local y = masking(x)
--   local out = next_layer(y, {mask = masking:compute_mask(x)})
-- A layer that keeps the time steps (Dense, Dropout, ...) or uses the mask
-- sets supports_masking = true; a mask given to any other layer is an
-- error (Keras 2's choice: Keras 3 drops it with a warning, and a layer that
-- ignores a mask silently averages or mixes in the masked steps).
Layer.supports_masking = false

-- The mask of the output(s), one per output: by default the input's mask
-- as it is (layers that make, change or consume masks define their own).
function Layer:compute_mask(inputs, mask)
  return mask
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


-- ---- reference ----

--- @module dnn.nn Layers and models (Keras's API)
-- A constructor takes its required arguments positionally and options as
-- named fields, in the same table or a trailing one: `nn.Dense(64, {activation
-- = "relu"})` and `nn.Dense{64, activation = "relu"}` are the same layer. An
-- unknown option is an error naming the closest valid one. A layer is
-- callable: `layer(x[, {training = bool, mask = m}])`, and a layer of several
-- inputs takes them as an array: `nn.Add(){a, b}`. Images are `(batch,
-- height, width, channels)`, sequences `(batch, timesteps, features)`.
-- Weights keep Keras's layouts and order.

--- dnn.nn.Layer
-- The base of every layer: weights built on the first call (or at once
-- with `input_shape`), trainable or frozen, regularization, the call
-- protocol. Every layer takes the options below besides its own. A custom
-- layer: `local My = nn.Layer:extend("My")`, with `My.new` calling
-- `nn.Layer.init(My, options, "my")`, and `My:build`, `My:forward`.
-- @option name=auto the layer's name (`"dense_1"`, ...), unique in the process
-- @option trainable=true false freezes its weights (also `layer.trainable = false` later)
-- @option input_shape=nil the shape of one example (without the batch dim); builds the weights at once
-- @example local Scale = nn.Layer:extend("Scale")

--- dnn.nn.Layer:extend(type_name)
-- A subclass of the layer class (a custom layer).
-- @example local MyLayer = nn.Layer:extend("MyLayer")

--- dnn.nn.Layer.init(cls, options, base_name)
-- Makes the instance of a custom layer class in its `new`: the common
-- options (name, trainable, input_shape) read from `options`.
-- @example local self = nn.Layer.init(MyLayer, options, "my_layer")

--- dnn.nn.Layer:call(inputs[, options])
-- What `layer(inputs, options)` runs: builds on the first call, checks the
-- inputs, runs `forward` in the layer's mode and passes masks on.
-- @option training=nil true or false for this call only (dropout, batch norm, augmentation); default the layer's mode
-- @option mask=nil a 0/1 mask (batch, timesteps) for layers that use one
-- @example local y = layer:call(x, {training = false})

--- dnn.nn.Layer:forward(inputs[, options])
-- The layer's computation, given built weights; a custom layer defines it.
-- `options.training` and `options.mask` are as in `call`.
-- @hook
-- @example function MyLayer:forward(x) return x * self.scale end

--- dnn.nn.Layer:compute_output_shape(input_shape)
-- The output shape (batch dim included, `-1` for unknown) for an input
-- shape, used by `summary` and symbolic calls without running the layer.
-- @hook
-- @example function MyLayer:compute_output_shape(s) return s end

--- dnn.nn.Layer:build(input_shape)
-- Makes the weights for an input shape (batch dim first) with `add_weight`;
-- runs once, on the first call. A custom layer with weights defines it.
-- @example function MyLayer:build(s) self:add_weight("w", dnn.ones(s[#s])) end

--- dnn.nn.Layer:add_weight(name, tensor[, options])
-- Adds a weight (in Keras's order: `get_weights` lists them in this order).
-- @option trainable=true false for a non-trainable weight (moving statistics)
-- @option regularizer=nil a regularizer whose penalty joins the loss
-- @example self:add_weight("kernel", dnn.zeros(3, 4))

--- dnn.nn.Layer:compute_mask(inputs, mask)
-- The mask the layer passes on (default: its input mask, for layers that
-- support masking, else nil).
-- @example local m = layer:compute_mask(x, mask)

--- dnn.nn.Layer:parameters()
-- The trainable weight tensors (for an optimizer's `params`).
-- @example local opt = dnn.optim.Adam{params = layer:parameters()}

--- dnn.nn.Layer:named_weights()
-- Every weight as `{name = "dense/kernel", tensor = t}`, in order.
-- @example for _, w in ipairs(layer:named_weights()) do print(w.name) end

--- dnn.nn.Layer:get_weights()
-- Copies of the weights (trainable and not) in Keras's order: a Dense's
-- kernel `(in, out)` then its bias.
-- @example local kernel, bias = table.unpack(layer:get_weights())

--- dnn.nn.Layer:set_weights(list)
-- Copies the tensors of `list` into the weights, in `get_weights`'s order and shapes.
-- @example layer:set_weights{kernel, bias}

--- dnn.nn.Layer:regularization_loss()
-- The sum of the weight and activity regularizers' penalties (a 0-d tensor), or nil.
-- @example local penalty = layer:regularization_loss()

--- dnn.nn.Layer:train([on])
-- Sets training mode (default true; false is eval); returns the layer. A model sets all its layers.
-- @example layer:train()

--- dnn.nn.Layer:eval()
-- Sets inference mode (dropout off, batch norm on moving statistics); returns it.
-- @example model:eval()

--- dnn.nn.Layer:count_params()
-- The number of weight elements (trainable and not).
-- @example print(layer:count_params())

--- dnn.nn.Layer:is_step_wise()
-- Whether the layer's output at step t depends only on its input at step t
-- (Dense, LayerNormalization, Embedding, Dropout, Activation, the merge
-- layers) or on earlier steps through `model:generate`'s cache (causal
-- self-attention, position layers); a model is when all its layers are
-- (Sequential, functional). A class says so with `MyLayer.step_wise = true`
-- (a custom model too, for its forward).
-- @example print(model:is_step_wise())

--- dnn.nn.Layer:get_config()
-- The layer's constructor options as a plain table (what model files store).
-- @example local cfg = layer:get_config()

--- dnn.nn.args_and_options(...)
-- The positional arguments and the options of a constructor's call, from
-- either form (`F(a, {o = 1})` or `F{a, o = 1}`), for custom layers.
-- @example local args, options = nn.args_and_options(...)

--- dnn.nn.register(name, cls)
-- Registers a custom layer or model class under `name`, so `dnn.load_model`
-- can rebuild it from a model file. Returns the class.
-- @example nn.register("Scale", Scale)

--- dnn.nn.registry
-- The table of layer classes by registered name (built-ins and `register`ed).
-- @example for name in pairs(nn.registry) do print(name) end

--- dnn.nn.initializers
-- The same module as `dnn.initializers`, for layer code.
-- @example local init = nn.initializers.get("he_normal")

-- ---- decoding step by step (model:generate, dnn.generate) ----

-- While model:generate runs a model on new steps only, this is its context:
-- {caches = layer -> what the layer keeps of the steps before}; nil
-- otherwise. Causal self-attention and the position layers read it.
M.decoding = nil

-- Whether the layer's output at step t depends only on its input at step t,
-- or on earlier steps through the decoding cache: then generate may run the
-- model on the new step alone. A class says so with `step_wise = true`, its
-- own field: a subclass with another forward is not taken to be step-wise.
function Layer:is_step_wise()
  return rawget(getmetatable(self) or {}, "step_wise") == true
end

-- ---- wrappers (TimeDistributed, Bidirectional) ----

-- The __newindex of a layer made of other layers whose weights are its own
-- (wrappers, transformer blocks): setting `trainable` sets it on them too.
-- sublayers(self) lists them (those made so far).
function M.composed_newindex(sublayers)
  return function(self, k, v)
    if k == "trainable" then
      M.set_trainable(self, v)
      for _, l in ipairs(sublayers(self)) do l.trainable = v end
      return
    end
    rawset(self, k, v)
  end
end

-- A wrapper's get_config: the wrapped layer as the one argument (a model
-- file keeps it as {"__layer": ...}) and the wrapper's options as given (the
-- generic get_config would read a lone layer argument as options).
function M.wrapper_config(self)
  local opts = {}
  for k, v in pairs(rawget(self, "_options") or {}) do opts[k] = v end
  opts.name, opts.trainable = self.name, self.trainable
  return {args = {self.layer}, options = opts}
end

-- A wrapper's regularization loss: its own, plus the wrapped layers'
-- activity losses of their last calls (taken, so they count once).
function M.wrapper_regularization_loss(self, inner_layers)
  local total = Layer.regularization_loss(self)
  for _, l in ipairs(inner_layers) do
    local inner = l.activity_loss
    l.activity_loss = nil
    if inner then total = total and total + inner or inner end
  end
  return total
end

return M
