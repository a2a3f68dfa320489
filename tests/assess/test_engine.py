"""Fairness, drift and association on hand-checked cases and on the real Adult sample."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from govern.assess.data import binary_predictions, binary_target, encode_feature, label_text
from govern.assess.drift import band, categorical_drift, numeric_drift, psi
from govern.assess.explain import association
from govern.assess.fairness import assess_fairness
from govern.assess.results import MISSING_GROUP, EvaluationResults
from govern.errors import DataError
from tests.conftest import DATA, SAMPLE


def _encode(values, name="g", max_groups=1000):
    return encode_feature(pd.Series(values), feature=name, max_groups=max_groups, where="t.csv")


def test_missing_sensitive_values_form_their_own_reported_group():
    values = ["f", "m", None, "f", np.nan, "m"]
    encoded = _encode(values)
    assert encoded.labels == ["f", "m", MISSING_GROUP]
    result = assess_fairness(
        np.array([1, 0, 1, 0, 1, 1], dtype=bool),
        np.array([1, 0, 1, 1, 0, 1], dtype=bool),
        [encoded],
        min_group_size=3,
    )
    missing = result.groupings[0].group(MISSING_GROUP)
    assert missing.n == 2
    assert missing.values == {"g": MISSING_GROUP}
    assert missing.metrics.selection_rate.value == 0.5


def test_single_class_group_is_undefined_with_a_reason_not_zero():
    groups = ["a"] * 4 + ["b"] * 4
    y_true = np.array([1, 0, 1, 0, 1, 1, 1, 1], dtype=bool)  # group b has no negatives
    y_pred = np.array([1, 0, 0, 0, 1, 0, 1, 1], dtype=bool)
    grouping = assess_fairness(y_true, y_pred, [_encode(groups)], min_group_size=1).groupings[0]
    b = grouping.group("b")
    assert b.metrics.fpr.value is None
    assert b.undefined["fpr"] == "no actual negatives in group"
    assert "undefined_metrics" in b.flags
    assert b.metrics.tpr.value == 0.75
    # equalized odds is computed over the groups where it is defined, and says so
    assert grouping.summary.equalized_odds_difference == pytest.approx(0.25)
    assert any("no actual negatives" in note for note in grouping.notes)


def test_no_selected_rows_makes_ratios_undefined():
    grouping = assess_fairness(
        np.array([1, 0, 1, 0], dtype=bool),
        np.zeros(4, dtype=bool),
        [_encode(["a", "a", "b", "b"])],
    ).groupings[0]
    assert grouping.summary.demographic_parity_difference == 0.0
    assert grouping.summary.demographic_parity_ratio is None
    assert "demographic_parity_ratio" in grouping.undefined
    assert all(g.impact_ratio is None for g in grouping.groups)
    assert all(g.metrics.precision.value is None for g in grouping.groups)


def test_small_groups_are_flagged_and_kept():
    groups = ["big"] * 50 + ["tiny"] * 3
    rng = np.random.default_rng(1)
    result = assess_fairness(
        rng.random(53) < 0.5, rng.random(53) < 0.5, [_encode(groups)], min_group_size=30
    )
    tiny = result.groupings[0].group("tiny")
    assert tiny.small and "small_group" in tiny.flags and tiny.n == 3
    assert tiny.test == "fisher-exact"
    assert any("below 30 rows" in w for w in result.warnings)


def test_scoring_rate_is_share_above_the_full_sample_median():
    score = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    groups = ["a", "a", "a", "a", "b", "b", "b", "a"]
    grouping = assess_fairness(
        np.ones(8, dtype=bool), score > 0.5, [_encode(groups)], score=score, min_group_size=1
    ).groupings[0]
    # median 0.45: a has 0.8 above (1 of 5), b has 0.5, 0.6, 0.7 (3 of 3)
    assert grouping.group("a").metrics.scoring_rate.value == pytest.approx(1 / 5)
    assert grouping.group("b").metrics.scoring_rate.value == 1.0
    assert grouping.summary.min_scoring_impact_ratio == pytest.approx(0.2)


def test_intersection_labels_and_values():
    grouping = assess_fairness(
        np.ones(4, dtype=bool),
        np.array([1, 1, 0, 1], dtype=bool),
        [_encode(["f", "m", "f", "m"], "sex"), _encode(["young", "young", "old", "old"], "age")],
    ).groupings[2]
    assert grouping.name == "sex*age" and grouping.kind == "intersection"
    assert [g.group for g in grouping.groups] == ["f, old", "f, young", "m, old", "m, young"]
    assert grouping.group("f, old").values == {"sex": "f", "age": "old"}
    assert grouping.group("f, old").impact_ratio == 0.0


def test_identifier_like_and_huge_sensitive_features_are_refused():
    with pytest.raises(DataError, match="more than 1,000 distinct values in its first 4,000 rows"):
        _encode(np.arange(100_000).astype(str), "customer", max_groups=1000)
    with pytest.raises(DataError, match="looks like an identifier"):
        _encode(np.arange(300), "applicant_id")


def test_labels_match_across_dtypes():
    assert label_text(1) == label_text(1.0) == label_text(np.int64(1)) == "1"
    assert label_text(0.5) == "0.5"
    target = binary_target(pd.Series([1.0, 2.0, 1.0], name="credit"), positive="1", where="t")
    assert target.y.tolist() == [True, False, True]
    predicted = binary_predictions(
        pd.Series(["1", "2", "2"]), rows=3, labels=target.labels, positive="1", source="p"
    )
    assert predicted.tolist() == [True, False, False]


def test_default_positive_label_for_a_zero_one_target_and_refusal_otherwise():
    assert binary_target(pd.Series([0, 1, 1], name="y"), positive=None, where="t").positive == "1"
    with pytest.raises(DataError, match="--positive"):
        binary_target(pd.Series(["good", "bad"], name="y"), positive=None, where="t")


def test_psi_bands_and_known_value():
    assert band(0.05) == "stable" and band(0.1) == "moderate" and band(0.3) == "significant"
    value = psi(np.array([50.0, 50.0]), np.array([25.0, 75.0]))
    expected = (0.25 - 0.5) * np.log(0.25 / 0.5) + (0.75 - 0.5) * np.log(0.75 / 0.5)
    assert value == pytest.approx(expected, abs=1e-15)
    assert psi(np.array([10.0, 0.0]), np.array([10.0, 0.0])) == 0.0


def test_numeric_drift_detects_a_shift_and_not_its_absence():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=5000)
    same = numeric_drift("x", reference, rng.normal(size=5000), bins=10)
    shifted = numeric_drift("x", reference, rng.normal(loc=1.0, size=5000), bins=10)
    assert same.band == "stable" and same.p_value > 0.01
    assert shifted.band == "significant" and shifted.p_value < 1e-10
    assert shifted.effect_size == pytest.approx(1.0, abs=0.1)  # one standard deviation
    with_nan = numeric_drift("x", np.array([1.0, np.nan, 2.0]), np.array([1.0, 2.0, 3.0]), bins=2)
    assert with_nan.missing_reference == 1


def test_categorical_drift_chi_square_and_cramers_v():
    reference = pd.Series(["a"] * 80 + ["b"] * 20)
    current = pd.Series(["a"] * 20 + ["b"] * 80)
    result = categorical_drift("c", reference, current)
    assert result.test == "chi-square" and result.p_value < 1e-10
    assert result.effect_size == pytest.approx(0.6)
    assert result.band == "significant"


def test_association_on_the_german_credit_proxies():
    frame = pd.read_csv(SAMPLE / "credit_holdout.csv")
    assert association(frame["personal_status"], frame["sex"]) == pytest.approx(1.0)
    assert association(frame["age"], frame["age_group"]) > 0.8
    assert association(frame["telephone"], frame["sex"]) < 0.3


def test_adult_sample_audit_by_sex_and_race():
    """Real data: the ground truth itself (income > 50K) by sex and race, as decisions."""
    frame = pd.read_csv(DATA / "adult_sample.csv")
    assert len(frame) == 5000
    y = (frame["income-per-year"] == ">50K").to_numpy()
    encoded = [
        encode_feature(frame["sex"], feature="sex", max_groups=1000, where="adult"),
        encode_feature(frame["race"], feature="race", max_groups=1000, where="adult"),
    ]
    result = assess_fairness(y, y, encoded, min_group_size=50)
    sex = result.groupings[0]
    assert sex.reference_group == "Male"
    female = sex.group("Female")
    assert female.impact_ratio < 0.5 and "adverse_impact" in female.flags
    assert female.p_value < 1e-10 and female.test == "z-test"
    assert female.metrics.selection_rate.lower < female.metrics.selection_rate.value
    race = result.groupings[1]
    assert {g.group for g in race.groups if g.small} == {"Amer-Indian-Eskimo", "Other"}
    # perfect decisions: equal odds hold exactly
    assert sex.summary.equalized_odds_difference == 0.0
    intersection = result.groupings[2]
    assert intersection.name == "sex*race" and len(intersection.groups) == 10
    document = EvaluationResults.model_validate(
        {
            "task": "binary_classification",
            "dataset": {"name": "adult", "sha256": "0" * 64, "rows": 5000, "columns": []},
            "target": "income-per-year",
            "sensitive_features": ["sex", "race"],
            "prediction_source": "predictions",
            "min_group_size": 50,
            "seed": 0,
            "packages": {},
            "performance": {"overall": {}},
            "fairness": [g.to_json() for g in result.groupings],
        }
    )
    assert document.grouping("sex").group("Female").flags == female.flags
