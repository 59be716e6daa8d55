/* Views (share storage, copy nothing) and their backwards; contiguous copies;
 * in-place fill and copy. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "dnn/autograd.h"
#include "dnn/ops.h"
#include "dnn/tensor.h"

static dnn_tensor *make_view(dnn_tensor *t, int ndim, const int64_t *shape, const int64_t *stride, int64_t offset) {
  dnn_tensor *v = dnn_alias(t);
  if (!v) return NULL;
  v->ndim = ndim;
  for (int d = 0; d < ndim; d++) {
    v->shape[d] = shape[d];
    v->stride[d] = stride[d];
  }
  v->offset = offset;
  return v;
}

/* ---- backwards ---- */

static dnn_status reshape_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin) {
  dnn_tensor *g = grad_out[0];
  const dnn_tensor *in = node->inputs[0];
  gin[0] = dnn_view(g, in->ndim, in->shape); /* g is contiguous, so this is a view */
  return gin[0] ? DNN_OK : dnn_errcode();
}

static dnn_status identity_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin) {
  dnn_tensor *g = grad_out[0];
  (void)node;
  gin[0] = dnn_tensor_retain(g);
  return DNN_OK;
}

static dnn_status permute_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin) {
  dnn_tensor *g = grad_out[0];
  int inverse[DNN_MAX_DIMS];
  for (int d = 0; d < g->ndim; d++) inverse[node->iargs[d]] = d;
  dnn_tensor *p = dnn_permute(g, inverse);
  if (!p) return dnn_errcode();
  gin[0] = dnn_contiguous(p);
  dnn_tensor_release(p);
  return gin[0] ? DNN_OK : dnn_errcode();
}

static dnn_tensor *slice_view(dnn_tensor *t, int dim, int64_t start, int64_t length, bool drop);
static void scatter_from(dnn_tensor *t, const float *src, bool add);

/* The slice a slice node took, of a tensor of its input's shape (not recorded). */
static dnn_tensor *same_slice(const dnn_node *node, dnn_tensor *t, const dnn_tensor *g) {
  int dim = (int)node->iargs[0];
  return slice_view(t, dim, node->iargs[1], node->iargs[2] ? 1 : g->shape[dim], node->iargs[2]);
}

/* The gradient of "zeros with g in the slice" is the slice of its gradient. */
static dnn_status unslice_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin) {
  dnn_tensor *s = same_slice(node, grad_out[0], node->inputs[0]);
  if (!s) return dnn_errcode();
  gin[0] = dnn_contiguous(s);
  dnn_tensor_release(s);
  return gin[0] ? DNN_OK : dnn_errcode();
}

/* narrow and select: the gradient is zero outside the slice. It is added
 * straight into the source's gradient buffer where the engine has one, so
 * T slices of one tensor cost O(T) rather than T full-size zero tensors. */
static dnn_status slice_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin) {
  dnn_tensor *g = grad_out[0];
  dnn_tensor *in = node->inputs[0];
  dnn_tensor *buf = dnn_node_grad_buffer(node, 0);
  dnn_tensor *z = buf ? NULL : dnn_zeros(in->ndim, in->shape);
  dnn_tensor *slot = buf || z ? same_slice(node, buf ? buf : z, g) : NULL;
  if (!slot) {
    dnn_tensor_release(z);
    return dnn_errcode();
  }
  scatter_from(slot, dnn_data(g), true);
  dnn_tensor_release(slot);
  if (z && dnn_needs_record(1, &g)) { /* create_graph: z is recorded as a function of g */
    dnn_node *unslice = dnn_record(z, "slice_backward", unslice_backward, 1, &g);
    if (!unslice) {
      dnn_tensor_release(z);
      return dnn_errcode();
    }
    unslice->flags |= DNN_NODE_SHAPES_ONLY | DNN_NODE_DIFFERENTIABLE;
    memcpy(unslice->iargs, node->iargs, sizeof node->iargs);
  }
  gin[0] = z;
  return DNN_OK;
}

static dnn_status expand_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin) {
  dnn_tensor *g = grad_out[0];
  const dnn_tensor *in = node->inputs[0];
  gin[0] = dnn_sum_to_shape(g, in->ndim, in->shape);
  return gin[0] ? DNN_OK : dnn_errcode();
}

/* Records a view op; views of a tensor that needs grad are part of the graph. */
static dnn_tensor *recorded_as(dnn_tensor *out, dnn_tensor *in, const char *op, dnn_backward_fn backward,
                               unsigned flags) {
  if (!out || !dnn_needs_record(1, &in)) return out;
  dnn_node *node = dnn_record(out, op, backward, 1, &in);
  if (!node) {
    dnn_tensor_release(out);
    return NULL;
  }
  node->flags |= flags | DNN_NODE_SHAPES_ONLY | DNN_NODE_DIFFERENTIABLE;
  return out;
}

static dnn_tensor *recorded(dnn_tensor *out, dnn_tensor *in, const char *op, dnn_backward_fn backward) {
  return recorded_as(out, in, op, backward, DNN_NODE_VIEW);
}

/* ---- view ---- */

/* Strides for viewing t as shape without copying, or false (PyTorch's rule:
 * each run of dims that is contiguous in memory can be split or merged). */
static bool view_strides(const dnn_tensor *t, int ndim, const int64_t *shape, int64_t *stride) {
  int64_t numel = dnn_numel(t);
  if (numel == 0 || t->ndim == 0) {
    int64_t s = 1;
    for (int d = ndim - 1; d >= 0; d--) {
      stride[d] = s;
      s *= shape[d] > 0 ? shape[d] : 1;
    }
    return true;
  }
  int view_d = ndim - 1;
  int64_t chunk_base_stride = t->stride[t->ndim - 1];
  int64_t tensor_numel = 1, view_numel = 1;
  for (int d = t->ndim - 1; d >= 0; d--) {
    tensor_numel *= t->shape[d];
    if (d == 0 || (t->shape[d - 1] != 1 && t->stride[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        stride[view_d] = view_numel * chunk_base_stride;
        view_numel *= shape[view_d];
        view_d--;
      }
      if (view_numel != tensor_numel) return false;
      if (d > 0) {
        chunk_base_stride = t->stride[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  return view_d == -1;
}

/* Fills out_shape from shape, resolving one -1; checks the element count. */
static dnn_status infer_shape(const char *fn, const dnn_tensor *t, int ndim, const int64_t *shape, int64_t *out) {
  if (ndim < 0 || ndim > DNN_MAX_DIMS)
    return dnn_argerror(2, fn, "expected at most %d dims, got %d", DNN_MAX_DIMS, ndim);
  int infer = -1;
  int64_t known = 1;
  for (int d = 0; d < ndim; d++) {
    out[d] = shape[d];
    if (shape[d] == -1) {
      if (infer >= 0) return dnn_argerror(2, fn, "expected at most one -1 in the shape, got two");
      infer = d;
    } else if (shape[d] < 0) {
      return dnn_argerror(2, fn, "expected sizes >= 0 or -1, got %" PRId64, shape[d]);
    } else {
      known *= shape[d];
    }
  }
  int64_t numel = dnn_numel(t);
  char buf[96];
  if (infer >= 0) {
    if (known == 0 || numel % known != 0)
      return dnn_argerror(2, fn, "shape does not fit %" PRId64 " elements of %s", numel,
                          dnn_shape_str(t, buf, sizeof buf));
    out[infer] = numel / known;
  } else if (known != numel) {
    return dnn_argerror(2, fn, "expected %" PRId64 " elements to match %s, got %" PRId64, numel,
                        dnn_shape_str(t, buf, sizeof buf), known);
  }
  return DNN_OK;
}

dnn_tensor *dnn_view(dnn_tensor *t, int ndim, const int64_t *shape) {
  int64_t sh[DNN_MAX_DIMS], st[DNN_MAX_DIMS];
  if (infer_shape("view", t, ndim, shape, sh) != DNN_OK) return NULL;
  if (!view_strides(t, ndim, sh, st)) {
    dnn_argerror(1, "view", "expected a tensor whose layout allows this view, got a non-contiguous one (use reshape)");
    return NULL;
  }
  return recorded(make_view(t, ndim, sh, st, t->offset), t, "view", reshape_backward);
}

dnn_tensor *dnn_reshape(dnn_tensor *t, int ndim, const int64_t *shape) {
  int64_t sh[DNN_MAX_DIMS], st[DNN_MAX_DIMS];
  if (infer_shape("reshape", t, ndim, shape, sh) != DNN_OK) return NULL;
  if (view_strides(t, ndim, sh, st))
    return recorded(make_view(t, ndim, sh, st, t->offset), t, "reshape", reshape_backward);
  dnn_tensor *c = dnn_contiguous(t);
  if (!c) return NULL;
  dnn_tensor *v = dnn_view(c, ndim, sh);
  dnn_tensor_release(c);
  return v;
}

dnn_tensor *dnn_permute(dnn_tensor *t, const int *perm) {
  int64_t sh[DNN_MAX_DIMS], st[DNN_MAX_DIMS];
  bool seen[DNN_MAX_DIMS] = {false};
  for (int d = 0; d < t->ndim; d++) {
    int p = perm[d];
    if (p < 0 || p >= t->ndim || seen[p])
      return dnn_argerror(2, "permute", "expected a permutation of the %d dims, got a repeated or out-of-range dim",
                          t->ndim),
             NULL;
    seen[p] = true;
    sh[d] = t->shape[p];
    st[d] = t->stride[p];
  }
  dnn_tensor *v = recorded(make_view(t, t->ndim, sh, st, t->offset), t, "permute", permute_backward);
  if (v && v->grad_fn)
    for (int d = 0; d < t->ndim; d++) v->grad_fn->iargs[d] = perm[d];
  return v;
}

dnn_tensor *dnn_transpose(dnn_tensor *t, int d1, int d2) {
  int a = dnn_wrap_dim("transpose", 2, d1, t->ndim);
  if (a < 0) return NULL;
  int b = dnn_wrap_dim("transpose", 3, d2, t->ndim);
  if (b < 0) return NULL;
  int perm[DNN_MAX_DIMS];
  for (int d = 0; d < t->ndim; d++) perm[d] = d;
  perm[a] = b;
  perm[b] = a;
  return dnn_permute(t, perm);
}

static dnn_tensor *slice_view(dnn_tensor *t, int dim, int64_t start, int64_t length, bool drop) {
  int64_t sh[DNN_MAX_DIMS], st[DNN_MAX_DIMS];
  int nd = 0;
  for (int d = 0; d < t->ndim; d++) {
    if (d == dim && drop) continue;
    sh[nd] = d == dim ? length : t->shape[d];
    st[nd] = t->stride[d];
    nd++;
  }
  return make_view(t, nd, sh, st, t->offset + start * t->stride[dim]);
}

static dnn_tensor *slice(dnn_tensor *t, int dim, int64_t start, int64_t length, bool drop, const char *op) {
  dnn_tensor *v = recorded(slice_view(t, dim, start, length, drop), t, op, slice_backward);
  if (v && v->grad_fn) {
    v->grad_fn->iargs[0] = dim;
    v->grad_fn->iargs[1] = start;
    v->grad_fn->iargs[2] = drop;
  }
  return v;
}

dnn_tensor *dnn_narrow(dnn_tensor *t, int dim, int64_t start, int64_t length) {
  int d = dnn_wrap_dim("narrow", 2, dim, t->ndim);
  if (d < 0) return NULL;
  if (start < 0 || start > t->shape[d])
    return dnn_argerror(3, "narrow", "start %" PRId64 " out of range for size %" PRId64, start, t->shape[d]), NULL;
  if (length < 0 || start + length > t->shape[d])
    return dnn_argerror(4, "narrow", "length %" PRId64 " from start %" PRId64 " exceeds size %" PRId64, length, start,
                        t->shape[d]),
           NULL;
  return slice(t, d, start, length, false, "narrow");
}

dnn_tensor *dnn_select(dnn_tensor *t, int dim, int64_t index) {
  if (t->ndim == 0) return dnn_argerror(1, "select", "expected a tensor with at least 1 dim, got a 0-d tensor"), NULL;
  int d = dnn_wrap_dim("select", 2, dim, t->ndim);
  if (d < 0) return NULL;
  if (index < 0 || index >= t->shape[d])
    return dnn_argerror(3, "select", "index %" PRId64 " out of range for size %" PRId64, index, t->shape[d]), NULL;
  return slice(t, d, index, 1, true, "select");
}

/* The pieces' gradients side by side (the engine gives zeros for a piece
 * nothing reached). */
static dnn_status split_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin) {
  gin[0] = dnn_cat(node->n_outputs, grad_out, (int)node->iargs[0]);
  return gin[0] ? DNN_OK : dnn_errcode();
}

int dnn_split(dnn_tensor *t, int dim, int64_t size, dnn_tensor **outs, int max_outs) {
  if (t->ndim == 0) return dnn_argerror(1, "split", "expected a tensor with at least 1 dim, got a 0-d tensor"), -1;
  int d = dnn_wrap_dim("split", 3, dim, t->ndim);
  if (d < 0) return -1;
  if (size < 1) return dnn_argerror(2, "split", "expected a piece size >= 1, got %" PRId64, size), -1;
  int64_t len = t->shape[d], n = len ? (len + size - 1) / size : 1;
  if (n > max_outs) return dnn_argerror(2, "split", "expected at most %d pieces, got %" PRId64, max_outs, n), -1;
  for (int64_t i = 0; i < n; i++) {
    int64_t start = i * size;
    outs[i] = slice_view(t, d, start, len - start < size ? len - start : size, false);
    if (!outs[i]) {
      while (i-- > 0) dnn_tensor_release(outs[i]);
      return -1;
    }
  }
  dnn_node *node = dnn_record_outputs((int)n, outs, "split", split_backward, 1, &t);
  if (node) {
    node->iargs[0] = d;
    node->flags |= DNN_NODE_VIEW | DNN_NODE_SHAPES_ONLY | DNN_NODE_DIFFERENTIABLE;
  } else if (dnn_needs_record(1, &t)) {
    for (int64_t i = 0; i < n; i++) dnn_tensor_release(outs[i]);
    return -1;
  }
  return (int)n;
}

dnn_tensor *dnn_expand(dnn_tensor *t, int ndim, const int64_t *shape) {
  if (ndim < t->ndim || ndim > DNN_MAX_DIMS)
    return dnn_argerror(2, "expand", "expected at least %d dims, got %d", t->ndim, ndim), NULL;
  int64_t sh[DNN_MAX_DIMS], st[DNN_MAX_DIMS];
  int lead = ndim - t->ndim;
  for (int d = 0; d < ndim; d++) {
    int td = d - lead;
    int64_t have = td >= 0 ? t->shape[td] : 1;
    int64_t want = shape[d] == -1 && td >= 0 ? have : shape[d];
    if (want < 0) return dnn_argerror(2, "expand", "expected sizes >= 0, got %" PRId64, shape[d]), NULL;
    if (have != want && have != 1)
      return dnn_argerror(2, "expand", "cannot expand size %" PRId64 " to %" PRId64 " at dim %d", have, want, d + 1),
             NULL;
    sh[d] = want;
    st[d] = td >= 0 && have == want ? t->stride[td] : 0;
  }
  return recorded(make_view(t, ndim, sh, st, t->offset), t, "expand", expand_backward);
}

dnn_tensor *dnn_squeeze(dnn_tensor *t, int dim) {
  int64_t sh[DNN_MAX_DIMS], st[DNN_MAX_DIMS];
  int nd = 0, only = -1;
  if (dim != DNN_ALL_DIMS) {
    if (t->ndim == 0) return dnn_tensor_retain(t);
    only = dnn_wrap_dim("squeeze", 2, dim, t->ndim);
    if (only < 0) return NULL;
  }
  for (int d = 0; d < t->ndim; d++) {
    if (t->shape[d] == 1 && (only < 0 || only == d)) continue;
    sh[nd] = t->shape[d];
    st[nd] = t->stride[d];
    nd++;
  }
  return recorded(make_view(t, nd, sh, st, t->offset), t, "squeeze", reshape_backward);
}

dnn_tensor *dnn_unsqueeze(dnn_tensor *t, int dim) {
  if (t->ndim >= DNN_MAX_DIMS) return dnn_argerror(1, "unsqueeze", "expected fewer than %d dims", DNN_MAX_DIMS), NULL;
  int d0 = dim < 0 ? dim + t->ndim + 1 : dim;
  if (d0 < 0 || d0 > t->ndim) return dnn_argerror(2, "unsqueeze", "dim out of range for a %d-d tensor", t->ndim), NULL;
  int64_t sh[DNN_MAX_DIMS], st[DNN_MAX_DIMS];
  for (int d = 0, s = 0; d <= t->ndim; d++) {
    if (d == d0) {
      sh[d] = 1;
      st[d] = s < t->ndim ? t->stride[s] * t->shape[s] : 1;
    } else {
      sh[d] = t->shape[s];
      st[d] = t->stride[s];
      s++;
    }
  }
  return recorded(make_view(t, t->ndim + 1, sh, st, t->offset), t, "unsqueeze", reshape_backward);
}

/* ---- copies ---- */

dnn_tensor *dnn_clone(dnn_tensor *t) {
  dnn_tensor *c = dnn_empty(t->ndim, t->shape);
  if (!c) return NULL;
  dnn_gather_to(t, dnn_data(c));
  return recorded_as(c, t, "clone", identity_backward, 0);
}

dnn_tensor *dnn_contiguous(dnn_tensor *t) {
  if (dnn_is_contiguous(t)) return dnn_tensor_retain(t);
  dnn_tensor *c = dnn_empty(t->ndim, t->shape);
  if (!c) return NULL;
  dnn_gather_to(t, dnn_data(c));
  return recorded_as(c, t, "contiguous", identity_backward, 0);
}

/* Writes (or adds) n = numel(t) contiguous floats into the view t. */
static void scatter_from(dnn_tensor *t, const float *src, bool add) {
  float *base = dnn_data(t);
  int64_t n = dnn_numel(t);
  if (dnn_is_contiguous(t)) {
    if (add)
      for (int64_t i = 0; i < n; i++) base[i] += src[i];
    else
      memcpy(base, src, (size_t)n * sizeof(float));
    return;
  }
  if (n == 0) return;
  int nd = t->ndim;
  int64_t idx[DNN_MAX_DIMS] = {0};
  int64_t inner = t->shape[nd - 1], istride = t->stride[nd - 1];
  for (int64_t r = 0; r < n / inner; r++) {
    int64_t off = 0;
    for (int d = 0; d < nd - 1; d++) off += idx[d] * t->stride[d];
    if (add)
      for (int64_t i = 0; i < inner; i++) base[off + i * istride] += src[i];
    else
      for (int64_t i = 0; i < inner; i++) base[off + i * istride] = src[i];
    src += inner;
    for (int d = nd - 2; d >= 0; d--) {
      if (++idx[d] < t->shape[d]) break;
      idx[d] = 0;
    }
  }
}

/* fill and copy into a tensor of the graph: t takes the history of "value,
 * broadcast" (no gradient to what t held before; src's gradient summed). */
static dnn_status fill_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin) {
  (void)node, (void)grad_out, (void)gin;
  return DNN_OK;
}

static dnn_status copy_backward(dnn_node *node, dnn_tensor *const *grad_out, dnn_tensor **gin) {
  const dnn_tensor *src = node->inputs[1];
  if (!dnn_node_needs_grad(node, 1)) return DNN_OK;
  gin[1] = dnn_sum_to_shape(grad_out[0], src->ndim, src->shape);
  return gin[1] ? DNN_OK : dnn_errcode();
}

/* Writes value (src NULL) or src into t and records it as an op of t's old self. */
static dnn_status assign_recorded(const char *fn, dnn_tensor *t, dnn_tensor *src, float value) {
  dnn_tensor *old = dnn_inplace_source(t);
  dnn_tensor *result = old ? dnn_full(t->ndim, t->shape, value) : NULL;
  dnn_status st = result ? DNN_OK : dnn_errcode();
  bool was = dnn_grad_enabled();
  if (st == DNN_OK && src) {
    dnn_set_grad_enabled(false);
    st = dnn_copy(result, src);
    dnn_set_grad_enabled(was);
  }
  dnn_tensor *ins[2] = {old, src};
  dnn_node *node = st == DNN_OK ? dnn_record(result, fn, src ? copy_backward : fill_backward, src ? 2 : 1, ins) : NULL;
  if (node) node->flags |= DNN_NODE_SHAPES_ONLY | DNN_NODE_DIFFERENTIABLE;
  if (st == DNN_OK) st = dnn_inplace_assign(fn, t, result);
  dnn_tensor_release(result);
  dnn_tensor_release(old);
  return st;
}

static dnn_status fill_recorded(dnn_tensor *t, float value) { return assign_recorded("fill", t, NULL, value); }
static dnn_status copy_recorded(dnn_tensor *dst, dnn_tensor *src) { return assign_recorded("copy", dst, src, 0); }

dnn_status dnn_fill(dnn_tensor *t, float value) {
  if (dnn_check_inplace("fill", t) != DNN_OK) return DNN_ESTATE;
  if (t->grad_fn && dnn_grad_enabled()) return fill_recorded(t, value);
  dnn_bump_version(t);
  int64_t n = dnn_numel(t);
  if (dnn_is_contiguous(t)) {
    float *p = dnn_data(t);
    for (int64_t i = 0; i < n; i++) p[i] = value;
    return DNN_OK;
  }
  float *tmp = malloc((size_t)(n ? n : 1) * sizeof(float));
  if (!tmp) return dnn_error(DNN_ENOMEM, "fill", "out of memory");
  for (int64_t i = 0; i < n; i++) tmp[i] = value;
  scatter_from(t, tmp, false);
  free(tmp);
  return DNN_OK;
}

dnn_status dnn_copy(dnn_tensor *dst, const dnn_tensor *src) {
  if (dnn_check_inplace("copy", dst) != DNN_OK) return DNN_ESTATE;
  if (dnn_grad_enabled() && (dst->grad_fn || src->requires_grad)) return copy_recorded(dst, (dnn_tensor *)src);
  dnn_bump_version(dst);
  dnn_tensor *s = dnn_alias(src);
  if (!s) return DNN_ENOMEM;
  dnn_tensor *e = dnn_expand(s, dst->ndim, dst->shape);
  dnn_tensor_release(s);
  if (!e) {
    char a[96], b[96];
    return dnn_argerror(2, "copy", "expected a source broadcastable to %s, got %s", dnn_shape_str(dst, a, sizeof a),
                        dnn_shape_str(src, b, sizeof b));
  }
  int64_t n = dnn_numel(dst);
  /* Through a buffer, so overlapping source and destination are safe. */
  float *tmp = malloc((size_t)(n ? n : 1) * sizeof(float));
  if (!tmp) {
    dnn_tensor_release(e);
    return dnn_error(DNN_ENOMEM, "copy", "out of memory");
  }
  dnn_gather_to(e, tmp);
  scatter_from(dst, tmp, false);
  free(tmp);
  dnn_tensor_release(e);
  return DNN_OK;
}
