-- dnn.inspect(v[, {depth = 2, items = 20}]) -> a one-line
-- text for people: plain tables as Lua constructors ({1, 2, loss = {0.5,
-- 0.4}}), limited in depth and in items so a big table stays readable (as
-- Torch7's trepl and kikito's inspect print them); tensors as their shape,
-- objects by their own __tostring. The REPL prints results with it.
local M = {}

local DEFAULTS = {depth = 2, items = 20}

local function is_identifier(k)
  return type(k) == "string" and k:match("^[%a_][%w_]*$") ~= nil
end

-- Array part first (1..n without holes), then the other keys, sorted by type
-- then value, so the same table always prints the same.
local function ordered_keys(t)
  local n = 0
  while rawget(t, n + 1) ~= nil do n = n + 1 end
  local rest = {}
  for k in next, t do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then rest[#rest + 1] = k end
  end
  table.sort(rest, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end
    if ta == "number" or ta == "string" then return a < b end
    return tostring(a) < tostring(b)
  end)
  return n, rest
end

local function scalar_text(v)
  if type(v) == "string" then return (string.format("%q", v):gsub("\\\n", "\\n")) end
  if math.type(v) == "float" then return string.format("%.6g", v) end
  return tostring(v)
end

local format

local function tensor_text(v)
  local dnn = package.loaded.dnn
  if dnn and dnn.is_tensor and dnn.is_tensor(v) then
    return string.format("tensor(shape={%s})", table.concat(v.shape, ","))
  end
  return nil
end

-- A table with a metatable is an object: it names itself.
local function object_text(v)
  local mt = getmetatable(v)
  if type(mt) == "table" and mt.__tostring then return (tostring(v):gsub("\n.*", " ...")) end
  return nil
end

local function table_text(t, depth, options, seen)
  if seen[t] then return "<cycle>" end
  if depth >= options.depth then return next(t) == nil and "{}" or "{...}" end
  seen[t] = true
  local n, rest = ordered_keys(t)
  local parts, shown = {}, 0
  local total = n + #rest
  local function add(text)
    shown = shown + 1
    parts[#parts + 1] = text
  end
  for i = 1, n do
    if shown == options.items then break end
    add(format(t[i], depth + 1, options, seen))
  end
  for _, k in ipairs(rest) do
    if shown == options.items then break end
    local key = is_identifier(k) and k or "[" .. scalar_text(k) .. "]"
    add(key .. " = " .. format(t[k], depth + 1, options, seen))
  end
  if total > shown then parts[#parts + 1] = string.format("... (%d more)", total - shown) end
  seen[t] = nil
  return "{" .. table.concat(parts, ", ") .. "}"
end

function format(v, depth, options, seen)
  local tensor = tensor_text(v)
  if tensor then return tensor end
  if type(v) == "table" then return object_text(v) or table_text(v, depth, options, seen) end
  if type(v) == "function" or type(v) == "userdata" or type(v) == "thread" then return "<" .. tostring(v) .. ">" end
  return scalar_text(v)
end

local function checked_options(options)
  if options == nil then return DEFAULTS end
  if type(options) ~= "table" then
    error(string.format("inspect: expected an options table {depth, items}, got %s", type(options)), 3)
  end
  local out = {}
  for k, v in pairs(options) do
    if DEFAULTS[k] == nil then error(string.format("inspect: unknown option '%s' (valid options: depth, items)", k), 3) end
    if math.type(v) ~= "integer" or v < 1 then
      error(string.format("inspect: expected %s a positive integer, got %s", k, tostring(v)), 3)
    end
    out[k] = v
  end
  for k, v in pairs(DEFAULTS) do if out[k] == nil then out[k] = v end end
  return out
end

--- dnn.inspect(v[, options])
-- A one-line text of any value for people: a plain table as a Lua
-- constructor (`{1, 2, loss = {0.5, 0.4}}`), keys in a fixed order,
-- limited in depth (`{...}` below it) and in items (`... (N more)`), a
-- cycle as `<cycle>`; a tensor as its shape; an object by its own
-- `__tostring`. The REPL prints plain tables with it.
-- @param v any value
-- @option depth=2 how many levels of tables to open
-- @option items=20 how many entries of a table to show
-- @return a string
-- @example print(dnn.inspect(history.history, {items = 5}))
function M.inspect(v, options)
  return format(v, 0, checked_options(options), {})
end

-- The REPL's printer: tensors and objects print themselves in full (as
-- print does); plain tables through inspect.
function M.print_results(...)
  local n = select("#", ...)
  local texts = {}
  for i = 1, n do
    local v = select(i, ...)
    if type(v) == "table" and getmetatable(v) == nil then
      texts[i] = M.inspect(v)
    else
      texts[i] = tostring(v)
    end
  end
  io.write(table.concat(texts, "\t"), "\n")
end

return M
