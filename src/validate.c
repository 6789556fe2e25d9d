/* Argument checks for the attention entry points. Everything is checked before
 * any output is touched, so a rejected call writes nothing. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "generic/dtype_scalar.h"
#include "problem.h"

typedef struct {
  uintptr_t lo, hi; /* byte range [lo, hi) */
} byte_span;

/* Element count and byte extent of a strided tensor of element type t;
 * EOVERFLOW when either exceeds int64 or size_t, or the bytes wrap the address
 * space. */
static vecattn_status tensor_span(const void *data, vecattn_dtype t, const int64_t shape[4],
                                  const int64_t stride[4], byte_span *span) {
  int64_t count = 1, last = 0;
  for (int d = 0; d < 4; ++d) {
    int64_t step;
    if (__builtin_mul_overflow(count, shape[d], &count)) return VECATTN_EOVERFLOW;
    if (__builtin_mul_overflow(shape[d] - 1, stride[d], &step)) return VECATTN_EOVERFLOW;
    if (__builtin_add_overflow(last, step, &last)) return VECATTN_EOVERFLOW;
  }
  /* One past the last element's last byte: for Q8_0 the end of its block. */
  int64_t end_bytes;
  const int64_t last_block = last / VECATTN_Q8_0_BLOCK + 1;
  if (t == VECATTN_Q8_0 ? __builtin_mul_overflow(last_block, (int64_t)VECATTN_Q8_0_BLOCK_BYTES, &end_bytes)
                        : __builtin_mul_overflow(last + 1, dt_bytes(t, 1), &end_bytes))
    return VECATTN_EOVERFLOW;
  if ((uint64_t)end_bytes > SIZE_MAX || (uint64_t)count > SIZE_MAX / sizeof(float)) return VECATTN_EOVERFLOW;
  uintptr_t end;
  if (__builtin_add_overflow((uintptr_t)data, (size_t)end_bytes, &end)) return VECATTN_EOVERFLOW;
  span->lo = (uintptr_t)data;
  span->hi = end;
  return VECATTN_OK;
}

static int spans_overlap(byte_span a, byte_span b) { return a.lo < b.hi && b.lo < a.hi; }

static int dims_positive(const int64_t shape[4]) {
  for (int d = 0; d < 4; ++d)
    if (shape[d] <= 0) return 0;
  return 1;
}

static int strides_valid(const vecattn_tensor *t) {
  if (t->stride[3] != 1) return 0;
  for (int d = 0; d < 3; ++d)
    if (t->stride[d] < 0) return 0;
  return 1;
}

/* An output's elements must not alias each other: ordered by stride, each
 * dimension must step past everything the inner ones span. */
static int layout_is_injective(const int64_t shape[4], const int64_t stride[4]) {
  int order[4] = {0, 1, 2, 3};
  for (int a = 1; a < 4; ++a)
    for (int b = a; b > 0 && stride[order[b]] < stride[order[b - 1]]; --b) {
      const int t = order[b];
      order[b] = order[b - 1];
      order[b - 1] = t;
    }
  int64_t inner_extent = 1; /* elements spanned by the inner dims */
  for (int i = 0; i < 4; ++i) {
    const int d = order[i];
    if (shape[d] == 1) continue;
    if (stride[d] < inner_extent) return 0;
    inner_extent = stride[d] * (shape[d] - 1) + inner_extent;
  }
  return 1;
}

/* Q8_0 rows are whole blocks and start on block boundaries. */
static int blocks_aligned(const vecattn_tensor *t) {
  if (t->dtype != VECATTN_Q8_0) return 1;
  if (t->shape[3] % VECATTN_Q8_0_BLOCK != 0) return 0;
  for (int d = 0; d < 3; ++d)
    if (t->shape[d] > 1 && t->stride[d] % VECATTN_Q8_0_BLOCK != 0) return 0;
  return 1;
}

/* Element types each operand may have: K and V any, the rest not Q8_0. */
enum { ANY_TYPE = 0xf, FLOAT_TYPES = (1 << VECATTN_F32) | (1 << VECATTN_F16) | (1 << VECATTN_BF16),
       F32_ONLY = 1 << VECATTN_F32 };

static int tensor_usable(const vecattn_tensor *t, unsigned types) {
  return t && t->data && (unsigned)t->dtype < VECATTN_DTYPE_COUNT && (types >> t->dtype & 1u) &&
         dims_positive(t->shape) && strides_valid(t) && blocks_aligned(t);
}

static vecattn_status check_bias(attn_problem *p, const vecattn_tensor *bias, byte_span *span) {
  const int64_t want[4] = {p->B, p->Hq, p->Nq, p->Nk};
  if (!bias->data || (unsigned)bias->dtype >= VECATTN_DTYPE_COUNT || !(FLOAT_TYPES >> bias->dtype & 1u))
    return VECATTN_EINVAL;
  for (int d = 0; d < 4; ++d) {
    if (bias->shape[d] != want[d] && bias->shape[d] != 1) return VECATTN_EINVAL;
    if (bias->stride[d] < 0) return VECATTN_EINVAL;
    p->bias_stride[d] = bias->shape[d] == 1 ? 0 : bias->stride[d];
  }
  vecattn_status s = tensor_span(bias->data, bias->dtype, bias->shape, bias->stride, span);
  if (s != VECATTN_OK) return s;
  p->bias = bias->data;
  p->bias_t = bias->dtype;
  return VECATTN_OK;
}

static byte_span span_of(const void *data, size_t bytes) {
  return (byte_span){(uintptr_t)data, (uintptr_t)data + bytes};
}

/* in_spans has room for the option arrays after its n_in tensors. */
static vecattn_status check_options(attn_problem *p, const vecattn_sdpa_opts *o, byte_span out_span,
                                    byte_span *in_spans, int n_in) {
  if (!o) return VECATTN_OK;
  const int n_tensors = n_in; /* out was checked against these already */
  if (o->num_threads < 0 || o->window < 0 || !isfinite(o->scale)) return VECATTN_EINVAL;
  p->num_threads = o->num_threads;
  p->reduced_precision = o->reduced_precision != 0;
  p->causal = o->causal != 0;
  /* A window of Nk keys already admits every key; clamping keeps the key
   * range arithmetic (i + Nk - Nq - window) from overflowing int64. */
  p->window = o->window < p->Nk ? o->window : p->Nk;
  if (o->scale != 0.0f) p->scale = o->scale;
  if (o->kv_len) {
    for (int64_t b = 0; b < p->B; ++b)
      if (o->kv_len[b] < 0 || o->kv_len[b] > p->Nk) return VECATTN_EINVAL;
    p->kv_len = o->kv_len;
    in_spans[n_in++] = span_of(o->kv_len, (size_t)p->B * sizeof *o->kv_len);
  }
  if (o->bias) {
    vecattn_status s = check_bias(p, o->bias, &in_spans[n_in++]);
    if (s != VECATTN_OK) return s;
  }
  if (o->alibi_slopes) {
    p->alibi = o->alibi_slopes;
    in_spans[n_in++] = span_of(o->alibi_slopes, (size_t)p->Hq * sizeof *o->alibi_slopes);
  }
  /* Writing out over a mask input would change it mid-call: kv_len then
   * steers reads and writes past the tensors' ends. */
  for (int i = n_tensors; i < n_in; ++i)
    if (spans_overlap(out_span, in_spans[i])) return VECATTN_EINVAL;
  if (o->lse) {
    /* B*Hq*Nq cannot overflow: out has at least that many elements. */
    const byte_span lse_span = span_of(o->lse, (size_t)(p->B * p->Hq * p->Nq) * sizeof *o->lse);
    if (spans_overlap(lse_span, out_span)) return VECATTN_EINVAL;
    for (int i = 0; i < n_in; ++i)
      if (spans_overlap(lse_span, in_spans[i])) return VECATTN_EINVAL;
    p->lse = o->lse;
  }
  return VECATTN_OK;
}

vecattn_status attn_problem_init(attn_problem *p, const vecattn_tensor *q, const vecattn_tensor *k,
                                 const vecattn_tensor *v, const vecattn_tensor *out,
                                 const vecattn_sdpa_opts *opts) {
  return attn_problem_init_ex(p, q, k, v, out, opts, 0);
}

vecattn_status attn_problem_init_ex(attn_problem *p, const vecattn_tensor *q, const vecattn_tensor *k,
                                    const vecattn_tensor *v, const vecattn_tensor *out,
                                    const vecattn_sdpa_opts *opts, unsigned flags) {
  const int weights = v == NULL;
  if (!tensor_usable(q, FLOAT_TYPES) || !tensor_usable(k, ANY_TYPE) ||
      !tensor_usable(out, weights ? F32_ONLY : FLOAT_TYPES) || (!weights && !tensor_usable(v, ANY_TYPE)))
    return VECATTN_EINVAL;

  memset(p, 0, sizeof *p);
  p->B = q->shape[0];
  p->Hq = q->shape[1];
  p->Nq = q->shape[2];
  p->D = q->shape[3];
  p->Hkv = k->shape[1];
  p->Nk = k->shape[2];
  p->Dv = weights ? p->Nk : v->shape[3];
  const int key_dim_ok = (flags & ATTN_ANY_KEY_DIM) || k->shape[3] == p->D;
  if (k->shape[0] != p->B || !key_dim_ok || p->Hq % p->Hkv != 0) return VECATTN_EINVAL;
  if (!weights && (v->shape[0] != p->B || v->shape[1] != p->Hkv || v->shape[2] != p->Nk))
    return VECATTN_EINVAL;
  const int64_t out_shape[4] = {p->B, p->Hq, p->Nq, p->Dv};
  for (int d = 0; d < 4; ++d)
    if (out->shape[d] != out_shape[d]) return VECATTN_EINVAL;

  byte_span in_spans[3 + 3], out_span; /* q, k, v, then kv_len, bias, alibi */
  const int n_in = weights ? 2 : 3;
  vecattn_status s;
  if ((s = tensor_span(q->data, q->dtype, q->shape, q->stride, &in_spans[0])) != VECATTN_OK) return s;
  if ((s = tensor_span(k->data, k->dtype, k->shape, k->stride, &in_spans[1])) != VECATTN_OK) return s;
  if (!weights && (s = tensor_span(v->data, v->dtype, v->shape, v->stride, &in_spans[2])) != VECATTN_OK)
    return s;
  if ((s = tensor_span(out->data, out->dtype, out->shape, out->stride, &out_span)) != VECATTN_OK) return s;
  if (!layout_is_injective(out->shape, out->stride)) return VECATTN_EINVAL;
  for (int i = 0; i < n_in; ++i)
    if (spans_overlap(out_span, in_spans[i])) return VECATTN_EINVAL;

  /* Head dims index the int-sized kernel loops. */
  if (p->D > VECATTN_MAX_HEAD_DIM || k->shape[3] > VECATTN_MAX_HEAD_DIM ||
      (!weights && p->Dv > VECATTN_MAX_HEAD_DIM))
    return VECATTN_EINVAL;

  p->q = q->data;
  p->k = k->data;
  p->v = weights ? NULL : v->data;
  p->out = out->data;
  p->qt = q->dtype;
  p->kt = k->dtype;
  p->vt = weights ? VECATTN_F32 : v->dtype;
  p->ot = out->dtype;
  memcpy(p->qs, q->stride, sizeof p->qs);
  memcpy(p->ks, k->stride, sizeof p->ks);
  if (!weights) memcpy(p->vs, v->stride, sizeof p->vs);
  memcpy(p->os, out->stride, sizeof p->os);
  p->scale = 1.0f / sqrtf((float)p->D);
  return check_options(p, opts, out_span, in_spans, n_in);
}

/* ---- checks.h: the same rules for entry points without an attn_problem ---- */
#include "checks.h"

vecattn_status check_tensor(const vecattn_tensor *t, unsigned types, int output, check_span *span) {
  if (!tensor_usable(t, types)) return VECATTN_EINVAL;
  byte_span s;
  const vecattn_status st = tensor_span(t->data, t->dtype, t->shape, t->stride, &s);
  if (st != VECATTN_OK) return st;
  if (output && !layout_is_injective(t->shape, t->stride)) return VECATTN_EINVAL;
  *span = (check_span){s.lo, s.hi};
  return VECATTN_OK;
}

vecattn_status check_array(const void *p, int64_t n, size_t size, check_span *span) {
  int64_t bytes;
  uintptr_t end;
  if (n < 0 || __builtin_mul_overflow(n, (int64_t)size, &bytes) || (uint64_t)bytes > SIZE_MAX ||
      __builtin_add_overflow((uintptr_t)p, (size_t)bytes, &end))
    return VECATTN_EOVERFLOW;
  *span = (check_span){(uintptr_t)p, end};
  return VECATTN_OK;
}
