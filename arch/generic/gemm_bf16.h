/* bf16 products over one ISA's vector layer, for ISAs whose vec.h has
 * vf_dot2 (VF_HAVE_DOT2): the gemm of generic/gemm.h with operands that are
 * pairs of bf16 along k, so one instruction does two products per lane. It
 * serves the scores (A = K rows as stored pairs, B = Q^T pairs) and P.V (A =
 * pairs of the transposed weights, B = interleaved pairs of V rows). */
#ifndef VECATTN_GENERIC_GEMM_BF16_H
#define VECATTN_GENERIC_GEMM_BF16_H

#include <stdint.h>
#include <string.h>

#ifdef VF_HAVE_DOT2
static inline __attribute__((always_inline)) void gemm_bf16_block(
    const void *a, int64_t a_row, int64_t a_col, int rows, const uint32_t *b, int64_t ldb, int k2,
    float *c, int64_t ldc, const float *row_scale, const int mr, const int nv) {
  vf acc[VF_MR][VF_NR];
  const unsigned char *arow[VF_MR]; /* bytes: K rows read in place need not be 4-byte aligned */
  for (int r = 0; r < mr; ++r) arow[r] = (const unsigned char *)a + (r < rows ? r : 0) * a_row * 4;
  for (int r = 0; r < mr; ++r) {
    const int rr = r < rows ? r : 0;
    const vf s = row_scale ? vf_set1(row_scale[rr]) : vf_zero();
    for (int j = 0; j < nv; ++j) acc[r][j] = row_scale ? vf_mul(s, vf_load(c + rr * ldc + j * VF_LANES)) : s;
  }
  for (int q = 0; q < k2; ++q) {
    vf bv[VF_NR];
    for (int j = 0; j < nv; ++j) bv[j] = vf_load((const float *)(b + q * ldb + j * VF_LANES));
    for (int r = 0; r < mr; ++r) {
      uint32_t pair;
      memcpy(&pair, arow[r] + q * a_col * 4, sizeof pair);
      const vf av = vf_set1_bits(pair);
      for (int j = 0; j < nv; ++j) acc[r][j] = vf_dot2(acc[r][j], av, bv[j]);
    }
  }
  for (int r = 0; r < mr; ++r) {
    if (r >= rows) break;
    for (int j = 0; j < nv; ++j) vf_store(c + r * ldc + j * VF_LANES, acc[r][j]);
  }
}

static inline __attribute__((always_inline)) void gemm_bf16_rows(
    const void *a, int64_t a_row, int64_t a_col, int rows, const uint32_t *b, int64_t ldb, int k2,
    int nvec, float *c, int64_t ldc, const float *row_scale, const int mr) {
  int j = 0;
  for (; j + VF_NR <= nvec; j += VF_NR)
    gemm_bf16_block(a, a_row, a_col, rows, b + j * VF_LANES, ldb, k2, c + j * VF_LANES, ldc, row_scale, mr, VF_NR);
  for (; j < nvec; ++j)
    gemm_bf16_block(a, a_row, a_col, rows, b + j * VF_LANES, ldb, k2, c + j * VF_LANES, ldc, row_scale, mr, 1);
}

static void gemm_bf16(const void *a, int64_t a_row, int64_t a_col, int m, const uint32_t *b, int64_t ldb,
                      int k2, int n_pad, float *c, int64_t ldc, const float *row_scale) {
  const int nvec = n_pad / VF_LANES;
  for (int r0 = 0; r0 < m; r0 += VF_MR) {
    const int rows = m - r0 < VF_MR ? m - r0 : VF_MR;
    const float *rs = row_scale ? row_scale + r0 : NULL;
    if (rows > 4)
      gemm_bf16_rows((const unsigned char *)a + r0 * a_row * 4, a_row, a_col, rows, b, ldb, k2, nvec, c + r0 * ldc, ldc, rs, VF_MR);
    else if (rows > 2)
      gemm_bf16_rows((const unsigned char *)a + r0 * a_row * 4, a_row, a_col, rows, b, ldb, k2, nvec, c + r0 * ldc, ldc, rs, 4);
    else
      gemm_bf16_rows((const unsigned char *)a + r0 * a_row * 4, a_row, a_col, rows, b, ldb, k2, nvec, c + r0 * ldc, ldc, rs, 2);
  }
}

static inline __attribute__((always_inline)) void pack_bf16_pairs_body(const vf_byte *x0, const vf_byte *x1, int n,
                                                                       uint32_t *dst, const int t) {
  int j = 0;
  for (; j + VF_LANES <= n; j += VF_LANES)
    vf_store_bf16_pairs(dst + j, vf_load_t(x0, j, t), x1 ? vf_load_t(x1, j, t) : vf_zero());
  if (j < n) /* never for Q8_0: whole blocks */
    vf_store_bf16_pairs_n(dst + j, vf_load_n_t(x0, j, n - j, t), x1 ? vf_load_n_t(x1, j, n - j, t) : vf_zero(),
                          n - j);
}
/* Typed rows widen in registers: V of f16 or q8_0 went through an f32 row
 * first, 8% of a reduced-precision q8_0 prefill with it. */
static void pack_bf16_pairs(const void *x0, const void *x1, vecattn_dtype t, int n, uint32_t *dst) {
  switch (t) {
  case VECATTN_F16: pack_bf16_pairs_body(x0, x1, n, dst, VECATTN_F16); break;
  case VECATTN_BF16: pack_bf16_pairs_body(x0, x1, n, dst, VECATTN_BF16); break;
  case VECATTN_Q8_0: pack_bf16_pairs_body(x0, x1, n, dst, VECATTN_Q8_0); break;
  default: pack_bf16_pairs_body(x0, x1, n, dst, VECATTN_F32); break;
  }
}

/* One row of type t (Q8_0: whole blocks) rounded to bf16 as the products
 * read it, dst[j] = bf16(x[j]) for j < n: K rows that are not bf16 already,
 * widened in registers (with vf_store_bf16x2, two vectors an instruction). */
static inline __attribute__((always_inline)) void pack_bf16_row_body(const vf_byte *x, int n, uint16_t *dst,
                                                                     const int t) {
  int j = 0;
#ifdef VF_HAVE_BF16X2
  for (; j + 2 * VF_LANES <= n; j += 2 * VF_LANES)
    vf_store_bf16x2(dst + j, vf_load_t(x, j, t), vf_load_t(x, j + VF_LANES, t));
#endif
  for (; j + VF_LANES <= n; j += VF_LANES) vf_store_bf16(dst + j, vf_load_t(x, j, t));
  if (j < n) vf_store_n_bf16(dst + j, vf_load_n_t(x, j, n - j, t), n - j);
}
static void pack_bf16_row(const void *x, vecattn_dtype t, int n, uint16_t *dst) {
  switch (t) {
  case VECATTN_F16: pack_bf16_row_body(x, n, dst, VECATTN_F16); break;
  case VECATTN_BF16: pack_bf16_row_body(x, n, dst, VECATTN_BF16); break;
  case VECATTN_Q8_0: pack_bf16_row_body(x, n, dst, VECATTN_Q8_0); break;
  default: pack_bf16_row_body(x, n, dst, VECATTN_F32); break;
  }
}

/* Plain integer code, which the compiler vectorises with this ISA's flags,
 * unless vec.h zips 32 at a time (vf_zip16). */
static void zip_bf16(const uint16_t *b0, const uint16_t *b1, int n, uint32_t *dst) {
  if (b1) {
    int j = 0;
#ifdef VF_HAVE_ZIP16
    for (; j + 32 <= n; j += 32) vf_zip16(b0 + j, b1 + j, dst + j);
#endif
    for (; j < n; ++j) dst[j] = (uint32_t)dt_ld_u16(b0 + j) | (uint32_t)dt_ld_u16(b1 + j) << 16;
  } else
    for (int j = 0; j < n; ++j) dst[j] = dt_ld_u16(b0 + j);
}
#define VF_GEMM_BF16 gemm_bf16
#define VF_PACK_BF16_PAIRS pack_bf16_pairs
#define VF_PACK_BF16_ROW pack_bf16_row
#define VF_ZIP_BF16 zip_bf16
#else
#define VF_GEMM_BF16 NULL
#define VF_PACK_BF16_PAIRS NULL
#define VF_PACK_BF16_ROW NULL
#define VF_ZIP_BF16 NULL
#endif

#endif
