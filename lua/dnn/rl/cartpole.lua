-- dnn.rl.CartPole: Gym's CartPole-v1 (Barto, Sutton and Anderson's cart and
-- pole) in plain Lua, in float64 like Gym's Python floats:
--   local env = dnn.rl.CartPole{seed = 1}
--   local obs = env:reset()
--   obs, reward, terminated, truncated = env:step(2)   -- 1 push left, 2 push right
-- The physics, thresholds, reward and time limit are gym/envs/classic_control/
-- cartpole.py's with the TimeLimit(500) wrapper of CartPole-v1; the initial
-- state is uniform in [-0.05, 0.05]^4 as Gym's, drawn from dnn's seedable
-- generator (so a seed gives other starts than Gym's NumPy generator).
local dnn = require "dnn"
local options = require "dnn.options"

local CartPole = {}
CartPole.__index = CartPole

-- Gym's constants.
local GRAVITY, MASSCART, MASSPOLE = 9.8, 1.0, 0.1
local TOTAL_MASS = MASSPOLE + MASSCART
local LENGTH = 0.5 -- half the pole's length
local POLEMASS_LENGTH = MASSPOLE * LENGTH
local FORCE_MAG, TAU = 10.0, 0.02
local THETA_THRESHOLD = 12 * 2 * math.pi / 360
local X_THRESHOLD = 2.4

CartPole.observation_size = 4
CartPole.action_count = 2

local function raise(fn, fmt, ...) options.raise(fn .. ": " .. string.format(fmt, ...)) end

-- A generator state of the env's own, seeded as dnn.manual_seed(seed) seeds
-- the global one, without moving the global stream.
local function seeded_state(seed)
  local saved = dnn.get_rng_state()
  dnn.manual_seed(seed)
  local state = dnn.get_rng_state()
  dnn.set_rng_state(saved)
  return state
end

-- CartPole{seed = n, max_steps = 500}: seed (an integer) fixes the initial
-- states of the episodes; without one the env takes a seed from dnn's global
-- generator (which dnn.manual_seed fixes).
function CartPole.new(opts)
  local fn = "dnn.rl.CartPole"
  opts = options.check(fn, opts, {"seed", "max_steps"})
  local seed = opts.seed
  if seed == nil then
    seed = math.floor(dnn.rand(1):item() * 2 ^ 31)
  elseif math.type(seed) ~= "integer" then
    raise(fn, "expected an integer seed, got %s", options.describe(seed))
  end
  local max_steps = opts.max_steps or 500
  if math.type(max_steps) ~= "integer" or max_steps < 1 then
    raise(fn, "expected max_steps a positive integer, got %s", options.describe(max_steps))
  end
  return setmetatable({seed = seed, max_steps = max_steps, steps = 0, state = nil, _rng = seeded_state(seed),
                       _done = nil}, CartPole)
end

setmetatable(CartPole, {__call = function(_, opts) return CartPole.new(opts) end})

function CartPole:__tostring()
  return string.format("CartPole(seed %d, step %d of %d)", self.seed, self.steps, self.max_steps)
end

-- The state as the observation tensor (float32, shape {4}).
function CartPole:observation()
  local s = self.state
  if not s then raise("CartPole:observation", "no episode yet; call reset() first") end
  return dnn.tensor {s[1], s[2], s[3], s[4]}
end

-- Starts an episode: each of x, x_dot, theta, theta_dot uniform in [-0.05, 0.05].
function CartPole:reset()
  local saved = dnn.get_rng_state()
  dnn.set_rng_state(self._rng)
  local u = dnn.rand(4):totable()
  self._rng = dnn.get_rng_state()
  dnn.set_rng_state(saved)
  self.state = {}
  for i = 1, 4 do self.state[i] = -0.05 + 0.1 * u[i] end
  self.steps, self._done = 0, nil
  return self:observation()
end

-- One Euler step of Gym's equations of motion under force (newtons).
local function euler_step(s, force)
  local x, x_dot, theta, theta_dot = s[1], s[2], s[3], s[4]
  local costheta, sintheta = math.cos(theta), math.sin(theta)
  local temp = (force + POLEMASS_LENGTH * theta_dot ^ 2 * sintheta) / TOTAL_MASS
  local thetaacc = (GRAVITY * sintheta - costheta * temp) /
                   (LENGTH * (4.0 / 3.0 - MASSPOLE * costheta ^ 2 / TOTAL_MASS))
  local xacc = temp - POLEMASS_LENGTH * thetaacc * costheta / TOTAL_MASS
  return {x + TAU * x_dot, x_dot + TAU * xacc, theta + TAU * theta_dot, theta_dot + TAU * thetaacc}
end

-- step(action): action 1 pushes the cart left, 2 right. Returns the new
-- observation, the reward (1 for every step, the last included), whether the
-- pole fell or the cart left the track (terminated) and whether the time
-- limit ended the episode (truncated).
function CartPole:step(action)
  local fn = "CartPole:step"
  if getmetatable(self) ~= CartPole then raise(fn, "expected a CartPole (call env:step(a)), got %s", options.describe(self)) end
  if action ~= 1 and action ~= 2 then
    raise(fn, "expected action 1 (push left) or 2 (push right), got %s", options.describe(action))
  end
  if not self.state then raise(fn, "no episode yet; call reset() first") end
  if self._done then raise(fn, "the episode has ended (%s); call reset() first", self._done) end
  self.state = euler_step(self.state, action == 2 and FORCE_MAG or -FORCE_MAG)
  self.steps = self.steps + 1
  local x, theta = self.state[1], self.state[3]
  local terminated = x < -X_THRESHOLD or x > X_THRESHOLD or theta < -THETA_THRESHOLD or theta > THETA_THRESHOLD
  local truncated = self.steps >= self.max_steps -- TimeLimit's rule: both may hold at once
  if terminated then
    self._done = "terminated"
  elseif truncated then
    self._done = "truncated"
  end
  return self:observation(), 1.0, terminated, truncated
end

return CartPole
