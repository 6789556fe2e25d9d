/* SVE vector layer for one vector length, VECATTN_SVE_BITS (128, 256 or 512),
 * set by meson together with -msve-vector-bits: the generic bodies keep
 * vectors in arrays, which SVE's sizeless types forbid, so vf is the
 * fixed-size form of svfloat32_t and each length is its own kernel table
 * (vecattn_kernels_sve<bits>), picked by the dispatcher from the CPU's vector
 * length. SLEEF's SVE exp/tanh take the sizeless type, to which vf converts. */
#ifndef VECATTN_VEC_SVE_H
#define VECATTN_VEC_SVE_H
#include <arm_sve.h>
#include <stdint.h>
#include <sleef.h>

#include "generic/dtype_scalar.h"

#if !defined(VECATTN_SVE_BITS) || __ARM_FEATURE_SVE_BITS != VECATTN_SVE_BITS
#error "build with -DVECATTN_SVE_BITS=N -msve-vector-bits=N"
#endif

#define VEC_SVE_CAT_(a, b) a##b
#define VEC_SVE_CAT(a, b) VEC_SVE_CAT_(a, b)
#define VEC_ISA VEC_SVE_CAT(sve, VECATTN_SVE_BITS)
#define VEC_ISA_ENUM VECATTN_ISA_SVE
#define VF_LANES (VECATTN_SVE_BITS / 32)
#define VF_MR 6
#define VF_NR 4 /* 24 accumulators + 4 B vectors + 1 broadcast of 32 z registers */
#define VF_NT_MR 4
#define VF_NT_NC 4

typedef svfloat32_t vf __attribute__((arm_sve_vector_bits(VECATTN_SVE_BITS)));

static inline svbool_t vf_all(void) { return svptrue_b32(); }
static inline vf vf_zero(void) { return svdup_n_f32(0.0f); }
static inline vf vf_set1(float x) { return svdup_n_f32(x); }
static inline vf vf_load(const float *p) { return svld1_f32(vf_all(), p); }
static inline void vf_store(float *p, vf v) { svst1_f32(vf_all(), p, v); }
/* Predicated: lanes from n on are neither read (zero) nor written. */
static inline vf vf_load_n(const float *p, int n) { return svld1_f32(svwhilelt_b32_s32(0, n), p); }
static inline void vf_store_n(float *p, vf v, int n) { svst1_f32(svwhilelt_b32_s32(0, n), p, v); }
static inline vf vf_fma(vf a, vf b, vf c) { return svmla_f32_x(vf_all(), c, a, b); }
static inline vf vf_mul(vf a, vf b) { return svmul_f32_x(vf_all(), a, b); }
static inline vf vf_add(vf a, vf b) { return svadd_f32_x(vf_all(), a, b); }
static inline vf vf_sub(vf a, vf b) { return svsub_f32_x(vf_all(), a, b); }
static inline vf vf_max(vf a, vf b) { return svmax_f32_x(vf_all(), a, b); }
static inline float vf_hmax(vf v) { return svmaxv_f32(vf_all(), v); }
static inline float vf_hsum(vf v) { return svaddv_f32(vf_all(), v); }
static inline vf vf_exp(vf v) { return Sleef_expfx_u10sve(v); }
static inline vf vf_tanh(vf v) { return Sleef_tanhfx_u10sve(v); }
/* Lane i <-> lane i ^ s (s a power of two below VF_LANES): REVW swaps the words
 * of each doubleword (s = 1), EXT by half the vector swaps its halves; other
 * strides take a table lookup, which needs an index vector besides. */
static inline vf vf_butterfly(vf v, int s) {
  if (s == 1) return svreinterpret_f32_u64(svrevw_u64_x(svptrue_b64(), svreinterpret_u64_f32(v)));
  if (s == VF_LANES / 2) return svext_f32(v, v, VF_LANES / 2);
  return svtbl_f32(v, sveor_n_u32_x(vf_all(), svindex_u32(0, 1), (uint32_t)s));
}
/* TRN1 / TRN2 on words (s = 1) and doublewords (s = 2): see generic/lanes.h. */
#define VF_TRN_MAX 2
static inline vf vf_trn1(vf a, vf b, int s) {
  if (s == 1) return svtrn1_f32(a, b);
  return svreinterpret_f32_u64(svtrn1_u64(svreinterpret_u64_f32(a), svreinterpret_u64_f32(b)));
}
static inline vf vf_trn2(vf a, vf b, int s) {
  if (s == 1) return svtrn2_f32(a, b);
  return svreinterpret_f32_u64(svtrn2_u64(svreinterpret_u64_f32(a), svreinterpret_u64_f32(b)));
}
/* Lanes with bit s of their index set taken from b, the others from a. */
static inline vf vf_blend_bit(vf a, vf b, int s) {
  const svbool_t from_b = svcmpne_n_u32(vf_all(), svand_n_u32_x(vf_all(), svindex_u32(0, 1), (uint32_t)s), 0);
  return svsel_f32(from_b, b, a);
}

/* Element types: 16- and 8-bit elements load widened into 32-bit lanes and
 * store narrowed from them (ld1uh/ld1sb/st1h/st1b); f16 by FCVT (round to
 * nearest even under the default FPCR), bf16 by a shift. */
static inline svbool_t vf_first(int n) { return svwhilelt_b32_s32(0, n); }
static inline vf vf_f16_widen(svbool_t pg, const uint16_t *p) {
  return svcvt_f32_f16_x(pg, svreinterpret_f16_u32(svld1uh_u32(pg, p)));
}
static inline vf vf_load_f16(const uint16_t *p) { return vf_f16_widen(vf_all(), p); }
static inline vf vf_load_n_f16(const uint16_t *p, int n) {
  return svsel_f32(vf_first(n), vf_f16_widen(vf_first(n), p), vf_zero());
}
static inline vf vf_load_bf16(const uint16_t *p) {
  return svreinterpret_f32_u32(svlsl_n_u32_x(vf_all(), svld1uh_u32(vf_all(), p), 16));
}
static inline vf vf_load_n_bf16(const uint16_t *p, int n) {
  return svreinterpret_f32_u32(svlsl_n_u32_x(vf_all(), svld1uh_u32(vf_first(n), p), 16));
}
static inline vf vf_load_i8(const int8_t *p) { return svcvt_f32_s32_x(vf_all(), svld1sb_s32(vf_all(), p)); }
static inline float vf_f16_1(uint16_t h) { return dt_f16_to_f32(h); }
static inline svuint32_t vf_f16_bits(vf v) { return svreinterpret_u32_f16(svcvt_f16_f32_x(vf_all(), v)); }
static inline void vf_store_f16(uint16_t *p, vf v) { svst1h_u32(vf_all(), p, vf_f16_bits(v)); }
static inline void vf_store_n_f16(uint16_t *p, vf v, int n) { svst1h_u32(vf_first(n), p, vf_f16_bits(v)); }
/* Round to nearest even on the integer bits; NaN keeps its sign and top payload, made quiet. */
static inline svuint32_t vf_bf16_bits(vf v) {
  const svbool_t pg = vf_all();
  const svuint32_t hi = svlsr_n_u32_x(pg, svreinterpret_u32_f32(v), 16);
  const svuint32_t bias = svadd_n_u32_x(pg, svand_n_u32_x(pg, hi, 1), 0x7fff);
  const svuint32_t rounded = svlsr_n_u32_x(pg, svadd_u32_x(pg, svreinterpret_u32_f32(v), bias), 16);
  return svsel_u32(svcmpuo_f32(pg, v, v), svorr_n_u32_x(pg, hi, 0x40), rounded);
}
static inline void vf_store_bf16(uint16_t *p, vf v) { svst1h_u32(vf_all(), p, vf_bf16_bits(v)); }
static inline void vf_store_n_bf16(uint16_t *p, vf v, int n) { svst1h_u32(vf_first(n), p, vf_bf16_bits(v)); }
/* Lanes in [-127, 127] rounded to nearest even, stored as int8. */
static inline void vf_store_i8(int8_t *p, vf v) {
  svst1b_s32(vf_all(), p, svcvt_s32_f32_x(vf_all(), svrintn_f32_x(vf_all(), v)));
}
static inline vf vf_abs(vf v) { return svabs_f32_x(vf_all(), v); }

/* int8 products (generic/gemm_nt_q8.h): SDOT is base SVE, four int8 x int8
 * products into each 32-bit lane (VF_LANES * 4 an instruction). */
#define VF_HAVE_I8DOT 1
typedef svint8_t vi8 __attribute__((arm_sve_vector_bits(VECATTN_SVE_BITS)));
typedef svint32_t vi32 __attribute__((arm_sve_vector_bits(VECATTN_SVE_BITS)));
static inline vi8 vi8_load(const int8_t *p) { return svld1_s8(svptrue_b8(), p); }
static inline vi32 vi32_zero(void) { return svdup_n_s32(0); }
/* Lane i of acc + the sum of a[4i + j] * b[4i + j], j < 4. */
static inline vi32 vi32_dot(vi32 acc, vi8 a, vi8 b) { return svdot_s32(acc, a, b); }
static inline vf vf_from_i32(vi32 v) { return svcvt_f32_s32_x(vf_all(), v); }
#if VECATTN_SVE_BITS > 256
/* Vectors of two q8_0 blocks (64 int8): the first half's bytes from lo, the
 * second half's from hi (zeros when hi is NULL). Two loads and a select: a
 * q8_0 row's blocks are 34 bytes apart, their scales in between. */
static inline svbool_t vi8_first_half(void) { return svwhilelt_b8_s32(0, VECATTN_SVE_BITS / 16); }
static inline vi8 vi8_load_halves(const int8_t *lo, const int8_t *hi) {
  const svbool_t first = vi8_first_half();
  const svint8_t l = svld1_s8(first, lo);
  if (!hi) return l;
  return svsel_s8(first, l, svld1_s8(svnot_b_z(svptrue_b8(), first), hi - VECATTN_SVE_BITS / 16));
}
/* Lanes of the first half a, of the second b. */
static inline vf vf_set_halves(float a, float b) {
  return svsel_f32(svwhilelt_b32_s32(0, VF_LANES / 2), svdup_n_f32(a), svdup_n_f32(b));
}
#endif
#endif
