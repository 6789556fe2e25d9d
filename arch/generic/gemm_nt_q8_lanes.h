/* Decode scores against q8_0 K with int8 products, rows across the lanes, for
 * 16-lane ISAs whose products take one unsigned side (VF_HAVE_I8DOT_LANES:
 * vi8_bcast, vi8_flip, vi32_dot u8 x s8, vf_permute): AVX512_VNNI's VPDPBUSD.
 * Same arithmetic as gemm_nt_q8.h (opts.reduced_precision): per (query, key)
 * block an exact int32 sum, times both scales, summed in f32.
 *
 * Why not gemm_nt_q8.h's layout: there a (key, row) pair takes per 64 bytes
 * a product, a convert, a multiply of the scales and an FMA, because the
 * block scale changes every 32 bytes: 4 operations where f32 needs 4 FMAs.
 * Here the R rows of a GQA group share each vector (R groups of 64 / R
 * bytes), and a key's bytes are broadcast to every group by the load itself,
 * so one product serves R rows and the convert, scale and FMA are paid once a
 * (key, block) for all of them. Per key and 32-element block at R = 4: 2
 * broadcast loads, 2 sign flips, 2 products, then convert, scale broadcast,
 * multiply, FMA (the f32 path: 8 FMAs and 6 widening operations).
 *
 * The K bytes are the unsigned side: flipping their sign bit gives k + 128,
 * so each lane's sum is off by 128 times its queries' bytes, a per-tile
 * constant that starts every block's sum. Rows past m repeat row 0; scores
 * are stored for rs rows a key (rs 1 computes R = 2 and keeps one). */
#ifndef VECATTN_GENERIC_GEMM_NT_Q8_LANES_H
#define VECATTN_GENERIC_GEMM_NT_Q8_LANES_H

#if defined(VF_HAVE_I8DOT_LANES) && VF_LANES == 16
static inline int q8l_rows(int rs) { return rs < 2 ? 2 : rs; }

/* Where pack_q8_lanes' three parts start (layout below). */
typedef struct {
  int8_t *qv;
  int32_t *corr;
  float *qd;
} q8l_parts;
static inline q8l_parts q8l_split(const void *packed, int k, int R) {
  q8l_parts p;
  p.qv = (int8_t *)packed;
  p.corr = (int32_t *)(p.qv + (int64_t)k * R);
  p.qd = (float *)(p.corr + (int64_t)k / VECATTN_Q8_0_BLOCK * 16);
  return p;
}

/* The tile's query side for k dimensions and R rows, per 32-element block g:
 * `steps` vectors, vector s holding in lane group r row r's bytes
 * s * cb .. s * cb + cb - 1 of the block (cb = 64 / R); then per block each
 * lane's -128 x its bytes summed over the steps (int32); then per block row
 * r's scale in its lane group. k * R + 4k bytes (VECATTN_Q8_PACK_BYTES). */
static void pack_q8_lanes(const int8_t *aq, const float *ad, int m, int rs, int k, void *dst) {
  const int R = q8l_rows(rs), nb = k / VECATTN_Q8_0_BLOCK, cb = 64 / R, steps = VECATTN_Q8_0_BLOCK / cb;
  const q8l_parts parts = q8l_split(dst, k, R);
  int8_t *qv = parts.qv;
  int32_t *corr = parts.corr;
  float *qd = parts.qd;
  for (int g = 0; g < nb; ++g) {
    for (int i = 0; i < 16; ++i) qd[g * 16 + i] = ad[(int64_t)(i * R / 16 < m ? i * R / 16 : 0) * nb + g];
    vi32 sum = vi32_zero();
    for (int s = 0; s < steps; ++s) {
      int8_t *v = qv + ((int64_t)g * steps + s) * 64;
      for (int r = 0; r < R; ++r)
        memcpy(v + r * cb, aq + (int64_t)(r < m ? r : 0) * k + (int64_t)g * VECATTN_Q8_0_BLOCK + s * cb, (size_t)cb);
      sum = vi32_dot(sum, vi8_set1(-128), vi8_load(v)); /* 0x80: 128 as the unsigned side */
    }
    vi32_store(corr + g * 16, vi32_neg(sum));
  }
}

/* 16 / R keys (rows[c]) at once, each block's query vectors loaded once for
 * all: lanes of row group r of v[c] hold partial sums that add up to the
 * (row r, key c) score. With with_ahead, the rows ahead[c] are prefetched
 * (K, to L1); with pf_lines 1 or 2, that many lines of pf[c] a block (V, to
 * L2): constants, so the loop tests nothing per key. */
static inline __attribute__((always_inline)) void q8l_keys(const int8_t *qv, const int32_t *corr, const float *qd,
                                                           int nb, const vf_byte *const *rows,
                                                           const vf_byte *const *ahead, const vf_byte *const *pf,
                                                           int64_t pf_block, const int R, const int with_ahead,
                                                           const int pf_lines, vf *v) {
  const int cb = 64 / R, steps = VECATTN_Q8_0_BLOCK / cb, keys = 16 / R;
  for (int c = 0; c < keys; ++c) v[c] = vf_zero();
  for (int g = 0; g < nb; ++g) {
    const int64_t off = (int64_t)g * VECATTN_Q8_0_BLOCK_BYTES;
    const vi32 c0 = vi32_load(corr + g * 16);
    const vf d = vf_load(qd + g * 16);
    vi8 q[4];
    for (int s = 0; s < steps; ++s) q[s] = vi8_load(qv + ((int64_t)g * steps + s) * 64);
    for (int c = 0; c < keys; ++c) {
      const vf_byte *blk = rows[c] + off;
      if (with_ahead) __builtin_prefetch(ahead[c] + off, 0, VF_PREFETCH_LOCALITY);
      if (pf_lines) __builtin_prefetch(pf[c] + (int64_t)g * pf_block, 0, VF_PREFETCH_L2);
      if (pf_lines > 1) __builtin_prefetch(pf[c] + (int64_t)g * pf_block + 64, 0, VF_PREFETCH_L2);
      vi32 dot = c0;
      for (int s = 0; s < steps; ++s) dot = vi32_dot(dot, vi8_flip(vi8_bcast(blk + 2 + s * cb, cb)), q[s]);
      v[c] = vf_fma(vf_from_i32(dot), vf_mul(d, vf_bcast_f16(blk)), v[c]);
    }
  }
}

/* 16 / R keys' vectors (q8l_keys) folded into one: (key c, row r) at lane
 * c * rs + r for r < rs, by pair sums and one permute. */
static inline __attribute__((always_inline)) vf q8l_fold(vf *v, const int R, const int rs) {
  if (R == 8) { /* per 128 bits G: key 0 rows 2G, 2G + 1, key 1 rows 2G, 2G + 1 */
    static const int32_t idx[16] = {0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15};
    return vf_permute(vf_pair_sum(v[0], v[1]), idx);
  }
  if (R == 4) { /* per 128 bits G: row G of keys 0 .. 3 */
    static const int32_t idx[16] = {0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15};
    return vf_permute(vf_pair_sum(vf_pair_sum(v[0], v[1]), vf_pair_sum(v[2], v[3])), idx);
  }
  /* R == 2: per 128 bits, quarter G of keys 0 .. 3 (x0) and 4 .. 7 (x1);
   * adding quarters 0 + 1 (row 0) and 2 + 3 (row 1) leaves row r, key c at 8r + c. */
  const vf x0 = vf_pair_sum(vf_pair_sum(v[0], v[1]), vf_pair_sum(v[2], v[3]));
  const vf x1 = vf_pair_sum(vf_pair_sum(v[4], v[5]), vf_pair_sum(v[6], v[7]));
  const vf t = vf_add(vf_blend_bit(x0, x1, 4), vf_butterfly(vf_blend_bit(x1, x0, 4), 4));
  if (rs == 1) return t; /* row 0 of keys 0 .. 7 */
  static const int32_t idx[16] = {0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15};
  return vf_permute(t, idx);
}

static inline __attribute__((always_inline)) void gemm_nt_st_q8_lanes_r(const void *packed, int rs, vecattn_rows b,
                                                                        int n, int k, float *st, vecattn_rows pf,
                                                                        const int R) {
  const int nb = k / VECATTN_Q8_0_BLOCK, keys = 16 / R;
  const q8l_parts parts = q8l_split(packed, k, R);
  const int8_t *qv = parts.qv;
  const int32_t *corr = parts.corr;
  const float *qd = parts.qd;
  const vf_byte *bp = b.p, *pfp = pf.p;
  /* One row: its stride is never used, and the API lets it be anything. */
  const int64_t ldb = n > 1 ? dt_bytes(VECATTN_Q8_0, b.ld) : 0, ldpf = n > 1 && pfp ? dt_bytes(pf.t, pf.ld) : 0;
  const int64_t pf_block = pfp ? dt_bytes(pf.t, VECATTN_Q8_0_BLOCK) : 0;
  for (int j = 0; j < n; j += keys) {
    vf v[8];
    const vf_byte *rows[8], *ahead[8], *pfrow[8];
    int all_ahead = 1, all_pf = pfp != NULL; /* else none: a run's last keys go without */
    for (int c = 0; c < keys; ++c) {
      const int real = j + c < n, jj = real ? j + c : n - 1; /* lanes of keys past n are not stored */
      rows[c] = bp + jj * ldb;
      ahead[c] = real ? q8_row_ahead(b, ldb, jj) : NULL;
      pfrow[c] = pfp ? pfp + jj * ldpf : NULL;
      all_ahead &= ahead[c] != NULL;
      all_pf &= real;
    }
    const int pf_lines = !all_pf ? 0 : pf_block > 64 ? 2 : 1;
    if (all_ahead && pf_lines == 2) q8l_keys(qv, corr, qd, nb, rows, ahead, pfrow, pf_block, R, 1, 2, v);
    else if (all_ahead && pf_lines == 1) q8l_keys(qv, corr, qd, nb, rows, ahead, pfrow, pf_block, R, 1, 1, v);
    else if (pf_lines == 2) q8l_keys(qv, corr, qd, nb, rows, ahead, pfrow, pf_block, R, 0, 2, v);
    else if (pf_lines == 1) q8l_keys(qv, corr, qd, nb, rows, ahead, pfrow, pf_block, R, 0, 1, v);
    else q8l_keys(qv, corr, qd, nb, rows, ahead, pfrow, pf_block, R, all_ahead, 0, v);
    vf_store_n(st + (int64_t)j * rs, q8l_fold(v, R, rs), (n - j < keys ? n - j : keys) * rs);
  }
}

/* gemm_nt_st_q8 on pack_q8_lanes' layout (aq), rs <= 8. */
static void gemm_nt_st_q8_lanes(const int8_t *aq, const float *ad, int m, int rs, vecattn_rows b, int n, int k,
                                float *st, vecattn_rows pf) {
  (void)ad, (void)m;
  switch (q8l_rows(rs)) {
  case 2: gemm_nt_st_q8_lanes_r(aq, rs, b, n, k, st, pf, 2); break;
  case 4: gemm_nt_st_q8_lanes_r(aq, rs, b, n, k, st, pf, 4); break;
  default: gemm_nt_st_q8_lanes_r(aq, rs, b, n, k, st, pf, 8); break;
  }
}
#endif

#endif
