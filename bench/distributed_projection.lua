-- docs/distributed.md's projection of data-parallel training to larger runs:
-- the ring-allreduce cost model applied to the example models' gradients.
--   dnnlua bench/distributed_projection.lua [STEP_MS=88 [LOCAL_ALPHA_US LOCAL_BUSBW_MBS N...]]
-- STEP_MS: one rank's compute time per step of train_cnn (measured: one
-- process, one thread, batch 64; bench/distributed_scaling.sh prints it as
-- samples/s). With LOCAL_*, also the model's prediction of one allreduce of
-- train_cnn's gradient on this machine for each N, to set against
-- bench/allreduce.lua run under mpirun --oversubscribe.
--
-- The model (Thakur et al. 2005; Patarasuk and Yuan 2009): a ring allreduce
-- of S bytes over N ranks sends 2 (N - 1) messages of S / N bytes from each
-- rank, so
--   t_ring(S, N) = 2 (N - 1) alpha + 2 (N - 1) / N * S / beta
-- alpha the latency of one message, beta a link's bandwidth (bytes/s). A
-- step of fit makes, besides the gradient's ring (which carries the step's
-- loss too), three latency-bound collectives: the stop flag's allreduce and
-- the header each of the two calls agrees on first (an allgather of 104
-- bytes per rank), each ~ 2 log2(N) alpha:
--   t_step_comm = t_ring(4 P, N) + 3 * 2 log2(N) alpha      (P parameters)
-- fit does not overlap the exchange with the backward pass (docs/distributed.md),
-- so a step costs t_compute + t_step_comm and the efficiency of N nodes
-- against one (weak scaling, batch per node fixed) is
--   E = t_compute / (t_compute + t_step_comm).
local step_ms = tonumber(arg[1]) or 88

-- Parameters of the example models (model:parameters(), counted from the
-- examples' own models at their default flags).
local MODELS = {
  {"train_mlp", 669706},
  {"train_cnn", 206970},
  {"train_cnn --full", 241770},
  {"vit", 203530},
  {"regularization", 269322},
  {"text_classification", 32004},
  {"timeseries", 4385},
}
-- Networks: a link's bandwidth and one message's latency (MPI over TCP on
-- 10 GbE; over RDMA on 100 Gb/s InfiniBand or RoCE). Typical published
-- figures, not measured here.
local NETS = {
  {"10 Gb/s Ethernet (TCP)", 10e9 / 8, 25e-6},
  {"100 Gb/s InfiniBand (RDMA)", 100e9 / 8, 2e-6},
}
local NODES = {8, 64}

local function ring(bytes, n, beta, alpha) return 2 * (n - 1) * alpha + 2 * (n - 1) / n * bytes / beta end
local function step_comm(params, n, beta, alpha)
  return ring(4 * params, n, beta, alpha) + 3 * 2 * math.log(n, 2) * alpha
end

print("Bytes each rank sends per step (ring allreduce of the float gradients, 2 (N-1)/N x 4 P):")
print(string.format("| model | parameters | gradient | sent per rank, N = 8 | N = 64 |"))
print("| --- | ---: | ---: | ---: | ---: |")
for _, m in ipairs(MODELS) do
  local g = 4 * m[2]
  print(string.format("| %s | %d | %.2f MB | %.2f MB | %.2f MB |", m[1], m[2], g / 1e6, 2 * 7 / 8 * g / 1e6,
    2 * 63 / 64 * g / 1e6))
end
print()
print(string.format("train_cnn at %.0f ms of compute per step: communication per step and efficiency", step_ms))
print("| network | N | comm per step | efficiency |")
print("| --- | ---: | ---: | ---: |")
for _, net in ipairs(NETS) do
  for _, n in ipairs(NODES) do
    local t = step_comm(206970, n, net[2], net[3])
    print(string.format("| %s | %d | %.2f ms | %.1f%% |", net[1], n, t * 1e3, 100 * step_ms / (step_ms + t * 1e3)))
  end
end
print()
print("Compute per step needed for 90% efficiency (t_compute >= 9 t_comm), each model:")
print("| model | 10 GbE, N = 8 | 10 GbE, N = 64 | 100 Gb/s, N = 8 | 100 Gb/s, N = 64 |")
print("| --- | ---: | ---: | ---: | ---: |")
for _, m in ipairs(MODELS) do
  local cells = {}
  for _, net in ipairs(NETS) do
    for _, n in ipairs(NODES) do cells[#cells + 1] = string.format("%.1f ms", 9e3 * step_comm(m[2], n, net[2], net[3])) end
  end
  print(string.format("| %s | %s |", m[1], table.concat(cells, " | ")))
end

local alpha_us, busbw = tonumber(arg[2]), tonumber(arg[3])
if alpha_us and busbw then
  print()
  print(string.format("This machine (alpha %.1f us, bus bandwidth %.0f MB/s from 2 ranks): one allreduce of train_cnn's "
    .. "gradient (%d bytes)", alpha_us, busbw, 4 * 206970))
  for i = 4, #arg do
    local n = tonumber(arg[i])
    -- the bus bandwidth measured at 2 ranks is beta itself (2 (N-1)/N = 1)
    print(string.format("  N = %d: predicted %.2f ms", n, ring(4 * 206970, n, busbw * 1e6, alpha_us * 1e-6) * 1e3))
  end
end
