/* How a validated problem is cut into tiles, and the per-thread workspace a
 * tile needs. A tile is a block of query rows sharing one (batch, kv head):
 * up to `heads_per_tile` query heads of one GQA group x up to `q_per_tile`
 * queries, so grouped heads share each packed K/V block. The cut depends only
 * on the shapes and the ISA, never on the thread count: that is what keeps
 * results bitwise identical for any num_threads. */
#ifndef VECATTN_ATTN_PLAN_H
#define VECATTN_ATTN_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "generic/dtype_scalar.h"
#include "kernels.h"
#include "problem.h"

typedef struct {
  const attn_problem *p;
  const struct vecattn_kernels *kern;
  int64_t group;          /* Hq / Hkv */
  int64_t heads_per_tile; /* <= group */
  int64_t head_subtiles;  /* ceil(group / heads_per_tile) */
  int64_t q_per_tile;
  int64_t q_blocks; /* ceil(Nq / q_per_tile) */
  int64_t tiles;
  int rows_max;  /* heads_per_tile * q_per_tile */
  int rows_pad;  /* rows_max rounded up to whole vectors: length of the row statistics */
  int score_ld;  /* row stride of S^T: rows_pad, or for keys_in_place tiles narrower than a
                    vector the power of two >= rows_max, so one vector holds several keys */
  int block_k;   /* keys per step */
  int dv_pad;    /* Dv rounded up to whole vectors */
  int pack_v;    /* V rows copied when Dv is not whole vectors */
  int gather_v;  /* prefill over pages: P.V reads a block's V rows through ws->v_at, one call
                    per block instead of one per page */
  int gather_k;  /* prefill over pages with f32 K read in place: the score gemm reads a block's
                    K rows through ws->k_at, likewise */
  int keys_in_place; /* few rows per tile: dot against K rows instead of packing K^T */
  int widen_k;   /* K not f32 and not keys_in_place: each K block is widened once into
                    ws->k_block, where the score gemm broadcasts from it */
  int bf16;      /* bf16 products (reduced_precision on an ISA with gemm_bf16, tiles that
                    pack K^T): Q, K, P and V are rounded to bf16 pairs along the sums */
  int q8dot;     /* int8 products (reduced_precision on an ISA with gemm_nt_st_q8, K q8_0,
                    keys_in_place): the tile's queries quantised into q_i8 / q_d */
  int dec_bf16;  /* bf16 score products in decode (reduced_precision on an ISA with
                    gemm_nt_st_bf16, K bf16, keys_in_place, D even, score_ld < lanes): the
                    tile's scaled query rows rounded to bf16 into q_bf16 */
  int q8mm;      /* int8 matrix products for the scores (reduced_precision on an ISA with
                    gemm_q8mm, K q8_0, not keys_in_place): the tile's queries quantised as
                    row pairs into q_i8 / q_d, no q_packed; P.V as without it (bf16 or f32) */
  int d2;        /* head dim in bf16 pairs, ceil(D / 2) */
  int fold_blocks; /* key blocks per run of the running softmax state (flash.c) */
  int fold_levels; /* outer softmax states above it: enough for Nk keys, 0 for short rows */
  size_t level_floats; /* one outer state: acc [rows_max][dv_pad], max and sum [rows_pad] */
  size_t workspace_floats;
} attn_plan;

typedef struct {
  int64_t b, kv_head, head0; /* first query head of the tile */
  int64_t n_heads;
  int64_t q0, n_q; /* queries [q0, q0 + n_q) */
  int rows;        /* n_heads * n_q; row r is head head0 + r / n_q, query q0 + r % n_q */
} attn_tile;

typedef struct {
  float *q_packed;  /* pre-scaled: Q^T [D][rows_pad], or Q [rows_max][D] when keys_in_place;
                       NULL when q8mm */
  float *v_packed;  /* [block_k][dv_pad] when pack_v */
  float *k_block;   /* [block_k][D] when widen_k */
  uint32_t *q_pairs, *k_pairs, *p_pairs, *v_pairs; /* when bf16: Q^T [d2][rows_pad], K [block_k][d2]
                                                      (these two not with q8mm), P^T [block_k / 2][rows_pad],
                                                      V [block_k / 2][dv_pad] */
  int8_t *q_i8;     /* when q8dot: Q [rows_max][D] as int8; when q8mm: [rows_pad / 2] row pairs
                       of 2 * D int8 as kernels.h's gemm_q8mm reads them */
  float *q_d;       /* their scales: [rows_max][D / 32], or when q8mm [rows_pad / 2][D / 32][4] */
  void *q_pack;     /* when q8dot on an ISA with pack_q8: both as its gemm_nt_st_q8 reads them */
  uint16_t *q_bf16; /* when dec_bf16: Q [rows_max][D] as bf16 (pairs along D) */
  float *row_tmp;   /* two rows of max(D, Dv) floats for conversions */
  float *scores;    /* S^T [block_k][score_ld] */
  float *acc;       /* [rows_max][dv_pad] */
  float *row_max, *row_sum, *row_alpha; /* [rows_pad] each */
  float *levels;    /* fold_levels outer states of level_floats each (sdpa only) */
  float *ones;      /* [rows_pad] of 1.0f when the keys are paged: the row scale that
                       continues a P.V sum in a second call, bit for bit */
  const void **v_at; /* when gather_v: [block_k] addresses of the block's V rows (with bf16
                        products over pages: its K rows', then its V rows') */
  const void **k_at; /* when gather_k: [block_k] addresses of the block's K rows */
} attn_workspace;

void attn_plan_init(attn_plan *pl, const attn_problem *p, const struct vecattn_kernels *kern);
attn_tile attn_plan_tile(const attn_plan *pl, int64_t index);
/* Carves a workspace out of `mem` (workspace_floats floats, 64-byte aligned)
 * and clears it, so padding lanes never hold garbage. */
attn_workspace attn_workspace_carve(const attn_plan *pl, float *mem);

/* Rows j, j + 1, ... of the tile's K and V (p NULL when the problem has no V),
 * valid for attn_key_run(pl, j, n) rows. */
vecattn_rows attn_keys(const attn_plan *pl, const attn_tile *t, int64_t j);
vecattn_rows attn_values(const attn_plan *pl, const attn_tile *t, int64_t j);
/* How many of keys j .. j + n - 1 lie in one run of rows from j: n, or fewer
 * when a page of a paged cache ends first. Kernels that read K or V in place
 * are called once per run, so no call straddles a page; scores are per key and
 * P.V sums continue across calls in key order, so the bits are those of one
 * call over contiguous rows. */
static inline int attn_key_run(const attn_plan *pl, int64_t j, int n) {
  const attn_pages *pg = pl->p->pages;
  if (!pg) return n;
  const int64_t left = pg->block_size - attn_page_row(pg, j);
  return left < n ? (int)left : n;
}

/* Whether keys j0 .. j0 + nk - 1 lie in one run of rows (no page ends among them). */
static inline int attn_block_whole(const attn_plan *pl, int64_t j0, int nk) { return attn_key_run(pl, j0, nk) == nk; }
/* Addresses of K rows (values 0) or V rows (values 1) j0 .. j0 + nk - 1, across pages. */
void attn_row_addresses(const attn_plan *pl, const attn_tile *t, int64_t j0, int nk, int values, const void **at);

/* K rows (values 0) or V rows (values 1) j0 .. j0 + nk - 1 widened to f32 at
 * dst + c * ld, zero-padded up to ld floats; the gather may cross pages. */
void attn_widen_rows(const attn_plan *pl, const attn_tile *t, int64_t j0, int nk, int values, float *dst, int64_t ld);

/* Packs the tile's queries, scaled, into ws->q_packed (and the forms the
 * products read: q_pairs, q_i8 / q_d). */
void attn_pack_queries(const attn_plan *pl, const attn_tile *t, attn_workspace *ws);
/* Key range [lo, hi) that any row of the tile may see. */
void attn_tile_key_range(const attn_plan *pl, const attn_tile *t, int64_t *lo, int64_t *hi);
/* The tile's rows rounded up to whole vectors: the lanes kernels process. */
int attn_tile_lanes(const attn_plan *pl, const attn_tile *t);
/* Row j of a typed rows view. */
static inline const void *attn_row(vecattn_rows rows, int64_t j) {
  return (const unsigned char *)rows.p + dt_bytes(rows.t, j * rows.ld);
}

/* P.V with bf16 products: the block's weights, already bf16 pairs in
 * ws->p_pairs (softmax_update_pairs), times its V rows rounded to pairs;
 * accumulates into acc rows (rescaled by row_scale; NULL: acc is
 * overwritten), the running state of flash.c's summation tree. */
void attn_pv_bf16(const attn_plan *pl, const attn_tile *t, int64_t j0, int nk, attn_workspace *ws, float *acc,
                  const float *row_scale);

/* Where the K and V rows a task reads next continue after a block: tile t's
 * keys from j on (up to hi); t NULL: nowhere. Only prefetches follow it. */
typedef struct {
  const attn_tile *t;
  int64_t j, hi;
} attn_next;

/* Scores of the tile's rows against keys [j0, j0 + nk) into ws->scores as
 * S^T[c][r] (row stride score_ld): scaled q.k (or the additive score) + bias
 * + ALiBi, masked -inf. next: where the keys continue after the block (NULL:
 * the tile's own next keys). */
void attn_score_block(const attn_plan *pl, const attn_tile *t, int64_t j0, int nk, attn_workspace *ws,
                      const attn_next *next);

#endif
