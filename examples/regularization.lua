-- The seeds' regularization experiment on Fashion-MNIST: the same MLP
-- trained with no regularization, L2 weight decay, dropout, batch
-- normalization and early stopping; one table of train/validation accuracy
-- and epochs run.
-- Usage: dnnlua examples/regularization.lua [--epochs N] [--limit N] [--data DIR]
local nn = dnn.nn

local args = dofile((arg[0]:match("^(.*)/") or ".") .. "/lib/args.lua")
local parser = args.parser("regularization.lua",
  "Trains one MLP on Fashion-MNIST with no regularization, L2, dropout, batch norm and early stopping; compares them.")
args.number_option(parser, "--epochs", "training epochs (at most, with early stopping)", 15, args.positive_integer)
args.number_option(parser, "--limit", "train on N images (small, so that overfitting shows)", 12000,
  args.positive_integer)
parser:option("--data", "the Fashion-MNIST folder (default: Debian's dataset-fashion-mnist)"):argname("DIR")
local opts = parser:parse(arg or {})

-- A small training set makes overfitting visible within a few epochs.
local train = dnn.datasets.fashion_mnist{dir = opts.data, limit = opts.limit}
local x, y = train.x:reshape(-1, 784), train.y

local function mlp(extra)
  extra = extra or {}
  local layers = {}
  local function add(layer) layers[#layers + 1] = layer end
  for units_i, units in ipairs{256, 256} do
    add(nn.Dense(units, {input_shape = units_i == 1 and {784} or nil,
                         activation = extra.batch_norm and "linear" or "relu",
                         kernel_regularizer = extra.l2 and dnn.regularizers.l2(extra.l2) or nil}))
    if extra.batch_norm then
      add(nn.BatchNormalization())
      add(nn.Activation("relu"))
    end
    if extra.dropout then add(nn.Dropout(extra.dropout)) end
  end
  add(nn.Dense(10, {activation = "softmax"}))
  local model = nn.Sequential(layers)
  model:compile{optimizer = "adam", loss = "sparse_categorical_crossentropy", metrics = {"accuracy"}}
  return model
end

local variants = {
  {"none", {}},
  {"L2 (1e-4)", {l2 = 1e-4}},
  {"dropout (0.3)", {dropout = 0.3}},
  {"batch norm", {batch_norm = true}},
  {"early stopping", {}, {dnn.callbacks.EarlyStopping{monitor = "val_loss", patience = 2, restore_best_weights = true}}},
}

print(string.format("%d training images (20%% held out for validation), up to %d epochs each", x.shape[1], opts.epochs))
print(string.format("%-16s %10s %10s %10s %8s", "regularization", "train acc", "val acc", "gap", "epochs"))
for _, variant in ipairs(variants) do
  local name, extra, callbacks = variant[1], variant[2], variant[3]
  dnn.manual_seed(1)
  local model = mlp(extra)
  local history = model:fit(x, y, {epochs = opts.epochs, batch_size = 128, validation_split = 0.2,
                                   callbacks = callbacks, verbose = 0})
  -- accuracies of the weights the model ends with (restored ones for early stopping)
  local n_val = math.floor(x.shape[1] * 0.2)
  local n_train = x.shape[1] - n_val
  local _, train_metrics = model:evaluate(x:narrow(1, 1, n_train), y:narrow(1, 1, n_train), {verbose = 0})
  local _, val_metrics = model:evaluate(x:narrow(1, n_train + 1, n_val), y:narrow(1, n_train + 1, n_val), {verbose = 0})
  print(string.format("%-16s %10.4f %10.4f %10.4f %8d", name, train_metrics.accuracy, val_metrics.accuracy,
    train_metrics.accuracy - val_metrics.accuracy, #history.history.loss))
end
