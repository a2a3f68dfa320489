"""Approval and deployment re-run the version's bound policies (real evaluations, real packs):
a blocking failure refuses the transition by name until the evidence exists or a waiver holds."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from govern.errors import WorkflowError
from govern.services import audit, catalogue, evaluation, waivers, workflow
from tests.conftest import SAMPLE, Catalogue

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
