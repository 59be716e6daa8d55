/* Joining (cat, stack) and indexing (index_select, gather, one_hot), each
 * forward next to its backward. Index tensors hold whole numbers as floats,
 * counted from `base` (0 from C, 1 from Lua). */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dnn/autograd.h"
#include "dnn/ops.h"
#include "dnn/parallel.h"

/* Records out = op(inputs) when needed; releases out and returns NULL when
 * recording fails. */
static dnn_node *record(dnn_tensor **out, const char *op, dnn_backward_fn backward, int n, dnn_tensor *const *ins) {
  if (!dnn_needs_record(n, ins)) return NULL;
  dnn_node *node = dnn_record(*out, op, backward, n, ins);
  if (!node) {
    dnn_tensor_release(*out);
    *out = NULL;
  }
  return node;
}

/* Product of shape[from..to). */
static int64_t span(const int64_t *shape, int from, int to) {
  int64_t n = 1;
  for (int d = from; d < to; d++) n *= shape[d];
  return n;
}

/* A contiguous float pointer to t's elements: t's own data, or a copy in
 * *owned (to free) when t is strided. */
static const float *contiguous_data(const dnn_tensor *t, float **owned, const char *fn) {
  *owned = NULL;
  if (dnn_is_contiguous(t)) return dnn_data(t);
  int64_t n = dnn_numel(t);
  *owned = malloc((size_t)(n ? n : 1) * sizeof(float));
  if (!*owned) {
    dnn_error(DNN_ENOMEM, fn, "out of memory");
    return NULL;
  }
  dnn_gather_to(t, *owned);
  return *owned;
}

/* ---- cat ---- */

/* Each input's gradient is its slice of g along dim. */
static dnn_status cat_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin) {
  dnn_tensor *g = grad_out[0];
  int dim = (int)node->iargs[0];
  int64_t start = 0;
  for (int i = 0; i < node->n_inputs; i++) {
    int64_t len = node->inputs[i]->shape[dim];
    if (dnn_node_needs_grad(node, i)) {
      dnn_tensor *slice = dnn_narrow(g, dim, start, len);
      if (!slice) return dnn_errcode();
      gin[i] = dnn_contiguous(slice);
      dnn_tensor_release(slice);
      if (!gin[i]) return dnn_errcode();
    }
    start += len;
  }
  return DNN_OK;
}

/* Every tensor must match ts[0] except along dim. */
static dnn_status check_cat_shapes(int n, dnn_tensor *const *ts, int dim) {
  const dnn_tensor *first = ts[0];
  for (int i = 1; i < n; i++) {
    const dnn_tensor *t = ts[i];
    bool ok = t->ndim == first->ndim;
    for (int d = 0; ok && d < t->ndim; d++) ok = d == dim || t->shape[d] == first->shape[d];
    if (!ok) {
      char a[96], b[96];
      return dnn_argerror(1, "cat", "expected tensor %d to match tensor 1 of shape %s except at dim %d, got %s", i + 1,
                          dnn_shape_str(first, a, sizeof a), dim + 1, dnn_shape_str(t, b, sizeof b));
    }
  }
  return DNN_OK;
}

dnn_tensor *dnn_cat(int n, dnn_tensor *const *ts, int dim) {
  if (n < 1) return dnn_argerror(1, "cat", "expected at least one tensor, got none"), NULL;
  for (int i = 0; i < n; i++)
    if (ts[i]->ndim == 0)
      return dnn_argerror(1, "cat", "expected tensors with at least 1 dim, got a 0-d tensor %d", i + 1), NULL;
  int d = dnn_wrap_dim("cat", 2, dim, ts[0]->ndim);
  if (d < 0 || check_cat_shapes(n, ts, d) != DNN_OK) return NULL;
  int64_t shape[DNN_MAX_DIMS];
  memcpy(shape, ts[0]->shape, sizeof shape);
  shape[d] = 0;
  for (int i = 0; i < n; i++) shape[d] += ts[i]->shape[d];
  if (dnn_check_shape("cat", 1, ts[0]->ndim, shape) != DNN_OK) return NULL;
  dnn_tensor *out = dnn_empty(ts[0]->ndim, shape);
  if (!out) return NULL;

  /* out is (outer, shape[d] * inner); input i fills a column block of it. */
  int64_t outer = span(shape, 0, d), inner = span(shape, d + 1, ts[0]->ndim), row = shape[d] * inner;
  float *o = dnn_data(out);
  int64_t col = 0;
  for (int i = 0; i < n; i++) {
    float *owned;
    const float *src = contiguous_data(ts[i], &owned, "cat");
    if (!src) {
      dnn_tensor_release(out);
      return NULL;
    }
    int64_t w = ts[i]->shape[d] * inner;
#pragma omp parallel for if (outer * w > DNN_PARALLEL_GRAIN)
    for (int64_t r = 0; r < outer; r++) memcpy(o + r * row + col, src + r * w, (size_t)w * sizeof(float));
    free(owned);
    col += w;
  }
  dnn_node *node = record(&out, "cat", cat_backward, n, ts);
  if (node) {
    node->iargs[0] = d;
    node->flags |= DNN_NODE_SHAPES_ONLY | DNN_NODE_DIFFERENTIABLE; /* narrow + contiguous, both recorded */
  }
  return out;
}

/* stack(dim) = cat of each input unsqueezed at dim; the views carry the
 * gradient back. */
dnn_tensor *dnn_stack(int n, dnn_tensor *const *ts, int dim) {
  if (n < 1) return dnn_argerror(1, "stack", "expected at least one tensor, got none"), NULL;
  int nd = ts[0]->ndim;
  if (nd >= DNN_MAX_DIMS)
    return dnn_argerror(1, "stack", "expected tensors with fewer than %d dims", DNN_MAX_DIMS), NULL;
  int d = dim < 0 ? dim + nd + 1 : dim;
  if (d < 0 || d > nd) return dnn_argerror(2, "stack", "dim out of range for a %d-d result", nd + 1), NULL;
  for (int i = 1; i < n; i++) {
    if (!dnn_same_shape(ts[i], ts[0])) {
      char a[96], b[96];
      return dnn_argerror(1, "stack", "expected tensor %d to have the shape %s of tensor 1, got %s", i + 1,
                          dnn_shape_str(ts[0], a, sizeof a), dnn_shape_str(ts[i], b, sizeof b)),
             NULL;
    }
  }
  dnn_tensor *small[16];
  dnn_tensor **us = n <= 16 ? small : calloc((size_t)n, sizeof *us);
  if (!us) return dnn_error(DNN_ENOMEM, "stack", "out of memory"), NULL;
  dnn_tensor *out = NULL;
  int made = 0;
  for (; made < n; made++)
    if (!(us[made] = dnn_unsqueeze(ts[made], d))) break;
  if (made == n) out = dnn_cat(n, us, d);
  for (int i = 0; i < made; i++) dnn_tensor_release(us[i]);
  if (us != small) free(us);
  return out;
}

/* ---- indices ---- */

/* Reads index (whole numbers from base) into int64 positions in [0, size);
 * names fn, the bad value and the valid range on error. *out is malloc'd. */
static dnn_status read_indices(const char *fn, int argn, const dnn_tensor *index, int64_t size, int base,
                               int64_t **out) {
  int64_t n = dnn_numel(index);
  float *owned;
  const float *v = contiguous_data(index, &owned, fn);
  if (!v) return dnn_errcode();
  int64_t *pos = malloc((size_t)(n ? n : 1) * sizeof *pos);
  if (!pos) {
    free(owned);
    return dnn_error(DNN_ENOMEM, fn, "out of memory");
  }
  for (int64_t i = 0; i < n; i++) {
    double x = v[i];
    if (!(x >= base && x < (double)base + (double)size) || x != floor(x)) {
      dnn_status st = size > 0 ? dnn_argerror(argn, fn, "expected whole-number indices in [%d, %" PRId64 "], got %g",
                                              base, (int64_t)base + size - 1, x)
                               : dnn_argerror(argn, fn, "index %g out of range: the dim has size 0", x);
      free(pos);
      free(owned);
      return st;
    }
    pos[i] = (int64_t)x - base;
  }
  free(owned);
  *out = pos;
  return DNN_OK;
}

/* The index as saved for backward: a private contiguous copy, so that later
 * writes to the caller's index cannot change the gradient. */
static dnn_tensor *save_index(const dnn_tensor *index) {
  dnn_tensor *c = dnn_empty(index->ndim, index->shape);
  if (c) dnn_gather_to(index, dnn_data(c));
  return c;
}

/* Records an op that reads a along dim at the positions in index (index_select,
 * gather): its backward needs dim, base and its own copy of the index. Returns
 * out, or NULL (out released) when recording fails. */
static dnn_tensor *record_indexed(dnn_tensor *out, const char *op, dnn_backward_fn backward, dnn_tensor *a, int dim,
                                  const dnn_tensor *index, int base) {
  dnn_node *node = record(&out, op, backward, 1, &a);
  if (node) {
    node->iargs[0] = dim;
    node->iargs[1] = base;
    if (dnn_node_save(node, save_index(index)) != DNN_OK) {
      dnn_tensor_release(out);
      return NULL;
    }
  }
  return out;
}

/* ---- index_select ---- */

/* ga[..., pos[i], ...] += g[..., i, ...]: a scatter-add (indices may repeat).
 * Parallel over the outer rows only, each of which owns its slice of ga. */
static void index_add(float *ga, const float *g, const int64_t *pos, int64_t outer, int64_t len, int64_t size,
                      int64_t inner) {
#pragma omp parallel for if (outer > 1 && outer * len * inner > DNN_PARALLEL_GRAIN)
  for (int64_t r = 0; r < outer; r++)
    for (int64_t i = 0; i < len; i++) {
      float *dst = ga + (r * size + pos[i]) * inner;
      const float *src = g + (r * len + i) * inner;
      for (int64_t j = 0; j < inner; j++) dst[j] += src[j];
    }
}

static dnn_status index_select_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin) {
  dnn_tensor *g = grad_out[0];
  const dnn_tensor *a = node->inputs[0], *index = dnn_node_saved(node, 0);
  int dim = (int)node->iargs[0];
  int64_t *pos;
  dnn_status st = read_indices("index_select", 3, index, a->shape[dim], (int)node->iargs[1], &pos);
  if (st != DNN_OK) return st;
  gin[0] = dnn_zeros(a->ndim, a->shape);
  if (!gin[0]) {
    free(pos);
    return dnn_errcode();
  }
  index_add(dnn_data(gin[0]), dnn_data(g), pos, span(a->shape, 0, dim), dnn_numel(index), a->shape[dim],
            span(a->shape, dim + 1, a->ndim));
  free(pos);
  return DNN_OK;
}

dnn_tensor *dnn_index_select(dnn_tensor *a, int dim, dnn_tensor *index, int base) {
  if (a->ndim == 0)
    return dnn_argerror(1, "index_select", "expected a tensor with at least 1 dim, got a 0-d tensor"), NULL;
  int d = dnn_wrap_dim("index_select", 2, dim, a->ndim);
  if (d < 0) return NULL;
  if (index->ndim != 1)
    return dnn_argerror(3, "index_select", "expected a 1-d index, got a %d-d one", index->ndim), NULL;
  int64_t *pos;
  if (read_indices("index_select", 3, index, a->shape[d], base, &pos) != DNN_OK) return NULL;
  int64_t len = index->shape[0], size = a->shape[d];
  int64_t shape[DNN_MAX_DIMS];
  memcpy(shape, a->shape, sizeof shape);
  shape[d] = len;
  dnn_tensor *out = dnn_empty(a->ndim, shape);
  float *owned = NULL;
  const float *src = out ? contiguous_data(a, &owned, "index_select") : NULL;
  if (!src) {
    dnn_tensor_release(out);
    free(pos);
    return NULL;
  }
  int64_t outer = span(shape, 0, d), inner = span(shape, d + 1, a->ndim);
  float *o = dnn_data(out);
#pragma omp parallel for if (outer * len * inner > DNN_PARALLEL_GRAIN)
  for (int64_t k = 0; k < outer * len; k++) {
    int64_t r = k / len, i = k % len;
    memcpy(o + k * inner, src + (r * size + pos[i]) * inner, (size_t)inner * sizeof(float));
  }
  free(owned);
  free(pos);
  return record_indexed(out, "index_select", index_select_backward, a, d, index, base);
}

/* ---- gather ---- */

/* For every element e of index (shape ishape, positions pos): the offset in a
 * (strides astride) of a[e with its dim-th coordinate replaced by pos[e]].
 * Then gather copies, and its backward adds, along these offsets. */
static void gather_offsets(int nd, const int64_t *ishape, const int64_t *astride, int dim, const int64_t *pos,
                           int64_t n, int64_t *off) {
  int64_t idx[DNN_MAX_DIMS] = {0};
  for (int64_t e = 0; e < n; e++) {
    int64_t o = pos[e] * astride[dim];
    for (int d = 0; d < nd; d++)
      if (d != dim) o += idx[d] * astride[d];
    off[e] = o;
    for (int d = nd - 1; d >= 0; d--) {
      if (++idx[d] < ishape[d]) break;
      idx[d] = 0;
    }
  }
}

/* Positions and a-offsets of every index element; *off is malloc'd. */
static dnn_status gather_plan(const char *fn, const dnn_tensor *a, int dim, const dnn_tensor *index, int base,
                              const int64_t *astride, int64_t **off) {
  int64_t *pos;
  dnn_status st = read_indices(fn, 3, index, a->shape[dim], base, &pos);
  if (st != DNN_OK) return st;
  /* in place: off[e] needs only pos[e] */
  gather_offsets(a->ndim, index->shape, astride, dim, pos, dnn_numel(index), pos);
  *off = pos;
  return DNN_OK;
}

static dnn_status gather_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin) {
  dnn_tensor *g = grad_out[0];
  const dnn_tensor *a = node->inputs[0], *index = dnn_node_saved(node, 0);
  int dim = (int)node->iargs[0];
  gin[0] = dnn_zeros(a->ndim, a->shape);
  if (!gin[0]) return dnn_errcode();
  int64_t *off;
  dnn_status st = gather_plan("gather", a, dim, index, (int)node->iargs[1], gin[0]->stride, &off);
  if (st != DNN_OK) return st;
  float *ga = dnn_data(gin[0]);
  const float *gv = dnn_data(g);
  int64_t n = dnn_numel(index);
  for (int64_t e = 0; e < n; e++) ga[off[e]] += gv[e]; /* serial: offsets may repeat */
  free(off);
  return DNN_OK;
}

dnn_tensor *dnn_gather(dnn_tensor *a, int dim, dnn_tensor *index, int base) {
  if (a->ndim == 0) return dnn_argerror(1, "gather", "expected a tensor with at least 1 dim, got a 0-d tensor"), NULL;
  int d = dnn_wrap_dim("gather", 2, dim, a->ndim);
  if (d < 0) return NULL;
  if (index->ndim != a->ndim)
    return dnn_argerror(3, "gather", "expected an index with the %d dims of the input, got %d", a->ndim, index->ndim),
           NULL;
  for (int k = 0; k < a->ndim; k++) {
    if (k != d && index->shape[k] > a->shape[k]) {
      char x[96], y[96];
      return dnn_argerror(3, "gather", "expected an index no larger than the input %s except at dim %d, got %s",
                          dnn_shape_str(a, x, sizeof x), d + 1, dnn_shape_str(index, y, sizeof y)),
             NULL;
    }
  }
  int64_t *off;
  if (gather_plan("gather", a, d, index, base, a->stride, &off) != DNN_OK) return NULL;
  dnn_tensor *out = dnn_empty(index->ndim, index->shape);
  if (!out) {
    free(off);
    return NULL;
  }
  const float *src = dnn_data(a);
  float *o = dnn_data(out);
  int64_t n = dnn_numel(out);
#pragma omp parallel for if (n > DNN_PARALLEL_GRAIN)
  for (int64_t e = 0; e < n; e++) o[e] = src[off[e]];
  free(off);
  return record_indexed(out, "gather", gather_backward, a, d, index, base);
}

/* ---- one_hot ---- */

dnn_tensor *dnn_one_hot(dnn_tensor *labels, int64_t n, int base) {
  if (n < 1) return dnn_argerror(2, "one_hot", "expected a class count >= 1, got %" PRId64, n), NULL;
  if (labels->ndim >= DNN_MAX_DIMS)
    return dnn_argerror(1, "one_hot", "expected labels with fewer than %d dims", DNN_MAX_DIMS), NULL;
  int64_t *pos;
  if (read_indices("one_hot", 1, labels, n, base, &pos) != DNN_OK) return NULL;
  int64_t shape[DNN_MAX_DIMS];
  memcpy(shape, labels->shape, (size_t)labels->ndim * sizeof *shape);
  shape[labels->ndim] = n;
  dnn_tensor *out =
      dnn_check_shape("one_hot", 2, labels->ndim + 1, shape) == DNN_OK ? dnn_zeros(labels->ndim + 1, shape) : NULL;
  if (out) {
    float *o = dnn_data(out);
    int64_t count = dnn_numel(labels);
    for (int64_t i = 0; i < count; i++) o[i * n + pos[i]] = 1;
  }
  free(pos);
  return out;
}
