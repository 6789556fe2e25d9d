/* vecattn_sdpa: validate, cut into tiles, run the tiles on OpenMP threads.
 * When there are too few tiles to feed the machine (decode: one query per head),
 * keys are also split into chunks whose partial softmax states are merged in
 * chunk order afterwards. The split depends only on the shapes, so the result
 * is the same for any thread count. Decode tiles of a batch row whose K and V
 * interleave the heads by key run as one task (flash_tile_group). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "dispatch.h"
#include "flash.h"
#include "threads.h"
#include "sdpa.h"
#include "status.h"
#include "vecattn.h"

/* Fewer tasks than this and the keys are split. A shape constant, not the
 * thread count, or results would change with the machine. Chunks of grouped
 * decode tiles keep flash_group_short_chunk_blocks. */
enum { SPLIT_BELOW_TASKS = 64, MIN_CHUNK_BLOCKS = 4 };

/* The tiles a task walks together (flash_tile_group): a batch row's decode
 * tiles, its kv heads in groups of up to FLASH_GROUP_TILES, where
 * flash_group_unit allows; else one tile a task. */
typedef struct {
  int64_t size;    /* tiles per group (1: no grouping) */
  int64_t per_row; /* groups per batch row */
  int64_t count;   /* groups in all */
  int64_t unit;    /* keys per turn */
} tile_groups;

/* Groups of up to group_max tiles. */
static tile_groups plan_groups(const attn_plan *pl, int64_t group_max) {
  const int64_t hkv = pl->p->Hkv, unit = flash_group_unit(pl);
  if (!unit || hkv < 2 || group_max < 2 || pl->head_subtiles != 1 || pl->q_blocks != 1)
    return (tile_groups){1, 1, pl->tiles, 0};
  const int64_t size = hkv < group_max ? hkv : group_max, per_row = (hkv + size - 1) / size;
  return (tile_groups){size, per_row, pl->p->B * per_row, unit};
}

/* Group i's tiles, from tile *first on, into t; returns how many. */
static int group_tiles(const attn_plan *pl, const tile_groups *tg, int64_t i, attn_tile *t, int64_t *first) {
  *first = tg->size == 1 ? i : i / tg->per_row * pl->p->Hkv + i % tg->per_row * tg->size;
  const int64_t left = tg->size == 1 ? 1 : pl->p->Hkv - i % tg->per_row * tg->size;
  const int n = (int)(left < tg->size ? left : tg->size);
  for (int g = 0; g < n; ++g) t[g] = attn_plan_tile(pl, *first + g);
  return n;
}

typedef struct {
  int64_t chunks;    /* key chunks per tile (1 = no split) */
  int64_t chunk_len; /* keys per chunk, whole key blocks */
} key_split;

static key_split plan_key_split(const attn_plan *pl, const tile_groups *tg) {
  key_split ks = {1, pl->p->Nk};
  if (tg->count >= SPLIT_BELOW_TASKS) return ks;
  const int64_t want = (SPLIT_BELOW_TASKS + tg->count - 1) / tg->count;
  const int64_t blocks = (pl->p->Nk + pl->block_k - 1) / pl->block_k;
  int64_t per_chunk = (blocks + want - 1) / want;
  const int64_t least = tg->size == 1 ? MIN_CHUNK_BLOCKS : flash_group_short_chunk_blocks(pl);
  if (per_chunk < least) per_chunk = least;
  ks.chunk_len = per_chunk * pl->block_k;
  ks.chunks = (pl->p->Nk + ks.chunk_len - 1) / ks.chunk_len;
  return ks;
}

void write_tile(const attn_plan *pl, const attn_tile *t, const float *row_max,
                       const float *row_sum, float *acc) {
  for (int r = 0; r < t->rows; ++r)
    flash_write_row(pl, t->b, t->head0 + r / t->n_q, t->q0 + r % t->n_q, row_max[r], row_sum[r],
                    acc + (int64_t)r * pl->dv_pad);
}

/* What a call's parallel region reads: parts only when keys are split. */
typedef struct {
  const attn_plan *pl;
  tile_groups tg;
  float *ws_mem; /* per thread tg.size workspaces */
  key_split ks;
  float *parts;
  vecattn_tasks tasks;
} region_ctx;

/* This thread's workspaces, one per tile of a group. */
static void carve_group(const region_ctx *c, attn_workspace *ws) {
  const attn_plan *pl = c->pl;
  float *mem = c->ws_mem + (size_t)omp_get_thread_num() * c->tg.size * pl->workspace_floats;
  for (int64_t g = 0; g < c->tg.size; ++g) ws[g] = attn_workspace_carve(pl, mem + g * pl->workspace_floats);
}

/* Group i's tiles over keys [k0, k1) into ws. */
static int run_group(const region_ctx *c, int64_t i, int64_t k0, int64_t k1, attn_tile *t, attn_workspace *ws,
                     int64_t *first) {
  const int n = group_tiles(c->pl, &c->tg, i, t, first);
  flash_tile_group(c->pl, t, n, k0, k1, c->tg.unit, ws);
  return n;
}

static void unsplit_region(void *ctx) {
  region_ctx *c = ctx;
  attn_workspace ws[FLASH_GROUP_TILES];
  attn_tile t[FLASH_GROUP_TILES];
  carve_group(c, ws);
  for (int64_t i; (i = vecattn_task_take(&c->tasks)) < c->tg.count;) {
    int64_t first;
    const int n = run_group(c, i, 0, c->pl->p->Nk, t, ws, &first);
    for (int g = 0; g < n; ++g) write_tile(c->pl, &t[g], ws[g].row_max, ws[g].row_sum, ws[g].acc);
  }
}

/* Partial state of one (tile, chunk): max and sum per row, then acc rows. */
size_t partial_floats(const attn_plan *pl) {
  return (size_t)pl->rows_max * (2 + (size_t)pl->dv_pad);
}

void store_partial(const attn_plan *pl, const attn_tile *t, const attn_workspace *ws, float *dst) {
  memcpy(dst, ws->row_max, (size_t)t->rows * sizeof(float));
  memcpy(dst + pl->rows_max, ws->row_sum, (size_t)t->rows * sizeof(float));
  memcpy(dst + 2 * pl->rows_max, ws->acc, (size_t)t->rows * pl->dv_pad * sizeof(float));
}

/* Folds chunk partials of one tile into the first, in chunk order. */
void merge_chunks(const attn_plan *pl, const attn_tile *t, float *part, int64_t chunks) {
  const size_t stride = partial_floats(pl);
  const int rows = pl->rows_max;
  float *max0 = part, *sum0 = part + rows, *acc0 = part + 2 * rows;
  for (int r = 0; r < t->rows; ++r) {
    float m = -INFINITY;
    for (int64_t c = 0; c < chunks; ++c) m = fmaxf(m, part[c * stride + r]);
    if (m == -INFINITY) {
      max0[r] = m;
      continue;
    }
    float sum = 0.0f;
    float *acc = acc0 + (int64_t)r * pl->dv_pad;
    for (int64_t c = 0; c < chunks; ++c) {
      const float *pc = part + c * stride;
      const float w = pc[r] == -INFINITY ? 0.0f : expf(pc[r] - m);
      const float *acc_c = pc + 2 * rows + (int64_t)r * pl->dv_pad;
      sum += w * pc[rows + r];
      for (int64_t e = 0; e < pl->p->Dv; ++e) acc[e] = c == 0 ? w * acc_c[e] : acc[e] + w * acc_c[e];
    }
    max0[r] = m;
    sum0[r] = sum;
  }
}

/* Task `task` (group, key chunk) of a split call: each tile's partial state
 * into parts. A batch row's tasks run chunk by chunk, its groups side by
 * side: groups of BSHD decode read neighbouring parts of the same rows, so
 * they read them at about the same time (Nk 8192, Hq 32, Hkv 8, D 128,
 * groups of 4, 2 threads: f32 1.94-1.98 -> 1.89-1.91 ms, q8_0 0.82-0.84 ->
 * 0.77-0.80; f16 unchanged). Ungrouped tiles keep tile by tile. */
static void split_task(const region_ctx *c, int64_t task, attn_tile *t, attn_workspace *ws) {
  const attn_plan *pl = c->pl;
  const size_t stride = partial_floats(pl);
  const int64_t chunks = c->ks.chunks, per_row = c->tg.per_row, row_tasks = chunks * per_row;
  const int64_t in_row = task % row_tasks, chunk = in_row / per_row, k0 = chunk * c->ks.chunk_len;
  int64_t first;
  const int n = run_group(c, task / row_tasks * per_row + in_row % per_row, k0, k0 + c->ks.chunk_len, t, ws, &first);
  for (int g = 0; g < n; ++g) store_partial(pl, &t[g], &ws[g], c->parts + (size_t)((first + g) * chunks + chunk) * stride);
}

static void split_merge(const attn_plan *pl, key_split ks, float *parts, int64_t tile) {
  const attn_tile t = attn_plan_tile(pl, tile);
  float *part = parts + (size_t)tile * ks.chunks * partial_floats(pl);
  merge_chunks(pl, &t, part, ks.chunks);
  write_tile(pl, &t, part, part + pl->rows_max, part + 2 * pl->rows_max);
}

static void split_region(void *ctx) {
  region_ctx *c = ctx;
  const attn_plan *pl = c->pl;
  attn_workspace ws[FLASH_GROUP_TILES];
  attn_tile t[FLASH_GROUP_TILES];
  carve_group(c, ws);
  const int64_t tasks = c->tg.count * c->ks.chunks;
  for (int64_t task; (task = vecattn_task_take(&c->tasks)) < tasks;) split_task(c, task, t, ws);
#pragma omp barrier
#pragma omp for schedule(static)
  for (int64_t tile = 0; tile < pl->tiles; ++tile) split_merge(pl, c->ks, c->parts, tile);
}

vecattn_status sdpa_run(const attn_problem *p, const struct vecattn_kernels *kern) {
  attn_plan pl;
  attn_plan_init(&pl, p, kern);
  tile_groups tg;
  key_split ks;
  for (int64_t group_max = FLASH_GROUP_TILES;; group_max /= 2) {
    tg = plan_groups(&pl, group_max), ks = plan_key_split(&pl, &tg);
    if (tg.count * ks.chunks >= FLASH_GROUP_MIN_TASKS || tg.size == 1) break;
  }
  const int threads = vecattn_thread_count(p->num_threads, tg.count * ks.chunks, attn_problem_flops(p),
                                           attn_problem_bytes(p));
  vecattn_status s = VECATTN_OK;

  void *ws_base;
  float *ws_mem = scratch_alloc((size_t)threads * tg.size * pl.workspace_floats * sizeof(float), &ws_base);
  if (!ws_mem) return status_nomem("the per-thread attention workspace");
  region_ctx ctx = {&pl, tg, ws_mem, ks, NULL, {0}};
  if (ks.chunks > 1) {
    ctx.parts = malloc((size_t)pl.tiles * ks.chunks * partial_floats(&pl) * sizeof(float));
    if (!ctx.parts) s = status_nomem("the key-split partial results");
    else vecattn_run_region(threads, split_region, &ctx);
    free(ctx.parts);
  } else {
    vecattn_run_region(threads, unsplit_region, &ctx);
  }
  free(ws_base);
  return s;
}

vecattn_status sdpa_with(const struct vecattn_kernels *kern, const vecattn_tensor *q, const vecattn_tensor *k,
                         const vecattn_tensor *v, vecattn_tensor *out, const vecattn_sdpa_opts *opts) {
  if (!v) return status_fail(VECATTN_EINVAL, "v is NULL");
  attn_problem p;
  vecattn_status s = attn_problem_init(&p, q, k, v, out, opts);
  if (s != VECATTN_OK) return s;
  return sdpa_run(&p, kern);
}

vecattn_status vecattn_sdpa(const vecattn_tensor *q, const vecattn_tensor *k, const vecattn_tensor *v,
                            vecattn_tensor *out, const vecattn_sdpa_opts *opts) {
  return sdpa_with(dispatch_active(), q, k, v, out, opts);
}
