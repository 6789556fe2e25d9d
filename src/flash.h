/* Flash-style attention over one tile and one key range: online softmax state
 * (running max, sum, unnormalised output) for each of the tile's rows. */
#ifndef VECATTN_FLASH_H
#define VECATTN_FLASH_H

#include "attn_plan.h"

/* Streams keys [k_begin, k_end) (clipped to what the masks allow) and leaves
 * ws->row_max, ws->row_sum and ws->acc (unnormalised) for the tile's rows. */
void flash_tile(const attn_plan *pl, const attn_tile *t, int64_t k_begin, int64_t k_end,
                attn_workspace *ws);

/* Normalises one row's state into out/lse: acc / sum, lse = max + log(sum);
 * a row that saw no key gets zeros and lse = -inf. */
void flash_write_row(const attn_plan *pl, int64_t b, int64_t h, int64_t i, float row_max,
                     float row_sum, float *acc);

#endif
