/* AVX-512 peak: 12 independent ZMM FMA chains (latency 4 x 2 pipes needs 8). */
#include <immintrin.h>

#include "peak_loops.h"

uint64_t vb_peak_loop_avx512(uint64_t iters, float mul, float add, float *sink) {
  const __m512 a = _mm512_set1_ps(mul), b = _mm512_set1_ps(add);
  __m512 c0 = _mm512_set1_ps(1.0f), c1 = _mm512_set1_ps(1.1f), c2 = _mm512_set1_ps(1.2f);
  __m512 c3 = _mm512_set1_ps(1.3f), c4 = _mm512_set1_ps(1.4f), c5 = _mm512_set1_ps(1.5f);
  __m512 c6 = _mm512_set1_ps(1.6f), c7 = _mm512_set1_ps(1.7f), c8 = _mm512_set1_ps(1.8f);
  __m512 c9 = _mm512_set1_ps(1.9f), c10 = _mm512_set1_ps(2.0f), c11 = _mm512_set1_ps(2.1f);
#define STEP(i) c##i = _mm512_fmadd_ps(c##i, a, b);
  for (uint64_t i = 0; i < iters; i++) {
    VB_CHAINS_12(STEP)
  }
#undef STEP
  __m512 t = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c0, c1), _mm512_add_ps(c2, c3)),
                           _mm512_add_ps(_mm512_add_ps(c4, c5), _mm512_add_ps(c6, c7)));
  t = _mm512_add_ps(t, _mm512_add_ps(_mm512_add_ps(c8, c9), _mm512_add_ps(c10, c11)));
  *sink = _mm512_reduce_add_ps(t);
  return iters * 12 * 16 * 2;
}
