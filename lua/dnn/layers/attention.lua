-- dnn.layers.attention: MultiHeadAttention, Keras's API over the fused
-- attention kernel (core/src/attention.c: one autodiff node, O(T d) memory
-- when the scores are not asked for).
--
-- Weights in Keras's layouts and order: query, key and value kernels
-- (features, heads, key_dim | value_dim) each followed by its bias (heads,
-- key_dim | value_dim), then the output kernel (heads, value_dim, out) and
-- bias (out). Each projection is one fused Dense GEMM over a (features,
-- heads * dim) view of its kernel; the heads are read by the kernel in place
-- from the (batch, T, heads, dim) projection.
--
--   local mha = nn.MultiHeadAttention{num_heads = 4, key_dim = 16}
--   local y = mha(query, value)                                -- key = value
--   local y, scores = mha(q, v, k, {attention_mask = m, use_causal_mask = true,
--                                   return_attention_scores = true})
--   mha{q, v[, k]}  -- the array form of the layer protocol: masks {qm, vm[, km]}
--
-- Masks (1 = attend), combined as Keras does: attention_mask (batch, Tq, Tk),
-- the query mask (batch, Tq) and the value / key masks (batch, Tk) (from
-- Embedding{mask_zero} through models, or given as query_mask, value_mask,
-- key_mask), and the causal mask (key j <= query i). A query row with no
-- allowed key gives zeros (Keras gives the mean of the values there).
local dnn = require "dnn"
local C = require("dnn.core")._nn
local L = require("dnn.core")._layers
local layer = require "dnn.layer"
local initializers = require "dnn.initializers"
local regularizers = require "dnn.regularizers"
local describe = require("dnn.options").describe
local shape_text = require("dnn.layer").shape_text

local Layer, args_and_options = layer.Layer, layer.args_and_options
local attention = dnn.scaled_dot_product_attention
local M = {}

--- dnn.nn.MultiHeadAttention(num_heads, key_dim[, options])
-- Keras's multi-head attention over the fused kernel (one autodiff node,
-- O(T d) memory when the scores are not asked for). Called as
-- `mha(query, value[, key][, call_options])` (key defaults to value) or
-- `mha{query, value[, key]}`; `query (batch, Tq, features)`, `value` and
-- `key (batch, Tk, features)`; gives `(batch, Tq, output)` and, with
-- `return_attention_scores`, the scores `(batch, heads, Tq, Tk)`. Call
-- options: `attention_mask (batch, Tq, Tk)` (1 = attend), `use_causal_mask`,
-- `return_attention_scores`, `training`, and `query_mask`, `value_mask`,
-- `key_mask` (masks from `Embedding{mask_zero}` arrive by themselves).
-- Weights in Keras's layouts: query, key and value kernels
-- `(features, heads, key_dim | value_dim)` each with a bias
-- `(heads, dim)`, then the output kernel `(heads, value_dim, output)` and bias.
-- @param num_heads the number of heads (or the option)
-- @param key_dim the size of each head's queries and keys (or the option)
-- @option value_dim=key_dim the size of each head's values
-- @option dropout=0 dropout of the attention probabilities while training
-- @option use_bias=true whether the projections have biases
-- @option output_shape=nil the output's features (default: the query's)
-- @option kernel_initializer="glorot_uniform" an initializer
-- @option bias_initializer="zeros" an initializer
-- @option kernel_regularizer=nil a regularizer
-- @option bias_regularizer=nil a regularizer
-- @option activity_regularizer=nil a regularizer of the output
-- @option seed=nil the layer's own dropout generator
-- @example local mha = nn.MultiHeadAttention{num_heads = 4, key_dim = 16}
local MultiHeadAttention = Layer:extend("MultiHeadAttention")
MultiHeadAttention.step_wise = true -- with the decoding cache when causal (model:generate)
M.MultiHeadAttention = MultiHeadAttention
MultiHeadAttention.options = {"num_heads", "key_dim", "value_dim", "dropout", "use_bias", "output_shape",
                              "kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
                              "activity_regularizer", "seed"}
MultiHeadAttention.supports_masking = true
MultiHeadAttention.min_inputs, MultiHeadAttention.max_inputs = 2, 3

-- The options a call takes, besides the protocol's training and mask.
local call_options = {"training", "mask", "attention_mask", "use_causal_mask", "return_attention_scores",
                      "query_mask", "value_mask", "key_mask"}

local function positive_integer(what, v)
  if math.type(v) ~= "integer" or v < 1 then
    error(string.format("MultiHeadAttention: expected %s to be a positive integer, got %s", what, describe(v)), 4)
  end
  return v
end

local function flag(what, v, default)
  if v == nil then return default end
  if type(v) ~= "boolean" then
    error(string.format("MultiHeadAttention: expected %s = true or false, got %s", what, describe(v)), 4)
  end
  return v
end

-- output_shape: nil (the query's features), an integer, or {integer}.
local function output_dim(v)
  if v == nil then return nil end
  if type(v) == "table" and #v == 1 then v = v[1] end
  if math.type(v) ~= "integer" or v < 1 then
    error("MultiHeadAttention: expected output_shape to be a positive integer (or {n}), got " .. describe(v), 4)
  end
  return v
end

function MultiHeadAttention.new(...)
  local args, options = args_and_options(...)
  local self = Layer.init(MultiHeadAttention, options, "multi_head_attention")
  self.num_heads = positive_integer("num_heads", args[1] or options.num_heads)
  self.key_dim = positive_integer("key_dim", args[2] or options.key_dim)
  self.value_dim = positive_integer("value_dim", options.value_dim or self.key_dim)
  self.dropout = options.dropout or 0
  if type(self.dropout) ~= "number" or not (self.dropout >= 0 and self.dropout < 1) then
    error("MultiHeadAttention: expected dropout in [0, 1), got " .. describe(options.dropout), 3)
  end
  self.use_bias = flag("use_bias", options.use_bias, true)
  self.output_dim = output_dim(options.output_shape)
  self.kernel_initializer = initializers.get(options.kernel_initializer or "glorot_uniform", "MultiHeadAttention")
  self.bias_initializer = initializers.get(options.bias_initializer or "zeros", "MultiHeadAttention")
  self.kernel_regularizer = regularizers.get(options.kernel_regularizer)
  self.bias_regularizer = regularizers.get(options.bias_regularizer)
  self.activity_regularizer = regularizers.get(options.activity_regularizer)
  if options.seed ~= nil then
    if math.type(options.seed) ~= "integer" then
      error("MultiHeadAttention: expected an integer seed, got " .. describe(options.seed), 3)
    end
    self.generator = L.generator(options.seed)
  end
  return self
end
getmetatable(MultiHeadAttention).__call = function(_, ...) return MultiHeadAttention.new(...) end

-- A tensor or a symbolic one (not an array of them).
local function is_input(v)
  return dnn.is_tensor(v) or getmetatable(v) == layer.symbolic_mt
end

-- Keras's positional form mha(query, value[, key][, opts]) -> the protocol's ({query, value[, key]}, opts); the
-- array form passes as it is.
local function protocol_args(self, a, b, c, d)
  if not is_input(a) then return a, b end
  if not is_input(b) then
    error(string.format("%s: expected mha(query, value[, key][, options]), got a query and %s", layer.context(self),
      describe(b)), 3)
  end
  if is_input(c) then return {a, b, c}, d end
  if c == nil then return {a, b}, d end -- mha(q, v, nil, opts): Keras's key = None
  if d ~= nil then
    error(string.format("%s: expected the key (a tensor) as the third argument, got %s", layer.context(self),
      describe(c)), 3)
  end
  return {a, b}, c
end

MultiHeadAttention.__call = function(self, ...)
  local inputs, opts = protocol_args(self, ...)
  if layer.is_symbolic(inputs) then return require("dnn.functional").call_symbolic(self, inputs, opts) end
  return self:call(inputs, opts)
end

-- A kernel (rows, heads, dim) and its bias (heads, dim), Keras's names prefixed.
function MultiHeadAttention:_add_projection(name, rows, dim)
  local kernel = dnn.zeros(rows, self.num_heads, dim)
  self.kernel_initializer(kernel)
  self:add_weight(name .. "_kernel", kernel, {regularizer = self.kernel_regularizer})
  if self.use_bias then
    local bias = dnn.zeros(self.num_heads, dim)
    self.bias_initializer(bias)
    self:add_weight(name .. "_bias", bias, {regularizer = self.bias_regularizer})
  end
end

function MultiHeadAttention:build(shapes)
  for i, s in ipairs(shapes) do
    if #s ~= 3 then
      error(string.format("%s: expected the %s as (batch, timesteps, features), got %s", layer.context(self),
        ({"query", "value", "key"})[i], shape_text(s)), 3)
    end
  end
  local q, v, k = shapes[1], shapes[2], shapes[3] or shapes[2]
  self.out_dim = self.output_dim or q[3]
  self:_add_projection("query", q[3], self.key_dim)
  self:_add_projection("key", k[3], self.key_dim)
  self:_add_projection("value", v[3], self.value_dim)
  local kernel = dnn.zeros(self.num_heads, self.value_dim, self.out_dim)
  self.kernel_initializer(kernel)
  self:add_weight("output_kernel", kernel, {regularizer = self.kernel_regularizer})
  if self.use_bias then
    local bias = dnn.zeros(self.out_dim)
    self.bias_initializer(bias)
    self:add_weight("output_bias", bias, {regularizer = self.bias_regularizer})
  end
  self.features = {q[3], v[3], k[3]}
  self.built = true
end

-- x (B, T, F) -> the heads (B, H, T, dim), a transposed view of one GEMM's (B, T, H * dim).
function MultiHeadAttention:_project(x, name, dim)
  local h = self.num_heads
  local kernel = self[name .. "_kernel"]
  local bias = self[name .. "_bias"]
  local y = C.dense(x, kernel:view(kernel.shape[1], h * dim), bias and bias:view(h * dim), "linear")
  return y:view(x.shape[1], x.shape[2], h, dim):transpose(2, 3)
end

local function check_input(self, x, what, index)
  if x.ndim ~= 3 then
    error(string.format("expected the %s as (batch, timesteps, features), got %s", what, shape_text(x.shape)), 0)
  end
  if x.shape[3] ~= self.features[index] then
    error(string.format("expected the %s to have %d features (as when built), got %s", what, self.features[index],
      shape_text(x.shape)), 0)
  end
end

-- A 0/1 mask's check: shape (batch, n) or (batch, tq, tk).
local function check_mask(m, what, shape)
  if m == nil or m == false then return nil end
  if not dnn.is_tensor(m) then error(string.format("expected %s to be a tensor, got %s", what, describe(m)), 0) end
  local ok = m.ndim == #shape
  for i = 1, #shape do ok = ok and m.shape[i] == shape[i] end
  if not ok then
    error(string.format("expected %s of shape %s, got %s", what, shape_text(shape), shape_text(m.shape)), 0)
  end
  return m
end

-- The (B, 1, Tq|1, Tk|1) mask the kernel takes: attention_mask and the query / value / key masks, multiplied (an
-- "and" of 0/1 values), as Keras's _compute_attention_mask. nil: none.
local function combined_mask(b, tq, tk, opts, masks)
  local q = check_mask(opts.query_mask or masks[1], "the query mask", {b, tq})
  local v = check_mask(opts.value_mask or masks[2], "the value mask", {b, tk})
  local k = check_mask(opts.key_mask or masks[3], "the key mask", {b, tk})
  local a = check_mask(opts.attention_mask, "attention_mask", {b, tq, tk})
  local m = q and q:view(b, tq, 1)
  local parts = {v and v:view(b, 1, tk), k and k:view(b, 1, tk), a}
  for i = 1, 3 do
    local part = parts[i]
    if part then m = m and m * part or part end
  end
  return m and m:unsqueeze(2)
end

-- Self-attention while model:generate decodes (layer.decoding): the keys and
-- values of the steps before, kept in the decoding cache, then the new
-- steps'. The prompt comes first (nothing before: the causal mask), then one
-- step at a time (it sees every key: no mask). Padding masks are dropped:
-- generate refuses padded prompts and generated steps are never padding.
-- Returns k, v, causal.
local function decode_step(self, k, v, causal)
  if not causal then
    error("model:generate runs causal language models: this self-attention needs use_causal_mask = true " ..
      "(or generate with use_cache = false)", 0)
  end
  local caches = layer.decoding.caches
  local before = caches[self]
  if before then k, v = dnn.cat({before.k, k}, 3), dnn.cat({before.v, v}, 3) end
  caches[self] = {k = k, v = v}
  return k, v, before == nil
end

function MultiHeadAttention:forward(inputs, opts)
  opts = opts or {}
  require("dnn.options").check("MultiHeadAttention call", opts, call_options)
  local query, value = inputs[1], inputs[2]
  local key = inputs[3] or value
  check_input(self, query, "query", 1)
  check_input(self, value, "value", 2)
  check_input(self, key, "key", 3)
  local b, tq, tk = query.shape[1], query.shape[2], value.shape[2]
  if value.shape[1] ~= b or key.shape[1] ~= b or key.shape[2] ~= tk then
    error(string.format("expected query, value and key of one batch, and key and value of one length, got %s, %s " ..
      "and %s", shape_text(query.shape), shape_text(value.shape), shape_text(key.shape)), 0)
  end
  local causal = flag("use_causal_mask", opts.use_causal_mask, false)
  local want_scores = flag("return_attention_scores", opts.return_attention_scores, false)
  local mask = combined_mask(b, tq, tk, opts, type(opts.mask) == "table" and opts.mask or {})
  local q = self:_project(query, "query", self.key_dim)
  local k = self:_project(key, "key", self.key_dim)
  local v = self:_project(value, "value", self.value_dim)
  if layer.decoding and key == value and value == query then
    k, v, causal = decode_step(self, k, v, causal)
    mask = nil
  end
  local dropping = self.training and self.dropout > 0
  local out, scores = attention(q, k, v, {mask = mask, causal = causal, return_scores = want_scores or dropping})
  if dropping then -- dropout on the probabilities: the scores' path (O(T^2)), Keras's
    out = dnn.matmul(L.dropout(scores, self.dropout, self.generator), v)
  end
  local h, dv = self.num_heads, self.value_dim
  local merged = out:transpose(2, 3):reshape(b, tq, h * dv)
  local bias = self.output_bias
  local y = C.dense(merged, self.output_kernel:view(h * dv, self.out_dim), bias, "linear")
  if want_scores then return y, scores end
  return y
end

-- The output keeps the query's mask (Keras).
function MultiHeadAttention:compute_mask(_, mask)
  if type(mask) == "table" and not dnn.is_tensor(mask) then return mask[1] or nil end
  return nil
end

return M
