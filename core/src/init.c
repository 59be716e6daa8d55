/* Weight initializers (Keras's definitions), in place. */
#include <math.h>

#include "dnn/init.h"
#include "dnn/random.h"

static dnn_status check_target(const char *fn, const dnn_tensor *t) {
  if (!dnn_is_contiguous(t)) return dnn_argerror(1, fn, "expected a contiguous tensor, got a strided view");
  return DNN_OK;
}

dnn_status dnn_init_uniform(dnn_tensor *t, float lo, float hi) {
  if (check_target("init_uniform", t) != DNN_OK) return DNN_EARG;
  float *p = dnn_data(t);
  int64_t n = dnn_numel(t);
  for (int64_t i = 0; i < n; i++) p[i] = lo + (hi - lo) * dnn_rng_uniform();
  return DNN_OK;
}

dnn_status dnn_init_normal(dnn_tensor *t, float mean, float stddev) {
  if (check_target("init_normal", t) != DNN_OK) return DNN_EARG;
  float *p = dnn_data(t);
  int64_t n = dnn_numel(t);
  for (int64_t i = 0; i < n; i++) p[i] = mean + stddev * (float)dnn_rng_normal();
  return DNN_OK;
}

static dnn_status check_fans(const char *fn, int64_t fan_in, int64_t fan_out) {
  if (fan_in <= 0 || fan_out <= 0)
    return dnn_argerror(2, fn, "expected positive fans, got fan_in %lld and fan_out %lld", (long long)fan_in,
                        (long long)fan_out);
  return DNN_OK;
}

dnn_status dnn_init_glorot_uniform(dnn_tensor *t, int64_t fan_in, int64_t fan_out) {
  if (check_fans("init_glorot_uniform", fan_in, fan_out) != DNN_OK) return DNN_EARG;
  float limit = sqrtf(6.0f / (float)(fan_in + fan_out));
  return dnn_init_uniform(t, -limit, limit);
}

dnn_status dnn_init_he_normal(dnn_tensor *t, int64_t fan_in) {
  if (check_fans("init_he_normal", fan_in, 1) != DNN_OK) return DNN_EARG;
  if (check_target("init_he_normal", t) != DNN_OK) return DNN_EARG;
  /* Keras draws from a normal truncated at 2 stddev, scaled so that the
   * truncated distribution has stddev sqrt(2 / fan_in). */
  float stddev = sqrtf(2.0f / (float)fan_in) / 0.87962566103423978f;
  float *p = dnn_data(t);
  int64_t n = dnn_numel(t);
  for (int64_t i = 0; i < n; i++) {
    double x;
    do x = dnn_rng_normal();
    while (fabs(x) > 2);
    p[i] = stddev * (float)x;
  }
  return DNN_OK;
}
