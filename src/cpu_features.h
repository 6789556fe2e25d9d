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
  CPU_ASIMDHP = 1u << 11, /* ARMv8.2 FP16 arithmetic */
  CPU_ASIMDDP = 1u << 12, /* ARMv8.2 SDOT/UDOT */
  CPU_I8MM = 1u << 13,    /* ARMv8.6 int8 matrix multiply */
  CPU_BF16 = 1u << 14,    /* ARMv8.6 BFDOT/BFMMLA */
  CPU_SVE = 1u << 15,
  CPU_SVE2 = 1u << 16,
  CPU_NEON32 = 1u << 17, /* 32-bit ARM NEON */
  CPU_VFPV4 = 1u << 18,  /* 32-bit ARM fused multiply-add */
  CPU_F16C = 1u << 20,
  CPU_AVX512BF16 = 1u << 21,
  CPU_SVEBF16 = 1u << 22, /* BFDOT/BFMMLA on SVE vectors */
  CPU_SVEI8MM = 1u << 23, /* SMMLA on SVE vectors */
  CPU_AVX512VNNI = 1u << 24, /* VPDPBUSD: u8 x s8 products into int32 */
};

typedef struct {
  unsigned flags;
  int sve_bits;    /* SVE vector length of this thread, 0 without SVE */
  char names[160]; /* space-separated, for vecattn_cpu_features() */
} cpu_features;

void cpu_features_detect(cpu_features *out);

#endif
