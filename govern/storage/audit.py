"""The tamper-evident audit log (DESIGN.md section 9).

Each event's hash is ``SHA-256(previous hash || canonical JSON of the event)``, the canonical
JSON being the event's fields with sorted keys and no spaces. The payload and timestamp are
stored as the exact text that was hashed. Appends and verification use SQLAlchemy Core, not
the ORM: the ORM costs 3-5x more per event (``../shared/notes/measurements.md``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, inspect, select
from sqlalchemy.engine import Connection

from govern.storage.database import PG_WRITE_LOCK
from govern.storage.tables import AuditEvent

GENESIS_HASH = "0" * 64
# Appends serialise on PostgreSQL under the lock every write transaction takes first; taken
# here too for callers that append on a connection of their own (re-entrant, so free).
_PG_AUDIT_LOCK = PG_WRITE_LOCK
_table = AuditEvent.__table__  # type: ignore[attr-defined]
# Built once: constructing these per append cost about a third of an append's time.
_HEAD = select(_table.c.seq, _table.c.hash).order_by(_table.c.seq.desc()).limit(1)
_INSERT = insert(_table)


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8, no NaN."""
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=_json_default,
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def event_body(seq: int, ts: str, actor: str, action: str, subject: str, payload: str) -> str:
    """Canonical JSON of an event, with ``payload`` already canonical JSON text.

    Built by concatenation so verification hashes the stored text as is, without a
    parse/serialise round trip; equal to ``canonical_json`` of the parsed event.
    """
    return (
        '{"action":'
        + json.dumps(action, ensure_ascii=False)
        + ',"actor":'
        + json.dumps(actor, ensure_ascii=False)
        + ',"payload":'
        + payload
        + ',"seq":'
        + str(seq)
        + ',"subject":'
        + json.dumps(subject, ensure_ascii=False)
        + ',"ts":'
        + json.dumps(ts, ensure_ascii=False)
        + "}"
    )


def chain_hash(prev_hash: str, body: str) -> str:
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def format_ts(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class AuditRecord:
    seq: int
    ts: str
    actor: str
    action: str
    subject: str
    payload: str
    prev_hash: str
    hash: str

    @property
    def data(self) -> dict[str, Any]:
        return decode_payload(self.payload)


def decode_payload(text: str) -> dict[str, Any]:
    """An event's payload as a dict, even when someone has edited it into something else.

    Only a tampered log holds a payload that is not a JSON object; reading such a log must
    still work (``audit verify`` names the event), so the raw text is shown, not parsed.
    """
    try:
        value = json.loads(text)
    except (ValueError, TypeError, RecursionError):
        return {"unreadable_payload": text}
    return value if isinstance(value, dict) else {"unreadable_payload": text}


def append_event(
    conn: Connection,
    *,
    actor: str,
    action: str,
    subject: str = "",
    payload: dict[str, Any] | None = None,
    moment: dt.datetime | None = None,
) -> AuditRecord:
    """Append one event inside the caller's transaction and return it."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_AUDIT_LOCK})")
    head = conn.execute(_HEAD).first()
    prev_seq, prev_hash = (head[0], head[1]) if head else (0, GENESIS_HASH)
    seq = prev_seq + 1
    ts = format_ts(moment or dt.datetime.now(dt.UTC))
    payload_text = canonical_json(payload or {})
    digest = chain_hash(prev_hash, event_body(seq, ts, actor, action, subject, payload_text))
    record = AuditRecord(seq, ts, actor, action, subject, payload_text, prev_hash, digest)
    conn.execute(
        _INSERT,
        {
            "seq": seq,
            "ts": ts,
            "actor": actor,
            "action": action,
            "subject": subject,
            "payload": payload_text,
            "prev_hash": prev_hash,
            "hash": digest,
        },
    )
    return record


def head(conn: Connection) -> tuple[int, str]:
    """(sequence number, hash) of the newest event; (0, genesis) for an empty log."""
    row = conn.execute(_HEAD).first()
    return (row[0], row[1]) if row else (0, GENESIS_HASH)


def has_log(conn: Connection) -> bool:
    """Whether the audit table exists; a catalogue without one has had it dropped."""
    return bool(inspect(conn).has_table(_table.name))


def count_events(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(_table)).scalar() or 0)


def iter_events(conn: Connection, *, batch: int = 10_000) -> Iterator[AuditRecord]:
    """Every event in stored order (by ``seq``), streamed in batches."""
    columns = (
        _table.c.seq,
        _table.c.ts,
        _table.c.actor,
        _table.c.action,
        _table.c.subject,
        _table.c.payload,
        _table.c.prev_hash,
        _table.c.hash,
    )
    last = -1
    while True:
        rows = conn.execute(
            select(*columns).where(_table.c.seq > last).order_by(_table.c.seq).limit(batch)
        ).all()
        if not rows:
            return
        for row in rows:
            yield AuditRecord(*row)
        last = rows[-1][0]


def query_events(
    conn: Connection,
    *,
    actor: str | None = None,
    subject: str | None = None,
    action: str | None = None,
    before_seq: int | None = None,
    limit: int = 50,
) -> list[AuditRecord]:
    """Newest first, filtered; ``before_seq`` pages backwards through the log."""
    query = select(*_table.c).order_by(_table.c.seq.desc()).limit(limit)
    if actor:
        query = query.where(_table.c.actor == actor)
    # autoescape: '_' is a LIKE wildcard, and model names may contain it (credit_risk must
    # not match credit-risk@1.0.0).
    if subject:
        query = query.where(
            (_table.c.subject == subject)
            | _table.c.subject.startswith(subject + "@", autoescape=True)
        )
    if action:
        query = query.where(
            (_table.c.action == action) | _table.c.action.startswith(action + ".", autoescape=True)
        )
    if before_seq is not None:
        query = query.where(_table.c.seq < before_seq)
    return [
        AuditRecord(r.seq, r.ts, r.actor, r.action, r.subject, r.payload, r.prev_hash, r.hash)
        for r in conn.execute(query)
    ]


@dataclass(frozen=True, slots=True)
class ChainBreak:
    seq: int
    reason: str


@dataclass(frozen=True, slots=True)
class ChainVerdict:
    events: int
    head_seq: int
    head_hash: str
    first_break: ChainBreak | None

    @property
    def ok(self) -> bool:
        return self.first_break is None


def verify_chain(conn: Connection) -> ChainVerdict:
    """Walk the whole log and report the first event that does not fit the chain.

    Catches an edited event (its hash no longer matches its content), a deleted one (a gap
    in the sequence, or a broken link) and reordering (links point at the wrong event).
    Truncation and a full rewrite need a checkpoint; see ``services.audit``.
    """
    expected_seq = 1
    prev_hash = GENESIS_HASH
    count = 0
    sha256 = hashlib.sha256
    for event in iter_events(conn):
        count += 1
        if event.seq != expected_seq:
            missing = (
                f"event {expected_seq} is missing"
                if event.seq > expected_seq
                else f"event {event.seq} is out of order"
            )
            return ChainVerdict(count, event.seq, event.hash, ChainBreak(expected_seq, missing))
        if event.prev_hash != prev_hash:
            return ChainVerdict(
                count,
                event.seq,
                event.hash,
                ChainBreak(
                    event.seq,
                    f"event {event.seq} does not follow event {event.seq - 1} "
                    "(its link to the previous hash is broken)",
                ),
            )
        body = event_body(
            event.seq, event.ts, event.actor, event.action, event.subject, event.payload
        )
        if sha256((prev_hash + body).encode("utf-8")).hexdigest() != event.hash:
            return ChainVerdict(
                count,
                event.seq,
                event.hash,
                ChainBreak(
                    event.seq,
                    f"event {event.seq} was altered (its content no longer matches its hash)",
                ),
            )
        prev_hash = event.hash
        expected_seq += 1
    return ChainVerdict(count, expected_seq - 1, prev_hash, None)


def event_at(conn: Connection, seq: int) -> AuditRecord | None:
    row = conn.execute(select(*_table.c).where(_table.c.seq == seq)).first()
    if row is None:
        return None
    return AuditRecord(
        row.seq, row.ts, row.actor, row.action, row.subject, row.payload, row.prev_hash, row.hash
    )
