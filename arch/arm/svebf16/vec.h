/* SVE with BF16 and I8MM (HWCAP2_SVEBF16 and HWCAP2_SVEI8MM: Neoverse V1,
 * Graviton 3) at one vector length, VECATTN_SVE_BITS (256 or 512; 128-bit
 * SVE gives way to neonbf16, the same width): the sve vector layer plus
 * BFDOT, two bf16 products accumulated in f32 per 32-bit lane. */
#ifndef VECATTN_VEC_SVEBF16_H
#define VECATTN_VEC_SVEBF16_H
#include <string.h>

#include "arm/sve/vec.h"

#undef VEC_ISA
#undef VEC_ISA_ENUM
#define VEC_ISA VEC_SVE_CAT(svebf16_, VECATTN_SVE_BITS)
#define VEC_ISA_ENUM VECATTN_ISA_SVEBF16
#define VF_HAVE_DOT2 1

/* acc + a.lo * b.lo + a.hi * b.hi in every 32-bit lane (a, b: bf16 pairs). */
static inline vf vf_dot2(vf acc, vf a, vf b) {
  return svbfdot_f32(acc, svreinterpret_bf16_f32(a), svreinterpret_bf16_f32(b));
}
static inline vf vf_set1_bits(uint32_t u) { return svreinterpret_f32_u32(svdup_n_u32(u)); }
/* Lane j of x0 and of x1 rounded to bf16 and paired into 32 bits (x0 low). */
static inline svuint32_t vf_bf16_pairs(vf x0, vf x1) {
  return svorr_u32_x(vf_all(), vf_bf16_bits(x0), svlsl_n_u32_x(vf_all(), vf_bf16_bits(x1), 16));
}
static inline void vf_store_bf16_pairs(uint32_t *dst, vf x0, vf x1) { svst1_u32(vf_all(), dst, vf_bf16_pairs(x0, x1)); }
static inline void vf_store_bf16_pairs_n(uint32_t *dst, vf x0, vf x1, int n) {
  svst1_u32(vf_first(n), dst, vf_bf16_pairs(x0, x1));
}
#endif
