/* Pooling and the other spatial layers' kernels, on NHWC images (batch,
 * height, width, channels) as Keras: max and average pooling, global
 * pooling, upsampling, zero padding and cropping. Each is recorded for
 * autodiff, its backward next to it (pool.c, spatial.c). */
#ifndef DNN_POOL_H
#define DNN_POOL_H

#include <stdbool.h>

#include "dnn/tensor.h"

typedef struct {
  int64_t pool[2]; /* window height, width */
  int64_t stride[2]; /* step along height, width */
  bool same; /* Keras's "same": out = ceil(in / stride), the padding split with the extra row at the end;
                        padded cells never count (they are ignored by max and left out of the average) */
} dnn_pool2d_config;

/* Output size along one dim, Keras's rule: valid floor((in - pool) / stride) + 1, same ceil(in / stride); -1 when
 * valid and the pool is larger than in. */
int64_t dnn_pool_out_size(int64_t in, int64_t pool, int64_t stride, bool same);

/* y[n, i, j, c] = max of x[n, i*sh + a - pt, j*sw + b - pl, c] over the window (a < ph, b < pw) inside x; the first
 * maximum's position is saved: dx gets g there. */
dnn_tensor *dnn_max_pool2d(dnn_tensor *x, const dnn_pool2d_config *cfg);
/* y[n, i, j, c] = mean of x over the same window's cells inside x; dx = g / count on each of them. */
dnn_tensor *dnn_avg_pool2d(dnn_tensor *x, const dnn_pool2d_config *cfg);
/* y[n, c] = max (or mean) of x[n, :, :, c]; (n, 1, 1, c) with keepdims. */
dnn_tensor *dnn_global_pool2d(dnn_tensor *x, bool max, bool keepdims);

/* y[n, i, j, c] = x[n, floor(i / sh), floor(j / sw), c] (nearest), or bilinear as Keras / tf.image.resize with
 * half-pixel centers: sample at ((i + 0.5) / sh - 0.5, (j + 0.5) / sw - 0.5) clamped to the image. */
dnn_tensor *dnn_upsample2d(dnn_tensor *x, int64_t sh, int64_t sw, bool bilinear);

/* y[n, i, j, c] = x[n, i - top, j - left, c] inside x, else 0; y (n, h + top + bottom, w + left + right, c). */
dnn_tensor *dnn_zero_pad2d(dnn_tensor *x, int64_t top, int64_t bottom, int64_t left, int64_t right);
/* y[n, i, j, c] = x[n, i + top, j + left, c]; y (n, h - top - bottom, w - left - right, c), not empty. */
dnn_tensor *dnn_crop2d(dnn_tensor *x, int64_t top, int64_t bottom, int64_t left, int64_t right);

#endif
