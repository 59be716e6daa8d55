-- dnn.optim: optimizers that update every parameter in one C call per step.
local dnn = require "dnn"
local C = require("dnn.core")._nn
local args_and_options = require("dnn.layer").args_and_options

local optim = {}

local Optimizer = {}
Optimizer.__index = Optimizer

local function new_optimizer(cls, options, defaults)
  local self = setmetatable({}, cls)
  for k, v in pairs(defaults) do
    self[k] = options[k] == nil and v or options[k]
  end
  self.params = options.params or {}
  self.iterations = 0
  self.clipnorm = options.clipnorm
  self.clipvalue = options.clipvalue
  return self
end

-- The learning rate at this step: a number, or a schedule (function of the step).
function Optimizer:current_learning_rate()
  local lr = self.learning_rate
  if type(lr) == "function" or (type(lr) == "table" and getmetatable(lr) and getmetatable(lr).__call) then
    return lr(self.iterations)
  end
  return lr
end

function Optimizer:zero_grad()
  for _, p in ipairs(self.params) do
    local g = p.grad
    if g then g:zero() end
  end
end

function Optimizer:clip()
  if self.clipnorm then C.clip_grad_norm(self.params, self.clipnorm) end
  if self.clipvalue then C.clip_grad_value(self.params, self.clipvalue) end
end

-- State tensors, one per parameter, made on the first step.
function Optimizer:slots(name)
  local list = self[name]
  if not list or #list ~= #self.params then
    list = {}
    for i, p in ipairs(self.params) do list[i] = dnn.zeros(p.shape) end
    self[name] = list
  end
  return list
end

-- ---- SGD ----
local SGD = setmetatable({}, {__index = Optimizer})
SGD.__index = SGD
optim.SGD = SGD

function SGD.new(...)
  local _, options = args_and_options(...)
  return new_optimizer(SGD, options, {learning_rate = 0.01, momentum = 0, nesterov = false, weight_decay = 0})
end

function SGD:step()
  self:clip()
  local lr = self:current_learning_rate()
  self.iterations = self.iterations + 1
  local velocity = self.momentum ~= 0 and self:slots("velocity") or nil
  C.sgd_step(self.params, velocity, lr, self.momentum, self.nesterov, self.weight_decay)
end

-- ---- Adam (and AdamW: Adam with decoupled weight decay) ----
local Adam = setmetatable({}, {__index = Optimizer})
Adam.__index = Adam
optim.Adam = Adam

function Adam.new(...)
  local _, options = args_and_options(...)
  return new_optimizer(Adam, options,
    {learning_rate = 0.001, beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-7, weight_decay = 0})
end

function Adam:step()
  self:clip()
  local lr = self:current_learning_rate()
  self.iterations = self.iterations + 1
  C.adam_step(self.params, self:slots("m"), self:slots("v"), lr, self.beta_1, self.beta_2, self.epsilon,
    self.iterations, self.weight_decay)
end

for name, cls in pairs({SGD = SGD, Adam = Adam}) do
  setmetatable(cls, {__index = Optimizer, __call = function(_, ...) return cls.new(...) end})
  cls.name = name
end

-- An optimizer from a name ("adam", "sgd") or an optimizer object.
function optim.get(spec, params)
  if type(spec) == "string" then
    local cls = ({adam = Adam, sgd = SGD})[spec:lower()]
    if not cls then error(string.format("unknown optimizer '%s'", spec), 2) end
    return cls.new{params = params}
  end
  if params then spec.params = params end
  return spec
end

return optim
