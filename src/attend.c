/* vecattn_attend: the classic score functions on top of the flash driver.
 * DOT and SCALED_DOT are vecattn_sdpa with the right scale. GENERAL projects
 * each query once, q' = W^T q, and runs the dot path on q'. ADDITIVE projects
 * queries and keys once and has the driver score every pair with the ISA's
 * tanh kernel; masks, softmax and P*V are the driver's own. */
#include <stdint.h>
#include <stdlib.h>

#include "attend_project.h"
#include "dispatch.h"
#include "problem.h"
#include "sdpa.h"
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

static vecattn_status attend_general(const vecattn_score_fn *fn, attn_problem *p, const vecattn_tensor *q,
                                     const vecattn_tensor *k, const vecattn_sdpa_opts *opts) {
  const struct vecattn_kernels *kern = dispatch_active();
  const int64_t dq = q->shape[3], dk = k->shape[3], ld = round_up(dk, kern->lanes);
  const size_t n = rows_floats(p->B, p->Hq, p->Nq, ld);
  if (n == 0) return VECATTN_EOVERFLOW;
  float *wt = proj_weights(fn->w, dq, dk, 0, ld);
  float *qp = proj_alloc(n);
  vecattn_status s = VECATTN_ENOMEM;
  if (wt && qp) {
    proj_rows(kern, q->data, q->shape, q->stride, wt, ld, qp, p->num_threads);
    p->q = qp;
    p->D = dk;
    set_contiguous(p->qs, p->Hq, p->Nq, ld);
    if (!opts || opts->scale == 0.0f) p->scale = 1.0f;
    s = sdpa_run(p, kern);
  }
  free(wt), free(qp);
  return s;
}

static vecattn_status attend_additive(const vecattn_score_fn *fn, attn_problem *p, const vecattn_tensor *q,
                                      const vecattn_tensor *k, const vecattn_sdpa_opts *opts) {
  const struct vecattn_kernels *kern = dispatch_active();
  const int64_t da = fn->attn_dim, ld = round_up(da, kern->lanes);
  const size_t nq = rows_floats(p->B, p->Hq, p->Nq, ld), nk = rows_floats(p->B, p->Hkv, p->Nk, ld);
  if (nq == 0 || nk == 0) return VECATTN_EOVERFLOW;
  float *wq = proj_weights(fn->w, q->shape[3], da, 1, ld);
  float *wk = proj_weights(fn->u, k->shape[3], da, 1, ld);
  float *qp = proj_alloc(nq), *kp = proj_alloc(nk), *va = proj_alloc((size_t)ld);
  vecattn_status s = VECATTN_ENOMEM;
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

vecattn_status vecattn_attend(const vecattn_score_fn *fn, const vecattn_tensor *q, const vecattn_tensor *k,
                              const vecattn_tensor *v, vecattn_tensor *out, const vecattn_sdpa_opts *opts) {
  if (!fn || !v) return VECATTN_EINVAL;
  switch (fn->kind) {
  case VECATTN_SCORE_DOT: {
    vecattn_sdpa_opts o = {0};
    if (opts) o = *opts;
    if (o.scale == 0.0f) o.scale = 1.0f;
    return vecattn_sdpa(q, k, v, out, &o);
  }
  case VECATTN_SCORE_SCALED_DOT:
    return vecattn_sdpa(q, k, v, out, opts);
  case VECATTN_SCORE_GENERAL:
  case VECATTN_SCORE_ADDITIVE:
    break;
  default:
    return VECATTN_EINVAL;
  }
  const int additive = fn->kind == VECATTN_SCORE_ADDITIVE;
  if (!fn->w) return VECATTN_EINVAL;
  if (additive && (!fn->u || !fn->v_a || fn->attn_dim <= 0 || fn->attn_dim > VECATTN_MAX_HEAD_DIM))
    return VECATTN_EINVAL;
  attn_problem p;
  const vecattn_status s = attn_problem_init_ex(&p, q, k, v, out, opts, ATTN_ANY_KEY_DIM);
  if (s != VECATTN_OK) return s;
  return additive ? attend_additive(fn, &p, q, k, opts) : attend_general(fn, &p, q, k, opts);
}
