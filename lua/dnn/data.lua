-- dnn.data: reading data files into tensors, and the DataLoader that batches them.
local core = require "dnn.core"
local D = core._data
local strict = require "dnn.options"

local M = {}

-- read_idx(path): an IDX file (MNIST family), gzip'd or plain, as a float
-- tensor of the file's dims holding the values as stored (0..255 for ubyte).
-- Errors name the path.
M.read_idx = core.read_idx

-- read_cifar10(path): a CIFAR-10 binary batch (data_batch_1.bin, ...) ->
-- x (N, 32, 32, 3) in [0, 1], y (N) class ids 1..10.
function M.read_cifar10(path)
  if type(path) ~= "string" then error("read_cifar10: expected a path, got " .. type(path), 2) end
  return D.read_cifar10(path)
end

local kind_names = {number = "n", float = "n", string = "s", auto = "a"}

local function kind_of(v, where)
  local k = kind_names[v]
  if not k then
    error(string.format("read_csv: expected a column type 'number', 'string' or 'auto' for %s, got %s", where,
      tostring(v)), 3)
  end
  return k
end

-- Class ids for a label column: sorted distinct labels (numerically when
-- they all are numbers) -> 1-based ids.
local function label_ids(values, path, column)
  local seen, names = {}, {}
  local numeric = true
  for i, v in ipairs(values) do
    if v == "" then error(string.format("read_csv: %s: row %d: the label column '%s' is empty", path, i, column), 3) end
    if not seen[v] then
      seen[v] = true
      names[#names + 1] = v
      if not tonumber(v) then numeric = false end
    end
  end
  table.sort(names, numeric and function(a, b) return tonumber(a) < tonumber(b) end or nil)
  local id = {}
  for i, v in ipairs(names) do id[v] = i end
  local y = {}
  for i, v in ipairs(values) do y[i] = id[v] end
  return core.tensor(y), names
end

-- read_csv(path, {header = true, separator = ",", columns = {...}, missing = "nan"|"error", label_column})
--   columns: the types by position ({"number", "string", ...}) or by name ({species = "string"}); a column not
--   named gets the type of its first non-missing value.
-- Without label_column: returns x (N, number columns), names (of x's columns), info.
-- With label_column = "name": x (N, the other number columns), y (N) class ids 1..K, class_names, info.
-- info: columns (x's names), missing ({[name] = count} for every column with a missing field), missing_rows (the
-- 1-based data rows with one), strings ({[name] = array} for the string columns other than the label).
-- Missing fields (empty, NA, N/A, NaN, nan, null, NULL) are NaN in x, or an error with {missing = "error"}.
function M.read_csv(path, options)
  if type(path) ~= "string" then error("read_csv: expected a path, got " .. strict.describe(path), 2) end
  options = strict.check("read_csv", options, {"header", "separator", "columns", "missing", "label_column"})
  local missing = options.missing or "nan"
  if missing ~= "nan" and missing ~= "error" then
    error(string.format("read_csv: missing must be 'nan' or 'error', got %s", strict.describe(missing)), 2)
  end
  local label = options.label_column
  if label ~= nil and type(label) ~= "string" and math.type(label) ~= "integer" then
    error("read_csv: label_column must be a column name or a 1-based position, got " .. strict.describe(label), 2)
  end
  local opts = {header = options.header ~= false, separator = options.separator or ",",
                missing_error = missing == "error", named = {}}
  local positional = {}
  for k, v in pairs(options.columns or {}) do
    if math.type(k) == "integer" then
      positional[k] = kind_of(v, "column " .. k)
    else
      opts.named[k] = kind_of(v, "column '" .. tostring(k) .. "'")
    end
  end
  local kinds = {}
  for i = 1, #positional do kinds[i] = positional[i] or "a" end
  opts.kinds = table.concat(kinds)
  if type(label) == "string" then opts.named[label] = "s" end
  if math.type(label) == "integer" then
    for i = #kinds + 1, label do kinds[i] = "a" end
    kinds[label] = "s"
    opts.kinds = table.concat(kinds)
  end
  local raw = D.read_csv(path, opts)
  local label_index
  if label ~= nil then
    for j, name in ipairs(raw.names) do
      if name == label or j == label then label_index = j end
    end
    if not label_index or label_index > #raw.names then
      error(string.format("read_csv: %s: no column %s", path, tostring(label)), 2)
    end
  end
  local info = {columns = {}, missing = {}, missing_rows = raw.missing_rows, strings = {}}
  local keep = {}
  local c = 0
  for j, name in ipairs(raw.names) do
    if raw.missing[j] > 0 then info.missing[name] = raw.missing[j] end
    if raw.kinds:sub(j, j) == "n" then
      c = c + 1
      if j ~= label_index then
        info.columns[#info.columns + 1] = name
        keep[#keep + 1] = c
      end
    elseif j ~= label_index then
      info.strings[name] = raw.strings[j]
    end
  end
  local x = raw.numbers
  if #keep ~= c then x = x:index_select(2, keep) end
  if not label_index then return x, info.columns, info end
  local y, class_names = label_ids(raw.strings[label_index], path, raw.names[label_index])
  return x, y, class_names, info
end

-- ---- image_folder ----

local image_extensions = {png = true, jpg = true, jpeg = true, bmp = true, gif = true, tga = true}

local function sorted_entries(dir)
  local names, kinds = D.list_dir(dir)
  local order = {}
  for i = 1, #names do order[i] = i end
  table.sort(order, function(a, b) return names[a] < names[b] end)
  local out = {}
  for i, k in ipairs(order) do out[i] = {name = names[k], kind = kinds[k]} end
  return out
end

-- image_folder(dir, {image_size = {256, 256}, channels = 3, validation_split, subset = "training"|"validation", seed,
-- class_names, interpolation = "bilinear"}) as Keras's image_dataset_from_directory: one sub-folder
-- per class (ids by sorted names, or by the order of class_names), every image loaded with channels and resized to
-- image_size -> {x (N, H, W, C) in [0, 1], y (N) class ids, class_names, paths}. Files whose extension is not an
-- image's are skipped (as Keras); a corrupt image is an error naming it. validation_split takes the last fraction of
-- the (seeded) shuffled files as the validation subset.
function M.image_folder(dir, options)
  local fn = "image_folder"
  if type(dir) ~= "string" then error(fn .. ": expected a folder path, got " .. strict.describe(dir), 2) end
  options = strict.check(fn, options, {"image_size", "channels", "validation_split", "subset", "seed", "class_names",
    "interpolation"})
  local size = options.image_size or {256, 256}
  if type(size) ~= "table" or math.type(size[1]) ~= "integer" or math.type(size[2]) ~= "integer" or size[1] < 1
    or size[2] < 1 then
    error(fn .. ": image_size must be {height, width} (positive integers)", 2)
  end
  local channels = options.channels or 3
  if channels ~= 1 and channels ~= 3 and channels ~= 4 then
    error(fn .. ": channels must be 1, 3 or 4, got " .. strict.describe(channels), 2)
  end
  local split, subset = options.validation_split, options.subset
  if split ~= nil and (type(split) ~= "number" or split <= 0 or split >= 1) then
    error(fn .. ": validation_split must be a number in (0, 1), got " .. strict.describe(split), 2)
  end
  if (split == nil) ~= (subset == nil) then
    error(fn .. ": validation_split and subset ('training' or 'validation') go together", 2)
  end
  if subset ~= nil and subset ~= "training" and subset ~= "validation" then
    error(fn .. ": subset must be 'training' or 'validation', got " .. strict.describe(subset), 2)
  end
  local ok, entries = pcall(sorted_entries, dir)
  if not ok then error(fn .. ": " .. tostring(entries):gsub("^[^:]*:%d+: ", ""), 2) end
  local class_names = {}
  for _, e in ipairs(entries) do
    if e.kind == "dir" then class_names[#class_names + 1] = e.name end
  end
  if options.class_names then
    local given = {}
    for _, name in ipairs(class_names) do given[name] = true end
    for _, name in ipairs(options.class_names) do
      if not given[name] then error(string.format("%s: %s: no sub-folder named '%s'", fn, dir, name), 2) end
    end
    class_names = {table.unpack(options.class_names)}
  end
  if #class_names == 0 then error(string.format("%s: %s: no sub-folders (one per class expected)", fn, dir), 2) end
  local files, labels = {}, {}
  for id, name in ipairs(class_names) do
    for _, e in ipairs(sorted_entries(dir .. "/" .. name)) do
      local ext = e.name:match("%.([^.]+)$")
      if e.kind == "file" and ext and image_extensions[ext:lower()] then
        files[#files + 1] = dir .. "/" .. name .. "/" .. e.name
        labels[#labels + 1] = id
      end
    end
  end
  if #files == 0 then error(string.format("%s: %s: no image files in the class sub-folders", fn, dir), 2) end
  if split then
    -- Keras shuffles the file list with the seed, then splits: the same seed gives complementary subsets.
    local seed = options.seed or 1337
    if math.type(seed) ~= "integer" then error(fn .. ": seed must be an integer, got " .. strict.describe(seed), 2) end
    local order = M.permutation(#files, seed):totable()
    local n_val = math.floor(#files * split)
    local first, last = 1, #files - n_val
    if subset == "validation" then first, last = #files - n_val + 1, #files end
    local f, l = {}, {}
    for i = first, last do
      f[#f + 1], l[#l + 1] = files[order[i]], labels[order[i]]
    end
    files, labels = f, l
    if #files == 0 then error(string.format("%s: the %s subset of %s is empty", fn, subset, dir), 2) end
  end
  local image = require("dnn").image
  if not image or not image.load then error(fn .. ": needs dnn.image (image loading)", 2) end
  local images = {}
  for i, path in ipairs(files) do
    local okl, img = pcall(image.load, path, {channels = channels})
    if not okl then error(string.format("%s: %s", fn, tostring(img):gsub("^[^:]*:%d+: ", "")), 2) end
    if img.shape[1] ~= size[1] or img.shape[2] ~= size[2] then
      img = image.resize(img, size[1], size[2], {interpolation = options.interpolation or "bilinear"})
    end
    images[i] = img
  end
  local y = core.tensor(labels)
  return {x = core.stack(images, 1), y = y, class_names = class_names, paths = files}
end

-- ---- sequences ----

-- Whether v is a plain Lua list (of sequences, texts, labels) rather than a tensor.
local function is_list(v)
  return type(v) == "table" and not core.is_tensor(v)
end

-- Refuses anything but a sequence: a Lua array of numbers or a tensor of at least one dim (its first the steps).
local function check_sequence(fn, s, where)
  if core.is_tensor(s) then
    if s.ndim < 1 then strict.raise(string.format("%s: %s is a 0-d tensor, expected a sequence", fn, where)) end
    return
  end
  if type(s) ~= "table" then
    strict.raise(string.format("%s: %s is %s, expected a sequence (a Lua array of numbers or a tensor)", fn, where,
      strict.describe(s)))
  end
  for j = 1, #s do
    if type(s[j]) ~= "number" then
      strict.raise(string.format("%s: %s[%d] is %s, expected a number", fn, where, j, strict.describe(s[j])))
    end
  end
end

-- Refuses any item of seqs that is not a sequence, and sequences whose steps differ in shape (pad stacks them; a
-- Lua array's steps are numbers, shape ()).
local function check_sequences(fn, seqs, name)
  local shape, first
  for i = 1, #seqs do
    local s, where = seqs[i], string.format("%s[%d]", name, i)
    check_sequence(fn, s, where)
    if core.is_tensor(s) or #s > 0 then
      local dims = core.is_tensor(s) and table.concat(s.shape, ", ", 2) or ""
      if shape == nil then shape, first = dims, where end
      if dims ~= shape then
        strict.raise(string.format("%s: %s's steps have shape (%s), %s's (%s)", fn, where, dims, first, shape))
      end
    end
  end
end

-- pad_sequences's options, checked, with Keras's defaults filled in (maxlen stays nil: the longest).
local function pad_settings(fn, options)
  options = strict.check(fn, options, {"maxlen", "padding", "truncating", "value"})
  local maxlen = options.maxlen
  if maxlen ~= nil and (math.type(maxlen) ~= "integer" or maxlen < 1) then
    strict.raise(fn .. ": maxlen must be a positive integer, got " .. strict.describe(maxlen))
  end
  for _, k in ipairs{"padding", "truncating"} do
    local v = options[k]
    if v ~= nil and v ~= "pre" and v ~= "post" then
      strict.raise(string.format("%s: %s must be 'pre' or 'post', got %s", fn, k, strict.describe(v)))
    end
  end
  if options.value ~= nil and type(options.value) ~= "number" then
    strict.raise(fn .. ": value must be a number, got " .. strict.describe(options.value))
  end
  return {maxlen = maxlen, padding = options.padding or "pre", truncating = options.truncating or "pre",
          value = options.value or 0}
end

local function seq_len(s)
  return core.is_tensor(s) and s.shape[1] or #s
end

-- Lua arrays of numbers, padded into one flat table: no tensor per sequence.
local function pad_arrays(seqs, cfg, maxlen)
  local flat = {}
  for i, s in ipairs(seqs) do
    local len = math.min(#s, maxlen)
    local from = cfg.truncating == "pre" and #s - len or 0
    local at = (i - 1) * maxlen + (cfg.padding == "pre" and maxlen - len or 0)
    for j = (i - 1) * maxlen + 1, i * maxlen do flat[j] = cfg.value end
    for j = 1, len do flat[at + j] = s[from + j] end
  end
  return core.tensor(flat):reshape(#seqs, maxlen)
end

-- Tensors (steps, ...) with the same trailing dims (checked; Lua arrays count as 1-d): each row is the kept steps
-- and a block of value, joined; the rows stacked.
local function pad_tensors(seqs, cfg, maxlen, trailing)
  local rows = {}
  for i, s in ipairs(seqs) do
    local len = math.min(seq_len(s), maxlen)
    local parts = {}
    if len > 0 then
      if not core.is_tensor(s) then s = core.tensor(s) end
      parts[1] = s:narrow(1, cfg.truncating == "pre" and s.shape[1] - len + 1 or 1, len)
    end
    if len < maxlen then
      table.insert(parts, cfg.padding == "pre" and 1 or #parts + 1,
        core.full({maxlen - len, table.unpack(trailing)}, cfg.value))
    end
    rows[i] = #parts == 1 and parts[1] or core.cat(parts, 1)
  end
  return core.stack(rows, 1)
end

-- Pads (and truncates) checked sequences by cfg (pad_settings's).
local function pad(seqs, cfg)
  local maxlen, trailing = cfg.maxlen, nil
  if not maxlen then
    maxlen = 0
    for _, s in ipairs(seqs) do maxlen = math.max(maxlen, seq_len(s)) end
  end
  for _, s in ipairs(seqs) do
    if core.is_tensor(s) then
      trailing = {table.unpack(s.shape, 2)}
      break
    end
  end
  if #seqs == 0 or maxlen == 0 then return core.full({#seqs, maxlen, table.unpack(trailing or {})}, cfg.value) end
  if trailing then return pad_tensors(seqs, cfg, maxlen, trailing) end
  return pad_arrays(seqs, cfg, maxlen)
end

-- pad_sequences(sequences, {maxlen, padding = "pre" | "post", truncating = "pre" | "post", value = 0}) as Keras's:
-- n sequences (Lua arrays of numbers, or tensors (steps, ...) of equal trailing dims) -> a tensor (n, maxlen, ...).
-- maxlen defaults to the longest; truncating "pre" drops a long sequence's first steps, padding "pre" puts value
-- before a short one's.
function M.pad_sequences(seqs, options)
  local fn = "pad_sequences"
  local cfg = pad_settings(fn, options)
  if not is_list(seqs) then
    strict.raise(fn .. ": expected a list of sequences, got " .. strict.describe(seqs))
  end
  check_sequences(fn, seqs, "sequences")
  return pad(seqs, cfg)
end

-- permutation(n, seed): the permutation of 1..n (a tensor) that dnn.manual_seed(seed) then dnn.randperm(n) gives,
-- drawn from dnn's PRNG without moving its global stream: a seeded DataLoader or split repeats whatever else draws.
function M.permutation(n, seed)
  if math.type(n) ~= "integer" or math.type(seed) ~= "integer" then
    error("permutation: expected integers n and seed", 2)
  end
  return D.seeded_randperm(n, seed)
end

-- ---- DataLoader ----

local DataLoader = {}
DataLoader.__index = DataLoader
M.DataLoader = DataLoader

-- A loader over n samples. fetch(ids), when given, builds the batch of the samples ids (a Lua array); without it
-- x and y are tensors, batched by narrow (in order) or index_select (shuffled).
local function new_loader(f)
  return setmetatable({x = f.x, y = f.y, n = f.n, batch_size = f.batch_size, shuffle = f.shuffle == true,
                       seed = f.seed, drop_last = f.drop_last == true, fetch = f.fetch, transforms = {}, epoch = 0},
    DataLoader)
end

local loader_options = {"batch_size", "shuffle", "seed", "drop_last", "x", "y", "collate", "pad"}

local function is_callable(fn)
  return type(fn) == "function" or (type(fn) == "table" and getmetatable(fn) ~= nil and getmetatable(fn).__call ~= nil)
end

-- The number of samples in x: a tensor's first dim, or a list's length (sequences; anything with a collate).
local function sample_count(x, collate)
  if core.is_tensor(x) then
    if x.ndim < 1 then strict.raise("DataLoader: x needs a sample dim, got a 0-d tensor") end
    return x.shape[1]
  end
  if not is_list(x) then
    strict.raise("DataLoader: expected x as a tensor, a list of sequences or a dataset {x =, y =}, got "
      .. strict.describe(x))
  end
  if not collate then
    if type(x[1]) == "number" then
      strict.raise("DataLoader: x is a Lua array of numbers: give samples as a tensor, or sequences as a list of "
        .. "them, DataLoader{x = {{...}, {...}}, ...}")
    end
    check_sequences("DataLoader", x, "x")
  end
  return #x
end

-- y checked against n samples: a tensor, or a list (of numbers, made a tensor; of sequences, padded per batch;
-- of anything, with a collate).
local function checked_labels(y, n, collate)
  if y == nil then return nil end
  local ny
  if core.is_tensor(y) then
    ny = y.ndim >= 1 and y.shape[1] or nil
  elseif is_list(y) then
    ny = #y
  else
    strict.raise("DataLoader: expected y as a tensor or a Lua list, got " .. strict.describe(y))
  end
  if ny ~= n then
    strict.raise(string.format("DataLoader: x and y have different numbers of samples: %d and %s", n,
      ny and tostring(ny) or "a 0-d tensor"))
  end
  if collate or not is_list(y) or n == 0 then return y end
  if type(y[1]) == "number" then
    check_sequence("DataLoader", y, "y")
    return core.tensor(y)
  end
  check_sequences("DataLoader", y, "y")
  return y
end

-- The batch builder of a loader over lists: collate(xs, ys) on the batch's samples (x[i], y[i]), or by default the
-- sequences padded per batch (to the batch's longest, unless pad gives maxlen) and a tensor's rows selected.
local function list_fetch(x, y, collate, cfg)
  if collate then
    return function(ids)
      local xs, ys = {}, y ~= nil and {} or nil
      for i, id in ipairs(ids) do
        xs[i] = x[id]
        if ys then ys[i] = y[id] end
      end
      local xb, yb = collate(xs, ys)
      if not core.is_tensor(xb) then
        strict.raise("DataLoader: collate returned " .. strict.describe(xb) .. " for x, expected a tensor")
      end
      return xb, yb
    end
  end
  local function part(v, ids)
    if core.is_tensor(v) then return v:index_select(1, ids) end
    local picked = {}
    for i, id in ipairs(ids) do picked[i] = v[id] end
    return pad(picked, cfg)
  end
  return function(ids)
    return part(x, ids), y ~= nil and part(y, ids) or nil
  end
end

-- DataLoader{x, y, batch_size = 32, shuffle = false, seed, drop_last = false, collate, pad}, DataLoader{dataset, ...}
-- with a dataset {x =, y =} (y may be absent), or DataLoader(x, y, {...}).
--   x, y: tensors (samples along dim 1), or lists: x a list of variable-length sequences (Lua arrays of numbers or
--         tensors (steps, ...)), padded per batch to the batch's longest with pad = {maxlen, padding = "pre",
--         truncating = "pre", value = 0} (pad_sequences's options and defaults); y a list of numbers (a tensor) or
--         of sequences (padded the same way).
--   collate = function(xs, ys) -> xb, yb: builds each batch from its samples instead (x[i], y[i]: tensor rows, or
--         a list's items, which may then be anything: texts to tokenize, say), as PyTorch's collate_fn.
--   for xb, yb in loader do ... end   -- one epoch; each loop reshuffles (seeded: epoch e's order is fixed)
--   #loader                           -- batches per epoch
--   loader:map(fn)                    -- a new loader giving fn(xb, yb) -> xb, yb per batch
--   loader:map_samples(fn)            -- a new loader giving fn(x_i, y_i) -> x_i, y_i per sample, restacked
function DataLoader.new(...)
  local args, options = require("dnn.layer").args_and_options(...)
  strict.check("DataLoader", options, loader_options)
  local x, y = args[1] or options.x, args[2] or options.y
  if is_list(x) and x.x ~= nil then x, y = x.x, x.y end
  local collate = options.collate
  if collate ~= nil and not is_callable(collate) then
    error("DataLoader: collate must be a function (xs, ys) -> xb, yb, got " .. strict.describe(collate), 3)
  end
  local n = sample_count(x, collate)
  y = checked_labels(y, n, collate)
  local lists = is_list(x) or is_list(y)
  if options.pad ~= nil and collate then
    error("DataLoader: pad and collate do not go together (collate builds the whole batch)", 3)
  end
  if options.pad ~= nil and not lists then
    error("DataLoader: pad is for sequences given as a Lua list (x or y); x and y here are tensors", 3)
  end
  local cfg = lists and not collate and pad_settings("DataLoader's pad", options.pad) or nil
  local bs = options.batch_size or 32
  if math.type(bs) ~= "integer" or bs < 1 then
    error("DataLoader: batch_size must be a positive integer, got " .. strict.describe(bs), 3)
  end
  if options.seed ~= nil and math.type(options.seed) ~= "integer" then
    error("DataLoader: seed must be an integer, got " .. strict.describe(options.seed), 3)
  end
  return new_loader{x = x, y = y, n = n, batch_size = bs, shuffle = options.shuffle, seed = options.seed,
                    drop_last = options.drop_last, fetch = (collate or lists) and list_fetch(x, y, collate, cfg) or nil}
end
setmetatable(DataLoader, {__call = function(_, ...) return DataLoader.new(...) end})

function M.is_loader(v)
  return getmetatable(v) == DataLoader
end

function DataLoader:__len()
  if self.drop_last then return self.n // self.batch_size end
  return (self.n + self.batch_size - 1) // self.batch_size
end

function DataLoader:__tostring()
  return string.format("DataLoader(%d samples, batch_size %d, %d batches%s)", self.n, self.batch_size, #self,
    self.shuffle and ", shuffled" or "")
end

-- The sample order of the next epoch: ids as a tensor, or nil (in order).
function DataLoader:_order()
  self.epoch = self.epoch + 1
  if not self.shuffle then return nil end
  if self.seed then return M.permutation(self.n, self.seed + self.epoch - 1) end
  return core.randperm(self.n)
end

-- The samples of a batch as a Lua array of ids: order's (a tensor) from start, or start.. in order.
local function batch_ids(order, start, len)
  local ids = order and order:narrow(1, start, len):totable() or {}
  for i = 1, len do ids[i] = order and math.tointeger(ids[i]) or start + i - 1 end
  return ids
end

function DataLoader:_batch(order, b)
  local start = (b - 1) * self.batch_size + 1
  local len = math.min(self.batch_size, self.n - start + 1)
  local xb, yb
  if self.fetch then
    xb, yb = self.fetch(batch_ids(order, start, len))
  elseif order then
    local idx = order:narrow(1, start, len)
    xb = self.x:index_select(1, idx)
    yb = self.y and self.y:index_select(1, idx)
  else
    xb = self.x:narrow(1, start, len)
    yb = self.y and self.y:narrow(1, start, len)
  end
  for _, t in ipairs(self.transforms) do xb, yb = t(xb, yb) end
  return xb, yb
end

-- An iterator over one epoch, independent of any other loop over the loader,
-- and a function giving its position ({epoch, order, batch}: what fit's
-- backup keeps); iter(position) goes on from such a position.
function DataLoader:iter(from)
  local order, b
  if from then
    self.epoch, b = from.epoch, from.batch
    order = from.order and core.tensor(from.order) or nil
  else
    order, b = self:_order(), 0
  end
  local count = #self
  local function position() return {epoch = self.epoch, order = order and order:totable() or nil, batch = b} end
  return function()
    b = b + 1
    if b > count then return nil end
    return self:_batch(order, b)
  end, position
end

-- for xb, yb in loader do: Lua calls loader(nil, control); control is nil on
-- the first call of each loop (a batch is never nil), which starts an epoch.
function DataLoader:__call(_, control)
  if control == nil then self._next = self:iter() end
  local xb, yb = self._next()
  if xb == nil then self._next = nil end
  return xb, yb
end

local function copy_loader(self, transform)
  local c = setmetatable({}, DataLoader)
  for k, v in pairs(self) do c[k] = v end
  c.transforms = {table.unpack(self.transforms)}
  c.transforms[#c.transforms + 1] = transform
  c._next = nil
  return c
end

function DataLoader:map(fn)
  if type(fn) ~= "function" and not (type(fn) == "table" and getmetatable(fn) and getmetatable(fn).__call) then
    error("DataLoader:map: expected a function (xb, yb) -> xb, yb, got " .. type(fn), 2)
  end
  return copy_loader(self, function(xb, yb)
    local nx, ny = fn(xb, yb)
    if not core.is_tensor(nx) then error("DataLoader:map: the function returned " .. type(nx) .. " for x", 2) end
    if ny == nil then ny = yb end
    return nx, ny
  end)
end

function DataLoader:map_samples(fn)
  if type(fn) ~= "function" then error("DataLoader:map_samples: expected a function, got " .. type(fn), 2) end
  return copy_loader(self, function(xb, yb)
    local xs, ys = {}, {}
    for i = 1, xb.shape[1] do
      local xi, yi = fn(xb[i], yb and yb[i])
      xs[i], ys[i] = xi, yi
    end
    return core.stack(xs, 1), yb and core.stack(ys, 1)
  end)
end

-- ---- time series ----

-- A series (data or targets) as a tensor with a time dim: a tensor, or a Lua array of numbers.
local function series(fn, v, name)
  if is_list(v) then
    check_sequence(fn, v, name)
    if #v == 0 then strict.raise(fn .. ": " .. name .. " is empty") end
    return core.tensor(v)
  end
  if not core.is_tensor(v) or v.ndim < 1 then
    strict.raise(string.format("%s: expected %s as a tensor (steps, ...) or a Lua array of numbers, got %s", fn, name,
      strict.describe(v)))
  end
  return v
end

local function positive_integer(fn, options, name, default)
  local v = options[name]
  if v == nil then v = default end
  if math.type(v) ~= "integer" or v < 1 then
    strict.raise(string.format("%s: %s must be a positive integer, got %s", fn, name, strict.describe(v)))
  end
  return v
end

local timeseries_options = {"sequence_length", "targets", "sequence_stride", "sampling_rate", "batch_size", "shuffle",
  "seed", "start_index", "end_index"}

-- timeseries(data, {sequence_length, targets, sequence_stride = 1, sampling_rate = 1, batch_size = 128,
-- shuffle = false, seed, start_index = 1, end_index = #data}) as Keras's timeseries_dataset_from_array -> a
-- DataLoader of windows. data: a tensor (steps, ...) or a Lua array. The windows start at rows start_index,
-- start_index + sequence_stride, ...; each takes sequence_length rows sampling_rate apart, all within
-- start_index..end_index (1-based, inclusive); batches are (batch, sequence_length, ...). With targets, a window
-- starting at row i has the target targets[i], and only windows with a target are made. The windows are cut per
-- batch, never all held at once.
function M.timeseries(data, options)
  local fn = "timeseries"
  options = strict.check(fn, options, timeseries_options)
  data = series(fn, data, "data")
  local steps = data.shape[1]
  if options.sequence_length == nil then strict.raise(fn .. ": sequence_length is required") end
  local length = positive_integer(fn, options, "sequence_length")
  local stride = positive_integer(fn, options, "sequence_stride", 1)
  local rate = positive_integer(fn, options, "sampling_rate", 1)
  local batch_size = positive_integer(fn, options, "batch_size", 128)
  local first, last = options.start_index or 1, options.end_index or steps
  if math.type(first) ~= "integer" or first < 1 or first > steps then
    strict.raise(string.format("%s: start_index must be an integer in 1..%d (the data's steps), got %s", fn, steps,
      strict.describe(first)))
  end
  if math.type(last) ~= "integer" or last < first or last > steps then
    strict.raise(string.format("%s: end_index must be an integer in %d..%d (start_index to the data's steps), got %s",
      fn, first, steps, strict.describe(last)))
  end
  if options.shuffle ~= nil and type(options.shuffle) ~= "boolean" then
    strict.raise(fn .. ": shuffle must be a boolean, got " .. strict.describe(options.shuffle))
  end
  if options.seed ~= nil and math.type(options.seed) ~= "integer" then
    strict.raise(fn .. ": seed must be an integer, got " .. strict.describe(options.seed))
  end
  local targets = options.targets ~= nil and series(fn, options.targets, "targets") or nil
  -- Keras's count of window starts: the span left after the last window's reach, cut to the targets there are.
  local count = last - first + 1 - (length - 1) * rate
  if targets then count = math.min(count, targets.shape[1] - first + 1) end
  if count < 1 then
    strict.raise(string.format("%s: no window fits: a window spans %d steps (sequence_length %d, sampling_rate %d), "
      .. "rows %d..%d hold %d%s", fn, (length - 1) * rate + 1, length, rate, first, last, last - first + 1,
      targets and string.format(" (and targets %d)", targets.shape[1]) or ""))
  end
  local starts = {}
  for i = first, first + count - 1, stride do starts[#starts + 1] = i end
  local trailing = {table.unpack(data.shape, 2)}
  -- A batch of windows: one index_select of their rows, reshaped (batch, sequence_length, ...).
  local function fetch(ids)
    local rows, firsts = {}, {}
    for b, id in ipairs(ids) do
      firsts[b] = starts[id]
      for k = 0, length - 1 do rows[#rows + 1] = starts[id] + k * rate end
    end
    local xb = data:index_select(1, rows):reshape(#ids, length, table.unpack(trailing))
    return xb, targets and targets:index_select(1, firsts)
  end
  return new_loader{x = data, y = targets, n = #starts, batch_size = batch_size, shuffle = options.shuffle,
                    seed = options.seed, fetch = fetch}
end


-- ---- reference ----

--- @module dnn.data Data files and the DataLoader
-- Readers that turn files into tensors (class ids 1-based), sequence padding,
-- time-series windows, and the DataLoader that batches, shuffles and maps.

--- dnn.data.read_cifar10(path)
-- A CIFAR-10 binary batch (`data_batch_1.bin`, ...): `x (N, 32, 32, 3)` in [0, 1] and `y (N)` class ids 1..10.
-- @example local x, y = dnn.data.read_cifar10("cifar-10-batches-bin/data_batch_1.bin")

--- dnn.data.read_csv(path[, options])
-- A CSV file as tensors. Without `label_column`: `x (N, number columns)`,
-- the column names, and info. With it: `x`, `y (N)` class ids 1..K,
-- `class_names`, info. Missing fields (empty, NA, NaN, null, ...) are NaN.
-- info: `columns`, `missing` (counts by column), `missing_rows`, `strings` (string columns).
-- @option header=true the first row names the columns
-- @option separator="," the field separator
-- @option columns=nil the types by position (`{"number", "string"}`) or name (`{species = "string"}`)
-- @option missing="nan" `"nan"`, or `"error"` to refuse missing fields
-- @option label_column=nil the name of the class column
-- @example local x, y, class_names = dnn.data.read_csv("iris.csv", {label_column = "species"})

--- dnn.data.image_folder(dir[, options])
-- Keras's `image_dataset_from_directory`: one sub-folder per class; returns
-- `{x (N, H, W, C) in [0, 1], y (N) class ids, class_names (sorted), paths}`.
-- @option image_size={256,256} every image resized to `{height, width}`
-- @option channels=3 1, 3 or 4
-- @option validation_split=nil the fraction kept for validation (the seeded shuffle's last part)
-- @option subset=nil `"training"` or `"validation"` (with validation_split)
-- @option seed=nil the shuffle's seed
-- @option class_names=nil the classes in id order (default the sorted folder names)
-- @option interpolation="bilinear" the resize's interpolation
-- @example local ds = dnn.data.image_folder("pets/", {image_size = {64, 64}})

--- dnn.data.pad_sequences(sequences[, options])
-- Keras's: n sequences (Lua arrays or tensors of equal trailing dims) to one tensor `(n, maxlen, ...)`.
-- @option maxlen=longest the length kept
-- @option padding="pre" `"pre"` or `"post"`: where short sequences get padding
-- @option truncating="pre" `"pre"` or `"post"`: which end of a long sequence is dropped
-- @option value=0 the padding value
-- @example local x = dnn.data.pad_sequences({{1, 2}, {3}}, {maxlen = 4, padding = "post"})

--- dnn.data.permutation(n, seed)
-- A permutation of 1..n fixed by `seed`, drawn without moving dnn's global random stream.
-- @example local order = dnn.data.permutation(100, 42)

--- dnn.data.timeseries(data[, options])
-- Keras's `timeseries_dataset_from_array`: a DataLoader of windows of
-- `data` (a tensor `(steps, ...)` or an array), batches `(batch,
-- sequence_length, ...)`; a window starting at row i has target `targets[i]`.
-- @option sequence_length the rows per window (required)
-- @option targets=nil a tensor or array of targets by starting row
-- @option sequence_stride=1 rows between window starts
-- @option sampling_rate=1 rows between a window's samples
-- @option batch_size=128 windows per batch
-- @option shuffle=false shuffle the windows
-- @option seed=nil the shuffle's seed
-- @option start_index=1 the first row used
-- @option end_index=#data the last row used
-- @example local ds = dnn.data.timeseries(series, {sequence_length = 24, targets = y, batch_size = 32})

--- dnn.data.DataLoader(x[, y][, options])
-- Batches tensors along dim 1 (or lists of variable-length sequences,
-- padded per batch). `for xb, yb in loader do ... end` runs one epoch
-- (reshuffled each time when `shuffle`); `#loader` is the batches per epoch.
-- Also `DataLoader{x, y, batch_size = 64}` and `DataLoader{dataset}` with a `{x =, y =}` table.
-- @option batch_size=32 samples per batch
-- @option shuffle=false reshuffle each epoch
-- @option seed=nil a seed: epoch e's order is then fixed
-- @option drop_last=false drop a last smaller batch
-- @option collate=nil `function(xs, ys) -> xb, yb` that builds each batch from its samples (PyTorch's collate_fn)
-- @option pad=nil pad_sequences's options for list samples
-- @example local loader = dnn.data.DataLoader{x, y, batch_size = 64, shuffle = true}

--- dnn.data.DataLoader:iter([position])
-- An iterator over one epoch, independent of other loops over the loader, and a second result: a function
-- giving the iterator's position (`{epoch, order, batch}`, what fit's backup keeps); `iter(position)` goes on
-- from such a position.
-- @example for xb, yb in loader:iter() do end

--- dnn.data.DataLoader:map(fn)
-- A new loader giving `fn(xb, yb) -> xb, yb` for each batch (augmentation).
-- @example local aug = loader:map(function(xb, yb) return flip(xb), yb end)

--- dnn.data.DataLoader:map_samples(fn)
-- A new loader giving `fn(x_i, y_i) -> x_i, y_i` for each sample, restacked into batches.
-- @example local l2 = loader:map_samples(function(x, y) return x:flip(), y end)

return M
