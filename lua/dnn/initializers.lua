-- dnn.initializers: weight initializers by Keras name. Each is a function
-- (tensor, fan_in, fan_out) that fills the tensor in place and returns it.
local C = require("dnn.core")._nn

local initializers = {
  glorot_uniform = function(t, fan_in, fan_out) return C.init(t, "glorot_uniform", fan_in, fan_out) end,
  he_normal = function(t, fan_in) return C.init(t, "he_normal", fan_in) end,
  zeros = function(t) return t:zero() end,
}

-- An initializer from a name or a function; `what` names the caller in errors.
function initializers.get(spec, what)
  if type(spec) == "function" then return spec end
  local init = type(spec) == "string" and spec ~= "get" and initializers[spec]
  if not init then
    local names = {}
    for k in pairs(initializers) do
      if k ~= "get" then names[#names + 1] = k end
    end
    table.sort(names)
    error(string.format("%s: unknown initializer '%s' (expected one of %s)", what, tostring(spec),
      table.concat(names, ", ")), 3)
  end
  return init
end

return initializers
