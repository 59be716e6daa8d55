-- train_cnn.lua's model and data, in one place for the examples and the
-- tests that use them (the MPI example, the ONNX and memory specs). Loaded
-- with dofile:
--   local fashion_cnn = dofile(".../examples/lib/fashion_cnn.lua")
--   local model = fashion_cnn{full = false, augment = false}
--   local x_train, y_train, test = fashion_cnn.load_data(dir, limit)
--
-- Conv (3x3, "same") -> batch norm -> relu -> 2x2 max pooling, twice (16
-- then 32 filters); the convolutions have no bias, as the batch norm after
-- them adds its own. Chosen for speed on 2 cores: train_cnn's 20 epochs of
-- batch 64 reach 92.6-92.7% in 134 s of training at 2 threads; 32/64
-- filters gave the same (92.75% after 10 epochs) in more time per point
-- (docs/CHOICES.md has the table). Batch norm's momentum 0.9 (Keras's
-- default is 0.99) lets the moving statistics settle within short runs.
-- full needs more capacity: this model stopped at 92.7% after 15 epochs,
-- and 32/64 filters at 92.9% after 20 (with dropout 0.4; flips and shifts
-- made it worse), so full adds a third block (32, 64 then 128 filters, the
-- last at 7x7) with dropout 0.4: 93.15% after 15 epochs.
-- augment puts random flips and shifts in front (Keras's preprocessing
-- layers: active in training, identities in evaluate and predict).
local dnn = require "dnn"
local nn = dnn.nn

-- Fashion-MNIST from dir (nil: Debian's dataset-fashion-mnist): the training
-- images and labels, cut to the first `limit` when given, and the whole test
-- split ({x, y}), which a limit never cuts so that every run reports on it.
local function load_data(dir, limit)
  local train, test = dnn.datasets.fashion_mnist(dir)
  local x, y = train.x, train.y
  if limit then
    local n = math.min(limit, x.shape[1])
    x, y = x:narrow(1, 1, n), y:narrow(1, 1, n)
  end
  return x, y, test
end

local function build(options)
  options = options or {}
  local layers = {nn.Input{28, 28, 1}}
  if options.augment then
    layers[#layers + 1] = nn.RandomFlip("horizontal")
    layers[#layers + 1] = nn.RandomTranslation(0.1, 0.1, {fill_mode = "constant"})
  end
  for _, filters in ipairs(options.full and {32, 64, 128} or {16, 32}) do
    for _, l in ipairs{nn.Conv2D(filters, 3, {padding = "same", use_bias = false}), nn.BatchNormalization{momentum = 0.9},
                       nn.Activation("relu"), nn.MaxPooling2D(2)} do
      layers[#layers + 1] = l
    end
  end
  local dropout = options.full and 0.4 or 0.2
  for _, l in ipairs{nn.Flatten(), nn.Dropout(dropout), nn.Dense(128, {activation = "relu"}), nn.Dropout(dropout),
                     nn.Dense(10, {activation = "softmax"})} do
    layers[#layers + 1] = l
  end
  return nn.Sequential(layers)
end

return setmetatable({load_data = load_data}, {__call = function(_, options) return build(options) end})
