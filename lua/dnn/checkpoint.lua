-- dnn.checkpoint: everything a training run needs to go on where it
-- stopped, in one safetensors file written atomically (the core writes a
-- temporary file and renames it into place, so a crash mid-write leaves the
-- previous checkpoint whole).
--
--   dnn.checkpoint.save(path, {model = m, optimizer = opt, epoch = e, rng = true, extra = {...}})
--   local info = dnn.checkpoint.load(path, {model = m, optimizer = opt})   -- info.epoch, info.extra
--
-- The file holds the model's weights (named as model:save_weights names
-- them), the optimizer's moments ("optimizer/<slot>/<i>") and counters, and
-- in the metadata key "dnnlua_checkpoint" (JSON) the epoch, the caller's
-- extra data and the state of dnn's PRNG. optimizer defaults to the model's
-- compiled one. Loading restores the PRNG too unless {rng = false}.
local dnn = require "dnn"
local json = require "dnn.json"

local M = {}
local KEY = "dnnlua_checkpoint"
local PREFIX = "optimizer/"
local FORMAT = 1

local function fail(fmt, ...)
  error(string.format(fmt, ...), 3)
end

local function check_options(fn, path, options)
  if type(path) ~= "string" then fail("checkpoint.%s: expected a path (string), got %s", fn, type(path)) end
  if type(options) ~= "table" then fail("checkpoint.%s: expected an options table, got %s", fn, type(options)) end
  local model = options.model
  if type(model) ~= "table" or type(model.named_weights) ~= "function" then
    fail("checkpoint.%s: expected options.model to be a model, got %s", fn, type(model))
  end
  local optimizer = options.optimizer or model.optimizer
  if optimizer ~= nil and (type(optimizer) ~= "table" or type(optimizer.get_state) ~= "function") then
    fail("checkpoint.%s: expected options.optimizer to be an optimizer, got %s", fn, type(optimizer))
  end
  return model, optimizer
end

function M.save(path, options)
  local model, optimizer = check_options("save", path, options)
  -- Under dnn.distributed every rank holds the same state: rank 0 writes, the others wait for the file.
  local world = require("dnn.distributed").world()
  if world and world.rank ~= 0 then return dnn.distributed.barrier() end
  local epoch = options.epoch
  if epoch ~= nil and (math.type(epoch) ~= "integer" or epoch < 0) then
    fail("checkpoint.save: expected epoch to be a non-negative integer, got %s", tostring(epoch))
  end
  local entries, seen = {}, {}
  for _, w in ipairs(model:named_weights()) do
    if not seen[w.name] then
      seen[w.name] = true
      entries[#entries + 1] = {w.name, w.tensor}
    end
  end
  local meta = {format = "dnnlua", dnnlua_version = dnn.version, model = model.name}
  if optimizer then
    local state = optimizer:get_state()
    local keys = {}
    for key in pairs(state) do keys[#keys + 1] = key end
    table.sort(keys)
    for _, key in ipairs(keys) do
      local v = state[key]
      if dnn.is_tensor(v) then
        entries[#entries + 1] = {PREFIX .. key, v}
      else
        meta[PREFIX .. key] = string.format("%.17g", v)
      end
    end
    meta.optimizer = optimizer.name
  end
  local ok, doc = pcall(json.encode, {format = FORMAT, epoch = epoch, extra = options.extra,
                                      rng = options.rng ~= false and dnn.get_rng_state() or nil})
  if not ok then fail("checkpoint.save: %s: extra: %s", path, tostring(doc)) end
  meta[KEY] = doc
  local okw, err = pcall(dnn.save_safetensors, path, entries, meta)
  if not okw then fail("checkpoint.save: %s", tostring(err):gsub("^[^:\n]*:%d+: ", ""):gsub("^save_safetensors: ", "")) end
  if world then dnn.distributed.barrier() end
end

local function to_plain(v)
  if v == json.null then return nil end
  if type(v) == "table" then
    local out = {}
    for k, item in pairs(v) do out[k] = to_plain(item) end
    return out
  end
  return v
end

-- Every field a checkpoint file holds, checked before anything changes: the
-- metadata's format and optimizer entries, and the checkpoint's own JSON
-- (format 1, epoch a non-negative integer, rng a string, nothing else).
local INFO_FIELDS = {format = true, epoch = true, extra = true, rng = true}

local function check_fields(path, meta, info)
  if meta.format ~= nil and meta.format ~= "dnnlua" then
    fail("checkpoint.load: %s: expected metadata format \"dnnlua\", got %q", path, meta.format)
  end
  if info[1] ~= nil then fail("checkpoint.load: %s: expected the checkpoint metadata to be an object, got an array", path) end
  for k in pairs(info) do
    if not INFO_FIELDS[k] then
      fail("checkpoint.load: %s: unknown field '%s' in the checkpoint metadata (expected format, epoch, extra, rng)",
        path, tostring(k))
    end
  end
  if info.format ~= FORMAT then
    fail("checkpoint.load: %s: expected checkpoint format %d, got %s", path, FORMAT, tostring(info.format))
  end
  if info.epoch ~= nil and (math.type(info.epoch) ~= "integer" or info.epoch < 0) then
    fail("checkpoint.load: %s: expected epoch to be a non-negative integer, got %s", path, tostring(info.epoch))
  end
  if info.rng ~= nil and type(info.rng) ~= "string" then
    fail("checkpoint.load: %s: expected the rng state to be a string, got %s", path, type(info.rng))
  end
  if meta.optimizer ~= nil and not tostring(meta.optimizer):match("^[%a_][%w_]*$") then
    fail("checkpoint.load: %s: expected an optimizer class name, got %q", path, tostring(meta.optimizer))
  end
  for key, value in pairs(meta) do
    if key:sub(1, #PREFIX) == PREFIX then
      local n = tonumber(value)
      if not n or n ~= n or n == math.huge or n == -math.huge then
        fail("checkpoint.load: %s: expected optimizer counter '%s' to be a finite number, got %q", path, key, value)
      end
      if key:match("iterations$") and (not math.tointeger(n) or n < 0) then
        fail("checkpoint.load: %s: expected optimizer counter '%s' to be a non-negative integer, got %q", path, key,
          value)
      end
    end
  end
end

function M.load(path, options)
  local model, optimizer = check_options("load", path, options)
  local ok, tensors, meta, names = pcall(dnn.load_safetensors, path)
  if not ok then fail("checkpoint.load: %s", tostring(tensors):gsub("^[^:\n]*:%d+: ", ""):gsub("^load_safetensors: ", "")) end
  if meta[KEY] == nil then fail("checkpoint.load: %s is not a checkpoint (no '%s' metadata)", path, KEY) end
  local info, err = json.decode(meta[KEY])
  if type(info) ~= "table" then fail("checkpoint.load: %s: bad checkpoint metadata (%s)", path, tostring(err or "not an object")) end
  check_fields(path, meta, info)
  -- the rng state, tried (and the generator put back) before anything changes
  if info.rng and options.rng ~= false then
    local now = dnn.get_rng_state()
    local okr, rerr = pcall(dnn.set_rng_state, info.rng)
    dnn.set_rng_state(now)
    if not okr then fail("checkpoint.load: %s: bad rng state (%s)", path, tostring(rerr)) end
  end
  -- the optimizer's state, checked against the optimizer before anything changes
  local state
  if meta.optimizer ~= nil then
    if not optimizer then
      fail("checkpoint.load: %s holds the state of %s: pass options.optimizer (or compile the model)", path,
        tostring(meta.optimizer))
    end
    if meta.optimizer ~= optimizer.name then
      fail("checkpoint.load: %s holds the state of %s, the optimizer is %s", path, tostring(meta.optimizer),
        optimizer.name)
    end
    state = {}
    for _, name in ipairs(names) do
      if name:sub(1, #PREFIX) == PREFIX then state[name:sub(#PREFIX + 1)] = tensors[name] end
    end
    for key, value in pairs(meta) do
      if key:sub(1, #PREFIX) == PREFIX then
        local n = tonumber(value)
        if not n then fail("checkpoint.load: %s: bad optimizer counter '%s' = %s", path, key, value) end
        state[key:sub(#PREFIX + 1)] = math.tointeger(n) or n
      end
    end
  end
  -- weights: dnn.weights checks every name and shape before a weight changes
  -- (the optimizer's entries are skipped there; its own state is set below).
  local saved_opt = model.optimizer
  rawset(model, "optimizer", nil)
  local okw, werr = pcall(require("dnn.weights").load, model, path)
  rawset(model, "optimizer", saved_opt)
  if not okw then fail("checkpoint.load: %s", tostring(werr):gsub("^[^:\n]*:%d+: ", ""):gsub("^load_weights: ", "")) end
  if state then
    local oks, serr = pcall(optimizer.set_state, optimizer, state)
    if not oks then fail("checkpoint.load: %s: %s", path, tostring(serr):gsub("^[^:\n]*:%d+: ", "")) end
  end
  if info.rng and options.rng ~= false then
    local okr, rerr = pcall(dnn.set_rng_state, info.rng)
    if not okr then fail("checkpoint.load: %s: bad rng state (%s)", path, tostring(rerr)) end
  end
  return {epoch = info.epoch, extra = to_plain(info.extra), optimizer = meta.optimizer}
end


-- ---- reference ----

--- @module dnn.checkpoint Resumable training checkpoints
-- One safetensors file, written atomically: the model's weights, the
-- optimizer's state, the epoch, your extra data and the random generator's state.

--- dnn.checkpoint.save(path, options)
-- Writes a checkpoint. Under `dnn.distributed`, rank 0 writes it and every rank returns once it is written.
-- @option model the model (required)
-- @option optimizer=model's the optimizer (default the compiled one)
-- @option epoch=nil the epoch reached
-- @option rng=true save the random generator's state
-- @option extra=nil a JSON-ready table of your own
-- @example dnn.checkpoint.save("run.ckpt", {model = model, epoch = 3})

--- dnn.checkpoint.load(path, options)
-- Restores a checkpoint into a model (and optimizer); returns `{epoch, extra}`.
-- @option model the model (required)
-- @option optimizer=model's the optimizer
-- @option rng=true restore the random generator's state
-- @example local info = dnn.checkpoint.load("run.ckpt", {model = model})

return M
