/* Transposed panels through registers (vec.h included first): B^T panels for
 * the cache-blocked matmul and a tile's scaled queries as Q^T. Vector-wide
 * square blocks go through vf_transpose, so rows are read and panel rows
 * written as whole vectors. */
#ifndef VECATTN_GENERIC_PACK_H
#define VECATTN_GENERIC_PACK_H

#include <stdint.h>

#include "lanes.h"
#include "typed.h"

/* dst[p * ld + j] = (scaled ? a : 1) * row j at element p, widened from type t,
 * for j < n; 0 for n <= j < nr; p < k. Row j is rows[j], or w + j * ldw when
 * rows is NULL. scaled and t are compile-time after inlining. */
static inline __attribute__((always_inline)) void pack_t_body(const void *const *rows, const float *w, int64_t ldw,
                                                              int n, int64_t k, float a, int nr, float *dst,
                                                              int64_t ld, const int t, const int scaled) {
#if VF_LANES > 1
  const vf va = vf_set1(a);
  for (int j0 = 0; j0 < nr; j0 += VF_LANES) {
    const int live = n - j0 < 0 ? 0 : n - j0 < VF_LANES ? n - j0 : VF_LANES;
    for (int64_t p0 = 0; p0 < k; p0 += VF_LANES) {
      const int pn = k - p0 < VF_LANES ? (int)(k - p0) : VF_LANES;
      vf v[VF_LANES];
      for (int i = 0; i < VF_LANES; ++i) {
        if (i >= live) {
          v[i] = vf_zero();
          continue;
        }
        const vf_byte *src = rows ? (const vf_byte *)rows[j0 + i] : (const vf_byte *)(w + (int64_t)(j0 + i) * ldw);
        v[i] = pn == VF_LANES ? vf_load_t(src, p0, t) : vf_load_n_t(src, p0, pn, t);
        if (scaled) v[i] = vf_mul(v[i], va);
      }
      vf_transpose(v);
      for (int i = 0; i < pn; ++i) vf_store(dst + (p0 + i) * ld + j0, v[i]);
    }
  }
#else
  for (int64_t p = 0; p < k; ++p)
    for (int j = 0; j < nr; ++j) {
      const vf_byte *src = rows ? (const vf_byte *)rows[j] : (const vf_byte *)(w + (int64_t)j * ldw);
      dst[p * ld + j] = j >= n ? 0.0f : scaled ? a * vf_load_t(src, p, t) : vf_load_t(src, p, t);
    }
#endif
}

/* dst[p][j] = w[j][p] for j < cols, 0 for cols <= j < nr, p < k. */
static void pack_bt(const float *w, int64_t ldw, int cols, int64_t k, int nr, float *dst) {
  pack_t_body(NULL, w, ldw, cols, k, 1.0f, nr, dst, nr, VECATTN_F32, 0);
}

/* A tile's queries as Q^T: each product is what a * to_f32(row)[p] gives, bit
 * for bit. */
static void pack_scaled_t(const void *const *rows, vecattn_dtype t, int n, int64_t k, float a, int nr, float *dst,
                          int64_t ld) {
  switch (t) {
  case VECATTN_F16: pack_t_body(rows, NULL, 0, n, k, a, nr, dst, ld, VECATTN_F16, 1); break;
  case VECATTN_BF16: pack_t_body(rows, NULL, 0, n, k, a, nr, dst, ld, VECATTN_BF16, 1); break;
  default: pack_t_body(rows, NULL, 0, n, k, a, nr, dst, ld, VECATTN_F32, 1); break;
  }
}

#endif
