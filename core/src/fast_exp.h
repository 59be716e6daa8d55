/* Private: e^x for loops that must vectorize (the recurrent gates, attention's
 * softmax). Compile its users with -fno-trapping-math (CMakeLists.txt). */
#ifndef DNN_FAST_EXP_H
#define DNN_FAST_EXP_H

#include <stdint.h>
#include <string.h>

/* e^x in plain arithmetic, so that a loop of it vectorizes (libm's expf does not, and the 5 * N * U of them in a
 * recurrent step, or the Tq * Tk of an attention head, cost more than the GEMM beside them). Cephes's expf:
 * x = n ln2 + r with |r| <= ln2 / 2 (n rounded with the 1.5 * 2^23 trick, which needs no floorf), a degree-6
 * polynomial for e^r, and 2^n put in the exponent bits. Relative error below 2e-7; x is clamped to [-87, 88], where
 * e^x stays a normal float (so e^-inf gives about 1.6e-38, not 0: a caller that needs 0 selects it). */
static inline float dnn_exp_approx(float v) {
  float below = v < 88.0f ? v : 88.0f, x = below > -87.0f ? below : -87.0f; /* this form vectorizes */
  float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t bits = ((int32_t)n + 127) << 23;
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

#endif
