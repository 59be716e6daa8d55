/* Fuzz target: dnn.image.load of PSD files, from memory. */
#include "image_target.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const unsigned char magic[] = {'8', 'B', 'P', 'S'};
  return fuzz_image(data, size, magic, 4);
}
