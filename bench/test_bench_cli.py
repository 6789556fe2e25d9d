#!/usr/bin/env python3
"""vecattn-bench's command line, output files and signal path (meson test `bench_cli`).

    test_bench_cli.py BUILD/bench/vecattn-bench BUILD/bench/vecattn-bench-layer

Every run uses --quick and a tiny custom shape (or the quick serve case), so
the whole file takes a few seconds. Checks: bad usage exits 2 before any
timing; an output path that cannot be written fails at once with the system's
error text; a run stopped by SIGINT or SIGTERM after its first result row exits
128+N and leaves valid JSON and CSV holding the cases measured; an
uninterrupted run writes every case; typed cases and serve runs record and
count their types.
"""

import csv
import errno
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

BENCH = sys.argv[1]
LAYER = sys.argv[2] if len(sys.argv) > 2 else None
TINY = ["--quick", "--b", "1", "--hq", "2", "--nq", "48", "--nk", "48", "--d", "32"]
ROW = re.compile(r"^custom\s+(f32|f16|bf16)/(f32|f16|bf16|q8_0)\s+(scalar|sse2|avx2|avx512|neon)\s+\d+\s+(full|reduced)\s+\d+")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)
    else:
        print("ok:  ", what)


def run(args, timeout=60):
    t0 = time.monotonic()
    p = subprocess.run([BENCH] + args, capture_output=True, text=True, timeout=timeout)
    return p, time.monotonic() - t0


def usage_errors():
    for args, needle in [
        (["--bogus"], "unknown option"),
        (["--threads", "0"], "bad thread count"),
        (["--min-reps", "0"], "bad --min-reps"),
        (["--min-time", "x"], "bad --min-time"),
        (["--shape", "nope"], "unknown shape"),
        (["--isa", "nope"], "unknown ISA"),
        (["--hq", "3", "--hkv", "2"], "bad custom shape"),
        (["--quick", "--full"], "exclude each other"),
        (["--dtype", "q8_0"], "unknown Q/out type"),
        (["--kv-dtype", "f16,f64"], "unknown K/V type"),
        (["--d", "48", "--kv-dtype", "q8_0"], "no case left"),
        (["--json"], "needs a value"),
        (["--json", "same.out", "--csv", "same.out"], "same file"),
        (["--busy", "65"], "bad --busy"),
        (["--busy", "-1"], "bad --busy"),
    ]:
        p, dt = run(args, timeout=20)
        check(p.returncode == 2 and needle in p.stderr and "Physical limits" not in p.stdout,
              "%s -> exit 2 with '%s' before timing (got %d: %s)" % (" ".join(args), needle, p.returncode,
                                                                    p.stderr.strip()[:120]))
    p, _ = run(["--help"], timeout=20)
    check(p.returncode == 0 and "--full" in p.stdout and "SIGINT" in p.stdout, "--help lists --full and the signals")
    check(all(f in p.stdout for f in ("--kv-dtype", "--dtype", "--reduced-precision")), "--help lists the type options")


def bad_paths(tmp):
    missing = os.path.join(tmp, "no", "such", "dir", "x.json")
    p, dt = run(TINY + ["--json", missing], timeout=20)
    check(p.returncode == 2 and os.strerror(errno.ENOENT) in p.stderr and missing in p.stderr,
          "--json in a missing directory: exit 2 with '%s' (got %d: %s)" % (os.strerror(errno.ENOENT), p.returncode,
                                                                            p.stderr.strip()[:160]))
    check("Physical limits" not in p.stdout and dt < 10, "... and no timing started (%.2f s)" % dt)
    p, _ = run(TINY + ["--csv", tmp], timeout=20)
    check(p.returncode == 2 and os.strerror(errno.EISDIR) in p.stderr,
          "--csv naming a directory: exit 2 with '%s' (got %d: %s)" % (os.strerror(errno.EISDIR), p.returncode,
                                                                       p.stderr.strip()[:160]))


def load_outputs(jpath, cpath):
    with open(jpath) as f:
        doc = json.load(f)
    with open(cpath, newline="") as f:
        rows = list(csv.DictReader(f))
    return doc, rows


def interrupted(tmp, sig):
    name = signal.Signals(sig).name
    jpath, cpath = os.path.join(tmp, name + ".json"), os.path.join(tmp, name + ".csv")
    # Two thread counts and every ISA path, ~0.4 s each: the run is far from
    # done when the first row appears.
    args = TINY + ["--threads", "1,2", "--min-time", "0.4", "--json", jpath, "--csv", cpath]
    p = subprocess.Popen([BENCH] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first, lines = None, []
    deadline = time.monotonic() + 40
    for line in p.stdout:
        lines.append(line)
        if ROW.match(line):
            first = line
            break
        if time.monotonic() > deadline:
            break
    check(first is not None, "%s: a result row is printed as soon as its case is measured" % name)
    if first is None:
        p.kill()
        p.communicate()
        return
    # The files are already there, holding that first case.
    doc, rows = load_outputs(jpath, cpath)
    check(len(doc["results"]) >= 1 and len(rows) == len(doc["results"]),
          "%s: JSON and CSV hold the first case before the run ends (%d, %d)" % (name, len(doc["results"]),
                                                                             len(rows)))
    p.send_signal(sig)
    try:
        out, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    out = "".join(lines) + out
    check(p.returncode == 128 + sig, "%s: exit status %d (got %s)" % (name, 128 + sig, p.returncode))
    try:
        doc, rows = load_outputs(jpath, cpath)
    except (OSError, ValueError) as e:
        check(False, "%s: JSON and CSV readable after the signal (%s)" % (name, e))
        return
    res = doc["results"]
    check(doc["interrupted"] is True and doc["signal"] == name, "%s: JSON says interrupted by %s" % (name, name))
    check(1 <= len(res) == doc["cases_done"] < doc["cases_planned"],
          "%s: %d of %d cases in the JSON" % (name, len(res), doc["cases_planned"]))
    check(all(r["reps"] > 0 and r["value"] is not None and r["value"] > 0 for r in res),
          "%s: every case in the JSON was timed" % name)
    check(len(rows) == len(res) and all(r["shape"] == "custom" for r in rows), "%s: CSV holds the same cases" % name)
    check("INTERRUPTED" in out and len([l for l in out.splitlines() if ROW.match(l)]) == len(res),
          "%s: stdout has one row per case measured and says it was interrupted" % name)
    left = [f for f in os.listdir(tmp) if ".tmp." in f]
    check(not left, "%s: no temporary files left (%s)" % (name, left))


def complete(tmp):
    jpath, cpath = os.path.join(tmp, "full.json"), os.path.join(tmp, "full.csv")
    p, _ = run(TINY + ["--threads", "1", "--min-time", "0.01", "--label", "cli test", "--json", jpath, "--csv", cpath])
    check(p.returncode == 0, "uninterrupted run exits 0 (got %d: %s)" % (p.returncode, p.stderr.strip()[-200:]))
    doc, rows = load_outputs(jpath, cpath)
    res = doc["results"]
    check(doc["interrupted"] is False and doc["ok"] is True and len(res) == doc["cases_planned"] == len(doc["isas"]),
          "uninterrupted run: every case in the JSON (%d)" % len(res))
    check(doc["label"] == "cli test" and doc["machine"]["arch"] and doc["machine"]["cpus_online"] >= 1,
          "JSON names the run and the machine")
    check(len(rows) == len(res) and rows[0]["dtype"] == "f32", "CSV has one row per case, with the element type")
    check(doc["busy_threads"] == 0 and "busy ratio" not in p.stdout, "without --busy: busy_threads 0, no ratios")


def busy(tmp):
    """--busy N: recorded in the JSON, and the summary gives t=2 over t=1 per case."""
    jpath = os.path.join(tmp, "busy.json")
    p, _ = run(TINY + ["--isa", "scalar", "--threads", "1,2", "--min-time", "0.01", "--busy", "2", "--json", jpath])
    check(p.returncode == 0, "--busy 2 run exits 0 (got %d: %s)" % (p.returncode, p.stderr.strip()[-200:]))
    with open(jpath) as f:
        doc = json.load(f)
    check(doc["busy_threads"] == 2, "--busy 2 recorded in the JSON (%r)" % doc.get("busy_threads"))
    ratio = re.search(r"busy ratio custom\s+f32/f32\s+scalar\s+t=2\s+([0-9.]+)", p.stdout)
    check("2 spinning threads" in p.stdout and ratio and float(ratio.group(1)) > 0,
          "--busy 2: header says so, summary gives the t=2 / t=1 ratio")


# Bytes per element of each K/V type, as the GB/s figures must count them.
KV_BYTES = {"f32": 4.0, "f16": 2.0, "bf16": 2.0, "q8_0": 34.0 / 32.0}


def typed(tmp):
    """--dtype/--kv-dtype: every type pair runs on every path, checked against
    scalar on the same typed inputs; the records carry the types and count the
    K/V bytes of the type."""
    jpath, cpath = os.path.join(tmp, "typed.json"), os.path.join(tmp, "typed.csv")
    # Decode-like (Nq * Hq / Hkv <= 16): reported in GB/s, held to its own bytes.
    shape = ["--quick", "--b", "1", "--hq", "4", "--hkv", "2", "--nq", "1", "--nk", "256", "--d", "32"]
    p, _ = run(shape + ["--kv-dtype", "f16,q8_0", "--dtype", "bf16", "--threads", "1", "--min-time", "0.01",
                        "--json", jpath, "--csv", cpath])
    check(p.returncode == 0, "typed run exits 0 (got %d: %s)" % (p.returncode, p.stderr.strip()[-200:]))
    doc, rows = load_outputs(jpath, cpath)
    res = doc["results"]
    check(doc["dtypes"] == ["bf16"] and doc["kv_dtypes"] == ["f16", "q8_0"] and doc["reduced_precision"] is False,
          "JSON lists the types run (%s, %s)" % (doc["dtypes"], doc["kv_dtypes"]))
    check(len(res) == doc["cases_planned"] == 2 * len(doc["isas"]) and doc["ok"] is True,
          "every path runs both type pairs (%d cases)" % len(res))
    check([r["kv_dtype"] for r in res] == ["f16"] * len(doc["isas"]) + ["q8_0"] * len(doc["isas"])
          and all(r["dtype"] == "bf16" for r in res), "records carry dtype and kv_dtype, pairs in type order")
    elems = 1 * 2 * 256 * (32 + 32)
    check(all(abs(r["bytes"] - elems * KV_BYTES[r["kv_dtype"]]) < 0.5 for r in res),
          "bytes count the K/V type: f16 %d, q8_0 %d" % (elems * 2, elems * 34 // 32))
    check(all(r["unit"] == "GB/s" and abs(r["gbps"] - r["bytes"] / r["time_median_s"] * 1e-9) < 1e-6 * r["gbps"]
              for r in res), "GB/s = typed bytes / median time")
    check(all(r["read_gbps_case"] and r["read_gbps_case"] > 0 for r in res), "each case read its own typed K/V")
    check(all(r["check"] in ("ok", "ref") and r["check_tol"] == 1.6e-2 for r in res),
          "checked against scalar at the bf16 output limit")
    check(all(r["speedup_vs_f32"] is None for r in res), "no f32/f32 case run: no vs-f32 ratio")
    check(len(rows) == len(res) and {r["kv_dtype"] for r in rows} == {"f16", "q8_0"} and "speedup_vs_f32" in rows[0],
          "CSV has the types and the vs-f32 column")

    # With the all-f32 case in the run (listed last: runs first anyway) the
    # typed cases carry their speed-up over it; --reduced-precision is recorded.
    p, _ = run(shape + ["--kv-dtype", "q8_0,f32", "--isa", "scalar", "--threads", "1", "--min-time", "0.01",
                        "--reduced-precision", "--json", jpath])
    check(p.returncode == 0, "f32 + q8_0 run exits 0 (got %d)" % p.returncode)
    res = json.load(open(jpath))["results"]
    ok = len(res) == 2 and res[0]["kv_dtype"] == "f32" and res[1]["kv_dtype"] == "q8_0"
    # A ratio of times (same work), not of GB/s, which count different bytes per type.
    check(ok and res[0]["speedup_vs_f32"] is None and
          abs(res[1]["speedup_vs_f32"] - res[0]["time_median_s"] / res[1]["time_median_s"]) <
          1e-6 * res[1]["speedup_vs_f32"], "the q8_0 case carries its speed-up (time ratio) over the f32 case")
    check(ok and all(r["reduced_precision"] is True and abs(r["check_tol"] - 1.01e-2) < 1e-12 for r in res),
          "--reduced-precision recorded per case, check limit widened")
    # Then timed side by side with it: alternated calls, at least --min-reps
    # rounds; the table shows that ratio.
    paired = res[1]["speedup_vs_f32_paired"] if ok else None
    check(ok and res[0]["speedup_vs_f32_paired"] is None and res[0]["paired_rounds"] == 0 and
          paired is not None and paired > 0 and res[1]["paired_rounds"] >= 3,
          "the q8_0 case carries its speed-up from calls alternated with f32's (%s)" % paired)
    check("vs f32" in p.stdout and paired is not None and
          re.search(r"f32/q8_0\s+scalar.*\s%.2fx\s" % paired, p.stdout) is not None,
          "the table shows the types and the side-by-side vs-f32 ratio")

    # Every path run has its own peak: FMAs (neondot: neon's), or the bf16 dot
    # products of avx512bf16, neonbf16 and svebf16.
    p, _ = run(shape + ["--threads", "1", "--min-time", "0.01", "--reduced-precision", "--json", jpath])
    peaks = {e["isa"]: e["gflops"] for e in json.load(open(jpath))["limits"]["fma_peak_gflops"]}
    check(p.returncode == 0 and all(g is not None and g > 0 for g in peaks.values()),
          "every path's peak measured with --reduced-precision (%s)" % peaks)

    # A head dim q8_0 cannot hold: that pair is skipped, with a note, the rest runs.
    p, _ = run(["--quick", "--b", "1", "--hq", "2", "--nq", "1", "--nk", "64", "--d", "48", "--isa", "scalar",
                "--threads", "1", "--min-time", "0.01", "--kv-dtype", "f16,q8_0", "--json", jpath])
    res = json.load(open(jpath))["results"]
    check(p.returncode == 0 and "q8_0 K/V skipped" in p.stdout and [r["kv_dtype"] for r in res] == ["f16"],
          "D=48: q8_0 skipped with a note, f16 runs")


def serve_types(tmp):
    """--shape serve with --kv-dtype: one serve run per type pair, in type order,
    each recording its types, counting the K/V bytes of its type, and its paged
    output agreeing with the per-sequence and padded baselines."""
    jpath = os.path.join(tmp, "serve.json")
    p, _ = run(["--shape", "serve", "--quick", "--kv-dtype", "q8_0,f32", "--threads", "1", "--min-time", "0.01",
                "--json", jpath])
    check(p.returncode == 0, "serve f32 + q8_0 run exits 0 (got %d: %s)" % (p.returncode, p.stderr.strip()[-200:]))
    runs = json.load(open(jpath)).get("serve", [])
    check([(r["dtype"], r["kv_dtype"]) for r in runs] == [("f32", "f32"), ("f32", "q8_0")],
          "serve: one run per type pair, f32 first (%s)" % [(r["dtype"], r["kv_dtype"]) for r in runs])
    if len(runs) != 2:
        return
    check(all(r["status"] == "success" and r["check"] == "ok" and r["err_vs_per_seq"] <= r["check_tol"] and
              r["err_vs_padded"] is not None and r["err_vs_padded"] <= r["check_tol"] for r in runs),
          "serve: each run's paged output matches (a) and (b) (%s)" %
          [(r["err_vs_per_seq"], r["err_vs_padded"]) for r in runs])
    # The decodes alone read each context's K and V once, of the K/V type, and Q and out in f32.
    check(all(abs(r["bytes_decode"] - (sum(r["decode_ctx"]) * 2 * r["hkv"] * r["d"] * KV_BYTES[r["kv_dtype"]] +
                                       r["n_decode"] * 2 * r["hq"] * r["d"] * 4)) < 0.5 for r in runs),
          "serve: bytes count the K/V type (%s)" % [r["bytes_decode"] for r in runs])
    check(runs[0]["speedup_vs_f32"] is None and
          abs(runs[1]["speedup_vs_f32"] - runs[0]["paged_s"] / runs[1]["paged_s"]) < 1e-6 * runs[1]["speedup_vs_f32"]
          and runs[1]["speedup_decode_vs_f32"] > 0, "serve: the q8_0 run carries its time ratio over the f32 run")
    check("Q/O f32 K/V q8_0" in p.stdout and re.search(r"decodes alone, paged .*\d\.\d\dx", p.stdout) is not None,
          "serve: the table names the types and shows vs f32")
    check(all(r["reduced_precision"] is False for r in runs), "serve: runs without the option record it off")
    # With --reduced-precision every call of the step (paged, (a), (b)) sets the option; the check allows for it.
    p, _ = run(["--shape", "serve", "--quick", "--kv-dtype", "q8_0", "--threads", "1", "--min-time", "0.01",
                "--reduced-precision", "--json", jpath])
    runs = json.load(open(jpath)).get("serve", [])
    check(p.returncode == 0 and len(runs) == 1 and runs[0]["reduced_precision"] is True and
          runs[0]["check"] == "ok" and abs(runs[0]["check_tol"] - 1.01e-2) < 1e-12 and "reduced-precision" in p.stdout,
          "serve --reduced-precision: recorded, checked at its tolerance (%s)" %
          [(r["reduced_precision"], r["check"], r["check_tol"]) for r in runs])


def layer():
    """vecattn-bench-layer: bad usage exits 2; a tiny gemm case runs and names its limit."""
    for args in (["--bogus"], ["--threads", "0"], ["--case", "nope"], ["--min-time", "-1"], ["--llc-mib", "x"],
                 ["--busy", "65"]):
        p = subprocess.run([LAYER] + args, capture_output=True, text=True, timeout=20)
        check(p.returncode == 2 and "vecattn-bench-layer:" in p.stderr,
              "layer %s -> exit 2 (got %d)" % (" ".join(args), p.returncode))
    p = subprocess.run([LAYER, "--quick", "--case", "gemm", "--threads", "1", "--min-time", "0.01"],
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 0 and "FMA peak (measured before" in p.stdout and "load average" in p.stdout and
          "nan" not in p.stdout,
          "layer --quick gemm: runs, names the limit measured beside it (a number) and the load (%d)" % p.returncode)
    p = subprocess.run([LAYER, "--quick", "--case", "gemm", "--threads", "1", "--threads", "2", "--min-time", "0.01",
                        "--busy", "1"], capture_output=True, text=True, timeout=60)
    check(p.returncode == 0 and re.search(r"busy ratio gemm\s+\S+\s+t=2\s+[0-9.]+", p.stdout),
          "layer --busy 1: the summary gives the t=2 / t=1 ratio (%d)" % p.returncode)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        usage_errors()
        bad_paths(tmp)
        interrupted(tmp, signal.SIGINT)
        interrupted(tmp, signal.SIGTERM)
        complete(tmp)
        busy(tmp)
        typed(tmp)
        serve_types(tmp)
    if LAYER:
        layer()
    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
