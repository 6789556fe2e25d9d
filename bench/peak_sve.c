/* SVE peak: 12 independent svmla chains at the CPU's own vector length (this
 * loop is vector-length agnostic; 32 z registers). Built only on aarch64. */
#include "peak_loops.h"

#if defined(__aarch64__) && defined(__ARM_FEATURE_SVE)
#include <arm_sve.h>

uint64_t vb_peak_loop_sve(uint64_t iters, float mul, float add, float *sink) {
  const svbool_t pg = svptrue_b32();
  const svfloat32_t a = svdup_n_f32(mul), b = svdup_n_f32(add);
  /* sizeless SVE types cannot form an array: twelve named chains */
  svfloat32_t c0 = svdup_n_f32(1.0f), c1 = svdup_n_f32(1.1f), c2 = svdup_n_f32(1.2f), c3 = svdup_n_f32(1.3f);
  svfloat32_t c4 = svdup_n_f32(1.4f), c5 = svdup_n_f32(1.5f), c6 = svdup_n_f32(1.6f), c7 = svdup_n_f32(1.7f);
  svfloat32_t c8 = svdup_n_f32(1.8f), c9 = svdup_n_f32(1.9f), c10 = svdup_n_f32(2.0f), c11 = svdup_n_f32(2.1f);
#define STEP(i) c##i = svmad_f32_x(pg, c##i, a, b);
  for (uint64_t i = 0; i < iters; i++) {
    /* svmad_f32_x(pg, x, y, acc) = x * y + acc */
    VB_CHAINS_12(STEP)
  }
#undef STEP
  svfloat32_t t = svadd_f32_x(pg, svadd_f32_x(pg, svadd_f32_x(pg, c0, c1), svadd_f32_x(pg, c2, c3)),
                              svadd_f32_x(pg, svadd_f32_x(pg, c4, c5), svadd_f32_x(pg, c6, c7)));
  t = svadd_f32_x(pg, t, svadd_f32_x(pg, svadd_f32_x(pg, c8, c9), svadd_f32_x(pg, c10, c11)));
  *sink = svaddv_f32(pg, t);
  return iters * 12 * svcntw() * 2;
}
#else
typedef int vb_peak_sve_absent; /* ISO C wants a non-empty file */
#endif
