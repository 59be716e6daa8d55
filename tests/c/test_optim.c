/* Optimizer steps (optim.h) against steps computed here in double from
 * Keras 3's update rules, clipping, refused calls leaving parameters as they
 * were; and the initializers (init.h): fans, bounds, orthogonality. */
#include <math.h>

#include "check.h"
#include "dnn/dnn.h"
#include "tensor_check.h"

#define N 3
static const float P0[N] = {0.5f, -1.0f, 2.0f};
static const float G[2][N] = {{0.3f, -0.7f, 1.1f}, {-0.6f, 0.2f, 0.05f}}; /* grads of steps 1 and 2 */

/* A parameter of P0 with the grad of step t (1-based) set. */
static dnn_tensor *param(void) { return dnn_from_data(P0, 1, (int64_t[]){N}); }

static void set_grad(dnn_tensor *p, int t) {
  dnn_tensor_release(p->grad);
  p->grad = dnn_from_data(G[t - 1], 1, (int64_t[]){N});
}

static dnn_tensor *zeros(void) { return dnn_zeros(1, (int64_t[]){N}); }

static void check_param(const dnn_tensor *p, const double *want, double tol) {
  for (int i = 0; i < N; i++) CHECK_NEAR(dnn_data(p)[i], want[i], tol);
}

static void test_sgd(void) {
  dnn_tensor *p = param(), *v = zeros();
  dnn_sgd_config cfg = {.learning_rate = 0.1f, .momentum = 0.9f, .weight_decay = 0.5f, .nesterov = true};
  double want[N], vel[N] = {0};
  for (int i = 0; i < N; i++) want[i] = P0[i];
  for (int t = 1; t <= 2; t++) {
    set_grad(p, t);
    CHECK(dnn_sgd_step(1, &p, &v, &cfg) == DNN_OK);
    for (int i = 0; i < N; i++) {
      want[i] -= want[i] * 0.5 * 0.1; /* decoupled decay first, as Keras's base optimizer */
      vel[i] = 0.9 * vel[i] - 0.1 * G[t - 1][i];
      want[i] += 0.9 * vel[i] - 0.1 * G[t - 1][i];
    }
  }
  check_param(p, want, 1e-6);
  /* momentum needs a velocity */
  cfg.nesterov = false;
  CHECK(dnn_sgd_step(1, &p, NULL, &cfg) == DNN_EARG && errmsg_has("'sgd_step'", "velocity"));
  RELEASE(p, v);
}

static void test_rmsprop_centered(void) {
  dnn_tensor *p = param(), *v = zeros(), *m = zeros(), *a = zeros();
  dnn_rmsprop_config cfg = {.learning_rate = 0.01f, .rho = 0.9f, .momentum = 0.5f, .epsilon = 1e-7f, .centered = true};
  double want[N], vv[N] = {0}, mm[N] = {0}, aa[N] = {0};
  for (int i = 0; i < N; i++) want[i] = P0[i];
  for (int t = 1; t <= 2; t++) {
    set_grad(p, t);
    CHECK(dnn_rmsprop_step(1, &p, &v, &m, &a, &cfg) == DNN_OK);
    for (int i = 0; i < N; i++) {
      double g = G[t - 1][i];
      vv[i] = 0.9 * vv[i] + 0.1 * g * g;
      aa[i] = 0.9 * aa[i] + 0.1 * g;
      mm[i] = 0.5 * mm[i] + 0.01 * g / sqrt(vv[i] - aa[i] * aa[i] + 1e-7);
      want[i] -= mm[i];
    }
  }
  check_param(p, want, 2e-5);
  RELEASE(p, v, m, a);
}

static void test_adam_family(void) {
  dnn_tensor *p = param(), *m = zeros(), *v = zeros(), *vh = zeros();
  dnn_adam_config cfg = {
      .learning_rate = 0.01f, .beta_1 = 0.9f, .beta_2 = 0.999f, .epsilon = 1e-7f, .weight_decay = 0.004f};
  double want[N], mm[N] = {0}, vv[N] = {0}, hh[N] = {0};
  for (int i = 0; i < N; i++) want[i] = P0[i];
  for (int t = 1; t <= 2; t++) {
    set_grad(p, t);
    cfg.step = t;
    CHECK(dnn_adam_step(1, &p, &m, &v, &vh, &cfg) == DNN_OK); /* AdamW with amsgrad */
    double alpha = 0.01 * sqrt(1 - pow(0.999, t)) / (1 - pow(0.9, t));
    for (int i = 0; i < N; i++) {
      double g = G[t - 1][i];
      want[i] -= want[i] * 0.004 * 0.01;
      mm[i] += (g - mm[i]) * 0.1;
      vv[i] += (g * g - vv[i]) * 0.001;
      hh[i] = fmax(hh[i], vv[i]);
      want[i] -= alpha * mm[i] / (sqrt(hh[i]) + 1e-7);
    }
  }
  check_param(p, want, 1e-6);
  cfg.step = 0;
  CHECK(dnn_adam_step(1, &p, &m, &v, NULL, &cfg) == DNN_EARG && errmsg_has("'adam_step'", "step >= 1"));
  RELEASE(p, m, v, vh);

  /* Adamax and Nadam, one step each from zero state */
  dnn_tensor *q = param(), *m2 = zeros(), *u = zeros();
  dnn_adam_config c1 = {.learning_rate = 0.02f, .beta_1 = 0.9f, .beta_2 = 0.999f, .epsilon = 1e-7f, .step = 1};
  set_grad(q, 1);
  CHECK(dnn_adamax_step(1, &q, &m2, &u, &c1) == DNN_OK);
  double w1[N];
  for (int i = 0; i < N; i++) { /* m = 0.1 g, u = |g|: p -= 0.02 * 0.1 g / (0.1 (|g| + eps)) */
    double g = G[0][i];
    w1[i] = P0[i] - 0.02 * (0.1 * g) / (0.1 * (fabs(g) + 1e-7));
  }
  check_param(q, w1, 1e-6);
  RELEASE(q, m2, u);

  dnn_tensor *r = param(), *m3 = zeros(), *v3 = zeros();
  double prod = 1;
  set_grad(r, 1);
  CHECK(dnn_nadam_step(1, &r, &m3, &v3, &prod, &c1) == DNN_OK);
  double mu1 = 0.9 * (1 - 0.5 * 0.96), mu2 = 0.9 * (1 - 0.5 * 0.96 * 0.96);
  CHECK_NEAR(prod, mu1, 1e-7); /* beta_1 is a float */
  for (int i = 0; i < N; i++) {
    double g = G[0][i], m_hat = mu2 * 0.1 * g / (1 - mu1 * mu2) + (1 - mu1) * g / (1 - mu1);
    double v_hat = 0.001 * g * g / (1 - 0.999);
    w1[i] = P0[i] - 0.02 * m_hat / (sqrt(v_hat) + 1e-7);
  }
  check_param(r, w1, 1e-5);
  RELEASE(r, m3, v3);
}

static void test_adagrad_adadelta_ftrl(void) {
  dnn_tensor *p = param(), *acc = dnn_full(1, (int64_t[]){N}, 0.1f);
  dnn_adagrad_config ag = {.learning_rate = 0.1f, .epsilon = 1e-7f};
  set_grad(p, 1);
  CHECK(dnn_adagrad_step(1, &p, &acc, &ag) == DNN_OK);
  double want[N];
  for (int i = 0; i < N; i++) {
    double g = G[0][i];
    want[i] = P0[i] - 0.1 * g / sqrt(0.1 + g * g + 1e-7);
  }
  check_param(p, want, 1e-6);
  RELEASE(p, acc);

  dnn_tensor *q = param(), *a1 = zeros(), *a2 = zeros();
  dnn_adadelta_config ad = {.learning_rate = 1.0f, .rho = 0.95f, .epsilon = 1e-7f};
  set_grad(q, 1);
  CHECK(dnn_adadelta_step(1, &q, &a1, &a2, &ad) == DNN_OK);
  for (int i = 0; i < N; i++) {
    double g = G[0][i], acc_g = 0.05 * g * g;
    want[i] = P0[i] - sqrt(1e-7) * g / sqrt(acc_g + 1e-7);
  }
  check_param(q, want, 1e-6);
  RELEASE(q, a1, a2);

  dnn_tensor *r = param(), *n = dnn_full(1, (int64_t[]){N}, 0.1f), *z = zeros();
  dnn_ftrl_config f = {.learning_rate = 0.1f, .learning_rate_power = -0.5f, .l1 = 0.05f, .l2 = 0.02f};
  set_grad(r, 1);
  CHECK(dnn_ftrl_step(1, &r, &n, &z, &f) == DNN_OK);
  for (int i = 0; i < N; i++) {
    double g = G[0][i], a_new = 0.1 + g * g;
    double lin = g - (sqrt(a_new) - sqrt(0.1)) / 0.1 * P0[i];
    double quad = sqrt(a_new) / 0.1 + 2 * 0.02;
    want[i] = (fmin(fmax(lin, -0.05), 0.05) - lin) / quad;
  }
  check_param(r, want, 1e-5);
  f.learning_rate = 0;
  CHECK(dnn_ftrl_step(1, &r, &n, &z, &f) == DNN_EARG && errmsg_has("'ftrl_step'", "learning rate > 0"));
  RELEASE(r, n, z);
}

/* Adafactor on a (2, 2) matrix, one step: r and c are row and column means of g^2. */
static void test_adafactor(void) {
  const float w0[4] = {0.5f, -1, 2, 0.25f}, g0[4] = {0.3f, -0.2f, 0.5f, -0.1f};
  dnn_tensor *w = dnn_from_data(w0, 2, (int64_t[]){2, 2});
  w->grad = dnn_from_data(g0, 2, (int64_t[]){2, 2});
  dnn_tensor *r = dnn_zeros(1, (int64_t[]){2}), *c = dnn_zeros(1, (int64_t[]){2});
  dnn_adafactor_config cfg = {.learning_rate = 0.3f,
                              .beta_2_decay = -0.8f,
                              .epsilon_1 = 1e-30f,
                              .epsilon_2 = 1e-3f,
                              .clip_threshold = 1.0f,
                              .step = 1};
  CHECK(dnn_adafactor_step(1, &w, &r, &c, NULL, &cfg) == DNN_OK);
  double rr[2] = {(0.09 + 0.04) / 2, (0.25 + 0.01) / 2}, cc[2] = {(0.09 + 0.25) / 2, (0.04 + 0.01) / 2};
  CHECK_NEAR(dnn_data(r)[0], rr[0], 1e-7);
  CHECK_NEAR(dnn_data(c)[1], cc[1], 1e-7);
  double r_mean = (rr[0] + rr[1]) / 2, u[4], usq = 0, wsq = 0;
  for (int k = 0; k < 4; k++) {
    u[k] = g0[k] / sqrt(rr[k / 2] / r_mean * cc[k % 2]);
    usq += u[k] * u[k];
    wsq += (double)w0[k] * w0[k];
  }
  double alpha = fmax(1e-3, sqrt(wsq / 4)) * fmin(0.3, 1.0), scale = fmax(1, sqrt(usq / 4));
  for (int k = 0; k < 4; k++) CHECK_NEAR(dnn_data(w)[k], w0[k] - alpha * u[k] / scale, 1e-6);
  /* wrong factored shapes are refused before anything changes */
  dnn_tensor *bad = dnn_zeros(1, (int64_t[]){3});
  float before = dnn_data(w)[0];
  CHECK(dnn_adafactor_step(1, &w, &bad, &c, NULL, &cfg) == DNN_EARG && errmsg_has("'adafactor_step'", "(2, 2)"));
  CHECK(dnn_data(w)[0] == before);
  RELEASE(w, r, c, bad);
}

/* A refused call (a state of the wrong shape for the second parameter)
 * leaves the first parameter untouched; parameters without a grad are skipped. */
static void test_refused_and_skipped(void) {
  dnn_tensor *p = param(), *q = param(), *m1 = zeros(), *v1 = zeros(), *bad = dnn_zeros(1, (int64_t[]){2});
  set_grad(p, 1);
  set_grad(q, 1);
  dnn_adam_config cfg = {.learning_rate = 0.1f, .beta_1 = 0.9f, .beta_2 = 0.999f, .epsilon = 1e-7f, .step = 1};
  CHECK(dnn_adam_step(2, (dnn_tensor *[]){p, q}, (dnn_tensor *[]){m1, m1}, (dnn_tensor *[]){v1, bad}, NULL, &cfg) ==
        DNN_EARG);
  CHECK(errmsg_has("#3 to 'adam_step'", "state 2", "(3)"));
  CHECK(dnn_data(p)[0] == P0[0] && dnn_data(m1)[0] == 0);
  dnn_tensor_release(q->grad);
  q->grad = NULL;
  dnn_tensor *m2 = zeros(), *v2 = zeros();
  CHECK(dnn_adam_step(2, (dnn_tensor *[]){p, q}, (dnn_tensor *[]){m1, m2}, (dnn_tensor *[]){v1, v2}, NULL, &cfg) ==
        DNN_OK);
  CHECK(dnn_data(p)[0] != P0[0] && dnn_data(q)[0] == P0[0] && dnn_data(m2)[0] == 0);
  RELEASE(p, q, m1, v1, bad, m2, v2);
}

static void test_clipping(void) {
  dnn_tensor *a = dnn_zeros(1, (int64_t[]){2}), *b = dnn_zeros(1, (int64_t[]){2});
  a->grad = dnn_from_data((float[]){3, 4}, 1, (int64_t[]){2});
  b->grad = dnn_from_data((float[]){0.3f, 0.4f}, 1, (int64_t[]){2});
  CHECK(dnn_clip_grad_norm_each(2, (dnn_tensor *[]){a, b}, 1) == DNN_OK);
  CHECK(values_near(a->grad, (float[]){0.6f, 0.8f}, 2, 1e-6) && values_near(b->grad, (float[]){0.3f, 0.4f}, 2, 1e-7));
  float norm;
  CHECK(dnn_clip_grad_norm(2, (dnn_tensor *[]){a, b}, 0.5f, &norm) == DNN_OK);
  CHECK_NEAR(norm, sqrt(1.25), 1e-6);
  CHECK_NEAR(dnn_data(a->grad)[0], 0.6 * 0.5 / sqrt(1.25), 1e-6);
  CHECK(dnn_clip_grad_value(1, &b, 0.1f) == DNN_OK);
  CHECK_NEAR(dnn_data(b->grad)[1], 0.1, 1e-7);
  RELEASE(a, b);
}

/* ---- initializers ---- */

static void test_fans(void) {
  int64_t in, out;
  dnn_compute_fans(4, (int64_t[]){3, 3, 16, 32}, &in, &out);
  CHECK(in == 144 && out == 288);
  dnn_compute_fans(2, (int64_t[]){5, 7}, &in, &out);
  CHECK(in == 5 && out == 7);
  dnn_compute_fans(1, (int64_t[]){9}, &in, &out);
  CHECK(in == 9 && out == 9);
  dnn_compute_fans(0, NULL, &in, &out);
  CHECK(in == 1 && out == 1);
}

static void test_init_bounds(void) {
  dnn_manual_seed(5);
  dnn_tensor *t = dnn_empty(2, (int64_t[]){300, 200});
  int64_t n = dnn_numel(t);
  CHECK(dnn_init_variance_scaling(t, 2, DNN_FAN_IN, DNN_DIST_UNIFORM, 300, 200) == DNN_OK);
  double lim = sqrt(6.0 / 300), mx = 0;
  for (int64_t i = 0; i < n; i++) mx = fmax(mx, fabs(dnn_data(t)[i]));
  CHECK(mx <= lim && mx > 0.99 * lim);
  CHECK(dnn_init_truncated_normal(t, 1, 0.5f) == DNN_OK);
  double sum = 0, lo = INFINITY, hi = -INFINITY;
  for (int64_t i = 0; i < n; i++) {
    sum += dnn_data(t)[i];
    lo = fmin(lo, dnn_data(t)[i]);
    hi = fmax(hi, dnn_data(t)[i]);
  }
  CHECK_NEAR(sum / (double)n, 1, 0.01);
  CHECK(lo >= 0 - 1e-6 && hi <= 2 + 1e-6 && hi > 1.95);
  CHECK(dnn_init_variance_scaling(t, 1, DNN_FAN_AVG, DNN_DIST_UNIFORM, 0, 5) == DNN_EARG && errmsg_has("fans"));
  dnn_tensor *tr = dnn_transpose(t, 0, 1);
  CHECK(dnn_init_uniform(tr, 0, 1) == DNN_EARG && errmsg_has("strided"));
  CHECK(dnn_init_uniform(t, 1, 0) == DNN_EARG && errmsg_has("minval <= maxval"));
  RELEASE(t, tr);
}

static void test_orthogonal(void) {
  const int64_t shapes[3][2] = {{7, 4}, {4, 7}, {5, 5}};
  for (int s = 0; s < 3; s++) {
    int64_t rows = shapes[s][0], cols = shapes[s][1];
    dnn_tensor *t = dnn_empty(2, shapes[s]);
    CHECK(dnn_init_orthogonal(t, 2) == DNN_OK);
    const float *q = dnn_data(t);
    double worst = 0;
    if (rows >= cols) { /* columns orthonormal (times gain^2) */
      for (int64_t a = 0; a < cols; a++)
        for (int64_t b = 0; b < cols; b++) {
          double dot = 0;
          for (int64_t r = 0; r < rows; r++) dot += (double)q[r * cols + a] * q[r * cols + b];
          worst = fmax(worst, fabs(dot - (a == b ? 4 : 0)));
        }
    } else { /* rows orthonormal */
      for (int64_t a = 0; a < rows; a++)
        for (int64_t b = 0; b < rows; b++) {
          double dot = 0;
          for (int64_t c = 0; c < cols; c++) dot += (double)q[a * cols + c] * q[b * cols + c];
          worst = fmax(worst, fabs(dot - (a == b ? 4 : 0)));
        }
    }
    CHECK(worst < 1e-5);
    dnn_tensor_release(t);
  }
  dnn_tensor *v = dnn_empty(1, (int64_t[]){4});
  CHECK(dnn_init_orthogonal(v, 1) == DNN_EARG && errmsg_has("'init_orthogonal'", "at least 2 dims"));
  dnn_tensor_release(v);
}

int main(void) {
  test_sgd();
  test_rmsprop_centered();
  test_adam_family();
  test_adagrad_adadelta_ftrl();
  test_adafactor();
  test_refused_and_skipped();
  test_clipping();
  test_fans();
  test_init_bounds();
  test_orthogonal();
  return check_report("test_optim");
}
