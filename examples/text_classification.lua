-- Which fortunes file does a fortune come from? Text classification on
-- Debian's `fortunes` package (/usr/share/games/fortunes): a few files of
-- similar size, each fortune labelled with its file, a seeded 80/20 split.
-- Three models on the same word ids, trained with the same optimizer:
--   a bag-of-words logistic regression (tf-idf vectors into a Dense softmax),
--   Embedding + Bidirectional(LSTM), and Embedding + Conv1D + global max pooling.
-- Prints the test accuracy of the three side by side and saves the neural
-- models' training curves as a PNG.
-- Usage: dnnlua examples/text_classification.lua [--epochs N] [--limit N]
--   [--seed N] [--data DIR] [--out DIR]
--   --limit N uses at most N fortunes of each file (a quick run);
--   --data is the fortunes folder; --out is where the PNG goes (default: .).
local dnn = dnn or require "dnn"
local nn = dnn.nn

local args = dofile((arg[0]:match("^(.*)/") or ".") .. "/lib/args.lua")

-- Four files of about 1,100 fortunes each, of four kinds of text.
local CATEGORIES = {"computers", "cookie", "definitions", "people"}
local VOCABULARY = 8000 -- the most frequent words, ids 2..; 1 is out-of-vocabulary
local MAXLEN = 100 -- words per fortune: longer ones keep their first MAXLEN
local BATCH = 32

local function parse_args(argv)
  local parser = args.parser("text_classification.lua",
    "Tells which of four Debian fortunes files a fortune comes from: a bag-of-words baseline, two neural models.")
  args.number_option(parser, "--epochs", "training epochs of the neural models (3x for the baseline)", 8,
    args.positive_integer)
  args.number_option(parser, "--limit", "use at most N fortunes of each file (a quick run)", nil, args.positive_integer)
  args.number_option(parser, "--seed", "random seed", 42, args.nonnegative_integer)
  parser:option("--data", "the fortunes folder", "/usr/share/games/fortunes"):argname("DIR")
  args.out_dir_option(parser, "where the PNG goes")
  return parser:parse(argv)
end

-- A fortunes file: fortunes separated by lines holding only "%".
local function read_fortunes(path)
  local f = io.open(path, "rb")
  if not f then
    io.stderr:write(string.format("text_classification: cannot read %s (install Debian's fortunes package: " ..
      "apt-get install fortunes)\n", path))
    os.exit(1)
  end
  local text = f:read("a"):gsub("\r", "")
  f:close()
  local out = {}
  for item in (text .. "\n%\n"):gmatch("(.-)\n%%\n") do
    item = item:match("^%s*(.-)%s*$")
    if item ~= "" and utf8.len(item) then out[#out + 1] = item end
  end
  return out
end

-- The text as the tokenizer sees it: punctuation marks as words of their own
-- ("--", ":" and quotes say much about where a fortune comes from), a line
-- break as the word "¶" and an indented line's start as "⇥" (the layout of a
-- definition or a poem); the tokenizer then only splits on spaces.
local function with_layout(text)
  text = text:gsub("\n[ \t]+", "\n⇥ "):gsub("\n", " ¶ ")
  return (text:gsub("%-%-", " — "):gsub("[!-,%./:-@%[-`{-~]", " %0 "))
end

-- Every fortune of the chosen files with its label (1-based, the file's place
-- in CATEGORIES), split 80/20 after a seeded shuffle.
local function load_split(opts)
  local texts, labels = {}, {}
  for label, name in ipairs(CATEGORIES) do
    local items = read_fortunes(opts.data .. "/" .. name)
    for i = 1, math.min(#items, opts.limit or #items) do
      texts[#texts + 1], labels[#labels + 1] = with_layout(items[i]), label
    end
  end
  local order = dnn.data.permutation(#texts, opts.seed):totable()
  local n_train = math.floor(#texts * 0.8)
  local train, test = {texts = {}, labels = {}}, {texts = {}, labels = {}}
  for i, j in ipairs(order) do
    local part = i <= n_train and train or test
    part.texts[#part.texts + 1], part.labels[#part.labels + 1] = texts[j], labels[j]
  end
  return train, test
end

-- tf-idf rows (n, V) of the id lists: term frequency (count / length) times
-- the smoothed inverse document frequency of the training set,
-- log((1 + n) / (1 + df)) + 1, as scikit-learn's default; each row scaled to
-- unit length. Built a block of rows at a time from flat Lua arrays.
local function idf_of(seqs, size)
  local df = {}
  for id = 1, size do df[id] = 0 end
  for _, ids in ipairs(seqs) do
    local seen = {}
    for _, id in ipairs(ids) do
      if not seen[id] then
        seen[id] = true
        df[id] = df[id] + 1
      end
    end
  end
  local idf = {}
  for id = 1, size do idf[id] = math.log((1 + #seqs) / (1 + df[id])) + 1 end
  return idf
end

local function tfidf(seqs, size, idf)
  local blocks = {}
  for first = 1, #seqs, 256 do
    local last = math.min(first + 255, #seqs)
    local flat = {}
    for k = 1, (last - first + 1) * size do flat[k] = 0 end
    for i = first, last do
      local ids, base = seqs[i], (i - first) * size
      for _, id in ipairs(ids) do flat[base + id] = flat[base + id] + 1 end
      local norm = 0
      for _, id in ipairs(ids) do
        local k = base + id
        if flat[k] > 0 and idf[id] then
          flat[k] = -flat[k] * idf[id] -- negative: done (a word seen twice is weighted once)
          norm = norm + flat[k] * flat[k]
        end
      end
      norm = math.sqrt(norm)
      for _, id in ipairs(ids) do
        local k = base + id
        if flat[k] < 0 then flat[k] = -flat[k] / norm end
      end
    end
    blocks[#blocks + 1] = dnn.tensor(flat):reshape(last - first + 1, size)
  end
  return dnn.cat(blocks, 1)
end

local function adam()
  return dnn.optim.Adam{learning_rate = 2e-3}
end

local function compile(model)
  model:compile{optimizer = adam(), loss = "sparse_categorical_crossentropy", metrics = {"accuracy"}}
  return model
end

local opts = parse_args(arg or {})
dnn.manual_seed(opts.seed)
local train, test = load_split(opts)
local tok = dnn.text.Tokenizer{num_words = VOCABULARY, oov_token = "<unk>", filters = ""}:fit(train.texts)
local size = tok:vocabulary_size()
local train_seqs, test_seqs = tok:encode_batch(train.texts), tok:encode_batch(test.texts)
local x_train = dnn.data.pad_sequences(train_seqs, {maxlen = MAXLEN, padding = "post", truncating = "post"})
local x_test = dnn.data.pad_sequences(test_seqs, {maxlen = MAXLEN, padding = "post", truncating = "post"})
local y_train, y_test = dnn.tensor(train.labels), dnn.tensor(test.labels)
local classes = #CATEGORIES
print(string.format("%d fortunes from %s: %d to train, %d to test; %d word ids, %d words a fortune at most",
  #train.texts + #test.texts, table.concat(CATEGORIES, ", "), #train.texts, #test.texts, size, MAXLEN))

local function run(name, model, x, x_eval, epochs)
  dnn.manual_seed(opts.seed)
  compile(model)
  local started = dnn.wall_time()
  local history = model:fit(x, y_train, {epochs = epochs, batch_size = BATCH, shuffle = true, verbose = 0,
                                         validation_data = {x_eval, y_test}})
  local seconds = dnn.wall_time() - started
  local _, metrics = model:evaluate(x_eval, y_test, {batch_size = 256, verbose = 0})
  print(string.format("%-44s trained in %6.1fs", name, seconds))
  return metrics.accuracy, history
end

-- 1. The baseline: tf-idf vectors of the same word ids into a Dense softmax.
local idf = idf_of(train_seqs, size)
local bow_train, bow_test = tfidf(train_seqs, size, idf), tfidf(test_seqs, size, idf)
local logreg = nn.Sequential{nn.Input{size}, nn.Dense(classes, {activation = "softmax"})}
local acc_bow = run("baseline bag-of-words logistic regression", logreg, bow_train, bow_test, 3 * opts.epochs)

-- 2. Embedding + Bidirectional(LSTM): padded steps masked (mask_zero).
dnn.manual_seed(opts.seed)
local bilstm = nn.Sequential{
  nn.Input{MAXLEN},
  nn.Embedding(size, 64, {mask_zero = true}),
  nn.Bidirectional(nn.LSTM(32)),
  nn.Dropout(0.3),
  nn.Dense(classes, {activation = "softmax"}),
}
local acc_lstm, h_lstm = run("Embedding + Bidirectional(LSTM(32))", bilstm, x_train, x_test, opts.epochs)

-- 3. Embedding + Conv1D + global max pooling. Conv1D takes no mask (as
-- Keras's), so padding is an id of its own: every id moves up by one.
dnn.manual_seed(opts.seed)
local conv = nn.Sequential{
  nn.Input{MAXLEN},
  nn.Embedding(size + 1, 64),
  nn.Conv1D(64, 5, {activation = "relu"}),
  nn.GlobalMaxPooling1D(),
  nn.Dropout(0.3),
  nn.Dense(classes, {activation = "softmax"}),
}
local acc_conv, h_conv = run("Embedding + Conv1D(64, 5) + global max pool", conv, x_train + 1, x_test + 1, opts.epochs)

-- The neural models' curves in one picture: loss and accuracy, train and test (plotted as validation).
local series = {bilstm_loss = h_lstm.history.loss, val_bilstm_loss = h_lstm.history.val_loss,
                bilstm_accuracy = h_lstm.history.accuracy, val_bilstm_accuracy = h_lstm.history.val_accuracy,
                conv_loss = h_conv.history.loss, val_conv_loss = h_conv.history.val_loss,
                conv_accuracy = h_conv.history.accuracy, val_conv_accuracy = h_conv.history.val_accuracy}
local png = opts.out .. "/text_classification_curves.png"
dnn.plot.history(series, png, {title = "fortunes by file (validation: the test split)"})
print("saved " .. png)
print(string.format("test accuracy over %d fortunes of %d files (chance %.4f):", #test.texts, classes, 1 / classes))
print(string.format("  baseline bag-of-words logistic regression  %.4f", acc_bow))
print(string.format("  Embedding + Bidirectional LSTM             %.4f", acc_lstm))
print(string.format("  Embedding + Conv1D + global max pooling    %.4f", acc_conv))
print(string.format("both neural models beat the baseline: %s", tostring(acc_lstm > acc_bow and acc_conv > acc_bow)))
