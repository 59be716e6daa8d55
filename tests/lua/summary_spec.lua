-- model:summary() and count_params(): Keras 3's table and Keras's counts,
-- worked out by hand from Keras's formulas for each layer.
local dnn = dnn or require "dnn"
local nn = dnn.nn

local function lines_of(model, options)
  local lines = {}
  options = options or {}
  options.print_fn = function(line) lines[#lines + 1] = line end
  model:summary(options)
  return lines
end

local function text_of(model, options)
  return table.concat(lines_of(model, options), "\n")
end

local function has(text, needle)
  assert.truthy(text:find(needle, 1, true), "missing: " .. needle .. "\nin:\n" .. text)
end

describe("summary", function()
  it("prints Keras 3's table for the seeds' 3-4-4-1 MLP: 16 + 20 + 5 = 41 params", function()
    local model = nn.Sequential({
      nn.Dense(4, {input_shape = {3}, activation = "relu", name = "dense"}),
      nn.Dense(4, {activation = "relu", name = "dense_1"}),
      nn.Dense(1, {activation = "sigmoid", name = "dense_2"}),
    }, {name = "sequential"})
    assert.are.same({
      'Model: "sequential"',
      "┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓",
      "┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃",
      "┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩",
      "│ dense (Dense)                   │ (None, 4)              │            16 │",
      "├─────────────────────────────────┼────────────────────────┼───────────────┤",
      "│ dense_1 (Dense)                 │ (None, 4)              │            20 │",
      "├─────────────────────────────────┼────────────────────────┼───────────────┤",
      "│ dense_2 (Dense)                 │ (None, 1)              │             5 │",
      "└─────────────────────────────────┴────────────────────────┴───────────────┘",
      " Total params: 41 (164.00 B)",
      " Trainable params: 41 (164.00 B)",
      " Non-trainable params: 0 (0.00 B)",
    }, lines_of(model))
    assert.are.equal(41, (model:count_params()))
  end)

  it("counts the 6-100-500-200-50-2 net as Keras: 161,552 params (631.06 KB)", function()
    local model = nn.Sequential{
      nn.Dense(100, {input_shape = {6}, activation = "relu"}),
      nn.Dense(500, {activation = "relu"}),
      nn.Dense(200, {activation = "relu"}),
      nn.Dense(50, {activation = "relu"}),
      nn.Dense(2, {activation = "softmax"}),
    }
    -- (6*100 + 100) + (100*500 + 500) + (500*200 + 200) + (200*50 + 50) + (50*2 + 2)
    assert.are.equal(700 + 50500 + 100200 + 10050 + 102, (model:count_params()))
    local text = text_of(model)
    has(text, " Total params: 161,552 (631.06 KB)")
    has(text, " Trainable params: 161,552 (631.06 KB)")
    has(text, "│ (None, 500)            │        50,500 │")
  end)

  it("counts batch norm as Keras: 4 per channel, moving statistics non-trainable", function()
    local model = nn.Sequential{
      nn.Dense(64, {input_shape = {32}}),
      nn.BatchNormalization(),
      nn.Activation("relu"),
      nn.Dropout(0.3),
      nn.Dense(10),
    }
    -- Dense 32*64 + 64 = 2112; BN 4 * 64 = 256 (128 non-trainable); Dense 64*10 + 10 = 650
    assert.are.same({3018, 2890, 128}, {model:count_params()})
    local text = text_of(model)
    has(text, " Total params: 3,018 (11.79 KB)")
    has(text, " Trainable params: 2,890 (11.29 KB)")
    has(text, " Non-trainable params: 128 (512.00 B)")
    has(text, "(BatchNormalization)")
    has(text, "│ (None, 64)             │           256 │")
  end)

  it("counts LayerNormalization (2 per feature), PReLU (1 per feature), Flatten and Reshape (0)", function()
    local model = nn.Sequential{
      nn.Reshape({12}, {input_shape = {3, 4}}),
      nn.Dense(8),
      nn.LayerNormalization(),
      nn.PReLU(),
      nn.Reshape{2, 4},
      nn.Flatten(),
    }
    -- Dense 12*8 + 8 = 104; LayerNormalization 2 * 8; PReLU 8
    assert.are.same({104 + 16 + 8, 128, 0}, {model:count_params()})
    local text = text_of(model)
    has(text, "│ (None, 2, 4)           │             0 │")
    has(text, "│ (None, 8)              │            16 │")
  end)

  it("counts a frozen layer as non-trainable", function()
    local model = nn.Sequential{nn.Dense(4, {input_shape = {3}}), nn.Dense(1)}
    model.layers[1].trainable = false
    local text = text_of(model)
    has(text, " Total params: 21 (84.00 B)")
    has(text, " Trainable params: 5 (20.00 B)")
    has(text, " Non-trainable params: 16 (64.00 B)")
    local with_flag = text_of(model, {show_trainable = true})
    has(with_flag, "Trainable ┃")
    assert.truthy(with_flag:find("│%s+16 │ N%s+│"), with_flag)
    assert.truthy(with_flag:find("│%s+5 │ Y%s+│"), with_flag)
  end)

  it("shows an unbuilt model as Keras does, and its shapes once called", function()
    local model = nn.Sequential{nn.Dense(3, {name = "d_a"}), nn.Dense(2, {name = "d_b"})}
    local text = text_of(model)
    has(text, "│ d_a (Dense)                     │ ?                      │   0 (unbuilt) │")
    has(text, " Total params: 0 (0.00 B)")
    model(dnn.ones(1, 5))
    text = text_of(model)
    has(text, "│ d_a (Dense)                     │ (None, 3)              │            18 │")
    has(text, "│ d_b (Dense)                     │ (None, 2)              │             8 │")
  end)

  it("lists a functional chain with its InputLayer and no Connected to column", function()
    local inputs = nn.Input({3}, {name = "in"})
    local h = nn.Dense(4, {name = "hidden"})(inputs)
    local model = nn.Model{inputs = inputs, outputs = nn.Dense(1, {name = "out"})(h), name = "chain"}
    local lines = lines_of(model)
    assert.are.equal('Model: "chain"', lines[1])
    assert.is_nil(table.concat(lines, "\n"):find("Connected to", 1, true))
    assert.are.equal("│ in (InputLayer)                 │ (None, 3)              │             0 │", lines[5])
    assert.are.equal("│ hidden (Dense)                  │ (None, 4)              │            16 │", lines[7])
  end)

  it("adds Keras's Connected to column for a branching functional model", function()
    local a, b = nn.Input({4}, {name = "a"}), nn.Input({2}, {name = "b"})
    local joined = nn.Concatenate{name = "joined"}{a, b}
    local shared = nn.Dense(3, {name = "shared"})
    local s1, s2 = shared(joined), shared(joined)
    local model = nn.Model{inputs = {a, b}, outputs = nn.Add{name = "sum"}{s1, s2}}
    local lines = lines_of(model)
    local text = table.concat(lines, "\n")
    has(lines[3], "┃ Layer (type)                ┃ Output Shape           ┃    Param # ┃ Connected to             ┃")
    has(text, "│ joined (Concatenate)        │ (None, 6)              │          0 │ a[0][0]                  │")
    has(text, "│                             │                        │            │ b[0][0]                  │")
    has(text, "│ sum (Add)                   │ (None, 3)              │          0 │ shared[0][0]             │")
    has(text, "│ shared[1][0]             │")
    has(text, "│ a (InputLayer)              │ (None, 4)              │          0 │ -                        │")
    has(text, " Total params: 21 (84.00 B)")
  end)

  it("shows a nested model as one row, and a custom model's layers once it has been called", function()
    local inner = nn.Sequential({nn.Dense(4, {input_shape = {3}})}, {name = "block"})
    local outer = nn.Sequential{inner, nn.Dense(1, {name = "head"})}
    local text = text_of(outer)
    has(text, "│ block (Sequential)              │ (None, 4)              │            16 │")

    local Net = nn.Model:extend("SummaryNet")
    function Net:init()
      self.first = nn.Dense(5, {name = "first"})
      self.second = nn.Dense(2, {name = "second"})
    end
    function Net:forward(x) return self.second(self.first(x)) end
    local net = Net()
    has(text_of(net), "│ first (Dense)                   │ ?                      │   0 (unbuilt) │")
    net(dnn.ones(3, 7))
    text = text_of(net)
    has(text, 'Model: "summary_net"')
    has(text, "│ first (Dense)                   │ (None, 5)              │            40 │")
    has(text, "│ second (Dense)                  │ (None, 2)              │            12 │")
  end)

  it("prints to stdout by default and refuses unknown options", function()
    local model = nn.Sequential{nn.Dense(2, {input_shape = {2}})}
    local printed = {}
    local real_print = print
    _G.print = function(line) printed[#printed + 1] = line end
    local ok, err = pcall(model.summary, model)
    _G.print = real_print
    assert(ok, err)
    assert.are.equal(13 - 4, #printed) -- title, 3 header lines, 1 row, bottom, 3 totals
    assert.has_error(function() model:summary{print = print} end, "summary: unknown option 'print'")
    assert.has_error(function() model:summary{print_fn = 3} end, "summary: print_fn must be a function, got number")
  end)

  it("does not disturb training state: the probe leaves batch-norm statistics alone", function()
    local model = nn.Sequential{nn.Dense(2, {input_shape = {2}, bias_initializer = "ones"}), nn.BatchNormalization()}
    lines_of(model)
    assert.are.same({0, 0}, model.layers[2].moving_mean:totable())
  end)

  -- The training-memory estimate, worked out by hand from the rules in
  -- lua/dnn/training_memory.lua (floats; batch 10). The 3-4-4-1 MLP keeps
  -- per example its input 3, the outputs 4 + 4 + 1 and the loss's gradient
  -- 1 = 13; in flight at most 2*4 + 4 = 12 (dense_1: its output's gradient,
  -- dz and its input's gradient).
  local function mlp()
    return nn.Sequential{nn.Dense(4, {input_shape = {3}, activation = "relu"}), nn.Dense(4, {activation = "relu"}),
                         nn.Dense(1, {activation = "sigmoid"})}
  end

  it("estimates training memory with batch_size; without an optimizer says none is compiled", function()
    local lines = lines_of(mlp(), {batch_size = 10})
    assert.are.same({
      " Training memory at batch size 10 (estimate, float32):",
      "  optimizer: none compiled (no optimizer state counted)",
      "  Weights: 41 (164.00 B)",
      "  Gradients: 41 (164.00 B)",
      "  Activations kept for backward: 130 (520.00 B)",
      "  Gradients in flight and workspace: 120 (480.00 B)",
      "  Total: 332 (1.30 KB)",
    }, {table.unpack(lines, #lines - 6)})
  end)

  it("counts the compiled optimizer's slots: Adam 2 per weight, 3 with amsgrad, SGD 1 with momentum", function()
    for _, case in ipairs{{dnn.optim.Adam(), "Adam, 2 per weight", 82},
                          {dnn.optim.Adam{amsgrad = true}, "Adam, 3 per weight", 123},
                          {dnn.optim.SGD{momentum = 0.9}, "SGD, 1 per weight", 41},
                          {dnn.optim.SGD(), "SGD, 0 per weight", 0}} do
      local model = mlp()
      model:compile{optimizer = case[1], loss = "mse"}
      local text = text_of(model, {batch_size = 10})
      has(text, string.format("  Optimizer state (%s): %d (", case[2], case[3]))
      has(text, string.format("  Total: %d (", 332 + case[3]))
      assert.is_nil(text:find("none compiled", 1, true))
      assert.is_nil(next(model.optimizer.state)) -- counted, not made
    end
  end)

  it("estimates a recurrent layer's tape, dropout's mask and a view's nothing", function()
    -- per example: input 6*4 = 24; LSTM output 6*3 = 18 and tape 6*(4 + (4 + 3)*3) = 150; Dropout output 18 and
    -- mask 18; Flatten 0; Dense 1; loss 1 = 230. In flight: the LSTM's gate and input gradients 6*(4 + 4*3) = 96
    -- and 2*18 (its input needs none) = 132.
    local model = nn.Sequential{nn.LSTM(3, {input_shape = {6, 4}, return_sequences = true}), nn.Dropout(0.5),
                                nn.Flatten(), nn.Dense(1)}
    local text = text_of(model, {batch_size = 2})
    has(text, "  Activations kept for backward: 460 (")
    has(text, "  Gradients in flight and workspace: 264 (")
  end)

  it("counts a convolution's im2col workspace, and refuses a bad batch_size", function()
    -- Conv2D 3x3 over 5x5x2, valid: 9 positions x 18 floats of cols per example, 4 examples = 648
    local model = nn.Sequential{nn.Conv2D(2, 3, {input_shape = {5, 5, 2}}), nn.Flatten(), nn.Dense(1)}
    local text = text_of(model, {batch_size = 4})
    -- in flight: the conv's 2*18 (its input needs none) = 36 per example, 144, plus 648
    has(text, "  Gradients in flight and workspace: 792 (")
    assert.has_error(function() model:summary{batch_size = 0} end,
                     "summary: batch_size must be a positive integer, got 0")
    assert.has_error(function() model:summary{batch_size = 2.5} end,
                     "summary: batch_size must be a positive integer, got 2.5")
  end)
end)
