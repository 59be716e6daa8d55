-- Conv2D, Conv2DTranspose and DepthwiseConv2D: output shapes against Keras's
-- rules, parameter counts, the seed CNN's conv layers, errors, and forward
-- values and gradients against PyTorch (skipped where it is absent).
local dnn = dnn or require "dnn"
local nn = dnn.nn
local C = require("dnn.core")._conv
local H = require "helpers"

local function shape_of(t) return table.concat(t.shape, "x") end

describe("Conv2D output shapes and parameters (Keras's rules)", function()
  -- {layer, input (h, w, c), expected output (h, w, c), parameters}
  local cases = {
    {function() return nn.Conv2D(4, 3) end, {128, 128, 3}, {126, 126, 4}, 112},
    {function() return nn.Conv2D(4, 3, {padding = "same"}) end, {63, 63, 4}, {63, 63, 4}, 148},
    {function() return nn.Conv2D(8, 3, {strides = 2}) end, {28, 28, 1}, {13, 13, 8}, 80},
    {function() return nn.Conv2D(8, 4, {strides = 2, padding = "same"}) end, {28, 28, 1}, {14, 14, 8}, 136},
    {function() return nn.Conv2D(8, 4, {strides = 2, padding = "same"}) end, {7, 9, 2}, {4, 5, 8}, 264},
    {function() return nn.Conv2D(2, {3, 5}, {dilation_rate = 2}) end, {20, 20, 1}, {16, 12, 2}, 32},
    {function() return nn.Conv2D(2, {3, 2}, {use_bias = false}) end, {5, 7, 3}, {3, 6, 2}, 36},
    {function() return nn.Conv2D{2, 3, strides = {2, 3}, padding = "valid"} end, {9, 10, 1}, {4, 3, 2}, 20},
    {function() return nn.Conv2D(6, 1) end, {10, 10, 4}, {10, 10, 6}, 30},
    {function() return nn.Conv2DTranspose(3, 3, {strides = 2, padding = "same"}) end, {7, 7, 4}, {14, 14, 3}, 111},
    {function() return nn.Conv2DTranspose(3, 3, {strides = 2}) end, {7, 7, 4}, {15, 15, 3}, 111},
    {function() return nn.Conv2DTranspose(3, 2, {strides = 3}) end, {7, 5, 1}, {21, 15, 3}, 15},
    {function() return nn.Conv2DTranspose(5, 4) end, {7, 7, 4}, {10, 10, 5}, 325},
    {function() return nn.Conv2DTranspose(2, 3, {dilation_rate = 2, padding = "same"}) end, {6, 6, 1}, {6, 6, 2}, 20},
    {function() return nn.DepthwiseConv2D(3, {depth_multiplier = 2}) end, {10, 10, 3}, {8, 8, 6}, 60},
    {function() return nn.DepthwiseConv2D(3, {strides = 2, padding = "same"}) end, {9, 9, 4}, {5, 5, 4}, 40},
    {function() return nn.DepthwiseConv2D({3, 1}, {use_bias = false}) end, {5, 5, 2}, {3, 5, 2}, 6},
  }
  for i, case in ipairs(cases) do
    it("case " .. i, function()
      local make, input, out, params = table.unpack(case)
      local l = make()
      local shape = l:compute_output_shape({-1, table.unpack(input)})
      assert.are.same({-1, table.unpack(out)}, shape)
      local y = l(dnn.randn(2, table.unpack(input)))
      assert.are.same({2, table.unpack(out)}, y.shape)
      assert.are.equal(params, (l:count_params()))
    end)
  end

  it("takes a kernel_size pair in every call form", function()
    local x = dnn.randn(1, 5, 5, 1)
    assert.are.same({1, 3, 4, 4}, nn.Conv2D(4, {3, 2})(x).shape)
    assert.are.same({1, 5, 5, 4}, nn.Conv2D(4, {3, 2}, {padding = "same"})(x).shape)
    assert.are.same({1, 2, 2, 4}, nn.Conv2D{4, {3, 2}, strides = 2}(x).shape)
    assert.are.same({1, 3, 4, 4}, nn.Conv2D{filters = 4, kernel_size = {3, 2}}(x).shape)
    assert.are.same({1, 3, 4, 1}, nn.DepthwiseConv2D({3, 2})(x).shape)
    assert.are.same({1, 3, 4, 2}, nn.DepthwiseConv2D{{3, 2}, depth_multiplier = 2}(x).shape)
    assert.are.same({1, 7, 6, 3}, nn.Conv2DTranspose(3, {3, 2})(x).shape)
  end)

  it("builds from input_shape with Keras's weight layouts", function()
    local c = nn.Conv2D(4, {3, 2}, {input_shape = {10, 10, 3}})
    assert.are.same({3, 2, 3, 4}, c.kernel.shape)
    assert.are.same({4}, c.bias.shape)
    local t = nn.Conv2DTranspose(5, 3, {input_shape = {4, 4, 2}})
    assert.are.same({3, 3, 5, 2}, t.kernel.shape)
    local d = nn.DepthwiseConv2D(3, {depth_multiplier = 3, input_shape = {6, 6, 2}})
    assert.are.same({3, 3, 2, 3}, d.depthwise_kernel.shape)
    assert.are.same({6}, d.bias.shape)
    assert.are.equal("depthwise_kernel", d:named_weights()[1].name:match("/(.*)$"))
  end)
end)

describe("the seed CNN's convolutions (issue 4 item 4)", function()
  it("have Keras's output shapes and parameter counts", function()
    local c1 = nn.Conv2D(4, 3, {padding = "valid", activation = "relu", input_shape = {128, 128, 3}})
    assert.are.same({-1, 126, 126, 4}, c1:compute_output_shape({-1, 128, 128, 3}))
    assert.are.equal(112, (c1:count_params()))
    local y = c1(dnn.rand(1, 128, 128, 3))
    assert.are.same({1, 126, 126, 4}, y.shape)
    assert.is_true(y:min():item() >= 0) -- relu
    local c2 = nn.Conv2D(4, 3, {padding = "same", activation = "relu"})
    assert.are.same({-1, 63, 63, 4}, c2:compute_output_shape({-1, 63, 63, 4}))
    assert.are.same({1, 63, 63, 4}, c2(dnn.rand(1, 63, 63, 4)).shape)
    assert.are.equal(148, (c2:count_params()))
  end)

  it("train inside a Sequential with Dense layers", function()
    dnn.manual_seed(3)
    local model = nn.Sequential{
      nn.Conv2D(4, 3, {activation = "relu", input_shape = {8, 8, 1}}),
      nn.Conv2D(4, 3, {padding = "same", strides = 2, activation = "relu"}),
      nn.Flatten(),
      nn.Dense(2, {activation = "softmax"}),
    }
    -- bright top half -> class 1, bright bottom half -> class 2
    local x = dnn.zeros(16, 8, 8, 1)
    local y = dnn.zeros(16)
    for i = 1, 16 do
      local top = i % 2 == 1
      x[i]:narrow(1, top and 1 or 5, 4):fill(1)
      y[i]:fill(top and 1 or 2)
    end
    model:compile{optimizer = "adam", loss = "sparse_categorical_crossentropy", metrics = {"accuracy"}}
    local h = model:fit(x, y, {epochs = 40, batch_size = 8, verbose = 0})
    assert.is_true(h.history.loss[40] < h.history.loss[1] * 0.5)
    assert.are.equal(1, h.history.accuracy[40])
  end)
end)

describe("conv layers in a functional model", function()
  it("give summary() Keras's shapes and counts without running", function()
    local inputs = nn.Input{8, 8, 1}
    local h = nn.Conv2D(2, 3, {activation = "relu"})(inputs)
    h = nn.DepthwiseConv2D(3, {depth_multiplier = 2, padding = "same"})(h)
    local out = nn.Conv2DTranspose(1, 3, {strides = 2, padding = "same"})(h)
    local model = nn.Model{inputs = inputs, outputs = out}
    local lines = {}
    model:summary{print_fn = function(line) lines[#lines + 1] = line end}
    local text = table.concat(lines, "\n")
    assert.is_truthy(text:find("(None, 6, 6, 2)", 1, true))
    assert.is_truthy(text:find("(None, 6, 6, 4)", 1, true))
    assert.is_truthy(text:find("(None, 12, 12, 1)", 1, true))
    assert.is_truthy(text:find("Total params: 97", 1, true)) -- 20 + 40 + 37
    assert.are.same({3, 12, 12, 1}, model(dnn.randn(3, 8, 8, 1)).shape)
  end)
end)

describe("conv layers' errors", function()
  local function fails(fn, pattern)
    local ok, err = pcall(fn)
    assert.is_false(ok)
    assert.is_truthy(tostring(err):find(pattern, 1, true), "message: " .. tostring(err))
  end

  it("name the layer and what was wrong", function()
    local c = nn.Conv2D(4, 3)
    fails(function() c(dnn.randn(2, 5)) end, "Conv2D 'conv2d")
    fails(function() c(dnn.randn(2, 5)) end, "expected (batch, height, width, channels), got a 2-d input (2, 5)")
    c(dnn.randn(1, 5, 5, 2))
    fails(function() c(dnn.randn(1, 5, 5, 3)) end, "expected an input with 2 channels")
    fails(function() c(dnn.randn(1, 5)) end, "got a 2-d input")
    fails(function() nn.Conv2D(4, 7)(dnn.randn(1, 5, 9, 2)) end,
      "the kernel 7x7 is larger than the input's 5x9 (input (1, 5, 9, 2)) with \"valid\" padding")
    fails(function() nn.Conv2D(4, 3, {dilation_rate = 3})(dnn.randn(1, 6, 6, 2)) end, "3x3 (7x7 dilated)")
    fails(function() nn.Conv2D(4, 7, {input_shape = {5, 5, 1}}) end, "larger than the input's 5x5")
    fails(function() nn.DepthwiseConv2D(4)(dnn.randn(1, 3, 3, 1)) end, "DepthwiseConv2D")
    fails(function() nn.Conv2DTranspose(4, 3)(dnn.randn(3, 3, 1)) end, "got a 3-d input")
    fails(function() nn.Conv2D(2, 9)(nn.Input{8, 8, 1}) end, "the kernel 9x9 is larger than the input's 8x8")
    fails(function() nn.Conv2D(2, 3)(nn.Input{8, 8}) end, "got a 3-d input (1, 8, 8)")
  end)

  it("refuse bad sizes, strides and options at construction", function()
    fails(function() nn.Conv2D(0, 3) end, "Conv2D: expected a positive integer number of filters, got number 0")
    fails(function() nn.Conv2D(4) end, "Conv2D: expected a kernel_size, got nil")
    fails(function() nn.Conv2D(4, 0) end, "expected kernel_size a positive integer or a pair of them, got number 0")
    fails(function() nn.Conv2D(4, {3, 3, 3}) end, "got table {3, 3, 3}")
    fails(function() nn.Conv2D(4, 3, {strides = 0}) end, "expected strides a positive integer")
    fails(function() nn.Conv2D(4, 3, {strides = 1.5}) end, "expected strides a positive integer")
    fails(function() nn.Conv2D(4, 3, {padding = "full"}) end, "expected padding \"valid\" or \"same\", got string 'full'")
    fails(function() nn.Conv2D(4, 3, {strides = 2, dilation_rate = 2}) end, "strides > 1 together with dilation_rate")
    fails(function() nn.Conv2D(4, 3, {activation = "nope"}) end, "nope")
    fails(function() nn.DepthwiseConv2D(3, {depth_multiplier = 0}) end, "depth_multiplier")
    fails(function() nn.Conv2D(4, 3, {data_format = "channels_first"}) end, "only data_format \"channels_last\"")
    fails(function() nn.Conv2D(4, 3, {groups = 2}) end, "grouped convolutions are not supported")
  end)

  it("from the kernels, for misuse of dnn.core._conv", function()
    local x, w = dnn.randn(1, 5, 5, 2), dnn.randn(3, 3, 2, 4)
    fails(function() C.conv2d(x, dnn.randn(3, 3, 3, 4), nil, 1, 1, 1, 1, "valid") end,
      "expected an input with 3 channels to match kernel (3, 3, 3, 4), got (1, 5, 5, 2)")
    fails(function() C.conv2d(x, w, dnn.randn(3), 1, 1, 1, 1, "valid") end, "expected a bias of shape (4), got (3)")
    fails(function() C.conv2d(x, w, nil, 0, 1, 1, 1, "valid") end, "expected a whole number >= 1")
    fails(function() C.conv2d(x, w, nil, 1, 1, 1, 1, "full") end, "expected a padding \"valid\" or \"same\"")
    fails(function() C.conv2d(x, w, nil, 1, 1, 1, 1, "valid", "swish") end, "expected an activation")
    fails(function() C.conv2d(x, dnn.randn(3, 3, 2), nil, 1, 1, 1, 1, "valid") end, "expected a 4-d kernel")
  end)
end)

describe("convolutions against PyTorch", function()
  if not H.have_torch() then
    pending("PyTorch (python3-torch) is not installed: cross-check skipped")
    return
  end

  -- name, op, input (n, h, w, c), kernel, bias?, strides, dilation, padding, activation
  local cases = {
    {"c1", "conv2d", {2, 6, 7, 3}, {3, 3, 3, 4}, true, {1, 1}, {1, 1}, "valid", "relu"},
    {"c2", "conv2d", {2, 9, 8, 2}, {4, 4, 2, 3}, true, {2, 2}, {1, 1}, "same", "linear"},
    {"c3", "conv2d", {1, 8, 9, 2}, {3, 3, 2, 2}, true, {1, 1}, {2, 2}, "same", "tanh"},
    {"c4", "conv2d", {2, 5, 7, 2}, {3, 2, 2, 3}, false, {1, 1}, {1, 1}, "valid", "sigmoid"},
    {"c5", "conv2d", {2, 9, 10, 1}, {3, 2, 1, 2}, true, {2, 3}, {1, 1}, "same", "leaky_relu"},
    {"c6", "conv2d", {2, 4, 5, 3}, {1, 1, 3, 4}, true, {1, 1}, {1, 1}, "same", "softmax"},
    {"c7", "conv2d", {2, 7, 7, 2}, {2, 2, 2, 3}, true, {2, 2}, {1, 1}, "same", "linear"},
    -- the direct kernels (issue 16): few taps with a vector block and a tail of filters; tiles of 32 and 16 filters
    -- over the inside and single positions at the borders; stride, dilation, and an activation applied after
    {"c8", "conv2d", {2, 9, 11, 3}, {3, 3, 3, 20}, true, {1, 1}, {1, 1}, "same", "relu"},
    {"c9", "conv2d", {2, 10, 13, 4}, {3, 3, 4, 48}, true, {1, 1}, {1, 1}, "same", "relu"},
    {"c10", "conv2d", {2, 9, 12, 5}, {3, 3, 5, 32}, false, {2, 2}, {1, 1}, "valid", "sigmoid"},
    {"c11", "conv2d", {1, 11, 12, 2}, {3, 3, 2, 16}, true, {1, 1}, {2, 2}, "same", "linear"},
    -- the input gradient at stride 1 as a direct convolution of the flipped kernel (and so the transposed forward)
    {"c12", "conv2d", {2, 8, 9, 16}, {3, 3, 16, 32}, true, {1, 1}, {1, 1}, "same", "relu"},
    {"c13", "conv2d", {1, 9, 8, 16}, {3, 2, 16, 16}, false, {1, 1}, {1, 1}, "valid", "linear"},
    {"t1", "conv2d_transpose", {2, 4, 5, 3}, {3, 3, 2, 3}, true, {2, 2}, {1, 1}, "same", "linear"},
    {"t2", "conv2d_transpose", {2, 4, 3, 2}, {3, 3, 3, 2}, true, {2, 2}, {1, 1}, "valid", "relu"},
    {"t3", "conv2d_transpose", {1, 3, 4, 2}, {2, 2, 2, 2}, false, {3, 3}, {1, 1}, "valid", "tanh"},
    {"t4", "conv2d_transpose", {2, 5, 4, 2}, {4, 4, 3, 2}, true, {2, 2}, {1, 1}, "same", "linear"},
    {"t5", "conv2d_transpose", {1, 5, 5, 1}, {3, 2, 2, 1}, true, {1, 1}, {2, 2}, "same", "sigmoid"},
    {"t6", "conv2d_transpose", {2, 3, 3, 4}, {1, 1, 3, 4}, true, {1, 1}, {1, 1}, "valid", "linear"},
    {"t7", "conv2d_transpose", {2, 6, 7, 16}, {3, 3, 16, 16}, true, {1, 1}, {1, 1}, "same", "linear"},
    {"d1", "depthwise_conv2d", {2, 6, 5, 3}, {3, 3, 3, 1}, true, {1, 1}, {1, 1}, "same", "relu"},
    {"d2", "depthwise_conv2d", {2, 7, 8, 2}, {3, 2, 2, 3}, true, {2, 2}, {1, 1}, "valid", "linear"},
    {"d3", "depthwise_conv2d", {1, 8, 8, 2}, {3, 3, 2, 2}, false, {1, 1}, {2, 2}, "same", "tanh"},
  }

  local function assert_close(t, expected, what) H.assert_close_to_reference(t, expected, 1e-4, what) end

  it("agree on forward values and gradients of input, kernel and bias", function()
    dnn.manual_seed(11)
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    local runs = {}
    for _, case in ipairs(cases) do
      local name, op, xs, ws, has_bias, s, d, padding, act = table.unpack(case)
      local x = dnn.randn(table.unpack(xs))
      local w = dnn.randn(table.unpack(ws)) * 0.5
      local b = has_bias and dnn.randn(op == "depthwise_conv2d" and ws[3] * ws[4] or ws[op == "conv2d" and 4 or 3]) or nil
      x.requires_grad, w.requires_grad = true, true
      if b then b.requires_grad = true end
      local y = C[op](x, w, b, s[1], s[2], d[1], d[2], padding, act)
      local g = dnn.randn(table.unpack(y.shape))
      ;(y * g):sum():backward()
      runs[#runs + 1] = {name = name, y = y, x = x, w = w, b = b}
      f:write(string.format("case %s %s %d %d %d %d %s %s\n", name, op, s[1], s[2], d[1], d[2], padding, act))
      local tensors = {x = x, w = w, b = b, g = g}
      for _, k in ipairs{"x", "w", "b", "g"} do
        local t = tensors[k]
        if t then f:write(name, ".", k, " ", table.concat(t.shape, ","), ": ", H.torch_values(t:detach()), "\n") end
      end
    end
    f:close()
    local ref = H.run_torch_reference("conv_ref.py", path)
    os.remove(path)
    for _, r in ipairs(runs) do
      assert_close(r.y:detach(), ref[r.name .. ".y"], r.name .. " output " .. shape_of(r.y))
      assert_close(r.x.grad, ref[r.name .. ".dx"], r.name .. " input gradient")
      assert_close(r.w.grad, ref[r.name .. ".dw"], r.name .. " kernel gradient")
      if r.b then assert_close(r.b.grad, ref[r.name .. ".db"], r.name .. " bias gradient") end
    end
  end)
end)

-- Conv2D's forward runs direct loops when the kernel has few taps or the filters come in whole 16-float vectors
-- (core/src/conv.c, issue 16), and im2col + GEMM otherwise: 32 filters go direct, 33 through GEMM, so the first 32
-- outputs of a 33-filter conv are the 32-filter conv's, computed the other way.
describe("the direct convolution kernels", function()
  local geometries = { -- input (n, h, w, c), kernel (kh, kw), strides, dilation, padding
    {{2, 9, 11, 4}, {3, 3}, {1, 1}, {1, 1}, "same"},
    {{2, 14, 14, 16}, {3, 3}, {1, 1}, {1, 1}, "same"},
    {{1, 10, 12, 5}, {3, 3}, {2, 2}, {1, 1}, "valid"},
    {{1, 12, 13, 3}, {3, 3}, {1, 1}, {2, 2}, "same"},
    {{2, 8, 9, 6}, {2, 4}, {1, 2}, {1, 1}, "same"},
    {{3, 7, 9, 8}, {3, 3}, {1, 1}, {1, 1}, "valid"},
  }
  for _, filters in ipairs{16, 32, 48} do
    it(string.format("agree with im2col + GEMM for %d filters", filters), function()
      dnn.manual_seed(16)
      for _, geo in ipairs(geometries) do
        local xs, k, s, d, padding = table.unpack(geo)
        local x = dnn.randn(table.unpack(xs))
        local wide = dnn.randn(k[1], k[2], xs[4], filters + 1) * 0.3
        local bias = dnn.randn(filters + 1)
        local w = wide:narrow(4, 1, filters):contiguous()
        -- the kernel gradient: direct (few taps, or channels by 4 and filters by 32) against GEMM
        local wd, wg = w:clone(), wide:clone()
        wd.requires_grad, wg.requires_grad = true, true
        local g = dnn.randn(table.unpack(C.conv2d(x, w, nil, s[1], s[2], d[1], d[2], padding, "linear").shape))
        ;(C.conv2d(x, wd, nil, s[1], s[2], d[1], d[2], padding, "linear") * g):sum():backward()
        ;(C.conv2d(x, wg, nil, s[1], s[2], d[1], d[2], padding, "linear"):narrow(4, 1, filters) * g):sum():backward()
        local gerr = (wd.grad - wg.grad:narrow(4, 1, filters)):abs():max():item()
        assert(gerr < 1e-3 * math.max(1, wd.grad:abs():max():item()),
          string.format("%s kernel gradient: max |direct - gemm| = %g", shape_of(x), gerr))
        for _, act in ipairs{"linear", "relu", "tanh"} do
          local direct = C.conv2d(x, w, bias:narrow(1, 1, filters):contiguous(), s[1], s[2], d[1], d[2], padding, act)
          local gemm = C.conv2d(x, wide, bias, s[1], s[2], d[1], d[2], padding, act):narrow(4, 1, filters)
          assert.are.same(gemm.shape, direct.shape)
          local err = (direct - gemm):abs():max():item()
          assert(err < 1e-5, string.format("%s %s %s: max |direct - gemm| = %g", shape_of(x), act, padding, err))
        end
      end
    end)
  end

  it("give the input gradient at stride 1 as im2col + GEMM does", function()
    dnn.manual_seed(18)
    -- 16 input channels: the flipped-kernel direct loops; 17 (the last one with zero weights, so the same output and
    -- the same first 16 gradients): the GEMM and col2im
    for _, case in ipairs{{{2, 9, 10, 16}, 16, "same", {1, 1}}, {{1, 8, 11, 16}, 32, "valid", {1, 1}},
                          {{2, 12, 12, 16}, 16, "same", {2, 2}}} do
      local xs, filters, padding, d = table.unpack(case)
      local x17 = dnn.randn(xs[1], xs[2], xs[3], 17)
      local w17 = dnn.randn(3, 3, 17, filters) * 0.3
      dnn.no_grad(function() w17:narrow(3, 17, 1):zero() end)
      local x16 = x17:narrow(4, 1, 16):contiguous()
      local w16 = w17:narrow(3, 1, 16):contiguous()
      x16.requires_grad, x17.requires_grad = true, true
      local y16 = C.conv2d(x16, w16, nil, 1, 1, d[1], d[2], padding, "relu")
      local y17 = C.conv2d(x17, w17, nil, 1, 1, d[1], d[2], padding, "relu")
      local g = dnn.randn(table.unpack(y16.shape))
      ;(y16 * g):sum():backward()
      ;(y17 * g):sum():backward()
      local err = (x16.grad - x17.grad:narrow(4, 1, 16)):abs():max():item()
      assert(err < 1e-5, string.format("%s: max |direct - gemm| = %g", shape_of(x16), err))
    end
  end)

  -- (the first layer's input gradient, one channel, goes through GEMM + col2im: not checked here)
  it("give the same bits at 1 and 2 threads", function()
    dnn.manual_seed(19)
    local threads = dnn.get_num_threads()
    local x = dnn.randn(16, 14, 14, 16)
    local w = dnn.randn(3, 3, 16, 32) * 0.2
    local x1 = dnn.randn(16, 28, 28, 1)
    local w1 = dnn.randn(3, 3, 1, 16) * 0.2
    local function run(n)
      dnn.set_num_threads(n)
      local out = {}
      for i, case in ipairs{{x, w}, {x1, w1}} do
        local xi, wi = case[1]:clone(), case[2]:clone()
        xi.requires_grad, wi.requires_grad = i == 1, true
        local y = C.conv2d(xi, wi, nil, 1, 1, 1, 1, "same", "relu")
        y:sum():backward()
        out[#out + 1] = {y:detach(), wi.grad, xi.grad}
      end
      return out
    end
    local one, two = run(1), run(2)
    dnn.set_num_threads(threads)
    for i = 1, #one do
      for k = 1, i == 1 and 3 or 2 do assert.are.equal(0, (one[i][k] - two[i][k]):abs():max():item()) end
    end
  end)

  it("pass the finite-difference check", function()
    dnn.manual_seed(17)
    local x = dnn.randn(1, 4, 5, 2, {requires_grad = true})
    local w = (dnn.randn(3, 3, 2, 16) * 0.3):detach()
    w.requires_grad = true
    local g = dnn.randn(1, 4, 5, 16)
    local function conv(a, b) return C.conv2d(a, b, nil, 1, 1, 1, 1, "same", "linear") end
    local ok, msg = dnn.autograd.gradcheck(function(a, b) return (conv(a, b) * g):sum() end, {x, w}, {eps = 1e-2})
    assert(ok, msg)
  end)
end)

-- At inference (recording off, batch norm on its moving statistics) a Sequential runs Conv2D, BatchNormalization
-- and relu/sigmoid/tanh as one convolution with the batch norm folded into its kernel and bias (issue 16); a
-- functional model does so where the graph chains them.
describe("the folding of batch norm into the convolution", function()
  local function conv_bn(options, act)
    local layers = {nn.Input{10, 11, 3}, nn.Conv2D(16, 3, options), nn.BatchNormalization{momentum = 0.9}}
    if act then layers[#layers + 1] = nn.Activation(act) end
    layers[#layers + 1] = nn.MaxPooling2D(2)
    local model = nn.Sequential(layers)
    dnn.no_grad(function() -- statistics and affine weights that are not the initial ones
      local bn = model.layers[2]
      bn.moving_mean:copy(dnn.randn(16) * 0.2)
      bn.moving_variance:copy(dnn.rand(16) + 0.5)
      if bn.gamma then bn.gamma:copy(dnn.rand(16) + 0.5) end
      if bn.beta then bn.beta:copy(dnn.randn(16) * 0.1) end
    end)
    return model, model.layers[2]
  end

  -- Counts the calls of bn's own forward.
  local function count_calls(bn)
    local calls, forward = {n = 0}, bn.forward
    bn.forward = function(...)
      calls.n = calls.n + 1
      return forward(...)
    end
    return calls
  end

  local function rel_err(a, b) return (a - b):abs():max():item() / math.max(b:abs():max():item(), 1e-30) end

  it("gives the layers' own outputs, without running the batch norm", function()
    dnn.manual_seed(21)
    for _, case in ipairs{{{padding = "same", use_bias = false}, "relu"}, {{padding = "valid"}, "sigmoid"},
                          {{padding = "same", strides = 2}, "tanh"}, {{padding = "same"}, nil}} do
      local model, bn = conv_bn(case[1], case[2])
      local x = dnn.rand(4, 10, 11, 3)
      model:eval()
      local calls = count_calls(bn)
      local layered = model(x):detach() -- recording on: layer by layer
      assert.are.equal(1, calls.n)
      local fused = dnn.no_grad(function() return model(x) end)
      assert.are.equal(1, calls.n)
      assert(rel_err(fused, layered) < 1e-5, string.format("%s: relative error %g", tostring(case[2]),
        rel_err(fused, layered)))
      assert(rel_err(model:predict(x), layered) < 1e-5)
    end
  end)

  it("folds a batch norm without gamma or beta", function()
    dnn.manual_seed(22)
    local model = nn.Sequential{nn.Input{6, 6, 2}, nn.Conv2D(16, 3, {padding = "same"}),
                                nn.BatchNormalization{center = false, scale = false}, nn.Activation("relu")}
    dnn.no_grad(function() model.layers[2].moving_variance:copy(dnn.rand(16) + 0.5) end)
    model:eval()
    local x = dnn.rand(3, 6, 6, 2)
    local layered = model(x):detach()
    local fused = dnn.no_grad(function() return model(x) end)
    assert(rel_err(fused, layered) < 1e-5)
  end)

  it("leaves training mode, frozen-free batch norms and other layers alone", function()
    dnn.manual_seed(23)
    local model, bn = conv_bn({padding = "same"}, "relu")
    local x = dnn.rand(4, 10, 11, 3)
    model:train() -- the batch's statistics, and the moving ones updated: the batch norm must run
    local calls = count_calls(bn)
    local before = bn.moving_mean:clone()
    local y = dnn.no_grad(function() return model(x) end)
    assert.are.equal(1, calls.n)
    assert((bn.moving_mean - before):abs():max():item() > 1e-3)
    model:eval()
    -- {training = true} from the call reaches the batch norm even under no_grad
    local trained = dnn.no_grad(function() return model(x, {training = true}) end)
    assert.are.equal(2, calls.n)
    assert.are.same(y.shape, trained.shape)
    local expected = model(x):detach()
    -- a conv with its own activation is not folded
    local act_model = nn.Sequential{nn.Input{10, 11, 3}, nn.Conv2D(16, 3, {activation = "relu"}),
                                    nn.BatchNormalization()}
    act_model:eval()
    local act_calls = count_calls(act_model.layers[2])
    dnn.no_grad(function() return act_model(x) end)
    assert.are.equal(1, act_calls.n)
    assert(rel_err(dnn.no_grad(function() return model(x) end), expected) < 1e-5)
  end)

  it("folds in a functional model where the graph chains the layers, not where another node reads between", function()
    dnn.manual_seed(24)
    local inputs = nn.Input{10, 11, 3}
    local conv1, bn1 = nn.Conv2D(8, 3, {padding = "same", use_bias = false}), nn.BatchNormalization()
    local skip = nn.Activation("relu")(bn1(conv1(inputs)))
    local conv2, bn2 = nn.Conv2D(8, 3, {padding = "same"}), nn.BatchNormalization()
    local conv2_out = conv2(skip)
    local both = nn.Concatenate(){skip, bn2(conv2_out), conv2_out} -- conv2's output is read twice: no folding
    local model = nn.Model{inputs = inputs, outputs = nn.Conv2D(4, 1)(both)}
    dnn.no_grad(function()
      for _, bn in ipairs{bn1, bn2} do
        bn.moving_mean:copy(dnn.randn(8) * 0.2)
        bn.moving_variance:copy(dnn.rand(8) + 0.5)
      end
    end)
    model:eval()
    local calls1, calls2 = count_calls(bn1), count_calls(bn2)
    local x = dnn.rand(4, 10, 11, 3)
    local layered = model(x):detach()
    assert.are.same({1, 1}, {calls1.n, calls2.n})
    local fused = dnn.no_grad(function() return model(x) end)
    assert.are.same({1, 2}, {calls1.n, calls2.n})
    assert(rel_err(fused, layered) < 1e-5, string.format("relative error %g", rel_err(fused, layered)))
    model:train()
    dnn.no_grad(function() return model(x) end)
    assert.are.same({2, 3}, {calls1.n, calls2.n})
  end)
end)
