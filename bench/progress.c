/* A progress line on stderr: rewritten in place on a terminal, one line per
 * step otherwise so logs stay readable. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "bench.h"

static int total, tty, shown;

void vb_progress_begin(int n) {
  total = n;
  tty = isatty(fileno(stderr));
}

void vb_progress(int index, const char *fmt, ...) {
  char msg[160];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (index > 0)
    fprintf(stderr, tty ? "\r\033[K[%d/%d] %s" : "[%d/%d] %s\n", index, total, msg);
  else
    fprintf(stderr, tty ? "\r\033[K%s" : "%s\n", msg);
  fflush(stderr);
  shown = 1;
}

void vb_progress_end(void) {
  if (tty && shown) fputs("\r\033[K", stderr);
  shown = 0;
}
