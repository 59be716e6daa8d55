/* Fuzz target: dnn.image.load of BMP files, from memory. */
#include "image_target.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const unsigned char magic[] = {'B', 'M'};
  return fuzz_image(data, size, magic, 2);
}
