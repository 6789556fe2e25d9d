/* The multi-head attention layer over a ragged batch: the packed tokens of
 * many sequences projected in one pass, rotated by a position per token,
 * appended to a paged cache, and attended per sequence in one call. An
 * append is undone unless the whole call succeeds, so a failing call leaves
 * y and the cache as they were. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "checks.h"
#include "dispatch.h"
#include "generic/dtype_scalar.h"
#include "mha_layer.h"
#include "paged_cache.h"
#include "rope.h"
#include "seq_batch.h"
#include "status.h"
#include "vecattn.h"

/* Everything but the cache's own checks (ids, room: the append's prepare). */
static vecattn_status validate(const vecattn_mha_weights *w, mha_dims *dm, const float *x, const int32_t *cu,
                               const int32_t *seq_ids, int64_t n_seqs, const int64_t *positions,
                               const vecattn_paged_cache *cache, const float *y, const vecattn_sdpa_opts *opts) {
  vecattn_status s = mha_check_weights(w, dm);
  if (s != VECATTN_OK) return s;
  if (!x) return status_fail(VECATTN_EINVAL, "x is NULL");
  if (!y) return status_fail(VECATTN_EINVAL, "y is NULL");
  if ((s = mha_check_threads(opts)) != VECATTN_OK) return s;
  if (opts && (opts->kv_len || opts->bias))
    return status_fail(VECATTN_EINVAL, "varlen layer: opts->kv_len and opts->bias are per batch row; not with sequences");
  check_span cu_span;
  if ((s = check_offsets("varlen layer", "cu_seqlens", cu, n_seqs, -1, &cu_span)) != VECATTN_OK) return s;
  if (cache) {
    if (!seq_ids) return status_fail(VECATTN_EINVAL, "varlen layer: seq_ids is NULL with a cache");
    if (cache->n_kv_heads != dm->hkv || cache->head_dim != dm->d)
      return status_fail(VECATTN_EINVAL, "paged cache n_kv_heads = %" PRId64 ", head_dim = %" PRId64 " but the"
                         " weights' are %" PRId64 ", %" PRId64, cache->n_kv_heads, cache->head_dim, dm->hkv, dm->d);
  }
  const int64_t total = cu[n_seqs];
  if (total == 0) return VECATTN_OK;
  int64_t rows;
  if ((s = mha_check_rows("total", 1, total, dm->dm > dm->q_cols ? dm->dm : dm->q_cols, &rows)) != VECATTN_OK)
    return s;
  mha_input_set in;
  byte_span xs;
  if ((s = mha_layer_inputs(&in, w, dm)) != VECATTN_OK || (s = mha_option_inputs(&in, opts, 1, dm->hq)) != VECATTN_OK ||
      (s = mha_add_input(&in, "cu_seqlens", cu, n_seqs + 1, sizeof *cu)) != VECATTN_OK ||
      (s = mha_add_input(&in, "seq_ids", seq_ids, n_seqs, sizeof *seq_ids)) != VECATTN_OK ||
      (s = mha_add_input(&in, "positions", positions, total, sizeof *positions)) != VECATTN_OK)
    return s;
  if (cache) {
    in.name[in.n] = "the paged cache's K pool", in.name[in.n + 1] = "the paged cache's V pool";
    paged_pool_spans(cache, &in.span[in.n], &in.span[in.n + 1]);
    in.n += 2;
  }
  if ((s = span_elems("x", x, rows * dm->dm, sizeof(float), &xs)) != VECATTN_OK ||
      (s = mha_check_outputs(&in, "x", xs, y, rows * dm->dm, opts, rows * dm->hq)) != VECATTN_OK)
    return s;
  if (positions)
    for (int64_t t = 0; t < total; ++t)
      if (positions[t] < 0)
        return status_fail(VECATTN_EINVAL, "positions[%" PRId64 "] = %" PRId64 ": must be >= 0", t, positions[t]);
  return VECATTN_OK;
}

/* Each sequence's tokens at the positions after its cache length (0 without). */
static int64_t *default_positions(const vecattn_paged_cache *cache, const int32_t *cu, const int32_t *seq_ids,
                                  int64_t n_seqs) {
  int64_t *pos = malloc((size_t)cu[n_seqs] * sizeof *pos);
  if (!pos) return NULL;
  for (int64_t i = 0; i < n_seqs; ++i) {
    const int64_t past = cache ? cache->seqs[seq_ids[i]].len : 0;
    for (int64_t t = cu[i]; t < cu[i + 1]; ++t) pos[t] = past + (t - cu[i]);
  }
  return pos;
}

vecattn_status vecattn_mha_forward_varlen(const vecattn_mha_weights *w, const float *x, const int32_t *cu_seqlens,
                                          const int32_t *seq_ids, int64_t n_seqs, const int64_t *positions,
                                          vecattn_paged_cache *cache, float *y, const vecattn_sdpa_opts *opts) {
  mha_dims dm;
  vecattn_status s = validate(w, &dm, x, cu_seqlens, seq_ids, n_seqs, positions, cache, y, opts);
  if (s != VECATTN_OK) return s;
  const int64_t total = cu_seqlens[n_seqs];
  paged_append app = {0};
  /* Last check: ids and room in the cache (ENOSPC before any work). */
  if (cache && (s = paged_append_prepare(cache, seq_ids, cu_seqlens, n_seqs, total, &app)) != VECATTN_OK) return s;
  if (total == 0) {
    if (cache) paged_append_commit(cache, &app);
    return VECATTN_OK;
  }

  /* One table for the whole call: projections, cache conversions and attention on one path. */
  const struct vecattn_kernels *kern = dispatch_active();
  const int threads = mha_threads(opts);
  mha_buffers buf = {0};
  int64_t *own_positions = NULL;
  if ((s = mha_buffers_alloc(&buf, &dm, total, total)) != VECATTN_OK) goto done;
  if ((s = mha_project_qkv(kern, w, &dm, x, total, &buf, threads)) != VECATTN_OK) goto done;
  if (w->rope) {
    if (!positions) {
      if (!(own_positions = default_positions(cache, cu_seqlens, seq_ids, n_seqs))) {
        s = status_nomem("the varlen layer's positions");
        goto done;
      }
      positions = own_positions;
    }
    const rope_target qk[2] = {{buf.q, dm.q_cols, dm.hq}, {buf.k, dm.kv_cols, dm.hkv}};
    rope_positions_apply(qk, 2, total, dm.d, positions, dm.theta, threads);
  }

  const vecattn_tensor q = vecattn_tensor_bshd(buf.q, 1, total, dm.hq, dm.d);
  vecattn_tensor out = vecattn_tensor_bshd(buf.attn, 1, total, dm.hq, dm.d);
  const vecattn_tensor k = vecattn_tensor_bshd(buf.k, 1, total, dm.hkv, dm.d);
  const vecattn_tensor v = vecattn_tensor_bshd(buf.v, 1, total, dm.hkv, dm.d);
  if (cache) {
    paged_append_stage(kern, cache, &app, &k, &v, threads);
    s = sdpa_paged_with(kern, &q, &out, cache, seq_ids, cu_seqlens, n_seqs, opts);
  } else {
    s = sdpa_varlen_with(kern, &q, &k, &v, &out, cu_seqlens, cu_seqlens, n_seqs, opts);
  }
  if (s != VECATTN_OK) goto done;
  s = mha_project_out(kern, w, &dm, buf.attn, total, y, threads);
done:
  if (cache) {
    if (s == VECATTN_OK) paged_append_commit(cache, &app);
    else paged_append_undo(cache, &app);
  }
  free(own_positions), free(buf.mem);
  return s;
}
