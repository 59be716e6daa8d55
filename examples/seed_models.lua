-- The models of the Keras course notes this project grew from, built,
-- summarised and trained on small generated data:
--   the 3-4-4-1 MLP as a Sequential and as a functional model, the
--   6-100-500-200-50-2 deep net, the Dropout and LayerNormalization nets,
--   Dense + Activation("softmax") with Adam(0.01), and SGD on an
--   ExponentialDecay schedule.
-- Usage: dnnlua examples/seed_models.lua [--epochs N]
local nn = dnn.nn

local args = dofile((arg[0]:match("^(.*)/") or ".") .. "/lib/args.lua")
local parser = args.parser("seed_models.lua",
  "Builds, summarises and trains the models of the Keras course notes on small generated data.")
args.number_option(parser, "--epochs", "training epochs of each model", 20, args.positive_integer)
local epochs = parser:parse(arg or {}).epochs
dnn.manual_seed(0)

local function section(title)
  print(string.format("\n== %s", title))
end

-- n samples of `features` standard normal inputs, labelled by random linear
-- teachers: `outputs` 0/1 columns, learnable by every model below.
local function binary_task(n, features, outputs)
  local x = dnn.randn(n, features)
  local teacher = dnn.randn(features, outputs or 1)
  return x, x:matmul(teacher):gt(0)
end

local function train_and_report(model, x, y, fit_options)
  local options = {epochs = epochs, batch_size = 32, validation_split = 0.2, verbose = 0}
  for k, v in pairs(fit_options or {}) do options[k] = v end
  local history = model:fit(x, y, options)
  local h = history.history
  local last = #h.loss
  local line = string.format("after %d epochs: loss %.4f", last, h.loss[last])
  if h.accuracy then line = line .. string.format("  accuracy %.3f", h.accuracy[last]) end
  if h.val_accuracy then line = line .. string.format("  val_accuracy %.3f", h.val_accuracy[last]) end
  print(line)
  return history
end

section("Multi-layer perceptron 3-4-4-1, Sequential")
local mlp = nn.Sequential{
  nn.Dense(4, {input_shape = {3}, activation = "relu"}),
  nn.Dense(4, {activation = "relu"}),
  nn.Dense(1, {activation = "sigmoid"}),
}
mlp:compile{loss = "binary_crossentropy", optimizer = "adam", metrics = {"accuracy"}}
mlp:summary()
local x3, y3 = binary_task(2000, 3)
train_and_report(mlp, x3, y3)

section("Multi-layer perceptron 3-4-4-1, functional")
local inputs = nn.Input{3}
local l_1 = nn.Dense(4, {activation = "relu"})(inputs)
local l_2 = nn.Dense(4, {activation = "relu"})(l_1)
local outputs = nn.Dense(1, {activation = "sigmoid"})(l_2)
local functional = nn.Model{inputs = inputs, outputs = outputs}
functional:compile{loss = "binary_crossentropy", optimizer = "adam", metrics = {"accuracy"}}
functional:summary()
train_and_report(functional, x3, y3)

section("Deep network 6-100-500-200-50-2")
local deep = nn.Sequential{
  nn.Dense(6, {input_shape = {6}, activation = "relu"}),
  nn.Dense(100, {activation = "relu"}),
  nn.Dense(500, {activation = "relu"}),
  nn.Dense(200, {activation = "relu"}),
  nn.Dense(50, {activation = "relu"}),
  nn.Dense(2, {activation = "sigmoid"}),
}
deep:compile{loss = "binary_crossentropy", optimizer = "adam", metrics = {"accuracy"}}
deep:summary()
local x6, y6 = binary_task(2000, 6, 2)
train_and_report(deep, x6, y6)

section("Dropout regularization")
local dropout_net = nn.Sequential()
dropout_net:add(nn.Dense(60, {activation = "relu", input_shape = {8}}))
dropout_net:add(nn.Dropout(0.2))
dropout_net:add(nn.Dense(30, {activation = "relu"}))
dropout_net:add(nn.Dense(1, {activation = "sigmoid"}))
dropout_net:compile{loss = "binary_crossentropy", optimizer = "adam", metrics = {"accuracy"}}
dropout_net:summary()
local x8, y8 = binary_task(2000, 8)
train_and_report(dropout_net, x8, y8)

section("Layer normalization")
local ln_net = nn.Sequential()
ln_net:add(nn.Dense(64, {input_shape = {8}}))
ln_net:add(nn.LayerNormalization{axis = -1}) -- Keras's axis=1 of a (batch, 64) input: the last axis
ln_net:add(nn.Activation("tanh"))
ln_net:add(nn.Dropout(0.5))
ln_net:add(nn.Dense(1, {activation = "sigmoid"}))
ln_net:compile{loss = "binary_crossentropy", optimizer = "adam", metrics = {"accuracy"}}
ln_net:summary()
train_and_report(ln_net, x8, y8)

section("Dense + Activation('softmax'), Adam(learning_rate = 0.01), categorical cross-entropy")
local softmax_net = nn.Sequential()
softmax_net:add(nn.Dense(64, {kernel_initializer = "uniform", input_shape = {10}}))
softmax_net:add(nn.Activation("softmax"))
softmax_net:compile{loss = "categorical_crossentropy", optimizer = dnn.optim.Adam{learning_rate = 0.01},
                    metrics = {"accuracy"}}
local x10 = dnn.randn(2000, 10)
local classes = x10:matmul(dnn.randn(10, 64)):argmax(-1)
train_and_report(softmax_net, x10, dnn.one_hot(classes, 64))

section("SGD on an ExponentialDecay schedule")
local lr_schedule = dnn.optim.schedules.ExponentialDecay{
  initial_learning_rate = 1e-2,
  decay_steps = 10000,
  decay_rate = 0.9,
}
for _, step in ipairs{0, 10000, 50000} do
  print(string.format("learning rate at step %d: %.6f", step, lr_schedule(step)))
end
local sgd_net = nn.Sequential{
  nn.Dense(16, {input_shape = {3}, activation = "relu"}),
  nn.Dense(1, {activation = "sigmoid"}),
}
sgd_net:compile{loss = "binary_crossentropy", optimizer = dnn.optim.SGD{learning_rate = lr_schedule, momentum = 0.9},
                metrics = {"accuracy"}}
train_and_report(sgd_net, x3, y3)
