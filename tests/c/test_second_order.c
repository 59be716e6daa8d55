/* Gradients of gradients (create_graph): for each op, f = sum(c * op(x)^2)
 * with fixed weights c, g = df/dx recorded by dnn_grad, h = sum(g * v) with
 * fixed v; dh/dx from backward is compared with central differences of h.
 * Squaring the op's output makes the incoming gradient depend on x too, so
 * even linear ops must record their backward. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "dnn/dnn.h"
#include "gradcheck.h"

enum {
  K_BIN,
  K_UNARY,
  K_AFFINE,
  K_POW_SCALAR,
  K_RPOW,
  K_RDIV,
  K_CLAMP,
  K_SUM,
  K_MEAN,
  K_VAR,
  K_MAX,
  K_MIN,
  K_MATMUL,
  K_SOFTMAX,
  K_LOG_SOFTMAX,
  K_FN /* fn(in): a composite or a layer's op, the cases below */
};

typedef struct {
  int kind;
  dnn_tensor *(*bin)(dnn_tensor *, dnn_tensor *);
  int op;
  float p, q;
  dnn_tensor *(*fn)(dnn_tensor *const *in);
} so_case;

static dnn_tensor *so_apply(const so_case *c, dnn_tensor *const *in) {
  switch (c->kind) {
    case K_BIN:
      return c->bin(in[0], in[1]);
    case K_UNARY:
      return dnn_unary((dnn_unary_op)c->op, in[0], c->p);
    case K_AFFINE:
      return dnn_affine(in[0], c->p, c->q);
    case K_POW_SCALAR:
      return dnn_pow_scalar(in[0], c->p);
    case K_RPOW:
      return dnn_rpow_scalar(c->p, in[0]);
    case K_RDIV:
      return dnn_rdiv_scalar(c->p, in[0]);
    case K_CLAMP:
      return dnn_clamp(in[0], c->p, c->q);
    case K_SUM:
      return dnn_sum(in[0], c->op, c->p != 0);
    case K_MEAN:
      return dnn_mean(in[0], c->op, c->p != 0);
    case K_VAR:
      return dnn_var(in[0], c->op, c->p != 0, 1);
    case K_MAX:
      return dnn_max(in[0], c->op, c->p != 0);
    case K_MIN:
      return dnn_min(in[0], c->op, c->p != 0);
    case K_MATMUL:
      return dnn_matmul(in[0], in[1]);
    case K_SOFTMAX:
      return dnn_softmax(in[0], c->op);
    case K_LOG_SOFTMAX:
      return dnn_log_softmax(in[0], c->op);
    case K_FN:
      return c->fn(in);
    default:
      return NULL;
  }
}

/* Fixed weights, varied and signed, differing from gc_weighted_sum's. */
static dnn_tensor *pattern(const dnn_tensor *like, int salt) {
  dnn_tensor *v = dnn_empty(like->ndim, like->shape);
  if (!v) return NULL;
  float *p = dnn_data(v);
  for (int64_t i = 0; i < dnn_numel(v); i++) p[i] = (float)(((i * 5 + salt) % 9) - 4) / 4.0f + 0.1f;
  return v;
}

/* h(in) = sum_i sum(d f / d in[i] * v_i); the gradients recorded when create. */
static dnn_tensor *so_h(const so_case *c, int n, dnn_tensor *const *in, bool create) {
  dnn_tensor *out = so_apply(c, in);
  dnn_tensor *f = gc_weighted_sum(out ? dnn_unary(DNN_UNARY_SQUARE, out, 0.0f) : NULL);
  dnn_tensor_release(out);
  if (!f) return NULL;
  dnn_tensor *grads[4] = {0};
  dnn_status st = dnn_grad(1, &f, NULL, n, in, grads, &(dnn_backward_opts){.create_graph = create});
  dnn_tensor_release(f);
  dnn_tensor *h = NULL;
  for (int i = 0; st == DNN_OK && i < n; i++) {
    if (!grads[i]) continue;
    dnn_tensor *v = pattern(grads[i], 3 + 2 * i);
    dnn_tensor *m = v ? dnn_mul(grads[i], v) : NULL;
    dnn_tensor *s = m ? dnn_sum(m, DNN_ALL_DIMS, false) : NULL;
    dnn_tensor *acc = s && h ? dnn_add(h, s) : s ? dnn_tensor_retain(s) : NULL;
    dnn_tensor_release(v);
    dnn_tensor_release(m);
    dnn_tensor_release(s);
    dnn_tensor_release(h);
    h = acc;
    if (!h) st = DNN_ESTATE;
  }
  for (int i = 0; i < n; i++) dnn_tensor_release(grads[i]);
  if (st != DNN_OK) {
    dnn_tensor_release(h);
    return NULL;
  }
  return h;
}

/* Checks dh/d in[j] against central differences (eps 1e-2; float32). */
static void second_check(const char *name, const so_case *c, int n, dnn_tensor *const *in) {
  const double eps = 1e-2, rtol = 2e-2, atol = 5e-3;
  for (int i = 0; i < n; i++) {
    dnn_tensor_release(in[i]->grad);
    in[i]->grad = NULL;
    dnn_set_requires_grad(in[i], true);
  }
  dnn_tensor *h = so_h(c, n, in, true);
  dnn_status st = h ? dnn_backward(h, NULL) : DNN_ESTATE;
  dnn_tensor_release(h);
  if (st != DNN_OK) fprintf(stderr, "%s: second-order backward failed: %s\n", name, dnn_errmsg());
  CHECK(st == DNN_OK);
  if (st != DNN_OK) return;
  int bad = 0;
  for (int i = 0; i < n; i++) {
    float *x = dnn_data(in[i]);
    const float *an = in[i]->grad ? dnn_data(in[i]->grad) : NULL;
    for (int64_t k = 0; k < dnn_numel(in[i]); k++) {
      float x0 = x[k];
      x[k] = (float)(x0 + eps);
      dnn_tensor *hp = so_h(c, n, in, false);
      x[k] = (float)(x0 - eps);
      dnn_tensor *hm = so_h(c, n, in, false);
      x[k] = x0;
      double fd = hp && hm ? ((double)dnn_data(hp)[0] - dnn_data(hm)[0]) / (2 * eps) : NAN;
      dnn_tensor_release(hp);
      dnn_tensor_release(hm);
      double a = an ? an[k] : 0.0;
      if (!(fabs(a - fd) <= atol + rtol * fabs(fd))) {
        if (bad < 4)
          fprintf(stderr, "%s: input %d [%lld]: second order %.6g, finite difference %.6g\n", name, i, (long long)k, a,
                  fd);
        bad++;
      }
    }
  }
  CHECK(bad == 0);
  for (int i = 0; i < n; i++) {
    dnn_tensor_release(in[i]->grad);
    in[i]->grad = NULL;
  }
}

/* Values of order 1, |x| >= lo (away from kinks at 0), positive when pos. */
static dnn_tensor *input(int ndim, const int64_t *shape, int salt, bool pos, float lo) {
  dnn_tensor *t = dnn_empty(ndim, shape);
  float *p = dnn_data(t);
  for (int64_t i = 0; i < dnn_numel(t); i++) {
    float m = lo + (float)((i * 7 + salt * 3) % 13) / 12.0f;
    p[i] = pos || ((i + salt) % 3) ? m : -m;
    if (!pos && (i + salt) % 2) p[i] = -p[i];
  }
  return t;
}

static void check_case(const char *name, so_case c, int n, bool pos) {
  int64_t sa[2] = {3, 4}, sb[1] = {4};
  dnn_tensor *in[2] = {input(2, sa, 1, pos, 0.3f), n > 1 ? input(1, sb, 2, pos, 0.3f) : NULL};
  if (n > 1 && c.bin == dnn_maximum) dnn_data(in[1])[1] = 0.95f; /* no ties within eps */
  second_check(name, &c, n, in);
  dnn_tensor_release(in[0]);
  dnn_tensor_release(in[1]);
}

static void test_binary(void) {
  check_case("add", (so_case){.kind = K_BIN, .bin = dnn_add}, 2, false);
  check_case("sub", (so_case){.kind = K_BIN, .bin = dnn_sub}, 2, false);
  check_case("mul", (so_case){.kind = K_BIN, .bin = dnn_mul}, 2, false);
  check_case("div", (so_case){.kind = K_BIN, .bin = dnn_div}, 2, false);
  check_case("pow", (so_case){.kind = K_BIN, .bin = dnn_pow}, 2, true);
  check_case("maximum", (so_case){.kind = K_BIN, .bin = dnn_maximum}, 2, false);
  check_case("minimum", (so_case){.kind = K_BIN, .bin = dnn_minimum}, 2, false);
}

static void test_unary(void) {
  for (int op = 0; op < DNN_UNARY_COUNT; op++) {
    bool pos = op == DNN_UNARY_LOG || op == DNN_UNARY_SQRT;
    float p = op == DNN_UNARY_LEAKY_RELU ? 0.2f : op == DNN_UNARY_ELU ? 1.3f : 0.0f;
    check_case(dnn_unary_name((dnn_unary_op)op), (so_case){.kind = K_UNARY, .op = op, .p = p}, 1, pos);
  }
  check_case("affine", (so_case){.kind = K_AFFINE, .p = -1.5f, .q = 0.25f}, 1, false);
  check_case("pow_scalar 3", (so_case){.kind = K_POW_SCALAR, .p = 3.0f}, 1, false);
  check_case("pow_scalar 2.5", (so_case){.kind = K_POW_SCALAR, .p = 2.5f}, 1, true);
  check_case("pow_scalar -1", (so_case){.kind = K_POW_SCALAR, .p = -1.0f}, 1, true);
  check_case("rpow", (so_case){.kind = K_RPOW, .p = 1.7f}, 1, false);
  check_case("rdiv", (so_case){.kind = K_RDIV, .p = 2.0f}, 1, true);
  check_case("clamp", (so_case){.kind = K_CLAMP, .p = -0.76f, .q = 0.925f}, 1, false);
}

static void test_reduce(void) {
  const char *names[] = {"sum", "mean", "var", "max", "min"};
  int dims[3] = {0, 1, DNN_ALL_DIMS};
  for (int k = K_SUM; k <= K_MIN; k++)
    for (int d = 0; d < 3; d++)
      for (int keep = 0; keep < 2; keep++) {
        char name[64];
        snprintf(name, sizeof name, "%s dim %d keepdim %d", names[k - K_SUM], dims[d], keep);
        check_case(name, (so_case){.kind = k, .op = dims[d], .p = (float)keep}, 1, false);
      }
}

static void matmul_case(int na, const int64_t *sa, int nb, const int64_t *sb) {
  char name[64];
  snprintf(name, sizeof name, "matmul %d-d @ %d-d", na, nb);
  dnn_tensor *in[2] = {input(na, sa, 1, false, 0.3f), input(nb, sb, 2, false, 0.3f)};
  second_check(name, &(so_case){.kind = K_MATMUL}, 2, in);
  dnn_tensor_release(in[0]);
  dnn_tensor_release(in[1]);
}

static void test_matmul(void) {
  matmul_case(2, (int64_t[]){3, 4}, 2, (int64_t[]){4, 2});
  matmul_case(3, (int64_t[]){2, 3, 4}, 2, (int64_t[]){4, 2}); /* b broadcast over the batch */
  matmul_case(4, (int64_t[]){2, 1, 3, 4}, 3, (int64_t[]){3, 4, 2});
  matmul_case(1, (int64_t[]){4}, 2, (int64_t[]){4, 2});
  matmul_case(2, (int64_t[]){3, 4}, 1, (int64_t[]){4});
  matmul_case(1, (int64_t[]){4}, 3, (int64_t[]){2, 4, 3});
  matmul_case(1, (int64_t[]){4}, 1, (int64_t[]){4});
}

static void test_softmax(void) {
  for (int dim = 0; dim < 2; dim++) {
    char name[64];
    snprintf(name, sizeof name, "softmax dim %d", dim);
    check_case(name, (so_case){.kind = K_SOFTMAX, .op = dim}, 1, false);
    snprintf(name, sizeof name, "log_softmax dim %d", dim);
    check_case(name, (so_case){.kind = K_LOG_SOFTMAX, .op = dim}, 1, false);
  }
}

/* A K_FN case over inputs of the given shapes (n <= 4), values away from kinks. */
static void fn_case(const char *name, dnn_tensor *(*fn)(dnn_tensor *const *), int n, const int *ndims,
                    const int64_t (*shapes)[4]) {
  dnn_tensor *in[4] = {0};
  for (int i = 0; i < n; i++) in[i] = input(ndims[i], shapes[i], 1 + i, false, 0.3f);
  second_check(name, &(so_case){.kind = K_FN, .fn = fn}, n, in);
  for (int i = 0; i < n; i++) dnn_tensor_release(in[i]);
}

static dnn_tensor *dense_tanh(dnn_tensor *const *in) { return dnn_dense(in[0], in[1], in[2], DNN_ACT_TANH, 0); }
static dnn_tensor *dense_leaky(dnn_tensor *const *in) {
  return dnn_dense(in[0], in[1], in[2], DNN_ACT_LEAKY_RELU, 0.2f);
}
static dnn_tensor *dense_linear(dnn_tensor *const *in) { return dnn_dense(in[0], in[1], NULL, DNN_ACT_LINEAR, 0); }
static dnn_tensor *layer_norm(dnn_tensor *const *in) { return dnn_layer_norm(in[0], in[1], in[2], 1, 1e-3f); }

static const dnn_conv2d_config conv_valid = {{1, 1}, {1, 1}, false}, conv_same_s2 = {{2, 2}, {1, 1}, true},
                               conv_dilated = {{1, 2}, {2, 1}, false};
static dnn_tensor *conv_tanh(dnn_tensor *const *in) {
  return dnn_conv2d(in[0], in[1], in[2], &conv_valid, DNN_ACT_TANH, 0);
}
static dnn_tensor *conv_same_leaky(dnn_tensor *const *in) {
  return dnn_conv2d(in[0], in[1], in[2], &conv_same_s2, DNN_ACT_LEAKY_RELU, 0.2f);
}
static dnn_tensor *conv_dilated_linear(dnn_tensor *const *in) {
  return dnn_conv2d(in[0], in[1], NULL, &conv_dilated, DNN_ACT_LINEAR, 0);
}
static dnn_tensor *conv_pointwise_sigmoid(dnn_tensor *const *in) {
  return dnn_conv2d(in[0], in[1], in[2], &conv_valid, DNN_ACT_SIGMOID, 0);
}
static dnn_tensor *conv_transpose_tanh(dnn_tensor *const *in) {
  return dnn_conv2d_transpose(in[0], in[1], in[2], &conv_same_s2, DNN_ACT_TANH, 0);
}
static dnn_tensor *depthwise_tanh(dnn_tensor *const *in) {
  return dnn_depthwise_conv2d(in[0], in[1], in[2], &conv_same_s2, DNN_ACT_TANH, 0);
}
static dnn_tensor *depthwise_linear(dnn_tensor *const *in) {
  return dnn_depthwise_conv2d(in[0], in[1], NULL, &conv_valid, DNN_ACT_LINEAR, 0);
}

/* Every conv, through each of its three products (the second derivative of one reaches the other two). */
static void test_conv(void) {
  const int nd[3] = {4, 4, 1};
  fn_case("conv2d tanh", conv_tanh, 3, nd, (const int64_t[][4]){{2, 4, 4, 2}, {2, 2, 2, 3}, {3}});
  fn_case("conv2d same stride 2 leaky_relu", conv_same_leaky, 3, nd,
          (const int64_t[][4]){{1, 5, 5, 2}, {3, 3, 2, 2}, {2}});
  fn_case("conv2d dilated, no bias", conv_dilated_linear, 2, nd, (const int64_t[][4]){{1, 5, 4, 2}, {2, 2, 2, 2}});
  fn_case("conv2d 1x1 sigmoid", conv_pointwise_sigmoid, 3, nd, (const int64_t[][4]){{2, 3, 3, 3}, {1, 1, 3, 2}, {2}});
  fn_case("conv2d_transpose tanh", conv_transpose_tanh, 3, nd, (const int64_t[][4]){{1, 3, 3, 2}, {3, 3, 2, 2}, {2}});
  fn_case("depthwise_conv2d tanh", depthwise_tanh, 3, nd, (const int64_t[][4]){{1, 5, 5, 2}, {3, 3, 2, 2}, {4}});
  fn_case("depthwise_conv2d, no bias", depthwise_linear, 2, nd, (const int64_t[][4]){{2, 4, 4, 2}, {2, 2, 2, 1}});
}

/* Fused layers, differentiated twice through their decomposition. */
static void test_layers(void) {
  const int64_t dense_shapes[3][4] = {{3, 4}, {4, 2}, {2}};
  const int dense_ndims[3] = {2, 2, 1};
  fn_case("dense tanh", dense_tanh, 3, dense_ndims, dense_shapes);
  fn_case("dense leaky_relu", dense_leaky, 3, dense_ndims, dense_shapes);
  fn_case("dense linear, no bias", dense_linear, 2, dense_ndims, dense_shapes);
  const int64_t norm_shapes[3][4] = {{3, 5}, {5}, {5}};
  fn_case("layer_norm", layer_norm, 3, (const int[]){2, 1, 1}, norm_shapes);
}

/* Distinct values 0.03 apart in a scrambled order (37 is prime to numel):
 * no two within the finite differences' eps of each other, so max pooling's
 * winners stay put. */
static dnn_tensor *distinct_input(int ndim, const int64_t *shape) {
  dnn_tensor *t = dnn_empty(ndim, shape);
  int64_t n = dnn_numel(t);
  for (int64_t i = 0; i < n; i++) dnn_data(t)[i] = 0.03f * (float)((i * 37 + 11) % n - n / 2);
  return t;
}

static dnn_pool2d_config pool_cfg; /* the window of the pooling case being checked */

static dnn_tensor *max_pool(dnn_tensor *const *in) { return dnn_max_pool2d(in[0], &pool_cfg); }
static dnn_tensor *avg_pool(dnn_tensor *const *in) { return dnn_avg_pool2d(in[0], &pool_cfg); }
static dnn_tensor *global_max(dnn_tensor *const *in) { return dnn_global_pool2d(in[0], true, false); }
static dnn_tensor *global_avg(dnn_tensor *const *in) { return dnn_global_pool2d(in[0], false, true); }

static void pool_case(const char *name, dnn_tensor *(*fn)(dnn_tensor *const *)) {
  int64_t shape[4] = {2, 5, 5, 3};
  dnn_tensor *x = distinct_input(4, shape);
  second_check(name, &(so_case){.kind = K_FN, .fn = fn}, 1, &x);
  dnn_tensor_release(x);
}

/* d/dx of sum(d/dx of sum(d/dx of sum(fn(x)^3))), each gradient recorded. */
static dnn_tensor *third_derivative(dnn_tensor *(*fn)(dnn_tensor *const *), dnn_tensor *x) {
  dnn_tensor *y = fn(&x), *y3 = y ? dnn_pow_scalar(y, 3.0f) : NULL;
  dnn_tensor *t = y3 ? dnn_sum(y3, DNN_ALL_DIMS, false) : NULL, *g = NULL;
  dnn_tensor_release(y3);
  dnn_tensor_release(y);
  for (int k = 0; k < 3 && t; k++) {
    dnn_tensor_release(g);
    g = NULL;
    dnn_status st = dnn_grad(1, &t, NULL, 1, &x, &g, &(dnn_backward_opts){.create_graph = true});
    dnn_tensor_release(t);
    t = st == DNN_OK && g && k < 2 ? dnn_sum(g, DNN_ALL_DIMS, false) : NULL;
    if (st != DNN_OK) fprintf(stderr, "third derivative, step %d: %s\n", k + 1, dnn_errmsg());
  }
  dnn_tensor_release(t);
  return g;
}

/* Third derivatives run the gather (max) and the average pool as backwards
 * of backwards: on 2x2 windows of 1..16, 6 at each window's maximum (the
 * bottom right) for max, 6 / 4 everywhere for the average. */
static void test_pool_third_order(void) {
  int64_t shape[4] = {1, 4, 4, 1};
  float v[16];
  for (int i = 0; i < 16; i++) v[i] = (float)(i + 1) / 8.0f;
  pool_cfg = (dnn_pool2d_config){{2, 2}, {2, 2}, false};
  for (int avg = 0; avg < 2; avg++) {
    dnn_tensor *x = dnn_from_data(v, 4, shape);
    dnn_set_requires_grad(x, true);
    dnn_tensor *g = third_derivative(avg ? avg_pool : max_pool, x);
    CHECK(g != NULL);
    for (int i = 0; g && i < 16; i++) {
      bool winner = (i / 4) % 2 == 1 && i % 2 == 1;
      CHECK_NEAR(dnn_data(g)[i], avg ? 1.5f : winner ? 6.0f : 0.0f, 1e-4);
    }
    dnn_tensor_release(g);
    dnn_tensor_release(x);
  }
}

/* Max and average pooling, valid and same, overlapping windows, global. */
static void test_pooling(void) {
  const dnn_pool2d_config cfgs[] = {{{2, 2}, {2, 2}, false}, {{2, 2}, {2, 2}, true}, {{2, 2}, {1, 1}, false},
                                    {{3, 3}, {2, 2}, false}, {{3, 3}, {2, 2}, true}, {{3, 2}, {1, 2}, true}};
  for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
    const dnn_pool2d_config *c = &cfgs[i];
    char name[96];
    pool_cfg = *c;
    for (int avg = 0; avg < 2; avg++) {
      snprintf(name, sizeof name, "%s pool %lldx%lld stride %lldx%lld %s", avg ? "avg_pool2d" : "max_pool2d",
               (long long)c->pool[0], (long long)c->pool[1], (long long)c->stride[0], (long long)c->stride[1],
               c->same ? "same" : "valid");
      pool_case(name, avg ? avg_pool : max_pool);
    }
  }
  pool_case("global max pooling", global_max);
  pool_case("global avg pooling, keepdims", global_avg);
  test_pool_third_order();
}

/* d2/dx2 x^3 = 6x. */
static void test_cube(void) {
  int64_t shape[1] = {5};
  float xs[5] = {-2.0f, -0.5f, 0.0f, 1.0f, 3.0f};
  dnn_tensor *x = dnn_from_data(xs, 1, shape);
  dnn_set_requires_grad(x, true);
  dnn_tensor *y = dnn_pow_scalar(x, 3.0f);
  dnn_tensor *f = dnn_sum(y, DNN_ALL_DIMS, false), *g = NULL;
  CHECK(dnn_grad(1, &f, NULL, 1, &x, &g, &(dnn_backward_opts){.create_graph = true}) == DNN_OK);
  CHECK(g && g->requires_grad);
  for (int i = 0; g && i < 5; i++) CHECK_NEAR(dnn_data(g)[i], 3.0f * xs[i] * xs[i], 1e-5);
  dnn_tensor *h = g ? dnn_sum(g, DNN_ALL_DIMS, false) : NULL;
  CHECK(h && dnn_backward(h, NULL) == DNN_OK);
  for (int i = 0; x->grad && i < 5; i++) CHECK_NEAR(dnn_data(x->grad)[i], 6.0f * xs[i], 1e-5);
  CHECK(x->grad != NULL);
  dnn_tensor_release(h);
  dnn_tensor_release(g);
  dnn_tensor_release(f);
  dnn_tensor_release(y);
  dnn_tensor_release(x);
}

/* An op without a second derivative errors when differentiated twice. */
static void refused(const char *name, dnn_tensor *(*op)(dnn_tensor *)) {
  int64_t shape[1] = {6};
  dnn_tensor *x = input(1, shape, 4, false, 0.3f);
  dnn_set_requires_grad(x, true);
  dnn_tensor *y = op(x);
  dnn_tensor *f = gc_weighted_sum(y ? dnn_unary(DNN_UNARY_SQUARE, y, 0.0f) : NULL), *g = NULL;
  CHECK(f && dnn_grad(1, &f, NULL, 1, &x, &g, &(dnn_backward_opts){.create_graph = true}) == DNN_OK);
  dnn_tensor *h = g ? dnn_sum(g, DNN_ALL_DIMS, false) : NULL;
  CHECK(h != NULL);
  dnn_status st = h ? dnn_backward(h, NULL) : DNN_OK;
  CHECK(st != DNN_OK);
  CHECK(strstr(dnn_errmsg(), "second derivative") != NULL);
  if (st != DNN_OK && !strstr(dnn_errmsg(), "second derivative")) fprintf(stderr, "%s: %s\n", name, dnn_errmsg());
  CHECK(x->grad == NULL);
  dnn_tensor_release(h);
  dnn_tensor_release(g);
  dnn_tensor_release(f);
  dnn_tensor_release(y);
  dnn_tensor_release(x);
}

static dnn_tensor *dropout_half(dnn_tensor *x) { return dnn_dropout(x, 0.5f, NULL); }
static void test_refused(void) { refused("dropout", dropout_half); }

/* The fast first-order path is unchanged, and add's node reads no values. */
static void test_shapes_only(void) {
  int64_t shape[1] = {3};
  dnn_tensor *a = input(1, shape, 1, false, 0.3f), *b = input(1, shape, 2, false, 0.3f);
  dnn_set_requires_grad(a, true);
  dnn_tensor *a2 = dnn_mul(a, a);
  dnn_tensor *s = dnn_add(a2, b);
  dnn_tensor *n = s ? dnn_unary(DNN_UNARY_NEG, s, 0.0f) : NULL;
  dnn_tensor *f = n ? dnn_sum(n, DNN_ALL_DIMS, false) : NULL;
  CHECK(dnn_fill(b, 5.0f) == DNN_OK); /* add and neg read only shapes: allowed */
  CHECK(f && dnn_backward(f, NULL) == DNN_OK);
  for (int i = 0; a->grad && i < 3; i++) CHECK_NEAR(dnn_data(a->grad)[i], -2.0f * dnn_data(a)[i], 1e-5);
  CHECK(a->grad != NULL);
  dnn_tensor_release(f);
  dnn_tensor_release(n);
  dnn_tensor_release(s);
  dnn_tensor_release(a2);
  dnn_tensor_release(a);
  dnn_tensor_release(b);
}

int main(void) {
  dnn_manual_seed(5);
  test_binary();
  test_unary();
  test_reduce();
  test_matmul();
  test_softmax();
  test_layers();
  test_conv();
  test_pooling();
  test_cube();
  test_refused();
  test_shapes_only();
  return check_report("test_second_order");
}
