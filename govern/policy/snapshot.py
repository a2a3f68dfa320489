"""What the policy engine sees of a subject: plain data, no database.

Nothing changes a snapshot once it is built: the engine and the rules only read it (the
``cache`` fields hold views parsed from it). The classes are not ``frozen`` dataclasses
because a frozen dataclass sets each field through ``object.__setattr__``, which makes
building one several times slower, and a batch load builds several per version.

The service layer builds a :class:`SubjectSnapshot` from the catalogue (or, for a stateless
check, from a card and a data file); the engine evaluates rules against it. Keeping the
engine pure lets it be tested without a catalogue and lets a batch check load every
version's evidence in a handful of queries (``services.subjects.snapshots_for``) before
evaluating; benchmarks/bench_policy.py measures what 10,000 versions cost.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class EvaluationEvidence:
    """The latest evaluation: its stored results document and where it came from."""

    results: Mapping[str, Any]
    created_at: dt.datetime
    dataset_sha256: str
    artifact_sha256: str | None = None
    id: int | None = None
    dataset_name: str = ""
    #: Parsed views of ``results``, shared by every check that holds this evidence (a
    #: deployed champion's evaluation is compared with each challenger of its model).
    cache: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(slots=True)
class DriftEvidence:
    """The latest drift run (results: per-feature PSI, test p-values, bands)."""

    results: Mapping[str, Any]
    created_at: dt.datetime
    reference_sha256: str = ""
    current_sha256: str = ""
    id: int | None = None


@dataclass(slots=True)
class DecisionRecord:
    """One workflow decision: submit, approve, reject, request_changes, deploy, retire."""

    action: str
    actor: str
    role: str
    created_at: dt.datetime


@dataclass(slots=True)
class WaiverRecord:
    """A waiver of one rule for this version, active through ``expires_on`` inclusive."""

    rule_id: str
    reason: str
    granted_by: str
    granted_role: str
    expires_on: dt.date
    id: int | None = None

    def covers(self, policy_id: str, rule_id: str) -> bool:
        """A waiver names ``policy/rule`` or a bare ``rule`` id (then any policy's rule)."""
        return self.rule_id in {rule_id, f"{policy_id}/{rule_id}"}

    def active_on(self, day: dt.date) -> bool:
        return day <= self.expires_on


@dataclass(slots=True)
class ChampionEvidence:
    """The deployed version of the same model and its latest evaluation."""

    ref: str
    evaluation: EvaluationEvidence | None


@dataclass(slots=True)
class WindowFigures:
    """One window of a version's production monitoring, as rules read it."""

    start: dt.date
    end: dt.date
    rows: int
    outcomes_known: int
    #: PSI of the window's score histogram against the record's first window with scores.
    score_psi: float | None
    #: grouping -> group label -> metric (selection_rate, impact_ratio, tpr, fpr) -> value;
    #: groups under the minimum size are left out, as the fairness rules leave them out.
    groups: Mapping[str, Mapping[str, Mapping[str, float | None]]]
    #: grouping -> its features (one for a single feature, more for an intersection).
    features: Mapping[str, tuple[str, ...]]
    #: A shadow's window against its champion on the same requests: grouping -> group ->
    #: agreement, selection_rate_delta, impact_ratio_delta (shadow minus champion), for
    #: groups that are not small; empty when the logs carried no champion decision.
    shadow: Mapping[str, Mapping[str, Mapping[str, float | None]]] = field(default_factory=dict)
    #: Drift feature -> PSI of its histogram against the record's first window with it.
    feature_psi: Mapping[str, float | None] = field(default_factory=dict)


@dataclass(slots=True)
class MonitoringEvidence:
    """A version's production-monitoring record (``govern monitor run``)."""

    features: tuple[str, ...]
    #: The latest prediction timestamp counted.
    last_log_at: dt.datetime | None
    #: Window width (``1d``, ``1w``, ``1mo``) -> its windows, oldest first; computed by the
    #: service that loaded the record, when a rule first asks.
    windows: Callable[[str], Sequence[WindowFigures]]


@dataclass(slots=True)
class SubjectSnapshot:
    """Everything a rule may look at, for one model version or one stateless subject."""

    subject: str
    card: Mapping[str, Any]
    name: str = ""
    version: str = ""
    state: str | None = None
    risk_tier: str | None = None
    tags: tuple[str, ...] = ()
    regulatory_scope: tuple[str, ...] = ()
    artifact_format: str | None = None
    artifact_sha256: str | None = None
    next_validation_due: dt.date | None = None
    created_at: dt.datetime | None = None
    created_by: str | None = None
    submitter: str | None = None
    evaluation: EvaluationEvidence | None = None
    drift: DriftEvidence | None = None
    decisions: tuple[DecisionRecord, ...] = ()
    waivers: tuple[WaiverRecord, ...] = ()
    champion: ChampionEvidence | None = None
    monitoring: MonitoringEvidence | None = None
    #: True for ``govern check --card --data``: no catalogue, so no decisions or champion.
    stateless: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: Parsed views of the evidence, shared by the rules of one check (not part of identity).
    cache: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_card(cls, subject: str, card: Mapping[str, Any], **values: Any) -> SubjectSnapshot:
        """A snapshot whose name, version, tier, tags, scope and due date come from a card."""
        details = card.get("model_details") or {}
        governance = card.get("governance") or {}
        due = governance.get("next_validation_due")
        if isinstance(due, str):
            due = dt.date.fromisoformat(due)
        base: dict[str, Any] = {
            "name": str(details.get("name", "")),
            "version": str(details.get("version", "")),
            "risk_tier": governance.get("risk_tier"),
            "tags": tuple(governance.get("tags") or ()),
            "regulatory_scope": tuple(governance.get("regulatory_scope") or ()),
            "next_validation_due": due,
        }
        base.update(values)
        return cls(subject=subject, card=card, **base)


__all__ = [
    "ChampionEvidence",
    "DecisionRecord",
    "DriftEvidence",
    "EvaluationEvidence",
    "MonitoringEvidence",
    "SubjectSnapshot",
    "WaiverRecord",
    "WindowFigures",
]
