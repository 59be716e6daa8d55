/* Data parallelism over MPI (distributed.h). Without DNN_HAVE_MPI every call
 * fails with one message. */
#include "dnn/distributed.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnn/autograd.h"

#ifdef DNN_HAVE_MPI
#include <mpi.h>

static bool g_initialized; /* by us or by the host program */
static int g_rank, g_size = 1;
static char g_library[MPI_MAX_LIBRARY_VERSION_STRING];

bool dnn_dist_compiled(void) { return true; }
bool dnn_dist_initialized(void) { return g_initialized; }
int dnn_dist_rank(void) { return g_rank; }
int dnn_dist_size(void) { return g_size; }
const char *dnn_dist_library(void) { return g_library; }

static void finalize_at_exit(void) {
  int done = 0;
  MPI_Finalized(&done);
  if (!done) MPI_Finalize();
}

static dnn_status mpi_error(const char *fn, int rc) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "MPI error %d", rc);
  return dnn_error(DNN_ESTATE, fn, "MPI failed: %s", text);
}

dnn_status dnn_dist_init(void) {
  if (g_initialized) return DNN_OK;
  int already = 0;
  MPI_Initialized(&already);
  if (!already) {
    int provided = 0;
    int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) return dnn_error(DNN_ESTATE, "init", "MPI_Init_thread failed (error %d)", rc);
    atexit(finalize_at_exit); /* a host that initialised MPI itself finalises it itself */
  }
  /* Errors come back as codes, which the collectives turn into messages. */
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  int len = 0;
  MPI_Get_library_version(g_library, &len);
  char *nl = strchr(g_library, '\n');
  if (nl) *nl = '\0';
  g_initialized = true;
  return DNN_OK;
}

/* ---- the header every collective agrees on first ---- */

enum { CALL_ALLREDUCE = 1, CALL_BROADCAST, CALL_ALL_GATHER, CALL_BARRIER, CALL_GRADS };
enum { H_CALL, H_OP, H_ROOT, H_NDIM, H_NUMEL, H_SHAPE, H_LEN = H_SHAPE + DNN_MAX_DIMS };

static const char *call_name(int64_t call) {
  static const char *const names[] = {"?", "allreduce", "broadcast", "all_gather", "barrier", "a gradient allreduce"};
  return call >= CALL_ALLREDUCE && call <= CALL_GRADS ? names[call] : names[0];
}

static void describe(const int64_t *h, char *buf, size_t size) {
  static const char *const ops[] = {"sum", "mean", "max", "min"};
  int n = snprintf(buf, size, "%s", call_name(h[H_CALL]));
  if (h[H_CALL] == CALL_BARRIER) return;
  if (h[H_CALL] == CALL_GRADS) {
    snprintf(buf + n, size - (size_t)n, " of %lld tensors, %lld floats (shape hash %llx)", (long long)h[H_NDIM],
             (long long)h[H_NUMEL], (unsigned long long)h[H_SHAPE]);
    return;
  }
  if (h[H_CALL] == CALL_ALLREDUCE && h[H_OP] >= 0 && h[H_OP] <= 3)
    n += snprintf(buf + n, size - (size_t)n, " (%s)", ops[h[H_OP]]);
  if (h[H_CALL] == CALL_BROADCAST) n += snprintf(buf + n, size - (size_t)n, " from root %lld", (long long)h[H_ROOT]);
  n += snprintf(buf + n, size - (size_t)n, " of a tensor of shape (");
  for (int64_t d = 0; d < h[H_NDIM] && d < DNN_MAX_DIMS && (size_t)n < size; d++)
    n += snprintf(buf + n, size - (size_t)n, d ? ", %lld" : "%lld", (long long)h[H_SHAPE + d]);
  if ((size_t)n < size) snprintf(buf + n, size - (size_t)n, ")");
}

static void header_of(int64_t *h, int call, int op, int root, const dnn_tensor *t) {
  memset(h, 0, H_LEN * sizeof *h);
  h[H_CALL] = call;
  h[H_OP] = op;
  h[H_ROOT] = root;
  if (!t) return;
  h[H_NDIM] = t->ndim;
  h[H_NUMEL] = dnn_numel(t);
  for (int d = 0; d < t->ndim; d++) h[H_SHAPE + d] = t->shape[d];
}

/* Every rank's header; an error on every rank, naming two ranks that differ, when they are not all the same. */
static dnn_status agree(const char *fn, const int64_t *h) {
  int64_t *all = malloc((size_t)g_size * H_LEN * sizeof *all);
  if (!all) return dnn_error(DNN_ENOMEM, fn, "out of memory for %d headers", g_size);
  int rc = MPI_Allgather(h, H_LEN, MPI_INT64_T, all, H_LEN, MPI_INT64_T, MPI_COMM_WORLD);
  if (rc != MPI_SUCCESS) {
    free(all);
    return mpi_error(fn, rc);
  }
  dnn_status st = DNN_OK;
  for (int r = 1; r < g_size && st == DNN_OK; r++) {
    if (memcmp(all, all + (size_t)r * H_LEN, H_LEN * sizeof *all) != 0) {
      char a[256], b[256];
      describe(all, a, sizeof a);
      describe(all + (size_t)r * H_LEN, b, sizeof b);
      st = dnn_error(DNN_EARG, fn, "the ranks disagree: rank 0 called %s, rank %d called %s", a, r, b);
    }
  }
  free(all);
  return st;
}

static dnn_status check_ready(const char *fn) {
  if (!g_initialized) return dnn_error(DNN_ESTATE, fn, "MPI is not initialised; call dnn.distributed.init() first");
  return DNN_OK;
}

/* ---- the collectives ---- */

static MPI_Op mpi_op(dnn_dist_op op) {
  switch (op) {
    case DNN_DIST_MAX:
      return MPI_MAX;
    case DNN_DIST_MIN:
      return MPI_MIN;
    default:
      return MPI_SUM;
  }
}

/* MPI counts are ints: big buffers go in chunks. */
#define CHUNK ((int64_t)1 << 28)

static dnn_status allreduce_floats(const char *fn, float *data, int64_t n, MPI_Op op) {
  for (int64_t at = 0; at < n; at += CHUNK) {
    int count = (int)(n - at < CHUNK ? n - at : CHUNK);
    int rc = MPI_Allreduce(MPI_IN_PLACE, data + at, count, MPI_FLOAT, op, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return mpi_error(fn, rc);
  }
  return DNN_OK;
}

static dnn_status bcast_floats(const char *fn, float *data, int64_t n, int root) {
  for (int64_t at = 0; at < n; at += CHUNK) {
    int count = (int)(n - at < CHUNK ? n - at : CHUNK);
    int rc = MPI_Bcast(data + at, count, MPI_FLOAT, root, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return mpi_error(fn, rc);
  }
  return DNN_OK;
}

/* A contiguous buffer of t's values: its own data when contiguous, else a copy (*owned set). */
static float *values_of(dnn_tensor *t, float **owned) {
  *owned = NULL;
  if (dnn_is_contiguous(t)) return dnn_data(t);
  *owned = malloc((size_t)(dnn_numel(t) > 0 ? dnn_numel(t) : 1) * sizeof(float));
  if (*owned) dnn_gather_to(t, *owned);
  return *owned;
}

/* Writes a copy back into t's view; marks t written. */
static dnn_status write_back(dnn_tensor *t, float *owned) {
  dnn_status st = DNN_OK;
  if (owned) {
    dnn_tensor *src = dnn_from_buffer(owned, t->ndim, t->shape, NULL, NULL);
    st = src ? dnn_copy(t, src) : dnn_errcode();
    dnn_tensor_release(src);
    free(owned);
  }
  dnn_bump_version(t);
  return st;
}

dnn_status dnn_dist_allreduce(dnn_tensor *t, dnn_dist_op op) {
  const char *fn = "allreduce";
  dnn_status st = check_ready(fn);
  if (st != DNN_OK) return st;
  int64_t h[H_LEN];
  header_of(h, CALL_ALLREDUCE, op, 0, t);
  if ((st = agree(fn, h)) != DNN_OK) return st;
  float *owned, *v = values_of(t, &owned);
  if (!v) return dnn_error(DNN_ENOMEM, fn, "out of memory");
  int64_t n = dnn_numel(t);
  st = allreduce_floats(fn, v, n, mpi_op(op));
  if (st == DNN_OK && op == DNN_DIST_MEAN) {
    float inv = 1.0f / (float)g_size;
    for (int64_t i = 0; i < n; i++) v[i] *= inv;
  }
  dnn_status wb = write_back(t, owned);
  return st != DNN_OK ? st : wb;
}

dnn_status dnn_dist_broadcast(dnn_tensor *t, int root) {
  const char *fn = "broadcast";
  dnn_status st = check_ready(fn);
  if (st != DNN_OK) return st;
  int64_t h[H_LEN];
  header_of(h, CALL_BROADCAST, 0, root, t);
  if ((st = agree(fn, h)) != DNN_OK) return st; /* first, so that a bad root fails on every rank alike */
  if (root < 0 || root >= g_size)
    return dnn_error(DNN_EARG, fn, "expected a root rank in 0..%d, got %d", g_size - 1, root);
  float *owned, *v = values_of(t, &owned);
  if (!v) return dnn_error(DNN_ENOMEM, fn, "out of memory");
  st = bcast_floats(fn, v, dnn_numel(t), root);
  dnn_status wb = write_back(t, owned);
  return st != DNN_OK ? st : wb;
}

dnn_tensor *dnn_dist_all_gather(const dnn_tensor *t) {
  const char *fn = "all_gather";
  if (check_ready(fn) != DNN_OK) return NULL;
  int64_t h[H_LEN];
  header_of(h, CALL_ALL_GATHER, 0, 0, t);
  if (agree(fn, h) != DNN_OK) return NULL; /* first: the checks below then fail on every rank alike */
  if (t->ndim >= DNN_MAX_DIMS) {
    dnn_error(DNN_EARG, fn, "expected a tensor of at most %d dims, got %d", DNN_MAX_DIMS - 1, t->ndim);
    return NULL;
  }
  int64_t n = dnn_numel(t);
  if (n > INT32_MAX) {
    dnn_error(DNN_EARG, fn, "a tensor of %lld elements is more than one MPI message holds", (long long)n);
    return NULL;
  }
  int64_t shape[DNN_MAX_DIMS];
  shape[0] = g_size;
  for (int d = 0; d < t->ndim; d++) shape[d + 1] = t->shape[d];
  dnn_tensor *out = dnn_empty(t->ndim + 1, shape);
  float *mine = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
  if (!out || !mine) {
    dnn_tensor_release(out);
    free(mine);
    dnn_error(DNN_ENOMEM, fn, "out of memory");
    return NULL;
  }
  dnn_gather_to(t, mine);
  int rc = MPI_Allgather(mine, (int)n, MPI_FLOAT, dnn_data(out), (int)n, MPI_FLOAT, MPI_COMM_WORLD);
  free(mine);
  if (rc != MPI_SUCCESS) {
    dnn_tensor_release(out);
    mpi_error(fn, rc);
    return NULL;
  }
  return out;
}

dnn_status dnn_dist_barrier(void) {
  const char *fn = "barrier";
  dnn_status st = check_ready(fn);
  if (st != DNN_OK) return st;
  int64_t h[H_LEN];
  header_of(h, CALL_BARRIER, 0, 0, NULL);
  return agree(fn, h); /* the allgather of the headers is itself the barrier */
}

/* ---- the gradient step: bucketed, non-blocking ---- */

typedef struct {
  float *data;
  int64_t n;
  int first, count; /* which grads it holds */
  MPI_Request req;
} bucket;

static uint64_t shapes_hash(dnn_tensor *const *grads, int n) {
  uint64_t hash = 1469598103934665603ull; /* FNV-1a over the dims */
  for (int i = 0; i < n; i++) {
    for (int d = 0; d <= grads[i]->ndim; d++) {
      hash ^= (uint64_t)(d < grads[i]->ndim ? grads[i]->shape[d] : -1);
      hash *= 1099511628211ull;
    }
  }
  return hash;
}

/* Splits grads into buckets of about bucket_floats floats (one grad never split). */
static int plan_buckets(dnn_tensor *const *grads, int n, int64_t bucket_floats, bucket *b) {
  int nb = 0;
  for (int i = 0; i < n; i++) {
    int64_t k = dnn_numel(grads[i]);
    if (nb == 0 || b[nb - 1].n >= bucket_floats || b[nb - 1].n + k > CHUNK) {
      b[nb++] = (bucket){.first = i, .req = MPI_REQUEST_NULL};
    }
    b[nb - 1].n += k;
    b[nb - 1].count++;
  }
  return nb;
}

static void pack(bucket *b, dnn_tensor *const *grads, float scale) {
  float *at = b->data;
  for (int i = b->first; i < b->first + b->count; i++) {
    int64_t k = dnn_numel(grads[i]);
    if (dnn_is_contiguous(grads[i])) {
      const float *g = dnn_data(grads[i]);
      for (int64_t j = 0; j < k; j++) at[j] = scale * g[j];
    } else {
      dnn_gather_to(grads[i], at);
      for (int64_t j = 0; j < k; j++) at[j] *= scale;
    }
    at += k;
  }
}

static dnn_status unpack(const bucket *b, dnn_tensor *const *grads) {
  float *at = b->data;
  for (int i = b->first; i < b->first + b->count; i++) {
    int64_t k = dnn_numel(grads[i]);
    if (dnn_is_contiguous(grads[i])) {
      memcpy(dnn_data(grads[i]), at, (size_t)k * sizeof(float));
    } else {
      dnn_tensor *src = dnn_from_buffer(at, grads[i]->ndim, grads[i]->shape, NULL, NULL);
      dnn_status st = src ? dnn_copy(grads[i], src) : dnn_errcode();
      dnn_tensor_release(src);
      if (st != DNN_OK) return st;
    }
    dnn_bump_version(grads[i]);
    at += k;
  }
  return DNN_OK;
}

dnn_status dnn_dist_allreduce_grads(dnn_tensor *const *grads, int n, float scale, size_t bucket_bytes) {
  const char *fn = "allreduce_grads";
  dnn_status st = check_ready(fn);
  if (st != DNN_OK) return st;
  if (n < 0) return dnn_argerror(2, fn, "expected n >= 0 tensors, got %d", n);
  int64_t h[H_LEN] = {0};
  h[H_CALL] = CALL_GRADS;
  h[H_NDIM] = n;
  for (int i = 0; i < n; i++) h[H_NUMEL] += dnn_numel(grads[i]);
  h[H_SHAPE] = (int64_t)shapes_hash(grads, n);
  if ((st = agree(fn, h)) != DNN_OK) return st;
  if (n == 0) return DNN_OK;
  int64_t bucket_floats = (int64_t)(bucket_bytes / sizeof(float));
  if (bucket_floats < 1) bucket_floats = 1;
  bucket *b = calloc((size_t)n, sizeof *b);
  if (!b) return dnn_error(DNN_ENOMEM, fn, "out of memory for %d buckets", n);
  int nb = plan_buckets(grads, n, bucket_floats, b);
  int started = 0;
  for (; started < nb && st == DNN_OK; started++) {
    b[started].data = malloc((size_t)(b[started].n > 0 ? b[started].n : 1) * sizeof(float));
    if (!b[started].data) {
      st = dnn_error(DNN_ENOMEM, fn, "out of memory for a bucket of %lld floats", (long long)b[started].n);
      break;
    }
    pack(&b[started], grads, scale);
    int rc = MPI_Iallreduce(MPI_IN_PLACE, b[started].data, (int)b[started].n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                            &b[started].req);
    if (rc != MPI_SUCCESS) st = mpi_error(fn, rc);
  }
  for (int i = 0; i < nb; i++) {
    if (b[i].req != MPI_REQUEST_NULL) {
      int rc = MPI_Wait(&b[i].req, MPI_STATUS_IGNORE);
      if (rc != MPI_SUCCESS && st == DNN_OK) st = mpi_error(fn, rc);
    }
    if (st == DNN_OK) st = unpack(&b[i], grads);
    free(b[i].data);
  }
  free(b);
  return st;
}

/* ---- the reducer: the gradient step overlapped with backward ---- */

typedef struct {
  int first, count; /* params order[first .. first+count-1] */
  int64_t n; /* floats of gradient; count presence flags follow */
  int pending; /* params not final yet in this pass */
  float *data;
  MPI_Request req;
} rbucket;

typedef struct {
  dnn_tensor *t;
  int index; /* in params */
} param_ref;

struct dnn_dist_reducer {
  int n;
  dnn_tensor **params; /* held */
  int64_t *offset; /* each param's place in its bucket */
  int *bucket_of; /* each param's bucket */
  bool *ready; /* final in this pass */
  int *order; /* the params in bucket order (reverse) */
  param_ref *sorted; /* by address, for the hook */
  int nb, next; /* buckets; the next to start */
  rbucket *b;
  float scale;
  bool broken; /* a pass failed with exchanges in flight: their buffers stay */
};

static _Thread_local dnn_dist_timings g_timings;

void dnn_dist_get_timings(dnn_dist_timings *out, bool reset) {
  *out = g_timings;
  if (reset) memset(&g_timings, 0, sizeof g_timings);
}

static int by_address(const void *a, const void *b) {
  uintptr_t x = (uintptr_t)((const param_ref *)a)->t, y = (uintptr_t)((const param_ref *)b)->t;
  return x < y ? -1 : x > y;
}

int dnn_dist_reducer_buckets(const dnn_dist_reducer *r) { return r->nb; }

void dnn_dist_reducer_free(dnn_dist_reducer *r) {
  if (!r) return;
  for (int k = 0; k < r->nb; k++)
    if (!r->broken || r->b[k].req == MPI_REQUEST_NULL) free(r->b[k].data); /* MPI may still write the others */
  for (int i = 0; i < r->n; i++) dnn_tensor_release(r->params[i]);
  free(r->params);
  free(r->offset);
  free(r->bucket_of);
  free(r->ready);
  free(r->order);
  free(r->sorted);
  free(r->b);
  free(r);
}

dnn_dist_reducer *dnn_dist_reducer_new(dnn_tensor *const *params, int n, size_t bucket_bytes,
                                       size_t first_bucket_bytes) {
  const char *fn = "reducer";
  if (check_ready(fn) != DNN_OK) return NULL;
  if (n < 0) {
    dnn_argerror(1, fn, "expected n >= 0 params, got %d", n);
    return NULL;
  }
  int64_t h[H_LEN] = {0};
  h[H_CALL] = CALL_GRADS;
  h[H_OP] = (int64_t)bucket_bytes;
  h[H_ROOT] = (int64_t)first_bucket_bytes;
  h[H_NDIM] = n;
  for (int i = 0; i < n; i++) h[H_NUMEL] += dnn_numel(params[i]);
  h[H_SHAPE] = (int64_t)shapes_hash(params, n);
  if (agree(fn, h) != DNN_OK) return NULL;
  dnn_dist_reducer *r = calloc(1, sizeof *r);
  size_t m = (size_t)(n > 0 ? n : 1);
  if (r) {
    r->params = calloc(m, sizeof *r->params);
    r->offset = calloc(m, sizeof *r->offset);
    r->bucket_of = calloc(m, sizeof *r->bucket_of);
    r->ready = calloc(m, sizeof *r->ready);
    r->order = calloc(m, sizeof *r->order);
    r->sorted = calloc(m, sizeof *r->sorted);
    r->b = calloc(m, sizeof *r->b);
  }
  if (!r || !r->params || !r->offset || !r->bucket_of || !r->ready || !r->order || !r->sorted || !r->b) {
    dnn_dist_reducer_free(r);
    dnn_error(DNN_ENOMEM, fn, "out of memory for %d params", n);
    return NULL;
  }
  for (int i = 0; i < n; i++) {
    r->params[i] = dnn_tensor_retain(params[i]);
    r->n = i + 1;
    r->order[i] = n - 1 - i;
    r->sorted[i] = (param_ref){params[i], i};
  }
  qsort(r->sorted, m, sizeof *r->sorted, by_address);
  for (int i = 1; i < n; i++)
    if (r->sorted[i].t == r->sorted[i - 1].t) {
      dnn_error(DNN_EARG, fn, "params %d and %d are the same tensor", r->sorted[i - 1].index + 1,
                r->sorted[i].index + 1);
      dnn_dist_reducer_free(r);
      return NULL;
    }
  int64_t first_floats = (int64_t)(first_bucket_bytes / sizeof(float)),
          floats = (int64_t)(bucket_bytes / sizeof(float));
  for (int j = 0; j < n; j++) {
    int i = r->order[j];
    int64_t k = dnn_numel(params[i]);
    rbucket *last = r->nb ? &r->b[r->nb - 1] : NULL;
    int64_t cap = r->nb == 1 ? first_floats : floats;
    if (!last || last->n >= (cap > 0 ? cap : 1) || last->n + k + last->count + 1 > CHUNK) {
      r->b[r->nb] = (rbucket){.first = j, .req = MPI_REQUEST_NULL};
      last = &r->b[r->nb++];
    }
    r->bucket_of[i] = r->nb - 1;
    r->offset[i] = last->n;
    last->n += k;
    last->count++;
  }
  for (int k = 0; k < r->nb; k++) {
    r->b[k].data = malloc((size_t)(r->b[k].n + r->b[k].count) * sizeof(float));
    if (!r->b[k].data) {
      dnn_error(DNN_ENOMEM, fn, "out of memory for a bucket of %lld floats", (long long)r->b[k].n);
      dnn_dist_reducer_free(r);
      return NULL;
    }
  }
  return r;
}

/* The bucket's values: scale x each param's grad (zeros and a presence flag
 * of 0 for a param without one), then its MPI_Iallreduce. */
static dnn_status start_bucket(dnn_dist_reducer *r, rbucket *b) {
  float *flags = b->data + b->n;
  for (int j = b->first; j < b->first + b->count; j++) {
    int i = r->order[j];
    dnn_tensor *g = r->params[i]->grad;
    float *at = b->data + r->offset[i];
    int64_t k = dnn_numel(r->params[i]);
    flags[j - b->first] = g ? 1.0f : 0.0f;
    if (!g) {
      memset(at, 0, (size_t)k * sizeof(float));
    } else if (dnn_is_contiguous(g)) {
      const float *v = dnn_data(g);
      for (int64_t e = 0; e < k; e++) at[e] = r->scale * v[e];
    } else {
      dnn_gather_to(g, at);
      for (int64_t e = 0; e < k; e++) at[e] *= r->scale;
    }
  }
  int rc = MPI_Iallreduce(MPI_IN_PLACE, b->data, (int)(b->n + b->count), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &b->req);
  return rc == MPI_SUCCESS ? DNN_OK : mpi_error("reducer", rc);
}

/* Starts the buckets whose params are all final, in order: every rank
 * starts them in the same order, whatever order its backward ran in. */
static dnn_status start_ready(dnn_dist_reducer *r, bool early) {
  dnn_status st = DNN_OK;
  while (st == DNN_OK && r->next < r->nb && r->b[r->next].pending == 0) {
    st = start_bucket(r, &r->b[r->next++]);
    if (early)
      g_timings.early++;
    else
      g_timings.late++;
  }
  return st;
}

static dnn_status mark_ready(dnn_dist_reducer *r, int i) {
  if (r->ready[i]) return DNN_OK;
  r->ready[i] = true;
  r->b[r->bucket_of[i]].pending--;
  return DNN_OK;
}

static dnn_status on_leaf_ready(dnn_tensor *leaf, void *ud) {
  dnn_dist_reducer *r = ud;
  param_ref key = {leaf, 0}, *p = bsearch(&key, r->sorted, (size_t)r->n, sizeof key, by_address);
  if (!p) return DNN_OK; /* a leaf the reducer does not sum (an input that requires grad) */
  mark_ready(r, p->index);
  dnn_status st = start_ready(r, true);
  if (st != DNN_OK || r->next == 0) return st;
  /* Moves the exchanges in flight on: Open MPI progresses them only inside MPI calls. */
  int done = 0;
  for (int k = 0; k < r->next; k++) {
    if (r->b[k].req == MPI_REQUEST_NULL) continue;
    int rc = MPI_Test(&r->b[k].req, &done, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) return mpi_error("reducer", rc);
  }
  return DNN_OK;
}

/* Each param's grad from its bucket's sum; a param no rank had a gradient for stays without one. */
static dnn_status unpack_bucket(dnn_dist_reducer *r, const rbucket *b) {
  const float *flags = b->data + b->n;
  for (int j = b->first; j < b->first + b->count; j++) {
    int i = r->order[j];
    dnn_tensor *p = r->params[i];
    if (flags[j - b->first] == 0.0f) continue;
    if (!p->grad && (p->grad = dnn_zeros(p->ndim, p->shape)) == NULL) return dnn_errcode();
    const float *at = b->data + r->offset[i];
    if (dnn_is_contiguous(p->grad)) {
      memcpy(dnn_data(p->grad), at, (size_t)dnn_numel(p) * sizeof(float));
    } else {
      dnn_tensor *src = dnn_from_buffer((float *)at, p->ndim, p->shape, NULL, NULL);
      dnn_status st = src ? dnn_copy(p->grad, src) : dnn_errcode();
      dnn_tensor_release(src);
      if (st != DNN_OK) return st;
    }
    dnn_bump_version(p->grad);
  }
  return DNN_OK;
}

dnn_status dnn_dist_reducer_backward(dnn_dist_reducer *r, dnn_tensor *root, float scale, bool overlap) {
  const char *fn = "reducer";
  if (r->broken) return dnn_error(DNN_ESTATE, fn, "an earlier step failed with exchanges in flight");
  dnn_status st = check_ready(fn);
  if (st != DNN_OK) return st;
  r->scale = scale;
  r->next = 0;
  for (int i = 0; i < r->n; i++) r->ready[i] = false;
  for (int k = 0; k < r->nb; k++) r->b[k].pending = r->b[k].count;
  double t0 = MPI_Wtime();
  dnn_backward_opts opts = {.leaf_ready = overlap ? on_leaf_ready : NULL, .leaf_ready_ud = r};
  st = dnn_backward_ex(1, &root, NULL, &opts);
  double t1 = MPI_Wtime();
  /* The exchanges that finished during backward (each test also moves the others on). */
  for (int k = 0; k < r->next && st == DNN_OK; k++) {
    int done = 0, rc = MPI_Test(&r->b[k].req, &done, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) st = mpi_error(fn, rc);
    g_timings.done_in_backward += done;
  }
  /* What backward did not reach (or all, without overlap) is final now. */
  for (int i = 0; i < r->n && st == DNN_OK; i++) st = mark_ready(r, i);
  if (st == DNN_OK) st = start_ready(r, false);
  double t2 = MPI_Wtime();
  if (st != DNN_OK) {
    for (int k = 0; k < r->next; k++) r->broken = r->broken || r->b[k].req != MPI_REQUEST_NULL;
    return st;
  }
  for (int k = 0; k < r->nb; k++) {
    int rc = MPI_Wait(&r->b[k].req, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS && st == DNN_OK) st = mpi_error(fn, rc);
  }
  double t3 = MPI_Wtime();
  for (int k = 0; k < r->nb && st == DNN_OK; k++) st = unpack_bucket(r, &r->b[k]);
  g_timings.steps++;
  g_timings.backward += t1 - t0;
  g_timings.after += MPI_Wtime() - t1;
  g_timings.wait += t3 - t2;
  return st;
}

void dnn_dist_abort(const char *msg, int code) {
  if (!g_initialized || g_size <= 1) return;
  fprintf(stderr, "[rank %d of %d] %s\n", g_rank, g_size, msg ? msg : "(no message)");
  fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, code ? code : 1);
}

#else /* no MPI in this build */

#define NO_MPI "this dnnlua was built without MPI (install libopenmpi-dev and rebuild with -DDNN_MPI=ON)"

bool dnn_dist_compiled(void) { return false; }
bool dnn_dist_initialized(void) { return false; }
int dnn_dist_rank(void) { return 0; }
int dnn_dist_size(void) { return 1; }
const char *dnn_dist_library(void) { return ""; }
dnn_status dnn_dist_init(void) { return dnn_error(DNN_ESTATE, "init", NO_MPI); }

dnn_status dnn_dist_allreduce(dnn_tensor *t, dnn_dist_op op) {
  (void)t, (void)op;
  return dnn_error(DNN_ESTATE, "allreduce", NO_MPI);
}

dnn_status dnn_dist_broadcast(dnn_tensor *t, int root) {
  (void)t, (void)root;
  return dnn_error(DNN_ESTATE, "broadcast", NO_MPI);
}

dnn_tensor *dnn_dist_all_gather(const dnn_tensor *t) {
  (void)t;
  dnn_error(DNN_ESTATE, "all_gather", NO_MPI);
  return NULL;
}

dnn_status dnn_dist_barrier(void) { return dnn_error(DNN_ESTATE, "barrier", NO_MPI); }

dnn_status dnn_dist_allreduce_grads(dnn_tensor *const *grads, int n, float scale, size_t bucket_bytes) {
  (void)grads, (void)n, (void)scale, (void)bucket_bytes;
  return dnn_error(DNN_ESTATE, "allreduce_grads", NO_MPI);
}

struct dnn_dist_reducer {
  int unused;
};

dnn_dist_reducer *dnn_dist_reducer_new(dnn_tensor *const *params, int n, size_t bucket_bytes,
                                       size_t first_bucket_bytes) {
  (void)params, (void)n, (void)bucket_bytes, (void)first_bucket_bytes;
  dnn_error(DNN_ESTATE, "reducer", NO_MPI);
  return NULL;
}

void dnn_dist_reducer_free(dnn_dist_reducer *r) { (void)r; }
int dnn_dist_reducer_buckets(const dnn_dist_reducer *r) {
  (void)r;
  return 0;
}

dnn_status dnn_dist_reducer_backward(dnn_dist_reducer *r, dnn_tensor *root, float scale, bool overlap) {
  (void)r, (void)root, (void)scale, (void)overlap;
  return dnn_error(DNN_ESTATE, "reducer", NO_MPI);
}

void dnn_dist_get_timings(dnn_dist_timings *out, bool reset) {
  (void)reset;
  memset(out, 0, sizeof *out);
}

void dnn_dist_abort(const char *msg, int code) { (void)msg, (void)code; }

#endif
