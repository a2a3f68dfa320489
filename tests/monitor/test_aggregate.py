"""Prediction logs reduced to counts by DuckDB, and the figures derived from them.

The property that matters: a window whose rows all have their outcome gives exactly the
groupings ``govern evaluate`` stores for the same rows (``assess_fairness``), whatever the
file format and however the rows are split across files and days.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from govern.assess.data import encode_feature
from govern.assess.fairness import assess_fairness
from govern.errors import DataError, InputError
from govern.monitor.aggregate import SCORE_BINS, DayCounts, aggregate, merged
from govern.monitor.figures import (
    feature_psi,
    groupings,
    score_psi,
    shadow_comparison,
    window_start,
    windows,
)
from govern.monitor.logs import LogColumns, find_logs

START = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
COLUMNS = LogColumns(sensitive=("sex", "age_group"), score="score", outcome="outcome")


def rows(count: int, seed: int = 0, days: int = 10) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    score = rng.random(count)
    return pd.DataFrame(
        {
            "timestamp": pd.to_datetime(START)
            + pd.to_timedelta(rng.integers(0, days * 86_400, count), unit="s"),
            "request_id": [f"r{i}" for i in range(count)],
            "sex": rng.choice(["female", "male"], count),
            "age_group": rng.choice(["under_25", "25_to_44", "45_and_over"], count),
            "score": score,
            "prediction": (score > 0.45).astype(int),
            "outcome": (rng.random(count) < 0.5).astype(int),
        }
    )


def write(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".parquet":
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    elif path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.assign(timestamp=frame["timestamp"].map(lambda t: t.isoformat())).to_json(
            path, orient="records", lines=True
        )
    return path


def evaluated(frame: pd.DataFrame, min_group_size: int = 30) -> list[dict[str, object]]:
    encoded = [
        encode_feature(frame[c], feature=c, max_groups=50, where="data") for c in COLUMNS.sensitive
    ]
    found = assess_fairness(
        frame["outcome"].to_numpy() == 1,
        frame["prediction"].to_numpy() == 1,
        encoded,
        min_group_size=min_group_size,
    )
    return [g.model_dump(mode="json") for g in found.groupings]


def monitored(counts: DayCounts, min_group_size: int = 30) -> list[dict[str, object]]:
    found = groupings(counts, COLUMNS.sensitive, min_group_size=min_group_size)
    return [g.model_dump(mode="json") for g in found]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    count=st.integers(min_value=1, max_value=400),
    seed=st.integers(min_value=0, max_value=10_000),
    parts=st.integers(min_value=1, max_value=3),
    suffix=st.sampled_from([".parquet", ".csv", ".jsonl"]),
)
def test_a_window_gives_what_evaluate_gives_on_the_same_rows(
    tmp_path_factory: pytest.TempPathFactory, count: int, seed: int, parts: int, suffix: str
) -> None:
    directory = tmp_path_factory.mktemp("logs")
    frame = rows(count, seed)
    edges = np.linspace(0, count, parts + 1).astype(int)
    for index in range(parts):
        part = frame.iloc[edges[index] : edges[index + 1]]
        if len(part):
            write(part, directory / f"part-{index}{suffix}")
    counted = aggregate(find_logs([str(directory / f"*{suffix}")]), COLUMNS)
    (window,) = windows(counted.days.values(), "1mo")
    assert window.rows == count == window.outcomes_known
    assert monitored(window.counts) == evaluated(frame)
    assert sum(window.counts.scores) == count
    # a day's counts survive being stored and read back
    for day, counts in counted.days.items():
        assert DayCounts.from_json(day, json.loads(json.dumps(counts.to_json()))) == counts


def test_days_add_up_to_the_whole_and_weeks_start_on_monday(tmp_path: Path) -> None:
    frame = rows(3_000, days=20)
    write(frame, tmp_path / "log.parquet")
    counted = aggregate(find_logs([str(tmp_path / "log.parquet")]), COLUMNS)
    assert len(counted.days) == 20
    assert merged(counted.days).rows == 3_000
    weeks = windows(counted.days.values(), "1w")
    assert [w.start.weekday() for w in weeks] == [0] * len(weeks)
    assert sum(w.rows for w in weeks) == 3_000
    assert window_start(dt.date(2026, 3, 31), "1mo") == dt.date(2026, 3, 1)
    assert counted.files[str((tmp_path / "log.parquet").resolve())].rows == 3_000


def test_rows_without_an_outcome_count_for_decisions_only(tmp_path: Path) -> None:
    frame = rows(2_000)
    known = frame.copy()
    frame["outcome"] = frame["outcome"].astype("Int64")
    frame.loc[frame.index % 2 == 0, "outcome"] = pd.NA
    write(frame, tmp_path / "log.parquet")
    counted = aggregate(find_logs([str(tmp_path / "log.parquet")]), COLUMNS)
    window = merged(counted.days)
    assert window.rows == 2_000
    (found,) = windows(counted.days.values(), "1mo")
    assert found.outcomes_known == 1_000
    shown = {g["name"]: g for g in monitored(window)}
    every = {g["name"]: g for g in evaluated(known)}
    with_outcomes = {g["name"]: g for g in evaluated(known[known.index % 2 == 1])}
    for name, grouping in shown.items():
        for group, all_rows, half in zip(
            grouping["groups"], every[name]["groups"], with_outcomes[name]["groups"], strict=True
        ):
            # decisions from every row; rates needing an outcome from the rows that have one
            assert group["metrics"]["selection_rate"] == all_rows["metrics"]["selection_rate"]
            assert group["impact_ratio"] == all_rows["impact_ratio"]
            assert group["metrics"]["tpr"] == half["metrics"]["tpr"]


def test_score_histograms_use_fixed_edges_and_give_a_psi(tmp_path: Path) -> None:
    low = rows(1_000, seed=1).assign(score=lambda f: f["score"] * 0.5)
    write(low, tmp_path / "low.parquet")
    counted = aggregate(find_logs([str(tmp_path / "low.parquet")]), COLUMNS)
    scores = merged(counted.days).scores
    assert len(scores) == SCORE_BINS and sum(scores[SCORE_BINS // 2 :]) == 0
    assert score_psi(scores, scores) == 0.0
    uniform = [50] * SCORE_BINS
    psi = score_psi(uniform, scores)
    assert psi is not None and psi > 0.2
    assert score_psi([0] * SCORE_BINS, scores) is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["sex"]), "no column 'sex' for the sensitive feature sex"),
        (lambda f: f.assign(score="high"), "column 'score' (the score) is VARCHAR, not a number"),
        (
            lambda f: f.assign(timestamp=f["timestamp"].astype(str).where(f.index != 3, "soon")),
            "column 'timestamp' has 1 row whose timestamp is missing or not a time",
        ),
        (
            lambda f: f.assign(request_id=f["request_id"].where(f.index != 5, "r0")),
            "request id 'r0' appears 2 times",
        ),
        (
            lambda f: f.assign(prediction=f["prediction"].where(f.index != 7, 2)),
            "column 'prediction' has 3 decision values",
        ),
        (
            lambda f: f.assign(prediction=f["prediction"].astype("Int64").where(f.index != 2)),
            "column 'prediction' has 1 row without a decision",
        ),
    ],
)
def test_a_bad_log_names_the_file_and_the_column(
    tmp_path: Path, change: object, message: str
) -> None:
    frame = change(rows(50))  # type: ignore[operator]
    path = write(frame, tmp_path / "bad.csv")
    with pytest.raises(DataError) as raised:
        aggregate(find_logs([str(path)]), COLUMNS)
    assert message in str(raised.value)
    if "decision values" not in message:
        assert str(path.resolve()) in str(raised.value)


def test_rows_of_other_versions_are_left_out_and_unknown_versions_refused(tmp_path: Path) -> None:
    frame = rows(100).assign(model_version=["1.0.0", "1.1.0"] * 50)
    path = write(frame, tmp_path / "log.parquet")
    columns = LogColumns(sensitive=("sex",), version="model_version")
    counted = aggregate(
        find_logs([str(path)]), columns, version="1.0.0", versions={"1.0.0", "1.1.0"}
    )
    assert merged(counted.days).rows == 50 and counted.other_versions == 50
    with pytest.raises(DataError, match=r"names version '1\.1\.0', which is not a version"):
        aggregate(find_logs([str(path)]), columns, version="1.0.0", versions={"1.0.0"})


def test_patterns_that_match_nothing_or_an_unknown_format_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no file matches"):
        find_logs([str(tmp_path / "*.parquet")])
    with pytest.raises(InputError, match="--logs"):
        find_logs([])
    (tmp_path / "log.xlsx").write_bytes(b"PK")
    with pytest.raises(DataError, match="not a prediction log govern reads"):
        find_logs([str(tmp_path / "log.xlsx")])
    (tmp_path / "broken.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="reading the prediction logs"):
        aggregate(find_logs([str(tmp_path / "broken.parquet")]), COLUMNS)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError):
        aggregate(find_logs([str(tmp_path / "empty.csv")]), COLUMNS)


def test_a_shadow_is_compared_with_its_champion_on_the_same_requests(tmp_path: Path) -> None:
    frame = rows(3_000, seed=7)
    rng = np.random.default_rng(7)
    # the champion decides differently on a fifth of the requests, more often for women
    flip = rng.random(len(frame)) < np.where(frame["sex"] == "female", 0.3, 0.1)
    frame["champion"] = np.where(flip, 1 - frame["prediction"], frame["prediction"])
    write(frame, tmp_path / "log.parquet")
    columns = LogColumns(sensitive=COLUMNS.sensitive, outcome="outcome", champion="champion")
    counted = aggregate(find_logs([str(tmp_path / "log.parquet")]), columns)
    window = merged(counted.days)
    assert sum(window.paired.values()) == 3_000
    found = shadow_comparison(window, COLUMNS.sensitive, min_group_size=30)
    assert found is not None
    assert found["agreement"] == pytest.approx((frame["champion"] == frame["prediction"]).mean())
    women = frame[frame["sex"] == "female"]
    sex = found["groups"]["sex"]["female"]
    assert sex["agreement"] == pytest.approx((women["champion"] == women["prediction"]).mean())
    # each side's figures are evaluate's on its own decisions
    shadow_side = {g["name"]: g for g in evaluated(frame)}
    champion_side = {g["name"]: g for g in evaluated(frame.assign(prediction=frame["champion"]))}
    for name in ("sex", "age_group", "sex*age_group"):
        theirs = {g["group"]: g for g in champion_side[name]["groups"]}
        for group in shadow_side[name]["groups"]:
            delta = found["groups"][name][group["group"]]
            other = theirs[group["group"]]
            assert delta["impact_ratio_delta"] == pytest.approx(
                group["impact_ratio"] - other["impact_ratio"]
            )
            assert delta["selection_rate_delta"] == pytest.approx(
                group["metrics"]["selection_rate"]["value"]
                - other["metrics"]["selection_rate"]["value"]
            )
    assert DayCounts.from_json(window.day, window.to_json()) == window
    assert (
        shadow_comparison(
            merged(aggregate(find_logs([str(tmp_path / "log.parquet")]), COLUMNS).days),
            COLUMNS.sensitive,
            min_group_size=30,
        )
        is None
    )


def test_drift_features_keep_the_bins_of_their_first_run(tmp_path: Path) -> None:
    frame = rows(4_000, seed=3, days=8)
    rng = np.random.default_rng(3)
    late = frame["timestamp"] >= frame["timestamp"].min().normalize() + pd.Timedelta(days=4)
    frame["amount"] = rng.lognormal(8, 0.5, len(frame)) * np.where(late, 1.8, 1.0)
    frame["purpose"] = np.where(late & (rng.random(len(frame)) < 0.5), "car", "home")
    columns = LogColumns(sensitive=("sex",), features=("amount", "purpose"))
    early, later = frame[~late], frame[late]
    first = aggregate(find_logs([str(write(early, tmp_path / "early.parquet"))]), columns)
    cuts = first.edges["amount"]
    assert cuts is not None and len(cuts) == 9 and first.edges["purpose"] is None
    assert cuts == pytest.approx(np.quantile(early["amount"], np.arange(1, 10) / 10))
    second = aggregate(
        find_logs([str(write(later, tmp_path / "later.parquet"))]), columns, edges=first.edges
    )
    assert second.edges == first.edges  # the same bins, so days add up
    before, after = merged(first.days), merged(second.days)
    assert sum(before.drift["amount"].values()) == len(early)
    assert set(after.drift["purpose"]) == {"car", "home"}
    expected = np.histogram(later["amount"], bins=[-np.inf, *cuts, np.inf])[0]
    assert [after.drift["amount"].get(str(i), 0) for i in range(10)] == expected.tolist()
    drifted = feature_psi(before.drift, after)
    labels = [str(i) for i in range(10)]
    assert drifted["amount"] == pytest.approx(
        score_psi([before.drift["amount"].get(b, 0) for b in labels], expected.tolist())
    )
    assert drifted["amount"] > 0.2 and drifted["purpose"] > 0.2
    assert feature_psi(before.drift, before)["amount"] == 0.0
    assert DayCounts.from_json(after.day, after.to_json()) == after
