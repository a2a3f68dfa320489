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

import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from govern.assess.artifacts import ArtifactInfo, inspect_artifact, unpack_zip
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
    #: ONNX: the output holding class probabilities (None: the model gives labels only), and
    #: whether it is a ZipMap (one mapping per row, keyed by class) or a plain tensor.
    onnx_probability: int | None = None
    onnx_probability_map: bool = False
    #: What the model cannot provide and why (e.g. probabilities it gives without saying
    #: which class each column is); an evaluation records them with its figures.
    warnings: list[str] = field(default_factory=list)

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
            raise DataError(self._cannot_score(frame, exc)) from None

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray | None:
        """Class probabilities, one column per entry of :attr:`classes`; None if unavailable."""
        import numpy as np

        if self.classes is None:
            return None
        if self.session is not None:
            if self.onnx_probability is None:
                return None
            outputs = self._run_onnx(frame)
            return _onnx_probabilities(outputs[self.onnx_probability], self.classes)
        if not hasattr(self.estimator, "predict_proba"):
            return None
        try:
            return np.asarray(self.estimator.predict_proba(self.features(frame)), dtype=float)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise DataError(self._cannot_score(frame, exc)) from None

    def _cannot_score(self, frame: pd.DataFrame, exc: BaseException) -> str:
        """Why the model failed, naming the column and row of the first missing or infinite
        value when that is the reason (a 5,000-digit number is read as infinite)."""
        import numpy as np
        import pandas as pd

        reason = _first_line(exc)
        if "NaN" not in reason and "infinity" not in reason:
            return f"the model could not score the data: {reason}"
        first: tuple[int, str] | None = None
        for name in self.feature_names:
            column = frame[name]
            numbers = (
                np.fromiter((_as_float(v) for v in column), dtype=np.float64, count=len(column))
                if column.dtype.kind not in "biufc"
                else pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
            )
            bad = np.flatnonzero(column.isna().to_numpy() | np.isinf(numbers))
            if bad.size and (first is None or bad[0] < first[0]):
                first = (int(bad[0]), name)
        if first is None:
            return f"the model could not score the data: {reason}"
        row, name = first
        return (
            f"the model could not score the data: column {name!r}, row {row + 1:,} holds "
            f"{frame[name].iloc[row]!s:.40} (missing, infinite or too large a number): {reason}"
        )

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


def _as_float(value: Any) -> float:
    """A value as the model would read it: float("9" * 5000) is inf, text is not a number."""
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return float("nan")


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
    values = np.asarray(raw, dtype=float)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values.reshape(-1)
    if values.ndim == 1 and len(classes) == 2:
        # One column: the probability of the second class (see _tensor_classes).
        return np.column_stack([1.0 - values, values])
    return values


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
    max_unpacked_bytes: int = 1_000_000_000,
    max_compression_ratio: int = 200,
) -> LoadedModel:
    """Load a model artifact for scoring, refusing anything that could run untrusted code.

    Args:
        path: the artifact (``.skops``, ``.onnx``; pickle/joblib only with ``trust_pickle``).
        trusted_types: types a skops file may hold (``Settings.skops_trusted_types``).
        trust_pickle: allow unpickling; the caller must record that it did.
        expected_sha256: refuse the file (before loading it) unless it has this SHA-256.
        before_unpickle: called with the artifact just before a trusted pickle is opened,
            so the caller can record it (the audit log) or still refuse by raising.
        max_unpacked_bytes, max_compression_ratio: what a skops archive may unpack to
            (this machine's limits, checked before anything is unpacked).

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
        estimator = _load_skops(
            path,
            trusted_types,
            unpack_zip(path, max_bytes=max_unpacked_bytes, max_ratio=max_compression_ratio),
        )
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


def _load_skops(path: Path, trusted_types: Sequence[str], archive: io.BytesIO) -> Any:
    """Load a skops file from ``archive``, its checked copy (:func:`unpack_zip`)."""
    import zipfile

    import skops.io as sio

    try:
        present = sio.get_untrusted_types(data=archive.getvalue())
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
        archive.seek(0)
        return sio.load(archive, trusted=[t for t in present if t in allowed])
    except Exception as exc:  # skops raises many kinds for damaged archives
        raise DataError(f"{path}: cannot load skops file ({_first_line(exc)})") from None


def _unpickle(path: Path, kind: str) -> Any:
    # Only reached with an explicit --trust-pickle (docs/architecture.md §10).
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
    probability, is_map = _probability_output(outputs)
    declared_classes = _metadata_list(metadata.get("classes"))
    if declared_classes:
        classes = declared_classes
    elif probability is not None:
        # A ZipMap names its classes in its keys, a plain tensor in the order of the labels
        # the model predicts: both are read on first use, by resolve_classes().
        classes = []
    warnings: list[str] = []
    if probability is None and outputs and _is_label_output(outputs[0]):
        warnings.append(
            f"{info.path.name}: the ONNX model gives predicted labels only (no probability "
            f"output), so ROC AUC, the Brier score and scoring rates are unavailable and "
            "explanations explain its labels; export it with its probabilities"
        )
    return LoadedModel(
        info=info,
        feature_names=feature_names,
        classes=[label_text(c) for c in classes] if classes is not None else None,
        session=session,
        onnx_inputs=inputs,
        onnx_probability=probability,
        onnx_probability_map=is_map,
        warnings=warnings,
    )


def _is_label_output(output: Any) -> bool:
    kind = str(output.type)
    return kind in {"tensor(int64)", "tensor(int32)", "tensor(string)", "tensor(bool)"}


def _probability_output(outputs: Sequence[Any]) -> tuple[int | None, bool]:
    """Which output holds class probabilities, and whether it is a ZipMap.

    A classifier's first output is its labels; its probabilities follow, as a ZipMap
    (``seq(map(...))``) or, exported with ``zipmap=False``, as a float tensor of shape
    ``[N, classes]`` (or ``[N]``: the probability of the second class). The names vary by
    exporter, so the type and shape decide.
    """
    if len(outputs) < 2 or not _is_label_output(outputs[0]):
        return None, False
    for index, output in enumerate(outputs[1:], start=1):
        kind = str(output.type)
        if kind.startswith("seq(map("):
            return index, True
        shape = output.shape or []
        if kind in {"tensor(float)", "tensor(double)", "tensor(float16)"} and len(shape) in (1, 2):
            width = shape[1] if len(shape) == 2 else 1
            if not isinstance(width, int) or width >= 1:
                return index, False
    return None, False


def _metadata_list(raw: str | None) -> list[str] | None:
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return [part.strip() for part in raw.split(",") if part.strip()]
    return [str(v) for v in value] if isinstance(value, list) else None


def resolve_classes(model: LoadedModel, frame: pd.DataFrame) -> None:
    """Fill ONNX class labels: from the keys of a ZipMap (a one-row run), or, for a plain
    probability tensor, from which column is largest where the model predicts each label.

    A tensor whose columns the predictions on ``frame`` do not identify (a class the model
    never predicts here, labels that disagree with the largest probability) leaves the
    model without probabilities, and says so in :attr:`LoadedModel.warnings`.
    """
    from govern.assess.data import label_text

    if model.session is None or model.classes != [] or model.onnx_probability is None:
        return
    if model.onnx_probability_map:
        raw = model._run_onnx(frame.head(1))[model.onnx_probability]
        if isinstance(raw, list) and raw and isinstance(raw[0], dict):
            model.classes = [label_text(k) for k in raw[0]]
        else:
            model.classes = None
        return
    outputs = model._run_onnx(frame)
    labels = [label_text(v) for v in _as_list(outputs[0])]
    classes, reason = _tensor_classes(labels, outputs[model.onnx_probability])
    model.classes = classes
    if classes is None:
        model.onnx_probability = None
        model.warnings.append(
            f"{model.info.path.name}: the ONNX model's probability output does not say which "
            f"class each column is ({reason}), so ROC AUC, the Brier score and scoring rates "
            "are unavailable and explanations explain its labels; export it with "
            "zipmap=True or set its metadata 'classes' to the labels in column order"
        )


def _as_list(raw: Any) -> list[Any]:
    import numpy as np

    return list(np.asarray(raw).reshape(-1))


def _tensor_classes(labels: list[str], raw: Any) -> tuple[list[str] | None, str]:
    """The class of each probability column, from the labels the model predicted.

    A classifier predicts the class of its largest probability, so on rows without a tie
    each column must go with exactly one label. A single column is the probability of the
    second class (the positive one of a binary model), so its label is the one predicted
    where it is above one half.
    """
    import numpy as np

    values = np.asarray(raw, dtype=float)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values.reshape(-1)
    if values.ndim == 1:
        above = {label for label, p in zip(labels, values, strict=True) if p > 0.5}
        below = {label for label, p in zip(labels, values, strict=True) if p < 0.5}
        if len(above) == 1 and len(below) == 1 and above != below:
            return [below.pop(), above.pop()], ""
        return None, "the labels it predicts on this data do not match one column of one class"
    if values.ndim != 2 or len(values) != len(labels):
        return None, f"it has shape {list(values.shape)}"
    ordered = np.sort(values, axis=1)
    clear = ordered[:, -1] > ordered[:, -2] if values.shape[1] > 1 else np.ones(len(values), bool)
    column_labels: dict[int, set[str]] = {}
    for label, column in zip(
        np.asarray(labels, dtype=object)[clear], values[clear].argmax(axis=1), strict=True
    ):
        column_labels.setdefault(int(column), set()).add(str(label))
    width = values.shape[1]
    if any(len(found) > 1 for found in column_labels.values()):
        return None, "the labels it predicts do not follow its largest probability"
    if len(column_labels) < width:
        unseen = width - len(column_labels)
        return None, (
            f"{unseen} of its {width} columns is never the largest on this data"
            if unseen == 1
            else f"{unseen} of its {width} columns are never the largest on this data"
        )
    classes = [next(iter(column_labels[j])) for j in range(width)]
    if len(set(classes)) < width:
        return None, "two columns go with the same label"
    return classes, ""


__all__ = [
    "ArtifactMismatchError",
    "LoadedModel",
    "UntrustedArtifactError",
    "load_model",
    "resolve_classes",
]
