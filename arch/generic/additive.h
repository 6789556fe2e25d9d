/* Additive (Bahdanau) scores over one ISA's vector layer (vec.h included first):
 * C[r][j] = sum_a v[a] * tanh(qp[r][a] + kp[j][a]), vectorised along a, the
 * attention dimension, so the kernel is as efficient for one query row
 * (decode) as for a full tile. tanh dominates the cost: several keys per
 * row keep independent tanh chains in flight. */
#ifndef VECATTN_GENERIC_ADDITIVE_H
#define VECATTN_GENERIC_ADDITIVE_H

#include <stdint.h>

#ifndef VF_ADD_NC
#define VF_ADD_NC 4
#endif

static inline __attribute__((always_inline)) void additive_block(
    const float *qp, const float *kp, int64_t ldk, const float *v, int da, float *c, int64_t c_col,
    const int nc) {
  vf acc[VF_ADD_NC];
  for (int j = 0; j < nc; ++j) acc[j] = vf_zero();
  for (int a = 0; a < da; a += VF_LANES) {
    const vf qv = vf_load(qp + a), vv = vf_load(v + a);
    for (int j = 0; j < nc; ++j)
      acc[j] = vf_fma(vv, vf_tanh(vf_add(qv, vf_load(kp + j * ldk + a))), acc[j]);
  }
  for (int j = 0; j < nc; ++j) c[j * c_col] = vf_hsum(acc[j]);
}

static void additive(const float *qp, int64_t ldq, int m, const float *kp, int64_t ldk, int n,
                     const float *v, int da, float *c, int64_t c_row, int64_t c_col) {
  for (int r = 0; r < m; ++r) {
    const float *q = qp + r * ldq;
    float *cr = c + r * c_row;
    int j = 0;
    for (; j + VF_ADD_NC <= n; j += VF_ADD_NC)
      additive_block(q, kp + j * ldk, ldk, v, da, cr + j * c_col, c_col, VF_ADD_NC);
    for (; j < n; ++j) additive_block(q, kp + j * ldk, ldk, v, da, cr + j * c_col, c_col, 1);
  }
}

#endif
