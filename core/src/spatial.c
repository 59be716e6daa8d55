/* The spatial layers that move pixels without weights, on NHWC images:
 * upsampling (nearest and bilinear), zero padding and cropping.
 *
 * Padding and cropping are one kernel: shift(x, top, left) into a (oh, ow)
 * frame, y[n, i, j] = x[n, i - top, j - left] where that lies inside x, else
 * 0. Zero padding shifts by (top, left) into a larger frame, cropping by
 * (-top, -left) into a smaller one, and the backward of either is the shift
 * back into the input's frame. A pixel's C channels are contiguous, so rows
 * move with memcpy.
 *
 * Backward passes that scatter (upsampling) run in parallel over the batch,
 * one thread per image, so results do not depend on the thread count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dnn/autograd.h"
#include "dnn/parallel.h"
#include "dnn/pool.h"

static dnn_status check_image(const char *op, const dnn_tensor *x) {
  char buf[96];
  if (x->ndim != 4)
    return dnn_argerror(1, op, "expected a 4-d input (batch, height, width, channels), got %s",
                        dnn_shape_str(x, buf, sizeof buf));
  return DNN_OK;
}

/* ---- shift: padding and cropping ---- */

/* y (n, oh, ow, c) from x (n, h, w, c): y[n, i, j, :] = x[n, i - top, j - left, :] inside x, else 0. */
static void shift(const float *x, int64_t h, int64_t w, float *y, int64_t n, int64_t oh, int64_t ow, int64_t c,
                  int64_t top, int64_t left) {
  /* the columns of y that come from x: [j0, j1) */
  int64_t j0 = left > 0 ? left : 0, j1 = w + left < ow ? w + left : ow;
  if (j1 < j0) j1 = j0;
  int64_t rows = n * oh;
#pragma omp parallel for schedule(static) if (rows * ow * c > DNN_PARALLEL_GRAIN)
  for (int64_t r = 0; r < rows; r++) {
    int64_t b = r / oh, i = r % oh, a = i - top;
    float *yr = y + r * ow * c;
    if (a < 0 || a >= h || j1 == j0) {
      memset(yr, 0, (size_t)(ow * c) * sizeof(float));
      continue;
    }
    const float *xr = x + ((b * h + a) * w + (j0 - left)) * c;
    memset(yr, 0, (size_t)(j0 * c) * sizeof(float));
    memcpy(yr + j0 * c, xr, (size_t)((j1 - j0) * c) * sizeof(float));
    memset(yr + j1 * c, 0, (size_t)((ow - j1) * c) * sizeof(float));
  }
}

/* inputs: x; iargs: top, left of the forward's shift. dx = g shifted back into x's frame. */
static dnn_status shift_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin) {
  dnn_tensor *g = grad_out[0];
  const dnn_tensor *x = node->inputs[0];
  if ((gin[0] = dnn_empty_like(x)) == NULL) return DNN_ENOMEM;
  shift(dnn_data(g), g->shape[1], g->shape[2], dnn_data(gin[0]), x->shape[0], x->shape[1], x->shape[2], x->shape[3],
        -node->iargs[0], -node->iargs[1]);
  return DNN_OK;
}

static dnn_tensor *shift_op(const char *op, dnn_tensor *x, int64_t oh, int64_t ow, int64_t top, int64_t left) {
  int64_t shape[4] = {x->shape[0], oh, ow, x->shape[3]};
  if (dnn_check_shape(op, 1, 4, shape) != DNN_OK) return NULL;
  dnn_tensor *xc = dnn_contiguous(x), *y = dnn_empty(4, shape);
  if (xc && y) {
    shift(dnn_data(xc), x->shape[1], x->shape[2], dnn_data(y), shape[0], oh, ow, shape[3], top, left);
    dnn_node *node = dnn_record(y, op, shift_backward, 1, &xc);
    if (node) {
      node->iargs[0] = top;
      node->iargs[1] = left;
    }
  } else {
    dnn_tensor_release(y);
    y = NULL;
  }
  dnn_tensor_release(xc);
  return y;
}

dnn_tensor *dnn_zero_pad2d(dnn_tensor *x, int64_t top, int64_t bottom, int64_t left, int64_t right) {
  if (check_image("zero_pad2d", x) != DNN_OK) return NULL;
  if (top < 0 || bottom < 0 || left < 0 || right < 0) {
    dnn_argerror(2, "zero_pad2d", "expected padding >= 0, got ((%lld, %lld), (%lld, %lld))", (long long)top,
                 (long long)bottom, (long long)left, (long long)right);
    return NULL;
  }
  return shift_op("zero_pad2d", x, x->shape[1] + top + bottom, x->shape[2] + left + right, top, left);
}

dnn_tensor *dnn_crop2d(dnn_tensor *x, int64_t top, int64_t bottom, int64_t left, int64_t right) {
  char buf[96];
  if (check_image("crop2d", x) != DNN_OK) return NULL;
  if (top < 0 || bottom < 0 || left < 0 || right < 0) {
    dnn_argerror(2, "crop2d", "expected cropping >= 0, got ((%lld, %lld), (%lld, %lld))", (long long)top,
                 (long long)bottom, (long long)left, (long long)right);
    return NULL;
  }
  int64_t oh = x->shape[1] - top - bottom, ow = x->shape[2] - left - right;
  if (oh < 1 || ow < 1) {
    dnn_argerror(2, "crop2d", "expected a cropping ((%lld, %lld), (%lld, %lld)) that leaves pixels of input %s",
                 (long long)top, (long long)bottom, (long long)left, (long long)right,
                 dnn_shape_str(x, buf, sizeof buf));
    return NULL;
  }
  return shift_op("crop2d", x, oh, ow, -top, -left);
}

/* ---- nearest upsampling ---- */

static void upsample_nearest(const float *x, float *y, int64_t n, int64_t h, int64_t w, int64_t c, int64_t sh,
                             int64_t sw) {
  int64_t oh = h * sh, ow = w * sw, rows = n * oh;
#pragma omp parallel for schedule(static) if (rows * ow * c > DNN_PARALLEL_GRAIN)
  for (int64_t r = 0; r < rows; r++) {
    int64_t b = r / oh, a = (r % oh) / sh;
    const float *xr = x + (b * h + a) * w * c;
    float *yr = y + r * ow * c;
    for (int64_t j = 0; j < ow; j++) {
      const float *xp = xr + (j / sw) * c;
      float *yp = yr + j * c;
      for (int64_t k = 0; k < c; k++) yp[k] = xp[k];
    }
  }
}

/* dx[n, a, b] = sum of g over the sh x sw block that copied it. */
static void upsample_nearest_back(const float *g, float *dx, int64_t n, int64_t h, int64_t w, int64_t c, int64_t sh,
                                  int64_t sw) {
  int64_t oh = h * sh, ow = w * sw;
#pragma omp parallel for schedule(static) if (n * oh * ow * c > DNN_PARALLEL_GRAIN)
  for (int64_t b = 0; b < n; b++) {
    float *dxn = dx + b * h * w * c;
    memset(dxn, 0, (size_t)(h * w * c) * sizeof(float));
    for (int64_t i = 0; i < oh; i++) {
      const float *gr = g + (b * oh + i) * ow * c;
      float *dr = dxn + (i / sh) * w * c;
      for (int64_t j = 0; j < ow; j++) {
        const float *gp = gr + j * c;
        float *dp = dr + (j / sw) * c;
        for (int64_t k = 0; k < c; k++) dp[k] += gp[k];
      }
    }
  }
}

/* ---- bilinear upsampling ---- */

/* For each of out positions: the two source cells and the weight of the second, as tf.image.resize (half-pixel
 * centers): src = (i + 0.5) / scale - 0.5, lo = max(floor(src), 0), hi = min(ceil(src), in - 1),
 * frac = src - floor(src). Before the first center lo == hi, so the weight does not matter. */
static void bilinear_table(int64_t in, int64_t scale, int64_t *lo, int64_t *hi, float *frac) {
  for (int64_t i = 0; i < in * scale; i++) {
    double src = ((double)i + 0.5) / (double)scale - 0.5, f = floor(src);
    lo[i] = f > 0 ? (int64_t)f : 0;
    hi[i] = (int64_t)ceil(src) < in - 1 ? (int64_t)ceil(src) : in - 1;
    if (hi[i] < 0) hi[i] = 0;
    frac[i] = (float)(src - f);
  }
}

typedef struct {
  int64_t *lo_h, *hi_h, *lo_w, *hi_w;
  float *fh, *fw;
  void *mem;
} bilinear_tables;

static dnn_status bilinear_tables_make(int64_t h, int64_t w, int64_t sh, int64_t sw, bilinear_tables *t) {
  int64_t oh = h * sh, ow = w * sw;
  size_t ints = (size_t)(2 * (oh + ow)), floats = (size_t)(oh + ow);
  t->mem = malloc(ints * sizeof(int64_t) + floats * sizeof(float) + 1);
  if (!t->mem) return dnn_error(DNN_ENOMEM, "upsample2d", "out of memory");
  t->lo_h = t->mem;
  t->hi_h = t->lo_h + oh;
  t->lo_w = t->hi_h + oh;
  t->hi_w = t->lo_w + ow;
  t->fh = (float *)(t->hi_w + ow);
  t->fw = t->fh + oh;
  bilinear_table(h, sh, t->lo_h, t->hi_h, t->fh);
  bilinear_table(w, sw, t->lo_w, t->hi_w, t->fw);
  return DNN_OK;
}

static void upsample_bilinear(const float *x, float *y, int64_t n, int64_t h, int64_t w, int64_t c, int64_t sh,
                              int64_t sw, const bilinear_tables *t) {
  int64_t oh = h * sh, ow = w * sw, rows = n * oh;
#pragma omp parallel for schedule(static) if (rows * ow * c > DNN_PARALLEL_GRAIN)
  for (int64_t r = 0; r < rows; r++) {
    int64_t b = r / oh, i = r % oh;
    const float *x0 = x + (b * h + t->lo_h[i]) * w * c, *x1 = x + (b * h + t->hi_h[i]) * w * c;
    float fh = t->fh[i], *yr = y + r * ow * c;
    for (int64_t j = 0; j < ow; j++) {
      int64_t l = t->lo_w[j] * c, u = t->hi_w[j] * c;
      float fw = t->fw[j], *yp = yr + j * c;
      for (int64_t k = 0; k < c; k++) {
        float top = x0[l + k] + (x0[u + k] - x0[l + k]) * fw, bot = x1[l + k] + (x1[u + k] - x1[l + k]) * fw;
        yp[k] = top + (bot - top) * fh;
      }
    }
  }
}

static void upsample_bilinear_back(const float *g, float *dx, int64_t n, int64_t h, int64_t w, int64_t c, int64_t sh,
                                   int64_t sw, const bilinear_tables *t) {
  int64_t oh = h * sh, ow = w * sw;
#pragma omp parallel for schedule(static) if (n * oh * ow * c > DNN_PARALLEL_GRAIN)
  for (int64_t b = 0; b < n; b++) {
    float *dxn = dx + b * h * w * c;
    memset(dxn, 0, (size_t)(h * w * c) * sizeof(float));
    for (int64_t i = 0; i < oh; i++) {
      float *d0 = dxn + t->lo_h[i] * w * c, *d1 = dxn + t->hi_h[i] * w * c, fh = t->fh[i];
      const float *gr = g + (b * oh + i) * ow * c;
      for (int64_t j = 0; j < ow; j++) {
        int64_t l = t->lo_w[j] * c, u = t->hi_w[j] * c;
        float fw = t->fw[j];
        float w00 = (1 - fh) * (1 - fw), w01 = (1 - fh) * fw, w10 = fh * (1 - fw), w11 = fh * fw;
        const float *gp = gr + j * c;
        for (int64_t k = 0; k < c; k++) {
          d0[l + k] += gp[k] * w00;
          d0[u + k] += gp[k] * w01;
          d1[l + k] += gp[k] * w10;
          d1[u + k] += gp[k] * w11;
        }
      }
    }
  }
}

/* inputs: x; iargs: sh, sw, bilinear. */
static dnn_status upsample_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin) {
  dnn_tensor *g = grad_out[0];
  const dnn_tensor *x = node->inputs[0];
  int64_t sh = node->iargs[0], sw = node->iargs[1];
  if ((gin[0] = dnn_empty_like(x)) == NULL) return DNN_ENOMEM;
  const int64_t *s = x->shape;
  if (!node->iargs[2]) {
    upsample_nearest_back(dnn_data(g), dnn_data(gin[0]), s[0], s[1], s[2], s[3], sh, sw);
    return DNN_OK;
  }
  bilinear_tables t;
  if (bilinear_tables_make(s[1], s[2], sh, sw, &t) != DNN_OK) return DNN_ENOMEM;
  upsample_bilinear_back(dnn_data(g), dnn_data(gin[0]), s[0], s[1], s[2], s[3], sh, sw, &t);
  free(t.mem);
  return DNN_OK;
}

dnn_tensor *dnn_upsample2d(dnn_tensor *x, int64_t sh, int64_t sw, bool bilinear) {
  if (check_image("upsample2d", x) != DNN_OK) return NULL;
  if (sh < 1 || sw < 1) {
    dnn_argerror(2, "upsample2d", "expected a size of at least (1, 1), got (%lld, %lld)", (long long)sh, (long long)sw);
    return NULL;
  }
  const int64_t *s = x->shape;
  if ((s[1] > 0 && sh > INT64_MAX / s[1]) || (s[2] > 0 && sw > INT64_MAX / s[2])) {
    dnn_argerror(2, "upsample2d", "expected a size that keeps the image's size representable, got (%lld, %lld)",
                 (long long)sh, (long long)sw);
    return NULL;
  }
  int64_t shape[4] = {s[0], s[1] * sh, s[2] * sw, s[3]};
  if (dnn_check_shape("upsample2d", 1, 4, shape) != DNN_OK) return NULL;
  bilinear_tables t = {0};
  if (bilinear && bilinear_tables_make(s[1], s[2], sh, sw, &t) != DNN_OK) return NULL;
  dnn_tensor *xc = dnn_contiguous(x), *y = dnn_empty(4, shape);
  if (xc && y) {
    if (bilinear)
      upsample_bilinear(dnn_data(xc), dnn_data(y), s[0], s[1], s[2], s[3], sh, sw, &t);
    else
      upsample_nearest(dnn_data(xc), dnn_data(y), s[0], s[1], s[2], s[3], sh, sw);
    dnn_node *node = dnn_record(y, "upsample2d", upsample_backward, 1, &xc);
    if (node) {
      node->iargs[0] = sh;
      node->iargs[1] = sw;
      node->iargs[2] = bilinear;
    }
  } else {
    dnn_tensor_release(y);
    y = NULL;
  }
  free(t.mem);
  dnn_tensor_release(xc);
  return y;
}
