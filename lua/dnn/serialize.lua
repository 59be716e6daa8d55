-- dnn.serialize: whole models in one safetensors file. The weights are the
-- file's tensors, named as dnn.weights names them ("dense_1/kernel"); the
-- architecture is declarative JSON in the metadata key "dnnlua_model":
--
--   {"format": 1, "model": <layer entry>, "compile": {...}}
--   layer entry:  {"class_name": "Dense", "config": {"args": [4], "options": {"name": "dense", ...}}}
--   Sequential:   {"class_name": "Sequential", "config": {"name", "trainable", "input_shape", "layers": [entries]}}
--   Functional:   {"class_name": "Functional", "config": {"name", "trainable", "layers": [entries],
--                  "nodes": [{"layer", "node_index", "args": {"n", "items"}}], "inputs": [refs], "outputs": [refs]}}
--   a symbolic tensor in a node's arguments: {"__tensor": [layer name, node index, output index]}
--   a layer given to a constructor (Bidirectional(LSTM(...))): {"__layer": <layer entry>}
--   a regularizer object: {"__regularizer": {"class_name": "L2", "config": {"l2": 0.01}}}
--   a learning-rate schedule: {"__schedule": {"class_name": "ExponentialDecay", "config": {...}}}
--
-- Loading looks every class up by name in the layer registry (dnn.nn.register
-- for a user's own layers) and calls it with the saved arguments: nothing in
-- the file runs as code.
local dnn = require "dnn"
local json = require "dnn.json"
local layer = require "dnn.layer"

local M = {}
M.FORMAT = 1
M.METADATA_KEY = "dnnlua_model"

-- ---- saving: Lua objects -> plain tables ----

local layer_entry -- forward

local function is_symbolic(v)
  return getmetatable(v) == layer.symbolic_mt
end

-- A symbolic tensor as a reference to the node output it is.
local function tensor_ref(s)
  return {__tensor = {s.node.layer.name, s.node.node_index, s.index}}
end

-- v as JSON-able data; where says where it sits, for the error of a value
-- that a file cannot hold (a function, a tensor, an object without a config).
local function plain(v, where)
  local tv = type(v)
  if tv == "number" or tv == "string" or tv == "boolean" then return v end
  if v == nil then return json.null end
  if is_symbolic(v) then return tensor_ref(v) end
  if layer.is_layer(v) then return {__layer = layer_entry(v)} end
  if tv == "table" and getmetatable(v) == nil then
    local out = {}
    for k, item in pairs(v) do
      if type(k) ~= "string" and math.type(k) ~= "integer" then
        error(string.format("%s has a key of type %s", where, type(k)), 0)
      end
      out[k] = plain(item, where .. "." .. tostring(k))
    end
    return out
  end
  if tv == "table" and v.class_name and type(v.get_config) == "function" and dnn.regularizers[v.class_name] then
    return {__regularizer = {class_name = v.class_name, config = v:get_config()}}
  end
  if dnn.optim.schedules.is_schedule(v) then
    local config = {}
    for k, item in pairs(v:get_config()) do config[k] = plain(item, where .. "." .. k) end
    return {__schedule = {class_name = getmetatable(v).name, config = config}}
  end
  local what = dnn.is_tensor(v) and "a tensor" or tv
  error(string.format("%s is %s, which a model file cannot hold (give it by name, or define get_config)", where,
    what), 0)
end

local function sequential_config(model)
  local layers = {}
  for i, l in ipairs(model.layers) do layers[i] = layer_entry(l) end
  return {name = model.name, trainable = model.trainable ~= false, layers = json.array(layers),
          input_shape = model.input_shape and json.array{table.unpack(model.input_shape)} or nil}
end

local function functional_config(model)
  local layers, nodes = {}, {}
  for i, l in ipairs(model.layers) do
    if l.type_name == "InputLayer" then
      local s = l.output
      local batch = s.shape[1]
      layers[i] = {class_name = "InputLayer", config = {name = l.name, shape = json.array{table.unpack(l.input_shape)},
                                                        batch_size = (batch and batch > 0) and batch or nil}}
    else
      layers[i] = layer_entry(l)
    end
  end
  for _, node in ipairs(model._order) do
    if not node.is_input then
      local items = {}
      for i = 1, node.args.n do
        items[i] = plain(node.args[i], string.format("argument %d of the call of layer '%s'", i, node.layer.name))
      end
      nodes[#nodes + 1] = {layer = node.layer.name, node_index = node.node_index,
                           args = {n = node.args.n, items = json.array(items)}}
    end
  end
  local inputs, outputs = {}, {}
  for i, s in ipairs(model.inputs) do inputs[i] = tensor_ref(s) end
  for i, s in ipairs(model.outputs) do outputs[i] = tensor_ref(s) end
  return {name = model.name, trainable = model.trainable ~= false, layers = json.array(layers),
          nodes = json.array(nodes), inputs = json.array(inputs), outputs = json.array(outputs),
          single_input = model.single_input or false, single_output = model.single_output or false}
end

function layer_entry(l)
  local type_name = l.type_name
  if type_name == "Sequential" then return {class_name = "Sequential", config = sequential_config(l)} end
  if type_name == "Functional" then return {class_name = "Functional", config = functional_config(l)} end
  if layer.registry[type_name] ~= getmetatable(l) then
    error(string.format("%s '%s': the class '%s' is not registered (call dnn.nn.register(\"%s\", %s) before saving " ..
      "and before loading)", type_name, l.name, type_name, type_name, type_name), 0)
  end
  local ok, config = pcall(l.get_config, l)
  if not ok then error(tostring(config):gsub("^[^:\n]*:%d+: ", ""), 0) end
  local where = string.format("%s '%s'", type_name, l.name)
  local args = {}
  for i, v in ipairs(config.args or {}) do args[i] = plain(v, string.format("argument %d of %s", i, where)) end
  local options = {}
  for k, v in pairs(config.options or {}) do options[k] = plain(v, string.format("option '%s' of %s", k, where)) end
  return {class_name = type_name, config = {args = json.array(args), options = options}}
end

-- The compile settings when they can be named (Keras saves them the same
-- way): the optimizer's class and options, the loss and metric names.
local function compile_config(model)
  local c = model.compiled
  if not c then return nil end
  local opt = model.optimizer
  local cls = dnn.optim[opt.name]
  if not cls or type(cls.defaults) ~= "table" then return nil end
  local config = {}
  for k in pairs(cls.defaults) do
    local v = opt[k]
    if type(v) == "number" or type(v) == "boolean" or type(v) == "string" then config[k] = v end
  end
  if dnn.optim.schedules.is_schedule(opt.learning_rate) then
    config.learning_rate = plain(opt.learning_rate, "the optimizer's learning_rate")
  end
  for _, k in ipairs{"clipnorm", "clipvalue", "global_clipnorm"} do config[k] = opt[k] end
  if cls.defaults.weight_decay == nil and opt.weight_decay ~= 0 then config.weight_decay = opt.weight_decay end
  local loss = model.loss
  local ok_loss = type(loss) == "string"
  if type(loss) == "table" and getmetatable(loss) == nil then
    ok_loss = true
    for _, v in pairs(loss) do if type(v) ~= "string" then ok_loss = false end end
  end
  if not ok_loss then return nil end
  local metrics = {}
  for i = 1, c.n_outputs do
    local names = {}
    for j, m in ipairs(c.metrics[i]) do
      if type(m.name) ~= "string" or not pcall(dnn.metrics.get, m.name, c.loss_names[i]) then return nil end
      names[j] = m.name
    end
    metrics[i] = json.array(names)
  end
  return {optimizer = {class_name = opt.name, config = config}, loss = loss,
          metrics = c.n_outputs == 1 and metrics[1] or json.array(metrics)}
end

function M.model_config(model)
  return layer_entry(model)
end

-- model:save(path[, {include_optimizer = true}])
function M.save_model(model, path, options)
  if not layer.is_layer(model) then error(string.format("save: expected a model, got %s", type(model)), 3) end
  if type(path) ~= "string" then error(string.format("save: expected a path (string), got %s", type(path)), 3) end
  if options ~= nil and type(options) ~= "table" then
    error(string.format("save: expected an options table, got %s", type(options)), 3)
  end
  local ok, doc = pcall(function()
    return json.encode{format = M.FORMAT, model = layer_entry(model), compile = compile_config(model)}
  end)
  if not ok then error(string.format("save: %s: %s", path, tostring(doc)), 3) end
  local include = options and options.include_optimizer
  if include and not model.optimizer then
    error(string.format("save: %s: include_optimizer needs a compiled model (call model:compile first)", path), 3)
  end
  require("dnn.weights").save(model, path, {[M.METADATA_KEY] = doc}, {include_optimizer = include})
end

-- ---- loading: plain tables -> Lua objects ----

local function fail(path, fmt, ...)
  error(string.format("load_model: %s: " .. fmt, path, ...), 0)
end

local function expect(path, v, kind, what)
  local ok
  if kind == "array" then
    ok = type(v) == "table" and (next(v) == nil or #v > 0)
    if ok then for k in pairs(v) do if math.type(k) ~= "integer" then ok = false end end end
  elseif kind == "object" then
    ok = type(v) == "table" and (next(v) == nil or #v == 0)
  elseif kind == "integer" then
    ok = math.type(v) == "integer"
  else
    ok = type(v) == kind
  end
  if not ok then fail(path, "%s: expected %s, got %s", what, kind == "object" and "an object" or (kind == "array" and
    "an array" or "a " .. kind), v == json.null and "null" or type(v)) end
  return v
end

local build_entry -- forward

-- Data from the file back into constructor values: refs to symbolic
-- tensors (from values), nested layers, regularizers, nulls.
local function restore(path, v, values, where)
  where = where or "value"
  if v == json.null then return nil end
  if type(v) ~= "table" then return v end
  if v.__tensor ~= nil then
    local r = expect(path, v.__tensor, "array", where)
    local key = string.format("%s#%s#%s", tostring(r[1]), tostring(r[2]), tostring(r[3]))
    local s = values and values[key]
    if not s then fail(path, "%s: refers to tensor %s, which no earlier node made", where, key) end
    return s
  end
  if v.__layer ~= nil then return build_entry(path, v.__layer, where) end
  if v.__regularizer ~= nil then
    local r = expect(path, v.__regularizer, "object", where)
    local make = type(r.class_name) == "string" and ({L1 = true, L2 = true, L1L2 = true})[r.class_name] and
                 dnn.regularizers[r.class_name]
    if not make then fail(path, "%s: unknown regularizer '%s'", where, tostring(r.class_name)) end
    local ok, reg = pcall(make, expect(path, r.config, "object", where))
    if not ok then fail(path, "%s: %s", where, tostring(reg)) end
    return reg
  end
  if v.__schedule ~= nil then
    local r = expect(path, v.__schedule, "object", where)
    local cls = type(r.class_name) == "string" and rawget(dnn.optim.schedules, r.class_name)
    if type(cls) ~= "table" or rawget(cls, "args") == nil then fail(path, "%s: unknown learning-rate schedule '%s'", where, tostring(r.class_name)) end
    local ok, schedule = pcall(cls, restore(path, expect(path, r.config, "object", where), values, where))
    if not ok then fail(path, "%s: %s", where, tostring(schedule):gsub("^[^:\n]*:%d+: ", "")) end
    return schedule
  end
  local out = {}
  for k, item in pairs(v) do out[k] = restore(path, item, values, where .. "." .. tostring(k)) end
  return out
end

local function build_sequential(path, config, where)
  expect(path, config.layers, "array", where .. ".layers")
  local model = dnn.nn.Sequential(nil, {name = expect(path, config.name, "string", where .. ".name")})
  for i, entry in ipairs(config.layers) do
    local l = build_entry(path, entry, string.format("%s.layers[%d]", where, i))
    local ok, err = pcall(model.add, model, l)
    if not ok then fail(path, "%s: %s", where, tostring(err)) end
  end
  if not model.built and config.input_shape ~= nil then
    local shape = expect(path, config.input_shape, "array", where .. ".input_shape")
    for i, d in ipairs(shape) do expect(path, d, "integer", string.format("%s.input_shape[%d]", where, i)) end
    model.input_shape = {table.unpack(shape)}
    local ok, err = pcall(model.build_from_input_shape, model)
    if not ok then fail(path, "%s: %s", where, tostring(err)) end
  end
  if config.trainable ~= nil and not expect(path, config.trainable, "boolean", where .. ".trainable") then
    model.trainable = false
  end
  return model
end

local function build_functional(path, config, where)
  expect(path, config.layers, "array", where .. ".layers")
  expect(path, config.nodes, "array", where .. ".nodes")
  expect(path, config.inputs, "array", where .. ".inputs")
  expect(path, config.outputs, "array", where .. ".outputs")
  local by_name, values = {}, {}
  for i, entry in ipairs(config.layers) do
    local w = string.format("%s.layers[%d]", where, i)
    expect(path, entry, "object", w)
    if entry.class_name == "InputLayer" then
      local c = expect(path, entry.config, "object", w .. ".config")
      local name = expect(path, c.name, "string", w .. ".config.name")
      local ok, s = pcall(dnn.nn.Input, restore(path, expect(path, c.shape, "array", w .. ".config.shape")),
        {name = name, batch_size = c.batch_size ~= json.null and c.batch_size or nil})
      if not ok then fail(path, "%s: %s", w, tostring(s)) end
      values[name .. "#0#1"] = s
      by_name[name] = true
    else
      local l = build_entry(path, entry, w)
      by_name[l.name] = l
    end
  end
  for i, node in ipairs(config.nodes) do
    local w = string.format("%s.nodes[%d]", where, i)
    expect(path, node, "object", w)
    local l = by_name[node.layer]
    if type(l) ~= "table" then fail(path, "%s: unknown layer '%s'", w, tostring(node.layer)) end
    local index = expect(path, node.node_index, "integer", w .. ".node_index")
    local args = expect(path, node.args, "object", w .. ".args")
    local n = expect(path, args.n, "integer", w .. ".args.n")
    local items = expect(path, args.items, "array", w .. ".args.items")
    if n < 0 or n > 64 or #items ~= n then fail(path, "%s.args: %d items for n = %d", w, #items, n) end
    local real = {}
    for j = 1, n do real[j] = restore(path, items[j], values, string.format("%s.args[%d]", w, j)) end
    local results = table.pack(pcall(l, table.unpack(real, 1, n)))
    if not results[1] then fail(path, "%s (layer '%s'): %s", w, l.name, tostring(results[2])) end
    for j = 2, results.n do values[string.format("%s#%d#%d", l.name, index, j - 1)] = results[j] end
  end
  local function refs(list, what)
    local out = {}
    for i, r in ipairs(list) do out[i] = restore(path, r, values, string.format("%s.%s[%d]", where, what, i)) end
    return out
  end
  local inputs, outputs = refs(config.inputs, "inputs"), refs(config.outputs, "outputs")
  local ok, model = pcall(dnn.nn.Model, {
    inputs = (config.single_input == true and #inputs == 1) and inputs[1] or inputs,
    outputs = (config.single_output == true and #outputs == 1) and outputs[1] or outputs,
    name = expect(path, config.name, "string", where .. ".name")})
  if not ok then fail(path, "%s: %s", where, tostring(model)) end
  if config.trainable ~= nil and not expect(path, config.trainable, "boolean", where .. ".trainable") then
    model.trainable = false
  end
  return model
end

function build_entry(path, entry, where)
  expect(path, entry, "object", where)
  local class_name = expect(path, entry.class_name, "string", where .. ".class_name")
  local config = expect(path, entry.config, "object", where .. ".config")
  if class_name == "Sequential" then return build_sequential(path, config, where) end
  if class_name == "Functional" then return build_functional(path, config, where) end
  local cls = layer.registry[class_name]
  if not cls then
    fail(path, "%s: unknown layer class '%s' (a custom layer must be registered with dnn.nn.register(\"%s\", " ..
      "class) before loading)", where, class_name, class_name)
  end
  local args = restore(path, expect(path, config.args or json.array{}, "array", where .. ".config.args"), nil,
    where .. ".config.args")
  local options = restore(path, expect(path, config.options or {}, "object", where .. ".config.options"), nil,
    where .. ".config.options")
  -- an option the class does not take is refused by its constructor (cls.options), not ignored
  local n = #args
  args[n + 1] = options
  local ok, l = pcall(cls, table.unpack(args, 1, n + 1))
  if not ok then fail(path, "%s (%s '%s'): %s", where, class_name, tostring(options.name),
    tostring(l):gsub("^[^:\n]*:%d+: ", "")) end
  if not layer.is_layer(l) then fail(path, "%s: class '%s' did not make a layer", where, class_name) end
  return l
end

-- dnn.load_model(path) -> the model, built, weights loaded, compiled when the
-- file says how (with the optimizer's state when the file holds it).
function M.load_model(path)
  if type(path) ~= "string" then error(string.format("load_model: expected a path (string), got %s", type(path)), 2) end
  local ok, _, meta = pcall(dnn.load_safetensors, path)
  if not ok then error("load_model: " .. tostring(_):gsub("^[^:\n]*:%d+: ", ""):gsub("^load_safetensors: ", ""), 2) end
  local text = meta[M.METADATA_KEY]
  if text == nil then
    fail(path, "no model architecture in the file (metadata '%s' missing: a weights file? use model:load_weights)",
      M.METADATA_KEY)
  end
  local doc, err = json.decode(text)
  if not doc then fail(path, "the architecture is not valid JSON (%s)", err) end
  expect(path, doc, "object", "the architecture")
  if doc.format ~= M.FORMAT then fail(path, "unknown format %s (this dnnlua reads %d)", tostring(doc.format), M.FORMAT) end
  local model = build_entry(path, doc.model, "model")
  if not model.layers then fail(path, "model: expected a model (Sequential or Functional), got a %s", model.type_name) end
  if doc.compile ~= nil then
    local c = expect(path, doc.compile, "object", "compile")
    local o = expect(path, c.optimizer, "object", "compile.optimizer")
    local cls = type(o.class_name) == "string" and dnn.optim[o.class_name]
    if type(cls) ~= "table" or type(rawget(cls, "defaults")) ~= "table" then
      fail(path, "compile.optimizer: unknown optimizer '%s'", tostring(o.class_name))
    end
    local okc, cerr = pcall(function()
      local opt = cls(restore(path, expect(path, o.config, "object", "compile.optimizer.config")))
      model:compile{optimizer = opt, loss = restore(path, c.loss), metrics = restore(path, c.metrics)}
    end)
    if not okc then fail(path, "compile: %s", tostring(cerr):gsub("^[^:\n]*:%d+: ", "")) end
  end
  local okw, werr = pcall(require("dnn.weights").load, model, path)
  if not okw then
    error("load_model: " .. tostring(werr):gsub("^[^:\n]*:%d+: ", ""):gsub("^load_weights: ", ""), 2)
  end
  return model
end

return M
