/* One thread budget for OpenMP loops and OpenBLAS alike (DESIGN.md). */
#ifndef DNN_PARALLEL_H
#define DNN_PARALLEL_H

#include <stdint.h>

void dnn_set_num_threads(int n);
int dnn_get_num_threads(void);
/* OpenBLAS's build description (its CPU kernels, thread model), opening it
 * if no product has yet. */
const char *dnn_blas_config(void);
/* Below this many elements an elementwise loop stays on one thread. */
#define DNN_PARALLEL_GRAIN 32768

#endif
