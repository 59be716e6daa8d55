/* Fuzz target: dnn.image.load of HDR files, from memory. */
#include "image_target.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const unsigned char magic[] = {'#', '?'};
  return fuzz_image(data, size, magic, 2);
}
