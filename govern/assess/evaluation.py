"""One evaluation from start to finish, without the catalogue: read, score, measure, explain.

:func:`run_evaluation` turns an :class:`EvaluationSpec` (every input a person chose) into the
stored results document and the per-decision explanations. The spec (with the explanation
settings in force) is recorded with the evaluation, so :func:`run_evaluation` on the same spec
and files gives the same figures, whatever the configuration says later:
that is what ``govern evaluate --recompute`` checks, with :func:`compare_results`.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from govern.assess.results import (
    DatasetInfo,
    EvaluationResults,
    Explanations,
    LocalExplanation,
)
from govern.errors import DataError, InputError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from govern.assess.artifacts import ArtifactInfo
    from govern.assess.data import EncodedFeature, Table
    from govern.assess.models import LoadedModel
    from govern.domain.governance import GovernanceSettings

#: (step, done, total): e.g. ("explaining", 200, 1000). Front ends draw a bar from it.
Progress = Callable[[str, int, int], None]
#: Called just before a trusted pickle is opened (see :func:`~govern.assess.models.load_model`).
BeforeUnpickle = Callable[["ArtifactInfo"], None]

PACKAGES = (
    "numpy",
    "pandas",
    "scipy",
    "scikit-learn",
    "fairlearn",
    "shap",
    "skops",
    "onnxruntime",
    "govern",
)

TASKS = ("binary_classification", "regression")
#: The catalogue's explanation.row_id column holds 200 characters (PostgreSQL enforces it).
MAX_ROW_ID_CHARS = 200


@dataclass(frozen=True)
class Limits:
    """What an evaluation may read and load.

    ``max_data_bytes`` protects the machine it runs on (the person's setting); the group
    limit and the skops allowlist are the organisation's (the catalogue's governance
    settings, never the artifact's).
    """

    max_data_bytes: int = 2_000_000_000
    max_groups: int = 1_000
    skops_trusted_types: tuple[str, ...] = ()
    #: The person's limits on hostile files (see :class:`~govern.config.Settings`).
    max_group_label_chars: int = 200
    max_unpacked_bytes: int = 1_000_000_000
    max_compression_ratio: int = 200


@dataclass(frozen=True)
class EvaluationSpec:
    """Everything that determines an evaluation's figures (recorded as its ``params``)."""

    data: Path
    target: str
    sensitive: tuple[str, ...]
    model: Path | None = None
    predictions: str | None = None
    score: str | None = None
    positive: str | None = None
    id_column: str | None = None
    explain: int = 0
    explain_sample: int = 1_000
    seed: int = 0
    min_group_size: int = 30
    trust_pickle: bool = False
    task: str = "binary_classification"
    #: Impact-ratio reference values, ``((feature, value), ...)`` (``--reference``); a feature
    #: not named gets the default reference (:func:`~govern.assess.fairness.choose_reference`).
    reference: tuple[tuple[str, str], ...] = ()
    #: Background rows of the linear and model-agnostic explainers (governance settings).
    explain_background: int = 100
    #: Sensitive-proxy flags: how many top features, how strong an association.
    explain_top_k: int = 10
    association_threshold: float = 0.5

    @classmethod
    def with_settings(cls, settings: GovernanceSettings, **fields: Any) -> EvaluationSpec:
        """A spec whose explanation settings come from the organisation's ``settings``, so
        they are recorded too."""
        return cls(
            explain_background=settings.explain_background,
            explain_top_k=settings.explain_top_k,
            association_threshold=settings.association_threshold,
            **fields,
        )

    def to_params(self) -> dict[str, Any]:
        params = asdict(self)
        params["data"] = str(self.data)
        params["model"] = str(self.model) if self.model is not None else None
        params["sensitive"] = list(self.sensitive)
        params["reference"] = [list(pair) for pair in self.reference]
        return params

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> EvaluationSpec:
        known = {k: v for k, v in params.items() if k in cls.__dataclass_fields__}
        known["data"] = Path(known["data"])
        known["model"] = Path(known["model"]) if known.get("model") else None
        known["sensitive"] = tuple(known.get("sensitive", ()))
        known["reference"] = tuple(
            (str(feature), str(value)) for feature, value in known.get("reference") or ()
        )
        return cls(**known)


@dataclass
class EvaluationOutcome:
    results: EvaluationResults
    local: list[LocalExplanation] = field(default_factory=list)


def package_versions() -> dict[str, str | None]:
    """Versions of the packages whose code produced the figures."""
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _check_spec(spec: EvaluationSpec) -> None:
    if spec.task not in TASKS:
        raise InputError(f"unknown task {spec.task!r}; use one of {', '.join(TASKS)}")
    if spec.model is not None and spec.predictions is not None:
        raise InputError("give either a model (--model) or a predictions column, not both")
    if spec.model is None and spec.predictions is None:
        raise InputError(
            "give a model artifact (--model) or a column of predictions (--predictions)"
        )
    if not spec.sensitive:
        raise InputError("name at least one sensitive feature (--sensitive sex,age_group)")
    if len(set(spec.sensitive)) != len(spec.sensitive):
        raise InputError("a sensitive feature is named twice in --sensitive")
    for name, value in (
        ("--explain", spec.explain),
        ("--explain-sample", spec.explain_sample),
        ("--min-group-size", spec.min_group_size),
    ):
        if value < 0:
            raise InputError(f"{name} must not be negative")
    named = [feature for feature, _ in spec.reference]
    for feature in named:
        if named.count(feature) > 1:
            raise InputError(f"--reference names {feature!r} twice; give one value per feature")
        if feature not in spec.sensitive:
            raise InputError(
                f"--reference {feature}: {feature!r} is not a sensitive feature of this "
                f"evaluation (--sensitive {','.join(spec.sensitive)})"
            )
    if spec.reference and spec.task == "regression":
        raise InputError("--reference applies to impact ratios, which a regression has none of")


#: How many of a feature's values an error message lists.
VALUES_SHOWN = 20


def _check_reference(spec: EvaluationSpec, encoded: Sequence[EncodedFeature]) -> None:
    """Each ``--reference`` value is a value of its feature (before anything is computed)."""
    labels = {e.feature: e.labels for e in encoded}
    for feature, value in spec.reference:
        values = labels[feature]
        if value not in values:
            shown = ", ".join(values[:VALUES_SHOWN])
            more = f" and {len(values) - VALUES_SHOWN} more" if len(values) > VALUES_SHOWN else ""
            raise InputError(
                f"--reference {feature}={value}: {feature!r} has no value {value!r} "
                f"(its values: {shown}{more})"
            )


def _row_ids(table: Table, id_column: str | None) -> list[str]:
    from govern.assess.data import encode_labels, label_text

    if id_column is None:
        return [str(i) for i in range(table.rows)]
    series = table.column(id_column, option="--id-column")
    codes, labels = encode_labels(series)
    if (codes < 0).any():
        raise DataError(f"{table.name}: id column {id_column!r} has missing values")
    if len(labels) != table.rows:
        raise DataError(
            f"{table.name}: id column {id_column!r} has duplicate values; row ids must be unique"
        )
    ids = [label_text(v) for v in series.tolist()]
    for row, text in enumerate(ids, start=1):
        if len(text) > MAX_ROW_ID_CHARS:
            raise DataError(
                f"{table.name}: id column {id_column!r}, row {row:,}: an id of {len(text):,} "
                f"characters is longer than the {MAX_ROW_ID_CHARS} the catalogue stores"
            )
    return ids


def _load_inputs(
    spec: EvaluationSpec,
    limits: Limits,
    *,
    expected_artifact_sha256: str | None,
    progress: Progress | None,
    before_unpickle: BeforeUnpickle | None = None,
    expected_data_sha256: str | None = None,
) -> tuple[Table, LoadedModel | None]:
    from govern.assess.artifacts import peek_format
    from govern.assess.data import load_table
    from govern.assess.models import load_model, resolve_classes

    def load() -> LoadedModel:
        assert spec.model is not None
        _step(progress, "loading model")
        return load_model(
            spec.model,
            trusted_types=list(limits.skops_trusted_types),
            trust_pickle=spec.trust_pickle,
            expected_sha256=expected_artifact_sha256,
            before_unpickle=before_unpickle,
            max_unpacked_bytes=limits.max_unpacked_bytes,
            max_compression_ratio=limits.max_compression_ratio,
        )

    # The artifact is checked (hash, format, trusted types) before the data is even read,
    # so a refused model costs nothing and runs nothing. A trusted pickle is opened only
    # after the data has been read: unusable data must not cost running the pickle's code.
    model = None
    pickled = spec.model is not None and peek_format(spec.model) in {"pickle", "joblib"}
    if spec.model is not None and not (pickled and spec.trust_pickle):
        model = load()
    _step(progress, "reading data")
    table = load_table(spec.data, max_bytes=limits.max_data_bytes)
    if expected_data_sha256 is not None and table.sha256 != expected_data_sha256:
        raise DataError(
            f"{spec.data}: the file has changed since the evaluation (SHA-256 "
            f"{table.sha256[:16]}... is not {expected_data_sha256[:16]}...)"
        )
    _check_columns(spec, table)
    if spec.model is not None and model is None:
        model = load()
    if model is not None:
        model.check_columns(table.columns, where=f"{table.name} with {spec.model.name}")  # type: ignore[union-attr]
        resolve_classes(model, table.frame)
    return table, model


def _check_columns(spec: EvaluationSpec, table: Table) -> None:
    """Every column the spec names exists (before a trusted pickle would be opened)."""
    named = [
        ("--target", spec.target),
        *(("--sensitive", name) for name in spec.sensitive),
        ("--predictions", spec.predictions),
        ("--score", spec.score),
        ("--id-column", spec.id_column),
    ]
    for option, name in named:
        if name is not None:
            table.column(name, option=option)


def _step(progress: Progress | None, step: str) -> None:
    if progress is not None:
        progress(step, 0, 0)


def run_evaluation(
    spec: EvaluationSpec,
    limits: Limits,
    *,
    expected_artifact_sha256: str | None = None,
    progress: Progress | None = None,
    before_unpickle: BeforeUnpickle | None = None,
) -> EvaluationOutcome:
    """Evaluate a model (or its recorded predictions) on a data set.

    Args:
        spec: the inputs; see :class:`EvaluationSpec`.
        limits: data size, groups and the skops allowlist.
        expected_artifact_sha256: refuse a model artifact with another hash.
        progress: called as long steps advance.
        before_unpickle: called just before a trusted pickle is opened (to audit it).

    Raises:
        InputError / DataError: unusable inputs (nothing is computed half-way).
        RefusedError: an untrusted or mismatching model artifact.
    """
    _check_spec(spec)
    table, model = _load_inputs(
        spec,
        limits,
        expected_artifact_sha256=expected_artifact_sha256,
        progress=progress,
        before_unpickle=before_unpickle,
    )
    target_series = table.column(spec.target, option="--target")
    sensitive_series = {name: table.column(name, option="--sensitive") for name in spec.sensitive}
    if spec.score is not None:
        table.column(spec.score, option="--score")
    row_ids = _row_ids(table, spec.id_column)
    encoded = _encode_sensitive(table, sensitive_series, limits)
    _check_reference(spec, encoded)
    # What the model cannot give (e.g. probabilities it does not label) is said, not hidden.
    warnings: list[str] = list(model.warnings) if model is not None else []
    raw_predictions, probabilities = _predictions(spec, table, model, progress)

    if spec.task == "regression":
        results_core = _regression(spec, table, target_series, raw_predictions, encoded)
        positive = None
    else:
        results_core, positive = _classification(
            spec,
            table,
            target_series,
            raw_predictions,
            probabilities,
            model,
            encoded,
            warnings,
        )

    explanations = None
    local: list[LocalExplanation] = []
    if model is not None and (spec.explain_sample > 0 or spec.explain > 0):
        explanations, local = _explain(
            spec,
            limits,
            table,
            model,
            positive,
            row_ids,
            probabilities,
            progress,
            raw_predictions=raw_predictions,
        )
    elif model is None and spec.explain > 0:
        warnings.append("explanations need a model (--model); none were computed")
    results = _results(spec, table, model, results_core, positive, explanations, warnings)
    return EvaluationOutcome(results=results, local=local)


def _encode_sensitive(
    table: Table, sensitive_series: Mapping[str, pd.Series], limits: Limits
) -> list[EncodedFeature]:
    """Each sensitive column as groups, refused if it has too many or too long labels."""
    from govern.assess.data import encode_feature

    return [
        encode_feature(
            series,
            feature=name,
            max_groups=limits.max_groups,
            max_label_chars=limits.max_group_label_chars,
            where=table.name,
        )
        for name, series in sensitive_series.items()
    ]


def _predictions(
    spec: EvaluationSpec,
    table: Table,
    model: LoadedModel | None,
    progress: Progress | None,
) -> tuple[Any, np.ndarray | None]:
    """The model's predictions (and probabilities, for classification), or the recorded ones."""
    if model is None:
        assert spec.predictions is not None
        return table.column(spec.predictions, option="--predictions"), None
    _step(progress, "predicting")
    frame = table.frame
    raw_predictions = model.predict(frame)
    probabilities = model.predict_proba(frame) if spec.task != "regression" else None
    return raw_predictions, probabilities


def _results(
    spec: EvaluationSpec,
    table: Table,
    model: LoadedModel | None,
    results_core: dict[str, Any],
    positive: str | None,
    explanations: Explanations | None,
    warnings: list[str],
) -> EvaluationResults:
    """The results document: the computed figures with the inputs that produced them."""
    return EvaluationResults(
        task=spec.task,
        dataset=DatasetInfo(
            name=table.name, sha256=table.sha256, rows=table.rows, columns=table.columns
        ),
        target=spec.target,
        positive_label=positive,
        sensitive_features=list(spec.sensitive),
        prediction_source="model" if model is not None else "predictions",
        score_column=spec.score,
        min_group_size=spec.min_group_size,
        seed=spec.seed,
        packages=package_versions(),
        artifact_sha256=model.sha256 if model is not None else None,
        performance=results_core["performance"],
        fairness=results_core.get("fairness", []),
        explanations=explanations,
        warnings=[*warnings, *results_core.get("warnings", [])],
        prediction_column=spec.predictions,
        id_column=spec.id_column,
        artifact_format=model.format if model is not None else None,
    )


def _classification(
    spec: EvaluationSpec,
    table: Table,
    target_series: pd.Series,
    raw_predictions: Any,
    probabilities: np.ndarray | None,
    model: LoadedModel | None,
    encoded: Sequence[EncodedFeature],
    warnings: list[str],
) -> tuple[dict[str, Any], str]:
    from govern.assess.data import binary_predictions, binary_target, numeric_column
    from govern.assess.fairness import assess_fairness
    from govern.assess.performance import classification_performance, row_group_codes

    target = binary_target(target_series, positive=spec.positive, where=table.name)
    labels = list(target.labels)
    if model is not None and model.classes:
        if target.positive not in model.classes:
            raise DataError(
                f"positive label {target.positive!r} is not a class of the model "
                f"(its classes are {', '.join(model.classes)})"
            )
        labels += [c for c in model.classes if c not in labels]
    source = (
        f"predictions of {spec.model.name}"
        if model is not None and spec.model is not None
        else f"{table.name}: predictions column {spec.predictions!r}"
    )
    y_pred = binary_predictions(
        raw_predictions, rows=table.rows, labels=labels, positive=target.positive, source=source
    )
    score = None
    if spec.score is not None:
        score = numeric_column(
            table.frame[spec.score], source=f"{table.name}: score column {spec.score!r}"
        )
    elif probabilities is not None and model is not None and model.classes:
        score = probabilities[:, model.classes.index(target.positive)]
    if len(target.labels) < 2:
        warnings.append(
            f"target {spec.target!r} has a single class ({target.labels[0]}): true and false "
            "positive rates are undefined"
        )
    assessment = assess_fairness(
        target.y,
        y_pred,
        encoded,
        score=score,
        min_group_size=spec.min_group_size,
        reference=dict(spec.reference),
    )
    performance = classification_performance(
        target.y,
        y_pred,
        assessment.counts,
        score=score,
        row_groups=row_group_codes(encoded, assessment.counts) if score is not None else None,
    )
    core = {
        "performance": performance,
        "fairness": assessment.groupings,
        "warnings": assessment.warnings,
    }
    return core, target.positive


def _regression(
    spec: EvaluationSpec,
    table: Table,
    target_series: pd.Series,
    raw_predictions: Any,
    encoded: Sequence[EncodedFeature],
) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    from govern.assess.data import numeric_column
    from govern.assess.fairness import count_groups
    from govern.assess.performance import regression_performance, row_group_codes

    y = numeric_column(target_series, source=f"{table.name}: target column {spec.target!r}")
    predictions = (
        raw_predictions
        if isinstance(raw_predictions, pd.Series)
        else pd.Series(np.asarray(raw_predictions).reshape(-1))
    )
    if len(predictions) != table.rows:
        raise DataError(f"predictions: {len(predictions)} values for {table.rows} rows")
    predicted = numeric_column(predictions, source="predictions")
    zeros = np.zeros(table.rows, dtype=bool)
    counts = count_groups(zeros, zeros, encoded)
    codes = row_group_codes(encoded, counts)
    groupings = {
        c.name: (codes[c.name], [c.label(i) for i in range(len(c.labels))]) for c in counts
    }
    return {"performance": regression_performance(y, predicted, groupings)}


def _samples(rows: int, spec: EvaluationSpec, background: int) -> tuple[list[int], ...]:
    import numpy as np

    def draw(stream: int, size: int) -> list[int]:
        rng = np.random.default_rng([spec.seed, stream])
        chosen = rng.choice(rows, size=min(size, rows), replace=False)
        return sorted(int(i) for i in chosen)

    return draw(1, spec.explain_sample), draw(2, spec.explain), draw(3, background)


def _explain(
    spec: EvaluationSpec,
    limits: Limits,
    table: Table,
    model: LoadedModel,
    positive: str | None,
    row_ids: list[str],
    probabilities: np.ndarray | None,
    progress: Progress | None,
    *,
    raw_predictions: Any = None,
) -> tuple[Explanations, list[LocalExplanation]]:
    from govern.assess.explain import (
        build_explainer,
        explain_frame,
        global_importance,
        local_explanation,
        sensitive_flags,
    )

    frame = table.frame
    global_rows, local_rows, background_rows = _samples(table.rows, spec, spec.explain_background)
    _step(progress, "preparing explanations")
    explainer = build_explainer(
        model, frame.iloc[background_rows], positive=positive, seed=spec.seed
    )
    wanted = sorted(set(global_rows) | set(local_rows))
    values, bases = explain_frame(explainer, frame.iloc[wanted], progress=progress)
    position = {row: i for i, row in enumerate(wanted)}
    importance = []
    flags = []
    if global_rows:
        sample = values[[position[r] for r in global_rows]]
        importance = global_importance(sample, explainer.features, seed=spec.seed)
        flags = sensitive_flags(
            importance,
            frame,
            list(spec.sensitive),
            top_k=spec.explain_top_k,
            threshold=spec.association_threshold,
        )
    local = [
        _local_for_row(
            explainer.method,
            explainer.output,
            explainer.features,
            values[position[row]],
            float(bases[position[row]]),
            row_ids[row],
            frame.iloc[row],
            model,
            positive,
            probabilities[row] if probabilities is not None else None,
            local_explanation,
            raw_prediction=_at(raw_predictions, row),
        )
        for row in local_rows
    ]
    base_value = float(bases.mean()) if len(bases) else None
    explanations = Explanations(
        method=explainer.method,
        sample_size=len(global_rows),
        seed=spec.seed,
        model_sha256=model.sha256,
        base_value=base_value,
        global_=importance,
        top_features=[item.feature for item in importance],
        sensitive_flags=flags,
        local_count=len(local),
        output=explainer.output,
        background_size=0 if explainer.method == "tree" else len(background_rows),
    )
    return explanations, local


def _local_for_row(
    method: str,
    output: str,
    features: list[str],
    values: np.ndarray,
    base: float,
    row_id: str,
    row: pd.Series,
    model: LoadedModel,
    positive: str | None,
    probability_row: np.ndarray | None,
    build: Callable[..., LocalExplanation],
    *,
    raw_prediction: Any = None,
) -> LocalExplanation:
    """The stored explanation of one row, with what the model decided for it.

    ``prediction`` is the probability of the positive label (classification) or the
    predicted value (regression); ``predicted_label`` is the model's own decision.
    """
    from govern.assess.data import label_text

    prediction = None
    predicted = None
    if probability_row is not None and model.classes and positive is not None:
        prediction = float(probability_row[model.classes.index(positive)])
        predicted = model.classes[int(probability_row.argmax())]
    if raw_prediction is not None:
        if positive is None:
            prediction = float(raw_prediction)
        else:
            predicted = label_text(raw_prediction)
    return build(
        row_id=row_id,
        method=method,
        output=output,
        features=features,
        values=values,
        base=base,
        row=row,
        prediction=prediction,
        predicted_label=predicted,
    )


def explain_one(
    spec: EvaluationSpec,
    limits: Limits,
    row_id: str,
    *,
    expected_data_sha256: str | None = None,
    expected_artifact_sha256: str | None = None,
    before_unpickle: BeforeUnpickle | None = None,
) -> LocalExplanation:
    """Explain one decision on demand, with the explainer the evaluation used.

    The data and model must be the files the evaluation recorded (same SHA-256), so the
    explanation is of the same decision.
    """
    if spec.model is None:
        raise InputError(
            "this evaluation used a predictions column, not a model; explanations need a model"
        )
    table, model = _load_inputs(
        spec,
        limits,
        expected_artifact_sha256=expected_artifact_sha256,
        progress=None,
        before_unpickle=before_unpickle,
        expected_data_sha256=expected_data_sha256,
    )
    assert model is not None
    row_ids = _row_ids(table, spec.id_column)
    try:
        row = row_ids.index(row_id)
    except ValueError:
        what = f"id column {spec.id_column!r}" if spec.id_column else "row numbers (from 0)"
        raise DataError(f"{table.name}: no row with id {row_id!r} ({what})") from None
    from govern.assess.data import binary_target
    from govern.assess.explain import build_explainer, local_explanation

    positive = None
    if spec.task != "regression":
        positive = binary_target(
            table.column(spec.target, option="--target"), positive=spec.positive, where=table.name
        ).positive
    _global_rows, _local_rows, background_rows = _samples(table.rows, spec, spec.explain_background)
    frame = table.frame
    explainer = build_explainer(
        model, frame.iloc[background_rows], positive=positive, seed=spec.seed
    )
    values, bases = explainer.run(frame.iloc[[row]])
    probabilities = model.predict_proba(frame.iloc[[row]]) if positive is not None else None
    return _local_for_row(
        explainer.method,
        explainer.output,
        explainer.features,
        values[0],
        float(bases[0]),
        row_id,
        frame.iloc[row],
        model,
        positive,
        probabilities[0] if probabilities is not None else None,
        local_explanation,
        raw_prediction=_at(model.predict(frame.iloc[[row]]), 0),
    )


def _at(values: Any, index: int) -> Any:
    """One raw prediction (array or Series), or None."""
    if values is None:
        return None
    item = values.iloc[index] if hasattr(values, "iloc") else values[index]
    return item.item() if hasattr(item, "item") else item


def compare_results(
    stored: dict[str, Any], fresh: dict[str, Any], *, ignore: Sequence[str] = ("packages",)
) -> list[str]:
    """Every figure that differs between two results documents, as readable paths.

    Lists are matched by their natural key (a grouping's ``name``, a group's ``group``, a
    feature's ``feature``) so a reordering is not reported as a change of every element.
    """
    differences: list[str] = []
    _walk(stored, fresh, "", differences, set(ignore))
    return differences


_KEYS = ("name", "group", "feature", "row_id")


def _walk(old: Any, new: Any, path: str, out: list[str], ignore: set[str]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            if not path and key in ignore:
                continue
            child = f"{path}.{key}" if path else str(key)
            if key not in old:
                out.append(f"{child}: added {_short(new[key])}")
            elif key not in new:
                out.append(f"{child}: removed (was {_short(old[key])})")
            else:
                _walk(old[key], new[key], child, out, ignore)
        return
    if isinstance(old, list) and isinstance(new, list):
        key = _list_key(old) or _list_key(new)
        if key is not None and _list_key(new) == key and _list_key(old) == key:
            old_map = {item[key]: item for item in old}
            new_map = {item[key]: item for item in new}
            for name in list(old_map) + [n for n in new_map if n not in old_map]:
                child = f"{path}[{name}]"
                if name not in new_map:
                    out.append(f"{child}: removed")
                elif name not in old_map:
                    out.append(f"{child}: added")
                else:
                    _walk(old_map[name], new_map[name], child, out, ignore)
            return
        if len(old) != len(new):
            out.append(f"{path}: {len(old)} items, now {len(new)}")
            return
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            _walk(a, b, f"{path}[{index}]", out, ignore)
        return
    if old != new:
        out.append(f"{path}: {_short(old)} -> {_short(new)}")


def _list_key(items: list[Any]) -> str | None:
    if not items or not all(isinstance(i, dict) for i in items):
        return None
    for key in _KEYS:
        values = [i.get(key) for i in items]
        if all(isinstance(v, str) for v in values) and len(set(values)) == len(values):
            return key
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


__all__ = [
    "PACKAGES",
    "BeforeUnpickle",
    "EvaluationOutcome",
    "EvaluationSpec",
    "Progress",
    "compare_results",
    "explain_one",
    "package_versions",
    "run_evaluation",
]
