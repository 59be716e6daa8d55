-- `require "dnn"` from a stock lua5.4 with the built dnn.so on package.cpath
-- (API.md's first convention), in a separate process.
local module_dir = os.getenv("DNN_MODULE_DIR")

local preload = os.getenv("DNN_PRELOAD") or ""

local function run_lua(code)
  local env = preload ~= "" and string.format("LD_PRELOAD=%q ", preload) or ""
  local cmd = string.format(env .. "lua5.4 -e 'package.cpath = %q .. \"/?.so;\" .. package.cpath' -e %q 2>&1; echo \"rc=$?\"",
    module_dir, code)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return out
end

describe("dnn.so under a stock lua5.4", function()
  local has_lua = os.execute("command -v lua5.4 >/dev/null 2>&1") == true
  if not module_dir or not has_lua then
    pending("lua5.4 or DNN_MODULE_DIR (set by ctest) is missing")
    return
  end

  it("loads the whole library and computes", function()
    local out = run_lua([[
      local dnn = require "dnn"
      assert(dnn.nn.Dense and dnn.optim.Adam and dnn.datasets.fashion_mnist)
      local w = dnn.randn(3, 1, {requires_grad = true})
      local loss = ((dnn.ones(4, 3):matmul(w) - 1) ^ 2):mean()
      loss:backward()
      print("grad", w.grad.shape[1], dnn.zeros(2, 3):sum():item())
    ]])
    assert.truthy(out:find("grad\t3\t0", 1, true), out)
    assert.truthy(out:find("rc=0", 1, true), out)
  end)

  it("returns the same table from a second require, and errors are Lua errors", function()
    local out = run_lua([[
      local a, b = require "dnn", require "dnn"
      assert(a == b)
      local ok, err = pcall(function() return a.ones(2, 3):matmul(a.ones(4, 2)) end)
      print(ok, err)
    ]])
    assert.truthy(out:find("false", 1, true) and out:find("expected inner dim 3, got 4", 1, true), out)
    assert.truthy(out:find("rc=0", 1, true), out)
  end)

  it("has dnn.help with the reference entries embedded in dnn.so", function()
    local out = run_lua([[
      local dnn = require "dnn"
      dnn.help(dnn.nn.Dense)
    ]])
    assert.truthy(out:find("dnn.nn.Dense(units[, activation][, options])", 1, true), out)
    assert.truthy(out:find('activation="linear"', 1, true), out)
    assert.truthy(out:find("rc=0", 1, true), out)
  end)
end)
