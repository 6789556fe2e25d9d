/* SSE2 vector layer: 4 lanes, no FMA (mul + add), SLEEF's expf4_u10sse2. */
#ifndef VECATTN_VEC_SSE2_H
#define VECATTN_VEC_SSE2_H
#include <emmintrin.h>
#include <string.h>
#include <sleef.h>

#define VEC_ISA sse2
#define VEC_ISA_ENUM VECATTN_ISA_SSE2
#define VF_LANES 4
#define VF_MR 4
#define VF_NR 3 /* 12 accumulators + 3 B vectors + 1 broadcast = 16 xmm */

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
static inline vf vf_blend_bit(vf a, vf b, int s) {
  const __m128 m = _mm_castsi128_ps(s == 2 ? _mm_setr_epi32(0, 0, -1, -1) : _mm_setr_epi32(0, -1, 0, -1));
  return _mm_or_ps(_mm_andnot_ps(m, a), _mm_and_ps(m, b));
}
#endif
