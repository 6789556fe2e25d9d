/* Rotary embeddings. Angles are formed in double: at position 4096 a float
 * angle would already be off by ~4e-4 rad, far above the layer's accuracy. */
#include "rope.h"

#include <math.h>
#include <stdlib.h>

#include "status.h"
#include "threads.h"

typedef struct {
  rope_table *t;
  int64_t pos0, head_dim;
  double theta;
} table_ctx;

static void table_region(void *ctx) {
  const table_ctx *c = ctx;
  rope_table *t = c->t;
  const int64_t half = t->half;
#pragma omp for schedule(static)
  for (int64_t s = 0; s < t->seq; ++s)
    for (int64_t i = 0; i < half; ++i) {
      const double angle = rope_angle((double)(c->pos0 + s), i, c->head_dim, c->theta);
      t->cos[s * half + i] = (float)cos(angle);
      t->sin[s * half + i] = (float)sin(angle);
    }
}

vecattn_status rope_table_init(rope_table *t, int64_t pos0, int64_t seq, int64_t head_dim, double theta,
                               int num_threads) {
  t->seq = seq;
  t->half = head_dim / 2;
  t->cos = malloc((size_t)(seq * t->half) * 2 * sizeof(float));
  if (!t->cos) return status_nomem("the rotary embedding table");
  t->sin = t->cos + seq * t->half;
  const int64_t half = t->half;
  table_ctx c = {t, pos0, head_dim, theta};
  vecattn_run_region(vecattn_thread_count(num_threads, seq, ROPE_ANGLE_FLOPS * (double)(seq * half), 8.0 * (double)(seq * half)),
                     table_region, &c);
  return VECATTN_OK;
}

void rope_table_free(rope_table *t) {
  free(t->cos);
  t->cos = t->sin = NULL;
}

typedef struct {
  const rope_table *t;
  float *x;
  int64_t batch, ld_b, ld_s, heads;
} apply_ctx;

static void apply_region(void *ctx) {
  const apply_ctx *a = ctx;
  const rope_table *t = a->t;
  const int64_t half = t->half, rows = a->batch * t->seq;
#pragma omp for schedule(static)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t b = row / t->seq, s = row % t->seq;
    const float *c = t->cos + s * half, *sn = t->sin + s * half;
    for (int64_t h = 0; h < a->heads; ++h) {
      float *lo = a->x + b * a->ld_b + s * a->ld_s + h * 2 * half, *hi = lo + half;
      for (int64_t i = 0; i < half; ++i) {
        const float x1 = lo[i], x2 = hi[i];
        lo[i] = x1 * c[i] - x2 * sn[i];
        hi[i] = x2 * c[i] + x1 * sn[i];
      }
    }
  }
}

void rope_apply(const rope_table *t, float *x, int64_t batch, int64_t ld_b, int64_t ld_s, int64_t heads,
                int num_threads) {
  const int64_t rows = batch * t->seq;
  apply_ctx a = {t, x, batch, ld_b, ld_s, heads};
  vecattn_run_region(vecattn_thread_count(num_threads, rows, 0, 8.0 * (double)(rows * heads * 2 * t->half)),
                     apply_region, &a);
}
