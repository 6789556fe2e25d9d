/* AArch64 NEON with the dot product (ARMv8.2 asimddp, HWCAP_ASIMDDP: Cortex-A55/
 * A76/A78, Neoverse N1, Raspberry Pi 5, Graviton 2): the neon vector layer plus
 * SDOT, which adds four int8 x int8 products into each 32-bit lane (16 products
 * an instruction). */
#ifndef VECATTN_VEC_NEONDOT_H
#define VECATTN_VEC_NEONDOT_H
#include "arm/neon/vec.h"

#undef VEC_ISA
#undef VEC_ISA_ENUM
#define VEC_ISA neondot
#define VEC_ISA_ENUM VECATTN_ISA_NEONDOT
#define VF_HAVE_I8DOT 1

typedef int8x16_t vi8;
typedef int32x4_t vi32;
static inline vi8 vi8_load(const int8_t *p) { return vld1q_s8(p); }
static inline vi32 vi32_zero(void) { return vdupq_n_s32(0); }
/* Lane i of acc + the sum of a[4i + j] * b[4i + j], j < 4. */
static inline vi32 vi32_dot(vi32 acc, vi8 a, vi8 b) { return vdotq_s32(acc, a, b); }
static inline vf vf_from_i32(vi32 v) { return vcvtq_f32_s32(v); }
#endif
