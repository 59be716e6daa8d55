-- dnn.weights: a model's weights in a safetensors file, each under the name
-- model:named_weights() gives it ("dense_1/kernel"), so PyTorch and the
-- Hugging Face tools read the file as it is.
--
--   weights.save(model, "w.safetensors"[, metadata])   -- model:save_weights(path)
--   weights.load(model, "w.safetensors")               -- model:load_weights(path); returns the file's metadata
--
-- load checks every name, shape and the count against the model before it
-- touches a weight, so a mismatch leaves the model as it was.
local dnn = require "dnn"

local M = {}

-- An error at the first caller outside the dnn library (the user's line,
-- whether they called model:load_weights or weights.load).
local function fail(fmt, ...)
  local level = 2
  while true do
    local info = debug.getinfo(level, "S")
    if not info or info.source:sub(1, 5) ~= "@dnn/" then break end
    level = level + 1
  end
  error(string.format(fmt, ...), level)
end

local function shape_string(shape)
  return "(" .. table.concat(shape, ", ") .. ")"
end

-- The model's named weights, each name once (a layer used twice in a model
-- lists its weights twice: the same tensors, stored once).
local function named_weights(model, fn)
  if type(model) ~= "table" or type(model.named_weights) ~= "function" then
    fail("%s: expected a model (with named_weights), got %s", fn, type(model))
  end
  local list, seen = {}, {}
  for _, w in ipairs(model:named_weights()) do
    local prev = seen[w.name]
    if prev == nil then
      seen[w.name] = w.tensor
      list[#list + 1] = w
    elseif not rawequal(prev, w.tensor) then
      fail("%s: the model has two weights named '%s' (give its layers distinct names)", fn, w.name)
    end
  end
  return list
end

-- Calls a core file function, naming the user-facing function in its error.
local function call_core(fn, core_name, f, ...)
  local results = table.pack(pcall(f, ...))
  if not results[1] then
    local msg = tostring(results[2]):gsub("^[^:\n]*:%d+: ", ""):gsub("^" .. core_name .. ": ", "")
    fail("%s: %s", fn, msg)
  end
  return table.unpack(results, 2, results.n)
end

-- A weight's name without the layers' counters ("dense_7/kernel" -> "dense/kernel"):
-- the same architecture built again in one process numbers its layers on.
local function structural(name)
  return (name:gsub("_%d+/", "/"))
end

-- The file's tensor for each model weight: by exact name when the file has
-- every name, else by position where the names agree but for counters.
local function match_weights(list, tensors, names, path)
  local by_name = true
  for _, w in ipairs(list) do
    if not tensors[w.name] then by_name = false end
  end
  local matched = {}
  for i, w in ipairs(list) do
    local name = by_name and w.name or names[i]
    if not name then fail("load_weights: %s has no weight '%s'", path, w.name) end
    if structural(name) ~= structural(w.name) then
      fail("load_weights: %s has no weight '%s' (its weight %d is '%s')", path, w.name, i, name)
    end
    local t = tensors[name]
    if t.ndim ~= w.tensor.ndim or shape_string(t.shape) ~= shape_string(w.tensor.shape) then
      fail("load_weights: %s: '%s' has shape %s in the file, %s in the model", path, name, shape_string(t.shape),
        shape_string(w.tensor.shape))
    end
    matched[i] = t
  end
  if #names > #list then
    local used = {}
    for _, t in ipairs(matched) do used[t] = true end
    for _, name in ipairs(names) do
      if not used[tensors[name]] then
        fail("load_weights: %s has weight '%s', which the model does not have (%d weights in the file, %d in the model)",
          path, name, #names, #list)
      end
    end
  end
  return matched
end

local OPTIMIZER_PREFIX = "optimizer/"

-- Writes the model's weights; with {include_optimizer = true} also the
-- compiled optimizer's state (moments as "optimizer/<slot>/<i>" tensors, its
-- counters in the metadata), so training resumes where it stopped.
function M.save(model, path, metadata, options)
  if type(path) ~= "string" then fail("save_weights: expected a path (string), got %s", type(path)) end
  if metadata ~= nil and type(metadata) ~= "table" then
    fail("save_weights: expected a metadata table, got %s", type(metadata))
  end
  local list = named_weights(model, "save_weights")
  local entries = {}
  for i, w in ipairs(list) do entries[i] = {w.name, w.tensor} end
  local meta = {format = "dnnlua", dnnlua_version = dnn.version, model = model.name, class = model.type_name}
  for k, v in pairs(metadata or {}) do meta[k] = v end
  if options and options.include_optimizer then
    local optimizer = model.optimizer
    if not optimizer then fail("save_weights: include_optimizer needs a compiled model (call model:compile first)") end
    local keys = {}
    for key in pairs(optimizer:get_state()) do keys[#keys + 1] = key end
    table.sort(keys)
    local state = optimizer:get_state()
    for _, key in ipairs(keys) do
      local value = state[key]
      if dnn.is_tensor(value) then
        entries[#entries + 1] = {OPTIMIZER_PREFIX .. key, value}
      else
        meta[OPTIMIZER_PREFIX .. key] = string.format("%.17g", value)
      end
    end
    meta.optimizer = optimizer.name
  end
  call_core("save_weights", "save_safetensors", dnn.save_safetensors, path, entries, meta)
end

-- The optimizer state a file holds (tensors and counters), or nil.
local function optimizer_state(tensors, names, meta)
  local state, found = {}, false
  for _, name in ipairs(names) do
    if name:sub(1, #OPTIMIZER_PREFIX) == OPTIMIZER_PREFIX then
      state[name:sub(#OPTIMIZER_PREFIX + 1)] = tensors[name]
      found = true
    end
  end
  for key, value in pairs(meta) do
    if key:sub(1, #OPTIMIZER_PREFIX) == OPTIMIZER_PREFIX then
      state[key:sub(#OPTIMIZER_PREFIX + 1)] = tonumber(value)
      found = true
    end
  end
  return found and state or nil
end

function M.load(model, path)
  if type(path) ~= "string" then fail("load_weights: expected a path (string), got %s", type(path)) end
  local list = named_weights(model, "load_weights")
  local tensors, meta, all_names = call_core("load_weights", "load_safetensors", dnn.load_safetensors, path)
  local names = {}
  for _, name in ipairs(all_names) do
    if name:sub(1, #OPTIMIZER_PREFIX) ~= OPTIMIZER_PREFIX then names[#names + 1] = name end
  end
  if #list == 0 and #names > 0 then
    fail("load_weights: model '%s' has no weights yet, %s has %d (build the model first: give its first layer " ..
      "input_shape, or call it on a batch)", tostring(model.name), path, #names)
  end
  local matched = match_weights(list, tensors, names, path)
  local state = optimizer_state(tensors, all_names, meta)
  if state and model.optimizer and meta.optimizer ~= model.optimizer.name then
    fail("load_weights: %s holds the state of %s, the model is compiled with %s", path, tostring(meta.optimizer),
      model.optimizer.name)
  end
  dnn.no_grad(function()
    for i, w in ipairs(list) do w.tensor:copy(matched[i]) end
  end)
  -- a model not compiled (yet) takes the weights only, as Keras does
  if state and model.optimizer then model.optimizer:set_state(state) end
  return meta
end

return M
