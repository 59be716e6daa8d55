-- Selecting every time step of a (32, T, 64) input that requires grad, then
-- backward: what a recurrent loop written in Lua does. Each step's backward
-- adds into one gradient buffer of the input, so the time grows linearly in
-- T (it grew as T^2 when each slice's backward made a full-size zero tensor).
-- Usage: dnnlua bench/slicing.lua [THREADS]; prints "slice_T<T>_ms <ms>" lines.
local dnn = require "dnn"
dnn.set_num_threads(tonumber(arg[1]) or dnn.get_num_threads())

local function run(T)
  local x = dnn.randn({32, T, 64}, {requires_grad = true})
  local total
  for t = 1, T do
    local s = x:select(2, t):sum()
    total = total and total + s or s
  end
  total:backward()
end

for _, T in ipairs{50, 100, 200, 400} do
  run(T) -- warm the allocator
  local reps = math.max(3, 800 // T)
  local start = os.clock()
  for _ = 1, reps do run(T) end
  local ms = (os.clock() - start) / reps * 1000
  print(string.format("slice_T%d_ms %.3f", T, ms))
  print(string.format("slice_T%d_us_per_step %.2f", T, ms * 1000 / T))
end
