-- Benchmark: trains the 784-512-512-10 MLP of examples/train_mlp.lua (batch
-- 128, Adam) for a fixed number of steps on Fashion-MNIST (random data when
-- the dataset is absent) and prints samples/s and peak RSS; then the time of
-- tiny ops. Usage: dnnlua bench/mlp.lua [steps] [threads]
local dnn = require "dnn"
local nn = dnn.nn
local common = dofile((arg[0]:match("^(.*)/") or ".") .. "/common.lua")

local steps = tonumber(arg and arg[1]) or 300
local threads = tonumber(arg and arg[2])
if threads then dnn.set_num_threads(threads) end
local batch = 128

dnn.manual_seed(1)
local x, y = common.fashion_mnist(784)

local model = nn.Sequential{
  nn.Dense(512, {input_shape = {784}, activation = "relu"}),
  nn.Dense(512, {activation = "relu"}),
  nn.Dense(10, {activation = "softmax"}),
}
local opt = dnn.optim.Adam{learning_rate = 1e-3, params = model:parameters()}
local loss_fn = dnn.losses.sparse_categorical_crossentropy
local train_steps = common.trainer(model, opt, loss_fn, x, y, batch)

train_steps(20) -- warm up: allocator, thread pool, page faults
local elapsed = common.seconds(train_steps, steps)
print(string.format("mlp_train_samples_per_s %.1f", steps * batch / elapsed))
print(string.format("mlp_train_ms_per_step %.3f", elapsed / steps * 1000))

-- tiny ops: a 1-element add, without and with grad recording
local function time_op(fn, count)
  fn()
  return common.seconds(function()
    for _ = 1, count do fn() end
  end) / count * 1e6
end
local a, b = dnn.tensor{1}, dnn.tensor{2}
local ga, gb = dnn.tensor({1}, {requires_grad = true}), dnn.tensor({2}, {requires_grad = true})
print(string.format("tiny_add_us %.3f", time_op(function() return a + b end, 1000000)))
print(string.format("tiny_add_grad_us %.3f", time_op(function() return ga + gb end, 1000000)))
print(string.format("peak_rss_mb %.1f", common.peak_rss_mb()))
