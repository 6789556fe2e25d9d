/* AVX-512 (F/BW/DQ/VL) vector layer: 16 lanes, k-mask tails, SLEEF's expf16_u10avx512f. */
#ifndef VECATTN_VEC_AVX512_H
#define VECATTN_VEC_AVX512_H
#include <immintrin.h>
#include <stdint.h>
#include <string.h>
#include <sleef.h>

#define VEC_ISA avx512
#define VEC_ISA_ENUM VECATTN_ISA_AVX512
#define VF_LANES 16
#define VF_MR 6
#define VF_NR 4 /* 24 accumulators + 4 B vectors + 1 broadcast of 32 zmm */
/* Pins v in a register (generic/gemm_nt.h says why). */
#define VF_PIN(v) __asm__("" : "+v"(v))
#define VF_NT_MR 4
#define VF_NT_NC 4

typedef __m512 vf;
static inline __mmask16 vf_tail_mask(int n) { return (__mmask16)((1u << n) - 1u); }
static inline vf vf_zero(void) { return _mm512_setzero_ps(); }
static inline vf vf_set1(float x) { return _mm512_set1_ps(x); }
static inline vf vf_load(const float *p) { return _mm512_loadu_ps(p); }
static inline void vf_store(float *p, vf v) { _mm512_storeu_ps(p, v); }
static inline vf vf_load_n(const float *p, int n) { return _mm512_maskz_loadu_ps(vf_tail_mask(n), p); }
static inline void vf_store_n(float *p, vf v, int n) { _mm512_mask_storeu_ps(p, vf_tail_mask(n), v); }
static inline vf vf_fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
static inline vf vf_mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
static inline vf vf_add(vf a, vf b) { return _mm512_add_ps(a, b); }
static inline vf vf_sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
static inline vf vf_max(vf a, vf b) { return _mm512_max_ps(a, b); }
static inline float vf_hmax(vf v) { return _mm512_reduce_max_ps(v); }
static inline float vf_hsum(vf v) { return _mm512_reduce_add_ps(v); }
static inline vf vf_exp(vf v) { return Sleef_expf16_u10avx512f(v); }
static inline vf vf_tanh(vf v) { return Sleef_tanhf16_u10avx512f(v); }
/* Lane i <-> lane i ^ s (s a power of two below 16), and lanes with bit s set taken from b. */
static inline vf vf_butterfly(vf v, int s) {
  switch (s) {
  case 8: return _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(1, 0, 3, 2));
  case 4: return _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(2, 3, 0, 1));
  case 2: return _mm512_permute_ps(v, _MM_SHUFFLE(1, 0, 3, 2));
  default: return _mm512_permute_ps(v, _MM_SHUFFLE(2, 3, 0, 1));
  }
}
/* Per 128 bits [a0+a1, a2+a3, b0+b1, b2+b3] (generic/lanes.h). */
#define VF_HAS_PAIR_SUM 1
static inline vf vf_pair_sum(vf a, vf b) {
  return _mm512_add_ps(_mm512_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)), _mm512_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
}
static inline vf vf_blend_bit(vf a, vf b, int s) {
  const __mmask16 m = s == 8 ? 0xFF00 : s == 4 ? 0xF0F0 : s == 2 ? 0xCCCC : 0xAAAA;
  return _mm512_mask_blend_ps(m, a, b);
}

/* Element types (F16C conversions round to nearest even). */
static inline vf vf_load_f16(const uint16_t *p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)); }
static inline vf vf_load_n_f16(const uint16_t *p, int n) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(vf_tail_mask(n), p)); }
static inline vf vf_bf16_widen(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }
static inline vf vf_load_bf16(const uint16_t *p) { return vf_bf16_widen(_mm256_loadu_si256((const __m256i *)p)); }
static inline vf vf_load_n_bf16(const uint16_t *p, int n) { return vf_bf16_widen(_mm256_maskz_loadu_epi16(vf_tail_mask(n), p)); }
static inline vf vf_load_i8(const int8_t *p) { return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p))); }
static inline float vf_f16_1(uint16_t h) { return _cvtsh_ss(h); }
/* The f16 at p in every lane. vcvtph2ps reading memory (4 halves: p needs 8
 * readable bytes) skips the shuffle port that inserting it into a register
 * takes on Intel cores, where that port also runs the FMAs. */
#define VF_HAVE_BCAST_F16 1
static inline vf vf_bcast_f16(const void *p) {
  __m128 x; /* compilers load into a register first unless told */
  __asm__("vcvtph2ps %1, %0" : "=x"(x) : "m"(*(const struct { unsigned char b[8]; } *)p));
  return _mm512_broadcastss_ps(x);
}
static inline __m256i vf_f16_bits(vf v) { return _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
static inline void vf_store_f16(uint16_t *p, vf v) { _mm256_storeu_si256((__m256i *)p, vf_f16_bits(v)); }
static inline void vf_store_n_f16(uint16_t *p, vf v, int n) { _mm256_mask_storeu_epi16(p, vf_tail_mask(n), vf_f16_bits(v)); }
/* bf16 in the low half of each 32-bit lane: round to nearest even on the
 * integer bits; NaN keeps its sign and top payload, made quiet. */
static inline __m512i vf_bf16_round32(vf v) {
  const __m512i u = _mm512_castps_si512(v), one = _mm512_set1_epi32(1);
  const __m512i bias = _mm512_add_epi32(_mm512_set1_epi32(0x7fff), _mm512_and_si512(_mm512_srli_epi32(u, 16), one));
  const __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(u, bias), 16);
  const __m512i quiet = _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
  return _mm512_mask_blend_epi32(_mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), rounded, quiet);
}
static inline __m256i vf_bf16_bits(vf v) { return _mm512_cvtepi32_epi16(vf_bf16_round32(v)); }
static inline void vf_store_bf16(uint16_t *p, vf v) { _mm256_storeu_si256((__m256i *)p, vf_bf16_bits(v)); }
static inline void vf_store_n_bf16(uint16_t *p, vf v, int n) { _mm256_mask_storeu_epi16(p, vf_tail_mask(n), vf_bf16_bits(v)); }
/* Lanes in [-127, 127] rounded to nearest even, stored as int8. */
static inline void vf_store_i8(int8_t *p, vf v) { _mm_storeu_si128((__m128i *)p, _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(v))); }
static inline vf vf_abs(vf v) { return _mm512_abs_ps(v); }
#endif
