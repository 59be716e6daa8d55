-- The API reference covers the API: every public name reachable from dnn
-- (its modules, their functions, values and classes, each class's methods,
-- the tensor methods) has an entry in the doc comments that
-- scripts/reference.lua turns into docs/reference/, and the committed
-- Markdown is what the doc comments make now.
--
-- Public means: reachable from dnn by the walk below, and not private.
-- Private: a name with a leading underscore; metamethods (__index, ...); a
-- class's constructor `new` (documented as the class itself) and its
-- non-function fields (type_name, options, defaults, slots: plumbing read by
-- the library); and the few public-looking helpers in INTERNAL, each with
-- why. A method a class overrides is covered by the entry of the same
-- method on an ancestor (Dense:build by Layer:build).
local dnn = dnn or require "dnn"
local H = require "helpers"

local source_dir = H.source_dir
package.path = source_dir .. "/scripts/?.lua;" .. package.path
local reference = require "reference"
local ref = reference.load(source_dir)

-- Public-looking names that are not API, and why.
local INTERNAL = {
  ["dnn.set_autograd_scope"] = "Layer:call's hook that names the layer in backward errors",
  ["dnn.isatty"] = "the progress bar's terminal check",
  ["dnn.load_safetensors"] = "the raw reader under model:load_weights and dnn.checkpoint",
  ["dnn.save_safetensors"] = "the raw writer under model:save_weights and dnn.checkpoint",
  ["dnn.losses.name_of"] = "compile's lookup of a loss's name for model files",
  ["dnn.losses.options_of"] = "compile's lookup of a loss's options for model files",
  ["dnn.data.is_loader"] = "fit's test for a DataLoader argument",
  ["dnn.text.is_tokenizer"] = "the Tokenizer's own type test",
  ["dnn.text.check_sampling_options"] = "sample's and generate's check of their sampling options",
  ["dnn.activations.is_name"] = "the layers' test for a fused activation name",
  ["dnn.optim.schedules.is_schedule"] = "the optimizers' test for a schedule argument",
  ["dnn.initializers.VarianceScaling:check"] = "its constructor's argument check",
}

-- The fields a tensor answers (bindings/l_tensor.c, t_index).
local TENSOR_FIELDS = {"shape", "ndim", "dtype", "requires_grad", "grad", "grad_fn", "is_leaf"}

-- The modules: tables of dnn whose fields are walked.
local MODULES = {"dnn", "dnn.nn", "dnn.optim", "dnn.optim.schedules", "dnn.losses", "dnn.metrics", "dnn.data",
                 "dnn.datasets", "dnn.text", "dnn.image", "dnn.plot", "dnn.callbacks", "dnn.initializers",
                 "dnn.regularizers", "dnn.activations", "dnn.augment", "dnn.autograd", "dnn.checkpoint",
                 "dnn.distributed", "dnn.onnx", "dnn.rl", "dnn.ops"}

local function lookup(path)
  local v = _G
  for part in path:gmatch("[^.]+") do v = v[part] end
  return v
end

local function is_class(v)
  if type(v) ~= "table" then return false end
  local mt = getmetatable(v)
  return type(rawget(v, "new")) == "function" or type(rawget(v, "extend")) == "function"
         or (mt ~= nil and mt.__call ~= nil)
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do if type(k) == "string" then keys[#keys + 1] = k end end
  table.sort(keys)
  return keys
end

-- The public methods a class defines itself (own function fields).
local function own_methods(cls)
  local names = {}
  for _, k in ipairs(sorted_keys(cls)) do
    if type(rawget(cls, k)) == "function" and not k:match("^_") and k ~= "new" then names[#names + 1] = k end
  end
  return names
end

local function parent_of(cls)
  local mt = getmetatable(cls)
  local p = mt and rawget(mt, "__index")
  if type(p) == "table" and p ~= cls then return p end
end

-- Every public name, as {name, class} (class: the class table for
-- methods), and each class's names (a class may have aliases: MaxPool2D).
local function public_names()
  local module_of = {} -- table -> its module name, so a module reached again is not walked as a value
  for _, m in ipairs(MODULES) do module_of[lookup(m)] = m end
  local names, names_of = {}, {}
  local function add(name, cls) names[#names + 1] = {name = name, class = cls} end
  for _, m in ipairs(MODULES) do
    local module = lookup(m)
    for _, k in ipairs(sorted_keys(module)) do
      local v, full = module[k], m .. "." .. k
      if not k:match("^_") and module_of[v] ~= full then
        add(full) -- a module under a second name (dnn.nn.initializers) is an alias to document
        if type(v) == "table" and not module_of[v] then
          if not names_of[v] then
            names_of[v] = {}
            if is_class(v) then
              for _, method in ipairs(own_methods(v)) do add(full .. ":" .. method, v) end
            end
          end
          table.insert(names_of[v], full) -- a base class (Optimizer) covers its subclasses' methods
        end
      end
    end
  end
  -- the tensor methods (dnn.Tensor is the table the C metatable's __index
  -- looks methods up in) and the fields that __index answers itself
  for _, k in ipairs(sorted_keys(dnn.Tensor)) do
    if type(dnn.Tensor[k]) == "function" and not k:match("^_") then add("dnn.Tensor:" .. k) end
  end
  for _, k in ipairs(TENSOR_FIELDS) do add("dnn.Tensor." .. k) end
  return names, names_of
end

-- Whether an entry covers name: directly, as an alias, or as a method of the
-- class (under any of its names) or of an ancestor.
local function covered(name, cls, names_of)
  if ref.by_name[name] then return true end
  if not cls then return false end
  local method = name:match(":([%w_]+)$")
  local c = cls
  while c do
    for _, n in ipairs(names_of[c] or {}) do
      if ref.by_name[n .. ":" .. method] or ref.by_name[n .. "." .. method] then return true end
    end
    c = parent_of(c)
  end
  return false
end

describe("the API reference", function()
  local names, names_of = public_names()

  it("has an entry for every public name", function()
    local missing = {}
    for _, n in ipairs(names) do
      local public = not INTERNAL[n.name]
      if public and not covered(n.name, n.class, names_of) then missing[#missing + 1] = n.name end
    end
    for _, m in ipairs(MODULES) do
      local declared = false
      for _, d in ipairs(ref.modules) do declared = declared or d.name == m end
      if not declared then missing[#missing + 1] = m .. " (no @module block)" end
    end
    assert(#missing == 0, string.format("%d public names have no reference entry (add a --- doc block):\n  %s",
                                        #missing, table.concat(missing, "\n  ")))
  end)

  it("walks enough of dnn to mean something", function()
    assert.is_true(#names > 300, "only " .. #names .. " names walked")
    local seen = {}
    for _, n in ipairs(names) do seen[n.name] = true end
    for _, n in ipairs({"dnn.zeros", "dnn.Tensor:exp", "dnn.nn.Dense", "dnn.nn.Model:fit", "dnn.optim.Adam",
                        "dnn.callbacks.EarlyStopping", "dnn.nn.Layer:get_weights"}) do
      assert.is_true(seen[n], n .. " is not walked")
    end
  end)

  it("documents no name that does not exist", function()
    local stale = {}
    for name, e in pairs(ref.by_name) do
      local path, method = name:match("^(.-):([%w_]+)$")
      local ok, v = pcall(lookup, path or name)
      if ok and method then v = type(v) == "table" and v[method] or nil end
      -- tensor fields (shape, grad, ...) live on each tensor, not on dnn.Tensor
      if (not ok or v == nil) and not e.hook then
        local field = name:match("^dnn%.Tensor%.([%w_]+)$")
        local is_field = false
        for _, f in ipairs(TENSOR_FIELDS) do is_field = is_field or f == field end
        if not is_field then
          stale[#stale + 1] = string.format("%s (%s:%d)", name, e.file, e.line)
        end
      end
    end
    table.sort(stale)
    assert(#stale == 0, "entries for names dnn does not have:\n  " .. table.concat(stale, "\n  "))
  end)

  it("gives every function and class entry an example that compiles", function()
    local bad = {}
    for _, m in ipairs(ref.modules) do
      for _, e in ipairs(m.entries) do
        if #e.examples == 0 and e.signature:match("[%(%{]") then
          bad[#bad + 1] = e.name .. ": no @example"
        end
        for _, ex in ipairs(e.examples) do
          local ok, err = load(ex, "=" .. e.name)
          if not ok then bad[#bad + 1] = string.format("%s: example does not compile: %s", e.name, err) end
        end
      end
    end
    assert(#bad == 0, table.concat(bad, "\n"))
  end)

  it("documents every option a layer class takes", function()
    local layer_entry = ref.by_name["dnn.nn.Layer"]
    local common = {}
    for _, o in ipairs(layer_entry and layer_entry.options or {}) do common[o.name] = true end
    local missing = {}
    for name, cls in pairs(dnn.nn.registry) do
      local e = ref.by_name["dnn.nn." .. name]
      if e and type(rawget(cls, "options")) == "table" then
        local documented = {}
        for _, o in ipairs(e.options) do documented[o.name] = true end
        for _, p in ipairs(e.params) do documented[p.name] = true end
        for _, o in ipairs(cls.options) do
          if not documented[o] and not common[o] then missing[#missing + 1] = name .. ": " .. o end
        end
      end
    end
    table.sort(missing)
    assert(#missing == 0, "options with no @option or @param:\n  " .. table.concat(missing, "\n  "))
  end)

  it("documents every optimizer option with its real default", function()
    local wrong = {}
    for name, cls in pairs(dnn.optim) do
      local e = ref.by_name["dnn.optim." .. name]
      if e and type(cls) == "table" and rawget(cls, "defaults") then
        local documented = {}
        for _, o in ipairs(e.options) do documented[o.name] = o.default end
        for k, v in pairs(cls.defaults) do
          if documented[k] == nil then
            wrong[#wrong + 1] = string.format("%s: %s has no @option", name, k)
          elseif documented[k] ~= tostring(v) then
            wrong[#wrong + 1] = string.format("%s: %s documented as %s, is %s", name, k, documented[k], tostring(v))
          end
        end
      end
    end
    table.sort(wrong)
    assert(#wrong == 0, table.concat(wrong, "\n"))
  end)

  it("renders HTML pages with an anchor per entry", function()
    local pages = reference.html(ref)
    assert.is_truthy(pages["index.html"]:find('href="dnn.nn.html"', 1, true))
    local nn_page = pages["dnn.nn.html"]
    assert.is_truthy(nn_page:find('<h3 id="dnn.nn.Dense">', 1, true))
    assert.is_truthy(nn_page:find("<code>kernel_initializer</code>", 1, true))
    assert.is_nil(nn_page:find("<script", 1, true))
  end)

  it("refuses a doc block it cannot read, naming the file and line", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write("--- dnn.zeros(shape)\n-- text\n-- @optoin x=1 misspelt\nlocal x\n")
    f:close()
    local ok, err = pcall(reference.parse_file, path, "bad.lua")
    os.remove(path)
    assert.is_false(ok)
    assert.is_truthy(tostring(err):find("bad.lua:3: unknown tag @optoin", 1, true))
  end)

  it("has committed Markdown and help data equal to what the doc comments make", function()
    local stale = {}
    for file, text in pairs(reference.markdown(ref)) do
      local f = io.open(source_dir .. "/docs/reference/" .. file, "r")
      local committed = f and f:read("a")
      if f then f:close() end
      if committed ~= text then stale[#stale + 1] = file end
    end
    -- dnn.help's embedded copy (lua/dnn/help_data.lua) too
    local f = io.open(source_dir .. "/lua/dnn/help_data.lua", "r")
    local committed = f and f:read("a")
    if f then f:close() end
    if committed ~= reference.lua_data(ref) then stale[#stale + 1] = "lua/dnn/help_data.lua" end
    table.sort(stale)
    assert(#stale == 0, "docs/reference is out of date (run lua5.4 scripts/reference.lua): "
                        .. table.concat(stale, ", "))
  end)
end)
