#include "ref_attend.h"
#include "ref.h"

#include <math.h>
#include <stdlib.h>

static double at(const vecattn_tensor *t, int64_t b, int64_t h, int64_t s, int64_t d) {
  return ref_at(t, b, h, s, d);
}

/* Per query row: the query as the score function sees it (W^T q for general,
 * W_q q for additive, q itself otherwise). */
static void query_features(const vecattn_score_fn *fn, const vecattn_tensor *q, int64_t b, int64_t h,
                           int64_t i, int64_t dk, double *f) {
  const int64_t dq = q->shape[3];
  switch (fn->kind) {
  case VECATTN_SCORE_GENERAL:
    for (int64_t j = 0; j < dk; j++) {
      f[j] = 0;
      for (int64_t c = 0; c < dq; c++) f[j] += at(q, b, h, i, c) * fn->w[c * dk + j];
    }
    break;
  case VECATTN_SCORE_ADDITIVE:
    for (int64_t a = 0; a < fn->attn_dim; a++) {
      f[a] = 0;
      for (int64_t c = 0; c < dq; c++) f[a] += fn->w[a * dq + c] * at(q, b, h, i, c);
    }
    break;
  default:
    for (int64_t c = 0; c < dq; c++) f[c] = at(q, b, h, i, c);
  }
}

/* W_k k for every key of one (b, kv head): kf [Nk][Da]. */
static void key_features(const vecattn_score_fn *fn, const vecattn_tensor *k, int64_t b, int64_t h, double *kf) {
  const int64_t nk = k->shape[2], dk = k->shape[3], da = fn->attn_dim;
  for (int64_t j = 0; j < nk; j++)
    for (int64_t a = 0; a < da; a++) {
      double s = 0;
      for (int64_t c = 0; c < dk; c++) s += fn->u[a * dk + c] * at(k, b, h, j, c);
      kf[j * da + a] = s;
    }
}

static double score_scale(const vecattn_score_fn *fn, const vecattn_sdpa_opts *o, int64_t d) {
  if (o && o->scale != 0.0f) return o->scale;
  return fn->kind == VECATTN_SCORE_SCALED_DOT ? 1.0 / sqrt((double)d) : 1.0;
}

static int visible(const vecattn_sdpa_opts *o, int64_t b, int64_t i, int64_t j, int64_t nq, int64_t nk) {
  if (!o) return 1;
  const int64_t diag = i + nk - nq;
  if (o->causal && j > diag) return 0;
  if (o->window > 0 && j <= diag - o->window) return 0;
  if (o->kv_len && j >= o->kv_len[b]) return 0;
  return 1;
}

void ref_attend(const vecattn_score_fn *fn, const vecattn_tensor *q, const vecattn_tensor *k,
                const vecattn_tensor *v, const vecattn_sdpa_opts *o, double *out, double *lse) {
  const int64_t B = q->shape[0], Hq = q->shape[1], Nq = q->shape[2];
  const int64_t Hkv = k->shape[1], Nk = k->shape[2], Dk = k->shape[3], Dv = v->shape[3];
  const int64_t group = Hq / Hkv, nfeat = fn->kind == VECATTN_SCORE_ADDITIVE ? fn->attn_dim : Dk;
  const double scale = score_scale(fn, o, q->shape[3]);
  double *qf = malloc(sizeof(double) * (size_t)nfeat);
  double *kf = fn->kind == VECATTN_SCORE_ADDITIVE ? malloc(sizeof(double) * (size_t)(Nk * nfeat)) : NULL;
  double *s = malloc(sizeof(double) * (size_t)Nk);
  for (int64_t b = 0; b < B; b++)
    for (int64_t h = 0; h < Hq; h++) {
      const int64_t hk = h / group;
      if (kf) key_features(fn, k, b, hk, kf);
      for (int64_t i = 0; i < Nq; i++) {
        query_features(fn, q, b, h, i, Dk, qf);
        double m = -INFINITY;
        for (int64_t j = 0; j < Nk; j++) {
          double x = 0;
          if (kf)
            for (int64_t a = 0; a < nfeat; a++) x += fn->v_a[a] * tanh(qf[a] + kf[j * nfeat + a]);
          else
            for (int64_t c = 0; c < Dk; c++) x += qf[c] * at(k, b, hk, j, c);
          x *= scale;
          if (o && o->bias) x += at(o->bias, b, h, i, j);
          if (o && o->alibi_slopes) x += o->alibi_slopes[h] * (double)(j - (i + Nk - Nq));
          if (!visible(o, b, i, j, Nq, Nk)) x = -INFINITY;
          s[j] = x;
          if (x > m) m = x;
        }
        double *dst = out + ((b * Hq + h) * Nq + i) * Dv;
        for (int64_t d = 0; d < Dv; d++) dst[d] = 0;
        double sum = 0;
        if (m != -INFINITY) {
          for (int64_t j = 0; j < Nk; j++) {
            const double p = exp(s[j] - m);
            sum += p;
            for (int64_t d = 0; d < Dv; d++) dst[d] += p * at(v, b, hk, j, d);
          }
          for (int64_t d = 0; d < Dv; d++) dst[d] /= sum;
        }
        if (lse) lse[(b * Hq + h) * Nq + i] = m == -INFINITY ? -INFINITY : m + log(sum);
      }
    }
  free(qf), free(kf), free(s);
}
