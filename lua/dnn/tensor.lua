-- dnn.tensor: how tensors print, installed as __tostring on the C metatable.
--
-- The layout is NumPy's (and PyTorch's): nested brackets, one row per line,
-- blank lines between blocks of 3-d and up, every number in one width.
-- Whole numbers print as "3." (NumPy's float style); other values with
-- `precision` decimals, or in scientific notation when the magnitudes call
-- for it. Tensors of more than `threshold` elements show `edgeitems` rows at
-- each edge of each dim and "..." between.
--
--   tensor([[1.5000, 2.0000],
--           [3.0000, 4.2500]], shape={2,2}, dtype=float32)

local M = {}

M.options = {precision = 4, threshold = 1000, edgeitems = 3, linewidth = 75}

local PREFIX = "tensor("

-- The values to show as nested Lua tables; `false` marks where a summarised
-- dim was cut. t has no autodiff history (views of it record nothing).
local function collect(t, summarize, edge)
  if t.ndim == 0 then return t:item() end
  local n = t.shape[1]
  local cut = summarize and n > 2 * edge
  if t.ndim == 1 then
    if not cut then return t:totable() end
    local out = t:narrow(1, 1, edge):totable()
    out[#out + 1] = false
    for _, v in ipairs(t:narrow(1, n - edge + 1, edge):totable()) do out[#out + 1] = v end
    return out
  end
  local out = {}
  local function add(i) out[#out + 1] = collect(t[i], summarize, edge) end
  if cut then
    for i = 1, edge do add(i) end
    out[#out + 1] = false
    for i = n - edge + 1, n do add(i) end
  else
    for i = 1, n do add(i) end
  end
  return out
end

local function each_number(node, fn)
  if type(node) == "number" then
    fn(node)
  elseif type(node) == "table" then
    for _, v in ipairs(node) do each_number(v, fn) end
  end
end

local function special(x)
  if x ~= x then return "nan" end
  if x == math.huge then return "inf" end
  if x == -math.huge then return "-inf" end
end

-- A function number -> text, the same style for every value of the tensor.
local function number_format(root, precision)
  local whole, maxabs, minabs = true, 0, math.huge
  each_number(root, function(x)
    if special(x) then return end
    local a = math.abs(x)
    if x ~= math.floor(x) then whole = false end
    if a > maxabs then maxabs = a end
    if a > 0 and a < minabs then minabs = a end
  end)
  local fmt
  if whole and maxabs < 1e8 then
    fmt = "%.0f."
  elseif maxabs >= 1e8 or minabs < 10 ^ -precision then
    fmt = "%." .. precision .. "e"
  else
    fmt = "%." .. precision .. "f"
  end
  return function(x) return special(x) or string.format(fmt, x) end
end

-- Renders the nested table node at depth (0 = outermost) of an ndim-d tensor.
local function render(node, depth, ndim, cell, opts)
  local indent = #PREFIX + depth + 1 -- column just inside this node's "["
  if depth == ndim - 1 then
    local lines, line = {}, {}
    local used = indent
    for i, v in ipairs(node) do
      local text = v == false and "..." or cell(v)
      if i > 1 and used + 2 + #text > opts.linewidth then
        lines[#lines + 1] = table.concat(line, ", ") .. ","
        line, used = {}, indent
      end
      used = used + (#line > 0 and 2 or 0) + #text
      line[#line + 1] = text
    end
    lines[#lines + 1] = table.concat(line, ", ")
    return "[" .. table.concat(lines, "\n" .. string.rep(" ", indent)) .. "]"
  end
  local parts = {}
  for i, child in ipairs(node) do
    parts[i] = child == false and "..." or render(child, depth + 1, ndim, cell, opts)
  end
  local sep = "," .. string.rep("\n", ndim - depth - 1) .. string.rep(" ", indent)
  return "[" .. table.concat(parts, sep) .. "]"
end

-- The text of a tensor, as print() and tostring() show it.
function M.format(t, opts)
  opts = opts or M.options
  local plain = t:detach()
  local summarize = plain:numel() > opts.threshold
  local root = collect(plain, summarize, opts.edgeitems)
  local format = number_format(root, opts.precision)
  local width = 0
  each_number(root, function(x) width = math.max(width, #format(x)) end)
  local cell = function(x)
    local s = format(x)
    return string.rep(" ", width - #s) .. s
  end
  local body = t.ndim == 0 and format(root) or render(root, 0, t.ndim, cell, opts)
  local tail = {"shape={" .. table.concat(t.shape, ",") .. "}", "dtype=" .. t.dtype}
  if t.grad_fn then
    tail[#tail + 1] = "grad_fn=<" .. t.grad_fn .. ">"
  elseif t.requires_grad then
    tail[#tail + 1] = "requires_grad=true"
  end
  return PREFIX .. body .. ", " .. table.concat(tail, ", ") .. ")"
end

-- dnn.set_printoptions{precision = 4, threshold = 1000, edgeitems = 3,
-- linewidth = 75}, as NumPy's and PyTorch's.
function M.set_printoptions(opts)
  if type(opts) ~= "table" then
    error("bad argument #1 to 'set_printoptions' (expected a table, got " .. type(opts) .. ")", 2)
  end
  for k, v in pairs(opts) do
    if M.options[k] == nil then
      error("bad argument #1 to 'set_printoptions' (unknown option '" .. tostring(k) ..
            "', expected precision, threshold, edgeitems or linewidth)", 2)
    end
    if math.type(v) ~= "integer" or v < 0 then
      error("bad argument #1 to 'set_printoptions' (option '" .. k .. "' expected an integer >= 0, got " ..
            tostring(v) .. ")", 2)
    end
  end
  for k, v in pairs(opts) do M.options[k] = v end
end

local mt = debug.getregistry()["dnn.Tensor"]
mt.__tostring = function(t) return M.format(t) end

local dnn = package.loaded.dnn
if type(dnn) == "table" then dnn.set_printoptions = M.set_printoptions end

-- ---- reference: the tensor functions and methods bound in bindings/l_tensor.c ----

--- @module dnn.Tensor Tensors: creation, views, arithmetic, reductions, autodiff
-- A tensor is a float32 n-d array (userdata). Dims are 1-based and a negative
-- dim counts from the end (`-1` is the last). Operators: `a + b`, `a - b`,
-- `a * b`, `a / b`, `a ^ b` (elementwise, NumPy broadcasting, numbers too),
-- `-a`, `#a` (size of dim 1), `a[i]` (select along dim 1, a view; `a[i] = v`
-- writes), `a == b` (the same tensor; `eq` compares values; `a < b` is an
-- error: use `lt`, `le`, `gt`, `ge`). Methods named
-- with a trailing `_` write in place. Most methods are also functions of
-- `dnn`: `dnn.exp(t)` is `t:exp()`. `local t <close> = ...` releases the
-- handle at the end of the scope (views and clones taken from it stay
-- valid); a released or finalized handle raises "tensor was freed" on any
-- use. `getmetatable(t)` is false (the metatable is protected).

--- dnn.Tensor.shape
-- The dims as a Lua array (`{3, 2}`); a new table each read.
-- @example print(dnn.zeros(3, 2).shape)

--- dnn.Tensor.ndim
-- The number of dims (0 for a scalar tensor).
-- @example assert(dnn.zeros(3, 2).ndim == 2)

--- dnn.Tensor.dtype
-- The element type as a string: always `"float32"`.
-- @example print(dnn.ones(2).dtype)

--- dnn.Tensor.requires_grad
-- Whether operations on this tensor are recorded for `backward`; settable
-- on a leaf (`w.requires_grad = true`), reads back as a boolean.
-- @example local w = dnn.randn(3); w.requires_grad = true

--- dnn.Tensor.grad
-- The gradient `backward` accumulated into this leaf (a tensor of its
-- shape), or nil. `t.grad = nil` clears it.
-- @example local g = w.grad

--- dnn.Tensor.grad_fn
-- The name of the op that made this tensor (a string such as `"matmul"`),
-- or nil for a leaf.
-- @example print((w * 2).grad_fn)

--- dnn.Tensor.is_leaf
-- True when the tensor was not made by a recorded op (an input or a weight).
-- @example assert(dnn.zeros(2).is_leaf)

--- dnn.tensor(data[, options])
-- A new tensor from a number, a nested Lua array of numbers (rows of equal
-- length), or a tensor (copied).
-- @option requires_grad=false record operations for backward
-- @example local t = dnn.tensor{{1, 2}, {3, 4}}

--- dnn.zeros(shape...[, options])
-- A tensor of zeros; the shape as sizes (`dnn.zeros(3, 2)`) or one array (`dnn.zeros{3, 2}`).
-- @option requires_grad=false record operations for backward
-- @example local z = dnn.zeros(3, 2, {requires_grad = true})

--- dnn.ones(shape...[, options])
-- A tensor of ones; shapes as `dnn.zeros`.
-- @option requires_grad=false record operations for backward
-- @example local o = dnn.ones{2, 2}

--- dnn.full(shape, value[, options])
-- A tensor filled with `value`; the shape as sizes or one array.
-- @option requires_grad=false record operations for backward
-- @example local f = dnn.full({2, 3}, 0.5)

--- dnn.rand(shape...[, options])
-- Uniform draws in [0, 1) from the seeded generator (`dnn.manual_seed`).
-- @option requires_grad=false record operations for backward
-- @example local r = dnn.rand(4, 4)

--- dnn.randn(shape...[, options])
-- Standard normal draws from the seeded generator.
-- @option requires_grad=false record operations for backward
-- @example local w = dnn.randn(3, 1, {requires_grad = true})

--- dnn.arange([start, ]stop[, step][, options])
-- The numbers from `start` (default 0) up to but not including `stop`, as
-- NumPy: `dnn.arange(1, 4)` is `{1, 2, 3}`.
-- @option requires_grad=false record operations for backward
-- @example local r = dnn.arange(0, 1, 0.25)

--- dnn.linspace(start, stop[, n][, options])
-- `n` evenly spaced numbers from `start` to `stop`, both included; n defaults to 50, as NumPy.
-- @option requires_grad=false record operations for backward
-- @example local x = dnn.linspace(-1, 1, 5)

--- dnn.eye(n[, m])
-- The identity matrix (n, m); m defaults to n.
-- @example local i = dnn.eye(3)

--- dnn.cat(tensors, dim)
-- Joins tensors along an existing dim; the others must match. Differentiable.
-- @example local c = dnn.cat({a, b}, 1)

--- dnn.stack(tensors, dim)
-- Joins tensors of one shape along a new dim; `dim` counts in the result (`-1` is a new last axis).
-- @example local s = dnn.stack({a, b}, 1)

--- dnn.one_hot(labels, num_classes)
-- One-hot rows for 1-based class ids: shape `labels.shape .. {num_classes}`.
-- @alias dnn.Tensor:one_hot
-- @example local y1 = dnn.one_hot(dnn.tensor{1, 3}, 3)

--- dnn.matmul(a, b)
-- The matrix product; batched (with broadcasting of the batch dims) when
-- ndim > 2; a 1-d operand is a vector. Differentiable.
-- @alias dnn.Tensor:matmul
-- @example local y = x:matmul(w)

--- dnn.is_tensor(v)
-- True when `v` is a dnn tensor.
-- @example assert(dnn.is_tensor(dnn.zeros(1)))

--- dnn.manual_seed(seed)
-- Seeds the one generator behind every random draw in dnn (rand, randn,
-- initializers, dropout, shuffling, augmentation).
-- @example dnn.manual_seed(42)

--- dnn.Tensor:numel()
-- The number of elements.
-- @alias dnn.numel
-- @return an integer
-- @example print(dnn.zeros(3, 2):numel())

--- dnn.Tensor:size([dim])
-- The shape as an array, or the size of one dim.
-- @return a Lua array of sizes, or an integer
-- @example local n = x:size(1)

--- dnn.Tensor:dim()
-- The number of dims (as `t.ndim`).
-- @return an integer
-- @example print(x:dim())

--- dnn.Tensor:reshape(shape...)
-- The same elements in a new shape (a view when the layout allows, else a
-- copy); one size may be `-1`, inferred.
-- @alias dnn.reshape
-- @example local flat = x:reshape(-1)

--- dnn.Tensor:view(shape...)
-- As reshape, but always a view: an error when the layout does not allow one.
-- @example local v = x:view(4, 1)

--- dnn.Tensor:transpose([dim1, dim2])
-- A view with two dims swapped (default the first two).
-- @alias dnn.transpose
-- @example local xt = x:transpose(1, 2)

--- dnn.Tensor:permute(dims...)
-- A view with the dims reordered: `t:permute(2, 1)`.
-- @alias dnn.permute
-- @example local nchw = x:permute(1, 4, 2, 3)

--- dnn.Tensor:narrow(dim, start, length)
-- A view of `length` entries of `dim` from `start` (1-based).
-- @alias dnn.narrow
-- @example local first_two = x:narrow(1, 1, 2)

--- dnn.Tensor:select(dim, index)
-- A view of one index of `dim`, that dim removed; `t[i]` is `t:select(1, i)`.
-- @alias dnn.select
-- @example local column = x:select(2, 1)

--- dnn.Tensor:expand(shape...)
-- A view that repeats size-1 dims to the given sizes (`-1` keeps a size), without copying.
-- @alias dnn.expand
-- @example local e = dnn.ones(1, 3):expand(4, 3)

--- dnn.Tensor:squeeze([dim])
-- A view without size-1 dims (all, or only `dim`).
-- @alias dnn.squeeze
-- @example local v = dnn.zeros(3, 1):squeeze()

--- dnn.Tensor:unsqueeze(dim)
-- A view with a new size-1 dim at `dim` (`-1`: a new last dim).
-- @alias dnn.unsqueeze
-- @example local col = dnn.zeros(3):unsqueeze(-1)

--- dnn.Tensor:contiguous()
-- The tensor itself when its elements are in row-major order, else a row-major copy.
-- @example local c = x:transpose(1, 2):contiguous()

--- dnn.Tensor:is_contiguous()
-- Whether the elements are in row-major order with no gaps.
-- @return a boolean
-- @example print(x:transpose(1, 2):is_contiguous())

--- dnn.Tensor:clone()
-- A copy with its own storage; differentiable.
-- @alias dnn.clone
-- @example local c = x:clone()

--- dnn.Tensor:totable()
-- The values as nested Lua arrays (a number for a 0-d tensor).
-- @return nested Lua arrays (or a number)
-- @example local rows = dnn.eye(2):totable()

--- dnn.Tensor:item()
-- The value of a one-element tensor as a Lua number.
-- @return a Lua number
-- @example local v = loss:item()

--- dnn.Tensor:fill(value)
-- Sets every element to `value`, in place (also through a view); returns the tensor.
-- @example x:fill(0)

--- dnn.Tensor:zero()
-- Sets every element to 0, in place; returns the tensor.
-- @example w.grad:zero()

--- dnn.Tensor:copy(src)
-- Copies `src` (a tensor broadcast to this shape, or a number) into the tensor, in place; returns the tensor.
-- @example x:copy(dnn.ones(2, 2))

--- dnn.Tensor:split(size[, dim])
-- Pieces of `size` along `dim` (default 1; the last may be shorter), as several results (views).
-- @example local a, b = dnn.arange(4):split(2)

--- dnn.Tensor:index_select(dim, index)
-- The entries of `dim` at the 1-based ids of the 1-d tensor `index`.
-- @alias dnn.index_select
-- @example local rows = x:index_select(1, dnn.tensor{3, 1})

--- dnn.Tensor:gather(dim, index)
-- Picks along `dim` by 1-based ids: `out[i][j] = t[i][index[i][j]]` for dim 2 (PyTorch's gather).
-- @alias dnn.gather
-- @example local picked = probs:gather(2, labels:unsqueeze(-1))

--- dnn.Tensor:add(u)
-- Elementwise `t + u` (a tensor or number; broadcasting).
-- @alias dnn.add
-- @example local s = x:add(1)

--- dnn.Tensor:sub(u)
-- Elementwise `t - u`.
-- @alias dnn.sub
-- @example local d = x:sub(y)

--- dnn.Tensor:mul(u)
-- Elementwise `t * u`.
-- @alias dnn.mul
-- @example local p = x:mul(2)

--- dnn.Tensor:div(u)
-- Elementwise `t / u`.
-- @alias dnn.div
-- @example local q = x:div(255)

--- dnn.Tensor:pow(u)
-- Elementwise `t ^ u`.
-- @alias dnn.pow
-- @example local sq = x:pow(2)

--- dnn.Tensor:neg()
-- Elementwise `-t`.
-- @alias dnn.neg
-- @example local n = x:neg()

--- dnn.Tensor:add_(u)
-- `t = t + u` in place; refused on a leaf that requires grad (outside `no_grad`). Returns the tensor.
-- @example acc:add_(x)

--- dnn.Tensor:sub_(u)
-- `t = t - u` in place, as `add_`.
-- @example w:sub_(w.grad * 0.1)

--- dnn.Tensor:mul_(u)
-- `t = t * u` in place, as `add_`.
-- @example x:mul_(0.5)

--- dnn.Tensor:div_(u)
-- `t = t / u` in place, as `add_`.
-- @example x:div_(255)

--- dnn.Tensor:exp()
-- Elementwise e^t.
-- @alias dnn.exp
-- @example local e = x:exp()

--- dnn.Tensor:log()
-- Elementwise natural logarithm.
-- @alias dnn.log
-- @example local l = p:log()

--- dnn.Tensor:sqrt()
-- Elementwise square root.
-- @alias dnn.sqrt
-- @example local r = v:sqrt()

--- dnn.Tensor:square()
-- Elementwise t^2.
-- @alias dnn.square
-- @example local s = x:square()

--- dnn.Tensor:abs()
-- Elementwise |t|.
-- @alias dnn.abs
-- @example local a = x:abs()

--- dnn.Tensor:clamp([min, max])
-- Each element limited to [min, max] (either may be nil).
-- @alias dnn.clamp
-- @example local p = x:clamp(0, 1)

--- dnn.Tensor:clamp_([min, max])
-- `clamp` in place; returns the tensor.
-- @example w:clamp_(-0.01, 0.01)

--- dnn.Tensor:relu()
-- max(t, 0).
-- @alias dnn.relu
-- @example local h = x:relu()

--- dnn.Tensor:leaky_relu([alpha])
-- t where t > 0, else alpha * t; alpha defaults to 0.2 (Keras's).
-- @alias dnn.leaky_relu
-- @example local h = x:leaky_relu(0.1)

--- dnn.Tensor:elu([alpha])
-- t where t > 0, else alpha * (e^t - 1); alpha defaults to 1.
-- @alias dnn.elu
-- @example local h = x:elu()

--- dnn.Tensor:selu()
-- The scaled ELU of self-normalizing networks (Keras's constants).
-- @alias dnn.selu
-- @example local h = x:selu()

--- dnn.Tensor:gelu()
-- The Gaussian error linear unit (the erf form, Keras's default).
-- @alias dnn.gelu
-- @example local h = x:gelu()

--- dnn.Tensor:sigmoid()
-- 1 / (1 + e^-t).
-- @alias dnn.sigmoid
-- @example local p = logits:sigmoid()

--- dnn.Tensor:hard_sigmoid()
-- The piecewise-linear sigmoid of Keras 3: relu6(t + 3) / 6.
-- @alias dnn.hard_sigmoid
-- @example local p = x:hard_sigmoid()

--- dnn.Tensor:tanh()
-- Hyperbolic tangent.
-- @alias dnn.tanh
-- @example local h = x:tanh()

--- dnn.Tensor:softplus()
-- log(1 + e^t).
-- @alias dnn.softplus
-- @example local h = x:softplus()

--- dnn.Tensor:swish()
-- t * sigmoid(t) (SiLU).
-- @alias dnn.swish
-- @example local h = x:swish()

--- dnn.Tensor:softmax([dim])
-- Softmax along `dim` (default the last).
-- @alias dnn.softmax
-- @example local probs = logits:softmax(-1)

--- dnn.Tensor:log_softmax([dim])
-- log(softmax) along `dim` (default the last), computed stably.
-- @alias dnn.log_softmax
-- @example local lp = logits:log_softmax(-1)

--- dnn.Tensor:eq(u)
-- Elementwise `t == u` as a 0/1 float tensor (Lua's `==` on userdata can only give a boolean).
-- @alias dnn.eq
-- @example local acc = pred:argmax(-1):eq(y):mean()

--- dnn.Tensor:ne(u)
-- Elementwise `t ~= u` as 0/1.
-- @alias dnn.ne
-- @example local wrong = pred:ne(y)

--- dnn.Tensor:lt(u)
-- Elementwise `t < u` as 0/1.
-- @alias dnn.lt
-- @example local neg = x:lt(0)

--- dnn.Tensor:le(u)
-- Elementwise `t <= u` as 0/1.
-- @alias dnn.le
-- @example local m = x:le(0.5)

--- dnn.Tensor:gt(u)
-- Elementwise `t > u` as 0/1.
-- @alias dnn.gt
-- @example local pos = x:gt(0)

--- dnn.Tensor:ge(u)
-- Elementwise `t >= u` as 0/1.
-- @alias dnn.ge
-- @example local m = x:ge(0.5)

--- dnn.Tensor:maximum(u)
-- Elementwise maximum of two tensors (broadcasting).
-- @alias dnn.maximum
-- @example local m = a:maximum(b)

--- dnn.Tensor:minimum(u)
-- Elementwise minimum of two tensors.
-- @alias dnn.minimum
-- @example local m = a:minimum(b)

--- dnn.Tensor:sum([dim[, keepdim]])
-- The sum of all elements (a 0-d tensor), or along `dim`, keeping it as size 1 when `keepdim`.
-- @alias dnn.sum
-- @example local rows = x:sum(2)

--- dnn.Tensor:mean([dim[, keepdim]])
-- The mean of all elements or along `dim`.
-- @alias dnn.mean
-- @example local m = x:mean(-1, true)

--- dnn.Tensor:var([dim[, keepdim[, correction]]])
-- The variance; population (correction 0) by default, as Keras and NumPy; 1 for the sample variance.
-- @alias dnn.var
-- @example local v = x:var(1, false, 1)

--- dnn.Tensor:max([dim[, keepdim]])
-- The maximum of all elements or along `dim`; `t:max(u)` with a tensor is elementwise (as `maximum`).
-- @alias dnn.max
-- @example local m = x:max(2)

--- dnn.Tensor:min([dim[, keepdim]])
-- The minimum of all elements or along `dim`; `t:min(u)` is elementwise.
-- @alias dnn.min
-- @example local m = x:min()

--- dnn.Tensor:argmax([dim[, keepdim]])
-- The 1-based position of the maximum (of all elements, flattened, or along `dim`).
-- @alias dnn.argmax
-- @example local classes = probs:argmax(-1)

--- dnn.Tensor:argmin([dim[, keepdim]])
-- The 1-based position of the minimum.
-- @alias dnn.argmin
-- @example local i = d:argmin(-1)

--- dnn.Tensor:backward([gradient][, options])
-- Computes the gradients of this tensor with respect to every leaf that
-- requires grad, accumulating into their `.grad`. A non-scalar needs `gradient`
-- (its shape); an error on a tensor that needs no grad.
-- @option retain_graph=false keep the graph for another backward
-- @option create_graph=false record the backward itself (gradients of gradients)
-- @return nothing
-- @example loss:backward()

--- dnn.Tensor:detach()
-- The same values with no history (shares storage).
-- @alias dnn.detach
-- @example local c = loss:detach()

--- dnn.Tensor:requires_grad_([on])
-- Sets `requires_grad` (default true) on a leaf; returns the tensor.
-- @example local w = dnn.randn(3):requires_grad_()

--- dnn.set_printoptions(options)
-- How tensors print, as NumPy's and PyTorch's.
-- @option precision=4 decimals shown
-- @option threshold=1000 more elements than this are summarised
-- @option edgeitems=3 rows shown at each edge of a summarised dim
-- @option linewidth=75 characters per line
-- @example dnn.set_printoptions{precision = 2}

return M
