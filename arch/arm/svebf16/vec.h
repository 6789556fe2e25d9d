/* SVE with BF16 and I8MM (HWCAP2_SVEBF16 and HWCAP2_SVEI8MM: Neoverse V1,
 * Graviton 3) at one vector length, VECATTN_SVE_BITS (256 or 512; 128-bit
 * SVE gives way to neonbf16, the same width): the sve vector layer plus
 * BFDOT, two bf16 products accumulated in f32 per 32-bit lane, and SMMLA,
 * a 2 x 8 by 8 x 2 int8 product into 2 x 2 int32 per 128-bit segment. */
#ifndef VECATTN_VEC_SVEBF16_H
#define VECATTN_VEC_SVEBF16_H
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

/* SMMLA (generic/gemm_q8mm.h): in each 128-bit segment,
 * acc[2i + j] + sum_k a[8i + k] * b[8j + k], i, j < 2. */
#define VF_HAVE_I8MM 1
static inline vi32 vi32_mmla(vi32 acc, vi8 a, vi8 b) { return svmmla_s32(acc, a, b); }
/* The 64-bit halves of the low (zip1) or high (zip2) halves of a and b, interleaved. */
static inline vi8 vi8_zip1_64(vi8 a, vi8 b) {
  return svreinterpret_s8_s64(svzip1_s64(svreinterpret_s64_s8(a), svreinterpret_s64_s8(b)));
}
static inline vi8 vi8_zip2_64(vi8 a, vi8 b) {
  return svreinterpret_s8_s64(svzip2_s64(svreinterpret_s64_s8(a), svreinterpret_s64_s8(b)));
}
/* As many of a q8_0 block's 32 bytes as a vector holds (512 bits: all 32,
 * zeros after; a full load would read the next block or past the row). */
static inline vi8 vi8_load_q8mm(const int8_t *p) { return svld1_s8(svwhilelt_b8_s32(0, 32), p); }
/* Four floats replicated into every 128-bit segment (LD1RQW). */
static inline vf vf_load4_each(const float *p) { return svld1rq_f32(vf_all(), p); }
/* The even (uzp1) or odd (uzp2) 64-bit elements of a, then of b. */
static inline vf vf_uzp1_64(vf a, vf b) {
  return svreinterpret_f32_u64(svuzp1_u64(svreinterpret_u64_f32(a), svreinterpret_u64_f32(b)));
}
static inline vf vf_uzp2_64(vf a, vf b) {
  return svreinterpret_f32_u64(svuzp2_u64(svreinterpret_u64_f32(a), svreinterpret_u64_f32(b)));
}
#endif
