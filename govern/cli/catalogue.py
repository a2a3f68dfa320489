"""``govern init``, ``register``, ``list`` and ``show``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from govern import formatting as fmt
from govern.cli import output, runtime

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")]


def init(
    settings: Annotated[
        Path | None,
        typer.Option("--settings", help="The organisation's governance settings (YAML)."),
    ] = None,
    display_name: Annotated[
        str, typer.Option("--display-name", help="Your full name, for reports.")
    ] = "",
    json_out: JsonOption = False,
) -> None:
    """Create a catalogue (./govern.db, GOVERN_DATABASE_URL or --db), or upgrade an old one.

    Safe to run twice. On a new catalogue you become its first admin, your personal key
    (`govern keys init` first) its first enrolled key, and --settings (default: govern's
    defaults) its first governance settings revision.
    """
    from govern.services import catalogue, governance

    rules = governance.read_settings_file(settings) if settings is not None else None
    result = catalogue.init_catalogue(
        runtime.context(), settings=rules, display_name=display_name.strip()
    )
    if json_out:
        output.emit_json(result.to_json())
        return
    if result.created:
        output.line(f"Created catalogue {result.database} (schema {result.revision_after}).")
    elif result.revision_before != result.revision_after:
        output.line(
            f"Upgraded catalogue {result.database} from schema {result.revision_before} "
            f"to {result.revision_after}."
        )
    else:
        output.line(f"Catalogue {result.database} is up to date (schema {result.revision_after}).")
    if result.admin:
        output.line(
            f"{result.admin} is its admin; add people with `govern users add NAME --role ROLE`."
        )


def register(
    card: Annotated[Path, typer.Argument(help="Model card file (YAML).", show_default=False)],
    artifact: Annotated[
        Path | None,
        typer.Option("--artifact", help="Model artifact (.skops, .onnx); hashed, never loaded."),
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Add a model version to the catalogue from its card (and artifact)."""
    from govern.services import catalogue

    detail = catalogue.register_version(runtime.context(), card, artifact=artifact)
    if json_out:
        output.emit_json(detail.to_json())
        return
    artifact_note = (
        f", artifact {detail.artifact.format} sha256:{detail.artifact.sha256[:12]}"
        if detail.artifact.sha256
        else ""
    )
    output.line(
        f"Registered {detail.ref} ({detail.risk_tier} risk, state {detail.state}{artifact_note})."
    )


def list_(
    model: Annotated[
        str | None, typer.Argument(help="Only this model.", show_default=False)
    ] = None,
    state: Annotated[
        list[str] | None, typer.Option("--state", help="Only versions in this state (repeatable).")
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """List every model version with state, risk tier, owner and latest evidence."""
    from govern.services import catalogue

    rows = catalogue.list_versions(runtime.context(), model=model, states=state or None)
    if json_out:
        output.emit_json([row.to_json() for row in rows])
        return
    if not rows:
        output.info("The catalogue is empty; add a model with `govern register card.yaml`.")
        return
    output.table(
        ["model", "version", "state", "tier", "owner", "evaluated", "policy", "validation due"],
        [
            (
                r.name,
                r.version,
                r.state,
                r.risk_tier,
                r.owner,
                fmt.day(r.last_evaluated_at),
                r.policy_outcome or fmt.MISSING,
                fmt.day(r.next_validation_due),
            )
            for r in rows
        ],
    )


def show(
    ref: Annotated[
        str,
        typer.Argument(help="NAME@VERSION, or NAME for its latest version.", show_default=False),
    ],
    json_out: JsonOption = False,
) -> None:
    """Show one model version: card, artifact, evaluations, policy runs, decisions, reports."""
    from govern.services import catalogue

    detail = catalogue.show_version(runtime.context(), ref)
    if json_out:
        output.emit_json(detail.to_json())
        return
    card = detail.card
    output.line(f"{detail.ref}  [{detail.state}]")
    output.line(card.get("model_details", {}).get("description", "") or "")
    output.line()
    output.fields(
        [
            ("risk tier", detail.risk_tier),
            ("owner", detail.owner),
            ("business owner", detail.business_owner or fmt.MISSING),
            ("business unit", detail.business_unit or fmt.MISSING),
            (
                "regulatory scope",
                ", ".join(card["governance"].get("regulatory_scope", [])) or fmt.MISSING,
            ),
            ("validation due", fmt.day(detail.next_validation_due)),
            ("registered", f"{fmt.moment(detail.created_at)} by {detail.created_by}"),
            ("card sha256", detail.card_sha256),
            (
                "artifact",
                f"{detail.artifact.format}, {fmt.size(detail.artifact.size)}, "
                f"sha256:{detail.artifact.sha256}"
                if detail.artifact.sha256
                else "none registered",
            ),
            ("other versions", ", ".join(detail.other_versions) or fmt.MISSING),
        ]
    )
    from govern.domain.card import MODEL_CARD_SECTIONS

    missing = [s for s in MODEL_CARD_SECTIONS if not card.get(s)]
    output.line()
    output.line(
        "Card sections: " + ("all nine present" if not missing else "missing " + ", ".join(missing))
    )
    output.line(
        f"Evaluations: {len(detail.evaluations)}   Policy runs: {len(detail.policy_runs)}   "
        f"Reports: {len(detail.reports)}"
    )
    _print_references(detail.evaluations[0] if detail.evaluations else None)
    for warning in (detail.evaluations[0].get("warnings") or []) if detail.evaluations else []:
        output.line(f"warning (evaluation {detail.evaluations[0].get('id')}): {warning}")
    if detail.decisions:
        output.line()
        output.table(
            ["when", "action", "by", "role", "state", "comment"],
            [
                (
                    fmt.moment(d.created_at),
                    d.action,
                    d.actor,
                    d.role,
                    f"{d.from_state} -> {d.to_state}",
                    d.comment,
                )
                for d in detail.decisions
            ],
            title="Decisions",
        )


#: Groupings whose impact-ratio reference ``show`` lists (the rest: see --json).
REFERENCES_SHOWN = 6


def _print_references(latest: dict[str, Any] | None) -> None:
    """The latest evaluation's impact-ratio reference groups, and why each was chosen."""
    references = (latest or {}).get("references") or []
    if not references:
        return
    output.line(f"Impact-ratio references (evaluation {latest and latest.get('id')}):")
    for item in references[:REFERENCES_SHOWN]:
        why = item.get("reason") or "most-selected group (chosen before reasons were recorded)"
        grouping = str(item.get("grouping"))
        output.line(f"  {fmt.grouping(grouping)}: {fmt.group(grouping, item.get('group'))} ({why})")
    if len(references) > REFERENCES_SHOWN:
        output.line(f"  ... and {len(references) - REFERENCES_SHOWN} more (see --json)")


def add_commands(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("register")(register)
    app.command("list")(list_)
    app.command("show")(show)
