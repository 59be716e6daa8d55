-- The dnn library: the C core's functions plus the Lua modules built on them.
local C = require "dnn.core"

local dnn = {}
package.loaded.dnn = dnn -- submodules may require "dnn" while this runs

for name, value in pairs(C) do
  dnn[name] = value
end

return dnn
