/* Fuzz target: the CIFAR-10 batch reader, from memory. */
#include <stddef.h>
#include <stdint.h>

#include "dnn/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  dnn_tensor *x = NULL, *y = NULL;
  if (dnn_read_cifar10_memory(data, size, "fuzz.bin", &x, &y) == DNN_OK) dnn_tensor_release(x), dnn_tensor_release(y);
  return 0;
}
