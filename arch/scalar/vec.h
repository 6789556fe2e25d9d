/* Scalar "vector" layer: one lane, libm exp. The reference every path is tested against. */
#ifndef VECATTN_VEC_SCALAR_H
#define VECATTN_VEC_SCALAR_H
#include <math.h>

#define VEC_ISA scalar
#define VEC_ISA_ENUM VECATTN_ISA_SCALAR
#define VF_LANES 1
#define VF_MR 4 /* gemm register block: rows x vectors */
#define VF_NR 4

typedef float vf;
static inline vf vf_zero(void) { return 0.0f; }
static inline vf vf_set1(float x) { return x; }
static inline vf vf_load(const float *p) { return *p; }
static inline void vf_store(float *p, vf v) { *p = v; }
static inline vf vf_load_n(const float *p, int n) { (void)n; return *p; }
static inline void vf_store_n(float *p, vf v, int n) { (void)n; *p = v; }
static inline vf vf_fma(vf a, vf b, vf c) { return a * b + c; }
static inline vf vf_mul(vf a, vf b) { return a * b; }
static inline vf vf_add(vf a, vf b) { return a + b; }
static inline vf vf_sub(vf a, vf b) { return a - b; }
static inline vf vf_max(vf a, vf b) { return a > b ? a : b; }
static inline float vf_hmax(vf v) { return v; }
static inline float vf_hsum(vf v) { return v; }
static inline vf vf_exp(vf v) { return expf(v); }
static inline vf vf_tanh(vf v) { return tanhf(v); }
#endif
