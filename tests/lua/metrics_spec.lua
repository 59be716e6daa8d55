-- dnn.metrics: values computed by hand, accumulation over batches (which
-- differs from averaging per-batch values), Keras's choice of accuracy, the
-- confusion matrix, and misuse.
local dnn = dnn or require "dnn"
local m = dnn.metrics
local T = dnn.tensor

local function near(a, b, tol)
  assert(math.abs(a - b) <= (tol or 1e-6), string.format("expected %.9g, got %.9g", b, a))
end

local function error_of(fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, "expected an error")
  return tostring(err)
end

describe("accuracy", function()
  it("is picked from the loss as Keras does", function()
    assert.are.equal("binary_accuracy", m.get("accuracy", "binary_crossentropy").impl.default_name)
    assert.are.equal("categorical_accuracy", m.get("accuracy", "categorical_crossentropy").impl.default_name)
    assert.are.equal("sparse_categorical_accuracy",
      m.get("accuracy", "sparse_categorical_crossentropy").impl.default_name)
    -- a loss function carries its name
    local a = m.get("accuracy", dnn.losses.get("sparse_categorical_crossentropy"))
    assert.are.equal("sparse_categorical_accuracy", a:kind())
    assert.are.equal("accuracy", a.name)
    assert.are.equal("acc", m.get("acc", "binary_crossentropy").name)
  end)

  it("else from the shapes at the first update", function()
    local a = m.get("accuracy", "mse")
    a:update(T{{1}, {0}}, T{{0.7}, {0.2}})
    assert.are.equal("binary_accuracy", a:kind())
    a = m.get("accuracy")
    a:update(T{2, 1}, T{{0.1, 0.9}, {0.8, 0.2}})
    assert.are.equal("sparse_categorical_accuracy", a:kind())
    assert.are.equal(1, a:result())
    a = m.get("accuracy")
    a:update(T{{0, 1}, {0, 1}}, T{{0.1, 0.9}, {0.8, 0.2}})
    assert.are.equal("categorical_accuracy", a:kind())
    assert.are.equal(0.5, a:result())
  end)

  it("binary: y_pred > threshold against 0/1 labels, over every element", function()
    local a = m.BinaryAccuracy()
    a:update(T{1, 0, 1, 0}, T{{0.6}, {0.5}, {0.5}, {0.1}}) -- 0.5 is not > 0.5
    near(a:result(), 3 / 4)
    a:update(T{{1}, {1}}, T{{0.9}, {0.2}})
    near(a:result(), 4 / 6)
    local t = m.BinaryAccuracy{threshold = 0.3}
    t:update(T{1, 0}, T{0.4, 0.2})
    assert.are.equal(1, t:result())
    a:reset()
    assert.are.equal(0, a:result())
  end)

  it("sparse and categorical count examples over the epoch", function()
    local s = m.SparseCategoricalAccuracy()
    s:update(T{3, 1}, T{{0.1, 0.2, 0.7}, {0.3, 0.6, 0.1}})         -- 1 of 2
    s:update(T{{2}, {2}, {1}}, T{{0, 1, 0}, {0, 1, 0}, {1, 0, 0}}) -- 3 of 3, labels (N, 1)
    near(s:result(), 4 / 5)                                          -- per-batch mean would be 0.75
    local c = m.CategoricalAccuracy()
    c:update(T{{0, 0, 1}, {1, 0, 0}}, T{{0.1, 0.2, 0.7}, {0.3, 0.6, 0.1}})
    near(c:result(), 0.5)
    assert.matches("sparse_categorical_accuracy", error_of(c.update, c, T{3, 1}, T{{0.1, 0.2, 0.7}, {0.3, 0.6, 0.1}}))
  end)

  it("answer to Keras's update_state and reset_state, a custom metric's own update and reset included", function()
    local s = m.SparseCategoricalAccuracy()
    s:update_state(T{3, 1}, T{{0.1, 0.2, 0.7}, {0.3, 0.6, 0.1}})
    near(s:result(), 0.5)
    s:reset_state()
    assert.are.equal(0, s:result())
    local Hits = m.Metric:extend("Hits", "hits", "up")
    function Hits.new() return setmetatable({name = "hits", n = 7}, Hits) end
    function Hits:reset() self.n = 0 end
    function Hits:update(_, y_pred) self.n = self.n + y_pred:numel() end
    function Hits:result() return self.n end
    local h = Hits.new()
    h:update_state(nil, T{1, 2, 3})
    assert.are.equal(10, h:result())
    h:reset_state()
    assert.are.equal(0, h:result())
  end)
end)

describe("precision and recall", function()
  it("accumulate counts, not per-batch ratios", function()
    local p, r = m.Precision(), m.Recall()
    -- batch 1: predicted positive rows 1, 2 (tp 1, fp 1); positives 1, 3 (fn 1)
    local y1, p1 = T{1, 0, 1}, T{0.9, 0.7, 0.2}
    -- batch 2: all predicted positive, all positive: tp 3
    local y2, p2 = T{1, 1, 1}, T{0.8, 0.6, 0.51}
    p:update(y1, p1); r:update(y1, p1)
    near(p:result(), 0.5); near(r:result(), 0.5)
    p:update(y2, p2); r:update(y2, p2)
    near(p:result(), 4 / 5) -- per-batch mean: (0.5 + 1) / 2 = 0.75
    near(r:result(), 4 / 5)
    assert.are.equal("precision", p.name)
    assert.are.equal("up", p.direction)
  end)

  it("are 0 with nothing predicted or nothing to find", function()
    local p, r = m.Precision(), m.Recall()
    p:update(T{1, 0}, T{0.1, 0.2}); r:update(T{0, 0}, T{0.9, 0.2})
    assert.are.equal(0, p:result()); assert.are.equal(0, r:result())
  end)

  it("take thresholds, class_id and class ids against several outputs", function()
    local p = m.Precision{thresholds = 0.15}
    p:update(T{1, 0}, T{0.1, 0.2})
    assert.are.equal(0, p:result())
    local r = m.Recall{class_id = 2}
    r:update(T{2, 2, 1}, T{{0.4, 0.6}, {0.7, 0.3}, {0.2, 0.8}}) -- class 2: positives rows 1, 2; found row 1
    near(r:result(), 0.5)
    assert.matches("class_id 3 is out of range", error_of(m.Recall{class_id = 3}.update, m.Recall{class_id = 3},
      T{1}, T{{0.4, 0.6}}))
    assert.matches("unknown option 'threshold'", error_of(m.Precision, {threshold = 0.5}))
  end)
end)

describe("F1Score", function()
  -- y_true 1, 2, 3, 3; predicted 1, 3, 3, 2: class 1 F1 = 1, class 2 = 0, class 3 = 0.5
  local y = T{1, 2, 3, 3}
  local p = T{{0.8, 0.1, 0.1}, {0.1, 0.2, 0.7}, {0.2, 0.2, 0.6}, {0.1, 0.5, 0.4}}

  it("macro (default), micro and weighted as Keras", function()
    local f = m.F1Score()
    f:update(y, p)
    near(f:result(), 0.5, 1e-5)
    local per = f:result_per_class()
    near(per[1], 1, 1e-5); near(per[2], 0, 1e-5); near(per[3], 0.5, 1e-5)
    local micro = m.F1Score{average = "micro"}
    micro:update(y, p)
    near(micro:result(), 0.5, 1e-5) -- tp 2, fp 2, fn 2
    local weighted = m.F1Score{average = "weighted"}
    weighted:update(y, dnn.one_hot(y, 3) * 0 + p) -- one-hot labels work too
    near(weighted:result(), (1 * 1 + 0 * 1 + 0.5 * 2) / 4, 1e-5)
  end)

  it("accumulates per-class counts across batches", function()
    local f = m.F1Score()
    f:update(y:narrow(1, 1, 2), p:narrow(1, 1, 2))
    f:update(y:narrow(1, 3, 2), p:narrow(1, 3, 2))
    near(f:result(), 0.5, 1e-5)
  end)

  it("is binary with one output column (threshold 0.5)", function()
    local f = m.F1Score()
    f:update(T{{1}, {0}, {1}, {1}}, T{{0.9}, {0.8}, {0.3}, {0.7}}) -- tp 2, fp 1, fn 1
    near(f:result(), 2 / 3, 1e-5)
    assert.matches("expected average", error_of(m.F1Score, {average = "none"}))
  end)
end)

describe("AUC", function()
  it("gives the ROC area of a classic example", function()
    local a = m.AUC()
    a:update(T{0, 0, 1, 1}, T{0.1, 0.4, 0.35, 0.8})
    near(a:result(), 0.75, 1e-6)
  end)

  it("accumulates: two batches give the area of all examples", function()
    local a = m.AUC()
    a:update(T{0, 1}, T{0.1, 0.35}) -- alone: 1
    near(a:result(), 1)
    a:update(T{0, 1}, T{0.4, 0.8})  -- alone: 1; together 0.75
    near(a:result(), 0.75, 1e-6)
    a:reset()
    assert.are.equal(0, a:result())
  end)

  it("is 1 when perfect, 0.5 for a constant score, PR curve too", function()
    local a = m.AUC()
    a:update(T{0, 0, 1, 1, 1}, T{0.1, 0.2, 0.6, 0.7, 0.9})
    near(a:result(), 1, 1e-6)
    local c = m.AUC()
    c:update(T{0, 1, 0, 1}, T{0.5, 0.5, 0.5, 0.5})
    near(c:result(), 0.5, 1e-6)
    local pr = m.AUC{curve = "PR"}
    pr:update(T{0, 0, 1, 1, 1}, T{0.1, 0.2, 0.6, 0.7, 0.9})
    near(pr:result(), 1, 1e-4)
    assert.matches("curve 'ROC' or 'PR'", error_of(m.AUC, {curve = "roc2"}))
  end)

  it("handles more examples than one chunk", function()
    local n = 5000
    local labels = (dnn.arange(0, n) / n):gt(0.5)
    local scores = dnn.rand(n) * 0.3 + labels * 0.6 -- negatives below 0.3, positives above 0.6: AUC 1
    local a = m.AUC()
    a:update(labels, scores)
    near(a:result(), 1, 1e-6)
  end)
end)

describe("mean metrics", function()
  it("mae and mse over every element", function()
    local mae, mse = m.get("mae"), m.get("mse")
    assert.are.equal("mae", mae.name); assert.are.equal("mse", mse.name)
    assert.are.equal("mean_absolute_error", m.get("mean_absolute_error").name)
    mae:update(T{1, 2}, T{{1.5}, {1}})
    mse:update(T{1, 2}, T{{1.5}, {1}})
    near(mae:result(), 0.75); near(mse:result(), 0.625)
    mae:update(T{0, 0, 0, 0}, T{1, 1, 1, 1})
    near(mae:result(), (1.5 + 4) / 6)
  end)

  it("wraps functions, weighting a batch value by the batch size", function()
    local w = m.get(function(y, p) return (p - y):abs():mean() end)
    w:update(T{0, 0}, T{1, 1})       -- 1 over 2 examples
    w:update(T{0, 0, 0, 0}, T{0, 0, 0, 0}) -- 0 over 4
    near(w:result(), 2 / 6)
    local per_example = m.MeanMetricWrapper(function(y, p) return (p - y):abs() end, {name = "l1"})
    per_example:update(T{0, 0}, T{1, 3})
    near(per_example:result(), 2)
    assert.are.equal("l1", per_example.name)
  end)

  it("Mean of values and weights", function()
    local mean = m.Mean{name = "loss"}
    mean:update(2, 3)
    mean:update(T{1, 1})
    near(mean:result(), (6 + 2) / 5)
  end)
end)

describe("metrics.get", function()
  it("returns objects, classes' instances, and refuses unknown names", function()
    local p = m.Precision()
    assert.are.equal(p, m.get(p))
    local a = m.get(m.AUC)
    assert.are.equal("auc", a.name)
    local user = {name = "mine", reset = function() end, update = function() end, result = function() return 1 end}
    assert.are.equal(user, m.get(user))
    assert.matches("unknown metric 'precison'", error_of(m.get, "precison"))
    assert.matches("unknown metric", error_of(m.get, 42))
  end)

  it("names the metric and both shapes on a mismatch", function()
    local mae = m.get("mae")
    assert.matches("metric 'mae': y_true of shape %(3%) does not match y_pred of shape %(2, 1%)",
      error_of(mae.update, mae, T{1, 2, 3}, T{{1}, {2}}))
    assert.matches("expected tensors", error_of(mae.update, mae, {1}, T{1}))
    local p = m.Precision()
    assert.matches("class ids for 2 classes", error_of(p.update, p, T{3, 1}, T{{0.1, 0.9}, {0.2, 0.8}}))
  end)
end)

describe("confusion_matrix", function()
  it("rows true, columns predicted, from ids or probabilities", function()
    local cm = m.confusion_matrix(T{1, 2, 3, 3}, T{1, 3, 3, 2})
    assert.are.same({{1, 0, 0}, {0, 0, 1}, {0, 1, 1}}, cm:totable())
    local probs = T{{0.8, 0.1, 0.1}, {0.1, 0.2, 0.7}, {0.2, 0.2, 0.6}, {0.1, 0.5, 0.4}}
    assert.are.same(cm:totable(), m.confusion_matrix(T{1, 2, 3, 3}, probs):totable())
    assert.are.same(cm:totable(), m.confusion_matrix(dnn.one_hot(T{1, 2, 3, 3}, 3), probs):totable())
    local big = m.confusion_matrix(T{{1}, {2}}, T{1, 1}, 4)
    assert.are.same({4, 4}, big.shape)
    assert.are.equal(1, big[2][1]:item())
  end)

  it("takes binary 0/1 labels (label 0 first, as sklearn) and {num_classes}", function()
    local cm = m.confusion_matrix(T{0, 1, 1}, T{0, 1, 0})
    assert.are.same({{1, 0}, {1, 1}}, cm:totable())
    assert.are.same(cm:totable(), m.confusion_matrix(T{0, 1, 1}, T{0, 1, 0}, {num_classes = 2}):totable())
    assert.are.same({{2, 0}, {0, 0}}, m.confusion_matrix(T{1, 1}, T{1, 1}, {num_classes = 2}):totable()) -- ids 1, no 0: ids
    assert.matches("did you mean 'num_classes'", error_of(m.confusion_matrix, T{1}, T{1}, {num_class = 2}))
  end)

  it("refuses ids out of range and mismatched counts", function()
    assert.matches("y_pred must be class ids 1..2", error_of(m.confusion_matrix, T{1, 2}, T{1, 3}, 2))
    assert.matches("y_true must be class ids 1..2 %(ids look 0%-based: class ids start at 1; pass y %+ 1%)",
      error_of(m.confusion_matrix, T{0, 2}, T{1, 1}))
    assert.matches("3 true labels, 2 predictions", error_of(m.confusion_matrix, T{1, 2, 1}, T{1, 2}))
    assert.matches("num_classes", error_of(m.confusion_matrix, T{1}, T{1}, 0))
  end)
end)
