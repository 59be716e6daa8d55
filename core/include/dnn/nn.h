/* Layer kernels and losses: fused where fusing pays (Dense = GEMM + bias +
 * activation; softmax/sigmoid with their cross-entropies). Recorded for
 * autodiff like every op. */
#ifndef DNN_NN_H
#define DNN_NN_H

#include "dnn/tensor.h"

typedef enum {
  DNN_ACT_LINEAR,
  DNN_ACT_RELU,
  DNN_ACT_LEAKY_RELU, /* slope in the op's alpha argument */
  DNN_ACT_SIGMOID,
  DNN_ACT_TANH,
  DNN_ACT_SOFTMAX     /* over the last dim */
} dnn_activation;

/* Activation by Keras name ("relu", ...); -1 when unknown. */
int dnn_activation_from_name(const char *name);

/* y = act(x @ W + b); x (..., in), W (in, out), b (out) or NULL. */
dnn_tensor *dnn_dense(dnn_tensor *x, dnn_tensor *w, dnn_tensor *b, dnn_activation act, float alpha);

/* softmax / log-softmax over dim; softmax keeps x as its logits. */
dnn_tensor *dnn_softmax(dnn_tensor *x, int dim);
dnn_tensor *dnn_log_softmax(dnn_tensor *x, int dim);
/* sigmoid that keeps x as its logits (the unary op does not). */
dnn_tensor *dnn_sigmoid(dnn_tensor *x);

/* ---- losses: mean over the batch, a 0-d tensor ----
 * Argument order follows Keras: (y_true, y_pred). When y_pred came out of
 * softmax/sigmoid, the loss works from its logits (stable log-sum-exp). */
dnn_tensor *dnn_mse_loss(dnn_tensor *y_true, dnn_tensor *y_pred);
dnn_tensor *dnn_binary_crossentropy(dnn_tensor *y_true, dnn_tensor *y_pred, bool from_logits);
/* labels (batch...) of class ids from base; y_pred (batch..., classes). */
dnn_tensor *dnn_sparse_categorical_crossentropy(dnn_tensor *labels, dnn_tensor *y_pred, bool from_logits,
                                                int base);

#endif
