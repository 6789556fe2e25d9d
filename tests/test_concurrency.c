/* Concurrent calls: 8 pthreads run vecattn_sdpa (one of them
 * vecattn_attention_weights) on their own shapes and data, over and over,
 * while another thread keeps switching the process-wide ISA. Every result
 * must match its float64 reference; the ISA may change between or during
 * calls, so the check is a relative error, not bitwise.
 *
 * Workers pass num_threads 0 (the OpenMP default) or 1, never more, so a
 * ThreadSanitizer run with OMP_NUM_THREADS=1 sees only these pthreads race
 * (libgomp's own synchronisation is invisible to TSan). */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref.h"
#include "testutil.h"

enum { WORKERS = 8 };

typedef struct {
  /* inputs and reference, built before the threads start */
  int64_t B, Hq, Hkv, Nq, Nk, D, Dv;
  int causal, weights, num_threads;
  float *q, *k, *v, *out, *lse;
  double *ref, *ref_lse;
  int iterations;
  /* results, read after join */
  int failed_iteration; /* -1: none */
  char why[160];
} worker;

static atomic_int workers_running;

static vecattn_tensor tensor(float *data, int64_t b, int64_t h, int64_t s, int64_t d) {
  return vecattn_tensor_bhsd(data, b, h, s, d);
}

static float *alloc_normal(size_t n) {
  float *p = tu_guarded_alloc(n * sizeof(float), 4);
  tu_fill_normal(p, n);
  return p;
}

static void worker_init(worker *w, int id) {
  tu_reseed(0xC0C0 + (uint64_t)id);
  memset(w, 0, sizeof *w);
  w->Hkv = tu_rand_int(1, 2);
  w->Hq = w->Hkv * tu_rand_int(1, 3);
  w->B = tu_rand_int(1, 2);
  w->Nq = id == 0 ? 1 : tu_rand_int(1, 48); /* one decode-shaped worker */
  w->Nk = tu_rand_int(w->Nq, 160);
  w->D = tu_rand_int(1, 72);
  w->Dv = tu_rand_int(1, 40);
  w->causal = id % 3 == 1;
  w->weights = id == WORKERS - 1;
  w->num_threads = id % 2; /* 0: OpenMP default, 1: serial */
  if (w->weights) w->Dv = w->Nk;
  w->iterations = tu_emulated() ? 3 : 100;
  w->failed_iteration = -1;
  const int64_t rows = w->B * w->Hq * w->Nq;
  w->q = alloc_normal((size_t)(rows * w->D));
  w->k = alloc_normal((size_t)(w->B * w->Hkv * w->Nk * w->D));
  w->v = alloc_normal((size_t)(w->B * w->Hkv * w->Nk * w->Dv));
  w->out = tu_guarded_alloc((size_t)(rows * w->Dv) * sizeof(float), 8);
  w->lse = tu_guarded_alloc((size_t)rows * sizeof(float), 0);
  w->ref = malloc(sizeof(double) * (size_t)(rows * w->Dv));
  w->ref_lse = malloc(sizeof(double) * (size_t)rows);
  const vecattn_tensor q = tensor(w->q, w->B, w->Hq, w->Nq, w->D), k = tensor(w->k, w->B, w->Hkv, w->Nk, w->D),
                       v = tensor(w->v, w->B, w->Hkv, w->Nk, w->Dv);
  vecattn_sdpa_opts o = {0};
  o.causal = w->causal;
  if (w->weights)
    ref_weights(&q, &k, &o, w->ref, NULL);
  else
    ref_sdpa(&q, &k, &v, &o, w->ref, w->ref_lse);
}

static void worker_free(worker *w) {
  tu_guarded_free(w->q), tu_guarded_free(w->k), tu_guarded_free(w->v);
  tu_guarded_free(w->out), tu_guarded_free(w->lse);
  free(w->ref), free(w->ref_lse);
}

static void *worker_main(void *arg) {
  worker *w = arg;
  const int64_t rows = w->B * w->Hq * w->Nq;
  vecattn_tensor q = tensor(w->q, w->B, w->Hq, w->Nq, w->D), k = tensor(w->k, w->B, w->Hkv, w->Nk, w->D),
                 v = tensor(w->v, w->B, w->Hkv, w->Nk, w->Dv), out = tensor(w->out, w->B, w->Hq, w->Nq, w->Dv);
  vecattn_sdpa_opts o = {0};
  o.causal = w->causal;
  o.lse = w->lse;
  o.num_threads = w->num_threads;
  for (int it = 0; it < w->iterations && w->failed_iteration < 0; ++it) {
    tu_poison(w->out, (size_t)(rows * w->Dv));
    const vecattn_status st =
        w->weights ? vecattn_attention_weights(&q, &k, &out, &o) : vecattn_sdpa(&q, &k, &v, &out, &o);
    const double err = tu_rel_l2(w->out, w->ref, (size_t)(rows * w->Dv));
    size_t lse_bad = 0;
    const double lse_err = w->weights ? 0.0 : tu_rel_l2_lse(w->lse, w->ref_lse, (size_t)rows, &lse_bad);
    if (st != VECATTN_OK || !(err <= 1e-5) || !(lse_err <= 1e-5) || lse_bad || !tu_guard_ok(w->out)) {
      w->failed_iteration = it;
      snprintf(w->why, sizeof w->why, "status %d, out error %.3g, lse error %.3g (%zu mismatched), guards %s",
               (int)st, err, lse_err, lse_bad, tu_guard_ok(w->out) ? "ok" : "broken");
    }
  }
  atomic_fetch_sub(&workers_running, 1);
  return NULL;
}

typedef struct {
  vecattn_isa a, b;
  long flips;
  int bad_status;
} flipper;

static void *flipper_main(void *arg) {
  flipper *f = arg;
  while (atomic_load(&workers_running) > 0) {
    const vecattn_isa to = f->flips % 2 ? f->a : f->b;
    if (vecattn_set_isa(to) != VECATTN_OK) f->bad_status = 1;
    f->flips++;
    sched_yield();
  }
  return NULL;
}

START_TEST(test_concurrent_calls_while_isa_flips) {
  if (!tu_threads_ok()) {
    printf("SKIP concurrency: threads hang under emulation (VECATTN_TEST_EMULATED_THREADS=1 forces)\n");
    return;
  }
  static worker w[WORKERS];
  for (int i = 0; i < WORKERS; ++i) worker_init(&w[i], i);
  /* scalar against the best path: the two that differ most */
  flipper f = {VECATTN_ISA_SCALAR, vecattn_active_isa(), 0, 0};
  if (f.b == VECATTN_ISA_SCALAR) printf("SKIP isa flips: only the scalar path is supported here\n");
  atomic_store(&workers_running, WORKERS);
  pthread_t tid[WORKERS], ftid;
  ck_assert_int_eq(pthread_create(&ftid, NULL, flipper_main, &f), 0);
  for (int i = 0; i < WORKERS; ++i) ck_assert_int_eq(pthread_create(&tid[i], NULL, worker_main, &w[i]), 0);
  for (int i = 0; i < WORKERS; ++i) pthread_join(tid[i], NULL);
  pthread_join(ftid, NULL);
  ck_assert_int_eq(vecattn_set_isa(VECATTN_ISA_AUTO), VECATTN_OK);
  printf("concurrency: %d workers x %d calls, %ld ISA switches (%s <-> %s)\n", WORKERS, w[0].iterations, f.flips,
         vecattn_isa_name(f.a), vecattn_isa_name(f.b));
  ck_assert_msg(!f.bad_status, "vecattn_set_isa failed for a supported ISA");
  ck_assert_msg(f.flips > 0, "the ISA never switched during the run");
  for (int i = 0; i < WORKERS; ++i)
    ck_assert_msg(w[i].failed_iteration < 0,
                  "worker %d (%s B=%lld Hq=%lld Hkv=%lld Nq=%lld Nk=%lld D=%lld Dv=%lld causal=%d threads=%d) "
                  "call %d: %s",
                  i, w[i].weights ? "weights" : "sdpa", (long long)w[i].B, (long long)w[i].Hq, (long long)w[i].Hkv,
                  (long long)w[i].Nq, (long long)w[i].Nk, (long long)w[i].D, (long long)w[i].Dv, w[i].causal,
                  w[i].num_threads, w[i].failed_iteration, w[i].why);
  for (int i = 0; i < WORKERS; ++i) worker_free(&w[i]);
}
END_TEST

int main(void) {
  tu_init("concurrency");
  Suite *s = suite_create("concurrency");
  TCase *tc = tcase_create("concurrency");
  tcase_add_test(tc, test_concurrent_calls_while_isa_flips);
  suite_add_tcase(s, tc);
  return tu_run_suite(s);
}
