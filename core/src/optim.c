/* Optimizer steps over every parameter in one call (optim.h), Keras 3's
 * update rules. Every step checks all its arguments before it touches any
 * parameter, so a refused call changes nothing. Per-parameter loops are
 * elementwise (OpenMP above the grain); the reductions that Adafactor needs
 * run serially in double, so results do not depend on the thread count. */
#include <math.h>

#include "dnn/autograd.h"
#include "dnn/optim.h"
#include "dnn/parallel.h"
#include "kernels.h"

/* A parameter the optimizer can update: contiguous, with a grad of its shape
 * (or none, then it is skipped). */
static dnn_status check_param(const char *fn, int i, const dnn_tensor *p) {
  if (!p) return dnn_argerror(1, fn, "expected a tensor for parameter %d, got NULL", i + 1);
  if (!dnn_is_contiguous(p))
    return dnn_argerror(1, fn, "expected contiguous parameters, parameter %d is a strided view", i + 1);
  if (p->grad && (!dnn_same_shape(p->grad, p) || !dnn_is_contiguous(p->grad)))
    return dnn_argerror(1, fn, "expected parameter %d's grad to be contiguous and of its shape", i + 1);
  return DNN_OK;
}

/* A step writes every parameter in place: a graph that saved one must learn
 * of it (autograd.h's versions). */
static void bump_versions(int n, dnn_tensor *const *params) {
  for (int i = 0; i < n; i++) dnn_bump_version(params[i]);
}

/* Every parameter valid, and each state list given (argn names it in the
 * error) holding contiguous tensors of the parameters' shapes. A NULL list
 * is accepted only where the caller says it is not needed. On success the
 * step will write the parameters: their versions move. */
static dnn_status check_all(const char *fn, int n, dnn_tensor *const *params, int nlists,
                            dnn_tensor *const *const *lists, const int *argns) {
  if (n < 0) return dnn_argerror(1, fn, "expected a parameter count >= 0, got %d", n);
  for (int i = 0; i < n; i++) {
    if (check_param(fn, i, params[i]) != DNN_OK) return DNN_EARG;
    for (int k = 0; k < nlists; k++) {
      if (!lists[k]) continue;
      const dnn_tensor *s = lists[k][i];
      if (!s || !dnn_same_shape(s, params[i]) || !dnn_is_contiguous(s)) {
        char a[96];
        return dnn_argerror(argns[k], fn, "expected optimizer state %d to be contiguous and of shape %s", i + 1,
                            dnn_shape_str(params[i], a, sizeof a));
      }
    }
  }
  bump_versions(n, params);
  return DNN_OK;
}

static dnn_status need_list(const char *fn, int argn, const void *list, const char *what) {
  if (list) return DNN_OK;
  return dnn_argerror(argn, fn, "expected the %s state, got NULL", what);
}

/* Keras's decoupled weight decay, before the update: p -= lr * wd * p. */
static void decay(float *p, int64_t len, float lr_wd) {
  if (lr_wd == 0) return;
#pragma omp parallel for if (len > DNN_PARALLEL_GRAIN)
  for (int64_t j = 0; j < len; j++) p[j] -= lr_wd * p[j];
}

dnn_status dnn_sgd_step(int n, dnn_tensor *const *params, dnn_tensor *const *velocity, const dnn_sgd_config *cfg) {
  const char *fn = "sgd_step";
  const float lr = cfg->learning_rate, mu = cfg->momentum;
  if (mu != 0 && need_list(fn, 2, velocity, "velocity") != DNN_OK) return DNN_EARG;
  dnn_tensor *const *lists[] = {mu != 0 ? velocity : NULL};
  if (check_all(fn, n, params, 1, lists, (int[]){2}) != DNN_OK) return DNN_EARG;
  for (int i = 0; i < n; i++) {
    if (!params[i]->grad) continue;
    float *p = dnn_data(params[i]);
    const float *g = dnn_data(params[i]->grad);
    int64_t len = dnn_numel(params[i]);
    decay(p, len, lr * cfg->weight_decay);
    if (mu == 0) {
#pragma omp parallel for if (len > DNN_PARALLEL_GRAIN)
      for (int64_t j = 0; j < len; j++) p[j] -= lr * g[j];
      continue;
    }
    float *v = dnn_data(velocity[i]);
    const bool nesterov = cfg->nesterov;
#pragma omp parallel for if (len > DNN_PARALLEL_GRAIN)
    for (int64_t j = 0; j < len; j++) {
      v[j] = mu * v[j] - lr * g[j];
      p[j] += nesterov ? mu * v[j] - lr * g[j] : v[j];
    }
  }
  return DNN_OK;
}

dnn_status dnn_rmsprop_step(int n, dnn_tensor *const *params, dnn_tensor *const *velocity, dnn_tensor *const *momentum,
                            dnn_tensor *const *average_grad, const dnn_rmsprop_config *cfg) {
  const char *fn = "rmsprop_step";
  const bool use_mom = cfg->momentum > 0, centered = cfg->centered;
  if (need_list(fn, 2, velocity, "velocity") != DNN_OK) return DNN_EARG;
  if (use_mom && need_list(fn, 3, momentum, "momentum") != DNN_OK) return DNN_EARG;
  if (centered && need_list(fn, 4, average_grad, "average gradient") != DNN_OK) return DNN_EARG;
  dnn_tensor *const *lists[] = {velocity, use_mom ? momentum : NULL, centered ? average_grad : NULL};
  if (check_all(fn, n, params, 3, lists, (int[]){2, 3, 4}) != DNN_OK) return DNN_EARG;
  const float lr = cfg->learning_rate, rho = cfg->rho, mu = cfg->momentum, eps = cfg->epsilon;
  for (int i = 0; i < n; i++) {
    if (!params[i]->grad) continue;
    float *p = dnn_data(params[i]), *v = dnn_data(velocity[i]);
    float *mom = use_mom ? dnn_data(momentum[i]) : NULL, *avg = centered ? dnn_data(average_grad[i]) : NULL;
    const float *g = dnn_data(params[i]->grad);
    int64_t len = dnn_numel(params[i]);
    decay(p, len, lr * cfg->weight_decay);
#pragma omp parallel for if (len > DNN_PARALLEL_GRAIN)
    for (int64_t j = 0; j < len; j++) {
      v[j] = rho * v[j] + (1 - rho) * g[j] * g[j];
      float denom = v[j] + eps;
      if (avg) {
        avg[j] = rho * avg[j] + (1 - rho) * g[j];
        denom -= avg[j] * avg[j];
      }
      float inc = lr * g[j] / sqrtf(denom);
      if (mom) {
        mom[j] = mu * mom[j] + inc;
        p[j] -= mom[j];
      } else {
        p[j] -= inc;
      }
    }
  }
  return DNN_OK;
}

static dnn_status check_step(const char *fn, int64_t step) {
  if (step >= 1) return DNN_OK;
  return dnn_argerror(1, fn, "expected a step >= 1, got %lld", (long long)step);
}

/* One parameter's Adam update: the rule and the tensors' data. */
typedef struct {
  float b1, b2, eps, alpha; /* alpha: the learning rate with both bias corrections */
  float lr_wd; /* the decoupled weight decay's factor (decay() above, in the same pass) */
  float *p, *m, *v, *v_hat; /* v_hat (AMSGrad's running maximum) may be NULL */
  const float *g;
} adam_update;

/* Elements [s, e) of an Adam update, compiled for the wide vectors too (DNN_SIMD_CLONES): a quarter of an MLP's
 * step before it vectorized. */
DNN_SIMD_CLONES static void adam_block(void *ctx, int64_t s, int64_t e) {
  const adam_update *u = ctx;
  const float b1 = u->b1, b2 = u->b2, eps = u->eps, alpha = u->alpha, lr_wd = u->lr_wd;
  float *restrict p = u->p, *restrict m = u->m, *restrict v = u->v, *restrict v_hat = u->v_hat;
  const float *restrict g = u->g;
  for (int64_t j = s; j < e; j++) {
    p[j] -= lr_wd * p[j];
    m[j] += (g[j] - m[j]) * (1 - b1);
    v[j] += (g[j] * g[j] - v[j]) * (1 - b2);
    float vj = v[j];
    if (v_hat) vj = v_hat[j] = fmaxf(v_hat[j], vj);
    p[j] -= alpha * m[j] / (sqrtf(vj) + eps);
  }
}

dnn_status dnn_adam_step(int n, dnn_tensor *const *params, dnn_tensor *const *m, dnn_tensor *const *v,
                         dnn_tensor *const *v_hat, const dnn_adam_config *cfg) {
  const char *fn = "adam_step";
  if (check_step(fn, cfg->step) != DNN_OK || need_list(fn, 2, m, "first moment") != DNN_OK ||
      need_list(fn, 3, v, "second moment") != DNN_OK)
    return DNN_EARG;
  dnn_tensor *const *lists[] = {m, v, v_hat};
  if (check_all(fn, n, params, 3, lists, (int[]){2, 3, 4}) != DNN_OK) return DNN_EARG;
  const float b1 = cfg->beta_1, b2 = cfg->beta_2;
  const double t = (double)cfg->step;
  adam_update u = {.b1 = b1,
                   .b2 = b2,
                   .eps = cfg->epsilon,
                   .alpha = (float)(cfg->learning_rate * sqrt(1 - pow(b2, t)) / (1 - pow(b1, t))),
                   .lr_wd = cfg->learning_rate * cfg->weight_decay};
  for (int i = 0; i < n; i++) {
    if (!params[i]->grad) continue;
    u.p = dnn_data(params[i]);
    u.m = dnn_data(m[i]);
    u.v = dnn_data(v[i]);
    u.v_hat = v_hat ? dnn_data(v_hat[i]) : NULL;
    u.g = dnn_data(params[i]->grad);
    dnn_for_blocks(dnn_numel(params[i]), 1, adam_block, &u);
  }
  return DNN_OK;
}

dnn_status dnn_adamax_step(int n, dnn_tensor *const *params, dnn_tensor *const *m, dnn_tensor *const *u,
                           const dnn_adam_config *cfg) {
  const char *fn = "adamax_step";
  if (check_step(fn, cfg->step) != DNN_OK || need_list(fn, 2, m, "first moment") != DNN_OK ||
      need_list(fn, 3, u, "norm") != DNN_OK)
    return DNN_EARG;
  dnn_tensor *const *lists[] = {m, u};
  if (check_all(fn, n, params, 2, lists, (int[]){2, 3}) != DNN_OK) return DNN_EARG;
  const float b1 = cfg->beta_1, b2 = cfg->beta_2, eps = cfg->epsilon;
  const float lr_t = (float)(cfg->learning_rate / (1 - pow(b1, (double)cfg->step)));
  for (int i = 0; i < n; i++) {
    if (!params[i]->grad) continue;
    float *p = dnn_data(params[i]), *mi = dnn_data(m[i]), *ui = dnn_data(u[i]);
    const float *g = dnn_data(params[i]->grad);
    int64_t len = dnn_numel(params[i]);
    decay(p, len, cfg->learning_rate * cfg->weight_decay);
#pragma omp parallel for if (len > DNN_PARALLEL_GRAIN)
    for (int64_t j = 0; j < len; j++) {
      mi[j] += (g[j] - mi[j]) * (1 - b1);
      ui[j] = fmaxf(b2 * ui[j], fabsf(g[j]));
      p[j] -= lr_t * mi[j] / (ui[j] + eps);
    }
  }
  return DNN_OK;
}

dnn_status dnn_nadam_step(int n, dnn_tensor *const *params, dnn_tensor *const *m, dnn_tensor *const *v,
                          double *u_product, const dnn_adam_config *cfg) {
  const char *fn = "nadam_step";
  if (check_step(fn, cfg->step) != DNN_OK || need_list(fn, 2, m, "first moment") != DNN_OK ||
      need_list(fn, 3, v, "second moment") != DNN_OK || need_list(fn, 4, u_product, "momentum product") != DNN_OK)
    return DNN_EARG;
  dnn_tensor *const *lists[] = {m, v};
  if (check_all(fn, n, params, 2, lists, (int[]){2, 3}) != DNN_OK) return DNN_EARG;
  const double t = (double)cfg->step, b1 = cfg->beta_1;
  const double mu_t = b1 * (1 - 0.5 * pow(0.96, t)), mu_next = b1 * (1 - 0.5 * pow(0.96, t + 1));
  const double prod = *u_product * mu_t, prod_next = prod * mu_next;
  *u_product = prod;
  /* m_hat = cm m + cg g; v_hat = v / (1 - b2^t) */
  const float cm = (float)(mu_next / (1 - prod_next)), cg = (float)((1 - mu_t) / (1 - prod));
  const float inv_bc2 = (float)(1 / (1 - pow(cfg->beta_2, t)));
  const float b1f = cfg->beta_1, b2 = cfg->beta_2, eps = cfg->epsilon, lr = cfg->learning_rate;
  for (int i = 0; i < n; i++) {
    if (!params[i]->grad) continue;
    float *p = dnn_data(params[i]), *mi = dnn_data(m[i]), *vi = dnn_data(v[i]);
    const float *g = dnn_data(params[i]->grad);
    int64_t len = dnn_numel(params[i]);
    decay(p, len, lr * cfg->weight_decay);
#pragma omp parallel for if (len > DNN_PARALLEL_GRAIN)
    for (int64_t j = 0; j < len; j++) {
      mi[j] += (g[j] - mi[j]) * (1 - b1f);
      vi[j] += (g[j] * g[j] - vi[j]) * (1 - b2);
      float m_hat = cm * mi[j] + cg * g[j];
      p[j] -= lr * m_hat / (sqrtf(vi[j] * inv_bc2) + eps);
    }
  }
  return DNN_OK;
}

dnn_status dnn_adadelta_step(int n, dnn_tensor *const *params, dnn_tensor *const *accum_grad,
                             dnn_tensor *const *accum_delta, const dnn_adadelta_config *cfg) {
  const char *fn = "adadelta_step";
  if (need_list(fn, 2, accum_grad, "accumulated gradient") != DNN_OK ||
      need_list(fn, 3, accum_delta, "accumulated delta") != DNN_OK)
    return DNN_EARG;
  dnn_tensor *const *lists[] = {accum_grad, accum_delta};
  if (check_all(fn, n, params, 2, lists, (int[]){2, 3}) != DNN_OK) return DNN_EARG;
  const float lr = cfg->learning_rate, rho = cfg->rho, eps = cfg->epsilon;
  for (int i = 0; i < n; i++) {
    if (!params[i]->grad) continue;
    float *p = dnn_data(params[i]), *ag = dnn_data(accum_grad[i]), *ad = dnn_data(accum_delta[i]);
    const float *g = dnn_data(params[i]->grad);
    int64_t len = dnn_numel(params[i]);
    decay(p, len, lr * cfg->weight_decay);
#pragma omp parallel for if (len > DNN_PARALLEL_GRAIN)
    for (int64_t j = 0; j < len; j++) {
      ag[j] = rho * ag[j] + (1 - rho) * g[j] * g[j];
      float d = -sqrtf(ad[j] + eps) * g[j] / sqrtf(ag[j] + eps);
      ad[j] = rho * ad[j] + (1 - rho) * d * d;
      p[j] += lr * d;
    }
  }
  return DNN_OK;
}

dnn_status dnn_adagrad_step(int n, dnn_tensor *const *params, dnn_tensor *const *accum, const dnn_adagrad_config *cfg) {
  const char *fn = "adagrad_step";
  if (need_list(fn, 2, accum, "accumulator") != DNN_OK) return DNN_EARG;
  dnn_tensor *const *lists[] = {accum};
  if (check_all(fn, n, params, 1, lists, (int[]){2}) != DNN_OK) return DNN_EARG;
  const float lr = cfg->learning_rate, eps = cfg->epsilon;
  for (int i = 0; i < n; i++) {
    if (!params[i]->grad) continue;
    float *p = dnn_data(params[i]), *a = dnn_data(accum[i]);
    const float *g = dnn_data(params[i]->grad);
    int64_t len = dnn_numel(params[i]);
    decay(p, len, lr * cfg->weight_decay);
#pragma omp parallel for if (len > DNN_PARALLEL_GRAIN)
    for (int64_t j = 0; j < len; j++) {
      a[j] += g[j] * g[j];
      p[j] -= lr * g[j] / sqrtf(a[j] + eps);
    }
  }
  return DNN_OK;
}

dnn_status dnn_ftrl_step(int n, dnn_tensor *const *params, dnn_tensor *const *accum, dnn_tensor *const *linear,
                         const dnn_ftrl_config *cfg) {
  const char *fn = "ftrl_step";
  if (need_list(fn, 2, accum, "accumulator") != DNN_OK || need_list(fn, 3, linear, "linear") != DNN_OK) return DNN_EARG;
  if (!(cfg->learning_rate > 0))
    return dnn_argerror(1, fn, "expected a learning rate > 0, got %g", (double)cfg->learning_rate);
  dnn_tensor *const *lists[] = {accum, linear};
  if (check_all(fn, n, params, 2, lists, (int[]){2, 3}) != DNN_OK) return DNN_EARG;
  const float lr = cfg->learning_rate, k = -cfg->learning_rate_power, l1 = cfg->l1;
  const float shrink = 2 * cfg->l2_shrinkage, l2_twice = 2 * (cfg->l2 + cfg->beta / (2 * lr));
  for (int i = 0; i < n; i++) {
    if (!params[i]->grad) continue;
    float *p = dnn_data(params[i]), *a = dnn_data(accum[i]), *z = dnn_data(linear[i]);
    const float *g = dnn_data(params[i]->grad);
    int64_t len = dnn_numel(params[i]);
    decay(p, len, lr * cfg->weight_decay);
#pragma omp parallel for if (len > DNN_PARALLEL_GRAIN)
    for (int64_t j = 0; j < len; j++) {
      float a_new = a[j] + g[j] * g[j], pow_new = powf(a_new, k);
      z[j] += g[j] + shrink * p[j] - (pow_new - powf(a[j], k)) / lr * p[j];
      float q = pow_new / lr + l2_twice;
      p[j] = (fminf(fmaxf(z[j], -l1), l1) - z[j]) / q;
      a[j] = a_new;
    }
  }
  return DNN_OK;
}

/* ---- Adafactor ---- */

/* Factored moments' shapes: r is p's shape without the last dim, c without
 * the second last. */
static bool factored_shapes_ok(const dnn_tensor *p, const dnn_tensor *r, const dnn_tensor *c) {
  int d = p->ndim;
  if (!r || !c || !dnn_is_contiguous(r) || !dnn_is_contiguous(c) || r->ndim != d - 1 || c->ndim != d - 1) return false;
  for (int k = 0; k < d - 2; k++)
    if (r->shape[k] != p->shape[k] || c->shape[k] != p->shape[k]) return false;
  return r->shape[d - 2] == p->shape[d - 2] && c->shape[d - 2] == p->shape[d - 1];
}

static dnn_status check_adafactor(int n, dnn_tensor *const *params, dnn_tensor *const *r, dnn_tensor *const *c,
                                  dnn_tensor *const *v) {
  const char *fn = "adafactor_step";
  if (n < 0) return dnn_argerror(1, fn, "expected a parameter count >= 0, got %d", n);
  for (int i = 0; i < n; i++) {
    if (check_param(fn, i, params[i]) != DNN_OK) return DNN_EARG;
    const dnn_tensor *p = params[i];
    char a[96];
    if (p->ndim >= 2) {
      if (!r || !c || !factored_shapes_ok(p, r[i], c[i]))
        return dnn_argerror(2, fn,
                            "expected factored moments r and c of parameter %d %s to drop its last and "
                            "second last dims",
                            i + 1, dnn_shape_str(p, a, sizeof a));
    } else if (!v || !v[i] || !dnn_same_shape(v[i], p) || !dnn_is_contiguous(v[i])) {
      return dnn_argerror(4, fn, "expected optimizer state %d to be contiguous and of shape %s", i + 1,
                          dnn_shape_str(p, a, sizeof a));
    }
  }
  bump_versions(n, params);
  return DNN_OK;
}

/* Updates r (rows of cols) and c from G = g^2 + eps1 for one (rows, cols)
 * slice; returns mean(r), the normaliser of v = r / mean(r) * c. */
static double factored_update(const float *g, int64_t rows, int64_t cols, float *r, float *c, float b, float eps1) {
  for (int64_t k = 0; k < cols; k++) c[k] *= b;
  double r_sum = 0;
  for (int64_t i = 0; i < rows; i++) {
    const float *gi = g + i * cols;
    double row = 0;
    for (int64_t k = 0; k < cols; k++) {
      float sq = gi[k] * gi[k] + eps1;
      row += sq;
      c[k] += (1 - b) * sq / (float)rows;
    }
    r[i] = b * r[i] + (1 - b) * (float)(row / (double)cols);
    r_sum += r[i];
  }
  return r_sum / (double)rows;
}

/* One parameter: moments updated, then the clipped update applied. */
static void adafactor_param(dnn_tensor *param, float *r, float *c, float *v, const dnn_adafactor_config *cfg) {
  float *p = dnn_data(param);
  const float *g = dnn_data(param->grad);
  int64_t len = dnn_numel(param);
  const double t = (double)cfg->step;
  decay(p, len, cfg->learning_rate * cfg->weight_decay);
  double sq = 0;
  for (int64_t j = 0; j < len; j++) sq += (double)p[j] * p[j];
  const double rho = fmin(cfg->learning_rate, 1 / sqrt(t));
  const float alpha = (float)(fmax(cfg->epsilon_2, len ? sqrt(sq / (double)len) : 0) * rho);
  const float b = (float)(1 - pow(t, cfg->beta_2_decay)), eps1 = cfg->epsilon_1;
  /* u = g / sqrt(v), kept in the grad-sized pass below as g * inv_sqrt_v */
  double u_sq = 0;
  if (param->ndim >= 2) {
    int64_t rows = param->shape[param->ndim - 2], cols = param->shape[param->ndim - 1];
    int64_t slices = rows && cols ? len / (rows * cols) : 0;
    for (int64_t s = 0; s < slices; s++) {
      float *rs = r + s * rows, *cs = c + s * cols;
      const float *gs = g + s * rows * cols;
      double r_mean = factored_update(gs, rows, cols, rs, cs, b, eps1);
      for (int64_t i = 0; i < rows; i++)
        for (int64_t k = 0; k < cols; k++) {
          double u = gs[i * cols + k] / sqrt(rs[i] / r_mean * cs[k]);
          u_sq += u * u;
        }
    }
    double scale = 1 / fmax(1, sqrt(u_sq / (double)len) / cfg->clip_threshold);
    for (int64_t s = 0; s < slices; s++) {
      const float *rs = r + s * rows, *cs = c + s * cols, *gs = g + s * rows * cols;
      float *ps = p + s * rows * cols;
      double r_mean = 0;
      for (int64_t i = 0; i < rows; i++) r_mean += rs[i];
      r_mean /= (double)rows;
      for (int64_t i = 0; i < rows; i++)
        for (int64_t k = 0; k < cols; k++)
          ps[i * cols + k] -= (float)(alpha * scale * gs[i * cols + k] / sqrt(rs[i] / r_mean * cs[k]));
    }
    return;
  }
  for (int64_t j = 0; j < len; j++) {
    v[j] = b * v[j] + (1 - b) * (g[j] * g[j] + eps1);
    double u = g[j] / sqrt((double)v[j]);
    u_sq += u * u;
  }
  double scale = 1 / fmax(1, sqrt(u_sq / (double)(len ? len : 1)) / cfg->clip_threshold);
  for (int64_t j = 0; j < len; j++) p[j] -= (float)(alpha * scale * g[j] / sqrt((double)v[j]));
}

dnn_status dnn_adafactor_step(int n, dnn_tensor *const *params, dnn_tensor *const *r, dnn_tensor *const *c,
                              dnn_tensor *const *v, const dnn_adafactor_config *cfg) {
  if (check_step("adafactor_step", cfg->step) != DNN_OK || check_adafactor(n, params, r, c, v) != DNN_OK)
    return DNN_EARG;
  for (int i = 0; i < n; i++) {
    if (!params[i]->grad) continue;
    bool factored = params[i]->ndim >= 2;
    adafactor_param(params[i], factored ? dnn_data(r[i]) : NULL, factored ? dnn_data(c[i]) : NULL,
                    factored ? NULL : dnn_data(v[i]), cfg);
  }
  return DNN_OK;
}

/* ---- clipping ---- */

/* For the clipping functions, which write only the gradients. */
static dnn_status check_params(const char *fn, int n, dnn_tensor *const *params) {
  if (n < 0) return dnn_argerror(1, fn, "expected a parameter count >= 0, got %d", n);
  for (int i = 0; i < n; i++)
    if (check_param(fn, i, params[i]) != DNN_OK) return DNN_EARG;
  return DNN_OK;
}

static double sum_squares(const float *g, int64_t len) {
  double sq = 0;
  for (int64_t j = 0; j < len; j++) sq += (double)g[j] * g[j];
  return sq;
}

static void scale_grad(dnn_tensor *p, float scale) {
  float *g = dnn_data(p->grad);
  int64_t len = dnn_numel(p);
#pragma omp parallel for if (len > DNN_PARALLEL_GRAIN)
  for (int64_t j = 0; j < len; j++) g[j] *= scale;
}

dnn_status dnn_clip_grad_norm(int n, dnn_tensor *const *params, float max_norm, float *norm_out) {
  if (check_params("clip_grad_norm", n, params) != DNN_OK) return DNN_EARG;
  double sq = 0;
  for (int i = 0; i < n; i++)
    if (params[i]->grad) sq += sum_squares(dnn_data(params[i]->grad), dnn_numel(params[i]));
  float norm = (float)sqrt(sq);
  if (norm_out) *norm_out = norm;
  if (norm <= max_norm || norm == 0) return DNN_OK;
  for (int i = 0; i < n; i++)
    if (params[i]->grad) scale_grad(params[i], max_norm / norm);
  return DNN_OK;
}

dnn_status dnn_clip_grad_norm_each(int n, dnn_tensor *const *params, float max_norm) {
  if (check_params("clip_grad_norm_each", n, params) != DNN_OK) return DNN_EARG;
  for (int i = 0; i < n; i++) {
    if (!params[i]->grad) continue;
    float norm = (float)sqrt(sum_squares(dnn_data(params[i]->grad), dnn_numel(params[i])));
    if (norm > max_norm) scale_grad(params[i], max_norm / norm);
  }
  return DNN_OK;
}

dnn_status dnn_clip_grad_value(int n, dnn_tensor *const *params, float clip) {
  if (check_params("clip_grad_value", n, params) != DNN_OK) return DNN_EARG;
  for (int i = 0; i < n; i++) {
    if (!params[i]->grad) continue;
    float *g = dnn_data(params[i]->grad);
    int64_t len = dnn_numel(params[i]);
#pragma omp parallel for if (len > DNN_PARALLEL_GRAIN)
    for (int64_t j = 0; j < len; j++) g[j] = fminf(fmaxf(g[j], -clip), clip);
  }
  return DNN_OK;
}
