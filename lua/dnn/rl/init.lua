-- dnn.rl: the pieces of deep reinforcement learning that are not a network:
-- an environment (Gym's CartPole-v1), a replay buffer in tensors, exploration
-- schedules, discounted returns and GAE. The algorithms (DQN, REINFORCE,
-- PPO) are scripts on top: examples/rl/.
local returns = require "dnn.rl.returns"
local schedules = require "dnn.rl.schedules"

local M = {}
M.CartPole = require "dnn.rl.cartpole"
M.ReplayBuffer = require "dnn.rl.replay"
M.discounted_returns = returns.discounted_returns
M.gae = returns.gae
M.linear_schedule = schedules.linear_schedule
M.exponential_schedule = schedules.exponential_schedule

-- The mean of the last `window` values of a Lua array (all of them while
-- fewer): the "100-episode mean" of Gym's solved criterion.
function M.running_mean(values, window)
  local fn = "dnn.rl.running_mean"
  local options = require "dnn.options"
  if type(values) ~= "table" then
    options.raise(string.format("%s: expected an array of numbers, got %s", fn, options.describe(values)))
  end
  if math.type(window) ~= "integer" or window < 1 then
    options.raise(string.format("%s: expected window a positive integer, got %s", fn, options.describe(window)))
  end
  local n = #values
  if n == 0 then return 0 end
  local sum = 0
  for i = math.max(1, n - window + 1), n do sum = sum + values[i] end
  return sum / (n - math.max(1, n - window + 1) + 1)
end

-- ---- reference ----

--- @module dnn.rl Deep reinforcement learning: CartPole, replay buffer, schedules, returns and GAE
-- The parts of DQN and policy-gradient methods that are not a network.
-- Actions are 1-based ids, like every id in dnn. `examples/rl/dqn_cartpole.lua`
-- and `examples/rl/pg_cartpole.lua` build the algorithms from these.

--- dnn.rl.CartPole([options])
-- Gym's CartPole-v1: the same equations of motion (Euler steps of 0.02 s),
-- termination when |x| > 2.4 or |theta| > 12 degrees, reward 1 for every step
-- (the last one included), truncation after `max_steps` steps. The state is
-- float64 Lua numbers in `env.state` ({x, x_dot, theta, theta_dot});
-- observations are float32 tensors of 4. `env:reset()` draws each state
-- value uniform in [-0.05, 0.05] as Gym does, but from dnn's seedable
-- generator with a state of the env's own (the global stream does not move),
-- so a seed gives other starts than Gym's NumPy one. Fields:
-- `observation_size` (4), `action_count` (2), `steps`, `seed`.
-- @option seed=nil an integer fixing the episodes' initial states; nil takes one from dnn's global generator
-- @option max_steps=500 the time limit (Gym's TimeLimit for v1)
-- @example local env = dnn.rl.CartPole{seed = 1}
-- local obs = env:reset()

--- dnn.rl.CartPole:reset()
-- Starts an episode; returns the first observation (a tensor of 4).
-- @example local obs = env:reset()

--- dnn.rl.CartPole:step(action)
-- Applies `action` (1 pushes the cart left, 2 right) for one step; returns
-- `obs, reward, terminated, truncated`. Stepping before `reset` or after the
-- episode ended is an error.
-- @example local obs, reward, terminated, truncated = env:step(2)

--- dnn.rl.CartPole:observation()
-- The current state as an observation tensor (4).
-- @example print(env:observation())

--- dnn.rl.ReplayBuffer(options)
-- A ring of `capacity` transitions held in tensors (`obs`, `actions`,
-- `rewards`, `next_obs`, `dones`); the oldest is overwritten when full.
-- `#buffer` is the number held.
-- @option capacity the most transitions held
-- @option observation_size values per observation
-- @example local buffer = dnn.rl.ReplayBuffer{capacity = 50000, observation_size = 4}

--- dnn.rl.ReplayBuffer:add(obs, action, reward, next_obs, done)
-- Stores one transition. `done` (boolean or 0/1): no value is bootstrapped
-- from `next_obs` (the episode terminated; a time-limit truncation is not done).
-- @example buffer:add(obs, a, r, next_obs, terminated)

--- dnn.rl.ReplayBuffer:sample(batch_size)
-- `batch_size` transitions drawn uniformly with replacement from dnn's
-- generator: a table of tensors `{obs, actions, rewards, next_obs, dones, indices}`.
-- @example local b = buffer:sample(64)
-- local q = net(b.obs):gather(2, b.actions:unsqueeze(2))

--- dnn.rl.discounted_returns(rewards, gamma[, options])
-- The returns G_t = r_t + gamma (1 - done_t) G_{t+1}, backwards from
-- G_{T+1} = `bootstrap`. `rewards`: a Lua array or a tensor of T values, or a
-- (T, N) tensor of N environments. Returns a tensor of the rewards' shape.
-- @option dones=nil flags (the rewards' shape; booleans or 0/1) ending an episode after step t
-- @option bootstrap=0 the value after the last step: a number, or N values
-- @example local g = dnn.rl.discounted_returns({1, 1, 1}, 0.9) -- {2.71, 1.9, 1}

--- dnn.rl.gae(rewards, values, gamma, lambda[, options])
-- Generalized advantage estimation: delta_t = r_t + gamma (1 - done_t)
-- V_{t+1} - V_t, A_t = delta_t + gamma lambda (1 - done_t) A_{t+1}, with
-- V_{T+1} = `next_value`. Shapes as for `discounted_returns`. Returns the
-- advantages and the value targets A + V.
-- @option dones=nil flags ending an episode after step t
-- @option next_value=0 the value of the state after the last step: a number, or N values
-- @example local adv, ret = dnn.rl.gae(rewards, values, 0.99, 0.95, {dones = dones, next_value = v_last})

--- dnn.rl.linear_schedule([options])
-- A schedule (call it with the step number) going linearly from `start` at
-- step 0 to `stop` at step `steps`, then staying at `stop`: epsilon for
-- epsilon-greedy acting.
-- @option start=1 the value at step 0
-- @option stop=0.05 the final value
-- @option steps the step at which `stop` is reached
-- @example local epsilon = dnn.rl.linear_schedule{start = 1, stop = 0.05, steps = 10000}
-- print(epsilon(5000)) -- 0.525

--- dnn.rl.exponential_schedule([options])
-- A schedule stop + (start - stop) decay^step.
-- @option start=1 the value at step 0
-- @option stop=0.05 the limit
-- @option decay the factor per step, in (0, 1]
-- @example local epsilon = dnn.rl.exponential_schedule{decay = 0.999}

--- dnn.rl.running_mean(values, window)
-- The mean of the last `window` values of a Lua array (of all while fewer):
-- Gym's solved criterion is `running_mean(returns, 100) >= 475` for CartPole-v1.
-- @example print(dnn.rl.running_mean({10, 20, 30}, 2)) -- 25

return M
