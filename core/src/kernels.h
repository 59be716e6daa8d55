/* Private helpers shared by the elementwise and reduction kernels: running a
 * loop over fixed-size blocks, in parallel when the work is large. */
#ifndef DNN_KERNELS_H
#define DNN_KERNELS_H

#include <cblas.h>
#include <stdbool.h>
#include <stdint.h>

#include "dnn/parallel.h"

/* Elements per block: big enough that one indirect call per block costs
 * nothing, small enough to spread a large loop over the threads. */
#define DNN_BLOCK 8192

/* Processes units [start, end) of a loop; ctx holds the operands. */
typedef void (*dnn_block_fn)(void *ctx, int64_t start, int64_t end);

/* Runs fn over units [0, units), each unit unit_size elements of work, in
 * blocks of about DNN_BLOCK elements: on one thread for small loops, over the
 * OpenMP team above DNN_PARALLEL_GRAIN elements. The blocks write disjoint
 * outputs, so the result does not depend on the thread count. */
static inline void dnn_for_blocks(int64_t units, int64_t unit_size, dnn_block_fn fn, void *ctx) {
  int64_t work = units * (unit_size > 0 ? unit_size : 1);
  if (units <= 0) return;
  if (work <= DNN_PARALLEL_GRAIN) {
    fn(ctx, 0, units);
    return;
  }
  int64_t per = unit_size >= DNN_BLOCK ? 1 : DNN_BLOCK / (unit_size > 0 ? unit_size : 1);
  int64_t nblocks = (units + per - 1) / per;
#pragma omp parallel for schedule(static) if (work > DNN_PARALLEL_GRAIN)
  for (int64_t blk = 0; blk < nblocks; blk++) {
    int64_t start = blk * per, end = start + per < units ? start + per : units;
    fn(ctx, start, end);
  }
}

/* C (m, n) = alpha op(A) op(B) + beta C, row-major with leading dims, as
 * cblas_sgemm: split into blocks of rows or of columns fixed by the shape
 * (never over k), each one OpenBLAS call on one thread, shared by the OpenMP
 * team (one call when already inside a parallel region). The result is the
 * same at any thread count. Every product goes through it, never through
 * cblas_sgemm directly (parallel.c). */
void dnn_sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
               const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

#endif
