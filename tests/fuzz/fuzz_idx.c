/* Fuzz target: the IDX reader (plain and gzip'd), from memory. */
#include <stddef.h>
#include <stdint.h>

#include "dnn/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  dnn_tensor_release(dnn_read_idx_memory(data, size, "fuzz.idx"));
  return 0;
}
