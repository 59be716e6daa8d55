/* Reductions: known answers over each dim and all dims, keepdim, strided
 * inputs, empty dims, errors, thread-count independence, and
 * finite-difference checks of the backwards. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dnn/dnn.h"
#include "gradcheck.h"
#include "tensor_check.h"

static dnn_tensor *T(int ndim, const int64_t *shape, const float *data) { return dnn_from_data(data, ndim, shape); }

/* Checks r against (ndim, shape, want), then releases it; the count of wanted
 * values must be the number of elements too. */
#define EXPECT(r, ndim, shape, tol, ...)                                                            \
  do {                                                                                              \
    dnn_tensor *r_ = (r);                                                                           \
    const float want_[] = {__VA_ARGS__};                                                            \
    CHECK(has_shape(r_, ndim, shape) && values_near(r_, want_, sizeof want_ / sizeof *want_, tol)); \
    dnn_tensor_release(r_);                                                                         \
  } while (0)

static void test_known_answers(void) {
  int64_t s23[] = {2, 3}, s2[] = {2}, s3[] = {3}, s13[] = {1, 3}, s21[] = {2, 1}, s11[] = {1, 1};
  dnn_tensor *a = T(2, s23, (float[]){1, 5, 3, 4, 2, 6});
  EXPECT(dnn_sum(a, 0, false), 1, s3, 0, 5, 7, 9);
  EXPECT(dnn_sum(a, 1, false), 1, s2, 0, 9, 12);
  EXPECT(dnn_sum(a, -1, true), 2, s21, 0, 9, 12);
  EXPECT(dnn_sum(a, -2, true), 2, s13, 0, 5, 7, 9);
  EXPECT(dnn_sum(a, DNN_ALL_DIMS, false), 0, NULL, 0, 21);
  EXPECT(dnn_sum(a, DNN_ALL_DIMS, true), 2, s11, 0, 21);
  EXPECT(dnn_mean(a, 0, false), 1, s3, 1e-6, 2.5f, 3.5f, 4.5f);
  EXPECT(dnn_mean(a, 1, true), 2, s21, 1e-6, 3, 4);
  EXPECT(dnn_mean(a, DNN_ALL_DIMS, false), 0, NULL, 1e-6, 3.5f);
  EXPECT(dnn_max(a, 0, false), 1, s3, 0, 4, 5, 6);
  EXPECT(dnn_max(a, 1, false), 1, s2, 0, 5, 6);
  EXPECT(dnn_min(a, 1, true), 2, s21, 0, 1, 2);
  EXPECT(dnn_min(a, 0, false), 1, s3, 0, 1, 2, 3);
  EXPECT(dnn_max(a, DNN_ALL_DIMS, false), 0, NULL, 0, 6);
  EXPECT(dnn_min(a, DNN_ALL_DIMS, true), 2, s11, 0, 1);
  EXPECT(dnn_argmax(a, 1, false, 0), 1, s2, 0, 1, 2);
  EXPECT(dnn_argmax(a, 1, false, 1), 1, s2, 0, 2, 3); /* Lua's 1-based ids */
  EXPECT(dnn_argmax(a, 0, true, 0), 2, s13, 0, 1, 0, 1);
  EXPECT(dnn_argmin(a, -1, false, 0), 1, s2, 0, 0, 1);
  EXPECT(dnn_argmin(a, 0, false, 1), 1, s3, 0, 1, 2, 1);
  EXPECT(dnn_argmax(a, DNN_ALL_DIMS, false, 0), 0, NULL, 0, 5);
  EXPECT(dnn_argmin(a, DNN_ALL_DIMS, false, 1), 0, NULL, 0, 1);

  /* var: mean of squared deviations over n - correction */
  EXPECT(dnn_var(a, 1, false, 0), 1, s2, 1e-6, 8.0f / 3, 8.0f / 3);
  EXPECT(dnn_var(a, 1, false, 1), 1, s2, 1e-6, 4, 4);
  EXPECT(dnn_var(a, 0, false, 1), 1, s3, 1e-6, 4.5f, 4.5f, 4.5f);
  EXPECT(dnn_var(a, DNN_ALL_DIMS, false, 1), 0, NULL, 1e-6, 3.5f);
  EXPECT(dnn_var(a, DNN_ALL_DIMS, true, 0), 2, s11, 1e-6, 17.5f / 6);

  /* ties go to the first; NaN wins and propagates */
  int64_t s4[] = {4};
  dnn_tensor *t = T(1, s4, (float[]){3, 7, 7, 1});
  EXPECT(dnn_argmax(t, 0, false, 0), 0, NULL, 0, 1);
  dnn_tensor_release(t);
  t = T(1, s4, (float[]){3, NAN, 7, NAN});
  EXPECT(dnn_max(t, 0, false), 0, NULL, 0, NAN);
  EXPECT(dnn_argmin(t, 0, false, 0), 0, NULL, 0, 1);
  dnn_tensor_release(t);

  /* 0-d: dim 0 and -1 mean the whole tensor, as PyTorch */
  dnn_tensor *s = dnn_scalar(4);
  EXPECT(dnn_sum(s, 0, false), 0, NULL, 0, 4);
  EXPECT(dnn_max(s, -1, true), 0, NULL, 0, 4);
  EXPECT(dnn_var(s, DNN_ALL_DIMS, false, 0), 0, NULL, 0, 0);
  EXPECT(dnn_var(s, DNN_ALL_DIMS, false, 1), 0, NULL, 0, NAN); /* n - correction = 0: NaN as PyTorch */
  dnn_tensor_release(s);
  dnn_tensor_release(a);
}

static void test_3d_and_strided(void) {
  int64_t s234[] = {2, 3, 4}, s24[] = {2, 4}, s23[] = {2, 3}, s34[] = {3, 4}, s214[] = {2, 1, 4};
  dnn_tensor *x = dnn_arange(0, 24, 1), *x3 = dnn_view(x, 3, s234);
  /* middle dim: outer 2, inner 4 (the column walk) */
  EXPECT(dnn_sum(x3, 1, false), 2, s24, 0, 12, 15, 18, 21, 48, 51, 54, 57);
  EXPECT(dnn_max(x3, 1, true), 3, s214, 0, 8, 9, 10, 11, 20, 21, 22, 23);
  EXPECT(dnn_argmin(x3, 1, false, 0), 2, s24, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  EXPECT(dnn_sum(x3, 2, false), 2, s23, 0, 6, 22, 38, 54, 70, 86);
  EXPECT(dnn_sum(x3, 0, false), 2, s34, 0, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34);
  EXPECT(dnn_var(x3, 1, false, 0), 2, s24, 1e-5, 32.0f / 3, 32.0f / 3, 32.0f / 3, 32.0f / 3, 32.0f / 3, 32.0f / 3,
         32.0f / 3, 32.0f / 3);

  /* a permuted (strided) input: xp[i][j][k] = x3[j][k][i], shape (4, 2, 3) */
  dnn_tensor *xp = dnn_permute(x3, (int[]){2, 0, 1});
  int64_t s43[] = {4, 3}, s42[] = {4, 2};
  EXPECT(dnn_sum(xp, 1, false), 2, s43, 0, 12, 20, 28, 14, 22, 30, 16, 24, 32, 18, 26, 34);
  EXPECT(dnn_max(xp, -1, false), 2, s42, 0, 8, 20, 9, 21, 10, 22, 11, 23);
  EXPECT(dnn_mean(xp, DNN_ALL_DIMS, false), 0, NULL, 1e-6, 11.5f);
  EXPECT(dnn_argmax(xp, 0, false, 1), 2, s23, 0, 4, 4, 4, 4, 4, 4);
  dnn_tensor_release(xp);
  dnn_tensor_release(x3);
  dnn_tensor_release(x);
}

/* Long runs and columns (the vectorized paths): ties go to the first, the
 * first NaN wins, infinities are ordinary extremes. */
static void test_extreme_long(void) {
  int64_t s503[] = {50, 3}, s3[] = {3};
  float data[150];
  for (int i = 0; i < 50; i++) data[i * 3] = data[i * 3 + 1] = data[i * 3 + 2] = (float)i * 0.01f;
  data[17 * 3] = data[20 * 3] = data[33 * 3] = 9; /* column 0 */
  data[23 * 3] = data[40 * 3] = -5;
  data[17 * 3 + 1] = data[20 * 3 + 1] = 9; /* column 1: NaN at 23 and 40 */
  data[23 * 3 + 1] = data[40 * 3 + 1] = NAN;
  data[30 * 3 + 2] = data[45 * 3 + 2] = INFINITY; /* column 2 */
  data[12 * 3 + 2] = data[44 * 3 + 2] = -INFINITY;
  dnn_tensor *x = T(2, s503, data), *xt = dnn_transpose(x, 0, 1), *runs = dnn_contiguous(xt);
  EXPECT(dnn_argmax(x, 0, false, 0), 1, s3, 0, 17, 23, 30);
  EXPECT(dnn_argmin(x, 0, false, 0), 1, s3, 0, 23, 23, 12);
  EXPECT(dnn_max(x, 0, false), 1, s3, 0, 9, NAN, INFINITY);
  EXPECT(dnn_min(x, 0, false), 1, s3, 0, -5, NAN, -INFINITY);
  EXPECT(dnn_argmax(runs, 1, false, 0), 1, s3, 0, 17, 23, 30);
  EXPECT(dnn_argmin(runs, 1, false, 0), 1, s3, 0, 23, 23, 12);
  EXPECT(dnn_argmax(xt, -1, false, 1), 1, s3, 0, 18, 24, 31);
  EXPECT(dnn_min(runs, 1, false), 1, s3, 0, -5, NAN, -INFINITY);
  dnn_tensor_release(runs);
  dnn_tensor_release(xt);
  dnn_tensor_release(x);
}

static void test_empty_and_errors(void) {
  int64_t s0[] = {0}, s03[] = {0, 3}, s20[] = {2, 0}, s2[] = {2}, s3[] = {3}, s23[] = {2, 3};
  dnn_tensor *e = dnn_zeros(1, s0);
  EXPECT(dnn_sum(e, 0, false), 0, NULL, 0, 0);
  EXPECT(dnn_mean(e, DNN_ALL_DIMS, false), 0, NULL, 0, NAN);
  CHECK(dnn_max(e, 0, false) == NULL && dnn_errcode() == DNN_EARG && errmsg_has("'max'"));
  CHECK(dnn_argmin(e, DNN_ALL_DIMS, false, 0) == NULL && errmsg_has("'argmin'", "non-empty"));
  dnn_tensor_release(e);

  e = dnn_zeros(2, s20);
  EXPECT(dnn_sum(e, 1, false), 1, s2, 0, 0, 0);
  CHECK(dnn_min(e, 1, false) == NULL && errmsg_has("'min'", "size 0"));
  dnn_tensor_release(e);

  e = dnn_zeros(2, s03); /* reducing a non-empty dim of an empty tensor is fine */
  dnn_tensor *r = dnn_max(e, 1, false);
  CHECK(r && r->ndim == 1 && r->shape[0] == 0);
  dnn_tensor_release(r);
  EXPECT(dnn_sum(e, 0, false), 1, s3, 0, 0, 0, 0);
  EXPECT(dnn_mean(e, 0, false), 1, s3, 0, NAN, NAN, NAN);
  dnn_tensor_release(e);

  dnn_tensor *a = dnn_zeros(2, s23);
  CHECK(dnn_sum(a, 2, false) == NULL && errmsg_has("bad argument #2 to 'sum'", "out of range"));
  CHECK(dnn_mean(a, -3, false) == NULL && errmsg_has("'mean'"));
  CHECK(dnn_argmax(a, 5, false, 0) == NULL && errmsg_has("'argmax'"));
  CHECK(dnn_var(a, 0, false, -1) == NULL && errmsg_has("'var'", "correction"));
  dnn_tensor_release(a);
}

/* Sums are chunked and combined in double: accurate for long runs, and the
 * same bits at any thread count. */
static void test_determinism_and_accuracy(void) {
  int64_t n = 1000003;
  dnn_tensor *x = dnn_randn(1, &n);
  float *p = dnn_data(x);
  double ref = 0;
  for (int64_t i = 0; i < n; i++) ref += p[i];

  int64_t s2[] = {1500, 700};
  dnn_tensor *m = dnn_randn(2, s2), *mt = dnn_transpose(m, 0, 1);
  float results[2][2];
  dnn_tensor *cols[2], *rows[2], *vars[2], *maxs[2];
  for (int t = 0; t < 2; t++) {
    dnn_set_num_threads(t + 1);
    dnn_tensor *s = dnn_sum(x, DNN_ALL_DIMS, false), *mean = dnn_mean(x, 0, false);
    results[t][0] = dnn_data(s)[0];
    results[t][1] = dnn_data(mean)[0];
    dnn_tensor_release(s);
    dnn_tensor_release(mean);
    cols[t] = dnn_sum(m, 0, false); /* the batch dim of (N, C) */
    rows[t] = dnn_sum(m, 1, false);
    vars[t] = dnn_var(mt, 1, true, 1);
    maxs[t] = dnn_max(m, 0, false);
  }
  dnn_set_num_threads(2);
  CHECK(memcmp(results[0], results[1], sizeof results[0]) == 0);
  CHECK(memcmp(dnn_data(cols[0]), dnn_data(cols[1]), 700 * sizeof(float)) == 0);
  CHECK(memcmp(dnn_data(rows[0]), dnn_data(rows[1]), 1500 * sizeof(float)) == 0);
  CHECK(memcmp(dnn_data(vars[0]), dnn_data(vars[1]), 700 * sizeof(float)) == 0);
  CHECK(memcmp(dnn_data(maxs[0]), dnn_data(maxs[1]), 700 * sizeof(float)) == 0);
  CHECK_NEAR(results[0][0], ref, 1e-3 + 1e-6 * fabs(ref));
  CHECK_NEAR(results[0][1], ref / (double)n, 1e-7);

  /* against double references */
  const float *pm = dnn_data(m);
  int bad = 0;
  for (int64_t j = 0; j < 700; j++) {
    double cs = 0, mx = -INFINITY;
    for (int64_t i = 0; i < 1500; i++) {
      cs += pm[i * 700 + j];
      mx = fmax(mx, pm[i * 700 + j]);
    }
    double mean = cs / 1500, ss = 0;
    for (int64_t i = 0; i < 1500; i++) ss += (pm[i * 700 + j] - mean) * (pm[i * 700 + j] - mean);
    bad += fabs(dnn_data(cols[0])[j] - cs) > 1e-3;
    bad += fabs(dnn_data(vars[0])[j] - ss / 1499) > 1e-4;
    bad += dnn_data(maxs[0])[j] != (float)mx;
  }
  for (int64_t i = 0; i < 1500; i++) {
    double rs = 0;
    for (int64_t j = 0; j < 700; j++) rs += pm[i * 700 + j];
    bad += fabs(dnn_data(rows[0])[i] - rs) > 1e-3;
  }
  CHECK(bad == 0);
  for (int t = 0; t < 2; t++) {
    dnn_tensor_release(cols[t]);
    dnn_tensor_release(rows[t]);
    dnn_tensor_release(vars[t]);
    dnn_tensor_release(maxs[t]);
  }

  /* 10^7 times 0.1: a naive float loop drifts by percents */
  int64_t big = 10000000;
  dnn_tensor *tenth = dnn_full(1, &big, 0.1f);
  dnn_tensor *mean = dnn_mean(tenth, DNN_ALL_DIMS, false);
  CHECK_NEAR(dnn_data(mean)[0], 0.1f, 1e-7);
  dnn_tensor_release(mean);
  dnn_tensor_release(tenth);
  dnn_tensor_release(mt);
  dnn_tensor_release(m);
  dnn_tensor_release(x);
}

/* ---- gradients ---- */

typedef struct {
  int kind; /* 0 sum, 1 mean, 2 var, 3 max, 4 min */
  int dim;
  bool keepdim, transpose;
  int correction;
} red_case;

static dnn_tensor *reduce_loss(dnn_tensor *const *in, void *ctx) {
  const red_case *c = ctx;
  dnn_tensor *x = c->transpose ? dnn_transpose(in[0], 0, 2) : dnn_tensor_retain(in[0]), *r = NULL;
  switch (c->kind) {
    case 0:
      r = dnn_sum(x, c->dim, c->keepdim);
      break;
    case 1:
      r = dnn_mean(x, c->dim, c->keepdim);
      break;
    case 2:
      r = dnn_var(x, c->dim, c->keepdim, c->correction);
      break;
    case 3:
      r = dnn_max(x, c->dim, c->keepdim);
      break;
    case 4:
      r = dnn_min(x, c->dim, c->keepdim);
      break;
  }
  dnn_tensor_release(x);
  return gc_weighted_sum(r);
}

static void test_grads(void) {
  const char *names[] = {"sum", "mean", "var", "max", "min"};
  int dims[] = {0, 1, 2, -1, DNN_ALL_DIMS};
  int64_t s234[] = {2, 3, 4};
  float data[24];
  /* distinct values (no ties for max/min), spread out */
  for (int i = 0; i < 24; i++) data[i] = (float)((i * 7) % 24) * 0.13f - 1.2f;
  for (int kind = 0; kind < 5; kind++)
    for (size_t d = 0; d < sizeof dims / sizeof *dims; d++)
      for (int variant = 0; variant < 2; variant++) {
        dnn_tensor *x = T(3, s234, data);
        red_case c = {kind, dims[d], variant == 1, variant == 1, variant};
        char name[64];
        snprintf(name, sizeof name, "%s dim %d%s", names[kind], dims[d], variant ? " keepdim transposed" : "");
        gradcheck(name, reduce_loss, 1, &x, &c);
        dnn_tensor_release(x);
      }
}

/* max/min send the gradient to the first extreme only. */
static void test_extreme_grad_ties(void) {
  int64_t s23[] = {2, 3};
  dnn_tensor *x = T(2, s23, (float[]){1, 3, 3, 2, 2, 0});
  dnn_set_requires_grad(x, true);
  dnn_tensor *m = dnn_max(x, 1, false), *s = dnn_sum(m, DNN_ALL_DIMS, false);
  CHECK(dnn_backward(s, NULL) == DNN_OK);
  CHECK(tensor_matches(x->grad, 2, s23, (float[]){0, 1, 0, 1, 0, 0}, 0));
  dnn_tensor_release(m);
  dnn_tensor_release(s);
  dnn_tensor_release(x->grad);
  x->grad = NULL;
  m = dnn_min(x, DNN_ALL_DIMS, false);
  CHECK(dnn_backward(m, NULL) == DNN_OK);
  CHECK(tensor_matches(x->grad, 2, s23, (float[]){0, 0, 0, 0, 0, 1}, 0));
  dnn_tensor_release(m);
  /* argmax is not recorded */
  m = dnn_argmax(x, 1, false, 0);
  CHECK(m && !m->grad_fn && !m->requires_grad);
  dnn_tensor_release(m);
  dnn_tensor_release(x);
}

int main(void) {
  test_known_answers();
  test_3d_and_strided();
  test_extreme_long();
  test_empty_and_errors();
  test_determinism_and_accuracy();
  test_grads();
  test_extreme_grad_ties();
  return check_report("test_reduce");
}
