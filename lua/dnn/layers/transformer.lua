-- dnn.layers.transformer: KerasNLP's transformer layers, composed in Lua over
-- MultiHeadAttention (the fused attention kernel), LayerNormalization, Dense
-- and Dropout; no arithmetic of their own.
--
--   SinePositionEncoding()      the fixed sine/cosine encoding (batch, T, d) of an input, to add to it
--   PositionEmbedding{T}        a learned (T, d) table, broadcast over the batch
--   TokenAndPositionEmbedding   Embedding + PositionEmbedding, masks passed on
--   TransformerEncoder{...}     self-attention and feed-forward blocks, each with a residual and a LayerNorm
--   TransformerDecoder{...}     causal self-attention, optional cross-attention, feed-forward
--
-- The blocks keep KerasNLP's structure, sublayer names and weight order
-- ("transformer_encoder/self_attention_layer/query_kernel", ...): post-norm
-- (x = norm(x + f(x))) by default, pre-norm (x = x + f(norm(x))) with
-- normalize_first. Each head has d / num_heads features. A padding mask
-- (batch, T) hides keys only, as KerasNLP's merge_padding_and_attention_mask
-- and PyTorch's key_padding_mask: a padded step still gets an output (which
-- the next layers ignore), and no other step sees it.
--
--   local x = nn.TokenAndPositionEmbedding{vocabulary_size = 5000, sequence_length = 128, embedding_dim = 64,
--                                          mask_zero = true}(ids)
--   local enc = nn.TransformerEncoder{intermediate_dim = 256, num_heads = 4}
--   local y = enc(x, {padding_mask = ids:ne(0)})     -- masks from Embedding{mask_zero} arrive by themselves in models
--   local dec = nn.TransformerDecoder{intermediate_dim = 256, num_heads = 4}
--   local z = dec(targets, y)                         -- or dec(targets) for a decoder-only (GPT-style) model
local dnn = require "dnn"
local layer = require "dnn.layer"
local options_lib = require "dnn.options"
local initializers = require "dnn.initializers"
local activations = require "dnn.activations"
local core = require "dnn.layers.core"
local normalization = require "dnn.layers.normalization"
local sequence = require "dnn.layers.sequence"
local attention = require "dnn.layers.attention"
local L = require("dnn.core")._layers

local Layer, args_and_options = layer.Layer, layer.args_and_options
local shape_text = layer.shape_text
local describe, raise = options_lib.describe, options_lib.raise
local M = {}

-- ---- shared checks ----

-- The number of steps before these while model:generate decodes one step at
-- a time (layer.decoding: each position layer counts the steps it has seen),
-- else 0.
local function steps_before(self, steps)
  local decoding = layer.decoding
  if not decoding then return 0 end
  local seen = decoding.caches[self] or 0
  decoding.caches[self] = seen + steps
  return seen
end

local function positive_integer(who, what, v)
  if math.type(v) ~= "integer" or v < 1 then
    raise(string.format("%s: expected %s a positive integer, got %s", who, what, describe(v)))
  end
  return v
end

local function boolean_option(who, what, v, default)
  if v == nil then return default end
  if type(v) ~= "boolean" then raise(string.format("%s: expected %s true or false, got %s", who, what, describe(v))) end
  return v
end

-- An error from build or compute_output_shape (outside Layer:call's wrapping): names the layer.
local function fail(self, fmt, ...)
  error(layer.context(self) .. ": " .. string.format(fmt, ...), 0)
end

-- A sequence (batch, T, features) as the forward receives it; what names it in the message.
local function check_sequence(x, what)
  if not dnn.is_tensor(x) or x.ndim ~= 3 then
    error(string.format("expected %s as (batch, timesteps, features), got %s", what,
      dnn.is_tensor(x) and shape_text(x.shape) or describe(x)), 0)
  end
end

-- A 0/1 mask of exactly shape, or nil; what names it in the message.
local function check_mask(m, what, shape)
  if m == nil or m == false then return nil end
  if not dnn.is_tensor(m) then error(string.format("expected %s to be a tensor, got %s", what, describe(m)), 0) end
  local ok = m.ndim == #shape
  for i = 1, #shape do ok = ok and m.shape[i] == shape[i] end
  if not ok then error(string.format("expected %s of shape %s, got %s", what, shape_text(shape), shape_text(m.shape)), 0) end
  return m
end

-- ---- SinePositionEncoding ----

--- dnn.nn.SinePositionEncoding([options])
-- KerasNLP's fixed sinusoidal position encoding (Vaswani et al.): for an
-- input `(batch, T, d)` it returns the encoding `(batch, T, d)` (the same
-- for every example; add it to the input yourself). Position p (counted from
-- 0) and feature i get `sin(p / max_wavelength^(2 floor(i/2) / d))` for even
-- i (0-based) and `cos(...)` for odd i. No weights; no gradient flows to the input.
-- @option max_wavelength=10000 the longest wavelength
-- @example local y = x + nn.SinePositionEncoding()(x)
local SinePositionEncoding = Layer:extend("SinePositionEncoding")
SinePositionEncoding.step_wise = true -- positions count on while decoding (model:generate)
M.SinePositionEncoding = SinePositionEncoding
SinePositionEncoding.options = {"max_wavelength"}
SinePositionEncoding.supports_masking = true

function SinePositionEncoding.new(...)
  local _, options = args_and_options(...)
  local wavelength = options.max_wavelength
  if wavelength == nil then wavelength = 10000 end
  if type(wavelength) ~= "number" or not (wavelength > 0) then
    raise("SinePositionEncoding: expected max_wavelength a number > 0, got " .. describe(options.max_wavelength))
  end
  local self = Layer.init(SinePositionEncoding, options, "sine_position_encoding")
  self.max_wavelength = wavelength
  return self
end
getmetatable(SinePositionEncoding).__call = function(_, ...) return SinePositionEncoding.new(...) end

-- The (T, d) table, made once per (T, d) and kept.
function SinePositionEncoding:_table(steps, dim)
  local cached = rawget(self, "_cached")
  if cached and cached.steps == steps and cached.dim == dim then return cached.values end
  local values = {}
  for p = 0, steps - 1 do
    for i = 0, dim - 1 do
      local angle = p * self.max_wavelength ^ (-2 * (i // 2) / dim)
      values[#values + 1] = i % 2 == 0 and math.sin(angle) or math.cos(angle)
    end
  end
  local t = dnn.tensor(values):view(steps, dim)
  rawset(self, "_cached", {steps = steps, dim = dim, values = t})
  return t
end

function SinePositionEncoding:forward(x)
  check_sequence(x, "an input")
  local b, steps, dim = table.unpack(x.shape)
  local before = steps_before(self, steps)
  return self:_table(before + steps, dim):narrow(1, before + 1, steps):expand(b, steps, dim)
end

function SinePositionEncoding:compute_output_shape(input_shape)
  return {table.unpack(input_shape)}
end

-- ---- PositionEmbedding ----

--- dnn.nn.PositionEmbedding(sequence_length[, options])
-- KerasNLP's learned position embedding: a weight `embeddings`
-- `(sequence_length, d)` (d the input's features); for an input
-- `(batch, T, d)`, `T <= sequence_length`, it returns its first T rows
-- broadcast to `(batch, T, d)`, to add to the input.
-- @param sequence_length the longest sequence (or the option)
-- @option initializer="glorot_uniform" the table's initializer
-- @example local y = x + nn.PositionEmbedding{sequence_length = 128}(x)
local PositionEmbedding = Layer:extend("PositionEmbedding")
PositionEmbedding.step_wise = true -- positions count on while decoding (model:generate)
M.PositionEmbedding = PositionEmbedding
PositionEmbedding.options = {"sequence_length", "initializer"}
PositionEmbedding.supports_masking = true

function PositionEmbedding.new(...)
  local args, options = args_and_options(...)
  local who = "PositionEmbedding"
  local self = Layer.init(PositionEmbedding, options, "position_embedding")
  self.sequence_length = positive_integer(who, "sequence_length", args[1] or options.sequence_length)
  self.initializer = initializers.get(options.initializer or "glorot_uniform", who)
  if self.input_shape then self:build({-1, table.unpack(self.input_shape)}) end
  return self
end
getmetatable(PositionEmbedding).__call = function(_, ...) return PositionEmbedding.new(...) end

function PositionEmbedding:build(input_shape)
  if #input_shape ~= 3 then
    fail(self, "expected an input of (batch, timesteps, features), got %s", shape_text(input_shape))
  end
  local dim = input_shape[3]
  local t = dnn.zeros(self.sequence_length, dim)
  self.initializer(t, self.sequence_length, dim)
  self:add_weight("embeddings", t)
  self.built = true
end

function PositionEmbedding:forward(x)
  check_sequence(x, "an input")
  local b, steps, dim = table.unpack(x.shape)
  local table_ = self.embeddings
  if dim ~= table_.shape[2] then
    error(string.format("expected %d features (as when built), got %s", table_.shape[2], shape_text(x.shape)), 0)
  end
  local before = steps_before(self, steps)
  if before + steps > self.sequence_length then
    error(string.format("expected at most sequence_length = %d steps, got %s%s", self.sequence_length,
      shape_text(x.shape), before > 0 and string.format(" after %d steps while generating", before) or ""), 0)
  end
  return table_:narrow(1, before + 1, steps):expand(b, steps, dim)
end

function PositionEmbedding:compute_output_shape(input_shape)
  return {table.unpack(input_shape)}
end

-- ---- TokenAndPositionEmbedding ----

--- dnn.nn.TokenAndPositionEmbedding(vocabulary_size, sequence_length, embedding_dim[, options])
-- KerasNLP's token embedding plus a learned position embedding: ids
-- `(batch, T)`, `T <= sequence_length`, give `(batch, T, embedding_dim)`.
-- Ids are 1..vocabulary_size as in `nn.Embedding`; with `mask_zero`, id 0
-- is padding (a zero token row) and the mask (ids ~= 0) goes on to the next
-- layers. Weights: `token_embedding/embeddings (vocabulary_size,
-- embedding_dim)`, then `position_embedding/embeddings (sequence_length,
-- embedding_dim)`.
-- @param vocabulary_size the number of ids (or the option)
-- @param sequence_length the longest sequence (or the option)
-- @param embedding_dim the embedding size (or the option)
-- @option embeddings_initializer="uniform" the initializer of both tables ([-0.05, 0.05])
-- @option mask_zero=false id 0 is padding and masked
-- @example local emb = nn.TokenAndPositionEmbedding{vocabulary_size = 5000, sequence_length = 128, embedding_dim = 64}
local TokenAndPositionEmbedding = Layer:extend("TokenAndPositionEmbedding")
TokenAndPositionEmbedding.step_wise = true -- its position embedding counts on while decoding (model:generate)
M.TokenAndPositionEmbedding = TokenAndPositionEmbedding
TokenAndPositionEmbedding.options = {"vocabulary_size", "sequence_length", "embedding_dim", "embeddings_initializer",
                                     "mask_zero"}
TokenAndPositionEmbedding.supports_masking = true

-- The weights of sublayers, each named after its sublayer ("self_attention_layer/query_kernel"), as the layer's own.
local function gather_weights(self, sublayers)
  local list = {}
  for _, l in ipairs(sublayers) do
    for _, w in ipairs(l.weights) do
      list[#list + 1] = {name = l.name .. "/" .. w.name, tensor = w.tensor, trainable = w.trainable,
                         regularizer = w.regularizer}
    end
  end
  self.weights = list
  rawset(self, "_sublayers", sublayers)
end

-- trainable on a composed layer reaches its sublayers (their weights are its own).
local set_composed_field = layer.composed_newindex(function(self) return rawget(self, "_sublayers") or {} end)
TokenAndPositionEmbedding.__newindex = set_composed_field

function TokenAndPositionEmbedding.new(...)
  local args, options = args_and_options(...)
  local who = "TokenAndPositionEmbedding"
  local vocabulary_size = positive_integer(who, "vocabulary_size", args[1] or options.vocabulary_size)
  local sequence_length = positive_integer(who, "sequence_length", args[2] or options.sequence_length)
  local embedding_dim = positive_integer(who, "embedding_dim", args[3] or options.embedding_dim)
  local mask_zero = boolean_option(who, "mask_zero", options.mask_zero, false)
  local init = options.embeddings_initializer or "uniform"
  initializers.get(init, who) -- checked here, so the error names this layer
  local self = Layer.init(TokenAndPositionEmbedding, options, "token_and_position_embedding")
  self.vocabulary_size, self.sequence_length, self.embedding_dim = vocabulary_size, sequence_length, embedding_dim
  self.mask_zero = mask_zero
  local trainable = self.trainable
  self.token_embedding = sequence.Embedding(vocabulary_size, embedding_dim, {mask_zero = mask_zero,
    embeddings_initializer = init, name = "token_embedding", trainable = trainable})
  self.position_embedding = PositionEmbedding{sequence_length = sequence_length, initializer = init,
    name = "position_embedding", trainable = trainable, input_shape = {sequence_length, embedding_dim}}
  gather_weights(self, {self.token_embedding, self.position_embedding})
  self.built = true
  return self
end
getmetatable(TokenAndPositionEmbedding).__call = function(_, ...) return TokenAndPositionEmbedding.new(...) end

function TokenAndPositionEmbedding:forward(ids)
  if ids.ndim ~= 2 then error("expected ids as (batch, timesteps), got " .. shape_text(ids.shape), 0) end
  if ids.shape[2] > self.sequence_length then
    error(string.format("expected at most sequence_length = %d steps, got ids %s", self.sequence_length,
      shape_text(ids.shape)), 0)
  end
  local tokens = self.token_embedding(ids)
  return tokens + self.position_embedding(tokens)
end

function TokenAndPositionEmbedding:compute_mask(ids)
  return self.token_embedding:compute_mask(ids)
end

function TokenAndPositionEmbedding:compute_output_shape(input_shape)
  return {input_shape[1], input_shape[2], self.embedding_dim}
end

-- ---- the transformer blocks ----

-- The options both blocks take, checked once for either.
local block_options = {"intermediate_dim", "num_heads", "dropout", "activation", "layer_norm_epsilon",
                       "normalize_first", "kernel_initializer", "bias_initializer"}

local function init_block(cls, who, base_name, ...)
  local args, options = args_and_options(...)
  local intermediate_dim = positive_integer(who, "intermediate_dim", args[1] or options.intermediate_dim)
  local num_heads = positive_integer(who, "num_heads", args[2] or options.num_heads)
  local dropout = options.dropout or 0
  if type(dropout) ~= "number" or not (dropout >= 0 and dropout < 1) then
    raise(string.format("%s: expected dropout in [0, 1), got %s", who, describe(options.dropout)))
  end
  local activation = options.activation or "relu"
  activations.get(activation, who, 2) -- checked here; the Dense takes the spec as it is (a name it may fuse)
  local epsilon = options.layer_norm_epsilon
  if epsilon == nil then epsilon = 1e-5 end
  if type(epsilon) ~= "number" or not (epsilon > 0) then
    raise(string.format("%s: expected layer_norm_epsilon a number > 0, got %s", who, describe(epsilon)))
  end
  local kernel_initializer = options.kernel_initializer or "glorot_uniform"
  local bias_initializer = options.bias_initializer or "zeros"
  initializers.get(kernel_initializer, who)
  initializers.get(bias_initializer, who)
  local self = Layer.init(cls, options, base_name)
  self.intermediate_dim, self.num_heads, self.dropout = intermediate_dim, num_heads, dropout
  self.activation, self.layer_norm_epsilon = activation, epsilon
  self.normalize_first = boolean_option(who, "normalize_first", options.normalize_first, false)
  self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
  return self
end

-- d, the features of a sequence shape, and the heads' size d / num_heads (or an error naming the layer).
local function model_dim(self, shape, what)
  if #shape ~= 3 then
    fail(self, "expected %s as (batch, timesteps, features), got %s", what, shape_text(shape))
  end
  local d = shape[3]
  if d % self.num_heads ~= 0 then
    fail(self, "expected the features of %s (%d) to be divisible by num_heads (%d), got %s", what, d,
      self.num_heads, shape_text(shape))
  end
  return d, d // self.num_heads
end

-- The sublayers, made as KerasNLP's build makes them: each is named, shares the block's initializers and
-- trainable flag, and is built at once on the shapes given.
local function attention_layer(self, name, head_dim, query_shape, value_shape)
  local mha = attention.MultiHeadAttention{num_heads = self.num_heads, key_dim = head_dim, dropout = self.dropout,
    kernel_initializer = self.kernel_initializer, bias_initializer = self.bias_initializer, name = name,
    trainable = self.trainable}
  mha:build({query_shape, value_shape})
  return mha
end

local function norm_layer(self, name, shape)
  local norm = normalization.LayerNormalization{epsilon = self.layer_norm_epsilon, name = name,
    trainable = self.trainable}
  norm:build(shape)
  return norm
end

local function dense_layer(self, name, units, activation, input_dim)
  local dense = core.Dense(units, {activation = activation, kernel_initializer = self.kernel_initializer,
    bias_initializer = self.bias_initializer, name = name, trainable = self.trainable})
  dense:build({-1, -1, input_dim})
  return dense
end

local function feedforward_layers(self, d)
  self.feedforward_intermediate_dense = dense_layer(self, "feedforward_intermediate_dense", self.intermediate_dim,
    self.activation, d)
  self.feedforward_output_dense = dense_layer(self, "feedforward_output_dense", d, "linear", self.intermediate_dim)
end

-- Dropout on a block's output in training (KerasNLP's self_attention_dropout, cross_attention_dropout and
-- feedforward_dropout: layers without weights, so the op serves).
local function block_dropout(self, y)
  if self.training and self.dropout > 0 then return L.dropout(y, self.dropout) end
  return y
end

-- One residual block around f(self, input, ...): norm(x + f(x)) (post-norm), or x + f(norm(x)) (pre-norm,
-- normalize_first).
local function residual(self, norm, x, f, ...)
  if self.normalize_first then return x + block_dropout(self, f(self, norm(x), ...)) end
  return norm(x + block_dropout(self, f(self, x, ...)))
end

-- The attention blocks' f: mha(query, value) (value nil: self-attention on the query), keys hidden by the value's
-- padding mask and the attention mask, causal or not.
local function attend(self, query, mha, value, value_mask, attention_mask, causal)
  return mha(query, value or query, {value_mask = value_mask, attention_mask = attention_mask,
    use_causal_mask = causal, training = self.training})
end

-- The feed-forward block's f: the intermediate Dense (with the activation), then the output Dense.
local function feedforward(self, x)
  return self.feedforward_output_dense(self.feedforward_intermediate_dense(x))
end

-- A call's options (besides the protocol's training and mask), checked.
local function call_options(who, opts, valid)
  if opts == nil then return {} end
  options_lib.check(who .. " call", opts, valid)
  return opts
end

-- The blocks' shared methods.
local function block_train(self, on)
  Layer.train(self, on)
  for _, l in ipairs(rawget(self, "_sublayers") or {}) do l:train(on) end
  return self
end

local function same_shape(_, input_shape)
  local shape = input_shape
  if type(shape[1]) == "table" then shape = shape[1] end
  return {table.unpack(shape)}
end

-- ---- TransformerEncoder ----

--- dnn.nn.TransformerEncoder(intermediate_dim, num_heads[, options])
-- KerasNLP's transformer encoder block on `(batch, T, d)`: self-attention
-- (`num_heads` heads of `d / num_heads` features) with a residual and a
-- LayerNorm, then a feed-forward block (`Dense(intermediate_dim,
-- activation)`, `Dense(d)`) with a residual and a LayerNorm; post-norm by
-- default, pre-norm with `normalize_first`. Called as `enc(x[, {padding_mask,
-- attention_mask, training}])`: `padding_mask (batch, T)` (1 = a real step;
-- from `Embedding{mask_zero}` in models by itself) hides padded keys,
-- `attention_mask (batch, T, T)` (1 = attend) is combined with it. Weights in
-- KerasNLP's order: `self_attention_layer/...` (MultiHeadAttention's
-- eight), `self_attention_layer_norm/gamma, beta`, `feedforward_layer_norm/...`,
-- `feedforward_intermediate_dense/kernel, bias`, `feedforward_output_dense/...`.
-- @param intermediate_dim the feed-forward block's hidden size (or the option)
-- @param num_heads the number of attention heads; must divide d (or the option)
-- @option dropout=0 dropout of the attention probabilities and of each block's output, while training
-- @option activation="relu" the feed-forward activation (a name or a function)
-- @option layer_norm_epsilon=1e-5 the LayerNorms' epsilon
-- @option normalize_first=false pre-norm (LayerNorm before each block) instead of post-norm
-- @option kernel_initializer="glorot_uniform" the kernels' initializer
-- @option bias_initializer="zeros" the biases' initializer
-- @example local enc = nn.TransformerEncoder{intermediate_dim = 256, num_heads = 4}
local TransformerEncoder = Layer:extend("TransformerEncoder")
M.TransformerEncoder = TransformerEncoder
TransformerEncoder.options = block_options
TransformerEncoder.supports_masking = true
TransformerEncoder.__newindex = set_composed_field
TransformerEncoder.train = block_train
TransformerEncoder.compute_output_shape = same_shape

local encoder_call_options = {"training", "mask", "padding_mask", "attention_mask"}

function TransformerEncoder.new(...)
  local self = init_block(TransformerEncoder, "TransformerEncoder", "transformer_encoder", ...)
  if self.input_shape then self:build({-1, table.unpack(self.input_shape)}) end
  return self
end
getmetatable(TransformerEncoder).__call = function(_, ...) return TransformerEncoder.new(...) end

function TransformerEncoder:build(input_shape)
  local d, head_dim = model_dim(self, input_shape, "the input")
  self.self_attention_layer = attention_layer(self, "self_attention_layer", head_dim, input_shape, input_shape)
  self.self_attention_layer_norm = norm_layer(self, "self_attention_layer_norm", input_shape)
  self.feedforward_layer_norm = norm_layer(self, "feedforward_layer_norm", input_shape)
  feedforward_layers(self, d)
  self.features = d
  gather_weights(self, {self.self_attention_layer, self.self_attention_layer_norm, self.feedforward_layer_norm,
                        self.feedforward_intermediate_dense, self.feedforward_output_dense})
  self.built = true
end

function TransformerEncoder:forward(x, opts)
  opts = call_options("TransformerEncoder", opts, encoder_call_options)
  check_sequence(x, "the input")
  local b, steps, d = table.unpack(x.shape)
  if d ~= self.features then
    error(string.format("expected %d features (as when built), got %s", self.features, shape_text(x.shape)), 0)
  end
  local padding = check_mask(opts.padding_mask or opts.mask, "padding_mask", {b, steps})
  local attention_mask = check_mask(opts.attention_mask, "attention_mask", {b, steps, steps})
  x = residual(self, self.self_attention_layer_norm, x, attend, self.self_attention_layer, nil, padding,
    attention_mask, false)
  return residual(self, self.feedforward_layer_norm, x, feedforward)
end

-- ---- TransformerDecoder ----

--- dnn.nn.TransformerDecoder(intermediate_dim, num_heads[, options])
-- KerasNLP's transformer decoder block: causal self-attention (step t sees
-- steps up to t), then, when called with an encoder's output, cross-attention
-- to it (its own LayerNorm), then the feed-forward block; each with a
-- residual and a LayerNorm (post-norm, or pre-norm with `normalize_first`).
-- Called as `dec(x[, encoder_out][, options])` or `dec{x, encoder_out}`:
-- `dec(x)` is decoder-only (GPT-style), and a decoder keeps the form of its
-- first call. Call options: `decoder_padding_mask (batch, T)`,
-- `decoder_attention_mask (batch, T, T)`, `encoder_padding_mask (batch, S)`,
-- `encoder_attention_mask (batch, T, S)` (1 = attend; padding masks from
-- `Embedding{mask_zero}` arrive by themselves in models), `training`. Weights
-- in KerasNLP's order: `self_attention/...`, `self_attention_layer_norm/...`,
-- [`cross_attention/...`, `cross_attention_layer_norm/...`],
-- `feedforward_intermediate_dense/...`, `feedforward_output_dense/...`,
-- `feedforward_layer_norm/...`.
-- @param intermediate_dim the feed-forward block's hidden size (or the option)
-- @param num_heads the number of attention heads; must divide d (or the option)
-- @option dropout=0 dropout of the attention probabilities and of each block's output, while training
-- @option activation="relu" the feed-forward activation (a name or a function)
-- @option layer_norm_epsilon=1e-5 the LayerNorms' epsilon
-- @option normalize_first=false pre-norm (LayerNorm before each block) instead of post-norm
-- @option kernel_initializer="glorot_uniform" the kernels' initializer
-- @option bias_initializer="zeros" the biases' initializer
-- @example local dec = nn.TransformerDecoder{intermediate_dim = 256, num_heads = 4}
local TransformerDecoder = Layer:extend("TransformerDecoder")
TransformerDecoder.step_wise = true -- causal self-attention with the decoding cache (model:generate)
M.TransformerDecoder = TransformerDecoder
TransformerDecoder.options = block_options
TransformerDecoder.supports_masking = true
TransformerDecoder.min_inputs, TransformerDecoder.max_inputs = 1, 2
TransformerDecoder.__newindex = set_composed_field
TransformerDecoder.train = block_train
TransformerDecoder.compute_output_shape = same_shape

local decoder_call_options = {"training", "mask", "decoder_padding_mask", "decoder_attention_mask",
                              "encoder_padding_mask", "encoder_attention_mask"}

function TransformerDecoder.new(...)
  local self = init_block(TransformerDecoder, "TransformerDecoder", "transformer_decoder", ...)
  if self.input_shape then self:build({{-1, table.unpack(self.input_shape)}}) end
  return self
end
getmetatable(TransformerDecoder).__call = function(_, ...) return TransformerDecoder.new(...) end

local function is_input(v)
  return dnn.is_tensor(v) or getmetatable(v) == layer.symbolic_mt
end

-- dec(x[, encoder_out][, opts]) -> the protocol's ({x[, encoder_out]}, opts): the inputs always as an array, and a
-- mask given as one tensor (Sequential's, for x) as the array {mask}. The array form passes as it is.
local function decoder_args(a, b, c)
  local inputs, opts
  if not is_input(a) then
    inputs, opts = a, b
  elseif is_input(b) then
    inputs, opts = {a, b}, c
  elseif b == nil then
    inputs, opts = {a}, c -- dec(x, nil, opts): Keras's encoder_sequence = None
  else
    inputs, opts = {a}, b
  end
  if type(opts) == "table" and getmetatable(opts) == nil and dnn.is_tensor(opts.mask) then
    local copy = {}
    for k, v in pairs(opts) do copy[k] = v end
    copy.mask = {opts.mask}
    opts = copy
  end
  return inputs, opts
end

TransformerDecoder.__call = function(self, ...)
  local inputs, opts = decoder_args(...)
  if layer.is_symbolic(inputs) then return require("dnn.functional").call_symbolic(self, inputs, opts) end
  return self:call(inputs, opts)
end

function TransformerDecoder:build(shapes)
  local decoder_shape, encoder_shape = shapes[1], shapes[2]
  local d, head_dim = model_dim(self, decoder_shape, "the decoder sequence")
  if encoder_shape and #encoder_shape ~= 3 then
    fail(self, "expected the encoder sequence as (batch, timesteps, features), got %s", shape_text(encoder_shape))
  end
  local sublayers = {}
  self.self_attention = attention_layer(self, "self_attention", head_dim, decoder_shape, decoder_shape)
  self.self_attention_layer_norm = norm_layer(self, "self_attention_layer_norm", decoder_shape)
  sublayers[1], sublayers[2] = self.self_attention, self.self_attention_layer_norm
  if encoder_shape then
    self.cross_attention = attention_layer(self, "cross_attention", head_dim, decoder_shape, encoder_shape)
    self.cross_attention_layer_norm = norm_layer(self, "cross_attention_layer_norm", decoder_shape)
    sublayers[3], sublayers[4] = self.cross_attention, self.cross_attention_layer_norm
    self.encoder_features = encoder_shape[3]
  end
  feedforward_layers(self, d)
  self.feedforward_layer_norm = norm_layer(self, "feedforward_layer_norm", decoder_shape)
  for _, l in ipairs{self.feedforward_intermediate_dense, self.feedforward_output_dense, self.feedforward_layer_norm} do
    sublayers[#sublayers + 1] = l
  end
  self.features = d
  gather_weights(self, sublayers)
  self.built = true
end

-- KerasNLP's rule: the number of inputs does not change after the first call (the cross-attention weights exist
-- or not).
local function check_decoder_inputs(self, x, encoder_out)
  check_sequence(x, "the decoder sequence")
  if x.shape[3] ~= self.features then
    error(string.format("expected the decoder sequence with %d features (as when built), got %s", self.features,
      shape_text(x.shape)), 0)
  end
  local has_cross = self.cross_attention ~= nil
  if encoder_out and not has_cross then
    error("this decoder was built without cross-attention (first called as dec(x)); call it with the decoder " ..
      "sequence alone, or make another decoder for dec(x, encoder_out)", 0)
  elseif has_cross and not encoder_out then
    error("this decoder was built with cross-attention (first called as dec(x, encoder_out)); call it with the " ..
      "encoder sequence too", 0)
  end
  if encoder_out then
    check_sequence(encoder_out, "the encoder sequence")
    if encoder_out.shape[1] ~= x.shape[1] or encoder_out.shape[3] ~= self.encoder_features then
      error(string.format("expected the encoder sequence of the decoder's batch (%d) with %d features (as when " ..
        "built), got %s", x.shape[1], self.encoder_features, shape_text(encoder_out.shape)), 0)
    end
  end
end

function TransformerDecoder:forward(inputs, opts)
  opts = call_options("TransformerDecoder", opts, decoder_call_options)
  local x, encoder_out = inputs[1], inputs[2]
  check_decoder_inputs(self, x, encoder_out)
  local masks = type(opts.mask) == "table" and opts.mask or {}
  local b, steps = x.shape[1], x.shape[2]
  local decoder_padding = check_mask(opts.decoder_padding_mask or masks[1], "decoder_padding_mask", {b, steps})
  local decoder_attention = check_mask(opts.decoder_attention_mask, "decoder_attention_mask", {b, steps, steps})
  x = residual(self, self.self_attention_layer_norm, x, attend, self.self_attention, nil, decoder_padding,
    decoder_attention, true)
  if encoder_out then
    local s = encoder_out.shape[2]
    local encoder_padding = check_mask(opts.encoder_padding_mask or masks[2], "encoder_padding_mask", {b, s})
    local encoder_attention = check_mask(opts.encoder_attention_mask, "encoder_attention_mask", {b, steps, s})
    x = residual(self, self.cross_attention_layer_norm, x, attend, self.cross_attention, encoder_out,
      encoder_padding, encoder_attention, false)
  elseif opts.encoder_padding_mask or opts.encoder_attention_mask then
    error("got an encoder mask, but no encoder sequence", 0)
  end
  return residual(self, self.feedforward_layer_norm, x, feedforward)
end

-- The output keeps the decoder sequence's mask.
function TransformerDecoder:compute_mask(_, mask)
  if type(mask) == "table" and not dnn.is_tensor(mask) then return mask[1] or nil end
  return mask
end

return M
