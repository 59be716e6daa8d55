-- The allreduce bandwidth of this MPI job, for docs/distributed.md's cost
-- model: for each message size, the mean time of an in-place sum allreduce
-- of that many bytes of floats, the algorithm bandwidth (bytes / time) and
-- the bus bandwidth (2 (N-1)/N bytes / time: what each rank's link carries
-- in a ring allreduce, comparable across N). Also times the gradient path
-- fit uses (bucketed MPI_Iallreduce) on one tensor of each size.
--   mpirun -np N dnnlua bench/allreduce.lua [MAX_MIB=64 [BYTES]]
-- With BYTES, that one size only (a model's gradient: 4 x its parameters).
local D = dnn.distributed
local rank, size = D.init()
local max_mib = tonumber(arg[1]) or 64
local only = tonumber(arg[2])
local C = require "dnn.core"

local function timed(t, reps, f)
  f(t) -- warm-up
  D.barrier()
  local t0 = dnn.wall_time()
  for _ = 1, reps do f(t) end
  D.barrier()
  local dt = (dnn.wall_time() - t0) / reps
  -- the slowest rank's time
  local m = D.allreduce(dnn.tensor({dt}), {op = "max"})
  return m:item()
end

if rank == 0 then
  print(string.format("%d ranks, %s", size, D.library()))
  print(string.format("%12s %12s %14s %14s %14s", "bytes", "us/allreduce", "algbw MB/s", "busbw MB/s",
    "grads us"))
end
local bytes = only or 4
while bytes <= (only or max_mib * 1024 * 1024) do
  local n = bytes // 4
  local t = dnn.ones(n)
  local reps = math.max(3, math.min(200, (64 * 1024 * 1024) // bytes))
  local dt = timed(t, reps, function(x) D.allreduce(x, {op = "sum"}) end)
  local g = timed(t, reps, function(x) C._dist_allreduce_grads({x}, 1 / size, 4 * 1024 * 1024) end)
  if rank == 0 then
    print(string.format("%12d %12.1f %14.1f %14.1f %14.1f", bytes, dt * 1e6, bytes / dt / 1e6,
      2 * (size - 1) / size * bytes / dt / 1e6, g * 1e6))
  end
  bytes = only and math.huge or bytes * 8
end
