#include "flash.h"

#include <math.h>
#include <string.h>

static void pack_values(const attn_plan *pl, const attn_tile *t, int64_t j0, int nk, float *vp) {
  const attn_problem *p = pl->p;
  const float *src = attn_values(pl, t, j0);
  for (int c = 0; c < nk; ++c) {
    float *dst = vp + (int64_t)c * pl->dv_pad;
    memcpy(dst, src + c * p->vs[2], (size_t)p->Dv * sizeof(float));
    memset(dst + p->Dv, 0, (size_t)(pl->dv_pad - p->Dv) * sizeof(float));
  }
}

void flash_tile(const attn_plan *pl, const attn_tile *t, int64_t k_begin, int64_t k_end,
                attn_workspace *ws) {
  const attn_problem *p = pl->p;
  const struct vecattn_kernels *kern = pl->kern;
  for (int r = 0; r < pl->rows_pad; ++r) {
    ws->row_max[r] = -INFINITY;
    ws->row_sum[r] = 0.0f;
  }
  memset(ws->acc, 0, (size_t)t->rows * pl->dv_pad * sizeof(float));

  int64_t lo, hi;
  attn_tile_key_range(pl, t, &lo, &hi);
  if (lo < k_begin) lo = k_begin;
  if (hi > k_end) hi = k_end;
  if (lo >= hi) return;

  attn_pack_queries(pl, t, ws);
  for (int64_t j0 = lo; j0 < hi; j0 += pl->block_k) {
    const int nk = hi - j0 < pl->block_k ? (int)(hi - j0) : pl->block_k;
    attn_score_block(pl, t, j0, nk, ws);
    kern->softmax_update(ws->scores, pl->score_ld, nk, attn_tile_lanes(pl, t), ws->row_max,
                         ws->row_sum, ws->row_alpha);
    const float *vb;
    int64_t ldv;
    if (pl->pack_v) {
      pack_values(pl, t, j0, nk, ws->v_packed);
      vb = ws->v_packed, ldv = pl->dv_pad;
    } else {
      vb = attn_values(pl, t, j0), ldv = p->vs[2];
    }
    /* Decode streams K and V from memory: P.V fetches the next K block meanwhile. */
    const float *next_keys = pl->keys_in_place && j0 + nk < hi ? attn_keys(pl, t, j0 + nk) : NULL;
    kern->gemm(ws->scores, 1, pl->score_ld, t->rows, vb, ldv, nk, pl->dv_pad, ws->acc, pl->dv_pad,
               ws->row_alpha, next_keys, p->ks[2]);
  }
}

void flash_write_row(const attn_plan *pl, int64_t b, int64_t h, int64_t i, float row_max,
                     float row_sum, float *acc) {
  const attn_problem *p = pl->p;
  float *dst = p->out + b * p->os[0] + h * p->os[1] + i * p->os[2];
  const int seen = row_max != -INFINITY && row_sum > 0.0f;
  if (seen) {
    pl->kern->scale(acc, p->Dv, 1.0f / row_sum);
    memcpy(dst, acc, (size_t)p->Dv * sizeof(float));
  } else {
    memset(dst, 0, (size_t)p->Dv * sizeof(float));
  }
  if (p->lse) p->lse[(b * p->Hq + h) * p->Nq + i] = seen ? row_max + logf(row_sum) : -INFINITY;
}
