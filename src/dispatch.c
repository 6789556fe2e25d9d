/* Runtime ISA choice: detected once (pthread_once), overridable by VECATTN_ISA at
 * first use and by vecattn_set_isa() at any time (an atomic pointer swap, so
 * concurrent calls see either the old or the new table, never a torn one). */
#include "dispatch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cpu_features.h"

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static cpu_features features;
static const struct vecattn_kernels *best_table;
static _Atomic(const struct vecattn_kernels *) active_table;

static const char *const isa_names[VECATTN_ISA_COUNT] = {
    "auto", "scalar", "sse2", "avx2", "avx512", "neon", "avx512bf16",
    "sve",
    "neon32", "neonbf16", "neondot", "svebf16",
};

/* SVE kernels are built per vector length (the generic bodies keep vectors in
 * arrays, which needs a fixed size): the one matching this CPU's, or NULL. */
static const struct vecattn_kernels *sve_table(int bits) {
  switch (bits) {
#ifdef VECATTN_HAVE_SVE128
    case 128: return &vecattn_kernels_sve128;
#endif
#ifdef VECATTN_HAVE_SVE256
    case 256: return &vecattn_kernels_sve256;
#endif
#ifdef VECATTN_HAVE_SVE512
    case 512: return &vecattn_kernels_sve512;
#endif
    default: (void)bits; return NULL;
  }
}

/* svebf16 likewise, at 256 and 512 bits (at 128 bits neonbf16 does the same). */
static const struct vecattn_kernels *svebf16_table(int bits) {
  switch (bits) {
#ifdef VECATTN_HAVE_SVEBF16_256
    case 256: return &vecattn_kernels_svebf16_256;
#endif
#ifdef VECATTN_HAVE_SVEBF16_512
    case 512: return &vecattn_kernels_svebf16_512;
#endif
    default: (void)bits; return NULL;
  }
}

static const struct vecattn_kernels *compiled_table(vecattn_isa isa) {
  switch (isa) {
    case VECATTN_ISA_SCALAR: return &vecattn_kernels_scalar;
#ifdef VECATTN_HAVE_SSE2
    case VECATTN_ISA_SSE2: return &vecattn_kernels_sse2;
#endif
#ifdef VECATTN_HAVE_AVX2
    case VECATTN_ISA_AVX2: return &vecattn_kernels_avx2;
#endif
#ifdef VECATTN_HAVE_AVX512
    case VECATTN_ISA_AVX512: return &vecattn_kernels_avx512;
#endif
#ifdef VECATTN_HAVE_NEON
    case VECATTN_ISA_NEON: return &vecattn_kernels_neon;
#endif
#ifdef VECATTN_HAVE_AVX512BF16
    case VECATTN_ISA_AVX512BF16: return &vecattn_kernels_avx512bf16;
#endif
    case VECATTN_ISA_SVE: return sve_table(features.sve_bits);
#ifdef VECATTN_HAVE_NEONBF16
    case VECATTN_ISA_NEONBF16: return &vecattn_kernels_neonbf16;
#endif
#ifdef VECATTN_HAVE_NEON32
    case VECATTN_ISA_NEON32: return &vecattn_kernels_neon32;
#endif
#ifdef VECATTN_HAVE_NEONDOT
    case VECATTN_ISA_NEONDOT: return &vecattn_kernels_neondot;
#endif
    case VECATTN_ISA_SVEBF16: return svebf16_table(features.sve_bits);
    default: return NULL;
  }
}

static int cpu_runs(vecattn_isa isa) {
  const unsigned f = features.flags;
  const unsigned avx2 = CPU_AVX | CPU_AVX2 | CPU_FMA | CPU_F16C | CPU_OS_YMM;
  const unsigned avx512 = avx2 | CPU_AVX512F | CPU_AVX512BW | CPU_AVX512DQ | CPU_AVX512VL | CPU_OS_ZMM;

  switch (isa) {
    case VECATTN_ISA_SCALAR: return 1;
    case VECATTN_ISA_SSE2: return (f & CPU_SSE2) != 0;
    case VECATTN_ISA_AVX2: return (f & avx2) == avx2;
    case VECATTN_ISA_AVX512: return (f & avx512) == avx512;
    case VECATTN_ISA_NEON: return (f & CPU_ASIMD) != 0;
    /* Every AVX512_BF16 CPU (Cooper Lake, Sapphire Rapids on, Zen 4 on) has
     * AVX512_VNNI too; the path uses both. */
    case VECATTN_ISA_AVX512BF16: {
      const unsigned bf16 = avx512 | CPU_AVX512BF16 | CPU_AVX512VNNI;
      return (f & bf16) == bf16;
    }
    case VECATTN_ISA_SVE: return (f & CPU_SVE) != 0;
    case VECATTN_ISA_NEON32: return (f & CPU_NEON32) != 0;
    /* neonbf16 extends neondot: BF16 cores all have the dot product (ARMv8.4+),
     * and I8MM, mandatory with BF16 from ARMv8.6 (no core has one alone). */
    case VECATTN_ISA_NEONBF16: {
      const unsigned need = CPU_ASIMD | CPU_ASIMDDP | CPU_BF16 | CPU_I8MM;
      return (f & need) == need;
    }
    case VECATTN_ISA_NEONDOT: return (f & (CPU_ASIMD | CPU_ASIMDDP)) == (CPU_ASIMD | CPU_ASIMDDP);
    /* SVE's BF16 and I8MM forms have their own HWCAP2 bits (A64FX has neither). */
    case VECATTN_ISA_SVEBF16: {
      const unsigned need = CPU_SVE | CPU_SVEBF16 | CPU_SVEI8MM;
      return (f & need) == need;
    }
    default: return 0;
  }
}

/* The path a warning falls back to, by its VECATTN_ISA name; a table built
 * for one SVE length adds which ("sve (sve512 kernels)"). */
static const char *fallback_name(char *buf, size_t size) {
  const char *isa = isa_names[best_table->isa];
  if (strcmp(isa, best_table->name) == 0) return isa;
  snprintf(buf, size, "%s (%s kernels)", isa, best_table->name);
  return buf;
}

/* One line naming what would have worked: every name (any letter case) for
 * an unknown one, the paths this machine runs for an unsupported one. */
static void warn_env(const char *env, int known) {
  char list[128] = "";
  for (int i = 0; i < VECATTN_ISA_COUNT; ++i) {
    if (!known || i == VECATTN_ISA_AUTO || (compiled_table((vecattn_isa)i) && cpu_runs((vecattn_isa)i))) {
      if (list[0]) strncat(list, ", ", sizeof list - strlen(list) - 1);
      strncat(list, isa_names[i], sizeof list - strlen(list) - 1);
    }
  }
  char fallback[64];
  if (known)
    fprintf(stderr, "vecattn: VECATTN_ISA=%s is not compiled in or not supported by this CPU/OS (this machine runs: %s); using %s\n",
            env, list, fallback_name(fallback, sizeof fallback));
  else
    fprintf(stderr, "vecattn: VECATTN_ISA=%s is unknown (valid, any letter case: %s); using %s\n", env, list,
            fallback_name(fallback, sizeof fallback));
}

static void dispatch_init(void) {
  cpu_features_detect(&features);
  static const vecattn_isa preference[] = {VECATTN_ISA_AVX512BF16, VECATTN_ISA_AVX512,   VECATTN_ISA_AVX2,
                                           VECATTN_ISA_SVEBF16,    VECATTN_ISA_SVE,      VECATTN_ISA_NEONBF16,
                                           VECATTN_ISA_NEONDOT,    VECATTN_ISA_NEON,     VECATTN_ISA_NEON32,
                                           VECATTN_ISA_SSE2,       VECATTN_ISA_SCALAR};
  /* 128-bit SVE (Neoverse V2/N2, Graviton 4) is no wider than NEON, and the
   * sve tables lack the BF16 and I8MM products neonbf16 has: prefer it there. */
  const int sve_adds_nothing =
      features.sve_bits == 128 && cpu_runs(VECATTN_ISA_NEONBF16) && compiled_table(VECATTN_ISA_NEONBF16);
  for (size_t i = 0; i < sizeof preference / sizeof preference[0] && !best_table; ++i)
    if (cpu_runs(preference[i]) && !(preference[i] == VECATTN_ISA_SVE && sve_adds_nothing))
      best_table = compiled_table(preference[i]);

  const struct vecattn_kernels *chosen = best_table;
  const char *env = getenv("VECATTN_ISA");
  if (env && *env) {
    vecattn_isa isa;
    const struct vecattn_kernels *t = NULL;
    const int known = vecattn_isa_from_name(env, &isa) == 0;
    if (known) t = isa == VECATTN_ISA_AUTO ? best_table : (cpu_runs(isa) ? compiled_table(isa) : NULL);
    if (t)
      chosen = t;
    else if (known && (isa == VECATTN_ISA_SVE || (isa == VECATTN_ISA_SVEBF16 && cpu_runs(isa))) && features.sve_bits) {
      char fallback[64];
      fprintf(stderr, "vecattn: VECATTN_ISA=%s is unsupported here (no kernel build for %d-bit SVE vectors); using %s\n",
              env, features.sve_bits, fallback_name(fallback, sizeof fallback));
    }
    else
      warn_env(env, known);
  }
  atomic_store(&active_table, chosen);
}

const struct vecattn_kernels *dispatch_active(void) {
  pthread_once(&init_once, dispatch_init);
  return atomic_load(&active_table);
}

const struct vecattn_kernels *dispatch_table(vecattn_isa isa) {
  pthread_once(&init_once, dispatch_init);
  if (isa == VECATTN_ISA_AUTO) return best_table;
  return cpu_runs(isa) ? compiled_table(isa) : NULL;
}

vecattn_isa vecattn_active_isa(void) { return dispatch_active()->isa; }

int vecattn_isa_compiled(vecattn_isa isa) {
#ifdef VECATTN_HAVE_SVE
  if (isa == VECATTN_ISA_SVE) return 1; /* some vector length is; the CPU's may not be */
#endif
#ifdef VECATTN_HAVE_SVEBF16
  if (isa == VECATTN_ISA_SVEBF16) return 1;
#endif
  if (isa == VECATTN_ISA_SVE || isa == VECATTN_ISA_SVEBF16) return 0;
  return isa == VECATTN_ISA_AUTO || compiled_table(isa) != NULL;
}

int vecattn_isa_supported(vecattn_isa isa) { return dispatch_table(isa) != NULL; }

vecattn_status vecattn_set_isa(vecattn_isa isa) {
  const struct vecattn_kernels *t = dispatch_table(isa);
  if (!t) return VECATTN_EUNSUPPORTED;
  atomic_store(&active_table, t);
  return VECATTN_OK;
}

const char *vecattn_isa_name(vecattn_isa isa) {
  return (unsigned)isa < VECATTN_ISA_COUNT ? isa_names[isa] : "unknown";
}

int vecattn_isa_from_name(const char *name, vecattn_isa *isa) {
  if (!name || !isa) return -1;
  for (int i = 0; i < VECATTN_ISA_COUNT; ++i) {
    if (strcasecmp(name, isa_names[i]) == 0) {
      *isa = (vecattn_isa)i;
      return 0;
    }
  }
  return -1;
}

const char *vecattn_cpu_features(void) {
  pthread_once(&init_once, dispatch_init);
  return features.names;
}
