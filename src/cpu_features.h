/* What the CPU and the OS let us run, read once by the dispatcher. */
#ifndef VECATTN_CPU_FEATURES_H
#define VECATTN_CPU_FEATURES_H

enum {
  CPU_SSE2 = 1u << 0,
  CPU_AVX = 1u << 1,
  CPU_AVX2 = 1u << 2,
  CPU_FMA = 1u << 3,
  CPU_AVX512F = 1u << 4,
  CPU_AVX512BW = 1u << 5,
  CPU_AVX512DQ = 1u << 6,
  CPU_AVX512VL = 1u << 7,
  CPU_OS_YMM = 1u << 8, /* XCR0 has SSE+AVX state */
  CPU_OS_ZMM = 1u << 9, /* XCR0 has opmask+ZMM state too */
  CPU_ASIMD = 1u << 10,
  CPU_F16C = 1u << 20,
  CPU_AVX512BF16 = 1u << 21,
};

typedef struct {
  unsigned flags;
  char names[160]; /* space-separated, for vecattn_cpu_features() */
} cpu_features;

void cpu_features_detect(cpu_features *out);

#endif
