-- dnn.onnx.export: a dnnlua model as an ONNX graph.
--
-- The model is walked (Sequential in order, functional models node by node,
-- nested models inside) with a probe batch of 2 running beside it in
-- inference mode: each layer call adds its ONNX nodes and the probe gives the
-- shapes of its results. Each layer type has an emitter below; a layer
-- without one is an error naming it.
--
-- Layout: tensors stay NHWC (and (N, T, C)) between layers, as in dnnlua, so
-- the graph's inputs and outputs are the model's. The ops that ONNX defines
-- on NCHW (Conv, ConvTranspose, the pools, Resize) are wrapped, each in its
-- own emitter, in a Transpose to NCHW and one back; ONNX Runtime's optimizer
-- removes the pairs that meet. Weights are initializers named
-- "<layer>/<weight>" ("conv1/kernel"), in ONNX's layouts.
local dnn = require "dnn"
local graph = require "dnn.onnx.graph"

local I, F, S, INTS, FLOATS = graph.I, graph.F, graph.S, graph.INTS, graph.FLOATS

local M = {}
local emit = {} -- type_name -> function(G, layer, xs, opts) -> output names
M.emitters = emit

local function fail(l, fmt, ...)
  error(string.format("%s '%s': " .. fmt, l.type_name, l.name, ...), 0)
end

local TO_NCHW, TO_NHWC = {0, 3, 1, 2}, {0, 2, 3, 1}

local function transpose(G, x, perm)
  return G:node("Transpose", {x}, {perm = INTS(perm)})
end

-- ---- activations (lua/dnn/activations.lua): each as ONNX ops ----

local activation_ops = {
  relu = "Relu", sigmoid = "Sigmoid", tanh = "Tanh", elu = "Elu", selu = "Selu", softplus = "Softplus",
}

local function activation(G, x, name, l)
  if name == nil or name == "linear" then return x end
  if activation_ops[name] then return G:node(activation_ops[name], {x}) end
  if name == "leaky_relu" then return G:node("LeakyRelu", {x}, {alpha = F(0.2)}) end
  if name == "hard_sigmoid" then return G:node("HardSigmoid", {x}, {alpha = F(1 / 6), beta = F(0.5)}) end
  if name == "softmax" then return G:node("Softmax", {x}, {axis = I(-1)}) end
  if name == "swish" then return G:node("Mul", {x, G:node("Sigmoid", {x})}) end
  if name == "gelu" then -- exact: x * (1 + erf(x / sqrt 2)) / 2 (ONNX's Gelu op is opset 20)
    local erf = G:node("Erf", {G:node("Div", {x, G:scalar("sqrt2", math.sqrt(2))})})
    local one_plus = G:node("Add", {erf, G:scalar("one", 1)})
    return G:node("Mul", {G:node("Mul", {x, one_plus}), G:scalar("half", 0.5)})
  end
  if type(name) == "function" then fail(l, "its activation is a Lua function, which cannot be exported") end
  fail(l, "activation '%s' has no ONNX form", tostring(name))
end
M.activation = activation

-- ---- core layers ----

local function dense(G, l, x)
  local y = G:node("MatMul", {x, G:weight("kernel", l.kernel)})
  if l.bias then y = G:node("Add", {y, G:weight("bias", l.bias)}) end
  return activation(G, y, l.activation, l)
end

emit.Dense = function(G, l, xs) return dense(G, l, xs[1].name) end
emit.Activation = function(G, l, xs) return activation(G, xs[1].name, l.activation, l) end

local function identity(G, _, xs) return G:node("Identity", {xs[1].name}) end
-- Identity at inference: Dropout and the random augmentation layers (Keras's preprocessing layers act in training).
for _, name in ipairs{"Dropout", "GaussianNoise", "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom",
                      "RandomContrast", "RandomBrightness"} do
  emit[name] = identity
end

emit.Flatten = function(G, _, xs) return G:node("Flatten", {xs[1].name}, {axis = I(1)}) end

emit.Reshape = function(G, l, xs)
  local shape = {0} -- 0: the batch dim as it comes
  for i, d in ipairs(l.target_shape) do shape[i + 1] = d end
  return G:node("Reshape", {xs[1].name, G:ints("shape", shape)})
end

emit.LeakyReLU = function(G, l, xs)
  return G:node("LeakyRelu", {xs[1].name}, {alpha = F(l.negative_slope)})
end

emit.PReLU = function(G, l, xs)
  return G:node("PRelu", {xs[1].name, G:weight("alpha", l.alpha)})
end

emit.Rescaling = function(G, l, xs)
  local y = G:node("Mul", {xs[1].name, G:scalar("scale", l.scale)})
  if l.offset ~= 0 then y = G:node("Add", {y, G:scalar("offset", l.offset)}) end
  return y
end

-- (x - mean) / max(sqrt(variance), 1e-7), the statistics along one axis, broadcast over the others.
emit.Normalization = function(G, l, xs)
  local x = xs[1]
  local ndim = #x.shape
  local a = l.axis < 0 and ndim + l.axis + 1 or l.axis
  local shape = {}
  for d = 1, ndim do shape[d] = d == a and l.mean:numel() or 1 end
  local mean = l.mean:reshape(shape)
  local std = l.variance:reshape(shape):sqrt():clamp(1e-7, math.huge)
  return G:node("Div", {G:node("Sub", {x.name, G:weight("mean", mean)}), G:weight("std", std)})
end

-- ---- merges ----

local function chain(G, op, xs)
  local y = xs[1].name
  for i = 2, #xs do y = G:node(op, {y, xs[i].name}) end
  return y
end

emit.Add = function(G, _, xs) return chain(G, "Add", xs) end
emit.Subtract = function(G, _, xs) return G:node("Sub", {xs[1].name, xs[2].name}) end
emit.Multiply = function(G, _, xs) return chain(G, "Mul", xs) end
emit.Maximum = function(G, _, xs) return chain(G, "Max", xs) end
emit.Minimum = function(G, _, xs) return chain(G, "Min", xs) end
emit.Average = function(G, _, xs)
  return G:node("Div", {chain(G, "Add", xs), G:scalar("count", #xs)})
end
emit.Concatenate = function(G, l, xs)
  local names = {}
  for i, x in ipairs(xs) do names[i] = x.name end
  local ndim = #xs[1].shape
  local axis = l.axis < 0 and ndim + l.axis or l.axis - 1 -- dnnlua's dims are 1-based
  return G:node("Concat", names, {axis = I(axis)})
end

-- ---- normalization ----

emit.BatchNormalization = function(G, l, xs)
  local x = xs[1]
  if l.axis ~= -1 and l.axis ~= #x.shape then fail(l, "only axis -1 (channels last) is exported, got %d", l.axis) end
  -- inference: (x - mean) * gamma / sqrt(var + eps) + beta, over the last axis
  local scale = dnn.no_grad(function()
    local s = dnn.ones(l.moving_variance.shape) / (l.moving_variance + l.epsilon):sqrt()
    if l.gamma then s = s * l.gamma end
    return s
  end)
  local y = G:node("Mul", {G:node("Sub", {x.name, G:weight("moving_mean", l.moving_mean)}), G:weight("scale", scale)})
  if l.beta then y = G:node("Add", {y, G:weight("beta", l.beta)}) end
  return y
end

emit.LayerNormalization = function(G, l, xs)
  local x = xs[1]
  local ndim, n = #x.shape, l.naxes
  local axes = {}
  for k = 1, n do axes[k] = ndim - n + k - 1 end
  local y
  if G.opset >= 17 then
    local gamma = l.gamma or dnn.ones(table.unpack(x.shape, ndim - n + 1))
    local inputs = {x.name, G:weight(l.gamma and "gamma" or "ones", gamma)}
    if l.beta then inputs[3] = G:weight("beta", l.beta) end
    return G:node("LayerNormalization", inputs, {axis = I(-n), epsilon = F(l.epsilon)})
  end
  local mean = G:node("ReduceMean", {x.name}, {axes = INTS(axes), keepdims = I(1)})
  local centered = G:node("Sub", {x.name, mean})
  local var = G:node("ReduceMean", {G:node("Mul", {centered, centered})}, {axes = INTS(axes), keepdims = I(1)})
  local std = G:node("Sqrt", {G:node("Add", {var, G:scalar("epsilon", l.epsilon)})})
  y = G:node("Div", {centered, std})
  if l.gamma then y = G:node("Mul", {y, G:weight("gamma", l.gamma)}) end
  if l.beta then y = G:node("Add", {y, G:weight("beta", l.beta)}) end
  return y
end

-- ---- convolutions: NHWC in and out, NCHW inside ----

local function conv_pads(l)
  if l.padding == "same" then return {auto_pad = S("SAME_UPPER")} end
  if l.padding == "valid" then return {} end
  fail(l, "padding '%s' has no ONNX form", tostring(l.padding))
end

local function conv2d(G, l, x, w, group)
  local attrs = conv_pads(l)
  attrs.strides = INTS{l.strides[1], l.strides[2]}
  attrs.dilations = INTS{l.dilation_rate[1], l.dilation_rate[2]}
  attrs.kernel_shape = INTS{l.kernel_size[1], l.kernel_size[2]}
  if group then attrs.group = I(group) end
  local inputs = {transpose(G, x, TO_NCHW), w}
  if l.bias then inputs[3] = G:weight("bias", l.bias) end
  local y = transpose(G, G:node("Conv", inputs, attrs), TO_NHWC)
  return activation(G, y, l.activation, l)
end

emit.Conv2D = function(G, l, xs)
  -- Keras (kh, kw, in, out) -> ONNX (out, in, kh, kw)
  return conv2d(G, l, xs[1].name, G:weight("kernel", l.kernel:permute(4, 3, 1, 2)))
end

emit.DepthwiseConv2D = function(G, l, xs)
  -- (kh, kw, c, m) -> (c * m, 1, kh, kw): output channel c * m + j, as Keras orders them
  local kh, kw, c, m = table.unpack(l.kernel.shape)
  local w = l.kernel:permute(3, 4, 1, 2):contiguous():reshape(c * m, 1, kh, kw)
  return conv2d(G, l, xs[1].name, G:weight("depthwise_kernel", w), c)
end

emit.Conv2DTranspose = function(G, l, xs)
  -- Keras (kh, kw, out, in) -> ONNX ConvTranspose (in, out, kh, kw)
  local x = xs[1]
  if l.dilation_rate[1] ~= 1 or l.dilation_rate[2] ~= 1 then fail(l, "dilated transposed convolutions are not exported") end
  local attrs = {strides = INTS{l.strides[1], l.strides[2]}, kernel_shape = INTS{l.kernel_size[1], l.kernel_size[2]}}
  -- Keras's output: n * s + max(k - s, 0) ("valid"), n * s ("same": the padding's extra row at the end). ONNX's:
  -- (n - 1) * s + k - pads + output_padding.
  local pads, extra = {0, 0, 0, 0}, {}
  for d = 1, 2 do
    local k, s = l.kernel_size[d], l.strides[d]
    extra[d] = math.max(s - k, 0) -- a kernel smaller than its stride: the last rows come from no input
    if l.padding == "same" then
      local total = math.max(k - s, 0)
      pads[d], pads[d + 2] = total // 2, total - total // 2
    end
  end
  if extra[1] > 0 or extra[2] > 0 then attrs.output_padding = INTS(extra) end
  if l.padding == "same" then attrs.pads = INTS(pads) end
  local inputs = {transpose(G, x.name, TO_NCHW), G:weight("kernel", l.kernel:permute(4, 3, 1, 2))}
  if l.bias then inputs[3] = G:weight("bias", l.bias) end
  local y = transpose(G, G:node("ConvTranspose", inputs, attrs), TO_NHWC)
  return activation(G, y, l.activation, l)
end

local function first(v) return type(v) == "table" and v[1] or v end

emit.Conv1D = function(G, l, xs)
  -- (N, T, C) -> (N, C, T); Keras (k, in, out) -> ONNX (out, in, k)
  local k, dilation = l.kernel.shape[1], first(l.dilation_rate)
  local attrs
  if l.padding == "causal" then
    attrs = {pads = INTS{(k - 1) * dilation, 0}}
  else
    attrs = conv_pads(l)
  end
  attrs.strides = INTS{first(l.strides)}
  attrs.dilations = INTS{dilation}
  attrs.kernel_shape = INTS{k}
  local inputs = {transpose(G, xs[1].name, {0, 2, 1}), G:weight("kernel", l.kernel:permute(3, 2, 1))}
  if l.bias then inputs[3] = G:weight("bias", l.bias) end
  local y = transpose(G, G:node("Conv", inputs, attrs), {0, 2, 1})
  return activation(G, y, l.activation, l)
end

-- ---- pooling ----

local function pool(G, l, x, op, rank)
  local attrs = {kernel_shape = INTS(l.pool_size), strides = INTS(l.strides)}
  if l.padding == "same" then attrs.auto_pad = S("SAME_UPPER") end
  local to, back = TO_NCHW, TO_NHWC
  if rank == 1 then to, back = {0, 2, 1}, {0, 2, 1} end
  return transpose(G, G:node(op, {transpose(G, x, to)}, attrs), back)
end

local function pool_sizes(l)
  local function list(v) return type(v) == "table" and v or {v} end
  return {pool_size = list(l.pool_size), strides = list(l.strides), padding = l.padding, type_name = l.type_name,
          name = l.name}
end

emit.MaxPooling2D = function(G, l, xs) return pool(G, pool_sizes(l), xs[1].name, "MaxPool", 2) end
emit.AveragePooling2D = function(G, l, xs) return pool(G, pool_sizes(l), xs[1].name, "AveragePool", 2) end
emit.MaxPooling1D = function(G, l, xs) return pool(G, pool_sizes(l), xs[1].name, "MaxPool", 1) end
emit.AveragePooling1D = function(G, l, xs) return pool(G, pool_sizes(l), xs[1].name, "AveragePool", 1) end

local function global_pool(op, axes)
  return function(G, l, xs)
    return G:node(op, {xs[1].name}, {axes = INTS(axes), keepdims = I(l.keepdims and 1 or 0)})
  end
end
emit.GlobalAveragePooling2D = global_pool("ReduceMean", {1, 2})
emit.GlobalMaxPooling2D = global_pool("ReduceMax", {1, 2})
local global_average1d = global_pool("ReduceMean", {1})
-- With a mask, as dnnlua: the mean of the unmasked steps, zeros where every step is masked.
emit.GlobalAveragePooling1D = function(G, l, xs)
  local mask = xs[1].mask
  if not mask then return global_average1d(G, l, xs) end
  local m = G:node("Unsqueeze", {mask, G:ints("axes", {2})})
  local keep = I(l.keepdims and 1 or 0)
  local sum = G:node("ReduceSum", {G:node("Mul", {xs[1].name, m}), G:ints("axes", {1})}, {keepdims = keep})
  local count = G:node("ReduceSum", {m, G:ints("axes", {1})}, {keepdims = keep})
  return G:node("Div", {sum, G:node("Max", {count, G:scalar("one", 1)})})
end
emit.GlobalMaxPooling1D = global_pool("ReduceMax", {1})

-- ---- spatial ----

emit.ZeroPadding2D = function(G, l, xs)
  local t, b, left, r = table.unpack(l.amounts)
  return G:node("Pad", {xs[1].name, G:ints("pads", {0, t, left, 0, 0, b, r, 0})})
end

local function slice(G, x, starts, ends, axes, steps)
  local inputs = {x, G:ints("starts", starts), G:ints("ends", ends), G:ints("axes", axes)}
  if steps then inputs[5] = G:ints("steps", steps) end
  return G:node("Slice", inputs)
end

emit.Cropping2D = function(G, l, xs)
  local t, b, left, r = table.unpack(l.amounts)
  local h, w = xs[1].shape[2], xs[1].shape[3]
  return slice(G, xs[1].name, {t, left}, {h - b, w - r}, {1, 2})
end

emit.RandomCrop = function(G, l, xs) -- the center window at inference
  local h, w = xs[1].shape[2], xs[1].shape[3]
  local top, left = (h - l.height) // 2, (w - l.width) // 2
  return slice(G, xs[1].name, {top, left}, {top + l.height, left + l.width}, {1, 2})
end

local function upsample(G, x, scales, bilinear)
  local attrs = {mode = S("nearest"), coordinate_transformation_mode = S("asymmetric"), nearest_mode = S("floor")}
  if bilinear then attrs = {mode = S("linear"), coordinate_transformation_mode = S("half_pixel")} end
  local scale_name = G:weight("scales", dnn.tensor(scales))
  return G:node("Resize", {x, "", scale_name}, attrs)
end

emit.UpSampling2D = function(G, l, xs)
  local y = upsample(G, transpose(G, xs[1].name, TO_NCHW), {1, 1, l.size[1], l.size[2]},
    l.interpolation == "bilinear")
  return transpose(G, y, TO_NHWC)
end

emit.UpSampling1D = function(G, l, xs)
  return upsample(G, xs[1].name, {1, l.size, 1}, false)
end

-- ---- embeddings ----

-- dnnlua's ids are floats counted from 1: Gather wants int64 from 0. With mask_zero, id 0 is padding and
-- embeds to zeros: the table gets a zero row in front and the ids index it as they are.
local function gather_rows(G, l, table_, ids)
  if l.mask_zero then
    local padded = dnn.no_grad(function() return dnn.cat({dnn.zeros(1, table_.shape[2]), table_}) end)
    return G:node("Gather", {G:weight("embeddings", padded), G:node("Cast", {ids}, {to = I(7)})}, {axis = I(0)})
  end
  local idx = G:node("Cast", {G:node("Sub", {ids, G:scalar("one", 1)})}, {to = I(7)})
  return G:node("Gather", {G:weight("embeddings", table_), idx}, {axis = I(0)})
end

emit.Embedding = function(G, l, xs) return gather_rows(G, l, l.embeddings, xs[1].name) end

-- The first `steps` rows of a position table, expanded to x's shape.
local function positions(G, x, rows)
  local steps = x.shape[2]
  if steps < 0 then error("onnx: position layers need a known sequence length", 0) end
  local sliced = slice(G, rows, {0}, {steps}, {0})
  return G:node("Expand", {sliced, G:node("Shape", {x.name})})
end

emit.PositionEmbedding = function(G, l, xs)
  return positions(G, xs[1], G:weight("embeddings", l.embeddings))
end

emit.SinePositionEncoding = function(G, l, xs)
  local _, steps, dim = table.unpack(xs[1].shape)
  return positions(G, xs[1], G:weight("table", l:_table(steps, dim)))
end

-- ---- sublayers of composite layers ----

-- Runs emit[sub.type_name] for a sublayer, its weights named under it.
local function sublayer(G, sub, xs, opts)
  local fn = emit[sub.type_name]
  if not fn then fail(sub, "has no ONNX export") end
  G:push(sub.name)
  local out = fn(G, sub, xs, opts or {})
  G:pop()
  return out
end

emit.TokenAndPositionEmbedding = function(G, l, xs)
  local tokens = {name = sublayer(G, l.token_embedding, xs), shape = {xs[1].shape[1], xs[1].shape[2],
                                                                        l.embedding_dim}}
  return G:node("Add", {tokens.name, sublayer(G, l.position_embedding, {tokens})})
end

-- ---- masks ----
-- A value may carry a mask as dnnlua's layers pass it: the name of a float (N, T) tensor, 1 where a step
-- counts and 0 where it is padding, made by Embedding{mask_zero}, TokenAndPositionEmbedding's embedding and
-- Masking (emit_mask). Layers that act on each step alone pass it on; the recurrent layers and
-- GlobalAveragePooling1D use it; any other layer that gets a mask is refused rather than exported ignoring it.

local MASK_PASSES = {Dense = true, Activation = true, LeakyReLU = true, PReLU = true, Dropout = true,
                     GaussianNoise = true, BatchNormalization = true, LayerNormalization = true,
                     TimeDistributed = true, SinePositionEncoding = true, PositionEmbedding = true, Masking = true}
local MASK_USES = {SimpleRNN = true, LSTM = true, GRU = true, Bidirectional = true, GlobalAveragePooling1D = true}

local emit_mask = {}

-- float 1 where x ~= value, else 0
local function not_equal(G, x, value)
  local eq = G:node("Equal", {x, G:scalar("mask_value", value)})
  return G:node("Cast", {G:node("Not", {eq})}, {to = I(1)})
end

emit_mask.Embedding = function(G, _, xs) return not_equal(G, xs[1].name, 0) end
emit_mask.TokenAndPositionEmbedding = emit_mask.Embedding
emit_mask.Masking = function(G, l, xs) -- a step counts where any feature differs from mask_value
  return G:node("ReduceMax", {not_equal(G, xs[1].name, l.mask_value)}, {axes = INTS{-1}, keepdims = I(0)})
end

-- Masked steps give zeros (xs.out_mask is the mask emit_mask made for this call).
emit.Masking = function(G, _, xs)
  return G:node("Mul", {xs[1].name, G:node("Unsqueeze", {xs.out_mask, G:ints("axes", {2})})})
end

-- What ONNX's recurrent ops need from a mask (N, T), made once per mask. Their sequence_lens count steps
-- from the start, while a mask may also pad at the front (pad_sequences's default). A mask that is one
-- run of counting steps, from `first` for `count` steps, gives the same states as that run alone: masked
-- steps before it keep the zero initial state, those after it keep the run's last state. So the input is
-- rotated by `first` (the run moved to the front) and the run's length is the sequence length. A row
-- whose counting steps have gaps has no such form: its outputs are NaN, never a silently different number.
local function mask_runs(G, mask, steps)
  G.mask_runs = G.mask_runs or {}
  if G.mask_runs[mask] then return G.mask_runs[mask] end
  local r = {}
  local count = G:node("Cast", {G:node("ReduceSum", {mask, G:ints("axes", {1})}, {keepdims = I(0)})}, {to = I(7)})
  r.first = G:node("ArgMax", {mask}, {axis = I(1), keepdims = I(0)})
  local last = G:node("ArgMax", {mask}, {axis = I(1), keepdims = I(0), select_last_index = I(1)})
  local one, zero = G:ints("one", {1}, true), G:ints("zero", {0}, true)
  local span = G:node("Add", {G:node("Sub", {last, r.first}), one})
  r.one_run = G:node("Or", {G:node("Equal", {span, count}), G:node("Equal", {count, zero})})
  r.lens = G:node("Cast", {G:node("Max", {count, one})}, {to = I(6)}) -- int32, at least 1 (ONNX Runtime's rule)
  r.any = G:node("Cast", {G:node("Greater", {count, zero})}, {to = I(1)})
  local time = {}
  for t = 1, steps do time[t] = t - 1 end
  local range = G:node("Unsqueeze", {G:ints("time", time), G:ints("axes", {0})}) -- (1, T)
  local first = G:node("Unsqueeze", {r.first, G:ints("axes", {1})})            -- (N, 1)
  r.rotate = G:node("Mod", {G:node("Add", {range, first}), G:ints("steps", {steps}, true)})
  -- Back in time order, step t reads the run's output at t - first, clamped into the run: the run's last
  -- output after it, its first before it (what the reverse direction carries there).
  r.rel = G:node("Sub", {range, first})
  r.last_in_run = G:node("Unsqueeze", {G:node("Sub", {G:node("Max", {count, one}), one}), G:ints("axes", {1})})
  r.unrotate = G:node("Max", {G:node("Min", {r.rel, r.last_in_run}), zero})
  G.mask_runs[mask] = r
  return r
end

-- x (N, T, C) with step t replaced by step index[n, t] (N, T).
local function gather_steps(G, x, index)
  local full = G:node("Expand", {G:node("Unsqueeze", {index, G:ints("axes", {2})}), G:node("Shape", {x})})
  return G:node("GatherElements", {x, full}, {axis = I(1)})
end

-- t where the forward direction has seen no counting step yet (t < first), or the reverse one (t > the run's
-- last step), and rows with no counting step at all: dnnlua's outputs there are zeros. (N, T, 1) floats.
local function seen_steps(G, r, reverse)
  local seen
  if reverse then
    seen = G:node("LessOrEqual", {r.rel, r.last_in_run})
  else
    seen = G:node("GreaterOrEqual", {r.rel, G:ints("zero", {0}, true)})
  end
  local rows = G:node("Unsqueeze", {r.any, G:ints("axes", {1})})
  return G:node("Unsqueeze", {G:node("Mul", {G:node("Cast", {seen}, {to = I(1)}), rows}), G:ints("axes", {2})})
end

-- NaN in the rows whose mask is not one run; rank is that of x.
local function nan_unless_one_run(G, r, x, rank)
  local axes = {}
  for d = 1, rank - 1 do axes[d] = d end
  local ok = G:node("Unsqueeze", {r.one_run, G:ints("axes", axes)})
  return G:node("Where", {ok, x, G:scalar("nan", 0 / 0)})
end

-- ---- recurrent layers: ONNX's RNN, LSTM and GRU ----

local onnx_activation = {sigmoid = "Sigmoid", tanh = "Tanh", relu = "Relu", linear = "Affine"}

-- Rows of a Keras (in, k*U) matrix regrouped in ONNX's gate order, transposed: (k*U, in).
local function gates(t, order, units)
  local parts = {}
  for i, g in ipairs(order) do parts[i] = t:narrow(-1, (g - 1) * units + 1, units) end
  return dnn.cat(parts, -1):transpose(1, 2):contiguous()
end

-- One direction of a recurrent layer over x (N, T, F) in dnnlua's layout, with an optional mask
-- (see mask_runs). Returns the output (N, T, U) or (N, U), and the final states (N, U).
local function recurrent(G, l, x, mask, steps)
  local units, order, op = l.units, {1}, "RNN"
  if l.cell == "lstm" then order, op = {1, 4, 2, 3}, "LSTM" end -- Keras i f c o -> ONNX i o f c
  if l.cell == "gru" then order, op = {1, 2, 3}, "GRU" end      -- z r h in both
  if l.stateful then fail(l, "stateful layers are not exported") end
  local w = gates(l.kernel, order, units):unsqueeze(1)
  local r = gates(l.recurrent_kernel, order, units):unsqueeze(1)
  local inputs = {nil, G:weight("kernel", w), G:weight("recurrent_kernel", r)}
  if l.bias then
    local wb, rb
    if l.cell == "gru" and l.reset_after then
      wb, rb = l.bias:select(1, 1), l.bias:select(1, 2)
    else
      wb, rb = l.bias, dnn.zeros(l.bias.shape)
    end
    local function reorder(b) return gates(b:reshape(1, -1), order, units):reshape(-1) end
    inputs[4] = G:weight("bias", dnn.cat({reorder(wb), reorder(rb)}):unsqueeze(1))
  end
  local runs
  if mask then
    if steps < 0 then fail(l, "a mask needs a known sequence length") end
    runs = mask_runs(G, mask, steps)
    x = gather_steps(G, x, runs.rotate)
    inputs[4] = inputs[4] or ""
    inputs[5] = runs.lens
  end
  local acts
  if l.cell == "lstm" then
    acts = {l.recurrent_activation, l.activation, l.activation}
  elseif l.cell == "gru" then
    acts = {l.recurrent_activation, l.activation}
  else
    acts = {l.activation}
  end
  local names = {}
  for i, a in ipairs(acts) do names[i] = onnx_activation[a] or fail(l, "activation '%s' is not exported", a) end
  local attrs = {hidden_size = I(units), activations = graph.STRINGS(names),
                 direction = S(l.go_backwards and "reverse" or "forward")}
  if l.cell == "gru" then attrs.linear_before_reset = I(l.reset_after and 1 or 0) end
  inputs[1] = transpose(G, x, {1, 0, 2}) -- (T, N, F): ONNX's layout 0 (opset 13 has no batch-first form)
  local y, y_h, y_c = G:node(op, inputs, attrs, l.cell == "lstm" and 3 or 2)
  local axis0 = G:ints("axes", {0})
  local h = G:node("Squeeze", {y_h, axis0})
  local c = y_c and G:node("Squeeze", {y_c, axis0})
  if runs then -- rows with no counting step keep the zero initial state
    local function final(state)
      local any = G:node("Unsqueeze", {runs.any, G:ints("axes", {1})})
      return nan_unless_one_run(G, runs, G:node("Mul", {state, any}), 2)
    end
    h, c = final(h), c and final(c)
  end
  local out = h
  if l.return_sequences then -- Y (T, 1, N, U) -> (N, T, U)
    out = transpose(G, G:node("Squeeze", {y, G:ints("axes", {1})}), {1, 0, 2})
    if runs then
      out = G:node("Mul", {gather_steps(G, out, runs.unrotate), seen_steps(G, runs, l.go_backwards)})
      out = nan_unless_one_run(G, runs, out, 3)
    end
    if l.go_backwards then out = slice(G, out, {-1}, {math.mininteger}, {1}, {-1}) end -- Keras: reversed order
  end
  return out, h, c
end

local function recurrent_emitter(G, l, xs, opts)
  if opts.initial_state then fail(l, "initial states given in the call are not exported") end
  local out, h, c = recurrent(G, l, xs[1].name, xs[1].mask, xs[1].shape[2])
  if not l.return_state then return out end
  return out, h, c
end
emit.SimpleRNN, emit.LSTM, emit.GRU = recurrent_emitter, recurrent_emitter, recurrent_emitter

emit.Bidirectional = function(G, l, xs, opts)
  if opts.initial_state then fail(l, "initial states given in the call are not exported") end
  local f, b = l.forward_layer, l.backward_layer
  G:push(f.name)
  local x = xs[1]
  local yf, hf, cf = recurrent(G, f, x.name, x.mask, x.shape[2])
  G:pop()
  G:push(b.name)
  local yb, hb, cb = recurrent(G, b, x.name, x.mask, x.shape[2])
  G:pop()
  if l.return_sequences then yb = slice(G, yb, {-1}, {math.mininteger}, {1}, {-1}) end -- back in input order
  local results
  local mode = l.merge_mode
  if mode == "none" then
    results = {yf, yb}
  elseif mode == "concat" then
    results = {G:node("Concat", {yf, yb}, {axis = I(-1)})}
  elseif mode == "sum" then
    results = {G:node("Add", {yf, yb})}
  elseif mode == "mul" then
    results = {G:node("Mul", {yf, yb})}
  else
    results = {G:node("Mul", {G:node("Add", {yf, yb}), G:scalar("half", 0.5)})}
  end
  if f.return_state then
    for _, s in ipairs{hf, cf, hb, cb} do results[#results + 1] = s end
  end
  return table.unpack(results)
end

-- ---- attention ----

-- x (N, T, d) @ kernel (d, h, k) + bias (h, k) -> (N, h, T, k)
local function project(G, l, x, name, dim)
  local kernel = l[name .. "_kernel"]
  local y = G:node("MatMul", {x, G:weight(name .. "_kernel", kernel:reshape(kernel.shape[1], l.num_heads * dim))})
  local bias = l[name .. "_bias"]
  if bias then y = G:node("Add", {y, G:weight(name .. "_bias", bias:reshape(l.num_heads * dim))}) end
  y = G:node("Reshape", {y, G:ints("shape", {0, 0, l.num_heads, dim})})
  return transpose(G, y, {0, 2, 1, 3})
end

emit.MultiHeadAttention = function(G, l, xs, opts)
  for _, k in ipairs{"attention_mask", "query_mask", "value_mask", "key_mask", "mask", "return_attention_scores"} do
    if opts[k] then fail(l, "the call option '%s' is not exported", k) end
  end
  local query, value = xs[1], xs[2] or xs[1]
  local key = xs[3] or value
  local q = project(G, l, query.name, "query", l.key_dim)
  local k = project(G, l, key.name, "key", l.key_dim)
  local v = project(G, l, value.name, "value", l.value_dim)
  local scores = G:node("Mul", {G:node("MatMul", {q, transpose(G, k, {0, 1, 3, 2})}),
                                G:scalar("scale", 1 / math.sqrt(l.key_dim))})
  if opts.use_causal_mask then
    local tq, tk = query.shape[2], key.shape[2]
    if tq < 0 or tk < 0 then fail(l, "a causal mask needs known sequence lengths") end
    local rows = {}
    for i = 1, tq do
      rows[i] = {}
      for j = 1, tk do rows[i][j] = j - (tk - tq) > i and -1e9 or 0 end
    end
    local bias = dnn.tensor(rows)
    scores = G:node("Add", {scores, G:weight("causal_mask", bias)})
  end
  local probs = G:node("Softmax", {scores}, {axis = I(-1)})
  local out = transpose(G, G:node("MatMul", {probs, v}), {0, 2, 1, 3})
  out = G:node("Reshape", {out, G:ints("shape", {0, 0, l.num_heads * l.value_dim})})
  local wo = l.output_kernel
  local y = G:node("MatMul", {out, G:weight("output_kernel", wo:reshape(l.num_heads * l.value_dim, l.out_dim))})
  if l.output_bias then y = G:node("Add", {y, G:weight("output_bias", l.output_bias)}) end
  return y
end

-- The blocks of KerasNLP (lua/dnn/layers/transformer.lua), as their sublayers' ops.
local function residual(G, l, norm, x, f)
  if l.normalize_first then
    local normed = {name = sublayer(G, norm, {x}), shape = x.shape}
    return G:node("Add", {x.name, f(normed)})
  end
  local sum = {name = G:node("Add", {x.name, f(x)}), shape = x.shape}
  return sublayer(G, norm, {sum})
end

local function feedforward(G, l, x)
  local hidden = {name = sublayer(G, l.feedforward_intermediate_dense, {x})}
  return sublayer(G, l.feedforward_output_dense, {hidden})
end

emit.TransformerEncoder = function(G, l, xs, opts)
  if opts.padding_mask or opts.attention_mask or opts.mask then fail(l, "masks are not exported") end
  local x = xs[1]
  local mid = {name = residual(G, l, l.self_attention_layer_norm, x, function(y)
    return sublayer(G, l.self_attention_layer, {y, y})
  end), shape = x.shape}
  return residual(G, l, l.feedforward_layer_norm, mid, function(y) return feedforward(G, l, y) end)
end

emit.TransformerDecoder = function(G, l, xs, opts)
  for k in pairs(opts) do
    if k ~= "training" then fail(l, "the call option '%s' is not exported", k) end
  end
  local x, enc = xs[1], xs[2]
  local y = {name = residual(G, l, l.self_attention_layer_norm, x, function(v)
    return sublayer(G, l.self_attention, {v, v}, {use_causal_mask = true})
  end), shape = x.shape}
  if enc then
    y = {name = residual(G, l, l.cross_attention_layer_norm, y, function(v)
      return sublayer(G, l.cross_attention, {v, enc})
    end), shape = x.shape}
  end
  return residual(G, l, l.feedforward_layer_norm, y, function(v) return feedforward(G, l, v) end)
end

emit.TimeDistributed = function(G, l, xs)
  local inner = l.layer
  if inner.type_name ~= "Dense" then fail(l, "only TimeDistributed(Dense) is exported") end
  G:push(inner.name)
  local y = dense(G, inner, xs[1].name)
  G:pop()
  return y
end

-- ---- walking a model ----

local is_layer = require("dnn.layer").is_layer
local functional = require "dnn.functional"

local walk -- forward

-- The values of a call's arguments (a symbolic tensor, or a list of them) and the call's plain options.
local function call_inputs(arg, opts, values, l)
  local xs = {}
  if functional.is_symbolic(arg) then
    xs[1] = values[arg]
  else
    for i, s in ipairs(arg) do xs[i] = values[s] end
  end
  local plain = {}
  for k, v in pairs(opts or {}) do
    if functional.is_symbolic(v) or (type(v) == "table" and getmetatable(v) == nil) then
      fail(l, "the call option '%s' holds tensors, which are not exported", k)
    end
    plain[k] = v
  end
  return xs, plain
end

-- Runs layer l on the probes of xs and emits its nodes; returns its output values.
local function call_layer(G, l, xs, opts)
  if l.type_name == "Sequential" or l.type_name == "Functional" then return walk(G, l, xs) end
  local fn = emit[l.type_name]
  if not fn then fail(l, "has no ONNX export (see docs/onnx.md for the layers that have)") end
  local probes, probe_mask = {}, nil
  for i, x in ipairs(xs) do
    probes[i] = x.probe
    if x.probe_mask then
      if #xs > 1 or not (MASK_PASSES[l.type_name] or MASK_USES[l.type_name]) then
        fail(l, "gets a mask (from mask_zero or Masking), which is not exported for this layer")
      end
      probe_mask = x.probe_mask
    end
  end
  local call_opts = opts
  if probe_mask then
    call_opts = {mask = probe_mask}
    for k, v in pairs(opts) do call_opts[k] = v end
  end
  local results, arg
  if #xs == 1 and not l.min_inputs and l.type_name ~= "MultiHeadAttention" then
    arg = probes[1]
  else
    arg = probes
  end
  results = table.pack(l(arg, call_opts))
  local masks = table.pack(l:compute_mask(arg, probe_mask))
  G:push(l.name)
  if masks[1] then -- the masks of the outputs: made here, or the input's passed on
    xs.out_mask = emit_mask[l.type_name] and emit_mask[l.type_name](G, l, xs) or xs[1].mask
    if not xs.out_mask then fail(l, "makes a mask, which is not exported for this layer") end
  end
  local names = table.pack(fn(G, l, xs, opts))
  G:pop()
  local out = {}
  for i = 1, names.n do
    local shape = {table.unpack(results[i].shape)}
    shape[1] = -1
    out[i] = {name = names[i], shape = shape, probe = results[i]}
    if masks[i] then out[i].mask, out[i].probe_mask = xs.out_mask, masks[i] end
  end
  return out
end

-- A model's graph from input values xs; returns its output values.
function walk(G, model, xs)
  if model.type_name == "Sequential" then
    local values = xs
    for _, l in ipairs(model.layers) do
      values = call_layer(G, l, {values[1]}, {})
      if #values ~= 1 then fail(l, "returns %d results inside a Sequential model", #values) end
    end
    return values
  end
  local values = {}
  for i, s in ipairs(model.inputs) do values[s] = xs[i] end
  for _, node in ipairs(model._order) do
    if not node.is_input then
      local args, l = node.args, node.layer
      local inputs, opts = call_inputs(args[1], args.n >= 2 and args[2] or nil, values, l)
      if l.type_name == "TransformerDecoder" and functional.is_symbolic(args[2]) then
        inputs[2], opts = values[args[2]], {}
      end
      local out = call_layer(G, l, inputs, opts)
      for i, s in ipairs(node.outputs) do values[s] = out[i] end
    end
  end
  local out = {}
  for i, s in ipairs(model.outputs) do out[i] = values[s] end
  return out
end

-- The model's input shapes (batch dim -1), one per input.
local function input_shapes(model)
  if model.type_name == "Functional" then
    local shapes = {}
    for i, s in ipairs(model.inputs) do shapes[i] = {table.unpack(s.shape)} end
    return shapes
  end
  local shape = model.input_shape
  if not shape then
    error("onnx.export: the model has no input shape (start it with nn.Input{...} or call it once)", 0)
  end
  return {{-1, table.unpack(shape)}}
end

-- export(model, opset, name) -> the model table for dnn._onnx.write.
function M.build(model, opset, name)
  local G = graph.new(opset)
  local xs, inputs = {}, {}
  for i, shape in ipairs(input_shapes(model)) do
    local dims, probe_dims = {}, {}
    for d, n in ipairs(shape) do
      if d > 1 and n < 0 then error("onnx.export: input dims other than the batch must be known", 0) end
      dims[d], probe_dims[d] = n, d == 1 and 2 or n
    end
    local input_name = G:fresh(#shape > 0 and (model.type_name == "Functional" and model.inputs[i].node.layer.name
      or "input") or "input")
    xs[i] = {name = input_name, shape = dims, probe = dnn.ones(table.unpack(probe_dims))}
    inputs[i] = {name = input_name, elem_type = 1, dims = dims, dim_params = {"batch"}}
  end
  local was_training = model.training
  model:train(false)
  local ok, out = pcall(dnn.no_grad, function() return walk(G, model, xs) end)
  model:train(was_training)
  if not ok then error(out, 0) end
  local outputs = {}
  for i, v in ipairs(out) do
    -- the graph's outputs by name: an Identity so an output is never an input or initializer
    local final = G:fresh(model.type_name == "Functional" and model.outputs[i].node.layer.name or "output")
    G.nodes[#G.nodes + 1] = {name = final .. "/Identity", op_type = "Identity", inputs = {v.name}, outputs = {final},
                             attrs = {}}
    local dims = {table.unpack(v.shape)}
    outputs[i] = {name = final, elem_type = 1, dims = dims, dim_params = {"batch"}}
  end
  return G:model(inputs, outputs, name or model.name)
end

return M
