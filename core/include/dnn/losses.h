/* Losses as Keras defines them, each a fused forward and gradient. A loss
 * first computes one value per example: the per-example loss, of y_pred's
 * shape without its last dim (a mean over the last dim for the elementwise
 * losses, a sum over the classes for the cross-entropies and KLD). Then one
 * shared step weights and reduces those values, as Keras 3's
 * reduce_weighted_values (see dnn_loss_options). The result is recorded for
 * autodiff with y_pred and y_true as its inputs: both get gradients (sparse
 * labels are class ids, not differentiable).
 *
 * Argument order follows Keras: (y_true, y_pred). Shapes must be equal, or
 * differ by a trailing dim of 1 ((N) against (N, 1)), as Keras accepts.
 * from_logits is explicit: without it, the cross-entropies take y_pred as
 * probabilities, clipped to [eps, 1 - eps] with eps = 1e-7 (Keras's
 * backend.epsilon()); a clip passes the gradient at its bounds and stops it
 * outside them, as torch.clamp. */
#ifndef DNN_LOSSES_H
#define DNN_LOSSES_H

#include "dnn/tensor.h"

#define DNN_LOSS_EPSILON 1e-7f

/* Keras 3's reductions of the (weighted) per-example losses l_i. */
typedef enum {
  DNN_REDUCE_SUM_OVER_BATCH_SIZE, /* sum(w_i l_i) / count: count of the l_i, or of the unmasked ones with a mask */
  DNN_REDUCE_SUM, /* sum(w_i l_i) */
  DNN_REDUCE_NONE /* w_i l_i, of the per-example shape */
} dnn_reduction;

/* How the per-example losses become the result; NULL (or all zero) means
 * Keras's default: sum_over_batch_size, no weights, no mask. Weights and mask
 * are constants: an error when one requires grad (as PyTorch's loss weights).
 * A position of weight 0 (or masked) contributes exactly 0, even where its
 * loss is not finite. */
typedef struct {
  dnn_reduction reduction;
  /* NULL, or broadcastable to the per-example shape (NumPy's rules, after
   * dropping a trailing dim of 1 that the per-example shape lacks): w_i */
  dnn_tensor *sample_weight;
  /* NULL, or 0s and 1s broadcastable likewise: w_i is multiplied by it, and
   * sum_over_batch_size divides by the count of ones (0 when there are none) */
  dnn_tensor *mask;
} dnn_loss_options;

/* A reduction by Keras's name ("sum_over_batch_size", "sum", "none"); -1
 * when unknown. */
int dnn_reduction_from_name(const char *name);

/* mean over the last dim of (y_pred - y_true)^2 */
dnn_tensor *dnn_mse_loss(dnn_tensor *y_true, dnn_tensor *y_pred, const dnn_loss_options *opt);
/* mean over the last dim of |y_pred - y_true| */
dnn_tensor *dnn_mae_loss(dnn_tensor *y_true, dnn_tensor *y_pred, const dnn_loss_options *opt);
/* mean over the last dim of e^2 / 2 if |e| <= delta else delta |e| - delta^2 / 2, e = y_pred - y_true */
dnn_tensor *dnn_huber_loss(dnn_tensor *y_true, dnn_tensor *y_pred, float delta, const dnn_loss_options *opt);
/* mean over the last dim of -(y log p + (1 - y) log(1 - p)), y smoothed to y (1 - ls) + ls / 2;
 * p = sigmoid(y_pred) from logits (computed stably), else y_pred clipped */
dnn_tensor *dnn_binary_crossentropy(dnn_tensor *y_true, dnn_tensor *y_pred, bool from_logits, float label_smoothing,
                                    const dnn_loss_options *opt);
/* -sum_c y_c log p_c over the last dim, p = softmax(y_pred) from logits (log-sum-exp), else y_pred / sum(y_pred)
 * clipped; y smoothed to y (1 - ls) + ls / classes. y_true (batch..., classes) one-hot or soft. */
dnn_tensor *dnn_categorical_crossentropy(dnn_tensor *y_true, dnn_tensor *y_pred, bool from_logits,
                                         float label_smoothing, const dnn_loss_options *opt);
/* categorical_crossentropy of one-hot targets at the labels: -log p[label] when label_smoothing is 0; labels
 * (batch...) or (batch..., 1) of class ids from base; y_pred (batch..., classes). */
dnn_tensor *dnn_sparse_categorical_crossentropy(dnn_tensor *labels, dnn_tensor *y_pred, bool from_logits, int base,
                                                float label_smoothing, const dnn_loss_options *opt);
/* sum over the last dim of t log(t / p), t and p clipped to [eps, 1] */
dnn_tensor *dnn_kl_divergence(dnn_tensor *y_true, dnn_tensor *y_pred, const dnn_loss_options *opt);

#endif
