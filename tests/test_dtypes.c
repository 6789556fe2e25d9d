/* Element types (f16, bf16, q8_0): vecattn_convert against reference encoders
 * written here from the formats' definitions, and sdpa / attention weights /
 * attend / the MHA layer with typed operands on every ISA against the float64
 * reference, which decodes the very bytes the library reads. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref.h"
#include "ref_attend.h"
#include "ref_mha.h"
#include "testutil.h"

/* ---- reference encoders ---- */

static uint32_t bits_of(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  return u;
}
static float float_of(uint32_t u) {
  float x;
  memcpy(&x, &u, sizeof x);
  return x;
}

/* Nearest f16, ties to even, by exact double arithmetic on the value. */
static uint16_t enc_f16(float x) {
  if (isnan(x)) return 0x7e00;
  const uint16_t sign = signbit(x) ? 0x8000 : 0;
  const double a = fabs((double)x);
  if (a >= 65520.0) return sign | 0x7c00; /* 65504 + half an ulp rounds up (odd mantissa) */
  if (a < ldexp(1.0, -14)) return sign | (uint16_t)nearbyint(a * ldexp(1.0, 24)); /* subnormal grid */
  int e;
  frexp(a, &e); /* a in [2^(e-1), 2^e) */
  double m = nearbyint(a * ldexp(1.0, 11 - e)); /* [1024, 2048] */
  if (m == 2048.0) m = 1024.0, ++e;
  if (e - 1 + 15 >= 31) return sign | 0x7c00;
  return sign | (uint16_t)((e - 1 + 15) << 10) | (uint16_t)(m - 1024.0);
}

/* Nearest bf16, ties to even, by comparing the dropped half with 0x8000. */
static uint16_t enc_bf16(float x) {
  const uint32_t u = bits_of(x);
  if (isnan(x)) return (uint16_t)((u >> 16) | 0x40);
  uint32_t r = u >> 16;
  const uint32_t rest = u & 0xffff;
  if (rest > 0x8000 || (rest == 0x8000 && (r & 1))) ++r;
  return (uint16_t)r;
}

/* ggml's q8_0: d = max|x| / 127 (f32, stored as f16), q = x * (1 / d) rounded
 * to nearest even; a block whose 1 / d overflows stores zeros (ggml converts
 * an infinity there, which C leaves undefined). */
static void enc_q8_0(const float *x, unsigned char *blk) {
  float amax = 0.0f;
  for (int j = 0; j < 32; ++j) amax = fmaxf(amax, fabsf(x[j]));
  float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
  if (isinf(id)) d = 0.0f, id = 0.0f;
  const uint16_t dh = enc_f16(d);
  memcpy(blk, &dh, 2);
  for (int j = 0; j < 32; ++j) blk[2 + j] = (unsigned char)(int8_t)nearbyintf(x[j] * id);
}

/* A float drawn over many binades, with specials now and then. */
static float rand_float(void) {
  const uint64_t r = tu_rand_u64();
  switch (r % 16) {
  case 0: return float_of((uint32_t)(r >> 32)); /* any bit pattern */
  case 1: return (float)ldexp(tu_rand_normal(), (int)tu_rand_int(-30, -12)); /* f16 subnormal range */
  case 2: return (float)(65504.0 + 32.0 * (tu_rand_uniform() - 0.5)); /* around f16's largest */
  case 3: return (float)(tu_rand_int(-4096, 4096) * 0.5); /* exact halves: f16 ties */
  default: return (float)ldexp(tu_rand_normal(), (int)tu_rand_int(-20, 20));
  }
}

/* ---- conversions ---- */

static const int64_t sizes[] = {1, 3, 17, 63, 65, 127, 129, 1000};
#define NSIZES ((int)(sizeof sizes / sizeof sizes[0]))

START_TEST(test_f16_widen_every_value) {
  uint16_t *h = tu_guarded_alloc(65536 * 2, 4);
  float *f = tu_guarded_alloc(65536 * 4, 4);
  for (uint32_t i = 0; i < 65536; ++i) h[i] = (uint16_t)i;
  TU_FOR_EACH_ISA(isa) {
    tu_poison(f, 65536);
    ck_assert_int_eq(vecattn_convert(h, VECATTN_F16, f, VECATTN_F32, 65536), VECATTN_OK);
    for (uint32_t i = 0; i < 65536; ++i) {
      const double want = ref_f16((uint16_t)i);
      ck_assert_msg(isnan(want) ? isnan(f[i]) : (double)f[i] == want && !signbit(f[i]) == !signbit(want),
                    "[%s] f16 0x%04x -> %g, want %g", vecattn_isa_name(isa), i, (double)f[i], want);
    }
    ck_assert_msg(tu_guard_ok(f), "[%s] wrote past the f32 output", vecattn_isa_name(isa));
  }
  tu_guarded_free(h), tu_guarded_free(f);
}
END_TEST

/* f32 -> f16 / bf16 on n values, then back: rounding as the reference encoders, NaN stays NaN. */
static void check_narrow(vecattn_isa isa, vecattn_dtype t, int64_t n) {
  float *x = tu_guarded_alloc((size_t)n * 4, 4), *back = tu_guarded_alloc((size_t)n * 4, 4);
  uint16_t *h = tu_guarded_alloc((size_t)n * 2, 4);
  for (int64_t i = 0; i < n; ++i) x[i] = rand_float();
  memset(h, 0xA5, (size_t)n * 2);
  ck_assert_int_eq(vecattn_convert(x, VECATTN_F32, h, t, n), VECATTN_OK);
  ck_assert_int_eq(vecattn_convert(h, t, back, VECATTN_F32, n), VECATTN_OK);
  for (int64_t i = 0; i < n; ++i) {
    const uint16_t want = t == VECATTN_F16 ? enc_f16(x[i]) : enc_bf16(x[i]);
    if (isnan(x[i])) {
      ck_assert_msg(isnan(back[i]), "[%s] %s: NaN 0x%08x became 0x%04x", vecattn_isa_name(isa),
                    vecattn_dtype_name(t), bits_of(x[i]), h[i]);
      continue;
    }
    ck_assert_msg(h[i] == want, "[%s] %s(%a = 0x%08x) = 0x%04x, want 0x%04x (n %lld, i %lld)", vecattn_isa_name(isa),
                  vecattn_dtype_name(t), (double)x[i], bits_of(x[i]), h[i], want, (long long)n, (long long)i);
    const double exact = t == VECATTN_F16 ? ref_f16(h[i]) : ref_bf16(h[i]);
    ck_assert_msg((double)back[i] == exact, "[%s] %s 0x%04x widened to %g, want %g", vecattn_isa_name(isa),
                  vecattn_dtype_name(t), h[i], (double)back[i], exact);
  }
  ck_assert_msg(tu_guard_ok(h) && tu_guard_ok(back), "[%s] %s: wrote past an output", vecattn_isa_name(isa),
                vecattn_dtype_name(t));
  tu_guarded_free(x), tu_guarded_free(h), tu_guarded_free(back);
}

START_TEST(test_narrow_f16_bf16) {
  tu_reseed(0xD701);
  TU_FOR_EACH_ISA(isa) {
    for (int s = 0; s < NSIZES; ++s) {
      check_narrow(isa, VECATTN_F16, sizes[s]);
      check_narrow(isa, VECATTN_BF16, sizes[s]);
    }
    if (!tu_emulated()) check_narrow(isa, VECATTN_F16, 200000); /* several threaded chunks */
  }
}
END_TEST

START_TEST(test_q8_0_bytes) {
  tu_reseed(0xD702);
  enum { BLOCKS = 37 };
  float x[BLOCKS * 32], back[BLOCKS * 32];
  for (int b = 0; b < BLOCKS; ++b) {
    const double mag = ldexp(1.0, (int)tu_rand_int(-12, 12));
    for (int j = 0; j < 32; ++j) x[b * 32 + j] = (float)(mag * tu_rand_normal());
  }
  for (int j = 0; j < 32; ++j) x[j] = 0.0f;   /* an all-zero block: d = 0, every int8 0 */
  x[32 + 5] = 1000.0f;                         /* one dominant value */
  for (int j = 0; j < 32; ++j) x[64 + j] = (float)(j - 16) * 0.5f; /* ties at x * 127 / 8 */
  for (int j = 0; j < 32; ++j) x[96 + j] = (float)((j - 16) * 1e-38 / 16); /* 1 / d overflows: zeros */
  for (int j = 0; j < 32; ++j) x[128 + j] = (float)((j - 16) * 1e-36 / 16); /* d tiny, 1 / d finite */
  unsigned char want[BLOCKS * 34], *got = tu_guarded_alloc(BLOCKS * 34, 4);
  for (int b = 0; b < BLOCKS; ++b) enc_q8_0(x + b * 32, want + b * 34);
  TU_FOR_EACH_ISA(isa) {
    for (int64_t nb = 1; nb <= BLOCKS; nb += 12) {
      memset(got, 0x5A, BLOCKS * 34);
      ck_assert_int_eq(vecattn_convert(x, VECATTN_F32, got, VECATTN_Q8_0, nb * 32), VECATTN_OK);
      for (int64_t i = 0; i < nb * 34; ++i)
        ck_assert_msg(got[i] == want[i], "[%s] q8_0 byte %lld (block %lld) = %d, want %d", vecattn_isa_name(isa),
                      (long long)i, (long long)(i / 34), got[i], want[i]);
      ck_assert_msg(nb == BLOCKS || got[nb * 34] == 0x5A, "[%s] wrote past %lld blocks", vecattn_isa_name(isa),
                    (long long)nb);
      ck_assert_int_eq(vecattn_convert(got, VECATTN_Q8_0, back, VECATTN_F32, nb * 32), VECATTN_OK);
      for (int64_t i = 0; i < nb * 32; ++i) {
        uint16_t d;
        memcpy(&d, want + i / 32 * 34, 2);
        const double exact = ref_f16(d) * (double)(int8_t)want[i / 32 * 34 + 2 + i % 32];
        ck_assert_msg((double)back[i] == exact, "[%s] q8_0 element %lld widened to %g, want %g",
                      vecattn_isa_name(isa), (long long)i, (double)back[i], exact);
      }
    }
    ck_assert(tu_guard_ok(got));
  }
  tu_guarded_free(got);
}
END_TEST

/* Between two non-f32 types the value goes through f32. */
START_TEST(test_convert_between_types) {
  tu_reseed(0xD703);
  enum { N = 96 };
  float x[N];
  uint16_t h[N], b[N];
  unsigned char q[N / 32 * 34];
  for (int i = 0; i < N; ++i) x[i] = (float)tu_rand_normal();
  ck_assert_int_eq(vecattn_convert(x, VECATTN_F32, h, VECATTN_F16, N), VECATTN_OK);
  TU_FOR_EACH_ISA(isa) {
    ck_assert_int_eq(vecattn_convert(h, VECATTN_F16, b, VECATTN_BF16, N), VECATTN_OK);
    for (int i = 0; i < N; ++i)
      ck_assert_msg(b[i] == enc_bf16((float)ref_f16(h[i])), "[%s] f16 -> bf16 at %d", vecattn_isa_name(isa), i);
    ck_assert_int_eq(vecattn_convert(b, VECATTN_BF16, q, VECATTN_Q8_0, N), VECATTN_OK);
    for (int blk = 0; blk < N / 32; ++blk) {
      float wide[32];
      unsigned char want[34];
      for (int j = 0; j < 32; ++j) wide[j] = (float)ref_bf16(b[blk * 32 + j]);
      enc_q8_0(wide, want);
      ck_assert_msg(memcmp(want, q + blk * 34, 34) == 0, "[%s] bf16 -> q8_0 block %d", vecattn_isa_name(isa), blk);
    }
  }
}
END_TEST

START_TEST(test_convert_errors) {
  float x[64] = {1.0f};
  uint16_t h[64];
  ck_assert_int_eq(vecattn_convert(NULL, VECATTN_F32, h, VECATTN_F16, 4), VECATTN_EINVAL);
  ck_assert_int_eq(vecattn_convert(x, VECATTN_F32, NULL, VECATTN_F16, 4), VECATTN_EINVAL);
  ck_assert_int_eq(vecattn_convert(x, VECATTN_F32, h, VECATTN_F16, -1), VECATTN_EINVAL);
  ck_assert_int_eq(vecattn_convert(x, (vecattn_dtype)9, h, VECATTN_F16, 4), VECATTN_EINVAL);
  ck_assert_int_eq(vecattn_convert(x, VECATTN_F32, h, (vecattn_dtype)-1, 4), VECATTN_EINVAL);
  ck_assert_int_eq(vecattn_convert(x, VECATTN_F32, h, VECATTN_Q8_0, 33), VECATTN_EINVAL);
  ck_assert_int_eq(vecattn_convert(x, VECATTN_F32, x + 1, VECATTN_F16, 4), VECATTN_EINVAL); /* overlap */
  ck_assert_int_eq(vecattn_convert(x, VECATTN_F32, x + 4, VECATTN_F16, 4), VECATTN_OK);      /* adjacent */
  ck_assert_int_eq(vecattn_convert(x, VECATTN_F32, h, VECATTN_F16, 0), VECATTN_OK);
  ck_assert_uint_eq(vecattn_dtype_bytes(VECATTN_Q8_0, 64), 68);
  ck_assert_uint_eq(vecattn_dtype_bytes(VECATTN_Q8_0, 40), 0);
  ck_assert_uint_eq(vecattn_dtype_bytes(VECATTN_BF16, 5), 10);
  ck_assert_uint_eq(vecattn_dtype_bytes(VECATTN_F32, INT64_MAX), 0);
  vecattn_dtype t;
  for (int i = 0; i < VECATTN_DTYPE_COUNT; ++i) {
    ck_assert_int_eq(vecattn_dtype_from_name(vecattn_dtype_name((vecattn_dtype)i), &t), 0);
    ck_assert_int_eq(t, i);
  }
  ck_assert_int_eq(vecattn_dtype_from_name("f64", &t), -1);
  ck_assert_str_eq(vecattn_dtype_name((vecattn_dtype)7), "unknown");
}
END_TEST

/* ---- typed tensors ---- */

typedef enum { LAY_BHSD, LAY_BSHD, LAY_GAPS } lay; /* LAY_GAPS: 32 unused elements after every row */

typedef struct {
  vecattn_tensor t;
  unsigned char *mem;
  size_t bytes;
} typed;

static void typed_make(typed *x, vecattn_dtype dt, lay l, int64_t b, int64_t h, int64_t s, int64_t d) {
  const int64_t row = l == LAY_GAPS ? d + 32 : d;
  x->bytes = vecattn_dtype_bytes(dt, b * h * s * row);
  x->mem = tu_guarded_alloc(x->bytes, 4 * (size_t)tu_rand_int(0, 3));
  memset(x->mem, 0xFF, x->bytes); /* NaN in every float type: unwritten outputs show */
  if (l == LAY_BSHD) {
    x->t = vecattn_tensor_bshd_typed(x->mem, dt, b, s, h, d);
  } else {
    x->t = vecattn_tensor_bhsd_typed(x->mem, dt, b, h, s, d);
    x->t.stride[2] = row, x->t.stride[1] = s * row, x->t.stride[0] = h * s * row;
  }
}

/* Random values of about unit size, as valid encodings of the type. */
static void typed_fill(typed *x) {
  const vecattn_tensor *t = &x->t;
  for (int64_t b = 0; b < t->shape[0]; ++b)
    for (int64_t h = 0; h < t->shape[1]; ++h)
      for (int64_t s = 0; s < t->shape[2]; ++s) {
        const int64_t row = b * t->stride[0] + h * t->stride[1] + s * t->stride[2];
        for (int64_t d = 0; d < t->shape[3]; ++d) {
          const float v = (float)tu_rand_normal();
          switch (t->dtype) {
          case VECATTN_F16: {
            const uint16_t e = enc_f16(v);
            memcpy(x->mem + 2 * (row + d), &e, 2);
            break;
          }
          case VECATTN_BF16: {
            const uint16_t e = enc_bf16(v);
            memcpy(x->mem + 2 * (row + d), &e, 2);
            break;
          }
          case VECATTN_Q8_0: {
            unsigned char *blk = x->mem + (row + d) / 32 * 34;
            if (d % 32 == 0) {
              const uint16_t scale = enc_f16((float)(0.02 * (0.5 + tu_rand_uniform())));
              memcpy(blk, &scale, 2);
            }
            blk[2 + d % 32] = (unsigned char)(int8_t)tu_rand_int(-127, 127);
            break;
          }
          default: memcpy(x->mem + 4 * (row + d), &v, 4); break;
          }
        }
      }
}

static void typed_free(typed *x) {
  ck_assert_msg(tu_guard_ok(x->mem), "write outside a typed tensor's buffer");
  tu_guarded_free(x->mem);
}

/* Relative L2 error of a typed [B,H,S,D] result against a contiguous
 * reference; every element must be finite. */
static double typed_rel_l2(const vecattn_tensor *t, const double *ref, const char *label) {
  double num = 0, den = 0;
  size_t i = 0;
  for (int64_t b = 0; b < t->shape[0]; ++b)
    for (int64_t h = 0; h < t->shape[1]; ++h)
      for (int64_t s = 0; s < t->shape[2]; ++s)
        for (int64_t d = 0; d < t->shape[3]; ++d, ++i) {
          const double got = ref_at(t, b, h, s, d);
          ck_assert_msg(isfinite(got), "%s: element [%lld,%lld,%lld,%lld] not written or not finite (%g)", label,
                        (long long)b, (long long)h, (long long)s, (long long)d, got);
          num += (got - ref[i]) * (got - ref[i]);
          den += ref[i] * ref[i];
        }
  return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* Output rounding sets the bar: f32 is held to the project's 1e-5, a 16-bit
 * output to a bit over its half-ulp (2^-11 for f16, 2^-8 for bf16). */
static double out_tol(vecattn_dtype t) {
  return t == VECATTN_F16 ? 6e-4 : t == VECATTN_BF16 ? 4.5e-3 : 1e-5;
}

typedef struct {
  int b, hq, hkv, nq, nk;
  int mask; /* 0 none, 1 causal, 2 causal + window, 3 kv_len, 4 f16 bias + alibi */
} sdpa_shape;

static const sdpa_shape shapes[] = {
    {2, 8, 2, 1, 129, 0},   /* decode, GQA 4: keys scored in place */
    {1, 4, 4, 3, 65, 1},    /* a few rows per tile */
    {2, 4, 1, 17, 63, 2},   /* MQA */
    {1, 2, 2, 65, 127, 3},  /* prefill tiles: K widened once per block */
    {1, 4, 2, 129, 129, 4}, /* prefill with bias and ALiBi */
    {1, 8, 2, 1, 1000, 1},  /* decode split into key chunks */
};
#define NSHAPES ((int)(sizeof shapes / sizeof shapes[0]))

static const vecattn_dtype q_types[] = {VECATTN_F32, VECATTN_F16, VECATTN_BF16};

static void run_sdpa_case(vecattn_isa isa, const sdpa_shape *sh, vecattn_dtype kt, vecattn_dtype vt, int variant) {
  const vecattn_dtype qt = q_types[variant % 3], ot = q_types[(variant / 3 + variant) % 3];
  const int quant = kt == VECATTN_Q8_0 || vt == VECATTN_Q8_0;
  static const int64_t d_plain[] = {1, 3, 17, 64, 80}, d_quant[] = {32, 64, 96, 128};
  const int64_t d = quant ? d_quant[variant % 4] : d_plain[variant % 5];
  const int64_t dv = quant ? d_quant[(variant + 1) % 4] : d_plain[(variant + 2) % 5];
  const lay kl = (lay)(variant % 3), vl = (lay)((variant + 1) % 3);
  typed q, k, v, out, bias;
  typed_make(&q, qt, LAY_BSHD, sh->b, sh->hq, sh->nq, d);
  typed_make(&k, kt, kl, sh->b, sh->hkv, sh->nk, d);
  typed_make(&v, vt, vl, sh->b, sh->hkv, sh->nk, dv);
  typed_make(&out, ot, variant % 2 ? LAY_BSHD : LAY_BHSD, sh->b, sh->hq, sh->nq, dv);
  typed_fill(&q), typed_fill(&k), typed_fill(&v);

  vecattn_sdpa_opts o = {0};
  int32_t kv_len[2] = {sh->nk, sh->nk / 2 + 1};
  float slopes[8];
  float *lse = tu_guarded_alloc(sizeof(float) * (size_t)(sh->b * sh->hq * sh->nq), 4);
  double *ref = malloc(sizeof(double) * (size_t)(sh->b * sh->hq * sh->nq * dv));
  double *ref_lse = malloc(sizeof(double) * (size_t)(sh->b * sh->hq * sh->nq));
  o.lse = lse;
  o.causal = sh->mask == 1 || sh->mask == 2;
  o.window = sh->mask == 2 ? 9 : 0;
  if (sh->mask == 3) o.kv_len = kv_len;
  if (sh->mask == 4) {
    typed_make(&bias, VECATTN_F16, LAY_BHSD, 1, sh->hq, sh->nq, sh->nk);
    typed_fill(&bias);
    o.bias = &bias.t;
    for (int h = 0; h < sh->hq; ++h) slopes[h] = -0.0625f * (float)(h + 1);
    o.alibi_slopes = slopes;
  }
  ref_sdpa(&q.t, &k.t, &v.t, &o, ref, ref_lse);

  char label[200];
  snprintf(label, sizeof label, "[%s] q %s k %s v %s out %s, B %d Hq %d Hkv %d Nq %d Nk %d D %lld Dv %lld mask %d",
           vecattn_isa_name(isa), vecattn_dtype_name(qt), vecattn_dtype_name(kt), vecattn_dtype_name(vt),
           vecattn_dtype_name(ot), sh->b, sh->hq, sh->hkv, sh->nq, sh->nk, (long long)d, (long long)dv, sh->mask);
  ck_assert_msg(vecattn_sdpa(&q.t, &k.t, &v.t, &out.t, &o) == VECATTN_OK, "%s: call failed", label);
  const double err = typed_rel_l2(&out.t, ref, label);
  if (tu_verbose()) printf("%s: rel err %.3g\n", label, err);
  ck_assert_msg(err <= out_tol(ot), "%s: relative L2 error %.3g > %.3g", label, err, out_tol(ot));
  size_t mismatch = 0;
  const double lse_err = tu_rel_l2_lse(lse, ref_lse, (size_t)(sh->b * sh->hq * sh->nq), &mismatch);
  ck_assert_msg(mismatch == 0 && lse_err <= 1e-5, "%s: lse error %.3g, %zu mismatches", label, lse_err, mismatch);

  typed_free(&q), typed_free(&k), typed_free(&v), typed_free(&out);
  if (sh->mask == 4) typed_free(&bias);
  tu_guarded_free(lse);
  free(ref), free(ref_lse);
}

/* Every (K, V) type pair on every shape; Q and out types, head dims and
 * layouts rotate across the cases. */
START_TEST(test_sdpa_kv_types) {
  const vecattn_dtype kt = (vecattn_dtype)(_i / VECATTN_DTYPE_COUNT), vt = (vecattn_dtype)(_i % VECATTN_DTYPE_COUNT);
  tu_reseed(0xD710 + (uint64_t)_i);
  TU_FOR_EACH_ISA(isa) {
    for (int s = 0; s < NSHAPES; ++s) {
      /* Under emulation: the decode and one prefill shape, each pair still on every ISA. */
      if (tu_emulated() && s != 0 && s != 3) continue;
      run_sdpa_case(isa, &shapes[s], kt, vt, _i + s);
    }
  }
}
END_TEST

START_TEST(test_weights_types) {
  tu_reseed(0xD720);
  static const vecattn_dtype kts[] = {VECATTN_F16, VECATTN_BF16, VECATTN_Q8_0};
  TU_FOR_EACH_ISA(isa) {
    for (int c = 0; c < 3; ++c) {
      const int64_t B = 1, H = 4, NQ = c == 0 ? 1 : 33, NK = 65, D = 64;
      typed q, k, w;
      typed_make(&q, q_types[c], LAY_BHSD, B, H, NQ, D);
      typed_make(&k, kts[c], (lay)c, B, 2, NK, D);
      typed_make(&w, VECATTN_F32, LAY_BHSD, B, H, NQ, NK);
      typed_fill(&q), typed_fill(&k);
      vecattn_sdpa_opts o = {0};
      o.causal = c == 1;
      double *ref = malloc(sizeof(double) * (size_t)(B * H * NQ * NK));
      ref_weights(&q.t, &k.t, &o, ref, NULL);
      ck_assert_int_eq(vecattn_attention_weights(&q.t, &k.t, &w.t, &o), VECATTN_OK);
      char label[96];
      snprintf(label, sizeof label, "[%s] weights, q %s k %s", vecattn_isa_name(isa), vecattn_dtype_name(q_types[c]),
               vecattn_dtype_name(kts[c]));
      const double err = typed_rel_l2(&w.t, ref, label);
      ck_assert_msg(err <= 1e-5, "%s: relative L2 error %.3g", label, err);
      typed w16;
      typed_make(&w16, VECATTN_F16, LAY_BHSD, B, H, NQ, NK);
      ck_assert_msg(vecattn_attention_weights(&q.t, &k.t, &w16.t, &o) == VECATTN_EINVAL, "%s: f16 weights accepted",
                    label);
      typed_free(&q), typed_free(&k), typed_free(&w), typed_free(&w16);
      free(ref);
    }
  }
}
END_TEST

/* Case 2: additive scores with q8_0 K and 3-element queries, a query dim
 * under one q8_0 block (decode tiles once sized their key blocks by D q8_0
 * elements of K: zero bytes, a division by zero). */
START_TEST(test_attend_types) {
  tu_reseed(0xD730);
  enum { B = 1, H = 2, NQ = 5, NK = 33, DQ = 32, DK = 64, DA = 16, DQ_SHORT = 3 };
  float *w = malloc(sizeof(float) * DQ * DK), *u = malloc(sizeof(float) * DA * DK), va[DA], ws[DA * DQ_SHORT];
  tu_fill_normal(w, DQ * DK), tu_fill_normal(u, DA * DK), tu_fill_normal(va, DA), tu_fill_normal(ws, DA * DQ_SHORT);
  for (int i = 0; i < DQ * DK; ++i) w[i] *= 0.125f;
  for (int i = 0; i < DA * DK; ++i) u[i] *= 0.125f;
  TU_FOR_EACH_ISA(isa) {
    for (int c = 0; c < 3; ++c) {
      const int additive = c > 0;
      vecattn_score_fn fn = {additive ? VECATTN_SCORE_ADDITIVE : VECATTN_SCORE_GENERAL, w, u, va, DA};
      if (additive) fn.w = c == 2 ? ws : u; /* W_q [Da x Dq]: Dq = Dk in case 1 */
      const int64_t dq = c == 2 ? DQ_SHORT : additive ? DK : DQ;
      typed q, k, v, out;
      typed_make(&q, c == 2 ? VECATTN_F32 : additive ? VECATTN_BF16 : VECATTN_F16, LAY_BSHD, B, H, NQ, dq);
      typed_make(&k, c == 1 ? VECATTN_F16 : VECATTN_Q8_0, LAY_BHSD, B, H, NK, DK);
      typed_make(&v, VECATTN_Q8_0, LAY_GAPS, B, H, NK, 32);
      typed_make(&out, VECATTN_F32, LAY_BHSD, B, H, NQ, 32);
      typed_fill(&q), typed_fill(&k), typed_fill(&v);
      double *ref = malloc(sizeof(double) * B * H * NQ * 32);
      ref_attend(&fn, &q.t, &k.t, &v.t, NULL, ref, NULL);
      ck_assert_int_eq(vecattn_attend(&fn, &q.t, &k.t, &v.t, &out.t, NULL), VECATTN_OK);
      char label[96];
      snprintf(label, sizeof label, "[%s] attend %s, q %s k %s", vecattn_isa_name(isa),
               additive ? "additive" : "general", vecattn_dtype_name(q.t.dtype), vecattn_dtype_name(k.t.dtype));
      const double err = typed_rel_l2(&out.t, ref, label);
      ck_assert_msg(err <= 1e-5, "%s: relative L2 error %.3g", label, err);
      typed_free(&q), typed_free(&k), typed_free(&v), typed_free(&out);
      free(ref);
    }
  }
  free(w), free(u);
}
END_TEST

/* The split-key decode path and the prefill path give the same bits for any thread count. */
START_TEST(test_types_threads_bitwise) {
  if (!tu_threads_ok()) return;
  tu_reseed(0xD740);
  static const sdpa_shape sh[] = {{1, 8, 2, 1, 3000, 0}, {1, 2, 1, 200, 300, 1}};
  for (int c = 0; c < 2; ++c) {
    typed q, k, v, o1, o2;
    typed_make(&q, VECATTN_BF16, LAY_BHSD, 1, sh[c].hq, sh[c].nq, 64);
    typed_make(&k, VECATTN_Q8_0, LAY_BSHD, 1, sh[c].hkv, sh[c].nk, 64);
    typed_make(&v, VECATTN_F16, LAY_BHSD, 1, sh[c].hkv, sh[c].nk, 64);
    typed_make(&o1, VECATTN_F32, LAY_BHSD, 1, sh[c].hq, sh[c].nq, 64);
    typed_make(&o2, VECATTN_F32, LAY_BHSD, 1, sh[c].hq, sh[c].nq, 64);
    typed_fill(&q), typed_fill(&k), typed_fill(&v);
    TU_FOR_EACH_ISA(isa) {
      vecattn_sdpa_opts o = {0};
      o.causal = sh[c].mask;
      o.num_threads = 1;
      ck_assert_int_eq(vecattn_sdpa(&q.t, &k.t, &v.t, &o1.t, &o), VECATTN_OK);
      for (int threads = 2; threads <= 3; ++threads) {
        o.num_threads = threads;
        ck_assert_int_eq(vecattn_sdpa(&q.t, &k.t, &v.t, &o2.t, &o), VECATTN_OK);
        ck_assert_msg(memcmp(o1.mem, o2.mem, o1.bytes) == 0, "[%s] case %d: %d threads differ from 1",
                      vecattn_isa_name(isa), c, threads);
      }
    }
    typed_free(&q), typed_free(&k), typed_free(&v), typed_free(&o1), typed_free(&o2);
  }
}
END_TEST

/* Decode over K and V that interleave the heads by key (BSHD, as a llama.cpp
 * cache read in place) with enough kv heads and keys that vecattn_sdpa walks
 * heads in groups and splits keys (B 4, Hq 32, Hkv 8, Nk 4096, D 64; the
 * chunk minimum depends on K's type): against float64 on every ISA, and
 * bitwise across thread counts. Native only: 4096 keys cost minutes under
 * emulation, and the grouping is plain C. */
START_TEST(test_grouped_decode_types) {
  if (tu_emulated()) {
    printf("EMULATED: skipping the grouped BSHD decode with typed K/V (Nk 4096)\n");
    return;
  }
  static const vecattn_dtype pairs[][2] = {{VECATTN_F16, VECATTN_F16}, {VECATTN_Q8_0, VECATTN_Q8_0},
                                           {VECATTN_BF16, VECATTN_Q8_0}};
  const vecattn_dtype kt = pairs[_i][0], vt = pairs[_i][1];
  const int64_t B = 4, HQ = 32, HKV = 8, NK = 4096, D = 64;
  tu_reseed(0xD760 + (uint64_t)_i);
  typed q, k, v, o1, o2;
  typed_make(&q, VECATTN_F32, LAY_BSHD, B, HQ, 1, D);
  typed_make(&k, kt, LAY_BSHD, B, HKV, NK, D);
  typed_make(&v, vt, LAY_BSHD, B, HKV, NK, D);
  typed_make(&o1, VECATTN_F32, LAY_BHSD, B, HQ, 1, D);
  typed_make(&o2, VECATTN_F32, LAY_BHSD, B, HQ, 1, D);
  typed_fill(&q), typed_fill(&k), typed_fill(&v);
  vecattn_sdpa_opts o = {0};
  double *ref = malloc(sizeof(double) * (size_t)(B * HQ * D)), *ref_lse = malloc(sizeof(double) * (size_t)(B * HQ));
  ref_sdpa(&q.t, &k.t, &v.t, &o, ref, ref_lse);
  TU_FOR_EACH_ISA(isa) {
    char label[128];
    snprintf(label, sizeof label, "[%s] grouped BSHD decode, k %s v %s", vecattn_isa_name(isa), vecattn_dtype_name(kt),
             vecattn_dtype_name(vt));
    o.num_threads = 1;
    ck_assert_msg(vecattn_sdpa(&q.t, &k.t, &v.t, &o1.t, &o) == VECATTN_OK, "%s: call failed", label);
    const double err = typed_rel_l2(&o1.t, ref, label);
    ck_assert_msg(err <= 1e-5, "%s: relative L2 error %.3g", label, err);
    for (int threads = 2; threads <= 3 && tu_threads_ok(); ++threads) {
      o.num_threads = threads;
      memset(o2.mem, 0xFF, o2.bytes);
      ck_assert_int_eq(vecattn_sdpa(&q.t, &k.t, &v.t, &o2.t, &o), VECATTN_OK);
      ck_assert_msg(memcmp(o1.mem, o2.mem, o1.bytes) == 0, "%s: %d threads differ from 1", label, threads);
    }
  }
  free(ref), free(ref_lse);
  typed_free(&q), typed_free(&k), typed_free(&v), typed_free(&o1), typed_free(&o2);
}
END_TEST

START_TEST(test_types_rejected) {
  typed q, k, v, out;
  tu_reseed(0xD750);
  typed_make(&q, VECATTN_F32, LAY_BHSD, 1, 2, 3, 64);
  typed_make(&k, VECATTN_Q8_0, LAY_BHSD, 1, 2, 5, 64);
  typed_make(&v, VECATTN_F16, LAY_BHSD, 1, 2, 5, 64);
  typed_make(&out, VECATTN_F32, LAY_BHSD, 1, 2, 3, 64);
  typed_fill(&q), typed_fill(&k), typed_fill(&v);
  const unsigned char *before = tu_snapshot(out.mem, out.bytes);
  vecattn_tensor qq = q.t, kk = k.t, oo = out.t;
#define REJECT(what, stmt, target, orig)                                                                 \
  do {                                                                                                   \
    target = orig;                                                                                       \
    stmt;                                                                                                \
    ck_assert_msg(vecattn_sdpa(&qq, &kk, &v.t, &oo, NULL) == VECATTN_EINVAL, "accepted: %s", what);     \
    ck_assert_msg(memcmp(before, out.mem, out.bytes) == 0, "%s: out written", what);                     \
    target = orig;                                                                                       \
  } while (0)
  REJECT("q8_0 queries", qq.dtype = VECATTN_Q8_0, qq, q.t);
  REJECT("q8_0 out", oo.dtype = VECATTN_Q8_0, oo, out.t);
  REJECT("unknown dtype", kk.dtype = (vecattn_dtype)4, kk, k.t);
  REJECT("negative dtype", qq.dtype = (vecattn_dtype)-1, qq, q.t);
  REJECT("q8_0 row stride not whole blocks", (kk.stride[2] = 48, kk.stride[1] = 5 * 48, kk.stride[0] = 2 * 5 * 48),
         kk, k.t);
  REJECT("q8_0 head stride not whole blocks", kk.stride[1] = 5 * 64 + 16, kk, k.t);
#undef REJECT
  /* A head dim that is not whole q8_0 blocks. */
  typed k40, v40, q40;
  typed_make(&q40, VECATTN_F32, LAY_BHSD, 1, 2, 3, 40);
  typed_make(&k40, VECATTN_F32, LAY_BHSD, 1, 2, 5, 40);
  typed_make(&v40, VECATTN_F32, LAY_BHSD, 1, 2, 5, 64);
  k40.t.dtype = VECATTN_Q8_0;
  ck_assert_int_eq(vecattn_sdpa(&q40.t, &k40.t, &v40.t, &out.t, NULL), VECATTN_EINVAL);
  /* A q8_0 tensor whose last element would end past its buffer is measured in blocks. */
  vecattn_kv_cache *c = NULL;
  ck_assert_int_eq(vecattn_kv_cache_create_typed(&c, 1, 2, 40, 8, VECATTN_Q8_0, VECATTN_F16), VECATTN_EINVAL);
  ck_assert_int_eq(vecattn_kv_cache_create_typed(&c, 1, 2, 64, 8, VECATTN_F32, (vecattn_dtype)5), VECATTN_EINVAL);
  ck_assert_ptr_null(c);
  ck_assert_int_eq(vecattn_kv_cache_create_typed(&c, 1, 2, 64, 8, VECATTN_Q8_0, VECATTN_BF16), VECATTN_OK);
  vecattn_kv_cache_destroy(c);
  typed_free(&q), typed_free(&k), typed_free(&v), typed_free(&out);
  typed_free(&q40), typed_free(&k40), typed_free(&v40);
  free((void *)before);
}
END_TEST

/* The layer over typed caches: prefill then one-token steps, against the
 * float64 layer on f32 keys and values. The cache's rounding sets the bar. */
START_TEST(test_mha_typed_cache) {
  static const vecattn_dtype cache_types[][2] = {
      {VECATTN_F16, VECATTN_F16}, {VECATTN_BF16, VECATTN_BF16}, {VECATTN_Q8_0, VECATTN_Q8_0}, {VECATTN_Q8_0, VECATTN_F16}};
  static const double tol[] = {2e-3, 1.5e-2, 1.5e-2, 1.5e-2};
  enum { DM = 64, HQ = 4, HKV = 2, HD = 32, BATCH = 2, PRE = 9, STEPS = 3, SEQ = PRE + STEPS };
  tu_reseed(0xD760);
  const int64_t qn = HQ * HD, kvn = HKV * HD, total = 2 * qn * DM + 2 * kvn * DM;
  float *wmem = malloc(sizeof(float) * total);
  tu_fill_normal(wmem, (size_t)total);
  for (int64_t i = 0; i < total; ++i) wmem[i] *= (float)(1.0 / sqrt((double)DM));
  vecattn_mha_weights w = {0};
  w.d_model = DM, w.n_heads = HQ, w.n_kv_heads = HKV, w.head_dim = HD, w.rope = 1;
  w.wq = wmem, w.wk = wmem + qn * DM, w.wv = wmem + qn * DM + kvn * DM, w.wo = wmem + qn * DM + 2 * kvn * DM;
  float *x = malloc(sizeof(float) * BATCH * SEQ * DM), *y = malloc(sizeof(float) * BATCH * SEQ * DM);
  double *ref = malloc(sizeof(double) * BATCH * SEQ * DM);
  tu_fill_normal(x, BATCH * SEQ * DM);
  ref_mha(&w, x, BATCH, SEQ, x, SEQ, 1, 1, ref);
  TU_FOR_EACH_ISA(isa) {
    for (int c = 0; c < 4; ++c) {
      vecattn_kv_cache *cache;
      ck_assert_int_eq(vecattn_kv_cache_create_typed(&cache, BATCH, HKV, HD, SEQ, cache_types[c][0], cache_types[c][1]),
                       VECATTN_OK);
      vecattn_sdpa_opts o = {0};
      o.causal = 1;
      /* prefill rows [0, PRE), then one row at a time; x and y are [batch][seq][dm] */
      float *xs = malloc(sizeof(float) * BATCH * PRE * DM), *ys = malloc(sizeof(float) * BATCH * PRE * DM);
      for (int b = 0; b < BATCH; ++b) memcpy(xs + b * PRE * DM, x + b * SEQ * DM, sizeof(float) * PRE * DM);
      ck_assert_int_eq(vecattn_mha_forward(&w, xs, BATCH, PRE, cache, ys, &o), VECATTN_OK);
      for (int b = 0; b < BATCH; ++b) memcpy(y + b * SEQ * DM, ys + b * PRE * DM, sizeof(float) * PRE * DM);
      for (int s = PRE; s < SEQ; ++s) {
        float xt[BATCH * DM], yt[BATCH * DM];
        for (int b = 0; b < BATCH; ++b) memcpy(xt + b * DM, x + (b * SEQ + s) * DM, sizeof(float) * DM);
        ck_assert_int_eq(vecattn_mha_forward(&w, xt, BATCH, 1, cache, yt, &o), VECATTN_OK);
        for (int b = 0; b < BATCH; ++b) memcpy(y + (b * SEQ + s) * DM, yt + b * DM, sizeof(float) * DM);
      }
      ck_assert_int_eq(vecattn_kv_cache_len(cache), SEQ);
      const double err = tu_rel_l2(y, ref, BATCH * SEQ * DM);
      if (tu_verbose())
        printf("[%s] mha cache k %s v %s: rel err %.3g\n", vecattn_isa_name(isa),
               vecattn_dtype_name(cache_types[c][0]), vecattn_dtype_name(cache_types[c][1]), err);
      ck_assert_msg(err <= tol[c], "[%s] cache k %s v %s: relative L2 error %.3g > %.3g", vecattn_isa_name(isa),
                    vecattn_dtype_name(cache_types[c][0]), vecattn_dtype_name(cache_types[c][1]), err, tol[c]);
      ck_assert_msg(err > 0.0, "[%s] a rounded cache cannot be exact", vecattn_isa_name(isa));
      free(xs), free(ys);
      vecattn_kv_cache_destroy(cache);
    }
  }
  free(wmem), free(x), free(y), free(ref);
}
END_TEST

/* bf16 products (avx512bf16, neonbf16, svebf16 with opts.reduced_precision): prefill tiles round
 * Q, K, P and V to bf16, decode tiles score bf16 K (even D) against queries
 * rounded to bf16; the error against float64 is that rounding's, and the
 * option changes nothing on paths without bf16 products or in other decode. */
START_TEST(test_bf16_products) {
  /* Each path with bf16 products, and the path it extends. */
  static const vecattn_isa pairs[][2] = {{VECATTN_ISA_AVX512BF16, VECATTN_ISA_AVX512},
                                         {VECATTN_ISA_NEONBF16, VECATTN_ISA_NEON},
                                         {VECATTN_ISA_SVEBF16, VECATTN_ISA_SVE},
                                         {VECATTN_ISA_AVX512BF16, VECATTN_ISA_AVX512}};
  const vecattn_isa bf16 = pairs[_i][0], base = pairs[_i][1];
  if (!vecattn_isa_supported(bf16)) {
    printf("SKIP bf16 products on %s: not supported on this machine/build\n", vecattn_isa_name(bf16));
    return;
  }
  if (!tu_isa_selected(bf16)) {
    printf("SKIP bf16 products on %s: not selected by VECATTN_TEST_ISAS\n", vecattn_isa_name(bf16));
    return;
  }
  tu_reseed(0xD770);
  static const struct {
    int nq, nk, d, dv, causal;
    vecattn_dtype qt, kvt;
    int hq; /* 0: 4 query heads over 2 kv heads */
  } cases[] = {
      {65, 127, 64, 64, 1, VECATTN_BF16, VECATTN_BF16, 0}, {129, 129, 128, 128, 0, VECATTN_BF16, VECATTN_BF16, 0},
      {17, 63, 17, 33, 1, VECATTN_F32, VECATTN_BF16, 0},    {64, 65, 80, 7, 0, VECATTN_F16, VECATTN_F32, 0},
      {33, 200, 64, 64, 1, VECATTN_F32, VECATTN_Q8_0, 0},   {1, 300, 128, 128, 1, VECATTN_BF16, VECATTN_BF16, 0},
      /* decode: D 80 ends in part of a vector of pairs; groups of 1 and 4 rows;
       * odd D and f16 K keep f32 products */
      {1, 257, 80, 80, 0, VECATTN_F32, VECATTN_BF16, 8},   {1, 129, 64, 17, 1, VECATTN_F16, VECATTN_BF16, 2},
      {1, 65, 17, 17, 1, VECATTN_F32, VECATTN_BF16, 0},    {1, 100, 64, 64, 0, VECATTN_F32, VECATTN_F16, 0},
  };
  for (int c = 0; c < (int)(sizeof cases / sizeof cases[0]); ++c) {
    const int B = 1, HQ = cases[c].hq ? cases[c].hq : 4, HKV = 2;
    typed q, k, v, out, ref_out;
    typed_make(&q, cases[c].qt, LAY_BSHD, B, HQ, cases[c].nq, cases[c].d);
    typed_make(&k, cases[c].kvt, LAY_BHSD, B, HKV, cases[c].nk, cases[c].d);
    typed_make(&v, cases[c].kvt, LAY_BHSD, B, HKV, cases[c].nk, cases[c].dv);
    typed_make(&out, VECATTN_F32, LAY_BHSD, B, HQ, cases[c].nq, cases[c].dv);
    typed_make(&ref_out, VECATTN_F32, LAY_BHSD, B, HQ, cases[c].nq, cases[c].dv);
    typed_fill(&q), typed_fill(&k), typed_fill(&v);
    vecattn_sdpa_opts o = {0};
    o.causal = cases[c].causal;
    double *ref = malloc(sizeof(double) * (size_t)(B * HQ * cases[c].nq * cases[c].dv));
    ref_sdpa(&q.t, &k.t, &v.t, &o, ref, NULL);
    char label[128];
    snprintf(label, sizeof label, "[%s] bf16 products, q %s k/v %s, Nq %d Nk %d D %d Dv %d", vecattn_isa_name(bf16),
             vecattn_dtype_name(cases[c].qt),
             vecattn_dtype_name(cases[c].kvt), cases[c].nq, cases[c].nk, cases[c].d, cases[c].dv);

    /* Without the option the bf16 path is its base path, bit for bit. */
    ck_assert_int_eq(vecattn_set_isa(base), VECATTN_OK);
    ck_assert_int_eq(vecattn_sdpa(&q.t, &k.t, &v.t, &ref_out.t, &o), VECATTN_OK);
    o.reduced_precision = 1; /* ignored where there are no bf16 products */
    ck_assert_int_eq(vecattn_sdpa(&q.t, &k.t, &v.t, &out.t, &o), VECATTN_OK);
    ck_assert_msg(memcmp(out.mem, ref_out.mem, out.bytes) == 0, "%s: the option changed %s", label,
                  vecattn_isa_name(base));
    ck_assert_int_eq(vecattn_set_isa(bf16), VECATTN_OK);
    o.reduced_precision = 0;
    ck_assert_int_eq(vecattn_sdpa(&q.t, &k.t, &v.t, &out.t, &o), VECATTN_OK);
    ck_assert_msg(memcmp(out.mem, ref_out.mem, out.bytes) == 0, "%s: %s without the option differs from %s", label,
                  vecattn_isa_name(bf16), vecattn_isa_name(base));

    o.reduced_precision = 1;
    memset(out.mem, 0xFF, out.bytes);
    ck_assert_int_eq(vecattn_sdpa(&q.t, &k.t, &v.t, &out.t, &o), VECATTN_OK);
    const double err = typed_rel_l2(&out.t, ref, label);
    /* Decode keeps f32 products unless K is bf16 with an even D and the
     * group's rows fit one vector (fewer than 4 lanes of neonbf16). */
    const int f32_products = cases[c].nq == 1 && (cases[c].kvt != VECATTN_BF16 || cases[c].d % 2 ||
                                                   (bf16 == VECATTN_ISA_NEONBF16 && HQ / HKV >= 4));
    if (tu_verbose()) printf("%s: rel err %.3g\n", label, err);
    /* bf16 keeps 8 significant bits: products and weights are off by up to 2^-9 each. */
    ck_assert_msg(err <= (f32_products ? 1e-5 : 1e-2), "%s: relative L2 error %.3g", label, err);
    if (!f32_products) ck_assert_msg(err > 1e-5, "%s: error %.3g: bf16 products were not used", label, err);
    o.num_threads = 1;
    ck_assert_int_eq(vecattn_sdpa(&q.t, &k.t, &v.t, &ref_out.t, &o), VECATTN_OK);
    if (tu_threads_ok()) {
      o.num_threads = 2;
      ck_assert_int_eq(vecattn_sdpa(&q.t, &k.t, &v.t, &out.t, &o), VECATTN_OK);
      ck_assert_msg(memcmp(out.mem, ref_out.mem, out.bytes) == 0, "%s: 2 threads differ from 1", label);
    }
    vecattn_set_isa(VECATTN_ISA_AUTO);
    typed_free(&q), typed_free(&k), typed_free(&v), typed_free(&out), typed_free(&ref_out);
    free(ref);
  }
}
END_TEST

/* The queries as the int8 products see them: scaled in f32, then per 32-element
 * block d = max|x| / 127 and round(x / d) (nearest even), as f32 values d * q,
 * into a contiguous f32 [B,Hq,Nq,D]. */
static void quantised_queries(const vecattn_tensor *q, float scale, float *dst) {
  const int64_t D = q->shape[3];
  size_t i = 0;
  float x[32];
  for (int64_t b = 0; b < q->shape[0]; ++b)
    for (int64_t h = 0; h < q->shape[1]; ++h)
      for (int64_t s = 0; s < q->shape[2]; ++s)
        for (int64_t d0 = 0; d0 < D; d0 += 32) {
          float amax = 0.0f;
          for (int j = 0; j < 32; ++j) x[j] = (float)ref_at(q, b, h, s, d0 + j) * scale, amax = fmaxf(amax, fabsf(x[j]));
          const float dq = amax / 127.0f, id = dq != 0.0f ? 1.0f / dq : 0.0f;
          for (int j = 0; j < 32; ++j) dst[i++] = dq * nearbyintf(x[j] * id);
        }
}

/* The int8 tests' options for mask mode `mask` (0 none, 1 causal, 2 causal +
 * window, 3 kv_len, 4 bias + ALiBi of slope_unit * (h + 1): bias made here),
 * with the default scale, 1/sqrt(D) in f32, set explicitly so the reference
 * quantises the very floats the library does (the float64 1/sqrt(96) rounds
 * an ulp away). */
static vecattn_sdpa_opts int8_case_opts(int mask, int window, float slope_unit, int B, int HQ, int NQ, int NK, int D,
                                        int32_t *kv_len, typed *bias, float *slopes) {
  vecattn_sdpa_opts o = {0};
  o.scale = 1.0f / sqrtf((float)D);
  o.causal = mask == 1 || mask == 2;
  o.window = mask == 2 ? window : 0;
  if (mask == 3) o.kv_len = kv_len;
  if (mask == 4) {
    typed_make(bias, VECATTN_F32, LAY_BHSD, B, HQ, NQ, NK);
    typed_fill(bias);
    o.bias = &bias->t;
    for (int h = 0; h < HQ; ++h) slopes[h] = slope_unit * (float)(h + 1);
    o.alibi_slopes = slopes;
  }
  return o;
}

/* int8 products (neondot, neonbf16, sve, svebf16, avx512bf16 with opts.reduced_precision): decode
 * against q8_0 K quantises the queries per 32-element block and sums exact
 * int8 products. Against float64 with the queries as quantised, the result
 * keeps the project's bar; against the true float64 result it is off by the
 * quantisation (measured 3.8e-3 to 1.3e-2 relative L2 on these cases over 16
 * seeds, and 1.9e-7 to 3.8e-7 against the quantised queries). The option
 * changes nothing on neon, nor without K q8_0, nor in prefill on neondot and
 * sve. */
START_TEST(test_q8_products) {
  /* Each path with int8 products, and the path its kernels equal without them. */
  static const vecattn_isa pairs[][2] = {{VECATTN_ISA_NEONDOT, VECATTN_ISA_NEON},
                                         {VECATTN_ISA_NEONBF16, VECATTN_ISA_NEON},
                                         {VECATTN_ISA_SVE, VECATTN_ISA_SVE},
                                         {VECATTN_ISA_SVEBF16, VECATTN_ISA_SVE},
                                         {VECATTN_ISA_AVX512BF16, VECATTN_ISA_AVX512}};
  const vecattn_isa dot = pairs[_i][0], base = pairs[_i][1];
  if (!vecattn_isa_supported(dot)) {
    printf("SKIP int8 products on %s: not supported on this machine/build\n", vecattn_isa_name(dot));
    return;
  }
  if (!tu_isa_selected(dot)) {
    printf("SKIP int8 products on %s: not selected by VECATTN_TEST_ISAS\n", vecattn_isa_name(dot));
    return;
  }
  tu_reseed(0xD780);
  static const struct {
    int b, hq, hkv, nq, nk, d, dv, mask; /* mask: 0 none, 1 causal, 2 causal + window, 3 kv_len, 4 bias + alibi */
    vecattn_dtype qt, kt, vt;
  } cases[] = {
      {2, 8, 2, 1, 129, 64, 64, 0, VECATTN_F32, VECATTN_Q8_0, VECATTN_Q8_0},    /* 4 rows a tile */
      {1, 4, 4, 1, 300, 128, 128, 1, VECATTN_BF16, VECATTN_Q8_0, VECATTN_F32},  /* 1 row */
      {2, 4, 2, 1, 63, 32, 96, 3, VECATTN_F32, VECATTN_Q8_0, VECATTN_F16},      /* 2 rows */
      {1, 8, 1, 1, 1000, 128, 64, 2, VECATTN_F32, VECATTN_Q8_0, VECATTN_Q8_0},  /* 8 rows, key chunks */
      {1, 6, 2, 2, 65, 64, 64, 1, VECATTN_F16, VECATTN_Q8_0, VECATTN_Q8_0},     /* 6 of 8 rows */
      {1, 2, 2, 3, 17, 32, 32, 4, VECATTN_F32, VECATTN_Q8_0, VECATTN_BF16},     /* 3 of 4 rows */
      {1, 2, 1, 1, 1, 96, 32, 0, VECATTN_F32, VECATTN_Q8_0, VECATTN_Q8_0},      /* one key */
      {1, 4, 1, 1, 77, 160, 40, 0, VECATTN_F32, VECATTN_Q8_0, VECATTN_F16},     /* 5 blocks: odd for 512-bit SVE */
      {1, 8, 1, 1, 100, 512, 64, 1, VECATTN_F32, VECATTN_Q8_0, VECATTN_F16},    /* 16 blocks, 8 rows */
      {1, 3, 3, 1, 50, 256, 32, 0, VECATTN_F32, VECATTN_Q8_0, VECATTN_Q8_0},    /* 8 blocks, 1 row */
      {1, 4, 2, 1, 127, 64, 64, 0, VECATTN_F32, VECATTN_F16, VECATTN_Q8_0},     /* K not q8_0: no change */
      {1, 4, 2, 33, 127, 64, 64, 1, VECATTN_F32, VECATTN_Q8_0, VECATTN_Q8_0},   /* prefill */
  };
  for (int c = 0; c < (int)(sizeof cases / sizeof cases[0]); ++c) {
    const int B = cases[c].b, HQ = cases[c].hq, NQ = cases[c].nq, NK = cases[c].nk, D = cases[c].d, DV = cases[c].dv;
    const size_t nout = (size_t)B * HQ * NQ * DV;
    typed q, k, v, out, base_out, bias;
    typed_make(&q, cases[c].qt, LAY_BSHD, B, HQ, NQ, D);
    typed_make(&k, cases[c].kt, c % 2 ? LAY_GAPS : LAY_BHSD, B, cases[c].hkv, NK, D);
    typed_make(&v, cases[c].vt, LAY_BHSD, B, cases[c].hkv, NK, DV);
    typed_make(&out, VECATTN_F32, LAY_BHSD, B, HQ, NQ, DV);
    typed_make(&base_out, VECATTN_F32, LAY_BHSD, B, HQ, NQ, DV);
    typed_fill(&q), typed_fill(&k), typed_fill(&v);
    int32_t kv_len[2] = {NK, NK / 2 + 1};
    float slopes[8];
    vecattn_sdpa_opts o = int8_case_opts(cases[c].mask, 200, -0.0625f, B, HQ, NQ, NK, D, kv_len, &bias, slopes);
    char label[160];
    snprintf(label, sizeof label, "[%s] int8 products, q %s k %s v %s, B %d Hq %d Hkv %d Nq %d Nk %d D %d Dv %d mask %d",
             vecattn_isa_name(dot), vecattn_dtype_name(cases[c].qt), vecattn_dtype_name(cases[c].kt),
             vecattn_dtype_name(cases[c].vt), B, HQ, cases[c].hkv, NQ, NK, D, DV, cases[c].mask);

    /* Without the option the path is its base path, bit for bit, and neon ignores it;
     * svebf16's base, sve, has the same int8 products: its decode result is kept. */
    const int base_has_products = base == VECATTN_ISA_SVE;
    void *base_rp = NULL;
    ck_assert_int_eq(vecattn_set_isa(base), VECATTN_OK);
    ck_assert_int_eq(vecattn_sdpa(&q.t, &k.t, &v.t, &base_out.t, &o), VECATTN_OK);
    o.reduced_precision = 1;
    if (base != dot) {
      ck_assert_int_eq(vecattn_sdpa(&q.t, &k.t, &v.t, &out.t, &o), VECATTN_OK);
      if (base_has_products) {
        base_rp = malloc(out.bytes);
        memcpy(base_rp, out.mem, out.bytes);
      } else {
        ck_assert_msg(memcmp(out.mem, base_out.mem, out.bytes) == 0, "%s: the option changed %s", label,
                      vecattn_isa_name(base));
      }
    }
    ck_assert_int_eq(vecattn_set_isa(dot), VECATTN_OK);
    o.reduced_precision = 0;
    memset(out.mem, 0xFF, out.bytes);
    ck_assert_int_eq(vecattn_sdpa(&q.t, &k.t, &v.t, &out.t, &o), VECATTN_OK);
    ck_assert_msg(memcmp(out.mem, base_out.mem, out.bytes) == 0, "%s: without the option differs from %s", label,
                  vecattn_isa_name(base));

    o.reduced_precision = 1;
    memset(out.mem, 0xFF, out.bytes);
    ck_assert_int_eq(vecattn_sdpa(&q.t, &k.t, &v.t, &out.t, &o), VECATTN_OK);
    const int used = NQ * (HQ / cases[c].hkv) <= 8 && cases[c].kt == VECATTN_Q8_0;
    if (base_rp && NQ == 1) /* decode: the base path's int8 products, bit for bit */
      ck_assert_msg(memcmp(out.mem, base_rp, out.bytes) == 0, "%s: with the option differs from %s", label,
                    vecattn_isa_name(base));
    free(base_rp);
    /* neonbf16's, svebf16's and avx512bf16's bf16 products change prefill */
    if (!used && ((dot != VECATTN_ISA_NEONBF16 && dot != VECATTN_ISA_SVEBF16 && dot != VECATTN_ISA_AVX512BF16) ||
                  NQ == 1))
      ck_assert_msg(memcmp(out.mem, base_out.mem, out.bytes) == 0, "%s: the option changed a call it does not apply to",
                    label);
    if (used) {
      double *ref = malloc(sizeof(double) * nout);
      ref_sdpa(&q.t, &k.t, &v.t, &o, ref, NULL);
      const double err = typed_rel_l2(&out.t, ref, label);
      /* The same sums with the queries as quantised: only f32 rounding differs. */
      float *qq = malloc(sizeof(float) * (size_t)B * HQ * NQ * D);
      quantised_queries(&q.t, (float)ref_scale(&o, D), qq);
      const vecattn_tensor qt = vecattn_tensor_bhsd(qq, B, HQ, NQ, D);
      vecattn_sdpa_opts oq = o;
      oq.scale = 1.0f;
      ref_sdpa(&qt, &k.t, &v.t, &oq, ref, NULL);
      const double err_q = typed_rel_l2(&out.t, ref, label);
      if (tu_verbose()) printf("%s: rel err %.3g, against the quantised queries %.3g\n", label, err, err_q);
      ck_assert_msg(err_q <= 1e-5, "%s: relative L2 error %.3g against the quantised queries", label, err_q);
      /* int8 keeps 7 bits a block: each query element is off by up to d / 2 = max|x| / 254.
       * The output error grows as the softmax averages more keys (|out| shrinks). */
      ck_assert_msg(err <= 3e-2, "%s: relative L2 error %.3g", label, err);
      if (NK > 1) ck_assert_msg(err > 1e-5, "%s: error %.3g: int8 products were not used", label, err);
      free(qq), free(ref);
    }
    o.num_threads = 1;
    ck_assert_int_eq(vecattn_sdpa(&q.t, &k.t, &v.t, &base_out.t, &o), VECATTN_OK);
    if (tu_threads_ok()) {
      o.num_threads = 2;
      ck_assert_int_eq(vecattn_sdpa(&q.t, &k.t, &v.t, &out.t, &o), VECATTN_OK);
      ck_assert_msg(memcmp(out.mem, base_out.mem, out.bytes) == 0, "%s: 2 threads differ from 1", label);
    }
    o.num_threads = 0;
    if (used) { /* attention weights keep f32 products whatever the option */
      typed w, w_base;
      typed_make(&w, VECATTN_F32, LAY_BHSD, B, HQ, NQ, NK);
      typed_make(&w_base, VECATTN_F32, LAY_BHSD, B, HQ, NQ, NK);
      ck_assert_int_eq(vecattn_attention_weights(&q.t, &k.t, &w.t, &o), VECATTN_OK);
      ck_assert_int_eq(vecattn_set_isa(base), VECATTN_OK);
      o.reduced_precision = 0;
      ck_assert_int_eq(vecattn_attention_weights(&q.t, &k.t, &w_base.t, &o), VECATTN_OK);
      ck_assert_msg(memcmp(w.mem, w_base.mem, w.bytes) == 0, "%s: the option changed attention weights", label);
      typed_free(&w), typed_free(&w_base);
    }
    vecattn_set_isa(VECATTN_ISA_AUTO);
    typed_free(&q), typed_free(&k), typed_free(&v), typed_free(&out), typed_free(&base_out);
    if (cases[c].mask == 4) typed_free(&bias);
  }
}
END_TEST

/* int8 products in prefill (neonbf16, svebf16: SMMLA; avx512bf16: VPDPBUSD,
 * with opts.reduced_precision): prefill tiles (more than 8 query rows) against
 * q8_0 K quantise the queries as decode does and score 2 keys x 2 rows (SMMLA)
 * or 16 rows x 1 key (VPDPBUSD) an instruction; P.V keeps the path's bf16
 * products. lse depends on the scores alone: against float64 fed
 * the quantised queries it keeps the project's bar (the products add nothing
 * beyond the quantisation) and against the true float64 it shows the
 * quantisation (the products were used). The output carries the bf16 P.V on
 * top: the bf16 bound against the quantised queries, the int8 bound against
 * float64. Odd rows (lane padding), odd keys (a key without a pair), tiles of
 * 1 to 64 rows, 1 to 300 keys, D 32 to 544, every mask, fully masked rows,
 * strided and interleaved K rows. */
START_TEST(test_q8mm_products) {
  static const vecattn_isa paths[] = {VECATTN_ISA_NEONBF16, VECATTN_ISA_SVEBF16, VECATTN_ISA_AVX512BF16};
  const vecattn_isa mm = paths[_i];
  if (!vecattn_isa_supported(mm)) {
    printf("SKIP int8 products in prefill on %s: not supported on this machine/build\n", vecattn_isa_name(mm));
    return;
  }
  if (!tu_isa_selected(mm)) {
    printf("SKIP int8 products in prefill on %s: not selected by VECATTN_TEST_ISAS\n", vecattn_isa_name(mm));
    return;
  }
  tu_reseed(0xD790);
  static const struct {
    int b, hq, hkv, nq, nk, d, dv, mask; /* mask: 0 none, 1 causal, 2 causal + window, 3 kv_len, 4 bias + alibi */
    vecattn_dtype qt, vt;
  } cases[] = {
      {1, 4, 1, 3, 17, 32, 32, 0, VECATTN_F32, VECATTN_F32},       /* 12 rows, GQA 4 */
      {2, 2, 2, 17, 63, 96, 64, 1, VECATTN_F16, VECATTN_Q8_0},     /* 17 rows: 20 lanes */
      {1, 2, 1, 65, 129, 64, 40, 2, VECATTN_F32, VECATTN_F16},     /* tiles of 64, 64 and 2 rows */
      {2, 4, 2, 63, 65, 128, 128, 3, VECATTN_BF16, VECATTN_BF16},  /* tiles of 64 and 62 rows */
      {1, 3, 3, 129, 3, 32, 32, 1, VECATTN_F32, VECATTN_F32},      /* fully masked rows, 3 keys */
      {1, 16, 1, 1, 300, 64, 64, 4, VECATTN_F32, VECATTN_Q8_0},    /* one query, 16 heads: a prefill tile */
      {1, 8, 2, 3, 1, 160, 32, 0, VECATTN_F32, VECATTN_F16},       /* one key, 5 blocks */
      {1, 1, 1, 200, 199, 64, 64, 1, VECATTN_F32, VECATTN_F32},    /* MHA prefill, causal */
      {1, 2, 1, 9, 40, 544, 32, 1, VECATTN_F32, VECATTN_Q8_0},     /* 17 blocks: more than a pass holds */
  };
  for (int c = 0; c < (int)(sizeof cases / sizeof cases[0]); ++c) {
    const int B = cases[c].b, HQ = cases[c].hq, NQ = cases[c].nq, NK = cases[c].nk, D = cases[c].d, DV = cases[c].dv;
    ck_assert_msg(NQ * (HQ / cases[c].hkv) > 8, "case %d: keys_in_place tiles, not prefill", c);
    const size_t nout = (size_t)B * HQ * NQ * DV, nlse = (size_t)B * HQ * NQ;
    typed q, k, v, out, bias;
    typed_make(&q, cases[c].qt, LAY_BSHD, B, HQ, NQ, D);
    typed_make(&k, VECATTN_Q8_0, c % 2 ? LAY_BSHD : LAY_GAPS, B, cases[c].hkv, NK, D);
    typed_make(&v, cases[c].vt, LAY_BHSD, B, cases[c].hkv, NK, DV);
    typed_make(&out, VECATTN_F32, LAY_BHSD, B, HQ, NQ, DV);
    typed_fill(&q), typed_fill(&k), typed_fill(&v);
    int32_t kv_len[2] = {NK, NK / 2 + 1};
    float slopes[16];
    /* ALiBi of at most ~5 over 300 keys: lse stays near the scores, whose error it shows */
    vecattn_sdpa_opts o =
        int8_case_opts(cases[c].mask, 20, -0.015625f / (float)HQ, B, HQ, NQ, NK, D, kv_len, &bias, slopes);
    char label[160];
    snprintf(label, sizeof label, "[%s] int8 products in prefill, q %s v %s, B %d Hq %d Hkv %d Nq %d Nk %d D %d Dv %d mask %d",
             vecattn_isa_name(mm), vecattn_dtype_name(cases[c].qt), vecattn_dtype_name(cases[c].vt), B, HQ,
             cases[c].hkv, NQ, NK, D, DV, cases[c].mask);

    ck_assert_int_eq(vecattn_set_isa(mm), VECATTN_OK);
    o.reduced_precision = 1;
    float *lse = tu_guarded_alloc(nlse * sizeof(float), 0);
    tu_poison(lse, nlse);
    o.lse = lse;
    ck_assert_int_eq(vecattn_sdpa(&q.t, &k.t, &v.t, &out.t, &o), VECATTN_OK);
    ck_assert_msg(tu_guard_ok(lse), "%s: write outside lse", label);
    o.lse = NULL;

    double *ref = malloc(sizeof(double) * nout), *ref_lse = malloc(sizeof(double) * nlse);
    size_t mismatch;
    ref_sdpa(&q.t, &k.t, &v.t, &o, ref, ref_lse);
    const double err = typed_rel_l2(&out.t, ref, label), lse_err = tu_rel_l2_lse(lse, ref_lse, nlse, &mismatch);
    ck_assert_msg(mismatch == 0, "%s: %zu lse entries wrong in kind", label, mismatch);
    float *qq = malloc(sizeof(float) * (size_t)B * HQ * NQ * D);
    quantised_queries(&q.t, (float)ref_scale(&o, D), qq);
    const vecattn_tensor qt = vecattn_tensor_bhsd(qq, B, HQ, NQ, D);
    vecattn_sdpa_opts oq = o;
    oq.scale = 1.0f;
    ref_sdpa(&qt, &k.t, &v.t, &oq, ref, ref_lse);
    const double err_q = typed_rel_l2(&out.t, ref, label), lse_err_q = tu_rel_l2_lse(lse, ref_lse, nlse, &mismatch);
    ck_assert_msg(mismatch == 0, "%s: %zu lse entries wrong in kind", label, mismatch);
    if (tu_verbose())
      printf("%s: rel err %.3g (lse %.3g), against the quantised queries %.3g (lse %.3g)\n", label, err, lse_err, err_q,
             lse_err_q);
    ck_assert_msg(lse_err_q <= 1e-5, "%s: lse relative L2 error %.3g against the quantised queries", label, lse_err_q);
    ck_assert_msg(lse_err > 1e-5, "%s: lse error %.3g: int8 products were not used", label, lse_err);
    ck_assert_msg(err_q <= 1e-2, "%s: relative L2 error %.3g against the quantised queries (bf16 P.V)", label, err_q);
    ck_assert_msg(err <= 3e-2, "%s: relative L2 error %.3g", label, err);
    if (tu_threads_ok()) { /* tiles never share sums: the thread count changes nothing */
      typed one;
      typed_make(&one, VECATTN_F32, LAY_BHSD, B, HQ, NQ, DV);
      for (int threads = 1; threads <= 3; ++threads) {
        o.num_threads = threads;
        ck_assert_int_eq(vecattn_sdpa(&q.t, &k.t, &v.t, threads == 1 ? &one.t : &out.t, &o), VECATTN_OK);
        if (threads > 1)
          ck_assert_msg(memcmp(out.mem, one.mem, out.bytes) == 0, "%s: %d threads differ from 1", label, threads);
      }
      typed_free(&one);
    }
    vecattn_set_isa(VECATTN_ISA_AUTO);
    free(qq), free(ref), free(ref_lse);
    tu_guarded_free(lse);
    typed_free(&q), typed_free(&k), typed_free(&v), typed_free(&out);
    if (cases[c].mask == 4) typed_free(&bias);
  }
}
END_TEST

static Suite *make_suite(void) {
  Suite *s = suite_create("dtypes");
  TCase *tc = tcase_create("convert");
  tcase_add_test(tc, test_f16_widen_every_value);
  tcase_add_test(tc, test_narrow_f16_bf16);
  tcase_add_test(tc, test_q8_0_bytes);
  tcase_add_test(tc, test_convert_between_types);
  tcase_add_test(tc, test_convert_errors);
  suite_add_tcase(s, tc);
  tc = tcase_create("attention");
  tcase_add_loop_test(tc, test_sdpa_kv_types, 0, VECATTN_DTYPE_COUNT * VECATTN_DTYPE_COUNT);
  tcase_add_test(tc, test_weights_types);
  tcase_add_test(tc, test_attend_types);
  tcase_add_test(tc, test_types_threads_bitwise);
  tcase_add_loop_test(tc, test_grouped_decode_types, 0, 3);
  tcase_add_test(tc, test_types_rejected);
  tcase_add_test(tc, test_mha_typed_cache);
  tcase_add_loop_test(tc, test_bf16_products, 0, 3);
  tcase_add_loop_test(tc, test_q8_products, 0, 5);
  tcase_add_loop_test(tc, test_q8mm_products, 0, 3);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  tu_init("dtypes");
  return tu_run_suite(make_suite());
}
