-- Checkpoints: dnn.checkpoint.save / load (weights, optimizer moments and
-- counters, epoch, PRNG, extra data), resuming in a new process gives the
-- weights of one uninterrupted run bit for bit, atomic writes, bad files.
local dnn = dnn or require "dnn"
local nn = dnn.nn

local DNNLUA = os.getenv("DNNLUA")

-- A fresh path in the temporary folder (os.tmpname makes the file: removed).
local function tmp(name)
  local base = os.tmpname()
  os.remove(base)
  return base .. "_" .. name
end

local function identical(a, b)
  if table.concat(a.shape, ",") ~= table.concat(b.shape, ",") then return false end
  return a:eq(b):min():item() == 1
end

local function run(script_text)
  local script = tmp("run.lua")
  local f = assert(io.open(script, "w"))
  f:write(script_text)
  f:close()
  local ok, how, code = os.execute(string.format("'%s' '%s'", DNNLUA, script))
  os.remove(script)
  return ok, how, code
end

describe("dnn.get_rng_state / set_rng_state", function()
  it("restore the generator exactly, the pending normal included", function()
    dnn.manual_seed(11)
    dnn.randn(3) -- odd count: a spare normal waits
    local state = dnn.get_rng_state()
    assert.is_string(state)
    local a = dnn.randn(5)
    local u = dnn.rand(4)
    dnn.set_rng_state(state)
    assert.is_true(identical(a, dnn.randn(5)))
    assert.is_true(identical(u, dnn.rand(4)))
  end)

  it("refuse strings that are not states", function()
    for _, bad in ipairs{"", "abc", string.rep("0", 64) .. " 0x0p+0 0", string.rep("g", 64) .. " 0x0p+0 0",
                         string.rep("1", 64) .. " 0x0p+0 2", string.rep("1", 64) .. " x 0"} do
      local ok, err = pcall(dnn.set_rng_state, bad)
      assert.is_false(ok)
      assert.matches("set_rng_state", tostring(err))
    end
    assert.has_error(function() dnn.set_rng_state() end)
  end)
end)

describe("dnn.checkpoint", function()
  local function make_model()
    local m = nn.Sequential{nn.Dense(8, {input_shape = {4}, activation = "relu"}), nn.Dropout(0.25),
                            nn.Dense(3, {activation = "softmax"})}
    m:compile{optimizer = dnn.optim.Adam{learning_rate = 0.01}, loss = "sparse_categorical_crossentropy"}
    return m
  end

  it("round-trips weights, optimizer state, epoch, extra data and the PRNG", function()
    dnn.manual_seed(12)
    local model = make_model()
    local x, y = dnn.randn(16, 4), dnn.tensor{1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1}
    model:fit(x, y, {epochs = 1, batch_size = 4, verbose = 0})
    local path = tmp("ck.safetensors")
    dnn.checkpoint.save(path, {model = model, epoch = 1, rng = true, extra = {best = 0.5, note = "first"}})
    local next_draw = dnn.rand(3)
    local other = make_model()
    local info = dnn.checkpoint.load(path, {model = other})
    os.remove(path)
    assert.are.equal(1, info.epoch)
    assert.are.same({best = 0.5, note = "first"}, info.extra)
    assert.is_true(identical(next_draw, dnn.rand(3)))
    for i, w in ipairs(model:get_weights()) do assert.is_true(identical(w, other:get_weights()[i])) end
    assert.are.equal(model.optimizer.iterations, other.optimizer.iterations)
    local s1, s2 = model.optimizer:get_state(), other.optimizer:get_state()
    for k, v in pairs(s1) do
      if dnn.is_tensor(v) then assert.is_true(identical(v, s2[k])) else assert.are.equal(v, s2[k]) end
    end
  end)

  it("works with a custom loop's optimizer", function()
    dnn.manual_seed(13)
    local model = nn.Sequential{nn.Dense(2, {input_shape = {3}})}
    local opt = dnn.optim.SGD{learning_rate = 0.1, momentum = 0.9, params = model:parameters()}
    local loss = dnn.losses.mean_squared_error(dnn.ones(4, 2), model(dnn.randn(4, 3)))
    opt:zero_grad(); loss:backward(); opt:step()
    local path = tmp("loop.safetensors")
    dnn.checkpoint.save(path, {model = model, optimizer = opt, epoch = 3})
    local model2 = nn.Sequential{nn.Dense(2, {input_shape = {3}})}
    local opt2 = dnn.optim.SGD{learning_rate = 0.1, momentum = 0.9, params = model2:parameters()}
    local info = dnn.checkpoint.load(path, {model = model2, optimizer = opt2})
    assert.are.equal(3, info.epoch)
    assert.are.equal(1, opt2.iterations)
    assert.is_true(identical(opt:get_state()["momentum/1"], opt2:get_state()["momentum/1"]))
    -- the wrong optimizer class is refused before anything changes
    local before = model2:get_weights()[1]
    local adam = dnn.optim.Adam{params = model2:parameters()}
    local ok, err = pcall(dnn.checkpoint.load, path, {model = model2, optimizer = adam})
    assert.is_false(ok)
    assert.matches("SGD", tostring(err))
    assert.is_true(identical(before, model2:get_weights()[1]))
    os.remove(path)
  end)

  it("refuses bad arguments and files that are not checkpoints", function()
    local model = nn.Sequential{nn.Dense(2, {input_shape = {3}})}
    assert.has_error(function() dnn.checkpoint.save(42, {model = model}) end)
    assert.has_error(function() dnn.checkpoint.save(tmp("x"), {model = 42}) end)
    assert.has_error(function() dnn.checkpoint.save(tmp("x"), {model = model, epoch = 1.5}) end)
    assert.has_error(function() dnn.checkpoint.save(tmp("x"), {model = model, extra = {f = print}}) end)
    local path = tmp("weights.safetensors")
    model:save_weights(path)
    local ok, err = pcall(dnn.checkpoint.load, path, {model = model})
    assert.is_false(ok)
    assert.matches("not a checkpoint", tostring(err))
    ok, err = pcall(dnn.checkpoint.load, path .. ".missing", {model = model})
    assert.is_false(ok)
    assert.matches("missing", tostring(err))
    os.remove(path)
  end)

  it("checks every field of the file on load: format, epoch, rng, optimizer entries, unknown fields", function()
    local json = require "dnn.json"
    dnn.manual_seed(14)
    local model = make_model()
    model:fit(dnn.randn(8, 4), dnn.tensor{1, 2, 3, 1, 2, 3, 1, 2}, {epochs = 1, batch_size = 4, verbose = 0})
    local path = tmp("fields.safetensors")
    dnn.checkpoint.save(path, {model = model, epoch = 2})
    local tensors, meta, names = dnn.load_safetensors(path)
    local entries = {}
    for _, name in ipairs(names) do entries[#entries + 1] = {name, tensors[name]} end
    local good = json.decode(meta.dnnlua_checkpoint)
    -- each case: what changes in the metadata, and what the error names
    local function with_info(changes)
      local info = {}
      for k, v in pairs(good) do info[k] = v end
      for k, v in pairs(changes) do info[k] = v end
      return {dnnlua_checkpoint = json.encode(info)}
    end
    local cases = {
      {with_info{format = 2}, "expected checkpoint format 1, got 2"},
      {with_info{format = json.null}, "expected checkpoint format 1, got"},
      {with_info{epoch = -1}, "epoch to be a non-negative integer, got -1"},
      {with_info{epoch = 1.5}, "epoch to be a non-negative integer, got 1.5"},
      {with_info{epoch = "3"}, "epoch to be a non-negative integer"},
      {with_info{rng = 7}, "rng state to be a string, got number"},
      {with_info{rng = "not a state"}, "bad rng state"},
      {with_info{steps = 3}, "unknown field 'steps'"},
      {{dnnlua_checkpoint = "[1, 2]"}, "an object, got an array"},
      {{dnnlua_checkpoint = "{"}, "bad checkpoint metadata"},
      {{format = "other"}, "expected metadata format \"dnnlua\""},
      {{["optimizer/iterations"] = "-3"}, "'optimizer/iterations' to be a non-negative integer"},
      {{["optimizer/iterations"] = "2.5"}, "'optimizer/iterations' to be a non-negative integer"},
      {{["optimizer/iterations"] = "1e999"}, "to be a finite number"},
      {{["optimizer/iterations"] = "many"}, "to be a finite number"},
      {{optimizer = "Adam; rm"}, "expected an optimizer class name"},
    }
    local before = model:get_weights()[1]
    for i, case in ipairs(cases) do
      local m = {}
      for k, v in pairs(meta) do m[k] = v end
      for k, v in pairs(case[1]) do m[k] = v end
      local bad = tmp("bad" .. i .. ".safetensors")
      dnn.save_safetensors(bad, entries, m)
      local ok, err = pcall(dnn.checkpoint.load, bad, {model = model})
      os.remove(bad)
      assert.is_false(ok, "case " .. i)
      assert.matches("checkpoint.load", tostring(err))
      assert.is_truthy(tostring(err):find(case[2], 1, true), "case " .. i .. ": " .. tostring(err))
      assert.is_true(identical(before, model:get_weights()[1]), "case " .. i .. " changed a weight")
    end
    -- the unchanged file loads, and save refuses a negative epoch
    assert.are.equal(2, dnn.checkpoint.load(path, {model = model}).epoch)
    assert.has_error(function() dnn.checkpoint.save(path, {model = model, epoch = -1}) end)
    os.remove(path)
  end)

  it("resumes in a new process to the weights of one uninterrupted run, bit for bit", function()
    if not DNNLUA then
      pending("DNNLUA is not set (run under ctest)")
      return
    end
    local ck, resumed, straight = tmp("resume.ck"), tmp("resumed.safetensors"), tmp("straight.safetensors")
    local setup = [[
      local nn = dnn.nn
      dnn.manual_seed(2024)
      local x = dnn.randn(96, 4)
      local labels = {}
      for i = 1, 96 do labels[i] = (i * 7) % 3 + 1 end
      local y = dnn.tensor(labels)
      local model = nn.Sequential{nn.Dense(16, {input_shape = {4}, activation = "relu"}), nn.Dropout(0.3),
                                  nn.Dense(3, {activation = "softmax"})}
      model:compile{optimizer = dnn.optim.Adam{learning_rate = 0.01}, loss = "sparse_categorical_crossentropy"}
      local fit_options = {batch_size = 16, shuffle = true, verbose = 0}
    ]]
    assert.is_true(run(setup .. string.format([[
      fit_options.epochs = 2
      model:fit(x, y, fit_options)
      dnn.checkpoint.save(%q, {model = model, epoch = 2, rng = true})
    ]], ck)))
    assert.is_true(run(setup .. string.format([[
      dnn.manual_seed(999) -- whatever the new process drew so far, the checkpoint's PRNG state wins
      dnn.rand(10)
      local info = dnn.checkpoint.load(%q, {model = model})
      fit_options.epochs, fit_options.initial_epoch = 4, info.epoch
      model:fit(x, y, fit_options)
      model:save_weights(%q)
    ]], ck, resumed)))
    assert.is_true(run(setup .. string.format([[
      fit_options.epochs = 4
      model:fit(x, y, fit_options)
      model:save_weights(%q)
    ]], straight)))
    local a, _, names = dnn.load_safetensors(resumed)
    local b = dnn.load_safetensors(straight)
    assert.are.equal(4, #names)
    for _, name in ipairs(names) do assert.is_true(identical(a[name], b[name]), name) end
    -- and the two-epoch checkpoint differs from both (the test can fail)
    local c = dnn.load_safetensors(ck)
    assert.is_false(identical(c[names[1]], a[names[1]]))
    os.remove(ck); os.remove(resumed); os.remove(straight)
  end)

  it("writes atomically: a writer killed mid-save leaves the previous checkpoint whole", function()
    if not DNNLUA then
      pending("DNNLUA is not set (run under ctest)")
      return
    end
    local path = tmp("atomic.ck")
    -- a big model (16 MB of weights) saved over and over, killed at some point
    local writer = [[
      local model = dnn.nn.Sequential{dnn.nn.Dense(2048, {input_shape = {2048}, use_bias = false})}
      local k = 0
      while true do
        k = k + 1
        dnn.no_grad(function() model.layers[1].kernel:fill(k) end)
        dnn.checkpoint.save(%q, {model = model, epoch = k, rng = false})
      end
    ]]
    -- the previous checkpoint: epoch 0, every weight 0
    local model = dnn.nn.Sequential{dnn.nn.Dense(2048, {input_shape = {2048}, use_bias = false})}
    dnn.no_grad(function() model.layers[1].kernel:fill(0) end)
    dnn.checkpoint.save(path, {model = model, epoch = 0, rng = false})
    local script = tmp("writer.lua")
    local f = assert(io.open(script, "w"))
    f:write(string.format(writer, path))
    f:close()
    os.execute(string.format("timeout -s KILL 2 '%s' '%s' >/dev/null 2>&1", DNNLUA, script))
    os.remove(script)
    dnn.no_grad(function() model.layers[1].kernel:fill(-1) end)
    local info = dnn.checkpoint.load(path, {model = model, rng = false})
    assert.is_true(info.epoch >= 0)
    local kernel = model.layers[1].kernel
    assert.are.equal(info.epoch, kernel:min():item())
    assert.are.equal(info.epoch, kernel:max():item())
    os.remove(path)
    os.execute(string.format("rm -f '%s'.tmp.*", path)) -- the killed writer's unfinished temporary file
  end)
end)
