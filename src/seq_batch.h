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

#endif
