"""Walk models through the whole lifecycle with several users and roles, on SQLite and
PostgreSQL, and try every separation-of-duties bypass: each is refused, changes nothing and
is itself recorded in the audit log."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
from pathlib import Path

import pytest

from govern.domain.lifecycle import Action, add_months
from govern.errors import InputError, PermissionDenied, WorkflowError
from govern.services import Context, audit, catalogue, users, waivers, workflow
from govern.storage.tables import ModelVersion
from tests.builders import register, results_by_sex, store_evaluation
from tests.conftest import SAMPLE, Catalogue, key_dir, public_key

REF = "credit-risk@1.0.0"
NEW = "credit-risk@1.1.0"


@pytest.fixture(autouse=True)
def _no_bound_policies(cat: Catalogue) -> None:
    """These scenarios are about roles and states: no policies bound (gates: test_gates.py)."""
    cat.configure(policy_bindings={})


#: The next validation date the sample cards state.
CARD_DUE = dt.date(2027, 9, 1)


def state(cat: Catalogue, ref: str) -> str:
    return catalogue.show_version(cat.ctx("victor"), ref).state


def decisions(cat: Catalogue, ref: str) -> list[tuple[str, str]]:
    return [(d.action, d.actor) for d in catalogue.show_version(cat.ctx("victor"), ref).decisions]


def refused_events(cat: Catalogue, action: str) -> list[dict]:
    events = audit.audit_log(cat.ctx("victor"), action=f"{action}.refused", limit=100)
    return [e.to_json() for e in events]


def approve_fully(cat: Catalogue, ref: str) -> None:
    workflow.submit(cat.ctx("alice"), ref, comment="ready")
    workflow.approve(cat.ctx("carol"), ref, comment="ok")
    workflow.approve(cat.ctx("erin"), ref, comment="ok")


def test_full_lifecycle_with_review_round(cat: Catalogue) -> None:
    ref = register(cat)
    assert state(cat, ref) == "draft"
    assert [i.ref for i in workflow.queue(cat.ctx("alice"))] == [ref]

    workflow.submit(cat.ctx("alice"), ref, comment="first version")
    queue = workflow.queue(cat.ctx("carol"))
    assert [(i.ref, i.reason) for i in queue] == [(ref, "awaiting approval (0 of 2 approvals)")]
    assert workflow.queue(cat.ctx("bob"))[0].reason == "awaiting validation"
    assert workflow.queue(cat.ctx("alice")) == []

    with pytest.raises(InputError, match="comment is required"):
        workflow.request_changes(cat.ctx("bob"), ref, comment="  ")
    workflow.request_changes(cat.ctx("bob"), ref, comment="add the age-group analysis")
    assert state(cat, ref) == "changes_requested"
    mine = workflow.queue(cat.ctx("alice"))
    assert mine[0].reason == "changes requested by bob: add the age-group analysis"

    workflow.submit(cat.ctx("alice"), ref, comment="added it")
    first = workflow.approve(cat.ctx("carol"), ref, comment="fine by me")
    assert (first.to_state, first.approvals) == ("submitted", "1 of 2 approvals")
    second = workflow.approve(cat.ctx("erin"), ref, comment="agreed")
    assert second.to_state == "approved"
    today = dt.datetime.now(dt.UTC).date()
    # The default rule: the earlier of the card's own date and the high tier's 12 months.
    due = min(CARD_DUE, add_months(today, 12))
    assert second.next_validation_due == due
    assert catalogue.show_version(cat.ctx(), ref).next_validation_due == due

    deployed = workflow.deploy(cat.ctx("carol"), ref, comment="go")
    assert deployed.to_state == "deployed"
    assert decisions(cat, ref) == [
        ("submit", "alice"),
        ("request_changes", "bob"),
        ("submit", "alice"),
        ("approve", "carol"),
        ("approve", "erin"),
        ("deploy", "carol"),
    ]
    shown = catalogue.show_version(cat.ctx(), ref).decisions
    assert [d.role for d in shown][-3:] == ["approver", "approver", "approver"]

    answer = workflow.history(cat.ctx("victor"), "credit-risk", at=today)
    assert answer.at is not None
    assert answer.at.ref == ref
    assert answer.at.approvers == ["carol", "erin"]
    assert [(e.action, e.role) for e in answer.entries] == [
        ("register", None),
        ("submit", "developer"),
        ("request_changes", "validator"),
        ("submit", "developer"),
        ("approve", "approver"),
        ("approve", "approver"),
        ("deploy", "approver"),
    ]
    assert answer.at.earlier == []
    yesterday = workflow.history(cat.ctx("victor"), "credit-risk", at=today - dt.timedelta(days=1))
    assert yesterday.at is not None and yesterday.at.ref is None
    assert audit.verify_audit(cat.ctx()).ok


def _assert_refused(cat: Catalogue, ref: str, call, error, message: str, action: str) -> None:
    before_state = state(cat, ref)
    before_decisions = decisions(cat, ref)
    before_refusals = len(refused_events(cat, action))
    with pytest.raises(error) as raised:
        call()
    assert message in raised.value.message
    assert state(cat, ref) == before_state
    assert decisions(cat, ref) == before_decisions
    refusals = refused_events(cat, action)
    assert len(refusals) == before_refusals + 1
    assert refusals[0]["payload"]["reason"] == raised.value.message


def test_separation_of_duties_bypasses_are_refused_and_audited(cat: Catalogue) -> None:
    ref = register(cat)
    workflow.submit(cat.ctx("alice"), ref)

    # self-approval is refused for who she is, before her role is even considered...
    _assert_refused(
        cat,
        ref,
        lambda: workflow.approve(cat.ctx("alice"), ref),
        WorkflowError,
        f"alice submitted {ref} and cannot validate or approve it",
        "version.approve",
    )
    # ...and when an admin makes her an approver between submit and approve, still refused
    users.set_role(cat.ctx("admin"), "alice", role="approver")
    _assert_refused(
        cat,
        ref,
        lambda: workflow.approve(cat.ctx("alice"), ref),
        WorkflowError,
        f"alice submitted {ref} and cannot validate or approve it",
        "version.approve",
    )
    # the submitter cannot judge the version in other ways either
    _assert_refused(
        cat,
        ref,
        lambda: workflow.reject(cat.ctx("alice"), ref, comment="never mind"),
        WorkflowError,
        f"alice submitted {ref}",
        "version.reject",
    )
    users.set_role(cat.ctx("admin"), "alice", role="developer")

    # one person, one approval
    workflow.approve(cat.ctx("carol"), ref)
    _assert_refused(
        cat,
        ref,
        lambda: workflow.approve(cat.ctx("carol"), ref),
        WorkflowError,
        f"carol already approved {ref} in this round",
        "version.approve",
    )
    # viewers and unknown users cannot act
    _assert_refused(
        cat,
        ref,
        lambda: workflow.approve(cat.ctx("victor"), ref),
        PermissionDenied,
        "victor is a viewer",
        "version.approve",
    )
    _assert_refused(
        cat,
        ref,
        lambda: workflow.approve(cat.ctx("mallory"), ref),
        PermissionDenied,
        "mallory is not a user of this catalogue",
        "version.approve",
    )
    # deploying before the approval round is complete
    _assert_refused(
        cat,
        ref,
        lambda: workflow.deploy(cat.ctx("carol"), ref),
        WorkflowError,
        f"cannot deploy {ref}: it is submitted",
        "version.deploy",
    )

    workflow.approve(cat.ctx("erin"), ref)
    assert state(cat, ref) == "approved"
    # only permitted roles deploy
    _assert_refused(
        cat,
        ref,
        lambda: workflow.deploy(cat.ctx("alice"), ref),
        PermissionDenied,
        "alice is a developer and cannot deploy",
        "version.deploy",
    )


def test_rejected_and_retired_versions_are_read_only(cat: Catalogue) -> None:
    ref = register(cat)
    workflow.submit(cat.ctx("alice"), ref)
    workflow.reject(cat.ctx("bob"), ref, comment="uses a prohibited feature")
    assert state(cat, ref) == "rejected"
    _assert_refused(
        cat,
        ref,
        lambda: workflow.approve(cat.ctx("carol"), ref),
        WorkflowError,
        f"cannot approve {ref}: it is read-only",
        "version.approve",
    )
    _assert_refused(
        cat,
        ref,
        lambda: workflow.submit(cat.ctx("alice"), ref),
        WorkflowError,
        f"cannot submit {ref}: it is read-only",
        "version.submit",
    )

    other = register(cat, "1.1.0")
    approve_fully(cat, other)
    workflow.retire(cat.ctx("carol"), other, comment="never used")
    for call, action in [
        (lambda: workflow.approve(cat.ctx("erin"), other), "version.approve"),
        (lambda: workflow.deploy(cat.ctx("carol"), other), "version.deploy"),
        (lambda: workflow.submit(cat.ctx("alice"), other), "version.submit"),
    ]:
        _assert_refused(cat, other, call, WorkflowError, "read-only", action)


def test_deploy_without_approval_is_refused(cat: Catalogue) -> None:
    ref = register(cat)
    _assert_refused(
        cat,
        ref,
        lambda: workflow.deploy(cat.ctx("carol"), ref),
        WorkflowError,
        f"cannot deploy {ref}: it is draft",
        "version.deploy",
    )
    _assert_refused(
        cat,
        ref,
        lambda: workflow.deploy(cat.ctx("carol"), ref, shadow=True),
        WorkflowError,
        f"cannot deploy in shadow {ref}: it is draft",
        "version.shadow",
    )


def test_critical_tier_needs_a_compliance_approval(cat: Catalogue, tmp_path: Path) -> None:
    ref = register(cat, tier="critical", directory=tmp_path)
    workflow.submit(cat.ctx("alice"), ref)
    workflow.approve(cat.ctx("carol"), ref)
    second = workflow.approve(cat.ctx("erin"), ref)
    assert second.to_state == "submitted"
    assert second.approvals == "2 of 2 approvals, one of them from the compliance role"
    assert workflow.queue(cat.ctx("dave"))[0].reason.startswith("awaiting a compliance approval")
    third = workflow.approve(cat.ctx("dave"), ref)
    assert third.to_state == "approved"


def test_low_tier_needs_one_approval_and_longer_cadence(cat: Catalogue, tmp_path: Path) -> None:
    cat.configure(validation_due="tier")
    ref = register(cat, tier="low", directory=tmp_path)
    workflow.submit(cat.ctx("alice"), ref)
    result = workflow.approve(cat.ctx("carol"), ref)
    assert result.to_state == "approved"
    assert result.next_validation_due == add_months(dt.datetime.now(dt.UTC).date(), 36)


def test_shadow_then_promotion_gate_then_champion_change(cat: Catalogue) -> None:
    champion, challenger = register(cat, "1.0.0"), register(cat, "1.1.0")
    store_evaluation(cat.ctx("alice"), champion, results_by_sex(accuracy=0.76, female_rate=0.72))
    approve_fully(cat, champion)
    workflow.deploy(cat.ctx("carol"), champion)

    # the challenger is more accurate but treats women worse: the gate refuses it
    store_evaluation(cat.ctx("alice"), challenger, results_by_sex(accuracy=0.80, female_rate=0.55))
    approve_fully(cat, challenger)
    shadow = workflow.deploy(cat.ctx("carol"), challenger, shadow=True)
    assert shadow.to_state == "shadow"
    assert state(cat, champion) == "deployed"

    comparison = workflow.compare(cat.ctx("victor"), champion, challenger)
    assert comparison.same_data
    accuracy = next(m for m in comparison.overall if m.metric == "accuracy")
    assert accuracy.delta == pytest.approx(0.04)
    blockers = workflow.promotion_verdict(cat.ctx("victor"), comparison)
    assert any(b.startswith("min_impact_ratio for sex") for b in blockers)
    _assert_refused(
        cat,
        challenger,
        lambda: workflow.deploy(cat.ctx("carol"), challenger),
        WorkflowError,
        "worse than the champion",
        "version.deploy",
    )
    assert state(cat, champion) == "deployed"

    # a fairer re-evaluation on the same data lets it through; the champion is retired
    store_evaluation(cat.ctx("alice"), challenger, results_by_sex(accuracy=0.80, female_rate=0.74))
    promoted = workflow.deploy(cat.ctx("carol"), challenger, comment="promote")
    assert promoted.superseded == champion
    assert state(cat, challenger) == "deployed"
    assert state(cat, champion) == "retired"
    assert decisions(cat, champion)[-1] == ("supersede", "carol")
    today = dt.datetime.now(dt.UTC).date()
    answer = workflow.history(cat.ctx(), "credit-risk", at=today).at
    assert answer is not None
    assert (answer.ref, answer.approvers) == (challenger, ["carol", "erin"])
    # the champion replaced that same day is part of the answer too
    [span] = answer.earlier
    assert (span.ref, span.approvers) == (champion, ["carol", "erin"])
    assert span.deployed_since < span.until <= (answer.deployed_since or "")


def test_deploy_can_keep_the_old_champion_in_shadow(cat: Catalogue) -> None:
    champion, challenger = register(cat, "1.0.0"), register(cat, "1.1.0")
    approve_fully(cat, champion)
    workflow.deploy(cat.ctx("carol"), champion)
    approve_fully(cat, challenger)
    result = workflow.deploy(cat.ctx("carol"), challenger, previous="shadow")
    assert "has no evaluation; promotion gate not applied" in " ".join(result.notes)
    assert (state(cat, champion), state(cat, challenger)) == ("shadow", "deployed")
    # the old champion moved through the state machine, as its own decision and event
    assert decisions(cat, champion)[-1] == ("demote", "carol")
    demoted = catalogue.show_version(cat.ctx("victor"), champion).decisions[-1]
    assert (demoted.from_state, demoted.to_state) == ("deployed", "shadow")
    entries = workflow.history(cat.ctx("victor"), "credit-risk").entries
    assert [(e.ref, e.action, e.to_state) for e in entries[-2:]] == [
        (champion, "demote", "shadow"),
        (challenger, "deploy", "deployed"),
    ]
    # a shadow deployment leaves the champion alone: --previous makes no sense there
    with pytest.raises(InputError, match="--previous applies when a version becomes champion"):
        workflow.deploy(cat.ctx("carol"), champion, shadow=True, previous="shadow")


def test_automatic_actions_cannot_be_taken_directly(cat: Catalogue) -> None:
    ref = register(cat)
    approve_fully(cat, ref)
    workflow.deploy(cat.ctx("carol"), ref)
    before = audit.count_events(cat.ctx())
    for action in (Action.SUPERSEDE, Action.DEMOTE):
        with pytest.raises(InputError, match="deploying its successor does it"):
            workflow.transition(cat.ctx("carol"), ref, action)
    assert state(cat, ref) == "deployed"
    assert audit.count_events(cat.ctx()) == before


def test_challenger_without_evaluation_is_refused_when_champion_has_one(cat: Catalogue) -> None:
    champion, challenger = register(cat, "1.0.0"), register(cat, "1.1.0")
    store_evaluation(cat.ctx("alice"), champion, results_by_sex(accuracy=0.7, female_rate=0.7))
    approve_fully(cat, champion)
    workflow.deploy(cat.ctx("carol"), champion)
    approve_fully(cat, challenger)
    _assert_refused(
        cat,
        challenger,
        lambda: workflow.deploy(cat.ctx("carol"), challenger),
        WorkflowError,
        "has no evaluation to compare",
        "version.deploy",
    )


def test_due_lists_overdue_and_soon_due_versions(cat: Catalogue) -> None:
    ref = register(cat)
    approve_fully(cat, ref)
    workflow.deploy(cat.ctx("carol"), ref)
    assert workflow.due(cat.ctx("victor")) == []  # due in 12 months
    today = dt.datetime.now(dt.UTC).date()
    with cat.ctx().db.write() as session:
        row = session.get(ModelVersion, 1)
        assert row is not None
        row.next_validation_due = today - dt.timedelta(days=3)
        session.add(row)
    items = workflow.due(cat.ctx("victor"))
    assert [(i.ref, i.status, i.days_left) for i in items] == [(ref, "overdue", -3)]
    assert len(workflow.due(cat.ctx("victor"), within_days=400)) == 1


def test_history_records_refusals_separately(cat: Catalogue) -> None:
    ref = register(cat)
    workflow.submit(cat.ctx("alice"), ref)
    with pytest.raises(WorkflowError):
        workflow.approve(cat.ctx("alice"), ref)
    entries = workflow.history(cat.ctx(), "credit-risk").entries
    assert [e.action for e in entries] == ["register", "submit"]
    refusal = refused_events(cat, "version.approve")[0]
    assert refusal["actor"] == "alice" and refusal["subject"] == ref
    assert json.dumps(refusal["payload"])


def test_whoever_registered_a_version_cannot_judge_it_even_with_a_new_role(
    cat: Catalogue,
) -> None:
    users.add_user(cat.ctx("admin"), "frank", role="developer", key=public_key("frank"))
    ref = catalogue.register_version(cat.ctx("frank"), SAMPLE / "credit-risk-1.0.0.card.yaml").ref
    workflow.submit(cat.ctx("alice"), ref, comment="frank's model, my submission")
    users.set_role(cat.ctx("admin"), "frank", role="approver")
    for call, action in [
        (lambda: workflow.approve(cat.ctx("frank"), ref), "version.approve"),
        (
            lambda: workflow.request_changes(cat.ctx("frank"), ref, comment="more"),
            "version.request_changes",
        ),
    ]:
        _assert_refused(cat, ref, call, WorkflowError, f"frank registered {ref} and cannot", action)
    # nor waive its rules: a waiver needs someone other than the people asking to ship
    before = refused_events(cat, "waiver.grant")
    with pytest.raises(WorkflowError, match=f"frank registered {ref} and cannot waive"):
        waivers.grant_waiver(
            cat.ctx("frank"),
            ref,
            rule="baseline/no-pickle",
            reason="my own model, I vouch for it",
            expires=dt.datetime.now(dt.UTC).date() + dt.timedelta(days=5),
        )
    assert len(refused_events(cat, "waiver.grant")) == len(before) + 1
    assert waivers.list_waivers(cat.ctx("victor"), ref) == []


def test_a_resubmission_starts_a_fresh_round_of_approvals(cat: Catalogue) -> None:
    ref = register(cat)
    workflow.submit(cat.ctx("alice"), ref)
    assert workflow.approve(cat.ctx("carol"), ref).approvals == "1 of 2 approvals"
    workflow.request_changes(cat.ctx("bob"), ref, comment="add the age-group analysis")
    workflow.submit(cat.ctx("alice"), ref, comment="added")
    # carol's approval of the old submission does not count towards the new one...
    again = workflow.approve(cat.ctx("carol"), ref)
    assert (again.to_state, again.approvals) == ("submitted", "1 of 2 approvals")
    # ...and within the round she still has one vote only
    _assert_refused(
        cat,
        ref,
        lambda: workflow.approve(cat.ctx("carol"), ref),
        WorkflowError,
        "carol already approved",
        "version.approve",
    )
    assert workflow.approve(cat.ctx("erin"), ref).to_state == "approved"


def test_queue_leaves_out_approvers_who_cannot_complete_a_compliance_quorum(
    cat: Catalogue, tmp_path: Path
) -> None:
    users.add_user(cat.ctx("admin"), "frank", role="approver")
    ref = register(cat, tier="critical", directory=tmp_path)
    workflow.submit(cat.ctx("alice"), ref)
    workflow.approve(cat.ctx("carol"), ref)
    assert [i.reason for i in workflow.queue(cat.ctx("frank"))] == [
        "awaiting approval (1 of 2 approvals, one of them from the compliance role)"
    ]
    workflow.approve(cat.ctx("erin"), ref)
    assert workflow.queue(cat.ctx("frank")) == []  # a third approver would not complete it
    assert workflow.queue(cat.ctx("carol")) == []  # already approved
    [item] = workflow.queue(cat.ctx("dave"))
    assert item.reason == (
        "awaiting a compliance approval (2 of 2 approvals, one of them from the compliance role)"
    )


def test_nothing_can_be_waived_for_a_rejected_version(cat: Catalogue) -> None:
    ref = register(cat)
    workflow.submit(cat.ctx("alice"), ref)
    workflow.reject(cat.ctx("bob"), ref, comment="uses a prohibited feature")
    with pytest.raises(WorkflowError, match="is rejected and read-only; nothing can be waived"):
        waivers.grant_waiver(
            cat.ctx("dave"),
            ref,
            rule="baseline/no-pickle",
            reason="we would like to ship it anyway",
            expires=dt.datetime.now(dt.UTC).date() + dt.timedelta(days=5),
        )
    [event] = refused_events(cat, "waiver.grant")
    assert event["actor"] == "dave" and "read-only" in event["payload"]["reason"]
    assert waivers.list_waivers(cat.ctx("victor"), ref) == []


def test_only_permitted_roles_retire_and_the_roles_are_configurable(cat: Catalogue) -> None:
    ref = register(cat)
    approve_fully(cat, ref)
    workflow.deploy(cat.ctx("carol"), ref)
    _assert_refused(
        cat,
        ref,
        lambda: workflow.retire(cat.ctx("bob"), ref),
        PermissionDenied,
        "bob is a validator and cannot retire",
        "version.retire",
    )
    cat.configure(workflow_roles={"retire": ["admin"]})  # only retire changes
    _assert_refused(
        cat,
        ref,
        lambda: workflow.retire(cat.ctx("carol"), ref),
        PermissionDenied,
        "carol is an approver and cannot retire credit-risk@1.0.0; that needs the role admin",
        "version.retire",
    )
    assert cat.ctx("carol").governance.workflow_roles["deploy"] == ["approver", "admin"]
    assert workflow.retire(cat.ctx("admin"), ref, comment="replaced").to_state == "retired"


@pytest.mark.parametrize(
    ("tier", "approvers", "months"),
    [
        ("low", ["carol"], 36),
        ("medium", ["carol"], 24),
        ("high", ["carol", "erin"], 12),
        ("critical", ["carol", "dave"], 12),
    ],
)
def test_default_approvals_and_cadence_by_tier(
    cat: Catalogue, tmp_path: Path, tier: str, approvers: list[str], months: int
) -> None:
    cat.configure(validation_due="tier")  # the cadence alone, whatever the card says
    ref = register(cat, tier=None if tier == "high" else tier, directory=tmp_path)
    workflow.submit(cat.ctx("alice"), ref)
    *first, last = approvers
    for name in first:
        assert workflow.approve(cat.ctx(name), ref).to_state == "submitted"
    result = workflow.approve(cat.ctx(last), ref)
    assert result.to_state == "approved"
    assert result.approvals == f"{len(approvers)} of {len(approvers)} approvals"
    today = dt.datetime.now(dt.UTC).date()
    assert result.next_validation_due == add_months(today, months)
    assert catalogue.show_version(cat.ctx("victor"), ref).next_validation_due == (
        add_months(today, months)
    )


def test_approvals_compliance_and_cadence_follow_the_settings(cat: Catalogue) -> None:
    cat.configure(
        approvals_by_tier={"high": 1},
        compliance_approval_tiers=["high"],
        revalidation_months_by_tier={"high": 6},
        validation_due="tier",
    )
    ref = register(cat)
    workflow.submit(cat.ctx("alice"), ref)
    first = workflow.approve(cat.ctx("carol"), ref)
    assert (first.to_state, first.approvals) == (
        "submitted",
        "1 of 1 approvals, one of them from the compliance role",
    )
    second = workflow.approve(cat.ctx("dave"), ref)
    assert second.to_state == "approved"
    assert second.next_validation_due == add_months(dt.datetime.now(dt.UTC).date(), 6)


def test_two_promotions_at_once_leave_one_champion(
    cat: Catalogue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two approvers promote different challengers at the same moment: the second must see
    the first's champion, not the one both started from (else two versions are deployed)."""
    champion = register(cat, "1.0.0")
    approve_fully(cat, champion)
    workflow.deploy(cat.ctx("carol"), champion)
    card = (
        (SAMPLE / "credit-risk-1.1.0.card.yaml")
        .read_text()
        .replace("version: 1.1.0", "version: 1.2.0")
    )
    (tmp_path / "card-1.2.0.yaml").write_text(card)
    challengers = [
        register(cat, "1.1.0"),
        catalogue.register_version(cat.ctx("alice"), tmp_path / "card-1.2.0.yaml").ref,
    ]
    for ref in challengers:
        approve_fully(cat, ref)

    # Hold each promotion just after it has looked at the champion, until both are there
    # (or, when the second is rightly waiting for the first to commit, for a moment).
    both_looked = threading.Barrier(2, timeout=2)
    original = workflow._promotion_gate

    def held(*args: object, **kwargs: object) -> None:
        original(*args, **kwargs)  # type: ignore[arg-type]
        with contextlib.suppress(threading.BrokenBarrierError):
            both_looked.wait()

    monkeypatch.setattr(workflow, "_promotion_gate", held)
    errors: list[BaseException] = []

    def promote(user: str, ref: str) -> None:
        ctx = Context.open(database_url=cat.url, user=user, key_dir=key_dir(user))
        try:
            workflow.deploy(ctx, ref)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            ctx.close()

    threads = [
        threading.Thread(target=promote, args=(user, ref))
        for user, ref in zip(["carol", "erin"], challengers, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    states = {ref: state(cat, ref) for ref in [champion, *challengers]}
    assert list(states.values()).count("deployed") == 1, states
    assert states[champion] == "retired"


@pytest.mark.parametrize(
    ("comment", "message"),
    [
        ("x" * 4_001, "the comment is 4,001 characters; keep it under 4,000"),
        ("fine\x00by me", "control characters"),
        ("fine\x1b[31m by me", "control characters"),
    ],
)
def test_bad_comments_are_input_errors_and_write_nothing(
    cat: Catalogue, comment: str, message: str
) -> None:
    ref = register(cat)
    workflow.submit(cat.ctx("alice"), ref)
    before = audit.count_events(cat.ctx())
    with pytest.raises(InputError, match=message):
        workflow.approve(cat.ctx("carol"), ref, comment=comment)
    assert audit.count_events(cat.ctx()) == before
    assert decisions(cat, ref) == [("submit", "alice")]
    # a multi-line comment of reasonable length is fine
    workflow.approve(cat.ctx("carol"), ref, comment="checked:\n- fairness\n- drift")
    assert catalogue.show_version(cat.ctx(), ref).decisions[-1].comment.count("\n") == 2


def test_due_refuses_a_negative_window(cat: Catalogue) -> None:
    with pytest.raises(InputError, match="--within must be 0 or more days"):
        workflow.due(cat.ctx("victor"), within_days=-1)


def test_history_of_one_model_leaves_out_a_lookalike_name(cat: Catalogue, tmp_path: Path) -> None:
    """'_' is a LIKE wildcard: credit_risk's history must not show credit-risk's events."""
    ref = register(cat)
    approve_fully(cat, ref)
    workflow.deploy(cat.ctx("carol"), ref)
    card = (SAMPLE / "credit-risk-1.0.0.card.yaml").read_text()
    lookalike = tmp_path / "lookalike.yaml"
    lookalike.write_text(card.replace("name: credit-risk", "name: credit_risk", 1))
    other = catalogue.register_version(cat.ctx("alice"), lookalike).ref
    assert other == "credit_risk@1.0.0"
    answer = workflow.history(cat.ctx("victor"), "credit_risk", at=dt.datetime.now(dt.UTC).date())
    assert [(e.ref, e.action) for e in answer.entries] == [(other, "register")]
    assert answer.at is not None and answer.at.ref is None
    logged = audit.audit_log(cat.ctx("victor"), subject="credit_risk", limit=100)
    assert {e.subject for e in logged} == {other}
    assert {e.subject for e in audit.audit_log(cat.ctx("victor"), subject="credit-risk")} == {ref}


@pytest.mark.parametrize(
    ("rule", "tier_wins"), [("earliest", False), ("tier", True), ("card", False)]
)
def test_a_due_date_comes_from_an_explicit_rule_and_a_change_is_shown_and_audited(
    cat: Catalogue, tmp_path: Path, rule: str, tier_wins: bool
) -> None:
    """Approval once replaced the card's date with the tier default, silently."""
    cat.configure(validation_due=rule, revalidation_months_by_tier={"low": 3})
    ref = register(cat, tier="low", directory=tmp_path)
    assert catalogue.show_version(cat.ctx("victor"), ref).next_validation_due == CARD_DUE
    workflow.submit(cat.ctx("alice"), ref)
    result = workflow.approve(cat.ctx("carol"), ref)
    cadence = add_months(dt.datetime.now(dt.UTC).date(), 3)
    expected = {"earliest": min(CARD_DUE, cadence), "tier": cadence, "card": CARD_DUE}[rule]
    assert result.next_validation_due == expected
    [event] = audit.audit_log(cat.ctx("victor"), action="version.approve", limit=1)
    assert event.payload["next_validation_due"] == expected.isoformat()
    assert event.payload["due_rule"] == rule
    if expected != CARD_DUE:
        assert any(f"next validation due {expected} (was {CARD_DUE})" in n for n in result.notes)
        assert event.payload["previous_validation_due"] == CARD_DUE.isoformat()
    else:
        assert "previous_validation_due" not in event.payload
