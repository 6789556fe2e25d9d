/* Scalar "vector" layer: one lane, libm exp. The reference every path is tested against. */
#ifndef VECATTN_VEC_SCALAR_H
#define VECATTN_VEC_SCALAR_H
#include <math.h>
#include <stdint.h>
#include "generic/dtype_scalar.h"

#define VEC_ISA scalar
#define VEC_ISA_ENUM VECATTN_ISA_SCALAR
#define VF_LANES 1
#define VF_MR 4 /* gemm register block: rows x vectors */
#define VF_NR 4

typedef float vf;
static inline vf vf_zero(void) { return 0.0f; }
static inline vf vf_set1(float x) { return x; }
static inline vf vf_load(const float *p) { return dt_ld_f32(p); }
static inline void vf_store(float *p, vf v) { dt_st_f32(p, v); }
static inline vf vf_load_n(const float *p, int n) { (void)n; return dt_ld_f32(p); }
static inline void vf_store_n(float *p, vf v, int n) { (void)n; dt_st_f32(p, v); }
static inline vf vf_fma(vf a, vf b, vf c) { return a * b + c; }
static inline vf vf_mul(vf a, vf b) { return a * b; }
static inline vf vf_add(vf a, vf b) { return a + b; }
static inline vf vf_sub(vf a, vf b) { return a - b; }
static inline vf vf_max(vf a, vf b) { return a > b ? a : b; }
static inline float vf_hmax(vf v) { return v; }
static inline float vf_hsum(vf v) { return v; }
static inline vf vf_exp(vf v) { return expf(v); }
static inline vf vf_tanh(vf v) { return tanhf(v); }

/* Element types: the reference conversions of generic/dtype_scalar.h. */
static inline vf vf_load_f16(const uint16_t *p) { return dt_f16_to_f32(dt_ld_u16(p)); }
static inline vf vf_load_n_f16(const uint16_t *p, int n) { (void)n; return dt_f16_to_f32(dt_ld_u16(p)); }
static inline vf vf_load_bf16(const uint16_t *p) { return dt_bf16_to_f32(dt_ld_u16(p)); }
static inline vf vf_load_n_bf16(const uint16_t *p, int n) { (void)n; return dt_bf16_to_f32(dt_ld_u16(p)); }
static inline vf vf_load_i8(const int8_t *p) { return (float)*p; }
static inline float vf_f16_1(uint16_t h) { return dt_f16_to_f32(h); }
static inline void vf_store_f16(uint16_t *p, vf v) { dt_st_u16(p, dt_f32_to_f16(v)); }
static inline void vf_store_n_f16(uint16_t *p, vf v, int n) { (void)n; dt_st_u16(p, dt_f32_to_f16(v)); }
static inline void vf_store_bf16(uint16_t *p, vf v) { dt_st_u16(p, dt_f32_to_bf16(v)); }
static inline void vf_store_n_bf16(uint16_t *p, vf v, int n) { (void)n; dt_st_u16(p, dt_f32_to_bf16(v)); }
/* Rounded to nearest even (the default rounding mode), as the vector paths do;
 * NaN gives 0 (the vector paths' result differs: q8_0 of non-finite data is unspecified). */
static inline void vf_store_i8(int8_t *p, vf v) {
  const float r = nearbyintf(v);
  *p = (int8_t)(r >= 127.0f ? 127 : r <= -127.0f ? -127 : r == r ? (int)r : 0);
}
static inline vf vf_abs(vf v) { return fabsf(v); }
#endif
