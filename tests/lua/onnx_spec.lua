-- dnn.onnx: exports run in ONNX Runtime with dnnlua's predictions, PyTorch's
-- exports load with PyTorch's, round trips, fine-tuning, and the loader's
-- errors on bad files. ONNX Runtime is npm's onnxruntime-node (installed by
-- scripts/setup_onnxruntime.sh into build/onnxruntime/), run by
-- tests/onnx/run_ort.js under node; the checker is python3-onnx's. Each
-- part is skipped with a message when its tool is absent.
local dnn = dnn or require "dnn"
local H = require "helpers"
local nn = dnn.nn

local TOL = 1e-5 -- max |a - b| / max |b| over an output

local function sh_ok(cmd) return os.execute(cmd .. " >/dev/null 2>&1") == true end

local build_dir = (os.getenv("DNNLUA") or ""):match("^(.*)/[^/]+$") or "../../build"
local function has_ort(dir) return sh_ok("test -f '" .. dir .. "/onnxruntime-node/package.json'") end
-- this build's, else build/'s (build-asan/ shares it): scripts/setup_onnxruntime.sh installs it there
local ort_modules = os.getenv("DNN_ONNXRUNTIME_MODULES") or (build_dir .. "/onnxruntime/node_modules")
if not os.getenv("DNN_ONNXRUNTIME_MODULES") and not has_ort(ort_modules) then
  ort_modules = H.source_dir .. "/build/onnxruntime/node_modules"
end
local have_node = sh_ok("command -v node")
local have_ort = have_node and has_ort(ort_modules)
local have_checker = sh_ok(H.python .. " -c 'import onnx'")

local tmp = os.tmpname()
os.remove(tmp)
assert(os.execute("mkdir -p " .. tmp))
local function path_of(name) return tmp .. "/" .. name end

local function json_of(t)
  local parts = {}
  for i, v in ipairs(t:contiguous():reshape(-1):totable()) do parts[i] = string.format("%.9g", v) end
  return string.format('{"shape":[%s],"data":[%s]}', table.concat(t.shape, ","), table.concat(parts, ","))
end

-- The model's outputs in ONNX Runtime: a list of flat value tables.
local function run_ort(path, inputs)
  local items = {}
  for i, t in ipairs(inputs) do items[i] = json_of(t) end
  local input_path = path .. ".json"
  local f = assert(io.open(input_path, "w"))
  f:write("[", table.concat(items, ","), "]")
  f:close()
  local p = assert(io.popen(string.format("NODE_PATH='%s' node '%s/tests/onnx/run_ort.js' '%s' '%s' 2>&1",
    ort_modules, H.source_dir, path, input_path)))
  local out = p:read("a")
  p:close()
  local outputs = {}
  for data in out:gmatch('"data":%[(.-)%]') do
    local values = {}
    for v in data:gmatch("[^,]+") do values[#values + 1] = v == "null" and 0 / 0 or tonumber(v) end -- NaN: null
    outputs[#outputs + 1] = values
  end
  assert(#outputs > 0, "ONNX Runtime failed: " .. out)
  return outputs
end

local function rel_diff(got, want)
  assert(#got == #want, string.format("%d values, expected %d", #got, #want))
  local d, m = 0, 0
  for i = 1, #want do
    d = math.max(d, math.abs(got[i] - want[i]))
    m = math.max(m, math.abs(want[i]))
  end
  return d / math.max(m, 1e-30)
end

local function flat(t) return t:contiguous():reshape(-1):totable() end

local function check_model(path)
  local p = assert(io.popen(string.format("%s -c 'import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1])); " ..
    "print(\"checked\")' '%s' 2>&1", H.python, path)))
  local out = p:read("a")
  p:close()
  assert(out:match("checked"), "onnx.checker: " .. out)
end

-- ---- the examples' models (same architectures, small widths where the example's are large) ----

local models = {}

function models.mlp() -- examples/train_mlp.lua
  return nn.Sequential{
    nn.Dense(512, {input_shape = {784}, activation = "relu"}),
    nn.Dense(512, {activation = "relu"}),
    nn.Dense(10, {activation = "softmax"}),
  }, {dnn.rand(4, 784)}
end

function models.cnn() -- examples/train_cnn.lua (--augment: identities at inference)
  local fashion_cnn = dofile(H.source_dir .. "/examples/lib/fashion_cnn.lua")
  return fashion_cnn{augment = true}, {dnn.rand(3, 28, 28, 1)}
end

function models.transfer() -- examples/transfer_learning.lua: the base's layers and a new head
  local model = nn.Sequential{
    nn.Conv2D(16, 3, {padding = "same", use_bias = false, input_shape = {28, 28, 1}, name = "conv1"}),
    nn.BatchNormalization{momentum = 0.9, name = "bn1"}, nn.Activation("relu"), nn.MaxPooling2D{pool_size = 2},
    nn.Conv2D(32, 3, {padding = "same", use_bias = false, name = "conv2"}),
    nn.BatchNormalization{momentum = 0.9, name = "bn2"}, nn.Activation("relu"), nn.MaxPooling2D{pool_size = 2},
    nn.Flatten{name = "features"}, nn.Dense(64, {activation = "relu", name = "hidden"}),
    nn.Dropout(0.5), nn.Dense(5, {activation = "softmax", name = "head"}),
  }
  -- moving statistics that are not the initial ones
  dnn.no_grad(function()
    for _, bn in ipairs{model:get_layer("bn1"), model:get_layer("bn2")} do
      bn.moving_mean:copy(dnn.randn(bn.moving_mean.shape) * 0.1)
      bn.moving_variance:copy(dnn.rand(bn.moving_variance.shape) + 0.5)
    end
  end)
  return model, {dnn.rand(3, 28, 28, 1)}
end

local function ids(n, steps, vocab)
  local rows = {}
  for i = 1, n do
    rows[i] = {}
    for t = 1, steps do rows[i][t] = (i * 7 + t * 3) % vocab + 1 end
  end
  return dnn.tensor(rows)
end

-- ids with padding (0): post-padded rows of several lengths (text_classification.lua pads so), a pre-padded
-- row (pad_sequences's default), a row with no padding and one of padding only.
local function padded_ids(steps, vocab)
  local x = ids(6, steps, vocab)
  for i, len in ipairs{steps, 7, 3, 1} do x[i]:narrow(1, len + 1, steps - len):fill(0) end
  x[5]:narrow(1, 1, steps - 4):fill(0)
  x[6]:fill(0)
  return x
end

function models.lstm_text() -- examples/text_classification.lua's Bidirectional LSTM over masked (mask_zero) ids
  return nn.Sequential{
    nn.Input{20},
    nn.Embedding(50, 16, {mask_zero = true}),
    nn.Bidirectional(nn.LSTM(8)),
    nn.Dropout(0.3),
    nn.Dense(4, {activation = "softmax"}),
  }, {padded_ids(20, 50)}
end

function models.masked() -- masks through sequences, the reverse direction, Masking and masked average pooling
  local x = dnn.randn(4, 9, 3)
  x[1]:narrow(1, 6, 4):fill(0)
  x[2]:narrow(1, 1, 2):fill(0)
  x[4]:fill(0)
  return nn.Sequential{
    nn.Input{9, 3}, nn.Masking(), nn.Dense(5, {activation = "tanh"}),
    nn.Bidirectional(nn.GRU(4, {return_sequences = true}), {merge_mode = "sum"}),
    nn.SimpleRNN(4, {return_sequences = true, go_backwards = true}), nn.LayerNormalization(),
    nn.LSTM(3, {return_sequences = true}), nn.GlobalAveragePooling1D(), nn.Dense(2, {activation = "softmax"}),
  }, {x}
end

function models.conv_text() -- text_classification.lua's Conv1D model
  return nn.Sequential{nn.Input{20}, nn.Embedding(51, 16), nn.Conv1D(8, 5, {activation = "relu"}),
                       nn.GlobalMaxPooling1D(), nn.Dropout(0.3), nn.Dense(4, {activation = "softmax"})}, {ids(3, 20, 51)}
end

function models.char_transformer() -- examples/char_transformer.lua
  local blocks = {nn.Input{16}, nn.TokenAndPositionEmbedding{vocabulary_size = 30, sequence_length = 16, embedding_dim = 16}}
  for i = 1, 2 do
    blocks[#blocks + 1] = nn.TransformerDecoder{intermediate_dim = 64, num_heads = 2, normalize_first = true,
                                                activation = "gelu", name = "decoder_" .. i}
  end
  blocks[#blocks + 1] = nn.LayerNormalization{name = "final_norm"}
  blocks[#blocks + 1] = nn.Dense(30, {name = "logits"})
  return nn.Sequential(blocks), {ids(2, 16, 30)}
end

function models.vit() -- examples/vit.lua (functional)
  local inputs = nn.Input{28, 28, 1}
  local grid = nn.Conv2D(16, 7, {strides = 7, name = "patch_embedding"})(inputs)
  local tokens = nn.Reshape{16, 16}(grid)
  local x = nn.Add(){tokens, nn.PositionEmbedding{sequence_length = 16}(tokens)}
  for _ = 1, 2 do
    x = nn.TransformerEncoder{intermediate_dim = 32, num_heads = 2, dropout = 0.1, activation = "gelu",
                              normalize_first = true}(x)
  end
  x = nn.LayerNormalization{epsilon = 1e-6}(x)
  x = nn.GlobalAveragePooling1D()(x)
  local outputs = nn.Dense(10, {activation = "softmax"})(x)
  return nn.Model{inputs = inputs, outputs = outputs, name = "vit"}, {dnn.rand(2, 28, 28, 1)}
end

-- Beyond the examples: the other layers with an ONNX form.
function models.spatial()
  return nn.Sequential{
    nn.Input{7, 7, 2}, nn.Rescaling(0.5, {offset = 0.1}), nn.ZeroPadding2D({{1, 2}, {0, 1}}), nn.Cropping2D({{1, 0}, {2, 1}}),
    nn.UpSampling2D(2), nn.AveragePooling2D(3, {padding = "same", strides = 2}),
    nn.DepthwiseConv2D(3, {depth_multiplier = 2, padding = "same", strides = 2}),
    nn.Conv2DTranspose(3, 2, {strides = 3, activation = "elu"}), nn.Conv2DTranspose(2, {3, 1}, {strides = 2, padding = "same"}),
    nn.UpSampling2D{size = 2, interpolation = "bilinear"}, nn.Conv2D(2, 3, {dilation_rate = 2, activation = "selu"}),
    nn.GlobalMaxPooling2D(),
  }, {dnn.randn(2, 7, 7, 2)}
end

function models.recurrent()
  return nn.Sequential{
    nn.Input{6, 3}, nn.Normalization{mean = {0.5, 0, -0.5}, variance = {1, 4, 0.25}},
    nn.GRU(5, {return_sequences = true}), nn.GRU(4, {return_sequences = true, reset_after = false, go_backwards = true}),
    nn.Bidirectional(nn.SimpleRNN(3, {return_sequences = true}), {merge_mode = "ave"}),
    nn.Conv1D(4, 3, {padding = "causal", dilation_rate = 2}), nn.MaxPooling1D(2), nn.UpSampling1D(2),
    nn.LSTM(4, {go_backwards = true}), nn.Dense(3, {activation = "hard_sigmoid"}),
  }, {dnn.randn(3, 6, 3)}
end

function models.merges() -- functional: two inputs, a nested model, every merge, attention with a causal mask
  local a, b = nn.Input{5, 4}, nn.Input{5, 4}
  local inner = nn.Sequential{nn.Dense(4, {input_shape = {5, 4}, activation = "swish"}), nn.PReLU(), nn.LeakyReLU(0.1)}
  local h = nn.Dense(4, {activation = "softplus"})(a)
  local k = inner(b)
  local mha = nn.MultiHeadAttention{num_heads = 2, key_dim = 3}
  local att = mha(h, k, {use_causal_mask = true})
  local merged = nn.Concatenate()({nn.Add()({h, k, att}), nn.Multiply()({h, k}), nn.Subtract()({h, k}),
                                   nn.Maximum()({h, k}), nn.Minimum()({h, k}), nn.Average()({h, k})})
  local y = nn.TimeDistributed(nn.Dense(2, {activation = "leaky_relu"}))(merged)
  local z = nn.LayerNormalization{center = false}(nn.Flatten()(y))
  return nn.Model{inputs = {a, b}, outputs = nn.Activation("gelu")(z)}, {dnn.randn(2, 5, 4), dnn.randn(2, 5, 4)}
end

local order = {"mlp", "cnn", "transfer", "lstm_text", "conv_text", "char_transformer", "vit", "spatial", "recurrent",
               "merges", "masked"}

local function predict(model, inputs)
  return dnn.no_grad(function()
    model:train(false)
    local y = model(#inputs == 1 and inputs[1] or inputs)
    model:train(true)
    return y
  end)
end

describe("dnn.onnx.export in ONNX Runtime", function()
  if not have_ort then
    pending(have_node and ("onnxruntime-node is not installed in " .. ort_modules ..
      " (scripts/setup_onnxruntime.sh): ONNX Runtime checks skipped") or "node is not installed: ONNX Runtime checks skipped")
    return
  end
  for _, name in ipairs(order) do
    for _, opset in ipairs{13, 17} do
      it(string.format("%s at opset %d: ONNX Runtime predicts as dnnlua (max relative difference <= 1e-5)", name, opset),
        function()
          dnn.manual_seed(11)
          local model, inputs = models[name]()
          local path = path_of(string.format("%s_%d.onnx", name, opset))
          dnn.onnx.export(model, path, {opset = opset})
          local got = run_ort(path, inputs)
          local d = rel_diff(got[1], flat(predict(model, inputs)))
          assert(d <= TOL, string.format("%s: max relative difference %.3g", name, d))
        end)
    end
  end
end)

describe("dnn.onnx.export of masks", function()
  it("gives NaN, never a different number, for a row whose mask has gaps (sequence lengths cannot say it)", function()
    dnn.manual_seed(15)
    local model = nn.Sequential{nn.Input{6}, nn.Embedding(9, 4, {mask_zero = true}), nn.LSTM(3)}
    local x = dnn.tensor{{3, 0, 5, 0, 0, 0}, {0, 3, 4, 5, 0, 0}}
    local path = path_of("gaps.onnx")
    dnn.onnx.export(model, path)
    local want = flat(predict(model, x))
    local rows = {flat(predict(dnn.onnx.load(path), {x}))}
    if have_ort then rows[2] = run_ort(path, {x})[1] end
    for _, got in ipairs(rows) do
      for i = 1, 3 do assert.is_true(got[i] ~= got[i], "row 1 (a gap) is NaN") end
      for i = 4, 6 do assert.is_true(math.abs(got[i] - want[i]) <= 1e-6 * math.max(1, math.abs(want[i]))) end
    end
  end)
end)

describe("dnn.onnx.export and onnx.checker", function()
  if not have_checker then
    pending("python3-onnx is not installed: onnx.checker skipped")
    return
  end
  it("passes onnx.checker.check_model for every example model", function()
    for _, name in ipairs(order) do
      dnn.manual_seed(12)
      local model = models[name]()
      local path = path_of(name .. "_checked.onnx")
      dnn.onnx.export(model, path)
      check_model(path)
    end
  end)
end)

describe("dnn.onnx.export", function()
  it("names weights after their layers and keeps the NHWC input", function()
    local model = models.transfer()
    local path = path_of("names.onnx")
    dnn.onnx.export(model, path, {opset = 13})
    local proto = dnn.onnx.read(path)
    local names = {}
    for _, t in ipairs(proto.initializers) do names[t.name] = t end
    assert.is_truthy(names["conv1/kernel"])
    assert.are.same({16, 1, 3, 3}, names["conv1/kernel"].dims) -- ONNX's (out, in, kh, kw)
    assert.is_truthy(names["hidden/bias"])
    assert.are.same({-1, 28, 28, 1}, proto.inputs[1].dims)
    assert.are.equal("batch", proto.inputs[1].dim_params[1])
    assert.are.equal(13, proto.opset)
  end)

  it("refuses a layer without an ONNX form, naming it", function()
    local Doubler = nn.Layer:extend("Doubler") -- a user's own layer: its forward is Lua code
    getmetatable(Doubler).__call = function(cls) return nn.Layer.init(cls, {}, "doubler") end
    function Doubler:forward(x) return x * 2 end
    local model = nn.Sequential{nn.Input{4, 3}, Doubler(), nn.LSTM(2)}
    H.assert_error({"onnx.export", "Doubler 'doubler", "has no ONNX export"}, function()
      dnn.onnx.export(model, path_of("custom.onnx"))
    end)
  end)

  it("refuses a mask reaching a layer that would be exported ignoring it, naming the layer", function()
    local ids_in = nn.Input{6}
    local e = nn.Embedding(9, 4, {mask_zero = true})(ids_in)
    local model = nn.Model{inputs = ids_in, outputs = nn.Add(){e, nn.Dense(4)(e)}}
    H.assert_error({"onnx.export", "Add 'add", "gets a mask", "not exported for this layer"}, function()
      dnn.onnx.export(model, path_of("masked_add.onnx"))
    end)
    local att = nn.Sequential{nn.Input{6}, nn.Embedding(9, 4, {mask_zero = true}),
                              nn.TransformerEncoder{intermediate_dim = 8, num_heads = 2}}
    H.assert_error({"TransformerEncoder", "gets a mask"}, function() dnn.onnx.export(att, path_of("masked_att.onnx")) end)
  end)

  it("refuses a Lua activation with a clear error", function()
    H.assert_error({"Dense", "Lua function"}, function()
      dnn.onnx.export(nn.Sequential{nn.Input{3}, nn.Dense(2, {activation = function(x) return x end})}, path_of("f.onnx"))
    end)
  end)

  it("checks its arguments", function()
    local model = models.mlp()
    H.assert_error({"onnx.export: expected a model, got number"}, function() dnn.onnx.export(1, "x.onnx") end)
    H.assert_error({"onnx.export: expected a path (string), got nil"}, function() dnn.onnx.export(model) end)
    H.assert_error({"onnx.export: expected opset an integer from 13 to 17, got 12"}, function()
      dnn.onnx.export(model, path_of("o.onnx"), {opset = 12})
    end)
    H.assert_error({"unknown option"}, function() dnn.onnx.export(model, path_of("o.onnx"), {opsett = 13}) end)
    H.assert_error({"onnx.export", "/no/such/dir/m.onnx"}, function() dnn.onnx.export(model, "/no/such/dir/m.onnx") end)
  end)
end)

describe("dnn.onnx.load of our exports (round trip)", function()
  for _, name in ipairs(order) do
    it(name .. " predicts as the model it was exported from", function()
      dnn.manual_seed(13)
      local model, inputs = models[name]()
      local path = path_of(name .. "_rt.onnx")
      dnn.onnx.export(model, path)
      local loaded = dnn.onnx.load(path)
      local d = rel_diff(flat(predict(loaded, inputs)), flat(predict(model, inputs)))
      assert(d <= TOL, string.format("%s: max relative difference %.3g", name, d))
    end)
  end

  it("refuses model:save with a clear error (save_weights works)", function()
    local path = path_of("saved.onnx")
    dnn.onnx.export(models.mlp(), path)
    local loaded = dnn.onnx.load(path)
    H.assert_error({"is an imported ONNX graph, which a dnnlua model file cannot hold"}, function()
      loaded:save(path_of("saved.dnn"))
    end)
    loaded:save_weights(path_of("saved.safetensors"))
    local again = dnn.onnx.load(path)
    again:load_weights(path_of("saved.safetensors"))
    local x = dnn.rand(2, 784)
    assert.are.same(flat(loaded:predict(x)), flat(again:predict(x)))
  end)

  it("can be fine-tuned: fit lowers the loss and changes the weights", function()
    dnn.manual_seed(14)
    local model = models.transfer()
    local path = path_of("tune.onnx")
    dnn.onnx.export(model, path)
    local loaded = dnn.onnx.load(path)
    local x, y = dnn.rand(32, 28, 28, 1), dnn.tensor{1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2,
                                                      3, 4, 5, 1, 2, 3, 4, 5, 1, 2}
    assert.is_true(#loaded:parameters() > 0)
    local before = flat(loaded:parameters()[1]:detach():clone())
    loaded:compile{optimizer = dnn.optim.Adam{learning_rate = 1e-2}, loss = "sparse_categorical_crossentropy"}
    local history = loaded:fit(x, y, {epochs = 5, batch_size = 32, verbose = 0})
    local losses = history.history.loss
    assert.is_true(losses[#losses] < losses[1], string.format("loss %g -> %g", losses[1], losses[#losses]))
    assert.is_true(rel_diff(flat(loaded:parameters()[1]), before) > 0)
  end)
end)

describe("dnn.onnx.load of PyTorch's torch.onnx.export", function()
  if not H.have_torch() then
    pending("PyTorch (python3-torch) is not installed: torch.onnx.export models skipped")
    return
  end
  local ref = H.run_torch_reference("onnx_models.py", tmp)
  local shapes = {mlp = {3, 10}, cnn = {2, 1, 12, 12}, lstm = {2, 5, 4}}
  for _, name in ipairs{"mlp", "cnn", "lstm"} do
    it(name .. " predicts as PyTorch (max relative difference <= 1e-5)", function()
      local model = dnn.onnx.load(path_of(name .. ".onnx"))
      local x = dnn.tensor(ref[name .. "_input"]):reshape(table.unpack(shapes[name]))
      local d = rel_diff(flat(model:predict(x)), ref[name .. "_output"])
      assert(d <= TOL, string.format("%s: max relative difference %.3g", name, d))
    end)
  end
end)

-- ---- bad files ----

-- Protobuf's wire format, for files the writer would never make.
local function varint(n)
  local out = {}
  repeat
    local b = n & 0x7f
    n = n >> 7
    out[#out + 1] = string.char(n ~= 0 and (b | 0x80) or b)
  until n == 0
  return table.concat(out)
end
local function field_varint(k, v) return varint(k << 3) .. varint(v) end
local function field_bytes(k, s) return varint((k << 3) | 2) .. varint(#s) .. s end

-- A ModelProto (opset 13) whose graph has one initializer of the given TensorProto bytes.
local function model_with_tensor(tensor)
  local graph = field_bytes(5, tensor) .. field_bytes(2, "g")
  return field_varint(1, 8) .. field_bytes(8, field_varint(2, 13)) .. field_bytes(7, graph)
end

local function write_file(name, bytes)
  local path = path_of(name)
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
  return path
end

describe("dnn.onnx.load of bad files", function()
  local good_path = path_of("good.onnx")
  dnn.onnx.export(nn.Sequential{nn.Dense(3, {input_shape = {4}})}, good_path)
  local good = assert(io.open(good_path, "rb")):read("a")

  it("says which file is missing", function()
    H.assert_error({"onnx.read: ", "/no/such/file.onnx", "No such file"}, function() dnn.onnx.read("/no/such/file.onnx") end)
    H.assert_error({"onnx.load", "/no/such/file.onnx", "No such file"}, function() dnn.onnx.load("/no/such/file.onnx") end)
    H.assert_error({"onnx.load: expected a path (string), got number"}, function() dnn.onnx.load(3) end)
  end)

  it("refuses empty, garbage and truncated files", function()
    H.assert_error({"empty, not an ONNX model"}, function() dnn.onnx.load(write_file("empty.onnx", "")) end)
    H.assert_error({"not an ONNX model"}, function() dnn.onnx.load(write_file("garbage.onnx", "\255\255\255\255garbage")) end)
    for _, n in ipairs{1, 7, #good // 2, #good - 1} do
      local ok, err = pcall(dnn.onnx.load, write_file("cut.onnx", good:sub(1, n)))
      assert.is_false(ok)
      assert.is_truthy(tostring(err):match("onnx.load"))
    end
  end)

  it("refuses tensors in external files", function()
    local entry = field_bytes(1, "location") .. field_bytes(2, "../../etc/passwd")
    local tensor = field_varint(1, 2) .. field_varint(2, 1) .. field_bytes(8, "w") .. field_bytes(13, entry) ..
                   field_varint(14, 1)
    H.assert_error({"tensor 'w' keeps its data in an external file, which is refused"}, function()
      dnn.onnx.load(write_file("external.onnx", model_with_tensor(tensor)))
    end)
  end)

  it("checks a tensor's size against its data before allocating", function()
    -- dims 1e6 x 1e6 floats with 8 bytes of data
    local tensor = field_varint(1, 1000000) .. field_varint(1, 1000000) .. field_varint(2, 1) .. field_bytes(8, "big") ..
                   field_bytes(9, "12345678")
    H.assert_error({"tensor 'big' has 1000000000000 elements of 4 bytes, but 8 bytes of data"}, function()
      dnn.onnx.load(write_file("big.onnx", model_with_tensor(tensor)))
    end)
    local negative = field_varint(1, -1 & 0xffffffffffffffff) .. field_varint(2, 1) .. field_bytes(8, "neg")
    H.assert_error({"tensor 'neg' has a negative dim"}, function()
      dnn.onnx.load(write_file("neg.onnx", model_with_tensor(negative)))
    end)
    local odd_type = field_varint(1, 2) .. field_varint(2, 8) .. field_bytes(8, "s")
    H.assert_error({"tensor 's' has data type 8, which dnnlua does not read"}, function()
      dnn.onnx.load(write_file("strings.onnx", model_with_tensor(odd_type)))
    end)
  end)

  it("names an unsupported operator, its node and the opset", function()
    local proto = {opset = 16, nodes = {{name = "nms_1", op_type = "NonMaxSuppression", inputs = {"x"}, outputs = {"y"}}},
                   inputs = {{name = "x", elem_type = 1, dims = {-1, 4}}}, outputs = {{name = "y", elem_type = 1}}}
    local path = path_of("nms.onnx")
    dnn._onnx.write(path, proto)
    H.assert_error({"onnx.load", "node 'nms_1'", "unsupported operator NonMaxSuppression (opset 16)"}, function()
      dnn.onnx.load(path)
    end)
  end)

  it("reads what it writes: attributes, integer tensors and symbolic dims", function()
    local proto = {opset = 17, nodes = {{name = "n", op_type = "Relu", inputs = {"x"}, outputs = {"y"},
                                         attrs = {{name = "f", type = "float", value = 0.5},
                                                  {name = "is", type = "ints", value = {1, -2}},
                                                  {name = "s", type = "string", value = "a\0b"}}}},
                   initializers = {{name = "shape", dims = {2}, ints = {3, -1}},
                                   {name = "w", dims = {2, 2}, values = dnn.tensor{{1, 2}, {3, 4}}}},
                   inputs = {{name = "x", elem_type = 1, dims = {-1, 3}, dim_params = {"batch"}}},
                   outputs = {{name = "y", elem_type = 1, dims = {-1, 3}}}}
    local back = dnn._onnx.parse(dnn._onnx.serialize(proto))
    assert.are.equal(17, back.opset)
    assert.are.same({{name = "f", type = "float", value = 0.5}, {name = "is", type = "ints", value = {1, -2}},
                     {name = "s", type = "string", value = "a\0b"}}, back.nodes[1].attrs)
    assert.are.same({3, -1}, back.initializers[1].ints)
    assert.are.same({{1, 2}, {3, 4}}, back.initializers[2].values:totable())
    assert.are.same({-1, 3}, back.inputs[1].dims)
    assert.are.equal("batch", back.inputs[1].dim_params[1])
  end)
end)
