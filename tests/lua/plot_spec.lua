-- dnn.plot: the PNGs it writes have the expected size and content (several
-- colours: curves, text, legend), from a History, a plain table and a real
-- fit; confusion matrices; misuse.
local dnn = require "dnn"
local H = require "helpers"

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p '" .. dir .. "'"))

-- How many pixels of img (H, W, 3) are close to the colour rgb.
local function count_color(img, rgb, tol)
  local d = (img - dnn.tensor(rgb):reshape(1, 1, 3)):abs():max(3)
  return d:lt(tol or 0.02):sum():item()
end

local function series(n, f)
  local t = {}
  for e = 1, n do t[e] = f(e) end
  return t
end

describe("dnn.plot.history", function()
  it("draws loss and each metric, train and validation, to a PNG of the expected size", function()
    local h = {history = {loss = series(10, function(e) return 1 / e end),
      val_loss = series(10, function(e) return 1.2 / e end),
      accuracy = series(10, function(e) return 1 - 0.5 / e end),
      val_accuracy = series(10, function(e) return 0.9 - 0.5 / e end)}}
    local path = dir .. "/curves.png"
    local cv = dnn.plot.history(h, path, {title = "run 1"})
    local img = dnn.image.load(path)
    -- two panels side by side, 480 x 320 each, under a 36-pixel title band
    H.assert_shape(img, {36 + 320, 2 * 480, 3})
    -- the file holds the returned canvas, to the nearest 8-bit level
    assert.is_true((img - cv):abs():max():item() <= 0.5 / 255 + 1e-6)
    local white, black = count_color(img, {1, 1, 1}), count_color(img, {0, 0, 0})
    local train, val = count_color(img, {0.12, 0.47, 0.71}, 0.03), count_color(img, {1.0, 0.5, 0.05}, 0.03)
    assert.is_true(white > img.shape[1] * img.shape[2] * 0.5) -- mostly background
    assert.is_true(black > 500) -- axes, ticks, text
    assert.is_true(train > 300 and val > 200) -- both curves in both panels
    -- the title is drawn at the top center (dark pixels there)
    local band = img:narrow(1, 8, 20):narrow(2, 440, 80)
    assert.is_true(count_color(band, {0, 0, 0}) > 20)
  end)

  it("accepts a plain table of series, a single series, and a History from fit", function()
    local p1 = dir .. "/plain.png"
    dnn.plot.history({loss = {3, 2, 1.5}, mae = {1, 0.8, 0.7}, val_mae = {1.1, 0.9, 0.85}}, p1)
    H.assert_shape(dnn.image.load(p1), {36 + 320, 960, 3})
    local p2 = dir .. "/one.png"
    dnn.plot.history({loss = {0.5}}, p2, {width = 300, height = 200})
    local one = dnn.image.load(p2)
    H.assert_shape(one, {36 + 200, 300, 3})
    assert.is_true(count_color(one, {0.12, 0.47, 0.71}, 0.03) > 10) -- the single point's marker
    -- three quantities: two per row
    dnn.plot.history({loss = {1, 2}, a = {1, 2}, b = {2, 1}}, dir .. "/three.png")
    H.assert_shape(dnn.image.load(dir .. "/three.png"), {36 + 2 * 320, 960, 3})
    -- a real History
    dnn.manual_seed(1)
    local model = dnn.nn.Sequential {dnn.nn.Dense(4, {activation = "relu", input_shape = {3}}), dnn.nn.Dense(1)}
    model:compile {optimizer = "sgd", loss = "mse", metrics = {"mae"}}
    local x, y = dnn.rand(32, 3), dnn.rand(32, 1)
    local history = model:fit(x, y, {epochs = 3, batch_size = 8, validation_split = 0.25, verbose = 0})
    local p3 = dir .. "/fit.png"
    dnn.plot.history(history, p3)
    local img = dnn.image.load(p3)
    H.assert_shape(img, {36 + 320, 960, 3})
    assert.is_true(count_color(img, {1.0, 0.5, 0.05}, 0.03) > 50) -- validation curves drawn
  end)

  it("refuses what it cannot plot", function()
    H.assert_error({"dnn.plot.history", "nothing to plot"}, dnn.plot.history, {}, dir .. "/x.png")
    H.assert_error({"path"}, dnn.plot.history, {loss = {1}})
    H.assert_error({"'loss'", "string"}, dnn.plot.history, {loss = {1, "two"}}, dir .. "/x.png")
    H.assert_error({"History"}, dnn.plot.history, 5, dir .. "/x.png")
  end)

  it("names the x axis and the two curves as told (xlabel, legend)", function()
    local h = {["return"] = {10, 20, 30}, val_return = {10, 15, 20}}
    local plain = dnn.plot.history(h, dir .. "/plain.png")
    local named = dnn.plot.history(h, dir .. "/named.png", {xlabel = "episode", legend = {"return", "mean"}})
    H.assert_shape(named, plain.shape)
    assert.is_true((named - plain):abs():sum():item() > 0) -- other words drawn
    local again = dnn.plot.history(h, dir .. "/named2.png", {xlabel = "episode", legend = {"return", "mean"}})
    assert.are.equal(0, (named - again):abs():sum():item())
    H.assert_error({"dnn.plot.history: expected legend a table of two strings"}, dnn.plot.history, h, dir .. "/x.png",
      {legend = {"one"}})
    H.assert_error({"dnn.plot.history: expected xlabel a string, got number"}, dnn.plot.history, h, dir .. "/x.png",
      {xlabel = 5})
  end)

  it("keeps going with NaN and infinite values (gaps in the curve)", function()
    local path = dir .. "/nan.png"
    dnn.plot.history({loss = {1, 0 / 0, 0.5, math.huge, 0.2}}, path)
    H.assert_shape(dnn.image.load(path), {356, 480, 3})
    -- very large and very small values get %g tick labels (they fit the margin)
    dnn.plot.history({loss = {2e7, 1e7}, acc = {1e-5, 2.5e-5}}, dir .. "/big.png")
    H.assert_shape(dnn.image.load(dir .. "/big.png"), {356, 960, 3})
  end)
end)

describe("dnn.plot.confusion_matrix", function()
  it("draws a heat map with counts and labels", function()
    local cm = dnn.tensor {{50, 2, 3}, {4, 40, 6}, {0, 1, 99}}
    local path = dir .. "/cm.png"
    dnn.plot.confusion_matrix(cm, {"cat", "dog", "bird"}, path)
    local img = dnn.image.load(path)
    assert.are.equal(3, img.shape[3])
    assert.is_true(img.shape[1] > 3 * 36 and img.shape[2] > 3 * 36)
    -- the darkest cell (99) is matplotlib's darkest blue, with white text in it
    assert.is_true(count_color(img, {0.03, 0.19, 0.42}, 0.02) > 500)
    assert.is_true(count_color(img, {0, 0, 0}) > 100)
    -- normalized rows, long labels written vertically under the columns
    local p2 = dir .. "/cm_norm.png"
    local cv = dnn.plot.confusion_matrix({{1, 3}, {0, 2}}, {"T-shirt/top", "Trouser"}, p2, {normalize = true})
    local n = dnn.image.load(p2)
    H.assert_shape(n, cv.shape)
    assert.is_true(n.shape[1] > n.shape[2] * 0.8) -- room below for the vertical labels
    -- without labels: 1..K
    dnn.plot.confusion_matrix({{5}}, nil, dir .. "/one.png")
    assert.are.equal(3, dnn.image.load(dir .. "/one.png").shape[3])
  end)

  it("refuses malformed matrices and label lists", function()
    H.assert_error({"square"}, dnn.plot.confusion_matrix, {{1, 2}, {3}}, nil, dir .. "/x.png")
    H.assert_error({"expected 2 labels, got 3"}, dnn.plot.confusion_matrix, {{1, 2}, {3, 4}}, {"a", "b", "c"},
      dir .. "/x.png")
    H.assert_error({"path"}, dnn.plot.confusion_matrix, {{1}}, nil)
  end)
end)
