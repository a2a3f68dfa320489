"""Drift between a reference data set (e.g. training data) and current data.

Per feature, and for the model's score when there is one:

* **Population Stability Index** over bins fixed on the reference: deciles of a numeric
  feature, categories of a categorical one; missing values are a bin of their own. The
  rule-of-thumb bands: below 0.1 stable, 0.1 to 0.25 moderate, 0.25 or more significant.
* **Kolmogorov-Smirnov** for numeric features, with an effect size that does not shrink to
  nothing as samples grow: the Wasserstein distance in units of the reference's standard
  deviation.
* **Chi-square** test of homogeneity for categorical features, with Cramér's V.

Columns that are not features are left out by default, each with its reason recorded: the
target and the id column an evaluation of the version named, and any other column whose
values are all distinct integers or strings in both data sets (an identifier) that the
model does not use. ``include`` puts one back, ``exclude`` leaves more out.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING

from govern.assess.results import DriftDataset, DriftResults, FeatureDrift
from govern.errors import InputError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from govern.assess.data import Table

MODERATE = 0.1
SIGNIFICANT = 0.25
#: Proportion used in place of an empty bin so PSI stays finite.
EMPTY_BIN = 1e-4


def band(value: float) -> str:
    if value < MODERATE:
        return "stable"
    if value < SIGNIFICANT:
        return "moderate"
    return "significant"


def psi(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """Population Stability Index of two histograms over the same bins."""
    import numpy as np

    p = reference_counts / reference_counts.sum()
    q = current_counts / current_counts.sum()
    p = np.where(p == 0, EMPTY_BIN, p)
    q = np.where(q == 0, EMPTY_BIN, q)
    return float(np.sum((q - p) * np.log(q / p)))


def numeric_drift(
    name: str, reference: np.ndarray, current: np.ndarray, *, bins: int
) -> FeatureDrift:
    """PSI over reference quantile bins, KS test and a standardised Wasserstein effect size."""
    import numpy as np
    from scipy import stats

    ref_missing = np.isnan(reference)
    cur_missing = np.isnan(current)
    ref, cur = reference[~ref_missing], current[~cur_missing]
    note = None
    if ref.size == 0 or cur.size == 0:
        return FeatureDrift(
            feature=name,
            kind="numeric",
            psi=None,
            band=None,
            test=None,
            n_reference=int(ref.size),
            n_current=int(cur.size),
            missing_reference=int(ref_missing.sum()),
            missing_current=int(cur_missing.sum()),
            note="no values in one of the data sets",
        )
    edges = np.unique(np.quantile(ref, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    k = len(edges) + 1
    ref_counts = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=k)
    cur_counts = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=k)
    ref_counts = np.append(ref_counts, ref_missing.sum())
    cur_counts = np.append(cur_counts, cur_missing.sum())
    value = psi(ref_counts.astype(float), cur_counts.astype(float))
    result = stats.ks_2samp(ref, cur)
    spread = float(np.std(ref))
    distance = float(stats.wasserstein_distance(ref, cur))
    effect = distance / spread if spread > 0 else None
    if spread == 0:
        note = "the reference is constant, so no standardised effect size"
    return FeatureDrift(
        feature=name,
        kind="numeric",
        psi=value,
        band=band(value),
        test="ks",
        statistic=float(result.statistic),
        p_value=float(result.pvalue),
        effect_size=effect,
        n_reference=int(ref.size),
        n_current=int(cur.size),
        missing_reference=int(ref_missing.sum()),
        missing_current=int(cur_missing.sum()),
        note=note,
    )


def categorical_drift(name: str, reference: pd.Series, current: pd.Series) -> FeatureDrift:
    """PSI over the categories (missing is one), chi-square test and Cramér's V."""
    import numpy as np
    import pandas as pd
    from scipy import stats

    from govern.assess.data import encode_labels

    combined = pd.concat([reference, current], ignore_index=True)
    codes, labels = encode_labels(combined)
    k = len(labels) + 1  # the last bin holds missing values
    codes = np.where(codes < 0, len(labels), codes)
    ref_counts = np.bincount(codes[: len(reference)], minlength=k)
    cur_counts = np.bincount(codes[len(reference) :], minlength=k)
    value = psi(ref_counts.astype(float), cur_counts.astype(float))
    table = np.vstack([ref_counts, cur_counts])
    table = table[:, table.sum(axis=0) > 0]
    statistic = p_value = effect = None
    note = None
    if table.shape[1] >= 2:
        chi = stats.chi2_contingency(table, correction=False)
        statistic, p_value = float(chi.statistic), float(chi.pvalue)
        effect = float(np.sqrt(statistic / table.sum()))  # 2 rows: min(r, c) - 1 = 1
    else:
        note = "a single category in both data sets"
    return FeatureDrift(
        feature=name,
        kind="categorical",
        psi=value,
        band=band(value),
        test="chi-square" if statistic is not None else None,
        statistic=statistic,
        p_value=p_value,
        effect_size=effect,
        n_reference=int(reference.notna().sum()),
        n_current=int(current.notna().sum()),
        missing_reference=int(reference.isna().sum()),
        missing_current=int(current.isna().sum()),
        note=note,
    )


def _is_identifier(reference: pd.Series, current: pd.Series) -> bool:
    """Every value distinct and present in both data sets, integers or strings (not
    measurements: a float column of distinct values is a continuous feature)."""
    for series in (reference, current):
        if series.dtype.kind not in "iuOST" or len(series) < 2:
            return False
        if series.isna().any() or not series.is_unique:
            return False
    return True


def left_out_columns(
    reference: Table,
    current: Table,
    *,
    exclude: Sequence[str] = (),
    include: Sequence[str] = (),
    declared: Mapping[str, str] | None = None,
    model_features: Collection[str] | None = None,
) -> dict[str, str]:
    """The columns drift leaves out, each with why.

    Args:
        exclude: columns the person leaves out (``--exclude``).
        include: columns the person puts back (``--include``), whatever the defaults say.
        declared: columns known not to be features, with the reason (the target and the id
            column of the version's evaluation).
        model_features: the model's features, when known: never taken for identifiers.

    Raises:
        InputError: a column in ``include`` that neither data set has, or that is also in
            ``exclude``.
    """
    columns = [str(c) for c in reference.frame.columns]
    shared = [c for c in columns if c in {str(c) for c in current.frame.columns}]
    for name in include:
        if name in exclude:
            raise InputError(f"--include {name}: the column is also given to --exclude")
        if name not in columns and name not in set(map(str, current.frame.columns)):
            raise InputError(
                f"--include {name}: neither {reference.name} nor {current.name} has a column "
                f"{name!r}"
            )
    left: dict[str, str] = dict.fromkeys(exclude, "left out with --exclude")
    for name, reason in (declared or {}).items():
        if name in shared and name not in include:
            left.setdefault(name, reason)
    features = set(model_features or ())
    for name in shared:
        if name in left or name in include or name in features:
            continue
        if _is_identifier(reference.frame[name], current.frame[name]):
            left[name] = (
                "every value is distinct in both data sets: an identifier, not a feature "
                f"(--include {name} to measure it)"
            )
    return left


def assess_drift(
    reference: Table,
    current: Table,
    *,
    bins: int = 10,
    exclude: Sequence[str] = (),
    max_categories: int = 1_000,
    prediction: tuple[np.ndarray, np.ndarray] | None = None,
    prediction_source: str | None = None,
    packages: dict[str, str | None] | None = None,
    include: Sequence[str] = (),
    declared: Mapping[str, str] | None = None,
    model_features: Collection[str] | None = None,
) -> DriftResults:
    """Drift of every feature the two data sets share (and of the model's score).

    Args:
        reference: the baseline, typically the training data.
        current: the data to compare, e.g. last month's applications.
        bins: quantile bins for numeric PSI.
        exclude: more columns to leave out; ``include``, ``declared`` and
            ``model_features`` decide the columns left out by default (see
            :func:`left_out_columns`); every column left out is recorded with its reason.
        max_categories: categorical columns with more distinct values are skipped.
        prediction: the model's scores on (reference, current), for prediction drift.
    """
    from govern.assess.data import numeric_column

    left_out = left_out_columns(
        reference,
        current,
        exclude=exclude,
        include=include,
        declared=declared,
        model_features=model_features,
    )
    warnings = _column_warnings(reference, current)
    features = _feature_drifts(
        reference,
        current,
        left_out=left_out,
        bins=bins,
        max_categories=max_categories,
        warnings=warnings,
    )
    prediction_drift = None
    if prediction is not None:
        ref_scores = numeric_column(_series(prediction[0]), source="reference predictions")
        cur_scores = numeric_column(_series(prediction[1]), source="current predictions")
        prediction_drift = numeric_drift("prediction", ref_scores, cur_scores, bins=bins)
    return DriftResults(
        reference=DriftDataset(name=reference.name, sha256=reference.sha256, rows=reference.rows),
        current=DriftDataset(name=current.name, sha256=current.sha256, rows=current.rows),
        bins=bins,
        features=features,
        prediction=prediction_drift,
        prediction_source=prediction_source,
        packages=packages or {},
        warnings=warnings,
        left_out=left_out,
    )


def _column_warnings(reference: Table, current: Table) -> list[str]:
    """Warnings for the columns only one of the two data sets has."""
    ref_cols = [str(c) for c in reference.frame.columns]
    cur_cols = {str(c) for c in current.frame.columns}
    only_ref = [c for c in ref_cols if c not in cur_cols]
    only_cur = sorted(cur_cols - set(ref_cols))
    warnings: list[str] = []
    if only_ref:
        warnings.append(f"columns only in the reference: {', '.join(only_ref)}")
    if only_cur:
        warnings.append(f"columns only in the current data: {', '.join(only_cur)}")
    return warnings


def _feature_drifts(
    reference: Table,
    current: Table,
    *,
    left_out: Mapping[str, str],
    bins: int,
    max_categories: int,
    warnings: list[str],
) -> list[FeatureDrift]:
    """Drift of each shared column not left out, in the reference's order.

    Columns skipped on the way (too many categories) and type mismatches are
    appended to ``warnings``.
    """
    import numpy as np

    cur_cols = {str(c) for c in current.frame.columns}
    features: list[FeatureDrift] = []
    for column in (str(c) for c in reference.frame.columns):
        if column not in cur_cols or column in left_out:
            continue
        ref, cur = reference.frame[column], current.frame[column]
        if ref.dtype.kind in "biuf" and cur.dtype.kind in "biuf":
            features.append(
                numeric_drift(
                    column,
                    ref.to_numpy(dtype=np.float64),
                    cur.to_numpy(dtype=np.float64),
                    bins=bins,
                )
            )
            continue
        if (ref.dtype.kind in "biuf") != (cur.dtype.kind in "biuf"):
            warnings.append(f"{column}: numeric in one data set, text in the other")
        distinct = int(ref.nunique()) + int(cur.nunique())
        if distinct > max_categories:
            warnings.append(
                f"{column}: {distinct:,} distinct values; skipped (an identifier or free text?)"
            )
            continue
        features.append(categorical_drift(column, ref, cur))
    if not features:
        warnings.append("the two data sets share no comparable columns")
    return features


def _series(values: np.ndarray) -> pd.Series:
    import pandas as pd

    return pd.Series(values)


__all__ = [
    "assess_drift",
    "band",
    "categorical_drift",
    "left_out_columns",
    "numeric_drift",
    "psi",
]
