-- dnn.datasets
local M = {}

return M
