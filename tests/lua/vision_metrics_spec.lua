-- dnn.metrics.MeanIoU against Keras's documented example and by hand, and
-- dnn.metrics.mean_average_precision against COCO's rule computed by hand
-- (pycocotools is not in Debian): the 101 recall points, a false positive
-- ranked first, a missed box, two classes, the IoU thresholds.
local dnn = dnn or require "dnn"
local m = dnn.metrics
local T = dnn.tensor

local function near(a, b, tol)
  assert(math.abs(a - b) <= (tol or 1e-6), string.format("expected %.9g, got %.9g", b, a))
end

local error_of = require("helpers").error_of

describe("dnn.metrics.MeanIoU", function()
  it("gives Keras's documented values (ids 1-based here)", function()
    local iou = m.MeanIoU{num_classes = 2}
    iou:update(T{1, 1, 2, 2}, T{1, 2, 1, 2}) -- Keras: [0, 0, 1, 1], [0, 1, 0, 1]
    near(iou:result(), 0.33333334, 1e-7)
    iou:reset()
    iou:update(T{1, 1, 2, 2}, T{1, 2, 1, 2}, T{0.3, 0.3, 0.3, 0.1})
    near(iou:result(), 0.23809525, 1e-7)
    assert.are.equal("mean_io_u", iou.name)
    assert.are.equal("up", iou.direction)
  end)

  it("argmaxes scores, accumulates over batches, skips absent classes", function()
    local iou = m.MeanIoU{num_classes = 3}
    -- masks (1, 2, 2) against softmax-like scores (1, 2, 2, 3)
    local y = T{{{1, 2}, {2, 2}}}
    local p = T{{{{0.8, 0.1, 0.1}, {0.1, 0.8, 0.1}}, {{0.7, 0.2, 0.1}, {0.1, 0.1, 0.8}}}}
    iou:update(y, p) -- predicted ids 1, 2, 1, 3
    -- class 1: tp 1, fp 1, fn 0 -> 1/2; class 2: tp 1, fn 2 -> 1/3; class 3: tp 0, fp 1 -> 0
    near(iou:result(), (1 / 2 + 1 / 3 + 0) / 3)
    iou:update(T{3}, T{3})
    -- class 3 now tp 1, fp 1 -> 1/2
    near(iou:result(), (1 / 2 + 1 / 3 + 1 / 2) / 3)
    local per = iou:result_per_class()
    near(per[2], 1 / 3)
    local two = m.MeanIoU{num_classes = 4}
    two:update(T{1, 2}, T{1, 2}) -- classes 3 and 4 never occur: not averaged
    near(two:result(), 1)
  end)

  it("ignores ignore_class", function()
    local iou = m.MeanIoU{num_classes = 2, ignore_class = 2}
    iou:update(T{1, 1, 2, 2}, T{1, 2, 1, 2})
    -- only the two class-1 pixels count: class 1 tp 1, fn 1 -> 1/2; class 2 fp 1 -> 0
    near(iou:result(), (1 / 2 + 0) / 2)
  end)

  it("works in compile and evaluate", function()
    local model = dnn.nn.Sequential{dnn.nn.Dense(2, {activation = "softmax", input_shape = {3}})}
    model:compile{optimizer = "sgd", loss = "sparse_categorical_crossentropy",
                  metrics = {m.MeanIoU{num_classes = 2}}}
    local logs = model:evaluate(dnn.randn(8, 3), T{1, 2, 1, 2, 1, 2, 1, 2}, {verbose = 0, return_dict = true})
    assert.is_number(logs.mean_io_u)
    assert.is_true(logs.mean_io_u >= 0 and logs.mean_io_u <= 1)
  end)

  it("refuses bad options and ids, naming the metric", function()
    local err = error_of(m.MeanIoU)
    assert.truthy(err:find("MeanIoU: num_classes is required", 1, true), err)
    err = error_of(m.MeanIoU, {num_classes = 1.5})
    assert.truthy(err:find("MeanIoU: num_classes", 1, true), err)
    err = error_of(m.MeanIoU, {num_classes = 2, ignore_class = 3})
    assert.truthy(err:find("MeanIoU: ignore_class", 1, true), err)
    local iou = m.MeanIoU{num_classes = 2}
    err = error_of(iou.update, iou, T{0, 1}, T{1, 1})
    assert.truthy(err:find("1..2", 1, true) and err:find("1-based", 1, true), err)
    err = error_of(iou.update, iou, T{1, 1, 1}, T{1, 1})
    assert.truthy(err:find("does not match", 1, true), err)
  end)
end)

describe("dnn.metrics.mean_average_precision", function()
  local map = m.mean_average_precision
  local box = {0, 0, 10, 10}
  local far = {50, 50, 60, 60}

  local function gt(boxes, labels) return {boxes = boxes, labels = labels} end
  local function det(boxes, labels, scores) return {boxes = boxes, labels = labels, scores = scores} end

  it("is 1 for one perfect detection, at every threshold", function()
    near(map({det({box}, {1}, {0.9})}, {gt({box}, {1})}), 1)
    near(map({det({box}, {1}, {0.9})}, {gt({box}, {1})}, {iou_thresholds = 0.5}), 1)
  end)

  it("counts a false positive ranked first", function()
    -- FP then TP: precision 0, 1/2 -> made non-increasing 1/2, 1/2: AP 1/2
    near(map({det({far, box}, {1, 1}, {0.9, 0.8})}, {gt({box}, {1})}), 0.5)
    -- ranked last it costs nothing
    near(map({det({far, box}, {1, 1}, {0.1, 0.8})}, {gt({box}, {1})}), 1)
  end)

  it("reads precision at 101 recall points (COCO), not the area", function()
    -- a missed box: recall 1/2 at precision 1 -> the points 0, .01, ..., .50 score 1: 51/101
    near(map({det({box}, {1}, {0.9})}, {gt({box, far}, {1, 1})}), 51 / 101)
    -- TP, FP, TP over two boxes: precision 1, 1/2, 2/3 -> 1 up to recall .5 (51 points), 2/3 after (50)
    local other = {20, 20, 30, 30}
    near(map({det({box, other, far}, {1, 1, 1}, {0.9, 0.8, 0.7})}, {gt({box, far}, {1, 1})}),
      (51 + 50 * 2 / 3) / 101)
  end)

  it("matches each box once: a duplicate is a false positive", function()
    near(map({det({box, box}, {1, 1}, {0.9, 0.8})}, {gt({box}, {1})}), 1)
    near(map({det({box, box}, {1, 1}, {0.8, 0.9})}, {gt({box, box}, {1, 1})}), 1)
    near(map({det({box, box}, {1, 1}, {0.9, 0.8})}, {gt({box, far}, {1, 1})}), 51 / 101)
  end)

  it("averages over classes with ground truth", function()
    local d = det({box, far, box}, {1, 2, 2}, {0.9, 0.95, 0.8})
    local value, details = map({d}, {gt({box}, {1})})
    near(value, 1) -- class 2 has no ground truth: left out
    value, details = map({d}, {gt({box, box}, {1, 2})})
    -- class 1: AP 1; class 2: FP (far) then TP: AP 1/2
    near(value, 0.75)
    near(details.per_class[1], 1)
    near(details.per_class[2], 0.5)
    assert.are.same({1, 2}, details.classes)
  end)

  it("sorts detections over images by score", function()
    -- image 2's FP (0.95) outranks image 1's TP (0.9): precision 0, 1/2, 2/3 -> 2/3 everywhere
    local dets = {det({box}, {1}, {0.9}), det({far, box}, {1, 1}, {0.95, 0.3})}
    near(map(dets, {gt({box}, {1}), gt({box}, {1})}), 2 / 3)
  end)

  it("averages over the IoU thresholds 0.5:0.05:0.95", function()
    -- IoU 0.72: a hit at 0.5, 0.55, 0.6, 0.65, 0.7, a miss at 0.75 ... 0.95
    local d = {det({{0, 0, 10, 7.2}}, {1}, {0.9})}
    local value, details = map(d, {gt({box}, {1})})
    near(value, 0.5)
    assert.are.equal(10, #details.per_threshold)
    near(details.per_threshold[5], 1)
    near(details.per_threshold[6], 0)
    near(map(d, {gt({box}, {1})}, {iou_thresholds = 0.5}), 1)
    near(map(d, {gt({box}, {1})}, {iou_thresholds = {0.5, 0.75}}), 0.5)
  end)

  it("takes tensors, with label 0 rows as padding", function()
    local d = {det(T{box, far}, T{1, 0}, T{0.9, 0.99})}
    near(map(d, {gt(T{box, {0, 0, 0, 0}}, T{1, 0})}), 1)
    near(map({det(dnn.zeros(0, 4), dnn.zeros(0), dnn.zeros(0))}, {gt(T{box}, T{1})}), 0)
  end)

  it("keeps max_detections per image and class", function()
    local d = {det({far, box}, {1, 1}, {0.9, 0.8})}
    near(map(d, {gt({box}, {1})}, {max_detections = 1}), 0)
  end)

  it("refuses bad input, naming the function", function()
    local err = error_of(map, {det({box}, {1}, {0.9})}, {})
    assert.truthy(err:find("mean_average_precision", 1, true) and err:find("1 images", 1, true), err)
    err = error_of(map, {det({box}, {1})}, {gt({box}, {1})})
    assert.truthy(err:find("detections[1].scores is missing", 1, true), err)
    err = error_of(map, {det({box}, {1, 2}, {0.9})}, {gt({box}, {1})})
    assert.truthy(err:find("detections[1] has 1 boxes, 2 labels", 1, true), err)
    err = error_of(map, {det({{1, 2, 3}}, {1}, {0.9})}, {gt({box}, {1})})
    assert.truthy(err:find("boxes[1] must be 4 numbers", 1, true), err)
    err = error_of(map, {det({box}, {1}, {0.9})}, {gt({box}, {1})}, {iou_thresholds = 1.5})
    assert.truthy(err:find("mean_average_precision: iou_thresholds[1]", 1, true), err)
    err = error_of(map, {det({box}, {1}, {0.9})}, {gt({box}, {1})}, {iou_threshold = 0.5})
    assert.truthy(err:find("unknown option 'iou_threshold'", 1, true), err)
  end)
end)
