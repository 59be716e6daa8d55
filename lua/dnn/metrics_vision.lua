-- Metrics for segmentation and detection, installed into dnn.metrics by
-- metrics.lua: Keras's MeanIoU (a stateful metric for compile) and COCO's
-- mean average precision (a function over a whole test set).
local dnn = require "dnn"
local strict = require "dnn.options"

local V = {}

local PIXEL_CHUNK = 262144 -- pixels one-hot encoded at once

local function shape_string(t)
  return "(" .. table.concat(t.shape, ", ") .. ")"
end

function V.install(M)
  local Metric = M.Metric

  -- ---- MeanIoU ----
  -- Keras's MeanIoU: a confusion matrix over the epoch (rows the true class,
  -- columns the predicted one), then per class IoU = tp / (row + column -
  -- tp), averaged over the classes that occur in either. Class ids are
  -- 1..num_classes; predictions with one more dim of num_classes scores (a
  -- segmentation's softmax) are argmaxed. The matrix is kept in Lua numbers
  -- (doubles), so counts past 2^24 stay exact.
  local MeanIoU = Metric:extend("MeanIoU", "mean_io_u", "up")
  M.MeanIoU = MeanIoU

  function MeanIoU.new(options)
    options = strict.check("MeanIoU", options, {"num_classes", "ignore_class", "name"})
    if options.num_classes == nil then
      strict.raise("MeanIoU: num_classes is required (the number of classes, ids 1..num_classes)")
    end
    strict.check_number("MeanIoU", "num_classes", options.num_classes, {min = 1, integer = true})
    if options.ignore_class ~= nil then
      strict.check_number("MeanIoU", "ignore_class", options.ignore_class,
        {min = 1, max = options.num_classes, integer = true})
    end
    local self = setmetatable({}, MeanIoU)
    self.name = options.name or MeanIoU.default_name
    self.num_classes = math.tointeger(options.num_classes)
    self.ignore_class = options.ignore_class and math.tointeger(options.ignore_class)
    self:reset()
    return self
  end

  function MeanIoU:reset()
    local c = self.num_classes
    self.cm = {}
    for i = 1, c * c do self.cm[i] = 0 end
  end

  -- update(y_true, y_pred[, sample_weight]): ids of any shape, or y_pred with
  -- a last dim of num_classes scores more than y_true; sample_weight in
  -- y_true's shape (or a number).
  function MeanIoU:update(y_true, y_pred, sample_weight)
    local c = self.num_classes
    if not dnn.is_tensor(y_true) or not dnn.is_tensor(y_pred) then
      strict.raise(string.format("metric '%s': expected tensors (y_true, y_pred), got %s and %s", self.name,
        strict.describe(y_true), strict.describe(y_pred)))
    end
    y_true, y_pred = y_true:detach(), y_pred:detach()
    local last = y_pred.ndim > 0 and y_pred.shape[y_pred.ndim] or 1
    if last == c and c > 1 and (y_pred.ndim == y_true.ndim + 1 or
        (y_pred.ndim == y_true.ndim and y_true.shape[y_true.ndim] == 1)) then
      y_pred = y_pred:argmax(-1)
    end
    local t, p = y_true:reshape(-1), y_pred:reshape(-1)
    if t:numel() ~= p:numel() then
      strict.raise(string.format("metric '%s': y_true of shape %s does not match y_pred of shape %s", self.name,
        shape_string(y_true), shape_string(y_pred)))
    end
    local n = t:numel()
    if n == 0 then return end
    for what, ids in pairs{y_true = t, y_pred = p} do
      local lo, hi = ids:min():item(), ids:max():item()
      if lo < 1 or hi > c then
        strict.raise(string.format("metric '%s': %s must be class ids 1..%d, got %g..%g%s", self.name, what, c, lo, hi,
          lo == 0 and " (ids are 1-based: pass y + 1)" or ""))
      end
    end
    local w
    if sample_weight ~= nil then
      if type(sample_weight) == "number" then
        w = dnn.full({n}, sample_weight)
      elseif dnn.is_tensor(sample_weight) and sample_weight:numel() == n then
        w = sample_weight:detach():reshape(-1)
      else
        strict.raise(string.format("metric '%s': sample_weight must be a number or a tensor of %d elements, got %s",
          self.name, n, strict.describe(sample_weight)))
      end
    end
    if self.ignore_class then
      local keep = t:ne(self.ignore_class)
      w = w and w * keep or keep
    end
    local cm = self.cm
    for start = 1, n, PIXEL_CHUNK do
      local len = math.min(PIXEL_CHUNK, n - start + 1)
      local tt = dnn.one_hot(t:narrow(1, start, len), c)
      local pp = dnn.one_hot(p:narrow(1, start, len), c)
      if w then pp = pp * w:narrow(1, start, len):unsqueeze(2) end
      local counts = tt:transpose(1, 2):matmul(pp):reshape(-1):totable()
      for i = 1, c * c do cm[i] = cm[i] + counts[i] end
    end
  end

  function MeanIoU:result_per_class()
    local c, cm = self.num_classes, self.cm
    local out = {}
    for i = 1, c do
      local row, col = 0, 0
      for j = 1, c do
        row = row + cm[(i - 1) * c + j]
        col = col + cm[(j - 1) * c + i]
      end
      local tp = cm[(i - 1) * c + i]
      local denominator = row + col - tp
      out[i] = denominator ~= 0 and tp / denominator or 0
    end
    return out
  end

  function MeanIoU:result()
    local c, cm = self.num_classes, self.cm
    local per_class, sum, valid = self:result_per_class(), 0, 0
    for i = 1, c do
      local row, col = 0, 0
      for j = 1, c do
        row = row + cm[(i - 1) * c + j]
        col = col + cm[(j - 1) * c + i]
      end
      if row + col - cm[(i - 1) * c + i] ~= 0 then
        sum, valid = sum + per_class[i], valid + 1
      end
    end
    return valid > 0 and sum / valid or 0
  end

  -- ---- mean average precision (COCO) ----

  local COCO_THRESHOLDS = {}
  for i = 0, 9 do COCO_THRESHOLDS[#COCO_THRESHOLDS + 1] = 0.5 + 0.05 * i end

  -- One image's entry as Lua arrays: boxes (rows of 4), labels, scores.
  local function entry_of(fn, which, i, e, want_scores)
    if type(e) ~= "table" then
      strict.raise(string.format("%s: %s[%d] must be a table {boxes, labels%s}, got %s", fn, which, i,
        want_scores and ", scores" or "", strict.describe(e)))
    end
    local function list(key, rows)
      local v = e[key]
      if v == nil then
        strict.raise(string.format("%s: %s[%d].%s is missing", fn, which, i, key))
      end
      if dnn.is_tensor(v) then
        if rows and v:numel() == 0 then return {} end
        v = v:totable()
      end
      if type(v) ~= "table" then
        strict.raise(string.format("%s: %s[%d].%s must be a tensor or an array, got %s", fn, which, i, key,
          strict.describe(v)))
      end
      return v
    end
    local boxes, labels = list("boxes", true), list("labels")
    local scores = want_scores and list("scores") or nil
    if #labels ~= #boxes or (scores and #scores ~= #boxes) then
      strict.raise(string.format("%s: %s[%d] has %d boxes, %d labels%s", fn, which, i, #boxes, #labels,
        scores and (" and " .. #scores .. " scores") or ""))
    end
    for k, b in ipairs(boxes) do
      if type(b) ~= "table" or #b ~= 4 then
        strict.raise(string.format("%s: %s[%d].boxes[%d] must be 4 numbers (y1, x1, y2, x2)", fn, which, i, k))
      end
    end
    return boxes, labels, scores
  end

  -- The IoU of two (y1, x1, y2, x2) Lua boxes (as dnn.ops.box_iou).
  local function iou(a, b)
    local ay1, ay2 = math.min(a[1], a[3]), math.max(a[1], a[3])
    local ax1, ax2 = math.min(a[2], a[4]), math.max(a[2], a[4])
    local by1, by2 = math.min(b[1], b[3]), math.max(b[1], b[3])
    local bx1, bx2 = math.min(b[2], b[4]), math.max(b[2], b[4])
    local area_a, area_b = (ay2 - ay1) * (ax2 - ax1), (by2 - by1) * (bx2 - bx1)
    if area_a <= 0 or area_b <= 0 then return 0 end
    local h = math.min(ay2, by2) - math.max(ay1, by1)
    local w = math.min(ax2, bx2) - math.max(ax1, bx1)
    if h <= 0 or w <= 0 then return 0 end
    local inter = h * w
    return inter / (area_a + area_b - inter)
  end

  -- COCO's interpolated AP from detections {score, tp} sorted as COCO sorts
  -- them and the number of ground-truth boxes: precision made monotone, read
  -- at the 101 recalls 0, 0.01, ..., 1 (the first detection reaching each).
  local function coco_ap(flags, n_gt)
    local nd = #flags
    local rc, pr = {}, {}
    local tp, fp = 0, 0
    for k = 1, nd do
      if flags[k] then tp = tp + 1 else fp = fp + 1 end
      rc[k] = tp / n_gt
      pr[k] = tp / (tp + fp + 2.220446049250313e-16)
    end
    for k = nd - 1, 1, -1 do
      if pr[k + 1] > pr[k] then pr[k] = pr[k + 1] end
    end
    local sum, k = 0, 1
    for r = 0, 100 do
      local threshold = r * 0.01
      while k <= nd and rc[k] < threshold do k = k + 1 end
      if k <= nd then sum = sum + pr[k] end
    end
    return sum / 101
  end

  function M.mean_average_precision(detections, ground_truth, options)
    local fn = "mean_average_precision"
    if type(detections) ~= "table" or type(ground_truth) ~= "table" then
      strict.raise(string.format("%s: expected arrays of per-image tables (detections, ground_truth), got %s and %s",
        fn, strict.describe(detections), strict.describe(ground_truth)))
    end
    if #detections ~= #ground_truth then
      strict.raise(string.format("%s: %d images of detections but %d of ground truth", fn, #detections,
        #ground_truth))
    end
    local o = strict.check(fn, options, {"iou_thresholds", "max_detections"})
    local thresholds = o.iou_thresholds or COCO_THRESHOLDS
    if type(thresholds) == "number" then thresholds = {thresholds} end
    if type(thresholds) ~= "table" or #thresholds == 0 then
      strict.raise(string.format("%s: iou_thresholds must be a number or a non-empty array, got %s", fn,
        strict.describe(o.iou_thresholds)))
    end
    for k, t in ipairs(thresholds) do strict.check_number(fn, "iou_thresholds[" .. k .. "]", t, {min = 0, max = 1}) end
    local max_det = o.max_detections or 100
    strict.check_number(fn, "max_detections", max_det, {min = 1, integer = true})

    -- per image and class: detections (sorted, cut at max_det) and ground truth
    local images, n_gt, classes = {}, {}, {}
    for i = 1, #detections do
      local d_boxes, d_labels, d_scores = entry_of(fn, "detections", i, detections[i], true)
      local g_boxes, g_labels = entry_of(fn, "ground_truth", i, ground_truth[i], false)
      local image = {}
      for k, label in ipairs(g_labels) do
        if label > 0 then
          local per = image[label] or {gt = {}, dt = {}}
          image[label] = per
          per.gt[#per.gt + 1] = g_boxes[k]
          n_gt[label] = (n_gt[label] or 0) + 1
          if not classes[label] then classes[label] = true end
        end
      end
      for k, label in ipairs(d_labels) do
        if label > 0 then
          if d_scores[k] ~= d_scores[k] then strict.raise(string.format("%s: detections[%d].scores[%d] is NaN", fn, i, k)) end
          local per = image[label] or {gt = {}, dt = {}}
          image[label] = per
          per.dt[#per.dt + 1] = {box = d_boxes[k], score = d_scores[k], order = k}
        end
      end
      for _, per in pairs(image) do
        table.sort(per.dt, function(a, b)
          if a.score ~= b.score then return a.score > b.score end
          return a.order < b.order -- a stable sort, as COCO's mergesort
        end)
        for k = #per.dt, max_det + 1, -1 do per.dt[k] = nil end
        per.iou = {}
        for a, d in ipairs(per.dt) do
          per.iou[a] = {}
          for b, g in ipairs(per.gt) do per.iou[a][b] = iou(d.box, g) end
        end
      end
      images[i] = image
    end
    local class_list = {}
    for c in pairs(classes) do class_list[#class_list + 1] = c end
    table.sort(class_list)

    local per_threshold, per_class, total, count = {}, {}, 0, 0
    for _, c in ipairs(class_list) do per_class[c] = 0 end
    for ti, t in ipairs(thresholds) do
      local sum = 0
      for _, c in ipairs(class_list) do
        local all, seq = {}, 0
        for i = 1, #images do
          local per = images[i][c]
          if per then
            local matched = {}
            for a, d in ipairs(per.dt) do
              -- COCO's evaluateImg: the best unmatched box with IoU >= t (a later box wins a tie)
              local best, best_iou = nil, math.min(t, 1 - 1e-10)
              for b = 1, #per.gt do
                if not matched[b] and per.iou[a][b] >= best_iou then best, best_iou = b, per.iou[a][b] end
              end
              if best then matched[best] = true end
              seq = seq + 1
              all[#all + 1] = {score = d.score, tp = best ~= nil, seq = seq}
            end
          end
        end
        table.sort(all, function(a, b)
          if a.score ~= b.score then return a.score > b.score end
          return a.seq < b.seq
        end)
        local flags = {}
        for k, d in ipairs(all) do flags[k] = d.tp end
        local ap = coco_ap(flags, n_gt[c])
        sum = sum + ap
        per_class[c] = per_class[c] + ap / #thresholds
      end
      per_threshold[ti] = #class_list > 0 and sum / #class_list or 0
      total, count = total + sum, count + #class_list
    end
    local map = count > 0 and total / count or 0
    return map, {per_threshold = per_threshold, per_class = per_class, iou_thresholds = thresholds,
                 classes = class_list}
  end
end


-- ---- reference ----

--- dnn.metrics.MeanIoU(options)
-- Keras's MeanIoU for segmentation: a confusion matrix over the epoch, per
-- class `IoU = tp / (tp + fp + fn)`, the mean over the classes present in
-- labels or predictions. `y_true` holds class ids 1..num_classes (any
-- shape: `(N, H, W)` masks); `y_pred` ids of the same shape, or scores with
-- a last dim of `num_classes` more (a softmax), argmaxed. `update` takes
-- Keras's `sample_weight` as a third argument. Usable in `compile{metrics}`.
-- Its log name is Keras's, `"mean_io_u"`.
-- @option num_classes the number of classes (required)
-- @option ignore_class=nil a class id whose pixels are not counted
-- @example model:compile{loss = "sparse_categorical_crossentropy", metrics = {dnn.metrics.MeanIoU{num_classes = 11}}}

--- dnn.metrics.MeanIoU:result_per_class()
-- The IoU of each class, a Lua array (0 for a class never seen).
-- @example local ious = m:result_per_class()

--- dnn.metrics.mean_average_precision(detections, ground_truth[, options])
-- COCO's mean average precision of a detector over a test set; returns
-- `map, details`. `detections[i]` is image i's `{boxes (K, 4), labels (K),
-- scores (K)}` and `ground_truth[i]` its `{boxes (G, 4), labels (G)}`
-- (tensors or Lua arrays; boxes `(y1, x1, y2, x2)` in any one unit; labels
-- class ids, a label `<= 0` is padding and skipped). Per image and class the
-- detections, best score first (at most `max_detections`), each take the
-- unmatched ground-truth box of highest IoU `>= t`; per class, over all
-- images by score, precision made non-increasing is read at the 101 recalls
-- 0, 0.01, ..., 1 (0 past the last recall reached) and averaged: the AP.
-- `map` is the mean AP over the classes with ground truth and over
-- `iou_thresholds` (COCO's 0.5, 0.55, ..., 0.95 by default, mAP@[.5:.95];
-- `{iou_thresholds = 0.5}` gives mAP@0.5). `details`: `per_threshold`
-- (mean AP per threshold), `per_class` (AP per class id, averaged over the
-- thresholds), `classes`, `iou_thresholds`.
-- @option iou_thresholds={0.5, 0.55, ..., 0.95} a number or an array
-- @option max_detections=100 detections counted per image and class (COCO's maxDets)
-- @example local map50 = dnn.metrics.mean_average_precision(dets, truth, {iou_thresholds = 0.5})

return V
