/* Layer kernels: dropout, batch and layer normalization, PReLU. Known values,
 * hand-computed moving statistics, naive references over several layouts,
 * error paths, thread-count independence and finite-difference checks of
 * every backward. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tensor_check.h"
#include "dnn/dnn.h"
#include "gradcheck.h"

static dnn_tensor *T(int ndim, const int64_t *shape, const float *data) { return dnn_from_data(data, ndim, shape); }

/* Largest |a - b| over two tensors of the same size (contiguous). */
/* A tensor of varied values in about [-2, 2]. */
static dnn_tensor *varied(int ndim, const int64_t *shape, int salt) {
  dnn_tensor *t = dnn_empty(ndim, shape);
  for (int64_t i = 0; i < dnn_numel(t); i++) dnn_data(t)[i] = (float)sin(0.7 * (double)i + salt) * 2.0f;
  return t;
}

/* ---- dropout ---- */

static void test_dropout(void) {
  int64_t n = 10000;
  dnn_tensor *x = dnn_full(1, &n, 3.0f);
  dnn_tensor *y = dnn_dropout(x, 0.25f, NULL);
  CHECK(y != NULL);
  int64_t kept = 0, other = 0;
  for (int64_t i = 0; i < n; i++) {
    float v = dnn_data(y)[i];
    if (v == 4.0f)
      kept++; /* 3 / (1 - 0.25) */
    else if (v != 0.0f)
      other++;
  }
  CHECK(other == 0);
  CHECK(kept > 7300 && kept < 7700); /* 7500 expected, sd 43 */
  dnn_tensor_release(y);

  /* a seeded generator: the same masks twice, the global stream untouched */
  dnn_rng_state s1, s2;
  dnn_rng_seeded_state(7, &s1);
  dnn_rng_seeded_state(7, &s2);
  dnn_manual_seed(1);
  float before = dnn_rng_uniform();
  dnn_manual_seed(1);
  dnn_tensor *a = dnn_dropout(x, 0.5f, &s1), *b = dnn_dropout(x, 0.5f, &s2);
  CHECK(dnn_rng_uniform() == before);
  CHECK(max_diff(a, b) == 0);
  dnn_tensor *c = dnn_dropout(x, 0.5f, &s1); /* the generator advanced: another mask */
  CHECK(max_diff(a, c) > 0);
  dnn_tensor_release(a);
  dnn_tensor_release(b);
  dnn_tensor_release(c);

  /* rate 0 keeps everything */
  y = dnn_dropout(x, 0.0f, NULL);
  CHECK(max_diff(x, y) == 0);
  dnn_tensor_release(y);

  /* backward: the gradient is the mask */
  dnn_set_requires_grad(x, true);
  y = dnn_dropout(x, 0.5f, NULL);
  dnn_tensor *s = dnn_sum(y, DNN_ALL_DIMS, false);
  CHECK(dnn_backward(s, NULL) == DNN_OK);
  bool same = x->grad != NULL;
  for (int64_t i = 0; same && i < n; i++) same = dnn_data(x->grad)[i] == dnn_data(y)[i] / 3.0f;
  CHECK(same);
  dnn_tensor_release(s);
  dnn_tensor_release(y);

  CHECK(dnn_dropout(x, 1.0f, NULL) == NULL && errmsg_has("expected a rate in [0, 1), got 1"));
  CHECK(dnn_dropout(x, -0.1f, NULL) == NULL && errmsg_has("[0, 1)"));
  CHECK(dnn_dropout(x, NAN, NULL) == NULL && errmsg_has("nan"));
  int64_t s3[] = {3};
  dnn_tensor *bad = dnn_zeros(1, s3);
  CHECK(dnn_dropout_mask(x, bad) == NULL && errmsg_has("expected a mask of the input's shape (10000), got (3)"));
  dnn_tensor_release(bad);
  dnn_tensor_release(x);
}

static dnn_tensor *dropout_loss(dnn_tensor *const *in, void *ctx) {
  return gc_weighted_sum(dnn_dropout_mask(in[0], (dnn_tensor *)ctx));
}

static void test_dropout_grad(void) {
  int64_t s[] = {3, 4};
  dnn_tensor *x = varied(2, s, 1);
  dnn_tensor *mask = dnn_from_data((float[]){2, 0, 2, 2, 0, 0, 2, 0, 2, 2, 2, 0}, 2, s);
  gradcheck("dropout with a fixed mask", dropout_loss, 1, &x, mask);
  dnn_tensor_release(mask);
  dnn_tensor_release(x);
}

/* ---- batch normalization ---- */

static void test_batch_norm_values(void) {
  int64_t s42[] = {4, 2}, s2[] = {2};
  dnn_tensor *x = T(2, s42, (float[]){1, 2, 3, 4, 5, 6, 7, 8});
  dnn_tensor *gamma = T(1, s2, (float[]){1, 2}), *beta = T(1, s2, (float[]){0, 1});
  dnn_tensor *mm = T(1, s2, (float[]){0, 0}), *mv = T(1, s2, (float[]){1, 1});
  dnn_batch_norm_config cfg = {-1, true, 0.9f, 1e-3f};
  dnn_tensor *y = dnn_batch_norm(x, gamma, beta, mm, mv, &cfg);
  CHECK(y != NULL);
  /* channel 0: 1 3 5 7, mean 4, biased var 5; channel 1: 2 4 6 8, mean 5, var 5 */
  double is = 1 / sqrt(5.001);
  const double want[] = {-3 * is, 2 * -3 * is + 1, -1 * is, 2 * -1 * is + 1, is, 2 * is + 1, 3 * is, 2 * 3 * is + 1};
  for (int i = 0; y && i < 8; i++) CHECK_NEAR(dnn_data(y)[i], want[i], 1e-5);
  /* moving = moving * 0.9 + batch * 0.1, with the biased variance (Keras) */
  CHECK_NEAR(dnn_data(mm)[0], 0.4, 1e-6);
  CHECK_NEAR(dnn_data(mm)[1], 0.5, 1e-6);
  CHECK_NEAR(dnn_data(mv)[0], 0.9 + 0.5, 1e-6);
  CHECK_NEAR(dnn_data(mv)[1], 0.9 + 0.5, 1e-6);
  dnn_tensor_release(y);

  /* inference: the moving statistics, unchanged by the call */
  cfg.training = false;
  y = dnn_batch_norm(x, gamma, beta, mm, mv, &cfg);
  for (int i = 0; y && i < 8; i++) {
    int c = i % 2;
    double m = c ? 0.5 : 0.4, v = 1.4, g = c ? 2 : 1, b = c ? 1 : 0;
    CHECK_NEAR(dnn_data(y)[i], (dnn_data(x)[i] - m) / sqrt(v + 1e-3) * g + b, 1e-5);
  }
  CHECK_NEAR(dnn_data(mm)[0], 0.4, 1e-6);
  CHECK_NEAR(dnn_data(mv)[1], 1.4, 1e-6);
  dnn_tensor_release(y);

  /* no gamma / beta: plain standardization */
  cfg.training = true;
  y = dnn_batch_norm(x, NULL, NULL, NULL, NULL, &cfg);
  CHECK(y && fabs(dnn_data(y)[0] + 3 * is) < 1e-5 && fabs(dnn_data(y)[7] - 3 * is) < 1e-5);
  dnn_tensor_release(y);

  dnn_tensor_release(x);
  dnn_tensor_release(gamma);
  dnn_tensor_release(beta);
  dnn_tensor_release(mm);
  dnn_tensor_release(mv);
}

/* Naive batch norm in training mode over (outer, C, inner) in double. */
static void naive_batch_norm(const float *x, const float *gamma, const float *beta, float *y, int64_t outer, int64_t C,
                             int64_t inner, double eps) {
  for (int64_t c = 0; c < C; c++) {
    double s = 0, s2 = 0, M = (double)(outer * inner);
    for (int64_t o = 0; o < outer; o++)
      for (int64_t k = 0; k < inner; k++) s += x[(o * C + c) * inner + k];
    double m = s / M;
    for (int64_t o = 0; o < outer; o++)
      for (int64_t k = 0; k < inner; k++) s2 += pow(x[(o * C + c) * inner + k] - m, 2);
    double is = 1 / sqrt(s2 / M + eps);
    for (int64_t o = 0; o < outer; o++)
      for (int64_t k = 0; k < inner; k++) {
        int64_t i = (o * C + c) * inner + k;
        y[i] = (float)((x[i] - m) * is * gamma[c] + beta[c]);
      }
  }
}

static void test_batch_norm_layouts(void) {
  int64_t nhwc[] = {2, 3, 2, 3}, nchw[] = {2, 3, 2, 2}, s3[] = {3};
  dnn_tensor *gamma = T(1, s3, (float[]){0.5f, 1.5f, -1}), *beta = T(1, s3, (float[]){0.1f, -0.2f, 0.3f});
  struct {
    const int64_t *shape;
    int axis;
    int64_t outer, inner;
  } cases[] = {{nhwc, -1, 12, 1}, {nhwc, 3, 12, 1}, {nchw, 1, 2, 4}, {nchw, -3, 2, 4}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    dnn_tensor *x = varied(4, cases[i].shape, (int)i);
    dnn_batch_norm_config cfg = {cases[i].axis, true, 0.99f, 1e-3f};
    dnn_tensor *y = dnn_batch_norm(x, gamma, beta, NULL, NULL, &cfg), *want = dnn_empty_like(x);
    naive_batch_norm(dnn_data(x), dnn_data(gamma), dnn_data(beta), dnn_data(want), cases[i].outer, 3, cases[i].inner,
                     1e-3);
    CHECK(max_diff(y, want) < 1e-5);
    dnn_tensor_release(y);
    dnn_tensor_release(want);
    dnn_tensor_release(x);
  }
  /* a strided input (a transpose) gives the values of its contiguous copy */
  int64_t s35[] = {3, 5};
  dnn_tensor *x = varied(2, s35, 3), *xt = dnn_transpose(x, 0, 1), *xc = dnn_clone(xt);
  dnn_batch_norm_config cfg = {-1, true, 0.99f, 1e-3f};
  dnn_tensor *a = dnn_batch_norm(xt, gamma, beta, NULL, NULL, &cfg),
             *b = dnn_batch_norm(xc, gamma, beta, NULL, NULL, &cfg);
  CHECK(a && b && max_diff(a, b) == 0);
  dnn_tensor_release(a);
  dnn_tensor_release(b);
  dnn_tensor_release(xc);
  dnn_tensor_release(xt);
  dnn_tensor_release(x);
  dnn_tensor_release(gamma);
  dnn_tensor_release(beta);
}

static void test_batch_norm_errors(void) {
  int64_t s42[] = {4, 2}, s3[] = {3}, s2[] = {2}, s02[] = {0, 2};
  dnn_tensor *x = dnn_zeros(2, s42), *g3 = dnn_zeros(1, s3), *g2 = dnn_zeros(1, s2), *empty = dnn_zeros(2, s02);
  dnn_batch_norm_config cfg = {-1, true, 0.99f, 1e-3f};
  CHECK(dnn_batch_norm(x, g3, NULL, NULL, NULL, &cfg) == NULL && errmsg_has("expected gamma of shape (2), got (3)"));
  CHECK(dnn_batch_norm(x, NULL, g3, NULL, NULL, &cfg) == NULL && errmsg_has("#3") && errmsg_has("beta"));
  CHECK(dnn_batch_norm(x, NULL, NULL, g3, NULL, &cfg) == NULL && errmsg_has("moving mean of shape (2)"));
  CHECK(dnn_batch_norm(empty, NULL, NULL, NULL, NULL, &cfg) == NULL && errmsg_has("non-empty batch"));
  cfg.axis = 2;
  CHECK(dnn_batch_norm(x, NULL, NULL, NULL, NULL, &cfg) == NULL && errmsg_has("batch_norm"));
  cfg.axis = -1;
  cfg.epsilon = 0;
  CHECK(dnn_batch_norm(x, NULL, NULL, NULL, NULL, &cfg) == NULL && errmsg_has("epsilon > 0"));
  cfg.epsilon = 1e-3f;
  cfg.training = false;
  CHECK(dnn_batch_norm(x, NULL, NULL, g2, NULL, &cfg) == NULL && errmsg_has("moving statistics in inference mode"));
  cfg.training = true;
  dnn_set_requires_grad(g2, true);
  CHECK(dnn_batch_norm(x, NULL, NULL, g2, NULL, &cfg) == NULL && errmsg_has("requires grad"));
  dnn_tensor_release(x);
  dnn_tensor_release(g3);
  dnn_tensor_release(g2);
  dnn_tensor_release(empty);
}

typedef struct {
  dnn_batch_norm_config cfg;
  dnn_tensor *mm, *mv;
  int n; /* inputs: x, then gamma, beta */
} bn_ctx;

static dnn_tensor *bn_loss(dnn_tensor *const *in, void *ctx) {
  bn_ctx *c = ctx;
  return gc_weighted_sum(
      dnn_batch_norm(in[0], c->n > 1 ? in[1] : NULL, c->n > 2 ? in[2] : NULL, c->mm, c->mv, &c->cfg));
}

static void test_batch_norm_grad(void) {
  int64_t s34[] = {3, 4}, s4[] = {4}, nchw[] = {2, 3, 2, 2}, s3[] = {3};
  dnn_tensor *in[3] = {varied(2, s34, 0), varied(1, s4, 5), varied(1, s4, 9)};
  bn_ctx c = {{-1, true, 0.99f, 1e-3f}, NULL, NULL, 3};
  gradcheck("batch_norm training (3, 4)", bn_loss, 3, in, &c);
  c.n = 1;
  gradcheck("batch_norm training, no gamma/beta", bn_loss, 1, in, &c);
  c.n = 3;
  c.cfg.training = false;
  c.mm = varied(1, s4, 2);
  c.mv = dnn_full(1, s4, 0.7f);
  gradcheck("batch_norm inference (3, 4)", bn_loss, 3, in, &c);
  dnn_tensor_release(c.mm);
  dnn_tensor_release(c.mv);
  for (int i = 0; i < 3; i++) dnn_tensor_release(in[i]);

  dnn_tensor *in4[3] = {varied(4, nchw, 4), varied(1, s3, 5), varied(1, s3, 6)};
  bn_ctx c4 = {{1, true, 0.99f, 1e-3f}, NULL, NULL, 3};
  gradcheck("batch_norm training NCHW axis 1", bn_loss, 3, in4, &c4);
  for (int i = 0; i < 3; i++) dnn_tensor_release(in4[i]);
}

/* The same bits at 1 and 2 threads, over an input past the parallel grain. */
static void test_batch_norm_threads(void) {
  int64_t s[] = {8192, 8}, s8[] = {8};
  dnn_tensor *x = varied(2, s, 1), *gamma = varied(1, s8, 2), *beta = varied(1, s8, 3);
  dnn_batch_norm_config cfg = {-1, true, 0.99f, 1e-3f};
  dnn_tensor *y[2], *gx[2];
  int saved = dnn_get_num_threads();
  for (int t = 0; t < 2; t++) {
    dnn_set_num_threads(t + 1);
    dnn_set_requires_grad(x, true);
    y[t] = dnn_batch_norm(x, gamma, beta, NULL, NULL, &cfg);
    dnn_tensor *l = gc_weighted_sum(dnn_tensor_retain(y[t]));
    dnn_backward(l, NULL);
    dnn_tensor_release(l);
    gx[t] = x->grad;
    x->grad = NULL;
    dnn_set_requires_grad(x, false);
  }
  dnn_set_num_threads(saved);
  CHECK(max_diff(y[0], y[1]) == 0);
  CHECK(max_diff(gx[0], gx[1]) == 0);
  for (int t = 0; t < 2; t++) {
    dnn_tensor_release(y[t]);
    dnn_tensor_release(gx[t]);
  }
  dnn_tensor_release(x);
  dnn_tensor_release(gamma);
  dnn_tensor_release(beta);
}

/* ---- layer normalization ---- */

static void test_layer_norm(void) {
  int64_t s23[] = {2, 3}, s3[] = {3};
  dnn_tensor *x = T(2, s23, (float[]){1, 2, 3, 2, 4, 6});
  dnn_tensor *gamma = T(1, s3, (float[]){1, 2, 3}), *beta = T(1, s3, (float[]){0, 0.5f, -1});
  dnn_tensor *y = dnn_layer_norm(x, gamma, beta, 1, 1e-3f);
  /* row 1: mean 2, var 2/3; row 2: mean 4, var 8/3 */
  double a = 1 / sqrt(2.0 / 3 + 1e-3), b = 1 / sqrt(8.0 / 3 + 1e-3);
  const double want[] = {-a, 0.5, a * 3 - 1, -2 * b, 0.5, 2 * b * 3 - 1};
  for (int i = 0; y && i < 6; i++) CHECK_NEAR(dnn_data(y)[i], want[i], 1e-5);
  CHECK(y != NULL);
  dnn_tensor_release(y);

  /* over the last two dims, gamma of their shape */
  int64_t s234[] = {2, 3, 4}, s34[] = {3, 4};
  dnn_tensor *x3 = varied(3, s234, 2), *g34 = varied(2, s34, 3);
  y = dnn_layer_norm(x3, g34, NULL, 2, 1e-3f);
  for (int r = 0; y && r < 2; r++) {
    const float *xr = dnn_data(x3) + r * 12;
    double m = 0, v = 0;
    for (int j = 0; j < 12; j++) m += xr[j] / 12.0;
    for (int j = 0; j < 12; j++) v += pow(xr[j] - m, 2) / 12.0;
    for (int j = 0; j < 12; j++)
      CHECK_NEAR(dnn_data(y)[r * 12 + j], (xr[j] - m) / sqrt(v + 1e-3) * dnn_data(g34)[j], 1e-5);
  }
  dnn_tensor_release(y);

  CHECK(dnn_layer_norm(x, beta, x, 1, 1e-3f) == NULL && errmsg_has("expected beta of shape (3), got (2, 3)"));
  CHECK(dnn_layer_norm(x3, gamma, NULL, 2, 1e-3f) == NULL && errmsg_has("expected gamma of shape (3, 4), got (3)"));
  CHECK(dnn_layer_norm(x, NULL, NULL, 3, 1e-3f) == NULL && errmsg_has("1 to 2 normalized dims"));
  CHECK(dnn_layer_norm(x, NULL, NULL, 1, -1) == NULL && errmsg_has("epsilon > 0"));
  dnn_tensor_release(x3);
  dnn_tensor_release(g34);
  dnn_tensor_release(x);
  dnn_tensor_release(gamma);
  dnn_tensor_release(beta);
}

typedef struct {
  int n, naxes;
} ln_ctx;

static dnn_tensor *ln_loss(dnn_tensor *const *in, void *ctx) {
  ln_ctx *c = ctx;
  return gc_weighted_sum(dnn_layer_norm(in[0], c->n > 1 ? in[1] : NULL, c->n > 2 ? in[2] : NULL, c->naxes, 1e-3f));
}

static void test_layer_norm_grad(void) {
  int64_t s35[] = {3, 5}, s5[] = {5}, s234[] = {2, 3, 4}, s34[] = {3, 4};
  dnn_tensor *in[3] = {varied(2, s35, 1), varied(1, s5, 2), varied(1, s5, 3)};
  ln_ctx c = {3, 1};
  gradcheck("layer_norm (3, 5)", ln_loss, 3, in, &c);
  c.n = 1;
  gradcheck("layer_norm, no gamma/beta", ln_loss, 1, in, &c);
  for (int i = 0; i < 3; i++) dnn_tensor_release(in[i]);
  dnn_tensor *in3[3] = {varied(3, s234, 4), varied(2, s34, 5), varied(2, s34, 6)};
  ln_ctx c3 = {3, 2};
  gradcheck("layer_norm over 2 dims", ln_loss, 3, in3, &c3);
  for (int i = 0; i < 3; i++) dnn_tensor_release(in3[i]);
}

/* ---- PReLU ---- */

static void test_prelu(void) {
  int64_t s23[] = {2, 3}, s3[] = {3}, s2[] = {2};
  dnn_tensor *x = T(2, s23, (float[]){-1, 2, -3, 4, -5, 0});
  dnn_tensor *alpha = T(1, s3, (float[]){0.1f, 0.2f, 0.3f});
  dnn_tensor *y = dnn_prelu(x, alpha);
  const float want[] = {-0.1f, 2, -0.9f, 4, -1.0f, 0};
  for (int i = 0; y && i < 6; i++) CHECK_NEAR(dnn_data(y)[i], want[i], 1e-6);
  dnn_tensor_release(y);

  /* shared over H and W: alpha (1, 1, C) on (N, H, W, C) */
  int64_t nhwc[] = {2, 2, 2, 3}, s113[] = {1, 1, 3};
  dnn_tensor *x4 = varied(4, nhwc, 1), *a113 = T(3, s113, (float[]){0.1f, -0.5f, 2});
  y = dnn_prelu(x4, a113);
  bool ok = y != NULL;
  for (int64_t i = 0; ok && i < 24; i++) {
    float v = dnn_data(x4)[i];
    ok = dnn_data(y)[i] == (v > 0 ? v : dnn_data(a113)[i % 3] * v);
  }
  CHECK(ok);
  dnn_tensor_release(y);

  dnn_tensor *bad = dnn_zeros(1, s2);
  CHECK(dnn_prelu(x, bad) == NULL && errmsg_has("trailing dims of the input (2, 3)") && errmsg_has("got (2)"));
  dnn_tensor_release(bad);
  dnn_tensor_release(x);
  dnn_tensor_release(alpha);
  dnn_tensor_release(x4);
  dnn_tensor_release(a113);
}

static dnn_tensor *prelu_loss(dnn_tensor *const *in, void *ctx) {
  (void)ctx;
  return gc_weighted_sum(dnn_prelu(in[0], in[1]));
}

static void test_prelu_grad(void) {
  int64_t s45[] = {4, 5}, s5[] = {5}, nhwc[] = {2, 3, 2, 3}, s113[] = {1, 1, 3};
  dnn_tensor *in[2] = {varied(2, s45, 1), varied(1, s5, 2)};
  gradcheck("prelu (4, 5)", prelu_loss, 2, in, NULL);
  dnn_tensor_release(in[0]);
  dnn_tensor_release(in[1]);
  dnn_tensor *in4[2] = {varied(4, nhwc, 3), varied(3, s113, 4)};
  gradcheck("prelu shared axes", prelu_loss, 2, in4, NULL);
  dnn_tensor_release(in4[0]);
  dnn_tensor_release(in4[1]);
}

int main(void) {
  test_dropout();
  test_dropout_grad();
  test_batch_norm_values();
  test_batch_norm_layouts();
  test_batch_norm_errors();
  test_batch_norm_grad();
  test_batch_norm_threads();
  test_layer_norm();
  test_layer_norm_grad();
  test_prelu();
  test_prelu_grad();
  return check_report("test_nn_layers");
}
