-- Policy gradients on CartPole-v1, two algorithms on one actor (a softmax
-- policy over the 2 actions) and one critic (the state's value):
--   --algo ppo        PPO (Schulman et al. 2017): rollouts of --horizon steps
--                     from --envs environments side by side, GAE(lambda)
--                     advantages, several epochs of minibatch updates of the
--                     clipped surrogate, the value loss and an entropy bonus.
--   --algo reinforce  REINFORCE with a baseline (Williams 1992): whole
--                     episodes (one per environment), the discounted return
--                     minus the critic's value as the advantage, one update.
-- An episode cut by the time limit is bootstrapped: its last reward gets
-- gamma V(s') added (truncation is not failure). Training stops when the
-- mean return of the last 100 episodes reaches 475 (Gym's threshold for v1)
-- or after --steps steps; the actor is saved and --play evaluates a saved one
-- greedily (the more probable action) for 100 episodes.
--
-- Usage: dnnlua examples/rl/pg_cartpole.lua [--algo ppo|reinforce] [--seed N]
--   [--steps N] [--out DIR] [--play]  (--help explains them)
local dnn = require "dnn"
local nn = dnn.nn

local here = arg[0]:match("^(.*)/") or "."
local args = dofile(here .. "/../lib/args.lua")
local runs = dofile(here .. "/../lib/rl_runs.lua")

local function parse_args(argv)
  local parser = args.parser("pg_cartpole.lua",
    "Trains a policy by PPO or REINFORCE with a baseline on CartPole-v1 until the 100-episode mean return reaches 475.")
  parser:option("--algo", "ppo or reinforce", "ppo"):choices{"ppo", "reinforce"}
  args.number_option(parser, "--seed", "random seed (networks, actions and the environments)", 1,
    args.nonnegative_integer)
  args.number_option(parser, "--steps",
    "most environment steps to train for; the learning rate decays to 0 over them (default: 400000 for ppo, 1000000 for reinforce)",
    nil, args.positive_integer)
  args.number_option(parser, "--lr", "Adam's initial learning rate (default: 1e-3 for ppo, 2e-3 for reinforce)", nil,
    args.positive_number):argname("X")
  args.number_option(parser, "--envs", "environments stepped side by side", 8, args.positive_integer)
  args.number_option(parser, "--horizon", "PPO: steps per environment in a rollout", 128, args.positive_integer)
  args.number_option(parser, "--units", "units of each of the two hidden layers", 64, args.positive_integer)
  args.out_dir_option(parser, "folder for pg_cartpole_<algo>.dnn and .png")
  parser:flag("--play", "evaluate the saved actor (in --out) greedily for 100 episodes instead of training")
  return parser:parse(argv)
end

local opts = parse_args(arg or {})
local stem = opts.out .. "/pg_cartpole_" .. opts.algo
local model_path, plot_path = stem .. ".dnn", stem .. ".png"
if opts.play then
  runs.play(model_path, 100, opts.seed + 1000)
  return
end

local GAMMA, LAMBDA = 0.99, 0.95
local CLIP, EPOCHS, MINIBATCH = 0.2, 4, 256 -- PPO
local VALUE_COEF = 0.5
-- PPO's entropy bonus keeps it exploring between its many updates per
-- rollout; REINFORCE's one update per batch of episodes needs none.
local ENTROPY_COEF = opts.algo == "ppo" and 0.01 or 0
local lr0 = opts.lr or (opts.algo == "ppo" and 1e-3 or 2e-3)
opts.steps = opts.steps or (opts.algo == "ppo" and 400000 or 1000000)

dnn.manual_seed(opts.seed)
local N = opts.envs
local envs = {}
for i = 1, N do
  envs[i] = dnn.rl.CartPole{seed = opts.seed * 1000 + i}
  envs[i]:reset()
end
local obs_size, n_actions = envs[1].observation_size, envs[1].action_count

local function mlp(outputs)
  return nn.Sequential{
    nn.Dense(opts.units, {input_shape = {obs_size}, activation = "tanh"}),
    nn.Dense(opts.units, {activation = "tanh"}),
    nn.Dense(outputs),
  }
end
local actor, critic = mlp(n_actions), mlp(1)
local params = actor:parameters()
for _, p in ipairs(critic:parameters()) do params[#params + 1] = p end
local steps_done = 0 -- environment steps so far: the learning rate falls linearly to 0 over --steps
local opt = dnn.optim.Adam{learning_rate = function() return lr0 * math.max(0, 1 - steps_done / opts.steps) end,
                           params = params, global_clipnorm = 0.5}

-- The observations of environments `ids` as one (#ids, 4) tensor, from their states.
local function observations(ids)
  local rows = {}
  for k, i in ipairs(ids) do
    local s = envs[i].state
    rows[k] = {s[1], s[2], s[3], s[4]}
  end
  return dnn.tensor(rows)
end

-- Actions drawn from the policy for a batch of observations, with their log-probabilities (Lua arrays).
local function sample_actions(obs)
  local logp = dnn.no_grad(function() return actor(obs):log_softmax(-1) end):totable()
  local u = dnn.rand(#logp):totable()
  local actions, logps = {}, {}
  for k, row in ipairs(logp) do
    local a = u[k] < math.exp(row[1]) and 1 or 2
    actions[k], logps[k] = a, row[a]
  end
  return actions, logps
end

local function values_of(obs)
  return dnn.no_grad(function() return critic(obs):reshape(-1) end)
end

-- The losses' shared part: log pi(a|s) of the taken actions and the policy's entropy.
local function log_probs_and_entropy(obs, actions)
  local logp = actor(obs):log_softmax(-1)
  local taken = logp:gather(2, actions:unsqueeze(2)):squeeze(2)
  local entropy = (logp:exp() * logp):sum(-1):mean() * -1
  return taken, entropy
end

local function normalized(x) return (x - x:mean()) / (x:var():sqrt() + 1e-8) end

local function gradient_step(loss)
  opt:zero_grad()
  loss:backward()
  opt:step()
end

local rec = runs.recorder()
local ep_return = {}
for i = 1, N do ep_return[i] = 0 end
local all_ids = {}
for i = 1, N do all_ids[i] = i end

-- Steps environment i with action a; returns the reward to learn from (the
-- time limit's cut bootstrapped) and whether its episode ended.
local function env_step(i, a)
  local _, reward, terminated, truncated = envs[i]:step(a)
  steps_done = steps_done + 1
  ep_return[i] = ep_return[i] + reward
  local learn_reward = reward
  if truncated and not terminated then learn_reward = reward + GAMMA * values_of(observations{i}):item() end
  local ended = terminated or truncated
  if ended then
    rec.add(ep_return[i], steps_done)
    ep_return[i] = 0
    envs[i]:reset()
  end
  return learn_reward, ended
end

-- ---- PPO ----

local function ppo_iteration()
  local T = opts.horizon
  local obs_list, actions, old_logp, rewards, dones, values = {}, {}, {}, {}, {}, {}
  for t = 1, T do
    local obs = observations(all_ids)
    local a, lp = sample_actions(obs)
    local v = values_of(obs):totable()
    obs_list[t], rewards[t], dones[t] = obs, {}, {}
    values[t] = v
    for i = 1, N do
      actions[#actions + 1], old_logp[#old_logp + 1] = a[i], lp[i]
      local r, ended = env_step(i, a[i])
      rewards[t][i], dones[t][i] = r, ended and 1 or 0
    end
  end
  local next_value = values_of(observations(all_ids))
  local adv, ret = dnn.rl.gae(dnn.tensor(rewards), dnn.tensor(values), GAMMA, LAMBDA,
    {dones = dnn.tensor(dones), next_value = next_value})
  local batch = {obs = dnn.cat(obs_list, 1), actions = dnn.tensor(actions), old_logp = dnn.tensor(old_logp),
                 adv = adv:reshape(-1), ret = ret:reshape(-1)}
  local size = T * N
  for _ = 1, EPOCHS do
    local order = dnn.randperm(size)
    for start = 1, size, MINIBATCH do
      local idx = order:narrow(1, start, math.min(MINIBATCH, size - start + 1))
      local obs, act = batch.obs:index_select(1, idx), batch.actions:index_select(1, idx)
      local a = normalized(batch.adv:index_select(1, idx))
      local logp, entropy = log_probs_and_entropy(obs, act)
      local ratio = (logp - batch.old_logp:index_select(1, idx)):exp()
      local surrogate = (ratio * a):minimum(ratio:clamp(1 - CLIP, 1 + CLIP) * a)
      local value_loss = dnn.losses.mean_squared_error(batch.ret:index_select(1, idx), critic(obs):reshape(-1))
      gradient_step(surrogate:mean() * -1 + value_loss * VALUE_COEF - entropy * ENTROPY_COEF)
    end
  end
end

-- ---- REINFORCE with a baseline ----

local function reinforce_iteration()
  local episodes = {} -- per environment: obs tensors, actions, rewards
  local active = {}
  for i = 1, N do episodes[i], active[i] = {obs = {}, actions = {}, rewards = {}}, i end
  while #active > 0 do
    local obs = observations(active)
    local a = sample_actions(obs)
    local still = {}
    for k, i in ipairs(active) do
      local e = episodes[i]
      e.obs[#e.obs + 1] = obs:select(1, k)
      e.actions[#e.actions + 1] = a[k]
      local r, ended = env_step(i, a[k])
      e.rewards[#e.rewards + 1] = r
      if not ended then still[#still + 1] = i end
    end
    active = still
  end
  local obs, actions, returns = {}, {}, {}
  for i = 1, N do
    local e = episodes[i]
    local g = dnn.rl.discounted_returns(e.rewards, GAMMA):totable()
    for t = 1, #e.rewards do
      obs[#obs + 1], actions[#actions + 1], returns[#returns + 1] = e.obs[t], e.actions[t], g[t]
    end
  end
  local x, g = dnn.stack(obs, 1), dnn.tensor(returns)
  local v = critic(x):reshape(-1)
  local adv = normalized(g - v:detach())
  local logp, entropy = log_probs_and_entropy(x, dnn.tensor(actions))
  local value_loss = dnn.losses.mean_squared_error(g, v)
  gradient_step((logp * adv):mean() * -1 + value_loss * VALUE_COEF - entropy * ENTROPY_COEF)
end

print(string.format("%s on CartPole-v1, seed %d, %d environments, %d threads",
  opts.algo == "ppo" and "PPO" or "REINFORCE with a baseline", opts.seed, N, dnn.get_num_threads()))
local iteration = opts.algo == "ppo" and ppo_iteration or reinforce_iteration
while steps_done < opts.steps and not rec.solved do iteration() end
rec.report()
actor:save(model_path)
print("saved the actor to " .. model_path)
runs.plot(rec, plot_path, (opts.algo == "ppo" and "PPO" or "REINFORCE with a baseline") .. " on CartPole-v1, seed "
  .. opts.seed)
