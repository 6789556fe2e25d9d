#include "buffer.h"

#include <stdint.h>
#include <stdlib.h>

#if defined(__linux__)
#include <sys/mman.h>
#endif

enum { LINE = 64 };
#define HUGE_PAGE ((size_t)2 << 20)

void *buffer_alloc(size_t bytes) {
  if (bytes == 0 || bytes > SIZE_MAX - HUGE_PAGE) return NULL;
  const size_t align = bytes >= HUGE_PAGE ? HUGE_PAGE : LINE;
  const size_t size = (bytes + align - 1) / align * align; /* aligned_alloc wants whole alignments */
  void *p = aligned_alloc(align, size);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (p && align == HUGE_PAGE) (void)madvise(p, size, MADV_HUGEPAGE); /* a hint: failure is harmless */
#endif
  return p;
}

void *pair_calloc(size_t first_bytes, size_t second_bytes, unsigned char **second) {
  *second = NULL;
  if (first_bytes > SIZE_MAX - LINE) return NULL;
  const size_t at = (first_bytes + LINE - 1) / LINE * LINE;
  unsigned char *p = at > SIZE_MAX - second_bytes ? NULL : calloc(at + second_bytes, 1);
  if (p) *second = p + at;
  return p;
}

void *scratch_alloc(size_t bytes, void **base) {
  *base = bytes == 0 || bytes > SIZE_MAX - LINE ? NULL : malloc(bytes + LINE);
  if (!*base) return NULL;
  return (void *)(((uintptr_t)*base + LINE - 1) & ~(uintptr_t)(LINE - 1));
}
