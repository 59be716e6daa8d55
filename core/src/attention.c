/* Scaled dot-product attention (attention.h): FlashAttention-2 on the CPU.
 *
 * One (batch, head) pair is one problem: Q (Tq, d), K (Tk, d), V (Tk, dv),
 * each read in place through its row stride (the rows are contiguous; the
 * GEMMs take the stride as their leading dimension).
 *
 * Forward, per block of BQ query rows (the units run in parallel over
 * batch x heads x query blocks), with O the block's output rows, m the
 * running row maxima and l the running sums:
 *   for each block of BK keys:  S = scale Q K^T, masked to -inf
 *                               m' = max(m, rowmax S), P = e^(S - m')
 *                               l = l e^(m - m') + rowsum P
 *                               O = O e^(m - m') + P V
 *   O /= l, lse = m + log l
 * Only O and lse leave the unit: O(T d) memory. Causal blocks wholly above
 * the diagonal are skipped.
 *
 * Backward (FlashAttention-2's), with D_i = rowsum(dO_i * O_i):
 *   P = e^(S - lse), dV += P^T dO, dP = dO V^T, dS = P (dP - D),
 *   dQ += scale dS K, dK += scale dS^T Q
 * The units are (batch, head, span of key blocks): each owns its key rows'
 * dK and dV. dQ sums over every key block; a pair whose keys are split over
 * several units gives each its own dQ buffer, summed in span order after, so
 * the result does not depend on the thread count. When the scores are an
 * output, their gradient G adds to dP and rowsum(G P) to D.
 *
 * The block products go to OpenBLAS's sgemm (single-threaded inside the
 * parallel region): measured against vectorized loops in bench/attention.lua
 * (see docs/CHOICES.md). */
#include "dnn/attention.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dnn/autograd.h"
#include "dnn/error.h"
#include "dnn/nn.h"
#include "dnn/ops.h"
#include "dnn/parallel.h"
#include "kernels.h"
#include "fast_exp.h"

enum { BQ = 64, BK = 64 };

/* Units of backward work wanted at least, whatever the thread count: a pair's keys are split until there are
 * this many (bounded by its key blocks). Fixed, so that results do not depend on the threads. */
enum { MIN_BACKWARD_UNITS = 16 };

/* ---- the problem ---- */

typedef struct {
  const float *data;
  int64_t sb, sh, st; /* strides of the batch, head and row dims; the last dim is contiguous */
} operand;

typedef struct {
  int64_t b, h, tq, tk, d, dv;
  operand q, k, v;
  const float *mask; /* NULL: none */
  int64_t mb, mh, mi, mj; /* its strides over (batch, head, query, key), 0 along broadcast dims */
  float scale;
  bool causal;
} problem;

static const float *rows_of(const problem *p, const operand *o, int64_t bh, int64_t t) {
  return o->data + (bh / p->h) * o->sb + (bh % p->h) * o->sh + t * o->st;
}

static operand operand_of(const dnn_tensor *t) {
  return (operand){dnn_data(t), t->stride[0], t->stride[1], t->stride[2]};
}

/* C (m, n) = alpha op(A) op(B) + beta C, row-major, with leading dims. */
static void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                 const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < n; j++) c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j];
    return;
  }
  dnn_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/* s (m, n; row stride BK) = scale Q[i0..] K[j0..]^T, with -inf where key j0 + j is not allowed for query i0 + i. */
static void block_scores(const problem *p, int64_t bh, int64_t i0, int64_t m, int64_t j0, int64_t n, float *s) {
  gemm(false, true, m, n, p->d, p->scale, rows_of(p, &p->q, bh, i0), p->q.st, rows_of(p, &p->k, bh, j0), p->k.st, 0, s,
       BK);
  if (p->mask) {
    const float *mrow = p->mask + (bh / p->h) * p->mb + (bh % p->h) * p->mh + i0 * p->mi + j0 * p->mj;
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < n; j++)
        if (mrow[i * p->mi + j * p->mj] == 0) s[i * BK + j] = -INFINITY;
  }
  if (p->causal && j0 + n - 1 > i0) /* the block reaches above the diagonal */
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = i0 + i + 1 > j0 ? i0 + i + 1 - j0 : 0; j < n; j++) s[i * BK + j] = -INFINITY;
}

/* The keys query rows [i0, i0 + m) may see: all, or up to the diagonal. */
static int64_t keys_seen(const problem *p, int64_t i0, int64_t m) {
  return p->causal && i0 + m < p->tk ? i0 + m : p->tk;
}

/* ---- forward ---- */

/* One row of a key block in the running softmax: s becomes P = e^(s - m'), the row of o is rescaled, *mx and *sum
 * move on. A row with nothing allowed yet keeps m = -inf and gets P = 0. */
static void online_softmax_row(float *s, int64_t n, float *mx, float *sum, float *o, int64_t dv) {
  float m_new = *mx;
  for (int64_t j = 0; j < n; j++) m_new = fmaxf(m_new, s[j]);
  if (m_new == -INFINITY) {
    memset(s, 0, (size_t)n * sizeof *s);
    return;
  }
  for (int64_t j = 0; j < n; j++) s[j] = s[j] > -INFINITY ? dnn_exp_approx(s[j] - m_new) : 0;
  float added = 0;
  for (int64_t j = 0; j < n; j++) added += s[j];
  float rescale = expf(*mx - m_new); /* 0 when *mx was -inf: o and *sum are 0 then */
  if (rescale != 1)
    for (int64_t c = 0; c < dv; c++) o[c] *= rescale;
  *sum = *sum * rescale + added;
  *mx = m_new;
}

/* Output rows [i0, i0 + m) of pair bh and their log-sum-exp (+inf for a row with no allowed key: its output stays
 * zeros, and e^(s - lse) = 0 in backward). s: a BQ x BK workspace. */
static void forward_unit(const problem *p, int64_t bh, int64_t i0, float *out, float *lse, float *s) {
  int64_t m = p->tq - i0 < BQ ? p->tq - i0 : BQ, dv = p->dv, keys = keys_seen(p, i0, m);
  float *o = out + (bh * p->tq + i0) * dv, mx[BQ], sum[BQ];
  memset(o, 0, (size_t)(m * dv) * sizeof *o);
  for (int64_t i = 0; i < m; i++) mx[i] = -INFINITY, sum[i] = 0;
  for (int64_t j0 = 0; j0 < keys; j0 += BK) {
    int64_t n = keys - j0 < BK ? keys - j0 : BK;
    block_scores(p, bh, i0, m, j0, n, s);
    for (int64_t i = 0; i < m; i++) online_softmax_row(s + i * BK, n, &mx[i], &sum[i], o + i * dv, dv);
    gemm(false, false, m, dv, n, 1, s, BK, rows_of(p, &p->v, bh, j0), p->v.st, 1, o, dv);
  }
  float *l = lse + bh * p->tq + i0;
  for (int64_t i = 0; i < m; i++) {
    if (sum[i] == 0) {
      l[i] = INFINITY;
      continue;
    }
    float inv = 1 / sum[i];
    for (int64_t c = 0; c < dv; c++) o[i * dv + c] *= inv;
    l[i] = mx[i] + logf(sum[i]);
  }
}

/* s (m, n) = e^(s - lse_i), 0 where masked. */
static void probabilities(float *s, int64_t m, int64_t n, const float *lse) {
  for (int64_t i = 0; i < m; i++) {
    float *r = s + i * BK, l = lse[i];
    for (int64_t j = 0; j < n; j++) r[j] = r[j] > -INFINITY ? dnn_exp_approx(r[j] - l) : 0;
  }
}

/* The scores (B, H, Tq, Tk) of rows [i0, i0 + m) of pair bh, from their log-sum-exp. */
static void scores_unit(const problem *p, int64_t bh, int64_t i0, const float *lse, float *scores, float *s) {
  int64_t m = p->tq - i0 < BQ ? p->tq - i0 : BQ, keys = keys_seen(p, i0, m);
  float *rows = scores + (bh * p->tq + i0) * p->tk;
  for (int64_t i = 0; i < m; i++) memset(rows + i * p->tk, 0, (size_t)p->tk * sizeof *rows);
  for (int64_t j0 = 0; j0 < keys; j0 += BK) {
    int64_t n = keys - j0 < BK ? keys - j0 : BK;
    block_scores(p, bh, i0, m, j0, n, s);
    probabilities(s, m, n, lse + bh * p->tq + i0);
    for (int64_t i = 0; i < m; i++) memcpy(rows + i * p->tk + j0, s + i * BK, (size_t)n * sizeof *s);
  }
}

static int64_t blocks(int64_t n, int64_t size) { return (n + size - 1) / size; }

/* Runs the forward units (and the scores' when wanted) over the OpenMP team. */
static bool run_forward(const problem *p, float *out, float *lse, float *scores) {
  int64_t nqb = blocks(p->tq, BQ), units = p->b * p->h * nqb;
  bool ok = true;
  double work = (double)p->b * p->h * p->tq * p->tk * (double)(p->d + p->dv);
#pragma omp parallel if (work > DNN_PARALLEL_GRAIN)
  {
    float *s = malloc(BQ * BK * sizeof *s);
    if (!s) {
#pragma omp atomic write
      ok = false;
    }
#pragma omp for schedule(dynamic)
    for (int64_t u = 0; u < units; u++) {
      if (!s) continue;
      int64_t bh = u / nqb, i0 = u % nqb * BQ;
      forward_unit(p, bh, i0, out, lse, s);
      if (scores) scores_unit(p, bh, i0, lse, scores, s);
    }
    free(s);
  }
  return ok;
}

/* ---- backward ---- */

typedef struct {
  const float *dout; /* (B, H, Tq, dv), contiguous */
  const float *lse; /* (B, H, Tq) */
  const float *delta; /* (B, H, Tq): rowsum(dO O) (+ rowsum(G P) with scores) */
  const float *gscores; /* (B, H, Tq, Tk) or NULL */
  float *dq; /* (splits, B, H, Tq, d): one buffer per span of key blocks */
  float *dk, *dv; /* (B, H, Tk, d), (B, H, Tk, dv); NULL where not wanted */
  bool want_dq;
  int64_t splits;
} grads;

/* The gradients from key rows [j0, j0 + n) of pair bh: their dK and dV, and their part of dQ into dq (the pair's
 * (Tq, d) buffer of this span). s, dp: BQ x BK workspaces. */
static void backward_keys(const problem *p, const grads *g, int64_t bh, int64_t j0, int64_t n, float *dq, float *s,
                          float *dp) {
  int64_t d = p->d, dv = p->dv;
  float *dk = g->dk ? g->dk + (bh * p->tk + j0) * d : NULL, *dvr = g->dv ? g->dv + (bh * p->tk + j0) * dv : NULL;
  const float *krows = rows_of(p, &p->k, bh, j0), *vrows = rows_of(p, &p->v, bh, j0);
  bool want_ds = g->want_dq || dk;
  for (int64_t i0 = p->causal ? j0 / BQ * BQ : 0; i0 < p->tq; i0 += BQ) {
    int64_t m = p->tq - i0 < BQ ? p->tq - i0 : BQ;
    const float *dout = g->dout + (bh * p->tq + i0) * dv, *delta = g->delta + bh * p->tq + i0;
    block_scores(p, bh, i0, m, j0, n, s);
    probabilities(s, m, n, g->lse + bh * p->tq + i0);
    if (dvr) gemm(true, false, n, dv, m, 1, s, BK, dout, dv, 1, dvr, dv);
    if (!want_ds) continue;
    gemm(false, true, m, n, dv, 1, dout, dv, vrows, p->v.st, 0, dp, BK);
    for (int64_t i = 0; i < m; i++) {
      const float *gs = g->gscores ? g->gscores + (bh * p->tq + i0 + i) * p->tk + j0 : NULL;
      float *r = dp + i * BK;
      const float *pr = s + i * BK;
      if (gs)
        for (int64_t j = 0; j < n; j++) r[j] += gs[j];
      for (int64_t j = 0; j < n; j++) r[j] = pr[j] * (r[j] - delta[i]);
    }
    if (g->want_dq) gemm(false, false, m, d, n, p->scale, dp, BK, krows, p->k.st, 1, dq + i0 * d, d);
    if (dk) gemm(true, false, n, d, m, p->scale, dp, BK, rows_of(p, &p->q, bh, i0), p->q.st, 1, dk, d);
  }
}

/* Unit u: pair u / splits, its span u % splits of key blocks. */
static void backward_unit(const problem *p, const grads *g, int64_t u, float *s, float *dp) {
  int64_t nkb = blocks(p->tk, BK), bh = u / g->splits, span = u % g->splits;
  int64_t first = span * nkb / g->splits, last = (span + 1) * nkb / g->splits;
  float *dq = g->dq + (span * p->b * p->h + bh) * p->tq * p->d;
  for (int64_t kb = first; kb < last; kb++) {
    int64_t j0 = kb * BK, n = p->tk - j0 < BK ? p->tk - j0 : BK;
    backward_keys(p, g, bh, j0, n, dq, s, dp);
  }
}

static bool run_backward(const problem *p, const grads *g) {
  int64_t units = p->b * p->h * g->splits;
  bool ok = true;
  double work = (double)p->b * p->h * p->tq * p->tk * (double)(p->d + p->dv);
#pragma omp parallel if (work > DNN_PARALLEL_GRAIN)
  {
    float *s = malloc(2 * BQ * BK * sizeof *s);
    if (!s) {
#pragma omp atomic write
      ok = false;
    }
#pragma omp for schedule(dynamic)
    for (int64_t u = 0; u < units; u++)
      if (s) backward_unit(p, g, u, s, s + BQ * BK);
    free(s);
  }
  return ok;
}

/* ---- the node ---- */

/* Saved: the output (an alias), the log-sum-exp, then the mask when there is one (iargs[2]), then an alias of the
 * scores when they are an output (iargs[1]). iargs[0]: causal; fargs[0]: the scale. */
enum { SAVED_OUT, SAVED_LSE, SAVED_REST };

static dnn_tensor *saved_mask(const dnn_node *node) { return node->iargs[2] ? dnn_node_saved(node, SAVED_REST) : NULL; }

static dnn_tensor *saved_scores(const dnn_node *node) {
  return node->iargs[1] ? dnn_node_saved(node, SAVED_REST + (node->iargs[2] != 0)) : NULL;
}

static problem problem_of(const dnn_tensor *q, const dnn_tensor *k, const dnn_tensor *v, const dnn_tensor *mask,
                          float scale, bool causal) {
  problem p = {q->shape[0],   q->shape[1],   q->shape[2], k->shape[2], q->shape[3], v->shape[3], operand_of(q),
               operand_of(k), operand_of(v), NULL,        0,           0,           0,           0,
               scale,         causal};
  if (mask) {
    int64_t st[4] = {0, 0, 0, 0};
    for (int a = 0; a < mask->ndim; a++) {
      int to = 4 - mask->ndim + a;
      st[to] = mask->shape[a] == 1 ? 0 : mask->stride[a];
    }
    p.mask = dnn_data(mask), p.mb = st[0], p.mh = st[1], p.mi = st[2], p.mj = st[3];
  }
  return p;
}

/* delta_r = sum_c dO O over each row, plus sum_j G P with scores. */
static void row_deltas(const dnn_tensor *dout, const dnn_tensor *out, const dnn_tensor *gs, const dnn_tensor *ps,
                       float *delta) {
  int64_t rows = dnn_numel(out) / out->shape[3], dv = out->shape[3], tk = ps ? ps->shape[3] : 0;
  const float *a = dnn_data(dout), *b = dnn_data(out);
  for (int64_t r = 0; r < rows; r++) {
    float acc = 0;
    for (int64_t c = 0; c < dv; c++) acc += a[r * dv + c] * b[r * dv + c];
    if (gs)
      for (int64_t j = 0; j < tk; j++) acc += dnn_data(gs)[r * tk + j] * dnn_data(ps)[r * tk + j];
    delta[r] = acc;
  }
}

/* The spans each pair's keys are split into for backward. */
static int64_t backward_splits(const problem *p) {
  int64_t pairs = p->b * p->h, nkb = blocks(p->tk, BK), want = (MIN_BACKWARD_UNITS + pairs - 1) / pairs;
  int64_t splits = want < nkb ? want : nkb;
  return splits > 0 ? splits : 1;
}

/* Sums the spans' dQ buffers into the first, in span order. */
static void sum_spans(float *dq, int64_t splits, int64_t count) {
  for (int64_t s = 1; s < splits; s++)
    for (int64_t i = 0; i < count; i++) dq[i] += dq[s * count + i];
}

static dnn_status attention_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin) {
  dnn_tensor *q = node->inputs[0], *k = node->inputs[1], *v = node->inputs[2], *scores = saved_scores(node);
  problem p = problem_of(q, k, v, saved_mask(node), (float)node->fargs[0], node->iargs[0]);
  grads g = {dnn_data(grad_out[0]),
             dnn_data(dnn_node_saved(node, SAVED_LSE)),
             NULL,
             scores ? dnn_data(grad_out[1]) : NULL,
             NULL,
             NULL,
             NULL,
             dnn_node_needs_grad(node, 0),
             backward_splits(&p)};
  int64_t rows = p.b * p.h * p.tq, dq_count = rows * p.d;
  float *delta = malloc((size_t)(rows > 0 ? rows : 1) * sizeof *delta);
  float *dq = calloc((size_t)(g.splits * dq_count > 0 ? g.splits * dq_count : 1), sizeof *dq);
  for (int i = 1; i < 3; i++)
    if (dnn_node_needs_grad(node, i)) gin[i] = dnn_zeros_like(node->inputs[i]);
  bool ok = delta && dq && (gin[1] || !dnn_node_needs_grad(node, 1)) && (gin[2] || !dnn_node_needs_grad(node, 2));
  if (ok) {
    row_deltas(grad_out[0], dnn_node_saved(node, SAVED_OUT), scores ? grad_out[1] : NULL, scores, delta);
    g.delta = delta, g.dq = dq;
    g.dk = gin[1] ? dnn_data(gin[1]) : NULL, g.dv = gin[2] ? dnn_data(gin[2]) : NULL;
    ok = run_backward(&p, &g);
  }
  if (ok && g.want_dq) {
    sum_spans(dq, g.splits, dq_count);
    gin[0] = dnn_from_data(dq, 4, q->shape);
    ok = gin[0] != NULL;
  }
  free(delta);
  free(dq);
  return ok ? DNN_OK : dnn_error(DNN_ENOMEM, node->op, "out of memory in backward");
}

/* ---- the decomposition, for gradients of gradients ---- */

/* (B, H, Tq, Tk): 0 where allowed, -1e30 where not (a large finite number: a row with nothing allowed stays finite);
 * and (B, H, Tq, 1): 1 for a row with a key allowed, else 0. Constants: no gradient. */
static dnn_status allowed_tensors(const problem *p, dnn_tensor **bias, dnn_tensor **any) {
  int64_t shape[4] = {p->b, p->h, p->tq, p->tk}, row_shape[4] = {p->b, p->h, p->tq, 1};
  *bias = dnn_empty(4, shape), *any = dnn_empty(4, row_shape);
  if (!*bias || !*any) return DNN_ENOMEM;
  float *b = dnn_data(*bias), *a = dnn_data(*any);
  for (int64_t bh = 0; bh < p->b * p->h; bh++)
    for (int64_t i = 0; i < p->tq; i++) {
      float *row = b + (bh * p->tq + i) * p->tk;
      bool some = false;
      for (int64_t j = 0; j < p->tk; j++) {
        const float *mv = p->mask ? p->mask + (bh / p->h) * p->mb + (bh % p->h) * p->mh + i * p->mi + j * p->mj : NULL;
        bool ok = (!p->causal || j <= i) && (!mv || *mv != 0);
        row[j] = ok ? 0 : -1e30f;
        some = some || ok;
      }
      a[bh * p->tq + i] = some;
    }
  return DNN_OK;
}

/* out = (softmax(scale q k^T + bias) * any) v, from recorded ops. */
static dnn_status attention_decompose(dnn_node *node, dnn_tensor *const *inputs, dnn_tensor **outputs) {
  problem p = problem_of(inputs[0], inputs[1], inputs[2], saved_mask(node), (float)node->fargs[0], node->iargs[0]);
  dnn_tensor *bias = NULL, *any = NULL, *t[6] = {NULL};
  dnn_status st = allowed_tensors(&p, &bias, &any);
  if (st == DNN_OK) {
    t[0] = dnn_transpose(inputs[1], 2, 3);
    t[1] = t[0] ? dnn_matmul(inputs[0], t[0]) : NULL;
    t[2] = t[1] ? dnn_affine(t[1], p.scale, 0) : NULL;
    t[3] = t[2] ? dnn_add(t[2], bias) : NULL;
    t[4] = t[3] ? dnn_softmax(t[3], -1) : NULL;
    t[5] = t[4] ? dnn_mul(t[4], any) : NULL;
    outputs[0] = t[5] ? dnn_matmul(t[5], inputs[2]) : NULL;
    if (node->iargs[1]) outputs[1] = dnn_tensor_retain(t[5]);
    st = outputs[0] ? DNN_OK : dnn_errcode();
  }
  for (int i = 0; i < 6; i++) dnn_tensor_release(t[i]);
  dnn_tensor_release(bias);
  dnn_tensor_release(any);
  return st;
}

/* ---- argument checks ---- */

static dnn_status check_args(const dnn_attention_config *cfg, const dnn_tensor *q, const dnn_tensor *k,
                             const dnn_tensor *v, const dnn_tensor *mask) {
  char a[96], b[96], c[96];
  static const char *const names[] = {"q (batch, heads, Tq, d)", "k (batch, heads, Tk, d)", "v (batch, heads, Tk, dv)"};
  const dnn_tensor *in[3] = {q, k, v};
  for (int i = 0; i < 3; i++) {
    if (!in[i]) return dnn_argerror(i + 1, "attention", "expected a tensor, got NULL");
    if (in[i]->ndim != 4)
      return dnn_argerror(i + 1, "attention", "expected a 4-d %s, got %s", names[i], dnn_shape_str(in[i], a, sizeof a));
  }
  if (q->shape[3] < 1 || v->shape[3] < 1)
    return dnn_argerror(q->shape[3] < 1 ? 1 : 3, "attention", "expected at least one feature, got q %s and v %s",
                        dnn_shape_str(q, a, sizeof a), dnn_shape_str(v, b, sizeof b));
  if (k->shape[0] != q->shape[0] || k->shape[1] != q->shape[1] || k->shape[3] != q->shape[3])
    return dnn_argerror(2, "attention", "expected k (%lld, %lld, Tk, %lld) to match q %s, got %s",
                        (long long)q->shape[0], (long long)q->shape[1], (long long)q->shape[3],
                        dnn_shape_str(q, a, sizeof a), dnn_shape_str(k, b, sizeof b));
  if (v->shape[0] != k->shape[0] || v->shape[1] != k->shape[1] || v->shape[2] != k->shape[2])
    return dnn_argerror(3, "attention", "expected v (%lld, %lld, %lld, dv) to match k %s, got %s",
                        (long long)k->shape[0], (long long)k->shape[1], (long long)k->shape[2],
                        dnn_shape_str(k, a, sizeof a), dnn_shape_str(v, b, sizeof b));
  if (mask) {
    int64_t full[4] = {q->shape[0], q->shape[1], q->shape[2], k->shape[2]};
    bool fits = mask->ndim >= 2 && mask->ndim <= 4;
    for (int d = 0; fits && d < mask->ndim; d++) {
      int64_t want = full[4 - mask->ndim + d];
      fits = mask->shape[d] == want || mask->shape[d] == 1;
    }
    if (!fits)
      return dnn_argerror(4, "attention",
                          "expected a mask broadcastable to (%lld, %lld, %lld, %lld) for q %s and k %s, "
                          "got %s",
                          (long long)full[0], (long long)full[1], (long long)full[2], (long long)full[3],
                          dnn_shape_str(q, a, sizeof a), dnn_shape_str(k, b, sizeof b),
                          dnn_shape_str(mask, c, sizeof c));
  }
  if (!isfinite(cfg->scale)) return dnn_argerror(5, "attention", "expected a finite scale, got %g", (double)cfg->scale);
  return DNN_OK;
}

/* t itself (retained) when its last dim is contiguous, else a contiguous copy. */
static dnn_tensor *rows_contiguous(dnn_tensor *t) {
  if (t->stride[t->ndim - 1] == 1 || t->shape[t->ndim - 1] <= 1) return dnn_tensor_retain(t);
  return dnn_contiguous(t);
}

/* ---- the op ---- */

static dnn_status record(const dnn_attention_config *cfg, float scale, dnn_tensor *const *inputs, dnn_tensor *mask,
                         dnn_tensor **outputs, dnn_tensor *lse) {
  if (!dnn_needs_record(3, inputs)) return DNN_OK;
  dnn_node *node = dnn_record_outputs(cfg->return_scores ? 2 : 1, outputs, "attention", attention_backward, 3, inputs);
  if (!node) return dnn_errcode() != DNN_OK ? dnn_errcode() : DNN_ENOMEM;
  node->decompose = attention_decompose;
  node->fargs[0] = scale;
  node->iargs[0] = cfg->causal;
  node->iargs[1] = cfg->return_scores;
  node->iargs[2] = mask != NULL;
  dnn_status st = dnn_node_save(node, dnn_alias(outputs[0]));
  if (st == DNN_OK) st = dnn_node_save(node, dnn_tensor_retain(lse));
  if (st == DNN_OK && mask) st = dnn_node_save(node, dnn_tensor_retain(mask));
  if (st == DNN_OK && cfg->return_scores) st = dnn_node_save(node, dnn_alias(outputs[1]));
  return st;
}

dnn_status dnn_attention(const dnn_attention_config *cfg, dnn_tensor *q, dnn_tensor *k, dnn_tensor *v, dnn_tensor *mask,
                         dnn_tensor **outputs) {
  outputs[0] = NULL;
  if (cfg->return_scores) outputs[1] = NULL;
  dnn_status st = check_args(cfg, q, k, v, mask);
  if (st != DNN_OK) return st;
  float scale = cfg->scale != 0 ? cfg->scale : 1 / sqrtf((float)(q->shape[3] > 0 ? q->shape[3] : 1));
  dnn_tensor *in[3] = {rows_contiguous(q), rows_contiguous(k), rows_contiguous(v)};
  int64_t b = q->shape[0], h = q->shape[1], tq = q->shape[2], tk = k->shape[2];
  int64_t oshape[4] = {b, h, tq, v->shape[3]}, sshape[4] = {b, h, tq, tk};
  dnn_tensor *lse = dnn_empty(3, oshape);
  if (in[0] && in[1] && in[2] && lse) {
    outputs[0] = dnn_empty(4, oshape);
    if (cfg->return_scores) outputs[1] = dnn_empty(4, sshape);
  }
  st = outputs[0] && (!cfg->return_scores || outputs[1]) ? DNN_OK : DNN_ENOMEM;
  if (st == DNN_OK) {
    problem p = problem_of(in[0], in[1], in[2], mask, scale, cfg->causal);
    if (!run_forward(&p, dnn_data(outputs[0]), dnn_data(lse), cfg->return_scores ? dnn_data(outputs[1]) : NULL))
      st = DNN_ENOMEM;
  }
  if (st == DNN_OK) st = record(cfg, scale, in, mask, outputs, lse);
  for (int i = 0; i < 3; i++) dnn_tensor_release(in[i]);
  dnn_tensor_release(lse);
  if (st == DNN_OK) return DNN_OK;
  for (int i = 0; i < (cfg->return_scores ? 2 : 1); i++) {
    dnn_tensor_release(outputs[i]);
    outputs[i] = NULL;
  }
  if (st == DNN_ENOMEM)
    return dnn_error(DNN_ENOMEM, "attention", "out of memory for q (%lld, %lld, %lld, %lld) and %lld keys",
                     (long long)b, (long long)h, (long long)tq, (long long)q->shape[3], (long long)tk);
  return st;
}
