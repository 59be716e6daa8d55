-- The REPL's Tab completion (lua/dnn/completion.lua): complete(line, word)
-- gives the replacements of word, the end of line. The terminal test in
-- dnnlua_spec sends real Tabs; this one covers the cases.
local dnn = dnn or require "dnn"
local nn = dnn.nn
local completion = require "dnn.completion"
local help = require "dnn.help"

local function complete(line, word) return completion.complete(line, word or line) end

local function has(list, item)
  for _, v in ipairs(list) do if v == item then return true end end
  return false
end

describe("REPL completion", function()
  setup(function()
    _G.cmodel = nn.Sequential{nn.Dense(3, {input_shape = {4}}), nn.Dense(1)}
    _G.cx = dnn.randn(2, 3)
    _G.calls = 0
    _G.ccount = function() calls = calls + 1; return cmodel end
    _G.CSpy = nn.Layer:extend("CSpy") -- a class that counts its instances
    getmetatable(CSpy).__call = function(_, ...) calls = calls + 1; return CSpy.new(...) end
    function CSpy.new(options) return nn.Layer.init(CSpy, options or {}, "c_spy") end
    function CSpy:scale_by() end
  end)
  teardown(function() cmodel, cx, calls, ccount, CSpy = nil, nil, nil, nil, nil end)

  it("completes globals and keywords, and dotted names", function()
    assert.are.same({"collectgarbage"}, complete("collectg"))
    assert.are.same({"while"}, complete("whi"))
    assert.are.same({"dnn.zeros"}, complete("print(dnn.zer", "dnn.zer"))
    assert.are.same({"dnn.data.read_idx"}, complete("dnn.data.read_i"))
  end)

  it("offers a model's inherited methods: its class, Model's and Layer's", function()
    local list = complete("cmodel:")
    for _, m in ipairs({":pop", ":fit", ":compile", ":get_weights", ":summary"}) do
      assert.is_true(has(list, "cmodel" .. m), m)
    end
    assert.are.same({"cmodel:fit"}, complete("cmodel:fi"))
  end)

  it("evaluates index chains with literal keys and global names", function()
    assert.are.same({":get_weights"}, complete("cmodel.layers[1]:get_w", ":get_w"))
    assert.are.same({":get_config"}, complete("cmodel . layers [ 2 ] :get_c", ":get_c"))
    _G.ci = 2
    assert.are.same({":count_params"}, complete("cmodel.layers[ci]:count_p", ":count_p"))
    _G.ci = nil
    assert.are.same({}, complete("cmodel.layers[ci]:", ":")) -- nil: nothing to offer
    assert.are.same({}, complete("cmodel.layers[1 + 1]:", ":")) -- not a literal key
  end)

  it("completes what calling a class makes, without calling it", function()
    assert.are.same({":compute_output_shape"}, complete("dnn.nn.Dense(3):compute_o", ":compute_o"))
    assert.are.same({":compute_output_shape"}, complete("dnn.nn.Dense{3, activation = 'relu'}:compute_o", ":compute_o"))
    assert.are.same({":zero_grad"}, complete("dnn.optim.Adam():zero", ":zero"))
    assert.are.same({":scale_by"}, complete("CSpy(2):scale", ":scale"))
    assert.are.equal(0, calls)
  end)

  it("never calls a function or a method to complete", function()
    assert.are.same({}, complete("ccount():", ":"))
    assert.are.same({}, complete("ccount().layers[1]:", ":"))
    assert.are.same({}, complete("cmodel:get_layer('dense'):", ":"))
    assert.are.equal(0, calls)
  end)

  it("follows tensor methods that give tensors, and tensor fields after a dot", function()
    assert.are.same({":reshape"}, complete("cx:sum():resh", ":resh"))
    assert.are.same({":reshape"}, complete("cx:sum(1, true):relu():resh", ":resh"))
    assert.are.same({":sub", ":sub_", ":sum"}, complete("dnn.exp(cx):su", ":su"))
    assert.are.same({".shape"}, complete("cx:sum().sh", ".sh"))
    assert.are.same({"cx.shape"}, complete("cx.sh"))
    assert.are.same({}, complete("cx:item():", ":")) -- a number
    assert.are.same({}, complete("cx:size():", ":")) -- a table, not known without calling
  end)

  it("offers nothing after a concatenation, an unclosed call or an unknown name", function()
    assert.are.same({}, complete("a ..", ".."))
    assert.are.same({}, complete("cx:sum(:", ":"))
    assert.are.same({}, complete("nosuchglobal:", "nosuchglobal:"))
  end)

  -- The rule "a tensor method gives a tensor unless its entry says @return
  -- otherwise", checked on every method that needs no argument.
  it("has a @return on every tensor method that gives no tensor", function()
    for _, e in ipairs(help.module_entries("dnn.Tensor")) do
      local m = e.name:match("^dnn%.Tensor:([%w_]+)$")
      if m and e.signature:match("%(%[?.*%)$") and not e.signature:match("%(%a") then
        local t = dnn.randn(1)
        local ok, r = pcall(t[m], t)
        if ok and not dnn.is_tensor(r) then
          assert(e.returns and not e.returns:match("tensor"),
                 m .. " gives a " .. type(r) .. ": its entry needs a @return")
        elseif ok then
          assert(e.returns == nil or e.returns:match("tensor"), m .. " gives a tensor: its @return should say so")
        end
      end
    end
  end)
end)
