/* Scalar peak: no FMA, so independent multiply chains and add chains run
 * side by side (2 flops per multiply-add pair). Built without vectorization
 * and without contraction so it stays scalar mul + add. 7 + 7 chains plus
 * the two constants fill the 16 x86 FP registers without spilling. */
#include "peak_loops.h"

uint64_t vb_peak_loop_scalar(uint64_t iters, float mul, float add, float *sink) {
  /* Distinct starting values keep the compiler from merging chains. */
  float m0 = 1.0f, m1 = 1.1f, m2 = 1.2f, m3 = 1.3f, m4 = 1.4f, m5 = 1.5f, m6 = 1.6f;
  float s0 = 2.0f, s1 = 2.1f, s2 = 2.2f, s3 = 2.3f, s4 = 2.4f, s5 = 2.5f, s6 = 2.6f;
  for (uint64_t i = 0; i < iters; i++) {
    m0 *= mul; s0 += add;
    m1 *= mul; s1 += add;
    m2 *= mul; s2 += add;
    m3 *= mul; s3 += add;
    m4 *= mul; s4 += add;
    m5 *= mul; s5 += add;
    m6 *= mul; s6 += add;
  }
  *sink = m0 + m1 + m2 + m3 + m4 + m5 + m6 + s0 + s1 + s2 + s3 + s4 + s5 + s6;
  return iters * 7 * 2;
}
