-- A character-level GPT on the English text of Debian's fortunes package,
-- the same text and split as examples/char_rnn.lua (examples/lib/
-- fortunes_text.lua): token and position embeddings, pre-norm
-- TransformerDecoder blocks (causal self-attention), a final LayerNorm and a
-- Dense over the characters. Trains for a time budget (--seconds, so that it
-- can be set beside the LSTM's training time), prints the validation loss in
-- bits per character beside the unigram model's, samples from model:generate
-- (with its key/value cache) at three temperatures, and saves the curves.
-- AdamW with a linear warm-up then a cosine decay (Keras 3's
-- CosineDecay{warmup_target, warmup_steps}) and global-norm clipping.
--
-- Usage: dnnlua examples/char_transformer.lua [--seconds S] [--steps N]
--   [--limit N] [--layers N] [--dim N] [--heads N] [--batch-size N]
--   [--seq-len N] [--lr X] [--seed N] [--data DIR] [--out DIR]
--   --steps is the steps between validation passes; training stops at the
--   first validation pass after S seconds (default 330: the LSTM's full run).
local dnn = require "dnn"
local nn = dnn.nn

local args = dofile((arg[0]:match("^(.*)/") or ".") .. "/lib/args.lua")
local text = dofile((arg[0]:match("^(.*)/") or ".") .. "/lib/fortunes_text.lua")

local function parse_args(argv)
  local parser = args.parser("char_transformer.lua",
    "Trains a character-level GPT on Debian's fortunes for a time budget and samples text from it.")
  args.number_option(parser, "--seconds", "training time budget (stops at the first validation pass after it)",
    330, args.positive_number):argname("S")
  args.number_option(parser, "--steps", "training steps between validation passes", 100, args.positive_integer)
  text.add_options(parser, args)
  args.number_option(parser, "--layers", "TransformerDecoder blocks", 3, args.positive_integer)
  args.number_option(parser, "--dim", "embedding size", 128, args.positive_integer)
  args.number_option(parser, "--heads", "attention heads (a divisor of --dim)", 4, args.positive_integer)
  args.number_option(parser, "--batch-size", "windows per training step", 32, args.positive_integer)
  args.number_option(parser, "--seq-len", "characters per window (and the longest sample)", 128,
    args.positive_integer)
  args.number_option(parser, "--lr", "peak learning rate (warm-up, then cosine-decayed)", 1e-3,
    args.positive_number):argname("X")
  args.number_option(parser, "--seed", "random seed", 42, args.nonnegative_integer)
  args.out_dir_option(parser, "where the PNG goes")
  local opts = parser:parse(argv)
  if opts.dim % opts.heads ~= 0 then
    parser:error(string.format("--dim %d is not a multiple of --heads %d", opts.dim, opts.heads))
  end
  text.check_limit(parser, opts.limit, opts.seq_len)
  return opts
end

local opts = parse_args(arg or {})
dnn.manual_seed(opts.seed)

local data = text.load("char_transformer", opts.data, opts.limit)
local tok, vocab, baseline = data.tok, data.vocab, data.unigram_bits
local train_tensor, val_tensor = data.train, data.val

-- ---- the model ----

local T, N = opts.seq_len, opts.batch_size
local blocks = {nn.Input{T},
                nn.TokenAndPositionEmbedding{vocabulary_size = vocab, sequence_length = T, embedding_dim = opts.dim}}
for i = 1, opts.layers do
  blocks[#blocks + 1] = nn.TransformerDecoder{intermediate_dim = 4 * opts.dim, num_heads = opts.heads,
    normalize_first = true, activation = "gelu", name = "decoder_" .. i}
end
blocks[#blocks + 1] = nn.LayerNormalization{name = "final_norm"} -- pre-norm blocks leave the residual unnormalized
blocks[#blocks + 1] = nn.Dense(vocab, {name = "logits"})
local model = nn.Sequential(blocks)
model:summary()

local loss_fn = dnn.losses.sparse_categorical_crossentropy{from_logits = true}
-- Warm-up over the first 200 steps to lr, then a cosine to lr/10 over a horizon sized to the time budget (the step
-- count is not known in advance: the first validation pass measures the speed and fixes it).
local warmup = 200
local function schedule_for(total_steps)
  return dnn.optim.schedules.CosineDecay{initial_learning_rate = opts.lr / 10, warmup_target = opts.lr,
    warmup_steps = warmup, decay_steps = math.max(1, total_steps - warmup), alpha = 0.1}
end
local opt = dnn.optim.AdamW{learning_rate = schedule_for(100000), weight_decay = 0.01, global_clipnorm = 1.0,
  params = model:parameters()}

-- ---- training ----

local LN2 = math.log(2)
local history = {bits_per_char = {}, val_bits_per_char = {}}
print(string.format("training for %.0fs, validating every %d steps, batch %d x %d characters, %d threads",
  opts.seconds, opts.steps, N, T, dnn.get_num_threads()))
local started, done_steps, val_nats = dnn.wall_time(), 0, nil
repeat
  local sum = 0
  for _ = 1, opts.steps do
    local x, y = text.windows(train_tensor, text.random_starts(train_tensor, N, T), T)
    local loss = loss_fn(y, model(x))
    opt:zero_grad(); loss:backward(); opt:step()
    sum = sum + loss:item()
  end
  done_steps = done_steps + opts.steps
  if done_steps == opts.steps then -- the speed is known: the cosine ends where the time budget does
    local per_step = (dnn.wall_time() - started) / opts.steps
    opt.learning_rate = schedule_for(math.max(done_steps + 1, math.floor(opts.seconds / per_step)))
  end
  val_nats = text.validation_loss(model, loss_fn, val_tensor, T)
  local round = #history.bits_per_char + 1
  history.bits_per_char[round] = sum / opts.steps / LN2
  history.val_bits_per_char[round] = val_nats / LN2
  print(string.format("step %d: training %.3f bits/char, validation %.3f bits/char (%.0fs)", done_steps,
    history.bits_per_char[round], history.val_bits_per_char[round], dnn.wall_time() - started))
until dnn.wall_time() - started >= opts.seconds
local trained = dnn.wall_time() - started
print(string.format("training time %.1fs, %d steps", trained, done_steps))

-- ---- generation: model:generate with the key/value cache ----

local prime = tok:encode("%\n")
for _, temperature in ipairs{0.5, 0.8, 1.0} do
  local started_at = dnn.wall_time()
  local ids = model:generate(prime, {max_length = T, temperature = temperature, seed = opts.seed})
  local ms = (dnn.wall_time() - started_at) * 1000 / (T - #prime)
  print(string.format("---- sample at temperature %.1f (%.1f ms per character) ----", temperature, ms))
  print(tok:decode(ids))
end

local curves = opts.out .. "/char_transformer_curves.png"
dnn.plot.history(history, curves, {title = "char_transformer: bits per character"})
print(string.format("saved %s", curves))
print(string.format("validation loss %.6f nats", val_nats))
print(string.format("validation %.3f bits/char (unigram baseline %.3f bits/char)", val_nats / LN2, baseline))
print(val_nats / LN2 < baseline and "the transformer beats the unigram baseline" or
  "the transformer does not beat the unigram baseline")
