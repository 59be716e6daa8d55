-- dnn.text: text to token ids and back (Keras's Tokenizer), and drawing the
-- next token from a model's scores when generating.
--
--   local tok = dnn.text.Tokenizer{level = "char"}:fit(texts)
--   local ids = tok:encode("naïve café")     -- Lua array of ids, 1-based; 0 is padding
--   tok:decode(ids)                          -- "naïve café"
--   tok:vocabulary_size()                    -- largest id + 1: an Embedding's input_dim
--   tok:save("vocab.json"); dnn.text.Tokenizer.load("vocab.json")
--   dnn.text.sample(logits, {temperature = 0.8, top_k = 10})  -- an id per row
--
-- A tokenizer's counts and ids are plain tables, as Keras's: tok.word_counts[token], tok.word_index[token] (every
-- token seen, num_words or not), tok.index_word[id].
local core = require "dnn.core"
local json = require "dnn.json"
local strict = require "dnn.options"

local M = {}

local raise, describe = strict.raise, strict.describe

-- ---- UTF-8 ----

-- The error for text that is not UTF-8, else text. where names the argument ("texts[3]").
local function checked_utf8(fn, text, where)
  local ok, bad = utf8.len(text)
  if not ok then raise(string.format("%s: %s is not valid UTF-8 (bad byte at position %d)", fn, where, bad)) end
  return text
end

-- Upper-case code points and their lower case, past ASCII: Latin-1, Latin Extended-A (pairs, the upper case at the
-- even or the odd code point), Greek, Cyrillic. All are two-byte UTF-8 (lead bytes 0xC3 to 0xD0), so lower() only
-- looks at those; string.lower knows ASCII alone.
local shifted = {{0xC0, 0xD6, 32}, {0xD8, 0xDE, 32}, {0x391, 0x3A1, 32}, {0x3A3, 0x3AB, 32}, {0x410, 0x42F, 32},
                 {0x400, 0x40F, 80}}
local paired = {{0x100, 0x12F, 0}, {0x132, 0x137, 0}, {0x139, 0x148, 1}, {0x14A, 0x177, 0}, {0x179, 0x17E, 1}}

local function lower_char(c)
  local cp = utf8.codepoint(c)
  for _, r in ipairs(shifted) do
    if cp >= r[1] and cp <= r[2] then return utf8.char(cp + r[3]) end
  end
  for _, r in ipairs(paired) do
    if cp >= r[1] and cp <= r[2] and cp % 2 == r[3] then return utf8.char(cp + 1) end
  end
  if cp == 0x178 then return "ÿ" end
  return c
end

local function lower(text)
  return (text:lower():gsub("[\195-\208][\128-\191]", lower_char))
end

-- ---- Tokenizer ----

-- Keras's default filters: punctuation, tab and newline (not the apostrophe: "don't" stays a word).
M.DEFAULT_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'

local Tokenizer = {}
Tokenizer.__index = Tokenizer
M.Tokenizer = Tokenizer

local tokenizer_options = {"level", "num_words", "oov_token", "lower", "filters"}

-- Word level: filters become spaces, then the text splits on whitespace. ASCII filters go through one Lua character
-- class; others (a user's "«»") through a lookup per UTF-8 character.
local function filter_rules(filters)
  local ascii, others = {}, {}
  for c in filters:gmatch(utf8.charpattern) do
    if #c == 1 then ascii[#ascii + 1] = "%" .. c else others[c] = " " end
  end
  return #ascii > 0 and "[" .. table.concat(ascii) .. "]" or nil, next(others) and others or nil
end

-- Tokenizer{level = "word" | "char", num_words, oov_token, lower = true, filters = DEFAULT_FILTERS} as Keras's:
-- ids by descending frequency (ties: first seen first), oov_token (when given) id 1, num_words keeping ids below it.
function Tokenizer.new(options)
  local fn = "Tokenizer"
  options = strict.check(fn, options, tokenizer_options)
  local level = options.level or "word"
  if level ~= "word" and level ~= "char" then raise(fn .. ": level must be 'word' or 'char', got " .. describe(level)) end
  local num_words = options.num_words
  if num_words ~= nil and (math.type(num_words) ~= "integer" or num_words < 2) then
    raise(fn .. ": num_words must be an integer >= 2 (it counts the padding id 0), got " .. describe(num_words))
  end
  local oov = options.oov_token
  if oov ~= nil and (type(oov) ~= "string" or oov == "") then
    raise(fn .. ": oov_token must be a non-empty string, got " .. describe(oov))
  end
  if options.lower ~= nil and type(options.lower) ~= "boolean" then
    raise(fn .. ": lower must be a boolean, got " .. describe(options.lower))
  end
  local filters = options.filters
  if filters ~= nil then
    if level == "char" then raise(fn .. ": filters apply to words; level 'char' keeps every character") end
    if type(filters) ~= "string" then raise(fn .. ": filters must be a string of characters, got " .. describe(filters)) end
    checked_utf8(fn, filters, "filters")
  end
  local self = setmetatable({level = level, num_words = num_words, oov_token = oov, lower = options.lower ~= false,
                             filters = level == "word" and (filters or M.DEFAULT_FILTERS) or nil,
                             word_counts = {}, word_index = {}, index_word = {}, _seen = {}}, Tokenizer)
  if self.filters then self._filter_class, self._filter_set = filter_rules(self.filters) end
  self:_build_index()
  return self
end
setmetatable(Tokenizer, {__call = function(_, options) return Tokenizer.new(options) end})

function M.is_tokenizer(v)
  return getmetatable(v) == Tokenizer
end

function Tokenizer:__tostring()
  return string.format("Tokenizer(%s level, %d tokens seen, vocabulary_size %d)", self.level, #self._seen,
    self:vocabulary_size())
end

-- The tokens of one text, in order: its UTF-8 characters, or its words.
function Tokenizer:_tokens(text)
  if self.lower then text = lower(text) end
  local pattern = utf8.charpattern
  if self.level == "word" then
    if self._filter_class then text = text:gsub(self._filter_class, " ") end
    if self._filter_set then text = text:gsub(utf8.charpattern, self._filter_set) end
    pattern = "%S+"
  end
  local out = {}
  for token in text:gmatch(pattern) do out[#out + 1] = token end
  return out
end

-- texts as a list of checked strings: one string, or a list of them.
local function text_list(fn, texts)
  if type(texts) == "string" then return {checked_utf8(fn, texts, "the text")} end
  if type(texts) ~= "table" or core.is_tensor(texts) then
    raise(fn .. ": expected a string or a list of strings, got " .. describe(texts))
  end
  for i, text in ipairs(texts) do
    if type(text) ~= "string" then
      raise(string.format("%s: texts[%d] is %s, expected a string", fn, i, describe(text)))
    end
    checked_utf8(fn, text, string.format("texts[%d]", i))
  end
  return texts
end

-- Ids from the counts: the OOV token first, then by count, ties in order of first appearance (Python's stable sort
-- in Keras). An OOV token that also occurs in the texts keeps id 1 (Keras would number it twice).
function Tokenizer:_build_index()
  local ranked = {}
  for i, token in ipairs(self._seen) do
    if token ~= self.oov_token then ranked[#ranked + 1] = {token, self.word_counts[token], i} end
  end
  table.sort(ranked, function(a, b)
    if a[2] ~= b[2] then return a[2] > b[2] end
    return a[3] < b[3]
  end)
  local index, words = {}, {}
  if self.oov_token then words[1] = self.oov_token end
  for _, r in ipairs(ranked) do words[#words + 1] = r[1] end
  for id, token in ipairs(words) do index[token] = id end
  self.word_index, self.index_word = index, words
end

-- fit(texts): counts the tokens of a string or a list of strings and renumbers; a second fit adds to the counts
-- (Keras's fit_on_texts). Returns self.
function Tokenizer:fit(texts)
  local fn = "Tokenizer:fit"
  for _, text in ipairs(text_list(fn, texts)) do
    for _, token in ipairs(self:_tokens(text)) do
      local count = self.word_counts[token]
      if not count then self._seen[#self._seen + 1] = token end
      self.word_counts[token] = (count or 0) + 1
    end
  end
  self:_build_index()
  return self
end

-- The number of ids counting padding's 0: the largest id + 1, at most num_words. An Embedding's input_dim.
function Tokenizer:vocabulary_size()
  local size = #self.index_word + 1
  if self.num_words then size = math.min(size, self.num_words) end
  return size
end

-- The tokens the ids stand for: vocabulary()[id] (id 1 the OOV token when there is one).
function Tokenizer:vocabulary()
  return table.move(self.index_word, 1, self:vocabulary_size() - 1, 1, {})
end

-- encode(text) -> a Lua array of ids. Tokens not in the vocabulary (or past num_words) become the OOV token's id 1,
-- or are dropped without an OOV token, as Keras's texts_to_sequences.
function Tokenizer:encode(text)
  local fn = "Tokenizer:encode"
  if type(text) ~= "string" then raise(fn .. ": expected a string, got " .. describe(text)) end
  checked_utf8(fn, text, "the text")
  if #self.index_word == 0 then raise(fn .. ": the tokenizer has no vocabulary yet: call :fit(texts) first") end
  local size, oov = self:vocabulary_size(), self.oov_token and 1
  local ids = {}
  for _, token in ipairs(self:_tokens(text)) do
    local id = self.word_index[token]
    if id == nil or id >= size then id = oov end
    ids[#ids + 1] = id
  end
  return ids
end

-- encode_batch(texts) -> a list of id arrays, one per text (pad them with dnn.data.pad_sequences).
function Tokenizer:encode_batch(texts)
  local out = {}
  for i, text in ipairs(text_list("Tokenizer:encode_batch", texts)) do out[i] = self:encode(text) end
  return out
end

-- decode(ids) -> the text of a Lua array or 1-d tensor of ids; 0s (padding) are skipped. Characters join with
-- nothing (so decode(encode(s)) is s, lowered), words with a space.
function Tokenizer:decode(ids)
  local fn = "Tokenizer:decode"
  if core.is_tensor(ids) then
    if ids.ndim ~= 1 then raise(fn .. ": expected one sequence of ids (a 1-d tensor), got " .. describe(ids)) end
    ids = ids:totable()
  elseif type(ids) ~= "table" then
    raise(fn .. ": expected a Lua array or a 1-d tensor of ids, got " .. describe(ids))
  end
  local size = self:vocabulary_size()
  local tokens = {}
  for i, v in ipairs(ids) do
    local id = math.tointeger(v)
    if id == nil or id < 0 or id >= size then
      raise(string.format("%s: ids[%d] is %s, expected an id in 0..%d", fn, i, describe(v), size - 1))
    end
    if id > 0 then tokens[#tokens + 1] = self.index_word[id] end
  end
  return table.concat(tokens, self.level == "char" and "" or " ")
end

-- get_config(): everything a tokenizer needs to be rebuilt, as plain values (JSON-ready): the settings and the
-- counts in order of first appearance (which breaks ties between equal counts).
function Tokenizer:get_config()
  local counts = json.array{}
  for i, token in ipairs(self._seen) do counts[i] = {token, self.word_counts[token]} end
  return {level = self.level, num_words = self.num_words, oov_token = self.oov_token, lower = self.lower,
          filters = self.level == "word" and self.filters or nil, word_counts = counts}
end

-- Tokenizer.from_config(config): the tokenizer get_config described, ids and all.
function Tokenizer.from_config(config)
  local fn = "Tokenizer.from_config"
  config = strict.check(fn, config, {"level", "num_words", "oov_token", "lower", "filters", "word_counts"})
  local self = Tokenizer.new{level = config.level, num_words = config.num_words, oov_token = config.oov_token,
                             lower = config.lower, filters = config.filters}
  for i, pair in ipairs(config.word_counts or {}) do
    local token, count = type(pair) == "table" and pair[1], type(pair) == "table" and math.tointeger(pair[2])
    if type(token) ~= "string" or not count or count < 1 or self.word_counts[token] then
      raise(string.format("%s: word_counts[%d] must be a new {token, count >= 1}, got %s", fn, i, describe(pair)))
    end
    self._seen[i], self.word_counts[token] = token, count
  end
  self:_build_index()
  return self
end

-- save(path): the config as JSON, {"class_name": "Tokenizer", "config": {...}} as Keras's tokenizer.to_json().
function Tokenizer:save(path)
  if type(path) ~= "string" then raise("Tokenizer:save: expected a path, got " .. describe(path)) end
  local f, err = io.open(path, "wb")
  if not f then raise("Tokenizer:save: " .. err) end
  f:write(json.encode{class_name = "Tokenizer", config = self:get_config()})
  f:close()
end

-- Tokenizer.load(path): the tokenizer save wrote.
function Tokenizer.load(path)
  local fn = "Tokenizer.load"
  if type(path) ~= "string" then raise(fn .. ": expected a path, got " .. describe(path)) end
  local f, err = io.open(path, "rb")
  if not f then raise(fn .. ": " .. err) end
  local text = f:read("a")
  f:close()
  local doc, jerr = json.decode(text)
  if not doc then raise(string.format("%s: %s: %s", fn, path, jerr)) end
  if type(doc) ~= "table" or doc.class_name ~= "Tokenizer" or type(doc.config) ~= "table" then
    raise(string.format("%s: %s is not a saved Tokenizer (no class_name 'Tokenizer' with a config)", fn, path))
  end
  return Tokenizer.from_config(doc.config)
end

-- ---- sampling ----

-- The rows of scores as Lua arrays, and whether it was a single row.
local function score_rows(fn, scores)
  if core.is_tensor(scores) then
    if scores.ndim ~= 1 and scores.ndim ~= 2 then
      raise(fn .. ": expected scores for one row (1-d) or a batch (2-d), got " .. describe(scores))
    end
    local t = scores:totable()
    if scores.ndim == 1 then return {t}, true end
    return t, false
  end
  if type(scores) ~= "table" or #scores == 0 then
    raise(fn .. ": expected a tensor or a Lua array of scores, got " .. describe(scores))
  end
  if type(scores[1]) == "number" then return {scores}, true end
  return scores, false
end

-- A row's log-weights (logits as given, log of probabilities), checked.
local function log_weights(fn, row, r, from_logits)
  if type(row) ~= "table" or #row == 0 then raise(string.format("%s: row %d is %s, expected scores", fn, r, describe(row))) end
  local z = {}
  for i, v in ipairs(row) do
    if type(v) ~= "number" or v ~= v or v == math.huge or (not from_logits and v < 0) then
      raise(string.format("%s: row %d, score %d is %s, expected %s", fn, r, i, describe(v),
        from_logits and "a finite logit (or -inf)" or "a probability >= 0"))
    end
    z[i] = from_logits and v or math.log(v)
  end
  return z
end

-- The index of the largest value, the first among equals; nil when all are -inf.
local function argmax(z)
  local best
  for i, v in ipairs(z) do
    if v > -math.huge and (best == nil or v > z[best]) then best = i end
  end
  return best
end

-- The k-th largest of z: scores below it drop out (all equal to it stay, as Hugging Face's top-k filter).
local function kth_largest(z, k)
  if k >= #z then return -math.huge end
  local sorted = table.move(z, 1, #z, 1, {})
  table.sort(sorted, function(a, b) return a > b end)
  return sorted[k]
end

-- One draw from softmax(z / temperature) over the top k, u uniform in [0, 1): the inverse of the CDF, in doubles.
local function draw(z, temperature, top_k, u)
  local floor = top_k and kth_largest(z, top_k) or -math.huge
  local top = z[argmax(z)] / temperature
  local w, total = {}, 0
  for i, v in ipairs(z) do
    w[i] = v >= floor and math.exp(v / temperature - top) or 0
    total = total + w[i]
  end
  local target, cum, last = u * total, 0, nil
  for i, wi in ipairs(w) do
    if wi > 0 then
      cum, last = cum + wi, i
      if cum > target then return i end
    end
  end
  return last -- u * total rounded past the sum
end

-- n uniform draws in [0, 1) as a Lua array: from dnn's stream, or as dnn.manual_seed(seed) would start it, the
-- stream's state put back afterwards.
local function uniform(n, seed)
  if seed == nil then return core.rand(n):totable() end
  local saved = core.get_rng_state()
  core.manual_seed(seed)
  local u = core.rand(n):totable()
  core.set_rng_state(saved)
  return u
end

-- sample(scores, {temperature = 1, top_k, from_logits = true, seed}) -> the id drawn: an integer for one row of
-- scores (a 1-d tensor or Lua array), a Lua array of them for a batch (2-d). Temperature 0 is the argmax; top_k
-- keeps the k highest scores. The draws follow dnn.manual_seed; with a seed they are what dnn.manual_seed(seed)
-- would give, and the global stream does not move (the same seed every step repeats the same uniform draw).
-- The sampling options' values (temperature, top_k, from_logits, seed), checked for fn (sample, generate).
function M.check_sampling_options(fn, options)
  local temperature, top_k, seed = options.temperature or 1, options.top_k, options.seed
  if type(temperature) ~= "number" or not (temperature >= 0) or temperature == math.huge then
    raise(fn .. ": temperature must be a finite number >= 0, got " .. describe(temperature))
  end
  if top_k ~= nil and (math.type(top_k) ~= "integer" or top_k < 1) then
    raise(fn .. ": top_k must be a positive integer, got " .. describe(top_k))
  end
  if options.from_logits ~= nil and type(options.from_logits) ~= "boolean" then
    raise(fn .. ": from_logits must be a boolean, got " .. describe(options.from_logits))
  end
  if seed ~= nil and math.type(seed) ~= "integer" then raise(fn .. ": seed must be an integer, got " .. describe(seed)) end
  return temperature, top_k, seed
end

function M.sample(scores, options)
  local fn = "sample"
  options = strict.check(fn, options, {"temperature", "top_k", "from_logits", "seed"})
  local temperature, top_k, seed = M.check_sampling_options(fn, options)
  local rows, single = score_rows(fn, scores)
  local zs = {}
  for r, row in ipairs(rows) do
    zs[r] = log_weights(fn, row, r, options.from_logits ~= false)
    if not argmax(zs[r]) then raise(string.format("%s: row %d has no possible id (every weight is 0)", fn, r)) end
  end
  local ids = {}
  if temperature == 0 then
    for r, z in ipairs(zs) do ids[r] = argmax(z) end
  else
    local u = uniform(#zs, seed)
    for r, z in ipairs(zs) do ids[r] = draw(z, temperature, top_k, u[r]) end
  end
  return single and ids[1] or ids
end


-- ---- CTC decoding ----

local function lse(a, b)
  if a == -math.huge then return b end
  if b == -math.huge then return a end
  if a > b then return a + math.log(1 + math.exp(b - a)) end
  return b + math.log(1 + math.exp(a - b))
end

-- The log-probabilities (log_softmax of the logits) of each example's first T_b steps, as Lua arrays, and the blank.
local function ctc_rows(fn, logits, options, extra)
  local valid = {"logit_lengths", "blank"}
  for _, k in ipairs(extra or {}) do valid[#valid + 1] = k end
  local o = strict.check(fn, options, valid)
  if not core.is_tensor(logits) or (logits.ndim ~= 2 and logits.ndim ~= 3) then
    raise(fn .. ": expected logits (batch, time, classes) or (time, classes), got " .. describe(logits))
  end
  local single = logits.ndim == 2
  if single then logits = logits:unsqueeze(1) end
  local n, t, c = logits.shape[1], logits.shape[2], logits.shape[3]
  local blank = strict.check_number(fn, "blank", o.blank == nil and 1 or o.blank, {min = 1, integer = true})
  if blank > c then raise(string.format("%s: blank must be at most %d (the classes of logits) (got %d)", fn, c, blank), 2) end
  local lengths = o.logit_lengths
  if core.is_tensor(lengths) then lengths = lengths:reshape(-1):totable() end
  if lengths ~= nil and (type(lengths) ~= "table" or #lengths ~= n) then
    raise(string.format("%s: expected logit_lengths a tensor or table of %d lengths, got %s", fn, n, describe(lengths)))
  end
  local rows = logits:detach():log_softmax(3):totable()
  for b = 1, n do
    local len = lengths and lengths[b] or t
    if type(len) ~= "number" or len % 1 ~= 0 or len < 0 or len > t then
      raise(string.format("%s: expected logit_lengths[%d] an integer in 0..%d, got %s", fn, b, t, describe(len)))
    end
    for k = t, len + 1, -1 do rows[b][k] = nil end
  end
  return rows, blank, single, o
end

-- Greedy (best path) decoding: the most likely class per step, repeats collapsed, blanks dropped.
function M.ctc_greedy_decode(logits, options)
  local rows, blank = ctc_rows("dnn.text.ctc_greedy_decode", logits, options)
  local decoded, scores = {}, {}
  for b, steps in ipairs(rows) do
    local ids, score, prev = {}, 0, nil
    for _, lp in ipairs(steps) do
      local best = 1
      for k = 2, #lp do if lp[k] > lp[best] then best = k end end
      score = score + lp[best]
      if best ~= blank and best ~= prev then ids[#ids + 1] = best end
      prev = best
    end
    decoded[b], scores[b] = ids, score
  end
  return decoded, scores
end

-- Prefix beam search (Hannun et al. 2014, without a language model), in log space: each prefix keeps the
-- probability of ending in a blank and in its last label; the beam_width most likely prefixes go on. A label more
-- than threshold below the step's most likely class (in log-probability) extends no prefix. Prefixes are
-- nodes of a trie (a prefix and its extension by class k: node.children[k]), so equal prefixes reached from
-- different beams merge without building keys; ties are broken by the order nodes were made, the same every run.
function M.ctc_beam_search_decode(logits, options)
  local fn = "dnn.text.ctc_beam_search_decode"
  local rows, blank, _, o = ctc_rows(fn, logits, options, {"beam_width", "threshold"})
  local width = strict.check_number(fn, "beam_width", o.beam_width == nil and 10 or o.beam_width,
    {min = 1, integer = true})
  local threshold = o.threshold == nil and 20 or o.threshold
  if threshold ~= math.huge then strict.check_number(fn, "threshold", threshold, {min = 0}) end
  local ninf = -math.huge
  local decoded, scores = {}, {}
  for b, steps in ipairs(rows) do
    local made = 1
    local root = {children = {}, serial = 1, depth = 0}
    local beams = {{node = root, pb = 0, pnb = ninf}}
    for t, lp in ipairs(steps) do
      local cands = {}
      local cutoff = -math.huge
      for k = 1, #lp do cutoff = math.max(cutoff, lp[k] - threshold) end
      local function touch(node)
        if node.t ~= t then
          node.t, node.pb, node.pnb = t, ninf, ninf
          cands[#cands + 1] = node
        end
        return node
      end
      for _, beam in ipairs(beams) do
        local node, pb, pnb = beam.node, beam.pb, beam.pnb
        local total = lse(pb, pnb)
        local last = node.id
        for k = 1, #lp do
          local p = lp[k]
          if k == blank then
            local e = touch(node)
            e.pb = lse(e.pb, total + p)
          elseif p >= cutoff then
            local child = node.children[k]
            if not child then
              made = made + 1
              child = {children = {}, parent = node, id = k, serial = made, depth = node.depth + 1}
              node.children[k] = child
            end
            local e = touch(child)
            if k == last then -- a repeat extends only after a blank; without one it stays the same prefix
              e.pnb = lse(e.pnb, pb + p)
              local same = touch(node)
              same.pnb = lse(same.pnb, pnb + p)
            else
              e.pnb = lse(e.pnb, total + p)
            end
          end
        end
      end
      for _, e in ipairs(cands) do e.total = lse(e.pb, e.pnb) end
      table.sort(cands, function(x, y)
        if x.total ~= y.total then return x.total > y.total end
        return x.serial < y.serial
      end)
      beams = {}
      for i = 1, math.min(width, #cands) do beams[i] = {node = cands[i], pb = cands[i].pb, pnb = cands[i].pnb} end
    end
    local best = beams[1]
    local ids, node = {}, best.node
    while node.parent do
      ids[node.depth] = node.id
      node = node.parent
    end
    decoded[b], scores[b] = ids, lse(best.pb, best.pnb)
  end
  return decoded, scores
end

-- ---- reference ----

--- @module dnn.text Tokenizing text and sampling tokens
-- Keras's Tokenizer (character or word level, UTF-8) and `sample` for generation.
-- Ids are 1-based; 0 is padding.

--- dnn.text.DEFAULT_FILTERS
-- Keras's default filters for word level: punctuation, tab and newline (not the apostrophe).
-- @example local tok = dnn.text.Tokenizer{filters = dnn.text.DEFAULT_FILTERS .. "«»"}

--- dnn.text.Tokenizer([options])
-- Keras's Tokenizer: ids by descending frequency (ties: first seen first),
-- the OOV token (when given) id 1. Counts and ids are plain tables:
-- `tok.word_counts[token]`, `tok.word_index[token]`, `tok.index_word[id]`.
-- @option level="word" `"word"` or `"char"`
-- @option num_words=nil keep only ids below this
-- @option oov_token=nil a token for unknown ones (id 1)
-- @option lower=true lower-case the text first (UTF-8 aware)
-- @option filters=DEFAULT_FILTERS characters turned into spaces at word level
-- @example local tok = dnn.text.Tokenizer{level = "char"}:fit(texts)

--- dnn.text.Tokenizer:fit(texts)
-- Counts the tokens of a string or a list of strings and renumbers (a second fit adds). Returns the tokenizer.
-- @example tok:fit{"the cat", "the dog"}

--- dnn.text.Tokenizer:encode(text)
-- A Lua array of ids; unknown tokens become the OOV id, or are dropped without one.
-- @example local ids = tok:encode("the cat")

--- dnn.text.Tokenizer:encode_batch(texts)
-- A list of id arrays, one per text (pad them with `dnn.data.pad_sequences`).
-- @example local seqs = tok:encode_batch{"a b", "c"}

--- dnn.text.Tokenizer:decode(ids)
-- The text of a Lua array or 1-d tensor of ids (0s skipped); characters join with nothing, words with a space.
-- @example print(tok:decode(ids))

--- dnn.text.Tokenizer:vocabulary_size()
-- The largest id + 1 (padding's 0 counted), at most num_words: an Embedding's `input_dim`.
-- @example local n = tok:vocabulary_size()

--- dnn.text.Tokenizer:vocabulary()
-- The tokens by id: `vocabulary()[id]`.
-- @example print(tok:vocabulary()[2])

--- dnn.text.Tokenizer:get_config()
-- Everything needed to rebuild the tokenizer, as plain (JSON-ready) values.
-- @example local cfg = tok:get_config()

--- dnn.text.Tokenizer.from_config(config)
-- The tokenizer a `get_config` table describes, ids and all.
-- @example local tok2 = dnn.text.Tokenizer.from_config(cfg)

--- dnn.text.Tokenizer:save(path)
-- Writes the config as JSON (Keras's `to_json` layout).
-- @example tok:save("vocab.json")

--- dnn.text.Tokenizer.load(path)
-- The tokenizer `save` wrote.
-- @example local tok = dnn.text.Tokenizer.load("vocab.json")

--- dnn.text.ctc_greedy_decode(logits[, options])
-- Best-path decoding of CTC outputs `(batch, time, classes)` (or one `(time, classes)`): the most likely class at
-- each step, repeats collapsed, blanks dropped. Returns a Lua array of id arrays (one per example) and an array of
-- scores: the log-probability of the best path. Logits or log-probabilities (a log_softmax is taken).
-- @option logit_lengths=nil a tensor or table of the steps each example uses; default: all
-- @option blank=1 the blank's class id
-- @example local ids, scores = dnn.text.ctc_greedy_decode(model(images))

--- dnn.text.ctc_beam_search_decode(logits[, options])
-- Prefix beam search over CTC outputs, in log space (no language model): sums the probabilities of every path of
-- a prefix, so it can find a labelling that no single best path gives. Returns the best labelling per example
-- (Lua arrays of ids) and its log-probability.
-- @option beam_width=10 the prefixes kept at each step
-- @option threshold=20 labels whose log-probability at a step is this far below the step's best extend no prefix there (`math.huge`: none skipped)
-- @option logit_lengths=nil as in ctc_greedy_decode
-- @option blank=1 the blank's class id
-- @example local ids = dnn.text.ctc_beam_search_decode(logits, {beam_width = 20})

--- dnn.text.sample(scores[, options])
-- Draws a token id from a row of scores (an integer), or one per row of a
-- batch (a Lua array). Temperature 0 is the argmax.
-- @option temperature=1 divides the logits
-- @option top_k=nil keep the k highest scores
-- @option from_logits=true false: the scores are probabilities
-- @option seed=nil draw as `dnn.manual_seed(seed)` would, without moving the global stream
-- @example local id = dnn.text.sample(logits, {temperature = 0.8, top_k = 10})

return M
