-- A checkpoint written by N ranks resumes on M ranks (issue 19). Run by
-- tests/distributed/run.sh:
--   mpirun -np N dnnlua resume.lua write N B CKPT
--     one epoch of 10 global batches on N ranks, then dnn.checkpoint.save (rank 0 writes)
--   dnnlua resume.lua reference M B CKPT OUT
--     loads CKPT in one process, one more epoch with batch M*B, writes OUT
--   mpirun -np M dnnlua resume.lua resume M B CKPT OUT
--     loads CKPT on every rank, one more epoch with batch B; rank 0 compares with OUT
-- The model is the equivalence test's MLP (no dropout, no batch norm).
local mode, M, B, ckpt, path = arg[1], tonumber(arg[2]), tonumber(arg[3]), arg[4], arg[5]
local nn = dnn.nn
local STEPS = 10

local size = 1
if mode ~= "reference" then _, size = dnn.distributed.init() end
local world = M
local n = STEPS * world * B
-- the first Fashion-MNIST images, from the file data.lua wrote
local train = dnn.load_safetensors(assert(os.getenv("DIST_TEST_DATA"), "set DIST_TEST_DATA (tests/distributed/run.sh)"))
assert(train.x.shape[1] >= n, "not enough images in DIST_TEST_DATA")
local x, y = train.x:narrow(1, 1, n), train.y:narrow(1, 1, n)

dnn.manual_seed(11)
local model = nn.Sequential{nn.Input{28, 28, 1}, nn.Flatten(), nn.Dense(32, {activation = "relu"}),
                            nn.Dense(10, {activation = "softmax"})}
model:compile{optimizer = "adam", loss = "sparse_categorical_crossentropy"}
local batch = mode == "reference" and M * B or B

if mode == "write" then
  model:fit(x, y, {epochs = 1, batch_size = batch, verbose = 0})
  dnn.checkpoint.save(ckpt, {model = model, epoch = 1})
  if dnn.distributed.rank() == 0 then
    print(string.format("checkpoint written by %d ranks after %d steps", size, model.compiled.optimizer.iterations))
  end
  return
end

local info = dnn.checkpoint.load(ckpt, {model = model})
assert(info.epoch == 1, "expected the checkpoint of epoch 1")
assert(model.compiled.optimizer.iterations == STEPS, "the optimizer's step count was not restored")
model:fit(x, y, {epochs = 2, initial_epoch = info.epoch, batch_size = batch, verbose = 0})
assert(model.compiled.optimizer.iterations == 2 * STEPS,
  string.format("expected %d steps in all, got %d", 2 * STEPS, model.compiled.optimizer.iterations))

if mode == "reference" then
  model:save_weights(path)
  return
end

local reference = dnn.load_safetensors(path)
local worst = 0
for _, w in ipairs(model:named_weights()) do
  worst = math.max(worst, (w.tensor - reference[w.name]):abs():max():item())
end
local t = dnn.distributed.allreduce(dnn.tensor({worst}), {op = "max"})
if dnn.distributed.rank() == 0 then
  print(string.format("resumed on %d ranks: max |w - w_ref| = %.3g after %d more steps", size, t:item(), STEPS))
end
if t:item() > 1e-5 then error(string.format("resume on %d ranks: max difference %.3g > 1e-5", size, t:item())) end
