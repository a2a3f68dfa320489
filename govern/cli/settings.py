"""``govern settings apply|show|history``: the organisation's governance settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from govern.cli import output, runtime

settings_app = typer.Typer(
    help=(
        "The governance settings held in the catalogue: approvals by tier, policy bindings, "
        "roles, waiver and validation rules. Only an admin changes them, signed and audited; "
        "nobody's own config can."
    ),
    no_args_is_help=True,
)
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@settings_app.command("apply")
def apply(
    path: Annotated[
        Path,
        typer.Argument(help="The settings document (YAML), e.g. org.yaml.", show_default=False),
    ],
    json_out: JsonOption = False,
) -> None:
    """Replace the governance settings with FILE (admins only). The whole document and its
    SHA-256 go into the signed audit event; every later decision records the revision."""
    from govern.services import governance

    revision = governance.apply_settings(runtime.context(), path)
    if json_out:
        output.emit_json(revision.to_json())
        return
    changed = ", ".join(revision.changed) or "nothing (same rules, new revision)"
    output.line(
        f"Governance settings revision {revision.revision} in force (SHA-256 "
        f"{revision.sha256[:16]}…); changed: {changed}."
    )


@settings_app.command("show")
def show(
    revision: Annotated[
        int | None, typer.Option("--revision", min=1, help="An earlier revision.")
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Show the governance settings in force (or an earlier revision)."""
    from govern.services import governance

    found = governance.show_settings(runtime.context(), revision=revision)
    if json_out:
        output.emit_json(found.to_json())
        return
    output.line(
        f"# revision {found.revision}, applied {found.created_at:%Y-%m-%d %H:%M} UTC by "
        f"{found.created_by}; SHA-256 {found.sha256}"
    )
    for key, value in found.document.items():
        output.line(f"{key}: {json.dumps(value, sort_keys=True)}")


@settings_app.command("history")
def history(json_out: JsonOption = False) -> None:
    """Every revision of the governance settings: when, by whom, what changed."""
    from govern.services import governance

    rows = governance.settings_history(runtime.context())
    if json_out:
        output.emit_json([r.to_json() for r in rows])
        return
    output.table(
        ["revision", "applied (UTC)", "by", "sha256", "changed"],
        [
            (
                r.revision,
                f"{r.created_at:%Y-%m-%d %H:%M}",
                r.created_by,
                r.sha256[:16] + "…",
                ", ".join(r.changed) or ("(first)" if r.revision == 1 else "-"),
            )
            for r in rows
        ],
    )


def add_commands(app: typer.Typer) -> None:
    app.add_typer(settings_app, name="settings")
