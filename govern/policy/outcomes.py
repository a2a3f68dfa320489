"""Results of evaluating policies: one :class:`RuleOutcome` per rule and subject, each with a
status of :mod:`govern.policy.status`, collected per subject and per check."""

from __future__ import annotations

import datetime as dt
import gc
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from govern.errors import EXIT_FINDING, EXIT_OK
from govern.policy.status import (
    ERROR,
    FAIL,
    MANUAL,
    NOT_APPLICABLE,
    PASS,
    STATUSES,
    UNMET,
    WAIVED,
)

if TYPE_CHECKING:
    from govern.policy.loader import LoadedPolicy


class RuleOutcome(NamedTuple):
    """One rule evaluated against one subject, with its evidence. Immutable.

    A named tuple rather than a frozen dataclass: a batch check builds one per rule and
    version, and a frozen dataclass's ``__init__`` sets each of its 14 fields through
    ``object.__setattr__``, several times slower than building the tuple.
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


class SubjectResult:
    """Every outcome for one subject, in policy and rule order.

    A check decides every status first and words the outcomes (messages, evidence, waivers)
    only when they are read, from the same findings: counting, the overall outcome and the
    exit code need statuses alone. See :meth:`deferred`.
    """

    __slots__ = ("_build", "_outcomes", "_severities", "_statuses", "subject")

    def __init__(self, subject: str, outcomes: tuple[RuleOutcome, ...]) -> None:
        self.subject = subject
        self._outcomes: tuple[RuleOutcome, ...] | None = outcomes
        self._statuses = tuple(o.status for o in outcomes)
        self._severities = tuple(o.severity for o in outcomes)
        self._build: Callable[[], tuple[RuleOutcome, ...]] | None = None

    @classmethod
    def deferred(
        cls,
        subject: str,
        statuses: tuple[str, ...],
        severities: tuple[str, ...],
        build: Callable[[], tuple[RuleOutcome, ...]],
    ) -> SubjectResult:
        """A result whose statuses are known and whose outcomes ``build`` words when read,
        from the findings the statuses were decided from (so they cannot disagree)."""
        result = cls.__new__(cls)
        result.subject = subject
        result._outcomes = None
        result._statuses = statuses
        result._severities = severities
        result._build = build
        return result

    @property
    def outcomes(self) -> tuple[RuleOutcome, ...]:
        if self._outcomes is None:
            assert self._build is not None
            self._outcomes, self._build = self._build(), None
        return self._outcomes

    @property
    def statuses(self) -> tuple[str, ...]:
        return self._statuses

    @property
    def blocks(self) -> bool:
        """Whether any rule blocks (known without building the outcomes)."""
        return any(
            status in UNMET and severity == "error"
            for status, severity in zip(self._statuses, self._severities, strict=True)
        )

    @property
    def blocking(self) -> list[RuleOutcome]:
        return [o for o in self.outcomes if o.blocking] if self.blocks else []

    @property
    def outcome(self) -> str:
        """``fail`` if a rule blocks, ``warn`` if any other rule is unmet, else ``pass``."""
        if self.blocks:
            return "fail"
        if any(status in UNMET for status in self._statuses):
            return "warn"
        return "pass"

    def counts(self) -> dict[str, int]:
        counted = Counter(self._statuses)
        return {status: counted.get(status, 0) for status in STATUSES}

    def blocking_count(self) -> int:
        """How many outcomes block (known without building the outcomes)."""
        return sum(
            status in UNMET and severity == "error"
            for status, severity in zip(self._statuses, self._severities, strict=True)
        )

    def summarise(self) -> str:
        """:func:`summarise` of the outcomes, from the statuses alone."""
        return _summary_line(Counter(self._statuses), self.blocking_count())

    def summary(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "outcome": self.outcome,
            "counts": self.counts(),
            "blocking": [o.qualified_id for o in self.blocking],
            "waived": [o.qualified_id for o in self.outcomes if o.status == WAIVED],
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SubjectResult):
            return NotImplemented
        return self.subject == other.subject and self.outcomes == other.outcomes

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"SubjectResult(subject={self.subject!r}, counts={self.counts()!r})"


@dataclass(frozen=True, slots=True)
class CheckReport:
    """A whole ``govern check``: the policies used and every subject's outcomes."""

    policies: tuple[LoadedPolicy, ...]
    subjects: tuple[SubjectResult, ...]
    checked_at: dt.datetime
    run_ids: Mapping[str, int] = field(default_factory=dict)

    @property
    def outcomes(self) -> list[RuleOutcome]:
        with collector_paused():  # builds each subject's outcomes on first read
            return [o for s in self.subjects for o in s.outcomes]

    @property
    def blocking(self) -> list[RuleOutcome]:
        return [o for s in self.subjects for o in s.blocking]

    @property
    def outcome(self) -> str:
        outcomes = [s.outcome for s in self.subjects]
        for worst in ("fail", "warn"):
            if worst in outcomes:
                return worst
        return "pass"

    @property
    def exit_code(self) -> int:
        return EXIT_FINDING if any(s.blocks for s in self.subjects) else EXIT_OK

    def counts(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for subject in self.subjects:
            total.update(subject.statuses)
        return {status: total.get(status, 0) for status in STATUSES}

    def to_json(self) -> dict[str, Any]:
        with collector_paused():
            return self._to_json()

    def _to_json(self) -> dict[str, Any]:
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


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while documents are decoded or outcomes built.

    Checking thousands of stored versions allocates many small, acyclic objects (decoded
    JSON, evidence) while the documents already decoded keep the heap large, so each
    collection would walk every document again, for most of the run's time
    (``benchmarks/bench_policy.py`` prints decoding with and without it). Reference
    counting still frees what is dropped: none of it has cycles.

    Enabling the collector again would start with a collection of everything allocated
    meanwhile, a large share of a big check. Instead the new objects join the oldest
    generation directly (``freeze`` then ``unfreeze`` moves whole generation lists, without
    walking them): they stay tracked, and the next full collection examines them as it
    would have anyway. That is skipped when someone else keeps objects frozen, since
    ``unfreeze`` would release theirs too.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if gc.get_freeze_count() == 0:
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def summarise(outcomes: Sequence[RuleOutcome]) -> str:
    """One line such as ``2 failed (1 blocking), 1 waived, 9 passed, 3 manual``."""
    return _summary_line(Counter(o.status for o in outcomes), sum(o.blocking for o in outcomes))


def _summary_line(counted: Counter[str], blocking: int) -> str:
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
    "collector_paused",
    "summarise",
]
