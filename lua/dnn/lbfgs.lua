-- dnn.optim.LBFGS: limited-memory BFGS in PyTorch's closure form, for
-- problems where one can afford several evaluations per step (style
-- transfer's image, small full-batch fits). The algorithm and its defaults
-- follow torch.optim.LBFGS (itself minFunc's): a two-loop recursion over the
-- last history_size (s, y) pairs, and an optional strong-Wolfe line search
-- with cubic interpolation.
--
--   local opt = dnn.optim.LBFGS{params = {img}, line_search_fn = "strong_wolfe"}
--   for i = 1, 20 do opt:step(function() local loss = f(img); loss:backward(); return loss end) end
--
-- Every parameter is seen as one flat vector (their concatenation); the
-- scalars of the method (step length, curvature products) are Lua numbers.
local dnn = require "dnn"
local args_and_options = require("dnn.layer").args_and_options
local strict = require "dnn.options"

local LBFGS = {name = "LBFGS"}
LBFGS.__index = LBFGS

local function dot(a, b)
  return (a * b):sum():item()
end

local function abs_max(a)
  return a:abs():max():item()
end

-- ---- construction ----

local function check_number(key, v, default, rule)
  if v == nil then return default end
  return strict.check_number("LBFGS", key, v, rule, 3)
end

local function check_params(params)
  if type(params) ~= "table" or #params == 0 then
    error("LBFGS: expected params to be a non-empty array of tensors, got " .. strict.describe(params), 3)
  end
  for i, p in ipairs(params) do
    if not dnn.is_tensor(p) or not p.requires_grad then
      error(string.format("LBFGS: expected params[%d] to be a tensor that requires grad, got %s", i,
        dnn.is_tensor(p) and "a tensor without requires_grad" or strict.describe(p)), 3)
    end
  end
  return params
end

function LBFGS.new(...)
  local _, o = args_and_options(...)
  strict.check("LBFGS", o, {"learning_rate", "max_iter", "max_eval", "tolerance_grad", "tolerance_change",
    "history_size", "line_search_fn", "params", "name"})
  local self = setmetatable({}, LBFGS)
  self.params = check_params(o.params)
  self.learning_rate = check_number("learning_rate", o.learning_rate, 1, {above = 0})
  self.max_iter = check_number("max_iter", o.max_iter, 20, {integer = true, min = 1})
  self.max_eval = check_number("max_eval", o.max_eval, self.max_iter * 5 // 4, {integer = true, min = 1})
  self.tolerance_grad = check_number("tolerance_grad", o.tolerance_grad, 1e-7, {min = 0})
  self.tolerance_change = check_number("tolerance_change", o.tolerance_change, 1e-9, {min = 0})
  self.history_size = check_number("history_size", o.history_size, 100, {integer = true, min = 1})
  local search = o.line_search_fn
  if search ~= nil and search ~= "strong_wolfe" then
    error("LBFGS: expected line_search_fn to be nil or \"strong_wolfe\", got " .. strict.describe(search), 3)
  end
  self.line_search_fn = search
  self.name = o.name or "LBFGS"
  self.iterations = 0 -- L-BFGS iterations over every step (torch's n_iter)
  self.func_evals = 0
  self.state = {}
  return self
end

setmetatable(LBFGS, {__call = function(_, ...) return LBFGS.new(...) end})

function LBFGS:__tostring()
  return string.format("LBFGS(learning_rate=%s, history_size=%d, line_search_fn=%s, iterations=%d)",
    tostring(self.learning_rate), self.history_size, tostring(self.line_search_fn), self.iterations)
end

function LBFGS:zero_grad()
  for _, p in ipairs(self.params) do
    if p.grad then p.grad:zero() end
  end
end

-- ---- the flat view of the parameters ----

local function flat_grad(self)
  local views = {}
  for i, p in ipairs(self.params) do
    views[i] = p.grad and p.grad:reshape(-1) or dnn.zeros(p:numel())
  end
  return #views == 1 and views[1]:clone() or dnn.cat(views, 1)
end

-- params += t * direction
local function add_step(self, t, direction)
  local offset = 0
  for _, p in ipairs(self.params) do
    local n = p:numel()
    p:add_((direction:narrow(1, offset + 1, n) * t):reshape(p.shape))
    offset = offset + n
  end
end

local function clone_params(self)
  local copies = {}
  for i, p in ipairs(self.params) do copies[i] = p:detach():clone() end
  return copies
end

local function set_params(self, copies)
  for i, p in ipairs(self.params) do p:copy(copies[i]) end
end

-- The loss (a number) from the closure, run with recording on and the
-- gradients cleared first (so a closure without zero_grad works too).
local function evaluate(self, closure)
  self:zero_grad()
  local loss = dnn.enable_grad(closure)
  if dnn.is_tensor(loss) and loss:numel() == 1 then loss = loss:item() end
  if type(loss) ~= "number" then
    error("LBFGS:step: expected the closure to return the loss (a number or a 1-element tensor), got "
      .. strict.describe(loss), 3)
  end
  self.func_evals = self.func_evals + 1
  return loss
end

-- The loss and gradient at params + t * d; the parameters are put back to x.
local function directional_evaluate(self, closure, x, t, d)
  add_step(self, t, d)
  local loss = evaluate(self, closure)
  local g = flat_grad(self)
  set_params(self, x)
  return loss, g
end

-- ---- the strong-Wolfe line search (torch's, after minFunc) ----

-- The minimizer of the cubic through (x1, f1, g1) and (x2, f2, g2), clamped
-- to bounds (default: between the two points).
local function cubic_interpolate(x1, f1, g1, x2, f2, g2, lo, hi)
  if not lo then lo, hi = math.min(x1, x2), math.max(x1, x2) end
  local d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
  local d2_square = d1 * d1 - g1 * g2
  if d2_square < 0 then return (lo + hi) / 2 end
  local d2 = math.sqrt(d2_square)
  local min_pos
  if x1 <= x2 then
    min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
  else
    min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
  end
  return math.min(math.max(min_pos, lo), hi)
end

-- A point of the bracket: step t, loss f, flat gradient g, slope gtd.
local function point(t, f, g, gtd)
  return {t = t, f = f, g = g, gtd = gtd}
end

-- Returns the loss, gradient and step of a point meeting the strong Wolfe
-- conditions along d (or the best found within max_ls evaluations).
local function strong_wolfe(eval, t, d, f, g, gtd, tolerance_change)
  local c1, c2, max_ls = 1e-4, 0.9, 25
  local d_norm = abs_max(d)
  local f_new, g_new = eval(t)
  local gtd_new = dot(g_new, d)
  local prev = point(0, f, g, gtd)
  local lo, hi, done
  local ls_iter = 0
  -- bracketing: find an interval that contains a good point
  while ls_iter < max_ls do
    if f_new > f + c1 * t * gtd or (ls_iter > 1 and f_new >= prev.f) then
      lo, hi = prev, point(t, f_new, g_new, gtd_new)
      break
    end
    if math.abs(gtd_new) <= -c2 * gtd then
      lo, done = point(t, f_new, g_new, gtd_new), true
      break
    end
    if gtd_new >= 0 then
      lo, hi = prev, point(t, f_new, g_new, gtd_new)
      break
    end
    local t_next = cubic_interpolate(prev.t, prev.f, prev.gtd, t, f_new, gtd_new, t + 0.01 * (t - prev.t), t * 10)
    prev = point(t, f_new, g_new, gtd_new)
    t = t_next
    f_new, g_new = eval(t)
    gtd_new = dot(g_new, d)
    ls_iter = ls_iter + 1
  end
  if ls_iter == max_ls then lo, hi = point(0, f, g, gtd), point(t, f_new, g_new, gtd_new) end
  if not done and hi.f < lo.f then lo, hi = hi, lo end
  -- zoom: shrink the bracket [lo, hi] (lo the lower loss) until a point meets the conditions
  local insufficient = false
  while not done and ls_iter < max_ls do
    if math.abs(hi.t - lo.t) * d_norm < tolerance_change then break end
    t = cubic_interpolate(lo.t, lo.f, lo.gtd, hi.t, hi.f, hi.gtd)
    local top, bottom = math.max(lo.t, hi.t), math.min(lo.t, hi.t)
    local eps = 0.1 * (top - bottom)
    if math.min(top - t, t - bottom) < eps then
      -- too close to an end: after one such step, move 10% inside
      if insufficient or t >= top or t <= bottom then
        t = math.abs(t - top) < math.abs(t - bottom) and top - eps or bottom + eps
        insufficient = false
      else
        insufficient = true
      end
    else
      insufficient = false
    end
    f_new, g_new = eval(t)
    gtd_new = dot(g_new, d)
    ls_iter = ls_iter + 1
    local new = point(t, f_new, g_new, gtd_new)
    if f_new > f + c1 * t * gtd or f_new >= lo.f then
      hi = new
      if hi.f < lo.f then lo, hi = hi, lo end
    else
      if math.abs(gtd_new) <= -c2 * gtd then
        done = true
      elseif gtd_new * (hi.t - lo.t) >= 0 then
        hi = lo
      end
      lo = new
    end
  end
  return lo.f, lo.g, lo.t
end

-- ---- the step ----

-- The L-BFGS direction -H g from the stored pairs (the two-loop recursion).
local function direction(self, g)
  local s = self.state
  local q = -g
  local alpha = {}
  for i = #s.old_dirs, 1, -1 do
    alpha[i] = dot(s.old_stps[i], q) * s.ro[i]
    q:sub_(s.old_dirs[i] * alpha[i])
  end
  local r = q * s.H_diag
  for i = 1, #s.old_dirs do
    local beta = dot(s.old_dirs[i], r) * s.ro[i]
    r:add_(s.old_stps[i] * (alpha[i] - beta))
  end
  return r
end

-- Stores the pair (s, y) of the last step when its curvature is positive.
local function remember(self, g)
  local s = self.state
  local y = g - s.prev_flat_grad
  local step = s.d * s.t
  local ys = dot(y, step)
  if ys <= 1e-10 then return end
  if #s.old_dirs == self.history_size then
    table.remove(s.old_dirs, 1)
    table.remove(s.old_stps, 1)
    table.remove(s.ro, 1)
  end
  s.old_dirs[#s.old_dirs + 1] = y
  s.old_stps[#s.old_stps + 1] = step
  s.ro[#s.ro + 1] = 1 / ys
  s.H_diag = ys / dot(y, y)
end

-- Up to max_iter iterations from the current parameters; returns the loss
-- at the start, as torch's step does.
local function run(self, closure)
  local s = self.state
  local orig_loss = evaluate(self, closure)
  local loss = orig_loss
  local evals = 1
  local g = flat_grad(self)
  if abs_max(g) <= self.tolerance_grad then return orig_loss end
  local n_iter = 0
  while n_iter < self.max_iter do
    n_iter = n_iter + 1
    self.iterations = self.iterations + 1
    if self.iterations == 1 then
      s.old_dirs, s.old_stps, s.ro, s.H_diag = {}, {}, {}, 1
      s.d = -g
    else
      remember(self, g)
      s.d = direction(self, g)
    end
    s.prev_flat_grad = g:clone()
    local prev_loss = loss
    -- the first step is scaled down by the gradient's size (minFunc's guess)
    local t = self.learning_rate
    if self.iterations == 1 then t = math.min(1, 1 / g:abs():sum():item()) * self.learning_rate end
    local gtd = dot(g, s.d)
    if gtd > -self.tolerance_change then break end
    local ls_evals = 0
    if self.line_search_fn then
      local x = clone_params(self)
      local before = self.func_evals
      loss, g, t = strong_wolfe(function(step) return directional_evaluate(self, closure, x, step, s.d) end, t, s.d,
        loss, g, gtd, self.tolerance_change)
      ls_evals = self.func_evals - before
      add_step(self, t, s.d)
    else
      add_step(self, t, s.d)
      if n_iter ~= self.max_iter then
        loss = evaluate(self, closure)
        g = flat_grad(self)
        ls_evals = 1
      end
    end
    s.t = t
    evals = evals + ls_evals
    if n_iter == self.max_iter or evals >= self.max_eval then break end
    if abs_max(g) <= self.tolerance_grad then break end
    if abs_max(s.d) * math.abs(t) <= self.tolerance_change then break end
    if math.abs(loss - prev_loss) < self.tolerance_change then break end
  end
  return orig_loss
end

function LBFGS:step(closure)
  if type(closure) ~= "function" then
    error("LBFGS:step: expected a closure (a function that computes the loss, calls backward and returns the loss), got "
      .. strict.describe(closure), 2)
  end
  return dnn.no_grad(function() return run(self, closure) end)
end

-- ---- reference ----

--- dnn.optim.LBFGS{params[, options]}
-- Limited-memory BFGS in PyTorch's closure form: `opt:step(closure)` runs up
-- to `max_iter` iterations, calling `closure` (which computes the loss, calls
-- `backward` and returns the loss) as often as it needs; the gradients are
-- cleared before each call. Returns the loss at the start of the step. Same
-- algorithm and defaults as `torch.optim.LBFGS`; for full-batch problems
-- (style transfer's image, small fits), not for `compile`/`fit`.
-- @option params=required the tensors to optimize (one flat vector to the method)
-- @option learning_rate=1 the step length (the line search's first trial)
-- @option max_iter=20 iterations per `step`
-- @option max_eval=max_iter*5//4 closure calls per `step`
-- @option tolerance_grad=1e-7 stop when the largest gradient element is at most this
-- @option tolerance_change=1e-9 stop when the loss or the step changes less than this
-- @option history_size=100 the (s, y) pairs kept
-- @option line_search_fn=nil `"strong_wolfe"` for a line search, or a fixed step
-- @example local opt = dnn.optim.LBFGS{params = {img}, history_size = 10, line_search_fn = "strong_wolfe"}
-- local loss = opt:step(function() local l = style_loss(img); l:backward(); return l end)

--- dnn.optim.LBFGS:step(closure)
-- Up to `max_iter` L-BFGS iterations; returns the loss before them.
-- @example opt:step(function() local l = f(x); l:backward(); return l end)

--- dnn.optim.LBFGS:zero_grad()
-- Clears the gradients of its params.
-- @example opt:zero_grad()

return LBFGS
