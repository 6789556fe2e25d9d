/* Softmax pieces over one ISA's vector layer (vec.h included first):
 * exp(x - shift) with its sum, scaling, and the online-softmax block update. */
#ifndef VECATTN_GENERIC_SOFTMAX_H
#define VECATTN_GENERIC_SOFTMAX_H

#include <float.h>
#include <math.h>
#include <stdint.h>

#include "lanes.h"

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
    for (; i < n; ++i) sum += dt_ld_f32(x + i); /* x may be caller memory (weights) */
  }
  return sum;
}

static void scale(float *x, int64_t n, float a) {
  const vf va = vf_set1(a);
  int64_t i = 0;
  for (; i + VF_LANES <= n; i += VF_LANES) vf_store(x + i, vf_mul(vf_load(x + i), va));
  if (i < n) vf_store_n(x + i, vf_mul(vf_load_n(x + i, (int)(n - i)), va), (int)(n - i));
}

/* y[:n] = a * y + b * x: folds one softmax state into another (flash.c). */
static void scale_add(float *y, const float *x, int64_t n, float a, float b) {
  const vf va = vf_set1(a), vb = vf_set1(b);
  int64_t i = 0;
  for (; i + VF_LANES <= n; i += VF_LANES) vf_store(y + i, vf_fma(vb, vf_load(x + i), vf_mul(va, vf_load(y + i))));
  if (i < n) {
    const int tail = (int)(n - i);
    vf_store_n(y + i, vf_fma(vb, vf_load_n(x + i, tail), vf_mul(va, vf_load_n(y + i, tail))), tail);
  }
}

#if VF_LANES > 1
/* S^T rows narrower than a vector (g = rows_pad = ld, a power of two): each
 * vector holds VF_LANES / g keys of all g rows, so row statistics fold across
 * the keys of a vector, and m, l and alpha stay replicated over all lanes. */
static void softmax_update_grouped(float *st, int nk, int g, float *m, float *l, float *alpha) {
  const int64_t n = (int64_t)nk * g, nv = (n + VF_LANES - 1) / VF_LANES;
  for (int64_t i = n; i < nv * VF_LANES; ++i) st[i] = -INFINITY; /* keys past nk in the last vector */
  const vf floor = vf_set1(-FLT_MAX);
  vf vmax = vf_load(m);
  for (int64_t i = 0; i < nv; ++i) vmax = vf_max(vmax, vf_load(st + i * VF_LANES));
  vmax = vf_group_max(vmax, g);
  const vf shift = vf_max(vmax, floor);
  vf vsum = vf_zero();
  for (int64_t i = 0; i < nv; ++i) {
    const vf e = vf_exp(vf_sub(vf_load(st + i * VF_LANES), shift));
    vf_store(st + i * VF_LANES, e);
    vsum = vf_add(vsum, e);
  }
  const vf va = vf_exp(vf_sub(vf_load(m), shift));
  vf_store(alpha, va);
  vf_store(l, vf_fma(va, vf_load(l), vf_group_sum(vsum, g)));
  vf_store(m, vmax);
}
#endif

/* The block update for rows_pad >= lanes; with pairs (the bf16-products path)
 * the weights of keys 2q and 2q + 1 go out as bf16 pairs at pairs + q *
 * ld_pairs, as P.V reads them, and st keeps the scores: one pass over the
 * block's weights fewer. The sums add the f32 weights either way. */
static inline __attribute__((always_inline)) void softmax_update_rows(float *st, int64_t ld, int nk, int rows_pad,
                                                                      float *m, float *l, float *alpha,
                                                                      uint32_t *pairs, int64_t ld_pairs) {
  /* Shifting by at least -FLT_MAX keeps rows that saw only -inf at exp(-inf) = 0
   * with alpha = 0 (their sums and outputs are still zero) instead of NaN. */
  const vf floor = vf_set1(-FLT_MAX);
  for (int r = 0; r < rows_pad; r += VF_LANES) {
    vf vmax = vf_load(m + r);
    for (int c = 0; c < nk; ++c) vmax = vf_max(vmax, vf_load(st + c * ld + r));
    const vf shift = vf_max(vmax, floor);
    vf vsum = vf_zero();
    if (pairs) {
#ifndef VF_HAVE_DOT2
      (void)ld_pairs;
#else
      for (int c = 0; c < nk; c += 2) {
        const vf e0 = vf_exp(vf_sub(vf_load(st + c * ld + r), shift));
        const vf e1 = c + 1 < nk ? vf_exp(vf_sub(vf_load(st + (c + 1) * ld + r), shift)) : vf_zero();
        vf_store_bf16_pairs(pairs + c / 2 * ld_pairs + r, e0, e1);
        vsum = vf_add(vf_add(vsum, e0), e1);
      }
#endif
    } else {
      for (int c = 0; c < nk; ++c) {
        const vf e = vf_exp(vf_sub(vf_load(st + c * ld + r), shift));
        vf_store(st + c * ld + r, e);
        vsum = vf_add(vsum, e);
      }
    }
    const vf va = vf_exp(vf_sub(vf_load(m + r), shift));
    vf_store(alpha + r, va);
    vf_store(l + r, vf_fma(va, vf_load(l + r), vsum));
    vf_store(m + r, vmax);
  }
}

static void softmax_update(float *st, int64_t ld, int nk, int rows_pad, float *m, float *l,
                           float *alpha) {
#if VF_LANES > 1
  if (rows_pad < VF_LANES) {
    softmax_update_grouped(st, nk, rows_pad, m, l, alpha);
    return;
  }
#endif
  softmax_update_rows(st, ld, nk, rows_pad, m, l, alpha, NULL, 0);
}

#ifdef VF_HAVE_DOT2
static void softmax_update_pairs(const float *st, int64_t ld, int nk, int rows_pad, float *m, float *l,
                                 float *alpha, uint32_t *pairs, int64_t ld_pairs) {
  softmax_update_rows((float *)st, ld, nk, rows_pad, m, l, alpha, pairs, ld_pairs);
}
#define VF_SOFTMAX_UPDATE_PAIRS softmax_update_pairs
#else
#define VF_SOFTMAX_UPDATE_PAIRS NULL
#endif

#endif
