/* vecattn_matmul: every ISA path against the float64 reference over odd sizes
 * (register-block, panel and K-step edges, the few-rows dot-product path),
 * with and without bias, to 1e-5 relative L2; bitwise identical results for
 * any thread count; and rejected arguments that leave y untouched. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref_mha.h"
#include "testutil.h"

#define TOL 1e-5

typedef struct {
  float *x, *w, *bias, *y;
  double *ref;
  double scale; /* the norm errors are relative to */
} mm_case;

/* ||ref||, or when cancellation makes the outputs unusually small (a single
 * output can land near 0), the size of the terms: ||sum_p |x w| + |b||| / sqrt(k),
 * which for random data sits below ||ref||, so it only takes over in that case. */
static double error_scale(const mm_case *c, int64_t m, int64_t k, int64_t n) {
  double ref2 = 0.0, abs2 = 0.0;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double a = c->bias ? fabs(c->bias[j]) : 0.0;
      for (int64_t p = 0; p < k; ++p) a += fabs((double)c->x[i * k + p] * c->w[j * k + p]);
      abs2 += a * a;
      ref2 += c->ref[i * n + j] * c->ref[i * n + j];
    }
  return fmax(sqrt(ref2), sqrt(abs2 / (double)k));
}

static void mm_make(mm_case *c, int64_t m, int64_t k, int64_t n, int with_bias) {
  c->x = malloc(sizeof(float) * m * k);
  c->w = malloc(sizeof(float) * n * k);
  c->bias = with_bias ? malloc(sizeof(float) * n) : NULL;
  c->y = malloc(sizeof(float) * m * n);
  c->ref = malloc(sizeof(double) * m * n);
  tu_fill_normal(c->x, (size_t)(m * k));
  tu_fill_normal(c->w, (size_t)(n * k));
  if (c->bias) tu_fill_normal(c->bias, (size_t)n);
  ref_matmul(c->x, m, k, c->w, n, c->bias, c->ref);
  c->scale = error_scale(c, m, k, n);
}

static void mm_free(mm_case *c) { free(c->x), free(c->w), free(c->bias), free(c->y), free(c->ref); }

/* Runs one product on the active ISA and checks it against the reference. */
static void mm_check(mm_case *c, int64_t m, int64_t k, int64_t n, int threads, vecattn_isa isa) {
  const size_t ny = (size_t)(m * n);
  tu_poison(c->y, ny);
  ck_assert_int_eq(vecattn_matmul(c->x, m, k, c->w, n, c->bias, c->y, threads), VECATTN_OK);
  /* Check's assertions are costly (each records its location): count first. */
  size_t unwritten = 0;
  for (size_t i = 0; i < ny; ++i) unwritten += tu_is_poison(c->y[i]) != 0;
  ck_assert_msg(unwritten == 0, "[isa %s] m=%lld k=%lld n=%lld: %zu outputs not written", vecattn_isa_name(isa),
                (long long)m, (long long)k, (long long)n, unwritten);
  double d2 = 0.0;
  for (size_t i = 0; i < ny; ++i) d2 += (c->y[i] - c->ref[i]) * (c->y[i] - c->ref[i]);
  const double err = isnan(d2) ? INFINITY : sqrt(d2) / c->scale;
  if (tu_verbose()) printf("[isa %s] m=%lld k=%lld n=%lld bias=%d: rel L2 %.3g\n", vecattn_isa_name(isa),
                           (long long)m, (long long)k, (long long)n, c->bias != NULL, err);
  ck_assert_msg(err <= TOL, "[isa %s] m=%lld k=%lld n=%lld bias=%d: rel L2 %.3g > %g", vecattn_isa_name(isa),
                (long long)m, (long long)k, (long long)n, c->bias != NULL, err, TOL);
}

static const int64_t odd[] = {1, 3, 17, 63, 65, 127, 129};
#define NODD ((int)(sizeof odd / sizeof odd[0]))

/* Every (m, k, n) from the odd sizes; under emulation a diagonal slice. */
START_TEST(test_odd_sizes) {
  const int with_bias = _i;
  tu_reseed(100 + (uint64_t)with_bias);
  for (int a = 0; a < NODD; ++a)
    for (int b = 0; b < NODD; ++b)
      for (int e = 0; e < NODD; ++e) {
        if (tu_emulated() && (a + b + e) % 3 != 0) continue;
        const int64_t m = odd[a], k = odd[b], n = odd[e];
        mm_case c;
        mm_make(&c, m, k, n, with_bias);
        TU_FOR_EACH_ISA(isa) mm_check(&c, m, k, n, 0, isa);
        mm_free(&c);
      }
}
END_TEST

/* Several K steps, row blocks and column tasks, ragged everywhere, and the
 * switch between the dot-product and the packed paths (m = 128 / 129). */
static const int64_t big[][3] = {
    {200, 600, 300}, {128, 515, 70}, {129, 515, 70}, {97, 257, 1000}, {1, 2000, 129}, {300, 40, 2050},
};
#define NBIG ((int)(sizeof big / sizeof big[0]))

START_TEST(test_blocked_sizes) {
  tu_reseed(200 + (uint64_t)_i);
  const int64_t m = big[_i][0], k = big[_i][1], n = big[_i][2];
  if (tu_emulated() && m * k * n > 5000000) return;
  mm_case c;
  mm_make(&c, m, k, n, _i % 2);
  TU_FOR_EACH_ISA(isa) mm_check(&c, m, k, n, 0, isa);
  mm_free(&c);
}
END_TEST

static const int thread_counts[] = {1, 2, 3, 7};

START_TEST(test_threads_bitwise) {
  /* packed (m > 128, several tasks) and dot-product paths; smaller under emulation */
  static const int64_t shapes[][3] = {{257, 300, 520}, {5, 333, 100}}, small[][3] = {{150, 70, 140}, {5, 33, 100}};
  const int64_t(*sh)[3] = tu_emulated() ? small : shapes;
  const int64_t m = sh[_i][0], k = sh[_i][1], n = sh[_i][2];
  tu_reseed(300 + (uint64_t)_i);
  mm_case c;
  mm_make(&c, m, k, n, 1);
  const size_t bytes = sizeof(float) * (size_t)(m * n);
  TU_FOR_EACH_ISA(isa) {
    float *first = NULL;
    /* Under qemu-user more than one OpenMP thread can hang: one count only. */
    for (int t = 0; t < (tu_threads_ok() ? 4 : 1); ++t) {
      mm_check(&c, m, k, n, thread_counts[t], isa);
      if (!first) {
        first = tu_snapshot(c.y, bytes);
        continue;
      }
      ck_assert_msg(memcmp(first, c.y, bytes) == 0, "[isa %s] m=%lld: num_threads=%d differs bitwise from 1",
                    vecattn_isa_name(isa), (long long)m, thread_counts[t]);
    }
    free(first);
  }
  mm_free(&c);
}
END_TEST

/* A rejected call returns its code and writes nothing. */
static void expect(vecattn_status got, vecattn_status want, const float *y, size_t n, const char *what) {
  ck_assert_msg(got == want, "%s: got %d, want %d", what, got, want);
  size_t written = 0;
  for (size_t i = 0; i < n; ++i) written += !tu_is_poison(y[i]);
  ck_assert_msg(written == 0, "%s: %zu outputs written", what, written);
}

START_TEST(test_bad_arguments) {
  float x[12], w[12], b[4], y[64];
  tu_fill_normal(x, 12), tu_fill_normal(w, 12), tu_fill_normal(b, 4);
  tu_poison(y, 64);
  expect(vecattn_matmul(NULL, 4, 3, w, 4, NULL, y, 0), VECATTN_EINVAL, y, 64, "NULL x");
  expect(vecattn_matmul(x, 4, 3, NULL, 4, NULL, y, 0), VECATTN_EINVAL, y, 64, "NULL w");
  expect(vecattn_matmul(x, 4, 3, w, 4, NULL, NULL, 0), VECATTN_EINVAL, y, 64, "NULL y");
  expect(vecattn_matmul(x, 0, 3, w, 4, NULL, y, 0), VECATTN_EINVAL, y, 64, "m = 0");
  expect(vecattn_matmul(x, -4, 3, w, 4, NULL, y, 0), VECATTN_EINVAL, y, 64, "m < 0");
  expect(vecattn_matmul(x, 4, 0, w, 4, NULL, y, 0), VECATTN_EINVAL, y, 64, "k = 0");
  expect(vecattn_matmul(x, 4, 3, w, -1, NULL, y, 0), VECATTN_EINVAL, y, 64, "n < 0");
  expect(vecattn_matmul(x, 4, 3, w, 4, NULL, y, -1), VECATTN_EINVAL, y, 64, "num_threads < 0");
  expect(vecattn_matmul(x, INT64_MAX / 2, 3, w, 4, NULL, y, 0), VECATTN_EOVERFLOW, y, 64, "m * k overflows");
  expect(vecattn_matmul(x, 4, 3, w, INT64_MAX / 3, NULL, y, 0), VECATTN_EOVERFLOW, y, 64, "n * k overflows");
  expect(vecattn_matmul(x, INT64_C(1) << 40, 1, w, INT64_C(1) << 40, NULL, y, 0), VECATTN_EOVERFLOW, y, 64,
         "m * n overflows");
  /* y over the inputs */
  expect(vecattn_matmul(y + 4, 4, 3, w, 4, NULL, y, 0), VECATTN_EINVAL, y, 64, "y overlaps x");
  expect(vecattn_matmul(x, 4, 3, y + 15, 4, NULL, y, 0), VECATTN_EINVAL, y, 64, "y overlaps w");
  expect(vecattn_matmul(x, 4, 3, w, 4, y + 2, y, 0), VECATTN_EINVAL, y, 64, "y overlaps bias");
  /* and the same call with valid arguments runs */
  ck_assert_int_eq(vecattn_matmul(x, 4, 3, w, 4, b, y, 0), VECATTN_OK);
}
END_TEST

static Suite *make_suite(void) {
  Suite *s = suite_create("matmul");
  TCase *tc = tcase_create("matmul");
  tcase_add_loop_test(tc, test_odd_sizes, 0, 2);
  tcase_add_loop_test(tc, test_blocked_sizes, 0, NBIG);
  tcase_add_loop_test(tc, test_threads_bitwise, 0, 2);
  tcase_add_test(tc, test_bad_arguments);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  tu_init("matmul");
  return tu_run_suite(make_suite());
}
