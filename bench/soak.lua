-- Soak: a long fit and a long custom loop, with no collectgarbage() call,
-- sampling resident memory (RSS) every `every` steps. After a warm-up (the
-- first tenth of the steps) the footprint must stay flat: the drift is the
-- largest sample after it against the sample that ends it.
--
--   dnnlua bench/soak.lua [steps = 10000] [every = 100] [max_drift = 0.05] [steps_per_epoch = 100]
--
-- Prints one line per phase and exits 1 when a phase drifts by more than
-- max_drift (a fraction).
local dnn = require "dnn"
local nn = dnn.nn

local steps = tonumber(arg and arg[1]) or 10000
local every = tonumber(arg and arg[2]) or 100
local max_drift = tonumber(arg and arg[3]) or 0.05
local per_epoch = tonumber(arg and arg[4]) or 100
local batch, features, classes = 32, 64, 10

local function rss_kb()
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^VmRSS:%s+(%d+)")
    if kb then return tonumber(kb) end
  end
end

local function model()
  local m = nn.Sequential{
    nn.Dense(128, {input_shape = {features}, activation = "relu"}),
    nn.Dropout(0.1),
    nn.Dense(128, {activation = "relu"}),
    nn.Dense(classes, {activation = "softmax"}),
  }
  return m
end

-- Samples (one per `every` steps) -> the warm-up's last, the largest and
-- the last after it, and the drift.
local function summary(samples)
  local warm = math.max(1, #samples // 10)
  local base, peak = samples[warm], 0
  for i = warm + 1, #samples do peak = math.max(peak, samples[i]) end
  return {base = base, peak = peak, last = samples[#samples], drift = (peak - base) / base}
end

local function report(name, s, t)
  print(string.format("%-12s %d steps in %.1f s: RSS after warm-up %.1f MB, peak after %.1f MB, last %.1f MB, " ..
    "drift %+.2f%%", name, steps, t, s.base / 1024, s.peak / 1024, s.last / 1024, 100 * s.drift))
end

dnn.manual_seed(1)
local n = batch * per_epoch
local x = dnn.randn(n, features)
local labels = {}
for i = 1, n do labels[i] = i % classes + 1 end
local y = dnn.one_hot(dnn.tensor(labels), classes)

-- ---- fit ----
local m = model()
m:compile{optimizer = dnn.optim.Adam{learning_rate = 1e-3}, loss = "categorical_crossentropy",
          metrics = {"accuracy"}}
local fit_samples, step = {}, 0
local sampler = dnn.callbacks.LambdaCallback{on_train_batch_end = function()
  step = step + 1
  if step % every == 0 then fit_samples[#fit_samples + 1] = rss_kb() end
end}
local t0 = dnn.wall_time()
m:fit(x, y, {epochs = math.ceil(steps / per_epoch), batch_size = batch, verbose = 0, callbacks = {sampler}})
local fit = summary(fit_samples)
report("fit", fit, dnn.wall_time() - t0)

-- ---- custom loop ----
local m2 = model()
m2:build({-1, features})
local opt = dnn.optim.Adam{learning_rate = 1e-3, params = m2:parameters()}
local loop_samples = {}
t0 = dnn.wall_time()
for s = 1, steps do
  local start = ((s - 1) * batch) % n + 1
  local xb, yb = x:narrow(1, start, batch), y:narrow(1, start, batch)
  local loss = dnn.losses.categorical_crossentropy(yb, m2(xb, {training = true}))
  opt:zero_grad()
  loss:backward()
  opt:step()
  if s % every == 0 then loop_samples[#loop_samples + 1] = rss_kb() end
end
local loop = summary(loop_samples)
report("custom loop", loop, dnn.wall_time() - t0)

if fit.drift > max_drift or loop.drift > max_drift then
  print(string.format("FAIL: drift above %.1f%%", 100 * max_drift))
  os.exit(1)
end
