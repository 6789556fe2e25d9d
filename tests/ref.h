/* Float64 reference of the vecattn_sdpa / vecattn_attention_weights contract.
 * Straightforward and slow (O(Nq*Nk*D) per head), written from the contract
 * text only: every test compares the library against this. */
#ifndef VECATTN_TEST_REF_H
#define VECATTN_TEST_REF_H

#include <stdint.h>

#include "vecattn.h"

/* Reads q [B,Hq,Nq,D], k [B,Hkv,Nk,D], v [B,Hkv,Nk,Dv] through their strides
 * (any strides, stride 0 included). opts may be NULL; opts->lse and
 * opts->num_threads are ignored.
 *   out: contiguous [B,Hq,Nq,Dv] (required)
 *   lse: contiguous [B,Hq,Nq] (may be NULL); -INFINITY for fully masked rows,
 *        whose out rows are zero. */
void ref_sdpa(const vecattn_tensor *q, const vecattn_tensor *k, const vecattn_tensor *v,
              const vecattn_sdpa_opts *opts, double *out, double *lse);

/* Softmax probabilities: w contiguous [B,Hq,Nq,Nk]. masked (may be NULL),
 * contiguous [B,Hq,Nq,Nk]: 1 where the key is masked for that query (by
 * causal/window/kv_len or a -INFINITY bias). Fully masked rows are all 0. */
void ref_weights(const vecattn_tensor *q, const vecattn_tensor *k, const vecattn_sdpa_opts *opts, double *w,
                 unsigned char *masked);

/* Element [b][h][s][d] of a tensor of any element type, decoded exactly
 * (f16 and bf16 from their bit layouts, q8_0 as scale * int8). */
double ref_at(const vecattn_tensor *t, int64_t b, int64_t h, int64_t s, int64_t d);
double ref_f16(uint16_t h);
double ref_bf16(uint16_t b);

/* The scale the contract uses: opts->scale, or 1/sqrt(D) when it is 0. */
double ref_scale(const vecattn_sdpa_opts *opts, int64_t head_dim);

#endif
