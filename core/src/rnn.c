/* SimpleRNN, LSTM and GRU over a whole sequence as one recorded op (rnn.h).
 *
 * Everything inside runs in step order, step-major: block s of a (T, N, ...)
 * buffer holds what step s needs or made for all N samples, so that each
 * step's recurrent GEMM reads and writes contiguous (N, ...) matrices and the
 * gradients of the kernels end as single GEMMs over all T*N rows. The input
 * is copied once into that order (reversed for go_backwards) and its gradient
 * copied back.
 *
 * Forward, with a_s the gate pre-activations of step s (N, k*U):
 *   a   = X W + b                   for all steps at once (one GEMM)
 *   a_s += hin_{s-1} U              per step (hin: the state, times the recurrent dropout mask)
 *   gates, h_s (c_s) = cell(a_s)    one fused, row-parallel kernel
 * The gate buffer is a itself, activated in place, and is what backward reads.
 *
 * Backward through time walks the steps in reverse with dh (and dc) of the
 * state after step s: the cell's kernel gives the pre-activation gradients
 * da_s and the part of dh_{s-1} that skips the recurrent product (GRU's z * dh,
 * a masked step's whole dh); dh_{s-1} += (da_s U^T) * mask. Then dX = dA W^T,
 * dW = X^T dA, dU = Hin^T dA, db = column sums of dA, one GEMM each. */
#include "dnn/rnn.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dnn/autograd.h"
#include "dnn/error.h"
#include "dnn/parallel.h"
#include "kernels.h"
#include "fast_exp.h"

static const char *const cell_names[] = {"simple_rnn", "lstm", "gru"};

int dnn_rnn_gates(dnn_rnn_cell cell) { return cell == DNN_RNN_LSTM ? 4 : cell == DNN_RNN_GRU ? 3 : 1; }

/* ---- small kernels ---- */

/* C (m, n) = op(A) op(B) + beta C, row-major, with leading dims: the steps and gate blocks are sub-matrices. */
static void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b,
                 int64_t ldb, float beta, float *c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < n; j++) c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j];
    return;
  }
  dnn_sgemm(ta, tb, m, n, k, 1, a, lda, b, ldb, beta, c, ldc);
}

/* v = act(v) in place. One loop per activation, so each vectorizes. tanh(x) = 2 sigmoid(2x) - 1 (absolute error
 * about 1e-7, what float32 holds near 1 anyway). */
static void activate(float *v, int64_t n, dnn_activation act) {
  switch (act) {
    case DNN_ACT_RELU:
      for (int64_t i = 0; i < n; i++) v[i] = v[i] > 0 ? v[i] : 0;
      break;
    case DNN_ACT_SIGMOID:
      for (int64_t i = 0; i < n; i++) v[i] = 1 / (1 + dnn_exp_approx(-v[i]));
      break;
    case DNN_ACT_TANH:
      for (int64_t i = 0; i < n; i++) v[i] = 2 / (1 + dnn_exp_approx(-2 * v[i])) - 1;
      break;
    default:
      break;
  }
}

/* d *= act'(z), written from the activation's output y = act(z). */
static void times_act_grad(float *d, const float *y, int64_t n, dnn_activation act) {
  switch (act) {
    case DNN_ACT_RELU:
      for (int64_t i = 0; i < n; i++) d[i] = y[i] > 0 ? d[i] : 0;
      break;
    case DNN_ACT_SIGMOID:
      for (int64_t i = 0; i < n; i++) d[i] *= y[i] * (1 - y[i]);
      break;
    case DNN_ACT_TANH:
      for (int64_t i = 0; i < n; i++) d[i] *= 1 - y[i] * y[i];
      break;
    default:
      break;
  }
}

static void column_sums_add(const float *m, int64_t rows, int64_t cols, int64_t ld, float *out) {
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < cols; c++) out[c] += m[r * ld + c];
}

/* ---- the tape: what forward keeps for backward ----
 * In inference (nothing recorded) the per-step buffers hold one block (two for the states) reused by every step. */
typedef struct {
  dnn_rnn_config cfg;
  int64_t n, t, f, u, k; /* batch, steps, features, units, gates */
  bool keep; /* every step's blocks kept, for backward */
  float *xs; /* (T, N, F): x in step order */
  float *gates; /* (T, N, kU): the activated gates (SimpleRNN: the new state; GRU: z, r, candidate) */
  float *h; /* (T+1, N, U): h0, then the state after each step */
  float *c; /* LSTM (T+1, N, U): c0, then the cell state after each step */
  float *act_c; /* LSTM (T, N, U): act(c) of each step */
  float *rh; /* GRU (T, N, U): reset_after: hin U_h + b_rh; else r * hin (the candidate's recurrent input) */
  float *hin; /* (T, N, U): the state entering each recurrent product, times the dropout mask; NULL without */
  float *rec; /* GRU reset_after (N, 3U): one step's hin U + b_r */
  float *rec_bias; /* GRU reset_after (3U): the recurrent bias, zeros without a bias */
  float *rdrop; /* (N, U): the recurrent dropout mask, or NULL */
  float *valid; /* (T, N): 1 where step s of sample n counts, 0 where masked; NULL without a mask */
  int64_t *first; /* (N): the first step that counts (T when none); NULL without a mask */
} rnn_tape;

static void tape_free(void *p) {
  rnn_tape *tp = p;
  if (!tp) return;
  float *bufs[] = {tp->xs,  tp->gates, tp->h,        tp->c,     tp->act_c, tp->rh,
                   tp->hin, tp->rec,   tp->rec_bias, tp->rdrop, tp->valid};
  for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) free(bufs[i]);
  free(tp->first);
  free(tp);
}

/* Where step s's blocks are: every step's own when kept, else the one (states: two alternating) reused. */
static int64_t step_block(const rnn_tape *tp, int64_t s) { return tp->keep ? s : 0; }
static int64_t state_block(const rnn_tape *tp, int64_t s) { return tp->keep ? s : s % 2; }

/* The state before step s (s = 0: h0), and after it: state_at(tp, s + 1). */
static float *h_at(const rnn_tape *tp, int64_t s) { return tp->h + state_block(tp, s) * tp->n * tp->u; }
static float *c_at(const rnn_tape *tp, int64_t s) { return tp->c + state_block(tp, s) * tp->n * tp->u; }
static float *gates_at(const rnn_tape *tp, int64_t s) { return tp->gates + s * tp->n * tp->k * tp->u; }
static float *act_c_at(const rnn_tape *tp, int64_t s) { return tp->act_c + step_block(tp, s) * tp->n * tp->u; }
static float *rh_at(const rnn_tape *tp, int64_t s) { return tp->rh + step_block(tp, s) * tp->n * tp->u; }

/* The state entering step s's recurrent product: h_{s-1} times the dropout mask. */
static const float *hin_at(const rnn_tape *tp, int64_t s) {
  return tp->hin ? tp->hin + step_block(tp, s) * tp->n * tp->u : h_at(tp, s);
}

static bool step_counts(const rnn_tape *tp, int64_t s, int64_t n) { return !tp->valid || tp->valid[s * tp->n + n]; }

/* The input time index that step s reads. */
static int64_t time_of(const rnn_tape *tp, int64_t s) { return tp->cfg.go_backwards ? tp->t - 1 - s : s; }

/* ---- forward, one step ---- */

static void apply_recurrent_dropout(const rnn_tape *tp, int64_t s) {
  if (!tp->hin) return;
  const float *h = h_at(tp, s);
  float *out = tp->hin + step_block(tp, s) * tp->n * tp->u;
  for (int64_t i = 0; i < tp->n * tp->u; i++) out[i] = h[i] * tp->rdrop[i];
}

/* A masked row keeps the state it had. */
static void keep_state(float *next, const float *prev, int64_t u) { memcpy(next, prev, (size_t)u * sizeof(float)); }

/* h = act(a), a already holding x W + b + hin U. */
static void simple_step(const rnn_tape *tp, int64_t s) {
  int64_t u = tp->u;
  const float *hp = h_at(tp, s);
  float *hn = h_at(tp, s + 1), *g = gates_at(tp, s);
#pragma omp parallel for if (tp->n * u > DNN_PARALLEL_GRAIN)
  for (int64_t n = 0; n < tp->n; n++) {
    float *a = g + n * u;
    activate(a, u, tp->cfg.activation);
    if (step_counts(tp, s, n))
      memcpy(hn + n * u, a, (size_t)u * sizeof(float));
    else
      keep_state(hn + n * u, hp + n * u, u);
  }
}

/* i, f, o = ract(a_i, a_f, a_o), g = act(a_c); c = f c_prev + i g; h = o act(c). */
static void lstm_step(const rnn_tape *tp, int64_t s) {
  int64_t u = tp->u;
  const float *hp = h_at(tp, s), *cp = c_at(tp, s);
  float *hn = h_at(tp, s + 1), *cn = c_at(tp, s + 1), *gates = gates_at(tp, s), *ac = act_c_at(tp, s);
#pragma omp parallel for if (tp->n * 4 * u > DNN_PARALLEL_GRAIN)
  for (int64_t n = 0; n < tp->n; n++) {
    float *i = gates + n * 4 * u, *f = i + u, *g = f + u, *o = g + u;
    const float *c0 = cp + n * u;
    float *c = cn + n * u, *a = ac + n * u, *h = hn + n * u;
    activate(i, 2 * u, tp->cfg.recurrent_activation); /* i and f */
    activate(g, u, tp->cfg.activation);
    activate(o, u, tp->cfg.recurrent_activation);
    for (int64_t j = 0; j < u; j++) c[j] = f[j] * c0[j] + i[j] * g[j];
    memcpy(a, c, (size_t)u * sizeof(float));
    activate(a, u, tp->cfg.activation);
    for (int64_t j = 0; j < u; j++) h[j] = o[j] * a[j];
    if (!step_counts(tp, s, n)) {
      keep_state(c, c0, u);
      keep_state(h, hp + n * u, u);
    }
  }
}

/* The GRU's end: h = z h_prev + (1 - z) hh, for a row whose z and candidate hh are known. */
static void gru_blend(const float *z, const float *hh, const float *hp, float *h, int64_t u) {
  for (int64_t j = 0; j < u; j++) h[j] = z[j] * hp[j] + (1 - z[j]) * hh[j];
}

/* reset_after: rec = hin U + b_r; z, r = ract(a_z + rec_z, a_r + rec_r); hh = act(a_h + r rec_h). */
static void gru_after_step(const rnn_tape *tp, int64_t s) {
  int64_t u = tp->u;
  const float *hp = h_at(tp, s);
  float *hn = h_at(tp, s + 1), *gates = gates_at(tp, s), *rh = rh_at(tp, s);
#pragma omp parallel for if (tp->n * 3 * u > DNN_PARALLEL_GRAIN)
  for (int64_t n = 0; n < tp->n; n++) {
    float *z = gates + n * 3 * u, *r = z + u, *hh = r + u, *rech = rh + n * u;
    const float *rec = tp->rec + n * 3 * u;
    for (int64_t j = 0; j < 2 * u; j++) z[j] += rec[j] + tp->rec_bias[j]; /* z and r */
    activate(z, 2 * u, tp->cfg.recurrent_activation);
    for (int64_t j = 0; j < u; j++) {
      rech[j] = rec[2 * u + j] + tp->rec_bias[2 * u + j];
      hh[j] += r[j] * rech[j];
    }
    activate(hh, u, tp->cfg.activation);
    if (step_counts(tp, s, n))
      gru_blend(z, hh, hp + n * u, hn + n * u, u);
    else
      keep_state(hn + n * u, hp + n * u, u);
  }
}

/* reset_before, first half: z, r = ract(a_z, a_r) (the recurrent products already added); rh = r * hin. */
static void gru_before_gates(const rnn_tape *tp, int64_t s) {
  int64_t u = tp->u;
  const float *hin = hin_at(tp, s);
  float *gates = gates_at(tp, s), *rh = rh_at(tp, s);
#pragma omp parallel for if (tp->n * 3 * u > DNN_PARALLEL_GRAIN)
  for (int64_t n = 0; n < tp->n; n++) {
    float *z = gates + n * 3 * u, *r = z + u;
    activate(z, 2 * u, tp->cfg.recurrent_activation);
    for (int64_t j = 0; j < u; j++) rh[n * u + j] = r[j] * hin[n * u + j];
  }
}

/* reset_before, second half: hh = act(a_h + (r * hin) U_h), then the blend. */
static void gru_before_step(const rnn_tape *tp, int64_t s) {
  int64_t u = tp->u;
  const float *hp = h_at(tp, s);
  float *hn = h_at(tp, s + 1), *gates = gates_at(tp, s);
#pragma omp parallel for if (tp->n * 3 * u > DNN_PARALLEL_GRAIN)
  for (int64_t n = 0; n < tp->n; n++) {
    float *z = gates + n * 3 * u, *hh = z + 2 * u;
    activate(hh, u, tp->cfg.activation);
    if (step_counts(tp, s, n))
      gru_blend(z, hh, hp + n * u, hn + n * u, u);
    else
      keep_state(hn + n * u, hp + n * u, u);
  }
}

/* Step s: the recurrent product(s) into the pre-activations, then the cell's kernel. */
static void forward_step(const rnn_tape *tp, const float *uk, int64_t s) {
  int64_t n = tp->n, u = tp->u, ku = tp->k * u;
  apply_recurrent_dropout(tp, s);
  const float *hin = hin_at(tp, s);
  float *a = gates_at(tp, s);
  switch (tp->cfg.cell) {
    case DNN_RNN_SIMPLE:
      gemm(false, false, n, ku, u, hin, u, uk, ku, 1, a, ku);
      simple_step(tp, s);
      break;
    case DNN_RNN_LSTM:
      gemm(false, false, n, ku, u, hin, u, uk, ku, 1, a, ku);
      lstm_step(tp, s);
      break;
    case DNN_RNN_GRU:
      if (tp->cfg.reset_after) {
        gemm(false, false, n, ku, u, hin, u, uk, ku, 0, tp->rec, ku);
        gru_after_step(tp, s);
      } else {
        gemm(false, false, n, 2 * u, u, hin, u, uk, ku, 1, a, ku);
        gru_before_gates(tp, s);
        gemm(false, false, n, u, u, rh_at(tp, s), u, uk + 2 * u, ku, 1, a + 2 * u, ku);
        gru_before_step(tp, s);
      }
      break;
  }
}

/* Output s: the state, or zeros for a sample none of whose steps so far counted (Keras's first "previous output"). */
static void emit_output(const rnn_tape *tp, int64_t s, float *y) {
  int64_t u = tp->u;
  const float *h = h_at(tp, s + 1);
  for (int64_t n = 0; n < tp->n; n++) {
    float *out = tp->cfg.return_sequences ? y + (n * tp->t + s) * u : y + n * u;
    if (tp->first && s < tp->first[n])
      memset(out, 0, (size_t)u * sizeof(float));
    else
      memcpy(out, h + n * u, (size_t)u * sizeof(float));
  }
}

/* ---- backward, one step ----
 * Each cell kernel takes dh (dc) of the state after step s and writes the step's pre-activation gradients into dgx
 * (the input side) and dgr (the recurrent side, the same buffer except for GRU reset_after) and the part of the
 * previous state's gradient that skips the recurrent product into dh_prev (dc_prev). A masked row passes dh on whole
 * and gets zero gate gradients. */

typedef struct {
  float *dgx, *dgr; /* (T, N, kU) */
  float *dh, *dh_prev; /* (N, U) */
  float *dc, *dc_prev; /* LSTM (N, U) */
  float *dhin; /* (N, U): the gradient of the recurrent product's input */
} rnn_grads;

static void pass_masked_row(const rnn_tape *tp, const rnn_grads *gr, int64_t s, int64_t n) {
  int64_t u = tp->u, ku = tp->k * u;
  memset(gr->dgx + (s * tp->n + n) * ku, 0, (size_t)ku * sizeof(float));
  if (gr->dgr != gr->dgx) memset(gr->dgr + (s * tp->n + n) * ku, 0, (size_t)ku * sizeof(float));
  memcpy(gr->dh_prev + n * u, gr->dh + n * u, (size_t)u * sizeof(float));
  if (gr->dc) memcpy(gr->dc_prev + n * u, gr->dc + n * u, (size_t)u * sizeof(float));
}

/* da = dh act'(h); nothing skips the product. */
static void simple_back(const rnn_tape *tp, const rnn_grads *gr, int64_t s) {
  int64_t u = tp->u;
  const float *h = gates_at(tp, s);
#pragma omp parallel for if (tp->n * u > DNN_PARALLEL_GRAIN)
  for (int64_t n = 0; n < tp->n; n++) {
    if (!step_counts(tp, s, n)) {
      pass_masked_row(tp, gr, s, n);
      continue;
    }
    float *da = gr->dgx + (s * tp->n + n) * u;
    memcpy(da, gr->dh + n * u, (size_t)u * sizeof(float));
    times_act_grad(da, h + n * u, u, tp->cfg.activation);
    memset(gr->dh_prev + n * u, 0, (size_t)u * sizeof(float));
  }
}

/* dc += dh o act'(c); di = dc g, df = dc c_prev, dg = dc i, do = dh act(c); dc_prev = dc f. */
static void lstm_back(const rnn_tape *tp, const rnn_grads *gr, int64_t s) {
  int64_t u = tp->u;
  const float *gates = gates_at(tp, s), *cp = c_at(tp, s), *ac = act_c_at(tp, s);
#pragma omp parallel for if (tp->n * 4 * u > DNN_PARALLEL_GRAIN)
  for (int64_t n = 0; n < tp->n; n++) {
    if (!step_counts(tp, s, n)) {
      pass_masked_row(tp, gr, s, n);
      continue;
    }
    const float *i = gates + n * 4 * u, *f = i + u, *g = f + u, *o = g + u, *a = ac + n * u, *c0 = cp + n * u;
    const float *dh = gr->dh + n * u, *dc_in = gr->dc + n * u;
    float *di = gr->dgx + (s * tp->n + n) * 4 * u, *df = di + u, *dg = df + u, *dout = dg + u;
    float *dc = gr->dc_prev + n * u; /* the total dc of this step first, then dc_prev = dc f */
    for (int64_t j = 0; j < u; j++) dc[j] = dh[j] * o[j];
    times_act_grad(dc, a, u, tp->cfg.activation);
    for (int64_t j = 0; j < u; j++) {
      float d = dc[j] + dc_in[j];
      di[j] = d * g[j];
      df[j] = d * c0[j];
      dg[j] = d * i[j];
      dout[j] = dh[j] * a[j];
      dc[j] = d * f[j];
    }
    times_act_grad(di, i, 2 * u, tp->cfg.recurrent_activation); /* i and f */
    times_act_grad(dg, g, u, tp->cfg.activation);
    times_act_grad(dout, o, u, tp->cfg.recurrent_activation);
    memset(gr->dh_prev + n * u, 0, (size_t)u * sizeof(float));
  }
}

/* The blend's gradients: dz = dh (h_prev - hh), dhh = dh (1 - z), dh_prev = dh z; then through the activations. */
static void gru_blend_back(const rnn_tape *tp, const float *z, const float *hh, const float *hp, const float *dh,
                           float *dz, float *dhh, float *dh_prev) {
  int64_t u = tp->u;
  for (int64_t j = 0; j < u; j++) {
    dz[j] = dh[j] * (hp[j] - hh[j]);
    dhh[j] = dh[j] * (1 - z[j]);
    dh_prev[j] = dh[j] * z[j];
  }
  times_act_grad(dz, z, u, tp->cfg.recurrent_activation);
  times_act_grad(dhh, hh, u, tp->cfg.activation);
}

/* reset_after: da_h = dhh act'; the recurrent side's h block is da_h r; dr = da_h rec_h. */
static void gru_after_back(const rnn_tape *tp, const rnn_grads *gr, int64_t s) {
  int64_t u = tp->u;
  const float *gates = gates_at(tp, s), *hp = h_at(tp, s), *rh = rh_at(tp, s);
#pragma omp parallel for if (tp->n * 3 * u > DNN_PARALLEL_GRAIN)
  for (int64_t n = 0; n < tp->n; n++) {
    if (!step_counts(tp, s, n)) {
      pass_masked_row(tp, gr, s, n);
      continue;
    }
    const float *z = gates + n * 3 * u, *r = z + u, *hh = r + u, *rech = rh + n * u;
    float *dz = gr->dgx + (s * tp->n + n) * 3 * u, *dr = dz + u, *dah = dr + u;
    float *rz = gr->dgr + (s * tp->n + n) * 3 * u, *rr = rz + u, *rah = rr + u;
    gru_blend_back(tp, z, hh, hp + n * u, gr->dh + n * u, dz, dah, gr->dh_prev + n * u);
    for (int64_t j = 0; j < u; j++) {
      dr[j] = dah[j] * rech[j];
      rah[j] = dah[j] * r[j];
    }
    times_act_grad(dr, r, u, tp->cfg.recurrent_activation);
    memcpy(rz, dz, (size_t)2 * u * sizeof(float));
  }
}

/* reset_before, first half: the blend and the candidate's pre-activation gradient. */
static void gru_before_back_candidate(const rnn_tape *tp, const rnn_grads *gr, int64_t s) {
  int64_t u = tp->u;
  const float *gates = gates_at(tp, s), *hp = h_at(tp, s);
#pragma omp parallel for if (tp->n * 3 * u > DNN_PARALLEL_GRAIN)
  for (int64_t n = 0; n < tp->n; n++) {
    if (!step_counts(tp, s, n)) {
      pass_masked_row(tp, gr, s, n);
      continue;
    }
    const float *z = gates + n * 3 * u, *hh = z + 2 * u;
    float *dz = gr->dgx + (s * tp->n + n) * 3 * u, *dah = dz + 2 * u;
    gru_blend_back(tp, z, hh, hp + n * u, gr->dh + n * u, dz, dah, gr->dh_prev + n * u);
  }
}

/* reset_before, second half, with drh = da_h U_h^T (the gradient of r * hin) in dhin: dr = drh hin, and dhin keeps
 * drh r, the part of hin's gradient that went through the candidate. A masked row has drh = 0 already. */
static void gru_before_back_reset(const rnn_tape *tp, const rnn_grads *gr, int64_t s) {
  int64_t u = tp->u;
  const float *gates = gates_at(tp, s), *hin = hin_at(tp, s);
#pragma omp parallel for if (tp->n * 3 * u > DNN_PARALLEL_GRAIN)
  for (int64_t n = 0; n < tp->n; n++) {
    const float *r = gates + n * 3 * u + u, *hi = hin + n * u;
    float *dr = gr->dgx + (s * tp->n + n) * 3 * u + u, *drh = gr->dhin + n * u;
    for (int64_t j = 0; j < u; j++) {
      dr[j] = drh[j] * hi[j];
      drh[j] *= r[j];
    }
    times_act_grad(dr, r, u, tp->cfg.recurrent_activation);
  }
}

/* Step s backward: the cell's kernel, then dh_prev += dhin * dropout mask, dhin = da U^T. */
static void backward_step(const rnn_tape *tp, const rnn_grads *gr, const float *uk, int64_t s) {
  int64_t n = tp->n, u = tp->u, ku = tp->k * u;
  const float *dgr = gr->dgr + s * n * ku;
  switch (tp->cfg.cell) {
    case DNN_RNN_SIMPLE:
      simple_back(tp, gr, s);
      gemm(false, true, n, u, ku, dgr, ku, uk, ku, 0, gr->dhin, u);
      break;
    case DNN_RNN_LSTM:
      lstm_back(tp, gr, s);
      gemm(false, true, n, u, ku, dgr, ku, uk, ku, 0, gr->dhin, u);
      break;
    case DNN_RNN_GRU:
      if (tp->cfg.reset_after) {
        gru_after_back(tp, gr, s);
        gemm(false, true, n, u, ku, dgr, ku, uk, ku, 0, gr->dhin, u);
      } else {
        gru_before_back_candidate(tp, gr, s);
        gemm(false, true, n, u, u, dgr + 2 * u, ku, uk + 2 * u, ku, 0, gr->dhin, u);
        gru_before_back_reset(tp, gr, s);
        gemm(false, true, n, u, 2 * u, dgr, ku, uk, ku, 1, gr->dhin, u);
      }
      break;
  }
  for (int64_t i = 0; i < n * u; i++) gr->dh_prev[i] += tp->rdrop ? gr->dhin[i] * tp->rdrop[i] : gr->dhin[i];
}

/* dh of the state after step s gets the output's gradient where output s is that state. */
static void add_output_grad(const rnn_tape *tp, const float *gy, int64_t s, float *dh) {
  int64_t u = tp->u;
  if (!tp->cfg.return_sequences && s != tp->t - 1) return;
  for (int64_t n = 0; n < tp->n; n++) {
    if (tp->first && s < tp->first[n]) continue;
    const float *g = tp->cfg.return_sequences ? gy + (n * tp->t + s) * u : gy + n * u;
    for (int64_t j = 0; j < u; j++) dh[n * u + j] += g[j];
  }
}

/* ---- the op ---- */

enum { IN_X, IN_KERNEL, IN_RECURRENT, IN_BIAS, IN_H0, IN_C0, N_INPUTS };

static dnn_tensor *new_grad_like(dnn_node *node, int i) {
  return dnn_node_needs_grad(node, i) ? dnn_zeros_like(node->inputs[i]) : NULL;
}

static dnn_status rnn_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin) {
  const rnn_tape *tp = node->ctx;
  int64_t n = tp->n, t = tp->t, f = tp->f, u = tp->u, ku = tp->k * u;
  bool lstm = tp->cfg.cell == DNN_RNN_LSTM, split = tp->cfg.cell == DNN_RNN_GRU && tp->cfg.reset_after;
  const float *wk = dnn_data(node->inputs[IN_KERNEL]), *uk = dnn_data(node->inputs[IN_RECURRENT]);
  rnn_grads gr = {0};
  gr.dgx = malloc((size_t)(t * n * ku) * sizeof(float));
  gr.dgr = split ? malloc((size_t)(t * n * ku) * sizeof(float)) : gr.dgx;
  float *state = calloc((size_t)(5 * n * u), sizeof(float)); /* dh, dh_prev, dc, dc_prev, dhin */
  for (int i = 0; i < N_INPUTS; i++) gin[i] = new_grad_like(node, i);
  bool ok = gr.dgx && gr.dgr && state;
  for (int i = 0; i < N_INPUTS; i++) ok = ok && (gin[i] || !dnn_node_needs_grad(node, i));
  if (!ok) {
    free(gr.dgx);
    if (split) free(gr.dgr);
    free(state);
    return dnn_error(DNN_ENOMEM, node->op, "out of memory in backward");
  }
  gr.dh = state, gr.dh_prev = state + n * u, gr.dc = lstm ? state + 2 * n * u : NULL;
  gr.dc_prev = lstm ? state + 3 * n * u : NULL, gr.dhin = state + 4 * n * u;
  memcpy(gr.dh, dnn_data(grad_out[1]), (size_t)(n * u) * sizeof(float));
  if (lstm) memcpy(gr.dc, dnn_data(grad_out[2]), (size_t)(n * u) * sizeof(float));

  for (int64_t s = t - 1; s >= 0; s--) {
    add_output_grad(tp, dnn_data(grad_out[0]), s, gr.dh);
    backward_step(tp, &gr, uk, s);
    float *swap = gr.dh;
    gr.dh = gr.dh_prev, gr.dh_prev = swap;
    if (lstm) swap = gr.dc, gr.dc = gr.dc_prev, gr.dc_prev = swap;
  }
  if (gin[IN_H0]) memcpy(dnn_data(gin[IN_H0]), gr.dh, (size_t)(n * u) * sizeof(float));
  if (gin[IN_C0]) memcpy(dnn_data(gin[IN_C0]), gr.dc, (size_t)(n * u) * sizeof(float));

  if (gin[IN_X]) { /* dX = dA W^T in step order, then back to (N, T, F) */
    float *dxs = malloc((size_t)(t * n * f) * sizeof(float));
    if (!dxs) ok = false;
    if (dxs) {
      gemm(false, true, t * n, f, ku, gr.dgx, ku, wk, ku, 0, dxs, f);
      float *dx = dnn_data(gin[IN_X]);
      for (int64_t s = 0; s < t; s++)
        for (int64_t b = 0; b < n; b++)
          memcpy(dx + (b * t + time_of(tp, s)) * f, dxs + (s * n + b) * f, (size_t)f * sizeof(float));
      free(dxs);
    }
  }
  if (gin[IN_KERNEL]) gemm(true, false, f, ku, t * n, tp->xs, f, gr.dgx, ku, 0, dnn_data(gin[IN_KERNEL]), ku);
  if (gin[IN_RECURRENT]) { /* dU = Hin^T dA over all steps; GRU reset_before: its candidate block from r * hin */
    const float *hin = tp->hin ? tp->hin : tp->h; /* h's blocks 0..T-1 are the states entering steps 0..T-1 */
    float *du = dnn_data(gin[IN_RECURRENT]);
    if (tp->cfg.cell == DNN_RNN_GRU && !tp->cfg.reset_after) {
      gemm(true, false, u, 2 * u, t * n, hin, u, gr.dgr, ku, 0, du, ku);
      gemm(true, false, u, u, t * n, tp->rh, u, gr.dgr + 2 * u, ku, 0, du + 2 * u, ku);
    } else {
      gemm(true, false, u, ku, t * n, hin, u, gr.dgr, ku, 0, du, ku);
    }
  }
  if (gin[IN_BIAS]) { /* zeros; GRU reset_after: (2, 3U), the input bias's row then the recurrent one's */
    float *db = dnn_data(gin[IN_BIAS]);
    column_sums_add(gr.dgx, t * n, ku, ku, db);
    if (split) column_sums_add(gr.dgr, t * n, ku, ku, db + ku);
  }
  free(gr.dgx);
  if (split) free(gr.dgr);
  free(state);
  return ok ? DNN_OK : dnn_error(DNN_ENOMEM, node->op, "out of memory in backward");
}

/* ---- argument checks ---- */

static bool supported_activation(dnn_activation a) {
  return a == DNN_ACT_LINEAR || a == DNN_ACT_RELU || a == DNN_ACT_SIGMOID || a == DNN_ACT_TANH;
}

/* Checks a (rows, cols) matrix argument. */
static dnn_status check_matrix(const char *op, int argn, const char *what, const dnn_tensor *m, int64_t rows,
                               int64_t cols) {
  char a[96];
  if (m->ndim != 2 || m->shape[0] != rows || m->shape[1] != cols)
    return dnn_argerror(argn, op, "expected %s of shape (%lld, %lld), got %s", what, (long long)rows, (long long)cols,
                        dnn_shape_str(m, a, sizeof a));
  return DNN_OK;
}

static dnn_status rnn_check(const dnn_rnn_config *cfg, const dnn_rnn_inputs *in) {
  if (cfg->cell != DNN_RNN_SIMPLE && cfg->cell != DNN_RNN_LSTM && cfg->cell != DNN_RNN_GRU)
    return dnn_argerror(9, "rnn", "expected a cell kind (simple, lstm, gru), got %d", (int)cfg->cell);
  const char *op = cell_names[cfg->cell];
  char a[96], b[96], c[96];
  if (!in->x || !in->kernel || !in->recurrent_kernel)
    return dnn_argerror(!in->x ? 1 : !in->kernel ? 2 : 3, op, "expected a tensor, got NULL");
  const dnn_tensor *x = in->x, *w = in->kernel, *uk = in->recurrent_kernel;
  if (x->ndim != 3)
    return dnn_argerror(1, op, "expected a 3-d input (batch, timesteps, features), got a %d-d input %s", x->ndim,
                        dnn_shape_str(x, a, sizeof a));
  if (x->shape[1] < 1)
    return dnn_argerror(1, op, "expected at least one time step, got an input %s", dnn_shape_str(x, a, sizeof a));
  int64_t k = dnn_rnn_gates(cfg->cell);
  if (uk->ndim != 2 || uk->shape[0] < 1 || uk->shape[1] != k * uk->shape[0])
    return dnn_argerror(3, op, "expected a recurrent kernel (units, %lld * units), got %s", (long long)k,
                        dnn_shape_str(uk, a, sizeof a));
  int64_t n = x->shape[0], f = x->shape[2], u = uk->shape[0];
  if (w->ndim != 2 || w->shape[0] != f || w->shape[1] != k * u)
    return dnn_argerror(2, op, "expected a kernel (%lld, %lld) to match input %s and recurrent kernel %s, got %s",
                        (long long)f, (long long)(k * u), dnn_shape_str(x, a, sizeof a), dnn_shape_str(uk, b, sizeof b),
                        dnn_shape_str(w, c, sizeof c));
  if (in->bias) {
    bool two_rows = cfg->cell == DNN_RNN_GRU && cfg->reset_after;
    const dnn_tensor *bias = in->bias;
    bool fits = two_rows ? bias->ndim == 2 && bias->shape[0] == 2 && bias->shape[1] == k * u
                         : bias->ndim == 1 && bias->shape[0] == k * u;
    if (!fits)
      return dnn_argerror(4, op,
                          two_rows ? "expected a bias of shape (2, %lld) (input and recurrent), got %s"
                                   : "expected a bias of shape (%lld), got %s",
                          (long long)(k * u), dnn_shape_str(bias, a, sizeof a));
  }
  dnn_status st = DNN_OK;
  if (in->h0) st = check_matrix(op, 5, "an initial state h", in->h0, n, u);
  if (st == DNN_OK && in->c0 && cfg->cell != DNN_RNN_LSTM)
    return dnn_argerror(6, op, "expected no initial cell state: only an LSTM has one");
  if (st == DNN_OK && in->c0) st = check_matrix(op, 6, "an initial cell state c", in->c0, n, u);
  if (st == DNN_OK && in->mask) st = check_matrix(op, 7, "a mask (batch, timesteps)", in->mask, n, x->shape[1]);
  if (st == DNN_OK && in->recurrent_dropout)
    st = check_matrix(op, 8, "a recurrent dropout mask (batch, units)", in->recurrent_dropout, n, u);
  if (st != DNN_OK) return st;
  if (!supported_activation(cfg->activation) || !supported_activation(cfg->recurrent_activation))
    return dnn_argerror(9, op, "expected activations linear, relu, sigmoid or tanh");
  return DNN_OK;
}

/* ---- forward ---- */

static float *alloc_floats(int64_t n, bool *ok) {
  float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
  if (!p) *ok = false;
  return p;
}

/* The tape's buffers for x (contiguous), copied into step order, and the masks. */
static rnn_tape *tape_new(const dnn_rnn_config *cfg, const dnn_rnn_inputs *in, const float *x, bool keep) {
  rnn_tape *tp = calloc(1, sizeof *tp);
  if (!tp) return NULL;
  tp->cfg = *cfg;
  tp->n = in->x->shape[0], tp->t = in->x->shape[1], tp->f = in->x->shape[2];
  tp->u = in->recurrent_kernel->shape[0], tp->k = dnn_rnn_gates(cfg->cell), tp->keep = keep;
  int64_t n = tp->n, t = tp->t, f = tp->f, u = tp->u, steps = keep ? t : 1, states = keep ? t + 1 : 2;
  bool ok = true;
  tp->xs = alloc_floats(t * n * f, &ok);
  tp->gates = alloc_floats(t * n * tp->k * u, &ok);
  tp->h = alloc_floats(states * n * u, &ok);
  if (cfg->cell == DNN_RNN_LSTM) {
    tp->c = alloc_floats(states * n * u, &ok);
    tp->act_c = alloc_floats(steps * n * u, &ok);
  }
  if (cfg->cell == DNN_RNN_GRU) tp->rh = alloc_floats(steps * n * u, &ok);
  if (cfg->cell == DNN_RNN_GRU && cfg->reset_after) {
    tp->rec = alloc_floats(n * 3 * u, &ok);
    tp->rec_bias = alloc_floats(3 * u, &ok);
  }
  if (in->recurrent_dropout) {
    tp->rdrop = alloc_floats(n * u, &ok);
    tp->hin = alloc_floats(steps * n * u, &ok);
  }
  if (in->mask) {
    tp->valid = alloc_floats(t * n, &ok);
    tp->first = malloc((size_t)(n > 0 ? n : 1) * sizeof(int64_t));
    if (!tp->first) ok = false;
  }
  if (!ok) {
    tape_free(tp);
    return NULL;
  }
  for (int64_t s = 0; s < t; s++)
    for (int64_t b = 0; b < n; b++)
      memcpy(tp->xs + (s * n + b) * f, x + (b * t + time_of(tp, s)) * f, (size_t)f * sizeof(float));
  if (tp->rdrop) dnn_gather_to(in->recurrent_dropout, tp->rdrop);
  if (tp->valid) {
    dnn_tensor *mc = dnn_contiguous(in->mask);
    if (!mc) {
      tape_free(tp);
      return NULL;
    }
    const float *m = dnn_data(mc);
    for (int64_t b = 0; b < n; b++) {
      tp->first[b] = t;
      for (int64_t s = 0; s < t; s++) {
        tp->valid[s * n + b] = m[b * t + time_of(tp, s)] != 0;
        if (tp->valid[s * n + b] && tp->first[b] == t) tp->first[b] = s;
      }
    }
    dnn_tensor_release(mc);
  }
  return tp;
}

/* a = X W + b for every step at once; GRU reset_after keeps its recurrent bias apart. */
static void project_inputs(rnn_tape *tp, const float *w, const float *bias) {
  int64_t rows = tp->t * tp->n, ku = tp->k * tp->u;
  gemm(false, false, rows, ku, tp->f, tp->xs, tp->f, w, ku, 0, tp->gates, ku);
  if (tp->rec_bias) {
    for (int64_t j = 0; j < ku; j++) tp->rec_bias[j] = bias ? bias[ku + j] : 0;
  }
  if (!bias) return;
#pragma omp parallel for if (rows * ku > DNN_PARALLEL_GRAIN)
  for (int64_t r = 0; r < rows; r++)
    for (int64_t j = 0; j < ku; j++) tp->gates[r * ku + j] += bias[j];
}

/* The initial state into block 0 (zeros when none). */
static void set_initial(float *block, const dnn_tensor *init, int64_t count) {
  if (init)
    dnn_gather_to(init, block);
  else
    memset(block, 0, (size_t)count * sizeof(float));
}

dnn_status dnn_rnn(const dnn_rnn_config *cfg, const dnn_rnn_inputs *in, dnn_tensor **outputs) {
  outputs[0] = outputs[1] = NULL;
  if (cfg->cell == DNN_RNN_LSTM) outputs[2] = NULL;
  dnn_status st = rnn_check(cfg, in);
  if (st != DNN_OK) return st;
  const char *op = cell_names[cfg->cell];
  int n_out = cfg->cell == DNN_RNN_LSTM ? 3 : 2;
  dnn_tensor *inputs[N_INPUTS] = {dnn_contiguous(in->x),
                                  dnn_contiguous(in->kernel),
                                  dnn_contiguous(in->recurrent_kernel),
                                  in->bias ? dnn_contiguous(in->bias) : NULL,
                                  in->h0 ? dnn_tensor_retain(in->h0) : NULL,
                                  in->c0 ? dnn_tensor_retain(in->c0) : NULL};
  rnn_tape *tp = NULL;
  bool ok = inputs[IN_X] && inputs[IN_KERNEL] && inputs[IN_RECURRENT] && (inputs[IN_BIAS] || !in->bias);
  if (ok) tp = tape_new(cfg, in, dnn_data(inputs[IN_X]), dnn_needs_record(N_INPUTS, inputs));
  int64_t n = in->x->shape[0], t = in->x->shape[1], u = in->recurrent_kernel->shape[0];
  int64_t yshape[3] = {n, cfg->return_sequences ? t : u, u}, sshape[2] = {n, u};
  if (tp) {
    outputs[0] = dnn_empty(cfg->return_sequences ? 3 : 2, yshape);
    for (int k = 1; k < n_out; k++) outputs[k] = dnn_empty(2, sshape);
  }
  for (int k = 0; k < n_out; k++) ok = ok && tp && outputs[k];
  if (ok) {
    project_inputs(tp, dnn_data(inputs[IN_KERNEL]), inputs[IN_BIAS] ? dnn_data(inputs[IN_BIAS]) : NULL);
    set_initial(h_at(tp, 0), in->h0, n * u);
    if (tp->c) set_initial(c_at(tp, 0), in->c0, n * u);
    for (int64_t s = 0; s < t; s++) {
      forward_step(tp, dnn_data(inputs[IN_RECURRENT]), s);
      if (cfg->return_sequences || s == t - 1) emit_output(tp, s, dnn_data(outputs[0]));
    }
    memcpy(dnn_data(outputs[1]), h_at(tp, t), (size_t)(n * u) * sizeof(float));
    if (tp->c) memcpy(dnn_data(outputs[2]), c_at(tp, t), (size_t)(n * u) * sizeof(float));
    dnn_node *node = dnn_record_outputs(n_out, outputs, op, rnn_backward, N_INPUTS, inputs);
    if (node) {
      node->ctx = tp, node->ctx_free = tape_free;
      tp = NULL;
    } else if (dnn_needs_record(N_INPUTS, inputs)) {
      ok = false;
    }
  }
  tape_free(tp);
  for (int i = 0; i < N_INPUTS; i++) dnn_tensor_release(inputs[i]);
  if (ok) return DNN_OK;
  for (int k = 0; k < n_out; k++) {
    dnn_tensor_release(outputs[k]);
    outputs[k] = NULL;
  }
  return dnn_error(DNN_ENOMEM, op, "out of memory for a (%lld, %lld, %lld) input", (long long)n, (long long)t,
                   (long long)in->x->shape[2]);
}
