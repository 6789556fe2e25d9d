/* Machine facts that size the measurements: last-level cache, memory. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench.h"

/* sysfs size strings look like "32768K" or "32M". */
static size_t parse_size(const char *s) {
  unsigned long long v = 0;
  char unit = 0;
  if (sscanf(s, "%llu%c", &v, &unit) < 1) return 0;
  if (unit == 'K' || unit == 'k') v <<= 10;
  else if (unit == 'M' || unit == 'm') v <<= 20;
  else if (unit == 'G' || unit == 'g') v <<= 30;
  return (size_t)v;
}

static int read_line(const char *path, char *buf, size_t len) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  int ok = fgets(buf, (int)len, f) != NULL;
  fclose(f);
  return ok ? 0 : -1;
}

/* Highest-level data or unified cache of cpu0; sysconf next (glibc asks
 * CPUID); 32 MiB when nobody knows. */
size_t vb_llc_bytes(const char **source) {
  size_t best = 0;
  int best_level = 0;
  for (int i = 0; i < 16; i++) {
    char path[128], buf[64];
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
    if (read_line(path, buf, sizeof buf)) continue;
    int level = 0;
    sscanf(buf, "%d", &level);
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/type", i);
    if (read_line(path, buf, sizeof buf) || !strncmp(buf, "Instruction", 11)) continue;
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
    if (read_line(path, buf, sizeof buf)) continue;
    size_t size = parse_size(buf);
    if (size && level >= best_level) {
      best_level = level;
      best = size;
    }
  }
  if (best) {
    *source = "sysfs";
    return best;
  }
  long v = -1;
#ifdef _SC_LEVEL3_CACHE_SIZE
  v = sysconf(_SC_LEVEL3_CACHE_SIZE);
#endif
#ifdef _SC_LEVEL2_CACHE_SIZE
  if (v <= 0) v = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
  if (v > 0) {
    *source = "sysconf";
    return (size_t)v;
  }
  *source = "default";
  return (size_t)32 << 20;
}

int vb_rotating_copies(size_t bytes_per_copy, size_t llc, size_t budget, int max_copies) {
  if (bytes_per_copy >= VB_LLC_MULTIPLE * llc) return 1;
  size_t c = (VB_LLC_MULTIPLE * llc + bytes_per_copy - 1) / bytes_per_copy;
  if (c * bytes_per_copy > budget) c = budget / bytes_per_copy;
  if (c > (size_t)max_copies) c = (size_t)max_copies;
  return c < 1 ? 1 : (int)c;
}

size_t vb_phys_mem_bytes(void) {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return (size_t)4 << 30;
  return (size_t)pages * (size_t)page;
}

/* 1-minute load average; other busy processes distort every timing. */
double vb_loadavg(void) {
  char buf[64];
  double v = -1;
  if (read_line("/proc/loadavg", buf, sizeof buf) == 0) sscanf(buf, "%lf", &v);
  return v;
}

/* The first "key : value" line of /proc/cpuinfo whose key is one of `keys`. */
static int cpuinfo_value(const char *const *keys, char *out, size_t len) {
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) return -1;
  char line[512];
  int found = -1;
  while (found && fgets(line, sizeof line, f)) {
    char *colon = strchr(line, ':');
    if (!colon) continue;
    for (int k = 0; keys[k] && found; k++) {
      size_t kl = strlen(keys[k]);
      if (strncmp(line, keys[k], kl) || (line[kl] != ' ' && line[kl] != '\t' && line[kl] != ':')) continue;
      const char *v = colon + 1;
      while (*v == ' ' || *v == '\t') v++;
      snprintf(out, len, "%s", v);
      out[strcspn(out, "\n")] = 0;
      found = out[0] ? 0 : -1;
    }
  }
  fclose(f);
  return found;
}

void vb_machine_probe(vb_machine *m) {
  memset(m, 0, sizeof *m);
  if (gethostname(m->hostname, sizeof m->hostname - 1)) snprintf(m->hostname, sizeof m->hostname, "unknown");
  struct utsname u;
  snprintf(m->arch, sizeof m->arch, "%.31s", uname(&u) == 0 ? u.machine : "unknown");
  /* x86: "model name"; arm64 kernels often name no model, only the part. */
  const char *const model_keys[] = {"model name", "Model", "Hardware", "cpu model", NULL};
  char part[64];
  const char *const part_keys[] = {"CPU part", NULL};
  if (cpuinfo_value(model_keys, m->cpu_model, sizeof m->cpu_model)) {
    if (cpuinfo_value(part_keys, part, sizeof part) == 0)
      snprintf(m->cpu_model, sizeof m->cpu_model, "%s CPU part %s", m->arch, part);
    else
      snprintf(m->cpu_model, sizeof m->cpu_model, "%s CPU", m->arch);
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  m->cpus_online = n > 0 ? (int)n : 0;
}
