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
"""

from __future__ import annotations

import asyncio
import base64
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
from govern.tui.app import make_app

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


def main() -> None:
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


if __name__ == "__main__":
    main()
