-- The REPL's Tab completion (bindings/dnnlua.c calls complete): global
-- names and keywords; fields after "." and methods after ":" of any chain
-- expression: names, fields, indexes with literal keys or global names, and
-- calls whose result's class is known without calling anything:
--   model.layers[1]:    the value, looked up (indexing only, never a call)
--   dnn.nn.Dense(3):    calling a class makes an instance of that class
--   x:sum():            a tensor method whose reference entry has no @return
--                       other than "a tensor ..." gives a tensor
-- Any other call (a function, a method of a table) offers nothing: running
-- user code on Tab could have side effects.
local M = {}

local KEYWORDS = {"and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in",
                  "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while"}

local TENSOR_MT = debug.getregistry()["dnn.Tensor"]

local function help_entry(name) return require("dnn.help").entry(name) end

-- ---- names a value offers ----

-- Adds the identifier keys of table t starting with partial to the set out
-- (functions only for methods; metamethods only when partial starts "__").
local function add_keys(t, partial, methods_only, out)
  for k, v in next, t do
    if type(k) == "string" and k:match("^[%a_][%w_]*$") and k:sub(1, #partial) == partial
       and (not k:match("^__") or partial:match("^__")) and (not methods_only or type(v) == "function") then
      out[k] = true
    end
  end
end

local add_reachable

-- The names an object with metatable mt finds through __index: a table
-- (and its own chain), or a function whose upvalues hold the tables it
-- looks in (a class: Layer:extend's __index closes over the class; the
-- tensor's C __index over dnn.Tensor).
local function add_through(mt, partial, methods_only, out, seen, depth)
  if type(mt) ~= "table" or depth > 16 then return end
  local index = rawget(mt, "__index")
  if type(index) == "table" then
    add_reachable(index, partial, methods_only, out, seen, depth + 1)
  elseif type(index) == "function" and not seen[index] then
    seen[index] = true
    add_keys(mt, partial, true, out)
    for u = 1, 255 do
      local name, v = debug.getupvalue(index, u)
      if name == nil then break end
      if type(v) == "table" and v ~= _G then
        add_reachable(v, partial, true, out, seen, depth + 1)
      elseif type(v) == "function" and name ~= "_ENV" then
        add_through({__index = v}, partial, methods_only, out, seen, depth + 1) -- a wrapper's inner __index
      end
    end
  end
end

function add_reachable(v, partial, methods_only, out, seen, depth)
  if type(v) == "table" then
    if seen[v] then return end
    seen[v] = true
    add_keys(v, partial, methods_only, out)
  end
  local mt = getmetatable(v)
  add_through(mt, partial, methods_only, out, seen, depth)
end

-- ---- the expression before the separator ----

local function skip_space(s, i) return s:match("^%s*()", i) end

-- The position after a balanced group opening at i ("(", "[", "{"), quoted
-- strings skipped; nil when the group does not close.
local CLOSE = {["("] = ")", ["["] = "]", ["{"] = "}"}
local function after_group(s, i)
  local stack = {CLOSE[s:sub(i, i)]}
  i = i + 1
  while i <= #s do
    local c = s:sub(i, i)
    if c == '"' or c == "'" then
      local j = i + 1
      while j <= #s and s:sub(j, j) ~= c do j = j + (s:sub(j, j) == "\\" and 2 or 1) end
      if j > #s then return nil end
      i = j
    elseif CLOSE[c] then
      stack[#stack + 1] = CLOSE[c]
    elseif c == stack[#stack] then
      stack[#stack] = nil
      if #stack == 0 then return i + 1 end
    elseif c == ")" or c == "]" or c == "}" then
      return nil
    end
    i = i + 1
  end
end

-- A literal key ("a", 'a', 3, true) or a global name, as a value, or nil.
local function literal_key(text)
  text = text:match("^%s*(.-)%s*$")
  if text:match("^%-?%d+%.?%d*$") then return true, math.tointeger(tonumber(text)) or tonumber(text) end
  local q, body = text:match("^([\"'])([^\"'\\]*)%1$")
  if q then return true, body end
  if text == "true" or text == "false" then return true, text == "true" end
  if text:match("^[%a_][%w_]*$") then return true, rawget(_G, text) end
  return false
end

-- s as a chain: a list of steps, or nil when s is not one entirely.
local function parse_chain(s)
  local name, i = s:match("^([%a_][%w_]*)()")
  if not name then return nil end
  local steps = {{"global", name}}
  while true do
    i = skip_space(s, i)
    if i > #s then return steps end
    local c = s:sub(i, i)
    if c == "." then
      local field, j = s:match("^%s*([%a_][%w_]*)()", i + 1)
      if not field then return nil end
      steps[#steps + 1], i = {"field", field}, j
    elseif c == "[" then
      local j = after_group(s, i)
      if not j then return nil end
      local ok, key = literal_key(s:sub(i + 1, j - 2))
      if not ok then return nil end
      steps[#steps + 1], i = {"field", key}, j
    elseif c == ":" then
      local method, j = s:match("^%s*([%a_][%w_]*)%s*()", i + 1)
      if not method then return nil end
      local k, open = nil, s:sub(j, j)
      if open == "(" or open == "{" then
        k = after_group(s, j)
      elseif open == '"' or open == "'" then
        k = select(2, s:match("^([\"']).-%1()", j))
      end
      if not k then return nil end
      steps[#steps + 1], i = {"method", method}, k
    elseif c == "(" or c == "{" then
      local j = after_group(s, i)
      if not j then return nil end
      steps[#steps + 1], i = {"call"}, j
    else
      return nil
    end
  end
end

-- The longest chain that ends s (its start: after no name character, dot or colon).
local function trailing_chain(s)
  for start = 1, #s do
    local prev = start > 1 and s:sub(start - 1, start - 1) or " "
    if s:sub(start, start):match("[%a_]") and not prev:match("[%w_.:]") then
      local steps = parse_chain(s:sub(start))
      if steps then return steps end
    end
  end
end

-- Whether the tensor method `name` gives a tensor: its entry has no
-- @return, or one that begins "a tensor" / "the tensor".
local function gives_tensor(name)
  local e = help_entry("dnn.Tensor:" .. name)
  if not e then return false end
  local r = e.returns and e.returns:lower()
  return r == nil or r:match("^an? tensor") ~= nil or r:match("^the tensor") ~= nil
end

-- A class: a callable table that its instances take as metatable (it has
-- its own __index), as Layer:extend, the optimizers and callbacks make.
local function is_class(v)
  local mt = type(v) == "table" and getmetatable(v)
  return type(mt) == "table" and mt.__call ~= nil and rawget(v, "__index") ~= nil
end

local function is_tensor(v) return debug.getmetatable(v) == TENSOR_MT end

-- What the chain gives, without calling anything: {value = v},
-- {instance_of = class}, {tensor = true}, or nil when it cannot be known.
local function evaluate(steps)
  local r
  for _, step in ipairs(steps) do
    local kind, arg = step[1], step[2]
    if kind == "global" then
      r = {value = rawget(_G, arg)}
    elseif kind == "field" then
      if r.value == nil or not (type(r.value) == "table" or type(r.value) == "userdata") then return nil end
      local ok, v = pcall(function() return r.value[arg] end) -- __index may run: a lookup, not a call
      if not ok then return nil end
      r = {value = v}
    elseif kind == "method" then
      if not (r.tensor or is_tensor(r.value)) or not gives_tensor(arg) then return nil end
      r = {tensor = true}
    elseif kind == "call" then
      if is_class(r.value) then
        r = {instance_of = r.value}
      else
        local e = type(r.value) == "function" and require("dnn.help").entry_of(r.value)
        local method = e and e.name:match("^dnn%.Tensor:([%w_]+)$")
        if not (method and gives_tensor(method)) then return nil end
        r = {tensor = true} -- dnn.exp(x): an alias of a tensor method
      end
    end
    if r.value == nil and not r.tensor and not r.instance_of then return nil end
  end
  return r
end

-- The names after "." (methods_only false) or ":" of what r stands for.
local function names_of(r, partial, methods_only)
  local out, seen = {}, {}
  if r.value ~= nil then
    add_reachable(r.value, partial, methods_only, out, seen, 0)
  elseif r.instance_of then
    add_through(r.instance_of, partial, true, out, seen, 0)
  end
  if r.tensor or is_tensor(r.value) then
    add_through(TENSOR_MT, partial, methods_only, out, seen, 0)
    if not methods_only then -- the fields the C __index answers (shape, grad, ...), from the reference
      for _, e in ipairs(require("dnn.help").module_entries("dnn.Tensor")) do
        local field = e.name:match("^dnn%.Tensor%.([%w_]+)$")
        if field and field:sub(1, #partial) == partial then out[field] = true end
      end
    end
  end
  return out
end

-- complete(line, word): the completions of word, the end of
-- line (the text before the cursor), as whole replacements of word.
function M.complete(line, word)
  local partial = line:match("[%a_][%w_]*$") or ""
  local before = line:sub(1, #line - #partial)
  local sep = before:sub(-1)
  local names
  if sep == "." or sep == ":" then
    if before:sub(-2) == ".." then return {} end -- concatenation
    local steps = trailing_chain(before:sub(1, -2))
    local r = steps and evaluate(steps)
    names = r and names_of(r, partial, sep == ":") or {}
  else
    names = {}
    add_reachable(_G, partial, false, names, {}, 0)
    for _, k in ipairs(KEYWORDS) do
      if k:sub(1, #partial) == partial then names[k] = true end
    end
  end
  local head = word:sub(1, #word - #partial)
  local list = {}
  for name in pairs(names) do list[#list + 1] = head .. name end
  table.sort(list)
  return list
end

return M
