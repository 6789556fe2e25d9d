/* Register-blocked GEMM over one ISA's vector layer (vec.h included first).
 * A (f32) is read by broadcast through two strides, B and C by full vectors
 * (row-major, n padded to whole vectors): the same body serves S^T = K * Q^T
 * (A = K) and O = P * V (A = the transposed scores, B = V of any element type,
 * widened as it is loaded). */
#ifndef VECATTN_GENERIC_GEMM_H
#define VECATTN_GENERIC_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "typed.h"

/* B rows may stream from memory (K and V in decode): ask for the row this many
 * ahead while the current ones compute, since one thread alone does not keep
 * enough misses in flight. Prefetches past the end never fault. */
#ifndef VF_PREFETCH_ROWS
#define VF_PREFETCH_ROWS 16
#endif
/* Rows of 16-bit and q8_0 types are fetched 4x as many rows ahead (decode
 * from memory, 1 thread: f16 and bf16 9-10% faster at 64 rows than at 16, 48
 * and 128 slower than 64; f32 slower at 32 rows, so it stays at 16), unless
 * they lie a whole number of KB apart (K and V whose heads interleave by key,
 * BSHD): then a row's lines share a few L1 sets, where 64 rows in flight
 * evicted each other, and 16 rows already reach 16 KB on (f16 BSHD decode,
 * Nk 8192, Hq 32, Hkv 8: 1 thread 1.64-1.69 -> 1.40-1.47 ms, 2 threads
 * 1.03-1.11 -> 0.93-1.07; q8_0 rows 1088 B apart gained nothing at 16). */
#define VF_PREFETCH_ROWS_T(bt, ldb) \
  ((bt) == VECATTN_F32 || ((ldb) >= 1024 && (ldb) % 1024 == 0) ? VF_PREFETCH_ROWS : 4 * VF_PREFETCH_ROWS)
/* B's row ah rows on, in a stream of `ahead` rows at b that continues with
 * run2 rows at b2 (a paged cache's next page; b2 NULL: none): NULL past both. */
static inline const vf_byte *vf_row_ahead(const vf_byte *b, int64_t ldb, int64_t ah, int64_t ahead, const vf_byte *b2,
                                          int64_t run2) {
  if (ah < ahead) return b + ah * ldb;
  return b2 && ah - ahead < run2 ? b2 + (ah - ahead) * ldb : NULL;
}
#ifndef VF_PREFETCH_LOCALITY
#define VF_PREFETCH_LOCALITY 3
#endif
/* Rows fetched for a later phase (decode: V while scoring, the next K block
 * during P.V) go to L2 only, leaving L1 to the rows in use. */
#define VF_PREFETCH_L2 2

/* Short row blocks (decode: a GQA group's few rows) may afford wider column
 * blocks than VF_NR: AVX2 fits 4 x 3 accumulators in its 16 registers. */
#ifndef VF_NR_SHORT
#define VF_NR_SHORT VF_NR
#endif
#define VF_NR_MAX (VF_NR > VF_NR_SHORT ? VF_NR : VF_NR_SHORT)

/* Lowest set bit, at most one q8_0 block. */
#define GEMM_LOWBIT(x) (((x) & -(x)) < VECATTN_Q8_0_BLOCK ? ((x) & -(x)) : VECATTN_Q8_0_BLOCK)

/* One mr x nv-vector block of C (mr, nv, bt and with_pf compile-time after
 * inlining): B's columns e0 .. e0 + nv * VF_LANES of rows b + p * ldb (bytes),
 * element type bt. Rows past `rows` alias row 0 so the unrolled body stays
 * branch-free; their results are never stored. */
static inline __attribute__((always_inline)) void gemm_block(
    const float *a, int64_t a_row, int64_t a_col, int rows, const vf_byte *b, int64_t ldb, int64_t e0,
    int k, float *c, int64_t ldc, const float *row_scale, const vf_byte *pf, int64_t ldpf,
    int64_t pf_vec, int64_t ahead, const vf_byte *b2, int64_t run2, const vf_byte *const *bat,
    const float *const *aat, const int mr, const int nv, const int bt, const int with_pf, const int paged) {
  vf acc[VF_MR][VF_NR_MAX];
  const float *arow[VF_MR];
  for (int r = 0; r < mr; ++r) arow[r] = aat ? aat[r < rows ? r : 0] : a + (r < rows ? r : 0) * a_row;

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

  /* e0 is a multiple of q8_share: a q8_0 vector j shares its block (and scale)
   * with vector j - 1 unless j * VF_LANES is a multiple of it too. */
  const int q8_share = GEMM_LOWBIT(VF_LANES * nv);
  const int far = VF_PREFETCH_ROWS_T(bt, ldb);
  for (int p = 0; p < k; ++p) {
    vf bv[VF_NR_MAX];
    /* VF_PREFETCH_ROWS_T rows on, or VF_PREFETCH_ROWS where a page ends sooner */
    const int dist = p + far < ahead ? far : VF_PREFETCH_ROWS;
    const vf_byte *brow = bat ? bat[p] : b + p * ldb;
    const vf_byte *bahead = bat ? (p + dist < k ? bat[p + dist] : NULL)
                                : vf_row_ahead(b, ldb, p + dist, ahead, paged ? b2 : NULL, run2);
    if (bt == VECATTN_Q8_0) {
      vf scale = vf_zero();
      for (int j = 0; j < nv; ++j) {
        if ((j * VF_LANES) % q8_share == 0) scale = vf_q8_scale(brow, e0 + j * VF_LANES);
        bv[j] = vf_load_q8_scaled(brow, e0 + j * VF_LANES, scale);
      }
    } else {
      for (int j = 0; j < nv; ++j) bv[j] = vf_load_t(brow, e0 + j * VF_LANES, bt);
    }
    if (bahead) /* never past a page's rows; in a paged stream they continue in the next page, b2 */
      for (int j = 0; j < nv; ++j) /* one prefetch per line */
        if ((j * VF_LANES) % VF_RUN_ELEMS(bt) == 0)
          __builtin_prefetch(vf_addr_t(bahead, e0 + j * VF_LANES, bt), 0, VF_PREFETCH_LOCALITY);
    if (with_pf)
      for (int64_t off = 0; off < nv * pf_vec; off += 64) __builtin_prefetch(pf + p * ldpf + off, 0, VF_PREFETCH_L2);
    for (int r = 0; r < mr; ++r) {
      const vf av = vf_set1(dt_ld_f32(arow[r] + p * a_col)); /* A may be caller memory (K) */
      for (int j = 0; j < nv; ++j) acc[r][j] = vf_fma(av, bv[j], acc[r][j]);
    }
  }

  for (int r = 0; r < mr; ++r) {
    if (r >= rows) break;
    for (int j = 0; j < nv; ++j) vf_store(c + r * ldc + j * VF_LANES, acc[r][j]);
  }
}

/* All column blocks of one row block, with mr rows of registers. pf_vec: bytes
 * of pf rows per vector of C (pf's element size times VF_LANES). ahead: rows of
 * B that may be prefetched (B's run); paged: rows past them, run2 of them, at b2.
 * bat: NULL, or B's k rows gathered (then b, ldb, ahead and b2 are unused). */
static inline __attribute__((always_inline)) void gemm_rows(
    const float *a, int64_t a_row, int64_t a_col, int rows, const vf_byte *b, int64_t ldb, int k,
    int nvec, float *c, int64_t ldc, const float *row_scale, const vf_byte *pf, int64_t ldpf,
    int64_t pf_vec, int64_t ahead, const vf_byte *b2, int64_t run2, const vf_byte *const *bat,
    const float *const *aat, const int mr, const int bt, const int with_pf, const int paged) {
  const int nr = mr <= 4 && bt != VECATTN_Q8_0 ? VF_NR_SHORT : VF_NR; /* q8_0: blocks sharing a scale */
  int j = 0;
  for (; j + nr <= nvec; j += nr)
    gemm_block(a, a_row, a_col, rows, b, ldb, (int64_t)j * VF_LANES, k, c + j * VF_LANES, ldc, row_scale,
               with_pf ? pf + j * pf_vec : pf, ldpf, pf_vec, ahead, b2, run2, bat, aat, mr, nr, bt, with_pf, paged);
  for (; j < nvec; ++j)
    gemm_block(a, a_row, a_col, rows, b, ldb, (int64_t)j * VF_LANES, k, c + j * VF_LANES, ldc, row_scale,
               with_pf ? pf + j * pf_vec : pf, ldpf, pf_vec, ahead, b2, run2, bat, aat, mr, 1, bt, with_pf, paged);
}

/* bt and with_pf are compile-time, so the common, prefetch-free f32 case keeps
 * a branch-free inner loop. aat: NULL, or A's m rows gathered (row r at
 * aat[r]; a and a_row are then unused). */
static inline __attribute__((always_inline)) void gemm_body(
    const float *a, int64_t a_row, int64_t a_col, int m, const vf_byte *b, int64_t ldb, int k,
    int n_pad, float *c, int64_t ldc, const float *row_scale, const vf_byte *pf, int64_t ldpf,
    int64_t pf_vec, int64_t ahead, const vf_byte *b2, int64_t run2, const vf_byte *const *bat,
    const float *const *aat, const int bt, const int with_pf, const int paged) {
  const int nvec = n_pad / VF_LANES;
  for (int r0 = 0; r0 < m; r0 += VF_MR) {
    const int rows = m - r0 < VF_MR ? m - r0 : VF_MR;
    const float *ar = aat ? NULL : a + r0 * a_row;
    const float *const *aa = aat ? aat + r0 : NULL;
    float *cr = c + r0 * ldc;
    const float *rs = row_scale ? row_scale + r0 : NULL;
    const int rpf = with_pf && r0 == 0, rpaged = paged && r0 == 0; /* once per call */
    /* Short last blocks (decode: a handful of rows) use fewer register rows. */
    if (rows > 4 || VF_MR <= 4)
      gemm_rows(ar, a_row, a_col, rows, b, ldb, k, nvec, cr, ldc, rs, pf, ldpf, pf_vec, ahead, b2, run2, bat, aa, VF_MR,
                bt, rpf, rpaged);
    else if (rows > 2)
      gemm_rows(ar, a_row, a_col, rows, b, ldb, k, nvec, cr, ldc, rs, pf, ldpf, pf_vec, ahead, b2, run2, bat, aa, 4, bt,
                rpf, rpaged);
    else if (rows == 2)
      gemm_rows(ar, a_row, a_col, rows, b, ldb, k, nvec, cr, ldc, rs, pf, ldpf, pf_vec, ahead, b2, run2, bat, aa, 2, bt,
                rpf, rpaged);
    else
      gemm_rows(ar, a_row, a_col, rows, b, ldb, k, nvec, cr, ldc, rs, pf, ldpf, pf_vec, ahead, b2, run2, bat, aa, 1, bt,
                rpf, rpaged);
  }
}

/* Separate functions, so each variant gets its own register allocation. */
#define GEMM_VARIANT(T)                                                                              \
  static __attribute__((noinline)) void gemm_plain_##T(const float *a, int64_t a_row, int64_t a_col, \
                                                       int m, const vf_byte *b, int64_t ldb, int k,  \
                                                       int n_pad, float *c, int64_t ldc,             \
                                                       const float *row_scale, int64_t ahead) {      \
    gemm_body(a, a_row, a_col, m, b, ldb, k, n_pad, c, ldc, row_scale, NULL, 0, 0, ahead, NULL, 0,   \
              NULL, NULL, VECATTN_##T, 0, 0);                                                        \
  }                                                                                                  \
  static __attribute__((noinline)) void gemm_gather_##T(const float *a, int64_t a_row, int64_t a_col, \
                                                        int m, const vf_byte *const *bat, int k,     \
                                                        int n_pad, float *c, int64_t ldc,            \
                                                        const float *row_scale) {                    \
    if (!bat) __builtin_unreachable();                                                               \
    gemm_body(a, a_row, a_col, m, NULL, 0, k, n_pad, c, ldc, row_scale, NULL, 0, 0, INT64_MAX, NULL, \
              0, bat, NULL, VECATTN_##T, 0, 0);                                                      \
  }                                                                                                  \
  static __attribute__((noinline)) void gemm_prefetching_##T(                                        \
      const float *a, int64_t a_row, int64_t a_col, int m, const vf_byte *b, int64_t ldb, int k,     \
      int n_pad, float *c, int64_t ldc, const float *row_scale, const vf_byte *pf, int64_t ldpf,     \
      int64_t pf_vec, int64_t ahead) {                                                               \
    gemm_body(a, a_row, a_col, m, b, ldb, k, n_pad, c, ldc, row_scale, pf, ldpf, pf_vec, ahead, NULL, \
              0, NULL, NULL, VECATTN_##T, 1, 0);                                                     \
  }                                                                                                  \
  static __attribute__((noinline)) void gemm_paging_##T(                                             \
      const float *a, int64_t a_row, int64_t a_col, int m, const vf_byte *b, int64_t ldb, int k,     \
      int n_pad, float *c, int64_t ldc, const float *row_scale, const vf_byte *pf, int64_t ldpf,     \
      int64_t pf_vec, int64_t ahead, const vf_byte *b2, int64_t run2) {                              \
    gemm_body(a, a_row, a_col, m, b, ldb, k, n_pad, c, ldc, row_scale, pf, ldpf, pf_vec, ahead, b2,  \
              run2, NULL, NULL, VECATTN_##T, 1, 1);                                                  \
  }
GEMM_VARIANT(F32)
GEMM_VARIANT(F16)
GEMM_VARIANT(BF16)
GEMM_VARIANT(Q8_0)
#undef GEMM_VARIANT

static void gemm(const float *a, int64_t a_row, int64_t a_col, int m, const float *b, int64_t ldb,
                 int k, int n_pad, float *c, int64_t ldc, const float *row_scale) {
  gemm_plain_F32(a, a_row, a_col, m, (const vf_byte *)b, ldb * (int64_t)sizeof(float), k, n_pad, c, ldc,
                 row_scale, INT64_MAX);
}

/* gemm with A's m rows gathered (a_at[r]: row r, k floats read by
 * broadcast) and B f32: the scores of a block of keys spread over pages, in
 * one call, so its register blocks span page ends. */
static __attribute__((noinline)) void gemm_at(const float *const *a_at, int m, const float *b, int64_t ldb, int k,
                                              int n_pad, float *c, int64_t ldc) {
  gemm_body(NULL, 0, 1, m, (const vf_byte *)b, ldb * (int64_t)sizeof(float), k, n_pad, c, ldc, NULL, NULL, 0, 0,
            INT64_MAX, NULL, 0, NULL, a_at, VECATTN_F32, 0, 0);
}

static void gemm_typed(const float *a, int64_t a_row, int64_t a_col, int m, vecattn_rows b, int k,
                       int n_pad, float *c, int64_t ldc, const float *row_scale, vecattn_rows pf) {
  const vf_byte *bp = b.p, *pfp = pf.p;
  /* One row: its stride is never used, and the API lets it be anything. */
  const int64_t ldb = k > 1 ? dt_bytes(b.t, b.ld) : 0, ldpf = k > 1 ? dt_bytes(pf.t, pf.ld) : 0;
  const int64_t pf_vec = dt_bytes(pf.t, VECATTN_Q8_0_BLOCK * VF_LANES) / VECATTN_Q8_0_BLOCK;
  const int64_t ahead = b.run ? b.run : INT64_MAX;
#define GEMM_CALL(T)                                                                                 \
  if (b.at) /* rows gathered across pages: one call, sums in registers throughout */                 \
    gemm_gather_##T(a, a_row, a_col, m, (const vf_byte *const *)b.at, k, n_pad, c, ldc, row_scale);   \
  else if (pfp && b.p2) /* a paged stream: B's rows continue in the next page */                          \
    gemm_paging_##T(a, a_row, a_col, m, bp, ldb, k, n_pad, c, ldc, row_scale, pfp, ldpf, pf_vec, ahead, \
                    (const vf_byte *)b.p2, b.run2);                                                  \
  else if (pfp)                                                                                      \
    gemm_prefetching_##T(a, a_row, a_col, m, bp, ldb, k, n_pad, c, ldc, row_scale, pfp, ldpf, pf_vec,  \
                         ahead);                                                                     \
  else                                                                                               \
    gemm_plain_##T(a, a_row, a_col, m, bp, ldb, k, n_pad, c, ldc, row_scale, ahead)
  switch (b.t) {
  case VECATTN_F16: GEMM_CALL(F16); break;
  case VECATTN_BF16: GEMM_CALL(BF16); break;
  case VECATTN_Q8_0: GEMM_CALL(Q8_0); break;
  default: GEMM_CALL(F32); break;
  }
#undef GEMM_CALL
}

#endif
