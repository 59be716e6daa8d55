-- dnn.autograd: grad mode helpers and a finite-difference gradient checker.
local dnn = require "dnn"

local M = {
  no_grad = dnn.no_grad,
  enable_grad = dnn.enable_grad,
  is_grad_enabled = dnn.is_grad_enabled,
  set_grad_enabled = dnn.set_grad_enabled,
}

-- The values of t, row-major, as a Lua array.
local function flat(t)
  return t:detach():reshape(-1):totable()
end

-- The 0-d view of element k (0-based, row-major) of x, and its 1-based index.
local function element(x, k)
  local shape, idx = x.shape, {}
  for d = #shape, 1, -1 do
    idx[d] = k % shape[d] + 1
    k = k // shape[d]
  end
  local v = x
  for d = 1, #shape do v = v:select(1, idx[d]) end
  return v, idx
end

-- Fixed weights that turn fn's output into the scalar sum(w * out): signs
-- alternate and sizes vary so errors in different elements cannot cancel.
-- Deterministic and independent of dnn's random state.
local function projection(n)
  local w = {}
  for i = 1, n do
    w[i] = (i % 2 == 0 and -1 or 1) * (0.5 + (i * 7919 % 101) / 101)
  end
  return w
end

local function check_number(opts, name, default)
  local v = opts[name]
  if v == nil then return default end
  if type(v) ~= "number" or v < 0 then
    error(("bad argument #3 to 'gradcheck' (option '%s' expected a number >= 0, got %s)"):format(name, tostring(v)), 3)
  end
  return v
end

-- gradcheck(fn, inputs[, {eps = 1e-3, atol = 1e-3, rtol = 1e-2}]): compares
-- the gradients backward() gives for fn(table.unpack(inputs)) with central
-- finite differences (fn run under no_grad, each element of each input that
-- requires grad moved by +-eps). Returns true, or false and a message naming
-- the input and element that differs most. inputs may be one tensor.
-- Inputs' .grad are left as they were.
function M.gradcheck(fn, inputs, opts)
  if type(fn) ~= "function" then
    error("bad argument #1 to 'gradcheck' (expected a function, got " .. type(fn) .. ")", 2)
  end
  if dnn.is_tensor(inputs) then inputs = {inputs} end
  if type(inputs) ~= "table" then
    error("bad argument #2 to 'gradcheck' (expected a tensor or a table of inputs, got " .. type(inputs) .. ")", 2)
  end
  opts = opts or {}
  if type(opts) ~= "table" then
    error("bad argument #3 to 'gradcheck' (expected an options table, got " .. type(opts) .. ")", 2)
  end
  local eps = check_number(opts, "eps", 1e-3)
  local atol = check_number(opts, "atol", 1e-3)
  local rtol = check_number(opts, "rtol", 1e-2)
  local n = inputs.n or #inputs

  local checked = {}
  for i = 1, n do
    local x = inputs[i]
    if dnn.is_tensor(x) and x.requires_grad then
      if not x.is_leaf then
        error(("bad argument #2 to 'gradcheck' (input %d is not a leaf: it was made by '%s')"):format(i, x.grad_fn), 2)
      end
      checked[#checked + 1] = i
    end
  end
  if #checked == 0 then
    error("bad argument #2 to 'gradcheck' (expected at least one input that requires grad, got none)", 2)
  end

  -- analytic: backward of sum(w * out), with the inputs' grads set aside
  local out = fn(table.unpack(inputs, 1, n))
  if not dnn.is_tensor(out) then
    error("gradcheck: fn must return a tensor, got " .. type(out), 2)
  end
  local w = projection(out:numel())
  local saved, analytic = {}, {}
  for _, i in ipairs(checked) do
    saved[i] = inputs[i].grad
    inputs[i].grad = nil
  end
  local ok, err = pcall(function()
    if out.requires_grad then out:backward(dnn.tensor(w):reshape(out.shape)) end
    for _, i in ipairs(checked) do
      local g = inputs[i].grad
      analytic[i] = g and flat(g) or {}
    end
  end)
  for _, i in ipairs(checked) do inputs[i].grad = saved[i] end
  if not ok then error(err, 0) end

  -- numeric: central differences of the same scalar, in double precision
  local function objective()
    local vals = flat(fn(table.unpack(inputs, 1, n)))
    local s = 0
    for j = 1, #vals do s = s + w[j] * vals[j] end
    return s
  end
  local worst -- the failing element with the largest error / tolerance
  dnn.no_grad(function()
    for _, i in ipairs(checked) do
      local x = inputs[i]
      for k = 0, x:numel() - 1 do
        local e, idx = element(x, k)
        local orig = e:item()
        e:fill(orig + eps)
        local up = e:item()
        local fup = objective()
        e:fill(orig - eps)
        local down = e:item()
        local fdown = objective()
        e:fill(orig)
        local numeric = (fup - fdown) / (up - down)
        local a = analytic[i][k + 1] or 0
        local diff = math.abs(a - numeric)
        local tol = atol + rtol * math.abs(numeric)
        if diff > tol or diff ~= diff then
          local ratio = diff ~= diff and math.huge or diff / tol
          if not worst or ratio > worst.ratio then
            worst = {ratio = ratio, input = i, idx = idx, analytic = a, numeric = numeric, diff = diff, tol = tol}
          end
        end
      end
    end
  end)
  if worst then
    return false, ("gradcheck: input %d element {%s}: analytic %.6g vs numeric %.6g (difference %.3g > tolerance %.3g)")
      :format(worst.input, table.concat(worst.idx, ","), worst.analytic, worst.numeric, worst.diff, worst.tol)
  end
  return true
end

--- @module dnn.autograd Grad mode and the gradient checker
-- `no_grad`, `enable_grad`, `is_grad_enabled` and `set_grad_enabled` are
-- the functions of `dnn` of the same names.

--- dnn.autograd.gradcheck(fn, inputs[, options])
-- Compares the gradients `backward` gives for `fn(table.unpack(inputs))`
-- with central finite differences. Returns true, or false and a message
-- naming the input and element that differ most. `inputs` may be one tensor.
-- @option eps=0.001 the step of the finite differences
-- @option atol=0.001 absolute tolerance
-- @option rtol=0.01 relative tolerance
-- @example assert(dnn.autograd.gradcheck(function(x) return x:tanh() end, dnn.randn(3, {requires_grad = true})))

return M
