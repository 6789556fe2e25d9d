/* KV cache storage and its public lifecycle calls. */
#include "kv_cache.h"

#include <stdlib.h>
#include <string.h>

#include <inttypes.h>

#include "buffer.h"
#include "generic/dtype_scalar.h"
#include "status.h"
#include "threads.h"

vecattn_status vecattn_kv_cache_create_typed(vecattn_kv_cache **out, int64_t batch, int64_t n_kv_heads,
                                             int64_t head_dim, int64_t max_seq, vecattn_dtype k_type,
                                             vecattn_dtype v_type) {
  if (!out) return status_fail(VECATTN_EINVAL, "the cache pointer c is NULL");
  *out = NULL;
  const int64_t sizes[4] = {batch, n_kv_heads, head_dim, max_seq};
  static const char *const size_name[4] = {"batch", "n_kv_heads", "head_dim", "max_seq"};
  for (int i = 0; i < 4; ++i)
    if (sizes[i] <= 0) return status_fail(VECATTN_EINVAL, "kv cache %s = %" PRId64 ": must be > 0", size_name[i], sizes[i]);
  if ((unsigned)k_type >= VECATTN_DTYPE_COUNT || (unsigned)v_type >= VECATTN_DTYPE_COUNT)
    return status_fail(VECATTN_EINVAL, "kv cache types %d, %d: not vecattn_dtype values", (int)k_type, (int)v_type);
  if ((k_type == VECATTN_Q8_0 || v_type == VECATTN_Q8_0) && head_dim % VECATTN_Q8_0_BLOCK != 0)
    return status_fail(VECATTN_EINVAL, "kv cache head_dim = %" PRId64 ": q8_0 needs a multiple of 32", head_dim);
  int64_t n;
  if (__builtin_mul_overflow(batch, n_kv_heads, &n) || __builtin_mul_overflow(n, head_dim, &n) ||
      __builtin_mul_overflow(n, max_seq, &n))
    return status_fail(VECATTN_EOVERFLOW, "kv cache of %" PRId64 " x %" PRId64 " x %" PRId64 " x %" PRId64
                       " elements overflows int64", batch, n_kv_heads, head_dim, max_seq);
  const size_t k_bytes = vecattn_dtype_bytes(k_type, n), v_bytes = vecattn_dtype_bytes(v_type, n);
  if (!k_bytes || !v_bytes || k_bytes > SIZE_MAX - v_bytes)
    return status_fail(VECATTN_EOVERFLOW, "kv cache of %" PRId64 " elements: its bytes overflow size_t", n);
  vecattn_kv_cache *c = malloc(sizeof *c);
  /* Zeroed, so slots past len never hold uninitialised memory. */
  unsigned char *v_mem;
  unsigned char *mem = pair_calloc(k_bytes, v_bytes, &v_mem);
  if (!c || !mem) {
    free(c);
    free(mem);
    return status_nomem("the kv cache");
  }
  *c = (vecattn_kv_cache){batch, n_kv_heads, head_dim, max_seq, 0, k_type, v_type, mem, v_mem};
  *out = c;
  return VECATTN_OK;
}

vecattn_status vecattn_kv_cache_create(vecattn_kv_cache **out, int64_t batch, int64_t n_kv_heads,
                                       int64_t head_dim, int64_t max_seq) {
  return vecattn_kv_cache_create_typed(out, batch, n_kv_heads, head_dim, max_seq, VECATTN_F32, VECATTN_F32);
}

void vecattn_kv_cache_destroy(vecattn_kv_cache *c) {
  if (!c) return;
  free(c->k);
  free(c);
}

int64_t vecattn_kv_cache_len(const vecattn_kv_cache *c) { return c ? c->len : 0; }

vecattn_status vecattn_kv_cache_reset(vecattn_kv_cache *c) {
  if (!c) return status_fail(VECATTN_EINVAL, "the cache is NULL");
  c->len = 0;
  return VECATTN_OK;
}

vecattn_status kv_cache_check(const vecattn_kv_cache *c, int64_t batch, int64_t n_kv_heads,
                              int64_t head_dim, int64_t seq) {
  if (c->batch != batch)
    return status_fail(VECATTN_EINVAL, "kv cache batch = %" PRId64 " but the call's batch = %" PRId64, c->batch, batch);
  if (c->n_kv_heads != n_kv_heads)
    return status_fail(VECATTN_EINVAL, "kv cache n_kv_heads = %" PRId64 " but the weights' n_kv_heads = %" PRId64,
                       c->n_kv_heads, n_kv_heads);
  if (c->head_dim != head_dim)
    return status_fail(VECATTN_EINVAL, "kv cache head_dim = %" PRId64 " but the weights' head_dim = %" PRId64,
                       c->head_dim, head_dim);
  if (seq > c->max_seq - c->len)
    return status_fail(VECATTN_ENOSPC, "kv cache full: %" PRId64 " + %" PRId64 " > max_seq %" PRId64, c->len, seq,
                       c->max_seq);
  return VECATTN_OK;
}

void kv_cache_storage(const vecattn_kv_cache *c, byte_span *k, byte_span *v) {
  const int64_t n = c->batch * c->n_kv_heads * c->max_seq * c->head_dim; /* checked at create */
  k->lo = (uintptr_t)c->k, k->hi = k->lo + vecattn_dtype_bytes(c->k_type, n);
  v->lo = (uintptr_t)c->v, v->hi = v->lo + vecattn_dtype_bytes(c->v_type, n);
}

static int64_t row_offset(const vecattn_kv_cache *c, int64_t b, int64_t h, int64_t pos) {
  return ((b * c->n_kv_heads + h) * c->max_seq + pos) * c->head_dim;
}

typedef struct {
  const struct vecattn_kernels *kern;
  vecattn_kv_cache *c;
  const float *k_src, *v_src;
  int64_t ld_b, ld_s, seq;
} stage_ctx;

static void stage_region(void *ctx) {
  const stage_ctx *t = ctx;
  vecattn_kv_cache *c = t->c;
  const int64_t rows = c->batch * t->seq, d = c->head_dim;
#pragma omp for schedule(static)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t b = row / t->seq, s = row % t->seq;
    for (int64_t h = 0; h < c->n_kv_heads; ++h) {
      const int64_t src = b * t->ld_b + s * t->ld_s + h * d, dst = row_offset(c, b, h, c->len + s);
      t->kern->from_f32(t->k_src + src, c->k_type, (unsigned char *)c->k + dt_bytes(c->k_type, dst), d);
      t->kern->from_f32(t->v_src + src, c->v_type, (unsigned char *)c->v + dt_bytes(c->v_type, dst), d);
    }
  }
}

void kv_cache_stage(const struct vecattn_kernels *kern, vecattn_kv_cache *c, const float *k_src,
                    const float *v_src, int64_t ld_b, int64_t ld_s, int64_t seq, int num_threads) {
  const int64_t rows = c->batch * seq;
  stage_ctx t = {kern, c, k_src, v_src, ld_b, ld_s, seq};
  vecattn_run_region(vecattn_thread_count(num_threads, rows, 0, 16.0 * (double)rows * (double)(c->n_kv_heads * c->head_dim)),
                     stage_region, &t);
}

void kv_cache_commit(vecattn_kv_cache *c, int64_t seq) { c->len += seq; }

static vecattn_tensor view(const vecattn_kv_cache *c, void *data, vecattn_dtype type, int64_t n) {
  vecattn_tensor t = vecattn_tensor_bhsd_typed(data, type, c->batch, c->n_kv_heads, n, c->head_dim);
  t.stride[1] = c->max_seq * c->head_dim;
  t.stride[0] = c->n_kv_heads * t.stride[1];
  return t;
}

vecattn_tensor kv_cache_keys(const vecattn_kv_cache *c, int64_t n) { return view(c, c->k, c->k_type, n); }
vecattn_tensor kv_cache_values(const vecattn_kv_cache *c, int64_t n) { return view(c, c->v, c->v_type, n); }
