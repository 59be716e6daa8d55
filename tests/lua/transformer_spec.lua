-- Transformer layers (issue 13, KerasNLP's names): SinePositionEncoding,
-- PositionEmbedding, TokenAndPositionEmbedding, TransformerEncoder and
-- TransformerDecoder: shapes, values, weights (names, order, counts), the
-- blocks' structure against the same sublayers called by hand (post- and
-- pre-norm), masks (a padded step changes no other step), causality,
-- gradients by finite differences, models (Sequential, functional, masks
-- flowing from TokenAndPositionEmbedding), save and load, errors; then one
-- encoder block against torch.nn.TransformerEncoderLayer on outputs,
-- gradients and one Adam step (skipped with a message where PyTorch is
-- absent).
local dnn = dnn or require "dnn"
local H = require "helpers"
local nn = dnn.nn

-- The maximum absolute difference of two tensors.
local function max_diff(a, b)
  return (a - b):abs():max():item()
end

-- Every weight of a layer or model set to small random values (biases and LayerNorms included), so that no term
-- is zero or one.
local function randomize(l, scale)
  dnn.no_grad(function()
    for _, w in ipairs(l:named_weights()) do w.tensor:copy(dnn.randn(table.unpack(w.tensor.shape)) * (scale or 0.5)) end
  end)
end

local function weight_names(l)
  local names = {}
  for i, w in ipairs(l:named_weights()) do names[i] = w.name end
  return names
end

local function weight_tensors(l)
  local list = {}
  for i, w in ipairs(l.weights) do list[i] = w.tensor end
  return list
end

describe("SinePositionEncoding", function()
  it("gives KerasNLP's interleaved sines and cosines for every example", function()
    local x = dnn.randn(2, 5, 6)
    local enc = nn.SinePositionEncoding()(x)
    H.assert_shape(enc, {2, 5, 6})
    assert.is_false(enc.requires_grad)
    for p = 0, 4 do
      for i = 0, 5 do
        local angle = p / 10000 ^ (2 * (i // 2) / 6)
        local want = i % 2 == 0 and math.sin(angle) or math.cos(angle)
        H.assert_close(enc[1][p + 1][i + 1]:item(), want, 1e-6)
        H.assert_close(enc[2][p + 1][i + 1]:item(), want, 1e-6)
      end
    end
    local other = nn.SinePositionEncoding{max_wavelength = 100}(x)
    H.assert_close(other[1][4][3]:item(), math.sin(3 / 100 ^ (2 / 6)), 1e-6)
  end)

  it("refuses a bad max_wavelength and inputs that are not sequences", function()
    H.assert_error({"SinePositionEncoding: expected max_wavelength a number > 0, got number 0"},
      function() nn.SinePositionEncoding{max_wavelength = 0} end)
    H.assert_error({"unknown option 'max_wavelenght'", "max_wavelength"},
      function() nn.SinePositionEncoding{max_wavelenght = 5} end)
    H.assert_error({"SinePositionEncoding", "expected an input as (batch, timesteps, features), got (2, 5)"},
      function() nn.SinePositionEncoding()(dnn.zeros(2, 5)) end)
  end)
end)

describe("PositionEmbedding", function()
  it("broadcasts its first rows over the batch, and its gradient sums over it", function()
    dnn.manual_seed(1)
    local pe = nn.PositionEmbedding{sequence_length = 6}
    local x = dnn.randn(3, 4, 5)
    local y = pe(x)
    H.assert_shape(y, {3, 4, 5})
    H.assert_shape(pe.embeddings, {6, 5})
    assert.are.same({"position_embedding/embeddings"}, weight_names(pe))
    for b = 1, 3 do H.assert_close(y[b], pe.embeddings:narrow(1, 1, 4), 0) end
    local g = dnn.randn(3, 4, 5)
    local ok, err = dnn.autograd.gradcheck(function(w) return (pe(x) * g):sum() end, {pe.embeddings})
    assert(ok, err)
    pe.embeddings.grad = nil
    ;(pe(x) * g):sum():backward()
    H.assert_close(pe.embeddings.grad:narrow(1, 1, 4), g:sum(1), 1e-5)
    H.assert_close(pe.embeddings.grad:narrow(1, 5, 2), dnn.zeros(2, 5), 0)
  end)

  it("refuses longer sequences, other features and bad options", function()
    local pe = nn.PositionEmbedding(4)
    pe(dnn.zeros(1, 4, 3))
    H.assert_error({"PositionEmbedding", "expected at most sequence_length = 4 steps, got (1, 5, 3)"},
      function() pe(dnn.zeros(1, 5, 3)) end)
    H.assert_error({"expected 3 features (as when built), got (1, 2, 4)"}, function() pe(dnn.zeros(1, 2, 4)) end)
    H.assert_error({"PositionEmbedding: expected sequence_length a positive integer, got nil"},
      function() nn.PositionEmbedding{} end)
    H.assert_error({"PositionEmbedding", "unknown initializer 'glorot'"},
      function() nn.PositionEmbedding{sequence_length = 3, initializer = "glorot"} end)
    H.assert_error({"expected an input of (batch, timesteps, features), got (None, 3)"},
      function() nn.PositionEmbedding{sequence_length = 3, input_shape = {3}} end)
  end)
end)

describe("TokenAndPositionEmbedding", function()
  it("adds the position rows to the token rows and passes the padding mask on", function()
    dnn.manual_seed(2)
    local emb = nn.TokenAndPositionEmbedding{vocabulary_size = 7, sequence_length = 5, embedding_dim = 4,
                                             mask_zero = true}
    assert.are.same({"token_and_position_embedding/token_embedding/embeddings",
                     "token_and_position_embedding/position_embedding/embeddings"}, weight_names(emb))
    assert.are.equal(7 * 4 + 5 * 4, emb:count_params())
    local ids = dnn.tensor{{3, 7, 1, 0}, {2, 0, 0, 0}}
    local y = emb(ids)
    H.assert_shape(y, {2, 4, 4})
    local tokens = emb.token_embedding.embeddings
    local positions = emb.position_embedding.embeddings
    H.assert_close(y[1][2], tokens[7] + positions[2], 1e-6)
    H.assert_close(y[2][3], positions[3], 1e-6) -- padding: a zero token row
    H.assert_close(emb:compute_mask(ids), dnn.tensor{{1, 1, 1, 0}, {1, 0, 0, 0}}, 0)
    assert.is_nil(nn.TokenAndPositionEmbedding(7, 5, 4):compute_mask(ids))
    local g = dnn.randn(2, 4, 4)
    local ok, err = dnn.autograd.gradcheck(function() return (emb(ids) * g):sum() end, {tokens, positions})
    assert(ok, err)
  end)

  it("freezes both tables with trainable = false", function()
    local emb = nn.TokenAndPositionEmbedding(7, 5, 4)
    emb.trainable = false
    assert.are.equal(0, #emb:parameters())
    assert.is_false(emb.token_embedding.embeddings.requires_grad)
    assert.is_false(emb.position_embedding.embeddings.requires_grad)
    emb.trainable = true
    assert.are.equal(2, #emb:parameters())
  end)

  it("refuses bad sizes and ids", function()
    H.assert_error({"TokenAndPositionEmbedding: expected vocabulary_size a positive integer, got number 0"},
      function() nn.TokenAndPositionEmbedding(0, 5, 4) end)
    H.assert_error({"TokenAndPositionEmbedding: expected embedding_dim a positive integer, got nil"},
      function() nn.TokenAndPositionEmbedding{vocabulary_size = 3, sequence_length = 5} end)
    H.assert_error({"TokenAndPositionEmbedding: expected mask_zero true or false, got number 1"},
      function() nn.TokenAndPositionEmbedding(3, 5, 4, {mask_zero = 1}) end)
    local emb = nn.TokenAndPositionEmbedding(3, 5, 4)
    H.assert_error({"expected ids as (batch, timesteps), got (2, 3, 1)"}, function() emb(dnn.ones(2, 3, 1)) end)
    H.assert_error({"expected at most sequence_length = 5 steps, got ids (1, 6)"}, function() emb(dnn.ones(1, 6)) end)
  end)
end)

-- A block with every weight random, on a small random input.
local function encoder(options)
  local enc = nn.TransformerEncoder(options)
  enc(dnn.zeros(1, 2, 4))
  randomize(enc)
  return enc
end

describe("TransformerEncoder", function()
  it("keeps KerasNLP's sublayers, weight names, order and counts", function()
    local enc = nn.TransformerEncoder{intermediate_dim = 12, num_heads = 2, name = "enc"}
    local y = enc(dnn.randn(3, 5, 8))
    H.assert_shape(y, {3, 5, 8})
    local names = {}
    for _, n in ipairs{"query_kernel", "query_bias", "key_kernel", "key_bias", "value_kernel", "value_bias",
                       "output_kernel", "output_bias"} do names[#names + 1] = "enc/self_attention_layer/" .. n end
    for _, n in ipairs{"self_attention_layer_norm/gamma", "self_attention_layer_norm/beta",
                       "feedforward_layer_norm/gamma", "feedforward_layer_norm/beta",
                       "feedforward_intermediate_dense/kernel", "feedforward_intermediate_dense/bias",
                       "feedforward_output_dense/kernel", "feedforward_output_dense/bias"} do
      names[#names + 1] = "enc/" .. n
    end
    assert.are.same(names, weight_names(enc))
    H.assert_shape(enc.self_attention_layer.query_kernel, {8, 2, 4})
    local count = 4 * (8 * 8 + 8) + 2 * 2 * 8 + (8 * 12 + 12) + (12 * 8 + 8)
    local total, trainable = enc:count_params()
    assert.are.equal(count, total)
    assert.are.equal(count, trainable)
    assert.are.equal(16, #enc:parameters())
  end)

  it("is post-norm by default and pre-norm with normalize_first, as its sublayers called by hand", function()
    dnn.manual_seed(3)
    local x = dnn.randn(2, 5, 4)
    for _, first in ipairs{false, true} do
      local enc = encoder{intermediate_dim = 6, num_heads = 2, normalize_first = first}
      local mha, ln1, ln2 = enc.self_attention_layer, enc.self_attention_layer_norm, enc.feedforward_layer_norm
      local function ff(h) return enc.feedforward_output_dense(enc.feedforward_intermediate_dense(h)) end
      local want
      if first then
        local h = x + mha(ln1(x), ln1(x))
        want = h + ff(ln2(h))
      else
        local h = ln1(x + mha(x, x))
        want = ln2(h + ff(h))
      end
      H.assert_close(enc(x), want, 1e-5)
      assert.are.equal(1e-5, ln1.epsilon)
    end
    -- the same weights, the other order: another function
    local post = encoder{intermediate_dim = 6, num_heads = 2}
    local pre = nn.TransformerEncoder{intermediate_dim = 6, num_heads = 2, normalize_first = true}
    pre(x)
    pre:set_weights(post:get_weights())
    assert(max_diff(pre(x), post(x)) > 1e-2, "pre-norm and post-norm gave the same output")
  end)

  it("hides padded keys: a padded step changes no other step's output", function()
    dnn.manual_seed(4)
    for _, first in ipairs{false, true} do
      local enc = encoder{intermediate_dim = 6, num_heads = 2, normalize_first = first}
      local x = dnn.randn(2, 5, 4)
      local x2 = x:clone()
      dnn.no_grad(function() x2[1][5]:copy(dnn.randn(4) * 3) end)
      local mask = dnn.tensor{{1, 1, 1, 1, 0}, {1, 1, 1, 1, 1}}
      local y, y2 = enc(x, {padding_mask = mask}), enc(x2, {padding_mask = mask})
      H.assert_close(y:narrow(2, 1, 4), y2:narrow(2, 1, 4), 1e-5)
      H.assert_close(y[2], y2[2], 1e-6)
      assert(max_diff(enc(x):narrow(2, 1, 4), enc(x2):narrow(2, 1, 4)) > 1e-3, "without the mask step 5 mattered not")
      -- the protocol's mask is the padding mask; attention_mask is combined with it
      H.assert_close(enc(x, {mask = mask}), y, 0)
      local attend = dnn.ones(2, 5, 5)
      dnn.no_grad(function() attend:narrow(3, 2, 1):fill(0) end)
      local z, z2 = enc(x, {attention_mask = attend}), enc(x, {attention_mask = attend, padding_mask = mask})
      local x3 = x:clone()
      dnn.no_grad(function() x3[1][2]:copy(dnn.randn(4)) end)
      local z3 = enc(x3, {attention_mask = attend})
      H.assert_close(z:narrow(2, 3, 3), z3:narrow(2, 3, 3), 1e-5)
      assert(max_diff(z2, z) > 1e-3, "padding_mask was dropped when attention_mask was given")
    end
  end)

  it("takes its mask from Embedding{mask_zero} in Sequential and functional models", function()
    dnn.manual_seed(5)
    local emb = nn.TokenAndPositionEmbedding(9, 6, 4, {mask_zero = true})
    local enc = nn.TransformerEncoder(6, 2)
    local model = nn.Sequential{nn.Input{6}, emb, enc}
    local ids = dnn.tensor{{1, 5, 3, 0, 0, 0}, {2, 2, 8, 9, 4, 0}}
    local want = enc(emb(ids), {padding_mask = ids:ne(0)})
    H.assert_close(model(ids), want, 1e-6)
    assert(max_diff(enc(emb(ids)), want) > 1e-3, "the mask changed nothing")
    local input = nn.Input{6}
    local functional = nn.Model(input, enc(emb(input)))
    H.assert_close(functional(ids), want, 1e-6)
    H.assert_close(model:compute_mask(ids), ids:ne(0), 0)
  end)

  it("has gradients matching finite differences (post-norm and pre-norm, masked)", function()
    dnn.manual_seed(6)
    for _, first in ipairs{false, true} do
      local enc = encoder{intermediate_dim = 5, num_heads = 2, normalize_first = first, activation = "gelu"}
      local x = dnn.randn(2, 3, 4, {requires_grad = true})
      local mask = dnn.tensor{{1, 1, 0}, {1, 1, 1}}
      local g = dnn.randn(2, 3, 4)
      local ok, err = dnn.autograd.gradcheck(function(xx) return (enc(xx, {padding_mask = mask}) * g):sum() end,
        {x, table.unpack(weight_tensors(enc))})
      assert(ok, err)
    end
  end)

  it("drops out in training only, and trains in a Sequential model", function()
    dnn.manual_seed(7)
    local enc = encoder{intermediate_dim = 6, num_heads = 2, dropout = 0.5}
    local plain = encoder{intermediate_dim = 6, num_heads = 2}
    plain:set_weights(enc:get_weights())
    local x = dnn.randn(2, 5, 4)
    H.assert_close(enc(x, {training = false}), plain(x), 1e-6)
    assert(max_diff(enc(x, {training = true}), plain(x)) > 1e-3, "dropout changed nothing in training")
    enc:eval()
    H.assert_close(enc(x), plain(x), 1e-6)

    local model = nn.Sequential{nn.Input{5, 4}, nn.TransformerEncoder(8, 2, {normalize_first = true}),
                                nn.GlobalAveragePooling1D(), nn.Dense(1)}
    model:compile{optimizer = dnn.optim.Adam{learning_rate = 1e-2}, loss = "mse"}
    local xs = dnn.randn(16, 5, 4)
    local ys = xs:sum(3):sum(2):view(16, 1)
    local first = model:evaluate(xs, ys, {verbose = 0})
    model:fit(xs, ys, {epochs = 30, batch_size = 8, verbose = 0})
    local last = model:evaluate(xs, ys, {verbose = 0})
    assert(last < first * 0.5, string.format("loss %g -> %g", first, last))
  end)

  it("freezes its weights with trainable = false", function()
    local enc = nn.TransformerEncoder{intermediate_dim = 4, num_heads = 1, trainable = false, input_shape = {3, 2}}
    assert.are.equal(0, #enc:parameters())
    local total, trainable, frozen = enc:count_params()
    assert.are.equal(0, trainable)
    assert.are.equal(total, frozen)
    enc.trainable = true
    assert.are.equal(16, #enc:parameters())
    assert.is_true(enc.self_attention_layer.query_kernel.requires_grad)
  end)

  it("refuses bad options, shapes and masks with clear messages", function()
    H.assert_error({"TransformerEncoder: expected intermediate_dim a positive integer, got nil"},
      function() nn.TransformerEncoder{num_heads = 2} end)
    H.assert_error({"TransformerEncoder: expected num_heads a positive integer, got number 0"},
      function() nn.TransformerEncoder(4, 0) end)
    H.assert_error({"TransformerEncoder: unknown option 'num_head'", "num_heads"},
      function() nn.TransformerEncoder{intermediate_dim = 4, num_head = 2} end)
    H.assert_error({"TransformerEncoder: expected dropout in [0, 1), got number 1"},
      function() nn.TransformerEncoder(4, 2, {dropout = 1}) end)
    H.assert_error({"TransformerEncoder: unknown activation 'rleu'", "did you mean 'relu'"},
      function() nn.TransformerEncoder(4, 2, {activation = "rleu"}) end)
    H.assert_error({"TransformerEncoder: expected normalize_first true or false, got string 'yes'"},
      function() nn.TransformerEncoder(4, 2, {normalize_first = "yes"}) end)
    H.assert_error({"TransformerEncoder: expected layer_norm_epsilon a number > 0, got number -1"},
      function() nn.TransformerEncoder(4, 2, {layer_norm_epsilon = -1}) end)
    H.assert_error({"TransformerEncoder: unknown initializer 'he'"},
      function() nn.TransformerEncoder(4, 2, {kernel_initializer = "he"}) end)
    H.assert_error({"TransformerEncoder", "expected the features of the input (10) to be divisible by num_heads (4)"},
      function() nn.TransformerEncoder(4, 4)(dnn.zeros(2, 3, 10)) end)
    H.assert_error({"TransformerEncoder", "expected the input as (batch, timesteps, features), got (2, 3)"},
      function() nn.TransformerEncoder(4, 1)(dnn.zeros(2, 3)) end)
    local enc = nn.TransformerEncoder(4, 2)
    enc(dnn.zeros(2, 3, 4))
    H.assert_error({"TransformerEncoder", "expected 4 features (as when built), got (2, 3, 6)"},
      function() enc(dnn.zeros(2, 3, 6)) end)
    H.assert_error({"expected the input as (batch, timesteps, features), got (2, 3, 4, 1)"},
      function() enc(dnn.zeros(2, 3, 4, 1)) end)
    H.assert_error({"expected padding_mask of shape (2, 3), got (2, 4)"},
      function() enc(dnn.zeros(2, 3, 4), {padding_mask = dnn.ones(2, 4)}) end)
    H.assert_error({"expected attention_mask of shape (2, 3, 3), got (2, 3)"},
      function() enc(dnn.zeros(2, 3, 4), {attention_mask = dnn.ones(2, 3)}) end)
    H.assert_error({"TransformerEncoder call: unknown option 'paddingmask'", "padding_mask"},
      function() enc(dnn.zeros(2, 3, 4), {paddingmask = dnn.ones(2, 3)}) end)
  end)
end)

describe("TransformerDecoder", function()
  local function decoder(options, with_encoder)
    local dec = nn.TransformerDecoder(options)
    if with_encoder then dec(dnn.zeros(1, 2, 4), dnn.zeros(1, 3, 6)) else dec(dnn.zeros(1, 2, 4)) end
    randomize(dec)
    return dec
  end

  it("keeps KerasNLP's weight order, with and without cross-attention", function()
    local only = nn.TransformerDecoder{intermediate_dim = 6, num_heads = 2, name = "gpt"}
    H.assert_shape(only(dnn.randn(2, 5, 4)), {2, 5, 4})
    local names = weight_names(only)
    assert.are.equal(16, #names)
    assert.are.equal("gpt/self_attention/query_kernel", names[1])
    assert.are.equal("gpt/self_attention_layer_norm/gamma", names[9])
    assert.are.equal("gpt/feedforward_intermediate_dense/kernel", names[11])
    assert.are.equal("gpt/feedforward_layer_norm/beta", names[16])
    local full = nn.TransformerDecoder{intermediate_dim = 6, num_heads = 2, name = "seq2seq"}
    H.assert_shape(full(dnn.randn(2, 5, 4), dnn.randn(2, 7, 6)), {2, 5, 4})
    names = weight_names(full)
    assert.are.equal(26, #names)
    assert.are.equal("seq2seq/cross_attention/query_kernel", names[11])
    assert.are.equal("seq2seq/cross_attention/key_kernel", names[13])
    H.assert_shape(full.cross_attention.key_kernel, {6, 2, 2})
    assert.are.equal("seq2seq/cross_attention_layer_norm/beta", names[20])
    assert.are.equal("seq2seq/feedforward_layer_norm/gamma", names[25])
  end)

  it("is causal: changing step t+1 changes no output up to t", function()
    dnn.manual_seed(8)
    for _, first in ipairs{false, true} do
      for _, with_encoder in ipairs{false, true} do
        local dec = decoder({intermediate_dim = 6, num_heads = 2, normalize_first = first}, with_encoder)
        local x = dnn.randn(2, 5, 4)
        local e = with_encoder and dnn.randn(2, 3, 6) or nil
        local y = dec(x, e)
        for t = 1, 4 do
          local x2 = x:clone()
          dnn.no_grad(function() x2[1][t + 1]:copy(dnn.randn(4) * 2) end)
          local y2 = dec(x2, e)
          H.assert_close(y:narrow(2, 1, t), y2:narrow(2, 1, t), 1e-5)
          assert(max_diff(y[1][t + 1], y2[1][t + 1]) > 1e-4, "step t+1 did not change its own output")
        end
      end
    end
  end)

  it("is the sublayers called by hand: causal self-attention, cross-attention, feed-forward", function()
    dnn.manual_seed(9)
    local x, e = dnn.randn(2, 4, 4), dnn.randn(2, 3, 6)
    for _, first in ipairs{false, true} do
      local dec = decoder({intermediate_dim = 6, num_heads = 2, normalize_first = first}, true)
      local function ff(h) return dec.feedforward_output_dense(dec.feedforward_intermediate_dense(h)) end
      local sa, ca = dec.self_attention, dec.cross_attention
      local n1, n2, n3 = dec.self_attention_layer_norm, dec.cross_attention_layer_norm, dec.feedforward_layer_norm
      local want
      if first then
        local h = x + sa(n1(x), n1(x), {use_causal_mask = true})
        h = h + ca(n2(h), e)
        want = h + ff(n3(h))
      else
        local h = n1(x + sa(x, x, {use_causal_mask = true}))
        h = n2(h + ca(h, e))
        want = n3(h + ff(h))
      end
      H.assert_close(dec(x, e), want, 1e-5)
      H.assert_close(dec{x, e}, want, 1e-5)
      H.assert_close(dec(x, e, {training = false}), want, 1e-5)
    end
  end)

  it("hides padded decoder and encoder steps", function()
    dnn.manual_seed(10)
    local dec = decoder({intermediate_dim = 6, num_heads = 2}, true)
    local x, e = dnn.randn(2, 4, 4), dnn.randn(2, 3, 6)
    local e2 = e:clone()
    dnn.no_grad(function() e2[2][3]:copy(dnn.randn(6) * 3) end)
    local emask = dnn.tensor{{1, 1, 1}, {1, 1, 0}}
    H.assert_close(dec(x, e, {encoder_padding_mask = emask}), dec(x, e2, {encoder_padding_mask = emask}), 1e-5)
    assert(max_diff(dec(x, e), dec(x, e2)) > 1e-3, "without the mask the encoder step mattered not")
    -- decoder padding at step 2 of example 1: later steps do not see it (earlier ones never did)
    local x2 = x:clone()
    dnn.no_grad(function() x2[1][2]:copy(dnn.randn(4) * 3) end)
    local dmask = dnn.tensor{{1, 0, 1, 1}, {1, 1, 1, 1}}
    local y, y2 = dec(x, e, {decoder_padding_mask = dmask}), dec(x2, e, {decoder_padding_mask = dmask})
    H.assert_close(y[1]:narrow(1, 3, 2), y2[1]:narrow(1, 3, 2), 1e-5)
    H.assert_close(y[1][1], y2[1][1], 1e-6)
    -- in a functional model the masks of both sequences arrive by themselves
    local src, tgt = nn.Input{3}, nn.Input{4}
    local src_emb = nn.TokenAndPositionEmbedding(9, 4, 6, {mask_zero = true})
    local tgt_emb = nn.TokenAndPositionEmbedding(9, 4, 4, {mask_zero = true})
    local model = nn.Model({src, tgt}, dec(tgt_emb(tgt), src_emb(src)))
    local sids, tids = dnn.tensor{{1, 2, 0}, {4, 0, 0}}, dnn.tensor{{3, 3, 0, 0}, {5, 6, 7, 0}}
    local want = dec(tgt_emb(tids), src_emb(sids), {decoder_padding_mask = tids:ne(0),
                                                    encoder_padding_mask = sids:ne(0)})
    H.assert_close(model{sids, tids}, want, 1e-6)
    assert(max_diff(dec(tgt_emb(tids), src_emb(sids)), want) > 1e-3, "the masks changed nothing")
  end)

  it("works decoder-only in a Sequential model, taking the mask from the embedding", function()
    dnn.manual_seed(11)
    local emb = nn.TokenAndPositionEmbedding(9, 6, 4, {mask_zero = true})
    local dec = nn.TransformerDecoder(6, 2)
    local model = nn.Sequential{nn.Input{6}, emb, dec, nn.Dense(9)}
    local ids = dnn.tensor{{0, 0, 1, 5, 3, 2}, {2, 2, 8, 9, 4, 1}}
    local y = model(ids)
    H.assert_shape(y, {2, 6, 9})
    local want = model.layers[3](dec(emb(ids), {decoder_padding_mask = ids:ne(0)}))
    H.assert_close(y, want, 1e-6)
    assert(max_diff(dec(emb(ids)), dec(emb(ids), {mask = ids:ne(0)})) > 1e-3, "the mask changed nothing")
  end)

  it("has gradients matching finite differences (with cross-attention)", function()
    dnn.manual_seed(12)
    local dec = decoder({intermediate_dim = 5, num_heads = 2}, true)
    local x = dnn.randn(2, 3, 4, {requires_grad = true})
    local e = dnn.randn(2, 3, 6, {requires_grad = true})
    local g = dnn.randn(2, 3, 4)
    local emask = dnn.tensor{{1, 1, 0}, {1, 1, 1}}
    local ok, err = dnn.autograd.gradcheck(function(xx, ee)
      return (dec(xx, ee, {encoder_padding_mask = emask}) * g):sum()
    end, {x, e, table.unpack(weight_tensors(dec))})
    assert(ok, err)
  end)

  it("refuses a change of call form, mismatched sequences and bad masks", function()
    local only = nn.TransformerDecoder(4, 2)
    only(dnn.zeros(2, 3, 4))
    H.assert_error({"TransformerDecoder", "built without cross-attention"},
      function() only(dnn.zeros(2, 3, 4), dnn.zeros(2, 3, 4)) end)
    H.assert_error({"got an encoder mask, but no encoder sequence"},
      function() only(dnn.zeros(2, 3, 4), {encoder_padding_mask = dnn.ones(2, 3)}) end)
    local full = nn.TransformerDecoder(4, 2)
    full(dnn.zeros(2, 3, 4), dnn.zeros(2, 5, 6))
    H.assert_error({"built with cross-attention", "call it with the encoder sequence too"},
      function() full(dnn.zeros(2, 3, 4)) end)
    H.assert_error({"expected the encoder sequence of the decoder's batch (2) with 6 features", "got (2, 5, 4)"},
      function() full(dnn.zeros(2, 3, 4), dnn.zeros(2, 5, 4)) end)
    H.assert_error({"expected the encoder sequence as (batch, timesteps, features), got (2, 5)"},
      function() full(dnn.zeros(2, 3, 4), dnn.zeros(2, 5)) end)
    H.assert_error({"expected encoder_padding_mask of shape (2, 5), got (2, 3)"},
      function() full(dnn.zeros(2, 3, 4), dnn.zeros(2, 5, 6), {encoder_padding_mask = dnn.ones(2, 3)}) end)
    H.assert_error({"expected encoder_attention_mask of shape (2, 3, 5)"},
      function() full(dnn.zeros(2, 3, 4), dnn.zeros(2, 5, 6), {encoder_attention_mask = dnn.ones(2, 5, 5)}) end)
    H.assert_error({"expected decoder_attention_mask of shape (2, 3, 3)"},
      function() full(dnn.zeros(2, 3, 4), dnn.zeros(2, 5, 6), {decoder_attention_mask = dnn.ones(2, 5, 5)}) end)
    H.assert_error({"TransformerDecoder call: unknown option 'padding_mask'"},
      function() full(dnn.zeros(2, 3, 4), dnn.zeros(2, 5, 6), {padding_mask = dnn.ones(2, 3)}) end)
    H.assert_error({"expected an array of at least 1 tensors"}, function() full({}) end)
    H.assert_error({"TransformerDecoder", "expected the features of the decoder sequence (6) to be divisible by " ..
      "num_heads (4)"}, function() nn.TransformerDecoder(4, 4)(dnn.zeros(1, 2, 6)) end)
    H.assert_error({"TransformerDecoder: expected intermediate_dim a positive integer, got number 1.5"},
      function() nn.TransformerDecoder(1.5, 2) end)
  end)
end)

describe("transformer models in files", function()
  it("save and load with their weights (encoder-decoder, decoder-only, position layers)", function()
    dnn.manual_seed(13)
    local src, tgt = nn.Input{5}, nn.Input{4}
    local memory = nn.TransformerEncoder{intermediate_dim = 8, num_heads = 2, normalize_first = true,
      layer_norm_epsilon = 1e-6}(nn.TokenAndPositionEmbedding(11, 5, 4, {mask_zero = true})(src))
    local dec_in = nn.TokenAndPositionEmbedding(11, 4, 4)(tgt)
    local out = nn.Dense(11)(nn.TransformerDecoder(8, 2, {activation = "gelu"})(dec_in, memory))
    local seq2seq = nn.Model({src, tgt}, out)
    local gpt = nn.Sequential{nn.Input{6}, nn.TokenAndPositionEmbedding(11, 6, 4), nn.TransformerDecoder(8, 2),
                              nn.Dense(11)}
    local x = nn.Input{6, 4}
    local h = nn.Add(){x, nn.PositionEmbedding(6)(x)}
    h = nn.Add(){h, nn.SinePositionEncoding{max_wavelength = 500}(h)}
    local positions = nn.Model(x, nn.TransformerEncoder(8, 2)(h))
    local sids, tids = dnn.tensor{{1, 2, 3, 0, 0}, {4, 5, 6, 7, 8}}, dnn.tensor{{1, 9, 10, 11}, {2, 3, 4, 5}}
    local ids = dnn.tensor{{1, 2, 3, 4, 5, 6}, {7, 8, 9, 10, 11, 1}}
    for _, case in ipairs{{seq2seq, {sids, tids}}, {gpt, ids}, {positions, dnn.randn(2, 6, 4)}} do
      local m, input = case[1], case[2]
      randomize(m, 0.3)
      local path = os.tmpname() .. ".safetensors"
      m:save(path)
      local loaded = dnn.load_model(path)
      os.remove(path)
      local fresh = loaded(input)
      H.assert_close(fresh, m(input), 0)
      assert.are.equal(m:count_params(), loaded:count_params())
      randomize(loaded, 0.3)
      assert(max_diff(loaded(input), fresh) > 1e-3, "the output does not depend on the weights")
    end
  end)
end)

describe("TransformerEncoder against PyTorch", function()
  if not H.have_torch() then
    pending("PyTorch (python3-torch) is not installed: cross-check skipped")
    return
  end

  local function assert_close(t, expected, what) H.assert_close_to_reference(t, expected, 1e-4, what) end

  local function write(f, name, key, t)
    f:write(name, ".", key, " ", table.concat(t.shape, ","), ": ", H.torch_values(t:detach():contiguous()), "\n")
  end

  -- dnnlua's weights under the reference's keys, in the block's order.
  local KEYS = {"wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo", "g1", "b1", "g2", "b2", "w1", "c1", "w2", "c2"}

  it("agrees with nn.TransformerEncoderLayer on outputs, gradients and one Adam step", function()
    dnn.manual_seed(14)
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    local lr = 1e-2
    local runs = {}
    -- name, batch, steps, d, heads, intermediate, normalize_first, padded
    for _, c in ipairs{{"post", 2, 5, 8, 2, 12, false, false}, {"pre", 2, 5, 8, 2, 12, true, false},
                       {"post_masked", 3, 6, 12, 3, 16, false, true}, {"pre_masked", 3, 6, 12, 4, 10, true, true}} do
      local name, b, steps, d, heads, ff, first, padded = table.unpack(c, 1, 8)
      local enc = nn.TransformerEncoder{intermediate_dim = ff, num_heads = heads, normalize_first = first}
      local x = dnn.randn(b, steps, d, {requires_grad = true})
      enc(x:detach())
      randomize(enc, 0.3)
      local weights = weight_tensors(enc)
      local before = {}
      for i, w in ipairs(weights) do before[i] = w:clone() end
      local mask
      if padded then
        mask = dnn.ones(b, steps)
        dnn.no_grad(function() mask[1]:narrow(1, steps - 1, 2):fill(0); mask[2][steps]:fill(0) end)
      end
      local y = enc(x, {padding_mask = mask})
      local gy = dnn.randn(table.unpack(y.shape))
      local opt = dnn.optim.Adam{learning_rate = lr, params = enc:parameters()}
      opt:zero_grad()
      ;(y * gy):sum():backward()
      local grads = {}
      for i, w in ipairs(weights) do grads[i] = w.grad:clone() end
      opt:step()
      f:write(string.format("case %s %d %d %g\n", name, heads, first and 1 or 0, lr))
      write(f, name, "x", x)
      write(f, name, "gy", gy)
      if mask then write(f, name, "mask", mask) end
      for i, key in ipairs(KEYS) do write(f, name, key, before[i]) end
      runs[#runs + 1] = {name = name, y = y, dx = x.grad, grads = grads, after = weights}
    end
    f:close()
    local ref = H.run_torch_reference("transformer_ref.py", path)
    os.remove(path)
    for _, r in ipairs(runs) do
      assert_close(r.y, ref[r.name .. ".y"], r.name .. " y")
      assert_close(r.dx, ref[r.name .. ".dx"], r.name .. " dx")
      for i, key in ipairs(KEYS) do
        assert_close(r.grads[i], ref[r.name .. ".d" .. key], r.name .. " d" .. key)
        -- The key bias's gradient is zero but for rounding (a shift of every score of a row, which softmax
        -- ignores): Adam's normalized step makes that noise a step of either sign, in both. Its gradient is
        -- checked above.
        if key ~= "bk" then assert_close(r.after[i], ref[r.name .. ".new_" .. key], r.name .. " updated " .. key) end
      end
    end
  end)
end)
