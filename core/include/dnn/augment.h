/* Batched random augmentation kernels for images (N, H, W, C): one random
 * draw (or one set of draws) per image from dnn's PRNG, in image order, so
 * dnn_manual_seed makes them repeat; then one pass over the batch. Like the
 * image ops (image.h) they are data operations: nothing is recorded for
 * autodiff. The geometric ones only draw matrices here and warp with
 * dnn_image_affine. */
#ifndef DNN_AUGMENT_H
#define DNN_AUGMENT_H

#include <stdbool.h>

#include "dnn/tensor.h"

/* n 2x3 output->input matrices (dnn_image_affine's layout) for h x w images. */

/* Each image flipped left-right (horizontal) and/or up-down (vertical), each
 * direction with probability 1/2: x_in = W-1-x, y_in = H-1-y. */
void dnn_random_flip_matrices(int64_t n, int64_t h, int64_t w, bool horizontal, bool vertical, float *m);
/* Rotation by an angle uniform in [lo, hi] radians, counter-clockwise about the center (Keras's RandomRotation). */
void dnn_random_rotation_matrices(int64_t n, int64_t h, int64_t w, double lo, double hi, float *m);
/* Zoom z = 1 + u about the center, u uniform in [h_lo, h_hi] for rows and [w_lo, w_hi] for columns (the row draw
 * for both when keep_aspect): in = z * (out - c) + c, so z > 1 zooms out (Keras's RandomZoom). */
void dnn_random_zoom_matrices(int64_t n, int64_t h, int64_t w, double h_lo, double h_hi, double w_lo, double w_hi,
                              bool keep_aspect, float *m);
/* Shift by dy = u H rows and dx = v W columns, u in [h_lo, h_hi], v in [w_lo, w_hi]: in = out - (dx, dy) (Keras's
 * RandomTranslation). */
void dnn_random_translation_matrices(int64_t n, int64_t h, int64_t w, double h_lo, double h_hi, double w_lo,
                                     double w_hi, float *m);

/* out = clamp((x - mean) * f + mean, lo, hi), f uniform in [f_lo, f_hi] per image, mean per image and channel over
 * H and W (Keras's RandomContrast). */
dnn_tensor *dnn_random_contrast(const dnn_tensor *x, double f_lo, double f_hi, float lo, float hi);
/* out = clamp(x + d (hi - lo), lo, hi), d uniform in [d_lo, d_hi] per image (Keras's RandomBrightness). */
dnn_tensor *dnn_random_brightness(const dnn_tensor *x, double d_lo, double d_hi, float lo, float hi);
/* A (h, w) window of each image at a uniform random offset: (N, h, w, C). */
dnn_tensor *dnn_random_crop(const dnn_tensor *x, int64_t h, int64_t w);
/* count squares of size_h x size_w set to fill in each image, centered at uniform random pixels and clipped at the
 * border (DeVries & Taylor's cutout). */
dnn_tensor *dnn_cutout(const dnn_tensor *x, int64_t size_h, int64_t size_w, int count, float fill);
/* n draws from Beta(a, b) as a tensor (n): G_a / (G_a + G_b), gammas by Marsaglia and Tsang. */
dnn_tensor *dnn_sample_beta(int64_t n, double a, double b);

#endif
