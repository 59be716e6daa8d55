-- The API reference generator: reads the doc blocks in lua/dnn/ and
-- bindings/ and writes docs/reference/*.md (committed) or *.html.
--
--   lua5.4 scripts/reference.lua [--html] [--out DIR] [SOURCE_DIR]
--
-- A doc block is a run of comment lines whose first starts with "--- " in
-- Lua or "/// " in C (then "-- " or "// " lines). Its first line is a signature (the entry's name is its
-- leading dotted name: dnn.zeros, dnn.nn.Dense, dnn.Tensor:exp) or
-- "@module NAME title". Then free text, then tags:
--   @option name[=default] meaning     a field of the options table
--   @param name meaning                a positional argument
--   @return what it returns
--   @alias other.name, ...             names bound to the same thing
--   @example one line of Lua           (repeatable)
--   @hook                              a method subclasses define (Layer:forward)
-- A continuation line of @option/@param is indented by two spaces more.
-- Used as a module (require from the coverage test): returns the parser and
-- the renderers. See docs/reference/README.md and docs/CHOICES.md for why it
-- is not LDoc.
local M = {}

-- Case-insensitive order, ties broken by the exact text, so output is stable.
local function name_order(a, b)
  local la, lb = a:lower(), b:lower()
  if la ~= lb then return la < lb end
  return a < b
end

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

-- The comment text of a line in a doc block, or nil when the line ends it.
local function lua_comment(line) return line:match("^%s*%-%-%-? ?(.*)$") end
local function c_comment(line) return line:match("^%s*///? ?(.*)$") end

local function new_entry(signature, file, line)
  local name = signature:match("^([%w_%.:]+)")
  if not name then error(string.format("%s:%d: a doc block must begin with a name, got '%s'", file, line, signature)) end
  return {name = name, signature = signature, text = {}, options = {}, params = {}, aliases = {}, examples = {},
          file = file, line = line}
end

-- Adds one tag line to entry e.
local function add_tag(e, tag, rest, where)
  if tag == "option" then
    local name, default, meaning = rest:match("^([%w_]+)=(%S+)%s*(.*)$")
    if not name then name, meaning = rest:match("^([%w_]+)%s*(.*)$") end
    if not name then error(where .. ": @option needs a name") end
    e.options[#e.options + 1] = {name = name, default = default, text = meaning}
  elseif tag == "param" then
    local name, meaning = rest:match("^([%w_%.]+)%s*(.*)$")
    if not name then error(where .. ": @param needs a name") end
    e.params[#e.params + 1] = {name = name, text = meaning}
  elseif tag == "return" then
    e.returns = rest
  elseif tag == "alias" then
    for a in rest:gmatch("[%w_%.:]+") do e.aliases[#e.aliases + 1] = a end
  elseif tag == "hook" then
    e.hook = true -- a method subclasses define (the base class has none)
  elseif tag == "example" then
    e.examples[#e.examples + 1] = rest
  else
    error(string.format("%s: unknown tag @%s", where, tag))
  end
end

-- Parses one block (a list of comment texts) into an entry or a module.
local function parse_block(lines, file, first_line)
  local head = trim(lines[1])
  local module_name, title = head:match("^@module%s+([%w_%.]+)%s*(.*)$")
  local e
  if module_name then
    e = {module = true, name = module_name, title = title, text = {}, file = file, line = first_line}
  else
    e = new_entry(head, file, first_line)
  end
  local last -- the list a continuation line extends
  for i = 2, #lines do
    local where = string.format("%s:%d", file, first_line + i - 1)
    local tag, rest = lines[i]:match("^%s*@(%w+)%s*(.*)$")
    if tag then
      if e.module then error(where .. ": a @module block takes no tags") end
      add_tag(e, tag, rest, where)
      last = (tag == "option" and e.options) or (tag == "param" and e.params) or nil
    elseif last and lines[i]:match("^%s%s+%S") then
      last[#last].text = last[#last].text .. " " .. trim(lines[i]) -- an indented continuation of a tag
    else
      last = nil
      e.text[#e.text + 1] = lines[i]
    end
  end
  e.text = trim(table.concat(e.text, "\n"))
  return e
end

-- Every doc block of one file.
function M.parse_file(path, display)
  local f = assert(io.open(path, "r"))
  local comment = path:match("%.c$") and c_comment or lua_comment
  local opener = path:match("%.c$") and "^%s*/// " or "^%s*%-%-%- "
  local blocks, current, n = {}, nil, 0
  for line in f:lines() do
    n = n + 1
    if current and comment(line) and not line:match(opener) then
      current.lines[#current.lines + 1] = comment(line)
    else
      if current then blocks[#blocks + 1] = parse_block(current.lines, display, current.line) end
      current = nil
      if line:match(opener) then current = {lines = {comment(line)}, line = n} end
    end
  end
  if current then blocks[#blocks + 1] = parse_block(current.lines, display, current.line) end
  f:close()
  return blocks
end

local function list_files(dir, pattern)
  local p = io.popen(string.format("find '%s' -type f -name '%s' | LC_ALL=C sort", dir, pattern))
  local files = {}
  for line in p:lines() do files[#files + 1] = line end
  p:close()
  return files
end

-- The whole reference: {modules = {...} in order, by_name = {name or alias -> entry}}.
function M.load(source_dir)
  local files = list_files(source_dir .. "/lua/dnn", "*.lua")
  for _, c in ipairs(list_files(source_dir .. "/bindings", "*.c")) do files[#files + 1] = c end
  local modules, by_module, entries = {}, {}, {}
  for _, path in ipairs(files) do
    for _, e in ipairs(M.parse_file(path, path:sub(#source_dir + 2))) do
      if e.module then
        if by_module[e.name] then error(string.format("%s:%d: module %s declared twice", e.file, e.line, e.name)) end
        e.entries = {}
        by_module[e.name] = e
        modules[#modules + 1] = e
      else
        entries[#entries + 1] = e
      end
    end
  end
  local by_name = {}
  for _, m in ipairs(modules) do by_name[m.name] = m end
  for _, e in ipairs(entries) do
    -- the longest declared module whose name prefixes the entry's
    local owner, best = nil, -1
    for name, m in pairs(by_module) do
      local rest = e.name:sub(#name + 1, #name + 1)
      if e.name:sub(1, #name) == name and (rest == "." or rest == ":") and #name > best then owner, best = m, #name end
    end
    if not owner then error(string.format("%s:%d: no @module declared for %s", e.file, e.line, e.name)) end
    e.module = owner.name
    owner.entries[#owner.entries + 1] = e
    for _, n in ipairs({e.name, table.unpack(e.aliases)}) do
      if by_name[n] then
        error(string.format("%s:%d: %s already documented at %s:%d", e.file, e.line, n, by_name[n].file, by_name[n].line))
      end
      by_name[n] = e
    end
  end
  table.sort(modules, function(a, b) return a.name < b.name end)
  for _, m in ipairs(modules) do table.sort(m.entries, function(a, b) return name_order(a.name, b.name) end) end
  return {modules = modules, by_name = by_name}
end

-- ---- Markdown ----

-- Text in a Markdown table cell: a bar would end the cell.
local function cell(s) return (s:gsub("|", "\\|")) end

local function md_entry(e, out)
  out[#out + 1] = string.format('<a id="%s"></a>\n\n### `%s`\n', e.name, e.signature)
  if e.text ~= "" then out[#out + 1] = e.text .. "\n" end
  if #e.params > 0 then
    out[#out + 1] = "| argument | meaning |\n| --- | --- |"
    for _, p in ipairs(e.params) do out[#out + 1] = string.format("| `%s` | %s |", p.name, cell(p.text)) end
    out[#out + 1] = ""
  end
  if #e.options > 0 then
    out[#out + 1] = "| option | default | meaning |\n| --- | --- | --- |"
    for _, o in ipairs(e.options) do
      out[#out + 1] = string.format("| `%s` | %s | %s |", o.name, o.default and ("`" .. cell(o.default) .. "`") or "",
                                    cell(o.text))
    end
    out[#out + 1] = ""
  end
  if e.hook then out[#out + 1] = "A hook: subclasses define it; the base class calls it.\n" end
  if e.returns then out[#out + 1] = "Returns " .. e.returns .. "\n" end
  if #e.aliases > 0 then
    local names = {}
    for i, a in ipairs(e.aliases) do names[i] = "`" .. a .. "`" end
    out[#out + 1] = "Also: " .. table.concat(names, ", ") .. "\n"
  end
  if #e.examples > 0 then out[#out + 1] = "```lua\n" .. table.concat(e.examples, "\n") .. "\n```\n" end
end

local HEADER = "<!-- Generated by scripts/reference.lua from the doc comments in lua/dnn/ and bindings/; "
               .. "do not edit. -->\n"

function M.markdown(ref)
  local files = {}
  local index = {HEADER, "# dnnlua API reference\n",
                 "One page per module; every public name with its signature, options and defaults, and an example.",
                 "How it is made: [README.md](README.md).\n", "| module | |\n| --- | --- |"}
  for _, m in ipairs(ref.modules) do
    index[#index + 1] = string.format("| [`%s`](%s.md) | %s |", m.name, m.name, m.title)
    local out = {HEADER, string.format("# `%s`: %s\n", m.name, m.title), "[All modules](index.md)\n"}
    if m.text ~= "" then out[#out + 1] = m.text .. "\n" end
    for _, e in ipairs(m.entries) do md_entry(e, out) end
    files[m.name .. ".md"] = table.concat(out, "\n")
  end
  index[#index + 1] = "\n## Every name\n"
  local names = {}
  for name in pairs(ref.by_name) do names[#names + 1] = name end
  table.sort(names, name_order)
  for _, name in ipairs(names) do
    local e = ref.by_name[name]
    if e.entries then
      index[#index + 1] = string.format("[`%s`](%s.md)  ", name, name)
    else
      index[#index + 1] = string.format("[`%s`](%s.md#%s)  ", name, e.module, e.name)
    end
  end
  files["index.md"] = table.concat(index, "\n") .. "\n"
  return files
end

-- ---- HTML ----

local function escape(s) return (s:gsub("&", "&amp;"):gsub("<", "&lt;"):gsub(">", "&gt;"):gsub('"', "&quot;")) end

-- The text markup the doc comments use: `code`, blank lines between paragraphs.
local function inline(s)
  s = escape(s):gsub("`([^`]+)`", "<code>%1</code>")
  return s
end

local function paragraphs(s)
  local out = {}
  for para in (s .. "\n\n"):gmatch("(.-)\n%s*\n") do
    if trim(para) ~= "" then out[#out + 1] = "<p>" .. inline(para) .. "</p>" end
  end
  return table.concat(out, "\n")
end

local STYLE = [[
body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em;line-height:1.45}
code,pre{font-family:monospace;background:#f4f4f4}pre{padding:.6em;overflow-x:auto}
h3{border-top:1px solid #ddd;padding-top:.8em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}]]

local function html_page(title, body)
  return string.format('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>%s</title>'
                       .. '<style>%s</style></head>\n<body>\n%s\n</body></html>\n', escape(title), STYLE, body)
end

local function html_entry(e, out)
  out[#out + 1] = string.format('<h3 id="%s"><code>%s</code></h3>', escape(e.name), escape(e.signature))
  if e.text ~= "" then out[#out + 1] = paragraphs(e.text) end
  if #e.params > 0 then
    out[#out + 1] = "<table><tr><th>argument</th><th>meaning</th></tr>"
    for _, p in ipairs(e.params) do
      out[#out + 1] = string.format("<tr><td><code>%s</code></td><td>%s</td></tr>", escape(p.name), inline(p.text))
    end
    out[#out + 1] = "</table>"
  end
  if #e.options > 0 then
    out[#out + 1] = "<table><tr><th>option</th><th>default</th><th>meaning</th></tr>"
    for _, o in ipairs(e.options) do
      out[#out + 1] = string.format("<tr><td><code>%s</code></td><td>%s</td><td>%s</td></tr>", escape(o.name),
                                    o.default and ("<code>" .. escape(o.default) .. "</code>") or "", inline(o.text))
    end
    out[#out + 1] = "</table>"
  end
  if e.hook then out[#out + 1] = "<p>A hook: subclasses define it; the base class calls it.</p>" end
  if e.returns then out[#out + 1] = "<p>Returns " .. inline(e.returns) .. "</p>" end
  if #e.aliases > 0 then
    local names = {}
    for i, a in ipairs(e.aliases) do names[i] = "<code>" .. escape(a) .. "</code>" end
    out[#out + 1] = "<p>Also: " .. table.concat(names, ", ") .. "</p>"
  end
  if #e.examples > 0 then out[#out + 1] = "<pre><code>" .. escape(table.concat(e.examples, "\n")) .. "</code></pre>" end
end

function M.html(ref)
  local files = {}
  local index = {"<h1>dnnlua API reference</h1>", "<table>"}
  for _, m in ipairs(ref.modules) do
    index[#index + 1] = string.format('<tr><td><a href="%s.html"><code>%s</code></a></td><td>%s</td></tr>', m.name,
                                      m.name, inline(m.title))
    local out = {string.format("<h1><code>%s</code>: %s</h1>", m.name, inline(m.title)),
                 '<p><a href="index.html">All modules</a></p>'}
    if m.text ~= "" then out[#out + 1] = paragraphs(m.text) end
    out[#out + 1] = "<p>" .. (function()
      local links = {}
      for i, e in ipairs(m.entries) do links[i] = string.format('<a href="#%s">%s</a>', e.name, escape(e.name)) end
      return table.concat(links, " · ")
    end)() .. "</p>"
    for _, e in ipairs(m.entries) do html_entry(e, out) end
    files[m.name .. ".html"] = html_page(m.name, table.concat(out, "\n"))
  end
  index[#index + 1] = "</table>"
  files["index.html"] = html_page("dnnlua API reference", table.concat(index, "\n"))
  return files
end

-- ---- Lua data for dnn.help ----

-- The reference as a Lua table, lua/dnn/help_data.lua: dnn.help reads it at
-- run time from the embedded library (bindings/*.c are not embedded, so
-- their blocks would be out of help's reach if it parsed the sources).
local function lua_string(s) return (string.format("%q", s):gsub("\\\n", "\\n")) end

local function lua_value(v, out)
  if type(v) == "string" then
    out[#out + 1] = lua_string(v)
  elseif type(v) ~= "table" then
    out[#out + 1] = tostring(v)
  else
    out[#out + 1] = "{"
    for _, x in ipairs(v) do lua_value(x, out); out[#out + 1] = "," end
    local keys = {}
    for k in pairs(v) do if type(k) == "string" then keys[#keys + 1] = k end end
    table.sort(keys)
    for _, k in ipairs(keys) do
      out[#out + 1] = k .. "="
      lua_value(v[k], out)
      out[#out + 1] = ","
    end
    out[#out + 1] = "}"
  end
end

local ENTRY_FIELDS = {"name", "signature", "text", "params", "options", "returns", "aliases", "examples", "hook", "module"}

function M.lua_data(ref)
  local modules = {}
  for i, m in ipairs(ref.modules) do
    local entries = {}
    for j, e in ipairs(m.entries) do
      local copy = {}
      for _, f in ipairs(ENTRY_FIELDS) do
        local v = e[f]
        if not (type(v) == "table" and #v == 0) and v ~= "" then copy[f] = v end
      end
      entries[j] = copy
    end
    modules[i] = {name = m.name, title = m.title, text = m.text ~= "" and m.text or nil, entries = entries}
  end
  local out = {"-- Generated by scripts/reference.lua from the doc comments in lua/dnn/ and bindings/; do not edit.\n",
               "-- dnn.help's data: the API reference's modules and entries.\nreturn "}
  out[#out + 1] = "{\n"
  for _, m in ipairs(modules) do
    -- one module per line keeps diffs of a regenerated file readable
    local parts = {}
    lua_value(m, parts)
    out[#out + 1] = table.concat(parts) .. ",\n"
  end
  out[#out + 1] = "}\n"
  return table.concat(out)
end

function M.write(files, dir)
  os.execute(string.format("mkdir -p '%s'", dir))
  for name, text in pairs(files) do
    local f = assert(io.open(dir .. "/" .. name, "w"))
    f:write(text)
    f:close()
  end
end

-- Run as a script (not required as a module).
if arg and arg[0] and arg[0]:match("reference%.lua$") and not package.loaded["reference"] then
  local html, out, source = false, nil, nil
  local i = 1
  while arg[i] do
    if arg[i] == "--html" then html = true
    elseif arg[i] == "--out" then i = i + 1; out = arg[i]
    else source = arg[i] end
    i = i + 1
  end
  source = source or (arg[0]:match("^(.*)/scripts/reference%.lua$") or ".")
  out = out or (source .. "/docs/reference")
  local ref = M.load(source)
  M.write(html and M.html(ref) or M.markdown(ref), out)
  if not html then M.write({["help_data.lua"] = M.lua_data(ref)}, source .. "/lua/dnn") end
  print(string.format("reference: %d modules, %d names -> %s", #ref.modules, (function()
    local n = 0
    for _ in pairs(ref.by_name) do n = n + 1 end
    return n
  end)(), out))
end

return M
