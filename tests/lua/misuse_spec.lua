-- The misuse battery: wrong calls a careless user or a hostile file makes
-- (types, shapes, sizes 0/negative/huge, NaN/inf, dims out of range, freed
-- tensors, double backward, optimizers without parameters, fit with
-- mismatched x/y, hostile file contents). Each must be a caught Lua error
-- naming the function and what it expected, the process alive and the
-- library still usable after it; none may pass silently.
local H = require "helpers"
local nn, optim, S = dnn.nn, dnn.optim, dnn.optim.schedules

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p '" .. dir .. "'"))
local function tmp(name) return dir .. "/" .. name end

local nan, inf = 0 / 0, math.huge

-- A tensor whose handle was freed (its __gc ran, as at exit).
local function freed()
  local t = dnn.zeros(3)
  debug.getmetatable(t).__gc(t)
  return t
end

local function leaf(...)
  local t = dnn.randn(...)
  t.requires_grad = true
  return t
end

local function small_model()
  local m = nn.Sequential{nn.Dense(4, {input_shape = {3}, activation = "relu"}), nn.Dense(2)}
  m:compile{optimizer = "sgd", loss = "mse"}
  return m
end

local function write(name, bytes)
  local f = assert(io.open(tmp(name), "wb"))
  f:write(bytes)
  f:close()
  return tmp(name)
end

-- A model file whose architecture JSON is edited by edit(text) -> text.
local function edited_model_file(name, edit)
  local path = tmp(name)
  small_model():save(path)
  local tensors, meta = dnn.load_safetensors(path)
  meta.dnnlua_model = edit(meta.dnnlua_model)
  dnn.save_safetensors(path, tensors, meta)
  return path
end

-- A valid weights file, cut to n bytes (or with bytes replaced).
local function truncated_file(name, keep)
  local path = tmp(name)
  small_model():save_weights(path)
  local f = assert(io.open(path, "rb"))
  local bytes = f:read("a")
  f:close()
  return write(name, bytes:sub(1, keep(#bytes)))
end

local function le64(n)
  local b = {}
  for i = 1, 8 do b[i] = string.char(n % 256); n = n // 256 end
  return table.concat(b)
end

-- {label, function, needles}: every needle must be in the error message.
local cases = {
  -- ---- tensor creation: types, sizes, NaN ----
  {"zeros of a negative size", function() return dnn.zeros(-1) end, {"zeros", "-1"}},
  {"zeros of a string size", function() return dnn.zeros("a") end, {"zeros"}},
  {"zeros of a huge size", function() return dnn.zeros(1 << 40, 1 << 40) end, {"zeros"}},
  {"ones of a fractional size", function() return dnn.ones(2.5) end, {"ones", "integer"}},
  {"rand of a negative size", function() return dnn.rand(3, -2) end, {"rand", "-2"}},
  {"randn with too many dims", function() return dnn.randn(1, 1, 1, 1, 1, 1, 1, 1, 1, 1) end, {"randn"}},
  {"tensor of a string", function() return dnn.tensor("abc") end, {"tensor"}},
  {"tensor of ragged rows", function() return dnn.tensor{{1, 2}, {3}} end, {"tensor"}},
  {"tensor of a nested string", function() return dnn.tensor{1, "x"} end, {"tensor"}},
  {"tensor of a boolean", function() return dnn.tensor(true) end, {"tensor"}},
  {"tensor with a bad option", function() return dnn.tensor({1}, {requires_grad = "yes"}) end, {"requires_grad"}},
  {"full without a value", function() return dnn.full({2, 2}) end, {"full"}},
  {"full of a string", function() return dnn.full({2}, "x") end, {"full"}},
  {"arange with step 0", function() return dnn.arange(0, 10, 0) end, {"arange"}},
  {"arange with nan", function() return dnn.arange(0, nan) end, {"arange", "finite bounds"}},
  {"arange to inf", function() return dnn.arange(0, inf) end, {"arange", "finite bounds"}},
  {"linspace to inf", function() return dnn.linspace(0, inf, 5) end, {"linspace", "finite ends"}},
  {"linspace of -1 points", function() return dnn.linspace(0, 1, -1) end, {"linspace"}},
  {"eye of -3", function() return dnn.eye(-3) end, {"eye"}},
  {"randperm of -1", function() return dnn.randperm(-1) end, {"randperm"}},
  {"manual_seed of a string", function() return dnn.manual_seed("x") end, {"manual_seed"}},
  {"set_num_threads of 0", function() return dnn.set_num_threads(0) end, {"set_num_threads"}},
  {"set_num_threads of a string", function() return dnn.set_num_threads("x") end, {"set_num_threads"}},

  -- ---- shapes and views ----
  {"reshape to a wrong size", function() return dnn.zeros(6):reshape(4, 2) end, {"reshape"}},
  {"reshape with two -1", function() return dnn.zeros(6):reshape(-1, -1) end, {"reshape"}},
  {"reshape to a negative size", function() return dnn.zeros(6):reshape(-2, 3) end, {"reshape"}},
  {"view of a transposed tensor", function() return dnn.zeros(2, 3):transpose(1, 2):view(6) end, {"view"}},
  {"transpose dim out of range", function() return dnn.zeros(2, 3):transpose(1, 3) end, {"transpose", "dim 3"}},
  {"transpose dim 0", function() return dnn.zeros(2, 3):transpose(0, 1) end, {"transpose", "dim 0"}},
  {"permute with a repeated dim", function() return dnn.zeros(2, 3):permute(1, 1) end, {"permute"}},
  {"permute with too few dims", function() return dnn.zeros(2, 3, 4):permute(1, 2) end, {"permute"}},
  {"narrow past the end", function() return dnn.zeros(5):narrow(1, 4, 3) end, {"narrow"}},
  {"narrow with a negative length", function() return dnn.zeros(5):narrow(1, 1, -1) end, {"narrow"}},
  {"select out of range", function() return dnn.zeros(3, 2):select(1, 4) end, {"select"}},
  {"select on a bad dim", function() return dnn.zeros(3, 2):select(5, 1) end, {"select", "dim 5"}},
  {"expand to a smaller size", function() return dnn.zeros(3, 2):expand(3, 1) end, {"expand"}},
  {"expand a non-1 dim", function() return dnn.zeros(3):expand(4) end, {"expand"}},
  {"squeeze a bad dim", function() return dnn.zeros(3, 1):squeeze(3) end, {"squeeze", "dim 3"}},
  {"unsqueeze a bad dim", function() return dnn.zeros(3):unsqueeze(4) end, {"unsqueeze", "dim 4"}},
  {"index a tensor out of range", function() return dnn.zeros(3)[4] end, {"index 4 out of range"}},
  {"index with a string field", function() return dnn.zeros(3)[1.5] end, {"integer index"}},
  {"index a 0-d tensor", function() return dnn.tensor(1)[1] end, {"0-d"}},
  {"write a string into a tensor", function() local t = dnn.zeros(3); t[1] = "x" end, {"number or a tensor"}},
  {"set a user field", function() local t = dnn.zeros(3); t.foo = 1 end, {"cannot set field 'foo'"}},
  {"set requires_grad to a number", function() local t = dnn.zeros(3); t.requires_grad = 1 end,
   {"requires_grad expects a boolean"}},
  {"set a grad of the wrong shape", function() local t = dnn.zeros(3); t.grad = dnn.zeros(2) end,
   {"grad expects shape"}},
  {"length of a 0-d tensor", function() return #dnn.tensor(1) end, {"0-d tensor has no length"}},
  {"compare tensors with <", function() return dnn.zeros(2) < dnn.ones(2) end, {"cannot compare"}},
  {"item of a 3-element tensor", function() return dnn.zeros(3):item() end, {"item"}},
  {"split into 0 parts", function() return dnn.zeros(4):split(0) end, {"split"}},
  {"cat of nothing", function() return dnn.cat({}) end, {"cat"}},
  {"cat of mismatched shapes", function() return dnn.cat({dnn.zeros(2, 3), dnn.zeros(2, 4)}, 1) end, {"cat"}},
  {"cat on a bad dim", function() return dnn.cat({dnn.zeros(2), dnn.zeros(2)}, 3) end, {"cat"}},
  {"stack of mismatched shapes", function() return dnn.stack({dnn.zeros(2), dnn.zeros(3)}) end, {"stack"}},
  {"stack of a number", function() return dnn.stack({dnn.zeros(2), 3}) end, {"stack"}},
  {"copy from another shape", function() return dnn.zeros(3):copy(dnn.zeros(4)) end, {"copy"}},
  {"fill with a string", function() return dnn.zeros(3):fill("x") end, {"fill"}},
  {"clamp with min > max", function() return dnn.zeros(3):clamp(1, 0) end, {"clamp"}},
  {"clamp with nan", function() return dnn.zeros(3):clamp(nan, 1) end, {"clamp"}},

  -- ---- arithmetic and reductions ----
  {"add of unbroadcastable shapes", function() return dnn.zeros(2, 3) + dnn.zeros(4) end, {"add"}},
  {"mul of unbroadcastable shapes", function() return dnn.mul(dnn.zeros(3), dnn.zeros(2)) end, {"mul"}},
  {"add of a string", function() return dnn.zeros(3) + "x" end, {"add"}},
  {"sub of a table", function() return dnn.sub(dnn.zeros(3), {}) end, {"sub"}},
  {"div of nil", function() return dnn.div(dnn.zeros(3), nil) end, {"div"}},
  {"pow of a boolean", function() return dnn.zeros(3) ^ true end, {"pow"}},
  {"matmul of mismatched inner dims", function() return dnn.matmul(dnn.zeros(2, 3), dnn.zeros(4, 2)) end,
   {"matmul"}},
  {"matmul of a 0-d tensor", function() return dnn.matmul(dnn.tensor(1), dnn.zeros(2)) end, {"matmul"}},
  {"sum over a bad dim", function() return dnn.zeros(2, 3):sum(3) end, {"sum", "dim 3"}},
  {"mean over dim -3", function() return dnn.zeros(2, 3):mean(-3) end, {"mean", "dim -3"}},
  {"max over a string dim", function() return dnn.zeros(2, 3):max("x") end, {"max"}},
  {"argmax over a bad dim", function() return dnn.zeros(2, 3):argmax(7) end, {"argmax", "dim 7"}},
  {"softmax over a bad dim", function() return dnn.zeros(2, 3):softmax(3) end, {"softmax", "dim 3"}},
  {"var over a bad dim", function() return dnn.zeros(2, 3):var(9) end, {"var", "dim 9"}},
  {"exp of a string", function() return dnn.exp("x") end, {"exp", "tensor"}},
  {"relu of nil", function() return dnn.relu(nil) end, {"relu", "tensor"}},
  {"leaky_relu with a string slope", function() return dnn.leaky_relu(dnn.zeros(2), "x") end, {"leaky_relu"}},
  {"leaky_relu with a nan slope", function() return dnn.leaky_relu(dnn.zeros(2), nan) end, {"leaky_relu", "finite"}},
  {"elu with an inf alpha", function() return dnn.elu(dnn.zeros(2), inf) end, {"elu", "finite"}},
  {"add_ on a leaf that requires grad", function() local w = leaf(3); w:add_(1) end, {"add_"}},
  {"add_ of an unbroadcastable shape", function() return dnn.zeros(3):add_(dnn.zeros(4)) end,
   {"add", "broadcastable"}},
  {"index_select with a float index", function() return dnn.zeros(3):index_select(1, dnn.tensor{0.5}) end,
   {"index_select"}},
  {"index_select out of range", function() return dnn.zeros(3):index_select(1, dnn.tensor{7}) end,
   {"index_select"}},
  {"gather out of range", function() return dnn.zeros(2, 3):gather(2, dnn.tensor{{9}, {1}}) end, {"gather"}},
  {"one_hot of a negative class", function() return dnn.one_hot(dnn.tensor{-1}, 3) end, {"one_hot"}},
  {"one_hot with 0 classes", function() return dnn.one_hot(dnn.tensor{1}, 0) end, {"one_hot"}},

  -- ---- freed tensors ----
  {"a method of a freed tensor", function() return freed():sum() end, {"tensor was freed"}},
  {"numel of a freed tensor", function() return freed():numel() end, {"tensor was freed"}},
  {"the shape of a freed tensor", function() return freed().shape end, {"tensor was freed"}},
  {"the length of a freed tensor", function() return #freed() end, {"tensor was freed"}},
  {"tostring of a freed tensor", function() return tostring(freed()) end, {"tensor was freed"}},
  {"indexing a freed tensor", function() return freed()[1] end, {"tensor was freed"}},
  {"writing into a freed tensor", function() freed()[1] = 1 end, {"tensor was freed"}},
  {"a freed tensor as an argument", function() return dnn.add(dnn.zeros(3), freed()) end,
   {"bad argument #2", "tensor was freed"}},
  {"a freed tensor in arithmetic", function() return freed() * 2 end, {"tensor was freed"}},
  {"a freed tensor in cat", function() return dnn.cat({dnn.zeros(3), freed()}) end,
   {"bad argument to 'cat'", "was freed"}},
  {"a freed tensor as a layer input", function() return nn.Dense(2)(freed():reshape(1, 3)) end,
   {"tensor was freed"}},
  {"negating a freed tensor", function() return -freed() end, {"tensor was freed"}},
  {"comparing with a freed tensor", function() return freed() == dnn.zeros(3) end, {"tensor was freed"}},
  {"saving a freed tensor", function() return dnn.save_safetensors(tmp("f.safetensors"), {a = freed()}) end,
   {"bad argument to 'save_safetensors'", "was freed"}},
  {"__gc through getmetatable", function() local t = dnn.zeros(3); return getmetatable(t).__gc(t) end,
   {"index a boolean"}},

  -- ---- autograd ----
  {"backward twice without retain_graph", function()
    local w = leaf(3)
    local y = (w * w):sum()
    y:backward()
    y:backward()
  end, {"backward"}},
  {"backward of a non-scalar without a gradient", function() local w = leaf(3); (w * 2):backward() end,
   {"backward"}},
  {"backward of a tensor that needs no grad", function() dnn.zeros(3):sum():backward() end, {"backward"}},
  {"backward with a gradient of the wrong shape", function() local w = leaf(3); (w * 2):backward(dnn.ones(4)) end,
   {"backward"}},
  {"dnn.grad of an input not in the graph", function()
    local w, v = leaf(3), leaf(3)
    return dnn.grad((w * 2):sum(), {v})
  end, {"grad"}},
  {"dnn.grad of a string", function() return dnn.grad("x", {leaf(2)}) end, {"grad"}},
  {"requires_grad on a non-leaf", function() local w = leaf(3); (w * 2).requires_grad = false end,
   {"requires_grad"}},
  {"modified saved tensor before backward", function()
    local w = leaf(3)
    local a = w * 1
    local y = (a * a):sum()
    a:mul_(2)
    y:backward()
  end, {"version"}},
  {"no_grad of a non-function", function() return dnn.no_grad(3) end, {"no_grad"}},

  -- ---- optimizer hyperparameters (Keras's ranges) ----
  {"SGD learning_rate nan", function() return optim.SGD{learning_rate = nan} end,
   {"SGD: learning_rate must be a finite number >= 0 (got nan)"}},
  {"SGD learning_rate inf", function() return optim.SGD{learning_rate = inf} end,
   {"SGD: learning_rate must be a finite number >= 0 (got inf)"}},
  {"SGD learning_rate -1", function() return optim.SGD{learning_rate = -1} end, {"SGD: learning_rate", "(got -1)"}},
  {"SGD learning_rate as a string", function() return optim.SGD{learning_rate = "fast"} end,
   {"SGD: expected learning_rate"}},
  {"SGD momentum 1.5", function() return optim.SGD{momentum = 1.5} end, {"SGD: momentum", "[0, 1]"}},
  {"SGD momentum -0.1", function() return optim.SGD{momentum = -0.1} end, {"SGD: momentum"}},
  {"SGD nesterov as a number", function() return optim.SGD{nesterov = 1} end, {"SGD: expected nesterov"}},
  {"Adam beta_1 = 2", function() return optim.Adam{beta_1 = 2} end, {"Adam: beta_1", "[0, 1)", "(got 2)"}},
  {"Adam beta_1 = 1", function() return optim.Adam{beta_1 = 1} end, {"Adam: beta_1"}},
  {"Adam beta_2 nan", function() return optim.Adam{beta_2 = nan} end, {"Adam: beta_2", "(got nan)"}},
  {"Adam epsilon -1", function() return optim.Adam{epsilon = -1} end, {"Adam: epsilon", ">= 0"}},
  {"Adam amsgrad as a number", function() return optim.Adam{amsgrad = 1} end, {"Adam: expected amsgrad"}},
  {"AdamW weight_decay -1", function() return optim.AdamW{weight_decay = -1} end, {"AdamW: weight_decay"}},
  {"AdamW weight_decay inf", function() return optim.AdamW{weight_decay = inf} end, {"AdamW: weight_decay"}},
  {"RMSprop rho 1", function() return optim.RMSprop{rho = 1} end, {"RMSprop: rho"}},
  {"RMSprop momentum 2", function() return optim.RMSprop{momentum = 2} end, {"RMSprop: momentum"}},
  {"Adadelta rho -0.5", function() return optim.Adadelta{rho = -0.5} end, {"Adadelta: rho"}},
  {"Adagrad initial_accumulator_value -1", function() return optim.Adagrad{initial_accumulator_value = -1} end,
   {"Adagrad: initial_accumulator_value"}},
  {"Adamax epsilon nan", function() return optim.Adamax{epsilon = nan} end, {"Adamax: epsilon"}},
  {"Nadam beta_1 -1", function() return optim.Nadam{beta_1 = -1} end, {"Nadam: beta_1"}},
  {"Ftrl learning_rate_power 0.5", function() return optim.Ftrl{learning_rate_power = 0.5} end,
   {"Ftrl: learning_rate_power"}},
  {"Ftrl l1 strength -1", function() return optim.Ftrl{l1_regularization_strength = -1} end,
   {"Ftrl: l1_regularization_strength"}},
  {"Adafactor clip_threshold 0", function() return optim.Adafactor{clip_threshold = 0} end,
   {"Adafactor: clip_threshold"}},
  {"clipnorm 0", function() return optim.SGD{clipnorm = 0} end, {"SGD: clipnorm", "> 0"}},
  {"clipvalue nan", function() return optim.SGD{clipvalue = nan} end, {"SGD: clipvalue"}},
  {"global_clipnorm -1", function() return optim.SGD{global_clipnorm = -1} end, {"SGD: global_clipnorm"}},
  {"two clipping options", function() return optim.SGD{clipnorm = 1, clipvalue = 1} end, {"only one of"}},
  {"an unknown optimizer option", function() return optim.Adam{lr = 0.1} end, {"Adam: unknown option 'lr'"}},
  {"an unknown optimizer name", function() return optim.get("adamm") end, {"unknown optimizer 'adamm'"}},
  {"an optimizer with params = {}", function() return optim.SGD{params = {}} end, {"SGD: params is empty"}},
  {"an optimizer with params of numbers", function() return optim.SGD{params = {1, 2}} end,
   {"SGD: expected params[1] to be a tensor"}},
  {"an optimizer with a tensor as params", function() return optim.SGD{params = dnn.zeros(2)} end,
   {"SGD: expected params to be an array of tensors"}},
  {"a step of an optimizer without params", function() optim.Adam{}:step() end,
   {"Adam:step: no parameters to update"}},
  {"a schedule that returns nan", function()
    local o = optim.SGD{learning_rate = function() return nan end, params = {leaf(2)}}
    o:step()
  end, {"SGD: the learning rate of step 0 must be a finite number >= 0 (got nan)"}},
  {"a schedule that returns a string", function()
    local o = optim.SGD{learning_rate = function() return "x" end, params = {leaf(2)}}
    o:step()
  end, {"returned string"}},
  {"set_state with a bad iterations", function() return optim.SGD{params = {leaf(2)}}:set_state{iterations = "x"} end,
   {"set_state", "iterations"}},

  -- ---- schedules ----
  {"ExponentialDecay decay_steps 0", function()
    return S.ExponentialDecay{initial_learning_rate = 0.1, decay_steps = 0, decay_rate = 0.9}
  end, {"ExponentialDecay: decay_steps must be a finite number > 0 (got 0)"}},
  {"ExponentialDecay decay_rate nan", function()
    return S.ExponentialDecay{initial_learning_rate = 0.1, decay_steps = 10, decay_rate = nan}
  end, {"ExponentialDecay: decay_rate"}},
  {"ExponentialDecay initial rate -1", function()
    return S.ExponentialDecay{initial_learning_rate = -1, decay_steps = 10, decay_rate = 0.9}
  end, {"ExponentialDecay: initial_learning_rate"}},
  {"ExponentialDecay staircase as a string", function()
    return S.ExponentialDecay{initial_learning_rate = 1, decay_steps = 10, decay_rate = 0.9, staircase = "yes"}
  end, {"ExponentialDecay: staircase must be true or false"}},
  {"InverseTimeDecay decay_steps inf", function()
    return S.InverseTimeDecay{initial_learning_rate = 1, decay_steps = inf, decay_rate = 0.5}
  end, {"InverseTimeDecay: decay_steps"}},
  {"PolynomialDecay power nan", function()
    return S.PolynomialDecay{initial_learning_rate = 1, decay_steps = 10, power = nan}
  end, {"PolynomialDecay: power"}},
  {"CosineDecay alpha 2", function() return S.CosineDecay{initial_learning_rate = 1, decay_steps = 10, alpha = 2} end,
   {"CosineDecay: alpha"}},
  {"CosineDecay warmup_steps -5", function()
    return S.CosineDecay{initial_learning_rate = 1, decay_steps = 10, warmup_target = 1, warmup_steps = -5}
  end, {"CosineDecay: warmup_steps"}},
  {"PiecewiseConstantDecay boundaries decreasing", function()
    return S.PiecewiseConstantDecay{boundaries = {10, 5}, values = {1, 0.5, 0.1}}
  end, {"PiecewiseConstantDecay: boundaries[2]"}},
  {"PiecewiseConstantDecay values nan", function()
    return S.PiecewiseConstantDecay{boundaries = {10}, values = {1, nan}}
  end, {"PiecewiseConstantDecay: values[2]"}},
  {"PiecewiseConstantDecay too few values", function()
    return S.PiecewiseConstantDecay{boundaries = {10, 20}, values = {1, 2}}
  end, {"one more value than boundaries"}},
  {"a schedule called with a string", function()
    return S.ExponentialDecay{initial_learning_rate = 1, decay_steps = 10, decay_rate = 0.9}("x")
  end, {"expected a step number"}},

  -- ---- layer options ----
  {"Dense of 0 units", function() return nn.Dense(0) end, {"Dense", "units"}},
  {"Dense of -3 units", function() return nn.Dense(-3) end, {"Dense", "units"}},
  {"Dense of 2.5 units", function() return nn.Dense(2.5) end, {"Dense", "units"}},
  {"Dense of nan units", function() return nn.Dense(nan) end, {"Dense", "units"}},
  {"Dense of '64' units", function() return nn.Dense("64") end, {"Dense", "string '64'"}},
  {"Dense with an unknown activation", function() return nn.Dense(3, "rleu") end, {"did you mean 'relu'"}},
  {"Dense with a misspelt option", function() return nn.Dense(3, {activaton = "relu"}) end,
   {"Dense: unknown option 'activaton'"}},
  {"Dense trainable = 'AAAA'", function() return nn.Dense(3, {trainable = "AAAA"}) end,
   {"Dense: trainable must be true or false (got string 'AAAA')"}},
  {"Dense trainable = 0", function() return nn.Dense(3, {trainable = 0}) end,
   {"Dense: trainable must be true or false (got 0)"}},
  {"setting trainable to a string", function() local d = nn.Dense(3); d.trainable = "no" end,
   {"trainable must be true or false"}},
  {"a layer named with a number", function() return nn.Dense(3, {name = 5}) end, {"Dense: name must be"}},
  {"a layer name with a NUL byte", function() return nn.Dense(3, {name = "a\0b"}) end, {"Dense: name", "NUL"}},
  {"Dense with an unknown initializer", function() return nn.Dense(3, {kernel_initializer = "glorot"}) end,
   {"initializer"}},
  {"Dropout rate 1.5", function() return nn.Dropout(1.5) end, {"Dropout", "rate"}},
  {"Dropout rate -0.1", function() return nn.Dropout(-0.1) end, {"Dropout", "rate"}},
  {"Dropout rate nan", function() return nn.Dropout(nan) end, {"Dropout", "rate"}},
  {"Conv2D of 0 filters", function() return nn.Conv2D(0, 3) end, {"Conv2D", "filters"}},
  {"Conv2D kernel_size 0", function() return nn.Conv2D(4, 0) end, {"Conv2D", "kernel_size"}},
  {"Conv2D strides -1", function() return nn.Conv2D(4, 3, {strides = -1}) end, {"Conv2D", "strides"}},
  {"Conv2D padding 'full'", function() return nn.Conv2D(4, 3, {padding = "full"}) end, {"Conv2D", "padding"}},
  {"Conv1D kernel_size of a string", function() return nn.Conv1D(4, "3") end, {"Conv1D", "kernel_size"}},
  {"MaxPooling2D pool_size 0", function() return nn.MaxPooling2D(0) end, {"MaxPooling2D", "pool_size"}},
  {"AveragePooling1D pool_size -2", function() return nn.AveragePooling1D(-2) end,
   {"AveragePooling1D", "pool_size"}},
  {"Embedding of 0 inputs", function() return nn.Embedding(0, 4) end, {"Embedding"}},
  {"Embedding of -1 outputs", function() return nn.Embedding(10, -1) end, {"Embedding"}},
  {"LSTM of 0 units", function() return nn.LSTM(0) end, {"LSTM", "units"}},
  {"GRU dropout 2", function() return nn.GRU(4, {dropout = 2}) end, {"GRU", "dropout"}},
  {"SimpleRNN of nan units", function() return nn.SimpleRNN(nan) end, {"SimpleRNN", "units"}},
  {"BatchNormalization momentum 2", function() return nn.BatchNormalization{momentum = 2} end,
   {"BatchNormalization", "momentum"}},
  {"BatchNormalization epsilon -1", function() return nn.BatchNormalization{epsilon = -1} end,
   {"BatchNormalization", "epsilon"}},
  {"LayerNormalization epsilon nan", function() return nn.LayerNormalization{epsilon = nan} end,
   {"LayerNormalization", "epsilon"}},
  {"MultiHeadAttention of 0 heads", function() return nn.MultiHeadAttention{num_heads = 0, key_dim = 4} end,
   {"MultiHeadAttention", "num_heads"}},
  {"Reshape to a negative size", function() return nn.Reshape{-2, 3} end, {"Reshape"}},
  {"GaussianNoise stddev -1", function() return nn.GaussianNoise(-1) end, {"GaussianNoise", "stddev"}},
  {"GaussianNoise stddev nan", function() return nn.GaussianNoise(nan) end,
   {"GaussianNoise: stddev must be a finite number >= 0 (got nan)"}},
  {"BatchNormalization epsilon inf", function() return nn.BatchNormalization{epsilon = inf} end,
   {"BatchNormalization", "epsilon"}},
  {"Rescaling by nan", function() return nn.Rescaling(nan) end, {"Rescaling", "finite"}},
  {"Rescaling offset inf", function() return nn.Rescaling(1, {offset = inf}) end, {"Rescaling", "finite"}},
  {"RandomRotation factor nan", function() return nn.RandomRotation(nan) end, {"RandomRotation", "finite"}},
  {"RandomZoom factor inf", function() return nn.RandomZoom(inf) end, {"RandomZoom", "finite"}},
  {"RandomTranslation of a nan pair", function() return nn.RandomTranslation({nan, 0}, 0.1) end,
   {"RandomTranslation", "height_factor"}},
  {"RandomContrast factor -1", function() return nn.RandomContrast(-1) end, {"RandomContrast", "factor"}},
  {"RandomNormal stddev nan", function() return dnn.initializers.RandomNormal{stddev = nan} end,
   {"RandomNormal: stddev"}},
  {"RandomNormal stddev -1", function() return dnn.initializers.RandomNormal{stddev = -1} end,
   {"RandomNormal: stddev"}},
  {"RandomUniform minval > maxval", function() return dnn.initializers.RandomUniform{minval = 1, maxval = 0} end,
   {"RandomUniform: expected minval <= maxval"}},
  {"Constant of nan", function() return dnn.initializers.Constant(nan) end, {"Constant: value"}},
  {"EarlyStopping patience -1", function() return dnn.callbacks.EarlyStopping{patience = -1} end,
   {"EarlyStopping: patience"}},
  {"ReduceLROnPlateau factor nan", function() return dnn.callbacks.ReduceLROnPlateau{factor = nan} end,
   {"ReduceLROnPlateau: factor"}},
  {"ReduceLROnPlateau cooldown 1.5", function() return dnn.callbacks.ReduceLROnPlateau{cooldown = 1.5} end,
   {"ReduceLROnPlateau: cooldown"}},
  {"Activation of an unknown name", function() return nn.Activation("sigmoidd") end, {"did you mean 'sigmoid'"}},
  {"Sequential of a non-layer", function() return nn.Sequential{42} end, {"Sequential"}},
  {"a layer given a string input", function() return nn.Dense(2)("x") end, {"expected a tensor input"}},
  {"a layer given the wrong feature size", function()
    local d = nn.Dense(2)
    d(dnn.zeros(1, 3))
    return d(dnn.zeros(1, 4))
  end, {"dense"}},
  {"a layer called with training = 'yes'", function() return nn.Dense(2)(dnn.zeros(1, 3), {training = "yes"}) end,
   {"training = true or false"}},
  {"a regularizer of -1", function() return dnn.regularizers.l2(-1) end, {"L2: l2 must be a finite number >= 0"}},
  {"a regularizer of inf", function() return dnn.regularizers.l1(inf) end, {"L1: l1"}},

  -- ---- compile, fit, evaluate, predict ----
  {"compile with an unknown loss", function() return nn.Sequential{nn.Dense(2)}:compile{loss = "mse2"} end,
   {"loss"}},
  {"compile with an unknown option", function() return nn.Sequential{nn.Dense(2)}:compile{optimiser = "sgd"} end,
   {"compile", "optimiser"}},
  {"compile with an unknown metric", function()
    return nn.Sequential{nn.Dense(2)}:compile{loss = "mse", metrics = {"acc2"}}
  end, {"metric"}},
  {"fit before compile", function() return nn.Sequential{nn.Dense(2)}:fit(dnn.zeros(4, 3), dnn.zeros(4, 2)) end,
   {"compile"}},
  {"fit with x and y of different lengths", function()
    return small_model():fit(dnn.zeros(8, 3), dnn.zeros(5, 2), {epochs = 1, verbose = 0})
  end, {"fit", "8", "5"}},
  {"fit with y of the wrong width", function()
    return small_model():fit(dnn.zeros(8, 3), dnn.zeros(8, 3), {epochs = 1, verbose = 0})
  end, {"fit", "labels have shape"}},
  {"fit with x of the wrong width", function()
    return small_model():fit(dnn.zeros(8, 4), dnn.zeros(8, 2), {epochs = 1, verbose = 0})
  end, {"dense"}},
  {"fit with epochs -1", function() return small_model():fit(dnn.zeros(8, 3), dnn.zeros(8, 2), {epochs = -1}) end,
   {"fit", "epochs"}},
  {"fit with batch_size 0", function()
    return small_model():fit(dnn.zeros(8, 3), dnn.zeros(8, 2), {batch_size = 0, verbose = 0})
  end, {"fit", "batch_size"}},
  {"fit with batch_size nan", function()
    return small_model():fit(dnn.zeros(8, 3), dnn.zeros(8, 2), {batch_size = nan, verbose = 0})
  end, {"fit", "batch_size"}},
  {"fit with validation_split 1.5", function()
    return small_model():fit(dnn.zeros(8, 3), dnn.zeros(8, 2), {validation_split = 1.5, verbose = 0})
  end, {"fit", "validation_split"}},
  {"fit with a string x", function() return small_model():fit("x", dnn.zeros(8, 2), {verbose = 0}) end, {"fit"}},
  {"fit with a misspelt option", function()
    return small_model():fit(dnn.zeros(8, 3), dnn.zeros(8, 2), {epoch = 1})
  end, {"fit", "epoch"}},
  {"fit with 0 examples", function()
    return small_model():fit(dnn.zeros(0, 3), dnn.zeros(0, 2), {epochs = 1, verbose = 0})
  end, {"fit"}},
  {"evaluate with x and y of different lengths", function()
    return small_model():evaluate(dnn.zeros(8, 3), dnn.zeros(7, 2), {verbose = 0})
  end, {"evaluate"}},
  {"predict with a batch_size of -1", function() return small_model():predict(dnn.zeros(4, 3), {batch_size = -1}) end,
   {"predict", "batch_size"}},
  {"predict of a string", function() return small_model():predict("x") end, {"predict"}},
  {"a loss of mismatched shapes", function() return dnn.losses.mse(dnn.zeros(3, 2), dnn.zeros(3, 4)) end,
   {"mean_squared_error", "shape"}},
  {"a loss of a string", function() return dnn.losses.mse("x", dnn.zeros(3)) end,
   {"mean_squared_error: expected tensors"}},
  {"categorical_crossentropy of mismatched shapes", function()
    return dnn.losses.categorical_crossentropy(dnn.zeros(2, 3), dnn.zeros(2, 4))
  end, {"categorical_crossentropy"}},
  {"sparse_categorical_crossentropy of a class out of range", function()
    return dnn.losses.sparse_categorical_crossentropy(dnn.tensor{5}, dnn.zeros(1, 3))
  end, {"sparse_categorical_crossentropy"}},
  {"a data loader with batch_size 0", function() return dnn.data.DataLoader(dnn.zeros(4, 2), {batch_size = 0}) end,
   {"batch_size"}},

  -- ---- files: paths and hostile contents ----
  {"load_safetensors of a missing file", function() return dnn.load_safetensors(tmp("none.safetensors")) end,
   {"load_safetensors", "none.safetensors"}},
  {"load_safetensors of a number", function() return dnn.load_safetensors(42 == 42 and {} or nil) end,
   {"load_safetensors"}},
  {"an empty file", function() return dnn.load_safetensors(write("empty.st", "")) end, {"load_safetensors"}},
  {"a file cut inside the length", function() return dnn.load_safetensors(write("cut4.st", "\16\0\0\0")) end,
   {"load_safetensors"}},
  {"a header length past the end", function() return dnn.load_safetensors(write("long.st", le64(1 << 40) .. "{}")) end,
   {"load_safetensors"}},
  {"a header that is not JSON", function() return dnn.load_safetensors(write("notjson.st", le64(8) .. "garbage!")) end,
   {"load_safetensors"}},
  {"a tensor past the data", function()
    local h = '{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}'
    return dnn.load_safetensors(write("short.st", le64(#h) .. h .. "\0\0\0\0"))
  end, {"load_safetensors"}},
  {"a shape whose size overflows", function()
    local h = '{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}'
    return dnn.load_safetensors(write("overflow.st", le64(#h) .. h .. "\0\0\0\0"))
  end, {"load_safetensors"}},
  {"an unknown dtype", function()
    local h = '{"a":{"dtype":"Q7","shape":[1],"data_offsets":[0,4]}}'
    return dnn.load_safetensors(write("dtype.st", le64(#h) .. h .. "\0\0\0\0"))
  end, {"load_safetensors"}},
  {"a weights file cut in half", function()
    return small_model():load_weights(truncated_file("half.st", function(n) return n // 2 end))
  end, {"load_weights"}},
  {"a weights file cut by one byte", function()
    return small_model():load_weights(truncated_file("minus1.st", function(n) return n - 1 end))
  end, {"load_weights"}},
  {"weights of another architecture", function()
    local path = tmp("other.st")
    nn.Sequential{nn.Dense(5, {input_shape = {3}})}:save_weights(path)
    return small_model():load_weights(path)
  end, {"load_weights"}},
  {"load_model of a weights file", function()
    local path = tmp("weights_only.st")
    small_model():save_weights(path)
    return dnn.load_model(path)
  end, {"load_model", "no model architecture"}},
  {"a model file whose learning rate is 1e999", function()
    return dnn.load_model(edited_model_file("inf_lr.st", function(t)
      return (t:gsub('"learning_rate":0.01', '"learning_rate":1e999'))
    end))
  end, {"overflows"}},
  {"a model file whose learning rate is negative", function()
    return dnn.load_model(edited_model_file("neg_lr.st", function(t)
      return (t:gsub('"learning_rate":0.01', '"learning_rate":-5'))
    end))
  end, {"learning_rate must be a finite number >= 0 (got -5)"}},
  {"a model file whose momentum is 7", function()
    return dnn.load_model(edited_model_file("momentum.st", function(t)
      return (t:gsub('"momentum":0', '"momentum":7'))
    end))
  end, {"momentum"}},
  {"a model file whose units are -4", function()
    return dnn.load_model(edited_model_file("units.st", function(t) return (t:gsub('"args":%[4%]', '"args":[-4]')) end))
  end, {"units"}},
  {"a model file whose trainable is 'AAAA'", function()
    return dnn.load_model(edited_model_file("trainable.st", function(t)
      return (t:gsub('"trainable":true', '"trainable":"AAAA"', 1))
    end))
  end, {"trainable"}},
  {"a model file whose model-level trainable is 0", function()
    return dnn.load_model(edited_model_file("model_trainable.st", function(t)
      return (t:gsub('("name":"sequential[_%d]*"),"trainable":true', '%1,"trainable":0'))
    end))
  end, {"model.trainable: expected a boolean"}},
  {"a model file whose activation is unknown", function()
    return dnn.load_model(edited_model_file("act.st", function(t) return (t:gsub('"relu"', '"relux"')) end))
  end, {"relux"}},
  {"a model file of an unknown format", function()
    return dnn.load_model(edited_model_file("format.st", function(t) return (t:gsub('"format":1', '"format":99')) end))
  end, {"unknown format"}},
  {"a model file of an unknown class", function()
    return dnn.load_model(edited_model_file("class.st", function(t) return (t:gsub('"Dense"', '"Dense9"', 1)) end))
  end, {"Dense9"}},
  {"a model file whose JSON is cut", function()
    return dnn.load_model(edited_model_file("cutjson.st", function(t) return t:sub(1, #t // 2) end))
  end, {"not valid JSON"}},
  {"a model file with a huge nesting", function()
    return dnn.load_model(edited_model_file("deep.st", function() return string.rep("[", 100000) end))
  end, {"load_model"}},
  {"JSON with a number that overflows", function() assert(require("dnn.json").decode('{"a": 1e999}')) end,
   {"overflows a double"}},
  {"JSON with a huge integer", function() assert(require("dnn.json").decode("[" .. string.rep("9", 400) .. "]")) end,
   {"overflows a double"}},
  {"saving a tensor name with a NUL byte", function()
    return dnn.save_safetensors(tmp("nul.st"), {["a\0b"] = dnn.zeros(2)})
  end, {"save_safetensors", "NUL byte"}},
  {"saving metadata with a NUL byte", function()
    return dnn.save_safetensors(tmp("nulmeta.st"), {a = dnn.zeros(2)}, {["k\0"] = "v"})
  end, {"save_safetensors", "NUL byte"}},
  {"saving into a missing folder", function() return dnn.save_safetensors(tmp("no/such/x.st"), {a = dnn.zeros(2)}) end,
   {"save_safetensors", "cannot create"}},
  {"saving a non-tensor", function() return dnn.save_safetensors(tmp("bad.st"), {a = 3}) end,
   {"save_safetensors", "expected a tensor for 'a'"}},
  {"save of a model to a number path", function() return small_model():save(42) end, {"save"}},
  {"read_idx of a text file", function() return dnn.read_idx(write("idx.txt", "hello")) end, {"read_idx"}},
}

describe("the misuse battery", function()
  it("holds at least 150 distinct wrong calls", function()
    local seen = {}
    for _, c in ipairs(cases) do
      assert(not seen[c[1]], "case listed twice: " .. c[1])
      seen[c[1]] = true
    end
    assert.is_true(#cases >= 150, "only " .. #cases .. " cases")
  end)

  for _, c in ipairs(cases) do
    it(c[1] .. ": a caught error that says what was expected", function()
      H.assert_error(c[3], c[2])
      -- the library still works after it
      H.assert_close(dnn.tensor{1, 2}:sum(), 3)
    end)
  end

  it("leaves hyperparameters from the API or a file unable to make weights NaN", function()
    -- the issue's case: SGD{learning_rate = 0/0} turned every weight into NaN after an epoch
    local m = small_model()
    assert.has_error(function() m:compile{optimizer = optim.SGD{learning_rate = nan}, loss = "mse"} end)
    m:fit(dnn.randn(8, 3), dnn.randn(8, 2), {epochs = 1, verbose = 0})
    for _, w in ipairs(m:get_weights()) do assert.is_true(w:eq(w):min():item() == 1, "a weight is NaN") end
  end)

  teardown(function() os.execute("rm -rf '" .. dir .. "'") end)
end)
