/* Convolutions: known values on tiny inputs, a naive reference over many
 * geometries (strides, "same"/"valid", dilation, odd shapes, 1x1), the
 * adjointness of conv2d and conv2d_transpose, finite-difference checks of
 * every backward for each activation, thread-count independence and errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tensor_check.h"
#include "dnn/dnn.h"
#include "gradcheck.h"

enum { PLAIN, TRANSPOSE, DEPTHWISE };

/* A tensor of varied values in about [-1, 1]. */
static dnn_tensor *varied(int ndim, const int64_t *shape, int salt) {
  dnn_tensor *t = dnn_empty(ndim, shape);
  for (int64_t i = 0; i < dnn_numel(t); i++) dnn_data(t)[i] = (float)sin(0.37 * (double)i + salt);
  return t;
}

static dnn_tensor *run(int kind, dnn_tensor *x, dnn_tensor *w, dnn_tensor *b, const dnn_conv2d_config *cfg,
                       dnn_activation act) {
  if (kind == PLAIN) return dnn_conv2d(x, w, b, cfg, act, 0.2f);
  if (kind == TRANSPOSE) return dnn_conv2d_transpose(x, w, b, cfg, act, 0.2f);
  return dnn_depthwise_conv2d(x, w, b, cfg, act, 0.2f);
}

static int64_t at4(const dnn_tensor *t, int64_t a, int64_t b, int64_t c, int64_t d) {
  return ((a * t->shape[1] + b) * t->shape[2] + c) * t->shape[3] + d;
}

/* TensorFlow's "same" padding before the first pixel, written out again (not the kernel's code). */
static int64_t pad(int64_t in, int64_t out, int64_t k, int s, int d, bool same) {
  int64_t total = (out - 1) * s + (k - 1) * d + 1 - in;
  return same && total > 0 ? total / 2 : 0;
}

/* The op computed by plain loops in double, linear, into a (N, OH, OW, F) array of y's shape. */
static double *reference(int kind, const dnn_tensor *x, const dnn_tensor *w, const dnn_tensor *b,
                         const dnn_conv2d_config *cfg, const dnn_tensor *y) {
  double *out = calloc((size_t)dnn_numel(y), sizeof(double));
  const float *xp = dnn_data(x), *wp = dnn_data(w);
  int64_t kh = w->shape[0], kw = w->shape[1];
  int sh = cfg->stride[0], sw = cfg->stride[1], dh = cfg->dilation[0], dw = cfg->dilation[1];
  if (kind == TRANSPOSE) { /* scatter every input pixel through the kernel */
    int64_t pt = pad(y->shape[1], x->shape[1], kh, sh, dh, cfg->same);
    int64_t pl = pad(y->shape[2], x->shape[2], kw, sw, dw, cfg->same);
    for (int64_t n = 0; n < x->shape[0]; n++)
      for (int64_t i = 0; i < x->shape[1]; i++)
        for (int64_t j = 0; j < x->shape[2]; j++)
          for (int64_t u = 0; u < kh; u++)
            for (int64_t v = 0; v < kw; v++) {
              int64_t r = i * sh + u * dh - pt, c = j * sw + v * dw - pl;
              if (r < 0 || r >= y->shape[1] || c < 0 || c >= y->shape[2]) continue;
              for (int64_t f = 0; f < y->shape[3]; f++)
                for (int64_t ch = 0; ch < x->shape[3]; ch++)
                  out[at4(y, n, r, c, f)] += (double)xp[at4(x, n, i, j, ch)] * wp[at4(w, u, v, f, ch)];
            }
  } else {
    int64_t pt = pad(x->shape[1], y->shape[1], kh, sh, dh, cfg->same);
    int64_t pl = pad(x->shape[2], y->shape[2], kw, sw, dw, cfg->same);
    int64_t m = w->shape[3];
    for (int64_t n = 0; n < y->shape[0]; n++)
      for (int64_t i = 0; i < y->shape[1]; i++)
        for (int64_t j = 0; j < y->shape[2]; j++)
          for (int64_t u = 0; u < kh; u++)
            for (int64_t v = 0; v < kw; v++) {
              int64_t r = i * sh + u * dh - pt, c = j * sw + v * dw - pl;
              if (r < 0 || r >= x->shape[1] || c < 0 || c >= x->shape[2]) continue;
              for (int64_t ch = 0; ch < x->shape[3]; ch++) {
                double xv = xp[at4(x, n, r, c, ch)];
                if (kind == PLAIN)
                  for (int64_t f = 0; f < w->shape[3]; f++) out[at4(y, n, i, j, f)] += xv * wp[at4(w, u, v, ch, f)];
                else
                  for (int64_t q = 0; q < m; q++) out[at4(y, n, i, j, ch * m + q)] += xv * wp[at4(w, u, v, ch, q)];
              }
            }
  }
  if (b)
    for (int64_t e = 0; e < dnn_numel(y); e++) out[e] += dnn_data(b)[e % y->shape[3]];
  return out;
}

/* ---- known values ---- */

static void expect_values(const char *what, dnn_tensor *y, int ndim, const int64_t *shape, const float *want) {
  bool ok = y && y->ndim == ndim;
  for (int d = 0; ok && d < ndim; d++) ok = y->shape[d] == shape[d];
  if (!ok) {
    fprintf(stderr, "%s: wrong shape\n", what);
    CHECK(false);
    dnn_tensor_release(y);
    return;
  }
  for (int64_t i = 0; i < dnn_numel(y); i++) CHECK_NEAR(dnn_data(y)[i], want[i], 1e-5);
  dnn_tensor_release(y);
}

static void test_known_values(void) {
  int64_t s3[] = {1, 3, 3, 1}, k2[] = {2, 2, 1, 1}, k3[] = {3, 3, 1, 1};
  float nine[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  dnn_tensor *x = dnn_from_data(nine, 4, s3), *w2 = dnn_full(4, k2, 1), *w3 = dnn_full(4, k3, 1);
  dnn_conv2d_config valid = {{1, 1}, {1, 1}, false}, same = {{1, 1}, {1, 1}, true}, same2 = {{2, 2}, {1, 1}, true};
  expect_values("2x2 valid", dnn_conv2d(x, w2, NULL, &valid, DNN_ACT_LINEAR, 0), 4, (int64_t[]){1, 2, 2, 1},
                (float[]){12, 16, 24, 28});
  /* stride 2 and an even kernel: 1 pixel of padding, at the bottom/right (TensorFlow) */
  expect_values("2x2 same stride 2", dnn_conv2d(x, w2, NULL, &same2, DNN_ACT_LINEAR, 0), 4, (int64_t[]){1, 2, 2, 1},
                (float[]){12, 9, 15, 9});
  expect_values("3x3 same", dnn_conv2d(x, w3, NULL, &same, DNN_ACT_LINEAR, 0), 4, s3,
                (float[]){12, 21, 16, 27, 45, 33, 24, 39, 28});
  int64_t s1[] = {1};
  dnn_tensor *bias = dnn_full(1, s1, -20);
  expect_values("2x2 valid, bias, relu", dnn_conv2d(x, w2, bias, &valid, DNN_ACT_RELU, 0), 4, (int64_t[]){1, 2, 2, 1},
                (float[]){0, 0, 4, 8});
  /* depthwise with one channel and multiplier 1 is the plain conv */
  expect_values("depthwise 3x3 same", dnn_depthwise_conv2d(x, w3, NULL, &same, DNN_ACT_LINEAR, 0), 4, s3,
                (float[]){12, 21, 16, 27, 45, 33, 24, 39, 28});
  /* transpose, stride 2, 2x2 ones: each pixel becomes a 2x2 block */
  int64_t s2[] = {1, 2, 2, 1};
  dnn_tensor *x4 = dnn_from_data((float[]){1, 2, 3, 4}, 4, s2);
  dnn_conv2d_config valid2 = {{2, 2}, {1, 1}, false};
  expect_values("transpose 2x2 stride 2", dnn_conv2d_transpose(x4, w2, NULL, &valid2, DNN_ACT_LINEAR, 0), 4,
                (int64_t[]){1, 4, 4, 1}, (float[]){1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
  /* transpose, stride 1, valid: the full correlation, 3x3 out of 2x2 */
  expect_values("transpose 2x2 stride 1", dnn_conv2d_transpose(x4, w2, NULL, &valid, DNN_ACT_LINEAR, 0), 4,
                (int64_t[]){1, 3, 3, 1}, (float[]){1, 3, 2, 4, 10, 6, 3, 7, 4});
  dnn_tensor_release(x);
  dnn_tensor_release(x4);
  dnn_tensor_release(w2);
  dnn_tensor_release(w3);
  dnn_tensor_release(bias);
}

static void test_output_lengths(void) {
  CHECK(dnn_conv_output_length(128, 3, 1, 1, false) == 126);
  CHECK(dnn_conv_output_length(63, 3, 1, 1, true) == 63);
  CHECK(dnn_conv_output_length(28, 3, 2, 1, false) == 13);
  CHECK(dnn_conv_output_length(7, 4, 2, 1, true) == 4);
  CHECK(dnn_conv_output_length(20, 5, 1, 2, false) == 12);
  CHECK(dnn_conv_output_length(4, 5, 1, 1, false) == 0);
  CHECK(dnn_conv_transpose_output_length(7, 3, 2, 1, true) == 14);
  CHECK(dnn_conv_transpose_output_length(7, 3, 2, 1, false) == 15);
  CHECK(dnn_conv_transpose_output_length(7, 2, 3, 1, false) == 21);
  CHECK(dnn_conv_transpose_output_length(7, 3, 1, 2, false) == 11);
}

/* ---- against the naive reference ---- */

typedef struct {
  int kind;
  int64_t x[4], w[4];
  int sh, sw, dh, dw;
  bool same, bias;
} conv_case;

static const conv_case cases[] = {
    {PLAIN, {2, 6, 7, 3}, {3, 3, 3, 4}, 1, 1, 1, 1, false, true},
    {PLAIN, {2, 6, 7, 3}, {3, 3, 3, 4}, 1, 1, 1, 1, true, false},
    {PLAIN, {2, 9, 8, 2}, {4, 4, 2, 3}, 2, 2, 1, 1, true, true},
    {PLAIN, {1, 8, 9, 2}, {3, 3, 2, 2}, 1, 1, 2, 2, true, true},
    {PLAIN, {2, 5, 7, 2}, {3, 2, 2, 3}, 1, 1, 1, 1, false, true},
    {PLAIN, {2, 9, 10, 1}, {3, 2, 1, 2}, 2, 3, 1, 1, false, true},
    {PLAIN, {2, 4, 5, 3}, {1, 1, 3, 4}, 1, 1, 1, 1, false, true},
    {PLAIN, {2, 4, 5, 3}, {1, 1, 3, 4}, 2, 2, 1, 1, true, true},
    {PLAIN, {1, 7, 7, 2}, {2, 2, 2, 3}, 2, 2, 1, 1, true, false},
    {TRANSPOSE, {2, 4, 5, 3}, {3, 3, 2, 3}, 2, 2, 1, 1, true, true},
    {TRANSPOSE, {2, 4, 3, 2}, {3, 3, 3, 2}, 2, 2, 1, 1, false, true},
    {TRANSPOSE, {1, 3, 4, 2}, {2, 2, 2, 2}, 3, 3, 1, 1, false, false},
    {TRANSPOSE, {2, 5, 4, 2}, {4, 4, 3, 2}, 2, 2, 1, 1, true, true},
    {TRANSPOSE, {1, 5, 5, 1}, {3, 2, 2, 1}, 1, 1, 2, 2, true, true},
    {TRANSPOSE, {2, 3, 3, 4}, {1, 1, 3, 4}, 1, 1, 1, 1, false, true},
    {DEPTHWISE, {2, 6, 5, 3}, {3, 3, 3, 1}, 1, 1, 1, 1, true, true},
    {DEPTHWISE, {2, 7, 8, 2}, {3, 2, 2, 3}, 2, 2, 1, 1, false, true},
    {DEPTHWISE, {1, 8, 8, 2}, {3, 3, 2, 2}, 1, 1, 2, 2, true, false},
};
#define NCASES ((int)(sizeof cases / sizeof *cases))

/* Smaller, for the finite differences: a float32 loss over many outputs rounds away the differences. */
static const conv_case grad_cases[] = {
    {PLAIN, {1, 4, 5, 2}, {3, 3, 2, 2}, 1, 1, 1, 1, false, true},
    {PLAIN, {1, 5, 4, 2}, {3, 3, 2, 2}, 1, 1, 1, 1, true, false},
    {PLAIN, {1, 5, 6, 1}, {4, 4, 1, 2}, 2, 2, 1, 1, true, true},
    {PLAIN, {1, 6, 6, 1}, {3, 3, 1, 2}, 1, 1, 2, 2, true, true},
    {PLAIN, {1, 5, 7, 1}, {3, 2, 1, 2}, 1, 1, 1, 1, false, true},
    {PLAIN, {2, 5, 6, 1}, {3, 2, 1, 2}, 2, 3, 1, 1, false, true},
    {PLAIN, {2, 3, 3, 2}, {1, 1, 2, 3}, 1, 1, 1, 1, false, true},
    {PLAIN, {1, 4, 4, 2}, {1, 1, 2, 2}, 2, 2, 1, 1, true, false},
    {TRANSPOSE, {1, 3, 3, 2}, {3, 3, 2, 2}, 2, 2, 1, 1, true, true},
    {TRANSPOSE, {1, 3, 2, 2}, {3, 3, 2, 2}, 2, 2, 1, 1, false, true},
    {TRANSPOSE, {1, 2, 3, 1}, {2, 2, 2, 1}, 3, 3, 1, 1, false, false},
    {TRANSPOSE, {1, 3, 3, 1}, {4, 4, 2, 1}, 2, 2, 1, 1, true, true},
    {TRANSPOSE, {1, 4, 4, 1}, {3, 2, 2, 1}, 1, 1, 2, 2, true, true},
    {TRANSPOSE, {2, 2, 3, 3}, {1, 1, 2, 3}, 1, 1, 1, 1, false, true},
    {DEPTHWISE, {1, 5, 4, 2}, {3, 3, 2, 1}, 1, 1, 1, 1, true, true},
    {DEPTHWISE, {1, 5, 6, 2}, {3, 2, 2, 2}, 2, 2, 1, 1, false, true},
    {DEPTHWISE, {1, 6, 6, 1}, {3, 3, 1, 2}, 1, 1, 2, 2, true, false},
};
#define NGRAD ((int)(sizeof grad_cases / sizeof *grad_cases))

static int64_t bias_len(const conv_case *c) {
  return c->kind == PLAIN ? c->w[3] : c->kind == TRANSPOSE ? c->w[2] : c->w[2] * c->w[3];
}

static void test_reference(void) {
  for (int i = 0; i < NCASES; i++) {
    const conv_case *c = &cases[i];
    dnn_conv2d_config cfg = {{c->sh, c->sw}, {c->dh, c->dw}, c->same};
    int64_t nb = bias_len(c);
    dnn_tensor *x = varied(4, c->x, i), *w = varied(4, c->w, 3 * i + 1), *b = c->bias ? varied(1, &nb, 7) : NULL;
    dnn_tensor *y = run(c->kind, x, w, b, &cfg, DNN_ACT_LINEAR);
    CHECK(y != NULL);
    if (y) {
      double *want = reference(c->kind, x, w, b, &cfg, y), worst = 0;
      for (int64_t e = 0; e < dnn_numel(y); e++) worst = fmax(worst, fabs(dnn_data(y)[e] - want[e]));
      if (worst > 1e-4) fprintf(stderr, "reference case %d: off by %g\n", i, worst);
      CHECK(worst <= 1e-4);
      free(want);
    }
    dnn_tensor_release(y);
    dnn_tensor_release(x);
    dnn_tensor_release(w);
    dnn_tensor_release(b);
  }
}

/* <conv2d(x, W), g> = <x, conv2d_transpose(g, W)>: the transpose is the adjoint with the same kernel tensor. */
static void test_adjoint(void) {
  int64_t xs[] = {2, 8, 6, 3}, ws[] = {3, 3, 3, 4};
  dnn_conv2d_config cfg = {{2, 2}, {1, 1}, true};
  dnn_tensor *x = varied(4, xs, 1), *w = varied(4, ws, 2);
  dnn_tensor *y = dnn_conv2d(x, w, NULL, &cfg, DNN_ACT_LINEAR, 0);
  dnn_tensor *g = y ? varied(4, y->shape, 3) : NULL;
  dnn_tensor *xt = g ? dnn_conv2d_transpose(g, w, NULL, &cfg, DNN_ACT_LINEAR, 0) : NULL;
  CHECK(xt && dnn_same_shape(xt, x));
  if (xt && dnn_same_shape(xt, x)) {
    double a = 0, b = 0;
    for (int64_t i = 0; i < dnn_numel(y); i++) a += (double)dnn_data(y)[i] * dnn_data(g)[i];
    for (int64_t i = 0; i < dnn_numel(x); i++) b += (double)dnn_data(x)[i] * dnn_data(xt)[i];
    CHECK_NEAR(a, b, 1e-3 * (1 + fabs(a)));
  }
  dnn_tensor_release(xt);
  dnn_tensor_release(g);
  dnn_tensor_release(y);
  dnn_tensor_release(w);
  dnn_tensor_release(x);
}

/* ---- gradients ---- */

typedef struct {
  const conv_case *c;
  dnn_activation act;
} grad_ctx;

static dnn_tensor *conv_loss(dnn_tensor *const *in, void *ctx) {
  const grad_ctx *g = ctx;
  dnn_conv2d_config cfg = {{g->c->sh, g->c->sw}, {g->c->dh, g->c->dw}, g->c->same};
  return gc_weighted_sum(run(g->c->kind, in[0], in[1], g->c->bias ? in[2] : NULL, &cfg, g->act));
}

static void test_gradients(void) {
  static const char *kinds[] = {"conv2d", "conv2d_transpose", "depthwise_conv2d"};
  static const char *acts[] = {"linear", "relu", "leaky_relu", "sigmoid", "tanh", "softmax"};
  for (int i = 0; i < NGRAD; i++) {
    const conv_case *c = &grad_cases[i];
    int64_t nb = bias_len(c);
    dnn_tensor *in[3] = {varied(4, c->x, i), varied(4, c->w, 2 * i + 1), c->bias ? varied(1, &nb, 5) : NULL};
    for (int a = 0; a < 6; a++) { /* every activation */
      grad_ctx ctx = {c, (dnn_activation)a};
      char name[160];
      snprintf(name, sizeof name, "%s case %d (%s, stride %dx%d, dilation %dx%d, %s%s)", kinds[c->kind], i, acts[a],
               c->sh, c->sw, c->dh, c->dw, c->same ? "same" : "valid", c->bias ? ", bias" : "");
      gradcheck(name, conv_loss, c->bias ? 3 : 2, in, &ctx);
    }
    for (int k = 0; k < 3; k++) dnn_tensor_release(in[k]);
  }
}

/* A gradient for the input only (kernel frozen) and for the kernel only. */
static dnn_tensor *input_only_loss(dnn_tensor *const *in, void *ctx) {
  dnn_conv2d_config cfg = {{2, 2}, {1, 1}, true};
  return gc_weighted_sum(dnn_conv2d(in[0], (dnn_tensor *)ctx, NULL, &cfg, DNN_ACT_TANH, 0));
}

static dnn_tensor *kernel_only_loss(dnn_tensor *const *in, void *ctx) {
  dnn_conv2d_config cfg = {{2, 2}, {1, 1}, true};
  return gc_weighted_sum(dnn_conv2d_transpose((dnn_tensor *)ctx, in[0], NULL, &cfg, DNN_ACT_LINEAR, 0));
}

static void test_partial_gradients(void) {
  int64_t xs[] = {1, 5, 5, 2}, ws[] = {3, 3, 2, 2};
  dnn_tensor *x = varied(4, xs, 1), *w = varied(4, ws, 2);
  gradcheck("conv2d, input only", input_only_loss, 1, &x, w);
  CHECK(w->grad == NULL);
  gradcheck("conv2d_transpose, kernel only", kernel_only_loss, 1, &w, x);
  CHECK(x->grad == NULL);
  dnn_tensor_release(x);
  dnn_tensor_release(w);
}

/* ---- a batch larger than one workspace chunk: the same outputs and gradients as example by example ---- */

static dnn_tensor *weighted_sum_by(dnn_tensor *y, const dnn_tensor *g) {
  dnn_tensor *m = dnn_mul(y, (dnn_tensor *)g);
  dnn_tensor *s = m ? dnn_sum(m, DNN_ALL_DIMS, false) : NULL;
  dnn_tensor_release(m);
  dnn_tensor_release(y);
  return s;
}

static double rel_diff(const float *a, const float *b, int64_t n) {
  double worst = 0;
  for (int64_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)a[i] - b[i]) / (1 + fabs((double)b[i])));
  return worst;
}

static void check_chunked(int kind, const int64_t *xs, const int64_t *ws, const dnn_conv2d_config *cfg) {
  dnn_tensor *x = varied(4, xs, 1), *w = varied(4, ws, 2);
  dnn_set_requires_grad(x, true);
  dnn_set_requires_grad(w, true);
  dnn_tensor *y = run(kind, x, w, NULL, cfg, DNN_ACT_LINEAR);
  dnn_tensor *g = y ? varied(4, y->shape, 3) : NULL;
  dnn_tensor *loss = y ? weighted_sum_by(dnn_tensor_retain(y), g) : NULL;
  CHECK(loss && dnn_backward(loss, NULL) == DNN_OK);
  dnn_tensor_release(loss);
  if (!x->grad || !w->grad) goto done;
  int64_t n = xs[0], xper = dnn_numel(x) / n, yper = dnn_numel(y) / n;
  double *dw = calloc((size_t)dnn_numel(w), sizeof(double));
  double worst = 0;
  for (int64_t i = 0; i < n; i++) {
    dnn_tensor *xi0 = dnn_narrow(x, 0, i, 1), *xi = dnn_contiguous(xi0), *w1 = dnn_detach(w);
    dnn_tensor *gi0 = dnn_narrow(g, 0, i, 1), *gi = dnn_contiguous(gi0);
    dnn_tensor *xl = dnn_detach(xi);
    dnn_set_requires_grad(xl, true);
    dnn_set_requires_grad(w1, true);
    dnn_tensor *yi = run(kind, xl, w1, NULL, cfg, DNN_ACT_LINEAR);
    worst = fmax(worst, rel_diff(dnn_data(y) + i * yper, dnn_data(yi), yper));
    dnn_tensor *li = weighted_sum_by(dnn_tensor_retain(yi), gi);
    if (li && dnn_backward(li, NULL) == DNN_OK) {
      worst = fmax(worst, rel_diff(dnn_data(x->grad) + i * xper, dnn_data(xl->grad), xper));
      for (int64_t e = 0; e < dnn_numel(w); e++) dw[e] += dnn_data(w1->grad)[e];
    } else {
      worst = INFINITY;
    }
    dnn_tensor *ts[] = {xi0, xi, w1, gi0, gi, xl, yi, li};
    for (int t = 0; t < 8; t++) dnn_tensor_release(ts[t]);
  }
  for (int64_t e = 0; e < dnn_numel(w); e++)
    worst = fmax(worst, fabs(dnn_data(w->grad)[e] - dw[e]) / (1 + fabs(dw[e])));
  free(dw);
  if (worst > 1e-4) fprintf(stderr, "chunked %d: off by %g\n", kind, worst);
  CHECK(worst <= 1e-4);
done:
  dnn_tensor_release(g);
  dnn_tensor_release(y);
  dnn_tensor_release(x);
  dnn_tensor_release(w);
}

static void test_chunks(void) {
  /* 64*64 positions * 5*5*16 patch = 1.6M floats per example: one example per chunk (of 2M floats), 12 chunks */
  dnn_conv2d_config same = {{1, 1}, {1, 1}, true}, same2 = {{2, 2}, {1, 1}, true};
  check_chunked(PLAIN, (int64_t[]){12, 64, 64, 16}, (int64_t[]){5, 5, 16, 4}, &same);
  /* transpose: 32*32 positions * 5*5*16 = 410k floats per example, 5 per chunk, 24 in 5 chunks */
  check_chunked(TRANSPOSE, (int64_t[]){24, 32, 32, 4}, (int64_t[]){5, 5, 16, 4}, &same2);
}

/* ---- threads, non-contiguous inputs, errors ---- */

/* Big enough to run the loops in parallel; every gradient bitwise the same on 1 and 2 threads. */
static void test_threads(void) {
  int64_t xs[] = {8, 24, 24, 8}, ws[] = {3, 3, 8, 2}, ws2[] = {3, 3, 8, 8};
  dnn_conv2d_config cfg = {{1, 1}, {1, 1}, true};
  dnn_tensor *results[2][3];
  int kinds[] = {DEPTHWISE, PLAIN};
  for (int k = 0; k < 2; k++) {
    for (int t = 0; t < 2; t++) {
      dnn_set_num_threads(t + 1);
      dnn_tensor *x = varied(4, xs, 1), *w = varied(4, kinds[k] == DEPTHWISE ? ws : ws2, 2);
      dnn_set_requires_grad(x, true);
      dnn_set_requires_grad(w, true);
      dnn_tensor *y = run(kinds[k], x, w, NULL, &cfg, DNN_ACT_RELU);
      dnn_tensor *loss = gc_weighted_sum(dnn_tensor_retain(y));
      CHECK(loss && dnn_backward(loss, NULL) == DNN_OK);
      results[t][0] = y, results[t][1] = dnn_tensor_retain(x->grad), results[t][2] = dnn_tensor_retain(w->grad);
      dnn_tensor_release(loss);
      dnn_tensor_release(x);
      dnn_tensor_release(w);
    }
    /* the depthwise loops and col2im are ours: bitwise; the GEMMs are OpenBLAS's: the depthwise check is exact */
    for (int r = 0; r < 3; r++) {
      bool same = results[0][r] && results[1][r] && dnn_same_shape(results[0][r], results[1][r]);
      if (same && kinds[k] == DEPTHWISE)
        same = memcmp(dnn_data(results[0][r]), dnn_data(results[1][r]), (size_t)dnn_numel(results[0][r]) * 4) == 0;
      CHECK(same);
      dnn_tensor_release(results[0][r]);
      dnn_tensor_release(results[1][r]);
    }
  }
  dnn_set_num_threads(2);
}

static void test_noncontiguous(void) {
  int64_t xs[] = {2, 5, 6, 3}, ws[] = {3, 3, 3, 2};
  dnn_conv2d_config cfg = {{1, 1}, {1, 1}, true};
  dnn_tensor *x = varied(4, xs, 4), *w = varied(4, ws, 5);
  dnn_tensor *xt = dnn_transpose(x, 1, 2), *xtc = dnn_contiguous(xt); /* (2, 6, 5, 3), a view */
  dnn_tensor *a = dnn_conv2d(xt, w, NULL, &cfg, DNN_ACT_LINEAR, 0),
             *b = dnn_conv2d(xtc, w, NULL, &cfg, DNN_ACT_LINEAR, 0);
  CHECK(a && b && memcmp(dnn_data(a), dnn_data(b), (size_t)dnn_numel(a) * 4) == 0);
  dnn_tensor_release(a);
  dnn_tensor_release(b);
  dnn_tensor_release(xt);
  dnn_tensor_release(xtc);
  dnn_tensor_release(x);
  dnn_tensor_release(w);
}

static void test_errors(void) {
  int64_t xs[] = {1, 5, 5, 2}, x2[] = {5, 2}, ws[] = {3, 3, 2, 4}, wbig[] = {7, 7, 2, 4}, w3[] = {3, 3, 3, 4};
  int64_t nb = 3;
  dnn_tensor *x = dnn_zeros(4, xs), *flat = dnn_zeros(2, x2), *w = dnn_zeros(4, ws), *big = dnn_zeros(4, wbig);
  dnn_tensor *wc = dnn_zeros(4, w3), *b = dnn_zeros(1, &nb);
  dnn_conv2d_config valid = {{1, 1}, {1, 1}, false}, bad = {{0, 1}, {1, 1}, false}, badd = {{1, 1}, {1, -1}, false};
  dnn_conv2d_config dil = {{1, 1}, {3, 3}, false};
  CHECK(dnn_conv2d(flat, w, NULL, &valid, DNN_ACT_LINEAR, 0) == NULL &&
        errmsg_has("bad argument #1 to 'conv2d' (expected a 4-d input (batch, height, width, channels), got a 2-d"));
  CHECK(dnn_conv2d(x, big, NULL, &valid, DNN_ACT_LINEAR, 0) == NULL &&
        errmsg_has("the kernel 7x7 (7x7 dilated) is larger than the input 5x5 with \"valid\" padding"));
  CHECK(dnn_conv2d(x, w, NULL, &dil, DNN_ACT_LINEAR, 0) == NULL && errmsg_has("(7x7 dilated)"));
  CHECK(dnn_conv2d(x, wc, NULL, &valid, DNN_ACT_LINEAR, 0) == NULL &&
        errmsg_has("expected an input with 3 channels to match kernel (3, 3, 3, 4), got (1, 5, 5, 2)"));
  CHECK(dnn_conv2d(x, w, b, &valid, DNN_ACT_LINEAR, 0) == NULL && errmsg_has("expected a bias of shape (4), got (3)"));
  CHECK(dnn_conv2d(x, w, NULL, &bad, DNN_ACT_LINEAR, 0) == NULL && errmsg_has("expected strides >= 1, got 0"));
  CHECK(dnn_conv2d(x, w, NULL, &badd, DNN_ACT_LINEAR, 0) == NULL && errmsg_has("dilation rate >= 1, got -1"));
  CHECK(dnn_conv2d(x, flat, NULL, &valid, DNN_ACT_LINEAR, 0) == NULL && errmsg_has("expected a 4-d kernel"));
  CHECK(dnn_conv2d_transpose(x, w, NULL, &valid, DNN_ACT_LINEAR, 0) == NULL &&
        errmsg_has("'conv2d_transpose' (expected an input with 4 channels"));
  CHECK(dnn_depthwise_conv2d(x, big, NULL, &valid, DNN_ACT_LINEAR, 0) == NULL && errmsg_has("'depthwise_conv2d'"));
  CHECK(dnn_depthwise_conv2d(x, w, b, &valid, DNN_ACT_LINEAR, 0) == NULL &&
        errmsg_has("expected a bias of shape (8), got (3)"));
  dnn_tensor *ts[] = {x, flat, w, big, wc, b};
  for (int i = 0; i < 6; i++) dnn_tensor_release(ts[i]);
}

int main(void) {
  test_known_values();
  test_output_lengths();
  test_reference();
  test_adjoint();
  test_gradients();
  test_partial_gradients();
  test_chunks();
  test_threads();
  test_noncontiguous();
  test_errors();
  return check_report("test_conv");
}
