-- The dnn library: the C core's functions plus the Lua modules built on them.
local C = require "dnn.core"

local dnn = {}
package.loaded.dnn = dnn -- submodules may require "dnn" while this runs

for name, value in pairs(C) do
  dnn[name] = value
end

require "dnn.tensor" -- Lua-side tensor methods (printing) on the C metatable

-- The submodules load on first use (dnn.nn, dnn.optim, ...): a script that
-- uses a few of them does not pay for the others at start-up. Each name maps
-- to the function that loads what it stands for; the REPL's completion finds
-- the names through this upvalue of __index, as it finds a class's methods.
local function module(name)
  return function() return require(name) end
end
local lazy = {
  inspect = function() return require("dnn.inspect").inspect end,
  -- load_model finds layer classes by registered name: they register as dnn.nn loads
  load_model = function()
    require "dnn.nn"
    return require("dnn.serialize").load_model
  end,
}
for _, name in ipairs{"autograd", "activations", "nn", "losses", "optim", "regularizers", "initializers", "data",
                      "text", "augment", "datasets", "metrics", "callbacks", "image", "plot", "checkpoint",
                      "distributed", "onnx", "rl", "ops"} do
  lazy[name] = module("dnn." .. name)
end

setmetatable(dnn, {
  __index = function(t, name)
    local load = lazy[name]
    if not load then return nil end
    local v = load()
    rawset(t, name, v)
    -- A module is long-lived data that arrives after dnnlua switched the
    -- collector to generational mode; there, such growth makes the next major
    -- collections "bad" and Lua keeps running full collections for a while
    -- (a 1-element add took twice as long). Re-entering generational mode
    -- makes the new module old at once. An incremental host stays so.
    if collectgarbage("incremental") == "generational" then collectgarbage("generational") end
    return v
  end,
})

-- help is a global of dnnlua: a small function, so that its reference data
-- loads on the first call, not at start-up.
function dnn.help(...) return require("dnn.help").help(...) end

-- ---- reference: dnn's own functions (bindings/l_autograd.c, l_runtime.c, l_io.c) ----

--- @module dnn The top level: tensors, autodiff, randomness, threads
-- `local dnn = require "dnn"` (a global in dnnlua scripts and the REPL).
-- The tensor functions (`dnn.zeros`, `dnn.matmul`, `dnn.exp`, ...) are in
-- `dnn.Tensor`; the layers in `dnn.nn`. Indices, dims and class ids are
-- 1-based; a negative dim counts from the end.

--- dnn.version
-- The library's version string, e.g. `"0.1.0"` (from the C core, which
-- takes it from `project(VERSION)` in CMakeLists.txt); `dnnlua -v` prints it.
-- @example print(dnn.version)

--- dnn.no_grad(fn, ...)
-- Runs `fn(...)` with nothing recorded for backward; returns its results.
-- @alias dnn.autograd.no_grad
-- @example local pred = dnn.no_grad(function() return model(x) end)

--- dnn.enable_grad(fn, ...)
-- Runs `fn(...)` with recording on (inside a `no_grad`); returns its results.
-- @alias dnn.autograd.enable_grad
-- @example dnn.enable_grad(function() loss = f(x) end)

--- dnn.is_grad_enabled()
-- Whether operations are being recorded now.
-- @alias dnn.autograd.is_grad_enabled
-- @example print(dnn.is_grad_enabled())

--- dnn.set_grad_enabled(on)
-- Turns recording on or off; returns the previous setting.
-- @alias dnn.autograd.set_grad_enabled
-- @example local was = dnn.set_grad_enabled(false)

--- dnn.grad(outputs, inputs[, options])
-- The gradients of `outputs` (a tensor or an array) with respect to `inputs`
-- (a tensor or an array), returned as several results; no `.grad` is touched.
-- @option grad_outputs=nil the gradient of each output (needed for a non-scalar)
-- @option retain_graph=false keep the graph for another pass
-- @option create_graph=false record the backward, so the gradients can be differentiated again
-- @option allow_unused=false return nil for an input the outputs do not depend on, instead of an error
-- @example local gx, gw = dnn.grad(loss, {x, w}, {create_graph = true})

--- dnn.set_num_threads(n)
-- The number of threads every parallel kernel (OpenMP and OpenBLAS) uses.
-- Results do not depend on it: training with a seed gives the same bits at
-- any thread count.
-- @example dnn.set_num_threads(4)

--- dnn.get_num_threads()
-- The number of threads kernels use: the team a parallel region really gets
-- (OMP_THREAD_LIMIT may give fewer than asked for).
-- @example print(dnn.get_num_threads())

--- dnn.randperm(n)
-- A random permutation of 1..n (a tensor) from the seeded generator.
-- @example local order = dnn.randperm(10)

--- dnn.get_rng_state()
-- The random generator's whole state as a string (checkpoints save it).
-- @example local s = dnn.get_rng_state()

--- dnn.set_rng_state(state)
-- Restores a state from `get_rng_state`; the draws that follow repeat.
-- @example dnn.set_rng_state(s)

--- dnn.wall_time()
-- Seconds from a monotonic clock, for timing.
-- @example local t0 = dnn.wall_time()

--- dnn.read_idx(path)
-- A tensor from an IDX file (MNIST's format; gzip allowed). Values as stored (not scaled).
-- @alias dnn.data.read_idx
-- @example local y = dnn.read_idx("train-labels-idx1-ubyte.gz")

--- dnn.load_model(path)
-- A model saved with `model:save`: its architecture, weights, compile
-- settings and optimizer state. Layer classes are found by registered name;
-- no code is read from the file.
-- @example local m = dnn.load_model("model.dnn")

return dnn
