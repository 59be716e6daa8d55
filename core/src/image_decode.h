/* Private to core/src: the image decoders image_io.c dispatches to, each in
 * its own translation unit (libjpeg-turbo in image_jpeg.c, stb_image built
 * from its header in image_stb.c). A decoder gets the whole file in memory
 * and gives back its pixels as floats; image_io.c turns them into a tensor. */
#ifndef DNN_IMAGE_DECODE_H
#define DNN_IMAGE_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dnn/error.h"

/* h * w * c floats, row-major, channels last, scaled so that the format's
 * largest value is `scale` (HDR: linear values as stored). */
typedef struct dnn_decoded {
  float *pixels;
  int64_t h, w;
  int c;
} dnn_decoded;

/* Both set the error (naming dnn.image.load and `name`) and return it, or fill
 * out (whose pixels the caller frees). */
dnn_status dnn_decode_jpeg(const char *name, const unsigned char *data, size_t size, float scale, dnn_decoded *out);
/* format: "BMP", "GIF", "TGA", "PSD", "HDR", "PNM" or "PIC". */
dnn_status dnn_decode_stb(const char *name, const char *format, const unsigned char *data, size_t size, float scale,
                          dnn_decoded *out);

/* Whether stb_image's TGA test accepts the bytes (TGA has no magic). */
bool dnn_stb_is_tga(const unsigned char *data, size_t size);

/* The checks every decoder makes on the header's dimensions before
 * allocating: at least 1x1, at most DNN_IMAGE_MAX_PIXELS, and at most
 * `max_pixels` (what the file's `size` bytes could decode to). */
dnn_status dnn_image_check_pixels(const char *name, const char *format, int64_t w, int64_t h, double max_pixels,
                                  size_t size);

#endif
