-- dnn.ops: operations on boxes for object detection, over the C core's
-- boxes.c (bindings/l_boxes.c). Boxes are rows (y1, x1, y2, x2), TensorFlow's
-- order; ids are 1-based. Nothing here is recorded for autodiff: these make
-- training targets and read predictions.
--
--   dnn.ops.box_iou(a, b)                                   -- (N, M)
--   dnn.ops.nms(boxes, scores, {iou_threshold = 0.5, max_output, score_threshold, classes})
--   local anchors = dnn.ops.anchor_boxes{feature_size = 7, sizes = {0.3, 0.5}, aspect_ratios = {1, 2, 0.5}}
--   local offsets, labels = dnn.ops.box_targets(gt_boxes, gt_labels, anchors)
--   local boxes = dnn.ops.decode_boxes(predicted_offsets, anchors)
local C = require("dnn.core")._boxes
local dnn = require "dnn"
local strict = require "dnn.options"

local M = {}

local DEFAULT_VARIANCES = {0.1, 0.1, 0.2, 0.2}

-- v as a tensor: a tensor as is, a Lua array (of rows) through dnn.tensor;
-- anything else an error naming fn and the argument.
local function tensor_arg(fn, argn, v, what)
  if dnn.is_tensor(v) then return v end
  if type(v) == "table" then
    local ok, t = pcall(dnn.tensor, v)
    if ok then return t end
  end
  strict.raise(string.format("bad argument #%d to '%s' (expected %s, got %s)", argn, fn, what, strict.describe(v)))
end

-- Calls a C function, raising its error at the user's line.
local function call(f, ...)
  local ok, result = pcall(f, ...)
  if not ok then strict.raise((tostring(result):gsub("^[^:\n]*:%d+: ", ""))) end
  return result
end

local function options_of(fn, options, valid)
  if options ~= nil and type(options) ~= "table" then
    strict.raise(string.format("bad argument to '%s' (expected an options table, got %s)", fn, strict.describe(options)))
  end
  return strict.check(fn, options or {}, valid)
end

local function variances_of(fn, v)
  if v == nil then return DEFAULT_VARIANCES end
  if type(v) ~= "table" or #v ~= 4 then
    strict.raise(string.format("%s: variances must be an array of 4 numbers (got %s)", fn, strict.describe(v)))
  end
  for i = 1, 4 do strict.check_number(fn, "variances[" .. i .. "]", v[i], {above = 0}) end
  return v
end

function M.box_iou(a, b)
  a = tensor_arg("box_iou", 1, a, "boxes (N, 4)")
  b = tensor_arg("box_iou", 2, b, "boxes (M, 4)")
  return call(C.box_iou, a, b)
end

function M.nms(boxes, scores, options)
  boxes = tensor_arg("nms", 1, boxes, "boxes (N, 4)")
  scores = tensor_arg("nms", 2, scores, "scores (N)")
  local o = options_of("nms", options, {"iou_threshold", "max_output", "score_threshold", "classes"})
  local iou = strict.check_number("nms", "iou_threshold", o.iou_threshold or 0.5, {min = 0, max = 1})
  local max_output = o.max_output
  if max_output ~= nil then strict.check_number("nms", "max_output", max_output, {min = 0, integer = true}) end
  local score_threshold = o.score_threshold or -math.huge
  if type(score_threshold) ~= "number" or score_threshold ~= score_threshold then
    strict.raise(string.format("nms: score_threshold must be a number (got %s)", strict.describe(score_threshold)))
  end
  local classes = o.classes
  if classes ~= nil then classes = tensor_arg("nms", 3, classes, "classes (N) in the options") end
  return call(C.nms, boxes, scores, classes, iou, score_threshold, max_output and math.tointeger(max_output) or -1)
end

local function positive_list(fn, key, v, default)
  if v == nil then return default end
  if type(v) == "number" then v = {v} end
  if type(v) ~= "table" or #v == 0 then
    strict.raise(string.format("%s: %s must be a number or a non-empty array of numbers (got %s)", fn, key,
      strict.describe(v)))
  end
  for i = 1, #v do strict.check_number(fn, key .. "[" .. i .. "]", v[i], {above = 0}) end
  return v
end

function M.anchor_boxes(options)
  local o = options_of("anchor_boxes", options, {"feature_size", "sizes", "aspect_ratios"})
  local fs = o.feature_size
  if type(fs) == "number" then fs = {fs, fs} end
  if type(fs) ~= "table" or #fs ~= 2 then
    strict.raise(string.format("anchor_boxes: feature_size must be an integer or {height, width} (got %s)",
      strict.describe(o.feature_size)))
  end
  for i = 1, 2 do strict.check_number("anchor_boxes", "feature_size", fs[i], {min = 1, integer = true}) end
  local sizes = positive_list("anchor_boxes", "sizes", o.sizes, nil)
  if not sizes then strict.raise("anchor_boxes: sizes is required (fractions of the image side, e.g. {0.2, 0.4})") end
  local ratios = positive_list("anchor_boxes", "aspect_ratios", o.aspect_ratios, {1})
  return call(C.anchor_boxes, math.tointeger(fs[1]), math.tointeger(fs[2]), sizes, ratios)
end

function M.encode_boxes(boxes, anchors, options)
  boxes = tensor_arg("encode_boxes", 1, boxes, "boxes (..., A, 4)")
  anchors = tensor_arg("encode_boxes", 2, anchors, "anchors (A, 4)")
  local o = options_of("encode_boxes", options, {"variances"})
  return call(C.encode_boxes, boxes, anchors, variances_of("encode_boxes", o.variances))
end

function M.decode_boxes(offsets, anchors, options)
  offsets = tensor_arg("decode_boxes", 1, offsets, "offsets (..., A, 4)")
  anchors = tensor_arg("decode_boxes", 2, anchors, "anchors (A, 4)")
  local o = options_of("decode_boxes", options, {"variances"})
  return call(C.decode_boxes, offsets, anchors, variances_of("decode_boxes", o.variances))
end

local function thresholds_of(fn, o)
  local t = strict.check_number(fn, "iou_threshold", o.iou_threshold or 0.5, {min = 0, max = 1})
  local ignore = o.ignore_threshold
  if ignore ~= nil then strict.check_number(fn, "ignore_threshold", ignore, {min = 0, max = 1}) end
  return t, ignore or math.huge
end

function M.match_boxes(gt_boxes, anchors, options)
  gt_boxes = tensor_arg("match_boxes", 1, gt_boxes, "ground-truth boxes (G, 4)")
  anchors = tensor_arg("match_boxes", 2, anchors, "anchors (A, 4)")
  local o = options_of("match_boxes", options, {"iou_threshold", "ignore_threshold"})
  local t, ignore = thresholds_of("match_boxes", o)
  return call(C.match_boxes, gt_boxes, anchors, t, ignore)
end

function M.box_targets(gt_boxes, gt_labels, anchors, options)
  local fn = "box_targets"
  gt_boxes = tensor_arg(fn, 1, gt_boxes, "ground-truth boxes (G, 4)")
  gt_labels = tensor_arg(fn, 2, gt_labels, "labels (G)")
  anchors = tensor_arg(fn, 3, anchors, "anchors (A, 4)")
  local o = options_of(fn, options, {"iou_threshold", "ignore_threshold", "variances"})
  local t, ignore = thresholds_of(fn, o)
  local variances = variances_of(fn, o.variances)
  if gt_boxes.ndim ~= 2 or gt_boxes.shape[2] ~= 4 then
    strict.raise(string.format("bad argument #1 to '%s' (expected boxes of shape (G, 4), got (%s))", fn,
      table.concat(gt_boxes.shape, ", ")))
  end
  if gt_labels.ndim ~= 1 or gt_labels.shape[1] ~= gt_boxes.shape[1] then
    strict.raise(string.format("bad argument #2 to '%s' (expected labels of shape (%d) for the boxes, got (%s))", fn,
      gt_boxes.shape[1], table.concat(gt_labels.shape, ", ")))
  end
  if anchors.ndim ~= 2 or anchors.shape[2] ~= 4 then
    strict.raise(string.format("bad argument #3 to '%s' (expected anchors of shape (A, 4), got (%s))", fn,
      table.concat(anchors.shape, ", ")))
  end
  -- labels <= 0 are padding (a scene's unused rows): left out
  local keep = {}
  for i, l in ipairs(gt_labels:totable()) do
    if l > 0 then keep[#keep + 1] = i end
  end
  local na = anchors.shape[1]
  if #keep == 0 then return dnn.zeros(na, 4), dnn.zeros(na) end
  if #keep < gt_boxes.shape[1] then
    local index = dnn.tensor(keep)
    gt_boxes, gt_labels = gt_boxes:index_select(1, index), gt_labels:index_select(1, index)
  end
  local match = call(C.match_boxes, gt_boxes, anchors, t, ignore)
  local positive = match:gt(0)
  local index = match:clamp(1, #keep)
  local matched = gt_boxes:index_select(1, index)
  local p4 = positive:unsqueeze(2)
  local boxes = matched * p4 + anchors * (1 - p4) -- background anchors encode to 0
  local offsets = call(C.encode_boxes, boxes, anchors, variances)
  local labels = gt_labels:index_select(1, index) * positive + match * (1 - positive)
  return offsets, labels
end


-- ---- reference ----

--- @module dnn.ops Operations on boxes for object detection
-- Boxes are rows `(y1, x1, y2, x2)` (TensorFlow's order; each pair of
-- corners may come in either order), in any unit, in tensors `(N, 4)` or
-- Lua arrays of rows. The single-shot detector's boxes are SSD-style anchors
-- (several sizes and aspect ratios per cell of a feature map) rather than
-- YOLO's grid cells: a cell can then hold objects of different shapes, and
-- one anchor per cell is YOLO's grid. Offsets are the standard
-- `(ty, tx, th, tw) = ((cy - cy_a) / h_a / v1, (cx - cx_a) / w_a / v2,
-- log(h / h_a) / v3, log(w / w_a) / v4)` with variances `v` (0.1, 0.1, 0.2,
-- 0.2). Ids are 1-based. Nothing here is recorded for autodiff.

--- dnn.ops.box_iou(a, b)
-- The intersection over union of every box of `a (N, 4)` with every box of
-- `b (M, 4)`: `(N, M)`. A box of zero area has IoU 0 with everything.
-- @example local iou = dnn.ops.box_iou(predicted, truth)

--- dnn.ops.nms(boxes, scores[, options])
-- Greedy non-maximum suppression as `tf.image.non_max_suppression`: the
-- boxes with `score > score_threshold` in descending score order (ties: the
-- lower index first), each kept unless its IoU with a box kept before it is
-- above `iou_threshold`. Returns the kept 1-based indices (a tensor), in
-- descending score order. With `classes`, a box is suppressed only by boxes
-- of its own class (batched NMS); `max_output` counts all classes together.
-- @option iou_threshold=0.5 the IoU above which a box is suppressed
-- @option max_output=nil at most this many indices (nil: no limit)
-- @option score_threshold=-math.huge only boxes scoring above it are candidates
-- @option classes=nil class ids (N): suppression within each class only
-- @example local keep = dnn.ops.nms(boxes, scores, {iou_threshold = 0.45, max_output = 20})

--- dnn.ops.anchor_boxes(options)
-- SSD's anchors for a feature map over the unit square: for each cell (row
-- by row; center `((i - 0.5) / h, (j - 0.5) / w)`), for each size `s`, for
-- each aspect ratio `r` (width / height), the box `s / sqrt(r)` high and
-- `s sqrt(r)` wide: `(h * w * #sizes * #aspect_ratios, 4)`, not clipped.
-- @option feature_size the feature map's size, an integer or `{h, w}`
-- @option sizes the anchors' sizes, fractions of the image side (a number or an array)
-- @option aspect_ratios={1} width / height ratios
-- @example local anchors = dnn.ops.anchor_boxes{feature_size = 7, sizes = {0.25, 0.45}, aspect_ratios = {1, 2, 0.5}}

--- dnn.ops.encode_boxes(boxes, anchors[, options])
-- The offsets `(ty, tx, th, tw)` of `boxes (..., A, 4)` from `anchors (A, 4)`,
-- row by row (the targets a detector's box head learns). Boxes and anchors
-- need a positive height and width.
-- @option variances={0.1, 0.1, 0.2, 0.2} the offsets' divisors
-- @example local targets = dnn.ops.encode_boxes(matched_boxes, anchors)

--- dnn.ops.decode_boxes(offsets, anchors[, options])
-- The boxes `(..., A, 4)` that offsets `(..., A, 4)` stand for (the inverse
-- of `encode_boxes`); `th` and `tw` times their variances are clamped at
-- `log(1000 / 16)`, as torchvision does, so no box is infinite.
-- @option variances={0.1, 0.1, 0.2, 0.2} as in encode_boxes
-- @example local boxes = dnn.ops.decode_boxes(model:predict(x)[1], anchors)

--- dnn.ops.match_boxes(gt_boxes, anchors[, options])
-- Which ground-truth box each anchor learns: `(A)` holding, per anchor, the
-- index of the box of highest IoU (ties: the lower index) when that IoU is
-- `>= iou_threshold`, `-1` (ignored) when it is in `[ignore_threshold,
-- iou_threshold)`, `0` (background) otherwise. Then each box takes its best
-- anchor whatever the IoU (if above 0), so no box goes unlearned; a later
-- box sharing a best anchor takes it over.
-- @option iou_threshold=0.5 the IoU that makes an anchor positive
-- @option ignore_threshold=nil the IoU from which a non-positive anchor is ignored (nil: none)
-- @example local match = dnn.ops.match_boxes(gt, anchors, {iou_threshold = 0.5, ignore_threshold = 0.4})

--- dnn.ops.box_targets(gt_boxes, gt_labels, anchors[, options])
-- A detector's training targets for one image: `offsets (A, 4)` (the
-- matched box's `encode_boxes` offsets; 0 for other anchors) and `labels
-- (A)` (the matched box's label, 0 for background, -1 for ignored) from
-- `match_boxes`. Rows whose label is `<= 0` are padding and left out, so a
-- `fashion_scenes` row goes in as it is.
-- @option iou_threshold=0.5 as in match_boxes
-- @option ignore_threshold=nil as in match_boxes
-- @option variances={0.1, 0.1, 0.2, 0.2} as in encode_boxes
-- @example local offsets, labels = dnn.ops.box_targets(scenes.boxes[i], scenes.labels[i], anchors)

return M
