-- dnn.losses: called as loss(y_true, y_pred), Keras's order; a 0-d tensor.
local C = require("dnn.core")._nn

local losses = {}

losses.mean_squared_error = C.mse_loss
losses.mse = C.mse_loss

-- binary_crossentropy(y_true, y_pred) or binary_crossentropy{from_logits = true}
-- to get a loss function that takes logits.
local function with_options(fn)
  return function(a, b)
    if getmetatable(a) == nil and type(a) == "table" and b == nil then
      local from_logits = a.from_logits == true
      return function(y_true, y_pred) return fn(y_true, y_pred, from_logits) end
    end
    return fn(a, b, false)
  end
end

losses.binary_crossentropy = with_options(C.binary_crossentropy)
losses.sparse_categorical_crossentropy = with_options(C.sparse_categorical_crossentropy)

-- A loss function from a name, a function, or a loss object.
function losses.get(spec)
  if type(spec) == "function" then return spec end
  local fn = losses[spec]
  if type(spec) ~= "string" or not fn or spec == "get" then
    error(string.format("unknown loss '%s'", tostring(spec)), 2)
  end
  return fn
end

return losses
