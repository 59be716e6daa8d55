-- Semantic segmentation: a small U-Net (Ronneberger et al., 2015) labels
-- every pixel of dnn.datasets.fashion_scenes (Fashion-MNIST items on noise
-- and texture backgrounds) as background or one of the 10 item classes.
-- Training sees fresh scenes each epoch (a new seed per epoch: generating
-- them costs a fraction of a second, and the net meets many more items).
-- Prints the test scenes' mean IoU (dnn.metrics.MeanIoU), pixel accuracy
-- and per-class IoU, per pixel and after an item-level vote (each connected
-- region of predicted foreground takes the class with the largest summed
-- probability over its pixels), and what predicting all background scores.
-- Saves segmentation.png: test scenes, their true masks and the predicted
-- ones, a colour per class.
-- Usage: dnnlua examples/segmentation.lua [--epochs N] [--train N] [--test N]
--   [--batch-size N] [--lr X] [--size N] [--filters N] [--data DIR] [--seed N] [--out DIR]
--   --train is the scenes per epoch; --size the canvas side (a multiple of
--   8: the U-Net halves it three times); --out is where the PNG goes.
local dnn = require "dnn"
local nn = dnn.nn

local args = dofile((arg[0]:match("^(.*)/") or ".") .. "/lib/args.lua")

local LEVELS = 3 -- poolings: the canvas side must be a multiple of 2^LEVELS
local CLASSES = 11 -- 1 background, 2..11 the Fashion-MNIST classes 0..9
-- Scenes: 2 to 4 items tried (about 1.9 placed on 64x64), each 0.4 to 0.6
-- of the canvas side (26 to 38 pixels on 64, near Fashion-MNIST's own 28,
-- so the items stay legible), their boxes never overlapping: an item is
-- then never hidden in part, and items touch in few scenes (about 1 in 9),
-- which matters to the vote (touching items make one region).
local SCENE = {min_objects = 2, max_objects = 4, min_scale = 0.4, max_scale = 0.6, max_overlap = 0}

local function multiple_of_8(text)
  local n = math.tointeger(tonumber(text))
  if n and n >= 16 and n % (1 << LEVELS) == 0 then return n end
  return nil, "a positive multiple of 8 (16 or more)"
end

local function parse_args(argv)
  local parser = args.parser("segmentation.lua",
    "Trains a U-Net to segment Fashion-MNIST scenes and prints its mean IoU on test scenes.")
  args.number_option(parser, "--epochs", "training epochs, each on fresh scenes", 10, args.positive_integer)
  args.number_option(parser, "--train", "training scenes per epoch", 5000, args.positive_integer)
  args.number_option(parser, "--test", "test scenes", 1000, args.positive_integer)
  args.number_option(parser, "--batch-size", "scenes per step", 16, args.positive_integer)
  args.number_option(parser, "--lr", "peak learning rate (cosine-decayed)", 2e-3, args.positive_number):argname("X")
  args.number_option(parser, "--size", "canvas side in pixels (a multiple of 8)", 64, multiple_of_8)
  args.number_option(parser, "--filters", "filters of the first level (doubled at each level below)", 16,
    args.positive_integer)
  args.number_option(parser, "--seed", "random seed (of the weights and of the scenes)", 42, args.nonnegative_integer)
  parser:option("--data", "the Fashion-MNIST folder (default: Debian's)"):argname("DIR")
  parser:option("--out", "where the PNG goes", "."):argname("DIR")
  return parser:parse(argv)
end

-- n scenes as the model's inputs and targets: images (n, size, size, 1) and
-- class ids (n, size, size), 1 for background (MeanIoU and the sparse loss
-- count classes from 1).
local function scenes(opts, n, seed, split)
  local s = dnn.datasets.fashion_scenes{n = n, size = opts.size, seed = seed, split = split, dir = opts.data,
                                        min_objects = SCENE.min_objects, max_objects = SCENE.max_objects,
                                        min_scale = SCENE.min_scale, max_scale = SCENE.max_scale,
                                        max_overlap = SCENE.max_overlap}
  return s.x, s.masks + 1, s.class_names
end

-- Two 3x3 convolutions, each followed by batch norm and ReLU (no bias: the
-- batch norm has one).
local function conv_block(x, filters)
  for _ = 1, 2 do
    x = nn.Conv2D(filters, 3, {padding = "same", use_bias = false})(x)
    x = nn.BatchNormalization{momentum = 0.9}(x)
    x = nn.Activation("relu")(x)
  end
  return x
end

-- The U-Net. The encoder halves the side and doubles the filters LEVELS
-- times; the bottleneck sees the scene at 1/8 of its side, where a 3x3
-- window spans a whole item (what deciding its class needs). The decoder
-- doubles the side back with transposed convolutions, and at each level
-- concatenates the encoder's features of that side (the skip connections):
-- they carry the fine position the pooling threw away, so the edges of the
-- masks stay sharp. A 1x1 convolution with softmax gives each pixel's class
-- probabilities.
local function unet(size, filters)
  local inputs = nn.Input{size, size, 1}
  local x, skips = inputs, {}
  for level = 1, LEVELS do
    x = conv_block(x, filters << (level - 1))
    skips[level] = x
    x = nn.MaxPooling2D(2)(x)
  end
  x = conv_block(x, filters << LEVELS)
  for level = LEVELS, 1, -1 do
    local f = filters << (level - 1)
    x = nn.Conv2DTranspose(f, 2, {strides = 2, padding = "same"})(x)
    x = nn.Concatenate(){skips[level], x}
    x = conv_block(x, f)
  end
  local outputs = nn.Conv2D(CLASSES, 1, {activation = "softmax"})(x)
  return nn.Model{inputs = inputs, outputs = outputs, name = "unet"}
end

-- Trains on opts.train fresh scenes per epoch, seeds seed*1000 + epoch (the
-- test scenes use seed itself on Fashion-MNIST's test split, so no item
-- image is shared). Adam, the learning rate cosine-decayed over all the
-- steps to lr/20. Returns the losses per epoch and the seconds spent
-- generating scenes.
local function train(model, opts)
  local steps = opts.epochs * math.ceil(opts.train / opts.batch_size)
  local schedule = dnn.optim.schedules.CosineDecay{initial_learning_rate = opts.lr, decay_steps = steps, alpha = 0.05}
  model:compile{optimizer = dnn.optim.Adam{learning_rate = schedule}, loss = "sparse_categorical_crossentropy",
                metrics = {"accuracy"}}
  local losses, generating = {}, 0
  for epoch = 1, opts.epochs do
    local started = dnn.wall_time()
    local x, y = scenes(opts, opts.train, opts.seed * 1000 + epoch, "train")
    generating = generating + dnn.wall_time() - started
    local fitting = dnn.wall_time()
    local history = model:fit(x, y, {epochs = 1, batch_size = opts.batch_size, shuffle = true, verbose = 0})
    losses[epoch] = history.history.loss[1]
    print(string.format("epoch %d/%d - %.1fs - loss %.4f - pixel accuracy %.4f", epoch, opts.epochs,
      dnn.wall_time() - fitting, losses[epoch], history.history.accuracy[1]))
  end
  return losses, generating
end

-- The connected regions (4-neighbours) of foreground in one predicted mask,
-- a flat Lua array of class ids (1 background) of a side x side scene.
-- Returns a flat array of region numbers (0 on background) and the count.
local function regions(ids, side)
  local region, count = {}, 0
  for p = 1, #ids do region[p] = 0 end
  local stack = {}
  for start = 1, #ids do
    if ids[start] ~= 1 and region[start] == 0 then
      count = count + 1
      region[start] = count
      stack[1] = start
      local top = 1
      while top > 0 do
        local p = stack[top]
        top = top - 1
        local col = (p - 1) % side
        local neighbours = {col > 0 and p - 1 or nil, col < side - 1 and p + 1 or nil, p - side, p + side}
        for k = 1, 4 do
          local q = neighbours[k]
          if q and q >= 1 and q <= #ids and ids[q] ~= 1 and region[q] == 0 then
            region[q] = count
            top = top + 1
            stack[top] = q
          end
        end
      end
    end
  end
  return region, count
end

-- The item-level vote for one scene's probabilities (side, side, CLASSES):
-- every region of predicted foreground takes the item class whose
-- probabilities summed over the region's pixels are largest (one decision
-- per object, where the per-pixel argmax may split an item between similar
-- classes, a shirt's sleeves read as a T-shirt's). Returns the class ids
-- (side, side).
local function vote(probs, side)
  local flat = probs:reshape(side * side, CLASSES)
  local ids = flat:argmax(2):totable()
  local region, count = regions(ids, side)
  if count == 0 then return dnn.ones(side, side) end
  for p = 1, #region do region[p] = region[p] + 1 end -- 1: background
  local membership = dnn.one_hot(dnn.tensor(region), count + 1) -- (pixels, regions + 1)
  local sums = dnn.matmul(membership:transpose(1, 2), flat) -- (regions + 1, CLASSES)
  local winners = sums:narrow(2, 2, CLASSES - 1):argmax(2) + 1 -- an item class per region
  winners = dnn.cat({dnn.ones(1), winners:narrow(1, 2, count)}, 1) -- background stays background
  return dnn.matmul(membership, winners:reshape(count + 1, 1)):reshape(side, side)
end

-- Per-pixel and voted predictions on the test scenes, batch by batch (the
-- probabilities of all scenes at once would take n * size^2 * 11 floats).
local function predict(model, x)
  local n, side = x.shape[1], x.shape[2]
  local per_pixel, voted = {}, {}
  local BATCH = 100
  for start = 1, n, BATCH do
    local m = math.min(BATCH, n - start + 1)
    local probs = model:predict(x:narrow(1, start, m), {batch_size = BATCH, verbose = 0})
    per_pixel[#per_pixel + 1] = probs:argmax(-1)
    for i = 1, m do voted[#voted + 1] = vote(probs[i], side) end
  end
  return dnn.cat(per_pixel, 1), dnn.stack(voted, 1)
end

-- MeanIoU and per-class IoU of predicted class ids against the truth, and
-- the pixel accuracy.
local function scores(truth, predicted)
  local metric = dnn.metrics.MeanIoU{num_classes = CLASSES}
  metric:update(truth, predicted)
  return metric:result(), metric:result_per_class(), predicted:eq(truth):mean():item()
end

-- One colour per class: background black, the items ten distinct hues.
local PALETTE = dnn.tensor{
  {0, 0, 0},
  {0.90, 0.10, 0.29}, {0.24, 0.71, 0.29}, {1.00, 0.88, 0.10}, {0.26, 0.39, 0.85}, {0.96, 0.51, 0.19},
  {0.57, 0.12, 0.71}, {0.27, 0.94, 0.94}, {0.94, 0.20, 0.90}, {0.74, 0.96, 0.05}, {0.98, 0.75, 0.83},
}

-- Class ids (n, h, w) as RGB images (n, h, w, 3).
local function colour(ids)
  local n, h, w = ids.shape[1], ids.shape[2], ids.shape[3]
  return PALETTE:index_select(1, ids:reshape(n * h * w)):reshape(n, h, w, 3)
end

-- A row per scene: the image, the true mask, the per-pixel prediction and
-- the voted one, scaled up 3 times (nearest, so the pixels stay sharp);
-- under the rows, the class colours and names.
local function save_picture(x, truth, per_pixel, voted, class_names, path)
  local n, side = x.shape[1], x.shape[2]
  local gray = x:expand(n, side, side, 3)
  local tiles = {}
  for i = 1, n do
    for _, t in ipairs{gray, colour(truth), colour(per_pixel), colour(voted)} do tiles[#tiles + 1] = t[i] end
  end
  local grid = dnn.image.grid(dnn.stack(tiles, 1), {nrow = 4, padding = 2, pad_value = 1})
  local SCALE = 3
  grid = dnn.image.resize(grid, grid.shape[1] * SCALE, grid.shape[2] * SCALE, {method = "nearest"})
  local width = grid.shape[2]
  local header, legend_rows = 14, math.ceil(CLASSES / 3)
  local picture = dnn.image.canvas(header + grid.shape[1] + legend_rows * 12 + 6, width)
  for k, title in ipairs{"image", "true", "per pixel", "voted"} do
    dnn.image.draw_text(picture, (k - 1) * width // 4 + 6, 3, title, {0, 0, 0})
  end
  picture:narrow(1, header + 1, grid.shape[1]):copy(grid)
  local names = {"background"}
  for k, name in ipairs(class_names) do names[k + 1] = name end
  for k, name in ipairs(names) do
    local row, col = (k - 1) // 3, (k - 1) % 3
    local x0, y0 = col * width // 3 + 6, header + grid.shape[1] + 4 + row * 12
    dnn.image.draw_rect(picture, x0, y0, 8, 8, PALETTE[k]:totable(), {filled = true})
    dnn.image.draw_text(picture, x0 + 12, y0, name, {0, 0, 0})
  end
  dnn.image.save(picture, path)
end

local opts = parse_args(arg or {})
dnn.manual_seed(opts.seed)
local model = unet(opts.size, opts.filters)
model:summary()
print(string.format("U-Net: %d levels, %d..%d filters, %dx%d scenes, %d fresh scenes per epoch, %d epochs, batch %d, "
  .. "%d threads", LEVELS, opts.filters, opts.filters << LEVELS, opts.size, opts.size, opts.train, opts.epochs,
  opts.batch_size, dnn.get_num_threads()))
local started = dnn.wall_time()
local losses, generating = train(model, opts)
local trained = dnn.wall_time() - started

local x_test, y_test, class_names = scenes(opts, opts.test, opts.seed, "test")
model:train(false)
local per_pixel, voted = dnn.no_grad(predict, model, x_test)
local baseline = scores(y_test, dnn.ones(table.unpack(y_test.shape)))
local iou, per_class, accuracy = scores(y_test, per_pixel)
local voted_iou, voted_per_class, voted_accuracy = scores(y_test, voted)

local SHOWN = math.min(6, opts.test)
local path = opts.out .. "/segmentation.png"
save_picture(x_test:narrow(1, 1, SHOWN), y_test:narrow(1, 1, SHOWN), per_pixel:narrow(1, 1, SHOWN),
  voted:narrow(1, 1, SHOWN), class_names, path)
local saved = dnn.image.load(path) -- read back: the size printed is the file's
print(string.format("saved %s (%dx%d)", path, saved.shape[2], saved.shape[1]))

print(string.format("loss %.4f after epoch 1, %.4f after epoch %d", losses[1], losses[#losses], #losses))
print(string.format("training time %.1fs (%.1fs of it generating scenes)", trained, generating))
print(string.format("%-12s %9s %7s", "IoU", "per pixel", "voted"))
local names = {"background"}
for k, name in ipairs(class_names) do names[k + 1] = name end
for k, name in ipairs(names) do
  print(string.format("%-12s %9.3f %7.3f", name, per_class[k], voted_per_class[k]))
end
print(string.format("pixel accuracy %.4f per pixel, %.4f voted", accuracy, voted_accuracy))
print(string.format("baseline (all background) mean IoU %.4f", baseline))
print(string.format("mean IoU %.4f per pixel", iou))
print(string.format("mean IoU %.4f with the item-level vote", voted_iou))
if iou > baseline then
  print("the U-Net beats the baseline")
else
  print("the U-Net does not beat the baseline")
end
