"""The lifecycle of a model version as a pure state machine (docs/architecture.md §3).

``draft → submitted → approved → deployed → retired``; ``submitted → changes_requested →
submitted``; ``submitted → rejected`` (terminal); ``approved → shadow → deployed``. One
deployed version (the champion) per model: promoting a challenger supersedes the champion,
which becomes retired (``supersede``) or shadow (``demote``). Nothing here touches storage;
services apply the result.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    CHANGES_REQUESTED = "changes_requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    SHADOW = "shadow"
    DEPLOYED = "deployed"
    RETIRED = "retired"


class Action(StrEnum):
    SUBMIT = "submit"
    APPROVE = "approve"
    REJECT = "reject"
    REQUEST_CHANGES = "request_changes"
    SHADOW = "shadow"
    DEPLOY = "deploy"
    RETIRE = "retire"
    #: Applied to the old champion when a challenger is deployed (not user commands):
    #: ``supersede`` retires it, ``demote`` keeps it running in shadow (``--previous shadow``).
    SUPERSEDE = "supersede"
    DEMOTE = "demote"


#: (state, action) -> state after the action. Approve is special: it leaves the version
#: ``submitted`` until the quorum of approvals is reached (see :func:`next_state`).
TRANSITIONS: Mapping[tuple[State, Action], State] = {
    (State.DRAFT, Action.SUBMIT): State.SUBMITTED,
    (State.CHANGES_REQUESTED, Action.SUBMIT): State.SUBMITTED,
    (State.SUBMITTED, Action.APPROVE): State.APPROVED,
    (State.SUBMITTED, Action.REJECT): State.REJECTED,
    (State.SUBMITTED, Action.REQUEST_CHANGES): State.CHANGES_REQUESTED,
    (State.APPROVED, Action.SHADOW): State.SHADOW,
    (State.APPROVED, Action.DEPLOY): State.DEPLOYED,
    (State.SHADOW, Action.DEPLOY): State.DEPLOYED,
    (State.APPROVED, Action.RETIRE): State.RETIRED,
    (State.SHADOW, Action.RETIRE): State.RETIRED,
    (State.DEPLOYED, Action.RETIRE): State.RETIRED,
    (State.DEPLOYED, Action.SUPERSEDE): State.RETIRED,
    (State.DEPLOYED, Action.DEMOTE): State.SHADOW,
}

TERMINAL = frozenset({State.REJECTED, State.RETIRED})
#: Actions whose decision must carry a comment saying why.
COMMENT_REQUIRED = frozenset({Action.REJECT, Action.REQUEST_CHANGES})
#: States in which a version runs somewhere (as champion or behind the scenes).
LIVE = frozenset({State.SHADOW, State.DEPLOYED})
#: Actions the workflow applies itself, to the old champion; nobody takes them directly.
AUTOMATIC = frozenset({Action.SUPERSEDE, Action.DEMOTE})

_VERBS = {
    Action.SUBMIT: "submit",
    Action.APPROVE: "approve",
    Action.REJECT: "reject",
    Action.REQUEST_CHANGES: "request changes to",
    Action.SHADOW: "deploy in shadow",
    Action.DEPLOY: "deploy",
    Action.RETIRE: "retire",
    Action.SUPERSEDE: "supersede",
    Action.DEMOTE: "move to shadow",
}


def verb(action: Action) -> str:
    """How an action reads in a sentence: "cannot request changes to credit-risk@1.1.0"."""
    return _VERBS[action]


@dataclass(frozen=True, slots=True)
class TransitionRefused(Exception):
    state: State
    action: Action

    def reason(self, subject: str) -> str:
        allowed = sorted({str(s) for (s, a) in TRANSITIONS if a == self.action})
        why = "it is read-only" if self.state in TERMINAL else f"it is {self.state}"
        return (
            f"cannot {verb(self.action)} {subject}: {why}; that needs a version that is "
            f"{' or '.join(allowed)}"
        )


def allowed_actions(state: State) -> list[Action]:
    return [action for (s, action) in TRANSITIONS if s == state and action not in AUTOMATIC]


def next_state(state: State, action: Action, *, quorum_reached: bool = True) -> State:
    """The state after ``action``, or raise :class:`TransitionRefused`."""
    target = TRANSITIONS.get((state, action))
    if target is None:
        raise TransitionRefused(state, action)
    if action == Action.APPROVE and not quorum_reached:
        return State.SUBMITTED
    return target


@dataclass(frozen=True, slots=True)
class Approval:
    actor: str
    role: str


@dataclass(frozen=True, slots=True)
class Quorum:
    have: int
    need: int
    needs_compliance: bool
    has_compliance: bool

    @property
    def met(self) -> bool:
        return self.have >= self.need and (self.has_compliance or not self.needs_compliance)

    def describe(self) -> str:
        text = approvals_counted(self.have, self.need)
        if self.needs_compliance and not self.has_compliance:
            text += ", one of them from the compliance role"
        return text


def approvals_counted(have: int, need: int) -> str:
    """ "1 of 2 approvals", or "3 approvals (2 needed)": never "3 of 2"."""
    if have > need:
        return f"{have} approvals ({need} needed)"
    return f"{have} of {need} approvals"


def quorum(
    tier: str,
    approvals: Iterable[Approval],
    *,
    required_by_tier: Mapping[str, int],
    compliance_tiers: Iterable[str],
) -> Quorum:
    """Count distinct approvers of the current round against the tier's requirement."""
    distinct: dict[str, Approval] = {}
    for approval in approvals:
        distinct.setdefault(approval.actor, approval)
    needs_compliance = tier in set(compliance_tiers)
    return Quorum(
        have=len(distinct),
        need=max(1, int(required_by_tier.get(tier, 1))),
        needs_compliance=needs_compliance,
        has_compliance=any(a.role == "compliance" for a in distinct.values()),
    )


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` plus whole months, clamped to the month's end (Jan 31 + 1 month = Feb 28/29)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def revalidation_due(approved_on: dt.date, tier: str, months_by_tier: Mapping[str, int]) -> dt.date:
    """When a version approved on ``approved_on`` must next be validated."""
    return add_months(approved_on, int(months_by_tier.get(tier, 12)))
