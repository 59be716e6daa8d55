-- dnn.optim: every optimizer against a few steps computed here in plain Lua
-- numbers from Keras 3's update rules (keras/src/optimizers/<name>.py, with
-- base_optimizer.py's clipping and decoupled weight decay), schedules against
-- Keras's formulas, state saving, and misuse.
local dnn = dnn or require "dnn"
local optim = dnn.optim

local function near(a, b, tol)
  return math.abs(a - b) <= (tol or 1e-5) * (1 + math.abs(b))
end

local function assert_all_near(expected, got, tol, what)
  for i = 1, #expected do
    assert(near(got[i], expected[i], tol),
      string.format("%s: element %d: expected %.9g, got %.9g", what or "", i, expected[i], got[i]))
  end
end

local function flat(t)
  local out = {}
  local function walk(v)
    if type(v) == "table" then for _, x in ipairs(v) do walk(x) end else out[#out + 1] = v end
  end
  walk(t:totable())
  return out
end

-- Gradients of step t (1-based) for 4 elements: signs and sizes vary.
local function grad_at(t)
  local base = {0.3, -0.7, 1.1, -0.05}
  local g = {}
  for i, b in ipairs(base) do g[i] = b * (1 + 0.5 * t) * (t % 2 == 0 and -1 or 1) + 0.01 * i end
  return g
end

local P0 = {0.5, -1.0, 2.0, 0.25}
local STEPS = 4

-- Runs STEPS steps of an optimizer built by make(params) on a (2, 2) param;
-- returns the param's values.
local function run(make, grads)
  grads = grads or grad_at
  local p = dnn.tensor({{P0[1], P0[2]}, {P0[3], P0[4]}}, {requires_grad = true})
  local opt = make({p})
  for t = 1, STEPS do
    local g = grads(t)
    p.grad = dnn.tensor{{g[1], g[2]}, {g[3], g[4]}}
    opt:step()
  end
  assert.are.equal(STEPS, opt.iterations)
  return flat(p), opt
end

-- The same steps on plain numbers: rule(p, g, state, t, i) -> new p for one element.
local function reference(rule, grads)
  grads = grads or grad_at
  local p, states = {table.unpack(P0)}, {}
  for i = 1, #p do states[i] = {} end
  for t = 1, STEPS do
    local g = grads(t)
    for i = 1, #p do p[i] = rule(p[i], g[i], states[i], t, i) end
  end
  return p
end

describe("optimizers against Keras's update rules", function()
  it("SGD: plain, momentum, nesterov, decoupled weight decay", function()
    local got = run(function(ps) return optim.SGD{learning_rate = 0.1, params = ps} end)
    assert_all_near(reference(function(p, g) return p - 0.1 * g end), got, 1e-6, "plain")

    got = run(function(ps) return optim.SGD{learning_rate = 0.1, momentum = 0.9, nesterov = true, params = ps} end)
    assert_all_near(reference(function(p, g, s)
      s.v = 0.9 * (s.v or 0) - 0.1 * g
      return p + 0.9 * s.v - 0.1 * g
    end), got, 1e-6, "nesterov")

    -- base_optimizer._apply_weight_decay: p -= p * wd * lr, then the update
    got = run(function(ps) return optim.SGD{learning_rate = 0.1, momentum = 0.5, weight_decay = 0.2, params = ps} end)
    assert_all_near(reference(function(p, g, s)
      p = p - p * 0.2 * 0.1
      s.v = 0.5 * (s.v or 0) - 0.1 * g
      return p + s.v
    end), got, 1e-6, "weight decay")
  end)

  it("RMSprop: plain, and centered with momentum", function()
    local got = run(function(ps) return optim.RMSprop{learning_rate = 0.01, params = ps} end)
    assert_all_near(reference(function(p, g, s)
      s.v = 0.9 * (s.v or 0) + 0.1 * g * g
      return p - 0.01 * g / math.sqrt(s.v + 1e-7)
    end), got, 1e-5, "plain")

    got = run(function(ps)
      return optim.RMSprop{learning_rate = 0.01, rho = 0.8, momentum = 0.5, centered = true, params = ps}
    end)
    assert_all_near(reference(function(p, g, s)
      s.v = 0.8 * (s.v or 0) + 0.2 * g * g
      s.a = 0.8 * (s.a or 0) + 0.2 * g
      local inc = 0.01 * g / math.sqrt(s.v - s.a * s.a + 1e-7)
      s.m = 0.5 * (s.m or 0) + inc
      return p - s.m
    end), got, 1e-4, "centered momentum")
  end)

  local function adam_rule(lr, b1, b2, eps, wd, amsgrad)
    return function(p, g, s, t)
      p = p - p * wd * lr
      s.m = (s.m or 0) + (g - (s.m or 0)) * (1 - b1)
      s.v = (s.v or 0) + (g * g - (s.v or 0)) * (1 - b2)
      local v = s.v
      if amsgrad then
        s.vh = math.max(s.vh or 0, s.v)
        v = s.vh
      end
      local alpha = lr * math.sqrt(1 - b2 ^ t) / (1 - b1 ^ t)
      return p - alpha * s.m / (math.sqrt(v) + eps)
    end
  end

  it("Adam, with amsgrad", function()
    local got = run(function(ps) return optim.Adam{learning_rate = 0.01, params = ps} end)
    assert_all_near(reference(adam_rule(0.01, 0.9, 0.999, 1e-7, 0, false)), got, 1e-5, "adam")
    -- shrinking gradients make v fall below its running max v_hat
    local function shrinking(t) return {2 / t, -1 / t, 0.5 / t ^ 2, 3 / t} end
    got = run(function(ps) return optim.Adam{learning_rate = 0.01, beta_2 = 0.5, amsgrad = true, params = ps} end,
      shrinking)
    local plain = run(function(ps) return optim.Adam{learning_rate = 0.01, beta_2 = 0.5, params = ps} end, shrinking)
    assert_all_near(reference(adam_rule(0.01, 0.9, 0.5, 1e-7, 0, true), shrinking), got, 1e-5, "amsgrad")
    assert.is_false(near(got[1], plain[1], 1e-7), "amsgrad must change the result here")
  end)

  it("AdamW: Adam with decoupled weight decay 0.004 by default", function()
    local opt = optim.AdamW{}
    assert.are.equal(0.004, opt.weight_decay)
    local got = run(function(ps) return optim.AdamW{learning_rate = 0.01, params = ps} end)
    assert_all_near(reference(adam_rule(0.01, 0.9, 0.999, 1e-7, 0.004, false)), got, 1e-5, "adamw")
    got = run(function(ps) return optim.AdamW{learning_rate = 0.01, weight_decay = 0.1, params = ps} end)
    assert_all_near(reference(adam_rule(0.01, 0.9, 0.999, 1e-7, 0.1, false)), got, 1e-5, "adamw 0.1")
  end)

  it("Adamax", function()
    local got = run(function(ps) return optim.Adamax{learning_rate = 0.02, params = ps} end)
    assert_all_near(reference(function(p, g, s, t)
      s.m = (s.m or 0) + (g - (s.m or 0)) * 0.1
      s.u = math.max(0.999 * (s.u or 0), math.abs(g))
      return p - 0.02 * s.m / ((1 - 0.9 ^ t) * (s.u + 1e-7))
    end), got, 1e-5)
  end)

  it("Nadam, with its running momentum product", function()
    local got = run(function(ps) return optim.Nadam{learning_rate = 0.01, params = ps} end)
    local prod = {}
    assert_all_near(reference(function(p, g, s, t, i)
      local u_t = 0.9 * (1 - 0.5 * 0.96 ^ t)
      local u_next = 0.9 * (1 - 0.5 * 0.96 ^ (t + 1))
      prod[i] = (prod[i] or 1) * u_t
      local prod_next = prod[i] * u_next
      s.m = (s.m or 0) + (g - (s.m or 0)) * 0.1
      s.v = (s.v or 0) + (g * g - (s.v or 0)) * 0.001
      local m_hat = u_next * s.m / (1 - prod_next) + (1 - u_t) * g / (1 - prod[i])
      local v_hat = s.v / (1 - 0.999 ^ t)
      return p - 0.01 * m_hat / (math.sqrt(v_hat) + 1e-7)
    end), got, 1e-5)
  end)

  it("Adadelta (learning_rate 0.001, rho 0.95 by default)", function()
    local opt = optim.Adadelta{}
    assert.are.equal(0.001, opt.learning_rate)
    assert.are.equal(0.95, opt.rho)
    local got = run(function(ps) return optim.Adadelta{learning_rate = 1.0, params = ps} end)
    assert_all_near(reference(function(p, g, s)
      s.ag = 0.95 * (s.ag or 0) + 0.05 * g * g
      local d = -math.sqrt((s.ad or 0) + 1e-7) * g / math.sqrt(s.ag + 1e-7)
      s.ad = 0.95 * (s.ad or 0) + 0.05 * d * d
      return p + 1.0 * d
    end), got, 1e-4)
  end)

  it("Adagrad, accumulators starting at 0.1 (Keras, not PyTorch's 0)", function()
    local got = run(function(ps) return optim.Adagrad{learning_rate = 0.1, params = ps} end)
    assert_all_near(reference(function(p, g, s)
      s.a = (s.a or 0.1) + g * g
      return p - 0.1 * g / math.sqrt(s.a + 1e-7)
    end), got, 1e-5)
  end)

  it("Ftrl, with l1, l2, shrinkage and beta", function()
    local function ftrl(lr, k, l1, l2, shrink, beta)
      return function(p, g, s)
        s.a = s.a or 0.1
        s.z = s.z or 0
        local l2_reg = l2 + beta / (2 * lr)
        local gs = g + 2 * shrink * p
        local a_new = s.a + g * g
        s.z = s.z + gs - (a_new ^ k - s.a ^ k) / lr * p
        local q = a_new ^ k / lr + 2 * l2_reg
        s.a = a_new
        return (math.max(-l1, math.min(l1, s.z)) - s.z) / q
      end
    end
    local got = run(function(ps) return optim.Ftrl{learning_rate = 0.1, params = ps} end)
    assert_all_near(reference(ftrl(0.1, 0.5, 0, 0, 0, 0)), got, 1e-5, "plain")
    got = run(function(ps)
      return optim.Ftrl{learning_rate = 0.1, learning_rate_power = -0.7, l1_regularization_strength = 0.05,
                        l2_regularization_strength = 0.02, l2_shrinkage_regularization_strength = 0.01, beta = 0.3,
                        params = ps}
    end)
    assert_all_near(reference(ftrl(0.1, 0.7, 0.05, 0.02, 0.01, 0.3)), got, 1e-4, "regularized")
  end)

  it("Adafactor: factored moments for a matrix, full ones for a vector", function()
    local W0 = {{0.5, -1.0, 2.0}, {0.25, 0.1, -0.3}}
    local B0 = {0.2, -0.4, 0.05}
    local w = dnn.tensor(W0, {requires_grad = true})
    local b = dnn.tensor(B0, {requires_grad = true})
    local opt = optim.Adafactor{learning_rate = 0.3, params = {w, b}}
    local function gw(t) return {{0.3 * t, -0.2, 0.5}, {-0.1, 0.4 / t, 0.05}} end
    local function gb(t) return {0.1, -0.3 * t, 0.02} end
    -- reference, Keras's adafactor.py on plain numbers
    local W = {{table.unpack(W0[1])}, {table.unpack(W0[2])}}
    local B = {table.unpack(B0)}
    local r, c, v = {0, 0}, {0, 0, 0}, {0, 0, 0}
    local function rms(list)
      local s = 0
      for _, x in ipairs(list) do s = s + x * x end
      return math.sqrt(s / #list)
    end
    for t = 1, 3 do
      w.grad, b.grad = dnn.tensor(gw(t)), dnn.tensor(gb(t))
      opt:step()
      local rho = math.min(0.3, 1 / math.sqrt(t))
      local beta = 1 - t ^ -0.8
      -- matrix
      local G, Wf = gw(t), {}
      for i = 1, 2 do for j = 1, 3 do Wf[#Wf + 1] = W[i][j] end end
      local alpha = math.max(1e-3, rms(Wf)) * rho
      for i = 1, 2 do
        local m = 0
        for j = 1, 3 do m = m + (G[i][j] ^ 2 + 1e-30) / 3 end
        r[i] = beta * r[i] + (1 - beta) * m
      end
      for j = 1, 3 do
        local m = 0
        for i = 1, 2 do m = m + (G[i][j] ^ 2 + 1e-30) / 2 end
        c[j] = beta * c[j] + (1 - beta) * m
      end
      local r_mean = (r[1] + r[2]) / 2
      local u = {}
      for i = 1, 2 do for j = 1, 3 do u[#u + 1] = G[i][j] / math.sqrt(r[i] / r_mean * c[j]) end end
      local scale = math.max(1, rms(u) / 1.0)
      for i = 1, 2 do for j = 1, 3 do W[i][j] = W[i][j] - alpha * u[(i - 1) * 3 + j] / scale end end
      -- vector
      local g = gb(t)
      local alpha_b = math.max(1e-3, rms(B)) * rho
      local ub = {}
      for k = 1, 3 do
        v[k] = beta * v[k] + (1 - beta) * (g[k] ^ 2 + 1e-30)
        ub[k] = g[k] / math.sqrt(v[k])
      end
      local scale_b = math.max(1, rms(ub))
      for k = 1, 3 do B[k] = B[k] - alpha_b * ub[k] / scale_b end
    end
    assert_all_near({W[1][1], W[1][2], W[1][3], W[2][1], W[2][2], W[2][3]}, flat(w), 1e-5, "matrix")
    assert_all_near(B, flat(b), 1e-5, "vector")
    -- the factored state is (rows) and (cols), not the matrix's size
    local state = opt:get_state()
    assert.are.same({2}, state["r/1"].shape)
    assert.are.same({3}, state["c/1"].shape)
    assert.is_nil(state["velocity/1"])
    assert.are.same({3}, state["velocity/2"].shape)
  end)

  it("skip parameters without a gradient, and update them all in one step", function()
    for name in pairs{sgd = 1, rmsprop = 1, adam = 1, adamw = 1, adamax = 1, nadam = 1, adadelta = 1, adagrad = 1,
                      ftrl = 1, adafactor = 1} do
      local p = dnn.tensor({1, 2}, {requires_grad = true})
      local q = dnn.tensor({3, 4}, {requires_grad = true})
      local opt = optim.get(name, {p, q})
      p.grad = dnn.tensor{0.5, -0.5}
      opt:step()
      assert.are.same({3, 4}, q:totable(), name)
      assert.is_false(p:totable()[1] == 1, name .. " must move p")
    end
  end)
end)

describe("clipping", function()
  local function grads_after(options, gs)
    local ps = {}
    for i, g in ipairs(gs) do
      ps[i] = dnn.zeros(#g)
      ps[i].requires_grad = true
      ps[i].grad = dnn.tensor(g)
    end
    options.params = ps
    options.learning_rate = 1
    optim.SGD(options):step()
    local out = {}
    for i, p in ipairs(ps) do out[i] = flat(p * -1) end -- p = -lr * g
    return out
  end

  it("clipnorm clips each weight's gradient by its own norm (Keras)", function()
    local g = grads_after({clipnorm = 1}, {{3, 4}, {0.3, 0.4}})
    assert_all_near({0.6, 0.8}, g[1])
    assert_all_near({0.3, 0.4}, g[2])
  end)

  it("global_clipnorm clips all gradients by their global norm", function()
    local g = grads_after({global_clipnorm = 1}, {{3, 4}, {0, 0}})
    assert_all_near({0.6, 0.8}, g[1])
    g = grads_after({global_clipnorm = 10}, {{3, 4}, {6, 8}}) -- norm sqrt(125) > 10
    local s = 10 / math.sqrt(125)
    assert_all_near({3 * s, 4 * s}, g[1])
    assert_all_near({6 * s, 8 * s}, g[2])
  end)

  it("clipvalue clips elementwise", function()
    local g = grads_after({clipvalue = 0.5}, {{3, -4, 0.1}})
    assert_all_near({0.5, -0.5, 0.1}, g[1])
  end)

  it("only one of them may be set", function()
    assert.has_error(function() optim.Adam{clipnorm = 1, clipvalue = 1} end,
      "Adam: only one of clipnorm, clipvalue and global_clipnorm can be set")
    assert.has_error(function() optim.SGD{clipnorm = -1} end, "SGD: clipnorm must be a finite number > 0 (got -1)")
  end)
end)

describe("learning rates", function()
  it("a function of the 0-based step, evaluated before each update", function()
    local seen = {}
    local p = dnn.tensor({0}, {requires_grad = true})
    local opt = optim.SGD{learning_rate = function(step) seen[#seen + 1] = step; return 0.1 * (step + 1) end,
                          params = {p}}
    for _ = 1, 3 do
      p.grad = dnn.tensor{1}
      opt:step()
    end
    assert.are.same({0, 1, 2}, seen)
    assert(near(p:item(), -(0.1 + 0.2 + 0.3)))
    assert.are.equal(0.4, opt:current_learning_rate())
  end)

  it("a schedule object, and a number changed between steps (as callbacks do)", function()
    local p = dnn.tensor({0}, {requires_grad = true})
    local sched = optim.schedules.ExponentialDecay{initial_learning_rate = 1, decay_steps = 1, decay_rate = 0.5}
    local opt = optim.SGD{learning_rate = sched, params = {p}}
    for _ = 1, 3 do
      p.grad = dnn.tensor{1}
      opt:step()
    end
    assert(near(p:item(), -(1 + 0.5 + 0.25)))
    opt.learning_rate = 0.01
    p.grad = dnn.tensor{1}
    opt:step()
    assert(near(p:item(), -1.76))
  end)

  it("refuse a learning rate of the wrong kind", function()
    assert.has_error(function() optim.Adam{learning_rate = "fast"} end,
      "Adam: expected learning_rate to be a number, a schedule or a function of the step, got string 'fast'")
    local p = dnn.tensor({1, 2}, {requires_grad = true})
    local opt = optim.SGD{learning_rate = function() return "x" end, params = {p}}
    assert.has_error(function() opt:step() end, "SGD: the learning rate schedule returned string, expected a number")
    opt = optim.SGD{learning_rate = function() return 0 / 0 end, params = {p}}
    assert.has_error(function() opt:step() end, "SGD: the learning rate of step 0 must be a finite number >= 0 (got nan)")
  end)
end)

describe("schedules (Keras's formulas)", function()
  local S = optim.schedules

  it("ExponentialDecay, continuous and staircase", function()
    local e = S.ExponentialDecay{initial_learning_rate = 0.1, decay_steps = 10, decay_rate = 0.5}
    assert(near(e(0), 0.1) and near(e(10), 0.05) and near(e(5), 0.1 * 0.5 ^ 0.5))
    local s = S.ExponentialDecay(0.1, 10, 0.5, true)
    assert(near(s(9), 0.1) and near(s(10), 0.05) and near(s(25), 0.025))
  end)

  it("PiecewiseConstantDecay: values[i] while step <= boundaries[i]", function()
    local pc = S.PiecewiseConstantDecay{boundaries = {100, 110}, values = {1.0, 0.5, 0.1}}
    assert.are.same({1.0, 1.0, 0.5, 0.5, 0.1}, {pc(0), pc(100), pc(101), pc(110), pc(111)})
    assert.has_error(function() S.PiecewiseConstantDecay{boundaries = {1}, values = {1}} end,
      "PiecewiseConstantDecay: expected one more value than boundaries, got 1 boundaries and 1 values")
  end)

  it("CosineDecay, with alpha and with a linear warmup", function()
    local c = S.CosineDecay{initial_learning_rate = 0.1, decay_steps = 100, alpha = 0.1}
    assert(near(c(0), 0.1))
    assert(near(c(50), 0.1 * (0.9 * 0.5 + 0.1)))
    assert(near(c(100), 0.01) and near(c(1000), 0.01))
    local w = S.CosineDecay{initial_learning_rate = 0, decay_steps = 100, warmup_target = 0.2, warmup_steps = 10}
    assert(near(w(0), 0) and near(w(5), 0.1) and near(w(10), 0.2))
    assert(near(w(60), 0.2 * 0.5 * (1 + math.cos(math.pi * 0.5))))
    assert(near(w(500), 0))
  end)

  it("InverseTimeDecay", function()
    local i = S.InverseTimeDecay{initial_learning_rate = 0.1, decay_steps = 1, decay_rate = 0.5}
    assert(near(i(0), 0.1) and near(i(2), 0.05))
    local st = S.InverseTimeDecay{initial_learning_rate = 0.1, decay_steps = 10, decay_rate = 1, staircase = true}
    assert(near(st(9), 0.1) and near(st(10), 0.05))
  end)

  it("PolynomialDecay, plain and cycling", function()
    local p = S.PolynomialDecay{initial_learning_rate = 0.1, decay_steps = 10, end_learning_rate = 0.01, power = 2}
    assert(near(p(0), 0.1) and near(p(5), 0.09 * 0.25 + 0.01) and near(p(20), 0.01))
    local c = S.PolynomialDecay{initial_learning_rate = 0.1, decay_steps = 10, end_learning_rate = 0, cycle = true}
    assert(near(c(0), 0.1) and near(c(5), 0.05) and near(c(15), 0.1 * (1 - 15 / 20)))
    assert.are.equal(0.0001, S.PolynomialDecay(0.1, 10).end_learning_rate)
  end)

  it("refuse bad arguments", function()
    assert.has_error(function() S.ExponentialDecay{initial_learning_rate = 1, decay_steps = 0, decay_rate = 1} end,
      "ExponentialDecay: decay_steps must be a finite number > 0 (got 0)")
    assert.has_error(function() S.InverseTimeDecay{initial_learning_rate = 1, decay_steps = 1} end,
      "InverseTimeDecay: missing argument 'decay_rate'")
    assert.has_error(function() S.CosineDecay{initial_learning_rate = 1, decay_steps = 1, warmup = 3} end,
      "CosineDecay: unknown option 'warmup' (valid options: alpha, decay_steps, initial_learning_rate, name, " ..
      "warmup_steps, warmup_target)")
  end)
end)

describe("optimizer state", function()
  local function train(opt, p, steps)
    for t = 1, steps do
      p.grad = dnn.tensor{{0.3 * t, -0.2}, {0.1, 0.5 / t}}
      opt:step()
    end
  end

  it("get_state / set_state resume every optimizer exactly", function()
    for _, name in ipairs(optim.names()) do
      local p1 = dnn.tensor({{1, 2}, {3, 4}}, {requires_grad = true})
      local a = optim.get(name, {p1})
      if name == "sgd" then a.momentum = 0.9 end
      train(a, p1, 2)
      local state = a:get_state()
      assert.are.equal(2, state.iterations, name)
      -- a fresh optimizer on a copy of the weights, given the saved state
      local p2 = p1:detach():clone()
      p2.requires_grad = true
      local b = optim.get(name, {p2})
      if name == "sgd" then b.momentum = 0.9 end
      b:set_state(state)
      train(a, p1, 2)
      train(b, p2, 2)
      assert.are.same(p1:totable(), p2:totable(), name)
    end
  end)

  it("get_state holds copies, named slot/index", function()
    local p = dnn.tensor({{1, 2}, {3, 4}}, {requires_grad = true})
    local opt = optim.Adam{params = {p}}
    train(opt, p, 1)
    local state = opt:get_state()
    assert.is_true(dnn.is_tensor(state["momentum/1"]) and dnn.is_tensor(state["velocity/1"]))
    local before = state["momentum/1"]:totable()
    train(opt, p, 1)
    assert.are.same(before, state["momentum/1"]:totable())
    local nadam = optim.Nadam{params = {p}}
    train(nadam, p, 2)
    assert.is_number(nadam:get_state().u_product)
  end)

  it("set_state refuses a state of other shapes", function()
    local p = dnn.tensor({{1, 2}, {3, 4}}, {requires_grad = true})
    local opt = optim.Adam{params = {p}}
    assert.has_error(function() opt:set_state{iterations = 1, ["momentum/1"] = dnn.zeros(3)} end,
      "Adam:set_state: 'momentum/1' expected a tensor of shape {2, 2}, got {3}")
    assert.has_error(function() opt:set_state{iterations = 1, ["momentum/2"] = dnn.zeros(2, 2)} end,
      "Adam:set_state: no state 'momentum/2' for these 1 parameters")
    assert.has_error(function() opt:set_state{} end, "Adam:set_state: expected an integer 'iterations', got nil")
  end)
end)

describe("optim.get and constructors", function()
  it("find every Keras optimizer by name, case-insensitively", function()
    local expected = {sgd = "SGD", rmsprop = "RMSprop", adam = "Adam", adamw = "AdamW", adadelta = "Adadelta",
                      adagrad = "Adagrad", adamax = "Adamax", nadam = "Nadam", ftrl = "Ftrl", adafactor = "Adafactor"}
    for name, cls in pairs(expected) do
      assert.are.equal(cls, optim.get(name).name)
      assert.are.equal(cls, optim.get(cls).name)
      assert.are.equal(cls, optim.get(name:upper()).name)
    end
    assert.are.equal(10, #optim.names())
  end)

  it("take Keras's defaults", function()
    local r = optim.RMSprop{}
    assert.are.same({0.001, 0.9, 0, 1e-7, false}, {r.learning_rate, r.rho, r.momentum, r.epsilon, r.centered})
    local f = optim.Ftrl{}
    assert.are.same({-0.5, 0.1, 0, 0}, {f.learning_rate_power, f.initial_accumulator_value,
                                         f.l1_regularization_strength, f.l2_regularization_strength})
    local a = optim.Adafactor{}
    assert.are.same({-0.8, 1e-30, 1e-3, 1.0, true}, {a.beta_2_decay, a.epsilon_1, a.epsilon_2, a.clip_threshold,
                                                      a.relative_step})
    assert.are.equal(0.1, optim.Adagrad{}.initial_accumulator_value)
    assert.are.equal(0.01, optim.SGD{}.learning_rate)
  end)

  it("pass an optimizer object through, giving it the params", function()
    local opt = optim.RMSprop{learning_rate = 0.1}
    local p = dnn.zeros(2)
    assert.are.equal(opt, optim.get(opt, {p}))
    assert.are.equal(p, opt.params[1])
  end)

  it("refuse unknown names, options and bad values", function()
    assert.has_error(function() optim.get("nope") end,
      "unknown optimizer 'nope' (expected one of: adadelta, adafactor, adagrad, adam, adamax, adamw, ftrl, " ..
      "nadam, rmsprop, sgd)")
    assert.has_error(function() optim.RMSprop{rh0 = 0.9} end, "RMSprop: unknown option 'rh0' (did you mean 'rho'?)")
    assert.has_error(function() optim.Adam{amsgrad = 1} end, "Adam: expected amsgrad to be a boolean, got number 1")
    assert.has_error(function() optim.Ftrl{learning_rate_power = 0.5} end,
      "Ftrl: learning_rate_power must be a finite number <= 0 (got 0.5)")
    local p = dnn.tensor({1, 2}, {requires_grad = true})
    assert.has_error(function() optim.Adam{params = {p, 42}} end, "Adam: expected params[2] to be a tensor, got number 42")
  end)
end)
