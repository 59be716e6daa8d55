-- WGAN-GP (Gulrajani et al. 2017) as a custom training loop: small MLPs,
-- the critic's loss mean(D(fake)) - mean(D(real)) + lambda * mean((||grad
-- D(x_hat)|| - 1)^2) with the gradient from dnn.grad(create_graph), Adam
-- with betas (0.5, 0.9), n_critic = 5, the critic frozen (trainable = false)
-- for the generator's step. The penalty's gradient must reach the critic's
-- weights, and the generator must move onto the target distribution.
local dnn = dnn or require "dnn"
local H = require "helpers"
local nn = dnn.nn

local TARGET_MEAN, TARGET_STD = {2, -1}, 0.5
local LAMBDA, N_CRITIC, BATCH = 10, 5, 64

-- leaky_relu, no batch norm: the penalty is per sample
local function new_critic()
  return nn.Sequential{nn.Dense(32, {activation = "leaky_relu", input_shape = {2}}),
                       nn.Dense(32, {activation = "leaky_relu"}), nn.Dense(1)}
end

local function new_generator()
  return nn.Sequential{nn.Dense(16, {activation = "relu", input_shape = {2}}), nn.Dense(16, {activation = "relu"}),
                       nn.Dense(2)}
end

local function real_batch(n) return dnn.randn(n, 2) * TARGET_STD + dnn.tensor{TARGET_MEAN} end

-- Points on the lines between real and fake samples, as a leaf: the
-- penalty differentiates the critic with respect to them.
local function interpolates(real, fake)
  local e = dnn.rand(real.shape[1], 1)
  local xhat = (real * e + fake * (1 - e)):detach()
  xhat.requires_grad = true
  return xhat
end

-- lambda * mean((||grad_x D(x_hat)||_2 - 1)^2), and the norms. create_graph:
-- the loss's backward differentiates the gradient again, into the weights.
local function gradient_penalty(critic, xhat)
  local g = dnn.grad(critic(xhat):sum(), xhat, {create_graph = true})
  local norms = ((g * g):sum(2) + 1e-12):sqrt() -- the 1e-12 keeps sqrt's derivative finite at 0
  return (norms - 1):square():mean() * LAMBDA, norms
end

local function clear_grads(params)
  for _, p in ipairs(params) do p.grad = nil end
end

-- The sign of every hidden unit of the critic at x, as a string: the
-- penalty is smooth in the weights only while these stay the same.
local function activation_signs(critic, x)
  local parts = {}
  dnn.no_grad(function()
    local h = x
    for i = 1, #critic.layers - 1 do
      h = critic.layers[i](h)
      parts[i] = table.concat(h:gt(0):reshape(-1):totable(), "")
    end
  end)
  return table.concat(parts, "|")
end

-- Distance of the samples' mean from the target's, and their std per axis.
local function sample_stats(generator, n)
  local s = dnn.no_grad(function() return generator(dnn.randn(n, 2)) end)
  local m, sd = s:mean(1):totable(), s:var(1):sqrt():totable()
  return math.sqrt((m[1] - TARGET_MEAN[1]) ^ 2 + (m[2] - TARGET_MEAN[2]) ^ 2), m, sd
end

describe("WGAN-GP", function()
  it("backpropagates the gradient penalty into the critic's kernels, as finite differences do", function()
    dnn.manual_seed(21)
    local critic = new_critic()
    local xhat = interpolates(real_batch(16), dnn.randn(16, 2))
    local params = critic:parameters()
    clear_grads(params)
    local gp = gradient_penalty(critic, xhat)
    gp:backward()
    local kernels = {critic.layers[1].kernel, critic.layers[2].kernel, critic.layers[3].kernel}
    for i, k in ipairs(kernels) do
      assert.is_not_nil(k.grad, "kernel " .. i .. " got no gradient")
      assert.is_true(k.grad:abs():max():item() > 1e-4, "kernel " .. i .. "'s gradient is zero")
    end
    -- D's input gradient does not depend on the last bias: nothing (or zero) reaches it
    local last_bias = critic.layers[3].bias
    assert.is_true(last_bias.grad == nil or last_bias.grad:abs():max():item() == 0)

    -- central differences of the penalty (no create_graph needed for its value)
    local eps = 1e-2
    local signs = activation_signs(critic, xhat)
    local function penalty_at(entry, value)
      dnn.no_grad(function() entry:fill(value) end)
      local g = dnn.grad(critic(xhat):sum(), xhat)
      local norms = ((g * g):sum(2) + 1e-12):sqrt()
      return ((norms - 1):square():mean() * LAMBDA):item(), activation_signs(critic, xhat)
    end
    -- the first entry of each kernel whose +-eps keeps every unit's sign (the penalty jumps where one flips)
    for i, k in ipairs(kernels) do
      local checked = false
      for r = 1, k.shape[1] do
        for c = 1, k.shape[2] do
          local entry = k:select(1, r):select(1, c)
          local orig = entry:item()
          local up, up_signs = penalty_at(entry, orig + eps)
          local down, down_signs = penalty_at(entry, orig - eps)
          dnn.no_grad(function() entry:fill(orig) end)
          if up_signs == signs and down_signs == signs then
            local numeric = (up - down) / (2 * eps)
            local analytic = k.grad:select(1, r):select(1, c):item()
            assert(math.abs(analytic - numeric) <= 2e-4 + 5e-3 * math.abs(numeric),
              ("kernel %d {%d,%d}: analytic %.6g vs numeric %.6g"):format(i, r, c, analytic, numeric))
            checked = true
            break
          end
        end
        if checked then break end
      end
      assert.is_true(checked, "no entry of kernel " .. i .. " keeps the signs within eps")
    end
  end)

  it("moves the generator onto a 2-d Gaussian, with the critic frozen for the generator's steps", function()
    -- one thread: the summation order, hence the run, then depends on the seed alone
    local threads = dnn.get_num_threads()
    dnn.set_num_threads(1)
    dnn.manual_seed(7)
    local critic, generator = new_critic(), new_generator()
    local critic_params, generator_params = critic:parameters(), generator:parameters()
    -- the paper's Adam betas; the generator's smaller rate damps the oscillation around the target
    local opt_critic = dnn.optim.Adam{learning_rate = 1e-3, beta_1 = 0.5, beta_2 = 0.9, params = critic_params}
    local opt_generator = dnn.optim.Adam{learning_rate = 2e-4, beta_1 = 0.5, beta_2 = 0.9, params = generator_params}

    local start_distance = sample_stats(generator, 2000)
    local iterations, leaked, norm_mean = 1000, 0, nil
    local t0 = dnn.wall_time()
    for _ = 1, iterations do
      for _ = 1, N_CRITIC do
        local real = real_batch(BATCH)
        local fake = dnn.no_grad(function() return generator(dnn.randn(BATCH, 2)) end)
        local gp, norms = gradient_penalty(critic, interpolates(real, fake))
        local loss = critic(fake):mean() - critic(real):mean() + gp
        clear_grads(critic_params)
        loss:backward()
        opt_critic:step()
        norm_mean = norms:mean():item()
      end
      clear_grads(critic_params)
      critic.trainable = false
      local loss = -critic(generator(dnn.randn(BATCH, 2))):mean()
      clear_grads(generator_params)
      loss:backward()
      opt_generator:step()
      critic.trainable = true
      for _, p in ipairs(critic_params) do
        if p.grad then leaked = leaked + 1 end
      end
    end
    local seconds = dnn.wall_time() - t0
    dnn.set_num_threads(threads)

    local distance, mean, std = sample_stats(generator, 2000)
    print(("\nWGAN-GP: %d generator steps in %.2f s; distance of the means %.3f at the start, %.3f at the end " ..
           "(mean %.3f, %.3f; std %.3f, %.3f; target std %.1f); mean gradient norm at x_hat %.3f")
      :format(iterations, seconds, start_distance, distance, mean[1], mean[2], std[1], std[2], TARGET_STD, norm_mean))
    assert.are.equal(0, leaked) -- no critic weight got a .grad while frozen
    assert.is_true(start_distance > 1.5, "the generator started near the target: " .. start_distance)
    assert.is_true(distance < 0.5, "the samples' mean is far from the target's: " .. distance)
    for axis = 1, 2 do
      assert.is_true(std[axis] > 0.2 and std[axis] < 1.0, "std " .. std[axis] .. " on axis " .. axis)
    end
    assert.is_true(math.abs(norm_mean - 1) < 0.25, "mean gradient norm " .. norm_mean)
    assert.is_true(critic.layers[1].kernel.requires_grad) -- unfrozen again
  end)
end)
