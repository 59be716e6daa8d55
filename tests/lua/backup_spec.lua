-- Fault tolerance: fit{backup_dir} / dnn.callbacks.BackupAndRestore. A
-- training process killed with SIGKILL (during steps and during saves) and
-- run again continues to the weights of one uninterrupted run, bit for bit;
-- the callbacks' state, the history and a CSVLogger file go on too.
local dnn = dnn or require "dnn"
local H = require "helpers"
local nn = dnn.nn

local DNNLUA = os.getenv("DNNLUA")
local FASHION = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"

local function tmp(name)
  local base = os.tmpname()
  os.remove(base)
  return base .. "_" .. name
end

local read = H.read_file

local function exists(path) return read(path) ~= nil end

-- The training script the test kills: an MLP with dropout on 600 Fashion-MNIST images, shuffled, 4 epochs of 30
-- steps, a backup every 7 steps, ReduceLROnPlateau and EarlyStopping (their state is in the backup), a CSV log.
-- KILL_AT=k makes it kill itself with SIGKILL at the start of its k-th step.
local CHILD = [[
local dir, out, csv = arg[1], arg[2], arg[3]
local nn = dnn.nn
dnn.manual_seed(7)
local train = dnn.datasets.fashion_mnist{limit = 600}
local n = 600
local x, y = train.x:narrow(1, 1, n):reshape(n, 784), train.y:narrow(1, 1, n)
local model = nn.Sequential{nn.Dense(32, {input_shape = {784}, activation = "relu"}), nn.Dropout(0.25),
                            nn.Dense(10, {activation = "softmax"})}
model:compile{optimizer = dnn.optim.Adam{learning_rate = 2e-3}, loss = "sparse_categorical_crossentropy",
              metrics = {"accuracy"}}
local kill_at, steps = tonumber(os.getenv("KILL_AT") or ""), 0
local killer = dnn.callbacks.Callback{on_train_batch_begin = function()
  steps = steps + 1
  if steps == kill_at then os.execute("kill -9 $PPID") end
end}
model:fit(x, y, {epochs = 4, batch_size = 20, verbose = 0, callbacks = {
  dnn.callbacks.BackupAndRestore{backup_dir = dir, save_freq = 7},
  dnn.callbacks.ReduceLROnPlateau{monitor = "loss", patience = 1, factor = 0.5, min_delta = 0.05},
  dnn.callbacks.EarlyStopping{monitor = "loss", patience = 5},
  dnn.callbacks.CSVLogger(csv), killer}})
model:save_weights(out)
]]

describe("fit{backup_dir}", function()
  it("resumes a training process killed at random steps and during saves to the same weights, bit for bit",
    function()
      if not DNNLUA then return pending("DNNLUA is not set (run under ctest)") end
      if not exists(FASHION) then return pending("dataset-fashion-mnist is not installed") end
      local script = tmp("child.lua")
      local f = assert(io.open(script, "w"))
      f:write(CHILD)
      f:close()
      local function child(dir, out, csv, env)
        return os.execute(string.format("%s DNN_NUM_THREADS=1 '%s' '%s' '%s' '%s' '%s'", env or "", DNNLUA, script,
          dir, out, csv))
      end
      -- the uninterrupted run
      local dir0, w0, csv0 = tmp("backup0"), tmp("straight.safetensors"), tmp("straight.csv")
      assert.is_true(child(dir0, w0, csv0))
      assert.is_false(exists(dir0 .. "/backup.safetensors")) -- deleted at the end, as Keras
      -- the killed and resumed run: killed at three random steps (each run resuming the last), then while the
      -- backups are written (a kill at a random moment after the first backup appears), then run to the end
      local dir, w, csv = tmp("backup1"), tmp("resumed.safetensors"), tmp("resumed.csv")
      math.randomseed(os.time())
      local kills = {}
      for trial = 1, 3 do
        local at = math.random(9, 35) -- steps of this run: after its first backup
        kills[#kills + 1] = at
        local ok, how, code = child(dir, w, csv, "KILL_AT=" .. at)
        assert.is_falsy(ok, "trial " .. trial .. " should have been killed")
        assert.is_true(code == 9 or code == 137, string.format("killed by %s %s", how, tostring(code)))
        assert.is_true(exists(dir .. "/backup.safetensors"), "a backup after a kill at step " .. at)
      end
      -- the fourth kill: once this run has written its first backup (the file's time changes), a random moment later
      local delay = math.random(0, 300) / 1000
      local backup = dir .. "/backup.safetensors"
      os.execute(string.format("old=$(stat -c %%y '%s'); DNN_NUM_THREADS=1 '%s' '%s' '%s' '%s' '%s' & pid=$!; " ..
        "while [ \"$(stat -c %%y '%s')\" = \"$old\" ] && kill -0 $pid 2>/dev/null; do sleep 0.01; done; " ..
        "sleep %g; kill -9 $pid; wait $pid 2>/dev/null", backup, DNNLUA, script, dir, w, csv, backup, delay))
      assert.is_true(child(dir, w, csv), "the last run, after kills at steps " .. table.concat(kills, ", "))
      assert.is_false(exists(dir .. "/backup.safetensors"))
      assert.are.equal(read(w0), read(w)) -- the weights file, byte for byte
      assert.is_true(#read(w) > 4 * 32 * 784)
      assert.are.equal(read(csv0), read(csv)) -- one row per epoch, none doubled, same values
      local _, rows = read(csv):gsub("\n", "")
      assert.are.equal(5, rows)
      for _, p in ipairs{script, w0, csv0, w, csv} do os.remove(p) end
      os.remove(dir0); os.remove(dir)
    end)

  it("restores the callbacks' state and the history, and deletes the backup at the end", function()
    dnn.manual_seed(3)
    local x, y = dnn.randn(40, 3), dnn.randn(40, 2)
    local function model()
      local m = nn.Sequential{nn.Dense(2, {input_shape = {3}})}
      m:compile{optimizer = dnn.optim.SGD{learning_rate = 0.05}, loss = "mse"}
      return m
    end
    local dir = tmp("unit_backup")
    -- a run that stops itself after epoch 2 keeps its backup (as a killed one would)
    local stop = dnn.callbacks.Callback{on_epoch_end = function(self, epoch)
      if epoch == 2 then error("stop here") end
    end}
    local es = dnn.callbacks.EarlyStopping{monitor = "loss", patience = 10}
    local m = model()
    assert.has_error(function()
      m:fit(x, y, {epochs = 4, batch_size = 8, verbose = 0, backup_dir = dir, callbacks = {es, stop}})
    end)
    assert.is_true(exists(dir .. "/backup.safetensors"))
    -- the run again: from epoch 2 (its end was not backed up), EarlyStopping's best carried over, history from
    -- epoch 1
    local es2 = dnn.callbacks.EarlyStopping{monitor = "loss", patience = 10}
    local seen = {}
    local log = dnn.callbacks.Callback{on_epoch_begin = function(self, epoch) seen[#seen + 1] = epoch end}
    local m2 = model()
    local history = m2:fit(x, y, {epochs = 4, batch_size = 8, verbose = 0, backup_dir = dir, callbacks = {es2, log}})
    assert.are.same({2, 3, 4}, seen)
    assert.are.same({1, 2, 3, 4}, history.epoch)
    assert.are.equal(4, #history.history.loss)
    assert.is_number(es2.best)
    assert.is_true(es2.best <= history.history.loss[1])
    assert.is_false(exists(dir .. "/backup.safetensors"))
    os.remove(dir)
  end)

  it("resumes a shuffled DataLoader mid-epoch, with validation: same weights and history", function()
    local dirs = {}
    local function run(name, crash_at)
      dirs[name] = dirs[name] or tmp(name)
      dnn.manual_seed(5)
      local x, y = dnn.randn(90, 4), dnn.randn(90, 2)
      local loader = dnn.data.DataLoader{x, y, batch_size = 8, shuffle = true}
      local m = nn.Sequential{nn.Dense(6, {input_shape = {4}, activation = "relu"}), nn.Dropout(0.3), nn.Dense(2)}
      m:compile{optimizer = dnn.optim.Adam{learning_rate = 0.01}, loss = "mse", metrics = {"mae"}}
      local steps = 0
      local crash = dnn.callbacks.Callback{on_train_batch_end = function()
        steps = steps + 1
        if steps == crash_at then error("crash") end
      end}
      local ok, h = pcall(m.fit, m, loader, {epochs = 3, verbose = 0,
        validation_data = {x:narrow(1, 1, 20), y:narrow(1, 1, 20)},
        callbacks = {dnn.callbacks.BackupAndRestore{backup_dir = dirs[name], save_freq = 5}, crash}})
      return ok, m, h
    end
    local _, a, ha = run("straight")
    assert.is_false((run("crashed", 13))) -- in epoch 2 (12 steps an epoch): resumes from its end
    assert.is_false((run("crashed", 9))) -- at step 21 overall: resumes from step 20, inside epoch 2
    local ok, b, hb = run("crashed")
    assert.is_true(ok)
    for i, w in ipairs(a:get_weights()) do assert.is_true(w:eq(b:get_weights()[i]):min():item() == 1) end
    assert.are.same(ha.epoch, hb.epoch)
    assert.are.same(ha.history, hb.history) -- the mid-epoch loss and mae sums were restored too
    for _, d in pairs(dirs) do os.remove(d) end
  end)

  it("refuses bad settings and a backup made with other callbacks", function()
    assert.has_error(function() dnn.callbacks.BackupAndRestore{} end, nil)
    local ok, err = pcall(dnn.callbacks.BackupAndRestore, {backup_dir = "d", save_freq = 0})
    assert.is_false(ok)
    assert.matches("save_freq", tostring(err))
    ok, err = pcall(dnn.callbacks.BackupAndRestore, {backup_dir = "d", sav_freq = 3})
    assert.is_false(ok)
    assert.matches("sav_freq", tostring(err))
    dnn.manual_seed(4)
    local x, y = dnn.randn(16, 3), dnn.randn(16, 2)
    local m = nn.Sequential{nn.Dense(2, {input_shape = {3}})}
    m:compile{optimizer = "sgd", loss = "mse"}
    local dir = tmp("other_callbacks")
    local stop = dnn.callbacks.Callback{on_epoch_end = function() error("stop") end}
    local function backup() return dnn.callbacks.BackupAndRestore{backup_dir = dir, save_freq = 1} end
    pcall(m.fit, m, x, y, {epochs = 2, verbose = 0, callbacks = {dnn.callbacks.EarlyStopping{monitor = "loss"},
                                                                 backup(), stop}})
    assert.is_true(exists(dir .. "/backup.safetensors"))
    ok, err = pcall(m.fit, m, x, y, {epochs = 2, verbose = 0,
                                     callbacks = {dnn.callbacks.ReduceLROnPlateau{monitor = "loss"}, backup()}})
    assert.is_false(ok)
    assert.matches("other callbacks", tostring(err))
    os.remove(dir .. "/backup.safetensors")
    os.remove(dir)
  end)
end)
