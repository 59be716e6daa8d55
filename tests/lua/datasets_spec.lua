-- dnn.datasets.fashion_mnist: the real Debian files when installed, and a
-- folder of tiny files through the argument and through DNN_DATA.
local dnn = require "dnn"

local DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
local DNNLUA = os.getenv("DNNLUA")

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local function be32(n)
  return string.char(n >> 24 & 255, n >> 16 & 255, n >> 8 & 255, n & 255)
end

local function write(path, bytes, gzip)
  if gzip then path = path:gsub("%.gz$", "") end
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
  if gzip then assert(os.execute("gzip -n -f '" .. path .. "'")) end
end

-- A fake data set: n images of 28x28 whose pixel k of image i is (i + k) % 256,
-- and labels given as the files' 0-based values. train files are gzip'd,
-- test files plain (the loader takes either).
local function fake_split(dir, prefix, labels, gzip)
  local n = #labels
  local px = {}
  for i = 0, n - 1 do
    for k = 0, 28 * 28 - 1 do px[#px + 1] = string.char((i + k) % 256) end
  end
  local ext = gzip and ".gz" or ""
  write(dir .. "/" .. prefix .. "-images-idx3-ubyte" .. ext,
    "\0\0\8\3" .. be32(n) .. be32(28) .. be32(28) .. table.concat(px), gzip)
  write(dir .. "/" .. prefix .. "-labels-idx1-ubyte" .. ext, "\0\0\8\1" .. be32(n) .. string.char(table.unpack(labels)), gzip)
end

local function fake_dir(train_labels, test_labels)
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p '" .. dir .. "'"))
  fake_split(dir, "train", train_labels or {9, 0, 3}, true)
  fake_split(dir, "t10k", test_labels or {1, 2}, false)
  return dir
end

local function rmdir(dir) os.execute("rm -rf '" .. dir .. "'") end

describe("dnn.datasets.fashion_mnist", function()
  it("loads Debian's Fashion-MNIST: shapes, ranges, first labels", function()
    if not exists(DEBIAN_DIR .. "/train-images-idx3-ubyte.gz") then
      pending("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
      return
    end
    local train, test = dnn.datasets.fashion_mnist(DEBIAN_DIR)
    assert.are.same({60000, 28, 28, 1}, {table.unpack(train.x.shape)})
    assert.are.same({60000}, {table.unpack(train.y.shape)})
    assert.are.same({10000, 28, 28, 1}, {table.unpack(test.x.shape)})
    assert.are.same({10000}, {table.unpack(test.y.shape)})
    for _, split in ipairs{train, test} do
      assert.are.equal(1, split.x:max():item())
      assert.are.equal(0, -(-split.x):max():item())
      assert.are.equal(10, split.y:max():item())
      assert.are.equal(1, -(-split.y):max():item())
      assert.are.equal(5.5, split.y:mean():item()) -- balanced classes: every label made it
    end
    -- the first labels of the files (0-based there: 9 0 0 3 0 2 7 2 5 5 and 9 2 1 1 6 1 4 6 5 7)
    assert.are.same({10, 1, 1, 4, 1, 3, 8, 3, 6, 6}, train.y:narrow(1, 1, 10):totable())
    assert.are.same({10, 3, 2, 2, 7, 2, 5, 7, 6, 8}, test.y:narrow(1, 1, 10):totable())
    assert.are.equal("Ankle boot", train.class_names[train.y[1]:item()])
    assert.are.equal(10, #test.class_names)
    assert.are.equal("T-shirt/top", test.class_names[1])
    -- Fashion-MNIST's published mean pixel (0.2860 train, 0.2868 test)
    assert.is_near(0.2860, train.x:mean():item(), 0.0005)
    assert.is_near(0.2868, test.x:mean():item(), 0.0005)
  end)

  it("limits each split to its first n examples", function()
    if not exists(DEBIAN_DIR .. "/train-images-idx3-ubyte.gz") then
      pending("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
      return
    end
    local train, test = dnn.datasets.fashion_mnist{dir = DEBIAN_DIR, limit = 7}
    assert.are.same({7, 28, 28, 1}, {table.unpack(train.x.shape)})
    assert.are.same({7}, {table.unpack(test.y.shape)})
    assert.are.same({10, 1, 1, 4, 1, 3, 8}, train.y:totable())
  end)

  it("reads a folder given as argument, gzip'd or plain, scaling pixels to [0, 1] and labels to 1..10", function()
    local dir = fake_dir()
    local train, test = dnn.datasets.fashion_mnist(dir)
    assert.are.same({3, 28, 28, 1}, {table.unpack(train.x.shape)})
    assert.are.same({2, 28, 28, 1}, {table.unpack(test.x.shape)})
    assert.are.same({10, 1, 4}, train.y:totable())
    assert.are.same({2, 3}, test.y:totable())
    -- image 2 (i = 1), pixel (row 1, col 3): k = 2, value (1 + 2) / 255
    assert.is_near(3 / 255, train.x[2][1][3][1]:item(), 1e-7)
    assert.is_near(1, train.x[1][10][4][1]:item(), 1e-7) -- k = 9 * 28 + 3 = 255
    assert.is_near(0, train.x[2][10][4][1]:item(), 1e-7) -- (1 + 255) % 256
    local a = dnn.datasets.fashion_mnist{dir = dir, limit = 2}
    assert.are.same({10, 1}, a.y:totable())
    rmdir(dir)
  end)

  it("takes the folder from DNN_DATA", function()
    if not DNNLUA then
      pending("DNNLUA is not set (ctest sets it)")
      return
    end
    local dir = fake_dir({5, 6, 7, 8}, {0})
    local script = "local tr, te = dnn.datasets.fashion_mnist() print(tr.x.shape[1], table.concat(tr.y:totable(), ','), te.y:totable()[1])"
    local p = io.popen("DNN_DATA='" .. dir .. "' '" .. DNNLUA .. "' -e \"" .. script .. "\" 2>&1")
    local out = p:read("a")
    p:close()
    assert.truthy(out:find("^4\t6[.0]*,7[.0]*,8[.0]*,9[.0]*\t1"), out)
    -- DNN_DATA may also be a root holding a fashion-mnist folder
    local root = os.tmpname()
    os.remove(root)
    assert(os.execute("mkdir -p '" .. root .. "' && mv '" .. dir .. "' '" .. root .. "/fashion-mnist'"))
    p = io.popen("DNN_DATA='" .. root .. "' '" .. DNNLUA .. "' -e \"" .. script .. "\" 2>&1")
    out = p:read("a")
    p:close()
    assert.truthy(out:find("^4\t6[.0]*,7[.0]*,8[.0]*,9[.0]*\t1"), out)
    rmdir(root)
    -- a DNN_DATA without the files: the error names the path and the fix
    p = io.popen("DNN_DATA=/no/such/data '" .. DNNLUA .. "' -e 'dnn.datasets.fashion_mnist()' 2>&1")
    out = p:read("a")
    p:close()
    assert.truthy(out:find("/no/such/data", 1, true), out)
    assert.truthy(out:find("DNN_DATA", 1, true), out)
    assert.truthy(out:find("apt-get install dataset-fashion-mnist", 1, true), out)
  end)

  it("names the missing folder or file and how to get it", function()
    local ok, err = pcall(dnn.datasets.fashion_mnist, "/no/such/folder")
    assert.is_false(ok)
    assert.truthy(err:find("/no/such/folder", 1, true), err)
    assert.truthy(err:find("apt-get install dataset-fashion-mnist", 1, true), err)
    local dir = fake_dir()
    os.remove(dir .. "/t10k-labels-idx1-ubyte")
    ok, err = pcall(dnn.datasets.fashion_mnist, dir)
    assert.is_false(ok)
    assert.truthy(err:find(dir .. "/t10k-labels-idx1-ubyte.gz not found", 1, true), err)
    assert.truthy(err:find("apt-get install dataset-fashion-mnist", 1, true), err)
    rmdir(dir)
  end)

  it("refuses files that do not fit together", function()
    local dir = fake_dir({1, 10, 2}) -- 10 is not a Fashion-MNIST label
    local ok, err = pcall(dnn.datasets.fashion_mnist, dir)
    assert.is_false(ok)
    assert.truthy(err:find("train-labels-idx1-ubyte.gz: expected labels 0..9, found 1..10", 1, true), err)
    rmdir(dir)
    dir = fake_dir()
    write(dir .. "/t10k-labels-idx1-ubyte", "\0\0\8\1" .. be32(3) .. "\1\2\3") -- 3 labels, 2 images
    ok, err = pcall(dnn.datasets.fashion_mnist, dir)
    assert.is_false(ok)
    assert.truthy(err:find("holds 3 labels for the 2 images", 1, true), err)
    rmdir(dir)
  end)

  it("checks its options", function()
    assert.has_error(function() dnn.datasets.fashion_mnist(42) end)
    local ok, err = pcall(dnn.datasets.fashion_mnist, {limit = 0})
    assert.is_false(ok)
    assert.truthy(err:find("limit", 1, true), err)
    ok, err = pcall(dnn.datasets.fashion_mnist, {dir = 3})
    assert.is_false(ok)
    assert.truthy(err:find("'dir'", 1, true), err)
  end)
end)
