"""Stored versions as the policy engine sees them: one :class:`SubjectSnapshot` each.

One loader serves one version (:func:`snapshot_for`, for ``govern check REF`` and the
workflow's gate) and many (:func:`snapshots_for`, for ``govern check --all``): a handful of
queries for the whole set (:mod:`govern.storage.subjects`), whatever its size, so
``snapshot_for(session, model, version) == snapshots_for(session, [ref])[0]`` by
construction. Documents are read as text and decoded with msgspec; an evaluation's results
are checked against what rules read as they are decoded
(:func:`govern.policy.evidence.read_stored`).
A deployed champion's evaluation is one shared object, so the views the engine parses from
it are built once per check rather than once per challenger.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Collection, Sequence
from itertools import groupby
from typing import Any

import msgspec

from govern.policy.evidence import read_stored
from govern.policy.snapshot import (
    ChampionEvidence,
    DecisionRecord,
    DriftEvidence,
    EvaluationEvidence,
    MonitoringEvidence,
    SubjectSnapshot,
    WaiverRecord,
)
from govern.services.binding import card_scope
from govern.services.catalogue import resolve
from govern.storage import subjects as stored
from govern.storage.database import Session
from govern.storage.subjects import day, instant
from govern.storage.tables import Model, ModelVersion

Decode = Callable[[str | bytes], Any]


def json_decoder() -> Decode:
    """msgspec's JSON decoder, falling back to ``json`` for what only Python's ``json`` reads:
    the ``NaN`` and ``Infinity`` it writes for undefined figures."""
    fast = msgspec.json.Decoder().decode

    def decode(text: str | bytes) -> Any:
        try:
            return fast(text)
        except msgspec.DecodeError:
            return json.loads(text)

    return decode


def snapshot_for(
    session: Session, model: Model, version: ModelVersion, *, min_group_size: int = 30
) -> SubjectSnapshot:
    """Everything the policy engine may look at for one stored version.

    ``min_group_size`` (the governance setting) marks the small groups of its monitoring
    windows, as it does an evaluation's."""
    (snapshot,) = _load(session, [version.id], min_group_size)
    return snapshot


def snapshots_for(
    session: Session, refs: Sequence[str] | None = None, *, min_group_size: int = 30
) -> list[SubjectSnapshot]:
    """:func:`snapshot_for` of many versions, with the same handful of queries as one.

    Args:
        session: An open session.
        refs: ``NAME@VERSION`` references, in the order wanted; ``None`` means every version
            in the catalogue, by model name and registration order.

    Raises:
        NotFoundError: a reference names no version.
    """
    if refs is None:
        return _load(session, None, min_group_size)
    return _load(session, [resolve(session, ref)[1].id for ref in refs], min_group_size)


def _load(
    session: Session, wanted: list[int | None] | None, min_group_size: int
) -> list[SubjectSnapshot]:
    """Snapshots of the versions ``wanted`` (ids, in that order), or of every version."""
    decode = json_decoder()
    rows = stored.version_rows(session=session, version_ids=wanted)
    if wanted is not None:
        position = {vid: at for at, vid in enumerate(wanted)}
        rows = sorted(rows, key=lambda row: position[row.id])
    champion_of = _champions(session, rows, wanted)
    drifts = _drifts(session, wanted, decode)
    decisions = _decisions(session, wanted)
    waivers = _waivers(session, wanted)
    monitored = _monitoring(session, wanted, decode, min_group_size)
    snapshots = []
    fields = stored.columns(
        rows, "id", "model_id", "name", "version", "state", "risk_tier", "card",
        "artifact_format", "artifact_sha256", "next_validation_due", "created_at", "created_by",
    )  # fmt: skip
    for (vid, model_id, name, version, state, tier, card_text, artifact_format, artifact_sha,
         due, created, created_by) in map(fields, rows):  # fmt: skip
        card = decode(card_text)
        tags, scope = card_scope(card)
        history = decisions.get(vid, ())
        submits = [d.actor for d in history if d.action == "submit"]
        champion, evaluation = champion_of(vid, model_id, name)
        snapshots.append(
            SubjectSnapshot(
                subject=f"{name}@{version}",
                card=card,
                name=name,
                version=version,
                state=state,
                risk_tier=tier,
                tags=tuple(tags),
                regulatory_scope=tuple(scope),
                artifact_format=artifact_format,
                artifact_sha256=artifact_sha,
                next_validation_due=None if due is None else day(due),
                created_at=instant(created),
                created_by=created_by,
                submitter=submits[-1] if submits else None,
                evaluation=evaluation,
                drift=drifts.get(vid),
                decisions=history,
                waivers=waivers.get(vid, ()),
                champion=champion,
                monitoring=monitored.get(vid),
            )
        )
    return snapshots


def _champions(
    session: Session, rows: Sequence[Any], wanted: list[int | None] | None
) -> Callable[[int, int, str], tuple[ChampionEvidence | None, EvaluationEvidence | None]]:
    """Reads the latest evaluations of the versions and of their models' champions; returns
    ``(champion, evaluation)`` of a version by ``(id, model id, model name)``.

    A deployed version of a model is the champion of its other versions. A model has one at
    a time; should there be more, the lowest id is taken. A champion is one object, shared
    by its challengers.
    """
    models = None if wanted is None else {row.model_id for row in rows}
    deployed: dict[int, list[Any]] = {}
    for row in stored.deployed_rows(session=session):
        if models is None or row.model_id in models:
            deployed.setdefault(row.model_id, []).append(row)
    evaluated: set[int | None] | None = None
    if wanted is not None:  # the champions' evaluations are read with the versions'
        evaluated = set(wanted) | {c.id for found in deployed.values() for c in found}
    evaluations = _evaluations(session, evaluated)
    champions: dict[int, ChampionEvidence] = {}

    def of(vid: int, model_id: int, name: str) -> tuple[ChampionEvidence | None, Any]:
        evaluation = evaluations.get(vid)
        candidates = deployed.get(model_id)
        if candidates is None:
            return None, evaluation
        found = next((c for c in candidates if c.id != vid), None)
        if found is None:
            return None, evaluation
        if found.id not in champions:
            champions[found.id] = ChampionEvidence(
                ref=f"{name}@{found.version}", evaluation=evaluations.get(found.id)
            )
        return champions[found.id], evaluation

    return of


def _evaluations(
    session: Session, wanted: Collection[int | None] | None
) -> dict[int | None, EvaluationEvidence]:
    rows = stored.latest_evaluation_rows(session=session, version_ids=wanted)
    fields = stored.columns(
        rows, "version_id", "results", "created_at", "dataset_sha256", "artifact_sha256", "id",
        "dataset_name",
    )  # fmt: skip
    evaluations = {}
    for vid, text, created, dataset_sha, artifact_sha, eid, dataset_name in map(fields, rows):
        cache: dict[Any, Any] = {}
        evaluations[vid] = EvaluationEvidence(
            results=read_stored(text, cache),
            created_at=instant(created),
            dataset_sha256=dataset_sha,
            artifact_sha256=artifact_sha,
            id=eid,
            dataset_name=dataset_name,
            cache=cache,
        )
    return evaluations


def _drifts(
    session: Session, wanted: Collection[int | None] | None, decode: Decode
) -> dict[int | None, DriftEvidence]:
    rows = stored.latest_drift_rows(session=session, version_ids=wanted)
    fields = stored.columns(
        rows, "version_id", "results", "created_at", "reference_sha256", "current_sha256", "id"
    )
    return {
        vid: DriftEvidence(
            results=decode(text),
            created_at=instant(created),
            reference_sha256=reference_sha,
            current_sha256=current_sha,
            id=did,
        )
        for vid, text, created, reference_sha, current_sha, did in map(fields, rows)
    }


def _monitoring(
    session: Session, wanted: Collection[int | None] | None, decode: Decode, min_group_size: int
) -> dict[int | None, MonitoringEvidence]:
    """Each monitored version's record; its windows are figured when a rule first asks."""
    from govern.monitor.aggregate import DayCounts
    from govern.services.windows import window_figures

    rows = stored.monitoring_rows(session=session, version_ids=wanted)
    if not rows:
        return {}
    last = dict(map(stored.columns(found := stored.latest_log_rows(
        session=session, version_ids=wanted), "version_id", "last_at"), found))  # fmt: skip
    fields = stored.columns(rows, "day", "features", "counts")
    records = {}
    for vid, history in groupby(rows, stored.columns(rows, "version_id")):
        days, features = [], ()
        for stored_day, stored_features, counts in map(fields, history):
            days.append(DayCounts.from_json(day(stored_day), decode(counts)))
            features = tuple(decode(stored_features))

        def figured(
            width: str, days: list[Any] = days, features: tuple[str, ...] = features
        ) -> Any:
            return [f for _w, _g, f, _p in window_figures(days, features, width, min_group_size)]

        at = last.get(vid)
        records[vid] = MonitoringEvidence(
            features=features,
            last_log_at=None if at is None else instant(at),
            windows=functools.cache(figured),
        )
    return records


def _decisions(
    session: Session, wanted: Collection[int | None] | None
) -> dict[int | None, tuple[DecisionRecord, ...]]:
    rows = stored.decision_rows(session=session, version_ids=wanted)
    fields = stored.columns(rows, "action", "actor", "role", "created_at")
    return {
        vid: tuple(
            DecisionRecord(action, actor, role, instant(created))
            for action, actor, role, created in map(fields, history)
        )
        for vid, history in groupby(rows, stored.columns(rows, "version_id"))
    }


def _waivers(
    session: Session, wanted: Collection[int | None] | None
) -> dict[int | None, tuple[WaiverRecord, ...]]:
    found: dict[int | None, list[WaiverRecord]] = {}
    rows = stored.waiver_rows(session=session, version_ids=wanted)
    fields = stored.columns(
        rows, "version_id", "rule_id", "reason", "granted_by", "granted_role", "expires_on", "id"
    )
    for vid, rule_id, reason, by, role, expires_on, wid in map(fields, rows):
        found.setdefault(vid, []).append(
            WaiverRecord(rule_id, reason, by, role, day(expires_on), wid)
        )
    return {vid: tuple(records) for vid, records in found.items()}


__all__ = ["json_decoder", "snapshot_for", "snapshots_for"]
