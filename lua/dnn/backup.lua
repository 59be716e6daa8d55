-- fit's backup and restore (dnn.callbacks.BackupAndRestore, fit{backup_dir}):
-- what a killed fit needs to go on to the weights an uninterrupted run gives,
-- bit for bit, saved as one dnn.checkpoint (weights, optimizer state, the
-- random generator) whose extra data holds the rest: where training was
-- (epoch, step), the epoch's sample order (fit's permutation or the
-- DataLoader's) and running loss and metrics, the learning rate, and each
-- callback's get_state (History, EarlyStopping, ReduceLROnPlateau,
-- ModelCheckpoint, CSVLogger, ...). Under dnn.distributed, rank 0 writes it
-- with every rank's own part (random generator, running metrics, callbacks).
local dnn = require "dnn"
local checkpoint = require "dnn.checkpoint"
local json = require "dnn.json"

local M = {}

-- ---- values through JSON: no inf, NaN, tensors or sparse integer keys there ----

local function is_sequence(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n == #t
end

local function encode(v)
  if type(v) == "number" and (v ~= v or v == math.huge or v == -math.huge) then
    return {["$number"] = v ~= v and "nan" or (v > 0 and "inf" or "-inf")}
  end
  if dnn.is_tensor(v) then return {["$tensor"] = v:totable(), shape = v.shape} end
  if type(v) ~= "table" then return v end
  local out = {}
  if is_sequence(v) then
    for i, x in ipairs(v) do out[i] = encode(x) end
    return out
  end
  local pairs_list, plain = {}, true
  for k in pairs(v) do plain = plain and type(k) == "string" end
  for k, x in pairs(v) do
    if plain then out[k] = encode(x) else pairs_list[#pairs_list + 1] = {k, encode(x)} end
  end
  return plain and out or {["$pairs"] = pairs_list}
end

local NUMBERS = {nan = 0 / 0, inf = math.huge, ["-inf"] = -math.huge}

local function decode(v)
  if type(v) ~= "table" then return v end
  if v["$number"] then return NUMBERS[v["$number"]] end
  if v["$tensor"] then
    local t = dnn.tensor(v["$tensor"])
    return #v.shape == t.ndim and t or t:reshape(v.shape)
  end
  local out = {}
  if v["$pairs"] then
    for _, kv in ipairs(v["$pairs"]) do out[kv[1]] = decode(kv[2]) end
    return out
  end
  for k, x in pairs(v) do out[k] = decode(x) end
  return out
end

-- ---- the epoch's running loss and metrics ----

-- A metric's accumulators: its number and tensor fields (and those of the
-- metric it wraps): what reset() clears and update() adds to.
local function metric_state(m)
  local s = {}
  for k, v in pairs(m) do
    if type(v) == "number" then s[k] = v elseif dnn.is_tensor(v) then s[k] = v:clone() end
  end
  if type(m.impl) == "table" then s.impl = metric_state(m.impl) end
  return s
end

local function set_metric_state(m, s)
  for k, v in pairs(s) do
    if k == "impl" then set_metric_state(m.impl, v) else m[k] = v end
  end
end

function M.tracker_state(tracker)
  local metrics = {}
  for i, list in ipairs(tracker.c.metrics) do
    metrics[i] = {}
    for j, m in ipairs(list) do metrics[i][j] = metric_state(m) end
  end
  return {sum = tracker.sum, count = tracker.count, part_sums = tracker.part_sums, metrics = metrics}
end

function M.set_tracker_state(tracker, s)
  tracker.sum, tracker.count, tracker.part_sums = s.sum, s.count, s.part_sums or {}
  for i, list in ipairs(tracker.c.metrics) do
    for j, m in ipairs(list) do
      if s.metrics[i] and s.metrics[i][j] then set_metric_state(m, s.metrics[i][j]) end
    end
  end
end

-- ---- callbacks ----

local function callback_states(cbs, backup)
  local states = {}
  for i, cb in ipairs(cbs.callbacks) do
    if cb ~= backup and type(cb.get_state) == "function" then
      states[#states + 1] = {index = i, type = tostring(cb.type_name), state = cb:get_state()}
    end
  end
  return states
end

local function set_callback_states(path, cbs, states)
  for _, s in ipairs(states) do
    local cb = cbs.callbacks[s.index]
    local now = cb and tostring(cb.type_name)
    if now ~= s.type or type(cb.set_state) ~= "function" then
      error(string.format("fit: the backup %s was made with other callbacks (callback %d was %s, is %s): pass the " ..
        "same callbacks, or remove the backup to start over", path, s.index, s.type, tostring(now)), 0)
    end
    cb:set_state(s.state or {})
  end
end

-- ---- the backup file ----

local function ensure_dir(dir)
  local probe = dir .. "/.dnnlua_backup_probe"
  local f = io.open(probe, "w")
  if not f then
    os.execute("mkdir -p '" .. dir:gsub("'", "'\\''") .. "'")
    f = io.open(probe, "w")
  end
  if not f then error(string.format("BackupAndRestore: cannot write into backup_dir %s", dir), 0) end
  f:close()
  os.remove(probe)
end

-- ---- under dnn.distributed ----

-- Every rank's string s, gathered on every rank (a list, rank r's at r + 1):
-- the bytes travel as floats, padded to the longest.
local function all_strings(s)
  local D = dnn.distributed
  local longest = D.allreduce(dnn.tensor({#s}), {op = "max"}):item()
  local bytes = dnn.zeros(math.max(1, math.floor(longest)) + 1)
  bytes[1] = #s
  for i = 1, #s do bytes[i + 1] = s:byte(i) end
  local rows = D.all_gather(bytes):totable()
  local out = {}
  for r, row in ipairs(rows) do
    local chars = {}
    for i = 1, math.floor(row[1]) do chars[i] = string.char(math.floor(row[i + 1])) end
    out[r] = table.concat(chars)
  end
  return out
end

-- What differs between the ranks: each one's random generator (its own
-- dropout masks), running metrics (summed over the ranks only at an epoch's
-- end) and callbacks (rank 0 alone keeps those that write files).
local function rank_part(tracker, cbs, backup)
  return json.encode(encode({rng = dnn.get_rng_state(), tracker = tracker and M.tracker_state(tracker) or nil,
                             callbacks = callback_states(cbs, backup)}))
end

-- Saves where fit is: at = {epoch, step (the steps done in it), epoch_done,
-- stopped, perm (a tensor or nil), loader (the DataLoader's position or nil),
-- tracker (the Tracker or nil)}. Under dnn.distributed (world) every rank's
-- own part is gathered, and rank 0 writes the one file.
function M.save(backup, model, optimizer, cbs, at, world)
  if not world or world.rank == 0 then ensure_dir(backup.backup_dir) end
  local state = {epoch = at.epoch, step = at.step, epoch_done = at.epoch_done == true, stopped = at.stopped == true,
                 perm = at.perm and at.perm:totable() or nil, loader = at.loader,
                 tracker = at.tracker and M.tracker_state(at.tracker) or nil,
                 learning_rate = type(optimizer.learning_rate) == "number" and optimizer.learning_rate or nil,
                 callbacks = callback_states(cbs, backup)}
  if world then
    state.ranks = all_strings(rank_part(at.tracker, cbs, backup))
    state.world_size = world.size
  end
  checkpoint.save(backup:path(), {model = model, optimizer = optimizer, epoch = at.epoch, extra = encode(state)})
end

local function bad(path, what, v)
  error(string.format("fit: the backup %s is damaged: %s, got %s", path, what, tostring(v)), 0)
end

-- Restores the backup if there is one: weights, optimizer, generator and
-- callbacks now; returns where fit stopped (save's `at`, perm a tensor
-- again), or nil when there is no backup.
function M.restore(backup, model, optimizer, cbs, world)
  local path = backup:path()
  local f = io.open(path, "rb")
  if not f then return nil end
  f:close()
  local params = model:parameters()
  if #params == 0 then
    error("fit: resuming from " .. path .. " needs the model built (give the first layer input_shape)", 0)
  end
  if #optimizer.params ~= #params then optimizer.params = params end
  local info = checkpoint.load(path, {model = model, optimizer = optimizer})
  local s = decode(info.extra)
  if type(s) ~= "table" then bad(path, "expected fit's state in its extra data", type(s)) end
  if math.type(s.epoch) ~= "integer" or s.epoch < 1 then bad(path, "expected an epoch >= 1", s.epoch) end
  if math.type(s.step) ~= "integer" or s.step < 0 then bad(path, "expected a step >= 0", s.step) end
  if s.perm ~= nil and type(s.perm) ~= "table" then bad(path, "expected the sample order as a list", type(s.perm)) end
  if s.learning_rate ~= nil then
    if type(s.learning_rate) ~= "number" then bad(path, "expected a number learning_rate", s.learning_rate) end
    optimizer.learning_rate = s.learning_rate
  end
  local size = world and world.size or 1
  if (s.world_size or 1) ~= size then
    error(string.format("fit: the backup %s was written by %d %s and this run has %d: resume it with %d", path,
      s.world_size or 1, s.world_size and "ranks" or "process", size, s.world_size or 1), 0)
  end
  if world then -- this rank's own part
    if type(s.ranks) ~= "table" or type(s.ranks[world.rank + 1]) ~= "string" then
      bad(path, "expected a part for each rank", type(s.ranks))
    end
    local ok, part = pcall(json.decode, s.ranks[world.rank + 1])
    if not ok or type(part) ~= "table" then bad(path, "expected rank " .. world.rank .. "'s part as JSON", part) end
    part = decode(part)
    dnn.set_rng_state(part.rng)
    s.tracker, s.callbacks = part.tracker, part.callbacks
  end
  set_callback_states(path, cbs, s.callbacks or {})
  if s.perm then s.perm = dnn.tensor(s.perm) end
  return s
end

return M
