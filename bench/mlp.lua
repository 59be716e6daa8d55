-- Benchmark: trains the 784-512-512-10 MLP of examples/train_mlp.lua (batch
-- 128, Adam) for a fixed number of steps on Fashion-MNIST (random data when
-- the dataset is absent) and prints samples/s and peak RSS; then the time of
-- tiny ops. Usage: dnnlua bench/mlp.lua [steps] [threads]
local dnn = require "dnn"
local nn = dnn.nn

local steps = tonumber(arg and arg[1]) or 300
local threads = tonumber(arg and arg[2])
if threads then dnn.set_num_threads(threads) end
local batch = 128

local function peak_rss_mb()
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^VmHWM:%s+(%d+)")
    if kb then return tonumber(kb) / 1024 end
  end
end

dnn.manual_seed(1)
local ok, train = pcall(dnn.datasets.fashion_mnist)
local x, y
if ok then
  x, y = train.x:reshape(-1, 784), train.y
else
  local labels = {}
  for i = 1, 60000 do labels[i] = i % 10 + 1 end
  x, y = dnn.rand(60000, 784), dnn.tensor(labels)
end

local model = nn.Sequential{
  nn.Dense(512, {input_shape = {784}, activation = "relu"}),
  nn.Dense(512, {activation = "relu"}),
  nn.Dense(10, {activation = "softmax"}),
}
local opt = dnn.optim.Adam{learning_rate = 1e-3, params = model:parameters()}
local loss_fn = dnn.losses.sparse_categorical_crossentropy
local n = x.shape[1]

local function train_steps(count)
  for s = 1, count do
    local start = ((s - 1) * batch) % (n - batch) + 1
    local xb, yb = x:narrow(1, start, batch), y:narrow(1, start, batch)
    local loss = loss_fn(yb, model(xb))
    opt:zero_grad()
    loss:backward()
    opt:step()
  end
end

train_steps(20) -- warm up: allocator, thread pool, page faults
local t0 = dnn.wall_time()
train_steps(steps)
local elapsed = dnn.wall_time() - t0
print(string.format("mlp_train_samples_per_s %.1f", steps * batch / elapsed))
print(string.format("mlp_train_ms_per_step %.3f", elapsed / steps * 1000))

-- tiny ops: a 1-element add, without and with grad recording
local function time_op(fn, count)
  fn()
  local start = dnn.wall_time()
  for _ = 1, count do fn() end
  return (dnn.wall_time() - start) / count * 1e6
end
local a, b = dnn.tensor{1}, dnn.tensor{2}
local ga, gb = dnn.tensor({1}, {requires_grad = true}), dnn.tensor({2}, {requires_grad = true})
print(string.format("tiny_add_us %.3f", time_op(function() return a + b end, 1000000)))
print(string.format("tiny_add_grad_us %.3f", time_op(function() return ga + gb end, 1000000)))
print(string.format("peak_rss_mb %.1f", peak_rss_mb()))
