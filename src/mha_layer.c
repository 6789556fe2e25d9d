/* Pieces the multi-head attention layers share: checks, input sets,
 * projection buffers and projections (declared in mha_layer.h). */
#include "mha_layer.h"

#include <math.h>
#include <stdlib.h>

#include <inttypes.h>

#include "buffer.h"
#include "matmul.h"
#include "problem.h"
#include "status.h"

vecattn_status mha_check_weights(const vecattn_mha_weights *w, mha_dims *dm) {
  if (!w) return status_fail(VECATTN_EINVAL, "w is NULL");
  const float *const mats[4] = {w->wq, w->wk, w->wv, w->wo};
  static const char *const mat_name[4] = {"wq", "wk", "wv", "wo"};
  for (int i = 0; i < 4; ++i)
    if (!mats[i]) return status_fail(VECATTN_EINVAL, "w->%s is NULL", mat_name[i]);
  if (w->d_model <= 0) return status_fail(VECATTN_EINVAL, "w->d_model = %" PRId64 ": must be > 0", w->d_model);
  if (w->n_heads <= 0) return status_fail(VECATTN_EINVAL, "w->n_heads = %" PRId64 ": must be > 0", w->n_heads);
  if (w->head_dim <= 0) return status_fail(VECATTN_EINVAL, "w->head_dim = %" PRId64 ": must be > 0", w->head_dim);
  if (w->n_kv_heads < 0)
    return status_fail(VECATTN_EINVAL, "w->n_kv_heads = %" PRId64 ": must be >= 0 (0: n_heads)", w->n_kv_heads);
  dm->dm = w->d_model;
  dm->hq = w->n_heads;
  dm->hkv = w->n_kv_heads ? w->n_kv_heads : w->n_heads;
  dm->d = w->head_dim;
  if (dm->hq % dm->hkv != 0)
    return status_fail(VECATTN_EINVAL, "w->n_heads = %" PRId64 " is not a multiple of w->n_kv_heads = %" PRId64,
                       dm->hq, dm->hkv);
  if (dm->d > VECATTN_MAX_HEAD_DIM)
    return status_fail(VECATTN_EINVAL, "w->head_dim = %" PRId64 ": head dims are at most %" PRId64, dm->d,
                       VECATTN_MAX_HEAD_DIM);
  if (w->rope != 0 && w->rope != 1)
    return status_fail(VECATTN_EINVAL, "w->rope = %d: must be 0 (none) or 1 (rotary)", w->rope);
  dm->theta = w->rope_theta == 0.0f ? 10000.0 : (double)w->rope_theta;
  /* Half-split pairs need an even head; a base <= 0 has no real powers. */
  if (w->rope && dm->d % 2 != 0)
    return status_fail(VECATTN_EINVAL, "w->head_dim = %" PRId64 ": rotary embeddings need an even head dim", dm->d);
  if (w->rope && (!(dm->theta > 0.0) || !isfinite(dm->theta)))
    return status_fail(VECATTN_EINVAL, "w->rope_theta = %g: must be > 0 and finite (0: 10000)", (double)w->rope_theta);
  int64_t wsize;
  if (__builtin_mul_overflow(dm->hq, dm->d, &dm->q_cols) || __builtin_mul_overflow(dm->hkv, dm->d, &dm->kv_cols) ||
      __builtin_mul_overflow(dm->q_cols, dm->dm, &wsize))
    return status_fail(VECATTN_EOVERFLOW, "weight matrices of n_heads %" PRId64 " x head_dim %" PRId64
                       " x d_model %" PRId64 " overflow int64", dm->hq, dm->d, dm->dm);
  return VECATTN_OK;
}

/* batch * seq rows of `cols` floats must be addressable. */
vecattn_status mha_check_rows(const char *seq_name, int64_t batch, int64_t seq, int64_t cols, int64_t *rows) {
  if (batch <= 0) return status_fail(VECATTN_EINVAL, "batch = %" PRId64 ": must be > 0", batch);
  if (seq <= 0) return status_fail(VECATTN_EINVAL, "%s = %" PRId64 ": must be > 0", seq_name, seq);
  int64_t n;
  if (__builtin_mul_overflow(batch, seq, rows) || __builtin_mul_overflow(*rows, cols, &n) ||
      (uint64_t)n > SIZE_MAX / sizeof(float))
    return status_fail(VECATTN_EOVERFLOW, "batch %" PRId64 " x %s %" PRId64 " rows of %" PRId64 " floats overflow",
                       batch, seq_name, seq, cols);
  return VECATTN_OK;
}



vecattn_status mha_add_input(mha_input_set *in, const char *name, const void *p, int64_t n, int64_t size) {
  if (!p) return VECATTN_OK;
  in->name[in->n] = name;
  return span_elems(name, p, n, size, &in->span[in->n++]);
}

vecattn_status mha_layer_inputs(mha_input_set *in, const vecattn_mha_weights *w, const mha_dims *dm) {
  vecattn_status s;
  in->n = 0;
  if ((s = mha_add_input(in, "w->wq", w->wq, dm->q_cols * dm->dm, sizeof(float))) != VECATTN_OK ||
      (s = mha_add_input(in, "w->wk", w->wk, dm->kv_cols * dm->dm, sizeof(float))) != VECATTN_OK ||
      (s = mha_add_input(in, "w->wv", w->wv, dm->kv_cols * dm->dm, sizeof(float))) != VECATTN_OK ||
      (s = mha_add_input(in, "w->wo", w->wo, dm->dm * dm->q_cols, sizeof(float))) != VECATTN_OK ||
      (s = mha_add_input(in, "w->bq", w->bq, dm->q_cols, sizeof(float))) != VECATTN_OK ||
      (s = mha_add_input(in, "w->bk", w->bk, dm->kv_cols, sizeof(float))) != VECATTN_OK ||
      (s = mha_add_input(in, "w->bv", w->bv, dm->kv_cols, sizeof(float))) != VECATTN_OK ||
      (s = mha_add_input(in, "w->bo", w->bo, dm->dm, sizeof(float))) != VECATTN_OK)
    return s;
  return VECATTN_OK;
}

/* The attention options' arrays are inputs too (their own checks come with
 * the attention step; a bias that will fail them is left to it). */
vecattn_status mha_option_inputs(mha_input_set *in, const vecattn_sdpa_opts *o, int64_t batch, int64_t hq) {
  if (!o) return VECATTN_OK;
  vecattn_status s;
  if ((s = mha_add_input(in, "opts->kv_len", o->kv_len, batch, sizeof(int32_t))) != VECATTN_OK ||
      (s = mha_add_input(in, "opts->alibi_slopes", o->alibi_slopes, hq, sizeof(float))) != VECATTN_OK)
    return s;
  const vecattn_tensor *b = o->bias;
  if (b && b->data && (unsigned)b->dtype < VECATTN_DTYPE_COUNT) {
    for (int d = 0; d < 4; ++d)
      if (b->shape[d] <= 0 || b->stride[d] < 0) return VECATTN_OK;
    in->name[in->n] = "opts->bias";
    return tensor_span("opts->bias", b->data, b->dtype, b->shape, b->stride, &in->span[in->n++]);
  }
  return VECATTN_OK;
}

/* y must avoid every input but x (read in full before y is written, so y may
 * be x); lse must avoid every input and y. */
vecattn_status mha_check_outputs(const mha_input_set *in, const char *x_name, byte_span x, const float *y,
                                    int64_t y_floats, const vecattn_sdpa_opts *o, int64_t lse_floats) {
  byte_span ys, ls;
  vecattn_status s = span_elems("y", y, y_floats, sizeof(float), &ys);
  if (s != VECATTN_OK) return s;
  for (int i = 0; i < in->n; ++i)
    if ((s = check_disjoint("y", ys, in->name[i], in->span[i])) != VECATTN_OK) return s;
  if (!o || !o->lse) return VECATTN_OK;
  if ((s = span_elems("opts->lse", o->lse, lse_floats, sizeof(float), &ls)) != VECATTN_OK ||
      (s = check_disjoint("opts->lse", ls, x_name, x)) != VECATTN_OK ||
      (s = check_disjoint("opts->lse", ls, "y", ys)) != VECATTN_OK)
    return s;
  for (int i = 0; i < in->n; ++i)
    if ((s = check_disjoint("opts->lse", ls, in->name[i], in->span[i])) != VECATTN_OK) return s;
  return VECATTN_OK;
}




vecattn_status mha_buffers_alloc(mha_buffers *b, const mha_dims *dm, int64_t mq, int64_t mkv) {
  int64_t nq, nkv, total;
  if (__builtin_mul_overflow(mq, dm->q_cols, &nq) || __builtin_mul_overflow(mkv, dm->kv_cols, &nkv) ||
      __builtin_mul_overflow(nq, 2, &total) || __builtin_add_overflow(total, nkv, &total) ||
      __builtin_add_overflow(total, nkv, &total) || (uint64_t)total > SIZE_MAX / sizeof(float))
    return status_fail(VECATTN_EOVERFLOW, "the layer's projection buffers overflow size_t");
  b->mem = buffer_alloc((size_t)total * sizeof(float));
  if (!b->mem) return status_nomem("the layer's projection buffers");
  b->q = b->mem;
  b->attn = b->q + nq;
  b->k = b->attn + nq;
  b->v = b->k + nkv;
  return VECATTN_OK;
}

vecattn_status mha_project_out(const struct vecattn_kernels *kern, const vecattn_mha_weights *w,
                                  const mha_dims *dm, const float *attn, int64_t rows, float *y, int threads) {
  const matmul_out o = {w->wo, w->bo, dm->dm, y, dm->dm};
  return matmul_run(kern, attn, dm->q_cols, rows, dm->q_cols, &o, 1, threads);
}

vecattn_status mha_check_threads(const vecattn_sdpa_opts *opts) {
  if (opts && opts->num_threads < 0)
    return status_fail(VECATTN_EINVAL, "opts->num_threads = %d: must be >= 0 (0: OpenMP default)", opts->num_threads);
  return VECATTN_OK;
}

vecattn_status mha_project_qkv(const struct vecattn_kernels *kern, const vecattn_mha_weights *w, const mha_dims *dm,
                               const float *x, int64_t rows, const mha_buffers *b, int threads) {
  const matmul_out qkv[3] = {{w->wq, w->bq, dm->q_cols, b->q, dm->q_cols},
                             {w->wk, w->bk, dm->kv_cols, b->k, dm->kv_cols},
                             {w->wv, w->bv, dm->kv_cols, b->v, dm->kv_cols}};
  return matmul_run(kern, x, dm->dm, rows, dm->dm, qkv, 3, threads);
}
