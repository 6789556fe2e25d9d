/* AVX-512 (F/BW/DQ/VL) vector layer: 16 lanes, k-mask tails, SLEEF's expf16_u10avx512f. */
#ifndef VECATTN_VEC_AVX512_H
#define VECATTN_VEC_AVX512_H
#include <immintrin.h>
#include <sleef.h>

#define VEC_ISA avx512
#define VEC_ISA_ENUM VECATTN_ISA_AVX512
#define VF_LANES 16
#define VF_MR 6
#define VF_NR 4 /* 24 accumulators + 4 B vectors + 1 broadcast of 32 zmm */
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
static inline vf vf_blend_bit(vf a, vf b, int s) {
  const __mmask16 m = s == 8 ? 0xFF00 : s == 4 ? 0xF0F0 : s == 2 ? 0xCCCC : 0xAAAA;
  return _mm512_mask_blend_ps(m, a, b);
}
#endif
