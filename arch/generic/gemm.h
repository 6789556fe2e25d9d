/* Register-blocked f32 GEMM over one ISA's vector layer (vec.h included first).
 * A is read by broadcast through two strides, B and C by full vectors (row-major,
 * n padded to whole vectors): the same body serves S^T = K * Q^T (A = K as it
 * lies in memory) and O = P * V (A = the transposed scores). */
#ifndef VECATTN_GENERIC_GEMM_H
#define VECATTN_GENERIC_GEMM_H

#include <stddef.h>
#include <stdint.h>

/* B rows may stream from memory (K and V in decode): ask for the row this many
 * ahead while the current ones compute, since one thread alone does not keep
 * enough misses in flight. Prefetches past the end never fault. */
#ifndef VF_PREFETCH_ROWS
#define VF_PREFETCH_ROWS 16
#endif
#ifndef VF_PREFETCH_LOCALITY
#define VF_PREFETCH_LOCALITY 3
#endif
/* Rows fetched for a later phase (decode: V while scoring, the next K block
 * during P.V) go to L2 only, leaving L1 to the rows in use. */
#define VF_PREFETCH_L2 2

/* One mr x nv-vector block of C (both compile-time after inlining). Rows past
 * `rows` alias row 0 so the unrolled body stays branch-free; their results are
 * never stored. */
static inline __attribute__((always_inline)) void gemm_block(
    const float *a, int64_t a_row, int64_t a_col, int rows, const float *b, int64_t ldb, int k,
    float *c, int64_t ldc, const float *row_scale, const float *pf, int64_t ldpf, const int mr,
    const int nv, const int with_pf) {
  vf acc[VF_MR][VF_NR];
  const float *arow[VF_MR];
  for (int r = 0; r < mr; ++r) arow[r] = a + (r < rows ? r : 0) * a_row;

  if (row_scale) {
    for (int r = 0; r < mr; ++r) {
      const int rr = r < rows ? r : 0;
      const vf s = vf_set1(row_scale[rr]);
      for (int j = 0; j < nv; ++j) acc[r][j] = vf_mul(s, vf_load(c + rr * ldc + j * VF_LANES));
    }
  } else {
    for (int r = 0; r < mr; ++r)
      for (int j = 0; j < nv; ++j) acc[r][j] = vf_zero();
  }

  for (int p = 0; p < k; ++p) {
    vf bv[VF_NR];
    for (int j = 0; j < nv; ++j) bv[j] = vf_load(b + p * ldb + j * VF_LANES);
    for (int j = 0; j < nv; ++j) __builtin_prefetch(b + (p + VF_PREFETCH_ROWS) * ldb + j * VF_LANES, 0, VF_PREFETCH_LOCALITY);
    if (with_pf)
      for (int j = 0; j < nv; ++j) __builtin_prefetch(pf + p * ldpf + j * VF_LANES, 0, VF_PREFETCH_L2);
    for (int r = 0; r < mr; ++r) {
      const vf av = vf_set1(arow[r][p * a_col]);
      for (int j = 0; j < nv; ++j) acc[r][j] = vf_fma(av, bv[j], acc[r][j]);
    }
  }

  for (int r = 0; r < mr; ++r) {
    if (r >= rows) break;
    for (int j = 0; j < nv; ++j) vf_store(c + r * ldc + j * VF_LANES, acc[r][j]);
  }
}

/* All column blocks of one row block, with mr rows of registers. */
static inline __attribute__((always_inline)) void gemm_rows(
    const float *a, int64_t a_row, int64_t a_col, int rows, const float *b, int64_t ldb, int k,
    int nvec, float *c, int64_t ldc, const float *row_scale, const float *pf, int64_t ldpf,
    const int mr, const int with_pf) {
  int j = 0;
  for (; j + VF_NR <= nvec; j += VF_NR)
    gemm_block(a, a_row, a_col, rows, b + j * VF_LANES, ldb, k, c + j * VF_LANES, ldc, row_scale,
               with_pf ? pf + j * VF_LANES : pf, ldpf, mr, VF_NR, with_pf);
  for (; j < nvec; ++j)
    gemm_block(a, a_row, a_col, rows, b + j * VF_LANES, ldb, k, c + j * VF_LANES, ldc, row_scale,
               with_pf ? pf + j * VF_LANES : pf, ldpf, mr, 1, with_pf);
}

/* with_pf is a compile-time flag so the common, prefetch-free case keeps a
 * branch-free inner loop. */
static inline __attribute__((always_inline)) void gemm_body(
    const float *a, int64_t a_row, int64_t a_col, int m, const float *b, int64_t ldb, int k,
    int n_pad, float *c, int64_t ldc, const float *row_scale, const float *pf, int64_t ldpf,
    const int with_pf) {
  const int nvec = n_pad / VF_LANES;
  for (int r0 = 0; r0 < m; r0 += VF_MR) {
    const int rows = m - r0 < VF_MR ? m - r0 : VF_MR;
    const float *ar = a + r0 * a_row;
    float *cr = c + r0 * ldc;
    const float *rs = row_scale ? row_scale + r0 : NULL;
    const int rpf = with_pf && r0 == 0; /* once per call */
    /* Short last blocks (decode: a handful of rows) use fewer register rows. */
    if (rows > 4 || VF_MR <= 4)
      gemm_rows(ar, a_row, a_col, rows, b, ldb, k, nvec, cr, ldc, rs, pf, ldpf, VF_MR, rpf);
    else if (rows > 2)
      gemm_rows(ar, a_row, a_col, rows, b, ldb, k, nvec, cr, ldc, rs, pf, ldpf, 4, rpf);
    else if (rows == 2)
      gemm_rows(ar, a_row, a_col, rows, b, ldb, k, nvec, cr, ldc, rs, pf, ldpf, 2, rpf);
    else
      gemm_rows(ar, a_row, a_col, rows, b, ldb, k, nvec, cr, ldc, rs, pf, ldpf, 1, rpf);
  }
}

/* Separate functions, so each variant gets its own register allocation. */
static __attribute__((noinline)) void gemm_plain(const float *a, int64_t a_row, int64_t a_col, int m,
                                                 const float *b, int64_t ldb, int k, int n_pad, float *c,
                                                 int64_t ldc, const float *row_scale) {
  gemm_body(a, a_row, a_col, m, b, ldb, k, n_pad, c, ldc, row_scale, NULL, 0, 0);
}
static __attribute__((noinline)) void gemm_prefetching(const float *a, int64_t a_row, int64_t a_col, int m,
                                                       const float *b, int64_t ldb, int k, int n_pad,
                                                       float *c, int64_t ldc, const float *row_scale,
                                                       const float *pf, int64_t ldpf) {
  gemm_body(a, a_row, a_col, m, b, ldb, k, n_pad, c, ldc, row_scale, pf, ldpf, 1);
}

static void gemm(const float *a, int64_t a_row, int64_t a_col, int m, const float *b,
                 int64_t ldb, int k, int n_pad, float *c, int64_t ldc, const float *row_scale,
                 const float *pf, int64_t ldpf) {
  if (pf)
    gemm_prefetching(a, a_row, a_col, m, b, ldb, k, n_pad, c, ldc, row_scale, pf, ldpf);
  else
    gemm_plain(a, a_row, a_col, m, b, ldb, k, n_pad, c, ldc, row_scale);
}

#endif
