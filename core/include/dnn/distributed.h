/* Data parallelism over MPI: the world of processes started by mpirun, and
 * the collectives training needs (allreduce, broadcast, all-gather, barrier)
 * on tensors. Plain C over MPI; without MPI compiled in (DNN_HAVE_MPI unset)
 * every call fails with a message saying so, and nothing else changes.
 *
 * MPI is initialised by dnn_dist_init only (MPI_Init_thread, FUNNELED: the
 * OpenMP workers never call MPI), never at load time, and finalised at exit. A
 * process not started by mpirun becomes a world of one (Open MPI's singleton).
 *
 * Every collective first agrees on what each rank brings: a small header (the
 * call, the op, the root, the shape) is reduced with max and min, and a
 * mismatch (a (3) on one rank, a (4) on another) fails on every rank with a
 * message naming both, instead of hanging or corrupting memory. */
#ifndef DNN_DISTRIBUTED_H
#define DNN_DISTRIBUTED_H

#include <stdbool.h>
#include <stddef.h>

#include "dnn/error.h"
#include "dnn/tensor.h"

typedef enum dnn_dist_op { DNN_DIST_SUM, DNN_DIST_MEAN, DNN_DIST_MAX, DNN_DIST_MIN } dnn_dist_op;

/* Whether this build has MPI. */
bool dnn_dist_compiled(void);
/* Initialises MPI once (later calls do nothing); registers MPI_Finalize at exit. */
dnn_status dnn_dist_init(void);
bool dnn_dist_initialized(void);
/* This process's rank (0..size-1) and the world's size; 0 and 1 before init. */
int dnn_dist_rank(void);
int dnn_dist_size(void);
/* The MPI library's version string ("Open MPI v4.1.4, ..."), or "" without MPI. */
const char *dnn_dist_library(void);

/* In place on every rank: t becomes the reduction of all ranks' t. */
dnn_status dnn_dist_allreduce(dnn_tensor *t, dnn_dist_op op);
/* In place: every rank's t becomes root's. */
dnn_status dnn_dist_broadcast(dnn_tensor *t, int root);
/* A new (size, ...t's shape) tensor: rank r's t at index r. */
dnn_tensor *dnn_dist_all_gather(const dnn_tensor *t);
dnn_status dnn_dist_barrier(void);

/* The gradient step of data-parallel training: for every tensor g of grads,
 * g = sum over ranks of scale * g, each rank passing its own scale (its share
 * of the global batch). The tensors are packed into buckets of about
 * bucket_bytes; each bucket's MPI_Iallreduce starts as soon as it is packed,
 * so packing the next overlaps the exchange of the last, and all are waited
 * for before the result is unpacked. All ranks must pass the same shapes in
 * the same order. */
dnn_status dnn_dist_allreduce_grads(dnn_tensor *const *grads, int n, float scale, size_t bucket_bytes);

/* The gradient step overlapped with the backward pass (PyTorch DDP's
 * reducer): the params' gradients are summed over the ranks, each rank's
 * weighted by its scale, in buckets laid out in reverse order (the order
 * backward makes them final), the first of about first_bucket_bytes and the
 * others of about bucket_bytes. During backward the autodiff engine's
 * leaf_ready hook marks each param's gradient final; a bucket's
 * MPI_Iallreduce starts as soon as all its params are, buckets always in the
 * same order on every rank; each hook call also tests the outstanding
 * requests (non-blocking collectives move only inside MPI calls). After
 * backward the buckets not started yet start and all are waited for.
 *
 * A param without a gradient on a rank counts as zeros there; it gets a
 * gradient if any rank had one, and stays without one if none did (each
 * bucket carries one presence flag per param). Collective: every rank makes
 * the reducer at the same point with the same shapes (checked, an error on
 * every rank otherwise), and runs the same number of backwards. */
typedef struct dnn_dist_reducer dnn_dist_reducer;

dnn_dist_reducer *dnn_dist_reducer_new(dnn_tensor *const *params, int n, size_t bucket_bytes,
                                       size_t first_bucket_bytes);
void dnn_dist_reducer_free(dnn_dist_reducer *r);
/* The number of buckets. */
int dnn_dist_reducer_buckets(const dnn_dist_reducer *r);
/* backward from root (a one-element tensor), then every param's grad is the
 * sum over ranks of scale x grad. overlap false starts every bucket after
 * the backward (the same sums, for comparison). */
dnn_status dnn_dist_reducer_backward(dnn_dist_reducer *r, dnn_tensor *root, float scale, bool overlap);

/* Time spent by the reducers of this process since the last reset, seconds. */
typedef struct {
  int64_t steps; /* dnn_dist_reducer_backward calls */
  double backward; /* in the backward pass (the hook's packing and tests included) */
  double after; /* after it: the buckets still to start, the wait, unpacking */
  double wait; /* of which waiting for the exchanges (MPI_Waitall) */
  int64_t early; /* buckets started during a backward */
  int64_t late; /* buckets started after it */
  int64_t done_in_backward; /* buckets whose exchange had ended when backward did */
} dnn_dist_timings;
void dnn_dist_get_timings(dnn_dist_timings *out, bool reset);

/* Ends the whole job: prints msg prefixed with this rank to stderr and calls
 * MPI_Abort(code). Returns only when MPI is not initialised or the world has
 * one process (there is then nothing to end but this process). */
void dnn_dist_abort(const char *msg, int code);

#endif
