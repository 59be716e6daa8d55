/* Dense (GEMM + bias + activation, fused) and softmax / log-softmax. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dnn/autograd.h"
#include "dnn/nn.h"
#include "dnn/ops.h"
#include "dnn/parallel.h"
#include "activation_kernels.h"
#include "kernels.h"

int dnn_activation_from_name(const char *name) {
  static const char *names[] = {"linear", "relu", "leaky_relu", "sigmoid", "tanh", "softmax"};
  for (int i = 0; i < (int)(sizeof names / sizeof *names); i++)
    if (strcmp(name, names[i]) == 0) return i;
  return -1;
}

dnn_tensor *dnn_activate(dnn_tensor *z, dnn_activation act, float alpha) {
  switch (act) {
    case DNN_ACT_RELU:
      return dnn_unary(DNN_UNARY_RELU, z, 0);
    case DNN_ACT_LEAKY_RELU:
      return dnn_unary(DNN_UNARY_LEAKY_RELU, z, alpha);
    case DNN_ACT_SIGMOID:
      return dnn_unary(DNN_UNARY_SIGMOID, z, 0);
    case DNN_ACT_TANH:
      return dnn_unary(DNN_UNARY_TANH, z, 0);
    case DNN_ACT_SOFTMAX:
      return dnn_softmax(z, -1);
    default:
      return dnn_tensor_retain(z);
  }
}

/* ---- Dense ---- */

/* Where the kernel's gradient is written: the engine's buffer for it when it
 * has one (the product is then added straight into w.grad, without a
 * temporary and a pass to add it), else a new tensor in gin[i]. NULL when
 * out of memory. */
static float *grad_target(dnn_node *node, int i, dnn_tensor **gin) {
  dnn_tensor *buf = dnn_node_grad_buffer(node, i);
  if (buf) return dnn_data(buf);
  gin[i] = dnn_empty_like(node->inputs[i]);
  return gin[i] ? dnn_data(gin[i]) : NULL;
}

/* inputs: x (contiguous), w, b; saved[0]: output y (alias). */
static dnn_status dense_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin) {
  dnn_tensor *g = grad_out[0];
  dnn_tensor *x = node->inputs[0], *w = node->inputs[1], *y = dnn_node_saved(node, 0);
  int64_t in = w->shape[0], out = w->shape[1], rows = dnn_numel(g) / out;
  dnn_activation act = (dnn_activation)node->iargs[0];
  dnn_tensor *dz = g;
  if (act != DNN_ACT_LINEAR) {
    dz = dnn_empty_like(g);
    if (!dz) return DNN_ENOMEM;
    dnn_activation_grad(dnn_data(dz), dnn_data(g), dnn_data(y), dnn_numel(g), act, (float)node->fargs[0]);
  }
  dnn_status st = DNN_OK;
  if (dnn_node_needs_grad(node, 0)) { /* dx = dz W^T */
    if ((gin[0] = dnn_empty_like(x)) != NULL)
      dnn_sgemm(false, true, rows, in, out, 1, dnn_data(dz), out, dnn_data(w), out, 0, dnn_data(gin[0]), in);
    else
      st = DNN_ENOMEM;
  }
  if (dnn_node_needs_grad(node, 1)) { /* dW (+)= x^T dz: beta 1 into the engine's buffer, 0 into a new tensor */
    float *dw = grad_target(node, 1, gin);
    if (dw)
      dnn_sgemm(true, false, in, out, rows, 1, dnn_data(x), in, dnn_data(dz), out, gin[1] ? 0 : 1, dw, out);
    else
      st = DNN_ENOMEM;
  }
  if (node->n_inputs > 2 && dnn_node_needs_grad(node, 2)) { /* db: small, its gradient goes the usual way */
    if ((gin[2] = dnn_empty(1, &out)) != NULL)
      dnn_column_sums(dnn_data(dz), rows, out, dnn_data(gin[2]));
    else
      st = DNN_ENOMEM;
  }
  if (dz != g) dnn_tensor_release(dz);
  return st;
}

static dnn_status check_dense_args(const dnn_tensor *x, const dnn_tensor *w, const dnn_tensor *b) {
  char a[96], c[96];
  if (w->ndim != 2)
    return dnn_argerror(2, "dense", "expected a 2-d kernel (in, out), got %s", dnn_shape_str(w, a, sizeof a));
  if (x->ndim < 1 || x->shape[x->ndim - 1] != w->shape[0])
    return dnn_argerror(1, "dense", "expected input of shape (..., %lld) to match kernel %s, got %s",
                        (long long)w->shape[0], dnn_shape_str(w, c, sizeof c), dnn_shape_str(x, a, sizeof a));
  if (b && (b->ndim != 1 || b->shape[0] != w->shape[1]))
    return dnn_argerror(3, "dense", "expected a bias of shape (%lld), got %s", (long long)w->shape[1],
                        dnn_shape_str(b, a, sizeof a));
  return DNN_OK;
}

/* Dense from recorded ops, for gradients of gradients: act(x W + b). */
static dnn_status dense_decompose(dnn_node *node, dnn_tensor *const *inputs, dnn_tensor **outputs) {
  dnn_tensor *xw = dnn_matmul(inputs[0], inputs[1]);
  dnn_tensor *z = xw && node->n_inputs == 3 ? dnn_add(xw, inputs[2]) : dnn_tensor_retain(xw);
  outputs[0] = z ? dnn_activate(z, (dnn_activation)node->iargs[0], (float)node->fargs[0]) : NULL;
  dnn_tensor_release(xw);
  dnn_tensor_release(z);
  return outputs[0] ? DNN_OK : dnn_errcode();
}

dnn_tensor *dnn_dense(dnn_tensor *x, dnn_tensor *w, dnn_tensor *b, dnn_activation act, float alpha) {
  if (check_dense_args(x, w, b) != DNN_OK) return NULL;
  if (act == DNN_ACT_SOFTMAX) { /* a row op: its own op after a linear dense */
    dnn_tensor *z = dnn_dense(x, w, b, DNN_ACT_LINEAR, 0);
    if (!z) return NULL;
    dnn_tensor *y = dnn_softmax(z, -1);
    dnn_tensor_release(z);
    return y;
  }
  dnn_tensor *xc = dnn_contiguous(x), *wc = dnn_contiguous(w), *bc = b ? dnn_contiguous(b) : NULL;
  int64_t shape[DNN_MAX_DIMS];
  memcpy(shape, x->shape, sizeof shape);
  shape[x->ndim - 1] = w->shape[1];
  dnn_tensor *y = xc && wc && (bc || !b) ? dnn_empty(x->ndim, shape) : NULL;
  if (y) {
    int64_t in = w->shape[0], out = w->shape[1], rows = dnn_numel(x) / (in ? in : 1);
    if (in == 0) rows = dnn_numel(y) / (out ? out : 1);
    dnn_sgemm(false, false, rows, out, in, 1, dnn_data(xc), in, dnn_data(wc), out, 0, dnn_data(y), out);
    dnn_bias_activation(dnn_data(y), bc ? dnn_data(bc) : NULL, rows, out, act, alpha);
    dnn_tensor *inputs[3] = {xc, wc, bc};
    dnn_node *node = dnn_record(y, "dense", dense_backward, b ? 3 : 2, inputs);
    if (node) {
      node->iargs[0] = act;
      node->fargs[0] = alpha;
      node->decompose = dense_decompose;
      if (dnn_node_save(node, dnn_alias(y)) != DNN_OK) {
        dnn_tensor_release(y);
        y = NULL;
      }
    }
  }
  dnn_tensor_release(xc);
  dnn_tensor_release(wc);
  dnn_tensor_release(bc);
  return y;
}

/* ---- softmax and log-softmax over one dim ----
 * A contiguous tensor seen as (outer, n, inner): element (o, i, k) sits at
 * (o * n + i) * inner + k, so dim is walked with stride inner. */

typedef struct {
  int64_t outer, n, inner;
} dim_split;

static dim_split split_at(const dnn_tensor *t, int dim) {
  dim_split s = {1, t->ndim ? t->shape[dim] : 1, 1};
  for (int d = 0; d < dim; d++) s.outer *= t->shape[d];
  for (int d = dim + 1; d < t->ndim; d++) s.inner *= t->shape[d];
  return s;
}

/* y = x - max - log(sum(exp(x - max))) (log) or exp(x - max) / sum (not log). */
static void softmax_rows(const float *x, float *y, dim_split s, bool log) {
#pragma omp parallel for if (s.outer * s.n * s.inner > DNN_PARALLEL_GRAIN)
  for (int64_t o = 0; o < s.outer; o++) {
    for (int64_t k = 0; k < s.inner; k++) {
      const float *xr = x + o * s.n * s.inner + k;
      float *yr = y + o * s.n * s.inner + k;
      float mx = -INFINITY;
      for (int64_t i = 0; i < s.n; i++) mx = fmaxf(mx, xr[i * s.inner]);
      float sum = 0;
      for (int64_t i = 0; i < s.n; i++) {
        float e = expf(xr[i * s.inner] - mx);
        yr[i * s.inner] = log ? xr[i * s.inner] - mx : e;
        sum += e;
      }
      if (log) {
        float lse = logf(sum);
        for (int64_t i = 0; i < s.n; i++) yr[i * s.inner] -= lse;
      } else {
        float inv = 1 / sum;
        for (int64_t i = 0; i < s.n; i++) yr[i * s.inner] *= inv;
      }
    }
  }
}

static dnn_tensor *softmax_op(dnn_tensor *x, int dim, bool log);

/* create_graph: the same gradients with recorded ops, softmax(x) recomputed
 * from the input (never the saved output, which has no graph). */
static dnn_status softmax_backward_composed(dnn_node *node, dnn_tensor *g, dnn_tensor **gin) {
  dnn_tensor *x = node->inputs[0];
  int d = (int)node->iargs[0], rd = x->ndim ? d : DNN_ALL_DIMS;
  bool log = node->iargs[1];
  dnn_tensor *p = softmax_op(x, d, false), *t = NULL, *sum = NULL;
  if (p && log) { /* g - softmax(x) sum(g) */
    sum = dnn_sum(g, rd, true);
    t = sum ? dnn_mul(p, sum) : NULL;
    gin[0] = t ? dnn_sub(g, t) : NULL;
  } else if (p) { /* y (g - sum(g y)) */
    t = dnn_mul(g, p);
    sum = t ? dnn_sum(t, rd, true) : NULL;
    dnn_tensor *c = sum ? dnn_sub(g, sum) : NULL;
    gin[0] = c ? dnn_mul(p, c) : NULL;
    dnn_tensor_release(c);
  }
  dnn_tensor_release(p);
  dnn_tensor_release(t);
  dnn_tensor_release(sum);
  return gin[0] ? DNN_OK : dnn_errcode();
}

/* softmax: dx = y * (g - sum(g * y)); log-softmax: dx = g - exp(y) * sum(g). */
static dnn_status softmax_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin) {
  dnn_tensor *g = grad_out[0];
  if (dnn_grad_enabled()) return softmax_backward_composed(node, g, gin);
  const dnn_tensor *y = dnn_node_saved(node, 0);
  bool log = node->iargs[1];
  dim_split s = split_at(y, (int)node->iargs[0]);
  dnn_tensor *dx = dnn_empty_like(y);
  if (!dx) return DNN_ENOMEM;
  const float *gp = dnn_data(g), *yp = dnn_data(y);
  float *dp = dnn_data(dx);
  for (int64_t o = 0; o < s.outer; o++) {
    for (int64_t k = 0; k < s.inner; k++) {
      int64_t base = o * s.n * s.inner + k;
      float dot = 0;
      for (int64_t i = 0; i < s.n; i++) {
        int64_t j = base + i * s.inner;
        dot += log ? gp[j] : gp[j] * yp[j];
      }
      for (int64_t i = 0; i < s.n; i++) {
        int64_t j = base + i * s.inner;
        dp[j] = log ? gp[j] - expf(yp[j]) * dot : yp[j] * (gp[j] - dot);
      }
    }
  }
  gin[0] = dx;
  return DNN_OK;
}

static dnn_tensor *softmax_op(dnn_tensor *x, int dim, bool log) {
  const char *op = log ? "log_softmax" : "softmax";
  int d = x->ndim ? dnn_wrap_dim(op, 2, dim, x->ndim) : 0;
  if (d < 0) return NULL;
  dnn_tensor *xc = dnn_contiguous(x);
  dnn_tensor *y = xc ? dnn_empty_like(x) : NULL;
  if (y) {
    softmax_rows(dnn_data(xc), dnn_data(y), split_at(x, d), log);
    dnn_node *node = dnn_record(y, op, softmax_backward, 1, &xc);
    if (node) {
      node->iargs[0] = d;
      node->iargs[1] = log;
      node->flags |= DNN_NODE_DIFFERENTIABLE;
      if (dnn_node_save(node, dnn_alias(y)) != DNN_OK) {
        dnn_tensor_release(y);
        dnn_tensor_release(xc);
        return NULL;
      }
    }
  }
  dnn_tensor_release(xc);
  return y;
}

dnn_tensor *dnn_softmax(dnn_tensor *x, int dim) { return softmax_op(x, dim, false); }
dnn_tensor *dnn_log_softmax(dnn_tensor *x, int dim) { return softmax_op(x, dim, true); }
