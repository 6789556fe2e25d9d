/* The multi-head attention layer: fused Q/K/V projection straight into
 * [batch][seq][heads * head_dim] rows (read by the attention as BSHD tensors,
 * no transpose), rotary embeddings, the KV cache, vecattn_sdpa, and the output
 * projection. A call that fails leaves y and the cache as they were: new keys
 * are staged past the cache's length and only committed once y is written. */
#include <stdlib.h>

#include "dispatch.h"
#include "kv_cache.h"
#include "matmul.h"
#include "mha_layer.h"
#include "rope.h"
#include "sdpa.h"
#include "status.h"
#include "vecattn.h"

vecattn_status vecattn_mha_forward(const vecattn_mha_weights *w, const float *x, int64_t batch, int64_t seq,
                                   vecattn_kv_cache *cache, float *y, const vecattn_sdpa_opts *opts) {
  mha_dims dm;
  int64_t rows = 0;
  vecattn_status s = mha_check_weights(w, &dm);
  if (s != VECATTN_OK) return s;
  if (!x) return status_fail(VECATTN_EINVAL, "x is NULL");
  if (!y) return status_fail(VECATTN_EINVAL, "y is NULL");
  if ((s = mha_check_threads(opts)) != VECATTN_OK) return s;
  if ((s = mha_check_rows("seq", batch, seq, dm.dm > dm.q_cols ? dm.dm : dm.q_cols, &rows)) != VECATTN_OK) return s;
  if (cache && (s = kv_cache_check(cache, batch, dm.hkv, dm.d, seq)) != VECATTN_OK) return s;
  mha_input_set in;
  byte_span xs;
  if ((s = mha_layer_inputs(&in, w, &dm)) != VECATTN_OK ||
      (s = mha_option_inputs(&in, opts, batch, dm.hq)) != VECATTN_OK)
    return s;
  if (cache) {
    byte_span ks, vs;
    kv_cache_storage(cache, &ks, &vs);
    in.name[in.n] = "the kv cache's keys", in.span[in.n++] = ks;
    in.name[in.n] = "the kv cache's values", in.span[in.n++] = vs;
  }
  if ((s = span_elems("x", x, rows * dm.dm, sizeof(float), &xs)) != VECATTN_OK ||
      (s = mha_check_outputs(&in, "x", xs, y, rows * dm.dm, opts, rows * dm.hq)) != VECATTN_OK)
    return s;

  /* One table for the whole call: projections and attention on one path. */
  const struct vecattn_kernels *kern = dispatch_active();
  const int threads = mha_threads(opts);
  mha_buffers buf = {0};
  if ((s = mha_buffers_alloc(&buf, &dm, rows, rows)) != VECATTN_OK) return s;

  if ((s = mha_project_qkv(kern, w, &dm, x, rows, &buf, threads)) != VECATTN_OK) goto done;

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
  if ((s = sdpa_with(kern, &q, &k, &v, &out, opts)) != VECATTN_OK) goto done;
  if ((s = mha_project_out(kern, w, &dm, buf.attn, rows, y, threads)) != VECATTN_OK) goto done;
  if (cache) kv_cache_commit(cache, seq);
done:
  free(buf.mem);
  return s;
}

vecattn_status vecattn_mha_cross(const vecattn_mha_weights *w, const float *x, int64_t batch, int64_t seq_q,
                                 const float *memory, int64_t seq_kv, float *y, const vecattn_sdpa_opts *opts) {
  mha_dims dm;
  int64_t rows_q = 0, rows_kv = 0;
  vecattn_status s = mha_check_weights(w, &dm);
  if (s != VECATTN_OK) return s;
  if (!x) return status_fail(VECATTN_EINVAL, "x is NULL");
  if (!memory) return status_fail(VECATTN_EINVAL, "memory is NULL");
  if (!y) return status_fail(VECATTN_EINVAL, "y is NULL");
  if ((s = mha_check_threads(opts)) != VECATTN_OK) return s;
  /* A causal mask between two unrelated sequences has no meaning: refuse it. */
  if (opts && opts->causal)
    return status_fail(VECATTN_EINVAL, "opts->causal = %d: cross-attention has no causal mask", opts->causal);
  if ((s = mha_check_rows("seq_q", batch, seq_q, dm.dm > dm.q_cols ? dm.dm : dm.q_cols, &rows_q)) != VECATTN_OK) return s;
  if ((s = mha_check_rows("seq_kv", batch, seq_kv, dm.dm > dm.kv_cols ? dm.dm : dm.kv_cols, &rows_kv)) != VECATTN_OK)
    return s;
  mha_input_set in;
  byte_span xs;
  if ((s = mha_layer_inputs(&in, w, &dm)) != VECATTN_OK || (s = mha_option_inputs(&in, opts, batch, dm.hq)) != VECATTN_OK ||
      (s = mha_add_input(&in, "memory", memory, rows_kv * dm.dm, sizeof(float))) != VECATTN_OK)
    return s;
  if ((s = span_elems("x", x, rows_q * dm.dm, sizeof(float), &xs)) != VECATTN_OK ||
      (s = mha_check_outputs(&in, "x", xs, y, rows_q * dm.dm, opts, rows_q * dm.hq)) != VECATTN_OK)
    return s;

  /* One table for the whole call: projections and attention on one path. */
  const struct vecattn_kernels *kern = dispatch_active();
  const int threads = mha_threads(opts);
  mha_buffers buf = {0};
  if ((s = mha_buffers_alloc(&buf, &dm, rows_q, rows_kv)) != VECATTN_OK) return s;

  const matmul_out q_out = {w->wq, w->bq, dm.q_cols, buf.q, dm.q_cols};
  const matmul_out kv_out[2] = {{w->wk, w->bk, dm.kv_cols, buf.k, dm.kv_cols},
                                {w->wv, w->bv, dm.kv_cols, buf.v, dm.kv_cols}};
  if ((s = matmul_run(kern, x, dm.dm, rows_q, dm.dm, &q_out, 1, threads)) != VECATTN_OK) goto done;
  if ((s = matmul_run(kern, memory, dm.dm, rows_kv, dm.dm, kv_out, 2, threads)) != VECATTN_OK) goto done;

  const vecattn_tensor q = vecattn_tensor_bshd(buf.q, batch, seq_q, dm.hq, dm.d);
  const vecattn_tensor k = vecattn_tensor_bshd(buf.k, batch, seq_kv, dm.hkv, dm.d);
  const vecattn_tensor v = vecattn_tensor_bshd(buf.v, batch, seq_kv, dm.hkv, dm.d);
  vecattn_tensor out = vecattn_tensor_bshd(buf.attn, batch, seq_q, dm.hq, dm.d);
  if ((s = sdpa_with(kern, &q, &k, &v, &out, opts)) != VECATTN_OK) goto done;
  s = mha_project_out(kern, w, &dm, buf.attn, rows_q, y, threads);
done:
  free(buf.mem);
  return s;
}
