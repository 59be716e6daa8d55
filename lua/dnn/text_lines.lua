-- dnn.datasets.text_lines: synthetic OCR lines, words from a word list
-- rendered with a real TrueType font (core/src/font.c, stb_truetype), then
-- lightly distorted (rotation and shear through dnn.image.affine, contrast,
-- noise, size and position). Every draw comes from dnn's generator seeded
-- with the seed, whose state is restored afterwards: the same seed gives the
-- same lines, and the caller's random stream does not move.
local dnn = require "dnn"
local core = require "dnn.core"
local strict = require "dnn.options"

local CHUNK = 1024 -- lines drawn at a time (16 MB per tensor at 32 x 128)

local DEFAULT_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
local DEFAULT_WORDS = "/usr/share/dict/words"
-- The characters of the labels: id k + 1 is ALPHABET's k-th character; id 1
-- is left for the CTC blank and 0 pads.
local ALPHABET = " abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
local ID = {}
for k = 1, #ALPHABET do ID[ALPHABET:sub(k, k)] = k + 1 end

local fonts, word_lists = {}, {}

local function load_font(fn, path)
  if not fonts[path] then
    local ok, f = pcall(core._font.load, path)
    if not ok then
      strict.raise(string.format("%s: %s (the default font is Debian's fonts-dejavu-core)", fn,
        tostring(f):gsub("^[^:]*:%d+: ", "")))
    end
    fonts[path] = f
  end
  return fonts[path]
end

-- The words of a list (a Lua array) or file (one a line) made only of the alphabet's letters, 1 to max_length long.
local function usable_words(fn, words, max_length)
  local list = words
  if type(words) == "string" or words == nil then
    local path = words or DEFAULT_WORDS
    if not word_lists[path] then
      local f = io.open(path, "r")
      if not f then
        strict.raise(string.format("%s: cannot read the word list %s (%s)", fn, path,
          words and "a file of one word a line" or "apt-get install wamerican, or pass words = {...}"))
      end
      local all = {}
      for line in f:lines() do all[#all + 1] = line end
      f:close()
      word_lists[path] = all
    end
    list = word_lists[path]
  elseif type(words) ~= "table" then
    strict.raise(string.format("%s: words must be a Lua array of words or a file path (got %s)", fn,
      strict.describe(words)))
  end
  local out = {}
  for _, w in ipairs(list) do
    if type(w) == "string" and #w >= 1 and #w <= max_length and w:find("^[a-zA-Z]+$") then out[#out + 1] = w end
  end
  if #out == 0 then
    strict.raise(string.format("%s: no usable word in the list (letters a-z, A-Z only, at most %d of them)", fn,
      max_length))
  end
  return out
end

-- The text of a Lua array or 1-d tensor of ids (0s and the blank 1 skipped).
local function to_text(ids)
  if core.is_tensor(ids) then ids = ids:reshape(-1):totable() end
  local out = {}
  for _, id in ipairs(ids) do
    if id >= 2 and id <= #ALPHABET + 1 then out[#out + 1] = ALPHABET:sub(id - 1, id - 1) end
  end
  return table.concat(out)
end

-- ---- reference ----

--- dnn.datasets.text_lines(options)
-- Synthetic text lines for OCR: 1 to `max_words` random words (letters only) rendered with a TrueType font through
-- stb_truetype, at a random size (55-85 % of the height, shrunk to fit) and position, rotated (up to 3 degrees) and
-- sheared (up to 0.15), dark on a lighter background with Gaussian noise. Returns `{x (n, height, width, 1) in
-- [0, 1], texts, y (n, longest) ids padded with 0, lengths (n), alphabet, num_classes, to_text(ids)}`. Id `k + 1`
-- is the k-th character of `alphabet` (a space, a-z, A-Z); id 1 is left for the CTC blank, so `num_classes` is
-- `#alphabet + 1` and `y` feeds `dnn.losses.ctc` as it is. Deterministic for a seed; the global generator is left
-- where it was. The default font is Debian's fonts-dejavu-core, the default words Debian's wamerican
-- (/usr/share/dict/words). stb_truetype is not safe on hostile font files: the file's size, table directory and
-- the offsets stb reads unchecked are checked, but glyph outlines are not: give only fonts from trusted paths
-- (system packages).
-- @option n=required the number of lines
-- @option seed=1 the seed of every draw
-- @option height=32 image height
-- @option width=128 image width
-- @option words="/usr/share/dict/words" a Lua array of words, or a file of one word a line (words with other characters than letters are skipped)
-- @option max_words=2 the most words a line holds
-- @option max_length=12 the most characters a line holds (words that would pass it are left out)
-- @option noise=0.05 the largest standard deviation of the noise
-- @option font="/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf" a TrueType/OpenType file from a trusted path
-- @example local train = dnn.datasets.text_lines{n = 20000, seed = 1}

local valid = {"n", "seed", "height", "width", "words", "font", "max_words", "max_length", "noise"}

return function(options)
  local fn = "dnn.datasets.text_lines"
  local o = strict.check(fn, options, valid)
  local n = strict.check_number(fn, "n", o.n, {min = 1, integer = true})
  local seed = strict.check_number(fn, "seed", o.seed == nil and 1 or o.seed, {min = 0, integer = true})
  local H = strict.check_number(fn, "height", o.height or 32, {min = 8, max = 1024, integer = true})
  local W = strict.check_number(fn, "width", o.width or 128, {min = 8, max = 8192, integer = true})
  local max_words = strict.check_number(fn, "max_words", o.max_words or 2, {min = 1, integer = true})
  local max_length = strict.check_number(fn, "max_length", o.max_length or 12, {min = 1, integer = true})
  local noise = strict.check_number(fn, "noise", o.noise or 0.05, {min = 0, max = 1})
  if o.font ~= nil and type(o.font) ~= "string" then
    strict.raise(string.format("%s: font must be a path (got %s)", fn, strict.describe(o.font)))
  end
  local font = load_font(fn, o.font or DEFAULT_FONT)
  local words = usable_words(fn, o.words, max_length)

  local saved = dnn.get_rng_state()
  dnn.manual_seed(seed)
  local ok, result = pcall(function()
    local u = dnn.rand(n, 8 + 2 * max_words):totable()
    local texts, lines = {}, {}
    for i = 1, n do
      local r = u[i]
      -- words: 1..max_words of them, kept while the line stays within max_length characters
      local count = 1 + math.floor(r[1] * max_words)
      local parts, length = {}, 0
      for k = 1, count do
        local w = words[1 + math.floor(r[8 + k] * #words)]
        local extra = #parts > 0 and #w + 1 or #w
        if length + extra <= max_length then
          parts[#parts + 1] = w
          length = length + extra
        end
      end
      local text = table.concat(parts, " ")
      texts[i] = text
      -- size: the font's full height 55-85 % of the line's, shrunk to fit the width
      local px = H * (0.55 + 0.3 * r[2])
      local width, ascent, descent = font:measure(text, px)
      if width > W - 4 then
        px = px * (W - 4) / width
        width, ascent, descent = font:measure(text, px)
      end
      local left = 2 + r[3] * math.max(W - 4 - width, 0)
      local top = r[4] * math.max(H - (ascent - descent), 0)
      -- rotation up to 3 degrees and shear up to 0.15 about the center; output (x, y) -> input point
      local a = math.rad((r[5] * 2 - 1) * 3)
      local sh = (r[6] * 2 - 1) * 0.15
      local c, s = math.cos(a), math.sin(a)
      local m11, m12, m21, m22 = c, -s + sh * c, s, c + sh * s
      local cx, cy = (W - 1) / 2, (H - 1) / 2
      lines[i] = {px = px, left = left, baseline = top + ascent,
                  matrix = {m11, m12, cx - m11 * cx - m12 * cy, m21, m22, cy - m21 * cx - m22 * cy},
                  -- dark text on a light background, contrast and noise varying per line
                  bg = 0.65 + 0.35 * r[7], fg = 0.35 * r[8], sigma = noise * r[2]}
    end
    -- The images, CHUNK lines at a time: each step of the drawing makes a tensor of the lines' size, and for the
    -- whole set at once (20,000 lines: 330 MB each) they peaked at 1.7 GB. The noise is drawn in the same order.
    local x = dnn.zeros(n, H, W, 1)
    for first = 1, n, CHUNK do
      local count = math.min(CHUNK, n - first + 1)
      local coverage = dnn.zeros(count, H, W, 1)
      local matrices, bg, fg, sigma = {}, {}, {}, {}
      for k = 1, count do
        local line = lines[first + k - 1]
        coverage:select(1, k):copy(font:render(texts[first + k - 1], line.px, line.left, line.baseline, H, W)
          :unsqueeze(3))
        matrices[k], bg[k], fg[k], sigma[k] = line.matrix, line.bg, line.fg, line.sigma
      end
      coverage = dnn.image.affine(coverage, dnn.tensor(matrices), {fill_value = 0})
      local bgt, fgt = dnn.tensor(bg):reshape(count, 1, 1, 1), dnn.tensor(fg):reshape(count, 1, 1, 1)
      local noisy = bgt - coverage * (bgt - fgt) + dnn.randn(count, H, W, 1) * dnn.tensor(sigma):reshape(count, 1, 1, 1)
      x:narrow(1, first, count):copy(noisy:clamp(0, 1))
    end
    local longest = 1
    for i = 1, n do longest = math.max(longest, #texts[i]) end
    local ids, lengths = {}, {}
    for i = 1, n do
      local row = {}
      for k = 1, longest do row[k] = k <= #texts[i] and ID[texts[i]:sub(k, k)] or 0 end
      ids[i], lengths[i] = row, #texts[i]
    end
    return {x = x, texts = texts, y = dnn.tensor(ids), lengths = dnn.tensor(lengths), alphabet = ALPHABET,
            num_classes = #ALPHABET + 1, to_text = to_text}
  end)
  dnn.set_rng_state(saved)
  if not ok then error(result, 0) end
  return result
end
