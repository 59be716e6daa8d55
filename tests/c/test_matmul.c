/* matmul: every operand kind against a naive double-precision reference,
 * strided and transposed operands, errors, and gradients (analytic and by
 * finite differences). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dnn/dnn.h"
#include "tensor_check.h"

/* ---- helpers ---- */

static dnn_tensor *randn(int ndim, const int64_t *shape) { return dnn_randn(ndim, shape); }

static dnn_tensor *tensor2(int64_t r, int64_t c) { return randn(2, (int64_t[]){r, c}); }

/* Element of t at a multi-index (any strides). */
static float at(const dnn_tensor *t, const int64_t *idx) {
  int64_t off = 0;
  for (int d = 0; d < t->ndim; d++) off += idx[d] * t->stride[d];
  return dnn_data(t)[off];
}

/* out[b..., i, j] = sum_k a[b..., i, k] b[b..., k, j] in double, with NumPy's
 * 1-d promotion and batch broadcasting, compared with got. */
static double max_err_vs_reference(const dnn_tensor *a, const dnn_tensor *b, const dnn_tensor *got) {
  int a1 = a->ndim == 1, b1 = b->ndim == 1;
  int64_t M = a1 ? 1 : a->shape[a->ndim - 2], K = a->shape[a->ndim - 1], N = b1 ? 1 : b->shape[b->ndim - 1];
  int na = a->ndim - 2 > 0 ? a->ndim - 2 : 0, nbb = b->ndim - 2 > 0 ? b->ndim - 2 : 0;
  int nb = na > nbb ? na : nbb;
  int64_t bshape[DNN_MAX_DIMS], count = 1;
  for (int d = 0; d < nb; d++) {
    int da = d - (nb - na), db = d - (nb - nbb);
    int64_t sa = da >= 0 ? a->shape[da] : 1, sb = db >= 0 ? b->shape[db] : 1;
    bshape[d] = sa > sb ? sa : sb;
    count *= bshape[d];
  }
  double worst = 0;
  for (int64_t c = 0; c < count; c++) {
    int64_t bi[DNN_MAX_DIMS], rest = c;
    for (int d = nb - 1; d >= 0; d--) {
      bi[d] = rest % bshape[d];
      rest /= bshape[d];
    }
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < N; j++) {
        double s = 0;
        for (int64_t k = 0; k < K; k++) {
          int64_t ia[DNN_MAX_DIMS], ib[DNN_MAX_DIMS];
          for (int d = 0; d < na; d++) ia[d] = a->shape[d] == 1 ? 0 : bi[d + nb - na];
          for (int d = 0; d < nbb; d++) ib[d] = b->shape[d] == 1 ? 0 : bi[d + nb - nbb];
          if (a1) {
            ia[0] = k;
          } else {
            ia[na] = i;
            ia[na + 1] = k;
          }
          if (b1) {
            ib[0] = k;
          } else {
            ib[nbb] = k;
            ib[nbb + 1] = j;
          }
          s += (double)at(a, ia) * at(b, ib);
        }
        int64_t io[DNN_MAX_DIMS];
        int n = 0;
        for (int d = 0; d < nb; d++) io[n++] = bi[d];
        if (!a1) io[n++] = i;
        if (!b1) io[n++] = j;
        double e = fabs(at(got, io) - s) / (1 + fabs(s));
        if (e > worst) worst = e;
      }
  }
  return worst;
}

/* matmul(a, b) has shape `shape` and matches the reference. */
static void check_product(dnn_tensor *a, dnn_tensor *b, int ndim, const int64_t *shape) {
  dnn_tensor *c = dnn_matmul(a, b);
  CHECK(c != NULL);
  if (!c) {
    fprintf(stderr, "  matmul failed: %s\n", dnn_errmsg());
    return;
  }
  bool shaped = has_shape(c, ndim, shape);
  CHECK(shaped);
  CHECK(dnn_is_contiguous(c));
  if (shaped) CHECK_NEAR(max_err_vs_reference(a, b, c), 0, 1e-5);
  dnn_tensor_release(c);
}

/* Central-difference check of backward: loss = sum(w * f(x...)) for a fixed
 * random w; every input element's analytic gradient must match. */
typedef dnn_tensor *(*op2)(dnn_tensor *a, dnn_tensor *b);

static double weighted_sum(dnn_tensor *out, const float *w) {
  int64_t n = dnn_numel(out);
  float *v = malloc((size_t)(n ? n : 1) * sizeof(float));
  dnn_gather_to(out, v);
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += (double)v[i] * w[i];
  free(v);
  return s;
}

/* Inputs must be contiguous leaves; those with requires_grad are checked. */
static void gradcheck2(const char *what, op2 f, dnn_tensor *a, dnn_tensor *b) {
  dnn_tensor *ins[2] = {a, b};
  for (int i = 0; i < 2; i++) {
    dnn_tensor_release(ins[i]->grad);
    ins[i]->grad = NULL;
  }
  dnn_tensor *out = f(a, b);
  CHECK(out != NULL);
  if (!out) return;
  dnn_tensor *w = randn(out->ndim, out->shape);
  CHECK(dnn_backward(out, w) == DNN_OK);
  dnn_tensor_release(out);
  dnn_set_grad_enabled(false);
  double worst = 0;
  for (int i = 0; i < 2; i++) {
    if (!ins[i]->requires_grad) continue;
    CHECK(ins[i]->grad != NULL);
    if (!ins[i]->grad) continue;
    float *x = dnn_data(ins[i]);
    for (int64_t k = 0; k < dnn_numel(ins[i]); k++) {
      float keep = x[k];
      const float eps = 1e-2f;
      x[k] = keep + eps;
      dnn_tensor *up = f(a, b);
      x[k] = keep - eps;
      dnn_tensor *down = f(a, b);
      x[k] = keep;
      double num = (weighted_sum(up, dnn_data(w)) - weighted_sum(down, dnn_data(w))) / (2.0 * eps);
      double ana = dnn_data(ins[i]->grad)[k];
      double e = fabs(num - ana) / (1 + fabs(num));
      if (e > worst) worst = e;
      dnn_tensor_release(up);
      dnn_tensor_release(down);
    }
  }
  dnn_set_grad_enabled(true);
  if (worst > 2e-3) fprintf(stderr, "gradcheck %s: worst relative error %g\n", what, worst);
  CHECK(worst <= 2e-3);
  dnn_tensor_release(w);
}

/* f(a, b) = matmul of a and b transposed in their last two dims. */
static dnn_tensor *matmul_at(dnn_tensor *a, dnn_tensor *b) {
  dnn_tensor *t = dnn_transpose(a, -1, -2);
  dnn_tensor *c = dnn_matmul(t, b);
  dnn_tensor_release(t);
  return c;
}

static dnn_tensor *matmul_bt(dnn_tensor *a, dnn_tensor *b) {
  dnn_tensor *t = dnn_transpose(b, -1, -2);
  dnn_tensor *c = dnn_matmul(a, t);
  dnn_tensor_release(t);
  return c;
}

static void grad_case(const char *what, op2 f, int na, const int64_t *sa, int nb, const int64_t *sb) {
  dnn_tensor *a = randn(na, sa), *b = randn(nb, sb);
  dnn_set_requires_grad(a, true);
  dnn_set_requires_grad(b, true);
  gradcheck2(what, f, a, b);
  /* only one side requiring grad: the other gets none */
  dnn_set_requires_grad(b, false);
  dnn_tensor_release(b->grad);
  b->grad = NULL;
  gradcheck2(what, f, a, b);
  CHECK(b->grad == NULL);
  dnn_tensor_release(a);
  dnn_tensor_release(b);
}

/* ---- tests ---- */

static void test_2d(void) {
  float av[6] = {1, 2, 3, 4, 5, 6}, bv[6] = {7, 8, 9, 10, 11, 12};
  dnn_tensor *a = dnn_from_data(av, 2, (int64_t[]){2, 3}), *b = dnn_from_data(bv, 2, (int64_t[]){3, 2});
  dnn_tensor *c = dnn_matmul(a, b);
  CHECK(c && has_shape(c, 2, (int64_t[]){2, 2}));
  float want[4] = {58, 64, 139, 154};
  for (int i = 0; c && i < 4; i++) CHECK(dnn_data(c)[i] == want[i]);
  CHECK(c && c->grad_fn == NULL && !c->requires_grad);
  dnn_tensor_release(c);
  dnn_tensor_release(a);
  dnn_tensor_release(b);

  for (int s = 0; s < 3; s++) {
    int64_t m = 1 + 7 * s, k = 1 + 13 * s, n = 1 + 5 * s;
    a = tensor2(m, k);
    b = tensor2(k, n);
    check_product(a, b, 2, (int64_t[]){m, n});
    dnn_tensor_release(a);
    dnn_tensor_release(b);
  }
}

/* Transposed views (strides (1, ld)) go to gemm as CblasTrans; other strided
 * layouts are compacted first. Both must give the reference's values. */
static void test_strided_operands(void) {
  dnn_tensor *at_ = tensor2(4, 3), *bt_ = tensor2(5, 4);
  dnn_tensor *a = dnn_transpose(at_, 0, 1), *b = dnn_transpose(bt_, 0, 1); /* (3,4) and (4,5) */
  CHECK(a->stride[0] == 1 && a->stride[1] == 3);
  dnn_tensor *bc = dnn_contiguous(b), *ac = dnn_contiguous(a);
  check_product(a, b, 2, (int64_t[]){3, 5});
  check_product(ac, b, 2, (int64_t[]){3, 5});
  check_product(a, bc, 2, (int64_t[]){3, 5});

  /* a column slice of a wider matrix: row stride larger than the width */
  dnn_tensor *wide = tensor2(3, 10);
  dnn_tensor *sl = dnn_narrow(wide, 1, 2, 4);
  check_product(sl, bc, 2, (int64_t[]){3, 5});
  /* a transposed slice: strides (1, 10) */
  dnn_tensor *tall = tensor2(10, 3);
  dnn_tensor *tsl = dnn_narrow(tall, 0, 3, 4);
  dnn_tensor *tslt = dnn_transpose(tsl, 0, 1); /* (3,4) with strides (1,3) offset 9 */
  check_product(tslt, bc, 2, (int64_t[]){3, 5});
  /* neither stride 1: every other column */
  dnn_tensor *cube = randn(3, (int64_t[]){3, 4, 2});
  dnn_tensor *every = dnn_select(cube, 2, 1); /* (3,4) strides (8,2) */
  CHECK(every->stride[1] == 2);
  check_product(every, bc, 2, (int64_t[]){3, 5});
  /* expanded rows (stride 0) */
  dnn_tensor *row = randn(2, (int64_t[]){1, 4});
  dnn_tensor *rows = dnn_expand(row, 2, (int64_t[]){3, 4});
  check_product(rows, b, 2, (int64_t[]){3, 5});
  dnn_tensor *col = randn(2, (int64_t[]){4, 1});
  dnn_tensor *cols = dnn_expand(col, 2, (int64_t[]){4, 5});
  check_product(a, cols, 2, (int64_t[]){3, 5});

  RELEASE(at_, bt_, a, b, bc, ac, wide, sl, tall, tsl, tslt, cube, every, row, rows, col, cols);
}

static void test_vectors(void) {
  float xv[3] = {1, 2, 3}, yv[3] = {4, 5, 6};
  dnn_tensor *x = dnn_from_data(xv, 1, (int64_t[]){3}), *y = dnn_from_data(yv, 1, (int64_t[]){3});
  dnn_tensor *dot = dnn_matmul(x, y);
  CHECK(dot && dot->ndim == 0 && dnn_data(dot)[0] == 32);
  dnn_tensor_release(dot);

  dnn_tensor *m = tensor2(3, 4), *mt = tensor2(4, 3);
  check_product(x, m, 1, (int64_t[]){4}); /* vector-matrix */
  check_product(mt, x, 1, (int64_t[]){4}); /* matrix-vector */
  dnn_tensor *mtt = dnn_transpose(m, 0, 1);
  check_product(mtt, x, 1, (int64_t[]){4}); /* transposed matrix-vector */
  dnn_tensor *b3 = randn(3, (int64_t[]){2, 3, 5}), *b3r = randn(3, (int64_t[]){2, 5, 3});
  check_product(x, b3, 2, (int64_t[]){2, 5}); /* vector @ batch */
  check_product(b3r, x, 2, (int64_t[]){2, 5}); /* batch @ vector */
  /* a strided vector */
  dnn_tensor *sv = dnn_select(m, 1, 2); /* (3) stride 4 */
  check_product(sv, m, 1, (int64_t[]){4});
  check_product(mt, sv, 1, (int64_t[]){4});
  dnn_tensor *d2 = dnn_matmul(sv, x);
  CHECK(d2 && d2->ndim == 0);
  if (d2) {
    const float *mv = dnn_data(m);
    CHECK_NEAR(dnn_data(d2)[0], mv[2] * 1 + mv[6] * 2 + mv[10] * 3, 1e-5);
  }
  RELEASE(x, y, m, mt, mtt, b3, b3r, sv, d2);
}

static void test_batched(void) {
  struct {
    int na, nb, nc;
    int64_t sa[5], sb[5], sc[5];
  } cases[] = {
      {3, 3, 3, {2, 3, 4}, {2, 4, 5}, {2, 3, 5}}, /* same batch */
      {3, 2, 3, {2, 3, 4}, {4, 5}, {2, 3, 5}}, /* N-d @ 2-d: one flattened gemm */
      {2, 3, 3, {3, 4}, {2, 4, 5}, {2, 3, 5}}, /* 2-d @ N-d */
      {4, 3, 4, {2, 1, 3, 4}, {5, 4, 2}, {2, 5, 3, 2}}, /* broadcast both ways */
      {4, 4, 4, {1, 3, 2, 4}, {2, 1, 4, 3}, {2, 3, 2, 3}}, /* size-1 batch dims on each side */
      {5, 2, 5, {2, 2, 2, 3, 4}, {4, 1}, {2, 2, 2, 3, 1}}, /* deep batch, N = 1 */
      {3, 3, 3, {4, 1, 4}, {4, 4, 1}, {4, 1, 1}}, /* M = N = 1 */
      {3, 3, 3, {1, 3, 4}, {6, 4, 5}, {6, 3, 5}}, /* a broadcast over b's batch */
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    dnn_tensor *a = randn(cases[i].na, cases[i].sa), *b = randn(cases[i].nb, cases[i].sb);
    check_product(a, b, cases[i].nc, cases[i].sc);
    dnn_tensor_release(a);
    dnn_tensor_release(b);
  }
  /* batched operands with per-matrix transposes and a non-contiguous batch */
  dnn_tensor *a = randn(3, (int64_t[]){3, 4, 3}), *b = randn(3, (int64_t[]){3, 5, 4});
  dnn_tensor *at_ = dnn_transpose(a, 1, 2), *bt_ = dnn_transpose(b, 1, 2); /* (3,3,4) and (3,4,5) */
  check_product(at_, bt_, 3, (int64_t[]){3, 3, 5});
  dnn_tensor *w = randn(2, (int64_t[]){4, 6});
  check_product(at_, w, 3, (int64_t[]){3, 3, 6}); /* rows not flattenable: one gemm per batch */
  dnn_tensor *big = randn(3, (int64_t[]){6, 3, 4});
  dnn_tensor *odd = dnn_narrow(big, 0, 1, 3);
  check_product(odd, bt_, 3, (int64_t[]){3, 3, 5});
  dnn_tensor *perm = dnn_permute(big, (int[]){1, 0, 2}); /* (3,6,4): batch stride 4, row stride 12 */
  check_product(perm, w, 3, (int64_t[]){3, 6, 6});
  /* an expanded batch */
  dnn_tensor *one = randn(3, (int64_t[]){1, 3, 4});
  dnn_tensor *ex = dnn_expand(one, 3, (int64_t[]){5, 3, 4});
  check_product(ex, w, 3, (int64_t[]){5, 3, 6});
  /* many small matrices (the threaded-batch path) */
  dnn_tensor *ma = randn(3, (int64_t[]){64, 8, 8}), *mb = randn(3, (int64_t[]){64, 8, 8});
  check_product(ma, mb, 3, (int64_t[]){64, 8, 8});
  RELEASE(a, b, at_, bt_, w, big, odd, perm, one, ex, ma, mb);
}

static void test_empty(void) {
  dnn_tensor *a = randn(2, (int64_t[]){0, 3}), *b = randn(2, (int64_t[]){3, 4});
  dnn_tensor *c = dnn_matmul(a, b);
  CHECK(c && has_shape(c, 2, (int64_t[]){0, 4}));
  dnn_tensor_release(c);
  dnn_tensor *k0a = randn(2, (int64_t[]){3, 0}), *k0b = randn(2, (int64_t[]){0, 4});
  c = dnn_matmul(k0a, k0b); /* an empty sum: zeros */
  CHECK(c && has_shape(c, 2, (int64_t[]){3, 4}));
  for (int i = 0; c && i < 12; i++) CHECK(dnn_data(c)[i] == 0);
  dnn_tensor_release(c);
  dnn_tensor *e1 = randn(1, (int64_t[]){0});
  c = dnn_matmul(e1, e1);
  CHECK(c && c->ndim == 0 && dnn_data(c)[0] == 0);
  dnn_tensor_release(c);
  dnn_tensor *b0 = randn(3, (int64_t[]){0, 2, 3});
  c = dnn_matmul(b0, b);
  CHECK(c && has_shape(c, 3, (int64_t[]){0, 2, 4}));
  dnn_tensor_release(c);
  RELEASE(a, b, k0a, k0b, e1, b0);
}

static void test_errors(void) {
  dnn_tensor *a = tensor2(2, 3), *b = tensor2(4, 5), *s = dnn_scalar(2);
  CHECK(dnn_matmul(a, b) == NULL);
  CHECK(dnn_errcode() == DNN_EARG);
  CHECK(strcmp(dnn_errmsg(), "bad argument #2 to 'matmul' (expected inner dim 3, got 4)") == 0);
  CHECK(dnn_matmul(s, b) == NULL);
  CHECK(errmsg_has("#1 to 'matmul'", "0-d"));
  CHECK(dnn_matmul(a, s) == NULL);
  CHECK(errmsg_has("#2 to 'matmul'", "0-d"));
  dnn_tensor *v = randn(1, (int64_t[]){4});
  CHECK(dnn_matmul(a, v) == NULL);
  CHECK(strcmp(dnn_errmsg(), "bad argument #2 to 'matmul' (expected inner dim 3, got 4)") == 0);
  CHECK(dnn_matmul(v, a) == NULL);
  CHECK(strcmp(dnn_errmsg(), "bad argument #2 to 'matmul' (expected inner dim 4, got 2)") == 0);
  dnn_tensor *x = randn(3, (int64_t[]){2, 3, 4}), *y = randn(3, (int64_t[]){3, 4, 5});
  CHECK(dnn_matmul(x, y) == NULL);
  CHECK(errmsg_has("'matmul'", "(2, 3, 4)", "(3, 4, 5)"));
  RELEASE(a, b, s, v, x, y);
}

/* dA = dC @ B^T and dB = A^T @ dC on a case small enough to write out. */
static void test_backward_values(void) {
  float av[4] = {1, 2, 3, 4}, bv[4] = {5, 6, 7, 8}, gv[4] = {1, 0, 0, 2};
  dnn_tensor *a = dnn_from_data(av, 2, (int64_t[]){2, 2}), *b = dnn_from_data(bv, 2, (int64_t[]){2, 2});
  dnn_tensor *g = dnn_from_data(gv, 2, (int64_t[]){2, 2});
  dnn_set_requires_grad(a, true);
  dnn_set_requires_grad(b, true);
  dnn_tensor *c = dnn_matmul(a, b);
  CHECK(c && c->grad_fn && strcmp(c->grad_fn->op, "matmul") == 0);
  CHECK(dnn_backward(c, g) == DNN_OK);
  /* dA = g @ B^T = [[5,7],[12,16]]; dB = A^T @ g = [[1,6],[2,8]] */
  float da[4] = {5, 7, 12, 16}, db[4] = {1, 6, 2, 8};
  for (int i = 0; i < 4; i++) {
    CHECK(a->grad && dnn_data(a->grad)[i] == da[i]);
    CHECK(b->grad && dnn_data(b->grad)[i] == db[i]);
  }
  dnn_tensor_release(c);
  /* the gradient through a transposed view lands transposed in the base */
  dnn_tensor_release(a->grad);
  a->grad = NULL;
  dnn_tensor *at_ = dnn_transpose(a, 0, 1);
  c = dnn_matmul(at_, b);
  CHECK(dnn_backward(c, g) == DNN_OK);
  float dat[4] = {5, 12, 7, 16}; /* (g @ B^T)^T */
  for (int i = 0; i < 4; i++) CHECK(a->grad && dnn_data(a->grad)[i] == dat[i]);
  dnn_tensor_release(c);
  dnn_tensor_release(at_);
  dnn_tensor_release(a);
  dnn_tensor_release(b);
  dnn_tensor_release(g);
}

/* dB of a (B,T,K)@(K,N) product sums over the batch. */
static void test_backward_batch_sum(void) {
  dnn_tensor *a = randn(3, (int64_t[]){4, 3, 5}), *w = randn(2, (int64_t[]){5, 2});
  dnn_set_requires_grad(w, true);
  dnn_tensor *c = dnn_matmul(a, w);
  dnn_tensor *g = dnn_full(3, (int64_t[]){4, 3, 2}, 1);
  CHECK(dnn_backward(c, g) == DNN_OK);
  /* dW[k][n] = sum over batch and rows of a[b][t][k] */
  for (int k = 0; k < 5; k++) {
    double s = 0;
    for (int b = 0; b < 4; b++)
      for (int t = 0; t < 3; t++) s += dnn_data(a)[b * 15 + t * 5 + k];
    CHECK_NEAR(dnn_data(w->grad)[k * 2], s, 1e-4);
    CHECK_NEAR(dnn_data(w->grad)[k * 2 + 1], s, 1e-4);
  }
  dnn_tensor_release(c);
  dnn_tensor_release(g);
  dnn_tensor_release(a);
  dnn_tensor_release(w);
}

static void test_gradcheck(void) {
  grad_case("2-d", dnn_matmul, 2, (int64_t[]){3, 4}, 2, (int64_t[]){4, 2});
  grad_case("vec @ mat", dnn_matmul, 1, (int64_t[]){4}, 2, (int64_t[]){4, 3});
  grad_case("mat @ vec", dnn_matmul, 2, (int64_t[]){3, 4}, 1, (int64_t[]){4});
  grad_case("dot", dnn_matmul, 1, (int64_t[]){5}, 1, (int64_t[]){5});
  grad_case("batched", dnn_matmul, 3, (int64_t[]){2, 3, 4}, 3, (int64_t[]){2, 4, 2});
  grad_case("N-d @ 2-d", dnn_matmul, 3, (int64_t[]){2, 3, 4}, 2, (int64_t[]){4, 2});
  grad_case("2-d @ N-d", dnn_matmul, 2, (int64_t[]){3, 4}, 3, (int64_t[]){2, 4, 2});
  grad_case("broadcast", dnn_matmul, 4, (int64_t[]){2, 1, 2, 3}, 3, (int64_t[]){3, 3, 2});
  grad_case("vec @ batch", dnn_matmul, 1, (int64_t[]){3}, 3, (int64_t[]){2, 3, 2});
  grad_case("batch @ vec", dnn_matmul, 3, (int64_t[]){2, 2, 3}, 1, (int64_t[]){3});
  grad_case("A^T @ B", matmul_at, 2, (int64_t[]){4, 3}, 2, (int64_t[]){4, 2});
  grad_case("A @ B^T", matmul_bt, 2, (int64_t[]){3, 4}, 2, (int64_t[]){2, 4});
  grad_case("batched A^T @ B^T", matmul_at, 3, (int64_t[]){2, 4, 3}, 3, (int64_t[]){2, 4, 2});
  grad_case("N-d @ W^T", matmul_bt, 3, (int64_t[]){2, 3, 4}, 2, (int64_t[]){5, 4});
}

/* A Dense-sized product: sampled entries against the reference, and the same
 * bits on a second run. */
static void test_large(void) {
  dnn_tensor *x = tensor2(128, 784), *w = tensor2(784, 512);
  dnn_tensor *c = dnn_matmul(x, w), *c2 = dnn_matmul(x, w);
  CHECK(c && c2 && has_shape(c, 2, (int64_t[]){128, 512}));
  if (c && c2) {
    CHECK(memcmp(dnn_data(c), dnn_data(c2), 128 * 512 * sizeof(float)) == 0);
    for (int s = 0; s < 50; s++) {
      int64_t i = (s * 37) % 128, j = (s * 101) % 512;
      double ref = 0;
      for (int64_t k = 0; k < 784; k++) ref += (double)dnn_data(x)[i * 784 + k] * dnn_data(w)[k * 512 + j];
      CHECK_NEAR(dnn_data(c)[i * 512 + j], ref, 1e-3);
    }
  }
  dnn_tensor_release(c);
  dnn_tensor_release(c2);
  dnn_tensor_release(x);
  dnn_tensor_release(w);
}

int main(void) {
  dnn_manual_seed(1234);
  test_2d();
  test_strided_operands();
  test_vectors();
  test_batched();
  test_empty();
  test_errors();
  test_backward_values();
  test_backward_batch_sum();
  test_gradcheck();
  test_large();
  return check_report("test_matmul");
}
