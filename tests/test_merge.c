/* vecattn_merge: attention over n key shards, merged, equals one vecattn_sdpa
 * call over all the keys (every ISA), with shards that are empty, fully masked
 * by kv_len or a window, rows masked everywhere, 16-bit parts and outputs;
 * thread-count independence; bad arguments write nothing. The shards see the
 * full call's masks (causal, window, kv_len, ALiBi) through an additive bias
 * built here from the contract's definitions. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define B 2
#define HQ 4
#define HKV 2
#define D 24
#define DV 40

typedef struct {
  const char *name;
  int nq, nk, n_shards;
  int causal, window, alibi;
  int kv0, kv1; /* kv_len per batch row; -1: no kv_len */
  vecattn_dtype part_t, out_t;
  int empty_shard; /* one shard of zero keys (never computed, its part poison) */
} merge_case;

static const merge_case cases[] = {
    {"decode 2 shards", 1, 257, 2, 0, 0, 0, -1, -1, VECATTN_F32, VECATTN_F32, 0},
    {"decode 3 shards", 1, 257, 3, 0, 0, 0, -1, -1, VECATTN_F32, VECATTN_F32, 0},
    {"decode 5 shards", 1, 129, 5, 0, 0, 0, -1, -1, VECATTN_F32, VECATTN_F32, 0},
    {"decode 8 shards, one empty", 1, 300, 8, 0, 0, 0, -1, -1, VECATTN_F32, VECATTN_F32, 1},
    {"prefill causal 4 shards", 7, 130, 4, 1, 0, 0, -1, -1, VECATTN_F32, VECATTN_F32, 0},
    {"causal Nq > Nk (rows masked everywhere)", 20, 12, 3, 1, 0, 0, -1, -1, VECATTN_F32, VECATTN_F32, 0},
    {"decode window=5: most shards fully masked", 1, 200, 8, 0, 5, 0, -1, -1, VECATTN_F32, VECATTN_F32, 0},
    {"kv_len {Nk, 10}: shards past 10 masked", 5, 100, 6, 0, 0, 0, 100, 10, VECATTN_F32, VECATTN_F32, 0},
    {"kv_len {0, 0}: everything masked", 3, 64, 4, 0, 0, 0, 0, 0, VECATTN_F32, VECATTN_F32, 0},
    {"causal+window+alibi 7 shards", 9, 65, 7, 1, 17, 1, -1, -1, VECATTN_F32, VECATTN_F32, 1},
    {"f16 parts, f32 out", 3, 127, 4, 1, 0, 0, -1, -1, VECATTN_F16, VECATTN_F32, 0},
    {"bf16 parts, bf16 out", 1, 99, 3, 0, 0, 0, 60, 99, VECATTN_BF16, VECATTN_BF16, 0},
    {"f32 parts, f16 out", 4, 63, 2, 1, 0, 1, -1, -1, VECATTN_F32, VECATTN_F16, 0},
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

/* The full call's mask and ALiBi as an additive bias [B, HQ, nq, nk]. */
static void build_bias(const merge_case *c, const vecattn_sdpa_opts *o, float *bias) {
  const int64_t nq = c->nq, nk = c->nk, diag0 = nk - nq;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < HQ; ++h)
      for (int64_t i = 0; i < nq; ++i)
        for (int64_t j = 0; j < nk; ++j) {
          const int64_t diag = i + diag0;
          int seen = 1;
          if (o->causal && j > diag) seen = 0;
          if (o->window > 0 && j <= diag - o->window) seen = 0;
          if (o->kv_len && j >= o->kv_len[b]) seen = 0;
          float x = 0.0f;
          if (o->alibi_slopes) x = o->alibi_slopes[h] * (float)(j - diag);
          bias[((b * HQ + h) * nq + i) * nk + j] = seen ? x : -INFINITY;
        }
}

static double tol_of(vecattn_dtype t) { return t == VECATTN_F32 ? 1e-6 : t == VECATTN_F16 ? 2e-3 : 1.2e-2; }

static double to_double(const void *p, vecattn_dtype t, size_t i) {
  float x;
  vecattn_convert((const unsigned char *)p + vecattn_dtype_bytes(t, (int64_t)i), t, &x, VECATTN_F32, 1);
  return x;
}

static void run_case(const merge_case *c, int idx) {
  tu_reseed(0x4E7600u + (uint64_t)idx);
  const int nq = c->nq, nk = c->nk, ns = c->n_shards;
  const size_t rows = (size_t)B * HQ * nq, out_n = rows * DV;
  tu_tensor q, k, v;
  tu_tensor_make(&q, idx % 2 ? TU_BSHD : TU_BHSD, B, HQ, nq, D);
  tu_tensor_make(&k, idx % 3 ? TU_PADDED : TU_BHSD, B, HKV, nk, D);
  tu_tensor_make(&v, idx % 2 ? TU_SBHD : TU_BHSD, B, HKV, nk, DV);
  tu_tensor_fill_normal(&q), tu_tensor_fill_normal(&k), tu_tensor_fill_normal(&v);

  vecattn_sdpa_opts full = {0};
  full.causal = c->causal, full.window = c->window;
  int32_t kv_len[B] = {c->kv0, c->kv1};
  if (c->kv0 >= 0) full.kv_len = kv_len;
  float slopes[HQ];
  for (int h = 0; h < HQ; ++h) slopes[h] = powf(2.0f, -8.0f * (float)(h + 1) / HQ);
  if (c->alibi) full.alibi_slopes = slopes;
  float *bias = malloc(rows * nk * sizeof *bias);
  build_bias(c, &full, bias);

  /* Shard cuts: sorted random points, distinct unless one shard must be empty. */
  int64_t cut[9];
  cut[0] = 0, cut[ns] = nk;
  for (;;) {
    for (int s = 1; s < ns; ++s) cut[s] = tu_rand_int(1, nk - 1);
    for (int s = 1; s < ns; ++s)
      for (int t = s; t > 1 && cut[t] < cut[t - 1]; --t) {
        const int64_t x = cut[t];
        cut[t] = cut[t - 1], cut[t - 1] = x;
      }
    if (c->empty_shard) cut[ns / 2] = cut[ns / 2 + 1 <= ns ? ns / 2 + 1 : ns];
    int empties = 0;
    for (int s = 0; s < ns; ++s) empties += cut[s + 1] == cut[s];
    if (empties == (c->empty_shard ? 1 : 0)) break;
  }

  float *ref_out = malloc(out_n * sizeof(float)), *ref_lse = malloc(rows * sizeof(float));
  void *parts_mem[8];
  float *lse_mem[8];
  vecattn_tensor parts[8];
  for (int s = 0; s < ns; ++s) {
    parts_mem[s] = malloc(vecattn_dtype_bytes(c->part_t, (int64_t)out_n));
    lse_mem[s] = malloc(rows * sizeof(float));
    parts[s] = vecattn_tensor_bhsd_typed(parts_mem[s], c->part_t, B, HQ, nq, DV);
  }
  const size_t out_bytes = vecattn_dtype_bytes(c->out_t, (int64_t)out_n);
  unsigned char *out_mem = tu_guarded_alloc(out_bytes, 4);
  float *lse = tu_guarded_alloc(rows * sizeof(float), 8);
  vecattn_tensor out = vecattn_tensor_bhsd_typed(out_mem, c->out_t, B, HQ, nq, DV);
  const float *const *lse_ptrs = (const float *const *)lse_mem;

  size_t masked_rows = 0;
  TU_FOR_EACH_ISA(isa) {
    const char *in = vecattn_isa_name(isa);
    vecattn_tensor ref_t = vecattn_tensor_bhsd(ref_out, B, HQ, nq, DV);
    full.lse = ref_lse;
    ck_assert_int_eq(vecattn_sdpa(&q.t, &k.t, &v.t, &ref_t, &full), VECATTN_OK);
    masked_rows = 0;
    for (size_t r = 0; r < rows; ++r) masked_rows += ref_lse[r] == -INFINITY;

    for (int s = 0; s < ns; ++s) {
      const int64_t a = cut[s], len = cut[s + 1] - cut[s];
      if (len == 0) { /* no keys: a masked shard, whose out is never read */
        for (size_t r = 0; r < rows; ++r) lse_mem[s][r] = -INFINITY;
        memset(parts_mem[s], 0xff, vecattn_dtype_bytes(c->part_t, (int64_t)out_n)); /* NaN in every type */
        continue;
      }
      vecattn_tensor ks = k.t, vs = v.t, bs = vecattn_tensor_bhsd(bias + a, B, HQ, nq, nk);
      ks.data = (float *)k.t.data + a * k.t.stride[2], ks.shape[2] = len;
      vs.data = (float *)v.t.data + a * v.t.stride[2], vs.shape[2] = len;
      bs.shape[3] = len;
      vecattn_sdpa_opts so = {0};
      so.bias = &bs, so.lse = lse_mem[s];
      ck_assert_int_eq(vecattn_sdpa(&q.t, &ks, &vs, &parts[s], &so), VECATTN_OK);
    }
    memset(out_mem, 0xff, out_bytes);
    tu_poison(lse, rows);
    vecattn_status st = vecattn_merge(parts, lse_ptrs, ns, &out, lse, 0);
    ck_assert_msg(st == VECATTN_OK, "%s [isa %s]: status %d", c->name, in, (int)st);
    ck_assert_msg(tu_guard_ok(out_mem) && tu_guard_ok(lse), "%s [isa %s]: write outside out/lse", c->name, in);

    const double tol = tol_of(c->part_t) > tol_of(c->out_t) ? tol_of(c->part_t) : tol_of(c->out_t);
    double num = 0, den = 0, lnum = 0, lden = 0;
    for (size_t r = 0; r < rows; ++r) {
      if (ref_lse[r] == -INFINITY) {
        ck_assert_msg(lse[r] == -INFINITY, "%s [isa %s]: row %zu masked everywhere has lse %g", c->name, in, r,
                      (double)lse[r]);
        for (size_t e = 0; e < DV; ++e)
          ck_assert_msg(to_double(out_mem, c->out_t, r * DV + e) == 0.0, "%s [isa %s]: masked row %zu not zero",
                        c->name, in, r);
        continue;
      }
      ck_assert_msg(isfinite(lse[r]), "%s [isa %s]: row %zu lse %g, want finite", c->name, in, r, (double)lse[r]);
      lnum += ((double)lse[r] - ref_lse[r]) * ((double)lse[r] - ref_lse[r]);
      lden += (double)ref_lse[r] * ref_lse[r];
      for (size_t e = 0; e < DV; ++e) {
        const double x = to_double(out_mem, c->out_t, r * DV + e), y = ref_out[r * DV + e];
        ck_assert_msg(isfinite(x), "%s [isa %s]: out row %zu not finite", c->name, in, r);
        num += (x - y) * (x - y), den += y * y;
      }
    }
    const double err = den > 0 ? sqrt(num / den) : sqrt(num), lerr = lden > 0 ? sqrt(lnum / lden) : sqrt(lnum);
    if (tu_verbose()) printf("  %s [isa %s]: out rel L2 %.2e, lse %.2e\n", c->name, in, err, lerr);
    ck_assert_msg(err <= tol, "%s [isa %s, seed %llu]: merged out rel L2 %.3e > %.1e", c->name, in,
                  (unsigned long long)tu_seed(), err, tol);
    ck_assert_msg(lerr <= 1e-6, "%s [isa %s, seed %llu]: merged lse rel L2 %.3e", c->name, in,
                  (unsigned long long)tu_seed(), lerr);
  }
  /* The cases mean what they say. */
  if (c->kv0 == 0 && c->kv1 == 0) ck_assert_uint_eq(masked_rows, rows);
  if (c->causal && nq > nk) ck_assert_uint_eq(masked_rows, (size_t)B * HQ * (nq - nk));

  for (int s = 0; s < ns; ++s) free(parts_mem[s]), free(lse_mem[s]);
  tu_guarded_free(out_mem), tu_guarded_free(lse);
  free(ref_out), free(ref_lse), free(bias);
  tu_tensor_free(&q), tu_tensor_free(&k), tu_tensor_free(&v);
}

START_TEST(test_merge_equals_one_call) { run_case(&cases[_i], _i); }
END_TEST

/* Enough rows that the default thread count is more than one. */
START_TEST(test_thread_independence) {
  tu_reseed(0x4E7700u);
  enum { NS = 5, NQ = 64, BIG_DV = 96 };
  const size_t rows = (size_t)B * HQ * NQ, n = rows * BIG_DV;
  float *mem = malloc(NS * n * sizeof(float)), *lses = malloc(NS * rows * sizeof(float));
  float *out1 = malloc(n * sizeof(float)), *out2 = malloc(n * sizeof(float));
  float lse1[B * HQ * NQ], lse2[B * HQ * NQ];
  tu_fill_normal(mem, NS * n);
  vecattn_tensor parts[NS];
  const float *lp[NS];
  for (int s = 0; s < NS; ++s) {
    parts[s] = vecattn_tensor_bhsd(mem + s * n, B, HQ, NQ, BIG_DV);
    lp[s] = lses + s * rows;
    for (size_t r = 0; r < rows; ++r) lses[s * rows + r] = tu_rand_uniform() < 0.2 ? -INFINITY : 30.0f * (float)tu_rand_normal();
  }
  TU_FOR_EACH_ISA(isa) {
    vecattn_tensor o1 = vecattn_tensor_bhsd(out1, B, HQ, NQ, BIG_DV), o2 = vecattn_tensor_bhsd(out2, B, HQ, NQ, BIG_DV);
    tu_poison(out1, n), tu_poison(out2, n);
    ck_assert_int_eq(vecattn_merge(parts, lp, NS, &o1, lse1, 1), VECATTN_OK);
    ck_assert_int_eq(vecattn_merge(parts, lp, NS, &o2, lse2, tu_threads_ok() ? 2 : 1), VECATTN_OK);
    ck_assert_msg(memcmp(out1, out2, n * sizeof(float)) == 0 && memcmp(lse1, lse2, sizeof lse1) == 0,
                  "[isa %s] merge differs between 1 and 2 threads", vecattn_isa_name(isa));
    /* Against float64 directly, with lse far apart (up to ~100 nats). */
    double num = 0, den = 0;
    for (size_t r = 0; r < rows; ++r) {
      double top = -INFINITY, tot = 0;
      for (int s = 0; s < NS; ++s) top = fmax(top, lp[s][r]);
      for (int s = 0; s < NS; ++s) tot += lp[s][r] == -INFINITY ? 0 : exp(lp[s][r] - top);
      const double l = top + log(tot);
      if (top == -INFINITY) {
        ck_assert(lse1[r] == -INFINITY);
        continue;
      }
      ck_assert_msg(fabs(lse1[r] - l) <= 1e-6 * fabs(l) + 1e-6, "[isa %s] lse %g want %g", vecattn_isa_name(isa),
                    (double)lse1[r], l);
      for (int e = 0; e < BIG_DV; ++e) {
        double y = 0;
        for (int s = 0; s < NS; ++s)
          if (lp[s][r] != -INFINITY) y += exp(lp[s][r] - l) * ((const float *)parts[s].data)[r * BIG_DV + e];
        num += (out1[r * BIG_DV + e] - y) * (out1[r * BIG_DV + e] - y), den += y * y;
      }
    }
    ck_assert_msg(sqrt(num / den) <= 1e-6, "[isa %s] merge vs float64: %.3e", vecattn_isa_name(isa), sqrt(num / den));
  }
  free(mem), free(lses), free(out1), free(out2);
}
END_TEST

/* Bad arguments: the status, and out and lse untouched. */
START_TEST(test_bad_arguments) {
  enum { NQ = 3 };
  const size_t rows = B * HQ * NQ, n = rows * DV;
  float *mem = malloc(3 * n * sizeof(float)), *lses = malloc(3 * rows * sizeof(float));
  float *outb = tu_guarded_alloc(n * sizeof(float), 0), *lse = tu_guarded_alloc(rows * sizeof(float), 4);
  tu_fill_normal(mem, 3 * n), tu_fill_normal(lses, 3 * rows);
  vecattn_tensor parts[2] = {vecattn_tensor_bhsd(mem, B, HQ, NQ, DV), vecattn_tensor_bhsd(mem + n, B, HQ, NQ, DV)};
  const float *lp[2] = {lses, lses + rows};
  vecattn_tensor out = vecattn_tensor_bhsd(outb, B, HQ, NQ, DV);
  struct {
    const char *what;
    vecattn_status want;
  } expect[] = {
      {"n_parts 0", VECATTN_EINVAL},           {"NULL parts", VECATTN_EINVAL},
      {"NULL part_lse", VECATTN_EINVAL},       {"NULL part_lse[1]", VECATTN_EINVAL},
      {"NULL out", VECATTN_EINVAL},            {"num_threads -1", VECATTN_EINVAL},
      {"part shape differs", VECATTN_EINVAL},  {"q8_0 part", VECATTN_EINVAL},
      {"out overlaps a part", VECATTN_EINVAL}, {"lse overlaps out", VECATTN_EINVAL},
      {"out overlaps part_lse", VECATTN_EINVAL}, {"out aliases itself", VECATTN_EINVAL},
      {"out stride[3] 2", VECATTN_EINVAL},     {"lse overlaps a part_lse", VECATTN_EINVAL},
      {"part extent overflows", VECATTN_EOVERFLOW},
  };
  for (size_t c = 0; c < sizeof expect / sizeof expect[0]; ++c) {
    vecattn_tensor p2[2] = {parts[0], parts[1]}, o = out;
    const float *l2[2] = {lp[0], lp[1]};
    const vecattn_tensor *pp = p2;
    const float *const *ll = l2;
    vecattn_tensor *op = &o;
    float *lsep = lse;
    int64_t np = 2;
    int threads = 0;
    switch (c) {
    case 0: np = 0; break;
    case 1: pp = NULL; break;
    case 2: ll = NULL; break;
    case 3: l2[1] = NULL; break;
    case 4: op = NULL; break;
    case 5: threads = -1; break;
    case 6: p2[1].shape[2] = NQ - 1; break;
    case 7: p2[1].dtype = VECATTN_Q8_0; break;
    case 8: o.data = mem + n + 7; break;
    case 9: lsep = outb + 5; break;
    case 10: o.data = lses; break;
    case 11: o.stride[2] = 0; break;
    case 12: o.stride[3] = 2; break;
    case 13: lsep = lses + 3; break;
    case 14: p2[0].stride[0] = INT64_MAX / 2; break;
    }
    tu_poison(outb, n), tu_poison(lse, rows);
    vecattn_status st = vecattn_merge(pp, ll, np, op, lsep, threads);
    ck_assert_msg(st == expect[c].want, "%s: status %d, want %d", expect[c].what, (int)st, (int)expect[c].want);
    ck_assert_msg(strlen(vecattn_strerror(st)) > 0, "%s: empty strerror", expect[c].what);
    for (size_t i = 0; i < n; ++i) ck_assert_msg(tu_is_poison(outb[i]), "%s: out written", expect[c].what);
    for (size_t i = 0; i < rows; ++i) ck_assert_msg(tu_is_poison(lse[i]), "%s: lse written", expect[c].what);
    ck_assert(tu_guard_ok(outb) && tu_guard_ok(lse));
  }
  /* A single part merges to itself (lse unchanged, out copied). */
  ck_assert_int_eq(vecattn_merge(parts, lp, 1, &out, lse, 0), VECATTN_OK);
  ck_assert(memcmp(outb, mem, n * sizeof(float)) == 0 && memcmp(lse, lses, rows * sizeof(float)) == 0);
  free(mem), free(lses), tu_guarded_free(outb), tu_guarded_free(lse);
}
END_TEST

static Suite *make_suite(void) {
  Suite *s = suite_create("merge");
  TCase *tc = tcase_create("merge");
  tcase_add_loop_test(tc, test_merge_equals_one_call, 0, NCASES);
  tcase_add_test(tc, test_thread_independence);
  tcase_add_test(tc, test_bad_arguments);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  tu_init("merge");
  return tu_run_suite(make_suite());
}
