/* vecattn_sdpa_paged against vecattn_sdpa_varlen over the same rows stored
 * contiguously (bit for bit: the paged call tiles, cuts and sums exactly as
 * varlen does, only the row addresses differ) and against the float64
 * reference, on every ISA: block sizes 1, 3, 16, 32 and 128, shuffled tables,
 * blocks shared between sequences and a sequence listed twice, decode steps
 * beside chunked prefill in one call, causal, window, ALiBi, lse, GQA, every
 * K/V type, bf16 and int8 products; the same bits for 1, 2 and 3 threads. Positions of
 * the pool that no sequence stores hold NaN, so a read past a sequence's
 * length or through a wrong table entry shows. Every EINVAL of the header
 * leaves out and lse untouched. The cache is filled through caller-owned
 * pools in the documented layout and vecattn_paged_cache_set_seq. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref.h"
#include "testutil.h"

#define F32 VECATTN_F32
#define F16 VECATTN_F16
#define BF16 VECATTN_BF16
#define Q80 VECATTN_Q8_0
#define MAXS 34

typedef struct {
  const char *name;
  int bs, hq, hkv, d;
  int causal, window, alibi, reduced;
  vecattn_dtype qt, kt, vt, ot;
  int n;
  int nq[8], len[8];
  int share;  /* entry 1's first `share` blocks are entry 0's (a common prefix) */
  int repeat; /* the last entry is sequence 0 again, with its own queries */
} paged_case;

static const paged_case cases[] = {
    {"bs 16, causal decode + chunks", 16, 8, 2, 64, 1, 0, 0, 0, F32, F32, F32, F32, 6,
     {1, 1, 64, 3, 0, 1}, {300, 17, 700, 3, 40, 1}, 0, 0},
    {"bs 1, causal, shared prefix", 1, 4, 2, 24, 1, 0, 0, 0, F32, F32, F32, F32, 4,
     {1, 5, 20, 1}, {90, 70, 20, 33}, 40, 0},
    {"bs 3, window 7, GQA 4", 3, 8, 2, 40, 1, 7, 0, 0, F32, F16, F16, F32, 5,
     {2, 1, 30, 1, 9}, {50, 64, 30, 200, 9}, 10, 1},
    {"bs 32, alibi, no mask", 32, 4, 1, 32, 0, 0, 1, 0, F32, BF16, Q80, F32, 4,
     {4, 1, 19, 70}, {130, 257, 19, 200}, 3, 0},
    {"bs 128, causal+alibi, q8_0", 128, 4, 4, 64, 1, 0, 1, 0, F16, Q80, Q80, BF16, 4,
     {1, 40, 3, 1}, {600, 300, 3, 129}, 2, 1},
    {"bs 16, f16 K bf16 V, window", 16, 6, 3, 17, 1, 5, 0, 0, F32, F16, BF16, F16, 5,
     {33, 1, 2, 65, 1}, {33, 100, 9, 70, 250}, 1, 0},
    {"bs 3, bf16 products", 3, 8, 2, 32, 1, 0, 0, 1, F32, BF16, BF16, F32, 4,
     {70, 1, 33, 16}, {140, 99, 60, 16}, 5, 0},
    {"bs 32, bf16 products f32 K/V", 32, 4, 2, 48, 1, 0, 0, 1, F32, F32, F32, F32, 3,
     {80, 2, 65}, {300, 90, 65}, 1, 0},
    {"bs 1, q8_0 K f32 V, GQA 8", 1, 8, 1, 32, 0, 0, 0, 0, F32, Q80, F32, F32, 3,
     {1, 9, 1}, {77, 40, 5}, 0, 1},
    /* int8 products on q8_0 K (prefill: SMMLA on neonbf16; decode: SDOT), pages cutting pairs of keys */
    {"bs 3, int8 products, q8_0 K/V", 3, 8, 2, 32, 1, 0, 0, 1, F32, Q80, Q80, F32, 4,
     {70, 1, 33, 16}, {140, 99, 60, 16}, 5, 0},
    {"bs 16, int8 products, q8_0 K f16 V, alibi", 16, 4, 1, 96, 0, 0, 1, 1, BF16, Q80, F16, F32, 3,
     {23, 1, 65}, {130, 77, 65}, 2, 1},
    /* two long decodes, 8 kv heads: too few tasks for groups of 8, so groups of 4 walk short key chunks */
    {"bs 16, two long decodes, f16 K q8_0 V", 16, 8, 8, 64, 1, 0, 0, 0, F32, F16, Q80, F32, 2,
     {1, 1}, {4096, 4000}, 0, 0},
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

/* One call's inputs: the contiguous rows and the cache holding the same rows. */
typedef struct {
  int n, hq, hkv, d, bs;
  vecattn_dtype qt, kt, vt, ot;
  int32_t ids[MAXS], cq[MAXS + 1], ck[MAXS + 1];
  void *q, *k, *v;      /* packed [total][H][D] */
  vecattn_tensor tq, tk, tv;
  int64_t total_q, total_k;
  unsigned char *k_pool, *v_pool;
  int64_t n_blocks;
  vecattn_paged_cache *cache;
} scene;

static void *typed_normal(vecattn_dtype t, int64_t n) {
  float *f = malloc((size_t)(n ? n : 1) * sizeof *f);
  tu_fill_normal(f, (size_t)n);
  void *mem = malloc(vecattn_dtype_bytes(t, n ? n : 32));
  ck_assert_int_eq(vecattn_convert(f, F32, mem, t, n), VECATTN_OK);
  free(f);
  return mem;
}

static size_t row_bytes(vecattn_dtype t, int64_t d) { return vecattn_dtype_bytes(t, d); }

/* Row (position p, head h) of contiguous rows starting at row r0. */
static unsigned char *crow(void *base, vecattn_dtype t, int64_t hkv, int64_t d, int64_t r, int64_t h) {
  return (unsigned char *)base + row_bytes(t, (r * hkv + h) * d);
}
static unsigned char *prow(unsigned char *pool, vecattn_dtype t, const scene *s, int64_t b, int64_t h, int64_t i) {
  return pool + row_bytes(t, ((b * s->hkv + h) * s->bs + i) * s->d);
}

static void shuffle(int32_t *a, int64_t n) {
  for (int64_t i = n - 1; i > 0; --i) {
    const int64_t j = tu_rand_int(0, i);
    const int32_t t = a[i];
    a[i] = a[j], a[j] = t;
  }
}

/* Builds the contiguous rows and a cache with the same rows in shuffled
 * blocks; unused pool rows are NaN. */
static void scene_make(scene *s, const paged_case *c, int n, const int *nq, const int *len, int share, int repeat) {
  memset(s, 0, sizeof *s);
  s->n = n, s->hq = c->hq, s->hkv = c->hkv, s->d = c->d, s->bs = c->bs;
  s->qt = c->qt, s->kt = c->kt, s->vt = c->vt, s->ot = c->ot;
  int lens[MAXS] = {0};
  for (int i = 0; i < n; ++i) s->ids[i] = i, lens[i] = len[i];
  if (repeat) s->ids[n - 1] = 0, lens[n - 1] = lens[0];
  s->cq[0] = s->ck[0] = 0;
  for (int i = 0; i < n; ++i) s->cq[i + 1] = s->cq[i] + nq[i], s->ck[i + 1] = s->ck[i] + lens[i];
  s->total_q = s->cq[n] + 2; /* two spare rows that must stay untouched */
  s->total_k = s->ck[n] ? s->ck[n] : 1;
  s->q = typed_normal(s->qt, s->total_q * s->hq * s->d);
  s->k = typed_normal(s->kt, s->total_k * s->hkv * s->d);
  s->v = typed_normal(s->vt, s->total_k * s->hkv * s->d);
  const size_t kr = row_bytes(s->kt, s->d), vr = row_bytes(s->vt, s->d);
  /* A shared prefix and a repeated sequence are the same rows in contiguous form too. */
  const int64_t shared = share ? (int64_t)share * s->bs : 0;
  for (int64_t p = 0; p < shared; ++p)
    for (int h = 0; h < s->hkv; ++h) {
      memcpy(crow(s->k, s->kt, s->hkv, s->d, s->ck[1] + p, h), crow(s->k, s->kt, s->hkv, s->d, s->ck[0] + p, h), kr);
      memcpy(crow(s->v, s->vt, s->hkv, s->d, s->ck[1] + p, h), crow(s->v, s->vt, s->hkv, s->d, s->ck[0] + p, h), vr);
    }
  if (repeat)
    for (int64_t p = 0; p < lens[0]; ++p)
      for (int h = 0; h < s->hkv; ++h) {
        memcpy(crow(s->k, s->kt, s->hkv, s->d, s->ck[n - 1] + p, h), crow(s->k, s->kt, s->hkv, s->d, p, h), kr);
        memcpy(crow(s->v, s->vt, s->hkv, s->d, s->ck[n - 1] + p, h), crow(s->v, s->vt, s->hkv, s->d, p, h), vr);
      }
  s->tq = vecattn_tensor_bshd_typed(s->q, s->qt, 1, s->total_q, s->hq, s->d);
  s->tk = vecattn_tensor_bshd_typed(s->k, s->kt, 1, s->total_k, s->hkv, s->d);
  s->tv = vecattn_tensor_bshd_typed(s->v, s->vt, 1, s->total_k, s->hkv, s->d);

  /* Tables: ceil(len / bs) blocks each (sequence 2 one more than it needs),
   * shared ones taken from entry 0, the rest from a shuffled pool. */
  const int distinct = repeat ? n - 1 : n;
  int64_t need[MAXS], total = 0;
  for (int i = 0; i < distinct; ++i) {
    need[i] = (lens[i] + s->bs - 1) / s->bs + (i == 2);
    total += need[i] - (i == 1 ? share : 0);
  }
  s->n_blocks = total + 3;
  int32_t *perm = malloc((size_t)s->n_blocks * sizeof *perm);
  for (int64_t b = 0; b < s->n_blocks; ++b) perm[b] = (int32_t)b;
  shuffle(perm, s->n_blocks);
  const int64_t block_elems = (int64_t)s->hkv * s->bs * s->d;
  const size_t kpb = vecattn_dtype_bytes(s->kt, s->n_blocks * block_elems);
  const size_t vpb = vecattn_dtype_bytes(s->vt, s->n_blocks * block_elems);
  s->k_pool = malloc(kpb), s->v_pool = malloc(vpb);
  memset(s->k_pool, 0xff, kpb), memset(s->v_pool, 0xff, vpb); /* NaN in every type, q8_0 scales too */
  vecattn_paged_cache_desc desc = {s->n_blocks, s->bs, s->hkv, s->d, s->kt, s->vt, distinct + 1, s->k_pool, s->v_pool};
  ck_assert_int_eq(vecattn_paged_cache_create(&s->cache, &desc), VECATTN_OK);
  int64_t next = 0;
  int32_t *table0 = NULL;
  for (int i = 0; i < distinct; ++i) {
    int32_t *table = malloc((size_t)(need[i] ? need[i] : 1) * sizeof *table);
    for (int64_t e = 0; e < need[i]; ++e) table[e] = i == 1 && e < share ? table0[e] : perm[next++];
    for (int64_t p = 0; p < lens[i]; ++p)
      for (int h = 0; h < s->hkv; ++h) {
        const int32_t b = table[p / s->bs];
        memcpy(prow(s->k_pool, s->kt, s, b, h, p % s->bs), crow(s->k, s->kt, s->hkv, s->d, s->ck[i] + p, h), kr);
        memcpy(prow(s->v_pool, s->vt, s, b, h, p % s->bs), crow(s->v, s->vt, s->hkv, s->d, s->ck[i] + p, h), vr);
      }
    ck_assert_int_eq(vecattn_paged_cache_set_seq(s->cache, i, table, need[i], lens[i]), VECATTN_OK);
    ck_assert_int_eq(vecattn_paged_cache_seq_len(s->cache, i), lens[i]);
    if (i == 0) table0 = table;
    else free(table);
  }
  free(table0), free(perm);
}

static void scene_free(scene *s) {
  vecattn_paged_cache_destroy(s->cache);
  free(s->q), free(s->k), free(s->v), free(s->k_pool), free(s->v_pool);
}

static double elem(const void *base, vecattn_dtype t, int64_t off) {
  float x;
  vecattn_convert((const unsigned char *)base + vecattn_dtype_bytes(t, off), t, &x, F32, 1);
  return x;
}

typedef struct {
  void *out, *ref;  /* out guarded */
  float *lse, *ref_lse;
  size_t out_bytes, lse_n;
  vecattn_tensor to, tr;
} outputs;

static void outputs_make(outputs *o, const scene *s) {
  const int64_t n = s->total_q * s->hq * s->d;
  o->out_bytes = vecattn_dtype_bytes(s->ot, n);
  o->out = tu_guarded_alloc(o->out_bytes, 4);
  o->ref = malloc(o->out_bytes);
  o->lse_n = (size_t)(s->hq * s->total_q);
  o->lse = tu_guarded_alloc(o->lse_n * sizeof(float), 8);
  o->ref_lse = malloc(o->lse_n * sizeof(float));
  o->to = vecattn_tensor_bshd_typed(o->out, s->ot, 1, s->total_q, s->hq, s->d);
  o->tr = vecattn_tensor_bshd_typed(o->ref, s->ot, 1, s->total_q, s->hq, s->d);
}

static void outputs_free(outputs *o) {
  tu_guarded_free(o->out), free(o->ref), tu_guarded_free(o->lse), free(o->ref_lse);
}

static vecattn_status paged(const scene *s, outputs *o, const vecattn_sdpa_opts *opts) {
  memset(o->out, 0xff, o->out_bytes);
  tu_poison(o->lse, o->lse_n);
  vecattn_sdpa_opts po = *opts;
  po.lse = o->lse;
  return vecattn_sdpa_paged(&s->tq, &o->to, s->cache, s->ids, s->cq, s->n, &po);
}

/* Relative L2 error of sequence rows against ref_sdpa on the contiguous rows; lse error into *lse_err. */
static double against_float64(const scene *s, const outputs *o, const vecattn_sdpa_opts *opts, double *lse_err) {
  double num = 0, den = 0, lnum = 0, lden = 0;
  for (int i = 0; i < s->n; ++i) {
    const int64_t nq = s->cq[i + 1] - s->cq[i], nk = s->ck[i + 1] - s->ck[i];
    if (nq == 0) continue;
    vecattn_tensor q = s->tq, k = s->tk, v = s->tv;
    q.data = (unsigned char *)s->q + vecattn_dtype_bytes(s->qt, s->cq[i] * q.stride[2]), q.shape[2] = nq;
    k.data = (unsigned char *)s->k + vecattn_dtype_bytes(s->kt, s->ck[i] * k.stride[2]), k.shape[2] = nk;
    v.data = (unsigned char *)s->v + vecattn_dtype_bytes(s->vt, s->ck[i] * v.stride[2]), v.shape[2] = nk;
    double *ro = malloc((size_t)(s->hq * nq * s->d) * sizeof *ro), *rl = malloc((size_t)(s->hq * nq) * sizeof *rl);
    ref_sdpa(&q, &k, &v, opts, ro, rl);
    for (int64_t h = 0; h < s->hq; ++h)
      for (int64_t r = 0; r < nq; ++r) {
        const double l = o->lse[h * s->total_q + s->cq[i] + r], want = rl[h * nq + r];
        if (want == -INFINITY) {
          ck_assert_msg(l == -INFINITY, "masked row: lse %g", l);
        } else {
          lnum += (l - want) * (l - want), lden += want * want;
        }
        for (int64_t e = 0; e < s->d; ++e) {
          const double x = elem(o->out, s->ot, ((s->cq[i] + r) * s->hq + h) * s->d + e), y = ro[(h * nq + r) * s->d + e];
          num += (x - y) * (x - y), den += y * y;
        }
      }
    free(ro), free(rl);
  }
  *lse_err = lden > 0 ? sqrt(lnum / lden) : sqrt(lnum);
  return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* Output rounding sets the bar, as in test_dtypes; bf16 and int8 products as there
 * (int8: queries quantised to 7 bits a block, against q8_0 K only). */
static double out_tol(const paged_case *c) {
  if (c->reduced) return c->kt == Q80 ? 3e-2 : 1e-2;
  return c->ot == F16 ? 6e-4 : c->ot == BF16 ? 4.5e-3 : 1e-5;
}
static double lse_tol(const paged_case *c) {
  if (c->reduced) return c->kt == Q80 ? 1e-2 : 1e-3;
  return 1e-5;
}

static void run_case(const paged_case *c, int idx) {
  tu_reseed(0x9A6ED000u + (uint64_t)idx);
  scene s;
  scene_make(&s, c, c->n, c->nq, c->len, c->share, c->repeat);
  outputs o, o1;
  outputs_make(&o, &s), outputs_make(&o1, &s);
  float slopes[8];
  for (int h = 0; h < c->hq; ++h) slopes[h] = powf(2.0f, -8.0f * (float)(h + 1) / (float)c->hq);
  vecattn_sdpa_opts opts = {0};
  opts.causal = c->causal, opts.window = c->window, opts.reduced_precision = c->reduced;
  if (c->alibi) opts.alibi_slopes = slopes;

  TU_FOR_EACH_ISA(isa) {
    const char *in = vecattn_isa_name(isa);
    /* varlen over the contiguous rows: the bits to match. */
    memset(o.ref, 0xff, o.out_bytes);
    vecattn_sdpa_opts vo = opts;
    vo.lse = o.ref_lse;
    ck_assert_int_eq(vecattn_sdpa_varlen(&s.tq, &s.tk, &s.tv, &o.tr, s.cq, s.ck, s.n, &vo), VECATTN_OK);
    for (int threads = 1; threads <= (tu_threads_ok() ? 3 : 1); ++threads) {
      vecattn_sdpa_opts po = opts;
      po.num_threads = threads;
      const vecattn_status st = paged(&s, &o, &po);
      ck_assert_msg(st == VECATTN_OK, "%s [isa %s]: status %d", c->name, in, (int)st);
      ck_assert_msg(tu_guard_ok(o.out) && tu_guard_ok(o.lse), "%s [isa %s]: write outside out/lse", c->name, in);
      const size_t used = vecattn_dtype_bytes(s.ot, (int64_t)s.cq[s.n] * s.hq * s.d);
      ck_assert_msg(memcmp(o.out, o.ref, used) == 0, "%s [isa %s, %d threads]: out differs from varlen over contiguous rows",
                    c->name, in, threads);
      for (size_t e = used; e < o.out_bytes; ++e) /* spare rows past the last sequence */
        ck_assert_msg(((unsigned char *)o.out)[e] == 0xff, "%s [isa %s]: spare row written", c->name, in);
      for (int64_t h = 0; h < s.hq; ++h)
        for (int64_t r = 0; r < s.total_q; ++r) {
          const float l = o.lse[h * s.total_q + r], want = o.ref_lse[h * s.total_q + r];
          if (r >= s.cq[s.n])
            ck_assert_msg(tu_is_poison(l), "%s [isa %s]: lse of a spare row written", c->name, in);
          else
            ck_assert_msg(memcmp(&l, &want, sizeof l) == 0, "%s [isa %s, %d threads]: lse h %lld row %lld %.9g, varlen %.9g",
                          c->name, in, threads, (long long)h, (long long)r, (double)l, (double)want);
        }
      if (threads > 1) continue;
      double lse_err;
      const double err = against_float64(&s, &o, &opts, &lse_err);
      if (tu_verbose()) printf("  %s [isa %s]: rel L2 vs float64 %.2e, lse %.2e\n", c->name, in, err, lse_err);
      ck_assert_msg(err <= out_tol(c) && lse_err <= lse_tol(c), "%s [isa %s, seed %llu]: rel L2 vs float64 %.3e (lse %.3e)",
                    c->name, in, (unsigned long long)tu_seed(), err, lse_err);
      if (c->reduced && (isa == VECATTN_ISA_AVX512BF16 || isa == VECATTN_ISA_NEONBF16 || isa == VECATTN_ISA_SVEBF16))
        ck_assert_msg(err > 1e-5, "%s: error %.3g: reduced-precision products were not used", c->name, err);
    }
  }
  outputs_free(&o), outputs_free(&o1);
  scene_free(&s);
}

START_TEST(test_paged_equals_contiguous) { run_case(&cases[_i], _i); }
END_TEST

/* One long context beside 30 short decodes and two prefill chunks, block
 * size 16: the long tiles are cut into key chunks. The bits of varlen, and the
 * same for 1, 2 and 3 threads. */
START_TEST(test_long_beside_short) {
  tu_reseed(0x9A6EE000u);
  enum { N = 33 };
  int nq[N], len[N];
  nq[0] = 1, len[0] = tu_emulated() ? 2000 : 9000;
  for (int i = 1; i < N; ++i) nq[i] = 1, len[i] = (int)tu_rand_int(50, 150);
  nq[7] = 64, len[7] = 700;
  nq[20] = 40, len[20] = 40;
  const paged_case c = {"long beside short", 16, 8, 2, 64, 1, 0, 0, 0, F32, F16, F16, F32, N, {0}, {0}, 0, 0};
  scene s;
  scene_make(&s, &c, N, nq, len, 0, 0);
  outputs o;
  outputs_make(&o, &s);
  const size_t used = vecattn_dtype_bytes(s.ot, (int64_t)s.cq[N] * s.hq * s.d);
  vecattn_sdpa_opts opts = {0};
  opts.causal = 1;
  TU_FOR_EACH_ISA(isa) {
    const char *in = vecattn_isa_name(isa);
    vecattn_sdpa_opts vo = opts;
    vo.lse = o.ref_lse;
    ck_assert_int_eq(vecattn_sdpa_varlen(&s.tq, &s.tk, &s.tv, &o.tr, s.cq, s.ck, N, &vo), VECATTN_OK);
    for (int threads = 1; threads <= (tu_threads_ok() ? 3 : 1); ++threads) {
      vecattn_sdpa_opts po = opts;
      po.num_threads = threads;
      ck_assert_int_eq(paged(&s, &o, &po), VECATTN_OK);
      ck_assert_msg(memcmp(o.out, o.ref, used) == 0, "[isa %s, %d threads] long beside short: out differs from varlen", in,
                    threads);
      for (int64_t h = 0; h < s.hq; ++h) /* the rows of every head, not the spare ones */
        ck_assert_msg(memcmp(o.lse + h * s.total_q, o.ref_lse + h * s.total_q, (size_t)s.cq[N] * sizeof(float)) == 0,
                      "[isa %s, %d threads] long beside short: lse differs from varlen", in, threads);
    }
    double lse_err;
    const double err = against_float64(&s, &o, &opts, &lse_err);
    ck_assert_msg(err <= 1e-5 && lse_err <= 1e-5, "[isa %s] long beside short: rel L2 vs float64 %.3e (lse %.3e)", in,
                  err, lse_err);
  }
  outputs_free(&o);
  scene_free(&s);
}
END_TEST

/* Sequences without queries write nothing; no sequences at all is OK. */
START_TEST(test_empty) {
  tu_reseed(0x9A6EF000u);
  const paged_case c = {"empty", 16, 4, 2, 32, 1, 0, 0, 0, F32, F32, F32, F32, 3, {0, 2, 0}, {0, 20, 50}, 0, 0};
  scene s;
  scene_make(&s, &c, c.n, c.nq, c.len, 0, 0);
  outputs o;
  outputs_make(&o, &s);
  vecattn_sdpa_opts opts = {0};
  opts.causal = 1;
  ck_assert_int_eq(paged(&s, &o, &opts), VECATTN_OK);
  const size_t row = (size_t)(s.hq * s.d); /* f32 */
  for (size_t e = 0; e < o.out_bytes / sizeof(float); ++e) /* sequence 1's two rows, nothing else */
    ck_assert_msg(isnan(((float *)o.out)[e]) == (e >= 2 * row), "out[%zu] = %g", e, (double)((float *)o.out)[e]);
  tu_poison(o.out, o.out_bytes / sizeof(float));
  ck_assert_int_eq(vecattn_sdpa_paged(&s.tq, &o.to, s.cache, s.ids, s.cq, 0, NULL), VECATTN_OK);
  for (size_t e = 0; e < o.out_bytes / sizeof(float); ++e) ck_assert(tu_is_poison(((float *)o.out)[e]));
  outputs_free(&o);
  scene_free(&s);
}
END_TEST

/* Every EINVAL of the header: the status, and out and lse untouched. */
START_TEST(test_bad_arguments) {
  tu_reseed(0x9A6F0000u);
  const paged_case c = {"bad", 16, 4, 2, 32, 1, 0, 0, 0, F32, F32, F32, F32, 3, {1, 4, 3}, {40, 4, 20}, 0, 0};
  scene s;
  scene_make(&s, &c, c.n, c.nq, c.len, 0, 0);
  outputs o;
  outputs_make(&o, &s);
  int32_t *tabs = tu_guarded_alloc(2 * (MAXS + 1) * sizeof(int32_t), 0); /* ids, cu */
  int32_t kvl[1] = {3};
  float *q_other = malloc((size_t)(s.total_q * s.hq * 8) * sizeof(float));
  tu_fill_normal(q_other, (size_t)(s.total_q * s.hq * 8));
  vecattn_tensor bias_t = vecattn_tensor_bhsd(q_other, 1, 1, 1, 1);
  const char *what[] = {"NULL cache", "NULL seq_ids", "NULL cu_seqlens_q", "seq id -1", "seq id max_seqs",
                        "more queries than positions", "head dim differs", "Hq not a multiple of Hkv",
                        "cu[0] = 1", "cu decreasing", "cu past total_q", "n_seqs < 0", "kv_len", "bias", "batch 2",
                        "window < 0", "cu inside out", "seq_ids inside lse", "out in the K pool", "lse in the V pool",
                        "lse overlaps q", "negative query count", "NULL q", "NULL out", "out of another shape"};
  for (int k = 0; k < (int)(sizeof what / sizeof what[0]); ++k) {
    int32_t *ids = tabs, *cu = tabs + MAXS;
    memcpy(ids, s.ids, sizeof s.ids), memcpy(cu, s.cq, sizeof(int32_t) * (size_t)(s.n + 1));
    vecattn_tensor tq = s.tq, to = o.to;
    vecattn_tensor *pq = &tq, *po = &to;
    const vecattn_paged_cache *cache = s.cache;
    const int32_t *pid = ids, *pcu = cu;
    vecattn_sdpa_opts opts = {0};
    opts.lse = o.lse, opts.causal = 1;
    int64_t n = s.n;
    switch (k) {
    case 0: cache = NULL; break;
    case 1: pid = NULL; break;
    case 2: pcu = NULL; break;
    case 3: ids[1] = -1; break;
    case 4: ids[2] = 4; break; /* max_seqs = 4 */
    case 5: cu[2] = cu[1] + 5, cu[3] = cu[2] + 3; break;
    case 6: /* head dim 8 against the cache's 32 */
      tq = vecattn_tensor_bshd(q_other, 1, s.total_q, s.hq, 8), to = vecattn_tensor_bshd(o.out, 1, s.total_q, s.hq, 8);
      break;
    case 7: tq.shape[1] = 3, to.shape[1] = 3; break;
    case 8: cu[0] = 1; break;
    case 9: cu[2] = 0; break;
    case 10: cu[3] = (int32_t)s.total_q + 1; break;
    case 11: n = -1; break;
    case 12: opts.kv_len = kvl; break;
    case 13: opts.bias = &bias_t; break;
    case 14: tq.shape[0] = 2, tq.shape[2] = 4, to.shape[0] = 2, to.shape[2] = 4; break;
    case 15: opts.window = -1; break;
    case 16: pcu = (const int32_t *)o.out + 5; break;
    case 17: pid = (const int32_t *)o.lse; break;
    case 18: to.data = s.k_pool; break;
    case 19: opts.lse = (float *)s.v_pool; break;
    case 20: opts.lse = s.q; break;
    case 21: cu[1] = -4, cu[2] = 0; break;
    case 22: pq = NULL; break;
    case 23: po = NULL; break;
    case 24: to.shape[3] = 16; break;
    }
    unsigned char *k_snap = tu_snapshot(s.k_pool, 64), *v_snap = tu_snapshot(s.v_pool, 64);
    tu_poison(o.out, o.out_bytes / sizeof(float));
    tu_poison(o.lse, o.lse_n);
    const vecattn_status st = vecattn_sdpa_paged(pq, po, cache, pid, pcu, n, &opts);
    ck_assert_msg(st == VECATTN_EINVAL, "%s: status %d, want EINVAL", what[k], (int)st);
    for (size_t i = 0; i < o.out_bytes / sizeof(float); ++i)
      ck_assert_msg(tu_is_poison(((float *)o.out)[i]), "%s: out written", what[k]);
    for (size_t i = 0; i < o.lse_n; ++i) ck_assert_msg(tu_is_poison(o.lse[i]), "%s: lse written", what[k]);
    ck_assert_msg(memcmp(k_snap, s.k_pool, 64) == 0 && memcmp(v_snap, s.v_pool, 64) == 0, "%s: pool written", what[k]);
    ck_assert(tu_guard_ok(o.out) && tu_guard_ok(o.lse) && tu_guard_ok(tabs));
    free(k_snap), free(v_snap);
  }
  tu_guarded_free(tabs), free(q_other);
  outputs_free(&o);
  scene_free(&s);
}
END_TEST

static Suite *make_suite(void) {
  Suite *s = suite_create("paged");
  TCase *tc = tcase_create("paged");
  tcase_add_loop_test(tc, test_paged_equals_contiguous, 0, NCASES);
  tcase_add_test(tc, test_long_beside_short);
  tcase_add_test(tc, test_empty);
  tcase_add_test(tc, test_bad_arguments);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  tu_init("paged");
  return tu_run_suite(make_suite());
}
