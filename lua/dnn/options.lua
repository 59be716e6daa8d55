-- dnn.options: the checks every constructor makes on what it is given, so
-- that a misspelt option or name is an error that says what was meant,
-- never a setting silently ignored.
--
--   options.check("Dense", opts, {"activation", "use_bias"})
--     -> Dense: unknown option 'activaton' (did you mean 'activation'?)
--   options.describe("64")  -> "string '64'"    (for "expected ..., got %s")
--   options.unknown_name("optimizer", "adamm", {"adam", "sgd"})
--     -> "unknown optimizer 'adamm' (did you mean 'adam'? expected one of: adam, sgd)"
--   options.check_number("SGD", "learning_rate", 0/0, {min = 0})
--     -> SGD: learning_rate must be a finite number >= 0 (got nan)
local is_tensor = require("dnn.core").is_tensor

local M = {}

-- Raises msg at level (as error() counts from the caller of raise), or,
-- without a level, at the first caller outside dnn's own Lua files: the
-- user's line, however many library frames (wrappers, .new, __call) sit
-- between.
function M.raise(msg, level)
  if level then error(msg, level + 1) end
  level = 2
  while true do
    local info = debug.getinfo(level, "S")
    if not info then
      level = 1
      break
    end
    if info.what ~= "C" and info.source:sub(1, 5) ~= "@dnn/" then break end
    level = level + 1
  end
  error(msg, level)
end

-- The edit distance between a and b, an adjacent swap counting as one edit
-- (Damerau's optimal string alignment): "rleu" is one edit from "relu".
function M.distance(a, b)
  local la, lb = #a, #b
  local d = {}
  for i = 0, la do d[i] = {[0] = i} end
  for j = 0, lb do d[0][j] = j end
  for i = 1, la do
    for j = 1, lb do
      local cost = a:byte(i) == b:byte(j) and 0 or 1
      local v = math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
      if i > 1 and j > 1 and a:byte(i) == b:byte(j - 1) and a:byte(i - 1) == b:byte(j) then
        v = math.min(v, d[i - 2][j - 2] + 1)
      end
      d[i][j] = v
    end
  end
  return d[la][lb]
end

-- The candidate closest to name, or nil when none is close: at most
-- max(2, #name // 3) edits, and fewer edits than name has letters (so "lr"
-- never suggests an unrelated two-letter name). Ties go to the first in
-- candidates' order.
function M.did_you_mean(name, candidates)
  if type(name) ~= "string" then return nil end
  local limit = math.min(math.max(2, #name // 3), #name - 1)
  local best, best_d
  for _, c in ipairs(candidates) do
    local d = M.distance(name:lower(), tostring(c):lower())
    if d <= limit and (best_d == nil or d < best_d) then best, best_d = c, d end
  end
  return best
end

-- A short array of numbers (or of such arrays) as text, "{3, 0}" or
-- "{{1, 2}, {3, 4}}"; nil for anything longer, deeper or of other values.
local function short_array(t, depth)
  if getmetatable(t) ~= nil then return nil end
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  if n == 0 or n > 8 or n ~= #t then return nil end
  local parts = {}
  for i, x in ipairs(t) do
    if type(x) == "number" then
      parts[i] = tostring(x)
    elseif type(x) == "table" and depth < 2 then
      parts[i] = short_array(x, depth + 1)
    end
    if parts[i] == nil then return nil end
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

-- v for a message "expected ..., got <describe(v)>": its type and its
-- value, so "64" (a string) and 64 (a number) read differently.
function M.describe(v)
  local t = type(v)
  if t == "string" then
    if #v > 40 then v = v:sub(1, 37) .. "..." end
    return string.format("string '%s'", v)
  end
  if t == "number" then return "number " .. (v ~= v and "nan" or tostring(v)) end
  if t == "boolean" then return "boolean " .. tostring(v) end
  if is_tensor(v) then return string.format("tensor of shape (%s)", table.concat(v.shape, ", ")) end
  if t == "table" and getmetatable(v) and type(v.type_name) == "string" and type(v.name) == "string" then
    return string.format("%s '%s'", v.type_name, v.name) -- a layer or a model
  end
  if t == "table" then
    local text = short_array(v, 1)
    return text and ("table " .. text) or "table"
  end
  return t
end

-- ---- numbers: the one check every hyperparameter passes ----
-- A rule: {min = a} (>= a), {above = a} (> a), {max = b} (<= b), {below = b}
-- (< b), integer = true; every number must be finite.

-- "a finite number >= 0", "a finite number in [0, 1)", "an integer >= 1"
local function rule_text(rule)
  local kind = rule.integer and "an integer" or "a finite number"
  local lo, hi = rule.min or rule.above, rule.max or rule.below
  if lo and hi then
    return string.format("%s in %s%s, %s%s", kind, rule.min and "[" or "(", tostring(lo), tostring(hi),
      rule.max and "]" or ")")
  end
  if lo then return string.format("%s %s %s", kind, rule.min and ">=" or ">", tostring(lo)) end
  if hi then return string.format("%s %s %s", kind, rule.max and "<=" or "<", tostring(hi)) end
  return kind
end

local function fits(v, rule)
  if not M.is_finite(v) then return false end
  if rule.integer and v ~= math.floor(v) then return false end
  return not ((rule.min and v < rule.min) or (rule.above and v <= rule.above) or (rule.max and v > rule.max)
    or (rule.below and v >= rule.below))
end

-- v as it reads after "got": nan, inf, 2, string 'a'
local function shown(v)
  if type(v) ~= "number" then return M.describe(v) end
  if v ~= v then return "nan" end
  return tostring(v)
end

-- Whether v is a number other than nan and +-inf.
function M.is_finite(v)
  return type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge
end

-- v when it keeps rule, else "<fn>: <key> must be <rule> (got <v>)" (level
-- as in check; nil: the user's line).
function M.check_number(fn, key, v, rule, level)
  if not fits(v, rule) then
    M.raise(string.format("%s: %s must be %s (got %s)", fn, key, rule_text(rule), shown(v)), level and level + 1)
  end
  return v
end

-- check_number for each key of rules that values holds (nil passes).
function M.check_numbers(fn, values, rules, level)
  for key, rule in pairs(rules) do
    if values[key] ~= nil then M.check_number(fn, key, values[key], rule, level and level + 1) end
  end
end

-- v when it is a boolean, else "<fn>: <key> must be true or false (got <v>)".
function M.check_boolean(fn, key, v, level)
  if type(v) ~= "boolean" then
    M.raise(string.format("%s: %s must be true or false (got %s)", fn, key, shown(v)), level and level + 1)
  end
  return v
end

local function sorted(list)
  local out = {table.unpack(list)}
  table.sort(out, function(a, b) return tostring(a) < tostring(b) end)
  return out
end

-- The valid names as a list, from a list or a set ({name = true}).
local function as_list(valid)
  if valid[1] ~= nil or next(valid) == nil then return valid end
  local list = {}
  for k in pairs(valid) do list[#list + 1] = k end
  return list
end

-- "unknown <kind> '<name>' (did you mean '<closest>'? expected one of: a, b, c<also>)"
-- candidates are listed in the order given (activations in Keras's order);
-- also adds what else is accepted ("; or a function").
function M.unknown_name(kind, name, candidates, also)
  local shown = type(name) == "string" and string.format("'%s'", name) or M.describe(name)
  local guess = M.did_you_mean(name, candidates)
  local hint = guess and string.format("did you mean '%s'? ", guess) or ""
  local names = {}
  for i, c in ipairs(candidates) do names[i] = tostring(c) end
  return string.format("unknown %s %s (%sexpected one of: %s%s)", kind, shown, hint, table.concat(names, ", "),
    also and ("; or " .. also) or "")
end

-- The message for key k (with value v) of fn_name's options, valid the
-- sorted list of what it takes.
local function unknown_option(fn_name, k, v, valid)
  local listed = #valid > 0 and "valid options: " .. table.concat(valid, ", ") or "it takes no options"
  if type(k) ~= "string" then
    return string.format("%s: unexpected value %s at [%s] of the options (%s)", fn_name, M.describe(v), tostring(k),
      listed)
  end
  local guess = M.did_you_mean(k, valid)
  if guess then return string.format("%s: unknown option '%s' (did you mean '%s'?)", fn_name, k, guess) end
  return string.format("%s: unknown option '%s' (%s)", fn_name, k, listed)
end

-- Refuses any key of options that valid (a list or a set of names) does not
-- hold: "<fn_name>: unknown option 'x' (did you mean 'y'?)", or the sorted
-- valid options when none is close. nil options pass; options that are not
-- a table are refused. level as error() counts it from check's caller; nil:
-- the first caller outside dnn (see raise). Returns options (or {}).
function M.check(fn_name, options, valid, level)
  level = level and level + 1
  if options == nil then return {} end
  if type(options) ~= "table" then
    M.raise(string.format("%s: expected an options table, got %s", fn_name, M.describe(options)), level)
  end
  local list = as_list(valid)
  local set = {}
  for _, k in ipairs(list) do set[k] = true end
  for k, v in pairs(options) do
    if not set[k] then M.raise(unknown_option(fn_name, k, v, sorted(list)), level) end
  end
  return options
end

return M
