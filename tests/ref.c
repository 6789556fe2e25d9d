#include "ref.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double ref_f16(uint16_t h) {
  const int sign = h >> 15, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  double x;
  if (exp == 0x1f)
    x = mant ? NAN : INFINITY;
  else if (exp == 0)
    x = ldexp((double)mant, -24);
  else
    x = ldexp(1024.0 + mant, exp - 25);
  return sign ? -x : x;
}

double ref_bf16(uint16_t b) {
  const uint32_t u = (uint32_t)b << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return (double)f;
}

/* Element e of a row starting at element offset `row` (a block boundary for q8_0). */
static double row_elem(const vecattn_tensor *t, int64_t row, int64_t e) {
  const unsigned char *base = t->data;
  switch (t->dtype) {
  case VECATTN_F16:
  case VECATTN_BF16: {
    uint16_t h;
    memcpy(&h, base + 2 * (row + e), sizeof h);
    return t->dtype == VECATTN_F16 ? ref_f16(h) : ref_bf16(h);
  }
  case VECATTN_Q8_0: {
    const int64_t i = row + e;
    const unsigned char *blk = base + i / 32 * 34;
    uint16_t d;
    memcpy(&d, blk, sizeof d);
    return ref_f16(d) * (double)(int8_t)blk[2 + i % 32];
  }
  default: {
    float f;
    memcpy(&f, base + 4 * (row + e), sizeof f);
    return (double)f;
  }
  }
}

double ref_at(const vecattn_tensor *t, int64_t b, int64_t h, int64_t s, int64_t d) {
  return row_elem(t, b * t->stride[0] + h * t->stride[1] + s * t->stride[2], d * t->stride[3]);
}

double ref_scale(const vecattn_sdpa_opts *opts, int64_t head_dim) {
  if (opts && opts->scale != 0.0f) return (double)opts->scale;
  return 1.0 / sqrt((double)head_dim);
}

/* Scores of query row (b, h, i) against every key: -INFINITY where masked.
 * Returns the row maximum (-INFINITY if every key is masked). */
static double row_scores(const vecattn_tensor *q, const vecattn_tensor *k, const vecattn_sdpa_opts *opts,
                         int64_t b, int64_t h, int64_t i, double *qrow, double *s) {
  const int64_t Hq = q->shape[1], Nq = q->shape[2], D = q->shape[3];
  const int64_t Hkv = k->shape[1], Nk = k->shape[2];
  const int64_t hk = h / (Hq / Hkv);
  const int64_t off = Nk - Nq;
  const double scale = ref_scale(opts, D);
  const int causal = opts && opts->causal;
  const int64_t window = opts ? opts->window : 0;
  const int32_t *kv_len = opts ? opts->kv_len : NULL;
  const vecattn_tensor *bias = opts ? opts->bias : NULL;
  const float *slopes = opts ? opts->alibi_slopes : NULL;

  for (int64_t d = 0; d < D; d++) qrow[d] = ref_at(q, b, h, i, d);

  double mx = -INFINITY;
  for (int64_t j = 0; j < Nk; j++) {
    int masked = 0;
    if (causal && j > i + off) masked = 1;
    if (window > 0 && j <= i + off - window) masked = 1;
    if (kv_len && j >= (int64_t)kv_len[b]) masked = 1;
    if (masked) {
      s[j] = -INFINITY;
      continue;
    }
    double x = 0;
    for (int64_t d = 0; d < D; d++) x += qrow[d] * ref_at(k, b, hk, j, d);
    x *= scale;
    if (bias)
      x += ref_at(bias, bias->shape[0] == 1 ? 0 : b, bias->shape[1] == 1 ? 0 : h, bias->shape[2] == 1 ? 0 : i,
                  bias->shape[3] == 1 ? 0 : j);
    if (slopes) x += (double)slopes[h] * (double)(j - (i + off));
    s[j] = x;
    if (x > mx) mx = x;
  }
  return mx;
}

void ref_sdpa(const vecattn_tensor *q, const vecattn_tensor *k, const vecattn_tensor *v,
              const vecattn_sdpa_opts *opts, double *out, double *lse) {
  const int64_t B = q->shape[0], Hq = q->shape[1], Nq = q->shape[2], D = q->shape[3];
  const int64_t Hkv = k->shape[1], Nk = k->shape[2], Dv = v->shape[3];
  double *qrow = malloc(sizeof(double) * (size_t)D);
  double *s = malloc(sizeof(double) * (size_t)Nk);
  double *acc = malloc(sizeof(double) * (size_t)Dv);
  size_t row = 0;
  for (int64_t b = 0; b < B; b++)
    for (int64_t h = 0; h < Hq; h++) {
      const int64_t hk = h / (Hq / Hkv);
      for (int64_t i = 0; i < Nq; i++, row++) {
        double *o = out + row * (size_t)Dv;
        double mx = row_scores(q, k, opts, b, h, i, qrow, s);
        if (mx == -INFINITY) {
          for (int64_t d = 0; d < Dv; d++) o[d] = 0.0;
          if (lse) lse[row] = -INFINITY;
          continue;
        }
        double sum = 0;
        for (int64_t d = 0; d < Dv; d++) acc[d] = 0;
        for (int64_t j = 0; j < Nk; j++) {
          if (s[j] == -INFINITY) continue;
          double p = exp(s[j] - mx);
          sum += p;
          for (int64_t d = 0; d < Dv; d++) acc[d] += p * ref_at(v, b, hk, j, d);
        }
        for (int64_t d = 0; d < Dv; d++) o[d] = acc[d] / sum;
        if (lse) lse[row] = mx + log(sum);
      }
    }
  free(qrow);
  free(s);
  free(acc);
}

void ref_weights(const vecattn_tensor *q, const vecattn_tensor *k, const vecattn_sdpa_opts *opts, double *w,
                 unsigned char *masked) {
  const int64_t B = q->shape[0], Hq = q->shape[1], Nq = q->shape[2], D = q->shape[3];
  const int64_t Nk = k->shape[2];
  double *qrow = malloc(sizeof(double) * (size_t)D);
  size_t row = 0;
  for (int64_t b = 0; b < B; b++)
    for (int64_t h = 0; h < Hq; h++)
      for (int64_t i = 0; i < Nq; i++, row++) {
        double *s = w + row * (size_t)Nk;
        double mx = row_scores(q, k, opts, b, h, i, qrow, s);
        if (masked)
          for (int64_t j = 0; j < Nk; j++) masked[row * (size_t)Nk + j] = s[j] == -INFINITY;
        if (mx == -INFINITY) {
          for (int64_t j = 0; j < Nk; j++) s[j] = 0.0;
          continue;
        }
        double sum = 0;
        for (int64_t j = 0; j < Nk; j++) {
          s[j] = s[j] == -INFINITY ? 0.0 : exp(s[j] - mx);
          sum += s[j];
        }
        for (int64_t j = 0; j < Nk; j++) s[j] /= sum;
      }
  free(qrow);
}
