"""Every rule kind: pass, fail, not-applicable and error, on stored-shape evidence."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from govern.errors import PolicyError
from govern.policy.engine import evaluate
from govern.policy.judging import Deferred
from govern.policy.kinds import KINDS
from govern.policy.kinds.validation_due import add_months
from govern.policy.outcomes import RuleOutcome
from govern.policy.schema import RULE_KINDS
from govern.policy.snapshot import (
    ChampionEvidence,
    DecisionRecord,
    DriftEvidence,
    SubjectSnapshot,
)
from tests.builders import NOW, explanations, grouping, results_document
from tests.policy.helpers import evaluation, policy, sample_card, snapshot


def outcome(rule: dict[str, Any], subject: SubjectSnapshot | None = None) -> RuleOutcome:
    result = evaluate([policy(rule)], subject or snapshot(), now=NOW)
    assert len(result.outcomes) == 1
    return result.outcomes[0]


def test_every_rule_kind_has_a_function() -> None:
    assert set(KINDS) == set(RULE_KINDS)


# --- card -----------------------------------------------------------------------------------


def test_card_passes_on_the_complete_sample_card() -> None:
    got = outcome({"kind": "card", "fields": ["model_details.description", "governance.owner"]})
    assert (got.status, got.evidence["checked"]) == ("pass", 2)


def test_card_fails_naming_missing_and_short_fields() -> None:
    card = sample_card()
    card["caveats_and_recommendations"] = []
    card["model_details"]["description"] = "Short."
    got = outcome(
        {
            "kind": "card",
            "fields": ["caveats_and_recommendations", "model_details.description"],
            "min_chars": 20,
        },
        snapshot(card=card),
    )
    assert got.status == "fail"
    assert got.evidence["missing"] == ["caveats_and_recommendations"]
    assert got.evidence["short"] == [
        {"field": "model_details.description", "problem": "6 characters, needs at least 20"}
    ]
    assert "caveats_and_recommendations is missing" in got.message


def test_card_list_items_are_checked_one_by_one() -> None:
    card = sample_card()
    card["ethical_considerations"][1]["mitigation"] = ""
    got = outcome(
        {"kind": "card", "fields": ["ethical_considerations[].mitigation"]}, snapshot(card=card)
    )
    assert got.status == "fail"
    assert got.evidence["missing"] == ["ethical_considerations[1].mitigation"]


def test_card_missing_section_with_list_path() -> None:
    card = sample_card()
    del card["training_data"]
    got = outcome(
        {"kind": "card", "fields": ["training_data.datasets[].source"]}, snapshot(card=card)
    )
    assert got.evidence["missing"] == ["training_data.datasets"]


# --- performance ----------------------------------------------------------------------------


def test_performance_overall_pass_and_fail() -> None:
    assert outcome({"kind": "performance", "metric": "accuracy", "min": 0.7}).status == "pass"
    failed = outcome({"kind": "performance", "metric": "roc_auc", "min": 0.9})
    assert failed.status == "fail"
    assert failed.message == "overall: roc_auc 0.78 is not >= 0.9"


def test_performance_per_group_skips_small_groups() -> None:
    doc = results_document(
        [grouping("sex", {"female": (10, 20), "male": (60, 180)}, total=200)],
        by_group={"sex": {"female": {"accuracy": 0.5}, "male": {"accuracy": 0.81}}},
    )
    rule = {"kind": "performance", "metric": "accuracy", "scope": "groups", "min": 0.7}
    small_skipped = outcome(rule, snapshot(evaluation_=evaluation(doc)))
    assert small_skipped.status == "pass"
    assert small_skipped.evidence["too_small"] == [{"grouping": "sex", "group": "female", "n": 20}]
    judged = outcome({**rule, "min_group_size": 10}, snapshot(evaluation_=evaluation(doc)))
    assert judged.status == "fail"
    assert judged.evidence["violations"] == [
        {"scope": "sex", "group": "female", "value": 0.5, "n": 20}
    ]


def test_performance_missing_metric_follows_if_missing() -> None:
    rule = {"kind": "performance", "metric": "rmse", "max": 1.0}
    assert outcome(rule).status == "error"
    assert outcome({**rule, "if_missing": "not-applicable"}).status == "not-applicable"
    assert outcome({**rule, "if_missing": "fail"}).status == "fail"


def test_performance_without_evaluation_is_an_error() -> None:
    got = outcome(
        {"kind": "performance", "metric": "accuracy", "min": 0.5}, snapshot(evaluation_=None)
    )
    assert got.status == "error"
    assert "no evaluation on record" in got.message


# --- fairness -------------------------------------------------------------------------------

FOUR_FIFTHS = {"kind": "fairness", "metric": "impact_ratio", "min": 0.8}


def test_fairness_fails_below_four_fifths_and_names_the_group() -> None:
    got = outcome(FOUR_FIFTHS)
    assert got.status == "fail"
    assert got.evidence["violations"][0]["group"] == "female"
    assert got.evidence["violations"][0]["value"] == pytest.approx(40 / 60)
    assert got.message.startswith("sex=female: impact_ratio 0.667 (n=100")


def test_fairness_passes_when_every_ratio_is_high_enough() -> None:
    doc = results_document([grouping("sex", {"female": (55, 100), "male": (60, 100)}, total=200)])
    got = outcome(FOUR_FIFTHS, snapshot(evaluation_=evaluation(doc)))
    assert got.status == "pass"
    assert got.evidence["groups_judged"] == 2


def test_fairness_significance_spares_a_disparity_that_is_not_significant() -> None:
    def with_p(p: float) -> SubjectSnapshot:
        doc = results_document(
            [
                grouping(
                    "sex",
                    {"female": (40, 100), "male": (60, 100)},
                    total=200,
                    p_values={"female": p},
                )
            ]
        )
        return snapshot(evaluation_=evaluation(doc))

    rule = {**FOUR_FIFTHS, "significance": 0.05}
    spared = outcome(rule, with_p(0.2))
    assert spared.status == "pass"
    assert [r["group"] for r in spared.evidence["not_significant"]] == ["female"]
    assert outcome(rule, with_p(0.004)).status == "fail"


def test_fairness_min_share_excludes_tiny_categories_and_recomputes_ratios() -> None:
    doc = results_document(
        [
            grouping(
                "race_ethnicity",
                {"a": (90, 100), "b": (50, 100), "c": (2, 2)},
                total=202,
                min_group_size=1,
            )
        ],
        min_group_size=1,
    )
    subject = snapshot(evaluation_=evaluation(doc))
    rule = {**FOUR_FIFTHS, "features": ["race_ethnicity"], "min_group_size": 1}
    # c (1% of the data, selection rate 1.0) is the stored reference: b's ratio is 0.5
    assert outcome(rule, subject).evidence["violations"][0]["value"] == pytest.approx(0.5)
    excluded = outcome({**rule, "min_share": 0.02}, subject)
    assert excluded.evidence["excluded_under_share"] == [
        {"grouping": "race_ethnicity", "group": "c"}
    ]
    assert excluded.evidence["violations"][0]["value"] == pytest.approx(0.5 / 0.9)


def test_fairness_exclude_unknown_leaves_the_unknown_category_out_of_the_ratios() -> None:
    """6 RCNY §5-301: individuals in an unknown category are counted, not used in ratios."""

    def subject(female: int, p: float) -> SubjectSnapshot:
        doc = results_document(
            [
                grouping(
                    "sex",
                    {"female": (female, 100), "male": (50, 100), "(missing)": (45, 50)},
                    total=250,
                    p_values={"female": p, "male": p},
                )
            ]
        )
        return snapshot(evaluation_=evaluation(doc))

    # Stored, the unknown category (rate 0.9) is the reference: both sexes look adverse.
    stored = outcome(FOUR_FIFTHS, subject(45, 0.001))
    assert {v["group"] for v in stored.evidence["violations"]} == {"female", "male"}
    rule = {**FOUR_FIFTHS, "exclude_unknown": True}
    fair = outcome(rule, subject(45, 0.001))
    assert fair.status == "pass"  # against male (0.5), female's 0.45 is 0.9
    assert fair.evidence["excluded_unknown"] == [{"grouping": "sex", "group": "(missing)", "n": 50}]
    unfair = outcome(rule, subject(35, 0.001))
    [violation] = unfair.evidence["violations"]
    assert (violation["group"], violation["value"]) == ("female", pytest.approx(0.7))
    # The stored p-values compare with the unknown group, which is no longer the reference.
    assert "p_value" not in violation
    assert unfair.evidence["p_values_not_applicable"] == ["sex"]
    # So significance cannot spare the shortfall: a p of 0.9 against the wrong group is moot.
    strict = outcome({**rule, "significance": 0.05}, subject(35, 0.9))
    assert strict.status == "fail"
    assert strict.message == "sex=female: impact_ratio 0.7 (n=100) is not >= 0.8"


def _races(p: float = 0.001) -> SubjectSnapshot:
    """COMPAS-like: a tiny most-selected group is the stored reference (as govern once chose)."""
    doc = results_document(
        [
            grouping(
                "race",
                {"African-American": (576, 1000), "Caucasian": (331, 1000), "Native": (8, 11)},
                total=2011,
                p_values={"African-American": p, "Caucasian": p},
                min_group_size=1,
            )
        ],
        min_group_size=1,
    )
    return snapshot(evaluation_=evaluation(doc))


def test_fairness_reference_recomputes_ratios_against_the_named_group() -> None:
    rule = {**FOUR_FIFTHS, "features": ["race"], "min_group_size": 1}
    stored = outcome(rule, _races())
    # Stored, the 11-row group is the reference: African-American's 0.576 is 0.79 of 0.727.
    assert {v["group"] for v in stored.evidence["violations"]} == {"African-American", "Caucasian"}
    assert "references" not in stored.evidence
    chosen = outcome({**rule, "reference": {"race": "African-American"}}, _races())
    [violation] = chosen.evidence["violations"]
    assert violation["group"] == "Caucasian"
    assert violation["value"] == pytest.approx(0.331 / 0.576)
    assert chosen.evidence["references"] == [
        {"grouping": "race", "group": "African-American", "reason": "set by policy rule rule-0"}
    ]
    # The stored p-values test against the stored reference (Native), not this one.
    assert "p_value" not in violation
    assert chosen.evidence["p_values_not_applicable"] == ["race"]
    # Against Caucasian every ratio is at least 1: the rule passes.
    assert outcome({**rule, "reference": {"race": "Caucasian"}}, _races()).status == "pass"


def test_fairness_reference_that_is_the_stored_one_keeps_its_p_values() -> None:
    rule = {**FOUR_FIFTHS, "features": ["race"], "min_group_size": 1, "significance": 0.05}
    same = outcome({**rule, "reference": {"race": "Native"}}, _races(p=0.5))
    assert same.status == "pass"  # below 0.8 but not significant against Native
    assert len(same.evidence["not_significant"]) == 2


def test_fairness_reference_to_an_absent_group_is_an_error_naming_the_groups() -> None:
    got = outcome({**FOUR_FIFTHS, "features": ["race"], "reference": {"race": "Martian"}}, _races())
    assert got.status == "error"
    assert got.message == (
        "reference race=Martian is not a group of the evaluation (its groups: "
        "African-American, Caucasian, Native); set by rule rule-0"
    )


def test_fairness_reference_of_an_intersection_is_the_combination() -> None:
    doc = results_document(
        [
            grouping(
                "sex*age",
                {"f, old": (40, 100), "f, young": (20, 100), "m, old": (50, 100)},
                total=300,
            )
        ]
    )
    subject = snapshot(evaluation_=evaluation(doc))
    rule = {**FOUR_FIFTHS, "groupings": "intersection", "reference": {"sex": "f", "age": "old"}}
    got = outcome(rule, subject)
    [violation] = got.evidence["violations"]
    assert (violation["group"], violation["value"]) == ("f, young", pytest.approx(0.5))
    assert got.evidence["references"][0]["group"] == "f, old"
    # A reference naming only one feature leaves the intersection to its stored reference.
    partial = outcome({**rule, "reference": {"sex": "f"}}, subject)
    assert partial.evidence["references"] == [
        {"grouping": "sex*age", "group": "m, old", "reason": "as stored with the evaluation"}
    ]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"metric": "tpr"}, "reference cannot apply to tpr"),
        ({"features": ["sex"]}, "reference names race, which is not among the rule's features"),
        ({"reference": {}}, "reference names no feature"),
    ],
)
def test_fairness_reference_that_cannot_apply_is_refused(
    extra: dict[str, Any], message: str
) -> None:
    with pytest.raises(PolicyError, match=r"test-policy\.yaml:6:3: rules\[0\]: ") as refused:
        policy({**FOUR_FIFTHS, "reference": {"race": "Caucasian"}, **extra})
    assert message in str(refused.value)


def test_p_values_are_quoted_only_for_the_selection_rate_they_test() -> None:
    doc = results_document(
        [
            grouping(
                "sex",
                {"female": (40, 100), "male": (60, 100)},
                total=200,
                p_values={"female": 0.01},
                scored={"female": 30, "male": 60},
            )
        ]
    )
    subject = snapshot(evaluation_=evaluation(doc))
    ratio = outcome(FOUR_FIFTHS, subject)
    assert ratio.evidence["violations"][0]["p_value"] == 0.01
    scoring = outcome({**FOUR_FIFTHS, "metric": "scoring_impact_ratio"}, subject)
    assert scoring.status == "fail" and "p=" not in scoring.message
    assert "p_value" not in scoring.evidence["violations"][0]


def test_fairness_intersections_only() -> None:
    doc = results_document(
        [
            grouping("sex", {"female": (50, 100), "male": (55, 100)}, total=200),
            grouping("age", {"young": (50, 100), "old": (55, 100)}, total=200),
            grouping(
                "sex*age",
                {
                    "female, young": (10, 50),
                    "female, old": (40, 50),
                    "male, young": (40, 50),
                    "male, old": (15, 50),
                },
                total=200,
            ),
        ]
    )
    subject = snapshot(evaluation_=evaluation(doc))
    assert outcome(FOUR_FIFTHS, subject).status == "pass"
    crossed = outcome({**FOUR_FIFTHS, "groupings": "intersection"}, subject)
    assert crossed.status == "fail"
    assert {v["group"] for v in crossed.evidence["violations"]} == {"female, young", "male, old"}
    assert crossed.evidence["groupings"] == ["sex*age"]


def test_fairness_summary_metric() -> None:
    got = outcome({"kind": "fairness", "metric": "demographic_parity_difference", "max": 0.1})
    assert got.status == "fail"
    assert got.evidence["violations"] == [{"grouping": "sex", "value": pytest.approx(0.2)}]


def test_fairness_feature_not_evaluated_follows_if_missing() -> None:
    rule = {**FOUR_FIFTHS, "features": ["race"]}
    got = outcome(rule)
    assert got.status == "error"
    assert got.message == (
        "race was not evaluated; evaluate with --sensitive race; if the data calls it "
        "otherwise, map it with --category race=COLUMN or `categories:` in the policy binding"
    )
    assert outcome({**rule, "if_missing": "fail"}).status == "fail"
    assert outcome({**rule, "if_missing": "not-applicable"}).status == "not-applicable"


def test_fairness_all_groups_too_small_is_an_error() -> None:
    doc = results_document([grouping("sex", {"female": (4, 10), "male": (6, 10)}, total=20)])
    got = outcome(FOUR_FIFTHS, snapshot(evaluation_=evaluation(doc)))
    assert got.status == "error"
    assert "no group could be judged" in got.message


def test_fairness_scoring_impact_ratio_without_scores_is_missing_evidence() -> None:
    rule = {
        "kind": "fairness",
        "metric": "scoring_impact_ratio",
        "min": 0.8,
        "if_missing": "not-applicable",
    }
    assert outcome(rule).status == "not-applicable"
    doc = results_document(
        [
            grouping(
                "sex",
                {"female": (40, 100), "male": (60, 100)},
                total=200,
                scored={"female": 30, "male": 60},
            )
        ]
    )
    scored = outcome(rule, snapshot(evaluation_=evaluation(doc)))
    assert scored.status == "fail"
    assert scored.evidence["violations"][0]["value"] == pytest.approx(0.5)


# --- explanations ---------------------------------------------------------------------------


def test_explanation_required_but_absent_fails() -> None:
    got = outcome({"kind": "explanation"})
    assert got.status == "fail"
    assert outcome({"kind": "explanation", "require": False}).status == "not-applicable"


def test_explanation_top_k_catches_sensitive_features_and_flagged_proxies() -> None:
    doc = results_document(
        explanations=explanations(
            ["status", "cat__sex_female", "month", "zip_code"],
            flags=[{"feature": "zip_code", "reason": "associated with race (V=0.6)"}],
        )
    )
    subject = snapshot(evaluation_=evaluation(doc))
    assert outcome({"kind": "explanation", "top_k": 1}, subject).status == "pass"
    got = outcome({"kind": "explanation", "top_k": 4}, subject)
    assert got.status == "fail"
    assert [h["feature"] for h in got.evidence["hits"]] == ["cat__sex_female", "zip_code"]
    assert outcome({"kind": "explanation", "top_k": 4, "use_flags": False}, subject).evidence[
        "hits"
    ] == [{"feature": "cat__sex_female", "rank": 2, "sensitive": "sex"}]


# --- drift ----------------------------------------------------------------------------------


def _drift(age_days: int, psi: float) -> DriftEvidence:
    return DriftEvidence(
        results={
            "features": [
                {"feature": "age", "psi": psi, "p_value": 0.5},
                {"feature": "amount", "psi": 0.01},
            ]
        },
        created_at=NOW - dt.timedelta(days=age_days),
        id=3,
    )


def test_drift_pass_fail_and_age() -> None:
    rule = {"kind": "drift", "max_psi": 0.25, "max_age_days": 90}
    assert outcome(rule, snapshot(drift=_drift(5, 0.05))).status == "pass"
    drifted = outcome(rule, snapshot(drift=_drift(5, 0.4)))
    assert drifted.status == "fail"
    assert drifted.evidence["drifted"] == [{"feature": "age", "psi": 0.4, "p_value": 0.5}]
    stale = outcome(rule, snapshot(drift=_drift(120, 0.05)))
    assert stale.message == "the latest drift run is 120 days old (limit 90)"


def test_drift_missing_and_stateless() -> None:
    rule = {"kind": "drift", "max_psi": 0.25}
    assert outcome(rule).status == "fail"
    assert outcome({**rule, "if_missing": "not-applicable"}).status == "not-applicable"
    assert outcome(rule, snapshot(stateless=True)).status == "not-applicable"


# --- freshness ------------------------------------------------------------------------------


def test_freshness() -> None:
    rule = {"kind": "freshness", "max_age_days": 30}
    assert outcome(rule).status == "pass"
    old = outcome(rule, snapshot(evaluation_=evaluation(age_days=45)))
    assert (old.status, old.evidence["age_days"]) == ("fail", 45)
    assert outcome(rule, snapshot(evaluation_=None)).status == "fail"
    other_artifact = outcome(rule, snapshot(artifact_sha256="b" * 64))
    assert "is not the registered" in other_artifact.message
    pinned = outcome({**rule, "dataset_sha256": "e" * 64})
    assert "not the pinned" in pinned.message


# --- approvals ------------------------------------------------------------------------------


def _decisions(*pairs: tuple[str, str, str]) -> tuple[DecisionRecord, ...]:
    return tuple(
        DecisionRecord(action=a, actor=who, role=role, created_at=NOW - dt.timedelta(hours=10 - i))
        for i, (a, who, role) in enumerate(pairs)
    )


def test_approvals_counted_since_the_last_submission() -> None:
    rule = {"kind": "approvals", "min_approvals": 2}
    decisions = _decisions(
        ("submit", "alice", "developer"),
        ("approve", "carol", "approver"),
        ("request_changes", "bob", "validator"),
        ("submit", "alice", "developer"),
        ("approve", "erin", "approver"),
        ("approve", "dave", "compliance"),
    )
    got = outcome(rule, snapshot(decisions=decisions, submitter="alice"))
    assert got.status == "pass"
    assert [c["actor"] for c in got.evidence["counted"]] == ["erin", "dave"]
    short = outcome(rule, snapshot(decisions=decisions[:5], submitter="alice"))
    assert (short.status, short.message) == ("fail", "1 of 2 required approvals")


def test_approvals_separation_of_duties_and_roles() -> None:
    decisions = _decisions(
        ("submit", "alice", "developer"),
        ("approve", "alice", "approver"),
        ("approve", "victor", "viewer"),
        ("approve", "carol", "approver"),
    )
    got = outcome(
        {"kind": "approvals", "min_approvals": 1}, snapshot(decisions=decisions, submitter="alice")
    )
    assert got.status == "fail"
    assert "separation of duties broken: alice approved" in got.message
    reasons = {i["actor"]: i["why"] for i in got.evidence["ignored"]}
    assert reasons == {
        "alice": "submitted or created this version",
        "victor": "role viewer does not count",
    }
    by_tier = outcome(
        {
            "kind": "approvals",
            "min_approvals_by_tier": {"high": 2},
            "required_roles": ["compliance"],
        },
        snapshot(decisions=decisions[2:], submitter="alice"),
    )
    assert by_tier.message == "1 of 2 required approvals; no approval from a compliance"
    two = _decisions(
        ("submit", "alice", "developer"),
        ("approve", "carol", "approver"),
        ("approve", "erin", "approver"),
    )
    more = outcome(
        {"kind": "approvals", "min_approvals": 1}, snapshot(decisions=two, submitter="alice")
    )
    assert (more.status, more.message) == (
        "pass",
        "2 approvals (1 needed): carol (approver), erin (approver)",
    )


def test_approvals_not_applicable_when_stateless_or_out_of_state() -> None:
    rule = {"kind": "approvals", "when": {"states": ["approved", "deployed"]}}
    assert outcome(rule).status == "not-applicable"
    assert outcome({"kind": "approvals"}, snapshot(stateless=True)).status == "not-applicable"


# --- validation due -------------------------------------------------------------------------


def test_validation_due() -> None:
    rule = {"kind": "validation_due"}
    assert outcome(rule).status == "pass"  # the sample card: 2027-09-01
    overdue = outcome(rule, snapshot(next_validation_due=dt.date(2026, 11, 1)))
    assert overdue.message == "validation was due on 2026-11-01 (21 days ago)"
    assert outcome(rule, snapshot(next_validation_due=None)).status == "fail"
    assert outcome({**rule, "require_date": False}, snapshot(next_validation_due=None)).status == (
        "not-applicable"
    )
    cadence = {**rule, "max_months_by_tier": {"high": 6}}
    too_late = outcome(cadence)
    assert too_late.status == "fail"
    assert too_late.evidence["latest_allowed"] == "2027-05-12"  # 10-day-old evaluation + 6 months


def test_cadence_counts_from_the_latest_approval() -> None:
    # evaluated ten days ago, approved today: the workflow scheduled the next validation a
    # year from the approval, which is within the cadence
    rule = {"kind": "validation_due", "max_months_by_tier": {"high": 12}}
    approved = _decisions(("approve", "carol", "approver"))
    due = add_months(NOW.date(), 12)
    result = outcome(rule, snapshot(next_validation_due=due, decisions=approved))
    assert result.status == "pass"
    assert result.evidence["last_validation"] == approved[0].created_at.date().isoformat()
    # without the approval the same date is beyond the cadence of the evaluation
    assert outcome(rule, snapshot(next_validation_due=due)).status == "fail"


def test_add_months_clamps_the_day() -> None:
    assert add_months(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)
    assert add_months(dt.date(2026, 11, 30), 3) == dt.date(2027, 2, 28)


# --- artifact -------------------------------------------------------------------------------


def test_artifact_format() -> None:
    rule = {"kind": "artifact"}
    assert outcome(rule).status == "pass"
    assert outcome(rule, snapshot(artifact_format="pickle")).message == (
        "artifact format pickle is not allowed (allowed: skops, onnx)"
    )
    assert outcome(rule, snapshot(artifact_format=None)).status == "not-applicable"
    assert (
        outcome({**rule, "require_artifact": True}, snapshot(artifact_format=None)).status == "fail"
    )


# --- champion -------------------------------------------------------------------------------


def _champion(accuracy: float, female: tuple[int, int] = (55, 100)) -> ChampionEvidence:
    doc = results_document(
        [grouping("sex", {"female": female, "male": (60, 100)}, total=200)],
        overall={"accuracy": accuracy, "roc_auc": 0.8},
    )
    return ChampionEvidence(ref="credit-risk@0.9.0", evaluation=evaluation(doc))


CHAMPION_RULE = {
    "kind": "champion",
    "metrics": [
        {"metric": "accuracy", "max_regression": 0.02},
        {"metric": "min_impact_ratio", "max_regression": 0.05},
    ],
}


def test_champion_fairness_regression_fails_even_when_accuracy_is_better() -> None:
    got = outcome(CHAMPION_RULE, snapshot(champion=_champion(0.79)))
    assert got.status == "fail"
    assert got.message.startswith("min_impact_ratio (sex) 0.667 vs champion 0.917")
    metrics = {m["metric"]: m for m in got.evidence["metrics"]}
    assert metrics["accuracy"]["worse_by"] == pytest.approx(-0.01)


def test_champion_pass_and_not_applicable() -> None:
    assert outcome(CHAMPION_RULE, snapshot(champion=_champion(0.8, (40, 100)))).status == "pass"
    assert outcome(CHAMPION_RULE).status == "not-applicable"
    deployed = snapshot(champion=_champion(0.8), state="deployed")
    assert outcome(CHAMPION_RULE, deployed).status == "not-applicable"


def test_champion_without_evidence_is_an_error() -> None:
    missing = ChampionEvidence(ref="credit-risk@0.9.0", evaluation=None)
    assert outcome(CHAMPION_RULE, snapshot(champion=missing)).status == "error"
    same_data = snapshot(champion=_champion(0.8, (40, 100)))
    got = outcome({**CHAMPION_RULE, "require_same_data": True}, same_data)
    assert (got.status, got.evidence["same_data"]) == ("pass", True)
    doc = results_document(dataset_sha256="f" * 64)
    got = outcome(
        {**CHAMPION_RULE, "require_same_data": True},
        snapshot(champion=_champion(0.8), evaluation_=evaluation(doc)),
    )
    assert (got.status, got.evidence["same_data"]) == ("error", False)


# --- disclosure -----------------------------------------------------------------------------


def test_disclosure_reports_unknowns_and_small_categories() -> None:
    doc = results_document(
        [grouping("sex", {"female": (40, 100), "male": (60, 97), "(missing)": (1, 3)}, total=200)]
    )
    got = outcome(
        {"kind": "disclosure", "features": ["sex"]}, snapshot(evaluation_=evaluation(doc))
    )
    assert got.status == "pass"
    assert got.message == "sex: 3 categories, 3 unknown, 1 under 2%"
    assert got.evidence["groupings"]["sex"]["under_share"] == [
        {"group": "(missing)", "n": 3, "share": 0.015}
    ]


def test_disclosure_gathers_its_counts_once_and_only_when_its_evidence_is_read() -> None:
    gathered: list[int] = []

    def gather() -> dict[str, Any]:
        gathered.append(1)
        return {"groupings": {}, "small_share": 0.02}

    facts = Deferred(gather)
    assert gathered == []  # a check that reads only statuses never gathers
    assert facts == {"groupings": {}, "small_share": 0.02} and len(facts) == 2
    assert dict(facts) == {"groupings": {}, "small_share": 0.02} and facts["small_share"] == 0.02
    assert gathered == [1]
    doc = results_document(
        [grouping("sex", {"female": (40, 100), "male": (60, 97), "(missing)": (1, 3)}, total=200)]
    )
    rule = {"kind": "disclosure", "features": ["sex"]}
    subject = snapshot(evaluation_=evaluation(doc))
    result = evaluate([policy(rule)], subject, now=NOW)
    assert result.statuses == ("pass",)
    (got,) = result.outcomes
    assert json.loads(json.dumps(dict(got.evidence))) == {
        "groupings": {
            "sex": {
                "categories": [
                    {"group": "female", "n": 100, "share": 0.5},
                    {"group": "male", "n": 97, "share": 0.485},
                    {"group": "(missing)", "n": 3, "share": 0.015},
                ],
                "unknown": 3,
                "under_share": [{"group": "(missing)", "n": 3, "share": 0.015}],
            }
        },
        "not_evaluated": [],
        "small_share": 0.02,
    }


def test_disclosure_fails_for_a_feature_that_was_not_evaluated() -> None:
    got = outcome({"kind": "disclosure", "features": ["sex", "race_ethnicity"]})
    assert (got.status, got.evidence["not_evaluated"]) == ("fail", ["race_ethnicity"])
    assert outcome({"kind": "disclosure"}, snapshot(evaluation_=None)).status == "fail"


# --- broken evidence ------------------------------------------------------------------------


def test_evidence_of_an_unexpected_shape_is_an_error_not_a_crash() -> None:
    broken = evaluation(results_document())
    doc = dict(broken.results)
    doc["fairness"] = [{"name": "sex", "groups": [{"group": "f", "n": "many"}]}]
    got = outcome(FOUR_FIFTHS, snapshot(evaluation_=evaluation(doc)))
    assert got.status == "error"
    assert got.message == (
        "results not in govern's shape: fairness[0].groups[0].n is text, not an integer"
    )
    assert got.evidence == {"problem": "fairness[0].groups[0].n is text, not an integer"}
