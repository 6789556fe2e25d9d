/* Numerical edge cases on every ISA path: scores near +-1e30, inputs near
 * FLT_MAX and in the denormal range, NaN/Inf confined to the rows that see
 * them, fully masked rows for every mask kind, the smallest shapes, and very
 * long key ranges against a float64 reference of the checked rows only. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref.h"
#include "testutil.h"

/* A contiguous [b,h,s,d] tensor in a guarded buffer. */
typedef struct {
  vecattn_tensor t;
  float *storage; /* t.data */
  size_t n;
} buf;

static buf buf_make(int64_t b, int64_t h, int64_t s, int64_t d) {
  buf x;
  x.n = (size_t)(b * h * s * d);
  x.storage = tu_guarded_alloc(x.n * sizeof(float), 4);
  x.t = vecattn_tensor_bhsd(x.storage, b, h, s, d);
  return x;
}

static void buf_free(buf *x) {
  ck_assert_msg(tu_guard_ok(x->t.data), "write outside a tensor's buffer");
  tu_guarded_free(x->t.data);
}

/* ||got - want|| / max(||want||, den_floor); 0 demands exact zeros of a
 * zero reference. */
static double rel_err(const float *got, const double *want, int64_t n, double den_floor) {
  double num = 0, den = 0;
  for (int64_t e = 0; e < n; ++e) {
    const double d = (double)got[e] - want[e];
    num += d * d, den += want[e] * want[e];
  }
  den = fmax(sqrt(den), den_floor);
  return den > 0 ? sqrt(num) / den : sqrt(num);
}

/* Per-row bar for random inputs: the project's 1e-5 relative error. Single
 * rows (D = 1 especially) carry more rounding than a whole tensor's L2 does,
 * and a tighter per-row bar failed on about one seed in a few hundred. */
#define ROW_TOL 1e-5

static double norm(const double *x, int64_t n) {
  double s = 0;
  for (int64_t e = 0; e < n; ++e) s += x[e] * x[e];
  return sqrt(s);
}

static int all_finite(const float *x, size_t n) {
  for (size_t e = 0; e < n; ++e)
    if (!isfinite(x[e])) return 0;
  return 1;
}

/* Runs sdpa with lse on the active ISA and compares every row whose mask in
 * skip_row (may be NULL) is 0 with the float64 reference. */
static void check_against_ref(const char *label, vecattn_isa isa, const buf *q, const buf *k, const buf *v,
                              vecattn_sdpa_opts *o, const unsigned char *skip_row, double tol) {
  const int64_t rows = q->t.shape[0] * q->t.shape[1] * q->t.shape[2], dv = v->t.shape[3];
  buf out = buf_make(q->t.shape[0], q->t.shape[1], q->t.shape[2], dv);
  float *lse = tu_guarded_alloc((size_t)rows * sizeof(float), 0);
  double *ref = malloc(sizeof(double) * (size_t)(rows * dv)), *ref_lse = malloc(sizeof(double) * (size_t)rows);
  tu_poison(out.t.data, out.n);
  tu_poison(lse, (size_t)rows);
  o->lse = lse;
  const vecattn_status st = vecattn_sdpa(&q->t, &k->t, &v->t, &out.t, o);
  ck_assert_msg(st == VECATTN_OK, "%s [%s]: status %d", label, vecattn_isa_name(isa), (int)st);
  ref_sdpa(&q->t, &k->t, &v->t, o, ref, ref_lse);
  /* Rows whose reference nearly cancels to zero are judged against a tenth
   * of the typical row norm instead. */
  double typical = 0;
  for (int64_t r = 0; r < rows; ++r) typical += skip_row && skip_row[r] ? 0 : norm(ref + r * dv, dv) / (double)rows;
  for (int64_t r = 0; r < rows; ++r) {
    if (skip_row && skip_row[r]) continue;
    const float *got = out.storage + r * dv;
    ck_assert_msg(all_finite(got, (size_t)dv), "%s [%s]: row %lld has Inf/NaN", label, vecattn_isa_name(isa),
                  (long long)r);
    const double e = rel_err(got, ref + r * dv, dv, 0.1 * typical);
    ck_assert_msg(e <= tol, "%s [%s]: row %lld error %.3g > %.3g", label, vecattn_isa_name(isa), (long long)r, e,
                  tol);
    if (ref_lse[r] == -INFINITY) {
      ck_assert_msg(lse[r] == -INFINITY, "%s [%s]: masked row %lld lse %g", label, vecattn_isa_name(isa),
                    (long long)r, (double)lse[r]);
    } else {
      const double le = fabs(lse[r] - ref_lse[r]) / fmax(1.0, fabs(ref_lse[r]));
      ck_assert_msg(isfinite(lse[r]) && le <= tol, "%s [%s]: row %lld lse %g, want %g", label,
                    vecattn_isa_name(isa), (long long)r, (double)lse[r], ref_lse[r]);
    }
  }
  ck_assert_msg(tu_guard_ok(lse), "%s: write outside lse", label);
  o->lse = NULL;
  buf_free(&out);
  tu_guarded_free(lse);
  free(ref), free(ref_lse);
}

/* ------------------------------------------------------------------ */

/* Entries are small integers times 2^50, so q.k is an exact integer times
 * 2^100 ~ 1.27e30: the float scores are exact and ties are real ties, and
 * the float64 reference is a fair judge of a near one-hot softmax. */
START_TEST(test_huge_scores) {
  tu_reseed(1);
  const int64_t H = 2, NQ = 9, NK = 37, D = 16;
  buf q = buf_make(1, H, NQ, D), k = buf_make(1, H, NK, D), v = buf_make(1, H, NK, D);
  const float big = ldexpf(1.0f, 50);
  for (size_t e = 0; e < q.n; ++e) q.storage[e] = big * (float)tu_rand_int(-3, 3);
  for (size_t e = 0; e < k.n; ++e) k.storage[e] = big * (float)tu_rand_int(-3, 3);
  tu_fill_normal(v.t.data, v.n);
  /* one row whose scores are all hugely negative */
  for (int64_t d = 0; d < D; ++d) q.storage[4 * D + d] = -big * 3.0f;
  for (int64_t d = 0; d < D; ++d) k.storage[d] = big * 3.0f;
  vecattn_sdpa_opts o = {0};
  o.scale = 1.0f;
  TU_FOR_EACH_ISA(isa) {
    o.causal = 0;
    check_against_ref("scores ~1e30", isa, &q, &k, &v, &o, NULL, 1e-6);
    o.causal = 1;
    check_against_ref("scores ~1e30, causal", isa, &q, &k, &v, &o, NULL, 1e-6);
  }
  buf_free(&q), buf_free(&k), buf_free(&v);
}
END_TEST

/* -1e30 and -FLT_MAX as "soft" masks, the way frameworks fill masks. */
START_TEST(test_huge_negative_bias) {
  tu_reseed(2);
  const int64_t NQ = 6, NK = 23, D = 8;
  buf q = buf_make(1, 1, NQ, D), k = buf_make(1, 1, NK, D), v = buf_make(1, 1, NK, D);
  buf bias = buf_make(1, 1, NQ, NK);
  tu_fill_normal(q.t.data, q.n), tu_fill_normal(k.t.data, k.n), tu_fill_normal(v.t.data, v.n);
  for (int64_t i = 0; i < NQ; ++i)
    for (int64_t j = 0; j < NK; ++j) bias.storage[i * NK + j] = (j % 3 == 1) ? -1e30f : 0.0f;
  for (int64_t j = 0; j < NK; ++j) bias.storage[2 * NK + j] = -FLT_MAX; /* a whole row */
  vecattn_sdpa_opts o = {0};
  o.bias = &bias.t;
  unsigned char skip[6] = {0, 0, 1, 0, 0, 0}; /* -FLT_MAX swallows q.k: only finiteness */
  buf out = buf_make(1, 1, NQ, D);
  TU_FOR_EACH_ISA(isa) {
    check_against_ref("bias -1e30 on every third key", isa, &q, &k, &v, &o, skip, ROW_TOL);
    ck_assert_int_eq(vecattn_sdpa(&q.t, &k.t, &v.t, &out.t, &o), VECATTN_OK);
    ck_assert_msg(all_finite(out.t.data, out.n), "[%s] -FLT_MAX bias row produced Inf/NaN",
                  vecattn_isa_name(isa));
  }
  buf_free(&q), buf_free(&k), buf_free(&v), buf_free(&bias), buf_free(&out);
}
END_TEST

/* Huge q against tiny k keeps the scores O(1); huge v stays finite as long
 * as Nk * |v| does (the accumulator is unnormalised until the end). */
START_TEST(test_near_flt_max_inputs) {
  tu_reseed(3);
  const int64_t H = 2, NQ = 7, NK = 41, D = 24;
  buf q = buf_make(1, H, NQ, D), k = buf_make(1, H, NK, D), v = buf_make(1, H, NK, D);
  tu_fill_normal(q.t.data, q.n), tu_fill_normal(k.t.data, k.n);
  for (size_t e = 0; e < q.n; ++e) q.storage[e] *= 1e30f;
  for (size_t e = 0; e < k.n; ++e) k.storage[e] *= 1e-30f;
  const float vmax = FLT_MAX / (float)(4 * NK);
  for (size_t e = 0; e < v.n; ++e) v.storage[e] = vmax * (float)(2.0 * tu_rand_uniform() - 1.0);
  vecattn_sdpa_opts o = {0};
  TU_FOR_EACH_ISA(isa) {
    check_against_ref("q ~1e30, k ~1e-30, |v| ~FLT_MAX/4Nk", isa, &q, &k, &v, &o, NULL, ROW_TOL);
    o.causal = 1;
    check_against_ref("same, causal", isa, &q, &k, &v, &o, NULL, ROW_TOL);
    o.causal = 0;
  }
  buf_free(&q), buf_free(&k), buf_free(&v);
}
END_TEST

/* ARMv7 NEON flushes denormal operands and results to zero whatever FPSCR
 * says (an architectural rule), so on neon32 denormal values read as zero:
 * every output element must be exactly zero, never poison or garbage. */
static void check_flushed(const char *label, vecattn_isa isa, const buf *q, const buf *k, const buf *v,
                          vecattn_sdpa_opts *o) {
  buf out = buf_make(q->t.shape[0], q->t.shape[1], q->t.shape[2], v->t.shape[3]);
  tu_poison(out.t.data, out.n);
  const vecattn_status st = vecattn_sdpa(&q->t, &k->t, &v->t, &out.t, o);
  ck_assert_msg(st == VECATTN_OK, "%s [%s]: status %d", label, vecattn_isa_name(isa), (int)st);
  for (size_t e = 0; e < out.n; ++e)
    ck_assert_msg(out.storage[e] == 0.0f, "%s [%s]: out[%zu] = %g, want 0 (denormals flushed)", label,
                  vecattn_isa_name(isa), e, (double)out.storage[e]);
  buf_free(&out);
}

START_TEST(test_denormals) {
  tu_reseed(4);
  const int64_t NQ = 5, NK = 19, D = 12;
  buf q = buf_make(1, 2, NQ, D), k = buf_make(1, 2, NK, D), v = buf_make(1, 2, NK, D);
  tu_fill_normal(q.t.data, q.n), tu_fill_normal(k.t.data, k.n), tu_fill_normal(v.t.data, v.n);
  vecattn_sdpa_opts o = {0};
  TU_FOR_EACH_ISA(isa) {
    /* denormal keys: every score rounds to ~0, uniform weights over normal v */
    for (size_t e = 0; e < k.n; ++e) k.storage[e] *= 1e-39f;
    check_against_ref("denormal k", isa, &q, &k, &v, &o, NULL, 1e-5);
    /* denormal v: outputs are denormal averages (few significant bits) */
    for (size_t e = 0; e < v.n; ++e) v.storage[e] *= 1e-39f;
    if (isa == VECATTN_ISA_NEON32)
      check_flushed("denormal k and v", isa, &q, &k, &v, &o);
    else
      check_against_ref("denormal k and v", isa, &q, &k, &v, &o, NULL, 1e-3);
    /* everything denormal, and a denormal scale */
    for (size_t e = 0; e < q.n; ++e) q.storage[e] *= 1e-39f;
    o.scale = 1e-40f;
    if (isa == VECATTN_ISA_NEON32)
      check_flushed("denormal q, k, v, scale", isa, &q, &k, &v, &o);
    else
      check_against_ref("denormal q, k, v, scale", isa, &q, &k, &v, &o, NULL, 1e-3);
    o.scale = 0.0f;
    tu_reseed(4);
    tu_fill_normal(q.t.data, q.n), tu_fill_normal(k.t.data, k.n), tu_fill_normal(v.t.data, v.n);
  }
  buf_free(&q), buf_free(&k), buf_free(&v);
}
END_TEST

/* NaN or Inf in one query row (or one bias row) stays in that row, NaN in
 * one head's keys and values stays in that head, and NaN in padding past
 * kv_len stays out of every row. */
START_TEST(test_nonfinite_isolated) {
  tu_reseed(5);
  const int64_t B = 2, H = 4, HKV = 2, NQ = 21, NK = 45, D = 16;
  const int64_t rows = B * H * NQ;
  buf q = buf_make(B, H, NQ, D), k = buf_make(B, HKV, NK, D), v = buf_make(B, HKV, NK, D);
  buf bias = buf_make(B, H, NQ, NK);
  tu_fill_normal(q.t.data, q.n), tu_fill_normal(k.t.data, k.n), tu_fill_normal(v.t.data, v.n);
  memset(bias.t.data, 0, bias.n * sizeof(float));
  unsigned char *skip = calloc((size_t)rows, 1);
  const int64_t nan_row = 3, inf_row = H * NQ + 2 * NQ + 17, bias_row = 5 * NQ / 2;
  q.storage[nan_row * D + 5] = NAN;
  q.storage[inf_row * D] = INFINITY;
  bias.storage[bias_row * NK + 11] = NAN;
  skip[nan_row] = skip[inf_row] = skip[bias_row] = 1;
  /* NaN in one key and value of (batch 0, kv head 1): its query heads 2 and 3
   * may turn NaN (a P*V product 0 * NaN reaches rows that mask the key), no
   * other batch or head may. */
  for (int64_t d = 0; d < D; ++d) k.storage[(1 * NK + 7) * D + d] = v.storage[(1 * NK + 7) * D + d] = NAN;
  memset(skip + 2 * NQ, 1, (size_t)(2 * NQ));
  /* padding past kv_len holds garbage, as a reused buffer would */
  int32_t kv_len[2] = {NK, 30};
  for (int64_t j = kv_len[1]; j < NK; ++j)
    for (int64_t hk = 0; hk < HKV; ++hk)
      for (int64_t d = 0; d < D; ++d) {
        k.storage[((HKV + hk) * NK + j) * D + d] = NAN;
        v.storage[((HKV + hk) * NK + j) * D + d] = (d & 1) ? INFINITY : NAN;
      }
  vecattn_sdpa_opts o = {0};
  o.kv_len = kv_len;
  o.bias = &bias.t;
  buf w = buf_make(B, H, NQ, NK);
  TU_FOR_EACH_ISA(isa) {
    o.causal = 0;
    check_against_ref("NaN/Inf in single q and bias rows, NaN padding", isa, &q, &k, &v, &o, skip, ROW_TOL);
    o.causal = 1;
    check_against_ref("same, causal", isa, &q, &k, &v, &o, skip, ROW_TOL);
    ck_assert_int_eq(vecattn_attention_weights(&q.t, &k.t, &w.t, &o), VECATTN_OK);
    for (int64_t r = 0; r < rows; ++r)
      if (!skip[r])
        ck_assert_msg(all_finite(w.storage + r * NK, (size_t)NK), "[%s] weights row %lld has Inf/NaN",
                      vecattn_isa_name(isa), (long long)r);
  }
  buf_free(&q), buf_free(&k), buf_free(&v), buf_free(&bias), buf_free(&w);
  free(skip);
}
END_TEST

/* Masked rows come out as exact zeros and lse -inf, over a poisoned output,
 * whichever mask hid the keys. */
START_TEST(test_fully_masked_rows) {
  tu_reseed(6);
  const int64_t B = 2, H = 2, NQ = 12, NK = 8, D = 8;
  buf q = buf_make(B, H, NQ, D), k = buf_make(B, H, NK, D), v = buf_make(B, H, NK, D);
  buf bias = buf_make(B, H, NQ, NK), w = buf_make(B, H, NQ, NK);
  tu_fill_normal(q.t.data, q.n), tu_fill_normal(k.t.data, k.n), tu_fill_normal(v.t.data, v.n);
  memset(bias.t.data, 0, bias.n * sizeof(float));
  for (int64_t j = 0; j < NK; ++j) bias.storage[(NQ + 6) * NK + j] = -INFINITY; /* b 0, h 1, i 6 */
  int32_t kv_none[2] = {NK, 0}, kv_short[2] = {3, 3};
  struct {
    const char *name;
    int causal;
    int64_t window;
    const int32_t *kv_len;
    int use_bias;
  } cases[] = {
      {"causal, Nq > Nk (first 4 rows see nothing)", 1, 0, NULL, 0},
      {"window 1 + causal, Nq > Nk", 1, 1, NULL, 0},
      {"kv_len 0 for batch 1", 0, 0, kv_none, 0},
      {"window 2 past kv_len 3", 0, 2, kv_short, 0},
      {"-inf bias row", 0, 0, NULL, 1},
      {"all of them", 1, 2, kv_short, 1},
  };
  const int64_t rows = B * H * NQ;
  double *ref_w = malloc(sizeof(double) * (size_t)(rows * NK)), *ref_lse = malloc(sizeof(double) * (size_t)rows);
  double *ref_o = malloc(sizeof(double) * (size_t)(rows * D));
  TU_FOR_EACH_ISA(isa) for (size_t c = 0; c < sizeof cases / sizeof cases[0]; ++c) {
    vecattn_sdpa_opts o = {0};
    o.causal = cases[c].causal, o.window = cases[c].window, o.kv_len = cases[c].kv_len;
    o.bias = cases[c].use_bias ? &bias.t : NULL;
    ref_sdpa(&q.t, &k.t, &v.t, &o, ref_o, ref_lse);
    int64_t masked = 0;
    for (int64_t r = 0; r < rows; ++r) masked += ref_lse[r] == -INFINITY;
    ck_assert_msg(masked > 0, "%s: case masks no row", cases[c].name);
    check_against_ref(cases[c].name, isa, &q, &k, &v, &o, NULL, ROW_TOL);
    /* exact zeros over a poisoned output (check_against_ref allows tiny error) */
    buf out = buf_make(B, H, NQ, D);
    tu_poison(out.t.data, out.n);
    ck_assert_int_eq(vecattn_sdpa(&q.t, &k.t, &v.t, &out.t, &o), VECATTN_OK);
    tu_poison(w.t.data, w.n);
    ck_assert_int_eq(vecattn_attention_weights(&q.t, &k.t, &w.t, &o), VECATTN_OK);
    ref_weights(&q.t, &k.t, &o, ref_w, NULL);
    for (int64_t r = 0; r < rows; ++r) {
      if (ref_lse[r] != -INFINITY) continue;
      for (int64_t d = 0; d < D; ++d)
        ck_assert_msg(out.storage[r * D + d] == 0.0f, "%s [%s]: masked row %lld out[%lld] = %g", cases[c].name,
                      vecattn_isa_name(isa), (long long)r, (long long)d, (double)out.storage[r * D + d]);
      for (int64_t j = 0; j < NK; ++j)
        ck_assert_msg(w.storage[r * NK + j] == 0.0f, "%s [%s]: masked row %lld weight[%lld] = %g", cases[c].name,
                      vecattn_isa_name(isa), (long long)r, (long long)j, (double)w.storage[r * NK + j]);
    }
    ck_assert_msg(rel_err(w.t.data, ref_w, rows * NK, 0) <= 2e-6, "%s [%s]: weights differ", cases[c].name,
                  vecattn_isa_name(isa));
    buf_free(&out);
  }
  free(ref_w), free(ref_lse), free(ref_o);
  buf_free(&q), buf_free(&k), buf_free(&v), buf_free(&bias), buf_free(&w);
}
END_TEST

/* N = 1 and D = 1: one key means out = v exactly and lse = the score. */
START_TEST(test_smallest_shapes) {
  tu_reseed(7);
  TU_FOR_EACH_ISA(isa) {
    buf q = buf_make(1, 1, 1, 1), k = buf_make(1, 1, 1, 1), v = buf_make(1, 1, 1, 1), out = buf_make(1, 1, 1, 1);
    float lse;
    q.storage[0] = 1.5f, k.storage[0] = -2.0f, v.storage[0] = 0.375f;
    vecattn_sdpa_opts o = {0};
    o.lse = &lse;
    for (int causal = 0; causal < 2; ++causal) {
      o.causal = causal;
      ck_assert_int_eq(vecattn_sdpa(&q.t, &k.t, &v.t, &out.t, &o), VECATTN_OK);
      ck_assert_msg(out.storage[0] == 0.375f && lse == -3.0f, "[%s] N=D=1: out %g lse %g", vecattn_isa_name(isa),
                    (double)out.storage[0], (double)lse);
    }
    buf_free(&q), buf_free(&k), buf_free(&v), buf_free(&out);
    /* D = 1 and Dv = 1 over a few keys and queries, GQA */
    buf q2 = buf_make(2, 4, 3, 1), k2 = buf_make(2, 2, 5, 1), v2 = buf_make(2, 2, 5, 1);
    tu_fill_normal(q2.t.data, q2.n), tu_fill_normal(k2.t.data, k2.n), tu_fill_normal(v2.t.data, v2.n);
    vecattn_sdpa_opts o2 = {0};
    check_against_ref("D=Dv=1", isa, &q2, &k2, &v2, &o2, NULL, ROW_TOL);
    o2.causal = 1;
    check_against_ref("D=Dv=1, causal", isa, &q2, &k2, &v2, &o2, NULL, ROW_TOL);
    buf_free(&q2), buf_free(&k2), buf_free(&v2);
  }
}
END_TEST

/* Float64 attention for one query row, causal and kv_len masks only.
 * Returns lse (-INFINITY when nothing is visible). */
static double ref_row(const vecattn_tensor *q, const vecattn_tensor *k, const vecattn_tensor *v, int causal,
                      int64_t kv_len, int64_t b, int64_t h, int64_t i, double *out) {
  const int64_t Nq = q->shape[2], Nk = k->shape[2], D = q->shape[3], Dv = v->shape[3];
  const int64_t hk = h / (q->shape[1] / k->shape[1]);
  int64_t hi = causal ? i + Nk - Nq + 1 : Nk;
  if (kv_len < hi) hi = kv_len;
  const double scale = 1.0 / sqrt((double)D);
  const float *qr = tu_at(q, b, h, i, 0);
  double *s = malloc(sizeof(double) * (size_t)(hi > 0 ? hi : 1)), mx = -INFINITY, sum = 0;
  for (int64_t j = 0; j < hi; ++j) {
    const float *kr = tu_at(k, b, hk, j, 0);
    double x = 0;
    for (int64_t d = 0; d < D; ++d) x += (double)qr[d] * kr[d];
    s[j] = x * scale;
    mx = fmax(mx, s[j]);
  }
  for (int64_t e = 0; e < Dv; ++e) out[e] = 0;
  for (int64_t j = 0; j < hi; ++j) {
    const double p = exp(s[j] - mx);
    const float *vr = tu_at(v, b, hk, j, 0);
    sum += p;
    for (int64_t e = 0; e < Dv; ++e) out[e] += p * vr[e];
  }
  for (int64_t e = 0; e < Dv && hi > 0; ++e) out[e] /= sum;
  free(s);
  return hi > 0 ? mx + log(sum) : -INFINITY;
}

static void check_rows(const char *label, vecattn_isa isa, const buf *q, const buf *k, const buf *v, const buf *out,
                       const float *lse, int causal, const int32_t *kv_len, const int64_t *rows, int n_rows,
                       double tol) {
  const int64_t H = q->t.shape[1], Nq = q->t.shape[2], Dv = v->t.shape[3];
  double *ref = malloc(sizeof(double) * (size_t)Dv);
  for (int n = 0; n < n_rows; ++n) {
    const int64_t r = rows[n], b = r / (H * Nq), h = r / Nq % H, i = r % Nq;
    const double ref_lse = ref_row(&q->t, &k->t, &v->t, causal, kv_len ? kv_len[b] : k->t.shape[2], b, h, i, ref);
    const float *got = tu_at(&out->t, b, h, i, 0);
    ck_assert_msg(all_finite(got, (size_t)Dv), "%s [%s]: row %lld has Inf/NaN", label, vecattn_isa_name(isa),
                  (long long)r);
    const double e = rel_err(got, ref, Dv, 0), le = fabs(lse[r] - ref_lse) / fmax(1.0, fabs(ref_lse));
    if (tu_verbose()) printf("%s [%s] row %lld: out %.3g lse %.3g\n", label, vecattn_isa_name(isa), (long long)r, e, le);
    ck_assert_msg(e <= tol, "%s [%s]: row %lld error %.3g > %.3g", label, vecattn_isa_name(isa), (long long)r, e, tol);
    ck_assert_msg(le <= tol, "%s [%s]: row %lld lse %g, want %g", label, vecattn_isa_name(isa), (long long)r,
                  (double)lse[r], ref_lse);
  }
  free(ref);
}

/* 65536 keys for a few queries (decode against a long cache), the second
 * batch padded to 40000 keys with NaN garbage past its kv_len. */
START_TEST(test_long_keys) {
  tu_reseed(8);
  const int64_t NK = tu_emulated() ? 8192 : 65536, NQ = 3, D = 64, B = 2;
  const int32_t kv_len[2] = {(int32_t)NK, (int32_t)(NK * 5 / 8)};
  buf q = buf_make(B, 1, NQ, D), k = buf_make(B, 1, NK, D), v = buf_make(B, 1, NK, D), out = buf_make(B, 1, NQ, D);
  tu_fill_normal(q.t.data, q.n), tu_fill_normal(k.t.data, k.n), tu_fill_normal(v.t.data, v.n);
  for (size_t e = 0; e < q.n; ++e) q.storage[e] *= 2.0f; /* peakier softmax: fewer keys dominate */
  for (int64_t j = kv_len[1]; j < NK; ++j)
    for (int64_t d = 0; d < D; ++d) *tu_at(&k.t, 1, 0, j, d) = *tu_at(&v.t, 1, 0, j, d) = NAN;
  float lse[2 * 3];
  const int64_t rows[] = {0, 1, 2, 3, 4, 5};
  vecattn_sdpa_opts o = {0};
  o.lse = lse;
  o.kv_len = kv_len;
  TU_FOR_EACH_ISA(isa) {
    ck_assert_int_eq(vecattn_sdpa(&q.t, &k.t, &v.t, &out.t, &o), VECATTN_OK);
    check_rows("65536 keys, 3 queries", isa, &q, &k, &v, &out, lse, 0, kv_len, rows, 6, 1e-5);
    o.causal = 1;
    ck_assert_int_eq(vecattn_sdpa(&q.t, &k.t, &v.t, &out.t, &o), VECATTN_OK);
    check_rows("65536 keys, 3 queries, causal", isa, &q, &k, &v, &out, lse, 1, kv_len, rows, 6, 1e-5);
    o.causal = 0;
  }
  buf_free(&q), buf_free(&k), buf_free(&v), buf_free(&out);
}
END_TEST

/* Causal prefill, GQA: the first, last and some middle rows of every head. */
START_TEST(test_long_causal_prefill) {
  tu_reseed(9);
  const int64_t N = tu_emulated() ? 256 : 1536, D = 64, H = 2, HKV = 1;
  buf q = buf_make(1, H, N, D), k = buf_make(1, HKV, N, D), v = buf_make(1, HKV, N, D), out = buf_make(1, H, N, D);
  tu_fill_normal(q.t.data, q.n), tu_fill_normal(k.t.data, k.n), tu_fill_normal(v.t.data, v.n);
  float *lse = malloc(sizeof(float) * (size_t)(H * N));
  int64_t rows[2 * 12];
  int n_rows = 0;
  for (int64_t h = 0; h < H; ++h) {
    const int64_t pick[] = {0, 1, 7, 8, 63, 64, N / 2 - 1, N / 2, N - 65, N - 2, N - 1, tu_rand_int(0, N - 1)};
    for (int p = 0; p < 12; ++p) rows[n_rows++] = h * N + pick[p];
  }
  vecattn_sdpa_opts o = {0};
  o.causal = 1;
  o.lse = lse;
  TU_FOR_EACH_ISA(isa) {
    ck_assert_int_eq(vecattn_sdpa(&q.t, &k.t, &v.t, &out.t, &o), VECATTN_OK);
    check_rows("causal prefill", isa, &q, &k, &v, &out, lse, 1, NULL, rows, n_rows, 5e-6);
  }
  free(lse);
  buf_free(&q), buf_free(&k), buf_free(&v), buf_free(&out);
}
END_TEST

int main(void) {
  tu_init("numerics");
  Suite *s = suite_create("numerics");
  TCase *tc = tcase_create("numerics");
  tcase_add_test(tc, test_huge_scores);
  tcase_add_test(tc, test_huge_negative_bias);
  tcase_add_test(tc, test_near_flt_max_inputs);
  tcase_add_test(tc, test_denormals);
  tcase_add_test(tc, test_nonfinite_isolated);
  tcase_add_test(tc, test_fully_masked_rows);
  tcase_add_test(tc, test_smallest_shapes);
  tcase_add_test(tc, test_long_keys);
  tcase_add_test(tc, test_long_causal_prefill);
  suite_add_tcase(s, tc);
  return tu_run_suite(s);
}
