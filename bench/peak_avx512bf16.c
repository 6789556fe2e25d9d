/* AVX512_BF16 peak: 12 independent VDPBF16PS chains, each instruction two
 * multiply-adds per 32-bit lane (a pair of bf16 products), counted as 4 flops
 * a lane: the limit of the avx512bf16 path's bf16 products. */
#include <immintrin.h>

#include "peak_loops.h"

uint64_t vb_peak_loop_avx512bf16(uint64_t iters, float mul, float add, float *sink) {
  const __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(mul), _mm512_set1_ps(mul));
  const __m512bh b = _mm512_cvtne2ps_pbh(_mm512_set1_ps(add), _mm512_set1_ps(add));
  __m512 c[12];
  for (int j = 0; j < 12; j++) c[j] = _mm512_set1_ps(1.0f + 0.1f * (float)j);
#define STEP(i) c[i] = _mm512_dpbf16_ps(c[i], a, b);
  for (uint64_t i = 0; i < iters; i++) {
    VB_CHAINS_12(STEP)
  }
#undef STEP
  __m512 t = _mm512_setzero_ps();
  for (int j = 0; j < 12; j++) t = _mm512_add_ps(t, c[j]);
  *sink = _mm512_reduce_add_ps(t);
  return iters * 12 * 16 * 4;
}
