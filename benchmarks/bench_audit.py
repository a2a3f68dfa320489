"""Audit log: appends through the service layer, then verification of the whole chain.

Appends go through what every use case uses: ``Context.write`` + ``tx.audit``, one
transaction per event, on a SQLite file (WAL, synchronous=FULL). Verification is timed for
the service call and for a real `govern audit verify` process, and compared with hashing the
very same bytes with hashlib alone. Run with ``.venv/bin/python benchmarks/bench_audit.py
[EVENTS]`` (default 100,000; about a minute).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from govern.services import Context, catalogue
from govern.services import audit as audit_service
from govern.storage.audit import event_body


def append_events(ctx: Context, count: int) -> float:
    started = time.perf_counter()
    for index in range(count):
        with ctx.write("bench.event", f"bench@{index % 100}.0.0") as tx:
            tx.audit(index=index, note="benchmark event", values=[index, index * 2])
    return time.perf_counter() - started


def hashing_floor(path: Path) -> tuple[float, int]:
    """Seconds to SHA-256 exactly the bytes verification hashes, already in memory."""
    conn = sqlite3.connect(path)
    rows = conn.execute(
        "SELECT seq, ts, actor, action, subject, payload, prev_hash FROM audit_event ORDER BY seq"
    ).fetchall()
    conn.close()
    blobs = [
        (prev + event_body(seq, ts, actor, action, subject, payload)).encode("utf-8")
        for seq, ts, actor, action, subject, payload, prev in rows
    ]
    sha256 = hashlib.sha256
    started = time.perf_counter()
    for blob in blobs:
        sha256(blob).hexdigest()
    return time.perf_counter() - started, sum(len(b) for b in blobs)


def raw_read_and_hash(path: Path) -> float:
    """What reading the rows with sqlite3 and hashing them costs, without govern's layers."""
    started = time.perf_counter()
    conn = sqlite3.connect(path)
    prev = "0" * 64
    sha256 = hashlib.sha256
    for seq, ts, actor, action, subject, payload in conn.execute(
        "SELECT seq, ts, actor, action, subject, payload FROM audit_event ORDER BY seq"
    ):
        prev = sha256(
            (prev + event_body(seq, ts, actor, action, subject, payload)).encode("utf-8")
        ).hexdigest()
    conn.close()
    return time.perf_counter() - started


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        os.environ["GOVERN_HOME"] = str(Path(tmp) / "home")
        url = f"sqlite:///{path}"
        ctx = Context.open(database_url=url, user="bench")
        catalogue.init_catalogue(ctx)

        seconds = append_events(ctx, count)
        print(f"append: {count:,} events, one transaction each, in {seconds:.1f} s")
        print(f"  {count / seconds:,.0f} events/s ({seconds / count * 1e6:.0f} µs per event)")

        started = time.perf_counter()
        verdict = audit_service.verify_audit(ctx)
        verify_s = time.perf_counter() - started
        assert verdict.ok and verdict.events == count + 2, verdict
        ctx.close()

        env = {**os.environ, "GOVERN_DATABASE_URL": url, "GOVERN_USER": "bench"}
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "govern", "audit", "verify"],
            check=True,
            capture_output=True,
            env=env,
        )
        process_s = time.perf_counter() - started
        floor_s, size = hashing_floor(path)

        read_s = raw_read_and_hash(path)
        print(f"verify: {verdict.events:,} events, {size / 1e6:.1f} MB hashed")
        for label, spent in (
            ("hashlib alone on the same bytes", floor_s),
            ("raw sqlite3 read + hashlib (reference)", read_s),
            ("verify_audit (service call)", verify_s),
            ("`govern audit verify` (whole process)", process_s),
        ):
            print(f"  {label:<40} {spent * 1000:8.1f} ms   x{spent / floor_s:6.1f}")


if __name__ == "__main__":
    main()
