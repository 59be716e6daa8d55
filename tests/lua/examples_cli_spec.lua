-- The examples' command lines (examples/lib/args.lua, on lua-argparse):
-- --help prints the usage and a description and exits 0; a bad value, an
-- unknown flag or a missing value exits 2 with the usage and a message
-- naming the flag on stderr. Only the parsing runs: no example gets as far
-- as loading its data.
local H = require "helpers"
local DNNLUA = assert(os.getenv("DNNLUA"), "DNNLUA (the dnnlua binary) must be set; ctest sets it")

local function quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- Runs an example with the given (already quoted) arguments; returns its
-- stdout, its stderr and its exit status.
local function run_example(name, args)
  local command = quote(DNNLUA) .. " " .. quote(H.source_dir .. "/examples/" .. name .. ".lua") .. " " .. args
  local function capture(redirect)
    local p = assert(io.popen(command .. redirect))
    local text = p:read("a")
    local _, _, code = p:close()
    return text, code
  end
  local out, code = capture(" 2>/dev/null")
  local err, err_code = capture(" 2>&1 >/dev/null")
  assert.are.equal(code, err_code, "the two runs of " .. command .. " disagree")
  return out, err, code
end

-- Each example with a flag it takes and a value that flag refuses.
local BAD_VALUES = {
  augmentation = {"--index", "0"},
  autoencoder = {"--noise", "0"},
  char_rnn = {"--seq-len", "0"},
  char_transformer = {"--heads", "0"},
  detection = {"--epochs", "0"},
  ["distributed/train_cnn_mpi"] = {"--batch-size", "0"},
  feature_maps = {"--limit", "1.5"},
  gan = {"--score", "0"},
  ocr = {"--beam", "0"},
  regularization = {"--epochs", "many"},
  ["rl/dqn_cartpole"] = {"--steps", "0"},
  ["rl/pg_cartpole"] = {"--envs", "0"},
  seed_models = {"--epochs", "0"},
  segmentation = {"--size", "60"},
  style_transfer = {"--size", "0"},
  text_classification = {"--limit", "0"},
  timeseries = {"--units", "2.5"},
  train_cnn = {"--lr", "0"},
  train_mlp = {"--batch-size", "0"},
  transfer_learning = {"--per-class", "x"},
  vae = {"--latent", "0"},
  vit = {"--patch", "0"},
}

describe("the examples' command lines", function()
  it("covers every example, in subfolders too (not lib/, nor embed/: scripts for a C host)", function()
    local dir = H.source_dir .. "/examples"
    local p = assert(io.popen("cd " .. quote(dir) .. " && find . -name '*.lua' -not -path './lib/*' -not -path './embed/*'"))
    local count = 0
    for file in p:lines() do
      local name = file:match("^%./(.*)%.lua$")
      assert.truthy(BAD_VALUES[name], "examples_cli_spec has no bad value for " .. file)
      count = count + 1
    end
    p:close()
    assert(count >= 22, "found only " .. count .. " examples")
  end)

  for name, bad in pairs(BAD_VALUES) do
    local base = name:match("[^/]+$") -- an example in a subfolder shows its file name alone
    it(name .. " prints its usage and description with --help and exits 0", function()
      local out, err, code = run_example(name, "--help")
      assert.are.equal(0, code, err)
      assert.truthy(out:match("^Usage: " .. base .. "%.lua %[%-h%]"), out)
      assert.truthy(out:match("\n\n%u[^\n]+%.\n\nOptions:\n"), out) -- the one-line description
      assert.truthy(out:find(bad[1] .. " ", 1, true), out)
      assert.are.equal("", err)
    end)

    it(name .. " refuses " .. bad[1] .. " " .. bad[2] .. " with status 2", function()
      local out, err, code = run_example(name, bad[1] .. " " .. quote(bad[2]))
      assert.are.equal(2, code, err)
      assert.are.equal("", out)
      assert.truthy(err:match("^Usage: " .. base .. "%.lua"), err)
      assert.truthy(err:find("Error: " .. bad[1] .. " expects a positive", 1, true), err)
      assert.truthy(err:find("got '" .. bad[2] .. "'", 1, true), err)
    end)
  end

  it("refuses an unknown flag, a missing value, a negative value and a fractional seed with status 2", function()
    local _, err, code = run_example("train_mlp", "--epoch 3")
    assert.are.equal(2, code, err)
    assert.truthy(err:find("unknown option '--epoch'", 1, true), err)
    _, err, code = run_example("timeseries", "--data")
    assert.are.equal(2, code, err)
    assert.truthy(err:find("'--data' requires an argument", 1, true), err)
    _, err, code = run_example("train_cnn", "--lr=-0.1")
    assert.are.equal(2, code, err)
    assert.truthy(err:find("Error: --lr expects a positive number, got '-0.1'", 1, true), err)
    _, err, code = run_example("train_mlp", "--seed 1.5")
    assert.are.equal(2, code, err)
    assert.truthy(err:find("Error: --seed expects a non-negative integer, got '1.5'", 1, true), err)
  end)

  it("refuses an --out folder that does not exist before any work, in every example that takes one", function()
    local missing = os.tmpname()
    os.remove(missing) -- os.tmpname creates the file: its name is now free
    local checked = 0
    for name in pairs(BAD_VALUES) do
      local help = run_example(name, "--help")
      if help:find("--out DIR", 1, true) then
        local out, err, code = run_example(name, "--out " .. quote(missing))
        assert.are.equal(2, code, name .. ": " .. err)
        assert.are.equal("", out, name)
        assert.truthy(err:find("Error: --out expects an existing folder, got '" .. missing .. "'", 1, true), err)
        checked = checked + 1
      end
    end
    assert(checked >= 16, "only " .. checked .. " examples take --out DIR")
  end)

  it("checks char_rnn's --limit against --seq-len", function()
    local _, err, code = run_example("char_rnn", "--limit 500 --seq-len 100")
    assert.are.equal(2, code, err)
    assert.truthy(err:find("Error: --limit 500 leaves no validation window of 101 characters (needs --limit >= 909)",
      1, true), err)
  end)
end)

describe("examples/lib/args.lua's checks", function()
  local args = dofile(H.source_dir .. "/examples/lib/args.lua")

  it("convert text to numbers of the right kind and range", function()
    assert.are.equal(math.tointeger(3), args.positive_integer("3"))
    assert.are.equal("integer", math.type(args.positive_integer("1e3")))
    assert.are.equal(0, args.nonnegative_integer("0"))
    assert.are.equal(0.25, args.positive_number("0.25"))
  end)

  it("return nil and what they expected otherwise", function()
    for _, text in ipairs{"0", "-1", "2.5", "x", ""} do
      local value, expected = args.positive_integer(text)
      assert.is_nil(value, text)
      assert.are.equal("a positive integer", expected)
    end
    for _, text in ipairs{"-1", "1.5"} do
      assert.are.same({nil, "a non-negative integer"}, {args.nonnegative_integer(text)}, text)
    end
    for _, text in ipairs{"0", "-1e-3", "inf", "nan", "x"} do
      assert.are.same({nil, "a positive number"}, {args.positive_number(text)}, text)
    end
  end)
end)
