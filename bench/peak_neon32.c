/* 32-bit NEON peak: 8 independent vmlaq_f32 chains (multiply then add, no
 * fusion without VFPv4) plus the two constants in 16 Q registers. Built only
 * on 32-bit ARM with -mfpu=neon; elsewhere this file compiles to nothing. */
#include "peak_loops.h"

#if defined(__arm__) && defined(__ARM_NEON)
#include <arm_neon.h>

uint64_t vb_peak_loop_neon32(uint64_t iters, float mul, float add, float *sink) {
  const float32x4_t a = vdupq_n_f32(mul), b = vdupq_n_f32(add);
  float32x4_t c[8];
  for (int j = 0; j < 8; j++) c[j] = vdupq_n_f32(1.0f + 0.1f * (float)j);
  for (uint64_t i = 0; i < iters; i++) {
    /* vmlaq_f32(acc, x, y) = acc + x*y */
    c[0] = vmlaq_f32(b, c[0], a);
    c[1] = vmlaq_f32(b, c[1], a);
    c[2] = vmlaq_f32(b, c[2], a);
    c[3] = vmlaq_f32(b, c[3], a);
    c[4] = vmlaq_f32(b, c[4], a);
    c[5] = vmlaq_f32(b, c[5], a);
    c[6] = vmlaq_f32(b, c[6], a);
    c[7] = vmlaq_f32(b, c[7], a);
  }
  float32x4_t t = vdupq_n_f32(0.0f);
  for (int j = 0; j < 8; j++) t = vaddq_f32(t, c[j]);
  const float32x2_t s = vpadd_f32(vget_low_f32(t), vget_high_f32(t));
  *sink = vget_lane_f32(vpadd_f32(s, s), 0);
  return iters * 8 * 4 * 2;
}
#else
typedef int vb_peak_neon32_absent; /* ISO C wants a non-empty file */
#endif
