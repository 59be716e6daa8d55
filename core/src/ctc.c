/* The CTC loss (ctc.h): per example, log_softmax of the logits, the alpha
 * recursion over the extended label sequence l' (blank, l1, blank, l2, ...,
 * blank; length L = 2 S_b + 1) and, when a gradient is wanted, the beta
 * recursion; all in double precision and log space. With alpha and beta both
 * including the emission at t (PyTorch's convention), the gradient of
 * loss_b = -log p(l | x) with respect to the logits z is
 *   softmax(z)[t, c] - exp(lse_{s : l'_s = c} (alpha_t(s) + beta_t(s)) - lp[t, c] + loss_b)
 * for t < T_b, and 0 beyond. The node saves these per-example gradients;
 * backward scales each example's block by its reduction coefficient and the
 * incoming gradient. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dnn/autograd.h"
#include "dnn/ctc.h"
#include "dnn/error.h"
#include "dnn/parallel.h"

static const char *FN = "dnn.losses.ctc";

static inline double lse2(double a, double b) {
  if (a == -INFINITY) return b;
  if (b == -INFINITY) return a;
  double m = a > b ? a : b;
  return m + log1p(exp(-fabs(a - b)));
}

/* One example: its logits x (T_b rows of C, row stride C), labels ext'd from ids (S_b of them, 0-based), grad
 * (T rows of C, or NULL). Returns the loss (+inf when impossible); -1 (never a loss) when out of memory. */
static double ctc_example(const float *x, int64_t T_b, int64_t C, const int64_t *ids, int64_t S_b, int64_t blank,
                          float *grad, int64_t T, bool zero_infinity) {
  const int64_t L = 2 * S_b + 1;
  if (grad) memset(grad, 0, (size_t)(T * C) * sizeof(float));
  if (T_b == 0) return S_b == 0 ? 0 : (zero_infinity ? 0 : INFINITY);
  double *lp = malloc((size_t)(T_b * C) * sizeof(double));
  double *alpha = malloc((size_t)(T_b * L) * sizeof(double));
  double *beta = grad ? malloc((size_t)(T_b * L) * sizeof(double)) : NULL;
  double *acc = grad ? malloc((size_t)C * sizeof(double)) : NULL;
  int64_t *ext = malloc((size_t)L * sizeof(int64_t));
  double loss = -1;
  if (!lp || !alpha || !ext || (grad && (!beta || !acc))) goto done;
  for (int64_t s = 0; s < L; s++) ext[s] = s % 2 == 0 ? blank : ids[s / 2];
  for (int64_t t = 0; t < T_b; t++) { /* log_softmax */
    const float *row = x + t * C;
    double mx = -INFINITY, se = 0;
    for (int64_t c = 0; c < C; c++) mx = row[c] > mx ? row[c] : mx;
    for (int64_t c = 0; c < C; c++) se += exp(row[c] - mx);
    double lz = mx + log(se);
    for (int64_t c = 0; c < C; c++) lp[t * C + c] = row[c] - lz;
  }
  /* alpha */
  for (int64_t s = 0; s < L; s++) alpha[s] = s < 2 ? lp[ext[s]] : -INFINITY;
  for (int64_t t = 1; t < T_b; t++) {
    const double *prev = alpha + (t - 1) * L;
    double *cur = alpha + t * L;
    for (int64_t s = 0; s < L; s++) {
      double a = prev[s];
      if (s >= 1) a = lse2(a, prev[s - 1]);
      if (s >= 2 && ext[s] != blank && ext[s] != ext[s - 2]) a = lse2(a, prev[s - 2]);
      cur[s] = a == -INFINITY ? -INFINITY : a + lp[t * C + ext[s]];
    }
  }
  const double *last = alpha + (T_b - 1) * L;
  double ll = L > 1 ? lse2(last[L - 1], last[L - 2]) : last[L - 1];
  loss = -ll;
  if (!isfinite(loss) && zero_infinity) loss = 0;
  if (!grad) goto done;
  if (!isfinite(ll)) {
    if (!zero_infinity) /* PyTorch's gradient of an impossible alignment */
      for (int64_t e = 0; e < T_b * C; e++) grad[e] = NAN;
    goto done;
  }
  /* beta */
  for (int64_t s = 0; s < L; s++) beta[(T_b - 1) * L + s] = s >= L - 2 ? lp[(T_b - 1) * C + ext[s]] : -INFINITY;
  for (int64_t t = T_b - 2; t >= 0; t--) {
    const double *next = beta + (t + 1) * L;
    double *cur = beta + t * L;
    for (int64_t s = 0; s < L; s++) {
      double b = next[s];
      if (s + 1 < L) b = lse2(b, next[s + 1]);
      if (s + 2 < L && ext[s] != blank && ext[s + 2] != ext[s]) b = lse2(b, next[s + 2]);
      cur[s] = b == -INFINITY ? -INFINITY : b + lp[t * C + ext[s]];
    }
  }
  /* gradient: the log occupancies alpha + beta summed per class (several s can share one) */
  for (int64_t t = 0; t < T_b; t++) {
    const double *a = alpha + t * L, *bt = beta + t * L, *lpt = lp + t * C;
    for (int64_t c = 0; c < C; c++) acc[c] = -INFINITY;
    for (int64_t s = 0; s < L; s++) acc[ext[s]] = lse2(acc[ext[s]], a[s] + bt[s]);
    float *g = grad + t * C;
    for (int64_t c = 0; c < C; c++) g[c] = (float)(exp(lpt[c]) - (acc[c] == -INFINITY ? 0 : exp(acc[c] - lpt[c] - ll)));
  }
done:
  free(lp);
  free(alpha);
  free(beta);
  free(acc);
  free(ext);
  return loss;
}

static dnn_status ctc_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin) {
  const dnn_tensor *g = grad_out[0];
  const float *gv = dnn_data(g);
  const dnn_tensor *saved = dnn_node_saved(node, 0), *coef = dnn_node_saved(node, 1);
  const bool per_example = node->iargs[0];
  const int64_t n = saved->shape[0], block = saved->shape[1] * saved->shape[2];
  dnn_tensor *d = dnn_empty(3, saved->shape);
  if (!d) return DNN_ENOMEM;
  const float *s = dnn_data(saved), *k = dnn_data(coef);
  float *dp = dnn_data(d);
  for (int64_t b = 0; b < n; b++) {
    float f = (per_example ? gv[b] : gv[0]) * k[b];
    for (int64_t e = 0; e < block; e++) dp[b * block + e] = f * s[b * block + e];
  }
  gin[0] = d;
  return DNN_OK;
}

dnn_tensor *dnn_ctc_loss(const dnn_tensor *labels, dnn_tensor *logits, const int64_t *label_lengths,
                         const int64_t *logit_lengths, const dnn_ctc_options *opt) {
  char a[96], b[96];
  if (logits->ndim != 3) {
    dnn_argerror(2, FN, "expected logits (batch, time, classes), got %s", dnn_shape_str(logits, a, sizeof a));
    return NULL;
  }
  const int64_t N = logits->shape[0], T = logits->shape[1], C = logits->shape[2];
  if (labels->ndim != 2 || labels->shape[0] != N) {
    dnn_argerror(1, FN, "expected labels (%lld, max_label_length) for logits %s, got %s", (long long)N,
                 dnn_shape_str(logits, a, sizeof a), dnn_shape_str(labels, b, sizeof b));
    return NULL;
  }
  if (C < 1 || opt->blank < 0 || opt->blank >= C) {
    dnn_argerror(3, FN, "expected blank in 1..%lld (the classes of logits), got %lld", (long long)C,
                 (long long)opt->blank + 1);
    return NULL;
  }
  if ((int)opt->reduction < DNN_CTC_MEAN || opt->reduction > DNN_CTC_NONE) {
    dnn_argerror(3, FN, "expected a reduction (mean, sum, none), got %d", (int)opt->reduction);
    return NULL;
  }
  const int64_t S = labels->shape[1];
  float *lab = malloc((size_t)(N * S + 1) * sizeof(float));
  float *x = malloc((size_t)(N * T * C + 1) * sizeof(float));
  int64_t *ids = malloc((size_t)(N * S + 1) * sizeof(int64_t));
  int64_t *slen = malloc((size_t)(N + 1) * sizeof(int64_t)), *tlen = malloc((size_t)(N + 1) * sizeof(int64_t));
  double *losses = malloc((size_t)(N + 1) * sizeof(double));
  dnn_tensor *out = NULL, *grad = NULL, *coef = NULL;
  if (!lab || !x || !ids || !slen || !tlen || !losses) {
    dnn_error(DNN_ENOMEM, FN, "out of memory");
    goto done;
  }
  dnn_gather_to(labels, lab);
  for (int64_t i = 0; i < N; i++) {
    int64_t len = S;
    if (label_lengths) {
      len = label_lengths[i];
      if (len < 0 || len > S) {
        dnn_argerror(3, FN, "expected label_lengths[%lld] in 0..%lld (the labels' length), got %lld", (long long)i + 1,
                     (long long)S, (long long)len);
        goto done;
      }
    } else {
      for (int64_t j = 0; j < S; j++)
        if (lab[i * S + j] == (float)(opt->base - 1)) {
          len = j;
          break;
        }
    }
    slen[i] = len;
    int64_t tl = logit_lengths ? logit_lengths[i] : T;
    if (tl < 0 || tl > T) {
      dnn_argerror(3, FN, "expected logit_lengths[%lld] in 0..%lld (the logits' time steps), got %lld",
                   (long long)i + 1, (long long)T, (long long)tl);
      goto done;
    }
    tlen[i] = tl;
    for (int64_t j = 0; j < len; j++) {
      float v = lab[i * S + j];
      double id = (double)v - opt->base;
      if (!(id >= 0 && id < (double)C && id == floor(id)) || (int64_t)id == opt->blank) {
        dnn_argerror(1, FN, "expected label ids in %d..%lld other than the blank (%lld), got %g at [%lld][%lld]",
                     opt->base, (long long)C - 1 + opt->base, (long long)opt->blank + opt->base, (double)v,
                     (long long)i + 1, (long long)j + 1);
        goto done;
      }
      ids[i * S + j] = (int64_t)id;
    }
  }
  dnn_gather_to(logits, x);
  const bool want_grad = dnn_needs_record(1, &logits);
  if (want_grad) {
    int64_t one = N;
    grad = dnn_empty(3, logits->shape);
    coef = dnn_empty(1, &one);
    if (!grad || !coef) {
      dnn_error(DNN_ENOMEM, FN, "out of memory");
      goto done;
    }
  }
  float *gp = grad ? dnn_data(grad) : NULL;
  int failed = 0;
  const int64_t work = N * T * C;
#pragma omp parallel for schedule(dynamic) if (N > 1 && work > DNN_PARALLEL_GRAIN / 8)
  for (int64_t i = 0; i < N; i++) {
    losses[i] = ctc_example(x + i * T * C, tlen[i], C, ids + i * S, slen[i], opt->blank, gp ? gp + i * T * C : NULL, T,
                            opt->zero_infinity);
    if (losses[i] < 0) {
#pragma omp atomic write
      failed = 1;
    }
  }
  if (failed) {
    dnn_error(DNN_ENOMEM, FN, "out of memory");
    goto done;
  }
  const bool none = opt->reduction == DNN_CTC_NONE;
  out = none ? dnn_empty(1, &logits->shape[0]) : dnn_scalar(0);
  if (!out) goto done;
  double total = 0;
  for (int64_t i = 0; i < N; i++) {
    double k = opt->reduction == DNN_CTC_MEAN ? 1.0 / ((double)N * (double)(slen[i] > 1 ? slen[i] : 1)) : 1.0;
    if (none)
      dnn_data(out)[i] = (float)losses[i];
    else
      total += k * losses[i];
    if (coef) dnn_data(coef)[i] = (float)k;
  }
  if (!none) dnn_data(out)[0] = (float)total;
  if (want_grad) {
    dnn_node *node = dnn_record(out, FN, ctc_backward, 1, &logits);
    dnn_status st = DNN_ENOMEM;
    if (node) {
      node->iargs[0] = none;
      st = dnn_node_save(node, grad); /* the node takes over both references */
      if (st == DNN_OK)
        st = dnn_node_save(node, coef);
      else
        dnn_tensor_release(coef);
      grad = coef = NULL;
    }
    if (st != DNN_OK) {
      dnn_tensor_release(out);
      out = NULL;
    }
  }
done:
  dnn_tensor_release(grad);
  dnn_tensor_release(coef);
  free(lab);
  free(x);
  free(ids);
  free(slen);
  free(tlen);
  free(losses);
  return out;
}
