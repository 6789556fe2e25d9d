/* Cache operations: reading stored K/V back (stored bytes and conversions),
 * truncation (a rejected draft leaves the cache as if never appended), copying
 * a batch row (beam fork), capacity, and bad arguments that change nothing.
 * The layer appends through identity projections, so the stored rows are the
 * inputs rounded to the cache's types. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

enum { B = 3, HKV = 2, HD = 32, DM = HKV * HD, CAP = 20 };

static float eye[DM * DM];
static vecattn_mha_weights weights(void) {
  memset(eye, 0, sizeof eye);
  for (int i = 0; i < DM; ++i) eye[i * DM + i] = 1.0f;
  vecattn_mha_weights w = {0};
  w.d_model = DM, w.n_heads = HKV, w.n_kv_heads = HKV, w.head_dim = HD;
  w.wq = w.wk = w.wv = w.wo = eye;
  return w;
}

/* Appends seq tokens x [B][seq][DM]; y gets the layer's output. */
static void append(vecattn_kv_cache *c, const float *x, int seq, float *y) {
  vecattn_mha_weights w = weights();
  vecattn_sdpa_opts o = {0};
  o.causal = 1;
  ck_assert_int_eq(vecattn_mha_forward(&w, x, B, seq, c, y, &o), VECATTN_OK);
}

START_TEST(test_read_back) {
  tu_reseed(0xCAC4E1u);
  vecattn_kv_cache *c;
  ck_assert_int_eq(vecattn_kv_cache_create_typed(&c, B, HKV, HD, CAP, VECATTN_F16, VECATTN_Q8_0), VECATTN_OK);
  ck_assert_int_eq(vecattn_kv_cache_capacity(c), CAP);
  ck_assert_int_eq(vecattn_kv_cache_capacity(NULL), 0);
  enum { S = 7 };
  float x[B * S * DM], y[B * S * DM];
  tu_fill_normal(x, B * S * DM);
  append(c, x, S, y);
  /* Rows 2..5 of batch row 1, as stored (f16, q8_0) and as f32. */
  enum { P0 = 2, N = 4 };
  uint16_t k16[HKV * N * HD];
  unsigned char vq[HKV * N * HD / 32 * 34];
  float k32[HKV * N * HD], v32[HKV * N * HD];
  ck_assert_int_eq(vecattn_kv_cache_read(c, 1, P0, N, k16, VECATTN_F16, vq, VECATTN_Q8_0), VECATTN_OK);
  ck_assert_int_eq(vecattn_kv_cache_read(c, 1, P0, N, k32, VECATTN_F32, v32, VECATTN_F32), VECATTN_OK);
  for (int h = 0; h < HKV; ++h)
    for (int p = 0; p < N; ++p) {
      const float *src = x + (1 * S + P0 + p) * DM + h * HD;
      uint16_t want16[HD];
      unsigned char wantq[HD / 32 * 34];
      float back[HD];
      vecattn_convert(src, VECATTN_F32, want16, VECATTN_F16, HD);
      vecattn_convert(src, VECATTN_F32, wantq, VECATTN_Q8_0, HD);
      ck_assert_msg(memcmp(k16 + (h * N + p) * HD, want16, sizeof want16) == 0, "K f16 h %d pos %d", h, P0 + p);
      ck_assert_msg(memcmp(vq + (h * N + p) * (HD / 32 * 34), wantq, sizeof wantq) == 0, "V q8_0 h %d pos %d", h, P0 + p);
      vecattn_convert(want16, VECATTN_F16, back, VECATTN_F32, HD);
      ck_assert(memcmp(k32 + (h * N + p) * HD, back, sizeof back) == 0);
      vecattn_convert(wantq, VECATTN_Q8_0, back, VECATTN_F32, HD);
      ck_assert(memcmp(v32 + (h * N + p) * HD, back, sizeof back) == 0);
    }
  /* K only, as bf16 (f16 -> f32 -> bf16). */
  uint16_t kb[HKV * N * HD], want_b[HKV * N * HD];
  ck_assert_int_eq(vecattn_kv_cache_read(c, 1, P0, N, kb, VECATTN_BF16, NULL, VECATTN_F32), VECATTN_OK);
  vecattn_convert(k32, VECATTN_F32, want_b, VECATTN_BF16, HKV * N * HD);
  ck_assert(memcmp(kb, want_b, sizeof kb) == 0);

  /* Bad reads change nothing. */
  float guard[HKV * N * HD];
  tu_poison(guard, HKV * N * HD);
  ck_assert_int_eq(vecattn_kv_cache_read(c, 3, 0, 1, guard, VECATTN_F32, NULL, VECATTN_F32), VECATTN_EINVAL);
  ck_assert_int_eq(vecattn_kv_cache_read(c, 0, 5, 3, guard, VECATTN_F32, NULL, VECATTN_F32), VECATTN_EINVAL);
  ck_assert_int_eq(vecattn_kv_cache_read(c, 0, -1, 1, guard, VECATTN_F32, NULL, VECATTN_F32), VECATTN_EINVAL);
  ck_assert_int_eq(vecattn_kv_cache_read(c, 0, 0, 1, NULL, VECATTN_F32, NULL, VECATTN_F32), VECATTN_EINVAL);
  ck_assert_int_eq(vecattn_kv_cache_read(c, 0, 0, 1, guard, (vecattn_dtype)9, NULL, VECATTN_F32), VECATTN_EINVAL);
  ck_assert_int_eq(vecattn_kv_cache_read(c, 0, 0, 2, guard, VECATTN_F32, guard + 10, VECATTN_F32), VECATTN_EINVAL);
  ck_assert_int_eq(vecattn_kv_cache_read(NULL, 0, 0, 1, guard, VECATTN_F32, NULL, VECATTN_F32), VECATTN_EINVAL);
  for (int i = 0; i < HKV * N * HD; ++i) ck_assert(tu_is_poison(guard[i]));
  ck_assert_int_eq(vecattn_kv_cache_read(c, 0, S, 0, guard, VECATTN_F32, NULL, VECATTN_F32), VECATTN_OK);
  vecattn_kv_cache_destroy(c);
  vecattn_kv_cache *c16;
  ck_assert_int_eq(vecattn_kv_cache_create(&c16, 1, 1, 16, 4), VECATTN_OK);
  ck_assert_int_eq(vecattn_kv_cache_read(c16, 0, 0, 0, guard, VECATTN_Q8_0, NULL, VECATTN_F32), VECATTN_EINVAL);
  vecattn_kv_cache_destroy(c16);
}
END_TEST

/* Draft tokens appended then truncated away: the next step equals a cache
 * that never saw them, bit for bit. */
START_TEST(test_truncate_round_trip) {
  tu_reseed(0xCAC4E2u);
  vecattn_kv_cache *a, *b;
  ck_assert_int_eq(vecattn_kv_cache_create_typed(&a, B, HKV, HD, CAP, VECATTN_BF16, VECATTN_F16), VECATTN_OK);
  ck_assert_int_eq(vecattn_kv_cache_create_typed(&b, B, HKV, HD, CAP, VECATTN_BF16, VECATTN_F16), VECATTN_OK);
  float prefix[B * 5 * DM], draft[B * 3 * DM], next[B * DM], y[B * 5 * DM], ya[B * DM], yb[B * DM];
  tu_fill_normal(prefix, B * 5 * DM), tu_fill_normal(draft, B * 3 * DM), tu_fill_normal(next, B * DM);
  append(a, prefix, 5, y), append(b, prefix, 5, y);
  append(a, draft, 3, y);
  ck_assert_int_eq(vecattn_kv_cache_len(a), 8);
  ck_assert_int_eq(vecattn_kv_cache_truncate(a, 9), VECATTN_EINVAL);
  ck_assert_int_eq(vecattn_kv_cache_truncate(a, -1), VECATTN_EINVAL);
  ck_assert_int_eq(vecattn_kv_cache_truncate(NULL, 0), VECATTN_EINVAL);
  ck_assert_int_eq(vecattn_kv_cache_len(a), 8);
  ck_assert_int_eq(vecattn_kv_cache_truncate(a, 5), VECATTN_OK);
  ck_assert_int_eq(vecattn_kv_cache_len(a), 5);
  append(a, next, 1, ya), append(b, next, 1, yb);
  ck_assert(memcmp(ya, yb, sizeof ya) == 0);
  ck_assert_int_eq(vecattn_kv_cache_truncate(a, 6), VECATTN_OK); /* to its own length: no change */
  ck_assert_int_eq(vecattn_kv_cache_truncate(a, 0), VECATTN_OK);
  ck_assert_int_eq(vecattn_kv_cache_len(a), 0);
  vecattn_kv_cache_destroy(a), vecattn_kv_cache_destroy(b);
}
END_TEST

/* Forking a beam: row 0 copied over row 2, then both decode the same token to
 * the same output; row 1 untouched. */
START_TEST(test_copy_row) {
  tu_reseed(0xCAC4E3u);
  vecattn_kv_cache *c;
  ck_assert_int_eq(vecattn_kv_cache_create_typed(&c, B, HKV, HD, CAP, VECATTN_Q8_0, VECATTN_F32), VECATTN_OK);
  enum { S = 6 };
  float x[B * S * DM], y[B * S * DM], step[B * DM], ys[B * DM];
  tu_fill_normal(x, B * S * DM);
  append(c, x, S, y);
  float r1[HKV * S * HD], r1b[HKV * S * HD], r0[HKV * S * HD], r2[HKV * S * HD];
  ck_assert_int_eq(vecattn_kv_cache_read(c, 1, 0, S, NULL, VECATTN_F32, r1, VECATTN_F32), VECATTN_OK);
  ck_assert_int_eq(vecattn_kv_cache_copy_row(c, 0, 3), VECATTN_EINVAL);
  ck_assert_int_eq(vecattn_kv_cache_copy_row(c, -1, 2), VECATTN_EINVAL);
  ck_assert_int_eq(vecattn_kv_cache_copy_row(NULL, 0, 2), VECATTN_EINVAL);
  ck_assert_int_eq(vecattn_kv_cache_copy_row(c, 0, 2), VECATTN_OK);
  for (int which = 0; which < 2; ++which) {
    ck_assert_int_eq(vecattn_kv_cache_read(c, 0, 0, S, which ? NULL : r0, VECATTN_F32, which ? r0 : NULL, VECATTN_F32), VECATTN_OK);
    ck_assert_int_eq(vecattn_kv_cache_read(c, 2, 0, S, which ? NULL : r2, VECATTN_F32, which ? r2 : NULL, VECATTN_F32), VECATTN_OK);
    ck_assert(memcmp(r0, r2, sizeof r0) == 0);
  }
  ck_assert_int_eq(vecattn_kv_cache_read(c, 1, 0, S, NULL, VECATTN_F32, r1b, VECATTN_F32), VECATTN_OK);
  ck_assert(memcmp(r1, r1b, sizeof r1) == 0);
  tu_fill_normal(step, DM);
  memcpy(step + 2 * DM, step, DM * sizeof(float));
  tu_fill_normal(step + DM, DM);
  append(c, step, 1, ys);
  ck_assert(memcmp(ys, ys + 2 * DM, DM * sizeof(float)) == 0);
  vecattn_kv_cache_destroy(c);
}
END_TEST

/* f32 V behind q8_0 K of one block a row, 3 of them (102 bytes): V once
 * began right after K, misaligned (UBSan reports it in the sanitizer job).
 * The layer's output equals a cache of 4 positions, whose K ends aligned. */
START_TEST(test_values_aligned) {
  tu_reseed(0xA116u);
  enum { D1 = 32, S1 = 3 };
  static float eye1[D1 * D1];
  for (int i = 0; i < D1; ++i) eye1[i * D1 + i] = 1.0f;
  vecattn_mha_weights w = {0};
  w.d_model = D1, w.n_heads = 1, w.n_kv_heads = 1, w.head_dim = D1;
  w.wq = w.wk = w.wv = w.wo = eye1;
  float x[S1 * D1], y3[S1 * D1], y4[S1 * D1];
  tu_fill_normal(x, S1 * D1);
  vecattn_sdpa_opts o = {0};
  o.causal = 1;
  TU_FOR_EACH_ISA(isa) {
    vecattn_kv_cache *c3, *c4;
    ck_assert_int_eq(vecattn_kv_cache_create_typed(&c3, 1, 1, D1, S1, VECATTN_Q8_0, VECATTN_F32), VECATTN_OK);
    ck_assert_int_eq(vecattn_kv_cache_create_typed(&c4, 1, 1, D1, S1 + 1, VECATTN_Q8_0, VECATTN_F32), VECATTN_OK);
    ck_assert_int_eq(vecattn_mha_forward(&w, x, 1, S1, c3, y3, &o), VECATTN_OK);
    ck_assert_int_eq(vecattn_mha_forward(&w, x, 1, S1, c4, y4, &o), VECATTN_OK);
    ck_assert_msg(memcmp(y3, y4, sizeof y3) == 0, "[%s] the cache's capacity changed the output", vecattn_isa_name(isa));
    vecattn_kv_cache_destroy(c3), vecattn_kv_cache_destroy(c4);
  }
}
END_TEST

static Suite *make_suite(void) {
  Suite *s = suite_create("kv_ops");
  TCase *tc = tcase_create("kv_ops");
  tcase_add_test(tc, test_read_back);
  tcase_add_test(tc, test_truncate_round_trip);
  tcase_add_test(tc, test_copy_row);
  tcase_add_test(tc, test_values_aligned);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  tu_init("kv_ops");
  return tu_run_suite(make_suite());
}
