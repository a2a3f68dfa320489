"""SHAP explanations: which features drive the model, overall and for one decision.

The explainer follows the model:

* **tree** (gradient boosting, random forests, decision trees): ``shap.TreeExplainer``, exact
  and path-dependent, so it needs no background data;
* **linear** (logistic and linear regression): ``shap.LinearExplainer`` with a seeded
  background sample;
* **permutation** (anything else, ONNX included): a model-agnostic explainer on the model's
  own input columns with a seeded background sample.

For a scikit-learn pipeline the tree and linear explainers run on the transformed features
(e.g. one-hot columns) and the SHAP values of the columns made from one input feature are
summed, which keeps them additive: every explanation is in terms of the columns a person can
see in the data. Values are oriented towards the *positive* label, whichever class index the
model gave it.

SHAP costs grow with the model (a deep random forest explains ~33 rows/s), so global
importance runs on a seeded sample and says how certain it is: bootstrap 95% intervals of
each feature's mean |SHAP| and of its rank.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from govern.assess.results import (
    GlobalImportance,
    LocalContribution,
    LocalExplanation,
    SensitiveFlag,
)
from govern.errors import DataError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from govern.assess.models import LoadedModel

Progress = Callable[[str, int, int], None]

#: Bootstrap resamples for the uncertainty of global importance.
BOOTSTRAP = 200
#: Rows explained per call, so progress can be reported and memory stays bounded.
CHUNK = 200
#: A numeric feature with more distinct values than this is treated as continuous when its
#: association with a sensitive feature is measured (correlation ratio, not Cramér's V).
CONTINUOUS_DISTINCT = 20

_TREE_MODULES = ("sklearn.ensemble", "sklearn.tree", "xgboost", "lightgbm", "catboost")


@dataclass
class Explainer:
    """An explainer bound to one model, producing SHAP values per *input* feature."""

    method: str
    features: list[str]
    output: str
    #: frame of model features -> (shap values (rows, features), base values (rows,))
    run: Callable[[pd.DataFrame], tuple[np.ndarray, np.ndarray]]


def build_explainer(
    model: LoadedModel,
    background: pd.DataFrame,
    *,
    positive: str | None,
    seed: int,
) -> Explainer:
    """Choose and set up the explainer for ``model`` (see the module docstring).

    Args:
        model: the loaded model.
        background: rows of the evaluation data (already sampled) for explainers that need a
            background distribution.
        positive: the positive label (classification) or None (regression).
        seed: seeds the permutation explainer.
    """
    estimator = model.estimator
    if estimator is not None:
        pre, final = _split_pipeline(estimator)
        kind = _kind(final)
        mapping = None
        if kind is not None and pre is not None:
            try:
                mapping = _input_mapping(pre, model.feature_names, background)
            except (TypeError, ValueError, AttributeError, KeyError):
                mapping = None
            if mapping is None:
                kind = None  # cannot attribute transformed columns to inputs: model-agnostic
        if kind is not None:
            try:
                return _transformed_explainer(
                    model, pre, final, kind, mapping, background, positive
                )
            except (TypeError, ValueError, NotImplementedError, AttributeError, KeyError):
                pass  # e.g. a model TreeExplainer does not support: go model-agnostic
    return _permutation_explainer(model, background, positive=positive, seed=seed)


def _split_pipeline(estimator: Any) -> tuple[Any, Any]:
    steps = getattr(estimator, "steps", None)
    if steps and len(steps) > 1:
        return estimator[:-1], estimator[-1]
    if steps:
        return None, estimator[-1]
    return None, estimator


def _kind(final: Any) -> str | None:
    module = type(final).__module__
    name = type(final).__name__
    if module.startswith(_TREE_MODULES) and not name.startswith(
        ("AdaBoost", "Bagging", "Voting", "Stacking")
    ):
        return "tree"
    if hasattr(final, "coef_") and hasattr(final, "intercept_"):
        coef = getattr(final, "coef_", None)
        if coef is not None and (getattr(coef, "ndim", 1) == 1 or coef.shape[0] == 1):
            return "linear"
    return None


def _input_mapping(pre: Any, features: list[str], sample: pd.DataFrame) -> np.ndarray | None:
    """Matrix (transformed columns x input features) of which input made which column."""
    import numpy as np

    transformed = _dense(pre.transform(sample.loc[:, features].head(2)))
    width = transformed.shape[1]
    column_transformer = None
    for step in getattr(pre, "steps", [("", pre)]):
        if type(step[1]).__name__ == "ColumnTransformer":
            column_transformer = step[1]
            break
    if column_transformer is None:
        return np.eye(width) if width == len(features) else None
    ct = column_transformer
    ct_width = sum(s.stop - s.start for s in ct.output_indices_.values())
    if ct_width != width:
        return None  # a later step changed the number of columns: cannot attribute them
    mapping = np.zeros((width, len(features)))
    position = {f: i for i, f in enumerate(features)}
    names_in = [str(n) for n in getattr(ct, "feature_names_in_", features)]
    for name, transformer, columns in ct.transformers_:
        block = ct.output_indices_.get(name)
        if block is None or block.stop == block.start or transformer == "drop":
            continue
        cols = _column_names(columns, names_in)
        if cols is None or any(c not in position for c in cols):
            return None
        size = block.stop - block.start
        if size == len(cols):
            for offset, col in enumerate(cols):
                mapping[block.start + offset, position[col]] = 1.0
            continue
        try:
            out_names = [str(n) for n in transformer.get_feature_names_out(cols)]
        except (AttributeError, ValueError, TypeError):
            return None
        if len(out_names) != size:
            return None
        by_length = sorted(cols, key=len, reverse=True)
        for offset, out in enumerate(out_names):
            source = next((c for c in by_length if out == c or out.startswith(c + "_")), None)
            if source is None:
                return None
            mapping[block.start + offset, position[source]] = 1.0
    if not (mapping.sum(axis=1) == 1).all():
        return None
    return mapping


def _column_names(columns: Any, names_in: list[str]) -> list[str] | None:
    import numpy as np

    if isinstance(columns, str):
        return [columns]
    values = list(columns) if not isinstance(columns, slice) else names_in[columns]
    if not values:
        return []
    if all(isinstance(v, bool | np.bool_) for v in values):
        return [n for n, keep in zip(names_in, values, strict=False) if keep]
    if all(isinstance(v, int | np.integer) for v in values):
        return [names_in[int(v)] for v in values]
    return [str(v) for v in values]


def _dense(matrix: Any) -> np.ndarray:
    import numpy as np

    if hasattr(matrix, "toarray"):
        matrix = matrix.toarray()
    return np.asarray(matrix, dtype=np.float64)


def _positive_index(model: LoadedModel, positive: str | None) -> int | None:
    if positive is None or model.classes is None:
        return None
    if positive not in model.classes:
        raise DataError(
            f"the model's classes are {', '.join(model.classes)}; positive label {positive!r} "
            "is not one of them"
        )
    return model.classes.index(positive)


def _transformed_explainer(
    model: LoadedModel,
    pre: Any,
    final: Any,
    kind: str,
    mapping: np.ndarray | None,
    background: pd.DataFrame,
    positive: str | None,
) -> Explainer:
    import numpy as np
    import shap

    features = model.feature_names
    index = _positive_index(model, positive)

    def transform(frame: pd.DataFrame) -> np.ndarray:
        data = frame.loc[:, features]
        return _dense(pre.transform(data)) if pre is not None else _dense(data.to_numpy())

    if kind == "tree":
        explainer = shap.TreeExplainer(final)
    else:
        masker = shap.maskers.Independent(transform(background), max_samples=len(background))
        explainer = shap.LinearExplainer(final, masker)
    base_raw = np.atleast_1d(np.asarray(explainer.expected_value, dtype=np.float64))
    probe = np.asarray(explainer.shap_values(transform(background.head(1))))
    per_class = probe.ndim == 3
    if index is None:
        output = "prediction"
    elif per_class:
        output = f"probability of {positive}"
    else:
        output = f"log-odds of {positive}"
    # A single-output classifier explains classes_[1]; the positive label may be classes_[0].
    flip = index == 0 and not per_class

    def run(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        if kind == "tree":
            values = np.asarray(explainer.shap_values(transform(frame), check_additivity=False))
        else:
            values = np.asarray(explainer.shap_values(transform(frame)))
        base = float(base_raw[0])
        if values.ndim == 3:
            column = index if index is not None else 0
            values = values[:, :, column]
            base = float(base_raw[column]) if len(base_raw) > column else base
        if flip:
            values, base = -values, -base
        if mapping is not None:
            values = values @ mapping
        return values, np.full(len(frame), base)

    return Explainer(method=kind, features=list(features), output=output, run=run)


def _permutation_explainer(
    model: LoadedModel, background: pd.DataFrame, *, positive: str | None, seed: int
) -> Explainer:
    import numpy as np
    import pandas as pd
    import shap

    features = model.feature_names
    index = _positive_index(model, positive)
    data = background.loc[:, features]
    categories: dict[str, np.ndarray] = {}
    dtypes = {c: data[c].dtype for c in features}
    for column in features:
        if data[column].dtype.kind not in "biuf":
            categories[column] = np.asarray(pd.unique(data[column].astype(object)), dtype=object)

    def encode(frame: pd.DataFrame) -> np.ndarray:
        out = np.empty((len(frame), len(features)), dtype=np.float64)
        for j, column in enumerate(features):
            values = frame[column]
            if column in categories:
                known = categories[column]
                lookup = {v: i for i, v in enumerate(known.tolist())}
                unseen = [v for v in pd.unique(values.astype(object)) if v not in lookup]
                if unseen:
                    known = np.concatenate([known, np.asarray(unseen, dtype=object)])
                    categories[column] = known
                    lookup = {v: i for i, v in enumerate(known.tolist())}
                out[:, j] = values.astype(object).map(lookup).to_numpy(dtype=np.float64)
            else:
                out[:, j] = values.to_numpy(dtype=np.float64)
        return out

    def decode(matrix: np.ndarray) -> pd.DataFrame:
        columns: dict[str, Any] = {}
        for j, column in enumerate(features):
            if column in categories:
                columns[column] = categories[column][matrix[:, j].astype(np.int64)]
            else:
                columns[column] = matrix[:, j].astype(dtypes[column])
        return pd.DataFrame(columns)

    # A classifier without (identifiable) probabilities is explained through its predicted
    # label, as 1.0 where it is the positive one, and the output says so.
    labels_only = positive is not None and index is None

    def predict(matrix: np.ndarray) -> np.ndarray:
        frame = decode(matrix)
        if index is not None:
            proba = model.predict_proba(frame)
            if proba is not None:
                return proba[:, index]
        if index is not None or labels_only:
            from govern.assess.data import label_text

            labels = model.predict(frame)
            return np.array([label_text(v) == positive for v in labels], dtype=np.float64)
        return np.asarray(model.predict(frame), dtype=np.float64)

    encoded_background = encode(data)
    masker = shap.maskers.Independent(encoded_background, max_samples=len(encoded_background))
    explainer = shap.explainers.Permutation(predict, masker, seed=seed)
    if labels_only:
        output = f"predicted label is {positive} (no probabilities)"
    else:
        output = f"probability of {positive}" if index is not None else "prediction"

    def run(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        result = explainer(
            encode(frame.loc[:, features]), max_evals=2 * len(features) + 1, silent=True
        )
        values = np.asarray(result.values, dtype=np.float64)
        base = np.asarray(result.base_values, dtype=np.float64).reshape(-1)
        return values, base

    return Explainer(method="permutation", features=list(features), output=output, run=run)


def explain_frame(
    explainer: Explainer,
    frame: pd.DataFrame,
    *,
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """SHAP values for every row of ``frame``, in chunks so progress can be shown."""
    import numpy as np

    values: list[np.ndarray] = []
    bases: list[np.ndarray] = []
    total = len(frame)
    for start in range(0, total, CHUNK):
        chunk_values, chunk_base = explainer.run(frame.iloc[start : start + CHUNK])
        values.append(chunk_values)
        bases.append(chunk_base)
        if progress is not None:
            progress("explaining", min(start + CHUNK, total), total)
    if not values:
        return np.zeros((0, len(explainer.features))), np.zeros(0)
    return np.vstack(values), np.concatenate(bases)


def global_importance(
    shap_values: np.ndarray, features: Sequence[str], *, seed: int, resamples: int = BOOTSTRAP
) -> list[GlobalImportance]:
    """Mean |SHAP| per feature with bootstrap 95% intervals of the value and of the rank."""
    import numpy as np

    magnitude = np.abs(shap_values)
    rows = magnitude.shape[0]
    means = magnitude.mean(axis=0)
    order = np.argsort(-means, kind="stable")
    rank = np.empty(len(features), dtype=np.int64)
    rank[order] = np.arange(1, len(features) + 1)
    rng = np.random.default_rng(seed)
    boot = np.empty((resamples, len(features)))
    for b in range(resamples):
        boot[b] = magnitude[rng.integers(0, rows, rows)].mean(axis=0)
    boot_rank = np.argsort(np.argsort(-boot, axis=1, kind="stable"), axis=1) + 1
    lower, upper = np.percentile(boot, [2.5, 97.5], axis=0)
    rank_lower = np.floor(np.percentile(boot_rank, 2.5, axis=0)).astype(int)
    rank_upper = np.ceil(np.percentile(boot_rank, 97.5, axis=0)).astype(int)
    items = [
        GlobalImportance(
            feature=str(features[j]),
            mean_abs_shap=float(means[j]),
            lower=float(lower[j]),
            upper=float(upper[j]),
            rank=int(rank[j]),
            rank_lower=int(rank_lower[j]),
            rank_upper=int(rank_upper[j]),
        )
        for j in range(len(features))
    ]
    return sorted(items, key=lambda item: item.rank)


def association(feature: pd.Series, sensitive: pd.Series) -> float | None:
    """Strength of association in 0..1: Cramér's V, or the correlation ratio for numbers."""
    import numpy as np

    from govern.assess.data import encode_labels

    both = feature.notna().to_numpy() & sensitive.notna().to_numpy()
    if both.sum() < 2:
        return None
    s_codes, s_labels = encode_labels(sensitive[both])
    if len(s_labels) < 2:
        return None
    values = feature[both]
    if values.dtype.kind in "biuf" and values.nunique() > CONTINUOUS_DISTINCT:
        x = values.to_numpy(dtype=np.float64)
        k = len(s_labels)
        n = np.bincount(s_codes, minlength=k).astype(np.float64)
        sums = np.bincount(s_codes, weights=x, minlength=k)
        total = float(((x - x.mean()) ** 2).sum())
        if total == 0:
            return None
        present = n > 0
        between = float((sums[present] ** 2 / n[present]).sum() - x.sum() ** 2 / len(x))
        return float(np.sqrt(max(between, 0.0) / total))
    f_codes, f_labels = encode_labels(values)
    if len(f_labels) < 2:
        return None
    table = (
        np.bincount(f_codes * len(s_labels) + s_codes, minlength=len(f_labels) * len(s_labels))
        .reshape(len(f_labels), len(s_labels))
        .astype(np.float64)
    )
    n_total = table.sum()
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / n_total
    with np.errstate(divide="ignore", invalid="ignore"):
        chi2 = float(np.nansum((table - expected) ** 2 / expected))
    dof = min(table.shape) - 1
    return float(np.sqrt(chi2 / (n_total * dof))) if dof > 0 else None


def sensitive_flags(
    importance: Sequence[GlobalImportance],
    frame: pd.DataFrame,
    sensitive: Sequence[str],
    *,
    top_k: int,
    threshold: float,
) -> list[SensitiveFlag]:
    """Flag top features that are sensitive, or strongly associated with a sensitive one."""
    flags: list[SensitiveFlag] = []
    for item in importance[:top_k]:
        if item.feature in sensitive:
            flags.append(
                SensitiveFlag(
                    feature=item.feature,
                    reason=f"sensitive feature {item.feature!r} is the model's "
                    f"#{item.rank} most important feature",
                )
            )
            continue
        if item.feature not in frame.columns:
            continue
        best: tuple[float, str] | None = None
        for name in sensitive:
            if name not in frame.columns:
                continue
            strength = association(frame[item.feature], frame[name])
            if (
                strength is not None
                and strength >= threshold
                and (best is None or strength > best[0])
            ):
                best = (strength, name)
        if best is not None:
            flags.append(
                SensitiveFlag(
                    feature=item.feature,
                    reason=(
                        f"{item.feature!r} (#{item.rank} most important) is strongly associated "
                        f"with sensitive feature {best[1]!r} (association {best[0]:.2f}), so it "
                        "can carry that information into decisions"
                    ),
                    associated_with=best[1],
                    association=best[0],
                )
            )
    return flags


def local_explanation(
    *,
    row_id: str,
    method: str,
    output: str,
    features: Sequence[str],
    values: np.ndarray,
    base: float | None,
    row: pd.Series,
    prediction: float | None,
    predicted_label: str | None,
) -> LocalExplanation:
    """One decision's explanation: every feature's contribution, largest first."""
    import numpy as np

    from govern.assess.data import label_text

    order = np.argsort(-np.abs(values), kind="stable")
    contributions = []
    for j in order.tolist():
        raw = row[features[j]]
        text = None if _is_missing(raw) else label_text(raw)
        contributions.append(
            LocalContribution(feature=str(features[j]), value=text, shap=float(values[j]))
        )
    return LocalExplanation(
        row_id=row_id,
        method=method,
        base_value=base,
        prediction=prediction,
        predicted_label=predicted_label,
        contributions=contributions,
        output=output,
    )


def _is_missing(value: Any) -> bool:
    try:
        return bool(value != value)  # NaN is the only value not equal to itself
    except (TypeError, ValueError):
        return False


__all__ = [
    "Explainer",
    "association",
    "build_explainer",
    "explain_frame",
    "global_importance",
    "local_explanation",
    "sensitive_flags",
]
