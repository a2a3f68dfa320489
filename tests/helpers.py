"""Helpers shared by the foundation tests: catalogue snapshots, raw connections, CLI checks."""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from govern.services import Context, catalogue
from govern.services import audit as audit_service

CARDS = Path(__file__).resolve().parent / "data" / "cards"


@dataclass(frozen=True)
class CatalogueState:
    """What must not change when govern refuses something."""

    versions: tuple[tuple[str, str, str], ...]
    events: int
    head_hash: str


def snapshot(url: str) -> CatalogueState:
    ctx = Context.open(database_url=url, user="admin")
    try:
        versions = tuple((row.name, row.version, row.state) for row in catalogue.list_versions(ctx))
        verdict = audit_service.verify_audit(ctx)
        assert verdict.ok, verdict.problems
        return CatalogueState(versions, verdict.events, verdict.head_hash)
    finally:
        ctx.close()


def is_postgres(url: str) -> bool:
    return url.startswith("postgresql")


def sqlite_file(url: str) -> str:
    return url.removeprefix("sqlite:///")


@contextmanager
def raw_connection(url: str) -> Iterator[Any]:
    """A DB-API connection that bypasses govern entirely (an attacker's or an admin's view)."""
    if is_postgres(url):
        import psycopg

        conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
    else:
        conn = sqlite3.connect(sqlite_file(url))
    try:
        yield conn
    finally:
        conn.close()


def placeholder(url: str) -> str:
    return "%s" if is_postgres(url) else "?"


def assert_clean_failure(result: subprocess.CompletedProcess[str], code: int = 2) -> list[str]:
    """Exit ``code``, no traceback, nothing on stdout; returns stderr's lines."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines, "expected a message on stderr"
    return lines


def append_legacy_event(
    conn: Any, *, actor: str, action: str, subject: str = "", payload: dict[str, Any] | None = None
) -> None:
    """Append an event as govern did before schema 0005 (format 1: hash-chained, unsigned),
    into a catalogue at an older revision, whose audit table has only the format-1 columns."""
    import datetime as dt

    import sqlalchemy as sa

    from govern.storage import audit

    table = sa.table(
        "audit_event",
        *(
            sa.column(name)
            for name in ("seq", "ts", "actor", "action", "subject", "payload", "prev_hash", "hash")
        ),
    )
    head = conn.execute(sa.select(table.c.seq, table.c.hash).order_by(table.c.seq.desc())).first()
    seq, prev = (head[0] + 1, head[1]) if head else (1, audit.GENESIS_HASH)
    ts = audit.format_ts(dt.datetime.now(dt.UTC))
    text = audit.canonical_json(payload or {})
    digest = audit.legacy_hash(prev, audit.legacy_body(seq, ts, actor, action, subject, text))
    conn.execute(
        sa.insert(table).values(
            seq=seq,
            ts=ts,
            actor=actor,
            action=action,
            subject=subject,
            payload=text,
            prev_hash=prev,
            hash=digest,
        )
    )
