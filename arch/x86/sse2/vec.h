/* SSE2 vector layer: 4 lanes, no FMA (mul + add), SLEEF's expf4_u10sse2. */
#ifndef VECATTN_VEC_SSE2_H
#define VECATTN_VEC_SSE2_H
#include <emmintrin.h>
#include <stdint.h>
#include "generic/vec_tails.h"
#include "generic/dtype_scalar.h"
#include <string.h>
#include <sleef.h>

#define VEC_ISA sse2
#define VEC_ISA_ENUM VECATTN_ISA_SSE2
#define VF_LANES 4
#define VF_MR 4
#define VF_NR 3 /* 12 accumulators + 3 B vectors + 1 broadcast = 16 xmm */
/* Pins v in a register (generic/gemm_nt.h says why). */
#define VF_PIN(v) __asm__("" : "+x"(v))

typedef __m128 vf;
static inline vf vf_zero(void) { return _mm_setzero_ps(); }
static inline vf vf_set1(float x) { return _mm_set1_ps(x); }
static inline vf vf_load(const float *p) { return _mm_loadu_ps(p); }
static inline void vf_store(float *p, vf v) { _mm_storeu_ps(p, v); }
static inline vf vf_load_n(const float *p, int n) {
  float t[4] = {0, 0, 0, 0};
  memcpy(t, p, (size_t)n * sizeof(float));
  return _mm_loadu_ps(t);
}
static inline void vf_store_n(float *p, vf v, int n) {
  float t[4];
  _mm_storeu_ps(t, v);
  memcpy(p, t, (size_t)n * sizeof(float));
}
static inline vf vf_fma(vf a, vf b, vf c) { return _mm_add_ps(_mm_mul_ps(a, b), c); }
static inline vf vf_mul(vf a, vf b) { return _mm_mul_ps(a, b); }
static inline vf vf_add(vf a, vf b) { return _mm_add_ps(a, b); }
static inline vf vf_sub(vf a, vf b) { return _mm_sub_ps(a, b); }
static inline vf vf_max(vf a, vf b) { return _mm_max_ps(a, b); }
static inline float vf_hmax(vf v) {
  v = _mm_max_ps(v, _mm_shuffle_ps(v, v, _MM_SHUFFLE(1, 0, 3, 2)));
  v = _mm_max_ps(v, _mm_shuffle_ps(v, v, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtss_f32(v);
}
static inline float vf_hsum(vf v) {
  v = _mm_add_ps(v, _mm_shuffle_ps(v, v, _MM_SHUFFLE(1, 0, 3, 2)));
  v = _mm_add_ps(v, _mm_shuffle_ps(v, v, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtss_f32(v);
}
static inline vf vf_exp(vf v) { return Sleef_expf4_u10sse2(v); }
static inline vf vf_tanh(vf v) { return Sleef_tanhf4_u10sse2(v); }
/* Lane i <-> lane i ^ s (s = 1 or 2), and lanes with bit s set taken from b. */
static inline vf vf_butterfly(vf v, int s) {
  return s == 2 ? _mm_shuffle_ps(v, v, _MM_SHUFFLE(1, 0, 3, 2)) : _mm_shuffle_ps(v, v, _MM_SHUFFLE(2, 3, 0, 1));
}
/* Per 128 bits [a0+a1, a2+a3, b0+b1, b2+b3] (generic/lanes.h). */
#define VF_HAS_PAIR_SUM 1
static inline vf vf_pair_sum(vf a, vf b) {
  return _mm_add_ps(_mm_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)), _mm_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
}
static inline vf vf_blend_bit(vf a, vf b, int s) {
  const __m128 m = _mm_castsi128_ps(s == 2 ? _mm_setr_epi32(0, 0, -1, -1) : _mm_setr_epi32(0, -1, 0, -1));
  return _mm_or_ps(_mm_andnot_ps(m, a), _mm_and_ps(m, b));
}

/* Element types, by exact integer arithmetic (SSE2 has no F16C): the same steps
 * as generic/dtype_scalar.h, four lanes at a time. */
static inline vf vf_select(__m128i mask, vf a, vf b) { /* mask ? a : b */
  return _mm_or_ps(_mm_and_ps(_mm_castsi128_ps(mask), a), _mm_andnot_ps(_mm_castsi128_ps(mask), b));
}
static inline vf vf_f16_widen(__m128i h) { /* f16 bits in the low half of each 32-bit lane */
  const __m128i sign = _mm_slli_epi32(_mm_and_si128(h, _mm_set1_epi32(0x8000)), 16);
  __m128i u = _mm_slli_epi32(_mm_and_si128(h, _mm_set1_epi32(0x7fff)), 13);
  const __m128i exp = _mm_and_si128(u, _mm_set1_epi32(0x7c00 << 13));
  u = _mm_add_epi32(u, _mm_set1_epi32((127 - 15) << 23));
  const __m128i inf_nan = _mm_cmpeq_epi32(exp, _mm_set1_epi32(0x7c00 << 13));
  u = _mm_add_epi32(u, _mm_and_si128(inf_nan, _mm_set1_epi32((128 - 16) << 23)));
  const vf sub = _mm_sub_ps(_mm_castsi128_ps(_mm_add_epi32(u, _mm_set1_epi32(1 << 23))),
                            _mm_castsi128_ps(_mm_set1_epi32(113 << 23)));
  const vf r = vf_select(_mm_cmpeq_epi32(exp, _mm_setzero_si128()), sub, _mm_castsi128_ps(u));
  return _mm_or_ps(r, _mm_castsi128_ps(sign));
}
static inline vf vf_load_f16(const uint16_t *p) {
  return vf_f16_widen(_mm_unpacklo_epi16(_mm_loadl_epi64((const __m128i *)p), _mm_setzero_si128()));
}
static inline vf vf_load_bf16(const uint16_t *p) {
  return _mm_castsi128_ps(_mm_unpacklo_epi16(_mm_setzero_si128(), _mm_loadl_epi64((const __m128i *)p)));
}
static inline vf vf_load_i8(const int8_t *p) {
  int32_t w;
  memcpy(&w, p, sizeof w);
  __m128i x = _mm_cvtsi32_si128(w);
  x = _mm_unpacklo_epi8(x, x);
  x = _mm_unpacklo_epi16(x, x);
  return _mm_cvtepi32_ps(_mm_srai_epi32(x, 24));
}
static inline float vf_f16_1(uint16_t h) { return dt_f16_to_f32(h); }
/* The low 16 bits of each 32-bit lane, packed into the low 64 bits. */
static inline __m128i vf_pack_low16(__m128i x) {
  x = _mm_shufflelo_epi16(x, _MM_SHUFFLE(2, 0, 2, 0));
  x = _mm_shufflehi_epi16(x, _MM_SHUFFLE(2, 0, 2, 0));
  return _mm_shuffle_epi32(x, _MM_SHUFFLE(3, 1, 2, 0));
}
static inline __m128i vf_f16_bits(vf v) {
  const __m128i bits = _mm_castps_si128(v);
  const __m128i sign = _mm_and_si128(bits, _mm_set1_epi32((int)0x80000000u));
  const __m128i u = _mm_xor_si128(bits, sign);
  const __m128i nan = _mm_cmpgt_epi32(u, _mm_set1_epi32(255 << 23));
  const __m128i big = _mm_cmpgt_epi32(u, _mm_set1_epi32(((127 + 16) << 23) - 1));
  const __m128i small = _mm_cmplt_epi32(u, _mm_set1_epi32(113 << 23));
  const __m128 magic = _mm_castsi128_ps(_mm_set1_epi32(126 << 23));
  const __m128i sub = _mm_sub_epi32(_mm_castps_si128(_mm_add_ps(_mm_castsi128_ps(u), magic)), _mm_castps_si128(magic));
  const __m128i odd = _mm_and_si128(_mm_srli_epi32(u, 13), _mm_set1_epi32(1));
  const __m128i norm = _mm_srli_epi32(
      _mm_add_epi32(_mm_add_epi32(u, _mm_set1_epi32((int)(((uint32_t)(15 - 127) << 23) + 0xfffu))), odd), 13);
  const __m128i infnan = _mm_or_si128(_mm_set1_epi32(0x7c00), _mm_and_si128(nan, _mm_set1_epi32(0x0200)));
  __m128i h = _mm_castps_si128(vf_select(small, _mm_castsi128_ps(sub), _mm_castsi128_ps(norm)));
  h = _mm_castps_si128(vf_select(big, _mm_castsi128_ps(infnan), _mm_castsi128_ps(h)));
  return vf_pack_low16(_mm_or_si128(h, _mm_srli_epi32(sign, 16)));
}
static inline void vf_store_f16(uint16_t *p, vf v) { _mm_storel_epi64((__m128i *)p, vf_f16_bits(v)); }
static inline __m128i vf_bf16_bits(vf v) {
  const __m128i u = _mm_castps_si128(v), one = _mm_set1_epi32(1);
  const __m128i bias = _mm_add_epi32(_mm_set1_epi32(0x7fff), _mm_and_si128(_mm_srli_epi32(u, 16), one));
  const __m128i rounded = _mm_srli_epi32(_mm_add_epi32(u, bias), 16);
  const __m128i quiet = _mm_or_si128(_mm_srli_epi32(u, 16), _mm_set1_epi32(0x40));
  const __m128i nan = _mm_castps_si128(_mm_cmpunord_ps(v, v));
  return vf_pack_low16(_mm_castps_si128(vf_select(nan, _mm_castsi128_ps(quiet), _mm_castsi128_ps(rounded))));
}
static inline void vf_store_bf16(uint16_t *p, vf v) { _mm_storel_epi64((__m128i *)p, vf_bf16_bits(v)); }
/* Lanes in [-127, 127] rounded to nearest even, stored as int8. */
static inline void vf_store_i8(int8_t *p, vf v) {
  const __m128i i = _mm_cvtps_epi32(v), w = _mm_packs_epi32(i, i);
  const int32_t b = _mm_cvtsi128_si32(_mm_packs_epi16(w, w));
  memcpy(p, &b, sizeof b);
}
static inline vf vf_abs(vf v) { return _mm_andnot_ps(_mm_set1_ps(-0.0f), v); }
VF_TAILS_VIA_COPY(f16)
VF_TAILS_VIA_COPY(bf16)
#endif
