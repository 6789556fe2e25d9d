/* NEON peak: 12 independent vfmaq_f32 chains (AArch64 has 32 Q registers).
 * Built only on aarch64; elsewhere this file compiles to nothing. */
#include "peak_loops.h"

#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>

uint64_t vb_peak_loop_neon(uint64_t iters, float mul, float add, float *sink) {
  const float32x4_t a = vdupq_n_f32(mul), b = vdupq_n_f32(add);
  float32x4_t c[12];
  for (int j = 0; j < 12; j++) c[j] = vdupq_n_f32(1.0f + 0.1f * (float)j);
#define STEP(i) c[i] = vfmaq_f32(b, c[i], a);
  for (uint64_t i = 0; i < iters; i++) {
    /* vfmaq_f32(acc, x, y) = acc + x*y */
    VB_CHAINS_12(STEP)
  }
#undef STEP
  float32x4_t t = vdupq_n_f32(0.0f);
  for (int j = 0; j < 12; j++) t = vaddq_f32(t, c[j]);
  *sink = vaddvq_f32(t);
  return iters * 12 * 4 * 2;
}
#else
typedef int vb_peak_neon_absent; /* ISO C wants a non-empty file */
#endif
