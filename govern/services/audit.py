"""The audit log: read it, verify it, write signed checkpoints, and export it.

``verify_audit`` checks everything the catalogue shows (docs/architecture.md §8):

* the chain: every event's hash, its link to the one before, no gaps;
* every signature, against the key enrolled to the event's actor at that moment, and that
  the actor's role allowed the action under the settings revision the event names;
* the tables: users and roles, keys, organisation certificates, settings revisions,
  versions and their states, decisions, waivers, policy runs, and the hashes of
  evaluations, drift runs and reports, rebuilt from the events (``storage.ledger``) and
  compared row by row, field by field.

A checkpoint is a small JSON file signed with an admin's personal key: catalogue id, the
newest event's sequence number and hash, and who could sign what at that point. Kept where
the catalogue's users cannot rewrite it (a git repository, say), it catches what the chain
alone cannot (truncation, a rewrite with fresh hashes), and ``--since-checkpoint`` verifies
only the events after it.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from govern import outputs, personal_keys
from govern.domain.roles import Role
from govern.errors import FindingError, InputError, SignatureError
from govern.services.context import Context
from govern.services.views import AuditEventPublic, AuditVerdict
from govern.storage import audit, crud, ledger
from govern.storage.audit import GENESIS_HASH, AuditRecord
from govern.storage.database import Connection, Session
from govern.storage.ledger import Finding, Ledger
from govern.storage.tables import utcnow

CHECKPOINT_FORMAT = "govern-audit-checkpoint/2"
EXPORT_FORMAT = "govern-audit-export/1"
_MAX_CHECKPOINT_BYTES = 5_000_000
#: Registry subjects: the events that say who may sign what.
_REGISTRY_SUBJECTS = ("", "settings", "org")


def audit_log(
    ctx: Context,
    *,
    actor: str | None = None,
    subject: str | None = None,
    action: str | None = None,
    before_seq: int | None = None,
    limit: int = 50,
) -> list[AuditEventPublic]:
    """Newest events first, optionally filtered; page backwards with ``before_seq``."""
    with ctx.read() as session:
        records = audit.query_events(
            session.connection(),
            actor=actor,
            subject=subject,
            action=action,
            before_seq=before_seq,
            limit=limit,
        )
    return [
        AuditEventPublic(
            seq=r.seq,
            ts=r.ts,
            actor=r.actor,
            action=r.action,
            subject=r.subject,
            payload=audit.decode_payload(r.payload),
            hash=r.hash,
            signed=r.signed,
            key=r.key,
        )
        for r in records
    ]


def count_events(ctx: Context) -> int:
    with ctx.read() as session:
        return audit.count_events(session.connection())


# --- walking the log ---------------------------------------------------------------------------


@dataclass
class _Walk:
    """What one pass over (part of) the log found."""

    events: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    first_bad: int | None = None
    problems: list[str] = field(default_factory=list)
    #: The registry as it stood right after event ``snapshot_at`` (for a checkpoint).
    snapshot: dict[str, Any] | None = None
    snapshot_hash: str | None = None


def _walk(
    conn: Connection,
    catalogue_id: str,
    book: Ledger,
    *,
    after: int = 0,
    prev_hash: str = GENESIS_HASH,
    snapshot_at: int | None = None,
) -> _Walk:
    """Check the chain and each event's authority after event ``after``, replaying into
    ``book``; the signatures are checked by worker processes while the walk goes on."""
    expected = audit.count_events(conn) - after
    with personal_keys.SignatureChecks(expected) as signatures:
        walk, seqs = _walk_events(
            conn, catalogue_id, book, signatures, after, prev_hash, snapshot_at
        )
        failed = signatures.failed() if walk.first_bad is None else []
    for index in failed:
        book.findings.append(
            Finding(
                "audit_event",
                f"event {seqs[index]}",
                "signature",
                "does not verify against the key enrolled to its actor",
            )
        )
    return walk


def _walk_events(
    conn: Connection,
    catalogue_id: str,
    book: Ledger,
    signatures: personal_keys.SignatureChecks,
    after: int,
    prev_hash: str,
    snapshot_at: int | None,
) -> tuple[_Walk, list[int]]:
    walk = _Walk(head_seq=after, head_hash=prev_hash)
    seqs: list[int] = []
    expected_seq = after + 1
    for row in audit.iter_rows(conn, after=after):
        walk.events += 1
        problem = audit.malformed(row)
        if problem is not None:
            walk.first_bad = row[0] if isinstance(row[0], int) else expected_seq
            walk.problems.append(f"event {walk.first_bad} cannot be read: {problem}")
            return walk, seqs
        event = audit.record_of(row)
        broken = _chain_problem(event, expected_seq, walk.head_hash)
        body = event.body(catalogue_id) if event.format == audit.SIGNED_FORMAT else None
        if broken is None and event.expected_hash(catalogue_id, body) != event.hash:
            broken = f"event {event.seq} was altered (its content no longer matches its hash)"
        if broken is not None:
            walk.first_bad = expected_seq if event.seq != expected_seq else event.seq
            walk.problems.append(broken)
            return walk, seqs
        data = audit.decode_payload(event.payload)
        pem = book.authorise(event, data)
        if pem is not None and body is not None:
            signatures.add(pem, body, _signature(event))
            seqs.append(event.seq)
        book.apply(event, data)
        walk.head_seq, walk.head_hash = event.seq, event.hash
        expected_seq += 1
        if event.seq == snapshot_at:
            walk.snapshot = json.loads(json.dumps(book.registry()))
            walk.snapshot_hash = event.hash
    return walk, seqs


def _chain_problem(event: AuditRecord, expected_seq: int, prev_hash: str) -> str | None:
    """Why ``event`` cannot come next in the chain (a gap, reordering, a broken link)."""
    if event.seq != expected_seq:
        if event.seq > expected_seq:
            return f"event {expected_seq} is missing"
        return f"event {event.seq} is out of order"
    if event.format not in (audit.LEGACY_FORMAT, audit.SIGNED_FORMAT):
        return f"event {event.seq} is of format {event.format}, which govern never writes"
    if event.prev_hash != prev_hash:
        return (
            f"event {event.seq} does not follow event {event.seq - 1} (its link to the "
            "previous hash is broken)"
        )
    return None


def _catalogue_id(session: Session, problems: list[str]) -> str:
    """The catalogue id from ``govern_meta``, or from the first event when it was deleted."""
    stored = crud.get_meta(session=session, key="catalogue_id")
    first = audit.event_at(session.connection(), 1)
    logged = str((first.data if first else {}).get("catalogue_id") or "")
    if not stored:
        problems.append(
            "the catalogue id is missing from govern_meta (it was deleted); the first event "
            "names it"
        )
        return logged
    if logged and stored != logged:
        problems.append(
            f"govern_meta says the catalogue id is {stored}, but the first event says {logged}"
        )
    return stored


def verify_audit(
    ctx: Context, *, checkpoint: Path | None = None, since_checkpoint: Path | None = None
) -> AuditVerdict:
    """Check the log and everything the catalogue shows; ``ok`` is false on any finding.

    Args:
        checkpoint: also check the log against this checkpoint (truncation, a rewrite), and
            that an admin's key enrolled at that point signed it.
        since_checkpoint: check only what came after this trusted checkpoint: the chain from
            it, every later signature, and the rows the later events touched.
    """
    if checkpoint is not None and since_checkpoint is not None:
        raise InputError("give --checkpoint or --since-checkpoint, not both")
    anchor = since_checkpoint or checkpoint
    document = read_checkpoint(anchor) if anchor is not None else None
    with ctx.read() as session:
        conn = session.connection()
        if not audit.has_log(conn):
            return AuditVerdict(
                ok=False,
                events=0,
                head_seq=0,
                head_hash=GENESIS_HASH,
                problems=["the audit log table is missing (it was dropped)"],
                checkpoint=_summary(document),
            )
        problems: list[str] = []
        catalogue_id = _catalogue_id(session, problems)
        if since_checkpoint is not None:
            assert document is not None
            return _verify_since(conn, catalogue_id, document, problems)
        verdict, _book = _verify_whole(session, catalogue_id, document, problems)
        return verdict


def _verify_whole(
    session: Session, catalogue_id: str, document: dict[str, Any] | None, problems: list[str]
) -> tuple[AuditVerdict, Ledger]:
    """The whole log and every table; also the ledger, whose registry is the head's."""
    conn = session.connection()
    book = Ledger()
    walk = _walk(conn, catalogue_id, book, snapshot_at=document["seq"] if document else None)
    problems.extend(walk.problems)
    if walk.events == 0 and crud.get_meta(session=session, key="created_at"):
        # `govern init` writes its first event in the transaction that creates the
        # catalogue, so an initialised catalogue never has an empty log.
        problems.append(
            "the log is empty, but this catalogue was initialised with a first event: "
            "every event was deleted"
        )
    findings = list(book.findings)
    if walk.first_bad is None:  # a broken log says nothing reliable about the tables
        findings.extend(ledger.compare(conn, book))
    covered = None
    if document is not None:
        covered = _against_checkpoint(conn, catalogue_id, document, walk, problems)
    return _verdict(walk, book, problems, findings, document, covered), book


def _verdict(
    walk: _Walk,
    book: Ledger,
    problems: list[str],
    findings: list[Finding],
    document: dict[str, Any] | None,
    covered: dict[str, Any] | None,
    scope: str = "full",
) -> AuditVerdict:
    """What a verification found: the problems of the log, then each finding in the tables."""
    problems = [*problems, *(str(f) for f in findings)]
    latest = book.latest_checkpoint
    if latest is not None:
        latest = {**latest, "events_after": max(walk.head_seq - latest["seq"], 0)}
    return AuditVerdict(
        ok=not problems,
        events=walk.events,
        head_seq=walk.head_seq,
        head_hash=walk.head_hash,
        problems=problems,
        checkpoint=_summary(document),
        first_bad_event=walk.first_bad,
        signed_events=book.signed_events,
        unsigned_legacy=book.legacy_events,
        unsigned_refusals=book.unsigned_refusals,
        findings=[_finding_json(f) for f in findings],
        covered=covered,
        scope=scope,
        latest_checkpoint=latest,
    )


def _finding_json(finding: Finding) -> dict[str, Any]:
    return {
        "table": finding.table,
        "row": finding.row,
        "field": finding.field,
        "message": finding.message,
        "event": finding.seq,
    }


def _against_checkpoint(
    conn: Connection,
    catalogue_id: str,
    document: dict[str, Any],
    walk: _Walk,
    problems: list[str],
) -> dict[str, Any]:
    seq = int(document["seq"])
    problems.extend(_checkpoint_signature(document))
    if document["catalogue_id"] != catalogue_id:
        problems.append("checkpoint belongs to a different catalogue")
    elif walk.first_bad is None and walk.head_seq < seq:
        problems.append(
            f"log truncated: the checkpoint records event {seq}, but the log ends at event "
            f"{walk.head_seq}"
        )
    elif walk.snapshot_hash is not None and walk.snapshot_hash != document["head_hash"]:
        problems.append(
            f"log rewritten: event {seq} no longer has the hash recorded in the checkpoint"
        )
    elif walk.snapshot is not None:
        signer = document["signature"].get("key")
        key = walk.snapshot["keys"].get(signer) or {}
        user = walk.snapshot["users"].get(key.get("user")) or {}
        if key.get("status") != "active" or user.get("role") != "admin":
            problems.append(
                "the checkpoint was not signed by the key of an admin of this catalogue at "
                f"event {seq}"
            )
    return {
        "seq": seq,
        "signed_by": document.get("created_by"),
        "key": document["signature"].get("key"),
        "covers": f"events 1-{seq}",
        "events_after": max(walk.head_seq - seq, 0),
    }


def _verify_since(
    conn: Connection, catalogue_id: str, document: dict[str, Any], problems: list[str]
) -> AuditVerdict:
    """Only what came after a trusted checkpoint: the chain from it, the later signatures
    against the registry the checkpoint carries, and the rows the later events touched."""
    seq = int(document["seq"])
    problems.extend(_checkpoint_signature(document))
    registry = document.get("registry")
    if not isinstance(registry, dict):
        problems.append("the checkpoint carries no registry; verify the whole log instead")
        registry = {}
    signer = document["signature"].get("key")
    key = (registry.get("keys") or {}).get(signer) or {}
    user = (registry.get("users") or {}).get(key.get("user")) or {}
    if key.get("status") != "active" or user.get("role") != "admin":
        problems.append("the checkpoint was not signed by the key of an admin it lists")
    if document["catalogue_id"] != catalogue_id:
        problems.append("checkpoint belongs to a different catalogue")
    at = audit.event_at(conn, seq)
    book = Ledger.from_registry(registry)
    book.partial = True
    walk = _Walk(head_seq=seq, head_hash=str(document["head_hash"]))
    if at is None:
        problems.append(f"log truncated: the checkpoint records event {seq}, which is gone")
    elif at.hash != document["head_hash"]:
        problems.append(
            f"log rewritten: event {seq} no longer has the hash recorded in the checkpoint"
        )
    elif not problems:
        walk = _walk(conn, catalogue_id, book, after=seq, prev_hash=at.hash)
        problems.extend(walk.problems)
    findings = list(book.findings)
    if walk.first_bad is None and not problems:
        findings.extend(ledger.compare(conn, book))
    covered = {
        "seq": seq,
        "signed_by": document.get("created_by"),
        "key": signer,
        "covers": f"events 1-{seq}",
        "events_after": walk.events,
    }
    return _verdict(walk, book, problems, findings, document, covered, "since checkpoint")


# --- one version's records (before a card is signed) -------------------------------------------


def verify_version_records(session: Session, ref: str) -> list[str]:
    """Problems with the records of ``ref``: its events' hashes, links and signatures, and
    its rows (version, decisions, waivers, evaluations, policy runs, reports) against them.

    Reads the events about ``ref`` and those that say who may sign (users, keys, settings),
    not the whole log: what ``govern report`` checks before it signs a card.
    """
    conn = session.connection()
    problems: list[str] = []
    catalogue_id = _catalogue_id(session, problems)
    registry = audit.registry_events(conn)
    events = sorted(
        {e.seq: e for e in [*registry, *audit.events_about(conn, [ref])]}.values(),
        key=lambda e: e.seq,
    )
    links = audit.hashes_at(conn, [e.seq - 1 for e in events if e.seq > 1])
    book = Ledger(touched={}, scope={ref})
    pending: list[tuple[str, bytes, bytes]] = []
    pending_seqs: list[int] = []
    for event in events:
        if event.expected_hash(catalogue_id) != event.hash:
            problems.append(
                f"event {event.seq} was altered (its content no longer matches its hash)"
            )
            continue
        if event.seq > 1 and links.get(event.seq - 1) != event.prev_hash:
            problems.append(f"event {event.seq} does not follow event {event.seq - 1}")
        data = audit.decode_payload(event.payload)
        pem = book.authorise(event, data)
        if pem is not None and event.signature is not None:
            pending.append((pem, event.body(catalogue_id), _signature(event)))
            pending_seqs.append(event.seq)
        book.apply(event, data)
    for index in personal_keys.verify_many(pending):
        problems.append(f"event {pending_seqs[index]}: its signature does not verify")
    problems.extend(str(f) for f in book.findings)
    if not problems:
        problems.extend(str(f) for f in ledger.compare(conn, book))
    return problems


def _signature(event: AuditRecord) -> bytes:
    try:
        return base64.b64decode(event.signature or "", validate=True)
    except (binascii.Error, ValueError):
        return b""


# --- checkpoints -------------------------------------------------------------------------------


def _checkpoint_body(fields: dict[str, Any]) -> bytes:
    return audit.canonical_json(fields).encode("utf-8")


def write_checkpoint(ctx: Context, output: Path, *, force: bool = False) -> dict[str, Any]:
    """Sign (catalogue id, head, registry) with the acting admin's key and write it.

    The whole catalogue is verified first: a checkpoint vouches for what it covers. An
    existing file is not overwritten unless ``force``; ``output`` may be a directory (not a
    link to one; the file is then ``checkpoint-<seq>.json`` in it), so a git repository of
    checkpoints only grows. The file and its ``audit.checkpoint`` event are written as
    ``govern.outputs`` describes: after a kill at any moment, both or neither.

    Raises:
        FindingError: the catalogue fails verification (exit 1; nothing written).
        InputError: the output is refused (a link, device, existing file...) or cannot be
            written (exit 2).
        PermissionDenied: the acting user is not an admin, or their key is not theirs.
    """
    chosen = outputs.check_target(output, force=force, directory=True)
    key = ctx.personal_key()
    with ctx.read() as session:
        signer = ctx.require_role(session, [Role.ADMIN], doing="sign an audit checkpoint").name
        ctx.authenticate(session)
        problems: list[str] = []
        catalogue_id = _catalogue_id(session, problems)
        # One walk: its ledger at the head is the registry the checkpoint carries.
        verdict, book = _verify_whole(session, catalogue_id, None, problems)
    if not verdict.ok:
        raise FindingError(
            f"refusing to checkpoint a catalogue that fails verification: {verdict.problems[0]}"
        )
    target = chosen / f"checkpoint-{verdict.head_seq}.json" if chosen.is_dir() else output
    fields = {
        "format": CHECKPOINT_FORMAT,
        "catalogue_id": catalogue_id,
        "seq": verdict.head_seq,
        "head_hash": verdict.head_hash,
        "created_at": utcnow().isoformat(),
        "created_by": signer,
        "events": {
            "signed": verdict.signed_events,
            "legacy_unsigned": verdict.unsigned_legacy,
            "refusals_unsigned": verdict.unsigned_refusals,
        },
        "registry": json.loads(json.dumps(book.registry())),
    }
    signature = key.sign(_checkpoint_body(fields))
    document = {
        **fields,
        "signature": {
            "algorithm": key.algorithm,
            "key": key.fingerprint,
            "public_key": key.public_pem,
            "value": base64.b64encode(signature).decode("ascii"),
        },
    }
    data = (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    with (
        outputs.RecordedOutput(
            target,
            data,
            journal=ctx.pending_dir,
            committed=ctx.output_committed,
            force=force,
            label="checkpoint",
        ) as placed,
        ctx.write("audit.checkpoint", "") as tx,
    ):
        ctx.require_role(tx.session, [Role.ADMIN], doing="sign an audit checkpoint")
        record = tx.audit(
            seq=verdict.head_seq,
            head_hash=verdict.head_hash,
            sha256=placed.sha256,
            path=str(placed.path),
        )
        placed.place(tx.ctx.catalogue_id(tx.session), record.seq, record.hash)
    return {**document, "path": str(target)}


def read_checkpoint(path: Path) -> dict[str, Any]:
    try:
        if path.exists() and not path.is_dir() and not path.is_file():
            raise InputError(f"{path}: is not a regular file, expected a checkpoint file")
        with path.open("rb") as handle:
            raw = handle.read(_MAX_CHECKPOINT_BYTES + 1)  # never read a device to its end
    except FileNotFoundError:
        raise InputError(f"{path}: no such checkpoint file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, expected a checkpoint file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    if not raw.strip():
        raise InputError(f"{path}: checkpoint file is empty")
    if len(raw) > _MAX_CHECKPOINT_BYTES:
        raise InputError(f"{path}: too large for a checkpoint ({len(raw)} bytes)")
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InputError(f"{path}: not a govern checkpoint (invalid JSON: {exc})") from None
    required = {"format", "catalogue_id", "seq", "head_hash", "signature"}
    if not isinstance(document, dict) or not required <= document.keys():
        raise InputError(f"{path}: not a govern checkpoint (missing fields)")
    if document["format"] != CHECKPOINT_FORMAT:
        raise InputError(f"{path}: unsupported checkpoint format {document['format']!r}")
    if (
        not isinstance(document["seq"], int)
        or isinstance(document["seq"], bool)
        or not isinstance(document["signature"], dict)
        or not isinstance(document["head_hash"], str)
        or not isinstance(document["catalogue_id"], str)
    ):
        raise InputError(f"{path}: not a govern checkpoint (wrong field types)")
    return document


def _checkpoint_signature(document: dict[str, Any]) -> list[str]:
    """Problems with the checkpoint's own signature; empty when it matches its content."""
    signature = document["signature"]
    fields = {k: v for k, v in document.items() if k != "signature"}
    try:
        public = personal_keys.load_public_key(str(signature.get("public_key", "")))
        value = base64.b64decode(str(signature.get("value", "")), validate=True)
    except (SignatureError, ValueError, binascii.Error, UnicodeEncodeError):
        return ["checkpoint signature is unreadable"]
    if personal_keys.fingerprint_of(public) != signature.get("key"):
        return ["checkpoint names a key other than the one its signature carries"]
    if not personal_keys.verify(public, _checkpoint_body(fields), value):
        return ["checkpoint signature does not match its content (the file was altered)"]
    return []


def _summary(document: dict[str, Any] | None) -> dict[str, Any] | None:
    if document is None:
        return None
    return {
        k: document[k] for k in ("seq", "head_hash", "created_at", "created_by") if k in document
    }


# --- export -------------------------------------------------------------------------------------


def export_log(ctx: Context, output: Path, *, force: bool = False) -> int:
    """Write every event as JSON Lines (``docs/audit-log-format.md``) for stand-alone checks.

    The first line names the format and the catalogue; each further line is one event with
    every stored field, so ``docs/verify_log.py`` can check hashes and signatures without
    govern. The output follows ``govern.outputs.check_target`` (a new file, or a regular one
    with ``force``). Returns the number of events written.
    """
    outputs.check_target(output, force=force)
    with ctx.read() as session:
        conn = session.connection()
        catalogue_id = _catalogue_id(session, [])
        lines = [
            json.dumps({"format": EXPORT_FORMAT, "catalogue_id": catalogue_id}, ensure_ascii=True)
        ]
        count = 0
        for row in audit.iter_rows(conn):
            problem = audit.malformed(row)
            if problem is not None:
                # An export that stopped quietly here would look like a shorter, intact log.
                raise FindingError(
                    f"cannot export event {row[0]!r}: {problem}; `govern audit verify` says more"
                )
            event = audit.record_of(row)
            count += 1
            # ASCII escapes: a raw U+2028 would split the line for some JSON Lines readers;
            # the values, and so every hash, are the same.
            lines.append(
                json.dumps(
                    {
                        "seq": event.seq,
                        "ts": event.ts,
                        "actor": event.actor,
                        "action": event.action,
                        "subject": event.subject,
                        "payload": event.payload,
                        "prev_hash": event.prev_hash,
                        "hash": event.hash,
                        "format": event.format,
                        "key": event.key,
                        "settings": event.settings,
                        "signature": event.signature,
                    },
                    ensure_ascii=True,
                )
            )
    data = ("\n".join(lines) + "\n").encode("utf-8")
    outputs.write(output, data, journal=ctx.pending_dir, force=force, label="export")
    return count


__all__ = [
    "CHECKPOINT_FORMAT",
    "EXPORT_FORMAT",
    "audit_log",
    "count_events",
    "export_log",
    "read_checkpoint",
    "verify_audit",
    "verify_version_records",
    "write_checkpoint",
]
