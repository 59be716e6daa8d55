-- dnn.datasets.fashion_scenes: shapes and ranges, the same scenes for a
-- seed, masks that agree with the boxes (exactly, with no overlap allowed),
-- and its option errors. Needs Debian's dataset-fashion-mnist.
local dnn = dnn or require "dnn"

local DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"

local function installed()
  local f = io.open(DEBIAN_DIR .. "/t10k-images-idx3-ubyte.gz", "rb")
  if f then f:close() end
  return f ~= nil or os.getenv("DNN_DATA") ~= nil
end

local error_of = require("helpers").error_of

local function max_abs_diff(a, b) return (a - b):abs():max():item() end

describe("dnn.datasets.fashion_scenes", function()
  it("gives images, masks, boxes and labels of the documented shapes and ranges", function()
    if not installed() then return pending("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)") end
    local s = dnn.datasets.fashion_scenes{n = 12, size = 64, max_objects = 3, seed = 5, split = "test"}
    assert.are.same({12, 64, 64, 1}, s.x.shape)
    assert.are.same({12, 64, 64}, s.masks.shape)
    assert.are.same({12, 3, 4}, s.boxes.shape)
    assert.are.same({12, 3}, s.labels.shape)
    assert.are.same({12}, s.num_objects.shape)
    assert.is_true(s.x:min():item() >= 0 and s.x:max():item() <= 1)
    assert.are.equal(10, #s.class_names)
    local labels, counts, boxes = s.labels:totable(), s.num_objects:totable(), s.boxes:totable()
    for i = 1, 12 do
      assert.is_true(counts[i] >= 1 and counts[i] <= 3)
      for k = 1, 3 do
        local l = labels[i][k]
        if k <= counts[i] then
          assert.is_true(l >= 1 and l <= 10 and l % 1 == 0, "label " .. l)
          local b = boxes[i][k]
          assert.is_true(b[1] >= 0 and b[2] >= 0 and b[3] <= 64 and b[4] <= 64 and b[3] > b[1] and b[4] > b[2])
        else
          assert.are.equal(0, l) -- padding
          assert.are.same({0, 0, 0, 0}, boxes[i][k])
        end
      end
    end
    local mask_ids = s.masks:reshape(-1)
    assert.is_true(mask_ids:min():item() == 0 and mask_ids:max():item() <= 10)
  end)

  it("repeats for a seed, and differs with the seed and the split", function()
    if not installed() then return pending("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)") end
    local opts = {n = 6, size = 48, seed = 11}
    dnn.manual_seed(1)
    local a = dnn.datasets.fashion_scenes(opts)
    local after_a = dnn.rand(3):totable()
    dnn.manual_seed(1)
    local b = dnn.datasets.fashion_scenes(opts)
    local after_b = dnn.rand(3):totable()
    assert.are.equal(0, max_abs_diff(a.x, b.x))
    assert.are.equal(0, max_abs_diff(a.masks, b.masks))
    assert.are.equal(0, max_abs_diff(a.boxes, b.boxes))
    assert.are.equal(0, max_abs_diff(a.labels, b.labels))
    assert.are.same(after_a, after_b) -- dnn's generator is left where it was
    local c = dnn.datasets.fashion_scenes{n = 6, size = 48, seed = 12}
    assert.is_true(max_abs_diff(a.x, c.x) > 0)
    local d = dnn.datasets.fashion_scenes{n = 6, size = 48, seed = 11, split = "test"}
    assert.is_true(max_abs_diff(a.x, d.x) > 0)
  end)

  it("has masks whose pixels lie in boxes of their class, tight when boxes do not overlap", function()
    if not installed() then return pending("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)") end
    for _, overlap in ipairs{0, 0.1} do
      local size = 80
      local s = dnn.datasets.fashion_scenes{n = 10, size = size, max_objects = 4, seed = 3, max_overlap = overlap}
      local boxes, labels, counts = s.boxes:totable(), s.labels:totable(), s.num_objects:totable()
      for i = 1, 10 do
        local mask = s.masks:select(1, i)
        local covered = dnn.zeros(size, size) -- pixels inside a box of their own class
        for k = 1, counts[i] do
          local b, l = boxes[i][k], labels[i][k]
          local h, w = b[3] - b[1], b[4] - b[2]
          local inside = mask:narrow(1, b[1] + 1, h):narrow(2, b[2] + 1, w):eq(l)
          local region = covered:narrow(1, b[1] + 1, h):narrow(2, b[2] + 1, w)
          region:copy(region:maximum(inside))
          if overlap == 0 then
            -- the box is the tight box of its item's pixels: each edge row and column holds one
            assert.is_true(inside:select(1, 1):max():item() == 1 and inside:select(1, h):max():item() == 1,
              string.format("scene %d box %d: rows not tight", i, k))
            assert.is_true(inside:select(2, 1):max():item() == 1 and inside:select(2, w):max():item() == 1,
              string.format("scene %d box %d: columns not tight", i, k))
          end
        end
        local object = mask:gt(0)
        assert.are.equal(0, (object - covered):gt(0):sum():item(), "a mask pixel outside the boxes of its class")
      end
    end
  end)

  it("goes through the detector's targets and back: perfect predictions give mAP 1", function()
    if not installed() then return pending("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)") end
    local size = 96
    local s = dnn.datasets.fashion_scenes{n = 8, size = size, seed = 9, split = "test"}
    local anchors = dnn.ops.anchor_boxes{feature_size = 6, sizes = {0.25, 0.4}, aspect_ratios = {1, 2, 0.5}}
    local detections, truth = {}, {}
    for i = 1, 8 do
      local boxes = s.boxes[i] / size -- the unit square of the anchors
      local offsets, labels = dnn.ops.box_targets(boxes, s.labels[i], anchors, {iou_threshold = 0.5})
      -- a detector that predicts its targets exactly: every positive anchor, score 1
      local decoded = dnn.ops.decode_boxes(offsets, anchors)
      local ids, scores = labels:totable(), {}
      for k, l in ipairs(ids) do scores[k] = l > 0 and 1 or 0 end
      local keep = dnn.ops.nms(decoded, dnn.tensor(scores), {score_threshold = 0.5, classes = labels})
      local kept = keep:numel() > 0 and decoded:index_select(1, keep) or dnn.zeros(0, 4)
      local kept_labels = keep:numel() > 0 and labels:index_select(1, keep) or dnn.zeros(0)
      -- every object kept once: anchors of one object decode to the same box
      assert.are.equal(s.num_objects[i]:item(), keep:numel())
      detections[i] = {boxes = kept * size, labels = kept_labels, scores = dnn.ones(keep:numel())}
      truth[i] = {boxes = s.boxes[i], labels = s.labels[i]}
    end
    local map50 = dnn.metrics.mean_average_precision(detections, truth, {iou_thresholds = 0.5})
    local map = dnn.metrics.mean_average_precision(detections, truth)
    assert.is_true(math.abs(map50 - 1) < 1e-9 and math.abs(map - 1) < 1e-9, map50 .. " " .. map)
  end)

  it("refuses bad options, naming the function", function()
    local err = error_of(dnn.datasets.fashion_scenes, {size = 64})
    assert.truthy(err:find("fashion_scenes: n", 1, true), err)
    err = error_of(dnn.datasets.fashion_scenes, {n = 2, split = "val"})
    assert.truthy(err:find("fashion_scenes: split", 1, true), err)
    err = error_of(dnn.datasets.fashion_scenes, {n = 2, size = 8})
    assert.truthy(err:find("fashion_scenes: size", 1, true), err)
    err = error_of(dnn.datasets.fashion_scenes, {n = 2, max_objects = 2, min_objects = 3})
    assert.truthy(err:find("fashion_scenes: min_objects", 1, true), err)
    err = error_of(dnn.datasets.fashion_scenes, {n = 2, max_object = 2})
    assert.truthy(err:find("unknown option 'max_object'", 1, true) and err:find("max_objects", 1, true), err)
  end)
end)
