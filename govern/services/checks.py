"""Policy checks: against a catalogued version, stateless from files, and as a workflow gate.

* :func:`check_version` evaluates policies against a stored version and records the run (a
  ``PolicyRun`` with one ``RuleResult`` per rule, and an audit event) in one transaction.
* :func:`check_stateless` evaluates a card plus a data file with a predictions column, with
  no catalogue at all (``govern check --card --data ...``).
* :func:`gate` is for approval and deployment: it runs *inside* the caller's transaction and
  lists the blocking rules that fail without an unexpired waiver.

Policies are always loaded and validated before anything is evaluated or written; a bad
policy is a :class:`~govern.errors.PolicyError` (exit 2). Checking stored results never
imports the assessment stack (numpy, scikit-learn, shap).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Any

from sqlalchemy import String, Text, cast, func, type_coerce
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from govern.config import Settings
from govern.domain.governance import GovernanceSettings, bound_categories, bound_policy_names
from govern.errors import InputError
from govern.policy.engine import check as run_check
from govern.policy.engine import collector_paused, evaluate, utcnow
from govern.policy.loader import LoadedPolicy, load_policies
from govern.policy.outcomes import WAIVED, CheckReport, RuleOutcome, SubjectResult
from govern.policy.snapshot import (
    ChampionEvidence,
    DecisionRecord,
    DriftEvidence,
    EvaluationEvidence,
    SubjectSnapshot,
    WaiverRecord,
)
from govern.services.catalogue import resolve
from govern.services.context import Context, Transaction
from govern.storage.tables import (
    Decision,
    DriftRun,
    Evaluation,
    Model,
    ModelVersion,
    PolicyRun,
    RuleResult,
    Waiver,
    as_utc,
)

#: Lifecycle states in which a version is waiting for approvals (the gate defers that rule).
_COLLECTING_APPROVALS = frozenset({"submitted", "draft", "changes_requested"})


# --- which policies apply -------------------------------------------------------------------


def _governance(card: dict[str, Any]) -> tuple[list[str], list[str]]:
    governance = card.get("governance") or {}
    return list(governance.get("tags") or []), list(governance.get("regulatory_scope") or [])


def bound_to(rules: GovernanceSettings, version: ModelVersion) -> list[str]:
    """The policies the catalogue's ``policy_bindings`` attach to ``version``."""
    tags, scope = _governance(version.card)
    return bound_policy_names(
        rules.policy_bindings, risk_tier=version.risk_tier, tags=tags, regulatory_scope=scope
    )


def policies_for(
    ctx: Context, version: ModelVersion, policies: Sequence[str | Path] = ()
) -> list[LoadedPolicy]:
    """The explicit ``policies``, else those bound to ``version``; validated, all or nothing."""
    if policies:
        return load_policies(policies, max_bytes=ctx.settings.max_policy_bytes)
    names = bound_to(ctx.governance, version)
    if not names:
        raise InputError(
            f"no policy is bound to version {version.version} (setting policy_bindings); "
            "give --policy"
        )
    return load_policies(names, max_bytes=ctx.settings.max_policy_bytes)


def with_categories(
    policies: Sequence[LoadedPolicy],
    given: Mapping[str, str] | None = None,
    *,
    rules: GovernanceSettings | None = None,
    risk_tier: str = "",
    tags: Sequence[str] = (),
    regulatory_scope: Sequence[str] = (),
) -> list[LoadedPolicy]:
    """``policies`` with their category names mapped onto the data's columns.

    ``given`` (``--category``) applies to every policy; with ``rules`` (bound policies), so do
    the ``categories`` of the bindings that attach to the version, unless ``given`` maps the
    same category.

    Raises:
        InputError: a mapped category that no rule names, or bindings that map one category
            onto two columns.
    """
    from govern.policy.categories import map_categories

    given = dict(given or {})
    mapped = list(policies)
    if rules is not None:
        try:
            bound = bound_categories(
                rules.policy_bindings,
                risk_tier=risk_tier,
                tags=tags,
                regulatory_scope=regulatory_scope,
            )
        except ValueError as problem:
            raise InputError(str(problem)) from None
        bound = {k: v for k, v in bound.items() if k not in given}
        mapped = map_categories(mapped, bound, where="the policy bindings' categories:")
    return map_categories(mapped, given, where="--category")


def _version_categories(
    ctx: Context,
    version: ModelVersion,
    policies: Sequence[LoadedPolicy],
    given: Mapping[str, str] | None,
    *,
    bound: bool,
) -> list[LoadedPolicy]:
    tags, scope = _governance(version.card)
    return with_categories(
        policies,
        given,
        rules=ctx.governance if bound else None,
        risk_tier=version.risk_tier,
        tags=tags,
        regulatory_scope=scope,
    )


# --- snapshots from the catalogue ---------------------------------------------------------


def _evaluation_evidence(row: Evaluation | None) -> EvaluationEvidence | None:
    if row is None:
        return None
    return EvaluationEvidence(
        results=row.results,
        created_at=row.created_at,
        dataset_sha256=row.dataset_sha256,
        artifact_sha256=row.artifact_sha256,
        id=row.id,
        dataset_name=row.dataset_name,
    )


def latest_evaluation(session: Session, version_id: int | None) -> Evaluation | None:
    return session.exec(
        select(Evaluation)
        .where(Evaluation.version_id == version_id)
        .order_by(col(Evaluation.created_at).desc(), col(Evaluation.id).desc())
    ).first()


def snapshot_for(session: Session, model: Model, version: ModelVersion) -> SubjectSnapshot:
    """Everything the policy engine may look at for one stored version."""
    vid = version.id
    drift = session.exec(
        select(DriftRun)
        .where(DriftRun.version_id == vid)
        .order_by(col(DriftRun.created_at).desc(), col(DriftRun.id).desc())
    ).first()
    decisions = session.exec(
        select(Decision)
        .where(Decision.version_id == vid)
        .order_by(col(Decision.created_at), col(Decision.id))
    ).all()
    waivers = session.exec(
        select(Waiver).where(Waiver.version_id == vid).order_by(col(Waiver.id))
    ).all()
    champion_row = session.exec(
        select(ModelVersion)
        .where(ModelVersion.model_id == model.id)
        .where(ModelVersion.state == "deployed")
        .where(ModelVersion.id != vid)
        .order_by(col(ModelVersion.id))
    ).first()
    champion = None
    if champion_row is not None:
        champion = ChampionEvidence(
            ref=f"{model.name}@{champion_row.version}",
            evaluation=_evaluation_evidence(latest_evaluation(session, champion_row.id)),
        )
    submits = [d.actor for d in decisions if d.action == "submit"]
    tags, scope = _governance(version.card)
    return SubjectSnapshot(
        subject=f"{model.name}@{version.version}",
        card=version.card,
        name=model.name,
        version=version.version,
        state=version.state,
        risk_tier=version.risk_tier,
        tags=tuple(tags),
        regulatory_scope=tuple(scope),
        artifact_format=version.artifact_format,
        artifact_sha256=version.artifact_sha256,
        next_validation_due=version.next_validation_due,
        created_at=version.created_at,
        created_by=version.created_by,
        submitter=submits[-1] if submits else None,
        evaluation=_evaluation_evidence(latest_evaluation(session, vid)),
        drift=None
        if drift is None
        else DriftEvidence(
            results=drift.results,
            created_at=drift.created_at,
            reference_sha256=drift.reference_sha256,
            current_sha256=drift.current_sha256,
            id=drift.id,
        ),
        decisions=tuple(
            DecisionRecord(action=d.action, actor=d.actor, role=d.role, created_at=d.created_at)
            for d in decisions
        ),
        waivers=tuple(
            WaiverRecord(
                rule_id=w.rule_id,
                reason=w.reason,
                granted_by=w.granted_by,
                granted_role=w.granted_role,
                expires_on=w.expires_on,
                id=w.id,
            )
            for w in waivers
        ),
        champion=champion,
    )


# --- many stored versions at once ----------------------------------------------------------


def json_decoder() -> Callable[[str | bytes], Any]:
    """orjson when it is installed (about 3x faster on results documents), else ``json``.

    orjson refuses what Python's ``json`` writes and reads for undefined figures (``NaN``,
    ``Infinity``) and integers beyond 64 bits; such a document is decoded again with ``json``
    so both decoders give the same values.
    """
    try:
        import orjson
    except (
        ImportError
    ):  # pragma: no cover - orjson is a dependency; this keeps a bare install working
        return json.loads
    fast = orjson.loads

    def decode(text: str | bytes) -> Any:
        try:
            return fast(text)
        except orjson.JSONDecodeError:
            return json.loads(text)

    return decode


def _latest(
    table: type[Evaluation] | type[DriftRun], version_ids: Collection[int | None] | None
) -> Any:
    """A subquery of the latest row per version (newest ``created_at``, then id): its
    ``id`` and ``created_at``, read from the ``(version_id, created_at, id)`` index alone.

    (A large row's later columns are read by walking its overflow pages; an evaluation's
    ``created_at`` comes after its results document.)
    """
    ranked = sa_select(
        col(table.id).label("id"),
        col(table.created_at).label("created_at"),
        func.row_number()
        .over(
            partition_by=col(table.version_id),
            order_by=(col(table.created_at).desc(), col(table.id).desc()),
        )
        .label("rank"),
    )
    if version_ids is not None:
        ranked = ranked.where(col(table.version_id).in_(version_ids))
    inner = ranked.subquery()
    return sa_select(inner.c.id, inner.c.created_at).where(inner.c.rank == 1).subquery()


def _raw(column: Any) -> Any:
    """A date or time column as the driver returns it, without SQLAlchemy's per-value
    conversion (0.07 s of the 0.11 s a batch load spends on 30,000 decisions): text on
    SQLite, a date or datetime on PostgreSQL. :func:`_instant` and :func:`_day` convert it
    as ``UTCDateTime`` and ``Date`` would."""
    return type_coerce(column, String)


_from_text = dt.datetime.fromisoformat


def _instant(value: Any) -> dt.datetime:
    """A stored instant as an aware UTC datetime (SQLite stores it naive, as UTC).

    Naive text is parsed with a UTC offset appended: one call, where parsing and then
    ``replace(tzinfo=...)`` cost seven times as much (0.06 s of a 10,000-version load)."""
    if type(value) is str:
        try:
            value = _from_text(value + "+00:00")
        except ValueError:  # the text carries its own offset
            value = _from_text(value)
    return value if value.tzinfo is dt.UTC else as_utc(value)


def _day(value: Any) -> dt.date:
    return dt.date.fromisoformat(value) if type(value) is str else value


def snapshots_for(session: Session, refs: Sequence[str] | None = None) -> list[SubjectSnapshot]:
    """:func:`snapshot_for` of many versions with a handful of queries instead of six each.

    Results documents and cards are read as text and decoded with the fastest decoder
    available; a deployed champion's evaluation is one shared object, so the views the
    engine parses from it are built once per check rather than once per challenger.

    Args:
        session: An open session.
        refs: ``NAME@VERSION`` references, in the order wanted; ``None`` means every version
            in the catalogue, by model name and registration order.

    Returns:
        One snapshot per version, equal to what :func:`snapshot_for` builds for it.
    """
    decode = json_decoder()
    connection = session.connection()

    def read(query: Any) -> Sequence[Any]:
        return connection.execute(query).all()  # one fetchall, not a fetch per row

    wanted: list[int | None] | None = None
    if refs is not None:
        wanted = []
        for ref in refs:
            wanted.append(resolve(session, ref)[1].id)
    mv, md = ModelVersion, Model
    query = sa_select(
        col(mv.id),
        col(mv.model_id),
        col(md.name),
        col(mv.version),
        col(mv.state),
        col(mv.risk_tier),
        cast(col(mv.card), Text),
        col(mv.artifact_format),
        col(mv.artifact_sha256),
        _raw(col(mv.next_validation_due)),
        _raw(col(mv.created_at)),
        col(mv.created_by),
    ).join(md, col(md.id) == col(mv.model_id))
    if wanted is not None:
        query = query.where(col(mv.id).in_(wanted))
    rows = read(query.order_by(col(md.name), col(mv.id)))
    if wanted is not None:
        position = {vid: i for i, vid in enumerate(wanted)}
        rows = sorted(rows, key=lambda row: position[row[0]])

    # A deployed version of a model is the champion of its other versions. A model has one
    # at a time; should there be more, the lowest id is taken, as in snapshot_for.
    deployed: dict[int, list[tuple[int | None, str]]] = {}
    for vid, model_id, label in read(
        sa_select(col(mv.id), col(mv.model_id), col(mv.version))
        .where(col(mv.state) == "deployed")
        .order_by(col(mv.id))
    ):
        deployed.setdefault(model_id, []).append((vid, label))
    evaluation_of = set(wanted) if wanted is not None else None
    if evaluation_of is not None:
        evaluation_of.update(vid for champions in deployed.values() for vid, _v in champions)

    ev = Evaluation
    evaluations: dict[int | None, EvaluationEvidence] = {}
    latest = _latest(ev, evaluation_of)
    rows_e = read(
        sa_select(
            col(ev.id),
            col(ev.version_id),
            _raw(latest.c.created_at),
            col(ev.dataset_sha256),
            col(ev.artifact_sha256),
            col(ev.dataset_name),
            cast(col(ev.results), Text),
        ).join(latest, latest.c.id == col(ev.id))
    )
    for eid, vid, created, dataset_sha, artifact_sha, dataset_name, text in rows_e:
        evaluations[vid] = EvaluationEvidence(
            results=decode(text),
            created_at=_instant(created),
            dataset_sha256=dataset_sha,
            artifact_sha256=artifact_sha,
            id=eid,
            dataset_name=dataset_name,
        )
    dr = DriftRun
    drifts: dict[int | None, DriftEvidence] = {}
    for did, vid, created, reference_sha, current_sha, text in read(
        sa_select(
            col(dr.id),
            col(dr.version_id),
            _raw(col(dr.created_at)),
            col(dr.reference_sha256),
            col(dr.current_sha256),
            cast(col(dr.results), Text),
        ).where(col(dr.id).in_(sa_select(_latest(dr, wanted).c.id)))
    ):
        drifts[vid] = DriftEvidence(
            results=decode(text),
            created_at=_instant(created),
            reference_sha256=reference_sha,
            current_sha256=current_sha,
            id=did,
        )
    decisions: dict[int | None, tuple[DecisionRecord, ...]] = {}
    query_d = sa_select(
        col(Decision.version_id),
        col(Decision.action),
        col(Decision.actor),
        col(Decision.role),
        _raw(col(Decision.created_at)),
    )
    if wanted is not None:
        query_d = query_d.where(col(Decision.version_id).in_(wanted))
    ordered = read(
        query_d.order_by(col(Decision.version_id), col(Decision.created_at), col(Decision.id))
    )
    for vid, rows_d in groupby(ordered, itemgetter(0)):
        decisions[vid] = tuple(
            DecisionRecord(action, actor, role, _instant(created))
            for _vid, action, actor, role, created in rows_d
        )
    waivers: dict[int | None, list[WaiverRecord]] = {}
    wv = Waiver
    query_w = sa_select(
        col(wv.version_id),
        col(wv.rule_id),
        col(wv.reason),
        col(wv.granted_by),
        col(wv.granted_role),
        _raw(col(wv.expires_on)),
        col(wv.id),
    )
    if wanted is not None:
        query_w = query_w.where(col(wv.version_id).in_(wanted))
    for vid, rule_id, reason, granted_by, granted_role, expires_on, wid in read(
        query_w.order_by(col(wv.id))
    ):
        waivers.setdefault(vid, []).append(
            WaiverRecord(rule_id, reason, granted_by, granted_role, _day(expires_on), wid)
        )

    champions: dict[int | None, ChampionEvidence] = {}
    snapshots = []
    for (
        vid,
        model_id,
        name,
        version_label,
        state,
        risk_tier,
        card_text,
        artifact_format,
        artifact_sha,
        due,
        created,
        created_by,
    ) in rows:
        champion = None
        candidates = deployed.get(model_id)
        if candidates is not None:
            champion_vid, champion_version = candidates[0]
            if champion_vid == vid:
                champion_vid, champion_version = candidates[1] if candidates[1:] else (None, "")
            if champion_vid is not None:
                champion = champions.get(champion_vid)
                if champion is None:
                    champion = champions[champion_vid] = ChampionEvidence(
                        ref=f"{name}@{champion_version}", evaluation=evaluations.get(champion_vid)
                    )
        card = decode(card_text)
        tags, scope = _governance(card)
        history = decisions.get(vid, ())
        submits = [d.actor for d in history if d.action == "submit"]
        snapshots.append(
            SubjectSnapshot(
                subject=f"{name}@{version_label}",
                card=card,
                name=name,
                version=version_label,
                state=state,
                risk_tier=risk_tier,
                tags=tuple(tags),
                regulatory_scope=tuple(scope),
                artifact_format=artifact_format,
                artifact_sha256=artifact_sha,
                next_validation_due=None if due is None else _day(due),
                created_at=_instant(created),
                created_by=created_by,
                submitter=submits[-1] if submits else None,
                evaluation=evaluations.get(vid),
                drift=drifts.get(vid),
                decisions=history,
                waivers=tuple(waivers.get(vid, ())),
                champion=champion,
            )
        )
    return snapshots


def check_versions(
    ctx: Context,
    policies: Sequence[str | Path],
    refs: Sequence[str] | None = None,
    *,
    now: dt.datetime | None = None,
    categories: Mapping[str, str] | None = None,
) -> CheckReport:
    """Check many catalogued versions (default: all of them) against the same policies.

    ``categories`` maps the policies' category names onto evaluated columns (``--category``).

    A read: nothing is recorded, so any reader may run it. The policies are loaded and
    validated before anything is read.

    Raises:
        InputError: no policy was given.
        PolicyError: a policy file is invalid.
        NotFoundError: a reference names no version.
    """
    if not policies:
        raise InputError("checking many versions needs --policy (their bindings may differ)")
    loaded = with_categories(
        load_policies(policies, max_bytes=ctx.settings.max_policy_bytes), categories
    )
    at = now or utcnow()
    with collector_paused():
        with ctx.read() as session:
            subjects = snapshots_for(session, refs)
        return run_check(loaded, subjects, now=at)


# --- recording a run ------------------------------------------------------------------------


def store_run(
    session: Session,
    version: ModelVersion | None,
    policies: Sequence[LoadedPolicy],
    result: SubjectResult,
    *,
    actor: str,
    checked_at: dt.datetime,
    stage: str = "check",
) -> PolicyRun:
    """Write a PolicyRun and its RuleResults in ``session`` (the caller owns the transaction).

    ``RuleResult.evidence`` holds ``{"kind", "evidence", "waiver", "blocking", "location"}``.
    """
    run = PolicyRun(
        version_id=version.id if version is not None else None,
        policies=[p.describe() for p in policies],
        outcome=result.outcome,
        summary={**result.summary(), "checked_at": checked_at.isoformat(), "stage": stage},
        created_by=actor,
        created_at=checked_at,
    )
    session.add(run)
    session.flush()
    assert run.id is not None
    session.add_all(
        [
            RuleResult(
                policy_run_id=run.id,
                policy_id=o.policy_id,
                rule_id=o.rule_id,
                subject=o.subject,
                status=o.status,
                severity=o.severity,
                title=o.title,
                message=o.message,
                source=o.source,
                evidence={
                    "kind": o.kind,
                    "evidence": dict(o.evidence),
                    "waiver": dict(o.waiver) if o.waiver else None,
                    "blocking": o.blocking,
                    "location": {"path": o.policy_path, "line": o.line},
                },
            )
            for o in result.outcomes
        ]
    )
    session.flush()
    return run


def _audit_payload(
    policies: Sequence[LoadedPolicy], result: SubjectResult, run_id: int | None
) -> dict[str, Any]:
    return {
        "policy_run_id": run_id,
        "policies": [
            {"id": p.id, "version": p.policy.version, "sha256": p.sha256} for p in policies
        ],
        "outcome": result.outcome,
        "counts": result.counts(),
        "blocking": [o.qualified_id for o in result.blocking],
        "waived": [o.qualified_id for o in result.outcomes if o.status == WAIVED],
    }


# --- the three ways to check ----------------------------------------------------------------


def check_version(
    ctx: Context,
    ref: str,
    policies: Sequence[str | Path] = (),
    *,
    now: dt.datetime | None = None,
    record: bool = True,
    categories: Mapping[str, str] | None = None,
) -> CheckReport:
    """Check a catalogued version against policies and (by default) record the run.

    Args:
        ctx: The service context; with ``record`` the actor must be a catalogue user.
        ref: ``NAME@VERSION`` or ``NAME`` (latest version).
        policies: Policy files, directories or shipped pack names; empty means the policies
            bound to the version by ``Settings.policy_bindings``.
        now: Time of the check (tests pin it); default the current UTC time.
        record: Store a PolicyRun with its RuleResults and an audit event, in one
            transaction. Without it nothing is written and any reader may check.
        categories: The policies' category names mapped onto evaluated columns
            (``--category race_ethnicity=race``); bound policies also take the
            ``categories`` of their bindings.

    Returns:
        The report; ``report.exit_code`` is 1 when a blocking rule fails.

    Raises:
        PolicyError: a policy file is invalid (nothing evaluated, nothing written).
        NotFoundError: no such model or version.
    """
    at = now or utcnow()
    explicit = (
        with_categories(
            load_policies(policies, max_bytes=ctx.settings.max_policy_bytes), categories
        )
        if policies
        else None
    )
    if not record:
        with ctx.read() as session:
            model, version = resolve(session, ref)
            loaded = explicit or _version_categories(
                ctx, version, policies_for(ctx, version), categories, bound=True
            )
            snapshot = snapshot_for(session, model, version)
        return run_check(loaded, [snapshot], now=at)
    with ctx.write("policy.check", ref) as tx:
        model, version = resolve(tx.session, ref)
        tx.subject = f"{model.name}@{version.version}"
        loaded = explicit or _version_categories(
            ctx, version, policies_for(ctx, version), categories, bound=True
        )
        ctx.require_role(tx.session, "check", doing=f"record a policy check of {tx.subject}")
        snapshot = snapshot_for(tx.session, model, version)
        result = evaluate(loaded, snapshot, now=at)
        run = store_run(tx.session, version, loaded, result, actor=tx.actor, checked_at=at)
        tx.audit(**_audit_payload(loaded, result, run.id))
        assert run.id is not None
        return CheckReport(
            policies=tuple(loaded),
            subjects=(result,),
            checked_at=at,
            run_ids={result.subject: run.id},
        )


def check_stateless(
    settings: Settings,
    *,
    rules: GovernanceSettings | None = None,
    card: Path,
    data: Path,
    target: str,
    sensitive: Sequence[str],
    predictions: str,
    policies: Sequence[str | Path] = (),
    score: str | None = None,
    positive: str | None = None,
    now: dt.datetime | None = None,
    categories: Mapping[str, str] | None = None,
) -> CheckReport:
    """Check a card and a scored data file against policies, with no catalogue.

    The data are evaluated from the predictions column with the assessment engine (no model
    is loaded), then the policies run on a snapshot built from the card. Rules that need the
    catalogue (approvals, drift, champion) are ``not-applicable``.

    Raises:
        PolicyError / CardError / DataError / InputError: unusable inputs, found before any
            rule is evaluated.
    """
    from govern.assess.evaluation import EvaluationSpec, Limits, run_evaluation
    from govern.services.catalogue import load_card

    rules = rules or GovernanceSettings()
    at = now or utcnow()
    card_model = load_card(card, max_bytes=settings.max_card_bytes)
    card_json = card_model.to_json_dict()
    governance = card_model.governance
    if policies:
        loaded = with_categories(
            load_policies(policies, max_bytes=settings.max_policy_bytes), categories
        )
    else:
        names = bound_policy_names(
            rules.policy_bindings,
            risk_tier=str(governance.risk_tier),
            tags=governance.tags,
            regulatory_scope=governance.regulatory_scope,
        )
        loaded = with_categories(
            load_policies(names, max_bytes=settings.max_policy_bytes),
            categories,
            rules=rules,
            risk_tier=str(governance.risk_tier),
            tags=governance.tags,
            regulatory_scope=governance.regulatory_scope,
        )
    spec = EvaluationSpec(
        data=data,
        target=target,
        sensitive=tuple(sensitive),
        predictions=predictions,
        score=score,
        positive=positive,
        min_group_size=rules.min_group_size,
        explain_sample=0,
    )
    limits = Limits(
        max_data_bytes=settings.max_data_bytes,
        max_groups=rules.max_groups,
        skops_trusted_types=tuple(rules.skops_trusted_types),
        max_group_label_chars=rules.max_group_label_chars,
    )
    outcome = run_evaluation(spec, limits)
    results = outcome.results.to_json()
    snapshot = SubjectSnapshot.from_card(
        f"{card_model.name}@{card_model.version}",
        card_json,
        stateless=True,
        evaluation=EvaluationEvidence(
            results=results,
            created_at=at,
            dataset_sha256=outcome.results.dataset.sha256,
            dataset_name=outcome.results.dataset.name,
        ),
    )
    return run_check(loaded, [snapshot], now=at)


@dataclass(frozen=True)
class GateResult:
    """What :func:`gate` found. ``blocking`` is empty when the transition may go ahead."""

    subject: str
    policies: list[str]
    outcomes: tuple[RuleOutcome, ...]
    notes: list[str] = field(default_factory=list)
    policy_run_id: int | None = None

    @property
    def failures(self) -> list[RuleOutcome]:
        """Blocking rules (severity error) that fail or cannot be decided, without a waiver."""
        return [o for o in self.outcomes if o.blocking]

    @property
    def blocking(self) -> list[str]:
        """Qualified ids (``policy/rule``) of :attr:`failures`."""
        return [o.qualified_id for o in self.failures]

    @property
    def passed(self) -> bool:
        return not self.failures

    def describe(self) -> str:
        """``policy/rule (why)`` for each blocking rule, for a refusal message."""
        return "; ".join(f"{o.qualified_id} ({o.message})" for o in self.failures)


#: What the approval gate leaves to the deployment gate, and why.
_APPROVAL_DEFERRED = {
    "approvals": "approvals are being collected; checked again at deployment",
    # The card's date is replaced by the one the approval sets (revalidation_months_by_tier):
    # judging the old one would refuse the very validation that renews it.
    "validation_due": "this approval sets the next validation date; checked again at deployment",
}


def gate(
    tx: Transaction,
    model: Model,
    version: ModelVersion,
    *,
    stage: str | None = None,
    now: dt.datetime | None = None,
    record: bool = False,
) -> GateResult:
    """Run the policies bound to ``version`` inside the caller's transaction.

    For approval and deployment: the workflow refuses the transition when
    ``result.blocking`` is not empty. Reads only, unless ``record``.

    Args:
        tx: The caller's transaction; the catalogue's ``policy_bindings`` say what runs.
        model: The version's model row.
        version: The version being approved or deployed.
        stage: ``"approve"`` or ``"deploy"``. At ``approve`` rules of kind ``approvals``
            (being collected) and ``validation_due`` (the approval sets the date) are
            deferred. Default: ``approve`` while the
            version is submitted, else ``deploy``.
        now: Time of the check; default the current UTC time.
        record: Also store the run (PolicyRun + RuleResults + a ``policy.gate`` audit event)
            in the caller's transaction, so it commits or rolls back with the decision.

    Raises:
        PolicyError: a bound policy file is invalid.
    """
    at = now or utcnow()
    session = tx.session
    subject = f"{model.name}@{version.version}"
    bound = bound_to(tx.governance, version)
    if not bound:
        # An organisation may bind no policy at all: then nothing can block the transition.
        return GateResult(
            subject=subject,
            policies=[],
            outcomes=(),
            notes=["policy gate: no policy is bound to this version (setting policy_bindings)"],
        )
    loaded = _version_categories(
        tx.ctx,
        version,
        load_policies(bound, max_bytes=tx.ctx.settings.max_policy_bytes),
        None,
        bound=True,
    )
    if stage is None:
        stage = "approve" if version.state in _COLLECTING_APPROVALS else "deploy"
    snapshot = snapshot_for(session, model, version)
    result = evaluate(
        loaded, snapshot, now=at, defer_kinds=_APPROVAL_DEFERRED if stage == "approve" else ()
    )
    notes = [f"policy gate ({stage}): {', '.join(f'{p.id} {p.policy.version}' for p in loaded)}"]
    notes += [
        f"waived {o.qualified_id} ({o.waiver['granted_by']}, until {o.waiver['expires_on']})"
        for o in result.outcomes
        if o.status == WAIVED and o.waiver
    ]
    warnings = [o.qualified_id for o in result.outcomes if o.status == "fail" and not o.blocking]
    if warnings:
        notes.append(f"non-blocking rules failed: {', '.join(warnings)}")
    run_id = None
    if record:
        run = store_run(
            session, version, loaded, result, actor=tx.actor, checked_at=at, stage=f"gate:{stage}"
        )
        run_id = run.id
        tx.audit("policy.gate", subject, stage=stage, **_audit_payload(loaded, result, run_id))
    return GateResult(
        subject=subject,
        policies=[p.id for p in loaded],
        outcomes=result.outcomes,
        notes=notes,
        policy_run_id=run_id,
    )


def latest_run(ctx: Context, ref: str) -> dict[str, Any] | None:
    """The version's most recent policy run with its rule results, JSON-ready."""
    with ctx.read() as session:
        _model, version = resolve(session, ref)
        run = session.exec(
            select(PolicyRun)
            .where(PolicyRun.version_id == version.id)
            .order_by(col(PolicyRun.id).desc())
        ).first()
        if run is None:
            return None
        rows = session.exec(
            select(RuleResult)
            .where(RuleResult.policy_run_id == run.id)
            .order_by(col(RuleResult.id))
        ).all()
        return {
            "id": run.id,
            "created_at": run.created_at.isoformat(),
            "created_by": run.created_by,
            "outcome": run.outcome,
            "policies": run.policies,
            "summary": run.summary,
            "results": [
                {
                    "policy": r.policy_id,
                    "rule": r.rule_id,
                    "status": r.status,
                    "severity": r.severity,
                    "title": r.title,
                    "message": r.message,
                    "source": r.source,
                    **r.evidence,
                }
                for r in rows
            ],
        }


__all__ = [
    "GateResult",
    "bound_policy_names",
    "check_stateless",
    "check_version",
    "check_versions",
    "gate",
    "json_decoder",
    "latest_run",
    "policies_for",
    "snapshot_for",
    "snapshots_for",
    "store_run",
    "with_categories",
]
