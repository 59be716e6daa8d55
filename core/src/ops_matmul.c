/* matmul through OpenBLAS's cblas_sgemm, forward and backward.
 *
 * Every case (2-d, 1-d operands, batched with broadcasting, and the three
 * products of the backward) goes through one routine, bgemm(), over "mats":
 * a batch of matrices described by strides. A transposed operand is the same
 * memory with rows and cols swapped, so dA = dC @ B^T and dB = A^T @ dC reach
 * gemm as CblasTrans flags, never as transposed copies. Before looping over
 * the batch, bgemm folds batch dims into the gemm itself where the layout
 * allows: (B,T,K)@(K,N) becomes one (B*T,K)@(K,N) gemm, and the weight
 * gradient of that product, summed over the batch, one (K,B*T)@(B*T,N) gemm. */
#include <cblas.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "dnn/autograd.h"
#include "dnn/ops.h"
#include "dnn/parallel.h"
#include "kernels.h"

/* A batch of rows x cols matrices: element (b..., i, j) is at
 * data[sum(b_d * bstride_d) + i * rs + j * cs]. */
typedef struct {
  float *data;
  int nb;
  int64_t bshape[DNN_MAX_DIMS], bstride[DNN_MAX_DIMS];
  int64_t rows, cols, rs, cs;
} mat;

/* An operand of matmul as a mat; a 1-d tensor is a row (1, K) on the left and
 * a column (K, 1) on the right, as NumPy. */
static mat mat_operand(const dnn_tensor *t, bool left) {
  mat m = {.data = dnn_data(t)};
  int nd = t->ndim;
  if (nd == 1) {
    m.rows = left ? 1 : t->shape[0];
    m.cols = left ? t->shape[0] : 1;
    m.rs = left ? t->shape[0] * t->stride[0] : t->stride[0];
    m.cs = left ? t->stride[0] : 1;
    return m;
  }
  m.nb = nd - 2;
  for (int d = 0; d < m.nb; d++) {
    m.bshape[d] = t->shape[d];
    m.bstride[d] = t->stride[d];
  }
  m.rows = t->shape[nd - 2];
  m.cols = t->shape[nd - 1];
  m.rs = t->stride[nd - 2];
  m.cs = t->stride[nd - 1];
  return m;
}

/* A contiguous batch of matrices (an output or a gradient). */
static mat mat_dense(float *data, int nb, const int64_t *bshape, int64_t rows, int64_t cols) {
  mat m = {.data = data, .nb = nb, .rows = rows, .cols = cols, .rs = cols, .cs = 1};
  int64_t stride = rows * cols;
  for (int d = nb - 1; d >= 0; d--) {
    m.bshape[d] = bshape[d];
    m.bstride[d] = stride;
    stride *= bshape[d];
  }
  return m;
}

static mat mat_t(mat m) {
  int64_t r = m.rows, s = m.rs;
  m.rows = m.cols;
  m.rs = m.cs;
  m.cols = r;
  m.cs = s;
  return m;
}

/* How gemm reads m: row-major as stored (NoTrans, leading dim rs) or as the
 * transpose of a row-major (cols, rows) matrix (Trans, leading dim cs). A
 * size-1 dim's stride is irrelevant. False when neither fits. */
static bool gemm_layout(const mat *m, CBLAS_TRANSPOSE *trans, int *ld) {
  int64_t r = m->rows, c = m->cols;
  if ((c == 1 || m->cs == 1) && (r == 1 || m->rs >= (c > 1 ? c : 1))) {
    int64_t l = r == 1 ? (c > 1 ? c : 1) : m->rs;
    if (l > INT_MAX) return false;
    *trans = CblasNoTrans;
    *ld = (int)l;
    return true;
  }
  if ((r == 1 || m->rs == 1) && (c == 1 || m->cs >= (r > 1 ? r : 1))) {
    int64_t l = c == 1 ? (r > 1 ? r : 1) : m->cs;
    if (l > INT_MAX) return false;
    *trans = CblasTrans;
    *ld = (int)l;
    return true;
  }
  return false;
}

/* Copies m into a fresh contiguous buffer (*owned), keeping broadcast batch
 * dims (stride 0) unmaterialised. */
static dnn_status mat_compact(mat *m, float **owned) {
  int64_t count = 1, mn = m->rows * m->cols;
  int64_t nstride[DNN_MAX_DIMS];
  for (int d = m->nb - 1; d >= 0; d--) {
    nstride[d] = m->bstride[d] ? count * mn : 0;
    if (m->bstride[d]) count *= m->bshape[d];
  }
  float *buf = malloc((size_t)(count * mn > 0 ? count * mn : 1) * sizeof(float));
  if (!buf) return dnn_error(DNN_ENOMEM, "matmul", "out of memory");
  int64_t idx[DNN_MAX_DIMS] = {0};
  for (int64_t k = 0; k < count; k++) {
    int64_t src = 0, dst = 0;
    for (int d = 0; d < m->nb; d++) {
      src += idx[d] * m->bstride[d];
      dst += idx[d] * nstride[d];
    }
    for (int64_t i = 0; i < m->rows; i++)
      for (int64_t j = 0; j < m->cols; j++) buf[dst + i * m->cols + j] = m->data[src + i * m->rs + j * m->cs];
    for (int d = m->nb - 1; d >= 0; d--) { /* next index over the non-broadcast dims */
      if (!m->bstride[d]) continue;
      if (++idx[d] < m->bshape[d]) break;
      idx[d] = 0;
    }
  }
  m->data = buf;
  memcpy(m->bstride, nstride, sizeof nstride);
  m->rs = m->cols;
  m->cs = 1;
  *owned = buf;
  return DNN_OK;
}

/* Whether an outer dim (size n, stride outer) merges with the inner dim
 * (size inner_n, stride *inner) into one of size n * inner_n; sets the merged
 * stride in *inner. */
static bool merge_dims(int64_t n, int64_t outer, int64_t inner_n, int64_t *inner) {
  if (inner_n == 1) {
    *inner = outer;
    return true;
  }
  return n == 1 || outer == inner_n * *inner;
}

static void drop_last_batch(mat *x, mat *y, mat *o) {
  x->nb--;
  y->nb--;
  o->nb--;
}

/* Folds the innermost batch dim into the gemm while the layout allows:
 * into M when y is shared across it (stride 0), into K when the output sums
 * over it (stride 0). */
static void fold_batch(mat *x, mat *y, mat *o) {
  while (x->nb > 0) {
    int d = x->nb - 1;
    int64_t n = x->bshape[d];
    int64_t xr = x->rs, ors = o->rs, xc = x->cs, yr = y->rs;
    if (y->bstride[d] == 0 && o->bstride[d] != 0 && x->rows <= INT_MAX / n &&
        merge_dims(n, x->bstride[d], x->rows, &xr) && merge_dims(n, o->bstride[d], o->rows, &ors)) {
      x->rows *= n;
      x->rs = xr;
      o->rows *= n;
      o->rs = ors;
      drop_last_batch(x, y, o);
    } else if (o->bstride[d] == 0 && x->cols <= INT_MAX / n && merge_dims(n, x->bstride[d], x->cols, &xc) &&
               merge_dims(n, y->bstride[d], y->rows, &yr)) {
      x->cols *= n;
      x->cs = xc;
      y->rows *= n;
      y->rs = yr;
      drop_last_batch(x, y, o);
    } else {
      return;
    }
  }
}

/* Right-aligns the three batch shapes onto the broadcast one (x's and y's),
 * giving broadcast dims stride 0, and drops dims of size 1. An output dim of
 * size 1 under a larger batch size gets stride 0: the output sums over it. */
static void align_batch(mat *x, mat *y, mat *o) {
  int nb = x->nb > y->nb ? x->nb : y->nb;
  mat *ms[3] = {x, y, o};
  int64_t shape[DNN_MAX_DIMS], stride[3][DNN_MAX_DIMS];
  for (int d = 0; d < nb; d++) {
    shape[d] = 1;
    for (int k = 0; k < 2; k++) {
      int md = d - (nb - ms[k]->nb);
      if (md >= 0 && ms[k]->bshape[md] != 1) shape[d] = ms[k]->bshape[md];
    }
  }
  for (int k = 0; k < 3; k++) {
    for (int d = 0; d < nb; d++) {
      int md = d - (nb - ms[k]->nb);
      stride[k][d] = md >= 0 && ms[k]->bshape[md] == shape[d] ? ms[k]->bstride[md] : 0;
    }
  }
  int kept = 0;
  for (int d = 0; d < nb; d++) {
    if (shape[d] == 1) continue;
    for (int k = 0; k < 3; k++) {
      ms[k]->bshape[kept] = shape[d];
      ms[k]->bstride[kept] = stride[k][d];
    }
    kept++;
  }
  for (int k = 0; k < 3; k++) ms[k]->nb = kept;
}

/* Below this many multiply-adds per gemm, a batch runs one gemm per thread
 * rather than each gemm on every thread (OpenBLAS runs tiny gemms on one
 * thread anyway); when the whole batch is tinier than DNN_PARALLEL_GRAIN it
 * stays on one thread. */
#define SMALL_GEMM (64 * 64 * 64)

/* o = x @ y over a broadcast batch: x (..., M, K), y (..., K, N), o (..., M, N)
 * a fresh contiguous buffer, summed over batch dims where it has size 1 (or
 * fewer dims) and x or y does not. Shapes were checked by the caller. */
static dnn_status bgemm(mat x, mat y, mat o) {
  int64_t M = x.rows, N = y.cols, K = x.cols;
  int64_t total = M * N;
  for (int d = 0; d < o.nb; d++) total *= o.bshape[d];
  align_batch(&x, &y, &o);
  int64_t count = 1;
  for (int d = 0; d < x.nb; d++) count *= x.bshape[d];
  if (total == 0) return DNN_OK;
  if (K == 0 || count == 0) {
    memset(o.data, 0, (size_t)total * sizeof(float));
    return DNN_OK;
  }
  if (M > INT_MAX || N > INT_MAX || K > INT_MAX)
    return dnn_error(DNN_EARG, "matmul", "matrix sizes beyond %d are not supported", INT_MAX);
  fold_batch(&x, &y, &o);
  count = 1;
  bool sums = false; /* several products add into one output */
  for (int d = 0; d < x.nb; d++) {
    count *= x.bshape[d];
    if (o.bstride[d] == 0) sums = true;
  }

  float *owned[2] = {NULL, NULL};
  CBLAS_TRANSPOSE ta, tb, tc;
  int lda, ldb, ldc;
  dnn_status st = DNN_OK;
  if (!gemm_layout(&x, &ta, &lda)) {
    st = mat_compact(&x, &owned[0]);
    if (st == DNN_OK) gemm_layout(&x, &ta, &lda);
  }
  if (st == DNN_OK && !gemm_layout(&y, &tb, &ldb)) {
    st = mat_compact(&y, &owned[1]);
    if (st == DNN_OK) gemm_layout(&y, &tb, &ldb);
  }
  if (st == DNN_OK && (!gemm_layout(&o, &tc, &ldc) || tc != CblasNoTrans))
    st = dnn_error(DNN_ESTATE, "matmul", "internal error: output is not row-major");
  if (st != DNN_OK) {
    free(owned[0]);
    free(owned[1]);
    return st;
  }

  int m = (int)x.rows, n = (int)y.cols, k = (int)x.cols;
  float beta = 0;
  if (sums) { /* start from zero and add in a fixed order */
    memset(o.data, 0, (size_t)total * sizeof(float));
    beta = 1;
  }
  double work = (double)m * n * k;
  bool split = !sums && count > 1 && work < SMALL_GEMM && work * (double)count > DNN_PARALLEL_GRAIN;
#pragma omp parallel for schedule(static) if (split)
  for (int64_t b = 0; b < count; b++) {
    int64_t xo = 0, yo = 0, oo = 0, rest = b;
    for (int d = x.nb - 1; d >= 0; d--) {
      int64_t i = rest % x.bshape[d];
      rest /= x.bshape[d];
      xo += i * x.bstride[d];
      yo += i * y.bstride[d];
      oo += i * o.bstride[d];
    }
    dnn_sgemm(ta == CblasTrans, tb == CblasTrans, m, n, k, 1.0f, x.data + xo, lda, y.data + yo, ldb, beta, o.data + oo,
              ldc);
  }
  free(owned[0]);
  free(owned[1]);
  return DNN_OK;
}

/* ---- matmul ---- */

/* The operands' batch shape (right-aligned broadcast of both), or an error. */
static dnn_status batch_shape(const dnn_tensor *a, const dnn_tensor *b, int *nb, int64_t *shape) {
  int na = a->ndim > 2 ? a->ndim - 2 : 0, nbb = b->ndim > 2 ? b->ndim - 2 : 0;
  *nb = na > nbb ? na : nbb;
  for (int d = 0; d < *nb; d++) {
    int da = d - (*nb - na), db = d - (*nb - nbb);
    int64_t sa = da >= 0 ? a->shape[da] : 1, sb = db >= 0 ? b->shape[db] : 1;
    if (sa != sb && sa != 1 && sb != 1) {
      char x[96], y[96];
      return dnn_argerror(2, "matmul", "expected batch dims that broadcast with %s, got %s",
                          dnn_shape_str(a, x, sizeof x), dnn_shape_str(b, y, sizeof y));
    }
    shape[d] = sa != 1 ? sa : sb;
  }
  return DNN_OK;
}

/* The output's promoted batch shape and M, N; *ndim and shape get the result's
 * shape (without the dims of a 1-d operand). */
static void out_shape(const dnn_tensor *a, const dnn_tensor *b, int nb, const int64_t *batch, int *ndim,
                      int64_t *shape) {
  int n = 0;
  for (int d = 0; d < nb; d++) shape[n++] = batch[d];
  if (a->ndim >= 2) shape[n++] = a->shape[a->ndim - 2];
  if (b->ndim >= 2) shape[n++] = b->shape[b->ndim - 1];
  *ndim = n;
}

/* t (of 2 dims or more) with its last two dims swapped; a recorded view. */
static dnn_tensor *swap_last(dnn_tensor *t) { return dnn_transpose(t, t->ndim - 2, t->ndim - 1); }

/* The gradient of operand t, computed as its promoted form t2 (a 1-d operand
 * made a row or a column) from full (batch..., rows, cols): summed over the
 * broadcast batch dims and given t's shape. Takes over full. */
static dnn_tensor *to_operand(dnn_tensor *full, const dnn_tensor *t2, const dnn_tensor *t) {
  dnn_tensor *s = full ? dnn_sum_to_shape(full, t2->ndim, t2->shape) : NULL;
  dnn_tensor_release(full);
  dnn_tensor *r = s ? dnn_reshape(s, t->ndim, t->shape) : NULL;
  dnn_tensor_release(s);
  return r;
}

/* create_graph: the same gradients with recorded ops (views, matmul,
 * sum_to_shape), so that they can be differentiated again. */
static dnn_status matmul_backward_composed(dnn_node *node, dnn_tensor *g, dnn_tensor **gin) {
  dnn_tensor *a = node->inputs[0], *b = node->inputs[1];
  int nb;
  int64_t shape[DNN_MAX_DIMS];
  batch_shape(a, b, &nb, shape);
  shape[nb] = a->ndim >= 2 ? a->shape[a->ndim - 2] : 1;
  shape[nb + 1] = b->ndim >= 2 ? b->shape[b->ndim - 1] : 1;
  dnn_tensor *a2 = a->ndim >= 2 ? dnn_tensor_retain(a) : dnn_unsqueeze(a, 0);
  dnn_tensor *b2 = b->ndim >= 2 ? dnn_tensor_retain(b) : dnn_unsqueeze(b, 1);
  dnn_tensor *g2 = dnn_reshape(g, nb + 2, shape);
  dnn_status st = a2 && b2 && g2 ? DNN_OK : dnn_errcode();
  if (st == DNN_OK && dnn_node_needs_grad(node, 0)) {
    dnn_tensor *bt = swap_last(b2);
    gin[0] = bt ? to_operand(dnn_matmul(g2, bt), a2, a) : NULL;
    dnn_tensor_release(bt);
    if (!gin[0]) st = dnn_errcode();
  }
  if (st == DNN_OK && dnn_node_needs_grad(node, 1)) {
    dnn_tensor *at = swap_last(a2);
    gin[1] = at ? to_operand(dnn_matmul(at, g2), b2, b) : NULL;
    dnn_tensor_release(at);
    if (!gin[1]) st = dnn_errcode();
  }
  dnn_tensor_release(a2);
  dnn_tensor_release(b2);
  dnn_tensor_release(g2);
  return st;
}

/* dA = dC @ B^T, dB = A^T @ dC, each summed over the batch dims its operand
 * was broadcast along. */
static dnn_status matmul_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin) {
  dnn_tensor *g = grad_out[0];
  if (dnn_grad_enabled()) return matmul_backward_composed(node, g, gin);
  const dnn_tensor *a = node->inputs[0], *b = node->inputs[1];
  mat ma = mat_operand(a, true), mb = mat_operand(b, false);
  int nb;
  int64_t batch[DNN_MAX_DIMS];
  batch_shape(a, b, &nb, batch);
  mat mg = mat_dense(dnn_data(g), nb, batch, ma.rows, mb.cols);
  if (dnn_node_needs_grad(node, 0)) {
    gin[0] = dnn_empty(a->ndim, a->shape);
    if (!gin[0]) return dnn_errcode();
    dnn_status st = bgemm(mg, mat_t(mb), mat_dense(dnn_data(gin[0]), ma.nb, ma.bshape, ma.rows, ma.cols));
    if (st != DNN_OK) return st;
  }
  if (dnn_node_needs_grad(node, 1)) {
    gin[1] = dnn_empty(b->ndim, b->shape);
    if (!gin[1]) return dnn_errcode();
    dnn_status st = bgemm(mat_t(ma), mg, mat_dense(dnn_data(gin[1]), mb.nb, mb.bshape, mb.rows, mb.cols));
    if (st != DNN_OK) return st;
  }
  return DNN_OK;
}

dnn_tensor *dnn_matmul(dnn_tensor *a, dnn_tensor *b) {
  if (a->ndim == 0) return dnn_argerror(1, "matmul", "expected a tensor with at least 1 dim, got a 0-d tensor"), NULL;
  if (b->ndim == 0) return dnn_argerror(2, "matmul", "expected a tensor with at least 1 dim, got a 0-d tensor"), NULL;
  int64_t ka = a->shape[a->ndim - 1], kb = b->shape[b->ndim >= 2 ? b->ndim - 2 : 0];
  if (ka != kb) return dnn_argerror(2, "matmul", "expected inner dim %" PRId64 ", got %" PRId64, ka, kb), NULL;
  int nb, nd;
  int64_t batch[DNN_MAX_DIMS], shape[DNN_MAX_DIMS];
  if (batch_shape(a, b, &nb, batch) != DNN_OK) return NULL;
  out_shape(a, b, nb, batch, &nd, shape);
  dnn_tensor *out = dnn_empty(nd, shape);
  if (!out) return NULL;
  mat ma = mat_operand(a, true), mb = mat_operand(b, false);
  if (bgemm(ma, mb, mat_dense(dnn_data(out), nb, batch, ma.rows, mb.cols)) != DNN_OK) {
    dnn_tensor_release(out);
    return NULL;
  }
  dnn_tensor *ins[2] = {a, b};
  if (!dnn_needs_record(2, ins)) return out;
  dnn_node *node = dnn_record(out, "matmul", matmul_backward, 2, ins);
  if (!node) {
    dnn_tensor_release(out);
    return NULL;
  }
  node->flags |= DNN_NODE_DIFFERENTIABLE;
  return out;
}
