/* Prefill scores against q8_0 K with int8 matrix products, for ISAs whose
 * vec.h has one (VF_HAVE_I8MM: vi32_mmla, a 2 x 8 by 8 x 2 int8 product into
 * 2 x 2 int32 per 128-bit segment, vi8_zip1_64 / vi8_zip2_64, vi8_load_q8mm,
 * vf_load4_each and vf_uzp1_64 / vf_uzp2_64): calls that set
 * opts.reduced_precision. The queries are quantised as in decode
 * (gemm_nt_q8.h: int8 per 32-element block, f32 scale), then stored as row
 * pairs whose 8-byte chunks interleave, so one 16-byte load is a 2 x 8
 * operand; two K rows are paired by zipping their 8-byte chunks as they are
 * loaded. Each (2 keys x 2 rows) block of 32 elements is then an exact int32
 * sum (|sum| <= 32 * 127^2 < 2^24, so also exact as f32) times both scales,
 * accumulated in f32: the decode products' arithmetic, so the only rounding
 * beyond the f32 path's is the queries' quantisation.
 *
 * Instruction counts per 32-element block and 2 keys x 2 rows: 4 SMMLA, a
 * zeroing, a convert, a multiply of the 4 scale products and an FMA (8: 2 a
 * (row, key) pair); the keys' loads, zips and scales are shared by 8 rows,
 * the rows' loads and scales by 4 keys. The compiled NEON loop (GCC 12) does
 * a block of 4 keys x 8 rows in about 116 instructions, 3.6 a pair, with no
 * spills; the f32 prefill kernel needs about 11 a pair (24 FMAs, 6
 * broadcasts and 4 loads per 6 keys x 16 rows and element) plus widening K,
 * and the bf16 one about 7 (BFDOT takes two elements). On SVE (svebf16) a
 * block of 2 keys x 2 rows takes 2 SMMLAs at 256 bits, 1 at 512, plus the
 * same 4; compiled, 4 keys x 8 rows at 256 bits in about 93 to 108
 * instructions a block (2.9 to 3.4 a pair), 4 keys x 16 rows at 512 in about
 * 161 to 176 (2.5 to 2.75), no spills, and a fold of 10 (256) or 26 (512)
 * instructions per 2 keys x VF_LANES rows after the last block. Counts, not
 * timings: no I8MM hardware was at hand. */
#ifndef VECATTN_GENERIC_GEMM_Q8MM_H
#define VECATTN_GENERIC_GEMM_Q8MM_H

#ifdef VF_HAVE_I8MM
#include <stdint.h>

#include "typed.h"

/* SMMLA works per 128-bit segment. SVE's wider vectors give each segment its
 * own 16-byte chunk pair of the same block (a query pair's block is 64
 * contiguous bytes, so one load at 512 bits, two at 256), and the keys' 64-bit
 * zip puts the matching chunks of both keys there. A block then takes 4 / segs
 * SMMLAs, each segment summing its chunks into its own 2 x 2 block, and the
 * segments are folded once after the last block: their partial sums are
 * exact int32, scaled and accumulated in f32 like whole blocks. Giving each
 * segment its own block instead would need strided query loads; its own key
 * or row pair, a fold per block. The packing of kernels.h stays as it is. */
#define Q8MM_SEGS (VF_LANES / 4)
#if Q8MM_SEGS != 1 && Q8MM_SEGS != 2 && Q8MM_SEGS != 4
#error "gemm_q8mm.h: 128-, 256- or 512-bit vectors"
#endif
#define Q8MM_CHUNKS (VECATTN_Q8_0_BLOCK / 8)   /* 8-byte chunks a q8_0 block */
#define Q8MM_STEPS (Q8MM_CHUNKS / Q8MM_SEGS)   /* SMMLAs a block */
#define Q8MM_KEY_PAIRS 2                       /* key pairs held a step */
#define Q8MM_FOLD (2 * Q8MM_SEGS)              /* row pairs folded into one vector a key */
#define Q8MM_ROW_PAIRS (Q8MM_FOLD > 4 ? Q8MM_FOLD : 4) /* row pairs streamed against them */

/* Accumulators a[0 .. Q8MM_FOLD - 1] of row pairs j .. j + Q8MM_FOLD - 1, each
 * segment (k0, r0) (k0, r1) (k1, r0) (k1, r1): their segments summed, key k0's
 * rows in *k0 and k1's in *k1 (2 Q8MM_FOLD = VF_LANES rows each). The first
 * unzip splits the keys, each later one adds neighbouring segments. */
static inline __attribute__((always_inline)) void q8mm_fold(const vf *a, vf *k0, vf *k1) {
  vf x[Q8MM_FOLD / 2], y[Q8MM_FOLD / 2];
  for (int m = 0; m < Q8MM_FOLD / 2; ++m) x[m] = vf_uzp1_64(a[2 * m], a[2 * m + 1]), y[m] = vf_uzp2_64(a[2 * m], a[2 * m + 1]);
  for (int n = Q8MM_FOLD / 2; n > 1; n /= 2)
    for (int m = 0; m < n / 2; ++m) {
      x[m] = vf_add(vf_uzp1_64(x[2 * m], x[2 * m + 1]), vf_uzp2_64(x[2 * m], x[2 * m + 1]));
      y[m] = vf_add(vf_uzp1_64(y[2 * m], y[2 * m + 1]), vf_uzp2_64(y[2 * m], y[2 * m + 1]));
    }
  *k0 = x[0], *k1 = y[0];
}

/* kp key pairs (keys krow[0 .. 2 kp - 1]) x qp row pairs from aq / ad (both
 * compile-time, qp a multiple of Q8MM_FOLD): S^T[key * ldc + row] for the
 * first nkeys keys and 2 qp rows. */
static inline __attribute__((always_inline)) void q8mm_block(const int8_t *aq, const float *ad, int nb,
                                                             const vf_byte *const *krow, int nkeys, float *c,
                                                             int64_t ldc, const int kp, const int qp) {
  vf acc[Q8MM_KEY_PAIRS][Q8MM_ROW_PAIRS];
  for (int i = 0; i < kp; ++i)
    for (int j = 0; j < qp; ++j) acc[i][j] = vf_zero();
  for (int blk = 0; blk < nb; ++blk) {
    vi8 kv[Q8MM_KEY_PAIRS][Q8MM_STEPS];
    vf kd[Q8MM_KEY_PAIRS];
    for (int i = 0; i < kp; ++i) {
      const vf_byte *b0 = krow[2 * i] + (int64_t)blk * VECATTN_Q8_0_BLOCK_BYTES;
      const vf_byte *b1 = krow[2 * i + 1] + (int64_t)blk * VECATTN_Q8_0_BLOCK_BYTES;
      for (int h = 0; h < (Q8MM_STEPS + 1) / 2; ++h) { /* 2 Q8MM_SEGS chunks of each key */
        const vi8 x0 = vi8_load_q8mm((const int8_t *)b0 + 2 + 16 * Q8MM_SEGS * h);
        const vi8 x1 = vi8_load_q8mm((const int8_t *)b1 + 2 + 16 * Q8MM_SEGS * h);
        kv[i][2 * h] = vi8_zip1_64(x0, x1);
        if (2 * h + 1 < Q8MM_STEPS) kv[i][2 * h + 1] = vi8_zip2_64(x0, x1);
      }
      kd[i] = vf_trn1(vf_q8_scale(b0, 0), vf_q8_scale(b1, 0), 2); /* d0 d0 d1 d1 */
    }
    for (int j = 0; j < qp; ++j) {
      const int8_t *q = aq + ((int64_t)j * nb + blk) * 2 * VECATTN_Q8_0_BLOCK;
      vi8 qv[Q8MM_STEPS];
      for (int s = 0; s < Q8MM_STEPS; ++s) qv[s] = vi8_load(q + 16 * Q8MM_SEGS * s);
      const vf qd = vf_load4_each(ad + ((int64_t)j * nb + blk) * 4); /* dr0 dr1 dr0 dr1 */
      for (int i = 0; i < kp; ++i) {
        vi32 dot = vi32_zero();
        for (int s = 0; s < Q8MM_STEPS; ++s) dot = vi32_mmla(dot, kv[i][s], qv[s]);
        acc[i][j] = vf_fma(vf_from_i32(dot), vf_mul(qd, kd[i]), acc[i][j]);
      }
    }
  }
  for (int i = 0; i < kp; ++i)
    for (int j = 0; j < qp; j += Q8MM_FOLD) {
      vf k0, k1;
      q8mm_fold(&acc[i][j], &k0, &k1);
      vf_store(c + (int64_t)(2 * i) * ldc + 2 * j, k0);
      if (2 * i + 1 < nkeys) vf_store(c + (int64_t)(2 * i + 1) * ldc + 2 * j, k1);
    }
}

/* Every row pair of the tile against keys krow[0 .. nkeys - 1] (at most
 * 2 * kp; a missing second key of a pair repeats the first). */
static inline __attribute__((always_inline)) void q8mm_keys(const int8_t *aq, const float *ad, int n_pad, int k,
                                                            const vf_byte *const *krow, int nkeys, float *c,
                                                            int64_t ldc, const int kp) {
  const int nb = k / VECATTN_Q8_0_BLOCK, pairs = n_pad / 2;
  int j = 0;
  for (; j + Q8MM_ROW_PAIRS <= pairs; j += Q8MM_ROW_PAIRS)
    q8mm_block(aq + (int64_t)j * 2 * k, ad + (int64_t)j * 4 * nb, nb, krow, nkeys, c + 2 * j, ldc, kp, Q8MM_ROW_PAIRS);
  for (; j < pairs; j += Q8MM_FOLD) /* n_pad is whole vectors: Q8MM_FOLD row pairs each */
    q8mm_block(aq + (int64_t)j * 2 * k, ad + (int64_t)j * 4 * nb, nb, krow, nkeys, c + 2 * j, ldc, kp, Q8MM_FOLD);
}

/* S^T[j * ldc + r] = q8 products of row r and key j, j < n, r < n_pad (a
 * multiple of VF_LANES); rows laid out as kernels.h's gemm_q8mm says. */
static void gemm_q8mm(const int8_t *aq, const float *ad, int n_pad, vecattn_rows b, int n, int k, float *c,
                      int64_t ldc) {
  const vf_byte *bp = b.p;
  /* One row: its stride is never used, and the API lets it be anything. */
  const int64_t ldb = n > 1 ? dt_bytes(VECATTN_Q8_0, b.ld) : 0;
  const vf_byte *krow[2 * Q8MM_KEY_PAIRS];
  int j = 0;
  for (; j + 2 * Q8MM_KEY_PAIRS <= n; j += 2 * Q8MM_KEY_PAIRS) {
    for (int i = 0; i < 2 * Q8MM_KEY_PAIRS; ++i) krow[i] = bp + (j + i) * ldb;
    q8mm_keys(aq, ad, n_pad, k, krow, 2 * Q8MM_KEY_PAIRS, c + j * ldc, ldc, Q8MM_KEY_PAIRS);
  }
  for (; j < n; j += 2) {
    krow[0] = bp + j * ldb;
    krow[1] = j + 1 < n ? krow[0] + ldb : krow[0];
    q8mm_keys(aq, ad, n_pad, k, krow, n - j < 2 ? n - j : 2, c + j * ldc, ldc, 1);
  }
}
/* Row r of the tile's queries where gemm_q8mm reads it (kernels.h). */
static void q8mm_place(const int8_t *q, const float *d, int r, int k, int8_t *aq, float *ad) {
  const int nb = k / VECATTN_Q8_0_BLOCK;
  int8_t *pair = aq + (int64_t)(r / 2) * 2 * k + 8 * (r % 2);
  float *pd = ad + (int64_t)(r / 2) * 4 * nb + r % 2;
  for (int b = 0; b < nb; ++b) {
    for (int s = 0; s < VECATTN_Q8_0_BLOCK / 8; ++s) memcpy(pair + b * 64 + s * 16, q + b * 32 + s * 8, 8);
    pd[4 * b] = pd[4 * b + 2] = d[b];
  }
}
#define VF_GEMM_Q8MM gemm_q8mm
#define VF_Q8MM_PLACE q8mm_place
#elif defined(VF_HAVE_I8DOT_LANES)
#include "gemm_q8dp.h"
#define VF_GEMM_Q8MM gemm_q8dp
#define VF_Q8MM_PLACE q8dp_place
#else
#define VF_GEMM_Q8MM NULL
#define VF_Q8MM_PLACE NULL
#endif

#endif
