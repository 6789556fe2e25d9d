#include "threads.h"

#include <omp.h>

int vecattn_thread_count(int requested, int64_t tasks) {
  const int by_default = omp_get_max_threads();
  const int procs = omp_get_num_procs();
  const int64_t cap = by_default > procs ? by_default : procs;
  int64_t n = requested > 0 ? requested : by_default;
  if (n > cap) n = cap;
  if (n > tasks) n = tasks;
  return n < 1 ? 1 : (int)n;
}
