-- dnn.datasets: standard data sets, read from the files Debian packages ship.
--
--   local train, test = dnn.datasets.fashion_mnist()
--   train.x  -- (60000, 28, 28, 1), floats in [0, 1]
--   train.y  -- (60000), class ids 1..10 (the files' 0..9 plus one)
--   train.class_names[train.y[1]:item()]
--
-- The files are Debian's dataset-fashion-mnist (train-images-idx3-ubyte.gz,
-- train-labels-idx1-ubyte.gz, t10k-...), read from the folder given, else
-- from $DNN_DATA (the folder itself or its fashion-mnist/ subfolder), else
-- from /usr/share/datasets/fashion-mnist. Unpacked (.gz-less) files work too.
local data = require "dnn.data"

local M = {}

local DEFAULT_FASHION_DIR = "/usr/share/datasets/fashion-mnist"
local INSTALL_HINT = "apt-get install dataset-fashion-mnist, or set DNN_DATA to a folder holding its files"

-- Zalando's names for the ten classes, in the order of the files' labels.
local FASHION_CLASSES = {
  "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
  "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
}

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local function is_dir(path)
  return exists(path .. "/.")
end

-- The folder to read: the argument, else $DNN_DATA (itself, or its
-- fashion-mnist subfolder), else Debian's.
local function fashion_dir(dir)
  if dir then return dir, "the argument" end
  local env = os.getenv("DNN_DATA")
  if env and env ~= "" then
    if is_dir(env .. "/fashion-mnist") then return env .. "/fashion-mnist", "DNN_DATA" end
    return env, "DNN_DATA"
  end
  return DEFAULT_FASHION_DIR, "the default"
end

-- dir/name, or dir/name without its .gz when only the unpacked file is there.
local function find_file(dir, name)
  local path = dir .. "/" .. name
  if exists(path) then return path end
  local plain = path:gsub("%.gz$", "")
  if exists(plain) then return plain end
  error(string.format("fashion_mnist: %s not found (%s)", path, INSTALL_HINT), 0)
end

-- One split: images scaled to [0, 1] as (n, 28, 28, 1), labels made 1-based.
local function load_split(dir, images_name, labels_name, limit)
  local images_path = find_file(dir, images_name)
  local labels_path = find_file(dir, labels_name)
  local images = data.read_idx(images_path)
  local labels = data.read_idx(labels_path)
  if images.ndim ~= 3 then
    error(string.format("fashion_mnist: %s: expected images of 3 dims (n, rows, cols), got %d", images_path,
      images.ndim), 0)
  end
  if labels.ndim ~= 1 then
    error(string.format("fashion_mnist: %s: expected labels of 1 dim, got %d", labels_path, labels.ndim), 0)
  end
  local n = images.shape[1]
  if labels.shape[1] ~= n then
    error(string.format("fashion_mnist: %s holds %d labels for the %d images of %s", labels_path, labels.shape[1], n,
      images_path), 0)
  end
  local scaled
  if limit and limit < n then
    n = limit
    scaled = images:narrow(1, 1, n) / 255 -- a copy of these alone: the whole file's tensor is let go
    labels = labels:narrow(1, 1, n)
  else
    scaled = images:div_(255) -- in place: a copy would double the peak memory (188 MB more for the train split)
  end
  local high, low = labels:max():item(), (-labels):max():item()
  if high > 9 or low > 0 then
    error(string.format("fashion_mnist: %s: expected labels 0..9, found %g..%g", labels_path, -low, high), 0)
  end
  local rows, cols = images.shape[2], images.shape[3]
  return {
    x = scaled:reshape(n, rows, cols, 1),
    y = labels + 1,
    class_names = FASHION_CLASSES,
  }
end

-- fashion_mnist([dir | {dir = ..., limit = n}]) -> train, test
-- limit keeps the first n examples of each split.
function M.fashion_mnist(opts)
  local dir, limit
  if type(opts) == "string" then
    dir = opts
  elseif type(opts) == "table" then
    dir, limit = opts.dir, opts.limit
  elseif opts ~= nil then
    error("bad argument #1 to 'fashion_mnist' (expected a folder or an options table, got " .. type(opts) .. ")", 2)
  end
  if dir ~= nil and type(dir) ~= "string" then
    error("bad option 'dir' to 'fashion_mnist' (string expected, got " .. type(dir) .. ")", 2)
  end
  if limit ~= nil and not (math.tointeger(limit) and limit >= 1) then
    error("bad option 'limit' to 'fashion_mnist' (expected an integer >= 1, got " .. tostring(limit) .. ")", 2)
  end
  limit = limit and math.tointeger(limit)
  local from
  dir, from = fashion_dir(dir)
  if not is_dir(dir) then
    error(string.format("fashion_mnist: folder %s (from %s) not found (%s)", dir, from, INSTALL_HINT), 2)
  end
  local train = load_split(dir, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", limit)
  local test = load_split(dir, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", limit)
  return train, test
end

M.fashion_mnist_class_names = FASHION_CLASSES
M.fashion_scenes = require("dnn.scenes").fashion_scenes -- scenes of Fashion-MNIST items (segmentation, detection)

-- Synthetic OCR lines (lua/dnn/text_lines.lua), loaded on first use.
function M.text_lines(options) return require("dnn.text_lines")(options) end


-- ---- reference ----

--- @module dnn.datasets Standard data sets from Debian's packages

--- dnn.datasets.fashion_mnist([dir | options])
-- Fashion-MNIST (Debian's dataset-fashion-mnist): `train, test`, each
-- `{x (n, 28, 28, 1) in [0, 1], y (n) class ids 1..10, class_names}`. Read
-- from `dir`, else `$DNN_DATA`, else /usr/share/datasets/fashion-mnist.
-- @option dir=nil the folder of the IDX files
-- @option limit=nil keep the first n examples of each split
-- @example local train, test = dnn.datasets.fashion_mnist{limit = 1000}

--- dnn.datasets.fashion_mnist_class_names
-- The ten class names ("T-shirt/top", ...) in label order.
-- @example print(dnn.datasets.fashion_mnist_class_names[1])

return M
