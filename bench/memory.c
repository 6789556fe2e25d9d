/* Resident-set figures for the per-case workspace estimate.
 * VmHWM can be reset per case through /proc/self/clear_refs ("5", Linux >= 4.0);
 * where that is refused, the peak only ever grows, so a case gets a figure
 * only when it raised the peak.
 * Before each reset, memory freed by earlier calls is handed back to the OS
 * (malloc_trim): otherwise a workspace allocated again from those retained
 * pages would not raise the resident set and would read as zero. */
#define _DEFAULT_SOURCE /* madvise */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "bench.h"

/* A "Key:   123 kB" line of /proc/self/status, in bytes; 0 if absent. */
static size_t status_bytes(const char *key) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  size_t klen = strlen(key), kib = 0;
  while (fgets(line, sizeof line, f)) {
    unsigned long long v;
    if (!strncmp(line, key, klen) && line[klen] == ':' && sscanf(line + klen + 1, "%llu", &v) == 1) {
      kib = (size_t)v;
      break;
    }
  }
  fclose(f);
  return kib * 1024;
}

int vb_mem_reset_peak(void) {
#ifdef __GLIBC__
  malloc_trim(0);
#endif
  FILE *f = fopen("/proc/self/clear_refs", "w");
  if (!f) return 0;
  int ok = fputs("5", f) >= 0;
  ok = (fclose(f) == 0) && ok;
  return ok;
}

vb_mem_method vb_mem_probe(void) {
  if (status_bytes("VmHWM") && vb_mem_reset_peak()) return VB_MEM_HWM;
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) == 0 && ru.ru_maxrss > 0) return VB_MEM_MAXRSS;
  return VB_MEM_NONE;
}

size_t vb_mem_rss(void) { return status_bytes("VmRSS"); }

size_t vb_mem_peak(void) {
  size_t hwm = status_bytes("VmHWM");
  if (hwm) return hwm;
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
  return (size_t)ru.ru_maxrss * 1024; /* KiB on Linux */
}

/* Big benchmark buffers ask for transparent huge pages: in VMs a 4 KiB page
 * fault can cost tens of microseconds, so filling gigabytes of rotating
 * copies would otherwise take longer than the measurements themselves. */
void *vb_alloc_big(size_t bytes) {
  const size_t huge = (size_t)2 << 20;
  if (bytes < 2 * huge) return aligned_alloc(64, bytes ? (bytes + 63) / 64 * 64 : 64);
  bytes = (bytes + huge - 1) / huge * huge;
  void *p = aligned_alloc(huge, bytes);
#ifdef MADV_HUGEPAGE
  if (p) madvise(p, bytes, MADV_HUGEPAGE); /* a hint; failure is harmless */
#endif
  return p;
}
