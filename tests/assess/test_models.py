"""Safe model loading: hostile pickles and skops files are refused without running their code."""

from __future__ import annotations

import pickle  # noqa: TID251 - building hostile fixtures is the point of these tests
import shutil

import numpy as np
import pandas as pd
import pytest
import skops.io as sio

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
def onnx_model(tmp_path_factory, sample_artifacts):
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import Int64TensorType, StringTensorType

    model = sio.load(sample_artifacts / "credit-risk-1.1.0.skops", trusted=TRUSTED)
    frame = pd.read_csv(SAMPLE / "credit_holdout.csv")
    features = frame[list(model.feature_names_in_)]
    inputs = [
        (
            c,
            Int64TensorType([None, 1])
            if features[c].dtype.kind == "i"
            else StringTensorType([None, 1]),
        )
        for c in features.columns
    ]
    path = tmp_path_factory.mktemp("onnx") / "credit-risk-1.1.0.onnx"
    path.write_bytes(to_onnx(model, initial_types=inputs, target_opset=17).SerializeToString())
    return path


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
