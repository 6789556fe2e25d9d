/* Decode scores against q8_0 K with int8 products, for ISAs whose vec.h has
 * an int8 dot product (VF_HAVE_I8DOT: vi8, vi32, vi32_dot): calls that set
 * opts.reduced_precision. The tile's queries are quantised once like q8_0
 * (int8 per 32-element block, but an f32 scale); each (query, key) block is
 * then an exact int32 sum of 32 products (|sum| <= 32 * 127^2 < 2^24, so also
 * exact as f32) times both block scales, accumulated in f32. The only rounding
 * beyond the f32 path's is the queries' quantisation.
 *
 * Instruction counts per 32-element block on NEON: widening K costs per 4
 * elements a load, two sign extensions, a convert and a multiply by the scale
 * (40 per key), then 8 FMAs per (query, key) pair; here two 16-byte loads per
 * key and per query, and per pair two SDOTs, a convert, a multiply of the two
 * scales and one FMA: 5 against 8 + 40 / (queries per key). On SVE a step
 * is one block at 256 bits (MOVPRFX, SDOT, convert, multiply, FMA per pair;
 * one load and the scale, 4, per key, against 4 FMAs per pair and 15 per key
 * widening) and two blocks at 512 (the same 5 per pair; 10 per key joining
 * two blocks and their scales, against 4 and 18 per two blocks). */
#ifndef VECATTN_GENERIC_GEMM_NT_Q8_H
#define VECATTN_GENERIC_GEMM_NT_Q8_H

#if defined(VF_HAVE_I8DOT) || defined(VF_HAVE_I8DOT_LANES)
#include <stdint.h>
#include <string.h>

#include "convert.h" /* q8_block */
#include "gemm.h"    /* VF_PREFETCH_* */
#include "lanes.h"
#include "typed.h"

/* The queries quantised by q8_0's rule, with f32 scales. */
static void quantize_q8(const float *x, int64_t n, int8_t *q, float *d) {
  for (int64_t b = 0; b < n / VECATTN_Q8_0_BLOCK; ++b)
    d[b] = q8_block(x + b * VECATTN_Q8_0_BLOCK, q + b * VECATTN_Q8_0_BLOCK);
}

/* The row VF_PREFETCH_ROWS after row j: in this run, in the next page (p2), or none. */
static inline const vf_byte *q8_row_ahead(vecattn_rows b, int64_t ldb, int64_t j) {
  return vf_row_ahead((const vf_byte *)b.p, ldb, j + VF_PREFETCH_ROWS, b.run ? b.run : INT64_MAX,
                      (const vf_byte *)b.p2, b.run2);
}
#endif

#ifdef VF_HAVE_I8DOT

#define VF_I8_BYTES (4 * VF_LANES) /* int8 in one vector */
#if VF_I8_BYTES <= VECATTN_Q8_0_BLOCK
#define VF_Q8_BLOCKS 1 /* q8_0 blocks a step covers */
#define VF_I8_STEPS (VECATTN_Q8_0_BLOCK / VF_I8_BYTES)
#if VECATTN_Q8_0_BLOCK % VF_I8_BYTES
#error "int8 products need vectors that divide a q8_0 block"
#endif
#elif VF_I8_BYTES == 2 * VECATTN_Q8_0_BLOCK /* 512-bit SVE: vi8_load_halves, vf_set_halves */
#define VF_Q8_BLOCKS 2
#define VF_I8_STEPS 1
#else
#error "int8 products need vectors of at most two q8_0 blocks"
#endif

/* A step's int8 and scales: blocks blk (and blk + 1 when two) of a q8_0 row,
 * and of a quantised query row (int8 q, scales d). A missing second block
 * reads as zeros with scale 0, which adds 0. */
static inline __attribute__((always_inline)) void q8_key_step(const vf_byte *row, int blk, int two, vi8 *kv,
                                                              vf *kd) {
  const int8_t *kb = (const int8_t *)(row + (int64_t)blk * VECATTN_Q8_0_BLOCK_BYTES) + 2;
#if VF_Q8_BLOCKS == 1
  (void)two;
  *kd = vf_q8_scale(row, (int64_t)blk * VECATTN_Q8_0_BLOCK);
  for (int s = 0; s < VF_I8_STEPS; ++s) kv[s] = vi8_load(kb + s * VF_I8_BYTES);
#else
  uint16_t d[2] = {0, 0};
  memcpy(&d[0], kb - 2, sizeof d[0]);
  if (two) memcpy(&d[1], kb - 2 + VECATTN_Q8_0_BLOCK_BYTES, sizeof d[1]);
  *kd = vf_set_halves(vf_f16_1(d[0]), vf_f16_1(d[1]));
  kv[0] = vi8_load_halves(kb, two ? kb + VECATTN_Q8_0_BLOCK_BYTES : NULL);
#endif
}
static inline __attribute__((always_inline)) void q8_query_step(const int8_t *q, const float *d, int blk, int two,
                                                                vi8 *qv, vf *qd) {
  q += (int64_t)blk * VECATTN_Q8_0_BLOCK;
#if VF_Q8_BLOCKS == 1
  (void)two;
  *qd = vf_set1(d[blk]);
  for (int s = 0; s < VF_I8_STEPS; ++s) qv[s] = vi8_load(q + s * VF_I8_BYTES);
#else
  *qd = vf_set_halves(d[blk], two ? d[blk + 1] : 0.0f);
  qv[0] = two ? vi8_load(q) : vi8_load_halves(q, NULL);
#endif
}

/* One (key, row) pair of a step: an exact int32 sum, times both scales. */
static inline __attribute__((always_inline)) vf q8_pair(vf acc, const vi8 *qv, vf qd, const vi8 *kv, vf kd) {
  vi32 dot = vi32_zero();
  for (int s = 0; s < VF_I8_STEPS; ++s) dot = vi32_dot(dot, qv[s], kv[s]);
  return vf_fma(vf_from_i32(dot), vf_mul(qd, kd), acc);
}

/* kg keys x rs rows (kg * rs == VF_LANES): acc[vf_hsum_slot(c * rs + r)]
 * holds (key c, row r) and one vf_hsum_lanes folds them into a vector of S^T.
 * Each step holds the smaller side's vectors and streams the other's:
 * VF_LANES accumulators plus min(kg, rs) int8 vectors and scales (at most 28
 * of SVE's 32 registers at 512 bits). bahead rows (K rows VF_PREFETCH_ROWS
 * on, NULL past the page) and pf rows (V of these keys, L2) are prefetched as
 * the blocks go by. */
static inline __attribute__((always_inline)) void gemm_nt_q8_block(
    const int8_t *const *aq, const float *const *ad, const vf_byte *const *brow, const vf_byte *const *bahead, int nb,
    const vf_byte *const *pfrow, int64_t pf_block, float *st, const int rs, const int kg) {
  vf acc[VF_LANES];
  for (int i = 0; i < VF_LANES; ++i) acc[i] = vf_zero();
  for (int blk = 0; blk < nb; blk += VF_Q8_BLOCKS) {
    const int two = VF_Q8_BLOCKS > 1 && blk + 1 < nb, nblk = 1 + two;
    for (int c = 0; c < kg; ++c)
      for (int u = 0; u < nblk; ++u) {
        if (bahead[c])
          __builtin_prefetch(bahead[c] + (int64_t)(blk + u) * VECATTN_Q8_0_BLOCK_BYTES, 0, VF_PREFETCH_LOCALITY);
        if (pfrow) {
          const vf_byte *vb = pfrow[c] + (blk + u) * pf_block;
          __builtin_prefetch(vb, 0, VF_PREFETCH_L2);
          if (pf_block > 64) __builtin_prefetch(vb + 64, 0, VF_PREFETCH_L2);
        }
      }
    vi8 kv[VF_LANES][VF_I8_STEPS], qv[VF_LANES][VF_I8_STEPS];
    vf kd[VF_LANES], qd[VF_LANES];
    if (kg >= rs) { /* decode of one head: the rows held, keys streamed */
      for (int r = 0; r < rs; ++r) q8_query_step(aq[r], ad[r], blk, two, qv[r], &qd[r]);
      for (int c = 0; c < kg; ++c) {
        q8_key_step(brow[c], blk, two, kv[0], &kd[0]);
        for (int r = 0; r < rs; ++r)
          acc[vf_hsum_slot(c * rs + r)] = q8_pair(acc[vf_hsum_slot(c * rs + r)], qv[r], qd[r], kv[0], kd[0]);
      }
    } else { /* a query group: the keys held, rows streamed */
      for (int c = 0; c < kg; ++c) q8_key_step(brow[c], blk, two, kv[c], &kd[c]);
      for (int r = 0; r < rs; ++r) {
        q8_query_step(aq[r], ad[r], blk, two, qv[0], &qd[0]);
        for (int c = 0; c < kg; ++c)
          acc[vf_hsum_slot(c * rs + r)] = q8_pair(acc[vf_hsum_slot(c * rs + r)], qv[0], qd[0], kv[c], kd[c]);
      }
    }
  }
  vf_store(st, vf_hsum_lanes(acc));
}

/* rs < VF_LANES: VF_LANES / rs keys per vector of S^T (keys past n - 1 repeat
 * it, their lanes land in the room callers leave); otherwise VF_LANES rows of
 * one key per vector, rows past m repeating row 0. */
static void gemm_nt_st_q8(const int8_t *aq, const float *ad, int m, int rs, vecattn_rows b, int n, int k,
                          float *st, vecattn_rows pf) {
  const int nb = k / VECATTN_Q8_0_BLOCK;
  const vf_byte *bp = b.p, *pfp = pf.p;
  /* One row: its stride is never used, and the API lets it be anything. */
  const int64_t ldb = n > 1 ? dt_bytes(VECATTN_Q8_0, b.ld) : 0, ldpf = n > 1 && pfp ? dt_bytes(pf.t, pf.ld) : 0;
  const int64_t pf_block = pfp ? dt_bytes(pf.t, VECATTN_Q8_0_BLOCK) : 0;
  const int8_t *arow[VF_LANES];
  const float *drow[VF_LANES];
  const vf_byte *brow[VF_LANES], *bahead[VF_LANES], *pfrow[VF_LANES];
  if (rs < VF_LANES) {
    const int kg = VF_LANES / rs;
    for (int r = 0; r < rs; ++r) arow[r] = aq + (int64_t)(r < m ? r : 0) * k, drow[r] = ad + (int64_t)(r < m ? r : 0) * nb;
    for (int j = 0; j < n; j += kg) {
      for (int c = 0; c < kg; ++c) {
        const int jj = j + c < n ? j + c : n - 1;
        brow[c] = bp + jj * ldb;
        bahead[c] = q8_row_ahead(b, ldb, j + c);
        pfrow[c] = pfp ? pfp + jj * ldpf : NULL;
      }
      const vf_byte *const *pr = pfp ? pfrow : NULL;
      float *sj = st + (int64_t)j * rs;
      switch (rs) {
      case 1: gemm_nt_q8_block(arow, drow, brow, bahead, nb, pr, pf_block, sj, 1, VF_LANES); break;
      case 2: gemm_nt_q8_block(arow, drow, brow, bahead, nb, pr, pf_block, sj, 2, VF_LANES / 2); break;
#if VF_LANES > 4
      case 4: gemm_nt_q8_block(arow, drow, brow, bahead, nb, pr, pf_block, sj, 4, VF_LANES / 4); break;
#endif
#if VF_LANES > 8
      case 8: gemm_nt_q8_block(arow, drow, brow, bahead, nb, pr, pf_block, sj, 8, VF_LANES / 8); break;
#endif
      }
    }
    return;
  }
  /* Chunks wholly past m are padding rows nobody reads. */
  for (int r0 = 0; r0 < m; r0 += VF_LANES) {
    for (int r = 0; r < VF_LANES; ++r) {
      const int rr = r0 + r < m ? r0 + r : 0;
      arow[r] = aq + (int64_t)rr * k, drow[r] = ad + (int64_t)rr * nb;
    }
    for (int j = 0; j < n; ++j) {
      brow[0] = bp + j * ldb;
      bahead[0] = r0 == 0 ? q8_row_ahead(b, ldb, j) : NULL;
      pfrow[0] = pfp && r0 == 0 ? pfp + j * ldpf : NULL;
      gemm_nt_q8_block(arow, drow, brow, bahead, nb, pfrow[0] ? pfrow : NULL, pf_block, st + (int64_t)j * rs + r0,
                       VF_LANES, 1);
    }
  }
}
#define VF_QUANTIZE_Q8 quantize_q8
#define VF_GEMM_NT_ST_Q8 gemm_nt_st_q8
#define VF_PACK_Q8 NULL
#elif defined(VF_HAVE_I8DOT_LANES)
#include "gemm_nt_q8_lanes.h"
#define VF_QUANTIZE_Q8 quantize_q8
#define VF_GEMM_NT_ST_Q8 gemm_nt_st_q8_lanes
#define VF_PACK_Q8 pack_q8_lanes
#else
#define VF_QUANTIZE_Q8 NULL
#define VF_GEMM_NT_ST_Q8 NULL
#define VF_PACK_Q8 NULL
#endif

#endif
