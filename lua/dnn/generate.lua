-- dnn.generate: model:generate(prompt_ids, options) for a causal language
-- model, a model that maps ids (batch, T) to scores (batch, T, vocabulary)
-- where step t sees steps 1..t only. Each step samples one id from the
-- scores of the last step (dnn.text.sample) and appends it.
--
-- With the key/value cache (the default where the model allows it), the
-- prompt runs once and then each new id runs the model on that id alone:
-- causal self-attention keeps the keys and values of the steps before
-- (lua/dnn/layers/attention.lua), position layers count from the steps
-- already seen, so a new id costs O(T), not O(T^2). That is right only when
-- every layer is step-wise (Layer:is_step_wise: its output at step t depends
-- on its input at step t, or on earlier steps through such a cache). A model
-- with any other layer (an LSTM, a Conv1D, a custom forward) runs on the
-- whole sequence at every step instead, which gives the same ids.
local dnn = require "dnn"
local layer = require "dnn.layer"
local text = require "dnn.text"
local strict = require "dnn.options"

local describe, raise = strict.describe, strict.raise
local M = {}

local OPTIONS = {"max_length", "temperature", "top_k", "seed", "from_logits", "use_cache"}

-- The prompt as a (batch, T) tensor of ids >= 1, and whether it came as one Lua array.
local function prompt_tensor(prompt)
  local single = type(prompt) == "table" and not dnn.is_tensor(prompt)
  local ids = single and dnn.tensor({prompt}) or prompt
  if not dnn.is_tensor(ids) or ids.ndim ~= 2 or ids.shape[2] < 1 then
    raise("generate: expected prompt ids as a (batch, steps) tensor or a Lua array of ids, got " ..
      (dnn.is_tensor(ids) and layer.shape_text(ids.shape) or describe(prompt)))
  end
  for _, v in ipairs(ids:reshape(-1):totable()) do
    if v < 1 or v ~= math.floor(v) then
      raise("generate: expected ids that are integers >= 1 (no padding: the prompts of a batch have one length), " ..
        "got " .. describe(v))
    end
  end
  return ids, single
end

-- The scores of the last step, (batch, vocabulary), checked against the model's contract.
local function last_scores(out, input)
  if not dnn.is_tensor(out) or out.ndim ~= 3 or out.shape[1] ~= input.shape[1] or out.shape[2] ~= input.shape[2] then
    raise(string.format("generate: expected the model to map ids %s to scores (batch, steps, vocabulary), got %s",
      layer.shape_text(input.shape), dnn.is_tensor(out) and layer.shape_text(out.shape) or describe(out)))
  end
  return out:select(2, out.shape[2])
end

function M.generate(model, prompt, options)
  options = strict.check("generate", options, OPTIONS)
  local ids, single = prompt_tensor(prompt)
  local max_length = options.max_length
  if math.type(max_length) ~= "integer" or max_length <= ids.shape[2] then
    raise(string.format("generate: expected max_length, an integer above the prompt's %d steps, got %s",
      ids.shape[2], describe(max_length)))
  end
  local temperature, top_k, seed = text.check_sampling_options("generate", options)
  if options.use_cache ~= nil and type(options.use_cache) ~= "boolean" then
    raise("generate: use_cache must be a boolean, got " .. describe(options.use_cache))
  end
  local sampling = {temperature = temperature, top_k = top_k, from_logits = options.from_logits}

  -- While it decodes: inference mode, the decoding context (the cache) where the model allows it, and a seed's
  -- stream, all put back at the end. A seed draws as dnn.manual_seed(seed) would and leaves the global stream
  -- where it was; it starts after the first run, which may build the model (drawing its initial weights).
  local was_forced, saved_rng = layer.force_training(false), nil
  local _ <close> = setmetatable({}, {__close = function()
    layer.force_training(was_forced)
    layer.decoding = nil
    if saved_rng then dnn.set_rng_state(saved_rng) end
  end})
  local context = options.use_cache ~= false and model:is_step_wise() and {caches = {}} or nil
  layer.decoding = context

  local input = ids
  while ids.shape[2] < max_length do
    local scores = last_scores(dnn.no_grad(function() return model(input) end), input)
    if seed and not saved_rng then
      saved_rng = dnn.get_rng_state()
      dnn.manual_seed(seed)
    end
    local next_ids = dnn.tensor(text.sample(scores, sampling)):view(ids.shape[1], 1)
    ids = dnn.cat({ids, next_ids}, 2)
    input = context and next_ids or ids
  end
  if not single then return ids end
  local list = ids:select(1, 1):totable()
  for i, v in ipairs(list) do list[i] = math.tointeger(v) end
  return list
end

return M
