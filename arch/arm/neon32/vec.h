/* 32-bit ARM (armhf) NEON vector layer: 4 lanes, built with -mfpu=neon.
 * ARMv7 NEON has no across-vector adds or max (vaddvq/vmaxvq), no vector
 * divide, and fused multiply-add only with VFPv4, which not every NEON CPU
 * has (Cortex-A8/A9 lack it): vf_fma is VMLA, a multiply then an add, so
 * one build runs on every NEON CPU. SLEEF's expf4_u10neon is its NEON32 exp. */
#ifndef VECATTN_VEC_NEON32_H
#define VECATTN_VEC_NEON32_H
#include <arm_neon.h>
#include <string.h>
#include <sleef.h>

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
#endif
