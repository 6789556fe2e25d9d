/* KV cache storage and its public lifecycle calls. */
#include "kv_cache.h"

#include <stdlib.h>
#include <string.h>

#include "threads.h"

vecattn_status vecattn_kv_cache_create(vecattn_kv_cache **out, int64_t batch, int64_t n_kv_heads,
                                       int64_t head_dim, int64_t max_seq) {
  if (!out) return VECATTN_EINVAL;
  *out = NULL;
  if (batch <= 0 || n_kv_heads <= 0 || head_dim <= 0 || max_seq <= 0) return VECATTN_EINVAL;
  int64_t n;
  if (__builtin_mul_overflow(batch, n_kv_heads, &n) || __builtin_mul_overflow(n, head_dim, &n) ||
      __builtin_mul_overflow(n, max_seq, &n) || (uint64_t)n > SIZE_MAX / (2 * sizeof(float)))
    return VECATTN_EOVERFLOW;
  vecattn_kv_cache *c = malloc(sizeof *c);
  /* Zeroed, so slots past len never hold uninitialised memory. */
  float *mem = calloc((size_t)n * 2, sizeof(float));
  if (!c || !mem) {
    free(c);
    free(mem);
    return VECATTN_ENOMEM;
  }
  *c = (vecattn_kv_cache){batch, n_kv_heads, head_dim, max_seq, 0, mem, mem + n};
  *out = c;
  return VECATTN_OK;
}

void vecattn_kv_cache_destroy(vecattn_kv_cache *c) {
  if (!c) return;
  free(c->k);
  free(c);
}

int64_t vecattn_kv_cache_len(const vecattn_kv_cache *c) { return c ? c->len : 0; }

vecattn_status vecattn_kv_cache_reset(vecattn_kv_cache *c) {
  if (!c) return VECATTN_EINVAL;
  c->len = 0;
  return VECATTN_OK;
}

vecattn_status kv_cache_check(const vecattn_kv_cache *c, int64_t batch, int64_t n_kv_heads,
                              int64_t head_dim, int64_t seq) {
  if (c->batch != batch || c->n_kv_heads != n_kv_heads || c->head_dim != head_dim) return VECATTN_EINVAL;
  return seq <= c->max_seq - c->len ? VECATTN_OK : VECATTN_EINVAL;
}

static int64_t row_offset(const vecattn_kv_cache *c, int64_t b, int64_t h, int64_t pos) {
  return ((b * c->n_kv_heads + h) * c->max_seq + pos) * c->head_dim;
}

void kv_cache_stage(vecattn_kv_cache *c, const float *k_src, const float *v_src, int64_t ld_b,
                    int64_t ld_s, int64_t seq, int num_threads) {
  const int64_t rows = c->batch * seq, d = c->head_dim;
#pragma omp parallel for num_threads(vecattn_thread_count(num_threads, rows)) schedule(static)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t b = row / seq, s = row % seq;
    for (int64_t h = 0; h < c->n_kv_heads; ++h) {
      const int64_t src = b * ld_b + s * ld_s + h * d, dst = row_offset(c, b, h, c->len + s);
      memcpy(c->k + dst, k_src + src, (size_t)d * sizeof(float));
      memcpy(c->v + dst, v_src + src, (size_t)d * sizeof(float));
    }
  }
}

void kv_cache_commit(vecattn_kv_cache *c, int64_t seq) { c->len += seq; }

static vecattn_tensor view(const vecattn_kv_cache *c, float *data, int64_t n) {
  vecattn_tensor t = vecattn_tensor_bhsd(data, c->batch, c->n_kv_heads, n, c->head_dim);
  t.stride[1] = c->max_seq * c->head_dim;
  t.stride[0] = c->n_kv_heads * t.stride[1];
  return t;
}

vecattn_tensor kv_cache_keys(const vecattn_kv_cache *c, int64_t n) { return view(c, c->k, n); }
vecattn_tensor kv_cache_values(const vecattn_kv_cache *c, int64_t n) { return view(c, c->v, n); }
