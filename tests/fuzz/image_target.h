/* The image fuzz targets: one per format, each kept on its format by its
 * magic bytes (the loader detects the format by content, so a mutated file
 * could wander into another decoder: that one has its own target), and each
 * decoded with every channel count. */
#ifndef FUZZ_IMAGE_TARGET_H
#define FUZZ_IMAGE_TARGET_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dnn/image.h"

static int fuzz_image(const uint8_t *data, size_t size, const void *magic, size_t magic_len) {
  if (size < magic_len || memcmp(data, magic, magic_len) != 0) return -1; /* not this format: not kept */
  static const int channels[4] = {0, 1, 3, 4};
  dnn_tensor_release(dnn_image_load_memory(data, size, "fuzz.image", channels[size % 4], size & 4));
  return 0;
}

#endif
