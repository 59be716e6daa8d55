-- Benchmark: one TransformerEncoder block (d = 128, 4 heads, intermediate
-- 512, post-norm, no dropout) on batches of 32 sequences of 128 steps
-- (random data): inference samples/s (no graph) and its peak RSS, then
-- training samples/s (Adam on the mean of the output squared) and the peak
-- RSS after it. bench/transformer_torch.py runs the same in PyTorch
-- (nn.TransformerEncoderLayer).
-- Usage: dnnlua bench/transformer.lua [steps] [threads]
local dnn = require "dnn"
local nn = dnn.nn
local common = dofile((arg[0]:match("^(.*)/") or ".") .. "/common.lua")

local steps = tonumber(arg and arg[1]) or 20
local threads = tonumber(arg and arg[2])
if threads then dnn.set_num_threads(threads) end
local batch, timesteps, dim, heads, intermediate = 32, 128, 128, 4, 512

dnn.manual_seed(1)
local n = 8 * batch
local x = dnn.rand(n, timesteps, dim)
local model = nn.Sequential{nn.Input{timesteps, dim}, nn.TransformerEncoder{intermediate_dim = intermediate,
                                                                            num_heads = heads}}
local opt = dnn.optim.Adam{learning_rate = 1e-3, params = model:parameters()}

local function batch_at(s) return x:narrow(1, ((s - 1) * batch) % (n - batch) + 1, batch) end

model:eval()
local function infer(count)
  dnn.no_grad(function()
    for s = 1, count do model(batch_at(s)) end
  end)
end
common.report("transformer_infer", infer, steps, batch)

model:train()
local function train_steps(count)
  for s = 1, count do
    local y = model(batch_at(s))
    local loss = (y * y):mean()
    opt:zero_grad()
    loss:backward()
    opt:step()
  end
end
common.report("transformer_train", train_steps, steps, batch)
