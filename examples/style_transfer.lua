-- Neural style transfer (Gatys, Ecker and Bethge, 2016): the pixels of an
-- image are optimized so that its deep features match a content image's and
-- the Gram matrices (channel correlations) of its features match a style
-- image's, with a total-variation term for smoothness. The image is the only
-- thing that learns: the feature network's weights are fixed.
--
-- The feature network is, out of the box, a multi-scale random-weight CNN
-- (one layer of random filters of several sizes, on the image at several
-- resolutions): Ustyuzhaninov et al. (2017) showed that such a network
-- already captures textures, and it needs no download. With --weights, it is
-- VGG19's convolutional part, loaded from a safetensors file converted from
-- torchvision's weights (docs/guide/11_generative.md says how).
--
-- The default pictures are photographs that Debian's python3-skimage ships
-- (chelsea.png, a cat, as content; coffee.png as style), fetched by
-- scripts/fetch_sample_images.sh. Prints the style and content losses before
-- and after, and the same run with Adam for comparison (--compare).
-- Usage: dnnlua examples/style_transfer.lua [--content IMG] [--style IMG] [--size N] [--steps N]
local nn = dnn.nn

local args = dofile((arg[0]:match("^(.*)/") or ".") .. "/lib/args.lua")
local parser = args.parser("style_transfer.lua",
  "Paints a content image in the style of another by optimizing its pixels (Gatys et al.).")
local data_dir = os.getenv("DNN_DATA_DIR") or ((os.getenv("XDG_CACHE_HOME") or (os.getenv("HOME") or ".")
  .. "/.cache") .. "/dnnlua")
parser:option("--content", "the content image", data_dir .. "/skimage/chelsea.png"):argname("IMG")
parser:option("--style", "the style image", data_dir .. "/skimage/coffee.png"):argname("IMG")
args.number_option(parser, "--size", "the result's longer side in pixels", 128, args.positive_integer)
args.number_option(parser, "--steps", "optimizer steps (L-BFGS: up to 20 evaluations each)", 10,
  args.positive_integer)
parser:option("--optimizer", "lbfgs or adam", "lbfgs"):choices{"lbfgs", "adam"}
args.number_option(parser, "--style-weight", "the style loss's weight", 1e3, args.positive_number)
args.number_option(parser, "--content-weight", "the content loss's weight", 1, args.positive_number)
args.number_option(parser, "--tv-weight", "the total-variation loss's weight", 3, args.positive_number)
parser:option("--weights", "a VGG19 safetensors file (see the guide); default: a random multi-scale CNN")
  :argname("FILE")
parser:flag("--compare", "also run Adam with as many evaluations, and print both")
args.number_option(parser, "--seed", "the random filters' seed", 1, args.nonnegative_integer)
parser:option("--out", "the PNG: content, style and result side by side", "style_transfer.png"):argname("FILE")
local opts = parser:parse(arg or {})

-- ---- the images ----

local function load_image(path, h, w)
  local f = io.open(path, "rb")
  if not f then
    io.stderr:write(string.format("style_transfer: cannot open %s (run scripts/fetch_sample_images.sh for the "
      .. "default pictures, or give --content/--style)\n", path))
    os.exit(1)
  end
  f:close()
  local img = dnn.image.load(path, {channels = 3})
  if not h then
    local scale = opts.size / math.max(img.shape[1], img.shape[2])
    h, w = math.max(1, math.floor(img.shape[1] * scale + 0.5)), math.max(1, math.floor(img.shape[2] * scale + 0.5))
  end
  return dnn.image.resize(img, h, w):reshape(1, h, w, 3)
end

local content = load_image(opts.content)
local h, w = content.shape[2], content.shape[3]
local style = load_image(opts.style, h, w)

-- ---- the feature networks: each maps an image (1, H, W, 3) in [0, 1] to
-- {style = {features...}, content = {features...}} ----

local function frozen(layer)
  layer.trainable = false
  return layer
end

-- One layer of random filters of sizes 3 to 11 on the image at full, half
-- and quarter resolution (average-pooled), each followed by ReLU.
local function random_network()
  dnn.manual_seed(opts.seed)
  local scales = {}
  for s, factor in ipairs{1, 2, 4} do
    local pool = factor > 1 and frozen(nn.AveragePooling2D(factor)) or nil
    local convs = {}
    for i, k in ipairs{3, 5, 7, 11} do
      convs[i] = frozen(nn.Conv2D(32, k, {padding = "same", activation = "relu",
        kernel_initializer = "he_normal"}))
    end
    scales[s] = {pool = pool, convs = convs}
  end
  return function(img)
    local x = img - 0.5
    local out = {style = {}, content = {}}
    for s, scale in ipairs(scales) do
      local input = scale.pool and scale.pool(x) or x
      for _, conv in ipairs(scale.convs) do
        local f = conv(input)
        out.style[#out.style + 1] = f
        if s == 1 then out.content[#out.content + 1] = f end
      end
    end
    return out
  end
end

-- VGG19's 16 convolutions under Keras's layer names (block1_conv1 ...),
-- weights from a file (run up to block5_conv1); style from each block's first conv, content from
-- block4_conv2 (Gatys et al.'s choice). Inputs normalized as torchvision's.
local function vgg19_network(path)
  local widths = {{64, 2}, {128, 2}, {256, 4}, {512, 4}, {512, 4}}
  local layers = {}
  for b, block in ipairs(widths) do
    for c = 1, block[2] do
      layers[#layers + 1] = frozen(nn.Conv2D(block[1], 3, {padding = "same", activation = "relu",
        name = string.format("block%d_conv%d", b, c), input_shape = #layers == 0 and {h, w, 3} or nil}))
    end
    if b < #widths then layers[#layers + 1] = frozen(nn.MaxPooling2D(2)) end
  end
  nn.Sequential(layers):load_weights(path)
  local mean, std = dnn.tensor{0.485, 0.456, 0.406}, dnn.tensor{0.229, 0.224, 0.225}
  return function(img)
    local x = (img - mean) / std
    local out = {style = {}, content = {}}
    for _, layer in ipairs(layers) do
      x = layer(x)
      local name = layer.name
      if name:match("_conv1$") then out.style[#out.style + 1] = x end
      if name == "block4_conv2" then out.content[1] = x end
      if name == "block5_conv1" then break end -- the last layer the losses use
    end
    return out
  end
end

local features = opts.weights and vgg19_network(opts.weights) or random_network()

-- ---- the losses ----

-- The Gram matrix of features (1, H, W, C): (C, C) channel correlations,
-- averaged over positions.
local function gram(f)
  local hw, c = f.shape[2] * f.shape[3], f.shape[4]
  local flat = f:reshape(hw, c)
  return dnn.matmul(flat:transpose(1, 2), flat) / hw
end

local function mean_squared(a, b)
  return (a - b):square():mean()
end

local function total_variation(img)
  local dy = img:narrow(2, 2, h - 1) - img:narrow(2, 1, h - 1)
  local dx = img:narrow(3, 2, w - 1) - img:narrow(3, 1, w - 1)
  return dy:square():mean() + dx:square():mean()
end

local targets = dnn.no_grad(function()
  local s, c = features(style), features(content)
  local t = {grams = {}, content = c.content}
  for i, f in ipairs(s.style) do t.grams[i] = gram(f) end
  return t
end)

-- The three losses of an image (tensors), weighted and summed in `total`.
local function losses(img)
  local f = features(img)
  local style_loss, content_loss = 0, 0
  for i, fi in ipairs(f.style) do style_loss = style_loss + mean_squared(gram(fi), targets.grams[i]) end
  for i, fi in ipairs(f.content) do content_loss = content_loss + mean_squared(fi, targets.content[i]) end
  local tv = total_variation(img)
  local total = opts.style_weight * style_loss + opts.content_weight * content_loss + opts.tv_weight * tv
  return total, style_loss, content_loss
end

local function measure(img)
  return dnn.no_grad(function()
    local _, s, c = losses(img)
    return s:item(), c:item()
  end)
end

-- ---- the optimization: the pixels, started from the content image ----

-- Runs `steps` steps of the named optimizer; returns the image, the number of
-- loss evaluations and the seconds taken.
local function paint(optimizer, max_evals)
  local img = content:clone():requires_grad_()
  local evals = 0
  local function closure()
    evals = evals + 1
    local total = losses(img)
    total:backward()
    return total
  end
  local start = dnn.wall_time()
  if optimizer == "lbfgs" then
    local opt = dnn.optim.LBFGS{params = {img}, history_size = 20, line_search_fn = "strong_wolfe"}
    for _ = 1, opts.steps do
      opt:step(closure)
      dnn.no_grad(function() img:clamp_(0, 1) end) -- pixels stay displayable
      if max_evals and evals >= max_evals then break end
    end
  else
    local opt = dnn.optim.Adam{learning_rate = 0.02, params = {img}}
    local steps = max_evals or opts.steps
    for _ = 1, steps do
      opt:zero_grad()
      closure()
      opt:step()
      dnn.no_grad(function() img:clamp_(0, 1) end)
    end
  end
  return img:detach(), evals, dnn.wall_time() - start
end

local style0, content0 = measure(content)
print(string.format("%dx%d pixels, %s features; at the start (the content image): style loss %.5g, content loss %.3g",
  h, w, opts.weights and "VGG19" or "random multi-scale", style0, content0))

local result, evals, seconds = paint(opts.optimizer)
local style1, content1 = measure(result)
print(string.format("%s: %d evaluations in %.1f s; style loss %.5g (%.1fx lower), content loss %.4g",
  opts.optimizer, evals, seconds, style1, style0 / style1, content1))

if opts.compare then
  local other = opts.optimizer == "lbfgs" and "adam" or "lbfgs"
  local other_result, other_evals, other_seconds = paint(other, evals)
  local s2, c2 = measure(other_result)
  print(string.format("%s with %d evaluations: %.1f s; style loss %.5g (%.1fx lower), content loss %.4g",
    other, other_evals, other_seconds, s2, style0 / s2, c2))
end

local row = dnn.cat({content, style, result}, 1)
dnn.image.save(dnn.image.grid(row, {nrow = 3, padding = 4, pad_value = 1}), opts.out)
print("saved " .. opts.out .. " (content, style, result)")
print(string.format("style loss ratio start/end: %.1f", style0 / style1))
