/* The multi-head attention layer: fused Q/K/V projection straight into
 * [batch][seq][heads * head_dim] rows (read by the attention as BSHD tensors,
 * no transpose), rotary embeddings, the KV cache, vecattn_sdpa, and the output
 * projection. A call that fails leaves y and the cache as they were: new keys
 * are staged past the cache's length and only committed once y is written. */
#include <math.h>
#include <stdlib.h>

#include "buffer.h"
#include "dispatch.h"
#include "kv_cache.h"
#include "matmul.h"
#include "problem.h"
#include "rope.h"
#include "vecattn.h"

typedef struct {
  int64_t dm, hq, hkv, d;
  int64_t q_cols, kv_cols; /* hq * d, hkv * d */
  double theta;            /* rope base */
} mha_dims;

static vecattn_status check_weights(const vecattn_mha_weights *w, mha_dims *dm) {
  if (!w || !w->wq || !w->wk || !w->wv || !w->wo) return VECATTN_EINVAL;
  if (w->d_model <= 0 || w->n_heads <= 0 || w->head_dim <= 0 || w->n_kv_heads < 0) return VECATTN_EINVAL;
  dm->dm = w->d_model;
  dm->hq = w->n_heads;
  dm->hkv = w->n_kv_heads ? w->n_kv_heads : w->n_heads;
  dm->d = w->head_dim;
  if (dm->hq % dm->hkv != 0 || dm->d > VECATTN_MAX_HEAD_DIM) return VECATTN_EINVAL;
  if (w->rope != 0 && w->rope != 1) return VECATTN_EINVAL;
  dm->theta = w->rope_theta == 0.0f ? 10000.0 : (double)w->rope_theta;
  /* Half-split pairs need an even head; a base <= 0 has no real powers. */
  if (w->rope && (dm->d % 2 != 0 || !(dm->theta > 0.0) || !isfinite(dm->theta))) return VECATTN_EINVAL;
  int64_t wsize;
  if (__builtin_mul_overflow(dm->hq, dm->d, &dm->q_cols) || __builtin_mul_overflow(dm->hkv, dm->d, &dm->kv_cols) ||
      __builtin_mul_overflow(dm->q_cols, dm->dm, &wsize))
    return VECATTN_EOVERFLOW;
  return VECATTN_OK;
}

/* batch * seq rows of `cols` floats must be addressable. */
static vecattn_status check_rows(int64_t batch, int64_t seq, int64_t cols, int64_t *rows) {
  if (batch <= 0 || seq <= 0) return VECATTN_EINVAL;
  int64_t n;
  if (__builtin_mul_overflow(batch, seq, rows) || __builtin_mul_overflow(*rows, cols, &n) ||
      (uint64_t)n > SIZE_MAX / sizeof(float))
    return VECATTN_EOVERFLOW;
  return VECATTN_OK;
}

static int threads_of(const vecattn_sdpa_opts *o) { return o ? o->num_threads : 0; }

/* q [mq][q_cols], attn [mq][q_cols], k and v [mkv][kv_cols], in one block. */
typedef struct {
  float *mem, *q, *k, *v, *attn;
} mha_buffers;

static vecattn_status buffers_alloc(mha_buffers *b, const mha_dims *dm, int64_t mq, int64_t mkv) {
  int64_t nq, nkv, total;
  if (__builtin_mul_overflow(mq, dm->q_cols, &nq) || __builtin_mul_overflow(mkv, dm->kv_cols, &nkv) ||
      __builtin_mul_overflow(nq, 2, &total) || __builtin_add_overflow(total, nkv, &total) ||
      __builtin_add_overflow(total, nkv, &total) || (uint64_t)total > SIZE_MAX / sizeof(float))
    return VECATTN_EOVERFLOW;
  b->mem = buffer_alloc((size_t)total * sizeof(float));
  if (!b->mem) return VECATTN_ENOMEM;
  b->q = b->mem;
  b->attn = b->q + nq;
  b->k = b->attn + nq;
  b->v = b->k + nkv;
  return VECATTN_OK;
}

static vecattn_status project_out(const struct vecattn_kernels *kern, const vecattn_mha_weights *w,
                                  const mha_dims *dm, const float *attn, int64_t rows, float *y, int threads) {
  const matmul_out o = {w->wo, w->bo, dm->dm, y, dm->dm};
  return matmul_run(kern, attn, dm->q_cols, rows, dm->q_cols, &o, 1, threads);
}

vecattn_status vecattn_mha_forward(const vecattn_mha_weights *w, const float *x, int64_t batch, int64_t seq,
                                   vecattn_kv_cache *cache, float *y, const vecattn_sdpa_opts *opts) {
  mha_dims dm;
  int64_t rows;
  vecattn_status s = check_weights(w, &dm);
  if (s != VECATTN_OK) return s;
  if (!x || !y || (opts && opts->num_threads < 0)) return VECATTN_EINVAL;
  if ((s = check_rows(batch, seq, dm.dm > dm.q_cols ? dm.dm : dm.q_cols, &rows)) != VECATTN_OK) return s;
  if (cache && (s = kv_cache_check(cache, batch, dm.hkv, dm.d, seq)) != VECATTN_OK) return s;

  const struct vecattn_kernels *kern = dispatch_active();
  const int threads = threads_of(opts);
  mha_buffers buf;
  if ((s = buffers_alloc(&buf, &dm, rows, rows)) != VECATTN_OK) return s;

  const matmul_out qkv[3] = {{w->wq, w->bq, dm.q_cols, buf.q, dm.q_cols},
                             {w->wk, w->bk, dm.kv_cols, buf.k, dm.kv_cols},
                             {w->wv, w->bv, dm.kv_cols, buf.v, dm.kv_cols}};
  if ((s = matmul_run(kern, x, dm.dm, rows, dm.dm, qkv, 3, threads)) != VECATTN_OK) goto done;

  const int64_t past = cache ? cache->len : 0;
  if (w->rope) {
    rope_table rt;
    if ((s = rope_table_init(&rt, past, seq, dm.d, dm.theta, threads)) != VECATTN_OK) goto done;
    rope_apply(&rt, buf.q, batch, seq * dm.q_cols, dm.q_cols, dm.hq, threads);
    rope_apply(&rt, buf.k, batch, seq * dm.kv_cols, dm.kv_cols, dm.hkv, threads);
    rope_table_free(&rt);
  }

  const vecattn_tensor q = vecattn_tensor_bshd(buf.q, batch, seq, dm.hq, dm.d);
  vecattn_tensor out = vecattn_tensor_bshd(buf.attn, batch, seq, dm.hq, dm.d);
  vecattn_tensor k, v;
  if (cache) {
    kv_cache_stage(kern, cache, buf.k, buf.v, seq * dm.kv_cols, dm.kv_cols, seq, threads);
    k = kv_cache_keys(cache, past + seq);
    v = kv_cache_values(cache, past + seq);
  } else {
    k = vecattn_tensor_bshd(buf.k, batch, seq, dm.hkv, dm.d);
    v = vecattn_tensor_bshd(buf.v, batch, seq, dm.hkv, dm.d);
  }
  if ((s = vecattn_sdpa(&q, &k, &v, &out, opts)) != VECATTN_OK) goto done;
  if ((s = project_out(kern, w, &dm, buf.attn, rows, y, threads)) != VECATTN_OK) goto done;
  if (cache) kv_cache_commit(cache, seq);
done:
  free(buf.mem);
  return s;
}

vecattn_status vecattn_mha_cross(const vecattn_mha_weights *w, const float *x, int64_t batch, int64_t seq_q,
                                 const float *memory, int64_t seq_kv, float *y, const vecattn_sdpa_opts *opts) {
  mha_dims dm;
  int64_t rows_q, rows_kv;
  vecattn_status s = check_weights(w, &dm);
  if (s != VECATTN_OK) return s;
  /* A causal mask between two unrelated sequences has no meaning: refuse it. */
  if (!x || !memory || !y || (opts && (opts->num_threads < 0 || opts->causal))) return VECATTN_EINVAL;
  if ((s = check_rows(batch, seq_q, dm.dm > dm.q_cols ? dm.dm : dm.q_cols, &rows_q)) != VECATTN_OK) return s;
  if ((s = check_rows(batch, seq_kv, dm.dm > dm.kv_cols ? dm.dm : dm.kv_cols, &rows_kv)) != VECATTN_OK) return s;

  const struct vecattn_kernels *kern = dispatch_active();
  const int threads = threads_of(opts);
  mha_buffers buf;
  if ((s = buffers_alloc(&buf, &dm, rows_q, rows_kv)) != VECATTN_OK) return s;

  const matmul_out q_out = {w->wq, w->bq, dm.q_cols, buf.q, dm.q_cols};
  const matmul_out kv_out[2] = {{w->wk, w->bk, dm.kv_cols, buf.k, dm.kv_cols},
                                {w->wv, w->bv, dm.kv_cols, buf.v, dm.kv_cols}};
  if ((s = matmul_run(kern, x, dm.dm, rows_q, dm.dm, &q_out, 1, threads)) != VECATTN_OK) goto done;
  if ((s = matmul_run(kern, memory, dm.dm, rows_kv, dm.dm, kv_out, 2, threads)) != VECATTN_OK) goto done;

  const vecattn_tensor q = vecattn_tensor_bshd(buf.q, batch, seq_q, dm.hq, dm.d);
  const vecattn_tensor k = vecattn_tensor_bshd(buf.k, batch, seq_kv, dm.hkv, dm.d);
  const vecattn_tensor v = vecattn_tensor_bshd(buf.v, batch, seq_kv, dm.hkv, dm.d);
  vecattn_tensor out = vecattn_tensor_bshd(buf.attn, batch, seq_q, dm.hq, dm.d);
  if ((s = vecattn_sdpa(&q, &k, &v, &out, opts)) != VECATTN_OK) goto done;
  s = project_out(kern, w, &dm, buf.attn, rows_q, y, threads);
done:
  free(buf.mem);
  return s;
}
