-- What bench/mlp.lua and bench/cnn.lua share: the data, the training loop,
-- timing and peak memory. Loaded with dofile from the script's folder:
--   local common = dofile((arg[0]:match("^(.*)/") or ".") .. "/common.lua")
local dnn = require "dnn"

local common = {}

-- Peak resident set size of this process so far, in MiB (Linux: VmHWM).
function common.peak_rss_mb()
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^VmHWM:%s+(%d+)")
    if kb then return tonumber(kb) / 1024 end
  end
end

-- Fashion-MNIST's training images as an n x ...shape tensor and its labels;
-- 60000 random images (labels 1..10 in turn) when the dataset is absent.
function common.fashion_mnist(...)
  local ok, train = pcall(dnn.datasets.fashion_mnist)
  if ok then return train.x:reshape(-1, ...), train.y end
  local labels = {}
  for i = 1, 60000 do labels[i] = i % 10 + 1 end
  return dnn.rand(60000, ...), dnn.tensor(labels)
end

-- A function running count training steps on consecutive batches of x, y
-- (wrapping around), one optimizer step each.
function common.trainer(model, opt, loss_fn, x, y, batch)
  local n = x.shape[1]
  return function(count)
    for s = 1, count do
      local start = ((s - 1) * batch) % (n - batch) + 1
      local xb, yb = x:narrow(1, start, batch), y:narrow(1, start, batch)
      local loss = loss_fn(yb, model(xb))
      opt:zero_grad()
      loss:backward()
      opt:step()
    end
  end
end

-- Seconds that fn(...) takes.
function common.seconds(fn, ...)
  local t0 = dnn.wall_time()
  fn(...)
  return dnn.wall_time() - t0
end

-- Runs run(warmup) (allocator, thread pool, page faults; default 2), then times run(steps) of batch examples each
-- and prints <prefix>_samples_per_s, <prefix>_ms_per_step and <prefix>_peak_rss_mb (bench/run.sh reads them by
-- name). Returns the seconds.
function common.report(prefix, run, steps, batch, warmup)
  run(warmup or 2)
  local elapsed = common.seconds(run, steps)
  print(string.format("%s_samples_per_s %.1f", prefix, steps * batch / elapsed))
  print(string.format("%s_ms_per_step %.3f", prefix, elapsed / steps * 1000))
  print(string.format("%s_peak_rss_mb %.1f", prefix, common.peak_rss_mb()))
  return elapsed
end

return common
