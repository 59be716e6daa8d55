/* Optimizer steps, Keras 3's update rules (keras/src/optimizers/): each
 * call updates every parameter in one go, reading each parameter's grad and
 * skipping parameters that have none. State tensors (moments, accumulators)
 * are the caller's, one per parameter and of its shape unless said
 * otherwise, zero before the first step unless said otherwise.
 *
 * learning_rate is this step's rate (the caller evaluates schedules).
 * weight_decay, in every config, is Keras's decoupled decay, applied before
 * the update: p -= learning_rate * weight_decay * p (0 turns it off). Where an
 * optimizer counts steps, step is 1 on the first update (Keras's
 * iterations + 1). Gradient clipping is separate (below), done before. */
#ifndef DNN_OPTIM_H
#define DNN_OPTIM_H

#include "dnn/tensor.h"

typedef struct dnn_sgd_config {
  float learning_rate, momentum, weight_decay;
  bool nesterov;
} dnn_sgd_config;

/* v = momentum v - lr g; p += v (nesterov: p += momentum v - lr g); without momentum p -= lr g.
 * velocity may be NULL when momentum is 0. */
dnn_status dnn_sgd_step(int n, dnn_tensor *const *params, dnn_tensor *const *velocity, const dnn_sgd_config *cfg);

typedef struct dnn_rmsprop_config {
  float learning_rate, rho, momentum, epsilon, weight_decay;
  bool centered;
} dnn_rmsprop_config;

/* v = rho v + (1-rho) g^2; centered: a = rho a + (1-rho) g, d = v - a^2 + eps, else d = v + eps;
 * inc = lr g / sqrt(d); momentum: mom = momentum mom + inc, p -= mom; else p -= inc.
 * momentum may be NULL when cfg->momentum is 0, average_grad when not centered. */
dnn_status dnn_rmsprop_step(int n, dnn_tensor *const *params, dnn_tensor *const *velocity, dnn_tensor *const *momentum,
                            dnn_tensor *const *average_grad, const dnn_rmsprop_config *cfg);

typedef struct dnn_adam_config {
  float learning_rate, beta_1, beta_2, epsilon, weight_decay;
  int64_t step;
} dnn_adam_config;

/* m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; amsgrad (v_hat not NULL): v_hat = max(v_hat, v), used for v;
 * p -= lr sqrt(1-b2^t)/(1-b1^t) m / (sqrt(v) + eps). AdamW is this with weight_decay. */
dnn_status dnn_adam_step(int n, dnn_tensor *const *params, dnn_tensor *const *m, dnn_tensor *const *v,
                         dnn_tensor *const *v_hat, const dnn_adam_config *cfg);

/* m = b1 m + (1-b1) g; u = max(b2 u, |g|); p -= lr m / ((1-b1^t) (u + eps)). */
dnn_status dnn_adamax_step(int n, dnn_tensor *const *params, dnn_tensor *const *m, dnn_tensor *const *u,
                           const dnn_adam_config *cfg);

/* mu_t = b1 (1 - 0.5 * 0.96^t); *u_product (the product of mu_1 .. mu_{t-1}, 1 before the first step)
 * becomes prod = *u_product mu_t; m, v as Adam;
 * m_hat = mu_{t+1} m / (1 - prod mu_{t+1}) + (1 - mu_t) g / (1 - prod); v_hat = v / (1 - b2^t);
 * p -= lr m_hat / (sqrt(v_hat) + eps). */
dnn_status dnn_nadam_step(int n, dnn_tensor *const *params, dnn_tensor *const *m, dnn_tensor *const *v,
                          double *u_product, const dnn_adam_config *cfg);

typedef struct dnn_adadelta_config {
  float learning_rate, rho, epsilon, weight_decay;
} dnn_adadelta_config;

/* a = rho a + (1-rho) g^2; d = -sqrt(ad + eps) g / sqrt(a + eps); ad = rho ad + (1-rho) d^2; p += lr d. */
dnn_status dnn_adadelta_step(int n, dnn_tensor *const *params, dnn_tensor *const *accum_grad,
                             dnn_tensor *const *accum_delta, const dnn_adadelta_config *cfg);

typedef struct dnn_adagrad_config {
  float learning_rate, epsilon, weight_decay;
} dnn_adagrad_config;

/* a += g^2; p -= lr g / sqrt(a + eps). a starts at initial_accumulator_value (0.1 in Keras), the caller's. */
dnn_status dnn_adagrad_step(int n, dnn_tensor *const *params, dnn_tensor *const *accum, const dnn_adagrad_config *cfg);

typedef struct dnn_ftrl_config {
  float learning_rate, learning_rate_power, l1, l2, l2_shrinkage, beta, weight_decay;
} dnn_ftrl_config;

/* k = -learning_rate_power; gs = g + 2 l2_shrinkage p; a' = a + g^2;
 * z += gs - (a'^k - a^k) / lr p; q = a'^k / lr + 2 (l2 + beta / (2 lr));
 * p = (clip(z, -l1, l1) - z) / q; a = a'. a starts at initial_accumulator_value (the caller's), z at 0. */
dnn_status dnn_ftrl_step(int n, dnn_tensor *const *params, dnn_tensor *const *accum, dnn_tensor *const *linear,
                         const dnn_ftrl_config *cfg);

typedef struct dnn_adafactor_config {
  float learning_rate, beta_2_decay, epsilon_1, epsilon_2, clip_threshold, weight_decay;
  int64_t step;
} dnn_adafactor_config;

/* rho = min(lr, 1/sqrt(t)); alpha = max(eps2, rms(p)) rho; b = 1 - t^beta_2_decay; G = g^2 + eps1.
 * Params of 2+ dims (..., R, C) keep factored moments r (..., R) and c (..., C):
 *   r = b r + (1-b) mean_C(G); c = b c + (1-b) mean_R(G); v = r / mean_R(r) * c (not stored);
 * the others keep v (their shape): v = b v + (1-b) G.
 * u = g / sqrt(v); p -= alpha u / max(1, rms(u) / clip_threshold).
 * Unused entries (r, c of small params, v of factored ones) are ignored and may be NULL. */
dnn_status dnn_adafactor_step(int n, dnn_tensor *const *params, dnn_tensor *const *r, dnn_tensor *const *c,
                              dnn_tensor *const *v, const dnn_adafactor_config *cfg);

/* ---- gradient clipping (Keras's clipnorm, global_clipnorm, clipvalue) ---- */
/* Scales all grads so that their global L2 norm is at most max_norm; the norm before clipping goes to *norm_out
 * (may be NULL). */
dnn_status dnn_clip_grad_norm(int n, dnn_tensor *const *params, float max_norm, float *norm_out);
/* g = g * max_norm / max(||g||, max_norm) for each parameter's grad on its own. */
dnn_status dnn_clip_grad_norm_each(int n, dnn_tensor *const *params, float max_norm);
/* g = clip(g, -clip, clip) */
dnn_status dnn_clip_grad_value(int n, dnn_tensor *const *params, float clip);

#endif
