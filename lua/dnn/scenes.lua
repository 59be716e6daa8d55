-- dnn.datasets.fashion_scenes: segmentation and detection scenes made of
-- Fashion-MNIST items (real images, exact ground truth). Installed into
-- dnn.datasets by datasets.lua.
--
-- Each scene is a size x size gray canvas with a noise or texture
-- background and 1..max_objects items, each resized (dnn.image.resize,
-- bilinear) to a random side and placed at a random position. An item's
-- pixels above INK (the item's visible pixels after scaling; bilinear
-- smoothing leaves a faint fringe below it) replace the background and set
-- the mask; its box is the tight box around them. Boxes overlap by at most
-- max_overlap of the smaller box's area, so no item hides another.
local dnn = require "dnn"
local strict = require "dnn.options"

local S = {}

local INK = 0.1 -- an item's pixel is part of the object above this
local TRIES = 30 -- positions tried for an item before it is left out

-- Fashion-MNIST splits already read, per folder, while something holds them.
local cache = setmetatable({}, {__mode = "v"})

local function source(split, dir)
  local key = (dir or "") .. "|" .. split
  local s = cache[key]
  if not s then
    local train, test = dnn.datasets.fashion_mnist(dir)
    cache[(dir or "") .. "|train"], cache[(dir or "") .. "|test"] = train, test
    s = split == "train" and train or test
  end
  return s
end

-- SplitMix64 over Lua's wrapping 64-bit integers: uniform floats in [0, 1),
-- a stream of the scenes' own (the global generators are left alone).
local function splitmix(seed)
  local state = seed
  return function()
    state = state + -7046029254386353131 -- 0x9E3779B97F4A7C15
    local z = state
    z = (z ~ (z >> 30)) * -4658895280553007687 -- 0xBF58476D1CE4E5B9
    z = (z ~ (z >> 27)) * -7723592293110705685 -- 0x94D049BB133111EB
    z = z ~ (z >> 31)
    return (z >> 11) * (1.0 / 9007199254740992)
  end
end

-- The tight (first, last) 0-based index of the ones in a Lua array of 0/1.
local function span(flags)
  local first, last
  for k, v in ipairs(flags) do
    if v > 0 then
      first = first or k - 1
      last = k - 1
    end
  end
  return first, last
end

local function overlap_ok(box, placed, max_overlap)
  local area = (box[3] - box[1]) * (box[4] - box[2])
  for _, p in ipairs(placed) do
    local h = math.min(box[3], p[3]) - math.max(box[1], p[1])
    local w = math.min(box[4], p[4]) - math.max(box[2], p[2])
    if h > 0 and w > 0 then
      local other = (p[3] - p[1]) * (p[4] - p[2])
      if h * w > max_overlap * math.min(area, other) then return false end
    end
  end
  return true
end

-- Backgrounds into x (n, size, size, 1): per image either uniform noise or a
-- texture (blotches at two scales, bilinear from coarse random grids), from
-- dnn's generator seeded with seed (its state restored after), in chunks of
-- BG_CHUNK images so the temporaries stay small.
local BG_CHUNK = 128
local function fill_backgrounds(x, seed)
  local n, size = x.shape[1], x.shape[2]
  local saved = dnn.get_rng_state()
  dnn.manual_seed(seed)
  local ok, err = pcall(function()
    for start = 1, n, BG_CHUNK do
      local m = math.min(BG_CHUNK, n - start + 1)
      local coarse = dnn.image.resize(dnn.rand(m, 4, 4, 1), size, size)
      local fine = dnn.image.resize(dnn.rand(m, 16, 16, 1), size, size)
      local noise = dnn.rand(m, size, size, 1)
      local kind = dnn.rand(m, 1, 1, 1):gt(0.5) -- 1: texture, 0: noise
      local level = dnn.rand(m, 1, 1, 1) * 0.25 + 0.1
      local texture = (coarse * 0.6 + fine * 0.3 + noise * 0.1) * (level * 1.5)
      x:narrow(1, start, m):copy((texture * kind + noise * (level * (1 - kind))):clamp(0, 1))
    end
  end)
  dnn.set_rng_state(saved)
  if not ok then error(err, 0) end
end

function S.fashion_scenes(options)
  local fn = "fashion_scenes"
  local o = strict.check(fn, options, {"n", "size", "max_objects", "min_objects", "seed", "split", "dir",
                                       "min_scale", "max_scale", "max_overlap"})
  if o.n == nil then strict.raise("fashion_scenes: n (the number of scenes) is required") end
  local n = math.tointeger(strict.check_number(fn, "n", o.n, {min = 1, integer = true}))
  local size = math.tointeger(strict.check_number(fn, "size", o.size or 112, {min = 16, max = 4096, integer = true}))
  local max_objects = math.tointeger(strict.check_number(fn, "max_objects", o.max_objects or 4,
    {min = 1, integer = true}))
  local min_objects = math.tointeger(strict.check_number(fn, "min_objects", o.min_objects or 1,
    {min = 1, max = max_objects, integer = true}))
  local seed = math.tointeger(strict.check_number(fn, "seed", o.seed or 1, {integer = true}))
  local split = o.split or "train"
  if split ~= "train" and split ~= "test" then
    strict.raise(string.format("fashion_scenes: split must be 'train' or 'test' (got %s)", strict.describe(split)))
  end
  if o.dir ~= nil and type(o.dir) ~= "string" then
    strict.raise(string.format("fashion_scenes: dir must be a folder (got %s)", strict.describe(o.dir)))
  end
  local min_scale = strict.check_number(fn, "min_scale", o.min_scale or 0.25, {above = 0, max = 1})
  local max_scale = strict.check_number(fn, "max_scale", o.max_scale or 0.5, {min = min_scale, max = 1})
  local max_overlap = strict.check_number(fn, "max_overlap", o.max_overlap or 0.1, {min = 0, max = 1})
  local min_side, max_side = math.max(4, math.floor(min_scale * size + 0.5)), math.floor(max_scale * size + 0.5)
  if max_side < min_side then max_side = min_side end

  local src = source(split, o.dir)
  local n_src = src.x.shape[1]
  local labels_src = src.y:totable()
  -- one stream per (seed, split): the test scenes differ from the train ones
  local random = splitmix(seed * 2 + (split == "test" and 1 or 0))
  local x = dnn.zeros(n, size, size, 1)
  fill_backgrounds(x, seed * 2 + (split == "test" and 1 or 0))
  local masks = dnn.zeros(n, size, size)
  local boxes, labels, counts = {}, {}, {}
  for i = 1, n do
    local canvas, mask = x:select(1, i), masks:select(1, i)
    local want = min_objects + math.floor(random() * (max_objects - min_objects + 1))
    local placed, scene_labels = {}, {}
    for _ = 1, want do
      local index = 1 + math.floor(random() * n_src)
      local side = min_side + math.floor(random() * (max_side - min_side + 1))
      local item = dnn.image.resize(src.x:select(1, index), side, side)
      local ink = item:gt(INK)
      local flat = ink:reshape(side, side)
      local r0, r1 = span(flat:max(2):totable())
      local c0, c1 = span(flat:max(1):totable())
      if r0 then
        for _ = 1, TRIES do
          local top = math.floor(random() * (size - side + 1))
          local left = math.floor(random() * (size - side + 1))
          local box = {top + r0, left + c0, top + r1 + 1, left + c1 + 1}
          if overlap_ok(box, placed, max_overlap) then
            local label = labels_src[index]
            local region = canvas:narrow(1, top + 1, side):narrow(2, left + 1, side)
            region:copy(item * ink + region * (1 - ink))
            local mregion = mask:narrow(1, top + 1, side):narrow(2, left + 1, side)
            mregion:copy(flat * label + mregion * (1 - flat))
            placed[#placed + 1] = box
            scene_labels[#scene_labels + 1] = label
            break
          end
        end
      end
    end
    counts[i] = #placed
    local rows, ids = {}, {}
    for k = 1, max_objects do
      rows[k] = placed[k] or {0, 0, 0, 0}
      ids[k] = scene_labels[k] or 0
    end
    boxes[i], labels[i] = rows, ids
  end
  return {
    x = x,
    masks = masks,
    boxes = dnn.tensor(boxes),
    labels = dnn.tensor(labels),
    num_objects = dnn.tensor(counts),
    class_names = dnn.datasets.fashion_mnist_class_names,
  }
end


-- ---- reference ----

--- dnn.datasets.fashion_scenes(options)
-- Scenes for segmentation and detection made of Fashion-MNIST items: each a
-- `size x size` gray canvas with a noise or texture background and
-- `min_objects..max_objects` items (the split's images, the test images for
-- `split = "test"`), each resized with `dnn.image.resize` to a side of
-- `min_scale..max_scale` times `size` and placed at a random position, its
-- boxes overlapping others by at most `max_overlap` of the smaller box's area.
-- Returns `{x (n, size, size, 1) in [0, 1], masks (n, size, size), boxes (n,
-- max_objects, 4), labels (n, max_objects), num_objects (n), class_names}`.
-- A mask holds 0 for background and the class id 1..10 where an item's
-- pixel (above 0.1 after scaling) shows; a sparse loss or `MeanIoU` wants ids
-- from 1, so give them `masks + 1` (11 classes, 1 = background). Boxes are
-- `(y1, x1, y2, x2)` in pixel edges from 0, the tight box around the item's
-- pixels (it covers rows `y1 + 1 .. y2` counted from 1: `narrow(1, y1 + 1,
-- y2 - y1)`; divide by `size` for the unit square of `dnn.ops.anchor_boxes`);
-- rows past `num_objects` are zeros with label 0 (padding, which
-- `dnn.ops.box_targets` and `mean_average_precision` skip). The same options
-- give the same scenes; dnn's random generators are left as they were.
-- @option n the number of scenes (required)
-- @option size=112 the canvas side in pixels
-- @option max_objects=4 the most items per scene
-- @option min_objects=1 the fewest items tried per scene (one that finds no room is left out)
-- @option seed=1 the scenes' seed
-- @option split="train" `"train"` or `"test"` (Fashion-MNIST's split the items come from)
-- @option dir=nil Fashion-MNIST's folder, as in fashion_mnist
-- @option min_scale=0.25 the smallest item side, a fraction of size
-- @option max_scale=0.5 the largest item side, a fraction of size
-- @option max_overlap=0.1 the largest intersection of two boxes, a fraction of the smaller box's area
-- @example local scenes = dnn.datasets.fashion_scenes{n = 2000, size = 112, max_objects = 4, seed = 1}

return S
