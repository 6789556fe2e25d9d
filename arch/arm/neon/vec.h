/* NEON (AArch64 Advanced SIMD) vector layer: 4 lanes, SLEEF's expf4_u10advsimd. */
#ifndef VECATTN_VEC_NEON_H
#define VECATTN_VEC_NEON_H
#include <arm_neon.h>
#include "arm/bf16_round.h"
#include <stdint.h>
#include "generic/vec_tails.h"
#include <string.h>
#include <sleef.h>

#define VEC_ISA neon
#define VEC_ISA_ENUM VECATTN_ISA_NEON
#define VF_LANES 4
#define VF_MR 6
#define VF_NR 4 /* 24 accumulators + 4 B vectors + 1 broadcast of 32 q registers */
#define VF_NT_MR 4
#define VF_NT_NC 4

typedef float32x4_t vf;
static inline vf vf_zero(void) { return vdupq_n_f32(0.0f); }
static inline vf vf_set1(float x) { return vdupq_n_f32(x); }
static inline vf vf_load(const float *p) { return vld1q_f32(p); }
static inline void vf_store(float *p, vf v) { vst1q_f32(p, v); }
static inline vf vf_load_n(const float *p, int n) {
  float t[4] = {0, 0, 0, 0};
  memcpy(t, p, (size_t)n * sizeof(float));
  return vld1q_f32(t);
}
static inline void vf_store_n(float *p, vf v, int n) {
  float t[4];
  vst1q_f32(t, v);
  memcpy(p, t, (size_t)n * sizeof(float));
}
static inline vf vf_fma(vf a, vf b, vf c) { return vfmaq_f32(c, a, b); }
static inline vf vf_mul(vf a, vf b) { return vmulq_f32(a, b); }
static inline vf vf_add(vf a, vf b) { return vaddq_f32(a, b); }
static inline vf vf_sub(vf a, vf b) { return vsubq_f32(a, b); }
static inline vf vf_max(vf a, vf b) { return vmaxq_f32(a, b); }
static inline float vf_hmax(vf v) { return vmaxvq_f32(v); }
static inline float vf_hsum(vf v) { return vaddvq_f32(v); }
static inline vf vf_exp(vf v) { return Sleef_expf4_u10advsimd(v); }
static inline vf vf_tanh(vf v) { return Sleef_tanhf4_u10advsimd(v); }
/* Lane i <-> lane i ^ s (s = 1 or 2), and lanes with bit s set taken from b. */
static inline vf vf_butterfly(vf v, int s) { return s == 2 ? vextq_f32(v, v, 2) : vrev64q_f32(v); }
static inline vf vf_blend_bit(vf a, vf b, int s) {
  static const uint32_t bit1[4] = {0, ~0u, 0, ~0u}, bit2[4] = {0, 0, ~0u, ~0u};
  return vbslq_f32(vld1q_u32(s == 2 ? bit2 : bit1), b, a);
}
/* TRN1 / TRN2 on words (s = 1) and doublewords (s = 2): see generic/lanes.h. */
#define VF_TRN_MAX 2
static inline vf vf_trn1(vf a, vf b, int s) {
  if (s == 1) return vtrn1q_f32(a, b);
  return vreinterpretq_f32_f64(vtrn1q_f64(vreinterpretq_f64_f32(a), vreinterpretq_f64_f32(b)));
}
static inline vf vf_trn2(vf a, vf b, int s) {
  if (s == 1) return vtrn2q_f32(a, b);
  return vreinterpretq_f32_f64(vtrn2q_f64(vreinterpretq_f64_f32(a), vreinterpretq_f64_f32(b)));
}

/* Element types: NEON's f16 conversions (round to nearest even under the
 * default FPCR), bf16 by a shift. */
static inline vf vf_load_f16(const uint16_t *p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }
static inline vf vf_load_bf16(const uint16_t *p) { return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16)); }
static inline vf vf_load_i8(const int8_t *p) {
  int32_t w;
  memcpy(&w, p, sizeof w);
  const int16x8_t x = vmovl_s8(vreinterpret_s8_s32(vdup_n_s32(w)));
  return vcvtq_f32_s32(vmovl_s16(vget_low_s16(x)));
}
static inline float vf_f16_1(uint16_t h) { return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0); }
static inline void vf_store_f16(uint16_t *p, vf v) { vst1_u16(p, vreinterpret_u16_f16(vcvt_f16_f32(v))); }
static inline void vf_store_bf16(uint16_t *p, vf v) { vst1_u16(p, vf_bf16_bits(v)); }
/* Lanes in [-127, 127] rounded to nearest even, stored as int8. */
static inline void vf_store_i8(int8_t *p, vf v) {
  const int16x4_t w = vmovn_s32(vcvtnq_s32_f32(v));
  const int32_t b = vget_lane_s32(vreinterpret_s32_s8(vmovn_s16(vcombine_s16(w, w))), 0);
  memcpy(p, &b, sizeof b);
}
static inline vf vf_abs(vf v) { return vabsq_f32(v); }
VF_TAILS_VIA_COPY(f16)
VF_TAILS_VIA_COPY(bf16)
#endif
