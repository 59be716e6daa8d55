-- What a CNN's first layer learns, as the seed notes show it: trains a small
-- CNN briefly on Fashion-MNIST, then saves as PNG files the first conv
-- layer's filters and the feature maps that one test image makes in the
-- first two conv layers.
-- Usage: dnnlua examples/feature_maps.lua [--epochs N] [--limit N] [--data DIR] [--out DIR]
local nn = dnn.nn

local args = dofile((arg[0]:match("^(.*)/") or ".") .. "/lib/args.lua")
local parser = args.parser("feature_maps.lua",
  "Trains a small CNN briefly on Fashion-MNIST and saves its first conv filters and feature maps as PNG files.")
args.number_option(parser, "--epochs", "training epochs", 1, args.positive_integer)
args.number_option(parser, "--limit", "train on the first N training images", 10000, args.positive_integer)
parser:option("--data", "the Fashion-MNIST folder (default: Debian's dataset-fashion-mnist)"):argname("DIR")
args.out_dir_option(parser, "where the PNG files go")
local opts = parser:parse(arg or {})

dnn.manual_seed(7)
local train, test = dnn.datasets.fashion_mnist{dir = opts.data, limit = opts.limit}
local conv1 = nn.Conv2D(16, 5, {padding = "same", activation = "relu", input_shape = {28, 28, 1}})
local conv2 = nn.Conv2D(32, 3, {padding = "same", activation = "relu"})
local model = nn.Sequential{
  conv1, nn.MaxPooling2D(2),
  conv2, nn.MaxPooling2D(2),
  nn.Flatten(), nn.Dense(10, {activation = "softmax"}),
}
model:compile{optimizer = "adam", loss = "sparse_categorical_crossentropy", metrics = {"accuracy"}}
model:fit(train.x, train.y, {epochs = opts.epochs, batch_size = 64, verbose = 2})

-- Pictures are scaled up with nearest-neighbour resizing so pixels stay sharp.
local function save_scaled(image, scale, name)
  local path = opts.out .. "/" .. name
  dnn.image.save(dnn.image.resize(image, image.shape[1] * scale, image.shape[2] * scale, {method = "nearest"}), path)
  print("saved " .. path)
end

save_scaled(dnn.image.filters_grid(conv1.kernel:detach()), 10, "filters_conv1.png")

local image = test.x:narrow(1, 1, 1) -- (1, 28, 28, 1): the first test image
model:eval()
dnn.no_grad(function()
  local maps1 = conv1(image)                   -- (1, 28, 28, 16)
  local maps2 = conv2(model.layers[2](maps1))  -- (1, 14, 14, 32)
  save_scaled(image[1], 6, "feature_maps_input.png")
  save_scaled(dnn.image.feature_maps_grid(maps1), 3, "feature_maps_conv1.png")
  save_scaled(dnn.image.feature_maps_grid(maps2), 4, "feature_maps_conv2.png")
  local probs = model(image)
  local class = probs:argmax(-1)[1]:item()
  print(string.format("true class: %s; predicted: %s (p = %.2f)", train.class_names[test.y[1]:item()],
    train.class_names[class], probs[1][class]:item()))
end)
