/* NEON BF16 peak: 12 independent BFDOT chains, each instruction two
 * multiply-adds per 32-bit lane (a pair of bf16 products), counted as 4 flops
 * a lane: the limit of the neonbf16 path's bf16 products. Built only on
 * aarch64; elsewhere this file compiles to nothing. */
#include "peak_loops.h"

#if defined(__aarch64__) && defined(__ARM_FEATURE_BF16_VECTOR_ARITHMETIC)
#include <arm_neon.h>

uint64_t vb_peak_loop_neonbf16(uint64_t iters, float mul, float add, float *sink) {
  const bfloat16x8_t a = vcvtq_high_bf16_f32(vcvtq_low_bf16_f32(vdupq_n_f32(mul)), vdupq_n_f32(mul));
  const bfloat16x8_t b = vcvtq_high_bf16_f32(vcvtq_low_bf16_f32(vdupq_n_f32(add)), vdupq_n_f32(add));
  float32x4_t c[12];
  for (int j = 0; j < 12; j++) c[j] = vdupq_n_f32(1.0f + 0.1f * (float)j);
#define STEP(i) c[i] = vbfdotq_f32(c[i], a, b);
  for (uint64_t i = 0; i < iters; i++) {
    VB_CHAINS_12(STEP)
  }
#undef STEP
  float32x4_t t = vdupq_n_f32(0.0f);
  for (int j = 0; j < 12; j++) t = vaddq_f32(t, c[j]);
  *sink = vaddvq_f32(t);
  return iters * 12 * 4 * 4;
}
#else
typedef int vb_peak_neonbf16_absent; /* ISO C wants a non-empty file */
#endif
