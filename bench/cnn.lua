-- Benchmark: the CNN of examples/train_cnn.lua (Conv2D(16, 3, same)-BN-relu-
-- MaxPool-Conv2D(32, 3, same)-BN-relu-MaxPool-Flatten-Dropout-Dense(128)-
-- Dropout-Dense(10, softmax)) on Fashion-MNIST (random data when the dataset
-- is absent): inference samples/s (batch 500, no graph) and its peak RSS,
-- then training samples/s (batch 64, Adam) and the peak RSS after it; then
-- the share of a training step spent in GEMM, estimated by timing dnn.matmul
-- alone on the GEMM shapes a step runs (each convolution is one im2col GEMM
-- over the batch forward, and one each for the kernel's and the input's
-- gradients; the Dense layers likewise).
-- Usage: dnnlua bench/cnn.lua [steps] [threads]
local dnn = require "dnn"
local nn = dnn.nn
local common = dofile((arg[0]:match("^(.*)/") or ".") .. "/common.lua")

local steps = tonumber(arg and arg[1]) or 60
local threads = tonumber(arg and arg[2])
if threads then dnn.set_num_threads(threads) end
local batch, infer_batch = 64, 500

dnn.manual_seed(1)
local x, y = common.fashion_mnist(28, 28, 1)
local n = x.shape[1]

local model = nn.Sequential{
  nn.Input{28, 28, 1},
  nn.Conv2D(16, 3, {padding = "same", use_bias = false}), nn.BatchNormalization{momentum = 0.9},
  nn.Activation("relu"), nn.MaxPooling2D(2),
  nn.Conv2D(32, 3, {padding = "same", use_bias = false}), nn.BatchNormalization{momentum = 0.9},
  nn.Activation("relu"), nn.MaxPooling2D(2),
  nn.Flatten(), nn.Dropout(0.2), nn.Dense(128, {activation = "relu"}), nn.Dropout(0.2),
  nn.Dense(10, {activation = "softmax"}),
}
local opt = dnn.optim.Adam{learning_rate = 1e-3, params = model:parameters()}
local loss_fn = dnn.losses.sparse_categorical_crossentropy

-- inference
model:eval()
local function infer(count)
  dnn.no_grad(function()
    for s = 1, count do
      local start = ((s - 1) * infer_batch) % (n - infer_batch) + 1
      model(x:narrow(1, start, infer_batch))
    end
  end)
end
local infer_steps = math.max(4, steps // 4)
common.report("cnn_infer", infer, infer_steps, infer_batch)

-- training
model:train()
local train_steps = common.trainer(model, opt, loss_fn, x, y, batch)
local step_ms = common.report("cnn_train", train_steps, steps, batch, 5) / steps * 1000

-- GEMM share: {m, k, n} of every product a training step runs, timed alone.
local B = batch
local gemms = {
  {B * 28 * 28, 9 * 1, 16}, {9 * 1, B * 28 * 28, 16}, -- conv 1: forward, kernel gradient (no input gradient)
  {B * 14 * 14, 9 * 16, 32}, {9 * 16, B * 14 * 14, 32}, {B * 14 * 14, 32, 9 * 16}, -- conv 2: forward, dW, dx
  {B, 1568, 128}, {1568, B, 128}, {B, 128, 1568}, -- dense: forward, dW, dx
  {B, 128, 10}, {128, B, 10}, {B, 10, 128}, -- dense_1
}
local mats = {}
for i, g in ipairs(gemms) do mats[i] = {dnn.rand(g[1], g[2]), dnn.rand(g[2], g[3])} end
local function all_gemms()
  for _, m in ipairs(mats) do dnn.matmul(m[1], m[2]) end
end
all_gemms()
local reps = math.max(5, steps // 4)
local gemm_ms = common.seconds(function()
  for _ = 1, reps do all_gemms() end
end) / reps * 1000
print(string.format("cnn_gemm_ms_per_step %.3f", gemm_ms))
print(string.format("cnn_gemm_share %.2f", gemm_ms / step_ms))
