"""The shipped sample data: German credit with its attribution, cards that describe it, and a
training script that gives the same splits and the same models every time it runs."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from govern.assess.models import load_model
from govern.domain.governance import DEFAULT_SKOPS_TRUSTED_TYPES
from govern.services import catalogue
from tests.conftest import SAMPLE

SPLITS = ("credit_train.csv", "credit_holdout.csv", "credit_holdout_scored.csv")
FEMALE = {"A92", "A95"}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_german_credit_data_and_attribution():
    rows = _rows(SAMPLE / "german_credit.csv")
    assert len(rows) == 1000
    assert {"personal_status", "age", "credit"} <= rows[0].keys()
    readme = (SAMPLE / "README.md").read_text(encoding="utf-8")
    for needed in ("Hofmann", "1994", "UCI Machine Learning Repository", "CC BY 4.0"):
        assert needed in readme
    assert "A92" in (SAMPLE / "german_credit.txt").read_text(encoding="utf-8")


def test_committed_splits_derive_sex_and_age_group_as_documented():
    original = _rows(SAMPLE / "german_credit.csv")
    train, holdout = (_rows(SAMPLE / name) for name in SPLITS[:2])
    assert (len(train), len(holdout)) == (700, 300)
    ids = [int(r["applicant_id"]) for r in train + holdout]
    assert sorted(ids) == list(range(1, 1001))
    for row in train + holdout:
        source = original[int(row["applicant_id"]) - 1]
        assert row["personal_status"] == source["personal_status"]
        assert row["sex"] == ("female" if source["personal_status"] in FEMALE else "male")
        age = int(source["age"])
        expected = "under_25" if age <= 24 else "25_to_44" if age <= 44 else "45_and_over"
        assert row["age_group"] == expected


def test_cards_describe_the_sample_data():
    for version, rows in (("1.0.0", (300, 700)), ("1.1.0", (300, 700))):
        card = catalogue.load_card(SAMPLE / f"credit-risk-{version}.card.yaml", max_bytes=1_000_000)
        assert (card.name, card.version) == ("credit-risk", version)
        assert card.missing_sections() == []
        assert card.factors is not None
        assert {"sex", "age_group"} <= set(card.factors.sensitive_features)
        assert card.evaluation_data is not None and card.training_data is not None
        assert (card.evaluation_data.datasets[0].rows, card.training_data.datasets[0].rows) == rows


@pytest.mark.slow
def test_training_is_deterministic(sample_artifacts, tmp_path):
    """Same splits byte for byte, and models with the same predictions, on every run.

    The .skops files themselves differ between runs (skops names arrays by object id and
    stamps zip entries with the time), so the models are compared by what they predict.
    """
    again = tmp_path / "again"
    subprocess.run(
        [sys.executable, str(SAMPLE / "train_credit_model.py"), str(again)],
        check=True,
        capture_output=True,
    )
    for name in SPLITS:
        committed = (SAMPLE / name).read_bytes()
        assert (sample_artifacts / name).read_bytes() == committed, name
        assert (again / name).read_bytes() == committed, name

    import pandas as pd

    holdout = pd.read_csv(SAMPLE / "credit_holdout.csv")
    for version in ("1.0.0", "1.1.0"):
        first, second = (
            load_model(
                base / f"credit-risk-{version}.skops", trusted_types=DEFAULT_SKOPS_TRUSTED_TYPES
            )
            for base in (sample_artifacts, again)
        )
        assert first.format == "skops"
        features = first.feature_names
        assert "sex" not in features and "age_group" not in features
        np.testing.assert_array_equal(
            first.estimator.predict_proba(holdout[features]),
            second.estimator.predict_proba(holdout[features]),
        )
