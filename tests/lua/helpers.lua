-- Shared helpers of the Lua specs: approximate comparison of tensors with
-- nested Lua tables, error capture, and process memory.
local dnn = dnn or require "dnn"

local H = {}

local function describe_value(v)
  if dnn.is_tensor(v) then return tostring(v) end
  if type(v) ~= "table" then return tostring(v) end
  local parts = {}
  for i = 1, #v do parts[i] = describe_value(v[i]) end
  return "{" .. table.concat(parts, ", ") .. "}"
end
H.describe = describe_value

-- Whether actual (tensor, number or nested table) matches expected within
-- tol (absolute + relative); on a mismatch also returns where.
local function close(actual, expected, tol, path)
  if dnn.is_tensor(actual) then actual = actual:totable() end
  if dnn.is_tensor(expected) then expected = expected:totable() end
  if type(expected) == "number" then
    if type(actual) ~= "number" then return false, path .. ": expected a number, got " .. type(actual) end
    if expected ~= expected then
      return actual ~= actual, path .. ": expected nan, got " .. tostring(actual)
    end
    if expected == math.huge or expected == -math.huge then
      return actual == expected, path .. ": expected " .. tostring(expected) .. ", got " .. tostring(actual)
    end
    local ok = math.abs(actual - expected) <= tol * (1 + math.abs(expected))
    return ok, path .. ": expected " .. tostring(expected) .. ", got " .. tostring(actual)
  end
  if type(actual) ~= "table" then return false, path .. ": expected a table, got " .. type(actual) end
  if #actual ~= #expected then
    return false, path .. ": expected " .. #expected .. " elements, got " .. #actual
  end
  for i = 1, #expected do
    local ok, msg = close(actual[i], expected[i], tol, path .. "[" .. i .. "]")
    if not ok then return false, msg end
  end
  return true
end

function H.close(actual, expected, tol)
  return close(actual, expected, tol or 1e-5, "value")
end

-- Raises (so busted reports it) unless actual matches expected within tol.
function H.assert_close(actual, expected, tol)
  local ok, msg = H.close(actual, expected, tol)
  if not ok then
    error(msg .. "\n  actual:   " .. describe_value(actual) .. "\n  expected: " .. describe_value(expected), 2)
  end
  return true
end

-- Asserts a shape (a tensor's, as a Lua array).
function H.assert_shape(t, shape)
  local got = t.shape
  local ok = #got == #shape
  for i = 1, #shape do ok = ok and got[i] == shape[i] end
  if not ok then
    error("shape: expected {" .. table.concat(shape, ",") .. "}, got {" .. table.concat(got, ",") .. "}", 2)
  end
end

-- The message of the error fn(...) raises; fails when it does not raise.
function H.error_of(fn, ...)
  local ok, err = pcall(fn, ...)
  if ok then error("expected an error, got none", 2) end
  return tostring(err)
end

-- Asserts that fn(...) raises and its message contains every plain string
-- in `needles`.
function H.assert_error(needles, fn, ...)
  local ok, err = pcall(fn, ...)
  if ok then error("expected an error containing '" .. table.concat(needles, "', '") .. "', got none", 2) end
  err = tostring(err)
  for _, needle in ipairs(needles) do
    if not err:find(needle, 1, true) then
      error("expected the error to contain '" .. needle .. "', got: " .. err, 2)
    end
  end
  return err
end

local function status_kb(field)
  local f = io.open("/proc/self/status")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return tonumber(text:match(field .. ":%s*(%d+)"))
end

-- Resident memory of this process in KB (Linux), or nil.
function H.rss_kb() return status_kb("VmRSS") end

-- The peak resident memory in KB since the last reset_peak_rss (or since
-- the start), or nil.
function H.peak_rss_kb() return status_kb("VmHWM") end

-- Resets the peak to the present RSS (Linux 4.0+); false where not allowed.
function H.reset_peak_rss()
  local f = io.open("/proc/self/clear_refs", "w")
  if not f then return false end
  local ok = f:write("5")
  return f:close() and ok ~= nil
end

-- Whether this process runs under AddressSanitizer (it keeps freed memory
-- in a quarantine, so RSS bounds must allow for it).
function H.sanitized()
  local f = io.open("/proc/self/maps")
  if not f then return false end
  local text = f:read("a")
  f:close()
  return text:find("libasan", 1, true) ~= nil
end

-- ---- cross-checks against PyTorch (Debian's python3-torch) ----
-- A spec writes its tensors as text lines "name values..." (H.torch_values),
-- runs tests/torch/<script> on that file, and reads back the reference's
-- lines "name v1 v2 ..." as tables of numbers.

H.python = "/usr/bin/python3" -- Debian's, never a python3 earlier on PATH
H.source_dir = os.getenv("DNN_SOURCE_DIR") or "../.."

local torch_present
function H.have_torch()
  if torch_present == nil then
    torch_present = os.execute(H.python .. " -c 'import torch' >/dev/null 2>&1") == true
  end
  return torch_present
end

-- t's values, row-major, as text that float32 reads back exactly.
function H.torch_values(t)
  local parts = {}
  for i, v in ipairs(t:contiguous():reshape(-1):totable()) do parts[i] = string.format("%.9g", v) end
  return table.concat(parts, " ")
end

-- Runs `command` and reads its lines "name v1 v2 ..." as name -> numbers,
-- and as name -> text (the lines of a repeated name joined by spaces).
local function read_reference(command, what)
  local p = assert(io.popen(command))
  local out, texts = {}, {}
  for line in p:lines() do
    local name, rest = line:match("^(%S+)%s*(.*)$")
    local values = {}
    for v in rest:gmatch("%S+") do values[#values + 1] = tonumber(v) end
    out[name] = values
    texts[name] = texts[name] and texts[name] .. " " .. rest or rest
  end
  assert(p:close(), "the PyTorch reference " .. what .. " failed")
  return out, texts
end

local function quoted_args(...)
  local text = ""
  for _, arg in ipairs({...}) do text = text .. " '" .. arg .. "'" end
  return text
end

-- Runs tests/torch/<script> <args...>; returns read_reference's two tables.
function H.run_torch_reference(script, ...)
  return read_reference(string.format("%s %s/tests/torch/%s", H.python, H.source_dir, script) .. quoted_args(...),
    "script " .. script)
end

-- The same for Python source kept in a spec (written to a temporary file).
function H.run_torch_code(code, ...)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(code)
  f:close()
  local ok, out, texts = pcall(read_reference, H.python .. " " .. path .. quoted_args(...), "code")
  os.remove(path)
  if not ok then error(out, 2) end
  return out, texts
end

-- t agrees with the reference's numbers within tol relative to 1 + |value|.
function H.assert_close_to_reference(t, expected, tol, what)
  assert(expected, what .. ": no reference")
  local got = t:reshape(-1):totable()
  assert(#got == #expected, string.format("%s: %d elements, the reference has %d", what, #got, #expected))
  for i = 1, #got do
    assert(math.abs(got[i] - expected[i]) <= tol * (1 + math.abs(expected[i])),
      string.format("%s[%d]: dnnlua %.7g, PyTorch %.7g", what, i, got[i], expected[i]))
  end
end

-- The bytes of a file, or nil when it cannot be opened.
function H.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

return H
