/* Thread counts the library picks: no team for small work, none beyond the
 * CPUs the process may run on, none nested inside the caller's OpenMP region.
 * Observed without timing: libgomp creates a top-level team's worker
 * threads before the region runs and keeps them, so a call that started a
 * team leaves more entries in /proc/self/task than it found. Nested teams'
 * threads exit with their region, so those are counted as they are created,
 * by this executable's pthread_create, which the runtime's calls reach
 * first (not under ASan/TSan, whose own pthread_create must stay in place). */
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

static Suite *make_suite(void) {
  Suite *s = suite_create("threads");
  TCase *tc = tcase_create("threads");
  /* In this order: without fork (CK_FORK=no) the later tests create threads. */
  tcase_add_test(tc, test_small_work_is_serial);
  tcase_add_test(tc, test_capped_at_affinity);
  tcase_add_test(tc, test_nested_is_serial);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  tu_init("threads");
  return tu_run_suite(make_suite());
}
