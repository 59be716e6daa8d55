-- A DCGAN (Radford, Metz and Chintala, 2016) on Fashion-MNIST, trained by a
-- custom loop with two optimizers: the generator (Dense, then
-- Conv2DTranspose up to 28x28, batch norm and LeakyReLU, tanh output) and the
-- discriminator (strided Conv2D, LeakyReLU, one logit; --dropout adds
-- dropout after each convolution: 0.3 trained slower here) take turns;
-- the generator's step freezes the discriminator. The images are drawn by an
-- exponential moving average of the generator's weights (--ema, as StyleGAN
-- and BigGAN do: the average smooths the last steps' swings); --ema 0 draws
-- with the trained generator itself. --conditional gives both nets the class
-- (Mirza and Osindero, 2014): the generator a one-hot beside its noise, the
-- discriminator one-hot planes beside the image, and samples are drawn for
-- the ten classes in turn.
-- --truncation X draws the scored and saved samples' noise from a normal
-- cut at X (values beyond are drawn again; BigGAN's truncation trick): fewer
-- of the unlikely samples, a little less variety. --generator FILE scores a
-- generator saved by --save instead of training one (and saves its grid of
-- samples as gan_samples.png).
--
-- Quality is measured, not eyeballed, with the main job's classifier
-- (`dnnlua examples/train_cnn.lua --save train_cnn_model.safetensors`): each
-- epoch, the Fréchet distance between its penultimate features of generated
-- and test images (an FID on a Fashion-MNIST network), the share of samples
-- it classifies with confidence >= 0.9, and how those spread over the ten
-- classes (mode collapse shows as empty classes). The test images' own
-- confident share and the distance between training and test images are
-- printed first: what real images score. Saves a grid of samples from one
-- fixed noise batch after every epoch.
-- Usage: dnnlua examples/gan.lua [--epochs N] [--conditional] [--ema X] [--dropout X] [--truncation X]
--   [--classifier FILE] [--limit N] [--score N] [--out DIR] [--save FILE] [--generator FILE]
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
args.number_option(parser, "--ema", "decay of the generator's weight average that draws the samples (0: none)", 0.999,
  args.fraction):argname("X")
args.number_option(parser, "--dropout", "the discriminator's dropout rate", 0, args.fraction):argname("X")
args.number_option(parser, "--truncation", "cut the noise of the scored and saved samples at X (default: no cut)",
  nil, args.positive_number):argname("X")
parser:flag("--conditional", "give both nets the class (a conditional DCGAN)")
parser:option("--classifier", "the scoring classifier (train_cnn.lua --save FILE)", "train_cnn_model.safetensors")
  :argname("FILE")
parser:option("--data", "the Fashion-MNIST folder (default: Debian's dataset-fashion-mnist)"):argname("DIR")
parser:option("--save", "save the generator that draws the samples (the weight average) to FILE"):argname("FILE")
parser:option("--generator", "score the generator saved in FILE (by --save) instead of training"):argname("FILE")
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
local CLASSES = 10
local label_dim = opts.conditional and CLASSES or 0

local function make_generator()
  return nn.Sequential{
    nn.Dense(7 * 7 * 128, {use_bias = false, input_shape = {noise_dim + label_dim}}),
    nn.BatchNormalization(), nn.LeakyReLU(0.2),
    nn.Reshape{7, 7, 128},
    nn.Conv2DTranspose(64, 4, {strides = 2, padding = "same", use_bias = false}),        -- 14x14
    nn.BatchNormalization(), nn.LeakyReLU(0.2),
    nn.Conv2DTranspose(1, 4, {strides = 2, padding = "same", activation = "tanh"}),     -- 28x28
  }
end
local generator = make_generator()
local discriminator = nn.Sequential{
  nn.Conv2D(64, 4, {strides = 2, padding = "same", input_shape = {28, 28, 1 + label_dim}}), nn.LeakyReLU(0.2),
}
if opts.dropout > 0 then discriminator:add(nn.Dropout(opts.dropout)) end
discriminator:add(nn.Conv2D(128, 4, {strides = 2, padding = "same"}))
discriminator:add(nn.LeakyReLU(0.2))
if opts.dropout > 0 then discriminator:add(nn.Dropout(opts.dropout)) end
discriminator:add(nn.Flatten())
discriminator:add(nn.Dense(1))                            -- a logit: real or generated

-- Noise (n, noise_dim), normal or, when cut, with every value beyond the
-- cut drawn again.
local function noise_of(n, cut)
  local noise = dnn.randn(n, noise_dim)
  while cut do
    local beyond = noise:abs():gt(cut)
    if beyond:sum():item() == 0 then break end
    noise = noise * (1 - beyond) + dnn.randn(n, noise_dim) * beyond
  end
  return noise
end

-- The generator's input for n samples of the given classes (1-based ids;
-- used only when conditional), its noise cut at cut (nil: none), and the
-- discriminator's input for images of them.
local function generator_input(n, classes, cut)
  local noise = noise_of(n, cut)
  if not opts.conditional then return noise end
  return dnn.cat({noise, dnn.one_hot(classes, CLASSES)}, 2)
end
local function discriminator_input(images, classes)
  if not opts.conditional then return images end
  local n = images.shape[1]
  local planes = dnn.zeros(n, 28, 28, CLASSES) + dnn.one_hot(classes, CLASSES):reshape(n, 1, 1, CLASSES)
  return dnn.cat({images, planes}, 4)
end
-- Classes for n samples: random ones in training, the ten in turn for the
-- samples that are scored and drawn (each class a tenth of them).
local function random_classes(n)
  local ids = {}
  for i, u in ipairs(dnn.rand(n):totable()) do ids[i] = math.min(CLASSES, math.floor(u * CLASSES) + 1) end
  return dnn.tensor(ids)
end
local function classes_in_turn(n)
  local ids = {}
  for i = 1, n do ids[i] = (i - 1) % CLASSES + 1 end
  return dnn.tensor(ids)
end

-- The weight average that draws the samples: a second generator whose
-- weights (batch norm's moving statistics too) follow the trained one's,
-- w <- d w + (1 - d) w_trained, with d ramped up over the first steps,
-- min(ema, (1 + t) / (10 + t)), so that early samples are not the initial
-- weights'.
local sampler, average_step = generator, nil
if opts.ema > 0 then
  sampler = make_generator()
  local pairs_of_weights, steps = {}, 0
  local own, trained = sampler:named_weights(), generator:named_weights()
  dnn.no_grad(function()
    for i, w in ipairs(own) do
      pairs_of_weights[i] = {w.tensor, trained[i].tensor}
      w.tensor:copy(trained[i].tensor)
    end
  end)
  average_step = function()
    steps = steps + 1
    local decay = math.min(opts.ema, (1 + steps) / (10 + steps))
    dnn.no_grad(function()
      for _, p in ipairs(pairs_of_weights) do p[1]:mul_(decay):add_(p[2] * (1 - decay)) end
    end)
  end
end
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

-- The share of rows of probs (n, 10) with a class of probability >= 0.9,
-- those rows' count per class, and the smallest class's share of them.
local function confident_classes(probs)
  local confidence, class = probs:max(2)
  local confident = confidence:ge(0.9)
  local n_confident = confident:sum():item()
  local counts = {}
  for c = 1, CLASSES do counts[c] = 0 end
  local classes, flags = class:reshape(-1):totable(), confident:reshape(-1):totable()
  for i, c in ipairs(classes) do
    if flags[i] ~= 0 then counts[c] = counts[c] + 1 end
  end
  local min_share = math.huge
  for c = 1, CLASSES do min_share = math.min(min_share, n_confident > 0 and counts[c] / n_confident or 0) end
  return n_confident / probs.shape[1], min_share, counts
end

local n_score = math.min(opts.score, test.x.shape[1])
local test_features, test_probs = classify(test.x:narrow(1, 1, n_score))

-- The weight average's images for a generator input, in [0, 1] (predict
-- runs in inference mode, batched, without recording).
local function draw(input) return (sampler:predict(input, {batch_size = 500, verbose = 0}) + 1) / 2 end

-- n samples (the ten classes in turn when conditional).
local function generate(n) return draw(generator_input(n, classes_in_turn(n), opts.truncation)) end

-- The Fréchet distance to the test images, the share of confident samples,
-- the smallest share of them in any class, and their count per class.
local function score()
  local features, probs = classify(generate(n_score))
  return dnn.metrics.frechet_distance(test_features, features), confident_classes(probs)
end

if n_score > 1 then
  local real_confident, real_min_share = confident_classes(test_probs)
  local train_features = classify(train.x:narrow(1, 1, math.min(n_score, train.x.shape[1])))
  print(string.format("real images: %.1f%% of the test images confident, smallest class %.1f%%; Fréchet distance "
    .. "%.2f from %d training images to the test images", 100 * real_confident, 100 * real_min_share,
    dnn.metrics.frechet_distance(test_features, train_features), train_features.shape[1]))
end

-- 8 rows of 10 (the ten classes in columns when conditional), from one
-- fixed noise batch, saved as opts.out/name.
local fixed_input = generator_input(80, classes_in_turn(80), opts.truncation)
local function save_samples(name)
  local grid = dnn.image.grid(draw(fixed_input), {nrow = 10, pad_value = 1})
  local path = string.format("%s/%s", opts.out, name)
  dnn.image.save(dnn.image.resize(grid, grid.shape[1] * 2, grid.shape[2] * 2, {method = "nearest"}), path)
  return path
end

-- The confident samples' count per class, printed.
local function print_counts(counts)
  local names = {}
  for c = 1, CLASSES do names[c] = string.format("%s %d", train.class_names[c], counts[c]) end
  print("confident samples by class: " .. table.concat(names, ", "))
end

-- ---- scoring a saved generator (--generator FILE) ----

if opts.generator then
  sampler = dnn.load_model(opts.generator)
  local inputs = sampler.input_shape and sampler.input_shape[#sampler.input_shape]
  if inputs ~= noise_dim + label_dim then
    error(string.format("gan: the generator in %s takes %s inputs; %d noise values%s make %d", opts.generator,
      tostring(inputs), noise_dim, opts.conditional and " and 10 classes (--conditional)" or "",
      noise_dim + label_dim), 0)
  end
  local distance, confident, min_share, counts = score()
  print(string.format("%s, noise %s: Fréchet distance %.2f, confident %.1f%%, smallest class %.1f%%", opts.generator,
    opts.truncation and "cut at " .. opts.truncation or "not cut", distance, 100 * confident, 100 * min_share))
  print_counts(counts)
  print("saved " .. save_samples("gan_samples.png"))
  return
end

-- ---- training ----

local initial = score()
print(string.format("before training: Fréchet distance %.2f", initial))
local loader = dnn.data.DataLoader{real_images, train.y, batch_size = opts.batch_size, shuffle = true}
local started, first, last = dnn.wall_time(), nil, nil
for epoch = 1, opts.epochs do
  local d_sum, g_sum, steps = 0, 0, 0
  for real, real_classes in loader do
    local n = real.shape[1]
    -- the discriminator: real images towards 1, generated ones towards 0
    local fake_classes = random_classes(n)
    local fake = dnn.no_grad(function() return generator(generator_input(n, fake_classes)) end)
    local d_loss = bce(dnn.ones(n, 1), discriminator(discriminator_input(real, real_classes))) +
      bce(dnn.zeros(n, 1), discriminator(discriminator_input(fake, fake_classes)))
    opt_d:zero_grad(); d_loss:backward(); opt_d:step()
    -- the generator: make the (frozen) discriminator say 1
    discriminator.trainable = false
    local classes = random_classes(n)
    local g_loss = bce(dnn.ones(n, 1),
      discriminator(discriminator_input(generator(generator_input(n, classes)), classes)))
    opt_g:zero_grad(); g_loss:backward(); opt_g:step()
    discriminator.trainable = true
    if average_step then average_step() end
    d_sum, g_sum, steps = d_sum + d_loss:item(), g_sum + g_loss:item(), steps + 1
  end
  local path = save_samples(string.format("gan_epoch_%02d.png", epoch))
  local distance, confident, min_share, counts = score()
  first = first or distance
  last = {distance = distance, confident = confident, min_share = min_share, counts = counts}
  print(string.format("epoch %d: D loss %.3f, G loss %.3f; Fréchet distance %.2f, confident %.1f%%, "
    .. "smallest class %.1f%% (%.0f s; %s)", epoch, d_sum / steps, g_sum / steps, distance, 100 * confident,
    100 * min_share, dnn.wall_time() - started, path))
end

if opts.save then
  sampler:save(opts.save)
  print("saved the generator to " .. opts.save)
end

print_counts(last.counts)
print(string.format("Fréchet distance: %.2f before training, %.2f after epoch 1, %.2f at the end (%.1f%% of epoch "
  .. "1's)", initial, first, last.distance, 100 * last.distance / first))
if last.distance < initial then print("the generator beats its untrained start") end
if last.distance <= 0.1 * first and last.confident >= 0.8 and last.min_share >= 0.04 then
  print("quality targets met: distance <= 10% of epoch 1's, >= 80% confident, every class >= 4%")
end
