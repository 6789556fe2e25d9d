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

static inline __attribute__((always_inline)) void to_f32_body(const vf_byte *src, float *dst, int64_t n, const int t) {
  int64_t i = 0;
  for (; i + VF_LANES <= n; i += VF_LANES) vf_store(dst + i, vf_load_t(src, i, t));
  if (i < n) vf_store_n(dst + i, vf_load_n_t(src, i, (int)(n - i), t), (int)(n - i));
}

static void to_f32(const void *src, vecattn_dtype t, float *dst, int64_t n) {
  switch (t) {
  case VECATTN_F16: to_f32_body(src, dst, n, VECATTN_F16); break;
  case VECATTN_BF16: to_f32_body(src, dst, n, VECATTN_BF16); break;
  case VECATTN_Q8_0: to_f32_body(src, dst, n, VECATTN_Q8_0); break;
  default: memcpy(dst, src, (size_t)n * sizeof(float)); break;
  }
}

static inline __attribute__((always_inline)) void scale_to_f32_body(const vf_byte *src, float *dst, int64_t n, vf a,
                                                                    const int t) {
  int64_t i = 0;
  for (; i + VF_LANES <= n; i += VF_LANES) vf_store(dst + i, vf_mul(vf_load_t(src, i, t), a));
  if (i < n) vf_store_n(dst + i, vf_mul(vf_load_n_t(src, i, (int)(n - i), t), a), (int)(n - i));
}

static void scale_to_f32(const void *src, vecattn_dtype t, float *dst, int64_t n, float a) {
  const vf va = vf_set1(a);
  switch (t) {
  case VECATTN_F16: scale_to_f32_body(src, dst, n, va, VECATTN_F16); break;
  case VECATTN_BF16: scale_to_f32_body(src, dst, n, va, VECATTN_BF16); break;
  case VECATTN_Q8_0: scale_to_f32_body(src, dst, n, va, VECATTN_Q8_0); break;
  default: scale_to_f32_body(src, dst, n, va, VECATTN_F32); break;
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

static void from_f32(const float *src, vecattn_dtype t, void *dst, int64_t n) {
  int64_t i = 0;
  switch (t) {
  case VECATTN_F16:
    for (; i + VF_LANES <= n; i += VF_LANES) vf_store_f16((uint16_t *)dst + i, vf_load(src + i));
    if (i < n) vf_store_n_f16((uint16_t *)dst + i, vf_load_n(src + i, (int)(n - i)), (int)(n - i));
    break;
  case VECATTN_BF16:
    for (; i + VF_LANES <= n; i += VF_LANES) vf_store_bf16((uint16_t *)dst + i, vf_load(src + i));
    if (i < n) vf_store_n_bf16((uint16_t *)dst + i, vf_load_n(src + i, (int)(n - i)), (int)(n - i));
    break;
  case VECATTN_Q8_0: q8_0_from_f32(src, dst, n); break;
  default: memcpy(dst, src, (size_t)n * sizeof(float)); break;
  }
}

static void scale_from_f32(const float *src, float a, vecattn_dtype t, void *dst, int64_t n) {
  const vf va = vf_set1(a);
  int64_t i = 0;
  switch (t) {
  case VECATTN_F16:
    for (; i + VF_LANES <= n; i += VF_LANES) vf_store_f16((uint16_t *)dst + i, vf_mul(vf_load(src + i), va));
    if (i < n) vf_store_n_f16((uint16_t *)dst + i, vf_mul(vf_load_n(src + i, (int)(n - i)), va), (int)(n - i));
    break;
  case VECATTN_BF16:
    for (; i + VF_LANES <= n; i += VF_LANES) vf_store_bf16((uint16_t *)dst + i, vf_mul(vf_load(src + i), va));
    if (i < n) vf_store_n_bf16((uint16_t *)dst + i, vf_mul(vf_load_n(src + i, (int)(n - i)), va), (int)(n - i));
    break;
  default:
    for (; i + VF_LANES <= n; i += VF_LANES) vf_store((float *)dst + i, vf_mul(vf_load(src + i), va));
    if (i < n) vf_store_n((float *)dst + i, vf_mul(vf_load_n(src + i, (int)(n - i)), va), (int)(n - i));
    break;
  }
}

#endif
