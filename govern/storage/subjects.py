"""What a policy check reads of many stored versions, in a handful of queries.

Each function reads one table for a set of versions (``version_ids=None``: every version)
and returns rows whose columns are read by name (``row.created_at``). Documents (cards,
results) come as their stored text, for the caller's fastest JSON decoder; date and time
columns come as the driver returns them, without SQLAlchemy's per-value conversion, which
on a large batch costs more than the rest of the read: convert them with :func:`instant`
and :func:`day`.

"The latest" evaluation or drift run is :func:`govern.storage.queries.latest_per_version`,
the same order as every other reader of it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Sequence
from operator import itemgetter
from typing import Any

# SQLAlchemy's select: SQLModel's types only selects of up to four columns.
from sqlalchemy import String, Text, cast, func, select, type_coerce
from sqlmodel import Session, col

from govern.storage.queries import latest_per_version
from govern.storage.tables import (
    Decision,
    DriftRun,
    Evaluation,
    Model,
    ModelVersion,
    MonitoringDay,
    MonitoringFile,
    Waiver,
    as_utc,
)

#: Which versions to read: their ids, or None for every version in the catalogue.
Wanted = Collection[int | None] | None


def _raw(column: Any) -> Any:
    """A date or time column as the driver returns it: text on SQLite, a date or datetime on
    PostgreSQL. :func:`instant` and :func:`day` convert it as ``UTCDateTime`` and ``Date``
    would."""
    return type_coerce(column, String)


_from_text = dt.datetime.fromisoformat


def instant(value: Any) -> dt.datetime:
    """A stored instant as an aware UTC datetime (SQLite stores it naive, as UTC).

    Naive text is parsed with a UTC offset appended, in one call rather than a parse and a
    ``replace(tzinfo=...)``: this runs once per decision of every version checked."""
    if type(value) is str:
        try:
            value = _from_text(value + "+00:00")
        except ValueError:  # the text carries its own offset
            value = _from_text(value)
    return value if value.tzinfo is dt.UTC else as_utc(value)


def day(value: Any) -> dt.date:
    """A stored date (text on SQLite) as a date."""
    return dt.date.fromisoformat(value) if type(value) is str else value


def columns(rows: Sequence[Any], *names: str) -> Callable[[Any], Any]:
    """A function that reads the columns ``names`` of one of ``rows`` (a tuple of them, or the
    value for one name), located by name once per query rather than once per value: a batch
    reads tens of thousands of rows."""
    fields: Sequence[str] = rows[0]._fields if rows else names
    return itemgetter(*(fields.index(name) for name in names))


def _read(session: Session, query: Any) -> Sequence[Any]:
    # Read past the ORM, so the session's pending changes are flushed first, as an ORM
    # query would (the workflow's gate reads inside the transaction that changes them).
    session.flush()
    return session.connection().execute(query).all()  # one fetchall, not a fetch per row


def version_rows(*, session: Session, version_ids: Wanted) -> Sequence[Any]:
    """``id, model_id, name, version, state, risk_tier, card`` (text), ``artifact_format,
    artifact_sha256, next_validation_due, created_at`` (raw), ``created_by``; by model name,
    then registration order."""
    mv = ModelVersion
    query = select(
        col(mv.id).label("id"),
        col(mv.model_id).label("model_id"),
        col(Model.name).label("name"),
        col(mv.version).label("version"),
        col(mv.state).label("state"),
        col(mv.risk_tier).label("risk_tier"),
        cast(col(mv.card), Text).label("card"),
        col(mv.artifact_format).label("artifact_format"),
        col(mv.artifact_sha256).label("artifact_sha256"),
        _raw(col(mv.next_validation_due)).label("next_validation_due"),
        _raw(col(mv.created_at)).label("created_at"),
        col(mv.created_by).label("created_by"),
    ).join(Model, col(Model.id) == col(mv.model_id))
    if version_ids is not None:
        query = query.where(col(mv.id).in_(version_ids))
    return _read(session, query.order_by(col(Model.name), col(mv.id)))


def deployed_rows(*, session: Session) -> Sequence[Any]:
    """``id, model_id, version`` of every deployed version, lowest id first.

    All of them, through the index on ``state`` (a catalogue deploys few versions): a filter
    on the model would have the database walk that model's versions, cards and all.
    """
    mv = ModelVersion
    return _read(
        session,
        select(
            col(mv.id).label("id"),
            col(mv.model_id).label("model_id"),
            col(mv.version).label("version"),
        )
        .where(col(mv.state) == "deployed")
        .order_by(col(mv.id)),
    )


def latest_evaluation_rows(*, session: Session, version_ids: Wanted) -> Sequence[Any]:
    """Each version's latest evaluation: ``id, version_id, created_at`` (raw),
    ``dataset_sha256, artifact_sha256, dataset_name, results`` (text)."""
    ev = Evaluation
    latest = latest_per_version(ev, version_ids)
    return _read(
        session,
        select(
            col(ev.id).label("id"),
            col(ev.version_id).label("version_id"),
            _raw(latest.c.created_at).label("created_at"),
            col(ev.dataset_sha256).label("dataset_sha256"),
            col(ev.artifact_sha256).label("artifact_sha256"),
            col(ev.dataset_name).label("dataset_name"),
            cast(col(ev.results), Text).label("results"),
        ).join(latest, latest.c.id == col(ev.id)),
    )


def latest_drift_rows(*, session: Session, version_ids: Wanted) -> Sequence[Any]:
    """Each version's latest drift run: ``id, version_id, created_at`` (raw),
    ``reference_sha256, current_sha256, results`` (text)."""
    dr = DriftRun
    latest = latest_per_version(dr, version_ids)
    return _read(
        session,
        select(
            col(dr.id).label("id"),
            col(dr.version_id).label("version_id"),
            _raw(col(dr.created_at)).label("created_at"),
            col(dr.reference_sha256).label("reference_sha256"),
            col(dr.current_sha256).label("current_sha256"),
            cast(col(dr.results), Text).label("results"),
        ).where(col(dr.id).in_(select(latest.c.id))),
    )


def decision_rows(*, session: Session, version_ids: Wanted) -> Sequence[Any]:
    """``version_id, action, actor, role, created_at`` (raw) of the versions' decisions, by
    version, each version's in the order recorded (as :func:`queries.decisions_of`)."""
    query = select(
        col(Decision.version_id).label("version_id"),
        col(Decision.action).label("action"),
        col(Decision.actor).label("actor"),
        col(Decision.role).label("role"),
        _raw(col(Decision.created_at)).label("created_at"),
    )
    if version_ids is not None:
        query = query.where(col(Decision.version_id).in_(version_ids))
    return _read(
        session,
        query.order_by(col(Decision.version_id), col(Decision.id)),
    )


def waiver_rows(*, session: Session, version_ids: Wanted) -> Sequence[Any]:
    """``version_id, rule_id, reason, granted_by, granted_role, expires_on`` (raw), ``id`` of
    the versions' waivers, by id (as :func:`queries.waivers_of`)."""
    query = select(
        col(Waiver.version_id).label("version_id"),
        col(Waiver.rule_id).label("rule_id"),
        col(Waiver.reason).label("reason"),
        col(Waiver.granted_by).label("granted_by"),
        col(Waiver.granted_role).label("granted_role"),
        _raw(col(Waiver.expires_on)).label("expires_on"),
        col(Waiver.id).label("id"),
    )
    if version_ids is not None:
        query = query.where(col(Waiver.version_id).in_(version_ids))
    return _read(session, query.order_by(col(Waiver.id)))


def monitoring_rows(*, session: Session, version_ids: Wanted) -> Sequence[Any]:
    """Every monitored day: ``version_id, day`` (raw), ``features, counts`` (text); by version
    and day."""
    md = MonitoringDay
    query = select(
        col(md.version_id).label("version_id"),
        _raw(col(md.day)).label("day"),
        cast(col(md.features), Text).label("features"),
        cast(col(md.counts), Text).label("counts"),
    )
    if version_ids is not None:
        query = query.where(col(md.version_id).in_(version_ids))
    return _read(session, query.order_by(col(md.version_id), col(md.day)))


def latest_log_rows(*, session: Session, version_ids: Wanted) -> Sequence[Any]:
    """``version_id, last_at`` (raw): the latest prediction counted for each monitored version."""
    mf = MonitoringFile
    query = select(
        col(mf.version_id).label("version_id"),
        _raw(func.max(col(mf.last_at))).label("last_at"),
    ).where(col(mf.kind) == "predictions")
    if version_ids is not None:
        query = query.where(col(mf.version_id).in_(version_ids))
    return _read(session, query.group_by(col(mf.version_id)))


__all__ = [
    "columns",
    "day",
    "decision_rows",
    "deployed_rows",
    "instant",
    "latest_drift_rows",
    "latest_evaluation_rows",
    "latest_log_rows",
    "monitoring_rows",
    "version_rows",
    "waiver_rows",
]
