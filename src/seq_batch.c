/* Many sequences' attention in one parallel region (vecattn_sdpa_varlen and
 * vecattn_sdpa_paged): every tile of every sequence goes into one task list
 * (a sequence's decode tiles grouped: flash_tile_group);
 * tiles with much more work than the average (a long context beside short
 * ones) are cut into key chunks, merged afterwards in chunk order as
 * vecattn_sdpa merges its decode chunks. The cut depends on the shapes only,
 * so any thread count gives the same bits; a tile left whole computes what a
 * dense call on its sequence computes when that call does not split it.
 * Memory: per thread one tile's workspace (a group's: one per tile), plus the task tables and the
 * partial states of cut tiles, which grow with the tiles (queries), never with
 * the keys: about TARGET_TASKS cuts in all. */
#include "seq_batch.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "flash.h"
#include "sdpa.h"
#include "status.h"
#include "threads.h"

/* About this many tasks' worth of work per task: a shape constant, not the
 * thread count, or results would change with the machine. Chunks keep at
 * least MIN_CHUNK_BLOCKS key blocks, as vecattn_sdpa's do. */
enum { TARGET_TASKS = 256, MIN_CHUNK_BLOCKS = 4 };
/* A tile's cost is its keys times (rows + STREAM_ROWS): a decode tile of one
 * or a few rows still streams every K and V row it sees. */
enum { STREAM_ROWS = 8 };
/* A group's key chunks keep at least this many blocks (about 1 MB of each
 * head's K and V): a task starts with nothing prefetched, and a decode step
 * over 32 sequences (64..16384 keys, block 16, f32) took 11.5 ms in chunks of
 * 32 blocks, 11.1 in chunks of 64 and 13.3-13.6 ungrouped (2 threads). Long
 * contexts still split: at 16384 keys into 8 tasks of 2048 keys x 8 heads.
 * Where that leaves fewer than FLASH_GROUP_MIN_TASKS tasks, chunks of
 * flash_group_short_chunk_blocks are tried before smaller groups: one or two
 * sequences of 8192 keys, Hq 32, Hkv 8, D 128, 2 threads, which 64 blocks
 * left ungrouped (paged block 16 / packed varlen): q8_0 0.80 / 1.02-1.17 ->
 * 0.68 / 0.67-0.87 ms and 1.65 / 1.80-2.05 -> 1.36 / 1.31-1.45, f16 1.01 /
 * 0.99-1.06 -> 0.74 / 0.79-0.90. The choice depends on the shapes only, the
 * same for a paged cache and the same rows packed, whose bits stay equal. */
enum { MIN_GROUP_CHUNK_BLOCKS = 64 };

typedef struct {
  int64_t seq, tile, tiles; /* tiles [tile, tile + tiles), walked together */
  int64_t k0, k1;  /* keys [k0, k1) */
  int64_t part;    /* float offset of its first tile's partial state (the others' follow, each
                      tile's chunks together), -1: the tiles are whole, write out */
  int64_t chunks;   /* key chunks of its tiles */
  int64_t work;
  int64_t seq_work; /* the largest work of its sequence's tasks */
  int64_t order;    /* place in the task list as built */
} seq_task;

typedef struct {
  int64_t seq, tile, part, chunks;
} split_tile;

typedef struct {
  const attn_problem *probs;
  attn_plan *plans;
  seq_task *tasks;
  split_tile *splits;
  float *parts;
  int64_t n_tasks, n_splits;
  int64_t group_max; /* tiles a task may walk together */
  int short_chunks;  /* grouped chunks keep flash_group_short_chunk_blocks, not MIN_GROUP_CHUNK_BLOCKS */
} seq_work;

/* Sequences whose longest task is longest first; within a sequence, plan
 * order (tiles of one kv head together, later query blocks first; a cut
 * tile's chunks in key order). Sorting every task by its own work instead
 * interleaved the kv heads of a prefill, whose K and V then no longer stayed
 * in cache between tiles: 512 x 3352 causal, 1 thread, 210 ms against 130 for
 * vecattn_sdpa. The order changes only which thread runs what. */
static int by_sequence_work(const void *a, const void *b) {
  const seq_task *x = a, *y = b;
  if (x->seq_work != y->seq_work) return x->seq_work < y->seq_work ? 1 : -1;
  if (x->seq != y->seq) return x->seq < y->seq ? -1 : 1;
  return x->order < y->order ? -1 : x->order > y->order;
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

/* Tiles a task of this plan may walk together (flash_tile_group): its workspaces per thread. */
static int64_t group_cap(const attn_plan *pl, int64_t group_max) {
  return flash_group_unit(pl) ? (pl->tiles < group_max ? pl->tiles : group_max) : 1;
}

/* How many tiles from tile i on see keys [lo, lo + keys) too and run as one
 * task (decode tiles only). */
static int64_t group_tiles(const attn_plan *pl, int64_t group_max, int64_t i, int64_t lo, int64_t keys) {
  int64_t n = 1;
  for (; n < group_cap(pl, group_max) && i + n < pl->tiles; ++n) {
    const attn_tile t = attn_plan_tile(pl, i + n);
    int64_t lo2;
    if (tile_keys(pl, &t, &lo2) != keys || lo2 != lo) break;
  }
  return n;
}

/* The task list: every group of tiles of every sequence with queries, long ones cut. */
static vecattn_status build_tasks(seq_work *w, int64_t n_seqs) {
  /* Pass 0 sums the work (the chunk target), pass 1 counts chunks, pass 2
   * fills the arrays. */
  int64_t total = 0, target = 0, n_tasks = 0, n_splits = 0, part_floats = 0;
  for (int pass = 0; pass < 3; ++pass) {
    if (pass == 1) target = total / TARGET_TASKS + 1;
    if (pass == 2) {
      w->tasks = malloc((size_t)(n_tasks ? n_tasks : 1) * sizeof *w->tasks);
      w->splits = malloc((size_t)(n_splits ? n_splits : 1) * sizeof *w->splits);
      w->parts = malloc((size_t)(part_floats ? part_floats : 1) * sizeof *w->parts);
      if (!w->tasks || !w->splits || !w->parts) return status_nomem("the sequence task tables");
      n_tasks = n_splits = part_floats = 0;
    }
    const int fill = pass == 2;
    for (int64_t s = 0; s < n_seqs; ++s) {
      const attn_plan *pl = &w->plans[s];
      if (pl->p->Nq == 0) continue;
      for (int64_t i = 0, n_group; i < pl->tiles; i += n_group) {
        const attn_tile t = attn_plan_tile(pl, i);
        int64_t lo;
        const int64_t keys = tile_keys(pl, &t, &lo);
        n_group = group_tiles(pl, w->group_max, i, lo, keys);
        int64_t work = 0, rows = 0; /* the group's */
        for (int64_t g = 0; g < n_group; ++g) {
          const attn_tile tg = attn_plan_tile(pl, i + g);
          work += tile_work(pl, &tg, keys), rows += tg.rows + STREAM_ROWS;
        }
        if (pass == 0) {
          total += work;
          continue;
        }
        const int64_t blocks = (keys + pl->block_k - 1) / pl->block_k;
        int64_t chunks = work > target ? (work + target - 1) / target : 1;
        const int64_t min_blocks = n_group == 1            ? MIN_CHUNK_BLOCKS
                                   : w->short_chunks ? flash_group_short_chunk_blocks(pl)
                                                     : MIN_GROUP_CHUNK_BLOCKS;
        if (chunks > blocks / min_blocks) chunks = blocks / min_blocks;
        if (chunks <= 1) {
          if (fill) w->tasks[n_tasks] = (seq_task){s, i, n_group, 0, pl->p->Nk, -1, 1, work, 0, 0};
          ++n_tasks;
          continue;
        }
        const int64_t chunk_len = (blocks + chunks - 1) / chunks * pl->block_k;
        chunks = (keys + chunk_len - 1) / chunk_len;
        const int64_t stride = (int64_t)partial_floats(pl);
        if (fill) {
          for (int64_t g = 0; g < n_group; ++g)
            w->splits[n_splits + g] = (split_tile){s, i + g, part_floats + g * chunks * stride, chunks};
          for (int64_t c = 0; c < chunks; ++c) {
            const int64_t k0 = lo + c * chunk_len, k1 = k0 + chunk_len < lo + keys ? k0 + chunk_len : lo + keys;
            w->tasks[n_tasks + c] =
                (seq_task){s, i, n_group, k0, k1, part_floats + c * stride, chunks, (k1 - k0) * rows, 0, 0};
          }
        }
        n_tasks += chunks, n_splits += n_group, part_floats += n_group * chunks * stride;
      }
    }
  }
  w->n_tasks = n_tasks, w->n_splits = n_splits;
  for (int64_t i = 0, first = 0; i < n_tasks; ++i) {
    w->tasks[i].order = i;
    if (i + 1 < n_tasks && w->tasks[i + 1].seq == w->tasks[i].seq) continue;
    int64_t most = 0; /* tasks [first, i] are one sequence's */
    for (int64_t j = first; j <= i; ++j) most = w->tasks[j].work > most ? w->tasks[j].work : most;
    for (int64_t j = first; j <= i; ++j) w->tasks[j].seq_work = most;
    first = i + 1;
  }
  qsort(w->tasks, (size_t)n_tasks, sizeof *w->tasks, by_sequence_work);
  return VECATTN_OK;
}

typedef struct {
  const seq_work *w;
  float *ws_mem;
  size_t ws_floats;
  vecattn_tasks tasks, splits;
} tasks_region_ctx;

/* A task's tiles, then each one's rows written out or its partial state stored. */
static void run_group(const attn_plan *pl, const seq_task *task, attn_workspace *ws, float *parts) {
  attn_tile t[FLASH_GROUP_TILES];
  for (int g = 0; g < task->tiles; ++g) t[g] = attn_plan_tile(pl, task->tile + g);
  flash_tile_group(pl, t, (int)task->tiles, task->k0, task->k1, flash_group_unit(pl), ws);
  const size_t stride = partial_floats(pl);
  for (int g = 0; g < task->tiles; ++g)
    if (task->part < 0)
      write_tile(pl, &t[g], ws[g].row_max, ws[g].row_sum, ws[g].acc);
    else
      store_partial(pl, &t[g], &ws[g], parts + task->part + (size_t)(g * task->chunks) * stride);
}

static void tasks_region(void *ctx) {
  tasks_region_ctx *c = ctx;
  const seq_work *w = c->w;
  float *mem = c->ws_mem + (size_t)omp_get_thread_num() * c->ws_floats;
  attn_workspace ws[FLASH_GROUP_TILES];
  int64_t carved = -1; /* the sequence whose plan ws is carved for */
  for (int64_t i; (i = vecattn_task_take(&c->tasks)) < w->n_tasks;) {
    const seq_task *task = &w->tasks[i];
    const attn_plan *pl = &w->plans[task->seq];
    if (task->seq != carved) {
      for (int64_t g = 0; g < group_cap(pl, w->group_max); ++g)
        ws[g] = attn_workspace_carve(pl, mem + g * pl->workspace_floats);
      carved = task->seq;
    }
    run_group(pl, task, ws, w->parts);
  }
#pragma omp barrier
  for (int64_t i; (i = vecattn_task_take(&c->splits)) < w->n_splits;) {
    const split_tile *sp = &w->splits[i];
    const attn_plan *pl = &w->plans[sp->seq];
    const attn_tile t = attn_plan_tile(pl, sp->tile);
    float *part = w->parts + sp->part;
    merge_chunks(pl, &t, part, sp->chunks);
    write_tile(pl, &t, part, part + pl->rows_max, part + 2 * pl->rows_max);
  }
}

static void run_tasks(const seq_work *w, float *ws_mem, size_t ws_floats, int threads) {
  tasks_region_ctx ctx = {w, ws_mem, ws_floats, {0}, {0}};
  vecattn_run_region(threads, tasks_region, &ctx);
}

vecattn_status seq_batch_run(const attn_problem *probs, int64_t n_seqs, int num_threads,
                             const struct vecattn_kernels *kern) {
  seq_work w = {0};
  w.probs = probs;
  w.plans = malloc((size_t)(n_seqs ? n_seqs : 1) * sizeof *w.plans);
  float *ws_mem = NULL;
  void *ws_base = NULL;
  vecattn_status st = VECATTN_OK;
  if (!w.plans) {
    st = status_nomem("the per-sequence plans");
    goto done;
  }
  for (int64_t s = 0; s < n_seqs; ++s) {
    if (probs[s].Nq == 0) {
      memset(&w.plans[s], 0, sizeof w.plans[s]); /* no queries: no tiles */
      w.plans[s].p = &probs[s];
      continue;
    }
    attn_plan_init(&w.plans[s], &probs[s], kern);
  }
  /* Groups of 8 with long chunks, then short chunks, then groups of 4 ... */
  for (w.group_max = FLASH_GROUP_TILES;;) {
    if ((st = build_tasks(&w, n_seqs)) != VECATTN_OK) goto done;
    if (w.n_tasks >= FLASH_GROUP_MIN_TASKS || w.group_max == 1) break;
    free(w.tasks), free(w.splits), free(w.parts);
    w.tasks = NULL, w.splits = NULL, w.parts = NULL;
    if (!w.short_chunks) w.short_chunks = 1;
    else w.short_chunks = 0, w.group_max /= 2;
  }
  if (w.n_tasks == 0) goto done;
  size_t ws_floats = 0;
  for (int64_t s = 0; s < n_seqs; ++s) {
    const size_t floats = w.plans[s].workspace_floats * (size_t)group_cap(&w.plans[s], w.group_max);
    if (floats > ws_floats) ws_floats = floats;
  }
  double flops = 0, bytes = 0;
  for (int64_t s = 0; s < n_seqs; ++s) flops += attn_problem_flops(&probs[s]), bytes += attn_problem_bytes(&probs[s]);
  const int threads = vecattn_thread_count(num_threads, w.n_tasks, flops, bytes);
  ws_mem = scratch_alloc((size_t)threads * ws_floats * sizeof(float), &ws_base);
  if (!ws_mem) {
    st = status_nomem("the per-thread attention workspace");
    goto done;
  }
  run_tasks(&w, ws_mem, ws_floats, threads);
done:
  free(ws_base), free(w.tasks), free(w.splits), free(w.parts), free(w.plans);
  return st;
}

void seq_problem(attn_problem *p, const attn_problem *whole, int64_t q0, int64_t nq, int64_t nk, int64_t window) {
  *p = *whole;
  p->Nq = nq, p->Nk = nk;
  p->q = (const unsigned char *)whole->q + dt_bytes(whole->qt, q0 * whole->qs[2]);
  p->out = (unsigned char *)whole->out + dt_bytes(whole->ot, q0 * whole->os[2]);
  if (whole->lse) p->lse = whole->lse + q0, p->lse_ld = whole->Nq;
  p->window = window < nk ? window : nk;
}
