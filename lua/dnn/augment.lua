-- dnn.augment: batch transforms for DataLoader:map, each a function
-- (xb, yb) -> xb, yb. Compose chains them; the augmentation layers of dnn.nn
-- (RandomFlip, RandomRotation, ...) are transforms too, always in training
-- mode here: dnn.augment.RandomFlip{"horizontal"} is nn.RandomFlip that acts
-- whatever mode a model is in.
--
--   local aug = dnn.augment.Compose{
--     dnn.augment.RandomFlip{"horizontal"}, dnn.augment.RandomRotation{0.05}, dnn.augment.CutOut{size = 8},
--   }
--   local loader = dnn.data.DataLoader{x, y, batch_size = 64, shuffle = true}:map(aug)
local dnn = require "dnn"
local nn = require "dnn.nn"
local layer = require "dnn.layer"
local D = require("dnn.core")._data
local strict = require "dnn.options"

local M = {}

-- Applies t (a function or a layer) to a batch.
local function apply(t, xb, yb)
  if layer.is_layer(t) then return t(xb), yb end
  local nx, ny = t(xb, yb)
  if ny == nil then ny = yb end
  return nx, ny
end

local Compose = {}
Compose.__index = Compose
M.Compose = setmetatable(Compose, {__call = function(_, list)
  if type(list) ~= "table" then error("Compose: expected an array of transforms, got " .. strict.describe(list), 2) end
  for i, t in ipairs(list) do
    local callable = type(t) == "function" or layer.is_layer(t)
      or (type(t) == "table" and getmetatable(t) and getmetatable(t).__call)
    if not callable then error(string.format("Compose: transform %d is a %s, not a function or a layer", i, type(t)), 2) end
  end
  return setmetatable({transforms = {table.unpack(list)}}, Compose)
end})

function Compose:__call(xb, yb)
  for _, t in ipairs(self.transforms) do xb, yb = apply(t, xb, yb) end
  return xb, yb
end

-- The layers, as transforms that always act.
for _, name in ipairs{"RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomCrop", "RandomContrast",
  "RandomBrightness", "GaussianNoise", "Rescaling", "Normalization"} do
  M[name] = function(...)
    local l = nn[name](...)
    l.training = true
    l.train = function(self) self.training = true return self end -- a transform stays on
    return l
  end
end

-- CutOut{size = 8, count = 1, fill = 0}: count squares of size x size (or {h, w}) set to fill in each image, at
-- random centers, clipped at the border (random erasing of DeVries & Taylor 2017).
function M.CutOut(...)
  local args, options = layer.args_and_options(...)
  strict.check("CutOut", options, {"size", "count", "fill"})
  local size = args[1] or options.size
  local count = args[2] or options.count or 1
  local fill = options.fill or 0
  local h, w
  if math.type(size) == "integer" then h, w = size, size
  elseif type(size) == "table" then h, w = size[1], size[2] end
  if math.type(h) ~= "integer" or math.type(w) ~= "integer" or h < 1 or w < 1 then
    error("CutOut: size must be a positive integer or a pair {h, w}, got " .. strict.describe(size), 2)
  end
  if math.type(count) ~= "integer" or count < 0 then
    error("CutOut: count must be an integer >= 0, got " .. strict.describe(count), 2)
  end
  if type(fill) ~= "number" then error("CutOut: fill must be a number, got " .. strict.describe(fill), 2) end
  return function(xb, yb)
    if xb.ndim == 3 then return D.cutout(xb:reshape(1, table.unpack(xb.shape)), h, w, count, fill)[1], yb end
    return D.cutout(xb, h, w, count, fill), yb
  end
end

-- MixUp{alpha = 0.2, num_classes}: each sample i becomes l x_i + (1 - l) x_j and l y_i + (1 - l) y_j, j a random
-- permutation of the batch and l ~ Beta(alpha, alpha) per sample (Zhang et al. 2018; keras_cv's MixUp). Labels come
-- back as soft one-hot rows (batch, classes): integer class ids are one-hot encoded first (num_classes needed), one-hot
-- labels are mixed as they are. Train with categorical_crossentropy (not the sparse one).
function M.MixUp(...)
  local args, options = layer.args_and_options(...)
  strict.check("MixUp", options, {"alpha", "num_classes"})
  local alpha = args[1] or options.alpha or 0.2
  local classes = options.num_classes
  if type(alpha) ~= "number" or alpha <= 0 then
    error("MixUp: alpha must be a positive number, got " .. strict.describe(alpha), 2)
  end
  if classes ~= nil and (math.type(classes) ~= "integer" or classes < 2) then
    error("MixUp: num_classes must be an integer >= 2, got " .. strict.describe(classes), 2)
  end
  return function(xb, yb)
    if not dnn.is_tensor(yb) then error("MixUp: needs labels (the loader's y)") end
    local n = xb.shape[1]
    if yb.ndim == 1 then
      if not classes then error("MixUp: labels are class ids: give num_classes to one-hot encode them") end
      yb = dnn.one_hot(yb, classes)
    end
    local lam = D.sample_beta(n, alpha, alpha)
    local perm = dnn.randperm(n)
    local xshape, yshape = {n}, {n}
    for d = 2, xb.ndim do xshape[d] = 1 end
    for d = 2, yb.ndim do yshape[d] = 1 end
    local lx, ly = lam:reshape(xshape), lam:reshape(yshape)
    local x2, y2 = xb:index_select(1, perm), yb:index_select(1, perm)
    return xb * lx + x2 * (1 - lx), yb * ly + y2 * (1 - ly)
  end
end


-- ---- reference ----

--- @module dnn.augment Batch transforms for DataLoader:map
-- Each transform is a function `(xb, yb) -> xb, yb`. The augmentation
-- layers of `dnn.nn` are here as transforms that always act, whatever mode a
-- model is in; they take the same arguments as the layers.

--- dnn.augment.Compose(transforms)
-- Chains transforms (functions or layers) in order.
-- @example local aug = dnn.augment.Compose{dnn.augment.RandomFlip{"horizontal"}, dnn.augment.CutOut{size = 8}}

--- dnn.augment.CutOut([options])
-- Sets `count` random squares of each image to `fill` (random erasing).
-- @option size=8 the side, or `{h, w}`
-- @option count=1 squares per image
-- @option fill=0 the value written
-- @example local cut = dnn.augment.CutOut{size = 8}

--- dnn.augment.MixUp([options])
-- Mixes each sample with another of the batch: `l x_i + (1 - l) x_j`, labels
-- too (soft one-hot rows), l ~ Beta(alpha, alpha). Train with categorical_crossentropy.
-- @option alpha=0.2 the Beta distribution's parameter
-- @option num_classes=nil needed when the labels are class ids
-- @example local mix = dnn.augment.MixUp{alpha = 0.2, num_classes = 10}

--- dnn.augment.RandomFlip([mode])
-- `nn.RandomFlip` as a transform.
-- @example local t = dnn.augment.RandomFlip{"horizontal"}

--- dnn.augment.RandomRotation(factor[, options])
-- `nn.RandomRotation` as a transform.
-- @example local t = dnn.augment.RandomRotation{0.05}

--- dnn.augment.RandomZoom(height_factor[, width_factor][, options])
-- `nn.RandomZoom` as a transform.
-- @example local t = dnn.augment.RandomZoom{0.1}

--- dnn.augment.RandomTranslation(height_factor, width_factor[, options])
-- `nn.RandomTranslation` as a transform.
-- @example local t = dnn.augment.RandomTranslation{0.1, 0.1}

--- dnn.augment.RandomCrop(height, width)
-- `nn.RandomCrop` as a transform (always a random window).
-- @example local t = dnn.augment.RandomCrop{24, 24}

--- dnn.augment.RandomContrast(factor[, options])
-- `nn.RandomContrast` as a transform.
-- @example local t = dnn.augment.RandomContrast{0.2}

--- dnn.augment.RandomBrightness(factor[, options])
-- `nn.RandomBrightness` as a transform.
-- @example local t = dnn.augment.RandomBrightness{0.1}

--- dnn.augment.GaussianNoise(stddev)
-- `nn.GaussianNoise` as a transform.
-- @example local t = dnn.augment.GaussianNoise{0.05}

--- dnn.augment.Rescaling(scale[, offset])
-- `nn.Rescaling` as a transform.
-- @example local t = dnn.augment.Rescaling{1 / 255}

--- dnn.augment.Normalization([options])
-- `nn.Normalization` as a transform (give mean and variance).
-- @example local t = dnn.augment.Normalization{mean = 0.5, variance = 0.25}

return M
