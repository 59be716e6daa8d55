/* Elementwise ops: known answers, broadcasting, strided inputs, errors, and
 * finite-difference checks of every backward. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dnn/dnn.h"
#include "gradcheck.h"
#include "tensor_check.h"

static dnn_tensor *T(int ndim, const int64_t *shape, const float *data) { return dnn_from_data(data, ndim, shape); }

static void test_broadcasting(void) {
  int64_t s23[] = {2, 3}, s3[] = {3}, s31[] = {3, 1}, s14[] = {1, 4}, s34[] = {3, 4}, s21[] = {2, 1};
  dnn_tensor *a = T(2, s23, (float[]){1, 2, 3, 4, 5, 6});
  dnn_tensor *row = T(1, s3, (float[]){10, 20, 30});
  dnn_tensor *col = T(2, s21, (float[]){100, 200});

  dnn_tensor *r = dnn_add(a, row); /* row broadcast */
  CHECK(tensor_matches(r, 2, s23, (float[]){11, 22, 33, 14, 25, 36}, 0));
  dnn_tensor_release(r);
  r = dnn_add(row, a); /* broadcast on the left */
  CHECK(tensor_matches(r, 2, s23, (float[]){11, 22, 33, 14, 25, 36}, 0));
  dnn_tensor_release(r);
  r = dnn_sub(a, col); /* column broadcast */
  CHECK(tensor_matches(r, 2, s23, (float[]){-99, -98, -97, -196, -195, -194}, 0));
  dnn_tensor_release(r);
  r = dnn_mul(a, a); /* same shape */
  CHECK(tensor_matches(r, 2, s23, (float[]){1, 4, 9, 16, 25, 36}, 0));
  dnn_tensor_release(r);

  dnn_tensor *c = T(2, s31, (float[]){1, 2, 3}), *d = T(2, s14, (float[]){10, 20, 30, 40});
  r = dnn_add(c, d); /* (3,1) + (1,4) -> (3,4) */
  CHECK(tensor_matches(r, 2, s34, (float[]){11, 21, 31, 41, 12, 22, 32, 42, 13, 23, 33, 43}, 0));
  dnn_tensor_release(r);
  r = dnn_sub(d, c);
  CHECK(tensor_matches(r, 2, s34, (float[]){9, 19, 29, 39, 8, 18, 28, 38, 7, 17, 27, 37}, 0));
  dnn_tensor_release(r);

  dnn_tensor *s = dnn_scalar(2); /* 0-d */
  r = dnn_div(a, s);
  CHECK(tensor_matches(r, 2, s23, (float[]){0.5f, 1, 1.5f, 2, 2.5f, 3}, 0));
  dnn_tensor_release(r);
  r = dnn_pow(s, a);
  CHECK(tensor_matches(r, 2, s23, (float[]){2, 4, 8, 16, 32, 64}, 1e-4));
  dnn_tensor_release(r);
  r = dnn_mul(s, s);
  CHECK(r && r->ndim == 0 && dnn_data(r)[0] == 4);
  dnn_tensor_release(r);

  /* a strided (transposed) operand: a^T is (3, 2) */
  dnn_tensor *at = dnn_transpose(a, 0, 1);
  int64_t s32[] = {3, 2};
  dnn_tensor *b = T(2, s32, (float[]){1, 1, 2, 2, 3, 3});
  r = dnn_mul(at, b);
  CHECK(tensor_matches(r, 2, s32, (float[]){1, 4, 4, 10, 9, 18}, 0));
  dnn_tensor_release(r);
  r = dnn_add(at, col); /* (3,2) with (2,1): 3 against 2, incompatible */
  CHECK(r == NULL);
  dnn_tensor_release(r);
  int64_t s12[] = {1, 2};
  dnn_tensor *rw = T(2, s12, (float[]){-1, 1});
  r = dnn_maximum(at, rw); /* strided + row broadcast */
  CHECK(tensor_matches(r, 2, s32, (float[]){1, 4, 2, 5, 3, 6}, 0));
  dnn_tensor_release(r);
  r = dnn_minimum(at, rw);
  CHECK(tensor_matches(r, 2, s32, (float[]){-1, 1, -1, 1, -1, 1}, 0));
  dnn_tensor_release(r);

  /* 3-d general walk: a permuted (2,3,4) against a (3,1) */
  int64_t s234[] = {2, 3, 4};
  dnn_tensor *x = dnn_arange(0, 24, 1);
  dnn_tensor *x3 = dnn_view(x, 3, s234);
  dnn_tensor *xp = dnn_permute(x3, (int[]){2, 0, 1}); /* (4, 2, 3): xp[i][j][k] = x3[j][k][i] */
  r = dnn_sub(xp, c); /* (4,2,3) with (3,1): 2 against 3, incompatible */
  CHECK(r == NULL);
  dnn_tensor_release(r);
  int64_t want_shape[] = {4, 2, 3};
  float want[24];
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 2; j++)
      for (int k = 0; k < 3; k++) want[(i * 2 + j) * 3 + k] = (float)(j * 12 + k * 4 + i) - (float)(j + 1);
  int64_t s21b[] = {2, 1};
  dnn_tensor *c2 = T(2, s21b, (float[]){1, 2});
  r = dnn_sub(xp, c2);
  CHECK(tensor_matches(r, 3, want_shape, want, 0));
  dnn_tensor_release(r);

  /* NaN propagates through maximum/minimum */
  int64_t s2[] = {2};
  dnn_tensor *nanv = T(1, s2, (float[]){NAN, 1}), *ones = T(1, s2, (float[]){1, NAN});
  r = dnn_maximum(nanv, ones);
  CHECK(r && isnan(dnn_data(r)[0]) && isnan(dnn_data(r)[1]));
  dnn_tensor_release(r);
  r = dnn_minimum(nanv, ones);
  CHECK(r && isnan(dnn_data(r)[0]) && isnan(dnn_data(r)[1]));
  dnn_tensor_release(r);

  /* empty broadcast */
  int64_t s03[] = {0, 3};
  dnn_tensor *e = dnn_zeros(2, s03);
  r = dnn_add(e, row);
  CHECK(r && r->ndim == 2 && r->shape[0] == 0 && r->shape[1] == 3);
  dnn_tensor_release(r);

  dnn_tensor *all[] = {a, row, col, c, d, s, at, b, rw, x, x3, xp, c2, nanv, ones, e};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) dnn_tensor_release(all[i]);
}

static void test_errors(void) {
  int64_t s23[] = {2, 3}, s4[] = {4};
  dnn_tensor *a = dnn_zeros(2, s23), *b = dnn_zeros(1, s4);
  CHECK(dnn_add(a, b) == NULL);
  CHECK(dnn_errcode() == DNN_EARG);
  CHECK(errmsg_has("bad argument #2 to 'add'"));
  CHECK(errmsg_has("(2, 3)"));
  CHECK(errmsg_has("(4)"));
  CHECK(dnn_pow(a, b) == NULL && errmsg_has("'pow'"));
  CHECK(dnn_maximum(b, a) == NULL && errmsg_has("'maximum'"));
  CHECK(dnn_minimum(a, b) == NULL && errmsg_has("'minimum'"));
  CHECK(dnn_div(a, b) == NULL && errmsg_has("'div'"));
  CHECK(dnn_compare(DNN_CMP_LT, a, b) == NULL && errmsg_has("'lt'"));
  CHECK(dnn_compare((dnn_cmp)42, a, a) == NULL && errmsg_has("compare"));
  CHECK(dnn_compare_scalar((dnn_cmp)-1, a, 0) == NULL && errmsg_has("compare"));
  CHECK(dnn_unary(DNN_UNARY_COUNT, a, 0) == NULL && errmsg_has("'unary'"));
  CHECK(dnn_clamp(a, NAN, 1) == NULL && errmsg_has("'clamp'"));
  CHECK(strcmp(dnn_unary_name(DNN_UNARY_COUNT), "unknown") == 0);
  dnn_tensor_release(a);
  dnn_tensor_release(b);
}

static void test_compare(void) {
  int64_t s4[] = {4};
  dnn_tensor *a = T(1, s4, (float[]){1, 2, 3, NAN}), *b = T(1, s4, (float[]){2, 2, 2, 2});
  dnn_set_requires_grad(a, true);
  struct {
    dnn_cmp cmp;
    float want[4], want_s[4];
  } cases[] = {
      {DNN_CMP_EQ, {0, 1, 0, 0}, {0, 1, 0, 0}}, {DNN_CMP_NE, {1, 0, 1, 1}, {1, 0, 1, 1}},
      {DNN_CMP_LT, {1, 0, 0, 0}, {1, 0, 0, 0}}, {DNN_CMP_LE, {1, 1, 0, 0}, {1, 1, 0, 0}},
      {DNN_CMP_GT, {0, 0, 1, 0}, {0, 0, 1, 0}}, {DNN_CMP_GE, {0, 1, 1, 0}, {0, 1, 1, 0}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    dnn_tensor *r = dnn_compare(cases[i].cmp, a, b);
    CHECK(tensor_matches(r, 1, s4, cases[i].want, 0));
    CHECK(r && !r->requires_grad && !r->grad_fn); /* never recorded */
    dnn_tensor_release(r);
    r = dnn_compare_scalar(cases[i].cmp, a, 2);
    CHECK(tensor_matches(r, 1, s4, cases[i].want_s, 0));
    CHECK(r && !r->requires_grad && !r->grad_fn);
    dnn_tensor_release(r);
  }
  dnn_tensor_release(a);
  dnn_tensor_release(b);
}

static void test_scalar_ops(void) {
  int64_t s4[] = {4};
  dnn_tensor *a = T(1, s4, (float[]){1, 2, 4, 9});
  dnn_tensor *r = dnn_affine(a, 2, 1);
  CHECK(tensor_matches(r, 1, s4, (float[]){3, 5, 9, 19}, 0));
  dnn_tensor_release(r);
  float ps[] = {2, 0.5f, 3, -1, 1, 1.5f, 0};
  for (size_t i = 0; i < sizeof ps / sizeof *ps; i++) {
    r = dnn_pow_scalar(a, ps[i]);
    float want[4];
    for (int k = 0; k < 4; k++) want[k] = (float)pow(dnn_data(a)[k], ps[i]);
    CHECK(tensor_matches(r, 1, s4, want, 1e-4));
    dnn_tensor_release(r);
  }
  r = dnn_rpow_scalar(2, a);
  CHECK(tensor_matches(r, 1, s4, (float[]){2, 4, 16, 512}, 1e-3));
  dnn_tensor_release(r);
  r = dnn_rdiv_scalar(36, a);
  CHECK(tensor_matches(r, 1, s4, (float[]){36, 18, 9, 4}, 1e-5));
  dnn_tensor_release(r);
  r = dnn_clamp(a, 1.5f, 5);
  CHECK(tensor_matches(r, 1, s4, (float[]){1.5f, 2, 4, 5}, 0));
  dnn_tensor_release(r);
  /* a 0-d tensor stays 0-d; a strided input works */
  dnn_tensor *s = dnn_scalar(3);
  r = dnn_affine(s, -1, 0.5f);
  CHECK(r && r->ndim == 0 && dnn_data(r)[0] == -2.5f);
  dnn_tensor_release(r);
  int64_t s22[] = {2, 2};
  dnn_tensor *m = dnn_view(a, 2, s22), *mt = dnn_transpose(m, 0, 1);
  r = dnn_affine(mt, 1, 1);
  CHECK(tensor_matches(r, 2, s22, (float[]){2, 5, 3, 10}, 0));
  dnn_tensor_release(r);
  r = dnn_unary(DNN_UNARY_SQUARE, mt, 0);
  CHECK(tensor_matches(r, 2, s22, (float[]){1, 16, 4, 81}, 0));
  dnn_tensor_release(r);
  dnn_tensor_release(mt);
  dnn_tensor_release(m);
  dnn_tensor_release(s);
  dnn_tensor_release(a);
}

static void test_unary_values(void) {
  int64_t s5[] = {5};
  float xs[5] = {-2, -0.5f, 0, 0.5f, 2};
  dnn_tensor *x = T(1, s5, xs);
  double sa = 1.6732632423543772848170429916717, ss = 1.0507009873554804934193349852946;
  for (int op = 0; op < DNN_UNARY_COUNT; op++) {
    float param = op == DNN_UNARY_LEAKY_RELU ? 0.2f : op == DNN_UNARY_ELU ? 1.5f : 0;
    float want[5];
    for (int i = 0; i < 5; i++) {
      double v = xs[i], sig = 1 / (1 + exp(-v)), y = 0;
      switch ((dnn_unary_op)op) {
        case DNN_UNARY_NEG:
          y = -v;
          break;
        case DNN_UNARY_EXP:
          y = exp(v);
          break;
        case DNN_UNARY_LOG:
          y = log(v);
          break;
        case DNN_UNARY_SQRT:
          y = sqrt(v);
          break;
        case DNN_UNARY_ABS:
          y = fabs(v);
          break;
        case DNN_UNARY_RELU:
          y = v > 0 ? v : 0;
          break;
        case DNN_UNARY_LEAKY_RELU:
          y = v > 0 ? v : 0.2 * v;
          break;
        case DNN_UNARY_SIGMOID:
          y = sig;
          break;
        case DNN_UNARY_TANH:
          y = tanh(v);
          break;
        case DNN_UNARY_ELU:
          y = v > 0 ? v : 1.5 * (exp(v) - 1);
          break;
        case DNN_UNARY_SELU:
          y = ss * (v > 0 ? v : sa * (exp(v) - 1));
          break;
        case DNN_UNARY_GELU:
          y = 0.5 * v * (1 + erf(v / sqrt(2.0)));
          break;
        case DNN_UNARY_SOFTPLUS:
          y = log(1 + exp(v));
          break;
        case DNN_UNARY_SWISH:
          y = v * sig;
          break;
        case DNN_UNARY_HARD_SIGMOID:
          y = fmin(fmax(v + 3, 0), 6) / 6;
          break;
        case DNN_UNARY_SQUARE:
          y = v * v;
          break;
        default:
          break;
      }
      want[i] = (float)y;
    }
    dnn_tensor *r = dnn_unary((dnn_unary_op)op, x, param);
    bool ok = tensor_matches(r, 1, s5, want, 2e-6);
    if (!ok) fprintf(stderr, "  op %s\n", dnn_unary_name((dnn_unary_op)op));
    CHECK(ok);
    dnn_tensor_release(r);
  }
  dnn_tensor_release(x);

  /* fixed points and saturation */
  int64_t s6[] = {6};
  dnn_tensor *big = T(1, s6, (float[]){-100, -4, -3, 3, 4, 100});
  dnn_tensor *r = dnn_unary(DNN_UNARY_SIGMOID, big, 0);
  CHECK(r && dnn_data(r)[0] >= 0 && dnn_data(r)[0] < 1e-40f && dnn_data(r)[5] == 1.0f);
  dnn_tensor_release(r);
  r = dnn_unary(DNN_UNARY_SOFTPLUS, big, 0);
  CHECK(r && dnn_data(r)[5] == 100.0f && dnn_data(r)[0] >= 0 && dnn_data(r)[0] < 1e-40f);
  dnn_tensor_release(r);
  r = dnn_unary(DNN_UNARY_HARD_SIGMOID, big, 0);
  CHECK(tensor_matches(r, 1, s6, (float[]){0, 0, 0, 1, 1, 1}, 0));
  dnn_tensor_release(r);
  r = dnn_unary(DNN_UNARY_SWISH, big, 0);
  CHECK(r && fabsf(dnn_data(r)[0]) < 1e-30f && dnn_data(r)[5] == 100.0f);
  dnn_tensor_release(r);
  r = dnn_unary(DNN_UNARY_GELU, big, 0);
  CHECK(r && dnn_data(r)[0] == 0.0f && dnn_data(r)[5] == 100.0f);
  CHECK_NEAR(dnn_data(r)[4], 4 * 0.99996832875816688, 1e-5);
  dnn_tensor_release(r);
  dnn_tensor_release(big);

  CHECK(strcmp(dnn_unary_name(DNN_UNARY_GELU), "gelu") == 0);
  CHECK(strcmp(dnn_unary_name(DNN_UNARY_HARD_SIGMOID), "hard_sigmoid") == 0);
  CHECK(strcmp(dnn_unary_name(DNN_UNARY_LEAKY_RELU), "leaky_relu") == 0);
}

/* Above DNN_PARALLEL_GRAIN: the parallel paths give the serial answers. */
static void test_large(void) {
  int64_t shape[] = {301, 257}, srow[] = {257}, scol[] = {301, 1};
  dnn_tensor *a = dnn_randn(2, shape), *row = dnn_randn(1, srow), *col = dnn_randn(2, scol);
  dnn_tensor *at = dnn_transpose(a, 0, 1); /* (257, 301), strided */
  for (int threads = 1; threads <= 2; threads++) {
    dnn_set_num_threads(threads);
    dnn_tensor *r1 = dnn_add(a, row), *r2 = dnn_mul(a, col), *r3 = dnn_unary(DNN_UNARY_TANH, at, 0);
    dnn_tensor *r4 = dnn_sub(at, at);
    const float *pa = dnn_data(a), *pr = dnn_data(row), *pc = dnn_data(col);
    int bad = 0;
    for (int64_t i = 0; i < 301; i++)
      for (int64_t j = 0; j < 257; j++) {
        float v = pa[i * 257 + j];
        bad += dnn_data(r1)[i * 257 + j] != v + pr[j];
        bad += dnn_data(r2)[i * 257 + j] != v * pc[i];
        bad += dnn_data(r3)[j * 301 + i] != tanhf(v);
        bad += dnn_data(r4)[j * 301 + i] != 0;
      }
    CHECK(bad == 0);
    dnn_tensor_release(r1);
    dnn_tensor_release(r2);
    dnn_tensor_release(r3);
    dnn_tensor_release(r4);
  }
  dnn_tensor_release(at);
  dnn_tensor_release(a);
  dnn_tensor_release(row);
  dnn_tensor_release(col);
}

/* ---- gradients ---- */

typedef struct {
  int op; /* 0..6: add sub mul div pow maximum minimum */
  bool transpose_a;
} bin_case;

static dnn_tensor *binary_loss(dnn_tensor *const *in, void *ctx) {
  const bin_case *c = ctx;
  dnn_tensor *a = c->transpose_a ? dnn_transpose(in[0], 0, 1) : dnn_tensor_retain(in[0]);
  dnn_tensor *(*fns[])(dnn_tensor *, dnn_tensor *) = {dnn_add, dnn_sub,     dnn_mul,    dnn_div,
                                                      dnn_pow, dnn_maximum, dnn_minimum};
  dnn_tensor *r = fns[c->op](a, in[1]);
  dnn_tensor_release(a);
  return gc_weighted_sum(r);
}

static void test_binary_grads(void) {
  const char *names[] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum"};
  int64_t s31[] = {3, 1}, s14[] = {1, 4}, s23[] = {2, 3}, s3[] = {3}, s32[] = {3, 2};
  for (int op = 0; op < 7; op++) {
    /* (3,1) with (1,4); values positive and apart, so pow and max/min are smooth */
    dnn_tensor *a = T(2, s31, (float[]){0.7f, 1.3f, 2.1f}), *b = T(2, s14, (float[]){0.4f, 1.1f, 1.7f, 2.5f});
    dnn_tensor *in[2] = {a, b};
    bin_case c = {op, false};
    char name[64];
    snprintf(name, sizeof name, "%s (3,1)x(1,4)", names[op]);
    gradcheck(name, binary_loss, 2, in, &c);
    dnn_tensor_release(a);
    dnn_tensor_release(b);

    /* (2,3) with (3,), and a transposed (3,2) leaf with a 0-d scalar */
    a = T(2, s23, (float[]){0.6f, 1.6f, 0.9f, 2.2f, 1.2f, 0.3f});
    b = T(1, s3, (float[]){1.4f, 0.5f, 1.9f});
    in[0] = a;
    in[1] = b;
    snprintf(name, sizeof name, "%s (2,3)x(3)", names[op]);
    gradcheck(name, binary_loss, 2, in, &c);
    dnn_tensor_release(a);
    dnn_tensor_release(b);

    a = T(2, s32, (float[]){0.6f, 1.6f, 0.9f, 2.2f, 1.2f, 0.3f});
    b = dnn_scalar(1.05f);
    in[0] = a;
    in[1] = b;
    c.transpose_a = true;
    snprintf(name, sizeof name, "%s transposed x 0-d", names[op]);
    gradcheck(name, binary_loss, 2, in, &c);
    dnn_tensor_release(a);
    dnn_tensor_release(b);
  }
}

/* Ties and exponents at the edge: the documented conventions. */
static void test_binary_grad_conventions(void) {
  int64_t s3[] = {3};
  dnn_tensor *a = T(1, s3, (float[]){1, 2, 0}), *b = T(1, s3, (float[]){1, 3, 2});
  dnn_set_requires_grad(a, true);
  dnn_set_requires_grad(b, true);
  dnn_tensor *m = dnn_maximum(a, b), *s = dnn_sum(m, DNN_ALL_DIMS, false);
  CHECK(dnn_backward(s, NULL) == DNN_OK);
  CHECK(tensor_matches(a->grad, 1, s3, (float[]){1, 0, 0}, 0)); /* a on ties */
  CHECK(tensor_matches(b->grad, 1, s3, (float[]){0, 1, 1}, 0));
  dnn_tensor_release(m);
  dnn_tensor_release(s);
  dnn_tensor_release(a->grad);
  dnn_tensor_release(b->grad);
  a->grad = b->grad = NULL;
  /* d(a^b)/db = a^b log a where a > 0, 0 at a = 0 */
  dnn_tensor *p = dnn_pow(a, b);
  s = dnn_sum(p, DNN_ALL_DIMS, false);
  CHECK(dnn_backward(s, NULL) == DNN_OK);
  CHECK(tensor_matches(b->grad, 1, s3, (float[]){0, 8 * logf(2), 0}, 1e-5));
  CHECK(tensor_matches(a->grad, 1, s3, (float[]){1, 12, 0}, 1e-5));
  dnn_tensor_release(p);
  dnn_tensor_release(s);
  dnn_tensor_release(a);
  dnn_tensor_release(b);
}

typedef struct {
  int kind; /* 0: unary op, 1: affine, 2: pow_scalar, 3: rpow_scalar, 4: rdiv_scalar, 5: clamp */
  int op;
  float p, q;
  bool transpose;
} map_case;

static dnn_tensor *map_loss(dnn_tensor *const *in, void *ctx) {
  const map_case *c = ctx;
  dnn_tensor *x = c->transpose ? dnn_transpose(in[0], 0, 1) : dnn_tensor_retain(in[0]), *r = NULL;
  switch (c->kind) {
    case 0:
      r = dnn_unary((dnn_unary_op)c->op, x, c->p);
      break;
    case 1:
      r = dnn_affine(x, c->p, c->q);
      break;
    case 2:
      r = dnn_pow_scalar(x, c->p);
      break;
    case 3:
      r = dnn_rpow_scalar(c->p, x);
      break;
    case 4:
      r = dnn_rdiv_scalar(c->p, x);
      break;
    case 5:
      r = dnn_clamp(x, c->p, c->q);
      break;
  }
  dnn_tensor_release(x);
  return gc_weighted_sum(r);
}

static void test_map_grads(void) {
  int64_t s23[] = {2, 3};
  /* away from kinks (0, and +-3 for hard_sigmoid) */
  const float mixed[6] = {-2.2f, -0.7f, 0.4f, 1.3f, -1.6f, 2.4f};
  const float positive[6] = {0.3f, 0.8f, 1.4f, 2.0f, 2.7f, 0.55f};
  for (int op = 0; op < DNN_UNARY_COUNT; op++) {
    bool pos_only = op == DNN_UNARY_LOG || op == DNN_UNARY_SQRT;
    float param = op == DNN_UNARY_LEAKY_RELU ? 0.2f : op == DNN_UNARY_ELU ? 1.3f : 0;
    for (int tr = 0; tr < 2; tr++) {
      dnn_tensor *x = T(2, s23, pos_only ? positive : mixed);
      map_case c = {0, op, param, 0, tr};
      char name[64];
      snprintf(name, sizeof name, "%s%s", dnn_unary_name((dnn_unary_op)op), tr ? " (transposed)" : "");
      gradcheck(name, map_loss, 1, &x, &c);
      dnn_tensor_release(x);
    }
  }
  map_case cases[] = {
      {1, 0, -1.5f, 0.25f, false}, {1, 0, 2, 1, true},      {2, 0, 3, 0, false}, {2, 0, 0.5f, 0, true},
      {2, 0, 2, 0, false},         {2, 0, -1.5f, 0, false}, {2, 0, 1, 0, false}, {2, 0, 0, 0, false},
      {3, 0, 2, 0, false},         {3, 0, 0.5f, 0, true},   {4, 0, 3, 0, false}, {5, 0, 0.5f, 2.2f, false},
      {5, 0, 0.5f, 2.2f, true},
  };
  const char *kinds[] = {"", "affine", "pow_scalar", "rpow_scalar", "rdiv_scalar", "clamp"};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    dnn_tensor *x = T(2, s23, positive);
    char name[64];
    snprintf(name, sizeof name, "%s p=%g", kinds[cases[i].kind], cases[i].p);
    gradcheck(name, map_loss, 1, &x, &cases[i]);
    dnn_tensor_release(x);
  }
}

/* Ops that save their output (exp, sigmoid, tanh) save an alias: releasing
 * the output frees everything (LeakSanitizer would see a cycle). */
static void test_no_cycles(void) {
  int64_t s3[] = {3};
  dnn_tensor *x = T(1, s3, (float[]){0.1f, 0.2f, 0.3f});
  dnn_set_requires_grad(x, true);
  dnn_unary_op ops[] = {DNN_UNARY_EXP, DNN_UNARY_SIGMOID, DNN_UNARY_TANH, DNN_UNARY_SQRT};
  for (int i = 0; i < 4; i++) {
    dnn_tensor *y = dnn_unary(ops[i], x, 0);
    CHECK(y && y->grad_fn && y->grad_fn->n_saved == 1 && dnn_node_saved(y->grad_fn, 0) != y &&
          !dnn_node_saved(y->grad_fn, 0)->grad_fn);
    dnn_tensor_release(y); /* never backward: the graph must still go */
  }
  dnn_tensor *y = dnn_rpow_scalar(2, x);
  CHECK(y && y->grad_fn && dnn_node_saved(y->grad_fn, 0) != y);
  dnn_tensor_release(y);
  /* grad off: nothing recorded */
  dnn_set_grad_enabled(false);
  y = dnn_unary(DNN_UNARY_EXP, x, 0);
  CHECK(y && !y->grad_fn && !y->requires_grad);
  dnn_tensor_release(y);
  dnn_set_grad_enabled(true);
  dnn_tensor_release(x);
}

int main(void) {
  test_broadcasting();
  test_errors();
  test_compare();
  test_scalar_ops();
  test_unary_values();
  test_large();
  test_binary_grads();
  test_binary_grad_conventions();
  test_map_grads();
  test_no_cycles();
  return check_report("test_elementwise");
}
