-- dnn.activations: Keras's activations by name, each a function tensor ->
-- tensor over the tensor methods (C kernels with their backwards).
-- dnn.activations.get("relu") or dnn.activations.relu; get also passes a Lua
-- function through, so layers take either.
local strict = require "dnn.options"

local M = {}

-- Keras's names, in API.md's order (also the order error messages list them).
M.names = {"linear", "relu", "leaky_relu", "elu", "selu", "gelu", "sigmoid", "hard_sigmoid", "tanh", "softmax",
           "softplus", "swish"}

M.linear = function(x) return x end
M.relu = function(x) return x:relu() end
M.leaky_relu = function(x) return x:leaky_relu() end -- negative slope 0.2, Keras 3's default
M.elu = function(x) return x:elu() end               -- alpha 1
M.selu = function(x) return x:selu() end
M.gelu = function(x) return x:gelu() end             -- exact (erf), Keras's approximate = false
M.sigmoid = function(x) return x:sigmoid() end
M.hard_sigmoid = function(x) return x:hard_sigmoid() end -- Keras 3: relu6(x + 3) / 6
M.tanh = function(x) return x:tanh() end
M.softmax = function(x) return x:softmax(-1) end     -- over the last axis
M.softplus = function(x) return x:softplus() end
M.swish = function(x) return x:swish() end           -- x * sigmoid(x), Keras's silu

local valid = {}
for _, name in ipairs(M.names) do valid[name] = true end

-- Whether name is one of Keras's activation names.
function M.is_name(name)
  return valid[name] == true
end

-- get(name | function | nil) -> function; nil means linear. who names the
-- caller in errors ("Dense"); level is error()'s level (default: get's caller).
function M.get(spec, who, level)
  if spec == nil then return M.linear end
  if type(spec) == "function" then return spec end
  if type(spec) == "string" and valid[spec] then return M[spec] end
  local prefix = who and (who .. ": ") or ""
  if type(spec) ~= "string" then
    error(string.format("%sexpected an activation name or a function, got %s", prefix, strict.describe(spec)),
      (level or 1) + 1)
  end
  error(prefix .. strict.unknown_name("activation", spec, M.names), (level or 1) + 1)
end


-- ---- reference ----

--- @module dnn.activations Activations by name (Keras's)
-- Functions tensor -> tensor. Layers take the names as `activation = "relu"`.

--- dnn.activations.names
-- Keras's activation names this library has, in order.
-- @example print(table.concat(dnn.activations.names, " "))

--- dnn.activations.get(spec)
-- The activation function for a name, a function (passed through) or nil (linear).
-- @example local f = dnn.activations.get("relu")

--- dnn.activations.linear(x)
-- The identity.
-- @example local y = dnn.activations.linear(x)

--- dnn.activations.relu(x)
-- max(x, 0).
-- @example local y = dnn.activations.relu(x)

--- dnn.activations.leaky_relu(x)
-- x, or 0.2 x below 0 (Keras 3's slope).
-- @example local y = dnn.activations.leaky_relu(x)

--- dnn.activations.elu(x)
-- x, or e^x - 1 below 0.
-- @example local y = dnn.activations.elu(x)

--- dnn.activations.selu(x)
-- The scaled ELU.
-- @example local y = dnn.activations.selu(x)

--- dnn.activations.gelu(x)
-- The exact (erf) GELU.
-- @example local y = dnn.activations.gelu(x)

--- dnn.activations.sigmoid(x)
-- 1 / (1 + e^-x).
-- @example local y = dnn.activations.sigmoid(x)

--- dnn.activations.hard_sigmoid(x)
-- relu6(x + 3) / 6 (Keras 3).
-- @example local y = dnn.activations.hard_sigmoid(x)

--- dnn.activations.tanh(x)
-- Hyperbolic tangent.
-- @example local y = dnn.activations.tanh(x)

--- dnn.activations.softmax(x)
-- Softmax over the last axis.
-- @example local y = dnn.activations.softmax(x)

--- dnn.activations.softplus(x)
-- log(1 + e^x).
-- @example local y = dnn.activations.softplus(x)

--- dnn.activations.swish(x)
-- x * sigmoid(x) (SiLU).
-- @example local y = dnn.activations.swish(x)

return M
