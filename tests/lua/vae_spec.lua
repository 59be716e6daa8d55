-- examples/vae.lua in a short run: the test negative ELBO falls and the three
-- PNGs are written; where python3-torch is installed, its PyTorch twin
-- (tests/torch/vae_twin.py: the same layers, initial weights, loss, Adam and
-- batches) computes the same forward pass and reaches a test ELBO within 2%.
local H = require "helpers"
local DNNLUA = assert(os.getenv("DNNLUA"), "DNNLUA (the dnnlua binary) must be set; ctest sets it")
local FASHION = "/usr/share/datasets/fashion-mnist"
local SCHEDULE = {limit = 1000, test = 300, epochs = 1, batch = 64, lr = 0.001, latent = 2}

local function have_data()
  local f = io.open(FASHION .. "/train-images-idx3-ubyte.gz", "rb")
  if f then f:close() end
  return f ~= nil
end

describe("examples/vae.lua", function()
  local dir, out

  setup(function()
    if not have_data() then return end
    dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. dir))
    local p = assert(io.popen(string.format(
      "'%s' '%s/examples/vae.lua' --no-shuffle --save-init %s --out %s --limit %d --test %d --epochs %d "
      .. "--batch-size %d --lr %g --latent %d 2>&1", DNNLUA, H.source_dir, dir, dir, SCHEDULE.limit, SCHEDULE.test,
      SCHEDULE.epochs, SCHEDULE.batch, SCHEDULE.lr, SCHEDULE.latent)))
    out = p:read("a")
    assert(p:close(), out)
  end)

  teardown(function()
    if dir then os.execute("rm -rf " .. dir) end
  end)

  local function elbo_after(epoch)
    return tonumber(out:match("epoch " .. epoch .. ": train [%d.]+, test negative ELBO ([%d.]+)"))
  end

  it("lowers the test negative ELBO and saves samples, the 2-d manifold and interpolations", function()
    if not have_data() then return pending("Fashion-MNIST is not installed") end
    local before = tonumber(out:match("before training: ([%d.]+)"))
    local after = elbo_after(SCHEDULE.epochs)
    assert(before and after and after < before - 10, out)
    for _, name in ipairs{"vae_samples.png", "vae_manifold.png", "vae_interpolations.png"} do
      local img = dnn.image.load(dir .. "/" .. name)
      assert(img.shape[1] > 56 and img.shape[2] > 56, name)
    end
  end)

  it("agrees with its PyTorch twin: the same forward pass, a test ELBO within 2%", function()
    if not have_data() then return pending("Fashion-MNIST is not installed") end
    if not H.have_torch() then return pending("python3-torch is not installed") end
    local ref = H.run_torch_reference("vae_twin.py", dir, FASHION, SCHEDULE.limit, SCHEDULE.test, SCHEDULE.epochs,
      SCHEDULE.batch, SCHEDULE.lr, SCHEDULE.latent)
    -- the initial models, saved by --save-init: mu and the decoder's logits at mu for 4 test images
    local encoder = dnn.load_model(dir .. "/vae_encoder.safetensors")
    local decoder = dnn.load_model(dir .. "/vae_decoder.safetensors")
    local _, test = dnn.datasets.fashion_mnist{limit = 4}
    local mu = encoder:predict(test.x:narrow(1, 1, 4)):narrow(2, 1, SCHEDULE.latent)
    local ours = dnn.cat({mu:reshape(-1), decoder:predict(mu):reshape(-1)}, 1)
    H.assert_close_to_reference(ours, ref.forward, 1e-4, "forward pass")
    local theirs, mine = ref["elbo_epoch" .. SCHEDULE.epochs][1], elbo_after(SCHEDULE.epochs)
    assert(math.abs(mine - theirs) <= 0.02 * theirs,
      string.format("test negative ELBO: dnnlua %.2f, PyTorch %.2f", mine, theirs))
  end)
end)
