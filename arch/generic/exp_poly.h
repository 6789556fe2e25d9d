/* exp(x) over one ISA's vector layer (vec.h included first, with
 * vf_pow2_m1 and vf_exp_limits): inlined where the softmax calls it, in about
 * ten fused multiply-adds against SLEEF's thirteen behind a call. n =
 * round(x / ln 2) comes from the low mantissa bits of x * log2(e) + 1.5 * 2^23,
 * r = x - n ln 2 in two steps (ln 2 split so that n * LN2_HI is exact), e^r
 * by a degree-6 polynomial fitted for relative error on |r| <= ln(2) / 2
 * (1.9e-9), all coefficients doubled so the result scales by 2^(n - 1): that
 * stays a normal float for n up to 128, i.e. all of x <= 88.72. About 1 ulp
 * against exp in float64; 0 below -86.9 (true results under 2e-38), +inf
 * above 88.72, NaN stays NaN. */
#ifndef VECATTN_GENERIC_EXP_POLY_H
#define VECATTN_GENERIC_EXP_POLY_H

#define VF_EXP_MAGIC 12582912.0f /* 1.5 * 2^23 */
#define VF_EXP_LO (-86.9f)
#define VF_EXP_HI 88.72283f

static inline __attribute__((always_inline)) vf vf_exp_poly(vf x) {
  const vf t = vf_fma(x, vf_set1(1.44269504088896341f), vf_set1(VF_EXP_MAGIC));
  const vf n = vf_sub(t, vf_set1(VF_EXP_MAGIC));
  vf r = vf_fma(n, vf_set1(-0.693359375f), x);
  r = vf_fma(n, vf_set1(2.12194440054690583e-4f), r);
  vf p = vf_set1(2 * 0.0013836784247986253f);
  p = vf_fma(p, r, vf_set1(2 * 0.00837481443395591f));
  p = vf_fma(p, r, vf_set1(2 * 0.04166822644470176f));
  p = vf_fma(p, r, vf_set1(2 * 0.16666420192697223f));
  p = vf_fma(p, r, vf_set1(2 * 0.4999999207740545f));
  p = vf_fma(p, r, vf_set1(2 * 1.0000000363162485f));
  p = vf_fma(p, r, vf_set1(2 * 1.0000000005541596f));
  return vf_exp_limits(x, vf_mul(p, vf_pow2_m1(t)), VF_EXP_LO, VF_EXP_HI);
}

#endif
