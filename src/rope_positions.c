/* vecattn_rope: the layer's rotary embeddings for callers that run their own
 * projections, one position per token (a ragged batch's tokens sit at
 * unrelated positions). The same angles (rope_angle, in double) and the same
 * float rotation as the layer, so a token rotated here equals the layer's. */
#include <math.h>

#include "checks.h"
#include "status.h"
#include "rope.h"
#include "threads.h"
#include "vecattn.h"

/* Tokens per thread worth starting. */
enum { ROPE_TOKENS_PER_THREAD = 16 };

static vecattn_status validate(const float *x, int64_t n_tokens, int64_t ld, int64_t n_heads, int64_t head_dim,
                               const int64_t *positions, float theta, int num_threads) {
  if (!x) return status_fail(VECATTN_EINVAL, "rope: x is NULL");
  if (!positions) return status_fail(VECATTN_EINVAL, "rope: positions is NULL");
  if (n_tokens < 0 || n_heads <= 0 || head_dim <= 0)
    return status_fail(VECATTN_EINVAL, "rope: n_tokens = %lld, n_heads = %lld, head_dim = %lld: sizes must be > 0",
                       (long long)n_tokens, (long long)n_heads, (long long)head_dim);
  if (head_dim % 2) return status_fail(VECATTN_EINVAL, "rope: head_dim = %lld: must be even", (long long)head_dim);
  if (num_threads < 0) return status_fail(VECATTN_EINVAL, "rope: num_threads = %d: must be >= 0", num_threads);
  if (!isfinite(theta) || theta < 0.0f)
    return status_fail(VECATTN_EINVAL, "rope: theta = %g: must be finite and >= 0", (double)theta);
  int64_t row;
  if (__builtin_mul_overflow(n_heads, head_dim, &row))
    return status_fail(VECATTN_EOVERFLOW, "rope: n_heads x head_dim overflows");
  if (ld < row)
    return status_fail(VECATTN_EINVAL, "rope: ld = %lld < n_heads x head_dim = %lld", (long long)ld, (long long)row);
  if (n_tokens == 0) return VECATTN_OK;
  int64_t last;
  if (__builtin_mul_overflow(n_tokens - 1, ld, &last) || __builtin_add_overflow(last, row, &last))
    return status_fail(VECATTN_EOVERFLOW, "rope: n_tokens x ld overflows");
  check_span xs, ps;
  vecattn_status st;
  if ((st = check_array("rope x", x, last, sizeof *x, &xs)) != VECATTN_OK) return st;
  if ((st = check_array("rope positions", positions, n_tokens, sizeof *positions, &ps)) != VECATTN_OK) return st;
  if ((st = check_disjoint("rope x", xs, "positions", ps)) != VECATTN_OK) return st;
  for (int64_t t = 0; t < n_tokens; ++t)
    if (positions[t] < 0)
      return status_fail(VECATTN_EINVAL, "rope: positions[%lld] = %lld: must be >= 0", (long long)t,
                         (long long)positions[t]);
  return VECATTN_OK;
}

typedef struct {
  const rope_target *targets;
  int n_targets;
  int64_t n_tokens, head_dim;
  const int64_t *positions;
  double theta;
} positions_ctx;

static void positions_region(void *ctx) {
  const positions_ctx *p = ctx;
  const int64_t half = p->head_dim / 2;
#pragma omp for schedule(static)
  for (int64_t t = 0; t < p->n_tokens; ++t)
    for (int64_t i = 0; i < half; ++i) {
      const double angle = rope_angle((double)p->positions[t], i, p->head_dim, p->theta);
      const float c = (float)cos(angle), s = (float)sin(angle);
      for (int k = 0; k < p->n_targets; ++k)
        for (int64_t h = 0; h < p->targets[k].heads; ++h) {
          float *lo = p->targets[k].x + t * p->targets[k].ld + h * p->head_dim, *hi = lo + half;
          const float x1 = lo[i], x2 = hi[i];
          lo[i] = x1 * c - x2 * s;
          hi[i] = x2 * c + x1 * s;
        }
    }
}

void rope_positions_apply(const rope_target *targets, int n_targets, int64_t n_tokens, int64_t head_dim,
                          const int64_t *positions, double theta, int num_threads) {
  const int64_t half = head_dim / 2;
  int64_t floats = 0;
  for (int i = 0; i < n_targets; ++i) floats += targets[i].heads * head_dim;
  const int threads = vecattn_thread_count(num_threads, n_tokens / ROPE_TOKENS_PER_THREAD + 1,
                                           ROPE_ANGLE_FLOPS * (double)(n_tokens * half),
                                           8.0 * (double)n_tokens * (double)floats);
  positions_ctx p = {targets, n_targets, n_tokens, head_dim, positions, theta};
  vecattn_run_region(threads, positions_region, &p);
}

vecattn_status vecattn_rope(float *x, int64_t n_tokens, int64_t ld, int64_t n_heads, int64_t head_dim,
                            const int64_t *positions, float theta, int num_threads) {
  const vecattn_status st = validate(x, n_tokens, ld, n_heads, head_dim, positions, theta, num_threads);
  if (st != VECATTN_OK || n_tokens == 0) return st;
  const rope_target target = {x, ld, n_heads};
  rope_positions_apply(&target, 1, n_tokens, head_dim, positions, theta == 0.0f ? 10000.0 : (double)theta, num_threads);
  return VECATTN_OK;
}
