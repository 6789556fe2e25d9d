/* AVX2+FMA vector layer: 8 lanes, masked tails, SLEEF's expf8_u10avx2. */
#ifndef VECATTN_VEC_AVX2_H
#define VECATTN_VEC_AVX2_H
#include <immintrin.h>
#include <sleef.h>

#define VEC_ISA avx2
#define VEC_ISA_ENUM VECATTN_ISA_AVX2
#define VF_LANES 8
#define VF_MR 6
#define VF_NR 2 /* 12 accumulators + 2 B vectors + 1 broadcast of 16 ymm */

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
static inline vf vf_blend_bit(vf a, vf b, int s) {
  switch (s) {
  case 4: return _mm256_blend_ps(a, b, 0xF0);
  case 2: return _mm256_blend_ps(a, b, 0xCC);
  default: return _mm256_blend_ps(a, b, 0xAA);
  }
}
#endif
