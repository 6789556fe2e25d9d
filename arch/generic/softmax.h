/* Softmax pieces over one ISA's vector layer (vec.h included first): row max,
 * exp(x - shift) with its sum, scaling, and the online-softmax block update. */
#ifndef VECATTN_GENERIC_SOFTMAX_H
#define VECATTN_GENERIC_SOFTMAX_H

#include <math.h>
#include <stdint.h>

static float row_max(const float *x, int64_t n) {
  vf vmax = vf_set1(-INFINITY);
  int64_t i = 0;
  for (; i + VF_LANES <= n; i += VF_LANES) vmax = vf_max(vmax, vf_load(x + i));
  float mx = vf_hmax(vmax);
  for (; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  return mx;
}

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

static void softmax_update(float *s, int64_t lds, int rows, int cols, float *m, float *l,
                           float *alpha) {
  for (int r = 0; r < rows; ++r) {
    float *x = s + r * lds;
    const float block_max = row_max(x, cols);
    const float m_new = block_max > m[r] ? block_max : m[r];
    if (m_new == -INFINITY) { /* every key so far masked */
      for (int c = 0; c < cols; ++c) x[c] = 0.0f;
      alpha[r] = 1.0f;
      continue;
    }
    const float sum = exp_shift_sum(x, cols, m_new);
    alpha[r] = expf(m[r] - m_new);
    l[r] = alpha[r] * l[r] + sum;
    m[r] = m_new;
  }
}

#endif
