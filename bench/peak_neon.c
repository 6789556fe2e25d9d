/* NEON peak: 12 independent vfmaq_f32 chains (AArch64 has 32 Q registers).
 * Built only on aarch64; elsewhere this file compiles to nothing. */
#include "peak_loops.h"

#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>

uint64_t vb_peak_loop_neon(uint64_t iters, float mul, float add, float *sink) {
  const float32x4_t a = vdupq_n_f32(mul), b = vdupq_n_f32(add);
  float32x4_t c[12];
  for (int j = 0; j < 12; j++) c[j] = vdupq_n_f32(1.0f + 0.1f * (float)j);
  for (uint64_t i = 0; i < iters; i++) {
    /* vfmaq_f32(acc, x, y) = acc + x*y */
    c[0] = vfmaq_f32(b, c[0], a);
    c[1] = vfmaq_f32(b, c[1], a);
    c[2] = vfmaq_f32(b, c[2], a);
    c[3] = vfmaq_f32(b, c[3], a);
    c[4] = vfmaq_f32(b, c[4], a);
    c[5] = vfmaq_f32(b, c[5], a);
    c[6] = vfmaq_f32(b, c[6], a);
    c[7] = vfmaq_f32(b, c[7], a);
    c[8] = vfmaq_f32(b, c[8], a);
    c[9] = vfmaq_f32(b, c[9], a);
    c[10] = vfmaq_f32(b, c[10], a);
    c[11] = vfmaq_f32(b, c[11], a);
  }
  float32x4_t t = vdupq_n_f32(0.0f);
  for (int j = 0; j < 12; j++) t = vaddq_f32(t, c[j]);
  *sink = vaddvq_f32(t);
  return iters * 12 * 4 * 2;
}
#else
typedef int vb_peak_neon_absent; /* ISO C wants a non-empty file */
#endif
