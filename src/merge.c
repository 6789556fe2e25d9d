/* vecattn_merge: exact attention from partial results over disjoint key
 * shards. A shard's row is softmax-weighted by exp(lse_i - lse): with
 * lse = logsumexp_i lse_i that restores the shares of the full softmax, so
 * out = sum_i exp(lse_i - lse) out_i. Rows are independent and each sums its
 * shards in index order, so any thread count gives the same bits. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "buffer.h"
#include "checks.h"
#include "status.h"
#include "dispatch.h"
#include "generic/dtype_scalar.h"
#include "threads.h"
#include "vecattn.h"

/* Elements (rows x Dv x shards) per thread worth starting: the merge only
 * streams memory. */
enum { MERGE_ELEMS_PER_THREAD = 1 << 15 };

typedef struct {
  const vecattn_tensor *parts;
  const float *const *part_lse;
  int64_t n_parts;
  vecattn_tensor *out;
  float *lse;
  int64_t H, N, Dv; /* rows are (b, h, i) over [B][H][N] */
} merge_job;

static const void *row_of(const vecattn_tensor *t, int64_t b, int64_t h, int64_t i) {
  return (const unsigned char *)t->data + dt_bytes(t->dtype, b * t->stride[0] + h * t->stride[1] + i * t->stride[2]);
}

/* One row: weights in double (lse differences of shards far apart lose no
 * bits), the weighted sum in f32 as the attention kernels accumulate. */
static void merge_row(const struct vecattn_kernels *kern, const merge_job *m, int64_t row, float *acc, float *tmp) {
  const int64_t i = row % m->N, h = row / m->N % m->H, b = row / m->N / m->H;
  double top = -INFINITY;
  for (int64_t s = 0; s < m->n_parts; ++s)
    if (m->part_lse[s][row] > top) top = m->part_lse[s][row];
  void *dst = (void *)row_of(m->out, b, h, i);
  if (top == -INFINITY) { /* every shard fully masked (NaN lse falls through and spreads) */
    for (int64_t e = 0; e < m->Dv; ++e) acc[e] = 0.0f;
    kern->from_f32(acc, m->out->dtype, dst, m->Dv);
    if (m->lse) m->lse[row] = -INFINITY;
    return;
  }
  double total = 0.0;
  for (int64_t s = 0; s < m->n_parts; ++s) {
    const float l = m->part_lse[s][row];
    if (l != -INFINITY) total += exp((double)l - top);
  }
  const double lse = top + log(total);
  int first = 1;
  for (int64_t s = 0; s < m->n_parts; ++s) {
    const float l = m->part_lse[s][row];
    if (l == -INFINITY) continue; /* a masked shard's row is never read */
    const float w = (float)exp((double)l - lse);
    const vecattn_tensor *p = &m->parts[s];
    const float *x = row_of(p, b, h, i);
    if (p->dtype != VECATTN_F32) kern->to_f32(x, p->dtype, tmp, m->Dv), x = tmp;
    if (first) /* x may be a caller's part, at any address */
      for (int64_t e = 0; e < m->Dv; ++e) acc[e] = w * dt_ld_f32(x + e);
    else
      for (int64_t e = 0; e < m->Dv; ++e) acc[e] += w * dt_ld_f32(x + e);
    first = 0;
  }
  kern->from_f32(acc, m->out->dtype, dst, m->Dv);
  if (m->lse) m->lse[row] = (float)lse;
}

static vecattn_status validate(const vecattn_tensor *parts, const float *const *part_lse, int64_t n_parts,
                               const vecattn_tensor *out, const float *lse, int num_threads) {
  if (!parts) return status_fail(VECATTN_EINVAL, "merge: parts is NULL");
  if (!part_lse) return status_fail(VECATTN_EINVAL, "merge: part_lse is NULL");
  if (!out) return status_fail(VECATTN_EINVAL, "merge: out is NULL");
  if (n_parts < 1) return status_fail(VECATTN_EINVAL, "merge: n_parts = %lld: must be >= 1", (long long)n_parts);
  if (num_threads < 0) return status_fail(VECATTN_EINVAL, "merge: num_threads = %d: must be >= 0", num_threads);
  check_span out_span, lse_span = {0, 0}, arrays[2], s;
  vecattn_status st;
  if ((st = check_tensor("merge out", out, CHECK_FLOAT_TYPES, 1, &out_span)) != VECATTN_OK) return st;
  if ((st = check_array("merge parts", parts, n_parts, sizeof *parts, &arrays[0])) != VECATTN_OK) return st;
  if ((st = check_array("merge part_lse", part_lse, n_parts, sizeof *part_lse, &arrays[1])) != VECATTN_OK) return st;
  const int64_t rows = out->shape[0] * out->shape[1] * out->shape[2]; /* fits: out's extent did */
  if (lse && (st = check_array("merge lse", lse, rows, sizeof *lse, &lse_span)) != VECATTN_OK) return st;
  static const char *const array_name[2] = {"parts", "part_lse"};
  if (lse && (st = check_disjoint("merge lse", lse_span, "out", out_span)) != VECATTN_OK) return st;
  for (int a = 0; a < 2; ++a)
    if ((st = check_disjoint("merge out", out_span, array_name[a], arrays[a])) != VECATTN_OK ||
        (st = check_disjoint("merge lse", lse_span, array_name[a], arrays[a])) != VECATTN_OK)
      return st;
  for (int64_t i = 0; i < n_parts; ++i) {
    const vecattn_tensor *p = &parts[i];
    if (!part_lse[i]) return status_fail(VECATTN_EINVAL, "merge: part_lse[%lld] is NULL", (long long)i);
    if ((st = check_tensor("merge parts[i]", p, CHECK_FLOAT_TYPES, 0, &s)) != VECATTN_OK) return st;
    for (int d = 0; d < 4; ++d)
      if (p->shape[d] != out->shape[d])
        return status_fail(VECATTN_EINVAL, "merge: parts[%lld].shape[%d] = %lld but out.shape[%d] = %lld", (long long)i,
                           d, (long long)p->shape[d], d, (long long)out->shape[d]);
    if ((st = check_disjoint("merge out", out_span, "parts[i]", s)) != VECATTN_OK ||
        (st = check_disjoint("merge lse", lse_span, "parts[i]", s)) != VECATTN_OK)
      return st;
    if ((st = check_array("merge part_lse[i]", part_lse[i], rows, sizeof(float), &s)) != VECATTN_OK) return st;
    if ((st = check_disjoint("merge out", out_span, "part_lse[i]", s)) != VECATTN_OK ||
        (st = check_disjoint("merge lse", lse_span, "part_lse[i]", s)) != VECATTN_OK)
      return st;
  }
  return VECATTN_OK;
}

typedef struct {
  const struct vecattn_kernels *kern;
  const merge_job *m;
  int64_t rows;
  size_t row_floats;
  float *ws; /* per thread: 2 rows of row_floats */
} merge_region_ctx;

static void merge_region(void *ctx) {
  const merge_region_ctx *c = ctx;
  float *acc = c->ws + (size_t)omp_get_thread_num() * 2 * c->row_floats;
#pragma omp for schedule(static)
  for (int64_t r = 0; r < c->rows; ++r) merge_row(c->kern, c->m, r, acc, acc + c->row_floats);
}

vecattn_status vecattn_merge(const vecattn_tensor *parts, const float *const *part_lse, int64_t n_parts,
                             vecattn_tensor *out, float *lse, int num_threads) {
  const vecattn_status st = validate(parts, part_lse, n_parts, out, lse, num_threads);
  if (st != VECATTN_OK) return st;
  const struct vecattn_kernels *kern = dispatch_active();
  const merge_job m = {parts, part_lse, n_parts, out, lse, out->shape[1], out->shape[2], out->shape[3]};
  const int64_t rows = out->shape[0] * m.H * m.N;
  const double elems = (double)rows * (double)m.Dv * (double)n_parts;
  const int threads = vecattn_thread_count(num_threads, (int64_t)(elems / MERGE_ELEMS_PER_THREAD) + 1, 0, 4.0 * elems);
  const size_t row_floats = ((size_t)m.Dv + 15) / 16 * 16;
  void *ws_base;
  merge_region_ctx ctx = {kern, &m, rows, row_floats, scratch_alloc((size_t)threads * 2 * row_floats * sizeof(float), &ws_base)};
  if (!ctx.ws) return status_nomem("the merge workspace");
  vecattn_run_region(threads, merge_region, &ctx);
  free(ws_base);
  return VECATTN_OK;
}
