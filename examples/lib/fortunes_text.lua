-- The text of the character-level language-model examples (char_rnn.lua,
-- char_transformer.lua), so both train and validate on the same split: the
-- English text of Debian's fortunes package, characters as ids, training
-- windows at random places, validation over consecutive windows, and the
-- unigram baseline. Loaded with dofile from the examples' folder.
local dnn = require "dnn"

local M = {}

-- Every file of the fortunes package but ascii-art (pictures, not prose).
M.FILES = {"art", "computers", "cookie", "debian", "definitions", "disclaimer", "drugs", "education", "ethnic",
  "food", "fortunes", "goedel", "humorists", "kids", "knghtbrd", "law", "linux", "linuxcookie", "literature",
  "love", "magic", "medicine", "men-women", "miscellaneous", "news", "paradoxum", "people", "perl", "pets",
  "platitudes", "politics", "pratchett", "riddles", "science", "songs-poems", "sports", "startrek", "tao",
  "translate-me", "wisdom", "work", "zippy"}

local function read_file(who, path)
  local f = io.open(path, "rb")
  if not f then
    io.stderr:write(string.format("%s: cannot read %s (install Debian's fortunes package)\n", who, path))
    os.exit(1)
  end
  local text = f:read("a")
  f:close()
  return text
end

-- A file's text split at the start of the fortune nearest 90% of its length: training and validation parts.
local function split_file(text)
  local cut = math.floor(#text * 0.9)
  local at = text:find("\n%\n", cut, true)
  if not at then return text, "" end
  return text:sub(1, at + 2), text:sub(at + 3)
end

-- The unigram model: each character's frequency in the training text (add-one smoothed), scored on the
-- validation text, in bits per character.
local function unigram_bits(train, val, vocab)
  local counts = {}
  for id = 1, vocab do counts[id] = 1 end
  for _, id in ipairs(train) do counts[id] = counts[id] + 1 end
  local total = #train + vocab
  local bits = 0
  for _, id in ipairs(val) do bits = bits - math.log(counts[id] / total, 2) end
  return bits / #val
end

-- The flags of the text, for an examples/lib/args.lua parser: --limit and --data.
function M.add_options(parser, args)
  args.number_option(parser, "--limit", "cap the training text at N characters, the validation text at N/9", nil,
    args.positive_integer)
  parser:option("--data", "the fortunes folder", "/usr/share/games/fortunes"):argname("DIR")
end

-- After parsing: a --limit must leave the validation text one window of seq_len + 1 characters.
function M.check_limit(parser, limit, seq_len)
  if limit and limit // 9 <= seq_len then
    parser:error(string.format("--limit %d leaves no validation window of %d characters (needs --limit >= %d)",
      limit, seq_len + 1, 9 * (seq_len + 1)))
  end
end

-- The text of the files in data_dir (limit: at most that many training characters and limit/9 validation ones).
-- Returns {tok, vocab, train_ids, val_ids (Lua arrays), train, val (1-d tensors), unigram_bits}. Characters are
-- ids 1..vocab, case kept (the files are UTF-8); a validation character never seen in training is the OOV id.
function M.load(who, data_dir, limit)
  local train_parts, val_parts = {}, {}
  for _, name in ipairs(M.FILES) do
    train_parts[#train_parts + 1], val_parts[#val_parts + 1] = split_file(read_file(who, data_dir .. "/" .. name))
  end
  local train_text, val_text = table.concat(train_parts), table.concat(val_parts)
  local tok = dnn.text.Tokenizer{level = "char", lower = false, oov_token = "\u{FFFD}"}:fit(train_text)
  local train_ids, val_ids = tok:encode(train_text), tok:encode(val_text)
  if limit then
    train_ids = table.move(train_ids, 1, math.min(limit, #train_ids), 1, {})
    val_ids = table.move(val_ids, 1, math.min(limit // 9, #val_ids), 1, {})
  end
  local vocab = tok:vocabulary_size() - 1 -- ids 1..vocab (0 is padding, never used here)
  print(string.format("text: %d fortunes files, %d training and %d validation characters, %d distinct", #M.FILES,
    #train_ids, #val_ids, vocab))
  return {tok = tok, vocab = vocab, train_ids = train_ids, val_ids = val_ids, train = dnn.tensor(train_ids),
          val = dnn.tensor(val_ids), unigram_bits = unigram_bits(train_ids, val_ids, vocab)}
end

-- The windows of T + 1 characters starting at the 1-based positions `starts` of ids (a tensor): inputs (n, T) and
-- the next characters (n, T).
function M.windows(ids, starts, T)
  local rows = {}
  for _, s in ipairs(starts) do
    for k = 0, T do rows[#rows + 1] = s + k end
  end
  local w = ids:index_select(1, rows):reshape(#starts, T + 1)
  return w:narrow(2, 1, T), w:narrow(2, 2, T)
end

-- A batch of n window starts, uniform over ids (a tensor), from dnn's PRNG.
function M.random_starts(ids, n, T)
  local starts, span = {}, ids.shape[1] - T
  for i, u in ipairs(dnn.rand(n):totable()) do starts[i] = math.floor(u * span) + 1 end
  return starts
end

-- Mean cross-entropy (nats per character) of model over the consecutive windows of ids (a tensor).
function M.validation_loss(model, loss_fn, ids, T)
  local count = (ids.shape[1] - 1) // T
  local total = 0
  model:eval()
  dnn.no_grad(function()
    for first = 1, count, 128 do
      local starts = {}
      for w = first, math.min(first + 127, count) do starts[#starts + 1] = (w - 1) * T + 1 end
      local x, y = M.windows(ids, starts, T)
      total = total + loss_fn(y, model(x)):item() * #starts
    end
  end)
  model:train()
  return total / count
end

return M
