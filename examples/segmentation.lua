-- Semantic segmentation: a small U-Net (Ronneberger et al., 2015) labels
-- every pixel of dnn.datasets.fashion_scenes (Fashion-MNIST items on noise
-- and texture backgrounds) as background or one of the 10 item classes.
-- Training sees fresh scenes each epoch (a new seed per epoch: generating
-- them costs a fraction of a second, and the net meets many more items).
-- Naming the items is the hard part (a shirt, a T-shirt, a pullover and a
-- coat differ in details), so the example also decides per item: each
-- connected region of predicted foreground takes one class, by the U-Net's
-- summed probabilities (voted), by small CNNs given the region's crop
-- (classified: two of them, their probabilities averaged; trained on the
-- items' crops and on the U-Net's own regions in fresh scenes), or by both
-- (combined). Prints the test scenes' mean IoU (dnn.metrics.MeanIoU), pixel
-- accuracy and per-class IoU for each way, and what predicting all
-- background scores. Saves segmentation.png: test scenes, their true masks,
-- the per-pixel and the combined predictions, a colour per class.
-- Usage: dnnlua examples/segmentation.lua [--epochs N] [--train N] [--test N]
--   [--batch-size N] [--lr X] [--size N] [--filters N] [--classifiers N] [--classifier-epochs N]
--   [--data DIR] [--seed N] [--out DIR]
--   --train is the scenes per epoch; --size the canvas side (a multiple of
--   8: the U-Net halves it three times); --out is where the PNG goes.
local dnn = require "dnn"
local nn = dnn.nn

local args = dofile((arg[0]:match("^(.*)/") or ".") .. "/lib/args.lua")

local LEVELS = 3 -- poolings: the canvas side must be a multiple of 2^LEVELS
local CLASSES = 11 -- 1 background, 2..11 the Fashion-MNIST classes 0..9
local CROP = 28 -- the item classifier's input side, Fashion-MNIST's
-- Scenes: 2 or 3 items tried (about 1.8 placed on 64x64), each 0.4 to 0.6
-- of the canvas side (26 to 38 pixels on 64, near Fashion-MNIST's own 28,
-- so the items stay legible), their boxes never overlapping: an item is
-- then never hidden in part, and items of two classes touch in few scenes
-- (about 1 in 18; 1 in 9 with up to 4 items, 1 in 4 with boxes overlapping
-- by 10%), which matters to the per-item decisions: touching items make
-- one region.
local SCENE = {min_objects = 2, max_objects = 3, min_scale = 0.4, max_scale = 0.6, max_overlap = 0}

local function multiple_of_8(text)
  local n = math.tointeger(tonumber(text))
  if n and n >= 16 and n % (1 << LEVELS) == 0 then return n end
  return nil, "a positive multiple of 8 (16 or more)"
end

local function parse_args(argv)
  local parser = args.parser("segmentation.lua",
    "Trains a U-Net and item classifiers to segment Fashion-MNIST scenes; prints the mean IoU on test scenes.")
  args.number_option(parser, "--epochs", "U-Net epochs, each on fresh scenes", 8, args.positive_integer)
  args.number_option(parser, "--train", "training scenes per epoch", 5000, args.positive_integer)
  args.number_option(parser, "--test", "test scenes", 1000, args.positive_integer)
  args.number_option(parser, "--batch-size", "scenes per step", 16, args.positive_integer)
  args.number_option(parser, "--lr", "peak learning rate of both nets (cosine-decayed)", 2e-3,
    args.positive_number):argname("X")
  args.number_option(parser, "--size", "canvas side in pixels (a multiple of 8)", 64, multiple_of_8)
  args.number_option(parser, "--filters", "filters of the first level (doubled at each level below)", 16,
    args.positive_integer)
  args.number_option(parser, "--classifiers", "item classifiers (their probabilities averaged)", 2, args.positive_integer)
  args.number_option(parser, "--classifier-epochs", "epochs of each item classifier on the items' crops", 7,
    args.positive_integer)
  args.number_option(parser, "--seed", "random seed (of the weights and of the scenes)", 42, args.nonnegative_integer)
  parser:option("--data", "the Fashion-MNIST folder (default: Debian's)"):argname("DIR")
  args.out_dir_option(parser, "where the PNG goes")
  return parser:parse(argv)
end

-- n scenes of fashion_scenes: images x (n, size, size, 1), masks (n, size,
-- size) with 0 for background (the U-Net's targets are masks + 1: MeanIoU
-- and the sparse loss count classes from 1), the items' boxes and labels.
local function scenes(opts, n, seed, split)
  return dnn.datasets.fashion_scenes{n = n, size = opts.size, seed = seed, split = split, dir = opts.data,
                                     min_objects = SCENE.min_objects, max_objects = SCENE.max_objects,
                                     min_scale = SCENE.min_scale, max_scale = SCENE.max_scale,
                                     max_overlap = SCENE.max_overlap}
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
-- times; the bottleneck sees the scene at 1/8 of its side, where its two
-- 3x3 convolutions together span 5 cells, 40 pixels: a whole item (what
-- deciding its class needs). The decoder
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

-- The square window around a box (y1, x1, y2, x2: pixel edges from 0) of a
-- scene image (size, size, 1), 2 pixels wider than the box's longer side and
-- moved inside the canvas, resized to CROP x CROP: the item framed about as
-- Fashion-MNIST frames it. The classifier's training crops (true boxes) and
-- the test regions (boxes of predicted foreground) are cut alike.
local function crop(image, y1, x1, y2, x2)
  local size = image.shape[1]
  local side = math.min(size, math.max(y2 - y1, x2 - x1) + 2)
  local function start(low, high)
    return math.max(0, math.min(size - side, math.floor((low + high - side) / 2 + 0.5)))
  end
  local top, left = start(y1, y2), start(x1, x2)
  return dnn.image.resize(image:narrow(1, top + 1, side):narrow(2, left + 1, side), CROP, CROP)
end

-- The crops of every item of a set of scenes (n, CROP, CROP, 1) and their
-- Fashion-MNIST class ids 1..10. Each item is cut out of its scene by its
-- mask (pixels of its class), the rest black as in Fashion-MNIST: neither
-- the background's texture nor a neighbour's edge reaches the classifier.
-- At test time the region's predicted pixels cut it out.
local function item_crops(s)
  local boxes, labels, counts = s.boxes:totable(), s.labels:totable(), s.num_objects:totable()
  local size = s.x.shape[2]
  local crops, ids = {}, {}
  for i = 1, #counts do
    local image, mask = s.x[i], s.masks[i]
    for k = 1, counts[i] do
      local b = boxes[i][k]
      local own = mask:eq(labels[i][k]):reshape(size, size, 1)
      crops[#crops + 1] = crop(image * own, b[1], b[2], b[3], b[4])
      ids[#ids + 1] = labels[i][k]
    end
  end
  return dnn.stack(crops, 1), dnn.tensor(ids)
end

-- Adam with the learning rate cosine-decayed over all the steps to lr/20.
local function compile(model, lr, steps)
  local schedule = dnn.optim.schedules.CosineDecay{initial_learning_rate = lr, decay_steps = steps, alpha = 0.05}
  model:compile{optimizer = dnn.optim.Adam{learning_rate = schedule}, loss = "sparse_categorical_crossentropy",
                metrics = {"accuracy"}}
end

-- Trains the U-Net on opts.train fresh scenes per epoch, seeds seed*1000 +
-- epoch (the test scenes use seed itself on Fashion-MNIST's test split, so
-- no item image is shared). Returns the losses per epoch, the seconds spent
-- generating scenes, and the crops of all the items seen with their class
-- ids (the item classifier's training set).
local function train_unet(model, opts)
  compile(model, opts.lr, opts.epochs * math.ceil(opts.train / opts.batch_size))
  local losses, generating, crops, ids = {}, 0, {}, {}
  for epoch = 1, opts.epochs do
    local started = dnn.wall_time()
    local s = scenes(opts, opts.train, opts.seed * 1000 + epoch, "train")
    crops[epoch], ids[epoch] = item_crops(s)
    generating = generating + dnn.wall_time() - started
    local fitting = dnn.wall_time()
    local history = model:fit(s.x, s.masks + 1, {epochs = 1, batch_size = opts.batch_size, shuffle = true,
                                                 verbose = 0})
    losses[epoch] = history.history.loss[1]
    print(string.format("U-Net epoch %d/%d - %.1fs - loss %.4f - pixel accuracy %.4f", epoch, opts.epochs,
      dnn.wall_time() - fitting, losses[epoch], history.history.accuracy[1]))
  end
  return losses, generating, dnn.cat(crops, 1), dnn.cat(ids, 1)
end

-- The item classifiers: train_cnn's small CNN (examples/lib/fashion_cnn.lua),
-- opts.classifiers of them from different initial weights (seeds seed + 1,
-- seed + 2, ...), each trained on the same crops; their probabilities are
-- averaged. Per item a classifier is far cheaper than the U-Net (28x28 once,
-- not a whole scene per pixel), so each sees every crop several times in a
-- fraction of the U-Net's time. A larger CNN did no better (32/64/128
-- filters: 0.790 classified, one small one 0.787), while two small ones
-- disagree where each is unsure (shirts, coats, pullovers) and their
-- average is right more often (0.787 for one, 0.799 for two, in a trial).
local function train_classifiers(crops, ids, opts)
  local fashion_cnn = dofile((arg[0]:match("^(.*)/") or ".") .. "/lib/fashion_cnn.lua")
  local BATCH = 64
  local classifiers = {}
  for k = 1, opts.classifiers do
    dnn.manual_seed(opts.seed + k)
    local classifier = fashion_cnn{}
    compile(classifier, opts.lr, opts.classifier_epochs * math.ceil(crops.shape[1] / BATCH))
    print(string.format("item classifier %d/%d: %d crops, %d epochs, batch %d", k, opts.classifiers, crops.shape[1],
      opts.classifier_epochs, BATCH))
    classifier:fit(crops, ids, {epochs = opts.classifier_epochs, batch_size = BATCH, shuffle = true, verbose = 2})
    classifier:train(false)
    classifiers[k] = classifier
  end
  return classifiers
end

-- One test scene's items, from the U-Net's probabilities (side, side,
-- CLASSES): its per-pixel class ids, the regions of predicted foreground
-- (a one-hot membership per pixel, column 1 the background) with their
-- boxes, and each region's vote: the item class whose probabilities summed
-- over the region's pixels are largest (one decision per object, where the
-- per-pixel argmax may split an item between similar classes), with those
-- sums as shares of 1 over the 10 item classes (the U-Net's opinion of the
-- whole region, which the classifier's is multiplied with). A region
-- whose box is longer than any item is several touching items: it is
-- marked merged, and keeps its per-pixel classes.
local function scene_items(probs, max_side)
  local side = probs.shape[1]
  local flat = probs:reshape(side * side, CLASSES)
  local ids = flat:argmax(2):reshape(side, side)
  local region, count, boxes = dnn.image.connected_components(ids:gt(1))
  boxes = boxes:totable()
  local items = {ids = ids, count = count, boxes = boxes, merged = {}, votes = {}}
  if count == 0 then return items end
  items.membership = dnn.one_hot(region:reshape(side * side) + 1, count + 1) -- (pixels, regions + 1)
  local sums = dnn.matmul(items.membership:transpose(1, 2), flat) -- (regions + 1, CLASSES)
  local item_sums = sums:narrow(1, 2, count):narrow(2, 2, CLASSES - 1)
  items.shares = item_sums / item_sums:sum(2, true)
  local votes = (sums:narrow(2, 2, CLASSES - 1):argmax(2) + 1):totable()
  for k, box in ipairs(boxes) do
    items.merged[k] = math.max(box[3] - box[1], box[4] - box[2]) > max_side + 2
    items.votes[k] = votes[k + 1]
  end
  return items
end

-- A scene's class ids (side, side) with one class per region (classes[k]
-- for region k) and per-pixel classes in merged regions.
local function paint(items, classes)
  if items.count == 0 then return items.ids end
  local side = items.ids.shape[1]
  local per_region = {1}
  for k = 1, items.count do per_region[k + 1] = items.merged[k] and 0 or classes[k] end
  local painted = dnn.matmul(items.membership, dnn.tensor(per_region):reshape(items.count + 1, 1)):reshape(side, side)
  return painted + painted:eq(0) * items.ids
end

-- Region k of a scene (image (side, side, 1), items from scene_items) cut
-- out by its predicted pixels and framed by crop(): how a region reaches
-- the classifiers, in training (region_crops) and in testing (predict).
local function region_crop(image, items, k)
  local side, box = image.shape[1], items.boxes[k]
  local own = items.membership:select(2, k + 1):reshape(side, side, 1)
  return crop(image * own, box[1], box[2], box[3], box[4])
end

-- Each scene's class ids with its regions painted by classes, a flat list
-- of one class per unmerged region of all the scenes in order.
local function paint_all(scene_list, classes)
  local painted, next_region = {}, 1
  for _, items in ipairs(scene_list) do
    local mine = {}
    for k = 1, items.count do
      if not items.merged[k] then
        mine[k] = classes[next_region]
        next_region = next_region + 1
      end
    end
    painted[#painted + 1] = paint(items, mine)
  end
  return dnn.stack(painted, 1)
end

-- The crops of the regions the trained U-Net finds in fresh training scenes
-- (as many as it trained on, new seeds), cut as the test regions are, each
-- labelled with the item class most of its pixels truly have; regions that
-- are mostly background, or merged, are left out. The classifiers learn
-- from these beside the true items' crops: a predicted region's mask is a
-- little off at the edges, and a classifier that saw only exact masks
-- named 92% of the test items' true crops but 85% of the regions (eroding
-- the regions by one pixel cost 0.065 of mean IoU). Half of the crops of
-- this kind: 0.787 -> 0.802 for one classifier.
local function region_crops(unet, opts, max_side)
  local crops, ids = {}, {}
  local side, CHUNK = opts.size, 500
  local total = opts.train * opts.epochs
  for start = 1, total, CHUNK do
    local n = math.min(CHUNK, total - start + 1)
    local s = scenes(opts, n, opts.seed * 1000 + opts.epochs + start, "train")
    local probs = dnn.no_grad(unet.predict, unet, s.x, {batch_size = 100, verbose = 0})
    for i = 1, n do
      local items = scene_items(probs[i], max_side)
      if items.count > 0 then
        -- pixels of each class in each region: (regions + 1, CLASSES)
        local counts = dnn.matmul(items.membership:transpose(1, 2), dnn.one_hot(s.masks[i]:reshape(side * side) + 1,
          CLASSES))
        local item_counts = counts:narrow(2, 2, CLASSES - 1)
        local labels, most, background = item_counts:argmax(2):totable(), item_counts:max(2):totable(),
          counts:select(2, 1):totable()
        for k = 1, items.count do
          if not items.merged[k] and most[k + 1] > background[k + 1] then
            crops[#crops + 1] = region_crop(s.x[i], items, k)
            ids[#ids + 1] = labels[k + 1]
          end
        end
      end
    end
  end
  if #crops == 0 then return nil end -- a U-Net that finds nothing yet (a short run)
  return dnn.stack(crops, 1), dnn.tensor(ids)
end

-- The test scenes' predictions, four ways: per pixel (the U-Net's
-- argmax), voted (each region its summed U-Net probabilities' class),
-- classified (each region's crop given to the item classifiers, their
-- probabilities averaged) and combined (those probabilities times the
-- region's U-Net shares: two opinions, from different views of the item);
-- and, as a fifth, classified by the first classifier alone. The U-Net
-- runs batch by batch (the probabilities of all scenes at once would take
-- n * size^2 * 11 floats).
local function predict(unet, classifiers, x, max_side)
  local n = x.shape[1]
  local per_pixel, voted, scene_list, crops, shares = {}, {}, {}, {}, {}
  local BATCH = 100
  for start = 1, n, BATCH do
    local m = math.min(BATCH, n - start + 1)
    local probs = unet:predict(x:narrow(1, start, m), {batch_size = BATCH, verbose = 0})
    for i = 1, m do
      local items = scene_items(probs[i], max_side)
      scene_list[#scene_list + 1] = items
      per_pixel[#per_pixel + 1] = items.ids
      voted[#voted + 1] = paint(items, items.votes)
      for k = 1, items.count do
        if not items.merged[k] then
          crops[#crops + 1] = region_crop(x[start + i - 1], items, k)
          shares[#shares + 1] = items.shares[k]
        end
      end
    end
  end
  local alone, both, first = {}, {}, {}
  if #crops > 0 then
    local batch = dnn.stack(crops, 1)
    local each = {}
    for k, classifier in ipairs(classifiers) do each[k] = classifier:predict(batch, {batch_size = 500, verbose = 0}) end
    local mean = dnn.stack(each, 1):mean(1)
    -- Fashion-MNIST ids + 1: the U-Net's ids
    alone, first = (mean:argmax(2) + 1):totable(), (each[1]:argmax(2) + 1):totable()
    both = ((mean * dnn.stack(shares, 1)):argmax(2) + 1):totable()
  end
  local classified = paint_all(scene_list, alone)
  return {per_pixel = dnn.stack(per_pixel, 1), voted = dnn.stack(voted, 1), classified = classified,
          combined = paint_all(scene_list, both),
          first = #classifiers > 1 and paint_all(scene_list, first) or classified} -- one classifier: its own
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
-- the combined one, scaled up 3 times (nearest, so the pixels stay sharp);
-- under the rows, the class colours and names.
local function save_picture(x, truth, per_pixel, combined, class_names, path)
  local n, side = x.shape[1], x.shape[2]
  local gray = x:expand(n, side, side, 3)
  local tiles = {}
  for i = 1, n do
    for _, t in ipairs{gray, colour(truth), colour(per_pixel), colour(combined)} do tiles[#tiles + 1] = t[i] end
  end
  local grid = dnn.image.grid(dnn.stack(tiles, 1), {nrow = 4, padding = 2, pad_value = 1})
  local SCALE = 3
  grid = dnn.image.resize(grid, grid.shape[1] * SCALE, grid.shape[2] * SCALE, {method = "nearest"})
  local width = grid.shape[2]
  local header, legend_rows = 14, math.ceil(CLASSES / 3)
  local picture = dnn.image.canvas(header + grid.shape[1] + legend_rows * 12 + 6, width)
  for k, title in ipairs{"image", "true", "per pixel", "combined"} do
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

-- The IoU of foreground against background, whatever the classes: how
-- well the items are found, apart from how they are named.
local function foreground_iou(truth, predicted)
  local t, p = truth:gt(1), predicted:gt(1)
  return (t * p):sum():item() / (t + p):gt(0):sum():item()
end

local opts = parse_args(arg or {})
dnn.manual_seed(opts.seed)
local model = unet(opts.size, opts.filters)
model:summary()
print(string.format("U-Net: %d levels, %d..%d filters, %dx%d scenes, %d fresh scenes per epoch, %d epochs, batch %d, "
  .. "%d threads", LEVELS, opts.filters, opts.filters << LEVELS, opts.size, opts.size, opts.train, opts.epochs,
  opts.batch_size, dnn.get_num_threads()))
local started = dnn.wall_time()
local losses, generating, crops, crop_ids = train_unet(model, opts)
local unet_seconds = dnn.wall_time() - started
model:train(false)
local max_side = math.floor(SCENE.max_scale * opts.size + 0.5) -- the longest item side
started = dnn.wall_time()
local found, found_ids = region_crops(model, opts, max_side)
local region_seconds = dnn.wall_time() - started
print(string.format("%d crops of the items' true masks, %d of the U-Net's regions in %d fresh scenes (%.1fs)",
  crops.shape[1], found and found.shape[1] or 0, opts.train * opts.epochs, region_seconds))
if found then crops, crop_ids = dnn.cat({crops, found}, 1), dnn.cat({crop_ids, found_ids}, 1) end
started = dnn.wall_time()
local classifiers = train_classifiers(crops, crop_ids, opts)
local classifier_seconds = dnn.wall_time() - started
crops, found = nil, nil -- the crops' memory can go

local test = scenes(opts, opts.test, opts.seed, "test")
local x_test, y_test = test.x, test.masks + 1
local predicted = dnn.no_grad(predict, model, classifiers, x_test, max_side)
local per_pixel, voted, classified, combined = predicted.per_pixel, predicted.voted, predicted.classified,
  predicted.combined
local baseline = scores(y_test, dnn.ones(table.unpack(y_test.shape)))
local iou, per_class, accuracy = scores(y_test, per_pixel)
local voted_iou, voted_per_class, voted_accuracy = scores(y_test, voted)
local classified_iou, classified_per_class, classified_accuracy = scores(y_test, classified)
local combined_iou, combined_per_class, combined_accuracy = scores(y_test, combined)

local SHOWN = math.min(6, opts.test)
local path = opts.out .. "/segmentation.png"
save_picture(x_test:narrow(1, 1, SHOWN), y_test:narrow(1, 1, SHOWN), per_pixel:narrow(1, 1, SHOWN),
  combined:narrow(1, 1, SHOWN), test.class_names, path)
local saved = dnn.image.load(path) -- read back: the size printed is the file's
print(string.format("saved %s (%dx%d)", path, saved.shape[2], saved.shape[1]))

print(string.format("U-Net loss %.4f after epoch 1, %.4f after epoch %d", losses[1], losses[#losses], #losses))
print(string.format("training time %.1fs: U-Net %.1fs (%.1fs of it generating scenes and crops), its regions' crops "
  .. "%.1fs, %d classifiers %.1fs", unet_seconds + region_seconds + classifier_seconds, unet_seconds, generating,
  region_seconds, opts.classifiers, classifier_seconds))
print(string.format("%d test scenes; per pixel: the U-Net's classes; voted: each region of foreground takes its "
  .. "summed U-Net probabilities' class;", opts.test))
print(string.format("classified: each region takes the class of the %d item classifiers' mean probabilities for its "
  .. "crop; combined: the class of those probabilities times the vote's shares", opts.classifiers))
print("(regions larger than an item are touching items: they keep their per-pixel classes)")
print(string.format("%-12s %9s %7s %10s %8s", "IoU", "per pixel", "voted", "classified", "combined"))
local names = {"background"}
for k, name in ipairs(test.class_names) do names[k + 1] = name end
for k, name in ipairs(names) do
  print(string.format("%-12s %9.3f %7.3f %10.3f %8.3f", name, per_class[k], voted_per_class[k],
    classified_per_class[k], combined_per_class[k]))
end
print(string.format("pixel accuracy %.4f per pixel, %.4f voted, %.4f classified, %.4f combined", accuracy,
  voted_accuracy, classified_accuracy, combined_accuracy))
print(string.format("foreground IoU %.4f (items found, whatever their class)", foreground_iou(y_test, per_pixel)))
print(string.format("baseline (all background) mean IoU %.4f", baseline))
print(string.format("mean IoU %.4f per pixel (the U-Net alone)", iou))
print(string.format("mean IoU %.4f voted", voted_iou))
if opts.classifiers > 1 then
  print(string.format("mean IoU %.4f classified by the first classifier alone", scores(y_test, predicted.first)))
end
print(string.format("mean IoU %.4f classified", classified_iou))
print(string.format("mean IoU %.4f combined", combined_iou))
if iou > baseline then
  print("the U-Net beats the baseline")
else
  print("the U-Net does not beat the baseline")
end
