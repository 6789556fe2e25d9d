#include "ref.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double ref_scale(const vecattn_sdpa_opts *opts, int64_t head_dim) {
  if (opts && opts->scale != 0.0f) return (double)opts->scale;
  return 1.0 / sqrt((double)head_dim);
}

static double dot(const double *a, const float *b, int64_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t d = 0;
  for (; d + 4 <= n; d += 4) {
    s0 += a[d] * (double)b[d];
    s1 += a[d + 1] * (double)b[d + 1];
    s2 += a[d + 2] * (double)b[d + 2];
    s3 += a[d + 3] * (double)b[d + 3];
  }
  for (; d < n; d++) s0 += a[d] * (double)b[d];
  return (s0 + s1) + (s2 + s3);
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

  const float *qp = q->data + b * q->stride[0] + h * q->stride[1] + i * q->stride[2];
  for (int64_t d = 0; d < D; d++) qrow[d] = qp[d * q->stride[3]];

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
    const float *kp = k->data + b * k->stride[0] + hk * k->stride[1] + j * k->stride[2];
    double x;
    if (k->stride[3] == 1) {
      x = dot(qrow, kp, D);
    } else {
      x = 0;
      for (int64_t d = 0; d < D; d++) x += qrow[d] * (double)kp[d * k->stride[3]];
    }
    x *= scale;
    if (bias)
      x += (double)bias->data[b * bias->stride[0] + h * bias->stride[1] + i * bias->stride[2] + j * bias->stride[3]];
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
          const float *vp = v->data + b * v->stride[0] + hk * v->stride[1] + j * v->stride[2];
          for (int64_t d = 0; d < Dv; d++) acc[d] += p * (double)vp[d * v->stride[3]];
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
