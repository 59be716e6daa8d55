-- fit's backup (BackupAndRestore, fit{backup_dir}) on 2 ranks (issue 19): a job killed in its second epoch
-- resumes from the backup rank 0 wrote and ends with the weights, optimizer
-- state and logs of a run that was never killed, bit for bit. The model has
-- dropout (each rank its own masks: each rank's random generator is in the
-- backup) and accuracy (each rank's running counts too); the last global
-- batch is smaller. Run by tests/distributed/run.sh:
--   mpirun -np 2 dnnlua backup.lua full DIR OUT     2 epochs; rank 0 writes OUT
--   mpirun -np 2 dnnlua backup.lua killed DIR       rank 1 fails at epoch 2, step 7 (the job ends)
--   dnnlua backup.lua one DIR                       one process: refused, the backup is of 2 ranks
--   mpirun -np 2 dnnlua backup.lua resume DIR OUT   the same fit again: resumes, compares with OUT
local mode, dir, out = arg[1], arg[2], arg[3]
assert(mode == "full" or mode == "killed" or mode == "resume" or mode == "one",
  "usage: backup.lua full|killed|one|resume DIR [OUT]")
local nn = dnn.nn
local rank, size = dnn.distributed.init()
assert(size == (mode == "one" and 1 or 2), "expected 2 ranks, got " .. size)

local B, n = 8, 2 * 8 * 10 + 5 -- 10 global batches of 16, then one of 5
local train = dnn.load_safetensors(assert(os.getenv("DIST_TEST_DATA"), "set DIST_TEST_DATA (tests/distributed/run.sh)"))
local x, y = train.x:narrow(1, 1, n), train.y:narrow(1, 1, n)

dnn.manual_seed(13)
local model = nn.Sequential{nn.Input{28, 28, 1}, nn.Flatten(), nn.Dense(32, {activation = "relu"}), nn.Dropout(0.3),
                            nn.Dense(10, {activation = "softmax"})}
model:compile{optimizer = dnn.optim.Adam{learning_rate = 1e-3}, loss = "sparse_categorical_crossentropy",
              metrics = {"accuracy"}}
dnn.manual_seed(100 + rank) -- each rank its own dropout masks

local steps_run = 0
local watch = dnn.callbacks.Callback{
  on_epoch_begin = function(self, epoch) self.epoch = epoch end,
  on_train_batch_end = function(self, batch)
    steps_run = steps_run + 1
    if mode == "killed" and rank == 1 and self.epoch == 2 and batch == 7 then
      error("rank 1 fails on purpose at epoch 2, step 7")
    end
  end,
}
local function fit()
  return model:fit(x, y, {epochs = 2, batch_size = B, verbose = 0,
                          callbacks = {watch, dnn.callbacks.BackupAndRestore{backup_dir = dir, save_freq = 3}}})
end
if mode == "one" then
  local ok, err = pcall(fit)
  assert(not ok and tostring(err):find("was written by 2 ranks and this run has 1: resume it with 2", 1, true),
    "one process resuming a backup of 2 ranks: " .. tostring(err))
  print("one process refuses the backup of 2 ranks: " .. tostring(err))
  return
end
local h = fit()
assert(mode ~= "killed", "the killed run went on")
local iterations = model.compiled.optimizer.iterations
assert(iterations == 22, "expected 22 steps in all, took " .. iterations)
local f = io.open(dir .. "/backup.safetensors")
assert(not f, "the backup is left after fit ended")

if mode == "full" then
  assert(steps_run == 22, "the full run took " .. steps_run .. " steps")
  if rank == 0 then
    model:save_weights(out)
    local log = assert(io.open(out .. ".logs", "w"))
    log:write(string.format("%.17g %.17g %.17g %.17g\n", h.history.loss[1], h.history.loss[2],
      h.history.accuracy[1], h.history.accuracy[2]))
    log:close()
  end
  dnn.distributed.barrier()
  return
end

-- resumed: from the backup of step 4 of epoch 2 (every 3 steps: 11 + 4 = 15)
assert(steps_run == 7, "expected the resumed run to take steps 5..11 of epoch 2, took " .. steps_run)
local reference = dnn.load_safetensors(out)
local worst = 0
for _, w in ipairs(model:named_weights()) do
  worst = math.max(worst, (w.tensor - reference[w.name]):abs():max():item())
end
local log = assert(io.open(out .. ".logs"))
local want = {log:read("n", "n", "n", "n")}
log:close()
local got = {h.history.loss[1], h.history.loss[2], h.history.accuracy[1], h.history.accuracy[2]}
for i = 1, 4 do
  if got[i] ~= want[i] then
    error(string.format("rank %d: log %d is %.17g after the resume, %.17g in the run never killed", rank, i, got[i],
      want[i]))
  end
end
local t = dnn.distributed.allreduce(dnn.tensor({worst}), {op = "max"})
if rank == 0 then
  print(string.format("killed at epoch 2, step 7 and resumed on 2 ranks: max |w - w_full| = %g, logs equal", t:item()))
end
if t:item() ~= 0 then error(string.format("resume: max difference %g, expected the same weights bit for bit", t:item())) end
