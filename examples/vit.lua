-- Trains a small Vision Transformer (Dosovitskiy et al., "An Image is Worth
-- 16x16 Words") on Fashion-MNIST, beside a small MLP trained by the same
-- script as its peer, and prints both test accuracies and training times.
-- Saves vit_attention.png: test images beside where the last block's
-- attention goes (averaged over heads and queries), upsampled to 28x28.
-- Usage: dnnlua examples/vit.lua [--epochs N] [--batch-size N] [--lr X] [--limit N] [--test N]
--   [--patch N] [--dim N] [--depth N] [--heads N] [--data DIR] [--seed N] [--out DIR]
--   --limit trains on the first N training images; --test evaluates on the
--   first N test images; --patch is the patch side (it must divide 28);
--   --out is where the PNG goes (default: the current folder).
local dnn = require "dnn"
local nn = dnn.nn

local IMAGE_SIDE, CLASSES = 28, 10
local args = dofile((arg[0]:match("^(.*)/") or ".") .. "/lib/args.lua")

local function parse_args(argv)
  local parser = args.parser("vit.lua",
    "Trains a small Vision Transformer on Fashion-MNIST beside an MLP and draws where its attention goes.")
  args.number_option(parser, "--epochs", "training epochs", 12, args.positive_integer)
  args.number_option(parser, "--batch-size", "images per step", 128, args.positive_integer)
  args.number_option(parser, "--lr", "peak learning rate (warm-up, then cosine-decayed)", 2e-3,
    args.positive_number):argname("X")
  args.number_option(parser, "--limit", "train on the first N training images", nil, args.positive_integer)
  args.number_option(parser, "--test", "evaluate on the first N test images", nil, args.positive_integer)
  args.number_option(parser, "--patch", "patch side (a divisor of 28)", 7, args.positive_integer)
  args.number_option(parser, "--dim", "embedding size", 64, args.positive_integer)
  args.number_option(parser, "--depth", "TransformerEncoder blocks", 4, args.positive_integer)
  args.number_option(parser, "--heads", "attention heads (a divisor of --dim)", 4, args.positive_integer)
  args.number_option(parser, "--seed", "random seed", 42, args.nonnegative_integer)
  parser:option("--data", "the Fashion-MNIST folder (default: Debian's)"):argname("DIR")
  args.out_dir_option(parser, "where the PNG goes")
  local opts = parser:parse(argv)
  if IMAGE_SIDE % opts.patch ~= 0 then parser:error(string.format("--patch %d does not divide 28", opts.patch)) end
  if opts.dim % opts.heads ~= 0 then
    parser:error(string.format("--dim %d is not a multiple of --heads %d", opts.dim, opts.heads))
  end
  return opts
end

-- The first n rows of x and y (all of them without n).
local function first(x, y, n)
  if not n then return x, y end
  n = math.min(n, x.shape[1])
  return x:narrow(1, 1, n), y:narrow(1, 1, n)
end

-- The ViT. Patch embedding: a Conv2D whose kernel and stride are the patch
-- side is one linear map of each non-overlapping patch (the paper's
-- flatten-then-Dense, in one op), reshaped to a sequence (batch, patches,
-- dim); a learned position embedding is added. Pre-norm encoder blocks
-- (normalize_first, the paper's choice: the residual path stays an identity,
-- which trains more stably), a final LayerNorm (the residual stream is not
-- normalized otherwise), then the mean over the patches and Dense(10).
-- Mean pooling rather than a class token: Beyer et al. ("Better plain ViT
-- baselines", 2022) found it as good or better for small ViTs, and it needs
-- no layer beyond the library's (a class token is a learned row
-- concatenated in front of the patches). Its attention maps are then the
-- mean over all queries of where they look.
-- Returns the model, then what the attention picture needs: the model's
-- input, the last block's input (both symbolic) and the last block.
local function vision_transformer(opts)
  local patches_per_side = IMAGE_SIDE // opts.patch
  local patches = patches_per_side * patches_per_side
  local inputs = nn.Input{IMAGE_SIDE, IMAGE_SIDE, 1}
  local grid = nn.Conv2D(opts.dim, opts.patch, {strides = opts.patch, name = "patch_embedding"})(inputs)
  local tokens = nn.Reshape{patches, opts.dim}(grid)
  local x = nn.Add(){tokens, nn.PositionEmbedding{sequence_length = patches}(tokens)}
  local last_block, last_input
  for _ = 1, opts.depth do
    last_input = x
    last_block = nn.TransformerEncoder{intermediate_dim = 2 * opts.dim, num_heads = opts.heads, dropout = 0.1,
                                       activation = "gelu", normalize_first = true}
    x = last_block(x)
  end
  x = nn.LayerNormalization{epsilon = 1e-6}(x)
  x = nn.GlobalAveragePooling1D()(x)
  local outputs = nn.Dense(CLASSES, {activation = "softmax"})(x)
  return nn.Model{inputs = inputs, outputs = outputs, name = "vit"}, inputs, last_input, last_block
end

-- The peer: an MLP on the flattened pixels (784-256-10).
local function mlp()
  return nn.Sequential{
    nn.Input{IMAGE_SIDE, IMAGE_SIDE, 1},
    nn.Flatten(),
    nn.Dense(256, {activation = "relu"}),
    nn.Dense(CLASSES, {activation = "softmax"}),
  }
end

-- Compiles model for epochs of steps_per_epoch: AdamW with Keras 3's
-- warm-up cosine, a linear ramp from 0 to lr over the first epoch (a quarter
-- of the run at most; attention's logits are unstable early at a high
-- rate), then a cosine down
-- to lr/100 at the end; gradients clipped to a global norm of 1, the ViT
-- paper's setting.
local function compile(model, opts, steps_per_epoch, epochs)
  local warmup = math.min(steps_per_epoch, epochs * steps_per_epoch // 4)
  local schedule = dnn.optim.schedules.CosineDecay{initial_learning_rate = 0, warmup_target = opts.lr,
                                                   warmup_steps = warmup,
                                                   decay_steps = epochs * steps_per_epoch - warmup, alpha = 0.01}
  model:compile{optimizer = dnn.optim.AdamW{learning_rate = schedule, weight_decay = 1e-4, global_clipnorm = 1.0},
                loss = "sparse_categorical_crossentropy", metrics = {"accuracy"}}
end

-- Trains a compiled model; returns its history, seconds of training and test accuracy.
local function train_and_test(model, x, y, x_test, y_test, epochs, batch_size)
  local started = dnn.wall_time()
  local history = model:fit(x, y, {epochs = epochs, batch_size = batch_size, shuffle = true})
  local seconds = dnn.wall_time() - started
  local _, metrics = model:evaluate(x_test, y_test, {batch_size = 500, verbose = 0})
  return history, seconds, metrics.accuracy
end

-- The attention of the last block for images (n, 28, 28, 1): its
-- self-attention sublayer called on its own normalized input (what the
-- pre-norm block does inside), with the scores returned; the probabilities
-- (n, heads, queries, keys) averaged over heads and queries give, per image,
-- how much attention each patch receives, as a (side, side) grid per image.
local function attention_grids(trunk, block, images, patches_per_side)
  block:train(false)
  return dnn.no_grad(function()
    local h = trunk:predict(images, {batch_size = 500, verbose = 0})
    local normalized = block.self_attention_layer_norm(h)
    local _, scores = block.self_attention_layer(normalized, normalized, {return_attention_scores = true})
    local n = images.shape[1]
    return scores:mean(2):mean(2):reshape(n, patches_per_side, patches_per_side)
  end)
end

-- One picture: a row per image, the image beside its attention map (each
-- map scaled to [0, 1] on its own, nearest-upsampled so the patches show)
-- and beside the image tinted by the map.
local function save_attention_picture(images, grids, path)
  local n, side = images.shape[1], IMAGE_SIDE
  local tiles = {}
  for i = 1, n do
    local image = images[i]
    local grid = grids[i]
    local low, high = grid:min():item(), grid:max():item()
    local map = dnn.image.resize((grid - low) / math.max(high - low, 1e-12), side, side, {method = "nearest"})
      :reshape(side, side, 1)
    tiles[#tiles + 1] = image
    tiles[#tiles + 1] = map
    tiles[#tiles + 1] = image * (map * 0.8 + 0.2)
  end
  local picture = dnn.image.grid(dnn.stack(tiles, 1), {nrow = 3, padding = 2, pad_value = 1})
  picture = dnn.image.resize(picture, picture.shape[1] * 4, picture.shape[2] * 4, {method = "nearest"})
  dnn.image.save(picture, path)
end

local opts = parse_args(arg or {})
local train, test = dnn.datasets.fashion_mnist(opts.data)
local x_train, y_train = first(train.x, train.y, opts.limit)
local x_test, y_test = first(test.x, test.y, opts.test)
local steps_per_epoch = math.ceil(x_train.shape[1] / opts.batch_size)

-- The peer first: the same data, optimizer and schedule, 2 epochs.
local MLP_EPOCHS = 2
dnn.manual_seed(opts.seed)
local peer = mlp()
compile(peer, opts, steps_per_epoch, MLP_EPOCHS)
print(string.format("MLP peer: %d images, %d epochs, batch %d, %d threads", x_train.shape[1], MLP_EPOCHS,
  opts.batch_size, dnn.get_num_threads()))
local _, mlp_seconds, mlp_accuracy = train_and_test(peer, x_train, y_train, x_test, y_test, MLP_EPOCHS,
  opts.batch_size)

dnn.manual_seed(opts.seed)
local vit, inputs, last_input, last_block = vision_transformer(opts)
compile(vit, opts, steps_per_epoch, opts.epochs)
vit:summary()
print(string.format("ViT: %d images, %dx%d patches, dim %d, %d blocks of %d heads, %d epochs, batch %d, %d threads",
  x_train.shape[1], opts.patch, opts.patch, opts.dim, opts.depth, opts.heads, opts.epochs, opts.batch_size,
  dnn.get_num_threads()))
local history, vit_seconds, vit_accuracy = train_and_test(vit, x_train, y_train, x_test, y_test, opts.epochs,
  opts.batch_size)
local losses = history.history.loss

local SHOWN = 6
local images = x_test:narrow(1, 1, math.min(SHOWN, x_test.shape[1]))
local trunk = nn.Model{inputs = inputs, outputs = last_input}
local grids = attention_grids(trunk, last_block, images, IMAGE_SIDE // opts.patch)
local path = opts.out .. "/vit_attention.png"
save_attention_picture(images, grids, path)
local saved = dnn.image.load(path) -- read back: the size printed is the file's
print(string.format("saved %s (%dx%d)", path, saved.shape[2], saved.shape[1]))
print(string.format("loss %.4f after epoch 1, %.4f after epoch %d", losses[1], losses[#losses], #losses))
print(string.format("MLP peer test accuracy %.4f (training %.1fs)", mlp_accuracy, mlp_seconds))
print(string.format("training time %.1fs", vit_seconds))
print(string.format("test accuracy %.4f", vit_accuracy))
