/* Float64 reference of vecattn_attend (all four score functions, every mask),
 * written from the contract text alone; test_attend compares against it. */
#ifndef VECATTN_TEST_REF_ATTEND_H
#define VECATTN_TEST_REF_ATTEND_H

#include "vecattn.h"

/* q [B,Hq,Nq,Dq], k [B,Hkv,Nk,Dk], v [B,Hkv,Nk,Dv] read through their strides.
 * opts may be NULL; opts->lse and num_threads are ignored.
 *   out: contiguous [B,Hq,Nq,Dv] (required)
 *   lse: contiguous [B,Hq,Nq] (may be NULL): -INFINITY for fully masked rows,
 *        whose out rows are zero. */
void ref_attend(const vecattn_score_fn *fn, const vecattn_tensor *q, const vecattn_tensor *k,
                const vecattn_tensor *v, const vecattn_sdpa_opts *opts, double *out, double *lse);

#endif
