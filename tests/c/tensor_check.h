/* Tensor assertions shared by the C unit tests: shape, strides and values of
 * a result, the text of the last error, and a few builders. Each predicate
 * returns false for a NULL tensor (a failed op) and, when it fails, says why
 * on stderr next to the CHECK line that reports it. */
#ifndef TENSOR_CHECK_H
#define TENSOR_CHECK_H

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnn/dnn.h"

static inline void tc_print_dims(const int64_t *d, int n) {
  fputc('(', stderr);
  for (int i = 0; i < n; i++) fprintf(stderr, i ? ", %lld" : "%lld", (long long)d[i]);
  fputc(')', stderr);
}

/* Whether t exists and has exactly this shape. */
static inline bool has_shape(const dnn_tensor *t, int ndim, const int64_t *shape) {
  if (!t) {
    fprintf(stderr, "  got NULL (%s), expected a tensor\n", dnn_errmsg());
    return false;
  }
  bool ok = t->ndim == ndim;
  for (int d = 0; ok && d < ndim; d++) ok = t->shape[d] == shape[d];
  if (!ok) {
    fprintf(stderr, "  shape ");
    tc_print_dims(t->shape, t->ndim);
    fprintf(stderr, ", expected ");
    tc_print_dims(shape, ndim);
    fputc('\n', stderr);
  }
  return ok;
}

/* Whether t exists and its strides are these (one per dim of t). */
static inline bool has_strides(const dnn_tensor *t, const int64_t *stride) {
  if (!t) return false;
  bool ok = true;
  for (int d = 0; ok && d < t->ndim; d++) ok = t->stride[d] == stride[d];
  if (!ok) {
    fprintf(stderr, "  strides ");
    tc_print_dims(t->stride, t->ndim);
    fprintf(stderr, ", expected ");
    tc_print_dims(stride, t->ndim);
    fputc('\n', stderr);
  }
  return ok;
}

/* One element: a wanted NaN matches any NaN; with tol 0 the match is exact,
 * sign of zero included (the same float bit for bit, as memcmp would say);
 * otherwise |got - want| <= tol, or equal (so that infinities match). */
static inline bool tc_value_near(float got, float want, double tol) {
  if (isnan(want)) return isnan(got);
  if (tol == 0) return got == want && signbit(got) == signbit(want);
  return got == want || fabs((double)got - want) <= tol;
}

/* Whether t exists, has n elements and, read in row-major order (any
 * strides), holds want within tol. */
static inline bool values_near(const dnn_tensor *t, const float *want, int64_t n, double tol) {
  if (!t) {
    fprintf(stderr, "  got NULL (%s), expected %lld values\n", dnn_errmsg(), (long long)n);
    return false;
  }
  if (dnn_numel(t) != n) {
    fprintf(stderr, "  %lld elements, expected %lld\n", (long long)dnn_numel(t), (long long)n);
    return false;
  }
  float *v = malloc((size_t)(n ? n : 1) * sizeof(float));
  dnn_gather_to(t, v);
  bool ok = true;
  for (int64_t i = 0; i < n; i++)
    if (!tc_value_near(v[i], want[i], tol)) {
      fprintf(stderr, "  element %lld: %.9g, expected %.9g\n", (long long)i, v[i], want[i]);
      ok = false;
    }
  free(v);
  return ok;
}

static inline bool values_are(const dnn_tensor *t, const float *want, int64_t n) { return values_near(t, want, n, 0); }

/* Whether t has this shape and these values (within tol). */
static inline bool tensor_matches(const dnn_tensor *t, int ndim, const int64_t *shape, const float *want, double tol) {
  int64_t n = 1;
  for (int d = 0; d < ndim; d++) n *= shape[d];
  return has_shape(t, ndim, shape) && values_near(t, want, n, tol);
}

/* Whether dnn_errmsg() contains every one of the given strings:
 * errmsg_has("'cat'"), errmsg_has("#2 to 'cat'", "dim", "0-d"). */
#define errmsg_has(...) tc_errmsg_has((const char *const[]){__VA_ARGS__, NULL})
static inline bool tc_errmsg_has(const char *const *parts) {
  bool ok = true;
  for (; *parts; parts++)
    if (!strstr(dnn_errmsg(), *parts)) {
      fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", dnn_errmsg(), *parts);
      ok = false;
    }
  return ok;
}

/* 0, 1, 2, ... as a new contiguous tensor of this shape. */
static inline dnn_tensor *iota(int ndim, const int64_t *shape) {
  dnn_tensor *t = dnn_empty(ndim, shape);
  for (int64_t i = 0; i < dnn_numel(t); i++) dnn_data(t)[i] = (float)i;
  return t;
}

/* Releases every tensor named (NULLs allowed): RELEASE(a, b, c). */
#define RELEASE(...)                                  \
  do {                                                \
    dnn_tensor *rel_[] = {__VA_ARGS__};               \
    tc_release_all(rel_, sizeof rel_ / sizeof *rel_); \
  } while (0)
static inline void tc_release_all(dnn_tensor **ts, size_t n) {
  for (size_t i = 0; i < n; i++) dnn_tensor_release(ts[i]);
}

/* A scalar loss from one tensor through matmul alone (so that tests of views
 * and joins need no other kernel): flatten(t) . w for fixed, varied weights,
 * so each element gets a different gradient. Takes over the reference to t;
 * NULL in, NULL out. */
static inline dnn_tensor *matmul_weighted(dnn_tensor *t) {
  if (!t) return NULL;
  int64_t n = dnn_numel(t);
  dnn_tensor *flat = dnn_reshape(t, 1, &n);
  dnn_tensor *w = dnn_empty(1, &n);
  for (int64_t i = 0; i < n; i++) dnn_data(w)[i] = 0.5f + (float)((i * 5 + 1) % 7) / 4.0f;
  dnn_tensor *s = flat ? dnn_matmul(flat, w) : NULL;
  RELEASE(flat, w, t);
  return s;
}

/* The largest elementwise difference of two tensors of the same size (any
 * strides); infinity when either is missing or the sizes differ. */
static inline double max_diff(const dnn_tensor *a, const dnn_tensor *b) {
  if (!a || !b || dnn_numel(a) != dnn_numel(b)) return INFINITY;
  dnn_tensor *ac = dnn_contiguous((dnn_tensor *)a), *bc = dnn_contiguous((dnn_tensor *)b);
  double m = 0;
  for (int64_t i = 0; i < dnn_numel(a); i++) m = fmax(m, fabs((double)dnn_data(ac)[i] - dnn_data(bc)[i]));
  dnn_tensor_release(ac);
  dnn_tensor_release(bc);
  return m;
}

#endif
