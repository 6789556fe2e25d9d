/* Packs B^T panels for the cache-blocked matmul (vec.h included first):
 * dst[p][j] = w[j][p] for j < cols, 0 for cols <= j < nr, p < k. Vector-wide
 * square blocks go through registers (vf_transpose), so W rows are read and
 * panel rows written as whole vectors. */
#ifndef VECATTN_GENERIC_PACK_H
#define VECATTN_GENERIC_PACK_H

#include <stdint.h>

#include "lanes.h"

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

#endif
