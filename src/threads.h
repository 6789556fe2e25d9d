/* How many OpenMP threads a call uses. */
#ifndef VECATTN_THREADS_H
#define VECATTN_THREADS_H

#include <stdatomic.h>
#include <stdint.h>

/* requested > 0 is the caller's num_threads, 0 the OpenMP default; `tasks`
 * the independent pieces the call is split into; flops and bytes its work.
 * One thread (no team started) for work below the serial thresholds, inside
 * an OpenMP region, or with one task. Otherwise never more than the tasks,
 * the CPUs this thread may run on, nor the CPUs other runnable threads leave
 * idle right now. Results do not depend on the count (work is split by shape
 * only), so every cap changes speed alone. */
int vecattn_thread_count(int requested, int64_t tasks, double flops, double bytes);

/* Runs region(ctx) on an OpenMP team of `threads`, whose worksharing loops
 * (#pragma omp for) split among them. One thread outside any OpenMP region
 * runs it on the caller with no team at all, the loops whole: libgomp's
 * region costs about 0.6 us a call even for a team of one, half of a small
 * decode step. Inside a caller's region a team of one is still started, so
 * the loops bind to it and not to the caller's team. */
void vecattn_run_region(int threads, void (*region)(void *ctx), void *ctx);

/* A region's loop handed out one iteration at a time to whichever thread
 * asks next, as schedule(dynamic, 1) would, without libgomp's work share:
 * an orphaned dynamic loop allocates and frees one on every call even when
 * the region runs on the caller alone. Zero before the region, one per
 * loop; a loop that later work depends on ends with `#pragma omp barrier`
 * (a region's end is one). Which thread runs an iteration never changes
 * what it computes, so results stay the same for any thread count. */
typedef struct {
  atomic_llong next;
} vecattn_tasks;
static inline int64_t vecattn_task_take(vecattn_tasks *t) {
  return (int64_t)atomic_fetch_add_explicit(&t->next, 1, memory_order_relaxed);
}

#endif
