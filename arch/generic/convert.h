/* Whole-array conversions between f32 and the other element types over one
 * ISA's vector layer (vec.h included first): the public vecattn_convert, KV
 * cache appends, and tiles that need K or V widened once (prefill). */
#ifndef VECATTN_GENERIC_CONVERT_H
#define VECATTN_GENERIC_CONVERT_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "dtype_scalar.h"
#include "typed.h"

/* dst[:n] = widened src[:n], times a when `scaled` (compile-time). */
static inline __attribute__((always_inline)) void widen_body(const vf_byte *src, float *dst, int64_t n, vf a, const int t,
                                                             const int scaled) {
  int64_t i = 0;
  for (; i + VF_LANES <= n; i += VF_LANES) {
    const vf v = vf_load_t(src, i, t);
    vf_store(dst + i, scaled ? vf_mul(v, a) : v);
  }
  if (i < n) {
    const vf v = vf_load_n_t(src, i, (int)(n - i), t);
    vf_store_n(dst + i, scaled ? vf_mul(v, a) : v, (int)(n - i));
  }
}

static void to_f32(const void *src, vecattn_dtype t, float *dst, int64_t n) {
  const vf unused = vf_zero(); /* no scale */
  switch (t) {
  case VECATTN_F16: widen_body(src, dst, n, unused, VECATTN_F16, 0); break;
  case VECATTN_BF16: widen_body(src, dst, n, unused, VECATTN_BF16, 0); break;
  case VECATTN_Q8_0: widen_body(src, dst, n, unused, VECATTN_Q8_0, 0); break;
  default: memcpy(dst, src, (size_t)n * sizeof(float)); break;
  }
}

static void scale_to_f32(const void *src, vecattn_dtype t, float *dst, int64_t n, float a) {
  const vf va = vf_set1(a);
  switch (t) {
  case VECATTN_F16: widen_body(src, dst, n, va, VECATTN_F16, 1); break;
  case VECATTN_BF16: widen_body(src, dst, n, va, VECATTN_BF16, 1); break;
  case VECATTN_Q8_0: widen_body(src, dst, n, va, VECATTN_Q8_0, 1); break;
  default: widen_body(src, dst, n, va, VECATTN_F32, 1); break;
  }
}

/* ggml's q8_0 rule for one block: d = max|x| / 127 and int8 = x * (1 / d)
 * rounded. A block too small for 1 / d to be finite (its f16 scale rounds to
 * 0 anyway) stores zeros, where ggml would convert an infinity. */
static inline __attribute__((always_inline)) float q8_block(const float *x, int8_t *q) {
  vf amax = vf_zero();
  for (int i = 0; i < VECATTN_Q8_0_BLOCK; i += VF_LANES) amax = vf_max(amax, vf_abs(vf_load(x + i)));
  float d = vf_hmax(amax) / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
  if (isinf(id)) d = 0.0f, id = 0.0f;
  const vf vid = vf_set1(id);
  for (int i = 0; i < VECATTN_Q8_0_BLOCK; i += VF_LANES) vf_store_i8(q + i, vf_mul(vf_load(x + i), vid));
  return d;
}

static void q8_0_from_f32(const float *src, vf_byte *dst, int64_t n) {
  for (int64_t b = 0; b < n / VECATTN_Q8_0_BLOCK; ++b) {
    vf_byte *blk = dst + b * VECATTN_Q8_0_BLOCK_BYTES;
    const uint16_t dh = dt_f32_to_f16(q8_block(src + b * VECATTN_Q8_0_BLOCK, (int8_t *)blk + 2));
    memcpy(blk, &dh, sizeof dh);
  }
}

/* dst[:n] = src[:n] (times a when `scaled`, compile-time) rounded to t: F32,
 * F16 or BF16. */
static inline __attribute__((always_inline)) void narrow_body(const float *src, void *dst, int64_t n, vf a, const int t,
                                                              const int scaled) {
  int64_t i = 0;
  for (; i + VF_LANES <= n; i += VF_LANES) {
    const vf v = scaled ? vf_mul(vf_load(src + i), a) : vf_load(src + i);
    if (t == VECATTN_F16) vf_store_f16((uint16_t *)dst + i, v);
    else if (t == VECATTN_BF16) vf_store_bf16((uint16_t *)dst + i, v);
    else vf_store((float *)dst + i, v);
  }
  if (i < n) {
    const int tail = (int)(n - i);
    const vf v = scaled ? vf_mul(vf_load_n(src + i, tail), a) : vf_load_n(src + i, tail);
    if (t == VECATTN_F16) vf_store_n_f16((uint16_t *)dst + i, v, tail);
    else if (t == VECATTN_BF16) vf_store_n_bf16((uint16_t *)dst + i, v, tail);
    else vf_store_n((float *)dst + i, v, tail);
  }
}

static void from_f32(const float *src, vecattn_dtype t, void *dst, int64_t n) {
  const vf unused = vf_zero(); /* no scale */
  switch (t) {
  case VECATTN_F16: narrow_body(src, dst, n, unused, VECATTN_F16, 0); break;
  case VECATTN_BF16: narrow_body(src, dst, n, unused, VECATTN_BF16, 0); break;
  case VECATTN_Q8_0: q8_0_from_f32(src, dst, n); break;
  default: memcpy(dst, src, (size_t)n * sizeof(float)); break;
  }
}

static void scale_from_f32(const float *src, float a, vecattn_dtype t, void *dst, int64_t n) {
  const vf va = vf_set1(a);
  switch (t) {
  case VECATTN_F16: narrow_body(src, dst, n, va, VECATTN_F16, 1); break;
  case VECATTN_BF16: narrow_body(src, dst, n, va, VECATTN_BF16, 1); break;
  default: narrow_body(src, dst, n, va, VECATTN_F32, 1); break;
  }
}

#endif
