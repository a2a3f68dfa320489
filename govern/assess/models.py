"""Loading model artifacts safely and scoring data with them.

* **skops**: the types an artifact may instantiate come from ``Settings.skops_trusted_types``
  (govern's configuration), never from the artifact. Any other type is refused *before*
  anything is loaded, so no code of the artifact's choosing runs.
* **ONNX**: run by onnxruntime, which executes a graph of operators, not Python code.
* **pickle / joblib**: unpickling runs arbitrary code, so it is refused unless the caller
  passes ``trust_pickle=True`` (``--trust-pickle``), which the service records in the audit log.

The format is recognised from the file's content (:func:`~govern.assess.artifacts.
inspect_artifact`), so a pickle renamed to ``.skops`` is still treated as a pickle.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from govern.assess.artifacts import ArtifactInfo, inspect_artifact
from govern.errors import DataError, RefusedError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

_MAX_LISTED = 6


class UntrustedArtifactError(RefusedError):
    """An artifact would need code or types govern does not trust."""

    title = "Untrusted model artifact"


@dataclass
class LoadedModel:
    """A model ready to score a data frame, whatever format it came in."""

    info: ArtifactInfo
    feature_names: list[str]
    #: Class labels as text, in the order of ``predict_proba`` columns (None: a regressor).
    classes: list[str] | None
    estimator: Any = None
    session: Any = None
    onnx_inputs: list[tuple[str, str]] = field(default_factory=list)

    @property
    def format(self) -> str:
        return self.info.format

    @property
    def sha256(self) -> str:
        return self.info.sha256

    def check_columns(self, columns: Sequence[str], *, where: str) -> None:
        """Refuse a data set that lacks any feature the model was trained on."""
        missing = [f for f in self.feature_names if f not in set(columns)]
        if missing:
            shown = ", ".join(missing[:_MAX_LISTED])
            more = f" ({len(missing)} in all)" if len(missing) > _MAX_LISTED else ""
            raise DataError(
                f"{where}: the model expects feature{'s' * (len(missing) > 1)} {shown}{more} "
                f"that the data does not have; the model's features are "
                f"{', '.join(self.feature_names[:_MAX_LISTED])}"
                f"{' ...' if len(self.feature_names) > _MAX_LISTED else ''}"
            )

    def features(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame.loc[:, self.feature_names]

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Predicted labels (raw values, as the model returns them)."""
        import numpy as np

        if self.session is not None:
            outputs = self._run_onnx(frame)
            return np.asarray(outputs[0]).reshape(-1)
        try:
            return np.asarray(self.estimator.predict(self.features(frame)))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise DataError(f"the model could not score the data: {_first_line(exc)}") from None

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray | None:
        """Class probabilities, one column per entry of :attr:`classes`; None if unavailable."""
        import numpy as np

        if self.classes is None:
            return None
        if self.session is not None:
            outputs = self._run_onnx(frame)
            if len(outputs) < 2:
                return None
            return _onnx_probabilities(outputs[1], self.classes)
        if not hasattr(self.estimator, "predict_proba"):
            return None
        try:
            return np.asarray(self.estimator.predict_proba(self.features(frame)), dtype=float)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise DataError(f"the model could not score the data: {_first_line(exc)}") from None

    def _run_onnx(self, frame: pd.DataFrame) -> list[Any]:
        import numpy as np

        feed: dict[str, Any] = {}
        try:
            if len(self.onnx_inputs) == 1 and len(self.feature_names) > 1:
                name, kind = self.onnx_inputs[0]
                feed[name] = self.features(frame).to_numpy().astype(_onnx_dtype(kind))
            else:
                for name, kind in self.onnx_inputs:
                    column = frame[name].to_numpy()
                    feed[name] = column.astype(_onnx_dtype(kind)).reshape(-1, 1)
            result: list[Any] = self.session.run(None, feed)
        except (ValueError, TypeError, KeyError, RuntimeError) as exc:
            raise DataError(
                f"the ONNX model could not score the data: {_first_line(exc)}"
            ) from None
        except Exception as exc:  # onnxruntime raises its own exception classes
            raise DataError(
                f"the ONNX model could not score the data: {_first_line(exc)}"
            ) from None
        if result and len(np.asarray(result[0]).reshape(-1)) != len(frame):
            raise DataError(
                f"the ONNX model returned {len(np.asarray(result[0]).reshape(-1))} predictions "
                f"for {len(frame)} rows"
            )
        return result


def _onnx_dtype(kind: str) -> Any:
    import numpy as np

    if "string" in kind:
        return np.str_
    if "int64" in kind:
        return np.int64
    if "int32" in kind:
        return np.int32
    if "double" in kind:
        return np.float64
    if "bool" in kind:
        return np.bool_
    return np.float32


def _onnx_probabilities(raw: Any, classes: list[str]) -> np.ndarray:
    import numpy as np

    from govern.assess.data import label_text

    if isinstance(raw, list) and raw and isinstance(raw[0], dict):
        keys = {label_text(k): k for k in raw[0]}
        return np.array([[row[keys[c]] for c in classes] for row in raw], dtype=float)
    return np.asarray(raw, dtype=float)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class ArtifactMismatchError(RefusedError):
    """The artifact is not the one registered for the version being evaluated."""

    title = "Artifact mismatch"


def load_model(
    path: Path,
    *,
    trusted_types: Sequence[str],
    trust_pickle: bool = False,
    expected_sha256: str | None = None,
    before_unpickle: Callable[[ArtifactInfo], None] | None = None,
) -> LoadedModel:
    """Load a model artifact for scoring, refusing anything that could run untrusted code.

    Args:
        path: the artifact (``.skops``, ``.onnx``; pickle/joblib only with ``trust_pickle``).
        trusted_types: types a skops file may hold (``Settings.skops_trusted_types``).
        trust_pickle: allow unpickling; the caller must record that it did.
        expected_sha256: refuse the file (before loading it) unless it has this SHA-256.
        before_unpickle: called with the artifact just before a trusted pickle is opened,
            so the caller can record it (the audit log) or still refuse by raising.

    Raises:
        UntrustedArtifactError: a pickle without ``trust_pickle``, or a skops file holding a
            type outside ``trusted_types``.
        DataError: the file is missing, empty, corrupt or not a model govern can score.
    """
    info = inspect_artifact(path)
    if expected_sha256 is not None and info.sha256 != expected_sha256:
        raise ArtifactMismatchError(
            f"{path}: SHA-256 {info.sha256[:16]}... is not the registered artifact "
            f"{expected_sha256[:16]}...; evaluate the artifact that was registered, or "
            "register this one as a new version"
        )
    if info.format == "skops":
        estimator = _load_skops(path, trusted_types)
    elif info.format == "onnx":
        return _load_onnx(info)
    elif info.format in {"pickle", "joblib"}:
        if not trust_pickle:
            raise UntrustedArtifactError(
                f"{path}: is a {info.format} file; loading it would run any code it contains, "
                "so govern refuses it. Save the model with skops or ONNX, or pass "
                "--trust-pickle if you trust its origin (recorded in the audit log)"
            )
        if before_unpickle is not None:
            before_unpickle(info)
        estimator = _unpickle(path, info.format)
    else:
        raise DataError(
            f"{path}: not a model format govern can load (expected .skops or .onnx, or a "
            "pickle with --trust-pickle)"
        )
    return _describe_estimator(info, estimator)


def _load_skops(path: Path, trusted_types: Sequence[str]) -> Any:
    import zipfile

    import skops.io as sio

    try:
        present = sio.get_untrusted_types(file=path)
    except (zipfile.BadZipFile, KeyError, ValueError, json.JSONDecodeError, OSError) as exc:
        raise DataError(f"{path}: not a readable skops file ({_first_line(exc)})") from None
    allowed = set(trusted_types)
    refused = sorted(t for t in present if t not in allowed)
    if refused:
        raise UntrustedArtifactError(
            f"{path}: holds type{'s' * (len(refused) > 1)} {', '.join(refused[:_MAX_LISTED])} "
            "that govern's configuration does not trust, so it was not loaded; if you trust "
            "them, add them to skops_trusted_types (GOVERN_SKOPS_TRUSTED_TYPES)"
        )
    try:
        return sio.load(path, trusted=[t for t in present if t in allowed])
    except Exception as exc:  # skops raises many kinds for damaged archives
        raise DataError(f"{path}: cannot load skops file ({_first_line(exc)})") from None


def _unpickle(path: Path, kind: str) -> Any:
    # Only reached with an explicit --trust-pickle (DESIGN.md section 11).
    import joblib  # type: ignore[import-untyped]

    try:
        return joblib.load(path)
    except Exception as exc:  # anything can happen inside an unpickler
        raise DataError(f"{path}: cannot load {kind} file ({_first_line(exc)})") from None


def _describe_estimator(info: ArtifactInfo, estimator: Any) -> LoadedModel:
    from govern.assess.data import label_text

    if not hasattr(estimator, "predict"):
        raise DataError(f"{info.path}: holds a {type(estimator).__name__}, not a model")
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        raise DataError(
            f"{info.path}: the model was fitted without column names, so govern cannot match "
            "its features to the data's columns; fit it on a pandas DataFrame"
        )
    classes = getattr(estimator, "classes_", None)
    return LoadedModel(
        info=info,
        feature_names=[str(n) for n in names],
        classes=[label_text(c) for c in classes] if classes is not None else None,
        estimator=estimator,
    )


def _load_onnx(info: ArtifactInfo) -> LoadedModel:
    import onnxruntime as ort

    from govern.assess.data import label_text

    try:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(
            str(info.path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime's own exception types
        raise DataError(f"{info.path}: not a loadable ONNX model ({_first_line(exc)})") from None
    inputs = [(i.name, str(i.type)) for i in session.get_inputs()]
    metadata = session.get_modelmeta().custom_metadata_map
    feature_names = [name for name, _ in inputs]
    if len(inputs) == 1:
        shape = session.get_inputs()[0].shape
        width = shape[1] if len(shape) == 2 and isinstance(shape[1], int) else None
        declared = _metadata_list(metadata.get("feature_names"))
        if declared:
            feature_names = declared
        elif width not in (None, 1):
            raise DataError(
                f"{info.path}: the ONNX model takes one tensor of {width} features without "
                "their names; export it with one input per column (skl2onnx does this for "
                "a DataFrame) or set metadata 'feature_names'"
            )
    outputs = session.get_outputs()
    classes: list[str] | None = None
    declared_classes = _metadata_list(metadata.get("classes"))
    if declared_classes:
        classes = declared_classes
    elif len(outputs) >= 2:
        classes = _probe_classes(session, outputs[1])
    return LoadedModel(
        info=info,
        feature_names=feature_names,
        classes=[label_text(c) for c in classes] if classes is not None else None,
        session=session,
        onnx_inputs=inputs,
    )


def _metadata_list(raw: str | None) -> list[str] | None:
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return [part.strip() for part in raw.split(",") if part.strip()]
    return [str(v) for v in value] if isinstance(value, list) else None


def _probe_classes(session: Any, output: Any) -> list[str] | None:
    # A ZipMap output names its classes in its keys; they are read on first use instead.
    kind = str(output.type)
    if kind.startswith("seq(map("):
        return []  # filled in by resolve_classes() after the first run
    return None


def resolve_classes(model: LoadedModel, frame: pd.DataFrame) -> None:
    """Fill ONNX class labels from the probability map of a first (small) run."""
    from govern.assess.data import label_text

    if model.session is None or model.classes != []:
        return
    outputs = model._run_onnx(frame.head(1))
    raw = outputs[1]
    if isinstance(raw, list) and raw and isinstance(raw[0], dict):
        model.classes = [label_text(k) for k in raw[0]]
    else:
        model.classes = None


__all__ = [
    "ArtifactMismatchError",
    "LoadedModel",
    "UntrustedArtifactError",
    "load_model",
    "resolve_classes",
]
