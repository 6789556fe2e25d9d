/* Tiling, workspace layout and the score block shared by sdpa and weights. */
#include "attn_plan.h"

#include <math.h>
#include <string.h>

#include "flash.h"
#include "generic/dtype_scalar.h"

/* Up to this many query rows per tile, transposing each K block costs more
 * than the score product it feeds (decode). */
enum { KEYS_IN_PLACE_MAX_ROWS = 8 };

/* Decode blocks hold at most this many bytes of K rows (and as many of V), and
 * 16 to 64 keys: one block's K and V then sit in L1 together while the next
 * block streams into L2. Measured on Zen 5 at 2 threads: D = 128 f32, 32 keys
 * 47 GB/s against 38 at 66; D = 256 best at 16, D = 64 at 16-32. Rows of
 * 16-bit and q8_0 types fit 64 keys in the same bytes, which cut their
 * per-block costs by 12% (D = 128, in cache, 1 thread). */
enum { DECODE_BLOCK_BYTES = 16 << 10, DECODE_BLOCK_MIN = 16, DECODE_BLOCK_MAX = 64 };

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
static int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }
enum { BF16_BLOCK_K_FACTOR = 4 }; /* key blocks of bf16 products against the kernels' */
/* 64-byte aligned sub-buffers keep every vector load inside one cache line. */
static size_t align16(int64_t floats) { return (size_t)round_up(floats, 16); }

static int decode_block_k(const attn_problem *p, const struct vecattn_kernels *kern) {
  /* Additive scores read projected f32 rows, never K (whose q8_0 rows are not
   * D elements then: D is the queries' dim, maybe under one block). */
  const int64_t row = p->additive ? (int64_t)p->additive->ld * (int64_t)sizeof(float) : dt_bytes(p->kt, p->D);
  int64_t keys = DECODE_BLOCK_BYTES / row;
  keys = keys < DECODE_BLOCK_MIN ? DECODE_BLOCK_MIN : keys > DECODE_BLOCK_MAX ? DECODE_BLOCK_MAX : keys;
  return keys < kern->block_k ? (int)keys : kern->block_k;
}

/* The bf16 product buffers: Q^T, K, P^T and V pairs. */
static int64_t pairs_of(int64_t n) { return (n + 1) / 2; }
/* Q^T and K pairs serve only the bf16 score product, which q8mm replaces. */
static size_t bf16_floats(const attn_plan *pl) {
  const int64_t rows_pad = pl->rows_pad, kp = pairs_of(pl->block_k);
  return (pl->q8mm ? 0 : align16((int64_t)pl->d2 * rows_pad) + align16((int64_t)pl->block_k * pl->d2)) +
         align16(kp * rows_pad) + align16(kp * pl->dv_pad);
}

/* The quantised queries: int8 rows (q8mm: every lane's, in row pairs), then
 * their scales, one per 32 elements (q8mm: each pair's two, twice). */
static int64_t q8_bytes(const attn_plan *pl) { return (int64_t)(pl->q8mm ? pl->rows_pad : pl->rows_max) * pl->p->D; }
static int64_t q8_scales(const attn_plan *pl) { return q8_bytes(pl) / VECATTN_Q8_0_BLOCK * (pl->q8mm ? 2 : 1); }
static int q8_packs(const attn_plan *pl) { return pl->q8dot && pl->kern->pack_q8; }
static size_t q8_floats(const attn_plan *pl) {
  return align16(ceil_div(q8_bytes(pl), 4)) + align16(q8_scales(pl)) +
         (q8_packs(pl) ? align16(ceil_div(VECATTN_Q8_PACK_BYTES(pl->p->D), 4)) : 0);
}

/* Q^T, or with keys_in_place its rows (no padding rows: the dot products
 * read only the tile's own); none with q8mm, whose quantised rows are all it reads. */
static size_t q_packed_floats(const attn_plan *pl) {
  if (pl->q8mm) return 0;
  return align16((int64_t)(pl->keys_in_place ? pl->rows_max : pl->rows_pad) * pl->p->D);
}

/* The tile's query rows as bf16 (dec_bf16). */
static size_t q_bf16_floats(const attn_plan *pl) { return align16(ceil_div((int64_t)pl->rows_max * pl->p->D, 2)); }

/* A block's K or V row addresses (gather_k, gather_v), in floats. */
static size_t rows_at_floats(const attn_plan *pl) {
  return align16(ceil_div((int64_t)(pl->block_k * sizeof(void *)), sizeof(float)));
}

/* Two rows of max(D, Dv) floats for conversions. */
static size_t row_tmp_floats(const attn_problem *p) { return 2 * align16(p->D > p->Dv ? p->D : p->Dv); }

void attn_plan_init(attn_plan *pl, const attn_problem *p, const struct vecattn_kernels *kern) {
  memset(pl, 0, sizeof *pl);
  pl->p = p;
  pl->kern = kern;
  pl->group = p->Hq / p->Hkv;
  pl->heads_per_tile = pl->group < kern->block_q ? pl->group : kern->block_q;
  pl->head_subtiles = ceil_div(pl->group, pl->heads_per_tile);
  int64_t q_per_tile = kern->block_q / pl->heads_per_tile;
  if (q_per_tile > p->Nq) q_per_tile = p->Nq;
  pl->q_per_tile = q_per_tile;
  pl->q_blocks = ceil_div(p->Nq, q_per_tile);
  pl->tiles = p->B * p->Hkv * pl->head_subtiles * pl->q_blocks;
  pl->rows_max = (int)(pl->heads_per_tile * q_per_tile);
  pl->block_k = kern->block_k;
  pl->dv_pad = (int)round_up(p->Dv, kern->lanes);
  pl->pack_v = p->v && pl->dv_pad != p->Dv;
  pl->keys_in_place = pl->rows_max <= KEYS_IN_PLACE_MAX_ROWS;
  pl->rows_pad = (int)round_up(pl->rows_max, kern->lanes);
  pl->score_ld = pl->rows_pad;
  if (pl->keys_in_place) pl->block_k = decode_block_k(p, kern);
  pl->bf16 = p->reduced_precision && kern->gemm_bf16 && kern->softmax_update_pairs && kern->pack_bf16_row &&
             !pl->keys_in_place && !p->additive && p->v;
  /* bf16 products: key blocks 4x as long. A block's fixed work (rescaling
   * the accumulators in P.V, the softmax's per-row setup, the calls) then
   * spreads over 256 keys (Zen 5, bf16 Q/K/V, Hq 32, Hkv 8, D 128, causal,
   * 2048 tokens, 2 threads: 47.7-49.8 -> 45.8-47.4 ms, 1 thread 95.7-96.2 ->
   * 92.2-93.7; 512 tokens 3.21-3.23 -> 3.09-3.10 ms; 8x no faster). f32
   * products lose 2% at 2x and keep theirs. */
  if (pl->bf16) pl->block_k *= BF16_BLOCK_K_FACTOR;
  pl->q8dot = p->reduced_precision && kern->gemm_nt_st_q8 && pl->keys_in_place && p->kt == VECATTN_Q8_0 &&
              !p->additive && p->v; /* weights are always f32 products, as with bf16 */
  pl->q8mm = p->reduced_precision && kern->gemm_q8mm && !pl->keys_in_place && p->kt == VECATTN_Q8_0 &&
             !p->additive && p->v;
  pl->widen_k = !pl->keys_in_place && p->kt != VECATTN_F32 && !p->additive && !pl->bf16 && !pl->q8mm;
  /* Runs of a page each would reload the accumulators every page: 5% of a
   * prefill at block 16. Decode keeps its per-page calls, which prefetch. */
  pl->gather_v = p->pages && p->v && !pl->keys_in_place && !pl->pack_v && !pl->bf16;
  /* Likewise for f32 keys read in place, whose score gemm was one call per
   * page: register blocks of 6, 6 and 4 rows per page of 16 (a 512-token
   * chunk after 3584 positions, Hq 32, Hkv 8, 1 thread: score 12% slower than
   * over contiguous rows, now level; the call 144.9-146.4 -> 142.4-143.3 ms,
   * contiguous 136.3). */
  pl->gather_k = p->pages && !pl->keys_in_place && p->kt == VECATTN_F32 && !p->additive && !pl->bf16;
  pl->d2 = (int)((p->D + 1) / 2);
  if (pl->keys_in_place && pl->rows_max < kern->lanes) {
    int g = 1;
    while (g < pl->rows_max) g *= 2;
    pl->score_ld = g;
  }
  pl->dec_bf16 = p->reduced_precision && kern->gemm_nt_st_bf16 && pl->keys_in_place && p->kt == VECATTN_BF16 &&
                 p->D % 2 == 0 && pl->score_ld < kern->lanes && !p->additive && p->v;

  const int64_t rows = pl->rows_max, rows_pad = pl->rows_pad;
  if (p->v) {
    /* Levels until the top one receives at most FLASH_FOLD_FANOUT runs. */
    pl->fold_blocks = FLASH_RUN_KEYS > pl->block_k ? FLASH_RUN_KEYS / pl->block_k : 1;
    const int64_t runs = ceil_div(ceil_div(p->Nk, pl->block_k), pl->fold_blocks);
    for (int64_t reach = 1; reach < runs; reach *= FLASH_FOLD_FANOUT) pl->fold_levels++;
    pl->level_floats = align16(rows * pl->dv_pad) + 2 * align16(rows_pad);
  }
  pl->workspace_floats = (size_t)pl->fold_levels * pl->level_floats + q_packed_floats(pl) +
                         (pl->pack_v ? align16((int64_t)pl->block_k * pl->dv_pad) : 0) +
                         (pl->widen_k ? align16((int64_t)pl->block_k * p->D) : 0) +
                         (pl->bf16 ? bf16_floats(pl) : 0) + (pl->q8dot || pl->q8mm ? q8_floats(pl) : 0) +
                         (pl->dec_bf16 ? q_bf16_floats(pl) : 0) +
                         row_tmp_floats(p) +
                         align16(rows_pad * pl->block_k) + (p->v ? align16(rows * pl->dv_pad) : 0) +
                         3 * align16(rows_pad) + (p->pages ? align16(rows_pad) : 0) +
                         (pl->gather_v || (pl->bf16 && p->pages) ? rows_at_floats(pl) : 0) +
                         (pl->gather_k ? rows_at_floats(pl) : 0);
}

attn_workspace attn_workspace_carve(const attn_plan *pl, float *mem) {
  const int64_t rows = pl->rows_max, rows_pad = pl->rows_pad;
  memset(mem, 0, pl->workspace_floats * sizeof(float));
  attn_workspace ws;
  ws.q_packed = pl->q8mm ? NULL : mem, mem += q_packed_floats(pl);
  ws.v_packed = NULL;
  if (pl->pack_v) ws.v_packed = mem, mem += align16((int64_t)pl->block_k * pl->dv_pad);
  ws.k_block = NULL;
  if (pl->widen_k) ws.k_block = mem, mem += align16((int64_t)pl->block_k * pl->p->D);
  ws.q_pairs = ws.k_pairs = ws.p_pairs = ws.v_pairs = NULL;
  if (pl->bf16) {
    const int64_t kp = pairs_of(pl->block_k);
    if (!pl->q8mm) {
      ws.q_pairs = (uint32_t *)mem, mem += align16((int64_t)pl->d2 * rows_pad);
      ws.k_pairs = (uint32_t *)mem, mem += align16((int64_t)pl->block_k * pl->d2);
    }
    ws.p_pairs = (uint32_t *)mem, mem += align16(kp * rows_pad);
    ws.v_pairs = (uint32_t *)mem, mem += align16(kp * pl->dv_pad);
  }
  ws.q_i8 = NULL, ws.q_d = NULL;
  if (pl->q8dot || pl->q8mm) {
    ws.q_i8 = (int8_t *)mem, mem += align16(ceil_div(q8_bytes(pl), 4));
    ws.q_d = mem, mem += align16(q8_scales(pl));
  }
  ws.q_pack = NULL;
  if (q8_packs(pl)) ws.q_pack = mem, mem += align16(ceil_div(VECATTN_Q8_PACK_BYTES(pl->p->D), 4));
  ws.q_bf16 = NULL;
  if (pl->dec_bf16) ws.q_bf16 = (uint16_t *)mem, mem += q_bf16_floats(pl);
  ws.row_tmp = mem, mem += row_tmp_floats(pl->p);
  ws.scores = mem, mem += align16(rows_pad * pl->block_k);
  ws.acc = NULL;
  if (pl->p->v) ws.acc = mem, mem += align16(rows * pl->dv_pad);
  ws.row_max = mem, mem += align16(rows_pad);
  ws.row_sum = mem, mem += align16(rows_pad);
  ws.row_alpha = mem, mem += align16(rows_pad);
  ws.ones = NULL;
  if (pl->p->pages) {
    ws.ones = mem, mem += align16(rows_pad);
    for (int64_t r = 0; r < rows_pad; ++r) ws.ones[r] = 1.0f;
  }
  ws.v_at = ws.k_at = NULL;
  if (pl->gather_v || (pl->bf16 && pl->p->pages)) /* bf16 over pages: K's, then V's */
    ws.v_at = (const void **)mem, mem += rows_at_floats(pl);
  if (pl->gather_k) ws.k_at = (const void **)mem, mem += rows_at_floats(pl);
  ws.levels = pl->fold_levels ? mem : NULL;
  return ws;
}

attn_tile attn_plan_tile(const attn_plan *pl, int64_t index) {
  attn_tile t;
  /* Later query blocks see more causal keys: hand them out first. */
  const int64_t qblk = pl->q_blocks - 1 - index % pl->q_blocks;
  index /= pl->q_blocks;
  const int64_t sub = index % pl->head_subtiles;
  index /= pl->head_subtiles;
  t.kv_head = index % pl->p->Hkv;
  t.b = index / pl->p->Hkv;
  t.head0 = t.kv_head * pl->group + sub * pl->heads_per_tile;
  t.n_heads = pl->group - sub * pl->heads_per_tile;
  if (t.n_heads > pl->heads_per_tile) t.n_heads = pl->heads_per_tile;
  t.q0 = qblk * pl->q_per_tile;
  t.n_q = pl->p->Nq - t.q0 < pl->q_per_tile ? pl->p->Nq - t.q0 : pl->q_per_tile;
  t.rows = (int)(t.n_heads * t.n_q);
  return t;
}

static vecattn_rows rows_at(const void *base, vecattn_dtype type, const int64_t stride[4], int64_t b,
                            int64_t h, int64_t j) {
  const int64_t offset = b * stride[0] + h * stride[1] + j * stride[2];
  return (vecattn_rows){.p = (const unsigned char *)base + dt_bytes(type, offset), .ld = stride[2], .t = type};
}

/* Row j of a paged sequence: its block from the table, then the row within. */
static vecattn_rows paged_rows_at(const attn_pages *pg, const void *pool, vecattn_dtype type, const int64_t stride[4],
                                  int64_t h, int64_t j) {
  const int64_t block = pg->table[attn_page_of(pg, j)], row = attn_page_row(pg, j);
  const int64_t offset = block * pg->block_stride + h * stride[1] + row * stride[2];
  return (vecattn_rows){.p = (const unsigned char *)pool + dt_bytes(type, offset), .ld = stride[2], .t = type,
                        .run = pg->block_size - row};
}

vecattn_rows attn_keys(const attn_plan *pl, const attn_tile *t, int64_t j) {
  const attn_problem *p = pl->p;
  if (p->pages) return paged_rows_at(p->pages, p->k, p->kt, p->ks, t->kv_head, j);
  return rows_at(p->k, p->kt, p->ks, t->b, t->kv_head, j);
}

vecattn_rows attn_values(const attn_plan *pl, const attn_tile *t, int64_t j) {
  const attn_problem *p = pl->p;
  if (!p->v) return (vecattn_rows){.t = VECATTN_F32};
  if (p->pages) return paged_rows_at(p->pages, p->v, p->vt, p->vs, t->kv_head, j);
  return rows_at(p->v, p->vt, p->vs, t->b, t->kv_head, j);
}

int attn_tile_lanes(const attn_plan *pl, const attn_tile *t) {
  if (pl->score_ld < pl->kern->lanes) return pl->score_ld;
  return (int)round_up(t->rows, pl->kern->lanes);
}

/* Row r of the tile's queries as stored. */
static const void *query_row(const attn_plan *pl, const attn_tile *t, int r) {
  const attn_problem *p = pl->p;
  const int64_t h = t->head0 + r / t->n_q, i = t->q0 + r % t->n_q;
  return (const unsigned char *)p->q + dt_bytes(p->qt, t->b * p->qs[0] + h * p->qs[1] + i * p->qs[2]);
}

/* The tile's scaled queries quantised (quantize_q8) and put where gemm_q8mm
 * reads them (q8mm_place). Lanes past the tile's rows are zeros with scale 0,
 * so padding rows score 0. Rows are quantised one at a time in row_tmp. */
static void place_queries_q8(const attn_plan *pl, const attn_tile *t, attn_workspace *ws, int lanes) {
  const attn_problem *p = pl->p;
  const int64_t D = p->D, nb = D / VECATTN_Q8_0_BLOCK;
  float *x = ws->row_tmp;
  int8_t *q = (int8_t *)(ws->row_tmp + row_tmp_floats(p) / 2); /* the second row: D int8, then nb scales */
  float *d = (float *)(q + D);
  for (int r = 0; r < lanes; ++r) {
    if (r < t->rows) {
      pl->kern->scale_to_f32(query_row(pl, t, r), p->qt, x, D, p->scale);
      pl->kern->quantize_q8(x, D, q, d);
    } else {
      memset(q, 0, (size_t)D);
      memset(d, 0, (size_t)nb * sizeof *d);
    }
    pl->kern->q8mm_place(q, d, r, (int)D, ws->q_i8, ws->q_d);
  }
}

void attn_pack_queries(const attn_plan *pl, const attn_tile *t, attn_workspace *ws) {
  const attn_problem *p = pl->p;
  if (p->additive) return; /* its projected queries are read in place */
  const int lanes = attn_tile_lanes(pl, t);
  if (pl->q8mm) { /* the only form its score product reads */
    place_queries_q8(pl, t, ws, lanes);
    return;
  }
  if (pl->bf16) { /* a scaled row rounded to bf16 is its own pairs along D: a 32-bit transpose */
    float *row = ws->row_tmp;
    uint32_t *pairs = (uint32_t *)(ws->row_tmp + align16(p->D)); /* d2 of them fit */
    for (int r = 0; r < t->rows; ++r) {
      pl->kern->scale_to_f32(query_row(pl, t, r), p->qt, row, p->D, p->scale);
      if (p->D % 2) row[p->D] = 0.0f;
      pl->kern->from_f32(row, VECATTN_BF16, pairs, 2 * (int64_t)pl->d2);
      for (int64_t q = 0; q < pl->d2; ++q) ws->q_pairs[q * lanes + r] = pairs[q];
    }
    for (int64_t q = 0; q < pl->d2; ++q) /* padding lanes score 0, never NaN */
      for (int r = t->rows; r < lanes; ++r) ws->q_pairs[q * lanes + r] = 0;
    return;
  }
  if (!pl->keys_in_place) { /* Q^T, padding lanes 0 (they score 0, never NaN); rows by chunks of 64 */
    enum { CHUNK = 64 };
    const void *rows[CHUNK];
    for (int c = 0; c < lanes; c += CHUNK) {
      const int n = t->rows - c < 0 ? 0 : t->rows - c < CHUNK ? t->rows - c : CHUNK;
      for (int r = 0; r < n; ++r) rows[r] = query_row(pl, t, c + r);
      pl->kern->pack_scaled_t(rows, p->qt, n, p->D, p->scale, lanes - c < CHUNK ? lanes - c : CHUNK,
                              ws->q_packed + c, lanes);
    }
  } else {
    for (int r = 0; r < t->rows; ++r)
      pl->kern->scale_to_f32(query_row(pl, t, r), p->qt, ws->q_packed + (int64_t)r * p->D, p->D, p->scale);
  }
  if (pl->q8dot) /* the scaled rows, quantised once for every key of the tile */
    for (int r = 0; r < t->rows; ++r)
      pl->kern->quantize_q8(ws->q_packed + (int64_t)r * p->D, p->D, ws->q_i8 + (int64_t)r * p->D,
                            ws->q_d + (int64_t)r * p->D / VECATTN_Q8_0_BLOCK);
  if (ws->q_pack) /* the ISA's own layout of them */
    pl->kern->pack_q8(ws->q_i8, ws->q_d, t->rows, pl->score_ld, (int)p->D, ws->q_pack);
  if (pl->dec_bf16) /* the scaled rows rounded once: pairs along D, as bf16 K rows lie */
    pl->kern->from_f32(ws->q_packed, VECATTN_BF16, ws->q_bf16, (int64_t)t->rows * p->D);
}

void attn_row_addresses(const attn_plan *pl, const attn_tile *t, int64_t j0, int nk, int values, const void **at) {
  for (int c = 0, len; c < nk; c += len) {
    len = attn_key_run(pl, j0 + c, nk - c);
    const vecattn_rows run = values ? attn_values(pl, t, j0 + c) : attn_keys(pl, t, j0 + c);
    for (int i = 0; i < len; ++i) at[c + i] = attn_row(run, i);
  }
}

void attn_widen_rows(const attn_plan *pl, const attn_tile *t, int64_t j0, int nk, int values, float *dst, int64_t ld) {
  const int64_t n = values ? pl->p->Dv : pl->p->D;
  for (int c = 0, len; c < nk; c += len) {
    len = attn_key_run(pl, j0 + c, nk - c);
    const vecattn_rows run = values ? attn_values(pl, t, j0 + c) : attn_keys(pl, t, j0 + c);
    for (int i = 0; i < len; ++i) {
      float *row = dst + (int64_t)(c + i) * ld;
      pl->kern->to_f32(attn_row(run, i), run.t, row, n);
      memset(row + n, 0, (size_t)(ld - n) * sizeof *row);
    }
  }
}

/* Row c of the block's K (values 0) or V (values 1) rows from j0: from one
 * run of rows, or, across pages, from the addresses gathered into at. */
static inline const void *block_row(vecattn_rows run, const void *const *at, int c) {
  return at ? at[c] : attn_row(run, c);
}

/* Where block_row finds the block's rows: at (pages end among them) or run. */
static const void *const *block_rows(const attn_plan *pl, const attn_tile *t, int64_t j0, int nk, int values,
                                     attn_workspace *ws, vecattn_rows *run) {
  *run = values ? attn_values(pl, t, j0) : attn_keys(pl, t, j0);
  if (attn_block_whole(pl, j0, nk)) return NULL;
  attn_row_addresses(pl, t, j0, nk, values, ws->v_at);
  return ws->v_at;
}

/* K rows j0 .. j0 + nk - 1 as bf16, each padded to d2 pairs: bf16 keys are
 * copied as they are. The gather may cross pages. */
static void pack_key_pairs(const attn_plan *pl, const attn_tile *t, int64_t j0, int nk, attn_workspace *ws) {
  const int64_t D = pl->p->D;
  vecattn_rows run;
  const void *const *at = block_rows(pl, t, j0, nk, 0, ws, &run);
  for (int c = 0; c < nk; ++c) {
    uint16_t *dst = (uint16_t *)(ws->k_pairs + (int64_t)c * pl->d2);
    if (run.t == VECATTN_BF16)
      memcpy(dst, block_row(run, at, c), (size_t)D * sizeof *dst);
    else
      pl->kern->pack_bf16_row(block_row(run, at, c), run.t, (int)D, dst);
    if (D % 2) dst[D] = 0;
  }
}

void attn_pv_bf16(const attn_plan *pl, const attn_tile *t, int64_t j0, int nk, attn_workspace *ws, float *acc,
                  const float *row_scale) {
  const attn_problem *p = pl->p;
  const int kp = (nk + 1) / 2;
  vecattn_rows run; /* the two rows of a pair may lie in different pages */
  const void *const *at = block_rows(pl, t, j0, nk, 1, ws, &run);
  for (int q = 0; q < kp; ++q) {
    const int second = 2 * q + 1 < nk;
    uint32_t *vp = ws->v_pairs + (int64_t)q * pl->dv_pad;
    const void *r0 = block_row(run, at, 2 * q), *r1 = second ? block_row(run, at, 2 * q + 1) : NULL;
    if (run.t == VECATTN_BF16)
      pl->kern->zip_bf16(r0, r1, (int)p->Dv, vp);
    else
      pl->kern->pack_bf16_pairs(r0, r1, run.t, (int)p->Dv, vp);
    if (pl->dv_pad > p->Dv) memset(vp + p->Dv, 0, (size_t)(pl->dv_pad - p->Dv) * sizeof *vp);
  }
  pl->kern->gemm_bf16(ws->p_pairs, 1, pl->rows_pad, t->rows, ws->v_pairs, pl->dv_pad, kp, pl->dv_pad, acc,
                      pl->dv_pad, row_scale);
}

void attn_tile_key_range(const attn_plan *pl, const attn_tile *t, int64_t *lo, int64_t *hi) {
  const attn_problem *p = pl->p;
  const int64_t first = attn_key_lo(p, t->q0);
  *lo = first > 0 ? first : 0;
  *hi = attn_key_hi(p, t->b, t->q0 + t->n_q - 1);
}

static void add_bias_and_alibi(const attn_plan *pl, const attn_tile *t, int64_t j0, int nk,
                               float *scores) {
  const attn_problem *p = pl->p;
  for (int r = 0; r < t->rows; ++r) {
    const int64_t h = t->head0 + r / t->n_q, i = t->q0 + r % t->n_q;
    float *s = scores + r;
    if (p->bias) {
      const int64_t first = t->b * p->bias_stride[0] + h * p->bias_stride[1] + i * p->bias_stride[2] +
                            j0 * p->bias_stride[3];
      const void *bias = (const unsigned char *)p->bias + dt_bytes(p->bias_t, first);
      if (p->bias_t == VECATTN_F32)
        for (int c = 0; c < nk; ++c) s[c * pl->score_ld] += dt_ld_f32((const float *)bias + c * p->bias_stride[3]);
      else
        for (int c = 0; c < nk; ++c) s[c * pl->score_ld] += dt_load1(bias, p->bias_t, c * p->bias_stride[3]);
    }
    if (p->alibi) {
      const float slope = p->alibi[h];
      const int64_t diagonal = i + p->Nk - p->Nq;
      for (int c = 0; c < nk; ++c) s[c * pl->score_ld] += slope * (float)(j0 + c - diagonal);
    }
  }
}

static void apply_masks(const attn_plan *pl, const attn_tile *t, int64_t j0, int nk, float *scores) {
  const attn_problem *p = pl->p;
  const int64_t blk_end = j0 + nk;
  /* Whole block visible to every row of the tile: nothing to do. */
  if (j0 >= attn_key_lo(p, t->q0 + t->n_q - 1) && blk_end <= attn_key_hi(p, t->b, t->q0)) return;
  for (int r = 0; r < t->rows; ++r) {
    const int64_t i = t->q0 + r % t->n_q;
    float *s = scores + r;
    int64_t lo = attn_key_lo(p, i) - j0, hi = attn_key_hi(p, t->b, i) - j0;
    lo = lo < 0 ? 0 : (lo > nk ? nk : lo);
    hi = hi < lo ? lo : (hi > nk ? nk : hi);
    for (int64_t c = 0; c < lo; ++c) s[c * pl->score_ld] = -INFINITY;
    for (int64_t c = hi; c < nk; ++c) s[c * pl->score_ld] = -INFINITY;
  }
}

/* Additive scores, one call per query head of the tile (its rows are
 * contiguous in the projected queries); padding lanes score 0 as in the dot
 * path. */
static void additive_score_block(const attn_plan *pl, const attn_tile *t, int64_t j0, int nk,
                                 float *scores) {
  const attn_problem *p = pl->p;
  const attn_additive *a = p->additive;
  const float *kp = a->kp + ((t->b * p->Hkv + t->kv_head) * p->Nk + j0) * a->ld;
  for (int64_t hh = 0; hh < t->n_heads; ++hh) {
    const float *qp = a->qp + ((t->b * p->Hq + t->head0 + hh) * p->Nq + t->q0) * a->ld;
    pl->kern->additive(qp, a->ld, (int)t->n_q, kp, a->ld, nk, a->v, a->ld,
                       scores + hh * t->n_q, 1, pl->score_ld);
  }
  const int lanes = attn_tile_lanes(pl, t);
  for (int c = 0; c < nk; ++c)
    for (int r = t->rows; r < lanes; ++r) scores[(int64_t)c * pl->score_ld + r] = 0.0f;
}

static void dot_score_block(const attn_plan *pl, const attn_tile *t, int64_t j0, int nk, attn_workspace *ws,
                            const attn_next *next) {
  const attn_problem *p = pl->p;
  if (pl->keys_in_place) { /* decode: V of these keys is fetched while they are scored */
    int64_t lo, hi;
    attn_tile_key_range(pl, t, &lo, &hi);
    if (hi > p->Nk) hi = p->Nk;
    for (int c = 0, n; c < nk; c += n) { /* scores are per key: a call per run costs little */
      n = attn_key_run(pl, j0 + c, nk - c);
      vecattn_rows keys = attn_keys(pl, t, j0 + c);
      /* where the rows it prefetches ahead continue: this block's next page, then `next` */
      const attn_next at = c + n < nk || !next ? (attn_next){t, j0 + c + n, hi} : *next;
      if (p->pages && at.t && at.j < at.hi) {
        const vecattn_rows after = attn_keys(pl, at.t, at.j);
        keys.p2 = after.p, keys.run2 = after.run < at.hi - at.j ? after.run : at.hi - at.j;
      }
      if (pl->dec_bf16)
        pl->kern->gemm_nt_st_bf16((const uint32_t *)ws->q_bf16, p->D / 2, t->rows, pl->score_ld, keys, n, (int)p->D,
                                  ws->scores + (int64_t)c * pl->score_ld, attn_values(pl, t, j0 + c));
      else if (pl->q8dot)
        pl->kern->gemm_nt_st_q8(ws->q_pack ? (const int8_t *)ws->q_pack : ws->q_i8, ws->q_pack ? NULL : ws->q_d,
                                t->rows, pl->score_ld, keys, n, (int)p->D,
                                ws->scores + (int64_t)c * pl->score_ld, attn_values(pl, t, j0 + c));
      else
        pl->kern->gemm_nt_st(ws->q_packed, p->D, t->rows, pl->score_ld, keys, n, (int)p->D,
                             ws->scores + (int64_t)c * pl->score_ld, attn_values(pl, t, j0 + c));
    }
    return;
  }
  const int lanes = attn_tile_lanes(pl, t);
  if (pl->q8mm) { /* q8_0 K in place, one call per run of rows */
    for (int c = 0, n; c < nk; c += n) {
      n = attn_key_run(pl, j0 + c, nk - c);
      pl->kern->gemm_q8mm(ws->q_i8, ws->q_d, lanes, attn_keys(pl, t, j0 + c), n, (int)p->D,
                          ws->scores + (int64_t)c * pl->score_ld, pl->score_ld);
    }
    return;
  }
  const vecattn_rows keys = attn_keys(pl, t, j0);
  if (pl->bf16) {
    /* bf16 rows of an even length and stride, all in one page, are already pairs: read in place. */
    const uint32_t *pairs = keys.p;
    int64_t ld_pairs = keys.ld / 2;
    if (keys.t != VECATTN_BF16 || p->D % 2 || keys.ld % 2 || attn_key_run(pl, j0, nk) < nk) {
      pack_key_pairs(pl, t, j0, nk, ws);
      pairs = ws->k_pairs, ld_pairs = pl->d2;
    }
    pl->kern->gemm_bf16(pairs, ld_pairs, 1, nk, ws->q_pairs, lanes, pl->d2, lanes, ws->scores, pl->score_ld, NULL);
    return;
  }
  if (pl->widen_k) { /* once per block, reused by every query of the tile */
    attn_widen_rows(pl, t, j0, nk, 0, ws->k_block, p->D);
    pl->kern->gemm(ws->k_block, p->D, 1, nk, ws->q_packed, lanes, (int)p->D, lanes, ws->scores, pl->score_ld, NULL);
    return;
  }
  if (pl->gather_k && !attn_block_whole(pl, j0, nk)) { /* f32 K in place over pages: one call */
    attn_row_addresses(pl, t, j0, nk, 0, ws->k_at);
    pl->kern->gemm_at((const float *const *)ws->k_at, nk, ws->q_packed, lanes, (int)p->D, lanes, ws->scores,
                      pl->score_ld);
    return;
  }
  for (int c = 0, n; c < nk; c += n) { /* f32 K in place, one call per run of rows */
    n = attn_key_run(pl, j0 + c, nk - c);
    const vecattn_rows run = attn_keys(pl, t, j0 + c);
    pl->kern->gemm(run.p, run.ld, 1, n, ws->q_packed, lanes, (int)p->D, lanes, ws->scores + (int64_t)c * pl->score_ld,
                   pl->score_ld, NULL);
  }
}

void attn_score_block(const attn_plan *pl, const attn_tile *t, int64_t j0, int nk, attn_workspace *ws,
                      const attn_next *next) {
  const attn_problem *p = pl->p;
  if (p->additive)
    additive_score_block(pl, t, j0, nk, ws->scores);
  else
    dot_score_block(pl, t, j0, nk, ws, next);
  if (p->bias || p->alibi) add_bias_and_alibi(pl, t, j0, nk, ws->scores);
  apply_masks(pl, t, j0, nk, ws->scores);
}
