-- dnn.onnx.import: an ONNX graph as a dnnlua model.
--
-- The graph becomes one layer, OnnxGraph, whose weights are the graph's
-- float initializers (trainable, so the model can be fine-tuned) and whose
-- forward runs the nodes in order on dnnlua's ops (recorded by autograd).
-- dnn.onnx.load wraps it in a functional model with the graph's inputs.
--
-- Layouts: ONNX's Conv, pools and BatchNormalization are NCHW; dnnlua's
-- kernels are NHWC. Weights are converted once, at load (a Conv's (out, in,
-- kh, kw) becomes the (kh, kw, in, out) kernel of dnnlua's conv op, a
-- recurrent op's gates are put in Keras's order). Activations: a value
-- carries whether it is held NHWC; NCHW ops consume and produce NHWC, the
-- ops that do not care about the layout (elementwise, activations) pass it
-- on, and a value goes back to NCHW (one transpose) only where an op reads
-- its dims (Flatten, Reshape, Transpose, ...), so a CNN from PyTorch pays
-- one transpose at its input and one at its Flatten.
local dnn = require "dnn"
local layer = require "dnn.layer"
local Cconv = require("dnn.core")._conv
local P = require("dnn.core")._pool
local L = require("dnn.core")._layers
local R = require("dnn.core")._rnn

local M = {}
local ops = {} -- op_type -> function(g, node, ins, attrs) -> outputs (values)
M.ops = ops

-- A value: {t = tensor, nhwc = true when t holds NCHW data as NHWC} or {ints = {...}} (shapes, axes).

local function fail(node, fmt, ...)
  error(string.format("node '%s' (%s): " .. fmt, node.name, node.op_type, ...), 0)
end

local function logical(v)
  if v.nhwc then
    local t = v.t
    if t.ndim == 4 then return t:permute(1, 4, 2, 3) end
    return t:permute(1, 3, 2) -- 1-d: (N, T, C) held for (N, C, T)
  end
  return v.t
end

local function to_nhwc(v)
  if v.nhwc then return v.t end
  if v.t.ndim == 4 then return v.t:permute(1, 3, 4, 2) end
  return v.t:permute(1, 3, 2)
end

local function tensor_of(node, v, what)
  if v == nil then fail(node, "expected %s", what or "an input") end
  if v.ints then return dnn.tensor(v.ints) end
  return logical(v)
end

local function ints_of(node, v, what)
  if v and v.ints then return v.ints end
  if v and v.t then -- a small float tensor holding whole numbers
    local out = {}
    for i, x in ipairs(v.t:reshape(-1):totable()) do out[i] = math.tointeger(x) or fail(node, "%s: not integers", what) end
    return out
  end
  fail(node, "expected %s as constant integers", what)
end

local function attr(attrs, name, default)
  local v = attrs[name]
  if v == nil then return default end
  return v
end

-- ---- elementwise ----

local unary = {
  Relu = function(t) return t:relu() end, Sigmoid = function(t) return t:sigmoid() end,
  Tanh = function(t) return t:tanh() end, Exp = function(t) return t:exp() end, Log = function(t) return t:log() end,
  Sqrt = function(t) return t:sqrt() end, Abs = function(t) return t:abs() end, Neg = function(t) return -t end,
  Softplus = function(t) return t:softplus() end, Identity = function(t) return t end,
  Reciprocal = function(t) return 1 / t end,
}
for op, fn in pairs(unary) do
  ops[op] = function(_, _, ins) return {t = fn(ins[1].t), nhwc = ins[1].nhwc} end
end
ops.Dropout = ops.Identity -- inference: the first output only
ops.Elu = function(_, node, ins, attrs)
  if attr(attrs, "alpha", 1.0) ~= 1.0 then fail(node, "alpha other than 1 is not supported") end
  return {t = ins[1].t:elu(), nhwc = ins[1].nhwc}
end
ops.Selu = function(_, _, ins) return {t = ins[1].t:selu(), nhwc = ins[1].nhwc} end
ops.LeakyRelu = function(_, _, ins, attrs)
  local a = attr(attrs, "alpha", 0.01)
  local x = ins[1].t
  return {t = x:relu() - (-x):relu() * a, nhwc = ins[1].nhwc}
end
ops.PRelu = function(_, _, ins)
  local x, slope = logical(ins[1]), logical(ins[2])
  return {t = x:relu() - (-x):relu() * slope}
end
ops.HardSigmoid = function(_, _, ins, attrs)
  local a, b = attr(attrs, "alpha", 0.2), attr(attrs, "beta", 0.5)
  return {t = (ins[1].t * a + b):clamp(0, 1), nhwc = ins[1].nhwc}
end
ops.Gelu = function(_, _, ins) return {t = ins[1].t:gelu(), nhwc = ins[1].nhwc} end -- the Erf pattern, see below
ops.Clip = function(g, node, ins, attrs)
  local lo = ins[2] and ins[2].t and ins[2].t:item() or attr(attrs, "min", -math.huge)
  local hi = ins[3] and ins[3].t and ins[3].t:item() or attr(attrs, "max", math.huge)
  return {t = ins[1].t:clamp(lo, hi), nhwc = ins[1].nhwc}
end

local binary = {
  Add = function(a, b) return a + b end, Sub = function(a, b) return a - b end,
  Mul = function(a, b) return a * b end, Div = function(a, b) return a / b end,
  Max = function(a, b) return dnn.maximum(a, b) end, Min = function(a, b) return dnn.minimum(a, b) end,
  Pow = function(a, b) return a:pow(b) end,
}
local function is_scalar(v) return v.t and v.t:numel() == 1 end

-- Constant integers (a shape, an index) met by a computed tensor: as a float tensor of them.
local function as_tensor(v)
  if not v.ints then return v end
  local t = dnn.tensor(v.ints)
  return {t = v.scalar and t:reshape() or t}
end

local function two_operands(node, ins)
  if not (ins[1] and ins[2]) then fail(node, "expected 2 inputs") end
  if ins[1].ints and ins[2].ints then fail(node, "integer arithmetic on constants is not supported") end
  return as_tensor(ins[1]), as_tensor(ins[2])
end

for op, fn in pairs(binary) do
  ops[op] = function(_, node, ins)
    local a, b = two_operands(node, ins)
    for i = 3, #ins do if op ~= "Max" and op ~= "Min" then fail(node, "expected 2 inputs") end end
    local y
    if (a.nhwc and (b.nhwc or is_scalar(b))) or (b.nhwc and is_scalar(a)) then
      local ta, tb = a.t, b.t
      if is_scalar(a) then ta = a.t:reshape() end
      if is_scalar(b) then tb = b.t:reshape() end
      y = {t = fn(ta, tb), nhwc = true}
    else
      y = {t = fn(logical(a), logical(b))}
    end
    for i = 3, #ins do y = {t = fn(logical(y), logical(ins[i]))} end
    return y
  end
end
ops.Sum = ops.Add

-- Comparisons and logic: booleans are float 0/1 tensors (what dnnlua's eq, gt, ... give).
local compare = {Equal = "eq", Greater = "gt", GreaterOrEqual = "ge", Less = "lt", LessOrEqual = "le"}
for op, method in pairs(compare) do
  ops[op] = function(_, node, ins)
    local a, b = two_operands(node, ins)
    return {t = logical(a)[method](logical(a), logical(b))}
  end
end
ops.Not = function(_, _, ins) return {t = 1 - logical(ins[1])} end
ops.Or = function(_, node, ins)
  local a, b = two_operands(node, ins)
  return {t = dnn.maximum(logical(a), logical(b))}
end
ops.And = function(_, node, ins)
  local a, b = two_operands(node, ins)
  return {t = logical(a) * logical(b)}
end

-- The shape tensors ts broadcast to (NumPy's rule), and each of them expanded to it.
local function broadcast(node, ts)
  local ndim = 0
  for _, t in ipairs(ts) do ndim = math.max(ndim, t.ndim) end
  local shape = {}
  for d = 1, ndim do
    shape[d] = 1
    for _, t in ipairs(ts) do
      local n = t.shape[d - ndim + t.ndim] or 1
      if n ~= 1 then
        if shape[d] ~= 1 and shape[d] ~= n then fail(node, "shapes that do not broadcast") end
        shape[d] = n
      end
    end
  end
  local out = {}
  for i, t in ipairs(ts) do
    while t.ndim < ndim do t = t:unsqueeze(1) end
    out[i] = ndim == 0 and t or t:expand(table.unpack(shape))
  end
  return out, shape
end

-- x where cond, else y: picked (by gather), not blended, so an inf or NaN in the branch not taken stays out.
ops.Where = function(_, node, ins)
  if not (ins[1] and ins[2] and ins[3]) then fail(node, "expected 3 inputs") end
  local full = broadcast(node, {logical(as_tensor(ins[1])), logical(as_tensor(ins[2])), logical(as_tensor(ins[3]))})
  local pick = (full[1]:detach():ne(0) + 1):unsqueeze(-1)
  return {t = dnn.cat({full[3]:unsqueeze(-1), full[2]:unsqueeze(-1)}, -1):gather(-1, pick):squeeze(-1)}
end

-- ---- linear algebra ----

ops.MatMul = function(_, _, ins) return {t = dnn.matmul(logical(ins[1]), logical(ins[2]))} end

ops.Gemm = function(_, _, ins, attrs)
  local a, b = logical(ins[1]), logical(ins[2])
  if attr(attrs, "transA", 0) == 1 then a = a:transpose(1, 2) end
  if attr(attrs, "transB", 0) == 1 then b = b:transpose(1, 2) end
  local y = dnn.matmul(a, b)
  local alpha, beta = attr(attrs, "alpha", 1.0), attr(attrs, "beta", 1.0)
  if alpha ~= 1 then y = y * alpha end
  if ins[3] then
    local c = logical(ins[3])
    y = y + (beta ~= 1 and c * beta or c)
  end
  return {t = y}
end

ops.Softmax = function(g, node, ins, attrs)
  local x = logical(ins[1])
  local axis = attr(attrs, "axis", -1)
  if g.opset < 13 then fail(node, "Softmax before opset 13 flattens its input; not supported") end
  local dim = axis < 0 and axis or axis + 1
  return {t = x:softmax(dim)}
end

-- ---- convolutions and pools (NHWC inside) ----

local function spatial_rank(node, x)
  if x.ndim ~= 3 and x.ndim ~= 4 then fail(node, "expected a 1-d or 2-d image batch, got %d dims", x.ndim) end
  return x.ndim - 2
end

-- The padding: "same", "valid", or explicit {top, left, bottom, right} to apply with zero_pad2d.
local function padding_of(node, attrs, rank)
  local auto = attr(attrs, "auto_pad", "NOTSET")
  if auto == "SAME_UPPER" then return "same" end
  if auto == "VALID" then return "valid" end
  if auto ~= "NOTSET" then fail(node, "auto_pad %s is not supported", auto) end
  local pads = attr(attrs, "pads")
  if not pads then return "valid" end
  local zero = true
  for _, p in ipairs(pads) do zero = zero and p == 0 end
  if zero then return "valid" end
  if rank == 1 then return {0, pads[1], 0, pads[2]} end
  return {pads[1], pads[2], pads[3], pads[4]}
end

-- x (NHWC, or (N, T, C) for rank 1) as (N, H, W, C) and a function putting the result back.
local function as_2d(x, rank)
  if rank == 2 then return x, function(y) return y end end
  return x:unsqueeze(2), function(y) return y:squeeze(2) end
end

local function pad_explicit(x, pad)
  if type(pad) ~= "table" then return x, pad end
  return P.zero_pad2d(x, pad[1], pad[3], pad[2], pad[4]), "valid"
end

ops.Conv = function(g, node, ins, attrs)
  local w = g:weight_of(node, 2)
  local rank = #w.shape - 2
  local x = to_nhwc(ins[1])
  local strides = attr(attrs, "strides", {1, 1})
  local dil = attr(attrs, "dilations", {1, 1})
  if rank == 1 then strides, dil = {1, strides[1]}, {1, dil[1]} end
  local group = attr(attrs, "group", 1)
  local x2, back = as_2d(x, rank)
  local pad
  x2, pad = pad_explicit(x2, padding_of(node, attrs, rank))
  local bias = ins[3] and g:weight_of(node, 3)
  local kernel = g:converted(node, "conv_kernel")
  local y
  if group == 1 then
    y = Cconv.conv2d(x2, kernel, bias, strides[1], strides[2], dil[1], dil[2], pad, "linear")
  elseif group == x2.shape[4] and w.shape[2] == 1 then
    y = Cconv.depthwise_conv2d(x2, kernel, bias, strides[1], strides[2], dil[1], dil[2], pad, "linear")
  else
    fail(node, "grouped convolutions (group %d) other than depthwise are not supported", group)
  end
  return {t = back(y), nhwc = true}
end

ops.ConvTranspose = function(g, node, ins, attrs)
  local x = to_nhwc(ins[1])
  if x.ndim ~= 4 then fail(node, "only 2-d transposed convolutions are supported") end
  local strides = attr(attrs, "strides", {1, 1})
  local kernel = g:converted(node, "conv_transpose_kernel")
  local kh, kw = kernel.shape[1], kernel.shape[2]
  local pads = attr(attrs, "pads", {0, 0, 0, 0})
  local out_pad = attr(attrs, "output_padding", {0, 0})
  local bias = ins[3] and g:weight_of(node, 3)
  local y = Cconv.conv2d_transpose(x, kernel, nil, strides[1], strides[2], 1, 1, "valid", "linear")
  -- valid output: (n - 1) * s + k; ONNX's: that - pads + output_padding
  local h, w = y.shape[2], y.shape[3]
  local top, left = pads[1], pads[2]
  local hh = h - pads[1] - pads[3] + out_pad[1]
  local ww = w - pads[2] - pads[4] + out_pad[2]
  if top + hh > h or left + ww > w then y = P.zero_pad2d(y, 0, math.max(top + hh - h, 0), 0, math.max(left + ww - w, 0)) end
  y = y:narrow(2, top + 1, hh):narrow(3, left + 1, ww)
  if kh < 1 or kw < 1 then fail(node, "empty kernel") end
  if bias then y = y + bias end -- after the output padding, which gets the bias too
  return {t = y, nhwc = true}
end

local function pool(max)
  return function(_, node, ins, attrs)
    local x = to_nhwc(ins[1])
    local rank = spatial_rank(node, x)
    local k = attr(attrs, "kernel_shape")
    local s = attr(attrs, "strides", rank == 1 and {1} or {1, 1})
    if rank == 1 then k, s = {1, k[1]}, {1, s[1]} end
    local d = attr(attrs, "dilations")
    if d then for _, v in ipairs(d) do if v ~= 1 then fail(node, "dilated pooling is not supported") end end end
    if attr(attrs, "ceil_mode", 0) ~= 0 then fail(node, "ceil_mode is not supported") end
    local pad = padding_of(node, attrs, rank)
    if type(pad) == "table" then fail(node, "explicit pads are supported for Conv only") end
    if not max and pad == "same" and attr(attrs, "count_include_pad", 0) ~= 0 then
      fail(node, "count_include_pad is not supported")
    end
    local x2, back = as_2d(x, rank)
    return {t = back(P.pool2d(x2, max, k[1], k[2], s[1], s[2], pad == "same")), nhwc = true}
  end
end
ops.MaxPool, ops.AveragePool = pool(true), pool(false)

local function global_pool(max)
  return function(_, node, ins)
    local x = to_nhwc(ins[1])
    local rank = spatial_rank(node, x)
    local x2 = as_2d(x, rank)
    local y = P.global_pool2d(x2, max, false) -- (N, C)
    local shape = {y.shape[1], y.shape[2], 1}
    if rank == 2 then shape[4] = 1 end
    return {t = y:reshape(table.unpack(shape))}
  end
end
ops.GlobalAveragePool, ops.GlobalMaxPool = global_pool(false), global_pool(true)

ops.BatchNormalization = function(g, node, ins, attrs)
  local x = ins[1]
  local t = x.nhwc and x.t or nil
  if not t then
    t = logical(x)
    if t.ndim == 2 then
      t = t -- (N, C): channels last already
    elseif t.ndim >= 3 then
      x = {t = t}
      t = to_nhwc(x)
    end
  end
  local scale, bias = g:weight_of(node, 2), g:weight_of(node, 3)
  local mean, var = g:weight_of(node, 4), g:weight_of(node, 5)
  local y = L.batch_norm(t, scale, bias, mean, var, false, 0.9, attr(attrs, "epsilon", 1e-5), -1)
  return {t = y, nhwc = t.ndim > 2}
end

ops.LayerNormalization = function(_, node, ins, attrs)
  local x = logical(ins[1])
  local axis = attr(attrs, "axis", -1)
  local naxes = axis < 0 and -axis or x.ndim - axis
  local gamma = ins[2] and logical(ins[2])
  local beta = ins[3] and logical(ins[3])
  if naxes < 1 then fail(node, "axis %d out of range", axis) end
  return {t = L.layer_norm(x, gamma, beta, naxes, attr(attrs, "epsilon", 1e-5))}
end

ops.Resize = function(_, node, ins, attrs)
  local mode = attr(attrs, "mode", "nearest")
  local ctm = attr(attrs, "coordinate_transformation_mode", "half_pixel")
  local scales = ins[3] and ins[3].t and ins[3].t:totable()
  local bilinear = mode == "linear" and (ctm == "half_pixel" or ctm == "pytorch_half_pixel")
  local nearest = mode == "nearest" and ctm == "asymmetric" and attr(attrs, "nearest_mode", "round_prefer_floor") == "floor"
  local function whole(v) return math.tointeger(v) and v >= 1 end
  if scales and #scales == 3 and scales[1] == 1 and nearest then -- 1-d: (N, T, C) or (N, C, T), one axis scaled
    local x = logical(ins[1])
    if scales[3] == 1 and whole(scales[2]) then
      return {t = P.upsample2d(x:unsqueeze(2), 1, math.tointeger(scales[2]), false):squeeze(2)}
    elseif scales[2] == 1 and whole(scales[3]) then
      local y = P.upsample2d(x:transpose(2, 3):unsqueeze(2), 1, math.tointeger(scales[3]), false):squeeze(2)
      return {t = y:transpose(2, 3)}
    end
  end
  if not scales or #scales ~= 4 or scales[1] ~= 1 or scales[2] ~= 1 or not whole(scales[3]) or not whole(scales[4])
      or not (bilinear or nearest) then
    fail(node, "only integer upsampling by constant scales (of H and W, or of one axis of a 1-d sequence), nearest " ..
      "(asymmetric, floor) or linear (half_pixel, 2-d), is supported")
  end
  local y = P.upsample2d(to_nhwc(ins[1]), math.tointeger(scales[3]), math.tointeger(scales[4]), bilinear)
  return {t = y, nhwc = true}
end

-- ---- shapes ----

ops.Flatten = function(_, _, ins, attrs)
  local x = logical(ins[1])
  local axis = attr(attrs, "axis", 1)
  if axis < 0 then axis = x.ndim + axis end
  local a, b = 1, 1
  for d = 1, x.ndim do
    if d <= axis then a = a * x.shape[d] else b = b * x.shape[d] end
  end
  return {t = x:reshape(a, b)}
end

ops.Reshape = function(_, node, ins, attrs)
  local x = logical(ins[1])
  local shape = {table.unpack(ints_of(node, ins[2], "the shape"))}
  for i, d in ipairs(shape) do
    if d == 0 and attr(attrs, "allowzero", 0) == 0 then shape[i] = x.shape[i] end
  end
  return {t = x:reshape(table.unpack(shape))}
end

ops.Transpose = function(_, node, ins, attrs)
  local x = logical(ins[1])
  local perm = attr(attrs, "perm")
  if not perm then
    perm = {}
    for d = 1, x.ndim do perm[d] = x.ndim - d end
  end
  if #perm ~= x.ndim then fail(node, "perm of %d dims for a %d-d input", #perm, x.ndim) end
  local p = {}
  for i, d in ipairs(perm) do p[i] = d + 1 end
  -- a transpose to or from NCHW around an NHWC op (dnnlua's own exports) is a change of layout only
  if #p == 4 and p[1] == 1 and p[2] == 4 and p[3] == 2 and p[4] == 3 and not ins[1].nhwc then
    return {t = ins[1].t, nhwc = true}
  end
  if #p == 4 and p[1] == 1 and p[2] == 3 and p[3] == 4 and p[4] == 2 and ins[1].nhwc then
    return {t = ins[1].t}
  end
  return {t = x:permute(table.unpack(p)):contiguous()}
end

local function axes_of(g, node, ins, attrs, x_ndim, out_ndim)
  local axes = attrs.axes or (ins[2] and ints_of(node, ins[2], "the axes"))
  if not axes then return nil end
  local out = {}
  local n = out_ndim or x_ndim
  for i, a in ipairs(axes) do out[i] = (a < 0 and a + n or a) + 1 end
  table.sort(out)
  return out
end

ops.Squeeze = function(g, node, ins, attrs)
  if ins[1].ints then return ins[1] end
  local x = logical(ins[1])
  local axes = axes_of(g, node, ins, attrs, x.ndim)
  local shape = {}
  for d = 1, x.ndim do
    local drop = false
    if axes then for _, a in ipairs(axes) do drop = drop or a == d end else drop = x.shape[d] == 1 end
    if not drop then shape[#shape + 1] = x.shape[d] end
  end
  return {t = x:reshape(table.unpack(shape))}
end

ops.Unsqueeze = function(g, node, ins, attrs)
  if ins[1].ints then return ins[1] end
  local x = logical(ins[1])
  local axes = axes_of(g, node, ins, attrs, x.ndim, x.ndim + #(attrs.axes or ints_of(node, ins[2], "the axes")))
  local shape, k, out_ndim = {}, 1, x.ndim + #axes
  local set = {}
  for _, a in ipairs(axes) do set[a] = true end
  for d = 1, out_ndim do
    if set[d] then shape[d] = 1 else shape[d], k = x.shape[k], k + 1 end
  end
  return {t = x:reshape(table.unpack(shape))}
end

ops.Concat = function(_, node, ins, attrs)
  local axis = attr(attrs, "axis")
  if ins[1].ints then
    local out = {}
    for _, v in ipairs(ins) do for _, i in ipairs(ints_of(node, v, "a shape part")) do out[#out + 1] = i end end
    return {ints = out}
  end
  local parts = {}
  for i, v in ipairs(ins) do parts[i] = logical(v) end
  return {t = dnn.cat(parts, axis < 0 and axis or axis + 1)}
end

ops.Shape = function(_, _, ins)
  local x = logical(ins[1])
  return {ints = {table.unpack(x.shape)}}
end

ops.Constant = function(g, node, _, attrs)
  local v = attrs.value
  if type(v) ~= "table" then fail(node, "only tensor constants are supported") end
  return g.constant(v)
end

ops.ConstantOfShape = function(_, node, ins, attrs)
  local shape = ints_of(node, ins[1], "the shape")
  local v = attrs.value
  local fill = 0
  if type(v) == "table" then fill = v.values and v.values:reshape(-1):totable()[1] or v.ints[1] end
  if #shape == 0 then return {t = dnn.tensor(fill):reshape()} end
  return {t = dnn.zeros(table.unpack(shape)) + fill}
end

ops.Cast = function(_, node, ins, attrs)
  local to = attr(attrs, "to")
  if ins[1].ints then return ins[1] end
  if to == 7 or to == 6 or to == 9 then return {t = logical(ins[1])} end -- ids and booleans stay floats
  if to == 1 then return ins[1] end
  fail(node, "cast to type %s is not supported", tostring(to))
end

ops.Gather = function(_, node, ins, attrs)
  local axis = attr(attrs, "axis", 0)
  local data, idx = ins[1], ins[2]
  if data.ints then -- a shape's entries
    local i = ints_of(node, idx, "the indices")
    local out = {}
    for k, j in ipairs(i) do out[k] = data.ints[(j < 0 and j + #data.ints or j) + 1] end
    if idx.scalar then return {ints = out, scalar = true} end
    return {ints = out}
  end
  if idx.ints then -- constant indices: rows (or one row) along the axis
    local x = logical(data)
    local a = (axis < 0 and axis + x.ndim or axis) + 1
    local n = x.shape[a]
    local picked = {}
    for k, j in ipairs(idx.ints) do picked[k] = (j < 0 and j + n or j) + 1 end
    if idx.scalar then return {t = x:select(a, picked[1])} end
    return {t = x:index_select(a, dnn.tensor(picked))}
  end
  if axis ~= 0 then fail(node, "Gather of computed indices on axis %d is not supported (axis 0: embeddings)", axis) end
  local table_ = logical(data)
  if table_.ndim ~= 2 then fail(node, "expected a 2-d table for an embedding lookup") end
  local ids = idx.ints and dnn.tensor(idx.ints) or logical(idx)
  return {t = L.embedding(table_, ids + 1, false)}
end

ops.Slice = function(_, node, ins)
  local x = logical(ins[1])
  local starts = ints_of(node, ins[2], "starts")
  local ends = ints_of(node, ins[3], "ends")
  local axes = ins[4] and ints_of(node, ins[4], "axes")
  local steps = ins[5] and ints_of(node, ins[5], "steps")
  for i = 1, #starts do
    local a = axes and axes[i] or i - 1
    if a < 0 then a = a + x.ndim end
    local n = x.shape[a + 1]
    local step = steps and steps[i] or 1
    local s, e = starts[i], ends[i]
    if s < 0 then s = s + n end
    if e < 0 then e = e + n end
    if step == 1 then
      s, e = math.max(0, math.min(s, n)), math.max(0, math.min(e, n))
      x = x:narrow(a + 1, s + 1, math.max(e - s, 0))
    elseif step == -1 and s >= n - 1 and e < 0 then -- the whole axis reversed
      local idx = {}
      for k = 1, n do idx[k] = n - k + 1 end
      x = x:index_select(a + 1, dnn.tensor(idx))
    else
      fail(node, "only steps 1, and -1 over a whole axis, are supported")
    end
  end
  return {t = x}
end

ops.Expand = function(_, node, ins)
  local x = logical(ins[1])
  local shape = ints_of(node, ins[2], "the shape")
  local out = {}
  local off = #shape - x.ndim
  for d = 1, #shape do
    local xd = x.shape[d - off] or 1
    out[d] = (shape[d] == 1) and xd or shape[d]
  end
  while x.ndim < #shape do x = x:unsqueeze(1) end
  return {t = x:expand(table.unpack(out))}
end

ops.Pad = function(_, node, ins, attrs)
  if attr(attrs, "mode", "constant") ~= "constant" then fail(node, "only constant padding is supported") end
  local pads = attrs.pads or ints_of(node, ins[2], "the pads")
  if ins[3] and ins[3].t and ins[3].t:item() ~= 0 then fail(node, "only zero padding is supported") end
  local x = logical(ins[1])
  if x.ndim ~= 4 or pads[1] ~= 0 or pads[5] ~= 0 then fail(node, "only padding of the two middle dims of 4-d is supported") end
  if pads[4] ~= 0 or pads[8] ~= 0 then -- NCHW: pad H and W
    if pads[2] ~= 0 or pads[6] ~= 0 then fail(node, "padding of dims 2, 3 and 4 at once is not supported") end
    local y = P.zero_pad2d(x:permute(1, 3, 4, 2), pads[3], pads[7], pads[4], pads[8])
    return {t = y:permute(1, 4, 2, 3)}
  end
  return {t = P.zero_pad2d(x, pads[2], pads[6], pads[3], pads[7])}
end

local function reduce(kind)
  return function(_, node, ins, attrs)
    local x = logical(ins[1])
    local axes = attrs.axes or (ins[2] and ints_of(node, ins[2], "the axes"))
    local keep = attr(attrs, "keepdims", 1) == 1
    if not axes then
      axes = {}
      for d = 1, x.ndim do axes[d] = d - 1 end
    end
    local dims = {}
    for i, a in ipairs(axes) do dims[i] = (a < 0 and a + x.ndim or a) + 1 end
    table.sort(dims, function(a, b) return a > b end)
    local y = x
    for _, d in ipairs(dims) do
      y = y[kind](y, d, true)
    end
    if not keep then
      local shape = {}
      local drop = {}
      for _, d in ipairs(dims) do drop[d] = true end
      for d = 1, x.ndim do if not drop[d] then shape[#shape + 1] = y.shape[d] end end
      y = y:reshape(table.unpack(shape))
    end
    return {t = y}
  end
end
ops.ReduceMean, ops.ReduceMax, ops.ReduceSum = reduce("mean"), reduce("max"), reduce("sum")

-- The 0-based index of the first (or, with select_last_index, the last) largest value along an axis.
ops.ArgMax = function(_, _, ins, attrs)
  local x = logical(ins[1])
  local axis = attr(attrs, "axis", 0)
  local d = (axis < 0 and axis + x.ndim or axis) + 1
  local keep = attr(attrs, "keepdims", 1) == 1
  local idx
  if attr(attrs, "select_last_index", 0) == 1 then
    local n = x.shape[d]
    local reversed = {}
    for k = 1, n do reversed[k] = n - k + 1 end
    idx = (n - x:index_select(d, dnn.tensor(reversed)):argmax(d, keep))
  else
    idx = x:argmax(d, keep) - 1
  end
  return {t = idx}
end

-- Integer remainders (index arithmetic), computed as whole numbers: fmod = 0 takes the divisor's sign
-- (Python's %), fmod = 1 the dividend's (C's fmod).
ops.Mod = function(_, node, ins, attrs)
  local a, b = two_operands(node, ins)
  local full, shape = broadcast(node, {logical(a):detach(), logical(b):detach()})
  local av, bv = full[1]:contiguous():reshape(-1):totable(), full[2]:contiguous():reshape(-1):totable()
  local c_style = attr(attrs, "fmod", 0) == 1
  local out = {}
  for i = 1, #av do
    if bv[i] == 0 then fail(node, "division by zero") end
    out[i] = c_style and math.fmod(av[i], bv[i]) or av[i] - bv[i] * math.floor(av[i] / bv[i])
  end
  if #shape == 0 then return {t = dnn.tensor(out[1]):reshape()} end
  return {t = dnn.tensor(out):reshape(table.unpack(shape))}
end

-- out[...] = x[...] with the axis's coordinate replaced by index[...] (0-based): PyTorch's gather.
ops.GatherElements = function(_, node, ins, attrs)
  local x, idx = logical(ins[1]), logical(as_tensor(ins[2]))
  if idx.ndim ~= x.ndim then fail(node, "expected indices of rank %d, got %d", x.ndim, idx.ndim) end
  local axis = attr(attrs, "axis", 0)
  local n = x.shape[(axis < 0 and axis + x.ndim or axis) + 1]
  idx = idx:detach()
  idx = idx + idx:lt(0) * n -- negative indices count from the end
  return {t = x:gather((axis < 0 and axis + x.ndim or axis) + 1, idx + 1)}
end

-- ---- recurrent ops ----

local function recurrent_op(cell)
  return function(g, node, ins, attrs)
    local x = logical(ins[1]) -- (T, N, F)
    if attr(attrs, "layout", 0) ~= 0 then fail(node, "layout 1 is not supported") end
    -- sequence_lens (N): step t of sample n counts while t < lens[n]: dnnlua's mask (N, T)
    local mask
    if ins[5] and (ins[5].t or ins[5].ints) then
      local lens = logical(as_tensor(ins[5])):detach():reshape(-1, 1)
      local steps = {}
      for t = 1, x.shape[1] do steps[t] = t - 1 end
      mask = dnn.tensor(steps):reshape(1, -1):lt(lens)
    end
    if attrs.clip then fail(node, "clip is not supported") end
    if cell == "lstm" and ins[8] then fail(node, "peepholes are not supported") end
    local dir = attr(attrs, "direction", "forward")
    local n_dir = dir == "bidirectional" and 2 or 1
    local acts = attr(attrs, "activations")
    local names = {Sigmoid = "sigmoid", Tanh = "tanh", Relu = "relu"}
    local function act(i, default)
      local a = acts and acts[i] or default
      return names[a] or fail(node, "activation %s is not supported", tostring(a))
    end
    local xs = x:transpose(1, 2) -- (N, T, F)
    local ys, hs, cs = {}, {}, {}
    for d = 1, n_dir do
      local w = g:converted(node, "rnn", d)
      local function state(i)
        if not (ins[i] and ins[i].t) then return nil end
        return logical(ins[i]):select(1, d)
      end
      local cfg = {cell = cell, reset_after = w.reset_after, return_sequences = true,
                   go_backwards = (dir == "reverse") or d == 2}
      local k = (d - 1) * (cell == "lstm" and 3 or (cell == "gru" and 2 or 1))
      if cell == "lstm" then
        cfg.recurrent_activation, cfg.activation = act(k + 1, "Sigmoid"), act(k + 2, "Tanh")
        if act(k + 3, "Tanh") ~= cfg.activation then fail(node, "the cell and output activations must agree") end
      elseif cell == "gru" then
        cfg.recurrent_activation, cfg.activation = act(k + 1, "Sigmoid"), act(k + 2, "Tanh")
      else
        cfg.activation = act(k + 1, "Tanh")
      end
      local y, h, c = R.rnn(xs, w.kernel, w.recurrent_kernel, w.bias, state(6), state(7), mask, nil, cfg)
      if cfg.go_backwards then -- dnnlua's output comes in reading order; ONNX's in input order
        local n = y.shape[2]
        local idx = {}
        for i = 1, n do idx[i] = n - i + 1 end
        y = y:index_select(2, dnn.tensor(idx))
      end
      if mask then y = y * mask:unsqueeze(3) end -- ONNX: zeros after a sequence's end, where dnnlua keeps the state
      ys[d], hs[d], cs[d] = y:transpose(1, 2):unsqueeze(2), h:unsqueeze(1), c and c:unsqueeze(1)
    end
    local y = n_dir == 1 and ys[1] or dnn.cat(ys, 2)
    local h = n_dir == 1 and hs[1] or dnn.cat(hs, 1)
    local out = {{t = y}, {t = h}}
    if cell == "lstm" then out[3] = {t = n_dir == 1 and cs[1] or dnn.cat(cs, 1)} end
    return table.unpack(out)
  end
end
ops.LSTM, ops.GRU, ops.RNN = recurrent_op("lstm"), recurrent_op("gru"), recurrent_op("simple")

-- ---- load-time weight conversions ----

-- ONNX's gate blocks (k blocks of U rows) put in Keras's order and transposed: (k*U, F) -> (F, k*U).
local function keras_gates(t, order, units)
  local parts = {}
  for i, g in ipairs(order) do parts[i] = t:narrow(1, (g - 1) * units + 1, units) end
  return dnn.cat(parts, 1):transpose(1, 2):contiguous()
end

local conversions = {}

conversions.conv_kernel = function(w, node, attrs)
  local group = attr(attrs, "group", 1)
  if #w.shape == 3 then w = w:unsqueeze(3) end -- 1-d: (out, in, 1, k)
  if group == 1 then return w:permute(3, 4, 2, 1):contiguous() end -- (kh, kw, in, out)
  -- depthwise: (c * m, 1, kh, kw) -> (kh, kw, c, m)
  local out, _, kh, kw = table.unpack(w.shape)
  return w:reshape(group, out // group, kh, kw):permute(3, 4, 1, 2):contiguous()
end

conversions.conv_transpose_kernel = function(w, node, attrs)
  if attr(attrs, "group", 1) ~= 1 then fail(node, "grouped transposed convolutions are not supported") end
  return w:permute(3, 4, 2, 1):contiguous() -- (in, out, kh, kw) -> (kh, kw, out, in)
end

-- The weights of a recurrent op's direction d in dnnlua's (Keras's) layout.
local function rnn_weights(g, node, attrs, d)
  local cell = ({LSTM = "lstm", GRU = "gru", RNN = "simple"})[node.op_type]
  local units = attr(attrs, "hidden_size")
  local order = ({lstm = {1, 3, 4, 2}, gru = {1, 2, 3}, simple = {1}})[cell] -- ONNX i o f c -> Keras i f c o
  local k = #order
  local w = g:initializer(node, 2):select(1, d)
  local r = g:initializer(node, 3):select(1, d)
  local out = {kernel = keras_gates(w, order, units), recurrent_kernel = keras_gates(r, order, units)}
  local b = node.inputs[4] and node.inputs[4] ~= "" and g:initializer(node, 4):select(1, d)
  if cell == "gru" then out.reset_after = attr(attrs, "linear_before_reset", 0) == 1 end
  if b then
    local wb = keras_gates(b:narrow(1, 1, k * units):reshape(k * units, 1), order, units):reshape(-1)
    local rb = keras_gates(b:narrow(1, k * units + 1, k * units):reshape(k * units, 1), order, units):reshape(-1)
    if out.reset_after then
      out.bias = dnn.stack({wb, rb}, 1)
    else
      out.bias = wb + rb
    end
  elseif out.reset_after then
    out.bias = dnn.zeros(2, k * units)
  end
  return out
end
conversions.rnn = rnn_weights

-- ---- the layer ----

local OnnxGraph = layer.Layer:extend("OnnxGraph")
M.OnnxGraph = OnnxGraph

local function attr_map(node)
  local out = {}
  for _, a in ipairs(node.attrs) do out[a.name] = a.value end
  return out
end

local function constant_value(t)
  if t.ints then
    return {ints = t.ints, scalar = #t.dims == 0}
  end
  return {t = t.values}
end

-- GELU as PyTorch and dnn.onnx.export write it: Div(x, sqrt 2) -> Erf -> Add 1 -> Mul x -> Mul 0.5 (either operand
-- order). Returns the nodes with each such pattern replaced by one Gelu node.
local function fuse_gelu(nodes, initializers)
  local producer, consumers, consts = {}, {}, {}
  for name, t in pairs(initializers) do consts[name] = t end
  for i, n in ipairs(nodes) do
    if n.op_type == "Constant" and n.attrs[1] and type(n.attrs[1].value) == "table" then
      consts[n.outputs[1]] = n.attrs[1].value
    end
    for _, o in ipairs(n.outputs) do producer[o] = i end
    for _, x in ipairs(n.inputs) do
      consumers[x] = consumers[x] or {}
      table.insert(consumers[x], i)
    end
  end
  local function const_is(name, v)
    local c = consts[name]
    return c and c.values and c.values:numel() == 1 and math.abs(c.values:reshape(-1):totable()[1] - v) < 1e-6
  end
  local function only_consumer(name)
    local c = consumers[name]
    return c and #c == 1 and nodes[c[1]] or nil
  end
  local function other(n, name)
    if n.inputs[1] == name then return n.inputs[2] end
    if n.inputs[2] == name then return n.inputs[1] end
  end
  local drop, replace = {}, {}
  for i, n in ipairs(nodes) do
    if n.op_type == "Erf" then
      local div = nodes[producer[n.inputs[1]] or 0]
      local add = only_consumer(n.outputs[1])
      local mul1 = add and add.op_type == "Add" and only_consumer(add.outputs[1])
      local mul2 = mul1 and mul1.op_type == "Mul" and only_consumer(mul1.outputs[1])
      if div and div.op_type == "Div" and const_is(div.inputs[2], math.sqrt(2)) and
          const_is(other(add, n.outputs[1]) or "", 1) and mul2 and mul2.op_type == "Mul" then
        local x = div.inputs[1]
        local y1 = other(mul1, add.outputs[1])
        local half = other(mul2, mul1.outputs[1])
        if y1 == x and const_is(half or "", 0.5) and #(consumers[div.outputs[1]] or {}) == 1 then
          drop[producer[n.inputs[1]]], drop[i] = true, true
          drop[producer[add.outputs[1]]], drop[producer[mul1.outputs[1]]] = true, true
          replace[producer[mul2.outputs[1]]] = {name = mul2.name, op_type = "Gelu", domain = "", inputs = {x},
                                               outputs = mul2.outputs, attrs = {}}
        end
      end
    end
  end
  local out = {}
  for i, n in ipairs(nodes) do
    if replace[i] then out[#out + 1] = replace[i] elseif not drop[i] then out[#out + 1] = n end
  end
  return out
end

local reserved = {name = true, weights = true, built = true, trainable = true, training = true, opset = true,
                  input_shape = true, output = true}

-- A safe weight name: the initializer's, with the characters a field cannot hold replaced.
local function weight_name(name, used)
  local base = name:gsub("[^%w_]", "_")
  if base == "" or base:match("^%d") or base:match("^_") then base = "w_" .. base end
  local n, k = base, 1
  while used[n] or reserved[n] or OnnxGraph[n] ~= nil or layer.Layer[n] ~= nil do
    k = k + 1
    n = base .. "_" .. k
  end
  used[n] = true
  return n
end

-- OnnxGraph(proto, where): proto as dnn._onnx.read gives it.
function OnnxGraph.new(proto, options)
  local self = layer.Layer.init(OnnxGraph, options or {}, "onnx_graph")
  self.opset = proto.opset
  local consts, used = {}, {}
  self._weight_of = {} -- initializer name -> weight tensor
  self._consts = consts
  for _, t in ipairs(proto.initializers) do
    consts[t.name] = t
    if t.values then
      self:add_weight(weight_name(t.name, used), t.values)
      self.weights[#self.weights].source = t.name
      self._weight_of[t.name] = t.values
    end
  end
  local nodes = fuse_gelu(proto.nodes, consts)
  for _, n in ipairs(nodes) do
    if not ops[n.op_type] or (n.domain ~= "" and n.domain ~= "ai.onnx") then
      error(string.format("node '%s': unsupported operator %s%s (opset %d)", n.name,
        n.domain ~= "" and n.domain .. "." or "", n.op_type, proto.opset), 0)
    end
    n.attr_map = attr_map(n)
  end
  self._onnx_nodes = nodes
  self._onnx_inputs, self._onnx_outputs = {}, {}
  for i, v in ipairs(proto.inputs) do self._onnx_inputs[i] = v.name end
  if #proto.inputs > 1 then self.min_inputs, self.max_inputs = #proto.inputs, #proto.inputs end -- g{a, b}
  for i, v in ipairs(proto.outputs) do self._onnx_outputs[i] = v.name end
  -- the conversions made once: weights derived from initializers, trainable in their new layout
  self._converted = {}
  for _, n in ipairs(nodes) do
    local function derive(kind, d)
      local src = n.inputs[2]
      if not (src and self._weight_of[src]) then
        error(string.format("node '%s' (%s): its weights must be initializers", n.name, n.op_type), 0)
      end
      local key = n.name .. "|" .. kind .. "|" .. (d or 1)
      local v = conversions[kind](kind == "rnn" and self or self._weight_of[src], n, n.attr_map, d)
      if kind == "rnn" then
        for _, field in ipairs{"kernel", "recurrent_kernel", "bias"} do
          if v[field] then
            v[field] = v[field]:detach():contiguous():clone()
            self:add_weight(weight_name(n.name .. "_" .. field .. (d and d > 1 and "_reverse" or ""), used), v[field])
          end
        end
      else
        v = v:detach():contiguous():clone()
        self:add_weight(weight_name(src .. "_" .. kind, used), v)
      end
      self._converted[key] = v
    end
    if n.op_type == "Conv" then derive("conv_kernel") end
    if n.op_type == "ConvTranspose" then derive("conv_transpose_kernel") end
    if n.op_type == "LSTM" or n.op_type == "GRU" or n.op_type == "RNN" then
      for d = 1, attr(n.attr_map, "direction", "forward") == "bidirectional" and 2 or 1 do derive("rnn", d) end
    end
  end
  -- initializers used only through a conversion are not weights of their own
  local converted_inputs = {Conv = {[2] = true}, ConvTranspose = {[2] = true}, LSTM = {[2] = true, [3] = true, [4] = true}}
  converted_inputs.GRU, converted_inputs.RNN = converted_inputs.LSTM, converted_inputs.LSTM
  local read = {}
  for _, n in ipairs(nodes) do
    local skip = converted_inputs[n.op_type] or {}
    for i, x in ipairs(n.inputs) do
      if not skip[i] then read[x] = true end
    end
  end
  local kept = {}
  for _, w in ipairs(self.weights) do
    local source = w.source
    if not source or read[source] then kept[#kept + 1] = w else rawset(self, w.name, nil) end
  end
  self.weights = kept
  self.built = true
  return self
end

-- Model files hold layers by their arguments; an imported graph's are its .onnx file.
function OnnxGraph:get_config()
  error(string.format("OnnxGraph '%s' is an imported ONNX graph, which a dnnlua model file cannot hold: keep the " ..
    ".onnx file and load it with dnn.onnx.load (save_weights and load_weights work)", self.name), 0)
end

-- Inside forward: the weight for a node's input i (a trainable initializer).
function OnnxGraph:weight_of(node, i)
  local t = self._weight_of[node.inputs[i]]
  if not t then fail(node, "input %d must be an initializer", i) end
  return t
end

function OnnxGraph:initializer(node, i)
  return self:weight_of(node, i)
end

function OnnxGraph:converted(node, kind, d)
  return self._converted[node.name .. "|" .. kind .. "|" .. (d or 1)]
end

OnnxGraph.constant = function(t) return constant_value(t) end

function OnnxGraph:forward(x)
  local xs = dnn.is_tensor(x) and {x} or x
  local values = {}
  for name, t in pairs(self._consts) do
    values[name] = self._weight_of[name] and {t = self._weight_of[name]} or constant_value(t)
  end
  for i, name in ipairs(self._onnx_inputs) do values[name] = {t = xs[i]} end
  for _, node in ipairs(self._onnx_nodes) do
    local ins = {}
    for i, name in ipairs(node.inputs) do
      if name ~= "" then
        ins[i] = values[name] or fail(node, "input '%s' is not computed before it", name)
      end
    end
    local outs = table.pack(ops[node.op_type](self, node, ins, node.attr_map))
    for i, name in ipairs(node.outputs) do
      if name ~= "" and outs[i] then values[name] = outs[i] end
    end
  end
  local results = {}
  for i, name in ipairs(self._onnx_outputs) do
    local v = values[name] or error(string.format("the graph output '%s' is not computed", name), 0)
    results[i] = v.ints and dnn.tensor(v.ints) or logical(v)
  end
  return table.unpack(results)
end

-- ---- the model ----

-- load(proto, where) -> a functional model of Input(s) -> OnnxGraph.
function M.model(proto, name)
  local g = OnnxGraph.new(proto, {name = name})
  local nn = dnn.nn
  local inputs = {}
  for i, v in ipairs(proto.inputs) do
    if v.elem_type ~= 1 and v.elem_type ~= 7 and v.elem_type ~= 6 then
      error(string.format("input '%s' has element type %d (float and int ids are read)", v.name, v.elem_type), 0)
    end
    if not v.dims or #v.dims < 1 then error(string.format("input '%s' has no shape", v.name), 0) end
    local shape = {}
    for d = 2, #v.dims do shape[d - 1] = v.dims[d] end
    inputs[i] = nn.Input(shape, {name = v.name:gsub("[^%w_]", "_")})
  end
  local outs = table.pack(g(#inputs == 1 and inputs[1] or inputs))
  local outputs = {}
  for i = 1, outs.n do outputs[i] = outs[i] end
  return nn.Model{inputs = #inputs == 1 and inputs[1] or inputs, outputs = #outputs == 1 and outputs[1] or outputs,
                  name = name}
end

return M
