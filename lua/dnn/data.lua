-- dnn.data: reading data files into tensors.
local core = require "dnn.core"

local M = {}

-- read_idx(path): an IDX file (MNIST family), gzip'd or plain, as a float
-- tensor of the file's dims holding the values as stored (0..255 for ubyte).
-- Errors name the path.
M.read_idx = core.read_idx

return M
