/* Fuzz target: dnn.image.load of JPEG files, from memory. */
#include "image_target.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const unsigned char magic[] = {0xff, 0xd8, 0xff};
  return fuzz_image(data, size, magic, 3);
}
