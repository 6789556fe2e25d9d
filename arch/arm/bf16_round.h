/* f32 -> bf16 for both NEON layers (aarch64 and 32-bit ARM use the same
 * intrinsics here): round to nearest even on the integer bits; NaN keeps its
 * sign and top payload, made quiet. Included by a vec.h after its vf type. */
#ifndef VECATTN_ARM_BF16_ROUND_H
#define VECATTN_ARM_BF16_ROUND_H
#include <arm_neon.h>

static inline uint16x4_t vf_bf16_bits(float32x4_t v) {
  const uint32x4_t u = vreinterpretq_u32_f32(v);
  const uint32x4_t bias = vaddq_u32(vdupq_n_u32(0x7fff), vandq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(1)));
  const uint32x4_t rounded = vshrq_n_u32(vaddq_u32(u, bias), 16);
  const uint32x4_t quiet = vorrq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(0x40));
  return vmovn_u32(vbslq_u32(vceqq_f32(v, v), rounded, quiet));
}
#endif
