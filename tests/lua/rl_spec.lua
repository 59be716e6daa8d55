-- dnn.rl: CartPole-v1 against an independent transcription of Gym's
-- equations (tests/reference/cartpole_v1.py, plain Python floats), its
-- termination, truncation and errors; the replay buffer, the schedules,
-- discounted returns and GAE against values worked out by hand.
local dnn = dnn or require "dnn"
local H = require "helpers"
local rl = dnn.rl

-- Runs the Python reference on cases {max_steps, state, actions (1/2)}; returns per case the list of
-- steps {state = {4}, reward, terminated, truncated}.
local function reference(cases)
  local input = os.tmpname()
  local f = assert(io.open(input, "w"))
  for _, c in ipairs(cases) do
    local fields = {tostring(c.max_steps)}
    for _, v in ipairs(c.state) do fields[#fields + 1] = string.format("%.17g", v) end
    for _, a in ipairs(c.actions) do fields[#fields + 1] = tostring(a - 1) end -- Gym's actions are 0 and 1
    f:write(table.concat(fields, " "), "\n")
  end
  f:close()
  local p = assert(io.popen(string.format("%s %s/tests/reference/cartpole_v1.py < %s", H.python, H.source_dir, input)))
  local out, current = {}, {}
  for line in p:lines() do
    if line == "end" then
      out[#out + 1], current = current, {}
    else
      local v = {}
      for w in line:gmatch("%S+") do v[#v + 1] = tonumber(w) end
      current[#current + 1] = {state = {v[1], v[2], v[3], v[4]}, reward = v[5], terminated = v[6] == 1,
                               truncated = v[7] == 1}
    end
  end
  p:close()
  os.remove(input)
  assert(#out == #cases, "the reference answered " .. #out .. " of " .. #cases .. " cases")
  return out
end

-- Runs env from its reset state with the actions until the episode ends; returns the steps as reference() does.
local function run(env, actions)
  local steps = {}
  for _, a in ipairs(actions) do
    local obs, reward, terminated, truncated = env:step(a)
    local s = env.state
    steps[#steps + 1] = {state = {s[1], s[2], s[3], s[4]}, reward = reward, terminated = terminated,
                         truncated = truncated, obs = obs}
    if terminated or truncated then break end
  end
  return steps
end

local function copy(s) return {s[1], s[2], s[3], s[4]} end

describe("dnn.rl.CartPole", function()
  it("follows Gym's equations step by step (float64, within 1e-6) until it terminates", function()
    local cases, runs = {}, {}
    local patterns = {
      function(t) return t % 2 + 1 end, -- alternating
      function() return 2 end, -- always right: the pole falls
      function(t) return (t // 3) % 2 + 1 end,
      function(t) return ((t * 7919) % 13 < 6) and 1 or 2 end,
    }
    for seed = 1, 3 do
      for k, pattern in ipairs(patterns) do
        local env = rl.CartPole{seed = seed * 10 + k}
        env:reset()
        local actions = {}
        for t = 1, 600 do actions[t] = pattern(t) end
        cases[#cases + 1] = {max_steps = 500, state = copy(env.state), actions = actions}
        runs[#runs + 1] = run(env, actions)
      end
    end
    local ref = reference(cases)
    local worst = 0
    for c, steps in ipairs(runs) do
      assert.are.equal(#ref[c], #steps, "case " .. c .. ": episode length")
      assert.is_true(#steps > 5)
      for t, step in ipairs(steps) do
        for i = 1, 4 do worst = math.max(worst, math.abs(step.state[i] - ref[c][t].state[i])) end
        assert.are.equal(ref[c][t].reward, step.reward)
        assert.are.equal(ref[c][t].terminated, step.terminated, "case " .. c .. " step " .. t)
        assert.are.equal(ref[c][t].truncated, step.truncated, "case " .. c .. " step " .. t)
      end
      assert.is_true(steps[#steps].terminated) -- these open-loop action sequences all fail
      -- the observation is the state in float32
      H.assert_close(steps[#steps].obs, dnn.tensor(steps[#steps].state), 1e-6)
    end
    assert.is_true(worst <= 1e-6, "largest difference from the reference " .. worst)
  end)

  it("terminates on the cart's position as Gym does", function()
    local env = rl.CartPole{seed = 5}
    env:reset()
    env.state = {2.35, 3.0, 0.0, 0.0} -- moving right fast near the edge, pole upright
    local actions = {1, 2, 1, 2, 1, 2}
    local ref = reference{{max_steps = 500, state = copy(env.state), actions = actions}}[1]
    local steps = run(env, actions)
    assert.are.equal(#ref, #steps)
    assert.is_true(steps[#steps].terminated)
    assert.is_true(steps[#steps].state[1] > 2.4 and math.abs(steps[#steps].state[3]) < 0.2)
    assert.are.equal(1, steps[#steps].reward) -- the step that ends it is rewarded too
  end)

  it("truncates at 500 steps (or max_steps) under a balancing controller, as the TimeLimit wrapper does", function()
    for _, max_steps in ipairs{500, 37} do
      local env = rl.CartPole{seed = 3, max_steps = max_steps}
      env:reset()
      local start, steps = copy(env.state), {}
      local ended = false
      local total = 0
      while not ended do
        local s = env.state
        local a = (s[3] + 0.5 * s[4] + 0.01 * s[1] + 0.1 * s[2]) > 0 and 2 or 1
        local _, reward, terminated, truncated = env:step(a)
        total = total + reward
        steps[#steps + 1] = a
        assert.is_false(terminated)
        ended = truncated
      end
      assert.are.equal(max_steps, #steps)
      assert.are.equal(max_steps, total)
      local ref = reference{{max_steps = max_steps, state = start, actions = steps}}[1]
      assert.are.equal(max_steps, #ref)
      assert.is_true(ref[#ref].truncated)
      for i = 1, 4 do assert.is_true(math.abs(ref[#ref].state[i] - env.state[i]) <= 1e-6) end
      assert.are.equal(max_steps, env.steps)
    end
  end)

  it("draws its initial states uniform in [-0.05, 0.05] from its seed, without moving dnn's global stream", function()
    dnn.manual_seed(7)
    local expected = dnn.rand(3):totable()
    dnn.manual_seed(7)
    local a, b, c = rl.CartPole{seed = 1}, rl.CartPole{seed = 1}, rl.CartPole{seed = 2}
    local lo, hi = math.huge, -math.huge
    for _ = 1, 50 do
      local sa, sb, sc = a:reset():totable(), b:reset():totable(), c:reset():totable()
      assert.are.same(sa, sb)
      assert.are_not.same(sa, sc)
      for i = 1, 4 do lo, hi = math.min(lo, a.state[i]), math.max(hi, a.state[i]) end
    end
    assert.is_true(lo >= -0.05 and hi <= 0.05 and lo < -0.04 and hi > 0.04, lo .. " " .. hi)
    assert.are.same(expected, dnn.rand(3):totable()) -- the global generator did not move
    H.assert_shape(a:reset(), {4})
  end)

  it("refuses bad arguments with errors naming the function", function()
    H.assert_error({"dnn.rl.CartPole: expected an integer seed, got number 1.5"}, rl.CartPole, {seed = 1.5})
    H.assert_error({"dnn.rl.CartPole: expected an integer seed, got string '1'"}, rl.CartPole, {seed = "1"})
    H.assert_error({"dnn.rl.CartPole: unknown option 'sed' (did you mean 'seed'?)"}, rl.CartPole, {sed = 1})
    H.assert_error({"dnn.rl.CartPole: expected max_steps a positive integer, got number 0"}, rl.CartPole,
      {max_steps = 0})
    local env = rl.CartPole{seed = 1}
    H.assert_error({"CartPole:step: no episode yet; call reset() first"}, env.step, env, 1)
    env:reset()
    for _, bad in ipairs{0, 3, 1.5, "1", true} do
      H.assert_error({"CartPole:step: expected action 1 (push left) or 2 (push right), got"}, env.step, env, bad)
    end
    H.assert_error({"CartPole:step: expected a CartPole"}, env.step, 2)
    local terminated
    repeat _, _, terminated = env:step(2) until terminated
    H.assert_error({"CartPole:step: the episode has ended (terminated); call reset() first"}, env.step, env, 1)
    local short = rl.CartPole{seed = 1, max_steps = 2}
    short:reset()
    short:step(1)
    assert.is_true(select(4, short:step(2)))
    H.assert_error({"CartPole:step: the episode has ended (truncated); call reset() first"}, short.step, short, 1)
    short:reset()
    assert.is_false(select(4, short:step(1))) -- reset starts the count again
  end)
end)

describe("dnn.rl.ReplayBuffer", function()
  it("overwrites the oldest transition once full and samples only what it holds", function()
    dnn.manual_seed(1)
    local b = rl.ReplayBuffer{capacity = 3, observation_size = 2}
    assert.are.equal(0, #b)
    for i = 1, 5 do b:add(dnn.tensor{i, -i}, i % 2 + 1, i * 10, dnn.tensor{i + 1, -i - 1}, i == 4) end
    assert.are.equal(3, #b)
    assert.are.same({40, 50, 30}, b.rewards:totable()) -- 4 and 5 replaced 1 and 2
    assert.are.same({1, 2, 2}, b.actions:totable())
    assert.are.same({1, 0, 0}, b.dones:totable())
    local seen = {}
    for _ = 1, 20 do
      local s = b:sample(16)
      H.assert_shape(s.obs, {16, 2})
      H.assert_shape(s.next_obs, {16, 2})
      local r, o, no, a = s.rewards:totable(), s.obs:totable(), s.next_obs:totable(), s.actions:totable()
      for k = 1, 16 do
        local i = r[k] // 10
        seen[i] = true
        assert.are.same({i, -i}, o[k]) -- the rows of one transition stay together
        assert.are.same({i + 1, -i - 1}, no[k])
        assert.are.equal(i % 2 + 1, a[k])
      end
    end
    assert.are.same({[3] = true, [4] = true, [5] = true}, seen) -- all three held, nothing else
  end)

  it("refuses bad arguments", function()
    H.assert_error({"dnn.rl.ReplayBuffer: expected capacity a positive integer, got nil"}, rl.ReplayBuffer,
      {observation_size = 4})
    local b = rl.ReplayBuffer{capacity = 4, observation_size = 4}
    H.assert_error({"ReplayBuffer:sample: the buffer is empty"}, b.sample, b, 2)
    H.assert_error({"ReplayBuffer:add: expected obs (argument 1) a tensor of 4 values, got a tensor of 3 values"},
      b.add, b, dnn.zeros(3), 1, 1, dnn.zeros(4), false)
    H.assert_error({"ReplayBuffer:add: expected action (argument 2) an integer id, got number 1.5"}, b.add, b,
      dnn.zeros(4), 1.5, 1, dnn.zeros(4), false)
    H.assert_error({"ReplayBuffer:add: expected done (argument 5) a boolean or 0/1, got nil"}, b.add, b, dnn.zeros(4),
      1, 1, dnn.zeros(4))
    b:add(dnn.zeros(4), 1, 1, dnn.zeros(4), false)
    H.assert_error({"ReplayBuffer:sample: expected batch_size a positive integer, got number 0"}, b.sample, b, 0)
  end)
end)

describe("dnn.rl returns", function()
  it("discounted_returns sums backwards, stopping at done and starting from bootstrap", function()
    H.assert_close(rl.discounted_returns({1, 1, 1}, 0.9), dnn.tensor{2.71, 1.9, 1})
    H.assert_close(rl.discounted_returns({1, 2, 3}, 0.5, {dones = {0, 1, 0}}), dnn.tensor{2, 2, 3})
    H.assert_close(rl.discounted_returns(dnn.tensor{1, 1}, 0.5, {bootstrap = 4}), dnn.tensor{2.5, 3})
    -- two environments side by side: columns are independent
    H.assert_close(rl.discounted_returns(dnn.tensor{{1, 0}, {1, 1}}, 0.5, {dones = dnn.tensor{{0, 1}, {0, 0}},
                                                                           bootstrap = {2, 0}}),
      dnn.tensor{{2, 0}, {2, 1}})
  end)

  it("gae gives the advantages and value targets worked out by hand", function()
    -- deltas: 0.95, 0.95, 0.5; A3 = 0.5, A2 = 0.95 + 0.855 * 0.5, A1 = 0.95 + 0.855 * A2
    local adv, ret = rl.gae({1, 1, 1}, {0.5, 0.5, 0.5}, 0.9, 0.95)
    H.assert_close(adv, dnn.tensor{0.95 + 0.855 * 1.3775, 1.3775, 0.5})
    H.assert_close(ret, dnn.tensor{0.5 + 0.95 + 0.855 * 1.3775, 1.8775, 1.0})
    -- done after step 2: A2 = r2 - V2 = 0.5; step 3 bootstraps from next_value 2: 1 + 0.9 * 2 - 0.5
    adv = rl.gae({1, 1, 1}, {0.5, 0.5, 0.5}, 0.9, 0.95, {dones = {false, true, false}, next_value = 2})
    H.assert_close(adv, dnn.tensor{0.95 + 0.855 * 0.5, 0.5, 2.3})
    -- lambda = 1 gives the discounted returns minus the values
    local r, v = dnn.tensor{{1, 2}, {3, 4}, {5, 6}}, dnn.tensor{{0.1, 0.2}, {0.3, 0.4}, {0.5, 0.6}}
    adv = rl.gae(r, v, 0.9, 1, {next_value = {1, 2}})
    H.assert_close(adv, rl.discounted_returns(r, 0.9, {bootstrap = {1, 2}}) - v, 1e-5)
  end)

  it("refuses mismatched shapes and rates out of range", function()
    H.assert_error({"dnn.rl.gae: expected values (argument 2) of the rewards' shape (3 steps x 1), got 2 x 1"}, rl.gae,
      {1, 1, 1}, {1, 1}, 0.9, 0.9)
    H.assert_error({"dnn.rl.discounted_returns: expected gamma (argument 2) a number in [0, 1], got number 1.5"},
      rl.discounted_returns, {1}, 1.5)
    H.assert_error({"dnn.rl.discounted_returns: expected numbers in rewards (argument 1), got string 'x' at [2]"},
      rl.discounted_returns, {1, "x"}, 0.9)
    H.assert_error({"dnn.rl.discounted_returns: unknown option 'done' (did you mean 'dones'?)"},
      rl.discounted_returns, {1}, 0.9, {done = {1}})
  end)
end)

describe("dnn.rl schedules", function()
  it("linear_schedule goes from start to stop in steps and stays", function()
    local eps = rl.linear_schedule{start = 1, stop = 0.1, steps = 100}
    assert.are.equal(1, eps(0))
    H.assert_close(eps(50), 0.55, 1e-12)
    assert.are.equal(0.1, eps(100))
    assert.are.equal(0.1, eps(1e6))
    H.assert_error({"dnn.rl.linear_schedule: expected steps a positive integer, got nil"}, rl.linear_schedule, {})
    H.assert_error({"dnn.rl.linear_schedule: expected a step number, got string 'x'"}, eps, "x")
  end)

  it("exponential_schedule decays geometrically toward stop", function()
    local eps = rl.exponential_schedule{start = 1, stop = 0, decay = 0.5}
    assert.are.equal(0.25, eps(2))
    H.assert_error({"dnn.rl.exponential_schedule: expected decay in (0, 1], got number 2"}, rl.exponential_schedule,
      {decay = 2})
  end)

  it("running_mean averages the last window values", function()
    assert.are.equal(25, rl.running_mean({10, 20, 30}, 2))
    assert.are.equal(20, rl.running_mean({10, 20, 30}, 100))
    H.assert_error({"dnn.rl.running_mean: expected window a positive integer, got number 0"}, rl.running_mean, {1}, 0)
  end)
end)
