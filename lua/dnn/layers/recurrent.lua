-- dnn.layers.recurrent: SimpleRNN, LSTM and GRU, Keras's API over one C op
-- per layer call (core/src/rnn.c: the whole sequence and its backward
-- through time run in C, one autodiff node).
--
-- Input (batch, timesteps, features). Weights in Keras's layouts and order:
-- kernel (features, k*units), recurrent_kernel (units, k*units), bias
-- (k*units), k = 1, 4 (LSTM gates i, f, c, o), 3 (GRU gates z, r, h); a GRU
-- with reset_after (the default) has bias (2, 3*units), the input bias then
-- the recurrent one.
--
-- Results: the output (the last step's (batch, units), or every step's
-- (batch, timesteps, units) with return_sequences), then with return_state
-- the final states as more Lua values (h; LSTM h, c). A mask (batch,
-- timesteps) from the call's options (or the model) skips steps: a masked
-- step keeps the state and repeats the previous output (Keras).
--
--   local lstm = nn.LSTM(64, {return_sequences = true, return_state = true})
--   local seq, h, c = lstm(x, {initial_state = {h0, c0}})
local dnn = require "dnn"
local R = require("dnn.core")._rnn
local L = require("dnn.core")._layers
local layer = require "dnn.layer"
local initializers = require "dnn.initializers"
local regularizers = require "dnn.regularizers"
local describe = require("dnn.options").describe
local shape_text = require("dnn.layer").shape_text

local Layer, args_and_options = layer.Layer, layer.args_and_options
local M = {}

-- The options every recurrent layer takes; each class adds its own.
local shared_options = {"units", "activation", "use_bias", "kernel_initializer", "recurrent_initializer",
                        "bias_initializer", "kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
                        "activity_regularizer", "return_sequences", "return_state", "go_backwards", "stateful",
                        "dropout", "recurrent_dropout", "seed"}

local function with(list, ...)
  local out = {table.unpack(list)}
  for _, v in ipairs{...} do out[#out + 1] = v end
  return out
end

-- The activations the fused C kernels compute.
local kernel_activations = {linear = true, relu = true, sigmoid = true, tanh = true}

local function check_activation(what, option, name)
  if not kernel_activations[name] then
    error(string.format("%s: expected %s linear, relu, sigmoid or tanh (what the fused recurrent kernel computes), " ..
      "got %s", what, option, describe(name)), 4)
  end
  return name
end

local function check_rate(what, option, v)
  if type(v) ~= "number" or not (v >= 0 and v < 1) then
    error(string.format("%s: expected %s in [0, 1), got %s", what, option, describe(v)), 4)
  end
  return v
end

local function check_flag(what, option, v, default)
  if v == nil then return default end
  if type(v) ~= "boolean" then
    error(string.format("%s: expected %s = true or false, got %s", what, option, describe(v)), 4)
  end
  return v
end

-- The shared constructor: cls, its Keras name, the C cell and its gate count.
local function new_recurrent(cls, base_name, cell, gates, ...)
  local what = cls.type_name
  local args, options = args_and_options(...)
  local units = args[1] or options.units
  if math.type(units) ~= "integer" or units < 1 then
    error(string.format("%s: expected a positive integer number of units, got %s", what, describe(units)), 3)
  end
  local self = Layer.init(cls, options, base_name)
  self.units, self.cell, self.gates = units, cell, gates
  self.activation = check_activation(what, "activation", options.activation or "tanh")
  if cell ~= "simple" then
    self.recurrent_activation = check_activation(what, "recurrent_activation",
      options.recurrent_activation or "sigmoid")
  end
  self.use_bias = check_flag(what, "use_bias", options.use_bias, true)
  self.kernel_initializer = initializers.get(options.kernel_initializer or "glorot_uniform", what)
  self.recurrent_initializer = initializers.get(options.recurrent_initializer or "orthogonal", what)
  self.bias_initializer = initializers.get(options.bias_initializer or "zeros", what)
  self.kernel_regularizer = regularizers.get(options.kernel_regularizer)
  self.recurrent_regularizer = regularizers.get(options.recurrent_regularizer)
  self.bias_regularizer = regularizers.get(options.bias_regularizer)
  self.activity_regularizer = regularizers.get(options.activity_regularizer)
  self.return_sequences = check_flag(what, "return_sequences", options.return_sequences, false)
  self.return_state = check_flag(what, "return_state", options.return_state, false)
  self.go_backwards = check_flag(what, "go_backwards", options.go_backwards, false)
  self.stateful = check_flag(what, "stateful", options.stateful, false)
  self.dropout = check_rate(what, "dropout", options.dropout or 0)
  self.recurrent_dropout = check_rate(what, "recurrent_dropout", options.recurrent_dropout or 0)
  if options.seed ~= nil then
    if math.type(options.seed) ~= "integer" then
      error(string.format("%s: expected an integer seed, got %s", what, describe(options.seed)), 3)
    end
    self.generator = L.generator(options.seed)
  end
  return self, options
end

-- Methods the three classes share.
local Recurrent = {}

-- A recurrent layer uses the mask (masked steps keep the state).
Recurrent.supports_masking = true

function Recurrent:build(input_shape)
  if #input_shape ~= 3 then
    error(string.format("%s '%s': expected an input of (batch, timesteps, features), got %s", self.type_name,
      self.name, shape_text(input_shape)), 3)
  end
  local features, width = input_shape[3], self.gates * self.units
  local kernel = dnn.zeros(features, width)
  self.kernel_initializer(kernel, features, width)
  self:add_weight("kernel", kernel, {regularizer = self.kernel_regularizer})
  local recurrent = dnn.zeros(self.units, width)
  self.recurrent_initializer(recurrent, self.units, width)
  self:add_weight("recurrent_kernel", recurrent, {regularizer = self.recurrent_regularizer})
  if self.use_bias then
    local bias = self:_bias_shape()
    bias = dnn.zeros(table.unpack(bias))
    self.bias_initializer(bias, bias:numel(), bias:numel())
    if self.unit_forget_bias then -- Keras: the forget gate's bias starts at 1
      dnn.no_grad(function() bias:narrow(1, self.units + 1, self.units):fill(1) end)
    end
    self:add_weight("bias", bias, {regularizer = self.bias_regularizer})
  end
  self.built = true
end

function Recurrent:_bias_shape()
  return {self.gates * self.units}
end

-- The initial states as a list: the call's initial_state (a tensor, or a
-- list of them: LSTM {h, c}), else a stateful layer's states, else none
-- (zeros).
function Recurrent:_initial_states(x, opts)
  local given = opts and opts.initial_state
  local count = self.cell == "lstm" and 2 or 1
  if given ~= nil then
    if dnn.is_tensor(given) then given = {given} end
    if type(given) ~= "table" or #given ~= count then
      error(string.format("expected initial_state as %s, got %s", count == 2 and "a list {h, c}" or
        "a tensor or a list {h}", describe(given)), 0)
    end
    for i = 1, count do
      if not dnn.is_tensor(given[i]) then
        error(string.format("expected initial_state[%d] to be a tensor, got %s", i, describe(given[i])), 0)
      end
    end
    return given
  end
  local states = self.states
  if states and states[1].shape[1] ~= x.shape[1] then
    error(string.format("a stateful layer keeps states for a batch of %d, got a batch of %d (reset_states() to " ..
      "start over)", states[1].shape[1], x.shape[1]), 0)
  end
  return states or {}
end

-- Per-sample dropout masks fixed over the sequence (Keras): 0 or
-- 1 / (1 - rate), drawn from dnn's PRNG (or the layer's seed).
function Recurrent:_dropout_mask(rate, ...)
  return L.dropout(dnn.ones(...), rate, self.generator)
end

function Recurrent:forward(x, opts)
  if not dnn.is_tensor(x) or x.ndim ~= 3 then
    error("expected an input of (batch, timesteps, features), got " ..
      (dnn.is_tensor(x) and shape_text(x.shape) or describe(x)), 0)
  end
  local init = self:_initial_states(x, opts)
  local drop = nil
  if self.training and self.dropout > 0 then
    x = x * self:_dropout_mask(self.dropout, x.shape[1], 1, x.shape[3])
  end
  if self.training and self.recurrent_dropout > 0 then
    drop = self:_dropout_mask(self.recurrent_dropout, x.shape[1], self.units)
  end
  local out, h, c = R.rnn(x, self.kernel, self.recurrent_kernel, self.bias, init[1], init[2], opts and opts.mask,
    drop, {cell = self.cell, activation = self.activation, recurrent_activation = self.recurrent_activation,
           reset_after = self.reset_after, go_backwards = self.go_backwards,
           return_sequences = self.return_sequences})
  if self.stateful then self.states = {h:detach(), c and c:detach()} end
  if not self.return_state then return out end
  if c then return out, h, c end
  return out, h
end

-- A stateful layer starts again from zeros (or from the given states).
--- dnn.nn.SimpleRNN:reset_states([states])
-- A stateful layer starts again from zeros, or from `states`. LSTM and GRU have it too.
-- @alias dnn.nn.LSTM:reset_states, dnn.nn.GRU:reset_states
-- @example rnn:reset_states()
function Recurrent:reset_states(states)
  if states ~= nil and dnn.is_tensor(states) then states = {states} end
  self.states = states
end

-- The mask goes on with the sequence; a layer that returns the last step
-- consumes it. As Keras, it is not reversed by go_backwards.
function Recurrent:compute_mask(_, mask)
  if self.return_sequences then return mask end
  return nil
end

function Recurrent:compute_output_shape(input_shape)
  local batch, out = input_shape[1], nil
  if self.return_sequences then out = {batch, input_shape[2], self.units} else out = {batch, self.units} end
  if not self.return_state then return out end
  if self.cell == "lstm" then return out, {batch, self.units}, {batch, self.units} end
  return out, {batch, self.units}
end

local function recurrent_class(name)
  local cls = Layer:extend(name)
  for k, v in pairs(Recurrent) do cls[k] = v end
  return cls
end

-- ---- SimpleRNN: h = activation(x W + h U + b) ----
--- dnn.nn.SimpleRNN(units[, options])
-- `h = activation(x W + h U + b)` over `(batch, timesteps, features)`.
-- Weights: kernel `(features, units)`, recurrent_kernel `(units, units)`,
-- bias. Returns the last output `(batch, units)` (every step's with
-- `return_sequences`), then the final state with `return_state`. A call
-- takes `{initial_state = h0}` and a mask (masked steps keep the state).
-- @param units the state size
-- @option activation="tanh" the activation (`"tanh"`, `"relu"`, `"sigmoid"`, `"linear"`)
-- @option use_bias=true whether to add a bias
-- @option kernel_initializer="glorot_uniform" an initializer
-- @option recurrent_initializer="orthogonal" an initializer
-- @option bias_initializer="zeros" an initializer
-- @option kernel_regularizer=nil a regularizer
-- @option recurrent_regularizer=nil a regularizer
-- @option bias_regularizer=nil a regularizer
-- @option activity_regularizer=nil a regularizer of the output
-- @option return_sequences=false return every step's output
-- @option return_state=false also return the final state(s)
-- @option go_backwards=false read the sequence backwards
-- @option stateful=false keep the final states as the next call's initial ones
-- @option dropout=0 dropout of the inputs (one mask per sequence)
-- @option recurrent_dropout=0 dropout of the state
-- @option seed=nil an integer: the layer's dropout masks from a generator of its own
-- @example local rnn = nn.SimpleRNN(32, {return_sequences = true})
local SimpleRNN = recurrent_class("SimpleRNN")
M.SimpleRNN = SimpleRNN
SimpleRNN.options = shared_options

function SimpleRNN.new(...)
  local self, options = new_recurrent(SimpleRNN, "simple_rnn", "simple", 1, ...)
  if options.input_shape then self:build({-1, table.unpack(options.input_shape)}) end
  return self
end
getmetatable(SimpleRNN).__call = function(_, ...) return SimpleRNN.new(...) end

-- ---- LSTM: gates i, f, c, o ----
--- dnn.nn.LSTM(units[, options])
-- A long short-term memory layer, gates i, f, c, o (Keras's order):
-- kernel `(features, 4*units)`, recurrent_kernel `(units, 4*units)`, bias
-- `(4*units)`. Results as SimpleRNN's, the states h then c. Options as
-- SimpleRNN's, plus:
-- @param units the state size
-- @option recurrent_activation="sigmoid" the gates' activation
-- @option unit_forget_bias=true start the forget gate's bias at 1
-- @option activation="tanh" the activation
-- @option use_bias=true whether to add a bias
-- @option kernel_initializer="glorot_uniform" an initializer
-- @option recurrent_initializer="orthogonal" an initializer
-- @option bias_initializer="zeros" an initializer
-- @option kernel_regularizer=nil a regularizer
-- @option recurrent_regularizer=nil a regularizer
-- @option bias_regularizer=nil a regularizer
-- @option activity_regularizer=nil a regularizer of the output
-- @option return_sequences=false return every step's output
-- @option return_state=false also return the final h and c
-- @option go_backwards=false read the sequence backwards
-- @option stateful=false keep the final states for the next call
-- @option dropout=0 dropout of the inputs
-- @option recurrent_dropout=0 dropout of the state
-- @option seed=nil the layer's own dropout generator
-- @example local seq, h, c = nn.LSTM(64, {return_sequences = true, return_state = true})(x)
local LSTM = recurrent_class("LSTM")
M.LSTM = LSTM
LSTM.options = with(shared_options, "recurrent_activation", "unit_forget_bias")

function LSTM.new(...)
  local self, options = new_recurrent(LSTM, "lstm", "lstm", 4, ...)
  self.unit_forget_bias = check_flag("LSTM", "unit_forget_bias", options.unit_forget_bias, true)
  if options.input_shape then self:build({-1, table.unpack(options.input_shape)}) end
  return self
end
getmetatable(LSTM).__call = function(_, ...) return LSTM.new(...) end

-- ---- GRU: gates z, r, h; reset_after (default) as Keras 2.x+ and PyTorch ----
--- dnn.nn.GRU(units[, options])
-- A gated recurrent unit, gates z, r, h: kernel `(features, 3*units)`,
-- recurrent_kernel `(units, 3*units)`, bias `(2, 3*units)` with
-- `reset_after` (the default, as Keras and PyTorch). Options as SimpleRNN's, plus:
-- @param units the state size
-- @option recurrent_activation="sigmoid" the gates' activation
-- @option reset_after=true apply the reset gate after the recurrent product
-- @option activation="tanh" the activation
-- @option use_bias=true whether to add a bias
-- @option kernel_initializer="glorot_uniform" an initializer
-- @option recurrent_initializer="orthogonal" an initializer
-- @option bias_initializer="zeros" an initializer
-- @option kernel_regularizer=nil a regularizer
-- @option recurrent_regularizer=nil a regularizer
-- @option bias_regularizer=nil a regularizer
-- @option activity_regularizer=nil a regularizer of the output
-- @option return_sequences=false return every step's output
-- @option return_state=false also return the final state
-- @option go_backwards=false read the sequence backwards
-- @option stateful=false keep the final state for the next call
-- @option dropout=0 dropout of the inputs
-- @option recurrent_dropout=0 dropout of the state
-- @option seed=nil the layer's own dropout generator
-- @example local gru = nn.GRU(32)
local GRU = recurrent_class("GRU")
M.GRU = GRU
GRU.options = with(shared_options, "recurrent_activation", "reset_after")

function GRU.new(...)
  local self, options = new_recurrent(GRU, "gru", "gru", 3, ...)
  self.reset_after = check_flag("GRU", "reset_after", options.reset_after, true)
  if options.input_shape then self:build({-1, table.unpack(options.input_shape)}) end
  return self
end
getmetatable(GRU).__call = function(_, ...) return GRU.new(...) end

function GRU:_bias_shape()
  if self.reset_after then return {2, 3 * self.units} end
  return {3 * self.units}
end

return M
