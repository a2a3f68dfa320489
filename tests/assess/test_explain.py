"""SHAP explanations: additive, oriented to the positive label, seeded, honest about proxies."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import skops.io as sio

from govern.assess.evaluation import EvaluationSpec, Limits, explain_one, run_evaluation
from govern.assess.explain import build_explainer, explain_frame, global_importance
from govern.assess.models import load_model
from govern.domain.governance import DEFAULT_SKOPS_TRUSTED_TYPES
from tests.conftest import DATA, SAMPLE

TRUSTED = DEFAULT_SKOPS_TRUSTED_TYPES
LIMITS = Limits(skops_trusted_types=tuple(TRUSTED))


def _logit(p):
    return np.log(p / (1 - p))


@pytest.fixture(scope="module")
def holdout():
    return pd.read_csv(SAMPLE / "credit_holdout.csv")


@pytest.mark.parametrize(("version", "method"), [("1.0.0", "linear"), ("1.1.0", "tree")])
@pytest.mark.parametrize("positive", ["1", "2"])
def test_shap_adds_up_to_the_models_log_odds_of_the_positive_label(
    sample_artifacts, holdout, version, method, positive
):
    model = load_model(sample_artifacts / f"credit-risk-{version}.skops", trusted_types=TRUSTED)
    explainer = build_explainer(
        model, holdout.sample(50, random_state=0), positive=positive, seed=0
    )
    assert explainer.method == method
    assert explainer.output == f"log-odds of {positive}"
    assert explainer.features == model.feature_names  # input columns, not one-hot columns
    values, base = explain_frame(explainer, holdout.head(40))
    proba = model.predict_proba(holdout.head(40))[:, model.classes.index(positive)]
    np.testing.assert_allclose(base + values.sum(axis=1), _logit(proba), atol=1e-8)


def test_permutation_explainer_on_onnx_adds_up_to_the_probability(
    holdout, tmp_path, sample_artifacts
):
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import Int64TensorType, StringTensorType

    from govern.assess.models import resolve_classes

    fitted = sio.load(sample_artifacts / "credit-risk-1.0.0.skops", trusted=TRUSTED)
    features = holdout[list(fitted.feature_names_in_)]
    inputs = [
        (
            c,
            Int64TensorType([None, 1])
            if features[c].dtype.kind == "i"
            else StringTensorType([None, 1]),
        )
        for c in features.columns
    ]
    path = tmp_path / "lr.onnx"
    path.write_bytes(to_onnx(fitted, initial_types=inputs, target_opset=17).SerializeToString())
    model = load_model(path, trusted_types=TRUSTED)
    resolve_classes(model, holdout)
    explainer = build_explainer(model, holdout.sample(20, random_state=0), positive="1", seed=0)
    assert explainer.method == "permutation"
    values, base = explain_frame(explainer, holdout.head(4))
    proba = model.predict_proba(holdout.head(4))[:, 0]
    np.testing.assert_allclose(base + values.sum(axis=1), proba, atol=1e-5)


def test_random_forest_on_adult_explains_probabilities(tmp_path):
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame = pd.read_csv(DATA / "adult_sample.csv")
    numeric = ["age", "education-num", "hours-per-week", "capital-gain"]
    categorical = ["workclass", "marital-status", "occupation", "relationship"]
    pipeline = Pipeline(
        [
            (
                "pre",
                ColumnTransformer(
                    [
                        ("num", "passthrough", numeric),
                        (
                            "cat",
                            OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                            categorical,
                        ),
                    ]
                ),
            ),
            ("model", RandomForestClassifier(n_estimators=20, max_depth=6, random_state=0)),
        ]
    )
    pipeline.fit(frame[numeric + categorical], frame["income-per-year"])
    path = tmp_path / "adult-rf.skops"
    sio.dump(pipeline, path)
    model = load_model(path, trusted_types=TRUSTED)
    explainer = build_explainer(model, frame.head(50), positive=">50K", seed=0)
    assert explainer.method == "tree" and explainer.output == "probability of >50K"
    values, base = explain_frame(explainer, frame.head(30))
    proba = model.predict_proba(frame.head(30))[:, model.classes.index(">50K")]
    np.testing.assert_allclose(base + values.sum(axis=1), proba, atol=1e-8)
    importance = global_importance(values, explainer.features, seed=0)
    assert {i.feature for i in importance[:3]} & {
        "relationship",
        "marital-status",
        "capital-gain",
        "education-num",
        "age",
    }
    for item in importance:
        assert item.lower <= item.mean_abs_shap <= item.upper
        assert item.rank_lower <= item.rank <= item.rank_upper


def test_bootstrap_is_seeded():
    values = np.random.default_rng(0).normal(size=(200, 5))
    first = global_importance(values, list("abcde"), seed=3)
    again = global_importance(values, list("abcde"), seed=3)
    other = global_importance(values, list("abcde"), seed=4)
    assert first == again
    assert [i.lower for i in first] != [i.lower for i in other]


@pytest.mark.parametrize(
    ("version", "proxy", "of"), [("1.0.0", "personal_status", "sex"), ("1.1.0", "age", "age_group")]
)
def test_sample_models_flag_their_sensitive_proxies(sample_artifacts, version, proxy, of):
    spec = EvaluationSpec(
        data=SAMPLE / "credit_holdout.csv",
        target="credit",
        sensitive=("sex", "age_group"),
        model=sample_artifacts / f"credit-risk-{version}.skops",
        positive="1",
        id_column="applicant_id",
        explain=3,
    )
    outcome = run_evaluation(spec, LIMITS)
    explanations = outcome.results.explanations
    assert explanations is not None and explanations.sample_size == 300
    flags = {f.feature: f for f in explanations.sensitive_flags}
    assert flags[proxy].associated_with == of
    assert flags[proxy].association > 0.8
    assert [item.row_id for item in outcome.local] == sorted(
        (item.row_id for item in outcome.local), key=int
    ) or len(outcome.local) == 3
    # on demand, the same row gets the same explanation as the stored one
    stored = outcome.local[0]
    fresh = explain_one(spec, LIMITS, stored.row_id)
    assert [c.feature for c in fresh.contributions] == [c.feature for c in stored.contributions]
    # one row through BLAS may differ from a batch in the last bit, nothing more
    np.testing.assert_allclose(
        [c.shap for c in fresh.contributions], [c.shap for c in stored.contributions], atol=1e-12
    )
    assert fresh.prediction == pytest.approx(stored.prediction, abs=1e-12)
    # and the explanation adds up to the model's own probability
    total = stored.base_value + sum(c.shap for c in stored.contributions)
    assert 1 / (1 + np.exp(-total)) == pytest.approx(stored.prediction, abs=1e-9)


def test_a_sensitive_feature_used_by_the_model_is_flagged(tmp_path):
    """Real data: a model on the Adult sample that takes `sex` as an input is flagged for it."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame = pd.read_csv(DATA / "adult_sample.csv")
    numeric = ["education-num", "hours-per-week"]
    pipeline = Pipeline(
        [
            (
                "pre",
                ColumnTransformer(
                    [
                        ("num", StandardScaler(), numeric),
                        ("cat", OneHotEncoder(handle_unknown="ignore"), ["sex"]),
                    ]
                ),
            ),
            ("model", LogisticRegression(max_iter=500)),
        ]
    )
    pipeline.fit(frame[[*numeric, "sex"]], frame["income-per-year"])
    artifact = tmp_path / "adult-lr.skops"
    sio.dump(pipeline, artifact)
    spec = EvaluationSpec(
        data=DATA / "adult_sample.csv",
        target="income-per-year",
        positive=">50K",
        sensitive=("sex", "race"),
        model=artifact,
        id_column="row_id",
        explain=2,
        explain_sample=500,
    )
    explanations = run_evaluation(spec, LIMITS).results.explanations
    assert explanations is not None and explanations.method == "linear"
    assert explanations.sample_size == 500
    flags = {f.feature: f for f in explanations.sensitive_flags}
    assert set(flags) == {"sex"}  # neither numeric input stands in for sex or race here
    assert flags["sex"].associated_with is None
    rank = next(i.rank for i in explanations.global_ if i.feature == "sex")
    assert f"sensitive feature 'sex' is the model's #{rank} most important" in flags["sex"].reason
    # an explain_top_k below the feature's rank leaves it unflagged
    quiet_spec = dataclasses.replace(spec, explain_top_k=rank - 1)
    quiet = run_evaluation(quiet_spec, LIMITS).results.explanations
    assert quiet is not None and quiet.sensitive_flags == []


@pytest.mark.parametrize("kind", ["tree", "linear"])
def test_regression_explanations_carry_the_predicted_value(tmp_path, holdout, kind):
    from sklearn.linear_model import LinearRegression
    from sklearn.tree import DecisionTreeRegressor

    features = ["month", "age", "residence_since"]
    model = DecisionTreeRegressor(max_depth=4, random_state=0) if kind == "tree" else None
    model = model or LinearRegression()
    model.fit(holdout[features], holdout["credit_amount"])
    artifact = tmp_path / f"{kind}.skops"
    sio.dump(model, artifact)
    spec = EvaluationSpec(
        data=SAMPLE / "credit_holdout.csv",
        target="credit_amount",
        sensitive=("sex",),
        model=artifact,
        task="regression",
        id_column="applicant_id",
        explain=3,
    )
    outcome = run_evaluation(spec, LIMITS)
    assert outcome.results.explanations.method == kind
    assert outcome.results.explanations.output == "prediction"
    predicted = dict(
        zip(holdout["applicant_id"].astype(str), model.predict(holdout[features]), strict=True)
    )
    for item in outcome.local:
        assert item.prediction == pytest.approx(predicted[item.row_id], rel=1e-12)
        total = item.base_value + sum(c.shap for c in item.contributions)
        assert total == pytest.approx(item.prediction, rel=1e-9)
    on_demand = explain_one(spec, LIMITS, "2")
    assert on_demand.prediction == pytest.approx(predicted["2"], rel=1e-12)
