-- The sequence layers (dnn.layers.sequence): Embedding, Conv1D, the 1-d
-- pools, UpSampling1D and TimeDistributed. Shapes and parameter counts by
-- Keras's rules, values worked by hand (a causal conv is a left-padded valid
-- one), masks from Embedding{mask_zero} through models and direct calls,
-- gradients of every layer and option against finite differences, errors,
-- and Conv1D and Embedding against PyTorch (skipped where it is absent).
local dnn = dnn or require "dnn"
local H = require "helpers"
local nn = dnn.nn
local gradcheck = require("dnn.autograd").gradcheck


-- A (1, T, 1) sequence from a Lua list.
local function seq(values)
  return dnn.tensor(values):reshape(1, #values, 1)
end

local function flat(t) return t:reshape(-1):totable() end

local function set(l, ...)
  l:set_weights({...})
  return l
end

-- Fixed values of both signs, none equal (max pooling's winners stay put under gradcheck's steps).
local function distinct(...)
  local shape = {...}
  local n = 1
  for _, d in ipairs(shape) do n = n * d end
  local v = {}
  for i = 1, n do v[i] = ((i * 37 + 11) % (2 * n + 1)) / n - 1 end -- a permutation: 37 is prime to 2n + 1 here
  return dnn.tensor(v):reshape(shape)
end

describe("Embedding", function()
  it("gathers rows by 1-based id, any shape of ids", function()
    local e = nn.Embedding(4, 2)
    set(e, dnn.tensor{{1, 2}, {3, 4}, {5, 6}, {7, 8}})
    local y = e(dnn.tensor{{4, 1, 2}, {2, 2, 3}})
    H.assert_shape(y, {2, 3, 2})
    H.assert_close(y, {{{7, 8}, {1, 2}, {3, 4}}, {{3, 4}, {3, 4}, {5, 6}}})
    H.assert_shape(e(dnn.tensor{3, 1}), {2, 2})
    H.assert_shape(e(dnn.ones(2, 3, 4)), {2, 3, 4, 2})
    assert.are.same({-1, 3, 2}, e:compute_output_shape({-1, 3}))
    assert.are.same({-1, 3, 4, 2}, e:compute_output_shape({-1, 3, 4}))
  end)

  it("has Keras's weight, parameters and initializer", function()
    local e = nn.Embedding{1000, 64}
    local ws = e:get_weights()
    assert.are.equal(1, #ws)
    H.assert_shape(ws[1], {1000, 64})
    assert.are.equal("embeddings", e.weights[1].name)
    assert.are.equal(64000, (e:count_params()))
    -- uniform in [-0.05, 0.05]
    assert.is_true(ws[1]:max():item() <= 0.05 and ws[1]:min():item() >= -0.05)
    assert.is_true(ws[1]:abs():mean():item() > 0.02)
    local named = nn.Embedding(3, 2, {embeddings_initializer = "ones", name = "words"})
    H.assert_close(named:get_weights()[1], {{1, 1}, {1, 1}, {1, 1}})
    assert.are.equal("words/embeddings", named:named_weights()[1].name)
  end)

  it("sums the gradients of repeated ids into their row", function()
    local e = set(nn.Embedding(3, 2), dnn.zeros(3, 2))
    local y = e(dnn.tensor{{1, 3, 1}})
    ;(y * dnn.tensor{{{1, 2}, {10, 20}, {100, 200}}}):sum():backward()
    H.assert_close(e.embeddings.grad, {{101, 202}, {0, 0}, {10, 20}})
  end)

  it("with mask_zero, takes id 0 as padding: a row of zeros, no gradient, masked", function()
    local e = set(nn.Embedding(3, 2, {mask_zero = true}), dnn.tensor{{1, 2}, {3, 4}, {5, 6}})
    local ids = dnn.tensor{{2, 0, 3}, {0, 0, 1}}
    local y = e(ids)
    H.assert_close(y, {{{3, 4}, {0, 0}, {5, 6}}, {{0, 0}, {0, 0}, {1, 2}}})
    H.assert_close(e:compute_mask(ids), {{1, 0, 1}, {0, 0, 1}})
    ;(y * 2):sum():backward()
    H.assert_close(e.embeddings.grad, {{2, 2}, {2, 2}, {2, 2}})
    assert.is_nil(nn.Embedding(3, 2):compute_mask(dnn.tensor{{1, 2}}))
  end)

  it("names a bad id and its position", function()
    local e = nn.Embedding(5, 2, {name = "emb"})
    H.assert_error({"Embedding 'emb'", "expected whole-number ids in 1..5, got 6 at [2, 1] of ids (2, 2)"}, e,
      dnn.tensor{{1, 2}, {6, 1}})
    H.assert_error({"got id 0 at [1, 2]", "ids count from 1", "mask_zero"}, e, dnn.tensor{{1, 0}})
    H.assert_error({"got 1.5 at [1, 1]"}, e, dnn.tensor{{1.5}})
    H.assert_error({"got -1 at [1, 1]", "(or 0 for padding)"}, nn.Embedding(5, 2, {mask_zero = true}),
      dnn.tensor{{-1}})
    H.assert_error({"expected ids of input_length 3 steps, got (1, 2)"}, nn.Embedding(5, 2, {input_length = 3}),
      dnn.tensor{{1, 2}})
  end)

  it("refuses bad arguments", function()
    H.assert_error({"Embedding: expected input_dim", "got nil"}, nn.Embedding)
    H.assert_error({"Embedding: expected output_dim a positive integer, got number 0"}, nn.Embedding, 4, 0)
    H.assert_error({"Embedding: expected mask_zero true or false, got number 1"}, nn.Embedding, 4, 2, {mask_zero = 1})
    H.assert_error({"Embedding: unknown option 'mask_zeros' (did you mean 'mask_zero'?)"}, nn.Embedding, 4, 2,
      {mask_zeros = true})
    H.assert_error({"Embedding: expected input_length a positive integer"}, nn.Embedding, 4, 2, {input_length = -2})
  end)

  it("builds a Sequential from input_length, as Keras 2", function()
    local m = nn.Sequential{nn.Embedding(20, 3, {input_length = 6}), nn.Flatten(), nn.Dense(2)}
    assert.is_true(m.built)
    assert.are.equal(20 * 3 + 18 * 2 + 2, (m:count_params()))
  end)
end)

describe("Conv1D", function()
  -- {layer, input (steps, channels), output (steps, channels), parameters}: Keras's lengths
  local cases = {
    {function() return nn.Conv1D(4, 3) end, {10, 2}, {8, 4}, 28},
    {function() return nn.Conv1D(4, 3, {padding = "same"}) end, {10, 2}, {10, 4}, 28},
    {function() return nn.Conv1D(4, 3, {padding = "causal"}) end, {10, 2}, {10, 4}, 28},
    {function() return nn.Conv1D(2, 3, {padding = "causal", dilation_rate = 4}) end, {10, 1}, {10, 2}, 8},
    {function() return nn.Conv1D(2, 3, {dilation_rate = 2}) end, {10, 1}, {6, 2}, 8},
    {function() return nn.Conv1D(3, 4, {strides = 3}) end, {10, 2}, {3, 3}, 27},
    {function() return nn.Conv1D(3, 4, {strides = 3, padding = "same"}) end, {10, 2}, {4, 3}, 27},
    {function() return nn.Conv1D(3, 2, {strides = 2, padding = "causal"}) end, {7, 2}, {4, 3}, 15},
    {function() return nn.Conv1D{5, {1}, use_bias = false} end, {6, 3}, {6, 5}, 15},
  }
  for i, case in ipairs(cases) do
    it("case " .. i .. ": output length and parameters", function()
      local make, input, out, params = table.unpack(case)
      local l = make()
      H.assert_shape(l(dnn.randn(2, table.unpack(input))), {2, table.unpack(out)})
      assert.are.same({-1, table.unpack(out)}, l:compute_output_shape({-1, table.unpack(input)}))
      assert.are.equal(params, (l:count_params()))
    end)
  end

  it("has Keras's kernel (kernel_size, in, filters) and bias", function()
    local l = nn.Conv1D(4, 3, {input_shape = {10, 2}})
    local ws = l:get_weights()
    H.assert_shape(ws[1], {3, 2, 4})
    H.assert_shape(ws[2], {4})
  end)

  it("computes Keras's cross-correlation, worked by hand", function()
    -- y[t] = sum_u x[t * s + u * d - pad] * w[u]
    local x = seq{1, 2, 3, 4, 5}
    local function conv(opts)
      local l = nn.Conv1D(1, 2, opts)
      l(x)
      return set(l, dnn.tensor{1, 10}:reshape(2, 1, 1), dnn.tensor{0.5})(x)
    end
    H.assert_close(flat(conv{}), {21.5, 32.5, 43.5, 54.5})
    H.assert_close(flat(conv{padding = "causal"}), {10.5, 21.5, 32.5, 43.5, 54.5})
    H.assert_close(flat(conv{padding = "causal", dilation_rate = 2}), {10.5, 20.5, 31.5, 42.5, 53.5})
    H.assert_close(flat(conv{dilation_rate = 3}), {41.5, 52.5})
    H.assert_close(flat(conv{strides = 2}), {21.5, 43.5})
    H.assert_close(flat(conv{padding = "same"}), {21.5, 32.5, 43.5, 54.5, 5.5}) -- the extra zero at the end
    H.assert_close(flat(conv{padding = "causal", strides = 2}), {10.5, 32.5, 54.5})
  end)

  it("causal equals a valid conv on the input left-padded with (k - 1) * dilation zeros", function()
    dnn.manual_seed(5)
    for _, d in ipairs{1, 2, 3} do
      local causal = nn.Conv1D(3, 3, {padding = "causal", dilation_rate = d, activation = "tanh"})
      local valid = nn.Conv1D(3, 3, {dilation_rate = d, activation = "tanh"})
      local x = dnn.randn(2, 7, 2)
      local y = causal(x)
      valid(x)
      valid:set_weights(causal:get_weights())
      local padded = dnn.cat({dnn.zeros(2, 2 * d, 2), x}, 2)
      H.assert_close(y, valid(padded), 1e-6)
      -- and output t depends on inputs up to t only
      local x2 = x:clone()
      dnn.no_grad(function() x2:narrow(2, 5, 3):fill(9) end)
      H.assert_close(causal(x2):narrow(2, 1, 4), y:narrow(2, 1, 4), 1e-6)
    end
  end)

  it("takes activations the kernel fuses and the others", function()
    dnn.manual_seed(2)
    local x = dnn.randn(2, 6, 3)
    local linear = nn.Conv1D(2, 3, {padding = "causal"})
    local y = linear(x)
    for _, act in ipairs{"relu", "sigmoid", "softmax", "gelu", "elu"} do
      local l = nn.Conv1D(2, 3, {padding = "causal", activation = act})
      l(x)
      l:set_weights(linear:get_weights())
      H.assert_close(l(x), dnn.nn.Activation(act)(y), 1e-5)
    end
  end)

  it("refuses bad arguments and inputs", function()
    H.assert_error({"Conv1D: expected padding \"valid\", \"same\" or \"causal\", got string 'full'"}, nn.Conv1D, 2, 3,
      {padding = "full"})
    H.assert_error({"Conv1D: strides > 1 together with dilation_rate > 1 is not supported"}, nn.Conv1D, 2, 3,
      {strides = 2, dilation_rate = 2})
    H.assert_error({"Conv1D: expected kernel_size a positive integer (or a table of one), got table {3, 3}"},
      nn.Conv1D, 2, {3, 3})
    H.assert_error({"Conv1D: expected a kernel_size, got nil"}, nn.Conv1D, 2)
    assert.are.equal(3, nn.Conv1D(2, {3}).kernel_size)
    H.assert_error({"Conv1D: only data_format \"channels_last\""}, nn.Conv1D, 2, 3, {data_format = "channels_first"})
    H.assert_error({"Conv1D: unknown option 'dilaton_rate' (did you mean 'dilation_rate'?)"}, nn.Conv1D, 2, 3,
      {dilaton_rate = 2})
    local l = nn.Conv1D(2, 4, {name = "c"})
    H.assert_error({"Conv1D 'c'", "the kernel 4 is longer than the input's 3 steps"}, l, dnn.randn(1, 3, 2))
    H.assert_error({"Conv1D 'c'", "expected a 3-d input (batch, steps, features), got (1, 5, 2, 1)"},
      nn.Conv1D(2, 4, {name = "c"}), dnn.randn(1, 5, 2, 1))
    l(dnn.randn(1, 6, 2))
    H.assert_error({"expected an input with 2 channels", "got (1, 6, 3)"}, l, dnn.randn(1, 6, 3))
    H.assert_error({"does not support masking"}, l, dnn.randn(1, 6, 2), {mask = dnn.ones(1, 6)})
  end)
end)

describe("pooling and upsampling over steps", function()
  local x = seq{1, 3, 2, 5, 4}

  it("pools as Keras, worked by hand", function()
    H.assert_close(flat(nn.MaxPooling1D()(x)), {3, 5})
    H.assert_close(flat(nn.MaxPooling1D{padding = "same"}(x)), {3, 5, 4})
    H.assert_close(flat(nn.MaxPooling1D(3, 1)(x)), {3, 5, 5})
    H.assert_close(flat(nn.AveragePooling1D()(x)), {2, 3.5})
    H.assert_close(flat(nn.AveragePooling1D(2, 2, "same")(x)), {2, 3.5, 4}) -- padded steps never count
    H.assert_close(flat(nn.AveragePooling1D{pool_size = 3, strides = 1}(x)), {2, 10 / 3, 11 / 3})
    H.assert_close(flat(nn.AveragePooling1D{pool_size = 3, strides = 2, padding = "same"}(x)), {2, 10 / 3, 4.5})
  end)

  it("has Keras's output lengths", function()
    local cases = {
      {nn.MaxPooling1D(), {-1, 7, 3}, {-1, 3, 3}},
      {nn.MaxPooling1D{padding = "same"}, {-1, 7, 3}, {-1, 4, 3}},
      {nn.AveragePooling1D{pool_size = 3, strides = 2}, {-1, 9, 1}, {-1, 4, 1}},
      {nn.AveragePooling1D{pool_size = {4}}, {-1, 9, 1}, {-1, 2, 1}},
      {nn.GlobalAveragePooling1D(), {-1, 9, 5}, {-1, 5}},
      {nn.GlobalMaxPooling1D{keepdims = true}, {-1, 9, 5}, {-1, 1, 5}},
      {nn.UpSampling1D(), {-1, 4, 3}, {-1, 8, 3}},
      {nn.UpSampling1D{size = 3}, {-1, 4, 3}, {-1, 12, 3}},
    }
    for _, c in ipairs(cases) do
      local l, input, out = table.unpack(c)
      assert.are.same(out, l:compute_output_shape(input))
      local y = l(dnn.randn(2, table.unpack(input, 2)))
      out[1] = 2
      H.assert_shape(y, out)
      assert.are.equal(0, (l:count_params()))
    end
  end)

  it("global pools as Keras", function()
    local t = dnn.tensor{{{1, -2}, {3, 4}, {5, 0}}}
    H.assert_close(nn.GlobalAveragePooling1D()(t), {{3, 2 / 3}})
    H.assert_close(nn.GlobalMaxPooling1D()(t), {{5, 4}})
    H.assert_close(nn.GlobalAveragePooling1D{keepdims = true}(t), {{{3, 2 / 3}}})
  end)

  it("GlobalAveragePooling1D averages the unmasked steps only; all masked gives zeros", function()
    local t = dnn.tensor{{{1, -2}, {3, 4}, {5, 0}}, {{2, 2}, {4, 4}, {6, 6}}}
    local gap = nn.GlobalAveragePooling1D()
    H.assert_close(gap(t, {mask = dnn.tensor{{1, 0, 1}, {0, 0, 0}}}), {{3, -1}, {0, 0}})
    H.assert_close(nn.GlobalAveragePooling1D{keepdims = true}(t, {mask = dnn.tensor{{1, 1, 0}, {0, 0, 1}}}),
      {{{2, 1}}, {{6, 6}}})
    assert.is_nil(gap:compute_mask(t, dnn.ones(2, 3))) -- it consumes the mask
    H.assert_error({"expected a mask (batch, steps) of (2, 3) for the input (2, 3, 2), got (2, 2)"}, gap, t,
      {mask = dnn.ones(2, 2)})
    H.assert_error({"does not support masking"}, nn.GlobalMaxPooling1D(), t, {mask = dnn.ones(2, 3)})
  end)

  it("upsamples by repeating each step", function()
    H.assert_close(flat(nn.UpSampling1D(3)(seq{1, 2})), {1, 1, 1, 2, 2, 2})
    H.assert_close(flat(nn.UpSampling1D()(seq{7})), {7, 7})
  end)

  it("refuses bad arguments and inputs", function()
    H.assert_error({"MaxPooling1D: expected pool_size a positive integer (or a table of one), got number 0"},
      nn.MaxPooling1D, 0)
    H.assert_error({"AveragePooling1D: expected padding \"valid\" or \"same\", got string 'causal'"},
      nn.AveragePooling1D, {padding = "causal"})
    H.assert_error({"UpSampling1D: expected size a positive integer"}, nn.UpSampling1D, {size = 1.5})
    H.assert_error({"GlobalMaxPooling1D: expected keepdims true or false"}, nn.GlobalMaxPooling1D, {keepdims = 1})
    H.assert_error({"GlobalAveragePooling1D: unknown option 'keep_dims' (did you mean 'keepdims'?)"},
      nn.GlobalAveragePooling1D, {keep_dims = true})
    H.assert_error({"MaxPooling1D 'p'", "expected a 3-d input (batch, steps, features), got a 4-d input"},
      nn.MaxPooling1D{name = "p"}, dnn.randn(1, 4, 4, 1))
    H.assert_error({"expected a pool size 4 that fits the input (None, 3, 2)"},
      nn.MaxPooling1D(4).compute_output_shape, nn.MaxPooling1D(4), {-1, 3, 2})
    H.assert_error({"fits"}, nn.MaxPooling1D(4), dnn.randn(1, 3, 2))
    H.assert_error({"expected a 3-d input"}, nn.UpSampling1D(), dnn.randn(2, 3))
    H.assert_error({"expected a 3-d input"}, nn.GlobalAveragePooling1D(), dnn.randn(2, 3))
  end)
end)

describe("TimeDistributed", function()
  it("applies the layer to every step with one set of weights", function()
    dnn.manual_seed(7)
    local dense = nn.Dense(3, {activation = "tanh"})
    local td = nn.TimeDistributed(dense)
    local x = dnn.randn(2, 4, 5)
    local y = td(x)
    H.assert_shape(y, {2, 4, 3})
    for t = 1, 4 do H.assert_close(y:select(2, t), dense(x:select(2, t)), 1e-6) end
    -- the weights are the inner layer's tensors, named under the wrapper as tf.keras
    local ws = td.weights
    assert.are.equal(2, #ws)
    assert.are.equal(dense.kernel, ws[1].tensor)
    assert.are.equal("time_distributed/kernel", (td:named_weights()[1].name:gsub("_%d+/", "/")))
    assert.are.equal(18, (td:count_params()))
    assert.are.same({-1, 4, 3}, td:compute_output_shape({-1, 4, 5}))
    local m = nn.Sequential{nn.Input{4, 5}, td}
    assert.are.equal(2, #m:parameters())
  end)

  it("wraps Conv2D over a sequence of images", function()
    dnn.manual_seed(8)
    local conv = nn.Conv2D(2, 3, {padding = "same"})
    local td = nn.TimeDistributed(conv)
    local x = dnn.randn(2, 3, 5, 5, 1)
    local y = td(x)
    H.assert_shape(y, {2, 3, 5, 5, 2})
    H.assert_close(y:select(2, 2), conv(x:select(2, 2)), 1e-6)
    assert.are.same({-1, 3, 5, 5, 2}, td:compute_output_shape({-1, 3, 5, 5, 1}))
    assert.are.equal(20, (td:count_params()))
  end)

  it("passes trainable and the mode to the inner layer, and the mask on", function()
    local dense = nn.Dense(2)
    local td = nn.TimeDistributed(dense, {input_shape = {3, 4}})
    td.trainable = false
    assert.is_false(dense.trainable)
    assert.are.equal(0, #td:parameters())
    assert.is_false(dense.kernel.requires_grad)
    td.trainable = true
    assert.is_true(dense.kernel.requires_grad)
    td:eval()
    assert.is_false(dense.training)
    local mask = dnn.tensor{{1, 0, 1}}
    assert.are.equal(mask, td:compute_mask(dnn.zeros(1, 3, 4), mask))
    H.assert_shape(td(dnn.zeros(1, 3, 4), {mask = mask}), {1, 3, 2})
  end)

  it("refuses what it cannot wrap or fold", function()
    H.assert_error({"TimeDistributed: expected a layer to wrap, got number 3"}, nn.TimeDistributed, 3)
    H.assert_error({"TimeDistributed: expected a layer to wrap, got nil"}, nn.TimeDistributed)
    H.assert_error({"TimeDistributed: unknown option 'units'"}, nn.TimeDistributed, nn.Dense(2), {units = 3})
    H.assert_error({"TimeDistributed", "expected an input of at least 3 dims (batch, steps, ...), got (2, 3)"},
      nn.TimeDistributed(nn.Dense(2)), dnn.randn(2, 3))
  end)
end)

describe("masks from Embedding{mask_zero}", function()
  local ids = dnn.tensor{{3, 1, 0, 0}, {2, 4, 4, 0}}
  local weights = {{0.1, 0.2}, {0.3, -0.4}, {-0.5, 0.6}, {0.7, 0.8}}

  -- Dense(1, no bias, kernel (1, 2)) on each step, then the mean over the unmasked steps, by hand.
  local function by_hand()
    local out = {}
    local row = ids:totable()
    for n = 1, 2 do
      local s, c = 0, 0
      for t = 1, 4 do
        local id = row[n][t]
        if id ~= 0 then
          s, c = s + weights[id][1] * 1 + weights[id][2] * 2, c + 1
        end
      end
      out[n] = {s / c}
    end
    return out
  end

  local function layers()
    local e = set(nn.Embedding(4, 2, {mask_zero = true}), dnn.tensor(weights))
    local d = nn.Dense(1, {use_bias = false})
    d(dnn.zeros(1, 2))
    set(d, dnn.tensor{{1}, {2}})
    return e, d, nn.GlobalAveragePooling1D()
  end

  it("flow through a Sequential to GlobalAveragePooling1D: the mean of the real steps", function()
    local m = nn.Sequential{layers()}
    H.assert_close(m(ids), by_hand(), 1e-6)
    assert.is_nil(m:compute_mask(ids))
    -- a Dense between Embedding and the pool keeps the mask (it acts on each step), so padding never counts
    local unmasked = nn.GlobalAveragePooling1D()(m.layers[2](m.layers[1](ids)))
    assert.is_true(math.abs(unmasked:sum():item() - m(ids):sum():item()) > 0.05)
  end)

  it("flow in direct calls, passed by the caller", function()
    local e, d, gap = layers()
    local y = e(ids)
    local mask = e:compute_mask(ids)
    local z = d(y, {mask = mask})
    H.assert_close(gap(z, {mask = d:compute_mask(y, mask)}), by_hand(), 1e-6)
  end)

  it("flow through a functional model and TimeDistributed", function()
    local e, d, gap = layers()
    local input = nn.Input{4}
    local out = gap(nn.TimeDistributed(d)(e(input)))
    local m = nn.Model(input, out)
    H.assert_close(m(ids), by_hand(), 1e-6)
  end)

  it("stop at a layer that does not support them, as Keras 2", function()
    local m = nn.Sequential{nn.Embedding(4, 2, {mask_zero = true}), nn.Conv1D(2, 2)}
    H.assert_error({"Conv1D", "does not support masking"}, m, ids)
  end)

  it("train a model: padding never moves the loss", function()
    dnn.manual_seed(1)
    local m = nn.Sequential{nn.Embedding(6, 4, {mask_zero = true}), nn.GlobalAveragePooling1D(),
                            nn.Dense(1, {activation = "sigmoid"})}
    m:compile{optimizer = dnn.optim.Adam{learning_rate = 0.05}, loss = "binary_crossentropy"}
    -- label 1 when id 1 is in the sequence; padding differs between the two copies
    local x = dnn.tensor{{1, 2, 0, 0}, {3, 4, 0, 0}, {1, 5, 3, 0}, {2, 3, 4, 5}, {5, 1, 0, 0}, {4, 2, 0, 0}}
    local y = dnn.tensor{{1}, {0}, {1}, {0}, {1}, {0}}
    m:fit(x, y, {epochs = 60, batch_size = 6, verbose = 0})
    local p = m:predict(x)
    for i, v in ipairs(flat(p)) do assert.is_true((v > 0.5) == (y:totable()[i][1] == 1), "example " .. i) end
    -- the same sequences with more padding predict the same
    local longer = dnn.cat({x, dnn.zeros(6, 3)}, 2)
    H.assert_close(m:predict(longer), p, 1e-5)
  end)
end)

describe("gradients of every layer and option match finite differences", function()
  local function check(fn, inputs)
    local ok, msg = gradcheck(fn, inputs, {eps = 1e-2, atol = 2e-3, rtol = 2e-2})
    assert(ok, msg)
  end

  it("Embedding (the table), with and without mask_zero", function()
    for _, mz in ipairs{false, true} do
      local e = nn.Embedding(5, 3, {mask_zero = mz})
      local ids = mz and dnn.tensor{{1, 0, 5}, {5, 5, 0}} or dnn.tensor{{1, 2, 5}, {5, 5, 3}}
      check(function() return e(ids) end, {e.embeddings})
    end
  end)

  it("Conv1D: every padding, strides, dilation, activation, bias", function()
    dnn.manual_seed(9)
    local options = {
      {}, {padding = "same"}, {padding = "causal"}, {padding = "causal", dilation_rate = 2},
      {dilation_rate = 2}, {strides = 2}, {strides = 2, padding = "same"}, {strides = 3, padding = "causal"},
      {activation = "tanh"}, {activation = "gelu", padding = "causal"}, {use_bias = false, padding = "causal"},
    }
    for _, o in ipairs(options) do
      local l = nn.Conv1D(2, 3, o)
      local x = distinct(2, 7, 2)
      x.requires_grad = true
      l(x)
      local inputs = {x, l.kernel}
      if l.bias then inputs[3] = l.bias end
      check(function(t) return l(t) end, inputs)
    end
  end)

  it("the pools and UpSampling1D, every option", function()
    local layers = {
      nn.MaxPooling1D(), nn.MaxPooling1D{padding = "same"}, nn.MaxPooling1D(3, 1),
      nn.AveragePooling1D(), nn.AveragePooling1D{pool_size = 3, strides = 2, padding = "same"},
      nn.GlobalAveragePooling1D(), nn.GlobalAveragePooling1D{keepdims = true},
      nn.GlobalMaxPooling1D(), nn.GlobalMaxPooling1D{keepdims = true},
      nn.UpSampling1D(), nn.UpSampling1D(3),
    }
    for _, l in ipairs(layers) do
      local x = distinct(2, 5, 3)
      x.requires_grad = true
      check(function(t) return l(t) end, {x})
    end
    local x = distinct(2, 5, 3)
    x.requires_grad = true
    local mask = dnn.tensor{{1, 1, 0, 1, 0}, {0, 0, 0, 0, 0}}
    check(function(t) return nn.GlobalAveragePooling1D()(t, {mask = mask}) end, {x})
  end)

  it("TimeDistributed over Dense and Conv2D", function()
    dnn.manual_seed(10)
    local td = nn.TimeDistributed(nn.Dense(2, {activation = "tanh"}))
    local x = distinct(2, 3, 4)
    x.requires_grad = true
    td(x)
    check(function(t) return td(t) end, {x, td.layer.kernel, td.layer.bias})
    local tc = nn.TimeDistributed(nn.Conv2D(2, 2))
    local xi = distinct(1, 2, 3, 3, 2)
    xi.requires_grad = true
    tc(xi)
    check(function(t) return tc(t) end, {xi, tc.layer.kernel, tc.layer.bias})
  end)
end)

describe("Conv1D and Embedding against PyTorch", function()
  if not H.have_torch() then
    pending("PyTorch (python3-torch) is not installed: cross-check skipped")
    return
  end

  local function assert_close(t, expected, what) H.assert_close_to_reference(t, expected, 1e-4, what) end

  it("agree on values and gradients (input, kernel, bias; the embedding table)", function()
    dnn.manual_seed(12)
    -- name, input (n, steps, channels), filters, kernel, strides, dilation, padding, bias
    local convs = {
      {"v", {2, 9, 3}, 4, 3, 1, 1, "valid", true},
      {"s", {2, 9, 2}, 3, 4, 2, 1, "same", true},
      {"c", {2, 8, 3}, 2, 3, 1, 1, "causal", true},
      {"cd", {2, 10, 2}, 3, 3, 1, 3, "causal", false},
      {"cs", {1, 9, 2}, 2, 2, 3, 1, "causal", true},
      {"vd", {2, 11, 1}, 2, 4, 1, 2, "valid", true},
      {"sd", {2, 7, 2}, 2, 3, 1, 2, "same", true},
    }
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    local runs = {}
    for _, c in ipairs(convs) do
      local name, xs, filters, k, s, d, padding, bias = table.unpack(c)
      local l = nn.Conv1D(filters, k, {strides = s, dilation_rate = d, padding = padding, use_bias = bias})
      local x = dnn.randn(table.unpack(xs))
      x.requires_grad = true
      l(x)
      if l.bias then dnn.no_grad(function() l.bias:copy(dnn.randn(filters)) end) end
      local y = l(x)
      local g = dnn.randn(table.unpack(y.shape))
      ;(y * g):sum():backward()
      runs[#runs + 1] = {name = name, y = y, x = x, w = l.kernel, b = l.bias}
      f:write(string.format("conv %s %d %d %s\n", name, s, d, padding))
      for key, t in pairs{x = x, w = l.kernel, b = l.bias, g = g} do
        f:write(name, ".", key, " ", table.concat(t.shape, ","), ": ", H.torch_values(t:detach()), "\n")
      end
    end
    -- embedding: ids 1-based, 0 padding with mask_zero
    local e = nn.Embedding(6, 3, {mask_zero = true})
    local ids = dnn.tensor{{1, 6, 0, 2}, {6, 6, 3, 0}}
    local y = e(ids)
    local g = dnn.randn(table.unpack(y.shape))
    ;(y * g):sum():backward()
    f:write("embedding e\n")
    for key, t in pairs{ids = ids, w = e.embeddings, g = g} do
      f:write("e.", key, " ", table.concat(t.shape, ","), ": ", H.torch_values(t:detach()), "\n")
    end
    f:close()
    local ref = H.run_torch_reference("seq1d_ref.py", path)
    os.remove(path)
    for _, r in ipairs(runs) do
      assert_close(r.y, ref[r.name .. ".y"], r.name .. " y")
      assert_close(r.x.grad, ref[r.name .. ".dx"], r.name .. " dx")
      assert_close(r.w.grad, ref[r.name .. ".dw"], r.name .. " dw")
      if r.b then assert_close(r.b.grad, ref[r.name .. ".db"], r.name .. " db") end
    end
    assert_close(y, ref["e.y"], "embedding y")
    assert_close(e.embeddings.grad, ref["e.dw"], "embedding dw")
  end)
end)
