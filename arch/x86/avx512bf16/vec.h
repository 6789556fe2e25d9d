/* AVX-512 with AVX512_BF16: the avx512 vector layer plus VDPBF16PS, which
 * multiplies pairs of bf16 and accumulates in f32 (32 products an instruction
 * against 16 fused multiply-adds). */
#ifndef VECATTN_VEC_AVX512BF16_H
#define VECATTN_VEC_AVX512BF16_H
#include "x86/avx512/vec.h"

#undef VEC_ISA
#undef VEC_ISA_ENUM
#define VEC_ISA avx512bf16
#define VEC_ISA_ENUM VECATTN_ISA_AVX512BF16
#define VF_HAVE_DOT2 1

/* acc + a.lo * b.lo + a.hi * b.hi in every 32-bit lane (a, b: bf16 pairs). */
static inline vf vf_dot2(vf acc, vf a, vf b) { return _mm512_dpbf16_ps(acc, (__m512bh)a, (__m512bh)b); }
static inline vf vf_set1_bits(uint32_t u) { return _mm512_castsi512_ps(_mm512_set1_epi32((int)u)); }
/* Lane j of x0 and of x1 rounded to bf16 and paired into 32 bits (x0 low). */
static inline __m512i vf_bf16_pairs(vf x0, vf x1) {
  return _mm512_or_si512(vf_bf16_round32(x0), _mm512_slli_epi32(vf_bf16_round32(x1), 16));
}
static inline void vf_store_bf16_pairs(uint32_t *dst, vf x0, vf x1) { _mm512_storeu_si512(dst, vf_bf16_pairs(x0, x1)); }
static inline void vf_store_bf16_pairs_n(uint32_t *dst, vf x0, vf x1, int n) {
  _mm512_mask_storeu_epi32(dst, vf_tail_mask(n), vf_bf16_pairs(x0, x1));
}
#endif
