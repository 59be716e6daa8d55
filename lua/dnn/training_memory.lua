-- The training-memory estimate at the end of model:summary{batch_size = n}:
-- the floats one training step holds at its peak, by kind, from the layers'
-- output shapes and what each op's C backward keeps (core/src):
--   weights; their gradients (trainable ones); the optimizer's slots (what
--   its build_state makes, counted, not allocated);
--   kept for backward: the input batch, every layer output (the next op
--   retains it as its input; Dense and the convolutions save their own
--   output for the activation's gradient, an alias), plus per kind:
--   dropout its mask (nn_dropout.c), max pooling its argmax (pool.c), the
--   recurrent layers their tape (rnn.c: the inputs in step order, the gates,
--   the states, LSTM's cell states and tanh(c), GRU's r*h), the loss the
--   gradient of its input (losses.c); views (Flatten, Reshape) nothing;
--   in flight during backward: at the layer where it is largest, the gradient
--   of its output, the activation's gradient (dz) and the gradient of its
--   input (none before the first layer with weights); a recurrent
--   layer's gate and input gradients over all steps; plus the convolutions'
--   im2col workspace (at most 2^21 floats, kept by the calling thread).
-- Not counted: Lua tables, the allocator's slack, BLAS's buffers.
local M = {}

local VIEWS = {InputLayer = true, Flatten = true, Reshape = true}
local MASKED = {Dropout = true, SpatialDropout1D = true, SpatialDropout2D = true, SpatialDropout3D = true}
local ARGMAX = {MaxPooling1D = true, MaxPooling2D = true}
-- per step and example, in units of the layer's units: gates, then the other buffers of the tape
local RNN_TAPE = {LSTM = {gates = 4, states = 3}, GRU = {gates = 3, states = 2}, SimpleRNN = {gates = 1, states = 1}}
local CONV = {Conv1D = true, Conv2D = true, Conv2DTranspose = true, SeparableConv2D = true}
local WORKSPACE_FLOATS = 2 ^ 21 -- CONV_WORKSPACE_FLOATS in core/src/conv.c
local TRANSFORMER_BLOCK = {TransformerEncoder = true, TransformerDecoder = true}

-- A transformer block (lua/dnn/layers/transformer.lua, over the fused attention of attention.c, which keeps no
-- T x T probabilities) keeps per step: its two LayerNorms' inputs and outputs (4d), the attention's q, k, v, output
-- and merged heads (5d), the output projection and the two residual sums (3d), the feed-forward's intermediate
-- before and after the activation (2I); a decoder's cross-attention adds its LayerNorm, queries, output and the
-- encoder's keys and values (about 6d). In flight: the feed-forward's intermediate gradients and a few of d.
local function transformer_block(l, input_shape)
  local t, d, i = input_shape[2] or 1, input_shape[3] or 0, l.intermediate_dim or 0
  local cross = rawget(l, "cross_attention") and 6 * d or 0
  return t * (12 * d + 2 * i + cross), t * (2 * i + 4 * d)
end

-- Elements per example of a shape whose first dim is the batch.
local function per_example(shape)
  if not shape then return 0 end
  local n = 1
  for i = 2, #shape do n = n * math.max(shape[i], 1) end
  return n
end

local function sum_per_example(shapes)
  local n = 0
  for _, s in ipairs(shapes or {}) do n = n + per_example(s) end
  return n
end

-- The floats a recurrent layer's tape keeps per example beyond its output:
-- over T steps, the input (F), k*U of gates and the states.
local function rnn_tape(l, input_shape)
  local kind = RNN_TAPE[l.type_name]
  local t, f, u = input_shape[2] or 1, input_shape[3] or 0, l.units or 0
  return t * (f + (kind.gates + kind.states) * u), t * (f + kind.gates * u)
end

-- Floats per example: kept for backward, and in flight while the layer's backward runs.
local function layer_floats(l, in_shapes, out_shapes, input_needs_no_grad)
  local input, out = sum_per_example(in_shapes), per_example(out_shapes and out_shapes[1])
  local outputs = sum_per_example(out_shapes)
  local grad_in = input_needs_no_grad and 0 or input
  if VIEWS[l.type_name] then return 0, 0 end
  if MASKED[l.type_name] or ARGMAX[l.type_name] then return outputs + out, out + grad_in end
  if TRANSFORMER_BLOCK[l.type_name] and in_shapes and in_shapes[1] then
    local saved, grads = transformer_block(l, in_shapes[1])
    return outputs + saved, grads + grad_in
  end
  if RNN_TAPE[l.type_name] and in_shapes and in_shapes[1] then
    local tape, grads = rnn_tape(l, in_shapes[1])
    return outputs + tape, grads + 2 * out + grad_in
  end
  return outputs, 2 * out + grad_in
end

-- The im2col workspace of a convolution (floats), from its output shape and kernel.
local function conv_workspace(l, in_shapes, out_shapes, batch_size)
  if not CONV[l.type_name] or not (in_shapes and in_shapes[1] and out_shapes and out_shapes[1]) then return 0 end
  local kernel, sizes = 1, l.kernel_size
  for _, k in ipairs(type(sizes) == "table" and sizes or {sizes or 1}) do kernel = kernel * k end
  if kernel == 1 then return 0 end -- pointwise: no im2col
  local channels = in_shapes[1][#in_shapes[1]]
  local positions = per_example(out_shapes[1]) / out_shapes[1][#out_shapes[1]]
  return math.min(WORKSPACE_FLOATS, batch_size * positions * kernel * channels)
end

-- The optimizer's state in floats: what it holds already, or what its
-- build_state would make (run on a stand-in whose slot() only counts).
local function optimizer_floats(opt)
  local held = 0
  for _, list in pairs(opt.state or {}) do
    for _, t in ipairs(list) do held = held + t:numel() end
  end
  if held > 0 then return held end
  local counted = 0
  local dry = setmetatable({state = {}}, {__index = opt})
  function dry.slot(self, name, init)
    for _, p in ipairs(self.params) do
      counted = counted + (init and init(p):numel() or p:numel())
    end
    self.state[name] = {}
    return self.state[name]
  end
  if type(opt.build_state) == "function" then opt.build_state(dry) end
  return counted
end

-- The estimate: {rows = {{label, floats}...}, total = floats, optimizer = name or nil}.
-- shapes[l] and in_shapes[l]: each layer's output and input shapes (batch first, as -1).
function M.estimate(model, batch_size, shapes, in_shapes, input_shape)
  local total_w, trainable = model:count_params()
  local kept, peak, workspace = per_example(input_shape), 0, 0
  local learning = false -- whether a layer before has trainable weights: only then does backward reach its input
  for _, l in ipairs(model.layers) do
    local saved, flight = layer_floats(l, in_shapes[l], shapes[l], not learning)
    kept, peak = kept + saved, math.max(peak, flight)
    learning = learning or select(2, l:count_params()) > 0
    workspace = math.max(workspace, conv_workspace(l, in_shapes[l], shapes[l], batch_size))
  end
  local last = model.layers[#model.layers]
  kept = kept + per_example(last and shapes[last] and shapes[last][1]) -- the loss's saved gradient
  local rows = {{"Weights", total_w}, {"Gradients", trainable}}
  local opt = rawget(model, "optimizer")
  local slots = opt and optimizer_floats(opt)
  if opt then
    local name = opt.name or opt.type_name or "?"
    local per = trainable > 0 and slots % trainable == 0 and string.format(", %d per weight", slots // trainable) or ""
    rows[#rows + 1] = {string.format("Optimizer state (%s%s)", name, per), slots}
  end
  rows[#rows + 1] = {"Activations kept for backward", kept * batch_size}
  rows[#rows + 1] = {"Gradients in flight and workspace", peak * batch_size + workspace}
  local total = 0
  for _, r in ipairs(rows) do total = total + r[2] end
  return {rows = rows, total = total, optimizer = opt and (opt.name or opt.type_name)}
end

return M
