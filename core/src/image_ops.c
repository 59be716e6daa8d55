/* Image operations on (H, W), (H, W, C) and (N, H, W, C) tensors: one kernel
 * over the batch each. Data operations: nothing is recorded for autodiff. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dnn/image.h"
#include "dnn/parallel.h"

/* A batch of images seen as (n, h, w, c), with the rank it came in. */
typedef struct layout {
  int64_t n, h, w, c;
  int ndim;
} layout;

static dnn_status get_layout(const dnn_tensor *t, const char *fn, layout *l) {
  if (!t) return dnn_argerror(1, fn, "expected an image tensor, got nothing");
  if (t->ndim < 2 || t->ndim > 4)
    return dnn_argerror(1, fn, "expected an image (H, W), (H, W, C) or a batch (N, H, W, C), got %d-d", t->ndim);
  l->ndim = t->ndim;
  l->n = t->ndim == 4 ? t->shape[0] : 1;
  l->h = t->shape[t->ndim == 4 ? 1 : 0];
  l->w = t->shape[t->ndim == 4 ? 2 : 1];
  l->c = t->ndim == 2 ? 1 : t->shape[t->ndim - 1];
  return DNN_OK;
}

/* A new contiguous tensor of the input's rank with height h and width w. */
static dnn_tensor *new_like(const layout *l, int64_t h, int64_t w) {
  int64_t shape[4];
  int k = 0;
  if (l->ndim == 4) shape[k++] = l->n;
  shape[k++] = h;
  shape[k++] = w;
  if (l->ndim >= 3) shape[k++] = l->c;
  return dnn_empty(k, shape);
}

/* The input's elements, contiguous: the tensor itself when it already is
 * (a retained reference either way; release it). */
static dnn_tensor *dense(const dnn_tensor *t) { return dnn_contiguous((dnn_tensor *)t); }

/* ---- resize ---- */

/* Source position and weight of each output coordinate along one axis. */
static void bilinear_axis(int64_t in, int64_t out, int64_t *lo, int64_t *hi, float *frac) {
  double scale = (double)in / (double)out;
  for (int64_t i = 0; i < out; i++) {
    double s = (i + 0.5) * scale - 0.5;
    if (s < 0) s = 0;
    if (s > in - 1) s = (double)(in - 1);
    int64_t f = (int64_t)floor(s);
    lo[i] = f;
    hi[i] = f + 1 < in ? f + 1 : in - 1;
    frac[i] = (float)(s - f);
  }
}

static void nearest_axis(int64_t in, int64_t out, int64_t *idx) {
  double scale = (double)in / (double)out;
  for (int64_t i = 0; i < out; i++) {
    int64_t s = (int64_t)floor((i + 0.5) * scale);
    idx[i] = s < in ? s : in - 1;
  }
}

dnn_tensor *dnn_image_resize(const dnn_tensor *img, int64_t h, int64_t w, dnn_interp method) {
  const char *fn = "dnn.image.resize";
  layout l = {0};
  if (get_layout(img, fn, &l) != DNN_OK) return NULL;
  if (h < 1 || w < 1)
    return dnn_argerror(2, fn, "expected a size of at least 1x1, got %lldx%lld", (long long)h, (long long)w), NULL;
  if (l.h < 1 || l.w < 1) return dnn_argerror(1, fn, "cannot resize an empty image"), NULL;
  int64_t *ylo = malloc(sizeof(int64_t) * (size_t)(2 * h + 2 * w));
  float *yf = malloc(sizeof(float) * (size_t)(h + w));
  if (!ylo || !yf) {
    free(ylo), free(yf);
    return dnn_error(DNN_ENOMEM, fn, "out of memory"), NULL;
  }
  int64_t *yhi = ylo + h, *xlo = ylo + 2 * h, *xhi = xlo + w;
  float *xf = yf + h;
  if (method == DNN_INTERP_NEAREST) {
    nearest_axis(l.h, h, ylo);
    nearest_axis(l.w, w, xlo);
  } else {
    bilinear_axis(l.h, h, ylo, yhi, yf);
    bilinear_axis(l.w, w, xlo, xhi, xf);
  }
  dnn_tensor *src = dense(img), *out = src ? new_like(&l, h, w) : NULL;
  if (out) {
    const float *in = dnn_data(src);
    float *o = dnn_data(out);
    int64_t c = l.c, rows = l.n * h;
#pragma omp parallel for if (rows * w * c > DNN_PARALLEL_GRAIN)
    for (int64_t r = 0; r < rows; r++) {
      int64_t b = r / h, y = r % h;
      const float *base = in + b * l.h * l.w * c;
      float *orow = o + r * w * c;
      if (method == DNN_INTERP_NEAREST) {
        const float *irow = base + ylo[y] * l.w * c;
        for (int64_t x = 0; x < w; x++) memcpy(orow + x * c, irow + xlo[x] * c, sizeof(float) * (size_t)c);
        continue;
      }
      const float *r0 = base + ylo[y] * l.w * c, *r1 = base + yhi[y] * l.w * c;
      float fy = yf[y];
      for (int64_t x = 0; x < w; x++) {
        float fx = xf[x];
        const float *a = r0 + xlo[x] * c, *bb = r0 + xhi[x] * c, *cc = r1 + xlo[x] * c, *d = r1 + xhi[x] * c;
        for (int64_t k = 0; k < c; k++) {
          float top = a[k] + (bb[k] - a[k]) * fx, bottom = cc[k] + (d[k] - cc[k]) * fx;
          orow[x * c + k] = top + (bottom - top) * fy;
        }
      }
    }
  }
  free(ylo);
  free(yf);
  dnn_tensor_release(src);
  return out;
}

/* ---- crop, pad, flip ---- */

dnn_tensor *dnn_image_crop(const dnn_tensor *img, int64_t top, int64_t left, int64_t h, int64_t w) {
  const char *fn = "dnn.image.crop";
  layout l = {0};
  if (get_layout(img, fn, &l) != DNN_OK) return NULL;
  if (h < 1 || w < 1)
    return dnn_argerror(4, fn, "expected a size of at least 1x1, got %lldx%lld", (long long)h, (long long)w), NULL;
  if (top < 0 || left < 0 || top + h > l.h || left + w > l.w)
    return dnn_argerror(2, fn, "the window %lldx%lld at row %lld, column %lld (1-based) is outside the %lldx%lld image",
                        (long long)h, (long long)w, (long long)top + 1, (long long)left + 1, (long long)l.h,
                        (long long)l.w),
           NULL;
  dnn_tensor *src = dense(img), *out = src ? new_like(&l, h, w) : NULL;
  if (!out) return dnn_tensor_release(src), NULL;
  const float *in = dnn_data(src);
  float *o = dnn_data(out);
  size_t row = sizeof(float) * (size_t)(w * l.c);
  for (int64_t b = 0; b < l.n; b++)
    for (int64_t y = 0; y < h; y++)
      memcpy(o + (b * h + y) * w * l.c, in + ((b * l.h + top + y) * l.w + left) * l.c, row);
  dnn_tensor_release(src);
  return out;
}

dnn_tensor *dnn_image_pad(const dnn_tensor *img, int64_t top, int64_t bottom, int64_t left, int64_t right,
                          float value) {
  const char *fn = "dnn.image.pad";
  layout l = {0};
  if (get_layout(img, fn, &l) != DNN_OK) return NULL;
  if (top < 0 || bottom < 0 || left < 0 || right < 0)
    return dnn_argerror(2, fn, "expected paddings >= 0, got top %lld, bottom %lld, left %lld, right %lld",
                        (long long)top, (long long)bottom, (long long)left, (long long)right),
           NULL;
  int64_t h = l.h + top + bottom, w = l.w + left + right;
  dnn_tensor *src = dense(img), *out = src ? new_like(&l, h, w) : NULL;
  if (!out) return dnn_tensor_release(src), NULL;
  const float *in = dnn_data(src);
  float *o = dnn_data(out);
  int64_t total = dnn_numel(out);
  for (int64_t i = 0; i < total; i++) o[i] = value;
  size_t row = sizeof(float) * (size_t)(l.w * l.c);
  for (int64_t b = 0; b < l.n; b++)
    for (int64_t y = 0; y < l.h; y++)
      memcpy(o + ((b * h + top + y) * w + left) * l.c, in + (b * l.h + y) * l.w * l.c, row);
  dnn_tensor_release(src);
  return out;
}

dnn_tensor *dnn_image_flip(const dnn_tensor *img, bool horizontal, bool vertical) {
  layout l = {0};
  if (get_layout(img, "dnn.image.flip", &l) != DNN_OK) return NULL;
  dnn_tensor *src = dense(img), *out = src ? new_like(&l, l.h, l.w) : NULL;
  if (!out) return dnn_tensor_release(src), NULL;
  const float *in = dnn_data(src);
  float *o = dnn_data(out);
  int64_t c = l.c;
  for (int64_t b = 0; b < l.n; b++)
    for (int64_t y = 0; y < l.h; y++) {
      const float *irow = in + (b * l.h + (vertical ? l.h - 1 - y : y)) * l.w * c;
      float *orow = o + (b * l.h + y) * l.w * c;
      if (!horizontal) {
        memcpy(orow, irow, sizeof(float) * (size_t)(l.w * c));
        continue;
      }
      for (int64_t x = 0; x < l.w; x++) memcpy(orow + x * c, irow + (l.w - 1 - x) * c, sizeof(float) * (size_t)c);
    }
  dnn_tensor_release(src);
  return out;
}

/* ---- affine warp ---- */

/* A coordinate outside [0, len-1] brought inside by the fill mode, as
 * TensorFlow's map_coordinate (constant leaves it: the read decides). */
static double map_coord(double v, int64_t len, dnn_fill_mode mode) {
  double n = (double)len;
  switch (mode) {
    case DNN_FILL_REFLECT:
      if (len <= 1) return 0;
      if (v < 0) {
        double sz2 = 2 * n;
        if (v < -sz2) v = sz2 * (double)(int64_t)(-v / sz2) + v;
        v = v < -n ? v + sz2 : -v - 1;
      } else if (v > n - 1) {
        double sz2 = 2 * n;
        v -= sz2 * (double)(int64_t)(v / sz2);
        if (v >= n) v = sz2 - v - 1;
      }
      return fmin(fmax(v, 0), n - 1);
    case DNN_FILL_WRAP:
      if (len <= 1) return 0;
      if (v < 0) {
        double sz = n - 1;
        v += n * ((double)(int64_t)(-v / sz) + 1);
      } else if (v > n - 1) {
        double sz = n - 1;
        v -= n * (double)(int64_t)(v / sz);
      }
      return fmin(fmax(v, 0), n - 1);
    case DNN_FILL_NEAREST:
      return fmin(fmax(v, 0), n - 1);
    default:
      return v;
  }
}

dnn_tensor *dnn_image_affine(const dnn_tensor *img, const float *matrices, int64_t n_matrices, int64_t out_h,
                             int64_t out_w, dnn_interp method, dnn_fill_mode fill_mode, float fill) {
  const char *fn = "dnn.image.affine";
  layout l = {0};
  if (get_layout(img, fn, &l) != DNN_OK) return NULL;
  if (!matrices || (n_matrices != 1 && n_matrices != l.n))
    return dnn_argerror(2, fn, "expected 1 or %lld matrices (one per image), got %lld", (long long)l.n,
                        (long long)n_matrices),
           NULL;
  if (out_h < 0 || out_w < 0)
    return dnn_argerror(3, fn, "expected an output size >= 0, got %lldx%lld", (long long)out_h, (long long)out_w), NULL;
  int64_t h = out_h ? out_h : l.h, w = out_w ? out_w : l.w;
  dnn_tensor *src = dense(img), *out = src ? new_like(&l, h, w) : NULL;
  if (!out) return dnn_tensor_release(src), NULL;
  const float *in = dnn_data(src);
  float *o = dnn_data(out);
  int64_t c = l.c, rows = l.n * h, ih = l.h, iw = l.w;
#pragma omp parallel for if (rows * w * c > DNN_PARALLEL_GRAIN)
  for (int64_t r = 0; r < rows; r++) {
    int64_t b = r / h, y = r % h;
    const float *m = matrices + (n_matrices == 1 ? 0 : 6 * b);
    const float *base = in + b * ih * iw * c;
    float *orow = o + r * w * c;
    for (int64_t x = 0; x < w; x++) {
      float *px = orow + x * c;
      double sx = map_coord(m[0] * (double)x + m[1] * (double)y + m[2], iw, fill_mode);
      double sy = map_coord(m[3] * (double)x + m[4] * (double)y + m[5], ih, fill_mode);
      if (method == DNN_INTERP_NEAREST) {
        double rx = round(sx), ry = round(sy);
        if (rx < 0 || ry < 0 || rx > iw - 1 || ry > ih - 1 || isnan(rx) || isnan(ry)) {
          for (int64_t k = 0; k < c; k++) px[k] = fill;
        } else {
          memcpy(px, base + ((int64_t)ry * iw + (int64_t)rx) * c, sizeof(float) * (size_t)c);
        }
        continue;
      }
      double fx0 = floor(sx), fy0 = floor(sy);
      float ax = (float)(sx - fx0), ay = (float)(sy - fy0);
      /* Far outside (or NaN): every neighbour is fill; keeps the casts below in range. */
      if (!(fx0 >= -2 && fy0 >= -2 && fx0 <= (double)iw && fy0 <= (double)ih)) {
        for (int64_t k = 0; k < c; k++) px[k] = fill;
        continue;
      }
      int64_t x0 = (int64_t)fx0, y0 = (int64_t)fy0, x1 = x0 + 1, y1 = y0 + 1;
      bool in00 = x0 >= 0 && x0 < iw && y0 >= 0 && y0 < ih, in01 = x1 >= 0 && x1 < iw && y0 >= 0 && y0 < ih;
      bool in10 = x0 >= 0 && x0 < iw && y1 >= 0 && y1 < ih, in11 = x1 >= 0 && x1 < iw && y1 >= 0 && y1 < ih;
      for (int64_t k = 0; k < c; k++) {
        float v00 = in00 ? base[(y0 * iw + x0) * c + k] : fill, v01 = in01 ? base[(y0 * iw + x1) * c + k] : fill;
        float v10 = in10 ? base[(y1 * iw + x0) * c + k] : fill, v11 = in11 ? base[(y1 * iw + x1) * c + k] : fill;
        float top = v00 + (v01 - v00) * ax, bottom = v10 + (v11 - v10) * ax;
        px[k] = top + (bottom - top) * ay;
      }
    }
  }
  dnn_tensor_release(src);
  return out;
}

void dnn_image_rotation_matrix(double degrees, int64_t h, int64_t w, float m[6]) {
  double t = degrees * M_PI / 180.0, c = cos(t), s = sin(t);
  /* Exact quarter turns, so that rotating by 90 moves pixels exactly. */
  if (fmod(degrees, 90.0) == 0) c = round(c), s = round(s);
  double wm = (double)(w - 1), hm = (double)(h - 1);
  m[0] = (float)c, m[1] = (float)-s, m[2] = (float)((wm - (c * wm - s * hm)) / 2);
  m[3] = (float)s, m[4] = (float)c, m[5] = (float)((hm - (s * wm + c * hm)) / 2);
}

dnn_tensor *dnn_image_rotate(const dnn_tensor *img, double degrees, dnn_interp method, dnn_fill_mode fill_mode,
                             float fill) {
  layout l = {0};
  if (get_layout(img, "dnn.image.rotate", &l) != DNN_OK) return NULL;
  if (!isfinite(degrees)) return dnn_argerror(2, "dnn.image.rotate", "expected a finite angle, got %g", degrees), NULL;
  float m[6];
  dnn_image_rotation_matrix(degrees, l.h, l.w, m);
  return dnn_image_affine(img, m, 1, 0, 0, method, fill_mode, fill);
}

/* ---- colour ---- */

dnn_tensor *dnn_image_adjust_brightness(const dnn_tensor *img, float delta) {
  layout l = {0};
  if (get_layout(img, "dnn.image.adjust_brightness", &l) != DNN_OK) return NULL;
  dnn_tensor *src = dense(img), *out = src ? new_like(&l, l.h, l.w) : NULL;
  if (!out) return dnn_tensor_release(src), NULL;
  const float *in = dnn_data(src);
  float *o = dnn_data(out);
  int64_t n = dnn_numel(out);
#pragma omp parallel for if (n > DNN_PARALLEL_GRAIN)
  for (int64_t i = 0; i < n; i++) o[i] = in[i] + delta;
  dnn_tensor_release(src);
  return out;
}

dnn_tensor *dnn_image_adjust_contrast(const dnn_tensor *img, float factor) {
  layout l = {0};
  if (get_layout(img, "dnn.image.adjust_contrast", &l) != DNN_OK) return NULL;
  dnn_tensor *src = dense(img), *out = src ? new_like(&l, l.h, l.w) : NULL;
  if (!out) return dnn_tensor_release(src), NULL;
  const float *in = dnn_data(src);
  float *o = dnn_data(out);
  int64_t c = l.c, hw = l.h * l.w;
  /* One image per iteration: each mean is a sequential sum, so the result
   * does not depend on the thread count. */
#pragma omp parallel for if (l.n * hw * c > DNN_PARALLEL_GRAIN)
  for (int64_t b = 0; b < l.n; b++) {
    const float *ib = in + b * hw * c;
    float *ob = o + b * hw * c;
    for (int64_t k = 0; k < c; k++) {
      double sum = 0;
      for (int64_t i = 0; i < hw; i++) sum += ib[i * c + k];
      float mean = hw ? (float)(sum / (double)hw) : 0;
      for (int64_t i = 0; i < hw; i++) ob[i * c + k] = (ib[i * c + k] - mean) * factor + mean;
    }
  }
  dnn_tensor_release(src);
  return out;
}

dnn_tensor *dnn_image_adjust_saturation(const dnn_tensor *img, float factor) {
  const char *fn = "dnn.image.adjust_saturation";
  layout l = {0};
  if (get_layout(img, fn, &l) != DNN_OK) return NULL;
  if (l.c != 3 && l.c != 4)
    return dnn_argerror(1, fn, "expected RGB or RGBA (3 or 4 channels), got %lld", (long long)l.c), NULL;
  dnn_tensor *src = dense(img), *out = src ? new_like(&l, l.h, l.w) : NULL;
  if (!out) return dnn_tensor_release(src), NULL;
  const float *in = dnn_data(src);
  float *o = dnn_data(out);
  int64_t c = l.c, np = l.n * l.h * l.w;
#pragma omp parallel for if (np * c > DNN_PARALLEL_GRAIN)
  for (int64_t i = 0; i < np; i++) {
    const float *p = in + i * c;
    float *q = o + i * c;
    float gray = 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2];
    for (int k = 0; k < 3; k++) q[k] = gray + factor * (p[k] - gray);
    if (c == 4) q[3] = p[3];
  }
  dnn_tensor_release(src);
  return out;
}

/* One blur pass along rows (along_y false) or columns: every line of every
 * image and channel convolved with kern (2 radius + 1 taps), the samples
 * past either end repeating the edge one. */
static void blur_pass(const float *in, float *out, const layout *l, bool along_y, const float *kern, int radius) {
  int64_t c = l->c, len = along_y ? l->h : l->w, lines = l->n * (along_y ? l->w : l->h);
  int64_t step = along_y ? l->w * c : c;
#pragma omp parallel for if (lines * len * c > DNN_PARALLEL_GRAIN)
  for (int64_t line = 0; line < lines; line++) {
    int64_t b = line / (along_y ? l->w : l->h), j = line % (along_y ? l->w : l->h);
    int64_t start = b * l->h * l->w * c + (along_y ? j * c : j * l->w * c);
    for (int64_t i = 0; i < len; i++)
      for (int64_t k = 0; k < c; k++) {
        float acc = 0;
        for (int t = -radius; t <= radius; t++) {
          int64_t s = i + t;
          s = s < 0 ? 0 : s >= len ? len - 1 : s;
          acc += kern[t + radius] * in[start + s * step + k];
        }
        out[start + i * step + k] = acc;
      }
  }
}

dnn_tensor *dnn_image_gaussian_blur(const dnn_tensor *img, double sigma) {
  const char *fn = "dnn.image.gaussian_blur";
  layout l = {0};
  if (get_layout(img, fn, &l) != DNN_OK) return NULL;
  if (!(sigma > 0) || sigma > 1000) return dnn_argerror(2, fn, "expected sigma in (0, 1000], got %g", sigma), NULL;
  int radius = (int)ceil(3 * sigma);
  float *kern = malloc(sizeof(float) * (size_t)(2 * radius + 1));
  if (!kern) return dnn_error(DNN_ENOMEM, fn, "out of memory"), NULL;
  double total = 0;
  for (int t = -radius; t <= radius; t++) total += exp(-(double)t * t / (2 * sigma * sigma));
  for (int t = -radius; t <= radius; t++) kern[t + radius] = (float)(exp(-(double)t * t / (2 * sigma * sigma)) / total);
  dnn_tensor *src = dense(img), *tmp = src ? new_like(&l, l.h, l.w) : NULL, *out = tmp ? new_like(&l, l.h, l.w) : NULL;
  if (out) {
    blur_pass(dnn_data(src), dnn_data(tmp), &l, false, kern, radius);
    blur_pass(dnn_data(tmp), dnn_data(out), &l, true, kern, radius);
  }
  free(kern);
  dnn_tensor_release(tmp);
  dnn_tensor_release(src);
  return out;
}

dnn_tensor *dnn_image_normalize(const dnn_tensor *img, const float *mean, int n_mean, const float *std, int n_std) {
  const char *fn = "dnn.image.normalize";
  layout l = {0};
  if (get_layout(img, fn, &l) != DNN_OK) return NULL;
  if (n_mean != 1 && n_mean != l.c)
    return dnn_argerror(2, fn, "expected 1 or %lld means (one per channel), got %d", (long long)l.c, n_mean), NULL;
  if (n_std != 1 && n_std != l.c)
    return dnn_argerror(3, fn, "expected 1 or %lld stds (one per channel), got %d", (long long)l.c, n_std), NULL;
  for (int k = 0; k < n_std; k++)
    if (std[k] == 0) return dnn_argerror(3, fn, "std[%d] is 0", k + 1), NULL;
  dnn_tensor *src = dense(img), *out = src ? new_like(&l, l.h, l.w) : NULL;
  if (!out) return dnn_tensor_release(src), NULL;
  const float *in = dnn_data(src);
  float *o = dnn_data(out);
  int64_t c = l.c, np = l.n * l.h * l.w;
#pragma omp parallel for if (np * c > DNN_PARALLEL_GRAIN)
  for (int64_t i = 0; i < np; i++)
    for (int64_t k = 0; k < c; k++)
      o[i * c + k] = (in[i * c + k] - mean[n_mean == 1 ? 0 : k]) / std[n_std == 1 ? 0 : k];
  dnn_tensor_release(src);
  return out;
}

/* ---- grid ---- */

static void min_max(const float *p, int64_t n, float *lo, float *hi) {
  float a = INFINITY, b = -INFINITY;
  for (int64_t i = 0; i < n; i++) {
    if (p[i] < a) a = p[i];
    if (p[i] > b) b = p[i];
  }
  *lo = a, *hi = b;
}

dnn_tensor *dnn_image_grid(const dnn_tensor *batch, int64_t nrow, int64_t padding, float pad_value, bool normalize,
                           bool scale_each) {
  const char *fn = "dnn.image.grid";
  if (!batch || (batch->ndim != 3 && batch->ndim != 4))
    return dnn_argerror(1, fn, "expected a batch (N, H, W) or (N, H, W, C), got %d-d", batch ? batch->ndim : 0), NULL;
  int64_t n = batch->shape[0], h = batch->shape[1], w = batch->shape[2], c = batch->ndim == 4 ? batch->shape[3] : 1;
  if (n < 1 || h < 1 || w < 1) return dnn_argerror(1, fn, "expected a non-empty batch"), NULL;
  if (c != 1 && c != 3 && c != 4)
    return dnn_argerror(1, fn, "expected 1, 3 or 4 channels, got %lld", (long long)c), NULL;
  if (nrow < 1) return dnn_argerror(2, fn, "expected nrow >= 1, got %lld", (long long)nrow), NULL;
  if (padding < 0) return dnn_argerror(2, fn, "expected padding >= 0, got %lld", (long long)padding), NULL;
  int64_t cols = nrow < n ? nrow : n, rows = (n + cols - 1) / cols;
  int64_t gh = rows * (h + padding) + padding, gw = cols * (w + padding) + padding;
  int64_t shape[3] = {gh, gw, c};
  if (dnn_check_shape(fn, 1, 3, shape) != DNN_OK) return NULL;
  dnn_tensor *src = dense(batch), *out = src ? dnn_full(3, shape, pad_value) : NULL;
  if (!out) return dnn_tensor_release(src), NULL;
  const float *in = dnn_data(src);
  float *o = dnn_data(out);
  int64_t per = h * w * c;
  float lo = 0, hi = 1;
  if (normalize && !scale_each) min_max(in, n * per, &lo, &hi);
  for (int64_t i = 0; i < n; i++) {
    const float *img = in + i * per;
    if (normalize && scale_each) min_max(img, per, &lo, &hi);
    /* torchvision divides by max(hi - lo, 1e-5): a constant image becomes 0. */
    float scale = normalize ? 1.0f / fmaxf(hi - lo, 1e-5f) : 1.0f, shift = normalize ? lo : 0.0f;
    int64_t top = padding + (i / cols) * (h + padding), left = padding + (i % cols) * (w + padding);
    for (int64_t y = 0; y < h; y++) {
      float *orow = o + ((top + y) * gw + left) * c;
      const float *irow = img + y * w * c;
      for (int64_t k = 0; k < w * c; k++) orow[k] = (irow[k] - shift) * scale;
    }
  }
  dnn_tensor_release(src);
  return out;
}
