/* C = A * B^T with both operands row-major along k: dot products of A rows with
 * B rows, vectorised along k and reduced at the end. Serves the matmul's few-row
 * path (GEMV over weight rows) and, as gemm_nt_st, scores against K in its own
 * layout when a tile has too few query rows to pay for packing K^T (decode):
 * both are bound by streaming B from memory. */
#ifndef VECATTN_GENERIC_GEMM_NT_H
#define VECATTN_GENERIC_GEMM_NT_H

#include <stdint.h>

#include "gemm.h" /* VF_PREFETCH_ROWS */
#include "lanes.h"

#ifndef VF_NT_MR
#define VF_NT_MR 4
#endif
#ifndef VF_NT_NC
#define VF_NT_NC 2
#endif

/* Rows at least this long (GEMV over weight rows) are prefetched this many
 * floats ahead along the row itself; shorter ones (K rows) VF_PREFETCH_ROWS
 * rows ahead. */
#ifndef VF_NT_ROW_AHEAD
#define VF_NT_ROW_AHEAD 512
#endif

/* One mr x nc block of dot products (both compile-time after inlining); rows
 * past `rows` alias row 0 and are not stored. */
static inline __attribute__((always_inline)) void gemm_nt_block(
    const float *a, int64_t lda, int rows, const float *b, int64_t ldb, int k, float *c,
    int64_t c_row, int64_t c_col, int64_t pf_ahead, const int mr, const int nc) {
  vf acc[VF_NT_MR][VF_NT_NC];
  const float *arow[VF_NT_MR];
  for (int r = 0; r < mr; ++r) {
    arow[r] = a + (r < rows ? r : 0) * lda;
    for (int j = 0; j < nc; ++j) acc[r][j] = vf_zero();
  }
  int p = 0;
  for (; p + VF_LANES <= k; p += VF_LANES) {
    vf bv[VF_NT_NC];
    for (int j = 0; j < nc; ++j) bv[j] = vf_load(b + j * ldb + p);
    for (int j = 0; j < nc; ++j) __builtin_prefetch(b + j * ldb + p + pf_ahead, 0, VF_PREFETCH_LOCALITY);
    for (int r = 0; r < mr; ++r) {
      const vf av = vf_load(arow[r] + p);
      for (int j = 0; j < nc; ++j) acc[r][j] = vf_fma(av, bv[j], acc[r][j]);
    }
  }
  if (p < k) { /* zero-filled tail lanes add nothing */
    const int tail = k - p;
    vf bv[VF_NT_NC];
    for (int j = 0; j < nc; ++j) bv[j] = vf_load_n(b + j * ldb + p, tail);
    for (int r = 0; r < mr; ++r) {
      const vf av = vf_load_n(arow[r] + p, tail);
      for (int j = 0; j < nc; ++j) acc[r][j] = vf_fma(av, bv[j], acc[r][j]);
    }
  }
  for (int r = 0; r < mr; ++r) {
    if (r >= rows) break;
    for (int j = 0; j < nc; ++j) c[r * c_row + j * c_col] = vf_hsum(acc[r][j]);
  }
}

static inline __attribute__((always_inline)) void gemm_nt_rows(
    const float *a, int64_t lda, int rows, const float *b, int64_t ldb, int n, int k, float *c,
    int64_t c_row, int64_t c_col, int64_t pf_ahead, const int mr) {
  int j = 0;
  for (; j + VF_NT_NC <= n; j += VF_NT_NC)
    gemm_nt_block(a, lda, rows, b + j * ldb, ldb, k, c + j * c_col, c_row, c_col, pf_ahead, mr, VF_NT_NC);
  for (; j < n; ++j)
    gemm_nt_block(a, lda, rows, b + j * ldb, ldb, k, c + j * c_col, c_row, c_col, pf_ahead, mr, 1);
}

static void gemm_nt(const float *a, int64_t lda, int m, const float *b, int64_t ldb, int n, int k,
                    float *c, int64_t c_row, int64_t c_col) {
  const int64_t pf_ahead = k >= 2 * VF_NT_ROW_AHEAD ? VF_NT_ROW_AHEAD : VF_PREFETCH_ROWS * ldb;
  for (int r0 = 0; r0 < m; r0 += VF_NT_MR) {
    const int rows = m - r0 < VF_NT_MR ? m - r0 : VF_NT_MR;
    const float *ar = a + r0 * lda;
    float *cr = c + r0 * c_row;
    /* A short last block (GEMV: one row) computes only its own rows. */
    if (rows == VF_NT_MR)
      gemm_nt_rows(ar, lda, rows, b, ldb, n, k, cr, c_row, c_col, pf_ahead, VF_NT_MR);
    else if (rows > 2)
      gemm_nt_rows(ar, lda, rows, b, ldb, n, k, cr, c_row, c_col, pf_ahead, VF_NT_MR > 3 ? 3 : VF_NT_MR);
    else if (rows == 2)
      gemm_nt_rows(ar, lda, rows, b, ldb, n, k, cr, c_row, c_col, pf_ahead, VF_NT_MR > 2 ? 2 : VF_NT_MR);
    else
      gemm_nt_rows(ar, lda, rows, b, ldb, n, k, cr, c_row, c_col, pf_ahead, 1);
  }
}

#if VF_LANES > 1
/* One vector of S^T for a group of rs rows (rs < VF_LANES): each accumulator
 * holds one (key, row) pair, so VF_LANES / rs keys x rs rows fold into one
 * vector laid out as S^T[key][row] by a single vf_hsum_lanes. */
static inline __attribute__((always_inline)) void gemm_nt_st_block(
    const float *a, int64_t lda, int m, const float *b, int64_t ldb, int n, int k, float *st,
    const float *pf, int64_t ldpf, const int rs) {
  const int kg = VF_LANES / rs;
  vf acc[VF_LANES];
  const float *arow[VF_LANES], *brow[VF_LANES];
  for (int r = 0; r < rs; ++r) arow[r] = a + (r < m ? r : 0) * lda;
  for (int c = 0; c < kg; ++c) brow[c] = b + (c < n ? c : n - 1) * ldb;
  for (int i = 0; i < VF_LANES; ++i) acc[i] = vf_zero();
  int p = 0;
  for (; p + VF_LANES <= k; p += VF_LANES) {
    vf av[VF_LANES];
    for (int r = 0; r < rs; ++r) av[r] = vf_load(arow[r] + p);
    for (int c = 0; c < kg; ++c) {
      const vf bv = vf_load(brow[c] + p);
      __builtin_prefetch(brow[c] + VF_PREFETCH_ROWS * ldb + p, 0, VF_PREFETCH_LOCALITY);
      if (pf) __builtin_prefetch(pf + c * ldpf + p, 0, VF_PREFETCH_L2);
      for (int r = 0; r < rs; ++r) acc[c * rs + r] = vf_fma(av[r], bv, acc[c * rs + r]);
    }
  }
  if (p < k) { /* zero-filled tail lanes add nothing */
    const int tail = k - p;
    vf av[VF_LANES];
    for (int r = 0; r < rs; ++r) av[r] = vf_load_n(arow[r] + p, tail);
    for (int c = 0; c < kg; ++c) {
      const vf bv = vf_load_n(brow[c] + p, tail);
      for (int r = 0; r < rs; ++r) acc[c * rs + r] = vf_fma(av[r], bv, acc[c * rs + r]);
    }
  }
  vf_store(st, vf_hsum_lanes(acc));
}
#endif

/* S^T[j * rs + r] = sum_p A[r][p] * B[j][p] for j < n, r < rs; rows m <= r < rs
 * repeat row 0. When rs < VF_LANES the last vector may run past key n - 1, up
 * to a whole vector of S^T: callers leave room for it. */
static void gemm_nt_st(const float *a, int64_t lda, int m, int rs, const float *b, int64_t ldb,
                       int n, int k, float *st, const float *pf, int64_t ldpf) {
#if VF_LANES > 1
  if (rs < VF_LANES) {
    for (int j = 0; j < n; j += VF_LANES / rs) {
      const float *bj = b + j * ldb, *pj = pf ? pf + j * ldpf : NULL;
      float *sj = st + (int64_t)j * rs;
      switch (rs) {
      case 1: gemm_nt_st_block(a, lda, m, bj, ldb, n - j, k, sj, pj, ldpf, 1); break;
      case 2: gemm_nt_st_block(a, lda, m, bj, ldb, n - j, k, sj, pj, ldpf, 2); break;
#if VF_LANES > 4
      case 4: gemm_nt_st_block(a, lda, m, bj, ldb, n - j, k, sj, pj, ldpf, 4); break;
#endif
#if VF_LANES > 8
      case 8: gemm_nt_st_block(a, lda, m, bj, ldb, n - j, k, sj, pj, ldpf, 8); break;
#endif
      }
    }
    return;
  }
#endif
  (void)pf, (void)ldpf; /* one row per vector: scores come from gemm_nt, V is fetched by P.V */
  gemm_nt(a, lda, m, b, ldb, n, k, st, 1, rs);
}

#endif
