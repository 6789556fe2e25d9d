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

/* Streams keys [k_begin, k_end) (clipped to what the masks allow) and leaves
 * ws->row_max, ws->row_sum and ws->acc (unnormalised) for the tile's rows. */
void flash_tile(const attn_plan *pl, const attn_tile *t, int64_t k_begin, int64_t k_end,
                attn_workspace *ws);

/* Normalises one row's state into out/lse: acc / sum, lse = max + log(sum);
 * a row that saw no key gets zeros and lse = -inf. */
void flash_write_row(const attn_plan *pl, int64_t b, int64_t h, int64_t i, float row_max,
                     float row_sum, float *acc);

#endif
