/* Loads that widen any element type to f32 vectors, built on vec.h's
 * vf_load_f16/bf16/i8 (vec.h included first). The element type is a
 * compile-time constant in every caller, so each switch folds away and a
 * kernel body instantiated per type reads its operand as it lies in memory:
 * decode never writes a widened copy of K or V. */
#ifndef VECATTN_GENERIC_TYPED_H
#define VECATTN_GENERIC_TYPED_H

#include <stdint.h>
#include <string.h>

#include "dtype_scalar.h"

typedef unsigned char vf_byte;

/* VF_LANES elements starting at element e of a row (for Q8_0, e + VF_LANES stays
 * inside e's block: VF_LANES divides 32 and e is a multiple of VF_LANES). */
static inline __attribute__((always_inline)) vf vf_load_t(const vf_byte *row, int64_t e, const int t) {
  switch (t) {
  case VECATTN_F16: return vf_load_f16((const uint16_t *)row + e);
  case VECATTN_BF16: return vf_load_bf16((const uint16_t *)row + e);
  case VECATTN_Q8_0: {
    const vf_byte *blk = row + e / VECATTN_Q8_0_BLOCK * VECATTN_Q8_0_BLOCK_BYTES;
    uint16_t d;
    memcpy(&d, blk, sizeof d);
    return vf_mul(vf_load_i8((const int8_t *)blk + 2 + e % VECATTN_Q8_0_BLOCK), vf_set1(vf_f16_1(d)));
  }
  default: return vf_load((const float *)row + e);
  }
}

/* The first n < VF_LANES elements from element e, zeros after (F32, F16, BF16:
 * Q8_0 rows are whole blocks, so they never end inside a vector). */
static inline __attribute__((always_inline)) vf vf_load_n_t(const vf_byte *row, int64_t e, int n, const int t) {
  switch (t) {
  case VECATTN_F16: return vf_load_n_f16((const uint16_t *)row + e, n);
  case VECATTN_BF16: return vf_load_n_bf16((const uint16_t *)row + e, n);
  default: return vf_load_n((const float *)row + e, n);
  }
}

/* Byte address of element e (for Q8_0: of its block), for prefetches. */
static inline __attribute__((always_inline)) const vf_byte *vf_addr_t(const vf_byte *row, int64_t e, const int t) {
  return row + dt_bytes((vecattn_dtype)t, t == VECATTN_Q8_0 ? e - e % VECATTN_Q8_0_BLOCK : e);
}

#endif
