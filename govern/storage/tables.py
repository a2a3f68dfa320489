"""Catalogue tables (SQLModel). Schema changes only through migrations in ``migrations/``.

Naming follows the SQLModel grammar: ``XBase`` holds the shared fields, ``X(XBase,
table=True)`` is the table. Every timestamp is timezone-aware UTC; JSON columns hold
documents whose shape belongs to the layer that writes them (``assess``, ``policy``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Index, Text, UniqueConstraint
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

UTC = dt.UTC


def utcnow() -> dt.datetime:
    return dt.datetime.now(UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes on every backend (SQLite stores them naive, as UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the catalogue; use UTC-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        return None if value is None else as_utc(value)


def as_utc(value: dt.datetime) -> dt.datetime:
    """A datetime read from the catalogue as an aware UTC one (naive ones are UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _created_at() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Meta(SQLModel, table=True):
    """Key/value facts about the catalogue itself (its id, when it was created)."""

    __tablename__ = "govern_meta"

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(sa_type=Text)


class UserBase(SQLModel):
    name: str = Field(primary_key=True, max_length=100)
    role: str = Field(max_length=32)
    display_name: str = Field(default="", max_length=200)
    active: bool = True
    #: ``person``, or ``service`` for a CI pipeline's account (it can never judge a model).
    kind: str = Field(
        default="person", max_length=16, sa_column_kwargs={"server_default": "person"}
    )


class User(UserBase, table=True):
    __tablename__ = "govern_user"

    #: ``govern.domain.people.name_key`` of the name: unique, so ``Alice`` is ``alice``.
    name_key: str = Field(max_length=400, unique=True)
    created_at: dt.datetime = _created_at()
    created_by: str = Field(max_length=100)


class UserKey(SQLModel, table=True):
    """A person's enrolled public key; events they sign verify against it."""

    __tablename__ = "user_key"

    id: int | None = Field(default=None, primary_key=True)
    user_name: str = Field(foreign_key="govern_user.name", max_length=100, index=True)
    fingerprint: str = Field(max_length=80, unique=True)
    algorithm: str = Field(max_length=32)
    public_key: str = Field(sa_type=Text)
    label: str = Field(default="", max_length=200)
    status: str = Field(default="active", max_length=16)
    enrolled_at: dt.datetime = _created_at()
    enrolled_by: str = Field(max_length=100)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    revoked_by: str | None = Field(default=None, max_length=100)
    revoked_reason: str | None = Field(default=None, sa_type=Text)


class OrgCertificate(SQLModel, table=True):
    """A certificate of the organisation's card-signing key, kept after rotation."""

    __tablename__ = "org_certificate"

    fingerprint: str = Field(primary_key=True, max_length=64)
    certificate: str = Field(sa_type=Text)
    subject: str = Field(sa_type=Text)
    algorithm: str = Field(max_length=32)
    #: ``active`` (signs new cards), ``retired`` (rotated out; its cards still verify) or
    #: ``revoked`` (its cards no longer verify).
    status: str = Field(default="active", max_length=16)
    added_at: dt.datetime = _created_at()
    added_by: str = Field(max_length=100)
    changed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    reason: str | None = Field(default=None, sa_type=Text)


class SettingsRevision(SQLModel, table=True):
    """One revision of the governance settings (append-only, like the audit log)."""

    __tablename__ = "governance_settings"

    revision: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    #: Canonical JSON of the whole document: the exact text that was hashed and audited.
    document: str = Field(sa_type=Text)
    sha256: str = Field(max_length=64)
    created_at: dt.datetime = _created_at()
    created_by: str = Field(max_length=100)


class ModelBase(SQLModel):
    name: str = Field(max_length=64, unique=True, index=True)
    owner: str = Field(max_length=500)
    business_owner: str = Field(default="", max_length=500)
    business_unit: str = Field(default="", max_length=500)
    description: str = Field(default="", sa_type=Text)


class Model(ModelBase, table=True):
    __tablename__ = "model"

    id: int | None = Field(default=None, primary_key=True)
    created_at: dt.datetime = _created_at()
    created_by: str = Field(max_length=100)


class ModelVersionBase(SQLModel):
    version: str = Field(max_length=128)
    state: str = Field(default="draft", max_length=32, index=True)
    risk_tier: str = Field(max_length=16)
    card: dict[str, Any] = Field(sa_type=JSON)
    card_sha256: str = Field(max_length=64)
    artifact_sha256: str | None = Field(default=None, max_length=64)
    artifact_size: int | None = None
    artifact_format: str | None = Field(default=None, max_length=32)
    artifact_path: str | None = Field(default=None, sa_type=Text)
    next_validation_due: dt.date | None = None


class ModelVersion(ModelVersionBase, table=True):
    __tablename__ = "model_version"
    __table_args__ = (UniqueConstraint("model_id", "version", name="uq_model_version"),)

    id: int | None = Field(default=None, primary_key=True)
    model_id: int = Field(foreign_key="model.id", index=True)
    created_at: dt.datetime = _created_at()
    created_by: str = Field(max_length=100)
    updated_at: dt.datetime = _created_at()


class Evaluation(SQLModel, table=True):
    """One evaluation of a version on one data set; ``results`` holds the full document."""

    __tablename__ = "evaluation"
    __table_args__ = (Index("ix_evaluation_latest", "version_id", "created_at", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    version_id: int = Field(foreign_key="model_version.id", index=True)
    dataset_name: str = Field(sa_type=Text)
    dataset_sha256: str = Field(max_length=64)
    rows: int
    columns: list[str] = Field(sa_type=JSON)
    target: str = Field(max_length=500)
    positive_label: str | None = Field(default=None, max_length=500)
    sensitive_features: list[str] = Field(sa_type=JSON)
    prediction_source: str = Field(max_length=32)
    artifact_sha256: str | None = Field(default=None, max_length=64)
    packages: dict[str, Any] = Field(sa_type=JSON)
    seed: int = 0
    params: dict[str, Any] = Field(sa_type=JSON)
    results: dict[str, Any] = Field(sa_type=JSON)
    created_at: dt.datetime = _created_at()
    created_by: str = Field(max_length=100)


class MetricResult(SQLModel, table=True):
    """A single figure of an evaluation, overall (no feature) or for one group."""

    __tablename__ = "metric_result"

    id: int | None = Field(default=None, primary_key=True)
    evaluation_id: int = Field(foreign_key="evaluation.id", index=True)
    name: str = Field(max_length=100)
    value: float | None = None
    lower: float | None = None
    upper: float | None = None
    feature: str | None = Field(default=None, max_length=500)
    group: str | None = Field(default=None, sa_type=Text)


class GroupResult(SQLModel, table=True):
    __tablename__ = "group_result"

    id: int | None = Field(default=None, primary_key=True)
    evaluation_id: int = Field(foreign_key="evaluation.id", index=True)
    feature: str = Field(max_length=500)
    group: str = Field(sa_type=Text)
    n: int
    metrics: dict[str, Any] = Field(sa_type=JSON)
    flags: list[str] = Field(sa_type=JSON)


class Explanation(SQLModel, table=True):
    """Global importances (``row_id`` empty) or one decision's explanation."""

    __tablename__ = "explanation"
    __table_args__ = (Index("ix_explanation_eval_row", "evaluation_id", "row_id"),)

    id: int | None = Field(default=None, primary_key=True)
    evaluation_id: int = Field(foreign_key="evaluation.id", index=True)
    kind: str = Field(max_length=16)
    row_id: str | None = Field(default=None, max_length=200)
    model_sha256: str | None = Field(default=None, max_length=64)
    payload: dict[str, Any] = Field(sa_type=JSON)
    created_at: dt.datetime = _created_at()


class DriftRun(SQLModel, table=True):
    __tablename__ = "drift_run"
    __table_args__ = (Index("ix_drift_run_latest", "version_id", "created_at", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    version_id: int = Field(foreign_key="model_version.id", index=True)
    reference_name: str = Field(sa_type=Text)
    reference_sha256: str = Field(max_length=64)
    current_name: str = Field(sa_type=Text)
    current_sha256: str = Field(max_length=64)
    results: dict[str, Any] = Field(sa_type=JSON)
    created_at: dt.datetime = _created_at()
    created_by: str = Field(max_length=100)


class MonitoringDay(SQLModel, table=True):
    """One UTC day of a version's prediction logs, as sufficient statistics (never rows):
    counts per group, decision and outcome, and a score histogram
    (:meth:`govern.monitor.aggregate.DayCounts.to_json`). Later runs add to it."""

    __tablename__ = "monitoring_day"
    __table_args__ = (UniqueConstraint("version_id", "day"),)

    id: int | None = Field(default=None, primary_key=True)
    version_id: int = Field(foreign_key="model_version.id", index=True)
    day: dt.date
    features: list[str] = Field(sa_type=JSON)
    counts: dict[str, Any] = Field(sa_type=JSON)
    rows: int = Field(sa_type=BigInteger)
    updated_at: dt.datetime = _created_at()
    updated_by: str = Field(max_length=100)


class MonitoringFile(SQLModel, table=True):
    """A log file counted into a version's record, by hash: never counted twice. ``kind`` is
    ``predictions`` (counted into days) or ``outcomes`` (late outcomes joined on request ids);
    ``columns`` is what the file's columns meant, so later outcomes can be joined to it."""

    __tablename__ = "monitoring_file"
    __table_args__ = (UniqueConstraint("version_id", "sha256"),)

    id: int | None = Field(default=None, primary_key=True)
    version_id: int = Field(foreign_key="model_version.id", index=True)
    kind: str = Field(max_length=16)
    path: str = Field(sa_type=Text)
    sha256: str = Field(max_length=64)
    columns: dict[str, Any] = Field(sa_type=JSON)
    size: int = Field(sa_type=BigInteger)
    rows: int = Field(sa_type=BigInteger)
    first_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: dt.datetime = _created_at()
    created_by: str = Field(max_length=100)


class PolicyRun(SQLModel, table=True):
    __tablename__ = "policy_run"

    id: int | None = Field(default=None, primary_key=True)
    version_id: int | None = Field(default=None, foreign_key="model_version.id", index=True)
    policies: list[dict[str, Any]] = Field(sa_type=JSON)
    outcome: str = Field(max_length=16)
    summary: dict[str, Any] = Field(sa_type=JSON)
    created_at: dt.datetime = _created_at()
    created_by: str = Field(max_length=100)


class RuleResult(SQLModel, table=True):
    __tablename__ = "rule_result"

    id: int | None = Field(default=None, primary_key=True)
    policy_run_id: int = Field(foreign_key="policy_run.id", index=True)
    policy_id: str = Field(max_length=200)
    rule_id: str = Field(max_length=200)
    subject: str = Field(default="", sa_type=Text)
    status: str = Field(max_length=16)
    severity: str = Field(max_length=16)
    title: str = Field(default="", sa_type=Text)
    message: str = Field(default="", sa_type=Text)
    source: str = Field(default="", sa_type=Text)
    evidence: dict[str, Any] = Field(sa_type=JSON)


class Waiver(SQLModel, table=True):
    __tablename__ = "waiver"

    id: int | None = Field(default=None, primary_key=True)
    version_id: int = Field(foreign_key="model_version.id", index=True)
    rule_id: str = Field(max_length=200)
    reason: str = Field(sa_type=Text)
    granted_by: str = Field(max_length=100)
    granted_role: str = Field(max_length=32)
    expires_on: dt.date
    created_at: dt.datetime = _created_at()


class Decision(SQLModel, table=True):
    __tablename__ = "decision"
    __table_args__ = (Index("ix_decision_history", "version_id", "created_at", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    version_id: int = Field(foreign_key="model_version.id", index=True)
    action: str = Field(max_length=32)
    from_state: str = Field(max_length=32)
    to_state: str = Field(max_length=32)
    actor: str = Field(max_length=100)
    role: str = Field(max_length=32)
    comment: str = Field(default="", sa_type=Text)
    created_at: dt.datetime = _created_at()
    #: The governance settings revision the decision was taken under.
    settings_revision: int | None = None


class Report(SQLModel, table=True):
    __tablename__ = "report"

    id: int | None = Field(default=None, primary_key=True)
    version_id: int = Field(foreign_key="model_version.id", index=True)
    format: str = Field(max_length=16)
    sha256: str = Field(max_length=64)
    card_sha256: str = Field(max_length=64)
    signer: str | None = Field(default=None, sa_type=Text)
    path: str = Field(sa_type=Text)
    created_at: dt.datetime = _created_at()
    created_by: str = Field(max_length=100)


class AuditEvent(SQLModel, table=True):
    """Append-only, hash-chained record of every change (docs/architecture.md §8).

    ``ts`` and ``payload`` are stored as the exact text that was hashed, so verification
    does not depend on how a backend round-trips timestamps or JSON.
    """

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_actor_seq", "actor", "seq"),
        Index("ix_audit_event_subject_seq", "subject", "seq"),
        Index("ix_audit_event_action_seq", "action", "seq"),
    )

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    ts: str = Field(max_length=40)
    actor: str = Field(max_length=100)
    action: str = Field(max_length=64)
    subject: str = Field(default="", max_length=300)
    payload: str = Field(sa_type=Text)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
    #: 1: hash-chained only (before schema 0005); 2: signed (``docs/audit-log-format.md``).
    format: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    key_fingerprint: str | None = Field(default=None, max_length=80)
    settings_revision: int | None = None
    signature: str | None = Field(default=None, sa_type=Text)


__all__ = [
    "AuditEvent",
    "Decision",
    "DriftRun",
    "Evaluation",
    "Explanation",
    "GroupResult",
    "Meta",
    "MetricResult",
    "Model",
    "ModelVersion",
    "MonitoringDay",
    "MonitoringFile",
    "OrgCertificate",
    "PolicyRun",
    "Report",
    "RuleResult",
    "SettingsRevision",
    "User",
    "UserKey",
    "Waiver",
    "as_utc",
    "utcnow",
]
