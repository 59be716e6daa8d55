-- dnn.regularizers: Keras's weight regularizers. Each is a callable object
-- reg(tensor) -> a 0-d loss tensor built from differentiable tensor ops, so
-- its gradient flows into the weight:
--   l1(0.01):  0.01 * sum(|x|)
--   l2(0.01):  0.01 * sum(x^2)        (no 1/2, as Keras)
--   l1_l2{l1 = 0.01, l2 = 0.01}: both
-- Layers take them as kernel_regularizer / bias_regularizer /
-- activity_regularizer, by object or by name ("l1", "l2", "l1_l2").
local dnn = require "dnn"
local args_and_options = require("dnn.layer").args_and_options
local strict = require "dnn.options"

local regularizers = {}

local Regularizer = {}
Regularizer.__index = Regularizer
regularizers.Regularizer = Regularizer

function Regularizer:__call(x)
  if not dnn.is_tensor(x) then
    error(string.format("%s: expected a tensor, got %s", self.class_name, strict.describe(x)), 2)
  end
  local loss
  if self.l1 ~= 0 then loss = x:abs():sum() * self.l1 end
  if self.l2 ~= 0 then
    local l2 = (x * x):sum() * self.l2
    loss = loss and loss + l2 or l2
  end
  return loss or (x:sum() * 0)
end

function Regularizer:__tostring()
  return string.format("%s(l1=%g, l2=%g)", self.class_name, self.l1, self.l2)
end

-- Keras's get_config, for saving a layer's configuration.
function Regularizer:get_config()
  if self.class_name == "L1" then return {l1 = self.l1} end
  if self.class_name == "L2" then return {l2 = self.l2} end
  return {l1 = self.l1, l2 = self.l2}
end

local function strength(class_name, key, v)
  return strict.check_number(class_name, key, v, {min = 0}, 4)
end

local function make(class_name, l1, l2)
  return setmetatable({class_name = class_name, l1 = l1, l2 = l2}, Regularizer)
end

-- l1(0.01) or l1{l1 = 0.01}; Keras's default 0.01.
function regularizers.L1(...)
  local args, options = args_and_options(...)
  strict.check("L1", options, {"l1"})
  local v = options.l1 or args[1] or 0.01
  return make("L1", strength("L1", "l1", v), 0)
end

-- l2(0.01) or l2{l2 = 0.01}; Keras's default 0.01.
function regularizers.L2(...)
  local args, options = args_and_options(...)
  strict.check("L2", options, {"l2"})
  local v = options.l2 or args[1] or 0.01
  return make("L2", 0, strength("L2", "l2", v))
end

-- l1_l2{l1 = ..., l2 = ...} or l1_l2(l1, l2); Keras 3's defaults are 0 for both
-- (get("l1_l2") is therefore a regularizer that adds nothing, as in Keras).
function regularizers.L1L2(...)
  local args, options = args_and_options(...)
  strict.check("L1L2", options, {"l1", "l2"})
  local l1 = options.l1 or args[1] or 0
  local l2 = options.l2 or args[2] or 0
  return make("L1L2", strength("L1L2", "l1", l1), strength("L1L2", "l2", l2))
end

regularizers.l1, regularizers.l2, regularizers.l1_l2 = regularizers.L1, regularizers.L2, regularizers.L1L2

local by_name = {l1 = regularizers.L1, l2 = regularizers.L2, l1_l2 = regularizers.L1L2, L1 = regularizers.L1,
                 L2 = regularizers.L2, L1L2 = regularizers.L1L2}

-- A regularizer from nil (nil), a name ("l1", "l2", "l1_l2", with Keras's
-- defaults), a function (tensor) -> 0-d tensor, or a regularizer object.
function regularizers.get(spec)
  if spec == nil then return nil end
  if type(spec) == "function" then return spec end
  if type(spec) == "table" and getmetatable(spec) and getmetatable(spec).__call then return spec end
  if type(spec) == "string" and by_name[spec] then return by_name[spec]() end
  strict.raise(strict.unknown_name("regularizer", spec, {"l1", "l2", "l1_l2"}, "a function or a regularizer object"))
end


-- ---- reference ----

--- @module dnn.regularizers Weight regularizers (Keras's)
-- A regularizer is a callable object: `reg(t)` is a 0-d loss tensor added
-- to the training loss. Layers take them as `kernel_regularizer`,
-- `bias_regularizer`, `activity_regularizer`, by object or by name
-- (`"l1"`, `"l2"`, `"l1_l2"`).

--- dnn.regularizers.Regularizer
-- The base of the regularizers.
-- @example local r = dnn.regularizers.l2(0.01); print(r)

--- dnn.regularizers.Regularizer:get_config()
-- Its arguments (`{l1 = ..., l2 = ...}`), as Keras's.
-- @example local cfg = dnn.regularizers.l2(0.01):get_config()

--- dnn.regularizers.L1([l1])
-- `l1 * sum(|x|)`; also `l1{l1 = 0.01}`.
-- @param l1 the factor, default 0.01
-- @alias dnn.regularizers.l1
-- @example nn.Dense(64, {kernel_regularizer = dnn.regularizers.l1(0.01)})

--- dnn.regularizers.L2([l2])
-- `l2 * sum(x^2)` (no 1/2, as Keras); also `l2{l2 = 0.01}`.
-- @param l2 the factor, default 0.01
-- @alias dnn.regularizers.l2
-- @example nn.Dense(64, {kernel_regularizer = dnn.regularizers.l2(0.01)})

--- dnn.regularizers.L1L2([options])
-- Both penalties; also `l1_l2(l1, l2)`.
-- @option l1=0 the L1 factor
-- @option l2=0 the L2 factor
-- @alias dnn.regularizers.l1_l2
-- @example local r = dnn.regularizers.l1_l2{l1 = 1e-5, l2 = 1e-4}

--- dnn.regularizers.get(spec)
-- A regularizer from nil (nil), a name (Keras's defaults), a function `(t) -> 0-d tensor` or an object.
-- @example local r = dnn.regularizers.get("l2")

return regularizers
