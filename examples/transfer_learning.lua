-- Transfer learning and fine-tuning, as the Keras guides teach them:
--  1. pre-train a small CNN on 5 Fashion-MNIST classes (t-shirt, trouser,
--     pullover, sandal, bag) and save it (model:save);
--  2. load it (dnn.load_model), take its base up to the layer "features",
--     freeze it (trainable = false: out of the optimizer, batch norm in
--     inference mode) and train a new head on the other 5 classes (dress,
--     coat, shirt, sneaker, ankle boot) from a few labelled examples;
--  3. unfreeze the top block and fine-tune everything above it with a small
--     learning rate;
--  4. train the same architecture from scratch on the same few labels.
-- Prints the test accuracy on the 5 new classes of each.
-- Usage: dnnlua examples/transfer_learning.lua [--per-class N] [--pretrain N] [--epochs N] [--seed N] [--test N]
--   [--data DIR]
--   --per-class: labelled examples per new class (default 30); --pretrain: pre-training examples (default
--   12000); --epochs: pre-training epochs (default 3); --test: test examples per task (default all 5000)
local dnn = require "dnn"
local nn = dnn.nn

local opts = {per_class = 30, pretrain = 12000, epochs = 3, seed = 7}
do
  local names = {["--per-class"] = "per_class", ["--pretrain"] = "pretrain", ["--epochs"] = "epochs",
                 ["--seed"] = "seed", ["--test"] = "test"}
  local argv, i = arg or {}, 1
  while i <= #argv do
    local key, value = names[argv[i]], argv[i + 1]
    if key and math.tointeger(tonumber(value)) then
      opts[key] = math.tointeger(tonumber(value))
    elseif argv[i] == "--data" and value then
      opts.data = value
    else
      io.stderr:write("usage: transfer_learning.lua [--per-class N] [--pretrain N] [--epochs N] [--seed N] " ..
        "[--test N] [--data DIR]\n")
      os.exit(2)
    end
    i = i + 2
  end
end
dnn.manual_seed(opts.seed)

local train, test = dnn.datasets.fashion_mnist(opts.data)

-- The examples of the given classes (their ids become 1..5 in that order),
-- at most `limit` of them, or `per_class` of each.
local function subset(split, classes, limit, per_class)
  local id_of = {}
  for i, c in ipairs(classes) do id_of[c] = i end
  local index, ids, counts = {}, {}, {}
  for i, c in ipairs(split.y:totable()) do
    local id = id_of[c]
    if id and (not per_class or (counts[id] or 0) < per_class) then
      counts[id] = (counts[id] or 0) + 1
      index[#index + 1] = i
      ids[#ids + 1] = id
      if limit and #index >= limit then break end
    end
  end
  return split.x:index_select(1, index), dnn.tensor(ids)
end

-- Source task: t-shirt, trouser, pullover, sandal, bag. Target task: dress,
-- coat, shirt, sneaker, ankle boot -- new classes, close to the source's
-- (tops, footwear), which is where transferred features pay.
local SOURCE, TARGET = {1, 2, 3, 6, 9}, {4, 5, 7, 8, 10}

local function accuracy(model, x, y)
  return model:predict(x):argmax(-1):eq(y):mean():item()
end

-- ---- 1. pre-training on the source classes ----
local function base_layers()
  return {
    nn.Conv2D(16, 3, {padding = "same", use_bias = false, input_shape = {28, 28, 1}, name = "conv1"}),
    nn.BatchNormalization{momentum = 0.9, name = "bn1"}, nn.Activation("relu"), nn.MaxPooling2D{pool_size = 2},
    nn.Conv2D(32, 3, {padding = "same", use_bias = false, name = "conv2"}),
    nn.BatchNormalization{momentum = 0.9, name = "bn2"}, nn.Activation("relu"), nn.MaxPooling2D{pool_size = 2},
    nn.Flatten(), nn.Dense(64, {activation = "relu", name = "features"}),
  }
end

local function with_head(layers, name)
  local list = {table.unpack(layers)}
  list[#list + 1] = nn.Dense(5, {activation = "softmax", name = name})
  return nn.Sequential(list)
end

local x_pre, y_pre = subset(train, SOURCE, opts.pretrain)
local pretrained = with_head(base_layers(), "old_head")
pretrained:compile{optimizer = dnn.optim.Adam{learning_rate = 2e-3}, loss = "sparse_categorical_crossentropy",
                   metrics = {"accuracy"}}
pretrained:fit(x_pre, y_pre, {epochs = opts.epochs, batch_size = 64, verbose = 0})
local x_old_test, y_old_test = subset(test, SOURCE, opts.test)
print(string.format("pre-trained on 5 classes (%d examples): test accuracy %.3f", x_pre.shape[1],
  accuracy(pretrained, x_old_test, y_old_test)))
local path = os.tmpname()
pretrained:save(path)

-- ---- the new task: the target classes, few labels ----
local x_few, y_few = subset(train, TARGET, nil, opts.per_class)
local x_new_test, y_new_test = subset(test, TARGET, opts.test)
local head_epochs, tune_epochs = 3 * opts.epochs + 6, 2 * opts.epochs + 4
local fit_options = {batch_size = 8, verbose = 0}

-- ---- 2. frozen base, new head ----
local loaded = dnn.load_model(path)
os.remove(path)
local cut = 0
for i, l in ipairs(loaded.layers) do
  if l.name == "features" then cut = i end
end
local base = {table.unpack(loaded.layers, 1, cut)} -- the base up to "features"
for _, l in ipairs(base) do l.trainable = false end
local transfer = with_head(base, "new_head")
-- a linear head on fixed features takes a larger step than a whole network
transfer:compile{optimizer = dnn.optim.Adam{learning_rate = 1e-2}, loss = "sparse_categorical_crossentropy"}
fit_options.epochs = head_epochs
transfer:fit(x_few, y_few, fit_options)
local frozen_acc = accuracy(transfer, x_new_test, y_new_test)

-- ---- 3. fine-tuning: unfreeze the top block (conv2 and above), small learning rate ----
-- Batch norm stays frozen (in inference mode), as the Keras guide advises: its
-- statistics from batches of 8 would undo what the base learned.
local top = false
for _, l in ipairs(base) do
  if l.name == "conv2" then top = true end
  if top and l.type_name ~= "BatchNormalization" then l.trainable = true end
end
transfer:compile{optimizer = dnn.optim.Adam{learning_rate = 3e-4}, loss = "sparse_categorical_crossentropy"}
fit_options.epochs = head_epochs + tune_epochs
fit_options.initial_epoch = head_epochs
transfer:fit(x_few, y_few, fit_options)
local tuned_acc = accuracy(transfer, x_new_test, y_new_test)

-- ---- 4. from scratch, same architecture, same labels, as many epochs ----
local scratch = with_head(base_layers(), "scratch_head")
scratch:compile{optimizer = dnn.optim.Adam{learning_rate = 1e-3}, loss = "sparse_categorical_crossentropy"}
scratch:fit(x_few, y_few, {epochs = head_epochs + tune_epochs, batch_size = 8, verbose = 0})
local scratch_acc = accuracy(scratch, x_new_test, y_new_test)

print(string.format("5 new classes from %d labelled examples (%d per class), test accuracy on %d:",
  x_few.shape[1], opts.per_class, x_new_test.shape[1]))
print(string.format("  frozen base + new head  %.3f", frozen_acc))
print(string.format("  fine-tuned              %.3f", tuned_acc))
print(string.format("  from scratch            %.3f", scratch_acc))
