/* libFuzzer target for the ONNX reader (core/src/onnx_read.c): any bytes must
 * give a model or an error message, never a crash, a leak or undefined
 * behaviour. A parsed model is also written back and read again, so the
 * writer sees every shape of description the reader can make. Built and run
 * with the other targets (tests/fuzz/README.md; the ctest fuzz_onnx, and
 * scripts/fuzz.sh 600 onnx for a long run).
 */
#include <stdint.h>
#include <stdlib.h>

#include "dnn/onnx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  dnn_onnx_model *m = dnn_onnx_parse(data, size, NULL);
  if (!m) return 0;
  size_t n = 0;
  uint8_t *bytes = dnn_onnx_serialize(m, &n);
  if (bytes) {
    dnn_onnx_free(dnn_onnx_parse(bytes, n, NULL));
    free(bytes);
  }
  dnn_onnx_free(m);
  return 0;
}
