"""``govern monitor run|show``: a deployed version's behaviour over time, from its logs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from govern import formatting as fmt
from govern.cli import output, runtime
from govern.cli.assess import JsonOption, RefArgument
from govern.errors import InputError

if TYPE_CHECKING:
    from govern.services.monitoring import MonitoringRun

monitor_app = typer.Typer(
    name="monitor",
    help="Production monitoring: count prediction logs into a version's record and show it.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

WindowOption = Annotated[
    str, typer.Option("--window", help="Window of the figures shown: 1d, 1w (from Monday) or 1mo.")
]


def run(
    ref: RefArgument,
    logs: Annotated[
        list[str] | None,
        typer.Option(
            "--logs",
            help="Prediction log files or globs (Parquet, CSV, JSON Lines); repeatable. "
            "Quote a glob so the shell leaves it to govern.",
        ),
    ] = None,
    outcomes: Annotated[
        list[str] | None,
        typer.Option(
            "--outcomes",
            help="Files or globs of outcomes that arrived later (request id and outcome), "
            "joined to the counted requests; repeatable.",
        ),
    ] = None,
    outcome_column: Annotated[
        str,
        typer.Option("--outcome-column", help="The outcome column of the --outcomes files."),
    ] = "outcome",
    sensitive: Annotated[
        str, typer.Option("--sensitive", help="Sensitive feature columns, comma-separated.")
    ] = "",
    timestamp: Annotated[
        str, typer.Option("--timestamp", help="Column with the time of each prediction.")
    ] = "timestamp",
    request_id: Annotated[
        str, typer.Option("--request-id", help="Column identifying each request.")
    ] = "request_id",
    prediction: Annotated[
        str, typer.Option("--prediction", help="Column with the decision.")
    ] = "prediction",
    score: Annotated[
        str | None, typer.Option("--score", help="Column with the score (probability).")
    ] = None,
    outcome: Annotated[
        str | None,
        typer.Option("--outcome", help="Column with the actual outcome, where it is known."),
    ] = None,
    version_column: Annotated[
        str | None,
        typer.Option(
            "--version-column", help="Column naming each row's model version (others left out)."
        ),
    ] = None,
    features: Annotated[
        str,
        typer.Option(
            "--features",
            help="Input columns watched for drift (histograms per day), comma-separated.",
        ),
    ] = "",
    champion_prediction: Annotated[
        str | None,
        typer.Option(
            "--champion-prediction",
            help="A shadow's logs: the column with the champion's decision on the same "
            "request (agreement and fairness deltas per group).",
        ),
    ] = None,
    positive: Annotated[
        str, typer.Option("--positive", help="The positive (favourable) decision label.")
    ] = "1",
    window: WindowOption = "1d",
    json_out: JsonOption = False,
) -> None:
    """Count prediction logs into the version's monitoring record (incremental), and join
    outcomes that arrived later to the requests counted.

    A file already counted is skipped; one that changed since it was counted is refused.
    Per UTC day, govern keeps counts per group, decision and outcome and a score histogram,
    never rows. Every run that counts something is a signed audit event.
    """
    from govern.monitor.figures import WINDOWS
    from govern.monitor.logs import LogColumns, OutcomeColumns
    from govern.services import monitoring

    if window not in WINDOWS:
        raise InputError(f"--window {window}: choose one of {', '.join(WINDOWS)}")
    columns = LogColumns(
        timestamp=timestamp,
        request_id=request_id,
        prediction=prediction,
        sensitive=tuple(s.strip() for s in sensitive.split(",") if s.strip()),
        score=score,
        outcome=outcome,
        version=version_column,
        champion=champion_prediction,
        features=tuple(f.strip() for f in features.split(",") if f.strip()),
        positive=positive,
    )
    record = monitoring.run(
        runtime.context(),
        ref,
        logs=logs or [],
        columns=columns,
        outcomes=outcomes or [],
        outcome_columns=OutcomeColumns(request_id=request_id, outcome=outcome_column),
    )
    if json_out:
        output.emit_json(record.to_json())
        return
    _print_run(record)
    if record.counted or record.outcomes:
        _print_windows(monitoring.show(runtime.context(), ref, width=window))


def _print_run(record: MonitoringRun) -> None:
    skipped = (
        f"; {fmt.count(len(record.skipped), 'file')} already counted" if record.skipped else ""
    )
    if not record.counted and not record.outcomes:
        output.line(f"{record.ref}: nothing new to count{skipped}")
        return
    if record.counted:
        first, last = record.days[0], record.days[-1]
        span = f"{first} to {last}" if first != last else str(first)
        output.line(
            f"{record.ref}: counted {fmt.count(len(record.counted), 'file')} "
            f"({fmt.count(record.rows, 'row')}) into days {span}{skipped}"
        )
    if record.outcomes:
        unmatched = (
            f", {fmt.count(record.unmatched)} match no counted request (give them again in a "
            "new file once their logs are counted)"
            if record.unmatched
            else ""
        )
        known = f", {fmt.count(record.known)} already had one" if record.known else ""
        output.line(
            f"{record.ref}: joined {fmt.count(len(record.outcomes), 'outcome file')}: "
            f"{fmt.count(record.matched - record.known, 'request')} got an outcome"
            f"{known}{unmatched}"
        )
    if record.other_versions:
        output.line(f"  {fmt.count(record.other_versions, 'row')} of other versions left out")


def show(ref: RefArgument, window: WindowOption = "1d", json_out: JsonOption = False) -> None:
    """The version's monitoring windows: rows, outcomes known, score drift, worst group."""
    from govern.monitor.figures import WINDOWS
    from govern.services import monitoring

    if window not in WINDOWS:
        raise InputError(f"--window {window}: choose one of {', '.join(WINDOWS)}")
    shown = monitoring.show(runtime.context(), ref, width=window)
    if json_out:
        output.emit_json(shown)
        return
    if not shown["windows"]:
        output.line(f"{shown['ref']}: no prediction logs counted yet (govern monitor run)")
        return
    _print_windows(shown)


def _print_windows(shown: dict[str, Any]) -> None:
    rows = []
    paired = any(window.get("shadow") for window in shown["windows"])
    for window in shown["windows"]:
        worst = _lowest_impact(window["groupings"])
        row = [
            window["start"],
            fmt.count(window["rows"]),
            fmt.count(window["outcomes_known"]),
            fmt.compact(window["score_psi"]),
            "" if worst is None else f"{fmt.compact(worst[1])} {worst[0]}",
        ]
        if paired:
            shadow = window.get("shadow") or {}
            row.append(fmt.percent(shadow.get("agreement")))
        rows.append(row)
    headers = ["window", "rows", "outcomes", "score psi", "lowest impact ratio"]
    output.table(
        headers + (["agrees with champion"] if paired else []),
        rows,
        title=f"{shown['ref']}: {len(rows)} windows of {shown['window']} "
        f"({', '.join(shown['features']) or 'no sensitive features'})",
    )


def _lowest_impact(groupings: list[dict[str, Any]]) -> tuple[str, float] | None:
    found = [
        (fmt.group(g["name"], group["group"]), group["impact_ratio"])
        for g in groupings
        for group in g["groups"]
        if group.get("impact_ratio") is not None and not group.get("small")
    ]
    return min(found, key=lambda item: item[1]) if found else None


def status(
    ref: Annotated[
        str | None,
        typer.Argument(help="NAME@VERSION; omit it and give --all.", show_default=False),
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", help="Every deployed and shadow version.")
    ] = False,
    policy: Annotated[
        list[str] | None,
        typer.Option(
            "--policy",
            "-p",
            help="Policy file or shipped pack whose monitoring rules apply (repeatable). "
            "Default: production-monitoring.",
            show_default=False,
        ),
    ] = None,
    fmt_name: Annotated[
        str, typer.Option("--format", help="text, json, junit, sarif, github or markdown.")
    ] = "text",
) -> None:
    """Judge the monitoring rules over the latest windows; exit 1 when a blocking one fails.

    For a scheduler: `govern monitor status --all` fails the job when a deployed model's
    live impact ratio stays low, its scores drift or its logs stop arriving. A read: nothing
    is recorded.
    """
    from govern.policy.formats import FORMATS, render
    from govern.services import monitoring

    if every == (ref is not None):
        raise InputError("give a version (NAME@VERSION) or --all, not both and not neither")
    if fmt_name not in FORMATS:
        raise InputError(f"--format {fmt_name}: choose one of {', '.join(FORMATS)}")
    report = monitoring.status(
        runtime.context(), None if every else [str(ref)], policies=policy or []
    )
    output.line(render(report, fmt_name).rstrip("\n"))
    if report.exit_code:
        raise typer.Exit(report.exit_code)


def add_commands(app: typer.Typer) -> None:
    monitor_app.command("run")(run)
    monitor_app.command("show")(show)
    monitor_app.command("status")(status)
    app.add_typer(monitor_app, name="monitor")
