/* vecattn_sdpa_paged: attention over a paged KV cache for many sequences in
 * one call. Each sequence becomes a problem of batch 1 whose keys and values
 * resolve through its block table (attn_pages), planned and tiled exactly as
 * vecattn_sdpa_varlen plans the same rows stored contiguously, and all of them
 * run as one task list (seq_batch.c). Kernels read K and V in place, one call
 * per run of rows within a page (attn_key_run), so the result is that of
 * vecattn_sdpa_varlen bit for bit, and nothing is copied in decode. */
#include <inttypes.h>
#include <stdlib.h>

#include "checks.h"
#include "dispatch.h"
#include "paged_cache.h"
#include "seq_batch.h"
#include "status.h"
#include "vecattn.h"

/* The caller's tables: seq_ids and cu_seqlens_q must not be written by the call. */
static vecattn_status check_tables(const vecattn_paged_cache *c, const int32_t *seq_ids, const int32_t *cu_q,
                                   int64_t n_seqs, const attn_problem *whole) {
  if (!seq_ids) return status_fail(VECATTN_EINVAL, "paged sdpa: seq_ids is NULL");
  check_span ids, cu;
  vecattn_status st;
  if ((st = check_offsets("paged sdpa", "cu_seqlens_q", cu_q, n_seqs, whole->Nq, &cu)) != VECATTN_OK ||
      (st = check_array("seq_ids", seq_ids, n_seqs, sizeof *seq_ids, &ids)) != VECATTN_OK ||
      (st = attn_problem_check_input(whole, "seq_ids", ids)) != VECATTN_OK ||
      (st = attn_problem_check_input(whole, "cu_seqlens_q", cu)) != VECATTN_OK)
    return st;
  for (int64_t i = 0; i < n_seqs; ++i) {
    if ((st = paged_check_seq(c, seq_ids[i], "paged sdpa")) != VECATTN_OK) return st;
    const int64_t len = c->seqs[seq_ids[i]].len;
    if (cu_q[i + 1] - cu_q[i] > len)
      return status_fail(VECATTN_EINVAL, "paged sdpa: sequence %d has %d queries but %" PRId64 " positions (append "
                         "their keys first)", (int)seq_ids[i], (int)(cu_q[i + 1] - cu_q[i]), len);
  }
  return VECATTN_OK;
}

/* Validates q, out and opts as vecattn_sdpa_varlen does, against keys shaped
 * as the cache's (a one-row view of the pools), then the pools as a whole. */
static vecattn_status validate(attn_problem *whole, const vecattn_tensor *q, const vecattn_tensor *out,
                               const vecattn_paged_cache *c, const int32_t *seq_ids, const int32_t *cu_q,
                               int64_t n_seqs, const vecattn_sdpa_opts *opts) {
  if (!c) return status_fail(VECATTN_EINVAL, "paged sdpa: the cache is NULL");
  if (opts && (opts->bias || opts->kv_len))
    return status_fail(VECATTN_EINVAL, "paged sdpa: opts->bias and opts->kv_len are per batch row; not with sequences");
  const int64_t head = c->block_size * c->head_dim;
  vecattn_tensor k = vecattn_tensor_bhsd_typed(c->k_pool, c->k_type, 1, c->n_kv_heads, 1, c->head_dim);
  vecattn_tensor v = vecattn_tensor_bhsd_typed(c->v_pool, c->v_type, 1, c->n_kv_heads, 1, c->head_dim);
  k.stride[1] = v.stride[1] = head; /* rows of block 0: inside the pools */
  vecattn_status st = attn_problem_init(whole, q, &k, &v, out, opts);
  if (st != VECATTN_OK) return st;
  if (whole->B != 1)
    return status_fail(VECATTN_EINVAL, "paged sdpa: q.shape[0] = %" PRId64 ": sequences are packed in one batch row",
                       whole->B);
  check_span kp, vp;
  paged_pool_spans(c, &kp, &vp);
  if ((st = attn_problem_check_input(whole, "the cache's K pool", kp)) != VECATTN_OK ||
      (st = attn_problem_check_input(whole, "the cache's V pool", vp)) != VECATTN_OK)
    return st;
  return check_tables(c, seq_ids, cu_q, n_seqs, whole);
}

vecattn_status sdpa_paged_with(const struct vecattn_kernels *kern, const vecattn_tensor *q, vecattn_tensor *out,
                               const vecattn_paged_cache *c, const int32_t *seq_ids, const int32_t *cu_seqlens_q,
                               int64_t n_seqs, const vecattn_sdpa_opts *opts) {
  attn_problem whole;
  vecattn_status st = validate(&whole, q, out, c, seq_ids, cu_seqlens_q, n_seqs, opts);
  if (st != VECATTN_OK || n_seqs == 0) return st;
  attn_problem *probs = malloc((size_t)n_seqs * sizeof *probs);
  attn_pages *pages = malloc((size_t)n_seqs * sizeof *pages);
  if (!probs || !pages) {
    free(probs), free(pages);
    return status_nomem("the per-sequence problems");
  }
  const int64_t window = opts ? opts->window : 0;
  int shift = -1;
  for (int b = 0; b < 62; ++b)
    if (c->block_size == (int64_t)1 << b) shift = b;
  for (int64_t s = 0; s < n_seqs; ++s) {
    const paged_seq *seq = &c->seqs[seq_ids[s]];
    pages[s] = (attn_pages){seq->blocks, c->block_size, c->n_kv_heads * c->block_size * c->head_dim, shift};
    seq_problem(&probs[s], &whole, cu_seqlens_q[s], cu_seqlens_q[s + 1] - cu_seqlens_q[s], seq->len, window);
    probs[s].pages = &pages[s];
  }
  st = seq_batch_run(probs, n_seqs, whole.num_threads, kern);
  free(pages), free(probs);
  return st;
}

vecattn_status vecattn_sdpa_paged(const vecattn_tensor *q, vecattn_tensor *out, const vecattn_paged_cache *c,
                                  const int32_t *seq_ids, const int32_t *cu_seqlens_q, int64_t n_seqs,
                                  const vecattn_sdpa_opts *opts) {
  return sdpa_paged_with(dispatch_active(), q, out, c, seq_ids, cu_seqlens_q, n_seqs, opts);
}
