#include "flash.h"

#include <math.h>
#include <string.h>

#include "generic/dtype_scalar.h"

/* V rows widened to f32 and zero-padded to whole vectors. */
static void pack_values(const attn_plan *pl, const attn_tile *t, int64_t j0, int nk, float *vp) {
  const attn_problem *p = pl->p;
  const vecattn_rows src = attn_values(pl, t, j0);
  for (int c = 0; c < nk; ++c) {
    float *dst = vp + (int64_t)c * pl->dv_pad;
    pl->kern->to_f32(attn_row(src, c), src.t, dst, p->Dv);
    memset(dst + p->Dv, 0, (size_t)(pl->dv_pad - p->Dv) * sizeof(float));
  }
}

void flash_tile(const attn_plan *pl, const attn_tile *t, int64_t k_begin, int64_t k_end,
                attn_workspace *ws) {
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
    if (pl->bf16) {
      attn_pv_bf16(pl, t, j0, nk, ws);
      continue;
    }
    vecattn_rows values;
    if (pl->pack_v) {
      pack_values(pl, t, j0, nk, ws->v_packed);
      values = (vecattn_rows){ws->v_packed, pl->dv_pad, VECATTN_F32};
    } else {
      values = attn_values(pl, t, j0);
    }
    /* Decode streams K and V from memory: P.V fetches the next K block meanwhile. */
    const vecattn_rows next_keys = pl->keys_in_place && j0 + nk < hi ? attn_keys(pl, t, j0 + nk)
                                                                     : (vecattn_rows){NULL, 0, VECATTN_F32};
    kern->gemm_typed(ws->scores, 1, pl->score_ld, t->rows, values, nk, pl->dv_pad, ws->acc, pl->dv_pad,
                     ws->row_alpha, next_keys);
  }
}

void flash_write_row(const attn_plan *pl, int64_t b, int64_t h, int64_t i, float row_max,
                     float row_sum, float *acc) {
  const attn_problem *p = pl->p;
  void *dst = (unsigned char *)p->out + dt_bytes(p->ot, b * p->os[0] + h * p->os[1] + i * p->os[2]);
  const int seen = row_max != -INFINITY && row_sum > 0.0f;
  if (seen) {
    pl->kern->scale(acc, p->Dv, 1.0f / row_sum);
    pl->kern->from_f32(acc, p->ot, dst, p->Dv);
  } else {
    memset(dst, 0, (size_t)dt_bytes(p->ot, p->Dv)); /* +0 in every float type */
  }
  const int64_t lse_ld = p->lse_ld ? p->lse_ld : p->Nq;
  if (p->lse) p->lse[(b * p->Hq + h) * lse_ld + i] = seen ? row_max + logf(row_sum) : -INFINITY;
}
