#!/usr/bin/env bash
# libFuzzer run of tests/fuzz/fuzz_sdpa for CI (called from .ci/run) or by
# hand: clang build with ASan + UBSan (build-fuzz), the seed corpus replayed,
# then FUZZ_SECONDS (default 60) of fuzzing from it. New inputs go to
# build-fuzz/corpus, never into the source tree; a crash leaves its input as
# build-fuzz/crash-* (replay: ./build-fuzz/tests/fuzz/fuzz_sdpa <file>).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
T0=$(date +%s)

if [ -f build-fuzz/build.ninja ]; then
  meson setup --reconfigure build-fuzz > /dev/null
else
  CC=clang meson setup build-fuzz -Dfuzz=enabled -Dtests=disabled \
    -Db_sanitize=address,undefined -Db_lundef=false -Doptimization=1
fi
meson compile -C build-fuzz tests/fuzz/fuzz_sdpa
echo "fuzz build: $(( $(date +%s) - T0 )) s"

export ASAN_OPTIONS=detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
mkdir -p build-fuzz/corpus
./build-fuzz/tests/fuzz/fuzz_sdpa tests/fuzz/corpus/* > build-fuzz/seeds.log 2>&1 ||
  { cat build-fuzz/seeds.log; exit 1; }
echo "seed corpus: $(ls tests/fuzz/corpus | wc -l) inputs replayed"
./build-fuzz/tests/fuzz/fuzz_sdpa -max_total_time="${FUZZ_SECONDS:-60}" -print_final_stats=1 \
  -artifact_prefix=build-fuzz/ build-fuzz/corpus tests/fuzz/corpus
echo "fuzz total: $(( $(date +%s) - T0 )) s"
