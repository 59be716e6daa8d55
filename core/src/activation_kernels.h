/* Private helpers shared by the layer kernels that fuse a bias and an
 * activation into their output pass (Dense, the convolutions): the forward
 * applied in place to a (rows, cols) matrix and the gradient written from the
 * output. Softmax, a row op, is a separate op, so it is not handled here. */
#ifndef DNN_ACTIVATION_KERNELS_H
#define DNN_ACTIVATION_KERNELS_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "dnn/nn.h"
#include "dnn/parallel.h"

/* z = act(z + bias) in place; bias (cols) may be NULL. */
static inline void dnn_bias_activation(float *z, const float *bias, int64_t rows, int64_t cols, dnn_activation act,
                                       float alpha) {
#pragma omp parallel for if (rows * cols > DNN_PARALLEL_GRAIN)
  for (int64_t r = 0; r < rows; r++) {
    float *row = z + r * cols;
    if (bias)
      for (int64_t c = 0; c < cols; c++) row[c] += bias[c];
    switch (act) {
      case DNN_ACT_RELU:
        for (int64_t c = 0; c < cols; c++) row[c] = row[c] > 0 ? row[c] : 0;
        break;
      case DNN_ACT_LEAKY_RELU:
        for (int64_t c = 0; c < cols; c++) row[c] = row[c] > 0 ? row[c] : alpha * row[c];
        break;
      case DNN_ACT_SIGMOID:
        for (int64_t c = 0; c < cols; c++) row[c] = 1 / (1 + expf(-row[c]));
        break;
      case DNN_ACT_TANH:
        for (int64_t c = 0; c < cols; c++) row[c] = tanhf(row[c]);
        break;
      default:
        break;
    }
  }
}

/* dz = g * act'(z), written from the output y (cheaper, and z is gone). One loop per activation, so that each is a
 * plain vectorizable loop (a switch inside the loop costs several times the arithmetic). */
static inline void dnn_activation_grad(float *dz, const float *g, const float *y, int64_t n, dnn_activation act,
                                       float alpha) {
  switch (act) {
    case DNN_ACT_RELU:
#pragma omp parallel for if (n > DNN_PARALLEL_GRAIN)
      for (int64_t i = 0; i < n; i++) {
        float gi = g[i]; /* loaded unconditionally: then the select vectorizes (no branch to mispredict) */
        dz[i] = y[i] > 0 ? gi : 0;
      }
      break;
    case DNN_ACT_LEAKY_RELU:
#pragma omp parallel for if (n > DNN_PARALLEL_GRAIN)
      for (int64_t i = 0; i < n; i++) dz[i] = y[i] > 0 ? g[i] : alpha * g[i];
      break;
    case DNN_ACT_SIGMOID:
#pragma omp parallel for if (n > DNN_PARALLEL_GRAIN)
      for (int64_t i = 0; i < n; i++) dz[i] = g[i] * y[i] * (1 - y[i]);
      break;
    case DNN_ACT_TANH:
#pragma omp parallel for if (n > DNN_PARALLEL_GRAIN)
      for (int64_t i = 0; i < n; i++) dz[i] = g[i] * (1 - y[i] * y[i]);
      break;
    default:
      memcpy(dz, g, (size_t)n * sizeof(float));
      break;
  }
}

/* Column sums of a (rows, cols) matrix into out, in a fixed order (the bias gradient). */
static inline void dnn_column_sums(const float *m, int64_t rows, int64_t cols, float *out) {
  for (int64_t c = 0; c < cols; c++) out[c] = 0;
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < cols; c++) out[c] += m[r * cols + c];
}

#endif
