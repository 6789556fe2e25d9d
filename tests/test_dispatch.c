/* ISA selection and the small API: names, parsing, supported/compiled,
 * active ISA, set_isa, the VECATTN_ISA environment variable (checked in
 * fresh child processes), version, cpu features, tensor constructors. */
#define _GNU_SOURCE 1
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static const char *const names[VECATTN_ISA_COUNT] = {"auto", "scalar", "sse2", "avx2", "avx512",
                                                     "neon", "avx512bf16", "sve", "neon32", "neonbf16", "neondot",
                                                     "svebf16"};

/* Highest-priority supported path: what AUTO should pick. */
static int has_token(const char *list, const char *tok) {
  size_t n = strlen(tok);
  for (const char *p = list; (p = strstr(p, tok)) != NULL; p += n)
    if ((p == list || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' ')) return 1;
  return 0;
}

/* The documented preference; 128-bit SVE gives way to neonbf16 (the same
 * width, plus BF16 and I8MM products; svebf16 has no 128-bit build). */
static vecattn_isa best_isa(void) {
  static const vecattn_isa order[] = {VECATTN_ISA_AVX512BF16, VECATTN_ISA_AVX512,   VECATTN_ISA_AVX2,
                                      VECATTN_ISA_SVEBF16,    VECATTN_ISA_SVE,      VECATTN_ISA_NEONBF16,
                                      VECATTN_ISA_NEONDOT,    VECATTN_ISA_NEON,     VECATTN_ISA_NEON32,
                                      VECATTN_ISA_SSE2,       VECATTN_ISA_SCALAR};
  const int sve_gives_way =
      has_token(vecattn_cpu_features(), "sve-vl128") && vecattn_isa_supported(VECATTN_ISA_NEONBF16);
  for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
    if (vecattn_isa_supported(order[i]) && !(order[i] == VECATTN_ISA_SVE && sve_gives_way)) return order[i];
  return VECATTN_ISA_SCALAR;
}

/* ------------------------------------------------------------------ */
/* VECATTN_ISA: "picks the path at first use".
 *
 * 1. In-process: main() calls the library for the first time with this
 *    process's own VECATTN_ISA (stderr captured). meson runs this binary
 *    again with VECATTN_ISA=scalar / an unknown / a foreign name and
 *    --env-only, so each value gets a fresh process without forking.
 * 2. Where fork works (not under VECATTN_TEST_EMULATED: qemu-user forks
 *    hang), fresh children (fork + exec of this binary) cover every name. */

typedef struct {
  const char *value; /* NULL: variable unset */
  int ok;            /* an ISA was reported */
  char isa[32];
  int stderr_lines;
  char err[512];
} probe;

static probe self_probe; /* this process, at first use */
static int self_probe_done;

static probe probes[] = {
    {NULL, 0, "", 0, ""},   {"auto", 0, "", 0, ""}, {"scalar", 0, "", 0, ""}, {"sse2", 0, "", 0, ""},
    {"avx2", 0, "", 0, ""}, {"avx512", 0, "", 0, ""}, {"neon", 0, "", 0, ""},   {"bogus-isa", 0, "", 0, ""},
    {"avx512bf16", 0, "", 0, ""},  {"sve", 0, "", 0, ""},  {"neon32", 0, "", 0, ""},
    {"SCALAR", 0, "", 0, ""}, {"Auto", 0, "", 0, ""},   {"svebf16", 0, "", 0, ""},
};
#define NPROBES ((int)(sizeof probes / sizeof probes[0]))
static int fork_probes_done;

static int count_lines(const char *t) {
  int lines = 0;
  size_t len = strlen(t);
  for (size_t i = 0; i < len; i++) lines += t[i] == '\n';
  if (len && t[len - 1] != '\n') lines++;
  return lines;
}

static void read_all(int fd, char *buf, size_t cap) {
  size_t n = 0;
  for (;;) {
    char tmp[256];
    ssize_t r = read(fd, tmp, sizeof tmp);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    for (ssize_t i = 0; i < r; i++)
      if (n + 1 < cap) buf[n++] = tmp[i];
  }
  buf[n] = '\0';
}

/* First library call of this process, with stderr captured. */
static void run_self_probe(void) {
  self_probe.value = getenv("VECATTN_ISA");
  fflush(stderr);
  FILE *tmp = tmpfile();
  int saved = dup(2);
  if (tmp && saved >= 0) dup2(fileno(tmp), 2);
  vecattn_isa a = vecattn_active_isa();
  fflush(stderr);
  if (tmp && saved >= 0) {
    dup2(saved, 2);
    close(saved);
    rewind(tmp);
    read_all(fileno(tmp), self_probe.err, sizeof self_probe.err);
  }
  if (tmp) fclose(tmp);
  snprintf(self_probe.isa, sizeof self_probe.isa, "%s", vecattn_isa_name(a));
  self_probe.ok = 1;
  self_probe.stderr_lines = count_lines(self_probe.err);
  self_probe_done = 1;
}

static void run_fork_probe(probe *p) {
  int outp[2], errp[2];
  if (pipe(outp) != 0 || pipe(errp) != 0) return;
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) return;
  if (pid == 0) {
    dup2(outp[1], 1);
    dup2(errp[1], 2);
    close(outp[0]), close(outp[1]), close(errp[0]), close(errp[1]);
    if (p->value)
      setenv("VECATTN_ISA", p->value, 1);
    else
      unsetenv("VECATTN_ISA");
    execl("/proc/self/exe", "test_dispatch", "--print-active-isa", (char *)NULL);
    _exit(127);
  }
  close(outp[1]), close(errp[1]);
  char out[1024];
  read_all(outp[0], out, sizeof out);
  read_all(errp[0], p->err, sizeof p->err);
  close(outp[0]), close(errp[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  const char *a = strstr(out, "ISA=");
  if (!a || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return;
  sscanf(a, "ISA=%31s", p->isa);
  p->ok = 1;
  p->stderr_lines = count_lines(p->err);
}

/* What VECATTN_ISA=value must give: the named path if supported, else the
 * best one; *lines: warning lines expected on stderr. */
static const char *expected_for(const char *value, int *lines) {
  vecattn_isa isa;
  *lines = 0;
  if (value == NULL) return vecattn_isa_name(best_isa());
  if (vecattn_isa_from_name(value, &isa) == 0 && vecattn_isa_supported(isa))
    return vecattn_isa_name(isa == VECATTN_ISA_AUTO ? best_isa() : isa);
  *lines = 1;
  return vecattn_isa_name(best_isa());
}

static void check_probe(const probe *p, const char *how) {
  int want_lines;
  const char *want = expected_for(p->value, &want_lines);
  const char *shown = p->value ? p->value : "(unset)";
  ck_assert_msg(p->ok, "VECATTN_ISA=%s (%s): no ISA reported (stderr: %s)", shown, how, p->err);
  ck_assert_msg(strcmp(p->isa, want) == 0, "VECATTN_ISA=%s (%s): active ISA at first use is %s, want %s", shown, how,
                p->isa, want);
  ck_assert_msg(p->stderr_lines == want_lines, "VECATTN_ISA=%s (%s): %d lines on stderr, want %d: \"%s\"", shown, how,
                p->stderr_lines, want_lines, p->err);
}

/* This process's own environment, honoured at its first library call. */
START_TEST(test_env_self) {
  ck_assert(self_probe_done);
  check_probe(&self_probe, "this process");
}
END_TEST

/* Every name, each in a fresh child process. */
START_TEST(test_env_children) {
  if (!fork_probes_done) {
    printf("SKIP test_env_children: no fork under emulation (covered by the dispatch_env_* runs)\n");
    return;
  }
  for (int i = 0; i < NPROBES; i++) check_probe(&probes[i], "fresh child process");
  /* the cases the contract names, spelled out */
  ck_assert_str_eq(probes[2].isa, "scalar");
  ck_assert_int_eq(probes[7].stderr_lines, 1);
  /* any letter case; an unknown name's warning lists the valid ones */
  ck_assert_str_eq(probes[11].isa, "scalar");
  ck_assert_int_eq(probes[11].stderr_lines, 0);
  ck_assert_int_eq(probes[12].stderr_lines, 0);
  for (int i = 0; i < VECATTN_ISA_COUNT; i++)
    ck_assert_msg(strstr(probes[7].err, names[i]) != NULL, "VECATTN_ISA=bogus-isa: the warning does not list \"%s\": %s",
                  names[i], probes[7].err);
}
END_TEST

/* ------------------------------------------------------------------ */

START_TEST(test_isa_names) {
  for (int i = 0; i < VECATTN_ISA_COUNT; i++) {
    const char *n = vecattn_isa_name((vecattn_isa)i);
    ck_assert_msg(n != NULL, "vecattn_isa_name(%d) is NULL", i);
    ck_assert_str_eq(n, names[i]);
  }
  ck_assert_str_eq(vecattn_isa_name((vecattn_isa)VECATTN_ISA_COUNT), "unknown");
  ck_assert_str_eq(vecattn_isa_name((vecattn_isa)-1), "unknown");
  ck_assert_str_eq(vecattn_isa_name((vecattn_isa)1000), "unknown");
}
END_TEST

START_TEST(test_isa_from_name) {
  for (int i = 0; i < VECATTN_ISA_COUNT; i++) {
    vecattn_isa got = (vecattn_isa)-7;
    int rc = vecattn_isa_from_name(vecattn_isa_name((vecattn_isa)i), &got);
    ck_assert_msg(rc == 0, "vecattn_isa_from_name(\"%s\") = %d", names[i], rc);
    ck_assert_msg(got == (vecattn_isa)i, "vecattn_isa_from_name(\"%s\") gave %d, want %d", names[i], (int)got, i);
  }
  const char *cased[][2] = {{"SCALAR", "scalar"}, {"Avx512", "avx512"}, {"AUTO", "auto"}, {"nEoN", "neon"}};
  for (size_t i = 0; i < sizeof cased / sizeof cased[0]; i++) {
    vecattn_isa got = (vecattn_isa)-7;
    ck_assert_msg(vecattn_isa_from_name(cased[i][0], &got) == 0, "vecattn_isa_from_name(\"%s\") refused", cased[i][0]);
    ck_assert_str_eq(vecattn_isa_name(got), cased[i][1]);
  }
  const char *bad[] = {"", "bogus", "avx3", "scalarx", "unknown", "AVX2 ", " sse2"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    vecattn_isa got = VECATTN_ISA_SCALAR;
    ck_assert_msg(vecattn_isa_from_name(bad[i], &got) == -1, "vecattn_isa_from_name(\"%s\") accepted", bad[i]);
  }
}
END_TEST

START_TEST(test_supported_basics) {
  ck_assert_msg(vecattn_isa_supported(VECATTN_ISA_SCALAR), "scalar must always be supported");
  ck_assert_msg(vecattn_isa_compiled(VECATTN_ISA_SCALAR), "scalar must always be compiled");
  ck_assert_msg(vecattn_isa_supported(VECATTN_ISA_AUTO), "AUTO must be supported");
  for (int i = 0; i < TU_ISA_COUNT; i++) {
    vecattn_isa isa = tu_all_isas[i];
    if (vecattn_isa_supported(isa))
      ck_assert_msg(vecattn_isa_compiled(isa), "%s supported but not compiled", vecattn_isa_name(isa));
  }
  ck_assert_msg(!vecattn_isa_supported((vecattn_isa)VECATTN_ISA_COUNT) && !vecattn_isa_supported((vecattn_isa)-1),
                "out-of-range ISA reported supported");
#if defined(__x86_64__)
  if (vecattn_isa_compiled(VECATTN_ISA_SSE2))
    ck_assert_msg(vecattn_isa_supported(VECATTN_ISA_SSE2), "sse2 compiled but not supported on x86-64");
  ck_assert_msg(!vecattn_isa_supported(VECATTN_ISA_NEON), "neon supported on x86-64");
  if (vecattn_isa_supported(VECATTN_ISA_AVX512))
    ck_assert_msg(vecattn_isa_supported(VECATTN_ISA_AVX2), "avx512 supported but avx2 not");
  if (vecattn_isa_supported(VECATTN_ISA_AVX512BF16))
    ck_assert_msg(vecattn_isa_supported(VECATTN_ISA_AVX512), "avx512bf16 supported but avx512 not");
  ck_assert_msg(!vecattn_isa_supported(VECATTN_ISA_SVE) && !vecattn_isa_supported(VECATTN_ISA_NEON32) &&
                    !vecattn_isa_supported(VECATTN_ISA_SVEBF16),
                "an ARM path supported on x86-64");
#elif defined(__aarch64__)
  if (vecattn_isa_compiled(VECATTN_ISA_NEON))
    ck_assert_msg(vecattn_isa_supported(VECATTN_ISA_NEON), "neon compiled but not supported on aarch64");
  ck_assert_msg(!vecattn_isa_supported(VECATTN_ISA_AVX2), "avx2 supported on aarch64");
  ck_assert_msg(!vecattn_isa_supported(VECATTN_ISA_NEON32), "neon32 (armhf) supported on aarch64");
  if (vecattn_isa_supported(VECATTN_ISA_SVEBF16))
    ck_assert_msg(vecattn_isa_supported(VECATTN_ISA_SVE), "svebf16 supported but sve not");
#elif defined(__arm__)
  ck_assert_msg(!vecattn_isa_supported(VECATTN_ISA_NEON) && !vecattn_isa_supported(VECATTN_ISA_SVE),
                "an aarch64 path supported on 32-bit ARM");
#endif
}
END_TEST

START_TEST(test_active_isa) {
  vecattn_isa a = vecattn_active_isa();
  ck_assert_msg(a != VECATTN_ISA_AUTO, "vecattn_active_isa() returned AUTO");
  ck_assert_msg(vecattn_isa_supported(a), "active ISA %s not supported", vecattn_isa_name(a));
  ck_assert_int_eq(vecattn_set_isa(VECATTN_ISA_AUTO), VECATTN_OK);
  a = vecattn_active_isa();
  ck_assert_msg(a == best_isa(), "active ISA after set_isa(AUTO) is %s, want the best supported (%s)",
                vecattn_isa_name(a), vecattn_isa_name(best_isa()));
}
END_TEST

START_TEST(test_set_each_isa) {
  vecattn_isa best = best_isa();
  for (int i = 0; i < TU_ISA_COUNT; i++) {
    vecattn_isa isa = tu_all_isas[i];
    if (!vecattn_isa_supported(isa)) continue;
    ck_assert_int_eq(vecattn_set_isa(isa), VECATTN_OK);
    ck_assert_msg(vecattn_active_isa() == isa, "set_isa(%s) then active is %s", vecattn_isa_name(isa),
                  vecattn_isa_name(vecattn_active_isa()));
    ck_assert_int_eq(vecattn_set_isa(VECATTN_ISA_AUTO), VECATTN_OK);
    ck_assert_msg(vecattn_active_isa() == best, "set_isa(AUTO) after %s gives %s, want %s", vecattn_isa_name(isa),
                  vecattn_isa_name(vecattn_active_isa()), vecattn_isa_name(best));
  }
}
END_TEST

static void *thread_active(void *arg) {
  *(vecattn_isa *)arg = vecattn_active_isa();
  return NULL;
}

/* Concurrent first use from several threads agrees; a choice made with
 * set_isa is seen by other threads. */
START_TEST(test_threads_see_same_isa) {
  if (!tu_threads_ok()) {
    printf("SKIP test_threads_see_same_isa: threads hang under emulation (VECATTN_TEST_EMULATED_THREADS=1 forces)\n");
    return;
  }
  enum { NT = 8 };
  pthread_t th[NT];
  vecattn_isa got[NT];
  for (int i = 0; i < NT; i++) ck_assert_int_eq(pthread_create(&th[i], NULL, thread_active, &got[i]), 0);
  for (int i = 0; i < NT; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < NT; i++)
    ck_assert_msg(got[i] == got[0] && got[i] != VECATTN_ISA_AUTO, "threads disagree on the active ISA");
  ck_assert_int_eq(vecattn_set_isa(VECATTN_ISA_SCALAR), VECATTN_OK);
  vecattn_isa other = VECATTN_ISA_AUTO;
  ck_assert_int_eq(pthread_create(&th[0], NULL, thread_active, &other), 0);
  pthread_join(th[0], NULL);
  ck_assert_msg(other == VECATTN_ISA_SCALAR, "another thread sees %s after set_isa(scalar)", vecattn_isa_name(other));
  ck_assert_int_eq(vecattn_set_isa(VECATTN_ISA_AUTO), VECATTN_OK);
}
END_TEST

START_TEST(test_version) {
  const char *v = vecattn_version();
  ck_assert_msg(v != NULL, "vecattn_version() is NULL");
  char want[64];
  int n = snprintf(want, sizeof want, "%d.%d.%d", VECATTN_VERSION_MAJOR, VECATTN_VERSION_MINOR,
                   VECATTN_VERSION_PATCH);
  ck_assert_msg(strncmp(v, want, (size_t)n) == 0, "vecattn_version() = \"%s\", want it to start with \"%s\"", v, want);
  ck_assert_msg(v[n] < '0' || v[n] > '9', "vecattn_version() = \"%s\" continues the patch number", v);
}
END_TEST


START_TEST(test_cpu_features) {
  const char *f = vecattn_cpu_features();
  ck_assert_msg(f != NULL, "vecattn_cpu_features() is NULL");
  ck_assert_msg(f == vecattn_cpu_features() || strcmp(f, vecattn_cpu_features()) == 0,
                "vecattn_cpu_features() changes between calls");
  printf("cpu features: %s\n", f);
#if defined(__x86_64__)
  ck_assert_msg(has_token(f, "sse2"), "x86-64 cpu features \"%s\" lack sse2", f);
  if (vecattn_isa_supported(VECATTN_ISA_AVX2))
    ck_assert_msg(has_token(f, "avx2") && has_token(f, "fma"), "avx2 path supported but features \"%s\" lack avx2/fma",
                  f);
  if (vecattn_isa_supported(VECATTN_ISA_AVX512))
    ck_assert_msg(has_token(f, "avx512f"), "avx512 path supported but features \"%s\" lack avx512f", f);
  if (vecattn_isa_supported(VECATTN_ISA_AVX512BF16))
    ck_assert_msg(has_token(f, "avx512bf16"), "avx512bf16 path supported but features \"%s\" lack avx512bf16", f);
#elif defined(__aarch64__)
  if (vecattn_isa_supported(VECATTN_ISA_NEON))
    ck_assert_msg(has_token(f, "asimd") || has_token(f, "neon"), "neon path supported but features \"%s\" lack asimd",
                  f);
  if (vecattn_isa_supported(VECATTN_ISA_SVE)) {
    ck_assert_msg(has_token(f, "sve"), "sve path supported but features \"%s\" lack sve", f);
    const char *vl = strstr(f, "sve-vl");
    ck_assert_msg(vl && (atoi(vl + 6) == 128 || atoi(vl + 6) == 256 || atoi(vl + 6) == 512),
                  "sve path supported but features \"%s\" name no built vector length", f);
  }
  /* The ARMv8.2+ paths run exactly where their features are. */
  if (vecattn_isa_compiled(VECATTN_ISA_NEONDOT))
    ck_assert_msg(vecattn_isa_supported(VECATTN_ISA_NEONDOT) == has_token(f, "asimddp"),
                  "neondot supported %d but features \"%s\"", vecattn_isa_supported(VECATTN_ISA_NEONDOT), f);
  if (vecattn_isa_compiled(VECATTN_ISA_NEONBF16))
    ck_assert_msg(vecattn_isa_supported(VECATTN_ISA_NEONBF16) ==
                      (has_token(f, "asimddp") && has_token(f, "bf16") && has_token(f, "i8mm")),
                  "neonbf16 supported %d but features \"%s\"", vecattn_isa_supported(VECATTN_ISA_NEONBF16), f);
  if (vecattn_isa_compiled(VECATTN_ISA_SVEBF16))
    ck_assert_msg(vecattn_isa_supported(VECATTN_ISA_SVEBF16) ==
                      (has_token(f, "svebf16") && has_token(f, "svei8mm") &&
                       (has_token(f, "sve-vl256") || has_token(f, "sve-vl512"))),
                  "svebf16 supported %d but features \"%s\"", vecattn_isa_supported(VECATTN_ISA_SVEBF16), f);
  if (vecattn_isa_compiled(VECATTN_ISA_SVE) && has_token(f, "sve")) {
    /* QEMU_CPU / VECATTN_TEST_EXPECT_SVE_BITS: the CI run says which length it emulates */
    const char *want = getenv("VECATTN_TEST_EXPECT_SVE_BITS");
    if (want && *want) {
      char tok[32];
      snprintf(tok, sizeof tok, "sve-vl%s", want);
      ck_assert_msg(has_token(f, tok), "features \"%s\" lack %s", f, tok);
      ck_assert_msg(vecattn_isa_supported(VECATTN_ISA_SVE), "sve not supported at %s bits", want);
      const vecattn_isa want_best = strcmp(want, "128") == 0 && vecattn_isa_supported(VECATTN_ISA_NEONBF16)
                                        ? VECATTN_ISA_NEONBF16
                                    : vecattn_isa_supported(VECATTN_ISA_SVEBF16) ? VECATTN_ISA_SVEBF16
                                                                                 : VECATTN_ISA_SVE;
      ck_assert_msg(best_isa() == want_best, "%s supported but %s preferred", vecattn_isa_name(want_best),
                    vecattn_isa_name(best_isa()));
    }
  }
#elif defined(__arm__)
  if (vecattn_isa_supported(VECATTN_ISA_NEON32))
    ck_assert_msg(has_token(f, "neon"), "neon32 path supported but features \"%s\" lack neon", f);
#else
  (void)has_token;
#endif
}
END_TEST

START_TEST(test_tensor_constructors) {
  float buf[4];
  vecattn_tensor t = vecattn_tensor_bhsd(buf, 2, 3, 5, 7);
  ck_assert_ptr_eq(t.data, buf);
  ck_assert(t.shape[0] == 2 && t.shape[1] == 3 && t.shape[2] == 5 && t.shape[3] == 7);
  ck_assert(t.stride[0] == 3 * 5 * 7 && t.stride[1] == 5 * 7 && t.stride[2] == 7 && t.stride[3] == 1);
  t = vecattn_tensor_bshd(buf, 2, 5, 3, 7); /* (b, s, h, d) */
  ck_assert_ptr_eq(t.data, buf);
  ck_assert_msg(t.shape[0] == 2 && t.shape[1] == 3 && t.shape[2] == 5 && t.shape[3] == 7,
                "bshd shape must be logical [b,h,s,d], got [%lld,%lld,%lld,%lld]", (long long)t.shape[0],
                (long long)t.shape[1], (long long)t.shape[2], (long long)t.shape[3]);
  ck_assert_msg(t.stride[0] == 5 * 3 * 7 && t.stride[1] == 7 && t.stride[2] == 3 * 7 && t.stride[3] == 1,
                "bshd strides [%lld,%lld,%lld,%lld]", (long long)t.stride[0], (long long)t.stride[1],
                (long long)t.stride[2], (long long)t.stride[3]);
}
END_TEST

static Suite *make_suite(int env_only) {
  Suite *s = suite_create("dispatch");
  if (!env_only) {
    TCase *tc = tcase_create("dispatch");
    tcase_add_test(tc, test_isa_names);
    tcase_add_test(tc, test_isa_from_name);
    tcase_add_test(tc, test_supported_basics);
    tcase_add_test(tc, test_active_isa);
    tcase_add_test(tc, test_set_each_isa);
    tcase_add_test(tc, test_threads_see_same_isa);
    tcase_add_test(tc, test_version);
    tcase_add_test(tc, test_cpu_features);
    tcase_add_test(tc, test_tensor_constructors);
    suite_add_tcase(s, tc);
  }
  TCase *te = tcase_create("env");
  tcase_add_test(te, test_env_self);
  if (!env_only) tcase_add_test(te, test_env_children);
  suite_add_tcase(s, te);
  return s;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--print-active-isa") == 0) {
    printf("ISA=%s\n", vecattn_isa_name(vecattn_active_isa()));
    return 0;
  }
  int env_only = argc > 1 && strcmp(argv[1], "--env-only") == 0;
  /* before anything else touches the library */
  run_self_probe();
  if (!env_only && !tu_emulated()) {
    for (int i = 0; i < NPROBES; i++) run_fork_probe(&probes[i]);
    fork_probes_done = 1;
  }
  tu_init(env_only ? "dispatch (VECATTN_ISA only)" : "dispatch");
  printf("first use with VECATTN_ISA=%s -> %s (%d stderr lines)\n", self_probe.value ? self_probe.value : "(unset)",
         self_probe.isa, self_probe.stderr_lines);
  for (int i = 0; fork_probes_done && i < NPROBES; i++)
    printf("child with VECATTN_ISA=%s -> %s (%d stderr lines)\n", probes[i].value ? probes[i].value : "(unset)",
           probes[i].ok ? probes[i].isa : "?", probes[i].stderr_lines);
  fflush(stdout);
  return tu_run_suite(make_suite(env_only));
}
