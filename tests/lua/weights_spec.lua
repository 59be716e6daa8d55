-- Weights on disk: dnn.save_safetensors / load_safetensors from Lua,
-- model:save_weights / load_weights (every mismatch refused before a weight
-- changes), and files exchanged with Python (PyTorch) where it is installed.
local dnn = dnn or require "dnn"
local H = require "helpers"
local nn = dnn.nn

local function tmp(suffix)
  local p = os.tmpname()
  os.remove(p)
  return p .. suffix
end

local function error_of(fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, "expected an error")
  return tostring(err)
end

local function mlp(hidden, name_prefix)
  return nn.Sequential{
    nn.Dense(hidden, {input_shape = {4}, activation = "relu", name = name_prefix and name_prefix .. "1"}),
    nn.Dense(2, {name = name_prefix and name_prefix .. "2"}),
  }
end

describe("save_safetensors / load_safetensors", function()
  it("round-trips a map (sorted by name) and an ordered array, with metadata", function()
    local path = tmp(".safetensors")
    local a, b = dnn.randn(3, 2), dnn.randn(5)
    dnn.save_safetensors(path, {zeta = a, alpha = b}, {note = "hi", n = 3})
    local t, meta, names = dnn.load_safetensors(path)
    assert.are.same({"alpha", "zeta"}, names)
    assert.are.same(a:totable(), t.zeta:totable())
    assert.are.same(b:totable(), t.alpha:totable())
    assert.are.same({note = "hi", n = "3"}, meta)
    dnn.save_safetensors(path, {{"zeta", a}, {"alpha", b:reshape(5, 1)}})
    t, meta, names = dnn.load_safetensors(path)
    assert.are.same({"zeta", "alpha"}, names)
    assert.are.same({5, 1}, t.alpha.shape)
    assert.are.same({}, meta)
    os.remove(path)
  end)

  it("refuses bad arguments before writing", function()
    local path = tmp(".safetensors")
    assert.matches("expected a tensor for 'w', got number", error_of(dnn.save_safetensors, path, {w = 1}))
    assert.matches("not a mix", error_of(dnn.save_safetensors, path, {{"a", dnn.zeros(1)}, b = dnn.zeros(1)}))
    assert.matches("expected a name", error_of(dnn.save_safetensors, path, {{1, dnn.zeros(1)}}))
    assert.matches("given twice", error_of(dnn.save_safetensors, path, {{"a", dnn.zeros(1)}, {"a", dnn.zeros(1)}}))
    assert.matches("expected a string or number, got boolean",
      error_of(dnn.save_safetensors, path, {a = dnn.zeros(1)}, {flag = true}))
    assert.is_nil(io.open(path))
    assert.matches("cannot open", error_of(dnn.load_safetensors, path))
  end)
end)

describe("model:save_weights / load_weights", function()
  it("restore every weight by name, with the file's metadata", function()
    local path = tmp(".safetensors")
    local model = mlp(8, "enc")
    model:save_weights(path)
    local tensors, meta = dnn.load_safetensors(path)
    assert.are.equal("dnnlua", meta.format)
    assert.are.same({4, 8}, tensors["enc1/kernel"].shape)
    assert.are.same({2}, tensors["enc2/bias"].shape)

    local before = model:get_weights()
    local x = dnn.randn(3, 4)
    local y_before = model(x):totable()
    local other = mlp(8, "enc") -- same names, other random values
    assert.are_not.same(before[1]:totable(), other:get_weights()[1]:totable())
    local got = other:load_weights(path)
    assert.are.equal("dnnlua", got.format)
    for i, w in ipairs(other:get_weights()) do assert.are.same(before[i]:totable(), w:totable()) end
    assert.are.same(y_before, other(x):totable())
    os.remove(path)
  end)

  it("refuse a file that does not fit, naming the first difference, model untouched", function()
    local path = tmp(".safetensors")
    mlp(8, "m"):save_weights(path)
    local wider = mlp(16, "m")
    local kept = wider:get_weights()[1]:totable()
    local msg = error_of(wider.load_weights, wider, path)
    assert.matches("load_weights: .* 'm1/kernel' has shape %(4, 8%) in the file, %(4, 16%) in the model", msg)
    -- the error points at the caller's line
    assert.matches("weights_spec.lua:%d+: load_weights", error_of(function() wider:load_weights(path) end))
    assert.are.same(kept, wider:get_weights()[1]:totable())

    local renamed = mlp(8, "other")
    assert.matches("has no weight 'other1/kernel'", error_of(renamed.load_weights, renamed, path))

    local bigger = nn.Sequential{nn.Dense(8, {input_shape = {4}, name = "m1"}), nn.Dense(2, {name = "m2"}),
                                 nn.Dense(3, {name = "m3"})}
    assert.matches("has no weight 'm3/kernel'", error_of(bigger.load_weights, bigger, path))
    local smaller = nn.Sequential{nn.Dense(8, {input_shape = {4}, name = "m1"})}
    assert.matches("has weight 'm2/kernel', which the model does not have",
      error_of(smaller.load_weights, smaller, path))
    local lazy = nn.Sequential{nn.Dense(8, {name = "m1"})}
    assert.matches("has no weights yet", error_of(lazy.load_weights, lazy, path))
    assert.matches("load_weights: .*cannot open", error_of(wider.load_weights, wider, path .. ".missing"))
    assert.matches("save_weights: .*cannot create", error_of(wider.save_weights, wider, "/nonexistent-dir/w.st"))
    os.remove(path)
  end)
end)

describe("files exchanged with Python", function()
  if not H.have_torch() then
    pending("PyTorch (python3-torch) is not installed: exchange skipped")
    return
  end

  -- Writes safetensors by hand (struct + json, as the format's spec says),
  -- in F32, F16, BF16 and F64; then reads ours back and prints its sums.
  local script = [[
import json, struct, sys, torch
out, ours = sys.argv[1], sys.argv[2]
g = torch.Generator().manual_seed(0)
ts = {"w32": torch.randn(3, 4, generator=g), "w16": torch.randn(5, generator=g).half(),
      "wbf": torch.randn(2, 2, generator=g).bfloat16(), "w64": torch.randn(4, generator=g).double()}
names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64"}
header, blobs, off = {"__metadata__": {"writer": "python"}}, [], 0
for k, t in ts.items():
    b = t.contiguous().view(torch.uint8).numpy().tobytes()
    header[k] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
    blobs.append(b)
    off += len(b)
h = json.dumps(header).encode()
h += b" " * (-len(h) % 8)
with open(out, "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
for k, t in ts.items():
    print(k, " ".join("%.9g" % v for v in t.float().flatten().tolist()))
data = open(ours, "rb").read()
n = struct.unpack("<Q", data[:8])[0]
hdr = json.loads(data[8:8 + n])
print("meta", hdr["__metadata__"]["format"])
for k, v in hdr.items():
    if k == "__metadata__":
        continue
    b, e = v["data_offsets"]
    t = torch.frombuffer(bytearray(data[8 + n + b:8 + n + e]), dtype=torch.float32).reshape(v["shape"])
    print("ours", k, "x".join(str(s) for s in t.shape), "%.9g" % t.sum().item())
]]

  it("reads Python's file (dtypes converted) and Python reads ours", function()
    local script_path, theirs, ours = tmp(".py"), tmp(".safetensors"), tmp(".safetensors")
    local f = assert(io.open(script_path, "w"))
    f:write(script)
    f:close()
    local model = mlp(3, "py")
    model:save_weights(ours)
    local p = assert(io.popen(string.format("%s %s %s %s", H.python, script_path, theirs, ours)))
    local expected, read_back, meta = {}, {}, nil
    for line in p:lines() do
      local name, rest = line:match("^(%S+)%s*(.*)$")
      if name == "ours" then
        local k, shape, sum = rest:match("^(%S+) (%S+) (%S+)$")
        read_back[k] = {shape = shape, sum = tonumber(sum)}
      elseif name == "meta" then
        meta = rest
      else
        local values = {}
        for v in rest:gmatch("%S+") do values[#values + 1] = tonumber(v) end
        expected[name] = values
      end
    end
    assert(p:close(), "the Python script failed")

    local t, m = dnn.load_safetensors(theirs)
    assert.are.equal("python", m.writer)
    assert.are.same({3, 4}, t.w32.shape)
    assert.are.same({2, 2}, t.wbf.shape)
    for name, values in pairs(expected) do
      local got = t[name]:reshape(-1):totable()
      assert.are.equal(#values, #got)
      for i = 1, #values do
        assert(math.abs(got[i] - values[i]) <= 1e-6 * (1 + math.abs(values[i])),
          string.format("%s[%d]: %.9g, Python %.9g", name, i, got[i], values[i]))
      end
    end

    assert.are.equal("dnnlua", meta)
    for _, w in ipairs(model:named_weights()) do
      local r = read_back[w.name]
      assert(r, "Python did not find " .. w.name)
      assert.are.equal(table.concat(w.tensor.shape, "x"), r.shape)
      assert(math.abs(w.tensor:sum():item() - r.sum) < 1e-5)
    end
    os.remove(script_path)
    os.remove(theirs)
    os.remove(ours)
  end)
end)

describe("load_weights into a model built again", function()
  it("matches by position when only the layers' counters differ", function()
    local path = tmp(".safetensors")
    local function build() return nn.Sequential{nn.Dense(3, {input_shape = {2}}), nn.Dense(1)} end
    local a = build()
    a:save_weights(path)
    local b = build() -- dense_N+2, dense_N+3: other names, same structure
    assert.are_not.equal(a.layers[1].name, b.layers[1].name)
    b:load_weights(path)
    for i, w in ipairs(b:get_weights()) do assert.are.same(a:get_weights()[i]:totable(), w:totable()) end
    local other = nn.Sequential{nn.Dense(3, {input_shape = {2}}), nn.BatchNormalization(), nn.Dense(1)}
    assert.matches("has no weight 'batch_normalization.*/gamma' %(its weight 3 is 'dense.*/kernel'%)",
      error_of(other.load_weights, other, path))
    os.remove(path)
  end)

  it("saves and restores the optimizer's state with include_optimizer", function()
    local path = tmp(".safetensors")
    dnn.manual_seed(3)
    local x, y = dnn.randn(32, 4), dnn.randn(32, 1)
    local function build()
      local m = nn.Sequential{nn.Dense(5, {input_shape = {4}, activation = "tanh"}), nn.Dense(1)}
      m:compile{optimizer = "adam", loss = "mse"}
      return m
    end
    local a = build()
    a:fit(x, y, {epochs = 2, batch_size = 8, shuffle = false, verbose = 0})
    a:save_weights(path, {include_optimizer = true})
    local b = build()
    b:load_weights(path)
    assert.are.equal(a.optimizer.iterations, b.optimizer.iterations)
    -- one more identical epoch on both: same weights, because the moments came along
    a:fit(x, y, {epochs = 1, batch_size = 8, shuffle = false, verbose = 0})
    b:fit(x, y, {epochs = 1, batch_size = 8, shuffle = false, verbose = 0})
    for i, w in ipairs(b:get_weights()) do assert.are.same(a:get_weights()[i]:totable(), w:totable()) end
    assert.matches("include_optimizer needs a compiled model",
      error_of(function() nn.Sequential{nn.Dense(1, {input_shape = {1}})}:save_weights(path, {include_optimizer = true}) end))
    os.remove(path)
  end)
end)
