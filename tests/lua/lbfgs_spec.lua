-- dnn.optim.LBFGS: known minima (Rosenbrock in 2 and 10 dims, a quadratic),
-- the trajectory of torch.optim.LBFGS, and its argument checks.
local H = require "helpers"
local LBFGS = dnn.optim.LBFGS

-- Rosenbrock's sum over consecutive pairs of the flat vector made of tensors.
local function rosenbrock(tensors)
  local flat = #tensors == 1 and tensors[1]:reshape(-1) or dnn.cat((function()
    local views = {}
    for i, t in ipairs(tensors) do views[i] = t:reshape(-1) end
    return views
  end)(), 1)
  local n = flat:numel()
  local a, b = flat:narrow(1, 1, n - 1), flat:narrow(1, 2, n - 1)
  return ((1 - a):square() + 100 * (b - a:square()):square()):sum()
end

local function closure_of(f)
  return function()
    local loss = f()
    loss:backward()
    return loss
  end
end

local function run_steps(opt, f, steps)
  local loss
  for _ = 1, steps do loss = opt:step(closure_of(f)) end
  return loss
end

describe("dnn.optim.LBFGS", function()
  it("finds the minimum (1, 1) of Rosenbrock's function with the strong-Wolfe line search", function()
    local x = dnn.tensor{-1.5, 2}:requires_grad_()
    local opt = LBFGS{params = {x}, line_search_fn = "strong_wolfe"}
    run_steps(opt, function() return rosenbrock{x} end, 5)
    local v = x:totable()
    assert(math.abs(v[1] - 1) < 1e-3 and math.abs(v[2] - 1) < 1e-3, "ended at " .. tostring(x))
    assert(rosenbrock{x}:item() < 1e-6)
    assert(opt.iterations < 100, "took " .. opt.iterations .. " iterations")
  end)

  it("optimizes several tensors as one vector (10-d Rosenbrock, minimum at ones)", function()
    dnn.manual_seed(3)
    local a = (dnn.rand(2, 3) * 0.5):requires_grad_()
    local b = (dnn.rand(4) * 0.5):requires_grad_()
    local opt = LBFGS{params = {a, b}, history_size = 10, line_search_fn = "strong_wolfe", max_iter = 50}
    run_steps(opt, function() return rosenbrock{a, b} end, 10)
    for _, t in ipairs{a, b} do
      for _, v in ipairs(t:reshape(-1):totable()) do assert(math.abs(v - 1) < 1e-3, tostring(t)) end
    end
  end)

  it("solves a convex quadratic with a fixed step (no line search)", function()
    -- f(x) = 0.5 x'Ax - b'x with A = diag(1, 4, 9): minimum at b / diag(A)
    local diag, rhs = dnn.tensor{1, 4, 9}, dnn.tensor{1, 2, 3}
    local x = dnn.zeros(3):requires_grad_()
    local opt = LBFGS{params = {x}, max_iter = 50}
    run_steps(opt, function() return (0.5 * diag * x:square() - rhs * x):sum() end, 3)
    H.assert_close(x, dnn.tensor{1, 0.5, 1 / 3}, 1e-4)
  end)

  it("keeps at most history_size pairs and returns the loss at the start of the step", function()
    local x = dnn.tensor{-1.2, 1}:requires_grad_()
    local opt = LBFGS{params = {x}, history_size = 3, line_search_fn = "strong_wolfe"}
    local first = opt:step(closure_of(function() return rosenbrock{x} end))
    assert.are.equal(24.2, math.floor(first * 10 + 0.5) / 10) -- f(-1.2, 1) = 24.2
    assert(#opt.state.old_dirs <= 3 and #opt.state.old_dirs > 0)
    assert(tostring(opt):find("LBFGS(learning_rate=1", 1, true))
  end)

  it("clears the gradients before each closure call", function()
    local x = dnn.tensor{3, -2}:requires_grad_()
    local opt = LBFGS{params = {x}, line_search_fn = "strong_wolfe"}
    local calls, leftover = 0, 0
    opt:step(function()
      calls = calls + 1
      if x.grad then leftover = leftover + x.grad:abs():sum():item() end
      local loss = (x - 1):square():sum()
      loss:backward() -- no zero_grad here: the optimizer's job
      return loss
    end)
    assert(calls > 1 and leftover == 0, calls .. " calls, leftover gradient " .. leftover)
    H.assert_close(x, dnn.tensor{1, 1}, 1e-5)
  end)

  it("follows torch.optim.LBFGS's trajectory", function()
    if not H.have_torch() then return pending("python3-torch is not installed") end
    local out = H.run_torch_code([[
import torch
for name, ls, lr in (("wolfe", "strong_wolfe", 1.0), ("fixed", None, 0.1)):
    x = torch.tensor([-1.5, 2.0], requires_grad=True)
    opt = torch.optim.LBFGS([x], lr=lr, line_search_fn=ls, max_iter=1)
    def closure():
        opt.zero_grad()
        loss = (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
        loss.backward()
        return loss
    for i in range(12):
        opt.step(closure)
        if (i + 1) % 4 == 0:
            print(name + str(i + 1), "%.9g %.9g" % tuple(x.tolist()))
]])
    for _, case in ipairs{{"wolfe", "strong_wolfe", 1}, {"fixed", nil, 0.1}} do
      local x = dnn.tensor{-1.5, 2}:requires_grad_()
      local opt = LBFGS{params = {x}, line_search_fn = case[2], learning_rate = case[3], max_iter = 1}
      for i = 1, 12 do
        opt:step(closure_of(function() return rosenbrock{x} end))
        if i % 4 == 0 then
          local expected = out[case[1] .. i]
          local got = x:totable()
          for k = 1, 2 do
            assert(math.abs(got[k] - expected[k]) < 1e-4,
              string.format("%s step %d: dnnlua %.7g, PyTorch %.7g", case[1], i, got[k], expected[k]))
          end
        end
      end
    end
  end)

  it("refuses bad arguments with messages that say what was expected", function()
    local x = dnn.zeros(2):requires_grad_()
    H.assert_error({"LBFGS: expected params to be a non-empty array of tensors, got nil"}, LBFGS)
    H.assert_error({"LBFGS: expected params to be a non-empty array"}, LBFGS, {params = {}})
    H.assert_error({"params[1] to be a tensor that requires grad, got a tensor without requires_grad"}, LBFGS,
      {params = {dnn.zeros(2)}})
    H.assert_error({"params[2] to be a tensor that requires grad, got string"}, LBFGS, {params = {x, "w"}})
    H.assert_error({"LBFGS: learning_rate must be a finite number > 0 (got 0)"}, LBFGS, {params = {x}, learning_rate = 0})
    H.assert_error({"LBFGS: learning_rate must be a finite number > 0 (got nan)"}, LBFGS,
      {params = {x}, learning_rate = 0 / 0})
    H.assert_error({"LBFGS: history_size must be an integer >= 1 (got 1.5)"}, LBFGS, {params = {x}, history_size = 1.5})
    H.assert_error({"LBFGS: max_iter must be an integer >= 1 (got string '5')"}, LBFGS, {params = {x}, max_iter = "5"})
    H.assert_error({"LBFGS: tolerance_grad must be a finite number >= 0 (got -1)"}, LBFGS,
      {params = {x}, tolerance_grad = -1})
    H.assert_error({"line_search_fn to be nil or \"strong_wolfe\", got string 'armijo'"}, LBFGS,
      {params = {x}, line_search_fn = "armijo"})
    H.assert_error({"LBFGS: unknown option 'histroy_size'", "history_size"}, LBFGS, {params = {x}, histroy_size = 5})
    local opt = LBFGS{params = {x}}
    H.assert_error({"LBFGS:step: expected a closure", "got nil"}, opt.step, opt)
    H.assert_error({"LBFGS:step: expected the closure to return the loss", "got string"}, opt.step, opt,
      function() return "loss" end)
  end)
end)
