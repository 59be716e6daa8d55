/* libFuzzer target for the ONNX reader (core/src/onnx_read.c): any bytes must
 * give a model or an error message, never a crash, a leak or undefined
 * behaviour. A parsed model is also written back and read again, so the
 * writer sees every shape of description the reader can make. Built by hand
 * (from the repository's root, after a build in build/ made
 * build/onnx_proto/onnx.pb-c.[ch]):
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fopenmp -std=gnu11 -w -Icore/include \
 *     -Ibuild/onnx_proto $(pkg-config --cflags openblas stb) tests/fuzz/fuzz_onnx.c core/src/[a-z]*.c \
 *     build/onnx_proto/onnx.pb-c.c $(pkg-config --libs openblas libpng zlib libprotobuf-c stb) -lm -o fuzz_onnx
 *   ./fuzz_onnx -max_total_time=420 -max_len=16384 CORPUS_COPY tests/fuzz/corpus/onnx
 *
 * (the whole core: the tensors the reader makes need it). */
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
