/* 32-bit ARM (armhf) NEON vector layer: 4 lanes, built with -mfpu=neon.
 * ARMv7 NEON has no across-vector adds or max (vaddvq/vmaxvq), no vector
 * divide, and fused multiply-add only with VFPv4, which not every NEON CPU
 * has (Cortex-A8/A9 lack it): vf_fma is VMLA, a multiply then an add, so
 * one build runs on every NEON CPU. SLEEF's expf4_u10neon is its NEON32 exp. */
#ifndef VECATTN_VEC_NEON32_H
#define VECATTN_VEC_NEON32_H
#include <arm_neon.h>
#include "arm/bf16_round.h"
#include <stdint.h>
#include <string.h>
#include <sleef.h>

#include "generic/dtype_scalar.h"

#define VEC_ISA neon32
#define VEC_ISA_ENUM VECATTN_ISA_NEON32
#define VF_LANES 4
#define VF_MR 4
#define VF_NR 3 /* 12 accumulators + 3 B vectors + 1 broadcast = 16 q registers */
#define VF_NT_MR 4
#define VF_NT_NC 2

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
static inline vf vf_fma(vf a, vf b, vf c) { return vmlaq_f32(c, a, b); }
static inline vf vf_mul(vf a, vf b) { return vmulq_f32(a, b); }
static inline vf vf_add(vf a, vf b) { return vaddq_f32(a, b); }
static inline vf vf_sub(vf a, vf b) { return vsubq_f32(a, b); }
static inline vf vf_max(vf a, vf b) { return vmaxq_f32(a, b); }
/* Pairwise over the two halves, then across the last pair. */
static inline float vf_hmax(vf v) {
  const float32x2_t m = vpmax_f32(vget_low_f32(v), vget_high_f32(v));
  return vget_lane_f32(vpmax_f32(m, m), 0);
}
static inline float vf_hsum(vf v) {
  const float32x2_t s = vpadd_f32(vget_low_f32(v), vget_high_f32(v));
  return vget_lane_f32(vpadd_f32(s, s), 0);
}
static inline vf vf_exp(vf v) { return Sleef_expf4_u10neon(v); }
static inline vf vf_tanh(vf v) { return Sleef_tanhf4_u10neon(v); }
/* Lane i <-> lane i ^ s (s = 1 or 2), and lanes with bit s set taken from b. */
static inline vf vf_butterfly(vf v, int s) { return s == 2 ? vextq_f32(v, v, 2) : vrev64q_f32(v); }
static inline vf vf_blend_bit(vf a, vf b, int s) {
  static const uint32_t bit1[4] = {0, ~0u, 0, ~0u}, bit2[4] = {0, 0, ~0u, ~0u};
  return vbslq_f32(vld1q_u32(s == 2 ? bit2 : bit1), b, a);
}

/* Element types. ARMv7 NEON converts f16 only with the optional half-precision
 * extension, so f16 goes lane by lane through generic/dtype_scalar.h (VFP
 * arithmetic, which keeps subnormals); bf16 and int8 are plain NEON. */
static inline vf vf_load_n_f16(const uint16_t *p, int n) {
  float t[4] = {0, 0, 0, 0};
  for (int i = 0; i < n; ++i) t[i] = dt_f16_to_f32(dt_ld_u16(p + i));
  return vld1q_f32(t);
}
static inline vf vf_load_f16(const uint16_t *p) { return vf_load_n_f16(p, 4); }
static inline vf vf_load_bf16(const uint16_t *p) { return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16)); }
static inline vf vf_load_n_bf16(const uint16_t *p, int n) {
  uint16_t t[4] = {0, 0, 0, 0};
  memcpy(t, p, (size_t)n * sizeof *p);
  return vf_load_bf16(t);
}
static inline vf vf_load_i8(const int8_t *p) {
  int32_t w;
  memcpy(&w, p, sizeof w);
  const int16x8_t x = vmovl_s8(vreinterpret_s8_s32(vdup_n_s32(w)));
  return vcvtq_f32_s32(vmovl_s16(vget_low_s16(x)));
}
static inline float vf_f16_1(uint16_t h) { return dt_f16_to_f32(h); }
static inline void vf_store_n_f16(uint16_t *p, vf v, int n) {
  float t[4];
  vst1q_f32(t, v);
  for (int i = 0; i < n; ++i) dt_st_u16(p + i, dt_f32_to_f16(t[i]));
}
static inline void vf_store_f16(uint16_t *p, vf v) { vf_store_n_f16(p, v, 4); }
static inline void vf_store_bf16(uint16_t *p, vf v) { vst1_u16(p, vf_bf16_bits(v)); }
static inline void vf_store_n_bf16(uint16_t *p, vf v, int n) {
  uint16_t t[4];
  vf_store_bf16(t, v);
  memcpy(p, t, (size_t)n * sizeof *p);
}
/* Lanes in [-127, 127] rounded to nearest even (ARMv7 has no vcvtn: adding and
 * subtracting 1.5 * 2^23 rounds in the float unit), stored as int8. */
static inline void vf_store_i8(int8_t *p, vf v) {
  const vf magic = vdupq_n_f32(12582912.0f);
  const int32x4_t i = vcvtq_s32_f32(vsubq_f32(vaddq_f32(v, magic), magic));
  const int16x4_t w = vmovn_s32(i);
  const int32_t b = vget_lane_s32(vreinterpret_s32_s8(vmovn_s16(vcombine_s16(w, w))), 0);
  memcpy(p, &b, sizeof b);
}
static inline vf vf_abs(vf v) { return vabsq_f32(v); }
#endif
