/* Float64 reference of vecattn_matmul and the multi-head attention layer,
 * written from the contract text: every projection, rotation, softmax and sum
 * in double, for the MHA and matmul suites to compare against. */
#ifndef VECATTN_TEST_REF_MHA_H
#define VECATTN_TEST_REF_MHA_H

#include <stdint.h>

#include "vecattn.h"

/* y[i][j] = sum_p x[i][p] * w[j][p] (+ bias[j]); y is [m][n]. */
void ref_matmul(const float *x, int64_t m, int64_t k, const float *w, int64_t n, const float *bias, double *y);

/* The layer over whole sequences: queries from x [batch][seq_q][d_model], keys
 * and values from mem [batch][seq_kv][d_model] (mem == x for self-attention).
 * Rotary embeddings (when w->rope and `rotate`) use positions 0.., the mask is
 * causal bottom-right aligned when `causal`. y: [batch][seq_q][d_model]. */
void ref_mha(const vecattn_mha_weights *w, const float *x, int64_t batch, int64_t seq_q, const float *mem,
             int64_t seq_kv, int causal, int rotate, double *y);

#endif
