"""``govern evaluate``, ``govern explain`` and ``govern drift``."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from govern import formatting as fmt
from govern.cli import output, runtime
from govern.errors import InputError

if TYPE_CHECKING:
    from govern.assess.results import EvaluationResults, Grouping
    from govern.services.evaluation import (
        DriftRecord,
        EvaluationRecord,
        ExplanationRecord,
        RecomputeResult,
    )

MAX_FLAGGED_SHOWN = 25

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")]
RefArgument = Annotated[
    str, typer.Argument(help="NAME@VERSION, or NAME for its latest version.", show_default=False)
]


class ProgressBar:
    """A one-line progress bar on stderr; silent when stderr is not a terminal (CI, pipes)."""

    WIDTH = 28

    def __init__(self) -> None:
        self.active = sys.stderr.isatty()
        self.shown = False
        self.last = 0.0

    def __call__(self, step: str, done: int, total: int) -> None:
        if not self.active:
            return
        now = time.monotonic()
        if total and done < total and now - self.last < 0.1:
            return
        self.last = now
        if total:
            filled = int(self.WIDTH * done / total)
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            text = f"{step:<22} [{bar}] {done}/{total}"
        else:
            text = f"{step}..."
        sys.stderr.write("\r\033[K" + text)
        sys.stderr.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
            self.shown = False


def _split(values: list[str] | None) -> list[str]:
    items: list[str] = []
    for value in values or []:
        items.extend(part.strip() for part in value.split(",") if part.strip())
    return items


def _references(values: list[str] | None) -> list[tuple[str, str]]:
    """``--reference race=Caucasian`` as ``("race", "Caucasian")`` (the value may hold "=")."""
    pairs: list[tuple[str, str]] = []
    for value in values or []:
        feature, sign, label = value.partition("=")
        if not sign or not feature.strip():
            raise InputError(
                f"--reference takes FEATURE=VALUE (e.g. race=Caucasian), not {value!r}"
            )
        pairs.append((feature.strip(), label))
    return pairs


# Long because typer declares every option in the signature; the body only checks which
# options go together and hands the rest to the evaluation service.
def evaluate(
    ref: Annotated[
        str | None,
        typer.Argument(help="NAME@VERSION to evaluate (not with --recompute).", show_default=False),
    ] = None,
    data: Annotated[
        Path | None, typer.Option("--data", help="Evaluation data (CSV or Parquet).")
    ] = None,
    target: Annotated[str | None, typer.Option("--target", help="Outcome column.")] = None,
    sensitive: Annotated[
        list[str] | None,
        typer.Option("--sensitive", help="Sensitive feature columns, comma-separated."),
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option(
            "--model",
            help="Model artifact (.skops or .onnx); default: the version's registered artifact.",
        ),
    ] = None,
    predictions: Annotated[
        str | None,
        typer.Option("--predictions", help="Column of the data holding the decisions."),
    ] = None,
    score: Annotated[
        str | None,
        typer.Option("--score", help="Column of scores/probabilities of the positive label."),
    ] = None,
    positive: Annotated[
        str | None,
        typer.Option("--positive", help="The favourable label (default 1 for a 0/1 target)."),
    ] = None,
    id_column: Annotated[
        str | None, typer.Option("--id-column", help="Column of row identifiers.")
    ] = None,
    explain: Annotated[
        int, typer.Option("--explain", help="Per-decision explanations to store (a sample).")
    ] = 0,
    explain_sample: Annotated[
        int | None,
        typer.Option(
            "--explain-sample",
            help="Rows for global SHAP importance (default 1000; 0 turns SHAP off).",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of every sample.")] = 0,
    min_group_size: Annotated[
        int | None,
        typer.Option("--min-group-size", help="Flag groups smaller than this (default 30)."),
    ] = None,
    task: Annotated[
        str,
        typer.Option("--task", help="binary_classification or regression."),
    ] = "binary_classification",
    reference: Annotated[
        list[str] | None,
        typer.Option(
            "--reference",
            metavar="FEATURE=VALUE",
            help="Impact-ratio reference group of a sensitive feature (repeatable, one per "
            "feature; an intersection's is the combination when each of its features has "
            "one). Default: the most-selected group that is neither small nor missing.",
        ),
    ] = None,
    trust_pickle: Annotated[
        bool,
        typer.Option(
            "--trust-pickle",
            help="Allow a pickle/joblib artifact (runs its code; recorded in the audit log); "
            "needed again to recompute an evaluation of one.",
        ),
    ] = False,
    recompute: Annotated[
        int | None,
        typer.Option(
            "--recompute",
            metavar="EVALUATION_ID",
            help="Re-run a stored evaluation from its recorded inputs; exit 1 if any figure "
            "differs.",
        ),
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Evaluate a model version: performance, fairness per group and intersection, SHAP.

    Stores the evaluation in the catalogue with an audit event and prints a summary.
    """
    from govern.services import evaluation

    if recompute is not None:
        given = {
            "REF": ref is not None,
            "--data": data is not None,
            "--target": target is not None,
            "--sensitive": bool(sensitive),
            "--model": model is not None,
            "--predictions": predictions is not None,
            "--score": score is not None,
            "--positive": positive is not None,
            "--id-column": id_column is not None,
            "--explain": explain != 0,
            "--explain-sample": explain_sample is not None,
            "--seed": seed != 0,
            "--min-group-size": min_group_size is not None,
            "--task": task != "binary_classification",
            "--reference": bool(reference),
        }
        _recompute(recompute, given=given, trust_pickle=trust_pickle, json_out=json_out)
        return
    missing = [
        option
        for option, value in (("REF", ref), ("--data", data), ("--target", target))
        if value is None
    ]
    if missing:
        raise InputError(f"govern evaluate needs {', '.join(missing)} (or --recompute ID)")
    features = _split(sensitive)
    if not features:
        raise InputError("govern evaluate needs --sensitive COL[,COL...]")
    assert ref is not None and data is not None and target is not None
    references = _references(reference)
    bar = ProgressBar()
    try:
        record = evaluation.evaluate_version(
            runtime.context(),
            ref,
            data=data,
            target=target,
            sensitive=features,
            model=model,
            predictions=predictions,
            score=score,
            positive=positive,
            id_column=id_column,
            explain=explain,
            explain_sample=explain_sample,
            seed=seed,
            min_group_size=min_group_size,
            trust_pickle=trust_pickle,
            task=task,
            progress=bar,
            reference=references,
        )
    finally:
        bar.close()
    if json_out:
        output.emit_json(record.to_json())
        return
    print_evaluation(record)


def _recompute(
    evaluation_id: int, *, given: dict[str, bool], trust_pickle: bool, json_out: bool
) -> None:
    """``--recompute``: re-run a stored evaluation; exit 1 if any figure differs."""
    from govern.services import evaluation

    mixed = [option for option, present in given.items() if present]
    if mixed:
        # the recorded inputs are what gets recomputed; a silently ignored option would mislead
        raise InputError(
            f"--recompute re-runs the evaluation's recorded inputs; it takes no "
            f"{', '.join(mixed)} (only --trust-pickle and --json)"
        )
    verdict = evaluation.recompute(runtime.context(), evaluation_id, trust_pickle=trust_pickle)
    _print_recompute(verdict, json_out)
    if not verdict.identical:
        raise typer.Exit(1)


def print_evaluation(record: EvaluationRecord) -> None:
    """The readable summary of an evaluation."""
    results = record.results
    output.line(
        f"Evaluation {record.id} of {record.ref} on {results.dataset.name} "
        f"({fmt.count(results.dataset.rows, 'row')}, "
        f"sha256:{fmt.short_hash(results.dataset.sha256)})"
    )
    source = (
        f"model {results.artifact_format} sha256:{(results.artifact_sha256 or '')[:12]}"
        if results.prediction_source == "model"
        else f"predictions column {results.prediction_column!r}"
    )
    output.line(
        f"Decisions from {source}; target {results.target!r}"
        + (f", positive label {results.positive_label!r}" if results.positive_label else "")
        + f"; seed {results.seed}"
    )
    output.line()
    overall = results.performance.overall
    shown = [(k, v) for k, v in overall.items() if k != "n" and v is not None]
    output.line("Performance: " + "  ".join(f"{k} {fmt.number(v)}" for k, v in shown))
    confusion = results.performance.confusion
    if confusion is not None:
        output.line(
            f"Confusion: TP {confusion.tp}  FP {confusion.fp}  TN {confusion.tn}  FN {confusion.fn}"
        )
    if results.task == "regression":
        for name, groups in results.performance.by_group.items():
            output.line()
            output.table(
                ["group", "n", "mae", "rmse", "r2"],
                [
                    (
                        fmt.group(name, label),
                        fmt.count(m.get("n")),
                        fmt.number(m.get("mae")),
                        fmt.number(m.get("rmse")),
                        fmt.number(m.get("r2")),
                    )
                    for label, m in groups.items()
                ],
                title=f"By {fmt.grouping(name)}",
            )
    for grouping in results.fairness:
        output.line()
        _print_grouping(grouping)
    _print_flagged(results)
    _print_explanations(results, record.local_explanations)
    if results.warnings:
        output.line()
        for warning in results.warnings:
            output.line(f"warning: {warning}")


def _interval(estimate: Any) -> str:
    if estimate is None or estimate.value is None:
        return "undefined"
    return f"{fmt.number(estimate.value)} {fmt.interval(estimate.lower, estimate.upper)}".strip()


def _print_grouping(grouping: Grouping) -> None:
    has_scoring = any(g.metrics.scoring_rate is not None for g in grouping.groups)
    headers = ["group", "n", "share", "selection rate (95% CI)", "impact", "tpr", "fpr"]
    headers += ["precision", "accuracy"]
    headers += ["scoring rate"] if has_scoring else []
    headers += ["p-value", "flags"]
    rows = []
    for stats in grouping.groups:
        m = stats.metrics
        row: list[Any] = [
            fmt.group(grouping.name, stats.group),
            fmt.count(stats.n),
            fmt.percent(stats.share),
            _interval(m.selection_rate),
            fmt.number(stats.impact_ratio, 2),
            _rate(m.tpr),
            _rate(m.fpr),
            _rate(m.precision),
            _rate(m.accuracy),
        ]
        if has_scoring:
            row.append(fmt.number(m.scoring_rate.value if m.scoring_rate else None))
        row += [
            fmt.p_value(stats.p_value) + (" (F)" if stats.test == "fisher-exact" else ""),
            ", ".join(f for f in stats.flags if f != "reference") or "",
        ]
        rows.append(row)
    kind = "intersection" if grouping.kind == "intersection" else "feature"
    output.table(
        headers,
        rows,
        title=(
            f"Fairness by {kind} {fmt.grouping(grouping.name)} (reference group: "
            f"{fmt.group(grouping.name, grouping.reference_group)})"
        ),
    )
    output.line(f"  impact-ratio reference: {grouping.reference_explained()}")
    s = grouping.summary
    output.line(
        f"  demographic parity: difference {fmt.number(s.demographic_parity_difference)}, ratio "
        f"{fmt.number(s.demographic_parity_ratio)}   equalized odds: difference "
        f"{fmt.number(s.equalized_odds_difference)}, ratio {fmt.number(s.equalized_odds_ratio)}"
        + (
            f"   LL144 scoring impact ratio (min) {fmt.number(s.min_scoring_impact_ratio)}"
            if s.min_scoring_impact_ratio is not None
            else ""
        )
    )
    for metric, reason in grouping.undefined.items():
        output.line(f"  {metric}: undefined ({reason})")
    undefined = [g for g in grouping.groups if g.undefined]
    for stats in undefined[:MAX_FLAGGED_SHOWN]:
        reasons = "; ".join(f"{metric} {reason}" for metric, reason in _by_reason(stats.undefined))
        output.line(f"  undefined for {fmt.group(grouping.name, stats.group)}: {reasons}")
    if len(undefined) > MAX_FLAGGED_SHOWN:
        output.line(f"  ... and {len(undefined) - MAX_FLAGGED_SHOWN} more groups (see --json)")


def _by_reason(undefined: dict[str, str]) -> list[tuple[str, str]]:
    """("tpr and fnr", "no actual positives in group") rather than one line per metric."""
    grouped: dict[str, list[str]] = {}
    for metric, reason in undefined.items():
        grouped.setdefault(reason, []).append(metric.upper())
    return [(" and ".join(metrics), f"({reason})") for reason, metrics in grouped.items()]


def _rate(estimate: Any) -> str:
    return "undefined" if estimate is None or estimate.value is None else fmt.number(estimate.value)


def _print_flagged(results: EvaluationResults) -> None:
    from govern.assess.results import FLAG_ADVERSE_IMPACT, FLAG_SIGNIFICANT

    flagged = []
    for grouping in results.fairness:
        for stats in grouping.groups:
            if FLAG_ADVERSE_IMPACT in stats.flags or FLAG_SIGNIFICANT in stats.flags:
                notes = []
                if FLAG_ADVERSE_IMPACT in stats.flags:
                    notes.append(f"impact ratio {fmt.number(stats.impact_ratio, 2)} < 0.8")
                if stats.p_value is not None:
                    notes.append(f"p = {fmt.p_value(stats.p_value)} ({stats.test})")
                if stats.small:
                    notes.append(f"small group, n = {fmt.count(stats.n)}")
                flagged.append(
                    f"  {fmt.group(grouping.name, stats.group)} vs "
                    f"{fmt.group(grouping.name, grouping.reference_group)}: " + "; ".join(notes)
                )
    output.line()
    if flagged:
        output.line(f"Flagged disparities ({len(flagged)}):")
        for item in flagged[:MAX_FLAGGED_SHOWN]:
            output.line(item)
        if len(flagged) > MAX_FLAGGED_SHOWN:
            output.line(f"  ... and {len(flagged) - MAX_FLAGGED_SHOWN} more (see --json)")
    elif results.fairness:
        output.line("Flagged disparities: none (no impact ratio below 0.8, no p < 0.05)")


def _print_explanations(results: EvaluationResults, local_count: int) -> None:
    explanations = results.explanations
    if explanations is None:
        return
    output.line()
    output.line(
        f"Explanations: {explanations.method} SHAP on {explanations.sample_size} rows "
        f"(seed {explanations.seed}), {explanations.output}; "
        f"{fmt.count(local_count, 'per-decision explanation')} stored"
    )
    output.table(
        ["rank", "feature", "mean |shap| (95% CI)", "rank CI"],
        [
            (
                item.rank,
                item.feature,
                f"{fmt.number(item.mean_abs_shap, 4)} {fmt.interval(item.lower, item.upper, 4)}",
                f"{item.rank_lower}-{item.rank_upper}",
            )
            for item in explanations.global_[:10]
        ],
    )
    for flag in explanations.sensitive_flags:
        output.line(f"  sensitive: {flag.reason}")


def _print_recompute(verdict: RecomputeResult, json_out: bool) -> None:
    if json_out:
        output.emit_json(verdict.to_json())
        return
    if verdict.identical:
        output.line(
            f"Evaluation {verdict.evaluation_id} of {verdict.ref}: recomputed, every figure "
            "is identical."
        )
    else:
        output.line(
            f"Evaluation {verdict.evaluation_id} of {verdict.ref}: "
            f"{len(verdict.differences)} difference{'s' * (len(verdict.differences) != 1)}"
            + (" (the data file has changed)" if verdict.dataset_changed else "")
            + ":"
        )
        for difference in verdict.differences:
            output.line(f"  {difference}")
    for change in verdict.package_changes:
        output.info(f"note: package version changed since the evaluation: {change}")


def explain(
    ref: RefArgument,
    row_id: Annotated[str, typer.Option("--row-id", help="The row's id (see --id-column).")],
    evaluation_id: Annotated[
        int | None,
        typer.Option("--evaluation", help="Evaluation id (default: the latest with a model)."),
    ] = None,
    top: Annotated[int, typer.Option("--top", help="Contributions to list.")] = 10,
    trust_pickle: Annotated[
        bool,
        typer.Option(
            "--trust-pickle",
            help="Allow reloading a pickle/joblib artifact (runs its code; audited).",
        ),
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Explain one decision: each feature's SHAP contribution for that row."""
    from govern.services import evaluation

    record = evaluation.explain_row(
        runtime.context(), ref, row_id, evaluation_id=evaluation_id, trust_pickle=trust_pickle
    )
    if json_out:
        output.emit_json(record.to_json())
        return
    print_explanation(record, top=top)


def print_explanation(record: ExplanationRecord, *, top: int = 10) -> None:
    item = record.explanation
    output.line(
        f"{record.ref}, row {item.row_id} (evaluation {record.evaluation_id}, "
        f"{item.method} SHAP, {record.source})"
    )
    if item.prediction is not None and item.output == "prediction":
        output.line(f"Prediction: {fmt.number(item.prediction)}")  # a regression model's value
    elif item.prediction is not None:
        output.line(
            f"Prediction: {item.output.replace('log-odds', 'probability')} = "
            f"{fmt.number(item.prediction)}"
            + (f", predicted label {item.predicted_label}" if item.predicted_label else "")
        )
    elif item.predicted_label is not None:
        output.line(f"Prediction: label {item.predicted_label}")
    output.line(f"Base value ({item.output}): {fmt.number(item.base_value)}")
    shown = item.contributions[: max(top, 0)]
    output.table(
        ["feature", "value", "contribution"],
        [
            (c.feature, c.value if c.value is not None else "(missing)", fmt.signed(c.shap, 4))
            for c in shown
        ],
    )
    rest = item.contributions[len(shown) :]
    if rest:
        output.line(
            f"({fmt.count(len(rest), 'more feature')} "
            f"{'contributes' if len(rest) == 1 else 'contribute'} "
            f"{fmt.signed(sum(c.shap for c in rest), 4)} in all)"
        )
    total = (item.base_value or 0.0) + sum(c.shap for c in item.contributions)
    output.line(f"Base value + contributions = {fmt.number(total, 4)} ({item.output})")


def drift(
    ref: RefArgument,
    reference: Annotated[
        Path, typer.Option("--reference", help="Baseline data, e.g. the training set.")
    ],
    current: Annotated[Path, typer.Option("--current", help="Data to compare.")],
    model: Annotated[
        Path | None,
        typer.Option("--model", help="Model for prediction drift (default: registered)."),
    ] = None,
    score: Annotated[
        str | None, typer.Option("--score", help="Score column present in both files.")
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", help="More columns to leave out, comma-separated."),
    ] = None,
    include: Annotated[
        list[str] | None,
        typer.Option(
            "--include",
            help="Columns to measure although left out by default (target, ids), comma-separated.",
        ),
    ] = None,
    trust_pickle: Annotated[
        bool, typer.Option("--trust-pickle", help="Allow a pickle/joblib model.")
    ] = False,
    fail_on: Annotated[
        str | None,
        typer.Option("--fail-on", help="Exit 1 if any PSI is moderate or significant."),
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Measure data and prediction drift: PSI per feature, KS or chi-square tests.

    The target and id column of the latest evaluation, and columns whose values are all
    distinct (identifiers), are left out by default; the output says which and why.
    """
    from govern.services import evaluation

    if fail_on not in (None, "moderate", "significant"):
        raise InputError("--fail-on takes moderate or significant")
    bar = ProgressBar()
    try:
        record = evaluation.drift(
            runtime.context(),
            ref,
            reference=reference,
            current=current,
            model=model,
            score=score,
            exclude=_split(exclude),
            trust_pickle=trust_pickle,
            progress=bar,
            include=_split(include),
        )
    finally:
        bar.close()
    if json_out:
        output.emit_json(record.to_json())
    else:
        print_drift(record)
    if fail_on is not None:
        bands = {"moderate": {"moderate", "significant"}, "significant": {"significant"}}
        features = [*record.results.features]
        if record.results.prediction is not None:
            features.append(record.results.prediction)
        if any(f.band in bands[fail_on] for f in features):
            raise typer.Exit(1)


def print_drift(record: DriftRecord) -> None:
    results = record.results
    output.line(
        f"Drift run {record.id} of {record.ref}: {results.current.name} "
        f"({fmt.count(results.current.rows, 'row')}) against {results.reference.name} "
        f"({fmt.count(results.reference.rows, 'row')})"
    )
    features = sorted(results.features, key=lambda f: -(f.psi or 0.0))
    if results.prediction is not None:
        features.insert(0, results.prediction)
    output.table(
        ["feature", "kind", "psi", "band", "test", "statistic", "p-value", "effect"],
        [
            (
                f.feature,
                f.kind,
                fmt.number(f.psi),
                f.band or fmt.MISSING,
                f.test or fmt.MISSING,
                fmt.number(f.statistic),
                fmt.p_value(f.p_value),
                fmt.number(f.effect_size),
            )
            for f in features
        ],
    )
    drifted = results.drifted
    output.line(
        f"PSI bands: < 0.1 stable, 0.1-0.25 moderate, >= 0.25 significant. "
        f"{len(drifted)} feature{'s' * (len(drifted) != 1)} drifted"
        + (f": {', '.join(f.feature for f in drifted)}" if drifted else ".")
    )
    if results.prediction is not None and results.prediction.band is not None:
        output.line(
            f"Prediction drift ({results.prediction_source}): PSI "
            f"{fmt.number(results.prediction.psi)}, {results.prediction.band}."
        )
    for column, reason in results.left_out.items():
        output.line(f"left out: {column}: {reason}")
    for warning in results.warnings:
        output.line(f"warning: {warning}")


def add_commands(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
    app.command("explain")(explain)
    app.command("drift")(drift)
