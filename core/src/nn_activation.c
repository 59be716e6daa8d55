/* PReLU, Keras's: y = x if x > 0 else alpha * x, with a learned alpha for
 * each position of an example, shared (size 1 in alpha) along Keras's
 * shared_axes. The other activations are one-input ops (ops.h).
 *
 * x is seen as (N, D), D the product of the trailing dims alpha lines up
 * with; alpha is expanded once into one slope per position j < D, so the hot
 * loops are plain vectorizable loops. dalpha sums over the N rows in blocks
 * fixed by the shape alone (double, added in order), then folds the positions
 * that share a slope in position order: the same bits at any thread count. */
#include <stdlib.h>
#include <string.h>

#include "dnn/autograd.h"
#include "dnn/nn.h"
#include "kernels.h"

#define MAX_BLOCKS 64

/* For each position j < D of an example, the offset of its slope in the
 * contiguous alpha (alpha's size-1 dims broadcast). */
static int64_t *slope_offsets(const dnn_tensor *x, const dnn_tensor *alpha, int64_t D) {
  int64_t *off = malloc((size_t)(D + 1) * sizeof *off);
  if (!off) return NULL;
  int an = alpha->ndim, lead = x->ndim - an;
  int64_t stride[DNN_MAX_DIMS], s = 1;
  for (int d = an - 1; d >= 0; d--) {
    stride[d] = alpha->shape[d] == 1 ? 0 : s;
    s *= alpha->shape[d];
  }
  for (int64_t j = 0; j < D; j++) {
    int64_t rem = j, o = 0;
    for (int d = an - 1; d >= 0; d--) {
      int64_t size = x->shape[lead + d];
      o += (rem % size) * stride[d];
      rem /= size;
    }
    off[j] = o;
  }
  return off;
}

/* The slope of each position: a[j] = alpha[off[j]]. */
static float *expand_slopes(const float *alpha, const int64_t *off, int64_t D) {
  float *a = malloc((size_t)(D + 1) * sizeof *a);
  if (a)
    for (int64_t j = 0; j < D; j++) a[j] = alpha[off[j]];
  return a;
}

static int64_t positions(const dnn_tensor *x, const dnn_tensor *alpha) {
  int64_t D = 1;
  for (int d = x->ndim - alpha->ndim; d < x->ndim; d++) D *= x->shape[d];
  return D;
}

/* dalpha[off[j]] += sum over rows of g x where x <= 0, blocks of rows summed in double and added in order. */
static dnn_status slope_grads(const float *g, const float *x, const int64_t *off, int64_t N, int64_t D, float *dalpha) {
  int64_t per = D >= DNN_BLOCK ? 1 : DNN_BLOCK / (D > 0 ? D : 1), least = (N + MAX_BLOCKS - 1) / MAX_BLOCKS;
  if (per < least) per = least;
  int64_t nblocks = N > 0 ? (N + per - 1) / per : 0;
  double *part = calloc((size_t)(nblocks * D + 1), sizeof(double));
  if (!part) return dnn_error(DNN_ENOMEM, "prelu", "out of memory for %lld sums", (long long)(nblocks * D));
#pragma omp parallel for schedule(static) if (N * D > DNN_PARALLEL_GRAIN)
  for (int64_t blk = 0; blk < nblocks; blk++) {
    double *acc = part + blk * D;
    int64_t end = (blk + 1) * per < N ? (blk + 1) * per : N;
    for (int64_t i = blk * per; i < end; i++) {
      const float *gr = g + i * D, *xr = x + i * D;
      for (int64_t j = 0; j < D; j++) acc[j] += xr[j] > 0 ? 0.0f : gr[j] * xr[j];
    }
  }
  for (int64_t j = 0; j < D; j++) {
    double s = 0;
    for (int64_t blk = 0; blk < nblocks; blk++) s += part[blk * D + j];
    dalpha[off[j]] += (float)s;
  }
  free(part);
  return DNN_OK;
}

/* inputs: x, alpha (both contiguous). dx = g where x > 0, else alpha g. */
static dnn_status prelu_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin) {
  dnn_tensor *g = grad_out[0];
  const dnn_tensor *x = node->inputs[0], *alpha = node->inputs[1];
  int64_t D = positions(x, alpha), N = D ? dnn_numel(x) / D : 0;
  int64_t *off = slope_offsets(x, alpha, D);
  float *a = off ? expand_slopes(dnn_data(alpha), off, D) : NULL;
  dnn_status st = a ? DNN_OK : DNN_ENOMEM;
  if (st == DNN_OK && dnn_node_needs_grad(node, 0)) {
    if ((gin[0] = dnn_empty_like(x)) == NULL) {
      st = DNN_ENOMEM;
    } else {
      const float *gp = dnn_data(g), *xp = dnn_data(x);
      float *dp = dnn_data(gin[0]);
#pragma omp parallel for if (N * D > DNN_PARALLEL_GRAIN)
      for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < D; j++) dp[i * D + j] = xp[i * D + j] > 0 ? gp[i * D + j] : a[j] * gp[i * D + j];
    }
  }
  if (st == DNN_OK && dnn_node_needs_grad(node, 1)) {
    if ((gin[1] = dnn_zeros_like(alpha)) == NULL)
      st = DNN_ENOMEM;
    else
      st = slope_grads(dnn_data(g), dnn_data(x), off, N, D, dnn_data(gin[1]));
  }
  free(off);
  free(a);
  return st;
}

dnn_tensor *dnn_prelu(dnn_tensor *x, dnn_tensor *alpha) {
  char a[96], b[96];
  bool ok = alpha->ndim <= x->ndim;
  for (int d = 0; ok && d < alpha->ndim; d++) {
    int64_t s = alpha->shape[d];
    ok = s == 1 || s == x->shape[x->ndim - alpha->ndim + d];
  }
  if (!ok) {
    dnn_argerror(2, "prelu", "expected alpha that matches the trailing dims of the input %s (1 where shared), got %s",
                 dnn_shape_str(x, a, sizeof a), dnn_shape_str(alpha, b, sizeof b));
    return NULL;
  }
  int64_t D = positions(x, alpha), N = D ? dnn_numel(x) / D : 0;
  dnn_tensor *xc = dnn_contiguous(x), *ac = dnn_contiguous(alpha);
  dnn_tensor *y = xc && ac ? dnn_empty_like(x) : NULL;
  int64_t *off = y ? slope_offsets(x, alpha, D) : NULL;
  float *slope = off ? expand_slopes(dnn_data(ac), off, D) : NULL;
  if (slope) {
    const float *xp = dnn_data(xc);
    float *yp = dnn_data(y);
#pragma omp parallel for if (N * D > DNN_PARALLEL_GRAIN)
    for (int64_t i = 0; i < N; i++)
      for (int64_t j = 0; j < D; j++) yp[i * D + j] = xp[i * D + j] > 0 ? xp[i * D + j] : slope[j] * xp[i * D + j];
    dnn_tensor *inputs[2] = {xc, ac};
    dnn_record(y, "prelu", prelu_backward, 2, inputs);
  } else {
    if (y) dnn_error(DNN_ENOMEM, "prelu", "out of memory");
    dnn_tensor_release(y);
    y = NULL;
  }
  free(off);
  free(slope);
  dnn_tensor_release(xc);
  dnn_tensor_release(ac);
  return y;
}
