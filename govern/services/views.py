"""What services return: plain, JSON-ready pydantic models detached from any session."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict


class View(BaseModel):
    """Base of every service result: frozen, built from rows, ``to_json()`` for --json."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class UserPublic(View):
    name: str
    role: str
    display_name: str
    active: bool
    kind: str = "person"
    created_at: dt.datetime
    created_by: str


class ArtifactPublic(View):
    path: str | None
    sha256: str | None
    size: int | None
    format: str | None


class VersionSummary(View):
    """One row of the catalogue (``govern list``, the TUI's catalogue screen)."""

    name: str
    version: str
    state: str
    risk_tier: str
    owner: str
    business_unit: str
    created_at: dt.datetime
    created_by: str
    next_validation_due: dt.date | None
    last_evaluated_at: dt.datetime | None = None
    policy_outcome: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


class DecisionPublic(View):
    action: str
    from_state: str
    to_state: str
    actor: str
    role: str
    comment: str
    created_at: dt.datetime


class VersionDetail(View):
    """Everything ``govern show`` prints about one version."""

    name: str
    version: str
    state: str
    risk_tier: str
    owner: str
    business_owner: str
    business_unit: str
    description: str
    created_at: dt.datetime
    created_by: str
    updated_at: dt.datetime
    next_validation_due: dt.date | None
    card: dict[str, Any]
    card_sha256: str
    artifact: ArtifactPublic
    other_versions: list[str]
    evaluations: list[dict[str, Any]] = []
    policy_runs: list[dict[str, Any]] = []
    decisions: list[DecisionPublic] = []
    reports: list[dict[str, Any]] = []

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


class InitResult(View):
    database: str
    created: bool
    revision_before: str | None
    revision_after: str | None
    catalogue_id: str
    admin: str | None


class AuditEventPublic(View):
    seq: int
    ts: str
    actor: str
    action: str
    subject: str
    payload: dict[str, Any]
    hash: str
    #: Signed by the actor's key (events from before schema 0005 and refusals are not).
    signed: bool = False
    key: str | None = None


class AuditVerdict(View):
    ok: bool
    #: Events read: the whole log, or those after the checkpoint with ``--since-checkpoint``.
    events: int
    head_seq: int
    head_hash: str
    problems: list[str]
    checkpoint: dict[str, Any] | None = None
    #: Sequence number of the first event that breaks the chain (edited, missing, reordered).
    first_bad_event: int | None = None
    #: Events whose signature verified against the key enrolled to their actor at the time.
    signed_events: int = 0
    #: Events from before signing (schema 0005): verified by their hashes only.
    unsigned_legacy: int = 0
    #: Records of refused attempts, which change nothing and are not signed.
    unsigned_refusals: int = 0
    #: Rows of the tables that differ from the log, each naming its table, row and field.
    findings: list[dict[str, Any]] = []
    #: With a checkpoint: the events it covers and how many came after it.
    covered: dict[str, Any] | None = None
    #: "full", or "since checkpoint" (only the events after a trusted checkpoint).
    scope: str = "full"
    #: The newest checkpoint the log records having written: the event it covers, who signed
    #: it, where it was written, and how many events came after it.
    latest_checkpoint: dict[str, Any] | None = None


class KeyInfo(View):
    key_dir: str
    subject: str
    issuer: str
    algorithm: str
    fingerprint_sha256: str
    not_before: str
    not_after: str
    self_signed: bool
    encrypted: bool
