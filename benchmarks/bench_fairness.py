"""Fairness audit of 1M rows: govern's engine against a numpy bincount floor and fairlearn.

    python benchmarks/bench_fairness.py [ROWS] [--full-fairlearn]

Two sensitive features (2 and 5 groups, as strings, the way a CSV gives them) and their
10-group intersection. Three timings, medians of several runs in this process:

* **floor**: plain numpy written here: ``pd.factorize`` each feature, one ``np.bincount`` of
  (group code x 4 + y x 2 + prediction) per grouping, and per-group count, selection rate,
  TPR, FPR and accuracy, plus demographic parity and equalized odds differences.
* **govern**: ``encode_feature`` + ``assess_fairness``: everything the floor does, plus
  FNR, precision, Wilson intervals for every rate, impact ratios, z-test/Fisher p-values,
  flags and the stored pydantic documents.
* **fairlearn**: ``MetricFrame`` with the same metrics + ``demographic_parity_difference`` +
  ``equalized_odds_difference`` for the three groupings. Above 100k rows it runs on a tenth
  of them (it takes about a minute on 1M) and is scaled up linearly, which the output states;
  ``--full-fairlearn`` times it on every row instead. Below 100k rows it runs on all of them,
  since scaling a small run up would also multiply its fixed costs.

Prints ratios (the machines are noisy); asserts nothing.
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings

import numpy as np
import pandas as pd


def make_data(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, pd.Series, pd.Series]:
    rng = np.random.default_rng(seed)
    sex = pd.Series(rng.choice(["female", "male"], rows, p=[0.4, 0.6]).astype(object))
    band = pd.Series(rng.choice(["18-24", "25-34", "35-44", "45-54", "55+"], rows).astype(object))
    y_true = rng.random(rows) < 0.3
    y_pred = rng.random(rows) < np.where(sex.to_numpy() == "male", 0.35, 0.25)
    return y_true, y_pred, sex, band


def floor(y_true: np.ndarray, y_pred: np.ndarray, sex: pd.Series, band: pd.Series) -> dict:
    a, a_labels = pd.factorize(sex)
    b, b_labels = pd.factorize(band)
    cell = y_true.astype(np.intp) * 2 + y_pred
    out = {}
    for name, codes, k in (
        ("sex", a, len(a_labels)),
        ("band", b, len(b_labels)),
        ("sex*band", a * len(b_labels) + b, len(a_labels) * len(b_labels)),
    ):
        c = np.bincount(codes * 4 + cell, minlength=k * 4).reshape(k, 4).astype(np.float64)
        tn, fp, fn, tp = c[:, 0], c[:, 1], c[:, 2], c[:, 3]
        n = c.sum(axis=1)
        selection = (fp + tp) / n
        tpr = tp / (tp + fn)
        fpr = fp / (fp + tn)
        accuracy = (tp + tn) / n
        out[name] = {
            "n": n,
            "selection_rate": selection,
            "accuracy": accuracy,
            "dpd": selection.max() - selection.min(),
            "eod": max(tpr.max() - tpr.min(), fpr.max() - fpr.min()),
        }
    return out


def engine(y_true: np.ndarray, y_pred: np.ndarray, sex: pd.Series, band: pd.Series):
    from govern.assess.data import encode_feature
    from govern.assess.fairness import assess_fairness

    encoded = [
        encode_feature(sex, feature="sex", max_groups=1000, where="bench"),
        encode_feature(band, feature="band", max_groups=1000, where="bench"),
    ]
    return assess_fairness(y_true, y_pred, encoded, min_group_size=30)


def fairlearn_audit(y_true: np.ndarray, y_pred: np.ndarray, sex: pd.Series, band: pd.Series):
    from fairlearn.metrics import (
        MetricFrame,
        count,
        demographic_parity_difference,
        equalized_odds_difference,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score

    metrics = {
        "count": count,
        "selection_rate": selection_rate,
        "tpr": true_positive_rate,
        "fpr": false_positive_rate,
        "accuracy": accuracy_score,
    }
    out = {}
    for name, features in (
        ("sex", sex),
        ("band", band),
        ("sex*band", pd.DataFrame({"sex": sex, "band": band})),
    ):
        frame = MetricFrame(
            metrics=metrics, y_true=y_true, y_pred=y_pred, sensitive_features=features
        )
        out[name] = (
            frame.by_group,
            demographic_parity_difference(y_true, y_pred, sensitive_features=features),
            equalized_odds_difference(y_true, y_pred, sensitive_features=features),
        )
    return out


def timed(function, *args, repeats: int) -> tuple[float, object]:
    times = []
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main(rows: int = 1_000_000, *, full_fairlearn: bool = False) -> None:
    warnings.simplefilter("ignore")
    data = make_data(rows)
    engine(*make_data(1000))  # import and warm up scipy and pydantic once, outside the timing
    floor(*make_data(1000))
    floor_s, reference = timed(floor, *data, repeats=7)
    engine_s, result = timed(engine, *data, repeats=7)
    # same figures as the floor (a correctness check, not a timing one)
    for grouping in result.groupings:
        expected = reference[grouping.name]
        assert abs(grouping.summary.demographic_parity_difference - expected["dpd"]) < 1e-12
        assert abs(grouping.summary.equalized_odds_difference - expected["eod"]) < 1e-12
    fair_rows = rows if full_fairlearn or rows <= 100_000 else rows // 10
    small = data if fair_rows == rows else make_data(fair_rows)
    fairlearn_audit(*make_data(1000))
    fair_s, _ = timed(fairlearn_audit, *small, repeats=1 if fair_rows >= 1_000_000 else 3)
    fair_scaled = fair_s * rows / fair_rows
    how = (
        "measured on every row"
        if fair_rows == rows
        else f"measured on {fair_rows:,} rows: {fair_s * 1000:.1f} ms, scaled linearly"
    )
    print(f"fairness audit of {rows:,} rows, 2 sensitive features (2 and 5 groups) + intersection")
    print(f"  numpy bincount floor : {floor_s * 1000:9.1f} ms")
    print(
        f"  govern engine        : {engine_s * 1000:9.1f} ms   "
        f"{engine_s / floor_s:6.2f}x the floor (target <= 2x)"
    )
    print(
        f"  fairlearn MetricFrame: {fair_scaled * 1000:9.1f} ms   "
        f"{fair_scaled / floor_s:6.1f}x the floor, {fair_scaled / engine_s:6.1f}x govern ({how})"
    )


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(
        int(arguments[0]) if arguments else 1_000_000,
        full_fairlearn="--full-fairlearn" in sys.argv[1:],
    )
