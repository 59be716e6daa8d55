-- examples/style_transfer.lua in a small mode: the style loss falls at least
-- 20x from the content image's, the PNG holds content, style and result; the
-- VGG19 path on random weights in torchvision's names, converted by
-- examples/convert_vgg19.py (where python3-torch is installed).
local H = require "helpers"
local DNNLUA = assert(os.getenv("DNNLUA"), "DNNLUA (the dnnlua binary) must be set; ctest sets it")

local data_dir = os.getenv("DNN_DATA_DIR") or ((os.getenv("XDG_CACHE_HOME") or (os.getenv("HOME") .. "/.cache"))
  .. "/dnnlua")
local images = data_dir .. "/skimage"

local function have_images()
  local f = io.open(images .. "/chelsea.png", "rb")
  if f then f:close() end
  return f ~= nil
end

-- Runs the example; returns its output (stdout and stderr) and exit status.
local function run(args)
  local p = assert(io.popen(string.format("'%s' '%s/examples/style_transfer.lua' %s 2>&1", DNNLUA, H.source_dir,
    args)))
  local out = p:read("a")
  local _, _, code = p:close()
  return out, code
end

local function style_ratio(out)
  return tonumber(out:match("style loss ratio start/end: ([%d.]+)"))
end

describe("examples/style_transfer.lua", function()
  it("lowers the style loss at least 20x with L-BFGS on the random multi-scale network", function()
    if not have_images() then return pending("no sample photographs (scripts/fetch_sample_images.sh)") end
    local png = os.tmpname()
    local out, code = run("--size 48 --steps 3 --out " .. png)
    assert.are.equal(0, code, out)
    assert.truthy(out:find("random multi-scale features", 1, true), out)
    local ratio = style_ratio(out)
    assert(ratio and ratio >= 20, "style loss ratio " .. tostring(ratio) .. "\n" .. out)
    local picture = dnn.image.load(png)
    os.remove(png)
    -- chelsea.png is 300 x 451: 32 x 48 at --size 48; three images in a row with 4-pixel padding
    assert.are.same({32 + 8, 3 * 48 + 16, 3}, picture.shape)
  end)

  it("says which file is missing and how to get the default pictures", function()
    local out, code = run("--content /nonexistent/cat.png --size 16 --steps 1")
    assert.are_not.equal(0, code)
    assert.truthy(out:find("cannot open /nonexistent/cat.png", 1, true), out)
    assert.truthy(out:find("fetch_sample_images.sh", 1, true), out)
  end)

  it("runs on VGG19 weights converted from torchvision's names and layouts", function()
    if not have_images() then return pending("no sample photographs (scripts/fetch_sample_images.sh)") end
    if not H.have_torch() then return pending("python3-torch is not installed") end
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. dir))
    -- random weights with vgg19().features' keys and shapes (no download)
    H.run_torch_code(string.format([[
import torch
torch.manual_seed(0)
state, c_in = {}, 3
for index, c_out in [(0, 64), (2, 64), (5, 128), (7, 128), (10, 256), (12, 256), (14, 256), (16, 256),
                     (19, 512), (21, 512), (23, 512), (25, 512), (28, 512), (30, 512), (32, 512), (34, 512)]:
    state[f"features.{index}.weight"] = torch.randn(c_out, c_in, 3, 3) * (2 / (9 * c_in)) ** 0.5
    state[f"features.{index}.bias"] = torch.zeros(c_out)
    c_in = c_out
torch.save(state, "%s/vgg19.pth")
]], dir))
    local converted = dir .. "/vgg19.safetensors"
    local p = assert(io.popen(string.format("%s '%s/examples/convert_vgg19.py' %s %s/vgg19.pth", H.python,
      H.source_dir, converted, dir)))
    assert.truthy(p:read("a"):find("16 convolutions", 1, true))
    assert(p:close())
    local out, code = run(string.format("--weights %s --size 32 --steps 1 --out %s/out.png", converted, dir))
    os.execute("rm -rf " .. dir)
    assert.are.equal(0, code, out)
    assert.truthy(out:find("VGG19 features", 1, true), out)
    local ratio = style_ratio(out)
    assert(ratio and ratio > 1, "style loss ratio " .. tostring(ratio) .. "\n" .. out)
  end)
end)
