/* Weight initializers (init.h), Keras's definitions, in place. Draws are
 * serial: one PRNG stream, so a seed gives the same weights at any thread
 * count. */
#include <math.h>
#include <stdlib.h>

#include "dnn/autograd.h"
#include "dnn/init.h"
#include "dnn/random.h"

/* stddev of a standard normal truncated to [-2, 2]: Keras divides by it so
 * that the truncated draw has the stddev asked for. */
#define TRUNCATED_STDDEV 0.87962566103423978

static dnn_status check_target(const char *fn, dnn_tensor *t) {
  if (!t) return dnn_argerror(1, fn, "expected a tensor, got NULL");
  if (!dnn_is_contiguous(t)) return dnn_argerror(1, fn, "expected a contiguous tensor, got a strided view");
  dnn_bump_version(t); /* the initializer writes it in place */
  return DNN_OK;
}

void dnn_compute_fans(int ndim, const int64_t *shape, int64_t *fan_in, int64_t *fan_out) {
  if (ndim < 1) {
    *fan_in = *fan_out = 1;
  } else if (ndim == 1) {
    *fan_in = *fan_out = shape[0];
  } else {
    int64_t receptive_field = 1;
    for (int k = 0; k < ndim - 2; k++) receptive_field *= shape[k];
    *fan_in = shape[ndim - 2] * receptive_field;
    *fan_out = shape[ndim - 1] * receptive_field;
  }
}

dnn_status dnn_init_constant(dnn_tensor *t, float value) {
  if (check_target("init_constant", t) != DNN_OK) return DNN_EARG;
  float *p = dnn_data(t);
  int64_t n = dnn_numel(t);
  for (int64_t i = 0; i < n; i++) p[i] = value;
  return DNN_OK;
}

dnn_status dnn_init_uniform(dnn_tensor *t, float lo, float hi) {
  if (check_target("init_uniform", t) != DNN_OK) return DNN_EARG;
  if (!(lo <= hi)) return dnn_argerror(2, "init_uniform", "expected minval <= maxval, got %g > %g", lo, hi);
  float *p = dnn_data(t);
  int64_t n = dnn_numel(t);
  for (int64_t i = 0; i < n; i++) p[i] = lo + (hi - lo) * dnn_rng_uniform();
  return DNN_OK;
}

static dnn_status check_stddev(const char *fn, float stddev) {
  if (stddev >= 0 && isfinite(stddev)) return DNN_OK;
  return dnn_argerror(3, fn, "expected a finite stddev >= 0, got %g", (double)stddev);
}

dnn_status dnn_init_normal(dnn_tensor *t, float mean, float stddev) {
  if (check_target("init_normal", t) != DNN_OK || check_stddev("init_normal", stddev) != DNN_OK) return DNN_EARG;
  float *p = dnn_data(t);
  int64_t n = dnn_numel(t);
  for (int64_t i = 0; i < n; i++) p[i] = mean + stddev * (float)dnn_rng_normal();
  return DNN_OK;
}

dnn_status dnn_init_truncated_normal(dnn_tensor *t, float mean, float stddev) {
  const char *fn = "init_truncated_normal";
  if (check_target(fn, t) != DNN_OK || check_stddev(fn, stddev) != DNN_OK) return DNN_EARG;
  float *p = dnn_data(t);
  int64_t n = dnn_numel(t);
  for (int64_t i = 0; i < n; i++) {
    double x;
    do x = dnn_rng_normal();
    while (fabs(x) > 2);
    p[i] = mean + stddev * (float)x;
  }
  return DNN_OK;
}

dnn_status dnn_init_variance_scaling(dnn_tensor *t, float scale, dnn_fan_mode mode, dnn_distribution dist,
                                     int64_t fan_in, int64_t fan_out) {
  const char *fn = "init_variance_scaling";
  if (fan_in <= 0 || fan_out <= 0)
    return dnn_argerror(5, fn, "expected positive fans, got fan_in %lld and fan_out %lld", (long long)fan_in,
                        (long long)fan_out);
  if (!(scale > 0)) return dnn_argerror(2, fn, "expected scale > 0, got %g", (double)scale);
  double n = mode == DNN_FAN_IN ? (double)fan_in : mode == DNN_FAN_OUT ? (double)fan_out : (fan_in + fan_out) / 2.0;
  switch (dist) {
    case DNN_DIST_TRUNCATED_NORMAL:
      return dnn_init_truncated_normal(t, 0, (float)(sqrt(scale / n) / TRUNCATED_STDDEV));
    case DNN_DIST_UNTRUNCATED_NORMAL:
      return dnn_init_normal(t, 0, (float)sqrt(scale / n));
    case DNN_DIST_UNIFORM: {
      float limit = (float)sqrt(3 * scale / n);
      return dnn_init_uniform(t, -limit, limit);
    }
  }
  return dnn_argerror(4, fn, "expected a distribution, got %d", (int)dist);
}

dnn_status dnn_init_glorot_uniform(dnn_tensor *t, int64_t fan_in, int64_t fan_out) {
  return dnn_init_variance_scaling(t, 1, DNN_FAN_AVG, DNN_DIST_UNIFORM, fan_in, fan_out);
}

dnn_status dnn_init_he_normal(dnn_tensor *t, int64_t fan_in) {
  return dnn_init_variance_scaling(t, 2, DNN_FAN_IN, DNN_DIST_TRUNCATED_NORMAL, fan_in, 1);
}

/* Orthonormalises the k columns of q (m rows, column j at q + j m) in place
 * by modified Gram-Schmidt, each column projected out twice so that the
 * result stays orthogonal to double precision. Columns come out as the Q of
 * a QR whose R has a positive diagonal, Keras's sign convention. */
static void gram_schmidt(double *q, int64_t m, int64_t k) {
  for (int64_t j = 0; j < k; j++) {
    double *qj = q + j * m;
    for (int pass = 0; pass < 2; pass++)
      for (int64_t i = 0; i < j; i++) {
        const double *qi = q + i * m;
        double dot = 0;
        for (int64_t r = 0; r < m; r++) dot += qi[r] * qj[r];
        for (int64_t r = 0; r < m; r++) qj[r] -= dot * qi[r];
      }
    double norm = 0;
    for (int64_t r = 0; r < m; r++) norm += qj[r] * qj[r];
    norm = sqrt(norm);
    for (int64_t r = 0; r < m; r++) qj[r] /= norm;
  }
}

dnn_status dnn_init_orthogonal(dnn_tensor *t, float gain) {
  const char *fn = "init_orthogonal";
  if (check_target(fn, t) != DNN_OK) return DNN_EARG;
  if (t->ndim < 2) return dnn_argerror(1, fn, "expected a tensor of at least 2 dims, got %d", t->ndim);
  int64_t cols = t->shape[t->ndim - 1], rows = cols ? dnn_numel(t) / cols : 0;
  if (rows == 0 || cols == 0) return DNN_OK;
  int64_t m = rows > cols ? rows : cols, k = rows > cols ? cols : rows;
  double *q = malloc((size_t)(m * k) * sizeof *q);
  if (!q) return dnn_error(DNN_ENOMEM, fn, "out of memory for a %lld x %lld matrix", (long long)m, (long long)k);
  /* a (m, k) normal draw, row-major as Keras draws it; stored by columns */
  for (int64_t r = 0; r < m; r++)
    for (int64_t j = 0; j < k; j++) q[j * m + r] = dnn_rng_normal();
  gram_schmidt(q, m, k);
  float *p = dnn_data(t);
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < cols; c++) /* Q (m, k), or its transpose when rows < cols */
      p[r * cols + c] = gain * (float)(rows >= cols ? q[c * m + r] : q[r * m + c]);
  free(q);
  return DNN_OK;
}
