-- Trains a 784-512-512-10 ReLU MLP with Adam on Fashion-MNIST and prints the
-- test accuracy. Usage: dnnlua examples/train_mlp.lua [--epochs N]
--   [--batch-size N] [--lr X] [--limit N] [--data DIR] [--seed N]  (--help explains them)
local dnn = require "dnn"
local nn = dnn.nn

local args = dofile((arg[0]:match("^(.*)/") or ".") .. "/lib/args.lua")

local function parse_args(argv)
  local parser = args.parser("train_mlp.lua",
    "Trains a 784-512-512-10 ReLU MLP with Adam on Fashion-MNIST and prints the test accuracy.")
  args.number_option(parser, "--epochs", "training epochs", 5, args.positive_integer)
  args.number_option(parser, "--batch-size", "images per training step", 128, args.positive_integer)
  args.number_option(parser, "--lr", "peak learning rate (cosine-decayed to lr/20)", 1e-3, args.positive_number)
    :argname("X")
  args.number_option(parser, "--limit", "train on the first N training images only", nil, args.positive_integer)
  parser:option("--data", "the Fashion-MNIST folder (default: Debian's dataset-fashion-mnist)"):argname("DIR")
  args.number_option(parser, "--seed", "random seed", 42, args.nonnegative_integer)
  return parser:parse(argv)
end

local opts = parse_args(arg or {})
dnn.manual_seed(opts.seed)

local train, test = dnn.datasets.fashion_mnist(opts.data)
local x_train, y_train = train.x:reshape(-1, 784), train.y
if opts.limit then
  x_train, y_train = x_train:narrow(1, 1, opts.limit), y_train:narrow(1, 1, opts.limit)
end
local x_test, y_test = test.x:reshape(-1, 784), test.y
local n = x_train.shape[1]

local model = nn.Sequential{
  nn.Dense(512, {input_shape = {784}, activation = "relu"}),
  nn.Dense(512, {activation = "relu"}),
  nn.Dense(10, {activation = "softmax"}),
}
local loss_fn = dnn.losses.sparse_categorical_crossentropy
-- The learning rate follows a cosine from lr down to lr/20 over the run: the
-- last epochs take small steps, which is worth about a point of test accuracy.
local total_steps = opts.epochs * math.ceil(n / opts.batch_size)
local function cosine_decay(step)
  local progress = math.min(step / total_steps, 1)
  return opts.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))
end
local opt = dnn.optim.Adam{learning_rate = cosine_decay, params = model:parameters()}

-- Accuracy of the model on (x, y), in batches, without recording a graph.
local function evaluate(x, y)
  return dnn.no_grad(function()
    local correct = 0
    for start = 1, x.shape[1], 1000 do
      local len = math.min(1000, x.shape[1] - start + 1)
      local pred = model(x:narrow(1, start, len))
      correct = correct + pred:argmax(-1):eq(y:narrow(1, start, len)):sum():item()
    end
    return correct / x.shape[1]
  end)
end

print(string.format("training a 784-512-512-10 MLP on %d Fashion-MNIST images, %d threads", n,
  dnn.get_num_threads()))
for epoch = 1, opts.epochs do
  local started = dnn.wall_time()
  local order = dnn.randperm(n)
  local total_loss, correct, batches = 0, 0, 0
  for start = 1, n, opts.batch_size do
    local idx = order:narrow(1, start, math.min(opts.batch_size, n - start + 1))
    local xb, yb = x_train:index_select(1, idx), y_train:index_select(1, idx)
    local pred = model(xb)
    local loss = loss_fn(yb, pred)
    opt:zero_grad()
    loss:backward()
    opt:step()
    total_loss = total_loss + loss:item()
    correct = correct + pred:argmax(-1):eq(yb):sum():item()
    batches = batches + 1
  end
  local elapsed = dnn.wall_time() - started
  print(string.format("epoch %d/%d  loss %.4f  accuracy %.4f  time %.1fs", epoch, opts.epochs,
    total_loss / batches, correct / n, elapsed))
end
print(string.format("test accuracy %.4f", evaluate(x_test, y_test)))
