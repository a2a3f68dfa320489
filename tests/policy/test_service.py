"""Checks, the workflow gate and waivers against real catalogues on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlmodel import col, select

from govern.domain.governance import GovernanceSettings
from govern.errors import InputError, NotFoundError, PermissionDenied, PolicyError, WorkflowError
from govern.services import audit, binding, checks, gate, runs, subjects, waivers
from govern.services.catalogue import resolve
from govern.storage.tables import PolicyRun, RuleResult
from tests.builders import NOW, grouping, register, results_document
from tests.conftest import Catalogue
from tests.policy.stored import (
    add_decision,
    audit_actions,
    counts,
    set_state,
    store_drift,
    store_evaluation,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FAIR = [grouping("sex", {"female": (55, 100), "male": (60, 100)}, total=200)]
UNFAIR = [grouping("sex", {"female": (40, 100), "male": (60, 100)}, total=200)]


def test_check_version_records_the_run_its_rules_and_an_audit_event(cat: Catalogue) -> None:
    ref = register(cat)
    store_evaluation(cat, ref, results_document(UNFAIR))
    report = checks.check_version(cat.ctx("victor"), ref, ["eeoc-four-fifths", "baseline"], now=NOW)
    assert report.exit_code == 1
    subject = report.subjects[0]
    # no p-value in the document, so the disparity is not shown to be insignificant
    assert [o.qualified_id for o in subject.blocking] == [
        "eeoc-four-fifths/impact-ratio-significant"
    ]
    with cat.ctx().db.read() as session:
        run = session.exec(select(PolicyRun)).one()
        rows = session.exec(
            select(RuleResult)
            .where(RuleResult.policy_run_id == run.id)
            .order_by(col(RuleResult.id))
        ).all()
        run_id = run.id
        assert run_id == report.run_ids[ref]
        assert run.created_by == "victor"
        assert run.outcome == subject.outcome
        assert [p["id"] for p in run.policies] == ["eeoc-four-fifths", "baseline"]
        assert all(len(p["sha256"]) == 64 for p in run.policies)
        assert len(rows) == len(subject.outcomes)
        assert [(r.policy_id, r.rule_id, r.status) for r in rows] == [
            (o.policy_id, o.rule_id, o.status) for o in subject.outcomes
        ]
        practical = next(r for r in rows if r.rule_id == "impact-ratio-practical")
        assert practical.evidence["kind"] == "fairness"
        assert practical.evidence["evidence"]["violations"][0]["group"] == "female"
        assert practical.source.startswith("29 CFR 1607.4(D)")
    events = audit.audit_log(cat.ctx(), action="policy.check", limit=5)
    assert len(events) == 1
    payload = events[0].to_json()["payload"]
    assert payload["policy_run_id"] == run_id
    assert payload["outcome"] == subject.outcome
    assert payload["counts"] == subject.counts()
    assert audit.verify_audit(cat.ctx()).ok


def test_blocking_rule_fails_the_check_and_names_it(cat: Catalogue) -> None:
    ref = register(cat)
    store_evaluation(cat, ref, results_document(UNFAIR))
    strict = FIXTURES / "valid.yaml"  # four-fifths at severity error, selector high tier
    report = checks.check_version(cat.ctx("bob"), ref, [str(strict)], now=NOW)
    assert [o.qualified_id for o in report.blocking] == ["my-org/four-fifths"]
    assert report.exit_code == 1
    fair = register(cat, "1.1.0")
    store_evaluation(cat, fair, results_document(FAIR))
    assert checks.check_version(cat.ctx("bob"), fair, [str(strict)], now=NOW).exit_code == 0


def test_a_bad_policy_is_refused_before_anything_is_written(cat: Catalogue) -> None:
    ref = register(cat)
    before = counts(cat)
    with pytest.raises(PolicyError) as raised:
        checks.check_version(cat.ctx("bob"), ref, [str(FIXTURES / "many-problems.yaml")], now=NOW)
    assert len(raised.value.problems) == 6
    with pytest.raises(PolicyError, match="no such policy file"):
        checks.check_version(cat.ctx("bob"), ref, ["no-such-pack"], now=NOW)
    assert counts(cat) == before


def test_unknown_version_and_user(cat: Catalogue) -> None:
    register(cat)
    with pytest.raises(NotFoundError):
        checks.check_version(cat.ctx("bob"), "credit-risk@9.9.9", ["baseline"], now=NOW)
    before = counts(cat)
    with pytest.raises(PermissionDenied, match="mallory is not a user"):
        checks.check_version(cat.ctx("mallory"), "credit-risk@1.0.0", ["baseline"], now=NOW)
    after = counts(cat)
    assert after["PolicyRun"] == before["PolicyRun"]
    assert audit_actions(cat)[-1] == "policy.check.refused"


def test_a_read_only_check_writes_nothing(cat: Catalogue) -> None:
    ref = register(cat)
    before = counts(cat)
    report = checks.check_version(cat.ctx("mallory"), ref, ["baseline"], now=NOW, record=False)
    assert report.run_ids == {}
    assert {o.rule_id: o.status for o in report.outcomes}["evaluation-fresh"] == "fail"
    assert counts(cat) == before


def test_bound_policies_follow_the_settings(cat: Catalogue) -> None:
    ref = register(cat)
    report = checks.check_version(cat.ctx("bob"), ref, now=NOW)
    # the sample card: every version gets baseline; scope eu-ai-act-high-risk and sr-26-2
    assert [p.id for p in report.policies] == ["baseline", "eu-ai-act-high-risk", "model-risk"]
    # The catalogue's bindings, as an admin applies them.
    cat.configure(policy_bindings={"tag:credit": ["nyc-ll144"], "tier:low": ["x"]})
    ctx = cat.ctx("bob")
    with ctx.read() as session:
        version = resolve(session, ref)[1]
        assert [p.id for p in binding.policies_for(ctx, version)] == ["nyc-ll144"]
    cat.configure(policy_bindings={})
    with ctx.read() as session:
        version = resolve(session, ref)[1]
        with pytest.raises(InputError, match="no policy is bound"):
            binding.policies_for(ctx, version)


def test_unknown_binding_key_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="unknown key 'team:risk'"):
        GovernanceSettings(policy_bindings={"team:risk": ["baseline"]})


def test_snapshot_has_decisions_submitter_drift_and_champion(cat: Catalogue) -> None:
    old = register(cat, "1.0.0")
    new = register(cat, "1.1.0")
    store_evaluation(cat, old, results_document(FAIR, overall={"accuracy": 0.8, "roc_auc": 0.8}))
    store_evaluation(
        cat, new, results_document(UNFAIR, overall={"accuracy": 0.82, "roc_auc": 0.81})
    )
    set_state(cat, old, "deployed")
    store_drift(cat, old, 0.4, at=NOW - dt.timedelta(days=3))
    add_decision(cat, new, "submit", "alice", "developer", at=NOW - dt.timedelta(hours=3))
    add_decision(cat, new, "approve", "carol", "approver", at=NOW - dt.timedelta(hours=2))
    add_decision(cat, new, "approve", "erin", "approver", at=NOW - dt.timedelta(hours=1))
    with cat.ctx().db.read() as session:
        model, version = resolve(session, new)
        snap = subjects.snapshot_for(session, model, version)
        champion_snap = subjects.snapshot_for(session, *resolve(session, old))
    assert snap.submitter == "alice"
    assert [d.actor for d in snap.decisions] == ["alice", "carol", "erin"]
    assert snap.champion is not None and snap.champion.ref == old
    assert champion_snap.drift is not None and champion_snap.champion is None
    report = checks.check_version(cat.ctx("bob"), new, ["model-risk"], now=NOW)
    by_rule = {o.rule_id: o for o in report.outcomes}
    assert by_rule["champion-challenger"].status == "fail"  # min impact ratio fell 0.917 -> 0.667
    assert by_rule["independent-validation"].status == "not-applicable"  # still a draft
    set_state(cat, new, "approved")
    report = checks.check_version(cat.ctx("bob"), new, ["model-risk"], now=NOW)
    assert {o.rule_id: o.status for o in report.outcomes}["independent-validation"] == "pass"
    deployed = checks.check_version(cat.ctx("bob"), old, ["model-risk"], now=NOW)
    assert {o.rule_id: o.status for o in deployed.outcomes}["ongoing-monitoring"] == "fail"


# --- the workflow gate ----------------------------------------------------------------------


def _gate(cat: Catalogue, ref: str, **kwargs):  # type: ignore[no-untyped-def]
    ctx = cat.ctx("carol")
    with ctx.write("test.gate", ref) as tx:
        model, version = resolve(tx.session, ref)
        return gate.gate(tx, model, version, now=NOW, **kwargs)


def test_gate_lists_blocking_failures_and_defers_approvals(cat: Catalogue) -> None:
    ref = register(cat)
    result = _gate(cat, ref)
    assert not result.passed
    assert result.blocking == [
        "baseline/evaluation-fresh",
        "eu-ai-act-high-risk/art10-bias-examined",
        "eu-ai-act-high-risk/art15-accuracy-evaluated",
        "model-risk/outcomes-analysis",
    ]
    assert (
        "baseline/evaluation-fresh (credit-risk@1.0.0 has no evaluation on record"
        in result.describe()
    )
    store_evaluation(cat, ref, results_document(FAIR))
    assert _gate(cat, ref).passed
    set_state(cat, ref, "submitted")
    approvals = next(o for o in _gate(cat, ref).outcomes if o.rule_id == "independent-validation")
    assert approvals.status == "not-applicable"
    cat.configure(policy_bindings={"*": ["baseline"]})
    only_baseline = _gate(cat, ref)
    assert only_baseline.policies == ["baseline"]


def test_gate_honours_waivers_and_records_with_the_caller(cat: Catalogue) -> None:
    ref = register(cat)
    waivers.grant_waiver(
        cat.ctx("dave"),
        ref,
        rule="evaluation-fresh",
        reason="evaluation pending on the new hold-out",
        expires=NOW.date() + dt.timedelta(days=7),
        today=NOW.date(),
    )
    result = _gate(cat, ref)
    assert "baseline/evaluation-fresh" not in result.blocking
    assert any(n.startswith("waived baseline/evaluation-fresh (dave, until") for n in result.notes)
    before = counts(cat)
    recorded = _gate(cat, ref, record=True, stage="deploy")
    assert recorded.policy_run_id is not None
    after = counts(cat)
    assert after["PolicyRun"] == before["PolicyRun"] + 1
    assert audit_actions(cat)[-1] == "policy.gate"


# --- waivers ----------------------------------------------------------------------------------


def test_waiver_turns_a_failure_into_waived_until_it_expires(cat: Catalogue) -> None:
    ref = register(cat)
    store_evaluation(cat, ref, results_document(UNFAIR))
    first = checks.check_version(cat.ctx("bob"), ref, ["eeoc-four-fifths"], now=NOW)
    assert {o.rule_id: o.status for o in first.outcomes}["impact-ratio-practical"] == "fail"
    granted = waivers.grant_waiver(
        cat.ctx("dave"),
        ref,
        rule="eeoc-four-fifths/impact-ratio-practical",
        reason="retraining with reweighing; due in two weeks",
        expires=NOW.date() + dt.timedelta(days=5),
        today=NOW.date(),
    )
    assert (granted.granted_by, granted.granted_role, granted.active) == (
        "dave",
        "compliance",
        True,
    )
    within = checks.check_version(cat.ctx("bob"), ref, ["eeoc-four-fifths"], now=NOW)
    practical = next(o for o in within.outcomes if o.rule_id == "impact-ratio-practical")
    assert practical.status == "waived"
    later = checks.check_version(
        cat.ctx("bob"), ref, ["eeoc-four-fifths"], now=NOW + dt.timedelta(days=6)
    )
    practical = next(o for o in later.outcomes if o.rule_id == "impact-ratio-practical")
    assert practical.status == "fail"
    assert "expired on" in practical.message
    listed = waivers.list_waivers(cat.ctx("victor"), ref, today=NOW.date() + dt.timedelta(days=6))
    assert [(w.rule, w.active) for w in listed] == [
        ("eeoc-four-fifths/impact-ratio-practical", False)
    ]
    event = audit.audit_log(cat.ctx(), action="waiver.grant", limit=1)[0].to_json()
    assert event["payload"]["rule"] == "eeoc-four-fifths/impact-ratio-practical"
    assert event["payload"]["role"] == "compliance"


@pytest.mark.parametrize("user", ["carol", "admin"])
def test_approvers_and_admins_may_waive(cat: Catalogue, user: str) -> None:
    ref = register(cat)
    waiver = waivers.grant_waiver(
        cat.ctx(user),
        ref,
        rule="baseline/no-pickle",
        reason="legacy model, replaced next month",
        expires=NOW.date() + dt.timedelta(days=30),
        today=NOW.date(),
    )
    assert waiver.granted_by == user


@pytest.mark.parametrize("user", ["alice", "bob", "victor"])
def test_other_roles_may_not_waive_and_the_refusal_is_audited(cat: Catalogue, user: str) -> None:
    ref = register(cat)
    before = counts(cat)
    with pytest.raises(
        PermissionDenied, match="that needs the role admin or approver or compliance"
    ):
        waivers.grant_waiver(
            cat.ctx(user),
            ref,
            rule="baseline/no-pickle",
            reason="please let this one through",
            expires=NOW.date() + dt.timedelta(days=30),
            today=NOW.date(),
        )
    assert counts(cat)["Waiver"] == before["Waiver"]
    assert audit_actions(cat)[-1] == "waiver.grant.refused"


def test_the_requester_may_not_waive_their_own_version(cat: Catalogue) -> None:
    registered_by_admin = register(cat, user="admin")
    with pytest.raises(WorkflowError, match=r"admin registered credit-risk@1\.0\.0 and cannot"):
        waivers.grant_waiver(
            cat.ctx("admin"),
            registered_by_admin,
            rule="no-pickle",
            reason="my own model, trust me",
            expires=NOW.date() + dt.timedelta(days=3),
            today=NOW.date(),
        )
    submitted = register(cat, "1.1.0")
    add_decision(cat, submitted, "submit", "admin", "admin", at=NOW)
    with pytest.raises(WorkflowError, match=r"admin submitted credit-risk@1\.1\.0"):
        waivers.grant_waiver(
            cat.ctx("admin"),
            submitted,
            rule="no-pickle",
            reason="I submitted it myself",
            expires=NOW.date() + dt.timedelta(days=3),
            today=NOW.date(),
        )
    assert audit_actions(cat)[-1] == "waiver.grant.refused"


def test_waiver_input_is_checked(cat: Catalogue) -> None:
    ref = register(cat)
    before = counts(cat)

    def grant(**overrides: object) -> None:
        args: dict[str, object] = {
            "rule": "baseline/no-pickle",
            "reason": "a sound and long enough reason",
            "expires": NOW.date() + dt.timedelta(days=3),
            "today": NOW.date(),
        }
        args.update(overrides)
        waivers.grant_waiver(cat.ctx("dave"), ref, **args)  # type: ignore[arg-type]

    with pytest.raises(InputError, match="must be after today"):
        grant(expires=NOW.date())
    with pytest.raises(InputError, match=r"a waiver lasts at most 365 days .*by 2027-11-22"):
        grant(expires=dt.date(9999, 12, 31))
    with pytest.raises(InputError, match="at least 10 characters"):
        grant(reason="  ok  ")
    with pytest.raises(InputError, match="control characters"):
        grant(reason="a sound reason\x00 with a NUL in it")
    with pytest.raises(InputError, match="is not a rule id"):
        grant(rule="Baseline/No Pickle")
    with pytest.raises(InputError, match="no rule 'baseline/no-such-rule'"):
        grant(rule="baseline/no-such-rule")
    set_state(cat, ref, "retired")
    with pytest.raises(WorkflowError, match="retired and read-only"):
        grant()
    assert counts(cat)["Waiver"] == before["Waiver"]


def test_a_rule_from_a_recorded_run_may_be_waived(cat: Catalogue) -> None:
    ref = register(cat)
    custom = FIXTURES / "valid.yaml"
    checks.check_version(cat.ctx("bob"), ref, [str(custom)], now=NOW)
    waiver = waivers.grant_waiver(
        cat.ctx("dave"),
        ref,
        rule="my-org/four-fifths",
        reason="organisation-specific exception",
        expires=NOW.date() + dt.timedelta(days=3),
        today=NOW.date(),
    )
    assert waiver.rule == "my-org/four-fifths"


def test_latest_run_is_json_ready(cat: Catalogue) -> None:
    ref = register(cat)
    assert runs.latest_run(cat.ctx(), ref) is None
    checks.check_version(cat.ctx("bob"), ref, ["baseline"], now=NOW)
    run = runs.latest_run(cat.ctx("victor"), ref)
    assert run is not None
    json.dumps(run)
    assert {r["rule"] for r in run["results"]} >= {"no-pickle", "evaluation-fresh"}


def test_gate_with_no_bound_policy_lets_the_transition_through(cat: Catalogue) -> None:
    ref = register(cat)
    cat.configure(policy_bindings={})
    result = _gate(cat, ref, record=True)
    assert (result.passed, result.policies, result.policy_run_id) == (True, [], None)
    assert "no policy is bound" in result.notes[0]
