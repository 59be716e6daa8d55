-- The char-RNN of examples/char_rnn.lua against the same model trained in
-- PyTorch (issue 12, item 5): the same initial weights, the same batches in
-- the same order, Adam with the same learning-rate schedule; the validation losses
-- must agree before training (the model's mapping) and after a fixed number
-- of steps (the whole training: gradients and optimizer) within 2%. Skipped
-- with a message where PyTorch or the fortunes files are absent.
local H = require "helpers"
local dnnlua = os.getenv("DNNLUA") or "dnnlua"
local fortunes = "/usr/share/games/fortunes/cookie"

local function exists(path)
  local f = io.open(path)
  if f then f:close() end
  return f ~= nil
end

-- The output of a command, asserting that it succeeded.
local function run(command)
  local p = assert(io.popen(command .. " 2>&1"))
  local out = p:read("a")
  assert(p:close(), "failed: " .. command .. "\n" .. out)
  return out
end

local function number_after(text, label)
  local v = tonumber(text:match(label .. " (%-?[%d.]+)"))
  assert(v, "no '" .. label .. "' in:\n" .. text)
  return v
end

describe("the char-RNN against PyTorch", function()
  if not H.have_torch() then
    pending("PyTorch (python3-torch) is not installed: cross-check skipped")
    return
  end
  if not exists(fortunes) then
    pending("Debian's fortunes package is not installed: cross-check skipped")
    return
  end

  it("reaches the same validation loss after 100 Adam steps on the same batches", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. dir))
    -- One thread: the spec runs beside others under ctest -j.
    local ours = run(string.format("DNN_NUM_THREADS=1 %s %s/examples/char_rnn.lua --epochs 2 --steps 50 --units 64 "
      .. "--limit 100000 --export %s --out %s", dnnlua, H.source_dir, dir, dir))
    local theirs = run(string.format("%s %s/tests/torch/char_rnn_ref.py %s", H.python, H.source_dir, dir))
    os.execute("rm -r " .. dir)
    local ours0, theirs0 = number_after(ours, "initial validation loss"), number_after(theirs, "torch initial validation loss")
    local ours1, theirs1 = number_after(ours, "\nvalidation loss"), number_after(theirs, "torch validation loss")
    print(string.format("\nchar-RNN validation loss (nats/char): before training dnnlua %.6f, PyTorch %.6f; " ..
      "after 100 steps dnnlua %.6f, PyTorch %.6f (%.2f%% apart)", ours0, theirs0, ours1, theirs1,
      100 * math.abs(ours1 - theirs1) / theirs1))
    assert(math.abs(ours0 - theirs0) / theirs0 < 1e-4, "initial losses differ: the models are not the same")
    assert(ours1 < ours0 - 0.5, "training did not lower the loss enough to compare")
    assert(math.abs(ours1 - theirs1) / theirs1 < 0.02, "the validation losses after training differ by 2% or more")
  end)
end)
