"""Champion/challenger comparison and the promotion gate, on plain result documents."""

from __future__ import annotations

import pytest

from govern.domain.comparison import compare_results, regressions
from tests.builders import results_by_sex

GATE = {"accuracy": 0.02, "min_impact_ratio": 0.05, "demographic_parity_difference": 0.05}


def test_deltas_side_by_side() -> None:
    old = results_by_sex(accuracy=0.76, female_rate=0.72)
    new = results_by_sex(accuracy=0.80, female_rate=0.60)
    comparison = compare_results("m@1", old, "m@2", new)
    assert comparison.same_data and comparison.warnings == []
    accuracy = next(m for m in comparison.overall if m.metric == "accuracy")
    assert (accuracy.champion, accuracy.challenger) == (0.76, 0.80)
    assert accuracy.delta == pytest.approx(0.04)
    assert accuracy.worse_by == pytest.approx(-0.04)  # better, not worse
    female = [g for g in comparison.groups if g.group == "female"]
    rate = next(g for g in female if g.metric == "selection_rate")
    assert rate.delta == pytest.approx(-0.12)
    ratio = next(m for m in comparison.fairness if m.metric == "min_impact_ratio")
    assert ratio.worse_by == pytest.approx(0.9 - 0.75)
    as_json = comparison.to_json()
    assert as_json["overall"][0]["delta"] is not None


def test_gate_refuses_a_fairness_regression_even_when_accuracy_improves() -> None:
    old = results_by_sex(accuracy=0.76, female_rate=0.72)
    new = results_by_sex(accuracy=0.90, female_rate=0.50)
    reasons = regressions(compare_results("m@1", old, "m@2", new), GATE)
    assert len(reasons) == 2
    assert reasons[0].startswith("demographic_parity_difference for sex is 0.300")
    assert reasons[1].startswith("min_impact_ratio for sex is 0.625")


def test_gate_allows_changes_within_the_deltas() -> None:
    old = results_by_sex(accuracy=0.76, female_rate=0.72)
    new = results_by_sex(accuracy=0.75, female_rate=0.70)
    assert regressions(compare_results("m@1", old, "m@2", new), GATE) == []


def test_gate_refuses_accuracy_drop_beyond_delta() -> None:
    old = results_by_sex(accuracy=0.80, female_rate=0.72)
    new = results_by_sex(accuracy=0.77, female_rate=0.72)
    reasons = regressions(compare_results("m@1", old, "m@2", new), GATE)
    assert reasons == [
        "accuracy is 0.770 against the champion's 0.800 (worse by 0.030, allowed 0.02)"
    ]


def test_different_data_is_warned_about() -> None:
    old = results_by_sex(accuracy=0.76, female_rate=0.72, dataset="a" * 64)
    new = results_by_sex(accuracy=0.76, female_rate=0.72, dataset="b" * 64)
    comparison = compare_results("m@1", old, "m@2", new)
    assert not comparison.same_data
    assert "different data sets" in comparison.warnings[0]


def test_missing_groupings_are_named() -> None:
    old = results_by_sex(accuracy=0.76, female_rate=0.72)
    new = dict(results_by_sex(accuracy=0.76, female_rate=0.72), fairness=[])
    comparison = compare_results("m@1", old, "m@2", new)
    assert comparison.groups == []
    assert "only one of the two versions: sex" in comparison.warnings[0]
