-- dnn.optim.schedules: Keras's learning rate schedules
-- (keras/src/optimizers/schedules/learning_rate_schedule.py), callable
-- objects of the step (the optimizer's 0-based iteration count):
--
--   local lr = dnn.optim.schedules.ExponentialDecay{initial_learning_rate = 0.1, decay_steps = 1000,
--                                                   decay_rate = 0.96}
--   lr(0) --> 0.1;  dnn.optim.SGD{learning_rate = lr}
local args_and_options = require("dnn.layer").args_and_options
local strict = require "dnn.options"

local schedules = {}

local Schedule = {}
Schedule.__index = Schedule
schedules.LearningRateSchedule = Schedule

function Schedule:__tostring()
  return self.name .. "()"
end

-- Its Keras arguments by name (what a model file keeps; cls(config) remakes it).
function Schedule:get_config()
  local config = {}
  for _, a in ipairs(getmetatable(self).args) do config[a[1]] = self[a[1]] end
  return config
end

-- Whether v is a schedule of one of these classes (one a model file can name).
function schedules.is_schedule(v)
  local cls = type(v) == "table" and getmetatable(v)
  return cls ~= nil and cls ~= false and type(cls.name) == "string" and schedules[cls.name] == cls
end

-- The range of each number a schedule takes: a rate stays finite and >= 0.
local rules = {
  initial_learning_rate = {min = 0}, decay_steps = {above = 0}, decay_rate = {min = 0},
  end_learning_rate = {min = 0}, power = {}, alpha = {min = 0, max = 1}, warmup_target = {min = 0},
  warmup_steps = {min = 0},
}

-- A schedule class: args are its Keras arguments in positional order, each
-- {name, default}; a nil default makes the argument required.
local function class(name, args, call)
  local cls = setmetatable({name = name, args = args, __call = call, __tostring = Schedule.__tostring},
    {__index = Schedule})
  cls.__index = cls
  local known = {"name"}
  for _, a in ipairs(args) do known[#known + 1] = a[1] end
  cls.new = function(...)
    local positional, options = args_and_options(...)
    strict.check(name, options, known)
    local self = setmetatable({}, cls)
    for i, a in ipairs(args) do
      local key, default = a[1], a[2]
      local v = options[key]
      if v == nil then v = positional[i] end
      if v == nil then v = default end
      if v == nil and not a.optional then
        error(string.format("%s: missing argument '%s'", name, key), 3)
      end
      self[key] = v
    end
    for _, a in ipairs(args) do
      local key, v = a[1], self[a[1]]
      if v ~= nil and rules[key] then strict.check_number(name, key, v, rules[key]) end
      if v ~= nil and type(a[2]) == "boolean" then strict.check_boolean(name, key, v) end
    end
    return self
  end
  getmetatable(cls).__call = function(_, ...) return cls.new(...) end
  schedules[name] = cls
  return cls
end

local function check_step(self, step)
  if type(step) ~= "number" then
    error(string.format("%s: expected a step number, got %s", self.name, strict.describe(step)), 3)
  end
end

-- initial_learning_rate * decay_rate ^ (step / decay_steps), the exponent floored when staircase.
class("ExponentialDecay",
  {{"initial_learning_rate"}, {"decay_steps"}, {"decay_rate"}, {"staircase", false}},
  function(self, step)
    check_step(self, step)
    local p = step / self.decay_steps
    if self.staircase then p = math.floor(p) end
    return self.initial_learning_rate * self.decay_rate ^ p
  end)

-- values[1] while step <= boundaries[1], values[i + 1] while boundaries[i] < step <= boundaries[i + 1], ...
local Piecewise = class("PiecewiseConstantDecay", {{"boundaries"}, {"values"}}, function(self, step)
  check_step(self, step)
  for i, b in ipairs(self.boundaries) do
    if step <= b then return self.values[i] end
  end
  return self.values[#self.values]
end)

local piecewise_new = Piecewise.new
function Piecewise.new(...)
  local self = piecewise_new(...)
  if type(self.boundaries) ~= "table" or type(self.values) ~= "table" or #self.boundaries ~= #self.values - 1 then
    error(string.format("PiecewiseConstantDecay: expected one more value than boundaries, got %d boundaries and "
      .. "%d values", type(self.boundaries) == "table" and #self.boundaries or 0,
      type(self.values) == "table" and #self.values or 0), 2)
  end
  for i, b in ipairs(self.boundaries) do
    strict.check_number("PiecewiseConstantDecay", string.format("boundaries[%d]", i), b,
      i > 1 and {above = self.boundaries[i - 1]} or {})
  end
  for i, v in ipairs(self.values) do
    strict.check_number("PiecewiseConstantDecay", string.format("values[%d]", i), v, {min = 0})
  end
  return self
end
getmetatable(Piecewise).__call = function(_, ...) return Piecewise.new(...) end

-- step = min(step, decay_steps) (cycle: decay_steps * ceil(step / decay_steps), 1 at step 0);
-- (initial - end) * (1 - step / decay_steps) ^ power + end
class("PolynomialDecay",
  {{"initial_learning_rate"}, {"decay_steps"}, {"end_learning_rate", 0.0001}, {"power", 1.0}, {"cycle", false}},
  function(self, step)
    check_step(self, step)
    local decay_steps = self.decay_steps
    if self.cycle then
      decay_steps = decay_steps * (step == 0 and 1 or math.ceil(step / decay_steps))
    else
      step = math.min(step, decay_steps)
    end
    local p = step / decay_steps
    return (self.initial_learning_rate - self.end_learning_rate) * (1 - p) ^ self.power + self.end_learning_rate
  end)

-- initial_learning_rate / (1 + decay_rate * step / decay_steps), the quotient floored when staircase.
class("InverseTimeDecay",
  {{"initial_learning_rate"}, {"decay_steps"}, {"decay_rate"}, {"staircase", false}},
  function(self, step)
    check_step(self, step)
    local p = step / self.decay_steps
    if self.staircase then p = math.floor(p) end
    return self.initial_learning_rate / (1 + self.decay_rate * p)
  end)

-- Without warmup_target: initial * ((1 - alpha) * 0.5 (1 + cos(pi min(step, decay_steps) / decay_steps)) + alpha).
-- With it: a linear ramp from initial to warmup_target over warmup_steps, then that cosine decay from
-- warmup_target over decay_steps (step counted from the end of the warmup).
class("CosineDecay",
  {{"initial_learning_rate"}, {"decay_steps"}, {"alpha", 0.0}, {"warmup_target", optional = true},
   {"warmup_steps", 0}},
  function(self, step)
    check_step(self, step)
    local function decayed(s, from)
      local cosine = 0.5 * (1 + math.cos(math.pi * s / self.decay_steps))
      return from * ((1 - self.alpha) * cosine + self.alpha)
    end
    if self.warmup_target == nil then
      return decayed(math.min(step, self.decay_steps), self.initial_learning_rate)
    end
    step = math.min(step, self.decay_steps + self.warmup_steps)
    if step < self.warmup_steps then
      return (self.warmup_target - self.initial_learning_rate) * (step / self.warmup_steps)
        + self.initial_learning_rate
    end
    return decayed(step - self.warmup_steps, self.warmup_target)
  end)


-- ---- reference ----

--- @module dnn.optim.schedules Learning-rate schedules (Keras's)
-- A schedule is a callable object of the optimizer's 0-based step; pass it
-- as `learning_rate`. Model files keep it (its class and arguments).
-- Its numbers must be finite: rates >= 0, `decay_steps` > 0, `decay_rate`
-- >= 0, `alpha` in [0, 1], boundaries increasing.

--- dnn.optim.schedules.LearningRateSchedule
-- The base of the schedules.
-- @example print(getmetatable(lr).name)

--- dnn.optim.schedules.LearningRateSchedule:get_config()
-- The schedule's Keras arguments by name (what a model file keeps).
-- @example local cfg = lr:get_config()

--- dnn.optim.schedules.ExponentialDecay{initial_learning_rate, decay_steps, decay_rate[, staircase]}
-- `initial_learning_rate * decay_rate ^ (step / decay_steps)`, the exponent floored when `staircase`.
-- @option initial_learning_rate the rate at step 0
-- @option decay_steps the steps per decay period (> 0)
-- @option decay_rate the factor per period
-- @option staircase=false decay in steps
-- @example local lr = dnn.optim.schedules.ExponentialDecay{initial_learning_rate = 0.1, decay_steps = 1000, decay_rate = 0.96}

--- dnn.optim.schedules.PiecewiseConstantDecay{boundaries, values}
-- `values[1]` while step <= `boundaries[1]`, `values[i + 1]` while `boundaries[i]` < step <= `boundaries[i + 1]`, ...
-- @option boundaries increasing steps
-- @option values one more rate than boundaries
-- @example local lr = dnn.optim.schedules.PiecewiseConstantDecay{boundaries = {1000}, values = {0.1, 0.01}}

--- dnn.optim.schedules.PolynomialDecay{initial_learning_rate, decay_steps[, end_learning_rate, power, cycle]}
-- `(initial - end) * (1 - step / decay_steps) ^ power + end`, step capped at `decay_steps` (or cycled).
-- @option initial_learning_rate the rate at step 0
-- @option decay_steps the steps to reach the end rate
-- @option end_learning_rate=0.0001 the final rate
-- @option power=1.0 the polynomial's power
-- @option cycle=false restart after decay_steps (with a longer period)
-- @example local lr = dnn.optim.schedules.PolynomialDecay{initial_learning_rate = 0.1, decay_steps = 500}

--- dnn.optim.schedules.InverseTimeDecay{initial_learning_rate, decay_steps, decay_rate[, staircase]}
-- `initial_learning_rate / (1 + decay_rate * step / decay_steps)`, the quotient floored when `staircase`.
-- @option initial_learning_rate the rate at step 0
-- @option decay_steps the steps per period
-- @option decay_rate the decay per period
-- @option staircase=false decay in steps
-- @example local lr = dnn.optim.schedules.InverseTimeDecay{initial_learning_rate = 0.1, decay_steps = 100, decay_rate = 0.5}

--- dnn.optim.schedules.CosineDecay{initial_learning_rate, decay_steps[, alpha, warmup_target, warmup_steps]}
-- Cosine decay from the initial rate to `alpha` times it over `decay_steps`;
-- with `warmup_target`, first a linear ramp to it over `warmup_steps`.
-- @option initial_learning_rate the rate at step 0
-- @option decay_steps the steps of the decay
-- @option alpha=0.0 the final rate as a fraction of the initial
-- @option warmup_target=nil the rate reached at the end of the warmup
-- @option warmup_steps=0 the steps of the warmup
-- @example local lr = dnn.optim.schedules.CosineDecay{initial_learning_rate = 0.1, decay_steps = 1000}

return schedules
