-- dnn.autograd
local M = {}

return M
