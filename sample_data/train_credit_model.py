"""Train the sample credit-risk models on the German credit data, deterministically.

    python sample_data/train_credit_model.py [OUTPUT_DIR]

Writes, next to this script unless OUTPUT_DIR is given:
  credit_train.csv, credit_holdout.csv   70/30 stratified split (seed 0) with derived columns
  credit_holdout_scored.csv              the hold-out with `pred` and `score` of version 1.1.0
  credit-risk-1.0.0.skops                logistic regression (version 1.0.0)
  credit-risk-1.1.0.skops                gradient boosting, depth 3 (version 1.1.0)

Derived columns: `applicant_id` (1-based row number in the original file), `sex` from
`personal_status` (A92 and A95 female; A91, A93 and A94 male), `age_group` from `age`.
Target: `credit`, 1 = good (the favourable outcome), 2 = bad. The models use the 20
original attributes, as is common with this data set; `personal_status` and `age` carry
sex and age into the model, which the evaluation is meant to surface.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

HERE = Path(__file__).resolve().parent
SEED = 0
NUMERIC = [
    "month",
    "credit_amount",
    "investment_as_income_percentage",
    "residence_since",
    "age",
    "number_of_credits",
    "people_liable_for",
]
CATEGORICAL = [
    "status",
    "credit_history",
    "purpose",
    "savings",
    "employment",
    "personal_status",
    "other_debtors",
    "property",
    "installment_plans",
    "housing",
    "skill_level",
    "telephone",
    "foreign_worker",
]
FEATURES = NUMERIC + CATEGORICAL


def load(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path)
    frame.insert(0, "applicant_id", np.arange(1, len(frame) + 1))
    frame["sex"] = np.where(frame["personal_status"].isin(["A92", "A95"]), "female", "male")
    frame["age_group"] = pd.cut(
        frame["age"], bins=[0, 24, 44, 200], labels=["under_25", "25_to_44", "45_and_over"]
    ).astype(str)
    return frame


def pipeline(estimator: object) -> Pipeline:
    preprocess = ColumnTransformer(
        [
            ("numeric", StandardScaler(), NUMERIC),
            (
                "categorical",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                CATEGORICAL,
            ),
        ]
    )
    return Pipeline([("preprocess", preprocess), ("model", estimator)])


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    frame = load(HERE / "german_credit.csv")
    train, holdout = train_test_split(
        frame, test_size=0.3, random_state=SEED, stratify=frame["credit"]
    )
    train = train.sort_values("applicant_id")
    holdout = holdout.sort_values("applicant_id")
    train.to_csv(out / "credit_train.csv", index=False)
    holdout.to_csv(out / "credit_holdout.csv", index=False)

    models = {
        "1.0.0": pipeline(LogisticRegression(max_iter=2000, C=0.5)),
        "1.1.0": pipeline(
            GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=SEED)
        ),
    }
    for version, model in models.items():
        model.fit(train[FEATURES], train["credit"])
        sio.dump(model, out / f"credit-risk-{version}.skops")
        accuracy = (model.predict(holdout[FEATURES]) == holdout["credit"]).mean()
        print(f"credit-risk {version}: hold-out accuracy {accuracy:.3f}")

    scored = holdout.copy()
    champion = models["1.1.0"]
    scored["pred"] = champion.predict(holdout[FEATURES])
    good = list(champion.classes_).index(1)
    scored["score"] = champion.predict_proba(holdout[FEATURES])[:, good].round(6)
    scored.to_csv(out / "credit_holdout_scored.csv", index=False)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
