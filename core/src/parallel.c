/* One thread budget: our OpenMP team. OpenBLAS always runs on one thread:
 * a product big enough to share runs through dnn_sgemm, which splits it into
 * blocks of rows or columns fixed by the shape alone and gives the blocks to
 * the team, so that its result does not depend on the thread count (OpenBLAS's
 * own threading gives different bits at 1, 2, 3 and 4 threads on most shapes
 * a training step runs). */
#include <stdatomic.h>
#include <stdlib.h>

#include "blas.h"
#include "dnn/parallel.h"
#include "kernels.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* The team size, measured in a parallel region (0: not measured since the
 * last change). */
static atomic_int team_size;

void dnn_set_num_threads(int n) {
  if (n < 1) n = 1;
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
  atomic_store(&team_size, 0);
}

int dnn_get_num_threads(void) {
  int n = atomic_load(&team_size);
  if (n > 0) return n;
  n = 1;
#ifdef _OPENMP
  /* the team a parallel region really gets (OMP_THREAD_LIMIT, OMP_DYNAMIC or
   * a nested call may give fewer than asked for) */
#pragma omp parallel
  {
#pragma omp single
    n = omp_get_num_threads();
  }
#endif
  atomic_store(&team_size, n);
  return n;
}

/* Below this many multiply-adds per block a product is not split further;
 * a product of fewer than two blocks runs as one call. */
#define GEMM_BLOCK_WORK ((double)(1 << 20))
/* Blocks keep at least this many rows (columns), a multiple of the kernels'
 * unroll, and a product is split into at most GEMM_MAX_BLOCKS: each block
 * packs the other operand again, an overhead of 1/rows (256 rather than 128:
 * the MLP's 256x784 by 784x512 product in 2 blocks, not 4, ran inference
 * 5-10% faster at 1 and 2 threads; 128 rather than 64 had gained 5% too).
 * An odd count above 2 is rounded down, so that two threads share the
 * blocks evenly (the MLP's 784-row weight gradient: 2 blocks, not 3). */
#define GEMM_MIN_SPAN 256
#define GEMM_MAX_BLOCKS 64

/* The span of each block when [0, len) is split for a product of work
 * multiply-adds, a multiple of 16; len itself when it is not split. */
static int64_t block_span(int64_t len, double work) {
  int64_t by_work = (int64_t)(work / GEMM_BLOCK_WORK), blocks = len / GEMM_MIN_SPAN;
  if (blocks > by_work) blocks = by_work;
  if (blocks > GEMM_MAX_BLOCKS) blocks = GEMM_MAX_BLOCKS;
  if (blocks > 2 && blocks % 2) blocks--;
  if (blocks < 2) return len;
  int64_t span = (len + blocks - 1) / blocks;
  return (span + 15) / 16 * 16;
}

/* One OpenBLAS call on this thread. Debian's OpenMP OpenBLAS runs on as many
 * threads as omp_get_max_threads() says outside a parallel region (it has no
 * count of its own: openblas_set_num_threads sets OpenMP's), so the count is
 * 1 for the call. */
static void sgemm1(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                   const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  int outer = 1;
#ifdef _OPENMP
  if (!omp_in_parallel()) outer = omp_get_max_threads();
  if (outer > 1) omp_set_num_threads(1);
#endif
  dnn_blas_sgemm(ta, tb, (int)m, (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
#ifdef _OPENMP
  if (outer > 1) omp_set_num_threads(outer);
#endif
}

void dnn_sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
               const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  dnn_blas_open(); /* here, before the team starts: its first call opens the library */
  double work = (double)m * (double)n * (double)k;
  int64_t rspan = block_span(m, work), cspan = block_span(n, work);
  int64_t rblocks = (m + rspan - 1) / rspan, cblocks = (n + cspan - 1) / cspan;
  bool nested = false;
#ifdef _OPENMP
  nested = omp_in_parallel();
#endif
  if (rblocks < 2 && cblocks < 2) {
    sgemm1(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  } else if (rblocks >= cblocks) { /* blocks of rows of C: rows of op(A) */
#pragma omp parallel for schedule(dynamic, 1) if (!nested)
    for (int64_t blk = 0; blk < rblocks; blk++) {
      int64_t i0 = blk * rspan, rows = i0 + rspan < m ? rspan : m - i0;
      sgemm1(ta, tb, rows, n, k, alpha, ta ? a + i0 : a + i0 * lda, lda, b, ldb, beta, c + i0 * ldc, ldc);
    }
  } else { /* blocks of columns of C: columns of op(B) */
#pragma omp parallel for schedule(dynamic, 1) if (!nested)
    for (int64_t blk = 0; blk < cblocks; blk++) {
      int64_t j0 = blk * cspan, cols = j0 + cspan < n ? cspan : n - j0;
      sgemm1(ta, tb, m, cols, k, alpha, a, lda, tb ? b + j0 * ldb : b + j0, ldb, beta, c + j0, ldc);
    }
  }
}
