-- A convolutional variational autoencoder (Kingma and Welling, 2014) on
-- Fashion-MNIST, trained by a custom loop: the encoder gives the mean and
-- log-variance of q(z|x), z = mu + sigma * eps (the reparameterization, so
-- gradients flow through the sample), and the decoder gives Bernoulli logits
-- for each pixel (the grey levels in [0, 1] used as the Bernoulli targets,
-- as Keras's VAE example does). The loss is the negative ELBO per image:
-- the binary cross-entropy summed over the 784 pixels plus the KL divergence
-- of q(z|x) from N(0, I).
-- Prints the test negative ELBO (nats per image) each epoch and saves PNGs:
-- random samples, the 2-d latent manifold (with --latent 2) and
-- interpolations between test images.
-- Usage: dnnlua examples/vae.lua [--epochs N] [--latent N] [--limit N] [--out DIR]
local nn = dnn.nn

local args = dofile((arg[0]:match("^(.*)/") or ".") .. "/lib/args.lua")
local parser = args.parser("vae.lua",
  "Trains a convolutional VAE on Fashion-MNIST and reports the test negative ELBO per image.")
args.number_option(parser, "--epochs", "training epochs", 10, args.positive_integer)
args.number_option(parser, "--latent", "the latent dimension (2 draws the manifold)", 2, args.positive_integer)
args.number_option(parser, "--limit", "train on the first N training images", 60000, args.positive_integer)
args.number_option(parser, "--test", "evaluate on the first N test images", 10000, args.positive_integer)
args.number_option(parser, "--batch-size", "images per step", 128, args.positive_integer)
args.number_option(parser, "--lr", "Adam's learning rate", 1e-3, args.positive_number)
args.number_option(parser, "--seed", "the seed of the weights, the order and the noise", 1, args.nonnegative_integer)
parser:flag("--no-shuffle", "take the training images in file order (for the PyTorch cross-check)")
parser:option("--save-init", "save the initial encoder and decoder as DIR/vae_encoder.safetensors and "
  .. "DIR/vae_decoder.safetensors"):argname("DIR")
parser:option("--data", "the Fashion-MNIST folder (default: Debian's dataset-fashion-mnist)"):argname("DIR")
args.out_dir_option(parser, "where the PNG files go")
local opts = parser:parse(arg or {})

dnn.manual_seed(opts.seed)
local train, test = dnn.datasets.fashion_mnist{dir = opts.data, limit = opts.limit}
local x_test = test.x:narrow(1, 1, math.min(opts.test, test.x.shape[1]))
local latent = opts.latent

local encoder = nn.Sequential{
  nn.Conv2D(32, 3, {strides = 2, padding = "same", activation = "relu", input_shape = {28, 28, 1},
    name = "enc_conv1"}),                                                           -- 14x14
  nn.Conv2D(64, 3, {strides = 2, padding = "same", activation = "relu", name = "enc_conv2"}),  -- 7x7
  nn.Flatten(),
  nn.Dense(16, {activation = "relu", name = "enc_dense"}),
  nn.Dense(2 * latent, {name = "enc_stats"}),   -- mu, then log sigma^2
}
local decoder = nn.Sequential{
  nn.Dense(7 * 7 * 64, {activation = "relu", input_shape = {latent}, name = "dec_dense"}),
  nn.Reshape{7, 7, 64},
  nn.Conv2DTranspose(64, 3, {strides = 2, padding = "same", activation = "relu", name = "dec_up1"}),  -- 14x14
  nn.Conv2DTranspose(32, 3, {strides = 2, padding = "same", activation = "relu", name = "dec_up2"}),  -- 28x28
  nn.Conv2DTranspose(1, 3, {padding = "same", name = "dec_logits"}),                                  -- logits
}
if opts.save_init then
  encoder:save(opts.save_init .. "/vae_encoder.safetensors")
  decoder:save(opts.save_init .. "/vae_decoder.safetensors")
end

local function encode(x)
  local stats = encoder(x)
  return stats:narrow(2, 1, latent), stats:narrow(2, latent + 1, latent)
end

local pixel_bce = dnn.losses.binary_crossentropy{from_logits = true, reduction = "none"}

-- The negative ELBO of each image of x (N, 28, 28, 1): (N).
local function negative_elbo(x)
  local mu, logvar = encode(x)
  local z = mu + (logvar * 0.5):exp() * dnn.randn(table.unpack(mu.shape))
  local logits = decoder(z)
  local n = x.shape[1]
  local reconstruction = pixel_bce(x:reshape(n, 784), logits:reshape(n, 784)) * 784 -- the pixels' mean to their sum
  local kl = ((mu:square() + logvar:exp() - logvar - 1) * 0.5):sum(2)
  return reconstruction + kl
end

local function test_elbo()
  return dnn.no_grad(function()
    local total, n = 0, x_test.shape[1]
    for start = 1, n, 500 do
      local batch = x_test:narrow(1, start, math.min(500, n - start + 1))
      total = total + negative_elbo(batch):sum():item()
    end
    return total / n
  end)
end

local params = encoder:parameters()
for _, p in ipairs(decoder:parameters()) do params[#params + 1] = p end
local opt = dnn.optim.Adam{learning_rate = opts.lr, params = params}
local loader = dnn.data.DataLoader{train.x, batch_size = opts.batch_size, shuffle = not opts.no_shuffle}

print(string.format("test negative ELBO before training: %.2f nats per image", test_elbo()))
local started = dnn.wall_time()
for epoch = 1, opts.epochs do
  local sum, count = 0, 0
  for xb in loader do
    local loss = negative_elbo(xb):mean()
    opt:zero_grad()
    loss:backward()
    opt:step()
    sum, count = sum + loss:item() * xb.shape[1], count + xb.shape[1]
  end
  print(string.format("epoch %d: train %.2f, test negative ELBO %.2f nats per image (%.0f s)", epoch, sum / count,
    test_elbo(), dnn.wall_time() - started))
end

-- ---- pictures ----

local function save(images, nrow, name)
  local grid = dnn.image.grid(images, {nrow = nrow, pad_value = 1})
  local path = opts.out .. "/" .. name
  dnn.image.save(dnn.image.resize(grid, grid.shape[1] * 2, grid.shape[2] * 2, {method = "nearest"}), path)
  print("saved " .. path)
end

local function decode(z)
  return dnn.no_grad(function() return decoder(z):sigmoid() end)
end

save(decode(dnn.randn(64, latent)), 8, "vae_samples.png")

if latent == 2 then
  -- the decoder over a 15 x 15 grid of z in [-2, 2]^2 (two standard deviations of the prior)
  local side, z = 15, {}
  for i = 1, side do
    for j = 1, side do
      z[#z + 1] = {-2 + 4 * (j - 1) / (side - 1), 2 - 4 * (i - 1) / (side - 1)}
    end
  end
  save(decode(dnn.tensor(z)), side, "vae_manifold.png")
end

-- interpolations: 6 pairs of test images, 10 steps between their means
local rows = {}
dnn.no_grad(function()
  local mu = encode(x_test:narrow(1, 1, 12))
  for pair = 1, 6 do
    local a, b = mu:narrow(1, 2 * pair - 1, 1), mu:narrow(1, 2 * pair, 1)
    for step = 0, 9 do
      local t = step / 9
      rows[#rows + 1] = a * (1 - t) + b * t
    end
  end
end)
save(decode(dnn.cat(rows, 1)), 10, "vae_interpolations.png")
print(string.format("final test negative ELBO: %.2f nats per image", test_elbo()))
