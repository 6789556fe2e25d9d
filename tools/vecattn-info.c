/* vecattn-info: what this build of vecattn can do on this machine.
 * Prints the library version, the CPU features the dispatcher saw, one row
 * per instruction-set path (compiled in / supported here / active) and the
 * OpenMP thread count. Exit status 0; 1 if the active path is not supported
 * (which would be a library bug). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>

#include "vecattn.h"

/* What each path is built from and which CPU features it needs or uses. */
static const char *isa_uses(vecattn_isa isa) {
  switch (isa) {
    case VECATTN_ISA_SCALAR: return "plain C, no vector instructions";
    case VECATTN_ISA_SSE2: return "sse2, separate multiply and add";
    case VECATTN_ISA_AVX2: return "avx2 + fma + f16c";
    case VECATTN_ISA_AVX512: return "avx512f/bw/dq/vl + f16c, os-zmm";
    case VECATTN_ISA_NEON: return "asimd: fused multiply-add, f16 widened by fcvtl";
    case VECATTN_ISA_AVX512BF16:
      return "avx512 + avx512_bf16 + avx512_vnni (with reduced_precision: vdpbf16ps in prefill, vpdpbusd on q8_0 K)";
    case VECATTN_ISA_SVE: return "sve at the CPU's vector length (128/256/512-bit builds; sdot on q8_0 K in decode with reduced_precision)";
    case VECATTN_ISA_NEON32: return "32-bit neon: vmla (not fused), f16 lane by lane";
    case VECATTN_ISA_NEONBF16: return "neondot + bf16 + i8mm (with reduced_precision: smmla on q8_0 K and bfdot in prefill)";
    case VECATTN_ISA_NEONDOT: return "neon + asimddp (sdot on q8_0 K in decode with reduced_precision)";
    case VECATTN_ISA_SVEBF16: return "sve + svebf16 + svei8mm, 256/512-bit builds (with reduced_precision: smmla on q8_0 K and bfdot in prefill)";
    default: return "";
  }
}

static int has_token(const char *list, const char *tok) {
  const size_t n = strlen(tok);
  for (const char *p = list; (p = strstr(p, tok)) != NULL; p += n)
    if ((p == list || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' ')) return 1;
  return 0;
}

/* The ARMv8.2+ features the dispatcher reads, and what uses them today. */
static void print_arm_features(const char *features) {
  static const struct {
    const char *token, *what;
  } arm[] = {
      {"asimdhp", "FP16 arithmetic: not used (f16 sums round to 11 bits and overflow past 65504; f16 K/V widen by fcvtl)"},
      {"asimddp", "int8 dot product: the neondot path (SDOT, also in neonbf16; sve has its own) scores q8_0 K in decode with reduced_precision"},
      {"i8mm", "int8 matrix multiply: the neonbf16 path (SMMLA; it needs bf16 too) scores q8_0 K in prefill with reduced_precision (svebf16 has its own)"},
      {"bf16", "bf16 dot product: the neonbf16 path (BFDOT; it needs i8mm too) for calls with reduced_precision"},
      {"svebf16", "bf16 dot product on SVE vectors: the svebf16 path (BFDOT; it needs svei8mm too) for calls with reduced_precision"},
      {"svei8mm", "int8 matrix multiply on SVE vectors: the svebf16 path (SMMLA; it needs svebf16 too) scores q8_0 K in prefill with reduced_precision"},
  };
  printf("\narm feature  present  used by\n");
  for (size_t i = 0; i < sizeof arm / sizeof arm[0]; i++)
    printf("%-11s  %-7s  %s\n", arm[i].token, has_token(features, arm[i].token) ? "yes" : "no", arm[i].what);
  const char *vl = strstr(features, "sve-vl");
  if (vl)
    printf("sve vector length: %d bits (%s)\n", atoi(vl + 6),
           vecattn_isa_supported(VECATTN_ISA_SVE) ? "the sve path uses its build for it"
                                                  : "no sve build for this length: the next path (neonbf16, neondot or neon) is used");
  if (vl && has_token(features, "svebf16") && has_token(features, "svei8mm"))
    printf("svebf16 at %d bits: %s\n", atoi(vl + 6),
           vecattn_isa_supported(VECATTN_ISA_SVEBF16) ? "the svebf16 path uses its build for it"
                                                      : "no svebf16 build for this length (256 and 512 bits only)");
}

static const char *yes_no(int b) { return b ? "yes" : "no"; }

int main(int argc, char **argv) {
  if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
    printf("usage: %s\n"
           "Prints the vecattn version, the CPU features seen, which ISA paths are\n"
           "compiled in / supported / active, and the OpenMP thread count.\n"
           "Environment: VECATTN_ISA=<scalar|sse2|avx2|avx512|avx512bf16|neon|neondot|neonbf16|sve|svebf16|neon32|auto> forces a path;\n"
           "OMP_NUM_THREADS sets the default thread count.\n", argv[0]);
    return 0;
  }

  vecattn_isa active = vecattn_active_isa();

  printf("vecattn %s (header %d.%d.%d)\n", vecattn_version(), VECATTN_VERSION_MAJOR,
         VECATTN_VERSION_MINOR, VECATTN_VERSION_PATCH);
  printf("cpu features: %s\n", vecattn_cpu_features());
  printf("\n%-10s  %-8s  %-9s  %-6s  %s\n", "isa", "compiled", "supported", "active", "uses");
  for (int i = VECATTN_ISA_AUTO + 1; i < VECATTN_ISA_COUNT; i++) {
    const vecattn_isa isa = (vecattn_isa)i;
    printf("%-10s  %-8s  %-9s  %-6s  %s\n", vecattn_isa_name(isa), yes_no(vecattn_isa_compiled(isa)),
           yes_no(vecattn_isa_supported(isa)), isa == active ? "*" : "", isa_uses(isa));
  }
  /* The paths with bf16 products: each one its base path plus BF16 dot
   * products; the active one if it is one of them, else the first supported. */
  const vecattn_isa bf16_isas[] = {VECATTN_ISA_AVX512BF16, VECATTN_ISA_SVEBF16, VECATTN_ISA_NEONBF16};
  vecattn_isa bf16_isa = VECATTN_ISA_AUTO;
  for (size_t i = 0; i < sizeof bf16_isas / sizeof bf16_isas[0]; i++)
    if (vecattn_isa_supported(bf16_isas[i]) && (bf16_isa == VECATTN_ISA_AUTO || bf16_isas[i] == active))
      bf16_isa = bf16_isas[i];
  if (bf16_isa == VECATTN_ISA_AUTO)
    printf("\nbf16 products (opts.reduced_precision): not on this machine/build\n");
  else
    printf("\nbf16 products (opts.reduced_precision): available on %s%s\n", vecattn_isa_name(bf16_isa),
           active == bf16_isa ? " (active)" : ", not active");
  const vecattn_isa dot_isa = vecattn_isa_supported(VECATTN_ISA_AVX512BF16) ? VECATTN_ISA_AVX512BF16
                              : vecattn_isa_supported(VECATTN_ISA_SVEBF16)  ? VECATTN_ISA_SVEBF16
                              : vecattn_isa_supported(VECATTN_ISA_SVE)      ? VECATTN_ISA_SVE
                              : vecattn_isa_supported(VECATTN_ISA_NEONBF16) ? VECATTN_ISA_NEONBF16
                              : vecattn_isa_supported(VECATTN_ISA_NEONDOT) ? VECATTN_ISA_NEONDOT
                                                                           : VECATTN_ISA_AUTO;
  if (active == VECATTN_ISA_SVE || active == VECATTN_ISA_SVEBF16 || active == VECATTN_ISA_NEONBF16 ||
      active == VECATTN_ISA_NEONDOT || active == VECATTN_ISA_AVX512BF16)
    printf("int8 products on q8_0 K in decode (opts.reduced_precision): available (%s is active)\n",
           vecattn_isa_name(active));
  else if (dot_isa != VECATTN_ISA_AUTO)
    printf("int8 products on q8_0 K in decode (opts.reduced_precision): available on %s, not active\n",
           vecattn_isa_name(dot_isa));
  /* int8 matrix products (SMMLA): neonbf16 and svebf16, which require I8MM. */
  const vecattn_isa mm_isa = active == VECATTN_ISA_SVEBF16 || active == VECATTN_ISA_NEONBF16 ? active
                             : vecattn_isa_supported(VECATTN_ISA_SVEBF16)                   ? VECATTN_ISA_SVEBF16
                             : vecattn_isa_supported(VECATTN_ISA_NEONBF16)                  ? VECATTN_ISA_NEONBF16
                                                                                            : VECATTN_ISA_AUTO;
  if (mm_isa != VECATTN_ISA_AUTO)
    printf("int8 matrix products on q8_0 K in prefill (opts.reduced_precision): available on %s%s\n",
           vecattn_isa_name(mm_isa), active == mm_isa ? " (active)" : ", not active");
  /* x86: VPDPBUSD (AVX512_VNNI, required by avx512bf16), one row per lane. */
  if (vecattn_isa_supported(VECATTN_ISA_AVX512BF16))
    printf("int8 products on q8_0 K in prefill (opts.reduced_precision): available on avx512bf16%s\n",
           active == VECATTN_ISA_AVX512BF16 ? " (active)" : ", not active");
#if defined(__aarch64__)
  print_arm_features(vecattn_cpu_features());
#else
  (void)print_arm_features;
#endif
  printf("\nactive isa: %s\n", vecattn_isa_name(active));
  printf("openmp threads: %d (omp_get_max_threads; opts.num_threads = 0 uses this)\n",
         omp_get_max_threads());
  return vecattn_isa_supported(active) ? 0 : 1;
}
