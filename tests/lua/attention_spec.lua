-- Attention (issue 13): dnn.scaled_dot_product_attention against the
-- explicit softmax(q k^T / sqrt(d)) v (masks, causal, scores, a row with
-- nothing allowed, gradients by finite differences, gradients of gradients,
-- errors), and nn.MultiHeadAttention: shapes, Keras's weights, order and
-- counts, call forms, masks (attention_mask, causal, Embedding{mask_zero}
-- through a functional model), dropout, gradients, save and load, errors;
-- then both against PyTorch on the same inputs and weights (skipped with a
-- message where PyTorch is absent).
local dnn = dnn or require "dnn"
local H = require "helpers"
local nn = dnn.nn


-- The allowed pattern (B|1, H|1, Tq, Tk) as 0/1: mask and causal.
local function allowed(shape, mask, causal)
  local a = dnn.ones(table.unpack(shape))
  if mask then a = a * mask end
  if causal then
    local tq, tk = shape[#shape - 1], shape[#shape]
    local tri = dnn.zeros(tq, tk)
    for i = 1, tq do for j = 1, math.min(i, tk) do tri[i][j] = 1 end end
    a = a * tri
  end
  return a
end

-- softmax(scale q k^T + mask) v from the tensor ops; rows with nothing allowed give zeros.
local function explicit(q, k, v, mask, causal)
  local tq, tk = q.shape[3], k.shape[3]
  local ok = allowed({q.shape[1], q.shape[2], tq, tk}, mask, causal)
  local s = dnn.matmul(q, k:transpose(3, 4)) * (1 / math.sqrt(q.shape[4])) + (ok - 1) * 1e30
  local p = s:softmax(-1) * ok:max(-1, true)
  return dnn.matmul(p, v), p
end

describe("scaled_dot_product_attention", function()
  it("computes softmax(q k^T / sqrt(d)) v over several blocks, with masks and causal", function()
    dnn.manual_seed(1)
    local q, k, v = dnn.randn(2, 3, 70, 8), dnn.randn(2, 3, 75, 8), dnn.randn(2, 3, 75, 5)
    H.assert_close(dnn.scaled_dot_product_attention(q, k, v), explicit(q, k, v), 1e-5)
    H.assert_close(dnn.scaled_dot_product_attention(q, k, v, {causal = true}), explicit(q, k, v, nil, true), 1e-5)
    local m = dnn.rand(2, 1, 70, 75):gt(0.4)
    H.assert_close(dnn.scaled_dot_product_attention(q, k, v, {mask = m}), explicit(q, k, v, m), 1e-5)
    local m2 = dnn.rand(70, 75):gt(0.3) -- (Tq, Tk) broadcasts
    local y, p = dnn.scaled_dot_product_attention(q, k, v, {mask = m2, causal = true, return_scores = true})
    local ey, ep = explicit(q, k, v, m2, true)
    H.assert_close(y, ey, 1e-5)
    H.assert_close(p, ep, 1e-6)
    H.assert_shape(p, {2, 3, 70, 75})
    local half = dnn.scaled_dot_product_attention(q, k, v, {scale = 0.5})
    H.assert_close(half, explicit(q * (0.5 * math.sqrt(8)), k, v), 1e-5)
  end)

  it("gives zeros for a query row with no allowed key, and finite gradients", function()
    dnn.manual_seed(2)
    local q = dnn.randn(1, 2, 4, 3, {requires_grad = true})
    local k, v = dnn.randn(1, 2, 5, 3), dnn.randn(1, 2, 5, 2)
    local m = dnn.ones(1, 1, 4, 5)
    m[1][1][2]:fill(0)
    local y = dnn.scaled_dot_product_attention(q, k, v, {mask = m})
    H.assert_close(y:select(3, 2), dnn.zeros(1, 2, 2), 0)
    H.assert_close(y:select(3, 1), explicit(q, k, v, m):select(3, 1), 1e-5)
    y:sum():backward()
    H.assert_close(q.grad:select(3, 2), dnn.zeros(1, 2, 3), 0)
    assert.is_true(q.grad:abs():sum():item() > 0)
  end)

  it("has gradients matching finite differences for q, k, v (masks, causal, scores)", function()
    dnn.manual_seed(3)
    local q = dnn.randn(2, 2, 3, 4, {requires_grad = true})
    local k = dnn.randn(2, 2, 5, 4, {requires_grad = true})
    local v = dnn.randn(2, 2, 5, 3, {requires_grad = true})
    local m = dnn.rand(2, 1, 3, 5):gt(0.3)
    for i = 1, 3 do m[1][1][i][i]:fill(1) end
    local w = dnn.randn(2, 2, 3, 3)
    for _, opts in ipairs{{}, {causal = true}, {mask = m}, {mask = m, causal = true, return_scores = true}} do
      local ok, err = dnn.autograd.gradcheck(function(a, b, c)
        local y, p = dnn.scaled_dot_product_attention(a, b, c, opts)
        local total = (y * w):sum()
        if p then total = total + (p * p):sum() end
        return total
      end, {q, k, v})
      assert(ok, err)
    end
  end)

  it("has gradients of gradients (create_graph) equal to the explicit ops'", function()
    dnn.manual_seed(4)
    local q, k = dnn.randn(1, 2, 3, 4, {requires_grad = true}), dnn.randn(1, 2, 4, 4, {requires_grad = true})
    local v = dnn.randn(1, 2, 4, 2, {requires_grad = true})
    local function second(f)
      local gq = dnn.grad(f(q, k, v):pow(2):sum(), {q}, {create_graph = true})
      return {dnn.grad((gq * gq):sum(), {k, v})}
    end
    local fused = second(function(a, b, c) return dnn.scaled_dot_product_attention(a, b, c, {causal = true}) end)
    local plain = second(function(a, b, c) return (explicit(a, b, c, nil, true)) end)
    H.assert_close(fused[1], plain[1], 1e-4)
    H.assert_close(fused[2], plain[2], 1e-4)
  end)

  it("refuses bad arguments with clear messages", function()
    local q, k, v = dnn.zeros(1, 2, 3, 4), dnn.zeros(1, 2, 5, 4), dnn.zeros(1, 2, 5, 3)
    H.assert_error({"bad argument #1 to 'attention'", "expected a 4-d q (batch, heads, Tq, d)"},
      function() dnn.scaled_dot_product_attention(dnn.zeros(2, 3, 4), k, v) end)
    H.assert_error({"bad argument #2", "to match q (1, 2, 3, 4)"},
      function() dnn.scaled_dot_product_attention(q, dnn.zeros(1, 2, 5, 3), v) end)
    H.assert_error({"bad argument #3", "expected v (1, 2, 5, dv)"},
      function() dnn.scaled_dot_product_attention(q, k, dnn.zeros(1, 2, 4, 3)) end)
    H.assert_error({"expected a mask broadcastable to (1, 2, 3, 5)", "got (1, 2, 3, 4)"},
      function() dnn.scaled_dot_product_attention(q, k, v, {mask = dnn.ones(1, 2, 3, 4)}) end)
    H.assert_error({"unknown option 'causl'"}, function() dnn.scaled_dot_product_attention(q, k, v, {causl = true}) end)
    H.assert_error({"expected scale > 0"}, function() dnn.scaled_dot_product_attention(q, k, v, {scale = 0}) end)
    H.assert_error({"bad option 'mask' (tensor expected"},
      function() dnn.scaled_dot_product_attention(q, k, v, {mask = 1}) end)
  end)
end)

-- The layer's output from its weights with the tensor ops (Keras's formulas); allowed (B, Tq, Tk) or nil.
local function explicit_mha(l, query, value, key, ok, causal)
  key = key or value
  local b = query.shape[1]
  local function heads(x, kernel, bias)
    local f, h, d = table.unpack(kernel.shape)
    return (dnn.matmul(x, kernel:reshape(f, h * d)) + bias:reshape(h * d)):reshape(b, x.shape[2], h, d):transpose(2, 3)
  end
  local q = heads(query, l.query_kernel, l.query_bias)
  local k = heads(key, l.key_kernel, l.key_bias)
  local v = heads(value, l.value_kernel, l.value_bias)
  local o, p = explicit(q, k, v, ok and ok:unsqueeze(2), causal)
  local h, dv, out = table.unpack(l.output_kernel.shape)
  local merged = o:transpose(2, 3):reshape(b, query.shape[2], h * dv)
  return dnn.matmul(merged, l.output_kernel:reshape(h * dv, out)) + l.output_bias, p
end

describe("MultiHeadAttention", function()
  it("keeps Keras's weights, order and counts, and both call forms", function()
    dnn.manual_seed(5)
    local mha = nn.MultiHeadAttention{num_heads = 2, key_dim = 4, value_dim = 3, output_shape = 5}
    local q, v, k = dnn.randn(3, 6, 7), dnn.randn(3, 4, 8), dnn.randn(3, 4, 9)
    local y = mha(q, v, k)
    H.assert_shape(y, {3, 6, 5})
    local names, shapes = {}, {{7, 2, 4}, {2, 4}, {9, 2, 4}, {2, 4}, {8, 2, 3}, {2, 3}, {2, 3, 5}, {5}}
    for i, w in ipairs(mha.weights) do
      names[i] = w.name
      H.assert_shape(w.tensor, shapes[i])
    end
    assert.are.same({"query_kernel", "query_bias", "key_kernel", "key_bias", "value_kernel", "value_bias",
                     "output_kernel", "output_bias"}, names)
    assert.are.equal(7 * 8 + 8 + 9 * 8 + 8 + 8 * 6 + 6 + 6 * 5 + 5, (mha:count_params()))
    H.assert_close(y, explicit_mha(mha, q, v, k), 1e-5)
    H.assert_close(mha{q, v, k}, y, 0)
    local plain = nn.MultiHeadAttention(2, 4, {use_bias = false})
    plain(q, q)
    assert.are.equal(3 * 7 * 8 + 8 * 7, (plain:count_params()))
    assert.are.equal(6, #plain.weights - 2 + 4) -- four kernels, no biases
  end)

  it("applies attention_mask, the causal mask and returns the scores", function()
    dnn.manual_seed(6)
    local mha = nn.MultiHeadAttention{num_heads = 2, key_dim = 3}
    local q, v = dnn.randn(2, 5, 4), dnn.randn(2, 6, 4)
    local m = dnn.rand(2, 5, 6):gt(0.4)
    for i = 1, 5 do m[1][i][i]:fill(1); m[2][i][i]:fill(1) end
    local y, s = mha(q, v, {attention_mask = m, return_attention_scores = true})
    local ey, es = explicit_mha(mha, q, v, nil, m)
    H.assert_close(y, ey, 1e-5)
    H.assert_close(s, es, 1e-6)
    H.assert_shape(s, {2, 2, 5, 6})
    H.assert_close(s:sum(-1), dnn.ones(2, 2, 5), 1e-5)
    local yc = mha(q, v, {use_causal_mask = true, attention_mask = m})
    H.assert_close(yc, (explicit_mha(mha, q, v, nil, m, true)), 1e-5)
  end)

  it("takes query and value masks from Embedding{mask_zero} in a functional model, as Keras", function()
    dnn.manual_seed(7)
    local ids_in = nn.Input{5}
    local emb = nn.Embedding(9, 6, {mask_zero = true})
    local x = emb(ids_in)
    local mha = nn.MultiHeadAttention{num_heads = 2, key_dim = 3}
    local y = mha(x, x)
    local model = nn.Model(ids_in, y)
    local ids = dnn.tensor{{1, 4, 2, 0, 0}, {3, 3, 5, 7, 0}}
    local mask = ids:ne(0)
    local e = emb(ids)
    local pair = mask:unsqueeze(3) * mask:unsqueeze(2) -- query and value masks combined
    local want = explicit_mha(mha, e, e, nil, pair)
    local got = model(ids)
    -- padded query rows have nothing allowed: zeros before the output projection (Keras: the values' mean)
    for b = 1, 2 do
      for t = 1, 5 do
        if mask[b][t]:item() == 1 then H.assert_close(got[b][t], want[b][t], 1e-5) end
      end
    end
    H.assert_close(got[1][4], mha.output_bias, 1e-6)
    H.assert_close(mha(e, e, {query_mask = mask, value_mask = mask}), got, 1e-6)
    H.assert_close(mha:compute_mask({e, e}, {mask, mask}), mask, 0)
  end)

  it("drops attention probabilities in training only, reproducibly with a seed", function()
    dnn.manual_seed(8)
    local q = dnn.randn(2, 4, 6)
    local a = nn.MultiHeadAttention{num_heads = 2, key_dim = 3, dropout = 0.5, seed = 3}
    local b = nn.MultiHeadAttention{num_heads = 2, key_dim = 3, dropout = 0.5, seed = 3}
    a(q, q)
    b(q, q)
    b:set_weights(a:get_weights())
    local eval = a(q, q, {training = false})
    H.assert_close(eval, explicit_mha(a, q, q), 1e-5)
    local ta, tb = a(q, q, {training = true}), b(q, q, {training = true})
    H.assert_close(ta, tb, 0)
    assert.is_true((ta - eval):abs():max():item() > 1e-3)
    ta:sum():backward()
    assert.truthy(a.query_kernel.grad)
  end)

  it("has gradients matching finite differences for its inputs and weights", function()
    dnn.manual_seed(9)
    local mha = nn.MultiHeadAttention{num_heads = 2, key_dim = 2, value_dim = 3}
    local q = dnn.randn(2, 3, 4, {requires_grad = true})
    local v = dnn.randn(2, 4, 3, {requires_grad = true})
    mha(q:detach(), v:detach())
    local m = dnn.ones(2, 3, 4)
    m[1][2][3]:fill(0)
    local w = {}
    for i, x in ipairs(mha.weights) do w[i] = x.tensor end
    local ok, err = dnn.autograd.gradcheck(function(qq, vv)
      local y = mha(qq, vv, {attention_mask = m, use_causal_mask = true})
      return (y * y):sum()
    end, {q, v, table.unpack(w)})
    assert(ok, err)
  end)

  it("saves and loads in a model file", function()
    dnn.manual_seed(10)
    local x = nn.Input{4, 6}
    local y = nn.MultiHeadAttention{num_heads = 3, key_dim = 2, output_shape = {5}}(x, x)
    local model = nn.Model(x, y)
    local path = os.tmpname() .. ".safetensors"
    model:save(path)
    local loaded = dnn.load_model(path)
    os.remove(path)
    local input = dnn.randn(2, 4, 6)
    H.assert_close(loaded(input), model(input), 0)
  end)

  it("refuses bad options, call forms and masks with clear messages", function()
    H.assert_error({"expected num_heads to be a positive integer"},
      function() nn.MultiHeadAttention{key_dim = 2} end)
    H.assert_error({"expected key_dim to be a positive integer, got number 0"},
      function() nn.MultiHeadAttention{num_heads = 2, key_dim = 0} end)
    H.assert_error({"unknown option", "num_head"}, function() nn.MultiHeadAttention{num_head = 2, key_dim = 2} end)
    H.assert_error({"expected dropout in [0, 1)"},
      function() nn.MultiHeadAttention{num_heads = 1, key_dim = 2, dropout = 1} end)
    H.assert_error({"expected output_shape to be a positive integer"},
      function() nn.MultiHeadAttention{num_heads = 1, key_dim = 2, output_shape = {2, 3}} end)
    local mha = nn.MultiHeadAttention{num_heads = 2, key_dim = 2}
    local q = dnn.zeros(2, 3, 4)
    H.assert_error({"expected mha(query, value[, key][, options])"}, function() mha(q) end)
    H.assert_error({"expected mha(query, value[, key][, options])"}, function() mha(q, {}) end)
    H.assert_error({"expected the query as (batch, timesteps, features), got (2, 4)"},
      function() nn.MultiHeadAttention{num_heads = 2, key_dim = 2}(dnn.zeros(2, 4), q) end)
    mha(q, q)
    H.assert_error({"MultiHeadAttention", "expected attention_mask of shape (2, 3, 3), got (2, 3)"},
      function() mha(q, q, {attention_mask = dnn.ones(2, 3)}) end)
    H.assert_error({"expected the value to have 4 features"}, function() mha(q, dnn.zeros(2, 3, 5)) end)
    H.assert_error({"key and value of one length"}, function() mha(q, q, dnn.zeros(2, 5, 4)) end)
    H.assert_error({"unknown option", "use_causal_mask"}, function() mha(q, q, {use_causal = true}) end)
    H.assert_error({"expected use_causal_mask = true or false"}, function() mha(q, q, {use_causal_mask = 1}) end)
  end)
end)

describe("attention against PyTorch", function()
  if not H.have_torch() then
    pending("PyTorch (python3-torch) is not installed: cross-check skipped")
    return
  end

  local function write(f, name, key, t)
    f:write(name, ".", key, " ", table.concat(t.shape, ","), ": ", H.torch_values(t:detach()), "\n")
  end

  -- A 0/1 mask with every query row allowed at least one key (PyTorch gives NaN for a row with none).
  local function some_allowed(...)
    local m = dnn.rand(...):gt(0.35)
    local shape = m.shape
    local flat = m:reshape(-1, shape[#shape])
    for r = 1, flat.shape[1] do flat[r][1]:fill(1) end
    return flat:reshape(table.unpack(shape))
  end

  it("agree with scaled_dot_product_attention and MultiHeadAttention on outputs and gradients", function()
    dnn.manual_seed(13)
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    local runs = {}
    -- scaled_dot_product_attention: name, B, H, Tq, Tk, d, dv, mask shape, causal
    for _, c in ipairs{{"s1", 2, 2, 5, 7, 4, 3, nil, false}, {"s2", 1, 3, 70, 70, 8, 8, nil, true},
                       {"s3", 2, 2, 66, 80, 4, 5, {2, 1, 66, 80}, false},
                       {"s4", 2, 2, 9, 9, 3, 3, {2, 2, 9, 9}, true}} do
      local name, b, h, tq, tk, d, dv, mshape, causal = table.unpack(c, 1, 9)
      local q = dnn.randn(b, h, tq, d, {requires_grad = true})
      local k = dnn.randn(b, h, tk, d, {requires_grad = true})
      local v = dnn.randn(b, h, tk, dv, {requires_grad = true})
      local m = mshape and some_allowed(table.unpack(mshape))
      local y = dnn.scaled_dot_product_attention(q, k, v, {mask = m, causal = causal})
      local gy = dnn.randn(table.unpack(y.shape))
      local loss = (y * gy):sum()
      loss:backward()
      f:write(string.format("case %s sdpa %d 0\n", name, causal and 1 or 0))
      for key, t in pairs{q = q, k = k, v = v, gy = gy, mask = m} do write(f, name, key, t) end
      runs[#runs + 1] = {name = name, y = y, grads = {dq = q.grad, dk = k.grad, dv = v.grad}}
    end
    -- MultiHeadAttention: name, heads, key_dim, value_dim, output_shape, Fq, Fv, Fk, Tq, Tk, mask, causal
    for _, c in ipairs{{"m1", 2, 4, 4, nil, 8, 8, nil, 5, 5, false, false},
                       {"m2", 2, 3, 3, nil, 6, 5, 7, 4, 6, true, false},
                       {"m3", 3, 2, 4, 5, 6, 6, nil, 6, 6, true, true},
                       {"m4", 2, 4, 4, nil, 8, 8, nil, 6, 6, false, true}} do
      local name, heads, kd, vd, out, fq, fv, fk, tq, tk, masked, causal = table.unpack(c, 1, 12)
      local l = nn.MultiHeadAttention{num_heads = heads, key_dim = kd, value_dim = vd, output_shape = out}
      local query = dnn.randn(2, tq, fq, {requires_grad = true})
      local value = dnn.randn(2, tk, fv, {requires_grad = true})
      local key = fk and dnn.randn(2, tk, fk, {requires_grad = true}) or nil
      l(query:detach(), value:detach(), key and key:detach())
      dnn.no_grad(function()
        for _, w in ipairs(l.weights) do w.tensor:copy(dnn.randn(table.unpack(w.tensor.shape)) * 0.5) end
      end)
      local m = masked and some_allowed(2, tq, tk) or nil
      local y = l(query, value, key, {attention_mask = m, use_causal_mask = causal})
      local gy = dnn.randn(table.unpack(y.shape))
      local loss = (y * gy):sum()
      loss:backward()
      f:write(string.format("case %s mha %d %d\n", name, causal and 1 or 0, heads))
      local tensors = {query = query, value = value, key = key, mask = m, gy = gy, wq = l.query_kernel,
                       bq = l.query_bias, wk = l.key_kernel, bk = l.key_bias, wv = l.value_kernel, bv = l.value_bias,
                       wo = l.output_kernel, bo = l.output_bias}
      for k2, t in pairs(tensors) do write(f, name, k2, t) end
      runs[#runs + 1] = {name = name, y = y, grads = {dquery = query.grad, dvalue = value.grad,
        dkey = key and key.grad, dwq = l.query_kernel.grad, dbq = l.query_bias.grad, dwk = l.key_kernel.grad,
        dbk = l.key_bias.grad, dwv = l.value_kernel.grad, dbv = l.value_bias.grad, dwo = l.output_kernel.grad,
        dbo = l.output_bias.grad}}
    end
    f:close()
    local ref, texts = H.run_torch_reference("attention_ref.py", path)
    os.remove(path)
    print("\n  PyTorch references used: " .. texts.impl)
    for _, run in ipairs(runs) do
      H.assert_close_to_reference(run.y, ref[run.name .. ".y"], 1e-4, run.name .. " output")
      for key, g in pairs(run.grads) do
        H.assert_close_to_reference(g, ref[run.name .. "." .. key], 1e-4, run.name .. " " .. key)
      end
    end
  end)
end)
