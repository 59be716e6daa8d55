-- Saves are all or nothing: writers killed (kill -9) at random moments
-- leave the target either the old file or a new complete one, never part of
-- one, and the next save leaves no temporary file of a dead writer in the
-- folder (core/src/atomic_file.c).
local H = require "helpers"

local DNNLUA = assert(os.getenv("DNNLUA"), "DNNLUA (the dnnlua binary) must be set; ctest sets it")

local function quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. quote(dir)))
local path = dir .. "/model.safetensors"

-- The names in dir that are temporary files of path.
local function temporaries()
  local out = {}
  local p = assert(io.popen("ls -a " .. quote(dir)))
  for name in p:lines() do
    if name:find("model.safetensors.tmp.", 1, true) == 1 then out[#out + 1] = name end
  end
  p:close()
  table.sort(out)
  return out
end

-- Checks path is one whole file a writer below wrote: tensors a and b of n
-- values, every value the save's number k (kept in the metadata too).
local function check_whole(n)
  local tensors, meta = dnn.load_safetensors(path)
  local k = tonumber(meta.k)
  assert(k, "no k in the metadata")
  for _, name in ipairs{"a", "b"} do
    local t = tensors[name]
    assert.are.equal(n, t:numel())
    assert.are.equal(k, t:min():item())
    assert.are.equal(k, t:max():item())
  end
  return k
end

local writer = [[
local path, n, k = arg[1], tonumber(arg[2]), tonumber(arg[3])
local t = dnn.zeros(n)
while true do
  k = k + 1
  t:fill(k)
  dnn.save_safetensors(path, {{"a", t}, {"b", t}}, {k = tostring(k)})
end
]]

-- A pid no process has: a shell that has exited (and been waited for).
local function dead_pid()
  local p = assert(io.popen("sh -c 'echo $$'"))
  local pid = tonumber(p:read("l"))
  p:close()
  return pid
end

describe("atomic saves", function()
  local n = 1 << 21 -- two tensors of 8 MB: a save takes long enough to be killed inside it

  it("survive writers killed at random moments, and the next save removes what dead writers left", function()
    local script = dir .. "/writer.lua"
    local f = assert(io.open(script, "w"))
    f:write(writer)
    f:close()
    local t0 = dnn.zeros(n)
    dnn.save_safetensors(path, {{"a", t0}, {"b", t0}}, {k = "0"})
    math.randomseed(os.time())
    local trials, changed = 8, 0
    local last = 0
    for trial = 1, trials do
      local after = 0.25 + math.random() * 1.0 -- start-up included: some kills land before the first save
      os.execute(string.format("timeout -s KILL %.3f %s %s %s %d %d >/dev/null 2>&1", after, quote(DNNLUA),
        quote(script), quote(path), n, trial * 100000))
      local k = check_whole(n)
      if k ~= last then changed = changed + 1 end
      last = k
    end
    assert.is_true(changed >= 1, "no writer finished a save in " .. trials .. " trials")

    -- what a writer killed between writing and renaming leaves (and what a
    -- writer without O_TMPFILE leaves when killed while writing): its pid is
    -- dead, so the next save removes it; a live writer's file stays
    local stale = string.format("%s.tmp.%d", path, dead_pid())
    local live = path .. ".tmp.1" -- pid 1 always exists
    for _, name in ipairs{stale, live} do
      local g = assert(io.open(name, "wb"))
      g:write("half a file")
      g:close()
    end
    local t = dnn.full({n}, -7)
    dnn.save_safetensors(path, {{"a", t}, {"b", t}}, {k = "-7"})
    assert.are.equal(-7, check_whole(n))
    assert.are.same({"model.safetensors.tmp.1"}, temporaries())
    os.remove(live)
  end)

  it("leave the old file and no temporary when a save fails", function()
    local t = dnn.full({4}, 3)
    dnn.save_safetensors(path, {{"a", t}, {"b", t}}, {k = "3"})
    local ok = pcall(dnn.save_safetensors, path, {{"a", t}, {"b", 42}})
    assert.is_false(ok)
    H.assert_close(dnn.load_safetensors(path).a, {3, 3, 3, 3})
    assert.are.same({}, temporaries())
  end)

  it("refuse names and metadata with a NUL byte rather than cut them", function()
    H.assert_error({"tensor name", "NUL byte"}, dnn.save_safetensors, path, {["w\0x"] = dnn.zeros(1)})
    H.assert_error({"metadata value", "NUL byte"}, dnn.save_safetensors, path, {w = dnn.zeros(1)}, {k = "a\0b"})
  end)

  teardown(function() os.execute("rm -rf " .. quote(dir)) end)
end)
