/* Row projections for vecattn_attend: every query (and, for additive scores,
 * every key) is multiplied by a weight matrix once, up front, into a
 * contiguous buffer the attention driver then reads like any other tensor. */
#ifndef VECATTN_ATTEND_PROJECT_H
#define VECATTN_ATTEND_PROJECT_H

#include <stddef.h>
#include <stdint.h>

#include "kernels.h"

/* Zeroed, 64-byte aligned floats; NULL if n floats overflow size_t or do not fit. */
float *proj_alloc(size_t n);

/* The weights as the gemm kernel's B operand: [in][ld], column o < out holding
 * W[i][o] (w is [in x out] row-major) or, when transposed, W[o][i] (w is
 * [out x in]); zeros in columns out..ld. ld is a multiple of the kernel's lanes. */
float *proj_weights(const float *w, int64_t in, int64_t out, int transposed, int64_t ld);

/* y[b][h][s][:ld] = x[b][h][s][:] * wt for every row of x (shape, stride as
 * in vecattn_tensor), rows spread over OpenMP threads (num_threads as in the options). Each
 * row's result does not depend on how rows are grouped, so neither does the
 * output on the thread count. */
void proj_rows(const struct vecattn_kernels *kern, const float *x, const int64_t shape[4],
               const int64_t stride[4], const float *wt, int64_t ld, float *y, int num_threads);

#endif
