/* SIGINT/SIGTERM ask a run to stop: the handler only records the signal
 * (async-signal-safe); the bench checks it between calls and then writes what
 * it measured. A second signal gets the default action: stop at once. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig) {
  static const char msg[] = "\nstopping after the current call; what was measured will be written "
                            "(signal again to abort at once)\n";
  stop_signal = sig;
  ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
  (void)w;
}

void vb_stop_install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESETHAND; /* the second one is not caught */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

int vb_stop_requested(void) { return stop_signal; }
