-- dnn.help: the API reference at the prompt. help(x) prints the entry of a
-- function, class, object, tensor, module or name, from dnn.help_data (the
-- doc comments, as scripts/reference.lua reads them; embedded with the
-- library). Live values map to entries by a reverse lookup: every entry's
-- name resolved from dnn once, on the first call.
local M = {}

local strict = require "dnn.options"

local index -- built on first use: see load()

-- The live value an entry's name stands for ("dnn.nn.Dense", "dnn.Tensor:exp"), or nil.
local function resolve(name)
  local path, method = name:match("^(.-):([%w_]+)$")
  local v = package.loaded.dnn
  local parts = {}
  for part in (path or name):gmatch("[^.]+") do parts[#parts + 1] = part end
  if parts[1] ~= "dnn" then return nil end
  for i = 2, #parts do
    if type(v) ~= "table" then return nil end
    v = rawget(v, parts[i]) or v[parts[i]]
  end
  if method then v = type(v) == "table" and v[method] or nil end
  return v
end

-- {entries = name -> entry (aliases too), modules = name -> module,
--  names = every name sorted, of_value = live function/table -> entry or module}
local function load()
  if index then return index end
  local data = require "dnn.help_data"
  index = {entries = {}, modules = {}, names = {}, of_value = {}}
  for _, m in ipairs(data) do
    index.modules[m.name] = m
    index.names[#index.names + 1] = m.name
    for _, e in ipairs(m.entries) do
      for _, n in ipairs({e.name, table.unpack(e.aliases or {})}) do
        index.entries[n] = e
        index.names[#index.names + 1] = n
      end
    end
  end
  table.sort(index.names)
  -- entries' own names first, so an alias (dnn.exp for dnn.Tensor:exp) never takes a value over its entry
  for _, m in ipairs(data) do
    local v = resolve(m.name)
    if type(v) == "table" then index.of_value[v] = m end
  end
  for _, m in ipairs(data) do
    for _, e in ipairs(m.entries) do
      local v = resolve(e.name)
      if (type(v) == "function" or type(v) == "table") and not index.of_value[v] then index.of_value[v] = e end
    end
  end
  return index
end

-- The entry of a full name (or alias), of a live value, or a module's entries.
function M.entry(name) return load().entries[name] end
function M.entry_of(value) return load().of_value[value] end
function M.module_entries(name)
  local m = load().modules[name]
  return m and m.entries or {}
end

-- The first sentence of an entry's text (or its module's title).
local function one_line(e)
  local text = (e.text or e.title or ""):gsub("%s*\n%s*", " ")
  return text:match("^(.-%.)%s") or text:match("^(.-%.)$") or text
end

local function indent(text, by)
  return by .. text:gsub("\n", "\n" .. by)
end

-- "name  meaning" rows under a heading, the names padded to one column.
local function table_rows(heading, rows, out)
  local w = 0
  for _, r in ipairs(rows) do w = math.max(w, #r[1]) end
  out[#out + 1] = heading
  for _, r in ipairs(rows) do out[#out + 1] = string.format("    %-" .. w .. "s  %s", r[1], r[2]) end
end

local function entry_text(e, out)
  out[#out + 1] = e.signature
  if e.text then out[#out + 1] = indent(e.text, "  ") end
  if e.params then
    local rows = {}
    for i, p in ipairs(e.params) do rows[i] = {p.name, p.text} end
    table_rows("  Arguments:", rows, out)
  end
  if e.options then
    local rows = {}
    for i, o in ipairs(e.options) do rows[i] = {o.default and (o.name .. "=" .. o.default) or o.name, o.text} end
    table_rows("  Options (name=default):", rows, out)
  end
  if e.hook then out[#out + 1] = "  A hook: subclasses define it; the base class calls it." end
  if e.returns then out[#out + 1] = "  Returns " .. e.returns end
  if e.aliases then out[#out + 1] = "  Also: " .. table.concat(e.aliases, ", ") end
  if e.examples then
    out[#out + 1] = "  Example:"
    for _, ex in ipairs(e.examples) do out[#out + 1] = "    " .. ex end
  end
end

-- "name  one line" rows, the names padded to one column.
local function listing(entries, out, strip)
  local w = 0
  for _, e in ipairs(entries) do w = math.max(w, #e.name - #strip) end
  for _, e in ipairs(entries) do
    out[#out + 1] = string.format("  %-" .. w .. "s  %s", e.name:sub(#strip + 1), one_line(e))
  end
end

local function module_text(m, out)
  out[#out + 1] = string.format("%s: %s", m.name, m.title)
  if m.text then out[#out + 1] = indent(m.text, "  ") end
  out[#out + 1] = ""
  listing(m.entries, out, m.name .. ".")
end

-- The entries of the methods of the class named class_name (and of its
-- ancestors, given as names), each method once, the nearest class's entry.
local function method_entries(class_names)
  local idx, seen, list = load(), {}, {}
  for _, cname in ipairs(class_names) do
    local owner = idx.entries[cname]
    local m = owner and idx.modules[owner.module]
    for _, e in ipairs(m and m.entries or {}) do
      local method = e.name:sub(#cname + 1):match("^[:.]([%w_]+)$")
      if method and e.name:sub(1, #cname) == cname and not seen[method] then
        seen[method] = true
        list[#list + 1] = e
      end
    end
  end
  table.sort(list, function(a, b) return a.name:match("[%w_]+$") < b.name:match("[%w_]+$") end)
  return list
end

-- The names of a class and its ancestors that have entries, nearest first.
local function class_chain(cls)
  local idx, names, depth = load(), {}, 0
  while type(cls) == "table" and depth < 16 do
    local e = idx.of_value[cls]
    if e and e.signature then names[#names + 1] = e.name end
    local mt = getmetatable(cls)
    local parent = mt and rawget(mt, "__index")
    if type(parent) ~= "table" or parent == cls then break end
    cls, depth = parent, depth + 1
  end
  return names
end

local function class_text(cls, out, instance)
  local chain = class_chain(cls)
  if instance then
    local name = rawget(instance, "name")
    out[#out + 1] = (type(name) == "string" and string.format("'%s': an instance of %s", name, chain[1])
                    or "An instance of " .. chain[1]) .. ":"
  end
  entry_text(load().entries[chain[1]], out)
  local methods = method_entries(chain)
  if #methods > 0 then
    out[#out + 1] = ""
    out[#out + 1] = "Methods (help \"" .. chain[1] .. ":name\" for one):"
    local w = 0
    for _, e in ipairs(methods) do w = math.max(w, #e.name:match("[%w_]+$")) end
    for _, e in ipairs(methods) do
      local name = e.name:match("[%w_]+$")
      local from = e.name:match("^(.-)[:.][%w_]+$")
      out[#out + 1] = string.format("  %-" .. w .. "s  %s%s", name, one_line(e),
                                    from ~= chain[1] and " (" .. from .. ")" or "")
    end
  end
end

-- The entries whose name or alias ends in "." / ":" then s, each entry once
-- by its own name; case-insensitively when no name matches with s's case.
local function suffix_matches(s)
  local idx = load()
  local function matches(fold)
    local found, seen = {}, {}
    local want = fold and s:lower() or s
    for _, n in ipairs(idx.names) do
      local name = fold and n:lower() or n
      local tail = name:sub(-#want - 1)
      if tail == "." .. want or tail == ":" .. want then
        local e = idx.entries[n] or idx.modules[n]
        if not seen[e] then
          seen[e] = true
          found[#found + 1] = e.name
        end
      end
    end
    table.sort(found)
    return found
  end
  local exact = matches(false)
  return #exact > 0 and exact or matches(true)
end

local function unknown(what, out, name)
  out[#out + 1] = "help: no reference entry for " .. what
  if name then
    local idx = load()
    local short = name:match("[%w_]+$") or name
    local near = {}
    for _, n in ipairs(idx.names) do
      local tail = n:match("[%w_]+$")
      if n:lower() == name:lower() or strict.distance(tail:lower(), short:lower()) <= math.max(1, #short // 4) then
        near[#near + 1] = n
      end
    end
    if #near > 0 then
      table.sort(near)
      while #near > 8 do table.remove(near) end
      out[#out + 1] = "Did you mean: " .. table.concat(near, ", ") .. "?"
    end
  end
  out[#out + 1] = 'help() says how to use help; help(dnn) lists the modules.'
end

local function name_text(name, out)
  local idx = load()
  local e = idx.entries[name] or idx.entries["dnn." .. name] or idx.modules[name] or idx.modules["dnn." .. name]
  if not e then
    local matches = suffix_matches(name)
    if #matches == 1 then
      e = idx.entries[matches[1]] or idx.modules[matches[1]]
    elseif #matches > 1 then
      out[#out + 1] = string.format("help: '%s' names %d entries; ask for one of:", name, #matches)
      for _, n in ipairs(matches) do out[#out + 1] = "  " .. n end
      return
    end
  end
  if not e then return unknown("'" .. name .. "'", out, name) end
  if e.entries then return module_text(e, out) end
  local v = resolve(e.name)
  if type(v) == "table" and getmetatable(v) and e.signature:match("[%(%{]") then return class_text(v, out) end
  entry_text(e, out)
end

local USAGE = [[
help(x): the reference entry of x, from the doc comments of the library.
  help(dnn.zeros)        a function: signature, text, options and defaults, example
  help "Dense"           a name: "dnn.nn.Model:fit", or any unambiguous end of one ("fit")
  help(dnn.nn.Dense)     a class: its entry and its methods' one-liners
  help(model)            a layer, model or optimizer: its class's entry and methods
  help(t)                a tensor: the tensor methods
  help(dnn.losses)       a module: its names with one-liners
  help(dnn)              the modules
In the REPL, Tab completes names, fields after '.' and methods after ':'.
The whole reference: docs/reference/index.md.]]

-- help(dnn): the top level's own names, then every module.
local function modules_text(out)
  local idx, list = load(), {}
  module_text(idx.modules.dnn, out)
  out[#out + 1] = ""
  out[#out + 1] = "Modules (help(dnn.nn), help \"dnn.losses\", ...):"
  for name, m in pairs(idx.modules) do list[#list + 1] = {name = name, title = m.title} end
  table.sort(list, function(a, b) return a.name < b.name end)
  listing(list, out, "")
end

-- The help text for x (help's arguments: none gives the usage).
function M.text(...)
  local out = {}
  if select("#", ...) == 0 then return USAGE end
  local x = ...
  local idx = load()
  local dnn = package.loaded.dnn
  if type(x) == "string" then
    name_text(x, out)
  elseif x == dnn then
    modules_text(out)
  elseif dnn.is_tensor(x) then
    out[#out + 1] = "A tensor of shape {" .. table.concat(x.shape, ", ")
                    .. "}. Fields and methods (help \"dnn.Tensor:name\" for one):"
    listing(idx.modules["dnn.Tensor"].entries, out, "dnn.Tensor")
  elseif type(x) == "function" or type(x) == "table" then
    local e = idx.of_value[x]
    if e and e.entries then
      module_text(e, out)
    elseif e and type(x) == "table" and getmetatable(x) then
      class_text(x, out)
    elseif e then
      entry_text(e, out)
    elseif type(x) == "table" and #class_chain(getmetatable(x)) > 0 then
      class_text(getmetatable(x), out, x)
    else
      local info = type(x) == "function" and debug.getinfo(x, "S")
      local where = info and info.short_src ~= "[C]"
                    and string.format(" (defined at %s:%d)", info.short_src, info.linedefined) or ""
      unknown("this " .. type(x) .. where .. ": it is not part of dnn's API", out)
    end
  else
    unknown(string.format("a %s (%s): help describes dnn's functions, classes, objects, tensors, modules and names",
                          type(x), tostring(x)), out)
  end
  return table.concat(out, "\n")
end

--- dnn.help([x])
-- Prints the reference entry of `x`: a function (`help(dnn.zeros)`), a
-- class (`help(dnn.nn.Dense)`: its entry and its methods), a layer, model or
-- optimizer object (its class), a tensor (the tensor methods), a module
-- (`help(dnn.losses)`: its names with one-liners) or a name (`help "fit"`:
-- a full name or an unambiguous end of one; an ambiguous one lists the
-- candidates; an unknown one suggests close names). With no argument, how
-- to use it. A global in dnnlua scripts and the REPL. The text comes from
-- the same doc comments as docs/reference.
-- @example dnn.help(dnn.nn.Dense)
function M.help(...)
  print(M.text(...))
end

return M
