/* Recurrent layers (rnn.h): forward values against a naive per-sample,
 * per-step reference written from Keras's cell formulas, finite-difference
 * checks of the gradient of every input of every cell kind (with masks,
 * go_backwards, initial states, recurrent dropout, GRU's reset_after both
 * ways), inference without a tape, shapes and error messages. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tensor_check.h"
#include "dnn/dnn.h"
#include "gradcheck.h"

enum { N = 2, T = 4, F = 3, U = 2 };

/* A tensor of varied values in about [-scale, scale]. */
static dnn_tensor *varied(int ndim, const int64_t *shape, int salt, float scale) {
  dnn_tensor *t = dnn_empty(ndim, shape);
  for (int64_t i = 0; i < dnn_numel(t); i++) dnn_data(t)[i] = (float)sin(0.9 * (double)i + salt) * scale;
  return t;
}

/* One case: the config and which optional inputs it has. */
typedef struct {
  const char *name;
  dnn_rnn_config cfg;
  bool bias, h0, c0, mask, dropout;
} rnn_case;

typedef struct {
  dnn_tensor *in[6]; /* x, kernel, recurrent kernel, bias, h0, c0 (NULL where absent) */
  dnn_tensor *mask, *dropout;
} rnn_args;

static rnn_args make_args(const rnn_case *c, int salt) {
  int k = dnn_rnn_gates(c->cfg.cell);
  bool two_rows = c->cfg.cell == DNN_RNN_GRU && c->cfg.reset_after;
  int64_t xs[] = {N, T, F}, ws[] = {F, k * U}, us[] = {U, k * U}, bs[] = {2, k * U}, ss[] = {N, U}, ms[] = {N, T};
  rnn_args a = {
      {varied(3, xs, salt, 1.5f), varied(2, ws, salt + 1, 0.8f), varied(2, us, salt + 2, 0.8f), NULL, NULL, NULL},
      NULL,
      NULL};
  if (c->bias) a.in[3] = two_rows ? varied(2, bs, salt + 3, 0.5f) : varied(1, bs + 1, salt + 3, 0.5f);
  if (c->h0) a.in[4] = varied(2, ss, salt + 4, 0.7f);
  if (c->c0) a.in[5] = varied(2, ss, salt + 5, 0.7f);
  if (c->mask) { /* sample 0: steps 0 and 2 masked (a leading masked step); sample 1: the last step */
    float m[N * T] = {0, 1, 0, 1, 1, 1, 1, 0};
    a.mask = dnn_from_data(m, 2, ms);
  }
  if (c->dropout) {
    float d[N * U] = {2, 0, 2, 2};
    a.dropout = dnn_from_data(d, 2, ss);
  }
  return a;
}

static void free_args(rnn_args *a) {
  for (int i = 0; i < 6; i++) dnn_tensor_release(a->in[i]);
  dnn_tensor_release(a->mask);
  dnn_tensor_release(a->dropout);
}

static dnn_status run(const rnn_case *c, dnn_tensor *const *in, const rnn_args *a, dnn_tensor **out) {
  dnn_rnn_inputs ri = {in[0], in[1], in[2], in[3], in[4], in[5], a->mask, a->dropout};
  return dnn_rnn(&c->cfg, &ri, out);
}

/* ---- the naive reference: one sample, one step at a time, Keras's formulas ---- */

static float act(dnn_activation a, float v) {
  switch (a) {
    case DNN_ACT_RELU:
      return v > 0 ? v : 0;
    case DNN_ACT_SIGMOID:
      return 1 / (1 + expf(-v));
    case DNN_ACT_TANH:
      return tanhf(v);
    default:
      return v;
  }
}

/* out (N, T, U) every step's output, hT, cT. */
static void reference(const rnn_case *c, const rnn_args *a, float *out, float *hT, float *cT) {
  int k = dnn_rnn_gates(c->cfg.cell);
  const float *x = dnn_data(a->in[0]), *w = dnn_data(a->in[1]), *uk = dnn_data(a->in[2]);
  const float *b = a->in[3] ? dnn_data(a->in[3]) : NULL;
  bool after = c->cfg.cell == DNN_RNN_GRU && c->cfg.reset_after;
  for (int n = 0; n < N; n++) {
    float h[U], cs[U], prev_out[U] = {0};
    for (int j = 0; j < U; j++) {
      h[j] = a->in[4] ? dnn_data(a->in[4])[n * U + j] : 0;
      cs[j] = a->in[5] ? dnn_data(a->in[5])[n * U + j] : 0;
    }
    for (int s = 0; s < T; s++) {
      int t = c->cfg.go_backwards ? T - 1 - s : s;
      float xw[4 * U], hw[4 * U], hin[U], nh[U], nc[U];
      for (int j = 0; j < U; j++) hin[j] = h[j] * (a->dropout ? dnn_data(a->dropout)[n * U + j] : 1);
      for (int g = 0; g < k * U; g++) {
        xw[g] = b ? b[g] : 0;
        hw[g] = after && b ? b[k * U + g] : 0;
        for (int i = 0; i < F; i++) xw[g] += x[(n * T + t) * F + i] * w[i * k * U + g];
        for (int i = 0; i < U; i++) hw[g] += hin[i] * uk[i * k * U + g];
      }
      dnn_activation A = c->cfg.activation, R = c->cfg.recurrent_activation;
      for (int j = 0; j < U; j++) {
        if (c->cfg.cell == DNN_RNN_SIMPLE) {
          nh[j] = act(A, xw[j] + hw[j]);
        } else if (c->cfg.cell == DNN_RNN_LSTM) {
          float i = act(R, xw[j] + hw[j]), f = act(R, xw[U + j] + hw[U + j]);
          float g = act(A, xw[2 * U + j] + hw[2 * U + j]), o = act(R, xw[3 * U + j] + hw[3 * U + j]);
          nc[j] = f * cs[j] + i * g;
          nh[j] = o * act(A, nc[j]);
        } else {
          float z = act(R, xw[j] + hw[j]), r = act(R, xw[U + j] + hw[U + j]), hh;
          if (after) {
            hh = act(A, xw[2 * U + j] + r * hw[2 * U + j]);
          } else { /* (r * hin) U_h */
            float v = xw[2 * U + j];
            for (int i = 0; i < U; i++) {
              float ri = act(R, xw[U + i] + hw[U + i]);
              v += ri * hin[i] * uk[i * k * U + 2 * U + j];
            }
            hh = act(A, v);
          }
          nh[j] = z * h[j] + (1 - z) * hh;
        }
      }
      bool counts = !a->mask || dnn_data(a->mask)[n * T + t] != 0;
      if (counts) {
        memcpy(h, nh, sizeof h);
        if (c->cfg.cell == DNN_RNN_LSTM) memcpy(cs, nc, sizeof cs);
        memcpy(prev_out, h, sizeof h);
      }
      memcpy(out + (n * T + s) * U, prev_out, sizeof prev_out);
    }
    memcpy(hT + n * U, h, sizeof h);
    memcpy(cT + n * U, cs, sizeof cs);
  }
}

#define SIMPLE(...) \
  { DNN_RNN_SIMPLE, DNN_ACT_TANH, DNN_ACT_SIGMOID, false, __VA_ARGS__ }
#define LSTM(...) \
  { DNN_RNN_LSTM, DNN_ACT_TANH, DNN_ACT_SIGMOID, false, __VA_ARGS__ }
#define GRU(after, ...) \
  { DNN_RNN_GRU, DNN_ACT_TANH, DNN_ACT_SIGMOID, after, __VA_ARGS__ }

/* cfg: ..., go_backwards, return_sequences; then bias, h0, c0, mask, dropout */
static const rnn_case cases[] = {
    {"simple", SIMPLE(false, true), true, false, false, false, false},
    {"simple relu, backwards, h0, mask, dropout",
     {DNN_RNN_SIMPLE, DNN_ACT_RELU, DNN_ACT_SIGMOID, false, true, true},
     true,
     true,
     false,
     true,
     true},
    {"simple no bias, last", SIMPLE(false, false), false, false, false, false, false},
    {"lstm", LSTM(false, true), true, false, false, false, false},
    {"lstm h0 c0 mask", LSTM(false, true), true, true, true, true, false},
    {"lstm backwards, last, dropout", LSTM(true, false), true, true, true, false, true},
    {"lstm mask backwards, no bias", LSTM(true, true), false, false, true, true, true},
    {"gru reset_after", GRU(true, false, true), true, false, false, false, false},
    {"gru reset_after h0 mask dropout", GRU(true, false, true), true, true, false, true, true},
    {"gru reset_after backwards, last", GRU(true, true, false), true, true, false, true, false},
    {"gru reset_before", GRU(false, false, true), true, false, false, false, false},
    {"gru reset_before h0 mask dropout", GRU(false, false, true), true, true, false, true, true},
    {"gru reset_before backwards, last, no bias", GRU(false, true, false), false, true, false, true, true},
};
#define N_CASES ((int)(sizeof cases / sizeof *cases))

static void test_forward_values(void) {
  for (int i = 0; i < N_CASES; i++) {
    const rnn_case *c = &cases[i];
    rnn_args a = make_args(c, i);
    dnn_tensor *out[3] = {NULL, NULL, NULL};
    CHECK(run(c, a.in, &a, out) == DNN_OK);
    float ys[N * T * U], hT[N * U], cT[N * U];
    reference(c, &a, ys, hT, cT);
    double worst = 0;
    for (int n = 0; n < N; n++)
      for (int s = 0; s < T; s++)
        for (int j = 0; j < U; j++) {
          bool have = c->cfg.return_sequences || s == T - 1;
          if (!have || !out[0]) continue;
          float got = c->cfg.return_sequences ? dnn_data(out[0])[(n * T + s) * U + j] : dnn_data(out[0])[n * U + j];
          worst = fmax(worst, fabs(got - ys[(n * T + s) * U + j]));
        }
    for (int e = 0; e < N * U && out[1]; e++) worst = fmax(worst, fabs(dnn_data(out[1])[e] - hT[e]));
    for (int e = 0; e < N * U && c->cfg.cell == DNN_RNN_LSTM && out[2]; e++)
      worst = fmax(worst, fabs(dnn_data(out[2])[e] - cT[e]));
    if (worst > 1e-5) fprintf(stderr, "  forward %s: off by %g\n", c->name, worst);
    CHECK(worst <= 1e-5);
    CHECK(out[0] && out[0]->ndim == (c->cfg.return_sequences ? 3 : 2));
    for (int k = 0; k < 3; k++) dnn_tensor_release(out[k]);
    free_args(&a);
  }
}

/* ---- gradients ---- */

typedef struct {
  const rnn_case *c;
  const rnn_args *a;
} loss_ctx;

/* A weighted sum of every output, so each gets its own gradient. */
static dnn_tensor *rnn_loss(dnn_tensor *const *in, void *p) {
  const loss_ctx *lc = p;
  dnn_tensor *full[6];
  int j = 0;
  for (int i = 0; i < 6; i++) full[i] = lc->a->in[i] ? in[j++] : NULL;
  dnn_tensor *out[3] = {NULL, NULL, NULL};
  if (run(lc->c, full, lc->a, out) != DNN_OK) return NULL;
  return gc_weighted_sum_all(lc->c->cfg.cell == DNN_RNN_LSTM ? 3 : 2, out);
}

static void test_gradients(void) {
  for (int i = 0; i < N_CASES; i++) {
    const rnn_case *c = &cases[i];
    rnn_args a = make_args(c, 10 + i);
    dnn_tensor *in[6];
    int n = 0;
    for (int k = 0; k < 6; k++)
      if (a.in[k]) in[n++] = a.in[k];
    loss_ctx lc = {c, &a};
    gradcheck(c->name, rnn_loss, n, in, &lc);
    free_args(&a);
  }
}

/* Without anything requiring grad, no node and the same values (the tape's blocks reused across steps). */
static void test_inference_matches_training(void) {
  for (int i = 0; i < N_CASES; i++) {
    const rnn_case *c = &cases[i];
    rnn_args a = make_args(c, 20 + i);
    dnn_tensor *plain[3] = {NULL, NULL, NULL}, *taped[3] = {NULL, NULL, NULL};
    CHECK(run(c, a.in, &a, plain) == DNN_OK);
    CHECK(plain[0] && plain[0]->grad_fn == NULL);
    dnn_set_requires_grad(a.in[1], true);
    CHECK(run(c, a.in, &a, taped) == DNN_OK);
    CHECK(taped[0] && taped[0]->grad_fn != NULL && taped[1]->grad_fn == taped[0]->grad_fn);
    int n_out = c->cfg.cell == DNN_RNN_LSTM ? 3 : 2;
    for (int k = 0; k < n_out; k++) CHECK(max_diff(plain[k], taped[k]) == 0);
    for (int k = 0; k < 3; k++) {
      dnn_tensor_release(plain[k]);
      dnn_tensor_release(taped[k]);
    }
    free_args(&a);
  }
}

/* A strided (transposed) input gives what its contiguous copy gives. */
static void test_strided_input(void) {
  const rnn_case *c = &cases[3];
  rnn_args a = make_args(c, 5);
  int64_t ts[] = {N, F, T};
  dnn_tensor *xt = varied(3, ts, 3, 1.0f), *x = dnn_transpose(xt, 1, 2), *xc = dnn_contiguous(x);
  dnn_tensor *in1[6] = {x, a.in[1], a.in[2], a.in[3], NULL, NULL},
             *in2[6] = {xc, a.in[1], a.in[2], a.in[3], NULL, NULL};
  dnn_tensor *o1[3] = {0}, *o2[3] = {0};
  CHECK(run(c, in1, &a, o1) == DNN_OK && run(c, in2, &a, o2) == DNN_OK);
  CHECK(max_diff(o1[0], o2[0]) == 0);
  for (int k = 0; k < 3; k++) {
    dnn_tensor_release(o1[k]);
    dnn_tensor_release(o2[k]);
  }
  dnn_tensor_release(xt);
  dnn_tensor_release(x);
  dnn_tensor_release(xc);
  free_args(&a);
}

static void test_errors(void) {
  rnn_case c = cases[3]; /* lstm */
  c.h0 = c.c0 = true;
  rnn_args a = make_args(&c, 1);
  dnn_tensor *out[3];
  dnn_tensor *in[6];
  int64_t s2[] = {N, F}, s3[] = {N, 0, F}, wbad[] = {F + 1, 4 * U}, ubad[] = {U, 3 * U}, bbad[] = {3 * U},
          hbad[] = {N + 1, U}, mbad[] = {N, T + 1};

  memcpy(in, a.in, sizeof in);
  in[0] = dnn_zeros(2, s2);
  CHECK(run(&c, in, &a, out) == DNN_EARG && errmsg_has("bad argument #1 to 'lstm'") &&
        errmsg_has("expected a 3-d input (batch, timesteps, features)"));
  CHECK(out[0] == NULL && out[1] == NULL && out[2] == NULL);
  dnn_tensor_release(in[0]);
  in[0] = dnn_zeros(3, s3);
  CHECK(run(&c, in, &a, out) == DNN_EARG && errmsg_has("expected at least one time step"));
  dnn_tensor_release(in[0]);

  memcpy(in, a.in, sizeof in);
  in[1] = dnn_zeros(2, wbad);
  CHECK(run(&c, in, &a, out) == DNN_EARG && errmsg_has("bad argument #2") && errmsg_has("expected a kernel (3, 8)"));
  dnn_tensor_release(in[1]);

  memcpy(in, a.in, sizeof in);
  in[2] = dnn_zeros(2, ubad);
  CHECK(run(&c, in, &a, out) == DNN_EARG && errmsg_has("bad argument #3") &&
        errmsg_has("expected a recurrent kernel (units, 4 * units)"));
  dnn_tensor_release(in[2]);

  memcpy(in, a.in, sizeof in);
  in[3] = dnn_zeros(1, bbad);
  CHECK(run(&c, in, &a, out) == DNN_EARG && errmsg_has("bad argument #4") && errmsg_has("bias of shape (8)"));
  dnn_tensor_release(in[3]);

  memcpy(in, a.in, sizeof in);
  in[4] = dnn_zeros(2, hbad);
  CHECK(run(&c, in, &a, out) == DNN_EARG && errmsg_has("bad argument #5") &&
        errmsg_has("initial state h of shape (2, 2), got (3, 2)"));
  dnn_tensor_release(in[4]);

  memcpy(in, a.in, sizeof in);
  rnn_args am = a;
  am.mask = dnn_zeros(2, mbad);
  CHECK(run(&c, in, &am, out) == DNN_EARG && errmsg_has("bad argument #7") && errmsg_has("mask (batch, timesteps)"));
  dnn_tensor_release(am.mask);
  am.mask = NULL;
  am.dropout = dnn_zeros(2, hbad);
  CHECK(run(&c, in, &am, out) == DNN_EARG && errmsg_has("bad argument #8"));
  dnn_tensor_release(am.dropout);

  rnn_case g = cases[7]; /* gru reset_after: bias (2, 3U); no cell state */
  int64_t b6[] = {3 * U};
  CHECK(run(&g, in, &a, out) == DNN_EARG); /* the lstm's kernels do not fit a gru */
  CHECK(errmsg_has("bad argument #3 to 'gru'"));
  rnn_args ga = make_args(&g, 2);
  memcpy(in, ga.in, sizeof in);
  in[3] = dnn_zeros(1, b6);
  CHECK(run(&g, in, &ga, out) == DNN_EARG && errmsg_has("expected a bias of shape (2, 6) (input and recurrent)"));
  dnn_tensor_release(in[3]);
  memcpy(in, ga.in, sizeof in);
  in[5] = a.in[5];
  CHECK(run(&g, in, &ga, out) == DNN_EARG && errmsg_has("bad argument #6") && errmsg_has("only an LSTM"));
  free_args(&ga);

  rnn_case bad = cases[0];
  bad.cfg.activation = DNN_ACT_SOFTMAX;
  rnn_args sa = make_args(&bad, 3);
  CHECK(run(&bad, sa.in, &sa, out) == DNN_EARG && errmsg_has("activations linear, relu, sigmoid or tanh"));
  free_args(&sa);
  free_args(&a);
}

/* Backward after a weight changed in place is refused (the version rule), and there is no second derivative. */
static void test_versions_and_second_order(void) {
  const rnn_case *c = &cases[4];
  rnn_args a = make_args(c, 7);
  dnn_set_requires_grad(a.in[1], true);
  dnn_tensor *out[3] = {0};
  CHECK(run(c, a.in, &a, out) == DNN_OK);
  dnn_tensor *s = dnn_sum(out[1], DNN_ALL_DIMS, false);
  dnn_bump_version(a.in[2]);
  CHECK(dnn_backward(s, NULL) != DNN_OK && errmsg_has("lstm"));
  dnn_tensor_release(s);
  for (int k = 0; k < 3; k++) dnn_tensor_release(out[k]);

  CHECK(run(c, a.in, &a, out) == DNN_OK);
  s = dnn_sum(out[0], DNN_ALL_DIMS, false);
  dnn_tensor *g = NULL;
  dnn_backward_opts opts = {.create_graph = true};
  CHECK(dnn_grad(1, &s, NULL, 1, &a.in[1], &g, &opts) == DNN_OK);
  dnn_tensor *gs = g ? dnn_sum(g, DNN_ALL_DIMS, false) : NULL;
  CHECK(gs && dnn_backward(gs, NULL) != DNN_OK && errmsg_has("no second derivative"));
  dnn_tensor_release(gs);
  dnn_tensor_release(g);
  dnn_tensor_release(s);
  for (int k = 0; k < 3; k++) dnn_tensor_release(out[k]);
  dnn_set_requires_grad(a.in[1], false);
  free_args(&a);
}

int main(void) {
  test_forward_values();
  test_gradients();
  test_inference_matches_training();
  test_strided_input();
  test_errors();
  test_versions_and_second_order();
  return check_report("test_rnn");
}
