#!/usr/bin/env bash
# ARM cross builds checked under qemu-user, run by .ci/run (or by hand from
# anywhere in the repository, once the cross packages of the README are in):
#   tools/ci/arm.sh aarch64   build-aarch64: neon without SVE or the dot product
#                             (cortex-a72), neondot on the ARMv8.2 dot product
#                             (cortex-a76, neoverse-n1), sve at 128, 256 and 512
#                             bits (max; vecattn-info picks neonbf16 at 128 bits
#                             and svebf16 at 256 and 512, the suite forces sve),
#                             a64fx (sve without BF16 or I8MM), svebf16 at 256
#                             and 512 bits (the suites reaching its products),
#                             neonbf16 at 1024-bit SVE (the next path),
#                             neonbf16 (max without SVE: BF16 and I8MM)
#   tools/ci/arm.sh armhf     build-armhf: neon32 (max, cortex-a9 without
#                             VFPv4), scalar without NEON (cortex-r5f)
# Each target: cross build, vecattn-info checked per CPU model, the example,
# the test suite, a bench --quick smoke test (aarch64: a second one with
# --reduced-precision on the paths it changes). The suite runs once in full on
# one CPU model, then only on the paths (VECATTN_TEST_ISAS) the next model
# adds. Prints the wall time of each step. AARCH64_BUILD / ARMHF_BUILD
# override the build directories.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

target=${1:?usage: tools/ci/arm.sh aarch64|armhf}
case $target in
  aarch64) dir=${AARCH64_BUILD:-build-aarch64} qemu=qemu-aarch64 sysroot=/usr/aarch64-linux-gnu
           cross=tools/cross/aarch64-linux-gnu.ini ;;
  armhf)   dir=${ARMHF_BUILD:-build-armhf} qemu=qemu-arm sysroot=/usr/arm-linux-gnueabihf
           cross=tools/cross/arm-linux-gnueabihf.ini ;;
  *) echo "unknown target $target" >&2; exit 2 ;;
esac

step() { STEP=$1; T0=$(date +%s); printf '\n---- %s: %s ----\n' "$target" "$STEP"; }
step_done() { printf -- '---- %s: %s: %d s ----\n' "$target" "$STEP" $(( $(date +%s) - T0 )); }

# Under qemu-user: one OpenMP thread (more can hang; OMP_THREAD_LIMIT=1 also
# caps explicit num_threads requests) and Check without fork() (forked
# children can hang too); the tests trim their biggest cases. Each test's own
# meson timeout bounds a hang.
export OMP_NUM_THREADS=1 OMP_THREAD_LIMIT=1 CK_FORK=no VECATTN_TEST_EMULATED=1

# info <cpu> <active isa wanted> [<feature token wanted>] [VAR=value...]
info() {
  local cpu=$1 want=$2 token=${3:-}; shift 3 || shift $#
  local tag="$cpu${*:+_$*}"
  local out="$dir/vecattn-info-${tag//[^A-Za-z0-9.-]/_}.txt"
  env QEMU_CPU="$cpu" "$@" "$qemu" -L "$sysroot" "$dir/tools/vecattn-info" > "$out" 2>&1
  printf '%-36s %s | %s\n' "$cpu${*:+ $*}" "$(grep '^active isa' "$out")" "$(grep '^cpu features' "$out")"
  if ! grep -Eq "^active isa: $want$" "$out"; then
    cat "$out"; echo "-cpu $cpu: expected the $want path to be active" >&2; exit 1
  fi
  if [ -n "$token" ] && ! grep -Eq "^cpu features:.* $token( |$)" "$out"; then
    cat "$out"; echo "-cpu $cpu: expected feature $token" >&2; exit 1
  fi
}

# tests <label> <cpu> [VAR=value...] [-- suite...]: the suite (or only the
# named tests), its log kept as testlog-<label>
tests() {
  local label=$1 cpu=$2; shift 2
  local vars=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do vars+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  step "tests, $label (-cpu $cpu)${*:+: $*}"
  env QEMU_CPU="$cpu" "${vars[@]}" meson test -C "$dir" --print-errorlogs --logbase "testlog-$label" "$@"
  step_done
}

step "cross build"
if [ -f "$dir/build.ninja" ]; then meson setup --reconfigure "$dir" --cross-file "$cross" > /dev/null
else meson setup "$dir" --cross-file "$cross"; fi
meson compile -C "$dir"
step_done

step "vecattn-info per cpu model + example"
if [ "$target" = aarch64 ]; then
  info cortex-a72 neon asimd                               # no dot product: neon
  info cortex-a76 neondot asimddp
  info neoverse-n1 neondot asimddp
  info max,sve128=on neonbf16 sve-vl128                    # 128-bit SVE adds nothing to neonbf16
  info a64fx sve sve-vl512                                 # SVE without BF16 or I8MM
  grep -q 'int8 products on q8_0 K in decode (opts.reduced_precision): available (sve is active)' \
    "$dir/vecattn-info-a64fx.txt"
  info max,sve256=on svebf16 sve-vl256                     # SVE with BF16 and I8MM: bfdot
  info max,sve512=on svebf16 sve-vl512
  grep -q 'bf16 products (opts.reduced_precision): available on svebf16 (active)' "$dir/vecattn-info-max_sve512_on.txt"
  grep -q 'int8 matrix products on q8_0 K in prefill (opts.reduced_precision): available on svebf16 (active)' \
    "$dir/vecattn-info-max_sve256_on.txt"
  info max,sve-default-vector-length=128 neonbf16 sve-vl1024  # no 1024-bit build: the next path (max has BF16, I8MM)
  info max,sve=off neonbf16 i8mm                           # BF16 and I8MM without SVE: bfdot, smmla
  grep -q 'int8 matrix products on q8_0 K in prefill (opts.reduced_precision): available on neonbf16 (active)' \
    "$dir/vecattn-info-max_sve_off.txt"
  info cortex-a72 neon "" VECATTN_ISA=sve                  # one warning, then neon
  grep -q 'VECATTN_ISA=sve is not compiled in or not supported' "$dir/vecattn-info-cortex-a72_VECATTN_ISA_sve.txt"
  info cortex-a72 neon "" VECATTN_ISA=neondot
  grep -q 'VECATTN_ISA=neondot is not compiled in or not supported' "$dir/vecattn-info-cortex-a72_VECATTN_ISA_neondot.txt"
  QEMU_CPU=max,sve256=on "$qemu" -L "$sysroot" "$dir/examples/vecattn-example-minimal"
else
  info max neon32 vfpv4
  info cortex-a9 neon32 neon                               # NEON without VFPv4
  info cortex-r5f scalar                                   # no NEON: scalar
  QEMU_CPU=max "$qemu" -L "$sysroot" "$dir/examples/vecattn-example-minimal"
fi
step_done

if [ "$target" = aarch64 ]; then
  tests neon cortex-a72
  for bits in 128 256 512; do
    tests "sve$bits" "max,sve$bits=on" VECATTN_TEST_ISAS=sve VECATTN_TEST_EXPECT_SVE_BITS=$bits
  done
  # neondot is neon plus one kernel (int8 products on q8_0 K in decode): the
  # suites that reach it; cortex-a72 above ran them without the feature.
  tests neondot neoverse-n1 VECATTN_TEST_ISAS=neondot -- dtypes dispatch
  tests neonbf16 "max,sve=off" VECATTN_TEST_ISAS=neonbf16
  # svebf16 is sve plus the reduced-precision products: the suites that reach them.
  for bits in 256 512; do
    tests "svebf16-$bits" "max,sve$bits=on" VECATTN_TEST_ISAS=svebf16 VECATTN_TEST_EXPECT_SVE_BITS=$bits \
      -- dtypes paged dispatch
  done
  isas=neon,sve,scalar bench_cpu=max,sve256=on
else
  tests neon32 max
  isas=neon32,scalar bench_cpu=max
fi

# A smoke test only: emulated timings mean nothing. Two small shapes.
step "bench --quick smoke ($isas, -cpu $bench_cpu)"
QEMU_CPU=$bench_cpu "$qemu" -L "$sysroot" "$dir/bench/vecattn-bench" --quick --isa "$isas" --threads 1 \
  --shape bert,decode --json "$dir/bench-quick.json" > "$dir/bench-quick.txt"
tail -n 4 "$dir/bench-quick.txt"
python3 -m json.tool "$dir/bench-quick.json" > /dev/null
for isa in ${isas//,/ }; do
  grep -q "\"isa\": *\"$isa\"" "$dir/bench-quick.json" || { echo "bench JSON lacks $isa" >&2; exit 1; }
done
echo "$dir/bench-quick.json: valid JSON with every path"
step_done

if [ "$target" = aarch64 ]; then
  # The paths whose kernels differ only under reduced_precision, where they
  # differ: q8_0 K (int8 products in decode on sve, svebf16, neondot,
  # neonbf16; in prefill on neonbf16 and svebf16 int8 matrix products for the
  # scores and bf16 ones for P.V). Their errors
  # against scalar must show it, and prefill on sve and neondot must keep f32
  # results.
  step "bench --quick --reduced-precision smoke (sve,svebf16,neondot,neonbf16, q8_0 K/V, -cpu $bench_cpu)"
  QEMU_CPU=$bench_cpu "$qemu" -L "$sysroot" "$dir/bench/vecattn-bench" --quick --reduced-precision \
    --isa sve,svebf16,neondot,neonbf16 --kv-dtype q8_0 --threads 1 --shape bert,decode \
    --json "$dir/bench-quick-rp.json" > "$dir/bench-quick-rp.txt"
  python3 - "$dir/bench-quick-rp.json" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))["results"]
def err(shape, isa):
    r = [x for x in rows if x["shape"] == shape and x["isa"] == isa and x["status"] == 0 and x["check"] == "ok"]
    if not r: sys.exit(f"bench-quick-rp: no checked {shape} row for {isa}")
    return r[0]["check_rel_err"]
used = [("decode", isa) for isa in ("sve", "svebf16", "neondot", "neonbf16")] + [("bert", isa) for isa in ("neonbf16", "svebf16")]
for shape, isa in used:
    e = err(shape, isa)
    print(f"{shape:7} {isa:9} rel err vs scalar {e:.2g}")
    if e <= 1e-5: sys.exit(f"bench-quick-rp: {shape} on {isa}: error {e:.2g}, reduced precision not used")
# Prefill on sve and neondot has no reduced-precision products: f32 results.
for shape, isa in [("bert", "sve"), ("bert", "neondot")]:
    e = err(shape, isa)
    print(f"{shape:7} {isa:9} rel err vs scalar {e:.2g} (unchanged by the option)")
    if e > 1e-5: sys.exit(f"bench-quick-rp: {shape} on {isa}: error {e:.2g}, the option changed a path without products for it")
PY
  step_done
fi
