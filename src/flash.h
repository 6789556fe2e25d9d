/* Flash-style attention over one tile and one key range: online softmax state
 * (running max, sum, unnormalised output) for each of the tile's rows. */
#ifndef VECATTN_FLASH_H
#define VECATTN_FLASH_H

#include "attn_plan.h"

/* Long rows are summed as a tree, not one running sum. The running softmax
 * state (max, sum, acc) covers FLASH_RUN_KEYS keys, then is folded into the
 * first outer state and restarted; an outer state that has received
 * FLASH_FOLD_FANOUT runs is folded into the next, and so on. Every sum then
 * adds at most a few hundred terms: with 2^31 equal keys the output stays
 * within 1e-5 (one running sum drifted by 30%, its row sum stalling at 2^30
 * as 64 + 2^30 rounds back to 2^30). Rows of up to FLASH_RUN_KEYS keys (or
 * one block, if larger) never fold: their results are those of one level.
 * Runs of 512 keys keep the error of a sum of equal terms (which grows with
 * their count, about 6.5e-9 a term) near 3e-6; a fold costs a row rescale,
 * about 1% of a 2048-key prefill, nothing measurable in decode. */
enum { FLASH_RUN_KEYS = 512, FLASH_FOLD_FANOUT = 16 };

/* One softmax state: unnormalised acc rows, running max and sum per row. */
typedef struct {
  float *acc, *max, *sum;
} softmax_state;

/* The summation tree above: the running state and the outer levels, as
 * pointers into the workspace that trade places instead of copying. */
typedef struct {
  softmax_state run;       /* what the block loop updates */
  softmax_state level[64]; /* [1 .. fold_levels] */
  int64_t runs_in[64];     /* runs a level holds; 0: empty */
} softmax_tree;

/* A tile's place in its keys, so a task can walk several tiles block by block. */
typedef struct {
  softmax_tree tr;
  int64_t j0, hi; /* the next block starts at j0; keys end at hi */
  int run_blocks, folded;
} flash_cursor;

/* Streams keys [k_begin, k_end) (clipped to what the masks allow) and leaves
 * ws->row_max, ws->row_sum and ws->acc (unnormalised) for the tile's rows. */
void flash_tile(const attn_plan *pl, const attn_tile *t, int64_t k_begin, int64_t k_end,
                attn_workspace *ws);

/* flash_tile in steps, the same operations in the same order: begin (0: no
 * keys, the state is final), one key block per step (0: none left), end.
 * next: where the task's K and V reads continue after the block, for
 * prefetches (NULL: the tile's own next block). */
int flash_begin(const attn_plan *pl, const attn_tile *t, int64_t k_begin, int64_t k_end, attn_workspace *ws,
                flash_cursor *cur);
int flash_step(const attn_plan *pl, const attn_tile *t, attn_workspace *ws, flash_cursor *cur, const attn_next *next);
void flash_end(const attn_plan *pl, const attn_tile *t, attn_workspace *ws, flash_cursor *cur);

/* Decode tiles (keys in place) of one batch row or sequence with the same
 * keys may run as one task, up to FLASH_GROUP_TILES of them (kv heads),
 * taking turns `unit` keys each: where the kv heads' rows lie side by side,
 * memory streams one region faster than many small pieces of it. Read alone
 * on one core of the 2-core VM, random 8 KB pieces (one head's rows of a page
 * of 16 at D 128, f32) came at 16-26 GB/s, 64 KB pieces at 26-33, and the same
 * 64 KB blocks read head by head across pages at 18-22 GB/s, heads in turn at
 * 29-31. flash_group_unit: a paged cache's page (rounded up to whole key
 * blocks: a block holds every head's rows), or a key block where the heads'
 * rows interleave by key (BSHD, packed varlen); 0 where each head's rows are
 * contiguous (BHSD), which grouping only slows. */
enum { FLASH_GROUP_TILES = 8 };
/* Groups are halved (to single tiles at the least) until a call has at
 * least this many tasks, key chunks included: a shape rule, so results stay
 * the same for any thread count (groups change only the chunking). A small
 * batch of medium contexts keeps its tasks for many cores. */
enum { FLASH_GROUP_MIN_TASKS = 32 };
int64_t flash_group_unit(const attn_plan *pl);
/* Key blocks a chunk of grouped decode tiles keeps at least where a call
 * would otherwise have too few tasks for its groups: a task starts with
 * nothing prefetched, and K narrower than f32, whose decode on few cores is
 * bound by arithmetic rather than reads, takes half as many as f32 (flash.c). */
int64_t flash_group_short_chunk_blocks(const attn_plan *pl);
/* flash_tile over tiles t[0 .. n) (n <= FLASH_GROUP_TILES, the same keys
 * after clipping) in turns of `unit` keys (n 1: any unit); each tile's
 * result is what flash_tile leaves, bit for bit, in ws[g]. */
void flash_tile_group(const attn_plan *pl, const attn_tile *t, int n, int64_t k_begin, int64_t k_end, int64_t unit,
                      attn_workspace *ws);

/* Normalises one row's state into out/lse: acc / sum, lse = max + log(sum);
 * a row that saw no key gets zeros and lse = -inf. */
void flash_write_row(const attn_plan *pl, int64_t b, int64_t h, int64_t i, float row_max,
                     float row_sum, float *acc);

#endif
