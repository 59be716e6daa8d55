-- DistributedOptimizer in a custom training loop (issue 19): N ranks x batch
-- B with opt:backward(loss), whose exchanges run during backward, against one
-- process x batch N*B with loss:backward(), after 20 steps of Adam on the
-- first Fashion-MNIST images (no shuffling: global batch s is samples
-- (s-1)*N*B+1 .. s*N*B, rank r's share the r-th B of them). Run by
-- tests/distributed/run.sh:
--   dnnlua custom_loop.lua reference N B OUT         writes OUT
--   mpirun -np N dnnlua custom_loop.lua distributed N B REF [after]
--     rank 0 prints the largest difference from REF, which must be <= 1e-5;
--     "after" passes overlap = false (every bucket after backward)
local mode, N, B, path, how = arg[1], tonumber(arg[2]), tonumber(arg[3]), arg[4], arg[5]
assert(mode == "reference" or mode == "distributed", "usage: custom_loop.lua reference|distributed N B file [after]")
local nn = dnn.nn
local STEPS = 20

local rank = 0
if mode == "distributed" then
  local size
  rank, size = dnn.distributed.init()
  assert(size == N, string.format("expected a world of %d ranks, got %d", N, size))
end

local train = dnn.load_safetensors(assert(os.getenv("DIST_TEST_DATA"), "set DIST_TEST_DATA (tests/distributed/run.sh)"))
assert(train.x.shape[1] >= STEPS * N * B, "not enough images in DIST_TEST_DATA")

dnn.manual_seed(5)
local model = nn.Sequential{nn.Input{28, 28, 1}, nn.Flatten(), nn.Dense(32, {activation = "relu"}),
                            nn.Dense(16, {activation = "relu"}), nn.Dense(10, {activation = "softmax"})}
local opt = dnn.optim.Adam{learning_rate = 1e-3, params = model:parameters()}
if mode == "distributed" then
  -- a bucket per layer or so: several exchanges per step
  opt = dnn.distributed.DistributedOptimizer(opt, {bucket_bytes = 1024, overlap = how ~= "after"})
end
local loss_fn = dnn.losses.sparse_categorical_crossentropy

for step = 1, STEPS do
  local start, len = (step - 1) * N * B + 1, N * B
  if mode == "distributed" then start, len = start + rank * B, B end
  local loss = loss_fn(train.y:narrow(1, start, len), model(train.x:narrow(1, start, len)))
  opt:zero_grad()
  if mode == "distributed" then opt:backward(loss) else loss:backward() end
  opt:step()
end

if mode == "reference" then
  model:save_weights(path)
  return
end

-- A parameter only rank 0's loss uses gets the sum on every rank (the others
-- count as zeros); one no rank uses keeps no gradient; a leaf that is not a
-- parameter (x) is left alone.
if mode == "distributed" then
  local w, v, u = dnn.ones(3):requires_grad_(), dnn.ones(2):requires_grad_(), dnn.ones(4):requires_grad_()
  local x = dnn.tensor({1, 2, 3}):requires_grad_()
  local opt2 = dnn.distributed.DistributedOptimizer(dnn.optim.SGD{learning_rate = 1, params = {w, v, u}},
    {bucket_bytes = 8, overlap = how ~= "after"})
  local loss = (w * x):sum() * (rank + 1)
  if rank == 0 then loss = loss + (v * 3):sum() end
  opt2:backward(loss)
  local want_w = (N + 1) / 2 -- the mean of rank + 1 over the ranks
  assert(w.grad and (w.grad - dnn.tensor({1, 2, 3}) * want_w):abs():max():item() < 1e-6,
    "w's gradient is not the mean over the ranks")
  assert(v.grad and (v.grad - 3 / N):abs():max():item() < 1e-6,
    string.format("rank %d: v's gradient is not rank 0's over %d", rank, N))
  assert(u.grad == nil, "u, which no rank used, got a gradient")
  assert((x.grad - (rank + 1)):abs():max():item() == 0, "x, not a parameter, was summed")
end

local reference = dnn.load_safetensors(path)
local worst = 0
for _, w in ipairs(model:named_weights()) do
  worst = math.max(worst, (w.tensor - reference[w.name]):abs():max():item())
end
local t = dnn.distributed.allreduce(dnn.tensor({worst}), {op = "max"})
if rank == 0 then
  print(string.format("custom loop, DistributedOptimizer:backward on %d ranks (exchanges %s backward): "
    .. "max |w - w_ref| = %.3g after %d steps", N, how == "after" and "after" or "during", t:item(), STEPS))
end
if t:item() > 1e-5 then error(string.format("custom loop on %d ranks: max difference %.3g > 1e-5", N, t:item())) end
