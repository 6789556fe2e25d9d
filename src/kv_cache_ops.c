/* Operations servers need on a vecattn_kv_cache beside append: capacity,
 * truncation (a rejected speculative draft), copying a batch row (forking a
 * beam) and reading stored keys and values back (prefix caching, swapping
 * out). Every check comes before any write. */
#include <string.h>

#include "checks.h"
#include "convert.h"
#include "dispatch.h"
#include "generic/dtype_scalar.h"
#include "kv_cache.h"
#include "status.h"
#include "vecattn.h"

int64_t vecattn_kv_cache_capacity(const vecattn_kv_cache *c) { return c ? c->max_seq : 0; }

vecattn_status vecattn_kv_cache_truncate(vecattn_kv_cache *c, int64_t len) {
  if (!c) return status_fail(VECATTN_EINVAL, "the cache is NULL");
  if (len < 0 || len > c->len)
    return status_fail(VECATTN_EINVAL, "kv cache truncate to %lld: must be in 0..len = %lld", (long long)len,
                       (long long)c->len);
  c->len = len; /* slots past len keep their bytes: the next append overwrites them */
  return VECATTN_OK;
}

static size_t row_bytes(vecattn_dtype t, int64_t head_dim) { return (size_t)dt_bytes(t, head_dim); }

/* Byte offset of (b, h, pos)'s row in a store of type t. */
static int64_t row_at(const vecattn_kv_cache *c, vecattn_dtype t, int64_t b, int64_t h, int64_t pos) {
  return dt_bytes(t, ((b * c->n_kv_heads + h) * c->max_seq + pos) * c->head_dim);
}

vecattn_status vecattn_kv_cache_copy_row(vecattn_kv_cache *c, int64_t src_b, int64_t dst_b) {
  if (!c) return status_fail(VECATTN_EINVAL, "the cache is NULL");
  if (src_b < 0 || dst_b < 0 || src_b >= c->batch || dst_b >= c->batch)
    return status_fail(VECATTN_EINVAL, "kv cache copy_row %lld -> %lld: rows must be in 0..%lld", (long long)src_b,
                       (long long)dst_b, (long long)(c->batch - 1));
  if (src_b == dst_b || c->len == 0) return VECATTN_OK;
  for (int which = 0; which < 2; ++which) {
    unsigned char *base = which ? c->v : c->k;
    const vecattn_dtype t = which ? c->v_type : c->k_type;
    const size_t bytes = row_bytes(t, c->head_dim) * (size_t)c->len; /* positions are contiguous per head */
    for (int64_t h = 0; h < c->n_kv_heads; ++h)
      memcpy(base + row_at(c, t, dst_b, h, 0), base + row_at(c, t, src_b, h, 0), bytes);
  }
  return VECATTN_OK;
}

vecattn_status cache_read_outputs(const char *what, int64_t n_kv_heads, int64_t head_dim, int64_t n,
                                  void *const outs[2], const vecattn_dtype types[2], check_span spans[2]) {
  spans[0] = spans[1] = (check_span){0, 0};
  if (!outs[0] && !outs[1]) return status_fail(VECATTN_EINVAL, "%s: k_out and v_out are both NULL", what);
  for (int i = 0; i < 2; ++i) {
    if (!outs[i]) continue;
    const char *name = i ? "v_out" : "k_out";
    if ((unsigned)types[i] >= VECATTN_DTYPE_COUNT)
      return status_fail(VECATTN_EINVAL, "%s: %s type %d is not a vecattn_dtype", what, name, (int)types[i]);
    if (types[i] == VECATTN_Q8_0 && head_dim % VECATTN_Q8_0_BLOCK)
      return status_fail(VECATTN_EINVAL, "%s: q8_0 needs head_dim %% 32 == 0, not %lld", what, (long long)head_dim);
    int64_t elems;
    if (__builtin_mul_overflow(n_kv_heads * head_dim, n, &elems))
      return status_fail(VECATTN_EOVERFLOW, "%s: %s of %lld positions overflows", what, name, (long long)n);
    const vecattn_status st = check_array(name, outs[i], (int64_t)vecattn_dtype_bytes(types[i], elems), 1, &spans[i]);
    if (st != VECATTN_OK) return st;
  }
  return check_disjoint("v_out", spans[1], "k_out", spans[0]);
}

vecattn_status vecattn_kv_cache_read(const vecattn_kv_cache *c, int64_t b, int64_t pos0, int64_t n, void *k_out,
                                     vecattn_dtype k_type, void *v_out, vecattn_dtype v_type) {
  if (!c) return status_fail(VECATTN_EINVAL, "the cache is NULL");
  if (b < 0 || b >= c->batch)
    return status_fail(VECATTN_EINVAL, "kv cache read: row %lld not in 0..%lld", (long long)b, (long long)(c->batch - 1));
  if (pos0 < 0 || n < 0 || pos0 > c->len || n > c->len - pos0)
    return status_fail(VECATTN_EINVAL, "kv cache read: positions %lld + %lld past len %lld", (long long)pos0,
                       (long long)n, (long long)c->len);
  const vecattn_dtype types[2] = {k_type, v_type};
  void *const outs[2] = {k_out, v_out};
  check_span spans[2];
  vecattn_status st = cache_read_outputs("kv cache read", c->n_kv_heads, c->head_dim, n, outs, types, spans);
  if (st != VECATTN_OK) return st;
  const check_span store = {(uintptr_t)c->k, (uintptr_t)c->v + (uintptr_t)dt_bytes(c->v_type, c->batch * c->n_kv_heads * c->max_seq * c->head_dim)};
  if ((st = check_disjoint("k_out", spans[0], "the cache's storage", store)) != VECATTN_OK ||
      (st = check_disjoint("v_out", spans[1], "the cache's storage", store)) != VECATTN_OK)
    return st;
  const struct vecattn_kernels *kern = dispatch_active();
  for (int i = 0; i < 2; ++i) {
    if (!outs[i]) continue;
    const vecattn_dtype from = i ? c->v_type : c->k_type, to = types[i];
    const unsigned char *base = i ? c->v : c->k;
    unsigned char *dst = outs[i];
    for (int64_t h = 0; h < c->n_kv_heads; ++h) {
      /* positions are contiguous per head */
      copy_or_convert(kern, base + row_at(c, from, b, h, pos0), from, dst, to, n * c->head_dim);
      dst += dt_bytes(to, n * c->head_dim);
    }
  }
  return VECATTN_OK;
}
