-- dnn.training: Keras's compile / fit / evaluate / predict, the History
-- callback and the progress bar. Policy only: each batch is a few C calls
-- (forward, loss, backward, one optimizer step).
--
-- Data: x is a tensor, or for a model of several inputs an array of tensors
-- (the order of the model's inputs); y likewise for several outputs. Samples
-- run along dim 1. A model of several outputs takes one loss for all of them
-- or one per output (an array, or a table by output name), and reports
-- "<output>_loss" and "<output>_<metric>" as Keras does.
local dnn = require "dnn"
local models = require "dnn.models"
local strict = require "dnn.options"

local shape_string = models.shape_string
local M = {}

local function is_array(v)
  return type(v) == "table" and getmetatable(v) == nil
end

local function fmt_shape(t)
  local s = t.shape
  s[1] = -1
  return shape_string(s)
end

local function check_options(options, known, fname)
  if options ~= nil and not is_array(options) then
    error(string.format("%s: expected a table of options, got %s", fname, strict.describe(options)), 3)
  end
  return strict.check(fname, options, known)
end

local function set_of(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

-- ---- compile ----

-- The model's outputs: their count and names (Keras names per-output logs
-- after the layer that makes each output).
local function output_names(model, spec_count)
  if model.output_names then return model.output_names end
  local names = {}
  for i = 1, spec_count do names[i] = "output_" .. i end
  return names
end

-- A per-output setting: one spec for all outputs, an array, or a table by output name.
local function per_output(spec, names, what, is_single)
  local n = #names
  local out = {}
  if spec == nil or is_single(spec) then
    for i = 1, n do out[i] = spec end
    return out
  end
  if #spec > 0 then
    if #spec ~= n then
      error(string.format("compile: the model has %d outputs, got %d %s", n, #spec, what), 4)
    end
    for i = 1, n do out[i] = spec[i] end
    return out
  end
  local index = {}
  for i, name in ipairs(names) do index[name] = i end
  for k, v in pairs(spec) do
    if not index[k] then
      error(string.format("compile: %s for an unknown output '%s' (outputs: %s)", what, tostring(k),
        table.concat(names, ", ")), 4)
    end
    out[index[k]] = v
  end
  return out
end

local function is_loss_spec(v)
  return type(v) ~= "table" or not is_array(v) or (getmetatable(v) and getmetatable(v).__call)
end

-- model:compile{optimizer = "adam" | object, loss = name | function | object
-- (or one per output), loss_weights = {...}, metrics = {"accuracy", ...}}.
function M.compile(model, options)
  options = check_options(options, set_of{"optimizer", "loss", "metrics", "loss_weights", "weighted_metrics",
    "run_eagerly", "steps_per_execution", "jit_compile"}, "compile")
  -- trainable flags take effect here, as in Keras: frozen weights stop asking for gradients.
  local all = model:_all_layers()
  for _, l in ipairs(all) do
    for _, w in ipairs(l.weights or {}) do
      w.tensor.requires_grad = model.trainable ~= false and l.trainable ~= false and w.trainable ~= false
    end
  end
  local params = model:parameters()
  local optimizer = dnn.optim.get(options.optimizer or "rmsprop", params)

  local n_outputs = model.outputs and #model.outputs or 1
  local names = output_names(model, n_outputs)
  local loss_specs = per_output(options.loss, names, "losses", is_loss_spec)
  local losses, loss_names = {}, {}
  for i, spec in ipairs(loss_specs) do
    if spec ~= nil then
      losses[i] = dnn.losses.get(spec)
      loss_names[i] = dnn.losses.name_of(losses[i]) or (type(spec) == "string" and spec or nil)
    end
  end
  local loss_weights = per_output(options.loss_weights, names, "loss weights", function(v) return type(v) == "number" end)
  for i = 1, n_outputs do loss_weights[i] = loss_weights[i] or 1 end

  -- metrics: a list for every output, or a list per output (array of lists or by name).
  local metric_specs = options.metrics
  local metrics = {}
  if metric_specs ~= nil then
    if not is_array(metric_specs) then
      error(string.format("compile: expected metrics to be a list such as {\"accuracy\"}, got %s",
        strict.describe(metric_specs)), 2)
    end
    local metrics_mod = require "dnn.metrics"
    -- per output: an array of lists, or a table by output name; else one list for all.
    local per
    local first = metric_specs[1]
    if n_outputs > 1 and is_array(first) and not first.update then
      per = per_output(metric_specs, names, "metric lists", function() return false end)
    elseif n_outputs > 1 and first == nil and next(metric_specs) ~= nil then
      per = per_output(metric_specs, names, "metric lists", function() return false end)
    else
      per = {}
      for i = 1, n_outputs do per[i] = metric_specs end
    end
    for i = 1, n_outputs do
      metrics[i] = {}
      local list = per[i] or {}
      if not is_array(list) or list.update then list = {list} end
      for j, spec in ipairs(list) do metrics[i][j] = metrics_mod.get(spec, loss_names[i]) end
    end
  end
  for i = 1, n_outputs do metrics[i] = metrics[i] or {} end

  model.optimizer = optimizer
  model.loss = options.loss
  model.compiled = {
    optimizer = optimizer, losses = losses, loss_names = loss_names, loss_weights = loss_weights,
    metrics = metrics, n_outputs = n_outputs, output_names = names,
  }
  return model
end

-- The names of the logs fit and evaluate report, in Keras's order.
local function log_names(c)
  local names = {"loss"}
  for i = 1, c.n_outputs do
    if c.n_outputs > 1 then names[#names + 1] = c.output_names[i] .. "_loss" end
    for _, m in ipairs(c.metrics[i]) do
      names[#names + 1] = c.n_outputs > 1 and (c.output_names[i] .. "_" .. m.name) or m.name
    end
  end
  return names
end

-- ---- data ----

local function describe(v)
  if dnn.is_tensor(v) then return "a tensor of shape " .. shape_string(v.shape):gsub("None", tostring(v.shape[1])) end
  if is_array(v) then return "an array of " .. #v end
  return type(v)
end

-- Whether v is an array with no tensor in it: data as Lua tables ({{1, 2}, {3, 4}}, {1, 2, 3}).
local function plain_data(v)
  if not is_array(v) or #v == 0 then return false end
  for _, item in ipairs(v) do
    if dnn.is_tensor(item) then return false end
  end
  return true
end

-- x or y as a list of tensors, checked against the model. Data given as
-- nested Lua tables of numbers becomes a tensor (as Keras takes lists).
local function as_list(v, what, count, fname)
  local list
  if plain_data(v) then
    local ok, t = pcall(dnn.tensor, v)
    if not ok then
      error(string.format("%s: %s as Lua tables must be nested tables of numbers of one shape (or give a tensor, " ..
        "or an array of tensors for several inputs): %s", fname, what, tostring(t):gsub("^[^:\n]*:%d+: ", "")), 4)
    end
    v = t
  end
  if dnn.is_tensor(v) then
    list = {v}
  elseif is_array(v) and #v > 0 then
    list = v
    for i, t in ipairs(list) do
      if not dnn.is_tensor(t) then
        error(string.format("%s: %s[%d] must be a tensor, got %s", fname, what, i, type(t)), 4)
      end
      if t.ndim == 0 then error(string.format("%s: %s[%d] has no sample dim (a 0-d tensor)", fname, what, i), 4) end
    end
  else
    error(string.format("%s: expected %s to be a tensor%s, got %s", fname, what,
      count and count > 1 and (" array of " .. count) or " or an array of tensors", describe(v)), 4)
  end
  if list[1].ndim == 0 then error(string.format("%s: %s has no sample dim (a 0-d tensor)", fname, what), 4) end
  if count and #list ~= count then
    error(string.format("%s: the model has %d %s, got %s", fname, count, what == "x" and "inputs" or "outputs",
      describe(v)), 4)
  end
  return list
end

local function samples(list, what, fname)
  local n = list[1].shape[1]
  for i = 2, #list do
    if list[i].shape[1] ~= n then
      error(string.format("%s: the tensors of %s have different numbers of samples: %d and %d", fname, what, n,
        list[i].shape[1]), 4)
    end
  end
  return n
end

local function model_inputs(model)
  return model.inputs and #model.inputs or nil
end

local function narrow_all(list, start, len)
  local out = {}
  for i, t in ipairs(list) do out[i] = t:narrow(1, start, len) end
  return out
end

local function select_all(list, idx)
  local out = {}
  for i, t in ipairs(list) do out[i] = t:index_select(1, idx) end
  return out
end

-- A dnn.data.DataLoader given as x: fit/evaluate/predict take its batches.
local function is_loader(v)
  return dnn.data.is_loader(v)
end

-- The next batch of a loader's iterator as lists, and its size.
local function loader_batch(it, fname)
  local xb, yb = it()
  if not dnn.is_tensor(xb) then error(fname .. ": the DataLoader ran out of batches", 4) end
  return {xb}, yb and {yb} or nil, xb.shape[1]
end

-- What the model is called with: the tensor, or the array for several inputs.
local function model_arg(xs, x_was_list, model)
  if #xs == 1 and not (x_was_list and not model.inputs) then return xs[1] end
  return xs
end

-- ---- losses ----

-- Label shapes the built-in losses take for a prediction of shape pred.
local function check_labels(fname, loss_name, pred, y, out_index, c)
  if not loss_name then return end
  local ps, ys = pred.shape, y.shape
  local ok
  if loss_name:find("sparse", 1, true) then
    ok = (#ys == #ps - 1) or (#ys == #ps and ys[#ys] == 1)
    for d = 2, #ps - 1 do ok = ok and ys[d] == ps[d] end
  else
    local a, b = #ps, #ys
    if a == b + 1 and ps[a] == 1 then a = a - 1 end
    if b == a + 1 and ys[b] == 1 then b = b - 1 end
    ok = a == b
    for d = 2, a do ok = ok and ps[d] == ys[d] end
  end
  if not ok then
    local where = c.n_outputs > 1 and string.format(" '%s'", c.output_names[out_index]) or ""
    local hint = ""
    if loss_name:find("sparse", 1, true) and #ys == #ps then
      hint = " (sparse losses take class ids; one-hot labels go with categorical_crossentropy)"
    elseif loss_name == "categorical_crossentropy" and #ys == #ps - 1 then
      hint = " (categorical_crossentropy takes one-hot labels; class ids go with sparse_categorical_crossentropy)"
    end
    error(string.format("%s: the model's output%s has shape %s but the labels have shape %s (loss '%s')%s", fname,
      where, fmt_shape(pred), fmt_shape(y), loss_name, hint), 0)
  end
end

-- Class ids of a batch of labels, as class_weight keys them: the label value
-- for class ids (N) or (N, 1) (binary labels: 0 and 1), the argmax (1-based)
-- for one-hot labels.
local function class_ids(y)
  local s = y.shape
  local flat
  if #s == 1 or (#s == 2 and s[2] == 1) then
    flat = y:reshape(s[1]):totable()
  else
    flat = y:reshape(s[1], -1):argmax(-1):totable()
  end
  for i, v in ipairs(flat) do flat[i] = math.floor(v + 0.5) end
  return flat
end

-- class_weight as Keras applies it: each sample's weight is its class's (1
-- for a class not in the table), given to the loss as its sample_weight, so
-- the batch loss is sum(w_i l_i) / N. The weights have the batch dim first
-- and 1s for the other per-example dims of pred (pred without its last dim).
local function class_sample_weights(y, pred, class_weight)
  local w = {}
  for i, id in ipairs(class_ids(y)) do w[i] = class_weight[id] or 1 end
  local shape = {#w}
  for d = 3, pred.ndim do shape[d - 1] = 1 end
  return dnn.tensor(w):reshape(table.unpack(shape))
end

-- ---- the fused softmax / sigmoid + cross-entropy path ----
-- When an output's final layer applies softmax (or sigmoid) and its loss is
-- the matching cross-entropy without from_logits, fit and evaluate take that
-- layer's pre-activation output (the logits) and call the loss with
-- from_logits = true. Why: from the logits the loss is a stable log-sum-exp,
-- exact however saturated the output, and its gradient softmax(z) - y
-- (sigmoid(z) - y) comes in one fused pass; from probabilities the loss
-- clips them at 1e-7, which caps it and stops the gradient of a confidently
-- wrong example, and adds the softmax's own backward. Keras's TensorFlow
-- backend gets the same by reading logits hidden on the output tensor; here
-- tensors carry no such side channel and the model decides, in this one
-- place. predict() and model(x) still return probabilities, and the metrics
-- see probabilities (the activation applied to the logits).

-- The loss names that fuse, with the activation each fuses with.
local fused_activation_of_loss = {categorical_crossentropy = "softmax", sparse_categorical_crossentropy = "softmax",
                                  binary_crossentropy = "sigmoid"}

-- The library's layers whose forward returns the pre-activation output when
-- their _emit_logits is set: Dense, the convolutions, Activation.
local emits_logits = {Dense = true, Conv2D = true, Conv2DTranspose = true, DepthwiseConv2D = true, Activation = true}

-- "softmax" / "sigmoid" for a layer's activation given by name or as the function of dnn.activations.
local function activation_name(a)
  local activations = require "dnn.activations"
  if a == "softmax" or a == activations.softmax then return "softmax" end
  if a == "sigmoid" or a == activations.sigmoid then return "sigmoid" end
  return nil
end

-- The layer computing output i of model, when that is a library layer used
-- once there (a Sequential's last layer, or a functional output's node whose
-- output nothing else reads; nested models are looked through), else nil.
local function final_layer(model, i)
  local layer = require "dnn.layer"
  local l
  if model.type_name == "Sequential" and i == 1 then
    local layers = model.layers
    l = layers[#layers]
    for j = 1, #layers - 1 do if layers[j] == l then return nil end end
  elseif model.type_name == "Functional" then
    local out = model.outputs[i]
    if not out or out.index ~= 1 then return nil end
    for j, other in ipairs(model.outputs) do if j ~= i and other == out then return nil end end
    for _, node in ipairs(model._order) do
      if node ~= out.node and node.layer == out.node.layer then return nil end -- the layer is used twice
      for _, input in ipairs(node.inputs) do if input == out then return nil end end -- and read by another layer
    end
    l = out.node.layer
  else
    return nil
  end
  if l == nil then return nil end
  if l.type_name == "Sequential" or l.type_name == "Functional" then
    if (l.outputs and #l.outputs or 1) ~= 1 then return nil end
    return final_layer(l, 1)
  end
  if not emits_logits[l.type_name] or getmetatable(l) ~= layer.registry[l.type_name] then return nil end
  return l
end

-- Per output, {layer, activation, loss (the from_logits one)} where the fused path applies; nil elsewhere.
local function fused_outputs(model, c)
  local plan
  for i = 1, c.n_outputs do
    local fn = c.losses[i]
    local name = fn and dnn.losses.name_of(fn)
    local options = fn and dnn.losses.options_of(fn)
    local act = fused_activation_of_loss[name]
    local l = act and options and not options.from_logits and final_layer(model, i)
    if l and not l.activity_regularizer and activation_name(l.activation) == act then
      options.from_logits = true
      plan = plan or {}
      plan[i] = {layer = l, activation = act, loss = dnn.losses[name](options)}
    end
  end
  return plan
end

-- The model's outputs for a training or evaluation step: what the losses
-- take (the logits of fused outputs) and what the metrics take (probabilities).
local function forward_for_loss(model, c, arg, fused)
  if not fused then
    local preds = table.pack(model(arg))
    return preds, preds
  end
  for _, f in pairs(fused) do rawset(f.layer, "_emit_logits", true) end
  local results = table.pack(pcall(model, arg))
  for _, f in pairs(fused) do rawset(f.layer, "_emit_logits", nil) end
  if not results[1] then error(results[2], 0) end
  local outputs = table.pack(table.unpack(results, 2, results.n))
  local for_metrics = {n = outputs.n}
  for i = 1, outputs.n do
    local z, f = outputs[i], fused[i]
    if f and dnn.is_tensor(z) and #c.metrics[i] > 0 then
      for_metrics[i] = dnn.no_grad(function() return f.activation == "softmax" and z:softmax(-1) or z:sigmoid() end)
    else
      for_metrics[i] = z
    end
  end
  return outputs, for_metrics
end

-- The total loss (a 0-d tensor) and each output's loss. fused: the plan of
-- fused_outputs (preds then hold those outputs' logits).
local function compute_loss(c, fname, ys, preds, class_weight, first, fused)
  if #preds ~= c.n_outputs then
    error(string.format("%s: the model returned %d outputs, the compiled loss expects %d", fname, #preds, c.n_outputs), 0)
  end
  local total, parts = nil, {}
  for i = 1, c.n_outputs do
    local fn, pred, y = c.losses[i], preds[i], ys[i]
    if fused and fused[i] then fn = fused[i].loss end
    if fn then
      if not dnn.is_tensor(pred) then
        error(string.format("%s: the model's output %d is not a tensor (got %s)", fname, i, type(pred)), 0)
      end
      if first then check_labels(fname, c.loss_names[i], pred, y, i, c) end
      local ok, l
      if class_weight then
        ok, l = pcall(function() return fn(y, pred, class_sample_weights(y, pred, class_weight)) end)
      else
        ok, l = pcall(fn, y, pred)
      end
      if not ok then
        error(string.format("%s: the loss '%s' failed on the model's output of shape %s and labels of shape %s: %s",
          fname, c.loss_names[i] or "custom", fmt_shape(pred), fmt_shape(y), tostring(l):gsub("^[^:]*:%d+: ", "")), 0)
      end
      if not dnn.is_tensor(l) or l:numel() ~= 1 then
        error(string.format("%s: the loss must return a one-element tensor, got %s", fname, describe(l)), 0)
      end
      parts[i] = l
      local w = c.loss_weights[i]
      if w ~= 1 then l = l * w end
      total = total and total + l or l
    end
  end
  if not total then error(fname .. ": the model has no loss; compile it with loss = ...", 0) end
  return total, parts
end

-- Running means of the loss(es) over an epoch (weighted by batch size, as
-- Keras's loss tracker) and the metrics' results.
local Tracker = {}
Tracker.__index = Tracker

local function new_tracker(c)
  local self = setmetatable({c = c, sum = 0, count = 0, part_sums = {}}, Tracker)
  for _, list in ipairs(c.metrics) do
    for _, m in ipairs(list) do m:reset() end
  end
  return self
end

function Tracker:add(loss, parts, n)
  self.sum = self.sum + loss * n
  self.count = self.count + n
  if self.c.n_outputs > 1 then
    for i = 1, self.c.n_outputs do
      if parts[i] then self.part_sums[i] = (self.part_sums[i] or 0) + parts[i] * n end
    end
  end
end

function Tracker:update_metrics(ys, preds)
  local metrics = self.c.metrics
  for i = 1, #metrics do
    local list = metrics[i]
    if #list > 0 then
      local y, p = ys[i], preds[i]:detach()
      for _, m in ipairs(list) do m:update(y, p) end
    end
  end
end

function Tracker:logs(prefix)
  prefix = prefix or ""
  local c = self.c
  local logs = {}
  logs[prefix .. "loss"] = self.count > 0 and self.sum / self.count or 0
  for i = 1, c.n_outputs do
    if c.n_outputs > 1 and self.part_sums[i] then
      logs[prefix .. c.output_names[i] .. "_loss"] = self.part_sums[i] / self.count
    end
    for _, m in ipairs(c.metrics[i]) do
      local name = c.n_outputs > 1 and (c.output_names[i] .. "_" .. m.name) or m.name
      logs[prefix .. name] = m:result()
    end
  end
  return logs
end

-- ---- progress ----

local function format_duration(s)
  s = math.floor(s) -- whole seconds: %d refuses a float with a fraction
  if s >= 3600 then return string.format("%d:%02d:%02d", s // 3600, (s % 3600) // 60, s % 60) end
  if s >= 60 then return string.format("%d:%02d", s // 60, s % 60) end
  return string.format("%ds", math.floor(s))
end

local function format_per_step(seconds, steps)
  local per = steps > 0 and seconds / steps or 0
  if per >= 1 or per == 0 then return string.format("%.0fs/step", per) end
  if per >= 1e-3 then return string.format("%.0fms/step", per * 1e3) end
  return string.format("%.0fus/step", per * 1e6)
end

local function format_value(v)
  if type(v) ~= "number" then return tostring(v) end
  if math.abs(v) > 1e-3 or v == 0 then return string.format("%.4f", v) end
  return string.format("%.4e", v)
end

-- " - loss: 0.4312 - accuracy: 0.8421", in the order of names, then the rest sorted.
local function format_logs(logs, names)
  local parts, done = {}, {}
  for _, k in ipairs(names or {}) do
    if logs[k] ~= nil then
      parts[#parts + 1] = " - " .. k .. ": " .. format_value(logs[k])
      done[k] = true
    end
  end
  local rest = {}
  for k in pairs(logs) do
    if not done[k] and type(k) == "string" then rest[#rest + 1] = k end
  end
  table.sort(rest, function(a, b)
    local va, vb = a:sub(1, 4) == "val_", b:sub(1, 4) == "val_"
    if va ~= vb then return vb end
    return a < b
  end)
  for _, k in ipairs(rest) do parts[#parts + 1] = " - " .. k .. ": " .. format_value(logs[k]) end
  return table.concat(parts)
end

-- The progress bar: a live Keras-style bar on a terminal (verbose 1), one
-- line per epoch into a file or a pipe or with verbose 2; never a line per step.
local Progbar = {}
Progbar.__index = Progbar

function M.ProgbarLogger(options)
  options = options or {}
  local self = setmetatable({}, Progbar)
  self.out = options.out or io.stdout
  self.live = options.live
  self.width = 30
  return self
end

function Progbar:set_params(params)
  self.params = params
  self.verbose = params.verbose
  if self.live == nil then self.live = params.verbose == 1 and dnn.isatty(1) end
end

function Progbar:bar(current, target, logs, final)
  local digits = #tostring(target)
  local line = string.format("%" .. digits .. "d/%d [", current, target)
  local filled = target > 0 and math.floor(self.width * current / target) or self.width
  if filled > 0 then line = line .. string.rep("=", filled - 1) .. (current < target and ">" or "=") end
  line = line .. string.rep(".", self.width - filled) .. "]"
  local elapsed = dnn.wall_time() - self.start
  if final then
    line = line .. " - " .. format_duration(elapsed) .. " " .. format_per_step(elapsed, current)
  else
    local eta = current > 0 and elapsed / current * (target - current) or 0
    line = line .. " - ETA: " .. format_duration(eta)
  end
  line = line .. format_logs(logs, self.params.metrics)
  local pad = (self.prev_width or 0) - #line
  self.prev_width = #line
  self.out:write("\r", line, pad > 0 and string.rep(" ", pad) or "", final and "\n" or "")
  self.out:flush()
end

function Progbar:begin(target)
  self.start = dnn.wall_time()
  self.last_draw = -math.huge
  self.prev_width = 0
  self.target = target
end

function Progbar:step(batch, logs)
  if not self.live then return end
  local now = dnn.wall_time()
  if now - self.last_draw >= 0.05 and batch < self.target then -- the last one: finish draws it
    self.last_draw = now
    self:bar(batch, self.target, logs, false)
  end
end

function Progbar:finish(done, logs, header)
  if self.live then
    self:bar(done, self.target, logs, true)
  else
    local elapsed = dnn.wall_time() - self.start
    self.out:write(header, format_duration(elapsed), " ", format_per_step(elapsed, done), format_logs(logs,
      self.params.metrics), "\n")
    self.out:flush()
  end
end

function Progbar:on_train_begin()
  self.in_fit = true
end

function Progbar:on_train_end()
  self.in_fit = false
end

function Progbar:on_epoch_begin(epoch)
  self.epoch = epoch
  self.done = 0
  self:begin(self.params.steps)
  if self.live then
    self.out:write(string.format("Epoch %d/%d\n", epoch, self.params.epochs))
    self.out:flush()
  end
end

function Progbar:on_train_batch_end(batch, logs)
  self.done = batch
  self.last_logs = logs
  self:step(batch, logs)
end

function Progbar:on_epoch_end(epoch, logs)
  self:finish(self.done, logs, string.format("Epoch %d/%d - ", epoch, self.params.epochs))
end

-- evaluate and predict (fit's validation draws nothing of its own).
function Progbar:on_test_begin()
  if self.in_fit then return end
  self.done = 0
  self:begin(self.params.steps)
end

function Progbar:on_test_batch_end(batch, logs)
  if self.in_fit then return end
  self.done = batch
  self:step(batch, logs)
end

function Progbar:on_test_end(logs)
  if self.in_fit then return end
  self:finish(self.done, logs or {}, string.format("%d/%d - ", self.done, self.target))
end

Progbar.on_predict_begin = Progbar.on_test_begin

function Progbar:on_predict_batch_end(batch)
  self.done = batch
  self:step(batch, {})
end

function Progbar:on_predict_end()
  self:finish(self.done, {}, string.format("%d/%d - ", self.done, self.target))
end

-- ---- the loops ----

-- The callback classes of dnn.callbacks by name, for the error of a callback given by name.
local function callback_names()
  local names = {}
  for name, v in pairs(require("dnn.callbacks")) do
    if type(v) == "table" and v.type_name == name and name ~= "Callback" and name ~= "CallbackList" then
      names[#names + 1] = name
    end
  end
  table.sort(names)
  return names
end

local function callback_list(user, extra, model, params, fname)
  local list = {}
  if user ~= nil then
    if not is_array(user) then
      error(string.format("%s: expected callbacks to be an array of callbacks, got %s", fname,
        strict.describe(user)), 4)
    end
    for i, cb in ipairs(user) do
      if type(cb) == "string" then -- Keras takes no names here either: say which object was meant
        error(string.format("%s: callbacks[%d]: %s; a callback is an object: dnn.callbacks.<name>{...}", fname, i,
          strict.unknown_name("callback", cb, callback_names())), 4)
      end
      if type(cb) ~= "table" then
        error(string.format("%s: callbacks[%d] must be a callback (a table), got %s", fname, i, strict.describe(cb)), 4)
      end
      list[#list + 1] = cb
    end
  end
  for _, cb in ipairs(extra) do list[#list + 1] = cb end
  return require("dnn.callbacks").CallbackList(list, model, params)
end

-- Runs fn with the model's training flag restored afterwards, error or not
-- (by a to-be-closed variable: nothing is caught, so an error keeps its
-- whole traceback).
local function keeping_mode(model, fn, ...)
  local was = model.training ~= false
  local _ <close> = setmetatable({}, {__close = function() model:train(was) end})
  return fn(...)
end

local function check_batch_size(v, fname)
  if v == nil then return 32 end
  if math.type(v) ~= "integer" or v < 1 then
    error(string.format("%s: batch_size must be a positive integer, got %s", fname, strict.describe(v)), 4)
  end
  return v
end

local function verbosity(v, fname)
  if v == nil or v == "auto" then return 1 end
  if v ~= 0 and v ~= 1 and v ~= 2 then
    error(string.format("%s: verbose must be 0, 1, 2 or \"auto\", got %s", fname, strict.describe(v)), 4)
  end
  return v
end

local function compiled(model, fname)
  local c = model.compiled
  if not c then error(fname .. ": the model is not compiled; call model:compile{...} first", 4) end
  return c
end

-- The validation loop of fit and the body of evaluate: the mean loss and
-- the metrics over the data, in inference mode, no graph recorded.
local function test_loop(model, c, fname, xs, x_was_list, ys, n, batch_size, cbs)
  model:train(false)
  local tracker = new_tracker(c)
  local fused = fused_outputs(model, c)
  local loader = is_loader(xs) and xs:iter()
  local steps = loader and #xs or math.ceil(n / batch_size)
  if cbs then cbs:on_test_begin({}) end
  for step = 1, steps do
    if cbs then cbs:on_test_batch_begin(step, {}) end
    local xb, yb, len
    if loader then
      xb, yb, len = loader_batch(loader, fname)
      if not yb then error(fname .. ": the DataLoader gives no labels (y)", 3) end
    else
      local start = (step - 1) * batch_size + 1
      len = math.min(batch_size, n - start + 1)
      xb, yb = narrow_all(xs, start, len), narrow_all(ys, start, len)
    end
    dnn.no_grad(function()
      local outputs, preds = forward_for_loss(model, c, model_arg(xb, x_was_list, model), fused)
      local loss, parts = compute_loss(c, fname, yb, outputs, nil, step == 1, fused)
      local reg = model:regularization_loss()
      if reg then loss = loss + reg end
      for i, p in pairs(parts) do parts[i] = p:item() end
      tracker:add(loss:item(), parts, len)
      tracker:update_metrics(yb, preds)
    end)
    if cbs then cbs:on_test_batch_end(step, tracker:logs()) end
  end
  local logs = tracker:logs()
  if cbs then cbs:on_test_end(logs) end
  return logs
end

local fit_options = set_of{"epochs", "batch_size", "validation_split", "validation_data", "shuffle", "class_weight",
  "initial_epoch", "callbacks", "verbose", "validation_batch_size", "backup_dir"}

-- model:fit(x, y, {epochs, batch_size = 32, validation_split, validation_data = {x, y},
-- shuffle = true, class_weight = {[id] = w}, initial_epoch = 0, callbacks, verbose = 1}) -> History
function M.fit(model, x, y, options)
  local fname = "fit"
  local c = compiled(model, fname)
  -- model:fit(loader, {epochs, validation_data = loader_or_pair, ...}): batches come from a dnn.data.DataLoader.
  local loader = is_loader(x) and x
  if loader then
    if options ~= nil then error("fit: with a DataLoader, the options come second: fit(loader, {...})", 2) end
    options, y = y, nil
    options = check_options(options, fit_options, fname)
    for _, k in ipairs{"batch_size", "validation_split", "shuffle"} do
      if options[k] ~= nil then
        error(string.format("fit: %s is the DataLoader's business (or not available) when x is a DataLoader", k), 2)
      end
    end
  else
    options = check_options(options, fit_options, fname)
  end
  local epochs = options.epochs or 1
  if math.type(epochs) ~= "integer" or epochs < 0 then
    error(string.format("fit: epochs must be a non-negative integer, got %s", strict.describe(epochs)), 2)
  end
  local initial_epoch = options.initial_epoch or 0
  if math.type(initial_epoch) ~= "integer" or initial_epoch < 0 then
    error(string.format("fit: initial_epoch must be a non-negative integer, got %s", strict.describe(initial_epoch)), 2)
  end
  local batch_size = check_batch_size(options.batch_size, fname)
  local verbose = verbosity(options.verbose, fname)
  local shuffle = options.shuffle ~= false
  local class_weight = options.class_weight
  if class_weight ~= nil then
    if not is_array(class_weight) then
      error(string.format("fit: class_weight must be a table {[class id] = weight}, got %s",
        strict.describe(class_weight)), 2)
    end
    if c.n_outputs > 1 then error("fit: class_weight is for models of one output", 2) end
    if c.losses[1] and not dnn.losses.name_of(c.losses[1]) then
      error("fit: class_weight weights each sample through the loss's sample_weight, which a user's loss function " ..
        "(returning one value for the batch) cannot take; use a built-in loss", 2)
    end
    for k, v in pairs(class_weight) do
      if math.type(k) ~= "integer" or type(v) ~= "number" then
        error(string.format("fit: class_weight maps class ids to weights, got [%s] = %s", tostring(k), tostring(v)), 2)
      end
    end
  end

  local x_was_list, xs, ys, n
  if loader then
    x_was_list, n = false, loader.n
    if loader.y == nil then error("fit: the DataLoader gives no labels (y)", 2) end
    if #loader == 0 then error("fit: the DataLoader gives no batches", 2) end
    batch_size = loader.batch_size
  else
    x_was_list = not dnn.is_tensor(x) and not plain_data(x)
    xs = as_list(x, "x", model_inputs(model), fname)
    if y == nil then error("fit: expected labels y, got nil", 2) end
    ys = as_list(y, "y", c.n_outputs, fname)
    n = samples(xs, "x", fname)
    local ny = samples(ys, "y", fname)
    if n ~= ny then
      error(string.format("fit: x and y have different numbers of samples: %d and %d", n, ny), 2)
    end
    if n == 0 then error("fit: x has no samples", 2) end
  end

  -- validation: given, or the last fraction of the data (before shuffling), as Keras.
  local vxs, vys, nv
  if is_loader(options.validation_data) then
    vxs, nv = options.validation_data, options.validation_data.n
    if vxs.y == nil then error("fit: the validation DataLoader gives no labels (y)", 2) end
  elseif options.validation_data ~= nil then
    local vd = options.validation_data
    if not is_array(vd) or vd[1] == nil or vd[2] == nil then
      error("fit: validation_data must be {x_val, y_val}", 2)
    end
    vxs = as_list(vd[1], "validation x", model_inputs(model), fname)
    vys = as_list(vd[2], "validation y", c.n_outputs, fname)
    nv = samples(vxs, "validation x", fname)
    if samples(vys, "validation y", fname) ~= nv then
      error(string.format("fit: validation x and y have different numbers of samples: %d and %d", nv,
        vys[1].shape[1]), 2)
    end
  elseif options.validation_split ~= nil and options.validation_split ~= 0 then
    local split = options.validation_split
    if type(split) ~= "number" or split <= 0 or split >= 1 then
      error(string.format("fit: validation_split must be a number in [0, 1), got %s", strict.describe(split)), 2)
    end
    local split_at = math.floor(n * (1 - split))
    if split_at < 1 or split_at >= n then
      error(string.format("fit: validation_split %g of %d samples leaves %d for training and %d for validation", split,
        n, split_at, n - split_at), 2)
    end
    vxs, vys, nv = narrow_all(xs, split_at + 1, n - split_at), narrow_all(ys, split_at + 1, n - split_at), n - split_at
    xs, ys, n = narrow_all(xs, 1, split_at), narrow_all(ys, 1, split_at), split_at
  end
  local val_batch = check_batch_size(options.validation_batch_size or batch_size, fname)

  -- Under mpirun after dnn.distributed.init(): this rank's share of each global batch (lua/dnn/distributed.lua).
  local world = require("dnn.distributed").world()
  if world then
    if loader then error("fit: a DataLoader is not sharded across ranks; under dnn.distributed pass x and y", 2) end
    if world.rank ~= 0 then verbose = 0 end
  end
  local steps = loader and #loader or world and world:steps(n, batch_size) or math.ceil(n / batch_size)
  local names = log_names(c)
  local all_names = {table.unpack(names)}
  if vxs then
    for _, k in ipairs(names) do all_names[#all_names + 1] = "val_" .. k end
  end
  local params = {epochs = epochs, steps = steps, verbose = verbose, batch_size = batch_size, samples = n,
                  metrics = all_names, do_validation = vxs ~= nil}
  -- the History fit returns (the user's own, if the list holds one), then the progress bar, as Keras.
  local callbacks = require "dnn.callbacks"
  local history
  for _, cb in ipairs(is_array(options.callbacks) and options.callbacks or {}) do
    if getmetatable(cb) == callbacks.History then history = cb end
  end
  local extra = {}
  if not history then
    history = callbacks.History()
    extra[1] = history
  end
  if verbose ~= 0 then extra[#extra + 1] = M.ProgbarLogger() end
  -- fault tolerance (lua/dnn/backup.lua): the user's BackupAndRestore, or one for backup_dir.
  local backup
  for _, cb in ipairs(is_array(options.callbacks) and options.callbacks or {}) do
    if getmetatable(cb) == callbacks.BackupAndRestore then backup = cb end
  end
  if not backup and options.backup_dir ~= nil then
    backup = callbacks.BackupAndRestore{backup_dir = options.backup_dir}
    extra[#extra + 1] = backup
  end
  local Backup = backup and require "dnn.backup"
  local cbs = callback_list(world and world:callbacks(options.callbacks) or options.callbacks, extra, model, params,
    fname)
  model.history = history
  local optimizer = c.optimizer
  local fused = fused_outputs(model, c)
  return keeping_mode(model, function()
    model.stop_training = false
    if world then
      world:start(model, not model.built and function() model(model_arg(narrow_all(xs, 1, 1), x_was_list, model)) end)
    end
    cbs:on_train_begin({})
    local logs = {}
    local first = true
    local resume = backup and Backup.restore(backup, model, optimizer, cbs, world)
    local from_epoch = initial_epoch + 1
    if resume then
      from_epoch = resume.epoch_done and resume.epoch + 1 or resume.epoch
      if resume.stopped then from_epoch = epochs + 1 end
    end
    for epoch = from_epoch, epochs do
      model:train(true)
      local tracker = new_tracker(c)
      cbs:on_epoch_begin(epoch, {})
      local within = resume and not resume.epoch_done and resume.epoch == epoch and resume or nil
      resume = nil
      local batches, position = nil, nil
      if loader then batches, position = loader:iter(within and within.loader) end
      local perm = within and within.perm
        or (not loader and shuffle and (world and world:permutation(n) or dnn.randperm(n)) or nil)
      if within and within.tracker then Backup.set_tracker_state(tracker, within.tracker) end
      for step = within and within.step + 1 or 1, steps do
        cbs:on_train_batch_begin(step, {})
        local start = (step - 1) * batch_size + 1
        local len = math.min(batch_size, n - start + 1)
        local global_len
        if world then start, len, global_len = world:shard(step, n, batch_size) end
        local xb, yb
        if batches then
          xb, yb, len = loader_batch(batches, fname)
        elseif perm then
          local idx = perm:narrow(1, start, len)
          xb, yb = select_all(xs, idx), select_all(ys, idx)
        else
          xb, yb = narrow_all(xs, start, len), narrow_all(ys, start, len)
        end
        local outputs, preds = forward_for_loss(model, c, model_arg(xb, x_was_list, model), fused)
        local loss, parts = compute_loss(c, fname, yb, outputs, class_weight, first, fused)
        local reg = model:regularization_loss()
        if reg then loss = loss + reg end
        if first then
          -- a model built lazily by its first batch: the optimizer gets its weights now.
          local p = model:parameters()
          if #optimizer.params ~= #p then optimizer.params = p end
          first = false
        end
        optimizer:zero_grad()
        if world then -- the gradients summed over the ranks while backward runs (the global batch's)
          world:backward(loss, optimizer.params, len, global_len)
        else
          loss:backward()
        end
        for i, part in pairs(parts) do parts[i] = part:item() end
        local loss_value, count = loss:item(), len
        if world then -- the step's loss summed over the ranks
          loss_value, parts, count = world:sync_loss(len, global_len, loss_value, parts, c.n_outputs)
        end
        optimizer:step()
        tracker:add(loss_value, parts, count)
        dnn.no_grad(function() tracker:update_metrics(yb, preds) end)
        cbs:on_train_batch_end(step, tracker:logs())
        if world then model.stop_training = world:any(model.stop_training) end
        if model.stop_training then break end
        if backup and backup.save_freq ~= "epoch" and ((epoch - 1) * steps + step) % backup.save_freq == 0 then
          Backup.save(backup, model, optimizer, cbs, {epoch = epoch, step = step, perm = perm,
                                                      loader = position and position(), tracker = tracker}, world)
        end
      end
      if world then world:end_epoch(model, c.metrics) end
      logs = tracker:logs()
      if vxs then
        local val = test_loop(model, c, fname, vxs, x_was_list, vys, nv, val_batch, cbs)
        for k, v in pairs(val) do logs["val_" .. k] = v end
      end
      if world then logs = world:agree_logs(logs) end
      cbs:on_epoch_end(epoch, logs)
      if world then model.stop_training = world:any(model.stop_training) end
      if backup then
        Backup.save(backup, model, optimizer, cbs,
          {epoch = epoch, step = steps, epoch_done = true, stopped = model.stop_training}, world)
      end
      if model.stop_training then break end
    end
    cbs:on_train_end(logs)
    return history
  end)
end

-- model:evaluate(x, y, {batch_size = 32, verbose = 1, callbacks}) -> loss, metrics
-- (metrics by name: metrics.accuracy; metrics.loss is the loss again);
-- with return_dict = true, only the metrics table (Keras's dict).
function M.evaluate(model, x, y, options)
  local fname = "evaluate"
  local c = compiled(model, fname)
  if is_loader(x) then -- evaluate(loader, {...})
    if options ~= nil then error("evaluate: with a DataLoader, the options come second: evaluate(loader, {...})", 2) end
    options, y = y, nil
  end
  options = check_options(options, set_of{"batch_size", "verbose", "callbacks", "return_dict"}, fname)
  local batch_size = check_batch_size(options.batch_size, fname)
  local verbose = verbosity(options.verbose, fname)
  if options.return_dict ~= nil and type(options.return_dict) ~= "boolean" then
    error(string.format("evaluate: expected return_dict true or false, got %s", type(options.return_dict)), 2)
  end
  local x_was_list, xs, ys, n, steps
  if is_loader(x) then
    if x.y == nil then error("evaluate: the DataLoader gives no labels (y)", 2) end
    x_was_list, xs, n, steps = false, x, x.n, #x
  else
    x_was_list = not dnn.is_tensor(x) and not plain_data(x)
    xs = as_list(x, "x", model_inputs(model), fname)
    if y == nil then error("evaluate: expected labels y, got nil", 2) end
    ys = as_list(y, "y", c.n_outputs, fname)
    local ny
    n, ny = samples(xs, "x", fname), samples(ys, "y", fname)
    if n ~= ny then
      error(string.format("evaluate: x and y have different numbers of samples: %d and %d", n, ny), 2)
    end
    if n == 0 then error("evaluate: x has no samples", 2) end
    steps = math.ceil(n / batch_size)
  end
  local extra = {}
  if verbose ~= 0 then extra[1] = M.ProgbarLogger() end
  local cbs = callback_list(options.callbacks, extra, model,
    {steps = steps, verbose = verbose, metrics = log_names(c), samples = n}, fname)
  local logs = keeping_mode(model, test_loop, model, c, fname, xs, x_was_list, ys, n, batch_size, cbs)
  if options.return_dict then return logs end
  return logs.loss, logs
end

-- model:predict(x, {batch_size = 32, verbose = 1}) -> the outputs for all of x,
-- batched under no_grad in inference mode (several outputs: several values).
function M.predict(model, x, options)
  local fname = "predict"
  options = check_options(options, set_of{"batch_size", "verbose", "callbacks"}, fname)
  local batch_size = check_batch_size(options.batch_size, fname)
  local verbose = verbosity(options.verbose, fname)
  local loader = is_loader(x) and x
  local x_was_list, xs, n, steps
  if loader then
    x_was_list, n, steps = false, loader.n, #loader
  else
    x_was_list = not dnn.is_tensor(x) and not plain_data(x)
    xs = as_list(x, "x", model_inputs(model), fname)
    n = samples(xs, "x", fname)
    if n == 0 then error("predict: x has no samples", 2) end
    steps = math.ceil(n / batch_size)
  end
  local extra = {}
  if verbose ~= 0 and dnn.isatty(1) then extra[1] = M.ProgbarLogger() end
  local cbs = callback_list(options.callbacks, extra, model, {steps = steps, verbose = verbose, samples = n}, fname)
  return keeping_mode(model, function()
    model:train(false)
    cbs:on_predict_begin({})
    local chunks = {}
    local batches = loader and loader:iter()
    for step = 1, steps do
      cbs:on_predict_batch_begin(step, {})
      local xb
      if batches then
        xb = loader_batch(batches, fname)
      else
        local start = (step - 1) * batch_size + 1
        xb = narrow_all(xs, start, math.min(batch_size, n - start + 1))
      end
      local preds = table.pack(dnn.no_grad(function() return model(model_arg(xb, x_was_list, model)) end))
      for i = 1, preds.n do
        chunks[i] = chunks[i] or {}
        chunks[i][step] = preds[i]
      end
      cbs:on_predict_batch_end(step, {outputs = preds[1]})
    end
    cbs:on_predict_end({})
    local out = {}
    for i, list in ipairs(chunks) do out[i] = #list == 1 and list[1] or dnn.cat(list, 1) end
    return table.unpack(out)
  end)
end

return M
