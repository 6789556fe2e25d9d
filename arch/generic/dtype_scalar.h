/* Element types one value at a time: exact f16/bf16 -> f32, round-to-nearest-
 * even f32 -> f16/bf16, and the byte layout of a q8_0 row. The scalar path's
 * vector layer, the driver's per-element reads (queries, bias) and the tests'
 * expectations all use these, so every path agrees on the rounding. */
#ifndef VECATTN_GENERIC_DTYPE_SCALAR_H
#define VECATTN_GENERIC_DTYPE_SCALAR_H

#include <stdint.h>
#include <string.h>

#include "vecattn.h"

static inline uint32_t dt_f32_bits(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  return u;
}
static inline float dt_bits_f32(uint32_t u) {
  float x;
  memcpy(&x, &u, sizeof x);
  return x;
}

/* Loads and stores of caller memory, which need not be aligned to its
 * element (API.md: no alignment is required of data): one plain load or
 * store where the target allows it, never a fault on 32-bit ARM. */
static inline float dt_ld_f32(const void *p) {
  float x;
  memcpy(&x, p, sizeof x);
  return x;
}
static inline void dt_st_f32(void *p, float x) { memcpy(p, &x, sizeof x); }
static inline uint16_t dt_ld_u16(const void *p) {
  uint16_t x;
  memcpy(&x, p, sizeof x);
  return x;
}
static inline void dt_st_u16(void *p, uint16_t x) { memcpy(p, &x, sizeof x); }

/* Exact: every f16 is an f32. Subnormals are renormalised by one float
 * subtraction (the magic number is 2^-14 in f32's exponent). */
static inline float dt_f16_to_f32(uint16_t h) {
  const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t u = (uint32_t)(h & 0x7fffu) << 13;
  const uint32_t exp = u & (0x7c00u << 13);
  u += (127u - 15u) << 23;
  if (exp == (0x7c00u << 13)) {
    u += (128u - 16u) << 23; /* Inf / NaN */
  } else if (exp == 0) {
    u += 1u << 23;
    return dt_bits_f32(sign | dt_f32_bits(dt_bits_f32(u) - dt_bits_f32(113u << 23)));
  }
  return dt_bits_f32(sign | u);
}

/* Round to nearest even; NaN stays NaN (quiet), beyond 65504 gives Inf. Small
 * values round through one float addition that aligns them to f16's subnormal
 * grid (the FPU's own round-to-nearest-even does the rounding). */
static inline uint16_t dt_f32_to_f16(float x) {
  uint32_t u = dt_f32_bits(x);
  const uint32_t sign = u & 0x80000000u;
  u ^= sign;
  uint32_t h;
  if (u >= (127u + 16u) << 23) {
    h = u > (255u << 23) ? 0x7e00u : 0x7c00u;
  } else if (u < (113u << 23)) {
    const float magic = dt_bits_f32(126u << 23); /* 0.5: its ulp, 2^-24, is f16's smallest step */
    h = dt_f32_bits(dt_bits_f32(u) + magic) - dt_f32_bits(magic);
  } else {
    const uint32_t odd = (u >> 13) & 1u;
    u += ((uint32_t)(15 - 127) << 23) + 0xfffu + odd;
    h = u >> 13;
  }
  return (uint16_t)(h | (sign >> 16));
}

static inline float dt_bf16_to_f32(uint16_t b) { return dt_bits_f32((uint32_t)b << 16); }

static inline uint16_t dt_f32_to_bf16(float x) {
  const uint32_t u = dt_f32_bits(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); /* quiet NaN */
  return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

/* Bytes that n elements take; for Q8_0, n is whole blocks (row starts and
 * strides always are). */
static inline int64_t dt_bytes(vecattn_dtype t, int64_t n) {
  switch (t) {
  case VECATTN_F16:
  case VECATTN_BF16: return 2 * n;
  case VECATTN_Q8_0: return n / VECATTN_Q8_0_BLOCK * VECATTN_Q8_0_BLOCK_BYTES;
  default: return 4 * n;
  }
}

/* Element e of a row starting at `row` (a block boundary for Q8_0). */
static inline float dt_load1(const void *row, vecattn_dtype t, int64_t e) {
  switch (t) {
  case VECATTN_F16: return dt_f16_to_f32(dt_ld_u16((const uint16_t *)row + e));
  case VECATTN_BF16: return dt_bf16_to_f32(dt_ld_u16((const uint16_t *)row + e));
  case VECATTN_Q8_0: {
    const unsigned char *blk = (const unsigned char *)row + e / VECATTN_Q8_0_BLOCK * VECATTN_Q8_0_BLOCK_BYTES;
    uint16_t d;
    memcpy(&d, blk, sizeof d);
    return dt_f16_to_f32(d) * (float)(int8_t)blk[2 + e % VECATTN_Q8_0_BLOCK];
  }
  default: return dt_ld_f32((const float *)row + e);
  }
}

/* Stores x as element e of an F32, F16 or BF16 row. */
static inline void dt_store1(void *row, vecattn_dtype t, int64_t e, float x) {
  switch (t) {
  case VECATTN_F16: ((uint16_t *)row)[e] = dt_f32_to_f16(x); break;
  case VECATTN_BF16: ((uint16_t *)row)[e] = dt_f32_to_bf16(x); break;
  default: ((float *)row)[e] = x; break;
  }
}

#endif
