"""What every rule kind's module shares: :class:`Findings` and the phrases rules reuse.

A kind's ``judge(rule, subject, now) -> Findings`` decides; its ``describe(rule, subject,
findings) -> str`` words the outcome's message from those findings when it is read (the
findings' ``facts`` are the outcome's evidence). Describing never decides again, so the
status shown beside a message is always the one it was worded from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any, NamedTuple

from govern.policy.base import IfMissing
from govern.policy.evidence import ResultsView, results_view
from govern.policy.snapshot import EvaluationEvidence, SubjectSnapshot
from govern.policy.status import ERROR, FAIL, NOT_APPLICABLE

_NONE: Mapping[str, Any] = MappingProxyType({})

#: The status a rule with ``if_missing`` gives when the evidence it needs is absent.
IF_MISSING: dict[str, str] = {"error": ERROR, "fail": FAIL, "not-applicable": NOT_APPLICABLE}

#: Violations named in a message; the evidence holds all of them.
SHOWN = 3


class Findings(NamedTuple):
    """What a rule found: the status follows from it, the message is worded from it.

    ``facts`` is JSON-ready and becomes the outcome's evidence; ``note`` names which of the
    kind's messages applies when the status alone does not say (``"no-evaluation"``...).
    A named tuple: a batch check makes one per rule and version.
    """

    status: str
    facts: Mapping[str, Any] = _NONE
    note: str = ""


class Deferred(Mapping[str, Any]):
    """Facts gathered when first read, for a rule whose status does not depend on them.

    A batch check that needs only statuses then never gathers them; reading them (the
    outcome's evidence, its message) gathers them once, from the same evidence.
    """

    __slots__ = ("_facts", "_gather")

    def __init__(self, gather: Callable[[], Mapping[str, Any]]) -> None:
        self._gather: Callable[[], Mapping[str, Any]] | None = gather
        self._facts: Mapping[str, Any] | None = None

    def _read(self) -> Mapping[str, Any]:
        if self._facts is None:
            assert self._gather is not None
            self._facts, self._gather = self._gather(), None
        return self._facts

    def __getitem__(self, key: str) -> Any:
        return self._read()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._read())

    def __len__(self) -> int:
        return len(self._read())

    def __repr__(self) -> str:
        return repr(dict(self._read()))


def missing(if_missing: IfMissing, note: str, **facts: Any) -> Findings:
    """The findings of a rule whose evidence is absent, as its ``if_missing`` says."""
    return Findings(IF_MISSING[if_missing], facts, note)


def no_evaluation(subject: SubjectSnapshot) -> str:
    if subject.stateless:
        return "no evaluation results were given"
    return f"{subject.subject} has no evaluation on record; run `govern evaluate` first"


def view_of(evaluation: EvaluationEvidence) -> ResultsView:
    """The checked view of an evaluation's results, made once per evaluation.

    Raises:
        NotInShape: the results are not in govern's shape (the engine's one ``error``).
    """
    found = evaluation.cache.get("view")  # every rule reading results asks: the view first
    if type(found) is ResultsView:
        return found
    return results_view(evaluation.results, evaluation.cache)


def map_hint(absent: Sequence[str], named: Sequence[str] | None) -> str:
    """What to do about categories a rule names that the evaluation has under another name:
    map them onto its columns (:mod:`govern.policy.categories`)."""
    if named is None or not absent:
        return ""
    them = "it" if len(absent) == 1 else "them"
    return (
        f"; if the data calls {them} otherwise, map {them} with --category "
        f"{absent[0]}=COLUMN or `categories:` in the policy binding"
    )


def listing(items: Sequence[str], total: int | None = None) -> str:
    """The first :data:`SHOWN` items, and how many more there are."""
    total = len(items) if total is None else total
    shown = "; ".join(items[:SHOWN])
    return shown + (f"; and {total - SHOWN} more" if total > SHOWN else "")


__all__ = [
    "IF_MISSING",
    "SHOWN",
    "Deferred",
    "Findings",
    "listing",
    "map_hint",
    "missing",
    "no_evaluation",
    "view_of",
]
