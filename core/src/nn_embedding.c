/* Embedding lookup: the rows of a table gathered by id, and its gradient, the
 * rows of g scattered back into the table's shape and summed per id.
 *
 * Ids are whole numbers held in a float tensor (the toolkit's tensors are
 * float32), counted from 1 as every id in dnnlua: id v is row v - 1 of the
 * (V, D) table. With mask_zero, id 0 is padding: it embeds to a row of zeros
 * and sends no gradient (Keras's mask_zero masks those steps anyway, and a
 * zero row keeps a layer that ignores the mask from reading anything). Any
 * other value (0 without mask_zero, above V, negative, fractional, NaN) is an
 * error naming the value and its position in ids.
 *
 * The two ops are linear in their float input and each is the other's
 * gradient, so each records the other as its backward: gradients of any order
 * work (DNN_NODE_DIFFERENTIABLE), on the same kernels.
 *
 * The scatter-add is the same at any thread count: the positions are grouped
 * by row once (a counting sort that keeps their order), then every row is
 * summed by one thread over its positions in increasing order. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnn/autograd.h"
#include "dnn/nn.h"
#include "dnn/parallel.h"

/* Writes position p of a tensor of shape (ndim, shape) as "[i, j, ...]", 1-based as Lua indexes. */
static void position_str(int64_t p, int ndim, const int64_t *shape, char *buf, size_t size) {
  int64_t idx[DNN_MAX_DIMS];
  for (int d = ndim - 1; d >= 0; d--) {
    idx[d] = shape[d] > 0 ? p % shape[d] : 0;
    p = shape[d] > 0 ? p / shape[d] : 0;
  }
  size_t used = (size_t)snprintf(buf, size, "[");
  for (int d = 0; d < ndim && used < size; d++)
    used += (size_t)snprintf(buf + used, size - used, d ? ", %lld" : "%lld", (long long)idx[d] + 1);
  if (used < size) snprintf(buf + used, size - used, "]");
}

/* The table row of every id (-1 for padding), into *out (malloc'd); an error names op, the bad id and where. */
static dnn_status read_ids(const char *op, int argn, const dnn_tensor *ids, int64_t rows, bool mask_zero,
                           int64_t **out) {
  int64_t n = dnn_numel(ids);
  float *v = malloc((size_t)(n ? n : 1) * sizeof *v);
  int64_t *row = malloc((size_t)(n ? n : 1) * sizeof *row);
  if (!v || !row) {
    free(v);
    free(row);
    return dnn_error(DNN_ENOMEM, op, "out of memory");
  }
  dnn_gather_to(ids, v);
  for (int64_t p = 0; p < n; p++) {
    double id = v[p];
    bool whole = id == floor(id);
    if (whole && id >= 1 && id <= (double)rows) {
      row[p] = (int64_t)id - 1;
      continue;
    }
    if (whole && id == 0 && mask_zero) {
      row[p] = -1;
      continue;
    }
    char where[160], shape[96];
    position_str(p, ids->ndim, ids->shape, where, sizeof where);
    dnn_shape_str(ids, shape, sizeof shape);
    dnn_status st;
    if (whole && id == 0)
      st = dnn_argerror(argn, op,
                        "got id 0 at %s of ids %s: ids count from 1, and 0 means padding only with mask_zero "
                        "(expected ids in 1..%lld)",
                        where, shape, (long long)rows);
    else
      st = dnn_argerror(argn, op, "expected whole-number ids in 1..%lld%s, got %g at %s of ids %s", (long long)rows,
                        mask_zero ? " (or 0 for padding)" : "", id, where, shape);
    free(v);
    free(row);
    return st;
  }
  free(v);
  *out = row;
  return DNN_OK;
}

/* ids as saved for backward: a private contiguous copy, so that later writes to the caller's ids cannot change
 * the gradient. */
static dnn_tensor *copy_ids(const dnn_tensor *ids) {
  dnn_tensor *c = dnn_empty(ids->ndim, ids->shape);
  if (c) dnn_gather_to(ids, dnn_data(c));
  return c;
}

/* y[p, :] = table[row[p], :], or zeros where row[p] < 0; n positions of width d. */
static void gather_rows(const float *table, const int64_t *row, int64_t n, int64_t d, float *y) {
#pragma omp parallel for schedule(static) if (n * d > DNN_PARALLEL_GRAIN)
  for (int64_t p = 0; p < n; p++) {
    if (row[p] < 0)
      memset(y + p * d, 0, (size_t)d * sizeof(float));
    else
      memcpy(y + p * d, table + row[p] * d, (size_t)d * sizeof(float));
  }
}

/* out[r, :] = sum of g[p, :] over the positions p with row[p] = r, in increasing p; out (rows, d). The positions
 * are grouped by row first (start[r]..start[r + 1] in order), so each row is one thread's, in a fixed order. */
static dnn_status scatter_rows(const float *g, const int64_t *row, int64_t n, int64_t rows, int64_t d, float *out) {
  int64_t *start = calloc((size_t)rows + 1, sizeof *start);
  int64_t *order = malloc((size_t)(n ? n : 1) * sizeof *order);
  if (!start || !order) {
    free(start);
    free(order);
    return dnn_error(DNN_ENOMEM, "embedding_grad", "out of memory");
  }
  for (int64_t p = 0; p < n; p++)
    if (row[p] >= 0) start[row[p] + 1]++;
  for (int64_t r = 0; r < rows; r++) start[r + 1] += start[r];
  /* fill each row's slots in position order; start[r] walks forward and ends at the next row's first slot */
  for (int64_t p = 0; p < n; p++)
    if (row[p] >= 0) order[start[row[p]]++] = p;
  for (int64_t r = rows; r > 0; r--) start[r] = start[r - 1];
  start[0] = 0;
#pragma omp parallel for schedule(dynamic, 16) if (n * d > DNN_PARALLEL_GRAIN || rows * d > DNN_PARALLEL_GRAIN)
  for (int64_t r = 0; r < rows; r++) {
    float *o = out + r * d;
    memset(o, 0, (size_t)d * sizeof(float));
    for (int64_t k = start[r]; k < start[r + 1]; k++) {
      const float *gp = g + order[k] * d;
      for (int64_t j = 0; j < d; j++) o[j] += gp[j];
    }
  }
  free(start);
  free(order);
  return DNN_OK;
}

/* inputs: the table; saved[0]: the ids; iargs[0]: mask_zero. d table = embedding_grad(g, ids). */
static dnn_status embedding_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin) {
  const dnn_tensor *table = node->inputs[0];
  gin[0] = dnn_embedding_grad(grad_out[0], dnn_node_saved(node, 0), table->shape[0], node->iargs[0] != 0);
  return gin[0] ? DNN_OK : dnn_errcode();
}

/* inputs: g; saved[0]: the ids; iargs[0]: mask_zero. d g = embedding(g_out, ids): the rows gathered back. */
static dnn_status embedding_grad_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin) {
  gin[0] = dnn_embedding(grad_out[0], dnn_node_saved(node, 0), node->iargs[0] != 0);
  return gin[0] ? DNN_OK : dnn_errcode();
}

/* Records out = op(in) with its backward, the ids saved; out released and NULL on failure. */
static dnn_tensor *record(dnn_tensor *out, const char *op, dnn_backward_fn backward, dnn_tensor *in,
                          const dnn_tensor *ids, bool mask_zero) {
  dnn_node *node = dnn_record(out, op, backward, 1, &in);
  if (!node) return out;
  /* linear in its input: the backward reads only its shape, and its own ops are recorded */
  node->flags |= DNN_NODE_DIFFERENTIABLE | DNN_NODE_SHAPES_ONLY;
  node->iargs[0] = mask_zero;
  if (dnn_node_save(node, copy_ids(ids)) != DNN_OK) {
    dnn_tensor_release(out);
    return NULL;
  }
  return out;
}

dnn_tensor *dnn_embedding(dnn_tensor *table, dnn_tensor *ids, bool mask_zero) {
  char a[96];
  if (table->ndim != 2)
    return dnn_argerror(1, "embedding", "expected a 2-d table (input_dim, output_dim), got %s",
                        dnn_shape_str(table, a, sizeof a)),
           NULL;
  if (ids->ndim >= DNN_MAX_DIMS)
    return dnn_argerror(2, "embedding", "expected ids of fewer than %d dims, got %s", DNN_MAX_DIMS,
                        dnn_shape_str(ids, a, sizeof a)),
           NULL;
  int64_t rows = table->shape[0], d = table->shape[1], n = dnn_numel(ids);
  int64_t *row;
  if (read_ids("embedding", 2, ids, rows, mask_zero, &row) != DNN_OK) return NULL;
  int64_t shape[DNN_MAX_DIMS];
  memcpy(shape, ids->shape, (size_t)ids->ndim * sizeof *shape);
  shape[ids->ndim] = d;
  if (dnn_check_shape("embedding", 2, ids->ndim + 1, shape) != DNN_OK) {
    free(row);
    return NULL;
  }
  dnn_tensor *tc = dnn_contiguous(table);
  dnn_tensor *y = tc ? dnn_empty(ids->ndim + 1, shape) : NULL;
  if (y) {
    gather_rows(dnn_data(tc), row, n, d, dnn_data(y));
    y = record(y, "embedding", embedding_backward, tc, ids, mask_zero);
  }
  dnn_tensor_release(tc);
  free(row);
  return y;
}

dnn_tensor *dnn_embedding_grad(dnn_tensor *g, dnn_tensor *ids, int64_t rows, bool mask_zero) {
  char a[96], b[96];
  if (rows < 1)
    return dnn_argerror(3, "embedding_grad", "expected a table of at least 1 row, got %lld", (long long)rows), NULL;
  bool fits = g->ndim == ids->ndim + 1;
  for (int i = 0; fits && i < ids->ndim; i++) fits = g->shape[i] == ids->shape[i];
  if (!fits)
    return dnn_argerror(1, "embedding_grad", "expected a gradient of the ids' shape %s and one more dim, got %s",
                        dnn_shape_str(ids, a, sizeof a), dnn_shape_str(g, b, sizeof b)),
           NULL;
  int64_t d = g->shape[g->ndim - 1], n = dnn_numel(ids);
  int64_t *row;
  if (read_ids("embedding_grad", 2, ids, rows, mask_zero, &row) != DNN_OK) return NULL;
  int64_t shape[2] = {rows, d};
  dnn_tensor *gc = dnn_contiguous(g);
  dnn_tensor *out = gc ? dnn_empty(2, shape) : NULL;
  if (out && scatter_rows(dnn_data(gc), row, n, rows, d, dnn_data(out)) != DNN_OK) {
    dnn_tensor_release(out);
    out = NULL;
  }
  if (out) out = record(out, "embedding_grad", embedding_grad_backward, gc, ids, mask_zero);
  dnn_tensor_release(gc);
  free(row);
  return out;
}
