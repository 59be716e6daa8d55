-- Trains a small Keras-style CNN on Fashion-MNIST and prints its test
-- accuracy: two conv-pool blocks (three with --full) with batch norm, dropout and a dense head,
-- Adam with a cosine-decayed learning rate, model:fit's progress bar.
-- Saves its training curves and the first conv layer's filters as PNG files.
-- Usage: dnnlua examples/train_cnn.lua [--epochs N] [--batch-size N] [--lr X]
--   [--limit N] [--data DIR] [--seed N] [--validation] [--full] [--augment]
--   [--out DIR] [--save FILE]
--   --full trains longer (for >= 93%); --validation holds out 10% of the
--   training set and reports its accuracy after each epoch; --augment adds
--   random flips and shifts (Keras preprocessing layers, active in training
--   only); --out is where the PNG files go (default: the current folder).
local dnn = require "dnn"

local args = dofile((arg[0]:match("^(.*)/") or ".") .. "/lib/args.lua")

local function parse_args(argv)
  local parser = args.parser("train_cnn.lua",
    "Trains a small Keras-style CNN on Fashion-MNIST, prints its test accuracy and saves its curves and filters.")
  args.number_option(parser, "--epochs", "training epochs (default: 20, 15 with --full)", nil, args.positive_integer)
  args.number_option(parser, "--batch-size", "images per training step", 64, args.positive_integer)
  args.number_option(parser, "--lr", "peak learning rate (cosine-decayed)", 2e-3, args.positive_number):argname("X")
  args.number_option(parser, "--limit", "train on the first N training images only", nil, args.positive_integer)
  parser:option("--data", "the Fashion-MNIST folder (default: Debian's dataset-fashion-mnist)"):argname("DIR")
  args.number_option(parser, "--seed", "random seed", 42, args.nonnegative_integer)
  parser:flag("--validation", "hold out 10% of the training set and report its accuracy after each epoch")
  parser:flag("--full", "a third conv block, trained longer (for >= 93%)")
  parser:flag("--augment", "random flips and shifts of the training images")
  args.out_dir_option(parser, "where the PNG files go")
  parser:option("--save", "save the trained model to FILE (examples/gan.lua scores samples with it)"):argname("FILE")
  local opts = parser:parse(argv)
  opts.epochs = opts.epochs or (opts.full and 15 or 20)
  return opts
end

local opts = parse_args(arg or {})
dnn.manual_seed(opts.seed)

local fashion_cnn = dofile((arg[0]:match("^(.*)/") or ".") .. "/lib/fashion_cnn.lua")
local x_train, y_train, test = fashion_cnn.load_data(opts.data, opts.limit)

local model = fashion_cnn{full = opts.full, augment = opts.augment}
model:summary()

-- The learning rate follows a cosine from lr down to lr/20 over the run: the
-- last epochs take small steps, which is worth about a point of accuracy.
local n_fit = opts.validation and math.floor(x_train.shape[1] * 0.9) or x_train.shape[1]
local steps = opts.epochs * math.ceil(n_fit / opts.batch_size)
local schedule = dnn.optim.schedules.CosineDecay{initial_learning_rate = opts.lr, decay_steps = steps, alpha = 0.05}
model:compile{optimizer = dnn.optim.Adam{learning_rate = schedule}, loss = "sparse_categorical_crossentropy",
              metrics = {"accuracy"}}

print(string.format("training on %d Fashion-MNIST images for %d epochs, batch %d, %d threads", n_fit, opts.epochs,
  opts.batch_size, dnn.get_num_threads()))
local started = dnn.wall_time()
local history = model:fit(x_train, y_train, {epochs = opts.epochs, batch_size = opts.batch_size, shuffle = true,
                                             validation_split = opts.validation and 0.1 or nil})
local trained = dnn.wall_time() - started
local _, metrics = model:evaluate(test.x, test.y, {batch_size = 500, verbose = 0})
print(string.format("training time %.1fs", trained))
-- Pictures: the training curves, and the first conv layer's 16 filters.
local curves = opts.out .. "/train_cnn_curves.png"
dnn.plot.history(history, curves, {title = "train_cnn"})
local first_conv
for _, layer in ipairs(model.layers) do
  if layer.type_name == "Conv2D" then
    first_conv = first_conv or layer
  end
end
local filters = opts.out .. "/train_cnn_filters.png"
local grid = dnn.image.filters_grid(first_conv.kernel:detach())
dnn.image.save(dnn.image.resize(grid, grid.shape[1] * 12, grid.shape[2] * 12, {method = "nearest"}), filters)
print(string.format("saved %s and %s", curves, filters))
if opts.save then
  model:save(opts.save)
  print("saved the model to " .. opts.save)
end
print(string.format("test accuracy %.4f", metrics.accuracy))
