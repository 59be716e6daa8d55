/* Random permutations, for shuffling data. */
#include "dnn/random.h"
#include "dnn/tensor.h"

dnn_tensor *dnn_randperm(int64_t n, int base) {
  if (n < 0) return dnn_argerror(1, "randperm", "expected n >= 0, got %lld", (long long)n), NULL;
  dnn_tensor *t = dnn_empty(1, &n);
  if (!t) return NULL;
  float *p = dnn_data(t);
  for (int64_t i = 0; i < n; i++) p[i] = (float)(i + base);
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = (int64_t)dnn_rng_below((uint64_t)i + 1);
    float tmp = p[i];
    p[i] = p[j];
    p[j] = tmp;
  }
  return t;
}
