"""Policy commands: ``govern check``, ``govern policy validate|list|waivers``, ``govern waive``.

``govern check`` exits 0 when no blocking rule fails, 1 when one does, and 2 for bad input
or a bad policy file (checked before anything is evaluated or written).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from govern.cli import output, runtime
from govern.errors import InputError, PolicyError

if TYPE_CHECKING:
    from govern.policy.outcomes import CheckReport

FORMAT_NAMES = ("text", "json", "junit", "sarif", "github", "markdown")

policy_app = typer.Typer(
    name="policy",
    help="Validate policy files and list the shipped policy packs.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

PolicyOption = Annotated[
    list[str] | None,
    typer.Option(
        "--policy",
        "-p",
        help="Policy file, directory of policy files, or shipped pack name (repeatable). "
        "Default: the policies bound to the version (setting policy_bindings).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _color(fmt: str, output_file: Path | None) -> bool:
    return (
        fmt == "text"
        and output_file is None
        and sys.stdout.isatty()
        and "NO_COLOR" not in os.environ
    )


def _emit(report: CheckReport, fmt: str, output_file: Path | None, force: bool = False) -> None:
    from govern.policy.formats import LISTED, render

    rendered = render(report, fmt, color=_color(fmt, output_file))
    if output_file is not None:
        from govern import outputs

        outputs.write(output_file, rendered.encode("utf-8"), force=force)
    else:
        sys.stdout.write(rendered)
    if output_file is not None or fmt != "text":
        if len(report.subjects) > LISTED:
            tally = Counter(subject.outcome for subject in report.subjects)
            output.info(
                f"{len(report.subjects)} versions: "
                + ", ".join(f"{count} {outcome}" for outcome, count in sorted(tally.items()))
            )
        else:
            for subject in report.subjects:
                output.info(f"{subject.subject}: {subject.outcome.upper()} - {subject.summarise()}")
        if output_file is not None:
            output.info(f"{fmt} report written to {output_file}")


# Long because typer declares every option in the signature; the body only picks the
# kind of check (--all, one version, or stateless) and writes its report.
def check(
    ref: Annotated[
        str | None,
        typer.Argument(
            help="NAME@VERSION in the catalogue. Omit it and give --all, or --card, --data, "
            "--target, --sensitive and --predictions for a stateless check.",
            show_default=False,
        ),
    ] = None,
    every: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Check every version in the catalogue against --policy (a read: no run is "
            "recorded); exit 1 if a rule blocks any of them.",
        ),
    ] = False,
    policy: PolicyOption = None,
    fmt: Annotated[
        str,
        typer.Option("--format", "-f", help="text, json, junit, sarif, github or markdown."),
    ] = "text",
    output_file: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the report to this file instead of stdout."),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Replace an existing regular -o file (never a link or device)."
        ),
    ] = False,
    card: Annotated[
        Path | None, typer.Option("--card", help="Stateless: the model card (YAML).")
    ] = None,
    data: Annotated[
        Path | None, typer.Option("--data", help="Stateless: data with predictions (CSV/Parquet).")
    ] = None,
    target: Annotated[
        str | None, typer.Option("--target", help="Stateless: the column of true outcomes.")
    ] = None,
    sensitive: Annotated[
        str | None,
        typer.Option("--sensitive", help="Stateless: sensitive columns, comma-separated."),
    ] = None,
    predictions: Annotated[
        str | None, typer.Option("--predictions", help="Stateless: the column of predictions.")
    ] = None,
    score: Annotated[
        str | None, typer.Option("--score", help="Stateless: a column of scores (optional).")
    ] = None,
    positive: Annotated[
        str | None, typer.Option("--positive", help="Stateless: the favourable outcome label.")
    ] = None,
    no_record: Annotated[
        bool,
        typer.Option(
            "--no-record", help="Do not store the run in the catalogue (read-only check)."
        ),
    ] = False,
    category: Annotated[
        list[str] | None,
        typer.Option(
            "--category",
            help="Map a policy's category onto the evaluated column, e.g. "
            "race_ethnicity=race (repeatable).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Check a model version (or a card and data) against policies; exit 1 if a rule blocks.

    Exit 0: no blocking rule failed. Exit 1: a rule of severity error failed or could not
    be decided, without a waiver. Exit 2: bad input or an invalid policy file.
    """
    if fmt not in FORMAT_NAMES:
        raise InputError(f"unknown format {fmt!r}; choose one of {', '.join(FORMAT_NAMES)}")
    if output_file is not None:
        # Before the check: a run recorded for a report that cannot be written is a lie.
        from govern import outputs

        outputs.check_target(output_file, force=force)
    stateless = {
        "--card": card,
        "--data": data,
        "--target": target,
        "--sensitive": sensitive,
        "--predictions": predictions,
        "--score": score,
        "--positive": positive,
    }
    given = [name for name, value in stateless.items() if value is not None]
    policies = list(policy or [])
    from govern.policy.categories import parse_category_options

    categories = parse_category_options(category or [])
    if every:
        if ref is not None or given:
            raise InputError(
                f"--all checks every version; do not give {ref or ', '.join(given)} with it"
            )
        from govern.services import checks

        report = checks.check_versions(runtime.context(), policies, categories=categories)
    elif ref is not None:
        if given:
            raise InputError(
                f"give a model reference or a stateless check ({', '.join(given)}), not both"
            )
        from govern.services import checks

        report = checks.check_version(
            runtime.context(), ref, policies, record=not no_record, categories=categories
        )
    else:
        report = _check_stateless(
            card=card,
            data=data,
            target=target,
            sensitive=sensitive,
            predictions=predictions,
            score=score,
            positive=positive,
            policies=policies,
            categories=categories,
        )
    _emit(report, fmt, output_file, force)
    if every and _process_ends_here():
        _end_process(report.exit_code)
    if report.exit_code:
        raise typer.Exit(report.exit_code)


def _check_stateless(
    *,
    card: Path | None,
    data: Path | None,
    target: str | None,
    sensitive: str | None,
    predictions: str | None,
    score: str | None,
    positive: str | None,
    policies: list[str],
    categories: dict[str, str],
) -> CheckReport:
    """A card and a scored data file checked with no catalogue; every input it needs given."""
    needed = {
        "--card": card,
        "--data": data,
        "--target": target,
        "--sensitive": sensitive,
        "--predictions": predictions,
    }
    missing = [name for name, value in needed.items() if value is None]
    if missing:
        raise InputError(
            "give a model reference (NAME@VERSION), or for a stateless check "
            f"{', '.join(needed)}; missing {', '.join(missing)}"
        )
    assert card is not None and data is not None and target is not None
    assert sensitive is not None and predictions is not None
    features = [s.strip() for s in sensitive.split(",") if s.strip()]
    if not features:
        raise InputError("--sensitive names no column")
    from govern.services import checks

    return checks.check_stateless(
        runtime.settings(),
        card=card,
        data=data,
        target=target,
        sensitive=features,
        predictions=predictions,
        policies=policies,
        score=score,
        positive=positive,
        categories=categories,
    )


def _process_ends_here() -> bool:
    """Whether this process was started to run govern's ``main`` (the ``govern`` command or
    ``python -m govern``), so nothing runs after the command: not a test calling ``run``."""
    from govern.cli.app import main

    return getattr(sys.modules.get("__main__"), "main", None) is main


def _end_process(code: int) -> NoReturn:
    """End the process once the report is written, without freeing what it holds.

    A check of every version holds each one's decoded documents until its report is written
    (outcomes are worded from them when read); freeing those millions of objects one by one,
    then tearing the interpreter down, took longer than loading them and does nothing for the
    person waiting for the exit code. The output streams are flushed first; nothing else is
    pending (the check is a read, its session already closed).
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def validate(
    files: Annotated[
        list[str],
        typer.Argument(help="Policy files, directories or shipped pack names.", show_default=False),
    ],
) -> None:
    """Validate policy files and report every problem with file:line:column (exit 2 if any)."""
    from govern.policy.loader import check_policy_file, resolve_policy_args

    settings = runtime.settings()
    paths, problems = resolve_policy_args(files)
    for path, shipped in paths:
        loaded, found = check_policy_file(
            path, max_bytes=settings.max_policy_bytes, shipped=shipped
        )
        problems.extend(found)
        if loaded is not None:
            policy = loaded.policy
            output.line(
                f"ok: {path}: {policy.id} {policy.version} ({len(policy.rules)} rules, "
                f"{len(policy.manual)} manual items)"
            )
    if problems:
        raise PolicyError.from_problems(problems)


def list_packs(json_out: JsonOption = False) -> None:
    """List the shipped policy packs and what each checks (automated and manual items)."""
    from govern.policy.loader import load_policies, shipped_pack_names

    packs = load_policies(shipped_pack_names(), max_bytes=runtime.settings().max_policy_bytes)
    if json_out:
        output.emit_json(
            [
                {
                    **p.describe(),
                    "description": p.policy.description,
                    "rules": [
                        {
                            "id": r.id,
                            "kind": getattr(r, "kind"),  # noqa: B009
                            "severity": r.severity,
                            "title": r.title,
                            "source": r.source,
                        }
                        for r in p.policy.rules
                    ],
                    "manual": [
                        {"id": m.id, "title": m.title, "source": m.source} for m in p.policy.manual
                    ],
                }
                for p in packs
            ]
        )
        return
    for index, loaded in enumerate(packs):
        policy = loaded.policy
        if index:
            output.line()
        output.line(
            f"{policy.id} {policy.version}: {policy.title} "
            f"({len(policy.rules)} automated, {len(policy.manual)} manual)"
        )
        for rule in policy.rules:
            kind = getattr(rule, "kind")  # noqa: B009
            output.line(f"  {rule.severity:<8} {kind:<15} {rule.id}: {rule.title}")
        for item in policy.manual:
            output.line(f"  {'manual':<8} {'':<15} {item.id}: {item.title}")


def waivers(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION.", show_default=False)],
    json_out: JsonOption = False,
) -> None:
    """List a version's waivers, active and expired."""
    from govern.services import waivers as service

    rows = service.list_waivers(runtime.context(), ref)
    if json_out:
        output.emit_json([w.to_json() for w in rows])
        return
    if not rows:
        output.info(f"{ref} has no waivers.")
        return
    output.table(
        ["rule", "state", "expires", "granted by", "reason"],
        [
            (
                w.rule,
                "active" if w.active else "expired",
                w.expires_on,
                f"{w.granted_by} ({w.granted_role})",
                w.reason,
            )
            for w in rows
        ],
    )


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"--expires {text!r} is not a date such as 2027-03-31") from None


def waive(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION.", show_default=False)],
    rule: Annotated[str, typer.Option("--rule", help="POLICY/RULE (or a bare RULE id) to waive.")],
    reason: Annotated[str, typer.Option("--reason", help="Why the failure is accepted.")],
    expires: Annotated[
        str, typer.Option("--expires", help="Last day the waiver holds (YYYY-MM-DD).")
    ],
    json_out: JsonOption = False,
) -> None:
    """Waive a failing rule for one version until a date (approver, compliance or admin).

    The waived rule is still reported, as waived; it no longer blocks checks, approval or
    deployment until the waiver expires. Whoever registered or submitted the version cannot
    waive its rules.
    """
    from govern.services import waivers as service

    waiver = service.grant_waiver(
        runtime.context(), ref, rule=rule, reason=reason, expires=_date(expires)
    )
    if json_out:
        output.emit_json(waiver.to_json())
        return
    output.line(
        f"Waived {waiver.rule} for {waiver.ref} until {waiver.expires_on} "
        f"(granted by {waiver.granted_by}, {waiver.granted_role})."
    )


def add_commands(app: typer.Typer) -> None:
    app.command("check")(check)
    app.command("waive")(waive)
    policy_app.command("validate")(validate)
    policy_app.command("list")(list_packs)
    policy_app.command("waivers")(waivers)
    app.add_typer(policy_app, name="policy")


__all__ = ["add_commands"]
