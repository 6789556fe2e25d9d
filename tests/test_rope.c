/* vecattn_rope: per-token positions against a float64 rotation, gaps between
 * tokens untouched, theta 0 = 10000, the same bits for 1 and 2 threads, bad
 * arguments leave x unchanged. Plain C (no ISA kernels): run once. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

enum { NT = 203, NH = 3, HD = 18, LD = NH * HD + 5 };

START_TEST(test_against_float64) {
  tu_reseed(0x20FE01u);
  float *x = tu_guarded_alloc(NT * LD * sizeof(float), 4), *x0 = malloc(NT * LD * sizeof(float));
  float *y = malloc(NT * LD * sizeof(float));
  int64_t pos[NT];
  tu_poison(x, NT * LD);
  for (int t = 0; t < NT; ++t) {
    pos[t] = t % 5 == 0 ? (int64_t)tu_rand_int(0, 1 << 20) : (int64_t)tu_rand_int(0, 300);
    tu_fill_normal(x + t * LD, NH * HD);
  }
  memcpy(x0, x, NT * LD * sizeof(float));
  ck_assert_int_eq(vecattn_rope(x, NT, LD, NH, HD, pos, 500000.0f, 1), VECATTN_OK);
  double worst = 0;
  for (int t = 0; t < NT; ++t) {
    for (int h = 0; h < NH; ++h)
      for (int i = 0; i < HD / 2; ++i) {
        const double a = (double)pos[t] * pow(500000.0, -2.0 * i / HD);
        const double x1 = x0[t * LD + h * HD + i], x2 = x0[t * LD + h * HD + i + HD / 2];
        const double r1 = x1 * cos(a) - x2 * sin(a), r2 = x2 * cos(a) + x1 * sin(a);
        const double scale = fabs(x1) + fabs(x2);
        worst = fmax(worst, fabs(x[t * LD + h * HD + i] - r1) / scale);
        worst = fmax(worst, fabs(x[t * LD + h * HD + i + HD / 2] - r2) / scale);
      }
    for (int g = NH * HD; g < LD; ++g) ck_assert_msg(tu_is_poison(x[t * LD + g]), "gap after token %d written", t);
  }
  ck_assert_msg(worst <= 4e-7, "rope vs float64: %.3e relative to |x1| + |x2|", worst);
  ck_assert(tu_guard_ok(x));
  /* 2 threads, same bits; theta 0 means 10000. */
  memcpy(x, x0, NT * LD * sizeof(float)), memcpy(y, x0, NT * LD * sizeof(float));
  ck_assert_int_eq(vecattn_rope(x, NT, LD, NH, HD, pos, 0.0f, 1), VECATTN_OK);
  ck_assert_int_eq(vecattn_rope(y, NT, LD, NH, HD, pos, 10000.0f, tu_threads_ok() ? 2 : 1), VECATTN_OK);
  ck_assert(memcmp(x, y, NT * LD * sizeof(float)) == 0);
  /* Position 0 turns nothing. */
  int64_t zero = 0;
  memcpy(y, x0, LD * sizeof(float));
  ck_assert_int_eq(vecattn_rope(y, 1, LD, NH, HD, &zero, 0.0f, 0), VECATTN_OK);
  ck_assert(memcmp(y, x0, NH * HD * sizeof(float)) == 0);
  tu_guarded_free(x), free(x0), free(y);
}
END_TEST

START_TEST(test_bad_arguments) {
  float x[4 * 8];
  int64_t pos[4] = {0, 1, 2, 3};
  tu_fill_normal(x, 32);
  float keep[32];
  memcpy(keep, x, sizeof x);
  struct {
    float *x;
    int64_t nt, ld, nh, hd;
    const int64_t *pos;
    float theta;
    int threads;
    vecattn_status want;
  } c[] = {
      {NULL, 4, 8, 2, 4, pos, 0, 0, VECATTN_EINVAL},      {x, 4, 8, 2, 4, NULL, 0, 0, VECATTN_EINVAL},
      {x, -1, 8, 2, 4, pos, 0, 0, VECATTN_EINVAL},        {x, 4, 8, 0, 4, pos, 0, 0, VECATTN_EINVAL},
      {x, 4, 8, 2, 3, pos, 0, 0, VECATTN_EINVAL},         {x, 4, 7, 2, 4, pos, 0, 0, VECATTN_EINVAL},
      {x, 4, 8, 2, 4, pos, -1, 0, VECATTN_EINVAL},        {x, 4, 8, 2, 4, pos, NAN, 0, VECATTN_EINVAL},
      {x, 4, 8, 2, 4, pos, 0, -1, VECATTN_EINVAL},        {x, 4, 8, 2, 4, (const int64_t *)x, 0, 0, VECATTN_EINVAL},
      {x, 4, INT64_MAX / 2, 2, 4, pos, 0, 0, VECATTN_EOVERFLOW},
  };
  for (size_t i = 0; i < sizeof c / sizeof c[0]; ++i) {
    ck_assert_msg(vecattn_rope(c[i].x, c[i].nt, c[i].ld, c[i].nh, c[i].hd, c[i].pos, c[i].theta, c[i].threads) == c[i].want,
                  "case %zu", i);
    ck_assert_msg(memcmp(x, keep, sizeof x) == 0, "case %zu wrote x", i);
  }
  pos[2] = -1;
  ck_assert_int_eq(vecattn_rope(x, 4, 8, 2, 4, pos, 0, 0), VECATTN_EINVAL);
  ck_assert(memcmp(x, keep, sizeof x) == 0);
  ck_assert_int_eq(vecattn_rope(x, 0, 8, 2, 4, pos, 0, 0), VECATTN_OK);
}
END_TEST

static Suite *make_suite(void) {
  Suite *s = suite_create("rope");
  TCase *tc = tcase_create("rope");
  tcase_add_test(tc, test_against_float64);
  tcase_add_test(tc, test_bad_arguments);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  tu_init("rope");
  return tu_run_suite(make_suite());
}
