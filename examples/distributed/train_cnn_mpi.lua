-- Data-parallel training of train_cnn's model on Fashion-MNIST over MPI:
--   mpirun -np 2 dnnlua examples/distributed/train_cnn_mpi.lua [--epochs N] [--batch-size N] [--lr X]
--     [--limit N] [--data DIR] [--seed N] [--out DIR]
-- Every rank runs this script; model:fit gives each its share of every
-- global batch (ranks x --batch-size images), sums the gradients, averages
-- batch norm's moving statistics at each epoch's end, and leaves the
-- progress bar and the files to rank 0. Without mpirun it trains on one
-- process. Prints the ranks, samples/s and the test accuracy; rank 0 saves
-- the training curves. As root, mpirun wants --allow-run-as-root; with more
-- ranks than cores, --oversubscribe (docs/distributed.md).
local dnn = require "dnn"
local nn = dnn.nn

local args = dofile((arg[0]:match("^(.*)/") or ".") .. "/../lib/args.lua")

local function parse_args(argv)
  local parser = args.parser("train_cnn_mpi.lua",
    "Trains train_cnn's CNN on Fashion-MNIST on every rank of an mpirun job (data parallel).")
  args.number_option(parser, "--epochs", "training epochs", 3, args.positive_integer)
  args.number_option(parser, "--batch-size", "images per step on each rank", 32, args.positive_integer)
  args.number_option(parser, "--lr", "peak learning rate (cosine-decayed)", 2e-3, args.positive_number):argname("X")
  args.number_option(parser, "--limit", "train on the first N training images only", nil, args.positive_integer)
  parser:option("--data", "the Fashion-MNIST folder (default: Debian's dataset-fashion-mnist)"):argname("DIR")
  args.number_option(parser, "--seed", "random seed", 42, args.nonnegative_integer)
  args.out_dir_option(parser, "where rank 0 writes the curves (PNG)")
  return parser:parse(argv)
end

local opts = parse_args(arg or {})
local rank, size = dnn.distributed.init()
local main = rank == 0
dnn.manual_seed(opts.seed)

local fashion_cnn = dofile((arg[0]:match("^(.*)/") or ".") .. "/../lib/fashion_cnn.lua")
local x_train, y_train, test = fashion_cnn.load_data(opts.data, opts.limit)

-- train_cnn's model: two conv-bn-relu-pool blocks, dropout and a dense head.
local model = fashion_cnn()
-- fit starts every rank from rank 0's weights; each rank's own seed from here
-- on gives the ranks different dropout masks.
dnn.manual_seed(opts.seed + 1 + rank)

local global_batch = size * opts.batch_size
local steps = opts.epochs * math.ceil(x_train.shape[1] / global_batch)
local schedule = dnn.optim.schedules.CosineDecay{initial_learning_rate = opts.lr, decay_steps = steps, alpha = 0.05}
model:compile{optimizer = dnn.optim.Adam{learning_rate = schedule}, loss = "sparse_categorical_crossentropy",
              metrics = {"accuracy"}}

if main then
  print(string.format("%d ranks x batch %d (global batch %d), %d threads each, %s", size, opts.batch_size, global_batch,
    dnn.get_num_threads(), size > 1 and dnn.distributed.library() or "no MPI job"))
end
local started = dnn.wall_time()
local history = model:fit(x_train, y_train, {epochs = opts.epochs, batch_size = opts.batch_size})
local trained = dnn.wall_time() - started
-- where the gradient steps' time went, averaged over the ranks: the exchange
-- runs during backward, what is left of it shows after backward
local timings = dnn.distributed.timings()
local per_step
if timings.steps > 0 then
  per_step = dnn.distributed.allreduce(dnn.tensor({timings.backward, timings.after_backward, timings.wait}) /
    timings.steps * 1000, {op = "mean"}):totable()
end
-- every rank holds the same weights: each evaluates, rank 0 reports
local _, metrics = model:evaluate(test.x, test.y, {batch_size = 500, verbose = 0})
if main then
  print(string.format("training time %.1fs, %.0f samples/s", trained, opts.epochs * x_train.shape[1] / trained))
  if per_step then
    print(string.format("per step: backward %.1f ms, after backward %.2f ms (waiting for the exchange %.2f ms); "
      .. "%d of %d bucket exchanges started during backward, %d ended during it", per_step[1], per_step[2],
      per_step[3], timings.buckets_during, timings.buckets_during + timings.buckets_after,
      timings.buckets_done_in_backward))
  end
  local curves = opts.out .. "/train_cnn_mpi_curves.png"
  dnn.plot.history(history, curves, {title = string.format("train_cnn_mpi, %d ranks", size)})
  print(string.format("saved %s", curves))
  print(string.format("test accuracy %.4f", metrics.accuracy))
end
