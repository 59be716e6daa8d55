/* Fuzz target: dnn.image.load of PNM files, from memory. */
#include "image_target.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const unsigned char magic[] = {'P'};
  return fuzz_image(data, size, magic, 1);
}
