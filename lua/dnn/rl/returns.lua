-- Discounted returns and generalized advantage estimation (Schulman et al.
-- 2016), computed backwards over time in Lua numbers. Sequences are Lua
-- arrays or tensors of T values, or (T, N) tensors of N environments side by
-- side; a done flag after step t cuts the sum there (nothing bootstrapped
-- past the end of an episode).
local dnn = require "dnn"
local options = require "dnn.options"

local M = {}

local function raise(fn, fmt, ...) options.raise(fn .. ": " .. string.format(fmt, ...)) end

-- A (T, N) Lua table of numbers from a Lua array (N = 1), a 1-d tensor
-- (N = 1) or a 2-d tensor; returns rows, T, N and whether it was 1-d.
local function as_rows(fn, name, v)
  if dnn.is_tensor(v) then
    if v.ndim == 1 then v = v:totable()
    elseif v.ndim == 2 then
      local rows = v:totable()
      return rows, #rows, v.shape[2], false
    else
      raise(fn, "expected %s a 1-d or 2-d tensor, got a %d-d tensor", name, v.ndim)
    end
  end
  if type(v) ~= "table" or #v == 0 then
    raise(fn, "expected %s a non-empty array of numbers or a tensor, got %s", name, options.describe(v))
  end
  local rows = {}
  for t, x in ipairs(v) do
    if type(x) == "boolean" then x = x and 1 or 0 end
    if type(x) ~= "number" then raise(fn, "expected numbers in %s, got %s at [%d]", name, options.describe(x), t) end
    rows[t] = {x}
  end
  return rows, #rows, 1, true
end

local function same_shape(fn, name, v, T, N)
  local rows, t2, n2 = as_rows(fn, name, v)
  if t2 ~= T or n2 ~= N then
    raise(fn, "expected %s of the rewards' shape (%d steps x %d), got %d x %d", name, T, N, t2, n2)
  end
  return rows
end

-- The value after the last step per environment: a number, an array or a tensor of N.
local function bootstrap_values(fn, v, N)
  local out = {}
  if v == nil or type(v) == "number" then
    for j = 1, N do out[j] = v or 0 end
    return out
  end
  local vals = dnn.is_tensor(v) and v:reshape(-1):totable() or v
  if type(vals) ~= "table" or #vals ~= N then
    raise(fn, "expected the bootstrap value a number or %d values, got %s", N, options.describe(v))
  end
  return vals
end

local function check_rate(fn, name, v)
  if type(v) ~= "number" or v < 0 or v > 1 then
    raise(fn, "expected %s a number in [0, 1], got %s", name, options.describe(v))
  end
end

local function result(rows, one_d)
  if one_d then
    local flat = {}
    for t, r in ipairs(rows) do flat[t] = r[1] end
    return dnn.tensor(flat)
  end
  return dnn.tensor(rows)
end

-- discounted_returns(rewards, gamma[, {dones, bootstrap}]): G_t = r_t + gamma G_{t+1} (1 - done_t),
-- G_T = bootstrap.
function M.discounted_returns(rewards, gamma, opts)
  local fn = "dnn.rl.discounted_returns"
  local r, T, N, one_d = as_rows(fn, "rewards (argument 1)", rewards)
  check_rate(fn, "gamma (argument 2)", gamma)
  opts = options.check(fn, opts, {"dones", "bootstrap"})
  local d = opts.dones and same_shape(fn, "dones", opts.dones, T, N)
  local g = bootstrap_values(fn, opts.bootstrap, N)
  local out = {}
  for t = T, 1, -1 do
    local row = {}
    for j = 1, N do
      local cont = d and (1 - d[t][j]) or 1
      g[j] = r[t][j] + gamma * g[j] * cont
      row[j] = g[j]
    end
    out[t] = row
  end
  return result(out, one_d)
end

-- gae(rewards, values, gamma, lambda[, {dones, next_value}]):
--   delta_t = r_t + gamma V_{t+1} (1 - done_t) - V_t
--   A_t = delta_t + gamma lambda (1 - done_t) A_{t+1}
-- with V_{T+1} = next_value. Returns the advantages and the returns A + V.
function M.gae(rewards, values, gamma, lambda, opts)
  local fn = "dnn.rl.gae"
  local r, T, N, one_d = as_rows(fn, "rewards (argument 1)", rewards)
  local v = same_shape(fn, "values (argument 2)", values, T, N)
  check_rate(fn, "gamma (argument 3)", gamma)
  check_rate(fn, "lambda (argument 4)", lambda)
  opts = options.check(fn, opts, {"dones", "next_value"})
  local d = opts.dones and same_shape(fn, "dones", opts.dones, T, N)
  local next_v = bootstrap_values(fn, opts.next_value, N)
  local adv, ret, a = {}, {}, {}
  for j = 1, N do a[j] = 0 end
  for t = T, 1, -1 do
    local arow, rrow = {}, {}
    for j = 1, N do
      local cont = d and (1 - d[t][j]) or 1
      local delta = r[t][j] + gamma * next_v[j] * cont - v[t][j]
      a[j] = delta + gamma * lambda * cont * a[j]
      arow[j], rrow[j] = a[j], a[j] + v[t][j]
      next_v[j] = v[t][j]
    end
    adv[t], ret[t] = arow, rrow
  end
  return result(adv, one_d), result(ret, one_d)
end

return M
