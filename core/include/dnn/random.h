/* One seedable PRNG (xoshiro256**) behind every random draw in dnn, so that
 * dnn_manual_seed() makes a whole run reproducible. Per thread. */
#ifndef DNN_RANDOM_H
#define DNN_RANDOM_H

#include <stdint.h>

typedef struct dnn_rng_state {
  uint64_t s[4];
  double spare_normal; /* Box-Muller gives two; the second waits here */
  int has_spare;
} dnn_rng_state;

void dnn_manual_seed(uint64_t seed);
uint64_t dnn_rng_next(void); /* 64 random bits */
float dnn_rng_uniform(void); /* [0, 1) */
double dnn_rng_normal(void); /* N(0, 1) */
uint64_t dnn_rng_below(uint64_t n); /* uniform in [0, n), unbiased */
/* A random permutation of base .. base + n - 1 as a float tensor (Fisher-Yates). */
struct dnn_tensor *dnn_randperm(int64_t n, int base);
/* Whole state, for checkpoints. */
void dnn_rng_get_state(dnn_rng_state *out);
void dnn_rng_set_state(const dnn_rng_state *in);

#endif
