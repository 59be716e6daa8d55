-- dnn.losses.ctc: values and gradients against PyTorch's ctc_loss (float64,
-- tests/torch/ctc.py), a finite-difference check, hand-computed cases, the
-- thread count, and the errors.
local dnn = require "dnn"
local H = require "helpers"

local ctc = dnn.losses.ctc

-- A case: logits (n, t, c) drawn from seed, labels rows (1-based ids, padded with 0), lengths.
local function case(seed, n, t, c, rows, label_lengths, logit_lengths)
  dnn.manual_seed(seed)
  local s = 0
  for _, r in ipairs(rows) do s = math.max(s, #r) end
  local padded = {}
  for i, r in ipairs(rows) do
    padded[i] = {}
    for j = 1, s do padded[i][j] = r[j] or 0 end
  end
  return {logits = dnn.randn(n, t, c) * 2, labels = dnn.tensor(padded), label_lengths = label_lengths,
          logit_lengths = logit_lengths, n = n, t = t, c = c, s = s}
end

-- Writes each case {k, blank, zero_infinity} to a file; one run of tests/torch/ctc.py for all of them.
local function references(list)
  local paths = {}
  for i, c in ipairs(list) do
    local k, blank, zero_infinity = c[1], c[2], c[3]
    paths[i] = os.tmpname()
    local f = assert(io.open(paths[i], "w"))
    f:write(string.format("dims %d %d %d %d %d %d\n", k.n, k.t, k.c, k.s, blank, zero_infinity and 1 or 0))
    f:write("logits ", H.torch_values(k.logits), "\n")
    f:write("labels ", H.torch_values(k.labels), "\n")
    f:write("label_lengths ", table.concat(k.label_lengths, " "), "\n")
    f:write("logit_lengths ", table.concat(k.logit_lengths, " "), "\n")
    f:close()
  end
  local ok, ref = pcall(H.run_torch_reference, "ctc.py", table.unpack(paths))
  for _, p in ipairs(paths) do os.remove(p) end
  assert(ok, ref)
  return ref
end

-- got (a tensor) against want (numbers): within tol relative to 1 + |want|; inf and NaN where want has them.
local function assert_matches(got, want, what)
  got = got:reshape(-1):totable()
  assert(#got == #want, string.format("%s: %d values, PyTorch has %d", what, #got, #want))
  for i = 1, #want do
    local ok
    if want[i] == -9e300 then -- NaN (tests/torch/ctc.py)
      ok = got[i] ~= got[i]
    elseif math.abs(want[i]) == math.huge then
      ok = got[i] == want[i]
    else
      ok = math.abs(got[i] - want[i]) <= 1e-5 * (1 + math.abs(want[i]))
    end
    assert(ok, string.format("%s[%d]: dnnlua %.7g, PyTorch %.7g", what, i, got[i], want[i]))
  end
end

-- Our values and gradients against the reference's (its results for case i), NaN where it has NaN.
local function check_against_torch(ref, i, k, blank, zero_infinity)
  local opts = {label_lengths = k.label_lengths, logit_lengths = k.logit_lengths, blank = blank,
                zero_infinity = zero_infinity}
  opts.reduction = "none"
  assert_matches(ctc(k.labels, k.logits, opts), ref[i .. "_none"], i .. "_none")
  for _, reduction in ipairs({"mean", "sum"}) do
    local z = k.logits:clone()
    z.requires_grad = true
    opts.reduction = reduction
    local loss = ctc(k.labels, z, opts)
    assert_matches(loss, ref[i .. "_" .. reduction], i .. "_" .. reduction)
    loss:backward() -- gradients of an infinite loss too: NaN in its rows, as PyTorch's
    assert_matches(z.grad, ref[i .. "_grad_" .. reduction], i .. "_grad_" .. reduction)
  end
end

describe("dnn.losses.ctc", function()
  local cases = {
    -- repeated labels, a label length 0, shorter logit lengths
    random = function()
      return case(1, 4, 12, 6, {{2, 2, 3, 3, 2}, {4, 5, 6}, {}, {6, 6, 6, 2}}, {5, 3, 0, 4}, {12, 9, 7, 12})
    end,
    -- T barely long enough: 3 repeats need 5 steps, 3 distinct labels 3 steps
    tight = function() return case(2, 3, 6, 5, {{2, 2, 2}, {2, 3, 4}, {5, 4, 5}}, {3, 3, 3}, {5, 3, 3}) end,
    -- impossible: 3 repeats in 4 steps, 4 labels in 3 steps, next to a possible one
    impossible = function() return case(3, 3, 5, 4, {{2, 2, 2}, {2, 3, 4, 2}, {3, 2}}, {3, 4, 2}, {4, 3, 5}) end,
  }

  it("matches PyTorch's ctc_loss (values, reductions, gradients)", function()
    if not H.have_torch() then return pending("python3-torch is not installed") end
    local big = case(5, 6, 40, 20, {{3, 4, 5, 5, 6, 7, 8, 9, 10, 11}, {2, 2, 2, 2}, {20, 19, 18}, {5}, {7, 7}, {9}},
      {10, 4, 3, 1, 2, 1}, {40, 40, 40, 40, 40, 40})
    local list = {
      {cases.random(), 1, false}, {cases.tight(), 1, false}, {cases.impossible(), 1, false},
      {cases.impossible(), 1, true},
      {case(4, 2, 10, 5, {{1, 2, 1, 3}, {4, 4}}, {4, 2}, {10, 8}), 5, false}, -- the blank last, labels using class 1
      {big, 1, false}, -- a longer batch
    }
    local ref = references(list)
    for i, c in ipairs(list) do check_against_torch(ref, i, c[1], c[2], c[3]) end
  end)

  it("is the hand-computed value on a small case", function()
    -- T = 2, C = 2 (blank, a), label "a": paths (a, a), (a, blank), (blank, a): p = pa0 pa1 + pa0 pb1 + pb0 pa1
    local z = dnn.tensor({{{0.3, -0.2}, {-0.5, 0.9}}})
    local function softmax(a, b) local ea, eb = math.exp(a), math.exp(b) return ea / (ea + eb), eb / (ea + eb) end
    local b0, a0 = softmax(0.3, -0.2)
    local b1, a1 = softmax(-0.5, 0.9)
    local want = -math.log(a0 * a1 + a0 * b1 + b0 * a1)
    H.assert_close(ctc(dnn.tensor({{2}}), z, {reduction = "sum"}), want, 1e-6)
    -- "mean" divides by the label length first: labels "a a" need 3 steps, here 2: impossible
    assert.equal(math.huge, ctc(dnn.tensor({{2, 2}}), z):item())
    assert.equal(0, ctc(dnn.tensor({{2, 2}}), z, {zero_infinity = true}):item())
    -- an empty label: all blanks
    H.assert_close(ctc(dnn.tensor({{0}}), z, {reduction = "sum"}), -math.log(b0 * b1), 1e-6)
  end)

  it("passes a finite-difference gradient check", function()
    local k = cases.random()
    local z = k.logits:clone()
    z.requires_grad = true
    local ok, msg = dnn.autograd.gradcheck(function(x)
      return ctc(k.labels, x, {label_lengths = k.label_lengths, logit_lengths = k.logit_lengths})
    end, {z}, {eps = 1e-2, atol = 2e-3, rtol = 2e-2})
    assert(ok, msg)
    -- through a scaled "none" result as well
    ok, msg = dnn.autograd.gradcheck(function(x)
      local l = ctc(k.labels, x, {label_lengths = k.label_lengths, logit_lengths = k.logit_lengths, reduction = "none"})
      return (l * dnn.tensor({1, 2, 3, 4})):sum()
    end, {z}, {eps = 1e-2, atol = 2e-3, rtol = 2e-2})
    assert(ok, msg)
  end)

  it("reads lengths from tensors or tables, and labels up to the first 0", function()
    local k = cases.random()
    local a = ctc(k.labels, k.logits, {label_lengths = k.label_lengths, logit_lengths = k.logit_lengths,
                                       reduction = "none"})
    local b = ctc(k.labels, k.logits, {label_lengths = dnn.tensor(k.label_lengths),
                                       logit_lengths = dnn.tensor(k.logit_lengths), reduction = "none"})
    local c = ctc(k.labels, k.logits, {logit_lengths = k.logit_lengths, reduction = "none"})
    H.assert_close(b, a:totable(), 0)
    H.assert_close(c, a:totable(), 0)
  end)

  it("does not depend on the thread count", function()
    local k = case(6, 32, 30, 12, {{2, 3, 4, 4, 5}}, nil, nil)
    local rows = {}
    for i = 1, 32 do rows[i] = {2 + i % 5, 3 + i % 7, 4, 4, 5 + i % 3} end
    local labels = dnn.tensor(rows)
    local saved = dnn.get_num_threads()
    local results = {}
    for _, threads in ipairs({1, 2, 4}) do
      dnn.set_num_threads(threads)
      local z = k.logits:clone()
      z.requires_grad = true
      local loss = ctc(labels, z)
      loss:backward()
      results[#results + 1] = {loss:item(), z.grad:totable()}
    end
    dnn.set_num_threads(saved)
    for i = 2, #results do
      assert.equal(results[1][1], results[i][1])
      H.assert_close(results[i][2], results[1][2], 0)
    end
  end)

  it("refuses bad shapes, lengths, ids and options, naming the function", function()
    local z = dnn.randn(2, 5, 4)
    local y = dnn.tensor({{2, 3}, {3, 0}})
    H.assert_error({"dnn.losses.ctc", "expected logits (batch, time, classes)"}, ctc, y, dnn.randn(2, 5))
    H.assert_error({"dnn.losses.ctc", "expected labels (2, max_label_length)"}, ctc, dnn.tensor({{2}}), z)
    H.assert_error({"dnn.losses.ctc", "label_lengths[2] in 0..2", "got 3"}, ctc, y, z, {label_lengths = {2, 3}})
    H.assert_error({"dnn.losses.ctc", "logit_lengths[1] in 0..5", "got 6"}, ctc, y, z, {logit_lengths = {6, 5}})
    H.assert_error({"dnn.losses.ctc", "of 2 lengths"}, ctc, y, z, {logit_lengths = {5}})
    H.assert_error({"dnn.losses.ctc", "blank in 1..4", "got 5"}, ctc, y, z, {blank = 5})
    H.assert_error({"dnn.losses.ctc", "blank must be"}, ctc, y, z, {blank = 0})
    H.assert_error({"dnn.losses.ctc", "other than the blank", "got 1"}, ctc, dnn.tensor({{1}, {2}}), z)
    H.assert_error({"dnn.losses.ctc", "got 7"}, ctc, dnn.tensor({{7}, {2}}), z)
    H.assert_error({"dnn.losses.ctc", "got 2.5"}, ctc, dnn.tensor({{2.5}, {2}}), z)
    H.assert_error({"dnn.losses.ctc", "reduction must be"}, ctc, y, z, {reduction = "sum_over_batch_size"})
    H.assert_error({"dnn.losses.ctc", "unknown option 'blanks'"}, ctc, y, z, {blanks = 1})
    H.assert_error({"dnn.losses.ctc", "expected tensors (labels, logits)"}, ctc, {{2}}, z)
  end)
end)

describe("dnn.text CTC decoding", function()
  local log = math.log
  -- two steps of (blank 0.6, "a" 0.4): the best path is blank blank (0.36), but "a" has aa + a- + -a = 0.64
  local differ = dnn.tensor({{{log(0.6), log(0.4)}, {log(0.6), log(0.4)}}})

  it("greedy collapses repeats and drops blanks", function()
    -- steps: a a blank a b b blank (classes: 1 blank, 2 a, 3 b)
    local best = {2, 2, 1, 2, 3, 3, 1}
    local rows = {}
    for t, k in ipairs(best) do
      rows[t] = {}
      for c = 1, 3 do rows[t][c] = c == k and 2 or 0 end
    end
    local ids, scores = dnn.text.ctc_greedy_decode(dnn.tensor(rows))
    assert.same({{2, 2, 3}}, ids)
    H.assert_close(scores[1], 7 * (2 - math.log(math.exp(2) + 2)), 1e-5)
    -- logit_lengths cut the steps; blank elsewhere
    ids = dnn.text.ctc_greedy_decode(dnn.tensor({rows, rows}), {logit_lengths = {3, 7}, blank = 3})
    assert.same({{2, 1}, {2, 1, 2, 1}}, ids)
  end)

  it("beam search finds the labelling greedy misses", function()
    local g, gs = dnn.text.ctc_greedy_decode(differ)
    assert.same({{}}, g)
    H.assert_close(gs[1], log(0.36), 1e-6)
    local b, bs = dnn.text.ctc_beam_search_decode(differ)
    assert.same({{2}}, b)
    H.assert_close(bs[1], log(0.64), 1e-6)
    -- logits are taken through log_softmax: scaled probabilities decode the same
    b = dnn.text.ctc_beam_search_decode(differ + 3, {beam_width = 2})
    assert.same({{2}}, b)
  end)

  it("beam search scores are the CTC probability of the labelling", function()
    dnn.manual_seed(11)
    local z = dnn.randn(3, 6, 4)
    local ids, scores = dnn.text.ctc_beam_search_decode(z, {beam_width = 64})
    for b = 1, 3 do
      local labels = #ids[b] > 0 and dnn.tensor({ids[b]}) or dnn.zeros(1, 1)
      local nll = dnn.losses.ctc(labels, z:narrow(1, b, 1), {reduction = "sum"}):item()
      H.assert_close(scores[b], -nll, 1e-4)
    end
    -- threshold: math.huge skips nothing (the same here, where no class is 20 below the best); 0 extends prefixes
    -- only with each step's best class, so the result is greedy's when the blank never wins
    assert.same(ids, (dnn.text.ctc_beam_search_decode(z, {beam_width = 64, threshold = math.huge})))
    local peaky = dnn.tensor({{{-9, 4, -9}, {-9, -9, 4}, {-9, -9, 4}, {-9, 4, -9}}})
    assert.same({{2, 3, 2}}, (dnn.text.ctc_beam_search_decode(peaky, {threshold = 0})))
    -- a repeat needs a blank between: "a a" decodes from a, blank, a
    local rows = {{-5, 5, -5}, {5, -5, -5}, {-5, 5, -5}}
    assert.same({{2, 2}}, (dnn.text.ctc_beam_search_decode(dnn.tensor(rows))))
  end)

  it("refuses bad inputs, naming the function", function()
    H.assert_error({"dnn.text.ctc_greedy_decode", "expected logits"}, dnn.text.ctc_greedy_decode, dnn.zeros(4))
    H.assert_error({"dnn.text.ctc_beam_search_decode", "beam_width must be"}, dnn.text.ctc_beam_search_decode,
      differ, {beam_width = 0})
    H.assert_error({"dnn.text.ctc_greedy_decode", "blank must be at most 2"}, dnn.text.ctc_greedy_decode, differ,
      {blank = 3})
    H.assert_error({"dnn.text.ctc_greedy_decode", "logit_lengths[1]"}, dnn.text.ctc_greedy_decode, differ,
      {logit_lengths = {3}})
    H.assert_error({"dnn.text.ctc_beam_search_decode", "threshold must be"}, dnn.text.ctc_beam_search_decode,
      differ, {threshold = -1})
    H.assert_error({"unknown option 'beam'"}, dnn.text.ctc_beam_search_decode, differ, {beam = 3})
  end)
end)

describe("dnn.metrics.character_error_rate", function()
  local cer = dnn.metrics.character_error_rate
  it("is the edit distance over the reference length", function()
    assert.equal(3 / 7, cer("kitten", "sitting")) -- k->s, e->i, +g
    local rate, errors, total = cer({"abc", "x", ""}, {"abd", "xy", ""})
    assert.same({2 / 5, 2, 5}, {rate, errors, total})
    assert.equal(1 / 3, cer({2, 3}, {2, 3, 4}))
    assert.equal(0, cer({{2, 3}, {4}}, {{2, 3}, {4}}))
    assert.equal(2 / 2, cer("été", "et")) -- UTF-8 characters: é->e, drop é
    assert.equal(0, cer("", ""))
    assert.equal(math.huge, cer("a", ""))
  end)
  it("refuses mismatched lists and bad items", function()
    H.assert_error({"character_error_rate", "2 predictions for 1 references"}, cer, {"a", "b"}, {"a"})
    H.assert_error({"character_error_rate", "expected predictions[1] to be a string"}, cer, 5, "a")
    H.assert_error({"character_error_rate", "is not valid UTF-8"}, cer, "\xff", "a")
  end)
end)

describe("CTC end to end", function()
  it("trains a small model with fit on the CTC loss, and greedy decoding reads the labels back", function()
    dnn.manual_seed(1)
    -- T = 8 steps of 4 features; every second step turns one feature on, and the labels are those features in order
    local N, T, F, C = 256, 8, 4, 5
    local xs, rows = {}, {}
    for i = 1, N do
      xs[i], rows[i] = {}, {}
      for t = 1, T do
        xs[i][t] = {0, 0, 0, 0}
        local k = (i * 3 + t * (i % 3 + 1)) % F + 1
        if t % 2 == 0 then
          xs[i][t][k] = 1
          rows[i][#rows[i] + 1] = k + 1 -- id 1 is the blank
        end
      end
    end
    local model = dnn.nn.Sequential{dnn.nn.Input{shape = {T, F}}, dnn.nn.Dense(16, {activation = "relu"}),
                                    dnn.nn.Dense(C)}
    model:compile{optimizer = dnn.optim.Adam{learning_rate = 0.01},
                  loss = function(y, logits) return dnn.losses.ctc(y, logits) end}
    local h = model:fit(dnn.tensor(xs), dnn.tensor(rows), {epochs = 30, batch_size = 32, verbose = 0})
    assert.is_true(h.history.loss[30] < 0.05 * h.history.loss[1])
    local ids = dnn.text.ctc_greedy_decode(model:predict(dnn.tensor(xs)))
    assert.equal(0, dnn.metrics.character_error_rate(ids, rows))
  end)
end)
