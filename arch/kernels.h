/* The seam between the portable driver and the per-ISA code: every ISA
 * directory fills one of these tables; the driver never sees intrinsics.
 *
 * Scores live transposed, S^T[key][query row], so a tile's query rows sit in
 * vector lanes: the online softmax is then lane-wise (no horizontal reductions)
 * and K is read in its own layout by broadcast, never repacked. */
#ifndef VECATTN_KERNELS_H
#define VECATTN_KERNELS_H

#include <stdint.h>
#include "vecattn.h"

/* Rows of a matrix of any element type: row r starts ld elements after row r - 1
 * (for Q8_0, ld and the row width are whole blocks). run: how many rows from p on
 * follow that rule (a page of a paged cache ends there), so kernels prefetch no
 * row past it; 0: as many as the call reads and more (contiguous storage). p2:
 * NULL, or where the rows after the run continue (the next page, same ld), run2
 * of them: kernels may prefetch there, and compute only on the rows asked for.
 * at: NULL, or row r starts at at[r] for every row the call reads (rows gathered
 * across pages; p, ld, run and p2 are then unused), where a kernel takes it. */
typedef struct {
  const void *p;
  int64_t ld;
  vecattn_dtype t;
  int64_t run;
  const void *p2;
  int64_t run2;
  const void *const *at;
} vecattn_rows;

/* Bytes a pack_q8 output of k dimensions may take: 8 rows' int8, then a
 * 64-byte sum and a 64-byte scale vector per 32-element block. */
#define VECATTN_Q8_PACK_BYTES(k) ((int64_t)(k) * 12)

struct vecattn_kernels {
  vecattn_isa isa;
  const char *name;
  int lanes;   /* floats per vector: row and column counts below are padded to it */
  int block_q; /* query rows per tile: whole gemm column blocks */
  int block_k; /* keys per step: a power of two */
  int gemm_mr; /* rows of one gemm register block: packed A panels are this tall */
  int gemm_nr; /* columns of one gemm register block (whole vectors): packed B panel width */

  /* C[r][:n_pad] = (row_scale ? row_scale[r] * C[r][:] : 0) + sum_p A[r][p] * B[p][:n_pad]
   * for r < m, p < k, where A[r][p] = a[r * a_row + p * a_col] (read by broadcast, so
   * either operand order works). n_pad is a multiple of lanes. */
  void (*gemm)(const float *a, int64_t a_row, int64_t a_col, int m, const float *b, int64_t ldb,
               int k, int n_pad, float *c, int64_t ldc, const float *row_scale);

  /* gemm with A's m rows gathered (row r at a_at[r], k floats) and a_col 1: the
   * scores of a block of f32 keys spread over pages, in one call. */
  void (*gemm_at)(const float *const *a_at, int m, const float *b, int64_t ldb, int k, int n_pad, float *c,
                  int64_t ldc);

  /* gemm with B of any element type, widened as it is loaded: P.V over V as it lies in
   * memory, B's rows strided or gathered (b.at: V rows of several pages in one call, pf
   * then unused). pf.p, if not NULL: rows pf[p][:n_pad], p < k, are prefetched into L2
   * as B is swept (decode streams the next K block while P.V computes). */
  void (*gemm_typed)(const float *a, int64_t a_row, int64_t a_col, int m, vecattn_rows b, int k,
                     int n_pad, float *c, int64_t ldc, const float *row_scale, vecattn_rows pf);

  /* C[r * c_row + j * c_col] = sum_p A[r][p] * B[j][p] for r < m, j < n, p < k (any k):
   * dot products along contiguous rows, for tiles too short to fill vector lanes. */
  void (*gemm_nt)(const float *a, int64_t lda, int m, const float *b, int64_t ldb, int n, int k,
                  float *c, int64_t c_row, int64_t c_col);

  /* S^T[j * rs + r] = sum_p A[r][p] * B[j][p] for j < n, r < rs (rows m <= r < rs repeat
   * row 0): a few query rows' scores (decode) written straight into S^T with row stride rs.
   * rs is a power of two when below lanes; then the last vector may run past key n - 1,
   * up to a whole vector of S^T. pf, if not NULL: rows pf[j * ldpf][:k] are prefetched into
   * L2 alongside B (decode fetches the V rows of these keys while it scores them). B is
   * of any element type, widened as it is loaded (decode never copies K). */
  void (*gemm_nt_st)(const float *a, int64_t lda, int m, int rs, vecattn_rows b, int n, int k,
                     float *st, vecattn_rows pf);

  /* Online-softmax step over S^T[nk][rows_pad], lane-wise per query row r:
   * m' = max(m[r], max_c S^T[c][r]); S^T[c][r] = exp(S^T[c][r] - m');
   * alpha[r] = exp(m[r] - m'); l[r] = alpha[r] * l[r] + sum_c S^T[c][r]; m[r] = m'.
   * Rows that have seen only -inf stay at m = -inf with zero weights.
   * rows_pad below lanes (a power of two, ld == rows_pad): each vector holds several keys
   * of all rows, and m, l, alpha are read and written replicated over the first lanes floats. */
  void (*softmax_update)(float *st, int64_t ld, int nk, int rows_pad, float *m, float *l,
                         float *alpha);
  /* The same for rows_pad >= lanes on ISAs with bf16 products (else NULL), the
   * weights written not to st (left as it was) but to pairs[q * ld_pairs + r] as
   * bf16(weight of key 2q) | bf16(key 2q + 1) << 16 (a zero past nk), as
   * pack_bf16_pairs would round them. */
  void (*softmax_update_pairs)(const float *st, int64_t ld, int nk, int rows_pad, float *m, float *l,
                               float *alpha, uint32_t *pairs, int64_t ld_pairs);

  /* x[:n] = exp(x[:n] - shift); returns the sum of the new x. */
  float (*exp_shift_sum)(float *x, int64_t n, float shift);

  /* x[:n] *= a */
  void (*scale)(float *x, int64_t n, float a);

  /* y[:n] = a * y[:n] + b * x[:n] */
  void (*scale_add)(float *y, const float *x, int64_t n, float a, float b);

  /* Additive scores: C[r * c_row + j * c_col] = sum_a v[a] * tanh(qp[r][a] + kp[j][a])
   * for r < m, j < n, a < da; rows of qp/kp at strides ldq/ldk. da is a multiple of
   * lanes: callers pad qp, kp and v with zeros, which add tanh(0) * 0 = 0. */
  void (*additive)(const float *qp, int64_t ldq, int m, const float *kp, int64_t ldk, int n,
                   const float *v, int da, float *c, int64_t c_row, int64_t c_col);

  /* Packs a B^T panel for gemm: dst[p][j] = w[j * ldw + p] for j < cols, 0 for
   * cols <= j < nr, p < k (nr a multiple of lanes). */
  void (*pack_bt)(const float *w, int64_t ldw, int cols, int64_t k, int nr, float *dst);
  /* A tile's scaled queries as Q^T: dst[p * ld + j] = a * rows[j][p] widened from type
   * t (F32, F16 or BF16), bit for bit a * to_f32(rows[j])[p], for j < n; 0 for n <= j
   * < nr; p < k (nr and ld multiples of lanes). */
  void (*pack_scaled_t)(const void *const *rows, vecattn_dtype t, int n, int64_t k, float a, int nr,
                        float *dst, int64_t ld);

  /* dst[:n] = src[:n] widened to f32 / src[:n] rounded to type t (nearest even; for Q8_0,
   * n whole blocks, quantised as vecattn_convert documents). */
  void (*to_f32)(const void *src, vecattn_dtype t, float *dst, int64_t n);
  void (*from_f32)(const float *src, vecattn_dtype t, void *dst, int64_t n);
  /* The same with a scale, in one pass, bit for bit what scale() and then to_f32 /
   * from_f32 give: dst[:n] = a * widened src[:n] (queries), dst[:n] = a * src[:n] rounded
   * to t (output rows; t is F32, F16 or BF16). */
  void (*scale_to_f32)(const void *src, vecattn_dtype t, float *dst, int64_t n, float a);
  void (*scale_from_f32)(const float *src, float a, vecattn_dtype t, void *dst, int64_t n);

  /* bf16 products, NULL on ISAs without them. Operands are pairs of bf16 in 32 bits
   * (low half first): C[r][:n_pad] = (row_scale ? row_scale[r] * C[r][:] : 0) +
   * sum_{q < k2} A[r][q].lo * B[q][:].lo + A[r][q].hi * B[q][:].hi, A[r][q] =
   * a[r * a_row + q * a_col] (in pairs; a need not be 4-byte aligned) read by broadcast,
   * accumulated in f32. */
  void (*gemm_bf16)(const void *a, int64_t a_row, int64_t a_col, int m, const uint32_t *b,
                    int64_t ldb, int k2, int n_pad, float *c, int64_t ldc, const float *row_scale);
  /* dst[j] = bf16(x0[j]) | bf16(x1[j]) << 16 for j < n (x1 NULL: zeros), rounded to
   * nearest even: two rows of type t (Q8_0: n whole blocks) widened in registers and
   * interleaved as the pairs gemm_bf16 reads (bf16 rows: zip_bf16 does it without rounding). */
  void (*pack_bf16_pairs)(const void *x0, const void *x1, vecattn_dtype t, int n, uint32_t *dst);
  /* One row of type t rounded the same way, in order: dst[j] = bf16(x[j]), j < n (K rows
   * as the scores' pairs along D). */
  void (*pack_bf16_row)(const void *x, vecattn_dtype t, int n, uint16_t *dst);
  /* The same for rows already in bf16: dst[j] = b0[j] | b1[j] << 16 (b1 NULL: zeros). */
  void (*zip_bf16)(const uint16_t *b0, const uint16_t *b1, int n, uint32_t *dst);
  /* gemm_nt_st with bf16 products, for B of type BF16 (read in place: its rows are
   * pairs along k) and rs < lanes; k even, row r of A the pairs a + r * lda (a
   * scaled query row rounded to bf16). */
  void (*gemm_nt_st_bf16)(const uint32_t *a, int64_t lda, int m, int rs, vecattn_rows b, int n, int k,
                          float *st, vecattn_rows pf);

  /* int8 products, NULL on ISAs without them. quantize_q8: x[:n] (n whole 32-element
   * blocks) as int8 q[:n] and one f32 scale per block, d = max|x| / 127, q = x / d rounded
   * to nearest even. gemm_nt_st_q8: gemm_nt_st for B of type Q8_0 with A given that way
   * (row r: aq + r * k int8, ad + r * k / 32 scales): each block's product is an exact
   * int32 sum, times the two scales, accumulated in f32. */
  void (*quantize_q8)(const float *x, int64_t n, int8_t *q, float *d);
  void (*gemm_nt_st_q8)(const int8_t *aq, const float *ad, int m, int rs, vecattn_rows b, int n, int k,
                        float *st, vecattn_rows pf);
  /* NULL, or the layout gemm_nt_st_q8 reads instead (then given as aq, ad NULL;
   * rs <= 8): rows m (rs) of quantize_q8's output rearranged once per tile into
   * dst, at most VECATTN_Q8_PACK_BYTES(k) bytes. */
  void (*pack_q8)(const int8_t *aq, const float *ad, int m, int rs, int k, void *dst);
  /* int8 products in prefill, NULL on ISAs without them: c[j * ldc + r] = the
   * gemm_nt_st_q8 product of row r and row j of B (type Q8_0, k whole blocks) for j < n,
   * r < n_pad (a multiple of lanes), the rows quantised as quantize_q8 does and each put
   * where this ISA reads it by q8mm_place (aq: n_pad * k bytes, ad: at most n_pad * k / 16
   * floats). Matrix products (SMMLA) take rows in pairs: pair p's int8 at aq + p * 2k, per
   * block and 8-byte chunk s the chunk of row 2p then of row 2p + 1, its scales at
   * ad + (p * k / 32 + blk) * 4 as d(2p), d(2p + 1), d(2p), d(2p + 1) (gemm_q8mm.h);
   * VPDPBUSD takes 16 rows in the lanes (gemm_q8dp.h). */
  void (*gemm_q8mm)(const int8_t *aq, const float *ad, int n_pad, vecattn_rows b, int n, int k, float *c,
                    int64_t ldc);
  void (*q8mm_place)(const int8_t *q, const float *d, int r, int k, int8_t *aq, float *ad);
};

extern const struct vecattn_kernels vecattn_kernels_scalar;
extern const struct vecattn_kernels vecattn_kernels_sse2;
extern const struct vecattn_kernels vecattn_kernels_avx2;
extern const struct vecattn_kernels vecattn_kernels_avx512;
extern const struct vecattn_kernels vecattn_kernels_neon;
extern const struct vecattn_kernels vecattn_kernels_avx512bf16;
extern const struct vecattn_kernels vecattn_kernels_neonbf16;
extern const struct vecattn_kernels vecattn_kernels_sve128;
extern const struct vecattn_kernels vecattn_kernels_sve256;
extern const struct vecattn_kernels vecattn_kernels_sve512;
extern const struct vecattn_kernels vecattn_kernels_neon32;
extern const struct vecattn_kernels vecattn_kernels_neondot;
extern const struct vecattn_kernels vecattn_kernels_svebf16_256;
extern const struct vecattn_kernels vecattn_kernels_svebf16_512;

#endif
