/* Losses as Keras defines them, each a fused forward and gradient: the
 * per-example loss (a mean or sum over the last dim) averaged over every
 * other dim, Keras's default "sum_over_batch_size" reduction. The result is a
 * 0-d tensor recorded for autodiff with y_pred as its input.
 *
 * Argument order follows Keras: (y_true, y_pred). Shapes must be equal, or
 * differ by a trailing dim of 1 ((N) against (N, 1)), as Keras accepts. When
 * y_pred came out of dnn_softmax/dnn_sigmoid, the cross-entropies work from
 * its logits (stable log-sum-exp). Probabilities are clipped to
 * [eps, 1 - eps] with eps = 1e-7, Keras's backend.epsilon(). */
#ifndef DNN_LOSSES_H
#define DNN_LOSSES_H

#include "dnn/tensor.h"

#define DNN_LOSS_EPSILON 1e-7f

/* mean((y_pred - y_true)^2) */
dnn_tensor *dnn_mse_loss(dnn_tensor *y_true, dnn_tensor *y_pred);
/* mean(|y_pred - y_true|) */
dnn_tensor *dnn_mae_loss(dnn_tensor *y_true, dnn_tensor *y_pred);
/* mean(e^2 / 2 if |e| <= delta else delta |e| - delta^2 / 2), e = y_pred - y_true */
dnn_tensor *dnn_huber_loss(dnn_tensor *y_true, dnn_tensor *y_pred, float delta);
/* -mean(y log p + (1 - y) log(1 - p)), y smoothed to y (1 - ls) + ls / 2; p = sigmoid(y_pred) from logits */
dnn_tensor *dnn_binary_crossentropy(dnn_tensor *y_true, dnn_tensor *y_pred, bool from_logits, float label_smoothing);
/* mean over rows of -sum_c y_c log p_c, p = softmax(y_pred) from logits, else y_pred / sum(y_pred) clipped;
 * y smoothed to y (1 - ls) + ls / classes. y_true (batch..., classes) one-hot or soft. */
dnn_tensor *dnn_categorical_crossentropy(dnn_tensor *y_true, dnn_tensor *y_pred, bool from_logits,
                                         float label_smoothing);
/* mean over rows of -log p[label]; labels (batch...) of class ids from base; y_pred (batch..., classes). */
dnn_tensor *dnn_sparse_categorical_crossentropy(dnn_tensor *labels, dnn_tensor *y_pred, bool from_logits, int base);
/* mean over rows of sum_c t_c log(t_c / p_c), t and p clipped to [eps, 1] */
dnn_tensor *dnn_kl_divergence(dnn_tensor *y_true, dnn_tensor *y_pred);

#endif
