/* tools/npy.c: round trips of float32 arrays, headers of every format
 * version, and malformed files (written here to a temp dir) that must be
 * rejected with a message, never a crash or an over-allocation. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "npy.h"

static char g_dir[64];

static void make_dir(void) {
  snprintf(g_dir, sizeof g_dir, "/tmp/vecattn-npy-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(g_dir));
}

static void remove_dir(void) { rmdir(g_dir); }

static void path_of(char *buf, size_t cap, const char *name) { snprintf(buf, cap, "%s/%s", g_dir, name); }

static void write_bytes(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(p, 1, n, f), n);
  ck_assert_int_eq(fclose(f), 0);
}

/* A file with the given version and header text (padded as numpy pads it)
 * followed by `floats` float32 values 0, 1, 2, ... */
static size_t build_file(unsigned char *buf, size_t cap, int major, const char *dict, size_t floats) {
  const size_t pre = major == 1 ? 10 : 12, n = strlen(dict);
  const size_t total = (pre + n + 1 + 63) / 64 * 64, hlen = total - pre;
  ck_assert(total + floats * 4 <= cap);
  memcpy(buf, "\x93NUMPY", 6);
  buf[6] = (unsigned char)major, buf[7] = 0;
  for (size_t i = 0; i < (major == 1 ? 2u : 4u); i++) buf[8 + i] = (unsigned char)(hlen >> (8 * i));
  memcpy(buf + pre, dict, n);
  memset(buf + pre + n, ' ', hlen - n - 1);
  buf[total - 1] = '\n';
  for (size_t i = 0; i < floats; i++) {
    const float x = (float)i;
    memcpy(buf + total + 4 * i, &x, 4);
  }
  return total + floats * 4;
}

START_TEST(test_round_trip) {
  make_dir();
  static const int64_t shapes[][4] = {{5}, {3, 4}, {2, 3, 4}, {2, 1, 3, 7}, {0, 4}};
  static const int ndims[] = {1, 2, 3, 4, 2};
  char path[128];
  path_of(path, sizeof path, "rt.npy");
  for (int s = 0; s < 5; s++) {
    size_t n = 1;
    for (int d = 0; d < ndims[s]; d++) n *= (size_t)shapes[s][d];
    float *x = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = (float)i * 0.25f - 3.0f;
    char err[256] = "";
    ck_assert_msg(npy_write(path, x, ndims[s], shapes[s], err, sizeof err) == 0, "write: %s", err);
    npy_array a;
    ck_assert_msg(npy_read(path, &a, err, sizeof err) == 0, "read: %s", err);
    ck_assert_int_eq(a.ndim, ndims[s]);
    for (int d = 0; d < ndims[s]; d++) ck_assert_int_eq(a.shape[d], shapes[s][d]);
    ck_assert_uint_eq(a.count, n);
    ck_assert(n == 0 || memcmp(a.data, x, n * sizeof(float)) == 0);
    npy_free(&a);
    free(x);
    /* numpy aligns the data to 64 bytes */
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    ck_assert_int_eq((ftell(f) - (long)(n * 4)) % 64, 0);
    fclose(f);
  }
  unlink(path);
  remove_dir();
}
END_TEST

START_TEST(test_versions) {
  unsigned char buf[1024];
  /* numpy's own spelling, a 0-d array, double quotes, Python 2 longs, v2.0 and v3.0 headers */
  static const struct {
    int major;
    const char *dict;
    size_t floats;
    int ndim;
  } ok[] = {
      {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 6, 2},
      {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 1, 0},
      {1, "{\"shape\": (4,), \"fortran_order\": False, \"descr\": \"<f4\"}", 4, 1},
      {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 2L), }", 4, 2},
      {2, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 1, 2), }", 6, 3},
      {3, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", 5, 1},
  };
  for (size_t c = 0; c < sizeof ok / sizeof ok[0]; c++) {
    const size_t len = build_file(buf, sizeof buf, ok[c].major, ok[c].dict, ok[c].floats);
    npy_array a;
    char err[256] = "";
    ck_assert_msg(npy_parse(buf, len, &a, err, sizeof err) == 0, "case %zu (%s): %s", c, ok[c].dict, err);
    ck_assert_int_eq(a.ndim, ok[c].ndim);
    ck_assert_uint_eq(a.count, ok[c].floats);
    for (size_t i = 0; i < a.count; i++) ck_assert(a.data[i] == (float)i);
    npy_free(&a);
  }
}
END_TEST

/* Every malformed file: -1, a message naming the problem, nothing allocated. */
static void expect_reject(const unsigned char *buf, size_t len, const char *want, const char *what) {
  char path[128], err[512] = "";
  path_of(path, sizeof path, "bad.npy");
  write_bytes(path, buf, len);
  npy_array a;
  memset(&a, 0x5A, sizeof a);
  const int rc = npy_read(path, &a, err, sizeof err);
  unlink(path);
  ck_assert_msg(rc == -1, "%s: accepted", what);
  ck_assert_msg(a.data == NULL, "%s: data left allocated", what);
  ck_assert_msg(strstr(err, want) != NULL, "%s: message '%s' lacks '%s'", what, err, want);
  ck_assert_msg(strstr(err, "bad.npy") != NULL, "%s: message '%s' lacks the file name", what, err);
}

START_TEST(test_malformed) {
  make_dir();
  unsigned char buf[2048];
  size_t len;
  const char *good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";

  expect_reject((const unsigned char *)"", 0, "bad magic", "empty file");
  expect_reject((const unsigned char *)"PK\x03\x04 not npy at all", 20, "bad magic", "a zip file");
  len = build_file(buf, sizeof buf, 1, good, 6);
  expect_reject(buf, 8, "bad magic", "cut inside the preamble");
  expect_reject(buf, 40, "truncated header", "cut inside the header");
  buf[9] = 0xFF; /* header length 65280+ */
  expect_reject(buf, len, "truncated header", "header length past the end");
  len = build_file(buf, sizeof buf, 2, good, 6);
  expect_reject(buf, 11, "truncated header", "v2 cut inside the length");
  buf[6] = 9;
  expect_reject(buf, len, "unsupported .npy version 9", "version 9");

  static const struct {
    const char *dict, *want, *what;
  } bad[] = {
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", "'<f8' is not supported", "float64"},
      {"{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", "'>f4' is not supported", "big-endian"},
      {"{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }", "'|u1' is not supported", "uint8"},
      {"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", "Fortran-order", "fortran order"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", "data size mismatch", "too much data"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }", "data size mismatch", "too little data"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }", "too large",
       "2^80 elements"},
      /* fits a 64-bit size_t (then the data is missing), not a 32-bit one */
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904,), }",
       sizeof(size_t) >= 8 ? "data size mismatch" : "too large", "2^62 elements"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", "bad dimension",
       "dimension past int64"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (-6,), }", "bad dimension", "negative dimension"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,6), }", "more than 8", "9 dims"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3], }", "not a tuple", "shape as a list"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2 3), }", "bad shape", "missing comma"},
      {"{'descr': '<f4', 'fortran_order': False}", "lacks 'shape'", "no shape"},
      {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (6,)}", "repeated", "repeated key"},
      {"{'descr': '<f4', 'fortran_order': Maybe, 'shape': (6,)}", "bad 'fortran_order'", "bad bool"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'x': 1}", "unexpected", "extra key"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (6,)} junk", "trailing", "junk after the dict"},
      {"{'descr: '<f4'", "bad header", "unterminated string"},
      {"no dict here", "not a dict", "not a dict"},
  };
  for (size_t c = 0; c < sizeof bad / sizeof bad[0]; c++) {
    len = build_file(buf, sizeof buf, 1, bad[c].dict, 6);
    expect_reject(buf, len, bad[c].want, bad[c].what);
  }

  char path[128], err[512] = "";
  npy_array a;
  path_of(path, sizeof path, "missing.npy");
  ck_assert_int_eq(npy_read(path, &a, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "missing.npy") && strstr(err, "No such file"), "missing file: '%s'", err);
  remove_dir();
}
END_TEST

int main(void) {
  Suite *s = suite_create("npy");
  TCase *tc = tcase_create("npy");
  tcase_add_test(tc, test_round_trip);
  tcase_add_test(tc, test_versions);
  tcase_add_test(tc, test_malformed);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  const int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
