/* How many OpenMP threads a call uses. */
#ifndef VECATTN_THREADS_H
#define VECATTN_THREADS_H

#include <stdint.h>

/* requested > 0 is the caller's num_threads, 0 the OpenMP default. Never more
 * than there are tasks, nor more than the machine's processors or the OpenMP
 * default, whichever is larger: a client's num_threads = INT_MAX must not make
 * the runtime start (and possibly fail to start) thousands of threads. Results
 * do not depend on the count, so capping changes only speed. */
int vecattn_thread_count(int requested, int64_t tasks);

#endif
