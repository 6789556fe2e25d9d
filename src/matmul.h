/* Projections: Y = X * W^T (+ bias) with W stored [out x in], on the active
 * ISA's gemm register block. Several weight matrices that read the same X
 * (fused Q/K/V) run as one product, so X is packed once for all of them. */
#ifndef VECATTN_MATMUL_H
#define VECATTN_MATMUL_H

#include <stdint.h>

#include "kernels.h"

typedef struct {
  const float *w;    /* [n x k] row-major */
  const float *bias; /* [n] or NULL */
  int64_t n;
  float *y;          /* y[i * ldy + j] for i < m, j < n */
  int64_t ldy;
} matmul_out;

/* x[i * ldx + p] for i < m, p < k. Arguments are trusted (checked by callers);
 * returns VECATTN_OK or VECATTN_ENOMEM (then nothing was written).
 * Bitwise identical results for any num_threads (0 = OpenMP default). */
vecattn_status matmul_run(const struct vecattn_kernels *kern, const float *x, int64_t ldx, int64_t m,
                          int64_t k, const matmul_out *outs, int n_outs, int num_threads);

#endif
