/* vecattn_attend: the classic score functions on top of the flash driver.
 * DOT and SCALED_DOT are vecattn_sdpa with the right scale. GENERAL projects
 * each query once, q' = W^T q, and runs the dot path on q'. ADDITIVE projects
 * queries and keys once and has the driver score every pair with the ISA's
 * tanh kernel; masks, softmax and P*V are the driver's own. */
#include <stdint.h>
#include <stdlib.h>

#include "attend_project.h"
#include "dispatch.h"
#include "generic/dtype_scalar.h"
#include "problem.h"
#include "sdpa.h"
#include "status.h"
#include "vecattn.h"

static int64_t round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }

/* Floats of a [B,H,N] x ld projection buffer; 0 when its bytes overflow size_t
 * (B*H fits: the validated tensors hold at least that many elements). */
static size_t rows_floats(int64_t b, int64_t h, int64_t n, int64_t ld) {
  size_t r;
  if (__builtin_mul_overflow((size_t)b * (size_t)h, (size_t)n, &r) ||
      __builtin_mul_overflow(r, (size_t)ld, &r) || r > SIZE_MAX / sizeof(float))
    return 0;
  return r;
}

/* Projected tensors are contiguous [B][H][N][ld]. */
static void set_contiguous(int64_t stride[4], int64_t h, int64_t n, int64_t ld) {
  stride[0] = h * n * ld, stride[1] = n * ld, stride[2] = ld, stride[3] = 1;
}

/* An f32 contiguous copy of t in *wide (t itself when already f32). */
static vecattn_status widen_tensor(const struct vecattn_kernels *kern, const vecattn_tensor *t,
                                   vecattn_tensor *wide, float **buf) {
  *wide = *t;
  if (t->dtype == VECATTN_F32) return VECATTN_OK;
  const int64_t rows = t->shape[0] * t->shape[1] * t->shape[2], d = t->shape[3];
  *buf = proj_alloc((size_t)rows * (size_t)d);
  if (!*buf) return status_nomem("an f32 copy of a tensor");
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t b = r / (t->shape[1] * t->shape[2]), h = r / t->shape[2] % t->shape[1], i = r % t->shape[2];
    const int64_t offset = b * t->stride[0] + h * t->stride[1] + i * t->stride[2];
    kern->to_f32((const unsigned char *)t->data + dt_bytes(t->dtype, offset), t->dtype, *buf + r * d, d);
  }
  *wide = vecattn_tensor_bhsd(*buf, t->shape[0], t->shape[1], t->shape[2], d);
  return VECATTN_OK;
}

static vecattn_status attend_general(const struct vecattn_kernels *kern, const vecattn_score_fn *fn,
                                     attn_problem *p, const vecattn_tensor *q, const vecattn_tensor *k,
                                     const vecattn_sdpa_opts *opts) {
  const int64_t dq = q->shape[3], dk = k->shape[3], ld = round_up(dk, kern->lanes);
  const size_t n = rows_floats(p->B, p->Hq, p->Nq, ld);
  if (n == 0) return status_fail(VECATTN_EOVERFLOW, "the projected queries overflow size_t");
  float *wt = proj_weights(fn->w, dq, dk, 0, ld);
  float *qp = proj_alloc(n);
  vecattn_status s = status_nomem("the projected queries");
  if (wt && qp) {
    proj_rows(kern, q->data, q->shape, q->stride, wt, ld, qp, p->num_threads);
    p->q = qp;
    p->qt = VECATTN_F32;
    p->D = dk;
    set_contiguous(p->qs, p->Hq, p->Nq, ld);
    if (!opts || opts->scale == 0.0f) p->scale = 1.0f;
    s = sdpa_run(p, kern);
  }
  free(wt), free(qp);
  return s;
}

static vecattn_status attend_additive(const struct vecattn_kernels *kern, const vecattn_score_fn *fn,
                                      attn_problem *p, const vecattn_tensor *q, const vecattn_tensor *k,
                                      const vecattn_sdpa_opts *opts) {
  const int64_t da = fn->attn_dim, ld = round_up(da, kern->lanes);
  const size_t nq = rows_floats(p->B, p->Hq, p->Nq, ld), nk = rows_floats(p->B, p->Hkv, p->Nk, ld);
  if (nq == 0 || nk == 0) return status_fail(VECATTN_EOVERFLOW, "the projected queries or keys overflow size_t");
  float *wq = proj_weights(fn->w, q->shape[3], da, 1, ld);
  float *wk = proj_weights(fn->u, k->shape[3], da, 1, ld);
  float *qp = proj_alloc(nq), *kp = proj_alloc(nk), *va = proj_alloc((size_t)ld);
  vecattn_status s = status_nomem("the projected queries and keys");
  if (wq && wk && qp && kp && va) {
    proj_rows(kern, q->data, q->shape, q->stride, wq, ld, qp, p->num_threads);
    proj_rows(kern, k->data, k->shape, k->stride, wk, ld, kp, p->num_threads);
    /* The score is linear in v: fold the optional scale into it. */
    const float scale = opts && opts->scale != 0.0f ? opts->scale : 1.0f;
    for (int64_t a = 0; a < da; ++a) va[a] = scale * fn->v_a[a];
    const attn_additive add = {qp, kp, va, (int)ld};
    p->additive = &add;
    s = sdpa_run(p, kern);
    p->additive = NULL;
  }
  free(wq), free(wk), free(qp), free(kp), free(va);
  return s;
}

/* The score function's weights are inputs too: out and lse must avoid them. */
static vecattn_status check_score_weights(const attn_problem *p, const vecattn_score_fn *fn, int64_t dq,
                                          int64_t dk) {
  const int additive = fn->kind == VECATTN_SCORE_ADDITIVE;
  const int64_t da = fn->attn_dim;
  struct {
    const char *name;
    const float *data;
    int64_t n;
  } arrays[3] = {{additive ? "fn->w (W_q)" : "fn->w", fn->w, additive ? da * dq : dq * dk},
                 {"fn->u (W_k)", fn->u, da * dk},
                 {"fn->v_a", fn->v_a, da}};
  for (int i = 0; i < (additive ? 3 : 1); ++i) {
    byte_span span;
    vecattn_status s = span_elems(arrays[i].name, arrays[i].data, arrays[i].n, sizeof(float), &span);
    if (s == VECATTN_OK) s = attn_problem_check_input(p, arrays[i].name, span);
    if (s != VECATTN_OK) return s;
  }
  return VECATTN_OK;
}

vecattn_status vecattn_attend(const vecattn_score_fn *fn, const vecattn_tensor *q, const vecattn_tensor *k,
                              const vecattn_tensor *v, vecattn_tensor *out, const vecattn_sdpa_opts *opts) {
  if (!fn) return status_fail(VECATTN_EINVAL, "fn is NULL");
  if (!v) return status_fail(VECATTN_EINVAL, "v is NULL");
  /* One table for the whole call: projections and attention on one path. */
  const struct vecattn_kernels *kern = dispatch_active();
  switch (fn->kind) {
  case VECATTN_SCORE_DOT: {
    vecattn_sdpa_opts o = {0};
    if (opts) o = *opts;
    if (o.scale == 0.0f) o.scale = 1.0f;
    return sdpa_with(kern, q, k, v, out, &o);
  }
  case VECATTN_SCORE_SCALED_DOT:
    return sdpa_with(kern, q, k, v, out, opts);
  case VECATTN_SCORE_GENERAL:
  case VECATTN_SCORE_ADDITIVE:
    break;
  default:
    return status_fail(VECATTN_EINVAL, "fn->kind = %d is not a vecattn_score", (int)fn->kind);
  }
  const int additive = fn->kind == VECATTN_SCORE_ADDITIVE;
  if (!fn->w) return status_fail(VECATTN_EINVAL, "fn->w is NULL (%s scores need it)", additive ? "additive" : "general");
  if (additive && !fn->u) return status_fail(VECATTN_EINVAL, "fn->u is NULL (additive scores need W_k)");
  if (additive && !fn->v_a) return status_fail(VECATTN_EINVAL, "fn->v_a is NULL (additive scores need v)");
  if (additive && (fn->attn_dim <= 0 || fn->attn_dim > VECATTN_MAX_HEAD_DIM))
    return status_fail(VECATTN_EINVAL, "fn->attn_dim = %lld: must be in 1..%lld", (long long)fn->attn_dim,
                       (long long)VECATTN_MAX_HEAD_DIM);
  attn_problem p;
  vecattn_status s = attn_problem_init_ex(&p, q, k, v, out, opts, ATTN_ANY_KEY_DIM);
  if (s != VECATTN_OK) return s;
  if ((s = check_score_weights(&p, fn, q->shape[3], k->shape[3])) != VECATTN_OK) return s;
  /* The projections read f32 rows: other types are widened once, up front. */
  vecattn_tensor qw = *q, kw = *k;
  float *qbuf = NULL, *kbuf = NULL;
  if ((s = widen_tensor(kern, q, &qw, &qbuf)) == VECATTN_OK &&
      (!additive || (s = widen_tensor(kern, k, &kw, &kbuf)) == VECATTN_OK))
    s = additive ? attend_additive(kern, fn, &p, &qw, &kw, opts) : attend_general(kern, fn, &p, &qw, k, opts);
  free(qbuf), free(kbuf);
  return s;
}
