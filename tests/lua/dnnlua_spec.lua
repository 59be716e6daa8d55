-- The dnnlua program, spawned as a user would: options, arg, errors with
-- tracebacks, stdin scripts, the REPL (piped, and on a pseudo-terminal for
-- completion and history), Ctrl-C, any working directory.
local H = require "helpers"
local DNNLUA = assert(os.getenv("DNNLUA"), "DNNLUA (the dnnlua binary) must be set; ctest sets it")

local function quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function tmpname()
  local p = os.tmpname()
  os.remove(p)
  return p
end

local read_file = H.read_file

local function write_file(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

-- Runs a shell command line; returns stdout, stderr, exit code.
local function sh(cmdline)
  local err = tmpname()
  local p = assert(io.popen("(" .. cmdline .. ") 2>" .. err))
  local out = p:read("a")
  local _, _, code = p:close()
  local errs = read_file(err) or ""
  os.remove(err)
  return out, errs, code
end

-- Runs dnnlua with the given (already quoted) arguments.
local function dnnlua(args, env)
  return sh((env or "") .. " " .. quote(DNNLUA) .. " " .. args)
end

describe("dnnlua", function()
  it("prints its version (dnn.version), Lua's and OpenBLAS's with -v and --version", function()
    assert.truthy(dnn.version:match("^%d+%.%d+%.%d+$"), dnn.version)
    for _, flag in ipairs{"-v", "--version"} do
      local out, err, code = dnnlua(flag)
      assert.are.equal(0, code, err)
      local expected = "^dnnlua " .. dnn.version:gsub("%.", "%%.") .. " %(Lua 5%.4%.%d+, OpenBLAS"
      assert.truthy(out:match(expected), out)
    end
    local _, bad, bad_code = dnnlua("--versio")
    assert.are.equal(1, bad_code)
    assert.truthy(bad:find("unrecognized option '--versio'", 1, true), bad)
  end)

  it("opens OpenBLAS at the first matrix product: without it, starts, then exits 127 naming it", function()
    local missing = "DNN_OPENBLAS=/nonexistent/libopenblas.so.0"
    local out, err, code = dnnlua("-e " .. quote("print(dnn.ones(3):sum():item())"), missing)
    assert.are.equal(0, code, err)
    assert.are.equal("3.0\n", out)
    local product = "print('before') io.stdout:flush() dnn.ones(2, 2):matmul(dnn.ones(2, 2))"
    out, err, code = dnnlua("-e " .. quote(product), missing)
    assert.are.equal(127, code)
    assert.are.equal("before\n", out)
    local message = "dnn: cannot load OpenBLAS (/nonexistent/libopenblas.so.0), which every matrix product needs"
    assert.truthy(err:find(message, 1, true), err)
  end)

  it("prints its options and where to go next with -h and --help (exit 0), and leaves a script's --help alone", function()
    local out = dnnlua("--help")
    assert.truthy(out:find("help(x) prints the reference entry of x", 1, true), out)
    for _, flag in ipairs{"-h", "--help"} do
      local out, err, code = dnnlua(flag)
      assert.are.equal(0, code, err)
      assert.truthy(out:match("^usage: %S*dnnlua %[options%] %[script %[args%]%]"), out)
      assert.truthy(out:find("DNN_NUM_THREADS", 1, true), out)
      assert.truthy(out:find("man dnnlua", 1, true), out)
    end
    local script = tmpname() .. ".lua"
    local f = assert(io.open(script, "w"))
    f:write("print(arg[1])")
    f:close()
    local out, err, code = dnnlua(quote(script) .. " --help")
    os.remove(script)
    assert.are.equal(0, code, err)
    assert.are.equal("--help\n", out)
    local _, bad, bad_code = dnnlua("--hepl")
    assert.are.equal(1, bad_code)
    assert.truthy(bad:find("unrecognized option '--hepl'", 1, true), bad)
  end)

  it("runs -e with dnn preloaded as a global, the same table require returns", function()
    local out, err, code = dnnlua("-e " .. quote("print(dnn.zeros(2):sum():item()) print(require('dnn') == dnn)"))
    assert.are.equal(0, code, err)
    assert.are.equal("0.0\ntrue\n", out)
  end)

  it("sets arg and ... as lua5.4 does", function()
    local script = tmpname() .. ".lua"
    write_file(script, [[
print(arg[-1] ~= nil, arg[0], arg[1], arg[2], arg[3], #arg)
print(select("#", ...), ...)
]])
    local out, err, code = dnnlua(quote(script) .. " a 'b c' --x")
    assert.are.equal(0, code, err)
    assert.are.equal("true\t" .. script .. "\ta\tb c\t--x\t3\n3\ta\tb c\t--x\n", out)
    -- options before the script shift arg's negative indices, as lua5.4
    out, err, code = dnnlua("-e 'x=1' " .. quote(script) .. " z")
    assert.are.equal(0, code, err)
    assert.truthy(out:find(script .. "\tz\tnil\tnil\t1\n", 1, true), out)
    local stat = "print(arg[-2], arg[-1], arg[0])"
    out, err, code = dnnlua("-e " .. quote(stat) .. " -- " .. quote(script))
    assert.are.equal(0, code, err)
    assert.are.equal(stat .. "\t--\t" .. script .. "\n", out:sub(1, #stat + #script + 5))
    os.remove(script)
  end)

  it("reports a script error with dnnlua:, file:line and a traceback, and exits 1", function()
    local script = tmpname() .. ".lua"
    write_file(script, [[
local function inner(x)
  return x.field.missing -- line 2: indexes a nil
end
local function outer() return inner({}) + 1 end
outer()
]])
    local out, err, code = dnnlua(quote(script))
    assert.are.equal(1, code)
    assert.are.equal("", out)
    assert.truthy(err:find("^dnnlua: " .. script:gsub("%p", "%%%0") .. ":2: attempt to index"), err)
    assert.truthy(err:find("stack traceback:", 1, true), err)
    assert.truthy(err:find(script .. ":2: in upvalue 'inner'", 1, true)
      or err:find(script .. ":2: in function", 1, true), err)
    assert.truthy(err:find(script .. ":4: in local 'outer'", 1, true), err)
    assert.truthy(err:find(script .. ":5: in main chunk", 1, true), err)
    os.remove(script)
  end)

  it("shows the traceback of an error() raised inside nested functions, and of a dnn error", function()
    local script = tmpname() .. ".lua"
    write_file(script, [[
local function check(n)
  if n == 0 then error("reached the bottom") end
  return check(n - 1)
end
local function run() check(3) end
run()
]])
    local _, err, code = dnnlua(quote(script))
    assert.are.equal(1, code)
    assert.truthy(err:find("dnnlua: " .. script .. ":2: reached the bottom", 1, true), err)
    assert.truthy(err:find("[C]: in function 'error'", 1, true), err)
    assert.truthy(err:find(script .. ":5: in local 'run'", 1, true), err)
    write_file(script, "local ok = 1\ndnn.data.read_idx('/no/such/file.idx')\n")
    _, err, code = dnnlua(quote(script))
    assert.are.equal(1, code)
    assert.truthy(err:find("/no/such/file.idx", 1, true), err)
    assert.truthy(err:find(script .. ":2: in main chunk", 1, true), err)
    os.remove(script)
  end)

  it("reports syntax errors and a missing script", function()
    local _, err, code = dnnlua("-e 'x ='")
    assert.are.equal(1, code)
    assert.truthy(err:find("dnnlua: (command line):1:", 1, true), err)
    _, err, code = dnnlua("/no/such/script.lua")
    assert.are.equal(1, code)
    assert.truthy(err:find("cannot open /no/such/script.lua", 1, true), err)
  end)

  it("refuses an unknown option with the usage", function()
    local _, err, code = dnnlua("-q")
    assert.are.equal(1, code)
    assert.truthy(err:find("unrecognized option '-q'", 1, true), err)
    assert.truthy(err:find("usage:", 1, true), err)
    _, err, code = dnnlua("-e")
    assert.are.equal(1, code)
    assert.truthy(err:find("'-e' needs argument", 1, true), err)
  end)

  it("runs -l, LUA_INIT and -E as lua5.4", function()
    local out, err, code = dnnlua("-l s=string -e " .. quote("print(s.rep('ab', 2))"))
    assert.are.equal(0, code, err)
    assert.are.equal("abab\n", out)
    out, err, code = dnnlua("-e " .. quote("print(seen)"), "LUA_INIT=" .. quote("seen = dnn.version"))
    assert.are.equal(0, code, err)
    assert.truthy(out:match("^%d+%.%d+%.%d+\n$"), out)
    out, err, code = dnnlua("-E -e " .. quote("print(seen)"), "LUA_INIT=" .. quote("seen = 1"))
    assert.are.equal(0, code, err)
    assert.are.equal("nil\n", out)
  end)

  it("reads the script from stdin when it is not a terminal, and with -", function()
    local out, err, code = sh("printf 'print(1 + 1)\\n' | " .. quote(DNNLUA))
    assert.are.equal(0, code, err)
    assert.are.equal("2\n", out)
    out, err, code = sh("printf 'print(select(\"#\", ...), ...)\\n' | " .. quote(DNNLUA) .. " - x y")
    assert.are.equal(0, code, err)
    assert.are.equal("2\tx\ty\n", out)
    _, err, code = sh("printf 'error(\"from stdin\")\\n' | " .. quote(DNNLUA))
    assert.are.equal(1, code)
    assert.truthy(err:find("from stdin", 1, true), err)
  end)

  it("with -i reads lines, prints expression results and tensors, continues incomplete statements", function()
    local input = table.concat({
      "1 + 2",
      "x = 40",
      "x + 2, 'two'",
      "for i = 1, 2 do",
      "  print('loop', i)",
      "end",
      "dnn.tensor{{1, 2}, {3, 4}}",
      "error('oops')",
      "print('still alive')",
    "{1, 2, loss = {0.5}}",
    }, "\n")
    local out, err, code = sh("printf '%s\\n' " .. quote(input) .. " | " .. quote(DNNLUA) .. " -i")
    assert.are.equal(0, code, err)
    assert.truthy(out:match("^dnnlua %d"), out) -- -i shows the version, as lua -i
    assert.truthy(out:find("> 3\n", 1, true), out)
    assert.truthy(out:find("42\ttwo\n", 1, true), out)
    assert.truthy(out:find(">> >> loop\t1\nloop\t2\n", 1, true), out)
    assert.truthy(out:find("tensor(", 1, true), out)
    assert.truthy(out:find("still alive", 1, true), out)
    assert.truthy(out:find("> {1, 2, loss = {0.5}}\n", 1, true), out) -- plain tables print readably
    assert.truthy(err:find("stdin:1: oops", 1, true), err)
  end)

  it("runs a script then the REPL with -i", function()
    local script = tmpname() .. ".lua"
    write_file(script, "answer = 6 * 7\n")
    local out, err, code = sh("printf 'answer\\n' | " .. quote(DNNLUA) .. " -i " .. quote(script))
    assert.are.equal(0, code, err)
    assert.truthy(out:find("> 42\n", 1, true), out)
    os.remove(script)
  end)

  it("works from any working directory", function()
    local out, err, code = sh("cd / && " .. quote(DNNLUA) .. " -e " .. quote("print(dnn.nn ~= nil, dnn.datasets ~= nil)"))
    assert.are.equal(0, code, err)
    assert.are.equal("true\ttrue\n", out)
  end)

  it("takes its thread count from DNN_NUM_THREADS", function()
    local out, err, code = dnnlua("-e " .. quote("print(dnn.get_num_threads())"), "DNN_NUM_THREADS=1")
    assert.are.equal(0, code, err)
    assert.are.equal("1\n", out)
    out, err, code = dnnlua("-e " .. quote("print(dnn.get_num_threads() >= 1)"), "DNN_NUM_THREADS=zero")
    assert.are.equal(0, code)
    assert.are.equal("true\n", out)
    assert.truthy(err:find("ignoring DNN_NUM_THREADS", 1, true), err)
  end)

  it("stops a running script on Ctrl-C (SIGINT) with a traceback", function()
    local _, err, code = sh(quote(DNNLUA) .. " -e " .. quote("local n = 0 while true do n = n + 1 end")
      .. " & pid=$!; sleep 0.5; kill -INT $pid; wait $pid")
    assert.are.equal(1, code)
    assert.truthy(err:find("interrupted!", 1, true), err)
    assert.truthy(err:find("stack traceback:", 1, true), err)
  end)

  -- A terminal session through util-linux's `script`, which gives dnnlua a
  -- pseudo-terminal: line editing, tab completion and the history file.
  local has_script = os.execute("command -v script >/dev/null 2>&1")
  local function terminal(lines, history)
    -- a pause first: keys typed before dnnlua puts the terminal in raw mode
    -- would be read as cooked input (a loaded or sanitizer build starts slowly)
    local feed = {"sleep 1"}
    for _, l in ipairs(lines) do
      feed[#feed + 1] = "printf '%s' " .. quote(l) .. "; sleep 0.3"
    end
    feed[#feed + 1] = "printf '\\004'; sleep 0.3"
    -- never a hang: a session that missed its Ctrl-D is stopped and the test fails on its output
    return sh("(" .. table.concat(feed, "; ") .. ") | DNNLUA_HISTORY=" .. quote(history) .. " timeout -k 5 60 script -qfec "
      .. quote(quote(DNNLUA)) .. " /dev/null")
  end

  it("completes global names, fields after . and methods after : on a terminal", function()
    if not has_script then
      pending("util-linux 'script' is not installed")
      return
    end
    local history = tmpname()
    local out = terminal({
      "f = dnn.data.read_i\t\n",
      "print('same:', f == dnn.data.read_idx)\n",
      "t = dnn.zeros(2, 3)\n",
      "print('shape:', t:resh\t(3, 2).shape[1])\n",
      "print('global:', type(collectg\t))\n",
    }, history)
    assert.truthy(out:find("same:\ttrue", 1, true), out)
    assert.truthy(out:find("shape:\t3", 1, true), out)
    assert.truthy(out:find("global:\tfunction", 1, true), out)
    local saved = read_file(history) or ""
    assert.truthy(saved:find("dnn.data.read_idx", 1, true), saved)
    -- the history is loaded by the next session: up-arrow brings the last line back
    out = terminal({"\27[A\n"}, history)
    assert.truthy(out:find("global:\tfunction", 1, true), out)
    os.remove(history)
  end)

  it("completes methods after any chain expression on a terminal, and has help", function()
    if not has_script then
      pending("util-linux 'script' is not installed")
      return
    end
    local history = tmpname()
    local out = terminal({
      "model = dnn.nn.Sequential{dnn.nn.Dense(3, {input_shape = {4}})}\n",
      "print('indexed:', model.layers[1]:count_par\t())\n", -- a layer, looked up
      "print('class:', dnn.nn.Dense(5):compute_output_s\t({2, 4})[2])\n", -- what calling a class makes
      "x = dnn.ones(2, 3)\n",
      "print('tensor:', x:sum():resh\t(1).shape[1])\n", -- what a tensor method gives
      "help 'Dense'\n",
    }, history)
    os.remove(history)
    assert.truthy(out:find("indexed:\t15", 1, true), out)
    assert.truthy(out:find("class:\t5", 1, true), out)
    assert.truthy(out:find("tensor:\t1", 1, true), out)
    assert.truthy(out:find("dnn.nn.Dense(units[, activation][, options])", 1, true), out)
  end)
end)
