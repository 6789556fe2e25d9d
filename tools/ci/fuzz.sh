#!/usr/bin/env bash
# libFuzzer runs of tests/fuzz/fuzz_sdpa, fuzz_paged and fuzz_kv for CI
# (called from .ci/run) or by hand: clang build with ASan + UBSan
# (build-fuzz), each seed corpus replayed, then FUZZ_SECONDS (default 20) of
# fuzzing from it per harness. New inputs go to build-fuzz/corpus*, never
# into the source tree; a crash leaves its input as
# build-fuzz/<harness>-crash-* (replay: ./build-fuzz/tests/fuzz/<harness> <file>).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
T0=$(date +%s)

if [ -f build-fuzz/build.ninja ]; then
  meson setup --reconfigure build-fuzz > /dev/null
else
  CC=clang meson setup build-fuzz -Dfuzz=enabled -Dtests=disabled \
    -Db_sanitize=address,undefined -Db_lundef=false -Doptimization=1
fi
meson compile -C build-fuzz tests/fuzz/fuzz_sdpa tests/fuzz/fuzz_paged tests/fuzz/fuzz_kv
echo "fuzz build: $(( $(date +%s) - T0 )) s"

export ASAN_OPTIONS=detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
for h in sdpa:corpus paged:corpus_paged kv:corpus_kv; do
  name=fuzz_${h%%:*} seeds=tests/fuzz/${h#*:} scratch=build-fuzz/${h#*:}
  mkdir -p "$scratch"
  ./build-fuzz/tests/fuzz/$name "$seeds"/* > "build-fuzz/$name-seeds.log" 2>&1 ||
    { cat "build-fuzz/$name-seeds.log"; exit 1; }
  echo "$name: $(ls "$seeds" | wc -l) seed inputs replayed"
  ./build-fuzz/tests/fuzz/$name -max_total_time="${FUZZ_SECONDS:-20}" -print_final_stats=1 \
    -artifact_prefix="build-fuzz/$name-" "$scratch" "$seeds"
done
echo "fuzz total: $(( $(date +%s) - T0 )) s"
