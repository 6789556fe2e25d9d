#define _GNU_SOURCE 1
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* random numbers: xoshiro256** seeded through splitmix64              */

static uint64_t g_seed;
static uint64_t g_state[4];
static int g_have_spare;
static double g_spare;
static const char *g_suite = "vecattn";

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t tu_rand_u64(void) {
  uint64_t *s = g_state;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

void tu_reseed(uint64_t salt) {
  uint64_t x = g_seed ^ (salt * 0xD1342543DE82EF95ull + 0x2545F4914F6CDD1Dull);
  for (int i = 0; i < 4; i++) g_state[i] = splitmix64(&x);
  g_have_spare = 0;
}

uint64_t tu_seed(void) { return g_seed; }

double tu_rand_uniform(void) { return (double)(tu_rand_u64() >> 11) * (1.0 / 9007199254740992.0); }

double tu_rand_normal(void) {
  if (g_have_spare) {
    g_have_spare = 0;
    return g_spare;
  }
  for (;;) {
    double u1 = tu_rand_uniform(), u2 = tu_rand_uniform();
    if (u1 <= 0.0) continue;
    double r = sqrt(-2.0 * log(u1));
    double a = 2.0 * M_PI * u2;
    double z0 = r * cos(a), z1 = r * sin(a);
    if ((float)z0 == 0.0f || (float)z1 == 0.0f) continue;
    g_spare = z1;
    g_have_spare = 1;
    return z0;
  }
}

int64_t tu_rand_int(int64_t lo, int64_t hi) {
  uint64_t span = (uint64_t)(hi - lo) + 1;
  return lo + (int64_t)(tu_rand_u64() % span);
}

void tu_fill_normal(float *p, size_t n) {
  for (size_t i = 0; i < n; i++) p[i] = (float)tu_rand_normal();
}

int tu_threads_ok(void) {
  const char *e = getenv("VECATTN_TEST_EMULATED_THREADS");
  return !tu_emulated() || (e && e[0] && strcmp(e, "0") != 0);
}

int tu_verbose(void) {
  const char *e = getenv("VECATTN_TEST_VERBOSE");
  return e && e[0] && strcmp(e, "0") != 0;
}

int tu_emulated(void) {
  const char *e = getenv("VECATTN_TEST_EMULATED");
  return e && e[0] && strcmp(e, "0") != 0;
}

/* ------------------------------------------------------------------ */
/* ISA loop                                                            */

const vecattn_isa tu_all_isas[TU_ISA_COUNT] = {VECATTN_ISA_SCALAR, VECATTN_ISA_SSE2,       VECATTN_ISA_AVX2,
                                               VECATTN_ISA_AVX512, VECATTN_ISA_NEON,       VECATTN_ISA_AVX512BF16,
                                               VECATTN_ISA_SVE,    VECATTN_ISA_NEON32,     VECATTN_ISA_NEONBF16,
                                               VECATTN_ISA_NEONDOT, VECATTN_ISA_SVEBF16};
static int g_skip_printed[VECATTN_ISA_COUNT];

/* VECATTN_TEST_ISAS=name[,name...]: the ISA loop runs only these paths (CI
 * runs the suite under several emulated CPUs and tests each path in one of
 * them). tu_init fails when a named path is unknown or unsupported, so a
 * selection can never quietly test nothing. */
static const char *selected_isas(void) {
  const char *e = getenv("VECATTN_TEST_ISAS");
  return e && e[0] ? e : NULL;
}

static int isa_selected(vecattn_isa isa) {
  const char *list = selected_isas();
  if (!list) return 1;
  const char *name = vecattn_isa_name(isa);
  const size_t n = strlen(name);
  for (const char *p = list;; ++p) {
    const char *end = strchr(p, ',');
    const size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len == n && strncmp(p, name, n) == 0) return 1;
    if (!end) return 0;
    p = end;
  }
}

int tu_isa_selected(vecattn_isa isa) { return isa_selected(isa); }

static void check_selection(void) {
  const char *list = selected_isas();
  if (!list) return;
  char name[32];
  for (const char *p = list;; ++p) {
    const char *end = strchr(p, ',');
    const size_t len = end ? (size_t)(end - p) : strlen(p);
    snprintf(name, sizeof name, "%.*s", (int)(len < sizeof name ? len : sizeof name - 1), p);
    vecattn_isa isa;
    if (vecattn_isa_from_name(name, &isa) != 0 || isa == VECATTN_ISA_AUTO || !vecattn_isa_supported(isa)) {
      fprintf(stderr, "VECATTN_TEST_ISAS=%s: '%s' is not a supported path here\n", list, name);
      exit(1);
    }
    if (!end) return;
    p = end;
  }
}

static void print_skip(vecattn_isa isa) {
  if ((int)isa < 0 || (int)isa >= VECATTN_ISA_COUNT || g_skip_printed[isa]) return;
  g_skip_printed[isa] = 1;
  if (vecattn_isa_supported(isa))
    printf("SKIP isa %s: not selected by VECATTN_TEST_ISAS=%s\n", vecattn_isa_name(isa), selected_isas());
  else
    printf("SKIP isa %s: not supported on this machine/build\n", vecattn_isa_name(isa));
  fflush(stdout);
}

static vecattn_isa isa_from(int idx) {
  for (int i = idx; i < TU_ISA_COUNT; i++) {
    vecattn_isa isa = tu_all_isas[i];
    if (vecattn_isa_supported(isa) && isa_selected(isa)) {
      vecattn_status st = vecattn_set_isa(isa);
      ck_assert_msg(st == VECATTN_OK, "vecattn_set_isa(%s) = %d although supported", vecattn_isa_name(isa), (int)st);
      ck_assert_msg(vecattn_active_isa() == isa, "active ISA is %s after set_isa(%s)",
                    vecattn_isa_name(vecattn_active_isa()), vecattn_isa_name(isa));
      return isa;
    }
    print_skip(isa);
  }
  return TU_ISA_DONE;
}

vecattn_isa tu_isa_first(void) { return isa_from(0); }

vecattn_isa tu_isa_next(vecattn_isa cur) {
  vecattn_status st = vecattn_set_isa(VECATTN_ISA_AUTO);
  ck_assert_msg(st == VECATTN_OK, "vecattn_set_isa(AUTO) = %d", (int)st);
  for (int i = 0; i < TU_ISA_COUNT; i++)
    if (tu_all_isas[i] == cur) return isa_from(i + 1);
  return TU_ISA_DONE;
}

void tu_for_each_isa(void (*fn)(vecattn_isa isa, void *ctx), void *ctx) {
  TU_FOR_EACH_ISA(isa) fn(isa, ctx);
}

/* ------------------------------------------------------------------ */
/* suite setup                                                         */

void tu_init(const char *suite_name) {
  g_suite = suite_name;
  const char *env = getenv("VECATTN_TEST_SEED");
  if (env && env[0]) {
    g_seed = strtoull(env, NULL, 0);
  } else {
    uint64_t x = 0;
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(&x, sizeof x, 1, f) != 1) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      x = (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
    }
    if (f) fclose(f);
    g_seed = x;
  }
  tu_reseed(0);
  /* Check reads CK_DEFAULT_TIMEOUT when test cases are created. */
  setenv("CK_DEFAULT_TIMEOUT", "300", 0);
  printf("%s: seed %llu (set VECATTN_TEST_SEED=%llu to reproduce)%s\n", suite_name, (unsigned long long)g_seed,
         (unsigned long long)g_seed, tu_emulated() ? " [emulated]" : "");
  check_selection();
  for (int i = 0; i < TU_ISA_COUNT; i++)
    if (!vecattn_isa_supported(tu_all_isas[i]) || !isa_selected(tu_all_isas[i])) print_skip(tu_all_isas[i]);
  /* Check forks per test: flush so children do not repeat buffered lines. */
  fflush(stdout);
  fflush(stderr);
}

int tu_run_suite(Suite *s) {
  SRunner *sr = srunner_create(s);
  /* fork() hangs under qemu-user here: run the tests in-process there
   * (an explicit CK_FORK in the environment still wins). */
  if (tu_emulated() && !getenv("CK_FORK")) {
    srunner_set_fork_status(sr, CK_NOFORK);
    printf("%s: emulated: running tests without fork (CK_NOFORK)\n", g_suite);
    fflush(stdout);
  }
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  if (failed) printf("%s: %d failed; reproduce with VECATTN_TEST_SEED=%llu\n", g_suite, failed,
                     (unsigned long long)g_seed);
  return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* ------------------------------------------------------------------ */
/* poison and guards                                                   */

#define TU_POISON_BITS 0x7FC0DEADu
#define TU_GUARD_BYTE 0xA5
#define TU_GUARD 64
#define TU_MAGIC 0x5EC0A77Eu

void tu_poison(float *p, size_t n) {
  uint32_t bits = TU_POISON_BITS;
  for (size_t i = 0; i < n; i++) memcpy(&p[i], &bits, sizeof bits);
}

int tu_is_poison(float x) {
  uint32_t bits;
  memcpy(&bits, &x, sizeof bits);
  return bits == TU_POISON_BITS;
}

typedef struct {
  void *raw;
  size_t bytes;
  uint32_t magic;
} guard_hdr;

void *tu_guarded_alloc(size_t bytes, size_t misalign) {
  misalign &= 60;
  size_t total = sizeof(guard_hdr) + TU_GUARD + 64 + 64 + bytes + TU_GUARD;
  unsigned char *raw = malloc(total);
  ck_assert_msg(raw != NULL, "out of memory allocating %zu bytes", total);
  uintptr_t start = ((uintptr_t)raw + sizeof(guard_hdr) + TU_GUARD + 63) & ~(uintptr_t)63;
  unsigned char *data = (unsigned char *)start + misalign;
  guard_hdr h = {raw, bytes, TU_MAGIC};
  memcpy(data - TU_GUARD - sizeof h, &h, sizeof h);
  memset(data - TU_GUARD, TU_GUARD_BYTE, TU_GUARD);
  memset(data + bytes, TU_GUARD_BYTE, TU_GUARD);
  return data;
}

static guard_hdr get_hdr(const void *p) {
  guard_hdr h;
  memcpy(&h, (const unsigned char *)p - TU_GUARD - sizeof h, sizeof h);
  ck_assert_msg(h.magic == TU_MAGIC, "guard header clobbered (write far before the buffer?)");
  return h;
}

int tu_guard_ok(const void *p) {
  guard_hdr h = get_hdr(p);
  const unsigned char *d = p;
  for (size_t i = 0; i < TU_GUARD; i++)
    if (d[-1 - (ptrdiff_t)i] != TU_GUARD_BYTE || d[h.bytes + i] != TU_GUARD_BYTE) return 0;
  return 1;
}

void tu_guarded_free(void *p) {
  if (!p) return;
  guard_hdr h = get_hdr(p);
  free(h.raw);
}

void *tu_snapshot(const void *p, size_t bytes) {
  void *s = malloc(bytes ? bytes : 1);
  ck_assert(s != NULL);
  memcpy(s, p, bytes);
  return s;
}

/* ------------------------------------------------------------------ */
/* tensors                                                             */

const char *tu_layout_name(tu_layout l) {
  switch (l) {
  case TU_BHSD: return "bhsd";
  case TU_BSHD: return "bshd";
  case TU_PADDED: return "padded";
  case TU_SBHD: return "sbhd";
  default: return "?";
  }
}

void tu_tensor_make(tu_tensor *x, tu_layout layout, int64_t b, int64_t h, int64_t s, int64_t d) {
  static const size_t misaligns[] = {0, 4, 8, 12, 20, 36, 60};
  memset(x, 0, sizeof *x);
  int64_t st[4];
  size_t extra = 0;
  switch (layout) {
  case TU_BHSD:
    st[3] = 1, st[2] = d, st[1] = s * d, st[0] = h * s * d;
    break;
  case TU_BSHD:
    st[3] = 1, st[1] = d, st[2] = h * d, st[0] = s * h * d;
    break;
  case TU_PADDED:
    st[3] = 1, st[2] = d + 3, st[1] = s * (d + 3) + 5, st[0] = h * (s * (d + 3) + 5) + 7;
    extra = 2;
    break;
  case TU_SBHD:
  default:
    st[3] = 1, st[1] = d, st[0] = h * d, st[2] = b * h * d;
    break;
  }
  size_t n = (size_t)((b - 1) * st[0] + (h - 1) * st[1] + (s - 1) * st[2] + d) + extra;
  size_t mis = misaligns[tu_rand_u64() % (sizeof misaligns / sizeof misaligns[0])];
  x->storage = tu_guarded_alloc(n * sizeof(float), mis);
  x->n = n;
  tu_poison(x->storage, n);
  if (layout == TU_BHSD) {
    x->t = vecattn_tensor_bhsd(x->storage, b, h, s, d);
  } else if (layout == TU_BSHD) {
    x->t = vecattn_tensor_bshd(x->storage, b, s, h, d);
  } else {
    x->t.data = x->storage;
    x->t.shape[0] = b, x->t.shape[1] = h, x->t.shape[2] = s, x->t.shape[3] = d;
    memcpy(x->t.stride, st, sizeof st);
  }
  ck_assert_msg(x->t.data == x->storage && x->t.shape[0] == b && x->t.shape[1] == h && x->t.shape[2] == s &&
                    x->t.shape[3] == d && x->t.stride[0] == st[0] && x->t.stride[1] == st[1] &&
                    x->t.stride[2] == st[2] && x->t.stride[3] == st[3],
                "vecattn_tensor_%s(b=%lld,h=%lld,s=%lld,d=%lld) built shape [%lld,%lld,%lld,%lld] strides "
                "[%lld,%lld,%lld,%lld]",
                tu_layout_name(layout), (long long)b, (long long)h, (long long)s, (long long)d,
                (long long)x->t.shape[0], (long long)x->t.shape[1], (long long)x->t.shape[2],
                (long long)x->t.shape[3], (long long)x->t.stride[0], (long long)x->t.stride[1],
                (long long)x->t.stride[2], (long long)x->t.stride[3]);
  x->logical = calloc(n, 1);
  ck_assert(x->logical != NULL);
  for (int64_t i0 = 0; i0 < b; i0++)
    for (int64_t i1 = 0; i1 < h; i1++)
      for (int64_t i2 = 0; i2 < s; i2++)
        memset(x->logical + (i0 * st[0] + i1 * st[1] + i2 * st[2]), 1, (size_t)d);
}

void tu_tensor_fill_normal(tu_tensor *x) {
  const vecattn_tensor *t = &x->t;
  for (int64_t i0 = 0; i0 < t->shape[0]; i0++)
    for (int64_t i1 = 0; i1 < t->shape[1]; i1++)
      for (int64_t i2 = 0; i2 < t->shape[2]; i2++) tu_fill_normal(tu_at(t, i0, i1, i2, 0), (size_t)t->shape[3]);
}

void tu_tensor_poison(tu_tensor *x) { tu_poison(x->storage, x->n); }

void tu_tensor_free(tu_tensor *x) {
  tu_guarded_free(x->storage);
  free(x->logical);
  memset(x, 0, sizeof *x);
}

int tu_tensor_guard_ok(const tu_tensor *x) { return tu_guard_ok(x->storage); }

int tu_tensor_padding_intact(const tu_tensor *x) {
  for (size_t i = 0; i < x->n; i++)
    if (!x->logical[i] && !tu_is_poison(x->storage[i])) return 0;
  return 1;
}

void tu_tensor_to_dense(const vecattn_tensor *t, float *dst) {
  size_t o = 0;
  for (int64_t i0 = 0; i0 < t->shape[0]; i0++)
    for (int64_t i1 = 0; i1 < t->shape[1]; i1++)
      for (int64_t i2 = 0; i2 < t->shape[2]; i2++)
        for (int64_t i3 = 0; i3 < t->shape[3]; i3++) dst[o++] = *tu_at(t, i0, i1, i2, i3);
}

size_t tu_count_nonfinite_tensor(const vecattn_tensor *t) {
  size_t bad = 0;
  for (int64_t i0 = 0; i0 < t->shape[0]; i0++)
    for (int64_t i1 = 0; i1 < t->shape[1]; i1++)
      for (int64_t i2 = 0; i2 < t->shape[2]; i2++)
        for (int64_t i3 = 0; i3 < t->shape[3]; i3++)
          if (!isfinite(*tu_at(t, i0, i1, i2, i3))) bad++;
  return bad;
}

double tu_rel_l2_tensor(const vecattn_tensor *t, const double *ref) {
  double num = 0, den = 0;
  size_t o = 0;
  for (int64_t i0 = 0; i0 < t->shape[0]; i0++)
    for (int64_t i1 = 0; i1 < t->shape[1]; i1++)
      for (int64_t i2 = 0; i2 < t->shape[2]; i2++)
        for (int64_t i3 = 0; i3 < t->shape[3]; i3++, o++) {
          double a = *tu_at(t, i0, i1, i2, i3), r = ref[o];
          num += (a - r) * (a - r);
          den += r * r;
        }
  if (isnan(num)) return INFINITY;
  return den > 0 ? sqrt(num / den) : sqrt(num);
}

double tu_rel_l2(const float *a, const double *ref, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    double d = (double)a[i] - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
  }
  if (isnan(num)) return INFINITY;
  return den > 0 ? sqrt(num / den) : sqrt(num);
}

double tu_rel_l2_lse(const float *lse, const double *ref, size_t n, size_t *mismatch) {
  double num = 0, den = 0;
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) {
    if (isinf(ref[i]) && ref[i] < 0) {
      if (!(isinf(lse[i]) && lse[i] < 0)) bad++;
      continue;
    }
    if (!isfinite(lse[i])) {
      bad++;
      continue;
    }
    double d = (double)lse[i] - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
  }
  if (mismatch) *mismatch = bad;
  return den > 0 ? sqrt(num / den) : sqrt(num);
}

void tu_check_sdpa_result(const char *label, vecattn_isa isa, const tu_tensor *out, const float *lse,
                          const double *ref_out, const double *ref_lse, double tol) {
  const vecattn_tensor *t = &out->t;
  const char *in = vecattn_isa_name(isa);
  unsigned long long seed = (unsigned long long)tu_seed();
  ck_assert_msg(tu_tensor_guard_ok(out), "%s [isa %s, seed %llu]: write outside the out buffer", label, in, seed);
  ck_assert_msg(tu_tensor_padding_intact(out), "%s [isa %s, seed %llu]: write into the gaps of a strided out", label,
                in, seed);
  size_t nonfinite = tu_count_nonfinite_tensor(t);
  ck_assert_msg(nonfinite == 0, "%s [isa %s, seed %llu]: %zu of %lld out elements not finite (unwritten or NaN)",
                label, in, seed, nonfinite, (long long)tu_numel(t));
  /* fully masked rows: exact zeros */
  int64_t B = t->shape[0], H = t->shape[1], N = t->shape[2], Dv = t->shape[3];
  size_t row = 0;
  for (int64_t b = 0; b < B; b++)
    for (int64_t h = 0; h < H; h++)
      for (int64_t i = 0; i < N; i++, row++) {
        if (!(isinf(ref_lse[row]) && ref_lse[row] < 0)) continue;
        for (int64_t d = 0; d < Dv; d++) {
          float x = *tu_at(t, b, h, i, d);
          ck_assert_msg(x == 0.0f,
                        "%s [isa %s, seed %llu]: fully masked row (b=%lld,h=%lld,i=%lld) has out[%lld] = %g, "
                        "want 0",
                        label, in, seed, (long long)b, (long long)h, (long long)i, (long long)d, (double)x);
        }
      }
  double err = tu_rel_l2_tensor(t, ref_out);
  if (tu_verbose()) printf("  %s [isa %s]: out rel L2 %.2e\n", label, in, err);
  ck_assert_msg(err <= tol, "%s [isa %s, seed %llu]: out relative L2 error %.3e > %.1e", label, in, seed, err, tol);
  if (lse) {
    ck_assert_msg(tu_guard_ok(lse), "%s [isa %s, seed %llu]: write outside the lse buffer", label, in, seed);
    size_t mism = 0;
    double e2 = tu_rel_l2_lse(lse, ref_lse, (size_t)(B * H * N), &mism);
    if (tu_verbose()) printf("  %s [isa %s]: lse rel L2 %.2e\n", label, in, e2);
    ck_assert_msg(mism == 0,
                  "%s [isa %s, seed %llu]: %zu lse entries wrong in kind (want -inf exactly for fully masked rows, "
                  "finite otherwise)",
                  label, in, seed, mism);
    ck_assert_msg(e2 <= tol, "%s [isa %s, seed %llu]: lse relative L2 error %.3e > %.1e", label, in, seed, e2, tol);
  }
}

float *tu_mha_weights(vecattn_mha_weights *w, int64_t d_model, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim,
                      int bias, int rope, float theta) {
  const int64_t hkv = n_kv_heads ? n_kv_heads : n_heads;
  const int64_t qn = n_heads * head_dim, kvn = hkv * head_dim, dm = d_model;
  const int64_t total = 2 * qn * dm + 2 * kvn * dm + qn + 2 * kvn + dm;
  float *mem = malloc(sizeof(float) * (size_t)total);
  tu_fill_normal(mem, (size_t)total);
  for (int64_t i = 0; i < total; ++i) mem[i] *= (float)(1.0 / sqrt((double)dm));
  memset(w, 0, sizeof *w);
  w->d_model = dm, w->n_heads = n_heads, w->n_kv_heads = n_kv_heads, w->head_dim = head_dim;
  float *p = mem;
  w->wq = p, p += qn * dm;
  w->wk = p, p += kvn * dm;
  w->wv = p, p += kvn * dm;
  w->wo = p, p += qn * dm;
  if (bias) {
    w->bq = p, p += qn;
    w->bk = p, p += kvn;
    w->bv = p, p += kvn;
    w->bo = p;
  }
  w->rope = rope;
  w->rope_theta = theta;
  return mem;
}
