/* AVX-512 with AVX512_BF16: the avx512 vector layer plus VDPBF16PS, which
 * multiplies pairs of bf16 and accumulates in f32 (32 products an instruction
 * against 16 fused multiply-adds). */
#ifndef VECATTN_VEC_AVX512BF16_H
#define VECATTN_VEC_AVX512BF16_H
#include "x86/avx512/vec.h"

#undef VEC_ISA
#undef VEC_ISA_ENUM
#define VEC_ISA avx512bf16
#define VEC_ISA_ENUM VECATTN_ISA_AVX512BF16
#define VF_HAVE_DOT2 1

/* acc + a.lo * b.lo + a.hi * b.hi in every 32-bit lane (a, b: bf16 pairs). */
static inline vf vf_dot2(vf acc, vf a, vf b) { return _mm512_dpbf16_ps(acc, (__m512bh)a, (__m512bh)b); }
static inline vf vf_set1_bits(uint32_t u) { return _mm512_castsi512_ps(_mm512_set1_epi32((int)u)); }
/* Lane j of x0 and of x1 rounded to bf16 and paired into 32 bits (x0 low):
 * VCVTNE2PS2BF16 puts x0 in the low 16 words and x1 in the high ones, one
 * word permute interleaves them (2 instructions against 16 for the rounding
 * in integer code). It flushes denormals to zero, which VDPBF16PS, the only
 * reader of these pairs, does to its inputs anyway. */
static inline __m512i vf_bf16_pairs(vf x0, vf x1) {
  const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22,
                                              6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  return _mm512_permutexvar_epi16(interleave, (__m512i)_mm512_cvtne2ps_pbh(x1, x0));
}
/* lo and hi rounded to bf16 and stored in order (32 values): one VCVTNE2PS2BF16,
 * denormals flushed as VDPBF16PS reads them anyway. */
#define VF_HAVE_BF16X2 1
static inline void vf_store_bf16x2(uint16_t *dst, vf lo, vf hi) {
  _mm512_storeu_si512(dst, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
}
/* dst[j] = b0[j] | b1[j] << 16 for j < 32: two word permutes (the compiler's
 * widen, shift and or took 10 instructions). */
#define VF_HAVE_ZIP16 1
static inline void vf_zip16(const uint16_t *b0, const uint16_t *b1, uint32_t *dst) {
  const __m512i lo = _mm512_set_epi16(47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9, 40, 8, 39, 7, 38, 6, 37, 5,
                                      36, 4, 35, 3, 34, 2, 33, 1, 32, 0);
  const __m512i hi = _mm512_add_epi16(lo, _mm512_set1_epi16(16));
  const __m512i x0 = _mm512_loadu_si512(b0), x1 = _mm512_loadu_si512(b1);
  _mm512_storeu_si512(dst, _mm512_permutex2var_epi16(x0, lo, x1));
  _mm512_storeu_si512(dst + 16, _mm512_permutex2var_epi16(x0, hi, x1));
}
static inline void vf_store_bf16_pairs(uint32_t *dst, vf x0, vf x1) { _mm512_storeu_si512(dst, vf_bf16_pairs(x0, x1)); }
static inline void vf_store_bf16_pairs_n(uint32_t *dst, vf x0, vf x1, int n) {
  _mm512_mask_storeu_epi32(dst, vf_tail_mask(n), vf_bf16_pairs(x0, x1));
}

/* int8 products (generic/gemm_nt_q8_lanes.h): VPDPBUSD (AVX512_VNNI) adds
 * four u8 x s8 products into each 32-bit lane, 64 an instruction. */
#define VF_HAVE_I8DOT_LANES 1
typedef __m512i vi8;
typedef __m512i vi32;
static inline vi8 vi8_load(const int8_t *p) { return _mm512_loadu_si512(p); }
static inline vi8 vi8_set1(int8_t x) { return _mm512_set1_epi8(x); }
static inline vi32 vi32_zero(void) { return _mm512_setzero_si512(); }
static inline vi32 vi32_load(const int32_t *p) { return _mm512_loadu_si512(p); }
static inline void vi32_store(int32_t *p, vi32 v) { _mm512_storeu_si512(p, v); }
static inline vi32 vi32_neg(vi32 v) { return _mm512_sub_epi32(_mm512_setzero_si512(), v); }
static inline vi32 vi32_set1(int32_t x) { return _mm512_set1_epi32(x); }
/* The `bytes` (4, 8, 16 or 32) at p in every group of that many: a load. */
static inline vi8 vi8_bcast(const void *p, const int bytes) {
  if (bytes == 4) {
    int32_t x;
    memcpy(&x, p, sizeof x);
    return _mm512_set1_epi32(x);
  }
  if (bytes == 8) {
    long long x;
    memcpy(&x, p, sizeof x);
    return _mm512_set1_epi64(x);
  }
  if (bytes == 16) return _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)p));
  return _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)p));
}
/* s[i] = the sum of the 32 int8 at p[i], i < 4: each row's bytes + 128
 * summed by VPSADBW into 4 quarters, the quarters of all four added in one
 * transposing step, less 32 x 128. */
static inline void vi8_sum32_x4(const void *const *p, int32_t *s) {
  __m256i q[4];
  for (int i = 0; i < 4; ++i)
    q[i] = _mm256_sad_epu8(_mm256_xor_si256(_mm256_loadu_si256((const __m256i *)p[i]), _mm256_set1_epi8((char)0x80)),
                           _mm256_setzero_si256());
  /* per 128 bits: [q0 a + b, q1 a + b] and [q2 .., q3 ..] */
  const __m256i t01 = _mm256_add_epi64(_mm256_unpacklo_epi64(q[0], q[1]), _mm256_unpackhi_epi64(q[0], q[1]));
  const __m256i t23 = _mm256_add_epi64(_mm256_unpacklo_epi64(q[2], q[3]), _mm256_unpackhi_epi64(q[2], q[3]));
  const __m256i u = _mm256_add_epi64(_mm256_permute2x128_si256(t01, t23, 0x20), _mm256_permute2x128_si256(t01, t23, 0x31));
  _mm_storeu_si128((__m128i *)s, _mm_sub_epi32(_mm256_cvtepi64_epi32(u), _mm_set1_epi32(32 * 128)));
}
/* int8 x as uint8 x + 128. */
static inline vi8 vi8_flip(vi8 x) { return _mm512_xor_si512(x, _mm512_set1_epi8((char)0x80)); }
/* Lane i of acc + the sum of a[4i + j] * b[4i + j], j < 4: a unsigned, b signed. */
static inline vi32 vi32_dot(vi32 acc, vi8 a, vi8 b) { return _mm512_dpbusd_epi32(acc, a, b); }
static inline vf vf_from_i32(vi32 v) { return _mm512_cvtepi32_ps(v); }
/* Lane i of the result is lane idx[i] of v. */
static inline vf vf_permute(vf v, const int32_t *idx) { return _mm512_permutexvar_ps(_mm512_loadu_si512(idx), v); }
#endif
