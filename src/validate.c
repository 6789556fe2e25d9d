/* Argument checks for the entry points. Everything is checked before any
 * output is touched, so a rejected call writes nothing; every failure leaves
 * a detail message (status_fail) saying which argument and why. */
#include "validate.h"

#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "generic/dtype_scalar.h"
#include "problem.h"
#include "status.h"

/* One past the highest user-space address a buffer may reach. x86-64 Linux
 * (4-level paging) and aarch64 Linux (48-bit VA) end user space at 2^47 and
 * 2^48. Larger address spaces (x86-64 5-level paging: 2^56; aarch64 52-bit VA)
 * are only handed to mmap calls that ask for addresses above those limits: a
 * base already above one means the process did, so its limit is the larger
 * one. Elsewhere only wrapping around is caught. */
static uintptr_t user_space_end(uintptr_t base) {
#if defined(__x86_64__) && UINTPTR_MAX > 0xffffffffu
  const uintptr_t low = (uintptr_t)1 << 47, high = (uintptr_t)1 << 56;
  return base < low ? low : high;
#elif defined(__aarch64__)
  const uintptr_t low = (uintptr_t)1 << 48, high = (uintptr_t)1 << 52;
  return base < low ? low : high;
#else
  (void)base;
  return UINTPTR_MAX;
#endif
}

vecattn_status span_bytes(const char *what, const void *p, uint64_t bytes, byte_span *span) {
  const uintptr_t lo = (uintptr_t)p, limit = user_space_end(lo);
  if (bytes > SIZE_MAX || lo > limit || (uintptr_t)bytes > limit - lo)
    return status_fail(VECATTN_EOVERFLOW,
                       "%s: %" PRIu64 " bytes from %p do not fit the user address space (it ends at 0x%" PRIxPTR ")",
                       what, bytes, p, limit);
  span->lo = lo;
  span->hi = lo + (uintptr_t)bytes;
  return VECATTN_OK;
}

vecattn_status span_elems(const char *what, const void *p, int64_t n, int64_t size, byte_span *span) {
  int64_t bytes;
  if (__builtin_mul_overflow(n, size, &bytes))
    return status_fail(VECATTN_EOVERFLOW, "%s: %" PRId64 " elements of %" PRId64 " bytes overflow int64", what, n,
                       size);
  return span_bytes(what, p, (uint64_t)bytes, span);
}

vecattn_status tensor_span(const char *what, const void *data, vecattn_dtype t, const int64_t shape[4],
                           const int64_t stride[4], byte_span *span) {
  int64_t count = 1, last = 0;
  for (int d = 0; d < 4; ++d) {
    int64_t step;
    if (__builtin_mul_overflow(count, shape[d], &count))
      return status_fail(VECATTN_EOVERFLOW, "%s: element count overflows int64 at shape[%d] = %" PRId64, what, d,
                         shape[d]);
    if (__builtin_mul_overflow(shape[d] - 1, stride[d], &step) || __builtin_add_overflow(last, step, &last))
      return status_fail(VECATTN_EOVERFLOW,
                         "%s: extent overflows int64 (shape[%d] = %" PRId64 ", stride[%d] = %" PRId64 ")", what, d,
                         shape[d], d, stride[d]);
  }
  if ((uint64_t)count > SIZE_MAX / sizeof(float))
    return status_fail(VECATTN_EOVERFLOW, "%s: %" PRId64 " elements overflow size_t bytes", what, count);
  /* One past the last element's last byte: for Q8_0 the end of its block. */
  int64_t end_bytes;
  const int64_t last_block = last / VECATTN_Q8_0_BLOCK + 1;
  if (t == VECATTN_Q8_0 ? __builtin_mul_overflow(last_block, (int64_t)VECATTN_Q8_0_BLOCK_BYTES, &end_bytes)
                        : __builtin_mul_overflow(last + 1, dt_bytes(t, 1), &end_bytes))
    return status_fail(VECATTN_EOVERFLOW, "%s: byte extent overflows int64 (last element at offset %" PRId64 ")",
                       what, last);
  return span_bytes(what, data, (uint64_t)end_bytes, span);
}

vecattn_status check_disjoint(const char *out, byte_span out_span, const char *in, byte_span in_span) {
  if (spans_overlap(out_span, in_span))
    return status_fail(VECATTN_EINVAL, "%s overlaps %s: outputs must not share memory with inputs", out, in);
  return VECATTN_OK;
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

/* Element types each operand may have: K and V any, the rest not Q8_0. */
enum { ANY_TYPE = 0xf, FLOAT_TYPES = (1 << VECATTN_F32) | (1 << VECATTN_F16) | (1 << VECATTN_BF16),
       F32_ONLY = 1 << VECATTN_F32 };

static const char *types_text(unsigned types) {
  return types == F32_ONLY ? "must be f32" : "must be f32, f16 or bf16";
}

/* Non-NULL data of an allowed type, positive dims, strides >= 0 with
 * stride[3] == 1, Q8_0 rows in whole blocks. `role` says what the tensor
 * holds, for the message about its type. */
static vecattn_status check_operand(const char *name, const char *role, const vecattn_tensor *t, unsigned types) {
  if (!t) return status_fail(VECATTN_EINVAL, "%s is NULL", name);
  if (!t->data) return status_fail(VECATTN_EINVAL, "%s.data is NULL", name);
  if ((unsigned)t->dtype >= VECATTN_DTYPE_COUNT)
    return status_fail(VECATTN_EINVAL, "%s.dtype %d is not a vecattn_dtype", name, (int)t->dtype);
  if (!(types >> t->dtype & 1u))
    return status_fail(VECATTN_EINVAL, "%s.dtype %s: %s %s", name, vecattn_dtype_name(t->dtype), role,
                       types_text(types));
  for (int d = 0; d < 4; ++d)
    if (t->shape[d] <= 0)
      return status_fail(VECATTN_EINVAL, "%s.shape[%d] = %" PRId64 ": dimensions must be > 0", name, d, t->shape[d]);
  if (t->stride[3] != 1)
    return status_fail(VECATTN_EINVAL, "%s.stride[3] = %" PRId64 ": the last dimension must be contiguous (stride 1)",
                       name, t->stride[3]);
  for (int d = 0; d < 3; ++d)
    if (t->stride[d] < 0)
      return status_fail(VECATTN_EINVAL, "%s.stride[%d] = %" PRId64 ": strides must be >= 0", name, d, t->stride[d]);
  if (t->dtype == VECATTN_Q8_0) {
    if (t->shape[3] % VECATTN_Q8_0_BLOCK != 0)
      return status_fail(VECATTN_EINVAL, "%s.shape[3] = %" PRId64 ": q8_0 rows must be whole blocks of 32", name,
                         t->shape[3]);
    for (int d = 0; d < 3; ++d)
      if (t->shape[d] > 1 && t->stride[d] % VECATTN_Q8_0_BLOCK != 0)
        return status_fail(VECATTN_EINVAL, "%s.stride[%d] = %" PRId64 ": q8_0 strides must be multiples of 32", name,
                           d, t->stride[d]);
  }
  return VECATTN_OK;
}

static vecattn_status check_bias(attn_problem *p, const vecattn_tensor *bias, byte_span *span) {
  const int64_t want[4] = {p->B, p->Hq, p->Nq, p->Nk};
  static const char *const dim_name[4] = {"B", "Hq", "Nq", "Nk"};
  if (!bias->data) return status_fail(VECATTN_EINVAL, "opts->bias->data is NULL");
  if ((unsigned)bias->dtype >= VECATTN_DTYPE_COUNT || !(FLOAT_TYPES >> bias->dtype & 1u))
    return status_fail(VECATTN_EINVAL, "bias.dtype %s: a bias must be f32, f16 or bf16",
                       vecattn_dtype_name(bias->dtype));
  for (int d = 0; d < 4; ++d) {
    if (bias->shape[d] != want[d] && bias->shape[d] != 1)
      return status_fail(VECATTN_EINVAL, "bias.shape[%d] = %" PRId64 ": must be %s = %" PRId64 " or 1 (broadcast)", d,
                         bias->shape[d], dim_name[d], want[d]);
    if (bias->stride[d] < 0)
      return status_fail(VECATTN_EINVAL, "bias.stride[%d] = %" PRId64 ": strides must be >= 0", d, bias->stride[d]);
    p->bias_stride[d] = bias->shape[d] == 1 ? 0 : bias->stride[d];
  }
  vecattn_status s = tensor_span("bias", bias->data, bias->dtype, bias->shape, bias->stride, span);
  if (s != VECATTN_OK) return s;
  p->bias = bias->data;
  p->bias_t = bias->dtype;
  return VECATTN_OK;
}

/* in has room for the option arrays after its n_in tensors. */
static vecattn_status check_options(attn_problem *p, const vecattn_sdpa_opts *o, byte_span *in,
                                    const char **in_name, int n_in) {
  if (!o) return VECATTN_OK;
  const int n_tensors = n_in; /* out was checked against these already */
  vecattn_status s;
  if (o->num_threads < 0)
    return status_fail(VECATTN_EINVAL, "opts->num_threads = %d: must be >= 0 (0: OpenMP default)", o->num_threads);
  if (o->window < 0)
    return status_fail(VECATTN_EINVAL, "opts->window = %" PRId64 ": must be >= 0 (0: no window)", o->window);
  if (!isfinite(o->scale))
    return status_fail(VECATTN_EINVAL, "opts->scale = %g: must be finite (0: 1/sqrt(D))", (double)o->scale);
  p->num_threads = o->num_threads;
  p->reduced_precision = o->reduced_precision != 0;
  p->causal = o->causal != 0;
  /* A window of Nk keys already admits every key; clamping keeps the key
   * range arithmetic (i + Nk - Nq - window) from overflowing int64. */
  p->window = o->window < p->Nk ? o->window : p->Nk;
  if (o->scale != 0.0f) p->scale = o->scale;
  if (o->kv_len) {
    if ((s = span_elems("opts->kv_len", o->kv_len, p->B, sizeof *o->kv_len, &in[n_in])) != VECATTN_OK) return s;
    for (int64_t b = 0; b < p->B; ++b)
      if (o->kv_len[b] < 0 || o->kv_len[b] > p->Nk)
        return status_fail(VECATTN_EINVAL, "opts->kv_len[%" PRId64 "] = %d: must be in 0..Nk = %" PRId64, b,
                           (int)o->kv_len[b], p->Nk);
    p->kv_len = o->kv_len;
    in_name[n_in++] = "opts->kv_len";
  }
  if (o->bias) {
    if ((s = check_bias(p, o->bias, &in[n_in])) != VECATTN_OK) return s;
    in_name[n_in++] = "opts->bias";
  }
  if (o->alibi_slopes) {
    p->alibi = o->alibi_slopes;
    if ((s = span_elems("opts->alibi_slopes", o->alibi_slopes, p->Hq, sizeof(float), &in[n_in])) != VECATTN_OK)
      return s;
    in_name[n_in++] = "opts->alibi_slopes";
  }
  /* Writing out over a mask input would change it mid-call: kv_len then
   * steers reads and writes past the tensors' ends. */
  for (int i = n_tensors; i < n_in; ++i)
    if ((s = check_disjoint(p->out_name, p->out_span, in_name[i], in[i])) != VECATTN_OK) return s;
  if (o->lse) {
    /* B*Hq*Nq cannot overflow: out has at least that many elements. */
    if ((s = span_elems("opts->lse", o->lse, p->B * p->Hq * p->Nq, sizeof(float), &p->lse_span)) != VECATTN_OK)
      return s;
    if ((s = check_disjoint("opts->lse", p->lse_span, p->out_name, p->out_span)) != VECATTN_OK) return s;
    for (int i = 0; i < n_in; ++i)
      if ((s = check_disjoint("opts->lse", p->lse_span, in_name[i], in[i])) != VECATTN_OK) return s;
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
  const char *out_name = weights ? "weights" : "out";
  vecattn_status s;
  if ((s = check_operand("q", "queries", q, FLOAT_TYPES)) != VECATTN_OK ||
      (s = check_operand("k", "keys", k, ANY_TYPE)) != VECATTN_OK ||
      (!weights && (s = check_operand("v", "values", v, ANY_TYPE)) != VECATTN_OK) ||
      (s = check_operand(out_name, weights ? "attention weights" : "the output", out,
                        weights ? F32_ONLY : FLOAT_TYPES)) != VECATTN_OK)
    return s;

  memset(p, 0, sizeof *p);
  p->out_name = out_name;
  p->B = q->shape[0];
  p->Hq = q->shape[1];
  p->Nq = q->shape[2];
  p->D = q->shape[3];
  p->Hkv = k->shape[1];
  p->Nk = k->shape[2];
  p->Dv = weights ? p->Nk : v->shape[3];
  if (k->shape[0] != p->B)
    return status_fail(VECATTN_EINVAL, "k.shape[0] = %" PRId64 " but q.shape[0] = %" PRId64 " (batch)", k->shape[0],
                       p->B);
  if (!(flags & ATTN_ANY_KEY_DIM) && k->shape[3] != p->D)
    return status_fail(VECATTN_EINVAL, "k.shape[3] = %" PRId64 " but q.shape[3] = %" PRId64 " (head dim)", k->shape[3],
                       p->D);
  if (p->Hq % p->Hkv != 0)
    return status_fail(VECATTN_EINVAL,
                       "q.shape[1] = %" PRId64 " is not a multiple of k.shape[1] = %" PRId64 " (query heads per kv head)",
                       p->Hq, p->Hkv);
  if (!weights) {
    static const char *const what[3] = {"batch", "kv heads", "keys"};
    const int64_t want[3] = {p->B, p->Hkv, p->Nk};
    for (int d = 0; d < 3; ++d)
      if (v->shape[d] != want[d])
        return status_fail(VECATTN_EINVAL, "v.shape[%d] = %" PRId64 " but k.shape[%d] = %" PRId64 " (%s)", d,
                           v->shape[d], d, want[d], what[d]);
  }
  const int64_t out_shape[4] = {p->B, p->Hq, p->Nq, p->Dv};
  for (int d = 0; d < 4; ++d)
    if (out->shape[d] != out_shape[d])
      return status_fail(VECATTN_EINVAL,
                         "%s.shape[%d] = %" PRId64 " but it must be %" PRId64 " ([B, Hq, Nq, %s] = [%" PRId64
                         ", %" PRId64 ", %" PRId64 ", %" PRId64 "])",
                         out_name, d, out->shape[d], out_shape[d], weights ? "Nk" : "Dv", out_shape[0],
                         out_shape[1], out_shape[2], out_shape[3]);

  byte_span in[3 + 3]; /* q, k, v, then kv_len, bias, alibi */
  const char *in_name[3 + 3] = {"q", "k", "v"};
  const int n_in = weights ? 2 : 3;
  if ((s = tensor_span("q", q->data, q->dtype, q->shape, q->stride, &in[0])) != VECATTN_OK) return s;
  if ((s = tensor_span("k", k->data, k->dtype, k->shape, k->stride, &in[1])) != VECATTN_OK) return s;
  if (!weights && (s = tensor_span("v", v->data, v->dtype, v->shape, v->stride, &in[2])) != VECATTN_OK) return s;
  if ((s = tensor_span(out_name, out->data, out->dtype, out->shape, out->stride, &p->out_span)) != VECATTN_OK)
    return s;
  if (!layout_is_injective(out->shape, out->stride))
    return status_fail(VECATTN_EINVAL,
                       "%s: strides [%" PRId64 ", %" PRId64 ", %" PRId64 ", 1] map two elements to one address", out_name,
                       out->stride[0], out->stride[1], out->stride[2]);
  for (int i = 0; i < n_in; ++i)
    if ((s = check_disjoint(out_name, p->out_span, in_name[i], in[i])) != VECATTN_OK) return s;

  /* Head dims index the int-sized kernel loops. */
  const int64_t dims[3] = {p->D, k->shape[3], weights ? 1 : p->Dv};
  static const char *const dim_name[3] = {"q.shape[3]", "k.shape[3]", "v.shape[3]"};
  for (int i = 0; i < 3; ++i)
    if (dims[i] > VECATTN_MAX_HEAD_DIM)
      return status_fail(VECATTN_EINVAL, "%s = %" PRId64 ": head dims are at most %" PRId64, dim_name[i], dims[i],
                         VECATTN_MAX_HEAD_DIM);

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
  return check_options(p, opts, in, in_name, n_in);
}

vecattn_status attn_problem_check_input(const attn_problem *p, const char *name, byte_span in) {
  vecattn_status s = check_disjoint(p->out_name, p->out_span, name, in);
  if (s == VECATTN_OK && p->lse) s = check_disjoint("opts->lse", p->lse_span, name, in);
  return s;
}

/* ---- checks.h: the same rules for entry points without an attn_problem ---- */
#include "checks.h"

vecattn_status check_tensor(const char *name, const vecattn_tensor *t, unsigned types, int output, check_span *span) {
  vecattn_status st = check_operand(name, output ? "an output" : "an input", t, types);
  if (st == VECATTN_OK) st = tensor_span(name, t->data, t->dtype, t->shape, t->stride, span);
  if (st != VECATTN_OK) return st;
  if (output && !layout_is_injective(t->shape, t->stride))
    return status_fail(VECATTN_EINVAL,
                       "%s: strides [%" PRId64 ", %" PRId64 ", %" PRId64 ", 1] map two elements to one address", name,
                       t->stride[0], t->stride[1], t->stride[2]);
  return VECATTN_OK;
}

vecattn_status check_array(const char *name, const void *p, int64_t n, size_t size, check_span *span) {
  if (n < 0) return status_fail(VECATTN_EOVERFLOW, "%s: %" PRId64 " elements", name, n);
  return span_elems(name, p, n, (int64_t)size, span);
}

vecattn_status check_offsets(const char *what, const char *name, const int32_t *cu, int64_t n, int64_t total,
                             check_span *span) {
  if (!cu) return status_fail(VECATTN_EINVAL, "%s: %s is NULL", what, name);
  if (n < 0) return status_fail(VECATTN_EINVAL, "%s: n_seqs = %" PRId64 ": must be >= 0", what, n);
  vecattn_status st = check_array(name, cu, n + 1, sizeof *cu, span);
  if (st != VECATTN_OK) return st;
  if (cu[0] != 0) return status_fail(VECATTN_EINVAL, "%s: %s[0] = %d: must be 0", what, name, (int)cu[0]);
  for (int64_t i = 0; i < n; ++i)
    if (cu[i + 1] < cu[i])
      return status_fail(VECATTN_EINVAL, "%s: %s[%" PRId64 "] = %d < %s[%" PRId64 "] = %d: offsets must not decrease",
                         what, name, i + 1, (int)cu[i + 1], name, i, (int)cu[i]);
  if (total >= 0 && cu[n] > total)
    return status_fail(VECATTN_EINVAL, "%s: %s[%" PRId64 "] = %d: past the %" PRId64 " rows it indexes", what, name, n,
                       (int)cu[n], total);
  return VECATTN_OK;
}
