/* The multi-head attention layer and its KV cache, on every ISA path:
 * self- and cross-attention against the float64 reference (odd sizes, GQA/MQA,
 * rotary embeddings on/off, biases on/off, causal on/off); prefill + one-token
 * decode steps through a cache equal one forward over the whole sequence; a
 * full cache, a mismatched cache and bad arguments are rejected with y and the
 * cache unchanged; thread counts give bitwise identical results. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref_mha.h"
#include "testutil.h"

#define TOL 1e-5      /* relative L2 against float64 */
#define DECODE_TOL 1e-5 /* max abs difference, cached decode vs one forward */

typedef struct {
  const char *name;
  int64_t d_model, n_heads, n_kv_heads, head_dim;
  int rope, bias;
  float theta;
  int64_t batch, seq, seq_kv; /* seq_kv: memory length for cross-attention */
} layer_case;

static const layer_case cases[] = {
    {"odd dims, MHA, bias", 33, 3, 0, 11, 0, 1, 0.0f, 2, 7, 5},
    {"GQA 8/2, rope", 64, 8, 2, 8, 1, 0, 0.0f, 1, 19, 23},
    {"MQA, rope theta 500, bias", 48, 4, 1, 12, 1, 1, 500.0f, 3, 9, 4},
    {"d_model != heads*head_dim, rope, bias", 40, 6, 3, 10, 1, 1, 0.0f, 2, 33, 17},
    {"head_dim 64, GQA 4/2", 96, 4, 2, 64, 1, 0, 0.0f, 1, 70, 130},
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

typedef struct {
  vecattn_mha_weights w;
  float *mem; /* all weights and biases */
} layer;

static void layer_make(layer *l, const layer_case *c) {
  l->mem = tu_mha_weights(&l->w, c->d_model, c->n_heads, c->n_kv_heads, c->head_dim, c->bias, c->rope, c->theta);
}

static float *rand_rows(int64_t rows, int64_t cols) {
  float *x = malloc(sizeof(float) * rows * cols);
  tu_fill_normal(x, (size_t)(rows * cols));
  return x;
}

static int all_poison(const float *y, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (!tu_is_poison(y[i])) return 0;
  return 1;
}

static void check_close(const char *what, const layer_case *c, vecattn_isa isa, const float *y, const double *ref,
                        size_t n) {
  size_t bad = 0; /* counted first: each Check assertion records its location */
  for (size_t i = 0; i < n; ++i) bad += !isfinite(y[i]);
  ck_assert_msg(bad == 0, "[isa %s] %s %s: %zu outputs not finite", vecattn_isa_name(isa), c->name, what, bad);
  const double err = tu_rel_l2(y, ref, n);
  if (tu_verbose()) printf("[isa %s] %s %s: rel L2 %.3g\n", vecattn_isa_name(isa), c->name, what, err);
  ck_assert_msg(err <= TOL, "[isa %s] %s %s: rel L2 %.3g > %g", vecattn_isa_name(isa), c->name, what, err, TOL);
}

/* Self-attention without a cache, causal and not. */
START_TEST(test_self_vs_reference) {
  const layer_case *c = &cases[_i];
  tu_reseed(10 + (uint64_t)_i);
  layer l;
  layer_make(&l, c);
  const int64_t n = c->batch * c->seq * c->d_model;
  float *x = rand_rows(c->batch * c->seq, c->d_model), *y = malloc(sizeof(float) * n);
  double *ref = malloc(sizeof(double) * n);
  for (int causal = 0; causal <= 1; ++causal) {
    ref_mha(&l.w, x, c->batch, c->seq, x, c->seq, causal, 1, ref);
    vecattn_sdpa_opts o = {.causal = causal};
    TU_FOR_EACH_ISA(isa) {
      tu_poison(y, (size_t)n);
      ck_assert_int_eq(vecattn_mha_forward(&l.w, x, c->batch, c->seq, NULL, y, &o), VECATTN_OK);
      check_close(causal ? "self causal" : "self", c, isa, y, ref, (size_t)n);
    }
  }
  free(x), free(y), free(ref), free(l.mem);
}
END_TEST

START_TEST(test_cross_vs_reference) {
  const layer_case *c = &cases[_i];
  tu_reseed(20 + (uint64_t)_i);
  layer l;
  layer_make(&l, c);
  const int64_t n = c->batch * c->seq * c->d_model;
  float *x = rand_rows(c->batch * c->seq, c->d_model), *mem = rand_rows(c->batch * c->seq_kv, c->d_model);
  float *y = malloc(sizeof(float) * n);
  double *ref = malloc(sizeof(double) * n);
  ref_mha(&l.w, x, c->batch, c->seq, mem, c->seq_kv, 0, 0, ref);
  TU_FOR_EACH_ISA(isa) {
    tu_poison(y, (size_t)n);
    ck_assert_int_eq(vecattn_mha_cross(&l.w, x, c->batch, c->seq, mem, c->seq_kv, y, NULL), VECATTN_OK);
    check_close("cross", c, isa, y, ref, (size_t)n);
  }
  vecattn_sdpa_opts causal = {.causal = 1};
  tu_poison(y, (size_t)n);
  ck_assert_int_eq(vecattn_mha_cross(&l.w, x, c->batch, c->seq, mem, c->seq_kv, y, &causal), VECATTN_EINVAL);
  ck_assert(all_poison(y, (size_t)n));
  free(x), free(mem), free(y), free(ref), free(l.mem);
}
END_TEST

static double max_abs_diff(const float *a, const float *b, size_t n) {
  double m = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const double d = fabs((double)a[i] - b[i]);
    if (!(d <= m)) m = d; /* NaN wins */
  }
  return m;
}

/* Prefill P tokens, then T single-token steps: each step's output must equal
 * the matching row of one causal forward over all P + T tokens. Also covers a
 * full cache (rejected, nothing changed) and reset. */
START_TEST(test_prefill_decode_equals_full) {
  static const layer_case dc = {"decode GQA rope bias", 48, 6, 2, 8, 1, 1, 0.0f, 2, 0, 0};
  const layer_case *c = &dc;
  const int64_t P = tu_emulated() ? 5 : 13, T = tu_emulated() ? 3 : 7, S = P + T, dm = c->d_model;
  tu_reseed(30);
  layer l;
  layer_make(&l, c);
  float *x = rand_rows(c->batch * S, dm), *full = malloc(sizeof(float) * c->batch * S * dm);
  float *xs = malloc(sizeof(float) * c->batch * S * dm), *ys = malloc(sizeof(float) * c->batch * S * dm);
  vecattn_sdpa_opts o = {.causal = 1};
  TU_FOR_EACH_ISA(isa) {
    ck_assert_int_eq(vecattn_mha_forward(&l.w, x, c->batch, S, NULL, full, &o), VECATTN_OK);
    vecattn_kv_cache *kv;
    ck_assert_int_eq(vecattn_kv_cache_create(&kv, c->batch, 2, c->head_dim, S), VECATTN_OK);
    for (int round = 0; round < 2; ++round) { /* the second round runs after a reset */
      int64_t done = 0;
      while (done < S) {
        const int64_t n = done == 0 ? P : 1;
        for (int64_t b = 0; b < c->batch; ++b) /* this step's tokens, [batch][n][dm] */
          memcpy(xs + b * n * dm, x + (b * S + done) * dm, sizeof(float) * n * dm);
        tu_poison(ys, (size_t)(c->batch * n * dm));
        ck_assert_int_eq(vecattn_mha_forward(&l.w, xs, c->batch, n, kv, ys, &o), VECATTN_OK);
        ck_assert_int_eq(vecattn_kv_cache_len(kv), done + n);
        for (int64_t b = 0; b < c->batch; ++b) {
          const double d = max_abs_diff(ys + b * n * dm, full + (b * S + done) * dm, (size_t)(n * dm));
          ck_assert_msg(d <= DECODE_TOL, "[isa %s] round %d, tokens %lld..%lld, batch %lld: max abs diff %.3g",
                        vecattn_isa_name(isa), round, (long long)done, (long long)(done + n - 1), (long long)b, d);
        }
        done += n;
      }
      /* Full: one more token is refused, y and the cache untouched. */
      tu_poison(ys, (size_t)(c->batch * dm));
      ck_assert_int_eq(vecattn_mha_forward(&l.w, xs, c->batch, 1, kv, ys, &o), VECATTN_ENOSPC);
      ck_assert_int_eq(vecattn_kv_cache_len(kv), S);
      ck_assert(all_poison(ys, (size_t)(c->batch * dm)));
      ck_assert_int_eq(vecattn_kv_cache_reset(kv), VECATTN_OK);
      ck_assert_int_eq(vecattn_kv_cache_len(kv), 0);
    }
    vecattn_kv_cache_destroy(kv);
  }
  free(x), free(full), free(xs), free(ys), free(l.mem);
}
END_TEST

/* A rejected append (too long) leaves the cache usable: decoding continues as
 * if the call had not happened. */
START_TEST(test_rejected_append_keeps_cache) {
  static const layer_case dc = {"cache keep", 32, 4, 2, 8, 1, 0, 0.0f, 1, 0, 0};
  const layer_case *c = &dc;
  tu_reseed(40);
  layer l;
  layer_make(&l, c);
  const int64_t dm = c->d_model, S = 6;
  float *x = rand_rows(S, dm), *full = malloc(sizeof(float) * S * dm), *y = malloc(sizeof(float) * S * dm);
  vecattn_sdpa_opts o = {.causal = 1};
  ck_assert_int_eq(vecattn_mha_forward(&l.w, x, 1, S, NULL, full, &o), VECATTN_OK);
  vecattn_kv_cache *kv;
  ck_assert_int_eq(vecattn_kv_cache_create(&kv, 1, 2, 8, S), VECATTN_OK);
  ck_assert_int_eq(vecattn_mha_forward(&l.w, x, 1, 4, kv, y, &o), VECATTN_OK);
  tu_poison(y, (size_t)(S * dm));
  ck_assert_int_eq(vecattn_mha_forward(&l.w, x + 4 * dm, 1, 3, kv, y, &o), VECATTN_ENOSPC); /* 4 + 3 > 6 */
  ck_assert_str_eq(vecattn_last_error(), "kv cache full: 4 + 3 > max_seq 6");
  ck_assert_int_eq(vecattn_kv_cache_len(kv), 4);
  ck_assert(all_poison(y, (size_t)(S * dm)));
  /* A call that fails inside the attention step (bad kv_len) commits nothing either. */
  const int32_t bad_len[1] = {-1};
  vecattn_sdpa_opts bad = {.causal = 1, .kv_len = bad_len};
  ck_assert_int_eq(vecattn_mha_forward(&l.w, x + 4 * dm, 1, 2, kv, y, &bad), VECATTN_EINVAL);
  ck_assert_int_eq(vecattn_kv_cache_len(kv), 4);
  ck_assert(all_poison(y, (size_t)(S * dm)));
  ck_assert_int_eq(vecattn_mha_forward(&l.w, x + 4 * dm, 1, 2, kv, y, &o), VECATTN_OK);
  ck_assert_int_eq(vecattn_kv_cache_len(kv), 6);
  const double d = max_abs_diff(y, full + 4 * dm, (size_t)(2 * dm));
  ck_assert_msg(d <= DECODE_TOL, "after a rejected append: max abs diff %.3g", d);
  vecattn_kv_cache_destroy(kv);
  free(x), free(full), free(y), free(l.mem);
}
END_TEST

START_TEST(test_threads_bitwise) {
  const layer_case c = {"threads", 80, 8, 2, 10, 1, 1, 0.0f, 2, tu_emulated() ? 20 : 150, 0};
  tu_reseed(50);
  layer l;
  layer_make(&l, &c);
  const int64_t n = c.batch * c.seq * c.d_model;
  float *x = rand_rows(c.batch * c.seq, c.d_model), *y = malloc(sizeof(float) * n);
  static const int counts[] = {1, 2, 3, 7};
  TU_FOR_EACH_ISA(isa) {
    float *first = NULL;
    /* Under qemu-user more than one OpenMP thread can hang: one count only. */
    for (int t = 0; t < (tu_threads_ok() ? 4 : 1); ++t) {
      vecattn_sdpa_opts o = {.causal = 1, .num_threads = counts[t]};
      tu_poison(y, (size_t)n);
      ck_assert_int_eq(vecattn_mha_forward(&l.w, x, c.batch, c.seq, NULL, y, &o), VECATTN_OK);
      if (!first) {
        first = tu_snapshot(y, sizeof(float) * n);
        continue;
      }
      ck_assert_msg(memcmp(first, y, sizeof(float) * n) == 0, "[isa %s] num_threads=%d differs bitwise from 1",
                    vecattn_isa_name(isa), counts[t]);
    }
    free(first);
  }
  free(x), free(y), free(l.mem);
}
END_TEST

START_TEST(test_bad_arguments) {
  const layer_case c = {"bad", 16, 4, 2, 4, 1, 1, 0.0f, 1, 3, 0};
  tu_reseed(60);
  layer l;
  layer_make(&l, &c);
  float *x = rand_rows(8, 16), y[128];
  const vecattn_mha_weights good = l.w;
  vecattn_mha_weights w;
  tu_poison(y, 128);
#define BAD(want, call, what)                                                                    \
  do {                                                                                           \
    const vecattn_status got_ = (call);                                                          \
    ck_assert_msg(got_ == (want), "%s: got %d, want %d", what, got_, want);                      \
    ck_assert_msg(all_poison(y, 128), "%s: y written", what);                                  \
  } while (0)
  BAD(VECATTN_EINVAL, vecattn_mha_forward(NULL, x, 1, 3, NULL, y, NULL), "NULL weights");
  BAD(VECATTN_EINVAL, vecattn_mha_forward(&good, NULL, 1, 3, NULL, y, NULL), "NULL x");
  ck_assert_int_eq(vecattn_mha_forward(&good, x, 1, 3, NULL, NULL, NULL), VECATTN_EINVAL);
  w = good, w.wq = NULL;
  BAD(VECATTN_EINVAL, vecattn_mha_forward(&w, x, 1, 3, NULL, y, NULL), "NULL wq");
  w = good, w.wo = NULL;
  BAD(VECATTN_EINVAL, vecattn_mha_forward(&w, x, 1, 3, NULL, y, NULL), "NULL wo");
  BAD(VECATTN_EINVAL, vecattn_mha_forward(&good, x, 0, 3, NULL, y, NULL), "batch 0");
  BAD(VECATTN_EINVAL, vecattn_mha_forward(&good, x, 1, -2, NULL, y, NULL), "seq < 0");
  w = good, w.n_kv_heads = 3;
  BAD(VECATTN_EINVAL, vecattn_mha_forward(&w, x, 1, 3, NULL, y, NULL), "n_heads % n_kv_heads");
  w = good, w.head_dim = 0;
  BAD(VECATTN_EINVAL, vecattn_mha_forward(&w, x, 1, 3, NULL, y, NULL), "head_dim 0");
  w = good, w.d_model = -16;
  BAD(VECATTN_EINVAL, vecattn_mha_forward(&w, x, 1, 3, NULL, y, NULL), "d_model < 0");
  w = good, w.head_dim = 3, w.n_heads = 4, w.n_kv_heads = 4;
  BAD(VECATTN_EINVAL, vecattn_mha_forward(&w, x, 1, 3, NULL, y, NULL), "rope with odd head_dim");
  w = good, w.rope_theta = -2.0f;
  BAD(VECATTN_EINVAL, vecattn_mha_forward(&w, x, 1, 3, NULL, y, NULL), "rope base < 0");
  w = good, w.n_heads = INT64_C(1) << 62;
  BAD(VECATTN_EOVERFLOW, vecattn_mha_forward(&w, x, 1, 3, NULL, y, NULL), "n_heads * head_dim overflows");
  BAD(VECATTN_EOVERFLOW, vecattn_mha_forward(&good, x, INT64_MAX / 2, 3, NULL, y, NULL), "batch * seq overflows");
  vecattn_sdpa_opts neg = {.num_threads = -1};
  BAD(VECATTN_EINVAL, vecattn_mha_forward(&good, x, 1, 3, NULL, y, &neg), "num_threads < 0");
  BAD(VECATTN_EINVAL, vecattn_mha_cross(&good, x, 1, 3, NULL, 2, y, NULL), "cross: NULL memory");
  BAD(VECATTN_EINVAL, vecattn_mha_cross(&good, x, 1, 3, x, 0, y, NULL), "cross: seq_kv 0");

  /* caches that do not fit the call */
  vecattn_kv_cache *kv;
  ck_assert_int_eq(vecattn_kv_cache_create(&kv, 2, 2, 4, 8), VECATTN_OK);
  BAD(VECATTN_EINVAL, vecattn_mha_forward(&good, x, 1, 3, kv, y, NULL), "cache batch 2, call batch 1");
  vecattn_kv_cache_destroy(kv);
  ck_assert_int_eq(vecattn_kv_cache_create(&kv, 1, 4, 4, 8), VECATTN_OK);
  BAD(VECATTN_EINVAL, vecattn_mha_forward(&good, x, 1, 3, kv, y, NULL), "cache kv heads 4, weights 2");
  vecattn_kv_cache_destroy(kv);
  ck_assert_int_eq(vecattn_kv_cache_create(&kv, 1, 2, 8, 8), VECATTN_OK);
  BAD(VECATTN_EINVAL, vecattn_mha_forward(&good, x, 1, 3, kv, y, NULL), "cache head_dim 8, weights 4");
  ck_assert_int_eq(vecattn_kv_cache_len(kv), 0);
  vecattn_kv_cache_destroy(kv);
#undef BAD

  /* the cache's own calls */
  ck_assert_int_eq(vecattn_kv_cache_create(NULL, 1, 1, 1, 1), VECATTN_EINVAL);
  char not_a_cache;
  kv = (vecattn_kv_cache *)(void *)&not_a_cache; /* a failed create must set NULL */
  ck_assert_int_eq(vecattn_kv_cache_create(&kv, 0, 1, 1, 1), VECATTN_EINVAL);
  ck_assert_ptr_null(kv);
  ck_assert_int_eq(vecattn_kv_cache_create(&kv, 1, -1, 1, 1), VECATTN_EINVAL);
  ck_assert_int_eq(vecattn_kv_cache_create(&kv, 1, 1, 1, 0), VECATTN_EINVAL);
  ck_assert_int_eq(vecattn_kv_cache_create(&kv, INT64_MAX / 4, 4, 8, 8), VECATTN_EOVERFLOW);
  ck_assert_int_eq(vecattn_kv_cache_reset(NULL), VECATTN_EINVAL);
  ck_assert_int_eq(vecattn_kv_cache_len(NULL), 0);
  vecattn_kv_cache_destroy(NULL);
  free(x), free(l.mem);
}
END_TEST

/* In place: y may be x. */
START_TEST(test_in_place) {
  const layer_case c = {"in place", 24, 4, 2, 6, 1, 1, 0.0f, 2, 5, 0};
  tu_reseed(70);
  layer l;
  layer_make(&l, &c);
  const int64_t n = c.batch * c.seq * c.d_model;
  float *x = rand_rows(c.batch * c.seq, c.d_model), *y = malloc(sizeof(float) * n);
  vecattn_sdpa_opts o = {.causal = 1};
  ck_assert_int_eq(vecattn_mha_forward(&l.w, x, c.batch, c.seq, NULL, y, &o), VECATTN_OK);
  ck_assert_int_eq(vecattn_mha_forward(&l.w, x, c.batch, c.seq, NULL, x, &o), VECATTN_OK);
  ck_assert(memcmp(x, y, sizeof(float) * n) == 0);
  free(x), free(y), free(l.mem);
}
END_TEST

static Suite *make_suite(void) {
  Suite *s = suite_create("mha");
  TCase *tc = tcase_create("mha");
  tcase_add_loop_test(tc, test_self_vs_reference, 0, NCASES);
  tcase_add_loop_test(tc, test_cross_vs_reference, 0, NCASES);
  tcase_add_test(tc, test_prefill_decode_equals_full);
  tcase_add_test(tc, test_rejected_append_keeps_cache);
  tcase_add_test(tc, test_threads_bitwise);
  tcase_add_test(tc, test_bad_arguments);
  tcase_add_test(tc, test_in_place);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  tu_init("mha");
  return tu_run_suite(make_suite());
}
