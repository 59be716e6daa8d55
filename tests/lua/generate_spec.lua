-- model:generate: sampling ids one step at a time from a causal language
-- model; with the key/value cache each new id runs the model on that id
-- alone and gives the same ids as running the whole sequence every step.
local dnn = dnn or require "dnn"
local H = require "helpers"
local nn = dnn.nn

local VOCAB, D = 13, 16

-- A two-block causal LM written as a custom model that says it is step-wise;
-- `seen` records the number of steps of each call.
local function tiny_lm(seen)
  local LM = nn.Model:extend("TinyLM")
  LM.step_wise = true
  function LM:init()
    self.embed = nn.Embedding(VOCAB, D)
    self.attn1 = nn.MultiHeadAttention{num_heads = 2, key_dim = 8}
    self.attn2 = nn.MultiHeadAttention{num_heads = 4, key_dim = 4}
    self.norm1, self.norm2 = nn.LayerNormalization(), nn.LayerNormalization()
    self.head = nn.Dense(VOCAB)
  end
  function LM:forward(ids)
    if seen then seen[#seen + 1] = ids.shape[2] end
    local x = self.embed(ids)
    x = self.norm1(x + self.attn1(x, x, {use_causal_mask = true}))
    x = self.norm2(x + self.attn2(x, x, {use_causal_mask = true}))
    return self.head(x)
  end
  return LM()
end

-- The greedy continuation computed by hand: the whole sequence each step, argmax of the last step.
local function greedy_by_hand(model, prompt, max_length)
  local ids = prompt:totable()
  while #ids[1] < max_length do
    local scores = dnn.no_grad(function() return model(dnn.tensor(ids)) end)
    for b, row in ipairs(scores:select(2, #ids[1]):totable()) do
      local best = 1
      for i, v in ipairs(row) do if v > row[best] then best = i end end
      ids[b][#ids[b] + 1] = best
    end
  end
  return dnn.tensor(ids)
end

describe("model:generate", function()
  local prompt = dnn.tensor{{3, 4, 5}, {1, 2, 9}}

  it("continues greedily with temperature 0, as the model's argmax step by step", function()
    dnn.manual_seed(1)
    local model = tiny_lm()
    local ids = model:generate(prompt, {max_length = 10, temperature = 0})
    H.assert_shape(ids, {2, 10})
    H.assert_close(ids, greedy_by_hand(model, prompt, 10), 0)
  end)

  it("gives the same ids with and without the cache, and runs one step at a time with it", function()
    dnn.manual_seed(2)
    local seen = {}
    local model = tiny_lm(seen)
    local cached = model:generate(prompt, {max_length = 12, seed = 7, top_k = 5})
    assert.are.same({3, 1, 1, 1, 1, 1, 1, 1, 1}, seen)
    for i = #seen, 1, -1 do seen[i] = nil end
    local full = model:generate(prompt, {max_length = 12, seed = 7, top_k = 5, use_cache = false})
    assert.are.same({3, 4, 5, 6, 7, 8, 9, 10, 11}, seen)
    H.assert_close(cached, full, 0)
  end)

  it("decodes a functional model over sequences of any length (Input{-1}) with the cache", function()
    dnn.manual_seed(6)
    local ids = nn.Input{-1}
    local x = nn.Embedding(VOCAB, D)(ids)
    local a = nn.MultiHeadAttention{num_heads = 2, key_dim = 8}(x, x, {use_causal_mask = true})
    local model = nn.Model{inputs = ids, outputs = nn.Dense(VOCAB)(nn.LayerNormalization()(nn.Add()({x, a})))}
    assert.is_true(model:is_step_wise())
    local cached = model:generate(prompt, {max_length = 9, seed = 3})
    H.assert_close(cached, model:generate(prompt, {max_length = 9, seed = 3, use_cache = false}), 0)
    H.assert_close(model:generate(prompt, {max_length = 9, temperature = 0}), greedy_by_hand(model, prompt, 9), 0)
  end)

  it("decodes a GPT of KerasNLP's blocks with the cache: positions count on from the prompt", function()
    dnn.manual_seed(7)
    local gpt = nn.Sequential{
      nn.TokenAndPositionEmbedding{vocabulary_size = VOCAB, sequence_length = 16, embedding_dim = D},
      nn.TransformerDecoder{intermediate_dim = 32, num_heads = 2},
      nn.TransformerDecoder{intermediate_dim = 32, num_heads = 4, normalize_first = true},
      nn.Dense(VOCAB)}
    assert.is_true(gpt:is_step_wise())
    local cached = gpt:generate(prompt, {max_length = 16, seed = 5, temperature = 0.7})
    H.assert_close(cached, gpt:generate(prompt, {max_length = 16, seed = 5, temperature = 0.7, use_cache = false}), 0)
    H.assert_close(gpt:generate(prompt, {max_length = 12, temperature = 0}), greedy_by_hand(gpt, prompt, 12), 0)
    H.assert_error({"expected at most sequence_length = 16 steps", "after 16 steps while generating"},
      gpt.generate, gpt, prompt, {max_length = 18})
    -- the fixed sine encoding, in a functional model over any length
    local ids = nn.Input{-1}
    local x = nn.Embedding(VOCAB, D)(ids)
    x = nn.Add()({x, nn.SinePositionEncoding()(x)})
    local lm = nn.Model{inputs = ids, outputs = nn.Dense(VOCAB)(nn.TransformerDecoder{intermediate_dim = 32,
      num_heads = 2}(x))}
    assert.is_true(lm:is_step_wise())
    H.assert_close(lm:generate(prompt, {max_length = 10, seed = 2}),
      lm:generate(prompt, {max_length = 10, seed = 2, use_cache = false}), 0)
  end)

  it("runs the whole sequence each step for a model that is not step-wise", function()
    dnn.manual_seed(3)
    local model = nn.Sequential{nn.Embedding(VOCAB, 8), nn.LSTM(8, {return_sequences = true}), nn.Dense(VOCAB)}
    assert.is_false(model:is_step_wise())
    local ids = model:generate(prompt, {max_length = 8, temperature = 0})
    H.assert_close(ids, greedy_by_hand(model, prompt, 8), 0)
    local step_wise = nn.Sequential{nn.Embedding(VOCAB, 8), nn.Dense(VOCAB)}
    assert.is_true(step_wise:is_step_wise())
  end)

  it("draws as dnn.manual_seed(seed) would, and leaves the global stream where it was", function()
    dnn.manual_seed(4)
    local model = tiny_lm()
    local a = model:generate(prompt, {max_length = 9, seed = 11}) -- builds the model, then draws
    local state = dnn.get_rng_state()
    local b = model:generate(prompt, {max_length = 9, seed = 11})
    H.assert_close(a, b, 0)
    assert.are.equal(state, dnn.get_rng_state())
    local others = 0
    for seed = 12, 16 do
      others = others + (model:generate(prompt, {max_length = 9, seed = seed}):eq(a):sum():item() < 18 and 1 or 0)
    end
    assert.is_true(others > 0, "other seeds drew the same ids")
  end)

  it("takes one prompt as a Lua array and returns integer ids", function()
    dnn.manual_seed(5)
    local ids = tiny_lm():generate({2, 3}, {max_length = 6, temperature = 0})
    assert.are.equal(6, #ids)
    assert.are.same({2, 3}, {ids[1], ids[2]})
    for _, id in ipairs(ids) do assert.are.equal("integer", math.type(id)) end
  end)

  it("refuses bad prompts, options and models with clear errors", function()
    local model = tiny_lm()
    H.assert_error({"generate: expected max_length, an integer above the prompt's 3 steps, got nil"},
      model.generate, model, prompt)
    H.assert_error({"generate: expected max_length, an integer above the prompt's 3 steps, got number 3"},
      model.generate, model, prompt, {max_length = 3})
    H.assert_error({"generate: expected ids that are integers >= 1", "got number 0"},
      model.generate, model, dnn.tensor{{0, 4}}, {max_length = 4})
    H.assert_error({"generate: expected prompt ids as a (batch, steps) tensor or a Lua array of ids, got (3)"},
      model.generate, model, dnn.tensor{1, 2, 3}, {max_length = 4})
    H.assert_error({"generate: temperature must be a finite number >= 0, got number -1"},
      model.generate, model, prompt, {max_length = 5, temperature = -1})
    H.assert_error({"generate", "max_len"}, model.generate, model, prompt, {max_len = 5})
    local flat = nn.Sequential{nn.Embedding(VOCAB, 4), nn.Flatten(), nn.Dense(VOCAB)}
    H.assert_error({"generate: expected the model to map ids (2, 3) to scores (batch, steps, vocabulary), got (2, 13)"},
      flat.generate, flat, prompt, {max_length = 5})
  end)

  it("refuses a self-attention without the causal mask when it would cache it", function()
    local Open = nn.Model:extend("OpenLM")
    Open.step_wise = true
    function Open:init()
      self.embed, self.attn, self.head = nn.Embedding(VOCAB, 8), nn.MultiHeadAttention(2, 4), nn.Dense(VOCAB)
    end
    function Open:forward(ids)
      local x = self.embed(ids)
      return self.head(x + self.attn(x, x))
    end
    local model = Open()
    H.assert_error({"needs use_causal_mask = true"}, model.generate, model, prompt, {max_length = 5})
    H.assert_shape(model:generate(prompt, {max_length = 5, use_cache = false}), {2, 5})
  end)
end)
