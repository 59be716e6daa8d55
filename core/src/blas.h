/* The one BLAS routine the core calls, from OpenBLAS opened on first use
 * (blas.c says why). Internal to the core. */
#ifndef DNN_BLAS_H
#define DNN_BLAS_H

#include <cblas.h>
#include <stdbool.h>

/* Opens OpenBLAS once (any thread); exits with a message when it is missing. */
void dnn_blas_open(void);
/* cblas_sgemm, row-major, op(X) = X^T where tX. */
void dnn_blas_sgemm(bool ta, bool tb, int m, int n, int k, float alpha, const float *a, int lda, const float *b,
                    int ldb, float beta, float *c, int ldc);

#endif
