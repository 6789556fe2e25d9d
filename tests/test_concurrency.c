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

/* ---- one call, one ISA: layer and vecattn_attend calls while the ISA flips ----
 * Each call reads the kernel table once, so its output must be bitwise the
 * output of one path, all scalar or all best; a call that ran its projections
 * on one path and its attention on the other matches neither. */

typedef enum { ONE_MHA, ONE_MHA_CACHE, ONE_CROSS, ONE_MHA_VARLEN, ONE_MHA_VARLEN_PAGED, ONE_ATTEND_DOT,
               ONE_ATTEND_GENERAL, ONE_ATTEND_ADDITIVE, ONE_KINDS } one_kind;
static const char *const one_name[ONE_KINDS] = {"mha_forward", "mha_forward + cache", "mha_cross",
                                                "mha_forward_varlen", "mha_forward_varlen + paged cache",
                                                "attend dot", "attend general", "attend additive"};

enum { L_DM = 24, L_H = 4, L_KV = 2, L_HD = 6, L_S = 5, L_SKV = 7, L_OUT = L_S * L_DM };
enum { A_B = 1, A_H = 2, A_NQ = 3, A_NK = 9, A_D = 8, A_DV = 5, A_DA = 6, A_OUT = A_B * A_H * A_NQ * A_DV };

typedef struct {
  float w[4 * L_DM * L_H * L_HD], bias[L_DM * 4], x[L_S * L_DM], mem[L_SKV * L_DM];
  float q[A_B * A_H * A_NQ * A_D], k[A_B * A_H * A_NK * A_D], v[A_B * A_H * A_NK * A_DV];
  float fw[A_D * A_D], fu[A_DA * A_D], fv[A_DA];
} one_inputs;

static one_inputs in1;

static vecattn_status one_call(one_kind kind, float *out, int num_threads) {
  vecattn_mha_weights w = {L_DM, L_H, L_KV, L_HD, in1.w, in1.w + L_DM * L_H * L_HD, in1.w + L_DM * (L_H + L_KV) * L_HD,
                           in1.w + L_DM * (L_H + 2 * L_KV) * L_HD, in1.bias, in1.bias + L_DM, NULL, in1.bias + 3 * L_DM,
                           1, 0.0f};
  vecattn_sdpa_opts o = {0};
  o.num_threads = num_threads;
  switch (kind) {
  case ONE_MHA:
  case ONE_MHA_CACHE: {
    o.causal = 1;
    if (kind == ONE_MHA) return vecattn_mha_forward(&w, in1.x, 1, L_S, NULL, out, &o);
    /* one call through the cache: staging, cache views and attention on one path
     * (a later call may take the other path; that is a different call) */
    vecattn_kv_cache *c;
    vecattn_status s = vecattn_kv_cache_create(&c, 1, L_KV, L_HD, L_S + 2);
    if (s != VECATTN_OK) return s;
    s = vecattn_mha_forward(&w, in1.x, 1, L_S, c, out, &o);
    vecattn_kv_cache_destroy(c);
    return s;
  }
  case ONE_CROSS: {
    w.rope = 0;
    return vecattn_mha_cross(&w, in1.x, 1, L_S, in1.mem, L_SKV, out, &o);
  }
  case ONE_MHA_VARLEN:
  case ONE_MHA_VARLEN_PAGED: {
    /* two sequences of 2 and 3 tokens; through a q8_0/f16 paged cache the
     * conversions run on the call's path too */
    o.causal = 1;
    const int32_t cu[3] = {0, 2, L_S}, ids[2] = {1, 0};
    if (kind == ONE_MHA_VARLEN) return vecattn_mha_forward_varlen(&w, in1.x, cu, NULL, 2, NULL, NULL, out, &o);
    vecattn_paged_cache *c;
    const vecattn_paged_cache_desc d = {4, 2, L_KV, L_HD, VECATTN_F16, VECATTN_BF16, 2, NULL, NULL};
    vecattn_status s = vecattn_paged_cache_create(&c, &d);
    if (s != VECATTN_OK) return s;
    s = vecattn_mha_forward_varlen(&w, in1.x, cu, ids, 2, NULL, c, out, &o);
    vecattn_paged_cache_destroy(c);
    return s;
  }
  default: {
    const vecattn_tensor q = vecattn_tensor_bhsd(in1.q, A_B, A_H, A_NQ, A_D),
                         k = vecattn_tensor_bhsd(in1.k, A_B, A_H, A_NK, A_D),
                         v = vecattn_tensor_bhsd(in1.v, A_B, A_H, A_NK, A_DV);
    vecattn_tensor t = vecattn_tensor_bhsd(out, A_B, A_H, A_NQ, A_DV);
    vecattn_score_fn fn = {VECATTN_SCORE_DOT, in1.fw, in1.fu, in1.fv, A_DA};
    if (kind == ONE_ATTEND_GENERAL) fn.kind = VECATTN_SCORE_GENERAL;
    if (kind == ONE_ATTEND_ADDITIVE) fn.kind = VECATTN_SCORE_ADDITIVE, fn.w = in1.fu;
    return vecattn_attend(&fn, &q, &k, &v, &t, &o);
  }
  }
}

static int one_out_floats(one_kind kind) { return kind <= ONE_MHA_VARLEN_PAGED ? L_OUT : A_OUT; }

typedef struct {
  int id, iterations;
  const float (*ref)[2][L_OUT]; /* [ONE_KINDS][path] */
  long calls, mixed;
  char why[200];
} one_worker;

static void *one_worker_main(void *arg) {
  one_worker *w = arg;
  float out[L_OUT];
  for (int it = 0; it < w->iterations; ++it) {
    const one_kind kind = (one_kind)((w->id + it) % ONE_KINDS);
    const size_t bytes = (size_t)one_out_floats(kind) * sizeof(float);
    tu_poison(out, L_OUT);
    const vecattn_status st = one_call(kind, out, w->id % 2);
    w->calls++;
    if (st != VECATTN_OK || (memcmp(out, w->ref[kind][0], bytes) != 0 && memcmp(out, w->ref[kind][1], bytes) != 0)) {
      if (!w->mixed++)
        snprintf(w->why, sizeof w->why, "%s (call %d): status %d, output matches neither the %s nor the other path",
                 one_name[kind], it, (int)st, vecattn_isa_name(VECATTN_ISA_SCALAR));
    }
  }
  atomic_fetch_sub(&workers_running, 1);
  return NULL;
}

START_TEST(test_one_isa_per_call) {
  if (!tu_threads_ok()) {
    printf("SKIP one ISA per call: threads hang under emulation (VECATTN_TEST_EMULATED_THREADS=1 forces)\n");
    return;
  }
  const vecattn_isa best = vecattn_active_isa();
  if (best == VECATTN_ISA_SCALAR) {
    printf("SKIP one ISA per call: only the scalar path is supported here\n");
    return;
  }
  tu_reseed(0x1515A);
  tu_fill_normal((float *)&in1, sizeof in1 / sizeof(float));
  static float ref[ONE_KINDS][2][L_OUT];
  const vecattn_isa paths[2] = {VECATTN_ISA_SCALAR, best};
  for (int k = 0; k < ONE_KINDS; ++k) {
    for (int p = 0; p < 2; ++p) {
      ck_assert_int_eq(vecattn_set_isa(paths[p]), VECATTN_OK);
      ck_assert_int_eq(one_call((one_kind)k, ref[k][p], 1), VECATTN_OK);
    }
    /* the paths must differ, or a mix could not be told apart */
    ck_assert_msg(memcmp(ref[k][0], ref[k][1], (size_t)one_out_floats((one_kind)k) * sizeof(float)) != 0,
                  "%s: scalar and %s agree bitwise; the test cannot see a mix", one_name[k], vecattn_isa_name(best));
  }
  ck_assert_int_eq(vecattn_set_isa(VECATTN_ISA_AUTO), VECATTN_OK);
  static one_worker w[WORKERS];
  atomic_store(&workers_running, WORKERS);
  flipper f = {VECATTN_ISA_SCALAR, best, 0, 0};
  pthread_t tid[WORKERS], ftid;
  ck_assert_int_eq(pthread_create(&ftid, NULL, flipper_main, &f), 0);
  for (int i = 0; i < WORKERS; ++i) {
    w[i] = (one_worker){i, 3000, (const float(*)[2][L_OUT])ref, 0, 0, ""};
    ck_assert_int_eq(pthread_create(&tid[i], NULL, one_worker_main, &w[i]), 0);
  }
  for (int i = 0; i < WORKERS; ++i) pthread_join(tid[i], NULL);
  pthread_join(ftid, NULL);
  ck_assert_int_eq(vecattn_set_isa(VECATTN_ISA_AUTO), VECATTN_OK);
  long calls = 0, mixed = 0;
  for (int i = 0; i < WORKERS; ++i) calls += w[i].calls, mixed += w[i].mixed;
  printf("one ISA per call: %ld layer/attend calls, %ld ISA switches, %ld mixed results\n", calls, f.flips, mixed);
  ck_assert_msg(!f.bad_status, "vecattn_set_isa failed for a supported ISA");
  ck_assert_msg(f.flips > 0, "the ISA never switched during the run");
  for (int i = 0; i < WORKERS; ++i) ck_assert_msg(w[i].mixed == 0, "worker %d: %ld mixed, first: %s", i, w[i].mixed, w[i].why);
}
END_TEST

int main(void) {
  tu_init("concurrency");
  Suite *s = suite_create("concurrency");
  TCase *tc = tcase_create("concurrency");
  tcase_add_test(tc, test_concurrent_calls_while_isa_flips);
  tcase_add_test(tc, test_one_isa_per_call);
  suite_add_tcase(s, tc);
  return tu_run_suite(s);
}
