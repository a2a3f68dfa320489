"""The audit-verification and decision-signing benchmarks run end to end at a tiny size.

Each runs as a real process, as ``make bench`` runs it: it builds its catalogue with real keys,
asserts its own results (``audit verify`` says ok on the fabricated log, incremental
verification counts the events after each checkpoint), and prints the ratio lines that the
full-size runs are read by.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
NUMBER = r"[\d,]+\.?\d*"


def run(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Traceback" not in done.stderr, done.stderr[-4000:]
    return done.stdout


def test_audit_benchmark_verifies_300_events_and_prints_its_ratios():
    out = run("bench_audit.py", "300", "--after", "30,100", "--repeat", "1", "--no-reference")

    assert re.search(r"built: 300 events \(\d+ signed with ecdsa-p256.*`audit verify` says ok", out)
    for label in (
        r"bare interpreter \(python -c pass\)",
        r"hashlib: SHA-256 of the bodies",
        r"cryptography: verify every signature, 1 process",
        r"personal_keys\.verify_many \(process pool\)",
        r"verify_audit \(in process\)",
        r"`govern audit verify` \(whole process\)",
    ):
        assert re.search(rf"{label}.*\s{NUMBER}\s+{NUMBER}x\s+{NUMBER}x\s+{NUMBER}\n", out), label
    assert re.search(rf"budget `audit verify` 300 events: .*\({NUMBER}x budget", out)
    assert re.search(rf"on \d+ idle cores it would take about {NUMBER} s \({NUMBER}x budget", out)
    assert re.search(r"reconcile the tables \(ledger\.compare\)\s+" + NUMBER, out)
    for after in (30, 100):
        assert re.search(
            rf"{after} events after it: in process {NUMBER} s \({NUMBER} µs per event, full "
            rf"verify {NUMBER}; {NUMBER}x the full verify .*: {NUMBER}x proportional\); "
            rf"process {NUMBER} s",
            out,
        ), after


def test_signing_benchmark_times_decisions_and_prints_its_ratios():
    out = run("bench_signing.py", "10", "--raw", "100")

    assert re.search(rf"both\s+median\s+{NUMBER} ms\s+best\s+{NUMBER} ms", out)
    for label in ("audit.event_body", "personal_keys.sign", "crud.get_key", "personal_keys.verify"):
        assert re.search(rf"\({re.escape(label)}\)\s+x{NUMBER}\s+{NUMBER} ms \|\s+{NUMBER} ms", out)
    assert re.search(rf"budget signing a decision: {NUMBER} ms of 5 ms \({NUMBER}x budget", out)
    assert re.search(rf"budget call / \(call - signing\): .* = {NUMBER}x; .* of 1\.2x: ", out)
    for primitive in ("ecdsa-p256 sign", "ecdsa-p256 verify", "ed25519 sign", "ed25519 verify"):
        assert re.search(rf"{primitive}\s+{NUMBER} µs", out), primitive
    assert re.search(rf"ratio ed25519 / ecdsa-p256: sign {NUMBER}x, verify {NUMBER}x", out)
