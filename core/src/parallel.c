/* One thread budget: OpenMP's team and OpenBLAS (Debian's OpenMP build shares
 * the same pool, so the two never oversubscribe the cores). */
#include <stdlib.h>

#include "dnn/parallel.h"

#ifdef _OPENMP
#include <omp.h>
#endif

void openblas_set_num_threads(int n);
int openblas_get_num_threads(void);

void dnn_set_num_threads(int n) {
  if (n < 1) n = 1;
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
  openblas_set_num_threads(n);
}

int dnn_get_num_threads(void) {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}
