-- One measurement for training_memory_spec, in a fresh process (freed
-- blocks of an earlier model, kept by the block cache, would blur the
-- baseline): builds a model of the examples, prints summary{batch_size}'s
-- estimate and the peak-RSS growth of one fit step with Adam, from before
-- the model existed.
--   dnnlua training_memory_step.lua mlp|cnn|lstm|gpt
local H = require "helpers"
local nn = dnn.nn

local FASHION_DIR = "/usr/share/datasets/fashion-mnist"
local TEXT = "/usr/share/common-licenses/GPL-3"

-- Fashion-MNIST's test images (10,000: enough for one batch, quicker to read than the training set)
local function fashion(n, shape)
  local x = dnn.read_idx(FASHION_DIR .. "/t10k-images-idx3-ubyte.gz"):narrow(1, 1, n) / 255
  local y = dnn.read_idx(FASHION_DIR .. "/t10k-labels-idx1-ubyte.gz"):narrow(1, 1, n) + 1
  return x:reshape(n, table.unpack(shape)):contiguous(), y:contiguous()
end

-- Windows of a character-level text: ids and the next ids.
local function text_windows(batch, steps)
  local f = assert(io.open(TEXT, "r"))
  local text = f:read("a")
  f:close()
  local tok = dnn.text.Tokenizer{level = "char"}:fit(text)
  local ids = tok:encode(text)
  local xs, ys = {}, {}
  for b = 1, batch do
    local start = (b - 1) * steps
    xs[b], ys[b] = {table.unpack(ids, start + 1, start + steps)}, {table.unpack(ids, start + 2, start + steps + 1)}
  end
  return dnn.tensor(xs), dnn.tensor(ys), tok:vocabulary_size()
end

local MODELS = {
  mlp = function() -- examples/train_mlp.lua
    local x, y = fashion(8192, {784})
    return x, y, "sparse_categorical_crossentropy", function()
      return nn.Sequential{nn.Dense(512, {input_shape = {784}, activation = "relu"}),
                           nn.Dense(512, {activation = "relu"}), nn.Dense(10, {activation = "softmax"})}
    end
  end,
  cnn = function() -- examples/train_cnn.lua
    local x, y = fashion(512, {28, 28, 1})
    return x, y, "sparse_categorical_crossentropy", dofile(H.source_dir .. "/examples/lib/fashion_cnn.lua")
  end,
  lstm = function() -- examples/char_rnn.lua's model
    local steps = 100
    local x, y, vocab = text_windows(64, steps)
    return x, y, dnn.losses.sparse_categorical_crossentropy{from_logits = true}, function()
      return nn.Sequential{nn.Embedding(vocab, 32, {input_shape = {steps}}), nn.LSTM(256, {return_sequences = true}),
                           nn.Dense(vocab)}
    end
  end,
  gpt = function() -- examples/char_transformer.lua's model, two blocks
    local steps = 128
    local x, y, vocab = text_windows(32, steps)
    return x, y, dnn.losses.sparse_categorical_crossentropy{from_logits = true}, function()
      return nn.Sequential{nn.Input{steps},
        nn.TokenAndPositionEmbedding{vocabulary_size = vocab, sequence_length = steps, embedding_dim = 128},
        nn.TransformerDecoder{intermediate_dim = 512, num_heads = 4, normalize_first = true, activation = "gelu"},
        nn.TransformerDecoder{intermediate_dim = 512, num_heads = 4, normalize_first = true, activation = "gelu"},
        nn.LayerNormalization(), nn.Dense(vocab)}
    end
  end,
}

local x, y, loss, make = MODELS[arg[1]]()
-- BLAS buffers, OpenMP threads and the training code: made before the baseline
local warm = nn.Sequential{nn.Conv2D(4, 3, {input_shape = {8, 8, 1}}), nn.Flatten(), nn.Dense(2)}
warm:compile{optimizer = "adam", loss = "mse"}
warm:fit(dnn.rand(16, 8, 8, 1), dnn.rand(16, 2), {epochs = 1, batch_size = 8, verbose = 0})
warm = nil
collectgarbage()
collectgarbage()

local before = H.rss_kb()
local model = make()
model:compile{optimizer = dnn.optim.Adam(), loss = loss}
local lines = {}
model:summary{batch_size = x.shape[1], print_fn = function(line) lines[#lines + 1] = line end}
assert(H.reset_peak_rss(), "cannot reset the peak RSS (/proc/self/clear_refs)")
model:fit(x, y, {epochs = 1, batch_size = x.shape[1], verbose = 0})
local measured = (H.peak_rss_kb() - before) * 1024
local text = table.concat(lines, "\n")
local total = assert(text:match("\n  Total: ([%d,]+)"), text)
print(string.format("measured=%d estimate=%d", measured, 4 * tonumber((total:gsub(",", "")))))
print(text)
