/* CPUID + XGETBV on x86, AT_HWCAP/AT_HWCAP2 (and the SVE vector length) on
 * aarch64, AT_HWCAP on 32-bit ARM. A feature counts only when the OS
 * also saves its register state, or the first instruction using it would fault. */
#include "cpu_features.h"

#include <stdio.h>
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
    if (c & (1u << 11)) f |= CPU_AVX512VNNI;
  }
  if (__get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 5))) f |= CPU_AVX512BF16;
  return f;
}
#elif defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#include <sys/prctl.h>

/* Older kernel headers lack the newer bits; the values are the kernel ABI. */
#ifndef HWCAP_ASIMDHP
#define HWCAP_ASIMDHP (1 << 10)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#ifndef HWCAP_SVE
#define HWCAP_SVE (1 << 22)
#endif
#ifndef HWCAP2_SVE2
#define HWCAP2_SVE2 (1 << 1)
#endif
#ifndef HWCAP2_SVEI8MM
#define HWCAP2_SVEI8MM (1 << 9)
#endif
#ifndef HWCAP2_SVEBF16
#define HWCAP2_SVEBF16 (1 << 12)
#endif
#ifndef HWCAP2_I8MM
#define HWCAP2_I8MM (1 << 13)
#endif
#ifndef HWCAP2_BF16
#define HWCAP2_BF16 (1 << 14)
#endif
#ifndef PR_SVE_GET_VL
#define PR_SVE_GET_VL 51
#endif
#ifndef PR_SVE_VL_LEN_MASK
#define PR_SVE_VL_LEN_MASK 0xffff
#endif

static unsigned detect_flags(void) {
  const unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
  unsigned f = 0;
  if (hw & HWCAP_ASIMD) f |= CPU_ASIMD;
  if (hw & HWCAP_ASIMDHP) f |= CPU_ASIMDHP;
  if (hw & HWCAP_ASIMDDP) f |= CPU_ASIMDDP;
  if (hw & HWCAP_SVE) f |= CPU_SVE;
  if (hw2 & HWCAP2_SVE2) f |= CPU_SVE2;
  if (hw2 & HWCAP2_I8MM) f |= CPU_I8MM;
  if (hw2 & HWCAP2_BF16) f |= CPU_BF16;
  if (hw2 & HWCAP2_SVEI8MM) f |= CPU_SVEI8MM;
  if (hw2 & HWCAP2_SVEBF16) f |= CPU_SVEBF16;
  return f;
}

/* The vector length in bits, as the kernel set it for this thread (threads
 * inherit it); read without SVE instructions so this file needs no SVE flags. */
static int detect_sve_bits(unsigned flags) {
  if (!(flags & CPU_SVE)) return 0;
  const int vl = prctl(PR_SVE_GET_VL, 0, 0, 0, 0);
  return vl < 0 ? 0 : (vl & PR_SVE_VL_LEN_MASK) * 8;
}
#elif defined(__arm__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>

static unsigned detect_flags(void) {
  const unsigned long hw = getauxval(AT_HWCAP);
  return ((hw & HWCAP_NEON) ? CPU_NEON32 : 0) | ((hw & HWCAP_VFPv4) ? CPU_VFPV4 : 0);
}
#else
static unsigned detect_flags(void) { return 0; }
#endif

#if !(defined(__aarch64__) && defined(__linux__))
static int detect_sve_bits(unsigned flags) {
  (void)flags;
  return 0;
}
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
      {CPU_AVX512BF16, "avx512bf16"}, {CPU_ASIMDHP, "asimdhp"}, {CPU_ASIMDDP, "asimddp"},
      {CPU_I8MM, "i8mm"},         {CPU_BF16, "bf16"},         {CPU_SVE, "sve"},
      {CPU_SVE2, "sve2"},         {CPU_SVEBF16, "svebf16"},   {CPU_SVEI8MM, "svei8mm"},
      {CPU_NEON32, "neon"},       {CPU_VFPV4, "vfpv4"},       {CPU_AVX512VNNI, "avx512vnni"},
  };
  out->flags = detect_flags();
  out->sve_bits = detect_sve_bits(out->flags);
  out->names[0] = '\0';
  for (size_t i = 0; i < sizeof names / sizeof names[0]; ++i) {
    if (!(out->flags & names[i].bit)) continue;
    if (out->names[0]) strcat(out->names, " ");
    strcat(out->names, names[i].name);
  }
  if (out->sve_bits) {
    const size_t len = strlen(out->names);
    snprintf(out->names + len, sizeof out->names - len, " sve-vl%d", out->sve_bits);
  }
}
