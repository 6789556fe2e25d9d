/* The attention driver behind vecattn_sdpa, for entry points that build their
 * own validated problem (vecattn_attend's projected or additive scores). */
#ifndef VECATTN_SDPA_H
#define VECATTN_SDPA_H

#include "kernels.h"
#include "problem.h"
#include "attn_plan.h"

/* Pieces of the key-split driver that vecattn_sdpa_varlen's task list reuses.
 * A partial is one (tile, key chunk) state: row max, row sum, then acc rows. */
size_t partial_floats(const attn_plan *pl);
/* A tile's state (max, sum, then acc rows) as a partial at dst. */
void store_partial(const attn_plan *pl, const attn_tile *t, const attn_workspace *ws, float *dst);
/* Folds a tile's `chunks` consecutive partials into the first, in chunk order. */
void merge_chunks(const attn_plan *pl, const attn_tile *t, float *part, int64_t chunks);
/* Normalises a tile's rows into out (and lse). */
void write_tile(const attn_plan *pl, const attn_tile *t, const float *row_max, const float *row_sum, float *acc);

/* Runs a validated problem with one kernel table: tiles on OpenMP threads,
 * keys split for decode; writes p->out (and p->lse). */
vecattn_status sdpa_run(const attn_problem *p, const struct vecattn_kernels *kern);

/* vecattn_sdpa on a kernel table the caller read once (the MHA layer and
 * vecattn_attend run their projections and the attention on one path). */
vecattn_status sdpa_with(const struct vecattn_kernels *kern, const vecattn_tensor *q, const vecattn_tensor *k,
                         const vecattn_tensor *v, vecattn_tensor *out, const vecattn_sdpa_opts *opts);

#endif
