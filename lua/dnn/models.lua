-- dnn.models: the Model base class (a layer made of layers), Sequential, and
-- subclass-style custom models (nn.Model:extend("MyModel")). The functional
-- model, nn.Model{inputs = ..., outputs = ...}, lives in dnn.functional;
-- compile/fit/evaluate/predict in dnn.training; summary in dnn.summary.
local dnn = require "dnn"
local layer = require "dnn.layer"
local describe = require("dnn.options").describe

local Layer, is_layer = layer.Layer, layer.is_layer
local M = {}

local shape_string = layer.shape_text
M.shape_string = shape_string

-- Runs fn(...) as a shape probe: no graph recorded, the layers in inference
-- mode (a batch-norm layer must not fold a dummy batch into its moving
-- statistics, a dropout layer must not draw from the PRNG), and no stale
-- activity loss left behind for the next regularization_loss().
-- Every layer call inside runs in inference, whatever its training option.
-- The restore is a to-be-closed variable, so an error keeps its traceback.
function M.probe(target, fn, ...)
  local was_forced = layer.force_training(false)
  local _ <close> = setmetatable({}, {__close = function()
    layer.force_training(was_forced)
    for _, l in ipairs(target.layers and target:_all_layers() or {target}) do l.activity_loss = nil end
    target.activity_loss = nil
  end})
  return dnn.no_grad(fn, ...)
end

-- ---- Model: what every kind of model shares ----
-- A model's layers are self.layers (Sequential, functional) or, for custom
-- models, the layers found in its fields; the methods below work on them.
local Model = Layer:extend("Model")
M.Model = Model
Model.options = {"inputs", "outputs"} -- nn.Model{inputs = ..., outputs = ...}; a custom model's class checks its own

-- Every layer of the model and of its nested models, depth first, each once.
function Model:_all_layers(out, seen)
  out, seen = out or {}, seen or {}
  for _, l in ipairs(self.layers) do
    if not seen[l] then
      seen[l] = true
      out[#out + 1] = l
      if l.layers and l._all_layers then l:_all_layers(out, seen) end
    end
  end
  return out
end

-- The input shapes (no batch dim) a model was first called with, so that
-- summary can probe a custom model.
local function remember_inputs(self, x)
  local seen
  if dnn.is_tensor(x) then
    seen = {{table.unpack(x.shape, 2)}, single = true}
  elseif type(x) == "table" and getmetatable(x) == nil and dnn.is_tensor(x[1]) then
    seen = {}
    for i, t in ipairs(x) do seen[i] = {table.unpack(t.shape, 2)} end
  else
    seen = false
  end
  rawset(self, "_input_shapes", seen)
end

local function recorded(self, ...)
  layer.recorder(self, (...))
  return ...
end

-- model(inputs, opts): as a layer's call (dnn.layer), without catching:
-- a model adds no context to its layers' errors.
local function run(self, inputs, opts)
  if layer.recorder then return recorded(self, self:forward(inputs, opts)) end
  return self:forward(inputs, opts)
end

function Model:call(inputs, opts)
  if rawget(self, "_input_shapes") == nil then remember_inputs(self, inputs) end
  local problem = layer.options_problem(self, inputs, opts)
  if problem then error(layer.context(self) .. ": " .. problem, 2) end
  local mode = layer.mode_to_enter(self, opts)
  if mode ~= nil then
    local _ <close> = layer.enter_mode(self, mode)
    return run(self, inputs, opts)
  end
  return run(self, inputs, opts)
end

function Model:parameters()
  local params = {}
  if self.trainable == false then return params end
  for _, l in ipairs(self.layers) do
    for _, p in ipairs(l:parameters()) do params[#params + 1] = p end
  end
  return params
end

function Model:named_weights()
  local out = {}
  for _, l in ipairs(self.layers) do
    for _, w in ipairs(l:named_weights()) do out[#out + 1] = w end
  end
  return out
end

-- The weights in Keras's order: layer by layer, each layer's own order.
function Model:get_weights()
  local out = {}
  for _, l in ipairs(self.layers) do
    for _, w in ipairs(l:get_weights()) do out[#out + 1] = w end
  end
  return out
end

function Model:set_weights(list)
  local named = self:named_weights()
  if type(list) ~= "table" or #list ~= #named then
    error(string.format("set_weights: model '%s' expects %d weights, got %s", self.name, #named,
      type(list) == "table" and tostring(#list) or type(list)), 2)
  end
  for i, w in ipairs(named) do
    local got = list[i]
    if not dnn.is_tensor(got) then
      error(string.format("set_weights: weight %d (%s) expects a tensor, got %s", i, w.name, type(got)), 2)
    end
    if shape_string(got.shape) ~= shape_string(w.tensor.shape) or got.ndim ~= w.tensor.ndim then
      error(string.format("set_weights: weight %d (%s) has shape {%s}, got {%s}", i, w.name,
        table.concat(w.tensor.shape, ","), table.concat(got.shape, ",")), 2)
    end
  end
  dnn.no_grad(function()
    for i, w in ipairs(named) do w.tensor:copy(list[i]) end
  end)
end

function Model:regularization_loss()
  local total = self.activity_loss
  self.activity_loss = nil
  for _, l in ipairs(self.layers) do
    local r = l:regularization_loss()
    if r then total = total and total + r or r end
  end
  return total
end

function Model:train(on)
  self.training = on ~= false
  for _, l in ipairs(self.layers) do l:train(on) end
  return self
end

-- total, trainable, non-trainable, as Keras's summary counts them
-- (a layer used twice counts once).
function Model:count_params()
  local total, trainable = 0, 0
  for _, l in ipairs(self.layers) do
    local t, tr = l:count_params()
    total = total + t
    if self.trainable ~= false then trainable = trainable + tr end
  end
  return total, trainable, total - trainable
end

-- The layer named name (Keras's get_layer), searched in nested models too.
function Model:get_layer(name)
  for _, l in ipairs(self:_all_layers()) do
    if l.name == name then return l end
  end
  error(string.format("get_layer: model '%s' has no layer '%s'", self.name, tostring(name)), 2)
end

-- options: {include_optimizer = true} also saves the optimizer's state.
function Model:save_weights(path, options)
  return require("dnn.weights").save(self, path, nil, options)
end

-- The whole model in one file: architecture (JSON in the metadata), weights,
-- compile settings; {include_optimizer = true} adds the optimizer's state.
function Model:save(path, options)
  return require("dnn.serialize").save_model(self, path, options)
end

function Model:load_weights(path)
  return require("dnn.weights").load(self, path)
end

function Model:summary(options)
  return require("dnn.summary").summary(self, options)
end

function Model:generate(prompt, options)
  return require("dnn.generate").generate(self, prompt, options)
end

-- Sequential and functional models are step-wise when all their layers are;
-- a custom model's forward is not known to be.
function Model:is_step_wise()
  if not Layer.is_step_wise(self) then return false end
  for _, l in ipairs(self.layers) do
    if not l:is_step_wise() then return false end
  end
  return true
end

for _, name in ipairs{"compile", "fit", "evaluate", "predict"} do
  Model[name] = function(self, ...) return require("dnn.training")[name](self, ...) end
end

-- ---- masks of Sequential and functional models ----
-- Their forward passes masks from layer to layer (see dnn.layer) and keeps
-- the output's mask(s) with the tensors they were for, so that
-- compute_mask, asked right after the call by the model holding this one,
-- needs no second run. The input is held weakly: a model keeps no batch alive.
function M.remember_masks(model, input, input_mask, masks)
  local last = rawget(model, "_last_masks")
  if not last then
    last = {input = setmetatable({}, {__mode = "v"})}
    rawset(model, "_last_masks", last)
  end
  last.input[1], last.input_mask, last.masks = input, input_mask, masks
end

-- The last call's masks when it was on these very tensors; else the model
-- runs again (no grad, in inference) for them.
function M.last_masks(model, input, input_mask)
  local last = rawget(model, "_last_masks")
  if not (last and last.input[1] == input and last.input_mask == input_mask) then
    M.probe(model, model.forward, model, input, input_mask and {mask = input_mask} or nil)
    last = rawget(model, "_last_masks")
  end
  return last
end

-- ---- Sequential ----
-- Made with Layer.extend, not Model:extend: its layers are a list, not fields.
local Sequential = Layer.extend(Model, "Sequential")
Sequential.step_wise = true -- when its layers are
M.Sequential = Sequential
Sequential.options = {}

function Sequential.new(layers, options)
  if layers ~= nil and (type(layers) ~= "table" or is_layer(layers) or getmetatable(layers) == layer.symbolic_mt) then
    error(string.format("Sequential: expected an array of layers, got %s", describe(layers)), 2)
  end
  local self = Layer.init(Sequential, options or layers or {}, "sequential")
  self.layers = {}
  for _, l in ipairs(layers or {}) do self:add(l) end
  return self
end
getmetatable(Sequential).__call = function(_, ...) return Sequential.new(...) end

-- Builds every layer once the input shape is known (from the first layer's
-- input_shape or an nn.Input), as Keras does, so parameters() and the
-- optimizer see all weights before the first batch: a probe on one example.
function Sequential:build_from_input_shape()
  local shape = self.input_shape
  if not shape then return end
  local layers = self.layers
  M.probe(self, function()
    local x = dnn.ones(1, table.unpack(shape))
    for _, l in ipairs(layers) do x = l(x) end
  end)
  self.built = true
end

function Sequential:add(l)
  if getmetatable(l) == layer.symbolic_mt and l.node and l.node.layer.type_name == "InputLayer" then
    if #self.layers > 0 then error("Sequential:add: an nn.Input can only come first", 2) end
    self.input_shape = {table.unpack(l.shape, 2)}
    return self
  end
  if not is_layer(l) then
    error(string.format("Sequential:add: expected a layer, got %s", type(l)), 2)
  end
  self.layers[#self.layers + 1] = l
  if #self.layers == 1 and l.input_shape and not self.input_shape then self.input_shape = l.input_shape end
  if self.input_shape then
    local ok, err = pcall(self.build_from_input_shape, self)
    if not ok then
      table.remove(self.layers)
      error("Sequential:add: " .. tostring(err), 2)
    end
  end
  return self
end

-- Removes the last layer (Keras's pop).
function Sequential:pop()
  if #self.layers == 0 then error("Sequential:pop: the model has no layers", 2) end
  return table.remove(self.layers)
end

-- Each layer gets the mask the layer before it made (opts.mask: the mask of the model's input).
function Sequential:forward(x, opts)
  if not self.built and not self.input_shape and dnn.is_tensor(x) then
    self.input_shape = {table.unpack(x.shape, 2)}
    self.built = true
  end
  local input, input_mask = x, opts and opts.mask or nil
  local mask = input_mask
  local layers, i = self.layers, 1
  while i <= #layers do
    local l = layers[i]
    -- a layer that runs the next ones with it at inference (Conv2D with BatchNormalization: layers/conv.lua)
    local y, used
    if not mask and l._fuse_following then y, used = l:_fuse_following(x, layers, i) end
    if y then
      x, i = y, i + used
    else
      if mask then y = l(x, {mask = mask}) else y = l(x) end
      mask = l:compute_mask(x, mask)
      x, i = y, i + 1
    end
  end
  M.remember_masks(self, input, input_mask, mask)
  return x
end
Sequential.supports_masking = true

function Sequential:compute_mask(inputs, mask)
  return M.last_masks(self, inputs, mask).masks
end

-- ---- Custom models: nn.Model:extend("MyModel") ----
-- local MyModel = nn.Model:extend("MyModel")
-- function MyModel:init(units) self.hidden = nn.Dense(units); self.out = nn.Dense(1) end
-- function MyModel:forward(x) return self.out(self.hidden(x)) end
-- local model = MyModel(32)   -- or MyModel(32, {name = "mine"})
-- Its layers are the fields holding layers (or arrays of layers), in the
-- order they were first assigned, as Keras tracks attributes.

local function snake_case(name)
  return (name:gsub("(%l)(%u)", "%1_%2"):gsub("(%u)(%u%l)", "%1_%2"):lower())
end

-- The layers in a custom model's fields: in assignment order, then any
-- others in sorted key order; arrays of layers in index order.
local function tracked_layers(self)
  local out, seen = {}, {}
  local function take(v)
    if seen[v] then return end
    if is_layer(v) then
      seen[v] = true
      out[#out + 1] = v
    elseif type(v) == "table" and getmetatable(v) == nil and not dnn.is_tensor(v) then
      seen[v] = true
      for _, item in ipairs(v) do take(item) end
    end
  end
  for _, key in ipairs(rawget(self, "_field_order") or {}) do take(rawget(self, key)) end
  local rest = {}
  for k, v in pairs(self) do
    if type(k) == "string" and k:sub(1, 1) ~= "_" and (is_layer(v) or type(v) == "table") then rest[#rest + 1] = k end
  end
  table.sort(rest)
  for _, k in ipairs(rest) do take(rawget(self, k)) end
  return out
end

-- Fields that are not layers: nothing to track, however they are tables.
local untracked = {weights = true, history = true, optimizer = true, input_shape = true, compiled = true}

function Model:extend(type_name)
  local registered = layer.registry[type_name]
  local cls = Layer.extend(self, type_name)
  layer.registry[type_name] = registered -- a user's model class registers itself only by nn.register
  local index = cls.__index -- Layer's: the trainable flag, then the class
  cls.__index = function(t, k)
    if k == "layers" then return tracked_layers(t) end
    return index(t, k)
  end
  cls.__newindex = function(t, k, v)
    if k == "trainable" then return layer.set_trainable(t, v) end
    rawset(t, k, v)
    if type(k) == "string" and type(v) == "table" and not untracked[k] and k:sub(1, 1) ~= "_" then
      local order = rawget(t, "_field_order")
      if not order then
        order = {}
        rawset(t, "_field_order", order)
      end
      order[#order + 1] = k
    end
  end
  getmetatable(cls).__call = function(c, ...)
    local n = select("#", ...)
    local last = n > 0 and select(n, ...) or nil
    local options = {}
    if type(last) == "table" and getmetatable(last) == nil and (last.name or last.trainable ~= nil) then
      options = last
    end
    local obj = Layer.init(c, options, snake_case(type_name))
    obj.built = true
    if c.init ~= Layer.init then obj:init(...) end
    return obj
  end
  return cls
end

-- nn.Model{inputs = ..., outputs = ...}: a functional model.
getmetatable(Model).__call = function(_, ...)
  return require("dnn.functional").Functional.new(...)
end


-- ---- reference ----

--- dnn.nn.Model{inputs = x, outputs = y[, name]}
-- A functional model: the graph from `nn.Input` tensors (`x`, one or an
-- array) to outputs (`y`) made by calling layers on them; also
-- `nn.Model(x, y[, {name}])`. A model is a layer (callable, nestable) with
-- compile/fit/evaluate/predict. A subclass-style model:
-- `local M = nn.Model:extend("M")` with `M.new` and `M:forward`; the layers it
-- keeps in fields are tracked.
-- @option inputs the `nn.Input` tensor or an array of them
-- @option outputs the output tensor or an array of them
-- @example local model = nn.Model{inputs = inputs, outputs = outputs}

--- dnn.nn.Model:compile(options)
-- Sets the optimizer, loss and metrics for fit and evaluate. Freezing
-- (`trainable = false`) takes effect here, as Keras.
-- @option optimizer="rmsprop" a name (`"adam"`), class or optimizer object
-- @option loss a name (`"sparse_categorical_crossentropy"`), function `(y_true, y_pred)` or object; one per output as an array or by output name
-- @option metrics=nil names or metric objects: `{"accuracy"}` (binary, categorical or sparse picked from the loss)
-- @option loss_weights=nil a weight per output
-- @option weighted_metrics=nil accepted for Keras compatibility
-- @option run_eagerly=nil accepted for Keras compatibility (always eager)
-- @option steps_per_execution=nil accepted for Keras compatibility
-- @option jit_compile=nil accepted for Keras compatibility
-- @example model:compile{optimizer = "adam", loss = "binary_crossentropy", metrics = {"accuracy"}}

--- dnn.nn.Model:fit(x, y[, options])
-- Trains for a number of epochs with the compiled optimizer and prints a
-- progress bar. `x`, `y`: tensors (or arrays for several inputs/outputs,
-- or nested Lua tables of numbers), or `fit(loader, options)` with a
-- `dnn.data.DataLoader`. Returns a History: `h.history.loss[epoch]`,
-- `h.history.val_accuracy`, ...
-- @option epochs=1 the number of epochs
-- @option batch_size=32 examples per step
-- @option validation_split=nil the fraction of the (unshuffled) end of the data kept for validation
-- @option validation_data=nil `{x_val, y_val}` or a DataLoader
-- @option validation_batch_size=batch_size examples per validation step
-- @option shuffle=true reshuffle the training examples each epoch
-- @option class_weight=nil `{[class_id] = weight}` for the loss
-- @option initial_epoch=0 the epoch to resume from (epochs counts from 0 as Keras)
-- @option callbacks=nil an array of callbacks (`dnn.callbacks`)
-- @option backup_dir=nil a folder for a backup at each epoch's end: the same fit run again after a kill continues from it (`dnn.callbacks.BackupAndRestore`)
-- @option verbose=1 0 silent, 1 a progress bar, 2 one line per epoch
-- @example local h = model:fit(x, y, {epochs = 10, batch_size = 32, validation_split = 0.2})

--- dnn.nn.Model:evaluate(x, y[, options])
-- The loss and metrics on data, in inference mode. Returns the loss (a
-- number) and a table of metrics by name (`metrics.accuracy`).
-- @option batch_size=32 examples per step
-- @option verbose=1 0 silent, 1 a progress bar
-- @option callbacks=nil callbacks (their test hooks run)
-- @option return_dict=false return only the table of metrics (with `loss`), as Keras's dict
-- @example local loss, metrics = model:evaluate(x_test, y_test)

--- dnn.nn.Model:predict(x[, options])
-- The outputs for all of `x`, batched, under no_grad in inference mode (several outputs: several results).
-- @option batch_size=32 examples per step
-- @option verbose=1 0 silent, 1 a progress bar
-- @option callbacks=nil callbacks (their predict hooks run)
-- @example local probs = model:predict(x_test)

--- dnn.nn.Model:generate(prompt_ids[, options])
-- Continues prompts with a causal language model (ids `(batch, T)` to
-- scores `(batch, T, vocabulary)`, step t seeing steps 1..t): each step
-- samples an id from the last step's scores (`dnn.text.sample`) until
-- `max_length`. Returns the ids `(batch, max_length)`, prompt included (a
-- Lua array for a prompt given as one). With the key/value cache (when every
-- layer is step-wise: see `Layer:is_step_wise`) the prompt runs once and each
-- new id runs the model on that id alone, O(T) per id; other models run the
-- whole sequence at each step (same ids, O(T^2) per id). Prompts of a batch
-- have one length (no padding).
-- @param prompt_ids a `(batch, T)` tensor of ids >= 1, or a Lua array of ids
-- @option max_length=nil the length to reach, prompt included (required)
-- @option temperature=1 divides the scores; 0 takes the most likely id
-- @option top_k=nil sample among the k most likely ids
-- @option seed=nil draw as `dnn.manual_seed(seed)` would, leaving the global stream as it was
-- @option from_logits=true false when the model ends in a softmax
-- @option use_cache=true false to run the whole sequence each step
-- @return the ids
-- @example local ids = lm:generate({5, 8, 2}, {max_length = 50, temperature = 0.8, top_k = 10})

--- dnn.nn.Model:summary([options])
-- Prints Keras's table: each layer's name and type, output shape and
-- parameter count; then total, trainable and non-trainable counts. With
-- `batch_size`, then an estimate of one training step's peak memory at that
-- batch size: weights, gradients, the compiled optimizer's state ("optimizer:
-- none compiled" before `compile`), the activations kept for backward and the
-- gradients in flight (within 25% of the measured peak RSS for the examples'
-- models; docs/CHOICES.md says how it is made).
-- @option print_fn=print a function that gets each line
-- @option show_trainable=false add a column saying whether each layer is trainable
-- @option batch_size=nil add the training-memory estimate for batches of this size
-- @example model:summary()
-- @example model:summary{batch_size = 64}

--- dnn.nn.Model:count_params()
-- The total, trainable and non-trainable parameter counts (three results),
-- as Keras's summary counts them (a layer used twice counts once).
-- @example local total, trainable = model:count_params()

--- dnn.nn.Model:train([on])
-- Sets training mode (default true) on the model and every layer in it; `model:eval()` is `train(false)`.
-- @example model:train()

--- dnn.nn.Model:get_layer(name)
-- The layer called `name`, nested models searched too; an error if none.
-- @example local conv = model:get_layer("conv2d_1")

--- dnn.nn.Model:save(path[, options])
-- The whole model in one safetensors file: architecture (JSON metadata),
-- weights and compile settings; `dnn.load_model(path)` reads it back.
-- @option include_optimizer=false also save the optimizer's state (needs a compiled model)
-- @example model:save("model.dnn")

--- dnn.nn.Model:save_weights(path[, options])
-- The weights in a safetensors file (names `layer/weight`).
-- @option include_optimizer=false also save the optimizer's state
-- @example model:save_weights("w.safetensors")

--- dnn.nn.Model:load_weights(path)
-- Reads weights saved by `save_weights` (or `save`) into this model, checking names and shapes.
-- @example model:load_weights("w.safetensors")

--- dnn.nn.Sequential([layers][, options])
-- A model that runs its layers one after another. Built at once when the
-- first layer has `input_shape` (or is an `nn.Input`).
-- @param layers an array of layers
-- @example local model = nn.Sequential{nn.Dense(4, {input_shape = {3}}), nn.Dense(1)}

--- dnn.nn.Sequential:add(layer)
-- Appends a layer (Keras's add).
-- @example model:add(nn.Dense(10, {activation = "softmax"}))

--- dnn.nn.Sequential:pop()
-- Removes the last layer and returns it.
-- @example local head = model:pop()

--- dnn.nn.Sequential:build_from_input_shape()
-- Builds every layer once the input shape is known (from the first layer's
-- `input_shape`); `add` calls it.
-- @example model:build_from_input_shape()

return M
