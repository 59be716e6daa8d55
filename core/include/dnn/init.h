/* Weight initializers, Keras 3's definitions (keras/src/initializers/), in
 * place, drawing from the dnn PRNG (dnn_manual_seed makes them repeat).
 * Targets must be contiguous. */
#ifndef DNN_INIT_H
#define DNN_INIT_H

#include "dnn/tensor.h"

/* Keras's compute_fans: () -> 1, 1; (n) -> n, n; (in, out) -> in, out;
 * (..., in, out) -> in * rf, out * rf with rf the product of the leading dims
 * (a conv kernel's receptive field). */
void dnn_compute_fans(int ndim, const int64_t *shape, int64_t *fan_in, int64_t *fan_out);

dnn_status dnn_init_constant(dnn_tensor *t, float value); /* t = value */
dnn_status dnn_init_uniform(dnn_tensor *t, float lo, float hi); /* U[lo, hi) */
dnn_status dnn_init_normal(dnn_tensor *t, float mean, float stddev); /* N(mean, stddev) */
/* N(mean, stddev) with draws beyond 2 stddev of the mean drawn again, as Keras's TruncatedNormal */
dnn_status dnn_init_truncated_normal(dnn_tensor *t, float mean, float stddev);

typedef enum { DNN_FAN_IN, DNN_FAN_OUT, DNN_FAN_AVG } dnn_fan_mode;
typedef enum { DNN_DIST_TRUNCATED_NORMAL, DNN_DIST_UNTRUNCATED_NORMAL, DNN_DIST_UNIFORM } dnn_distribution;

/* Keras's VarianceScaling: n = fan_in, fan_out or their mean; truncated normal with stddev
 * sqrt(scale / n) / 0.8796 (the truncated draw then has stddev sqrt(scale / n)), normal with stddev
 * sqrt(scale / n), or U(+-sqrt(3 scale / n)). glorot: scale 1, avg; he: 2, in; lecun: 1, in. */
dnn_status dnn_init_variance_scaling(dnn_tensor *t, float scale, dnn_fan_mode mode, dnn_distribution dist,
                                     int64_t fan_in, int64_t fan_out);
dnn_status dnn_init_glorot_uniform(dnn_tensor *t, int64_t fan_in, int64_t fan_out); /* U(+-sqrt(6/(in+out))) */
dnn_status dnn_init_he_normal(dnn_tensor *t, int64_t fan_in); /* truncated, stddev sqrt(2/in), as Keras */

/* Keras's Orthogonal: t (2+ dims) seen as (prod(leading dims), last dim) gets gain * the Q of the QR of a
 * normal draw (R's diagonal made positive), transposed when it has fewer rows than columns: orthonormal
 * columns (or rows). QR by Gram-Schmidt, twice, in double. */
dnn_status dnn_init_orthogonal(dnn_tensor *t, float gain);

#endif
