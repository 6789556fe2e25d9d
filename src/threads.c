/* The one place that decides thread counts. On a busy machine a team member
 * that lost its core holds up every barrier of the call (with libgomp's
 * default spin-waiting, 10-600x the serial time on 2 cores beside 2 spinning
 * threads), so a team is started only for work that pays for it, and only
 * as wide as the cores other threads leave free at the time of the call. */
#include "threads.h"

#include <omp.h>
#include <stdatomic.h>
#include <stdlib.h>

#ifdef __linux__
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#endif

/* Below both, a call runs on the calling thread: ~5-8 us of work on one
 * core. A team whose workers still spin from the last call saves at most
 * 2-3 us of that; one whose workers must be woken costs more than it saves
 * (README "How many threads a call uses"). */
#define SERIAL_FLOPS 5e5
#define SERIAL_BYTES 2.5e5

/* CPUs the calling thread may run on (its affinity mask). Under
 * OMP_PROC_BIND the runtime has pinned it to one place, so its mask says
 * nothing of the team's: then the CPUs the process had at start-up, which
 * the runtime spreads its places over (taking the mask made every call serial:
 * a 16-core Intel VM ran a 2048-token prefill in 258 ms, 20 ms unbound). */
static int allowed_cpus(void) {
  if (omp_get_proc_bind() != omp_proc_bind_false) return omp_get_num_procs();
#ifdef __linux__
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
#endif
  return omp_get_num_procs();
}

#ifdef __linux__
/* Online CPUs of the whole machine: a constant, read once. */
static int online_cpus(void) {
  static atomic_int online;
  int n = atomic_load_explicit(&online, memory_order_relaxed);
  if (n <= 0) {
    long v = sysconf(_SC_NPROCESSORS_ONLN);
    n = v > 0 && v < (1 << 20) ? (int)v : 1;
    atomic_store_explicit(&online, n, memory_order_relaxed);
  }
  return n;
}

/* Threads runnable on the machine at this instant, the caller included: the
 * fourth field of /proc/loadavg ("runnable/total"). -1 when unreadable. */
static int runnable_now(void) {
  const int fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[128];
  const ssize_t len = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (len <= 0) return -1;
  buf[len] = '\0';
  char *p = buf;
  for (int field = 0; field < 3; ++field) {
    while (*p && *p != ' ') ++p;
    while (*p == ' ') ++p;
  }
  char *end;
  const long n = strtol(p, &end, 10);
  return end != p && *end == '/' && n > 0 ? (int)(n < (1 << 20) ? n : (1 << 20)) : -1;
}

static int64_t now_ns(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) return 0;
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* When this thread's last team ended, and its size: libgomp's idle workers
 * spin for a while after a region (GOMP_SPINCOUNT, 300k polls: 6-12 ms on
 * Zen 5, longer on Intel, whose PAUSE is slower), and spinning they count as
 * runnable in /proc/loadavg; asleep they do not. Counting them always made
 * two busy threads look like one whenever the workers had gone to sleep (a
 * team of 2 beside 2 spinning threads on 2 cores: decode 1.6-2.8x the serial
 * time in 4 of 9 runs). The window runs from the region's end: timed from
 * its start, every call longer than the window saw its own team spinning as
 * other work and gave the next call a team of 2 (16-core Intel VM: a
 * 2048-token prefill 128.7-129.1 ms at 16 threads, 22.9-23.4 ms timed from
 * the end). */
#define TEAM_SPIN_NS 5000000
static _Thread_local int64_t team_ended_at;
static _Thread_local int64_t team_size;

/* The workers of this thread's OpenMP pool, as its teams last reported them:
 * libgomp keeps one pool per thread for every region the thread starts, the
 * host's own (BLAS, its projections) as well as ours, so after a region of
 * the host's the same workers may spin, outside the window above. Their
 * state in /proc tells: 'R' spinning, 'S' asleep. */
#define POOL_MAX 255
static _Thread_local pid_t pool_tids[POOL_MAX];
static _Thread_local int pool_count;

/* How many of the pool's workers are runnable now; 0 when none is known. */
static int pool_runnable(void) {
  int n = 0;
  for (int i = 0; i < pool_count; ++i) {
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)pool_tids[i]);
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue; /* the worker has exited */
    const ssize_t len = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (len <= 0) continue;
    buf[len] = '\0';
    const char *paren = strrchr(buf, ')'); /* the name may hold spaces and parentheses */
    n += paren && paren[1] == ' ' && paren[2] == 'R';
  }
  return n;
}

/* Other threads runnable on the machine (not this one, nor this thread's
 * pool while it may still spin), read at most once per RUNNABLE_REUSE_NS on
 * each calling thread: the read costs 2-4 us, a decode step of a small model
 * ~10. Right after a team of ours the pool is taken to spin; otherwise, when
 * the count would cost the call cores, the pool's workers are looked up one
 * by one (3-4 us each). The figure only sizes teams, so a stale one costs
 * speed, never results. -1 when unreadable. */
#define RUNNABLE_REUSE_NS 1000000
static int64_t others_recent(void) {
  static _Thread_local int64_t read_at;
  static _Thread_local int64_t last = -1;
  static _Thread_local int have;
  const int64_t t = now_ns();
  if (!have || t - read_at >= RUNNABLE_REUSE_NS || t < read_at) {
    const int runnable = runnable_now();
    int64_t others = runnable - 1;
    if (team_size > 1 && t - team_ended_at < TEAM_SPIN_NS) others -= team_size - 1;
    else if (others > 1) others -= pool_runnable();
    last = runnable < 0 ? -1 : others;
    read_at = t, have = 1;
  }
  return last;
}
#endif

/* At most the CPUs no other thread wants now. The count is system-wide, so
 * it is held against the machine's online CPUs: a process confined to a few
 * CPUs of a big, busy host keeps its team unless the whole host is full. */
static int64_t fit_free_cpus(int64_t n) {
#ifdef __linux__
  const int64_t others = others_recent();
  if (others < 0) return n;
  /* One other runnable thread is tolerated: a kernel worker passing by shows
   * up there (on an idle 2-core VM it sent decode to 1 thread in 2 of 7 runs,
   * +12% median), and one busy process beside a team of 2 still ran faster
   * than serial (issue 11's measurements); two do not. */
  const int64_t free_cpus = online_cpus() - (others > 1 ? others - 1 : 0);
  if (free_cpus < n) n = free_cpus;
#endif
  return n;
}

int vecattn_thread_count(int requested, int64_t tasks, double flops, double bytes) {
  if (requested == 1 || tasks < 2 || omp_get_level() > 0) return 1; /* never a nested team */
  if (flops < SERIAL_FLOPS && bytes < SERIAL_BYTES) return 1;
  int64_t n = requested > 0 ? requested : omp_get_max_threads();
  const int cpus = allowed_cpus();
  if (n > cpus) n = cpus;
  if (n > tasks) n = tasks;
  if (n > 1) n = fit_free_cpus(n);
  if (n < 1) n = 1;
  return (int)n;
}

void vecattn_run_region(int threads, void (*region)(void *ctx), void *ctx) {
  if (threads <= 1 && omp_get_level() == 0) {
    region(ctx);
    return;
  }
#ifdef __linux__
  if (omp_get_level() == 0) {
    pid_t *tids = pool_tids; /* this thread's, written by its workers */
#pragma omp parallel num_threads(threads)
    {
      const int id = omp_get_thread_num();
      if (id > 0 && id <= POOL_MAX) tids[id - 1] = (pid_t)syscall(SYS_gettid);
      region(ctx);
    }
    const int workers = threads - 1 < POOL_MAX ? threads - 1 : POOL_MAX;
    if (workers > pool_count) pool_count = workers; /* a smaller team leaves the rest of the pool as it was */
    team_ended_at = now_ns(), team_size = threads;
    return;
  }
#endif
#pragma omp parallel num_threads(threads)
  region(ctx);
}
