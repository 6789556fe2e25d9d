/* vecattn_sdpa_varlen: ragged batches. Each sequence becomes a sub-problem of
 * the validated whole (B = 1, its own Nq and Nk, pointers at its first query
 * and key), planned and tiled exactly as vecattn_sdpa plans it. Every tile of
 * every sequence then goes into one task list, run in one parallel region:
 * tiles with much more work than the average (a long context beside short
 * ones) are cut into key chunks, merged afterwards in chunk order as
 * vecattn_sdpa merges its decode chunks. The cut depends on the shapes only,
 * so any thread count gives the same bits; a tile left whole computes what a
 * dense call on its sequence computes when that call does not split it. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "checks.h"
#include "status.h"
#include "dispatch.h"
#include "flash.h"
#include "generic/dtype_scalar.h"
#include "sdpa.h"
#include "threads.h"
#include "vecattn.h"

/* About this many tasks' worth of work per task: a shape constant, not the
 * thread count, or results would change with the machine. Chunks keep at
 * least MIN_CHUNK_BLOCKS key blocks, as vecattn_sdpa's do. */
enum { TARGET_TASKS = 256, MIN_CHUNK_BLOCKS = 4 };
/* A tile's cost is its keys times (rows + STREAM_ROWS): a decode tile of one
 * or a few rows still streams every K and V row it sees. */
enum { STREAM_ROWS = 8 };

typedef struct {
  int64_t seq, tile;
  int64_t k0, k1;  /* keys [k0, k1) */
  int64_t part;    /* float offset of its partial state, -1: the tile is whole, write out */
  int64_t work;
} varlen_task;

typedef struct {
  int64_t seq, tile, part, chunks;
} split_tile;

typedef struct {
  attn_problem *probs;
  attn_plan *plans;
  varlen_task *tasks;
  split_tile *splits;
  float *parts;
  int64_t n_tasks, n_splits;
} varlen_work;

static vecattn_status check_cu(const char *name, const int32_t *cu, int64_t n, int64_t total, check_span out_span,
                               check_span lse_span) {
  check_span s;
  if (!cu) return status_fail(VECATTN_EINVAL, "%s is NULL", name);
  vecattn_status st = check_array(name, cu, n + 1, sizeof *cu, &s);
  if (st != VECATTN_OK) return st;
  if ((st = check_disjoint("out", out_span, name, s)) != VECATTN_OK ||
      (st = check_disjoint("opts->lse", lse_span, name, s)) != VECATTN_OK)
    return st;
  if (cu[0] != 0) return status_fail(VECATTN_EINVAL, "%s[0] = %d: must be 0", name, (int)cu[0]);
  if (cu[n] > total)
    return status_fail(VECATTN_EINVAL, "%s[%lld] = %d: past the %lld rows of the tensor", name, (long long)n, (int)cu[n],
                       (long long)total);
  for (int64_t i = 0; i < n; ++i)
    if (cu[i + 1] < cu[i])
      return status_fail(VECATTN_EINVAL, "%s[%lld] = %d < %s[%lld] = %d: offsets must not decrease", name,
                         (long long)(i + 1), (int)cu[i + 1], name, (long long)i, (int)cu[i]);
  return VECATTN_OK;
}

static vecattn_status validate(attn_problem *whole, const vecattn_tensor *q, const vecattn_tensor *k,
                               const vecattn_tensor *v, const vecattn_tensor *out, const int32_t *cu_q,
                               const int32_t *cu_k, int64_t n_seqs, const vecattn_sdpa_opts *opts) {
  /* A bias or kv_len is per batch row; here the rows are sequences. */
  if (opts && (opts->bias || opts->kv_len))
    return status_fail(VECATTN_EINVAL, "varlen: opts->bias and opts->kv_len are per batch row; not with sequences");
  if (!v) return status_fail(VECATTN_EINVAL, "v is NULL");
  if (n_seqs < 0) return status_fail(VECATTN_EINVAL, "varlen: n_seqs = %lld: must be >= 0", (long long)n_seqs);
  vecattn_status st = attn_problem_init(whole, q, k, v, out, opts);
  if (st != VECATTN_OK) return st;
  if (whole->B != 1)
    return status_fail(VECATTN_EINVAL, "varlen: q.shape[0] = %lld: sequences are packed in one batch row",
                       (long long)whole->B);
  check_span out_span, lse_span = {0, 0};
  if ((st = check_tensor("out", out, CHECK_FLOAT_TYPES, 1, &out_span)) != VECATTN_OK) return st;
  if (whole->lse && (st = check_array("opts->lse", whole->lse, whole->Hq * whole->Nq, sizeof(float), &lse_span)) != VECATTN_OK)
    return st;
  if ((st = check_cu("cu_seqlens_q", cu_q, n_seqs, whole->Nq, out_span, lse_span)) != VECATTN_OK) return st;
  return check_cu("cu_seqlens_k", cu_k, n_seqs, whole->Nk, out_span, lse_span);
}

/* Sequence s of the whole: its queries, keys, values, out rows and lse columns. */
static void sequence_problem(attn_problem *p, const attn_problem *whole, const int32_t *cu_q, const int32_t *cu_k,
                             int64_t s, int64_t window) {
  *p = *whole;
  const int64_t q0 = cu_q[s], k0 = cu_k[s];
  p->Nq = cu_q[s + 1] - q0;
  p->Nk = cu_k[s + 1] - k0;
  p->q = (const unsigned char *)whole->q + dt_bytes(whole->qt, q0 * whole->qs[2]);
  p->k = (const unsigned char *)whole->k + dt_bytes(whole->kt, k0 * whole->ks[2]);
  p->v = (const unsigned char *)whole->v + dt_bytes(whole->vt, k0 * whole->vs[2]);
  p->out = (unsigned char *)whole->out + dt_bytes(whole->ot, q0 * whole->os[2]);
  if (whole->lse) p->lse = whole->lse + q0, p->lse_ld = whole->Nq;
  p->window = window < p->Nk ? window : p->Nk; /* as validation clamps a dense call's */
}

static int by_work_desc(const void *a, const void *b) {
  const varlen_task *x = a, *y = b;
  if (x->work != y->work) return x->work < y->work ? 1 : -1;
  if (x->seq != y->seq) return x->seq < y->seq ? -1 : 1;
  return x->tile < y->tile ? -1 : x->tile > y->tile;
}

static int64_t tile_keys(const attn_plan *pl, const attn_tile *t, int64_t *lo) {
  int64_t hi;
  attn_tile_key_range(pl, t, lo, &hi);
  if (hi > pl->p->Nk) hi = pl->p->Nk;
  return hi > *lo ? hi - *lo : 0;
}

static int64_t tile_work(const attn_plan *pl, const attn_tile *t, int64_t keys) {
  return (keys + pl->block_k) * (t->rows + STREAM_ROWS);
}

/* The task list: every tile of every sequence with queries, long ones cut. */
static vecattn_status build_tasks(varlen_work *w, int64_t n_seqs) {
  int64_t total = 0;
  for (int64_t s = 0; s < n_seqs; ++s) {
    const attn_plan *pl = &w->plans[s];
    if (pl->p->Nq == 0) continue;
    for (int64_t i = 0; i < pl->tiles; ++i) {
      const attn_tile t = attn_plan_tile(pl, i);
      int64_t lo;
      total += tile_work(pl, &t, tile_keys(pl, &t, &lo));
    }
  }
  const int64_t target = total / TARGET_TASKS + 1;
  /* Count first: chunks per tile, then the arrays. */
  int64_t n_tasks = 0, n_splits = 0, part_floats = 0;
  for (int pass = 0; pass < 2; ++pass) {
    if (pass == 1) {
      w->tasks = malloc((size_t)(n_tasks ? n_tasks : 1) * sizeof *w->tasks);
      w->splits = malloc((size_t)(n_splits ? n_splits : 1) * sizeof *w->splits);
      w->parts = malloc((size_t)(part_floats ? part_floats : 1) * sizeof *w->parts);
      if (!w->tasks || !w->splits || !w->parts) return status_nomem("the varlen task tables");
      n_tasks = n_splits = part_floats = 0;
    }
    for (int64_t s = 0; s < n_seqs; ++s) {
      const attn_plan *pl = &w->plans[s];
      if (pl->p->Nq == 0) continue;
      for (int64_t i = 0; i < pl->tiles; ++i) {
        const attn_tile t = attn_plan_tile(pl, i);
        int64_t lo;
        const int64_t keys = tile_keys(pl, &t, &lo), work = tile_work(pl, &t, keys);
        const int64_t blocks = (keys + pl->block_k - 1) / pl->block_k;
        int64_t chunks = work > target ? (work + target - 1) / target : 1;
        if (chunks > blocks / MIN_CHUNK_BLOCKS) chunks = blocks / MIN_CHUNK_BLOCKS;
        if (chunks <= 1) {
          if (pass) w->tasks[n_tasks] = (varlen_task){s, i, 0, pl->p->Nk, -1, work};
          ++n_tasks;
          continue;
        }
        const int64_t chunk_len = (blocks + chunks - 1) / chunks * pl->block_k;
        chunks = (keys + chunk_len - 1) / chunk_len;
        const int64_t stride = (int64_t)partial_floats(pl);
        if (pass) {
          w->splits[n_splits] = (split_tile){s, i, part_floats, chunks};
          for (int64_t c = 0; c < chunks; ++c) {
            const int64_t k0 = lo + c * chunk_len, k1 = k0 + chunk_len < lo + keys ? k0 + chunk_len : lo + keys;
            w->tasks[n_tasks + c] = (varlen_task){s, i, k0, k1, part_floats + c * stride, (k1 - k0) * (t.rows + STREAM_ROWS)};
          }
        }
        n_tasks += chunks, ++n_splits, part_floats += chunks * stride;
      }
    }
  }
  w->n_tasks = n_tasks, w->n_splits = n_splits;
  /* Longest first: the order changes only which thread runs what. */
  qsort(w->tasks, (size_t)n_tasks, sizeof *w->tasks, by_work_desc);
  return VECATTN_OK;
}

static void run_tasks(const varlen_work *w, float *ws_mem, size_t ws_floats, int threads) {
#pragma omp parallel num_threads(threads)
  {
    float *mem = ws_mem + (size_t)omp_get_thread_num() * ws_floats;
    attn_workspace ws;
    int64_t carved = -1; /* the sequence whose plan ws is carved for */
#pragma omp for schedule(dynamic, 1)
    for (int64_t i = 0; i < w->n_tasks; ++i) {
      const varlen_task *task = &w->tasks[i];
      const attn_plan *pl = &w->plans[task->seq];
      if (task->seq != carved) ws = attn_workspace_carve(pl, mem), carved = task->seq;
      const attn_tile t = attn_plan_tile(pl, task->tile);
      flash_tile(pl, &t, task->k0, task->k1, &ws);
      if (task->part < 0) {
        write_tile(pl, &t, ws.row_max, ws.row_sum, ws.acc);
        continue;
      }
      float *dst = w->parts + task->part;
      memcpy(dst, ws.row_max, (size_t)t.rows * sizeof(float));
      memcpy(dst + pl->rows_max, ws.row_sum, (size_t)t.rows * sizeof(float));
      memcpy(dst + 2 * pl->rows_max, ws.acc, (size_t)t.rows * pl->dv_pad * sizeof(float));
    }
#pragma omp for schedule(dynamic, 1)
    for (int64_t i = 0; i < w->n_splits; ++i) {
      const split_tile *sp = &w->splits[i];
      const attn_plan *pl = &w->plans[sp->seq];
      const attn_tile t = attn_plan_tile(pl, sp->tile);
      float *part = w->parts + sp->part;
      merge_chunks(pl, &t, part, sp->chunks);
      write_tile(pl, &t, part, part + pl->rows_max, part + 2 * pl->rows_max);
    }
  }
}

vecattn_status vecattn_sdpa_varlen(const vecattn_tensor *q, const vecattn_tensor *k, const vecattn_tensor *v,
                                   vecattn_tensor *out, const int32_t *cu_seqlens_q, const int32_t *cu_seqlens_k,
                                   int64_t n_seqs, const vecattn_sdpa_opts *opts) {
  attn_problem whole;
  vecattn_status st = validate(&whole, q, k, v, out, cu_seqlens_q, cu_seqlens_k, n_seqs, opts);
  if (st != VECATTN_OK || n_seqs == 0) return st;
  const struct vecattn_kernels *kern = dispatch_active();

  varlen_work w = {0};
  w.probs = malloc((size_t)n_seqs * sizeof *w.probs);
  w.plans = malloc((size_t)n_seqs * sizeof *w.plans);
  float *ws_mem = NULL;
  st = VECATTN_ENOMEM;
  if (!w.probs || !w.plans) goto done;
  size_t ws_floats = 0;
  for (int64_t s = 0; s < n_seqs; ++s) {
    sequence_problem(&w.probs[s], &whole, cu_seqlens_q, cu_seqlens_k, s, opts ? opts->window : 0);
    if (w.probs[s].Nq == 0) {
      memset(&w.plans[s], 0, sizeof w.plans[s]); /* no queries: no tiles */
      w.plans[s].p = &w.probs[s];
      continue;
    }
    attn_plan_init(&w.plans[s], &w.probs[s], kern);
    if (w.plans[s].workspace_floats > ws_floats) ws_floats = w.plans[s].workspace_floats;
  }
  if ((st = build_tasks(&w, n_seqs)) != VECATTN_OK) goto done;
  st = VECATTN_OK;
  if (w.n_tasks == 0) goto done;
  double flops = 0, bytes = 0;
  for (int64_t s = 0; s < n_seqs; ++s) flops += attn_problem_flops(&w.probs[s]), bytes += attn_problem_bytes(&w.probs[s]);
  const int threads = vecattn_thread_count(whole.num_threads, w.n_tasks, flops, bytes);
  ws_mem = aligned_alloc(64, (size_t)threads * ws_floats * sizeof(float));
  if (!ws_mem) {
    st = VECATTN_ENOMEM;
    goto done;
  }
  run_tasks(&w, ws_mem, ws_floats, threads);
done:
  free(ws_mem), free(w.tasks), free(w.splits), free(w.parts), free(w.plans), free(w.probs);
  return st;
}
