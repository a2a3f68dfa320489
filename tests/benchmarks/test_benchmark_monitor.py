"""The monitoring benchmark runs end to end at a tiny size, as ``make bench`` runs it: it writes
its 30 days of Parquet logs with pyarrow, checks that govern's ``aggregate`` counts exactly the
rows the hand-written DuckDB GROUP BY counts (else it exits 1), and prints the ratio lines the
full-size run is read by."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
NUMBER = r"[\d,]+\.?\d*"
SIZE = rf"{NUMBER} (?:B|KiB|MiB|GiB)"


def test_monitor_benchmark_counts_what_the_floor_counts_and_prints_its_ratios():
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_monitor.py"), "20000", "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, (done.stdout, done.stderr[-4000:])
    assert "Traceback" not in done.stderr, done.stderr[-4000:]
    out = done.stdout
    assert "prediction log: 20,000 rows in 30 Parquet files" in out, out
    assert re.search(r"\(10,000 rows counted, 10,000 of the shadow left out\)", out), out
    assert re.search(
        rf"ratio govern / floor: {NUMBER}x \(budget 1\.5x; CPU {NUMBER}x\); / floor with the "
        rf"score histogram: {NUMBER}x \(CPU {NUMBER}x\); / floor with both and the duplicate "
        rf"ids: {NUMBER}x \(CPU {NUMBER}x\)",
        out,
    ), out
    assert re.search(
        rf"peak memory: govern aggregate {SIZE} \({NUMBER}x the budget of 1\.5 GB; {NUMBER} s "
        rf"in its process\), floor {SIZE}, imports alone {SIZE}",
        out,
    ), out
    assert re.search(
        rf"incremental: one new day {NUMBER} s; ratio one day / full run: {NUMBER} "
        rf"\(proportional 1/30 = 0\.0333: {NUMBER}x proportional\)",
        out,
    ), out
    assert re.search(rf"all 31 files hashed, one counted\): {NUMBER} s, {NUMBER}x", out), out
    for part in (
        r"hashing every file \(find_logs\)",
        r"versions checked \(a scan\)",
        r"GROUPING SETS scan",
        r"duplicate request ids \(a scan\)",
        r"counts collected in Python",
    ):
        assert re.search(rf"{part}.*\s{NUMBER} s\s+{NUMBER} s\s+{NUMBER}%\n", out), part
    assert len(re.findall(rf"\s{NUMBER} s  peak {SIZE}\n", out)) == 5, out
