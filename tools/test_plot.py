#!/usr/bin/env python3
"""vecattn-plot on synthetic vecattn-bench JSON (meson test `plot`).

    test_plot.py tools/vecattn-plot

Two runs (an x86 machine under load, an ARM board, one row on a reduced
copy) must come out as one well-formed SVG naming both machines, lettering
their bars, hatching and flagging the loaded run and marking the reduced bar;
a single run still works; unreadable input fails with a message.
"""

import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

PLOT = sys.argv[1]
SVG = "{http://www.w3.org/2000/svg}"
failures = []


def check(cond, what):
    print(("ok:   " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)


def row(shape, isa, threads, value, unit="GFLOP/s", reduced=False):
    return {"shape": shape, "isa": isa, "threads": threads, "unit": unit, "metric": "gbps" if unit == "GB/s" else
            "gflops", "value": value, "reps": 3, "pct_of_limit": 50.0, "reduced": reduced, "timed_Nq": 512,
            "timed_Nk": 512}


def run_doc(host, model, arch, load, rows, label=None):
    return {"tool": "vecattn-bench", "vecattn_version": "0.1.0", "label": label, "max_threads": 2, "quick": False,
            "machine": {"hostname": host, "cpu_model": model, "arch": arch, "cpus_online": 2},
            "load_avg_start": load, "load_busy_threshold": 0.5, "results": rows}


def plot(args):
    return subprocess.run([sys.executable, PLOT] + args, capture_output=True, text=True, timeout=30)


def texts(path):
    root = ET.parse(path).getroot()  # raises on malformed XML
    return root, " | ".join("".join(t.itertext()) for t in root.iter(SVG + "text"))


with tempfile.TemporaryDirectory() as tmp:
    a, b = os.path.join(tmp, "x86.json"), os.path.join(tmp, "arm.json")
    with open(a, "w") as f:
        json.dump(run_doc("server", "AMD EPYC 9654", "x86_64", 3.2,
                          [row("long", "scalar", 2, 5.0, reduced=True), row("long", "avx512", 2, 290.0),
                           row("decode", "avx512", 2, 40.0, "GB/s")]), f)
    with open(b, "w") as f:
        json.dump(run_doc("board", "Cortex-A76", "aarch64", 0.1,
                          [row("long", "scalar", 2, 3.0), row("long", "neon", 2, 40.0),
                           row("decode", "neon", 2, 9.0, "GB/s")], label="rpi5 after the change"), f)
    out = os.path.join(tmp, "cmp.svg")
    p = plot([a, b, "-o", out])
    check(p.returncode == 0, "two runs: exit 0 (%s)" % p.stderr.strip())
    if p.returncode == 0:
        root, t = texts(out)
        check("AMD EPYC 9654 (x86_64, 2 CPUs) on server" in t, "run A named by the machine in its JSON")
        check("rpi5 after the change" in t and "Cortex-A76" in t, "run B named by its label and machine")
        check("UNDER LOAD" in t and "3.20" in t, "the loaded run says it was taken under load")
        check(t.count("A!") >= 2 and " B " in " %s " % t.replace("|", " "), "bars lettered per run in each panel")
        hatched = [r for r in root.iter(SVG + "rect") if r.get("fill") == "url(#busy)"]
        check(len(hatched) == 3, "the loaded run's 3 bars are hatched (%d)" % len(hatched))
        check(" r" in t and "reduced copy" in t, "the reduced bar is marked and explained")
        check("GFLOP/s" in t and "GB/s" in t, "one panel per unit")
    one = os.path.join(tmp, "one.svg")
    p = plot([b, "-o", one])
    check(p.returncode == 0 and "UNDER LOAD" not in texts(one)[1], "single run, not loaded: no load warning")
    typed = os.path.join(tmp, "typed.json")
    with open(typed, "w") as f:
        json.dump(run_doc("server", "AMD EPYC 9654", "x86_64", 0.1,
                          [row("decode", "avx512", 2, 40.0, "GB/s"),
                           dict(row("decode", "avx512", 2, 41.0, "GB/s"), dtype="f32", kv_dtype="q8_0")]), f)
    p = plot([typed, "-o", one])
    check(p.returncode == 0 and "decode f32/q8_0" in texts(one)[1] and "41.0" in texts(one)[1]
          and "40.0" in texts(one)[1],
          "a typed case is a group of its own, not drawn over the f32 one")
    p = plot([os.path.join(tmp, "missing.json")])
    check(p.returncode != 0 and "cannot read" in p.stderr, "missing input: fails with a message")

if failures:
    sys.exit("%d check(s) failed" % len(failures))
