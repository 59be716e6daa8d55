-- The training step bench/profile.sh profiles: bench/mlp.lua's MLP (batch
-- 128) or bench/cnn.lua's CNN (batch 64), Adam, on random data (no file to
-- read, so the profile is the step alone), a few warm-up steps first.
-- Usage: dnnlua bench/profile.lua mlp|cnn [steps] [threads]
local dnn = require "dnn"
local nn = dnn.nn
local common = dofile((arg[0]:match("^(.*)/") or ".") .. "/common.lua")

local which = arg[1]
assert(which == "mlp" or which == "cnn", "usage: dnnlua bench/profile.lua mlp|cnn [steps] [threads]")
local steps = tonumber(arg[2]) or 100
if tonumber(arg[3]) then dnn.set_num_threads(tonumber(arg[3])) end

dnn.manual_seed(1)
local model, x, batch
if which == "mlp" then
  batch, x = 128, dnn.rand(4096, 784)
  model = nn.Sequential{
    nn.Dense(512, {input_shape = {784}, activation = "relu"}),
    nn.Dense(512, {activation = "relu"}),
    nn.Dense(10, {activation = "softmax"}),
  }
else
  batch, x = 64, dnn.rand(2048, 28, 28, 1)
  model = nn.Sequential{
    nn.Input{28, 28, 1},
    nn.Conv2D(16, 3, {padding = "same", use_bias = false}), nn.BatchNormalization{momentum = 0.9},
    nn.Activation("relu"), nn.MaxPooling2D(2),
    nn.Conv2D(32, 3, {padding = "same", use_bias = false}), nn.BatchNormalization{momentum = 0.9},
    nn.Activation("relu"), nn.MaxPooling2D(2),
    nn.Flatten(), nn.Dropout(0.2), nn.Dense(128, {activation = "relu"}), nn.Dropout(0.2),
    nn.Dense(10, {activation = "softmax"}),
  }
end
local labels = {}
for i = 1, x.shape[1] do labels[i] = i % 10 + 1 end
local opt = dnn.optim.Adam{learning_rate = 1e-3, params = model:parameters()}
local train_steps = common.trainer(model, opt, dnn.losses.sparse_categorical_crossentropy, x, dnn.tensor(labels), batch)
train_steps(5)
local elapsed = common.seconds(train_steps, steps)
print(string.format("%s_profile_ms_per_step %.3f", which, elapsed / steps * 1000))
