-- N ranks x batch B against 1 process x batch N*B (issue 19): after 20 steps
-- of model:fit on the first Fashion-MNIST images, the weights must agree to
-- 1e-5. Run by tests/distributed/run.sh:
--   dnnlua equivalence.lua reference MODEL N B OUT   one process, batch N*B, writes OUT
--   mpirun -np N dnnlua equivalence.lua distributed MODEL N B REF
--     every rank trains with batch B; rank 0 prints the largest difference
--     from REF and fails above 1e-5.
-- MODEL is "mlp" or "cnn": no dropout and no batch norm, whose per-rank batch
-- statistics differ from the global batch's by design (docs/distributed.md).
local mode, model_name, N, B, path = arg[1], arg[2], tonumber(arg[3]), tonumber(arg[4]), arg[5]
local EXTRA = tonumber(arg[6] or "0")
assert(mode == "reference" or mode == "distributed",
  "usage: equivalence.lua reference|distributed mlp|cnn N B file [extra]")
local nn = dnn.nn
-- EXTRA samples after the 20 full global batches make a 21st, smaller one,
-- whose shards differ in size (each rank's gradient weighted by its share).
local STEPS = 20 + (EXTRA >= N and 1 or 0)

local overlap
if mode == "distributed" then
  local _, size = dnn.distributed.init()
  assert(size == N, string.format("expected a world of %d ranks, got %d", N, size))
  -- small buckets, so that every model's gradient spans several and the
  -- first starts while backward still runs (DNN_DIST_OVERLAP=0: all after it)
  overlap = dnn.distributed.configure{bucket_bytes = 16 * 1024, first_bucket_bytes = 1024}.overlap
  dnn.distributed.timings{reset = true}
end

local n = 20 * N * B + EXTRA
-- the first Fashion-MNIST images, from the file data.lua wrote
local train = dnn.load_safetensors(assert(os.getenv("DIST_TEST_DATA"), "set DIST_TEST_DATA (tests/distributed/run.sh)"))
assert(train.x.shape[1] >= n, "not enough images in DIST_TEST_DATA")

-- Rank 0's seed for all: broadcast_parameters would make them equal anyway,
-- but the reference must start from the same weights.
dnn.manual_seed(7)
local model
if model_name == "mlp" then
  model = nn.Sequential{nn.Input{28, 28, 1}, nn.Flatten(), nn.Dense(64, {activation = "relu"}), nn.Dense(10, {activation = "softmax"})}
else
  model = nn.Sequential{nn.Input{28, 28, 1}, nn.Conv2D(8, 3, {activation = "relu"}), nn.MaxPooling2D(2),
                        nn.Conv2D(8, 3, {activation = "relu"}), nn.MaxPooling2D(2), nn.Flatten(), nn.Dense(10, {activation = "softmax"})}
end
model:compile{optimizer = dnn.optim.Adam{learning_rate = 1e-3},
              loss = "sparse_categorical_crossentropy", metrics = {"accuracy"}}
local batch = mode == "reference" and N * B or B
local h = model:fit(train.x:narrow(1, 1, n), train.y:narrow(1, 1, n), {epochs = 1, batch_size = batch, verbose = 0})
assert(model.compiled.optimizer.iterations == STEPS,
  string.format("expected %d steps, took %d", STEPS, model.compiled.optimizer.iterations))

local loss, accuracy = h.history.loss[1], h.history.accuracy[1]
if mode == "reference" then
  model:save_weights(path)
  local f = assert(io.open(path .. ".logs", "w"))
  f:write(string.format("%.9g %.9g\n", loss, accuracy))
  f:close()
  print(string.format("reference %s: loss %.6f, accuracy %.4f", model_name, loss, accuracy))
  return
end

-- the epoch's logs are the global batch's (the loss) and all ranks' samples' (the metrics)
local f = assert(io.open(path .. ".logs"))
local ref_loss, ref_accuracy = f:read("n", "n")
f:close()
if math.abs(loss - ref_loss) > 1e-5 or math.abs(accuracy - ref_accuracy) > 1 / n then
  error(string.format("equivalence %s N=%d: logs loss %.6f accuracy %.4f, one process: %.6f %.4f", model_name, N,
    loss, accuracy, ref_loss, ref_accuracy))
end

local reference = dnn.load_safetensors(path)
local worst = 0
for _, w in ipairs(model:named_weights()) do
  local r = reference[w.name]
  assert(r, "the reference has no " .. w.name)
  local d = (w.tensor - r):abs():max():item()
  if d > worst then worst = d end
end
-- the buckets started during backward with overlap, after it without
local t = dnn.distributed.timings()
local during, after = t.buckets_during, t.buckets_after
if t.steps ~= STEPS or (overlap and (after ~= 0 or during < 2 * STEPS)) or
   (not overlap and (during ~= 0 or after < 2 * STEPS)) then
  error(string.format("equivalence %s N=%d: %d steps with %d buckets started during backward and %d after (overlap %s)",
    model_name, N, t.steps, during, after, tostring(overlap)))
end

-- every rank holds the same weights: the largest difference over the ranks
local t = dnn.tensor({worst})
dnn.distributed.allreduce(t, {op = "max"})
worst = t:item()
if dnn.distributed.rank() == 0 then
  print(string.format("equivalence %s N=%d B=%d%s: max |w - w_ref| = %.3g after %d steps, loss %.6f, accuracy %.4f; "
    .. "%d buckets/step, %s backward", model_name, N, B, EXTRA > 0 and string.format(" +%d", EXTRA) or "", worst, STEPS,
    loss, accuracy, (during + after) // STEPS, overlap and "during" or "after"))
end
if worst > 1e-5 then error(string.format("equivalence %s N=%d: max difference %.3g > 1e-5", model_name, N, worst)) end
