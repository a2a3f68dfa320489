"""The tamper-evident, signed audit log (``docs/architecture.md`` §8; ``docs/audit-log-format.md``).

Each event is signed by the person who acted: its canonical body (catalogue id, sequence
number, time, actor, action, subject, payload, the previous event's hash, the signer's key
and the settings revision) is hashed with SHA-256 and signed with the actor's key, so a
forged event needs a private key, not only a hash. Events written before schema 0005
(format 1) were hash-chained only and stay verifiable by their hashes. The payload and
timestamp are stored as the exact text that was hashed. Appends and reads use SQLAlchemy
Core, not the ORM, which costs several times more per event (``benchmarks/bench_audit.py``).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, inspect, select
from sqlalchemy.engine import Connection

from govern.storage.database import PG_WRITE_LOCK
from govern.storage.tables import AuditEvent

GENESIS_HASH = "0" * 64
LEGACY_FORMAT = 1
SIGNED_FORMAT = 2
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


def event_body(
    *,
    catalogue: str,
    seq: int,
    ts: str,
    actor: str,
    action: str,
    subject: str,
    payload: str,
    prev: str,
    key: str | None,
    settings: int | None,
) -> bytes:
    """The exact bytes of a signed event that are hashed and signed (format 2).

    Canonical JSON (sorted keys, no whitespace, UTF-8, non-ASCII characters as themselves)
    of an object whose values are strings, integers or null; the payload is included as its
    stored text, so no one re-serialises a number to check it. ``docs/audit-log-format.md``
    is the specification, with known-answer vectors.
    """
    return canonical_json(
        {
            "action": action,
            "actor": actor,
            "catalogue": catalogue,
            "format": SIGNED_FORMAT,
            "key": key,
            "payload": payload,
            "prev": prev,
            "seq": seq,
            "settings": settings,
            "subject": subject,
            "ts": ts,
        }
    ).encode("utf-8")


def event_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def legacy_body(seq: int, ts: str, actor: str, action: str, subject: str, payload: str) -> str:
    """Canonical JSON of an event of format 1 (before schema 0005), payload already canonical.

    Those events were hash-chained but not signed; they stay verifiable by this rule:
    ``SHA-256(previous hash || body)``.
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


def legacy_hash(prev_hash: str, body: str) -> str:
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def format_ts(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class Signer:
    """Who signs an event: the key's fingerprint and a function that signs bytes with it."""

    fingerprint: str
    sign: Callable[[bytes], bytes]


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
    format: int = LEGACY_FORMAT
    key: str | None = None
    settings: int | None = None
    signature: str | None = None

    @property
    def data(self) -> dict[str, Any]:
        return decode_payload(self.payload)

    @property
    def signed(self) -> bool:
        return self.format == SIGNED_FORMAT and self.signature is not None

    def body(self, catalogue: str) -> bytes:
        """The signed bytes of a format-2 event (``event_body``)."""
        return event_body(
            catalogue=catalogue,
            seq=self.seq,
            ts=self.ts,
            actor=self.actor,
            action=self.action,
            subject=self.subject,
            payload=self.payload,
            prev=self.prev_hash,
            key=self.key,
            settings=self.settings,
        )

    def expected_hash(self, catalogue: str, body: bytes | None = None) -> str:
        """The hash the event must have; ``body`` saves rebuilding a signed body known."""
        if self.format == SIGNED_FORMAT:
            return event_hash(body if body is not None else self.body(catalogue))
        return legacy_hash(
            self.prev_hash,
            legacy_body(self.seq, self.ts, self.actor, self.action, self.subject, self.payload),
        )


def decode_payload(text: str) -> dict[str, Any]:
    """An event's payload as a dict, even when someone has edited it into something else.

    Only a tampered log holds a payload that is not a JSON object; reading such a log must
    still work (``audit verify`` names the event), so the raw text is shown, not parsed.
    """
    # json: it reads an integer beyond 64 bits exactly, as the events were written.
    try:
        value = json.loads(text)
    except (ValueError, TypeError, RecursionError):
        return {"unreadable_payload": str(text)}
    return value if isinstance(value, dict) else {"unreadable_payload": text}


def append_event(
    conn: Connection,
    *,
    actor: str,
    action: str,
    subject: str = "",
    payload: dict[str, Any] | None = None,
    catalogue_id: str,
    settings_revision: int | None,
    signer: Signer | None,
    moment: dt.datetime | None = None,
) -> AuditRecord:
    """Append one signed event (format 2) inside the caller's transaction and return it.

    ``signer`` is None only for the record of a refused attempt, which changes nothing.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_AUDIT_LOCK})")
    head = conn.execute(_HEAD).first()
    prev_seq, prev_hash = (head[0], head[1]) if head else (0, GENESIS_HASH)
    seq = prev_seq + 1
    ts = format_ts(moment or dt.datetime.now(dt.UTC))
    payload_text = canonical_json(payload or {})
    key = signer.fingerprint if signer is not None else None
    body = event_body(
        catalogue=catalogue_id,
        seq=seq,
        ts=ts,
        actor=actor,
        action=action,
        subject=subject,
        payload=payload_text,
        prev=prev_hash,
        key=key,
        settings=settings_revision,
    )
    signature = base64.b64encode(signer.sign(body)).decode("ascii") if signer is not None else None
    record = AuditRecord(
        seq,
        ts,
        actor,
        action,
        subject,
        payload_text,
        prev_hash,
        event_hash(body),
        SIGNED_FORMAT,
        key,
        settings_revision,
        signature,
    )
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
            "hash": record.hash,
            "format": SIGNED_FORMAT,
            "key_fingerprint": key,
            "settings_revision": settings_revision,
            "signature": signature,
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


_COLUMNS = (
    _table.c.seq,
    _table.c.ts,
    _table.c.actor,
    _table.c.action,
    _table.c.subject,
    _table.c.payload,
    _table.c.prev_hash,
    _table.c.hash,
    _table.c.format,
    _table.c.key_fingerprint,
    _table.c.settings_revision,
    _table.c.signature,
)
#: What each stored field must be; anything else was written by someone other than govern.
_TYPES: tuple[tuple[str, type | tuple[type, ...]], ...] = (
    ("seq", int),
    ("ts", str),
    ("actor", str),
    ("action", str),
    ("subject", str),
    ("payload", str),
    ("prev_hash", str),
    ("hash", str),
    ("format", int),
    ("key_fingerprint", (str, type(None))),
    ("settings_revision", (int, type(None))),
    ("signature", (str, type(None))),
)


_EXACT = tuple(
    frozenset(expected if isinstance(expected, tuple) else (expected,)) for _, expected in _TYPES
)


def malformed(row: Any) -> str | None:
    """Why a stored row cannot be an event govern wrote (a BLOB payload, a text ``seq``...).

    SQLite stores any value in any column; only a tampered log holds such rows, and reading
    it must name them, never crash.
    """
    if all(type(value) in allowed for value, allowed in zip(row, _EXACT, strict=True)):
        return None  # every row of an untouched log: checked by exact type, cheaply
    for (name, expected), value in zip(_TYPES, row, strict=True):
        if not isinstance(value, expected) or isinstance(value, bool):
            kind = "a BLOB" if isinstance(value, bytes | memoryview) else type(value).__name__
            return f"its {name} is stored as {kind}, not as govern writes it"
    return None


def record_of(row: Any) -> AuditRecord:
    return AuditRecord(*row)


def iter_rows(conn: Connection, *, after: int = 0, batch: int = 10_000) -> Iterator[Any]:
    """Every stored row after sequence number ``after``, in order, as stored (unchecked)."""
    last: Any = after
    while True:
        rows = conn.execute(
            select(*_COLUMNS).where(_table.c.seq > last).order_by(_table.c.seq).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1][0]
        if not isinstance(last, int):  # a tampered seq: what follows cannot be paged by it
            return


def iter_events(conn: Connection, *, after: int = 0) -> Iterator[AuditRecord]:
    """Every well-formed event after ``after`` in order (a tampered row ends the walk)."""
    for row in iter_rows(conn, after=after):
        if malformed(row) is not None:
            return
        yield AuditRecord(*row)


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
    query = select(*_COLUMNS).order_by(_table.c.seq.desc()).limit(limit)
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
    return [AuditRecord(*row) for row in conn.execute(query) if malformed(row) is None]


def events_about(conn: Connection, subjects: Iterable[str]) -> list[AuditRecord]:
    """Every event whose subject is one of ``subjects`` exactly, oldest first."""
    wanted = sorted(set(subjects))
    if not wanted:
        return []
    query = select(*_COLUMNS).where(_table.c.subject.in_(wanted)).order_by(_table.c.seq)
    return [AuditRecord(*row) for row in conn.execute(query) if malformed(row) is None]


def registry_events(conn: Connection) -> list[AuditRecord]:
    """The events that say who may sign what: catalogue, users and keys, settings, org key."""
    query = (
        select(*_COLUMNS)
        .where(
            _table.c.subject.in_(["", "settings", "org"])
            | _table.c.subject.startswith("user:", autoescape=True)
        )
        .order_by(_table.c.seq)
    )
    return [AuditRecord(*row) for row in conn.execute(query) if malformed(row) is None]


def hashes_at(conn: Connection, seqs: Iterable[int]) -> dict[int, str]:
    """The stored hash of each of ``seqs`` that exists."""
    wanted = sorted(set(seqs))
    found: dict[int, str] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        found.update(
            (row[0], row[1])
            for row in conn.execute(
                select(_table.c.seq, _table.c.hash).where(_table.c.seq.in_(chunk))
            )
        )
    return found


def event_at(conn: Connection, seq: int) -> AuditRecord | None:
    row = conn.execute(select(*_COLUMNS).where(_table.c.seq == seq)).first()
    if row is None or malformed(row) is not None:
        return None
    return AuditRecord(*row)
