/* The `serve` case: one server step over a paged KV cache. n_decode sequences
 * with context lengths drawn log-uniform (fixed seed) each decode one token,
 * and n_prefill sequences prefill a chunk after a drawn prefix, through one
 * vecattn_sdpa_paged call. The same step is also timed as
 *   (a) one vecattn_sdpa call per sequence over contiguous K/V, and
 *   (b) one padded rectangular vecattn_sdpa call: what a server that pads
 *       does. Every batch row gets the longest chunk of queries (real ones
 *       last, so a decode query is the bottom row) and the longest context of
 *       keys, with opts.kv_len = its own context: causal bottom-right masking
 *       is then exact for the decode rows and the longest row; for a shorter
 *       prefill row it admits the chunk's later keys too (a rectangle cannot
 *       say more without an additive mask of B*Nq*Nk floats), which costs the
 *       same work, so its timing stands but its output is not compared.
 * The paged call and (a) are timed in turns, call by call (time_pair). The
 * 32 decodes are also timed alone (paged and per sequence): the
 * memory-bound part, held to the read bandwidth of the pools measured right
 * after. D = 128 as in the `decode` shape. It runs once per (--dtype,
 * --kv-dtype) pair: the pools, (a) and (b) hold K/V of the K/V type, Q and
 * out are of the Q/out type, all from the same f32 values converted with
 * vecattn_convert; the check compares outputs widened to f32. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static uint64_t next_u64(uint64_t *s) {
  uint64_t x = *s;
  x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
  *s = x;
  return x * 0x2545F4914F6CDD1DULL;
}
static double next_unit(uint64_t *s) { return (double)(next_u64(s) >> 11) * (1.0 / 9007199254740992.0); }

static void fill(float *p, size_t n, uint64_t *s) { /* a vb_fill_fn */
  for (size_t i = 0; i < n; ++i) p[i] = (float)(next_unit(s) * 2.0 - 1.0);
}

typedef struct {
  vb_serve *r;
  int n;                 /* sequences: decodes first */
  int64_t len[VB_SERVE_MAX_SEQS], nq[VB_SERVE_MAX_SEQS];
  int32_t ids[VB_SERVE_MAX_SEQS], cq[VB_SERVE_MAX_SEQS + 1];
  int64_t hq, hkv, d, bs, total_q;
  vecattn_dtype qt, kvt;  /* Q/out, K/V */
  void *k_pool, *v_pool;
  size_t pool_bytes;     /* each */
  vecattn_paged_cache *cache;
  void *q, *out, *out_a; /* packed [total_q][hq][d] */
  void **k_seq, **v_seq; /* (a): [hkv][len][d] per sequence */
  void *qb, *ob, *kb, *vb; /* (b) */
  int64_t nq_pad, nk_pad;
  int32_t *kv_len;
} serve_data;

/* Seconds per call: median of timed calls after one warm-up (the only timed
 * call when it is slower than a second: the slow padded baseline). */
typedef vecattn_status (*step_fn)(serve_data *sd, int decode_only, int threads);

static double time_step(serve_data *sd, step_fn fn, int decode_only, int threads, double min_time, int min_reps,
                        int *reps_out, vecattn_status *st) {
  double t[256];
  int reps = 0;
  double t0 = vb_now();
  *st = fn(sd, decode_only, threads);
  const double first = vb_now() - t0;
  if (*st != VECATTN_OK) return NAN;
  if (first > 1.0) { /* the slow padded baseline: one call is the figure */
    t[0] = first;
    *reps_out = 1;
    return first;
  }
  double spent = 0;
  while ((reps < min_reps || spent < min_time) && reps < 256 && !vb_stop_requested()) {
    t0 = vb_now();
    if ((*st = fn(sd, decode_only, threads)) != VECATTN_OK) return NAN;
    t[reps] = vb_now() - t0;
    spent += t[reps++];
  }
  *reps_out = reps;
  return vb_median(t, reps);
}

/* The paged call and (a) timed in turns, call by call, each after one
 * warm-up: on a shared machine a burst of other work then slows both alike
 * instead of whichever ran during it. Medians into t[0] (paged), t[1] (a). */
static vecattn_status time_pair(serve_data *sd, step_fn fa, step_fn fb, int decode_only, int threads,
                                double min_time, int min_reps, double t[2], int reps_out[2]) {
  enum { MAX_TURNS = 256 };
  double ta[MAX_TURNS], tb[MAX_TURNS], spent = 0;
  vecattn_status st;
  if ((st = fa(sd, decode_only, threads)) != VECATTN_OK || (st = fb(sd, decode_only, threads)) != VECATTN_OK)
    return st;
  int reps = 0;
  while ((reps < min_reps || spent < 2 * min_time) && reps < MAX_TURNS && !vb_stop_requested()) {
    double t0 = vb_now();
    if ((st = fa(sd, decode_only, threads)) != VECATTN_OK) return st;
    const double t1 = vb_now();
    if ((st = fb(sd, decode_only, threads)) != VECATTN_OK) return st;
    ta[reps] = t1 - t0, tb[reps] = vb_now() - t1;
    spent += ta[reps] + tb[reps];
    ++reps;
  }
  t[0] = vb_median(ta, reps), t[1] = vb_median(tb, reps);
  reps_out[0] = reps_out[1] = reps;
  return VECATTN_OK;
}

/* The options every call of the step shares. */
static vecattn_sdpa_opts step_opts(const serve_data *sd, int threads) {
  vecattn_sdpa_opts opts = {0};
  opts.causal = 1, opts.num_threads = threads, opts.reduced_precision = sd->r->reduced_precision;
  return opts;
}

static vecattn_status run_paged(serve_data *sd, int decode_only, int threads) {
  vecattn_tensor q = vecattn_tensor_bshd_typed(sd->q, sd->qt, 1, sd->total_q, sd->hq, sd->d);
  vecattn_tensor o = vecattn_tensor_bshd_typed(sd->out, sd->qt, 1, sd->total_q, sd->hq, sd->d);
  const vecattn_sdpa_opts opts = step_opts(sd, threads);
  return vecattn_sdpa_paged(&q, &o, sd->cache, sd->ids, sd->cq, decode_only ? sd->r->n_decode : sd->n, &opts);
}

static vecattn_status run_per_seq(serve_data *sd, int decode_only, int threads) {
  const vecattn_sdpa_opts opts = step_opts(sd, threads);
  const int n = decode_only ? sd->r->n_decode : sd->n;
  for (int s = 0; s < n; ++s) {
    const int64_t off = (int64_t)sd->cq[s] * sd->hq * sd->d;
    vecattn_tensor q = vecattn_tensor_bshd_typed(vb_elem(sd->q, sd->qt, off), sd->qt, 1, sd->nq[s], sd->hq, sd->d);
    vecattn_tensor o = vecattn_tensor_bshd_typed(vb_elem(sd->out_a, sd->qt, off), sd->qt, 1, sd->nq[s], sd->hq, sd->d);
    vecattn_tensor k = vecattn_tensor_bhsd_typed(sd->k_seq[s], sd->kvt, 1, sd->hkv, sd->len[s], sd->d);
    vecattn_tensor v = vecattn_tensor_bhsd_typed(sd->v_seq[s], sd->kvt, 1, sd->hkv, sd->len[s], sd->d);
    vecattn_status st = vecattn_sdpa(&q, &k, &v, &o, &opts);
    if (st != VECATTN_OK) return st;
  }
  return VECATTN_OK;
}

static vecattn_status run_padded(serve_data *sd, int decode_only, int threads) {
  (void)decode_only;
  vecattn_tensor q = vecattn_tensor_bshd_typed(sd->qb, sd->qt, sd->n, sd->nq_pad, sd->hq, sd->d);
  vecattn_tensor o = vecattn_tensor_bshd_typed(sd->ob, sd->qt, sd->n, sd->nq_pad, sd->hq, sd->d);
  vecattn_tensor k = vecattn_tensor_bhsd_typed(sd->kb, sd->kvt, sd->n, sd->hkv, sd->nk_pad, sd->d);
  vecattn_tensor v = vecattn_tensor_bhsd_typed(sd->vb, sd->kvt, sd->n, sd->hkv, sd->nk_pad, sd->d);
  vecattn_sdpa_opts opts = step_opts(sd, threads);
  opts.kv_len = sd->kv_len;
  return vecattn_sdpa(&q, &k, &v, &o, &opts);
}

/* Key j of kv head h of sequence s in the pool. */
static void *pool_row(const serve_data *sd, void *pool, const int32_t *table, int64_t h, int64_t j) {
  return vb_elem(pool, sd->kvt, ((table[j / sd->bs] * sd->hkv + h) * sd->bs + j % sd->bs) * sd->d);
}

/* Bytes of n elements of K/V, of Q/out. */
static size_t kv_bytes(const serve_data *sd, int64_t n) { return vecattn_dtype_bytes(sd->kvt, n); }
static size_t q_bytes(const serve_data *sd, int64_t n) { return vecattn_dtype_bytes(sd->qt, n); }

#define FILL_PIECE (64 * 1024) /* floats converted at a time */

static int setup(serve_data *sd, vb_serve *r, int quick) {
  uint64_t seed = 0x5E57E5E7ULL;
  const double lo = log((double)r->ctx_lo), hi = log((double)r->ctx_hi);
  sd->n = r->n_decode + r->n_prefill;
  sd->hq = r->hq, sd->hkv = r->hkv, sd->d = r->d, sd->bs = r->block_size;
  sd->qt = r->dtype, sd->kvt = r->kv_dtype;
  int64_t blocks = 0;
  sd->cq[0] = 0;
  for (int s = 0; s < sd->n; ++s) {
    const int64_t drawn = (int64_t)llround(exp(lo + (hi - lo) * next_unit(&seed)));
    const int prefill = s >= r->n_decode;
    sd->nq[s] = prefill ? r->chunk : 1;
    sd->len[s] = prefill ? drawn + r->chunk : drawn; /* a decode's context includes its new token */
    if (!prefill) r->decode_ctx[s] = drawn;
    else r->prefix[s - r->n_decode] = drawn;
    sd->ids[s] = s;
    sd->cq[s + 1] = sd->cq[s] + (int32_t)sd->nq[s];
    blocks += (sd->len[s] + sd->bs - 1) / sd->bs;
  }
  sd->total_q = sd->cq[sd->n];
  (void)quick;
  /* Pool and tables: blocks handed out in a shuffled order, as a server's
   * allocator leaves them after a while. */
  const int64_t block_elems = sd->hkv * sd->bs * sd->d;
  sd->pool_bytes = kv_bytes(sd, blocks * block_elems);
  sd->k_pool = vb_alloc_big(sd->pool_bytes), sd->v_pool = vb_alloc_big(sd->pool_bytes);
  int32_t *perm = malloc((size_t)blocks * sizeof *perm);
  float *tmp = malloc(FILL_PIECE * sizeof *tmp);
  if (!sd->pool_bytes || !sd->k_pool || !sd->v_pool || !perm || !tmp) return free(perm), free(tmp), -1;
  for (int64_t b = 0; b < blocks; ++b) perm[b] = (int32_t)b;
  for (int64_t b = blocks - 1; b > 0; --b) {
    const int64_t j = (int64_t)(next_u64(&seed) % (uint64_t)(b + 1));
    const int32_t t = perm[b];
    perm[b] = perm[j], perm[j] = t;
  }
  const size_t q_elems = (size_t)(sd->total_q * sd->hq * sd->d), qo_bytes = q_bytes(sd, (int64_t)q_elems);
  int bad = vb_fill_typed(sd->k_pool, sd->kvt, (size_t)(blocks * block_elems), fill, tmp, FILL_PIECE, &seed) ||
            vb_fill_typed(sd->v_pool, sd->kvt, (size_t)(blocks * block_elems), fill, tmp, FILL_PIECE, &seed);
  vecattn_paged_cache_desc desc = {blocks, sd->bs, sd->hkv, sd->d, sd->kvt, sd->kvt, sd->n, sd->k_pool, sd->v_pool};
  bad = bad || vecattn_paged_cache_create(&sd->cache, &desc) != VECATTN_OK;
  int64_t next = 0;
  for (int s = 0; s < sd->n && !bad; ++s) {
    const int64_t nb = (sd->len[s] + sd->bs - 1) / sd->bs;
    bad = vecattn_paged_cache_set_seq(sd->cache, s, perm + next, nb, sd->len[s]) != VECATTN_OK;
    next += nb;
  }
  free(perm);
  sd->q = vb_alloc_big(qo_bytes), sd->out = vb_alloc_big(qo_bytes), sd->out_a = vb_alloc_big(qo_bytes);
  bad = bad || !sd->q || !sd->out || !sd->out_a || vb_fill_typed(sd->q, sd->qt, q_elems, fill, tmp, FILL_PIECE, &seed);
  free(tmp);
  if (bad) return -1;
  memset(sd->out, 0, qo_bytes), memset(sd->out_a, 0, qo_bytes);

  /* (a): each sequence's rows copied out of its blocks, [hkv][len][d]. */
  sd->k_seq = calloc((size_t)sd->n, sizeof *sd->k_seq), sd->v_seq = calloc((size_t)sd->n, sizeof *sd->v_seq);
  if (!sd->k_seq || !sd->v_seq) return -1;
  for (int s = 0; s < sd->n; ++s) {
    const int32_t *table;
    int64_t nb;
    vecattn_paged_cache_table(sd->cache, s, &table, &nb);
    const size_t bytes = kv_bytes(sd, sd->hkv * sd->len[s] * sd->d), row = kv_bytes(sd, sd->d);
    sd->k_seq[s] = vb_alloc_big(bytes), sd->v_seq[s] = vb_alloc_big(bytes);
    if (!sd->k_seq[s] || !sd->v_seq[s]) return -1;
    for (int64_t h = 0; h < sd->hkv; ++h)
      for (int64_t j = 0; j < sd->len[s]; ++j) {
        const int64_t at = (h * sd->len[s] + j) * sd->d;
        memcpy(vb_elem(sd->k_seq[s], sd->kvt, at), pool_row(sd, sd->k_pool, table, h, j), row);
        memcpy(vb_elem(sd->v_seq[s], sd->kvt, at), pool_row(sd, sd->v_pool, table, h, j), row);
      }
  }

  /* (b): the padded rectangle. Rows past a context are never read (kv_len)
   * and never touched here, so they take no memory. */
  sd->nq_pad = sd->nk_pad = 0;
  for (int s = 0; s < sd->n; ++s) {
    if (sd->nq[s] > sd->nq_pad) sd->nq_pad = sd->nq[s];
    if (sd->len[s] > sd->nk_pad) sd->nk_pad = sd->len[s];
  }
  const size_t qb_bytes = q_bytes(sd, sd->n * sd->nq_pad * sd->hq * sd->d);
  const size_t kb_bytes = kv_bytes(sd, sd->n * sd->hkv * sd->nk_pad * sd->d);
  r->padded_bytes = 2.0 * (double)qb_bytes + 2.0 * (double)kb_bytes;
  if (r->padded_bytes > (double)vb_phys_mem_bytes() / 4) {
    r->padded_skipped = 1; /* a rectangle this big would crowd the machine */
    return 0;
  }
  sd->qb = vb_alloc_big(qb_bytes), sd->ob = vb_alloc_big(qb_bytes);
  sd->kb = vb_alloc_big(kb_bytes), sd->vb = vb_alloc_big(kb_bytes);
  sd->kv_len = malloc((size_t)sd->n * sizeof *sd->kv_len);
  if (!sd->qb || !sd->ob || !sd->kb || !sd->vb || !sd->kv_len) return -1;
  memset(sd->qb, 0, qb_bytes), memset(sd->ob, 0, qb_bytes);
  for (int s = 0; s < sd->n; ++s) {
    sd->kv_len[s] = (int32_t)sd->len[s];
    const int64_t row0 = sd->nq_pad - sd->nq[s]; /* real queries last */
    memcpy(vb_elem(sd->qb, sd->qt, (s * sd->nq_pad + row0) * sd->hq * sd->d),
           vb_elem(sd->q, sd->qt, sd->cq[s] * sd->hq * sd->d), q_bytes(sd, sd->nq[s] * sd->hq * sd->d));
    for (int64_t h = 0; h < sd->hkv; ++h) {
      const int64_t to = (s * sd->hkv + h) * sd->nk_pad * sd->d, from = h * sd->len[s] * sd->d;
      const size_t rows = kv_bytes(sd, sd->len[s] * sd->d);
      memcpy(vb_elem(sd->kb, sd->kvt, to), vb_elem(sd->k_seq[s], sd->kvt, from), rows);
      memcpy(vb_elem(sd->vb, sd->kvt, to), vb_elem(sd->v_seq[s], sd->kvt, from), rows);
    }
  }
  return 0;
}

static void teardown(serve_data *sd) {
  vecattn_paged_cache_destroy(sd->cache);
  free(sd->k_pool), free(sd->v_pool), free(sd->q), free(sd->out), free(sd->out_a);
  for (int s = 0; s < sd->n && sd->k_seq; ++s) free(sd->k_seq[s]), free(sd->v_seq[s]);
  free(sd->k_seq), free(sd->v_seq);
  free(sd->qb), free(sd->ob), free(sd->kb), free(sd->vb), free(sd->kv_len);
}

/* Relative L2 of the paged output against (a) over all rows, and against (b)
 * over the rows whose padded mask is exact (decodes and the longest row),
 * widened to f32; 0, or -1 if the buffers cannot be had. */
static int check(const serve_data *sd, vb_serve *r) {
  const size_t n = (size_t)(sd->total_q * sd->hq * sd->d);
  float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
  int bad = !x || !y || vb_to_f32(sd->out, sd->qt, x, n) || vb_to_f32(sd->out_a, sd->qt, y, n);
  if (!bad) r->err_per_seq = vb_rel_l2(x, y, n);
  size_t m = 0; /* the rows (b) is compared on, gathered into x and y */
  for (int s = 0; s < sd->n && sd->ob && !bad; ++s) {
    if (sd->nq[s] > 1 && sd->len[s] != sd->nk_pad) continue;
    const size_t rows = (size_t)(sd->nq[s] * sd->hq * sd->d);
    bad = vb_to_f32(vb_elem(sd->out, sd->qt, sd->cq[s] * sd->hq * sd->d), sd->qt, x + m, rows) ||
          vb_to_f32(vb_elem(sd->ob, sd->qt, (s * sd->nq_pad + sd->nq_pad - sd->nq[s]) * sd->hq * sd->d), sd->qt,
                    y + m, rows);
    m += rows;
  }
  if (sd->ob && !bad) r->err_padded = vb_rel_l2(x, y, m);
  free(x), free(y);
  if (bad) return -1;
  r->check_tol = vb_check_tol(sd->qt, r->reduced_precision);
  r->check_ok = r->err_per_seq <= r->check_tol && (!sd->ob || r->err_padded <= r->check_tol);
  return 0;
}

/* Unique bytes a step reads (K and V of every position once, Q) and writes
 * (out), each of its type, and its flops (2 * 2 * D per visible (query, key)
 * pair and head). */
static void count_work(const serve_data *sd, int n, double *bytes, double *flops) {
  *bytes = *flops = 0;
  for (int s = 0; s < n; ++s) {
    *bytes += 2.0 * (double)kv_bytes(sd, sd->len[s] * sd->hkv * sd->d) +
              2.0 * (double)q_bytes(sd, sd->nq[s] * sd->hq * sd->d);
    for (int64_t i = 0; i < sd->nq[s]; ++i) /* causal, bottom-right */
      *flops += 4.0 * (double)sd->d * (double)sd->hq * (double)(sd->len[s] - sd->nq[s] + i + 1);
  }
}

void vb_serve_defaults(vb_serve *r, int quick, int block_size, vecattn_dtype dtype, vecattn_dtype kv_dtype) {
  memset(r, 0, sizeof *r);
  r->dtype = dtype, r->kv_dtype = kv_dtype;
  r->n_decode = quick ? 8 : 32;
  r->n_prefill = 2;
  r->chunk = quick ? 64 : 512;
  r->ctx_lo = 64;
  r->ctx_hi = quick ? 2048 : 16384;
  r->hq = 32, r->hkv = 8, r->d = 128;
  r->block_size = block_size > 0 ? block_size : 16;
  r->t_paged = r->t_per_seq = r->t_padded = r->t_paged_decode = r->t_per_seq_decode = NAN;
  r->workspace = r->err_per_seq = r->err_padded = r->read_gbps = r->check_tol = NAN;
}

int vb_serve_run(vb_serve *r, int quick, vecattn_isa isa, int threads, double min_time, int min_reps,
                 vb_mem_method mem) {
  serve_data sd;
  memset(&sd, 0, sizeof sd);
  sd.r = r;
  r->isa = isa, r->threads = threads;
  r->status = VECATTN_OK;
  int rc = -1;
  if (vecattn_set_isa(isa) != VECATTN_OK || setup(&sd, r, quick)) {
    r->status = VECATTN_ENOMEM;
    goto done;
  }
  for (int s = 0; s < sd.n; ++s) r->total_ctx += sd.len[s];
  count_work(&sd, sd.n, &r->bytes, &r->flops);
  count_work(&sd, r->n_decode, &r->bytes_decode, &r->flops_decode);
  r->tokens = (double)sd.total_q;

  /* The workspace: the resident set's peak over one paged call, less what
   * was resident before it (every input and output already touched). */
  if (mem != VB_MEM_NONE) {
    vb_mem_reset_peak();
    const size_t base = vb_mem_rss();
    if ((r->status = run_paged(&sd, 0, threads)) != VECATTN_OK) goto done;
    const size_t peak = vb_mem_peak();
    if (mem == VB_MEM_HWM) r->workspace = peak > base ? (double)(peak - base) : 0.0;
  }
  double t[2] = {NAN, NAN};
  int reps[2] = {0, 0};
  vecattn_status st = time_pair(&sd, run_paged, run_per_seq, 0, threads, min_time, min_reps, t, reps);
  r->t_paged = t[0], r->t_per_seq = t[1], r->reps_paged = reps[0], r->reps_per_seq = reps[1];
  if (st == VECATTN_OK) st = time_pair(&sd, run_paged, run_per_seq, 1, threads, min_time, min_reps, t, reps);
  if (st == VECATTN_OK)
    r->t_paged_decode = t[0], r->t_per_seq_decode = t[1], r->reps_paged_decode = reps[0], r->reps_per_seq_decode = reps[1];
  /* The pools' own read bandwidth, right after: what decode is held to. */
  const void *bufs[2] = {sd.k_pool, sd.v_pool};
  const size_t sizes[2] = {sd.pool_bytes, sd.pool_bytes};
  r->read_gbps = 0;
  for (int k = 0; k < (quick ? 2 : 3); ++k) {
    const double g = vb_bw_bufs_gbps(bufs, sizes, 2, threads, k);
    if (g > r->read_gbps) r->read_gbps = g;
  }
  if (st == VECATTN_OK && !r->padded_skipped)
    r->t_padded = time_step(&sd, run_padded, 0, threads, min_time, min_reps, &r->reps_padded, &st);
  r->status = st;
  if (st != VECATTN_OK) goto done;
  /* The outputs of the last calls: paged decode-only left the prefill rows of
   * the full step in place, and (a) ran the full step before its decode-only run. */
  if (check(&sd, r)) {
    r->status = VECATTN_ENOMEM;
    goto done;
  }
  rc = r->check_ok ? 0 : -1;
done:
  vecattn_set_isa(VECATTN_ISA_AUTO);
  teardown(&sd);
  r->ran = 1;
  return rc;
}

const vb_serve *vb_serve_f32_run(const vb_serve *runs, int i) {
  const vb_serve *f = &runs[0];
  if (i <= 0 || f->dtype != VECATTN_F32 || f->kv_dtype != VECATTN_F32 || f->status != VECATTN_OK) return NULL;
  return f;
}
