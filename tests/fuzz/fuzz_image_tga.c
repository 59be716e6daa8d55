/* Fuzz target: dnn.image.load of TGA files, from memory. TGA has no magic:
 * every input goes in, and is decoded as whatever its first bytes say. */
#include "image_target.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_image(data, size, "", 0); }
