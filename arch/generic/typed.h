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

/* The q8_0 block scale of element e, broadcast; and VF_LANES int8 of that block times it. */
static inline __attribute__((always_inline)) vf vf_q8_scale(const vf_byte *row, int64_t e) {
  const vf_byte *blk = row + e / VECATTN_Q8_0_BLOCK * VECATTN_Q8_0_BLOCK_BYTES;
#ifdef VF_HAVE_BCAST_F16
  return vf_bcast_f16(blk); /* reads 8 of the block's 34 bytes */
#else
  uint16_t d;
  memcpy(&d, blk, sizeof d);
  return vf_set1(vf_f16_1(d));
#endif
}
static inline __attribute__((always_inline)) vf vf_load_q8_scaled(const vf_byte *row, int64_t e, vf scale) {
  const vf_byte *blk = row + e / VECATTN_Q8_0_BLOCK * VECATTN_Q8_0_BLOCK_BYTES;
  return vf_mul(vf_load_i8((const int8_t *)blk + 2 + e % VECATTN_Q8_0_BLOCK), scale);
}

/* VF_LANES elements starting at element e of a row (for Q8_0, e + VF_LANES stays
 * inside e's block: VF_LANES divides 32 and e is a multiple of VF_LANES). */
static inline __attribute__((always_inline)) vf vf_load_t(const vf_byte *row, int64_t e, const int t) {
  switch (t) {
  case VECATTN_F16: return vf_load_f16((const uint16_t *)row + e);
  case VECATTN_BF16: return vf_load_bf16((const uint16_t *)row + e);
  case VECATTN_Q8_0: return vf_load_q8_scaled(row, e, vf_q8_scale(row, e));
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

/* Elements per prefetch: one 64-byte line of f32, two of 16-bit types (so one
 * line), one q8_0 block (34 bytes: every line holds a block start). At least
 * one vector. */
#define VF_RUN_ELEMS(t) ((t) == VECATTN_F32 ? (VF_LANES > 16 ? VF_LANES : 16) : (VF_LANES > 32 ? VF_LANES : 32))

/* Byte address of element e (for Q8_0: of its block), for prefetches. */
static inline __attribute__((always_inline)) const vf_byte *vf_addr_t(const vf_byte *row, int64_t e, const int t) {
  return row + dt_bytes((vecattn_dtype)t, t == VECATTN_Q8_0 ? e - e % VECATTN_Q8_0_BLOCK : e);
}

#endif
