/* Fuzz target: the safetensors reader, from memory. */
#include <stddef.h>
#include <stdint.h>

#include "dnn/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  dnn_safetensors_free(dnn_safetensors_load_memory(data, size, "fuzz.safetensors"));
  return 0;
}
