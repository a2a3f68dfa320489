"""Realistic evaluation documents stored as real rows, for workflow tests that need evidence
without running the assessment stack."""

from __future__ import annotations

import datetime as dt
from typing import Any

from govern.assess.results import EvaluationResults
from govern.services import Context
from govern.services.catalogue import resolve
from govern.storage.tables import Evaluation


def estimate(successes: int, trials: int) -> dict[str, Any]:
    value = successes / trials if trials else None
    return {
        "value": value,
        "lower": value,
        "upper": value,
        "successes": successes,
        "trials": trials,
    }


def results_document(
    *, accuracy: float, female_rate: float, male_rate: float = 0.8, dataset: str = "a" * 64
) -> dict[str, Any]:
    """An evaluation of 200 rows by sex, with the given accuracy and selection rates."""
    groups = []
    rates = {"female": female_rate, "male": male_rate}
    top = max(rates.values())
    for label, rate in rates.items():
        selected = round(rate * 100)
        groups.append(
            {
                "group": label,
                "values": {"sex": label},
                "n": 100,
                "share": 0.5,
                "small": False,
                "metrics": {
                    "selection_rate": estimate(selected, 100),
                    "tpr": estimate(70, 80),
                    "fpr": estimate(10, 20),
                    "fnr": estimate(10, 80),
                    "precision": estimate(70, 80),
                    "accuracy": estimate(80, 100),
                },
                "impact_ratio": rate / top,
                "flags": [],
            }
        )
    ratios = [g["impact_ratio"] for g in groups]
    document = {
        "schema": 1,
        "task": "binary_classification",
        "dataset": {
            "name": "holdout.csv",
            "sha256": dataset,
            "rows": 200,
            "columns": ["sex", "y", "pred"],
        },
        "target": "y",
        "positive_label": "1",
        "sensitive_features": ["sex"],
        "prediction_source": "predictions",
        "min_group_size": 30,
        "seed": 0,
        "packages": {"numpy": "2"},
        "performance": {"overall": {"accuracy": accuracy, "roc_auc": accuracy}},
        "fairness": [
            {
                "name": "sex",
                "features": ["sex"],
                "kind": "single",
                "reference_group": max(rates, key=lambda k: rates[k]),
                "groups": groups,
                "summary": {
                    "demographic_parity_difference": abs(female_rate - male_rate),
                    "demographic_parity_ratio": min(ratios),
                    "min_impact_ratio": min(ratios),
                },
            }
        ],
    }
    EvaluationResults.model_validate(document)  # the shape the assessment engine stores
    return document


def store_evaluation(
    ctx: Context,
    ref: str,
    document: dict[str, Any],
    *,
    at: dt.datetime | None = None,
) -> int:
    """Store an Evaluation row for ``ref`` the way the evaluation service does: with its
    signed ``evaluation.create`` event (so the catalogue still verifies). ``at`` backdates it."""
    from govern.storage import crud

    with ctx.write("evaluation.create", ref) as tx:
        _model, version = resolve(tx.session, ref)
        assert version.id is not None
        row = Evaluation(
            version_id=version.id,
            dataset_name=document["dataset"]["name"],
            dataset_sha256=document["dataset"]["sha256"],
            rows=document["dataset"]["rows"],
            columns=document["dataset"]["columns"],
            target=document["target"],
            positive_label=document["positive_label"],
            sensitive_features=document["sensitive_features"],
            prediction_source=document["prediction_source"],
            artifact_sha256=document.get("artifact_sha256"),
            packages=document["packages"],
            seed=0,
            params={},
            results=document,
            created_by=tx.actor,
            **({"created_at": at} if at is not None else {}),
        )
        tx.session.add(row)
        tx.session.flush()
        assert row.id is not None
        stored = crud.stored_sha256(
            connection=tx.session.connection(),
            column=Evaluation.results,
            key=Evaluation.id,
            ids=[row.id],
        )
        tx.audit(
            evaluation_id=row.id,
            results_sha256=stored[row.id],
            dataset={
                "name": row.dataset_name,
                "sha256": row.dataset_sha256,
                "rows": row.rows,
            },
        )
        return row.id
