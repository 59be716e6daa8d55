-- dnn.ops's boxes (core boxes.c): IoU, NMS, anchors, offsets and matching
-- against hand-computed cases, and their argument errors.
local dnn = dnn or require "dnn"
local ops = dnn.ops
local T = dnn.tensor

local function near(a, b, tol)
  assert(math.abs(a - b) <= (tol or 1e-6), string.format("expected %.9g, got %.9g", b, a))
end

local function same(t, expected, tol)
  local got = dnn.is_tensor(t) and t:totable() or t
  assert.are.equal(#expected, #got, "length")
  for i = 1, #expected do
    if type(expected[i]) == "table" then
      same(got[i], expected[i], tol)
    else
      near(got[i], expected[i], tol)
    end
  end
end

local error_of = require("helpers").error_of

describe("dnn.ops.box_iou", function()
  it("gives hand-computed values: identical, disjoint, nested, partial, degenerate", function()
    local a = T{{0, 0, 2, 2}, {5, 5, 6, 6}, {1, 1, 1, 3}}
    local b = T{{0, 0, 2, 2}, {1, 1, 3, 3}, {0.5, 0.5, 1.5, 1.5}, {2, 0, 4, 2}, {1, 1, 1, 3}}
    local iou = ops.box_iou(a, b)
    assert.are.same({3, 5}, iou.shape)
    same(iou, {
      {1, 1 / 7, 0.25, 0, 0}, -- identical, partial (1 / (4 + 4 - 1)), nested, touching edge, degenerate
      {0, 0, 0, 0, 0}, -- disjoint
      {0, 0, 0, 0, 0}, -- zero area: 0 with everything, itself included, never NaN
    })
  end)

  it("reads corners in either order, as TensorFlow does", function()
    same(ops.box_iou(T{{2, 2, 0, 0}}, T{{0, 2, 2, 0}, {1, 1, 3, 3}}), {{1, 1 / 7}})
  end)

  it("takes Lua arrays and empty sets", function()
    same(ops.box_iou({{0, 0, 1, 1}}, {{0, 0, 1, 2}}), {{0.5}})
    assert.are.same({0, 2}, ops.box_iou(dnn.zeros(0, 4), dnn.zeros(2, 4)).shape)
  end)

  it("refuses bad shapes, naming the function", function()
    local err = error_of(ops.box_iou, dnn.zeros(3, 3), dnn.zeros(2, 4))
    assert.truthy(err:find("box_iou", 1, true) and err:find("(N, 4)", 1, true) and err:find("(3, 3)", 1, true), err)
    err = error_of(ops.box_iou, dnn.zeros(2, 4), dnn.zeros(4))
    assert.truthy(err:find("#2 to 'box_iou'", 1, true), err)
    err = error_of(ops.box_iou, "boxes", dnn.zeros(2, 4))
    assert.truthy(err:find("box_iou", 1, true), err)
  end)
end)

describe("dnn.ops.nms", function()
  -- TensorFlow's testSelectFromThreeClusters
  local boxes = T{{0, 0, 1, 1}, {0, 0.1, 1, 1.1}, {0, -0.1, 1, 0.9}, {0, 10, 1, 11}, {0, 10.1, 1, 11.1},
                  {0, 100, 1, 101}}
  local scores = T{0.9, 0.75, 0.6, 0.95, 0.5, 0.3}

  it("keeps one box per cluster, best score first (TensorFlow's three clusters)", function()
    same(ops.nms(boxes, scores, {iou_threshold = 0.5, max_output = 3}), {4, 1, 6})
    same(ops.nms(boxes, scores), {4, 1, 6})
  end)

  it("stops at max_output", function()
    same(ops.nms(boxes, scores, {max_output = 2}), {4, 1})
    assert.are.same({0}, ops.nms(boxes, scores, {max_output = 0}).shape)
  end)

  it("suppresses only above iou_threshold", function()
    -- IoUs 0.818 (1-2, 1-3, 4-5) and 0.667 (2-3): nothing above 0.9
    same(ops.nms(boxes, scores, {iou_threshold = 0.9}), {4, 1, 2, 3, 5, 6})
    same(ops.nms(boxes, scores, {iou_threshold = 0.7}), {4, 1, 6})
    -- an IoU of exactly the threshold is kept (IoU > threshold suppresses)
    same(ops.nms(T{{0, 0, 1, 1}, {0, 0, 1, 0.5}}, T{0.9, 0.8}, {iou_threshold = 0.5}), {1, 2})
  end)

  it("drops boxes scoring at or below score_threshold", function()
    same(ops.nms(boxes, scores, {score_threshold = 0.55}), {4, 1})
    same(ops.nms(boxes, scores, {score_threshold = 0.9}), {4})
  end)

  it("suppresses within each class when classes are given", function()
    local classes = T{1, 2, 1, 1, 2, 1}
    -- 2 is not suppressed by 1 (another class), 5 not by 4; 3 is by 1
    same(ops.nms(boxes, scores, {classes = classes}), {4, 1, 2, 5, 6})
    same(ops.nms(boxes, scores, {classes = classes, max_output = 3}), {4, 1, 2})
  end)

  it("breaks ties by the lower index", function()
    same(ops.nms(T{{0, 0, 1, 1}, {0, 0, 1, 1}, {5, 5, 6, 6}}, T{0.5, 0.5, 0.5}), {1, 3})
    same(ops.nms(T{{5, 5, 6, 6}, {0, 0, 1, 1}, {0, 0, 1, 1}}, T{0.5, 0.5, 0.5}), {1, 2})
  end)

  it("handles no boxes", function()
    assert.are.same({0}, ops.nms(dnn.zeros(0, 4), dnn.zeros(0)).shape)
  end)

  it("refuses bad arguments, naming the function", function()
    local err = error_of(ops.nms, boxes, T{1, 2})
    assert.truthy(err:find("nms", 1, true) and err:find("scores", 1, true) and err:find("(2)", 1, true), err)
    err = error_of(ops.nms, boxes, scores, {classes = T{1, 2}})
    assert.truthy(err:find("classes", 1, true), err)
    err = error_of(ops.nms, boxes, scores, {iou_treshold = 0.5})
    assert.truthy(err:find("nms: unknown option 'iou_treshold'", 1, true) and err:find("iou_threshold", 1, true), err)
    err = error_of(ops.nms, boxes, scores, {max_output = 1.5})
    assert.truthy(err:find("nms: max_output", 1, true), err)
    err = error_of(ops.nms, boxes, scores, {iou_threshold = 2})
    assert.truthy(err:find("nms: iou_threshold", 1, true), err)
    err = error_of(ops.nms, boxes, T{0.1, 0 / 0, 0.2, 0.3, 0.4, 0.5})
    assert.truthy(err:find("NaN", 1, true), err)
  end)
end)

describe("dnn.ops anchors and offsets", function()
  it("makes SSD anchors per cell, size and aspect ratio", function()
    local a = ops.anchor_boxes{feature_size = {2, 3}, sizes = {0.5, 0.2}, aspect_ratios = {1, 4}}
    assert.are.same({2 * 3 * 2 * 2, 4}, a.shape)
    local h, w = 0.5 / 2, 0.5 * 2 -- size 0.5, ratio 4 (width / height)
    same(a[1], {0.25 - 0.25, 1 / 6 - 0.25, 0.25 + 0.25, 1 / 6 + 0.25}) -- cell (1, 1), size 0.5, ratio 1
    same(a[2], {0.25 - h / 2, 1 / 6 - w / 2, 0.25 + h / 2, 1 / 6 + w / 2})
    same(a[3], {0.25 - 0.1, 1 / 6 - 0.1, 0.25 + 0.1, 1 / 6 + 0.1})
    same(a[5], {0.25 - 0.25, 0.5 - 0.25, 0.25 + 0.25, 0.5 + 0.25}) -- cell (1, 2)
    same(a[13], {0.75 - 0.25, 1 / 6 - 0.25, 0.75 + 0.25, 1 / 6 + 0.25}) -- cell (2, 1)
    local err = error_of(ops.anchor_boxes, {feature_size = 2})
    assert.truthy(err:find("anchor_boxes: sizes", 1, true), err)
    err = error_of(ops.anchor_boxes, {feature_size = 0, sizes = 0.5})
    assert.truthy(err:find("anchor_boxes: feature_size", 1, true), err)
    err = error_of(ops.anchor_boxes, {feature_size = 2, sizes = {0.5, -1}})
    assert.truthy(err:find("anchor_boxes: sizes[2]", 1, true), err)
  end)

  it("encodes (ty, tx, th, tw) with the variances", function()
    local anchors = T{{0, 0, 1, 1}}
    local t = ops.encode_boxes(T{{0.1, 0.2, 0.5, 1.0}}, anchors)
    same(t, {{(0.3 - 0.5) / 0.1, (0.6 - 0.5) / 0.1, math.log(0.4) / 0.2, math.log(0.8) / 0.2}}, 1e-5)
    t = ops.encode_boxes(T{{0.1, 0.2, 0.5, 1.0}}, anchors, {variances = {1, 1, 1, 1}})
    same(t, {{-0.2, 0.1, math.log(0.4), math.log(0.8)}}, 1e-6)
    same(ops.encode_boxes(anchors, anchors), {{0, 0, 0, 0}})
  end)

  it("decodes what it encodes, batched over the anchors", function()
    dnn.manual_seed(7)
    local anchors = ops.anchor_boxes{feature_size = 3, sizes = {0.3, 0.6}, aspect_ratios = {1, 2, 0.5}}
    local a = anchors.shape[1]
    local corner = dnn.rand(2, a, 2) * 0.5
    local size = dnn.rand(2, a, 2) * 0.5 + 0.05
    local boxes = dnn.cat({corner, corner + size}, 3)
    local offsets = ops.encode_boxes(boxes, anchors)
    assert.are.same({2, a, 4}, offsets.shape)
    local back = ops.decode_boxes(offsets, anchors)
    assert.is_true((back - boxes):abs():max():item() < 1e-5)
    back = ops.decode_boxes(ops.encode_boxes(boxes, anchors, {variances = {0.2, 0.3, 0.5, 1}}), anchors,
      {variances = {0.2, 0.3, 0.5, 1}})
    assert.is_true((back - boxes):abs():max():item() < 1e-5)
    -- huge size offsets are clamped at log(1000 / 16), never infinite
    local big = ops.decode_boxes(T{{0, 0, 1e6, 1e6}}, T{{0, 0, 1, 1}})
    near(big[1][3]:item() - big[1][1]:item(), 1000 / 16, 1e-3)
  end)

  it("refuses zero-size boxes, wrong shapes and bad variances", function()
    local err = error_of(ops.encode_boxes, T{{0, 0, 0, 1}}, T{{0, 0, 1, 1}})
    assert.truthy(err:find("encode_boxes", 1, true) and err:find("zero or NaN height or width", 1, true), err)
    err = error_of(ops.encode_boxes, T{{0, 0, 1, 1}, {0, 0, 1, 1}}, T{{0, 0, 1, 1}})
    assert.truthy(err:find("encode_boxes", 1, true) and err:find("(..., 1, 4)", 1, true), err)
    err = error_of(ops.decode_boxes, dnn.zeros(3, 4), dnn.zeros(3, 5))
    assert.truthy(err:find("decode_boxes", 1, true) and err:find("anchors", 1, true), err)
    err = error_of(ops.decode_boxes, dnn.zeros(1, 4), T{{0, 0, 1, 1}}, {variances = {1, 1, 1}})
    assert.truthy(err:find("decode_boxes: variances", 1, true), err)
    err = error_of(ops.encode_boxes, T{{0, 0, 1, 1}}, T{{0, 0, 1, 1}}, {variances = {1, 0, 1, 1}})
    assert.truthy(err:find("encode_boxes: variances[2]", 1, true), err)
  end)
end)

describe("dnn.ops.match_boxes and box_targets", function()
  -- 2 x 2 cells, size 0.5, ratios 1 and 2: anchors 1, 3, 5, 7 are the quadrants
  local anchors = ops.anchor_boxes{feature_size = 2, sizes = 0.5, aspect_ratios = {1, 2}}
  local gt = T{{0.1, 0.1, 0.4, 0.3}, {0.5, 0.5, 0.9, 1.0}}

  it("matches by IoU, and each box to its best anchor", function()
    -- box 2: IoU 0.8 with anchor 7 and 0.57 with anchor 8; box 1: IoU 0.24 with
    -- anchors 1 and 2 (a tie: the lower anchor), below 0.5 but its best
    same(ops.match_boxes(gt, anchors), {1, 0, 0, 0, 0, 0, 2, 2})
    same(ops.match_boxes(gt, anchors, {iou_threshold = 0.7}), {1, 0, 0, 0, 0, 0, 2, 0})
    -- anchor 2 (IoU 0.24) falls in the ignored band [0.2, 0.5)
    same(ops.match_boxes(gt, anchors, {ignore_threshold = 0.2}), {1, -1, 0, 0, 0, 0, 2, 2})
    same(ops.match_boxes(dnn.zeros(0, 4), anchors), {0, 0, 0, 0, 0, 0, 0, 0})
  end)

  it("a later box takes over a shared best anchor", function()
    local a = T{{0, 0, 1, 1}, {5, 5, 6, 6}}
    same(ops.match_boxes(T{{0, 0, 0.5, 0.5}, {0, 0, 0.4, 0.4}}, a), {2, 0})
  end)

  it("builds targets: offsets of the matched box, labels, padding skipped", function()
    local offsets, labels = ops.box_targets(gt, T{3, 7}, anchors)
    same(labels, {3, 0, 0, 0, 0, 0, 7, 7})
    local expected = ops.encode_boxes(T{gt[1]:totable()}, T{anchors[1]:totable()})
    same(offsets[1], expected[1]:totable(), 1e-6)
    same(offsets[2], {0, 0, 0, 0})
    same(offsets[7], ops.encode_boxes(T{gt[2]:totable()}, T{anchors[7]:totable()})[1]:totable(), 1e-6)
    -- a padded row (label 0) changes nothing
    local padded = dnn.cat({gt, dnn.zeros(1, 4)}, 1)
    local o2, l2 = ops.box_targets(padded, T{3, 7, 0}, anchors)
    same(l2, labels:totable())
    same(o2, offsets:totable(), 1e-7)
    local o3, l3 = ops.box_targets(dnn.zeros(2, 4), T{0, 0}, anchors)
    same(l3, {0, 0, 0, 0, 0, 0, 0, 0})
    assert.are.equal(0, o3:abs():sum():item())
    local _, l4 = ops.box_targets(gt, T{3, 7}, anchors, {ignore_threshold = 0.2})
    same(l4, {3, -1, 0, 0, 0, 0, 7, 7})
  end)

  it("refuses bad arguments, naming the function", function()
    local err = error_of(ops.match_boxes, dnn.zeros(2, 3), anchors)
    assert.truthy(err:find("match_boxes", 1, true), err)
    err = error_of(ops.box_targets, gt, T{1}, anchors)
    assert.truthy(err:find("box_targets", 1, true) and err:find("labels", 1, true), err)
    err = error_of(ops.match_boxes, gt, anchors, {iou_threshold = -1})
    assert.truthy(err:find("match_boxes: iou_threshold", 1, true), err)
  end)
end)
