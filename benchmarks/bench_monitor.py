"""Monitoring a prediction log: ``aggregate`` against a hand-written DuckDB GROUP BY.

    python benchmarks/bench_monitor.py [ROWS] [--dir DIR] [--repeat N]

The log is generated first (default 100,000,000 rows, 30 days, one Parquet file per day,
written with pyarrow one chunk at a time, so generation never holds the log in memory):
timestamp, request_id, model_version (a champion and a shadow: every request is logged once
per version, with the same request id, so each version has half the rows), sex (2 values),
race (5), age_band (5), so 50 intersections, score, prediction (score > 0.5) and outcome
(0 or 1, null on about 30% of the rows: not known yet). A 31st day is written beside them
for the incremental run. The files go to a temporary directory removed at the end, or to
``--dir`` (kept, and reused by the next run with the same ROWS).

Timings in the same run, best of ``--repeat`` (default 3), all for the champion's rows:

* **govern**: ``aggregate(find_logs([...]), LogColumns(...), version=..., versions=...)`` end
  to end over the 30 files: hashing every file, checking the columns and versions, the
  GROUPING SETS scan, the duplicate-request-id scan and the counts collected in Python;
* **floor**: a hand-written DuckDB ``count(*) ... WHERE model_version = ... GROUP BY
  date_trunc('day', timestamp), sex, race, age_band, prediction, outcome`` over the same
  files (the issue's floor, which the budget of 1.5x reads against), and the same query with
  the per-day score histogram (20 fixed bins) added as a second grouping set in the same
  scan: what any implementation storing the same sufficient statistics has to pay; and that
  with a hand-written ``GROUP BY request_id HAVING count(*) > 1`` as well, since a run must
  refuse repeated request ids;
* **peak memory** of ``aggregate`` (and of the floor) in a fresh subprocess each, its
  ``VmHWM`` (Linux; budget 1.5 GB);
* **incremental**: ``aggregate`` of the one new day, against the full run (proportional is
  1/30), and as ``govern monitor run`` pays it today: every file of the glob hashed again
  (``find_logs``), then the one new file aggregated;
* **where the time goes**: each step of ``aggregate`` timed on its own, on a new DuckDB
  connection each time, with DuckDB on 1 thread and on every core; and other ways of finding
  a repeated request id (without the files in the hash table, on a 64-bit hash of the id,
  with a memory limit), each in a fresh process with its time and peak memory.

Prints figures and ratios (the machines are noisy); asserts only that govern and the floor
count the same rows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from govern.formatting import size
from govern.monitor import aggregate as engine
from govern.monitor.logs import LogColumns, find_logs

START = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
DAYS = 30
CHAMPION, SHADOW = "1.0.0", "1.1.0"
VERSIONS = (CHAMPION, SHADOW)
COLUMNS = LogColumns(
    sensitive=("sex", "race", "age_band"),
    score="score",
    outcome="outcome",
    version="model_version",
)
LABELS = {
    "sex": (["female", "male"], [0.45, 0.55]),
    "race": (["white", "black", "asian", "hispanic", "other"], [0.6, 0.13, 0.06, 0.18, 0.03]),
    "age_band": (["18-24", "25-34", "35-44", "45-54", "55+"], [0.15, 0.25, 0.22, 0.2, 0.18]),
}
#: Requests per chunk written (each gives two rows, one per version).
CHUNK = 500_000


def day_file(directory: Path, day: int) -> Path:
    return directory / f"{(START + dt.timedelta(days=day)).date().isoformat()}.parquet"


def write_day(path: Path, day: int, requests: int, first_id: int) -> None:
    """One day of ``requests`` requests, logged once per version, ``CHUNK`` at a time."""
    rng = np.random.default_rng(day)
    start_us = int((START + dt.timedelta(days=day)).timestamp() * 1_000_000)
    chunks = max(1, -(-requests // CHUNK))
    dictionary = {name: pa.array(values) for name, (values, _p) in LABELS.items()}
    versions = pa.array(VERSIONS)
    writer = None
    try:
        for k in range(chunks):
            n = requests // chunks + (k < requests % chunks)
            span = 86_400_000_000 // chunks  # each chunk a slice of the day, so the file is sorted
            stamps = np.sort(rng.integers(k * span, (k + 1) * span, n)) + start_us
            ids = np.arange(first_id, first_id + n)
            first_id += n
            codes = {
                name: rng.choice(len(values), n, p=p).astype(np.int8)
                for name, (values, p) in LABELS.items()
            }
            # group-dependent scores, so rates differ between groups; the shadow's are near them
            base = 0.1 * codes["sex"] - 0.04 * codes["race"] + 0.03 * codes["age_band"]
            champion = 1 / (1 + np.exp(-(rng.normal(0, 1.2, n) + base)))
            shadow = np.clip(champion + rng.normal(0, 0.05, n), 0, 1)
            known = rng.random(n) >= 0.3
            outcome = pa.array((rng.random(n) < champion).astype(np.int8), mask=~known)
            request_id = pc.binary_join_element_wise("r", pc.cast(pa.array(ids), pa.string()), "")
            halves = []
            for index, score in enumerate((champion, shadow)):
                halves.append(
                    pa.table(
                        {
                            "timestamp": pa.array(stamps, pa.timestamp("us", tz="UTC")),
                            "request_id": request_id,
                            "model_version": pa.DictionaryArray.from_arrays(
                                pa.array(np.full(n, index, np.int8)), versions
                            ),
                            **{
                                name: pa.DictionaryArray.from_arrays(
                                    pa.array(codes[name]), dictionary[name]
                                )
                                for name in LABELS
                            },
                            "score": pa.array(score),
                            "prediction": pa.array((score > 0.5).astype(np.int8)),
                            "outcome": outcome,
                        }
                    )
                )
            table = pa.concat_tables(halves)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


def generate(directory: Path, rows: int) -> tuple[list[Path], Path]:
    """The 30 days of ``rows`` rows and the new 31st day; reused if ``directory`` has them."""
    manifest = directory / "manifest.json"
    days = [day_file(directory, d) for d in range(DAYS)]
    new = day_file(directory, DAYS)
    if manifest.exists() and json.loads(manifest.read_text()) == {"rows": rows}:
        return days, new
    directory.mkdir(parents=True, exist_ok=True)
    manifest.unlink(missing_ok=True)
    requests = rows // 2
    first_id = 0
    for d, path in enumerate([*days, new]):
        share = requests // DAYS + (d < requests % DAYS) if d < DAYS else requests // DAYS
        write_day(path, d, share, first_id)
        first_id += share
    manifest.write_text(json.dumps({"rows": rows}))
    return days, new


def run_aggregate(paths: list[Path]) -> engine.Aggregate:
    logs = find_logs([str(p) for p in paths])
    return engine.aggregate(logs, COLUMNS, version=CHAMPION, versions=VERSIONS)


def connect(threads: int | None = None) -> Any:
    import duckdb

    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    if threads is not None:
        connection.execute(f"SET threads = {threads}")
    return connection


def floor(paths: list[Path], *, scores: bool, duplicates: bool = False) -> list[Any]:
    """The hand-written GROUP BY over the same files.

    With ``scores``, the score bins as a second grouping set; with ``duplicates``, a second
    query finding a repeated request id, as the checks of a monitoring run require.
    """
    files = "[" + ", ".join(f"'{p}'" for p in paths) + "]"
    cells = "day, sex, race, age_band, prediction, outcome"
    bins = engine.SCORE_BINS
    score_bin = f"least(greatest(CAST(floor(score * {bins}) AS INTEGER), 0), {bins - 1})"
    picked = f"{cells}, {score_bin} AS bin" if scores else cells
    groups = f"GROUPING SETS (({cells}), (day, bin))" if scores else cells
    connection = connect()
    try:
        if duplicates:
            repeated = connection.execute(
                f"SELECT request_id FROM read_parquet({files}) WHERE model_version = "
                f"'{CHAMPION}' GROUP BY request_id HAVING count(*) > 1 LIMIT 1"
            ).fetchall()
            assert not repeated, repeated
        return connection.execute(  # type: ignore[no-any-return]
            f"""
            SELECT {picked}, count(*) AS n
            FROM (
                SELECT *, date_trunc('day', timestamp) AS day FROM read_parquet({files})
                WHERE model_version = '{CHAMPION}'
            )
            GROUP BY {groups}
            """
        ).fetchall()
    finally:
        connection.close()


def best(function: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """Best wall and best CPU seconds (every thread of this process) of ``repeat`` runs."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = function()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus), result


#: Ways of finding a repeated request id, for the duplicate check (``--child dup:NAME``).
DUPLICATES = {
    "as aggregate does it (GROUP BY the id, first and last file kept)": "current",
    "  the same, DuckDB on 1 thread": "current-1",
    "without min/max(file) (looked up only once one repeats)": "nofile",
    "GROUP BY hash(id) (a repeated hash then checked on the ids)": "hash",
    "  the same with SET memory_limit = '500MB' (spills past it)": "hash-limited",
}


def duplicates(kind: str, directory: Path) -> None:
    """One way of finding a repeated request id in the 30 days, as the child runs it."""
    logs = find_logs([str(day_file(directory, d)) for d in range(DAYS)])
    source = engine._source(logs, COLUMNS)
    where = f"WHERE CAST(_version AS VARCHAR) = '{CHAMPION}'"
    connection = connect(1 if kind == "current-1" else None)
    if kind == "hash-limited":
        connection.execute("SET memory_limit = '500MB'")
    if kind.startswith("current"):
        engine._check_request_ids(connection, source, where)
    elif kind == "nofile":
        connection.execute(
            f"SELECT _rid FROM {source} {where} GROUP BY _rid HAVING count(*) > 1 LIMIT 1"
        ).fetchall()
    else:
        connection.execute(
            f"SELECT hash(_rid) AS h FROM {source} {where} GROUP BY h HAVING count(*) > 1 LIMIT 1"
        ).fetchall()
    connection.close()


def in_process(what: str, directory: Path) -> tuple[float, int]:
    """Wall seconds and peak resident set size in bytes of ``what`` in a fresh process.

    The child reports its own ``VmHWM``: ``ru_maxrss`` of a child started from this process
    would include this process's own size, inherited through fork and exec.
    """
    done = subprocess.run(
        [sys.executable, __file__, "--child", what, str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"the {what} subprocess failed: {done.stderr[-2000:]}")
    seconds, peak = done.stdout.split()[-2:]
    return float(seconds), int(peak)


def child(what: str, directory: Path) -> None:
    days = [day_file(directory, d) for d in range(DAYS)]
    connect().close()  # duckdb imported before the clock starts
    start = time.perf_counter()
    if what == "aggregate":
        run_aggregate(days)
    elif what == "floor":
        floor(days, scores=True)
    elif what.startswith("dup:"):
        duplicates(what.removeprefix("dup:"), directory)
    status = Path("/proc/self/status").read_text()
    peak = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    print(time.perf_counter() - start, int(peak.split()[1]) * 1024)


def fresh(step: Callable[[Any], Any], threads: int | None) -> None:
    connection = connect(threads)
    try:
        step(connection)
    finally:
        connection.close()


def parts(paths: list[Path], repeat: int) -> list[tuple[str, float, float]]:
    """Each step of ``aggregate`` alone: (step, seconds on 1 thread, seconds on every core)."""
    hashing, _cpu, logs = best(lambda: find_logs([str(p) for p in paths]), repeat)
    source = engine._source(logs, COLUMNS)
    where = f"WHERE CAST(_version AS VARCHAR) = '{CHAMPION}'"
    rows = engine._scan(connect(), source, COLUMNS, where)

    def described(connection: Any) -> None:
        for log in logs:
            engine._check_columns(connection, log, COLUMNS)

    steps: list[tuple[str, Callable[[Any], Any]]] = [
        ("columns checked (DESCRIBE each file)", described),
        (
            "versions checked (a scan)",
            lambda c: engine._check_versions(c, source, COLUMNS, CHAMPION, VERSIONS),
        ),
        ("GROUPING SETS scan", lambda c: engine._scan(c, source, COLUMNS, where)),
        ("duplicate request ids (a scan)", lambda c: engine._check_request_ids(c, source, where)),
    ]
    found = [("hashing every file (find_logs)", hashing, hashing)]
    for name, step in steps:
        timed = []
        for threads in (1, None):
            # a new connection each time, as aggregate makes one: a reused one keeps the memory
            # of the previous run, and the first run pays the page faults of a large hash table
            timed.append(best(lambda: fresh(step, threads), repeat)[0])  # noqa: B023
        found.append((name, timed[0], timed[1]))
    collected, _cpu, _ = best(lambda: engine._collect(rows, COLUMNS, logs, 0), repeat)
    found.append((f"counts collected in Python ({len(rows):,} rows)", collected, collected))
    return found


def main(rows: int, directory: Path, repeat: int) -> None:
    start = time.perf_counter()
    days, new = generate(directory, rows)
    made = time.perf_counter() - start
    stored = sum(p.stat().st_size for p in days)
    ids = rows // 2  # request ids of the checked version
    print(
        f"prediction log: {rows:,} rows in {DAYS} Parquet files ({size(stored)}), 2 versions, "
        f"3 sensitive features (50 intersections); {ids:,} rows per version "
        f"(generated or found in {made:.1f} s)"
    )
    cores = os.cpu_count()
    print(f"DuckDB threads: every core ({cores}) unless said; best of {repeat}; wall and CPU s")
    run_aggregate(days[:1])  # imports and DuckDB's start, outside the timings
    floor_s, floor_cpu, cells = best(lambda: floor(days, scores=False), repeat)
    scored_s, scored_cpu, _ = best(lambda: floor(days, scores=True), repeat)
    checked_s, checked_cpu, _ = best(lambda: floor(days, scores=True, duplicates=True), repeat)
    govern_s, govern_cpu, result = best(lambda: run_aggregate(days), repeat)
    counted = sum(d.rows for d in result.days.values())
    assert counted == sum(row[-1] for row in cells), "govern and the floor count differently"
    line = "{:<62} {:7.2f} s {:7.2f} s"
    print(line.format("floor: GROUP BY day, sex, race, age_band, prediction, outcome", floor_s,
                      floor_cpu))  # fmt: skip
    print(line.format("floor with the score histogram (grouping sets)", scored_s, scored_cpu))
    print(line.format("  and a GROUP BY request_id for repeated ids", checked_s, checked_cpu))
    print(
        line.format("govern aggregate(find_logs(...)) end to end", govern_s, govern_cpu)
        + f"  ({counted:,} rows counted, {result.other_versions:,} of the shadow left out)"
    )
    print(
        f"ratio govern / floor: {govern_s / floor_s:.2f}x (budget 1.5x; CPU "
        f"{govern_cpu / floor_cpu:.2f}x); / floor with the score histogram: "
        f"{govern_s / scored_s:.2f}x (CPU {govern_cpu / scored_cpu:.2f}x); / floor with both "
        f"and the duplicate ids: {govern_s / checked_s:.2f}x (CPU {govern_cpu / checked_cpu:.2f}x)"
    )

    _, bare_rss = in_process("imports", directory)
    _, floor_rss = in_process("floor", directory)
    govern_wall, govern_rss = in_process("aggregate", directory)
    per_million = (govern_rss - floor_rss) / (ids / 1e6)
    print(
        f"peak memory: govern aggregate {size(govern_rss)} ({govern_rss / 1.5e9:.2f}x the "
        f"budget of 1.5 GB; {govern_wall:.2f} s in its process), floor {size(floor_rss)}, "
        f"imports alone {size(bare_rss)}"
    )
    if ids >= 1_000_000:  # below, fixed costs swamp what grows with the ids
        print(
            f"  govern - floor: {size(per_million)} per million request ids of the version; "
            f"at 100,000,000 rows (50,000,000 ids) about "
            f"{size(floor_rss + per_million * 50)} (extrapolated linearly)"
        )

    one_s, _cpu, _ = best(lambda: run_aggregate([new]), repeat)
    rehashed_s, _cpu, _ = best(
        lambda: engine.aggregate(
            [log for log in find_logs([str(p) for p in [*days, new]]) if log.path == new],
            COLUMNS,
            version=CHAMPION,
            versions=VERSIONS,
        ),
        repeat,
    )
    print(
        f"incremental: one new day {one_s:.2f} s; ratio one day / full run: "
        f"{one_s / govern_s:.4f} (proportional 1/{DAYS} = {1 / DAYS:.4f}: "
        f"{one_s / govern_s * DAYS:.2f}x proportional)"
    )
    print(
        f"  as `monitor run --logs GLOB` pays it (all {DAYS + 1} files hashed, one counted): "
        f"{rehashed_s:.2f} s, {rehashed_s / govern_s * DAYS:.2f}x proportional"
    )

    print(f"where the time goes ({DAYS} files)              1 thread  {cores} threads  of govern")
    for name, one, every in parts(days, repeat):
        print(f"  {name:<46} {one:7.2f} s  {every:7.2f} s  {every / govern_s:6.0%}")
    print("the duplicate-id check, other ways (a fresh process each, one run)")
    for name, kind in DUPLICATES.items():
        seconds, peak = in_process(f"dup:{kind}", directory)
        print(f"  {name:<66} {seconds:7.2f} s  peak {size(peak)}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], Path(sys.argv[3]))
        raise SystemExit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", nargs="?", type=int, default=100_000_000)
    parser.add_argument("--dir", type=Path, help="where the log is written, and kept")
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    if options.dir is not None:
        main(options.rows, options.dir, options.repeat)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-monitor-") as temporary:
            main(options.rows, Path(temporary), options.repeat)
