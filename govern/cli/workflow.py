"""Workflow commands: submit, approve, reject, request-changes, deploy, retire, queue,
compare, history, due."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import typer

from govern import formatting as fmt
from govern.cli import output, runtime

if TYPE_CHECKING:
    from govern.services.workflow import TransitionResult

Ref = Annotated[
    str, typer.Argument(help="NAME@VERSION (or NAME for its latest).", show_default=False)
]
Comment = Annotated[str, typer.Option("--comment", "-m", help="Why; kept with the decision.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _print(result: TransitionResult, json_out: bool) -> None:
    if json_out:
        output.emit_json(result.to_json())
        return
    moved = (
        f"{result.from_state} -> {result.to_state}"
        if result.from_state != result.to_state
        else f"still {result.to_state}"
    )
    output.line(f"{result.ref}: {result.action} by {result.actor} ({result.role}); {moved}.")
    if result.approvals:
        output.line(f"Approvals: {result.approvals}.")
    if result.superseded:
        output.line(f"Previous champion {result.superseded} superseded.")
    if result.next_validation_due:
        output.line(f"Next validation due {result.next_validation_due}.")
    for note in result.notes:
        output.info(f"note: {note}")


def submit(ref: Ref, comment: Comment = "", json_out: JsonOption = False) -> None:
    """Submit a draft (or a version with changes requested) for review."""
    from govern.services import workflow

    _print(workflow.submit(runtime.context(), ref, comment=comment), json_out)


def approve(ref: Ref, comment: Comment = "", json_out: JsonOption = False) -> None:
    """Approve a submitted version (re-runs its bound policies; separation of duties applies)."""
    from govern.services import workflow

    _print(workflow.approve(runtime.context(), ref, comment=comment), json_out)


def reject(ref: Ref, comment: Comment = "", json_out: JsonOption = False) -> None:
    """Reject a submitted version for good (a comment is required)."""
    from govern.services import workflow

    _print(workflow.reject(runtime.context(), ref, comment=comment), json_out)


def request_changes(ref: Ref, comment: Comment = "", json_out: JsonOption = False) -> None:
    """Send a submitted version back to its developer (a comment is required)."""
    from govern.services import workflow

    _print(workflow.request_changes(runtime.context(), ref, comment=comment), json_out)


def deploy(
    ref: Ref,
    comment: Comment = "",
    shadow: Annotated[
        bool,
        typer.Option(
            "--shadow", help="Run behind the scenes beside the champion, unseen by customers."
        ),
    ] = False,
    previous: Annotated[
        str, typer.Option("--previous", help="What happens to the old champion: retire or shadow.")
    ] = "retire",
    json_out: JsonOption = False,
) -> None:
    """Deploy an approved version as champion (or in shadow); passes policy and promotion gates."""
    from govern.services import workflow

    result = workflow.deploy(
        runtime.context(), ref, comment=comment, shadow=shadow, previous=previous
    )
    _print(result, json_out)


def retire(ref: Ref, comment: Comment = "", json_out: JsonOption = False) -> None:
    """Retire a version; it becomes read-only."""
    from govern.services import workflow

    _print(workflow.retire(runtime.context(), ref, comment=comment), json_out)


def queue(json_out: JsonOption = False) -> None:
    """What awaits you (the acting user), oldest first, and why."""
    from govern.services import workflow

    context = runtime.context()
    items = workflow.queue(context)
    if json_out:
        output.emit_json([i.to_json() for i in items])
        return
    if not items:
        output.info(f"Nothing awaits {context.actor}.")
        return
    output.table(
        ["version", "state", "tier", "waiting since", "why"],
        [(i.ref, i.state, i.risk_tier, fmt.moment(i.waiting_since), i.reason) for i in items],
    )


#: Overall figures that are counts, shown without decimals.
_COUNTS = frozenset({"n"})


def _figure(metric: str, value: float | None, *, signed: bool = False) -> str:
    digits = 0 if metric in _COUNTS else 3
    return fmt.signed(value, digits) if signed else fmt.number(value, digits)


def compare(
    champion: Annotated[
        str, typer.Argument(help="The champion, NAME@VERSION.", show_default=False)
    ],
    challenger: Annotated[
        str, typer.Argument(help="The challenger, NAME@VERSION.", show_default=False)
    ],
    json_out: JsonOption = False,
) -> None:
    """Champion and challenger side by side: performance and per-group fairness deltas."""
    from govern.services import workflow

    context = runtime.context()
    comparison = workflow.compare(context, champion, challenger)
    verdict = workflow.promotion_verdict(context, comparison)
    # Diagnostics go to stderr in both forms, so a pipeline reading the JSON still sees them.
    for warning in comparison.warnings:
        output.info(f"warning: {warning}")
    if json_out:
        output.emit_json({**comparison.to_json(), "promotion_blockers": verdict})
        return
    head = [comparison.champion, comparison.challenger]
    output.table(
        ["metric", *head, "delta"],
        [
            (
                m.metric,
                _figure(m.metric, m.champion),
                _figure(m.metric, m.challenger),
                _figure(m.metric, m.delta, signed=True),
            )
            for m in comparison.overall
        ],
        title="Performance",
    )
    output.line()
    output.table(
        ["grouping", "metric", *head, "delta"],
        [
            (
                fmt.grouping(m.scope),
                m.metric,
                fmt.number(m.champion),
                fmt.number(m.challenger),
                fmt.signed(m.delta),
            )
            for m in comparison.fairness
        ],
        title="Fairness",
    )
    output.line()
    output.table(
        ["grouping", "group", "metric", *head, "delta"],
        [
            (
                fmt.grouping(g.grouping),
                fmt.group(g.grouping, g.group),
                g.metric,
                fmt.number(g.champion),
                fmt.number(g.challenger),
                fmt.signed(g.delta),
            )
            for g in comparison.groups
        ],
        title="Per group",
    )
    output.line()
    if verdict:
        output.line("Promotion gate: the challenger would be REFUSED:")
        for reason in verdict:
            output.line(f"  - {reason}")
    else:
        output.line("Promotion gate: the challenger would pass.")


def _moment(ts: str) -> str:
    return ts[:19].replace("T", " ")


def history(
    name: Annotated[str, typer.Argument(help="Model name.", show_default=False)],
    at: Annotated[
        dt.datetime | None,
        typer.Option(
            "--at",
            formats=["%Y-%m-%d"],
            help="Which version was deployed on this date, and who approved it.",
        ),
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Who did what to a model's versions, and when, from the audit log."""
    from govern.services import workflow

    answer = workflow.history(runtime.context(), name, at=at.date() if at else None)
    if json_out:
        output.emit_json(answer.to_json())
        return
    output.table(
        ["seq", "time (UTC)", "version", "action", "by", "state", "comment"],
        [
            (
                e.seq,
                _moment(e.ts),
                e.ref,
                e.action,
                f"{e.actor} ({e.role})" if e.role else e.actor,
                f"{e.from_state or '-'} -> {e.to_state or '-'}",
                e.comment,
            )
            for e in answer.entries
        ],
    )
    if answer.at is not None:
        output.line()
        if answer.at.ref is None:
            output.line(f"At the end of {answer.at.date} no version of {name} was deployed.")
        else:
            since = _moment(answer.at.deployed_since or "")
            who = ", ".join(answer.at.approvers) or "nobody recorded"
            output.line(
                f"On {answer.at.date} {answer.at.ref} was deployed (since "
                f"{since} UTC), approved by {who}."
            )
        for span in answer.at.earlier:
            output.line(
                f"Earlier that day {span.ref} was deployed (from "
                f"{_moment(span.deployed_since)} to {_moment(span.until)} UTC), approved by "
                f"{', '.join(span.approvers) or 'nobody recorded'}."
            )


def due(
    within: Annotated[
        int | None, typer.Option("--within", help="Days ahead to look (default 30).")
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Versions whose re-validation is due soon or overdue."""
    from govern.services import workflow

    items = workflow.due(runtime.context(), within_days=within)
    if json_out:
        output.emit_json([i.to_json() for i in items])
        return
    if not items:
        output.info("No validation is due.")
        return
    output.table(
        ["version", "state", "tier", "owner", "due", "days", "status"],
        [
            (
                i.ref,
                i.state,
                i.risk_tier,
                i.owner,
                i.next_validation_due,
                i.days_left,
                i.status.upper(),
            )
            for i in items
        ],
    )


def add_commands(app: typer.Typer) -> None:
    app.command("submit")(submit)
    app.command("approve")(approve)
    app.command("reject")(reject)
    app.command("request-changes")(request_changes)
    app.command("deploy")(deploy)
    app.command("retire")(retire)
    app.command("queue")(queue)
    app.command("compare")(compare)
    app.command("history")(history)
    app.command("due")(due)
