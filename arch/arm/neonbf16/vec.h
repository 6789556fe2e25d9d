/* AArch64 NEON with the BF16 extension (ARMv8.6, HWCAP2_BF16: Neoverse V1/N2,
 * Graviton 3, Apple M2): the neondot vector layer (every such core has the
 * dot product, mandatory since ARMv8.4) plus BFDOT, which multiplies pairs of
 * bf16 and accumulates in f32 (8 products an instruction against 4 fused
 * multiply-adds). */
#ifndef VECATTN_VEC_NEONBF16_H
#define VECATTN_VEC_NEONBF16_H
#include "arm/neondot/vec.h"

#undef VEC_ISA
#undef VEC_ISA_ENUM
#define VEC_ISA neonbf16
#define VEC_ISA_ENUM VECATTN_ISA_NEONBF16
#define VF_HAVE_DOT2 1

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
#endif
