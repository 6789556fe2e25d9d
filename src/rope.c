/* Rotary embeddings. Angles are formed in double: at position 4096 a float
 * angle would already be off by ~4e-4 rad, far above the layer's accuracy. */
#include "rope.h"

#include <math.h>
#include <stdlib.h>

#include "status.h"
#include "threads.h"

vecattn_status rope_table_init(rope_table *t, int64_t pos0, int64_t seq, int64_t head_dim, double theta,
                               int num_threads) {
  t->seq = seq;
  t->half = head_dim / 2;
  t->cos = malloc((size_t)(seq * t->half) * 2 * sizeof(float));
  if (!t->cos) return status_nomem("the rotary embedding table");
  t->sin = t->cos + seq * t->half;
  const int64_t half = t->half;
#pragma omp parallel for num_threads(vecattn_thread_count(num_threads, seq, ROPE_ANGLE_FLOPS * (double)(seq * half), 8.0 * (double)(seq * half))) schedule(static)
  for (int64_t s = 0; s < seq; ++s)
    for (int64_t i = 0; i < half; ++i) {
      const double angle = rope_angle((double)(pos0 + s), i, head_dim, theta);
      t->cos[s * half + i] = (float)cos(angle);
      t->sin[s * half + i] = (float)sin(angle);
    }
  return VECATTN_OK;
}

void rope_table_free(rope_table *t) {
  free(t->cos);
  t->cos = t->sin = NULL;
}

void rope_apply(const rope_table *t, float *x, int64_t batch, int64_t ld_b, int64_t ld_s, int64_t heads,
                int num_threads) {
  const int64_t half = t->half, rows = batch * t->seq;
#pragma omp parallel for num_threads(vecattn_thread_count(num_threads, rows, 0, 8.0 * (double)(rows * heads * 2 * half))) schedule(static)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t b = row / t->seq, s = row % t->seq;
    const float *c = t->cos + s * half, *sn = t->sin + s * half;
    for (int64_t h = 0; h < heads; ++h) {
      float *lo = x + b * ld_b + s * ld_s + h * 2 * half, *hi = lo + half;
      for (int64_t i = 0; i < half; ++i) {
        const float x1 = lo[i], x2 = hi[i];
        lo[i] = x1 * c[i] - x2 * sn[i];
        hi[i] = x2 * c[i] + x1 * sn[i];
      }
    }
  }
}
