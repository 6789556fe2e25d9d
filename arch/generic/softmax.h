/* Softmax pieces over one ISA's vector layer (vec.h included first):
 * exp(x - shift) with its sum, scaling, and the online-softmax block update. */
#ifndef VECATTN_GENERIC_SOFTMAX_H
#define VECATTN_GENERIC_SOFTMAX_H

#include <float.h>
#include <math.h>
#include <stdint.h>

static float exp_shift_sum(float *x, int64_t n, float shift) {
  const vf vs = vf_set1(shift);
  vf vsum = vf_zero();
  int64_t i = 0;
  for (; i + VF_LANES <= n; i += VF_LANES) {
    const vf e = vf_exp(vf_sub(vf_load(x + i), vs));
    vf_store(x + i, e);
    vsum = vf_add(vsum, e);
  }
  float sum = vf_hsum(vsum);
  if (i < n) {
    const int tail = (int)(n - i);
    vf_store_n(x + i, vf_exp(vf_sub(vf_load_n(x + i, tail), vs)), tail);
    for (; i < n; ++i) sum += x[i];
  }
  return sum;
}

static void scale(float *x, int64_t n, float a) {
  const vf va = vf_set1(a);
  int64_t i = 0;
  for (; i + VF_LANES <= n; i += VF_LANES) vf_store(x + i, vf_mul(vf_load(x + i), va));
  if (i < n) vf_store_n(x + i, vf_mul(vf_load_n(x + i, (int)(n - i)), va), (int)(n - i));
}

static void softmax_update(float *st, int64_t ld, int nk, int rows_pad, float *m, float *l,
                           float *alpha) {
  /* Shifting by at least -FLT_MAX keeps rows that saw only -inf at exp(-inf) = 0
   * with alpha = 0 (their sums and outputs are still zero) instead of NaN. */
  const vf floor = vf_set1(-FLT_MAX);
  for (int r = 0; r < rows_pad; r += VF_LANES) {
    vf vmax = vf_load(m + r);
    for (int c = 0; c < nk; ++c) vmax = vf_max(vmax, vf_load(st + c * ld + r));
    const vf shift = vf_max(vmax, floor);
    vf vsum = vf_zero();
    for (int c = 0; c < nk; ++c) {
      const vf e = vf_exp(vf_sub(vf_load(st + c * ld + r), shift));
      vf_store(st + c * ld + r, e);
      vsum = vf_add(vsum, e);
    }
    const vf va = vf_exp(vf_sub(vf_load(m + r), shift));
    vf_store(alpha + r, va);
    vf_store(l + r, vf_fma(va, vf_load(l + r), vsum));
    vf_store(m + r, vmax);
  }
}

#endif
