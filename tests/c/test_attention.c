/* Fused attention (attention.h): forward values and scores against a naive
 * per-row softmax reference (masks broadcast over batch or heads, causal,
 * Tq != Tk, several blocks, strided inputs), finite-difference checks of dq,
 * dk, dv with and without masks and through the scores, a row with no
 * allowed key (zeros, finite gradients), results that do not depend on the
 * thread count, gradients of gradients through the decomposition, the
 * version rule, and argument errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tensor_check.h"
#include "dnn/dnn.h"
#include "gradcheck.h"

/* A tensor of varied values in about [-scale, scale]. */
static dnn_tensor *varied(int ndim, const int64_t *shape, int salt, float scale) {
  dnn_tensor *t = dnn_empty(ndim, shape);
  for (int64_t i = 0; i < dnn_numel(t); i++) dnn_data(t)[i] = (float)sin(0.7 * (double)i + salt) * scale;
  return t;
}

/* One case: sizes, the mask's shape (ndim 0: none) and whether it is causal. */
typedef struct {
  const char *name;
  int64_t b, h, tq, tk, d, dv;
  int mask_ndim;
  int64_t mask_shape[4];
  bool causal, scores;
} att_case;

static const att_case cases[] = {
    {"plain", 2, 2, 3, 4, 3, 2, 0, {0}, false, false},
    {"causal", 1, 2, 4, 4, 3, 3, 0, {0}, true, false},
    {"causal Tq < Tk", 1, 1, 3, 5, 2, 2, 0, {0}, true, false},
    {"mask (B, 1, Tq, Tk)", 2, 2, 3, 4, 2, 3, 4, {2, 1, 3, 4}, false, false},
    {"mask (H, Tq, Tk) and causal", 2, 2, 4, 4, 2, 2, 3, {2, 4, 4}, true, false},
    {"mask (B, 1, 1, Tk), scores", 2, 1, 3, 5, 2, 2, 4, {2, 1, 1, 5}, false, true},
    {"several blocks", 1, 2, 67, 70, 3, 2, 0, {0}, false, false},
    {"several blocks, causal, mask", 1, 1, 70, 66, 2, 2, 2, {70, 66}, true, false},
    {"several key blocks, scores", 1, 1, 3, 70, 2, 2, 4, {1, 1, 1, 70}, false, true},
};
#define N_CASES ((int)(sizeof cases / sizeof *cases))

/* A 0/1 mask with a varied pattern; row 0 of every head is fully masked where row_free. */
static dnn_tensor *make_mask(const att_case *c, bool row_free) {
  if (!c->mask_ndim) return NULL;
  dnn_tensor *m = dnn_empty(c->mask_ndim, c->mask_shape);
  int64_t tk = c->mask_shape[c->mask_ndim - 1];
  for (int64_t i = 0; i < dnn_numel(m); i++) {
    int64_t j = i % tk, row = i / tk;
    dnn_data(m)[i] = (i * 5 + 3) % 7 < 5 || j == row % tk ? 1 : 0;
  }
  if (row_free && c->mask_ndim == 4)
    for (int64_t i = 0; i < dnn_numel(m); i += c->mask_shape[2] * tk)
      for (int64_t j = 0; j < tk; j++) dnn_data(m)[i + j] = 0;
  return m;
}

static bool allowed(const att_case *c, const dnn_tensor *mask, int64_t b, int64_t h, int64_t i, int64_t j) {
  if (c->causal && j > i) return false;
  if (!mask) return true;
  int64_t idx[4] = {b, h, i, j}, off = 0;
  for (int a = 0; a < mask->ndim; a++) {
    int64_t v = idx[4 - mask->ndim + a];
    off += (mask->shape[a] == 1 ? 0 : v) * mask->stride[a];
  }
  return dnn_data(mask)[off] != 0;
}

/* out (B, H, Tq, dv) and p (B, H, Tq, Tk) by the textbook formula in double, one row at a time. */
static void reference(const att_case *c, const dnn_tensor *q, const dnn_tensor *k, const dnn_tensor *v,
                      const dnn_tensor *mask, float *out, float *p) {
  double scale = 1 / sqrt((double)c->d);
  double *s = malloc((size_t)c->tk * sizeof *s);
  for (int64_t b = 0; b < c->b; b++)
    for (int64_t h = 0; h < c->h; h++)
      for (int64_t i = 0; i < c->tq; i++) {
        int64_t bh = b * c->h + h, row = bh * c->tq + i;
        const float *qi = dnn_data(q) + row * c->d;
        double mx = -INFINITY, sum = 0;
        for (int64_t j = 0; j < c->tk; j++) {
          const float *kj = dnn_data(k) + (bh * c->tk + j) * c->d;
          double dot = 0;
          for (int64_t e = 0; e < c->d; e++) dot += (double)qi[e] * kj[e];
          s[j] = allowed(c, mask, b, h, i, j) ? dot * scale : -INFINITY;
          mx = fmax(mx, s[j]);
        }
        for (int64_t j = 0; j < c->tk; j++) sum += s[j] == -INFINITY ? 0 : exp(s[j] - mx);
        for (int64_t e = 0; e < c->dv; e++) out[row * c->dv + e] = 0;
        for (int64_t j = 0; j < c->tk; j++) {
          double pj = s[j] == -INFINITY ? 0 : exp(s[j] - mx) / sum;
          p[row * c->tk + j] = (float)pj;
          for (int64_t e = 0; e < c->dv; e++)
            out[row * c->dv + e] += (float)(pj * dnn_data(v)[(bh * c->tk + j) * c->dv + e]);
        }
      }
  free(s);
}

typedef struct {
  dnn_tensor *q, *k, *v, *mask;
} att_args;

static att_args make_args(const att_case *c, int salt, bool row_free) {
  int64_t qs[] = {c->b, c->h, c->tq, c->d}, ks[] = {c->b, c->h, c->tk, c->d}, vs[] = {c->b, c->h, c->tk, c->dv};
  return (att_args){varied(4, qs, salt, 1.5f), varied(4, ks, salt + 1, 1.5f), varied(4, vs, salt + 2, 1.0f),
                    make_mask(c, row_free)};
}

static void free_args(att_args *a) {
  dnn_tensor_release(a->q);
  dnn_tensor_release(a->k);
  dnn_tensor_release(a->v);
  dnn_tensor_release(a->mask);
}

static dnn_status run(const att_case *c, dnn_tensor *q, dnn_tensor *k, dnn_tensor *v, dnn_tensor *mask,
                      dnn_tensor **out) {
  dnn_attention_config cfg = {0, c->causal, c->scores};
  return dnn_attention(&cfg, q, k, v, mask, out);
}

static void test_forward_values(void) {
  for (int i = 0; i < N_CASES; i++) {
    const att_case *c = &cases[i];
    att_args a = make_args(c, i, false);
    dnn_tensor *out[2] = {NULL, NULL};
    CHECK(run(c, a.q, a.k, a.v, a.mask, out) == DNN_OK);
    int64_t rows = c->b * c->h * c->tq;
    float *want = malloc((size_t)(rows * c->dv) * sizeof *want), *p = malloc((size_t)(rows * c->tk) * sizeof *p);
    reference(c, a.q, a.k, a.v, a.mask, want, p);
    dnn_tensor *w = dnn_from_data(want, 4, out[0]->shape);
    double off = max_diff(out[0], w);
    if (off > 1e-5) fprintf(stderr, "  forward %s: off by %g\n", c->name, off);
    CHECK(off <= 1e-5);
    if (c->scores) {
      dnn_tensor *ps = dnn_from_data(p, 4, out[1]->shape);
      CHECK(out[1]->ndim == 4 && out[1]->shape[3] == c->tk && max_diff(out[1], ps) <= 1e-6);
      dnn_tensor_release(ps);
    }
    dnn_tensor_release(w);
    free(want);
    free(p);
    dnn_tensor_release(out[0]);
    dnn_tensor_release(out[1]);
    free_args(&a);
  }
}

/* ---- gradients ---- */

typedef struct {
  const att_case *c;
  dnn_tensor *mask;
} loss_ctx;

/* A weighted sum of the output (and of the scores), so that each element gets its own gradient. */
static dnn_tensor *att_loss(dnn_tensor *const *in, void *p) {
  const loss_ctx *lc = p;
  dnn_tensor *out[2] = {NULL, NULL};
  if (run(lc->c, in[0], in[1], in[2], lc->mask, out) != DNN_OK) return NULL;
  if (lc->c->scores) { /* the scores enter the loss scaled by 3 */
    dnn_tensor *scaled = dnn_affine(out[1], 3, 0);
    dnn_tensor_release(out[1]);
    out[1] = scaled;
  }
  return gc_weighted_sum_all(lc->c->scores ? 2 : 1, out);
}

static void test_gradients(void) {
  for (int i = 0; i < N_CASES; i++) {
    const att_case *c = &cases[i];
    att_args a = make_args(c, 10 + i, false);
    dnn_tensor *in[3] = {a.q, a.k, a.v};
    loss_ctx lc = {c, a.mask};
    gradcheck(c->name, att_loss, 3, in, &lc);
    free_args(&a);
  }
}

/* A query row with no allowed key: zeros out, finite zero gradient for its q row, the other rows as usual. */
static void test_fully_masked_row(void) {
  const att_case *c = &cases[3];
  att_args a = make_args(c, 3, true);
  dnn_tensor *out[2] = {NULL, NULL};
  dnn_set_requires_grad(a.q, true);
  CHECK(run(c, a.q, a.k, a.v, a.mask, out) == DNN_OK);
  const float *o = dnn_data(out[0]);
  bool zero_rows = true, finite = true;
  for (int64_t bh = 0; bh < c->b * c->h; bh++)
    for (int64_t e = 0; e < c->dv; e++) zero_rows = zero_rows && o[bh * c->tq * c->dv + e] == 0;
  dnn_tensor *s = gc_weighted_sum(out[0]);
  CHECK(s && dnn_backward(s, NULL) == DNN_OK);
  const float *g = a.q->grad ? dnn_data(a.q->grad) : NULL;
  for (int64_t i = 0; g && i < dnn_numel(a.q); i++) finite = finite && isfinite(g[i]);
  for (int64_t bh = 0; g && bh < c->b * c->h; bh++)
    for (int64_t e = 0; e < c->d; e++) zero_rows = zero_rows && g[bh * c->tq * c->d + e] == 0;
  CHECK(zero_rows && finite && g);
  dnn_tensor_release(s);
  dnn_set_requires_grad(a.q, false);
  dnn_tensor *in[3] = {a.q, a.k, a.v};
  loss_ctx lc = {c, a.mask};
  gradcheck("fully masked row", att_loss, 3, in, &lc);
  free_args(&a);
}

/* Transposed (B, T, H, d) projections read in place give what their contiguous copies give. */
static void test_strided_inputs(void) {
  const att_case *c = &cases[6];
  int64_t qs[] = {c->b, c->tq, c->h, c->d}, ks[] = {c->b, c->tk, c->h, c->d}, vs[] = {c->b, c->tk, c->h, c->dv};
  dnn_tensor *qt = varied(4, qs, 1, 1), *kt = varied(4, ks, 2, 1), *vt = varied(4, vs, 3, 1);
  dnn_tensor *q = dnn_transpose(qt, 1, 2), *k = dnn_transpose(kt, 1, 2), *v = dnn_transpose(vt, 1, 2);
  dnn_tensor *qc = dnn_contiguous(q), *kc = dnn_contiguous(k), *vc = dnn_contiguous(v);
  dnn_tensor *o1[2] = {NULL, NULL}, *o2[2] = {NULL, NULL};
  CHECK(run(c, q, k, v, NULL, o1) == DNN_OK && run(c, qc, kc, vc, NULL, o2) == DNN_OK);
  CHECK(max_diff(o1[0], o2[0]) == 0);
  dnn_tensor *all[] = {qt, kt, vt, q, k, v, qc, kc, vc, o1[0], o2[0]};
  for (int i = 0; i < (int)(sizeof all / sizeof *all); i++) dnn_tensor_release(all[i]);
}

/* Forward and backward give the same bits on one thread and on two. */
static void test_thread_independence(void) {
  const att_case *c = &cases[7];
  dnn_tensor *res[2][4] = {{NULL}};
  int threads = dnn_get_num_threads();
  for (int r = 0; r < 2; r++) {
    dnn_set_num_threads(r == 0 ? 1 : 2);
    att_args a = make_args(c, 4, false);
    dnn_set_requires_grad(a.q, true);
    dnn_set_requires_grad(a.k, true);
    dnn_set_requires_grad(a.v, true);
    dnn_tensor *out[2] = {NULL, NULL};
    CHECK(run(c, a.q, a.k, a.v, a.mask, out) == DNN_OK);
    dnn_tensor *s = gc_weighted_sum(dnn_tensor_retain(out[0]));
    CHECK(s && dnn_backward(s, NULL) == DNN_OK);
    res[r][0] = out[0];
    res[r][1] = dnn_tensor_retain(a.q->grad), res[r][2] = dnn_tensor_retain(a.k->grad);
    res[r][3] = dnn_tensor_retain(a.v->grad);
    dnn_tensor_release(out[1]);
    dnn_tensor_release(s);
    free_args(&a);
  }
  dnn_set_num_threads(threads);
  for (int i = 0; i < 4; i++) {
    CHECK(max_diff(res[0][i], res[1][i]) == 0);
    dnn_tensor_release(res[0][i]);
    dnn_tensor_release(res[1][i]);
  }
}

/* d/dq of sum(w * dL/dv), by create_graph through the decomposition, against the same through explicit ops. */
static dnn_tensor *explicit_attention(const att_case *c, dnn_tensor *q, dnn_tensor *k, dnn_tensor *v) {
  dnn_tensor *kt = dnn_transpose(k, 2, 3), *s = dnn_matmul(q, kt), *ss = dnn_affine(s, 1 / sqrtf((float)c->d), 0);
  dnn_tensor *p = dnn_softmax(ss, -1), *out = dnn_matmul(p, v);
  dnn_tensor_release(kt);
  dnn_tensor_release(s);
  dnn_tensor_release(ss);
  dnn_tensor_release(p);
  return out;
}

static dnn_tensor *second_order(const att_case *c, att_args *a, bool fused) {
  dnn_set_requires_grad(a->q, true);
  dnn_set_requires_grad(a->v, true);
  dnn_tensor *out[2] = {NULL, NULL}, *g = NULL;
  if (fused)
    CHECK(run(c, a->q, a->k, a->v, NULL, out) == DNN_OK);
  else
    out[0] = explicit_attention(c, a->q, a->k, a->v);
  dnn_tensor *loss = gc_weighted_sum(out[0]);
  dnn_backward_opts opts = {.create_graph = true};
  CHECK(dnn_grad(1, &loss, NULL, 1, &a->v, &g, &opts) == DNN_OK);
  dnn_tensor *gl = gc_weighted_sum(dnn_unary(DNN_UNARY_SQUARE, g, 0)), *gq = NULL;
  CHECK(gl && dnn_grad(1, &gl, NULL, 1, &a->q, &gq, NULL) == DNN_OK);
  dnn_tensor_release(g);
  dnn_tensor_release(gl);
  dnn_tensor_release(loss);
  dnn_set_requires_grad(a->q, false);
  dnn_set_requires_grad(a->v, false);
  return gq;
}

static void test_second_order(void) {
  const att_case *c = &cases[0];
  att_args a = make_args(c, 6, false);
  dnn_tensor *fused = second_order(c, &a, true), *plain = second_order(c, &a, false);
  CHECK(fused && plain && max_diff(fused, plain) <= 1e-5);
  dnn_tensor_release(fused);
  dnn_tensor_release(plain);
  free_args(&a);
}

/* A mask changed in place after the forward: backward refuses, naming the op. */
static void test_versions(void) {
  const att_case *c = &cases[3];
  att_args a = make_args(c, 7, false);
  dnn_set_requires_grad(a.k, true);
  dnn_tensor *out[2] = {NULL, NULL};
  CHECK(run(c, a.q, a.k, a.v, a.mask, out) == DNN_OK);
  dnn_tensor *s = dnn_sum(out[0], DNN_ALL_DIMS, false);
  dnn_fill(a.mask, 1);
  CHECK(dnn_backward(s, NULL) != DNN_OK && errmsg_has("attention"));
  dnn_tensor_release(s);
  dnn_tensor_release(out[0]);
  dnn_set_requires_grad(a.k, false);
  free_args(&a);
}

static void test_errors(void) {
  int64_t q4[] = {2, 2, 3, 4}, k4[] = {2, 2, 5, 4}, v4[] = {2, 2, 5, 3}, q3[] = {2, 3, 4}, kbad[] = {2, 2, 5, 3},
          vbad[] = {2, 2, 6, 3}, hbad[] = {2, 3, 5, 4}, mbad[] = {2, 2, 3, 4}, m2[] = {3, 5}, q0[] = {2, 2, 3, 0};
  dnn_tensor *q = dnn_zeros(4, q4), *k = dnn_zeros(4, k4), *v = dnn_zeros(4, v4), *out[2] = {NULL, NULL};
  dnn_attention_config cfg = {0, false, false};
  dnn_tensor *t = dnn_zeros(3, q3);
  CHECK(dnn_attention(&cfg, t, k, v, NULL, out) == DNN_EARG && errmsg_has("bad argument #1 to 'attention'") &&
        errmsg_has("expected a 4-d q (batch, heads, Tq, d), got (2, 3, 4)") && out[0] == NULL);
  dnn_tensor_release(t);
  t = dnn_zeros(4, kbad);
  CHECK(dnn_attention(&cfg, q, t, v, NULL, out) == DNN_EARG && errmsg_has("bad argument #2") &&
        errmsg_has("expected k (2, 2, Tk, 4) to match q (2, 2, 3, 4), got (2, 2, 5, 3)"));
  dnn_tensor_release(t);
  t = dnn_zeros(4, hbad);
  CHECK(dnn_attention(&cfg, q, t, v, NULL, out) == DNN_EARG && errmsg_has("bad argument #2"));
  dnn_tensor_release(t);
  t = dnn_zeros(4, vbad);
  CHECK(dnn_attention(&cfg, q, k, t, NULL, out) == DNN_EARG && errmsg_has("bad argument #3") &&
        errmsg_has("expected v (2, 2, 5, dv) to match k"));
  dnn_tensor_release(t);
  t = dnn_zeros(4, mbad);
  CHECK(dnn_attention(&cfg, q, k, v, t, out) == DNN_EARG && errmsg_has("bad argument #4") &&
        errmsg_has("expected a mask broadcastable to (2, 2, 3, 5)") && errmsg_has("got (2, 2, 3, 4)"));
  dnn_tensor_release(t);
  t = dnn_zeros(2, m2); /* (Tq, Tk) broadcasts */
  CHECK(dnn_attention(&cfg, q, k, v, t, out) == DNN_OK && out[0]);
  dnn_tensor_release(out[0]);
  dnn_tensor_release(t);
  t = dnn_zeros(4, q0);
  CHECK(dnn_attention(&cfg, t, k, v, NULL, out) == DNN_EARG && errmsg_has("at least one feature"));
  dnn_tensor_release(t);
  cfg.scale = INFINITY;
  CHECK(dnn_attention(&cfg, q, k, v, NULL, out) == DNN_EARG && errmsg_has("bad argument #5") &&
        errmsg_has("finite scale"));
  dnn_tensor_release(q);
  dnn_tensor_release(k);
  dnn_tensor_release(v);
}

int main(void) {
  test_forward_values();
  test_gradients();
  test_fully_masked_row();
  test_strided_inputs();
  test_thread_independence();
  test_second_order();
  test_versions();
  test_errors();
  return check_report("test_attention");
}
