-- dnn.help: the reference entries at run time (lua/dnn/help_data.lua, made
-- by scripts/reference.lua from the doc comments), found by value, by name
-- or by the end of a name, for classes, objects, tensors and modules.
local dnn = dnn or require "dnn"
local nn = dnn.nn
local help = require "dnn.help"
local H = require "helpers"

local function has(text, needle)
  assert(text:find(needle, 1, true), "expected '" .. needle .. "' in:\n" .. text)
end

describe("dnn.help", function()
  it("gives a function's signature, text, options with defaults and example", function()
    local text = help.text(dnn.zeros)
    has(text, "dnn.zeros(shape...[, options])")
    has(text, "requires_grad=false")
    has(text, "local z = dnn.zeros(3, 2, {requires_grad = true})")
    -- an alias maps to its entry: dnn.exp is dnn.Tensor:exp
    has(help.text(dnn.exp), "dnn.Tensor:exp()")
    has(help.text(dnn.nn.Model.fit), "dnn.nn.Model:fit(")
  end)

  it("agrees with the parsed doc comments for every entry", function()
    package.path = H.source_dir .. "/scripts/?.lua;" .. package.path
    local ref = require("reference").load(H.source_dir)
    for name, e in pairs(ref.by_name) do
      if not e.entries then has(help.text(name), e.signature) end
    end
  end)

  it("finds names: full, without dnn., and by an unambiguous end", function()
    has(help.text("dnn.nn.Model:fit"), "Trains for a number of epochs")
    has(help.text("nn.Dense"), "dnn.nn.Dense(units")
    has(help.text("Dense"), "dnn.nn.Dense(units")
    has(help.text("EarlyStopping"), "dnn.callbacks.EarlyStopping(")
    has(help.text("dnn.losses"), "sparse_categorical_crossentropy")
  end)

  it("lists the candidates of an ambiguous name", function()
    local text = help.text("fit")
    has(text, "'fit' names 2 entries")
    has(text, "dnn.nn.Model:fit")
    has(text, "dnn.text.Tokenizer:fit")
  end)

  it("says an unknown name is unknown and suggests close ones", function()
    local text = help.text("Dnse")
    has(text, "no reference entry for 'Dnse'")
    has(text, "Did you mean: dnn.nn.Dense?")
    has(help.text("nosuchthingatall"), "no reference entry for 'nosuchthingatall'")
    assert.is_nil(help.text("nosuchthingatall"):find("Did you mean", 1, true))
  end)

  it("says what it cannot describe: a value outside dnn, a number, nil", function()
    has(help.text(print), "no reference entry for this function: it is not part of dnn's API")
    has(help.text(function() end), "(defined at ")
    has(help.text(42), "no reference entry for a number (42)")
    has(help.text(nil), "a nil")
    has(help.text({}), "no reference entry for this table")
  end)

  it("gives a class its entry and its methods, inherited ones with their class", function()
    local text = help.text(nn.Dense)
    has(text, "dnn.nn.Dense(units[, activation][, options])")
    has(text, "Methods (help \"dnn.nn.Dense:name\" for one):")
    assert(text:find("\n  get_weights%s+Copies of the weights.-%(dnn%.nn%.Layer%)"), text)
  end)

  it("describes a layer, a model and an optimizer object by its class", function()
    local model = nn.Sequential{nn.Dense(3, {input_shape = {4}, name = "hidden"}), nn.Dense(1)}
    local text = help.text(model)
    has(text, "'sequential")
    has(text, "an instance of dnn.nn.Sequential")
    assert(text:find("\n  fit%s+Trains"), text)
    assert(text:find("\n  pop%s+Removes the last layer"), text)
    has(help.text(model.layers[1]), "'hidden': an instance of dnn.nn.Dense")
    local text_opt = help.text(dnn.optim.Adam{params = model:parameters()})
    has(text_opt, "An instance of dnn.optim.Adam")
    has(text_opt, "beta_1=0.9")
    assert(text_opt:find("\n  zero_grad%s+Clears the gradients"), text_opt)
  end)

  it("lists a tensor's fields and methods", function()
    local text = help.text(dnn.zeros(2, 3))
    has(text, "A tensor of shape {2, 3}")
    assert(text:find("\n  :sum%s+The sum of all elements"), text)
    assert(text:find("\n  %.shape%s+The dims"), text)
  end)

  it("lists a module's names with one-liners, and dnn's modules", function()
    local text = help.text(dnn.losses)
    has(text, "dnn.losses: Losses (Keras's)")
    assert(text:find("\n  mean_squared_error%s+The mean of"), text)
    local top = help.text(dnn)
    has(top, "Modules (help(dnn.nn)")
    assert(top:find("\n  dnn%.optim%.schedules%s+Learning%-rate schedules"), top)
    assert(top:find("\n  zeros%s+A tensor of zeros"), top)
  end)

  it("with no argument says how to use it, and dnn.help prints the text", function()
    has(help.text(), "help(x): the reference entry of x")
    local printed = {}
    local saved = print
    _G.print = function(s) printed[#printed + 1] = s end
    local ok, err = pcall(dnn.help, dnn.zeros)
    _G.print = saved
    assert(ok, err)
    has(printed[1], "dnn.zeros(shape...")
  end)
end)
