-- dnn.image: image files in and out, image operations and grids.
--
-- Images are (H, W, C) float tensors and batches (N, H, W, C), Keras's
-- layout; every op also takes a batch (one C kernel over all images) and a
-- 2-d (H, W) gray image, and returns the rank it was given. These are data
-- operations: they record nothing for autodiff (no gradient flows through
-- them), as Keras's preprocessing layers. Positions (crop's top/left) are
-- 1-based.
local core = require "dnn.core"
local C = core._image

local M = {}

-- pcall's results: an error raised again at level 3 (rethrow runs as
-- call's tail call, so that is the user's line, not this file's), else the
-- C function's results.
local function rethrow(ok, ...)
  if not ok then error((tostring((...)):gsub("^[^:]*image%.lua:%d+: ", "")), 3) end
  return ...
end

-- Calls a C function, returning all its results; its error is raised again
-- at the caller's caller.
local function call(fn, ...)
  return rethrow(pcall(fn, ...))
end

local function opts_of(o, fn)
  if o == nil then return {} end
  if type(o) ~= "table" then
    error(("%s: expected an options table, got %s"):format(fn, type(o)), 3)
  end
  return o
end

local is_tensor = core.is_tensor

-- value if it is one of choices, else an error naming them.
local function choice(value, choices, fn, what)
  for _, c in ipairs(choices) do
    if value == c then return value end
  end
  error(("%s: expected %s '%s', got %s"):format(fn, what, table.concat(choices, "', '"), tostring(value)), 4)
end

local METHODS, FILL_MODES = {"bilinear", "nearest"}, {"constant", "nearest", "reflect", "wrap"}

-- load(path, {channels = 1|3|4, uint8 = false}) -> (H, W, C) in [0, 1]
-- (0..255 with uint8). C is the file's own count unless channels is given.
-- PNG through libpng; JPEG, BMP, TGA, GIF (first frame), PSD, HDR, PNM, PIC
-- through stb_image; the format is read from the file's first bytes.
function M.load(path, opts)
  opts = opts_of(opts, "dnn.image.load")
  if type(path) ~= "string" then
    error(("dnn.image.load: expected a path (string), got %s"):format(type(path)), 2)
  end
  local channels = opts.channels
  if channels ~= nil and channels ~= 1 and channels ~= 3 and channels ~= 4 then
    error(("dnn.image.load: expected channels = 1, 3 or 4, got %s"):format(tostring(channels)), 2)
  end
  return call(C.load, path, channels or 0, opts.uint8 and true or false)
end

-- save(t, path): an 8-bit PNG (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA
-- channels; a 2-d tensor is gray). Values are clamped to [0, 1] and rounded
-- to the nearest of the 256 levels. A batch is refused: grid it first.
function M.save(t, path)
  if type(path) ~= "string" then
    error(("dnn.image.save: expected a path (string) as argument 2, got %s"):format(type(path)), 2)
  end
  call(C.save, t, path)
end

-- resize(t, h, w, {method = "bilinear"|"nearest"}); also resize(t, {h, w}, opts).
-- Bilinear with half-pixel centers as tf.image.resize (no antialiasing).
function M.resize(t, h, w, opts)
  if type(h) == "table" then h, w, opts = h[1], h[2], w end
  opts = opts_of(opts, "dnn.image.resize")
  if math.type(h) ~= "integer" or math.type(w) ~= "integer" then
    error(("dnn.image.resize: expected integer height and width, got %s and %s"):format(tostring(h), tostring(w)), 2)
  end
  local method = choice(opts.method or opts.interpolation or "bilinear", METHODS, "dnn.image.resize", "method")
  return call(C.resize, t, h, w, method)
end

-- crop(t, top, left, h, w): the h x w window whose top-left pixel is at row
-- top, column left (1-based), inside the image.
function M.crop(t, top, left, h, w)
  for i, v in ipairs {top, left, h, w} do
    if math.type(v) ~= "integer" then
      error(("dnn.image.crop: expected integers top, left, height, width; argument %d is %s"):format(i + 1,
        tostring(v)), 2)
    end
  end
  return call(C.crop, t, top - 1, left - 1, h, w)
end

-- pad(t, padding, {value = 0}): padding is n (every side), {ph, pw} (top and
-- bottom ph, left and right pw) or {{top, bottom}, {left, right}}, as
-- Keras's ZeroPadding2D.
function M.pad(t, padding, opts)
  opts = opts_of(opts, "dnn.image.pad")
  local top, bottom, left, right
  if math.type(padding) == "integer" then
    top, bottom, left, right = padding, padding, padding, padding
  elseif type(padding) == "table" and type(padding[1]) == "table" and type(padding[2]) == "table" then
    top, bottom, left, right = padding[1][1], padding[1][2], padding[2][1], padding[2][2]
  elseif type(padding) == "table" then
    top, bottom, left, right = padding[1], padding[1], padding[2], padding[2]
  end
  for _, v in ipairs {top or false, bottom or false, left or false, right or false} do
    if math.type(v) ~= "integer" then
      error("dnn.image.pad: expected padding n, {h, w} or {{top, bottom}, {left, right}} of integers", 2)
    end
  end
  return call(C.pad, t, top, bottom, left, right, opts.value or 0)
end

-- flip(t, mode): "horizontal" (default: left-right), "vertical" (up-down)
-- or "horizontal_and_vertical", Keras's RandomFlip modes.
function M.flip(t, mode)
  mode = mode or "horizontal"
  local h, v = mode == "horizontal" or mode == "horizontal_and_vertical",
    mode == "vertical" or mode == "horizontal_and_vertical"
  if not (h or v) then
    error(("dnn.image.flip: expected 'horizontal', 'vertical' or 'horizontal_and_vertical', got %s"):format(
      tostring(mode)), 2)
  end
  return call(C.flip, t, h, v)
end

-- connected_components(mask, {connectivity = 4}) -> labels, count, boxes:
-- the regions of a 2-d mask's nonzero pixels (scikit-image's label, OpenCV's
-- connectedComponents); labels (H, W) 0 on zero pixels, 1..count in raster
-- order; boxes (count, 4) rows (y1, x1, y2, x2), pixel edges from 0.
function M.connected_components(mask, opts)
  local fn = "dnn.image.connected_components"
  opts = opts_of(opts, fn)
  if not is_tensor(mask) then error(("%s: expected a mask tensor (H, W), got %s"):format(fn, type(mask)), 2) end
  local connectivity = opts.connectivity or 4
  if connectivity ~= 4 and connectivity ~= 8 then
    error(("%s: expected connectivity 4 or 8, got %s"):format(fn, tostring(connectivity)), 2)
  end
  return call(C.connected_components, mask, math.tointeger(connectivity))
end

local function warp_opts(opts, fn)
  opts = opts_of(opts, fn)
  return choice(opts.interpolation or opts.method or "bilinear", METHODS, fn, "interpolation"),
    choice(opts.fill_mode or "constant", FILL_MODES, fn, "fill_mode"), opts.fill_value or 0
end

-- rotate(t, degrees, {interpolation = "bilinear", fill_mode = "constant",
-- fill_value = 0}): counter-clockwise about the image center (Keras's
-- RandomRotation and PIL's direction), same size.
function M.rotate(t, degrees, opts)
  if type(degrees) ~= "number" then
    error(("dnn.image.rotate: expected an angle in degrees, got %s"):format(type(degrees)), 2)
  end
  local interp, mode, fill = warp_opts(opts, "dnn.image.rotate")
  return call(C.rotate, t, degrees, interp, mode, fill)
end

-- rotation_matrix(degrees, h, w): the 2x3 matrix rotate uses, for affine.
M.rotation_matrix = C.rotation_matrix

-- affine(t, matrix, {interpolation, fill_mode = "constant"|"nearest"|
-- "reflect"|"wrap", fill_value, output_shape = {h, w}}). matrix maps output
-- pixel (x, y) (column, row; 0-based centers) to the input point
-- (m1 x + m2 y + m3, m4 x + m5 y + m6), as Keras's transforms: {m1, ..., m6}
-- or {{m1, m2, m3}, {m4, m5, m6}} for all images, or a tensor of N such
-- matrices ((N, 2, 3) or (N, 6)) for a batch, one per image.
function M.affine(t, matrix, opts)
  local interp, mode, fill = warp_opts(opts, "dnn.image.affine")
  local shape = (opts and opts.output_shape) or {}
  if type(matrix) == "table" then
    local ok, m = pcall(core.tensor, matrix)
    if not ok then error("dnn.image.affine: expected a 2x3 matrix of numbers: " .. tostring(m), 2) end
    matrix = m
  end
  return call(C.affine, t, matrix, shape[1] or 0, shape[2] or 0, interp, mode, fill)
end

-- adjust_brightness(t, delta): t + delta (tf.image.adjust_brightness).
M.adjust_brightness = C.adjust_brightness
-- adjust_contrast(t, factor): (t - mean) * factor + mean, the mean per image
-- and channel (tf.image.adjust_contrast).
M.adjust_contrast = C.adjust_contrast
-- adjust_saturation(t, factor): gray + factor * (t - gray) on RGB, gray the
-- luma (PIL's ImageEnhance.Color): 0 gray, 1 unchanged.
M.adjust_saturation = C.adjust_saturation
-- gaussian_blur(t, sigma): separable, radius ceil(3 sigma), edges repeated.
M.gaussian_blur = C.gaussian_blur

local function per_channel(v, fn, what)
  if type(v) == "number" then return core.tensor {v} end
  if type(v) == "table" then return core.tensor(v) end
  if is_tensor(v) then return v:reshape(-1) end
  error(("%s: expected %s as a number, a table or a tensor, got %s"):format(fn, what, type(v)), 3)
end

-- normalize(t, mean, std): (t - mean[c]) / std[c] per channel; mean and std
-- are numbers (every channel) or one per channel.
function M.normalize(t, mean, std)
  return call(C.normalize, t, per_channel(mean, "dnn.image.normalize", "mean"), per_channel(std, "dnn.image.normalize",
    "std"))
end

-- grid(batch, {nrow = 8, padding = 2, normalize = false, scale_each = false,
-- pad_value = 0}) -> one (H, W, C) image of the batch's images, as
-- torchvision's make_grid: nrow images per row. batch is (N, H, W) or
-- (N, H, W, C), C in 1, 3, 4. normalize maps the batch's [min, max] (each
-- image's with scale_each) to [0, 1].
function M.grid(batch, opts)
  opts = opts_of(opts, "dnn.image.grid")
  return call(C.grid, batch, opts.nrow or 8, opts.padding or 2, opts.pad_value or 0, opts.normalize and true or false,
    opts.scale_each and true or false)
end

-- filters_grid(kernel, opts): a conv kernel (kh, kw, in, out), Keras's layout,
-- as one picture. With 1 or 3 input channels each filter is one gray or RGB
-- tile (out tiles); otherwise each (filter, input channel) pair is a gray
-- tile, one row per filter. Normalized over all filters unless
-- normalize = false; padding 1 and nrow as grid's.
function M.filters_grid(kernel, opts)
  opts = opts_of(opts, "dnn.image.filters_grid")
  if not is_tensor(kernel) or kernel.ndim ~= 4 then
    error("dnn.image.filters_grid: expected a conv kernel (kh, kw, in, out)", 2)
  end
  local kh, kw, cin, cout = table.unpack(kernel.shape)
  local batch, nrow
  if cin == 1 or cin == 3 then
    batch = kernel:permute(4, 1, 2, 3):contiguous()
    nrow = opts.nrow or 8
  else
    batch = kernel:permute(4, 3, 1, 2):contiguous():reshape(cout * cin, kh, kw)
    nrow = opts.nrow or cin
  end
  local normalize = opts.normalize
  if normalize == nil then normalize = true end
  return call(C.grid, batch, nrow, opts.padding or 1, opts.pad_value or 0, normalize, opts.scale_each and true or false)
end

-- feature_maps_grid(maps, opts): a layer's output for one image, (H, W, C)
-- or (1, H, W, C), as one gray picture of its C channels: nrow defaults to
-- ceil(sqrt(C)), each map scaled to [0, 1] on its own (scale_each) unless
-- scale_each = false; padding 1.
function M.feature_maps_grid(maps, opts)
  opts = opts_of(opts, "dnn.image.feature_maps_grid")
  if is_tensor(maps) and maps.ndim == 4 and maps.shape[1] == 1 then maps = maps[1] end
  if not is_tensor(maps) or maps.ndim ~= 3 then
    error("dnn.image.feature_maps_grid: expected the feature maps of one image, (H, W, C) or (1, H, W, C)", 2)
  end
  local c = maps.shape[3]
  local scale_each = opts.scale_each
  if scale_each == nil then scale_each = true end
  local normalize = opts.normalize
  if normalize == nil then normalize = true end
  return call(C.grid, maps:permute(3, 1, 2):contiguous(), opts.nrow or math.ceil(math.sqrt(c)), opts.padding or 1,
    opts.pad_value or 0, normalize, scale_each)
end

-- ---- drawing (what dnn.plot uses) ----
-- canvas(h, w, {r, g, b}): an (h, w, 3) image of one colour (white by
-- default). draw_* take pixel coordinates, (0, 0) the top-left corner.
function M.canvas(h, w, color)
  color = color or {1, 1, 1}
  local c = core.zeros(h, w, 3)
  for k = 1, 3 do
    c:narrow(3, k, 1):fill(color[k])
  end
  return c
end

-- draw_line(canvas, x0, y0, x1, y1, {r, g, b}, {width = 1, dash = 0})
function M.draw_line(canvas, x0, y0, x1, y1, color, opts)
  opts = opts or {}
  C.draw_line(canvas, x0, y0, x1, y1, color[1], color[2], color[3], opts.width or 1, opts.dash or 0)
end

-- draw_rect(canvas, x, y, w, h, {r, g, b}, {filled = false})
function M.draw_rect(canvas, x, y, w, h, color, opts)
  C.draw_rect(canvas, x, y, w, h, color[1], color[2], color[3], opts and opts.filled or false)
end

-- draw_text(canvas, x, y, text, {r, g, b}, {scale = 1, vertical = false}):
-- the built-in 5x7 font in 6x8 cells; (x, y) the top-left corner (vertical:
-- the bottom-left, the text reading upwards).
function M.draw_text(canvas, x, y, text, color, opts)
  opts = opts or {}
  C.draw_text(canvas, x, y, tostring(text), color[1], color[2], color[3], opts.scale or 1, opts.vertical or false)
end

-- text_width(text, scale = 1): pixels; a line is 8 * scale high.
M.text_width = C.text_width


-- ---- reference ----

--- @module dnn.image Image files, image operations, grids and drawing
-- Images are `(H, W, C)` float tensors in [0, 1] and batches `(N, H, W, C)`;
-- every op also takes a batch and a 2-d gray image and returns the rank it
-- was given. They record nothing for autodiff. Positions are 1-based.

--- dnn.image.load(path[, options])
-- An image file as `(H, W, C)` in [0, 1]: PNG (libpng); JPEG, BMP, TGA, GIF, PSD, HDR, PNM, PIC (stb_image).
-- @option channels=file's 1, 3 or 4
-- @option uint8=false keep 0..255 values
-- @example local img = dnn.image.load("cat.png", {channels = 3})

--- dnn.image.save(t, path)
-- Writes an 8-bit PNG (1 to 4 channels; 2-d is gray), values clamped to [0, 1] and rounded. A batch: `grid` it first.
-- @example dnn.image.save(img, "out.png")

--- dnn.image.resize(t, h, w[, options])
-- Resizes to h x w (also `resize(t, {h, w})`); bilinear as tf.image.resize.
-- @option method="bilinear" `"bilinear"` or `"nearest"`
-- @example local small = dnn.image.resize(img, 64, 64)

--- dnn.image.crop(t, top, left, h, w)
-- The h x w window whose top-left pixel is at (top, left), 1-based.
-- @example local c = dnn.image.crop(img, 1, 1, 32, 32)

--- dnn.image.pad(t, padding[, options])
-- Pads: n, `{ph, pw}` or `{{top, bottom}, {left, right}}`.
-- @option value=0 the fill value
-- @example local p = dnn.image.pad(img, 4)

--- dnn.image.flip(t[, mode])
-- `"horizontal"` (default, left-right), `"vertical"` or `"horizontal_and_vertical"`.
-- @example local f = dnn.image.flip(img)

--- dnn.image.connected_components(mask[, options])
-- The regions of a 2-d mask's nonzero pixels (scikit-image's `label`, OpenCV's
-- `connectedComponents`): labels `(H, W)`, 0 on zero pixels and 1..count in
-- the raster order of each region's first pixel; the count; and boxes
-- `(count, 4)`, rows `(y1, x1, y2, x2)` as pixel edges from 0.
-- @option connectivity=4 4 (edges) or 8 (edges and corners)
-- @example local labels, n, boxes = dnn.image.connected_components(mask:gt(0.5))

--- dnn.image.rotate(t, degrees[, options])
-- Rotates counter-clockwise about the center, same size.
-- @option interpolation="bilinear" `"bilinear"` or `"nearest"`
-- @option fill_mode="constant" `"constant"`, `"nearest"`, `"reflect"` or `"wrap"`
-- @option fill_value=0 the value outside with "constant"
-- @example local r = dnn.image.rotate(img, 15)

--- dnn.image.rotation_matrix(degrees, h, w)
-- The 2x3 matrix `rotate` uses, for `affine`.
-- @example local m = dnn.image.rotation_matrix(30, 28, 28)

--- dnn.image.affine(t, matrix[, options])
-- Warps by a 2x3 matrix mapping output pixels to input points (Keras's
-- transforms): `{m1, ..., m6}`, `{{...}, {...}}`, or a tensor `(N, 2, 3)` with one per image.
-- @option interpolation="bilinear" `"bilinear"` or `"nearest"`
-- @option fill_mode="constant" `"constant"`, `"nearest"`, `"reflect"` or `"wrap"`
-- @option fill_value=0 the value outside with "constant"
-- @option output_shape=input's `{h, w}`
-- @example local shifted = dnn.image.affine(img, {1, 0, 5, 0, 1, 0})

--- dnn.image.adjust_brightness(t, delta)
-- `t + delta` (tf.image.adjust_brightness).
-- @example local b = dnn.image.adjust_brightness(img, 0.1)

--- dnn.image.adjust_contrast(t, factor)
-- `(t - mean) * factor + mean`, the mean per image and channel.
-- @example local c = dnn.image.adjust_contrast(img, 1.5)

--- dnn.image.adjust_saturation(t, factor)
-- `gray + factor * (t - gray)` on RGB: 0 gray, 1 unchanged.
-- @example local s = dnn.image.adjust_saturation(img, 0)

--- dnn.image.gaussian_blur(t, sigma)
-- A separable Gaussian blur, radius ceil(3 sigma), edges repeated.
-- @example local b = dnn.image.gaussian_blur(img, 1.5)

--- dnn.image.normalize(t, mean, std)
-- `(t - mean[c]) / std[c]` per channel; numbers or one per channel.
-- @example local n = dnn.image.normalize(img, {0.485, 0.456, 0.406}, {0.229, 0.224, 0.225})

--- dnn.image.grid(batch[, options])
-- One image of a batch's images, as torchvision's make_grid.
-- @option nrow=8 images per row
-- @option padding=2 pixels between images
-- @option normalize=false map the batch's [min, max] to [0, 1]
-- @option scale_each=false normalize each image on its own
-- @option pad_value=0 the padding's value
-- @example dnn.image.save(dnn.image.grid(x:narrow(1, 1, 16)), "batch.png")

--- dnn.image.filters_grid(kernel[, options])
-- A conv kernel `(kh, kw, in, out)` as one picture: one tile per filter
-- (gray or RGB), or per (filter, channel) pair.
-- @option normalize=true scale over all filters
-- @option nrow=grid's tiles per row
-- @example dnn.image.save(dnn.image.filters_grid(conv:get_weights()[1]), "filters.png")

--- dnn.image.feature_maps_grid(maps[, options])
-- A layer's output for one image, `(H, W, C)` or `(1, H, W, C)`, as one gray picture of its C channels.
-- @option nrow=ceil(sqrt(C)) maps per row
-- @option scale_each=true scale each map to [0, 1] on its own
-- @example dnn.image.save(dnn.image.feature_maps_grid(conv(x:narrow(1, 1, 1))), "maps.png")

--- dnn.image.canvas(h, w[, color])
-- An `(h, w, 3)` image of one colour `{r, g, b}` (white by default), for drawing.
-- @example local c = dnn.image.canvas(100, 200)

--- dnn.image.draw_line(canvas, x0, y0, x1, y1[, color][, options])
-- Draws a line; pixel coordinates, (0, 0) top-left.
-- @option width=1 the line width
-- @option dash=0 dash length (0 solid)
-- @example dnn.image.draw_line(c, 0, 0, 99, 99, {1, 0, 0})

--- dnn.image.draw_rect(canvas, x, y, w, h[, color][, options])
-- Draws a rectangle.
-- @option filled=false fill it
-- @example dnn.image.draw_rect(c, 10, 10, 20, 20, {0, 0, 1}, {filled = true})

--- dnn.image.draw_text(canvas, x, y, text[, color][, options])
-- Writes text in the built-in 5x7 font (6x8 cells); (x, y) the top-left corner.
-- @option scale=1 the size factor
-- @option vertical=false read upwards, (x, y) the bottom-left
-- @example dnn.image.draw_text(c, 5, 5, "loss", {0, 0, 0}, {scale = 2})

--- dnn.image.text_width(text[, scale])
-- The width of text in pixels (a line is 8 * scale high).
-- @example print(dnn.image.text_width("epoch", 2))

return M
