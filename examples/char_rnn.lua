-- A character-level LSTM language model on the English text of Debian's
-- fortunes package (/usr/share/games/fortunes, 2.5 MB in the files below):
-- Embedding -> LSTM -> Dense over the characters, trained on windows of the
-- text (truncated backpropagation through time). Prints the validation loss
-- in bits per character beside a unigram model's, samples of generated text at
-- three temperatures, and saves the curves as a PNG. Adam, with the learning
-- rate decayed along a cosine.
--
-- The validation text is the last 10% of each file (cut where a fortune
-- starts, so none is split), the training text the rest. Each step trains on
-- a batch of windows starting at random places of the training text, each
-- from a zero state (not stateful: batches are independent draws, which
-- PyTorch can repeat exactly); the validation text is cut into consecutive
-- windows of the same length, each also from a zero state.
--
-- Usage: dnnlua examples/char_rnn.lua [--epochs N] [--steps N] [--limit N]
--   [--units N] [--batch-size N] [--seq-len N] [--lr X] [--seed N]
--   [--data DIR] [--out DIR] [--export DIR]
--   --steps is the steps per epoch (a validation pass after each epoch);
--   --limit caps the training text at N characters and the validation text
--   at N/9; --out is where the PNG goes (default: the current folder);
--   --export DIR writes the initial weights, the text's ids and every
--   batch's window starts there, for tests/torch/char_rnn_ref.py to train
--   the same model in PyTorch.
local dnn = require "dnn"
local nn = dnn.nn

local args = dofile((arg[0]:match("^(.*)/") or ".") .. "/lib/args.lua")
local text = dofile((arg[0]:match("^(.*)/") or ".") .. "/lib/fortunes_text.lua")

local function parse_args(argv)
  local parser = args.parser("char_rnn.lua",
    "Trains a character-level LSTM language model on Debian's fortunes and samples text from it.")
  args.number_option(parser, "--epochs", "training epochs", 20, args.positive_integer)
  args.number_option(parser, "--steps", "training steps per epoch (a validation pass after each)", 100,
    args.positive_integer)
  text.add_options(parser, args)
  args.number_option(parser, "--units", "LSTM units", 256, args.positive_integer)
  args.number_option(parser, "--batch-size", "windows per training step", 32, args.positive_integer)
  args.number_option(parser, "--seq-len", "characters per window", 100, args.positive_integer)
  args.number_option(parser, "--lr", "peak learning rate (cosine-decayed)", 1e-2, args.positive_number):argname("X")
  args.number_option(parser, "--seed", "random seed", 42, args.nonnegative_integer)
  args.out_dir_option(parser, "where the PNG goes")
  parser:option("--export", "write the initial weights, the text's ids and the batches' window starts there " ..
    "(for tests/torch/char_rnn_ref.py)"):argname("DIR")
  local opts = parser:parse(argv)
  text.check_limit(parser, opts.limit, opts.seq_len)
  return opts
end

local opts = parse_args(arg or {})
dnn.manual_seed(opts.seed)

-- ---- the text ----

local data = text.load("char_rnn", opts.data, opts.limit)
local tok, vocab, baseline = data.tok, data.vocab, data.unigram_bits
local train_tensor, val_tensor = data.train, data.val

-- ---- the model ----

local T, N = opts.seq_len, opts.batch_size
local model = nn.Sequential{
  nn.Input{T},
  nn.Embedding(vocab, 32, {name = "embedding"}),
  nn.LSTM(opts.units, {return_sequences = true, name = "lstm"}),
  nn.Dense(vocab, {name = "logits"}),
}
model:summary()
local loss_fn = dnn.losses.sparse_categorical_crossentropy{from_logits = true}
-- The learning rate falls from lr to lr/10 along a cosine over the run: 1e-2 reached 2.75 bits/char after 500
-- steps where 2e-3 (constant) reached 3.27, and the decay settles the end.
local total_steps = opts.epochs * opts.steps
local schedule = dnn.optim.schedules.CosineDecay{initial_learning_rate = opts.lr, decay_steps = total_steps, alpha = 0.1}
local opt = dnn.optim.Adam{learning_rate = schedule, params = model:parameters()}

local function validation_loss() return text.validation_loss(model, loss_fn, val_tensor, T) end

-- ---- training ----

local all_starts = {}
if opts.export then
  model:save_weights(opts.export .. "/init.safetensors")
  print(string.format("initial validation loss %.6f nats", validation_loss()))
end

local LN2 = math.log(2)
local history = {bits_per_char = {}, val_bits_per_char = {}}
print(string.format("training %d epochs of %d steps, batch %d x %d characters, %d threads", opts.epochs, opts.steps,
  N, T, dnn.get_num_threads()))
local started = dnn.wall_time()
local val_nats
for epoch = 1, opts.epochs do
  local sum = 0
  for _ = 1, opts.steps do
    local starts = text.random_starts(train_tensor, N, T)
    if opts.export then table.move(starts, 1, #starts, #all_starts + 1, all_starts) end
    local x, y = text.windows(train_tensor, starts, T)
    local loss = loss_fn(y, model(x))
    opt:zero_grad(); loss:backward(); opt:step()
    sum = sum + loss:item()
  end
  val_nats = validation_loss()
  history.bits_per_char[epoch] = sum / opts.steps / LN2
  history.val_bits_per_char[epoch] = val_nats / LN2
  print(string.format("epoch %d: training %.3f bits/char, validation %.3f bits/char (%.0fs)", epoch,
    history.bits_per_char[epoch], history.val_bits_per_char[epoch], dnn.wall_time() - started))
end
local trained = dnn.wall_time() - started
print(string.format("training time %.1fs", trained))

if opts.export then
  dnn.save_safetensors(opts.export .. "/data.safetensors", {
    {"train_ids", train_tensor}, {"val_ids", val_tensor}, {"starts", dnn.tensor(all_starts)},
  }, {vocab = tostring(vocab), units = tostring(opts.units), batch_size = tostring(N), seq_len = tostring(T),
      lr = string.format("%.17g", opts.lr), alpha = "0.1", steps = tostring(total_steps)})
  print(string.format("exported to %s", opts.export))
end

-- ---- generation ----

-- A copy of the model that reads one character per call and keeps its LSTM state between calls (stateful).
local generator = nn.Sequential{
  nn.Input{1},
  nn.Embedding(vocab, 32),
  nn.LSTM(opts.units, {return_sequences = true, stateful = true}),
  nn.Dense(vocab),
}
generator:set_weights(model:get_weights())
generator:eval()

-- length characters following prime, drawn at the given temperature.
local function generate(prime, length, temperature)
  local lstm = generator.layers[2]
  lstm:reset_states()
  local out, logits = {}, nil
  dnn.no_grad(function()
    for _, id in ipairs(tok:encode(prime)) do logits = generator(dnn.tensor{{id}}) end
    for i = 1, length do
      local id = dnn.text.sample(logits:reshape(vocab), {temperature = temperature})
      out[i] = id
      logits = generator(dnn.tensor{{id}})
    end
  end)
  return tok:decode(out)
end

for _, temperature in ipairs{0.5, 0.8, 1.0} do
  print(string.format("---- sample at temperature %.1f ----", temperature))
  print("%\n" .. generate("%\n", 300, temperature))
end

local curves = opts.out .. "/char_rnn_curves.png"
dnn.plot.history(history, curves, {title = "char_rnn: bits per character"})
print(string.format("saved %s", curves))
print(string.format("validation loss %.6f nats", val_nats))
print(string.format("validation %.3f bits/char (unigram baseline %.3f bits/char)", val_nats / LN2, baseline))
