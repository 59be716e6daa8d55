-- Text and series data: dnn.text.Tokenizer (char and word level, UTF-8, frequency order, num_words, OOV, save and
-- load), dnn.text.sample, dnn.data.pad_sequences and dnn.data.timeseries against hand-worked Keras results, and the
-- DataLoader over variable-length sequences. Keras is not installed here: the expected values are worked by hand
-- from Keras's code and docs (the pad_sequences and timeseries_dataset_from_array examples are its docstrings').
local dnn = require "dnn"
local H = require "helpers"
local Tokenizer = dnn.text.Tokenizer
local DataLoader = dnn.data.DataLoader

local function fails(want, fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error containing: " .. table.concat(type(want) == "table" and want or {want}, ", "))
  assert.are.equal("string", type(err))
  for _, w in ipairs(type(want) == "table" and want or {want}) do
    assert.truthy(err:find(w, 1, true), err)
  end
  return err
end

local function tmp()
  local path = os.tmpname()
  os.remove(path)
  return path
end

describe("Tokenizer", function()
  it("round-trips UTF-8 text at char level, ids by frequency, ties by first appearance", function()
    local tok = Tokenizer{level = "char"}:fit("Naïve Café ÀÉ")
    -- lowered "naïve café àé": a, space and é twice (first seen in that order), then the rest once each
    assert.are.same({"a", " ", "é", "n", "ï", "v", "e", "c", "f", "à"}, tok:vocabulary())
    assert.are.equal(11, tok:vocabulary_size())
    local ids = tok:encode("naïve café")
    assert.are.same({4, 1, 5, 6, 7, 2, 8, 1, 9, 3}, ids)
    assert.are.equal("naïve café", tok:decode(ids))
    assert.are.equal("naïve café", tok:decode(dnn.tensor(ids)))
    assert.are.equal("NAÏVE", Tokenizer{level = "char", lower = false}:fit("NAÏVE"):decode({1, 2, 3, 4, 5}))
  end)

  it("lowers Latin, Greek and Cyrillic capitals, not only ASCII", function()
    local tok = Tokenizer{}:fit("ÜBER Ægir ŁÓDŹ ΑΘΗΝΑ МОСКВА")
    assert.are.same({"über", "ægir", "łódź", "αθηνα", "москва"}, tok:vocabulary())
  end)

  it("splits words on whitespace after Keras's filters, keeping apostrophes", function()
    local tok = Tokenizer{}:fit{"The cat sat on the mat.", "The dog sat, the end!"}
    assert.are.same({"the", "sat", "cat", "on", "mat", "dog", "end"}, tok:vocabulary())
    assert.are.same({1, 3, 2, 1, 7}, tok:encode("The\tcat (sat) the\nEND"))
    assert.are.same({"don't", "stop"}, Tokenizer{}:fit("Don't -- STOP!"):vocabulary())
    assert.are.same({"a-b", "c"}, Tokenizer{filters = "."}:fit("a-b. c"):vocabulary())
    assert.are.same({"x", "y"}, Tokenizer{filters = "«»"}:fit("«x»y"):vocabulary())
  end)

  it("adds to the counts with a second fit and renumbers", function()
    local tok = Tokenizer{}:fit("b a")
    assert.are.same({"b", "a"}, tok:vocabulary())
    tok:fit("a")
    assert.are.same({"a", "b"}, tok:vocabulary())
    assert.are.equal(2, tok.word_counts.a)
  end)

  it("keeps ids below num_words; unknown words go to the OOV token (id 1) or are dropped", function()
    local texts = {"The cat sat on the mat.", "The dog sat, the end!"}
    local oov = Tokenizer{num_words = 4, oov_token = "<OOV>"}:fit(texts)
    assert.are.same({"<OOV>", "the", "sat"}, oov:vocabulary())
    assert.are.equal(4, oov:vocabulary_size())
    assert.are.equal(4, oov.word_index.cat) -- the index keeps every word, as Keras's
    assert.are.same({2, 1, 3, 1}, oov:encode("the cat sat zebra"))
    assert.are.equal("the <OOV> sat <OOV>", oov:decode(oov:encode("the cat sat zebra")))
    local plain = Tokenizer{num_words = 3}:fit(texts)
    assert.are.same({"the", "sat"}, plain:vocabulary())
    assert.are.same({1, 2}, plain:encode("the cat sat zebra"))
    local all = Tokenizer{oov_token = "<OOV>"}:fit(texts)
    assert.are.same({2, 4, 3, 1}, all:encode("the cat sat zebra"))
    assert.are.equal(9, all:vocabulary_size())
    -- an OOV token that occurs in the texts keeps id 1
    assert.are.same({"unk", "a"}, Tokenizer{oov_token = "unk"}:fit("unk unk a"):vocabulary())
  end)

  it("decodes skipping padding 0s, from arrays and 1-d tensors", function()
    local tok = Tokenizer{}:fit{"The cat sat on the mat."}
    assert.are.equal("the cat", tok:decode({0, 0, 1, 2}))
    assert.are.equal("cat the", tok:decode(dnn.tensor{2, 1, 0, 0}))
    assert.are.equal("", tok:decode({}))
    local padded = dnn.data.pad_sequences(tok:encode_batch{"the mat", "cat sat on the mat"}, {maxlen = 4})
    assert.are.equal("the mat", tok:decode(padded[1]))
    assert.are.equal("sat on the mat", tok:decode(padded[2]))
  end)

  it("saves and loads its vocabulary as JSON, ids and settings unchanged", function()
    local text = 'Tab\there "quoted" \\ naïve\nnew line, ünïcödé ✓ 😀'
    for _, options in ipairs{{level = "char", lower = false}, {num_words = 5, oov_token = "[UNK]"},
                             {filters = ",\"", lower = false}} do
      local tok = Tokenizer(options):fit{text, "b b a"}
      local path = tmp()
      tok:save(path)
      local back = Tokenizer.load(path)
      os.remove(path)
      assert.are.same(tok:vocabulary(), back:vocabulary())
      assert.are.same(tok:get_config(), back:get_config())
      assert.are.same(tok:encode(text), back:encode(text))
      assert.are.equal(tok:vocabulary_size(), back:vocabulary_size())
      -- counts come back in first-seen order, so a later fit breaks ties as the original would
      tok:fit("zz yy")
      back:fit("zz yy")
      assert.are.same(tok:vocabulary(), back:vocabulary())
    end
    local path = tmp()
    Tokenizer{level = "char"}:save(path) -- an unfitted tokenizer too
    assert.are.equal(1, Tokenizer.load(path):vocabulary_size())
    os.remove(path)
  end)

  it("refuses bad settings and input, naming the function", function()
    fails("Tokenizer: level must be 'word' or 'char', got string 'chars'", Tokenizer, {level = "chars"})
    fails("Tokenizer: num_words must be an integer >= 2 (it counts the padding id 0), got string '64'", Tokenizer,
      {num_words = "64"})
    fails("Tokenizer: unknown option 'oov_tokn' (did you mean 'oov_token'?)", Tokenizer, {oov_tokn = "x"})
    fails("Tokenizer: filters apply to words", Tokenizer, {level = "char", filters = "."})
    fails("Tokenizer: lower must be a boolean, got string 'yes'", Tokenizer, {lower = "yes"})
    local tok = Tokenizer{level = "char"}
    fails("Tokenizer:encode: the tokenizer has no vocabulary yet: call :fit(texts) first", tok.encode, tok, "abc")
    fails("Tokenizer:fit: texts[2] is not valid UTF-8 (bad byte at position 3)", tok.fit, tok, {"ok", "ab\xff"})
    fails("Tokenizer:fit: texts[2] is number 3, expected a string", tok.fit, tok, {"a", 3})
    fails("Tokenizer:fit: expected a string or a list of strings, got number 3", tok.fit, tok, 3)
    tok:fit("abc")
    fails("Tokenizer:encode: expected a string, got table", tok.encode, tok, {"abc"})
    fails("Tokenizer:decode: ids[2] is number 4, expected an id in 0..3", tok.decode, tok, {1, 4})
    fails("Tokenizer:decode: ids[1] is number 1.5", tok.decode, tok, {1.5})
    fails("Tokenizer:decode: expected one sequence of ids (a 1-d tensor), got tensor of shape (1, 2)", tok.decode, tok,
      dnn.tensor{{1, 2}})
    local path = tmp()
    local f = assert(io.open(path, "w"))
    f:write('{"class_name": "Model"}')
    f:close()
    fails("is not a saved Tokenizer", Tokenizer.load, path)
    os.remove(path)
    fails("Tokenizer.from_config: word_counts[1] must be a new {token, count >= 1}", Tokenizer.from_config,
      {word_counts = {{"a", 0}}})
    -- the error points at the caller's line, not the library's
    local ok, err = pcall(function() return Tokenizer{level = 1} end)
    assert.is_false(ok)
    assert.truthy(err:find("text_spec.lua:%d+: Tokenizer: level"), err)
  end)
end)

describe("pad_sequences", function()
  local seqs = {{1}, {2, 3}, {4, 5, 6}}

  it("follows Keras's docstring examples", function()
    H.assert_close(dnn.data.pad_sequences(seqs), {{0, 0, 1}, {0, 2, 3}, {4, 5, 6}})
    H.assert_close(dnn.data.pad_sequences(seqs, {value = -1}), {{-1, -1, 1}, {-1, 2, 3}, {4, 5, 6}})
    H.assert_close(dnn.data.pad_sequences(seqs, {padding = "post"}), {{1, 0, 0}, {2, 3, 0}, {4, 5, 6}})
    H.assert_close(dnn.data.pad_sequences(seqs, {maxlen = 2}), {{0, 1}, {2, 3}, {5, 6}})
  end)

  it("truncates at either end and pads past the longest", function()
    H.assert_close(dnn.data.pad_sequences(seqs, {maxlen = 2, truncating = "post"}), {{0, 1}, {2, 3}, {4, 5}})
    H.assert_close(dnn.data.pad_sequences(seqs, {maxlen = 2, truncating = "post", padding = "post"}),
      {{1, 0}, {2, 3}, {4, 5}})
    H.assert_close(dnn.data.pad_sequences(seqs, {maxlen = 4, padding = "post", value = 9}),
      {{1, 9, 9, 9}, {2, 3, 9, 9}, {4, 5, 6, 9}})
    H.assert_close(dnn.data.pad_sequences({{}, {7}}), {{0}, {7}})
    H.assert_shape(dnn.data.pad_sequences({{}, {}}), {2, 0})
    H.assert_shape(dnn.data.pad_sequences({}, {maxlen = 5}), {0, 5})
    -- ids stay exact in float32 below 2^24
    assert.are.equal(16777215, dnn.data.pad_sequences({{16777215}}, {maxlen = 2})[1][2]:item())
  end)

  it("pads tensors of steps (steps, features) to (n, maxlen, features), and 1-d tensors like arrays", function()
    local a = dnn.tensor{{1, 1}, {2, 2}, {3, 3}}
    local b = dnn.tensor{{4, 4}}
    H.assert_close(dnn.data.pad_sequences({a, b}, {maxlen = 2}),
      {{{2, 2}, {3, 3}}, {{0, 0}, {4, 4}}})
    H.assert_close(dnn.data.pad_sequences({a, b}, {padding = "post", truncating = "post", maxlen = 2, value = -1}),
      {{{1, 1}, {2, 2}}, {{4, 4}, {-1, -1}}})
    H.assert_close(dnn.data.pad_sequences({dnn.tensor{1, 2}, {3}}), {{1, 2}, {0, 3}})
  end)

  it("refuses bad input", function()
    fails("pad_sequences: padding must be 'pre' or 'post', got string 'middle'", dnn.data.pad_sequences, seqs,
      {padding = "middle"})
    fails("pad_sequences: maxlen must be a positive integer, got number 0", dnn.data.pad_sequences, seqs, {maxlen = 0})
    fails("pad_sequences: maxlen must be a positive integer, got string '3'", dnn.data.pad_sequences, seqs,
      {maxlen = "3"})
    fails("pad_sequences: unknown option 'max_len' (did you mean 'maxlen'?)", dnn.data.pad_sequences, seqs,
      {max_len = 3})
    fails("pad_sequences: sequences[2][1] is string 'a', expected a number", dnn.data.pad_sequences, {{1}, {"a"}})
    fails("pad_sequences: sequences[1] is number 3, expected a sequence", dnn.data.pad_sequences, {3})
    fails("pad_sequences: expected a list of sequences, got tensor of shape (2, 2)", dnn.data.pad_sequences,
      dnn.zeros(2, 2))
    fails("pad_sequences: sequences[2]'s steps have shape (3), sequences[1]'s (2)", dnn.data.pad_sequences,
      {dnn.zeros(1, 2), dnn.zeros(1, 3)})
    fails("pad_sequences: value must be a number, got string 'x'", dnn.data.pad_sequences, seqs, {value = "x"})
  end)
end)

-- The batches of a loader as nested tables.
local function batches(loader)
  local xs, ys = {}, {}
  for xb, yb in loader do
    xs[#xs + 1] = xb:totable()
    ys[#ys + 1] = yb and yb:totable()
  end
  return xs, ys
end

describe("timeseries", function()
  it("cuts Keras's docstring example 1: sequence_length 10, sampling_rate 2, sequence_stride 3 over 0..98", function()
    local loader = dnn.data.timeseries(dnn.arange(0, 99), {sequence_length = 10, sampling_rate = 2,
                                                           sequence_stride = 3})
    assert.are.equal(1, #loader)
    local xs, ys = batches(loader)
    local windows = xs[1]
    assert.are.equal(27, #windows) -- starts 0, 3, ..., 78: the last two points are dropped
    assert.are.same({0, 2, 4, 6, 8, 10, 12, 14, 16, 18}, windows[1])
    assert.are.same({3, 5, 7, 9, 11, 13, 15, 17, 19, 21}, windows[2])
    assert.are.same({6, 8, 10, 12, 14, 16, 18, 20, 22, 24}, windows[3])
    assert.are.same({78, 80, 82, 84, 86, 88, 90, 92, 94, 96}, windows[27])
    assert.is_nil(ys[1])
  end)

  it("pairs a window with the target at its start (Keras's example 2: the next step)", function()
    local data = dnn.arange(1, 21)
    local loader = dnn.data.timeseries(data:narrow(1, 1, 10), {targets = data:narrow(1, 11, 10), sequence_length = 10})
    local xs, ys = batches(loader)
    assert.are.same({{{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}}}, xs)
    assert.are.same({{11}}, ys)
  end)

  it("batches windows of (steps, features) data, the last batch short", function()
    -- rows r = {r, 10 r} for r = 1..8; windows of 3 rows, stride 1: 6 windows, targets 100 + r
    local rows = {}
    for r = 1, 8 do rows[r] = {r, 10 * r} end
    local targets = {}
    for r = 1, 8 do targets[r] = 100 + r end
    local loader = dnn.data.timeseries(dnn.tensor(rows), {sequence_length = 3, targets = targets, batch_size = 4})
    assert.are.equal(2, #loader)
    local xs, ys = batches(loader)
    assert.are.equal(4, #xs[1])
    assert.are.same({{1, 10}, {2, 20}, {3, 30}}, xs[1][1])
    assert.are.same({{4, 40}, {5, 50}, {6, 60}}, xs[1][4])
    assert.are.same({{{5, 50}, {6, 60}, {7, 70}}, {{6, 60}, {7, 70}, {8, 80}}}, xs[2])
    assert.are.same({{101, 102, 103, 104}, {105, 106}}, ys)
  end)

  it("keeps to start_index..end_index (1-based, inclusive) and to the windows with a target", function()
    -- Keras's start_index = 5, end_index = 15 over 0..19: rows 6..15 here
    local loader = dnn.data.timeseries(dnn.arange(0, 20), {sequence_length = 3, sampling_rate = 2, start_index = 6,
                                                           end_index = 15, targets = dnn.arange(0, 20) * 10})
    local xs, ys = batches(loader)
    assert.are.same({{5, 7, 9}, {6, 8, 10}, {7, 9, 11}, {8, 10, 12}, {9, 11, 13}, {10, 12, 14}}, xs[1])
    assert.are.same({{50, 60, 70, 80, 90, 100}}, ys)
    -- targets shorter than the data: only windows with a target
    local short = dnn.data.timeseries(dnn.arange(0, 10), {sequence_length = 2, targets = {7, 8, 9}})
    xs, ys = batches(short)
    assert.are.same({{{0, 1}, {1, 2}, {2, 3}}}, xs)
    assert.are.same({{7, 8, 9}}, ys)
    -- non-overlapping windows (Keras's example 3)
    xs = batches(dnn.data.timeseries({1, 2, 3, 4, 5, 6, 7}, {sequence_length = 3, sequence_stride = 3}))
    assert.are.same({{{1, 2, 3}, {4, 5, 6}}}, xs)
  end)

  it("shuffles windows with the DataLoader's seeded shuffle, windows and targets still paired", function()
    local make = function()
      return dnn.data.timeseries(dnn.arange(0, 30), {sequence_length = 4, targets = dnn.arange(0, 30) + 1000,
                                                     batch_size = 5, shuffle = true, seed = 3})
    end
    local a, b = make(), make()
    local xa, ya = batches(a)
    local xb = batches(b)
    assert.are.same(xa, xb)
    local firsts = {}
    for i, batch in ipairs(xa) do
      for j, w in ipairs(batch) do
        assert.are.same({w[1], w[1] + 1, w[1] + 2, w[1] + 3}, w)
        assert.are.equal(w[1] + 1000, ya[i][j])
        firsts[#firsts + 1] = w[1]
      end
    end
    assert.are.equal(27, #firsts)
    assert.are_not.same(firsts[1] .. "," .. firsts[2], "0,1")
    table.sort(firsts)
    for i = 1, 27 do assert.are.equal(i - 1, firsts[i]) end
  end)

  it("feeds fit: a linear model learns the next value of a series from its last 4", function()
    dnn.manual_seed(2)
    local steps = 400
    local values = {}
    for t = 1, steps do values[t] = math.sin(t * 0.3) end
    local series = dnn.tensor(values)
    -- window starting at i: values i..i+3; its target values[i + 4]
    local loader = dnn.data.timeseries(series:narrow(1, 1, steps - 4), {targets = series:narrow(1, 5, steps - 4),
                                       sequence_length = 4, batch_size = 32, shuffle = true, seed = 1})
    local model = dnn.nn.Sequential{dnn.nn.Dense(1, {input_shape = {4}})}
    model:compile{optimizer = dnn.optim.Adam{learning_rate = 0.05}, loss = "mse"}
    local history = model:fit(loader, {epochs = 20, verbose = 0})
    assert.is_true(history.history.loss[20] < 1e-3, history.history.loss[20])
  end)

  it("refuses bad options", function()
    local x = dnn.arange(0, 10)
    fails("timeseries: sequence_length is required", dnn.data.timeseries, x, {})
    fails("timeseries: sequence_length must be a positive integer, got string '3'", dnn.data.timeseries, x,
      {sequence_length = "3"})
    fails("timeseries: sampling_rate must be a positive integer, got number 0", dnn.data.timeseries, x,
      {sequence_length = 3, sampling_rate = 0})
    fails("timeseries: no window fits: a window spans 11 steps (sequence_length 6, sampling_rate 2), rows 1..10 hold 10",
      dnn.data.timeseries, x, {sequence_length = 6, sampling_rate = 2})
    fails("timeseries: end_index must be an integer in 5..10", dnn.data.timeseries, x,
      {sequence_length = 2, start_index = 5, end_index = 4})
    fails("timeseries: start_index must be an integer in 1..10", dnn.data.timeseries, x,
      {sequence_length = 2, start_index = 0})
    fails("timeseries: unknown option 'sequence_len' (did you mean 'sequence_length'?)", dnn.data.timeseries, x,
      {sequence_len = 2})
    fails("timeseries: expected data as a tensor (steps, ...) or a Lua array of numbers, got string 'x'",
      dnn.data.timeseries, "x", {sequence_length = 2})
    fails("timeseries: targets[2] is string 'b'", dnn.data.timeseries, x, {sequence_length = 2, targets = {1, "b"}})
    fails("timeseries: shuffle must be a boolean, got string 'yes'", dnn.data.timeseries, x,
      {sequence_length = 2, shuffle = "yes"})
  end)
end)

describe("sample", function()
  local sample = dnn.text.sample

  -- How often each id comes up in n draws from scores (one batch of n equal rows), as fractions.
  local function frequencies(scores, n, options)
    local rows = {}
    for i = 1, n do rows[i] = scores end
    local counts = {}
    for i = 1, #scores do counts[i] = 0 end
    for _, id in ipairs(sample(dnn.tensor(rows), options)) do counts[id] = counts[id] + 1 end
    for i = 1, #scores do counts[i] = counts[i] / n end
    return counts
  end

  local function softmax(z, t)
    local out, total = {}, 0
    for i, v in ipairs(z) do
      out[i] = math.exp(v / t)
      total = total + out[i]
    end
    for i = 1, #z do out[i] = out[i] / total end
    return out
  end

  -- Within 5 standard errors of n draws (seeded, so the check never flakes).
  local function near(freq, probs, n)
    for i, p in ipairs(probs) do
      local se = math.sqrt(p * (1 - p) / n)
      assert.is_true(math.abs(freq[i] - p) <= 5 * se + 1e-12,
        string.format("id %d: frequency %.4f, probability %.4f", i, freq[i], p))
    end
  end

  it("takes the argmax at temperature 0 and with top_k = 1", function()
    assert.are.equal(3, sample({0.5, 1, 4, -2}, {temperature = 0}))
    assert.are.same({3, 1}, sample(dnn.tensor{{0.5, 1, 4, -2}, {9, 1, 4, -2}}, {temperature = 0}))
    assert.are.equal(2, sample({1, 5, 5}, {temperature = 0})) -- ties: the first
    for _ = 1, 20 do assert.are.equal(3, sample({0.5, 1, 4, -2}, {top_k = 1, temperature = 2})) end
    assert.are.equal(2, sample({0.2, 0.5, 0.3}, {from_logits = false, temperature = 0}))
  end)

  it("repeats with a seed, as dnn.manual_seed would, without moving dnn's stream", function()
    local logits = dnn.zeros(50, 20)
    local a = sample(logits, {seed = 7})
    assert.are.same(a, sample(logits, {seed = 7}))
    assert.are_not.same(a, sample(logits, {seed = 8}))
    dnn.manual_seed(7)
    assert.are.same(a, sample(logits))
    dnn.manual_seed(1)
    local want = dnn.rand(3):totable()
    dnn.manual_seed(1)
    sample(logits, {seed = 9})
    assert.are.same(want, dnn.rand(3):totable())
  end)

  it("draws ids as often as softmax(logits / temperature) says", function()
    local logits, n = {2, 1, 0, -1}, 20000
    near(frequencies(logits, n, {seed = 1}), softmax(logits, 1), n)
    near(frequencies(logits, n, {seed = 2, temperature = 0.5}), softmax(logits, 0.5), n)
    near(frequencies(logits, n, {seed = 3, temperature = 3}), softmax(logits, 3), n)
  end)

  it("draws only among the top k, renormalized", function()
    local logits, n = {2, 1, 0, -1}, 20000
    local top2 = softmax({2, 1}, 1)
    near(frequencies(logits, n, {seed = 4, top_k = 2}), {top2[1], top2[2], 0, 0}, n)
    -- a tie at the k-th score keeps every tied id
    local f = frequencies({1, 3, 3, 0}, 2000, {seed = 5, top_k = 1})
    assert.are.equal(0, f[1] + f[4])
    assert.is_true(f[2] > 0.4 and f[3] > 0.4)
    -- top_k past the vocabulary keeps all
    near(frequencies(logits, n, {seed = 6, top_k = 10}), softmax(logits, 1), n)
  end)

  it("takes probabilities with from_logits = false (temperature as on their logs)", function()
    local probs, n = {0.1, 0.6, 0.3, 0}, 20000
    near(frequencies(probs, n, {seed = 6, from_logits = false}), probs, n)
    -- temperature 0.5 squares them: {0.01, 0.36, 0.09} / 0.46
    near(frequencies(probs, n, {seed = 7, from_logits = false, temperature = 0.5}), {0.01 / 0.46, 0.36 / 0.46,
      0.09 / 0.46, 0}, n)
    -- unnormalized weights and -inf logits: never drawn where the weight is 0
    local f = frequencies({-math.huge, 0, -math.huge}, 500, {seed = 8})
    assert.are.same({0, 1, 0}, f)
  end)

  it("refuses bad input", function()
    fails("sample: temperature must be a finite number >= 0, got number -1", sample, {1, 2}, {temperature = -1})
    fails("sample: top_k must be a positive integer, got number 0", sample, {1, 2}, {top_k = 0})
    fails("sample: top_k must be a positive integer, got string '5'", sample, {1, 2}, {top_k = "5"})
    fails("sample: row 1, score 2 is number -0.5, expected a probability >= 0", sample, {0.5, -0.5},
      {from_logits = false})
    fails("sample: row 1 has no possible id (every weight is 0)", sample, {0, 0}, {from_logits = false})
    fails({"sample: row 2, score 1 is number ", "nan"}, sample, dnn.tensor{{1, 2}, {0 / 0, 1}})
    fails("sample: expected scores for one row (1-d) or a batch (2-d), got tensor of shape (1, 1, 2)", sample,
      dnn.zeros(1, 1, 2))
    fails("sample: unknown option 'temprature' (did you mean 'temperature'?)", sample, {1, 2}, {temprature = 1})
    fails("sample: expected a tensor or a Lua array of scores, got string 'x'", sample, "x")
  end)
end)

describe("DataLoader over variable-length sequences", function()
  local seqs = {{1}, {2, 3}, {4, 5, 6}, {7}, {8, 9}}

  it("pads each batch to its longest, pre by default as pad_sequences, y from a list of labels", function()
    local loader = DataLoader{x = seqs, y = {10, 20, 30, 40, 50}, batch_size = 2}
    assert.are.equal(3, #loader)
    local xs, ys = batches(loader)
    assert.are.same({{{0, 1}, {2, 3}}, {{4, 5, 6}, {0, 0, 7}}, {{8, 9}}}, xs)
    assert.are.same({{10, 20}, {30, 40}, {50}}, ys)
  end)

  it("takes pad_sequences's options per batch, and pads y sequences too", function()
    local ys = {}
    for i, s in ipairs(seqs) do
      ys[i] = {}
      for j, v in ipairs(s) do ys[i][j] = v * 10 end
    end
    local loader = DataLoader{seqs, ys, batch_size = 3, pad = {padding = "post", value = -1}}
    local xs, yb = batches(loader)
    assert.are.same({{{1, -1, -1}, {2, 3, -1}, {4, 5, 6}}, {{7, -1}, {8, 9}}}, xs)
    assert.are.same({{{10, -1, -1}, {20, 30, -1}, {40, 50, 60}}, {{70, -1}, {80, 90}}}, yb)
    local capped = DataLoader{x = seqs, batch_size = 5, pad = {maxlen = 2, truncating = "post"}}
    assert.are.same({{{0, 1}, {2, 3}, {4, 5}, {0, 7}, {8, 9}}}, (batches(capped)))
  end)

  it("shuffles with x and y still paired, and pads tensors of steps", function()
    local steps = {}
    for i = 1, 7 do steps[i] = dnn.full({i, 2}, i) end
    local loader = DataLoader{x = steps, y = dnn.arange(1, 8), batch_size = 3, shuffle = true, seed = 4}
    local seen = 0
    for xb, yb in loader do
      local longest = 0
      for i = 1, xb.shape[1] do
        local id = yb[i]:item()
        longest = math.max(longest, id)
        assert.are.equal(id, xb[i][xb.shape[2]][1]:item()) -- pre-padded: the last step is the sequence's
        seen = seen + 1
      end
      assert.are.equal(longest, xb.shape[2])
      assert.are.equal(2, xb.shape[3])
    end
    assert.are.equal(7, seen)
  end)

  it("builds batches with a collate function, from samples of any kind", function()
    local texts = {"a b", "b", "a a b", "c"}
    local tok = Tokenizer{}:fit(texts)
    local loader = DataLoader{x = texts, y = dnn.tensor{1, 2, 1, 2}, batch_size = 2, collate = function(xs, ys)
      local labels = {}
      for i, y in ipairs(ys) do labels[i] = y:item() end
      return dnn.data.pad_sequences(tok:encode_batch(xs), {padding = "post"}), dnn.tensor(labels)
    end}
    local xs, ys = batches(loader)
    -- ids: a 1 (3 times, first seen), b 2 (3 times), c 3
    assert.are.same({{{1, 2}, {2, 0}}, {{1, 1, 2}, {3, 0, 0}}}, xs)
    assert.are.same({{1, 2}, {1, 2}}, ys)
  end)

  it("feeds fit", function()
    dnn.manual_seed(3)
    -- sequences of 1 to 6 steps, all 1s (class 2) or all 3s (class 1), padded to 6 steps in every batch
    local x, y = {}, {}
    for i = 1, 64 do
      x[i] = {}
      for j = 1, 1 + (i // 2) % 6 do x[i][j] = i % 2 == 0 and 1 or 3 end
      y[i] = i % 2 == 0 and 2 or 1
    end
    local loader = DataLoader{x = x, y = y, batch_size = 16, shuffle = true, seed = 2, pad = {maxlen = 6,
                                                                                             value = 0}}
    local model = dnn.nn.Sequential{dnn.nn.Dense(2, {activation = "softmax", input_shape = {6}})}
    model:compile{optimizer = dnn.optim.Adam{learning_rate = 0.1}, loss = "sparse_categorical_crossentropy",
                  metrics = {"accuracy"}}
    local history = model:fit(loader, {epochs = 30, verbose = 0})
    assert.is_true(history.history.accuracy[30] > 0.95, history.history.accuracy[30])
  end)

  it("refuses what it cannot batch", function()
    fails("DataLoader: x is a Lua array of numbers", DataLoader, {x = {1, 2, 3}})
    fails("DataLoader: x[2] is string 'b', expected a sequence", DataLoader, {x = {{1}, "b"}})
    fails("DataLoader: x and y have different numbers of samples: 2 and 3", DataLoader, {x = {{1}, {2}}, y = {1, 2, 3}})
    fails("DataLoader: y[2] is boolean true, expected a sequence", DataLoader, {x = {{1}, {2}}, y = {{1}, true}})
    fails("DataLoader: pad is for sequences given as a Lua list", DataLoader, {dnn.zeros(4, 2), pad = {}})
    fails("DataLoader: pad and collate do not go together", DataLoader,
      {x = {{1}}, pad = {}, collate = function(xs) return dnn.zeros(#xs) end})
    fails("DataLoader's pad: unknown option 'paddding' (did you mean 'padding'?)", DataLoader,
      {x = {{1}}, pad = {paddding = "post"}})
    fails("DataLoader: collate must be a function (xs, ys) -> xb, yb, got string 'pad'", DataLoader,
      {x = {{1}}, collate = "pad"})
    fails({"DataLoader: collate returned table", "for x, expected a tensor"}, function()
      for _ in DataLoader{x = {{1}}, collate = function(xs) return xs end} do end
    end)
  end)
end)
