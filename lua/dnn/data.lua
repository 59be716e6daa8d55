-- dnn.data
local M = {}

return M
