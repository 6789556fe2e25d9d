/* Thread counts the library picks: no team for small work, none beyond the
 * CPUs the process may run on, none nested inside the caller's OpenMP region.
 * Observed without timing: libgomp creates a top-level team's worker
 * threads before the region runs and keeps them, so a call that started a
 * team leaves more entries in /proc/self/task than it found. Nested teams'
 * threads exit with their region, so those are counted as they are created,
 * by this executable's pthread_create, which the runtime's calls reach
 * first (not under ASan/TSan, whose own pthread_create must stay in place).
 * Team sizes are seen the same way, by this executable's GOMP_parallel (the
 * libgomp entry a `#pragma omp parallel` compiles to with GCC). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <dirent.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <omp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"
#include "vecattn.h"

/* Threads of this process now; -1 where /proc is missing. */
static int count_threads(void) {
  DIR *d = opendir("/proc/self/task");
  if (!d) return -1;
  int n = 0;
  for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

/* CPUs this process may use: the calling thread's mask, or under
 * OMP_PROC_BIND (which pins it to one place) the CPUs OpenMP started with. */
static int process_cpus(void) {
  if (omp_get_proc_bind() != omp_proc_bind_false) return omp_get_num_procs();
  cpu_set_t set;
  return sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
}

/* The size of the last team asked of libgomp (-1: none seen), and how many. */
static atomic_int last_team = -1, teams_seen;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define COUNTS_CREATED 0
#else
#define COUNTS_CREATED 1
static atomic_int threads_created;

typedef int (*create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

__attribute__((visibility("default"))) int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg) {
  static _Atomic(create_fn) real;
  create_fn f = atomic_load(&real);
  if (!f) {
    f = (create_fn)dlsym(RTLD_NEXT, "pthread_create");
    atomic_store(&real, f);
  }
  atomic_fetch_add(&threads_created, 1);
  return f(t, attr, fn, arg);
}

typedef void (*gomp_parallel_fn)(void (*)(void *), void *, unsigned, unsigned);
__attribute__((visibility("default"))) void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads,
                                                          unsigned flags) {
  static _Atomic(gomp_parallel_fn) real;
  gomp_parallel_fn f = atomic_load(&real);
  if (!f) {
    f = (gomp_parallel_fn)dlsym(RTLD_NEXT, "GOMP_parallel");
    atomic_store(&real, f);
  }
  atomic_store(&last_team, (int)num_threads);
  atomic_fetch_add(&teams_seen, 1);
  f(fn, data, num_threads, flags);
}
#endif

typedef struct {
  tu_tensor q, k, v;
} inputs;

static void inputs_make(inputs *in, int64_t b, int64_t hq, int64_t hkv, int64_t nq, int64_t nk, int64_t d) {
  tu_tensor_make(&in->q, TU_BSHD, b, hq, nq, d);
  tu_tensor_make(&in->k, TU_BSHD, b, hkv, nk, d);
  tu_tensor_make(&in->v, TU_BSHD, b, hkv, nk, d);
  tu_tensor_fill_normal(&in->q), tu_tensor_fill_normal(&in->k), tu_tensor_fill_normal(&in->v);
}

static void inputs_free(inputs *in) { tu_tensor_free(&in->q), tu_tensor_free(&in->k), tu_tensor_free(&in->v); }

static vecattn_status sdpa(inputs *in, tu_tensor *out, int num_threads) {
  vecattn_sdpa_opts o = {0};
  o.num_threads = num_threads;
  tu_tensor_poison(out);
  return vecattn_sdpa(&in->q.t, &in->k.t, &in->v.t, &out->t, &o);
}

/* A decode step big enough for a team: 41 MFLOP, 10 MB of K and V. */
static void make_big(inputs *in, tu_tensor *out) {
  inputs_make(in, 2, 8, 2, 1, 5000, 128);
  tu_tensor_make(out, TU_BHSD, 2, 8, 1, 128);
}

static int can_observe(void) {
  if (count_threads() < 1) {
    printf("SKIP: no /proc/self/task here, thread creation cannot be observed\n");
    return 0;
  }
  return 1;
}

/* Four heads, so four tasks, but 65 KFLOP and 133 KB: no team. */
START_TEST(test_small_work_is_serial) {
  if (!can_observe()) return;
  tu_reseed(0x7A01);
  inputs in;
  tu_tensor out, ref;
  inputs_make(&in, 1, 4, 4, 1, 64, 64);
  tu_tensor_make(&out, TU_BHSD, 1, 4, 1, 64);
  tu_tensor_make(&ref, TU_BHSD, 1, 4, 1, 64);
  ck_assert_int_eq(sdpa(&in, &ref, 1), VECATTN_OK);
  const int before = count_threads();
  for (int t = 0; t < 3; ++t) {
    const int req[] = {0, 2, 64};
    ck_assert_int_eq(sdpa(&in, &out, req[t]), VECATTN_OK);
    ck_assert_msg(count_threads() == before, "num_threads=%d on 65 KFLOP: %d threads after the call, %d before",
                  req[t], count_threads(), before);
    ck_assert(memcmp(out.storage, ref.storage, out.n * sizeof(float)) == 0);
  }
  tu_tensor_free(&out), tu_tensor_free(&ref);
  inputs_free(&in);
}
END_TEST

/* Confined to one CPU (as under `taskset -c 0`), after OpenMP has settled on
 * its default: asking for 4 threads, or the default, starts no team. */
START_TEST(test_capped_at_affinity) {
  if (!can_observe()) return;
  if (omp_get_proc_bind() != omp_proc_bind_false) {
    printf("SKIP: under OMP_PROC_BIND the runtime sets threads' masks; the CPUs it started with count\n");
    return;
  }
  cpu_set_t old, one;
  ck_assert_int_eq(sched_getaffinity(0, sizeof old, &old), 0);
  int first = 0;
  while (first < CPU_SETSIZE && !CPU_ISSET(first, &old)) ++first;
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  ck_assert_int_eq(sched_setaffinity(0, sizeof one, &one), 0);

  tu_reseed(0x7A02);
  inputs in;
  tu_tensor out, ref;
  make_big(&in, &out);
  tu_tensor_make(&ref, TU_BHSD, 2, 8, 1, 128);
  ck_assert_int_eq(sdpa(&in, &ref, 1), VECATTN_OK);
  const int before = count_threads();
  const int req[] = {4, 0, 2};
  for (int t = 0; t < 3; ++t) {
    ck_assert_int_eq(sdpa(&in, &out, req[t]), VECATTN_OK);
    ck_assert_msg(count_threads() == before, "one CPU allowed, num_threads=%d: %d threads after the call, %d before",
                  req[t], count_threads(), before);
    ck_assert(memcmp(out.storage, ref.storage, out.n * sizeof(float)) == 0);
  }
  /* The observation works: a team larger than the threads there are does
   * create threads, even on one CPU. */
  if (tu_threads_ok() && omp_get_thread_limit() > before) {
    int team = 0;
#pragma omp parallel num_threads(before + 1)
#pragma omp single
    team = omp_get_num_threads();
    ck_assert_msg(team <= before || count_threads() > before, "a team of %d left %d threads (%d before)", team,
                  count_threads(), before);
  }
  sched_setaffinity(0, sizeof old, &old);
  tu_tensor_free(&out), tu_tensor_free(&ref);
  inputs_free(&in);
}
END_TEST

/* Called from every thread of the caller's own region, with nesting allowed:
 * each call runs on its thread, creates no thread (no nested team), and gives
 * the bits of a top-level call. */
START_TEST(test_nested_is_serial) {
  tu_reseed(0x7A03);
  inputs in;
  tu_tensor ref, out[2];
  make_big(&in, &ref);
  for (int i = 0; i < 2; ++i) tu_tensor_make(&out[i], TU_BHSD, 2, 8, 1, 128);
  ck_assert_int_eq(sdpa(&in, &ref, 0), VECATTN_OK);
  const int levels = omp_get_max_active_levels();
  omp_set_max_active_levels(2);
  int warm = 0;
#pragma omp parallel num_threads(2)
#pragma omp atomic
  warm++; /* the outer team's threads exist before counting */
  ck_assert_int_ge(warm, 1);
#if COUNTS_CREATED
  const int before = atomic_load(&threads_created);
#endif
  vecattn_status st[2] = {VECATTN_OK, VECATTN_OK};
  int level[2] = {0, 0};
#pragma omp parallel num_threads(2)
  {
    const int me = omp_get_thread_num();
    level[me] = omp_get_level();
    st[me] = sdpa(&in, &out[me], me ? 2 : 0);
  }
#if COUNTS_CREATED
  const int created = atomic_load(&threads_created) - before;
  /* The observation works: a nested team of the test's own does create one. */
  int inner = 0;
#pragma omp parallel num_threads(2)
#pragma omp parallel num_threads(2)
#pragma omp atomic
  inner++;
  const int control = atomic_load(&threads_created) - before - created;
#endif
  omp_set_max_active_levels(levels);
  for (int i = 0; i < 2; ++i) {
    if (level[i] == 0) continue; /* the runtime gave the region one thread */
    ck_assert_int_eq(st[i], VECATTN_OK);
    ck_assert_msg(memcmp(out[i].storage, ref.storage, ref.n * sizeof(float)) == 0,
                  "nested call on thread %d differs bitwise from a top-level call", i);
  }
#if COUNTS_CREATED
  ck_assert_msg(created == 0, "calls inside a parallel region created %d threads (nested teams)", created);
  if (tu_threads_ok() && omp_get_thread_limit() >= 4)
    ck_assert_msg(inner < 4 || control > 0, "a nested team of the test's own created no thread: cannot observe");
#else
  printf("sanitized build: thread creation not counted, nested calls checked bitwise only\n");
#endif
  for (int i = 0; i < 2; ++i) tu_tensor_free(&out[i]);
  tu_tensor_free(&ref);
  inputs_free(&in);
}
END_TEST

/* Team sizes are seen where GOMP_parallel is this executable's (not under
 * ASan/TSan, like thread creation). */
static int teams_observable(void) {
  if (!COUNTS_CREATED) printf("sanitized build: team sizes not observed\n");
  return COUNTS_CREATED;
}

/* The team one call got (1: it ran on its own thread), after a pause long
 * enough for idle workers to sleep if `pause`. */
static int team_of_call(inputs *in, tu_tensor *out, int num_threads, int pause) {
  if (pause) {
    const struct timespec ms60 = {0, 60 * 1000 * 1000};
    nanosleep(&ms60, NULL);
  }
  atomic_store(&last_team, 1);
  ck_assert_int_eq(sdpa(in, out, num_threads), VECATTN_OK);
  return atomic_load(&last_team);
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* A region of the host's own, as its BLAS would open: every member busy for
 * 20 ms. Its workers then spin, outside any team of the library's. */
static void foreign_region(int n) {
  const double end = now_s() + 0.02;
  volatile unsigned sink = 0;
#pragma omp parallel num_threads(n)
  while (now_s() < end) sink = sink + 1;
}

/* A call right after a long region keeps its team: the region's workers
 * still spin when the call begins, and the rule that sizes teams by the
 * runnable threads must not take them for other work. Timed from the start
 * of the library's last team, it did: a call after one of its own longer
 * than 5 ms got a team of 1-2 of 16 on a 16-core VM; and after a region of
 * the host's own, whose workers are the same pool, it still did until the
 * pool's workers were looked up. Each pair starts after a pause long enough
 * for the workers to sleep, so its first call gets the full team. Every CPU
 * is asked for: then the spinning workers are all CPUs but one. */
START_TEST(test_team_kept_after_long_region) {
  if (!teams_observable()) return;
  const int cpus = process_cpus();
  if (cpus < 2 || !tu_threads_ok()) {
    printf("SKIP: %d CPU allowed here (or threads unavailable): no team to keep\n", cpus);
    return;
  }
  const int n = cpus < 64 ? cpus : 64;
  tu_reseed(0x7A04);
  inputs in;
  tu_tensor out;
  inputs_make(&in, 1, 4 * n, n, 1024, 1024, 64); /* 1.07 GFLOP a thread: over 5 ms */
  tu_tensor_make(&out, TU_BHSD, 1, 4 * n, 1024, 64);
  enum { PAIRS = 8 };
  for (int foreign = 0; foreign < 2; ++foreign) {
    int shrunk = 0, alone = 1, first[PAIRS], next[PAIRS];
    char seen[PAIRS * 12] = "", *at = seen;
    for (int rep = 0; rep < PAIRS; ++rep) {
      first[rep] = team_of_call(&in, &out, n, 1);
      if (foreign) foreign_region(n);
      next[rep] = team_of_call(&in, &out, n, 0);
      shrunk += next[rep] < first[rep];
      alone &= first[rep] <= 1;
      at += snprintf(at, sizeof seen - (size_t)(at - seen), " %d->%d", first[rep], next[rep]);
    }
    /* Other work that holds the CPUs through every pause (another job on a
     * 2-core CI machine) rightly leaves each call alone: nothing to observe. */
    if (alone) {
      printf("SKIP: every call ran on its own thread (other work held the CPUs): no team to keep\n");
      continue;
    }
    ck_assert_int_gt(atomic_load(&teams_seen), 0);
    /* Other work may take a core for a moment (on a shared 2-core VM, up to 2
     * pairs of 5 were seen); the old rules shrank every time. */
    ck_assert_msg(shrunk <= PAIRS / 2, "num_threads=%d, teams of calls %s:%s", n,
                  foreign ? "before and after a 20 ms region of the host's" : "in a row", seen);
  }
  tu_tensor_free(&out);
  inputs_free(&in);
}
END_TEST

/* Threads runnable on the machine besides this one, from /proc/loadavg's
 * "runnable/total" (the library sizes teams by the same count); 0 where it
 * cannot be read. */
static int runnable_others(void) {
  FILE *f = fopen("/proc/loadavg", "r");
  int runnable = 0;
  if (f) {
    double l1, l5, l15;
    if (fscanf(f, "%lf %lf %lf %d/", &l1, &l5, &l15, &runnable) != 4) runnable = 0;
    fclose(f);
  }
  return runnable > 1 ? runnable - 1 : 0;
}

/* Under OMP_PROC_BIND the runtime pins the calling thread to one place, so
 * its affinity mask is one CPU: a call must still get a team over the CPUs
 * the process had (sizing it by the mask ran every call serially). The
 * threads_bound test runs this suite with OMP_PROC_BIND=close. */
START_TEST(test_team_under_proc_bind) {
  if (!teams_observable()) return;
  if (omp_get_proc_bind() == omp_proc_bind_false) {
    printf("SKIP: OMP_PROC_BIND unset here (the threads_bound test sets it)\n");
    return;
  }
  const int procs = omp_get_num_procs();
  if (procs < 2 || omp_get_max_threads() < 2 || !tu_threads_ok()) {
    printf("SKIP: %d CPU for this process, %d OpenMP threads: no team to start\n", procs, omp_get_max_threads());
    return;
  }
  tu_reseed(0x7A05);
  inputs in;
  tu_tensor out;
  inputs_make(&in, 1, 8, 8, 512, 512, 64); /* 0.54 GFLOP */
  tu_tensor_make(&out, TU_BHSD, 1, 8, 512, 64);
  int widest = 1, crowded = 0;
  for (int rep = 0; rep < 5 && widest < 2; ++rep) { /* another process may hold the cores for a moment */
    crowded += runnable_others() >= procs - 1;
    const int team = team_of_call(&in, &out, 0, 1);
    if (team > widest) widest = team;
  }
  /* Other work that held every other CPU before each call (a qemu job beside
   * this suite on 2 cores) rightly left each call alone: nothing to observe. */
  if (widest < 2 && crowded == 5) {
    printf("SKIP: other threads held the other CPUs before every call: no team to start\n");
  } else {
    ck_assert_msg(widest >= 2, "bound (OMP_PROC_BIND), %d CPUs: 5 calls all ran on one thread", procs);
  }
  tu_tensor_free(&out);
  inputs_free(&in);
}
END_TEST

static Suite *make_suite(void) {
  Suite *s = suite_create("threads");
  TCase *tc = tcase_create("threads");
  /* In this order: without fork (CK_FORK=no) the later tests create threads. */
  tcase_add_test(tc, test_small_work_is_serial);
  tcase_add_test(tc, test_capped_at_affinity);
  tcase_add_test(tc, test_nested_is_serial);
  tcase_add_test(tc, test_team_kept_after_long_region);
  tcase_add_test(tc, test_team_under_proc_bind);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  tu_init("threads");
  return tu_run_suite(make_suite());
}
