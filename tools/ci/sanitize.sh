#!/usr/bin/env bash
# Memory and thread checks, run by .ci/run after the native tests (or by hand
# from anywhere in the repository):
#   1. AddressSanitizer + UndefinedBehaviorSanitizer build (build-asan), the
#      whole native test suite (trimmed sizes unless SANITIZE_FULL=1), leaks
#      checked.
#   2. valgrind --leak-check=full on the small validation suite, from the plain
#      build the CI made (build/), or build-valgrind when there is none.
#   3. ThreadSanitizer build (build-tsan) of the concurrency suite, run with
#      OMP_NUM_THREADS=1: libgomp is not TSan-instrumented, so with more
#      OpenMP threads every parallel region reports false races; one OpenMP
#      thread leaves the pthreads of the test as the only racers.
# Prints the wall time of each step.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

step() { STEP=$1; T0=$(date +%s); printf '\n---- sanitize: %s ----\n' "$STEP"; }
step_done() { printf -- '---- sanitize: %s: %d s ----\n' "$STEP" $(( $(date +%s) - T0 )); }

setup() { # setup <dir> <meson options...>: configure once, reuse afterwards
  local dir=$1; shift
  if [ -f "$dir/build.ninja" ]; then meson setup --reconfigure "$dir" "$@" > /dev/null; else meson setup "$dir" "$@"; fi
}

step "asan+ubsan build"
setup build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug -Doptimization=1
meson compile -C build-asan
step_done

step "asan+ubsan tests"
# Sanitized code runs 2-4x slower: by default the suites use their trimmed
# sizes (VECATTN_TEST_EMULATED=1, as under qemu, but with threads; every path
# and mask is still run) so that CI stays within its time budget. SANITIZE_FULL=1 runs the full
# sizes, about twice as long. Check forks each test; a sanitizer report in
# the child fails that test.
TRIM=1
[ "${SANITIZE_FULL:-0}" = 1 ] && TRIM=0
VECATTN_TEST_EMULATED=$TRIM VECATTN_TEST_EMULATED_THREADS=1 \
ASAN_OPTIONS=detect_leaks=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  meson test -C build-asan --print-errorlogs --suite vecattn
step_done

step "valgrind (validation suite)"
VG_BUILD=build
if [ ! -x "$VG_BUILD/tests/test_validation" ]; then
  VG_BUILD=build-valgrind
  setup "$VG_BUILD" -Dbuildtype=debugoptimized
  meson compile -C "$VG_BUILD" tests/test_validation
fi
# No fork (valgrind would follow every child); two OpenMP threads. libgomp
# keeps its thread pool until exit: only definite leaks count as errors.
CK_FORK=no OMP_NUM_THREADS=2 valgrind --error-exitcode=1 --leak-check=full \
  --errors-for-leak-kinds=definite --show-leak-kinds=definite --quiet "$VG_BUILD/tests/test_validation"
step_done

step "tsan (concurrency suite, OMP_NUM_THREADS=1)"
setup build-tsan -Db_sanitize=thread -Db_lundef=false -Dbuildtype=debug -Doptimization=1
meson compile -C build-tsan tests/test_concurrency
CK_FORK=no OMP_NUM_THREADS=1 TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  ./build-tsan/tests/test_concurrency
step_done
