-- SimpleRNN, LSTM and GRU (issue 12): shapes and results, Keras's parameter
-- counts and weight order, options and their errors, masks through models,
-- initial and stateful states, dropout, gradients by finite differences, and
-- outputs, states and gradients against PyTorch's nn.RNN / nn.LSTM / nn.GRU
-- on the same weights (skipped with a message where PyTorch is absent).
local dnn = dnn or require "dnn"
local H = require "helpers"
local nn = dnn.nn


describe("recurrent layers", function()
  it("return the output, then the states with return_state", function()
    dnn.manual_seed(1)
    local x = dnn.randn(3, 5, 4)
    H.assert_shape(nn.SimpleRNN(6)(x), {3, 6})
    local seq, h, c = nn.LSTM(6, {return_sequences = true, return_state = true})(x)
    H.assert_shape(seq, {3, 5, 6})
    H.assert_shape(h, {3, 6})
    H.assert_shape(c, {3, 6})
    H.assert_close(seq:select(2, 5), h, 1e-6) -- the last output is the final state
    local out, gh = nn.GRU(6, {return_state = true})(x)
    H.assert_close(out, gh, 1e-6)
    local results = table.pack(nn.GRU(6, {reset_after = false})(x))
    assert.are.equal(1, results.n)
  end)

  it("count parameters as Keras does and keep its weight order", function()
    local x = dnn.zeros(2, 3, 4)
    local cases = {
      {nn.SimpleRNN(6), 6 * (4 + 6 + 1), {{4, 6}, {6, 6}, {6}}},
      {nn.LSTM(6), 4 * 6 * (4 + 6 + 1), {{4, 24}, {6, 24}, {24}}},
      {nn.GRU(6), 3 * 6 * (4 + 6) + 2 * 3 * 6, {{4, 18}, {6, 18}, {2, 18}}},
      {nn.GRU(6, {reset_after = false}), 3 * 6 * (4 + 6 + 1), {{4, 18}, {6, 18}, {18}}},
      {nn.LSTM(6, {use_bias = false}), 4 * 6 * (4 + 6), {{4, 24}, {6, 24}}},
    }
    for _, case in ipairs(cases) do
      local l, count, shapes = table.unpack(case)
      l(x)
      assert.are.equal(count, (l:count_params()))
      local weights = l:get_weights()
      assert.are.equal(#shapes, #weights)
      for i, s in ipairs(shapes) do H.assert_shape(weights[i], s) end
    end
  end)

  it("start LSTM's forget-gate bias at 1 and the recurrent kernel orthogonal", function()
    dnn.manual_seed(2)
    local l = nn.LSTM(3)
    l(dnn.zeros(1, 2, 5))
    H.assert_close(l.bias, {0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0}, 0)
    local u = l.recurrent_kernel -- (3, 12): orthonormal rows
    H.assert_close(dnn.matmul(u, u:transpose(1, 2)), dnn.eye(3), 1e-5)
    local plain = nn.LSTM(3, {unit_forget_bias = false})
    plain(dnn.zeros(1, 2, 5))
    H.assert_close(plain.bias, dnn.zeros(12), 0)
  end)

  it("show in summary() with Keras's counts", function()
    local m = nn.Sequential{nn.LSTM(8, {input_shape = {5, 4}, return_sequences = true}), nn.GRU(3), nn.Dense(2)}
    local lines = {}
    m:summary({print_fn = function(line) lines[#lines + 1] = line end})
    local text = table.concat(lines, "\n")
    assert.truthy(text:find("(None, 5, 8)", 1, true))
    assert.truthy(text:find("416", 1, true))
    assert.truthy(text:find(tostring(3 * 3 * (8 + 3) + 18), 1, true))
  end)

  it("refuse bad options and inputs with clear messages", function()
    H.assert_error({"LSTM: expected a positive integer number of units"}, function() nn.LSTM(0) end)
    H.assert_error({"unknown option", "reset_after"}, function() nn.LSTM(3, {reset_after = true}) end)
    H.assert_error({"expected activation linear, relu, sigmoid or tanh"},
      function() nn.GRU(3, {activation = "gelu"}) end)
    H.assert_error({"expected dropout in [0, 1)"}, function() nn.SimpleRNN(3, {dropout = 1}) end)
    H.assert_error({"expected return_sequences = true or false"},
      function() nn.SimpleRNN(3, {return_sequences = 1}) end)
    H.assert_error({"expected an input of (batch, timesteps, features)"}, function() nn.LSTM(3)(dnn.zeros(2, 4)) end)
    H.assert_error({"expected initial_state as a list {h, c}"},
      function() nn.LSTM(3)(dnn.zeros(2, 4, 1), {initial_state = dnn.zeros(2, 3)}) end)
    H.assert_error({"initial state h of shape (2, 3), got (2, 4)"},
      function() nn.GRU(3)(dnn.zeros(2, 4, 1), {initial_state = dnn.zeros(2, 4)}) end)
  end)

  it("carry the state over masked steps and repeat the last output (Keras)", function()
    dnn.manual_seed(3)
    local x = dnn.randn(2, 5, 3)
    dnn.no_grad(function() x:narrow(2, 4, 2):select(1, 1):fill(0) end) -- sample 1: its last two steps padded
    local l = nn.LSTM(4, {return_sequences = true, return_state = true})
    local mask = nn.Masking():compute_mask(x)
    local seq, h, c = l(x, {mask = mask})
    H.assert_close(seq:select(1, 1):select(1, 4), seq:select(1, 1):select(1, 3), 0)
    H.assert_close(seq:select(1, 1):select(1, 5), seq:select(1, 1):select(1, 3), 0)
    -- the same as running sample 1's first three steps alone
    local short, hs, cs = l(x:narrow(1, 1, 1):narrow(2, 1, 3))
    H.assert_close(h:narrow(1, 1, 1), hs, 1e-6)
    H.assert_close(c:narrow(1, 1, 1), cs, 1e-6)
    H.assert_close(seq:narrow(1, 1, 1):narrow(2, 1, 3), short, 1e-6)
    -- the mask goes on with the sequence only
    assert.are.equal(mask, l:compute_mask(x, mask))
    assert.is_nil(nn.LSTM(4):compute_mask(x, mask))
  end)

  it("take the mask from a model: Masking, then the recurrent layers", function()
    dnn.manual_seed(4)
    local m = nn.Sequential{nn.Masking({input_shape = {6, 2}}), nn.GRU(5, {return_sequences = true}), nn.LSTM(3)}
    local x = dnn.randn(2, 6, 2)
    dnn.no_grad(function() x:select(1, 2):narrow(1, 5, 2):fill(0) end)
    local full = m(x)
    local trimmed = m(x:narrow(1, 2, 1):narrow(2, 1, 4))
    H.assert_close(full:narrow(1, 2, 1), trimmed, 1e-5)
  end)

  it("read the sequence backwards with go_backwards, outputs in that order", function()
    dnn.manual_seed(5)
    local x = dnn.randn(2, 4, 3)
    local fwd = nn.GRU(3, {return_sequences = true})
    local back = nn.GRU(3, {return_sequences = true, go_backwards = true})
    fwd(x)
    back(x)
    back:set_weights(fwd:get_weights())
    local reversed = dnn.stack({x:select(2, 4), x:select(2, 3), x:select(2, 2), x:select(2, 1)}, 2)
    H.assert_close(back(x), fwd(reversed), 1e-6)
  end)

  it("take initial states per call, and keep them when stateful", function()
    dnn.manual_seed(6)
    local x = dnn.randn(2, 6, 3)
    local l = nn.LSTM(4, {return_state = true})
    local _, h1, c1 = l(x:narrow(2, 1, 3))
    local out2 = l(x:narrow(2, 4, 3), {initial_state = {h1, c1}})
    H.assert_close(out2, (l(x)), 1e-5)

    local s = nn.LSTM(4, {stateful = true})
    s(x:narrow(2, 1, 1)) -- builds
    s:set_weights(l:get_weights())
    s:reset_states()
    s(x:narrow(2, 1, 3))
    H.assert_close(s(x:narrow(2, 4, 3)), (l(x)), 1e-5)
    H.assert_error({"keeps states for a batch of 2, got a batch of 1", "reset_states()"},
      function() s(x:narrow(1, 1, 1)) end)
    s:reset_states()
    H.assert_close(s(x:narrow(2, 1, 3)), (l(x:narrow(2, 1, 3))), 1e-6)
  end)

  it("drop inputs and state with per-sample masks in training only", function()
    dnn.manual_seed(7)
    local x = dnn.randn(4, 5, 3)
    local l = nn.SimpleRNN(6, {dropout = 0.5, recurrent_dropout = 0.5, seed = 3})
    local a = l(x, {training = false})
    H.assert_close(l(x, {training = false}), a, 0)
    local b = l(x, {training = true})
    assert.is_false(H.close(b, a, 1e-3))
    -- training mode still has gradients for every weight
    l:train(true)
    l(x):sum():backward()
    for _, w in ipairs{l.kernel, l.recurrent_kernel, l.bias} do assert.truthy(w.grad) end
  end)

  it("have gradients matching finite differences (every input and weight)", function()
    dnn.manual_seed(8)
    for _, make in ipairs{
      function() return nn.SimpleRNN(3, {return_sequences = true}) end,
      function() return nn.LSTM(3, {return_state = true, go_backwards = true}) end,
      function() return nn.GRU(3, {return_sequences = true}) end,
      function() return nn.GRU(3, {reset_after = false, return_state = true}) end,
    } do
      local l = make()
      local x = dnn.randn(2, 4, 2, {requires_grad = true})
      local h0 = dnn.randn(2, 3, {requires_grad = true})
      l(x:detach())
      local init = l.cell == "lstm" and {h0, h0 * 0.5} or {h0}
      local ok, err = dnn.autograd.gradcheck(function(xx, k, u, b, hh)
        local states = l.cell == "lstm" and {hh, hh * 0.5} or {hh}
        local r = table.pack(require("dnn.core")._rnn.rnn(xx, k, u, b, states[1], states[2], nil, nil,
          {cell = l.cell, reset_after = l.reset_after, go_backwards = l.go_backwards,
           return_sequences = l.return_sequences}))
        local total = r[1]:sum() * 0.7
        for i = 2, r.n do total = total + (r[i] * r[i]):sum() end
        return total
      end, {x, l.kernel, l.recurrent_kernel, l.bias, init[1]})
      assert(ok, err)
    end
  end)
end)

describe("recurrent layers against PyTorch", function()
  if not H.have_torch() then
    pending("PyTorch (python3-torch) is not installed: cross-check skipped")
    return
  end

  local function assert_close(t, expected, what) H.assert_close_to_reference(t, expected, 1e-4, what) end

  -- name, layer class, return_sequences, go_backwards, initial states
  local cases = {
    {"s1", "SimpleRNN", true, false, false},
    {"s2", "SimpleRNN", false, true, true},
    {"l1", "LSTM", true, false, false},
    {"l2", "LSTM", false, false, true},
    {"l3", "LSTM", true, true, true},
    {"g1", "GRU", true, false, false},
    {"g2", "GRU", false, true, true},
  }

  it("agree on outputs, final states and gradients of input, weights and initial states", function()
    dnn.manual_seed(12)
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    local runs = {}
    for _, case in ipairs(cases) do
      local name, class, seq, back, with_init = table.unpack(case)
      local cell = class == "LSTM" and "lstm" or class == "GRU" and "gru" or "simple"
      local units, batch, steps, features = 5, 3, 6, 4
      local l = nn[class](units, {return_sequences = seq, go_backwards = back, return_state = true})
      local x = dnn.randn(batch, steps, features, {requires_grad = true})
      l(x:detach())
      dnn.no_grad(function() -- weights away from their initial values, biases too
        for _, w in ipairs(l.weights) do w.tensor:copy(dnn.randn(table.unpack(w.tensor.shape)) * 0.5) end
      end)
      local init = nil
      if with_init then
        init = {dnn.randn(batch, units, {requires_grad = true})}
        if cell == "lstm" then init[2] = dnn.randn(batch, units, {requires_grad = true}) end
      end
      local r = table.pack(l(x, init and {initial_state = init} or nil))
      local g = {}
      local loss = nil
      for i = 1, r.n do
        g[i] = dnn.randn(table.unpack(r[i].shape))
        local term = (r[i] * g[i]):sum()
        loss = loss and loss + term or term
      end
      loss:backward()
      runs[#runs + 1] = {name = name, l = l, r = r, x = x, init = init}
      f:write(string.format("case %s %s %s %s\n", name, cell, tostring(seq), tostring(back)))
      local tensors = {x = x, w = l.kernel, u = l.recurrent_kernel, b = l.bias, gy = g[1], gh = g[2], gc = g[3],
                       h0 = init and init[1], c0 = init and init[2]}
      for _, k in ipairs{"x", "w", "u", "b", "gy", "gh", "gc", "h0", "c0"} do
        local t = tensors[k]
        if t then f:write(name, ".", k, " ", table.concat(t.shape, ","), ": ", H.torch_values(t:detach()), "\n") end
      end
    end
    f:close()
    local ref = H.run_torch_reference("rnn_ref.py", path)
    os.remove(path)
    for _, run in ipairs(runs) do
      local n = run.name
      assert_close(run.r[1], ref[n .. ".y"], n .. " output")
      assert_close(run.r[2], ref[n .. ".h"], n .. " h")
      if run.r[3] then assert_close(run.r[3], ref[n .. ".c"], n .. " c") end
      assert_close(run.x.grad, ref[n .. ".dx"], n .. " grad x")
      assert_close(run.l.kernel.grad, ref[n .. ".dw"], n .. " grad kernel")
      assert_close(run.l.recurrent_kernel.grad, ref[n .. ".du"], n .. " grad recurrent_kernel")
      assert_close(run.l.bias.grad, ref[n .. ".db"], n .. " grad bias")
      if run.init then
        assert_close(run.init[1].grad, ref[n .. ".dh0"], n .. " grad h0")
        if run.init[2] then assert_close(run.init[2].grad, ref[n .. ".dc0"], n .. " grad c0") end
      end
    end
  end)
end)
