-- dnn.plot: training curves and confusion matrices as PNG files, drawn with
-- dnn.image's canvas and its built-in 5x7 bitmap font (no plotting program,
-- no font library).
local image = require "dnn.image"
local core = require "dnn.core"

local M = {}

local BLACK, GRAY, LIGHT = {0, 0, 0}, {0.45, 0.45, 0.45}, {0.9, 0.9, 0.9}
local TRAIN, VAL = {0.12, 0.47, 0.71}, {1.0, 0.5, 0.05} -- matplotlib's first two colours

-- ---- numbers on axes ----

-- About n "nice" ticks (1, 2 or 5 times a power of ten) covering [lo, hi].
local function nice_ticks(lo, hi, n, integer)
  local span = hi - lo
  local raw = span / n
  local mag = 10 ^ math.floor(math.log(raw, 10))
  local step = mag
  for _, m in ipairs {1, 2, 5, 10} do
    step = m * mag
    if step >= raw then break end
  end
  if integer and step < 1 then step = 1 end
  local ticks = {}
  local first = math.ceil(lo / step - 1e-9) * step
  for v = first, hi + step * 1e-9, step do
    ticks[#ticks + 1] = math.abs(v) < step * 1e-9 and 0 or v
  end
  return ticks, step
end

local function tick_label(v, step)
  if math.abs(v) >= 1e6 or (step < 1e-4 and v ~= 0) then return (string.format("%.3g", v)) end
  local decimals = math.max(0, -math.floor(math.log(step, 10) + 1e-9))
  return string.format("%." .. math.min(decimals, 6) .. "f", v)
end

local function finite(v) return type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge end

-- ---- history ----

-- The series of a Keras History (its .history field) or a plain table
-- name -> array of numbers; a tensor of values counts as an array.
local function series_of(history)
  if type(history) ~= "table" then
    error(("dnn.plot.history: expected a History or a table of series, got %s"):format(type(history)), 3)
  end
  local src = type(history.history) == "table" and history.history or history
  local out = {}
  for k, v in pairs(src) do
    if type(k) == "string" then
      if core.is_tensor(v) then v = v:reshape(-1):totable() end
      if type(v) == "table" and #v > 0 then
        local vals = {}
        for i, x in ipairs(v) do
          if core.is_tensor(x) then x = x:item() end
          if type(x) ~= "number" then
            error(("dnn.plot.history: series '%s' holds a %s at [%d], expected numbers"):format(k, type(x), i), 3)
          end
          vals[i] = x
        end
        out[k] = vals
      end
    end
  end
  return out
end

-- Panels: each name without "val_" with its "val_" twin; loss first.
local function panels_of(series)
  local names = {}
  for k in pairs(series) do
    local base = k:match("^val_(.+)$") or k
    names[base] = true
  end
  local list = {}
  for k in pairs(names) do list[#list + 1] = k end
  table.sort(list, function(a, b)
    if a == "loss" or b == "loss" then return a == "loss" and b ~= "loss" end
    return a < b
  end)
  return list
end

local function draw_panel(cv, x0, y0, pw, ph, name, train, val, xlabel, legend)
  -- plot area inside the panel: room for tick labels, axis labels and legend
  local left, right, top, bottom = x0 + 62, x0 + pw - 14, y0 + 26, y0 + ph - 40
  image.draw_text(cv, x0 + (pw - image.text_width(name, 2)) / 2, y0 + 6, name, BLACK, {scale = 2})
  local lo, hi, n = math.huge, -math.huge, 0
  for _, s in ipairs {train or {}, val or {}} do
    n = math.max(n, #s)
    for _, v in ipairs(s) do
      if finite(v) then lo, hi = math.min(lo, v), math.max(hi, v) end
    end
  end
  if lo > hi then lo, hi = 0, 1 end
  if hi - lo < 1e-12 then
    local pad = math.max(math.abs(lo) * 0.1, 0.5)
    lo, hi = lo - pad, hi + pad
  else
    local pad = (hi - lo) * 0.05
    lo, hi = lo - pad, hi + pad
  end
  local xlo, xhi = 1, math.max(n, 2)
  local function px(e) return left + (e - xlo) / (xhi - xlo) * (right - left) end
  local function py(v) return bottom - (v - lo) / (hi - lo) * (bottom - top) end
  -- grid lines and ticks
  local yt, ystep = nice_ticks(lo, hi, 5)
  for _, v in ipairs(yt) do
    local y = math.floor(py(v) + 0.5)
    image.draw_line(cv, left, y, right, y, LIGHT)
    image.draw_line(cv, left - 4, y, left, y, BLACK)
    local s = tick_label(v, ystep)
    image.draw_text(cv, left - 7 - image.text_width(s), y - 3, s, BLACK)
  end
  local xt, xstep = nice_ticks(xlo, xhi, math.min(8, xhi - xlo), true)
  for _, e in ipairs(xt) do
    local x = math.floor(px(e) + 0.5)
    image.draw_line(cv, x, top, x, bottom, LIGHT)
    image.draw_line(cv, x, bottom, x, bottom + 4, BLACK)
    local s = tick_label(e, xstep)
    image.draw_text(cv, x - image.text_width(s) / 2, bottom + 7, s, BLACK)
  end
  image.draw_rect(cv, left, top, right - left + 1, bottom - top + 1, BLACK)
  image.draw_text(cv, (left + right - image.text_width(xlabel)) / 2, bottom + 20, xlabel, BLACK)
  image.draw_text(cv, x0 + 4, (top + bottom + image.text_width(name)) / 2, name, BLACK, {vertical = true})
  -- the curves: train solid, validation dashed
  local points = {}
  local function curve(s, color, dash)
    local prev
    for i, v in ipairs(s) do
      if finite(v) then
        local p = {px(i), py(v)}
        points[#points + 1] = p
        if prev then image.draw_line(cv, prev[1], prev[2], p[1], p[2], color, {width = 2, dash = dash}) end
        image.draw_rect(cv, p[1] - 2, p[2] - 2, 5, 5, color, {filled = true})
        prev = p
      else
        prev = nil
      end
    end
  end
  if train then curve(train, TRAIN, 0) end
  if val then curve(val, VAL, 6) end
  -- legend, top or bottom right inside the plot: where fewer points lie
  local entries = {}
  if train then entries[#entries + 1] = {legend[1], TRAIN, 0} end
  if val then entries[#entries + 1] = {legend[2], VAL, 6} end
  local lw = 0
  for _, e in ipairs(entries) do lw = math.max(lw, image.text_width(e[1])) end
  local lx, boxh = right - lw - 40, #entries * 12 + 6
  local function covered(ly)
    local count = 0
    for _, p in ipairs(points) do
      if p[1] >= lx - 12 and p[2] >= ly - 12 and p[2] <= ly + boxh + 8 then count = count + 1 end
    end
    return count
  end
  local ly = top + 6
  if covered(bottom - boxh - 2) < covered(ly) then ly = bottom - boxh - 2 end
  image.draw_rect(cv, lx - 4, ly - 4, lw + 38, #entries * 12 + 6, {1, 1, 1}, {filled = true})
  image.draw_rect(cv, lx - 4, ly - 4, lw + 38, #entries * 12 + 6, GRAY)
  for i, e in ipairs(entries) do
    local y = ly + (i - 1) * 12 + 3
    image.draw_line(cv, lx, y, lx + 24, y, e[2], {width = 2, dash = e[3] > 0 and 5 or 0})
    image.draw_text(cv, lx + 30, y - 3, e[1], BLACK)
  end
end

-- history(history, path, {title = "Training history", width = 480,
-- height = 320}): one chart per quantity (loss first, then each metric),
-- train solid blue and validation dashed orange, with axes, numbered ticks,
-- axis labels, a legend and a title, written as a PNG. history is a Keras
-- History (anything with a .history table) or a table name -> values;
-- "val_x" goes with "x". Returns the canvas (an (H, W, 3) tensor).
function M.history(history, path, opts)
  opts = opts or {}
  if type(path) ~= "string" then
    error(("dnn.plot.history: expected a path (string) as argument 2, got %s"):format(type(path)), 2)
  end
  local series = series_of(history)
  local panels = panels_of(series)
  if #panels == 0 then error("dnn.plot.history: nothing to plot (no series of numbers)", 2) end
  local pw, ph = opts.width or 480, opts.height or 320
  local cols = math.min(#panels, opts.columns or 2)
  local rows = math.ceil(#panels / cols)
  local title = opts.title or "Training history"
  local xlabel = opts.xlabel or "epoch"
  local legend = opts.legend or {"train", "validation"}
  if type(xlabel) ~= "string" then
    error(("dnn.plot.history: expected xlabel a string, got %s"):format(type(xlabel)), 2)
  end
  if type(legend) ~= "table" or type(legend[1]) ~= "string" or type(legend[2]) ~= "string" then
    error("dnn.plot.history: expected legend a table of two strings {solid, dashed}", 2)
  end
  local head = 36
  local cv = image.canvas(head + rows * ph, cols * pw)
  image.draw_text(cv, (cols * pw - image.text_width(title, 2)) / 2, 10, title, BLACK, {scale = 2})
  for i, name in ipairs(panels) do
    local c, r = (i - 1) % cols, (i - 1) // cols
    draw_panel(cv, c * pw, head + r * ph, pw, ph, name, series[name], series["val_" .. name], xlabel, legend)
  end
  image.save(cv, path)
  return cv
end

-- ---- confusion matrix ----

-- White to dark blue, as matplotlib's "Blues".
local function blues(t)
  local a, b = {0.97, 0.98, 1.0}, {0.03, 0.19, 0.42}
  return {a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t, a[3] + (b[3] - a[3]) * t}
end

-- confusion_matrix(cm, labels, path, {normalize = false, title}): a heat
-- map of cm (K x K: rows the true class, columns the predicted one, as
-- Keras's/sklearn's), each cell's count written in it, the class labels on
-- both axes (1..K when labels is nil). normalize = true (or "true") shows
-- each row as fractions of its total. cm is a tensor or a table of rows.
-- Returns the canvas.
function M.confusion_matrix(cm, labels, path, opts)
  opts = opts or {}
  if type(path) ~= "string" then
    error(("dnn.plot.confusion_matrix: expected a path (string) as argument 3, got %s"):format(type(path)), 2)
  end
  if core.is_tensor(cm) then cm = cm:totable() end
  if type(cm) ~= "table" or #cm == 0 then
    error("dnn.plot.confusion_matrix: expected a K x K matrix (tensor or table of rows)", 2)
  end
  local k = #cm
  for i = 1, k do
    if type(cm[i]) ~= "table" or #cm[i] ~= k then
      error(("dnn.plot.confusion_matrix: expected a square %d x %d matrix, row %d differs"):format(k, k, i), 2)
    end
  end
  labels = labels or {}
  if #labels ~= 0 and #labels ~= k then
    error(("dnn.plot.confusion_matrix: expected %d labels, got %d"):format(k, #labels), 2)
  end
  local names = {}
  for i = 1, k do names[i] = tostring(labels[i] or i) end
  local normalize = opts.normalize == true or opts.normalize == "true"
  local vals, texts, vmax = {}, {}, 0
  for i = 1, k do
    local total = 0
    for j = 1, k do total = total + cm[i][j] end
    vals[i], texts[i] = {}, {}
    for j = 1, k do
      local v = cm[i][j]
      if normalize then v = total > 0 and v / total or 0 end
      vals[i][j] = v
      vmax = math.max(vmax, v)
      texts[i][j] = normalize and string.format("%.2f", v)
        or (math.type(v) == "integer" or v == math.floor(v)) and string.format("%d", math.floor(v))
        or string.format("%.3g", v)
    end
  end
  local tw, lw = 0, 0
  for i = 1, k do
    lw = math.max(lw, image.text_width(names[i]))
    for j = 1, k do tw = math.max(tw, image.text_width(texts[i][j])) end
  end
  local cell = math.max(36, tw + 12)
  local vertical_cols = lw > cell - 4
  local colh = vertical_cols and lw + 6 or 12
  local title = opts.title or "Confusion matrix"
  local left = 20 + lw + 8
  local top = 40
  local w = math.max(left + k * cell + 20, image.text_width(title, 2) + 20)
  local h = top + k * cell + 8 + colh + 20
  local cv = image.canvas(h, w)
  image.draw_text(cv, (w - image.text_width(title, 2)) / 2, 10, title, BLACK, {scale = 2})
  for i = 1, k do
    for j = 1, k do
      local t = vmax > 0 and vals[i][j] / vmax or 0
      local x, y = left + (j - 1) * cell, top + (i - 1) * cell
      image.draw_rect(cv, x, y, cell, cell, blues(t), {filled = true})
      local color = t > 0.5 and {1, 1, 1} or BLACK
      image.draw_text(cv, x + (cell - image.text_width(texts[i][j])) / 2, y + cell / 2 - 3, texts[i][j], color)
    end
    -- the true class on the left, right-aligned
    image.draw_text(cv, left - 6 - image.text_width(names[i]), top + (i - 1) * cell + cell / 2 - 3, names[i], BLACK)
  end
  image.draw_rect(cv, left, top, k * cell, k * cell, GRAY)
  local by = top + k * cell + 6
  for j = 1, k do
    local cx = left + (j - 1) * cell + cell / 2
    if vertical_cols then
      image.draw_text(cv, cx - 3, by + image.text_width(names[j]), names[j], BLACK, {vertical = true})
    else
      image.draw_text(cv, cx - image.text_width(names[j]) / 2, by, names[j], BLACK)
    end
  end
  image.draw_text(cv, left + (k * cell - image.text_width("predicted")) / 2, by + colh + 4, "predicted", BLACK)
  image.draw_text(cv, 4, top + (k * cell + image.text_width("true")) / 2, "true", BLACK, {vertical = true})
  image.save(cv, path)
  return cv
end


-- ---- reference ----

--- @module dnn.plot Training curves and confusion matrices as PNG files
-- Drawn with `dnn.image`'s canvas and built-in font (no plotting program).

--- dnn.plot.history(history, path[, options])
-- One chart per quantity (loss first, then each metric), train solid and
-- validation dashed, as a PNG. `history`: what fit returns, or a table name
-- -> values. Returns the canvas.
-- @option title="Training history" the title
-- @option width=480 pixels per chart
-- @option height=320 pixels per chart
-- @option xlabel="epoch" the x axis's label
-- @option legend={"train", "validation"} the legend's names for the solid and the dashed curve
-- @example dnn.plot.history(model:fit(x, y, {epochs = 5, validation_split = 0.2}), "curves.png")

--- dnn.plot.confusion_matrix(cm, labels, path[, options])
-- A heat map of a confusion matrix (rows the true class) with each count written in its cell. Returns the canvas.
-- @option normalize=false show each row as fractions of its total
-- @option title=nil a title
-- @example dnn.plot.confusion_matrix(dnn.metrics.confusion_matrix(y, p), class_names, "cm.png")

return M
