"""Reads of a version's evidence: evaluations, drift runs, decisions, waivers, policy runs,
reports and explanations. Each question is answered here once, with one ordering:

* **the latest** evaluation or drift run of a version is the one with the newest
  ``created_at``, ties broken by the highest id (the ``(version_id, created_at, id)``
  indexes); lists of them are newest first in that same order;
* a version's **decisions** are in the order they were recorded, by id: writers take the
  catalogue's write lock one at a time, so ids follow the audit log (a decision's n-th row
  is its n-th event), where ``created_at`` is the writing machine's clock;
* **policy runs** and **reports** are newest first by id (a run's ``created_at`` is the
  check's ``now``, which a caller may pin); waivers and rule results by id.

Like :mod:`govern.storage.crud`, the functions are keyword-only and never commit.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from govern.storage.tables import (
    Decision,
    DriftRun,
    Evaluation,
    Explanation,
    Model,
    ModelVersion,
    PolicyRun,
    Report,
    RuleResult,
    SettingsRevision,
    Waiver,
)

# --- the latest of each version ----------------------------------------------------------------


def newest_first(table: type[Evaluation] | type[DriftRun]) -> tuple[Any, Any]:
    """The order "newest first" of evaluations and drift runs: ``created_at``, then id."""
    return col(table.created_at).desc(), col(table.id).desc()


def latest_per_version(
    table: type[Evaluation] | type[DriftRun], version_ids: Collection[int | None] | None = None
) -> Any:
    """A subquery of each version's latest row (``id``, ``version_id``, ``created_at``),
    read from the ``(version_id, created_at, id)`` index alone; ``version_ids=None``: all.

    (A large row's later columns are read by walking its overflow pages; an evaluation's
    ``created_at`` comes after its results document.)
    """
    ranked: Any = select(
        col(table.id).label("id"),
        col(table.version_id).label("version_id"),
        col(table.created_at).label("created_at"),
        func.row_number()
        .over(partition_by=col(table.version_id), order_by=newest_first(table))
        .label("rank"),
    )
    if version_ids is not None:
        ranked = ranked.where(col(table.version_id).in_(version_ids))
    inner = ranked.subquery()
    return (
        select(inner.c.id, inner.c.version_id, inner.c.created_at)
        .where(inner.c.rank == 1)
        .subquery()
    )


def evaluations_of(
    *,
    session: Session,
    version_id: int | None,
    with_model: bool = False,
    limit: int | None = None,
) -> list[Evaluation]:
    """The version's evaluations, latest first; ``with_model``: only those that ran a model."""
    query = select(Evaluation).where(Evaluation.version_id == version_id)
    if with_model:
        query = query.where(Evaluation.prediction_source == "model")
    query = query.order_by(*newest_first(Evaluation))
    if limit is not None:
        query = query.limit(limit)
    return list(session.exec(query).all())


def latest_evaluation(
    *, session: Session, version_id: int | None, with_model: bool = False
) -> Evaluation | None:
    """The version's latest evaluation (newest ``created_at``, then highest id);
    ``with_model``: the latest that ran a model (rather than read a predictions column)."""
    found = evaluations_of(session=session, version_id=version_id, with_model=with_model, limit=1)
    return found[0] if found else None


def latest_drift_run(*, session: Session, version_id: int | None) -> DriftRun | None:
    """The version's latest drift run (newest ``created_at``, then highest id)."""
    return session.exec(
        select(DriftRun).where(DriftRun.version_id == version_id).order_by(*newest_first(DriftRun))
    ).first()


# --- history ------------------------------------------------------------------------------------


def decisions_of(*, session: Session, version_id: int | None) -> list[Decision]:
    """The version's decisions in the order they were recorded."""
    return list(
        session.exec(
            select(Decision).where(Decision.version_id == version_id).order_by(col(Decision.id))
        ).all()
    )


def submitters_of(*, session: Session, version_id: int | None) -> list[str]:
    """Who submitted the version for approval, once per submission, in order."""
    return [
        d.actor
        for d in decisions_of(session=session, version_id=version_id)
        if d.action == "submit"
    ]


def decisions_in_states(*, session: Session, states: Sequence[str]) -> list[Decision]:
    """The decisions of every version now in one of ``states``, in the order recorded."""
    return list(
        session.exec(
            select(Decision)
            .join(ModelVersion, col(ModelVersion.id) == col(Decision.version_id))
            .where(col(ModelVersion.state).in_(list(states)))
            .order_by(col(Decision.id))
        ).all()
    )


def waivers_of(
    *, session: Session, version_id: int | None, newest_first: bool = False
) -> list[Waiver]:
    """The version's waivers by id (granted order), or the reverse."""
    order = col(Waiver.id).desc() if newest_first else col(Waiver.id)
    return list(
        session.exec(select(Waiver).where(Waiver.version_id == version_id).order_by(order)).all()
    )


def deployed_champion(
    *, session: Session, model_id: int | None, exclude: int | None
) -> ModelVersion | None:
    """The model's deployed version other than ``exclude`` (the lowest id, should there be
    more than one)."""
    return session.exec(
        select(ModelVersion)
        .where(ModelVersion.model_id == model_id)
        .where(ModelVersion.state == "deployed")
        .where(ModelVersion.id != exclude)
        .order_by(col(ModelVersion.id))
    ).first()


# --- policy runs and reports -------------------------------------------------------------------


def policy_runs_of(
    *, session: Session, version_id: int | None, limit: int | None = None
) -> list[PolicyRun]:
    """The version's policy runs, newest first (by id)."""
    query = select(PolicyRun).where(PolicyRun.version_id == version_id)
    query = query.order_by(col(PolicyRun.id).desc())
    if limit is not None:
        query = query.limit(limit)
    return list(session.exec(query).all())


def latest_policy_run(*, session: Session, version_id: int | None) -> PolicyRun | None:
    runs = policy_runs_of(session=session, version_id=version_id, limit=1)
    return runs[0] if runs else None


def rule_results_of(*, session: Session, run_id: int | None) -> list[RuleResult]:
    """A policy run's rule results, in the order they were written."""
    return list(
        session.exec(
            select(RuleResult)
            .where(RuleResult.policy_run_id == run_id)
            .order_by(col(RuleResult.id))
        ).all()
    )


def policy_ids_of_run(*, session: Session, run_id: int | None) -> set[str]:
    """The ids of the policies a run checked, as its rule results name them."""
    return set(
        session.exec(select(RuleResult.policy_id).where(RuleResult.policy_run_id == run_id)).all()
    )


def ruled_ids(*, session: Session, version_id: int | None) -> set[tuple[str, str]]:
    """``(policy id, rule id)`` of every rule any policy run of the version judged."""
    rows = session.exec(
        select(RuleResult.policy_id, RuleResult.rule_id)
        .join(PolicyRun, col(PolicyRun.id) == RuleResult.policy_run_id)
        .where(PolicyRun.version_id == version_id)
    ).all()
    return {(str(policy), str(rule)) for policy, rule in rows}


def reports_of(*, session: Session, version_id: int | None) -> list[Report]:
    """The version's reports, newest first (by id)."""
    return list(
        session.exec(
            select(Report).where(Report.version_id == version_id).order_by(col(Report.id).desc())
        ).all()
    )


# --- explanations ------------------------------------------------------------------------------


def local_explanations(
    *,
    session: Session,
    evaluation_id: int | None,
    row_id: str | None = None,
    limit: int | None = None,
) -> list[Explanation]:
    """An evaluation's per-decision explanations in stored order (only ``row_id``'s, if given)."""
    query = select(Explanation).where(
        Explanation.evaluation_id == evaluation_id, Explanation.kind == "local"
    )
    if row_id is not None:
        query = query.where(Explanation.row_id == row_id)
    query = query.order_by(col(Explanation.id))
    if limit is not None:
        query = query.limit(limit)
    return list(session.exec(query).all())


def count_local_explanations(*, session: Session, evaluation_id: int | None) -> int:
    return int(
        session.exec(
            select(func.count())
            .select_from(Explanation)
            .where(Explanation.evaluation_id == evaluation_id, Explanation.kind == "local")
        ).one()
    )


# --- the catalogue's listing -------------------------------------------------------------------


def _card_field(section: str, key: str) -> Any:
    return func.coalesce(col(ModelVersion.card)[section][key].as_string(), "")


def version_summaries(
    *, session: Session, model_name: str | None = None, states: Sequence[str] = ()
) -> list[Any]:
    """One row per version, unsorted, named ``name, owner, business_unit, version, state,
    risk_tier, created_at, created_by, next_validation_due, last_evaluated_at,
    policy_outcome`` (the latest evaluation's time and the latest policy run's outcome)."""
    last_eval = latest_per_version(Evaluation)
    last_run_id = (
        select(PolicyRun.version_id, func.max(PolicyRun.id).label("run_id"))
        .group_by(col(PolicyRun.version_id))
        .subquery()
    )
    query = (
        select(  # type: ignore[call-overload]
            col(Model.name).label("name"),
            # Each version's own card, not the model row a later registration rewrote.
            _card_field("governance", "owner").label("owner"),
            _card_field("governance", "business_unit").label("business_unit"),
            col(ModelVersion.version).label("version"),
            col(ModelVersion.state).label("state"),
            col(ModelVersion.risk_tier).label("risk_tier"),
            col(ModelVersion.created_at).label("created_at"),
            col(ModelVersion.created_by).label("created_by"),
            col(ModelVersion.next_validation_due).label("next_validation_due"),
            last_eval.c.created_at.label("last_evaluated_at"),
            col(PolicyRun.outcome).label("policy_outcome"),
        )
        .join(ModelVersion, col(ModelVersion.model_id) == Model.id)
        .outerjoin(last_eval, last_eval.c.version_id == ModelVersion.id)
        .outerjoin(last_run_id, last_run_id.c.version_id == ModelVersion.id)
        .outerjoin(PolicyRun, col(PolicyRun.id) == last_run_id.c.run_id)
    )
    if model_name:
        query = query.where(Model.name == model_name)
    if states:
        query = query.where(col(ModelVersion.state).in_(list(states)))
    return list(session.exec(query).all())


# --- governance settings -----------------------------------------------------------------------


def settings_revisions(*, session: Session) -> list[SettingsRevision]:
    """Every governance settings revision, oldest first."""
    return list(
        session.exec(select(SettingsRevision).order_by(col(SettingsRevision.revision))).all()
    )


# --- what events record of stored documents ----------------------------------------------------


def results_sha256(
    *, session: Session, table: type[Evaluation] | type[DriftRun], ids: Sequence[int]
) -> dict[int, str]:
    """SHA-256 of each evaluation's or drift run's results as stored (the exact text)."""
    from govern.storage.crud import stored_sha256

    return stored_sha256(
        connection=session.connection(), column=col(table.results), key=col(table.id), ids=ids
    )
