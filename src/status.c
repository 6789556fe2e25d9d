/* Status texts and the per-thread detail of the last failure. */
#include "status.h"

#include <stdarg.h>
#include <stdio.h>

/* Thread-local, so concurrent calls never see each other's details; not
 * shared mutable state. */
static _Thread_local char last_error[256];

const char *vecattn_strerror(vecattn_status s) {
  switch (s) {
    case VECATTN_OK: return "success";
    case VECATTN_EINVAL: return "invalid argument: NULL pointer, bad shape, stride or option";
    case VECATTN_ENOMEM: return "out of memory";
    case VECATTN_EUNSUPPORTED: return "instruction set not compiled in or not supported by this CPU/OS";
    case VECATTN_EOVERFLOW: return "size overflow: sizes or extents overflow int64, size_t or the address space";
    case VECATTN_ENOSPC: return "no space: the KV cache has no room for the new positions";
  }
  return "unknown vecattn status code";
}

const char *vecattn_last_error(void) { return last_error; }

vecattn_status status_fail(vecattn_status s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
  return s;
}

vecattn_status status_nomem(const char *what) {
  return status_fail(VECATTN_ENOMEM, "out of memory: could not allocate %s", what);
}
