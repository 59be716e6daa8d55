/* Batch and layer normalization, fused: statistics, normalization and a
 * hand-written backward (dx, dgamma, dbeta) in a few passes over the data,
 * instead of a chain of generic ops that would keep every intermediate.
 *
 * Batch norm sees its contiguous input as (outer, C, inner), C the channel
 * dim: element (o, c, k) sits at (o * C + c) * inner + k, and channels-last
 * (Keras's default) is inner == 1. Layer norm sees (rows, D), D the product
 * of the normalized trailing dims.
 *
 * Determinism: sums over the batch (per channel, or per column for layer
 * norm's dgamma and dbeta) run over blocks of whole outer rows; the block
 * size follows from the shape alone, each block sums in double and the blocks
 * are added in order, so every thread count gives the same bits. A row's own
 * statistics (layer norm) are summed by one thread. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnn/autograd.h"
#include "dnn/nn.h"
#include "dnn/ops.h"
#include "kernels.h"

/* At most this many blocks of rows, so the partial sums stay small. */
#define MAX_BLOCKS 64

typedef struct {
  int64_t outer, c, inner;
} layout;

static layout layout_at(const dnn_tensor *t, int axis) {
  layout l = {1, t->shape[axis], 1};
  for (int d = 0; d < axis; d++) l.outer *= t->shape[d];
  for (int d = axis + 1; d < t->ndim; d++) l.inner *= t->shape[d];
  return l;
}

/* Rows per block for outer rows of row_size elements; *nblocks gets the count. */
static int64_t rows_per_block(int64_t outer, int64_t row_size, int64_t *nblocks) {
  int64_t per = row_size >= DNN_BLOCK ? 1 : DNN_BLOCK / (row_size > 0 ? row_size : 1);
  int64_t least = (outer + MAX_BLOCKS - 1) / MAX_BLOCKS;
  if (per < least) per = least;
  *nblocks = outer > 0 ? (outer + per - 1) / per : 0;
  return per;
}

/* acc[c] += the sums of block blk (rows [blk * per, end)) below. One function per block, compiled for the wide vectors
 * too (DNN_SIMD_CLONES): the same double sums in the same order at any width. */
DNN_SIMD_CLONES static void sums_block(const float *a, const float *sa, const float *b, const float *sb, layout l,
                                       int64_t start, int64_t end, double *acc) {
  for (int64_t o = start; o < end; o++) {
    if (l.inner == 1) { /* channels-last: the same sums, vectorized over a row's contiguous channels */
      const float *pa = a + o * l.c, *pb = b ? b + o * l.c : NULL;
      if (pb && sa && sb)
        for (int64_t c = 0; c < l.c; c++) acc[c] += ((double)pa[c] - sa[c]) * ((double)pb[c] - sb[c]);
      else if (pb)
        for (int64_t c = 0; c < l.c; c++)
          acc[c] += (pa[c] - (sa ? (double)sa[c] : 0)) * (pb[c] - (sb ? (double)sb[c] : 0));
      else if (sa)
        for (int64_t c = 0; c < l.c; c++) acc[c] += (double)pa[c] - sa[c];
      else
        for (int64_t c = 0; c < l.c; c++) acc[c] += (double)pa[c];
      continue;
    }
    for (int64_t c = 0; c < l.c; c++) {
      const float *pa = a + (o * l.c + c) * l.inner, *pb = b ? b + (o * l.c + c) * l.inner : NULL;
      double ma = sa ? sa[c] : 0, mb = sb ? sb[c] : 0, s = 0;
      if (pb)
        for (int64_t k = 0; k < l.inner; k++) s += (pa[k] - ma) * (pb[k] - mb);
      else
        for (int64_t k = 0; k < l.inner; k++) s += pa[k] - ma;
      acc[c] += s;
    }
  }
}

/* out[c] = sum over (o, k) of (a - sa[c]) * (b - sb[c]), or of (a - sa[c])
 * when b is NULL; sa, sb NULL stand for 0. */
static dnn_status channel_sums(const float *a, const float *sa, const float *b, const float *sb, layout l,
                               double *out) {
  int64_t nblocks, per = rows_per_block(l.outer, l.c * l.inner, &nblocks);
  double *part = calloc((size_t)(nblocks * l.c + 1), sizeof(double));
  if (!part) return dnn_error(DNN_ENOMEM, "batch_norm", "out of memory for %lld sums", (long long)(nblocks * l.c));
#pragma omp parallel for schedule(static) if (l.outer * l.c * l.inner > DNN_PARALLEL_GRAIN)
  for (int64_t blk = 0; blk < nblocks; blk++) {
    int64_t end = (blk + 1) * per < l.outer ? (blk + 1) * per : l.outer;
    sums_block(a, sa, b, sb, l, blk * per, end, part + blk * l.c);
  }
  for (int64_t c = 0; c < l.c; c++) out[c] = 0;
  for (int64_t blk = 0; blk < nblocks; blk++)
    for (int64_t c = 0; c < l.c; c++) out[c] += part[blk * l.c + c];
  free(part);
  return DNN_OK;
}

/* The two sums of batch norm's backward in one pass over g: acc_g[c] += g and acc_gx[c] += g * (x - mean[c]) over
 * rows [start, end), each in the order channel_sums takes (so the same values as two calls of it). */
DNN_SIMD_CLONES static void sums2_block(const float *g, const float *x, const float *mean, layout l, int64_t start,
                                        int64_t end, double *acc_g, double *acc_gx) {
  for (int64_t o = start; o < end; o++) {
    if (l.inner == 1) {
      const float *pg = g + o * l.c, *px = x + o * l.c;
      for (int64_t c = 0; c < l.c; c++) {
        acc_g[c] += (double)pg[c];
        acc_gx[c] += (double)pg[c] * ((double)px[c] - mean[c]);
      }
      continue;
    }
    for (int64_t c = 0; c < l.c; c++) {
      const float *pg = g + (o * l.c + c) * l.inner, *px = x + (o * l.c + c) * l.inner;
      double m = mean[c], s = 0, sx = 0;
      for (int64_t k = 0; k < l.inner; k++) {
        s += pg[k] - 0.0;
        sx += (pg[k] - 0.0) * (px[k] - m);
      }
      acc_g[c] += s;
      acc_gx[c] += sx;
    }
  }
}

/* sum_g[c] = the sum of g, sum_gx[c] = the sum of g * (x - mean[c]): channel_sums(g) and channel_sums(g, x - mean)
 * in one pass. */
static dnn_status channel_sums2(const float *g, const float *x, const float *mean, layout l, double *sum_g,
                                double *sum_gx) {
  int64_t nblocks, per = rows_per_block(l.outer, l.c * l.inner, &nblocks);
  double *part = calloc((size_t)(2 * nblocks * l.c + 1), sizeof(double));
  if (!part) return dnn_error(DNN_ENOMEM, "batch_norm", "out of memory for %lld sums", (long long)(nblocks * l.c));
  double *part_x = part + nblocks * l.c;
#pragma omp parallel for schedule(static) if (l.outer * l.c * l.inner > DNN_PARALLEL_GRAIN)
  for (int64_t blk = 0; blk < nblocks; blk++) {
    int64_t end = (blk + 1) * per < l.outer ? (blk + 1) * per : l.outer;
    sums2_block(g, x, mean, l, blk * per, end, part + blk * l.c, part_x + blk * l.c);
  }
  for (int64_t c = 0; c < l.c; c++) sum_g[c] = sum_gx[c] = 0;
  for (int64_t blk = 0; blk < nblocks; blk++)
    for (int64_t c = 0; c < l.c; c++) {
      sum_g[c] += part[blk * l.c + c];
      sum_gx[c] += part_x[blk * l.c + c];
    }
  free(part);
  return DNN_OK;
}

/* Row o of channel_combine (below). */
static inline void combine_row(const float *u, const float *p, const float *v, const float *m, const float *q,
                               const float *r, float *out, layout l, int64_t o) {
  if (l.inner == 1) { /* channels-last: the same formula, vectorized over a row's contiguous channels */
    const float *pv = v + o * l.c;
    float *po = out + o * l.c;
    if (u)
      for (int64_t c = 0; c < l.c; c++) po[c] = p[c] * u[o * l.c + c] + q[c] * (pv[c] - m[c]) + r[c];
    else
      for (int64_t c = 0; c < l.c; c++) po[c] = q[c] * (pv[c] - m[c]) + r[c];
    return;
  }
  for (int64_t c = 0; c < l.c; c++) {
    int64_t base = (o * l.c + c) * l.inner;
    const float *pv = v + base;
    float *po = out + base, qc = q[c], mc = m[c], rc = r[c];
    if (u) {
      const float *pu = u + base;
      float pc = p[c];
      for (int64_t k = 0; k < l.inner; k++) po[k] = pc * pu[k] + qc * (pv[k] - mc) + rc;
    } else {
      for (int64_t k = 0; k < l.inner; k++) po[k] = qc * (pv[k] - mc) + rc;
    }
  }
}

/* Rows [start, end) of channel_combine, compiled for the wide vectors too (DNN_SIMD_CLONES). */
DNN_SIMD_CLONES static void combine_rows(const float *u, const float *p, const float *v, const float *m, const float *q,
                                         const float *r, float *out, layout l, int64_t start, int64_t end) {
  for (int64_t o = start; o < end; o++) combine_row(u, p, v, m, q, r, out, l, o);
}

/* out = p[c] * u + q[c] * (v - m[c]) + r[c], the u term dropped when u is
 * NULL: the forward (q the scale, r beta) and dx (p, q, r from the sums). */
static void channel_combine(const float *u, const float *p, const float *v, const float *m, const float *q,
                            const float *r, float *out, layout l) {
  int64_t nblocks, per = rows_per_block(l.outer, l.c * l.inner, &nblocks);
#pragma omp parallel for schedule(static) if (l.outer * l.c * l.inner > DNN_PARALLEL_GRAIN)
  for (int64_t blk = 0; blk < nblocks; blk++)
    combine_rows(u, p, v, m, q, r, out, l, blk * per, (blk + 1) * per < l.outer ? (blk + 1) * per : l.outer);
}

/* ---- batch normalization ---- */

/* inputs: x, then gamma and beta when given; saved: mean, invstd (C) as used
 * by the forward. iargs: axis, has gamma, has beta, training. */
static dnn_status batch_norm_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin) {
  dnn_tensor *g = grad_out[0];
  const dnn_tensor *x = node->inputs[0];
  int axis = (int)node->iargs[0], ig = node->iargs[1] ? 1 : -1, ib = node->iargs[2] ? 1 + (ig > 0) : -1;
  bool training = node->iargs[3];
  layout l = layout_at(x, axis);
  int64_t C = l.c;
  double M = (double)l.outer * (double)l.inner;
  const float *mean = dnn_data(dnn_node_saved(node, 0)), *invstd = dnn_data(dnn_node_saved(node, 1));
  const float *gamma = ig > 0 ? dnn_data(node->inputs[ig]) : NULL;
  double *sum_g = malloc((size_t)(2 * C + 1) * sizeof(double)), *sum_gx = sum_g + C;
  float *coef = malloc((size_t)(3 * C + 1) * sizeof(float));
  dnn_status st = sum_g && coef ? DNN_OK : DNN_ENOMEM;
  /* dbeta, and dgamma / invstd */
  if (st == DNN_OK) st = channel_sums2(dnn_data(g), dnn_data(x), mean, l, sum_g, sum_gx);
  if (st == DNN_OK && ig > 0 && dnn_node_needs_grad(node, ig)) {
    if ((gin[ig] = dnn_empty(1, &C)) == NULL) st = DNN_ENOMEM;
    for (int64_t c = 0; st == DNN_OK && c < C; c++) dnn_data(gin[ig])[c] = (float)(sum_gx[c] * invstd[c]);
  }
  if (st == DNN_OK && ib > 0 && dnn_node_needs_grad(node, ib)) {
    if ((gin[ib] = dnn_empty(1, &C)) == NULL) st = DNN_ENOMEM;
    for (int64_t c = 0; st == DNN_OK && c < C; c++) dnn_data(gin[ib])[c] = (float)sum_g[c];
  }
  if (st == DNN_OK && dnn_node_needs_grad(node, 0)) {
    /* training: dx = a (g - sum(g)/M - (x - mean) invstd^2 sum(g (x - mean))/M), a = gamma invstd, since the batch
     * statistics depend on x; inference: dx = a g. */
    float *p = coef, *q = coef + C, *r = coef + 2 * C;
    for (int64_t c = 0; c < C; c++) {
      double a = (gamma ? gamma[c] : 1.0) * invstd[c];
      p[c] = (float)a;
      q[c] = training ? (float)(-a * invstd[c] * invstd[c] * sum_gx[c] / M) : 0;
      r[c] = training ? (float)(-a * sum_g[c] / M) : 0;
    }
    if ((gin[0] = dnn_empty_like(x)) == NULL)
      st = DNN_ENOMEM;
    else
      channel_combine(dnn_data(g), p, dnn_data(x), mean, q, r, dnn_data(gin[0]), l);
  }
  free(sum_g);
  free(coef);
  return st;
}

/* A per-channel vector argument: NULL, or 1-d of C elements. */
static dnn_status check_channel_vector(const dnn_tensor *t, int argn, const char *what, int64_t C) {
  char buf[96];
  if (t && (t->ndim != 1 || t->shape[0] != C))
    return dnn_argerror(argn, "batch_norm", "expected %s of shape (%lld), got %s", what, (long long)C,
                        dnn_shape_str(t, buf, sizeof buf));
  return DNN_OK;
}

static dnn_status check_batch_norm_args(const dnn_tensor *x, const dnn_tensor *gamma, const dnn_tensor *beta,
                                        const dnn_tensor *mm, const dnn_tensor *mv, const dnn_batch_norm_config *cfg,
                                        int *axis) {
  char buf[96];
  if (x->ndim < 1) return dnn_argerror(1, "batch_norm", "expected an input with a channel dim, got a 0-d tensor");
  if ((*axis = dnn_wrap_dim("batch_norm", 6, cfg->axis, x->ndim)) < 0) return DNN_EARG;
  int64_t C = x->shape[*axis];
  if (check_channel_vector(gamma, 2, "gamma", C) || check_channel_vector(beta, 3, "beta", C) ||
      check_channel_vector(mm, 4, "a moving mean", C) || check_channel_vector(mv, 5, "a moving variance", C))
    return DNN_EARG;
  if (!cfg->training && (!mm || !mv))
    return dnn_argerror(mm ? 5 : 4, "batch_norm", "expected the moving statistics in inference mode, got none");
  if (cfg->training && C > 0 && dnn_numel(x) == 0)
    return dnn_argerror(1, "batch_norm", "expected a non-empty batch in training mode, got %s",
                        dnn_shape_str(x, buf, sizeof buf));
  if (cfg->training && ((mm && (mm->requires_grad || mm->grad_fn)) || (mv && (mv->requires_grad || mv->grad_fn))))
    return dnn_argerror(mm && (mm->requires_grad || mm->grad_fn) ? 4 : 5, "batch_norm",
                        "expected moving statistics outside autodiff (updated in place), got one that requires grad");
  if (!(cfg->epsilon > 0)) return dnn_argerror(6, "batch_norm", "expected epsilon > 0, got %g", cfg->epsilon);
  return DNN_OK;
}

/* moving = moving * momentum + batch * (1 - momentum), through a copy so that
 * any view of the moving statistics works. */
static dnn_status update_moving(dnn_tensor *moving, const float *batch, float momentum) {
  int64_t C = moving->shape[0];
  dnn_tensor *next = dnn_empty(1, &C);
  if (!next) return DNN_ENOMEM;
  float *p = dnn_data(next);
  dnn_gather_to(moving, p);
  for (int64_t c = 0; c < C; c++) p[c] = p[c] * momentum + batch[c] * (1 - momentum);
  dnn_status st = dnn_copy(moving, next);
  dnn_tensor_release(next);
  return st;
}

dnn_tensor *dnn_batch_norm(dnn_tensor *x, dnn_tensor *gamma, dnn_tensor *beta, dnn_tensor *moving_mean,
                           dnn_tensor *moving_var, const dnn_batch_norm_config *cfg) {
  int axis = 0;
  if (check_batch_norm_args(x, gamma, beta, moving_mean, moving_var, cfg, &axis) != DNN_OK) return NULL;
  layout l = layout_at(x, axis);
  int64_t C = l.c;
  dnn_tensor *xc = dnn_contiguous(x), *gc = gamma ? dnn_contiguous(gamma) : NULL;
  dnn_tensor *bc = beta ? dnn_contiguous(beta) : NULL;
  dnn_tensor *mean = dnn_empty(1, &C), *invstd = dnn_empty(1, &C), *y = dnn_empty_like(x);
  double *sums = malloc((size_t)(C + 1) * sizeof(double));
  float *work = malloc((size_t)(3 * C + 1) * sizeof(float)); /* var, scale, shift */
  dnn_status st = xc && (gc || !gamma) && (bc || !beta) && mean && invstd && y && sums && work ? DNN_OK : DNN_ENOMEM;
  float *m = st == DNN_OK ? dnn_data(mean) : NULL, *var = work, *scale = work + C, *shift = work + 2 * C;
  if (st == DNN_OK && cfg->training) { /* batch statistics, two passes: the variance about the mean is exact */
    double M = (double)l.outer * (double)l.inner;
    st = channel_sums(dnn_data(xc), NULL, NULL, NULL, l, sums);
    for (int64_t c = 0; st == DNN_OK && c < C; c++) m[c] = (float)(sums[c] / M);
    if (st == DNN_OK) st = channel_sums(dnn_data(xc), m, dnn_data(xc), m, l, sums);
    for (int64_t c = 0; st == DNN_OK && c < C; c++) var[c] = (float)(sums[c] / M); /* biased, as Keras */
  } else if (st == DNN_OK) {
    dnn_gather_to(moving_mean, m);
    dnn_gather_to(moving_var, var);
  }
  if (st == DNN_OK) {
    float *is = dnn_data(invstd);
    const float *gp = gc ? dnn_data(gc) : NULL, *bp = bc ? dnn_data(bc) : NULL;
    for (int64_t c = 0; c < C; c++) {
      is[c] = (float)(1 / sqrt((double)var[c] + cfg->epsilon));
      scale[c] = (gp ? gp[c] : 1) * is[c];
      shift[c] = bp ? bp[c] : 0;
    }
    channel_combine(NULL, NULL, dnn_data(xc), m, scale, shift, dnn_data(y), l);
  }
  if (st == DNN_OK && cfg->training && moving_mean) st = update_moving(moving_mean, m, cfg->momentum);
  if (st == DNN_OK && cfg->training && moving_var) st = update_moving(moving_var, var, cfg->momentum);
  if (st == DNN_OK) {
    dnn_tensor *inputs[3] = {xc, gc ? gc : bc, gc ? bc : NULL};
    dnn_node *node = dnn_record(y, "batch_norm", batch_norm_backward, 1 + (gc != NULL) + (bc != NULL), inputs);
    if (node) {
      node->iargs[0] = axis;
      node->iargs[1] = gc != NULL;
      node->iargs[2] = bc != NULL;
      node->iargs[3] = cfg->training;
      if (dnn_node_save(node, dnn_tensor_retain(mean)) != DNN_OK ||
          dnn_node_save(node, dnn_tensor_retain(invstd)) != DNN_OK) {
        dnn_tensor_release(y);
        y = NULL;
      }
    }
  } else {
    if (st == DNN_ENOMEM && dnn_errcode() != DNN_ENOMEM) dnn_error(DNN_ENOMEM, "batch_norm", "out of memory");
    dnn_tensor_release(y);
    y = NULL;
  }
  free(sums);
  free(work);
  dnn_tensor_release(mean);
  dnn_tensor_release(invstd);
  dnn_tensor_release(xc);
  dnn_tensor_release(gc);
  dnn_tensor_release(bc);
  return y;
}

/* ---- layer normalization ---- */

/* Per row: mean and invstd = 1 / sqrt(var + eps), var biased; y = gamma xhat + beta. */
static void layer_norm_rows(const float *x, const float *gamma, const float *beta, float *y, float *mean, float *invstd,
                            int64_t rows, int64_t D, float eps) {
#pragma omp parallel for if (rows * D > DNN_PARALLEL_GRAIN)
  for (int64_t i = 0; i < rows; i++) {
    const float *xr = x + i * D;
    float *yr = y + i * D;
    double s = 0, s2 = 0;
    for (int64_t j = 0; j < D; j++) s += xr[j];
    float mu = (float)(s / (double)D);
    for (int64_t j = 0; j < D; j++) s2 += (double)(xr[j] - mu) * (xr[j] - mu);
    float is = (float)(1 / sqrt(s2 / (double)D + eps));
    mean[i] = mu;
    invstd[i] = is;
    for (int64_t j = 0; j < D; j++) yr[j] = (xr[j] - mu) * is * (gamma ? gamma[j] : 1) + (beta ? beta[j] : 0);
  }
}

/* dgamma[j] = sum_i g xhat, dbeta[j] = sum_i g over the rows, in blocks of rows. */
static dnn_status layer_norm_param_grads(const float *g, const float *x, const float *mean, const float *invstd,
                                         int64_t rows, int64_t D, float *dgamma, float *dbeta) {
  int64_t nblocks, per = rows_per_block(rows, D, &nblocks);
  double *part = calloc((size_t)(2 * nblocks * D + 1), sizeof(double));
  if (!part) return dnn_error(DNN_ENOMEM, "layer_norm", "out of memory for %lld sums", (long long)(2 * nblocks * D));
#pragma omp parallel for schedule(static) if (rows * D > DNN_PARALLEL_GRAIN)
  for (int64_t blk = 0; blk < nblocks; blk++) {
    double *ag = part + 2 * blk * D, *agx = ag + D;
    int64_t end = (blk + 1) * per < rows ? (blk + 1) * per : rows;
    for (int64_t i = blk * per; i < end; i++) {
      const float *gr = g + i * D, *xr = x + i * D;
      float mu = mean[i], is = invstd[i];
      for (int64_t j = 0; j < D; j++) {
        ag[j] += gr[j];
        agx[j] += gr[j] * ((xr[j] - mu) * is);
      }
    }
  }
  for (int64_t j = 0; j < D; j++) {
    double sg = 0, sgx = 0;
    for (int64_t blk = 0; blk < nblocks; blk++) {
      sg += part[2 * blk * D + j];
      sgx += part[2 * blk * D + D + j];
    }
    if (dbeta) dbeta[j] = (float)sg;
    if (dgamma) dgamma[j] = (float)sgx;
  }
  free(part);
  return DNN_OK;
}

/* dx = invstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), dxhat = g gamma, per row. */
static void layer_norm_dx(const float *g, const float *x, const float *gamma, const float *mean, const float *invstd,
                          float *dx, int64_t rows, int64_t D) {
#pragma omp parallel for if (rows * D > DNN_PARALLEL_GRAIN)
  for (int64_t i = 0; i < rows; i++) {
    const float *gr = g + i * D, *xr = x + i * D;
    float *dr = dx + i * D, mu = mean[i], is = invstd[i];
    double s1 = 0, s2 = 0;
    for (int64_t j = 0; j < D; j++) {
      float dxh = gr[j] * (gamma ? gamma[j] : 1);
      s1 += dxh;
      s2 += dxh * ((xr[j] - mu) * is);
    }
    float m1 = (float)(s1 / (double)D), m2 = (float)(s2 / (double)D);
    for (int64_t j = 0; j < D; j++) {
      float dxh = gr[j] * (gamma ? gamma[j] : 1);
      dr[j] = is * (dxh - m1 - (xr[j] - mu) * is * m2);
    }
  }
}

/* inputs: x, then gamma and beta when given; saved: mean, invstd per row.
 * iargs: has gamma, has beta. */
static dnn_status layer_norm_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin) {
  dnn_tensor *g = grad_out[0];
  const dnn_tensor *x = node->inputs[0], *mean = dnn_node_saved(node, 0);
  int ig = node->iargs[0] ? 1 : -1, ib = node->iargs[1] ? 1 + (ig > 0) : -1;
  int64_t rows = dnn_numel(mean), D = rows ? dnn_numel(x) / rows : 0;
  const float *gamma = ig > 0 ? dnn_data(node->inputs[ig]) : NULL;
  bool need_g = ig > 0 && dnn_node_needs_grad(node, ig), need_b = ib > 0 && dnn_node_needs_grad(node, ib);
  if (need_g && (gin[ig] = dnn_zeros_like(node->inputs[ig])) == NULL) return DNN_ENOMEM;
  if (need_b && (gin[ib] = dnn_zeros_like(node->inputs[ib])) == NULL) return DNN_ENOMEM;
  if (need_g || need_b) {
    dnn_status st =
        layer_norm_param_grads(dnn_data(g), dnn_data(x), dnn_data(mean), dnn_data(dnn_node_saved(node, 1)), rows, D,
                               need_g ? dnn_data(gin[ig]) : NULL, need_b ? dnn_data(gin[ib]) : NULL);
    if (st != DNN_OK) return st;
  }
  if (dnn_node_needs_grad(node, 0)) {
    if ((gin[0] = dnn_empty_like(x)) == NULL) return DNN_ENOMEM;
    layer_norm_dx(dnn_data(g), dnn_data(x), gamma, dnn_data(mean), dnn_data(dnn_node_saved(node, 1)), dnn_data(gin[0]),
                  rows, D);
  }
  return DNN_OK;
}

/* gamma / beta: NULL, or the shape of x's last naxes dims. */
static dnn_status check_ln_param(const dnn_tensor *x, const dnn_tensor *p, int argn, const char *what, int naxes) {
  char a[96], b[96];
  if (!p) return DNN_OK;
  bool ok = p->ndim == naxes;
  for (int d = 0; ok && d < naxes; d++) ok = p->shape[d] == x->shape[x->ndim - naxes + d];
  if (ok) return DNN_OK;
  /* the expected shape: the normalized dims of x, as text */
  int n = snprintf(a, sizeof a, "(");
  for (int d = 0; d < naxes && n < (int)sizeof a; d++)
    n += snprintf(a + n, sizeof a - (size_t)n, "%s%lld", d ? ", " : "", (long long)x->shape[x->ndim - naxes + d]);
  if (n < (int)sizeof a) snprintf(a + n, sizeof a - (size_t)n, ")");
  return dnn_argerror(argn, "layer_norm", "expected %s of shape %s, got %s", what, a, dnn_shape_str(p, b, sizeof b));
}

/* Checks the arguments and gives D, the number of values normalized together. */
static dnn_status check_layer_norm_args(const dnn_tensor *x, const dnn_tensor *gamma, const dnn_tensor *beta, int naxes,
                                        float epsilon, int64_t *D) {
  char buf[96];
  if (naxes < 1 || naxes > x->ndim)
    return dnn_argerror(4, "layer_norm", "expected 1 to %d normalized dims for input %s, got %d", x->ndim,
                        dnn_shape_str(x, buf, sizeof buf), naxes);
  *D = 1;
  for (int d = x->ndim - naxes; d < x->ndim; d++) *D *= x->shape[d];
  if (*D == 0)
    return dnn_argerror(1, "layer_norm", "expected non-empty normalized dims, got %s",
                        dnn_shape_str(x, buf, sizeof buf));
  if (check_ln_param(x, gamma, 2, "gamma", naxes) || check_ln_param(x, beta, 3, "beta", naxes)) return DNN_EARG;
  if (!(epsilon > 0)) return dnn_argerror(5, "layer_norm", "expected epsilon > 0, got %g", epsilon);
  return DNN_OK;
}

/* Layer norm from recorded ops, for gradients of gradients: rows of D
 * values, (x - mean) / sqrt(var + epsilon) * gamma + beta. */
static dnn_status layer_norm_decompose(dnn_node *node, dnn_tensor *const *inputs, dnn_tensor **outputs) {
  dnn_tensor *x = inputs[0];
  dnn_tensor *gamma = node->iargs[0] ? inputs[1] : NULL, *beta = node->iargs[1] ? inputs[1 + (gamma != NULL)] : NULL;
  int64_t D = 1;
  for (int d = x->ndim - (int)node->iargs[2]; d < x->ndim; d++) D *= x->shape[d];
  int64_t rows_shape[2] = {dnn_numel(x) / D, D};
  dnn_tensor *t[11] = {NULL};
  t[0] = dnn_reshape(x, 2, rows_shape);
  t[1] = t[0] ? dnn_mean(t[0], 1, true) : NULL;
  t[2] = t[1] ? dnn_sub(t[0], t[1]) : NULL; /* x - mean */
  t[3] = t[2] ? dnn_mul(t[2], t[2]) : NULL;
  t[4] = t[3] ? dnn_mean(t[3], 1, true) : NULL; /* var */
  t[5] = t[4] ? dnn_affine(t[4], 1, (float)node->fargs[0]) : NULL;
  t[6] = t[5] ? dnn_pow_scalar(t[5], -0.5f) : NULL; /* 1 / std */
  t[7] = t[6] ? dnn_mul(t[2], t[6]) : NULL;
  t[8] = t[7] ? dnn_reshape(t[7], x->ndim, x->shape) : NULL;
  t[9] = t[8] && gamma ? dnn_mul(t[8], gamma) : NULL;
  dnn_tensor *scaled = gamma ? t[9] : t[8];
  t[10] = scaled && beta ? dnn_add(scaled, beta) : NULL;
  dnn_tensor *y = beta ? t[10] : scaled;
  outputs[0] = dnn_tensor_retain(y);
  for (int i = 0; i < 11; i++) dnn_tensor_release(t[i]);
  return y ? DNN_OK : dnn_errcode();
}

dnn_tensor *dnn_layer_norm(dnn_tensor *x, dnn_tensor *gamma, dnn_tensor *beta, int naxes, float epsilon) {
  int64_t D = 1;
  if (check_layer_norm_args(x, gamma, beta, naxes, epsilon, &D) != DNN_OK) return NULL;
  int64_t rows = dnn_numel(x) / D;
  dnn_tensor *xc = dnn_contiguous(x), *gc = gamma ? dnn_contiguous(gamma) : NULL;
  dnn_tensor *bc = beta ? dnn_contiguous(beta) : NULL;
  dnn_tensor *mean = dnn_empty(1, &rows), *invstd = dnn_empty(1, &rows), *y = dnn_empty_like(x);
  if (xc && (gc || !gamma) && (bc || !beta) && mean && invstd && y) {
    layer_norm_rows(dnn_data(xc), gc ? dnn_data(gc) : NULL, bc ? dnn_data(bc) : NULL, dnn_data(y), dnn_data(mean),
                    dnn_data(invstd), rows, D, epsilon);
    dnn_tensor *inputs[3] = {xc, gc ? gc : bc, gc ? bc : NULL};
    dnn_node *node = dnn_record(y, "layer_norm", layer_norm_backward, 1 + (gc != NULL) + (bc != NULL), inputs);
    if (node) {
      node->iargs[0] = gc != NULL;
      node->iargs[1] = bc != NULL;
      node->iargs[2] = naxes;
      node->fargs[0] = epsilon;
      node->decompose = layer_norm_decompose;
      if (dnn_node_save(node, dnn_tensor_retain(mean)) != DNN_OK ||
          dnn_node_save(node, dnn_tensor_retain(invstd)) != DNN_OK) {
        dnn_tensor_release(y);
        y = NULL;
      }
    }
  } else {
    dnn_tensor_release(y);
    y = NULL;
  }
  dnn_tensor_release(mean);
  dnn_tensor_release(invstd);
  dnn_tensor_release(xc);
  dnn_tensor_release(gc);
  dnn_tensor_release(bc);
  return y;
}
