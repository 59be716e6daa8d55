-- Augmentation: every layer is the identity in inference mode and changes
-- its input in training; known answers on small hand-made images; value
-- ranges; reproducibility with dnn.manual_seed; dnn.augment's Compose,
-- CutOut and MixUp; a model with augmentation layers trains and predicts.
local dnn = require "dnn"
local nn = dnn.nn

local function max_diff(a, b)
  return (a - b):abs():max():item()
end

-- A batch of n distinct h x w x c images in [0, 1].
local function batch(n, h, w, c)
  dnn.manual_seed(100)
  return dnn.rand(n, h, w, c)
end

local random_layers = {
  {"RandomFlip", function() return nn.RandomFlip("horizontal_and_vertical") end},
  {"RandomRotation", function() return nn.RandomRotation(0.2) end},
  {"RandomZoom", function() return nn.RandomZoom(0.3) end},
  {"RandomTranslation", function() return nn.RandomTranslation(0.2, 0.2) end},
  {"RandomContrast", function() return nn.RandomContrast(0.5) end},
  {"RandomBrightness", function() return nn.RandomBrightness(0.3) end},
  {"GaussianNoise", function() return nn.GaussianNoise(0.1) end},
}

describe("augmentation layers", function()
  local x = batch(8, 6, 6, 3)

  for _, case in ipairs(random_layers) do
    local name, make = case[1], case[2]
    it(name .. " is the identity in inference mode and random in training", function()
      local l = make()
      assert.are.equal(name, l.type_name)
      dnn.manual_seed(1)
      local y1 = l(x)
      assert.are.same(x.shape, y1.shape)
      assert.is_true(max_diff(y1, x) > 1e-3, name .. " left the batch unchanged")
      dnn.manual_seed(1)
      assert.are.equal(0, max_diff(l(x), y1)) -- the same seed, the same transforms
      assert.is_true(max_diff(l(x), y1) > 0) -- the next draws differ
      l:eval()
      assert.are.equal(0, max_diff(l(x), x))
      l:train()
      assert.is_true(max_diff(l(x), x) > 1e-3)
    end)
  end

  it("draws one transform per image", function()
    local same = dnn.full({16, 4, 4, 1}, 0.5) + dnn.arange(16):reshape(1, 4, 4, 1) / 32
    local out = nn.RandomRotation(0.5)(same)
    local distinct = 0
    for i = 2, 16 do
      if max_diff(out[i], out[1]) > 1e-4 then distinct = distinct + 1 end
    end
    assert.is_true(distinct >= 14)
  end)

  it("RandomFlip gives each image itself or its mirror", function()
    local img = dnn.arange(12):reshape(1, 3, 4, 1)
    local b = dnn.cat({img, img, img, img, img, img, img, img}, 1)
    local mirror = img:index_select(3, {4, 3, 2, 1})
    local flipped, kept = 0, 0
    local out = nn.RandomFlip("horizontal")(b)
    for i = 1, 8 do
      if max_diff(out[i], img[1]) == 0 then kept = kept + 1 end
      if max_diff(out[i], mirror[1]) == 0 then flipped = flipped + 1 end
    end
    assert.are.equal(8, kept + flipped)
    dnn.manual_seed(4)
    local v = nn.RandomFlip("vertical")(b)
    for i = 1, 8 do
      assert.is_true(max_diff(v[i], img[1]) == 0 or max_diff(v[i], img:index_select(2, {3, 2, 1})[1]) == 0)
    end
  end)

  it("RandomRotation by a quarter turn rotates counter-clockwise (Keras's direction)", function()
    local img = dnn.zeros(1, 3, 3, 1)
    img[1][1][3][1]:fill(1) -- top-right
    local out = nn.RandomRotation({0.25, 0.25}, {interpolation = "nearest", fill_mode = "constant"})(img)
    assert.are.equal(1, out[1][1][1][1]:item()) -- now top-left
    assert.is_true(math.abs(out:sum():item() - 1) < 1e-5)
  end)

  it("RandomTranslation shifts by the factor times the size, filling with fill_value", function()
    local img = dnn.arange(1, 17):reshape(1, 4, 4, 1)
    local out = nn.RandomTranslation({0, 0}, {0.25, 0.25}, {fill_mode = "constant", fill_value = -1})(img)
    assert.are.same({-1, 1, 2, 3}, out[1][1]:reshape(4):totable())
    assert.are.same({-1, 13, 14, 15}, out[1][4]:reshape(4):totable())
  end)

  it("RandomZoom in by a half keeps the center and magnifies", function()
    local img = dnn.arange(25):reshape(1, 5, 5, 1)
    local out = nn.RandomZoom({-0.5, -0.5}, nil, {interpolation = "nearest"})(img)
    assert.are.equal(12, out[1][3][3][1]:item())
    local wide = nn.RandomZoom({0.5, 0.5}, {0, 0}, {interpolation = "nearest", fill_mode = "constant"})(img)
    assert.are.same({5, 6, 7, 8, 9}, wide[1][2]:reshape(5):totable()) -- rows zoomed out, columns kept
  end)

  it("RandomCrop takes a random window in training and the center one in inference", function()
    local b = dnn.arange(2 * 6 * 6):reshape(2, 6, 6, 1)
    local l = nn.RandomCrop(3, 4)
    local out = l(b)
    assert.are.same({2, 3, 4, 1}, out.shape)
    for i = 1, 2 do
      local top_left = out[i][1][1][1]:item() - (i - 1) * 36
      local r, c = top_left // 6, top_left % 6
      assert.is_true(r <= 3 and c <= 2)
      assert.are.equal(0, max_diff(out[i], b[i]:narrow(1, r + 1, 3):narrow(2, c + 1, 4)))
    end
    l:eval()
    assert.are.equal(0, max_diff(l(b), b:narrow(2, 2, 3):narrow(3, 2, 4)))
    assert.are.same({nil, 3, 4, 1}, l:compute_output_shape({nil, 6, 6, 1}))
    local ok, err = pcall(l, dnn.zeros(1, 2, 2, 1))
    assert.is_false(ok)
    assert.truthy(err:find("smaller than the crop", 1, true))
  end)

  it("RandomContrast and RandomBrightness stay in value_range", function()
    local c = nn.RandomContrast(0.9)(x)
    assert.is_true(c:min():item() >= 0 and c:max():item() <= 1)
    local b = nn.RandomBrightness(0.8)(x)
    assert.is_true(b:min():item() >= 0 and b:max():item() <= 1)
    local wide = nn.RandomBrightness({0.5, 0.5}, {value_range = {0, 255}})(x * 255)
    assert.is_true(max_diff(wide, (x * 255 + 127.5):clamp(0, 255)) < 1e-3)
    -- contrast keeps each image's per-channel mean when nothing clips
    local mid = dnn.full({2, 4, 4, 1}, 0.5) + dnn.rand(2, 4, 4, 1) * 0.1
    local out = nn.RandomContrast(0.2)(mid)
    assert.is_true(max_diff(out:reshape(2, 16):mean(2), mid:reshape(2, 16):mean(2)) < 1e-5)
  end)

  it("GaussianNoise adds noise of the given stddev", function()
    local z = dnn.zeros(64, 16, 16, 1)
    local out = nn.GaussianNoise(0.5)(z)
    assert.is_true(math.abs(out:var():item() ^ 0.5 - 0.5) < 0.02)
  end)

  it("Rescaling and Normalization act in both modes", function()
    local r = nn.Rescaling(1 / 255, {offset = -1})
    local img = dnn.full({1, 2, 2, 1}, 255)
    assert.are.equal(0, r(img):abs():max():item())
    r:eval()
    assert.are.equal(0, r(img):abs():max():item())
    local data = dnn.randn(100, 3, 3, 2) * dnn.tensor{2, 5} + dnn.tensor{1, -3}
    local norm = nn.Normalization()
    norm:adapt(data)
    local out = norm(data)
    assert.is_true(max_diff(out:reshape(-1, 2):mean(1), dnn.zeros(2)) < 1e-4)
    assert.is_true(max_diff(out:reshape(-1, 2):var(1), dnn.ones(2)) < 1e-3)
    norm:eval()
    assert.are.equal(0, max_diff(norm(data), out))
    local given = nn.Normalization{mean = {1, 2}, variance = {4, 16}}
    assert.are.same({{{{0, 0}}}}, given(dnn.tensor{{{{1, 2}}}}):totable())
    assert.are.same({{{{0.5, 0.25}}}}, given(dnn.tensor{{{{2, 3}}}}):totable())
    assert.are.equal(0, max_diff(nn.Normalization()(data), data)) -- never adapted: mean 0, variance 1 (Keras)
    local ok, err = pcall(given, dnn.zeros(1, 1, 1, 3))
    assert.is_false(ok)
    assert.truthy(err:find("expected 2 features", 1, true))
  end)

  it("Normalization keeps its statistics as non-trainable weights, in model files too", function()
    local data = dnn.randn(50, 3) * 3 + 2
    local model = nn.Sequential{nn.Normalization{input_shape = {3}}, nn.Dense(1)}
    local norm = model.layers[1]
    local total, trainable = model:count_params()
    assert.are.equal(6 + 4, total)
    assert.are.equal(4, trainable)
    norm:adapt(dnn.data.DataLoader{data, batch_size = 16}) -- from a loader
    assert.is_true(max_diff(norm.mean, data:mean(1)) < 1e-5)
    local path = os.tmpname()
    model:save(path)
    local loaded = dnn.load_model(path)
    os.remove(path)
    assert.are.equal(0, max_diff(loaded.layers[1].variance, norm.variance))
    assert.are.equal(0, max_diff(loaded:predict(data, {verbose = 0}), model:predict(data, {verbose = 0})))
  end)

  it("refuses bad factors and options", function()
    local function fails(want, fn, ...)
      local ok, err = pcall(fn, ...)
      assert.is_false(ok)
      assert.truthy(tostring(err):find(want, 1, true), err)
    end
    fails("mode must be", nn.RandomFlip, "diagonal")
    fails("factor must be a number or a pair", nn.RandomRotation, "a lot")
    fails("fill_mode", nn.RandomZoom, 0.2, {fill_mode = "mirror"})
    fails("factor must be >= 0", nn.RandomContrast, -0.1)
    fails("positive integer height and width", nn.RandomCrop, 0, 3)
    fails("stddev", nn.GaussianNoise, -1)
    fails("expected images", nn.RandomFlip(), dnn.zeros(3, 3))
  end)

  it("work inside a model: trained through, the identity in predict", function()
    dnn.manual_seed(9)
    local model = nn.Sequential{
      nn.RandomFlip("horizontal", {input_shape = {4, 4, 1}}), nn.RandomTranslation(0.1, 0.1), nn.GaussianNoise(0.05),
      nn.Flatten(), nn.Dense(2, {activation = "softmax"}),
    }
    model:compile{optimizer = "adam", loss = "sparse_categorical_crossentropy"}
    local xs = dnn.rand(32, 4, 4, 1)
    local ys = xs:reshape(32, 16):mean(2):gt(0.5) + 1
    local h = model:fit(xs, ys, {epochs = 2, batch_size = 8, verbose = 0})
    assert.are.equal(2, #h.history.loss)
    local p1 = model:predict(xs, {verbose = 0})
    local p2 = model:predict(xs, {verbose = 0})
    assert.are.equal(0, max_diff(p1, p2))
  end)
end)

describe("dnn.augment", function()
  it("Compose chains functions and layers, always in training mode", function()
    local x = batch(4, 5, 5, 1)
    local flip = dnn.augment.RandomFlip{"horizontal"}
    flip:eval() -- a transform stays on
    local aug = dnn.augment.Compose{function(xb, yb) return xb * 0 + 0.5, yb end, dnn.augment.RandomBrightness{{0.25, 0.25}}}
    local out, y = aug(x, dnn.tensor{1, 2, 3, 4})
    assert.is_true(max_diff(out, dnn.full({4, 5, 5, 1}, 0.75)) < 1e-6)
    assert.are.same({1, 2, 3, 4}, y:totable())
    local loader = dnn.data.DataLoader{x, dnn.tensor{1, 2, 3, 4}, batch_size = 2}
        :map(dnn.augment.Compose{flip, dnn.augment.CutOut{size = 2}})
    local n = 0
    for xb, yb in loader do
      n = n + 1
      assert.are.same({2, 5, 5, 1}, xb.shape)
      assert.are.equal(2, yb.shape[1])
    end
    assert.are.equal(2, n)
    local ok, err = pcall(dnn.augment.Compose, {3})
    assert.is_false(ok)
    assert.truthy(err:find("not a function or a layer", 1, true))
  end)

  it("CutOut blanks count squares per image and nothing else", function()
    dnn.manual_seed(5)
    local ones = dnn.ones(6, 8, 8, 3)
    local out = dnn.augment.CutOut{size = 3, count = 2}(ones)
    for i = 1, 6 do
      local zeros = out[i]:eq(0):sum():item()
      assert.is_true(zeros >= 3 * 2 * 2 and zeros <= 3 * 9 * 2, zeros) -- whole pixels (3 channels), clipped squares
      assert.are.equal(8 * 8 * 3, zeros + out[i]:eq(1):sum():item())
    end
    dnn.manual_seed(5)
    assert.are.equal(0, max_diff(dnn.augment.CutOut{size = 3, count = 2}(ones), out))
    local filled = dnn.augment.CutOut{size = {1, 16}, fill = 0.5}(dnn.zeros(1, 4, 8, 1))
    assert.are.equal(8, filled:eq(0.5):sum():item()) -- a whole row
  end)

  it("MixUp mixes images and soft one-hot labels with the same weights", function()
    dnn.manual_seed(6)
    local y = dnn.tensor{1, 2, 3, 4, 1, 2, 3, 4}
    local x = dnn.one_hot(y, 4):reshape(8, 1, 1, 4) -- images that are their labels
    local mx, my = dnn.augment.MixUp{alpha = 0.4, num_classes = 4}(x, y)
    assert.are.same({8, 4}, my.shape)
    assert.is_true(max_diff(mx:reshape(8, 4), my) < 1e-6)
    assert.is_true(max_diff(my:sum(2), dnn.ones(8)) < 1e-5)
    assert.is_true(my:min():item() >= 0 and my:max():item() <= 1)
    assert.is_true(my:max(2):lt(0.999):sum():item() > 0) -- some labels are soft
    local ok, err = pcall(dnn.augment.MixUp{alpha = 0.2}, x, y)
    assert.is_false(ok)
    assert.truthy(err:find("num_classes", 1, true))
    local beta = require("dnn.core")._data.sample_beta(20000, 2, 5)
    assert.is_true(math.abs(beta:mean():item() - 2 / 7) < 0.01)
  end)
end)
