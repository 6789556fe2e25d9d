/* Tensor data at any address (API.md: "No alignment is required of data"):
 * every entry point that takes vecattn_tensor data gets its tensors one byte
 * past an aligned copy and must give the same bits. On x86 the misaligned
 * loads worked anyway; in C they were undefined (UBSan, run on this suite in
 * the sanitizer job, reported the scalar path, the gemm's broadcasts, the
 * queries' and bias's reads, the weights' rows and merge's parts), and 32-bit
 * ARM faults on a misaligned float load. Every ISA, every K/V type, f16
 * queries and outputs, decode and prefill, reduced precision or not. */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

enum { H = 2, D = 32, NK = 37 };

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
  TU_FOR_EACH_ISA(isa) {
    for (int t = 0; t < VECATTN_DTYPE_COUNT; ++t)
      for (int nq = 1; nq <= 40; nq += 39)
        for (int rp = 0; rp < 2; ++rp) {
          const vecattn_dtype kt = (vecattn_dtype)t, qt = t % 2 ? VECATTN_F16 : VECATTN_F32;
          twin q, k, v, out, w, bias, part;
          twin_make(&q, qt, (size_t)H * nq * D), twin_make(&k, kt, (size_t)H * NK * D);
          twin_make(&v, kt, (size_t)H * NK * D), twin_make(&out, qt, (size_t)H * nq * D);
          twin_make(&w, VECATTN_F32, (size_t)H * nq * NK), twin_make(&bias, qt, (size_t)H * nq * NK);
          twin_make(&part, qt, (size_t)H * nq * D);
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
          }
          expect_same(&out, "vecattn_sdpa", isa, kt, nq, rp);
          expect_same(&w, "vecattn_attention_weights", isa, kt, nq, rp);
          expect_same(&part, "vecattn_merge", isa, kt, nq, rp);
          twin_free(&q), twin_free(&k), twin_free(&v), twin_free(&out), twin_free(&w), twin_free(&bias),
              twin_free(&part);
        }
  }
}
END_TEST

int main(void) {
  tu_init("unaligned");
  Suite *s = suite_create("unaligned");
  TCase *tc = tcase_create("unaligned");
  tcase_add_test(tc, test_unaligned_data);
  suite_add_tcase(s, tc);
  return tu_run_suite(s);
}
