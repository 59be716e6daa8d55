-- dnn.image: files made by another tool (PIL: committed fixtures, and more
-- made at test time when Debian's python3-pil is there), round trips,
-- malformed files, and the ops and grids from Lua.
local dnn = require "dnn"
local H = require "helpers"

local source = os.getenv("DNN_SOURCE_DIR") or "../.."
local fixtures = source .. "/tests/fixtures/"

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p '" .. dir .. "'"))

local function write(name, bytes)
  local path = dir .. "/" .. name
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
  return path
end

local function read(path)
  return assert(H.read_file(path), "cannot read " .. path)
end

-- The fixtures' picture (see tests/fixtures/make_fixtures.py), 0..255.
local function pixel(x, y) return {(32 * x + 3 * y) % 256, (40 * y + x) % 256, (7 * x * y) % 256} end

local function expected_rgb()
  local rows = {}
  for y = 0, 5 do
    local row = {}
    for x = 0, 7 do row[x + 1] = pixel(x, y) end
    rows[y + 1] = row
  end
  return rows
end

local function max_abs_diff(a, b) return (a - b):abs():max():item() end

-- Debian's PIL, for files made at test time; nil when absent.
local function have_pil()
  local ok = os.execute("/usr/bin/python3 -c 'import PIL' 2>/dev/null")
  return ok == true or ok == 0
end

describe("dnn.image.load", function()
  it("decodes PIL's PNG, JPEG, BMP, TGA and PPM files of one picture", function()
    local want = dnn.tensor(expected_rgb())
    for _, f in ipairs {"pil_rgb.png", "pil_rgb.bmp", "pil_rgb.tga", "pil_rgb.ppm"} do
      local img = dnn.image.load(fixtures .. f, {uint8 = true})
      H.assert_shape(img, {6, 8, 3})
      assert.are.equal(0, max_abs_diff(img, want), f)
    end
    -- JPEG at quality 100, 4:4:4: within a few levels of the source.
    local jpg = dnn.image.load(fixtures .. "pil_rgb.jpg", {uint8 = true})
    H.assert_shape(jpg, {6, 8, 3})
    assert.is_true(max_abs_diff(jpg, want) <= 8)
    assert.is_true((jpg - want):abs():mean():item() <= 2)
    -- [0, 1] by default
    local png = dnn.image.load(fixtures .. "pil_rgb.png")
    H.assert_close(png, want / 255, 1e-6)
  end)

  it("expands gray, gray+alpha, RGBA, 16-bit, palette PNGs and GIF's first frame", function()
    local gray = dnn.image.load(fixtures .. "pil_gray.png", {uint8 = true})
    H.assert_shape(gray, {6, 8, 1})
    assert.are.equal(32 * 3 + 3 * 2, gray[3][4][1]:item()) -- x = 3, y = 2
    local la = dnn.image.load(fixtures .. "pil_gray_alpha.png", {uint8 = true})
    H.assert_shape(la, {6, 8, 2})
    assert.are.same({32 * 5 + 3, 255 - 100}, la[2][6]:totable())
    local rgba = dnn.image.load(fixtures .. "pil_rgba.png", {uint8 = true})
    H.assert_shape(rgba, {6, 8, 4})
    assert.are.same({32 * 7 + 3 * 5, (40 * 5 + 7) % 256, (7 * 7 * 5) % 256, 255 - 140}, rgba[6][8]:totable())
    -- channels = 3 drops the alpha; channels = 4 adds an opaque one to RGB
    assert.are.same({32 * 7 + 15, (40 * 5 + 7) % 256, (7 * 7 * 5) % 256},
      dnn.image.load(fixtures .. "pil_rgba.png", {channels = 3, uint8 = true})[6][8]:totable())
    assert.are.same({0, 0, 0, 1}, dnn.image.load(fixtures .. "pil_rgb.png", {channels = 4})[1][1]:totable())
    -- 16-bit: R * 257 + y scaled by 1/65535
    local g16 = dnn.image.load(fixtures .. "pil_gray16.png")
    H.assert_shape(g16, {6, 8, 1})
    H.assert_close(g16[5][3][1]:item(), ((32 * 2 + 3 * 4) * 257 + 4) / 65535, 1e-6)
    -- palette: (x + y) % 4 into red, green, blue, white
    local colors = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {1, 1, 1}}
    local pal = dnn.image.load(fixtures .. "pil_palette.png")
    H.assert_shape(pal, {6, 8, 3})
    assert.are.same(colors[(2 + 1) % 4 + 1], pal[2][3]:totable())
    -- the GIF's first frame (its second is all white)
    local gif = dnn.image.load(fixtures .. "pil_palette.gif", {channels = 3})
    H.assert_shape(gif, {6, 8, 3})
    assert.are.same(colors[(4 + 2) % 4 + 1], gif[3][5]:totable())
    assert.are.same(colors[1], gif[1][1]:totable())
    -- RGB as gray: PIL's luma
    local g = dnn.image.load(fixtures .. "pil_rgb.png", {channels = 1, uint8 = true})
    local p = pixel(3, 2)
    H.assert_close(g[3][4][1]:item(), 0.299 * p[1] + 0.587 * p[2] + 0.114 * p[3], 1e-5)
  end)

  it("reads HDR (linear values as stored) and PGM files written by hand", function()
    -- Radiance RGBE: mantissas 128, 64, 32 with exponent 129 are 1, 0.5, 0.25
    local hdr = write("two.hdr", "#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 1 +X 2\n" ..
      string.char(128, 64, 32, 129, 128, 128, 128, 130))
    local img = dnn.image.load(hdr)
    H.assert_shape(img, {1, 2, 3})
    H.assert_close(img, {{{1, 0.5, 0.25}, {2, 2, 2}}}, 1e-6)
    local pgm = write("gray.pgm", "P5\n2 2\n255\n" .. string.char(0, 51, 204, 255))
    H.assert_close(dnn.image.load(pgm, {uint8 = true}):reshape(4), {0, 51, 204, 255}, 0)
    -- a PGM declaring more pixels than it holds
    H.assert_error({"short.pgm", "bytes can hold"}, dnn.image.load, write("short.pgm", "P5\n2000 2000\n255\n\0\0"))
  end)

  it("agrees with PIL's own decoding of files PIL makes now", function()
    if not have_pil() then
      print("image_spec: /usr/bin/python3 with PIL not found: skipping the files made at test time")
      return
    end
    local script = write("make.py", [[
import random, sys
from PIL import Image
random.seed(7)
d = sys.argv[1]
im = Image.new("RGB", (37, 23))
im.putdata([(random.randrange(256), (x * 7) % 256, (y * 11) % 256) for y in range(23) for x in range(37)])
im.save(d + "/noise.png")
im.save(d + "/noise.jpg", quality=90)
im.save(d + "/noise_q50.jpg", quality=50)
im.save(d + "/noise_named.png", format="JPEG", quality=90)
for name in ("noise.png", "noise.jpg", "noise_q50.jpg"):
    back = Image.open(d + "/" + name).convert("RGB")
    open(d + "/" + name + ".raw", "wb").write(back.tobytes())
]])
    assert.is_true(os.execute("/usr/bin/python3 '" .. script .. "' '" .. dir .. "'") == true)
    local function raw_tensor(name)
      local bytes = read(dir .. "/" .. name .. ".raw")
      local t = {}
      for i = 1, #bytes do t[i] = bytes:byte(i) end
      return dnn.tensor(t):reshape(23, 37, 3)
    end
    local png = dnn.image.load(dir .. "/noise.png", {uint8 = true})
    assert.are.equal(0, max_abs_diff(png, raw_tensor("noise.png")))
    for _, name in ipairs {"noise.jpg", "noise_q50.jpg"} do
      local ours, theirs = dnn.image.load(dir .. "/" .. name, {uint8 = true}), raw_tensor(name)
      H.assert_shape(ours, {23, 37, 3})
      -- stb_image and libjpeg differ in IDCT rounding and chroma upsampling
      assert.is_true((ours - theirs):abs():mean():item() < 2.5, name)
      assert.is_true(max_abs_diff(ours, theirs) <= 40, name)
    end
    -- a JPEG named .png loads by its content
    local named = dnn.image.load(dir .. "/noise_named.png")
    H.assert_shape(named, {23, 37, 3})
  end)

  it("refuses the hostile files of issue 21 cleanly (no out-of-bounds access, no abort)", function()
    -- a JPEG DHT segment declaring more than 256 codes (stb_image wrote past its table)
    H.assert_error({"dnn.image.load", "dht.jpg", "corrupt JPEG"}, dnn.image.load,
      write("dht.jpg", string.char(0xff, 0xd8, 0xff, 0xc4, 0x00, 0xb5, 0x11, 0xb8, 0xc2)))
    -- a PNM maximum value past INT_MAX (stb_image's integer reader overflowed)
    H.assert_error({"dnn.image.load", "big.ppm", "corrupt PNM", "maximum value in 1..65535"}, dnn.image.load,
      write("big.ppm", "P6\n1 1\n99999999999\n"))
    -- found by tests/fuzz: an HDR run of length 0 (stb_image looped forever), a PIC that fails to decode
    -- (stb_image converted its NULL pixels)
    H.assert_error({"zero.hdr", "corrupt HDR"}, dnn.image.load,
      write("zero.hdr", "#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 1 +X 8\n\2\2\0\8\0"))
    H.assert_error({"corrupt PIC"}, dnn.image.load,
      fixtures .. "../fuzz/corpus/image_pic/failed_decode_null_convert.pic")
  end)

  it("refuses corrupt, truncated, misnamed and oversized files with the path in the message", function()
    local good = read(fixtures .. "pil_rgb.png")
    H.assert_error({"dnn.image.load", "truncated.png", "corrupt PNG"}, dnn.image.load,
      write("truncated.png", good:sub(1, #good - 30)))
    H.assert_error({"text.png", "not a PNG, JPEG", "starts with 68 65 6c 6c 6f"}, dnn.image.load,
      write("text.png", "hello world, no image here"))
    local jpg = read(fixtures .. "pil_rgb.jpg")
    H.assert_error({"bad.jpg", "corrupt JPEG"}, dnn.image.load, write("bad.jpg", jpg:sub(1, 40) .. ("\0"):rep(9)))
    H.assert_error({"cut.gif", "GIF"}, dnn.image.load, write("cut.gif", read(fixtures .. "pil_palette.gif"):sub(1, 20)))
    -- an IHDR declaring 100000 x 100000, with a valid CRC (libpng checks it)
    local function be32(n) return string.char(n >> 24 & 255, n >> 16 & 255, n >> 8 & 255, n & 255) end
    local function crc32(s)
      local c = 0xffffffff
      for i = 1, #s do
        c = c ~ s:byte(i)
        for _ = 1, 8 do c = (c & 1 == 1) and (0xedb88320 ~ (c >> 1)) or (c >> 1) end
      end
      return c ~ 0xffffffff
    end
    local ihdr = "IHDR" .. be32(100000) .. be32(100000) .. string.char(8, 2, 0, 0, 0)
    local huge = good:sub(1, 8) .. be32(13) .. ihdr .. be32(crc32(ihdr)) .. be32(0) .. "IDAT" .. be32(crc32("IDAT"))
    H.assert_error({"huge.png", "100000x100000", "more than"}, dnn.image.load, write("huge.png", huge))
    H.assert_error({"nowhere.png", "cannot open"}, dnn.image.load, dir .. "/nowhere.png")
    H.assert_error({"channels = 1, 3 or 4"}, dnn.image.load, fixtures .. "pil_rgb.png", {channels = 2})
    H.assert_error({"path"}, dnn.image.load, 42)
    -- the process is fine afterwards
    H.assert_shape(dnn.image.load(fixtures .. "pil_rgb.png"), {6, 8, 3})
  end)
end)

describe("dnn.image.save", function()
  it("round-trips every 8-bit level for gray, RGB and RGBA, and 2-d as gray", function()
    for _, c in ipairs {1, 3, 4} do
      local v = {}
      for i = 1, 16 * 16 * c do v[i] = (i * 37) % 256 / 255 end
      local t = dnn.tensor(v):reshape(16, 16, c)
      local path = dir .. "/rt" .. c .. ".png"
      dnn.image.save(t, path)
      local back = dnn.image.load(path)
      H.assert_shape(back, {16, 16, c})
      assert.is_true(max_abs_diff(back, t) < 1e-6)
    end
    local g = dnn.tensor {{0, 0.5}, {1, 0.25}}
    dnn.image.save(g, dir .. "/g.png")
    local back = dnn.image.load(dir .. "/g.png", {uint8 = true})
    H.assert_shape(back, {2, 2, 1})
    assert.are.same({0, 128, 255, 64}, back:reshape(4):totable())
    -- clamped, then the nearest level; a view (transposed) saves as it reads
    dnn.image.save(dnn.tensor {{-3, 2}, {0.2, 0.9}}:transpose(1, 2), dir .. "/c.png")
    assert.are.same({0, 51, 255, 230}, dnn.image.load(dir .. "/c.png", {uint8 = true}):reshape(4):totable())
  end)

  it("refuses batches (pointing to grid) and leaves no file behind on failure", function()
    H.assert_error({"dnn.image.grid"}, dnn.image.save, dnn.zeros(2, 4, 4, 3), dir .. "/batch.png")
    H.assert_error({"channels"}, dnn.image.save, dnn.zeros(4, 4, 6), dir .. "/six.png")
    H.assert_error({dir .. "/no/such/dir/x.png"}, dnn.image.save, dnn.zeros(4, 4, 3), dir .. "/no/such/dir/x.png")
    assert.is_nil(io.open(dir .. "/batch.png"))
    -- the temporary file was renamed: only the final name remains
    dnn.image.save(dnn.zeros(3, 3), dir .. "/only.png")
    local p = io.popen("ls '" .. dir .. "' | grep -c 'only.png.tmp' || true")
    assert.are.equal("0", p:read("l"))
    p:close()
  end)
end)

describe("image ops from Lua", function()
  local img = dnn.tensor {{1, 2, 3}, {4, 5, 6}, {7, 8, 9}}:reshape(3, 3, 1)

  it("resize: TF's half-pixel bilinear and nearest, single images and batches", function()
    local up = dnn.image.resize(dnn.tensor {{0, 1}, {1, 0}}, 4, 4)
    H.assert_close(up, {{0, 0.25, 0.75, 1}, {0.25, 0.375, 0.625, 0.75}, {0.75, 0.625, 0.375, 0.25},
      {1, 0.75, 0.25, 0}}, 1e-6)
    H.assert_close(dnn.image.resize(dnn.tensor {{0, 1}, {1, 0}}, {4, 4}, {method = "nearest"}),
      {{0, 0, 1, 1}, {0, 0, 1, 1}, {1, 1, 0, 0}, {1, 1, 0, 0}}, 0)
    local batch = dnn.rand(3, 5, 4, 2)
    local r = dnn.image.resize(batch, 7, 3)
    H.assert_shape(r, {3, 7, 3, 2})
    H.assert_close(r[2], dnn.image.resize(batch[2], 7, 3), 1e-6)
    -- a batch big enough for the threaded path gives what one image gives serially
    local big = dnn.rand(4, 64, 64, 3)
    H.assert_close(dnn.image.resize(big, 96, 80)[3], dnn.image.resize(big[3], 96, 80), 1e-6)
    H.assert_close(dnn.image.rotate(big, 33)[4], dnn.image.rotate(big[4], 33), 1e-6)
    H.assert_error({"integer"}, dnn.image.resize, batch, 2.5, 3)
    H.assert_error({"dnn.image.resize", "'bilinear', 'nearest'", "cubic"}, dnn.image.resize, batch, 2, 3, {method = "cubic"})
  end)

  it("crop (1-based), pad, flip, rotate", function()
    H.assert_close(dnn.image.crop(img, 2, 2, 2, 1):reshape(2), {5, 8}, 0)
    H.assert_error({"outside", "row 3, column 3"}, dnn.image.crop, img, 3, 3, 2, 1)
    H.assert_close(dnn.image.pad(img, 1):reshape(5, 5)[1], {0, 0, 0, 0, 0}, 0)
    H.assert_close(dnn.image.pad(img, {{0, 1}, {2, 0}}, {value = -1}):reshape(4, 5),
      {{-1, -1, 1, 2, 3}, {-1, -1, 4, 5, 6}, {-1, -1, 7, 8, 9}, {-1, -1, -1, -1, -1}}, 0)
    H.assert_close(dnn.image.flip(img, "horizontal"):reshape(3, 3), {{3, 2, 1}, {6, 5, 4}, {9, 8, 7}}, 0)
    H.assert_close(dnn.image.flip(img, "vertical"):reshape(3, 3), {{7, 8, 9}, {4, 5, 6}, {1, 2, 3}}, 0)
    H.assert_error({"horizontal"}, dnn.image.flip, img, "sideways")
    H.assert_close(dnn.image.rotate(img, 90):reshape(3, 3), {{3, 6, 9}, {2, 5, 8}, {1, 4, 7}}, 1e-6)
    H.assert_close(dnn.image.rotate(img, 180):reshape(3, 3), {{9, 8, 7}, {6, 5, 4}, {3, 2, 1}}, 1e-6)
    H.assert_close(dnn.image.rotate(img, 270), dnn.image.rotate(img, -90), 1e-6)
    -- rotating by 45 with fill "nearest" reads the edges, never the fill value
    local r = dnn.image.rotate(img, 45, {fill_mode = "nearest", fill_value = -100})
    assert.is_true(r:min():item() >= 1)
  end)

  it("connected_components: 4- and 8-connected regions, their boxes, views", function()
    local mask = dnn.tensor {{1, 1, 0, 0}, {0, 1, 0, 1}, {1, 0, 0, 1}, {1, 0, 1, 0}}
    local labels, count, boxes = dnn.image.connected_components(mask)
    assert.equal(4, count)
    H.assert_close(labels, {{1, 1, 0, 0}, {0, 1, 0, 2}, {3, 0, 0, 2}, {3, 0, 4, 0}}, 0)
    H.assert_close(boxes, {{0, 0, 2, 2}, {1, 3, 3, 4}, {2, 0, 4, 1}, {3, 2, 4, 3}}, 0)
    -- corners join: the top-left item meets the lower-left one, the right one the bottom one
    labels, count, boxes = dnn.image.connected_components(mask, {connectivity = 8})
    assert.equal(2, count)
    H.assert_close(labels, {{1, 1, 0, 0}, {0, 1, 0, 2}, {1, 0, 0, 2}, {1, 0, 2, 0}}, 0)
    H.assert_close(boxes, {{0, 0, 4, 2}, {1, 2, 4, 4}}, 0)
    -- a view (transposed) reads as its values, not its storage
    labels = dnn.image.connected_components(mask:transpose(1, 2))
    H.assert_close(labels, {{1, 0, 2, 2}, {1, 1, 0, 0}, {0, 0, 0, 3}, {0, 4, 4, 0}}, 0)
    local none, zero, no_boxes = dnn.image.connected_components(dnn.zeros(3, 5))
    assert.equal(0, zero)
    assert.equal(0, none:sum():item())
    H.assert_shape(no_boxes, {0, 4})
  end)

  it("connected_components agrees with a plain flood fill on random masks", function()
    -- the reference: a recursive fill over Lua arrays, numbering in raster order
    local function reference(rows, h, w)
      local label, count = {}, 0
      for y = 1, h do label[y] = {} for x = 1, w do label[y][x] = 0 end end
      local function fill(y, x)
        if y < 1 or y > h or x < 1 or x > w or rows[y][x] == 0 or label[y][x] ~= 0 then return end
        label[y][x] = count
        fill(y - 1, x) fill(y + 1, x) fill(y, x - 1) fill(y, x + 1)
      end
      for y = 1, h do for x = 1, w do
        if rows[y][x] ~= 0 and label[y][x] == 0 then count = count + 1 fill(y, x) end
      end end
      return label, count
    end
    dnn.manual_seed(3)
    for _ = 1, 5 do
      local mask = dnn.rand(13, 17):gt(0.45)
      local expected, n = reference(mask:totable(), 13, 17)
      local labels, count = dnn.image.connected_components(mask)
      assert.equal(n, count)
      H.assert_close(labels, expected, 0)
    end
  end)

  it("connected_components refuses what is not a 2-d mask", function()
    H.assert_error({"dnn.image.connected_components", "(H, W)", "3-d"}, dnn.image.connected_components,
      dnn.zeros(2, 2, 2))
    H.assert_error({"dnn.image.connected_components", "connectivity 4 or 8", "6"}, dnn.image.connected_components,
      dnn.zeros(2, 2), {connectivity = 6})
    H.assert_error({"dnn.image.connected_components", "mask tensor", "string"}, dnn.image.connected_components, "x")
    H.assert_error({"dnn.image.connected_components", "options table"}, dnn.image.connected_components,
      dnn.zeros(2, 2), 8)
  end)

  it("affine: a matrix per image, Keras's fill modes", function()
    local row = dnn.tensor {{1, 2, 3, 4}}
    local shift = {{1, 0, -2}, {0, 1, 0}}
    H.assert_close(dnn.image.affine(row, shift, {fill_value = 9}), {{9, 9, 1, 2}}, 0)
    H.assert_close(dnn.image.affine(row, shift, {fill_mode = "reflect"}), {{2, 1, 1, 2}}, 0)
    H.assert_close(dnn.image.affine(row, shift, {fill_mode = "wrap"}), {{3, 4, 1, 2}}, 0)
    H.assert_close(dnn.image.affine(row, {1, 0, -2, 0, 1, 0}, {fill_mode = "nearest"}), {{1, 1, 1, 2}}, 0)
    local batch = dnn.stack {row:reshape(1, 4, 1), (row + 4):reshape(1, 4, 1)}
    local ms = dnn.tensor {{{1, 0, 0}, {0, 1, 0}}, {{-1, 0, 3}, {0, 1, 0}}}
    H.assert_close(dnn.image.affine(batch, ms):reshape(2, 4), {{1, 2, 3, 4}, {8, 7, 6, 5}}, 0)
    H.assert_close(dnn.image.affine(batch, ms, {output_shape = {1, 2}}):reshape(2, 2), {{1, 2}, {8, 7}}, 0)
    H.assert_error({"6 numbers"}, dnn.image.affine, row, {1, 2, 3, 4})
    H.assert_error({"fill_mode 'constant', 'nearest', 'reflect', 'wrap'", "mirror"}, dnn.image.affine, row, shift, {fill_mode = "mirror"})
    -- rotate is affine with rotation_matrix
    local m = dnn.image.rotation_matrix(30, 3, 3)
    H.assert_close(dnn.image.affine(img, m), dnn.image.rotate(img, 30), 1e-6)
  end)

  it("colour, blur and normalize", function()
    local rgb = dnn.tensor {{{0.2, 0.4, 0.6}, {0, 1, 0.5}}}
    H.assert_close(dnn.image.adjust_brightness(rgb, 0.1), rgb + 0.1, 1e-6)
    H.assert_close(dnn.image.adjust_contrast(rgb, 1), rgb, 1e-6)
    local gray = dnn.image.adjust_saturation(rgb, 0)
    local luma = 0.299 * 0.2 + 0.587 * 0.4 + 0.114 * 0.6
    H.assert_close(gray[1][1], {luma, luma, luma}, 1e-6)
    H.assert_error({"3 or 4"}, dnn.image.adjust_saturation, img, 2)
    local blurred = dnn.image.gaussian_blur(dnn.ones(2, 9, 9, 3), 1.5)
    H.assert_close(blurred, dnn.ones(2, 9, 9, 3), 1e-5)
    H.assert_close(dnn.image.normalize(rgb, {0.5, 0.5, 0.5}, {0.5, 0.25, 1}), {{{-0.6, -0.4, 0.1}, {-1, 2, 0}}}, 1e-6)
    H.assert_close(dnn.image.normalize(rgb, 0.5, 0.5), (rgb - 0.5) / 0.5, 1e-6)
    H.assert_error({"means"}, dnn.image.normalize, rgb, {1, 2}, 1)
  end)

  it("records nothing for autodiff (data ops)", function()
    local x = dnn.rand(4, 4, 3)
    x.requires_grad = true
    local y = dnn.image.resize(x, 2, 2)
    assert.is_false(y.requires_grad)
  end)
end)

describe("dnn.image.grid", function()
  it("lays out a batch as torchvision's make_grid", function()
    local b = dnn.stack {dnn.full({2, 2}, 1), dnn.full({2, 2}, 2), dnn.full({2, 2}, 3)}
    local g = dnn.image.grid(b, {nrow = 2, padding = 1})
    H.assert_shape(g, {7, 7, 1})
    H.assert_close(g:reshape(7, 7), {{0, 0, 0, 0, 0, 0, 0}, {0, 1, 1, 0, 2, 2, 0}, {0, 1, 1, 0, 2, 2, 0},
      {0, 0, 0, 0, 0, 0, 0}, {0, 3, 3, 0, 0, 0, 0}, {0, 3, 3, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 0, 0}}, 0)
    -- defaults: nrow 8, padding 2; RGB kept
    local rgb = dnn.image.grid(dnn.rand(10, 5, 4, 3))
    H.assert_shape(rgb, {2 * 7 + 2, 8 * 6 + 2, 3})
    -- normalize over the batch, pad_value
    local n = dnn.image.grid(b, {padding = 0, normalize = true})
    H.assert_close(n:reshape(2, 6)[1], {0, 0, 0.5, 0.5, 1, 1}, 1e-6)
    local p = dnn.image.grid(b, {padding = 1, pad_value = 0.5})
    assert.are.equal(0.5, p[1][1][1]:item())
    H.assert_error({"1, 3 or 4 channels"}, dnn.image.grid, dnn.zeros(2, 3, 3, 2))
    H.assert_error({"batch"}, dnn.image.grid, dnn.zeros(3, 3))
  end)

  it("filters_grid shows conv kernels (kh, kw, in, out)", function()
    local k = dnn.randn(3, 3, 1, 6)
    local g = dnn.image.filters_grid(k)
    H.assert_shape(g, {1 * 4 + 1, 6 * 4 + 1, 1})
    assert.is_true(g:min():item() >= 0 and g:max():item() <= 1)
    -- filter 2 is tile 2: normalized over all filters
    local lo, hi = k:min():item(), k:max():item()
    H.assert_close(g[2][6][1]:item(), (k[1][1][1][2]:item() - lo) / (hi - lo), 1e-5)
    H.assert_shape(dnn.image.filters_grid(dnn.randn(5, 5, 3, 4)), {1 * 6 + 1, 4 * 6 + 1, 3})
    -- many input channels: one row per filter, one tile per input channel
    H.assert_shape(dnn.image.filters_grid(dnn.randn(3, 3, 8, 2)), {2 * 4 + 1, 8 * 4 + 1, 1})
    H.assert_error({"kh, kw, in, out"}, dnn.image.filters_grid, dnn.zeros(3, 3))
  end)

  it("feature_maps_grid shows each channel of one image's activations", function()
    local maps = dnn.rand(1, 5, 6, 10)
    local g = dnn.image.feature_maps_grid(maps)
    -- 10 maps: 4 per row, 3 rows, padding 1
    H.assert_shape(g, {3 * 6 + 1, 4 * 7 + 1, 1})
    -- each map scaled on its own: map 7 (row 2, column 3) spans [0, 1]
    local tile = g:narrow(1, 1 + 6 + 1, 5):narrow(2, 1 + 2 * 7 + 1, 6) -- 1-based: padding, then whole tiles
    H.assert_close(tile:min():item(), 0, 1e-6)
    H.assert_close(tile:max():item(), 1, 1e-6)
    local m7 = maps[1]:narrow(3, 7, 1)
    local lo, hi = m7:min():item(), m7:max():item()
    H.assert_close(tile[1][1][1]:item(), (maps[1][1][1][7]:item() - lo) / (hi - lo), 1e-5)
    H.assert_shape(dnn.image.feature_maps_grid(dnn.rand(4, 4, 3), {nrow = 2}), {2 * 5 + 1, 2 * 5 + 1, 1})
    H.assert_error({"one image"}, dnn.image.feature_maps_grid, dnn.rand(2, 4, 4, 3))
  end)
end)
