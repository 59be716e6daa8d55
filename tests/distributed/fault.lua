-- A failing rank ends the whole job (issue 19). Run by tests/distributed/run.sh:
--   mpirun -np N dnnlua fault.lua error   rank 1 raises an error while the others wait in a barrier
--   mpirun -np N dnnlua fault.lua kill    rank 1 kills itself (SIGKILL) while the others wait
-- Either way mpirun must end every rank within seconds, never hang.
local how = arg[1]
dnn.distributed.init()
local rank = dnn.distributed.rank()
dnn.distributed.barrier()
if rank == 1 then
  if how == "error" then
    error("rank 1 fails on purpose")
  else
    local pid = io.open("/proc/self/stat"):read("l"):match("^(%d+)")
    os.execute("kill -KILL " .. pid)
  end
end
-- the others wait for rank 1, which never comes
dnn.distributed.barrier()
print("rank " .. rank .. " got past a barrier rank 1 never reached")
