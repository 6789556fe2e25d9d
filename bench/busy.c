/* --busy N: N threads that only spin, started around a case's timed runs, so
 * the library is timed as it would run beside other work on the same cores
 * (a server's own threads, other processes). They touch no memory the
 * library reads, only their own flag. */
#include <pthread.h>
#include <stdatomic.h>

#include "bench.h"

#define VB_MAX_BUSY 64

static pthread_t busy_threads[VB_MAX_BUSY];
static int busy_running;
static atomic_int busy_stop;

static void *spin(void *unused) {
  (void)unused;
  unsigned long x = 1;
  while (!atomic_load_explicit(&busy_stop, memory_order_relaxed)) x = x * 6364136223846793005ul + 1;
  return (void *)x;
}

int vb_busy_start(int n) {
  if (n > VB_MAX_BUSY) n = VB_MAX_BUSY;
  atomic_store(&busy_stop, 0);
  for (busy_running = 0; busy_running < n; busy_running++)
    if (pthread_create(&busy_threads[busy_running], NULL, spin, NULL)) break;
  return busy_running;
}

void vb_busy_stop(void) {
  atomic_store(&busy_stop, 1);
  for (int i = 0; i < busy_running; i++) pthread_join(busy_threads[i], NULL);
  busy_running = 0;
}
