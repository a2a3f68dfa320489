"""Evaluation services on a real catalogue, SQLite and PostgreSQL (the ``cat`` fixture)."""

from __future__ import annotations

import pickle  # noqa: TID251 - a hostile artifact for the refusal test
import shutil

import pandas as pd
import pytest
from sqlmodel import func, select

from govern.assess.models import ArtifactMismatchError, UntrustedArtifactError
from govern.errors import DataError, NotFoundError, PermissionDenied, WorkflowError
from govern.services import audit, catalogue, evaluation
from govern.storage import crud
from govern.storage.tables import (
    DriftRun,
    Evaluation,
    Explanation,
    GroupResult,
    MetricResult,
)
from tests.assess.helpers import TouchingModel, TouchOnUnpickle
from tests.conftest import SAMPLE

REF = "credit-risk@1.1.0"


@pytest.fixture
def registered(cat, sample_artifacts):
    catalogue.register_version(
        cat.ctx("alice"),
        SAMPLE / "credit-risk-1.1.0.card.yaml",
        artifact=sample_artifacts / "credit-risk-1.1.0.skops",
    )
    return cat


def _evaluate(ctx, sample_artifacts, **changes):
    arguments = {
        "data": SAMPLE / "credit_holdout.csv",
        "target": "credit",
        "sensitive": ["sex", "age_group"],
        "model": sample_artifacts / "credit-risk-1.1.0.skops",
        "positive": "1",
        "id_column": "applicant_id",
        "explain": 5,
        "explain_sample": 200,
    }
    arguments.update(changes)
    return evaluation.evaluate_version(ctx, REF, **arguments)


def _count(cat, table):
    with cat.ctx().read() as session:
        return session.exec(select(func.count()).select_from(table)).one()


def test_evaluate_stores_results_rows_and_one_audit_event(registered, sample_artifacts):
    cat = registered
    events_before = audit.count_events(cat.ctx())
    record = _evaluate(cat.ctx("bob"), sample_artifacts)
    results = record.results
    assert record.ref == REF and record.created_by == "bob"
    assert results.dataset.rows == 300 and len(results.dataset.sha256) == 64
    assert results.artifact_sha256 is not None and results.artifact_format == "skops"
    assert results.packages["numpy"] and results.packages["scikit-learn"]
    assert results.packages["fairlearn"] and results.packages["shap"]
    assert [g.name for g in results.fairness] == ["sex", "age_group", "sex*age_group"]
    assert results.grouping("age_group").group("under_25").flags.count("adverse_impact") == 1
    assert results.explanations is not None and results.explanations.local_count == 5
    # the stored document validates as the contract and equals what was returned
    stored = evaluation.get_evaluation(cat.ctx("victor"), record.id)
    assert stored.results == results
    assert stored.params["seed"] == 0 and stored.params["trust_pickle"] is False
    assert _count(cat, Evaluation) == 1
    assert _count(cat, GroupResult) == 2 + 3 + 6
    assert _count(cat, Explanation) == 1 + 5
    with cat.ctx().read() as session:
        under_25 = session.exec(
            select(MetricResult).where(
                MetricResult.feature == "age_group",
                MetricResult.group == "under_25",
                MetricResult.name == "selection_rate",
            )
        ).one()
        assert under_25.lower < under_25.value < under_25.upper
    events = audit.audit_log(cat.ctx(), action="evaluation.create")
    assert len(events) == 1 and audit.count_events(cat.ctx()) == events_before + 1
    payload = events[0].payload
    assert payload["evaluation_id"] == record.id
    assert payload["dataset"]["sha256"] == results.dataset.sha256
    assert payload["trust_pickle"] is False
    assert events[0].subject == REF and events[0].actor == "bob"
    assert audit.verify_audit(cat.ctx()).ok
    assert evaluation.latest_evaluation(cat.ctx(), REF).id == record.id


def test_registered_artifact_is_used_when_no_model_is_given(registered, sample_artifacts):
    record = _evaluate(registered.ctx("alice"), sample_artifacts, model=None, explain=0)
    assert record.results.prediction_source == "model"
    assert record.params["model"].endswith("credit-risk-1.1.0.skops")


def test_predictions_column_needs_no_model(registered, sample_artifacts):
    record = _evaluate(
        registered.ctx("alice"),
        sample_artifacts,
        data=SAMPLE / "credit_holdout_scored.csv",
        model=None,
        predictions="pred",
        score="score",
        explain=0,
    )
    assert record.results.prediction_source == "predictions"
    assert record.results.explanations is None
    assert record.results.performance.overall["roc_auc"] > 0.7


def test_viewer_and_approver_are_refused_and_the_refusal_is_audited(registered, sample_artifacts):
    for user in ("victor", "carol"):
        with pytest.raises(PermissionDenied, match="needs the role"):
            _evaluate(registered.ctx(user), sample_artifacts)
    refusals = audit.audit_log(registered.ctx(), action="evaluation.create.refused")
    assert {e.actor for e in refusals} == {"victor", "carol"}
    assert _count(registered, Evaluation) == 0


def test_retired_version_refuses_evaluation(registered, sample_artifacts):
    with registered.ctx().db.write() as session:
        _model, version = catalogue.resolve(session, REF)
        crud.touch_version(session=session, version=version, state="retired")
    with pytest.raises(WorkflowError, match="retired and read-only"):
        _evaluate(registered.ctx("alice"), sample_artifacts)
    with pytest.raises(WorkflowError, match="retired"):
        evaluation.drift(
            registered.ctx("alice"),
            REF,
            reference=SAMPLE / "credit_train.csv",
            current=SAMPLE / "credit_holdout.csv",
        )
    assert len(audit.audit_log(registered.ctx(), action="evaluation.create.refused")) == 1
    assert _count(registered, Evaluation) == 0


def test_artifact_must_be_the_registered_one(registered, sample_artifacts):
    with pytest.raises(ArtifactMismatchError, match="not the registered artifact"):
        _evaluate(
            registered.ctx("alice"),
            sample_artifacts,
            model=sample_artifacts / "credit-risk-1.0.0.skops",
        )
    assert len(audit.audit_log(registered.ctx(), action="evaluation.create.refused")) == 1
    assert _count(registered, Evaluation) == 0


def test_malicious_pickle_is_refused_audited_and_never_run(cat, tmp_path):
    marker = tmp_path / "pwned"
    artifact = tmp_path / "model.pkl"
    artifact.write_bytes(pickle.dumps(TouchOnUnpickle(marker)))
    card = tmp_path / "card.yaml"
    card.write_text(
        (SAMPLE / "credit-risk-1.1.0.card.yaml").read_text().replace("credit-risk", "pickled")
    )
    catalogue.register_version(cat.ctx("alice"), card, artifact=artifact)
    ref = "pickled@1.1.0"
    with pytest.raises(UntrustedArtifactError, match="trust-pickle"):
        evaluation.evaluate_version(
            cat.ctx("alice"),
            ref,
            data=SAMPLE / "credit_holdout.csv",
            target="credit",
            sensitive=["sex"],
            model=artifact,
            positive="1",
        )
    assert not marker.exists()
    refusal = audit.audit_log(cat.ctx(), action="evaluation.create.refused")[0]
    assert "pickle" in refusal.payload["reason"]


def test_bad_input_writes_nothing(registered, sample_artifacts, tmp_path):
    events = audit.count_events(registered.ctx())
    for changes in (
        {"target": "nope"},
        {"positive": "7"},
        {"data": tmp_path / "missing.csv"},
        {"sensitive": ["applicant_id"]},
    ):
        with pytest.raises(DataError):
            _evaluate(registered.ctx("alice"), sample_artifacts, **changes)
    assert audit.count_events(registered.ctx()) == events
    assert _count(registered, Evaluation) == 0 and _count(registered, MetricResult) == 0


def test_explain_row_stored_and_on_demand(registered, sample_artifacts):
    record = _evaluate(registered.ctx("alice"), sample_artifacts, explain=2)
    with registered.ctx().read() as session:
        stored_ids = [
            e.row_id
            for e in session.exec(select(Explanation).where(Explanation.kind == "local")).all()
        ]
    stored = evaluation.explain_row(registered.ctx("victor"), REF, stored_ids[0])
    assert stored.source == "stored" and stored.evaluation_id == record.id
    assert stored.model_sha256 == record.results.artifact_sha256
    other = next(
        str(i)
        for i in pd.read_csv(SAMPLE / "credit_holdout.csv")["applicant_id"]
        if str(i) not in stored_ids
    )
    computed = evaluation.explain_row(registered.ctx("victor"), REF, other)
    assert computed.source == "computed" and computed.explanation.row_id == other
    assert len(computed.explanation.contributions) == 20
    with pytest.raises(DataError, match="no row with id '424242'"):
        evaluation.explain_row(registered.ctx("victor"), REF, "424242")
    with pytest.raises(NotFoundError):
        evaluation.explain_row(registered.ctx("victor"), REF, other, evaluation_id=999)


def test_explain_on_demand_refuses_a_changed_data_file(registered, sample_artifacts, tmp_path):
    data = tmp_path / "holdout.csv"
    shutil.copy(SAMPLE / "credit_holdout.csv", data)
    _evaluate(registered.ctx("alice"), sample_artifacts, data=data, explain=0)
    data.write_text(data.read_text().replace("A74", "A75"))
    with pytest.raises(DataError, match="changed since the evaluation"):
        evaluation.explain_row(registered.ctx("alice"), REF, "78")


def test_recompute_identical_then_differences(registered, sample_artifacts, tmp_path):
    data = tmp_path / "holdout.csv"
    shutil.copy(SAMPLE / "credit_holdout.csv", data)
    record = _evaluate(registered.ctx("alice"), sample_artifacts, data=data)
    same = evaluation.recompute(registered.ctx("victor"), record.id)
    assert same.identical and same.differences == [] and not same.dataset_changed
    frame = pd.read_csv(data)
    frame.loc[frame.index[:20], "sex"] = "female"
    frame.to_csv(data, index=False)
    changed = evaluation.recompute(registered.ctx("victor"), record.id)
    assert not changed.identical and changed.dataset_changed
    assert any(d.startswith("dataset.sha256") for d in changed.differences)
    assert any("fairness[sex].groups[female].n" in d for d in changed.differences)
    with pytest.raises(NotFoundError):
        evaluation.recompute(registered.ctx(), 12345)


def test_recompute_reports_a_replaced_artifact_without_loading_it(
    registered, sample_artifacts, tmp_path
):
    model = tmp_path / "model.skops"
    shutil.copy(sample_artifacts / "credit-risk-1.1.0.skops", model)
    record = _evaluate(registered.ctx("alice"), sample_artifacts, model=model, explain=0)
    shutil.copy(sample_artifacts / "credit-risk-1.0.0.skops", model)
    verdict = evaluation.recompute(registered.ctx(), record.id)
    assert verdict.artifact_changed and not verdict.identical
    assert "no longer" in verdict.differences[0]


def test_drift_is_stored_with_an_audit_event(registered, sample_artifacts):
    record = evaluation.drift(
        registered.ctx("bob"),
        REF,
        reference=SAMPLE / "credit_train.csv",
        current=SAMPLE / "credit_holdout.csv",
        exclude=["applicant_id"],
    )
    results = record.results
    assert results.reference.rows == 700 and results.current.rows == 300
    assert {f.feature for f in results.features} >= {"age", "sex", "purpose"}
    assert "applicant_id" not in {f.feature for f in results.features}
    assert results.prediction is not None and results.prediction.psi is not None
    assert results.prediction_source == "model credit-risk-1.1.0.skops"
    assert _count(registered, DriftRun) == 1
    event = audit.audit_log(registered.ctx(), action="drift.run")[0]
    assert event.payload["drift_run_id"] == record.id
    with pytest.raises(PermissionDenied):
        evaluation.drift(
            registered.ctx("victor"),
            REF,
            reference=SAMPLE / "credit_train.csv",
            current=SAMPLE / "credit_holdout.csv",
        )


def test_regression_task(registered, sample_artifacts, tmp_path):
    frame = pd.read_csv(SAMPLE / "credit_holdout.csv")
    frame["predicted_amount"] = frame["credit_amount"] * 0.9 + 100
    path = tmp_path / "amounts.csv"
    frame.to_csv(path, index=False)
    record = evaluation.evaluate_version(
        registered.ctx("alice"),
        REF,
        data=path,
        target="credit_amount",
        sensitive=["sex"],
        predictions="predicted_amount",
        task="regression",
    )
    perf = record.results.performance
    assert perf.overall["mae"] > 0 and 0 < perf.overall["r2"] < 1
    assert set(perf.by_group["sex"]) == {"female", "male"}
    assert record.results.fairness == []


@pytest.fixture
def pickled(cat, sample_artifacts, tmp_path):
    """A version whose registered artifact is a pickle that works as a model *and* runs code:
    loading it creates ``marker``, so each test can see exactly when the code ran."""
    import skops.io as sio

    from govern.domain.governance import DEFAULT_SKOPS_TRUSTED_TYPES

    model = sio.load(
        sample_artifacts / "credit-risk-1.0.0.skops", trusted=DEFAULT_SKOPS_TRUSTED_TYPES
    )
    marker = tmp_path / "pickle-code-ran"
    artifact = tmp_path / "model.pkl"
    artifact.write_bytes(pickle.dumps(TouchingModel(marker, model)))
    card = tmp_path / "card.yaml"
    card.write_text(
        (SAMPLE / "credit-risk-1.0.0.card.yaml").read_text().replace("credit-risk", "pickled")
    )
    catalogue.register_version(cat.ctx("alice"), card, artifact=artifact)
    assert not marker.exists()
    return cat, marker


def _unpickles(cat):
    events = audit.audit_log(cat.ctx(), action="artifact.unpickle")
    return [e for e in events if e.action == "artifact.unpickle"]


def _evaluate_pickled(ctx, **changes):
    arguments = {
        "data": SAMPLE / "credit_holdout.csv",
        "target": "credit",
        "sensitive": ["sex"],
        "positive": "1",
        "id_column": "applicant_id",
        "explain": 1,
        "explain_sample": 20,
        "trust_pickle": True,
    }
    arguments.update(changes)
    return evaluation.evaluate_version(ctx, "pickled@1.0.0", **arguments)


def test_trusted_pickle_is_audited_before_it_is_opened(pickled):
    cat, marker = pickled
    record = _evaluate_pickled(cat.ctx("alice"))
    assert marker.exists()
    (event,) = _unpickles(cat)
    created = audit.audit_log(cat.ctx(), action="evaluation.create")[0]
    assert event.seq < created.seq  # recorded before the pickle ran, not after
    assert event.actor == "alice" and event.subject == "pickled@1.0.0"
    assert event.payload["purpose"] == "evaluation"
    assert event.payload["artifact"]["format"] == "pickle"
    assert event.payload["artifact"]["sha256"] == record.results.artifact_sha256
    assert created.payload["trust_pickle"] is True
    assert audit.verify_audit(cat.ctx()).ok


def test_unusable_data_does_not_open_a_trusted_pickle(pickled, tmp_path):
    cat, marker = pickled
    events = audit.count_events(cat.ctx())
    for changes in (
        {"data": tmp_path / "missing.csv"},
        {"sensitive": ["gender"]},
        {"target": "outcome"},
        {"id_column": "customer"},
    ):
        with pytest.raises(DataError):
            _evaluate_pickled(cat.ctx("alice"), **changes)
    assert audit.count_events(cat.ctx()) == events and _unpickles(cat) == []
    assert not marker.exists()


def test_recompute_and_explain_need_trust_again_and_record_it(pickled):
    cat, marker = pickled
    record = _evaluate_pickled(cat.ctx("alice"), explain=0)
    marker.unlink()
    # the evaluation's trust is not inherited by whoever recomputes or explains later
    with pytest.raises(UntrustedArtifactError, match="--trust-pickle"):
        evaluation.recompute(cat.ctx("bob"), record.id)
    with pytest.raises(UntrustedArtifactError, match="--trust-pickle"):
        evaluation.explain_row(cat.ctx("bob"), "pickled@1.0.0", "16")
    assert len(_unpickles(cat)) == 1 and not marker.exists()
    assert {e.action for e in audit.audit_log(cat.ctx(), actor="bob")} == {
        "evaluation.recompute.refused",
        "explanation.compute.refused",
    }
    # a viewer may read explanations, but not make govern run a pickle's code
    with pytest.raises(PermissionDenied):
        evaluation.recompute(cat.ctx("victor"), record.id, trust_pickle=True)
    assert len(_unpickles(cat)) == 1
    assert audit.audit_log(cat.ctx(), actor="victor")[0].action == "artifact.unpickle.refused"
    assert not marker.exists()
    verdict = evaluation.recompute(cat.ctx("bob"), record.id, trust_pickle=True)
    assert verdict.identical and marker.exists()
    explained = evaluation.explain_row(cat.ctx("bob"), "pickled@1.0.0", "16", trust_pickle=True)
    assert explained.source == "computed"
    purposes = [(e.actor, e.payload["purpose"]) for e in _unpickles(cat)]
    assert purposes == [("bob", "explanation"), ("bob", "recompute"), ("alice", "evaluation")]


def test_drift_with_a_trusted_pickle_says_so_in_the_audit_log(pickled):
    cat, marker = pickled
    with pytest.raises(UntrustedArtifactError):
        evaluation.drift(
            cat.ctx("alice"),
            "pickled@1.0.0",
            reference=SAMPLE / "credit_train.csv",
            current=SAMPLE / "credit_holdout.csv",
        )
    assert _unpickles(cat) == [] and not marker.exists()
    record = evaluation.drift(
        cat.ctx("alice"),
        "pickled@1.0.0",
        reference=SAMPLE / "credit_train.csv",
        current=SAMPLE / "credit_holdout.csv",
        trust_pickle=True,
    )
    assert record.results.prediction is not None and marker.exists()
    (event,) = _unpickles(cat)
    assert event.payload["purpose"] == "drift"
    run = audit.audit_log(cat.ctx(), action="drift.run")[0]
    assert run.payload["trust_pickle"] is True and run.payload["unpickled"] is True


def test_onnx_artifact_end_to_end(cat, sample_artifacts, tmp_path):
    """An ONNX version: evaluated through onnxruntime, explained model-agnostically, recomputed
    to identical figures, and explained on demand for a row not stored."""
    import skops.io as sio
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import Int64TensorType, StringTensorType

    from govern.domain.governance import DEFAULT_SKOPS_TRUSTED_TYPES

    fitted = sio.load(
        sample_artifacts / "credit-risk-1.1.0.skops", trusted=DEFAULT_SKOPS_TRUSTED_TYPES
    )
    frame = pd.read_csv(SAMPLE / "credit_holdout.csv")
    features = frame[list(fitted.feature_names_in_)]
    inputs = [
        (
            c,
            Int64TensorType([None, 1])
            if features[c].dtype.kind == "i"
            else StringTensorType([None, 1]),
        )
        for c in features.columns
    ]
    artifact = tmp_path / "credit-risk.onnx"
    artifact.write_bytes(to_onnx(fitted, initial_types=inputs, target_opset=17).SerializeToString())
    card = tmp_path / "card.yaml"
    card.write_text(
        (SAMPLE / "credit-risk-1.1.0.card.yaml").read_text().replace("credit-risk", "onnxed")
    )
    catalogue.register_version(cat.ctx("alice"), card, artifact=artifact)
    record = evaluation.evaluate_version(
        cat.ctx("alice"),
        "onnxed@1.1.0",
        data=SAMPLE / "credit_holdout.csv",
        target="credit",
        sensitive=["sex", "age_group"],
        positive="1",
        id_column="applicant_id",
        explain=2,
        explain_sample=20,
    )
    results = record.results
    assert results.artifact_format == "onnx" and results.prediction_source == "model"
    assert results.explanations is not None and results.explanations.method == "permutation"
    assert results.explanations.output == "probability of 1"
    assert results.explanations.background_size == 100
    # onnxruntime's decisions are the skops model's: same confusion matrix
    reference = sio.load(
        sample_artifacts / "credit-risk-1.1.0.skops", trusted=DEFAULT_SKOPS_TRUSTED_TYPES
    ).predict(features)
    selected = int((reference.astype(str) == "1").sum())
    assert results.performance.confusion.tp + results.performance.confusion.fp == selected
    assert evaluation.recompute(cat.ctx("bob"), record.id).identical
    with cat.ctx().read() as session:
        stored = {
            e.row_id
            for e in session.exec(select(Explanation).where(Explanation.kind == "local")).all()
        }
    assert len(stored) == 2
    row = next(str(i) for i in frame["applicant_id"] if str(i) not in stored)
    explained = evaluation.explain_row(cat.ctx("victor"), "onnxed@1.1.0", row)
    assert explained.source == "computed" and explained.model_sha256 == results.artifact_sha256
    total = explained.explanation.base_value + sum(
        c.shap for c in explained.explanation.contributions
    )
    assert total == pytest.approx(explained.explanation.prediction, abs=1e-5)


def test_recompute_uses_the_recorded_explanation_settings(registered, sample_artifacts):
    """Settings that change figures are recorded with the evaluation; a recompute under
    another configuration still reproduces it."""
    registered.configure(association_threshold=0.95, explain_top_k=12)
    record = _evaluate(registered.ctx("alice"), sample_artifacts, explain=0)
    assert record.params["association_threshold"] == 0.95
    assert record.params["explain_top_k"] == 12
    assert record.params["explain_background"] == 100
    assert record.results.explanations.sensitive_flags == []  # age (0.87) is below 0.95
    registered.configure(association_threshold=0.5, explain_top_k=10)
    assert evaluation.recompute(registered.ctx("bob"), record.id).identical
    fresh = _evaluate(registered.ctx("alice"), sample_artifacts, explain=0)
    assert [f.feature for f in fresh.results.explanations.sensitive_flags] == ["age"]
