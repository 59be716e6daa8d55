/* Fuzz target: dnn.checkpoint.load's reading of a checkpoint's metadata
 * (the "dnnlua_checkpoint" JSON: format, epoch, RNG state, extra data; the
 * optimizer's name and counters). The input is the metadata as one JSON
 * object of strings; the harness writes it, with the weights and Adam
 * moments of a small trained model, into a safetensors file and loads that
 * into a fresh model in a pcall. Inputs that are not such an object are
 * skipped. */
#include "lua_target.h"

static const char *SETUP =
    "local json = require 'dnn.json'\n"
    "local nn = dnn.nn\n"
    "local path = FUZZ_PATH\n"
    "local function model()\n"
    "  local m = nn.Sequential{nn.Dense(3, {input_shape = {2}}), nn.Dense(2)}\n"
    "  m:compile{optimizer = dnn.optim.Adam{}, loss = 'mse'}\n"
    "  return m\n"
    "end\n"
    "dnn.manual_seed(1)\n"
    "local trained = model()\n"
    "trained:fit(dnn.randn(4, 2), dnn.randn(4, 2), {epochs = 1, batch_size = 2, verbose = 0})\n"
    "local entries = {}\n"
    "for _, w in ipairs(trained:named_weights()) do entries[#entries + 1] = {w.name, w.tensor} end\n"
    "for k, v in pairs(trained.optimizer:get_state()) do\n"
    "  if dnn.is_tensor(v) then entries[#entries + 1] = {'optimizer/' .. k, v} end\n"
    "end\n"
    "local target = model()\n"
    "function fuzz_one(text)\n"
    "  local ok, meta = pcall(json.decode, text)\n"
    "  if not ok or type(meta) ~= 'table' then return end\n"
    "  for k, v in pairs(meta) do if type(k) ~= 'string' or type(v) ~= 'string' then return end end\n"
    "  dnn.save_safetensors(path, entries, meta)\n"
    "  pcall(dnn.checkpoint.load, path, {model = target})\n"
    "  collectgarbage(\"step\")\n"
    "end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_lua_one(SETUP, data, size); }
