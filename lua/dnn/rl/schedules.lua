-- Exploration schedules: functions of the step number (1, 2, ...) giving
-- epsilon for epsilon-greedy acting (or any value to anneal).
local options = require "dnn.options"

local M = {}

local function check_number(fn, name, v)
  if type(v) ~= "number" or v ~= v or v == math.huge or v == -math.huge then
    options.raise(string.format("%s: expected %s a finite number, got %s", fn, name, options.describe(v)))
  end
  return v
end

local function checked_steps(fn, name, v)
  if math.type(v) ~= "integer" or v < 1 then
    options.raise(string.format("%s: expected %s a positive integer, got %s", fn, name, options.describe(v)))
  end
  return v
end

-- A schedule as a callable table that checks its step.
local function schedule(name, fields, value_at)
  fields.name = name
  return setmetatable(fields, {
    __call = function(self, step)
      if type(step) ~= "number" or step ~= step then
        options.raise(string.format("%s: expected a step number, got %s", name, options.describe(step)))
      end
      return value_at(self, step)
    end,
    __tostring = function(self) return string.format("%s(%g -> %g)", name, self.start, self.stop) end,
  })
end

-- linear_schedule{start = 1, stop = 0.05, steps}: from start at step 0 to
-- stop at step `steps`, then stop.
function M.linear_schedule(opts)
  local fn = "dnn.rl.linear_schedule"
  opts = options.check(fn, opts, {"start", "stop", "steps"})
  local start = check_number(fn, "start", opts.start == nil and 1 or opts.start)
  local stop = check_number(fn, "stop", opts.stop == nil and 0.05 or opts.stop)
  local steps = checked_steps(fn, "steps", opts.steps)
  return schedule(fn, {start = start, stop = stop, steps = steps}, function(self, step)
    local frac = math.max(step / self.steps, 0)
    if frac >= 1 then return self.stop end
    return self.start + (self.stop - self.start) * frac
  end)
end

-- exponential_schedule{start = 1, stop = 0.05, decay}: stop + (start - stop) * decay^step.
function M.exponential_schedule(opts)
  local fn = "dnn.rl.exponential_schedule"
  opts = options.check(fn, opts, {"start", "stop", "decay"})
  local start = check_number(fn, "start", opts.start == nil and 1 or opts.start)
  local stop = check_number(fn, "stop", opts.stop == nil and 0.05 or opts.stop)
  local decay = check_number(fn, "decay", opts.decay)
  if decay <= 0 or decay > 1 then
    options.raise(string.format("%s: expected decay in (0, 1], got %s", fn, options.describe(decay)))
  end
  return schedule(fn, {start = start, stop = stop, decay = decay}, function(self, step)
    return self.stop + (self.start - self.stop) * self.decay ^ math.max(step, 0)
  end)
end

return M
