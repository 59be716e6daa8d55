-- Benchmark: LSTM(256) on batches of 64 sequences of 100 steps of 128
-- features (random data), then Dense(10) on the last output: inference
-- samples/s (no graph) and its peak RSS, then training samples/s
-- (sparse categorical cross-entropy, Adam) and the peak RSS after it.
-- bench/lstm_torch.py runs the same in PyTorch (nn.LSTM).
-- Usage: dnnlua bench/lstm.lua [steps] [threads]
local dnn = require "dnn"
local nn = dnn.nn
local common = dofile((arg[0]:match("^(.*)/") or ".") .. "/common.lua")

local steps = tonumber(arg and arg[1]) or 20
local threads = tonumber(arg and arg[2])
if threads then dnn.set_num_threads(threads) end
local batch, timesteps, features, units = 64, 100, 128, 256

dnn.manual_seed(1)
local n = 8 * batch
local x = dnn.rand(n, timesteps, features)
local labels = {}
for i = 1, n do labels[i] = i % 10 + 1 end
local y = dnn.tensor(labels)

local model = nn.Sequential{nn.Input{timesteps, features}, nn.LSTM(units), nn.Dense(10)}
local opt = dnn.optim.Adam{learning_rate = 1e-3, params = model:parameters()}
local loss_fn = dnn.losses.sparse_categorical_crossentropy{from_logits = true}

model:eval()
local function infer(count)
  dnn.no_grad(function()
    for s = 1, count do model(x:narrow(1, ((s - 1) * batch) % (n - batch) + 1, batch)) end
  end)
end
common.report("lstm_infer", infer, steps, batch)

model:train()
common.report("lstm_train", common.trainer(model, opt, loss_fn, x, y, batch), steps, batch)
