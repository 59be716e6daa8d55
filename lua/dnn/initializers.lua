-- dnn.initializers: Keras's weight initializers (keras/src/initializers/),
-- drawing from the dnn PRNG in C (core/src/init.c).
--
-- An initializer is called as init(tensor[, fan_in, fan_out]); it fills the
-- tensor in place and returns it. Fans default to Keras's compute_fans of
-- the tensor's shape (a conv kernel (kh, kw, in, out): kh*kw*in, kh*kw*out);
-- layers may pass both.
--
--   initializers.he_normal(t)                  -- by name, Keras's defaults
--   initializers.RandomNormal{stddev = 0.1}    -- an initializer object (callable)
--   initializers.random_normal{stddev = 0.1}   -- the same, by the snake_case name
--   initializers.constant(0.5)                 -- Constant{value = 0.5}
--   initializers.get("glorot_uniform", "Dense") -- a name, a function or an object
local dnn = require "dnn"
local C = require("dnn.core")._nn
local args_and_options = require("dnn.layer").args_and_options
local strict = require "dnn.options"

local initializers = {}

-- Keras's compute_fans.
function initializers.compute_fans(shape)
  return C.compute_fans(shape)
end

local function fans(t, fan_in, fan_out)
  if fan_in and fan_out then return fan_in, fan_out end
  return C.compute_fans(t.shape)
end

-- Fills t under no_grad: a weight that already requires grad may be
-- re-initialized too.
local function fill(fn)
  return function(t, ...)
    if not dnn.is_tensor(t) then error("initializer: expected a tensor to fill, got " .. strict.describe(t), 3) end
    local args = table.pack(...)
    dnn.no_grad(function() fn(t, table.unpack(args, 1, args.n)) end)
    return t
  end
end

local Initializer = {}
Initializer.__index = Initializer
initializers.Initializer = Initializer

function Initializer:__tostring()
  return self.class_name .. "()"
end

-- A class by Keras's name (RandomNormal) with its arguments {name, default}
-- in positional order, and the snake_case name (random_normal) that gives an
-- initializer object when called with options and fills a tensor (with the
-- defaults) when called with one.
local snake_names = {}
-- Every number an initializer takes is finite; these have a range too.
local number_rules = {stddev = {min = 0}, scale = {above = 0}}

local function class(class_name, snake, args, draw)
  local cls = setmetatable({class_name = class_name}, {__index = Initializer})
  cls.__index = cls
  cls.__tostring = Initializer.__tostring
  local known = {}
  for _, a in ipairs(args) do known[#known + 1] = a[1] end
  cls.__call = function(self, t, fan_in, fan_out)
    if not dnn.is_tensor(t) then error(class_name .. ": expected a tensor to fill, got " .. strict.describe(t), 2) end
    return fill(function(x, fi, fo) draw(self, x, fi, fo) end)(t, fans(t, fan_in, fan_out))
  end
  cls.new = function(...)
    local positional, options = args_and_options(...)
    local self = setmetatable({}, cls)
    if #positional > #args then
      error(string.format("%s: expected at most %d arguments, got %d (call it on a tensor to fill one)", class_name,
        #args, #positional), 3)
    end
    if options.seed ~= nil then -- one PRNG stream for all of dnn: a per-initializer seed would be silently ignored
      error(class_name .. ": no per-initializer seed; draws follow dnn.manual_seed(seed)", 3)
    end
    strict.check(class_name, options, known)
    for i, a in ipairs(args) do
      local v = options[a[1]]
      if v == nil then v = positional[i] end
      if v == nil then v = a[2] end
      if type(v) ~= type(a[2]) then
        error(string.format("%s: expected %s to be a %s, got %s", class_name, a[1], type(a[2]), strict.describe(v)), 3)
      end
      if type(v) == "number" then strict.check_number(class_name, a[1], v, number_rules[a[1]] or {}, 3) end
      self[a[1]] = v
    end
    if self.minval and self.minval > self.maxval then
      error(string.format("%s: expected minval <= maxval, got %s and %s", class_name, self.minval, self.maxval), 3)
    end
    if self.check then self:check() end
    return self
  end
  setmetatable(cls, {__index = Initializer, __call = function(_, ...) return cls.new(...) end})
  local default = cls.new()
  initializers[class_name] = cls
  initializers[snake] = function(first, ...)
    if dnn.is_tensor(first) then return default(first, ...) end
    return cls.new(first, ...)
  end
  snake_names[snake] = true
  return cls
end

class("Zeros", "zeros", {}, function(_, t) C.init(t, "constant", 0) end)
class("Ones", "ones", {}, function(_, t) C.init(t, "constant", 1) end)
class("Constant", "constant", {{"value", 0.0}}, function(self, t) C.init(t, "constant", self.value) end)
class("RandomNormal", "random_normal", {{"mean", 0.0}, {"stddev", 0.05}},
  function(self, t) C.init(t, "normal", self.mean, self.stddev) end)
class("RandomUniform", "random_uniform", {{"minval", -0.05}, {"maxval", 0.05}},
  function(self, t) C.init(t, "uniform", self.minval, self.maxval) end)
class("TruncatedNormal", "truncated_normal", {{"mean", 0.0}, {"stddev", 0.05}},
  function(self, t) C.init(t, "truncated_normal", self.mean, self.stddev) end)

local function draw_scaled(self, t, fan_in, fan_out)
  C.init(t, "variance_scaling", self.scale, self.mode, self.distribution, fan_in, fan_out)
end

local VarianceScaling = class("VarianceScaling", "variance_scaling",
  {{"scale", 1.0}, {"mode", "fan_in"}, {"distribution", "truncated_normal"}}, draw_scaled)

local modes = {fan_in = true, fan_out = true, fan_avg = true}
local distributions = {truncated_normal = true, untruncated_normal = true, uniform = true, normal = true}
function VarianceScaling:check()
  if not (self.scale > 0) then error("VarianceScaling: expected scale > 0, got " .. self.scale, 4) end
  if not modes[self.mode] then
    error("VarianceScaling: expected mode fan_in, fan_out or fan_avg, got '" .. self.mode .. "'", 4)
  end
  if not distributions[self.distribution] then
    error("VarianceScaling: expected distribution truncated_normal, untruncated_normal or uniform, got '"
      .. self.distribution .. "'", 4)
  end
  if self.distribution == "normal" then self.distribution = "truncated_normal" end -- Keras's alias
end

-- The VarianceScaling family with fixed scale, mode and distribution.
local function scaled(class_name, snake, scale, mode, distribution)
  class(class_name, snake, {}, function(_, t, fan_in, fan_out)
    draw_scaled({scale = scale, mode = mode, distribution = distribution}, t, fan_in, fan_out)
  end)
end
scaled("GlorotNormal", "glorot_normal", 1.0, "fan_avg", "truncated_normal")
scaled("GlorotUniform", "glorot_uniform", 1.0, "fan_avg", "uniform")
scaled("HeNormal", "he_normal", 2.0, "fan_in", "truncated_normal")
scaled("HeUniform", "he_uniform", 2.0, "fan_in", "uniform")
scaled("LecunNormal", "lecun_normal", 1.0, "fan_in", "truncated_normal")
scaled("LecunUniform", "lecun_uniform", 1.0, "fan_in", "uniform")

class("Orthogonal", "orthogonal", {{"gain", 1.0}}, function(self, t) C.init(t, "orthogonal", self.gain) end)

-- Keras's short aliases for the random initializers.
for alias, snake in pairs({uniform = "random_uniform", normal = "random_normal"}) do
  initializers[alias] = initializers[snake]
  snake_names[alias] = true
end

local function valid_names()
  local list = {}
  for name in pairs(snake_names) do list[#list + 1] = name end
  table.sort(list)
  return list
end

-- An initializer from a name (snake_case or Keras's class name), a function
-- (tensor, fan_in, fan_out) or an initializer object; `what` names the
-- caller in errors ("Dense").
function initializers.get(spec, what)
  if type(spec) == "function" then return spec end
  if type(spec) == "table" and rawget(spec, "new") then return spec.new() end -- a class: its defaults
  if type(spec) == "table" and getmetatable(spec) and getmetatable(spec).__call then return spec end
  if type(spec) == "string" then
    if snake_names[spec] then return initializers[spec] end
    local cls = rawget(initializers, spec)
    if type(cls) == "table" and cls.new then return cls.new() end
  end
  error(string.format("%s: %s", what or "initializers.get",
    strict.unknown_name("initializer", spec, valid_names(), "a function or an initializer object")), 3)
end


-- ---- reference ----

--- @module dnn.initializers Weight initializers (Keras's)
-- An initializer fills a tensor in place: `init(t[, fan_in, fan_out])`,
-- returning it; fans default to Keras's `compute_fans` of the shape. Each
-- class (`RandomNormal`) has a snake_case name (`random_normal`): called with
-- a tensor it fills it with the defaults, called with options it makes an
-- initializer. Layers take either, or the name as a string. Kernels default
-- to `"glorot_uniform"`, biases to `"zeros"`.

--- dnn.initializers.Initializer
-- The base of the initializer classes.
-- @example print(dnn.initializers.HeNormal().class_name)

--- dnn.initializers.Zeros()
-- Fills with 0.
-- @alias dnn.initializers.zeros
-- @example dnn.initializers.zeros(t)

--- dnn.initializers.Ones()
-- Fills with 1.
-- @alias dnn.initializers.ones
-- @example dnn.initializers.ones(t)

--- dnn.initializers.Constant([value])
-- Fills with `value`; `constant(0.5)` is `Constant{value = 0.5}`.
-- @option value=0.0 the value
-- @alias dnn.initializers.constant
-- @example local init = dnn.initializers.constant(0.5)

--- dnn.initializers.RandomNormal([options])
-- Normal draws.
-- @option mean=0.0 the mean
-- @option stddev=0.05 the standard deviation
-- @alias dnn.initializers.random_normal, dnn.initializers.normal
-- @example local init = dnn.initializers.RandomNormal{stddev = 0.1}

--- dnn.initializers.RandomUniform([options])
-- Uniform draws in [minval, maxval].
-- @option minval=-0.05 the lower bound
-- @option maxval=0.05 the upper bound
-- @alias dnn.initializers.random_uniform, dnn.initializers.uniform
-- @example local init = dnn.initializers.random_uniform{minval = -0.1, maxval = 0.1}

--- dnn.initializers.TruncatedNormal([options])
-- Normal draws, redrawn beyond two standard deviations.
-- @option mean=0.0 the mean
-- @option stddev=0.05 the standard deviation
-- @alias dnn.initializers.truncated_normal
-- @example local init = dnn.initializers.TruncatedNormal{stddev = 0.02}

--- dnn.initializers.VarianceScaling([options])
-- Draws with variance `scale / n`, n the fan chosen by `mode`.
-- @option scale=1.0 the scale (> 0)
-- @option mode="fan_in" `"fan_in"`, `"fan_out"` or `"fan_avg"`
-- @option distribution="truncated_normal" `"truncated_normal"`, `"untruncated_normal"` or `"uniform"`
-- @alias dnn.initializers.variance_scaling
-- @example local init = dnn.initializers.VarianceScaling{scale = 2, mode = "fan_in"}

--- dnn.initializers.GlorotNormal()
-- VarianceScaling with scale 1, fan_avg, truncated normal (Xavier).
-- @alias dnn.initializers.glorot_normal
-- @example nn.Dense(64, {kernel_initializer = "glorot_normal"})

--- dnn.initializers.GlorotUniform()
-- VarianceScaling with scale 1, fan_avg, uniform: the kernels' default.
-- @alias dnn.initializers.glorot_uniform
-- @example dnn.initializers.glorot_uniform(w)

--- dnn.initializers.HeNormal()
-- VarianceScaling with scale 2, fan_in, truncated normal (for ReLU).
-- @alias dnn.initializers.he_normal
-- @example nn.Conv2D(32, 3, {kernel_initializer = "he_normal"})

--- dnn.initializers.HeUniform()
-- VarianceScaling with scale 2, fan_in, uniform.
-- @alias dnn.initializers.he_uniform
-- @example dnn.initializers.he_uniform(w)

--- dnn.initializers.LecunNormal()
-- VarianceScaling with scale 1, fan_in, truncated normal (for SELU).
-- @alias dnn.initializers.lecun_normal
-- @example nn.Dense(64, {activation = "selu", kernel_initializer = "lecun_normal"})

--- dnn.initializers.LecunUniform()
-- VarianceScaling with scale 1, fan_in, uniform.
-- @alias dnn.initializers.lecun_uniform
-- @example dnn.initializers.lecun_uniform(w)

--- dnn.initializers.Orthogonal([options])
-- A (semi-)orthogonal matrix of the tensor's last dim against the rest, times `gain`.
-- @option gain=1.0 the factor
-- @alias dnn.initializers.orthogonal
-- @example local init = dnn.initializers.Orthogonal{gain = 1}

--- dnn.initializers.get(spec[, who])
-- An initializer from a name (snake_case or class name), a function `(t, fan_in, fan_out)` or an object.
-- @example local init = dnn.initializers.get("he_normal")

--- dnn.initializers.compute_fans(shape)
-- Keras's fans of a weight shape: a conv kernel `(kh, kw, in, out)` gives `kh*kw*in, kh*kw*out`.
-- @example local fan_in, fan_out = dnn.initializers.compute_fans{3, 3, 16, 32}

return initializers
