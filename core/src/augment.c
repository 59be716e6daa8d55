/* Batched random augmentation: the draws are made in image order on the
 * calling thread (so a seed fixes them whatever the thread count), then the
 * batch is transformed in one parallel pass. */
#include "dnn/augment.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dnn/error.h"
#include "dnn/parallel.h"
#include "dnn/random.h"

static double uniform(double lo, double hi) { return lo + (hi - lo) * (double)dnn_rng_uniform(); }

static void set_matrix(float *m, double a, double b, double c, double d, double e, double f) {
  m[0] = (float)a, m[1] = (float)b, m[2] = (float)c, m[3] = (float)d, m[4] = (float)e, m[5] = (float)f;
}

void dnn_random_flip_matrices(int64_t n, int64_t h, int64_t w, bool horizontal, bool vertical, float *m) {
  for (int64_t i = 0; i < n; i++) {
    bool fx = horizontal && dnn_rng_uniform() < 0.5f;
    bool fy = vertical && dnn_rng_uniform() < 0.5f;
    set_matrix(m + 6 * i, fx ? -1 : 1, 0, fx ? (double)(w - 1) : 0, 0, fy ? -1 : 1, fy ? (double)(h - 1) : 0);
  }
}

void dnn_random_rotation_matrices(int64_t n, int64_t h, int64_t w, double lo, double hi, float *m) {
  for (int64_t i = 0; i < n; i++) {
    double a = uniform(lo, hi), c = cos(a), s = sin(a);
    /* Keras's: the center ((w-1)/2, (h-1)/2) maps to itself. */
    double x_off = ((double)(w - 1) - (c * (double)(w - 1) - s * (double)(h - 1))) / 2;
    double y_off = ((double)(h - 1) - (s * (double)(w - 1) + c * (double)(h - 1))) / 2;
    set_matrix(m + 6 * i, c, -s, x_off, s, c, y_off);
  }
}

void dnn_random_zoom_matrices(int64_t n, int64_t h, int64_t w, double h_lo, double h_hi, double w_lo, double w_hi,
                              bool keep_aspect, float *m) {
  for (int64_t i = 0; i < n; i++) {
    double zy = 1 + uniform(h_lo, h_hi);
    double zx = keep_aspect ? zy : 1 + uniform(w_lo, w_hi);
    set_matrix(m + 6 * i, zx, 0, (double)(w - 1) / 2 * (1 - zx), 0, zy, (double)(h - 1) / 2 * (1 - zy));
  }
}

void dnn_random_translation_matrices(int64_t n, int64_t h, int64_t w, double h_lo, double h_hi, double w_lo,
                                     double w_hi, float *m) {
  for (int64_t i = 0; i < n; i++) {
    double dy = uniform(h_lo, h_hi) * (double)h;
    double dx = uniform(w_lo, w_hi) * (double)w;
    set_matrix(m + 6 * i, 1, 0, -dx, 0, 1, -dy);
  }
}

/* A contiguous (N, H, W, C) copy of x, or NULL with a message naming fn. */
static dnn_tensor *batch_copy(const dnn_tensor *x, const char *fn) {
  if (!x) {
    dnn_argerror(1, fn, "expected a tensor, got NULL");
    return NULL;
  }
  if (x->ndim != 4) {
    dnn_argerror(1, fn, "expected a batch of images (N, H, W, C), got %d dims", x->ndim);
    return NULL;
  }
  dnn_tensor *out = dnn_empty(4, x->shape);
  if (out) dnn_gather_to(x, dnn_data(out));
  return out;
}

static float clampf(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }

dnn_tensor *dnn_random_contrast(const dnn_tensor *x, double f_lo, double f_hi, float lo, float hi) {
  dnn_tensor *out = batch_copy(x, "random_contrast");
  if (!out) return NULL;
  int64_t n = out->shape[0], hw = out->shape[1] * out->shape[2], c = out->shape[3];
  float *p = dnn_data(out);
  float *factors = malloc((size_t)(n > 0 ? n : 1) * sizeof *factors);
  if (!factors) {
    dnn_tensor_release(out);
    dnn_error(DNN_ENOMEM, "random_contrast", "out of memory");
    return NULL;
  }
  for (int64_t i = 0; i < n; i++) factors[i] = (float)uniform(f_lo, f_hi);
#pragma omp parallel for if (n * hw * c > DNN_PARALLEL_GRAIN)
  for (int64_t i = 0; i < n; i++) {
    float *img = p + i * hw * c;
    for (int64_t ch = 0; ch < c; ch++) {
      double sum = 0;
      for (int64_t k = 0; k < hw; k++) sum += img[k * c + ch];
      float mean = (float)(sum / (double)hw), f = factors[i];
      for (int64_t k = 0; k < hw; k++) img[k * c + ch] = clampf((img[k * c + ch] - mean) * f + mean, lo, hi);
    }
  }
  free(factors);
  return out;
}

dnn_tensor *dnn_random_brightness(const dnn_tensor *x, double d_lo, double d_hi, float lo, float hi) {
  dnn_tensor *out = batch_copy(x, "random_brightness");
  if (!out) return NULL;
  int64_t n = out->shape[0], per = out->shape[1] * out->shape[2] * out->shape[3];
  float *p = dnn_data(out);
  float *deltas = malloc((size_t)(n > 0 ? n : 1) * sizeof *deltas);
  if (!deltas) {
    dnn_tensor_release(out);
    dnn_error(DNN_ENOMEM, "random_brightness", "out of memory");
    return NULL;
  }
  for (int64_t i = 0; i < n; i++) deltas[i] = (float)(uniform(d_lo, d_hi) * (double)(hi - lo));
#pragma omp parallel for if (n * per > DNN_PARALLEL_GRAIN)
  for (int64_t i = 0; i < n; i++)
    for (int64_t k = 0; k < per; k++) p[i * per + k] = clampf(p[i * per + k] + deltas[i], lo, hi);
  free(deltas);
  return out;
}

dnn_tensor *dnn_random_crop(const dnn_tensor *x, int64_t h, int64_t w) {
  const char *fn = "random_crop";
  if (!x || x->ndim != 4) {
    dnn_argerror(1, fn, "expected a batch of images (N, H, W, C), got %d dims", x ? x->ndim : 0);
    return NULL;
  }
  int64_t n = x->shape[0], H = x->shape[1], W = x->shape[2], c = x->shape[3];
  if (h < 1 || w < 1 || h > H || w > W) {
    dnn_argerror(2, fn, "expected a crop of at most the image's %" PRId64 "x%" PRId64 ", got %" PRId64 "x%" PRId64, H,
                 W, h, w);
    return NULL;
  }
  dnn_tensor *src = batch_copy(x, fn);
  if (!src) return NULL;
  int64_t shape[4] = {n, h, w, c};
  dnn_tensor *out = dnn_empty(4, shape);
  if (!out) {
    dnn_tensor_release(src);
    return NULL;
  }
  const float *s = dnn_data(src);
  float *d = dnn_data(out);
  for (int64_t i = 0; i < n; i++) {
    int64_t top = (int64_t)dnn_rng_below((uint64_t)(H - h + 1)), left = (int64_t)dnn_rng_below((uint64_t)(W - w + 1));
    for (int64_t y = 0; y < h; y++)
      memcpy(d + ((i * h + y) * w) * c, s + ((i * H + top + y) * W + left) * c, (size_t)(w * c) * sizeof(float));
  }
  dnn_tensor_release(src);
  return out;
}

dnn_tensor *dnn_cutout(const dnn_tensor *x, int64_t size_h, int64_t size_w, int count, float fill) {
  if (size_h < 1 || size_w < 1 || count < 0) {
    dnn_argerror(2, "cutout", "expected a positive size and a count >= 0, got %" PRId64 "x%" PRId64 " and %d", size_h,
                 size_w, count);
    return NULL;
  }
  dnn_tensor *out = batch_copy(x, "cutout");
  if (!out) return NULL;
  int64_t n = out->shape[0], H = out->shape[1], W = out->shape[2], c = out->shape[3];
  float *p = dnn_data(out);
  for (int64_t i = 0; i < n; i++)
    for (int k = 0; k < count; k++) {
      int64_t cy = (int64_t)dnn_rng_below((uint64_t)H), cx = (int64_t)dnn_rng_below((uint64_t)W);
      int64_t y0 = cy - size_h / 2, x0 = cx - size_w / 2;
      int64_t y1 = y0 + size_h, x1 = x0 + size_w;
      if (y0 < 0) y0 = 0;
      if (x0 < 0) x0 = 0;
      if (y1 > H) y1 = H;
      if (x1 > W) x1 = W;
      for (int64_t y = y0; y < y1; y++)
        for (int64_t xx = x0 * c; xx < x1 * c; xx++) p[((i * H + y) * W) * c + xx] = fill;
    }
  return out;
}

/* Gamma(a, 1) by Marsaglia and Tsang (2000); a < 1 through G(a + 1) U^(1/a). */
static double sample_gamma(double a) {
  if (a < 1) {
    double u;
    do u = dnn_rng_uniform();
    while (u == 0);
    return sample_gamma(a + 1) * pow(u, 1 / a);
  }
  double d = a - 1.0 / 3, c = 1 / sqrt(9 * d);
  for (;;) {
    double z, v;
    do {
      z = dnn_rng_normal();
      v = 1 + c * z;
    } while (v <= 0);
    v = v * v * v;
    double u = dnn_rng_uniform();
    if (u < 1 - 0.0331 * z * z * z * z) return d * v;
    if (u > 0 && log(u) < 0.5 * z * z + d * (1 - v + log(v))) return d * v;
  }
}

dnn_tensor *dnn_sample_beta(int64_t n, double a, double b) {
  if (n < 0 || !(a > 0) || !(b > 0)) {
    dnn_argerror(2, "sample_beta", "expected n >= 0 and positive a and b, got %" PRId64 ", %g, %g", n, a, b);
    return NULL;
  }
  dnn_tensor *out = dnn_empty(1, &n);
  if (!out) return NULL;
  float *p = dnn_data(out);
  for (int64_t i = 0; i < n; i++) {
    double ga = sample_gamma(a), gb = sample_gamma(b);
    p[i] = ga + gb > 0 ? (float)(ga / (ga + gb)) : 0.5f;
  }
  return out;
}
