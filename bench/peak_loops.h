/* The per-ISA peak loops. Each lives in peak_<isa>.c, compiled with only that
 * ISA's flags, and may only be called once the CPU is known to support it.
 * Each runs `iters` rounds of independent multiply-adds (acc = acc*mul + add;
 * the bf16 ones acc += mul*add twice a lane, as their products do),
 * stores a value derived from them in *sink and returns the flops it did. */
#ifndef VB_PEAK_LOOPS_H
#define VB_PEAK_LOOPS_H
#include <stdint.h>

/* The loops' twelve independent chains: STEP(0) .. STEP(11), one statement
 * each, written out by the preprocessor so every chain keeps its register. */
#define VB_CHAINS_12(STEP) \
  STEP(0) STEP(1) STEP(2) STEP(3) STEP(4) STEP(5) STEP(6) STEP(7) STEP(8) STEP(9) STEP(10) STEP(11)

uint64_t vb_peak_loop_scalar(uint64_t iters, float mul, float add, float *sink);
uint64_t vb_peak_loop_sse2(uint64_t iters, float mul, float add, float *sink);
uint64_t vb_peak_loop_avx2(uint64_t iters, float mul, float add, float *sink);
uint64_t vb_peak_loop_avx512(uint64_t iters, float mul, float add, float *sink);
uint64_t vb_peak_loop_neon(uint64_t iters, float mul, float add, float *sink);
uint64_t vb_peak_loop_sve(uint64_t iters, float mul, float add, float *sink);
uint64_t vb_peak_loop_neon32(uint64_t iters, float mul, float add, float *sink);
/* bf16 products: two multiply-adds per 32-bit lane an instruction. */
uint64_t vb_peak_loop_avx512bf16(uint64_t iters, float mul, float add, float *sink);
uint64_t vb_peak_loop_neonbf16(uint64_t iters, float mul, float add, float *sink);
uint64_t vb_peak_loop_svebf16(uint64_t iters, float mul, float add, float *sink);

#endif
