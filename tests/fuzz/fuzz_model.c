/* Fuzz target: dnn.load_model's reading of a model file's architecture (the
 * JSON in the safetensors metadata, the layer classes and configs it names,
 * the compile settings). The input is that JSON text; the harness writes it
 * into a well-formed safetensors file (the framing has its own target,
 * fuzz_safetensors) and loads the file in a pcall. */
#include "lua_target.h"

static const char *SETUP =
    "local path = FUZZ_PATH\n"
    "function fuzz_one(text)\n"
    "  dnn.save_safetensors(path, {}, {dnnlua_model = text})\n"
    "  pcall(dnn.load_model, path)\n"
    "  collectgarbage(\"step\")\n"
    "end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_lua_one(SETUP, data, size); }
