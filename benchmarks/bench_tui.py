"""The console at scale: time to first paint of the catalogue with 10,000 versions and of the
audit view with 1,000,000 events.

Builds the catalogues fast with the storage layer's Core inserts, then runs the real app
headless at 120x40 and reads the milestones it records (``GovernApp.timings``). The audit
events are what govern stores (format 2: the canonical body ``audit.event_body``, hash-chained,
each signed with the personal key enrolled to its actor), so rows and pages are their real size;
the version rows are not backed by events, so `govern audit verify` would name them (this
benchmark measures the console, not the log). Baselines measured in
the same run: the same app on a tiny catalogue (the floor: Textual start-up and one query),
and Textual's own DataTable mounting the same 10,000 rows (what the virtual table avoids).

The tiny catalogue has 20 versions and 1,000 events (five pages, so paging is measured on
both). Run with ``.venv/bin/python benchmarks/bench_tui.py [VERSIONS] [EVENTS]`` (defaults
10,000 and 1,000,000; about a minute, most of it building the catalogue).

Quit time: ``benchmarks/bench_tui.py --quit`` (also run at the end of the full benchmark) starts
the real app in a pseudo-terminal on a small evaluated and checked catalogue, opens each screen,
waits until it has loaded, sends ctrl+q and times until the process has exited; a bare Textual
app, measured the same way in the same run, is the baseline. The budget is 2x the baseline
from every screen.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from govern import personal_keys
from govern.config import load_settings
from govern.services import Context, catalogue, users
from govern.storage import audit, crud
from govern.storage.tables import AuditEvent, Model, ModelVersion
from govern.tui.app import make_app, run_and_exit

SIZE = (120, 40)
#: Each app run is repeated and the median kept: the machines are noisy.
REPEATS = 3
STATES = ("draft", "submitted", "approved", "deployed", "retired", "rejected", "shadow")
TIERS = ("low", "medium", "high", "critical")
CARD: dict[str, Any] = {
    "schema": 1,
    "model_details": {"name": "m", "version": "1.0.0", "description": "bench"},
    "intended_use": {"primary_uses": ["benchmarking"]},
    "governance": {"owner": "bench", "risk_tier": "low"},
}


ACTORS = (
    ("alice", "developer"),
    ("bob", "validator"),
    ("carol", "approver"),
    ("dave", "compliance"),
)


def home_of(directory: Path, user: str) -> Path:
    """``user``'s home, with a personal key (no passphrase) in ``identity``."""
    home = directory / "people" / user
    if not personal_keys.exists(home / "identity"):
        personal_keys.create(home / "identity", passphrase=None)
    return home


def build(directory: Path, versions: int, events: int) -> str:
    """A catalogue with ``versions`` versions (10 per model) and ``events`` audit events."""
    url = f"sqlite:///{directory / 'govern.db'}"
    admin = Context(load_settings(database_url=url, user="admin", home=home_of(directory, "admin")))
    catalogue.init_catalogue(admin)
    signers = []
    for name, role in ACTORS:
        home = home_of(directory, name)
        users.add_user(admin, name, role=role, key=home / "identity" / "identity.pub.pem")
        key = personal_keys.load(home / "identity", passphrase=None)
        signers.append((name, key.fingerprint, key.sign))
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    with admin.db.write() as session:
        conn = session.connection()
        models = [
            {
                "name": f"model-{i:05d}",
                "owner": f"owner{i % 37}",
                "business_owner": "",
                "business_unit": f"unit {i % 11}",
                "description": "",
                "created_at": now,
                "created_by": "bench",
            }
            for i in range((versions + 9) // 10)
        ]
        conn.execute(insert(Model.__table__), models)  # type: ignore[attr-defined]
        rows = []
        for index in range(versions):
            rows.append(
                {
                    "model_id": index // 10 + 1,
                    "version": f"1.{index % 10}.0",
                    "state": STATES[index % len(STATES)],
                    "risk_tier": TIERS[index % len(TIERS)],
                    "card": CARD,
                    "card_sha256": "0" * 64,
                    "next_validation_due": dt.date(2027, 1, 1) + dt.timedelta(days=index % 365),
                    "created_at": now,
                    "created_by": "bench",
                    "updated_at": now,
                }
            )
        conn.execute(insert(ModelVersion.__table__), rows)  # type: ignore[attr-defined]
        seq, prev = audit.head(conn)
        catalogue_id = crud.get_meta(session=session, key="catalogue_id") or ""
        revision = crud.latest_settings_revision(session=session)
        table = AuditEvent.__table__  # type: ignore[attr-defined]
        batch: list[dict[str, Any]] = []
        base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        for index in range(events - seq):
            seq += 1
            ts = audit.format_ts(base + dt.timedelta(seconds=index))
            actor, fingerprint, sign = signers[index % 4]
            action = ("version.register", "version.submit", "policy.check", "report.build")[
                index % 4
            ]
            subject = f"model-{index % 1000:05d}@1.{index % 10}.0"
            payload = audit.canonical_json({"index": index})
            body = audit.event_body(
                catalogue=catalogue_id,
                seq=seq,
                ts=ts,
                actor=actor,
                action=action,
                subject=subject,
                payload=payload,
                prev=prev,
                key=fingerprint,
                settings=revision,
            )
            digest = audit.event_hash(body)
            batch.append(
                {
                    "seq": seq,
                    "ts": ts,
                    "actor": actor,
                    "action": action,
                    "subject": subject,
                    "payload": payload,
                    "prev_hash": prev,
                    "hash": digest,
                    "format": audit.SIGNED_FORMAT,
                    "key_fingerprint": fingerprint,
                    "settings_revision": revision,
                    "signature": base64.b64encode(sign(body)).decode("ascii"),
                }
            )
            prev = digest
            if len(batch) == 50_000:
                conn.execute(insert(table), batch)
                batch = []
        if batch:
            conn.execute(insert(table), batch)
    admin.close()
    return url


async def open_app(url: str, directory: Path) -> dict[str, float]:
    """Seconds to the catalogue's first paint and rows, then to the audit view's (as carol)."""
    settings = load_settings(database_url=url, user="carol", home=home_of(directory, "carol"))
    started = time.perf_counter()
    app = make_app(settings)
    app.started = started
    result: dict[str, float] = {}
    async with app.run_test(size=SIZE) as pilot:
        while "catalogue_rows_shown" not in app.timings:
            await pilot.pause(0.01)
        result["catalogue_first_paint"] = app.timings["catalogue_first_paint"]
        result["catalogue_rows"] = app.timings["catalogue_rows_shown"]
        screen: Any = app.screen
        typed = time.perf_counter()
        screen.query_one("#filter").value = "model-0042"
        screen.apply_filters()
        result["filter_keystroke"] = time.perf_counter() - typed
        pressed = time.perf_counter() - started
        await pilot.press("3")
        while "audit_rows_shown" not in app.timings:
            await pilot.pause(0.01)
        result["audit_first_paint"] = app.timings["audit_first_paint"] - pressed
        result["audit_rows"] = app.timings["audit_rows_shown"] - pressed
        table: Any = app.screen.query_one("#events")
        paged = time.perf_counter()
        before = len(table.rows)
        await pilot.press("end")
        deadline = time.perf_counter() + 60
        while len(table.rows) == before and time.perf_counter() < deadline:
            await pilot.pause(0.01)
        result["audit_next_page"] = time.perf_counter() - paged
    return result


async def datatable_baseline(count: int) -> float:
    """Textual's DataTable mounting ``count`` rows of nine columns, to first paint."""
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable

    class Baseline(App[None]):
        def compose(self) -> ComposeResult:
            yield DataTable()

        def on_mount(self) -> None:
            table = self.query_one(DataTable)
            table.add_columns(*(f"c{i}" for i in range(9)))
            table.add_rows(
                [
                    (f"model-{i:05d}", "1.0.0", "draft", "low", "owner", "pass", "2026", "x", "y")
                    for i in range(count)
                ]
            )
            self.call_after_refresh(self.painted)

        def painted(self) -> None:
            self.done = time.perf_counter()

    started = time.perf_counter()
    app = Baseline()
    async with app.run_test(size=SIZE) as pilot:
        while not hasattr(app, "done"):
            await pilot.pause(0.01)
    return float(app.done - started)


def median_of(times: int, run: Callable[[], dict[str, float]]) -> dict[str, float]:
    runs = [run() for _ in range(times)]
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


# --- quit time ---------------------------------------------------------------------------

#: Where the quit benchmark opens the app, and how it gets there once the catalogue shows.
QUIT_SCREENS = {
    "bare textual app": "",
    "catalogue": "catalogue",
    "queue": "queue",
    "audit": "audit",
    "settings": "settings",
    "version (card)": "version:card",
    "version (evaluation)": "version:evaluation",
    "version (explanations)": "version:explanations",
    "compare": "compare",
    # Quitting while work is under way: the version still loading, SHAP explaining a
    # decision that was not stored, a signed PDF being built.
    "version (still loading)": "version:card:loading",
    "explaining (SHAP running)": "version:explanations:explain",
    "building a PDF": "version:reports:build",
}
QUIT_REF = "credit-risk@1.1.0"
QUIT_REPEATS = 5
#: The budget: quitting takes at most this many times as long as quitting a bare Textual app.
QUIT_BUDGET = 2.0


def build_evaluated(directory: Path) -> str:
    """The sample credit-risk versions, 1.1.0 with its model (SHAP), evaluated and checked."""
    import tempfile as _tempfile

    from govern.locations import sample_data_dir
    from govern.services import checks, evaluation, keys, workflow
    from govern.services.demo import train_sample_models

    url = f"sqlite:///{directory / 'govern.db'}"

    def ctx(user: str) -> Context:
        return Context(
            load_settings(
                database_url=url,
                user=user,
                home=home_of(directory, user),
                org_key_dir=directory / "org-key",
            )
        )

    admin = ctx("admin")
    catalogue.init_catalogue(admin)
    keys.org_init(admin, common_name="bench cards", organization="Bench")
    for name, role in ACTORS:
        key = home_of(directory, name) / "identity" / "identity.pub.pem"
        users.add_user(admin, name, role=role, key=key)
    sample = sample_data_dir()
    with _tempfile.TemporaryDirectory() as models:
        artifacts = Path(models)
        train_sample_models(artifacts)
        alice, bob = ctx("alice"), ctx("bob")
        for version in ("1.0.0", "1.1.0"):
            ref = f"credit-risk@{version}"
            catalogue.register_version(
                alice,
                sample / f"credit-risk-{version}.card.yaml",
                artifact=artifacts / f"credit-risk-{version}.skops",
            )
            evaluation.evaluate_version(
                bob,
                ref,
                data=sample / "credit_holdout.csv",
                target="credit",
                positive="1",
                sensitive=["sex", "age_group"],
                model=artifacts / f"credit-risk-{version}.skops",
                id_column="applicant_id",
                explain=3,
                seed=0,
            )
            checks.check_version(bob, ref)
        workflow.submit(alice, QUIT_REF, comment="for the quit benchmark")
    return url


def quit_child(where: str, url: str, home: str, marker: str) -> None:
    """Run in the pseudo-terminal: the app on ``where``; writes ``marker`` once loaded."""
    from textual.app import App

    ready = Path(marker)

    def settled(app: App[Any]) -> bool:
        if any(w.is_running for w in app.workers) or app.screen.loading:
            return False
        # A version screen has shown what it loaded (its message handled, not just sent).
        return getattr(app.screen, "detail", True) is not None

    if not where:

        class Bare(App[None]):
            def on_mount(self) -> None:
                self.call_after_refresh(lambda: ready.write_text("ready"))

        Bare().run()
        return
    settings = load_settings(
        database_url=url,
        user="carol",
        home=Path(home),
        org_key_dir=Path(home).parents[1] / "org-key",
    )
    app = make_app(settings)
    screen, _, rest = where.partition(":")
    tab, _, busy = rest.partition(":")
    steps = {"checks": 0}

    def poll() -> None:
        if steps["checks"] == 1 and busy == "loading":
            steps["checks"] = 99
            ready.write_text("ready")
        if not settled(app):
            return
        if steps["checks"] == 0:
            steps["checks"] = 1
            if screen == "version":
                app.open_version(QUIT_REF, tab=tab)
            elif screen == "compare":
                app.open_compare("", QUIT_REF)
            elif screen != "catalogue":
                app.switch_mode(screen)
            return
        steps["checks"] += 1
        if steps["checks"] == 4:  # settled three polls in a row: loaded and painted
            start_busy(busy)
            ready.write_text("ready")

    def start_busy(what: str) -> None:
        version: Any = app.screen
        if what == "explain":
            stored = {x.row_id for x in version.view.local_explanations}
            version.explain(next(i for i in holdout_ids() if i not in stored))
        elif what == "build":
            version._start_build(Path(marker).with_suffix(".pdf"))

    app.call_later(lambda: app.set_interval(0.1, poll))
    run_and_exit(app)  # as `govern tui` runs it


def holdout_ids() -> list[str]:
    """The applicant ids of the sample hold-out, in order."""
    import csv

    from govern.locations import sample_data_dir

    with (sample_data_dir() / "credit_holdout.csv").open(encoding="utf-8") as handle:
        return [row["applicant_id"] for row in csv.DictReader(handle)]


def time_quit(where: str, url: str, home: Path) -> float:
    """Seconds from ctrl+q to the app's process having exited, in a 120x40 pseudo-terminal."""
    import fcntl
    import os
    import pty
    import select
    import struct
    import subprocess
    import termios

    with tempfile.TemporaryDirectory() as tmp:
        marker = Path(tmp) / "ready"
        leader, follower = pty.openpty()
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", SIZE[1], SIZE[0], 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(SIZE[0])}
        child = subprocess.Popen(
            [sys.executable, __file__, "--quit-child", where, url, str(home), str(marker)],
            stdin=follower,
            stdout=follower,
            stderr=follower,
            env=env,
            start_new_session=True,
        )
        os.close(follower)

        screen = bytearray()

        def drain(seconds: float) -> None:
            ready_fds, _, _ = select.select([leader], [], [], seconds)
            if ready_fds:
                with contextlib.suppress(OSError):  # the child closed the terminal
                    screen.extend(os.read(leader, 65536))
                del screen[:-4000]

        deadline = time.perf_counter() + 120
        while not marker.exists():
            drain(0.02)
            if time.perf_counter() > deadline or child.poll() is not None:
                child.kill()
                tail = screen.decode(errors="replace")[-2000:]
                raise RuntimeError(f"the app on {where or 'bare'} did not get ready:\n{tail}")
        drain(0.2)
        pressed = time.perf_counter()
        os.write(leader, b"\x11")  # ctrl+q
        while child.poll() is None:
            drain(0.005)
        elapsed = time.perf_counter() - pressed
        os.close(leader)
    return elapsed


def quit_times(only: list[str] | None = None) -> None:
    """Quit time from each screen against a bare Textual app's, medians of QUIT_REPEATS
    (``only``: just the screens whose label contains one of these words, and the bare app)."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        url = build_evaluated(directory)
        home = home_of(directory, "carol")
        results = {}
        for label, where in QUIT_SCREENS.items():
            if only and where and not any(word in label for word in only):
                continue
            time_quit(where, url, home)  # warm-up (file caches, bytecode)
            results[label] = statistics.median(
                time_quit(where, url, home) for _ in range(QUIT_REPEATS)
            )
    bare = results["bare textual app"]
    print(f"\n{'quit with ctrl+q from':<28} {'seconds':>8}   vs bare   (budget {QUIT_BUDGET:.0f}x)")
    for label, seconds in results.items():
        ratio = seconds / bare if bare else float("nan")
        verdict = "" if label.startswith("bare") else ("ok" if ratio <= QUIT_BUDGET else "OVER")
        print(f"{label:<28} {seconds:8.3f}   {ratio:6.2f}x   {verdict}")


def main() -> None:
    if sys.argv[1:2] == ["--quit-child"]:
        quit_child(*sys.argv[2:6])
        return
    if sys.argv[1:2] == ["--quit"]:
        quit_times(sys.argv[2:])
        return
    versions = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    events = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        big, small = Path(tmp) / "big", Path(tmp) / "small"
        big.mkdir()
        small.mkdir()
        built = time.perf_counter()
        big_url = build(big, versions, events)
        print(
            f"built catalogue: {versions:,} versions, {events:,} audit events "
            f"in {time.perf_counter() - built:.1f} s"
        )
        small_url = build(small, 20, 1_000)
        asyncio.run(open_app(small_url, small))  # warm-up: imports, caches
        floor = median_of(REPEATS, lambda: asyncio.run(open_app(small_url, small)))
        scaled = median_of(REPEATS, lambda: asyncio.run(open_app(big_url, big)))
        table = statistics.median(asyncio.run(datatable_baseline(versions)) for _ in range(REPEATS))

    def row(label: str, key: str) -> None:
        ratio = scaled[key] / floor[key] if floor[key] else float("nan")
        print(f"{label:<44} {scaled[key]:8.3f} s   {floor[key]:8.3f} s   {ratio:6.2f}x")

    print(f"\n{'milestone':<44} {'large':>10}   {'tiny':>10}   ratio")
    row(f"catalogue first paint ({versions:,} versions)", "catalogue_first_paint")
    row(f"catalogue rows shown ({versions:,} versions)", "catalogue_rows")
    row("filter one keystroke over all versions", "filter_keystroke")
    row(f"audit view first paint ({events:,} events)", "audit_first_paint")
    row(f"audit first page shown ({events:,} events)", "audit_rows")
    row("audit next page (keyset)", "audit_next_page")
    print(
        f"\nTextual DataTable mounting {versions:,} rows to first paint: {table:.3f} s; the "
        f"virtual catalogue shows its rows in {scaled['catalogue_rows']:.3f} s "
        f"({table / scaled['catalogue_rows']:.1f}x faster)"
    )
    quit_times()


if __name__ == "__main__":
    main()
