-- dnn.data from Lua: read_csv's results (names, labels, missing values) and
-- errors, read_cifar10, image_folder on a folder of small PNGs.
local dnn = require "dnn"

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p '" .. dir .. "'"))

local function write(name, bytes)
  local path = dir .. "/" .. name
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
  return path
end

local function fails(want, fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok)
  assert.are.equal("string", type(err))
  for _, w in ipairs(type(want) == "table" and want or {want}) do
    assert.truthy(err:find(w, 1, true), err)
  end
end

describe("read_csv", function()
  local iris = write("iris.csv", table.concat({
    "sepal_length,sepal_width,species",
    "5.1,3.5,setosa",
    "7.0,3.2,versicolor",
    "6.3,,virginica",
    "4.9,3.0,setosa",
    "",
  }, "\r\n"))

  it("returns x, the names of its columns and what was missing", function()
    local x, names, info = dnn.data.read_csv(iris)
    assert.are.same({4, 2}, x.shape)
    assert.are.same({"sepal_length", "sepal_width"}, names)
    assert.are.equal(7.0, x[2][1]:item())
    assert.is_true(x[3][2]:item() ~= x[3][2]:item()) -- NaN
    assert.are.same({sepal_width = 1}, info.missing)
    assert.are.same({3}, info.missing_rows)
    assert.are.same({"setosa", "versicolor", "virginica", "setosa"}, info.strings.species)
  end)

  it("maps a label column to 1-based class ids with the sorted names", function()
    local x, y, class_names = dnn.data.read_csv(iris, {label_column = "species"})
    assert.are.same({4, 2}, x.shape)
    assert.are.same({1, 2, 3, 1}, y:totable())
    assert.are.same({"setosa", "versicolor", "virginica"}, class_names)
  end)

  it("sorts numeric labels as numbers, and takes columns by position", function()
    local path = write("numeric_labels.csv", "a,label\n1,10\n2,2\n3,1\n")
    local x, y, names = dnn.data.read_csv(path, {label_column = 2})
    assert.are.same({"1", "2", "10"}, names)
    assert.are.same({3, 2, 1}, y:totable())
    assert.are.same({3, 1}, x.shape)
  end)

  it("takes a separator, no header and column types", function()
    local path = write("semi.csv", "1;2;3\n4;5;6\n")
    local x, names = dnn.data.read_csv(path, {header = false, separator = ";", columns = {"number", "string"}})
    assert.are.same({"column_1", "column_3"}, names)
    assert.are.same({{1, 3}, {4, 6}}, x:totable())
  end)

  it("errors on missing values with missing = 'error', naming row and column", function()
    fails({iris, "row 3", "sepal_width"}, dnn.data.read_csv, iris, {missing = "error"})
  end)

  it("names the path, row and column of a ragged row or a bad number", function()
    local ragged = write("ragged.csv", "a,b\n1,2\n3,4,5\n")
    fails({ragged, "row 2 (line 3)", "3 fields, expected 2"}, dnn.data.read_csv, ragged)
    local bad = write("bad.csv", "a,b\n1,2\n3,oops\n")
    fails({bad, "row 2", "column 'b'", "oops"}, dnn.data.read_csv, bad, {columns = {b = "number"}})
    fails("unknown option 'headers'", dnn.data.read_csv, bad, {headers = true})
    fails("column type", dnn.data.read_csv, bad, {columns = {"integer"}})
    fails("no column", dnn.data.read_csv, bad, {label_column = "c"})
    fails({dir .. "/none.csv", "cannot open"}, dnn.data.read_csv, dir .. "/none.csv")
  end)
end)

describe("read_cifar10", function()
  it("reads channels-last images in [0, 1] and 1-based labels", function()
    local rec = {string.char(6)}
    for k = 0, 2 do
      for p = 0, 1023 do rec[#rec + 1] = string.char((k * 80 + p) % 256) end
    end
    local path = write("cifar.bin", table.concat(rec):rep(3))
    local x, y = dnn.data.read_cifar10(path)
    assert.are.same({3, 32, 32, 3}, x.shape)
    assert.are.same({7, 7, 7}, y:totable())
    -- pixel p = 32 * 1 + 2 (row 2, column 3), blue: (160 + 34) / 255
    assert.is_true(math.abs(x[2][2][3][3]:item() - 194 / 255) < 1e-6)
    assert.is_true(x:min():item() >= 0 and x:max():item() <= 1)
  end)

  it("refuses a file that is not whole records", function()
    local path = write("cifar_short.bin", ("\0"):rep(3072))
    fails({path, "multiple of 3073"}, dnn.data.read_cifar10, path)
  end)
end)

describe("image_folder", function()
  local root = dir .. "/pets"
  assert(os.execute("mkdir -p '" .. root .. "/dog' '" .. root .. "/cat' '" .. root .. "/empty_class'"))
  -- cats are dark 4x6 images, dogs bright 8x8 ones
  for i = 1, 3 do dnn.image.save(dnn.full({4, 6, 3}, 0.1 * i), root .. "/cat/c" .. i .. ".png") end
  for i = 1, 2 do dnn.image.save(dnn.full({8, 8, 3}, 0.7 + 0.1 * i), root .. "/dog/d" .. i .. ".png") end
  write("pets/cat/notes.txt", "not an image")

  it("loads one class per sub-folder, sorted, resized to image_size", function()
    local ds = dnn.data.image_folder(root, {image_size = {5, 5}})
    assert.are.same({"cat", "dog", "empty_class"}, ds.class_names)
    assert.are.same({5, 5, 5, 3}, ds.x.shape)
    assert.are.same({1, 1, 1, 2, 2}, ds.y:totable())
    assert.is_true(math.abs(ds.x[1]:mean():item() - 0.1) < 0.01)
    assert.is_true(ds.x[5]:mean():item() > 0.85)
  end)

  it("gives gray images with channels = 1 and keeps a given class order", function()
    local ds = dnn.data.image_folder(root, {image_size = {4, 4}, channels = 1, class_names = {"dog", "cat"}})
    assert.are.same({5, 4, 4, 1}, ds.x.shape)
    assert.are.same({1, 1, 2, 2, 2}, ds.y:totable())
  end)

  it("splits training and validation subsets with a seed, complementary", function()
    local opts = {image_size = {4, 4}, validation_split = 0.4, seed = 7}
    opts.subset = "training"
    local tr = dnn.data.image_folder(root, opts)
    opts.subset = "validation"
    local va = dnn.data.image_folder(root, opts)
    assert.are.equal(3, tr.x.shape[1])
    assert.are.equal(2, va.x.shape[1])
    local seen = {}
    for _, p in ipairs(tr.paths) do seen[p] = true end
    for _, p in ipairs(va.paths) do assert.is_nil(seen[p]) end
    assert.are.same(va.paths, dnn.data.image_folder(root, opts).paths)
  end)

  it("errors on an empty folder, a corrupt image and bad options", function()
    local empty = dir .. "/empty"
    assert(os.execute("mkdir -p '" .. empty .. "'"))
    fails({empty, "no sub-folders"}, dnn.data.image_folder, empty)
    assert(os.execute("mkdir -p '" .. empty .. "/a'"))
    fails({empty, "no image files"}, dnn.data.image_folder, empty)
    fails({dir .. "/missing", "cannot read"}, dnn.data.image_folder, dir .. "/missing")
    local broken = dir .. "/broken"
    assert(os.execute("mkdir -p '" .. broken .. "/a'"))
    write("broken/a/bad.png", "\137PNG\r\n\26\n truncated")
    fails({"bad.png"}, dnn.data.image_folder, broken, {image_size = {4, 4}})
    fails("validation_split and subset", dnn.data.image_folder, root, {validation_split = 0.2})
    fails("image_size", dnn.data.image_folder, root, {image_size = {0, 4}})
    fails("no sub-folder named 'cow'", dnn.data.image_folder, root, {class_names = {"cow"}})
  end)
end)
