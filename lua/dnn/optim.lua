-- dnn.optim: Keras's optimizers. Each step is one C call that updates every
-- parameter (core/src/optim.c, Keras 3's update rules); this file holds the
-- policy: options and their defaults, the learning rate of the step
-- (a number, a schedule object or a function of the step), gradient
-- clipping, the state tensors and their saving.
--
--   local opt = dnn.optim.RMSprop{learning_rate = 0.01, params = model:parameters()}
--   opt:zero_grad(); loss:backward(); opt:step()
--   dnn.optim.get("adam", params)          -- by Keras name, case-insensitive
local dnn = require "dnn"
local C = require("dnn.core")._nn
local args_and_options = require("dnn.layer").args_and_options
local strict = require "dnn.options"

local optim = {}
optim.schedules = require "dnn.schedules"
optim.LBFGS = require "dnn.lbfgs" -- the closure-driven optimizer: not a Keras class, not in get()

-- Options every optimizer takes (Keras's base optimizer), besides its own.
local common_options = {"learning_rate", "params", "clipnorm", "clipvalue", "global_clipnorm", "weight_decay", "name"}

-- State entries that hold no state (Adafactor's unused ones), left out of get_state.
local placeholders = setmetatable({}, {__mode = "k"})

local Optimizer = {}
Optimizer.__index = Optimizer
optim.Optimizer = Optimizer

local function is_callable(v)
  if type(v) == "function" then return true end
  local mt = type(v) == "table" and getmetatable(v)
  return mt and mt.__call ~= nil or false
end

-- The range of each number an optimizer takes (Keras's checks, and what
-- keeps the update finite): a rate or epsilon below 0, a beta of 1 or a NaN
-- anywhere would make every weight NaN a step later.
local number_rules = {
  learning_rate = {min = 0}, momentum = {min = 0, max = 1}, rho = {min = 0, below = 1},
  beta_1 = {min = 0, below = 1}, beta_2 = {min = 0, below = 1}, epsilon = {min = 0},
  clipnorm = {above = 0}, clipvalue = {above = 0}, global_clipnorm = {above = 0}, weight_decay = {min = 0},
  initial_accumulator_value = {min = 0}, learning_rate_power = {max = 0}, l1_regularization_strength = {min = 0},
  l2_regularization_strength = {min = 0}, l2_shrinkage_regularization_strength = {min = 0}, beta = {min = 0},
  beta_2_decay = {max = 0}, epsilon_1 = {min = 0}, epsilon_2 = {min = 0}, clip_threshold = {above = 0},
}

-- params: nil (compile binds them later) or a non-empty array of tensors.
local function check_params(cls_name, params)
  if params == nil then return {} end
  if type(params) ~= "table" or dnn.is_tensor(params) then
    strict.raise(string.format("%s: expected params to be an array of tensors, got %s", cls_name,
      strict.describe(params)))
  end
  if #params == 0 then
    strict.raise(string.format("%s: params is empty: there is nothing to optimize (a model's parameters() before "
      .. "it is built? leave params out and let compile bind them)", cls_name))
  end
  for i, p in ipairs(params) do
    if not dnn.is_tensor(p) then
      strict.raise(string.format("%s: expected params[%d] to be a tensor, got %s", cls_name, i, strict.describe(p)))
    end
  end
  return params
end

-- A new optimizer of class cls from the constructor's arguments: each
-- option in defaults takes the given value or the default; unknown options
-- are refused, as Keras refuses unknown keyword arguments.
local function new_optimizer(cls, defaults, ...)
  local _, options = args_and_options(...)
  local valid = {table.unpack(common_options)}
  for k in pairs(defaults) do valid[#valid + 1] = k end
  strict.check(cls.name, options, valid)
  local self = setmetatable({}, cls)
  for k, default in pairs(defaults) do
    local v = options[k]
    if v == nil then v = default end
    if k ~= "learning_rate" and type(v) ~= type(default) then
      error(string.format("%s: expected %s to be a %s, got %s", cls.name, k, type(default), strict.describe(v)), 3)
    end
    self[k] = v
  end
  local lr = options.learning_rate
  if lr == nil then lr = defaults.learning_rate or 0.001 end
  if type(lr) ~= "number" and not is_callable(lr) then
    error(string.format("%s: expected learning_rate to be a number, a schedule or a function of the step, got %s",
      cls.name, strict.describe(lr)), 3)
  end
  self.learning_rate = lr
  for key, rule in pairs(number_rules) do
    local v = options[key]
    if v ~= nil and not (key == "learning_rate" and is_callable(v)) then strict.check_number(cls.name, key, v, rule) end
  end
  local clips = 0
  for _, key in ipairs{"clipnorm", "clipvalue", "global_clipnorm"} do
    if options[key] then clips = clips + 1 end
  end
  if clips > 1 then
    error(cls.name .. ": only one of clipnorm, clipvalue and global_clipnorm can be set", 3)
  end
  self.clipnorm, self.clipvalue, self.global_clipnorm = options.clipnorm, options.clipvalue, options.global_clipnorm
  if options.weight_decay ~= nil then self.weight_decay = options.weight_decay end
  self.weight_decay = self.weight_decay or 0
  self.params = check_params(cls.name, options.params)
  self.iterations = 0
  self.state = {}
  return self
end

-- The learning rate of this step: a number, or a schedule / function called
-- with the 0-based step count (Keras's optimizer.iterations).
function Optimizer:current_learning_rate()
  local lr = self.learning_rate
  if type(lr) ~= "number" then lr = lr(self.iterations) end
  if type(lr) ~= "number" then
    error(string.format("%s: the learning rate schedule returned %s, expected a number", self.name, type(lr)), 2)
  end
  return strict.check_number(self.name, "the learning rate of step " .. self.iterations, lr, number_rules.learning_rate)
end

function Optimizer:zero_grad()
  for _, p in ipairs(self.params) do
    local g = p.grad
    if g then g:zero() end
  end
end

-- Keras's gradient clipping: clipnorm per parameter, global_clipnorm over
-- all, clipvalue elementwise (one of them at most).
function Optimizer:clip()
  if self.clipnorm then C.clip_grad_norm_each(self.params, self.clipnorm)
  elseif self.global_clipnorm then C.clip_grad_norm(self.params, self.global_clipnorm)
  elseif self.clipvalue then C.clip_grad_value(self.params, self.clipvalue) end
end

-- A state list (one tensor per parameter) under name, made on first use:
-- init(param) gives the tensor (zeros of the parameter's shape by default).
function Optimizer:slot(name, init)
  local list = self.state[name]
  if list and #list == #self.params then return list end
  list = {}
  for i, p in ipairs(self.params) do
    list[i] = init and init(p) or dnn.zeros(p.shape)
  end
  self.state[name] = list
  return list
end

-- One update of every parameter with a grad: clip, then the class's rule.
function Optimizer:step()
  if #self.params == 0 then
    strict.raise(string.format("%s:step: no parameters to update (give params = model:parameters(), or compile a "
      .. "model that has trainable weights)", self.name))
  end
  local lr = self:current_learning_rate()
  self:clip()
  self:update(lr)
  self.iterations = self.iterations + 1
end

-- Scalars kept in the state besides the iterations (Nadam's product).
Optimizer.state_numbers = {}

-- A snapshot of the optimizer's state, for saving with a model: a flat table
-- of "slot/i" -> tensor (a copy; i the parameter's position) and numbers
-- (iterations, and any scalar the optimizer keeps).
function Optimizer:get_state()
  local out = {iterations = self.iterations}
  for name, list in pairs(self.state) do
    for i, t in ipairs(list) do
      if not placeholders[t] then out[name .. "/" .. i] = t:clone() end
    end
  end
  for _, key in ipairs(self.state_numbers) do out[key] = self[key] end
  return out
end

-- Restores a get_state() snapshot into this optimizer (its params set):
-- every tensor must match the shape of the slot it goes into.
function Optimizer:set_state(state)
  if type(state) ~= "table" then
    error(string.format("%s:set_state: expected a table, got %s", self.name, type(state)), 2)
  end
  local iterations = state.iterations
  if math.type(iterations) ~= "integer" and not (type(iterations) == "number" and iterations == math.floor(iterations)) then
    error(string.format("%s:set_state: expected an integer 'iterations', got %s", self.name, tostring(iterations)), 2)
  end
  self:build_state()
  for key, value in pairs(state) do
    local name, index = tostring(key):match("^(.+)/(%d+)$")
    if name then
      local list = self.state[name]
      local target = list and list[tonumber(index)]
      if not target then
        error(string.format("%s:set_state: no state '%s' for these %d parameters", self.name, key, #self.params), 2)
      end
      if not dnn.is_tensor(value) or #value.shape ~= #target.shape or value:numel() ~= target:numel() then
        error(string.format("%s:set_state: '%s' expected a tensor of shape {%s}, got %s", self.name, key,
          table.concat(target.shape, ", "), dnn.is_tensor(value) and "{" .. table.concat(value.shape, ", ") .. "}"
          or type(value)), 2)
      end
      dnn.no_grad(function() target:copy(value) end)
    end
  end
  for _, key in ipairs(self.state_numbers) do
    if type(state[key]) == "number" then self[key] = state[key] end
  end
  self.iterations = math.tointeger(iterations)
end

-- Makes every state list now (set_state fills them).
function Optimizer:build_state()
  for name, init in pairs(self.slots or {}) do
    if self:uses_slot(name) then self:slot(name, init ~= true and init or nil) end
  end
end

function Optimizer:uses_slot()
  return true
end

function Optimizer:__tostring()
  return string.format("%s(learning_rate=%s, iterations=%d)", self.name, tostring(self.learning_rate),
    self.iterations)
end

-- A class: defaults (Keras's), the state slots it keeps, its update.
local classes = {}
local function class(name, defaults)
  local cls = setmetatable({}, {__index = Optimizer})
  cls.__index = cls
  cls.__tostring = Optimizer.__tostring
  cls.name = name
  cls.defaults = defaults
  cls.new = function(...) return new_optimizer(cls, cls.defaults, ...) end
  setmetatable(cls, {__index = Optimizer, __call = function(_, ...) return new_optimizer(cls, cls.defaults, ...) end})
  optim[name] = cls
  classes[name:lower()] = cls
  return cls
end

local function filled(value)
  return function(p) return dnn.full(p.shape, value) end
end

-- ---- SGD ----
local SGD = class("SGD", {learning_rate = 0.01, momentum = 0, nesterov = false})
SGD.slots = {momentum = true}

function SGD:uses_slot() return self.momentum ~= 0 end

function SGD:update(lr)
  local velocity = self.momentum ~= 0 and self:slot("momentum") or nil
  C.sgd_step(self.params, velocity, {learning_rate = lr, momentum = self.momentum, nesterov = self.nesterov,
                                     weight_decay = self.weight_decay})
end

-- ---- RMSprop ----
local RMSprop = class("RMSprop", {learning_rate = 0.001, rho = 0.9, momentum = 0, epsilon = 1e-7, centered = false})
RMSprop.slots = {velocity = true, momentum = true, average_gradient = true}

function RMSprop:uses_slot(name)
  if name == "momentum" then return self.momentum > 0 end
  if name == "average_gradient" then return self.centered end
  return true
end

function RMSprop:update(lr)
  C.rmsprop_step(self.params, self:slot("velocity"), self.momentum > 0 and self:slot("momentum") or nil,
    self.centered and self:slot("average_gradient") or nil,
    {learning_rate = lr, rho = self.rho, momentum = self.momentum, epsilon = self.epsilon, centered = self.centered,
     weight_decay = self.weight_decay})
end

-- ---- Adam, AdamW (Adam with a weight decay of 0.004 by default) ----
local function adam_config(self, lr)
  return {learning_rate = lr, beta_1 = self.beta_1, beta_2 = self.beta_2, epsilon = self.epsilon,
          weight_decay = self.weight_decay, step = self.iterations + 1}
end

local function adam_update(self, lr)
  C.adam_step(self.params, self:slot("momentum"), self:slot("velocity"),
    self.amsgrad and self:slot("velocity_hat") or nil, adam_config(self, lr))
end

local function adam_uses_slot(self, name)
  return name ~= "velocity_hat" or self.amsgrad
end

local adam_defaults = {learning_rate = 0.001, beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-7, amsgrad = false}
local Adam = class("Adam", adam_defaults)
Adam.slots = {momentum = true, velocity = true, velocity_hat = true}
Adam.update, Adam.uses_slot = adam_update, adam_uses_slot

local adamw_defaults = {weight_decay = 0.004}
for k, v in pairs(adam_defaults) do adamw_defaults[k] = v end
local AdamW = class("AdamW", adamw_defaults)
AdamW.slots = Adam.slots
AdamW.update, AdamW.uses_slot = adam_update, adam_uses_slot

-- ---- Adamax ----
local Adamax = class("Adamax", {learning_rate = 0.001, beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-7})
Adamax.slots = {momentum = true, norm = true}

function Adamax:update(lr)
  C.adamax_step(self.params, self:slot("momentum"), self:slot("norm"), adam_config(self, lr))
end

-- ---- Nadam ----
local Nadam = class("Nadam", {learning_rate = 0.001, beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-7})
Nadam.slots = {momentum = true, velocity = true}
Nadam.state_numbers = {"u_product"}

function Nadam:update(lr)
  self.u_product = C.nadam_step(self.params, self:slot("momentum"), self:slot("velocity"), self.u_product or 1,
    adam_config(self, lr))
end

-- ---- Adadelta ----
local Adadelta = class("Adadelta", {learning_rate = 0.001, rho = 0.95, epsilon = 1e-7})
Adadelta.slots = {accumulated_grad = true, accumulated_delta_var = true}

function Adadelta:update(lr)
  C.adadelta_step(self.params, self:slot("accumulated_grad"), self:slot("accumulated_delta_var"),
    {learning_rate = lr, rho = self.rho, epsilon = self.epsilon, weight_decay = self.weight_decay})
end

-- ---- Adagrad ----
local Adagrad = class("Adagrad", {learning_rate = 0.001, initial_accumulator_value = 0.1, epsilon = 1e-7})

function Adagrad:accumulator_init()
  return filled(self.initial_accumulator_value)
end

function Adagrad:build_state()
  self:slot("accumulator", self:accumulator_init())
end

function Adagrad:update(lr)
  C.adagrad_step(self.params, self:slot("accumulator", self:accumulator_init()),
    {learning_rate = lr, epsilon = self.epsilon, weight_decay = self.weight_decay})
end

-- ---- Ftrl ----
local Ftrl = class("Ftrl", {learning_rate = 0.001, learning_rate_power = -0.5, initial_accumulator_value = 0.1,
                            l1_regularization_strength = 0, l2_regularization_strength = 0,
                            l2_shrinkage_regularization_strength = 0, beta = 0})

function Ftrl:build_state()
  self:slot("accumulator", filled(self.initial_accumulator_value))
  self:slot("linear")
end

function Ftrl:update(lr)
  C.ftrl_step(self.params, self:slot("accumulator", filled(self.initial_accumulator_value)), self:slot("linear"),
    {learning_rate = lr, learning_rate_power = self.learning_rate_power,
     l1_regularization_strength = self.l1_regularization_strength,
     l2_regularization_strength = self.l2_regularization_strength,
     l2_shrinkage_regularization_strength = self.l2_shrinkage_regularization_strength,
     beta = self.beta, weight_decay = self.weight_decay})
end

-- ---- Adafactor: factored second moments for parameters of 2+ dims ----
local Adafactor = class("Adafactor", {learning_rate = 0.001, beta_2_decay = -0.8, epsilon_1 = 1e-30,
                                      epsilon_2 = 1e-3, clip_threshold = 1.0, relative_step = true})
local function placeholder()
  local t = dnn.zeros()
  placeholders[t] = true
  return t
end

function Adafactor:build_state()
  self:slot("r", function(p)
    if p.ndim < 2 then return placeholder() end
    local shape = {table.unpack(p.shape)}
    table.remove(shape)
    return dnn.zeros(shape)
  end)
  self:slot("c", function(p)
    if p.ndim < 2 then return placeholder() end
    local shape = {table.unpack(p.shape)}
    table.remove(shape, #shape - 1)
    return dnn.zeros(shape)
  end)
  self:slot("velocity", function(p) return p.ndim < 2 and dnn.zeros(p.shape) or placeholder() end)
end

-- Keras's relative_step caps the rate at 1/sqrt(step); the C step applies
-- min(lr, 1/sqrt(step)) in every case, as Keras's rho_t does, so the option
-- is kept for Keras's argument list and changes nothing.
function Adafactor:update(lr)
  self:build_state()
  C.adafactor_step(self.params, self.state.r, self.state.c, self.state.velocity,
    {learning_rate = lr, beta_2_decay = self.beta_2_decay, epsilon_1 = self.epsilon_1, epsilon_2 = self.epsilon_2,
     clip_threshold = self.clip_threshold, weight_decay = self.weight_decay, step = self.iterations + 1})
end

-- An optimizer from a Keras name ("adam", "RMSprop": case-insensitive), a
-- class (dnn.optim.Adam) or an optimizer object; params, when given, become
-- its parameters.
function optim.get(spec, params)
  if type(spec) == "string" then
    local cls = classes[spec:lower()]
    if not cls then strict.raise(strict.unknown_name("optimizer", spec, optim.names())) end
    return cls.new{params = params and #params > 0 and params or nil}
  end
  if type(spec) == "table" and spec.update and rawget(spec, "defaults") then
    return spec.new{params = params and #params > 0 and params or nil}
  end
  if type(spec) ~= "table" or not spec.step then
    strict.raise(strict.unknown_name("optimizer", spec, optim.names(), "an optimizer object or class"))
  end
  if params then spec.params = params end
  return spec
end

-- Keras's names of the optimizers, for messages and docs.
function optim.names()
  local list = {}
  for name in pairs(classes) do list[#list + 1] = name end
  table.sort(list)
  return list
end


-- ---- reference ----

--- @module dnn.optim Optimizers (Keras's update rules)
-- An optimizer updates its `params` (an array of tensors that require grad)
-- from their `.grad`: `opt:zero_grad(); loss:backward(); opt:step()`. In
-- `compile`, pass a name (`"adam"`) or an object; `fit` sets its params.
-- `learning_rate` may be a number, a schedule (`dnn.optim.schedules`) or a
-- function of the 0-based step.
-- Numbers are checked as Keras checks them, from the API and from model
-- files alike: all finite; `learning_rate`, `epsilon`, `weight_decay` >= 0;
-- `beta_1`, `beta_2`, `rho` in [0, 1); `momentum` in [0, 1]; the clips > 0
-- ("SGD: learning_rate must be a finite number >= 0 (got nan)"); a
-- schedule's rate is checked at each step.

--- dnn.optim.Optimizer
-- The base of the optimizers. Every optimizer takes these options besides its own.
-- @option learning_rate=class's a number, a schedule or a function of the step
-- @option params=nil the tensors to update (`model:parameters()`); not an empty array (`compile` binds them when left out)
-- @option clipnorm=nil clip each gradient's L2 norm to this
-- @option clipvalue=nil clip each gradient element to [-v, v]
-- @option global_clipnorm=nil clip the norm of all gradients together (one of the three clips at most)
-- @option weight_decay=0 decoupled weight decay (AdamW's by default 0.004)
-- @option name=nil a name
-- @example local opt = dnn.optim.SGD{learning_rate = 0.1, params = model:parameters(), clipnorm = 1}

--- dnn.optim.Optimizer:step()
-- One update of every parameter that has a gradient: clipping, then the
-- class's rule; counts `iterations`. An error when the optimizer has no
-- parameters (none given, or a model without trainable weights).
-- @example opt:step()

--- dnn.optim.Optimizer:zero_grad()
-- Clears the gradients of its params.
-- @example opt:zero_grad()

--- dnn.optim.Optimizer:current_learning_rate()
-- The learning rate of the next step (a schedule or function evaluated at `iterations`).
-- @example print(opt:current_learning_rate())

--- dnn.optim.Optimizer:clip()
-- Applies the gradient clipping options to the params' gradients (`step` calls it).
-- @example opt:clip()

--- dnn.optim.Optimizer:slot(name[, init])
-- The state list `name` (one tensor per parameter), made on first use.
-- @example local m = opt:slot("momentum")

--- dnn.optim.Optimizer:get_state()
-- A snapshot of the state (`"slot/i"` -> tensor copies, and `iterations`), for saving.
-- @example local s = opt:get_state()

--- dnn.optim.Optimizer:set_state(state)
-- Restores a `get_state` snapshot; every tensor must match its slot's shape.
-- @example opt:set_state(s)

--- dnn.optim.Optimizer:build_state()
-- Makes every state list now (before `set_state` fills them).
-- @example opt:build_state()

--- dnn.optim.Optimizer:uses_slot(name)
-- Whether the optimizer, with its options, keeps the state list `name` (Adam's `velocity_hat` only with amsgrad).
-- @example print(opt:uses_slot("momentum"))

--- dnn.optim.Optimizer:update(lr)
-- The class's update rule for one step at learning rate `lr`.
-- @hook
-- @example function MyOpt:update(lr) end

--- dnn.optim.Adagrad:accumulator_init()
-- The initial accumulator tensor maker (filled with `initial_accumulator_value`).
-- @example local init = opt:accumulator_init()

--- dnn.optim.SGD([options])
-- Stochastic gradient descent, with momentum and Nesterov's variant.
-- @option learning_rate=0.01 the step size
-- @option momentum=0 the momentum factor
-- @option nesterov=false Nesterov momentum
-- @example local opt = dnn.optim.SGD{learning_rate = 0.1, momentum = 0.9}

--- dnn.optim.RMSprop([options])
-- Divides the gradient by a moving root mean square.
-- @option learning_rate=0.001 the step size
-- @option rho=0.9 the decay of the squared-gradient average
-- @option momentum=0 the momentum factor
-- @option epsilon=1e-07 added to the denominator (Keras's placement)
-- @option centered=false normalize by the centred variance
-- @example local opt = dnn.optim.RMSprop{learning_rate = 0.01}

--- dnn.optim.Adam([options])
-- Adam, with AMSGrad as an option.
-- @option learning_rate=0.001 the step size
-- @option beta_1=0.9 the first-moment decay
-- @option beta_2=0.999 the second-moment decay
-- @option epsilon=1e-07 added to the denominator (Keras's placement)
-- @option amsgrad=false keep the maximum of the second moments
-- @example local opt = dnn.optim.Adam{learning_rate = 1e-3, params = model:parameters()}

--- dnn.optim.AdamW([options])
-- Adam with decoupled weight decay.
-- @option learning_rate=0.001 the step size
-- @option weight_decay=0.004 the decay factor
-- @option beta_1=0.9 the first-moment decay
-- @option beta_2=0.999 the second-moment decay
-- @option epsilon=1e-07 added to the denominator
-- @option amsgrad=false keep the maximum of the second moments
-- @example local opt = dnn.optim.AdamW{weight_decay = 0.01}

--- dnn.optim.Adamax([options])
-- Adam with the infinity norm.
-- @option learning_rate=0.001 the step size
-- @option beta_1=0.9 the first-moment decay
-- @option beta_2=0.999 the decay of the norm
-- @option epsilon=1e-07 added to the denominator
-- @example local opt = dnn.optim.Adamax()

--- dnn.optim.Nadam([options])
-- Adam with Nesterov momentum.
-- @option learning_rate=0.001 the step size
-- @option beta_1=0.9 the first-moment decay
-- @option beta_2=0.999 the second-moment decay
-- @option epsilon=1e-07 added to the denominator
-- @example local opt = dnn.optim.Nadam()

--- dnn.optim.Adadelta([options])
-- Adadelta (rates from running averages of updates).
-- @option learning_rate=0.001 the step size
-- @option rho=0.95 the decay of the averages
-- @option epsilon=1e-07 added inside the roots
-- @example local opt = dnn.optim.Adadelta{learning_rate = 1}

--- dnn.optim.Adagrad([options])
-- Per-parameter rates from the sum of squared gradients (Keras's initial accumulator).
-- @option learning_rate=0.001 the step size
-- @option initial_accumulator_value=0.1 the accumulators' start
-- @option epsilon=1e-07 added to the denominator
-- @example local opt = dnn.optim.Adagrad{learning_rate = 0.01}

--- dnn.optim.Ftrl([options])
-- Follow The Regularized Leader (Keras's).
-- @option learning_rate=0.001 the step size
-- @option learning_rate_power=-0.5 the power of the per-coordinate rate
-- @option initial_accumulator_value=0.1 the accumulators' start
-- @option l1_regularization_strength=0 L1
-- @option l2_regularization_strength=0 L2
-- @option l2_shrinkage_regularization_strength=0 L2 shrinkage
-- @option beta=0 Keras's beta
-- @example local opt = dnn.optim.Ftrl()

--- dnn.optim.Adafactor([options])
-- Adafactor: factored second moments for parameters of 2 or more dims.
-- @option learning_rate=0.001 the step size
-- @option beta_2_decay=-0.8 the decay exponent of the second moments
-- @option epsilon_1=1e-30 added to the squared gradients
-- @option epsilon_2=0.001 the floor of the parameter scale
-- @option clip_threshold=1.0 the update's RMS clip
-- @option relative_step=true kept for Keras's argument list (the rate is always capped at 1/sqrt(step))
-- @example local opt = dnn.optim.Adafactor()

--- dnn.optim.get(spec[, params])
-- An optimizer from a Keras name (case-insensitive: `"adam"`), a class, or
-- an object; `params`, when given, become its parameters.
-- @example local opt = dnn.optim.get("adam", model:parameters())

--- dnn.optim.names()
-- The optimizers' Keras names (lower case), sorted.
-- @example print(table.concat(dnn.optim.names(), " "))

return optim
