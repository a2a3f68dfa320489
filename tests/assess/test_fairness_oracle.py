"""The engine's figures equal fairlearn's (and scipy's, scikit-learn's) on random inputs.

fairlearn is the oracle: MetricFrame by group, demographic_parity_* and equalized_odds_*,
for single features and intersections, to 1e-12.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    count,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    mean_absolute_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
)

from govern.assess.data import encode_feature
from govern.assess.fairness import assess_fairness, proportion_tests, wilson
from govern.assess.performance import (
    classification_performance,
    regression_metrics,
    roc_auc,
    row_group_codes,
)
from govern.assess.results import MISSING_GROUP

TOL = 1e-12


def _precision(y_true, y_pred):
    return precision_score(y_true, y_pred, zero_division=0)


def _accuracy(y_true, y_pred):
    return accuracy_score(y_true, y_pred)


FAIRLEARN_METRICS = {
    "selection_rate": selection_rate,
    "tpr": true_positive_rate,
    "fpr": false_positive_rate,
    "fnr": false_negative_rate,
    "precision": _precision,
    "accuracy": _accuracy,
    "count": count,
}


@st.composite
def audits(draw):
    n = draw(st.integers(min_value=20, max_value=400))
    seed = draw(st.integers(min_value=0, max_value=2**32 - 1))
    rng = np.random.default_rng(seed)
    groups_a = draw(st.integers(min_value=2, max_value=3))
    groups_b = draw(st.integers(min_value=2, max_value=5))
    base = draw(st.floats(min_value=0.1, max_value=0.9))
    a = rng.choice([f"a{i}" for i in range(groups_a)], n)
    b = rng.choice([f"b{i}" for i in range(groups_b)], n)
    y_true = rng.random(n) < base
    y_pred = rng.random(n) < draw(st.floats(min_value=0.1, max_value=0.9))
    return y_true, y_pred, a, b


def _engine(y_true, y_pred, a, b):
    encoded = [
        encode_feature(pd.Series(a), feature="a", max_groups=1000, where="t"),
        encode_feature(pd.Series(b), feature="b", max_groups=1000, where="t"),
    ]
    return assess_fairness(y_true, y_pred, encoded, min_group_size=1), encoded


def _frame(y_true, y_pred, sensitive):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MetricFrame(
            metrics=FAIRLEARN_METRICS,
            y_true=y_true.astype(int),
            y_pred=y_pred.astype(int),
            sensitive_features=sensitive,
        )


#: fairlearn, the oracle, costs about half a second an example (a MetricFrame per grouping,
#: and one inside every disparity function): 30 random audits per property, not 60.
ORACLE_EXAMPLES = 30


@settings(max_examples=ORACLE_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(audits())
def test_group_rates_equal_metricframe(data):
    y_true, y_pred, a, b = data
    result, _ = _engine(y_true, y_pred, a, b)
    oracles = {
        "a": _frame(y_true, y_pred, pd.Series(a, name="a")),
        "b": _frame(y_true, y_pred, pd.Series(b, name="b")),
        "a*b": _frame(y_true, y_pred, pd.DataFrame({"a": a, "b": b})),
    }
    assert [g.name for g in result.groupings] == ["a", "b", "a*b"]
    for grouping in result.groupings:
        by_group = oracles[grouping.name].by_group
        # fairlearn lists every combination of an intersection, observed or not
        by_group = by_group[by_group["count"] > 0]
        assert len(grouping.groups) == len(by_group)
        for stats_ in grouping.groups:
            key = tuple(stats_.values[f] for f in grouping.features)
            expected = by_group.loc[key if len(key) > 1 else key[0]]
            assert stats_.n == expected["count"]
            for metric in ("selection_rate", "tpr", "fpr", "fnr", "precision", "accuracy"):
                estimate = getattr(stats_.metrics, metric)
                if estimate.value is None:
                    # undefined here; fairlearn (via scikit-learn) reports 0 instead
                    assert metric in stats_.undefined
                    assert expected[metric] == 0
                else:
                    assert abs(estimate.value - expected[metric]) <= TOL, (metric, key)


@settings(max_examples=ORACLE_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(audits())
def test_summaries_equal_fairlearn(data):
    y_true, y_pred, a, b = data
    result, _ = _engine(y_true, y_pred, a, b)
    features = {
        "a": pd.Series(a, name="a"),
        "b": pd.Series(b, name="b"),
        "a*b": pd.DataFrame({"a": a, "b": b}),
    }
    for grouping in result.groupings:
        sf = features[grouping.name]
        s = grouping.summary
        kwargs = {"sensitive_features": sf}
        yt, yp = y_true.astype(int), y_pred.astype(int)
        assert (
            abs(s.demographic_parity_difference - demographic_parity_difference(yt, yp, **kwargs))
            <= TOL
        )
        rates = [g.metrics.selection_rate.value for g in grouping.groups]
        if max(rates) > 0:
            assert (
                abs(s.demographic_parity_ratio - demographic_parity_ratio(yt, yp, **kwargs)) <= TOL
            )
            assert abs(s.min_impact_ratio - s.demographic_parity_ratio) <= TOL
        complete = all(
            not g.undefined.get("tpr") and not g.undefined.get("fpr") for g in grouping.groups
        )
        if complete:
            assert (
                abs(s.equalized_odds_difference - equalized_odds_difference(yt, yp, **kwargs))
                <= TOL
            )
            if s.equalized_odds_ratio is not None:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    expected = equalized_odds_ratio(yt, yp, **kwargs)
                assert abs(s.equalized_odds_ratio - expected) <= TOL


@settings(max_examples=ORACLE_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(audits(), st.floats(min_value=0.02, max_value=0.3), st.integers(0, 2**32 - 1))
def test_missing_sensitive_values_are_a_group_equal_to_fairlearn(data, share, seed):
    """Rows with no sensitive value form the '(missing)' group, alone and in intersections."""
    y_true, y_pred, a, b = data
    rng = np.random.default_rng(seed)
    a = a.astype(object)
    a[rng.random(len(a)) < share] = None
    b = b.astype(object)
    b[rng.random(len(b)) < share] = np.nan
    result, _ = _engine(y_true, y_pred, a, b)
    # the oracle sees the missing values as one more label
    shown_a = pd.Series(a, name="a").fillna(MISSING_GROUP)
    shown_b = pd.Series(b, name="b").fillna(MISSING_GROUP)
    oracles = {
        "a": (_frame(y_true, y_pred, shown_a), shown_a),
        "b": (_frame(y_true, y_pred, shown_b), shown_b),
        "a*b": (
            _frame(y_true, y_pred, pd.DataFrame({"a": shown_a, "b": shown_b})),
            pd.DataFrame({"a": shown_a, "b": shown_b}),
        ),
    }
    yt, yp = y_true.astype(int), y_pred.astype(int)
    for grouping in result.groupings:
        frame, sf = oracles[grouping.name]
        by_group = frame.by_group[frame.by_group["count"] > 0]
        assert len(grouping.groups) == len(by_group)
        assert sum(g.n for g in grouping.groups) == len(y_true)  # no row dropped
        for stats_ in grouping.groups:
            key = tuple(stats_.values[f] for f in grouping.features)
            expected = by_group.loc[key if len(key) > 1 else key[0]]
            assert stats_.n == expected["count"]
            for metric in ("selection_rate", "tpr", "fpr", "precision", "accuracy"):
                estimate = getattr(stats_.metrics, metric)
                if estimate.value is not None:
                    assert abs(estimate.value - expected[metric]) <= TOL, (metric, key)
        dpd = demographic_parity_difference(yt, yp, sensitive_features=sf)
        assert abs(grouping.summary.demographic_parity_difference - dpd) <= TOL


@settings(max_examples=40, deadline=None)
@given(audits())
def test_impact_ratio_and_reference_group(data):
    y_true, y_pred, a, b = data
    result, _ = _engine(y_true, y_pred, a, b)
    for grouping in result.groupings:
        rates = {g.group: g.metrics.selection_rate.value for g in grouping.groups}
        top = max(rates.values())
        assert rates[grouping.reference_group] == top
        for g in grouping.groups:
            if top > 0:
                assert abs(g.impact_ratio - rates[g.group] / top) <= TOL
                assert ("adverse_impact" in g.flags) == (g.impact_ratio < 0.8)


def successes_of(max_n: int) -> st.SearchStrategy[tuple[int, int]]:
    """(k, n) with 0 <= k <= n, drawn directly: filtering k > n away tripped Hypothesis's
    filter_too_much health check at random (three in four pairs of two draws fail it)."""
    return st.integers(min_value=1, max_value=max_n).flatmap(
        lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n))
    )


@settings(max_examples=80, deadline=None)
@given(successes_of(200))
def test_wilson_equals_scipy(counts):
    k, n = counts
    p, lower, upper = wilson(np.array([k]), np.array([n]))
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert abs(p[0] - k / n) <= TOL
    assert abs(lower[0] - ci.low) <= 1e-9
    assert abs(upper[0] - ci.high) <= 1e-9


def test_wilson_of_an_empty_group_is_undefined():
    p, lower, upper = wilson(np.array([0]), np.array([0]))
    assert np.isnan(p[0]) and np.isnan(lower[0]) and np.isnan(upper[0])


@settings(max_examples=60, deadline=None)
@given(successes_of(300), successes_of(300))
def test_proportion_tests_match_scipy(first, second):
    (k1, n1), (k2, n2) = first, second
    p_values, tests = proportion_tests(np.array([k1, k2]), np.array([n1, n2]), reference=1)
    assert p_values[1] is None and tests[1] is None
    table = np.array([[k1, n1 - k1], [k2, n2 - k2]])
    expected = stats.contingency.expected_freq(table) if table.sum(axis=0).all() else np.zeros(1)
    if tests[0] == "fisher-exact":
        assert abs(p_values[0] - stats.fisher_exact(table).pvalue) <= 1e-12
        assert expected.min() < 5
    else:
        pooled = (k1 + k2) / (n1 + n2)
        se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        if se == 0:
            assert p_values[0] == 1.0
        else:
            z = (k1 / n1 - k2 / n2) / se
            assert abs(p_values[0] - 2 * stats.norm.sf(abs(z))) <= 1e-12
            # the pooled z-test is the chi-square test without continuity correction
            chi = stats.chi2_contingency(table, correction=False)
            assert abs(p_values[0] - chi.pvalue) <= 1e-9


@settings(max_examples=40, deadline=None)
@given(audits(), st.integers(min_value=0, max_value=2**32 - 1))
def test_performance_equals_scikit_learn(data, seed):
    y_true, y_pred, a, b = data
    assume(0 < y_true.sum() < len(y_true))
    score = np.round(np.random.default_rng(seed).random(len(y_true)), 2)  # ties on purpose
    result, encoded = _engine(y_true, y_pred, a, b)
    perf = classification_performance(
        y_true,
        y_pred,
        result.counts,
        score=score,
        row_groups=row_group_codes(encoded, result.counts),
    )
    o = perf.overall
    assert abs(o["accuracy"] - accuracy_score(y_true, y_pred)) <= TOL
    if y_pred.any():
        assert abs(o["precision"] - precision_score(y_true, y_pred, zero_division=0)) <= TOL
    else:
        assert o["precision"] is None  # nothing predicted positive: undefined, not sklearn's 0
    assert abs(o["recall"] - recall_score(y_true, y_pred)) <= TOL
    assert abs(o["f1"] - f1_score(y_true, y_pred, zero_division=0)) <= TOL or o["f1"] is None
    assert abs(o["roc_auc"] - roc_auc_score(y_true, score)) <= TOL
    assert abs(o["brier"] - brier_score_loss(y_true, score)) <= TOL
    for label, metrics in perf.by_group["a"].items():
        mask = a == label
        if 0 < y_true[mask].sum() < mask.sum():
            assert abs(metrics["roc_auc"] - roc_auc_score(y_true[mask], score[mask])) <= TOL
        else:
            assert metrics["roc_auc"] is None
        assert abs(metrics["accuracy"] - accuracy_score(y_true[mask], y_pred[mask])) <= TOL
        (tn, fp), (fn, tp) = confusion_matrix(y_true[mask], y_pred[mask], labels=[0, 1])
        matrix = perf.confusion_by_group["a"][label]
        assert (matrix.tn, matrix.fp, matrix.fn, matrix.tp) == (tn, fp, fn, tp)
    for label, metrics in perf.by_group["a*b"].items():
        a_label, b_label = label.split(", ")
        mask = (a == a_label) & (b == b_label)
        assert metrics["n"] == mask.sum()
        if y_true[mask].any():
            assert abs(metrics["recall"] - recall_score(y_true[mask], y_pred[mask])) <= TOL
        if (y_true[mask] | y_pred[mask]).any():
            assert abs(metrics["f1"] - f1_score(y_true[mask], y_pred[mask])) <= TOL
        else:
            assert metrics["f1"] is None  # no positives at all: undefined, not sklearn's 0


def test_roc_auc_single_class_is_undefined():
    assert roc_auc(np.array([True, True]), np.array([0.1, 0.9])) is None


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1), st.integers(min_value=3, max_value=200))
def test_regression_metrics_equal_scikit_learn(seed, n):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n)
    prediction = y + rng.normal(scale=0.5, size=n)
    metrics = regression_metrics(y, prediction)
    assert abs(metrics["mae"] - mean_absolute_error(y, prediction)) <= TOL
    assert abs(metrics["rmse"] - np.sqrt(np.mean((y - prediction) ** 2))) <= TOL
    assert abs(metrics["r2"] - r2_score(y, prediction)) <= 1e-10


@pytest.mark.parametrize("size", [2, 3])
def test_joint_and_per_grouping_counting_agree(monkeypatch, size):
    """The one-bincount path and the fallback for huge joint tables give the same figures."""
    import govern.assess.fairness as fairness

    rng = np.random.default_rng(size)
    n = 2000
    features = [pd.Series(rng.choice(list("pqrstu")[: size + i], n)) for i in range(size)]
    encoded = [
        encode_feature(s, feature=f"f{i}", max_groups=100, where="t")
        for i, s in enumerate(features)
    ]
    y_true, y_pred = rng.random(n) < 0.5, rng.random(n) < 0.4
    score = rng.random(n)
    joint = assess_fairness(y_true, y_pred, encoded, score=score)
    monkeypatch.setattr(fairness, "MAX_JOINT_CELLS", 0)
    separate = assess_fairness(y_true, y_pred, encoded, score=score)
    assert [g.to_json() for g in joint.groupings] == [g.to_json() for g in separate.groupings]
    assert len(joint.groupings) == 2**size - 1


# --- the impact-ratio reference group -------------------------------------------------------


def _expected_reference(frame, features, min_group_size, explicit=None):
    """The reference chosen from fairlearn's per-group figures, without the engine's code."""
    by_group = frame.by_group[frame.by_group["count"] > 0]
    rows = []
    for key, row in by_group.iterrows():
        key = key if isinstance(key, tuple) else (key,)
        rows.append((key, int(row["count"]), float(row["selection_rate"])))
    if explicit is not None and all(f in explicit for f in features):
        wanted = tuple(explicit[f] for f in features)
        if any(key == wanted for key, _, _ in rows):
            return wanted, "explicit"
    eligible = [r for r in rows if MISSING_GROUP not in r[0] and r[1] >= min_group_size]
    if eligible:
        best = max(r[2] for r in eligible)
        return next(r[0] for r in eligible if r[2] == best), "most_selected"
    present = [r for r in rows if MISSING_GROUP not in r[0]] or rows
    largest = max(r[1] for r in present)
    tied = [r for r in present if r[1] == largest]
    best = max(r[2] for r in tied)
    return next(r[0] for r in tied if r[2] == best), "largest"


@settings(max_examples=ORACLE_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    audits(),
    st.integers(min_value=1, max_value=150),
    st.floats(min_value=0.0, max_value=0.4),
    st.integers(0, 2**32 - 1),
    st.booleans(),
)
def test_reference_group_and_impact_ratios_equal_fairlearn_rates(
    data, min_group_size, share, seed, explicit_given
):
    """The reference is the most selected group that is neither small nor missing (else the
    largest, or the one set), and each impact ratio is the group's fairlearn selection rate
    over the reference's; with the overall most-selected group as reference, the smallest
    ratio is fairlearn's demographic parity ratio (min / max)."""
    y_true, y_pred, a, b = data
    rng = np.random.default_rng(seed)
    a = a.astype(object)
    a[rng.random(len(a)) < share] = None
    explicit = None
    if explicit_given:
        explicit = {"a": str(rng.choice(sorted({v for v in a if v is not None})))}
        if rng.random() < 0.5:
            explicit["b"] = str(rng.choice(sorted(set(b))))
    encoded = [
        encode_feature(pd.Series(a), feature="a", max_groups=1000, where="t"),
        encode_feature(pd.Series(b), feature="b", max_groups=1000, where="t"),
    ]
    result = assess_fairness(
        y_true, y_pred, encoded, min_group_size=min_group_size, reference=explicit
    )
    shown_a = pd.Series(a, name="a").fillna(MISSING_GROUP)
    shown_b = pd.Series(b, name="b")
    sensitive = {"a": shown_a, "b": shown_b, "a*b": pd.DataFrame({"a": shown_a, "b": shown_b})}
    yt, yp = y_true.astype(int), y_pred.astype(int)
    for grouping in result.groupings:
        frame = _frame(y_true, y_pred, sensitive[grouping.name])
        key, choice = _expected_reference(frame, grouping.features, min_group_size, explicit)
        assert grouping.reference_group == ", ".join(key)
        assert grouping.reference_choice == choice
        assert grouping.reference_reason
        rates = frame.by_group["selection_rate"]
        top = float(rates.loc[key if len(key) > 1 else key[0]])
        for g in grouping.groups:
            group_key = tuple(g.values[f] for f in grouping.features)
            rate = float(rates.loc[group_key if len(group_key) > 1 else group_key[0]])
            if top > 0:
                assert abs(g.impact_ratio - rate / top) <= TOL
                assert ("adverse_impact" in g.flags) == (g.impact_ratio < 0.8)
            else:
                assert g.impact_ratio is None
            assert ("reference" in g.flags) == (group_key == key)
        counted = frame.by_group[frame.by_group["count"] > 0]["selection_rate"]
        if top > 0 and top == float(counted.max()):
            dpr = demographic_parity_ratio(yt, yp, sensitive_features=sensitive[grouping.name])
            assert abs(grouping.summary.min_impact_ratio - dpr) <= TOL
        elif top == 0:
            assert "min_impact_ratio" in grouping.undefined


def test_reference_p_values_test_against_the_chosen_group():
    """p-values compare each group with the chosen reference (scipy as the oracle)."""
    rng = np.random.default_rng(7)
    groups = np.array(["big"] * 400 + ["mid"] * 300 + ["tiny"] * 5)
    y_pred = np.concatenate([rng.random(400) < 0.5, rng.random(300) < 0.3, np.ones(5, bool)])
    y_true = rng.random(len(groups)) < 0.5
    encoded = [encode_feature(pd.Series(groups), feature="g", max_groups=10, where="t")]
    grouping = assess_fairness(y_true, y_pred, encoded, min_group_size=30).groupings[0]
    assert grouping.reference_group == "big"  # "tiny" is selected more, but has 5 rows
    big = grouping.group("big").metrics.selection_rate
    mid = grouping.group("mid").metrics.selection_rate
    table = [[mid.successes, mid.trials], [big.successes, big.trials]]
    _z, expected = _two_proportion_z(table)
    assert abs(grouping.group("mid").p_value - expected) <= 1e-9
    tiny = grouping.group("tiny")
    fisher = stats.fisher_exact([[5, 0], [big.successes, big.trials - big.successes]]).pvalue
    assert tiny.test == "fisher-exact" and abs(tiny.p_value - fisher) <= 1e-12


def _two_proportion_z(table):
    (k1, n1), (k2, n2) = table
    pooled = (k1 + k2) / (n1 + n2)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    z = (k1 / n1 - k2 / n2) / se
    return z, 2 * stats.norm.sf(abs(z))
