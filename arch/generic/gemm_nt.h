/* C = A * B^T with both operands row-major along k: dot products of A rows with
 * B rows, vectorised along k and reduced at the end. Serves scores against K in
 * its own layout when a tile has too few query rows to pay for packing K^T
 * (decode), where the kernel is bound by streaming K from memory. */
#ifndef VECATTN_GENERIC_GEMM_NT_H
#define VECATTN_GENERIC_GEMM_NT_H

#include <stdint.h>

#include "gemm.h" /* VF_PREFETCH_ROWS */

#ifndef VF_NT_MR
#define VF_NT_MR 4
#endif
#ifndef VF_NT_NC
#define VF_NT_NC 2
#endif

static inline __attribute__((always_inline)) void gemm_nt_block(
    const float *a, int64_t lda, int rows, const float *b, int64_t ldb, int k, float *c,
    int64_t c_row, int64_t c_col, const int nc) {
  vf acc[VF_NT_MR][VF_NT_NC];
  const float *arow[VF_NT_MR];
  for (int r = 0; r < VF_NT_MR; ++r) {
    arow[r] = a + (r < rows ? r : 0) * lda;
    for (int j = 0; j < nc; ++j) acc[r][j] = vf_zero();
  }
  int p = 0;
  for (; p + VF_LANES <= k; p += VF_LANES) {
    vf bv[VF_NT_NC];
    for (int j = 0; j < nc; ++j) bv[j] = vf_load(b + j * ldb + p);
    for (int j = 0; j < nc; ++j) __builtin_prefetch(b + (j + VF_PREFETCH_ROWS) * ldb + p, 0, 3);
    for (int r = 0; r < VF_NT_MR; ++r) {
      const vf av = vf_load(arow[r] + p);
      for (int j = 0; j < nc; ++j) acc[r][j] = vf_fma(av, bv[j], acc[r][j]);
    }
  }
  if (p < k) { /* zero-filled tail lanes add nothing */
    const int tail = k - p;
    vf bv[VF_NT_NC];
    for (int j = 0; j < nc; ++j) bv[j] = vf_load_n(b + j * ldb + p, tail);
    for (int r = 0; r < VF_NT_MR; ++r) {
      const vf av = vf_load_n(arow[r] + p, tail);
      for (int j = 0; j < nc; ++j) acc[r][j] = vf_fma(av, bv[j], acc[r][j]);
    }
  }
  for (int r = 0; r < VF_NT_MR; ++r) {
    if (r >= rows) break;
    for (int j = 0; j < nc; ++j) c[r * c_row + j * c_col] = vf_hsum(acc[r][j]);
  }
}

static void gemm_nt(const float *a, int64_t lda, int m, const float *b, int64_t ldb, int n, int k,
                    float *c, int64_t c_row, int64_t c_col) {
  for (int r0 = 0; r0 < m; r0 += VF_NT_MR) {
    const int rows = m - r0 < VF_NT_MR ? m - r0 : VF_NT_MR;
    const float *ar = a + r0 * lda;
    float *cr = c + r0 * c_row;
    int j = 0;
    for (; j + VF_NT_NC <= n; j += VF_NT_NC)
      gemm_nt_block(ar, lda, rows, b + j * ldb, ldb, k, cr + j * c_col, c_row, c_col, VF_NT_NC);
    for (; j < n; ++j) gemm_nt_block(ar, lda, rows, b + j * ldb, ldb, k, cr + j * c_col, c_row, c_col, 1);
  }
}

#endif
