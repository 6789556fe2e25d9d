/* Streaming read bandwidth: every thread sums its own contiguous slice of a
 * buffer several times larger than the last-level cache, in one of two ways
 * that passes alternate, and the fastest pass counts. Plain C with eight
 * integer accumulators: integer adds may be reordered, so the compiler
 * vectorizes it for the baseline ISA.
 * One sequential stream is the fastest read on AMD Zen 5 (2 threads: 61-64
 * GB/s, 4 streams 36-46); on Intel Emerald Rapids one thread's hardware
 * prefetch leaves it short of DRAM's rate, and 4 interleaved streams with
 * prefetches 1 KB ahead read 12.2 GB/s against 8.9 at 1 thread and 138
 * against 101 at 16, which decode itself beat by up to 40%. */
#include <omp.h>
#include <stdlib.h>

#include "bench.h"

volatile uint64_t vb_bw_sink;

void *vb_bw_alloc(size_t bytes) {
  uint64_t *p = vb_alloc_big(bytes);
  if (!p) return NULL;
  int64_t n = (int64_t)(bytes / sizeof *p);
  /* Written, not just allocated: untouched pages all map the zero page,
   * which would be read from cache. Same static split as the readers. */
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) p[i] = (uint64_t)i * 0x9E3779B97F4A7C15ULL;
  return p;
}

static uint64_t sum_words(const uint64_t *p, size_t n) {
  uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    a0 += p[i];
    a1 += p[i + 1];
    a2 += p[i + 2];
    a3 += p[i + 3];
    a4 += p[i + 4];
    a5 += p[i + 5];
    a6 += p[i + 6];
    a7 += p[i + 7];
  }
  for (; i < n; i++) a0 += p[i];
  return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
}

/* The slice as 4 streams, a line of each in turn, each fetched 1 KB ahead. */
enum { VB_STREAMS = 4, VB_LINE_WORDS = 8, VB_AHEAD_WORDS = 128 };
static uint64_t sum_words_streams(const uint64_t *p, size_t n) {
  uint64_t a[VB_LINE_WORDS] = {0};
  const size_t part = n / VB_STREAMS / VB_LINE_WORDS * VB_LINE_WORDS;
  for (size_t i = 0; i < part; i += VB_LINE_WORDS)
    for (int s = 0; s < VB_STREAMS; s++) {
      const uint64_t *q = p + (size_t)s * part + i;
      __builtin_prefetch(q + VB_AHEAD_WORDS);
      for (int j = 0; j < VB_LINE_WORDS; j++) a[j] += q[j];
    }
  uint64_t sum = sum_words(p + VB_STREAMS * part, n - VB_STREAMS * part);
  for (int j = 0; j < VB_LINE_WORDS; j++) sum += a[j];
  return sum;
}

/* Seconds for `threads` threads to read bufs[0..nbufs), each thread its own
 * contiguous slice of every buffer, as one stream or as several. */
static double read_once(const void *const *bufs, const size_t *bytes, int nbufs, int threads, int streams) {
  uint64_t sum = 0;
  double t0 = vb_now();
#pragma omp parallel num_threads(threads) reduction(+ : sum)
  {
    size_t nt = (size_t)omp_get_num_threads(), id = (size_t)omp_get_thread_num();
    for (int b = 0; b < nbufs; b++) {
      size_t n = bytes[b] / sizeof(uint64_t), lo = n * id / nt, hi = n * (id + 1) / nt;
      const uint64_t *p = (const uint64_t *)bufs[b] + lo;
      sum += streams ? sum_words_streams(p, hi - lo) : sum_words(p, hi - lo);
    }
  }
  double dt = vb_now() - t0;
  vb_bw_sink = sum;
  return dt;
}

/* Pass `pass` of a best-of series: even passes one stream per thread, odd
 * ones several. Alternating, not both in one pass: the second read of a
 * buffer smaller than the last-level cache would come from the cache. */
static double read_pass(const void *const *bufs, const size_t *bytes, int nbufs, int threads, int pass) {
  return read_once(bufs, bytes, nbufs, threads, pass % 2);
}

/* Best of `passes`: the fastest pass is the least disturbed one. */
double vb_bw_gbps(const void *buf, size_t bytes, int threads, int passes) {
  double best = 0;
  for (int pass = 0; pass < passes; pass++) {
    double dt = read_pass(&buf, &bytes, 1, threads, pass);
    if (dt > 0 && (double)bytes / dt > best) best = (double)bytes / dt;
  }
  return best * 1e-9;
}

double vb_bw_kv_gbps(const vb_data *d, int first_copy, int threads, int passes) {
  /* The typed buffers' own bytes (2 per f16 element, 34 per q8_0 block),
   * in whole words as read_pass reads them. */
  const size_t bytes[2] = {d->k_bytes / sizeof(uint64_t) * sizeof(uint64_t),
                           d->v_bytes / sizeof(uint64_t) * sizeof(uint64_t)};
  double best = 0;
  for (int pass = 0; pass < passes; pass++) {
    const int copy = (first_copy + pass) % d->copies;
    const void *bufs[2] = {d->k[copy], d->v[copy]};
    double dt = read_pass(bufs, bytes, 2, threads, pass);
    if (dt > 0 && (double)(bytes[0] + bytes[1]) / dt > best) best = (double)(bytes[0] + bytes[1]) / dt;
  }
  return best * 1e-9;
}

double vb_bw_bufs_gbps(const void *const *bufs, const size_t *bytes, int nbufs, int threads, int pass) {
  size_t total = 0;
  for (int b = 0; b < nbufs; b++) total += bytes[b];
  double dt = read_pass(bufs, bytes, nbufs, threads, pass);
  return dt > 0 ? (double)total / dt * 1e-9 : 0;
}
