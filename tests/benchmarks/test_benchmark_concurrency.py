"""The concurrent-writers benchmark runs end to end at a tiny size, as ``make bench`` runs it:
real writer and reader processes on a new SQLite catalogue; it checks its own results (no failed
call, nothing lost, ``verify_audit`` ok, else it exits 1) and prints the ratio lines the
full-size run is read by."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
NUMBER = r"[\d,]+\.?\d*"


def test_concurrency_benchmark_loses_nothing_and_prints_its_ratios():
    done = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / "bench_concurrency.py"),
            *("--writers", "3", "--ops", "8", "--readers", "1"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, (done.stdout, done.stderr[-4000:])
    assert "Traceback" not in done.stderr, done.stderr[-4000:]
    out = done.stdout
    assert re.search(rf"one writer\s+{NUMBER}(\s+{NUMBER}){{3}}\n", out), out
    assert re.search(rf"3 writers \+ 1 readers\s+{NUMBER}(\s+{NUMBER}){{3}}\n", out), out
    assert re.search(
        rf"ratio throughput contended / one writer: {NUMBER}x; worst latency contended / one "
        rf"writer's worst: {NUMBER}x, / one writer's median: {NUMBER}x; worst / \(3 x one "
        rf"writer's median\): {NUMBER}x",
        out,
    ), out
    assert re.search(
        rf"readers: [1-9]\d* reads while the writers ran, median {NUMBER} ms, 0 failed", out
    ), out
    assert (
        "lost: 0 failed calls, 0 decisions missing, 0 events missing, 0 refusals; "
        "verify_audit ok" in out
    ), out
