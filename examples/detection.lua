-- A single-shot object detector (SSD: Liu et al., "SSD: Single Shot
-- MultiBox Detector", 2016) trained on dnn.datasets.fashion_scenes: 112x112
-- gray scenes holding 1 to 4 Fashion-MNIST items, each with its box and
-- class. One 14x14 feature map carries 6 anchors per cell (sizes 0.2 and
-- 0.35 of the image, aspect ratios 1, 1:2 and 2:1); for each anchor the
-- network predicts 11 class scores (background and the 10 classes) and 4
-- box offsets (dnn.ops.encode_boxes). Training: an anchor is positive where
-- dnn.ops.box_targets matches it to an object (IoU >= 0.5, or the object's
-- best anchor); the class loss counts the positives and the 3 hardest
-- negatives per positive (hard-negative mining), the box loss is smooth L1
-- on the positives' offsets. Detection: decoded boxes, per-class NMS.
-- Prints the test mAP@0.5 and mAP@[.5:.95] (COCO's rule,
-- dnn.metrics.mean_average_precision), before training too, and saves
-- detection.png: test scenes with the predicted boxes and class names.
-- Usage: dnnlua examples/detection.lua [--epochs N] [--train N] [--test N]
--   [--batch-size N] [--lr X] [--seed N] [--data DIR] [--out DIR]
--   --train and --test are the numbers of scenes generated; --out is where
--   the PNG goes (default: the current folder).
local dnn = require "dnn"
local nn = dnn.nn

local args = dofile((arg[0]:match("^(.*)/") or ".") .. "/lib/args.lua")

local SIZE = 112              -- the scenes' side in pixels
local FEATURE = 14            -- the feature map's side: 3 stride-2 convolutions, 112 / 8
local ANCHOR_SIZES = {0.2, 0.35}
local ASPECT_RATIOS = {1, 0.5, 2} -- width / height
local PER_CELL = #ANCHOR_SIZES * #ASPECT_RATIOS
local CLASSES = 10            -- Fashion-MNIST's; score column 1 is the background
local NEGATIVES_PER_POSITIVE = 3
local SCORE_THRESHOLD = 0.01  -- detections kept for the mAP (SSD's choice: low scores cost the AP nothing)
local NMS_IOU = 0.45          -- SSD's
local MAX_DETECTIONS = 100    -- per image, COCO's maxDets
local SHOWN, SHOWN_SCORE = 8, 0.5 -- the scenes drawn, and the lowest score drawn

local function parse_args(argv)
  local parser = args.parser("detection.lua",
    "Trains a single-shot detector (SSD) on Fashion-MNIST scenes and prints its test mAP.")
  args.number_option(parser, "--epochs", "training epochs", 14, args.positive_integer)
  args.number_option(parser, "--train", "training scenes generated", 8000, args.positive_integer)
  args.number_option(parser, "--test", "test scenes generated", 1000, args.positive_integer)
  args.number_option(parser, "--batch-size", "scenes per step", 32, args.positive_integer)
  args.number_option(parser, "--lr", "Adam's peak learning rate (cosine-decayed)", 3e-3,
    args.positive_number):argname("X")
  args.number_option(parser, "--seed", "the seed of the scenes, the weights and the order", 1,
    args.nonnegative_integer)
  parser:option("--data", "the Fashion-MNIST folder (default: Debian's dataset-fashion-mnist)"):argname("DIR")
  args.out_dir_option(parser, "where detection.png goes")
  return parser:parse(argv)
end

-- n scenes of a split. The masks (for segmentation) are dropped: they are as
-- big as the images (0.4 GB for 8000 scenes) and a detector does not use them.
local function load_scenes(opts, n, split)
  local scenes = dnn.datasets.fashion_scenes{n = n, size = SIZE, seed = opts.seed, split = split, dir = opts.data}
  scenes.masks = nil
  return scenes
end

-- The training targets of every scene, (N, A, 5): per anchor the class
-- (0 background, 1..10) then the 4 offsets to its object's box. One tensor,
-- so that a DataLoader shuffles it with the images.
local function training_targets(scenes, anchors)
  local n, a = scenes.x.shape[1], anchors.shape[1]
  local targets = dnn.zeros(n, a, 5)
  for i = 1, n do
    -- boxes in the unit square, the anchors' unit
    local offsets, labels = dnn.ops.box_targets(scenes.boxes[i] / SIZE, scenes.labels[i], anchors)
    local row = targets:select(1, i)
    row:narrow(2, 1, 1):copy(labels:unsqueeze(2))
    row:narrow(2, 2, 4):copy(offsets)
  end
  return targets
end

-- A convolution without bias (the batch norm after it has one), batch norm, ReLU.
-- The moving averages that inference uses follow the last ~10 batches
-- (momentum 0.9) rather than Keras's ~100 (0.99): a short run of a hundred
-- steps otherwise evaluates with statistics still half at their start
-- (test mAP@0.5 0.14 instead of 0.41 after 3 epochs of 600 scenes).
local function conv_block(layers, filters, stride)
  layers[#layers + 1] = nn.Conv2D(filters, 3, {strides = stride, padding = "same", use_bias = false})
  layers[#layers + 1] = nn.BatchNormalization{momentum = 0.9}
  layers[#layers + 1] = nn.Activation("relu")
end

-- The detector: 5 conv blocks down to the 14x14 map (a receptive field of
-- 55 pixels with the head, enough for the largest items, 56 pixels), then
-- one 3x3 convolution giving each anchor its 1 + 10 class scores and 4
-- offsets, reshaped to (batch, anchors, 15) in the anchors' order (cell by
-- cell, then anchor within the cell, as dnn.ops.anchor_boxes lists them).
local function detector(num_anchors)
  local layers = {nn.Input{SIZE, SIZE, 1}}
  conv_block(layers, 16, 2) -- 56x56
  conv_block(layers, 32, 2) -- 28x28
  conv_block(layers, 32, 1)
  conv_block(layers, 64, 2) -- 14x14
  conv_block(layers, 64, 1)
  layers[#layers + 1] = nn.Conv2D(PER_CELL * (1 + CLASSES + 4), 3, {padding = "same", name = "head"})
  layers[#layers + 1] = nn.Reshape{num_anchors, 1 + CLASSES + 4}
  return nn.Sequential(layers)
end

-- The class scores (logits) and offsets of a prediction (batch, A, 15).
local function split_prediction(prediction)
  return prediction:narrow(3, 1, 1 + CLASSES), prediction:narrow(3, 2 + CLASSES, 4)
end

-- Hard-negative mining: per scene, the background anchors whose class loss
-- (ce, a detached (B, A)) is among the NEGATIVES_PER_POSITIVE x positives
-- highest, as a 0/1 (B, A). Almost all anchors are background; without this
-- the easy ones swamp the loss and the detector learns to say "background".
-- The threshold of each scene comes from a sort in Lua; the mask itself is
-- one comparison of tensors.
local function hard_negatives(ce, labels)
  local background = labels:eq(0)
  local losses, flags = ce:totable(), background:totable()
  local positives = labels:gt(0):sum(2):totable()
  local thresholds = {}
  for i, row in ipairs(losses) do
    local negatives = {}
    for j, loss in ipairs(row) do
      if flags[i][j] == 1 then negatives[#negatives + 1] = loss end
    end
    local k = math.min(NEGATIVES_PER_POSITIVE * positives[i], #negatives)
    table.sort(negatives)
    -- the k-th highest; with k = 0 above every loss, so none is taken
    thresholds[i] = {k > 0 and negatives[#negatives - k + 1] or math.huge}
  end
  return ce:ge(dnn.tensor(thresholds)) * background
end

-- Smooth L1 (Huber with delta 1) of each element of d: 0.5 d^2 below 1,
-- |d| - 0.5 beyond.
local function smooth_l1(d)
  local a = d:abs()
  local small = a:clamp(0, 1)
  return small:square() * 0.5 + (a - small)
end

-- SSD's loss for a batch: (class loss on the positives and the mined
-- negatives + smooth L1 of the positives' offsets) / the number of
-- positives. Returns the total and its two parts (numbers).
local function ssd_loss(prediction, targets)
  local logits, offsets = split_prediction(prediction)
  local labels = targets:select(3, 1)
  local positive = labels:gt(0)
  local num_positive = math.max(positive:sum():item(), 1)
  -- the cross-entropy of each anchor against its class (column label + 1)
  local ce = -logits:log_softmax(3):gather(3, (labels:clamp(0, CLASSES) + 1):unsqueeze(3)):squeeze(3)
  local counted = positive + hard_negatives(ce:detach(), labels)
  local class_loss = (ce * counted):sum() / num_positive
  local box_loss = (smooth_l1(offsets - targets:narrow(3, 2, 4)) * positive:unsqueeze(3)):sum() / num_positive
  return class_loss + box_loss, class_loss:item(), box_loss:item()
end

-- Detections for images x (N, SIZE, SIZE, 1): per image {boxes (K, 4) in
-- pixels, labels (K), scores (K)}. Every (anchor, class) pair scoring above
-- SCORE_THRESHOLD is a candidate, its box the anchor's decoded box (clipped
-- to the image); NMS within each class, at most MAX_DETECTIONS per image.
-- The pairs are laid out class by class: candidate (c - 1) * A + a is
-- anchor a for class c.
local function detect(model, x, anchors)
  local a = anchors.shape[1]
  local anchor_of, class_of = {}, {}
  for c = 1, CLASSES do
    for k = 1, a do
      anchor_of[#anchor_of + 1] = k
      class_of[#class_of + 1] = c
    end
  end
  anchor_of, class_of = dnn.tensor(anchor_of), dnn.tensor(class_of)
  model:train(false)
  local prediction = model:predict(x, {batch_size = 100, verbose = 0})
  local logits, offsets = split_prediction(prediction)
  local probabilities = logits:softmax(3):narrow(3, 2, CLASSES) -- the classes without the background
  local boxes = dnn.ops.decode_boxes(offsets, anchors):clamp(0, 1) * SIZE
  local detections = {}
  for i = 1, x.shape[1] do
    local scores = probabilities[i]:transpose(1, 2):contiguous():reshape(CLASSES * a)
    local candidates = boxes[i]:index_select(1, anchor_of)
    local keep = dnn.ops.nms(candidates, scores, {iou_threshold = NMS_IOU, score_threshold = SCORE_THRESHOLD,
                                                  classes = class_of, max_output = MAX_DETECTIONS})
    if keep:numel() > 0 then
      detections[i] = {boxes = candidates:index_select(1, keep), labels = class_of:index_select(1, keep),
                       scores = scores:index_select(1, keep)}
    else
      detections[i] = {boxes = dnn.zeros(0, 4), labels = dnn.zeros(0), scores = dnn.zeros(0)}
    end
  end
  return detections
end

-- mAP@0.5 and mAP@[.5:.95] of the model on the scenes.
local function evaluate(model, scenes, anchors)
  local detections = detect(model, scenes.x, anchors)
  local truth = {}
  for i = 1, scenes.x.shape[1] do
    truth[i] = {boxes = scenes.boxes[i], labels = scenes.labels[i]}
  end
  local map50 = dnn.metrics.mean_average_precision(detections, truth, {iou_thresholds = 0.5})
  local map = dnn.metrics.mean_average_precision(detections, truth)
  return map50, map, detections
end

-- Adam at lr, cosine-decayed to 0 over the run; one pass over the scenes
-- per epoch, printing the mean losses.
local function train(model, x, targets, opts)
  local loader = dnn.data.DataLoader{x, targets, batch_size = opts.batch_size, shuffle = true}
  local schedule = dnn.optim.schedules.CosineDecay{initial_learning_rate = opts.lr,
                                                   decay_steps = opts.epochs * #loader}
  local optimizer = dnn.optim.Adam{learning_rate = schedule, params = model:parameters()}
  local started = dnn.wall_time()
  for epoch = 1, opts.epochs do
    model:train(true)
    local class_sum, box_sum, batches = 0, 0, 0
    for xb, tb in loader do
      local loss, class_loss, box_loss = ssd_loss(model(xb), tb)
      optimizer:zero_grad()
      loss:backward()
      optimizer:step()
      class_sum, box_sum, batches = class_sum + class_loss, box_sum + box_loss, batches + 1
    end
    print(string.format("epoch %2d: class loss %.3f, box loss %.3f (%.0f s)", epoch, class_sum / batches,
      box_sum / batches, dnn.wall_time() - started))
  end
  return dnn.wall_time() - started
end

-- One colour per class, far apart on the hue circle and light enough to
-- show on the dark scenes.
local function class_colour(c)
  local h = (c - 1) / CLASSES * 6
  local x = 1 - math.abs(h % 2 - 1)
  local rgb = ({{1, x, 0}, {x, 1, 0}, {0, 1, x}, {0, x, 1}, {x, 0, 1}, {1, 0, x}})[math.floor(h) + 1]
  return {0.35 + 0.65 * rgb[1], 0.35 + 0.65 * rgb[2], 0.35 + 0.65 * rgb[3]}
end

-- The first SHOWN test scenes, twice their size, with the detections
-- scoring at least SHOWN_SCORE: a box in its class's colour, and the class
-- name with the score on a label of that colour above the box (inside it
-- where the box touches the top). Returns the picture.
local function save_picture(scenes, detections, path)
  local scale = 2
  local tiles = {}
  for i = 1, math.min(SHOWN, scenes.x.shape[1]) do
    local gray = dnn.image.resize(scenes.x[i], SIZE * scale, SIZE * scale, {method = "nearest"})
    local tile = dnn.cat({gray, gray, gray}, 3)
    local d = detections[i]
    local boxes, labels, scores = d.boxes:totable(), d.labels:totable(), d.scores:totable()
    for k = #scores, 1, -1 do -- the best last, drawn on top
      if scores[k] >= SHOWN_SCORE then
        local y1, x1, y2, x2 = table.unpack(boxes[k])
        local colour = class_colour(labels[k])
        local x, y = math.floor(x1 * scale), math.floor(y1 * scale)
        local w, h = math.floor((x2 - x1) * scale), math.floor((y2 - y1) * scale)
        dnn.image.draw_rect(tile, x, y, w, h, colour)
        dnn.image.draw_rect(tile, x + 1, y + 1, w - 2, h - 2, colour) -- two pixels wide
        local text = string.format("%s %.2f", scenes.class_names[labels[k]], scores[k])
        local ty = y >= 9 and y - 9 or y
        dnn.image.draw_rect(tile, x, ty, dnn.image.text_width(text) + 2, 9, colour, {filled = true})
        dnn.image.draw_text(tile, x + 1, ty + 1, text, {0, 0, 0})
      end
    end
    tiles[#tiles + 1] = tile
  end
  local picture = dnn.image.grid(dnn.stack(tiles, 1), {nrow = 4, padding = 4, pad_value = 1})
  dnn.image.save(picture, path)
  return picture
end

local opts = parse_args(arg or {})
dnn.manual_seed(opts.seed)
local started = dnn.wall_time()
local train_scenes = load_scenes(opts, opts.train, "train")
local test_scenes = load_scenes(opts, opts.test, "test")
local anchors = dnn.ops.anchor_boxes{feature_size = FEATURE, sizes = ANCHOR_SIZES, aspect_ratios = ASPECT_RATIOS}
local targets = training_targets(train_scenes, anchors)
print(string.format("%d training and %d test scenes of %dx%d, %d anchors (%.0f s)", opts.train, opts.test, SIZE,
  SIZE, anchors.shape[1], dnn.wall_time() - started))

local model = detector(anchors.shape[1])
model:summary()
local untrained50, untrained = evaluate(model, test_scenes, anchors)
print(string.format("untrained: test mAP@0.5 %.3f, mAP@[.5:.95] %.3f", untrained50, untrained))

print(string.format("training for %d epochs, batch %d, %d threads", opts.epochs, opts.batch_size,
  dnn.get_num_threads()))
local seconds = train(model, train_scenes.x, targets, opts)
local map50, map, detections = evaluate(model, test_scenes, anchors)
local path = opts.out .. "/detection.png"
local picture = save_picture(test_scenes, detections, path)
print(string.format("saved %s (%dx%d)", path, picture.shape[2], picture.shape[1]))
print(string.format("training time %.1fs", seconds))
print(string.format("test mAP@0.5 %.3f, mAP@[.5:.95] %.3f (untrained: %.3f, %.3f)", map50, map, untrained50,
  untrained))
