"""The lifecycle state machine, every (state, action) pair: allowed ones and refused ones."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from govern.domain import lifecycle
from govern.domain.lifecycle import Action, Approval, State, TransitionRefused

EXPECTED = {
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


@pytest.mark.parametrize(("state", "action"), list(itertools.product(State, Action)))
def test_every_transition(state: State, action: Action) -> None:
    if (state, action) in EXPECTED:
        assert lifecycle.next_state(state, action) == EXPECTED[(state, action)]
    else:
        with pytest.raises(TransitionRefused) as refused:
            lifecycle.next_state(state, action)
        reason = refused.value.reason("m@1.0.0")
        assert reason.startswith(f"cannot {lifecycle.verb(action)} m@1.0.0")


def test_the_table_is_the_expected_one() -> None:
    # A transition added to the table without a test here fails this test.
    assert dict(lifecycle.TRANSITIONS) == EXPECTED


def test_automatic_actions_are_never_offered_to_users() -> None:
    offered = {a for state in State for a in lifecycle.allowed_actions(state)}
    assert offered.isdisjoint(lifecycle.AUTOMATIC)
    assert lifecycle.allowed_actions(State.DEPLOYED) == [Action.RETIRE]
    assert lifecycle.allowed_actions(State.SUBMITTED) == [
        Action.APPROVE,
        Action.REJECT,
        Action.REQUEST_CHANGES,
    ]


def test_terminal_states_allow_nothing() -> None:
    for state in lifecycle.TERMINAL:
        assert lifecycle.allowed_actions(state) == []
        with pytest.raises(TransitionRefused) as refused:
            lifecycle.next_state(state, Action.APPROVE)
        assert "read-only" in refused.value.reason("m@1.0.0")


def test_partial_approval_stays_submitted() -> None:
    assert (
        lifecycle.next_state(State.SUBMITTED, Action.APPROVE, quorum_reached=False)
        == State.SUBMITTED
    )
    assert (
        lifecycle.next_state(State.SUBMITTED, Action.APPROVE, quorum_reached=True) == State.APPROVED
    )


def test_comments_required_for_reject_and_request_changes() -> None:
    assert {Action.REJECT, Action.REQUEST_CHANGES} == lifecycle.COMMENT_REQUIRED


TIERS = {"low": 1, "medium": 1, "high": 2, "critical": 2}


@pytest.mark.parametrize(
    ("tier", "approvals", "met"),
    [
        ("low", [("carol", "approver")], True),
        ("high", [("carol", "approver")], False),
        ("high", [("carol", "approver"), ("carol", "approver")], False),  # one person, one vote
        ("high", [("carol", "approver"), ("erin", "approver")], True),
        ("critical", [("carol", "approver"), ("erin", "approver")], False),  # no compliance
        ("critical", [("carol", "approver"), ("dave", "compliance")], True),
        ("critical", [("dave", "compliance")], False),
    ],
)
def test_quorum(tier: str, approvals: list[tuple[str, str]], met: bool) -> None:
    result = lifecycle.quorum(
        tier,
        [Approval(a, r) for a, r in approvals],
        required_by_tier=TIERS,
        compliance_tiers=["critical"],
    )
    assert result.met is met
    assert f"of {TIERS[tier]} approvals" in result.describe()


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (dt.date(2026, 1, 31), 1, dt.date(2026, 2, 28)),
        (dt.date(2024, 1, 31), 1, dt.date(2024, 2, 29)),
        (dt.date(2026, 11, 22), 12, dt.date(2027, 11, 22)),
        (dt.date(2026, 11, 30), 3, dt.date(2027, 2, 28)),
        (dt.date(2026, 5, 15), 36, dt.date(2029, 5, 15)),
    ],
)
def test_add_months(start: dt.date, months: int, expected: dt.date) -> None:
    assert lifecycle.add_months(start, months) == expected


def test_revalidation_by_tier() -> None:
    months = {"low": 36, "medium": 24, "high": 12, "critical": 12}
    day = dt.date(2026, 11, 22)
    assert lifecycle.revalidation_due(day, "high", months) == dt.date(2027, 11, 22)
    assert lifecycle.revalidation_due(day, "low", months) == dt.date(2029, 11, 22)
