/* vecattn_sdpa_varlen: ragged batches. Each sequence becomes a sub-problem of
 * the validated whole (B = 1, its own Nq and Nk, pointers at its first query
 * and key), planned and tiled exactly as vecattn_sdpa plans it; all of them
 * run as one task list in one parallel region (seq_batch.c). */
#include <stdlib.h>

#include "checks.h"
#include "dispatch.h"
#include "generic/dtype_scalar.h"
#include "seq_batch.h"
#include "status.h"
#include "vecattn.h"

static vecattn_status check_cu(const char *name, const int32_t *cu, int64_t n, int64_t total, check_span out_span,
                               check_span lse_span) {
  check_span s;
  vecattn_status st = check_offsets("varlen", name, cu, n, total, &s);
  if (st != VECATTN_OK) return st;
  if ((st = check_disjoint("out", out_span, name, s)) != VECATTN_OK) return st;
  return check_disjoint("opts->lse", lse_span, name, s);
}

static vecattn_status validate(attn_problem *whole, const vecattn_tensor *q, const vecattn_tensor *k,
                               const vecattn_tensor *v, const vecattn_tensor *out, const int32_t *cu_q,
                               const int32_t *cu_k, int64_t n_seqs, const vecattn_sdpa_opts *opts) {
  /* A bias or kv_len is per batch row; here the rows are sequences. */
  if (opts && (opts->bias || opts->kv_len))
    return status_fail(VECATTN_EINVAL, "varlen: opts->bias and opts->kv_len are per batch row; not with sequences");
  if (!v) return status_fail(VECATTN_EINVAL, "v is NULL");
  vecattn_status st = attn_problem_init(whole, q, k, v, out, opts);
  if (st != VECATTN_OK) return st;
  if (whole->B != 1)
    return status_fail(VECATTN_EINVAL, "varlen: q.shape[0] = %lld: sequences are packed in one batch row",
                       (long long)whole->B);
  check_span out_span, lse_span = {0, 0};
  if ((st = check_tensor("out", out, CHECK_FLOAT_TYPES, 1, &out_span)) != VECATTN_OK) return st;
  if (whole->lse && (st = check_array("opts->lse", whole->lse, whole->Hq * whole->Nq, sizeof(float), &lse_span)) != VECATTN_OK)
    return st;
  if ((st = check_cu("cu_seqlens_q", cu_q, n_seqs, whole->Nq, out_span, lse_span)) != VECATTN_OK) return st;
  return check_cu("cu_seqlens_k", cu_k, n_seqs, whole->Nk, out_span, lse_span);
}

/* Sequence s of the whole: its queries, keys, values, out rows and lse columns. */
static void sequence_problem(attn_problem *p, const attn_problem *whole, const int32_t *cu_q, const int32_t *cu_k,
                             int64_t s, int64_t window) {
  const int64_t k0 = cu_k[s];
  seq_problem(p, whole, cu_q[s], cu_q[s + 1] - cu_q[s], cu_k[s + 1] - k0, window);
  p->k = (const unsigned char *)whole->k + dt_bytes(whole->kt, k0 * whole->ks[2]);
  p->v = (const unsigned char *)whole->v + dt_bytes(whole->vt, k0 * whole->vs[2]);
}

vecattn_status sdpa_varlen_with(const struct vecattn_kernels *kern, const vecattn_tensor *q, const vecattn_tensor *k,
                                const vecattn_tensor *v, vecattn_tensor *out, const int32_t *cu_seqlens_q,
                                const int32_t *cu_seqlens_k, int64_t n_seqs, const vecattn_sdpa_opts *opts) {
  attn_problem whole;
  vecattn_status st = validate(&whole, q, k, v, out, cu_seqlens_q, cu_seqlens_k, n_seqs, opts);
  if (st != VECATTN_OK || n_seqs == 0) return st;
  attn_problem *probs = malloc((size_t)n_seqs * sizeof *probs);
  if (!probs) return status_nomem("the per-sequence problems");
  for (int64_t s = 0; s < n_seqs; ++s)
    sequence_problem(&probs[s], &whole, cu_seqlens_q, cu_seqlens_k, s, opts ? opts->window : 0);
  st = seq_batch_run(probs, n_seqs, whole.num_threads, kern);
  free(probs);
  return st;
}

vecattn_status vecattn_sdpa_varlen(const vecattn_tensor *q, const vecattn_tensor *k, const vecattn_tensor *v,
                                   vecattn_tensor *out, const int32_t *cu_seqlens_q, const int32_t *cu_seqlens_k,
                                   int64_t n_seqs, const vecattn_sdpa_opts *opts) {
  return sdpa_varlen_with(dispatch_active(), q, k, v, out, cu_seqlens_q, cu_seqlens_k, n_seqs, opts);
}
