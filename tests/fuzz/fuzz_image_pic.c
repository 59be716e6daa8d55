/* Fuzz target: dnn.image.load of PIC files, from memory. */
#include "image_target.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const unsigned char magic[] = {0x53, 0x80, 0xf6, 0x34};
  return fuzz_image(data, size, magic, 4);
}
