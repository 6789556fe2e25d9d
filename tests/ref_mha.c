/* Float64 reference of the attention layer: project, rotate, attend, project. */
#include "ref_mha.h"

#include <math.h>
#include <stdlib.h>

void ref_matmul(const float *x, int64_t m, int64_t k, const float *w, int64_t n, const float *bias, double *y) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = bias ? bias[j] : 0.0;
      for (int64_t p = 0; p < k; ++p) s += (double)x[i * k + p] * w[j * k + p];
      y[i * n + j] = s;
    }
}

/* Same product, double input. */
static void matmul_d(const double *x, int64_t m, int64_t k, const float *w, int64_t n, const float *bias,
                     double *y) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = bias ? bias[j] : 0.0;
      for (int64_t p = 0; p < k; ++p) s += x[i * k + p] * w[j * k + p];
      y[i * n + j] = s;
    }
}

/* Rotates every head vector of rows [rows][heads * d]; row r is position r % seq. */
static void rotate_rows(double *x, int64_t rows, int64_t seq, int64_t heads, int64_t d, double base) {
  const int64_t half = d / 2;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t h = 0; h < heads; ++h) {
      double *v = x + (r * heads + h) * d;
      for (int64_t i = 0; i < half; ++i) {
        const double a = (double)(r % seq) * pow(base, -2.0 * (double)i / (double)d);
        const double x1 = v[i], x2 = v[i + half];
        v[i] = x1 * cos(a) - x2 * sin(a);
        v[i + half] = x2 * cos(a) + x1 * sin(a);
      }
    }
}

void ref_mha(const vecattn_mha_weights *w, const float *x, int64_t batch, int64_t seq_q, const float *mem,
             int64_t seq_kv, int causal, int rotate, double *y) {
  const int64_t dm = w->d_model, hq = w->n_heads, hkv = w->n_kv_heads ? w->n_kv_heads : hq, d = w->head_dim;
  const int64_t mq = batch * seq_q, mk = batch * seq_kv;
  double *q = malloc(sizeof(double) * mq * hq * d), *o = malloc(sizeof(double) * mq * hq * d);
  double *k = malloc(sizeof(double) * mk * hkv * d), *v = malloc(sizeof(double) * mk * hkv * d);
  double *p = malloc(sizeof(double) * seq_kv);
  ref_matmul(x, mq, dm, w->wq, hq * d, w->bq, q);
  ref_matmul(mem, mk, dm, w->wk, hkv * d, w->bk, k);
  ref_matmul(mem, mk, dm, w->wv, hkv * d, w->bv, v);
  if (rotate && w->rope) {
    const double base = w->rope_theta == 0.0f ? 10000.0 : w->rope_theta;
    rotate_rows(q, mq, seq_q, hq, d, base);
    rotate_rows(k, mk, seq_kv, hkv, d, base);
  }
  const double scale = 1.0 / sqrt((double)d);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < hq; ++h) {
      const int64_t g = h / (hq / hkv);
      for (int64_t i = 0; i < seq_q; ++i) {
        const double *qi = q + ((b * seq_q + i) * hq + h) * d;
        const int64_t last = causal ? i + seq_kv - seq_q : seq_kv - 1; /* highest visible key */
        double mx = -INFINITY, sum = 0.0;
        for (int64_t j = 0; j <= last; ++j) {
          const double *kj = k + ((b * seq_kv + j) * hkv + g) * d;
          double s = 0.0;
          for (int64_t e = 0; e < d; ++e) s += qi[e] * kj[e];
          p[j] = s * scale;
          if (p[j] > mx) mx = p[j];
        }
        for (int64_t j = 0; j <= last; ++j) sum += p[j] = exp(p[j] - mx);
        double *oi = o + ((b * seq_q + i) * hq + h) * d;
        for (int64_t e = 0; e < d; ++e) {
          double s = 0.0;
          for (int64_t j = 0; j <= last; ++j) s += p[j] * v[((b * seq_kv + j) * hkv + g) * d + e];
          oi[e] = last >= 0 ? s / sum : 0.0;
        }
      }
    }
  matmul_d(o, mq, hq * d, w->wo, dm, w->bo, y);
  free(q), free(o), free(k), free(v), free(p);
}
