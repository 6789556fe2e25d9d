/* Failure reporting: the status a call returns plus a per-thread detail
 * message that vecattn_last_error() hands back. */
#ifndef VECATTN_STATUS_H
#define VECATTN_STATUS_H

#include "vecattn.h"

/* Records the detail (printf format) for this thread and returns s, so a
 * failure site reads `return status_fail(VECATTN_EINVAL, "...", ...);`. */
vecattn_status status_fail(vecattn_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The usual message for an allocation that failed: the text says what was
 * being allocated, never more than that. */
vecattn_status status_nomem(const char *what);

#endif
