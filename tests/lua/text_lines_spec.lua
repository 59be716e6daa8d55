-- dnn.datasets.text_lines and the TrueType rendering under it (font.h).
local dnn = require "dnn"
local H = require "helpers"

local FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
local WORDS = {"hello", "World", "quick", "brown", "fox", "jumps", "lazy", "dog"}

local function have(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

describe("dnn.datasets.text_lines", function()
  if not have(FONT) then
    it("needs fonts-dejavu-core", function() pending("fonts-dejavu-core is not installed") end)
    return
  end

  it("returns images, texts and padded ids over the alphabet", function()
    local d = dnn.datasets.text_lines{n = 12, seed = 3, words = WORDS, height = 24, width = 100}
    H.assert_shape(d.x, {12, 24, 100, 1})
    assert.is_true(d.x:min():item() >= 0 and d.x:max():item() <= 1)
    assert.equal(#d.alphabet + 1, d.num_classes)
    local longest = 0
    for i = 1, 12 do
      local text = d.texts[i]
      longest = math.max(longest, #text)
      assert.equal(#text, d.lengths[i]:item())
      assert.equal(text, d.to_text(d.y[i]))
      -- ids: 1 + the position in the alphabet; 0 after the text
      for k = 1, d.y.shape[2] do
        local id = d.y[i][k]:item()
        if k <= #text then
          assert.equal(d.alphabet:find(text:sub(k, k), 1, true) + 1, id)
        else
          assert.equal(0, id)
        end
      end
      -- every line is made of the words given
      for w in text:gmatch("%S+") do
        local known = false
        for _, v in ipairs(WORDS) do known = known or v == w end
        assert(known, w)
      end
      -- dark text on a lighter background: the darkest pixels are well below the median
      local sorted = d.x[i]:reshape(-1):totable()
      table.sort(sorted)
      assert(sorted[10] < sorted[1200] - 0.2, "no text drawn in line " .. i)
    end
    assert.equal(longest, d.y.shape[2])
    -- the ids feed the CTC loss as they are
    local loss = dnn.losses.ctc(d.y, dnn.randn(12, 25, d.num_classes), {label_lengths = d.lengths})
    assert.is_true(loss:item() > 0 and loss:item() < math.huge)
  end)

  it("is deterministic for a seed and leaves the global generator alone", function()
    dnn.manual_seed(5)
    local before = dnn.rand(3):totable()
    dnn.manual_seed(5)
    local a = dnn.datasets.text_lines{n = 6, seed = 7, words = WORDS}
    local after = dnn.rand(3):totable()
    assert.same(before, after)
    local b = dnn.datasets.text_lines{n = 6, seed = 7, words = WORDS}
    local c = dnn.datasets.text_lines{n = 6, seed = 8, words = WORDS}
    assert.same(a.texts, b.texts)
    assert.equal(0, (a.x - b.x):abs():max():item())
    assert.is_true((a.x - c.x):abs():max():item() > 0.1)
  end)

  it("reads the default word list (wamerican)", function()
    if not have("/usr/share/dict/words") then return pending("wamerican is not installed") end
    local d = dnn.datasets.text_lines{n = 20, seed = 1}
    for i = 1, 20 do
      assert.is_true(#d.texts[i] >= 1 and #d.texts[i] <= 12)
      assert.truthy(d.texts[i]:find("^[a-zA-Z ]+$"))
    end
  end)

  it("refuses bad options, naming the function", function()
    local f = dnn.datasets.text_lines
    H.assert_error({"dnn.datasets.text_lines", "n must be"}, f, {seed = 1, words = WORDS})
    H.assert_error({"dnn.datasets.text_lines", "height must be"}, f, {n = 1, height = 4, words = WORDS})
    H.assert_error({"dnn.datasets.text_lines", "unknown option 'widht'"}, f, {n = 1, widht = 4, words = WORDS})
    H.assert_error({"dnn.datasets.text_lines", "no usable word"}, f, {n = 1, words = {"a1", "b-c"}})
    H.assert_error({"dnn.datasets.text_lines", "cannot read the word list"}, f, {n = 1, words = "/nonexistent"})
    H.assert_error({"dnn.datasets.text_lines", "cannot open font"}, f, {n = 1, words = WORDS, font = "/nonexistent"})
  end)
end)

describe("TrueType rendering", function()
  if not have(FONT) then
    it("needs fonts-dejavu-core", function() pending("fonts-dejavu-core is not installed") end)
    return
  end
  local font = require("dnn.core")._font

  it("renders and measures text", function()
    local f = font.load(FONT)
    local w, ascent, descent = f:measure("Hello", 20)
    assert.is_true(w > 30 and w < 80 and ascent > 10 and descent < 0)
    local img = f:render("Hello", 20, 5, 20, 28, 90)
    H.assert_shape(img, {28, 90})
    assert.is_true(img:max():item() > 0.9 and img:min():item() == 0)
    -- nothing left of the pen or right of its advance
    assert.equal(0, img:narrow(2, 1, 4):max():item())
    assert.equal(0, img:narrow(2, math.ceil(5 + w) + 2, 90 - math.ceil(5 + w) - 1):max():item())
    -- twice the text is twice as wide, kerning aside
    local w2 = f:measure("HelloHello", 20)
    assert.is_true(math.abs(w2 - 2 * w) < 1.5)
    H.assert_error({"expected a pixel height"}, f.render, f, "x", 0, 0, 0, 8, 8)
  end)

  it("refuses files that are not fonts, and damaged ones", function()
    local dir = os.tmpname()
    local function write(bytes)
      local fh = assert(io.open(dir, "wb"))
      fh:write(bytes)
      fh:close()
      return dir
    end
    local real = assert(H.read_file(FONT))
    H.assert_error({"expected a font file of 12 bytes"}, font.load, write("abc"))
    H.assert_error({"is not a TrueType"}, font.load, write(string.rep("\0", 64)))
    -- truncated: tables past the end of the file
    H.assert_error({"is not a TrueType"}, font.load, write(real:sub(1, 2000)))
    -- a table's offset moved past the end
    local broken = real:sub(1, 12 + 8) .. "\127\255\255\255" .. real:sub(12 + 13)
    H.assert_error({"is not a TrueType"}, font.load, write(broken))
    -- a table count beyond the directory
    H.assert_error({"is not a TrueType"}, font.load, write(real:sub(1, 4) .. "\255\255" .. real:sub(7, 400)))
    -- inside the tables stb reads unchecked: a glyph offset (loca) past glyf, a cmap encoding record past the cmap
    local n = string.unpack(">I2", real, 5)
    local tables = {}
    for i = 0, n - 1 do
      local tag, _, at, len = string.unpack(">c4I4I4I4", real, 13 + 16 * i)
      tables[tag] = {at = at, len = len}
    end
    local function patched(at, bytes) return real:sub(1, at) .. bytes .. real:sub(at + #bytes + 1) end
    local head = tables.head.at
    local long_loca = string.unpack(">I2", real, head + 50 + 1) == 1
    local loca = tables.loca.at + (long_loca and 4 or 2) * 40 -- glyph 40's end
    H.assert_error({"is not a TrueType"}, font.load, write(patched(loca, long_loca and "\127\255\255\255" or "\255\255")))
    H.assert_error({"is not a TrueType"}, font.load, write(patched(tables.cmap.at + 4 + 4, "\0\255\255\0")))
    -- and the unpatched bytes load (the patching itself is right)
    assert.truthy(font.load(write(patched(0, real:sub(1, 4)))))
    os.remove(dir)
  end)
end)
