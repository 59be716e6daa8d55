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

return M
