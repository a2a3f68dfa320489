"""Results of evaluating policies: one :class:`RuleOutcome` per rule and subject.

Statuses:

``pass``            the evidence meets the rule.
``fail``            the evidence breaks the rule.
``waived``          it failed (or errored), but an unexpired waiver covers it; still shown.
``not-applicable``  the rule does not concern this subject (selector, state, no champion).
``error``           the rule could not be decided: the evidence it needs is missing or broken.
``manual``          a requirement only a person can judge; listed, never counted as a pass.

A rule *blocks* (``govern check`` exits 1, approval and deployment are refused) when its
severity is ``error`` and its status is ``fail`` or ``error``.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from govern.errors import EXIT_FINDING, EXIT_OK

if TYPE_CHECKING:
    from govern.policy.loader import LoadedPolicy

PASS = "pass"  # noqa: S105 - a status, not a password
FAIL = "fail"
WAIVED = "waived"
NOT_APPLICABLE = "not-applicable"
ERROR = "error"
MANUAL = "manual"
STATUSES = (PASS, FAIL, WAIVED, NOT_APPLICABLE, ERROR, MANUAL)
#: Statuses that mean "this rule is not met".
UNMET = frozenset({FAIL, ERROR})


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a rule function returns; the engine adds identity, waivers and location."""

    status: str
    message: str
    evidence: Mapping[str, Any] = field(default_factory=dict)


class RuleOutcome(NamedTuple):
    """One rule evaluated against one subject, with its evidence. Immutable.

    A named tuple rather than a frozen dataclass: a batch check builds one per rule and
    version (200,000 for 20 rules over 10,000 versions), and a frozen dataclass's
    ``__init__`` sets each of its 14 fields through ``object.__setattr__``, which measured
    four times slower than building the tuple.
    """

    subject: str
    policy_id: str
    rule_id: str
    kind: str
    title: str
    severity: str
    source: str
    status: str
    message: str
    evidence: Mapping[str, Any] = MappingProxyType({})
    description: str = ""
    policy_path: str = ""
    line: int = 0
    waiver: Mapping[str, Any] | None = None

    @property
    def qualified_id(self) -> str:
        return f"{self.policy_id}/{self.rule_id}"

    @property
    def blocking(self) -> bool:
        return self.severity == "error" and self.status in UNMET

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "policy": self.policy_id,
            "rule": self.rule_id,
            "id": self.qualified_id,
            "kind": self.kind,
            "title": self.title,
            "severity": self.severity,
            "source": self.source,
            "status": self.status,
            "blocking": self.blocking,
            "message": self.message,
            "evidence": dict(self.evidence),
            "waiver": dict(self.waiver) if self.waiver else None,
            "location": {"path": self.policy_path, "line": self.line} if self.policy_path else None,
        }


@dataclass(frozen=True, slots=True)
class SubjectResult:
    """Every outcome for one subject."""

    subject: str
    outcomes: tuple[RuleOutcome, ...]

    @property
    def blocking(self) -> list[RuleOutcome]:
        return [o for o in self.outcomes if o.blocking]

    @property
    def outcome(self) -> str:
        """``fail`` if a rule blocks, ``warn`` if any other rule is unmet, else ``pass``."""
        if self.blocking:
            return "fail"
        if any(o.status in UNMET for o in self.outcomes):
            return "warn"
        return "pass"

    def counts(self) -> dict[str, int]:
        counted = Counter(o.status for o in self.outcomes)
        return {status: counted.get(status, 0) for status in STATUSES}

    def summary(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "outcome": self.outcome,
            "counts": self.counts(),
            "blocking": [o.qualified_id for o in self.blocking],
            "waived": [o.qualified_id for o in self.outcomes if o.status == WAIVED],
        }


@dataclass(frozen=True, slots=True)
class CheckReport:
    """A whole ``govern check``: the policies used and every subject's outcomes."""

    policies: tuple[LoadedPolicy, ...]
    subjects: tuple[SubjectResult, ...]
    checked_at: dt.datetime
    run_ids: Mapping[str, int] = field(default_factory=dict)

    @property
    def outcomes(self) -> list[RuleOutcome]:
        return [o for s in self.subjects for o in s.outcomes]

    @property
    def blocking(self) -> list[RuleOutcome]:
        return [o for o in self.outcomes if o.blocking]

    @property
    def outcome(self) -> str:
        outcomes = [s.outcome for s in self.subjects]
        for worst in ("fail", "warn"):
            if worst in outcomes:
                return worst
        return "pass"

    @property
    def exit_code(self) -> int:
        return EXIT_FINDING if self.blocking else EXIT_OK

    def counts(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for subject in self.subjects:
            total.update(subject.counts())
        return {status: total.get(status, 0) for status in STATUSES}

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "checked_at": self.checked_at.isoformat(),
            "counts": self.counts(),
            "policies": [p.describe() for p in self.policies],
            "subjects": [
                {
                    **s.summary(),
                    "policy_run_id": self.run_ids.get(s.subject),
                    "results": [o.to_json() for o in s.outcomes],
                }
                for s in self.subjects
            ],
        }


def summarise(outcomes: Sequence[RuleOutcome]) -> str:
    """One line such as ``2 failed (1 blocking), 1 waived, 9 passed, 3 manual``."""
    counted = Counter(o.status for o in outcomes)
    blocking = sum(1 for o in outcomes if o.blocking)
    unmet = []
    if counted[FAIL]:
        unmet.append(f"{counted[FAIL]} failed")
    if counted[ERROR]:
        unmet.append(f"{counted[ERROR]} could not be decided")
    parts = [", ".join(unmet) + (f" ({blocking} blocking)" if blocking else "")] if unmet else []
    if counted[WAIVED]:
        parts.append(f"{counted[WAIVED]} waived")
    parts.append(f"{counted[PASS]} passed")
    if counted[NOT_APPLICABLE]:
        parts.append(f"{counted[NOT_APPLICABLE]} not applicable")
    if counted[MANUAL]:
        parts.append(f"{counted[MANUAL]} for manual review")
    return ", ".join(parts)


__all__ = [
    "ERROR",
    "FAIL",
    "MANUAL",
    "NOT_APPLICABLE",
    "PASS",
    "STATUSES",
    "UNMET",
    "WAIVED",
    "CheckReport",
    "RuleOutcome",
    "SubjectResult",
    "Verdict",
    "summarise",
]
