/* Named benchmark shapes and the exact amount of work each one does. */
#include <stdio.h>
#include <string.h>

#include "bench.h"

static const char *const names[] = {"llama-prefill", "bert", "decode", "decode-b16", "long", "additive", NULL};

const char *const *vb_shape_names(void) { return names; }

static vb_shape make(const char *name, int64_t b, int64_t hq, int64_t hkv, int64_t nq, int64_t nk,
                     int64_t d, int causal, int padded, vb_metric m) {
  vb_shape s;
  memset(&s, 0, sizeof s);
  snprintf(s.name, sizeof s.name, "%s", name);
  s.b = b;
  s.hq = hq;
  s.hkv = hkv;
  s.nq = nq;
  s.nk = nk;
  s.d = d;
  s.dv = d;
  s.causal = causal;
  s.padded = padded;
  s.metric = m;
  s.dtype = s.kv_dtype = VECATTN_F32;
  return s;
}

/* --quick keeps every shape's character (GQA ratio, masks, decode vs prefill)
 * but shrinks the sequence so the whole run fits a CI smoke test. */
int vb_shape_named(const char *name, int quick, vb_shape *out) {
  if (!strcmp(name, "llama-prefill"))
    *out = make(name, 1, 32, 8, quick ? 256 : 2048, quick ? 256 : 2048, 128, 1, 0, VB_METRIC_FLOPS);
  else if (!strcmp(name, "bert"))
    *out = make(name, quick ? 2 : 8, 12, 12, quick ? 128 : 512, quick ? 128 : 512, 64, 0, 1, VB_METRIC_FLOPS);
  else if (!strcmp(name, "decode"))
    *out = make(name, 1, 32, 8, 1, quick ? 1024 : 8192, 128, 0, 0, VB_METRIC_BYTES);
  else if (!strcmp(name, "decode-b16"))
    *out = make(name, 16, 32, 8, 1, quick ? 256 : 2048, 128, 0, 0, VB_METRIC_BYTES);
  else if (!strcmp(name, "long"))
    *out = make(name, 1, 8, 8, quick ? 1024 : 16384, quick ? 1024 : 16384, 64, 1, 0, VB_METRIC_FLOPS);
  else if (!strcmp(name, "additive")) { /* Bahdanau attention: bound by tanh, not FMA */
    *out = make(name, 1, 4, 4, quick ? 128 : 256, quick ? 128 : 256, 64, 0, 0, VB_METRIC_FLOPS);
    out->da = 64;
  }
  else
    return -1;
  return 0;
}

int vb_shape_check(const vb_shape *s, char *why, size_t len) {
  if (s->b < 1 || s->hq < 1 || s->hkv < 1 || s->nq < 1 || s->nk < 1 || s->d < 1 || s->dv < 1) {
    snprintf(why, len, "all sizes must be >= 1");
    return -1;
  }
  if (s->hq % s->hkv) {
    snprintf(why, len, "hq (%lld) must be a multiple of hkv (%lld)", (long long)s->hq, (long long)s->hkv);
    return -1;
  }
  if (s->window < 0) {
    snprintf(why, len, "window must be >= 0");
    return -1;
  }
  return 0;
}

int vb_shape_kv_type_ok(const vb_shape *s, vecattn_dtype t, char *why, size_t len) {
  /* Contiguous rows: every stride is a multiple of D or Dv, so whole blocks
   * follow from the head dims alone. */
  if (t == VECATTN_Q8_0 && (s->d % VECATTN_Q8_0_BLOCK || s->dv % VECATTN_Q8_0_BLOCK)) {
    snprintf(why, len, "q8_0 needs D and Dv multiples of %d (D=%lld Dv=%lld)", VECATTN_Q8_0_BLOCK, (long long)s->d,
             (long long)s->dv);
    return -1;
  }
  return 0;
}

/* Two outputs rounded to f16/bf16 from nearly equal f32 values differ by up
 * to one unit in the last place: the limits are about that type's rounding
 * (f16 2^-11, bf16 2^-8 relative, with margin). bf16 products add about
 * 1e-3 on N(0,1) inputs; 1e-2 is the library's own test limit for them. */
double vb_check_tol(vecattn_dtype out, int reduced_precision) {
  double tol = out == VECATTN_F16 ? 2e-3 : out == VECATTN_BF16 ? 1.6e-2 : VB_CHECK_TOL;
  return reduced_precision ? tol + 1e-2 : tol;
}

double vb_shape_check_tol(const vb_shape *s) { return vb_check_tol(s->dtype, s->reduced_precision); }

/* Deterministic padding: lengths spread evenly from 3/4 of nk up to nk. */
void vb_shape_kv_len(const vb_shape *s, int32_t *kv_len) {
  int64_t lo = s->nk * 3 / 4;
  for (int64_t b = 0; b < s->b; b++)
    kv_len[b] = (int32_t)(s->b > 1 ? lo + (s->nk - lo) * b / (s->b - 1) : s->nk);
}

/* Visible (query, key) pairs of one head, summed over the batch, counted
 * row by row from the same mask rules the library applies. */
double vb_shape_pairs(const vb_shape *s, const int32_t *kv_len) {
  double pairs = 0;
  int64_t off = s->nk - s->nq;
  for (int64_t b = 0; b < s->b; b++) {
    int64_t limit = kv_len ? (kv_len[b] < s->nk ? kv_len[b] : s->nk) : s->nk;
    for (int64_t i = 0; i < s->nq; i++) {
      int64_t lo = 0, hi = limit; /* keys [lo, hi) */
      if (s->causal && i + off + 1 < hi) hi = i + off + 1;
      if (s->window > 0 && i + off - s->window + 1 > lo) lo = i + off - s->window + 1;
      if (hi > lo) pairs += (double)(hi - lo);
    }
  }
  return pairs;
}

/* 2*D per pair for Q.K, 2*Dv per pair for P.V. Additive scores instead cost
 * 4*Da per pair (add, tanh counted as one operation, multiply-add with v) on
 * top of projecting every query and key once (2*D*Da each). */
double vb_shape_flops(const vb_shape *s, const int32_t *kv_len) {
  const double pairs = vb_shape_pairs(s, kv_len) * (double)s->hq;
  if (s->da <= 0) return pairs * (2.0 * (double)s->d + 2.0 * (double)s->dv);
  const double rows = (double)s->b * (double)(s->hq * s->nq + s->hkv * s->nk);
  return pairs * (4.0 * (double)s->da + 2.0 * (double)s->dv) + rows * 2.0 * (double)s->d * (double)s->da;
}

/* Decode is bound by reading the KV cache once. */
double vb_shape_bytes(const vb_shape *s) {
  return (double)vecattn_dtype_bytes(s->kv_dtype, s->b * s->hkv * s->nk * s->d) +
         (double)vecattn_dtype_bytes(s->kv_dtype, s->b * s->hkv * s->nk * s->dv);
}

size_t vb_shape_tensor_bytes(const vb_shape *s) {
  size_t q = (size_t)(s->b * s->hq * s->nq * s->d), k = (size_t)(s->b * s->hkv * s->nk * s->d);
  size_t v = (size_t)(s->b * s->hkv * s->nk * s->dv), o = (size_t)(s->b * s->hq * s->nq * s->dv);
  return vecattn_dtype_bytes(s->dtype, (int64_t)(q + o)) + vecattn_dtype_bytes(s->kv_dtype, (int64_t)k) +
         vecattn_dtype_bytes(s->kv_dtype, (int64_t)v);
}

/* Same batch, heads, dims and masks; sequences capped so scalar is quick. */
vb_shape vb_shape_reduced(const vb_shape *s, int64_t cap) {
  vb_shape r = *s;
  if (r.nq > cap) r.nq = cap;
  if (r.nk > cap) r.nk = cap;
  if (r.window > 0 && r.window > r.nk) r.window = r.nk;
  return r;
}

void vb_shape_types(const vb_shape *s, char *buf, size_t len) {
  snprintf(buf, len, "%s/%s", vecattn_dtype_name(s->dtype), vecattn_dtype_name(s->kv_dtype));
}

void vb_shape_describe(const vb_shape *s, char *buf, size_t len) {
  int n = snprintf(buf, len, "B=%lld Hq=%lld Hkv=%lld Nq=%lld Nk=%lld D=%lld Dv=%lld", (long long)s->b,
                   (long long)s->hq, (long long)s->hkv, (long long)s->nq, (long long)s->nk, (long long)s->d,
                   (long long)s->dv);
  if (n < 0 || (size_t)n >= len) return;
  if (s->da > 0) n += snprintf(buf + n, len - (size_t)n, " additive Da=%lld", (long long)s->da);
  if (n < 0 || (size_t)n >= len) return;
  if (s->causal) n += snprintf(buf + n, len - (size_t)n, " causal");
  if (n < 0 || (size_t)n >= len) return;
  if (s->window > 0) n += snprintf(buf + n, len - (size_t)n, " window=%lld", (long long)s->window);
  if (n < 0 || (size_t)n >= len) return;
  if (s->dtype != VECATTN_F32 || s->kv_dtype != VECATTN_F32)
    n += snprintf(buf + n, len - (size_t)n, " Q/O %s K/V %s", vecattn_dtype_name(s->dtype),
                  vecattn_dtype_name(s->kv_dtype));
  if (n < 0 || (size_t)n >= len) return;
  if (s->reduced_precision) n += snprintf(buf + n, len - (size_t)n, " reduced-precision");
  if (n < 0 || (size_t)n >= len) return;
  if (s->padded)
    snprintf(buf + n, len - (size_t)n, " kv_len=%lld..%lld", (long long)(s->b > 1 ? s->nk * 3 / 4 : s->nk),
             (long long)s->nk);
}
