/* Y = X * W^T (+ bias): a cache-blocked GEMM around the ISA's register block.
 *
 * Loop nest (as in BLIS/GotoBLAS): the columns are cut into blocks whose packed
 * W^T panels ([k][nr] each, zero-padded) fit in the last-level cache; inside one,
 * tasks own a block of output rows x a run of panels. A task walks K in steps
 * of KC; for each step and panel the kernel sweeps all the task's rows, so the
 * panel stays in cache while X is broadcast from its rows in place (reading X
 * in place measured faster than packing it). Whole panels accumulate straight
 * into y (row_scale = 1 after the first step). Threads split tasks only, never
 * K, and the cut depends on the shapes alone, so every output element sees the
 * same operations for any thread count.
 *
 * Few rows (decode, small batches) cannot repay packing W: those go straight
 * to the dot-product kernel (gemm_nt), which streams W rows as they lie. */
#include "matmul.h"

#include <limits.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "dispatch.h"
#include "status.h"
#include "threads.h"
#include "validate.h"
#include "vecattn.h"

enum {
  KC = 256,               /* K step: the kernel sweeps all task rows over one kc x nr B panel */
  MC_TARGET = 192,        /* rows per task, rounded up to whole mr blocks */
  PANEL_BUDGET = 1 << 21, /* floats of packed W^T per column block (8 MiB) */
  TASKS_TARGET = 32,      /* per column block: enough to share among threads */
  SMALL_M = 128,          /* up to this many rows: dot products, no packing (measured crossover) */
  NT_COLS = 16,           /* output columns per task on the dot-product path */
};

/* Which output and which first column a global panel index maps to. */
typedef struct {
  int out;
  int64_t col0;
} panel_ref;

typedef struct {
  const struct vecattn_kernels *kern;
  const float *x;
  int64_t ldx, m, k;
  const matmul_out *outs;
  int mr, nr;
  int64_t mc;               /* rows per task */
  int64_t row_blocks;       /* ceil(m / mc) */
  int64_t panels;           /* all outputs' panels */
  int64_t block_panels;     /* panels per column block */
  int64_t task_panels;      /* panels per task */
  const panel_ref *panel;   /* [panels] */
} gemm_plan;

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* One task: rows [i0, i0 + rows) x panels [q0, q1) of the packed column block.
 * X is read in place (the kernel broadcasts from mr row pointers); whole panels
 * accumulate straight into y, a ragged last panel into cbuf [rows][nr]. */
static void run_task(const gemm_plan *g, const float *bpack, int64_t block_p0, int64_t i0, int rows,
                     int64_t q0, int64_t q1, const float *ones, float *cbuf) {
  const int nr = g->nr;
  const float *x = g->x + i0 * g->ldx;
  for (int64_t p0 = 0; p0 < g->k; p0 += KC) {
    const int kc = (int)min64(KC, g->k - p0);
    for (int64_t q = q0; q < q1; ++q) {
      const panel_ref pr = g->panel[block_p0 + q];
      const matmul_out *o = &g->outs[pr.out];
      const int whole = o->n - pr.col0 >= nr;
      float *c = whole ? o->y + i0 * o->ldy + pr.col0 : cbuf;
      g->kern->gemm(x + p0, g->ldx, 1, rows, bpack + (q * g->k + p0) * nr, nr, kc, nr, c,
                    whole ? o->ldy : nr, p0 ? ones : NULL);
    }
  }
  for (int64_t q = q0; q < q1; ++q) {
    const panel_ref pr = g->panel[block_p0 + q];
    const matmul_out *o = &g->outs[pr.out];
    const int cols = (int)min64(nr, o->n - pr.col0);
    if (cols == nr && !o->bias) continue;
    for (int r = 0; r < rows; ++r) {
      float *y = o->y + (i0 + r) * o->ldy + pr.col0;
      const float *c = cols == nr ? y : cbuf + r * nr;
      if (o->bias)
        for (int j = 0; j < cols; ++j) y[j] = c[j] + o->bias[pr.col0 + j];
      else
        memcpy(y, c, (size_t)cols * sizeof(float));
    }
  }
}

typedef struct {
  const gemm_plan *g;
  float *mem; /* packed panels (b_floats), then per thread: ones [mc], cbuf [mc][nr] */
  size_t b_floats, per_thread;
} packed_region_ctx;

static void packed_region(void *ctx) {
  const packed_region_ctx *c = ctx;
  const gemm_plan *g = c->g;
  const int nr = g->nr;
  float *bpack = c->mem;
  float *ones = c->mem + c->b_floats + (size_t)omp_get_thread_num() * c->per_thread;
  float *cbuf = ones + g->mc;
  for (int64_t i = 0; i < g->mc; ++i) ones[i] = 1.0f;
  for (int64_t bp0 = 0; bp0 < g->panels; bp0 += g->block_panels) {
    const int64_t nq = min64(g->block_panels, g->panels - bp0);
#pragma omp for schedule(static)
    for (int64_t q = 0; q < nq; ++q) {
      const panel_ref pr = g->panel[bp0 + q];
      const matmul_out *o = &g->outs[pr.out];
      g->kern->pack_bt(o->w + pr.col0 * g->k, g->k, (int)min64(nr, o->n - pr.col0), g->k, nr,
                       bpack + q * g->k * nr);
    }
    const int64_t col_tasks = cdiv(nq, g->task_panels);
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < g->row_blocks * col_tasks; ++t) {
      const int64_t ib = t / col_tasks, q0 = (t % col_tasks) * g->task_panels;
      const int64_t i0 = ib * g->mc;
      run_task(g, bpack, bp0, i0, (int)min64(g->mc, g->m - i0), q0, min64(q0 + g->task_panels, nq),
               ones, cbuf);
    }
  }
}

static vecattn_status run_packed(gemm_plan *g, int num_threads) {
  const int nr = g->nr;
  /* Column blocks: as many panels as fit the budget, whole tasks' worth. */
  g->block_panels = min64(g->panels, max64(1, PANEL_BUDGET / (g->k * nr)));
  g->task_panels = min64(g->block_panels,
                         max64(1, cdiv(g->block_panels * g->row_blocks, TASKS_TARGET)));
  g->block_panels = g->task_panels * (g->block_panels / g->task_panels);

  const size_t per_thread = (size_t)g->mc * (1 + (size_t)nr); /* ones [mc], cbuf [mc][nr] */
  const int64_t tasks_per_block = g->row_blocks * cdiv(g->block_panels, g->task_panels);
  const double cols = (double)g->panels * nr;
  const int threads = vecattn_thread_count(num_threads, tasks_per_block, 2.0 * (double)g->m * (double)g->k * cols,
                                           4.0 * ((double)g->m * (double)g->k + cols * ((double)g->k + (double)g->m)));
  size_t b_floats, all_floats;
  if (__builtin_mul_overflow((size_t)g->block_panels * nr, (size_t)g->k, &b_floats) ||
      __builtin_mul_overflow(per_thread, (size_t)threads, &all_floats) ||
      __builtin_add_overflow(all_floats, b_floats, &all_floats) || all_floats > SIZE_MAX / sizeof(float))
    return status_nomem("the packed weight panels");
  float *mem = buffer_alloc(all_floats * sizeof(float));
  if (!mem) return status_nomem("the packed weight panels");
  packed_region_ctx ctx = {g, mem, b_floats, per_thread};
  vecattn_run_region(threads, packed_region, &ctx);
  free(mem);
  return VECATTN_OK;
}

typedef struct {
  const struct vecattn_kernels *kern;
  const float *x;
  int64_t ldx, m, k;
  const matmul_out *outs;
  const int64_t *chunks; /* column tasks per output */
  int64_t total;
  vecattn_tasks tasks;
} dots_region_ctx;

static void dots_region(void *ctx) {
  dots_region_ctx *d = ctx;
  const int64_t m = d->m, k = d->k;
  for (int64_t t; (t = vecattn_task_take(&d->tasks)) < d->total;) {
    int o = 0;
    int64_t c = t;
    while (c >= d->chunks[o]) c -= d->chunks[o++];
    const matmul_out *out = &d->outs[o];
    const int64_t j0 = c * NT_COLS;
    const int cols = (int)min64(NT_COLS, out->n - j0);
    d->kern->gemm_nt(d->x, d->ldx, (int)m, out->w + j0 * k, k, cols, (int)k, out->y + j0, out->ldy, 1);
    if (out->bias)
      for (int64_t i = 0; i < m; ++i)
        for (int j = 0; j < cols; ++j) out->y[i * out->ldy + j0 + j] += out->bias[j0 + j];
  }
}

/* Few rows: y[i][j] = x[i] . w[j] straight from W's rows, NT_COLS columns a task. */
static void run_dots(const struct vecattn_kernels *kern, const float *x, int64_t ldx, int64_t m, int64_t k,
                     const matmul_out *outs, int n_outs, int num_threads) {
  int64_t chunks[8] = {0}, total = 0;
  for (int o = 0; o < n_outs; ++o) total += chunks[o] = cdiv(outs[o].n, NT_COLS);
  const double cols = (double)total * NT_COLS;
  const int threads = vecattn_thread_count(num_threads, total, 2.0 * (double)m * (double)k * cols,
                                           4.0 * ((double)m * (double)k + cols * ((double)k + (double)m)));
  dots_region_ctx ctx = {kern, x, ldx, m, k, outs, chunks, total, {0}};
  vecattn_run_region(threads, dots_region, &ctx);
}

vecattn_status matmul_run(const struct vecattn_kernels *kern, const float *x, int64_t ldx, int64_t m,
                          int64_t k, const matmul_out *outs, int n_outs, int num_threads) {
  if (n_outs < 1 || n_outs > 8) return status_fail(VECATTN_EINVAL, "matmul: %d outputs (internal error)", n_outs);
  if (m <= SMALL_M && k <= INT_MAX) {
    run_dots(kern, x, ldx, m, k, outs, n_outs, num_threads);
    return VECATTN_OK;
  }
  gemm_plan g = {.kern = kern, .x = x, .ldx = ldx, .m = m, .k = k, .outs = outs,
                 .mr = kern->gemm_mr, .nr = kern->gemm_nr};
  g.mc = cdiv(MC_TARGET, g.mr) * g.mr;
  g.row_blocks = cdiv(m, g.mc);
  for (int o = 0; o < n_outs; ++o) g.panels += cdiv(outs[o].n, g.nr);
  panel_ref *panel = malloc((size_t)g.panels * sizeof *panel);
  if (!panel) return status_nomem("the matmul panel list");
  int64_t q = 0;
  for (int o = 0; o < n_outs; ++o)
    for (int64_t c = 0; c < outs[o].n; c += g.nr) panel[q++] = (panel_ref){o, c};
  g.panel = panel;
  const vecattn_status s = run_packed(&g, num_threads);
  free(panel);
  return s;
}

vecattn_status vecattn_matmul(const float *x, int64_t m, int64_t k, const float *w, int64_t n,
                              const float *bias, float *y, int num_threads) {
  if (!x) return status_fail(VECATTN_EINVAL, "matmul: x is NULL");
  if (!w) return status_fail(VECATTN_EINVAL, "matmul: w is NULL");
  if (!y) return status_fail(VECATTN_EINVAL, "matmul: y is NULL");
  if (m <= 0 || k <= 0 || n <= 0)
    return status_fail(VECATTN_EINVAL, "matmul: m = %lld, k = %lld, n = %lld: sizes must be > 0", (long long)m,
                       (long long)k, (long long)n);
  if (num_threads < 0) return status_fail(VECATTN_EINVAL, "matmul: num_threads = %d: must be >= 0", num_threads);
  int64_t xn, wn, yn;
  if (__builtin_mul_overflow(m, k, &xn) || __builtin_mul_overflow(n, k, &wn) || __builtin_mul_overflow(m, n, &yn))
    return status_fail(VECATTN_EOVERFLOW, "matmul: m = %lld, k = %lld, n = %lld: element counts overflow int64",
                       (long long)m, (long long)k, (long long)n);
  byte_span xs, ws, ys, bs = {0, 0};
  vecattn_status s;
  if ((s = span_elems("matmul x", x, xn, sizeof(float), &xs)) != VECATTN_OK ||
      (s = span_elems("matmul w", w, wn, sizeof(float), &ws)) != VECATTN_OK ||
      (s = span_elems("matmul y", y, yn, sizeof(float), &ys)) != VECATTN_OK ||
      (bias && (s = span_elems("matmul bias", bias, n, sizeof(float), &bs)) != VECATTN_OK))
    return s;
  if ((s = check_disjoint("matmul y", ys, "x", xs)) != VECATTN_OK ||
      (s = check_disjoint("matmul y", ys, "w", ws)) != VECATTN_OK ||
      (s = check_disjoint("matmul y", ys, "bias", bs)) != VECATTN_OK)
    return s;
  const matmul_out out = {w, bias, n, y, n};
  return matmul_run(dispatch_active(), x, k, m, k, &out, 1, num_threads);
}
