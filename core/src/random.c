/* xoshiro256** (Blackman & Vigna), seeded through splitmix64. */
#include <math.h>

#include "dnn/random.h"

static _Thread_local dnn_rng_state rng = {
    {0x9E3779B97F4A7C15ull, 0xBF58476D1CE4E5B9ull, 0x94D049BB133111EBull, 1}, 0, 0};

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void dnn_manual_seed(uint64_t seed) {
  for (int i = 0; i < 4; i++) rng.s[i] = splitmix64(&seed);
  rng.has_spare = 0;
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t dnn_rng_next(void) {
  uint64_t *s = rng.s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

float dnn_rng_uniform(void) { return (float)(dnn_rng_next() >> 40) * (1.0f / 16777216.0f); }

double dnn_rng_normal(void) {
  if (rng.has_spare) {
    rng.has_spare = 0;
    return rng.spare_normal;
  }
  double u, v, s;
  do { /* Marsaglia's polar method */
    u = (double)(dnn_rng_next() >> 11) * 0x1.0p-53 * 2 - 1;
    v = (double)(dnn_rng_next() >> 11) * 0x1.0p-53 * 2 - 1;
    s = u * u + v * v;
  } while (s >= 1 || s == 0);
  double f = sqrt(-2 * log(s) / s);
  rng.spare_normal = v * f;
  rng.has_spare = 1;
  return u * f;
}

uint64_t dnn_rng_below(uint64_t n) {
  if (n <= 1) return 0;
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t r;
  do r = dnn_rng_next();
  while (r >= limit);
  return r % n;
}

void dnn_rng_get_state(dnn_rng_state *out) { *out = rng; }
void dnn_rng_set_state(const dnn_rng_state *in) { rng = *in; }
