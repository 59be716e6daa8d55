/* N-d float32 tensors: a refcounted storage (the bytes) and a tensor (a view
 * of it: offset, shape, strides), as Torch7's TH. Views share storage, so
 * reshape, transpose, narrow and select copy nothing.
 *
 * Ownership: every function that returns a dnn_tensor* returns a new
 * reference (refcount 1 for new tensors) that the caller must release with
 * dnn_tensor_release(). Functions that take tensors borrow them. On error a
 * function returns NULL and sets the message (see error.h).
 *
 * Dims are 0-based here; bindings/ turns Lua's 1-based and negative dims
 * into these. */
#ifndef DNN_TENSOR_H
#define DNN_TENSOR_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dnn/error.h"

#define DNN_MAX_DIMS 8

/* The data are 64-byte aligned above 64 floats; smaller storage sits in one
 * allocation with its header, 16-byte aligned. */
typedef struct dnn_storage {
  float *data;
  int64_t numel;
  size_t bytes; /* data's allocated size: at least numel floats */
  atomic_int refcount;
  uint64_t version; /* bumped by every write in place (autograd.h) */
  /* Borrowed buffers (dnn_tensor_from_buffer) call release(ctx, data) when
   * the last reference goes; NULL means the core allocated data itself. */
  void (*release)(void *ctx, float *data);
  void *release_ctx;
} dnn_storage;

struct dnn_node;

typedef struct dnn_tensor {
  dnn_storage *storage;
  int64_t offset; /* in elements */
  int ndim;
  int64_t shape[DNN_MAX_DIMS];
  int64_t stride[DNN_MAX_DIMS]; /* in elements; 0 for expanded dims */
  atomic_int refcount;

  /* Autodiff (see autograd.h). A leaf that requires grad accumulates into
   * grad; a tensor made by a recorded op has grad_fn set. */
  bool requires_grad;
  struct dnn_tensor *grad;
  struct dnn_node *grad_fn;
  int output_nr; /* which output of grad_fn this is */
} dnn_tensor;

/* ---- lifetime ---- */
dnn_tensor *dnn_tensor_retain(dnn_tensor *t);
void dnn_tensor_release(dnn_tensor *t); /* NULL is fine */

/* Bytes of storage live in this process, for telling Lua's collector. */
int64_t dnn_storage_bytes_live(void);

/* ---- creation ---- */
/* Uninitialised contiguous tensor. shape may have ndim == 0 (a scalar). */
dnn_tensor *dnn_empty(int ndim, const int64_t *shape);
dnn_tensor *dnn_zeros(int ndim, const int64_t *shape);
dnn_tensor *dnn_full(int ndim, const int64_t *shape, float value);
dnn_tensor *dnn_empty_like(const dnn_tensor *t);
dnn_tensor *dnn_zeros_like(const dnn_tensor *t);
/* A contiguous copy of n = prod(shape) floats. */
dnn_tensor *dnn_from_data(const float *data, int ndim, const int64_t *shape);
/* Wraps a caller's buffer without copying; release(ctx, data) is called when
 * the last view of it goes (release may be NULL: the caller keeps
 * ownership and must keep data alive as long as any view lives). */
dnn_tensor *dnn_from_buffer(float *data, int ndim, const int64_t *shape, void (*release)(void *ctx, float *data),
                            void *ctx);
dnn_tensor *dnn_scalar(float value); /* 0-d */
dnn_tensor *dnn_arange(double start, double stop, double step); /* [start, stop) */
dnn_tensor *dnn_linspace(double start, double stop, int64_t n);
dnn_tensor *dnn_eye(int64_t n, int64_t m);
dnn_tensor *dnn_rand(int ndim, const int64_t *shape); /* U[0, 1) */
dnn_tensor *dnn_randn(int ndim, const int64_t *shape); /* N(0, 1) */

/* ---- inspection ---- */
int64_t dnn_numel(const dnn_tensor *t);
bool dnn_is_contiguous(const dnn_tensor *t);
bool dnn_same_shape(const dnn_tensor *a, const dnn_tensor *b);
/* Pointer to element 0 of the view. */
static inline float *dnn_data(const dnn_tensor *t) { return t->storage->data + t->offset; }
/* Writes "(2, 3)" style text into buf; returns buf. */
char *dnn_shape_str(const dnn_tensor *t, char *buf, size_t size);
/* Checks ndim and that prod(shape) fits; fn names the caller in the error. */
dnn_status dnn_check_shape(const char *fn, int argn, int ndim, const int64_t *shape);
/* Normalises a 0-based dim that may be negative (-1 = last) against ndim;
 * returns -1 and sets an error when out of range. */
int dnn_wrap_dim(const char *fn, int argn, int dim, int ndim);

/* ---- views (share storage; recorded for autodiff) ---- */
/* New tensor struct over the same storage and layout, with no autodiff
 * history: what backward functions save to avoid reference cycles. */
dnn_tensor *dnn_alias(const dnn_tensor *t);
dnn_tensor *dnn_view(dnn_tensor *t, int ndim, const int64_t *shape); /* error if not viewable; one -1 allowed */
dnn_tensor *dnn_reshape(dnn_tensor *t, int ndim, const int64_t *shape); /* view if possible, else copy */
dnn_tensor *dnn_transpose(dnn_tensor *t, int d1, int d2);
dnn_tensor *dnn_permute(dnn_tensor *t, const int *perm); /* perm has t->ndim entries */
dnn_tensor *dnn_narrow(dnn_tensor *t, int dim, int64_t start, int64_t length);
dnn_tensor *dnn_select(dnn_tensor *t, int dim, int64_t index); /* drops dim */
/* Views of t in pieces of size along dim (the last may be smaller), into
 * outs (at most max_outs); one node of several outputs. Returns the count,
 * or -1 with an error set. */
int dnn_split(dnn_tensor *t, int dim, int64_t size, dnn_tensor **outs, int max_outs);
dnn_tensor *dnn_expand(dnn_tensor *t, int ndim, const int64_t *shape); /* -1 keeps a size */
dnn_tensor *dnn_squeeze(dnn_tensor *t, int dim); /* dim < -ndim... : DNN_ALL_DIMS squeezes every size-1 dim */
dnn_tensor *dnn_unsqueeze(dnn_tensor *t, int dim); /* dim in [0, ndim] */
/* Contiguous: returns t itself (retained) when already contiguous. */
dnn_tensor *dnn_contiguous(dnn_tensor *t);
dnn_tensor *dnn_clone(dnn_tensor *t); /* always a copy, recorded */

/* ---- in place (refused on a tensor that needs grad while grad is on) ---- */
dnn_status dnn_fill(dnn_tensor *t, float value);
dnn_status dnn_copy(dnn_tensor *dst, const dnn_tensor *src); /* src broadcast to dst */

/* Copies any view into a contiguous buffer of dnn_numel(t) floats. */
void dnn_gather_to(const dnn_tensor *t, float *out);

#define DNN_ALL_DIMS (-1000)

#endif
