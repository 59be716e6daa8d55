-- model:summary{batch_size = n}'s training-memory estimate against the
-- measured peak-RSS growth of a real training step (fit on one batch, with
-- Adam), for the models of the examples: the MLP and the CNN on
-- Fashion-MNIST, and a character LSTM (examples/char_rnn.lua's model) on a
-- Debian text. Each runs in its own process (training_memory_step.lua).
-- The batch sizes make each step take 100 to 250 MB, far above the noise.
local H = require "helpers"

local DNNLUA = os.getenv("DNNLUA")
local FASHION = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
local TEXT = "/usr/share/common-licenses/GPL-3"

local function exists(path)
  local f = io.open(path, "r")
  if f then f:close() end
  return f ~= nil
end

local function step(kind)
  local p = assert(io.popen(string.format("'%s' training_memory_step.lua %s 2>&1", DNNLUA, kind)))
  local out = p:read("a")
  p:close()
  local measured, estimate = out:match("measured=(%d+) estimate=(%d+)")
  assert(measured, out)
  return tonumber(measured), tonumber(estimate), out
end

local function assert_within(fraction, kind)
  local measured, estimate, out = step(kind)
  local off = (estimate - measured) / measured
  assert(math.abs(off) <= fraction, string.format("%s: estimate %.1f MB, measured %.1f MB (%+.0f%%)\n%s", kind,
                                                   estimate / 2^20, measured / 2^20, 100 * off, out))
  print(string.format("  %s: estimate %.1f MB, measured %.1f MB (%+.0f%%)", kind, estimate / 2^20, measured / 2^20,
                      100 * off))
end

describe("the training-memory estimate of summary{batch_size}", function()
  if not DNNLUA or H.sanitized() or not H.reset_peak_rss() then
    pending("needs DNNLUA (ctest sets it), an uninstrumented build and /proc/self/clear_refs")
    return
  end

  it("is within 25% of the MLP of examples/train_mlp.lua at batch 8192", function()
    if not exists(FASHION) then return pending("Fashion-MNIST is not installed") end
    assert_within(0.25, "mlp")
  end)

  it("is within 25% of the CNN of examples/train_cnn.lua at batch 512", function()
    if not exists(FASHION) then return pending("Fashion-MNIST is not installed") end
    assert_within(0.25, "cnn")
  end)

  it("is within 25% of a character LSTM (examples/char_rnn.lua's model) at batch 64 x 100 steps", function()
    if not exists(TEXT) then return pending(TEXT .. " is missing") end
    assert_within(0.25, "lstm")
  end)

  it("is within 25% of a character GPT (two blocks of examples/char_transformer.lua) at batch 32 x 128 steps",
    function()
      if not exists(TEXT) then return pending(TEXT .. " is missing") end
      assert_within(0.25, "gpt")
    end)
end)
