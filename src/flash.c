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

/* One softmax state: unnormalised acc rows, running max and sum per row. */
typedef struct {
  float *acc, *max, *sum;
} softmax_state;

static softmax_state running_state(attn_workspace *ws) {
  return (softmax_state){ws->acc, ws->row_max, ws->row_sum};
}

/* Outer level `level` (1-based): acc, then max and sum, each 16-float aligned
 * as attn_plan_init sized them. */
static softmax_state outer_state(const attn_plan *pl, attn_workspace *ws, int level) {
  float *acc = ws->levels + (size_t)(level - 1) * pl->level_floats;
  float *max = acc + ((size_t)pl->rows_max * pl->dv_pad + 15) / 16 * 16;
  return (softmax_state){acc, max, max + ((size_t)pl->rows_pad + 15) / 16 * 16};
}

/* Restarts the running state: max -inf, sum 0, acc 0. */
static void reset_state(const attn_plan *pl, const attn_tile *t, attn_workspace *ws) {
  for (int r = 0; r < pl->rows_pad; ++r) {
    ws->row_max[r] = -INFINITY;
    ws->row_sum[r] = 0.0f;
  }
  memset(ws->acc, 0, (size_t)t->rows * pl->dv_pad * sizeof(float));
}

/* dst = src when dst is empty, else both rescaled to the larger max and
 * added (as merge_chunks folds key chunks). */
static void fold_state(const attn_plan *pl, const attn_tile *t, softmax_state dst, softmax_state src, int empty) {
  const int64_t dv = pl->dv_pad;
  if (empty) {
    memcpy(dst.max, src.max, (size_t)t->rows * sizeof(float));
    memcpy(dst.sum, src.sum, (size_t)t->rows * sizeof(float));
    memcpy(dst.acc, src.acc, (size_t)t->rows * dv * sizeof(float));
    return;
  }
  for (int r = 0; r < t->rows; ++r) {
    const float m = fmaxf(dst.max[r], src.max[r]);
    if (m == -INFINITY) continue; /* neither has seen a key */
    const float a = dst.max[r] == -INFINITY ? 0.0f : expf(dst.max[r] - m);
    const float b = src.max[r] == -INFINITY ? 0.0f : expf(src.max[r] - m);
    float *d = dst.acc + r * dv;
    const float *s = src.acc + r * dv;
    dst.max[r] = m;
    dst.sum[r] = a * dst.sum[r] + b * src.sum[r];
    for (int64_t e = 0; e < dv; ++e) d[e] = a * d[e] + b * s[e];
  }
}

/* Folds the running state (one whole run) up the tree. */
static void push_run(const attn_plan *pl, const attn_tile *t, attn_workspace *ws, int64_t *runs_in) {
  fold_state(pl, t, outer_state(pl, ws, 1), running_state(ws), runs_in[1]++ == 0);
  for (int l = 1; l < pl->fold_levels && runs_in[l] == FLASH_FOLD_FANOUT; ++l) {
    fold_state(pl, t, outer_state(pl, ws, l + 1), outer_state(pl, ws, l), runs_in[l + 1]++ == 0);
    runs_in[l] = 0;
  }
  reset_state(pl, t, ws);
}

/* Gathers every level into the running state, where callers read it. */
static void collect_levels(const attn_plan *pl, const attn_tile *t, attn_workspace *ws, const int64_t *runs_in) {
  softmax_state acc = running_state(ws);
  for (int l = 1; l <= pl->fold_levels; ++l)
    if (runs_in[l]) {
      fold_state(pl, t, outer_state(pl, ws, l), acc, 0);
      acc = outer_state(pl, ws, l);
    }
  if (acc.acc != ws->acc) fold_state(pl, t, running_state(ws), acc, 1);
}

void flash_tile(const attn_plan *pl, const attn_tile *t, int64_t k_begin, int64_t k_end,
                attn_workspace *ws) {
  const struct vecattn_kernels *kern = pl->kern;
  reset_state(pl, t, ws);

  int64_t lo, hi;
  attn_tile_key_range(pl, t, &lo, &hi);
  if (lo < k_begin) lo = k_begin;
  if (hi > k_end) hi = k_end;
  if (lo >= hi) return;

  attn_pack_queries(pl, t, ws);
  int64_t runs_in[64] = {0}; /* [level]: runs folded into it since it was last emptied */
  int run_blocks = 0, folded = 0;
  for (int64_t j0 = lo; j0 < hi; j0 += pl->block_k) {
    const int nk = hi - j0 < pl->block_k ? (int)(hi - j0) : pl->block_k;
    if (run_blocks == pl->fold_blocks && pl->fold_levels) { /* a whole run, and keys to come */
      push_run(pl, t, ws, runs_in);
      run_blocks = 0, folded = 1;
    }
    ++run_blocks;
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
  if (folded) collect_levels(pl, t, ws, runs_in);
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
