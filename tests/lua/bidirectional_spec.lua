-- Bidirectional (issue 12): shapes for every merge mode with and without
-- return_sequences / return_state, results against the two directions run
-- by hand, Keras's weight order and parameter counts, initial and stateful
-- states, masks (a padded sequence gives what the unpadded one gives, in
-- Sequential, functional and direct calls), gradients by finite
-- differences, model files, errors, and outputs, states and gradients
-- against PyTorch's bidirectional nn.LSTM / nn.GRU on the same weights
-- (skipped with a message where PyTorch is absent).
local dnn = dnn or require "dnn"
local H = require "helpers"
local nn = dnn.nn


-- y with its steps (dim 2) in reverse order, by hand.
local function reversed(y)
  local steps = {}
  for t = y.shape[2], 1, -1 do steps[#steps + 1] = y:select(2, t) end
  return dnn.stack(steps, 2)
end

-- The i-th sample's first n steps, as a batch of one.
local function head(x, i, n)
  return x:narrow(1, i, 1):narrow(2, 1, n)
end

describe("Bidirectional", function()
  it("returns Keras's shapes for every merge mode, with and without sequences and states", function()
    dnn.manual_seed(1)
    local x = dnn.randn(3, 5, 4)
    local units = 6
    for _, class in ipairs{"SimpleRNN", "LSTM", "GRU"} do
      local states = class == "LSTM" and 2 or 1
      for _, mode in ipairs{"concat", "sum", "mul", "ave", "none"} do
        for _, seq in ipairs{false, true} do
          for _, with_state in ipairs{false, true} do
            local bi = nn.Bidirectional(nn[class](units, {return_sequences = seq, return_state = with_state}),
              {merge_mode = mode})
            local r = table.pack(bi(x))
            local outputs = mode == "none" and 2 or 1
            assert.are.equal(outputs + (with_state and 2 * states or 0), r.n)
            local width = mode == "concat" and 2 * units or units
            local want = seq and {3, 5, width} or {3, width}
            for i = 1, outputs do H.assert_shape(r[i], want) end
            for i = outputs + 1, r.n do H.assert_shape(r[i], {3, units}) end
            -- compute_output_shape says the same, with an unknown batch
            local shapes = table.pack(bi:compute_output_shape({-1, 5, 4}))
            assert.are.equal(r.n, shapes.n)
            for i = 1, r.n do
              assert.are.same({-1, table.unpack(r[i].shape, 2)}, shapes[i])
            end
          end
        end
      end
    end
  end)

  it("runs the forward layer and the backward one reversed again, then merges", function()
    dnn.manual_seed(2)
    local x = dnn.randn(2, 4, 3)
    local bi = nn.Bidirectional(nn.GRU(5, {return_sequences = true, return_state = true}), {merge_mode = "none"})
    local yf, yb, hf, hb = bi(x)
    local fwd, back = bi.forward_layer, bi.backward_layer
    assert.is_false(fwd.go_backwards)
    assert.is_true(back.go_backwards)
    local ef, ehf = fwd(x)
    local eb, ehb = back(x)
    H.assert_close(yf, ef, 0)
    H.assert_close(yb, reversed(eb), 0)
    H.assert_close(hf, ehf, 0)
    H.assert_close(hb, ehb, 0)
    -- step t of the backward output saw steps T..t: step 1 holds its final state
    H.assert_close(yb:select(2, 1), hb, 0)
    -- the backward layer is the forward one run on the reversed sequence
    local check = nn.GRU(5, {return_sequences = true})
    check(x)
    check:set_weights(back:get_weights())
    H.assert_close(yb, reversed(check(reversed(x))), 1e-6)
    -- the merges of the same two outputs
    local weights = bi:get_weights()
    for mode, expected in pairs{concat = dnn.cat({yf, yb}, 3), sum = yf + yb, mul = yf * yb,
                                ave = (yf + yb) * 0.5} do
      local other = nn.Bidirectional(nn.GRU(5, {return_sequences = true}), {merge_mode = mode})
      other(x)
      other:set_weights(weights)
      H.assert_close(other(x), expected, 1e-6)
    end
    -- without return_sequences: the last output of each direction
    local last = nn.Bidirectional(nn.GRU(5))
    last(x)
    last:set_weights(weights)
    H.assert_close(last(x), dnn.cat({hf, hb}, 2), 1e-6)
  end)

  it("keeps the weights forward then backward, with Keras's counts and names", function()
    local bi = nn.Bidirectional(nn.LSTM(64))
    bi(dnn.zeros(1, 3, 128))
    assert.are.equal(2 * (4 * 64 * (128 + 64 + 1)), (bi:count_params()))
    local names = {}
    for i, w in ipairs(bi:named_weights()) do names[i] = w.name end
    local n = bi.name
    assert.are.same({n .. "/forward_lstm/kernel", n .. "/forward_lstm/recurrent_kernel", n .. "/forward_lstm/bias",
                     n .. "/backward_lstm/kernel", n .. "/backward_lstm/recurrent_kernel",
                     n .. "/backward_lstm/bias"}, (function()
      -- the LSTM's own name may carry a suffix (lstm_3): compare without it
      local out = {}
      for i, name in ipairs(names) do out[i] = name:gsub("_lstm_%d+/", "_lstm/") end
      return out
    end)())
    local weights = bi:get_weights()
    assert.are.equal(6, #weights)
    H.assert_close(weights[1], bi.forward_layer.kernel, 0)
    H.assert_close(weights[4], bi.backward_layer.kernel, 0)
    -- set_weights reaches the directions' own tensors
    local fresh = {}
    for i, w in ipairs(weights) do fresh[i] = dnn.full(w.shape, i) end
    bi:set_weights(fresh)
    H.assert_close(bi.forward_layer.bias, dnn.full({256}, 3), 0)
    H.assert_close(bi.backward_layer.recurrent_kernel, dnn.full({64, 256}, 5), 0)
    -- the parameters an optimizer sees are the same six tensors
    assert.are.equal(6, #bi:parameters())

    local m = nn.Sequential{nn.Input{10, 128}, nn.Bidirectional(nn.LSTM(64, {return_sequences = true})),
                            nn.Bidirectional(nn.GRU(8)), nn.Dense(3)}
    local lines = {}
    m:summary{print_fn = function(line) lines[#lines + 1] = line end}
    local text = table.concat(lines, "\n")
    assert.truthy(text:find("(None, 10, 128)", 1, true))
    assert.truthy(text:find("98,816", 1, true))
    assert.truthy(text:find("6,624", 1, true)) -- 2 * (3 * 8 * (128 + 8) + 2 * 3 * 8): GRU's bias (2, 3 * units)
    assert.truthy(text:find("(None, 16)", 1, true))
  end)

  it("takes initial states forward then backward, and keeps them when stateful", function()
    dnn.manual_seed(3)
    local x = dnn.randn(2, 6, 3)
    local bi = nn.Bidirectional(nn.LSTM(4, {return_state = true}))
    local _, hf, cf, hb, cb = bi(x)
    local init = {dnn.randn(2, 4), dnn.randn(2, 4), dnn.randn(2, 4), dnn.randn(2, 4)}
    local y = bi(x, {initial_state = init})
    local ef = bi.forward_layer(x, {initial_state = {init[1], init[2]}})
    local eb = bi.backward_layer(x, {initial_state = {init[3], init[4]}})
    H.assert_close(y, dnn.cat({ef, eb}, 2), 1e-6)
    assert.is_false(H.close(y, dnn.cat({hf, hb}, 2), 1e-3))
    H.assert_close(hf, bi.forward_layer(x), 1e-6)
    assert.truthy(cf and cb)

    -- stateful: the second half of a sequence goes on from the first half's states
    local s = nn.Bidirectional(nn.GRU(4, {stateful = true}), {merge_mode = "none"})
    local plain = nn.Bidirectional(nn.GRU(4, {return_state = true}), {merge_mode = "none"})
    plain(x)
    s(x)
    s:set_weights(plain:get_weights())
    s:reset_states()
    local a1 = s(x:narrow(2, 1, 3))
    local a2 = s(x:narrow(2, 4, 3))
    local _, _, h1f, h1b = plain(x:narrow(2, 1, 3))
    local b2 = plain(x:narrow(2, 4, 3), {initial_state = {h1f, h1b}})
    H.assert_close(a2, b2, 1e-6)
    s:reset_states()
    H.assert_close(s(x:narrow(2, 1, 3)), a1, 0)
    s:reset_states({dnn.zeros(2, 4), dnn.zeros(2, 4)})
    H.assert_close(s(x:narrow(2, 1, 3)), a1, 0)
  end)

  it("gives a padded sequence the results of the unpadded one (direct calls)", function()
    dnn.manual_seed(4)
    local x = dnn.randn(2, 6, 3)
    dnn.no_grad(function()
      x:select(1, 1):narrow(1, 5, 2):fill(0) -- sample 1: its last two steps padded ("post")
      x:select(1, 2):narrow(1, 1, 1):fill(0) -- sample 2: its first step padded ("pre")
    end)
    local mask = nn.Masking():compute_mask(x)
    for _, mode in ipairs{"concat", "ave"} do
      local bi = nn.Bidirectional(nn.LSTM(4, {return_sequences = true, return_state = true}), {merge_mode = mode})
      local seq, hf, cf, hb, cb = bi(x, {mask = mask})
      local short = table.pack(bi(head(x, 1, 4)))
      H.assert_close(seq:narrow(1, 1, 1):narrow(2, 1, 4), short[1], 1e-5)
      for i, s in ipairs{hf, cf, hb, cb} do H.assert_close(s:narrow(1, 1, 1), short[i + 1], 1e-5) end
      local tail = table.pack(bi(x:narrow(1, 2, 1):narrow(2, 2, 5)))
      H.assert_close(seq:narrow(1, 2, 1):narrow(2, 2, 5), tail[1], 1e-5)
      for i, s in ipairs{hf, cf, hb, cb} do H.assert_close(s:narrow(1, 2, 1), tail[i + 1], 1e-5) end
      -- the mask goes on with the sequence(s), not with the states
      assert.are.equal(mask, (bi:compute_mask(x, mask)))
    end
    local none = nn.Bidirectional(nn.GRU(3, {return_sequences = true}), {merge_mode = "none"})
    local m1, m2 = none:compute_mask(x, mask)
    assert.are.equal(mask, m1)
    assert.are.equal(mask, m2)
    assert.is_nil(nn.Bidirectional(nn.GRU(3)):compute_mask(x, mask))
  end)

  it("takes the mask from Embedding{mask_zero} in Sequential and functional models", function()
    dnn.manual_seed(5)
    local ids = dnn.tensor{{3, 7, 2, 9, 0, 0}, {0, 0, 5, 1, 8, 4}}
    local emb = nn.Embedding(10, 3, {mask_zero = true})
    local seq_model = nn.Sequential{emb, nn.Bidirectional(nn.LSTM(4, {return_sequences = true})),
                                    nn.Bidirectional(nn.GRU(2)), nn.Dense(2)}
    local full = seq_model(ids)
    H.assert_close(full:narrow(1, 1, 1), seq_model(dnn.tensor{{3, 7, 2, 9}}), 1e-5)
    H.assert_close(full:narrow(1, 2, 1), seq_model(dnn.tensor{{5, 1, 8, 4}}), 1e-5)

    -- functional: the same layers on inputs of 6 and of 4 steps
    local e2 = nn.Embedding(10, 3, {mask_zero = true})
    local bi = nn.Bidirectional(nn.SimpleRNN(4, {return_sequences = true}), {merge_mode = "none"})
    local cat, gap = nn.Concatenate{axis = -1}, nn.GlobalAveragePooling1D()
    local function model_of(steps)
      local input = nn.Input{steps}
      local yf, yb = bi(e2(input))
      return nn.Model{inputs = input, outputs = gap(cat{yf, yb})}
    end
    local out = model_of(6)(ids)
    local short = model_of(4)
    H.assert_close(out:narrow(1, 1, 1), short(dnn.tensor{{3, 7, 2, 9}}), 1e-5)
    H.assert_close(out:narrow(1, 2, 1), short(dnn.tensor{{5, 1, 8, 4}}), 1e-5)
  end)

  it("has gradients matching finite differences (input, both directions' weights, states)", function()
    dnn.manual_seed(6)
    for _, case in ipairs{
      {"LSTM", "concat", true}, {"GRU", "mul", false}, {"SimpleRNN", "ave", true}, {"GRU", "none", true},
    } do
      local class, mode, seq = table.unpack(case)
      local bi = nn.Bidirectional(nn[class](3, {return_sequences = seq, return_state = true}), {merge_mode = mode})
      local x = dnn.randn(2, 4, 2, {requires_grad = true})
      bi(x:detach())
      local count = class == "LSTM" and 4 or 2
      local inputs = {x}
      for i = 1, count do inputs[#inputs + 1] = dnn.randn(2, 3, {requires_grad = true}) end
      for _, t in ipairs(bi:parameters()) do inputs[#inputs + 1] = t end
      local ok, err = dnn.autograd.gradcheck(function(xx, ...)
        local init = {table.unpack({...}, 1, count)}
        local r = table.pack(bi(xx, {initial_state = init}))
        local total = r[1]:sum() * 0.7
        for i = 2, r.n do total = total + (r[i] * r[i]):sum() * (0.1 * i) end
        return total
      end, inputs)
      assert(ok, class .. " " .. mode .. ": " .. tostring(err))
    end
  end)

  it("trains: fit lowers the loss, train()/eval() and trainable reach both directions", function()
    dnn.manual_seed(7)
    local x = dnn.randn(32, 5, 2)
    local y = (x:select(3, 1):sum(2, true)):gt(0) -- whether the first feature sums positive
    local bi = nn.Bidirectional(nn.GRU(4, {dropout = 0.2}))
    local m = nn.Sequential{nn.Input{5, 2}, bi, nn.Dense(1, {activation = "sigmoid"})}
    m:compile{optimizer = dnn.optim.Adam{learning_rate = 0.05}, loss = "binary_crossentropy"}
    local h = m:fit(x, y, {epochs = 8, batch_size = 8, verbose = 0})
    assert.is_true(h.history.loss[8] < h.history.loss[1])
    m:eval()
    assert.is_false(bi.forward_layer.training)
    assert.is_false(bi.backward_layer.training)
    H.assert_close(bi(x), bi(x), 0) -- no dropout in inference
    bi.trainable = false
    assert.is_false(bi.forward_layer.trainable)
    assert.is_false(bi.backward_layer.kernel.requires_grad)
    assert.are.equal(0, #bi:parameters())
  end)

  it("saves and loads with its merge mode and a given backward layer", function()
    dnn.manual_seed(8)
    local back = nn.LSTM(3, {go_backwards = true, return_sequences = true, name = "back"})
    local m = nn.Sequential{nn.Input{5, 2},
                            nn.Bidirectional(nn.LSTM(3, {return_sequences = true}), {merge_mode = "sum",
                                                                                    backward_layer = back}),
                            nn.Bidirectional(nn.GRU(2), {merge_mode = false})}
    local x = dnn.randn(4, 5, 2)
    local base = os.tmpname()
    os.remove(base)
    local path = base .. "_bidir.dnn"
    m:save(path)
    local loaded = dnn.load_model(path)
    os.remove(path)
    H.assert_close(loaded(x), m(x), 0)
    assert.are.equal("back", loaded.layers[1].backward_layer.name)
    assert.are.equal("sum", loaded.layers[1].merge_mode)
    local a, b = m:named_weights(), loaded:named_weights()
    assert.are.equal(#a, #b)
    for i = 1, #a do assert.are.equal(a[i].name, b[i].name) end
  end)

  it("refuses what it cannot wrap or merge, with clear messages", function()
    H.assert_error({"Bidirectional: expected a SimpleRNN, LSTM or GRU layer to wrap, got Dense"},
      nn.Bidirectional, nn.Dense(3))
    H.assert_error({"Bidirectional: expected a SimpleRNN, LSTM or GRU layer to wrap, got number 3"},
      nn.Bidirectional, 3)
    H.assert_error({"Bidirectional: expected a SimpleRNN, LSTM or GRU layer to wrap, got nil"}, nn.Bidirectional)
    H.assert_error({"Bidirectional: unknown option 'merge_mod' (did you mean 'merge_mode'?)"},
      nn.Bidirectional, nn.LSTM(3), {merge_mod = "sum"})
    H.assert_error({"Bidirectional: unknown merge_mode 'avg' (did you mean 'ave'?"},
      nn.Bidirectional, nn.LSTM(3), {merge_mode = "avg"})
    H.assert_error({"Bidirectional: expected backward_layer a SimpleRNN, LSTM or GRU layer, got Conv1D"},
      nn.Bidirectional, nn.LSTM(3), {backward_layer = nn.Conv1D(2, 3)})
    H.assert_error({"expected backward_layer to read the other way than layer (go_backwards true), got " ..
      "go_backwards false"}, nn.Bidirectional, nn.LSTM(3), {backward_layer = nn.LSTM(3)})
    H.assert_error({"expected backward_layer to have the same return_sequences as layer (false), got true"},
      nn.Bidirectional, nn.LSTM(3), {backward_layer = nn.LSTM(3, {go_backwards = true, return_sequences = true})})
    H.assert_error({"merge_mode \"sum\" needs both directions of the same units, got 3 and 4"},
      nn.Bidirectional, nn.LSTM(3), {merge_mode = "sum", backward_layer = nn.GRU(4, {go_backwards = true})})
    H.assert_error({"Bidirectional", "expected an input of (batch, timesteps, features), got (2, 4)"},
      nn.Bidirectional(nn.GRU(3)), dnn.zeros(2, 4))
    H.assert_error({"Bidirectional", "expected initial_state as a list of 4 tensors (the forward layer's h, c, " ..
      "then the backward layer's h, c), got"},
      nn.Bidirectional(nn.LSTM(3)), dnn.zeros(2, 4, 1), {initial_state = {dnn.zeros(2, 3), dnn.zeros(2, 3)}})
    H.assert_error({"initial state h of shape (2, 3), got (2, 5)"},
      nn.Bidirectional(nn.GRU(3)), dnn.zeros(2, 4, 1), {initial_state = {dnn.zeros(2, 3), dnn.zeros(2, 5)}})
    H.assert_error({"reset_states", "expected initial_state as a list of 2 tensors"},
      function() nn.Bidirectional(nn.GRU(3, {stateful = true})):reset_states({dnn.zeros(2, 3)}) end)
  end)
end)

describe("Bidirectional against PyTorch", function()
  if not H.have_torch() then
    pending("PyTorch (python3-torch) is not installed: cross-check skipped")
    return
  end

  -- name, layer class, return_sequences, initial states
  local cases = {
    {"l1", "LSTM", true, false},
    {"l2", "LSTM", false, true},
    {"g1", "GRU", true, true},
    {"g2", "GRU", false, false},
  }

  it("agree on outputs, states and gradients of input, both directions' weights and initial states", function()
    dnn.manual_seed(12)
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    local runs = {}
    local function write(name, key, t)
      if t then f:write(name, ".", key, " ", table.concat(t.shape, ","), ": ", H.torch_values(t:detach()), "\n") end
    end
    for _, case in ipairs(cases) do
      local name, class, seq, with_init = table.unpack(case)
      local units, batch, steps, features = 5, 3, 6, 4
      local bi = nn.Bidirectional(nn[class](units, {return_sequences = seq, return_state = true}))
      local x = dnn.randn(batch, steps, features, {requires_grad = true})
      bi(x:detach())
      dnn.no_grad(function() -- weights away from their initial values, biases too
        for _, w in ipairs(bi.weights) do w.tensor:copy(dnn.randn(table.unpack(w.tensor.shape)) * 0.5) end
      end)
      local init = nil
      if with_init then
        init = {}
        for i = 1, class == "LSTM" and 4 or 2 do init[i] = dnn.randn(batch, units, {requires_grad = true}) end
      end
      local r = table.pack(bi(x, init and {initial_state = init} or nil))
      local g, loss = {}, nil
      for i = 1, r.n do
        g[i] = dnn.randn(table.unpack(r[i].shape))
        local term = (r[i] * g[i]):sum()
        loss = loss and loss + term or term
      end
      loss:backward()
      runs[#runs + 1] = {name = name, bi = bi, r = r, x = x, init = init, lstm = class == "LSTM"}
      f:write(string.format("case %s %s %s\n", name, class:lower(), tostring(seq)))
      local fw, bw = bi.forward_layer, bi.backward_layer
      write(name, "x", x)
      for d, l in pairs{f = fw, b = bw} do
        write(name, "w" .. d, l.kernel)
        write(name, "u" .. d, l.recurrent_kernel)
        write(name, "b" .. d, l.bias)
      end
      local lstm = class == "LSTM"
      write(name, "gy", g[1])
      write(name, "ghf", g[2])
      write(name, "gcf", lstm and g[3] or nil)
      write(name, "ghb", lstm and g[4] or g[3])
      write(name, "gcb", lstm and g[5] or nil)
      if init then
        write(name, "h0f", init[1])
        write(name, "c0f", lstm and init[2] or nil)
        write(name, "h0b", lstm and init[3] or init[2])
        write(name, "c0b", lstm and init[4] or nil)
      end
    end
    f:close()
    local ref = H.run_torch_reference("bidir_ref.py", path)
    os.remove(path)
    for _, run in ipairs(runs) do
      local n, r = run.name, run.r
      H.assert_close_to_reference(r[1], ref[n .. ".y"], 1e-4, n .. " output")
      local states = run.lstm and {"hf", "cf", "hb", "cb"} or {"hf", "hb"}
      for i, s in ipairs(states) do
        H.assert_close_to_reference(r[i + 1], ref[n .. "." .. s], 1e-4, n .. " " .. s)
      end
      H.assert_close_to_reference(run.x.grad, ref[n .. ".dx"], 1e-4, n .. " grad x")
      for d, l in pairs{f = run.bi.forward_layer, b = run.bi.backward_layer} do
        H.assert_close_to_reference(l.kernel.grad, ref[n .. ".dw" .. d], 1e-4, n .. " grad kernel " .. d)
        H.assert_close_to_reference(l.recurrent_kernel.grad, ref[n .. ".du" .. d], 1e-4,
          n .. " grad recurrent_kernel " .. d)
        H.assert_close_to_reference(l.bias.grad, ref[n .. ".db" .. d], 1e-4, n .. " grad bias " .. d)
      end
      if run.init then
        local keys = run.lstm and {"h0f", "c0f", "h0b", "c0b"} or {"h0f", "h0b"}
        for i, k in ipairs(keys) do
          H.assert_close_to_reference(run.init[i].grad, ref[n .. ".d" .. k], 1e-4, n .. " grad " .. k)
        end
      end
    end
  end)
end)
