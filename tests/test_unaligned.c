/* Tensor data at any address (API.md: "No alignment is required of data"):
 * the entry points that take vecattn_tensor data (sdpa, weights, merge,
 * attend, varlen, the paged cache over caller pools) get their tensors one
 * byte past an aligned copy and must give the same bits. On x86 the misaligned
 * loads worked anyway; in C they were undefined (UBSan, run on this suite in
 * the sanitizer job, reported the scalar path, the gemm's broadcasts, the
 * queries' and bias's reads, the weights' rows and merge's parts), and 32-bit
 * ARM faults on a misaligned float load. Every ISA, every K/V type, f16
 * queries and outputs, decode and prefill, reduced precision or not. */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

enum { H = 2, D = 32, NK = 37, DA = 8 };

/* Additive scores' W_q = W_k [DA x D] and v [DA]. */
static float weights_da[DA * D], weights_v[DA];

/* n elements of type t, random, at an aligned address and one byte past another. */
typedef struct {
  unsigned char *raw[2];
  void *p[2]; /* aligned, odd */
  size_t bytes;
} twin;

static void twin_make(twin *x, vecattn_dtype t, size_t n) {
  x->bytes = vecattn_dtype_bytes(t, (int64_t)n);
  for (int i = 0; i < 2; ++i) {
    x->raw[i] = malloc(x->bytes + 64);
    ck_assert(x->raw[i]);
    x->p[i] = x->raw[i] + (i ? 1 : 0);
  }
  float *f = malloc(n * sizeof(float));
  tu_fill_normal(f, n);
  ck_assert_int_eq(vecattn_convert(f, VECATTN_F32, x->p[0], t, (int64_t)n), VECATTN_OK);
  memcpy(x->p[1], x->p[0], x->bytes);
  free(f);
}

static void twin_free(twin *x) { free(x->raw[0]), free(x->raw[1]); }

static void expect_same(const twin *x, const char *what, vecattn_isa isa, vecattn_dtype kt, int nq, int rp) {
  ck_assert_msg(memcmp(x->p[0], x->p[1], x->bytes) == 0, "[%s] %s, k/v %s, Nq %d, reduced precision %d: "
                "data one byte off changed the result", vecattn_isa_name(isa), what, vecattn_dtype_name(kt), nq, rp);
}

START_TEST(test_unaligned_data) {
  tu_reseed(0x0DDu);
  tu_fill_normal(weights_da, DA * D), tu_fill_normal(weights_v, DA);
  for (int i = 0; i < DA * D; ++i) weights_da[i] *= 0.125f;
  TU_FOR_EACH_ISA(isa) {
    for (int t = 0; t < VECATTN_DTYPE_COUNT; ++t)
      for (int nq = 1; nq <= 40; nq += 39)
        for (int rp = 0; rp < 2; ++rp) {
          const vecattn_dtype kt = (vecattn_dtype)t, qt = t % 2 ? VECATTN_F16 : VECATTN_F32;
          twin q, k, v, out, w, bias, part, att, vout;
          twin_make(&q, qt, (size_t)H * nq * D), twin_make(&k, kt, (size_t)H * NK * D);
          twin_make(&v, kt, (size_t)H * NK * D), twin_make(&out, qt, (size_t)H * nq * D);
          twin_make(&w, VECATTN_F32, (size_t)H * nq * NK), twin_make(&bias, qt, (size_t)H * nq * NK);
          twin_make(&part, qt, (size_t)H * nq * D), twin_make(&att, qt, (size_t)H * nq * D);
          twin_make(&vout, qt, (size_t)H * nq * D);
          float lse[2][H * 40];
          for (int i = 0; i < 2; ++i) {
            vecattn_tensor tq = vecattn_tensor_bhsd_typed(q.p[i], qt, 1, H, nq, D);
            vecattn_tensor tk = vecattn_tensor_bhsd_typed(k.p[i], kt, 1, H, NK, D);
            vecattn_tensor tv = vecattn_tensor_bhsd_typed(v.p[i], kt, 1, H, NK, D);
            vecattn_tensor to = vecattn_tensor_bhsd_typed(out.p[i], qt, 1, H, nq, D);
            vecattn_tensor tw = vecattn_tensor_bhsd(w.p[i], 1, H, nq, NK);
            vecattn_tensor tb = vecattn_tensor_bhsd_typed(bias.p[i], qt, 1, H, nq, NK);
            vecattn_tensor tp = vecattn_tensor_bhsd_typed(part.p[i], qt, 1, H, nq, D);
            vecattn_sdpa_opts o = {0};
            o.reduced_precision = rp, o.causal = 1, o.bias = &tb, o.lse = lse[i];
            ck_assert_int_eq(vecattn_sdpa(&tq, &tk, &tv, &to, &o), VECATTN_OK);
            o.bias = NULL, o.lse = NULL;
            ck_assert_int_eq(vecattn_attention_weights(&tq, &tk, &tw, &o), VECATTN_OK);
            /* the output merged as the only part: it reads out's rows, writes part's */
            const float *part_lse[1] = {lse[i]};
            ck_assert_int_eq(vecattn_merge(&to, part_lse, 1, &tp, NULL, 1), VECATTN_OK);
            /* additive scores (they widen q and k first), then two ragged sequences */
            vecattn_tensor ta = vecattn_tensor_bhsd_typed(att.p[i], qt, 1, H, nq, D);
            const vecattn_score_fn fn = {VECATTN_SCORE_ADDITIVE, weights_da, weights_da, weights_v, DA};
            ck_assert_int_eq(vecattn_attend(&fn, &tq, &tk, &tv, &ta, &o), VECATTN_OK);
            vecattn_tensor tvo = vecattn_tensor_bhsd_typed(vout.p[i], qt, 1, H, nq, D);
            const int32_t cq[3] = {0, nq / 2, nq}, ck[3] = {0, NK / 3, NK};
            ck_assert_int_eq(vecattn_sdpa_varlen(&tq, &tk, &tv, &tvo, cq, ck, 2, &o), VECATTN_OK);
          }
          expect_same(&out, "vecattn_sdpa", isa, kt, nq, rp);
          expect_same(&w, "vecattn_attention_weights", isa, kt, nq, rp);
          expect_same(&part, "vecattn_merge", isa, kt, nq, rp);
          expect_same(&att, "vecattn_attend (additive)", isa, kt, nq, rp);
          expect_same(&vout, "vecattn_sdpa_varlen", isa, kt, nq, rp);
          twin_free(&q), twin_free(&k), twin_free(&v), twin_free(&out), twin_free(&w), twin_free(&bias),
              twin_free(&part), twin_free(&att), twin_free(&vout);
        }
  }
}
END_TEST

/* A paged cache over caller-owned pools one byte off, filled from typed rows
 * one byte off, then decoded and read back: the same bits as aligned. */
START_TEST(test_unaligned_pools) {
  tu_reseed(0x0DEu);
  enum { BLOCKS = 4, BS = 8, NEW = 11 };
  TU_FOR_EACH_ISA(isa) {
    for (int t = 0; t < VECATTN_DTYPE_COUNT; ++t) {
      const vecattn_dtype kt = (vecattn_dtype)t, qt = t % 2 ? VECATTN_BF16 : VECATTN_F32;
      const size_t pool_elems = (size_t)BLOCKS * BS * H * D;
      twin kp, vp, kn, vn, q, out, rk;
      twin_make(&kp, kt, pool_elems), twin_make(&vp, kt, pool_elems);
      twin_make(&kn, kt, (size_t)NEW * H * D), twin_make(&vn, kt, (size_t)NEW * H * D);
      twin_make(&q, qt, (size_t)2 * H * D), twin_make(&out, qt, (size_t)2 * H * D);
      twin_make(&rk, kt, (size_t)NEW * H * D);
      for (int i = 0; i < 2; ++i) {
        vecattn_paged_cache_desc d = {BLOCKS, BS, H, D, kt, kt, 2, kp.p[i], vp.p[i]};
        vecattn_paged_cache *c;
        ck_assert_int_eq(vecattn_paged_cache_create(&c, &d), VECATTN_OK);
        const vecattn_tensor tk = vecattn_tensor_bshd_typed(kn.p[i], kt, 1, NEW, H, D);
        const vecattn_tensor tv = vecattn_tensor_bshd_typed(vn.p[i], kt, 1, NEW, H, D);
        const int32_t ids[2] = {0, 1}, cu[3] = {0, 4, NEW}, cq[3] = {0, 1, 2};
        ck_assert_int_eq(vecattn_paged_cache_append(c, ids, cu, 2, &tk, &tv), VECATTN_OK);
        vecattn_tensor tq = vecattn_tensor_bshd_typed(q.p[i], qt, 1, 2, H, D);
        vecattn_tensor to = vecattn_tensor_bshd_typed(out.p[i], qt, 1, 2, H, D);
        ck_assert_int_eq(vecattn_sdpa_paged(&tq, &to, c, ids, cq, 2, NULL), VECATTN_OK);
        ck_assert_int_eq(vecattn_paged_cache_read(c, 1, 0, NEW - 4, rk.p[i], kt, NULL, VECATTN_F32), VECATTN_OK);
        vecattn_paged_cache_destroy(c);
      }
      expect_same(&kp, "paged K pool", isa, kt, 1, 0);
      expect_same(&out, "vecattn_sdpa_paged", isa, kt, 1, 0);
      expect_same(&rk, "vecattn_paged_cache_read", isa, kt, 1, 0);
      twin_free(&kp), twin_free(&vp), twin_free(&kn), twin_free(&vn), twin_free(&q), twin_free(&out), twin_free(&rk);
    }
  }
}
END_TEST

int main(void) {
  tu_init("unaligned");
  Suite *s = suite_create("unaligned");
  TCase *tc = tcase_create("unaligned");
  tcase_add_test(tc, test_unaligned_data);
  tcase_add_test(tc, test_unaligned_pools);
  suite_add_tcase(s, tc);
  return tu_run_suite(s);
}
