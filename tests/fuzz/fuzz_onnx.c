/* libFuzzer target for the ONNX reader (core/src/onnx_read.c): any bytes must
 * give a model or an error message, never a crash, a leak or undefined
 * behaviour. A parsed model is also written back and read again, so the
 * writer sees every shape of description the reader can make.
 *
 *   clang -fsanitize=fuzzer,address,undefined -Icore/include -Ibuild/onnx_proto tests/fuzz/fuzz_onnx.c \
 *     core/src/onnx_*.c core/src/error.c core/src/tensor.c ... build/onnx_proto/onnx.pb-c.c -lprotobuf-c
 *   ./fuzz_onnx tests/fuzz/corpus/onnx */
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
