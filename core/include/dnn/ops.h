/* Differentiable math on tensors: elementwise with NumPy broadcasting,
 * reductions, matmul, joining and indexing. Each op records itself for
 * autodiff (autograd.h) and returns a new tensor, or NULL with an error set.
 * Dims are 0-based; argn in error messages counts the tensor itself as #1,
 * as a Lua method call does. Index tensors hold whole numbers as floats;
 * `base` says where their ids start (0 from C, 1 from Lua). */
#ifndef DNN_OPS_H
#define DNN_OPS_H

#include "dnn/tensor.h"

/* ---- elementwise, broadcasting ---- */
dnn_tensor *dnn_add(dnn_tensor *a, dnn_tensor *b); /* a + b */
dnn_tensor *dnn_sub(dnn_tensor *a, dnn_tensor *b); /* a - b */
dnn_tensor *dnn_mul(dnn_tensor *a, dnn_tensor *b); /* a * b */
dnn_tensor *dnn_div(dnn_tensor *a, dnn_tensor *b); /* a / b */
dnn_tensor *dnn_pow(dnn_tensor *a, dnn_tensor *b); /* a ^ b */
dnn_tensor *dnn_maximum(dnn_tensor *a, dnn_tensor *b); /* max(a, b); grad to the larger (a on ties) */
dnn_tensor *dnn_minimum(dnn_tensor *a, dnn_tensor *b); /* min(a, b) */

/* Comparisons give 0/1 tensors and no gradient. */
typedef enum { DNN_CMP_EQ, DNN_CMP_NE, DNN_CMP_LT, DNN_CMP_LE, DNN_CMP_GT, DNN_CMP_GE } dnn_cmp;
dnn_tensor *dnn_compare(dnn_cmp cmp, dnn_tensor *a, dnn_tensor *b);
dnn_tensor *dnn_compare_scalar(dnn_cmp cmp, dnn_tensor *a, float s);

/* With a scalar (no tensor made for it: the fast path of t + 1). */
dnn_tensor *dnn_affine(dnn_tensor *a, float alpha, float beta); /* alpha * a + beta */
/* t = alpha t + beta in t's own storage when nothing is recorded and t is
 * contiguous (the fast path of t:mul_(s) and friends: no copy of t, which
 * for a dataset is its size again); false, t untouched, otherwise. */
bool dnn_affine_in_place(dnn_tensor *t, float alpha, float beta);
dnn_tensor *dnn_pow_scalar(dnn_tensor *a, float p); /* a ^ p */
dnn_tensor *dnn_rpow_scalar(float s, dnn_tensor *a); /* s ^ a */
dnn_tensor *dnn_rdiv_scalar(float s, dnn_tensor *a); /* s / a */

/* ---- elementwise, one input ---- */
typedef enum {
  DNN_UNARY_NEG,
  DNN_UNARY_EXP,
  DNN_UNARY_LOG,
  DNN_UNARY_SQRT,
  DNN_UNARY_ABS,
  DNN_UNARY_RELU,
  DNN_UNARY_LEAKY_RELU, /* param: negative slope */
  DNN_UNARY_SIGMOID,
  DNN_UNARY_TANH,
  DNN_UNARY_ELU, /* param: alpha */
  DNN_UNARY_SELU,
  DNN_UNARY_GELU, /* exact, erf form */
  DNN_UNARY_SOFTPLUS,
  DNN_UNARY_SWISH, /* x * sigmoid(x) */
  DNN_UNARY_HARD_SIGMOID, /* Keras 3: relu6(x + 3) / 6 */
  DNN_UNARY_SQUARE,
  DNN_UNARY_COUNT
} dnn_unary_op;
const char *dnn_unary_name(dnn_unary_op op);
dnn_tensor *dnn_unary(dnn_unary_op op, dnn_tensor *a, float param);
dnn_tensor *dnn_clamp(dnn_tensor *a, float lo, float hi); /* grad 1 inside [lo, hi] */

/* ---- reductions: over one dim, or every dim with dim = DNN_ALL_DIMS ----
 * Sums run in fixed-size chunks combined in a fixed order, so results do not
 * depend on the thread count. */
dnn_tensor *dnn_sum(dnn_tensor *a, int dim, bool keepdim);
dnn_tensor *dnn_mean(dnn_tensor *a, int dim, bool keepdim);
dnn_tensor *dnn_var(dnn_tensor *a, int dim, bool keepdim, int correction); /* sum((x-mean)^2)/(n-correction) */
dnn_tensor *dnn_max(dnn_tensor *a, int dim, bool keepdim); /* grad to the first maximum */
dnn_tensor *dnn_min(dnn_tensor *a, int dim, bool keepdim);
/* Positions (base-based) of the first max/min; no gradient. */
dnn_tensor *dnn_argmax(dnn_tensor *a, int dim, bool keepdim, int base);
dnn_tensor *dnn_argmin(dnn_tensor *a, int dim, bool keepdim, int base);

/* ---- linear algebra ---- */
/* (n,k)@(k,m); a 1-d operand acts as a row/column as NumPy; more dims are a
 * batch, broadcast between a and b. Through cblas_sgemm. */
dnn_tensor *dnn_matmul(dnn_tensor *a, dnn_tensor *b);

/* ---- joining and indexing ---- */
dnn_tensor *dnn_cat(int n, dnn_tensor *const *ts, int dim);
dnn_tensor *dnn_stack(int n, dnn_tensor *const *ts, int dim); /* dim in [0, ndim] of the result */
/* out[..., i, ...] = a[..., index[i], ...] along dim; index 1-d. */
dnn_tensor *dnn_index_select(dnn_tensor *a, int dim, dnn_tensor *index, int base);
/* out[i][j] = a[i][index[i][j]] along dim (index has a's ndim), as torch.gather. */
dnn_tensor *dnn_gather(dnn_tensor *a, int dim, dnn_tensor *index, int base);
/* labels (any shape) -> labels.shape + (n,) of 0/1. */
dnn_tensor *dnn_one_hot(dnn_tensor *labels, int64_t n, int base);

#endif
