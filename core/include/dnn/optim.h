/* Optimizer steps: each updates every parameter in one call, reading each
 * parameter's grad (skipping those with none). State tensors (moments) are
 * the caller's, one per parameter, of the parameter's shape. Update rules are
 * Keras's where Keras and PyTorch differ. */
#ifndef DNN_OPTIM_H
#define DNN_OPTIM_H

#include "dnn/tensor.h"

typedef struct dnn_sgd_config {
  float learning_rate, momentum, weight_decay;
  bool nesterov;
} dnn_sgd_config;

/* Keras: v = momentum * v - lr * g; p += v (nesterov: p += momentum * v - lr * g).
 * velocity may be NULL when momentum is 0. */
dnn_status dnn_sgd_step(int n, dnn_tensor *const *params, dnn_tensor *const *velocity,
                        const dnn_sgd_config *cfg);

typedef struct dnn_adam_config {
  float learning_rate, beta_1, beta_2, epsilon, weight_decay; /* weight_decay: AdamW's, decoupled */
  int64_t step; /* 1 on the first step */
} dnn_adam_config;

/* Keras: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * p -= lr * sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps). */
dnn_status dnn_adam_step(int n, dnn_tensor *const *params, dnn_tensor *const *m, dnn_tensor *const *v,
                         const dnn_adam_config *cfg);

/* Scales all grads so that their global L2 norm is at most max_norm; returns
 * the norm before clipping in *norm_out (may be NULL). */
dnn_status dnn_clip_grad_norm(int n, dnn_tensor *const *params, float max_norm, float *norm_out);
dnn_status dnn_clip_grad_value(int n, dnn_tensor *const *params, float clip);

#endif
