/* vecattn-info: what this build of vecattn can do on this machine.
 * Prints the library version, the CPU features the dispatcher saw, one row
 * per instruction-set path (compiled in / supported here / active) and the
 * OpenMP thread count. Exit status 0; 1 if the active path is not supported
 * (which would be a library bug). */
#include <stdio.h>
#include <string.h>
#include <omp.h>

#include "vecattn.h"

static const char *yes_no(int b) { return b ? "yes" : "no"; }

int main(int argc, char **argv) {
  if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
    printf("usage: %s\n"
           "Prints the vecattn version, the CPU features seen, which ISA paths are\n"
           "compiled in / supported / active, and the OpenMP thread count.\n"
           "Environment: VECATTN_ISA=<scalar|sse2|avx2|avx512|avx512bf16|neon|auto> forces a path;\n"
           "OMP_NUM_THREADS sets the default thread count.\n", argv[0]);
    return 0;
  }

  vecattn_isa active = vecattn_active_isa();

  printf("vecattn %s (header %d.%d.%d)\n", vecattn_version(), VECATTN_VERSION_MAJOR,
         VECATTN_VERSION_MINOR, VECATTN_VERSION_PATCH);
  printf("cpu features: %s\n", vecattn_cpu_features());
  printf("\n%-10s  %-8s  %-9s  %s\n", "isa", "compiled", "supported", "active");
  for (int i = VECATTN_ISA_AUTO + 1; i < VECATTN_ISA_COUNT; i++) {
    const vecattn_isa isa = (vecattn_isa)i;
    printf("%-10s  %-8s  %-9s  %s\n", vecattn_isa_name(isa), yes_no(vecattn_isa_compiled(isa)),
           yes_no(vecattn_isa_supported(isa)), isa == active ? "*" : "");
  }
  printf("\nbf16 products (opts.reduced_precision): %s\n",
         vecattn_isa_supported(VECATTN_ISA_AVX512BF16)
             ? (active == VECATTN_ISA_AVX512BF16 ? "available (avx512bf16 is active)"
                                                 : "available on avx512bf16, not active")
             : "not on this machine/build");
  printf("\nactive isa: %s\n", vecattn_isa_name(active));
  printf("openmp threads: %d (omp_get_max_threads; opts.num_threads = 0 uses this)\n",
         omp_get_max_threads());
  return vecattn_isa_supported(active) ? 0 : 1;
}
