/* SSE2 peak: no FMA, so independent mulps chains and addps chains run side by
 * side (2 flops per lane per pair). 7 + 7 chains plus the two constants fill
 * the 16 XMM registers; fewer leave the multiply and add pipes partly idle. */
#include <emmintrin.h>

#include "peak_loops.h"

uint64_t vb_peak_loop_sse2(uint64_t iters, float mul, float add, float *sink) {
  const __m128 a = _mm_set1_ps(mul), b = _mm_set1_ps(add);
  __m128 m0 = _mm_set1_ps(1.0f), m1 = _mm_set1_ps(1.1f), m2 = _mm_set1_ps(1.2f), m3 = _mm_set1_ps(1.3f);
  __m128 m4 = _mm_set1_ps(1.4f), m5 = _mm_set1_ps(1.5f), m6 = _mm_set1_ps(1.6f);
  __m128 s0 = _mm_set1_ps(2.0f), s1 = _mm_set1_ps(2.1f), s2 = _mm_set1_ps(2.2f), s3 = _mm_set1_ps(2.3f);
  __m128 s4 = _mm_set1_ps(2.4f), s5 = _mm_set1_ps(2.5f), s6 = _mm_set1_ps(2.6f);
  for (uint64_t i = 0; i < iters; i++) {
    m0 = _mm_mul_ps(m0, a); s0 = _mm_add_ps(s0, b);
    m1 = _mm_mul_ps(m1, a); s1 = _mm_add_ps(s1, b);
    m2 = _mm_mul_ps(m2, a); s2 = _mm_add_ps(s2, b);
    m3 = _mm_mul_ps(m3, a); s3 = _mm_add_ps(s3, b);
    m4 = _mm_mul_ps(m4, a); s4 = _mm_add_ps(s4, b);
    m5 = _mm_mul_ps(m5, a); s5 = _mm_add_ps(s5, b);
    m6 = _mm_mul_ps(m6, a); s6 = _mm_add_ps(s6, b);
  }
  __m128 t = _mm_add_ps(_mm_add_ps(_mm_add_ps(m0, m1), _mm_add_ps(m2, m3)), _mm_add_ps(_mm_add_ps(m4, m5), m6));
  t = _mm_add_ps(t, _mm_add_ps(_mm_add_ps(_mm_add_ps(s0, s1), _mm_add_ps(s2, s3)), _mm_add_ps(_mm_add_ps(s4, s5), s6)));
  *sink = _mm_cvtss_f32(t);
  return iters * 7 * 2 * 4;
}
