/* Reductions over one dim or over all of them, and their backwards.
 *
 * A reduction sees its (contiguous) input as (outer, r, inner) and reduces r.
 * With inner == 1 (the last dim, or all dims) each output is a contiguous run;
 * otherwise each output is a column read row after row (the batch dim of an
 * (N, C) tensor: rows outer, columns inner, a vectorizable loop).
 *
 * Determinism: a sum is defined by its data alone, never by the threads. A
 * run is summed in blocks of SUM_BLOCK floats (8 float lanes each), the
 * blocks added in double in order, chunk by chunk of SUM_CHUNK floats, and
 * the chunk sums added in double in order. A column is summed in blocks of
 * COL_ROWS rows (float), added in double in order. Threads only split the
 * outputs (or compute a long run's chunk sums side by side, combined in the
 * same order afterwards), so every thread count gives the same bits. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dnn/autograd.h"
#include "dnn/ops.h"
#include "dnn/tensor.h"
#include "kernels.h"

#define SUM_CHUNK 4096 /* floats per chunk: the unit threads share a long run in */
#define SUM_BLOCK 128 /* floats summed in float before going into a double */
#define COL_ROWS 16 /* rows a column sums in float before going into a double */
#define COL_BLOCK 256 /* columns one unit of work keeps accumulators for */

/* The reduction's view of its input: (outer, r, inner), r reduced. */
typedef struct {
  int64_t outer, r, inner;
} geom;

/* rdim is the reduced dim, or -1 for all of them. */
static geom geom_of(const dnn_tensor *a, int rdim) {
  geom g = {1, 1, 1};
  if (rdim < 0) {
    g.r = dnn_numel(a);
    return g;
  }
  for (int d = 0; d < a->ndim; d++) {
    if (d < rdim) g.outer *= a->shape[d];
    if (d > rdim) g.inner *= a->shape[d];
  }
  g.r = a->shape[rdim];
  return g;
}

/* Resolves dim (DNN_ALL_DIMS, or 0/-1 on a 0-d tensor, means all) into rdim
 * and the output's shape. */
static dnn_status reduce_shape(const char *fn, const dnn_tensor *a, int dim, bool keepdim, int *rdim, int *ond,
                               int64_t *oshape) {
  if (dim == DNN_ALL_DIMS || (a->ndim == 0 && (dim == 0 || dim == -1))) {
    *rdim = -1;
    *ond = keepdim ? a->ndim : 0;
    for (int d = 0; d < *ond; d++) oshape[d] = 1;
    return DNN_OK;
  }
  *rdim = dnn_wrap_dim(fn, 2, dim, a->ndim);
  if (*rdim < 0) return DNN_EARG;
  *ond = 0;
  for (int d = 0; d < a->ndim; d++) {
    if (d != *rdim)
      oshape[(*ond)++] = a->shape[d];
    else if (keepdim)
      oshape[(*ond)++] = 1;
  }
  return DNN_OK;
}

/* a's data, contiguous: its own, or a copy in *buf (the caller frees it). */
static const float *contiguous_data(const dnn_tensor *a, float **buf) {
  *buf = NULL;
  if (dnn_is_contiguous(a)) return dnn_data(a);
  int64_t n = dnn_numel(a);
  *buf = malloc((size_t)(n ? n : 1) * sizeof(float));
  if (!*buf) {
    dnn_error(DNN_ENOMEM, "reduce", "out of memory");
    return NULL;
  }
  dnn_gather_to(a, *buf);
  return *buf;
}

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* ======================================================================
 * Sums (sum, mean, var)
 * ====================================================================== */

/* Sum of n <= SUM_CHUNK floats, or of their squared distances to *center:
 * blocks of SUM_BLOCK in 8 float lanes (which the compiler vectorizes), each
 * block's lanes added pairwise, the blocks added in double (float lanes over
 * whole chunks drift: 10^7 times 0.1 came out 4e-6 off). */
static double chunk_sum(const float *x, int64_t n, const float *center) {
  double total = 0;
  float c = center ? *center : 0.0f;
  for (int64_t b = 0; b < n; b += SUM_BLOCK) {
    int64_t e = min64(n, b + SUM_BLOCK), i = b;
    float acc[8] = {0};
    if (!center) {
      for (; i + 8 <= e; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += x[i + k];
      for (; i < e; i++) acc[0] += x[i];
    } else {
      for (; i + 8 <= e; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += (x[i + k] - c) * (x[i + k] - c);
      for (; i < e; i++) acc[0] += (x[i] - c) * (x[i] - c);
    }
    total += ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  }
  return total;
}

/* A contiguous run of n: chunk sums added in double, in order. */
static double run_sum(const float *x, int64_t n, const float *center) {
  double total = 0;
  for (int64_t s = 0; s < n; s += SUM_CHUNK) total += chunk_sum(x + s, min64(SUM_CHUNK, n - s), center);
  return total;
}

typedef struct {
  const float *x;
  geom g;
  int64_t ncb; /* column blocks per outer slice */
  const float *center; /* per output, or NULL for plain sums */
  double scale; /* applied to each sum */
  float *out; /* per output */
  double *partial; /* chunk sums of one long run */
} sum_job;

/* inner == 1: units are rows, each a contiguous run. */
static void sum_rows(void *ctx, int64_t s, int64_t e) {
  const sum_job *jb = ctx;
  for (int64_t o = s; o < e; o++)
    jb->out[o] = (float)(run_sum(jb->x + o * jb->g.r, jb->g.r, jb->center ? jb->center + o : NULL) * jb->scale);
}

/* Chunks [s, e) of the single run (outer == 1, inner == 1). */
static void sum_chunks(void *ctx, int64_t s, int64_t e) {
  const sum_job *jb = ctx;
  for (int64_t c = s; c < e; c++)
    jb->partial[c] = chunk_sum(jb->x + c * SUM_CHUNK, min64(SUM_CHUNK, jb->g.r - c * SUM_CHUNK), jb->center);
}

/* inner > 1: units are (outer slice, block of COL_BLOCK columns). */
static void sum_cols(void *ctx, int64_t s, int64_t e) {
  const sum_job *jb = ctx;
  int64_t r = jb->g.r, inner = jb->g.inner;
  float part[COL_BLOCK];
  double acc[COL_BLOCK];
  for (int64_t u = s; u < e; u++) {
    int64_t o = u / jb->ncb, j0 = (u % jb->ncb) * COL_BLOCK, m = min64(COL_BLOCK, inner - j0);
    const float *base = jb->x + o * r * inner + j0;
    const float *c = jb->center ? jb->center + o * inner + j0 : NULL;
    for (int64_t j = 0; j < m; j++) acc[j] = 0;
    for (int64_t k0 = 0; k0 < r; k0 += COL_ROWS) {
      int64_t k1 = min64(r, k0 + COL_ROWS);
      for (int64_t j = 0; j < m; j++) part[j] = 0;
      for (int64_t k = k0; k < k1; k++) {
        const float *row = base + k * inner;
        if (c)
          for (int64_t j = 0; j < m; j++) part[j] += (row[j] - c[j]) * (row[j] - c[j]);
        else
          for (int64_t j = 0; j < m; j++) part[j] += row[j];
      }
      for (int64_t j = 0; j < m; j++) acc[j] += part[j];
    }
    for (int64_t j = 0; j < m; j++) jb->out[o * inner + j0 + j] = (float)(acc[j] * jb->scale);
  }
}

/* out[o, j] = scale * sum over k of x[o, k, j] (or of (x - center[o, j])^2). */
static dnn_status sums(const float *x, geom g, const float *center, double scale, float *out) {
  sum_job jb = {x, g, (g.inner + COL_BLOCK - 1) / COL_BLOCK, center, scale, out, NULL};
  if (g.inner > 1) {
    dnn_for_blocks(g.outer * jb.ncb, g.r * COL_BLOCK, sum_cols, &jb);
  } else if (g.outer == 1 && g.r > DNN_PARALLEL_GRAIN) {
    /* One long run: its chunk sums side by side, then added in order, the
     * same arithmetic as run_sum. */
    int64_t nchunks = (g.r + SUM_CHUNK - 1) / SUM_CHUNK;
    jb.partial = malloc((size_t)nchunks * sizeof *jb.partial);
    if (!jb.partial) return dnn_error(DNN_ENOMEM, "reduce", "out of memory");
    dnn_for_blocks(nchunks, SUM_CHUNK, sum_chunks, &jb);
    double total = 0;
    for (int64_t c = 0; c < nchunks; c++) total += jb.partial[c];
    out[0] = (float)(total * scale);
    free(jb.partial);
  } else {
    dnn_for_blocks(g.outer, g.r, sum_rows, &jb);
  }
  return DNN_OK;
}

/* Spreads g (one value per output) back over the reduced dim:
 * gx[o, k, j] = scale * g[o, j], or for var 2 * scale * g[o, j] * (x[o, k, j] - center[o, j]). */
typedef struct {
  const float *g, *x, *center;
  geom gm;
  float scale;
  float *gx;
} spread_job;

static void spread_rows(void *ctx, int64_t s, int64_t e) {
  const spread_job *jb = ctx;
  int64_t inner = jb->gm.inner, r = jb->gm.r;
  for (int64_t u = s; u < e; u++) { /* u = o * r + k */
    const float *g = jb->g + (u / r) * inner;
    float *gx = jb->gx + u * inner;
    if (jb->x) {
      const float *x = jb->x + u * inner, *c = jb->center + (u / r) * inner;
      for (int64_t j = 0; j < inner; j++) gx[j] = 2.0f * jb->scale * g[j] * (x[j] - c[j]);
    } else {
      for (int64_t j = 0; j < inner; j++) gx[j] = jb->scale * g[j];
    }
  }
}

typedef enum { MOMENT_SUM, MOMENT_MEAN, MOMENT_VAR } moment_kind;

/* What each sum is multiplied by: 1, 1/n, or 1/max(0, n - correction) (as
 * PyTorch: an empty mean, or a var with n <= correction, is NaN or inf). */
static double moment_scale(moment_kind kind, int64_t r, int correction) {
  if (kind == MOMENT_SUM) return 1.0;
  int64_t div = kind == MOMENT_MEAN ? r : r - correction;
  return div > 0 ? 1.0 / (double)div : INFINITY;
}

/* Per-output means of x (outer * inner floats, malloc'd), the center of var. */
static float *means(const float *x, geom g) {
  float *m = malloc((size_t)(g.outer * g.inner > 0 ? g.outer * g.inner : 1) * sizeof(float));
  if (!m) {
    dnn_error(DNN_ENOMEM, "var", "out of memory");
    return NULL;
  }
  if (sums(x, g, NULL, moment_scale(MOMENT_MEAN, g.r, 0), m) != DNN_OK) {
    free(m);
    return NULL;
  }
  return m;
}

/* g (a reduction's output gradient) broadcast back over a's shape with
 * recorded views, for create_graph: g viewed with the reduced dim (every dim
 * when rdim < 0) of size 1, then expanded. */
static dnn_tensor *spread_recorded(dnn_tensor *g, const dnn_tensor *a, int rdim) {
  int64_t kshape[DNN_MAX_DIMS];
  for (int d = 0; d < a->ndim; d++) kshape[d] = rdim < 0 || d == rdim ? 1 : a->shape[d];
  dnn_tensor *k = dnn_reshape(g, a->ndim, kshape);
  dnn_tensor *e = k ? dnn_expand(k, a->ndim, a->shape) : NULL;
  dnn_tensor_release(k);
  return e;
}

/* create_graph: sum and mean spread scale * g; var 2 scale g (x - mean(x)),
 * the mean recomputed with recorded ops. */
static dnn_status moment_backward_composed(dnn_node *node, dnn_tensor *g, dnn_tensor **gin) {
  dnn_tensor *a = node->inputs[0];
  int rdim = (int)node->iargs[0];
  moment_kind kind = (moment_kind)node->iargs[1];
  float scale = (float)moment_scale(kind, geom_of(a, rdim).r, (int)node->iargs[2]);
  dnn_tensor *e = spread_recorded(g, a, rdim);
  if (!e) return dnn_errcode();
  if (kind != MOMENT_VAR) {
    gin[0] = dnn_affine(e, scale, 0.0f);
    dnn_tensor_release(e);
    return gin[0] ? DNN_OK : dnn_errcode();
  }
  dnn_tensor *m = dnn_mean(a, rdim < 0 ? DNN_ALL_DIMS : rdim, true);
  dnn_tensor *c = m ? dnn_sub(a, m) : NULL;
  dnn_tensor *p = c ? dnn_mul(e, c) : NULL;
  gin[0] = p ? dnn_affine(p, 2.0f * scale, 0.0f) : NULL;
  dnn_tensor_release(m);
  dnn_tensor_release(c);
  dnn_tensor_release(p);
  dnn_tensor_release(e);
  return gin[0] ? DNN_OK : dnn_errcode();
}

static dnn_status moment_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin) {
  dnn_tensor *g = grad_out[0];
  if (dnn_grad_enabled()) return moment_backward_composed(node, g, gin);
  dnn_tensor *a = node->inputs[0];
  moment_kind kind = (moment_kind)node->iargs[1];
  geom gm = geom_of(a, (int)node->iargs[0]);
  dnn_tensor *gx = dnn_empty(a->ndim, a->shape);
  if (!gx) return dnn_errcode();
  spread_job jb = {dnn_data(g), NULL, NULL, gm, (float)moment_scale(kind, gm.r, (int)node->iargs[2]), dnn_data(gx)};
  float *buf = NULL, *center = NULL;
  if (kind == MOMENT_VAR) {
    jb.x = contiguous_data(a, &buf);
    jb.center = center = jb.x ? means(jb.x, gm) : NULL;
    if (!center) {
      free(buf);
      dnn_tensor_release(gx);
      return dnn_errcode();
    }
  }
  dnn_for_blocks(gm.outer * gm.r, gm.inner, spread_rows, &jb);
  free(center);
  free(buf);
  gin[0] = gx;
  return DNN_OK;
}

static dnn_tensor *moment(moment_kind kind, const char *fn, dnn_tensor *a, int dim, bool keepdim, int correction) {
  int rdim, ond;
  int64_t oshape[DNN_MAX_DIMS];
  if (reduce_shape(fn, a, dim, keepdim, &rdim, &ond, oshape) != DNN_OK) return NULL;
  if (correction < 0) return dnn_argerror(4, fn, "expected a correction >= 0, got %d", correction), NULL;
  geom gm = geom_of(a, rdim);
  float *buf;
  const float *x = contiguous_data(a, &buf);
  if (!x) return NULL;
  dnn_tensor *out = dnn_empty(ond, oshape);
  float *center = NULL;
  dnn_status st = out ? DNN_OK : dnn_errcode();
  if (st == DNN_OK && kind == MOMENT_VAR) {
    center = means(x, gm);
    st = center ? DNN_OK : dnn_errcode();
  }
  if (st == DNN_OK) st = sums(x, gm, center, moment_scale(kind, gm.r, correction), dnn_data(out));
  free(center);
  free(buf);
  if (st != DNN_OK) {
    dnn_tensor_release(out);
    return NULL;
  }
  if (!dnn_needs_record(1, &a)) return out;
  dnn_node *node = dnn_record(out, fn, moment_backward, 1, &a);
  if (!node) {
    dnn_tensor_release(out);
    return NULL;
  }
  node->iargs[0] = rdim;
  node->iargs[1] = kind;
  node->iargs[2] = correction;
  node->flags |= DNN_NODE_DIFFERENTIABLE | (kind != MOMENT_VAR ? DNN_NODE_SHAPES_ONLY : 0u);
  return out;
}

dnn_tensor *dnn_sum(dnn_tensor *a, int dim, bool keepdim) { return moment(MOMENT_SUM, "sum", a, dim, keepdim, 0); }
dnn_tensor *dnn_mean(dnn_tensor *a, int dim, bool keepdim) { return moment(MOMENT_MEAN, "mean", a, dim, keepdim, 0); }
dnn_tensor *dnn_var(dnn_tensor *a, int dim, bool keepdim, int correction) {
  return moment(MOMENT_VAR, "var", a, dim, keepdim, correction);
}

/* ======================================================================
 * Extremes (max, min, argmax, argmin): the first one wins; NaN counts as
 * the extreme (it propagates, as in PyTorch).
 * ====================================================================== */

typedef struct {
  const float *x;
  geom g;
  int64_t ncb;
  bool is_min;
  float *val; /* per output */
  int64_t *pos; /* per output, 0-based along the reduced dim */
} ext_job;

/* Whether v replaces best: strictly more extreme, or the first NaN. */
#define BETTER(v, best, is_min) (((is_min) ? (v) < (best) : (v) > (best)) || ((v) != (v) && (best) == (best)))

/* First extremes of m columns of an (r, inner) block, read row after row.
 * Positions as int32 (the width of the floats) keep the loop branchless and
 * vectorizable; a dim longer than that takes the plain loop. */
static void col_extreme(const float *base, int64_t r, int64_t inner, int64_t m, bool is_min, float *best, int64_t *at) {
  if (r > INT32_MAX) {
    for (int64_t j = 0; j < m; j++) {
      best[j] = base[j];
      at[j] = 0;
    }
    for (int64_t k = 1; k < r; k++)
      for (int64_t j = 0; j < m; j++)
        if (BETTER(base[k * inner + j], best[j], is_min)) {
          best[j] = base[k * inner + j];
          at[j] = k;
        }
    return;
  }
  float b[COL_BLOCK];
  int32_t p[COL_BLOCK];
  for (int64_t j = 0; j < m; j++) {
    b[j] = base[j];
    p[j] = 0;
  }
  for (int64_t k = 1; k < r; k++) {
    const float *row = base + k * inner;
    int32_t k32 = (int32_t)k;
    if (is_min) {
      for (int64_t j = 0; j < m; j++) {
        int take = (row[j] < b[j]) | ((row[j] != row[j]) & (b[j] == b[j]));
        b[j] = take ? row[j] : b[j];
        p[j] = take ? k32 : p[j];
      }
    } else {
      for (int64_t j = 0; j < m; j++) {
        int take = (row[j] > b[j]) | ((row[j] != row[j]) & (b[j] == b[j]));
        b[j] = take ? row[j] : b[j];
        p[j] = take ? k32 : p[j];
      }
    }
  }
  for (int64_t j = 0; j < m; j++) {
    best[j] = b[j];
    at[j] = p[j];
  }
}

/* Position of the first extreme of a contiguous run: one pass for the value
 * in 8 independent lanes (no loop-carried branch; `omp simd` because GCC
 * leaves the unrolled lanes scalar otherwise), then a scan for where it first
 * is. Several times faster than one branchy pass that tracks the position. */
static int64_t run_extreme(const float *x, int64_t r, bool is_min) {
  float m[8], z[8] = {0}; /* z turns NaN when an x is NaN (or inf): x * 0 */
  for (int k = 0; k < 8; k++) m[k] = x[0];
  int64_t i = 0;
  if (is_min) {
    for (; i + 8 <= r; i += 8) {
#pragma omp simd
      for (int k = 0; k < 8; k++) {
        m[k] = x[i + k] < m[k] ? x[i + k] : m[k];
        z[k] += x[i + k] * 0.0f;
      }
    }
  } else {
    for (; i + 8 <= r; i += 8) {
#pragma omp simd
      for (int k = 0; k < 8; k++) {
        m[k] = x[i + k] > m[k] ? x[i + k] : m[k];
        z[k] += x[i + k] * 0.0f;
      }
    }
  }
  for (; i < r; i++) {
    m[0] = (is_min ? x[i] < m[0] : x[i] > m[0]) ? x[i] : m[0];
    z[0] += x[i] * 0.0f;
  }
  float best = m[0], zs = 0;
  for (int k = 0; k < 8; k++) {
    zs += z[k];
    best = (is_min ? m[k] < best : m[k] > best) ? m[k] : best;
  }
  if (zs != zs) /* a NaN, or only an inf: the first NaN wins if there is one */
    for (int64_t k = 0; k < r; k++)
      if (x[k] != x[k]) return k;
  for (int64_t k = 0; k < r; k++)
    if (x[k] == best) return k;
  return 0; /* not reached: best is one of the x */
}

static void ext_units(void *ctx, int64_t s, int64_t e) {
  const ext_job *jb = ctx;
  int64_t r = jb->g.r, inner = jb->g.inner;
  for (int64_t u = s; u < e; u++) {
    if (inner == 1) { /* one contiguous run */
      const float *x = jb->x + u * r;
      jb->pos[u] = run_extreme(x, r, jb->is_min);
      jb->val[u] = x[jb->pos[u]];
    } else { /* a block of columns */
      int64_t o = u / jb->ncb, j0 = (u % jb->ncb) * COL_BLOCK;
      col_extreme(jb->x + o * r * inner + j0, r, inner, min64(COL_BLOCK, inner - j0), jb->is_min,
                  jb->val + o * inner + j0, jb->pos + o * inner + j0);
    }
  }
}

/* Values and positions of the extremes of a over rdim into val / pos (one per
 * output); fails on an empty reduced dim. */
static dnn_status extremes(const char *fn, dnn_tensor *a, int rdim, bool is_min, float *val, int64_t *pos) {
  geom gm = geom_of(a, rdim);
  if (gm.r == 0) {
    if (rdim < 0) return dnn_argerror(1, fn, "expected a non-empty tensor, got one with 0 elements");
    return dnn_argerror(2, fn, "expected a non-empty dim, got dim %d of size 0", rdim);
  }
  float *buf;
  const float *x = contiguous_data(a, &buf);
  if (!x) return dnn_errcode();
  ext_job jb = {x, gm, (gm.inner + COL_BLOCK - 1) / COL_BLOCK, is_min, val, pos};
  if (gm.inner == 1)
    dnn_for_blocks(gm.outer, gm.r, ext_units, &jb);
  else
    dnn_for_blocks(gm.outer * jb.ncb, gm.r * COL_BLOCK, ext_units, &jb);
  free(buf);
  return DNN_OK;
}

/* The gradient goes to the first extreme of each output. The positions are
 * found again from the input (which the node keeps, and which cannot have
 * changed: in-place writes are refused on tensors that need grad), exact at
 * any size where positions saved as floats would not be. */
static dnn_status extreme_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin) {
  dnn_tensor *g = grad_out[0];
  dnn_tensor *a = node->inputs[0];
  int rdim = (int)node->iargs[0];
  geom gm = geom_of(a, rdim);
  int64_t n = gm.outer * gm.inner;
  dnn_tensor *gx = dnn_zeros(a->ndim, a->shape);
  float *val = malloc((size_t)(n > 0 ? n : 1) * sizeof *val);
  int64_t *pos = malloc((size_t)(n > 0 ? n : 1) * sizeof *pos);
  dnn_status st = !gx ? dnn_errcode() : !val || !pos ? dnn_error(DNN_ENOMEM, node->op, "out of memory") : DNN_OK;
  if (st == DNN_OK) st = extremes(node->op, a, rdim, node->iargs[1] != 0, val, pos);
  /* create_graph: gx holds a constant 0/1 mask of the same positions, and
   * the gradient is g spread with recorded ops times it */
  bool composed = dnn_grad_enabled();
  if (st == DNN_OK) {
    const float *gd = dnn_data(g);
    float *out = dnn_data(gx);
    for (int64_t o = 0; o < gm.outer; o++)
      for (int64_t j = 0; j < gm.inner; j++)
        out[(o * gm.r + pos[o * gm.inner + j]) * gm.inner + j] = composed ? 1.0f : gd[o * gm.inner + j];
  }
  free(val);
  free(pos);
  if (st == DNN_OK && composed) {
    dnn_tensor *e = spread_recorded(g, a, rdim);
    dnn_tensor *m = gx;
    gx = e ? dnn_mul(e, m) : NULL;
    dnn_tensor_release(e);
    dnn_tensor_release(m);
    if (!gx) st = dnn_errcode();
  }
  if (st != DNN_OK) {
    dnn_tensor_release(gx);
    return st;
  }
  gin[0] = gx;
  return DNN_OK;
}

/* Outputs (ond, oshape) of extremes: value tensor (when want_val) and
 * positions + base as floats. */
static dnn_tensor *extreme(const char *fn, dnn_tensor *a, int dim, bool keepdim, bool is_min, bool want_val, int base) {
  int rdim, ond;
  int64_t oshape[DNN_MAX_DIMS];
  if (reduce_shape(fn, a, dim, keepdim, &rdim, &ond, oshape) != DNN_OK) return NULL;
  dnn_tensor *val = dnn_empty(ond, oshape);
  dnn_tensor *pos = val ? dnn_empty(ond, oshape) : NULL;
  int64_t n = val ? dnn_numel(val) : 0;
  int64_t *at = malloc((size_t)(n ? n : 1) * sizeof *at);
  dnn_status st = !val || !pos ? dnn_errcode() : !at ? dnn_error(DNN_ENOMEM, fn, "out of memory") : DNN_OK;
  if (st == DNN_OK) st = extremes(fn, a, rdim, is_min, dnn_data(val), at);
  if (st == DNN_OK) {
    float *p = dnn_data(pos);
    for (int64_t i = 0; i < n; i++) p[i] = (float)(at[i] + (want_val ? 0 : base));
  }
  free(at);
  if (st != DNN_OK) {
    dnn_tensor_release(val);
    dnn_tensor_release(pos);
    return NULL;
  }
  if (!want_val) {
    dnn_tensor_release(val);
    return pos;
  }
  if (dnn_needs_record(1, &a)) {
    dnn_node *node = dnn_record(val, fn, extreme_backward, 1, &a);
    if (!node) {
      dnn_tensor_release(val);
      dnn_tensor_release(pos);
      return NULL;
    }
    node->iargs[0] = rdim;
    node->iargs[1] = is_min;
    node->flags |= DNN_NODE_DIFFERENTIABLE;
  }
  dnn_tensor_release(pos);
  return val;
}

dnn_tensor *dnn_max(dnn_tensor *a, int dim, bool keepdim) { return extreme("max", a, dim, keepdim, false, true, 0); }
dnn_tensor *dnn_min(dnn_tensor *a, int dim, bool keepdim) { return extreme("min", a, dim, keepdim, true, true, 0); }
dnn_tensor *dnn_argmax(dnn_tensor *a, int dim, bool keepdim, int base) {
  return extreme("argmax", a, dim, keepdim, false, false, base);
}
dnn_tensor *dnn_argmin(dnn_tensor *a, int dim, bool keepdim, int base) {
  return extreme("argmin", a, dim, keepdim, true, false, base);
}
