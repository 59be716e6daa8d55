-- PyTorch interchange (docs/pytorch.md): dnnlua weights loaded into the
-- equal torch model predict as dnnlua does, and a torch state_dict exported
-- in dnnlua's names loads into the dnnlua model and predicts as torch does
-- (Dense and, where it exists, Conv2D with NHWC <-> OIHW kernels). Runs
-- Debian's python3-torch; skipped with a message where it is absent.
local dnn = dnn or require "dnn"
local nn = dnn.nn
local H = require "helpers"

local function max_abs_diff(a, b)
  assert.are.same(a.shape, b.shape)
  return (a - b):abs():max():item()
end

local function round_trip(kind, make, x)
  local dir = os.tmpname()
  os.remove(dir)
  assert.is_true(os.execute("mkdir -p '" .. dir .. "'"))
  local model = make()
  model:save_weights(dir .. "/dnnlua.safetensors")
  dnn.save_safetensors(dir .. "/x.safetensors", {{"x", x}})
  local ok = os.execute(string.format("%s %s/tests/torch/interchange.py %s '%s'", H.python, H.source_dir, kind, dir))
  assert.is_true(ok)
  -- dnnlua -> torch: the same predictions
  local torch_y = dnn.load_safetensors(dir .. "/torch_pred.safetensors").y
  assert.is_true(max_abs_diff(model:predict(x), torch_y) < 1e-5)
  -- torch -> dnnlua: a fresh torch model's weights, loaded into a new dnnlua model
  local other = make()
  local before = other:predict(x)
  other:load_weights(dir .. "/from_torch.safetensors")
  local torch_y2 = dnn.load_safetensors(dir .. "/torch_pred2.safetensors").y
  assert.is_true(max_abs_diff(other:predict(x), torch_y2) < 1e-5)
  assert.is_true(max_abs_diff(before, torch_y2) > 1e-3) -- the load changed something: the check can fail
  os.execute("rm -rf '" .. dir .. "'")
end

describe("PyTorch interchange", function()
  if not H.have_torch() then
    pending("PyTorch (python3-torch) is not installed: interchange skipped")
    return
  end

  it("Dense nets: dnnlua -> torch -> dnnlua", function()
    dnn.manual_seed(21)
    local function make()
      return nn.Sequential{nn.Dense(8, {input_shape = {4}, activation = "relu", name = "fc1"}),
                           nn.Dense(3, {activation = "softmax", name = "fc2"})}
    end
    round_trip("mlp", make, dnn.randn(5, 4))
  end)

  it("Conv2D nets (NHWC kernels <-> OIHW): dnnlua -> torch -> dnnlua", function()
    if not nn.Conv2D then
      pending("nn.Conv2D does not exist in this build")
      return
    end
    dnn.manual_seed(22)
    local function make()
      return nn.Sequential{nn.Conv2D(4, 3, {input_shape = {6, 6, 2}, activation = "relu", name = "conv"}),
                           nn.Flatten(), nn.Dense(3, {name = "fc"})}
    end
    round_trip("cnn", make, dnn.randn(3, 6, 6, 2))
  end)
end)
