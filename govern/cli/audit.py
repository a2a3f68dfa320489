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
        typer.Option("--checkpoint", help="A checkpoint from `govern audit checkpoint`."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Verify the hash chain (and the log against a checkpoint). Exit 1 if tampered with."""
    from govern.services import audit

    verdict = audit.verify_audit(runtime.context(), checkpoint=checkpoint)
    if json_out:
        output.emit_json(verdict.to_json())
    elif verdict.ok:
        against = (
            f"; matches checkpoint at event {verdict.checkpoint['seq']}"
            if verdict.checkpoint
            else ""
        )
        output.line(
            f"Audit log intact: {verdict.events} events, head {verdict.head_hash[:16]}…{against}."
        )
    else:
        for problem in verdict.problems:
            output.info(f"TAMPERED: {problem}")
    if not verdict.ok:
        raise typer.Exit(1)


@audit_app.command("checkpoint")
def checkpoint(
    out: Annotated[
        Path,
        typer.Option(
            "-o", "--output", help="Where to write the signed checkpoint.", show_default=False
        ),
    ],
) -> None:
    """Write a signed checkpoint (event count and head hash) to keep somewhere safe."""
    from govern.services import audit

    document = audit.write_checkpoint(runtime.context(), out)
    output.line(
        f"Checkpoint of event {document['seq']} (head {document['head_hash'][:16]}…) "
        f"written to {out}."
    )


def add_commands(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
