/* The task list behind vecattn_sdpa_varlen and vecattn_sdpa_paged: many
 * sequences, each a validated problem of batch 1, run in one parallel region. */
#ifndef VECATTN_SEQ_BATCH_H
#define VECATTN_SEQ_BATCH_H

#include <stdint.h>

#include "kernels.h"
#include "problem.h"

/* Computes probs[0 .. n_seqs) (sequences without queries write nothing) on
 * num_threads threads (0: the OpenMP default), bitwise identical for any
 * count. ENOMEM, nothing else. */
vecattn_status seq_batch_run(const attn_problem *probs, int64_t n_seqs, int num_threads,
                             const struct vecattn_kernels *kern);

/* Sequence rows of the validated whole (batch 1): queries [q0, q0 + nq) with
 * their out rows and lse columns, nk keys (the caller points K and V at them),
 * the window clamped as validation clamps a dense call's. */
void seq_problem(attn_problem *p, const attn_problem *whole, int64_t q0, int64_t nq, int64_t nk, int64_t window);

/* vecattn_sdpa_varlen and vecattn_sdpa_paged on a kernel table the caller read
 * once (the varlen layer runs its projections and attention on one path). */
vecattn_status sdpa_varlen_with(const struct vecattn_kernels *kern, const vecattn_tensor *q, const vecattn_tensor *k,
                                const vecattn_tensor *v, vecattn_tensor *out, const int32_t *cu_seqlens_q,
                                const int32_t *cu_seqlens_k, int64_t n_seqs, const vecattn_sdpa_opts *opts);
vecattn_status sdpa_paged_with(const struct vecattn_kernels *kern, const vecattn_tensor *q, vecattn_tensor *out,
                               const vecattn_paged_cache *c, const int32_t *seq_ids, const int32_t *cu_seqlens_q,
                               int64_t n_seqs, const vecattn_sdpa_opts *opts);

#endif
