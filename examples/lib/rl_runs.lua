-- What examples/rl/dqn_cartpole.lua and pg_cartpole.lua share: the record of
-- episode returns with Gym's solved test (mean of the last 100 >= 475), the
-- return-curve PNG, and --play (a saved policy acting greedily for 100
-- episodes). Loaded with dofile from the script's folder.
local dnn = require "dnn"

local runs = {}

runs.WINDOW, runs.THRESHOLD = 100, 475 -- CartPole-v1's reward_threshold, over 100 consecutive episodes

-- A record of episodes: add(ret, step) prints one line per episode and
-- notes the first episode at which the 100-episode mean reached 475.
function runs.recorder(started)
  local rec = {returns = {}, means = {}, started = started or dnn.wall_time()}
  function rec.add(ret, step)
    local r = rec.returns
    r[#r + 1] = ret
    local mean = dnn.rl.running_mean(r, runs.WINDOW)
    rec.means[#r] = mean
    if not rec.solved and #r >= runs.WINDOW and mean >= runs.THRESHOLD then
      rec.solved = {episode = #r, step = step, seconds = dnn.wall_time() - rec.started}
    end
    print(string.format("episode %4d  step %7d  return %5.0f  mean(100) %6.1f  %6.1fs", #r, step, ret, mean,
      dnn.wall_time() - rec.started))
    return mean
  end
  -- the mean of episodes i..j (clamped)
  function rec.mean_of(i, j)
    local r, sum, n = rec.returns, 0, 0
    for k = math.max(i, 1), math.min(j, #r) do sum, n = sum + r[k], n + 1 end
    return n > 0 and sum / n or 0
  end
  function rec.report()
    local r = rec.returns
    if rec.solved then
      print(string.format("solved: 100-episode mean >= %d at episode %d (step %d) after %.1fs", runs.THRESHOLD,
        rec.solved.episode, rec.solved.step, rec.solved.seconds))
    else
      print(string.format("not solved: best 100-episode mean %.1f over %d episodes", runs.best_mean(rec), #r))
    end
    print(string.format("first 10 episodes mean %.1f, last 10 episodes mean %.1f", rec.mean_of(1, 10),
      rec.mean_of(#r - 9, #r)))
  end
  return rec
end

function runs.best_mean(rec)
  local best = 0
  for i = math.min(#rec.means, runs.WINDOW), #rec.means do best = math.max(best, rec.means[i] or 0) end
  return best
end

-- The return of each episode and the running 100-episode mean, as a PNG.
function runs.plot(rec, path, title)
  dnn.plot.history({["return"] = rec.returns, val_return = rec.means}, path,
    {title = title, xlabel = "episode", legend = {"episode return", "100-episode mean"}, width = 640, height = 360})
  print("saved the return curve to " .. path)
end

-- Greedy action of a network whose outputs score the actions (Q-values or logits).
function runs.greedy(model, obs)
  return dnn.no_grad(function() return model(obs:reshape(1, -1)):argmax(-1):item() end)
end

-- --play: the saved policy acts greedily for `episodes` episodes of CartPole (seed `seed`).
function runs.play(path, episodes, seed)
  local model = dnn.load_model(path)
  local env = dnn.rl.CartPole{seed = seed}
  local total, lo, hi = 0, math.huge, 0
  for _ = 1, episodes do
    local obs, ret, terminated, truncated = env:reset(), 0, false, false
    repeat
      local reward
      obs, reward, terminated, truncated = env:step(math.tointeger(runs.greedy(model, obs)))
      ret = ret + reward
    until terminated or truncated
    total, lo, hi = total + ret, math.min(lo, ret), math.max(hi, ret)
  end
  print(string.format("played %s for %d episodes (seed %d): mean return %.1f, min %d, max %d", path, episodes, seed,
    total / episodes, lo, hi))
end

return runs
