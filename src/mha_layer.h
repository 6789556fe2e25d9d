/* Pieces the multi-head attention layers share (vecattn_mha_forward,
 * vecattn_mha_cross, vecattn_mha_forward_varlen): weight and size checks, the
 * set of inputs outputs must avoid, the projection buffers and projections. */
#ifndef VECATTN_MHA_LAYER_H
#define VECATTN_MHA_LAYER_H

#include <stdint.h>

#include "kernels.h"
#include "validate.h"
#include "vecattn.h"

typedef struct {
  int64_t dm, hq, hkv, d;
  int64_t q_cols, kv_cols; /* hq * d, hkv * d */
  double theta;            /* rope base */
} mha_dims;

/* EINVAL/EOVERFLOW unless w describes a usable layer; fills *dm. */
vecattn_status mha_check_weights(const vecattn_mha_weights *w, mha_dims *dm);
/* batch * seq rows of `cols` floats must be addressable (batch, seq > 0). */
vecattn_status mha_check_rows(const char *seq_name, int64_t batch, int64_t seq, int64_t cols, int64_t *rows);
vecattn_status mha_check_threads(const vecattn_sdpa_opts *opts);
static inline int mha_threads(const vecattn_sdpa_opts *o) { return o ? o->num_threads : 0; }

enum { MHA_MAX_INPUTS = 24 };
/* Every buffer the layer reads, so y and lse can be checked against each. */
typedef struct {
  int n;
  const char *name[MHA_MAX_INPUTS];
  byte_span span[MHA_MAX_INPUTS];
} mha_input_set;
/* Adds n elements of `size` bytes at p (nothing for NULL p). */
vecattn_status mha_add_input(mha_input_set *in, const char *name, const void *p, int64_t n, int64_t size);
/* Starts the set with the weights and biases. */
vecattn_status mha_layer_inputs(mha_input_set *in, const vecattn_mha_weights *w, const mha_dims *dm);
/* Adds the attention options' arrays (kv_len of `batch`, ALiBi slopes, bias). */
vecattn_status mha_option_inputs(mha_input_set *in, const vecattn_sdpa_opts *o, int64_t batch, int64_t hq);
/* y (y_floats) must avoid every input but x; opts->lse (lse_floats) every input and y. */
vecattn_status mha_check_outputs(const mha_input_set *in, const char *x_name, byte_span x, const float *y,
                                 int64_t y_floats, const vecattn_sdpa_opts *o, int64_t lse_floats);

/* q [mq][q_cols], attn [mq][q_cols], k and v [mkv][kv_cols], in one block. */
typedef struct {
  float *mem, *q, *k, *v, *attn;
} mha_buffers;
vecattn_status mha_buffers_alloc(mha_buffers *b, const mha_dims *dm, int64_t mq, int64_t mkv);
/* Q, K and V of `rows` rows of x into b->q, b->k, b->v in one pass over x. */
vecattn_status mha_project_qkv(const struct vecattn_kernels *kern, const vecattn_mha_weights *w, const mha_dims *dm,
                               const float *x, int64_t rows, const mha_buffers *b, int threads);
/* y = attn wo^T + bo. */
vecattn_status mha_project_out(const struct vecattn_kernels *kern, const vecattn_mha_weights *w,
                               const mha_dims *dm, const float *attn, int64_t rows, float *y, int threads);

#endif
