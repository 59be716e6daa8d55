-- dnn.distributed: data-parallel training over MPI (docs/distributed.md).
--
--   mpirun -np 4 dnnlua train.lua        -- the same script on 4 processes
--   dnn.distributed.init()               -- then model:fit shards the data
--
-- Each process ("rank", 0..size-1 as in MPI) holds the whole model. fit gives
-- each rank its share of every global batch (size x batch_size samples drawn
-- from one permutation, broadcast from rank 0), sums the ranks' gradients
-- weighted by their shares (so the step is the one a single process would
-- take on the global batch), averages batch norm's moving statistics at the
-- end of each epoch, reduces the loss and metrics, and leaves progress and
-- files to rank 0. The collectives work in place on tensors; the C under
-- them is core/src/distributed.c.
local dnn = require "dnn"
local C = require "dnn.core"
local options = require "dnn.options"

local M = {}

local OPS = {sum = true, mean = true, max = true, min = true}
-- PyTorch DDP's default is 25 MiB; a smaller bucket starts the first
-- exchange sooner, and this is already far above the latency-bound size.
local DEFAULT_BUCKET_BYTES = 4 * 1024 * 1024
-- The first bucket (the last layers' gradients, final first in backward) is
-- smaller, as DDP's (1 MiB there), so that its exchange starts while the
-- earlier layers' backward still runs; 256 KiB is still past the
-- latency-bound sizes (docs/distributed.md).
local FIRST_BUCKET_BYTES = 256 * 1024

-- DNN_DIST_OVERLAP=0 starts every bucket after backward instead (the same sums).
local function overlap_default()
  local v = os.getenv("DNN_DIST_OVERLAP")
  return v == nil or v == "" or v ~= "0"
end

-- What fit's gradient step uses (configure sets it).
local config = {bucket_bytes = DEFAULT_BUCKET_BYTES, first_bucket_bytes = FIRST_BUCKET_BYTES}

-- Calls the C collective f, raising its error at the user's line.
local function call(f, ...)
  local ok, a = pcall(f, ...)
  if not ok then options.raise(tostring(a)) end
  return a
end

local function check_tensor(fname, t, what)
  if not C.is_tensor(t) then
    options.raise(string.format("dnn.distributed.%s: expected %s to be a tensor, got %s", fname, what or "t",
      options.describe(t)))
  end
end

function M.available() return C._dist_compiled() end

function M.init()
  call(C._dist_init)
  return C._dist_rank(), C._dist_size()
end

function M.is_initialized() return C._dist_initialized() end

function M.rank() return C._dist_rank() end

function M.size() return C._dist_size() end

function M.library() return C._dist_library() end

function M.allreduce(t, opts)
  check_tensor("allreduce", t)
  opts = options.check("dnn.distributed.allreduce", opts, {"op"})
  local op = opts.op or "sum"
  if not OPS[op] then
    options.raise(string.format("dnn.distributed.allreduce: op must be \"sum\", \"mean\", \"max\" or \"min\", got %s",
      options.describe(op)))
  end
  return call(C._dist_allreduce, t, op)
end

function M.broadcast(t, opts)
  check_tensor("broadcast", t)
  opts = options.check("dnn.distributed.broadcast", opts, {"root"})
  local root = opts.root or 0
  if math.type(root) ~= "integer" or root < 0 then
    options.raise(string.format("dnn.distributed.broadcast: root must be a rank (an integer >= 0), got %s",
      options.describe(root)))
  end
  return call(C._dist_broadcast, t, root)
end

function M.all_gather(t)
  check_tensor("all_gather", t)
  return call(C._dist_all_gather, t)
end

function M.barrier() call(C._dist_barrier) end

function M.configure(opts)
  local fn = "dnn.distributed.configure"
  opts = options.check(fn, opts, {"bucket_bytes", "first_bucket_bytes", "overlap"})
  options.check_numbers(fn, opts, {bucket_bytes = {min = 1, integer = true},
                                   first_bucket_bytes = {min = 1, integer = true}}, 2)
  if opts.overlap ~= nil then options.check_boolean(fn, "overlap", opts.overlap, 2) end
  local before = {bucket_bytes = config.bucket_bytes, first_bucket_bytes = config.first_bucket_bytes,
                  overlap = config.overlap == nil and overlap_default() or config.overlap}
  for k, v in pairs(opts) do config[k] = v end
  return before
end

function M.timings(opts)
  opts = options.check("dnn.distributed.timings", opts, {"reset"})
  if opts.reset ~= nil and type(opts.reset) ~= "boolean" then
    options.raise(string.format("dnn.distributed.timings: reset must be a boolean, got %s",
      options.describe(opts.reset)))
  end
  return C._dist_timings(opts.reset == true)
end

function M.abort(msg, code)
  if type(msg) ~= "string" then
    options.raise(string.format("dnn.distributed.abort: expected a message (string), got %s", options.describe(msg)))
  end
  if code ~= nil and (math.type(code) ~= "integer" or code < 1 or code > 255) then
    options.raise(string.format("dnn.distributed.abort: expected an exit code in 1..255, got %s",
      options.describe(code)))
  end
  C._dist_abort(msg, code or 1)
end

-- The parameters of a model, or a list of tensors as given.
local function tensors_of(fname, x)
  if type(x) == "table" and type(x.parameters) == "function" then return x:parameters() end
  if type(x) ~= "table" then
    options.raise(string.format("dnn.distributed.%s: expected a model or a list of tensors, got %s", fname,
      options.describe(x)))
  end
  for i, t in ipairs(x) do check_tensor(fname, t, string.format("[%d]", i)) end
  return x
end

function M.broadcast_parameters(x, opts)
  local list = tensors_of("broadcast_parameters", x)
  opts = options.check("dnn.distributed.broadcast_parameters", opts, {"root"})
  local root = opts.root or 0
  if type(x) == "table" and type(x.named_weights) == "function" then
    list = {}
    for _, w in ipairs(x:named_weights()) do list[#list + 1] = w.tensor end
  end
  dnn.no_grad(function()
    for _, t in ipairs(list) do call(C._dist_broadcast, t, root) end
  end)
end

-- The gradients of params (those that have one), and the tensors of
-- `extra`, summed over the ranks with each rank's weight `scale`; 1/size
-- averages them.
local function sync_grads(params, scale, bucket_bytes, extra)
  local grads = {}
  for _, p in ipairs(params) do
    if p.grad then grads[#grads + 1] = p.grad end
  end
  for _, t in ipairs(extra or {}) do grads[#grads + 1] = t end
  call(C._dist_allreduce_grads, grads, scale, bucket_bytes)
end

-- The reducer over params (made again when the list changes): the
-- gradient exchange overlapped with backward (core distributed.h).
local function reducer_for(owner, params, bucket_bytes, first_bucket_bytes)
  local r = rawget(owner, "_reducer")
  if not r or rawget(owner, "_reducer_params") ~= params or rawget(owner, "_reducer_n") ~= #params then
    r = call(C._dist_reducer, params, bucket_bytes, math.min(bucket_bytes, first_bucket_bytes))
    rawset(owner, "_reducer", r)
    rawset(owner, "_reducer_params", params)
    rawset(owner, "_reducer_n", #params)
  end
  return r
end

local function check_loss(fname, loss)
  if not C.is_tensor(loss) then
    options.raise(string.format("dnn.distributed.%s: expected the loss (a tensor), got %s", fname,
      options.describe(loss)))
  end
end

-- ---- DistributedOptimizer: the gradient average for custom loops ----

local DistributedOptimizer = {}

function DistributedOptimizer:backward(loss)
  check_loss("DistributedOptimizer:backward", loss)
  if not (C._dist_initialized() and C._dist_size() > 1) then return loss:backward() end
  local params = self.optimizer.params
  call(C._dist_reducer_backward, reducer_for(self, params, self.bucket_bytes, FIRST_BUCKET_BYTES), loss,
    1 / C._dist_size(), self.overlap)
  rawset(self, "_summed", true)
end

function DistributedOptimizer:step()
  if rawget(self, "_summed") then
    rawset(self, "_summed", false)
  elseif C._dist_initialized() and C._dist_size() > 1 then
    sync_grads(self.optimizer.params, 1 / C._dist_size(), self.bucket_bytes)
  end
  return self.optimizer:step()
end

function DistributedOptimizer:zero_grad() return self.optimizer:zero_grad() end

function DistributedOptimizer:__tostring() return "DistributedOptimizer(" .. tostring(self.optimizer) .. ")" end

DistributedOptimizer.__index = function(self, k)
  local own = rawget(DistributedOptimizer, k)
  if own ~= nil then return own end
  local inner = rawget(self, "optimizer")[k]
  if type(inner) == "function" then
    return function(s, ...)
      if s == self then s = rawget(self, "optimizer") end
      return inner(s, ...)
    end
  end
  return inner
end

DistributedOptimizer.__newindex = function(self, k, v) rawget(self, "optimizer")[k] = v end

M.DistributedOptimizer = setmetatable({}, {
  __call = function(_, opt, opts)
    if type(opt) ~= "table" or type(opt.step) ~= "function" or type(opt.params) ~= "table" then
      options.raise(string.format("dnn.distributed.DistributedOptimizer: expected an optimizer, got %s",
        options.describe(opt)))
    end
    opts = options.check("dnn.distributed.DistributedOptimizer", opts, {"bucket_bytes", "overlap"})
    local bucket = opts.bucket_bytes or DEFAULT_BUCKET_BYTES
    if math.type(bucket) ~= "integer" or bucket < 1 then
      options.raise(string.format("dnn.distributed.DistributedOptimizer: bucket_bytes must be an integer >= 1, got %s",
        options.describe(bucket)))
    end
    local overlap = opts.overlap
    if overlap == nil then overlap = overlap_default() end
    if type(overlap) ~= "boolean" then
      options.raise(string.format("dnn.distributed.DistributedOptimizer: overlap must be a boolean, got %s",
        options.describe(overlap)))
    end
    return setmetatable({optimizer = opt, bucket_bytes = bucket, overlap = overlap}, DistributedOptimizer)
  end,
})

-- ---- fit's side: the world, when there is more than one process ----

-- What fit asks of the world. fit calls M.world(); nil means one process and
-- fit runs as it always did.
local World = {}
World.__index = World

function M.world()
  if not C._dist_initialized() or C._dist_size() < 2 then return nil end
  local overlap = config.overlap
  if overlap == nil then overlap = overlap_default() end
  return setmetatable({rank = C._dist_rank(), size = C._dist_size(), bucket_bytes = config.bucket_bytes,
                       first_bucket_bytes = config.first_bucket_bytes, overlap = overlap}, World)
end

-- The callbacks that write files or print run on rank 0 only.
local WRITERS = {"ModelCheckpoint", "CSVLogger"}

function World:callbacks(list)
  if self.rank == 0 or type(list) ~= "table" then return list end
  local callbacks = require "dnn.callbacks"
  local out = {}
  for _, cb in ipairs(list) do
    local writer = false
    for _, name in ipairs(WRITERS) do
      if getmetatable(cb) == callbacks[name] then writer = true end
    end
    if not writer then out[#out + 1] = cb end
  end
  return out
end

-- The permutation of an epoch: every rank draws one (their generators stay
-- in step) and takes rank 0's.
function World:permutation(n)
  local perm = dnn.randperm(n) -- floats: exact up to 2^24 samples
  call(C._dist_broadcast, perm, 0)
  return perm
end

-- Global batches of size x batch_size: the number of steps of an epoch of n
-- samples. A last global batch smaller than the world is dropped (a rank
-- would have no sample).
function World:steps(n, batch_size)
  local global = self.size * batch_size
  local steps = n // global
  if n % global >= self.size then steps = steps + 1 end
  return steps
end

-- This rank's part of step's global batch: its first sample (1-based) and
-- count, and the global batch's count. Parts differ by one sample at most.
function World:shard(step, n, batch_size)
  local global_start = (step - 1) * self.size * batch_size
  local global_len = math.min(self.size * batch_size, n - global_start)
  local from = global_start + (self.rank * global_len) // self.size
  local to = global_start + ((self.rank + 1) * global_len) // self.size
  return from + 1, to - from, global_len
end

-- backward, with the gradients summed over the ranks as they become final,
-- each weighted by its share scale = len / global_len, which makes the mean
-- loss's gradient over the global batch.
function World:backward(loss, params, len, global_len)
  call(C._dist_reducer_backward, reducer_for(self, params, self.bucket_bytes, self.first_bucket_bytes), loss,
    len / global_len, self.overlap)
end

-- After backward: the step's loss and loss parts (numbers) summed over the
-- ranks, as a tensor divided by scale beforehand (so the sum is of len x
-- loss): returned over the global batch, with its count, for the progress
-- bar and the callbacks.
function World:sync_loss(len, global_len, loss, parts, n_parts)
  local scale = len / global_len
  local v = {len, loss * len}
  for i = 1, n_parts do v[2 + i] = (parts[i] or 0) * len end
  local stats = dnn.tensor(v) / scale
  sync_grads({}, scale, self.bucket_bytes, {stats})
  local s = stats:totable()
  local total = s[1]
  local global_parts = {}
  for i = 1, n_parts do
    if parts[i] then global_parts[i] = s[2 + i] / total end
  end
  return s[2] / total, global_parts, math.floor(total + 0.5)
end

-- The accumulators the metrics of dnn.metrics keep (sums and counts), summed
-- over the ranks at the end of an epoch.
local ACCUMULATORS = {"sum", "count", "tp", "fp", "fn", "support", "predicted", "positives"}

local function reduce_metric(m)
  if type(m) ~= "table" then return end
  if type(m.impl) == "table" then reduce_metric(m.impl) end
  for _, k in ipairs(ACCUMULATORS) do
    local v = rawget(m, k)
    if C.is_tensor(v) then
      call(C._dist_allreduce, v, "sum")
    elseif type(v) == "number" then
      local t = dnn.tensor({v})
      call(C._dist_allreduce, t, "sum")
      m[k] = t:item()
    end
  end
end

function World:reduce_metrics(metric_lists)
  for _, list in ipairs(metric_lists) do
    for _, m in ipairs(list) do reduce_metric(m) end
  end
end

-- Every rank takes rank 0's logs, so that callbacks decide alike.
function World:agree_logs(logs)
  local keys = {}
  for k, v in pairs(logs) do
    if type(v) == "number" then keys[#keys + 1] = k end
  end
  table.sort(keys)
  if #keys == 0 then return logs end
  local v = {}
  for i, k in ipairs(keys) do v[i] = logs[k] end
  local t = dnn.tensor(v)
  call(C._dist_broadcast, t, 0)
  local s = t:totable()
  for i, k in ipairs(keys) do logs[k] = s[i] end
  return logs
end

-- Whether any rank asked to stop.
function World:any(flag)
  local t = dnn.tensor({flag and 1 or 0})
  call(C._dist_allreduce, t, "max")
  return t:item() > 0
end

-- Batch norm's moving statistics, averaged at the end of each epoch (each
-- rank saw its own shards' batches).
function World:average_statistics(model)
  dnn.no_grad(function()
    for _, w in ipairs(model:named_weights()) do
      if w.name:match("/moving_mean$") or w.name:match("/moving_variance$") then
        call(C._dist_allreduce, w.tensor, "mean")
      end
    end
  end)
end

-- The end of an epoch: the metrics reduced, batch norm's statistics averaged.
function World:end_epoch(model, metric_lists)
  self:reduce_metrics(metric_lists)
  self:average_statistics(model)
end

-- The model's first batch builds a lazily built model (in inference mode,
-- no graph), then every rank takes rank 0's weights.
function World:start(model, build)
  if build then
    local was = model.training
    model:train(false)
    dnn.no_grad(build)
    model:train(was)
  end
  M.broadcast_parameters(model)
end

-- ---- the reference ----

--- @module dnn.distributed Data-parallel training over MPI
-- Run a script on N processes with `mpirun -np N dnnlua train.lua` and call
-- `dnn.distributed.init()` first: `model:fit` then gives each rank its share
-- of every global batch (N x `batch_size`), sums the gradients, averages batch
-- norm's moving statistics at each epoch's end and reports and writes files
-- from rank 0 only. The collectives below work in place on tensors; every
-- rank must call them in the same order with tensors of the same shape (a
-- mismatch is an error on every rank). See docs/distributed.md.

--- dnn.distributed.available()
-- Whether this dnnlua was built with MPI (Open MPI's libopenmpi-dev found at build time).
-- @example if dnn.distributed.available() then dnn.distributed.init() end

--- dnn.distributed.init()
-- Initialises MPI once (later calls do nothing) and returns this process's
-- rank and the world's size. Outside mpirun the world has one process.
-- Errors when dnnlua was built without MPI.
-- @return rank, size
-- @example local rank, size = dnn.distributed.init()

--- dnn.distributed.is_initialized()
-- Whether `init` has run in this process.
-- @example print(dnn.distributed.is_initialized())

--- dnn.distributed.rank()
-- This process's rank, 0 to size - 1 as MPI numbers them (0 before `init`).
-- @example if dnn.distributed.rank() == 0 then print("the first process") end

--- dnn.distributed.size()
-- The number of processes (1 before `init`).
-- @example print(dnn.distributed.size())

--- dnn.distributed.library()
-- The MPI library's version string ("" before `init` or without MPI).
-- @example print(dnn.distributed.library())

--- dnn.distributed.allreduce(t[, options])
-- In place on every rank: `t` becomes the sum (or mean, max, min) of all ranks' `t`.
-- @option op="sum" `"sum"`, `"mean"`, `"max"` or `"min"`
-- @return t
-- @example dnn.distributed.allreduce(grad, {op = "mean"})

--- dnn.distributed.broadcast(t[, options])
-- In place: every rank's `t` becomes the root's.
-- @option root=0 the rank whose values everyone takes
-- @return t
-- @example dnn.distributed.broadcast(weights, {root = 0})

--- dnn.distributed.all_gather(t)
-- A new tensor of shape `(size, ...)`: rank r's `t` at index r + 1.
-- @example local all = dnn.distributed.all_gather(dnn.tensor({dnn.distributed.rank()}))

--- dnn.distributed.barrier()
-- Returns on every rank once all ranks have called it.
-- @example dnn.distributed.barrier()

--- dnn.distributed.abort(msg[, code])
-- Ends the whole job now: prints `msg` with this rank's number and calls
-- `MPI_Abort`, which ends every rank (exit status `code`, default 1). Returns
-- when the world has one process. The `dnnlua` runner does this by itself
-- when a rank's script raises an error; a host of its own (`dnn.so` in a
-- stock lua5.4, an embedding program) calls it from its error handler.
-- @example local ok, err = pcall(train) if not ok then dnn.distributed.abort(tostring(err)) end

--- dnn.distributed.broadcast_parameters(model_or_tensors[, options])
-- Every weight of a model (trainable or not), or every tensor of a list, takes the root's values.
-- @option root=0 the rank whose weights everyone takes
-- @example dnn.distributed.broadcast_parameters(model)

--- dnn.distributed.configure(options)
-- Sets how the `fit` calls from now on exchange gradients, and returns the
-- settings before (a table of the three options). The gradients are summed
-- in buckets laid out from the last parameter to the first (the order
-- backward makes them final); each bucket's exchange starts as soon as all
-- its gradients are final, while backward still runs on the earlier layers.
-- @option bucket_bytes=4194304 the size of the buckets after the first
-- @option first_bucket_bytes=262144 the size of the first bucket (the last layers'), small so that it starts early
-- @option overlap=true whether exchanges start during backward (false: all after it, the same sums; `DNN_DIST_OVERLAP=0` in the environment makes false the default)
-- @example dnn.distributed.configure{bucket_bytes = 1024 * 1024}

--- dnn.distributed.timings([options])
-- Where the gradient steps of this process (fit's, and `DistributedOptimizer:backward`'s)
-- spent their time, summed since the start or the last reset: `steps`,
-- `backward` (seconds in the backward pass, the exchanges started during it
-- included), `after_backward` (seconds after it until the gradients were
-- summed), `wait` (the part of that spent waiting for the exchanges), and
-- `buckets_during` and `buckets_after` (buckets whose exchange started
-- during or after backward), `buckets_done_in_backward` (those whose
-- exchange had ended by the end of backward).
-- @option reset=false start the sums again from 0 (the values before are returned)
-- @example local t = dnn.distributed.timings() print(t.after_backward / t.steps)

--- dnn.distributed.DistributedOptimizer(optimizer[, options])
-- Wraps an optimizer for a custom training loop. `opt:backward(loss)` runs
-- `loss:backward()` and averages its gradients over the ranks while it runs:
-- each bucket's exchange starts as soon as backward has made its gradients
-- final (the last layers' first). `step()` then steps; after a plain
-- `loss:backward()` it averages the gradients first (bucketed allreduce).
-- Everything else is the wrapped optimizer's. With one process it is the
-- optimizer itself.
-- @option bucket_bytes=4194304 the size of the buckets the gradients are exchanged in (the first: at most 256 KiB)
-- @option overlap=true whether `backward` starts exchanges before it ends (false, or `DNN_DIST_OVERLAP=0` in the environment: every bucket after it, the same sums)
-- @example local opt = dnn.distributed.DistributedOptimizer(dnn.optim.Adam{params = model:parameters()})
-- @example opt:zero_grad(); opt:backward(loss); opt:step()

--- dnn.distributed.world()
-- What `fit` uses: nil unless `init` has run in a world of more than one
-- process; else an object with the sharding and reduction steps of fit.
-- @example local world = dnn.distributed.world()

return M
