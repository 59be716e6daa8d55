-- dnn.inspect: plain tables as readable, depth- and length-limited Lua
-- constructors (the REPL prints results with it).
local dnn = dnn or require "dnn"
local H = require "helpers"

describe("dnn.inspect", function()
  it("prints scalars as Lua writes them", function()
    assert.are.equal("42", dnn.inspect(42))
    assert.are.equal("0.5", dnn.inspect(0.5))
    assert.are.equal('"a\\nb"', dnn.inspect("a\nb"))
    assert.are.equal(1, select("#", dnn.inspect("a\nb")), "one result")
    assert.are.equal("nil", dnn.inspect(nil))
    assert.are.equal("true", dnn.inspect(true))
  end)

  it("prints a table as a constructor: the array, then the other keys in order", function()
    assert.are.equal("{1, 2, loss = {0.5, 0.25}}", dnn.inspect({1, 2, loss = {0.5, 0.25}}))
    assert.are.equal('{b = 2, c = 3, ["not a name"] = 1}', dnn.inspect({c = 3, b = 2, ["not a name"] = 1}))
    assert.are.equal("{[10] = 1}", dnn.inspect({[10] = 1}))
    assert.are.equal("{}", dnn.inspect({}))
  end)

  it("limits the depth and the items", function()
    assert.are.equal("{{{{...}}}}", dnn.inspect({{{{1}}}}, {depth = 3}))
    assert.are.equal("{{{...}}}", dnn.inspect({{{1}}}))
    assert.are.equal("{1, 2, ... (3 more)}", dnn.inspect({1, 2, 3, 4, 5}, {items = 2}))
    local long = {}
    for i = 1, 100 do long[i] = i end
    assert.truthy(dnn.inspect(long):find("... (80 more)", 1, true))
  end)

  it("marks a cycle instead of recursing", function()
    local t = {name = "loop"}
    t.self = t
    assert.are.equal('{name = "loop", self = <cycle>}', dnn.inspect(t, {depth = 5}))
  end)

  it("names tensors by their shape and objects by their own tostring", function()
    assert.are.equal("{w = tensor(shape={2,3})}", dnn.inspect({w = dnn.zeros(2, 3)}))
    local dense = dnn.nn.Dense(4)
    assert.are.equal(tostring(dense):gsub("\n.*", " ..."), dnn.inspect(dense))
    assert.truthy(dnn.inspect(print):match("^<function: "))
  end)

  it("rejects bad options with a clear error", function()
    H.assert_error({"inspect: expected an options table {depth, items}, got number"}, dnn.inspect, {}, 3)
    H.assert_error({"inspect: unknown option 'width' (valid options: depth, items)"}, dnn.inspect, {}, {width = 3})
    H.assert_error({"inspect: expected depth a positive integer, got 0"}, dnn.inspect, {}, {depth = 0})
  end)
end)
