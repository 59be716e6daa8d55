/* Tensor and storage lifetime, creation and inspection. */
#include <inttypes.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>

#include "block_cache.h"
#include "dnn/autograd.h"
#include "dnn/random.h"
#include "dnn/tensor.h"

static atomic_llong storage_bytes_live;

int64_t dnn_storage_bytes_live(void) { return (int64_t)atomic_load(&storage_bytes_live); }

/* Tensor headers and small storage blocks die in bursts (Lua's collector
 * finalizes many at once) and more than glibc's per-thread cache holds (7
 * of a size), so most frees took malloc's slow path: a third of a 1-element
 * add's instructions. Each thread keeps up to SPARE_MAX of each for its next
 * tensors, enough for what a minor collection of a small script frees (256
 * were not: a 1-element add took 0.32 us, 0.22 with 4096; at most 2 MB a
 * thread); a thread's spares are freed when it exits. Sanitizer builds use
 * malloc and free directly, so a use after free is still caught. */
#if defined(__SANITIZE_ADDRESS__)
#define SPARE_MAX 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SPARE_MAX 0
#endif
#endif
#ifndef SPARE_MAX
#define SPARE_MAX 4096
#endif

typedef struct spare {
  struct spare *next;
} spare;

typedef struct {
  spare *head;
  int count;
} spare_list;

typedef struct {
  spare_list headers, small_storage;
  bool armed; /* the thread's exit frees them */
} thread_spares;

static _Thread_local thread_spares spares;
static tss_t spares_at_exit; /* its destructor frees a thread's spares */
static atomic_bool spares_on; /* false when no tss key was left for it */

static void spare_list_free(spare_list *l) {
  while (l->head) {
    spare *b = l->head;
    l->head = b->next;
    free(b);
  }
  l->count = 0;
}

static void free_spares(void *list) {
  thread_spares *t = list;
  spare_list_free(&t->headers);
  spare_list_free(&t->small_storage);
  t->armed = false; /* a tensor freed by a later destructor arms it again */
}

static void *spare_take(spare_list *l, size_t bytes) {
  spare *b = l->head;
  if (!b) return malloc(bytes);
  l->head = b->next;
  l->count--;
  return b;
}

static void spare_give(spare_list *l, void *block) {
  if (!spares.armed && atomic_load(&spares_on)) spares.armed = tss_set(spares_at_exit, &spares) == thrd_success;
  if (l->count >= SPARE_MAX || !spares.armed) { /* full, or nothing would free it at the thread's exit */
    free(block);
    return;
  }
  spare *b = block;
  b->next = l->head;
  l->head = b;
  l->count++;
}

/* Tensors of megabytes come and go at every step of a training loop. glibc serves blocks above its mmap threshold
 * with fresh mappings and unmaps them at free, so each new activation page-faults all its pages in again (as much
 * time as the GEMMs in a CNN step). A fixed threshold at glibc's maximum (32 MB) and a high trim threshold keep freed
 * blocks in the heap; block_cache.c reuses them. Set once, before the first storage, with the spares' key. */
static void allocator_init(void) {
  atomic_store(&spares_on, tss_create(&spares_at_exit, free_spares) == thrd_success);
#ifdef M_MMAP_THRESHOLD
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
#endif
}

static once_flag allocator_ready = ONCE_FLAG_INIT;

/* Small storage (a scalar, a bias, a loss) lives in the same block as its header, just after it: one allocation
 * instead of two (a 1-element add spent a third of its time in malloc's slow path for the 64-byte aligned data), of
 * one size for every small tensor, so that any spare block fits the next. 16-byte alignment is enough for them: no
 * kernel assumes more. */
#define SMALL_STORAGE_BYTES 256
#define STORAGE_HEADER_BYTES ((sizeof(dnn_storage) + 15) / 16 * 16)

static bool inline_data(const dnn_storage *s) {
  return (const char *)s->data == (const char *)s + STORAGE_HEADER_BYTES;
}

static dnn_storage *storage_new(int64_t numel) {
  call_once(&allocator_ready, allocator_init);
  size_t bytes = (size_t)(numel > 0 ? numel : 1) * sizeof(float);
  dnn_storage *s;
  if (bytes <= SMALL_STORAGE_BYTES) {
    s = spare_take(&spares.small_storage, STORAGE_HEADER_BYTES + SMALL_STORAGE_BYTES); /* one size: any spare fits */
    if (!s) return NULL;
    s->data = (float *)((char *)s + STORAGE_HEADER_BYTES);
  } else {
    s = malloc(sizeof *s);
    if (!s) return NULL;
    s->data = block_alloc(&bytes);
    if (!s->data) {
      free(s);
      return NULL;
    }
  }
  s->bytes = bytes;
  s->numel = numel;
  atomic_init(&s->refcount, 1);
  s->version = 0;
  s->release = NULL;
  s->release_ctx = NULL;
  atomic_fetch_add(&storage_bytes_live, (long long)s->bytes);
  return s;
}

static void storage_release(dnn_storage *s) {
  if (!s || atomic_fetch_sub(&s->refcount, 1) != 1) return;
  if (s->release) {
    s->release(s->release_ctx, s->data);
  } else if (s->data) {
    int64_t live = atomic_fetch_sub(&storage_bytes_live, (long long)s->bytes) - (long long)s->bytes;
    if (inline_data(s)) {
      spare_give(&spares.small_storage, s);
      return;
    }
    block_free(s->data, s->bytes, live);
  }
  free(s);
}

dnn_tensor *dnn_tensor_retain(dnn_tensor *t) {
  if (t) atomic_fetch_add(&t->refcount, 1);
  return t;
}

void dnn_tensor_release(dnn_tensor *t) {
  if (!t || atomic_fetch_sub(&t->refcount, 1) != 1) return;
  storage_release(t->storage);
  dnn_tensor_release(t->grad);
  if (t->grad_fn) dnn_node_release(t->grad_fn);
  spare_give(&spares.headers, t);
}

/* A tensor struct over storage s (taking over the caller's reference). */
static dnn_tensor *tensor_over(dnn_storage *s, int ndim, const int64_t *shape) {
  dnn_tensor *t = spare_take(&spares.headers, sizeof *t);
  if (!t) {
    storage_release(s);
    dnn_error(DNN_ENOMEM, "tensor", "out of memory");
    return NULL;
  }
  *t = (dnn_tensor){.storage = s, .ndim = ndim};
  int64_t stride = 1;
  for (int d = ndim - 1; d >= 0; d--) {
    t->shape[d] = shape[d];
    t->stride[d] = stride;
    stride *= shape[d];
  }
  atomic_init(&t->refcount, 1);
  return t;
}

/* A new header over t's storage, with t's shape, strides and offset: the
 * start of every view. */
dnn_tensor *dnn_alias(const dnn_tensor *t) {
  dnn_tensor *v = spare_take(&spares.headers, sizeof *v);
  if (!v) {
    dnn_error(DNN_ENOMEM, "view", "out of memory");
    return NULL;
  }
  *v = (dnn_tensor){.storage = t->storage, .offset = t->offset, .ndim = t->ndim};
  atomic_fetch_add(&t->storage->refcount, 1);
  memcpy(v->shape, t->shape, sizeof v->shape);
  memcpy(v->stride, t->stride, sizeof v->stride);
  atomic_init(&v->refcount, 1);
  return v;
}

dnn_status dnn_check_shape(const char *fn, int argn, int ndim, const int64_t *shape) {
  if (ndim < 0 || ndim > DNN_MAX_DIMS)
    return dnn_argerror(argn, fn, "expected at most %d dims, got %d", DNN_MAX_DIMS, ndim);
  int64_t n = 1;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] < 0) return dnn_argerror(argn, fn, "expected sizes >= 0, got %" PRId64 " at dim %d", shape[d], d + 1);
    if (shape[d] > 0 && n > ((int64_t)1 << 40) / shape[d])
      return dnn_argerror(argn, fn, "expected at most 2^40 elements, got more");
    n *= shape[d];
  }
  return DNN_OK;
}

/* dnn_empty for the creator fn, which errors name. */
static dnn_tensor *empty_for(const char *fn, int ndim, const int64_t *shape) {
  if (dnn_check_shape(fn, 1, ndim, shape) != DNN_OK) return NULL;
  int64_t n = 1;
  for (int d = 0; d < ndim; d++) n *= shape[d];
  dnn_storage *s = storage_new(n);
  if (!s) {
    dnn_error(DNN_ENOMEM, fn, "out of memory allocating %" PRId64 " floats", n);
    return NULL;
  }
  return tensor_over(s, ndim, shape);
}

dnn_tensor *dnn_empty(int ndim, const int64_t *shape) { return empty_for("empty", ndim, shape); }

static dnn_tensor *full_for(const char *fn, int ndim, const int64_t *shape, float value) {
  dnn_tensor *t = empty_for(fn, ndim, shape);
  if (!t) return NULL;
  float *p = dnn_data(t);
  int64_t n = dnn_numel(t);
  for (int64_t i = 0; i < n; i++) p[i] = value;
  return t;
}

dnn_tensor *dnn_full(int ndim, const int64_t *shape, float value) { return full_for("full", ndim, shape, value); }
dnn_tensor *dnn_zeros(int ndim, const int64_t *shape) { return full_for("zeros", ndim, shape, 0); }

dnn_tensor *dnn_empty_like(const dnn_tensor *t) { return dnn_empty(t->ndim, t->shape); }
dnn_tensor *dnn_zeros_like(const dnn_tensor *t) { return dnn_zeros(t->ndim, t->shape); }

dnn_tensor *dnn_from_data(const float *data, int ndim, const int64_t *shape) {
  dnn_tensor *t = dnn_empty(ndim, shape);
  if (t) memcpy(dnn_data(t), data, (size_t)dnn_numel(t) * sizeof(float));
  return t;
}

/* A borrowed buffer whose owner keeps it: nothing to free. */
static void release_nothing(void *ctx, float *data) {
  (void)ctx;
  (void)data;
}

dnn_tensor *dnn_from_buffer(float *data, int ndim, const int64_t *shape, void (*release)(void *ctx, float *data),
                            void *ctx) {
  if (!data) {
    dnn_argerror(1, "from_buffer", "expected a buffer, got NULL");
    return NULL;
  }
  if (dnn_check_shape("from_buffer", 2, ndim, shape) != DNN_OK) return NULL;
  dnn_storage *s = malloc(sizeof *s);
  if (!s) {
    dnn_error(DNN_ENOMEM, "from_buffer", "out of memory");
    return NULL;
  }
  int64_t n = 1;
  for (int d = 0; d < ndim; d++) n *= shape[d];
  s->data = data;
  s->numel = n;
  s->bytes = (size_t)n * sizeof(float);
  atomic_init(&s->refcount, 1);
  s->version = 0;
  s->release = release ? release : release_nothing;
  s->release_ctx = ctx;
  return tensor_over(s, ndim, shape);
}

dnn_tensor *dnn_scalar(float value) { return dnn_full(0, NULL, value); }

dnn_tensor *dnn_arange(double start, double stop, double step) {
  if (!isfinite(start) || !isfinite(stop))
    return dnn_argerror(isfinite(start) ? 2 : 1, "arange", "expected finite bounds, got %g and %g", start, stop), NULL;
  if (step == 0 || !isfinite(step))
    return dnn_argerror(3, "arange", "expected a finite, non-zero step, got %g", step), NULL;
  double count = ceil((stop - start) / step);
  if (count > (double)((int64_t)1 << 40)) /* before the cast, which would overflow */
    return dnn_argerror(2, "arange", "expected at most 2^40 elements, got %g", count), NULL;
  int64_t n = count > 0 ? (int64_t)count : 0;
  dnn_tensor *t = empty_for("arange", 1, &n);
  if (!t) return NULL;
  float *p = dnn_data(t);
  for (int64_t i = 0; i < n; i++) p[i] = (float)(start + (double)i * step);
  return t;
}

dnn_tensor *dnn_linspace(double start, double stop, int64_t n) {
  if (n < 0) {
    dnn_argerror(3, "linspace", "expected a count >= 0, got %" PRId64, n);
    return NULL;
  }
  if (!isfinite(start) || !isfinite(stop))
    return dnn_argerror(isfinite(start) ? 2 : 1, "linspace", "expected finite ends, got %g and %g", start, stop), NULL;
  dnn_tensor *t = empty_for("linspace", 1, &n);
  if (!t) return NULL;
  float *p = dnn_data(t);
  double step = n > 1 ? (stop - start) / (double)(n - 1) : 0;
  for (int64_t i = 0; i < n; i++) p[i] = (float)(start + (double)i * step);
  if (n > 1) p[n - 1] = (float)stop;
  return t;
}

dnn_tensor *dnn_eye(int64_t n, int64_t m) {
  int64_t shape[2] = {n, m};
  dnn_tensor *t = full_for("eye", 2, shape, 0);
  if (!t) return NULL;
  float *p = dnn_data(t);
  for (int64_t i = 0; i < n && i < m; i++) p[i * m + i] = 1;
  return t;
}

dnn_tensor *dnn_rand(int ndim, const int64_t *shape) {
  dnn_tensor *t = empty_for("rand", ndim, shape);
  if (!t) return NULL;
  float *p = dnn_data(t);
  int64_t n = dnn_numel(t);
  for (int64_t i = 0; i < n; i++) p[i] = dnn_rng_uniform();
  return t;
}

dnn_tensor *dnn_randn(int ndim, const int64_t *shape) {
  dnn_tensor *t = empty_for("randn", ndim, shape);
  if (!t) return NULL;
  float *p = dnn_data(t);
  int64_t n = dnn_numel(t);
  for (int64_t i = 0; i < n; i++) p[i] = (float)dnn_rng_normal();
  return t;
}

int64_t dnn_numel(const dnn_tensor *t) {
  int64_t n = 1;
  for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
  return n;
}

bool dnn_is_contiguous(const dnn_tensor *t) {
  int64_t expected = 1;
  for (int d = t->ndim - 1; d >= 0; d--) {
    if (t->shape[d] != 1 && t->stride[d] != expected) return false;
    expected *= t->shape[d];
  }
  return true;
}

bool dnn_same_shape(const dnn_tensor *a, const dnn_tensor *b) {
  if (a->ndim != b->ndim) return false;
  for (int d = 0; d < a->ndim; d++)
    if (a->shape[d] != b->shape[d]) return false;
  return true;
}

char *dnn_shape_str(const dnn_tensor *t, char *buf, size_t size) {
  size_t used = (size_t)snprintf(buf, size, "(");
  for (int d = 0; d < t->ndim && used < size; d++)
    used += (size_t)snprintf(buf + used, size - used, "%s%" PRId64, d ? ", " : "", t->shape[d]);
  if (used < size) snprintf(buf + used, size - used, ")");
  return buf;
}

int dnn_wrap_dim(const char *fn, int argn, int dim, int ndim) {
  int wrapped = dim < 0 ? dim + ndim : dim;
  if (wrapped < 0 || wrapped >= ndim) {
    dnn_argerror(argn, fn, "dim out of range for a %d-d tensor", ndim);
    return -1;
  }
  return wrapped;
}

void dnn_gather_to(const dnn_tensor *t, float *out) {
  const float *base = t->storage->data + t->offset;
  int64_t n = dnn_numel(t);
  if (dnn_is_contiguous(t)) {
    memcpy(out, base, (size_t)n * sizeof(float));
    return;
  }
  if (n == 0) return;
  /* Walk the outer dims with a counter; the last dim is a tight loop. */
  int nd = t->ndim;
  int64_t idx[DNN_MAX_DIMS] = {0};
  int64_t inner = t->shape[nd - 1], istride = t->stride[nd - 1];
  int64_t rows = n / inner;
  for (int64_t r = 0; r < rows; r++) {
    int64_t off = 0;
    for (int d = 0; d < nd - 1; d++) off += idx[d] * t->stride[d];
    const float *src = base + off;
    if (istride == 1)
      memcpy(out, src, (size_t)inner * sizeof(float));
    else
      for (int64_t i = 0; i < inner; i++) out[i] = src[i * istride];
    out += inner;
    for (int d = nd - 2; d >= 0; d--) {
      if (++idx[d] < t->shape[d]) break;
      idx[d] = 0;
    }
  }
}
