-- One Fashion-MNIST image under each augmentation: a PNG grid with one row
-- per transform (the original first), eight random draws per row.
-- Usage: dnnlua examples/augmentation.lua [--out augmentation.png] [--index N] [--seed N] [--data DIR]
local nn = dnn.nn

local args = dofile((arg[0]:match("^(.*)/") or ".") .. "/lib/args.lua")
local parser = args.parser("augmentation.lua",
  "Saves a PNG grid of one Fashion-MNIST image under each augmentation, eight random draws per row.")
parser:option("--out", "the PNG file", "augmentation.png"):argname("FILE")
args.number_option(parser, "--index", "which training image (1-based)", 1, args.positive_integer)
args.number_option(parser, "--seed", "random seed", 42, args.nonnegative_integer)
parser:option("--data", "the Fashion-MNIST folder (default: Debian's dataset-fashion-mnist)"):argname("DIR")
local opts = parser:parse(arg or {})

local train = dnn.datasets.fashion_mnist{dir = opts.data, limit = math.max(opts.index, 16)}
local img = train.x[opts.index]                                   -- (28, 28, 1) in [0, 1]
local label = train.class_names[train.y[opts.index]:item()]
local draws = 8
local batch = dnn.stack({img, img, img, img, img, img, img, img}, 1) -- the same image 8 times
dnn.manual_seed(opts.seed)

local function resized(t) return dnn.image.resize(t, 28, 28) end
local partner_ids = {}                                            -- MixUp's partners: other images
for k = 1, draws + 1 do
  if k ~= opts.index and #partner_ids < draws then partner_ids[#partner_ids + 1] = k end
end
local others, others_y = train.x:index_select(1, partner_ids), train.y:index_select(1, partner_ids)

-- Each row: a name and a function of the batch giving 8 images 28x28x1.
local rows = {
  {"original", function(b) return b end},
  {"RandomFlip horizontal", nn.RandomFlip("horizontal")},
  {"RandomRotation 0.1 (+-36 deg)", nn.RandomRotation(0.1)},
  {"RandomZoom 0.3", nn.RandomZoom(0.3)},
  {"RandomTranslation 0.15", nn.RandomTranslation(0.15, 0.15)},
  {"RandomCrop 20x20 (resized)", function(b) return resized(nn.RandomCrop(20, 20)(b)) end},
  {"RandomContrast 0.6", nn.RandomContrast(0.6)},
  {"RandomBrightness 0.3", nn.RandomBrightness(0.3)},
  {"GaussianNoise 0.1", function(b) return nn.GaussianNoise(0.1)(b):clamp(0, 1) end},
  {"CutOut 10x10", dnn.augment.CutOut{size = 10}},
  {"MixUp alpha 0.4 (batch of it and 8 others)", function(b)
    -- MixUp pairs the images of a batch at random: the image's 8 copies plus 8 other images, first 8 shown
    local x = dnn.cat({b, others}, 1)
    local y = dnn.cat({train.y:narrow(1, opts.index, 1):expand(draws), others_y}, 1)
    return dnn.augment.MixUp{alpha = 0.4, num_classes = 10}(x, y):narrow(1, 1, draws)
  end},
  {"Compose: flip, rotation, zoom, contrast", dnn.augment.Compose{
    dnn.augment.RandomFlip{"horizontal"}, dnn.augment.RandomRotation{0.05}, dnn.augment.RandomZoom{0.2},
    dnn.augment.RandomContrast{0.4}}},
}

local tiles = {}
for r, row in ipairs(rows) do
  local out = row[2](batch)
  assert(out.shape[1] == draws and out.shape[2] == 28, row[1])
  tiles[#tiles + 1] = out
  print(string.format("row %2d: %s", r, row[1]))
end
local grid = dnn.image.grid(dnn.cat(tiles, 1), {nrow = draws, padding = 2, pad_value = 1})
grid = dnn.image.resize(grid, grid.shape[1] * 3, grid.shape[2] * 3, {method = "nearest"})
dnn.image.save(grid, opts.out)
print(string.format("%s (%s) under %d augmentations, %d draws each: %s (%dx%d)", "image " .. opts.index, label,
  #rows - 1, draws, opts.out, grid.shape[2], grid.shape[1]))
