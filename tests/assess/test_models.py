"""Safe model loading: hostile pickles and skops files are refused without running their code."""

from __future__ import annotations

import pickle  # noqa: TID251 - building hostile fixtures is the point of these tests
import shutil

import numpy as np
import pandas as pd
import pytest
import skops.io as sio

from govern.assess.evaluation import EvaluationSpec, Limits, run_evaluation
from govern.assess.models import (
    ArtifactMismatchError,
    UntrustedArtifactError,
    load_model,
    resolve_classes,
)
from govern.domain.governance import DEFAULT_SKOPS_TRUSTED_TYPES
from govern.errors import DataError
from tests.assess.helpers import TouchOnSetState, TouchOnUnpickle
from tests.conftest import SAMPLE

TRUSTED = DEFAULT_SKOPS_TRUSTED_TYPES


@pytest.mark.parametrize("name", ["model.pkl", "model.joblib", "model.skops", "model.onnx"])
def test_malicious_pickle_is_refused_and_its_code_never_runs(tmp_path, name):
    marker = tmp_path / "pwned"
    artifact = tmp_path / name
    artifact.write_bytes(pickle.dumps(TouchOnUnpickle(marker)))
    # sanity: this pickle really does run code when unpickled
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(TouchOnUnpickle(probe)))
    assert probe.exists()
    with pytest.raises(UntrustedArtifactError, match="--trust-pickle") as caught:
        load_model(artifact, trusted_types=TRUSTED)
    assert "would run any code" in caught.value.message
    assert not marker.exists()


def test_skops_with_an_unlisted_type_is_refused_without_running_code(tmp_path):
    marker = tmp_path / "pwned"
    artifact = tmp_path / "hostile.skops"
    sio.dump(TouchOnSetState(marker), artifact)
    # sanity: loading it for real would run __setstate__ and create the marker
    sio.load(artifact, trusted=sio.get_untrusted_types(file=artifact))
    assert marker.exists()
    marker.unlink()
    with pytest.raises(UntrustedArtifactError) as caught:
        load_model(artifact, trusted_types=TRUSTED)
    assert "tests.assess.helpers.TouchOnSetState" in caught.value.message
    assert "skops_trusted_types" in caught.value.message
    assert not marker.exists()


def test_allowlist_comes_from_configuration_not_the_artifact(sample_artifacts):
    gradient_boosting = sample_artifacts / "credit-risk-1.1.0.skops"
    with pytest.raises(UntrustedArtifactError, match=r"sklearn\.tree\._tree\.Tree"):
        load_model(gradient_boosting, trusted_types=[])
    assert load_model(gradient_boosting, trusted_types=TRUSTED).classes == ["1", "2"]


def test_trusted_pickle_loads_when_asked(tmp_path, sample_artifacts):
    import joblib
    from sklearn.linear_model import LogisticRegression

    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "y": [0, 0, 1, 1]})
    model = LogisticRegression().fit(frame[["x"]], frame["y"])
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    with pytest.raises(UntrustedArtifactError):
        load_model(path, trusted_types=TRUSTED)
    loaded = load_model(path, trusted_types=TRUSTED, trust_pickle=True)
    assert loaded.format == "joblib"
    assert loaded.predict(frame).tolist() == [0, 0, 1, 1]


def test_hash_mismatch_is_refused_before_loading(tmp_path):
    marker = tmp_path / "pwned"
    artifact = tmp_path / "model.pkl"
    artifact.write_bytes(pickle.dumps(TouchOnUnpickle(marker)))
    with pytest.raises(ArtifactMismatchError, match="not the registered artifact"):
        load_model(artifact, trusted_types=TRUSTED, trust_pickle=True, expected_sha256="0" * 64)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (b"", "empty"),
        (b"PK\x03\x04 not really a zip", "not a model format"),
        (b"just some text", "not a model format"),
    ],
)
def test_broken_artifacts(tmp_path, content, pattern):
    path = tmp_path / "model.bin"
    path.write_bytes(content)
    with pytest.raises(DataError, match=pattern):
        load_model(path, trusted_types=TRUSTED)


def test_corrupt_skops_and_onnx(tmp_path, sample_artifacts):
    skops_file = tmp_path / "model.skops"
    skops_file.write_bytes((sample_artifacts / "credit-risk-1.0.0.skops").read_bytes()[:500])
    with pytest.raises(DataError, match="skops"):
        load_model(skops_file, trusted_types=TRUSTED)
    onnx_file = tmp_path / "model.onnx"
    onnx_file.write_bytes(b"\x08\x07garbage that is not a graph")
    with pytest.raises(DataError, match="not a loadable ONNX model"):
        load_model(onnx_file, trusted_types=TRUSTED)
    assert not list(tmp_path.glob("pwned*"))


def test_missing_artifact(tmp_path):
    with pytest.raises(DataError, match="no such model artifact"):
        load_model(tmp_path / "nope.skops", trusted_types=TRUSTED)


def test_model_without_feature_names_is_refused(tmp_path):
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(np.array([[0.0], [1.0]]), [0, 1])
    path = tmp_path / "bare.skops"
    sio.dump(model, path)
    with pytest.raises(DataError, match="fitted without column names"):
        load_model(path, trusted_types=TRUSTED)


@pytest.fixture(scope="module")
def onnx_model(onnx_artifacts):
    return onnx_artifacts / "credit-risk-1.1.0.onnx"


def test_onnx_scores_like_the_skops_model(onnx_model, sample_artifacts):
    frame = pd.read_csv(SAMPLE / "credit_holdout.csv")
    skops_model = load_model(sample_artifacts / "credit-risk-1.1.0.skops", trusted_types=TRUSTED)
    onnx = load_model(onnx_model, trusted_types=TRUSTED)
    resolve_classes(onnx, frame)
    assert onnx.format == "onnx" and onnx.classes == ["1", "2"]
    assert onnx.feature_names == skops_model.feature_names
    assert (onnx.predict(frame) == skops_model.predict(frame)).all()
    # ONNX computes in float32, so probabilities agree to a few thousandths, not to 1e-12
    assert np.abs(onnx.predict_proba(frame) - skops_model.predict_proba(frame)).max() < 1e-2
    onnx.check_columns(list(frame.columns), where="t")
    with pytest.raises(DataError, match="expects feature"):
        onnx.check_columns(["month"], where="t")


def test_renamed_onnx_is_recognised_by_content(tmp_path, onnx_model):
    copy = tmp_path / "model.skops"
    shutil.copy(onnx_model, copy)
    with pytest.raises(DataError):
        load_model(copy, trusted_types=TRUSTED)


# --- ONNX probabilities as a plain tensor (skl2onnx zipmap=False) ---------------------------

LIMITS = Limits(skops_trusted_types=tuple(TRUSTED))


def _onnx_spec(model, data=SAMPLE / "credit_holdout.csv", **extra):
    fields = {"explain_sample": 40, "explain_background": 20, **extra}
    return EvaluationSpec(
        data=data,
        target="credit",
        sensitive=("sex", "age_group"),
        model=model,
        positive="1",
        id_column="applicant_id",
        **fields,
    )


def _edited(source, target, edit):
    """A copy of an ONNX file with its graph changed by ``edit`` (an exporter's variant)."""
    import onnx

    proto = onnx.load(str(source))
    edit(proto.graph, onnx)
    onnx.checker.check_model(proto)
    target.write_bytes(proto.SerializeToString())
    return target


def test_onnx_probability_tensor_is_read_like_the_zipmap(onnx_artifacts):
    frame = pd.read_csv(SAMPLE / "credit_holdout.csv")
    zipmap = load_model(onnx_artifacts / "credit-risk-1.1.0.onnx", trusted_types=TRUSTED)
    tensor = load_model(onnx_artifacts / "credit-risk-1.1.0-tensor.onnx", trusted_types=TRUSTED)
    assert tensor.session.get_outputs()[1].type == "tensor(float)"
    for model in (zipmap, tensor):
        resolve_classes(model, frame)
    assert tensor.classes == zipmap.classes == ["1", "2"] and tensor.warnings == []
    assert np.array_equal(tensor.predict_proba(frame), zipmap.predict_proba(frame))


def test_onnx_zipmap_false_gives_the_same_auc_brier_scoring_rates_and_shap(onnx_artifacts):
    results = {
        name: run_evaluation(_onnx_spec(onnx_artifacts / name), LIMITS).results
        for name in ("credit-risk-1.1.0.onnx", "credit-risk-1.1.0-tensor.onnx")
    }
    zipmap, tensor = results.values()
    overall = tensor.performance.overall
    assert overall["roc_auc"] is not None and overall["brier"] is not None
    assert overall["roc_auc"] == pytest.approx(zipmap.performance.overall["roc_auc"], abs=1e-12)
    assert overall["brier"] == pytest.approx(zipmap.performance.overall["brier"], abs=1e-12)
    sex = next(g for g in tensor.fairness if g.name == "sex")
    assert all(group.metrics.scoring_rate is not None for group in sex.groups)
    assert tensor.fairness == zipmap.fairness
    assert tensor.explanations is not None and tensor.explanations.output == "probability of 1"
    assert tensor.explanations.global_ == zipmap.explanations.global_
    assert tensor.warnings == zipmap.warnings


def test_onnx_single_probability_column_is_the_second_class(onnx_artifacts, tmp_path):
    def keep_positive_column(graph, onnx):
        graph.initializer.append(onnx.helper.make_tensor("second", onnx.TensorProto.INT64, [], [1]))
        graph.node.append(
            onnx.helper.make_node("Gather", ["probabilities", "second"], ["p_bad"], axis=1)
        )
        del graph.output[1]
        graph.output.append(
            onnx.helper.make_tensor_value_info("p_bad", onnx.TensorProto.FLOAT, [None])
        )

    single = _edited(
        onnx_artifacts / "credit-risk-1.1.0-tensor.onnx",
        tmp_path / "single.onnx",
        keep_positive_column,
    )
    frame = pd.read_csv(SAMPLE / "credit_holdout.csv")
    zipmap = load_model(onnx_artifacts / "credit-risk-1.1.0.onnx", trusted_types=TRUSTED)
    model = load_model(single, trusted_types=TRUSTED)
    for loaded in (model, zipmap):
        resolve_classes(loaded, frame)
    assert model.classes == ["1", "2"]
    assert np.abs(model.predict_proba(frame) - zipmap.predict_proba(frame)).max() < 1e-6


def test_onnx_tensor_with_an_unidentified_column_warns_which_figures_are_missing(
    onnx_artifacts, sample_artifacts, tmp_path
):
    frame = pd.read_csv(SAMPLE / "credit_holdout.csv")
    skops_model = load_model(sample_artifacts / "credit-risk-1.1.0.skops", trusted_types=TRUSTED)
    # Only rows the model predicts "1" for: its second column is never the largest.
    good = frame[skops_model.predict(frame) == 1]
    data = tmp_path / "predicted_good.csv"
    good.to_csv(data, index=False)
    results = run_evaluation(
        _onnx_spec(onnx_artifacts / "credit-risk-1.1.0-tensor.onnx", data=data), LIMITS
    ).results
    assert results.performance.overall["roc_auc"] is None
    assert results.performance.overall["brier"] is None
    warning = next(w for w in results.warnings if "probability output" in w)
    assert "does not say which class each column is" in warning
    assert "1 of its 2 columns is never the largest" in warning
    assert "ROC AUC, the Brier score and scoring rates are unavailable" in warning
    assert results.explanations is not None
    assert results.explanations.output == "predicted label is 1 (no probabilities)"


def test_onnx_with_labels_only_warns(onnx_artifacts, tmp_path):
    def drop_probabilities(graph, onnx):
        del graph.output[1]

    labels_only = _edited(
        onnx_artifacts / "credit-risk-1.1.0-tensor.onnx",
        tmp_path / "labels.onnx",
        drop_probabilities,
    )
    results = run_evaluation(_onnx_spec(labels_only, explain_sample=0), LIMITS).results
    assert results.performance.overall["roc_auc"] is None
    assert any("gives predicted labels only (no probability output)" in w for w in results.warnings)


def test_onnx_declared_classes_name_the_tensor_columns(onnx_artifacts, tmp_path):
    import onnx

    proto = onnx.load(str(onnx_artifacts / "credit-risk-1.1.0-tensor.onnx"))
    onnx.helper.set_model_props(proto, {"classes": '["1", "2"]'})
    path = tmp_path / "declared.onnx"
    path.write_bytes(proto.SerializeToString())
    model = load_model(path, trusted_types=TRUSTED)
    assert model.classes == ["1", "2"]
    frame = pd.read_csv(SAMPLE / "credit_holdout.csv").head(5)
    resolve_classes(model, frame)
    assert model.predict_proba(frame).shape == (5, 2)
