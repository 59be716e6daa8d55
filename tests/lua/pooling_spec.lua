-- Pooling and the other spatial layers (MaxPooling2D, AveragePooling2D,
-- global pooling, UpSampling2D, ZeroPadding2D, Cropping2D): output shapes by
-- Keras's rules (worked out by hand), constructor forms, values and
-- gradients against PyTorch (Debian's python3-torch; pending where absent),
-- misuse, and the seed CNN's summary.
local dnn = dnn or require "dnn"
local H = require "helpers"
local nn = dnn.nn


local function same_shape(t, expected)
  assert.are.same(expected, t.shape)
end

describe("pooling and spatial layers", function()
  describe("output shapes follow Keras's rules", function()
    -- {input shape, layer, expected output shape}: valid floor((in - pool) / stride) + 1, same ceil(in / stride)
    local cases = {
      {{2, 7, 5, 3}, function() return nn.MaxPooling2D(2) end, {2, 3, 2, 3}},
      {{1, 7, 5, 2}, function() return nn.MaxPooling2D{3, strides = 2, padding = "same"} end, {1, 4, 3, 2}},
      {{1, 6, 7, 1}, function() return nn.AveragePooling2D{pool_size = {2, 3}, strides = {1, 2}} end, {1, 5, 3, 1}},
      {{2, 5, 6, 1}, function() return nn.AveragePooling2D{pool_size = 4, padding = "same"} end, {2, 2, 2, 1}},
      {{1, 126, 126, 4}, function() return nn.MaxPooling2D(2) end, {1, 63, 63, 4}},
      {{1, 63, 63, 4}, function() return nn.MaxPooling2D(2) end, {1, 31, 31, 4}},
      {{1, 63, 63, 4}, function() return nn.MaxPooling2D{2, padding = "same"} end, {1, 32, 32, 4}},
      {{2, 5, 6, 3}, function() return nn.GlobalAveragePooling2D() end, {2, 3}},
      {{2, 5, 6, 3}, function() return nn.GlobalMaxPooling2D{keepdims = true} end, {2, 1, 1, 3}},
      {{2, 5, 6, 3}, function() return nn.UpSampling2D{size = {2, 3}} end, {2, 10, 18, 3}},
      {{2, 5, 6, 3}, function() return nn.UpSampling2D() end, {2, 10, 12, 3}},
      {{2, 5, 6, 3}, function() return nn.ZeroPadding2D() end, {2, 7, 8, 3}},
      {{2, 5, 6, 3}, function() return nn.ZeroPadding2D{{1, 2}, {3, 4}} end, {2, 8, 13, 3}},
      {{2, 5, 6, 3}, function() return nn.ZeroPadding2D{2, 1} end, {2, 9, 8, 3}},
      {{2, 5, 6, 3}, function() return nn.Cropping2D{{1, 2}, {0, 1}} end, {2, 2, 5, 3}},
      {{2, 5, 6, 3}, function() return nn.Cropping2D(1) end, {2, 3, 4, 3}},
    }
    for i, case in ipairs(cases) do
      it(string.format("case %d: %s", i, tostring(case[2]())), function()
        local layer = case[2]()
        local y = layer(dnn.rand(table.unpack(case[1])))
        same_shape(y, case[3])
        local symbolic = {-1, table.unpack(case[1], 2)}
        local expected = {-1, table.unpack(case[3], 2)}
        assert.are.same(expected, layer:compute_output_shape(symbolic))
      end)
    end
  end)

  it("takes Keras's constructor forms", function()
    local a, b, c = nn.MaxPooling2D(2), nn.MaxPooling2D{pool_size = {2, 2}}, nn.MaxPooling2D{pool_size = 2}
    for _, l in ipairs{a, b, c} do
      assert.are.same({2, 2}, l.pool_size)
      assert.are.same({2, 2}, l.strides) -- strides default to the pool size
      assert.are.equal("valid", l.padding)
    end
    local d = nn.AveragePooling2D(3, 1, "SAME") -- Keras's positional order: pool_size, strides, padding
    assert.are.same({3, 3}, d.pool_size)
    assert.are.same({1, 1}, d.strides)
    assert.are.equal("same", d.padding)
    assert.are.equal("max_pooling2d", nn.MaxPool2D(2).name:match("^max_pooling2d"))
    assert.are.same({{1, 1}, {1, 1}}, nn.ZeroPadding2D(1).padding)
    assert.are.same({{2, 2}, {3, 3}}, nn.Cropping2D({2, 3}).cropping)
    assert.are.same({{1, 2}, {3, 4}}, nn.Cropping2D{cropping = {{1, 2}, {3, 4}}}.cropping)
    assert.are.same({2, 3}, nn.UpSampling2D{2, 3}.size)
  end)

  it("computes pooling and spatial values", function()
    local x = dnn.tensor{{{{1}, {2}, {3}}, {{4}, {5}, {6}}, {{7}, {8}, {9}}}} -- (1, 3, 3, 1)
    assert.are.same({5, 6, 8, 9}, nn.MaxPooling2D{2, strides = 1}(x):reshape(-1):totable())
    -- "same" averages over the real cells only, as Keras
    assert.are.same({3, 4.5, 7.5, 9}, nn.AveragePooling2D{2, padding = "same"}(x):reshape(-1):totable())
    assert.are.same({5}, nn.GlobalAveragePooling2D()(x):reshape(-1):totable())
    assert.are.same({9}, nn.GlobalMaxPooling2D()(x):reshape(-1):totable())
    assert.are.same({5}, nn.Cropping2D(1)(x):reshape(-1):totable())
    assert.are.same({0, 0, 0, 0, 1, 2, 3, 0}, nn.ZeroPadding2D{{1, 0}, {0, 1}}(x):reshape(-1):narrow(1, 1, 8):totable())
  end)

  it("trains through a pooling stack (gradients reach the first layer)", function()
    dnn.manual_seed(3)
    local model = nn.Sequential{
      nn.Input{6, 6, 2},
      nn.ZeroPadding2D(1), nn.MaxPooling2D{2, padding = "same"}, nn.UpSampling2D(2),
      nn.Cropping2D(1), nn.AveragePooling2D(2), nn.Flatten(), nn.Dense(3, {activation = "softmax"}),
    }
    local x, y = dnn.randn(4, 6, 6, 2, {requires_grad = true}), dnn.tensor{1, 2, 3, 1}
    local loss = dnn.losses.sparse_categorical_crossentropy(y, model(x))
    loss:backward()
    assert.are.same({4, 6, 6, 2}, x.grad.shape)
    assert.is_true(x.grad:abs():sum():item() > 0)
  end)

  describe("refuses misuse with clear errors", function()
    local function fails(f, ...)
      local ok, err = pcall(f)
      assert.is_false(ok)
      for _, needle in ipairs{...} do
        assert.truthy(tostring(err):find(needle, 1, true), "missing '" .. needle .. "' in: " .. tostring(err))
      end
    end
    it("wrong rank", function()
      fails(function() nn.MaxPooling2D(2)(dnn.rand(4, 4, 1)) end, "MaxPooling2D", "4-d input", "(4, 4, 1)")
      fails(function() nn.GlobalAveragePooling2D()(dnn.rand(2, 3)) end, "GlobalAveragePooling2D", "4-d input")
      fails(function() nn.UpSampling2D(2)(dnn.rand(2, 3, 3)) end, "UpSampling2D", "4-d input")
      fails(function() nn.Cropping2D(1)(dnn.rand(2, 3, 3)) end, "Cropping2D", "4-d input")
      fails(function() nn.MaxPooling2D(2):compute_output_shape{-1, 4, 4} end, "4-d input")
    end)
    it("a pool larger than the input with 'valid'", function()
      fails(function() nn.MaxPooling2D(3)(dnn.rand(1, 2, 5, 1)) end, "MaxPooling2D", "(3, 3)", "valid")
      fails(function() nn.AveragePooling2D(3):compute_output_shape{-1, 2, 5, 1} end, "valid")
      same_shape(nn.MaxPooling2D{3, padding = "same"}(dnn.rand(1, 2, 5, 1)), {1, 1, 2, 1})
    end)
    it("bad options", function()
      fails(function() nn.MaxPooling2D(0) end, "MaxPooling2D", "pool_size", "at least 1")
      fails(function() nn.MaxPooling2D{2, strides = 0} end, "strides")
      fails(function() nn.MaxPooling2D{2, padding = "full"} end, "padding", "full")
      fails(function() nn.MaxPooling2D{pool_size = 2.5} end, "pool_size")
      fails(function() nn.AveragePooling2D{2, data_format = "channels_first"} end, "channels_last")
      fails(function() nn.UpSampling2D{2, interpolation = "bicubic"} end, "interpolation", "bicubic")
      fails(function() nn.GlobalMaxPooling2D{keepdims = 1} end, "keepdims")
    end)
    it("negative or total cropping and negative padding", function()
      fails(function() nn.Cropping2D(-1) end, "Cropping2D", ">= 0")
      fails(function() nn.Cropping2D{{0, 1}, {-2, 0}} end, "Cropping2D", ">= 0")
      fails(function() nn.ZeroPadding2D{-1, 0} end, "ZeroPadding2D", ">= 0")
      fails(function() nn.Cropping2D{{2, 1}, {0, 0}}(dnn.rand(1, 3, 4, 1)) end, "Cropping2D", "leaves")
      fails(function() nn.Cropping2D{{0, 0}, {2, 2}}:compute_output_shape{-1, 3, 4, 1} end, "leaves nothing")
      fails(function() nn.Cropping2D("a") end, "cropping")
    end)
  end)

  describe("against PyTorch", function()
    local have_torch = H.have_torch()

    -- For each op line "name kind args...": y and dx of sum(y * w) in float64, NCHW <-> NHWC by permutes.
    local script = [[
import sys, torch
import torch.nn.functional as F
lines = open(sys.argv[1]).read().split('\n')
def tensor(line):
    shape, data = line.split(':')
    return torch.tensor([float(v) for v in data.split()], dtype=torch.float64).reshape([int(s) for s in shape.split(',')])
x = tensor(lines[0])
for line in lines[1:]:
    if not line.strip():
        continue
    name, kind, *a = line.split()
    a = [int(v) for v in a]
    xt = x.permute(0, 3, 1, 2).clone().requires_grad_(True)
    if kind == 'max':
        y = F.max_pool2d(xt, (a[0], a[1]), (a[2], a[3]), (a[4], a[5]))
    elif kind == 'avg':
        y = F.avg_pool2d(xt, (a[0], a[1]), (a[2], a[3]), (a[4], a[5]), count_include_pad=False)
    elif kind == 'nearest':
        y = F.interpolate(xt, scale_factor=(a[0], a[1]), mode='nearest')
    elif kind == 'bilinear':
        y = F.interpolate(xt, scale_factor=(a[0], a[1]), mode='bilinear', align_corners=False)
    elif kind == 'pad':
        y = F.pad(xt, (a[2], a[3], a[0], a[1]))
    nhwc = y.permute(0, 2, 3, 1).shape  # the weights run in NHWC order, as on the dnnlua side
    w = (torch.arange(y.numel(), dtype=torch.float64).reshape(nhwc).remainder(7) * 0.25 + 0.5).permute(0, 3, 1, 2)
    (y * w).sum().backward()
    out = {'y': y.permute(0, 2, 3, 1), 'dx': xt.grad.permute(0, 2, 3, 1)}
    for k, v in out.items():
        print(name + '_' + k, ' '.join('%.12g' % f for f in v.detach().reshape(-1).tolist()))
]]

    local function reference(x, ops)
      local data = os.tmpname()
      local f = assert(io.open(data, "w"))
      local parts = {}
      for i, v in ipairs(x:reshape(-1):totable()) do parts[i] = string.format("%.9g", v) end
      f:write(table.concat(x.shape, ","), ":", table.concat(parts, " "), "\n")
      for _, op in ipairs(ops) do f:write(op.name, " ", op.kind, " ", table.concat(op.args, " "), "\n") end
      f:close()
      local out = H.run_torch_code(script, data)
      os.remove(data)
      return out
    end

    local function assert_close(t, expected, what)
      local got = t:reshape(-1):totable()
      assert.are.equal(#expected, #got, what .. ": element count")
      for i = 1, #got do
        assert(math.abs(got[i] - expected[i]) <= 1e-5 * (1 + math.abs(expected[i])),
          string.format("%s[%d]: dnnlua %.7g, PyTorch %.7g", what, i, got[i], expected[i]))
      end
    end

    it("max_pool2d, avg_pool2d, interpolate and pad agree on values and gradients (NHWC vs NCHW)", function()
      if not have_torch then return pending("python3-torch is not installed") end
      dnn.manual_seed(11)
      local x = dnn.randn(2, 7, 6, 3)
      -- Keras's "same" equals PyTorch's symmetric padding where the total is even (odd pool, stride 1)
      local ops = {
        {name = "max2", kind = "max", args = {2, 2, 2, 2, 0, 0}, layer = nn.MaxPooling2D(2)},
        {name = "max32", kind = "max", args = {3, 2, 2, 1, 0, 0}, layer = nn.MaxPooling2D{{3, 2}, {2, 1}}},
        {name = "maxsame", kind = "max", args = {3, 3, 1, 1, 1, 1},
         layer = nn.MaxPooling2D{3, strides = 1, padding = "same"}},
        {name = "avg2", kind = "avg", args = {2, 2, 2, 2, 0, 0}, layer = nn.AveragePooling2D(2)},
        {name = "avg33", kind = "avg", args = {3, 3, 2, 3, 0, 0}, layer = nn.AveragePooling2D{3, strides = {2, 3}}},
        {name = "avgsame", kind = "avg", args = {3, 5, 1, 1, 1, 2},
         layer = nn.AveragePooling2D{{3, 5}, strides = 1, padding = "same"}},
        {name = "nearest", kind = "nearest", args = {2, 3}, layer = nn.UpSampling2D{2, 3}},
        {name = "bilinear", kind = "bilinear", args = {3, 2},
         layer = nn.UpSampling2D{size = {3, 2}, interpolation = "bilinear"}},
        {name = "pad", kind = "pad", args = {1, 2, 0, 3}, layer = nn.ZeroPadding2D{{1, 2}, {0, 3}}},
      }
      local ref = reference(x, ops)
      for _, op in ipairs(ops) do
        local xr = x:clone():detach()
        xr.requires_grad = true
        local y = op.layer(xr)
        local n = y:numel()
        local wv = {}
        for i = 1, n do wv[i] = ((i - 1) % 7) * 0.25 + 0.5 end
        local w = dnn.tensor(wv):reshape(table.unpack(y.shape))
        ;(y * w):sum():backward()
        assert_close(y, ref[op.name .. "_y"], op.name .. " y")
        assert_close(xr.grad, ref[op.name .. "_dx"], op.name .. " dx")
      end
    end)
  end)

  describe("the seed CNN (issue 4)", function()
    it("builds with Keras's output shapes and parameter counts", function()
      if not nn.Conv2D then return pending("nn.Conv2D has not landed yet") end
      local model = nn.Sequential{
        nn.Input{128, 128, 3},
        nn.Conv2D(4, 3, {padding = "valid", activation = "relu"}),
        nn.MaxPooling2D(2),
        nn.Conv2D(4, 3, {padding = "same", activation = "relu"}),
        nn.MaxPooling2D(2),
        nn.Flatten(),
        nn.Dense(64, {activation = "relu"}),
        nn.Dense(5, {activation = "softmax"}),
      }
      local lines = {}
      model:summary{print_fn = function(line) lines[#lines + 1] = line end}
      local text = table.concat(lines, "\n")
      local rows = {
        {"Conv2D", "(None, 126, 126, 4)", "112"},
        {"MaxPooling2D", "(None, 63, 63, 4)", "0"},
        {"Conv2D", "(None, 63, 63, 4)", "148"},
        {"MaxPooling2D", "(None, 31, 31, 4)", "0"},
        {"Flatten", "(None, 3844)", "0"},
        {"Dense", "(None, 64)", "246,080"},
        {"Dense", "(None, 5)", "325"},
      }
      local found = {}
      for _, line in ipairs(lines) do
        if line:find("│", 1, true) and line:find("(None", 1, true) then found[#found + 1] = line end
      end
      assert.are.equal(#rows, #found, text)
      for i, row in ipairs(rows) do
        for _, needle in ipairs(row) do
          assert.truthy(found[i]:find(needle, 1, true), "row " .. i .. " lacks " .. needle .. ":\n" .. text)
        end
      end
      assert.truthy(text:find("Total params: 246,665", 1, true), text)
      assert.are.equal(246665, model:count_params())
      same_shape(model(dnn.rand(2, 128, 128, 3)), {2, 5})
    end)
  end)
end)

-- Without recording, max pooling skips the winners and a 2x2 window takes its four pixels in one pass (issue 16):
-- the values must be those of the recorded op, NaN winning and -inf kept, for every window shape.
describe("max pooling without recording", function()
  it("gives the recorded op's values, NaN and -inf included", function()
    dnn.manual_seed(31)
    local x = dnn.randn(2, 9, 8, 19)
    dnn.no_grad(function()
      x[1][2][3][4] = 0 / 0
      x[2][5][5][1] = -math.huge
      x[2][6][5][1] = -math.huge
      x[2][5][6][1] = -math.huge
      x[2][6][6][1] = -math.huge
    end)
    x.requires_grad = true
    for _, options in ipairs{{pool_size = 2}, {pool_size = {1, 4}}, {pool_size = {4, 1}}, {pool_size = 3, strides = 2},
                             {pool_size = 2, padding = "same"}, {pool_size = {2, 3}, strides = 1}} do
      local pool = nn.MaxPooling2D(options)
      local recorded = pool(x):detach()
      local plain = dnn.no_grad(function() return pool(x) end)
      assert.are.same(recorded.shape, plain.shape)
      local a, b = recorded:reshape(-1):totable(), plain:reshape(-1):totable()
      for i = 1, #a do
        assert(a[i] == b[i] or (a[i] ~= a[i] and b[i] ~= b[i]), string.format("element %d: %g vs %g", i, b[i], a[i]))
      end
    end
  end)
end)
