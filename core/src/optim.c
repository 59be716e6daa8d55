/* Optimizer steps over every parameter in one call. */
#include <math.h>

#include "dnn/optim.h"
#include "dnn/parallel.h"

/* A parameter the optimizer can update: contiguous, with a grad of its shape
 * (or none, then it is skipped). state may be NULL. */
static dnn_status check_param(const char *fn, int i, const dnn_tensor *p, const dnn_tensor *state) {
  if (!p) return dnn_argerror(1, fn, "expected a tensor for parameter %d, got NULL", i + 1);
  if (!dnn_is_contiguous(p)) return dnn_argerror(1, fn, "expected contiguous parameters, parameter %d is a strided view", i + 1);
  if (p->grad && (!dnn_same_shape(p->grad, p) || !dnn_is_contiguous(p->grad)))
    return dnn_argerror(1, fn, "expected parameter %d's grad to be contiguous and of its shape", i + 1);
  if (state && (!dnn_same_shape(state, p) || !dnn_is_contiguous(state)))
    return dnn_argerror(2, fn, "expected optimizer state %d of the parameter's shape", i + 1);
  return DNN_OK;
}

dnn_status dnn_sgd_step(int n, dnn_tensor *const *params, dnn_tensor *const *velocity, const dnn_sgd_config *cfg) {
  for (int i = 0; i < n; i++) {
    dnn_tensor *vel = velocity ? velocity[i] : NULL;
    if (check_param("sgd_step", i, params[i], vel) != DNN_OK) return DNN_EARG;
    if (cfg->momentum != 0 && !vel) return dnn_argerror(2, "sgd_step", "expected a velocity for parameter %d", i + 1);
  }
  const float lr = cfg->learning_rate, mu = cfg->momentum, wd = cfg->weight_decay;
  for (int i = 0; i < n; i++) {
    if (!params[i]->grad) continue;
    float *p = dnn_data(params[i]);
    const float *g = dnn_data(params[i]->grad);
    float *v = mu != 0 ? dnn_data(velocity[i]) : NULL;
    int64_t len = dnn_numel(params[i]);
#pragma omp parallel for if (len > DNN_PARALLEL_GRAIN)
    for (int64_t j = 0; j < len; j++) {
      float gj = g[j] + wd * p[j];
      if (!v) {
        p[j] -= lr * gj;
      } else {
        v[j] = mu * v[j] - lr * gj;
        p[j] += cfg->nesterov ? mu * v[j] - lr * gj : v[j];
      }
    }
  }
  return DNN_OK;
}

dnn_status dnn_adam_step(int n, dnn_tensor *const *params, dnn_tensor *const *m, dnn_tensor *const *v,
                         const dnn_adam_config *cfg) {
  if (cfg->step < 1) return dnn_argerror(1, "adam_step", "expected a step >= 1, got %lld", (long long)cfg->step);
  for (int i = 0; i < n; i++)
    if (check_param("adam_step", i, params[i], m[i]) != DNN_OK || check_param("adam_step", i, params[i], v[i]) != DNN_OK)
      return DNN_EARG;
  const float b1 = cfg->beta_1, b2 = cfg->beta_2, eps = cfg->epsilon;
  const float lr_t = (float)(cfg->learning_rate * sqrt(1 - pow(b2, (double)cfg->step)) /
                             (1 - pow(b1, (double)cfg->step)));
  const float decay = cfg->learning_rate * cfg->weight_decay;
  for (int i = 0; i < n; i++) {
    if (!params[i]->grad) continue;
    float *p = dnn_data(params[i]), *mi = dnn_data(m[i]), *vi = dnn_data(v[i]);
    const float *g = dnn_data(params[i]->grad);
    int64_t len = dnn_numel(params[i]);
#pragma omp parallel for if (len > DNN_PARALLEL_GRAIN)
    for (int64_t j = 0; j < len; j++) {
      p[j] -= decay * p[j]; /* AdamW: decoupled, before the Adam update (as Keras) */
      mi[j] = b1 * mi[j] + (1 - b1) * g[j];
      vi[j] = b2 * vi[j] + (1 - b2) * g[j] * g[j];
      p[j] -= lr_t * mi[j] / (sqrtf(vi[j]) + eps);
    }
  }
  return DNN_OK;
}

dnn_status dnn_clip_grad_norm(int n, dnn_tensor *const *params, float max_norm, float *norm_out) {
  double sq = 0;
  for (int i = 0; i < n; i++) {
    if (check_param("clip_grad_norm", i, params[i], NULL) != DNN_OK) return DNN_EARG;
    if (!params[i]->grad) continue;
    const float *g = dnn_data(params[i]->grad);
    int64_t len = dnn_numel(params[i]);
    for (int64_t j = 0; j < len; j++) sq += (double)g[j] * g[j];
  }
  float norm = (float)sqrt(sq);
  if (norm_out) *norm_out = norm;
  if (norm <= max_norm || norm == 0) return DNN_OK;
  float scale = max_norm / norm;
  for (int i = 0; i < n; i++) {
    if (!params[i]->grad) continue;
    float *g = dnn_data(params[i]->grad);
    int64_t len = dnn_numel(params[i]);
    for (int64_t j = 0; j < len; j++) g[j] *= scale;
  }
  return DNN_OK;
}

dnn_status dnn_clip_grad_value(int n, dnn_tensor *const *params, float clip) {
  for (int i = 0; i < n; i++) {
    if (check_param("clip_grad_value", i, params[i], NULL) != DNN_OK) return DNN_EARG;
    if (!params[i]->grad) continue;
    float *g = dnn_data(params[i]->grad);
    int64_t len = dnn_numel(params[i]);
    for (int64_t j = 0; j < len; j++) g[j] = fminf(fmaxf(g[j], -clip), clip);
  }
  return DNN_OK;
}
