-- Benchmark: batch-256 inference of train_cnn's CNN (examples/lib/fashion_cnn.lua, eval mode) and the
-- 784-512-512-10 MLP of examples/train_mlp.lua in dnnlua and, with the same weights exported by dnn.onnx.export,
-- in ONNX Runtime (npm onnxruntime-node, run by bench/ort_infer.js under node at intraOpNumThreads = the thread
-- count). Rounds alternate dnnlua and ONNX Runtime; each figure is the median of its rounds. Prints
--   cnn_infer_samples_per_s, ort_cnn_infer_samples_per_s, cnn_infer_ort_ratio, and the same for mlp_; the
--   *_cpu_* keys count samples per second of CPU time (all threads), steadier than wall time on a busy machine
-- (the ort_ keys only when node and onnxruntime-node are found: build/onnxruntime/node_modules, installed by
-- scripts/setup_onnxruntime.sh, or DNN_ONNXRUNTIME_MODULES).
-- Usage: dnnlua bench/infer.lua [steps] [threads] [rounds]
local dnn = require "dnn"
local nn = dnn.nn
local here = arg[0]:match("^(.*)/") or "."

local steps = tonumber(arg and arg[1]) or 20
local threads = tonumber(arg and arg[2]) or dnn.get_num_threads()
local rounds = tonumber(arg and arg[3]) or 3
dnn.set_num_threads(threads)
local batch = 256

local function sh_ok(cmd) return os.execute(cmd .. " >/dev/null 2>&1") == true end
local modules = os.getenv("DNN_ONNXRUNTIME_MODULES") or (here .. "/../build/onnxruntime/node_modules")
local have_ort = sh_ok("command -v node") and sh_ok("test -f '" .. modules .. "/onnxruntime-node/package.json'")
if not have_ort then io.stderr:write("bench/infer.lua: node or onnxruntime-node not found: dnnlua only\n") end

dnn.manual_seed(1)
local cnn = dofile(here .. "/../examples/lib/fashion_cnn.lua"){}
-- moving statistics that are not the initial ones, as after training
dnn.no_grad(function()
  for _, layer in ipairs(cnn.layers) do
    if layer.moving_mean then
      layer.moving_mean:copy(dnn.randn(layer.moving_mean.shape) * 0.1)
      layer.moving_variance:copy(dnn.rand(layer.moving_variance.shape) + 0.5)
    end
  end
end)
local mlp = nn.Sequential{
  nn.Dense(512, {input_shape = {784}, activation = "relu"}),
  nn.Dense(512, {activation = "relu"}),
  nn.Dense(10, {activation = "softmax"}),
}

local tmp = os.tmpname()
os.remove(tmp)
assert(os.execute("mkdir -p " .. tmp))

local function median(t)
  table.sort(t)
  local n = #t
  return n % 2 == 1 and t[(n + 1) // 2] or (t[n // 2] + t[n // 2 + 1]) / 2
end

local function ours(model, x)
  local run = function(count)
    dnn.no_grad(function()
      for _ = 1, count do model(x) end
    end)
  end
  run(20) -- warm-up, as many runs as bench/ort_infer.js gives ONNX Runtime: after 3, the threads and the clock
  -- were still cold (2-thread MLP: 83,000 samples/s against 120,000)
  local t0, c0 = dnn.wall_time(), os.clock()
  run(steps)
  return steps * batch / (dnn.wall_time() - t0), steps * batch / (os.clock() - c0)
end

local function ort(path, key, shape)
  local p = assert(io.popen(string.format("NODE_PATH='%s' node '%s/ort_infer.js' '%s' %s %d %d %s 2>&1", modules, here,
    path, key, threads, steps, table.concat(shape, ","))))
  local out = p:read("a")
  p:close()
  local v, cpu = tonumber(out:match(key .. " ([%d.]+)")), tonumber(out:match(key .. "_cpu ([%d.]+)"))
  assert(v and cpu, "ONNX Runtime failed: " .. out)
  return v, cpu
end

for _, case in ipairs{{"cnn", cnn, {batch, 28, 28, 1}}, {"mlp", mlp, {batch, 784}}} do
  local name, model, shape = case[1], case[2], case[3]
  model:eval()
  local x = dnn.rand(shape)
  local path = tmp .. "/" .. name .. ".onnx"
  if have_ort then dnn.onnx.export(model, path) end
  local a, b, ac, bc = {}, {}, {}, {}
  for r = 1, rounds do
    a[r], ac[r] = ours(model, x)
    if have_ort then b[r], bc[r] = ort(path, "ort", shape) end
  end
  print(string.format("%s_infer_samples_per_s %.1f", name, median(a)))
  print(string.format("%s_infer_cpu_samples_per_s %.1f", name, median(ac)))
  if have_ort then
    print(string.format("ort_%s_infer_samples_per_s %.1f", name, median(b)))
    print(string.format("ort_%s_infer_cpu_samples_per_s %.1f", name, median(bc)))
    print(string.format("%s_infer_ort_ratio %.2f", name, median(a) / median(b)))
    print(string.format("%s_infer_ort_cpu_ratio %.2f", name, median(ac) / median(bc)))
  end
end
os.execute("rm -rf '" .. tmp .. "'")
