"""Performance metrics, overall and per group, from counts where possible.

Classification: accuracy, precision, recall, F1 and the confusion matrix (overall and per
group) come from the same confusion counts the fairness engine makes; ROC AUC (Mann-Whitney,
ties counted as half) and the Brier score need the score column. Regression: MAE, RMSE and
R², per group through weighted ``np.bincount`` sums. A metric whose denominator is zero is
None, not 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from govern.assess.results import Confusion, Performance

if TYPE_CHECKING:
    import numpy as np

    from govern.assess.data import EncodedFeature
    from govern.assess.fairness import GroupCounts


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def classification_from_counts(tn: int, fp: int, fn: int, tp: int) -> dict[str, float | None]:
    """Accuracy, precision, recall, F1 and selection rate from one confusion matrix."""
    n = tn + fp + fn + tp
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    return {
        "n": float(n),
        "accuracy": _ratio(tp + tn, n),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "selection_rate": _ratio(tp + fp, n),
    }


def roc_auc(y_true: np.ndarray, score: np.ndarray) -> float | None:
    """Area under the ROC curve (equal to scikit-learn's); None with a single class."""
    from scipy.stats import rankdata

    positives = int(y_true.sum())
    negatives = len(y_true) - positives
    if positives == 0 or negatives == 0:
        return None
    ranks = rankdata(score)
    rank_sum = float(ranks[y_true].sum())
    return (rank_sum - positives * (positives + 1) / 2.0) / (positives * float(negatives))


def brier(y_true: np.ndarray, probability: np.ndarray) -> float:
    import numpy as np

    return float(np.mean((probability - y_true.astype(np.float64)) ** 2))


def classification_performance(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    counts: Sequence[GroupCounts],
    *,
    score: np.ndarray | None = None,
    row_groups: dict[str, np.ndarray] | None = None,
) -> Performance:
    """Overall and per-group classification metrics.

    Args:
        y_true: actual outcomes (True = positive label).
        y_pred: decisions (True = positive label).
        counts: per-grouping confusion counts from :func:`~govern.assess.fairness.count_groups`.
        score: probability (or score) of the positive label, for ROC AUC and Brier.
        row_groups: each grouping's group index per row (same order as its counts), needed
            for per-group ROC AUC and Brier.
    """
    import numpy as np

    tp = int((y_true & y_pred).sum())
    fp = int((~y_true & y_pred).sum())
    fn = int((y_true & ~y_pred).sum())
    tn = len(y_true) - tp - fp - fn
    overall = classification_from_counts(tn, fp, fn, tp)
    is_probability = score is not None and float(score.min()) >= 0.0 and float(score.max()) <= 1.0
    overall["roc_auc"] = roc_auc(y_true, score) if score is not None else None
    overall["brier"] = brier(y_true, score) if score is not None and is_probability else None
    by_group: dict[str, dict[str, dict[str, float | None]]] = {}
    confusion_by_group: dict[str, dict[str, Confusion]] = {}
    for grouping in counts:
        table: dict[str, dict[str, float | None]] = {}
        matrices: dict[str, Confusion] = {}
        codes = row_groups.get(grouping.name) if row_groups else None
        order = bounds = None
        if score is not None and codes is not None:
            order = np.argsort(codes, kind="stable")
            bounds = np.concatenate(
                [[0], np.cumsum(np.bincount(codes, minlength=len(grouping.labels)))]
            )
        for index in range(len(grouping.labels)):
            g_tn, g_fp, g_fn, g_tp = (int(v) for v in grouping.counts[index])
            metrics = classification_from_counts(g_tn, g_fp, g_fn, g_tp)
            matrices[grouping.label(index)] = Confusion(tp=g_tp, fp=g_fp, tn=g_tn, fn=g_fn)
            if score is not None and order is not None and bounds is not None:
                rows = order[bounds[index] : bounds[index + 1]]
                metrics["roc_auc"] = roc_auc(y_true[rows], score[rows])
                metrics["brier"] = brier(y_true[rows], score[rows]) if is_probability else None
            table[grouping.label(index)] = metrics
        by_group[grouping.name] = table
        confusion_by_group[grouping.name] = matrices
    return Performance(
        overall=overall,
        confusion=Confusion(tp=tp, fp=fp, tn=tn, fn=fn),
        by_group=by_group,
        confusion_by_group=confusion_by_group,
    )


def regression_metrics(y: np.ndarray, prediction: np.ndarray) -> dict[str, float | None]:
    import numpy as np

    error = prediction - y
    n = len(y)
    total = float(((y - y.mean()) ** 2).sum())
    return {
        "n": float(n),
        "mae": float(np.abs(error).mean()),
        "rmse": float(np.sqrt((error**2).mean())),
        "r2": 1.0 - float((error**2).sum()) / total if total > 0 else None,
    }


def regression_performance(
    y: np.ndarray, prediction: np.ndarray, groupings: dict[str, tuple[np.ndarray, list[str]]]
) -> Performance:
    """MAE, RMSE and R² overall and per group (``groupings``: name -> (codes, labels))."""
    import numpy as np

    by_group: dict[str, dict[str, dict[str, float | None]]] = {}
    error = prediction - y
    for name, (codes, labels) in groupings.items():
        k = len(labels)
        n = np.bincount(codes, minlength=k).astype(np.float64)
        abs_sum = np.bincount(codes, weights=np.abs(error), minlength=k)
        sq_sum = np.bincount(codes, weights=error**2, minlength=k)
        y_sum = np.bincount(codes, weights=y, minlength=k)
        y_sq = np.bincount(codes, weights=y**2, minlength=k)
        table: dict[str, dict[str, float | None]] = {}
        for index, label in enumerate(labels):
            if n[index] == 0:
                continue
            total = float(y_sq[index] - y_sum[index] ** 2 / n[index])
            table[label] = {
                "n": float(n[index]),
                "mae": float(abs_sum[index] / n[index]),
                "rmse": float(np.sqrt(sq_sum[index] / n[index])),
                "r2": 1.0 - float(sq_sum[index]) / total if total > 1e-12 else None,
            }
        by_group[name] = table
    return Performance(overall=regression_metrics(y, prediction), by_group=by_group)


def row_group_codes(
    encoded: Sequence[EncodedFeature], counts: Sequence[GroupCounts]
) -> dict[str, np.ndarray]:
    """Each grouping's group index for every row, matching the order of its counts."""
    import numpy as np

    by_name = {e.feature: e for e in encoded}
    result: dict[str, np.ndarray] = {}
    for grouping in counts:
        parts = [by_name[f] for f in grouping.features]
        joint = parts[0].codes.astype(np.int64)
        for part in parts[1:]:
            joint = joint * len(part.labels) + part.codes
        # Labels of observed groups, as the same joint codes, in the counts' order.
        observed = []
        for combo in grouping.labels:
            code = 0
            for part, label in zip(parts, combo, strict=True):
                code = code * len(part.labels) + part.labels.index(label)
            observed.append(code)
        lookup = np.asarray(observed, dtype=np.int64)
        order = np.argsort(lookup)
        positions = np.searchsorted(lookup[order], joint)
        result[grouping.name] = order[positions]
    return result


__all__ = [
    "brier",
    "classification_from_counts",
    "classification_performance",
    "regression_metrics",
    "regression_performance",
    "roc_auc",
    "row_group_codes",
]
