-- The collector learns about tensors' storage: loops that make big tensors
-- keep a flat footprint without the user calling collectgarbage().
local dnn = dnn or require "dnn"
local H = require "helpers"

-- AddressSanitizer keeps freed blocks in a quarantine (256 MB by default)
-- and adds shadow memory, so its builds get a looser bound.
local BOUND_MB = H.sanitized() and 700 or 300

local function growth_mb(before)
  return (H.rss_kb() - before) / 1024
end

describe("memory", function()
  local rss0

  before_each(function()
    collectgarbage()
    collectgarbage()
    rss0 = H.rss_kb()
    assert.is_number(rss0)
  end)

  it("2000 tensors of 1 MB each stay below the bound", function()
    local peak = 0
    for i = 1, 2000 do
      local t = dnn.zeros(256 * 1024) -- 1 MB of float32
      t[1] = i
      if i % 100 == 0 then peak = math.max(peak, growth_mb(rss0)) end
    end
    assert.is_true(peak < BOUND_MB, ("RSS grew by %.0f MB (bound %d MB)"):format(peak, BOUND_MB))
  end)

  it("views and results of ops are accounted for too", function()
    local peak = 0
    local base = dnn.ones(512, 512) -- 1 MB
    for i = 1, 400 do -- 3 MB of results each: 1.2 GB in all
      local r = (base * i + 1):transpose(1, 2):contiguous()
      if i % 50 == 0 then peak = math.max(peak, growth_mb(rss0)) end
      assert(r.ndim == 2)
    end
    assert.is_true(peak < BOUND_MB, ("RSS grew by %.0f MB (bound %d MB)"):format(peak, BOUND_MB))
  end)

  it("an MLP-like forward/backward loop keeps a flat footprint", function()
    dnn.manual_seed(1)
    local x = dnn.randn(256, 512)
    local y = dnn.randn(256, 10)
    local w1 = dnn.randn(512, 512, {requires_grad = true})
    local w2 = dnn.randn(512, 10, {requires_grad = true})
    local function step()
      local h = x:matmul(w1):relu()
      local loss = ((h:matmul(w2) - y) ^ 2):mean()
      loss:backward()
      dnn.no_grad(function()
        w1:copy(w1 - w1.grad * 1e-6)
        w2:copy(w2 - w2.grad * 1e-6)
      end)
      w1.grad = nil
      w2.grad = nil
    end
    for _ = 1, 10 do step() end -- warm up: buffers and allocator pools settle
    local warm = growth_mb(rss0)
    local peak = 0
    for i = 1, 150 do
      step()
      if i % 20 == 0 then peak = math.max(peak, growth_mb(rss0)) end
    end
    assert.is_true(peak < BOUND_MB, ("RSS grew by %.0f MB (bound %d MB)"):format(peak, BOUND_MB))
    -- no steady leak: 150 steps make ~0.8 GB of temporaries
    assert.is_true(peak - warm < BOUND_MB / 2, ("RSS grew by %.0f MB after warm-up"):format(peak - warm))
  end)

  -- Lua's collector is paced by the Lua heap: the bigger it is, the more
  -- tensors die between its collections. The storage must bound that garbage
  -- itself (bindings/l_core.c), or a model's footprint creeps up with every
  -- epoch's history and logs (bench/soak.lua). Under AddressSanitizer freed
  -- blocks wait in a quarantine, so there is no bound to check.
  it("small tensors' garbage stays a few MB however big the Lua heap is", function()
    if H.sanitized() then return pending("AddressSanitizer keeps freed blocks in quarantine") end
    local keep = {}
    for i = 1, 200000 do keep[i] = {i} end -- ~12 MB of Lua heap: Lua alone would collect rarely
    local x = dnn.ones(32, 128) -- 16 KB, below the block cache: malloc's
    for i = 1, 400 do x:add(i) end -- warm up: the first collections paced by the storage
    local before, peak = H.rss_kb(), 0
    for i = 1, 3000 do -- 48 MB of results in all
      local r = x:add(i)
      assert(r.ndim == 2)
      if i % 50 == 0 then peak = math.max(peak, growth_mb(before)) end
    end
    assert.is_true(#keep == 200000)
    assert.is_true(peak < 4, ("RSS grew by %.1f MB after warm-up (bound 4 MB)"):format(peak))
  end)
end)
