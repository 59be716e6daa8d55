-- dnn.data.read_idx from Lua: values and shapes of good files, a Lua error
-- naming the path for every bad one, and the process still alive after.
local dnn = require "dnn"

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p '" .. dir .. "'"))

local function be32(n)
  return string.char(n >> 24 & 255, n >> 16 & 255, n >> 8 & 255, n & 255)
end

-- An IDX header: type code, then dims.
local function header(code, dims)
  local parts = {string.char(0, 0, code, #dims)}
  for _, d in ipairs(dims) do parts[#parts + 1] = be32(d) end
  return table.concat(parts)
end

local function write(name, bytes, gzip)
  local path = dir .. "/" .. name
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
  if gzip then
    assert(os.execute("gzip -n -f '" .. path .. "'"))
    path = path .. ".gz"
  end
  return path
end

-- read_idx(path) fails with a message holding the path and want.
local function fails(path, want)
  local ok, err = pcall(dnn.data.read_idx, path)
  assert.is_false(ok)
  assert.are.equal("string", type(err))
  assert.truthy(err:find(path, 1, true), err)
  assert.truthy(err:find(want, 1, true), err)
end

local pixels = header(0x08, {2, 3}) .. string.char(0, 1, 2, 3, 128, 255)

describe("dnn.data.read_idx", function()
  teardown(function() os.execute("rm -rf '" .. dir .. "'") end)

  it("is dnn.read_idx", function()
    assert.are.equal(dnn.read_idx, dnn.data.read_idx)
  end)

  it("reads plain and gzip'd files into float tensors of the file's dims", function()
    for _, gz in ipairs{false, true} do
      local t = dnn.data.read_idx(write("pixels" .. tostring(gz), pixels, gz))
      assert.are.same({2, 3}, {t.shape[1], t.shape[2]})
      assert.are.equal(2, t.ndim)
      assert.are.same({{0, 1, 2, 3, 128, 255}}, {t:reshape(6):totable()})
    end
  end)

  it("reads every IDX type code", function()
    local cases = {
      {0x09, "\255\127", {-1, 127}},
      {0x0B, "\255\254\1\44", {-2, 300}},
      {0x0C, "\255\255\255\246\0\1\0\0", {-10, 65536}},
      {0x0D, string.pack(">f>f", 1.5, -2.5), {1.5, -2.5}},
      {0x0E, string.pack(">d>d", -2.25, 1e3), {-2.25, 1000}},
    }
    for i, c in ipairs(cases) do
      local t = dnn.data.read_idx(write("type" .. i, header(c[1], {2}) .. c[2]))
      assert.are.same(c[3], t:totable())
    end
  end)

  it("raises a Lua error naming the path for each malformed file", function()
    fails(dir .. "/missing.idx", "cannot open")
    fails(write("empty", ""), "found a file of 0 bytes")
    fails(write("magic", "\1\0\8\1" .. be32(1) .. "x"), "not an IDX file")
    fails(write("text", "hello, world\n", true), "not an IDX file")
    fails(write("type", header(0x07, {1}) .. "x"), "unknown IDX type code 0x07")
    fails(write("ndim", "\0\0\8\0"), "expected 1 to 8 dims")
    fails(write("dims", "\0\0\8\3" .. be32(1)), "truncated header")
    fails(write("zero", header(0x08, {3, 0}), true), "dim 2 is 0")
    fails(write("short", pixels:sub(1, -2)), "expected 6 data bytes after the header, found 5")
    fails(write("short", pixels:sub(1, -2), true), "expected 6 data bytes after the header, found 5")
    fails(write("long", pixels .. "xyz"), "expected 6 data bytes after the header, found 9")
    fails(write("long", pixels .. "xyz", true), "3 trailing bytes")
    fails(write("huge", header(0x08, {65536, 65536, 2}) .. "x"), "4 GiB")
    fails(write("big", header(0x0D, {1 << 27}) .. "tiny", true), "more than a gzip file")
  end)

  it("checks its argument", function()
    local ok, err = pcall(dnn.data.read_idx)
    assert.is_false(ok)
    assert.truthy(err:find("bad argument #1 to '[%w.]*read_idx' %(string expected, got no value%)"), err)
    ok, err = pcall(dnn.data.read_idx, {})
    assert.is_false(ok)
    assert.truthy(err:find("string expected", 1, true), err)
  end)

  it("leaves the process working after the errors", function()
    collectgarbage()
    local t = dnn.data.read_idx(write("again", pixels, true))
    assert.are.equal(255, t[2][3]:item())
    assert.are.equal(6, t:numel())
  end)
end)
