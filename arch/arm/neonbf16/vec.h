/* AArch64 NEON with ARMv8.6's BF16 and I8MM (HWCAP2_BF16 and HWCAP2_I8MM:
 * Neoverse V1/V2/N2, Graviton 3/4, Cortex-A710/X2, Apple M2): the neondot
 * vector layer (every such core has the dot product, mandatory since ARMv8.4)
 * plus BFDOT, which multiplies pairs of bf16 and accumulates in f32 (8
 * products an instruction against 4 fused multiply-adds), and SMMLA, a 2 x 8
 * by 8 x 2 int8 product into 2 x 2 int32 (32 products against SDOT's 16).
 * ARMv8.6 makes BF16 and I8MM mandatory together and no core has one without
 * the other, so the path requires both. */
#ifndef VECATTN_VEC_NEONBF16_H
#define VECATTN_VEC_NEONBF16_H
#include "arm/neondot/vec.h"

#undef VEC_ISA
#undef VEC_ISA_ENUM
#define VEC_ISA neonbf16
#define VEC_ISA_ENUM VECATTN_ISA_NEONBF16
#define VF_HAVE_DOT2 1
#define VF_HAVE_I8MM 1

/* acc + a.lo * b.lo + a.hi * b.hi in every 32-bit lane (a, b: bf16 pairs). */
static inline vf vf_dot2(vf acc, vf a, vf b) {
  return vbfdotq_f32(acc, vreinterpretq_bf16_f32(a), vreinterpretq_bf16_f32(b));
}
static inline vf vf_set1_bits(uint32_t u) { return vreinterpretq_f32_u32(vdupq_n_u32(u)); }
/* Lane j of x0 and of x1 rounded to bf16 and paired into 32 bits (x0 low). */
static inline uint32x4_t vf_bf16_pairs(vf x0, vf x1) {
  return vorrq_u32(vmovl_u16(vf_bf16_bits(x0)), vshlq_n_u32(vmovl_u16(vf_bf16_bits(x1)), 16));
}
static inline void vf_store_bf16_pairs(uint32_t *dst, vf x0, vf x1) { vst1q_u32(dst, vf_bf16_pairs(x0, x1)); }
static inline void vf_store_bf16_pairs_n(uint32_t *dst, vf x0, vf x1, int n) {
  uint32_t t[4];
  vst1q_u32(t, vf_bf16_pairs(x0, x1));
  memcpy(dst, t, (size_t)n * sizeof *dst);
}

/* acc[2i + j] + sum_k a[8i + k] * b[8j + k], i, j < 2: row i of a times row j of b. */
static inline vi32 vi32_mmla(vi32 acc, vi8 a, vi8 b) { return vmmlaq_s32(acc, a, b); }
/* The low (zip1) or high (zip2) 8 bytes of a, then those of b. */
static inline vi8 vi8_zip1_64(vi8 a, vi8 b) {
  return vreinterpretq_s8_s64(vzip1q_s64(vreinterpretq_s64_s8(a), vreinterpretq_s64_s8(b)));
}
static inline vi8 vi8_zip2_64(vi8 a, vi8 b) {
  return vreinterpretq_s8_s64(vzip2q_s64(vreinterpretq_s64_s8(a), vreinterpretq_s64_s8(b)));
}
/* A q8_0 block's first 16 bytes (a vector). */
static inline vi8 vi8_load_q8mm(const int8_t *p) { return vi8_load(p); }
/* Four floats in each 128-bit segment: one vector here. */
static inline vf vf_load4_each(const float *p) { return vf_load(p); }
/* The even (uzp1) or odd (uzp2) 64-bit halves of a, then of b. */
static inline vf vf_uzp1_64(vf a, vf b) {
  return vreinterpretq_f32_u64(vuzp1q_u64(vreinterpretq_u64_f32(a), vreinterpretq_u64_f32(b)));
}
static inline vf vf_uzp2_64(vf a, vf b) {
  return vreinterpretq_f32_u64(vuzp2q_u64(vreinterpretq_u64_f32(a), vreinterpretq_u64_f32(b)));
}
#endif
