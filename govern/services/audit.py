"""The audit log: read it, verify its chain, and write signed checkpoints to keep elsewhere.

A checkpoint is a small JSON file holding the catalogue id, the newest event's sequence
number and hash, signed with the instance key. Verifying against a checkpoint catches what
the chain alone cannot: truncation (events after the checkpoint removed) and a rewrite of
the whole chain with freshly computed hashes.
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from govern import signing
from govern.errors import FindingError, InputError
from govern.services import keys
from govern.services.context import Context
from govern.services.views import AuditEventPublic, AuditVerdict
from govern.storage import audit, crud
from govern.storage.tables import utcnow

CHECKPOINT_FORMAT = "govern-audit-checkpoint/1"
_MAX_CHECKPOINT_BYTES = 100_000


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
        )
        for r in records
    ]


def count_events(ctx: Context) -> int:
    with ctx.read() as session:
        return audit.count_events(session.connection())


def _checkpoint_body(fields: dict[str, Any]) -> bytes:
    return audit.canonical_json(fields).encode("utf-8")


def write_checkpoint(ctx: Context, output: Path) -> dict[str, Any]:
    """Sign (catalogue id, head sequence number, head hash) and write it to ``output``."""
    identity = keys.load_identity(ctx.settings)
    with ctx.read() as session:
        conn = session.connection()
        verdict = audit.verify_chain(conn)
        catalogue_id = crud.get_meta(session=session, key="catalogue_id") or ""
    if not verdict.ok:
        assert verdict.first_break is not None
        raise FindingError(f"refusing to checkpoint a broken log: {verdict.first_break.reason}")
    fields = {
        "format": CHECKPOINT_FORMAT,
        "catalogue_id": catalogue_id,
        "seq": verdict.head_seq,
        "head_hash": verdict.head_hash,
        "created_at": utcnow().isoformat(),
        "created_by": ctx.actor,
    }
    signature = signing.sign_bytes(identity, _checkpoint_body(fields))
    document = {
        **fields,
        "signature": {
            "algorithm": signing.describe(identity.certificate)["algorithm"],
            "value": base64.b64encode(signature).decode("ascii"),
            "certificate": identity.certificate.public_bytes(serialization.Encoding.PEM).decode(
                "ascii"
            ),
        },
    }
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    try:
        tmp = output.with_name(output.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(output)
    except OSError as exc:
        raise InputError(f"{output}: cannot write checkpoint: {exc.strerror}") from None
    return document


def _read_checkpoint(path: Path) -> dict[str, Any]:
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
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a govern checkpoint (invalid JSON: {exc})") from None
    required = {"format", "catalogue_id", "seq", "head_hash", "signature"}
    if not isinstance(document, dict) or not required <= document.keys():
        raise InputError(f"{path}: not a govern checkpoint (missing fields)")
    if document["format"] != CHECKPOINT_FORMAT:
        raise InputError(f"{path}: unsupported checkpoint format {document['format']!r}")
    if not isinstance(document["seq"], int) or not isinstance(document["signature"], dict):
        raise InputError(f"{path}: not a govern checkpoint (wrong field types)")
    return document


def _check_signature(ctx: Context, document: dict[str, Any]) -> list[str]:
    """Problems with the checkpoint's signature or signer; empty when it is trusted."""
    signature = document["signature"]
    fields = {k: v for k, v in document.items() if k != "signature"}
    try:
        certificate = x509.load_pem_x509_certificate(
            str(signature.get("certificate", "")).encode("ascii")
        )
        value = base64.b64decode(str(signature.get("value", "")), validate=True)
    except (ValueError, binascii.Error, UnicodeEncodeError):
        return ["checkpoint signature is unreadable"]
    if not signing.verify_bytes(certificate, _checkpoint_body(fields), value):
        return ["checkpoint signature does not match its content (the file was altered)"]
    trusted = {signing.fingerprint(c) for c in keys.trusted_certificates(ctx.settings)}
    if signing.fingerprint(certificate) not in trusted:
        return [
            "checkpoint was signed by "
            f"{certificate.subject.rfc4514_string()}, which is not a trusted certificate "
            "(neither this instance's key nor GOVERN_TRUSTED_CERTIFICATES)"
        ]
    return []


def verify_audit(ctx: Context, *, checkpoint: Path | None = None) -> AuditVerdict:
    """Check the whole chain, and the log against a checkpoint if one is given.

    Returns the verdict; front ends exit 1 when ``ok`` is false.
    """
    document = _read_checkpoint(checkpoint) if checkpoint is not None else None
    with ctx.read() as session:
        conn = session.connection()
        if not audit.has_log(conn):
            return AuditVerdict(
                ok=False,
                events=0,
                head_seq=0,
                head_hash=audit.GENESIS_HASH,
                problems=["the audit log table is missing (it was dropped)"],
                checkpoint=_checkpoint_summary(document),
            )
        verdict = audit.verify_chain(conn)
        catalogue_id = crud.get_meta(session=session, key="catalogue_id") or ""
        problems: list[str] = []
        if verdict.first_break is not None:
            problems.append(verdict.first_break.reason)
        elif verdict.events == 0 and catalogue_id:
            # `govern init` writes catalogue.init as event 1 in the transaction that creates
            # the catalogue, so an initialised catalogue never has an empty log.
            problems.append(
                "the log is empty, but this catalogue was initialised with a first event: "
                "every event was deleted"
            )
        if document is not None:
            problems.extend(_check_signature(ctx, document))
            if document["catalogue_id"] != catalogue_id:
                problems.append("checkpoint belongs to a different catalogue")
            else:
                seq = document["seq"]
                at = audit.event_at(conn, seq)
                total = audit.count_events(conn)
                if at is None:
                    problems.append(
                        f"log truncated: the checkpoint records event {seq}, but the log "
                        f"ends at event {verdict.head_seq if verdict.ok else total}"
                    )
                elif at.hash != document["head_hash"]:
                    problems.append(
                        f"log rewritten: event {seq} no longer has the hash recorded in the "
                        "checkpoint"
                    )
    return AuditVerdict(
        ok=not problems,
        events=verdict.events,
        head_seq=verdict.head_seq,
        head_hash=verdict.head_hash,
        problems=problems,
        checkpoint=_checkpoint_summary(document),
        first_bad_event=verdict.first_break.seq if verdict.first_break else None,
    )


def _checkpoint_summary(document: dict[str, Any] | None) -> dict[str, Any] | None:
    if document is None:
        return None
    return {
        k: document[k] for k in ("seq", "head_hash", "created_at", "created_by") if k in document
    }
