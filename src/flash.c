#include "flash.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "generic/dtype_scalar.h"

/* acc = row_scale * acc + P.V over keys [j0, j0 + nk), V read in place: one
 * call per run of rows, the later ones continuing the sum (row scale 1). The
 * K rows read next (nx: the tile's next block, or another tile's), if any,
 * are prefetched meanwhile (decode). */
static void pv_in_place(const attn_plan *pl, const attn_tile *t, int64_t j0, int nk, int64_t hi, const attn_next *nx,
                        attn_workspace *ws, float *acc, const float *row_scale) {
  if (pl->gather_v && !attn_block_whole(pl, j0, nk)) {
    attn_row_addresses(pl, t, j0, nk, 1, ws->v_at);
    const vecattn_rows values = {.t = pl->p->vt, .at = ws->v_at};
    pl->kern->gemm_typed(ws->scores, 1, pl->score_ld, t->rows, values, nk, pl->dv_pad, acc, pl->dv_pad, row_scale,
                         (vecattn_rows){.t = VECATTN_F32});
    return;
  }
  for (int c = 0, n; c < nk; c += n) {
    n = attn_key_run(pl, j0 + c, nk - c);
    const vecattn_rows next_keys = pl->keys_in_place && nx->t && nx->j + c < nx->hi
                                       ? attn_keys(pl, nx->t, nx->j + c)
                                       : (vecattn_rows){.t = VECATTN_F32};
    vecattn_rows values = attn_values(pl, t, j0 + c);
    /* where the rows it prefetches ahead continue: this block's next page, then nx */
    const attn_next at = c + n < nk ? (attn_next){t, j0 + c + n, hi} : *nx;
    if (pl->p->pages && pl->keys_in_place && at.t && at.j < at.hi) {
      const vecattn_rows more = attn_values(pl, at.t, at.j);
      values.p2 = more.p, values.run2 = more.run < at.hi - at.j ? more.run : at.hi - at.j;
    }
    pl->kern->gemm_typed(ws->scores + (int64_t)c * pl->score_ld, 1, pl->score_ld, t->rows, values, n, pl->dv_pad, acc,
                         pl->dv_pad, c ? ws->ones : row_scale, next_keys);
  }
}

static void tree_init(const attn_plan *pl, attn_workspace *ws, softmax_tree *tr) {
  tr->run = (softmax_state){ws->acc, ws->row_max, ws->row_sum};
  const size_t acc_floats = ((size_t)pl->rows_max * pl->dv_pad + 15) / 16 * 16;
  const size_t stat_floats = ((size_t)pl->rows_pad + 15) / 16 * 16;
  for (int l = 1; l <= pl->fold_levels; ++l) {
    float *acc = ws->levels + (size_t)(l - 1) * pl->level_floats;
    tr->level[l] = (softmax_state){acc, acc + acc_floats, acc + acc_floats + stat_floats};
    tr->runs_in[l] = 0;
  }
}

static void swap_states(softmax_state *a, softmax_state *b) {
  const softmax_state t = *a;
  *a = *b;
  *b = t;
}

/* Restarts the running statistics (max -inf, sum 0). Its acc is left as it
 * is: a run's first block overwrites it (gemm without row_scale). */
static void reset_stats(const attn_plan *pl, softmax_state s) {
  for (int r = 0; r < pl->rows_pad; ++r) {
    s.max[r] = -INFINITY;
    s.sum[r] = 0.0f;
  }
}

/* dst += src, both rescaled to the larger max (as merge_chunks folds key
 * chunks); the side holding the max keeps scale 1, so one exp per row. */
static void fold_state(const attn_plan *pl, const attn_tile *t, softmax_state dst, softmax_state src) {
  const int64_t dv = pl->dv_pad;
  for (int r = 0; r < t->rows; ++r) {
    const float md = dst.max[r], ms = src.max[r];
    if (ms == -INFINITY) continue; /* src saw no key: dst stays */
    const float a = md >= ms ? 1.0f : md == -INFINITY ? 0.0f : expf(md - ms);
    const float b = md >= ms ? expf(ms - md) : 1.0f;
    dst.max[r] = md >= ms ? md : ms;
    dst.sum[r] = a * dst.sum[r] + b * src.sum[r];
    pl->kern->scale_add(dst.acc + r * dv, src.acc + r * dv, dv, a, b);
  }
}

/* Moves src into level l: it takes src's place when empty, else folds it in. */
static void put_into(const attn_plan *pl, const attn_tile *t, softmax_tree *tr, int l, softmax_state *src) {
  if (tr->runs_in[l] == 0)
    swap_states(&tr->level[l], src);
  else
    fold_state(pl, t, tr->level[l], *src);
}

/* Folds the running state (one whole run) up the tree and restarts it. */
static void push_run(const attn_plan *pl, const attn_tile *t, softmax_tree *tr) {
  put_into(pl, t, tr, 1, &tr->run);
  tr->runs_in[1]++;
  for (int l = 1; l < pl->fold_levels && tr->runs_in[l] == FLASH_FOLD_FANOUT; ++l) {
    put_into(pl, t, tr, l + 1, &tr->level[l]);
    tr->runs_in[l + 1]++;
    tr->runs_in[l] = 0;
  }
  reset_stats(pl, tr->run);
}

/* Gathers every level into one state and leaves it in the workspace's
 * running state, where callers read the result. */
static void collect_levels(const attn_plan *pl, const attn_tile *t, attn_workspace *ws, softmax_tree *tr) {
  softmax_state all = tr->run;
  for (int l = 1; l <= pl->fold_levels; ++l)
    if (tr->runs_in[l]) {
      fold_state(pl, t, tr->level[l], all);
      all = tr->level[l];
    }
  if (all.acc != ws->acc) {
    memcpy(ws->row_max, all.max, (size_t)t->rows * sizeof(float));
    memcpy(ws->row_sum, all.sum, (size_t)t->rows * sizeof(float));
    memcpy(ws->acc, all.acc, (size_t)t->rows * pl->dv_pad * sizeof(float));
  }
}

int flash_begin(const attn_plan *pl, const attn_tile *t, int64_t k_begin, int64_t k_end, attn_workspace *ws,
                flash_cursor *cur) {
  for (int r = 0; r < pl->rows_pad; ++r) {
    ws->row_max[r] = -INFINITY;
    ws->row_sum[r] = 0.0f;
  }
  memset(ws->acc, 0, (size_t)t->rows * pl->dv_pad * sizeof(float));

  int64_t lo, hi;
  attn_tile_key_range(pl, t, &lo, &hi);
  if (lo < k_begin) lo = k_begin;
  if (hi > k_end) hi = k_end;
  cur->j0 = lo, cur->hi = hi, cur->run_blocks = 0, cur->folded = 0;
  if (lo >= hi) return 0;
  attn_pack_queries(pl, t, ws);
  tree_init(pl, ws, &cur->tr);
  return 1;
}

int flash_step(const attn_plan *pl, const attn_tile *t, attn_workspace *ws, flash_cursor *cur, const attn_next *next) {
  const struct vecattn_kernels *kern = pl->kern;
  softmax_tree *tr = &cur->tr;
  const int64_t j0 = cur->j0, hi = cur->hi;
  const int nk = hi - j0 < pl->block_k ? (int)(hi - j0) : pl->block_k;
  /* Reads continue in the tile's next block unless the caller says otherwise. */
  const attn_next own = {j0 + nk < hi ? t : NULL, j0 + nk, hi};
  const attn_next *nx = next ? next : &own;
  if (cur->run_blocks == pl->fold_blocks && pl->fold_levels) { /* a whole run, and keys to come */
    push_run(pl, t, tr);
    cur->run_blocks = 0, cur->folded = 1;
  }
  attn_score_block(pl, t, j0, nk, ws, next);
  if (pl->bf16) /* the weights go straight to the bf16 pairs P.V reads */
    kern->softmax_update_pairs(ws->scores, pl->score_ld, nk, attn_tile_lanes(pl, t), tr->run.max, tr->run.sum,
                               ws->row_alpha, ws->p_pairs, pl->rows_pad);
  else
    kern->softmax_update(ws->scores, pl->score_ld, nk, attn_tile_lanes(pl, t), tr->run.max, tr->run.sum,
                         ws->row_alpha);
  /* A restarted run's first block overwrites acc (alpha would be 0 anyway):
   * what the buffer held before, maybe another tile's rows, is never read. */
  const float *row_scale = cur->folded && cur->run_blocks == 0 ? NULL : ws->row_alpha;
  ++cur->run_blocks;
  cur->j0 = j0 + nk;
  if (pl->bf16) {
    attn_pv_bf16(pl, t, j0, nk, ws, tr->run.acc, row_scale);
  } else if (!pl->pack_v) {
    /* Decode streams K and V from memory: P.V fetches the next K block meanwhile. */
    pv_in_place(pl, t, j0, nk, hi, nx, ws, tr->run.acc, row_scale);
  } else {
    attn_widen_rows(pl, t, j0, nk, 1, ws->v_packed, pl->dv_pad); /* zero-padded to whole vectors */
    const vecattn_rows values = {.p = ws->v_packed, .ld = pl->dv_pad, .t = VECATTN_F32};
    const vecattn_rows next_keys = pl->keys_in_place && nx->t ? attn_keys(pl, nx->t, nx->j)
                                                              : (vecattn_rows){.t = VECATTN_F32};
    kern->gemm_typed(ws->scores, 1, pl->score_ld, t->rows, values, nk, pl->dv_pad, tr->run.acc, pl->dv_pad,
                     row_scale, next_keys);
  }
  return cur->j0 < hi;
}

void flash_end(const attn_plan *pl, const attn_tile *t, attn_workspace *ws, flash_cursor *cur) {
  if (cur->folded) collect_levels(pl, t, ws, &cur->tr);
}

void flash_tile(const attn_plan *pl, const attn_tile *t, int64_t k_begin, int64_t k_end,
                attn_workspace *ws) {
  flash_cursor cur;
  if (!flash_begin(pl, t, k_begin, k_end, ws, &cur)) return;
  while (flash_step(pl, t, ws, &cur, NULL)) {
  }
  flash_end(pl, t, ws, &cur);
}

int64_t flash_group_unit(const attn_plan *pl) {
  const attn_problem *p = pl->p;
  if (!pl->keys_in_place) return 0;
  const int64_t bk = pl->block_k;
  if (p->pages) return (p->pages->block_size + bk - 1) / bk * bk;
  const int interleaved = llabs(p->ks[1]) < llabs(p->ks[2]) && (!p->v || llabs(p->vs[1]) < llabs(p->vs[2]));
  return interleaved ? bk : 0;
}

/* f32: BSHD decode over 8192 keys, groups of 8, 2 threads: chunks of 4 blocks
 * 2.27-2.30 ms, of 16 2.24-2.26, of 64 2.09-2.14 with only 4 tasks. Narrower
 * K at 16 blocks (1024 keys: their blocks hold 64) left vecattn_sdpa's
 * 32-task rule groups of 2 heads, at 8 groups of 4 (Nk 8192, Hq 32, Hkv 8,
 * D 128, 2 threads: q8_0 0.81-0.87 -> 0.70-0.72 ms, f16 0.98-1.03 ->
 * 0.91-0.95; f32 at D 64, the same rows and blocks as f16 at D 128, was
 * 2-4% slower at 8). */
int64_t flash_group_short_chunk_blocks(const attn_plan *pl) { return pl->p->kt == VECATTN_F32 ? 16 : 8; }

/* Each unit's last block reads on where the next tile's unit starts (after
 * the last tile, the first's next). One tile is flash_tile itself. */
void flash_tile_group(const attn_plan *pl, const attn_tile *t, int n, int64_t k_begin, int64_t k_end, int64_t unit,
                      attn_workspace *ws) {
  if (n == 1) {
    flash_tile(pl, &t[0], k_begin, k_end, &ws[0]);
    return;
  }
  flash_cursor cur[FLASH_GROUP_TILES];
  const int64_t bk = pl->block_k;
  int keys = 0;
  for (int g = 0; g < n; ++g) keys = flash_begin(pl, &t[g], k_begin, k_end, &ws[g], &cur[g]); /* the same for all */
  while (keys)
    for (int g = 0; g < n; ++g) {
      const int64_t end = cur[g].j0 + unit;
      const int other = g + 1 == n ? 0 : g + 1;
      do {
        const int unit_ends = cur[g].j0 + bk >= end || cur[g].j0 + bk >= cur[g].hi;
        const flash_cursor *c = &cur[other]; /* its next unit starts where it stands */
        const attn_next next = {c->j0 < c->hi ? &t[other] : NULL, c->j0, c->hi};
        keys = flash_step(pl, &t[g], &ws[g], &cur[g], unit_ends ? &next : NULL);
      } while (keys && cur[g].j0 < end);
    }
  for (int g = 0; g < n; ++g) flash_end(pl, &t[g], &ws[g], &cur[g]);
}

void flash_write_row(const attn_plan *pl, int64_t b, int64_t h, int64_t i, float row_max,
                     float row_sum, float *acc) {
  const attn_problem *p = pl->p;
  void *dst = (unsigned char *)p->out + dt_bytes(p->ot, b * p->os[0] + h * p->os[1] + i * p->os[2]);
  const int seen = row_max != -INFINITY && row_sum > 0.0f;
  if (seen) {
    pl->kern->scale_from_f32(acc, 1.0f / row_sum, p->ot, dst, p->Dv);
  } else {
    memset(dst, 0, (size_t)dt_bytes(p->ot, p->Dv)); /* +0 in every float type */
  }
  const int64_t lse_ld = p->lse_ld ? p->lse_ld : p->Nq;
  if (p->lse) p->lse[(b * p->Hq + h) * lse_ld + i] = seen ? row_max + logf(row_sum) : -INFINITY;
}
