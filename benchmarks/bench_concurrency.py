"""Concurrent writers: throughput and the worst latency under contention, as ratios to one writer.

A catalogue made with the services (an admin, alice the developer and bob the validator, each
with a personal key enrolled; one version registered from the sample card per writer, and one
for the single writer). Each writer is a process of its own that alternates
``workflow.submit`` by alice and ``workflow.request_changes`` by bob on its own version, OPS
times: every call takes the catalogue's write lock, checks roles and the state machine, writes
a decision and appends one signed event. Reader processes list the versions and count the
events in a loop while the writers run (WAL readers must not hold the writers up).

Measured in the same run:

* one writer alone, OPS calls: calls per second, median and worst latency;
* WRITERS writers at once plus READERS readers: calls per second, median, 99th percentile and
  worst latency, and the ratios of these to the single writer. With the writes serialized by
  the lock, a fair queue gives each call about WRITERS times the single writer's median as
  its worst wait; ``worst / (writers x single median)`` says how far from that it was;
* what was lost: failures of any call (a "database is locked" after the lock-wait limit
  would be one), decisions missing from the catalogue, events missing or extra, refusals,
  and whether ``verify_audit`` says ok.

Run with ``.venv/bin/python benchmarks/bench_concurrency.py [--writers 8] [--ops 250]
[--readers 2] [--db URL]`` (default 8 x 250 + 2 readers on a new SQLite file; about a minute
or two on 2 cores). ``--db`` takes an empty database (e.g. a PostgreSQL one) instead.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SAMPLE_CARD = REPO / "sample_data" / "credit-risk-1.0.0.card.yaml"
NAME = "credit-risk"
SOLO = 999
#: Calls each writer makes before the clock starts (an even number: a version ends a round
#: where it began).
WARM_UP = 2


@dataclass
class Outcome:
    """What one process did: seconds per call, and the failures by message."""

    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def person(url: str, root: Path, name: str) -> Any:
    from govern.config import load_settings
    from govern.services import Context

    return Context(
        load_settings(
            database_url=url, user=name, home=root / name, key_dir=root / name / "identity"
        )
    )


def writer(url: str, root: Path, index: int, ops: int, ready: Any, start: Any, out: Any) -> None:
    """Alternate submit (alice) and request_changes (bob) on version 1.0.INDEX."""
    from govern.services import workflow

    alice, bob = person(url, root, "alice"), person(url, root, "bob")
    ref = f"{NAME}@1.0.{index}"
    outcome = Outcome()

    def call(op: int) -> None:
        started = time.perf_counter()
        try:
            if op % 2 == 0:
                workflow.submit(alice, ref, comment=f"round {op}")
            else:
                workflow.request_changes(bob, ref, comment=f"round {op}")
        except Exception as exc:  # every failure is counted, whatever it is
            outcome.failures.append(f"{type(exc).__name__}: {exc}".splitlines()[0])
        outcome.latencies.append(time.perf_counter() - started)

    # Warm up (imports, caches, keys) before the clock starts: WARM_UP calls, not timed.
    for op in range(WARM_UP):
        call(op)
    outcome.latencies.clear()
    ready.put(index)
    start.wait()
    for op in range(WARM_UP, WARM_UP + ops):
        call(op)
    alice.close()
    bob.close()
    out.put(outcome)


def reader(url: str, root: Path, ready: Any, start: Any, stop: Any, out: Any) -> None:
    """List the versions and count the events until the writers are done."""
    from govern.services import audit, catalogue

    ctx = person(url, root, "admin")
    catalogue.list_versions(ctx)
    outcome = Outcome()
    ready.put(-1)
    start.wait()
    while not stop.is_set():
        started = time.perf_counter()
        try:
            catalogue.list_versions(ctx)
            audit.count_events(ctx)
        except Exception as exc:
            outcome.failures.append(f"{type(exc).__name__}: {exc}".splitlines()[0])
        outcome.latencies.append(time.perf_counter() - started)
    ctx.close()
    out.put(outcome)


def run(
    url: str, root: Path, indices: list[int], ops: int, readers: int
) -> tuple[float, list[Outcome], list[Outcome]]:
    """Wall seconds of the writers, and each writer's and reader's outcome."""
    spawn = multiprocessing.get_context("spawn")
    start, stop, ready, out = spawn.Event(), spawn.Event(), spawn.Queue(), spawn.Queue()
    writers = [
        spawn.Process(target=writer, args=(url, root, i, ops, ready, start, out)) for i in indices
    ]
    others = [
        spawn.Process(target=reader, args=(url, root, ready, start, stop, out))
        for _ in range(readers)
    ]
    for process in writers + others:
        process.start()
    # Every process imports govern and opens the catalogue first: the clock is about writes.
    for _ in writers + others:
        ready.get(timeout=120)
    started = time.perf_counter()
    start.set()
    results = [out.get() for _ in writers]
    wall = time.perf_counter() - started
    stop.set()
    results += [out.get() for _ in others]
    for process in writers + others:
        process.join()
        if process.exitcode != 0:
            raise SystemExit(f"a benchmark process exited with {process.exitcode}")
    return wall, results[: len(writers)], results[len(writers) :]


def build(url: str, root: Path, versions: list[int]) -> None:
    from govern import personal_keys
    from govern.services import catalogue, users

    for name in ("admin", "alice", "bob"):
        personal_keys.create(root / name / "identity", passphrase=None)
    admin = person(url, root, "admin")
    catalogue.init_catalogue(admin)
    for name, role in (("alice", "developer"), ("bob", "validator")):
        users.add_user(admin, name, role=role, key=root / name / "identity" / "identity.pub.pem")
    alice = person(url, root, "alice")
    text = SAMPLE_CARD.read_text(encoding="utf-8")
    for index in versions:
        card = root / f"card-{index}.yaml"
        card.write_text(text.replace("version: 1.0.0", f"version: 1.0.{index}", 1))
        catalogue.register_version(alice, card)
    admin.close()
    alice.close()


def check(url: str, root: Path, expected: dict[int, int]) -> tuple[int, int, int, bool, str]:
    """Decisions missing, events missing (or extra, negative), refusals, verify ok, problem."""
    from sqlalchemy import text

    from govern.services import audit

    ctx = person(url, root, "admin")
    missing = 0
    with ctx.read() as session:
        conn = session.connection()
        for index, count in expected.items():
            found = conn.execute(
                text(
                    "SELECT count(*) FROM decision d JOIN model_version v ON v.id = d.version_id "
                    "WHERE v.version = :version AND d.action IN ('submit', 'request_changes')"
                ),
                {"version": f"1.0.{index}"},
            ).scalar_one()
            missing += count - found
        events = conn.execute(
            text(
                "SELECT count(*) FROM audit_event "
                "WHERE action IN ('version.submit', 'version.request_changes')"
            )
        ).scalar_one()
        refused = conn.execute(
            text("SELECT count(*) FROM audit_event WHERE action LIKE '%.refused'")
        ).scalar_one()
    verdict = audit.verify_audit(ctx)
    ctx.close()
    problem = verdict.problems[0] if verdict.problems else ""
    return missing, sum(expected.values()) - events, refused, verdict.ok, str(problem)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--ops", type=int, default=250, help="calls per writer")
    parser.add_argument("--readers", type=int, default=2)
    parser.add_argument("--db", default="", help="an empty database (default: a new SQLite file)")
    args = parser.parse_args()
    for name in [n for n in os.environ if n.startswith("GOVERN_")]:
        del os.environ[name]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["GOVERN_HOME"] = str(root / "home")
        url = args.db or f"sqlite:///{root / 'govern.db'}"
        indices = list(range(args.writers))
        try:
            build(url, root, [SOLO, *indices])
            solo_wall, (solo,), _ = run(url, root, [SOLO], args.ops, 0)
            wall, writers, readers = run(url, root, indices, args.ops, args.readers)
            calls = args.ops + WARM_UP
            lost = check(url, root, {SOLO: calls} | dict.fromkeys(indices, calls))
        except Exception:
            traceback.print_exc()
            raise SystemExit(1) from None

    backend = "PostgreSQL" if url.startswith("postgres") else "SQLite (WAL, synchronous=FULL)"
    calls = args.writers * args.ops
    latencies = [s for w in writers for s in w.latencies]
    failures = [f for w in writers for f in w.failures]
    read_failures = [f for r in readers for f in r.failures]
    reads = sum(len(r.latencies) for r in readers)
    solo_rate, rate = args.ops / solo_wall, calls / wall
    solo_median, solo_worst = statistics.median(solo.latencies), max(solo.latencies)
    median, p99, worst = statistics.median(latencies), quantile(latencies, 0.99), max(latencies)
    print(
        f"{backend}: {args.writers} writers x {args.ops} calls (submit / request_changes, "
        f"each its own process) + {args.readers} readers; one writer alone: {args.ops} calls"
    )
    print(f"  {'':<28} {'calls/s':>9} {'median ms':>10} {'p99 ms':>9} {'worst ms':>9}")
    print(
        f"  {'one writer':<28} {solo_rate:9.1f} {solo_median * 1e3:10.1f} "
        f"{quantile(solo.latencies, 0.99) * 1e3:9.1f} {solo_worst * 1e3:9.1f}"
    )
    print(
        f"  {f'{args.writers} writers + {args.readers} readers':<28} {rate:9.1f} "
        f"{median * 1e3:10.1f} {p99 * 1e3:9.1f} {worst * 1e3:9.1f}"
    )
    print(
        f"ratio throughput contended / one writer: {rate / solo_rate:.2f}x; worst latency "
        f"contended / one writer's worst: {worst / solo_worst:.1f}x, / one writer's median: "
        f"{worst / solo_median:.1f}x; worst / ({args.writers} x one writer's median): "
        f"{worst / (args.writers * solo_median):.1f}x"
    )
    print(
        f"readers: {reads} reads while the writers ran, median "
        f"{statistics.median([s for r in readers for s in r.latencies] or [0.0]) * 1e3:.1f} ms, "
        f"{len(read_failures)} failed"
    )
    missing, events, refused, ok, problem = lost
    print(
        f"lost: {len(failures) + len(solo.failures)} failed calls, {missing} decisions missing, "
        f"{events} events missing, {refused} refusals; verify_audit "
        f"{'ok' if ok else 'FAILED: ' + problem}"
    )
    for message in sorted(set(failures + solo.failures + read_failures))[:5]:
        print(f"  failure: {message}")
    if failures or solo.failures or read_failures or missing or events or refused or not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
