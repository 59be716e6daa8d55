-- Fused attention, forward + backward: milliseconds per call and peak RSS
-- at T = 128, 512, 2048 (H = 4 heads, d = 64, self-attention), beside the
-- explicit softmax(q k^T / sqrt(d)) v of matmul and softmax ops (O(T^2)
-- memory), each size in a fresh process so that its peak RSS is its own.
--   dnnlua bench/attention.lua [THREADS] [BATCH]          -- the table
--   dnnlua bench/attention.lua THREADS BATCH T fused|explicit [CAUSAL]  -- one run
local dnn = require "dnn"
local common = dofile((arg[0]:match("^(.*)/") or ".") .. "/common.lua")

local threads, batch = tonumber(arg[1] or "1"), tonumber(arg[2] or "1")
local heads, d = 4, 64

local function explicit(q, k, v, causal)
  local s = dnn.matmul(q, k:transpose(3, 4)) * (1 / math.sqrt(d))
  if causal then
    local t = q.shape[3]
    local tri = dnn.ones(t, t)
    for i = 1, t - 1 do tri[i]:narrow(1, i + 1, t - i):fill(0) end
    s = s + (tri - 1) * 1e30
  end
  return dnn.matmul(s:softmax(-1), v)
end

local function one_run(t, kind, causal)
  dnn.set_num_threads(threads)
  dnn.manual_seed(1)
  local q = dnn.randn(batch, heads, t, d, {requires_grad = true})
  local k = dnn.randn(batch, heads, t, d, {requires_grad = true})
  local v = dnn.randn(batch, heads, t, d, {requires_grad = true})
  local gy = dnn.randn(batch, heads, t, d)
  collectgarbage()
  local base = common.peak_rss_mb()
  local function step()
    local y = kind == "fused" and dnn.scaled_dot_product_attention(q, k, v, {causal = causal}) or
      explicit(q, k, v, causal)
    local loss = (y * gy):sum()
    loss:backward()
    q.grad, k.grad, v.grad = nil, nil, nil
  end
  step() -- warm-up
  local reps = t >= 2048 and 3 or t >= 512 and 10 or 40
  local seconds = common.seconds(function() for _ = 1, reps do step() end end)
  print(string.format("attention_ms %.2f", seconds / reps * 1000))
  print(string.format("peak_rss_mb %.1f", common.peak_rss_mb()))
  print(string.format("extra_rss_mb %.1f", common.peak_rss_mb() - base))
end

if arg[3] then
  one_run(tonumber(arg[3]), arg[4] or "fused", arg[5] == "causal")
  return
end

local value = function(out, key) return tonumber(out:match(key .. " ([%d.]+)")) end
local self_cmd = string.format("%s %s %d %d", arg[-1] or "dnnlua", arg[0], threads, batch)
print(string.format("dnnlua attention, forward + backward, batch %d, %d heads, d %d, %d threads", batch, heads, d,
  threads))
print(string.format("%-6s %-9s %-7s %12s %14s %14s", "T", "kind", "mask", "ms", "peak RSS MiB", "extra MiB"))
for _, t in ipairs{128, 512, 2048} do
  for _, kind in ipairs{"fused", "explicit"} do
    for _, mask in ipairs{"none", "causal"} do
      local p = assert(io.popen(string.format("%s %d %s %s", self_cmd, t, kind, mask)))
      local out = p:read("a")
      p:close()
      print(string.format("%-6d %-9s %-7s %12.2f %14.1f %14.1f", t, kind, mask, value(out, "attention_ms"),
        value(out, "peak_rss_mb"), value(out, "extra_rss_mb")))
    end
  end
end
