-- Second derivatives from Lua, checked against finite differences: for a
-- scalar f of some leaf tensors, the Hessian-vector product that backward
-- gives through dnn.grad(f, inputs, {create_graph = true}) must match the
-- central differences of the first gradient. The ops and layers a gradient
-- penalty (WGAN-GP) differentiates twice, and the errors on the way.
local dnn = dnn or require "dnn"
local H = require "helpers"
local nn = dnn.nn

local function leaf(values) return dnn.tensor(values, {requires_grad = true}) end

-- Fixed numbers of varying sign and size, so that errors in different
-- elements cannot cancel; phase tells one pattern from another.
local function pattern(n, phase)
  local w = {}
  for i = 1, n do
    w[i] = ((i + phase) % 2 == 0 and -1 or 1) * (0.5 + ((i + 13 * phase) * 7919 % 101) / 101)
  end
  return w
end

local function pattern_like(x, phase) return dnn.tensor(pattern(x:numel(), phase)):reshape(x.shape) end

-- The values of t, row-major, as a Lua array.
local function flat(t) return t:detach():reshape(-1):totable() end

-- The 0-d view of element k (0-based, row-major) of x, and its 1-based index.
local function element(x, k)
  local shape, idx = x.shape, {}
  for d = #shape, 1, -1 do
    idx[d] = k % shape[d] + 1
    k = k // shape[d]
  end
  local v = x
  for d = 1, #shape do v = v:select(1, idx[d]) end
  return v, idx
end

-- second_order_check(fn, inputs[, {eps = 1e-2, atol = 5e-3, rtol = 2e-2}]):
-- f = sum(w * fn(inputs...)) for fixed w; g_i = dnn.grad(f, inputs,
-- {create_graph = true}); h = sum_i sum(g_i * v_i) for fixed v_i; backward
-- of h. Compares each g_i with the central differences of f and each
-- inputs[i].grad (the Hessian-vector product) with those of h (float32:
-- the default eps is large, the inputs must stay away from kinks by more).
-- Returns true, or false and the worst element. Inputs' .grad are restored.
local function second_order_check(fn, inputs, opts)
  opts = opts or {}
  local eps, atol, rtol = opts.eps or 1e-2, opts.atol or 5e-3, opts.rtol or 2e-2
  local vs, ws = {}, nil
  for i, x in ipairs(inputs) do vs[i] = pattern_like(x, i + 1) end

  local function f_of()
    local out = fn(table.unpack(inputs))
    ws = ws or pattern_like(out, 1)
    return (out * ws):sum()
  end
  -- f and h as numbers, and h's tensor when create_graph
  local function evaluate(create_graph)
    local f = f_of()
    local gs = {dnn.grad(f, inputs, {create_graph = create_graph})}
    local h
    for i, g in ipairs(gs) do
      local t = (g * vs[i]):sum()
      h = h and h + t or t
    end
    return f:item(), h, gs
  end

  -- analytic
  local saved, first, second = {}, {}, {}
  for i, x in ipairs(inputs) do saved[i], x.grad = x.grad, nil end
  local ok, err = pcall(function()
    local _, h, gs = evaluate(true)
    if h.requires_grad then h:backward() end
    for i, x in ipairs(inputs) do
      first[i] = flat(gs[i])
      second[i] = x.grad and flat(x.grad) or {}
    end
  end)
  for i, x in ipairs(inputs) do x.grad = saved[i] end
  if not ok then error(err, 0) end

  -- numeric: central differences of f and h, in double precision
  local worst
  local function compare(what, i, idx, a, numeric)
    local diff, tol = math.abs(a - numeric), atol + rtol * math.abs(numeric)
    if diff > tol or diff ~= diff then
      local ratio = diff ~= diff and math.huge or diff / tol
      if not worst or ratio > worst.ratio then
        worst = {ratio = ratio, what = what, input = i, idx = idx, a = a, numeric = numeric, diff = diff, tol = tol}
      end
    end
  end
  for i, x in ipairs(inputs) do
    for k = 0, x:numel() - 1 do
      local e, idx = element(x, k)
      local orig = e:item()
      local function at(value)
        dnn.no_grad(function() e:fill(value) end)
        local f, h = evaluate(false)
        return f, h:item(), e:item()
      end
      local fup, hup, up = at(orig + eps)
      local fdown, hdown, down = at(orig - eps)
      dnn.no_grad(function() e:fill(orig) end)
      compare("first", i, idx, first[i][k + 1], (fup - fdown) / (up - down))
      compare("second", i, idx, second[i][k + 1] or 0, (hup - hdown) / (up - down))
    end
  end
  if worst then
    return false, ("%s derivative, input %d element {%s}: analytic %.6g vs numeric %.6g (difference %.3g > %.3g)")
      :format(worst.what, worst.input, table.concat(worst.idx, ","), worst.a, worst.numeric, worst.diff, worst.tol)
  end
  return true
end

local function check(fn, inputs, opts)
  local ok, msg = second_order_check(fn, inputs, opts)
  assert(ok, msg)
end

-- Away from relu's kink at 0 by far more than eps; log and div need > 0.
local A = {{-1.3, 0.7, 2.1}, {0.4, -0.6, -1.2}}
local B = {{0.9, -0.35, 1.6}, {-1.1, 0.25, 0.55}}
local POS = {{0.6, 1.7, 2.4}, {0.9, 1.3, 3.1}}

describe("second derivatives match finite differences", function()
  it("for tanh, sigmoid, exp and log", function()
    check(function(x) return x:tanh() end, {leaf(A)})
    check(function(x) return x:sigmoid() end, {leaf(A)})
    check(function(x) return x:exp() end, {leaf(A)})
    check(function(x) return x:log() end, {leaf(POS)})
  end)

  it("for relu: zero alone, its mask inside a product", function()
    local x = leaf(A)
    check(function(t) return t:relu() end, {x})
    -- the gradient of relu alone is a constant mask, yet part of the graph: its gradient is zeros, as PyTorch
    local g = dnn.grad(x:relu():sum(), x, {create_graph = true})
    assert.is_true(g.requires_grad)
    H.assert_close(dnn.grad(g:sum(), x), {{0, 0, 0}, {0, 0, 0}}, 0)
    check(function(t) return t:relu() * t:relu() * t end, {x}) -- relu(x)^2 x: 6x where x > 0, 0 elsewhere
  end)

  it("for mul and div of two inputs, both of them, broadcast too", function()
    check(function(a, b) return a * b end, {leaf(A), leaf(B)})
    check(function(a, b) return a / b end, {leaf(A), leaf(POS)})
    check(function(a, b) return (a * a) / b end, {leaf(A), leaf{1.5, 0.8, 2.2}})
  end)

  it("for x^3, whose Hessian-vector product is 6 x v exactly", function()
    local x = leaf{1, -2, 0.5, 1.5}
    check(function(t) return t ^ 3 end, {x})
    -- the same product computed by hand: no projection, v = 1 .. 4
    local v = dnn.tensor{1, 2, 3, 4}
    local g = dnn.grad((x ^ 3):sum(), x, {create_graph = true})
    H.assert_close(g, {3, 12, 0.75, 6.75}, 1e-6)
    ;(g * v):sum():backward()
    H.assert_close(x.grad, {6, -24, 9, 36}, 1e-6)
    x.grad = nil
  end)

  it("for matmul, both operands", function()
    check(function(a, b) return a:matmul(b) end, {leaf(A), leaf{{0.5, -1}, {1.2, 0.3}, {-0.7, 0.8}}})
    -- the product alone is bilinear: only its cross terms are nonzero; squared it has all four
    check(function(a, b) local p = a:matmul(b) return p * p end, {leaf(A), leaf{{0.5, -1}, {1.2, 0.3}, {-0.7, 0.8}}})
  end)

  it("for softmax and log_softmax", function()
    check(function(x) return x:softmax(-1) end, {leaf(A)})
    check(function(x) return x:log_softmax(-1) end, {leaf(A)})
    check(function(x) return x:softmax(1) end, {leaf(B)})
  end)

  it("for Dense with tanh and with leaky_relu, in its input and its kernel", function()
    for _, activation in ipairs{"tanh", "leaky_relu"} do
      local dense = nn.Dense(4, {activation = activation, input_shape = {3}})
      local x = leaf(A)
      -- a fixed kernel whose pre-activations keep 0.1 away from leaky_relu's kink
      dnn.no_grad(function() dense.kernel:copy(pattern_like(dense.kernel, 10) * 0.5) end)
      assert.is_true(x:matmul(dense.kernel):abs():min():item() > 0.1)
      check(function(t) return dense(t) end, {x, dense.kernel})
      -- leaky_relu is linear in the input: the gradient's own gradient in x only comes through the kernel
      check(function(t) return dense(t) * dense(t) end, {x, dense.kernel, dense.bias})
    end
  end)

  it("for LayerNormalization, in its input and gamma", function()
    local ln = nn.LayerNormalization{input_shape = {3}}
    dnn.no_grad(function() ln.gamma:copy(dnn.tensor{1.2, 0.8, -0.5}) end)
    check(function(t) return ln(t) end, {leaf(A), ln.gamma})
  end)

  it("for Conv2D, Conv2DTranspose and DepthwiseConv2D, in the input, kernel and bias", function()
    local x = leaf(dnn.tensor(pattern(1 * 4 * 4 * 2, 3)):reshape{1, 4, 4, 2} * 0.5)
    dnn.manual_seed(3)
    local layers = {
      nn.Conv2D(3, 2, {activation = "tanh"}),
      nn.Conv2D(2, 3, {strides = 2, padding = "same", activation = "sigmoid"}),
      nn.Conv2DTranspose(2, 3, {strides = 2, padding = "same", activation = "tanh"}),
      nn.DepthwiseConv2D(3, {depth_multiplier = 2, padding = "same", activation = "tanh"}),
    }
    for _, layer in ipairs(layers) do
      layer(x) -- builds the weights
      local w = layer.kernel or layer.depthwise_kernel
      check(function(t) return layer(t) end, {x, w, layer.bias})
    end
  end)

  it("for MaxPooling2D, AveragePooling2D and global pooling", function()
    -- distinct values 0.05 apart: no two cells of a window within eps of each other
    local values = {}
    for i = 1, 2 * 4 * 4 * 2 do values[i] = ((i * 37) % 64) * 0.05 - 1.6 end
    local x = leaf(dnn.tensor(values):reshape{2, 4, 4, 2})
    for _, pool in ipairs{nn.MaxPooling2D{pool_size = 2}, nn.MaxPooling2D{pool_size = 3, strides = 2, padding = "same"},
                          nn.AveragePooling2D{pool_size = 3, strides = 1}, nn.GlobalMaxPooling2D(),
                          nn.GlobalAveragePooling2D()} do
      check(function(t) return pool(t):square() end, {x})
    end
  end)

  it("for gelu", function()
    check(function(x) return x:gelu() end, {leaf(A)})
  end)

  it("for Conv1D (causal, dilated, strided, same) and Embedding", function()
    local x = leaf(dnn.tensor(pattern(2 * 7 * 2, 6)):reshape{2, 7, 2} * 0.5)
    dnn.manual_seed(6)
    local layers = {
      nn.Conv1D(2, 3, {padding = "causal", dilation_rate = 2, activation = "tanh"}),
      nn.Conv1D(3, 2, {padding = "causal", strides = 2, activation = "sigmoid"}),
      nn.Conv1D(2, 3, {padding = "same", strides = 2, activation = "tanh"}),
    }
    for _, layer in ipairs(layers) do
      layer(x)
      check(function(t) return layer(t) end, {x, layer.kernel, layer.bias})
    end
    local e = nn.Embedding(4, 2, {mask_zero = true})
    local ids = dnn.tensor{{1, 4, 0}, {4, 4, 2}}
    check(function() return e(ids):tanh() end, {e.embeddings})
  end)

  it("for a conv critic's gradient penalty: Conv2D, Flatten, Dense", function()
    dnn.manual_seed(4)
    local critic = nn.Sequential{nn.Conv2D(2, 3, {activation = "tanh", input_shape = {4, 4, 1}}), nn.Flatten(), nn.Dense(1)}
    local x = leaf(dnn.tensor(pattern(2 * 16, 5)):reshape{2, 4, 4, 1} * 0.5)
    check(function(t)
      local g = dnn.grad(critic(t):sum(), t, {create_graph = true})
      return ((g * g):reshape{2, -1}:sum(2) + 1e-12):sqrt():add(-1):square()
    end, {x, critic.layers[1].kernel})
  end)

  it("for a two-layer MLP's input gradient: what a gradient penalty differentiates", function()
    dnn.manual_seed(5)
    local mlp = nn.Sequential{nn.Dense(5, {activation = "tanh", input_shape = {2}}), nn.Dense(1)}
    local x = leaf{{0.3, -1.1}, {1.4, 0.2}, {-0.8, 0.6}}
    local w1, w2 = mlp.layers[1].kernel, mlp.layers[2].kernel
    check(function(t) return mlp(t) end, {x, w1, w2})
    -- the penalty itself, (||grad_x D|| - 1)^2 per row, a third derivative for the check
    check(function(t)
      local g = dnn.grad(mlp(t):sum(), t, {create_graph = true})
      return ((g * g):sum(2) + 1e-12):sqrt():add(-1):square()
    end, {x, w1})
  end)
end)

describe("the checker", function()
  it("fails on a wrong second derivative", function()
    -- d = x - x:detach() is 0 with a derivative of 1: 5 d^2 leaves the values and the first
    -- gradient alone, and adds 10 to the second derivative's graph only
    local ok, msg = second_order_check(function(x)
      local d = x - x:detach()
      return x ^ 3 + d * d * 5
    end, {leaf(POS)})
    assert.is_false(ok)
    assert.truthy(msg:find("^second derivative, input 1"), msg)
  end)
end)

describe("errors", function()
  it("differentiating twice through Dropout in training mode names it and the second derivative", function()
    dnn.manual_seed(2)
    local x = dnn.randn(4, 3, {requires_grad = true})
    local drop = nn.Dropout(0.5)
    local g = dnn.grad((drop(x, {training = true}) * x):sum(), x, {create_graph = true})
    H.assert_error({"'dropout' has no second derivative"}, function() return dnn.grad(g:sum(), x, {retain_graph = true}) end)
    H.assert_error({"second derivative"}, function() (g * g):sum():backward() end)
    -- in inference mode it is the identity, and twice differentiable
    local g2 = dnn.grad((drop(x, {training = false}) * x):sum(), x, {create_graph = true})
    H.assert_close(dnn.grad(g2:sum(), x), dnn.full({4, 3}, 2))
  end)

  it("of dnn.grad on bad arguments name dnn.grad", function()
    local x = leaf{1, 2}
    local y = (x * x):sum()
    H.assert_error({"dnn.grad", "#1", "output tensors", "got number"}, function() return dnn.grad(3, x) end)
    H.assert_error({"dnn.grad", "#2", "input tensors", "got string"}, function() return dnn.grad(y, "x") end)
    H.assert_error({"dnn.grad", "#2", "got number at index 2"}, function() return dnn.grad(y, {x, 3}) end)
    H.assert_error({"dnn.grad", "#3", "options table", "got number"}, function() return dnn.grad(y, x, 5) end)
    H.assert_error({"dnn.grad", "#3", "grad_outputs"}, function() return dnn.grad(y, x, {grad_outputs = 3}) end)
    H.assert_error({"dnn.grad", "create_graph", "boolean"}, function() return dnn.grad(y, x, {create_graph = 1}) end)
    H.assert_error({"dnn.grad: unknown option 'create_grpah'",
                    "(expected grad_outputs, retain_graph, create_graph, allow_unused)"},
      function() return dnn.grad(y, x, {create_grpah = true}) end)
    H.assert_error({"dnn.grad", "input 2 was not used"},
      function() return dnn.grad(y, {x, leaf{1}}) end)
  end)
end)
