#include "attend_project.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "threads.h"

/* Rows per task: a few gemm row blocks, enough tasks to balance threads. */
enum { ROWS_PER_TASK = 64 };

float *proj_alloc(size_t n) {
  size_t bytes;
  if (__builtin_mul_overflow(n, sizeof(float), &bytes)) return NULL;
  float *p = buffer_alloc(bytes ? bytes : sizeof(float));
  if (p) memset(p, 0, bytes);
  return p;
}

float *proj_weights(const float *w, int64_t in, int64_t out, int transposed, int64_t ld) {
  float *wt = proj_alloc((size_t)in * (size_t)ld);
  if (!wt) return NULL;
  for (int64_t i = 0; i < in; ++i)
    for (int64_t o = 0; o < out; ++o) wt[i * ld + o] = transposed ? w[o * in + i] : w[i * out + o];
  return wt;
}

typedef struct {
  const struct vecattn_kernels *kern;
  const float *x;
  const int64_t *shape, *stride;
  const float *wt;
  int64_t ld;
  float *y;
} proj_ctx;

static void proj_region(void *ctx) {
  const proj_ctx *p = ctx;
  const int64_t *shape = p->shape, *stride = p->stride, ld = p->ld;
  const int64_t heads = shape[0] * shape[1], n = shape[2];
  const int64_t blocks = (n + ROWS_PER_TASK - 1) / ROWS_PER_TASK, tasks = heads * blocks;
#pragma omp for schedule(static)
  for (int64_t task = 0; task < tasks; ++task) {
    const int64_t bh = task / blocks, s0 = task % blocks * ROWS_PER_TASK;
    const int64_t b = bh / shape[1], h = bh % shape[1];
    const int rows = n - s0 < ROWS_PER_TASK ? (int)(n - s0) : ROWS_PER_TASK;
    const float *src = p->x + b * stride[0] + h * stride[1] + s0 * stride[2];
    p->kern->gemm(src, stride[2], 1, rows, p->wt, ld, (int)shape[3], (int)ld, p->y + (bh * n + s0) * ld, ld, NULL);
  }
}

void proj_rows(const struct vecattn_kernels *kern, const float *x, const int64_t shape[4],
               const int64_t stride[4], const float *wt, int64_t ld, float *y, int num_threads) {
  const int64_t heads = shape[0] * shape[1], n = shape[2];
  const int64_t tasks = heads * ((n + ROWS_PER_TASK - 1) / ROWS_PER_TASK);
  const double flops = 2.0 * (double)(heads * n) * (double)shape[3] * (double)ld;
  const int threads = vecattn_thread_count(num_threads, tasks, flops, 4.0 * (double)(heads * n) * (double)(shape[3] + ld));
  proj_ctx p = {kern, x, shape, stride, wt, ld, y};
  vecattn_run_region(threads, proj_region, &p);
}
