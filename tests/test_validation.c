/* Argument checking: every bad input gets the documented status, a
 * non-empty vecattn_strerror, and nothing is written (out, lse and inputs
 * unchanged, guard bytes intact). Also EOVERFLOW for sizes that overflow
 * int64/size_t (rejected before any data is touched), set_isa's
 * EUNSUPPORTED, and strerror for every code. */
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* baseline problem */
#define B 2
#define HQ 4
#define HKV 2
#define NQ 5
#define NK 7
#define D 8
#define DV 8

#define QN (B * HQ * NQ * D)
#define KN (B * HKV * NK * D)
#define VN (B * HKV * NK * DV)
#define ON (B * HQ * NQ * DV)
#define WN (B * HQ * NQ * NK)
#define ROWS (B * HQ * NQ)
#define ARENA (QN + KN + VN + 2048)

typedef struct {
  float *arena; /* q, k, v, then slack; guarded */
  float *outbuf; /* guarded */
  float *lse;    /* guarded */
  vecattn_tensor q, k, v, out, w, bias;
  int32_t kv_len[B];
  vecattn_sdpa_opts opts;
} fixture;

static fixture F;

static void setup(void) {
  tu_reseed(0x7A11D);
  memset(&F, 0, sizeof F);
  F.arena = tu_guarded_alloc(ARENA * sizeof(float), 4);
  F.outbuf = tu_guarded_alloc((WN > ON ? WN : ON) * sizeof(float), 0);
  F.lse = tu_guarded_alloc(ROWS * sizeof(float), 12);
  tu_fill_normal(F.arena, ARENA);
  F.q = vecattn_tensor_bhsd(F.arena, B, HQ, NQ, D);
  F.k = vecattn_tensor_bhsd(F.arena + QN, B, HKV, NK, D);
  F.v = vecattn_tensor_bhsd(F.arena + QN + KN, B, HKV, NK, DV);
  F.out = vecattn_tensor_bhsd(F.outbuf, B, HQ, NQ, DV);
  F.w = vecattn_tensor_bhsd(F.outbuf, B, HQ, NQ, NK);
  F.bias = vecattn_tensor_bhsd(F.arena + QN + KN + VN, B, HQ, NQ, NK); /* WN = 280 floats of slack */
  F.kv_len[0] = NK, F.kv_len[1] = 3;
  F.opts.lse = F.lse;
}

static void teardown(void) {
  tu_guarded_free(F.arena);
  tu_guarded_free(F.outbuf);
  tu_guarded_free(F.lse);
}

static void check_strerror(vecattn_status st) {
  const char *m = vecattn_strerror(st);
  ck_assert_msg(m != NULL, "vecattn_strerror(%d) returned NULL", (int)st);
  ck_assert_msg(m[0] != '\0', "vecattn_strerror(%d) returned an empty string", (int)st);
}

typedef enum { CALL_SDPA, CALL_WEIGHTS } call_kind;

/* Calls the library with the given (possibly mutated) arguments and checks
 * the status and that nothing was written anywhere. */
static void expect_kind(call_kind kind, const vecattn_tensor *q, const vecattn_tensor *k, const vecattn_tensor *v,
                        vecattn_tensor *out, const vecattn_sdpa_opts *opts, vecattn_status want, const char *what) {
  tu_poison(F.outbuf, WN > ON ? WN : ON);
  tu_poison(F.lse, ROWS);
  void *a0 = tu_snapshot(F.arena, ARENA * sizeof(float));
  vecattn_status st =
      kind == CALL_SDPA ? vecattn_sdpa(q, k, v, out, opts) : vecattn_attention_weights(q, k, out, opts);
  const char *fn = kind == CALL_SDPA ? "vecattn_sdpa" : "vecattn_attention_weights";
  ck_assert_msg(st == want, "%s with %s: status %d (%s), want %d (%s)", fn, what, (int)st, vecattn_strerror(st),
                (int)want, vecattn_strerror(want));
  check_strerror(st);
  if (want != VECATTN_OK) {
    for (int i = 0; i < (WN > ON ? WN : ON); i++)
      ck_assert_msg(tu_is_poison(F.outbuf[i]), "%s with %s: failed but wrote out[%d]", fn, what, i);
    for (int i = 0; i < ROWS; i++)
      ck_assert_msg(tu_is_poison(F.lse[i]), "%s with %s: failed but wrote lse[%d]", fn, what, i);
  }
  /* on success out may legitimately sit in the arena's slack after v */
  size_t cmp = want == VECATTN_OK ? (size_t)(QN + KN + VN) : (size_t)ARENA;
  ck_assert_msg(memcmp(a0, F.arena, cmp * sizeof(float)) == 0, "%s with %s: wrote into the inputs", fn, what);
  ck_assert_msg(tu_guard_ok(F.arena), "%s with %s: write outside the input arena", fn, what);
  ck_assert_msg(tu_guard_ok(F.outbuf), "%s with %s: write outside the out buffer", fn, what);
  ck_assert_msg(tu_guard_ok(F.lse), "%s with %s: write outside the lse buffer", fn, what);
  free(a0);
}

static void expect(const vecattn_tensor *q, const vecattn_tensor *k, const vecattn_tensor *v, vecattn_tensor *out,
                   const vecattn_sdpa_opts *opts, vecattn_status want, const char *what) {
  expect_kind(CALL_SDPA, q, k, v, out, opts, want, what);
}

/* ---------------------------------------------------------------- */

START_TEST(test_baseline_ok) {
  expect(&F.q, &F.k, &F.v, &F.out, &F.opts, VECATTN_OK, "valid arguments");
  expect(&F.q, &F.k, &F.v, &F.out, NULL, VECATTN_OK, "opts=NULL");
  F.opts.kv_len = F.kv_len;
  F.kv_len[0] = 0, F.kv_len[1] = NK;
  expect(&F.q, &F.k, &F.v, &F.out, &F.opts, VECATTN_OK, "kv_len={0,Nk} (valid)");
  expect_kind(CALL_WEIGHTS, &F.q, &F.k, NULL, &F.w, &F.opts, VECATTN_OK, "valid weights arguments");
}
END_TEST

START_TEST(test_null_pointers) {
  expect(NULL, &F.k, &F.v, &F.out, &F.opts, VECATTN_EINVAL, "q=NULL");
  expect(&F.q, NULL, &F.v, &F.out, &F.opts, VECATTN_EINVAL, "k=NULL");
  expect(&F.q, &F.k, NULL, &F.out, &F.opts, VECATTN_EINVAL, "v=NULL");
  expect(&F.q, &F.k, &F.v, NULL, &F.opts, VECATTN_EINVAL, "out=NULL");
  vecattn_tensor t;
  t = F.q, t.data = NULL;
  expect(&t, &F.k, &F.v, &F.out, &F.opts, VECATTN_EINVAL, "q.data=NULL");
  t = F.k, t.data = NULL;
  expect(&F.q, &t, &F.v, &F.out, &F.opts, VECATTN_EINVAL, "k.data=NULL");
  t = F.v, t.data = NULL;
  expect(&F.q, &F.k, &t, &F.out, &F.opts, VECATTN_EINVAL, "v.data=NULL");
  t = F.out, t.data = NULL;
  expect(&F.q, &F.k, &F.v, &t, &F.opts, VECATTN_EINVAL, "out.data=NULL");
}
END_TEST

static vecattn_tensor *pick(int which, vecattn_tensor *q, vecattn_tensor *k, vecattn_tensor *v,
                            vecattn_tensor *out) {
  return which == 0 ? q : which == 1 ? k : which == 2 ? v : out;
}
static const char *tname[4] = {"q", "k", "v", "out"};

START_TEST(test_nonpositive_dims) {
  static const int64_t bad[] = {0, -1, INT64_MIN};
  char what[96];
  for (int which = 0; which < 4; which++)
    for (int dim = 0; dim < 4; dim++)
      for (int b = 0; b < 3; b++) {
        vecattn_tensor q = F.q, k = F.k, v = F.v, out = F.out;
        pick(which, &q, &k, &v, &out)->shape[dim] = bad[b];
        snprintf(what, sizeof what, "%s.shape[%d]=%lld", tname[which], dim, (long long)bad[b]);
        expect(&q, &k, &v, &out, &F.opts, VECATTN_EINVAL, what);
      }
}
END_TEST

START_TEST(test_bad_strides) {
  char what[96];
  for (int which = 0; which < 4; which++) {
    static const int64_t bad3[] = {2, 0, -1};
    for (int b = 0; b < 3; b++) {
      vecattn_tensor q = F.q, k = F.k, v = F.v, out = F.out;
      pick(which, &q, &k, &v, &out)->stride[3] = bad3[b];
      snprintf(what, sizeof what, "%s.stride[3]=%lld", tname[which], (long long)bad3[b]);
      expect(&q, &k, &v, &out, &F.opts, VECATTN_EINVAL, what);
    }
    for (int dim = 0; dim < 3; dim++) {
      vecattn_tensor q = F.q, k = F.k, v = F.v, out = F.out;
      vecattn_tensor *t = pick(which, &q, &k, &v, &out);
      t->stride[dim] = -t->stride[dim];
      snprintf(what, sizeof what, "%s.stride[%d]=%lld (negative)", tname[which], dim, (long long)t->stride[dim]);
      expect(&q, &k, &v, &out, &F.opts, VECATTN_EINVAL, what);
    }
  }
}
END_TEST

START_TEST(test_head_mismatch) {
  /* Hq % Hkv != 0: Hkv = 3 (strides still describe valid memory) */
  vecattn_tensor k = vecattn_tensor_bhsd(F.arena + QN, 1, 3, NK, D);
  vecattn_tensor v = vecattn_tensor_bhsd(F.arena + QN + KN, 1, 3, NK, DV);
  vecattn_tensor q = vecattn_tensor_bhsd(F.arena, 1, HQ, NQ, D);
  vecattn_tensor out = vecattn_tensor_bhsd(F.outbuf, 1, HQ, NQ, DV);
  expect(&q, &k, &v, &out, &F.opts, VECATTN_EINVAL, "Hq=4, Hkv=3");
  /* more kv heads than query heads */
  k = vecattn_tensor_bhsd(F.arena + QN, 1, 8, NK, D);
  v = vecattn_tensor_bhsd(F.arena + QN + KN, 1, 8, NK, DV);
  expect(&q, &k, &v, &out, &F.opts, VECATTN_EINVAL, "Hq=4, Hkv=8");
  /* k and v disagree on heads */
  k = F.k, v = F.v;
  v.shape[1] = 1;
  expect(&F.q, &k, &v, &F.out, &F.opts, VECATTN_EINVAL, "k heads 2, v heads 1");
  /* out heads != Hq */
  out = F.out;
  out.shape[1] = HKV;
  expect(&F.q, &F.k, &F.v, &out, &F.opts, VECATTN_EINVAL, "out heads 2 != Hq 4");
}
END_TEST

START_TEST(test_shape_mismatch) {
  vecattn_tensor q, k, v, out;
#define RESET() (q = F.q, k = F.k, v = F.v, out = F.out)
  RESET();
  k.shape[0] = 1, v.shape[0] = 1;
  expect(&q, &k, &v, &out, &F.opts, VECATTN_EINVAL, "k,v batch 1 != q batch 2");
  RESET();
  v.shape[0] = 1;
  expect(&q, &k, &v, &out, &F.opts, VECATTN_EINVAL, "v batch 1 != 2");
  RESET();
  out.shape[0] = 1;
  expect(&q, &k, &v, &out, &F.opts, VECATTN_EINVAL, "out batch 1 != 2");
  RESET();
  k.shape[3] = D - 1;
  expect(&q, &k, &v, &out, &F.opts, VECATTN_EINVAL, "k head_dim 7 != q head_dim 8");
  RESET();
  q.shape[3] = D - 1;
  expect(&q, &k, &v, &out, &F.opts, VECATTN_EINVAL, "q head_dim 7 != k head_dim 8");
  RESET();
  v.shape[2] = NK - 1;
  expect(&q, &k, &v, &out, &F.opts, VECATTN_EINVAL, "v Nk 6 != k Nk 7");
  RESET();
  k.shape[2] = NK - 1;
  expect(&q, &k, &v, &out, &F.opts, VECATTN_EINVAL, "k Nk 6 != v Nk 7");
  RESET();
  out.shape[3] = DV - 1;
  expect(&q, &k, &v, &out, &F.opts, VECATTN_EINVAL, "out Dv 7 != v Dv 8");
  RESET();
  v.shape[3] = DV - 1;
  expect(&q, &k, &v, &out, &F.opts, VECATTN_EINVAL, "v Dv 7 != out Dv 8");
  RESET();
  out.shape[2] = NQ - 1;
  expect(&q, &k, &v, &out, &F.opts, VECATTN_EINVAL, "out Nq 4 != q Nq 5");
  RESET();
  out.shape[2] = NQ + 1;
  expect(&q, &k, &v, &out, &F.opts, VECATTN_EINVAL, "out Nq 6 != q Nq 5");
#undef RESET
}
END_TEST

START_TEST(test_bad_options) {
  vecattn_sdpa_opts o = F.opts;
  int32_t kv[B];
  o.kv_len = kv;
  kv[0] = -1, kv[1] = NK;
  expect(&F.q, &F.k, &F.v, &F.out, &o, VECATTN_EINVAL, "kv_len[0]=-1");
  kv[0] = NK, kv[1] = NK + 1;
  expect(&F.q, &F.k, &F.v, &F.out, &o, VECATTN_EINVAL, "kv_len[1]=Nk+1");
  kv[0] = INT32_MIN, kv[1] = 0;
  expect(&F.q, &F.k, &F.v, &F.out, &o, VECATTN_EINVAL, "kv_len[0]=INT32_MIN");
  kv[0] = 0, kv[1] = INT32_MAX;
  expect(&F.q, &F.k, &F.v, &F.out, &o, VECATTN_EINVAL, "kv_len[1]=INT32_MAX");
  o = F.opts;
  o.window = -1;
  expect(&F.q, &F.k, &F.v, &F.out, &o, VECATTN_EINVAL, "window=-1");
  o.window = INT64_MIN;
  expect(&F.q, &F.k, &F.v, &F.out, &o, VECATTN_EINVAL, "window=INT64_MIN");
  o = F.opts;
  o.num_threads = -1;
  expect(&F.q, &F.k, &F.v, &F.out, &o, VECATTN_EINVAL, "num_threads=-1");
  o.num_threads = INT_MIN;
  expect(&F.q, &F.k, &F.v, &F.out, &o, VECATTN_EINVAL, "num_threads=INT_MIN");
}
END_TEST

START_TEST(test_overlap) {
  vecattn_tensor out;
  out = F.out, out.data = F.q.data;
  expect(&F.q, &F.k, &F.v, &out, &F.opts, VECATTN_EINVAL, "out == q (same buffer)");
  out = F.out, out.data = F.arena + QN - 1; /* out's first element is q's last */
  expect(&F.q, &F.k, &F.v, &out, &F.opts, VECATTN_EINVAL, "out overlapping q's last element");
  out = F.out, out.data = (float *)F.k.data + 3;
  expect(&F.q, &F.k, &F.v, &out, &F.opts, VECATTN_EINVAL, "out inside k");
  out = F.out, out.data = F.v.data;
  expect(&F.q, &F.k, &F.v, &out, &F.opts, VECATTN_EINVAL, "out at v");
  out = F.out, out.data = (float *)F.v.data + VN - 1;
  expect(&F.q, &F.k, &F.v, &out, &F.opts, VECATTN_EINVAL, "out overlapping v's last element");
  /* out ending on q's first element */
  vecattn_tensor q = vecattn_tensor_bhsd(F.arena + ON - 1, B, HQ, NQ, D);
  out = F.out, out.data = F.arena;
  expect(&q, &F.k, &F.v, &out, &F.opts, VECATTN_EINVAL, "out's last element is q's first");
  /* adjacent but disjoint is fine: out right after v */
  out = F.out, out.data = (float *)F.v.data + VN;
  expect(&F.q, &F.k, &F.v, &out, &F.opts, VECATTN_OK, "out adjacent to v (disjoint, valid)");
  /* weights overlapping q or k */
  vecattn_tensor w = F.w;
  w.data = (float *)F.q.data + 1;
  expect_kind(CALL_WEIGHTS, &F.q, &F.k, NULL, &w, &F.opts, VECATTN_EINVAL, "weights overlapping q");
  w.data = F.k.data;
  expect_kind(CALL_WEIGHTS, &F.q, &F.k, NULL, &w, &F.opts, VECATTN_EINVAL, "weights overlapping k");
}
END_TEST

START_TEST(test_bad_bias) {
  vecattn_sdpa_opts o = F.opts;
  vecattn_tensor bias;
  o.bias = &bias;
  bias = F.bias;
  expect(&F.q, &F.k, &F.v, &F.out, &o, VECATTN_OK, "bias [B,Hq,Nq,Nk] (valid)");
  char what[96];
  static const int64_t wrong[4] = {B + 1, HQ + 1, NQ + 2, NK + 1};
  for (int dim = 0; dim < 4; dim++) {
    bias = F.bias;
    bias.shape[dim] = wrong[dim];
    snprintf(what, sizeof what, "bias.shape[%d]=%lld (wrong)", dim, (long long)wrong[dim]);
    expect(&F.q, &F.k, &F.v, &F.out, &o, VECATTN_EINVAL, what);
  }
  bias = F.bias;
  bias.shape[3] = NK - 1;
  expect(&F.q, &F.k, &F.v, &F.out, &o, VECATTN_EINVAL, "bias.shape[3]=Nk-1");
  bias = F.bias;
  bias.data = NULL;
  expect(&F.q, &F.k, &F.v, &F.out, &o, VECATTN_EINVAL, "bias.data=NULL");
  bias = F.bias;
  bias.shape[2] = 0;
  expect(&F.q, &F.k, &F.v, &F.out, &o, VECATTN_EINVAL, "bias.shape[2]=0");
}
END_TEST

START_TEST(test_weights_validation) {
  vecattn_tensor w;
  expect_kind(CALL_WEIGHTS, &F.q, &F.k, NULL, NULL, &F.opts, VECATTN_EINVAL, "weights=NULL");
  w = F.w, w.data = NULL;
  expect_kind(CALL_WEIGHTS, &F.q, &F.k, NULL, &w, &F.opts, VECATTN_EINVAL, "weights.data=NULL");
  expect_kind(CALL_WEIGHTS, NULL, &F.k, NULL, &F.w, &F.opts, VECATTN_EINVAL, "q=NULL");
  expect_kind(CALL_WEIGHTS, &F.q, NULL, NULL, &F.w, &F.opts, VECATTN_EINVAL, "k=NULL");
  w = F.w, w.shape[3] = NK + 1;
  expect_kind(CALL_WEIGHTS, &F.q, &F.k, NULL, &w, &F.opts, VECATTN_EINVAL, "weights Nk+1");
  w = F.w, w.shape[2] = NQ - 1;
  expect_kind(CALL_WEIGHTS, &F.q, &F.k, NULL, &w, &F.opts, VECATTN_EINVAL, "weights Nq-1");
  w = F.w, w.shape[1] = HKV;
  expect_kind(CALL_WEIGHTS, &F.q, &F.k, NULL, &w, &F.opts, VECATTN_EINVAL, "weights heads=Hkv");
  w = F.w, w.stride[3] = 2;
  expect_kind(CALL_WEIGHTS, &F.q, &F.k, NULL, &w, &F.opts, VECATTN_EINVAL, "weights stride[3]=2");
  vecattn_sdpa_opts o = F.opts;
  o.window = -3;
  expect_kind(CALL_WEIGHTS, &F.q, &F.k, NULL, &F.w, &o, VECATTN_EINVAL, "window=-3");
  int32_t kv[B] = {NK, NK + 1};
  o = F.opts, o.kv_len = kv;
  expect_kind(CALL_WEIGHTS, &F.q, &F.k, NULL, &F.w, &o, VECATTN_EINVAL, "kv_len[1]=Nk+1");
}
END_TEST

/* ---- EOVERFLOW: data pointers are real but tiny; the library must reject
 * from the shapes alone, before touching memory. ---- */

static vecattn_tensor mk(float *data, int64_t b, int64_t h, int64_t s, int64_t d, int64_t s0, int64_t s1,
                         int64_t s2) {
  vecattn_tensor t = {0}; /* dtype 0: f32 */
  t.data = data;
  t.shape[0] = b, t.shape[1] = h, t.shape[2] = s, t.shape[3] = d;
  t.stride[0] = s0, t.stride[1] = s1, t.stride[2] = s2, t.stride[3] = 1;
  return t;
}

#define P40 ((int64_t)1 << 40)
#define P22 ((int64_t)1 << 22)
#define P31 ((int64_t)1 << 31)

START_TEST(test_overflow) {
  float *qd = F.arena, *kd = F.arena + 64, *vd = F.arena + 128;
  vecattn_tensor q, k, v, out;
  vecattn_sdpa_opts o = F.opts;
  o.lse = F.lse;
  /* q [1,1,2^40,2^40]: 2^80 elements */
  q = mk(qd, 1, 1, P40, P40, P40, P40, P40);
  k = mk(kd, 1, 1, 1, P40, P40, P40, P40);
  v = mk(vd, 1, 1, 1, 1, 1, 1, 1);
  out = mk(F.outbuf, 1, 1, P40, 1, P40, P40, 1);
  expect(&q, &k, &v, &out, &o, VECATTN_EOVERFLOW, "q [1,1,2^40,2^40]");
  /* k [1,1,2^40,2^40] */
  q = mk(qd, 1, 1, 1, P40, P40, P40, P40);
  k = mk(kd, 1, 1, P40, P40, P40, P40, P40);
  v = mk(vd, 1, 1, P40, 1, P40, P40, 1);
  out = mk(F.outbuf, 1, 1, 1, 1, 1, 1, 1);
  expect(&q, &k, &v, &out, &o, VECATTN_EOVERFLOW, "k [1,1,2^40,2^40]");
  /* v and out [2^40,1,1,2^40] */
  q = mk(qd, P40, 1, 1, 1, 1, 1, 1);
  k = mk(kd, P40, 1, 1, 1, 1, 1, 1);
  v = mk(vd, P40, 1, 1, P40, P40, P40, P40);
  out = mk(F.outbuf, P40, 1, 1, P40, P40, P40, P40);
  expect(&q, &k, &v, &out, &o, VECATTN_EOVERFLOW, "v, out [2^40,1,1,2^40]");
  /* three dims of 2^22: 2^66 elements, no single stride overflows */
  q = mk(qd, P22, P22, P22, 1, P22 * P22, P22, 1);
  k = mk(kd, P22, P22, 1, 1, P22, 1, 1);
  v = mk(vd, P22, P22, 1, 1, P22, 1, 1);
  out = mk(F.outbuf, P22, P22, P22, 1, P22 * P22, P22, 1);
  expect(&q, &k, &v, &out, &o, VECATTN_EOVERFLOW, "q, out [2^22,2^22,2^22,1]");
  /* 2^62+2^31 elements: fits int64, but the byte size overflows size_t */
  q = mk(qd, 1, 1, P31, P31 + 1, 0, 0, P31 + 1);
  q.stride[0] = q.stride[1] = P31 * (P31 + 1);
  k = mk(kd, 1, 1, 1, P31 + 1, P31 + 1, P31 + 1, P31 + 1);
  v = mk(vd, 1, 1, 1, 1, 1, 1, 1);
  out = mk(F.outbuf, 1, 1, P31, 1, P31, P31, 1);
  expect(&q, &k, &v, &out, &o, VECATTN_EOVERFLOW, "q [1,1,2^31,2^31+1] (bytes overflow size_t)");
  /* attention weights [1,1,2^40,2^40] from small-enough q and k */
  q = mk(qd, 1, 1, P40, 1, P40, P40, 1);
  k = mk(kd, 1, 1, P40, 1, P40, P40, 1);
  vecattn_tensor w = mk(F.outbuf, 1, 1, P40, P40, P40, P40, P40);
  o.lse = NULL;
  expect_kind(CALL_WEIGHTS, &q, &k, NULL, &w, &o, VECATTN_EOVERFLOW, "weights [1,1,2^40,2^40]");
}
END_TEST

/* ---- ISA selection errors and strerror ---- */

START_TEST(test_set_isa_unsupported) {
  ck_assert_int_eq(vecattn_set_isa(VECATTN_ISA_SCALAR), VECATTN_OK);
  const vecattn_isa bad_range[] = {(vecattn_isa)VECATTN_ISA_COUNT, (vecattn_isa)99, (vecattn_isa)-1,
                                   (vecattn_isa)INT_MAX};
  for (size_t i = 0; i < sizeof bad_range / sizeof bad_range[0]; i++) {
    vecattn_status st = vecattn_set_isa(bad_range[i]);
    ck_assert_msg(st == VECATTN_EUNSUPPORTED, "vecattn_set_isa(%d) = %d, want EUNSUPPORTED", (int)bad_range[i],
                  (int)st);
    check_strerror(st);
    ck_assert_msg(vecattn_active_isa() == VECATTN_ISA_SCALAR, "active ISA changed by a failed set_isa(%d)",
                  (int)bad_range[i]);
  }
  int unsupported = 0;
  for (int i = 0; i < TU_ISA_COUNT; i++) {
    vecattn_isa isa = tu_all_isas[i];
    if (vecattn_isa_supported(isa)) continue;
    unsupported++;
    vecattn_status st = vecattn_set_isa(isa);
    ck_assert_msg(st == VECATTN_EUNSUPPORTED, "vecattn_set_isa(%s) (unsupported) = %d, want EUNSUPPORTED",
                  vecattn_isa_name(isa), (int)st);
    ck_assert_msg(vecattn_active_isa() == VECATTN_ISA_SCALAR, "active ISA changed by a failed set_isa(%s)",
                  vecattn_isa_name(isa));
  }
  /* on any one machine at least one of {neon} / {sse2,avx2,avx512} is foreign */
  ck_assert_msg(unsupported > 0, "every ISA reported supported, including another architecture's");
  ck_assert_int_eq(vecattn_set_isa(VECATTN_ISA_AUTO), VECATTN_OK);
}
END_TEST

START_TEST(test_strerror) {
  const vecattn_status codes[] = {VECATTN_OK, VECATTN_EINVAL, VECATTN_ENOMEM, VECATTN_EUNSUPPORTED,
                                  VECATTN_EOVERFLOW, VECATTN_ENOSPC};
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) check_strerror(codes[i]);
  /* each known code has its own text */
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
    for (size_t j = 0; j < i; j++)
      ck_assert_str_ne(vecattn_strerror(codes[i]), vecattn_strerror(codes[j]));
  ck_assert_str_eq(vecattn_strerror((vecattn_status)-6), "unknown vecattn status code");
  const int unknown[] = {1, -6, 12345, -12345, INT_MAX, INT_MIN};
  for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) check_strerror((vecattn_status)unknown[i]);
}
END_TEST

/* ---- detail messages: vecattn_last_error ---- */

/* The call fails with `want` and the thread's detail is exactly `text`. */
static void expect_detail(vecattn_status got, vecattn_status want, const char *text, const char *what) {
  ck_assert_msg(got == want, "%s: status %d, want %d", what, (int)got, (int)want);
  const char *d = vecattn_last_error();
  ck_assert_msg(d != NULL, "%s: vecattn_last_error() is NULL", what);
  ck_assert_msg(strcmp(d, text) == 0, "%s: detail \"%s\", want \"%s\"", what, d, text);
}

START_TEST(test_detail_messages) {
  vecattn_tensor q = F.q, k = F.k, v = F.v, out = F.out;
  vecattn_sdpa_opts o = F.opts;
  k.shape[2] = v.shape[2] = 5, v.shape[2] = 6;
  expect_detail(vecattn_sdpa(&q, &k, &v, &out, &o), VECATTN_EINVAL, "v.shape[2] = 6 but k.shape[2] = 5 (keys)",
                "Nk mismatch");
  k = F.k, v = F.v;
  q.dtype = VECATTN_Q8_0;
  q.shape[3] = k.shape[3] = 32; /* whole blocks, so only the type is wrong */
  expect_detail(vecattn_sdpa(&q, &k, &v, &out, &o), VECATTN_EINVAL, "q.dtype q8_0: queries must be f32, f16 or bf16",
                "q8_0 queries");
  q = F.q, k = F.k;
  k.shape[3] = D + 1;
  expect_detail(vecattn_sdpa(&q, &k, &v, &out, &o), VECATTN_EINVAL, "k.shape[3] = 9 but q.shape[3] = 8 (head dim)",
                "head dim");
  k = F.k;
  k.shape[1] = 3, v.shape[1] = 3;
  expect_detail(vecattn_sdpa(&q, &k, &v, &out, &o), VECATTN_EINVAL,
                "q.shape[1] = 4 is not a multiple of k.shape[1] = 3 (query heads per kv head)", "GQA");
  k = F.k, v = F.v;
  k.stride[3] = 2;
  expect_detail(vecattn_sdpa(&q, &k, &v, &out, &o), VECATTN_EINVAL,
                "k.stride[3] = 2: the last dimension must be contiguous (stride 1)", "stride[3]");
  k = F.k;
  out.shape[3] = DV + 1;
  expect_detail(vecattn_sdpa(&q, &k, &v, &out, &o), VECATTN_EINVAL,
                "out.shape[3] = 9 but it must be 8 ([B, Hq, Nq, Dv] = [2, 4, 5, 8])", "out shape");
  out = F.out;
  out.data = v.data;
  expect_detail(vecattn_sdpa(&q, &k, &v, &out, &o), VECATTN_EINVAL,
                "out overlaps v: outputs must not share memory with inputs", "out over v");
  out = F.out;
  o.lse = (float *)k.data + 3;
  expect_detail(vecattn_sdpa(&q, &k, &v, &out, &o), VECATTN_EINVAL,
                "opts->lse overlaps k: outputs must not share memory with inputs", "lse over k");
  o = F.opts;
  o.kv_len = F.kv_len;
  F.kv_len[1] = NK + 1;
  expect_detail(vecattn_sdpa(&q, &k, &v, &out, &o), VECATTN_EINVAL, "opts->kv_len[1] = 8: must be in 0..Nk = 7",
                "kv_len");
  o = F.opts;
  o.window = -3;
  expect_detail(vecattn_sdpa(&q, &k, &v, &out, &o), VECATTN_EINVAL, "opts->window = -3: must be >= 0 (0: no window)",
                "window");
  o = F.opts;
  vecattn_tensor bias = F.bias;
  bias.shape[2] = 2;
  o.bias = &bias;
  expect_detail(vecattn_sdpa(&q, &k, &v, &out, &o), VECATTN_EINVAL,
                "bias.shape[2] = 2: must be Nq = 5 or 1 (broadcast)", "bias shape");
  o = F.opts;
  vecattn_tensor w = F.w;
  w.shape[3] = NK - 1;
  expect_detail(vecattn_attention_weights(&q, &k, &w, &o), VECATTN_EINVAL,
                "weights.shape[3] = 6 but it must be 7 ([B, Hq, Nq, Nk] = [2, 4, 5, 7])", "weights shape");
  k.stride[1] = (int64_t)1 << 46; /* 2^48 bytes: past user space on x86-64 (2^47) and aarch64 (2^48) */
  ck_assert_int_eq(vecattn_sdpa(&q, &k, &v, &out, &o), VECATTN_EOVERFLOW);
  ck_assert_msg(strncmp(vecattn_last_error(), "k: ", 3) == 0 && strstr(vecattn_last_error(), "address space"),
                "k past the address space: detail \"%s\"", vecattn_last_error());
  /* a success leaves the last failure's detail alone */
  const char *before = vecattn_last_error();
  char copy[256];
  snprintf(copy, sizeof copy, "%s", before);
  ck_assert_int_eq(vecattn_sdpa(&F.q, &F.k, &F.v, &F.out, &F.opts), VECATTN_OK);
  ck_assert_str_eq(vecattn_last_error(), copy);
}
END_TEST

START_TEST(test_detail_messages_layer) {
  enum { DM = 8, NH = 2, HD = 4, MAXS = 4 };
  float *wts = calloc(4 * DM * NH * HD, sizeof(float)), *x = calloc(DM * 2, sizeof(float)),
        *y = calloc(DM * 2, sizeof(float));
  vecattn_mha_weights w = {DM, NH, 0, HD, wts, wts + DM * NH * HD, wts + 2 * DM * NH * HD, wts + 3 * DM * NH * HD,
                           NULL, NULL, NULL, NULL, 0, 0.0f};
  vecattn_kv_cache *c;
  ck_assert_int_eq(vecattn_kv_cache_create(&c, 1, NH, HD, MAXS), VECATTN_OK);
  ck_assert_int_eq(vecattn_mha_forward(&w, x, 1, 2, c, y, NULL), VECATTN_OK);
  ck_assert_int_eq(vecattn_mha_forward(&w, x, 1, 2, c, y, NULL), VECATTN_OK);
  expect_detail(vecattn_mha_forward(&w, x, 1, 1, c, y, NULL), VECATTN_ENOSPC, "kv cache full: 4 + 1 > max_seq 4",
                "full cache");
  ck_assert_int_eq(vecattn_kv_cache_len(c), MAXS);
  vecattn_kv_cache_destroy(c);
  ck_assert_int_eq(vecattn_kv_cache_create(&c, 1, NH, HD + 2, MAXS), VECATTN_OK);
  expect_detail(vecattn_mha_forward(&w, x, 1, 1, c, y, NULL), VECATTN_EINVAL,
                "kv cache head_dim = 6 but the weights' head_dim = 4", "cache head_dim");
  vecattn_kv_cache_destroy(c);
  w.n_kv_heads = 3;
  expect_detail(vecattn_mha_forward(&w, x, 1, 1, NULL, y, NULL), VECATTN_EINVAL,
                "w->n_heads = 2 is not a multiple of w->n_kv_heads = 3", "heads");
  w.n_kv_heads = 0;
  vecattn_sdpa_opts o = {0};
  o.lse = x + 1;
  expect_detail(vecattn_mha_forward(&w, x, 1, 2, NULL, y, &o), VECATTN_EINVAL,
                "opts->lse overlaps x: outputs must not share memory with inputs", "lse in x");
  expect_detail(vecattn_mha_forward(&w, x, 1, 2, NULL, (float *)w.wo + 1, NULL), VECATTN_EINVAL,
                "y overlaps w->wo: outputs must not share memory with inputs", "y in wo");
  expect_detail(vecattn_matmul(x, 2, DM, wts, DM, NULL, x + 3, 1), VECATTN_EINVAL,
                "matmul y overlaps x: outputs must not share memory with inputs", "matmul y in x");
  expect_detail(vecattn_convert(x, VECATTN_F32, x + 1, VECATTN_F16, 4), VECATTN_EINVAL,
                "convert dst overlaps src: outputs must not share memory with inputs", "convert overlap");
  expect_detail(vecattn_kv_cache_create(&c, 1, 0, HD, MAXS), VECATTN_EINVAL, "kv cache n_kv_heads = 0: must be > 0",
                "cache create");
  free(wts), free(x), free(y);
  /* ENOMEM is about memory, not a "workspace" (a cache has none) */
  ck_assert_msg(strstr(vecattn_strerror(VECATTN_ENOMEM), "workspace") == NULL, "ENOMEM text: %s",
                vecattn_strerror(VECATTN_ENOMEM));
  ck_assert_msg(strstr(vecattn_strerror(VECATTN_ENOMEM), "out of memory") != NULL, "ENOMEM text: %s",
                vecattn_strerror(VECATTN_ENOMEM));
}
END_TEST

static void *fail_on_other_thread(void *arg) {
  (void)arg;
  vecattn_tensor q = F.q;
  q.shape[0] = 0;
  vecattn_sdpa(&q, &F.k, &F.v, &F.out, NULL);
  return strcmp(vecattn_last_error(), "q.shape[0] = 0: dimensions must be > 0") == 0 ? (void *)1 : NULL;
}

/* Each thread has its own detail. */
START_TEST(test_detail_thread_local) {
  if (!tu_threads_ok()) { /* qemu-user: pthreads beside libgomp hang */
    printf("EMULATED: skipping the second thread of test_detail_thread_local\n");
    return;
  }
  vecattn_tensor k = F.k;
  k.data = NULL;
  ck_assert_int_eq(vecattn_sdpa(&F.q, &k, &F.v, &F.out, NULL), VECATTN_EINVAL);
  ck_assert_str_eq(vecattn_last_error(), "k.data is NULL");
  pthread_t t;
  void *ok = NULL;
  ck_assert_int_eq(pthread_create(&t, NULL, fail_on_other_thread, NULL), 0);
  pthread_join(t, &ok);
  ck_assert_msg(ok != NULL, "the other thread did not see its own detail");
  ck_assert_str_eq(vecattn_last_error(), "k.data is NULL");
}
END_TEST

static Suite *make_suite(void) {
  Suite *s = suite_create("validation");
  TCase *tc = tcase_create("validation");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_baseline_ok);
  tcase_add_test(tc, test_null_pointers);
  tcase_add_test(tc, test_nonpositive_dims);
  tcase_add_test(tc, test_bad_strides);
  tcase_add_test(tc, test_head_mismatch);
  tcase_add_test(tc, test_shape_mismatch);
  tcase_add_test(tc, test_bad_options);
  tcase_add_test(tc, test_overlap);
  tcase_add_test(tc, test_bad_bias);
  tcase_add_test(tc, test_weights_validation);
  tcase_add_test(tc, test_overflow);
  tcase_add_test(tc, test_set_isa_unsupported);
  tcase_add_test(tc, test_strerror);
  tcase_add_test(tc, test_detail_messages);
  tcase_add_test(tc, test_detail_messages_layer);
  tcase_add_test(tc, test_detail_thread_local);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  tu_init("validation");
  return tu_run_suite(make_suite());
}
