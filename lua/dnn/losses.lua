-- dnn.losses
local M = {}

return M
