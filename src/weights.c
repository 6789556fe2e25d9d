/* vecattn_attention_weights: the same scores as vecattn_sdpa, materialised row
 * by row into the caller's [B,Hq,Nq,Nk] tensor, then normalised in place. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "attn_plan.h"
#include "buffer.h"
#include "dispatch.h"
#include "status.h"
#include "threads.h"
#include "vecattn.h"

/* A row's exponentials are summed in chunks of this many keys, the chunk sums
 * in double: one float sum over 2^22 keys drifted 1.2% on the scalar path
 * (each add rounds against an ever larger total), chunks keep it < 1e-6. */
enum { SUM_CHUNK_KEYS = 2048 };

static double exp_shift_sum_chunked(const attn_plan *pl, float *x, int64_t n, float m) {
  double sum = 0.0;
  for (int64_t j = 0; j < n; j += SUM_CHUNK_KEYS)
    sum += pl->kern->exp_shift_sum(x + j, n - j < SUM_CHUNK_KEYS ? n - j : SUM_CHUNK_KEYS, m);
  return sum;
}

static float *weights_row(const attn_plan *pl, const attn_tile *t, int r) {
  const attn_problem *p = pl->p;
  const int64_t h = t->head0 + r / t->n_q, i = t->q0 + r % t->n_q;
  return (float *)p->out + t->b * p->os[0] + h * p->os[1] + i * p->os[2];
}

static void weights_tile(const attn_plan *pl, const attn_tile *t, attn_workspace *ws) {
  const attn_problem *p = pl->p;
  int64_t lo, hi;
  attn_tile_key_range(pl, t, &lo, &hi);
  if (hi < lo) hi = lo;
  /* Keys no row of the tile sees get weight 0 now; softmax then runs on [lo, hi) only. */
  for (int r = 0; r < t->rows; ++r) {
    float *row = weights_row(pl, t, r);
    memset(row, 0, (size_t)lo * sizeof(float));
    memset(row + hi, 0, (size_t)(p->Nk - hi) * sizeof(float));
  }
  if (lo < hi) attn_pack_queries(pl, t, ws);
  for (int64_t j0 = lo; j0 < hi; j0 += pl->block_k) {
    const int nk = hi - j0 < pl->block_k ? (int)(hi - j0) : pl->block_k;
    attn_score_block(pl, t, j0, nk, ws, NULL);
    for (int r = 0; r < t->rows; ++r) {
      float *row = weights_row(pl, t, r) + j0;
      for (int c = 0; c < nk; ++c) dt_st_f32(row + c, ws->scores[(int64_t)c * pl->score_ld + r]);
    }
  }
  for (int r = 0; r < t->rows; ++r) {
    float *row = weights_row(pl, t, r);
    float m = -INFINITY;
    for (int64_t j = lo; j < hi; ++j) {
      const float x = dt_ld_f32(row + j);
      m = x > m ? x : m;
    }
    float *lse = p->lse ? p->lse + (t->b * p->Hq + t->head0 + r / t->n_q) * p->Nq + t->q0 + r % t->n_q
                        : NULL;
    if (m == -INFINITY) {
      memset(row + lo, 0, (size_t)(hi - lo) * sizeof(float));
      if (lse) *lse = -INFINITY;
      continue;
    }
    const double sum = exp_shift_sum_chunked(pl, row + lo, hi - lo, m);
    pl->kern->scale(row + lo, hi - lo, (float)(1.0 / sum));
    if (lse) *lse = (float)(m + log(sum));
  }
}

typedef struct {
  const attn_plan *pl;
  float *ws_mem;
  vecattn_tasks tiles;
} weights_region_ctx;

static void weights_region(void *ctx) {
  weights_region_ctx *c = ctx;
  attn_workspace ws = attn_workspace_carve(c->pl, c->ws_mem + (size_t)omp_get_thread_num() * c->pl->workspace_floats);
  for (int64_t i; (i = vecattn_task_take(&c->tiles)) < c->pl->tiles;) {
    const attn_tile t = attn_plan_tile(c->pl, i);
    weights_tile(c->pl, &t, &ws);
  }
}

vecattn_status vecattn_attention_weights(const vecattn_tensor *q, const vecattn_tensor *k,
                                         vecattn_tensor *weights, const vecattn_sdpa_opts *opts) {
  attn_problem p;
  vecattn_status s = attn_problem_init(&p, q, k, NULL, weights, opts);
  if (s != VECATTN_OK) return s;
  attn_plan pl;
  attn_plan_init(&pl, &p, dispatch_active());
  const int threads = vecattn_thread_count(p.num_threads, pl.tiles, attn_problem_flops(&p), attn_problem_bytes(&p));

  void *ws_base;
  weights_region_ctx ctx = {&pl, scratch_alloc((size_t)threads * pl.workspace_floats * sizeof(float), &ws_base), {0}};
  if (!ctx.ws_mem) return status_nomem("the per-thread attention workspace");
  vecattn_run_region(threads, weights_region, &ctx);
  free(ws_base);
  return VECATTN_OK;
}
