"""``govern audit log|verify|checkpoint``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from govern.cli import output, runtime

audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)


@audit_app.command("log")
def log(
    actor: Annotated[str | None, typer.Option("--actor", help="Only events by this user.")] = None,
    subject: Annotated[
        str | None, typer.Option("--subject", help="Only events about this NAME or NAME@VERSION.")
    ] = None,
    action: Annotated[
        str | None,
        typer.Option("--action", help="Only this action (e.g. version, version.approve)."),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=100_000, help="How many events.")
    ] = 50,
    before: Annotated[
        int | None,
        typer.Option(
            "--before",
            min=1,
            max=2**31 - 1,  # sequence numbers are 32-bit integers in the catalogue
            help="Only events before this sequence number.",
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show audit events, newest first."""
    from govern.services import audit

    events = audit.audit_log(
        runtime.context(),
        actor=actor,
        subject=subject,
        action=action,
        before_seq=before,
        limit=limit,
    )
    if json_out:
        output.emit_json([e.to_json() for e in events])
        return
    output.table(
        ["seq", "time (UTC)", "actor", "action", "subject", "details"],
        [
            (
                e.seq,
                e.ts[:19].replace("T", " "),
                e.actor,
                e.action,
                e.subject,
                _short(json.dumps(e.payload, sort_keys=True)),
            )
            for e in events
        ],
    )


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@audit_app.command("verify")
def verify(
    checkpoint: Annotated[
        Path | None,
        typer.Option("--checkpoint", help="Also check the log against this checkpoint."),
    ] = None,
    since_checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--since-checkpoint",
            help="Check only what came after this trusted checkpoint (incremental).",
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Verify the log and everything the catalogue shows. Exit 1 names what was tampered with.

    Checks the hash chain, every event's signature against the key enrolled to its actor at
    the time, and the tables (users, keys, settings, versions, decisions, waivers, hashes of
    evaluations and reports) against what the events say they hold.
    """
    from govern.services import audit

    verdict = audit.verify_audit(
        runtime.context(), checkpoint=checkpoint, since_checkpoint=since_checkpoint
    )
    if json_out:
        output.emit_json(verdict.to_json())
    elif verdict.ok:
        scope = "events after the checkpoint" if verdict.scope != "full" else "events"
        output.line(
            f"Audit log intact: {verdict.events} {scope}, head {verdict.head_hash[:16]}…; "
            f"{verdict.signed_events} signed and verified"
            + (
                f", {verdict.unsigned_legacy} from before signing (verified by their hashes)"
                if verdict.unsigned_legacy
                else ""
            )
            + (
                f", {verdict.unsigned_refusals} unsigned records of refused attempts"
                if verdict.unsigned_refusals
                else ""
            )
            + "; the tables match the log."
        )
    else:
        for problem in verdict.problems:
            output.info(f"TAMPERED: {problem}")
    latest = verdict.latest_checkpoint
    if latest and not json_out and verdict.scope == "full":
        output.info(
            f"Latest checkpoint: event {latest['seq']}, signed by {latest['signed_by']} on "
            f"{latest['written_at'][:10]} ({latest['path'] or 'no path recorded'}); "
            f"{latest['events_after']} event(s) after it. Check it with --checkpoint FILE."
        )
    if verdict.covered and not json_out:
        covered = verdict.covered
        output.info(
            f"Checkpoint: {covered['covers']} (event {covered['seq']}, signed by "
            f"{covered.get('signed_by')}); {covered['events_after']} event(s) after it."
        )
    if not verdict.ok:
        raise typer.Exit(1)


@audit_app.command("checkpoint")
def checkpoint(
    out: Annotated[
        Path,
        typer.Option(
            "-o",
            "--output",
            help="New file (or a directory, e.g. in a git repository) for the checkpoint.",
            show_default=False,
        ),
    ],
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace an existing regular file (never a link or device)."),
    ] = False,
) -> None:
    """Verify everything, then sign a checkpoint with your (admin) key and write it.

    Keep it where the catalogue's users cannot rewrite it, e.g. commit it to a git
    repository; an existing file is not overwritten unless --force is given.
    """
    from govern.services import audit

    document = audit.write_checkpoint(runtime.context(), out, force=force)
    output.line(
        f"Checkpoint of event {document['seq']} (head {document['head_hash'][:16]}…), signed "
        f"by {document['created_by']}, written to {document['path']}."
    )


@audit_app.command("export")
def export(
    out: Annotated[
        Path, typer.Option("-o", "--output", help="New JSON Lines file.", show_default=False)
    ],
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace an existing regular file (never a link or device)."),
    ] = False,
) -> None:
    """Export every event (JSON Lines) for checking without govern: docs/verify_log.py."""
    from govern.services import audit

    count = audit.export_log(runtime.context(), out, force=force)
    output.line(f"Exported {count} events to {out}.")


def add_commands(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
