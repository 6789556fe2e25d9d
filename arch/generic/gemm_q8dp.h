/* Prefill scores against q8_0 K with int8 products on 16-lane ISAs whose
 * products take one unsigned side (VF_HAVE_I8DOT_LANES: AVX512_VNNI's
 * VPDPBUSD): the gemm_q8mm of kernels.h, for calls that set
 * opts.reduced_precision, with the queries quantised as in decode.
 *
 * Query rows are the lanes, as in the bf16 score product: per 16 rows, block
 * and 4-byte group w a vector of each row's 4 bytes (stored + 128 as u8), and
 * a key's 4 bytes broadcast by the load, so one VPDPBUSD adds 4 products to
 * each of 16 (row, key) pairs, and S^T comes out in rows as the flash loop
 * reads it. Per (16 rows, key, block): 8 products, a convert, the two
 * scales' multiply and an FMA, 11 operations for 512 products; bf16 products
 * take 16, plus widening K to bf16 pairs first. The queries' + 128 adds 128
 * times the key block's byte sum to every lane: taken back by starting each
 * block's sum at -128 x that sum, computed once per key and block for all
 * rows. As in gemm_nt_q8.h, each block's sum is exact in int32, then times
 * both scales into f32; the only rounding beyond f32 products is the
 * queries' quantisation. */
#ifndef VECATTN_GENERIC_GEMM_Q8DP_H
#define VECATTN_GENERIC_GEMM_Q8DP_H

#if defined(VF_HAVE_I8DOT_LANES) && VF_LANES == 16
#define Q8DP_KEYS 4    /* keys a register block: vi8_sum32_x4 sums one block of each */
#define Q8DP_CHUNK 16  /* blocks whose key sums and scales are held at once */
#define Q8DP_GROUPS (VECATTN_Q8_0_BLOCK / 4)
#define Q8DP_VEC_BYTES (16 * VECATTN_Q8_0_BLOCK) /* one block of 16 rows */

/* Row r of the tile's queries (q: k int8, d: k / 32 scales) where gemm_q8dp
 * reads it: aq[((r / 16 * nb + b) * 8 + w) * 64 + r % 16 * 4 + e] = byte
 * 4w + e of block b, + 128 as u8; ad[(r / 16 * nb + b) * 16 + r % 16] = d[b]. */
static void q8dp_place(const int8_t *q, const float *d, int r, int k, int8_t *aq, float *ad) {
  const int nb = k / VECATTN_Q8_0_BLOCK, v = r / 16, lane = r % 16;
  for (int b = 0; b < nb; ++b) {
    uint8_t *dst = (uint8_t *)aq + ((int64_t)v * nb + b) * Q8DP_VEC_BYTES + lane * 4;
    const uint8_t *src = (const uint8_t *)q + (int64_t)b * VECATTN_Q8_0_BLOCK;
    for (int w = 0; w < Q8DP_GROUPS; ++w)
      for (int e = 0; e < 4; ++e) dst[w * 64 + e] = (uint8_t)(src[4 * w + e] ^ 0x80);
    ad[((int64_t)v * nb + b) * 16 + lane] = d[b];
  }
}

/* rv vectors of rows (aq, ad at the first one's block 0) x Q8DP_KEYS keys
 * (krow; the first nkeys stored), blocks b0 .. b0 + nbc - 1: corr[g] / kd[g]
 * hold the keys' -128 x byte sums and scales of block b0 + g. add: sum into
 * c (blocks before b0 are there), else store. */
static inline __attribute__((always_inline)) void q8dp_block(const int8_t *aq, const float *ad, int nb, int b0,
                                                             int nbc, const vf_byte *const *krow,
                                                             const int32_t (*corr)[Q8DP_KEYS],
                                                             const float (*kd)[Q8DP_KEYS], float *c, int64_t ldc,
                                                             int nkeys, int add, const int rv) {
  vf acc[2][Q8DP_KEYS];
  for (int i = 0; i < rv; ++i)
    for (int j = 0; j < Q8DP_KEYS; ++j) acc[i][j] = add && j < nkeys ? vf_load(c + j * ldc + i * 16) : vf_zero();
  for (int g = 0; g < nbc; ++g) {
    const int64_t b = b0 + g, kb = b * VECATTN_Q8_0_BLOCK_BYTES + 2;
    vi32 dot[2][Q8DP_KEYS];
    for (int j = 0; j < Q8DP_KEYS; ++j)
      for (int i = 0; i < rv; ++i) dot[i][j] = vi32_set1(corr[g][j]);
    for (int w = 0; w < Q8DP_GROUPS; ++w) {
      vi8 qv[2];
      for (int i = 0; i < rv; ++i) qv[i] = vi8_load(aq + ((int64_t)i * nb + b) * Q8DP_VEC_BYTES + w * 64);
      for (int j = 0; j < Q8DP_KEYS; ++j) {
        const vi8 kw = vi8_bcast(krow[j] + kb + 4 * w, 4);
        for (int i = 0; i < rv; ++i) dot[i][j] = vi32_dot(dot[i][j], qv[i], kw);
      }
    }
    for (int i = 0; i < rv; ++i) {
      const vf qd = vf_load(ad + ((int64_t)i * nb + b) * 16);
      for (int j = 0; j < Q8DP_KEYS; ++j) acc[i][j] = vf_fma(vf_from_i32(dot[i][j]), vf_mul(qd, vf_set1(kd[g][j])), acc[i][j]);
    }
  }
  for (int j = 0; j < nkeys; ++j)
    for (int i = 0; i < rv; ++i) vf_store(c + j * ldc + i * 16, acc[i][j]);
}

/* S^T[j * ldc + r] = q8 products of row r and key j, j < n, r < n_pad (a
 * multiple of 16); rows as q8dp_place left them. */
static void gemm_q8dp(const int8_t *aq, const float *ad, int n_pad, vecattn_rows b, int n, int k, float *c,
                      int64_t ldc) {
  const int nb = k / VECATTN_Q8_0_BLOCK, nv = n_pad / 16;
  const vf_byte *bp = b.p;
  /* One row: its stride is never used, and the API lets it be anything. */
  const int64_t ldb = n > 1 ? dt_bytes(VECATTN_Q8_0, b.ld) : 0;
  for (int j = 0; j < n; j += Q8DP_KEYS) {
    const int nkeys = n - j < Q8DP_KEYS ? n - j : Q8DP_KEYS;
    const vf_byte *krow[Q8DP_KEYS];
    for (int i = 0; i < Q8DP_KEYS; ++i) krow[i] = bp + (j + (i < nkeys ? i : nkeys - 1)) * ldb;
    for (int b0 = 0; b0 < nb; b0 += Q8DP_CHUNK) {
      const int nbc = nb - b0 < Q8DP_CHUNK ? nb - b0 : Q8DP_CHUNK;
      int32_t corr[Q8DP_CHUNK][Q8DP_KEYS];
      float kd[Q8DP_CHUNK][Q8DP_KEYS];
      for (int g = 0; g < nbc; ++g) {
        const void *bytes[Q8DP_KEYS];
        for (int i = 0; i < Q8DP_KEYS; ++i) {
          const vf_byte *blk = krow[i] + (int64_t)(b0 + g) * VECATTN_Q8_0_BLOCK_BYTES;
          uint16_t h;
          memcpy(&h, blk, sizeof h);
          kd[g][i] = vf_f16_1(h);
          bytes[i] = blk + 2;
        }
        vi8_sum32_x4(bytes, corr[g]);
        for (int i = 0; i < Q8DP_KEYS; ++i) corr[g][i] *= -128;
      }
      int v = 0;
      for (; v + 2 <= nv; v += 2)
        q8dp_block(aq + (int64_t)v * nb * Q8DP_VEC_BYTES, ad + (int64_t)v * nb * 16, nb, b0, nbc, krow, corr, kd,
                   c + (int64_t)j * ldc + v * 16, ldc, nkeys, b0 > 0, 2);
      for (; v < nv; ++v)
        q8dp_block(aq + (int64_t)v * nb * Q8DP_VEC_BYTES, ad + (int64_t)v * nb * 16, nb, b0, nbc, krow, corr, kd,
                   c + (int64_t)j * ldc + v * 16, ldc, nkeys, b0 > 0, 1);
    }
  }
}
#endif

#endif
