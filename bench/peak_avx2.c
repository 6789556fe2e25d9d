/* AVX2+FMA peak: 12 independent FMA chains cover latency x throughput
 * (4 x 2 on current cores) with room to spare; 14 of 16 YMM registers. */
#include <immintrin.h>

#include "peak_loops.h"

uint64_t vb_peak_loop_avx2(uint64_t iters, float mul, float add, float *sink) {
  const __m256 a = _mm256_set1_ps(mul), b = _mm256_set1_ps(add);
  __m256 c0 = _mm256_set1_ps(1.0f), c1 = _mm256_set1_ps(1.1f), c2 = _mm256_set1_ps(1.2f);
  __m256 c3 = _mm256_set1_ps(1.3f), c4 = _mm256_set1_ps(1.4f), c5 = _mm256_set1_ps(1.5f);
  __m256 c6 = _mm256_set1_ps(1.6f), c7 = _mm256_set1_ps(1.7f), c8 = _mm256_set1_ps(1.8f);
  __m256 c9 = _mm256_set1_ps(1.9f), c10 = _mm256_set1_ps(2.0f), c11 = _mm256_set1_ps(2.1f);
#define STEP(i) c##i = _mm256_fmadd_ps(c##i, a, b);
  for (uint64_t i = 0; i < iters; i++) {
    VB_CHAINS_12(STEP)
  }
#undef STEP
  __m256 t = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
                           _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)));
  t = _mm256_add_ps(t, _mm256_add_ps(_mm256_add_ps(c8, c9), _mm256_add_ps(c10, c11)));
  *sink = _mm256_cvtss_f32(t);
  return iters * 12 * 8 * 2;
}
