/* C = A * B^T with both operands row-major along k: dot products of A rows with
 * B rows, vectorised along k and reduced at the end. Serves the matmul's few-row
 * path (GEMV over weight rows) and, as gemm_nt_st, scores against K in its own
 * layout when a tile has too few query rows to pay for packing K^T (decode):
 * both are bound by streaming B from memory. */
#ifndef VECATTN_GENERIC_GEMM_NT_H
#define VECATTN_GENERIC_GEMM_NT_H

#include <stdint.h>

#include "gemm.h" /* VF_PREFETCH_ROWS */
#include "typed.h"
#include "lanes.h"

#ifndef VF_NT_MR
#define VF_NT_MR 4
#endif
/* VF_PIN(v) holds v in a register from there on. x86 vec.h defines it:
 * compilers otherwise fold a vector that several FMAs use into each of them
 * as a memory operand, loading it once per use, and Zen 5 runs FMAs with a
 * memory operand at about 1.35 a cycle against 2. */
#ifndef VF_PIN
#define VF_PIN(v) ((void)0)
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

/* One mr x nc block of dot products (mr, nc and bt compile-time after
 * inlining); B rows b + j * ldb (bytes) of element type bt; rows past `rows`
 * alias row 0 and are not stored. */
static inline __attribute__((always_inline)) void gemm_nt_block(
    const float *a, int64_t lda, int rows, const vf_byte *b, int64_t ldb, int k, float *c,
    int64_t c_row, int64_t c_col, int64_t pf_ahead, const int mr, const int nc, const int bt) {
  vf acc[VF_NT_MR][VF_NT_NC];
  const float *arow[VF_NT_MR];
  for (int r = 0; r < mr; ++r) {
    arow[r] = a + (r < rows ? r : 0) * lda;
    for (int j = 0; j < nc; ++j) acc[r][j] = vf_zero();
  }
  int p = 0;
  for (; p + VF_LANES <= k; p += VF_LANES) {
    vf bv[VF_NT_NC];
    for (int j = 0; j < nc; ++j) {
      bv[j] = vf_load_t(b + j * ldb, p, bt);
      VF_PIN(bv[j]);
    }
    for (int j = 0; j < nc; ++j) __builtin_prefetch(vf_addr_t(b + j * ldb, p + pf_ahead, bt), 0, VF_PREFETCH_LOCALITY);
    for (int r = 0; r < mr; ++r) {
      vf av = vf_load(arow[r] + p);
      VF_PIN(av);
      for (int j = 0; j < nc; ++j) acc[r][j] = vf_fma(av, bv[j], acc[r][j]);
    }
  }
  if (p < k) { /* zero-filled tail lanes add nothing */
    const int tail = k - p;
    vf bv[VF_NT_NC];
    for (int j = 0; j < nc; ++j) bv[j] = vf_load_n_t(b + j * ldb, p, tail, bt);
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

/* ahead: rows of B that may be prefetched; a row block past them prefetches
 * its own rows (distance 0, already being loaded) instead. */
static inline __attribute__((always_inline)) void gemm_nt_rows(
    const float *a, int64_t lda, int rows, const vf_byte *b, int64_t ldb, int n, int k, float *c,
    int64_t c_row, int64_t c_col, int64_t pf_ahead, int64_t ahead, const int mr, const int bt) {
  int j = 0;
  for (; j + VF_NT_NC <= n; j += VF_NT_NC)
    gemm_nt_block(a, lda, rows, b + j * ldb, ldb, k, c + j * c_col, c_row, c_col,
                  j + VF_NT_NC - 1 + VF_PREFETCH_ROWS < ahead ? pf_ahead : 0, mr, VF_NT_NC, bt);
  for (; j < n; ++j)
    gemm_nt_block(a, lda, rows, b + j * ldb, ldb, k, c + j * c_col, c_row, c_col,
                  j + VF_PREFETCH_ROWS < ahead ? pf_ahead : 0, mr, 1, bt);
}

/* B rows at ldb bytes; pf_ahead: the prefetch distance in elements of B. */
static inline __attribute__((always_inline)) void gemm_nt_body(
    const float *a, int64_t lda, int m, const vf_byte *b, int64_t ldb, int n, int k, float *c,
    int64_t c_row, int64_t c_col, int64_t pf_ahead, int64_t ahead, const int bt) {
  for (int r0 = 0; r0 < m; r0 += VF_NT_MR) {
    const int rows = m - r0 < VF_NT_MR ? m - r0 : VF_NT_MR;
    const float *ar = a + r0 * lda;
    float *cr = c + r0 * c_row;
    /* A short last block (GEMV: one row) computes only its own rows. */
    if (rows == VF_NT_MR)
      gemm_nt_rows(ar, lda, rows, b, ldb, n, k, cr, c_row, c_col, pf_ahead, ahead, VF_NT_MR, bt);
    else if (rows > 2)
      gemm_nt_rows(ar, lda, rows, b, ldb, n, k, cr, c_row, c_col, pf_ahead, ahead, VF_NT_MR > 3 ? 3 : VF_NT_MR, bt);
    else if (rows == 2)
      gemm_nt_rows(ar, lda, rows, b, ldb, n, k, cr, c_row, c_col, pf_ahead, ahead, VF_NT_MR > 2 ? 2 : VF_NT_MR, bt);
    else
      gemm_nt_rows(ar, lda, rows, b, ldb, n, k, cr, c_row, c_col, pf_ahead, ahead, 1, bt);
  }
}

/* Prefetch distance in elements of B: along the row itself for long rows, else
 * whole rows ahead (ldb in elements). */
static inline int64_t gemm_nt_ahead(int k, int64_t ldb) {
  return k >= 2 * VF_NT_ROW_AHEAD ? VF_NT_ROW_AHEAD : VF_PREFETCH_ROWS * ldb;
}

static void gemm_nt(const float *a, int64_t lda, int m, const float *b, int64_t ldb, int n, int k,
                    float *c, int64_t c_row, int64_t c_col) {
  gemm_nt_body(a, lda, m, (const vf_byte *)b, ldb * (int64_t)sizeof(float), n, k, c, c_row, c_col,
               gemm_nt_ahead(k, ldb), INT64_MAX, VECATTN_F32);
}

#if VF_LANES > 1
/* acc + a * b lane by lane, or with dot2 (ISAs with bf16 products) the two
 * products of each lane's bf16 pair. */
static inline __attribute__((always_inline)) vf gemm_nt_madd(vf acc, vf a, vf b, const int dot2) {
#ifdef VF_HAVE_DOT2
  if (dot2) return vf_dot2(acc, a, b);
#endif
  (void)dot2;
  return vf_fma(a, b, acc);
}

/* The whole runs of gemm_nt_st_block (prefetching as they go); returns the
 * elements they covered. sure: every bahead row and pf exist. */
static inline __attribute__((always_inline)) int gemm_nt_st_runs(
    const float *const *arow, const vf_byte *const *brow, const vf_byte *const *bahead, const vf_byte *pf,
    int64_t ldpf, int64_t pf_step, int pf_two, int64_t run_bytes, int k, vf *acc, const int rs, const int kg,
    const int bt, const int dot2, const int sure) {
  const int epv = dot2 ? 2 * VF_LANES : VF_LANES, ahalf = dot2 ? 2 : 1;
  const int run = VF_RUN_ELEMS(bt), nrun = run / epv;
  int64_t pf_off = 0; /* an offset, not a pointer: pf may be NULL (weights have no V) */
  int64_t boff = 0;
  int p = 0;
  for (; p + run <= k; p += run, pf_off += pf_step, boff += run_bytes) {
    vf scale[VF_LANES];
    for (int c = 0; c < kg; ++c) {
      if (sure || bahead[c]) __builtin_prefetch(bahead[c] + boff, 0, VF_PREFETCH_LOCALITY);
      if (sure || pf) {
        __builtin_prefetch(pf + c * ldpf + pf_off, 0, VF_PREFETCH_L2);
        if (pf_two) __builtin_prefetch(pf + c * ldpf + pf_off + 64, 0, VF_PREFETCH_L2);
      }
      if (bt == VECATTN_Q8_0) scale[c] = vf_q8_scale(brow[c] + boff, 0);
    }
    for (int u = 0; u < nrun; ++u) {
      vf av[VF_LANES];
      for (int r = 0; r < rs; ++r) {
        av[r] = vf_load(arow[r] + (p + u * epv) / ahalf);
        VF_PIN(av[r]);
      }
      for (int c = 0; c < kg; ++c) {
        vf bv = dot2 ? vf_load((const float *)(brow[c] + boff) + u * VF_LANES)
                : bt == VECATTN_Q8_0 ? vf_load_q8_scaled(brow[c] + boff, u * VF_LANES, scale[c])
                                     : vf_load_t(brow[c] + boff, u * VF_LANES, bt);
        VF_PIN(bv);
        for (int r = 0; r < rs; ++r)
          acc[vf_hsum_slot(c * rs + r)] = gemm_nt_madd(acc[vf_hsum_slot(c * rs + r)], av[r], bv, dot2);
      }
    }
  }
  return p;
}

/* One vector of S^T for a group of rs rows (rs < VF_LANES): each accumulator
 * holds one (key, row) pair, so VF_LANES / rs keys x rs rows fold into one
 * vector laid out as S^T[key][row] by a single vf_hsum_lanes (pair (key, row)
 * for lane i in acc[vf_hsum_slot(i)]). */
static inline __attribute__((always_inline)) void gemm_nt_st_block(
    const float *a, int64_t lda, int m, const vf_byte *b, int64_t ldb, int n, int k, float *st,
    const vf_byte *pf, int64_t ldpf, int64_t pf_vec, int64_t ahead, const vf_byte *b2, int64_t run2, const int rs,
    const int bt, const int dot2) {
  const int kg = VF_LANES / rs;
  /* dot2: B is bf16 read as it lies, pairs along k, and A its rows' pairs
   * (lda in pairs, k even): a vector spans 2 * VF_LANES elements. */
  const int epv = dot2 ? 2 * VF_LANES : VF_LANES, ahalf = dot2 ? 2 : 1;
  vf acc[VF_LANES];
  const float *arow[VF_LANES];
  const vf_byte *brow[VF_LANES], *bahead[VF_LANES];
  for (int r = 0; r < rs; ++r) arow[r] = a + (r < m ? r : 0) * lda;
  for (int c = 0; c < kg; ++c) {
    brow[c] = b + (c < n ? c : n - 1) * ldb;
    /* The row VF_PREFETCH_ROWS_T on (else VF_PREFETCH_ROWS on): in this run, in
     * the next page (b2), or none. */
    const vf_byte *far = vf_row_ahead(b, ldb, c + VF_PREFETCH_ROWS_T(bt, ldb), ahead, b2, run2);
    bahead[c] = far ? far : vf_row_ahead(b, ldb, c + VF_PREFETCH_ROWS, ahead, b2, run2);
  }
  for (int i = 0; i < VF_LANES; ++i) acc[i] = vf_zero();
  /* Runs of one prefetch each (a line, or a q8_0 block whose scale is loaded
   * once per key), then single vectors; q8_0 rows are whole runs. */
  const int run = VF_RUN_ELEMS(bt);
  /* pf rows advance pf_vec bytes per VF_LANES elements of a run: one line, or
   * two when pf is wider per element than B (f32 V beside 16-bit K). */
  const int64_t pf_step = run / VF_LANES * pf_vec;
  const int pf_two = pf_step > 64;
  /* One byte offset into B's rows per run, shared by every row and prefetch:
   * indexing q8_0 blocks by element cost a division per address, and the
   * spills it forced made the loop twice f16's on Intel. */
  const int64_t run_bytes = dt_bytes((vecattn_dtype)bt, run);
  /* Every key's rows to prefetch known to exist (the common case): the
   * prefetches go out without a test each. */
  int sure = pf != NULL;
  for (int c = 0; c < kg; ++c) sure &= bahead[c] != NULL;
  int p = sure ? gemm_nt_st_runs(arow, brow, bahead, pf, ldpf, pf_step, pf_two, run_bytes, k, acc, rs, kg, bt, dot2, 1)
               : gemm_nt_st_runs(arow, brow, bahead, pf, ldpf, pf_step, pf_two, run_bytes, k, acc, rs, kg, bt, dot2, 0);
  for (; p + epv <= k; p += epv) {
    vf av[VF_LANES];
    for (int r = 0; r < rs; ++r) {
      av[r] = vf_load(arow[r] + p / ahalf);
      VF_PIN(av[r]);
    }
    for (int c = 0; c < kg; ++c) {
      vf bv = dot2 ? vf_load((const float *)brow[c] + p / 2) : vf_load_t(brow[c], p, bt);
      VF_PIN(bv);
      for (int r = 0; r < rs; ++r)
        acc[vf_hsum_slot(c * rs + r)] = gemm_nt_madd(acc[vf_hsum_slot(c * rs + r)], av[r], bv, dot2);
    }
  }
  if (p < k) { /* zero-filled tail lanes add nothing */
    const int tail = (k - p) / ahalf;
    vf av[VF_LANES];
    for (int r = 0; r < rs; ++r) av[r] = vf_load_n(arow[r] + p / ahalf, tail);
    for (int c = 0; c < kg; ++c) {
      const vf bv = dot2 ? vf_load_n((const float *)brow[c] + p / 2, tail) : vf_load_n_t(brow[c], p, tail, bt);
      for (int r = 0; r < rs; ++r)
        acc[vf_hsum_slot(c * rs + r)] = gemm_nt_madd(acc[vf_hsum_slot(c * rs + r)], av[r], bv, dot2);
    }
  }
  vf_store(st, vf_hsum_lanes(acc));
}
#endif

/* S^T[j * rs + r] = sum_p A[r][p] * B[j][p] for j < n, r < rs; rows m <= r < rs
 * repeat row 0. When rs < VF_LANES the last vector may run past key n - 1, up
 * to a whole vector of S^T: callers leave room for it. */
static inline __attribute__((always_inline)) void gemm_nt_st_body(
    const float *a, int64_t lda, int m, int rs, const vf_byte *b, int64_t ldb, int n, int k, float *st,
    const vf_byte *pf, int64_t ldpf, int64_t pf_vec, int64_t pf_ahead, int64_t ahead, const vf_byte *b2,
    int64_t run2, const int bt, const int dot2) {
#if VF_LANES > 1
  if (rs < VF_LANES) {
    for (int j = 0; j < n; j += VF_LANES / rs) {
      const vf_byte *bj = b + j * ldb, *pj = pf ? pf + j * ldpf : NULL;
      float *sj = st + (int64_t)j * rs;
      switch (rs) {
      case 1:
        gemm_nt_st_block(a, lda, m, bj, ldb, n - j, k, sj, pj, ldpf, pf_vec, ahead - j, b2, run2, 1, bt, dot2);
        break;
      case 2:
        gemm_nt_st_block(a, lda, m, bj, ldb, n - j, k, sj, pj, ldpf, pf_vec, ahead - j, b2, run2, 2, bt, dot2);
        break;
#if VF_LANES > 4
      case 4:
        gemm_nt_st_block(a, lda, m, bj, ldb, n - j, k, sj, pj, ldpf, pf_vec, ahead - j, b2, run2, 4, bt, dot2);
        break;
#endif
#if VF_LANES > 8
      case 8:
        gemm_nt_st_block(a, lda, m, bj, ldb, n - j, k, sj, pj, ldpf, pf_vec, ahead - j, b2, run2, 8, bt, dot2);
        break;
#endif
      }
    }
    return;
  }
#endif
  (void)pf, (void)ldpf, (void)pf_vec, (void)b2, (void)run2; /* one row per vector: scores come from gemm_nt, V is
                                                                fetched by P.V */
  if (!dot2) gemm_nt_body(a, lda, m, b, ldb, n, k, st, 1, rs, pf_ahead, ahead, bt); /* dot2: rs < VF_LANES */
}

#define GEMM_NT_ST_VARIANT(T, NAME, DOT2)                                                                \
  static __attribute__((noinline)) void gemm_nt_st_##NAME(const float *a, int64_t lda, int m, int rs,    \
                                                          const vf_byte *b, int64_t ldb, int n, int k,   \
                                                          float *st, const vf_byte *pf, int64_t ldpf,    \
                                                          int64_t pf_vec, int64_t pf_ahead,              \
                                                          int64_t ahead, const vf_byte *b2, int64_t run2) { \
    gemm_nt_st_body(a, lda, m, rs, b, ldb, n, k, st, pf, ldpf, pf_vec, pf_ahead, ahead, b2, run2,        \
                    VECATTN_##T, DOT2);                                                                  \
  }
GEMM_NT_ST_VARIANT(F32, F32, 0)
GEMM_NT_ST_VARIANT(F16, F16, 0)
GEMM_NT_ST_VARIANT(BF16, BF16, 0)
GEMM_NT_ST_VARIANT(Q8_0, Q8_0, 0)
#ifdef VF_HAVE_DOT2
GEMM_NT_ST_VARIANT(BF16, BF16_PAIRS, 1)
#endif
#undef GEMM_NT_ST_VARIANT

/* dot2: A holds pairs of bf16 (gemm_nt_st_bf16). */
static inline __attribute__((always_inline)) void gemm_nt_st_any(const float *a, int64_t lda, int m, int rs,
                                                                 vecattn_rows b, int n, int k, float *st,
                                                                 vecattn_rows pf, const int dot2) {
  const vf_byte *bp = b.p, *pfp = pf.p;
  /* One row: its stride is never used, and the API lets it be anything. */
  const int64_t ld = n > 1 ? b.ld : 0, ldb = dt_bytes(b.t, ld), ldpf = n > 1 ? dt_bytes(pf.t, pf.ld) : 0;
  const int64_t pf_vec = dt_bytes(pf.t, VECATTN_Q8_0_BLOCK * VF_LANES) / VECATTN_Q8_0_BLOCK;
  const int64_t pf_ahead = gemm_nt_ahead(k, ld), ahead = b.run ? b.run : INT64_MAX;
  const vf_byte *b2 = b.p2;
  const int64_t run2 = b.run2;
#define GEMM_NT_ST_CALL(T) gemm_nt_st_##T(a, lda, m, rs, bp, ldb, n, k, st, pfp, ldpf, pf_vec, pf_ahead, ahead, b2, run2)
#ifdef VF_HAVE_DOT2
  if (dot2) {
    GEMM_NT_ST_CALL(BF16_PAIRS);
    return;
  }
#endif
  (void)dot2;
  switch (b.t) {
  case VECATTN_F16: GEMM_NT_ST_CALL(F16); break;
  case VECATTN_BF16: GEMM_NT_ST_CALL(BF16); break;
  case VECATTN_Q8_0: GEMM_NT_ST_CALL(Q8_0); break;
  default: GEMM_NT_ST_CALL(F32); break;
  }
#undef GEMM_NT_ST_CALL
}

static void gemm_nt_st(const float *a, int64_t lda, int m, int rs, vecattn_rows b, int n, int k, float *st,
                       vecattn_rows pf) {
  gemm_nt_st_any(a, lda, m, rs, b, n, k, st, pf, 0);
}

#if defined(VF_HAVE_DOT2) && VF_LANES > 1
/* Decode scores with bf16 products (opts.reduced_precision): B bf16 rows read
 * in place as pairs along k, A the rows' pairs (ldq pairs apart), k even, rs
 * below VF_LANES. Per key and 2 * VF_LANES elements one load and rs products,
 * against two widening loads and 2 rs FMAs. f16 rows rounded to bf16 as they
 * load (two widening loads and VCVTNE2PS2BF16 a vector) ran no faster than f32
 * products on Zen 5 (f16 decode in cache 14.2-14.7 ns per key-head either way),
 * so f16 K keeps f32 products. */
static void gemm_nt_st_bf16(const uint32_t *q, int64_t ldq, int m, int rs, vecattn_rows b, int n, int k, float *st,
                            vecattn_rows pf) {
  gemm_nt_st_any((const float *)q, ldq, m, rs, b, n, k, st, pf, 1);
}
#define VF_GEMM_NT_ST_BF16 gemm_nt_st_bf16
#else
#define VF_GEMM_NT_ST_BF16 NULL
#endif

#endif
