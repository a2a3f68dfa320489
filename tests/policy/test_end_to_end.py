"""The sample model evaluated by the real evaluation service, then checked: the figures the
policies judge are the ones the assessment engine stored."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from govern.errors import WorkflowError
from govern.policy.engine import check, evaluate
from govern.policy.loader import load_policies
from govern.services import checks, evaluation, subjects, waivers, workflow
from tests.builders import NOW, register
from tests.conftest import SAMPLE, Catalogue


def _evaluate(cat: Catalogue, version: str, artifacts: Path) -> str:
    ref = register(cat, version, artifact=artifacts / f"credit-risk-{version}.skops")
    evaluation.evaluate_version(
        cat.ctx("bob"),
        ref,
        data=SAMPLE / "credit_holdout.csv",
        target="credit",
        positive="1",
        sensitive=["sex", "age_group"],
        model=artifacts / f"credit-risk-{version}.skops",
    )
    return ref


def test_sample_versions_against_the_shipped_packs(
    sqlite_cat: Catalogue, sample_artifacts: Path
) -> None:
    logistic = _evaluate(sqlite_cat, "1.0.0", sample_artifacts)
    boosted = _evaluate(sqlite_cat, "1.1.0", sample_artifacts)

    bound = checks.check_version(sqlite_cat.ctx("bob"), logistic)
    assert [p.id for p in bound.policies] == ["baseline", "eu-ai-act-high-risk", "model-risk"]
    assert bound.exit_code == 0
    assert {o.status for o in bound.outcomes} == {"pass", "not-applicable", "manual"}

    report = checks.check_version(sqlite_cat.ctx("bob"), boosted, ["eeoc-four-fifths", "baseline"])
    by_id = {o.qualified_id: o for o in report.outcomes}
    significant = by_id["eeoc-four-fifths/impact-ratio-significant"]
    assert significant.status == "fail"
    [violation] = significant.evidence["violations"]
    assert (violation["grouping"], violation["group"], violation["n"]) == (
        "age_group",
        "under_25",
        55,
    )
    assert violation["value"] == pytest.approx(0.749, abs=5e-4)
    assert violation["p_value"] < 0.05
    assert by_id["baseline/no-pickle"].status == "pass"
    assert by_id["baseline/explanations-present"].status == "pass"
    assert report.exit_code == 1

    older = checks.check_version(sqlite_cat.ctx("bob"), logistic, ["eeoc-four-fifths"])
    assert older.exit_code == 0

    # A batch check of what the service stored gives the outcomes of evaluating every
    # version on its own.
    with sqlite_cat.ctx().db.read() as session:
        stored = subjects.snapshots_for(session)
    assert stored
    packs = load_policies(["eeoc-four-fifths", "baseline", "nyc-ll144", "eu-ai-act-high-risk"])
    batch = check(packs, stored, now=NOW)
    singly = [o for s in stored for o in evaluate(packs, s, now=NOW).outcomes]
    assert [o.to_json() for o in batch.outcomes] == [o.to_json() for o in singly]
    assert batch.exit_code == 1


def test_the_gate_refuses_approval_until_a_waiver(
    sqlite_cat: Catalogue, sample_artifacts: Path
) -> None:
    """The workflow calls gate.gate: a blocking bound rule stops approval until waived."""
    boosted = _evaluate(sqlite_cat, "1.1.0", sample_artifacts)
    sqlite_cat.configure(policy_bindings={"*": ["baseline", "eeoc-four-fifths"]})
    ctx = sqlite_cat.ctx

    workflow.submit(ctx("alice"), boosted, comment="ready")
    with pytest.raises(WorkflowError, match="eeoc-four-fifths/impact-ratio-significant"):
        workflow.approve(ctx("carol"), boosted, comment="ok")
    checks.check_version(ctx("carol"), boosted)
    waivers.grant_waiver(
        ctx("dave"),
        boosted,
        rule="eeoc-four-fifths/impact-ratio-significant",
        reason="young applicants reviewed by hand until the reweighed model ships",
        expires=dt.datetime.now(dt.UTC).date() + dt.timedelta(days=30),
    )
    approved = workflow.approve(ctx("carol"), boosted, comment="ok with the waiver")
    assert approved.action == "approve"
    assert any("waived eeoc-four-fifths/impact-ratio-significant" in n for n in approved.notes)
