/* Cross-lane operations built on vec.h's vf_butterfly and vf_blend_bit (only
 * for VF_LANES > 1): many horizontal sums at once, a register transpose, and
 * folds for layouts where one vector holds VF_LANES / g keys x g rows side by
 * side (g a power of two). */
#ifndef VECATTN_GENERIC_LANES_H
#define VECATTN_GENERIC_LANES_H

#if VF_LANES > 1
/* A vec.h may define VF_TRN_MAX and vf_trn1 / vf_trn2 (s <= VF_TRN_MAX): lanes
 * taken as units of s, even units from a and odd ones from b, like AArch64's
 * TRN1 / TRN2 at element width 32 * s. One such instruction is a blend of a
 * butterfly (the same lanes, bit for bit), which saves the shuffle and select. */
#ifdef VF_TRN_MAX
#define VF_TRN_OK(s) ((s) <= VF_TRN_MAX)
#else
#define VF_TRN_OK(s) 0
#define vf_trn1(a, b, s) (a)
#define vf_trn2(a, b, s) (b)
#endif

/* Pairs v[j] with v[j + s] for j < s and folds lane bit s of each pair into v[j]. */
static inline __attribute__((always_inline)) void vf_fold_bit(vf *v, const int s) {
#pragma GCC unroll 8
  for (int j = 0; j < s; ++j) {
    if (VF_TRN_OK(s)) { /* lane i: a[i] + a[i ^ s] where bit s is clear, b[i ^ s] + b[i] where set */
      v[j] = vf_add(vf_trn1(v[j], v[j + s], s), vf_trn2(v[j], v[j + s], s));
      continue;
    }
    const vf own = vf_blend_bit(v[j], v[j + s], s);
    const vf other = vf_blend_bit(v[j + s], v[j], s);
    v[j] = vf_add(own, vf_butterfly(other, s));
  }
}

#ifdef VF_HAS_PAIR_SUM
/* With vf_pair_sum (per 128 bits: [a0+a1, a2+a3, b0+b1, b2+b3], one shuffle
 * pair and an add, none crossing 128 bits): the two levels within 128 bits
 * first, while most vectors are live, then the levels across 128-bit groups
 * by blends (3 operations crossing 128 bits for 16 sums instead of 12). Lane
 * i gets the sum of v[vf_hsum_slot(i)]: position i % 4 of a group holds
 * v[j], v[j + n/2], v[j + n/4], v[j + 3n/4], group g the j with g's bits
 * reversed. */
#define VF_GROUPS (VF_LANES / 4)
#define vf_hsum_slot(i)                                                                              \
  ((VF_GROUPS == 4 ? ((((i) / 4) & 1) << 1 | (((i) / 4) >> 1 & 1)) : (i) / 4) +                      \
   ((i) % 4 == 0 ? 0 : (i) % 4 == 1 ? VF_LANES / 2 : (i) % 4 == 2 ? VF_LANES / 4 : 3 * VF_LANES / 4))
static inline __attribute__((always_inline)) vf vf_hsum_lanes(vf *v) {
#pragma GCC unroll 8
  for (int j = 0; j < VF_LANES / 2; ++j) v[j] = vf_pair_sum(v[j], v[j + VF_LANES / 2]);
#pragma GCC unroll 4
  for (int j = 0; j < VF_LANES / 4; ++j) v[j] = vf_pair_sum(v[j], v[j + VF_LANES / 4]);
  for (int j = 0; j < VF_LANES / 8; ++j) {
    const vf own = vf_blend_bit(v[j], v[j + VF_LANES / 8], 4);
    const vf other = vf_blend_bit(v[j + VF_LANES / 8], v[j], 4);
    v[j] = vf_add(own, vf_butterfly(other, 4));
  }
  if (VF_LANES >= 16) {
    const vf own = vf_blend_bit(v[0], v[1], 8);
    const vf other = vf_blend_bit(v[1], v[0], 8);
    v[0] = vf_add(own, vf_butterfly(other, 8));
  }
  return v[0];
}
#else
#define vf_hsum_slot(i) (i)
/* Lane i of the result = the sum of all lanes of v[i] (v is clobbered): about
 * 4 * VF_LANES operations for VF_LANES sums, against a full reduction each.
 * Spelled out level by level so every shuffle and blend gets an immediate. */
static inline __attribute__((always_inline)) vf vf_hsum_lanes(vf *v) {
  if (VF_LANES >= 16) vf_fold_bit(v, 8);
  if (VF_LANES >= 8) vf_fold_bit(v, 4);
  if (VF_LANES >= 4) vf_fold_bit(v, 2);
  vf_fold_bit(v, 1);
  return v[0];
}
#endif

/* Transposes VF_LANES x VF_LANES floats held as v[row] in place: each level
 * swaps the off-diagonal s x s blocks, 2 * VF_LANES operations a level. */
static inline __attribute__((always_inline)) void vf_swap_blocks(vf *v, const int s) {
#pragma GCC unroll 16
  for (int i = 0; i < VF_LANES; ++i) {
    if (i & s) continue;
    const vf lo = v[i], hi = v[i + s];
    if (VF_TRN_OK(s)) {
      v[i] = vf_trn1(lo, hi, s), v[i + s] = vf_trn2(lo, hi, s);
      continue;
    }
    v[i] = vf_blend_bit(lo, vf_butterfly(hi, s), s);
    v[i + s] = vf_blend_bit(vf_butterfly(lo, s), hi, s);
  }
}
static inline __attribute__((always_inline)) void vf_transpose(vf *v) {
  if (VF_LANES >= 16) vf_swap_blocks(v, 8);
  if (VF_LANES >= 8) vf_swap_blocks(v, 4);
  if (VF_LANES >= 4) vf_swap_blocks(v, 2);
  vf_swap_blocks(v, 1);
}

/* Every lane gets the max (sum) over the lanes congruent to it modulo g. */
static inline vf vf_group_max(vf v, int g) {
  for (int s = VF_LANES / 2; s >= g; s /= 2) v = vf_max(v, vf_butterfly(v, s));
  return v;
}
static inline vf vf_group_sum(vf v, int g) {
  for (int s = VF_LANES / 2; s >= g; s /= 2) v = vf_add(v, vf_butterfly(v, s));
  return v;
}
#endif

#endif
