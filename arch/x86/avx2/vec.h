/* AVX2+FMA vector layer: 8 lanes, masked tails, SLEEF's expf8_u10avx2. */
#ifndef VECATTN_VEC_AVX2_H
#define VECATTN_VEC_AVX2_H
#include <immintrin.h>
#include <stdint.h>
#include "generic/vec_tails.h"
#include <string.h>
#include <sleef.h>

#define VEC_ISA avx2
#define VEC_ISA_ENUM VECATTN_ISA_AVX2
#define VF_LANES 8
#define VF_MR 6
#define VF_NR 2 /* 12 accumulators + 2 B vectors + 1 broadcast of 16 ymm */
/* Pins v in a register (generic/gemm_nt.h says why). */
#define VF_PIN(v) __asm__("" : "+x"(v))
#define VF_NR_SHORT 3 /* rows <= 4: 12 accumulators + 3 B vectors + 1 broadcast */

typedef __m256 vf;
static inline __m256i vf_tail_mask(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline vf vf_zero(void) { return _mm256_setzero_ps(); }
static inline vf vf_set1(float x) { return _mm256_set1_ps(x); }
static inline vf vf_load(const float *p) { return _mm256_loadu_ps(p); }
static inline void vf_store(float *p, vf v) { _mm256_storeu_ps(p, v); }
static inline vf vf_load_n(const float *p, int n) { return _mm256_maskload_ps(p, vf_tail_mask(n)); }
static inline void vf_store_n(float *p, vf v, int n) { _mm256_maskstore_ps(p, vf_tail_mask(n), v); }
static inline vf vf_fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
static inline vf vf_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
static inline vf vf_add(vf a, vf b) { return _mm256_add_ps(a, b); }
static inline vf vf_sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
static inline vf vf_max(vf a, vf b) { return _mm256_max_ps(a, b); }
static inline float vf_hmax(vf v) {
  __m128 x = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_max_ps(x, _mm_movehl_ps(x, x));
  x = _mm_max_ss(x, _mm_movehdup_ps(x));
  return _mm_cvtss_f32(x);
}
static inline float vf_hsum(vf v) {
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  x = _mm_add_ss(x, _mm_movehdup_ps(x));
  return _mm_cvtss_f32(x);
}
static inline vf vf_exp(vf v) { return Sleef_expf8_u10avx2(v); }
static inline vf vf_tanh(vf v) { return Sleef_tanhf8_u10avx2(v); }
/* Lane i <-> lane i ^ s (s a power of two below 8), and lanes with bit s set taken from b. */
static inline vf vf_butterfly(vf v, int s) {
  switch (s) {
  case 4: return _mm256_permute2f128_ps(v, v, 1);
  case 2: return _mm256_permute_ps(v, _MM_SHUFFLE(1, 0, 3, 2));
  default: return _mm256_permute_ps(v, _MM_SHUFFLE(2, 3, 0, 1));
  }
}
/* Per 128 bits [a0+a1, a2+a3, b0+b1, b2+b3] (generic/lanes.h). */
#define VF_HAS_PAIR_SUM 1
static inline vf vf_pair_sum(vf a, vf b) {
  return _mm256_add_ps(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)), _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
}
static inline vf vf_blend_bit(vf a, vf b, int s) {
  switch (s) {
  case 4: return _mm256_blend_ps(a, b, 0xF0);
  case 2: return _mm256_blend_ps(a, b, 0xCC);
  default: return _mm256_blend_ps(a, b, 0xAA);
  }
}

/* Element types (F16C conversions round to nearest even). */
static inline vf vf_load_f16(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }
static inline vf vf_load_bf16(const uint16_t *p) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}
static inline vf vf_load_i8(const int8_t *p) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p))); }
static inline float vf_f16_1(uint16_t h) { return _cvtsh_ss(h); }
/* The f16 at p in every lane (p needs 8 readable bytes): as in avx512/vec.h. */
#define VF_HAVE_BCAST_F16 1
static inline vf vf_bcast_f16(const void *p) {
  __m128 x; /* compilers load into a register first unless told */
  __asm__("vcvtph2ps %1, %0" : "=x"(x) : "m"(*(const struct { unsigned char b[8]; } *)p));
  return _mm256_broadcastss_ps(x);
}
static inline void vf_store_f16(uint16_t *p, vf v) {
  _mm_storeu_si128((__m128i *)p, _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}
/* Round to nearest even on the integer bits; NaN keeps its sign and top payload, made quiet. */
static inline __m128i vf_bf16_bits(vf v) {
  const __m256i u = _mm256_castps_si256(v), one = _mm256_set1_epi32(1);
  const __m256i bias = _mm256_add_epi32(_mm256_set1_epi32(0x7fff), _mm256_and_si256(_mm256_srli_epi32(u, 16), one));
  const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(u, bias), 16);
  const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40));
  const __m256i r = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(rounded), _mm256_castsi256_ps(quiet),
                                                         _mm256_cmp_ps(v, v, _CMP_UNORD_Q)));
  return _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
}
static inline void vf_store_bf16(uint16_t *p, vf v) { _mm_storeu_si128((__m128i *)p, vf_bf16_bits(v)); }
/* Lanes in [-127, 127] rounded to nearest even, stored as int8. */
static inline void vf_store_i8(int8_t *p, vf v) {
  const __m256i i = _mm256_cvtps_epi32(v);
  const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(i), _mm256_extracti128_si256(i, 1));
  _mm_storel_epi64((__m128i *)p, _mm_packs_epi16(w, w));
}
static inline vf vf_abs(vf v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }
VF_TAILS_VIA_COPY(f16)
VF_TAILS_VIA_COPY(bf16)
#endif
