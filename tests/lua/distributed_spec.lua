-- dnn.distributed in one process (issue 19): errors before init and on bad
-- arguments, and the collectives of a world of one (Open MPI's singleton: a
-- plain dnnlua not started by mpirun). The 2- and 4-rank tests run under
-- mpirun: tests/distributed/run.sh (ctest distributed_*).
local dnn = dnn or require "dnn"
local H = require "helpers"
local D = dnn.distributed

if not D.available() then
  describe("dnn.distributed without MPI", function()
    it("says how to get it", function()
      H.assert_error({"dnn.distributed.init", "built without MPI", "libopenmpi-dev"}, D.init)
      assert.are.equal(0, D.rank())
      assert.are.equal(1, D.size())
    end)
  end)
  return
end

-- The tests run in file order: the first block before init, the rest after.
describe("dnn.distributed before init", function()
  it("is a world of one that refuses the collectives with what to do", function()
    assert.is_false(D.is_initialized())
    assert.are.equal(0, D.rank())
    assert.are.equal(1, D.size())
    assert.is_nil(D.world())
    H.assert_error({"dnn.distributed.allreduce", "call dnn.distributed.init() first"}, D.allreduce, dnn.ones(2))
    H.assert_error({"dnn.distributed.broadcast", "init() first"}, D.broadcast, dnn.ones(2))
    H.assert_error({"dnn.distributed.barrier", "init() first"}, D.barrier)
    H.assert_error({"dnn.distributed.all_gather", "init() first"}, D.all_gather, dnn.ones(2))
  end)

  it("the error points at the caller's line", function()
    local err = H.error_of(function() D.allreduce(dnn.ones(2)) end)
    assert.truthy(err:find("distributed_spec.lua:%d+:"), err)
  end)
end)

describe("dnn.distributed in a world of one", function()
  it("init returns rank 0 of 1, twice", function()
    local rank, size = D.init()
    assert.are.equal(0, rank)
    assert.are.equal(1, size)
    assert.are.same({0, 1}, {D.init()})
    assert.is_true(D.is_initialized())
    assert.truthy(D.library():find("MPI"), D.library())
    assert.is_nil(D.world()) -- fit runs as in one process
  end)

  it("allreduce is in place and returns t, for every op", function()
    for _, op in ipairs{"sum", "mean", "max", "min"} do
      local t = dnn.tensor({{1, -2}, {3.5, 4}})
      local r = D.allreduce(t, {op = op})
      assert.are.equal(t, r)
      H.assert_close(t, {{1, -2}, {3.5, 4}})
    end
    -- a non-contiguous view is written back through the view
    local base = dnn.tensor({{1, 2}, {3, 4}})
    local col = base:transpose(1, 2)
    D.allreduce(col, {op = "mean"})
    H.assert_close(base, {{1, 2}, {3, 4}})
  end)

  it("broadcast, all_gather and barrier", function()
    local t = dnn.tensor({5, 6})
    assert.are.equal(t, D.broadcast(t, {root = 0}))
    H.assert_close(t, {5, 6})
    local g = D.all_gather(dnn.tensor({{1, 2, 3}}))
    H.assert_shape(g, {1, 1, 3})
    H.assert_close(g, {{{1, 2, 3}}})
    D.barrier()
  end)

  it("refuses bad arguments with the function's name", function()
    H.assert_error({"dnn.distributed.allreduce", "op must be", "\"mean\"", "got string 'avg'"}, D.allreduce,
      dnn.ones(2), {op = "avg"})
    H.assert_error({"dnn.distributed.allreduce", "unknown option 'ops'"}, D.allreduce, dnn.ones(2), {ops = "sum"})
    H.assert_error({"dnn.distributed.allreduce", "expected t to be a tensor", "got"}, D.allreduce, {1, 2})
    H.assert_error({"dnn.distributed.broadcast", "expected a root rank in 0..0, got 1"}, D.broadcast, dnn.ones(2),
      {root = 1})
    H.assert_error({"dnn.distributed.broadcast", "root must be a rank"}, D.broadcast, dnn.ones(2), {root = -1})
    H.assert_error({"dnn.distributed.all_gather", "expected t to be a tensor"}, D.all_gather, "x")
    H.assert_error({"dnn.distributed.broadcast_parameters", "expected a model or a list of tensors"},
      D.broadcast_parameters, 3)
    H.assert_error({"dnn.distributed.abort", "expected a message (string), got nil"}, D.abort)
    H.assert_error({"dnn.distributed.abort", "expected an exit code in 1..255, got number 0"}, D.abort, "x", 0)
    D.abort("a world of one has nothing to end: abort returns") -- and the spec goes on
    H.assert_error({"DistributedOptimizer", "expected an optimizer"}, D.DistributedOptimizer, {})
    H.assert_error({"DistributedOptimizer", "bucket_bytes must be an integer >= 1"}, D.DistributedOptimizer,
      dnn.optim.SGD{learning_rate = 0.1}, {bucket_bytes = 0})
    H.assert_error({"DistributedOptimizer", "overlap must be a boolean, got string"}, D.DistributedOptimizer,
      dnn.optim.SGD{learning_rate = 0.1}, {overlap = "yes"})
    H.assert_error({"DistributedOptimizer:backward", "expected the loss (a tensor), got nil"},
      D.DistributedOptimizer(dnn.optim.SGD{learning_rate = 0.1}).backward,
      D.DistributedOptimizer(dnn.optim.SGD{learning_rate = 0.1}))
    H.assert_error({"dnn.distributed.configure", "bucket_bytes must be"}, D.configure, {bucket_bytes = 0})
    H.assert_error({"dnn.distributed.configure", "first_bucket_bytes must be"}, D.configure,
      {first_bucket_bytes = 1.5})
    H.assert_error({"dnn.distributed.configure", "overlap must be true or false"}, D.configure, {overlap = 1})
    H.assert_error({"dnn.distributed.configure", "bucket_byte"}, D.configure, {bucket_byte = 8})
    H.assert_error({"dnn.distributed.timings", "reset must be a boolean"}, D.timings, {reset = 1})
  end)

  it("configure returns the settings before, and sets them", function()
    local before = D.configure{bucket_bytes = 1024}
    assert.are.same({bucket_bytes = 4 * 1024 * 1024, first_bucket_bytes = 256 * 1024,
                     overlap = os.getenv("DNN_DIST_OVERLAP") ~= "0"}, before)
    assert.are.equal(1024, D.configure(before).bucket_bytes)
    assert.are.same(before, D.configure{})
  end)

  it("timings start at zero and reset", function()
    local t = D.timings{reset = true}
    for _, k in ipairs{"steps", "backward", "after_backward", "wait", "buckets_during", "buckets_after",
                       "buckets_done_in_backward"} do
      assert.are.equal("number", type(t[k]), k)
    end
    assert.are.same({steps = 0, backward = 0, after_backward = 0, wait = 0, buckets_during = 0, buckets_after = 0,
                     buckets_done_in_backward = 0}, D.timings())
  end)

  it("DistributedOptimizer steps as its optimizer does, and passes the rest through", function()
    dnn.manual_seed(3)
    local function run(wrap)
      dnn.manual_seed(3)
      local w = dnn.randn(4, 3):requires_grad_()
      local opt = dnn.optim.Adam{learning_rate = 0.1, params = {w}}
      if wrap then opt = D.DistributedOptimizer(opt, {bucket_bytes = 8, overlap = wrap == "overlap"}) end
      for _ = 1, 3 do
        opt:zero_grad()
        local loss = (w * w):sum()
        if wrap then opt:backward(loss) else loss:backward() end
        opt:step()
      end
      return w:detach(), opt
    end
    local plain = run(false)
    H.assert_close(run("overlap"), plain, 0) -- a world of one: backward is the loss's
    local wrapped, opt = run("after")
    H.assert_close(wrapped, plain, 0)
    assert.are.equal(3, opt.iterations)
    assert.truthy(tostring(opt):find("DistributedOptimizer", 1, true))
    opt.learning_rate = 0.5
    assert.are.equal(0.5, opt.optimizer.learning_rate)
    assert.is_table(opt:get_state())
  end)

  it("broadcast_parameters keeps a model's weights (root 0 is this process)", function()
    local model = dnn.nn.Sequential{dnn.nn.Input{3}, dnn.nn.Dense(2)}
    local before = model:get_weights()
    D.broadcast_parameters(model)
    for i, w in ipairs(model:get_weights()) do H.assert_close(w, before[i], 0) end
  end)
end)
