-- Autoencoders on Fashion-MNIST, as the seeds' Module 8 builds them: a dense
-- one (784 -> 32 numbers -> 784), a convolutional one (pooling down to
-- 7x7x8, Conv2DTranspose back up) and the convolutional one trained as a
-- denoiser (Gaussian noise on the input, the clean image as the target).
-- Prints each one's test reconstruction MSE beside two baselines (the mean
-- training image for every input; for the denoiser, the noisy input itself)
-- and saves a PNG with rows: input, dense, convolutional, noisy input,
-- denoised.
-- Usage: dnnlua examples/autoencoder.lua [--epochs N] [--limit N] [--test N] [--noise X] [--out DIR]
local nn = dnn.nn

local args = dofile((arg[0]:match("^(.*)/") or ".") .. "/lib/args.lua")
local parser = args.parser("autoencoder.lua",
  "Trains dense, convolutional and denoising autoencoders on Fashion-MNIST and reports their test MSE.")
args.number_option(parser, "--epochs", "training epochs of each autoencoder", 5, args.positive_integer)
args.number_option(parser, "--limit", "train on the first N training images", 60000, args.positive_integer)
args.number_option(parser, "--test", "evaluate on the first N test images", 10000, args.positive_integer)
args.number_option(parser, "--noise", "the denoiser's noise standard deviation", 0.3, args.positive_number)
args.number_option(parser, "--batch-size", "examples per step", 128, args.positive_integer)
args.number_option(parser, "--seed", "the seed of weights, shuffling and noise", 1, args.nonnegative_integer)
parser:option("--data", "the Fashion-MNIST folder (default: Debian's dataset-fashion-mnist)"):argname("DIR")
args.out_dir_option(parser, "where autoencoder.png goes")
local opts = parser:parse(arg or {})

dnn.manual_seed(opts.seed)
local train, test = dnn.datasets.fashion_mnist{dir = opts.data, limit = opts.limit}
local x_train = train.x                                -- (N, 28, 28, 1) in [0, 1]
local x_test = test.x:narrow(1, 1, math.min(opts.test, test.x.shape[1]))

local function noisy(x)
  return (x + dnn.randn(table.unpack(x.shape)) * opts.noise):clamp(0, 1)
end

local function dense_autoencoder()
  return nn.Sequential{
    nn.Flatten{input_shape = {28, 28, 1}},
    nn.Dense(256, {activation = "relu"}),
    nn.Dense(32, {activation = "relu"}),               -- the code: 32 numbers
    nn.Dense(256, {activation = "relu"}),
    nn.Dense(784, {activation = "sigmoid"}),
    nn.Reshape{28, 28, 1},
  }
end

local function conv_autoencoder()
  return nn.Sequential{
    nn.Conv2D(16, 3, {padding = "same", activation = "relu", input_shape = {28, 28, 1}}),
    nn.MaxPooling2D(2),                                 -- 14x14
    nn.Conv2D(8, 3, {padding = "same", activation = "relu"}),
    nn.MaxPooling2D(2),                                 -- the code: 7x7x8 = 392 numbers
    nn.Conv2DTranspose(8, 3, {strides = 2, padding = "same", activation = "relu"}),   -- 14x14
    nn.Conv2DTranspose(16, 3, {strides = 2, padding = "same", activation = "relu"}),  -- 28x28
    nn.Conv2D(1, 3, {padding = "same", activation = "sigmoid"}),
  }
end

local function mse(a, b)
  return (a - b):square():mean():item()
end

-- Trains model to map inputs to targets; returns its test MSE against
-- test_targets and the seconds taken.
local function train_autoencoder(name, model, inputs, targets, test_inputs, test_targets)
  model:compile{optimizer = dnn.optim.Adam{learning_rate = 1e-3}, loss = "mse"}
  local start = dnn.wall_time()
  model:fit(inputs, targets, {epochs = opts.epochs, batch_size = opts.batch_size, verbose = 0})
  local seconds = dnn.wall_time() - start
  local reconstruction = model:predict(test_inputs, {batch_size = 500})
  local err = mse(reconstruction, test_targets)
  print(string.format("%-28s test MSE %.5f  (%d epochs, %.0f s, %d weights)", name, err, opts.epochs, seconds,
    model:count_params()))
  return err, reconstruction
end

local mean_image = x_train:mean(1, true)               -- (1, 28, 28, 1)
local baseline = mse(mean_image:expand(x_test.shape), x_test)
print(string.format("%-28s test MSE %.5f", "baseline: the mean image", baseline))

local dense_err, dense_rec = train_autoencoder("dense (code 32)", dense_autoencoder(), x_train, x_train, x_test,
  x_test)
local conv_err, conv_rec = train_autoencoder("convolutional (code 392)", conv_autoencoder(), x_train, x_train,
  x_test, x_test)

-- The denoiser sees a fresh noisy copy of the training set (one draw) and the
-- clean images as targets; the test inputs get their own noise.
local noisy_test = noisy(x_test)
local noisy_baseline = mse(noisy_test, x_test)
print(string.format("%-28s test MSE %.5f", "baseline: the noisy input", noisy_baseline))
local denoise_err, denoised = train_autoencoder(string.format("denoising (noise %.2g)", opts.noise),
  conv_autoencoder(), noisy(x_train), x_train, noisy_test, x_test)

local rows = {}
local count = math.min(8, x_test.shape[1])
for _, batch in ipairs{x_test, dense_rec, conv_rec, noisy_test, denoised} do
  rows[#rows + 1] = batch:narrow(1, 1, count)
end
local picture = dnn.image.grid(dnn.cat(rows, 1), {nrow = count, pad_value = 1})
local path = opts.out .. "/autoencoder.png"
dnn.image.save(dnn.image.resize(picture, picture.shape[1] * 3, picture.shape[2] * 3, {method = "nearest"}), path)
print("saved " .. path .. " (rows: input, dense, convolutional, noisy input, denoised)")

if dense_err < baseline and conv_err < baseline and denoise_err < noisy_baseline then
  print("each autoencoder beats its baseline")
end
