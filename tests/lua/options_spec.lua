-- Strict, helpful options (dnn.options): every constructor refuses an option
-- it does not take, naming itself, the option and the closest valid name;
-- type errors name the type and show the value; unknown names (optimizer,
-- loss, metric, activation, ...) list the valid ones. Errors point at the
-- caller's line.
local dnn = dnn or require "dnn"
local H = require "helpers"
local nn = dnn.nn
local options = require "dnn.options"
local err = H.assert_error

-- How to make each registered layer class: its required positional
-- arguments (args), or a function of the options (make) for the classes made
-- another way, or why it is never made itself (abstract). A class missing
-- here fails the spec, so a new layer cannot skip the option check.
local constructions = {
  Activation = {args = {"relu"}},
  Add = {args = {}}, Average = {args = {}}, Maximum = {args = {}}, Minimum = {args = {}},
  Multiply = {args = {}}, Subtract = {args = {}},
  AveragePooling2D = {args = {}}, MaxPooling2D = {args = {}},
  BatchNormalization = {args = {}},
  Concatenate = {args = {}},
  Conv2D = {args = {4, 3}}, Conv2DTranspose = {args = {4, 3}}, DepthwiseConv2D = {args = {3}},
  Cropping2D = {args = {1}}, ZeroPadding2D = {args = {1}}, UpSampling2D = {args = {}},
  Dense = {args = {4}},
  SimpleRNN = {args = {4}}, LSTM = {args = {4}}, GRU = {args = {4}}, MultiHeadAttention = {args = {2, 4}},
  Dropout = {args = {0.5}},
  Flatten = {args = {}},
  Masking = {args = {}},
  GaussianNoise = {args = {0.1}},
  GlobalAveragePooling2D = {args = {}}, GlobalMaxPooling2D = {args = {}},
  LayerNormalization = {args = {}},
  Normalization = {args = {}},
  PReLU = {args = {}}, LeakyReLU = {args = {}},
  RandomBrightness = {args = {0.1}}, RandomContrast = {args = {0.1}}, RandomCrop = {args = {2, 2}},
  RandomFlip = {args = {}}, RandomRotation = {args = {0.1}}, RandomTranslation = {args = {0.1, 0.1}},
  RandomZoom = {args = {0.1}},
  Rescaling = {args = {0.5}},
  Reshape = {args = {{4}}},
  Sequential = {args = {{}}},
  InputLayer = {make = function(o) return nn.Input({3}, o) end},
  Model = {make = function(o)
    local x = nn.Input{3}
    local spec = {inputs = x, outputs = nn.Dense(2)(x)}
    for k, v in pairs(o) do spec[k] = v end
    return nn.Model(spec)
  end},
  Functional = {make = function(o)
    local x = nn.Input{3}
    return nn.Model(x, nn.Dense(2)(x), o)
  end},
  Embedding = {args = {10, 4}}, Conv1D = {args = {4, 3}},
  MaxPooling1D = {args = {}}, AveragePooling1D = {args = {}}, UpSampling1D = {args = {}},
  GlobalAveragePooling1D = {args = {}}, GlobalMaxPooling1D = {args = {}},
  TimeDistributed = {make = function(o) return nn.TimeDistributed(nn.Dense(2), o) end},
  Bidirectional = {make = function(o) return nn.Bidirectional(nn.LSTM(2), o) end},
  SinePositionEncoding = {args = {}}, PositionEmbedding = {args = {8}},
  TokenAndPositionEmbedding = {args = {10, 8, 4}},
  TransformerEncoder = {args = {8, 2}}, TransformerDecoder = {args = {8, 2}},
  Merge = {abstract = "the base of Add, Subtract, ...: never called itself"},
}

-- An instance of the class named name, made with options o.
local function construct(name, o)
  local how = constructions[name]
  if how.make then return how.make(o) end
  local args = {table.unpack(how.args)}
  args[#args + 1] = o
  return nn.registry[name](table.unpack(args, 1, #args))
end

local function sorted_registry()
  local names = {}
  for name in pairs(nn.registry) do names[#names + 1] = name end
  table.sort(names)
  return names
end

describe("every layer class", function()
  it("is listed in this spec's table of constructions", function()
    for _, name in ipairs(sorted_registry()) do
      if not constructions[name] then
        error(string.format("options_spec: layer class '%s' has no entry in the table of constructions: add its " ..
          "required positional arguments so that its option checking is tested", name))
      end
    end
  end)

  it("refuses a bogus option, naming itself and the option", function()
    for _, name in ipairs(sorted_registry()) do
      local how = constructions[name]
      if how and not how.abstract then
        local ok, made = pcall(construct, name, {})
        assert(ok, string.format("%s: its required arguments in this spec do not make one: %s", name, tostring(made)))
        local ok2, msg = pcall(construct, name, {bogus_option = 1})
        assert(not ok2, string.format("%s took a bogus option without an error", name))
        msg = tostring(msg)
        assert(msg:find("unknown option 'bogus_option'", 1, true), string.format("%s: %s", name, msg))
        local who = (name == "InputLayer" and "Input") or (name == "Functional" and "Model") or name
        assert(msg:find(who .. ":", 1, true), string.format("%s: the error does not name the class: %s", name, msg))
      end
    end
  end)

  it("takes the options every layer takes (name, trainable, input_shape)", function()
    local d = nn.Dense(2, {name = "d", trainable = false, input_shape = {3}})
    assert.are.equal("d", d.name)
    assert.is_false(d.trainable)
  end)

  it("keeps the positional pair in a trailing table (Conv2D(32, {3, 3}))", function()
    assert.are.same({3, 3}, nn.Conv2D(2, {3, 3}).kernel_size)
  end)
end)

describe("did you mean", function()
  it("picks the closest name, and none when nothing is close", function()
    assert.are.equal("activation", options.did_you_mean("activaton", {"use_bias", "activation"}))
    assert.are.equal("relu", options.did_you_mean("rleu", {"linear", "relu", "elu"})) -- a swap is one edit
    assert.is_nil(options.did_you_mean("foo", {"activation", "use_bias"}))
    assert.is_nil(options.did_you_mean("lr", {"rho", "beta_1"}))
    assert.are.equal(1, options.distance("ab", "ba"))
    assert.are.equal(3, options.distance("kitten", "sitting"))
  end)

  it("in layers", function()
    err({"Dense: unknown option 'activaton' (did you mean 'activation'?)"}, nn.Dense, 4, {activaton = "relu"})
    err({"Dense: unknown option 'activaton' (did you mean 'activation'?)"}, nn.Dense, {4, activaton = "relu"})
    err({"Conv2D: unknown option 'kernal_size' (did you mean 'kernel_size'?)"}, nn.Conv2D, {32, kernal_size = 3})
    err({"Sequential: unknown option 'nmae' (did you mean 'name'?)"}, nn.Sequential, {}, {nmae = "m"})
    err({"Input: unknown option 'batchsize' (did you mean 'batch_size'?)"}, nn.Input, {3}, {batchsize = 8})
  end)

  it("lists the valid options when none is close", function()
    err({"Dense: unknown option 'zzz' (valid options: activation, activity_regularizer, bias_initializer, " ..
      "bias_regularizer, input_shape, kernel_initializer, kernel_regularizer, name, trainable, units, use_bias)"},
      nn.Dense, 4, {zzz = 1})
    err({"History: unknown option 'zzz' (it takes no options)"}, dnn.callbacks.History, {zzz = 1})
  end)

  it("in optimizers and schedules", function()
    err({"Adam: unknown option 'learning_rat' (did you mean 'learning_rate'?)"}, dnn.optim.Adam, {learning_rat = 0.1})
    err({"SGD: unknown option 'momentun' (did you mean 'momentum'?)"}, dnn.optim.SGD, {momentun = 0.9})
    err({"Ftrl: unknown option 'learning_rat' (did you mean 'learning_rate'?)"}, dnn.optim.Ftrl, {learning_rat = 1})
    err({"ExponentialDecay: unknown option 'decay_step' (did you mean 'decay_steps'?)"},
      dnn.optim.schedules.ExponentialDecay, {initial_learning_rate = 1, decay_step = 10, decay_rate = 0.5})
  end)

  it("in callbacks", function()
    err({"EarlyStopping: unknown option 'patiance' (did you mean 'patience'?)"}, dnn.callbacks.EarlyStopping,
      {patiance = 3})
    err({"ReduceLROnPlateau: unknown option 'factr' (did you mean 'factor'?)"}, dnn.callbacks.ReduceLROnPlateau,
      {factr = 0.5})
    err({"ModelCheckpoint: unknown option 'monitr' (did you mean 'monitor'?)"}, dnn.callbacks.ModelCheckpoint,
      "w.safetensors", {monitr = "loss"})
    err({"LearningRateScheduler: unknown option 'verbos' (did you mean 'verbose'?)"},
      dnn.callbacks.LearningRateScheduler, function(_, lr) return lr end, {verbos = 1})
    err({"EarlyStopping: unexpected value string 'val_loss' at [1] of the options"}, dnn.callbacks.EarlyStopping,
      {"val_loss"})
  end)

  it("in compile, fit, evaluate and predict", function()
    local model = nn.Sequential{nn.Dense(1, {input_shape = {2}})}
    err({"compile: unknown option 'optimiser' (did you mean 'optimizer'?)"}, model.compile, model,
      {optimiser = "adam"})
    model:compile{optimizer = "sgd", loss = "mse"}
    local x, y = dnn.zeros(4, 2), dnn.zeros(4, 1)
    err({"fit: unknown option 'batchsize' (did you mean 'batch_size'?)"}, model.fit, model, x, y, {batchsize = 2})
    err({"fit: unknown option 'epoch' (did you mean 'epochs'?)"}, model.fit, model, x, y, {epoch = 2})
    err({"evaluate: unknown option 'verbos' (did you mean 'verbose'?)"}, model.evaluate, model, x, y, {verbos = 0})
    err({"predict: unknown option 'batchsize' (did you mean 'batch_size'?)"}, model.predict, model, x,
      {batchsize = 2})
  end)

  it("in data loaders and augmentation", function()
    local x = dnn.zeros(4, 2)
    err({"DataLoader: unknown option 'batchsize' (did you mean 'batch_size'?)"}, dnn.data.DataLoader,
      {x, batchsize = 2})
    err({"DataLoader: unknown option 'shufle' (did you mean 'shuffle'?)"}, dnn.data.DataLoader, x, {shufle = true})
    err({"read_csv: unknown option 'seperator' (did you mean 'separator'?)"}, dnn.data.read_csv, "x.csv",
      {seperator = ";"})
    err({"CutOut: unknown option 'szie' (did you mean 'size'?)"}, dnn.augment.CutOut, {szie = 4})
    err({"MixUp: unknown option 'num_class' (did you mean 'num_classes'?)"}, dnn.augment.MixUp, {num_class = 3})
    err({"RandomFlip: unknown option 'mdoe' (did you mean 'mode'?)"}, dnn.augment.RandomFlip, {mdoe = "horizontal"})
  end)

  it("in losses, metrics, initializers and regularizers", function()
    err({"huber: unknown option 'delt' (did you mean 'delta'?)"}, dnn.losses.huber, {delt = 1})
    err({"binary_crossentropy: unknown option 'from_logit' (did you mean 'from_logits'?)"},
      dnn.losses.binary_crossentropy, {from_logit = true})
    err({"Precision: unknown option 'threshold' (did you mean 'thresholds'?)"}, dnn.metrics.Precision,
      {threshold = 0.5})
    err({"AUC: unknown option 'num_threshold' (did you mean 'num_thresholds'?)"}, dnn.metrics.AUC,
      {num_threshold = 10})
    err({"RandomNormal: unknown option 'stdev' (did you mean 'stddev'?)"}, dnn.initializers.RandomNormal,
      {stdev = 1})
    err({"L2: unknown option 'l1' (did you mean 'l2'?)"}, dnn.regularizers.l2, {l1 = 0.1})
  end)
end)

describe("positional arguments", function()
  it("Dense takes Keras's (units, activation) and refuses more or a second activation", function()
    assert.are.equal("relu", nn.Dense(4, "relu").activation)
    assert.are.equal("tanh", nn.Dense{4, "tanh"}.activation)
    local named = nn.Dense{units = 5, activation = "relu"} -- Keras's keywords
    assert.are.equal(5, named.units)
    assert.are.equal("relu", named.activation)
    local y = nn.Dense(3, "relu")(dnn.randn(5, 2))
    assert.is_true(y:min():item() >= 0)
    err({"Dense: expected at most 2 positional arguments (units, activation), got 3"}, nn.Dense, 4, "relu", 3)
    err({"Dense: activation given twice"}, nn.Dense, 4, "relu", {activation = "tanh"})
    err({"Dense: unknown activation 'rleu' (did you mean 'relu'?"}, nn.Dense, 4, "rleu")
  end)
end)

describe("type errors", function()
  it("name the type and show the value", function()
    err({"Dense: expected a positive integer number of units, got string '64'"}, nn.Dense, "64")
    err({"Dense: expected a positive integer number of units, got nil"}, nn.Dense)
    err({"Dense: expected a positive integer number of units, got table"}, nn.Dense, {{}})
    err({"Dense: expected a positive integer number of units, got number 2.5"}, nn.Dense, 2.5)
    err({"Conv2D: expected a positive integer number of filters, got string '8'"}, nn.Conv2D, "8", 3)
    err({"Dropout: expected a rate in [0, 1), got string '0.5'"}, nn.Dropout, "0.5")
    err({"MaxPooling2D: expected padding 'valid' or 'same', got boolean true"}, nn.MaxPooling2D, {padding = true})
    err({"Adam: expected beta_1 to be a number, got string '0.9'"}, dnn.optim.Adam, {beta_1 = "0.9"})
    err({"DataLoader: batch_size must be a positive integer, got string '32'"}, dnn.data.DataLoader, dnn.zeros(4, 2),
      {batch_size = "32"})
    err({"Sequential: expected an array of layers, got string 'dense'"}, nn.Sequential, "dense")
    local model = nn.Sequential{nn.Dense(1, {input_shape = {2}})}
    model:compile{optimizer = "sgd", loss = "mse"}
    err({"fit: epochs must be a non-negative integer, got string '3'"}, model.fit, model, dnn.zeros(4, 2),
      dnn.zeros(4, 1), {epochs = "3", verbose = 0})
  end)

  it("describe values by type", function()
    assert.are.equal("string '64'", options.describe("64"))
    assert.are.equal("number 64", options.describe(64))
    assert.are.equal("nil", options.describe(nil))
    assert.are.equal("boolean false", options.describe(false))
    assert.are.equal("table", options.describe({a = 1}))
    assert.are.equal("table {3, 3}", options.describe({3, 3}))
    assert.are.equal("tensor of shape (2, 3)", options.describe(dnn.zeros(2, 3)))
    assert.are.equal("function", options.describe(print))
  end)
end)

describe("unknown names", function()
  local model = nn.Sequential{nn.Dense(1, {input_shape = {2}})}

  it("list the valid ones and suggest the closest", function()
    err({"unknown optimizer 'adamm' (did you mean 'adam'? expected one of: adadelta, adafactor, adagrad, adam,"},
      model.compile, model, {optimizer = "adamm", loss = "mse"})
    err({"unknown loss 'mse2' (did you mean 'mse'? expected one of:", "mean_squared_error", "huber"},
      model.compile, model, {optimizer = "adam", loss = "mse2"})
    err({"unknown metric 'acuracy' (did you mean 'accuracy'? expected one of:", "precision"},
      model.compile, model, {optimizer = "adam", loss = "mse", metrics = {"acuracy"}})
    err({"Dense: unknown activation 'rleu' (did you mean 'relu'? expected one of: linear, relu,"}, nn.Dense, 2,
      {activation = "rleu"})
    err({"Dense: unknown initializer 'glorot_unifrom' (did you mean 'glorot_uniform'? expected one of:", "he_normal"},
      nn.Dense, 2, {kernel_initializer = "glorot_unifrom"})
    err({"unknown regularizer 'l22' (did you mean 'l2'? expected one of: l1, l2, l1_l2"}, nn.Dense, 2,
      {kernel_regularizer = "l22"})
    model:compile{optimizer = "sgd", loss = "mse"}
    err({"fit: callbacks[1]: unknown callback 'early_stopping' (did you mean 'EarlyStopping'? expected one of:",
      "ModelCheckpoint"}, model.fit, model, dnn.zeros(4, 2), dnn.zeros(4, 1),
      {callbacks = {"early_stopping"}, verbose = 0})
  end)

  it("list them without a guess when none is close", function()
    local msg = err({"unknown optimizer 'bogus' (expected one of: adadelta,"}, dnn.optim.get, "bogus")
    assert.is_nil(msg:find("did you mean", 1, true))
  end)
end)

describe("errors", function()
  -- the line here() is called from: errors point at the caller's line, not inside dnn
  local function here() return debug.getinfo(2, "l").currentline end

  local function at_line(line, fn)
    local msg = H.error_of(fn)
    assert(msg:find("options_spec.lua:" .. line .. ":", 1, true), "expected line " .. line .. ", got: " .. msg)
  end

  it("point at the caller's line", function()
    at_line(here(), function() local l = nn.Dense(4, {activaton = "relu"}); return l end)
    at_line(here(), function() local l = nn.Dense("64"); return l end)
    at_line(here(), function() local o = dnn.optim.Ftrl{learning_rat = 1}; return o end)
    at_line(here(), function() local c = dnn.callbacks.EarlyStopping{patiance = 1}; return c end)
    at_line(here(), function() local d = dnn.data.DataLoader{dnn.zeros(2), batchsize = 1}; return d end)
    at_line(here(), function() local r = dnn.regularizers.get("l3"); return r end)
  end)
end)
