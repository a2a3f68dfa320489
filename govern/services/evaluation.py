"""Evaluation use cases: evaluate a version, explain a decision, measure drift, recompute.

The heavy work (reading data, scoring, SHAP) runs *before* the write transaction, so the
catalogue is never locked while a model is being explained; the results, their rows and the
audit event are then written in one transaction. Refusals (a user without the role, a
retired version, an untrusted or mismatching artifact) are recorded in the audit log; bad
input raises :class:`~govern.errors.DataError` and writes nothing.

Loading a pickle runs whatever code it holds, so it needs ``trust_pickle`` from the person
asking *now* (an earlier evaluation's trust is not inherited by a recompute or an on-demand
explanation), the role of someone who may evaluate, and an ``artifact.unpickle`` audit event
that is committed *before* the file is opened: the log shows every time a pickle's code ran,
even when the operation fails afterwards.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from pydantic import BaseModel, ConfigDict

from govern.assess.artifacts import ArtifactInfo
from govern.assess.evaluation import EvaluationSpec, Limits, Progress
from govern.assess.results import DriftResults, EvaluationResults, Grouping, LocalExplanation
from govern.domain.governance import ARTIFACT_FORMATS, GovernanceSettings
from govern.errors import DataError, InputError, NotFoundError, RefusedError, WorkflowError
from govern.policy.kinds.freshness import card_dataset_hashes
from govern.services.catalogue import resolve
from govern.services.context import Context
from govern.storage import queries
from govern.storage.database import Session
from govern.storage.tables import (
    DriftRun,
    Evaluation,
    Explanation,
    GroupResult,
    MetricResult,
    Model,
    ModelVersion,
)

#: Who may evaluate, measure drift, or make govern load a trusted pickle (its code runs on
#: this machine): the roles the governance settings give the ``evaluate`` action.
EVALUATE = "evaluate"
READ_ONLY_STATES = frozenset({"retired"})
#: Artifact formats whose loading runs code (docs/architecture.md §10, security rules).
PICKLE_FORMATS = frozenset({"pickle", "joblib"})


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)


class EvaluationRecord(_View):
    """A stored evaluation: who ran it, on what, and its full results document."""

    id: int
    ref: str
    created_at: dt.datetime
    created_by: str
    params: dict[str, Any]
    results: EvaluationResults
    local_explanations: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ref": self.ref,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "params": self.params,
            "local_explanations": self.local_explanations,
            "results": self.results.to_json(),
        }


class ExplanationRecord(_View):
    """One decision's explanation and where it came from ("stored" or "computed")."""

    ref: str
    evaluation_id: int
    source: str
    model_sha256: str | None
    explanation: LocalExplanation

    def to_json(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "evaluation_id": self.evaluation_id,
            "source": self.source,
            "model_sha256": self.model_sha256,
            "explanation": self.explanation.to_json(),
        }


class DriftRecord(_View):
    id: int
    ref: str
    created_at: dt.datetime
    created_by: str
    results: DriftResults

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ref": self.ref,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "results": self.results.to_json(),
        }


class RecomputeResult(_View):
    """The verdict of ``govern evaluate --recompute``."""

    evaluation_id: int
    ref: str
    identical: bool
    differences: list[str]
    #: Package versions that differ from the recorded ones (informative, not a difference).
    package_changes: list[str]
    dataset_changed: bool
    artifact_changed: bool

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def _ref(model: Model, version: ModelVersion) -> str:
    return f"{model.name}@{version.version}"


def _refuse(ctx: Context, action: str, subject: str, error: RefusedError) -> NoReturn:
    ctx.record_refusal(action, subject, error)
    raise error


def check_writable(version: ModelVersion, ref: str, doing: str) -> None:
    if version.state in READ_ONLY_STATES:
        raise WorkflowError(f"{ref} is {version.state} and read-only; it cannot be {doing}")


@dataclasses.dataclass(frozen=True)
class _Target:
    """What an evaluation, a drift or a monitoring run reads of its version before the long
    work."""

    subject: str
    version: str
    artifact_sha256: str | None
    artifact_path: str | None
    declared_data: list[str]
    not_features: dict[str, str]


def evidence_target(ctx: Context, ref: str, action: str, *, doing: str, done: str) -> _Target:
    """The version ``ref``, once the actor may ``doing`` it and it can still be ``done``;
    a refusal is recorded (outside the read transaction) and raised."""
    with ctx.read() as session:
        found_model, version = resolve(session, ref)
        subject = _ref(found_model, version)
        refusal: RefusedError | None = None
        try:
            ctx.require_role(session, EVALUATE, doing=f"{doing} {subject}")
            check_writable(version, subject, done)
        except RefusedError as refused:
            refusal = refused
        target = _Target(
            subject=subject,
            version=version.version,
            artifact_sha256=version.artifact_sha256,
            artifact_path=version.artifact_path,
            declared_data=card_dataset_hashes(version.card),
            not_features=_not_features(session, version) if action == "drift.run" else {},
        )
    if refusal is not None:
        _refuse(ctx, action, subject, refusal)
    return target


class _UnpickleRecorder:
    """Passed to the loader: checks the role and commits ``artifact.unpickle`` before opening.

    Called only for a trusted pickle that passed the hash check, just before it is opened,
    so the audit log holds one event for every time a pickle's code ran, and none otherwise.
    """

    def __init__(self, ctx: Context, subject: str, *, purpose: str, **details: Any) -> None:
        self.ctx = ctx
        self.subject = subject
        self.purpose = purpose
        self.details = details
        self.called = False

    def __call__(self, info: ArtifactInfo) -> None:
        with self.ctx.write("artifact.unpickle", self.subject) as tx:
            self.ctx.require_role(
                tx.session, EVALUATE, doing=f"load the {info.format} artifact of {self.subject}"
            )
            tx.audit(
                purpose=self.purpose,
                artifact={"path": str(info.path), "sha256": info.sha256, "format": info.format},
                **self.details,
            )
        self.called = True


def limits(ctx: Context) -> Limits:
    """What an evaluation may read and load: this machine's size limit, the catalogue's rules."""
    rules = ctx.governance
    return Limits(
        max_data_bytes=ctx.settings.max_data_bytes,
        max_groups=rules.max_groups,
        skops_trusted_types=tuple(rules.skops_trusted_types),
        max_group_label_chars=rules.max_group_label_chars,
        max_unpacked_bytes=ctx.settings.max_unpacked_bytes,
        max_compression_ratio=ctx.settings.max_compression_ratio,
    )


def _check_format(rules: GovernanceSettings, model: Path | None, subject: str) -> None:
    """Refuse an artifact format the organisation does not allow, before anything loads it."""
    from govern.assess.artifacts import peek_format

    found = peek_format(model) if model is not None else None
    if (
        found is not None
        and found in ARTIFACT_FORMATS
        and found not in rules.allowed_artifact_formats
    ):
        raise InputError(
            f"{model}: a {found} artifact is not allowed in this catalogue (setting "
            f"allowed_artifact_formats: {', '.join(rules.allowed_artifact_formats)}); "
            f"{subject} cannot be evaluated with it"
        )


def _stored_sha256(session: Session, table: type[Evaluation] | type[DriftRun], row_id: int) -> str:
    """SHA-256 of the results document as stored: what the event records and verify checks."""
    return queries.results_sha256(session=session, table=table, ids=[row_id])[row_id]


def _require_pickle_trust(
    ctx: Context,
    action: str,
    subject: str,
    *,
    evaluation_id: int,
    artifact_format: str | None,
    trust_pickle: bool,
    doing: str,
) -> None:
    """Refuse to reload an evaluation's pickle unless the caller trusts it again, now."""
    from govern.assess.models import UntrustedArtifactError

    if artifact_format in PICKLE_FORMATS and not trust_pickle:
        _refuse(
            ctx,
            action,
            subject,
            UntrustedArtifactError(
                f"evaluation {evaluation_id} used a {artifact_format} artifact; {doing} would "
                "load it again and run any code it contains, so govern refuses. Pass "
                "--trust-pickle if you trust it (recorded in the audit log)"
            ),
        )


# Longer than 80 lines: a third is the docstring of its sixteen options; the body is three
# steps (may the actor evaluate, run the assessment, store it), the last a helper.
def evaluate_version(
    ctx: Context,
    ref: str,
    *,
    data: Path,
    target: str,
    sensitive: Sequence[str],
    model: Path | None = None,
    predictions: str | None = None,
    score: str | None = None,
    positive: str | None = None,
    id_column: str | None = None,
    explain: int = 0,
    explain_sample: int | None = None,
    seed: int = 0,
    min_group_size: int | None = None,
    trust_pickle: bool = False,
    task: str = "binary_classification",
    progress: Progress | None = None,
    reference: Sequence[tuple[str, str]] = (),
) -> EvaluationRecord:
    """Evaluate ``ref`` on a data set and store the evaluation with an audit event.

    Args:
        ctx: the service context (the acting user needs developer, validator or admin).
        ref: ``NAME@VERSION`` (or ``NAME`` for the latest version).
        data: CSV or Parquet file with the target, sensitive features and model inputs.
        target: the outcome column.
        sensitive: sensitive feature columns; each is assessed alone and in intersections.
        model: the model artifact; its SHA-256 must equal the registered one. With neither
            ``model`` nor ``predictions``, the version's registered artifact is used.
        predictions: a column of the data holding the decisions (instead of a model).
        score: a column of scores/probabilities of the positive label (ROC AUC, Brier,
            LL144 scoring rate); with a model its probabilities are used.
        positive: the favourable label (default "1"/"True" when the target is 0/1).
        id_column: row identifiers, used for per-decision explanations.
        explain: number of per-decision explanations to store (a seeded sample of rows).
        explain_sample: rows for global SHAP importance (default ``Settings.explain_sample``).
        seed: seeds every sample, so the evaluation is reproducible.
        min_group_size: groups smaller than this are flagged (default from settings).
        trust_pickle: allow a pickle/joblib artifact (recorded in the audit log).
        task: "binary_classification" or "regression".
        progress: called as long steps advance.
        reference: impact-ratio reference values ``(feature, value)``, at most one per
            feature (default: the most selected group that is neither small nor missing).

    Returns:
        The stored evaluation.
    """
    from govern.assess.evaluation import run_evaluation

    action = "evaluation.create"
    found = evidence_target(ctx, ref, action, doing="evaluate", done="evaluated")
    subject, registered_sha, registered_path = (
        found.subject,
        found.artifact_sha256,
        found.artifact_path,
    )
    declared_data = found.declared_data
    if model is None and predictions is None:
        if registered_path is None:
            raise InputError(
                f"{subject} has no registered artifact: give --model PATH or --predictions COL"
            )
        model = Path(registered_path)
    rules = ctx.governance
    _check_format(rules, model, subject)
    spec = EvaluationSpec.with_settings(
        rules,
        data=data.resolve(),
        target=target,
        sensitive=tuple(sensitive),
        model=model.resolve() if model is not None else None,
        predictions=predictions,
        score=score,
        positive=positive,
        id_column=id_column,
        explain=explain,
        explain_sample=(explain_sample if explain_sample is not None else rules.explain_sample),
        seed=seed,
        min_group_size=(min_group_size if min_group_size is not None else rules.min_group_size),
        trust_pickle=trust_pickle,
        task=task,
        reference=tuple((str(f), str(v)) for f, v in reference),
    )
    try:
        outcome = run_evaluation(
            spec,
            limits(ctx),
            expected_artifact_sha256=registered_sha if model is not None else None,
            progress=progress,
            before_unpickle=_UnpickleRecorder(ctx, subject, purpose="evaluation"),
        )
    except RefusedError as refused:
        _refuse(ctx, action, subject, refused)
    results = _check_declared_data(outcome.results, declared_data)
    document = results.to_json()
    _check_stored_size(subject, document, outcome.local, limit=ctx.governance.max_evaluation_bytes)
    return _store_evaluation(
        ctx, subject, spec, results, document, outcome.local, declared_data, trust_pickle
    )


def _store_evaluation(
    ctx: Context,
    subject: str,
    spec: EvaluationSpec,
    results: EvaluationResults,
    document: dict[str, Any],
    local: Sequence[LocalExplanation],
    declared_data: list[str],
    trust_pickle: bool,
) -> EvaluationRecord:
    """Store the evaluation, its rows and its audit event in one transaction, after checking
    again (under the write lock) that the actor may and the version is still writable."""
    action = "evaluation.create"
    with ctx.write(action, subject) as tx:
        _model, version = resolve(tx.session, subject, for_update=True)
        ctx.require_role(tx.session, EVALUATE, doing=f"evaluate {subject}")
        check_writable(version, subject, "evaluated")
        assert version.id is not None
        row = Evaluation(
            version_id=version.id,
            dataset_name=results.dataset.name,
            dataset_sha256=results.dataset.sha256,
            rows=results.dataset.rows,
            columns=results.dataset.columns,
            target=results.target,
            positive_label=results.positive_label,
            sensitive_features=results.sensitive_features,
            prediction_source=results.prediction_source,
            artifact_sha256=results.artifact_sha256,
            packages=dict(results.packages),
            seed=results.seed,
            params=spec.to_params(),
            results=document,
            created_by=tx.actor,
        )
        tx.session.add(row)
        tx.session.flush()
        assert row.id is not None
        _store_rows(tx.session, row.id, results, local)
        tx.audit(
            evaluation_id=row.id,
            results_sha256=_stored_sha256(tx.session, Evaluation, row.id),
            dataset={
                "name": results.dataset.name,
                "sha256": results.dataset.sha256,
                "rows": results.dataset.rows,
                **(
                    {
                        "card_sha256": declared_data,
                        "matches_card": results.dataset.sha256 in declared_data,
                    }
                    if declared_data
                    else {}
                ),
            },
            target=results.target,
            positive_label=results.positive_label,
            sensitive_features=results.sensitive_features,
            prediction_source=results.prediction_source,
            artifact={"sha256": results.artifact_sha256, "format": results.artifact_format},
            trust_pickle=trust_pickle,
            seed=results.seed,
            min_impact_ratio={g.name: g.summary.min_impact_ratio for g in results.fairness},
            explanations=len(local),
        )
        return EvaluationRecord(
            id=row.id,
            ref=subject,
            created_at=row.created_at,
            created_by=row.created_by,
            params=row.params,
            results=results,
            local_explanations=len(local),
        )


def _check_stored_size(
    subject: str,
    document: dict[str, Any],
    local: Sequence[LocalExplanation],
    *,
    limit: int,
    what: str = "evaluation",
) -> None:
    """Refuse, before anything is written, results larger than the catalogue allows: the
    document and the per-decision explanations, as JSON (the group rows repeat the document's
    labels, which the group-label limit keeps short)."""
    size = len(json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode())
    for explanation in local:
        if size > limit:
            break
        size += len(json.dumps(explanation.to_json(), ensure_ascii=False).encode())
    if size > limit:
        raise DataError(
            f"{subject}: the {what}'s results take more than {limit:,} bytes "
            "(governance setting max_evaluation_bytes), so nothing was stored; use fewer "
            "sensitive features, --explain rows or columns, or ask an admin to raise it"
        )


def _check_declared_data(results: EvaluationResults, declared: list[str]) -> EvaluationResults:
    """``results`` with a warning when the card declares its evaluation data by SHA-256 and
    this is other data (the freshness rule's ``card_dataset`` can require them to match)."""
    if not declared or results.dataset.sha256 in declared:
        return results
    named = ", ".join(f"{sha[:16]}..." for sha in declared)
    warning = (
        f"{results.dataset.name} (SHA-256 {results.dataset.sha256[:16]}...) is not the "
        f"evaluation data the card declares (SHA-256 {named}): these figures describe other data"
    )
    return results.model_copy(update={"warnings": [warning, *results.warnings]})


def _grouping_rows(evaluation_id: int, grouping: Grouping) -> list[Any]:
    """The metric and group rows of one fairness grouping."""
    rows: list[Any] = []
    for name, value in grouping.summary.model_dump().items():
        rows.append(
            MetricResult(evaluation_id=evaluation_id, name=name, value=value, feature=grouping.name)
        )
    for stats in grouping.groups:
        for name, estimate in stats.metrics:
            if estimate is None:
                continue
            rows.append(
                MetricResult(
                    evaluation_id=evaluation_id,
                    name=name,
                    value=estimate.value,
                    lower=estimate.lower,
                    upper=estimate.upper,
                    feature=grouping.name,
                    group=stats.group,
                )
            )
        for name, value in (("impact_ratio", stats.impact_ratio), ("p_value", stats.p_value)):
            rows.append(
                MetricResult(
                    evaluation_id=evaluation_id,
                    name=name,
                    value=value,
                    feature=grouping.name,
                    group=stats.group,
                )
            )
        rows.append(
            GroupResult(
                evaluation_id=evaluation_id,
                feature=grouping.name,
                group=stats.group,
                n=stats.n,
                metrics=stats.to_json(),
                flags=list(stats.flags),
            )
        )
    return rows


def _store_rows(
    session: Session,
    evaluation_id: int,
    results: EvaluationResults,
    local: Sequence[LocalExplanation],
) -> None:
    rows: list[Any] = [
        MetricResult(evaluation_id=evaluation_id, name=name, value=value)
        for name, value in results.performance.overall.items()
    ]
    for grouping in results.fairness:
        rows.extend(_grouping_rows(evaluation_id, grouping))
    if results.task == "regression":
        for grouping_name, groups in results.performance.by_group.items():
            for label, metrics in groups.items():
                rows.extend(
                    MetricResult(
                        evaluation_id=evaluation_id,
                        name=name,
                        value=value,
                        feature=grouping_name,
                        group=label,
                    )
                    for name, value in metrics.items()
                )
    explanations = results.explanations
    if explanations is not None:
        rows.append(
            Explanation(
                evaluation_id=evaluation_id,
                kind="global",
                model_sha256=explanations.model_sha256,
                payload=explanations.to_json(),
            )
        )
        rows.extend(
            Explanation(
                evaluation_id=evaluation_id,
                kind="local",
                row_id=item.row_id,
                model_sha256=explanations.model_sha256,
                payload=item.to_json(),
            )
            for item in local
        )
    session.add_all(rows)
    session.flush()


def _record(session: Session, row: Evaluation) -> EvaluationRecord:
    version = session.get(ModelVersion, row.version_id)
    assert version is not None
    model = session.get(Model, version.model_id)
    assert model is not None and row.id is not None
    count = queries.count_local_explanations(session=session, evaluation_id=row.id)
    return EvaluationRecord(
        id=row.id,
        ref=_ref(model, version),
        created_at=row.created_at,
        created_by=row.created_by,
        params=row.params,
        results=EvaluationResults.model_validate(row.results),
        local_explanations=count,
    )


def get_evaluation(ctx: Context, evaluation_id: int) -> EvaluationRecord:
    """A stored evaluation by id."""
    with ctx.read() as session:
        row = session.get(Evaluation, evaluation_id)
        if row is None:
            raise NotFoundError(f"no evaluation with id {evaluation_id}")
        return _record(session, row)


def latest_evaluation(ctx: Context, ref: str) -> EvaluationRecord | None:
    """The most recent evaluation of ``ref``, or None if it has none."""
    with ctx.read() as session:
        _model, version = resolve(session, ref)
        row = queries.latest_evaluation(session=session, version_id=version.id)
        return _record(session, row) if row is not None else None


def _explained(
    session: Session, version: ModelVersion, evaluation_id: int | None
) -> Evaluation | None:
    """Evaluation ``evaluation_id`` of ``version``, else its latest that ran a model."""
    if evaluation_id is None:
        return queries.latest_evaluation(session=session, version_id=version.id, with_model=True)
    row = session.get(Evaluation, evaluation_id)
    return row if row is not None and row.version_id == version.id else None


def explain_row(
    ctx: Context,
    ref: str,
    row_id: str,
    *,
    evaluation_id: int | None = None,
    trust_pickle: bool = False,
) -> ExplanationRecord:
    """Why the model decided as it did for one row.

    Uses the explanation stored with the evaluation when there is one; otherwise computes it
    from the evaluation's recorded inputs (same data file, same artifact, same seed), after
    checking that neither file has changed. Nothing is written, except when computing it
    means loading a pickle: that needs ``trust_pickle`` and is recorded first.
    """
    from govern.assess.evaluation import explain_one

    with ctx.read() as session:
        model, version = resolve(session, ref)
        subject = _ref(model, version)
        evaluation = _explained(session, version, evaluation_id)
        if evaluation is None:
            if evaluation_id is not None:
                raise NotFoundError(f"{subject} has no evaluation with id {evaluation_id}")
            raise NotFoundError(
                f"{subject} has no evaluation with a model; run `govern evaluate {subject} "
                "--model ...` first"
            )
        assert evaluation.id is not None
        found = queries.local_explanations(
            session=session, evaluation_id=evaluation.id, row_id=row_id, limit=1
        )
        stored = found[0] if found else None
        if stored is not None:
            return ExplanationRecord(
                ref=subject,
                evaluation_id=evaluation.id,
                source="stored",
                model_sha256=stored.model_sha256,
                explanation=LocalExplanation.model_validate(stored.payload),
            )
        spec = EvaluationSpec.from_params(evaluation.params)
        data_sha = evaluation.dataset_sha256
        artifact_sha = evaluation.artifact_sha256
        artifact_format = (evaluation.results or {}).get("artifact_format")
        found_id = evaluation.id
    _require_pickle_trust(
        ctx,
        "explanation.compute",
        subject,
        evaluation_id=found_id,
        artifact_format=artifact_format,
        trust_pickle=trust_pickle,
        doing=f"explaining row {row_id!r}",
    )
    explanation = explain_one(
        dataclasses.replace(spec, trust_pickle=trust_pickle),
        limits(ctx),
        row_id,
        expected_data_sha256=data_sha,
        expected_artifact_sha256=artifact_sha,
        before_unpickle=_UnpickleRecorder(
            ctx, subject, purpose="explanation", evaluation_id=found_id, row_id=row_id
        ),
    )
    return ExplanationRecord(
        ref=subject,
        evaluation_id=found_id,
        source="computed",
        model_sha256=artifact_sha,
        explanation=explanation,
    )


# Longer than 80 lines: the docstring, then read the tables, score them (a helper), assess
# and store (a helper); splitting further would only pass the same eight values around.
def drift(
    ctx: Context,
    ref: str,
    *,
    reference: Path,
    current: Path,
    model: Path | None = None,
    score: str | None = None,
    exclude: Sequence[str] = (),
    trust_pickle: bool = False,
    progress: Progress | None = None,
    include: Sequence[str] = (),
) -> DriftRecord:
    """Compare the current data with a reference, per feature and for the model's score.

    Prediction drift uses ``score`` (a column in both files) or the model's probability of
    its last class: from ``model`` if given (its hash must match the registered artifact),
    else from the registered artifact when it can score both files.

    The target and id column of the version's latest evaluation, and identifier-like
    columns the model does not use, are left out unless named in ``include``; the results
    say which and why (:func:`govern.assess.drift.left_out_columns`).
    """
    from govern.assess.data import load_table
    from govern.assess.drift import assess_drift
    from govern.assess.evaluation import package_versions

    action = "drift.run"
    target = evidence_target(ctx, ref, action, doing="measure drift of", done="monitored")
    subject = target.subject
    if progress is not None:
        progress("reading data", 0, 0)
    ref_table = load_table(reference, max_bytes=ctx.settings.max_data_bytes)
    cur_table = load_table(current, max_bytes=ctx.settings.max_data_bytes)
    prediction = None
    source = None
    recorder = _UnpickleRecorder(ctx, subject, purpose="drift")
    warnings: list[str] = []
    features: list[str] | None = None
    if score is not None:
        prediction = (
            ref_table.column(score, option="--score").to_numpy(),
            cur_table.column(score, option="--score").to_numpy(),
        )
        source = f"column {score}"
    else:
        explicit = model is not None
        path = (
            model
            if model is not None
            else (Path(target.artifact_path) if target.artifact_path else None)
        )
        if path is not None:
            scored = _model_prediction(
                ctx, target, path, (ref_table, cur_table), trust_pickle, recorder, progress
            )
            prediction, source, features, problem = scored
            if problem is not None:
                if explicit:
                    raise problem
                warnings.append(f"no prediction drift: the registered model: {problem.message}")
    results = assess_drift(
        ref_table,
        cur_table,
        bins=ctx.governance.drift_bins,
        exclude=list(exclude),
        max_categories=ctx.governance.max_groups,
        prediction=prediction,
        prediction_source=source,
        packages=package_versions(),
        include=list(include),
        declared=target.not_features,
        model_features=features,
    )
    if warnings:
        results = results.model_copy(update={"warnings": [*results.warnings, *warnings]})
    document = results.to_json()
    _check_stored_size(
        subject, document, (), limit=ctx.governance.max_evaluation_bytes, what="drift run"
    )
    return _store_drift(
        ctx,
        subject,
        (ref_table, cur_table),
        results,
        document,
        trust_pickle=trust_pickle,
        unpickled=recorder.called,
    )


def _model_prediction(
    ctx: Context,
    target: _Target,
    path: Path,
    tables: tuple[Any, Any],
    trust_pickle: bool,
    recorder: _UnpickleRecorder,
    progress: Progress | None,
) -> tuple[Any, str | None, list[str] | None, DataError | None]:
    """The model's scores of both tables for prediction drift: ``(scores, source, feature
    names, None)``, or ``(None, None, None, why)`` when the model cannot score them."""
    from govern.assess.models import load_model, resolve_classes

    reference, current = tables
    try:
        loaded = load_model(
            path,
            trusted_types=ctx.governance.skops_trusted_types,
            trust_pickle=trust_pickle,
            expected_sha256=target.artifact_sha256,
            before_unpickle=recorder,
            max_unpacked_bytes=ctx.settings.max_unpacked_bytes,
            max_compression_ratio=ctx.settings.max_compression_ratio,
        )
        loaded.check_columns(reference.columns, where=reference.name)
        loaded.check_columns(current.columns, where=current.name)
        resolve_classes(loaded, reference.frame)
        if progress is not None:
            progress("predicting", 0, 0)
        scores = (_scores(loaded, reference.frame), _scores(loaded, current.frame))
    except RefusedError as refused:
        _refuse(ctx, "drift.run", target.subject, refused)
    except DataError as problem:
        return None, None, None, problem
    return scores, f"model {path.name}", loaded.feature_names, None


def _store_drift(
    ctx: Context,
    subject: str,
    tables: tuple[Any, Any],
    results: DriftResults,
    document: dict[str, Any],
    *,
    trust_pickle: bool,
    unpickled: bool,
) -> DriftRecord:
    """Store the drift run and its audit event in one transaction, after checking again
    (under the write lock) that the actor may and the version is still writable."""
    action = "drift.run"
    ref_table, cur_table = tables
    with ctx.write(action, subject) as tx:
        _model, version = resolve(tx.session, subject, for_update=True)
        ctx.require_role(tx.session, EVALUATE, doing=f"measure drift of {subject}")
        check_writable(version, subject, "monitored")
        assert version.id is not None
        row = DriftRun(
            version_id=version.id,
            reference_name=ref_table.name,
            reference_sha256=ref_table.sha256,
            current_name=cur_table.name,
            current_sha256=cur_table.sha256,
            results=document,
            created_by=tx.actor,
        )
        tx.session.add(row)
        tx.session.flush()
        assert row.id is not None
        tx.audit(
            drift_run_id=row.id,
            results_sha256=_stored_sha256(tx.session, DriftRun, row.id),
            reference={"name": ref_table.name, "sha256": ref_table.sha256},
            current={"name": cur_table.name, "sha256": cur_table.sha256},
            drifted=[f.feature for f in results.drifted],
            prediction_psi=results.prediction.psi if results.prediction else None,
            trust_pickle=trust_pickle,
            unpickled=unpickled,
        )
        return DriftRecord(
            id=row.id,
            ref=subject,
            created_at=row.created_at,
            created_by=row.created_by,
            results=results,
        )


def _not_features(session: Session, version: ModelVersion) -> dict[str, str]:
    """The target and id column the version's latest evaluation named: not features."""
    row = queries.latest_evaluation(session=session, version_id=version.id)
    if row is None:
        return {}
    found = {row.target: f"the target of evaluation {row.id}"}
    id_column = (row.params or {}).get("id_column")
    if isinstance(id_column, str) and id_column:
        found[id_column] = f"the id column of evaluation {row.id}"
    return found


def _scores(model: Any, frame: Any) -> Any:
    import numpy as np

    proba = model.predict_proba(frame)
    if proba is not None:
        return np.asarray(proba)[:, -1]
    return np.asarray(model.predict(frame), dtype=np.float64)


# About 80 lines: what changed since the evaluation (data, artifact) decides what can be
# recomputed, and each outcome is returned where it is found.
def recompute(ctx: Context, evaluation_id: int, *, trust_pickle: bool = False) -> RecomputeResult:
    """Re-run a stored evaluation from its recorded inputs and compare every figure.

    The data file and the model artifact are re-hashed first: a changed artifact is
    reported and *not* loaded (it is no longer the evaluated model); a changed data file is
    reported and the figures are recomputed on it, so the differences show. An evaluation
    of a pickle is recomputed only with ``trust_pickle`` (the original evaluation's trust is
    not inherited), and the reload is recorded in the audit log before it happens.
    """
    from govern.assess.artifacts import inspect_artifact
    from govern.assess.evaluation import compare_results, run_evaluation

    with ctx.read() as session:
        row = session.get(Evaluation, evaluation_id)
        if row is None:
            raise NotFoundError(f"no evaluation with id {evaluation_id}")
        record = _record(session, row)
        owner = session.get(ModelVersion, row.version_id)
        declared_data = card_dataset_hashes(owner.card) if owner is not None else []
        stored_local = {
            e.row_id: e.payload
            for e in queries.local_explanations(session=session, evaluation_id=evaluation_id)
        }
    spec = EvaluationSpec.from_params(record.params)
    stored = record.results.to_json()
    artifact_changed = False
    if spec.model is not None and record.results.artifact_sha256 is not None:
        info = inspect_artifact(spec.model)
        artifact_changed = info.sha256 != record.results.artifact_sha256
    if artifact_changed:
        return RecomputeResult(
            evaluation_id=evaluation_id,
            ref=record.ref,
            identical=False,
            differences=[
                f"artifact {spec.model}: SHA-256 is no longer "
                f"{record.results.artifact_sha256}; the evaluated model is gone, so the "
                "figures were not recomputed"
            ],
            package_changes=[],
            dataset_changed=False,
            artifact_changed=True,
        )
    _require_pickle_trust(
        ctx,
        "evaluation.recompute",
        record.ref,
        evaluation_id=evaluation_id,
        artifact_format=record.results.artifact_format,
        trust_pickle=trust_pickle,
        doing="recomputing it",
    )
    outcome = run_evaluation(
        dataclasses.replace(spec, trust_pickle=trust_pickle),
        limits(ctx),
        expected_artifact_sha256=record.results.artifact_sha256,
        before_unpickle=_UnpickleRecorder(
            ctx, record.ref, purpose="recompute", evaluation_id=evaluation_id
        ),
    )
    fresh = _check_declared_data(outcome.results, declared_data).to_json()
    differences = compare_results(stored, fresh)
    fresh_local = {item.row_id: item.to_json() for item in outcome.local}
    differences.extend(
        f"local explanation {d}"
        for d in compare_results(
            {"rows": list(stored_local.values())}, {"rows": list(fresh_local.values())}, ignore=()
        )
    )
    package_changes = [
        f"{name}: {stored['packages'].get(name)} -> {fresh['packages'].get(name)}"
        for name in sorted(set(stored["packages"]) | set(fresh["packages"]))
        if stored["packages"].get(name) != fresh["packages"].get(name)
    ]
    return RecomputeResult(
        evaluation_id=evaluation_id,
        ref=record.ref,
        identical=not differences,
        differences=differences,
        package_changes=package_changes,
        dataset_changed=fresh["dataset"]["sha256"] != stored["dataset"]["sha256"],
        artifact_changed=False,
    )


__all__ = [
    "EVALUATE",
    "DriftRecord",
    "EvaluationRecord",
    "ExplanationRecord",
    "RecomputeResult",
    "drift",
    "evaluate_version",
    "explain_row",
    "get_evaluation",
    "latest_evaluation",
    "recompute",
]
