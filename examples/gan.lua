-- A DCGAN (Radford, Metz and Chintala, 2016) on Fashion-MNIST, trained by a
-- custom loop with two optimizers: the generator (Dense, then
-- Conv2DTranspose up to 28x28, batch norm and LeakyReLU, tanh output) and the
-- discriminator (strided Conv2D, LeakyReLU, dropout, one logit) take turns;
-- the generator's step freezes the discriminator.
--
-- Quality is measured, not eyeballed, with the main job's classifier
-- (`dnnlua examples/train_cnn.lua --save train_cnn_model.safetensors`): each
-- epoch, the Fréchet distance between its penultimate features of generated
-- and test images (an FID on a Fashion-MNIST network), the share of samples
-- it classifies with confidence >= 0.9, and how those spread over the ten
-- classes (mode collapse shows as empty classes). Saves a grid of samples
-- from one fixed noise batch after every epoch.
-- Usage: dnnlua examples/gan.lua [--epochs N] [--classifier FILE] [--limit N] [--score N] [--out DIR]
local nn = dnn.nn

local args = dofile((arg[0]:match("^(.*)/") or ".") .. "/lib/args.lua")
local parser = args.parser("gan.lua",
  "Trains a DCGAN on Fashion-MNIST and scores its samples with the main job's classifier each epoch.")
args.number_option(parser, "--epochs", "training epochs", 10, args.positive_integer)
args.number_option(parser, "--limit", "train on the first N training images", 60000, args.positive_integer)
args.number_option(parser, "--score", "generated and test images compared each epoch", 10000, args.positive_integer)
args.number_option(parser, "--batch-size", "images per step", 128, args.positive_integer)
args.number_option(parser, "--noise-dim", "the generator's input size", 64, args.positive_integer)
args.number_option(parser, "--seed", "the seed of weights, order and noise", 1, args.nonnegative_integer)
parser:option("--classifier", "the scoring classifier (train_cnn.lua --save FILE)", "train_cnn_model.safetensors")
  :argname("FILE")
parser:option("--data", "the Fashion-MNIST folder (default: Debian's dataset-fashion-mnist)"):argname("DIR")
args.out_dir_option(parser, "where the PNG files go")
local opts = parser:parse(arg or {})

local f = io.open(opts.classifier, "rb")
if not f then
  io.stderr:write(string.format("gan: no classifier at %s; make it once with\n"
    .. "  dnnlua examples/train_cnn.lua --save %s\n", opts.classifier, opts.classifier))
  os.exit(1)
end
f:close()

dnn.manual_seed(opts.seed)
local train, test = dnn.datasets.fashion_mnist{dir = opts.data, limit = opts.limit}
local real_images = train.x * 2 - 1                       -- tanh's range
local noise_dim = opts.noise_dim

local generator = nn.Sequential{
  nn.Dense(7 * 7 * 128, {use_bias = false, input_shape = {noise_dim}}),
  nn.BatchNormalization(), nn.LeakyReLU(0.2),
  nn.Reshape{7, 7, 128},
  nn.Conv2DTranspose(64, 4, {strides = 2, padding = "same", use_bias = false}),        -- 14x14
  nn.BatchNormalization(), nn.LeakyReLU(0.2),
  nn.Conv2DTranspose(1, 4, {strides = 2, padding = "same", activation = "tanh"}),     -- 28x28
}
local discriminator = nn.Sequential{
  nn.Conv2D(64, 4, {strides = 2, padding = "same", input_shape = {28, 28, 1}}), nn.LeakyReLU(0.2),
  nn.Dropout(0.3),
  nn.Conv2D(128, 4, {strides = 2, padding = "same"}), nn.LeakyReLU(0.2),
  nn.Dropout(0.3),
  nn.Flatten(),
  nn.Dense(1),                                            -- a logit: real or generated
}
local opt_g = dnn.optim.Adam{learning_rate = 2e-4, beta_1 = 0.5, params = generator:parameters()}
local opt_d = dnn.optim.Adam{learning_rate = 2e-4, beta_1 = 0.5, params = discriminator:parameters()}
local bce = dnn.losses.binary_crossentropy{from_logits = true}

-- ---- the score: the classifier's penultimate features and confidences ----

local classifier = dnn.load_model(opts.classifier)
local layers = classifier.layers
local dense_positions = {}
for i, layer in ipairs(layers) do
  if layer.type_name == "Dense" then dense_positions[#dense_positions + 1] = i end
end
local penultimate = dense_positions[#dense_positions - 1]
assert(penultimate, "gan: the classifier needs two Dense layers (train_cnn.lua's model has them)")

-- Features (n, d) and class probabilities (n, 10) of images in [0, 1].
local function classify(images)
  local features, probs = {}, {}
  dnn.no_grad(function()
    for start = 1, images.shape[1], 500 do
      local h = images:narrow(1, start, math.min(500, images.shape[1] - start + 1))
      for i, layer in ipairs(layers) do
        h = layer(h, {training = false})
        if i == penultimate then features[#features + 1] = h end
      end
      probs[#probs + 1] = h
    end
  end)
  return dnn.cat(features, 1), dnn.cat(probs, 1)
end

local n_score = math.min(opts.score, test.x.shape[1])
local test_features = classify(test.x:narrow(1, 1, n_score))

local function generate(n)
  generator:eval()
  local images = dnn.no_grad(function()
    local parts = {}
    for start = 1, n, 500 do
      parts[#parts + 1] = generator(dnn.randn(math.min(500, n - start + 1), noise_dim))
    end
    return (dnn.cat(parts, 1) + 1) / 2
  end)
  generator:train()
  return images
end

-- The Fréchet distance to the test images, the share of confident samples
-- and the smallest share of them in any class.
local function score()
  local features, probs = classify(generate(n_score))
  local distance = dnn.metrics.frechet_distance(test_features, features)
  local confidence, class = probs:max(2)
  local confident = confidence:ge(0.9)
  local n_confident = confident:sum():item()
  local counts = {}
  for c = 1, 10 do counts[c] = 0 end
  local classes, flags = class:reshape(-1):totable(), confident:reshape(-1):totable()
  for i, c in ipairs(classes) do
    if flags[i] ~= 0 then counts[c] = counts[c] + 1 end
  end
  local min_share = math.huge
  for c = 1, 10 do min_share = math.min(min_share, n_confident > 0 and counts[c] / n_confident or 0) end
  return distance, n_confident / n_score, min_share, counts
end

-- ---- training ----

local fixed_noise = dnn.randn(64, noise_dim)
local function save_samples(epoch)
  generator:eval()
  local images = dnn.no_grad(function() return (generator(fixed_noise) + 1) / 2 end)
  generator:train()
  local grid = dnn.image.grid(images, {nrow = 8, pad_value = 1})
  local path = string.format("%s/gan_epoch_%02d.png", opts.out, epoch)
  dnn.image.save(dnn.image.resize(grid, grid.shape[1] * 2, grid.shape[2] * 2, {method = "nearest"}), path)
  return path
end

local initial = score()
print(string.format("before training: Fréchet distance %.2f", initial))
local loader = dnn.data.DataLoader{real_images, batch_size = opts.batch_size, shuffle = true}
local started, first, last_distance, last_confident, last_min_share = dnn.wall_time(), nil, nil, nil, nil
for epoch = 1, opts.epochs do
  local d_sum, g_sum, steps = 0, 0, 0
  for real in loader do
    local n = real.shape[1]
    -- the discriminator: real images towards 1, generated ones towards 0
    local fake = dnn.no_grad(function() return generator(dnn.randn(n, noise_dim)) end)
    local d_loss = bce(dnn.ones(n, 1), discriminator(real)) + bce(dnn.zeros(n, 1), discriminator(fake))
    opt_d:zero_grad(); d_loss:backward(); opt_d:step()
    -- the generator: make the (frozen) discriminator say 1
    discriminator.trainable = false
    local g_loss = bce(dnn.ones(n, 1), discriminator(generator(dnn.randn(n, noise_dim))))
    opt_g:zero_grad(); g_loss:backward(); opt_g:step()
    discriminator.trainable = true
    d_sum, g_sum, steps = d_sum + d_loss:item(), g_sum + g_loss:item(), steps + 1
  end
  local path = save_samples(epoch)
  local distance, confident, min_share = score()
  first = first or distance
  last_distance, last_confident, last_min_share = distance, confident, min_share
  print(string.format("epoch %d: D loss %.3f, G loss %.3f; Fréchet distance %.2f, confident %.1f%%, "
    .. "smallest class %.1f%% (%.0f s; %s)", epoch, d_sum / steps, g_sum / steps, distance, 100 * confident,
    100 * min_share, dnn.wall_time() - started, path))
end

local _, _, _, counts = score()
local names = {}
for c = 1, 10 do names[c] = string.format("%s %d", train.class_names[c], counts[c]) end
print("confident samples by class: " .. table.concat(names, ", "))
print(string.format("Fréchet distance: %.2f before training, %.2f after epoch 1, %.2f at the end (%.1f%% of epoch 1's)",
  initial, first, last_distance, 100 * last_distance / first))
if last_distance < initial then print("the generator beats its untrained start") end
if last_distance <= 0.1 * first and last_confident >= 0.8 and last_min_share >= 0.04 then
  print("quality targets met: distance <= 10% of epoch 1's, >= 80% confident, every class >= 4%")
end
