-- dnn.tensor
local M = {}

return M
