/* Peak multiply-add throughput per ISA, one loop per thread, rates summed. */
#include <math.h>
#include <omp.h>

#include "bench.h"
#include "peak_loops.h"

typedef uint64_t (*peak_loop)(uint64_t, float, float, float *);

/* Only loops that meson built for this host exist (VB_HAVE_PEAK_<ISA>). */
static peak_loop loop_for(vecattn_isa isa) {
  switch (isa) {
#ifdef VB_HAVE_PEAK_SCALAR
    case VECATTN_ISA_SCALAR: return vb_peak_loop_scalar;
#endif
#ifdef VB_HAVE_PEAK_SSE2
    case VECATTN_ISA_SSE2: return vb_peak_loop_sse2;
#endif
#ifdef VB_HAVE_PEAK_AVX2
    case VECATTN_ISA_AVX2: return vb_peak_loop_avx2;
#endif
#ifdef VB_HAVE_PEAK_AVX512
    case VECATTN_ISA_AVX512: return vb_peak_loop_avx512;
#endif
#ifdef VB_HAVE_PEAK_NEON
    case VECATTN_ISA_NEON: return vb_peak_loop_neon;
#endif
#ifdef VB_HAVE_PEAK_SVE
    case VECATTN_ISA_SVE: return vb_peak_loop_sve;
#endif
#ifdef VB_HAVE_PEAK_NEON32
    case VECATTN_ISA_NEON32: return vb_peak_loop_neon32;
#endif
#ifdef VB_HAVE_PEAK_AVX512BF16
    case VECATTN_ISA_AVX512BF16: return vb_peak_loop_avx512bf16;
#endif
#ifdef VB_HAVE_PEAK_NEON
    case VECATTN_ISA_NEONDOT: return vb_peak_loop_neon; /* its GFLOP/s shapes run neon's FMAs */
#endif
#ifdef VB_HAVE_PEAK_NEONBF16
    case VECATTN_ISA_NEONBF16: return vb_peak_loop_neonbf16;
#endif
#ifdef VB_HAVE_PEAK_SVEBF16
    case VECATTN_ISA_SVEBF16: return vb_peak_loop_svebf16;
#endif
    default: return 0;
  }
}

/* The path whose FMA loop bounds f32 products on path isa: the bf16 and
 * dot-product paths run their base path's FMAs unless a call sets
 * reduced_precision (vecattn-bench-layer never does). */
vecattn_isa vb_fma_isa(vecattn_isa isa) {
  switch (isa) {
    case VECATTN_ISA_AVX512BF16: return VECATTN_ISA_AVX512;
    case VECATTN_ISA_NEONBF16:
    case VECATTN_ISA_NEONDOT: return VECATTN_ISA_NEON;
    case VECATTN_ISA_SVEBF16: return VECATTN_ISA_SVE;
    default: return isa;
  }
}

/* The library's support check guards every call: a loop built with
 * -mavx512f must never run on a CPU without it. */
int vb_peak_available(vecattn_isa isa) { return loop_for(isa) != 0 && vecattn_isa_supported(isa); }

volatile float vb_peak_sink;
static volatile float mul_one = 1.0f, add_tiny = 1e-8f; /* opaque to the optimizer */

double vb_peak_gflops(vecattn_isa isa, int threads, double seconds) {
  peak_loop fn = loop_for(isa);
  if (!fn || !vecattn_isa_supported(isa)) return NAN;
  const float mul = mul_one, add = add_tiny;
  const uint64_t chunk = 1 << 14;
  double total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
  {
    float sink = 0;
    /* Untimed warm-up: wide vector units power up and clocks settle. */
    double t0 = vb_now();
    while (vb_now() - t0 < 0.25 * seconds) fn(chunk, mul, add, &sink);
#pragma omp barrier
    /* Best of several windows: a window in which the thread was preempted
     * measures the scheduler, not the FMA units. */
    double best = 0;
    for (int w = 0; w < 5; w++) {
      uint64_t flops = 0;
      double el;
      t0 = vb_now();
      do {
        flops += fn(chunk, mul, add, &sink);
        el = vb_now() - t0;
      } while (el < seconds / 5);
      if ((double)flops / el > best) best = (double)flops / el;
    }
    total += best;
    vb_peak_sink = sink;
  }
  return total * 1e-9;
}
