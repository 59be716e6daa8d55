-- dnn.layers.bidirectional: Bidirectional(layer), Keras's wrapper that runs
-- a recurrent layer (SimpleRNN, LSTM, GRU) over the sequence twice, forwards
-- and backwards, and merges the two outputs. Composition over the C
-- recurrent op: two calls of it, no per-step Lua work.
--
-- As Keras: both directions are new layers made from the wrapped layer's
-- configuration, named forward_<name> and backward_<name>, the backward one
-- with go_backwards flipped (or the given backward_layer, used as it is).
-- With return_sequences the backward output is reversed in time again, so
-- that step t of both outputs saw input step t last. merge_mode "concat"
-- (the default: features forward then backward), "sum", "mul", "ave", or
-- "none" (false too; Keras's None, which Lua's nil cannot say) for the two
-- outputs as two Lua values. With return_state the forward layer's states
-- follow the output(s), then the backward layer's; initial_state takes them
-- in that order too. Weights: the forward layer's, then the backward one's,
-- named "bidirectional/forward_lstm/kernel".
--
--   local bi = nn.Bidirectional(nn.LSTM(64, {return_sequences = true}))
--   local y = bi(x)                          -- (batch, steps, 128)
--   local yf, yb, hf, cf, hb, cb = nn.Bidirectional(nn.LSTM(8, {return_state = true}), {merge_mode = "none"})(x)
local dnn = require "dnn"
local layer = require "dnn.layer"
local options_lib = require "dnn.options"
local recurrent = require "dnn.layers.recurrent"

local Layer, args_and_options = layer.Layer, layer.args_and_options
local shape_text = layer.shape_text
local describe, raise = options_lib.describe, options_lib.raise
local M = {}

--- dnn.nn.Bidirectional(layer[, options])
-- Runs a recurrent layer (`SimpleRNN`, `LSTM`, `GRU`) over the sequence
-- forwards and backwards and merges the two outputs. Both directions are
-- new layers made from `layer`'s configuration (`forward_<name>`,
-- `backward_<name>` with `go_backwards` flipped). With `return_sequences`
-- the backward output is put back in time order; with `return_state` the
-- forward layer's states follow the output(s), then the backward layer's
-- (`initial_state` takes them in that order too).
-- @param layer a SimpleRNN, LSTM or GRU (or the option)
-- @option merge_mode="concat" `"concat"`, `"sum"`, `"mul"`, `"ave"`, or `"none"`/`false` for the two outputs apart
-- @option backward_layer=nil the backward layer, used as it is
-- @example local bi = nn.Bidirectional(nn.LSTM(64, {return_sequences = true}))
local Bidirectional = Layer:extend("Bidirectional")
M.Bidirectional = Bidirectional
Bidirectional.options = {"layer", "merge_mode", "backward_layer"}
Bidirectional.supports_masking = true

local merge_modes = {"concat", "sum", "mul", "ave", "none"}

local function is_recurrent(l)
  local cls = getmetatable(l)
  return cls == recurrent.SimpleRNN or cls == recurrent.LSTM or cls == recurrent.GRU
end

local function check_recurrent(what, l)
  if not is_recurrent(l) then
    raise(string.format("Bidirectional: expected %s, got %s", what, describe(l)))
  end
end

-- The number of states a recurrent layer returns and takes: LSTM's h and c, else h.
local function state_count(l)
  return l.cell == "lstm" and 2 or 1
end

-- A new layer of l's class from l's configuration (Keras's way of making
-- both directions): named name, reading the sequence backwards or not.
local function copy_of(l, name, go_backwards)
  local config = l:get_config()
  local options = {}
  for k, v in pairs(config.options or {}) do options[k] = v end
  options.name, options.go_backwards = name, go_backwards
  local args = {table.unpack(config.args or {})}
  args[#args + 1] = options
  return getmetatable(l)(table.unpack(args))
end

local function check_merge_mode(v)
  if v == nil then return "concat" end
  if v == false then return "none" end
  for _, m in ipairs(merge_modes) do
    if v == m then return m end
  end
  raise("Bidirectional: " .. options_lib.unknown_name("merge_mode", v, merge_modes, "false for no merge"))
end

-- Keras's checks on a given backward layer: the other direction, the same results.
local function check_pair(fwd, bwd, merge_mode)
  if bwd.go_backwards == fwd.go_backwards then
    raise(string.format("Bidirectional: expected backward_layer to read the other way than layer (go_backwards " ..
      "%s), got go_backwards %s", tostring(not fwd.go_backwards), tostring(bwd.go_backwards)))
  end
  for _, k in ipairs{"return_sequences", "return_state", "stateful"} do
    if bwd[k] ~= fwd[k] then
      raise(string.format("Bidirectional: expected backward_layer to have the same %s as layer (%s), got %s", k,
        tostring(fwd[k]), tostring(bwd[k])))
    end
  end
  if merge_mode ~= "concat" and merge_mode ~= "none" and bwd.units ~= fwd.units then
    raise(string.format("Bidirectional: merge_mode \"%s\" needs both directions of the same units, got %d and %d",
      merge_mode, fwd.units, bwd.units))
  end
end

-- trainable on the wrapper sets it on both directions (their weights are the wrapper's).
Bidirectional.__newindex = layer.composed_newindex(function(self)
  local list = {}
  for _, key in ipairs{"forward_layer", "backward_layer"} do list[#list + 1] = rawget(self, key) end
  return list
end)

-- Bidirectional(layer[, options]) or Bidirectional{layer = layer, ...}.
function Bidirectional.new(...)
  local first, second = ...
  local inner, options
  if layer.is_layer(first) or select("#", ...) > 1 or type(first) ~= "table" then
    inner, options = first, second or {}
    if type(options) ~= "table" or getmetatable(options) ~= nil then
      raise(string.format("Bidirectional: expected an options table after the layer, got %s", describe(options)))
    end
  else
    local args
    args, options = args_and_options(...)
    inner = args[1] or options.layer
  end
  check_recurrent("a SimpleRNN, LSTM or GRU layer to wrap", inner)
  local merge_mode = check_merge_mode(options.merge_mode)
  local backward = options.backward_layer
  if backward ~= nil then check_recurrent("backward_layer a SimpleRNN, LSTM or GRU layer", backward) end

  local self = Layer.init(Bidirectional, options, "bidirectional")
  rawset(self, "_options", {merge_mode = options.merge_mode, backward_layer = backward,
                            input_shape = options.input_shape})
  self.layer, self.merge_mode = inner, merge_mode
  self.forward_layer = copy_of(inner, "forward_" .. inner.name, inner.go_backwards)
  self.backward_layer = backward or copy_of(inner, "backward_" .. inner.name, not inner.go_backwards)
  check_pair(self.forward_layer, self.backward_layer, merge_mode)
  self.return_sequences, self.return_state = inner.return_sequences, inner.return_state
  self.trainable = self.trainable and inner.trainable ~= false
  self.input_shape = self.input_shape or inner.input_shape
  if self.input_shape then self:build({-1, table.unpack(self.input_shape)}) end
  return self
end
getmetatable(Bidirectional).__call = function(_, ...) return Bidirectional.new(...) end

-- The wrapper's weights are the two layers' tensors, forward then backward,
-- each named after its layer.
function Bidirectional:_gather_weights()
  local list = {}
  for _, l in ipairs{self.forward_layer, self.backward_layer} do
    for _, w in ipairs(l.weights) do
      list[#list + 1] = {name = l.name .. "/" .. w.name, tensor = w.tensor, trainable = w.trainable,
                         regularizer = w.regularizer}
    end
  end
  self.weights = list
end

function Bidirectional:build(input_shape)
  if #input_shape ~= 3 then
    error(string.format("%s: expected an input of (batch, timesteps, features), got %s", layer.context(self),
      shape_text(input_shape)), 0)
  end
  for _, l in ipairs{self.forward_layer, self.backward_layer} do
    if not l.built then l:build(input_shape) end
  end
  self:_gather_weights()
  self.built = true
end

-- The call's initial_state, forward states then backward ones, split in two lists.
function Bidirectional:_split_states(given)
  if given == nil then return nil, nil end
  local nf, nb = state_count(self.forward_layer), state_count(self.backward_layer)
  if type(given) ~= "table" or getmetatable(given) ~= nil or #given ~= nf + nb then
    error(string.format("expected initial_state as a list of %d tensors (the forward layer's %s, then the " ..
      "backward layer's %s), got %s", nf + nb, nf == 2 and "h, c" or "h", nb == 2 and "h, c" or "h",
      describe(given)), 0)
  end
  return {table.unpack(given, 1, nf)}, {table.unpack(given, nf + 1, nf + nb)}
end

-- y with its steps (dim 2) in reverse order: a recorded gather, so gradients flow.
local function reverse_steps(y)
  return y:index_select(2, dnn.arange(y.shape[2], 0, -1))
end

local function merge(mode, a, b)
  if mode == "concat" then return dnn.cat({a, b}, a.ndim) end
  if mode == "sum" then return a + b end
  if mode == "mul" then return a * b end
  return (a + b) * 0.5 -- ave
end

function Bidirectional:forward(x, opts)
  if not dnn.is_tensor(x) or x.ndim ~= 3 then
    error("expected an input of (batch, timesteps, features), got " ..
      (dnn.is_tensor(x) and shape_text(x.shape) or describe(x)), 0)
  end
  local mask = opts and opts.mask
  local fstates, bstates = self:_split_states(opts and opts.initial_state)
  local training = self.training
  local f = table.pack(self.forward_layer(x, {mask = mask, initial_state = fstates, training = training}))
  local b = table.pack(self.backward_layer(x, {mask = mask, initial_state = bstates, training = training}))
  local yf, yb = f[1], b[1]
  if self.return_sequences then yb = reverse_steps(yb) end
  local results
  if self.merge_mode == "none" then results = {yf, yb} else results = {merge(self.merge_mode, yf, yb)} end
  for i = 2, f.n do results[#results + 1] = f[i] end
  for i = 2, b.n do results[#results + 1] = b[i] end
  return table.unpack(results)
end

-- A stateful wrapper starts again from zeros (or from the given states, forward then backward).
--- dnn.nn.Bidirectional:reset_states([states])
-- Resets both stateful directions to zeros, or to `states` (the forward
-- layer's, then the backward layer's).
-- @example bi:reset_states()
function Bidirectional:reset_states(states)
  if states ~= nil and dnn.is_tensor(states) then states = {states} end
  local ok, fstates, bstates = pcall(self._split_states, self, states)
  if not ok then error(string.format("%s: reset_states: %s", layer.context(self), fstates), 2) end
  self.forward_layer:reset_states(fstates)
  self.backward_layer:reset_states(bstates)
end

-- The input's mask goes on with the output sequence(s), as the wrapped
-- layer's; the states and a last-step output carry none.
function Bidirectional:compute_mask(_, mask)
  local out = self.return_sequences and mask or nil
  if self.merge_mode == "none" then return out, out end
  return out
end

function Bidirectional:compute_output_shape(input_shape)
  local f = table.pack(self.forward_layer:compute_output_shape(input_shape))
  local b = table.pack(self.backward_layer:compute_output_shape(input_shape))
  local results
  if self.merge_mode == "none" then
    results = {f[1], b[1]}
  elseif self.merge_mode == "concat" then
    local out = {table.unpack(f[1])}
    out[#out] = f[1][#f[1]] + b[1][#b[1]]
    results = {out}
  else
    results = {f[1]}
  end
  for i = 2, f.n do results[#results + 1] = f[i] end
  for i = 2, b.n do results[#results + 1] = b[i] end
  return table.unpack(results)
end

Bidirectional.get_config = layer.wrapper_config

function Bidirectional:train(on)
  Layer.train(self, on)
  self.forward_layer:train(on)
  self.backward_layer:train(on)
  return self
end

function Bidirectional:regularization_loss()
  return layer.wrapper_regularization_loss(self, {self.forward_layer, self.backward_layer})
end

return M
