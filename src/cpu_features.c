/* CPUID + XGETBV on x86, AT_HWCAP on aarch64. A feature counts only when the OS
 * also saves its register state, or the first instruction using it would fault. */
#include "cpu_features.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long read_xcr0(void) {
  unsigned eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return ((unsigned long long)edx << 32) | eax;
}

static unsigned detect_flags(void) {
  unsigned a, b, c, d, f = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
  if (d & (1u << 26)) f |= CPU_SSE2;
  const int osxsave = (c & (1u << 27)) != 0;
  if (c & (1u << 28)) f |= CPU_AVX;
  if (c & (1u << 12)) f |= CPU_FMA;
  if (c & (1u << 29)) f |= CPU_F16C;
  if (osxsave) {
    const unsigned long long xcr0 = read_xcr0();
    if ((xcr0 & 0x6) == 0x6) f |= CPU_OS_YMM;
    if ((xcr0 & 0xe6) == 0xe6) f |= CPU_OS_ZMM;
  }
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    if (b & (1u << 5)) f |= CPU_AVX2;
    if (b & (1u << 16)) f |= CPU_AVX512F;
    if (b & (1u << 17)) f |= CPU_AVX512DQ;
    if (b & (1u << 30)) f |= CPU_AVX512BW;
    if (b & (1u << 31)) f |= CPU_AVX512VL;
  }
  if (__get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 5))) f |= CPU_AVX512BF16;
  return f;
}
#elif defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>

static unsigned detect_flags(void) {
  return (getauxval(AT_HWCAP) & HWCAP_ASIMD) ? CPU_ASIMD : 0;
}
#else
static unsigned detect_flags(void) { return 0; }
#endif

void cpu_features_detect(cpu_features *out) {
  static const struct {
    unsigned bit;
    const char *name;
  } names[] = {
      {CPU_SSE2, "sse2"},         {CPU_AVX, "avx"},           {CPU_AVX2, "avx2"},
      {CPU_FMA, "fma"},           {CPU_AVX512F, "avx512f"},   {CPU_AVX512BW, "avx512bw"},
      {CPU_AVX512DQ, "avx512dq"}, {CPU_AVX512VL, "avx512vl"}, {CPU_OS_YMM, "os-ymm"},
      {CPU_OS_ZMM, "os-zmm"},     {CPU_ASIMD, "asimd"},       {CPU_F16C, "f16c"},
      {CPU_AVX512BF16, "avx512bf16"},
  };
  out->flags = detect_flags();
  out->names[0] = '\0';
  for (size_t i = 0; i < sizeof names / sizeof names[0]; ++i) {
    if (!(out->flags & names[i].bit)) continue;
    if (out->names[0]) strcat(out->names, " ");
    strcat(out->names, names[i].name);
  }
}
