/* vecattn_mha_forward_varlen against one vecattn_mha_forward per sequence:
 * each sequence keeps its own vecattn_kv_cache of the paged cache's types;
 * prefills, chunked prefills and decode steps of several sequences mix in
 * one varlen call (ids in any order, some listed with no tokens), with RoPE,
 * GQA/MQA, biases, typed caches and block sizes 1..128, on every ISA. The
 * outputs, lse and the stored rows must agree; ENOSPC and a failure inside
 * the attention step leave y and the cache as they were; bad arguments are
 * rejected; results do not depend on the thread count. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define TOL 2e-5 /* max abs difference against the per-sequence layer (outputs O(1)) */

typedef struct {
  const char *name;
  int64_t d_model, n_heads, n_kv_heads, head_dim;
  int rope, bias;
  float theta;
  vecattn_dtype kt, vt;
  int64_t block_size;
} layer_case;

static const layer_case cases[] = {
    {"GQA 6/2 rope bias f32", 48, 6, 2, 8, 1, 1, 0.0f, VECATTN_F32, VECATTN_F32, 3},
    {"MHA no rope bias f16/bf16", 33, 3, 0, 11, 0, 1, 0.0f, VECATTN_F16, VECATTN_BF16, 1},
    {"GQA 4/2 rope 500 q8_0/f16", 64, 4, 2, 32, 1, 0, 500.0f, VECATTN_Q8_0, VECATTN_F16, 16},
    {"MQA rope bf16/q8_0", 40, 4, 1, 32, 1, 1, 0.0f, VECATTN_BF16, VECATTN_Q8_0, 32},
    {"GQA 8/4 rope f32/f16 block 128", 64, 8, 4, 16, 1, 0, 0.0f, VECATTN_F32, VECATTN_F16, 128},
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

typedef struct {
  vecattn_mha_weights w;
  float *mem;
} layer;

static void layer_make(layer *l, const layer_case *c) {
  l->mem = tu_mha_weights(&l->w, c->d_model, c->n_heads, c->n_kv_heads, c->head_dim, c->bias, c->rope, c->theta);
}

static int64_t kv_heads(const layer_case *c) { return c->n_kv_heads ? c->n_kv_heads : c->n_heads; }

static double max_abs_diff(const float *a, const float *b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; ++i) {
    const double d = fabs((double)a[i] - (double)b[i]);
    if (!(d <= m)) m = d; /* NaN propagates */
  }
  return m;
}

static int all_poison(const float *y, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (!tu_is_poison(y[i])) return 0;
  return 1;
}

/* Four sequences (paged ids 3, 0, 2, 1) over four steps; new[step][s] tokens,
 * -1: not in the call. Step 3 lists sequence 2 with no tokens. */
enum { NSEQ = 4, NSTEP = 4 };
static const int32_t paged_id[NSEQ] = {3, 0, 2, 1};
static const int new_tokens[NSTEP][NSEQ] = {{7, 12, 1, -1}, {1, 1, 5, 9}, {1, 1, 1, 1}, {3, 1, 0, 1}};
/* The order sequences are listed in, per step. */
static const int order[NSTEP][NSEQ] = {{0, 1, 2, 3}, {3, 1, 0, 2}, {2, 0, 3, 1}, {1, 3, 2, 0}};

typedef struct {
  int32_t ids[NSEQ], cu[NSEQ + 1];
  int listed[NSEQ];   /* logical sequence of each listed entry */
  int64_t n, total;
} step_plan;

static void plan_step(int step, step_plan *p) {
  p->n = 0, p->cu[0] = 0;
  for (int i = 0; i < NSEQ; ++i) {
    const int s = order[step][i];
    if (new_tokens[step][s] < 0) continue;
    p->listed[p->n] = s, p->ids[p->n] = paged_id[s];
    p->cu[p->n + 1] = p->cu[p->n] + new_tokens[step][s];
    p->n++;
  }
  p->total = p->cu[p->n];
}

/* Stored rows of both caches agree (read as f32). */
static void check_caches(const layer_case *c, vecattn_paged_cache *pc, vecattn_kv_cache *const *kv, vecattn_isa isa,
                         int step) {
  const int64_t hkv = kv_heads(c), d = c->head_dim;
  for (int s = 0; s < NSEQ; ++s) {
    const int64_t len = vecattn_kv_cache_len(kv[s]);
    ck_assert_int_eq(vecattn_paged_cache_seq_len(pc, paged_id[s]), len);
    if (!len) continue;
    float *a = malloc(sizeof(float) * (size_t)(2 * hkv * len * d)), *b = malloc(sizeof(float) * (size_t)(2 * hkv * len * d));
    ck_assert_int_eq(vecattn_paged_cache_read(pc, paged_id[s], 0, len, a, VECATTN_F32, a + hkv * len * d, VECATTN_F32),
                     VECATTN_OK);
    ck_assert_int_eq(vecattn_kv_cache_read(kv[s], 0, 0, len, b, VECATTN_F32, b + hkv * len * d, VECATTN_F32), VECATTN_OK);
    const double diff = max_abs_diff(a, b, (size_t)(2 * hkv * len * d));
    /* The same projections row by row (matmul rounds a row alike whatever
     * rows share the call), so the same stored rows. */
    ck_assert_msg(diff == 0, "[isa %s] %s step %d seq %d: stored rows differ by %.3g", vecattn_isa_name(isa), c->name,
                  step, s, diff);
    if (tu_verbose()) printf("[isa %s] %s step %d seq %d: stored rows differ by %.3g\n", vecattn_isa_name(isa), c->name, step, s, diff);
    free(a), free(b);
  }
}

/* The steps through a paged cache (or none) against per-sequence layer calls. */
static void run_steps(const layer_case *c, const layer *l, int use_cache, int causal, int explicit_positions,
                      vecattn_isa isa) {
  const int64_t dm = c->d_model, hq = c->n_heads, hkv = kv_heads(c), bs = c->block_size;
  vecattn_paged_cache *pc = NULL;
  vecattn_kv_cache *kv[NSEQ] = {0};
  if (use_cache) {
    const vecattn_paged_cache_desc desc = {64 / bs + 8, bs, hkv, c->head_dim, c->kt, c->vt, 5, NULL, NULL};
    ck_assert_int_eq(vecattn_paged_cache_create(&pc, &desc), VECATTN_OK);
    for (int s = 0; s < NSEQ; ++s)
      ck_assert_int_eq(vecattn_kv_cache_create_typed(&kv[s], 1, hkv, c->head_dim, 64, c->kt, c->vt), VECATTN_OK);
  }
  for (int step = 0; step < NSTEP; ++step) {
    step_plan p;
    plan_step(step, &p);
    float *x = malloc(sizeof(float) * (size_t)(p.total * dm)), *y = malloc(sizeof(float) * (size_t)(p.total * dm));
    float *lse = malloc(sizeof(float) * (size_t)(p.total * hq));
    int64_t *pos = malloc(sizeof(int64_t) * (size_t)(p.total + 1));
    tu_fill_normal(x, (size_t)(p.total * dm));
    tu_poison(y, (size_t)(p.total * dm)), tu_poison(lse, (size_t)(p.total * hq));
    for (int64_t i = 0; i < p.n; ++i) {
      const int64_t past = use_cache ? vecattn_kv_cache_len(kv[p.listed[i]]) : 0;
      for (int64_t t = p.cu[i]; t < p.cu[i + 1]; ++t) pos[t] = past + t - p.cu[i];
    }
    vecattn_sdpa_opts o = {0};
    o.causal = causal, o.lse = lse;
    const vecattn_status st = vecattn_mha_forward_varlen(&l->w, x, p.cu, use_cache ? p.ids : NULL, p.n,
                                                         explicit_positions ? pos : NULL, pc, y, &o);
    ck_assert_msg(st == VECATTN_OK, "[isa %s] %s step %d: %s (%s)", vecattn_isa_name(isa), c->name, step,
                  vecattn_strerror(st), vecattn_last_error());
    for (int64_t i = 0; i < p.n; ++i) {
      const int s = p.listed[i];
      const int64_t n = p.cu[i + 1] - p.cu[i];
      if (!n) continue;
      float *ys = malloc(sizeof(float) * (size_t)(n * dm)), *ls = malloc(sizeof(float) * (size_t)(n * hq));
      vecattn_sdpa_opts os = o;
      os.lse = ls;
      ck_assert_int_eq(vecattn_mha_forward(&l->w, x + p.cu[i] * dm, 1, n, use_cache ? kv[s] : NULL, ys, &os), VECATTN_OK);
      const double d = max_abs_diff(y + p.cu[i] * dm, ys, (size_t)(n * dm));
      double dl = 0;
      for (int64_t h = 0; h < hq; ++h) {
        const double e = max_abs_diff(lse + h * p.total + p.cu[i], ls + h * n, (size_t)n);
        if (!(e <= dl)) dl = e;
      }
      if (tu_verbose())
        printf("[isa %s] %s cache %d causal %d step %d seq %d: y %.3g lse %.3g\n", vecattn_isa_name(isa), c->name,
               use_cache, causal, step, s, d, dl);
      ck_assert_msg(d <= TOL && dl <= TOL, "[isa %s] %s (cache %d, causal %d) step %d seq %d (%lld tokens): y differs"
                    " by %.3g, lse by %.3g", vecattn_isa_name(isa), c->name, use_cache, causal, step, s, (long long)n, d, dl);
      free(ys), free(ls);
    }
    if (use_cache) check_caches(c, pc, kv, isa, step);
    free(x), free(y), free(lse), free(pos);
  }
  for (int s = 0; s < NSEQ; ++s) vecattn_kv_cache_destroy(kv[s]);
  vecattn_paged_cache_destroy(pc);
}

START_TEST(test_equals_per_sequence) {
  TU_FOR_EACH_ISA(isa) {
    for (int ci = 0; ci < NCASES; ++ci) {
      tu_reseed(0x7A41u + (uint64_t)ci);
      layer l;
      layer_make(&l, &cases[ci]);
      run_steps(&cases[ci], &l, 1, 1, ci % 2, isa);
      run_steps(&cases[ci], &l, 0, 1, 0, isa);
      run_steps(&cases[ci], &l, 0, 0, 0, isa);
      free(l.mem);
    }
  }
}
END_TEST

/* Positions given equal to the defaults change nothing, bit for bit; other
 * positions change the output (they are used). */
START_TEST(test_positions) {
  const layer_case *c = &cases[0];
  tu_reseed(0x9051u);
  layer l;
  layer_make(&l, c);
  const int64_t dm = c->d_model, total = 9;
  const int32_t cu[3] = {0, 4, 9};
  float *x = malloc(sizeof(float) * total * dm), y0[9 * 48], y1[9 * 48];
  tu_fill_normal(x, (size_t)(total * dm));
  int64_t pos[9] = {0, 1, 2, 3, 0, 1, 2, 3, 4};
  vecattn_sdpa_opts o = {.causal = 1};
  ck_assert_int_eq(vecattn_mha_forward_varlen(&l.w, x, cu, NULL, 2, NULL, NULL, y0, &o), VECATTN_OK);
  ck_assert_int_eq(vecattn_mha_forward_varlen(&l.w, x, cu, NULL, 2, pos, NULL, y1, &o), VECATTN_OK);
  ck_assert(memcmp(y0, y1, sizeof y0) == 0);
  pos[6] = 40;
  ck_assert_int_eq(vecattn_mha_forward_varlen(&l.w, x, cu, NULL, 2, pos, NULL, y1, &o), VECATTN_OK);
  ck_assert(memcmp(y0, y1, 4 * dm * sizeof(float)) == 0); /* the first sequence does not see it */
  ck_assert(memcmp(y0 + 4 * dm, y1 + 4 * dm, 5 * dm * sizeof(float)) != 0);
  free(x), free(l.mem);
}
END_TEST

/* The visible state of a paged cache: tables, lengths, free blocks, rows. */
typedef struct {
  int32_t *tables[8];
  int64_t n[8], len[8], free_blocks;
  float *rows[8];
} cache_state;

static void state_take(vecattn_paged_cache *pc, int64_t max_seqs, int64_t hkv, int64_t d, cache_state *s) {
  for (int64_t q = 0; q < max_seqs; ++q) {
    const int32_t *t;
    ck_assert_int_eq(vecattn_paged_cache_table(pc, q, &t, &s->n[q]), VECATTN_OK);
    s->tables[q] = s->n[q] ? tu_snapshot(t, (size_t)s->n[q] * sizeof *t) : calloc(1, 1);
    s->len[q] = vecattn_paged_cache_seq_len(pc, q);
    s->rows[q] = malloc(sizeof(float) * (size_t)(2 * hkv * d * s->len[q] + 1));
    ck_assert_int_eq(vecattn_paged_cache_read(pc, q, 0, s->len[q], s->rows[q], VECATTN_F32,
                                              s->rows[q] + hkv * d * s->len[q], VECATTN_F32), VECATTN_OK);
  }
  s->free_blocks = vecattn_paged_cache_free_blocks(pc);
}

static void state_same(vecattn_paged_cache *pc, int64_t max_seqs, int64_t hkv, int64_t d, cache_state *s,
                       const char *what) {
  cache_state now;
  state_take(pc, max_seqs, hkv, d, &now);
  for (int64_t q = 0; q < max_seqs; ++q) {
    ck_assert_msg(now.n[q] == s->n[q] && (s->n[q] == 0 || memcmp(now.tables[q], s->tables[q], (size_t)s->n[q] * sizeof(int32_t)) == 0),
                  "%s: table %lld changed", what, (long long)q);
    ck_assert_msg(now.len[q] == s->len[q], "%s: length %lld changed", what, (long long)q);
    ck_assert_msg(memcmp(now.rows[q], s->rows[q], sizeof(float) * (size_t)(2 * hkv * d * s->len[q])) == 0,
                  "%s: rows of %lld changed", what, (long long)q);
    free(now.tables[q]), free(now.rows[q]), free(s->tables[q]), free(s->rows[q]);
  }
  ck_assert_msg(now.free_blocks == s->free_blocks, "%s: free blocks %lld -> %lld", what, (long long)s->free_blocks,
                (long long)now.free_blocks);
}

/* ENOSPC before any work, and a failure inside the attention step after the
 * rows were appended (and shared blocks copied): y and the cache as they were,
 * and the next call equals a cache that never saw them. */
START_TEST(test_failures_leave_cache) {
  const layer_case *c = &cases[0];
  const int64_t dm = c->d_model, hkv = kv_heads(c), d = c->head_dim, bs = 4;
  tu_reseed(0xFA11u);
  layer l;
  layer_make(&l, c);
  vecattn_paged_cache *pc;
  const vecattn_paged_cache_desc desc = {6, bs, hkv, d, VECATTN_F16, VECATTN_F32, 3, NULL, NULL};
  ck_assert_int_eq(vecattn_paged_cache_create(&pc, &desc), VECATTN_OK);
  vecattn_kv_cache *kv;
  ck_assert_int_eq(vecattn_kv_cache_create_typed(&kv, 1, hkv, d, 32, VECATTN_F16, VECATTN_F32), VECATTN_OK);
  float x[32 * 48], y[32 * 48], ys[32 * 48];
  tu_fill_normal(x, sizeof x / sizeof *x);
  vecattn_sdpa_opts o = {.causal = 1};
  const int32_t id0[1] = {0}, cu6[2] = {0, 6};
  ck_assert_int_eq(vecattn_mha_forward_varlen(&l.w, x, cu6, id0, 1, NULL, pc, y, &o), VECATTN_OK);
  ck_assert_int_eq(vecattn_mha_forward(&l.w, x, 1, 6, kv, ys, &o), VECATTN_OK);
  /* Seq 1 forks seq 0: the partly filled block is copied, the full one shared. */
  ck_assert_int_eq(vecattn_paged_cache_copy_seq(pc, 0, 1), VECATTN_OK);
  ck_assert_int_eq(vecattn_paged_cache_free_blocks(pc), 3);
  cache_state before;
  /* 6 + 19 positions need 5 more blocks: ENOSPC. */
  const int32_t cu19[2] = {0, 19};
  state_take(pc, 3, hkv, d, &before);
  tu_poison(y, sizeof y / sizeof *y);
  ck_assert_int_eq(vecattn_mha_forward_varlen(&l.w, x + 6 * dm, cu19, id0, 1, NULL, pc, y, &o), VECATTN_ENOSPC);
  ck_assert(all_poison(y, sizeof y / sizeof *y));
  state_same(pc, 3, hkv, d, &before, "ENOSPC");
  /* Both sequences step: seq 1's blocks are its own, seq 0 shares block 0 only
   * (it writes its own block 1). Fails in the attention step (window < 0). */
  const int32_t ids01[2] = {1, 0}, cu2[3] = {0, 3, 5};
  state_take(pc, 3, hkv, d, &before);
  vecattn_sdpa_opts bad = {.causal = 1, .window = -1};
  ck_assert_int_eq(vecattn_mha_forward_varlen(&l.w, x + 6 * dm, cu2, ids01, 2, NULL, pc, y, &bad), VECATTN_EINVAL);
  ck_assert(all_poison(y, sizeof y / sizeof *y));
  state_same(pc, 3, hkv, d, &before, "failure in the attention step");
  /* Seq 2 shares seq 0's partly filled block (set_seq): its append copies it,
   * then the call fails; the copy goes back. */
  const int32_t *t0;
  int64_t n0;
  ck_assert_int_eq(vecattn_paged_cache_table(pc, 0, &t0, &n0), VECATTN_OK);
  ck_assert_int_eq(vecattn_paged_cache_set_seq(pc, 2, t0, n0, 6), VECATTN_OK);
  const int32_t id2[1] = {2}, cu1[2] = {0, 1};
  state_take(pc, 3, hkv, d, &before);
  ck_assert_int_eq(vecattn_mha_forward_varlen(&l.w, x + 6 * dm, cu1, id2, 1, NULL, pc, y, &bad), VECATTN_EINVAL);
  state_same(pc, 3, hkv, d, &before, "failure after a copy on write");
  ck_assert_int_eq(vecattn_paged_cache_release(pc, 2), VECATTN_OK);
  /* The next step equals the per-sequence layer that never saw the failures. */
  ck_assert_int_eq(vecattn_mha_forward_varlen(&l.w, x + 6 * dm, cu1, id0, 1, NULL, pc, y, &o), VECATTN_OK);
  ck_assert_int_eq(vecattn_mha_forward(&l.w, x + 6 * dm, 1, 1, kv, ys, &o), VECATTN_OK);
  ck_assert_msg(max_abs_diff(y, ys, (size_t)dm) <= TOL, "after the failures: %.3g", max_abs_diff(y, ys, (size_t)dm));
  vecattn_kv_cache_destroy(kv);
  vecattn_paged_cache_destroy(pc);
  free(l.mem);
}
END_TEST

START_TEST(test_bad_arguments) {
  const layer_case *c = &cases[0];
  tu_reseed(0xBAD5u);
  layer l;
  layer_make(&l, c);
  const int64_t dm = c->d_model, hkv = kv_heads(c), d = c->head_dim;
  vecattn_paged_cache *pc, *other;
  const vecattn_paged_cache_desc desc = {8, 4, hkv, d, VECATTN_F32, VECATTN_F32, 3, NULL, NULL};
  vecattn_paged_cache_desc wrong = desc;
  wrong.head_dim = 2 * d;
  ck_assert_int_eq(vecattn_paged_cache_create(&pc, &desc), VECATTN_OK);
  ck_assert_int_eq(vecattn_paged_cache_create(&other, &wrong), VECATTN_OK);
  float x[6 * 48], y[6 * 48], lse[6 * 6];
  tu_fill_normal(x, sizeof x / sizeof *x);
  const int32_t cu[3] = {0, 2, 6}, ids[2] = {0, 1};
  const vecattn_mha_weights good = l.w;
  vecattn_mha_weights w;
  cache_state before;
  state_take(pc, 3, hkv, d, &before);
  tu_poison(y, sizeof y / sizeof *y);
#define BAD(want, call, what)                                                   \
  do {                                                                          \
    const vecattn_status got_ = (call);                                         \
    ck_assert_msg(got_ == (want), "%s: got %d, want %d", what, got_, want);     \
    ck_assert_msg(vecattn_last_error()[0] != '\0', "%s: no message", what);     \
    ck_assert_msg(all_poison(y, sizeof y / sizeof *y), "%s: y written", what); \
  } while (0)
  vecattn_sdpa_opts o = {.causal = 1};
  BAD(VECATTN_EINVAL, vecattn_mha_forward_varlen(NULL, x, cu, ids, 2, NULL, pc, y, &o), "NULL weights");
  BAD(VECATTN_EINVAL, vecattn_mha_forward_varlen(&good, NULL, cu, ids, 2, NULL, pc, y, &o), "NULL x");
  ck_assert_int_eq(vecattn_mha_forward_varlen(&good, x, cu, ids, 2, NULL, pc, NULL, &o), VECATTN_EINVAL);
  w = good, w.wk = NULL;
  BAD(VECATTN_EINVAL, vecattn_mha_forward_varlen(&w, x, cu, ids, 2, NULL, pc, y, &o), "NULL wk");
  w = good, w.rope = 2;
  BAD(VECATTN_EINVAL, vecattn_mha_forward_varlen(&w, x, cu, ids, 2, NULL, pc, y, &o), "rope 2");
  BAD(VECATTN_EINVAL, vecattn_mha_forward_varlen(&good, x, NULL, ids, 2, NULL, pc, y, &o), "NULL cu_seqlens");
  BAD(VECATTN_EINVAL, vecattn_mha_forward_varlen(&good, x, cu, ids, -1, NULL, pc, y, &o), "n_seqs < 0");
  BAD(VECATTN_EINVAL, vecattn_mha_forward_varlen(&good, x, cu, NULL, 2, NULL, pc, y, &o), "NULL seq_ids with a cache");
  const int32_t bad_cu[2][3] = {{1, 2, 6}, {0, 3, 2}};
  for (int i = 0; i < 2; ++i)
    BAD(VECATTN_EINVAL, vecattn_mha_forward_varlen(&good, x, bad_cu[i], ids, 2, NULL, pc, y, &o), "bad cu_seqlens");
  const int32_t bad_ids[3][2] = {{0, 3}, {-1, 0}, {1, 1}};
  for (int i = 0; i < 3; ++i)
    BAD(VECATTN_EINVAL, vecattn_mha_forward_varlen(&good, x, cu, bad_ids[i], 2, NULL, pc, y, &o), "bad seq id");
  BAD(VECATTN_EINVAL, vecattn_mha_forward_varlen(&good, x, cu, ids, 2, NULL, other, y, &o), "cache head_dim differs");
  const int64_t neg_pos[6] = {0, 1, 0, -1, 2, 3};
  BAD(VECATTN_EINVAL, vecattn_mha_forward_varlen(&good, x, cu, ids, 2, neg_pos, pc, y, &o), "negative position");
  const int32_t len[2] = {2, 4};
  vecattn_sdpa_opts kvl = {.causal = 1, .kv_len = len};
  BAD(VECATTN_EINVAL, vecattn_mha_forward_varlen(&good, x, cu, ids, 2, NULL, pc, y, &kvl), "opts->kv_len");
  vecattn_sdpa_opts thr = {.num_threads = -1};
  BAD(VECATTN_EINVAL, vecattn_mha_forward_varlen(&good, x, cu, ids, 2, NULL, pc, y, &thr), "num_threads < 0");
  vecattn_sdpa_opts lse_on_x = {.causal = 1, .lse = x};
  BAD(VECATTN_EINVAL, vecattn_mha_forward_varlen(&good, x, cu, ids, 2, NULL, pc, y, &lse_on_x), "lse overlaps x");
  vecattn_sdpa_opts lse_on_w = {.causal = 1, .lse = (float *)(void *)good.wq};
  BAD(VECATTN_EINVAL, vecattn_mha_forward_varlen(&good, x, cu, ids, 2, NULL, pc, y, &lse_on_w), "lse overlaps wq");
  ck_assert_int_eq(vecattn_mha_forward_varlen(&good, x, cu, ids, 2, NULL, pc, (float *)(void *)good.wo, &o),
                   VECATTN_EINVAL);
  /* y over the positions or the ids */
  int64_t pos_y[6 * 48] = {0};
  ck_assert_int_eq(vecattn_mha_forward_varlen(&good, x, cu, ids, 2, pos_y, pc, (float *)(void *)pos_y, &o), VECATTN_EINVAL);
  (void)lse;
#undef BAD
  state_same(pc, 3, hkv, d, &before, "rejected calls");
  /* Nothing to do: no sequences, or sequences without tokens. */
  const int32_t cu0[3] = {0, 0, 0};
  ck_assert_int_eq(vecattn_mha_forward_varlen(&good, x, cu0, ids, 0, NULL, pc, y, &o), VECATTN_OK);
  ck_assert_int_eq(vecattn_mha_forward_varlen(&good, x, cu0, ids, 2, NULL, pc, y, &o), VECATTN_OK);
  ck_assert(all_poison(y, sizeof y / sizeof *y));
  (void)dm;
  vecattn_paged_cache_destroy(pc), vecattn_paged_cache_destroy(other);
  free(l.mem);
}
END_TEST

/* Bitwise identical for any thread count, with a cache and without. */
START_TEST(test_threads_bitwise) {
  if (!tu_threads_ok()) {
    printf("SKIP threads: more than one thread hangs under emulation\n");
    return;
  }
  const layer_case *c = &cases[2];
  const int64_t dm = c->d_model, hkv = kv_heads(c);
  tu_reseed(0x7B17u);
  layer l;
  layer_make(&l, c);
  const int32_t cu[4] = {0, 40, 41, 120}, ids[3] = {2, 0, 1};
  float *x = malloc(sizeof(float) * 120 * (size_t)dm), *y = malloc(sizeof(float) * 120 * (size_t)dm);
  tu_fill_normal(x, (size_t)(120 * dm));
  static const int counts[] = {1, 2, 3};
  TU_FOR_EACH_ISA(isa) {
    for (int use_cache = 0; use_cache < 2; ++use_cache) {
      float *first = NULL;
      for (int t = 0; t < 3; ++t) {
        vecattn_paged_cache *pc = NULL;
        const vecattn_paged_cache_desc desc = {20, 16, hkv, c->head_dim, c->kt, c->vt, 3, NULL, NULL};
        if (use_cache) ck_assert_int_eq(vecattn_paged_cache_create(&pc, &desc), VECATTN_OK);
        vecattn_sdpa_opts o = {.causal = 1, .num_threads = counts[t]};
        tu_poison(y, (size_t)(120 * dm));
        ck_assert_int_eq(vecattn_mha_forward_varlen(&l.w, x, cu, ids, 3, NULL, pc, y, &o), VECATTN_OK);
        vecattn_paged_cache_destroy(pc);
        if (!first) {
          first = tu_snapshot(y, sizeof(float) * 120 * (size_t)dm);
          continue;
        }
        ck_assert_msg(memcmp(first, y, sizeof(float) * 120 * (size_t)dm) == 0, "[isa %s] cache %d: %d threads differ",
                      vecattn_isa_name(isa), use_cache, counts[t]);
      }
      free(first);
    }
  }
  free(x), free(y), free(l.mem);
}
END_TEST

static Suite *make_suite(void) {
  Suite *s = suite_create("mha_varlen");
  TCase *tc = tcase_create("mha_varlen");
  tcase_add_test(tc, test_equals_per_sequence);
  tcase_add_test(tc, test_positions);
  tcase_add_test(tc, test_failures_leave_cache);
  tcase_add_test(tc, test_bad_arguments);
  tcase_add_test(tc, test_threads_bitwise);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  tu_init("mha_varlen");
  return tu_run_suite(make_suite());
}
