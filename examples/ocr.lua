-- Reads synthetic text lines (dnn.datasets.text_lines: random words rendered
-- with DejaVu Sans, rotated, sheared and noisy) with a CRNN: convolutions
-- turn the 32x128 line into a sequence of 32 columns of features, a
-- bidirectional LSTM reads the sequence, and a Dense layer gives each column
-- a distribution over the characters and the CTC blank. Trained with the CTC
-- loss, which needs only each line's text, not where its characters are.
-- Prints the character error rate (CER) and the share of lines read exactly
-- on the test lines, with greedy (best path) and beam search decoding, beside
-- the untrained model's CER; saves ocr.png, test lines with what was read
-- (the first misread ones among them).
-- Usage: dnnlua examples/ocr.lua [--epochs N] [--train N] [--test N] [--batch-size N]
--   [--lr X] [--beam N] [--seed N] [--out DIR]
--   --train and --test are the numbers of lines drawn; --beam is the beam
--   search's width; --out is where the PNG goes (default: the current folder).
local dnn = require "dnn"
local nn = dnn.nn

local args = dofile((arg[0]:match("^(.*)/") or ".") .. "/lib/args.lua")

local HEIGHT, WIDTH = 32, 128
-- The test lines' seed is the training seed plus this: a different draw of
-- words, sizes and distortions for every --seed.
local TEST_SEED_OFFSET = 1000003

local function parse_args(argv)
  local parser = args.parser("ocr.lua",
    "Trains a CRNN (convolutions, a bidirectional LSTM, CTC) to read synthetic text lines and prints its error rate.")
  args.number_option(parser, "--epochs", "training epochs", 5, args.positive_integer)
  args.number_option(parser, "--train", "training lines", 20000, args.positive_integer)
  args.number_option(parser, "--test", "test lines", 2000, args.positive_integer)
  args.number_option(parser, "--batch-size", "lines per training step", 32, args.positive_integer)
  args.number_option(parser, "--lr", "peak learning rate (warm-up, then cosine-decayed)", 2e-3,
    args.positive_number):argname("X")
  args.number_option(parser, "--beam", "beam width of the beam search decoding", 10, args.positive_integer)
  args.number_option(parser, "--seed", "random seed", 42, args.nonnegative_integer)
  args.out_dir_option(parser, "where the PNG goes")
  return parser:parse(argv)
end

-- Conv 3x3 (no bias: the batch norm's beta is one), batch norm, ReLU, then
-- an optional max pooling, appended to layers. Momentum 0.9 rather than
-- Keras's 0.99: the moving averages must follow the weights within a few
-- hundred steps. At 0.99 they lag on short runs: the ctest's run (375 steps)
-- reached the same training loss, but a test CER of 94% against 37%.
local function conv_block(layers, filters, pool)
  layers[#layers + 1] = nn.Conv2D(filters, 3, {padding = "same", use_bias = false})
  layers[#layers + 1] = nn.BatchNormalization{momentum = 0.9}
  layers[#layers + 1] = nn.Activation("relu")
  if pool then layers[#layers + 1] = nn.MaxPooling2D{pool_size = pool} end
end

-- The CRNN (Shi et al., 2015, made small). Four conv blocks take the
-- (32, 128) line to (4, 32) positions: the first two pools halve both sides,
-- the third only the height, so 32 columns of 4 pixels of the input each
-- remain, more than the 2 * 12 - 1 steps that 12 characters with blanks
-- between repeats need. A (4, 1) convolution then folds the 4 rows into one
-- feature vector per column, and as the layout is channels-last, (batch, 1,
-- 32, channels) is already the sequence (batch, 32, channels) once the unit
-- height is reshaped away: no transpose needed. The BiLSTM lets each column
-- see the whole line (which letter a stroke belongs to depends on its
-- neighbours); Dense gives the logits of the blank and the characters.
local function crnn(num_classes)
  local layers = {nn.Input{HEIGHT, WIDTH, 1}}
  conv_block(layers, 32, {2, 2})
  conv_block(layers, 64, {2, 2})
  conv_block(layers, 96, {2, 1})
  conv_block(layers, 96)
  local steps = WIDTH // 4
  layers[#layers + 1] = nn.Conv2D(128, {HEIGHT // 8, 1}, {activation = "relu", name = "fold_height"})
  layers[#layers + 1] = nn.Reshape{steps, 128}
  layers[#layers + 1] = nn.Bidirectional(nn.LSTM(96, {return_sequences = true}))
  layers[#layers + 1] = nn.Dense(num_classes, {name = "logits"})
  return nn.Sequential(layers, {name = "crnn"})
end

-- Adam with a linear warm-up to lr over the first tenth of the steps (the
-- first CTC gradients, from a model that finds every path about as likely,
-- are large), then a cosine down to lr/100; gradients clipped to a global
-- norm of 5, a common setting for LSTMs trained with CTC.
local function compile(model, opts, total_steps)
  local warmup = total_steps // 10
  local schedule = dnn.optim.schedules.CosineDecay{initial_learning_rate = 0, warmup_target = opts.lr,
                                                   warmup_steps = warmup,
                                                   decay_steps = math.max(1, total_steps - warmup), alpha = 0.01}
  model:compile{optimizer = dnn.optim.Adam{learning_rate = schedule, global_clipnorm = 5},
                loss = function(y, logits) return dnn.losses.ctc(y, logits) end}
end

-- The texts read from logits (n, steps, classes), greedy or by beam search.
local function decode(logits, to_text, beam_width)
  local ids
  if beam_width then
    ids = dnn.text.ctc_beam_search_decode(logits, {beam_width = beam_width})
  else
    ids = dnn.text.ctc_greedy_decode(logits)
  end
  local texts = {}
  for i, line in ipairs(ids) do texts[i] = to_text(line) end
  return texts
end

-- The character error rate of texts against references and the share of
-- lines read exactly.
local function score(texts, references)
  local cer = dnn.metrics.character_error_rate(texts, references)
  local exact = 0
  for i, text in ipairs(texts) do
    if text == references[i] then exact = exact + 1 end
  end
  return cer, exact / #references
end

-- The lines to draw, count of them in their order in the data: up to a
-- third are the first misread ones (a picture of lines all read right shows
-- little), the rest the first lines.
local function lines_to_show(texts, references, count)
  local chosen, taken = {}, {}
  for i = 1, #references do
    if #chosen >= count // 3 then break end
    if texts[i] ~= references[i] then chosen[#chosen + 1], taken[i] = i, true end
  end
  for i = 1, #references do
    if #chosen >= count then break end
    if not taken[i] then chosen[#chosen + 1], taken[i] = i, true end
  end
  table.sort(chosen)
  return chosen
end

-- One picture of some lines of data and what was read: each line enlarged
-- twice, and beside it its text (black) and the reading (green when exact,
-- red otherwise) in the built-in font.
local function save_picture(data, texts, count, path)
  local SCALE, PAD, TEXT_SCALE = 2, 6, 2
  local line_h, line_w = HEIGHT * SCALE, WIDTH * SCALE
  local text_w = dnn.image.text_width(string.rep("M", 18), TEXT_SCALE)
  local shown = lines_to_show(texts, data.texts, count)
  local canvas = dnn.image.canvas(PAD + #shown * (line_h + PAD), PAD + line_w + 2 * PAD + text_w)
  for row, i in ipairs(shown) do
    local top = PAD + (row - 1) * (line_h + PAD)
    local line = dnn.image.resize(data.x[i], line_h, line_w, {method = "nearest"})
    canvas:narrow(1, top + 1, line_h):narrow(2, PAD + 1, line_w):copy(line:expand(line_h, line_w, 3))
    local x = PAD + line_w + 2 * PAD
    local ok = texts[i] == data.texts[i]
    dnn.image.draw_text(canvas, x, top + 8, "text " .. data.texts[i], {0, 0, 0}, {scale = TEXT_SCALE})
    dnn.image.draw_text(canvas, x, top + 8 + 12 * TEXT_SCALE, "read " .. texts[i],
      ok and {0, 0.5, 0} or {0.8, 0, 0}, {scale = TEXT_SCALE})
  end
  dnn.image.save(canvas, path)
end

local opts = parse_args(arg or {})
dnn.manual_seed(opts.seed)

local started = dnn.wall_time()
local train = dnn.datasets.text_lines{n = opts.train, seed = opts.seed, height = HEIGHT, width = WIDTH}
local test = dnn.datasets.text_lines{n = opts.test, seed = opts.seed + TEST_SEED_OFFSET, height = HEIGHT,
                                     width = WIDTH}
print(string.format("drew %d training and %d test lines (%dx%d) in %.1fs", opts.train, opts.test, WIDTH, HEIGHT,
  dnn.wall_time() - started))

local model = crnn(train.num_classes)
model:summary()
local steps_per_epoch = math.ceil(opts.train / opts.batch_size)
compile(model, opts, opts.epochs * steps_per_epoch)

-- The test lines' logits, in inference mode (the batch norms' moving averages).
local function test_logits() return model:predict(test.x, {batch_size = 200, verbose = 0}) end

local untrained_cer = score(decode(test_logits(), test.to_text), test.texts)

print(string.format("training %d epochs of %d lines, batch %d, %d threads", opts.epochs, opts.train,
  opts.batch_size, dnn.get_num_threads()))
started = dnn.wall_time()
model:fit(train.x, train.y, {epochs = opts.epochs, batch_size = opts.batch_size, shuffle = true, verbose = 2})
print(string.format("training time %.1fs", dnn.wall_time() - started))

started = dnn.wall_time()
local logits = test_logits()
local greedy = decode(logits, test.to_text)
local greedy_cer, greedy_exact = score(greedy, test.texts)
local greedy_seconds = dnn.wall_time() - started
started = dnn.wall_time()
local beam = decode(logits, test.to_text, opts.beam)
local beam_cer, beam_exact = score(beam, test.texts)
local beam_seconds = dnn.wall_time() - started

local path = opts.out .. "/ocr.png"
save_picture(test, beam, math.min(12, opts.test), path)
local saved = dnn.image.load(path) -- read back: the size printed is the file's
print(string.format("saved %s (%dx%d)", path, saved.shape[2], saved.shape[1]))
print(string.format("untrained model: CER %.2f%%", 100 * untrained_cer))
print(string.format("greedy decoding: CER %.2f%%, lines read exactly %.1f%% (%.1fs)", 100 * greedy_cer,
  100 * greedy_exact, greedy_seconds))
print(string.format("beam search (width %d): CER %.2f%%, lines read exactly %.1f%% (%.1fs)", opts.beam,
  100 * beam_cer, 100 * beam_exact, beam_seconds))
print(string.format("test CER %.2f%% (%d lines)", 100 * beam_cer, opts.test))
