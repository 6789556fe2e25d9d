/* Bitwise determinism: on one ISA, vecattn_sdpa gives the same bits (out
 * and lse) for num_threads in {1,2,3,7} (and 0, the OpenMP default), for a
 * prefill shape and for decode shapes, where keys are split across threads
 * and the partial results merged. And every ISA path agrees with every
 * other within 1e-5 relative L2. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref.h"
#include "testutil.h"

#define TOL 1e-5

typedef struct {
  const char *name;
  int b, hq, hkv, nq, nk, d;
  int causal, window, kv_len;
} det_case;

static const det_case cases[] = {
    {"prefill causal B=2 Hq=4 Hkv=2 N=300 D=64", 2, 4, 2, 300, 300, 64, 1, 0, 0},
    {"decode Nq=1 Nk=5000 Hq=8 Hkv=2 D=128", 2, 8, 2, 1, 5000, 128, 0, 0, 0},
    {"decode Nq=1 Nk=5000 kv_len={5000,3001} window=4000", 2, 8, 2, 1, 5000, 64, 0, 4000, 1},
    {"speculative Nq=4 Nk=3000 causal MQA", 1, 8, 1, 4, 3000, 80, 1, 0, 0},
    {"decode Nq=1 Nk=4096 B=4 Hq=32 Hkv=8 D=64: kv heads grouped, keys split", 4, 32, 8, 1, 4096, 64, 0, 0, 0},
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

static const int all_threads[] = {1, 2, 3, 7, 0};
/* Under emulation threads hang (see tu_threads_ok): only 1 and 0 (the
 * OpenMP default, 1 there as CI sets OMP_NUM_THREADS=1). */
static const int emu_threads[] = {1, 0};
static const int *threads = all_threads;
static int NTHREADS = (int)(sizeof all_threads / sizeof all_threads[0]);

typedef struct {
  tu_tensor q, k, v, out;
  float *lse;
  size_t rows;
  int32_t kv_len[2];
  vecattn_sdpa_opts opts;
} fixture;

static void setup(fixture *f, const det_case *c, uint64_t salt) {
  tu_reseed(salt);
  memset(f, 0, sizeof *f);
  tu_tensor_make(&f->q, TU_BSHD, c->b, c->hq, c->nq, c->d);
  tu_tensor_make(&f->k, TU_BSHD, c->b, c->hkv, c->nk, c->d);
  tu_tensor_make(&f->v, TU_BSHD, c->b, c->hkv, c->nk, c->d);
  tu_tensor_make(&f->out, TU_BHSD, c->b, c->hq, c->nq, c->d);
  tu_tensor_fill_normal(&f->q), tu_tensor_fill_normal(&f->k), tu_tensor_fill_normal(&f->v);
  f->rows = (size_t)c->b * c->hq * c->nq;
  f->lse = tu_guarded_alloc(f->rows * sizeof(float), 4);
  f->opts.causal = c->causal;
  f->opts.window = c->window;
  f->kv_len[0] = c->nk;
  f->kv_len[1] = c->nk * 3 / 5 + 1;
  if (c->kv_len) f->opts.kv_len = f->kv_len;
  f->opts.lse = f->lse;
}

static void teardown(fixture *f) {
  tu_guarded_free(f->lse);
  tu_tensor_free(&f->q), tu_tensor_free(&f->k), tu_tensor_free(&f->v), tu_tensor_free(&f->out);
}

static void run(fixture *f, int nthreads, const char *label, vecattn_isa isa) {
  tu_tensor_poison(&f->out);
  tu_poison(f->lse, f->rows);
  f->opts.num_threads = nthreads;
  vecattn_status st = vecattn_sdpa(&f->q.t, &f->k.t, &f->v.t, &f->out.t, &f->opts);
  ck_assert_msg(st == VECATTN_OK, "%s [isa %s, num_threads=%d]: status %d (%s)", label, vecattn_isa_name(isa),
                nthreads, (int)st, vecattn_strerror(st));
  ck_assert_msg(tu_tensor_guard_ok(&f->out) && tu_guard_ok(f->lse), "%s [isa %s, num_threads=%d]: guard bytes",
                label, vecattn_isa_name(isa), nthreads);
  size_t nf = tu_count_nonfinite_tensor(&f->out.t);
  ck_assert_msg(nf == 0, "%s [isa %s, num_threads=%d]: %zu non-finite outputs", label, vecattn_isa_name(isa),
                nthreads, nf);
}

START_TEST(test_threads_bitwise) {
  const det_case *c = &cases[_i];
  fixture f;
  setup(&f, c, 0xDE7000u + (uint64_t)_i);
  size_t ob = f.out.n * sizeof(float), lb = f.rows * sizeof(float);
  TU_FOR_EACH_ISA(isa) {
    run(&f, 1, c->name, isa);
    void *out1 = tu_snapshot(f.out.storage, ob), *lse1 = tu_snapshot(f.lse, lb);
    for (int t = 0; t < NTHREADS; t++) {
      for (int rep = 0; rep < 2; rep++) {
        run(&f, threads[t], c->name, isa);
        ck_assert_msg(memcmp(out1, f.out.storage, ob) == 0,
                      "%s [isa %s]: out with num_threads=%d (call %d) differs bitwise from num_threads=1", c->name,
                      vecattn_isa_name(isa), threads[t], rep + 1);
        ck_assert_msg(memcmp(lse1, f.lse, lb) == 0,
                      "%s [isa %s]: lse with num_threads=%d (call %d) differs bitwise from num_threads=1", c->name,
                      vecattn_isa_name(isa), threads[t], rep + 1);
      }
    }
    free(out1), free(lse1);
  }
  teardown(&f);
}
END_TEST

/* Every ISA against the scalar path (and the float64 reference). */
START_TEST(test_isas_agree) {
  const det_case *c = &cases[_i];
  fixture f;
  setup(&f, c, 0xDE7100u + (uint64_t)_i);
  double *first = malloc(sizeof(double) * f.rows * c->d), *first_lse = malloc(sizeof(double) * f.rows);
  double *ref = malloc(sizeof(double) * f.rows * c->d), *ref_lse = malloc(sizeof(double) * f.rows);
  ck_assert(first && first_lse && ref && ref_lse);
  ref_sdpa(&f.q.t, &f.k.t, &f.v.t, &f.opts, ref, ref_lse);
  vecattn_isa first_isa = TU_ISA_DONE;
  TU_FOR_EACH_ISA(isa) {
    run(&f, tu_threads_ok() ? 2 : 1, c->name, isa);
    tu_check_sdpa_result(c->name, isa, &f.out, f.lse, ref, ref_lse, TOL);
    if (first_isa == TU_ISA_DONE) {
      first_isa = isa;
      size_t o = 0;
      for (int64_t b = 0; b < c->b; b++)
        for (int64_t h = 0; h < c->hq; h++)
          for (int64_t i = 0; i < c->nq; i++)
            for (int64_t d = 0; d < c->d; d++) first[o++] = *tu_at(&f.out.t, b, h, i, d);
      for (size_t r = 0; r < f.rows; r++) first_lse[r] = f.lse[r];
      continue;
    }
    double e = tu_rel_l2_tensor(&f.out.t, first);
    ck_assert_msg(e <= TOL, "%s: isa %s and isa %s disagree: out relative L2 %.3e", c->name, vecattn_isa_name(isa),
                  vecattn_isa_name(first_isa), e);
    size_t mism = 0;
    double el = tu_rel_l2_lse(f.lse, first_lse, f.rows, &mism);
    ck_assert_msg(mism == 0 && el <= TOL, "%s: isa %s and isa %s disagree: lse relative L2 %.3e (%zu mismatched)",
                  c->name, vecattn_isa_name(isa), vecattn_isa_name(first_isa), el, mism);
  }
  free(first), free(first_lse), free(ref), free(ref_lse);
  teardown(&f);
}
END_TEST

/* attention_weights takes the same opts; its result must not depend on
 * num_threads either. */
START_TEST(test_weights_threads_bitwise) {
  tu_reseed(0xDE7200u);
  const int B = 2, Hq = 4, Hkv = 2, Nq = 70, Nk = 300, D = 64;
  tu_tensor q, k, w;
  tu_tensor_make(&q, TU_BHSD, B, Hq, Nq, D);
  tu_tensor_make(&k, TU_BHSD, B, Hkv, Nk, D);
  tu_tensor_make(&w, TU_BHSD, B, Hq, Nq, Nk);
  tu_tensor_fill_normal(&q), tu_tensor_fill_normal(&k);
  vecattn_sdpa_opts opts;
  memset(&opts, 0, sizeof opts);
  opts.causal = 1;
  size_t wb = w.n * sizeof(float);
  TU_FOR_EACH_ISA(isa) {
    tu_tensor_poison(&w);
    opts.num_threads = 1;
    ck_assert_int_eq(vecattn_attention_weights(&q.t, &k.t, &w.t, &opts), VECATTN_OK);
    void *w1 = tu_snapshot(w.storage, wb);
    for (int t = 0; t < NTHREADS; t++) {
      tu_tensor_poison(&w);
      opts.num_threads = threads[t];
      ck_assert_int_eq(vecattn_attention_weights(&q.t, &k.t, &w.t, &opts), VECATTN_OK);
      ck_assert_msg(memcmp(w1, w.storage, wb) == 0, "[isa %s] weights with num_threads=%d differ bitwise",
                    vecattn_isa_name(isa), threads[t]);
    }
    free(w1);
  }
  tu_tensor_free(&q), tu_tensor_free(&k), tu_tensor_free(&w);
}
END_TEST

static Suite *make_suite(void) {
  Suite *s = suite_create("determinism");
  TCase *tc = tcase_create("determinism");
  tcase_add_loop_test(tc, test_threads_bitwise, 0, NCASES);
  tcase_add_loop_test(tc, test_isas_agree, 0, NCASES);
  tcase_add_test(tc, test_weights_threads_bitwise);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  tu_init("determinism");
  if (!tu_threads_ok()) {
    threads = emu_threads;
    NTHREADS = (int)(sizeof emu_threads / sizeof emu_threads[0]);
    printf("EMULATED: num_threads in {1, 0} only: threads hang under qemu-user "
           "(VECATTN_TEST_EMULATED_THREADS=1 runs {1,2,3,7,0})\n");
    fflush(stdout);
  }
  return tu_run_suite(make_suite());
}
