-- dnn.summary: model:summary(), Keras 3's table. One row per layer: "name
-- (Type)", output shape with None for the batch, parameter count; functional
-- models that branch also get Keras's "Connected to" column
-- ("dense[0][0]": layer, node and output, 0-based as Keras prints them).
-- Then the totals with their float32 sizes:
--  Total params: 41 (164.00 B)
--  Trainable params: 41 (164.00 B)
--  Non-trainable params: 0 (0.00 B)
-- Output shapes come from the functional graph, or from a probe on one
-- example when the input shape is known (Sequential with input_shape, or a
-- model already called); otherwise "?" and "0 (unbuilt)", as Keras.
-- With batch_size, then the estimate of a training step's memory
-- (dnn.training_memory).
local dnn = require "dnn"
local layer = require "dnn.layer"
local models = require "dnn.models"
local training_memory = require "dnn.training_memory"

local shape_string = models.shape_string
local M = {}

-- 1234567 -> "1,234,567"
local function with_commas(n)
  local s = tostring(math.floor(n))
  local head, digits = s:match("^(-?)(%d+)$")
  digits = digits:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", "")
  return head .. digits
end
M.with_commas = with_commas

-- Keras's readable_memory_size: "164.00 B", "4.82 KB", ...
local function memory_size(bytes)
  local units = {"B", "KB", "MB", "GB", "TB", "PB"}
  for i, unit in ipairs(units) do
    if bytes / 1024 < 1 or i == #units then return string.format("%.2f %s", bytes, unit) end
    bytes = bytes / 1024
  end
end
M.memory_size = memory_size

local function shapes_string(shapes)
  if not shapes or #shapes == 0 then return "?" end
  if #shapes == 1 then return shape_string(shapes[1]) end
  local parts = {}
  for i, s in ipairs(shapes) do parts[i] = shape_string(s) end
  return "[" .. table.concat(parts, ", ") .. "]"
end

local function batchless(shape)
  local s = {table.unpack(shape)}
  s[1] = -1
  return s
end

-- Output shapes of a Sequential's layers: a probe on one example.
local function sequential_shapes(model)
  local shapes = {}
  local input_shape = model.input_shape
  if not input_shape then return shapes end
  local ok = pcall(models.probe, model, function()
    local x = dnn.ones(1, table.unpack(input_shape))
    for _, l in ipairs(model.layers) do
      local outs = table.pack(l(x))
      shapes[l] = {}
      for j = 1, outs.n do
        if dnn.is_tensor(outs[j]) then shapes[l][j] = batchless(outs[j].shape) end
      end
      x = outs[1]
    end
  end)
  if not ok then return {} end
  return shapes
end

-- Output shapes of a custom model's layers: a probe of the input it was
-- last called with, each layer's first output recorded on the way.
local function recorded_shapes(model)
  local shapes = {}
  local seen = rawget(model, "_input_shapes")
  if not seen then return shapes end
  local function example()
    if seen.single then return dnn.ones(1, table.unpack(seen[1])) end
    local list = {}
    for i, s in ipairs(seen) do list[i] = dnn.ones(1, table.unpack(s)) end
    return list
  end
  local previous = layer.recorder
  layer.recorder = function(l, y)
    if not shapes[l] and dnn.is_tensor(y) then shapes[l] = {batchless(y.shape)} end
  end
  pcall(models.probe, model, function() return model(example()) end)
  layer.recorder = previous
  return shapes
end

-- For a functional model: each layer's output shapes, its inbound
-- connections, and whether the graph is a plain chain (no Connected to).
local function functional_info(model)
  local shapes, connections, in_shapes = {}, {}, {}
  local consumers = {}
  local chain = #model.inputs == 1 and #model.outputs == 1
  for _, node in ipairs(model._order) do
    local l = node.layer
    if not shapes[l] then
      shapes[l] = {}
      for i, s in ipairs(node.outputs) do shapes[l][i] = s.shape end
    elseif not node.is_input then
      chain = false -- a shared layer
    end
    connections[l] = connections[l] or {}
    if not in_shapes[l] then
      in_shapes[l] = {}
      for i, s in ipairs(node.inputs) do in_shapes[l][i] = s.shape end
    end
    if #node.inputs > 1 then chain = false end
    for _, s in ipairs(node.inputs) do
      consumers[s] = (consumers[s] or 0) + 1
      if consumers[s] > 1 then chain = false end
      local from = s.node
      connections[l][#connections[l] + 1] = string.format("%s[%d][%d]", from.layer.name, from.node_index, s.index - 1)
    end
  end
  return shapes, connections, chain, in_shapes
end

-- Each layer's input shapes in a chain: the previous layer's output, the
-- first's the model input.
local function chain_inputs(model, shapes, input_shape)
  local in_shapes, previous = {}, input_shape and {input_shape}
  for _, l in ipairs(model.layers) do
    in_shapes[l] = previous
    previous = shapes[l]
  end
  return in_shapes
end

-- The model's input shape (batch first, as -1) when known.
local function model_input_shape(model)
  if model.type_name == "Functional" then
    local s = model.inputs[1] and model.inputs[1].shape
    return s
  end
  local shape = model.input_shape
  if not shape then
    local seen = rawget(model, "_input_shapes")
    shape = seen and seen[1]
  end
  return shape and {-1, table.unpack(shape)}
end

-- The estimate's lines, Keras's footer style.
local function print_training_memory(model, batch_size, shapes, in_shapes, print_fn)
  local input_shape = model_input_shape(model)
  if model.type_name ~= "Functional" then in_shapes = chain_inputs(model, shapes, input_shape) end
  local e = training_memory.estimate(model, batch_size, shapes, in_shapes, input_shape)
  print_fn(string.format(" Training memory at batch size %d (estimate, float32):", batch_size))
  if not e.optimizer then print_fn("  optimizer: none compiled (no optimizer state counted)") end
  for _, row in ipairs(e.rows) do
    print_fn(string.format("  %s: %s (%s)", row[1], with_commas(row[2]), memory_size(4 * row[2])))
  end
  print_fn(string.format("  Total: %s (%s)", with_commas(e.total), memory_size(4 * e.total)))
end

-- Display width of a string (UTF-8 aware).
local function width(s)
  return utf8.len(s) or #s
end

local function pad(s, w, right)
  local fill = string.rep(" ", math.max(0, w - width(s)))
  return right and (fill .. s) or (s .. fill)
end

-- The table's lines: box-drawn as Keras 3 (rich) draws it.
local function draw(headers, rows, widths, right)
  for c, h in ipairs(headers) do widths[c] = math.max(widths[c], width(h)) end
  for _, row in ipairs(rows) do
    for c, cell in ipairs(row) do
      for _, line in ipairs(cell) do widths[c] = math.max(widths[c], width(line)) end
    end
  end
  local function rule(left, mid, right_end, fill)
    local parts = {}
    for c, w in ipairs(widths) do parts[c] = string.rep(fill, w + 2) end
    return left .. table.concat(parts, mid) .. right_end
  end
  local function text_line(cells, bar)
    local parts = {}
    for c, w in ipairs(widths) do parts[c] = " " .. pad(cells[c] or "", w, right[c]) .. " " end
    return bar .. table.concat(parts, bar) .. bar
  end
  local lines = {rule("┏", "┳", "┓", "━"), text_line(headers, "┃"), rule("┡", "╇", "┩", "━")}
  for r, row in ipairs(rows) do
    local height = 1
    for _, cell in ipairs(row) do height = math.max(height, #cell) end
    for i = 1, height do
      local cells = {}
      for c, cell in ipairs(row) do cells[c] = cell[i] or "" end
      lines[#lines + 1] = text_line(cells, "│")
    end
    if r < #rows then lines[#lines + 1] = rule("├", "┼", "┤", "─") end
  end
  lines[#lines + 1] = rule("└", "┴", "┘", "─")
  return lines
end

local known_options = {print_fn = true, show_trainable = true, batch_size = true}

-- model:summary{print_fn = function(line) ... end, show_trainable = false, batch_size = n}
function M.summary(model, options)
  options = options or {}
  if type(options) ~= "table" then error("summary: expected a table of options, got " .. type(options), 3) end
  for k in pairs(options) do
    if not known_options[k] then error(string.format("summary: unknown option '%s'", tostring(k)), 3) end
  end
  local print_fn = options.print_fn or print
  if type(print_fn) ~= "function" then error("summary: print_fn must be a function, got " .. type(print_fn), 3) end
  local batch_size = options.batch_size
  if batch_size ~= nil and (math.type(batch_size) ~= "integer" or batch_size < 1) then
    error("summary: batch_size must be a positive integer, got " .. tostring(batch_size), 3)
  end

  local shapes, connections, chain, in_shapes
  if model.type_name == "Functional" then
    shapes, connections, chain, in_shapes = functional_info(model)
  elseif model.type_name == "Sequential" then
    shapes, chain = sequential_shapes(model), true
  else
    shapes, chain = recorded_shapes(model), true
  end

  local headers = {"Layer (type)", "Output Shape", "Param #"}
  local widths = {31, 22, 13}
  local right = {false, false, true}
  if not chain then
    headers[4] = "Connected to"
    widths = {27, 22, 10, 24}
  end
  if options.show_trainable then
    headers[#headers + 1] = "Trainable"
    widths[#widths + 1] = 9
  end

  local rows = {}
  for _, l in ipairs(model.layers) do
    local total = l:count_params()
    local params = with_commas(total)
    if not l.built and total == 0 and l.type_name ~= "InputLayer" then params = "0 (unbuilt)" end
    local row = {{l.name .. " (" .. l.type_name .. ")"}, {shapes_string(shapes[l])}, {params}}
    if not chain then
      local cons = connections[l]
      row[4] = (cons and #cons > 0) and cons or {"-"}
    end
    if options.show_trainable then row[#row + 1] = {l.trainable ~= false and "Y" or "N"} end
    rows[#rows + 1] = row
  end

  print_fn(string.format('Model: "%s"', model.name))
  for _, line in ipairs(draw(headers, rows, widths, right)) do print_fn(line) end
  local total, trainable, non_trainable = model:count_params()
  print_fn(string.format(" Total params: %s (%s)", with_commas(total), memory_size(4 * total)))
  print_fn(string.format(" Trainable params: %s (%s)", with_commas(trainable), memory_size(4 * trainable)))
  print_fn(string.format(" Non-trainable params: %s (%s)", with_commas(non_trainable), memory_size(4 * non_trainable)))
  if batch_size then print_training_memory(model, batch_size, shapes, in_shapes, print_fn) end
end

return M
