-- dnn.nn
local M = {}

return M
