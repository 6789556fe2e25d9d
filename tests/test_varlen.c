/* vecattn_sdpa_varlen against a loop of dense vecattn_sdpa calls, one per
 * sequence, on every ISA: empty sequences (no queries, no keys), every mask
 * (causal bottom-right per sequence, window, ALiBi), GQA and MQA, typed K/V,
 * typed Q and out, packed and head-major layouts; bitwise where the tiling is
 * the same; a long context beside many short ones (split by work) bitwise for
 * 1, 2 and 3 threads; bad cu_seqlens and options write nothing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct {
  const char *name;
  int hq, hkv, d, dv;
  int causal, window, alibi;
  vecattn_dtype qt, kt, vt, ot;
  int head_major; /* q/k/v/out as [1][H][total][D] instead of packed [total][H][D] */
  int n;
  int nq[8], nk[8];
  int spare_q; /* rows after cu_seqlens_q[n] that must stay untouched */
} varlen_case;

#define F32 VECATTN_F32
#define F16 VECATTN_F16
#define BF16 VECATTN_BF16
#define Q80 VECATTN_Q8_0

static const varlen_case cases[] = {
    {"mixed, none", 4, 2, 24, 40, 0, 0, 0, F32, F32, F32, F32, 0, 6, {1, 17, 0, 5, 40, 3}, {300, 17, 5, 0, 130, 3}, 3},
    {"mixed, causal", 4, 2, 24, 40, 1, 0, 0, F32, F32, F32, F32, 0, 6, {1, 17, 0, 5, 40, 3}, {300, 17, 5, 0, 130, 3}, 0},
    {"causal Nq > Nk", 3, 3, 17, 9, 1, 0, 0, F32, F32, F32, F32, 0, 3, {20, 7, 1}, {12, 7, 1}, 1},
    {"window=7", 4, 1, 16, 16, 0, 7, 0, F32, F32, F32, F32, 1, 4, {9, 1, 30, 2}, {50, 64, 30, 200}, 0},
    {"causal+window=5", 6, 2, 8, 24, 1, 5, 0, F32, F32, F32, F32, 0, 4, {33, 1, 2, 65}, {33, 100, 9, 70}, 2},
    {"alibi", 4, 2, 20, 20, 0, 0, 1, F32, F32, F32, F32, 0, 3, {4, 1, 19}, {63, 129, 19}, 0},
    {"causal+alibi, empty ends", 4, 4, 12, 12, 1, 0, 1, F32, F32, F32, F32, 0, 5, {0, 7, 66, 1, 0}, {0, 7, 70, 257, 0}, 0},
    {"f16 K/V causal", 4, 2, 32, 32, 1, 0, 0, F32, F16, F16, F32, 0, 4, {1, 24, 3, 0}, {500, 24, 0, 9}, 0},
    {"bf16 K, q8_0 V", 8, 2, 32, 32, 1, 9, 0, F32, BF16, Q80, F32, 0, 3, {1, 70, 2}, {333, 80, 2}, 0},
    {"q8_0 K/V, f16 q, bf16 out", 4, 1, 64, 64, 1, 0, 1, F16, Q80, Q80, BF16, 0, 4, {2, 1, 17, 5}, {40, 700, 17, 5}, 1},
    {"f16 q/out, bf16 V, head-major", 2, 1, 32, 40, 0, 3, 0, F16, F32, BF16, F16, 1, 3, {5, 1, 12}, {5, 90, 30}, 0},
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

typedef struct {
  vecattn_tensor t;
  void *mem;
  size_t bytes;
} tbuf;

/* [1, h, total, d] of type dt, packed ([total][h][d]) or head-major, from f32 N(0,1). */
static void make(tbuf *b, vecattn_dtype dt, int head_major, int64_t h, int64_t total, int64_t d, int guarded) {
  const int64_t n = h * total * d;
  float *f = malloc((size_t)(n ? n : 1) * sizeof *f);
  tu_fill_normal(f, (size_t)n);
  b->bytes = vecattn_dtype_bytes(dt, n);
  b->mem = guarded ? tu_guarded_alloc(b->bytes ? b->bytes : 1, 4) : malloc(b->bytes ? b->bytes : 1);
  ck_assert_int_eq(vecattn_convert(f, VECATTN_F32, b->mem, dt, n), VECATTN_OK);
  b->t = head_major ? vecattn_tensor_bhsd_typed(b->mem, dt, 1, h, total, d)
                    : vecattn_tensor_bshd_typed(b->mem, dt, 1, total, h, d);
  free(f);
}

static void drop(tbuf *b, int guarded) { guarded ? tu_guarded_free(b->mem) : free(b->mem); }

/* Rows [r0, r0 + n) of the sequence dimension. */
static vecattn_tensor rows(const vecattn_tensor *t, int64_t r0, int64_t n) {
  vecattn_tensor v = *t;
  v.data = (unsigned char *)t->data + vecattn_dtype_bytes(t->dtype, r0 * t->stride[2]);
  v.shape[2] = n;
  return v;
}

static double elem(const vecattn_tensor *t, int64_t h, int64_t i, int64_t e) {
  float x;
  const int64_t off = h * t->stride[1] + i * t->stride[2] + e;
  vecattn_convert((const unsigned char *)t->data + vecattn_dtype_bytes(t->dtype, off), t->dtype, &x, VECATTN_F32, 1);
  return x;
}

/* The loop of dense calls: ref_out as out's type (contiguous like out), ref_lse [Hq][total_q]. */
static void dense_loop(const vecattn_tensor *q, const vecattn_tensor *k, const vecattn_tensor *v, tbuf *ref,
                       float *ref_lse, const int32_t *cq, const int32_t *ck, int n, const vecattn_sdpa_opts *o) {
  const int64_t hq = q->shape[1], total_q = q->shape[2], dv = v->shape[3];
  for (int s = 0; s < n; ++s) {
    const int64_t nq = cq[s + 1] - cq[s], nk = ck[s + 1] - ck[s];
    if (nq == 0) continue;
    vecattn_tensor ro = rows(&ref->t, cq[s], nq);
    if (nk == 0) {
      for (int64_t h = 0; h < hq; ++h)
        for (int64_t i = 0; i < nq; ++i) {
          ref_lse[h * total_q + cq[s] + i] = -INFINITY;
          memset((unsigned char *)ro.data + vecattn_dtype_bytes(ro.dtype, h * ro.stride[1] + i * ro.stride[2]), 0,
                 vecattn_dtype_bytes(ro.dtype, dv));
        }
      continue;
    }
    float *lse = malloc((size_t)(hq * nq) * sizeof *lse);
    vecattn_tensor qs = rows(q, cq[s], nq), ks = rows(k, ck[s], nk), vs = rows(v, ck[s], nk);
    vecattn_sdpa_opts so = *o;
    so.lse = lse;
    ck_assert_int_eq(vecattn_sdpa(&qs, &ks, &vs, &ro, &so), VECATTN_OK);
    for (int64_t h = 0; h < hq; ++h)
      for (int64_t i = 0; i < nq; ++i) ref_lse[h * total_q + cq[s] + i] = lse[h * nq + i];
    free(lse);
  }
}

static void cumulate(const int *len, int n, int32_t *cu) {
  cu[0] = 0;
  for (int s = 0; s < n; ++s) cu[s + 1] = cu[s] + len[s];
}

static void run_case(const varlen_case *c, int idx) {
  tu_reseed(0x7A21E000u + (uint64_t)idx);
  int32_t cq[9], ck[9];
  cumulate(c->nq, c->n, cq), cumulate(c->nk, c->n, ck);
  const int64_t total_q = cq[c->n] + c->spare_q, total_k = ck[c->n] > 0 ? ck[c->n] : 1;
  tbuf q, k, v, out, ref;
  make(&q, c->qt, c->head_major, c->hq, total_q, c->d, 0);
  make(&k, c->kt, c->head_major, c->hkv, total_k, c->d, 0);
  make(&v, c->vt, c->head_major, c->hkv, total_k, c->dv, 0);
  make(&out, c->ot, c->head_major, c->hq, total_q, c->dv, 1);
  make(&ref, c->ot, c->head_major, c->hq, total_q, c->dv, 0);
  const size_t lse_n = (size_t)(c->hq * total_q);
  float *lse = tu_guarded_alloc(lse_n * sizeof *lse, 8), *ref_lse = malloc(lse_n * sizeof *ref_lse);
  float slopes[8];
  for (int h = 0; h < c->hq; ++h) slopes[h] = powf(2.0f, -8.0f * (float)(h + 1) / (float)c->hq);
  vecattn_sdpa_opts o = {0};
  o.causal = c->causal, o.window = c->window;
  if (c->alibi) o.alibi_slopes = slopes;
  const double tol = c->ot == F32 ? 1e-6 : c->ot == F16 ? 1e-3 : 8e-3; /* out rounded to its type */

  TU_FOR_EACH_ISA(isa) {
    const char *in = vecattn_isa_name(isa);
    memset(ref.mem, 0xff, ref.bytes);
    dense_loop(&q.t, &k.t, &v.t, &ref, ref_lse, cq, ck, c->n, &o);
    memset(out.mem, 0xff, out.bytes); /* NaN in every float type */
    tu_poison(lse, lse_n);
    vecattn_sdpa_opts vo = o;
    vo.lse = lse;
    vecattn_status st = vecattn_sdpa_varlen(&q.t, &k.t, &v.t, &out.t, cq, ck, c->n, &vo);
    ck_assert_msg(st == VECATTN_OK, "%s [isa %s]: status %d", c->name, in, (int)st);
    ck_assert_msg(tu_guard_ok(out.mem) && tu_guard_ok(lse), "%s [isa %s]: write outside out/lse", c->name, in);
    double num = 0, den = 0;
    for (int64_t h = 0; h < c->hq; ++h)
      for (int64_t i = 0; i < total_q; ++i) {
        const float l = lse[h * total_q + i];
        if (i >= cq[c->n]) { /* past the last sequence: untouched */
          ck_assert_msg(tu_is_poison(l), "%s [isa %s]: lse of spare row %lld written", c->name, in, (long long)i);
          ck_assert_msg(isnan(elem(&out.t, h, i, 0)), "%s [isa %s]: spare row %lld written", c->name, in, (long long)i);
          continue;
        }
        const float rl = ref_lse[h * total_q + i];
        if (rl == -INFINITY)
          ck_assert_msg(l == -INFINITY, "%s [isa %s]: h %lld row %lld lse %g, want -inf", c->name, in, (long long)h,
                        (long long)i, (double)l);
        else
          ck_assert_msg(fabsf(l - rl) <= 1e-6f * fmaxf(1.0f, fabsf(rl)), "%s [isa %s]: h %lld row %lld lse %.9g, dense %.9g",
                        c->name, in, (long long)h, (long long)i, (double)l, (double)rl);
        for (int64_t e = 0; e < c->dv; ++e) {
          const double x = elem(&out.t, h, i, e), y = elem(&ref.t, h, i, e);
          ck_assert_msg(isfinite(x), "%s [isa %s]: h %lld row %lld not finite", c->name, in, (long long)h, (long long)i);
          if (rl == -INFINITY) ck_assert_msg(x == 0.0, "%s [isa %s]: masked row not zero", c->name, in);
          num += (x - y) * (x - y), den += y * y;
        }
      }
    const double err = den > 0 ? sqrt(num / den) : sqrt(num);
    if (tu_verbose()) printf("  %s [isa %s]: rel L2 vs dense loop %.2e\n", c->name, in, err);
    ck_assert_msg(err <= tol, "%s [isa %s, seed %llu]: rel L2 vs dense loop %.3e > %.1e", c->name, in,
                  (unsigned long long)tu_seed(), err, tol);
  }
  drop(&q, 0), drop(&k, 0), drop(&v, 0), drop(&out, 1), drop(&ref, 0);
  tu_guarded_free(lse), free(ref_lse);
}

START_TEST(test_varlen_equals_dense_loop) { run_case(&cases[_i], _i); }
END_TEST

/* At most 64 keys per sequence: a prefill tile's one key block, or at most
 * four decode blocks, which neither driver ever cuts (chunks keep four blocks
 * or more) on any ISA. So varlen computes exactly what the dense calls compute,
 * prefill tiles and decode rows alike. */
START_TEST(test_same_tiling_bitwise) {
  tu_reseed(0x7A21F000u);
  enum { N = 5, H = 8, DH = 16 };
  int nq[N] = {576, 1, 37, 200, 3}, nk[N] = {64, 50, 64, 17, 64};
  int32_t cq[N + 1], ck[N + 1];
  cumulate(nq, N, cq), cumulate(nk, N, ck);
  tbuf q, k, v, out, ref;
  make(&q, F32, 0, H, cq[N], DH, 0), make(&k, F32, 0, H, ck[N], DH, 0), make(&v, F32, 0, H, ck[N], DH, 0);
  make(&out, F32, 0, H, cq[N], DH, 1), make(&ref, F32, 0, H, cq[N], DH, 0);
  float *lse = malloc((size_t)(H * cq[N]) * sizeof *lse), *ref_lse = malloc((size_t)(H * cq[N]) * sizeof *lse);
  for (int causal = 0; causal < 2; ++causal) {
    vecattn_sdpa_opts o = {0};
    o.causal = causal; /* Nq > Nk: causal leaves rows empty */
    TU_FOR_EACH_ISA(isa) {
      dense_loop(&q.t, &k.t, &v.t, &ref, ref_lse, cq, ck, N, &o);
      vecattn_sdpa_opts vo = o;
      vo.lse = lse;
      ck_assert_int_eq(vecattn_sdpa_varlen(&q.t, &k.t, &v.t, &out.t, cq, ck, N, &vo), VECATTN_OK);
      ck_assert_msg(memcmp(out.mem, ref.mem, out.bytes) == 0, "[isa %s] causal %d: varlen differs from the dense loop",
                    vecattn_isa_name(isa), causal);
      ck_assert_msg(memcmp(lse, ref_lse, (size_t)(H * cq[N]) * sizeof *lse) == 0, "[isa %s] causal %d: lse differs",
                    vecattn_isa_name(isa), causal);
    }
  }
  drop(&q, 0), drop(&k, 0), drop(&v, 0), drop(&out, 1), drop(&ref, 0), free(lse), free(ref_lse);
}
END_TEST

/* One long context beside 30 short ones, and two prefill chunks: the long
 * tiles are cut into key chunks. Equal to the dense loop, and the same bits
 * for 1, 2 and 3 threads. */
START_TEST(test_long_beside_short) {
  tu_reseed(0x7A220000u);
  enum { N = 33, HQ = 8, HKV = 2, DH = 64 };
  int nq[N], nk[N];
  nq[0] = 1, nk[0] = tu_emulated() ? 2000 : 12000;
  for (int s = 1; s < N; ++s) nq[s] = 1, nk[s] = (int)tu_rand_int(50, 150);
  nq[7] = 64, nk[7] = 700; /* prefill chunks over a cached prefix */
  nq[20] = 40, nk[20] = 40;
  int32_t cq[N + 1], ck[N + 1];
  cumulate(nq, N, cq), cumulate(nk, N, ck);
  tbuf q, k, v, out, ref;
  make(&q, F32, 0, HQ, cq[N], DH, 0), make(&k, F16, 0, HKV, ck[N], DH, 0), make(&v, F16, 0, HKV, ck[N], DH, 0);
  make(&out, F32, 0, HQ, cq[N], DH, 1), make(&ref, F32, 0, HQ, cq[N], DH, 0);
  const size_t lse_n = (size_t)(HQ * cq[N]);
  float *lse = malloc(lse_n * sizeof *lse), *lse1 = malloc(lse_n * sizeof *lse), *ref_lse = malloc(lse_n * sizeof *lse);
  float *out1 = malloc(out.bytes);
  vecattn_sdpa_opts o = {0};
  o.causal = 1;
  TU_FOR_EACH_ISA(isa) {
    const char *in = vecattn_isa_name(isa);
    dense_loop(&q.t, &k.t, &v.t, &ref, ref_lse, cq, ck, N, &o);
    for (int threads = 1; threads <= (tu_threads_ok() ? 3 : 1); ++threads) {
      vecattn_sdpa_opts vo = o;
      vo.lse = lse, vo.num_threads = threads;
      memset(out.mem, 0xff, out.bytes);
      ck_assert_int_eq(vecattn_sdpa_varlen(&q.t, &k.t, &v.t, &out.t, cq, ck, N, &vo), VECATTN_OK);
      if (threads == 1) {
        memcpy(out1, out.mem, out.bytes), memcpy(lse1, lse, lse_n * sizeof *lse);
        double num = 0, den = 0;
        const float *x = out1, *y = ref.mem;
        for (size_t e = 0; e < out.bytes / sizeof(float); ++e) num += ((double)x[e] - y[e]) * ((double)x[e] - y[e]), den += (double)y[e] * y[e];
        ck_assert_msg(sqrt(num / den) <= 1e-6, "[isa %s] long beside short: rel L2 vs dense loop %.3e", in, sqrt(num / den));
        for (size_t r = 0; r < lse_n; ++r)
          ck_assert_msg(fabsf(lse1[r] - ref_lse[r]) <= 1e-6f * fmaxf(1.0f, fabsf(ref_lse[r])), "[isa %s] lse %zu", in, r);
      } else {
        ck_assert_msg(memcmp(out1, out.mem, out.bytes) == 0 && memcmp(lse1, lse, lse_n * sizeof *lse) == 0,
                      "[isa %s] long beside short: %d threads differ from 1", in, threads);
      }
    }
  }
  drop(&q, 0), drop(&k, 0), drop(&v, 0), drop(&out, 1), drop(&ref, 0);
  free(lse), free(lse1), free(ref_lse), free(out1);
}
END_TEST

/* Bad arguments: the status, and out and lse untouched. */
START_TEST(test_bad_arguments) {
  enum { N = 3, H = 2, TQ = 9, TK = 12, DH = 8 };
  tbuf q, k, v, out;
  make(&q, F32, 0, H, TQ, DH, 0), make(&k, F32, 0, H, TK, DH, 0), make(&v, F32, 0, H, TK, DH, 0);
  make(&out, F32, 0, H, TQ, DH, 1);
  float *lse = tu_guarded_alloc(H * TQ * sizeof(float), 4);
  int32_t *cu = tu_guarded_alloc(4 * (N + 1) * sizeof(int32_t), 0); /* cq, ck, spare */
  const int32_t good_q[N + 1] = {0, 4, 4, 9}, good_k[N + 1] = {0, 5, 12, 12};
  int32_t kvl[1] = {3};
  vecattn_tensor bias_t = vecattn_tensor_bhsd(out.mem, 1, H, TQ, TK);
  const char *what[] = {"cu_q[0] = 1", "cu_k decreasing", "cu_q past total_q", "cu_k past total_k", "n_seqs < 0",
                        "NULL cu_q", "NULL cu_k", "kv_len", "bias", "batch 2", "cu_q inside out", "cu_k inside lse",
                        "lse overlaps q", "k and v lengths differ", "negative length in cu_q", "window < 0"};
  for (int c = 0; c < (int)(sizeof what / sizeof what[0]); ++c) {
    int32_t *cq = cu, *ck = cu + N + 1;
    memcpy(cq, good_q, sizeof good_q), memcpy(ck, good_k, sizeof good_k);
    vecattn_tensor tq = q.t, tk = k.t, tv = v.t, to = out.t;
    vecattn_sdpa_opts o = {0};
    o.lse = lse, o.causal = 1;
    int64_t n = N;
    const int32_t *pq = cq, *pk = ck;
    switch (c) {
    case 0: cq[0] = 1; break;
    case 1: ck[2] = 4; break;
    case 2: cq[3] = TQ + 1; break;
    case 3: ck[3] = TK + 1; break;
    case 4: n = -1; break;
    case 5: pq = NULL; break;
    case 6: pk = NULL; break;
    case 7: o.kv_len = kvl; break;
    case 8: o.bias = &bias_t; break;
    case 9: tq.shape[0] = 2, tq.shape[2] = 4; break;
    case 10: pq = (const int32_t *)out.mem + 3; break;
    case 11: pk = (const int32_t *)lse; break;
    case 12: o.lse = q.mem; break;
    case 13: tv.shape[2] = TK - 1; break;
    case 14: cq[1] = -4, cq[2] = 0; break;
    case 15: o.window = -1; break;
    }
    tu_poison(out.mem, out.bytes / sizeof(float));
    tu_poison(lse, H * TQ);
    const vecattn_status st = vecattn_sdpa_varlen(&tq, &tk, &tv, &to, pq, pk, n, &o);
    ck_assert_msg(st == VECATTN_EINVAL, "%s: status %d, want EINVAL", what[c], (int)st);
    for (size_t i = 0; i < out.bytes / sizeof(float); ++i)
      ck_assert_msg(tu_is_poison(((float *)out.mem)[i]), "%s: out written", what[c]);
    for (int i = 0; i < H * TQ; ++i) ck_assert_msg(tu_is_poison(lse[i]), "%s: lse written", what[c]);
    ck_assert(tu_guard_ok(out.mem) && tu_guard_ok(lse) && tu_guard_ok(cu));
  }
  /* No sequences: OK, nothing written. */
  tu_poison(out.mem, out.bytes / sizeof(float));
  ck_assert_int_eq(vecattn_sdpa_varlen(&q.t, &k.t, &v.t, &out.t, good_q, good_k, 0, NULL), VECATTN_OK);
  for (size_t i = 0; i < out.bytes / sizeof(float); ++i) ck_assert(tu_is_poison(((float *)out.mem)[i]));
  drop(&q, 0), drop(&k, 0), drop(&v, 0), drop(&out, 1), tu_guarded_free(lse), tu_guarded_free(cu);
}
END_TEST

static Suite *make_suite(void) {
  Suite *s = suite_create("varlen");
  TCase *tc = tcase_create("varlen");
  tcase_add_loop_test(tc, test_varlen_equals_dense_loop, 0, NCASES);
  tcase_add_test(tc, test_same_tiling_bitwise);
  tcase_add_test(tc, test_long_beside_short);
  tcase_add_test(tc, test_bad_arguments);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  tu_init("varlen");
  return tu_run_suite(make_suite());
}
