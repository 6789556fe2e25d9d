/* The seam between the portable driver and the per-ISA code: every ISA
 * directory fills one of these tables; the driver never sees intrinsics. */
#ifndef VECATTN_KERNELS_H
#define VECATTN_KERNELS_H

#include <stdint.h>
#include "vecattn.h"

struct vecattn_kernels {
  vecattn_isa isa;
  const char *name;
  int lanes;   /* floats per vector: column counts given to gemm are padded to this */
  int block_q; /* query rows per tile, a multiple of the gemm row block */
  int block_k; /* keys per tile, a multiple of lanes */

  /* C[r][:n_pad] = (row_scale ? row_scale[r] * C[r][:] : 0) + sum_p A[r][p] * B[p][:n_pad]
   * for r < m, p < k. n_pad is a multiple of lanes; B and C rows hold n_pad floats. */
  void (*gemm)(const float *a, int64_t lda, int m, const float *b, int64_t ldb, int k,
               int n_pad, float *c, int64_t ldc, const float *row_scale);

  /* C[r][j] = sum_p A[r][p] * B[j][p] for r < m, j < n, p < k (any k). */
  void (*gemm_nt)(const float *a, int64_t lda, int m, const float *b, int64_t ldb, int n, int k,
                  float *c, int64_t ldc);

  /* Online-softmax step over a score block S[rows][cols]:
   * m' = max(m[r], max S[r][:]); S[r][:] = exp(S[r][:] - m'); alpha[r] = exp(m[r] - m');
   * l[r] = alpha[r] * l[r] + sum S[r][:]; m[r] = m'. A row still at m' = -inf gets
   * S = 0 and alpha = 1 (nothing seen yet, nothing to rescale). */
  void (*softmax_update)(float *s, int64_t lds, int rows, int cols, float *m, float *l,
                         float *alpha);

  /* x[:n] = exp(x[:n] - shift); returns the sum of the new x. */
  float (*exp_shift_sum)(float *x, int64_t n, float shift);

  /* x[:n] *= a */
  void (*scale)(float *x, int64_t n, float a);
};

extern const struct vecattn_kernels vecattn_kernels_scalar;
extern const struct vecattn_kernels vecattn_kernels_sse2;
extern const struct vecattn_kernels vecattn_kernels_avx2;
extern const struct vecattn_kernels vecattn_kernels_avx512;
extern const struct vecattn_kernels vecattn_kernels_neon;

#endif
