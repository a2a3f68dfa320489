"""Approval and deployment re-run the version's bound policies (real evaluations, real packs):
a blocking failure refuses the transition by name until the evidence exists or a waiver holds."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import time_machine

from govern.domain.lifecycle import add_months
from govern.errors import WorkflowError
from govern.services import audit, catalogue, checks, evaluation, runs, waivers, workflow
from tests.conftest import SAMPLE, Catalogue, run_cli

REF = "credit-risk@1.1.0"


def _register_and_submit(cat: Catalogue, artifacts: Path) -> None:
    catalogue.register_version(
        cat.ctx("alice"),
        SAMPLE / "credit-risk-1.1.0.card.yaml",
        artifact=artifacts / "credit-risk-1.1.0.skops",
    )
    workflow.submit(cat.ctx("alice"), REF, comment="ready")


def _evaluate(cat: Catalogue) -> None:
    evaluation.evaluate_version(
        cat.ctx("bob"),
        REF,
        data=SAMPLE / "credit_holdout.csv",
        target="credit",
        positive="1",
        sensitive=["sex", "age_group"],
        id_column="applicant_id",
        explain_sample=200,
        seed=0,
    )


def test_approval_waits_for_evidence(cat: Catalogue, sample_artifacts: Path) -> None:
    _register_and_submit(cat, sample_artifacts)  # default bindings: baseline + card scopes
    with pytest.raises(WorkflowError) as refused:
        workflow.approve(cat.ctx("carol"), REF, comment="looks fine")
    assert refused.value.message.startswith(
        f"cannot approve {REF}: blocking policy rules failed without a waiver: "
    )
    assert "baseline/evaluation-fresh" in refused.value.message
    assert catalogue.show_version(cat.ctx(), REF).decisions[-1].action == "submit"
    [event] = audit.audit_log(cat.ctx(), action="version.approve.refused")
    assert "baseline/evaluation-fresh" in event.payload["reason"]

    _evaluate(cat)
    result = workflow.approve(cat.ctx("carol"), REF, comment="evidence in")
    assert result.approvals == "1 of 2 approvals"
    assert any(note.startswith("policy gate (approve)") for note in result.notes)
    # the gate's run is stored with the decision
    assert catalogue.show_version(cat.ctx(), REF).policy_runs


def test_failing_fairness_rule_blocks_until_waived(cat: Catalogue, sample_artifacts: Path) -> None:
    cat.configure(policy_bindings={"*": ["baseline", "eeoc-four-fifths"]})
    _register_and_submit(cat, sample_artifacts)
    _evaluate(cat)
    with pytest.raises(WorkflowError) as refused:
        workflow.approve(cat.ctx("carol"), REF)
    assert "eeoc-four-fifths/impact-ratio-significant" in refused.value.message
    assert "age_group=under_25" in refused.value.message

    expires = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=90)
    waivers.grant_waiver(
        cat.ctx("dave"),
        REF,
        rule="eeoc-four-fifths/impact-ratio-significant",
        reason="young applicants are re-scored by hand until the Q1 retrain",
        expires=expires,
    )
    first = workflow.approve(cat.ctx("carol"), REF, comment="waiver in place")
    second = workflow.approve(cat.ctx("erin"), REF, comment="agreed")
    assert (first.to_state, second.to_state) == ("submitted", "approved")
    runs = catalogue.show_version(cat.ctx(), REF).policy_runs
    assert len(runs) == 2  # one gate run per approval, each with its decision


def _card_due(tmp: Path, due: str) -> Path:
    """The 1.1.0 sample card with another planned validation date."""
    text = (SAMPLE / "credit-risk-1.1.0.card.yaml").read_text()
    assert "next_validation_due: 2027-09-01" in text
    card = tmp / f"card-due-{due}.yaml"
    card.write_text(text.replace("next_validation_due: 2027-09-01", f"next_validation_due: {due}"))
    return card


def test_approval_renews_a_lapsed_validation_date(
    cat: Catalogue, sample_artifacts: Path, tmp_path: Path
) -> None:
    """The card's date has passed: approval is the validation that sets the next one, so the
    approval gate leaves the date rules to deployment instead of refusing the renewal."""
    cat.configure(policy_bindings={"*": ["baseline", "model-risk"]})
    catalogue.register_version(
        cat.ctx("alice"),
        _card_due(tmp_path, "2020-01-31"),
        artifact=sample_artifacts / "credit-risk-1.1.0.skops",
    )
    workflow.submit(cat.ctx("alice"), REF, comment="ready")
    _evaluate(cat)
    before = checks.check_version(cat.ctx("bob"), REF, ["model-risk"], record=False)
    cadence = next(o for o in before.outcomes if o.rule_id == "review-cadence")
    assert (cadence.status, cadence.blocking) == ("fail", True)  # what blocked approval before

    workflow.approve(cat.ctx("carol"), REF, comment="validated")
    approved = workflow.approve(cat.ctx("erin"), REF, comment="agreed")
    today = dt.datetime.now(dt.UTC).date()
    assert approved.next_validation_due == add_months(today, 12)
    gate_run = runs.latest_run(cat.ctx("victor"), REF)  # stored with erin's approval
    assert gate_run is not None
    deferred = {r["rule"]: r for r in gate_run["results"] if r["policy"] == "model-risk"}
    assert deferred["review-cadence"]["status"] == "not-applicable"
    assert deferred["review-cadence"]["message"].startswith("this approval sets the next")
    deployed = workflow.deploy(cat.ctx("carol"), REF, comment="go")
    assert deployed.to_state == "deployed"
    after = checks.check_version(cat.ctx("bob"), REF, ["model-risk", "baseline"], record=False)
    statuses = {o.qualified_id: o.status for o in after.outcomes}
    assert statuses["model-risk/review-cadence"] == "pass"
    assert statuses["baseline/validation-not-overdue"] == "pass"


def test_an_expired_waiver_blocks_deployment_again(cat: Catalogue, sample_artifacts: Path) -> None:
    cat.configure(policy_bindings={"*": ["baseline", "eeoc-four-fifths"]})
    start = dt.datetime.now(dt.UTC)
    with time_machine.travel(start, tick=True):
        _register_and_submit(cat, sample_artifacts)
        _evaluate(cat)
        waivers.grant_waiver(
            cat.ctx("dave"),
            REF,
            rule="eeoc-four-fifths/impact-ratio-significant",
            reason="young applicants are re-scored by hand until the Q1 retrain",
            expires=start.date() + dt.timedelta(days=30),
        )
        workflow.approve(cat.ctx("carol"), REF, comment="waiver in place")
        assert workflow.approve(cat.ctx("erin"), REF, comment="agreed").to_state == "approved"
    with time_machine.travel(start + dt.timedelta(days=31), tick=True):
        with pytest.raises(WorkflowError) as refused:
            workflow.deploy(cat.ctx("carol"), REF, comment="go live")
        assert refused.value.message.startswith(
            f"cannot deploy {REF}: blocking policy rules failed without a waiver: "
            "eeoc-four-fifths/impact-ratio-significant ("
        )
        assert "expired on" in refused.value.message
        assert catalogue.show_version(cat.ctx("victor"), REF).state == "approved"
        [event] = audit.audit_log(cat.ctx("victor"), action="version.deploy.refused")
        assert (event.actor, event.payload["reason"]) == ("carol", refused.value.message)
        # a fresh waiver from someone entitled lets it through again
        waivers.grant_waiver(
            cat.ctx("erin"),
            REF,
            rule="eeoc-four-fifths/impact-ratio-significant",
            reason="re-scoring by hand extended for one more month",
            expires=(start + dt.timedelta(days=60)).date(),
        )
        assert workflow.deploy(cat.ctx("carol"), REF).to_state == "deployed"


def test_an_overdue_deployed_version_fails_its_policies_and_is_listed_as_due(
    cat: Catalogue, sample_artifacts: Path, tmp_path: Path
) -> None:
    """Built 13 months ago, checked today, as a user would: `govern due`, `govern check`."""
    cat.configure(policy_bindings={"*": ["baseline", "model-risk"]})
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    with time_machine.travel(past, tick=True):
        _register_and_submit(cat, sample_artifacts)
        _evaluate(cat)
        workflow.approve(cat.ctx("carol"), REF)
        approved = workflow.approve(cat.ctx("erin"), REF)
        workflow.deploy(cat.ctx("carol"), REF)
        assert workflow.due(cat.ctx("victor")) == []
    due_on = approved.next_validation_due
    assert due_on == add_months(past.date(), 12)
    late = (dt.datetime.now(dt.UTC).date() - due_on).days
    assert late > 0

    [item] = workflow.due(cat.ctx("victor"))
    assert (item.ref, item.state, item.status, item.days_left) == (
        REF,
        "deployed",
        "overdue",
        -late,
    )
    listed = run_cli("due", user="victor", db=cat.url, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert REF in listed.stdout and "OVERDUE" in listed.stdout

    checked = run_cli("check", REF, "--format", "json", user="bob", db=cat.url)
    assert checked.returncode == 1, checked.stderr  # a blocking rule failed
    results = {
        f"{o['policy']}/{o['rule']}": o
        for o in json.loads(checked.stdout)["subjects"][0]["results"]
    }
    assert results["model-risk/review-cadence"]["status"] == "fail"
    assert results["model-risk/review-cadence"]["message"] == (
        f"validation was due on {due_on} ({late} days ago)"
    )
    assert results["baseline/validation-not-overdue"]["status"] == "fail"
