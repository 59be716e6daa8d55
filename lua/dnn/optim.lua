-- dnn.optim
local M = {}

return M
