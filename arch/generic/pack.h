/* Packs B^T panels for the cache-blocked matmul (vec.h included first):
 * dst[p][j] = w[j][p] for j < cols, 0 for cols <= j < nr, p < k. Vector-wide
 * square blocks go through registers (vf_transpose), so W rows are read and
 * panel rows written as whole vectors. */
#ifndef VECATTN_GENERIC_PACK_H
#define VECATTN_GENERIC_PACK_H

#include <stdint.h>

#include "lanes.h"
#include "typed.h"

static void pack_bt(const float *w, int64_t ldw, int cols, int64_t k, int nr, float *dst) {
#if VF_LANES > 1
  for (int j0 = 0; j0 < nr; j0 += VF_LANES) {
    const int live = cols - j0 < 0 ? 0 : cols - j0 < VF_LANES ? cols - j0 : VF_LANES;
    for (int64_t p0 = 0; p0 < k; p0 += VF_LANES) {
      const int pn = k - p0 < VF_LANES ? (int)(k - p0) : VF_LANES;
      vf v[VF_LANES];
      for (int i = 0; i < VF_LANES; ++i) {
        const float *src = w + (int64_t)(j0 + i) * ldw + p0;
        v[i] = i >= live ? vf_zero() : pn == VF_LANES ? vf_load(src) : vf_load_n(src, pn);
      }
      vf_transpose(v);
      for (int i = 0; i < pn; ++i) vf_store(dst + (int64_t)(p0 + i) * nr + j0, v[i]);
    }
  }
#else
  for (int64_t p = 0; p < k; ++p)
    for (int j = 0; j < nr; ++j) dst[p * nr + j] = j < cols ? w[j * ldw + p] : 0.0f;
#endif
}

/* A tile's queries as Q^T: dst[p * ld + j] = a * row j widened (type t,
 * rows[j]) at element p, for j < n, 0 for n <= j < nr, p < k; square
 * transposes through registers as above. Each product is what a *
 * to_f32(row)[p] gives, bit for bit. */
static inline __attribute__((always_inline)) void pack_scaled_t_body(const void *const *rows, int n, int64_t k,
                                                                     float a, int nr, float *dst, int64_t ld,
                                                                     const int t) {
#if VF_LANES > 1
  const vf va = vf_set1(a);
  for (int j0 = 0; j0 < nr; j0 += VF_LANES) {
    const int live = n - j0 < 0 ? 0 : n - j0 < VF_LANES ? n - j0 : VF_LANES;
    for (int64_t p0 = 0; p0 < k; p0 += VF_LANES) {
      const int pn = k - p0 < VF_LANES ? (int)(k - p0) : VF_LANES;
      vf v[VF_LANES];
      for (int i = 0; i < VF_LANES; ++i) {
        const vf_byte *src = i < live ? (const vf_byte *)rows[j0 + i] : NULL;
        v[i] = !src ? vf_zero() : vf_mul(pn == VF_LANES ? vf_load_t(src, p0, t) : vf_load_n_t(src, p0, pn, t), va);
      }
      vf_transpose(v);
      for (int i = 0; i < pn; ++i) vf_store(dst + (p0 + i) * ld + j0, v[i]);
    }
  }
#else
  for (int64_t p = 0; p < k; ++p)
    for (int j = 0; j < nr; ++j) dst[p * ld + j] = j < n ? a * vf_load_t((const vf_byte *)rows[j], p, t) : 0.0f;
#endif
}
static void pack_scaled_t(const void *const *rows, vecattn_dtype t, int n, int64_t k, float a, int nr, float *dst,
                          int64_t ld) {
  switch (t) {
  case VECATTN_F16: pack_scaled_t_body(rows, n, k, a, nr, dst, ld, VECATTN_F16); break;
  case VECATTN_BF16: pack_scaled_t_body(rows, n, k, a, nr, dst, ld, VECATTN_BF16); break;
  default: pack_scaled_t_body(rows, n, k, a, nr, dst, ld, VECATTN_F32); break;
  }
}

#endif
