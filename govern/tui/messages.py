"""What workers tell screens: small past-tense messages carrying service results.

Workers run service calls on threads and post one of these when done; the screen's handler
updates widgets on the event loop. Failures travel as :class:`WorkFailed` and end in a
modal or a notification, never a crash.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from govern.domain.comparison import Comparison
    from govern.policy.outcomes import CheckReport
    from govern.report.view import LocalExplanation, MonitoringView, ReportView
    from govern.services.governance import SettingsRevisionPublic
    from govern.services.reports import PdfVerdict, ReportResult
    from govern.services.views import (
        AuditEventPublic,
        AuditVerdict,
        VersionDetail,
        VersionSummary,
    )
    from govern.services.waivers import WaiverPublic
    from govern.services.workflow import DueItem, HistoryEntry, QueueItem, TransitionResult


@dataclass
class CatalogueLoaded(Message):
    versions: list[VersionSummary]
    seconds: float


@dataclass
class VersionLoaded(Message):
    """A version, its decisions, and the report view of its evidence (or why there is none)."""

    detail: VersionDetail
    entries: list[HistoryEntry] = field(default_factory=list)
    view: ReportView | None = None
    problem: str | None = None


@dataclass
class MonitoringLoaded(Message):
    """A version's monitoring in windows of ``width`` (None: no log counted yet)."""

    ref: str
    width: str
    monitoring: MonitoringView | None


@dataclass
class QueueLoaded(Message):
    queue: list[QueueItem]
    due: list[DueItem]


@dataclass
class DecisionRecorded(Message):
    """A workflow action went through."""

    result: TransitionResult


@dataclass
class ActionRefused(Message):
    """A service refused an action (roles, separation of duties, lifecycle, gates)."""

    title: str
    message: str


@dataclass
class WorkFailed(Message):
    """A worker ended with an error the user should see."""

    title: str
    message: str
    modal: bool = True


@dataclass
class AuditPageLoaded(Message):
    events: list[AuditEventPublic]
    append: bool
    exhausted: bool
    generation: int = 0


@dataclass
class AuditCounted(Message):
    total: int


@dataclass
class ChainVerified(Message):
    verdict: AuditVerdict
    seconds: float


@dataclass
class ComparisonLoaded(Message):
    comparison: Comparison
    reasons: list[str]


@dataclass
class DecisionExplained(Message):
    explanation: LocalExplanation


@dataclass
class PolicyRunCompleted(Message):
    report: CheckReport


@dataclass
class WaiverGranted(Message):
    waiver: WaiverPublic


@dataclass
class ReportProgressed(Message):
    step: str
    done: int
    total: int


@dataclass
class ReportBuilt(Message):
    result: ReportResult
    seconds: float


@dataclass
class ReportVerified(Message):
    verdict: PdfVerdict


@dataclass
class KeyUnlocked(Message):
    """The personal key's passphrase was right: the session signs from now on."""


@dataclass
class UnlockFailed(Message):
    """The passphrase did not unlock the key (``message`` says why); the person may retry."""

    message: str


@dataclass
class SettingsLoaded(Message):
    """The governance settings in force and every revision, oldest first."""

    current: SettingsRevisionPublic
    history: list[SettingsRevisionPublic]
