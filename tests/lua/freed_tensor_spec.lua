-- A tensor whose handle was freed (its __gc ran, or its __close) raises
-- "tensor was freed" from every entry point, never a NULL dereference. Lua
-- runs finalizers in reverse order of creation, so plain scripts reach a
-- finalized tensor at exit: those run as child processes here.
local H = require "helpers"

local DNNLUA = assert(os.getenv("DNNLUA"), "DNNLUA (the dnnlua binary) must be set; ctest sets it")

local function quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- Runs script in a child dnnlua: its stdout, stderr and exit status.
local function run(script)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(script)
  f:close()
  local err = os.tmpname()
  local p = assert(io.popen(quote(DNNLUA) .. " " .. quote(path) .. " 2>" .. quote(err)))
  local out = p:read("a")
  local _, _, code = p:close()
  local ef = assert(io.open(err))
  local errtext = ef:read("a")
  ef:close()
  os.remove(path)
  os.remove(err)
  return out, errtext, code
end

local function freed()
  local t = dnn.ones(3)
  debug.getmetatable(t).__gc(t)
  return t
end

describe("a freed tensor", function()
  it("at exit: a finalizer that uses a tensor finalized before it gets an error, and the process exits 0", function()
    -- the issue's reproducer, with the finalizer's error caught and printed
    local out, err, code = run([[
local h = setmetatable({}, {__gc = function(s)
  local ok, e = pcall(function() return s.t:sum() end)
  print("caught", ok, e)
end})
h.t = dnn.zeros(3)
print("script done")
]])
    assert.are.equal(0, code, "exit status " .. tostring(code) .. ", stderr: " .. err)
    assert.truthy(out:find("script done", 1, true))
    assert.truthy(out:find("caught\tfalse\t", 1, true), out)
    assert.truthy(out:find("tensor was freed", 1, true), out)
  end)

  it("at exit: an uncaught error in such a finalizer is a warning, not a crash", function()
    local out, err, code = run([[
local h = setmetatable({}, {__gc = function(s) local x = s.t:sum() end})
h.t = dnn.zeros(3)
print("script done")
]])
    assert.are.equal(0, code, "exit status " .. tostring(code) .. ", stderr: " .. err)
    assert.truthy(out:find("script done", 1, true))
  end)

  it("the metatable is protected: getmetatable gives false, so no script calls __gc", function()
    local out, err, code = run([[
local t = dnn.zeros(3)
print(getmetatable(t))
local ok, e = pcall(function() getmetatable(t).__gc(t) end)
print(ok, t:numel())
]])
    assert.are.equal(0, code, err)
    assert.are.equal("false\nfalse\t3\n", out)
  end)

  it("raises 'tensor was freed' from methods, metamethods, fields and functions", function()
    local uses = {
      sum = function(t) return t:sum() end,
      numel = function(t) return t:numel() end,
      shape = function(t) return t.shape end,
      grad = function(t) return t.grad end,
      len = function(t) return #t end,
      tostring = function(t) return tostring(t) end,
      index = function(t) return t[1] end,
      newindex = function(t) t[1] = 0 end,
      requires_grad = function(t) t.requires_grad = true end,
      unm = function(t) return -t end,
      add = function(t) return t + 1 end,
      radd = function(t) return 1 + t end,
      eq = function(t) return t == dnn.zeros(3) end,
      fn_arg1 = function(t) return dnn.exp(t) end,
      fn_arg2 = function(t) return dnn.add(dnn.zeros(3), t) end,
      copy_from = function(t) return dnn.zeros(3):copy(t) end,
      totable = function(t) return t:totable() end,
      backward = function(t) t:backward() end,
      stack = function(t) return dnn.stack({t, t}) end,
    }
    for name, use in pairs(uses) do
      local err = H.error_of(use, freed())
      assert(err:find("was freed", 1, true), name .. ": " .. err)
    end
  end)

  it("is still a tensor to is_tensor, and __gc may run twice", function()
    local t = freed()
    assert.is_true(dnn.is_tensor(t))
    debug.getmetatable(t).__gc(t)
    H.assert_error({"tensor was freed"}, function() return t:sum() end)
  end)

  it("local t <close> frees the handle at the end of the scope", function()
    local kept
    do
      local t <close> = dnn.ones(2)
      kept = t
      H.assert_close(t:sum(), 2)
    end
    H.assert_error({"tensor was freed"}, function() return kept:sum() end)
  end)

  it("only the closed handle: a view or a clone taken before stays valid", function()
    local view, copy
    do
      local t <close> = dnn.arange(1, 5)
      view, copy = t:narrow(1, 2, 2), t:clone()
    end
    H.assert_close(view, {2, 3})
    H.assert_close(copy, {1, 2, 3, 4})
  end)
end)
