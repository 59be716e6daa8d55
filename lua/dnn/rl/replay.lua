-- dnn.rl.ReplayBuffer: a fixed-size ring of transitions (obs, action,
-- reward, next_obs, done) stored in preallocated tensors, sampled uniformly
-- from dnn's seeded generator. The oldest transition is overwritten once the
-- buffer is full.
local dnn = require "dnn"
local options = require "dnn.options"

local ReplayBuffer = {}
ReplayBuffer.__index = ReplayBuffer

local function raise(fn, fmt, ...) options.raise(fn .. ": " .. string.format(fmt, ...)) end

local function positive_integer(fn, name, v)
  if math.type(v) ~= "integer" or v < 1 then
    raise(fn, "expected %s a positive integer, got %s", name, options.describe(v))
  end
  return v
end

-- ReplayBuffer{capacity = n, observation_size = d}
function ReplayBuffer.new(opts)
  local fn = "dnn.rl.ReplayBuffer"
  opts = options.check(fn, opts, {"capacity", "observation_size"})
  local n = positive_integer(fn, "capacity", opts.capacity)
  local d = positive_integer(fn, "observation_size", opts.observation_size)
  return setmetatable({
    capacity = n, observation_size = d, size = 0, position = 1,
    obs = dnn.zeros(n, d), actions = dnn.zeros(n), rewards = dnn.zeros(n), next_obs = dnn.zeros(n, d),
    dones = dnn.zeros(n),
  }, ReplayBuffer)
end

setmetatable(ReplayBuffer, {__call = function(_, opts) return ReplayBuffer.new(opts) end})

function ReplayBuffer:__len() return self.size end

function ReplayBuffer:__tostring()
  return string.format("ReplayBuffer(%d of %d transitions)", self.size, self.capacity)
end

local function check_obs(self, fn, name, v)
  if not dnn.is_tensor(v) or v:numel() ~= self.observation_size then
    raise(fn, "expected %s a tensor of %d values, got %s", name, self.observation_size,
      dnn.is_tensor(v) and ("a tensor of " .. v:numel() .. " values") or options.describe(v))
  end
  return v:reshape(self.observation_size)
end

-- add(obs, action, reward, next_obs, done): done is true (or 1) when no value
-- is to be bootstrapped from next_obs (the episode terminated).
function ReplayBuffer:add(obs, action, reward, next_obs, done)
  local fn = "ReplayBuffer:add"
  obs = check_obs(self, fn, "obs (argument 1)", obs)
  next_obs = check_obs(self, fn, "next_obs (argument 4)", next_obs)
  if math.type(action) ~= "integer" and not (type(action) == "number" and action == math.floor(action)) then
    raise(fn, "expected action (argument 2) an integer id, got %s", options.describe(action))
  end
  if type(reward) ~= "number" then raise(fn, "expected reward (argument 3) a number, got %s", options.describe(reward)) end
  if type(done) == "boolean" then done = done and 1 or 0 end
  if done ~= 0 and done ~= 1 then
    raise(fn, "expected done (argument 5) a boolean or 0/1, got %s", options.describe(done))
  end
  local i = self.position
  self.obs:select(1, i):copy(obs)
  self.next_obs:select(1, i):copy(next_obs)
  self.actions:narrow(1, i, 1):fill(action)
  self.rewards:narrow(1, i, 1):fill(reward)
  self.dones:narrow(1, i, 1):fill(done)
  self.position = i % self.capacity + 1
  self.size = math.min(self.size + 1, self.capacity)
end

-- sample(batch_size): a table of tensors {obs, actions, rewards, next_obs,
-- dones, indices}, batch_size transitions drawn uniformly with replacement.
function ReplayBuffer:sample(batch_size)
  local fn = "ReplayBuffer:sample"
  positive_integer(fn, "batch_size", batch_size)
  if self.size == 0 then raise(fn, "the buffer is empty; add transitions first") end
  local u = dnn.rand(batch_size):totable()
  local ids = {}
  for k = 1, batch_size do ids[k] = math.min(math.floor(u[k] * self.size) + 1, self.size) end
  local idx = dnn.tensor(ids)
  return {
    obs = self.obs:index_select(1, idx), actions = self.actions:index_select(1, idx),
    rewards = self.rewards:index_select(1, idx), next_obs = self.next_obs:index_select(1, idx),
    dones = self.dones:index_select(1, idx), indices = idx,
  }
end

return ReplayBuffer
