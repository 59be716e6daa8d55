-- Deep Q-learning (Mnih et al. 2015) on CartPole-v1: an online Q-network
-- trained on minibatches from a replay buffer against a target network
-- copied every few hundred steps, Huber loss, epsilon-greedy exploration with
-- a linear decay, and Double DQN's target (van Hasselt et al. 2016: the
-- online network picks the next action, the target network values it;
-- --vanilla uses the original max instead). Episodes that hit the time limit
-- are bootstrapped (truncated is not terminal). The learning rate shrinks as
-- the agent improves and is 0 once 20 consecutive episodes reach 500: from
-- then on the network no longer changes (see learning_rate below). Training
-- stops when the mean return of the last 100 episodes reaches 475 (Gym's
-- threshold for v1) or after --steps steps; the network is saved and --play
-- evaluates a saved one greedily for 100 episodes.
--
-- Usage: dnnlua examples/rl/dqn_cartpole.lua [--seed N] [--steps N] [--vanilla]
--   [--out DIR] [--play]  (--help explains them)
local dnn = require "dnn"
local nn = dnn.nn

local here = arg[0]:match("^(.*)/") or "."
local args = dofile(here .. "/../lib/args.lua")
local runs = dofile(here .. "/../lib/rl_runs.lua")

local function parse_args(argv)
  local parser = args.parser("dqn_cartpole.lua",
    "Trains a DQN (target network, Huber loss, epsilon-greedy) on CartPole-v1 until the 100-episode mean return reaches 475.")
  args.number_option(parser, "--seed", "random seed (network, exploration, replay and the environment)", 1,
    args.nonnegative_integer)
  args.number_option(parser, "--steps", "most environment steps to train for", 200000, args.positive_integer)
  args.number_option(parser, "--lr", "Adam's initial learning rate", 5e-4, args.positive_number):argname("X")
  args.number_option(parser, "--batch-size", "transitions per update", 64, args.positive_integer)
  args.number_option(parser, "--units", "units of each of the two hidden layers", 128, args.positive_integer)
  parser:flag("--vanilla", "the original DQN target (max of the target network) instead of Double DQN's")
  args.out_dir_option(parser, "folder for dqn_cartpole.dnn and dqn_cartpole.png")
  parser:flag("--play", "evaluate the saved network (in --out) greedily for 100 episodes instead of training")
  return parser:parse(argv)
end

local opts = parse_args(arg or {})
local model_path, plot_path = opts.out .. "/dqn_cartpole.dnn", opts.out .. "/dqn_cartpole.png"
if opts.play then
  runs.play(model_path, 100, opts.seed + 1000)
  return
end

local GAMMA = 0.99
local BUFFER = 100000
local LEARNING_STARTS = 1000 -- random steps before the first update
local TARGET_EVERY = 500 -- steps between copies of the online network into the target network
local epsilon = dnn.rl.linear_schedule{start = 1, stop = 0.02, steps = 10000}

dnn.manual_seed(opts.seed)
local env = dnn.rl.CartPole{seed = opts.seed}

local function q_network()
  return nn.Sequential{
    nn.Dense(opts.units, {input_shape = {env.observation_size}, activation = "relu"}),
    nn.Dense(opts.units, {activation = "relu"}),
    nn.Dense(env.action_count),
  }
end
local online, target = q_network(), q_network()
local online_params, target_params = online:parameters(), target:parameters()
local function update_target()
  dnn.no_grad(function()
    for i, p in ipairs(online_params) do target_params[i]:copy(p) end
  end)
end
update_target()
-- The learning rate shrinks as the agent gets better and never grows back:
-- lr * (1 - best/500), best the highest mean return of 20 consecutive
-- episodes so far. Once it balances, updates are small, and once 20
-- consecutive episodes all reach 500 the rate is 0: learning stops and the
-- policy is kept as it is (still acting epsilon-greedily), the episodes
-- after that count towards the 100-episode mean like the others. This is
-- the stabilizer against DQN's usual collapse on CartPole (an update that
-- unlearns a policy that balanced); with a floor instead of 0 (0.03 of the
-- rate) the runs still collapsed: see docs/guide/13_reinforcement.md.
local best_mean = 0
local function learning_rate() return opts.lr * math.max(0, 1 - best_mean / 500) end
local opt = dnn.optim.Adam{learning_rate = learning_rate, params = online_params, global_clipnorm = 10}
local buffer = dnn.rl.ReplayBuffer{capacity = BUFFER, observation_size = env.observation_size}

-- The TD target r + gamma (1 - done) Q_target(s', a'): Double DQN's a' is the
-- online network's argmax, --vanilla's the target network's own (its max).
local function td_target(b)
  return dnn.no_grad(function()
    local next_q
    if not opts.vanilla then
      local best = online(b.next_obs):argmax(-1):unsqueeze(2)
      next_q = target(b.next_obs):gather(2, best):squeeze(2)
    else
      next_q = target(b.next_obs):max(-1)
    end
    return b.rewards + next_q * (1 - b.dones) * GAMMA
  end)
end

local function update()
  local b = buffer:sample(opts.batch_size)
  local y = td_target(b)
  local q = online(b.obs):gather(2, b.actions:unsqueeze(2)):squeeze(2)
  local loss = dnn.losses.huber(y, q)
  opt:zero_grad()
  loss:backward()
  opt:step()
end

local function act(obs, step)
  if dnn.rand(1):item() < epsilon(step) then return dnn.rand(1):item() < 0.5 and 1 or 2 end
  return math.tointeger(runs.greedy(online, obs))
end

print(string.format("DQN%s on CartPole-v1, seed %d, %d threads", opts.vanilla and "" or " (double)", opts.seed,
  dnn.get_num_threads()))
local rec = runs.recorder()
local obs, ret = env:reset(), 0
for step = 1, opts.steps do
  local a = act(obs, step)
  local next_obs, reward, terminated, truncated = env:step(a)
  buffer:add(obs, a, reward, next_obs, terminated)
  obs, ret = next_obs, ret + reward
  if step > LEARNING_STARTS then update() end
  if step % TARGET_EVERY == 0 then update_target() end
  if terminated or truncated then
    rec.add(ret, step)
    if #rec.returns >= 20 and best_mean < 500 then
      best_mean = math.max(best_mean, dnn.rl.running_mean(rec.returns, 20))
      if best_mean >= 500 then
        print(string.format("20 episodes of 500 in a row: learning rate 0 from episode %d (step %d) on", #rec.returns, step))
      end
    end
    if rec.solved then break end
    obs, ret = env:reset(), 0
  end
end
rec.report()
online:save(model_path)
print("saved the Q-network to " .. model_path)
runs.plot(rec, plot_path, "DQN" .. (opts.vanilla and "" or " (double)") .. " on CartPole-v1, seed " .. opts.seed)
