"""Test data built once, for every test package: evaluation results documents in the stored
shape, evaluations stored as real catalogue rows, and sample versions registered.

Documents are validated with ``govern.assess.results.EvaluationResults``, so every test that
uses them exercises exactly the shape the evaluation service stores. Figures are derived from
counts (``(selected, n)`` per group), so a document is internally consistent: impact ratios,
the reference group and the summary follow from the groups.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from govern.assess.results import EvaluationResults
from govern.services import Context, catalogue
from govern.services.catalogue import resolve
from govern.storage.tables import Evaluation
from tests.conftest import SAMPLE, Catalogue

#: The moment policy tests treat as "now"; stored evidence is dated relative to it.
NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)
DATA_SHA = "d" * 64
ARTIFACT_SHA = "a" * 64


def estimate(successes: int, trials: int) -> dict[str, Any]:
    """A rate with its interval collapsed onto the value (tests compare values, not widths)."""
    value = successes / trials if trials else None
    return {
        "value": value,
        "lower": value,
        "upper": value,
        "successes": successes,
        "trials": trials,
    }


def _group(
    feature_values: Mapping[str, str],
    selected: int,
    n: int,
    total: int,
    *,
    p_value: float | None,
    scored: int | None,
    min_group_size: int,
) -> dict[str, Any]:
    label = ", ".join(feature_values.values())
    positives = max(n // 2, 1)
    metrics = {
        "selection_rate": estimate(selected, n),
        "tpr": estimate(min(selected, positives), positives),
        "fpr": estimate(max(selected - positives, 0), max(n - positives, 1)),
        "fnr": estimate(positives - min(selected, positives), positives),
        "precision": estimate(min(selected, positives), max(selected, 1)),
        "accuracy": estimate(int(n * 0.75), n),
    }
    if scored is not None:
        metrics["scoring_rate"] = estimate(scored, n)
    return {
        "group": label,
        "values": dict(feature_values),
        "n": n,
        "share": n / total,
        "small": n < min_group_size,
        "metrics": metrics,
        "p_value": p_value,
        "test": None if p_value is None else "z-test",
        "flags": ["small_group"] if n < min_group_size else [],
    }


def grouping(
    name: str,
    groups: Mapping[str, tuple[int, int]],
    *,
    total: int,
    p_values: Mapping[str, float] | None = None,
    scored: Mapping[str, int] | None = None,
    min_group_size: int = 30,
) -> dict[str, Any]:
    """A grouping: ``groups`` maps a label (``"female"`` or ``"female, young"``) to
    ``(selected, n)``; impact ratios and the summary are computed from them, against the
    most-selected group."""
    features = name.split("*")
    built = []
    for label, (selected, n) in groups.items():
        values = dict(zip(features, label.split(", "), strict=True))
        built.append(
            _group(
                values,
                selected,
                n,
                total,
                p_value=(p_values or {}).get(label),
                scored=(scored or {}).get(label),
                min_group_size=min_group_size,
            )
        )
    rates = {g["group"]: g["metrics"]["selection_rate"]["value"] for g in built}
    top_label = max(rates, key=lambda k: rates[k])
    top = rates[top_label]
    for g in built:
        g["impact_ratio"] = rates[g["group"]] / top if top else None
        if scored is not None:
            best = max(s / groups[lbl][1] for lbl, s in scored.items())
            own = g["metrics"]["scoring_rate"]["value"]
            g["scoring_impact_ratio"] = own / best if best else None
    ratios = [g["impact_ratio"] for g in built if g["impact_ratio"] is not None]
    summary: dict[str, Any] = {
        "demographic_parity_difference": max(rates.values()) - min(rates.values()),
        "demographic_parity_ratio": min(rates.values()) / top if top else None,
        "equalized_odds_difference": 0.1,
        "equalized_odds_ratio": 0.9,
        "min_impact_ratio": min(ratios) if ratios else None,
    }
    if scored is not None:
        summary["min_scoring_impact_ratio"] = min(g["scoring_impact_ratio"] for g in built)
    return {
        "name": name,
        "features": features,
        "kind": "intersection" if len(features) > 1 else "single",
        "reference_group": top_label,
        "groups": built,
        "summary": summary,
    }


def results_document(
    fairness: Sequence[dict[str, Any]] | None = None,
    *,
    overall: Mapping[str, float | None] | None = None,
    by_group: Mapping[str, Mapping[str, Mapping[str, float | None]]] | None = None,
    explanations: dict[str, Any] | None = None,
    dataset_sha256: str = DATA_SHA,
    rows: int = 200,
    columns: Sequence[str] = (),
    min_group_size: int = 30,
    prediction_source: str = "model",
    artifact_sha256: str | None = ARTIFACT_SHA,
) -> dict[str, Any]:
    """A stored evaluation document; default: sex with female 40/100 vs male 60/100.

    ``fairness`` is a list of :func:`grouping` results; ``overall`` the overall performance
    (default accuracy 0.8, ROC AUC 0.78, F1 0.7); ``by_group`` performance per grouping and
    group; ``explanations`` an :func:`explanations` block.
    """
    if fairness is None:
        fairness = [grouping("sex", {"female": (40, 100), "male": (60, 100)}, total=200)]
    features = [g["name"] for g in fairness if g["kind"] == "single"]
    document = {
        "schema": 1,
        "task": "binary_classification",
        "dataset": {
            "name": "holdout.csv",
            "sha256": dataset_sha256,
            "rows": rows,
            "columns": list(columns),
        },
        "target": "y",
        "positive_label": "1",
        "sensitive_features": features,
        "prediction_source": prediction_source,
        "min_group_size": min_group_size,
        "seed": 0,
        "packages": {"numpy": "2"},
        "artifact_sha256": artifact_sha256,
        "performance": {
            "overall": dict(overall or {"accuracy": 0.8, "roc_auc": 0.78, "f1": 0.7}),
            "by_group": {
                k: {g: dict(m) for g, m in v.items()} for k, v in (by_group or {}).items()
            },
        },
        "fairness": list(fairness),
        "explanations": explanations,
    }
    return EvaluationResults.model_validate(document).to_json()


def results_by_sex(
    *, accuracy: float, female_rate: float, male_rate: float = 0.8, dataset: str = DATA_SHA
) -> dict[str, Any]:
    """An evaluation of 200 rows from a predictions column, by sex (100 women, 100 men), with
    the given accuracy (also its ROC AUC) and selection rates: what champion/challenger and
    workflow tests vary."""
    sex = grouping(
        "sex",
        {"female": (round(female_rate * 100), 100), "male": (round(male_rate * 100), 100)},
        total=200,
    )
    return results_document(
        [sex],
        overall={"accuracy": accuracy, "roc_auc": accuracy},
        dataset_sha256=dataset,
        columns=["sex", "y", "pred"],
        prediction_source="predictions",
        artifact_sha256=None,
    )


def explanations(top: Sequence[str], flags: Sequence[dict[str, str]] = ()) -> dict[str, Any]:
    """An explanations block ranking ``top`` by importance, with ``flags`` on sensitive ones."""
    return {
        "method": "linear",
        "sample_size": 100,
        "seed": 0,
        "global": [
            {"feature": f, "mean_abs_shap": 1.0 / (i + 1), "rank": i + 1} for i, f in enumerate(top)
        ],
        "top_features": list(top),
        "sensitive_flags": list(flags),
    }


def register(
    cat: Catalogue,
    version: str = "1.0.0",
    *,
    user: str = "alice",
    artifact: Path | None = None,
    tier: str | None = None,
    directory: Path | None = None,
) -> str:
    """Register the sample card of credit-risk ``version`` as ``user``; with ``tier``, a copy
    of the card rewritten to that risk tier (written into ``directory``)."""
    card = SAMPLE / f"credit-risk-{version}.card.yaml"
    if tier is not None:
        if directory is None:
            raise ValueError("a card rewritten to another tier needs a directory to live in")
        text = card.read_text().replace("risk_tier: high", f"risk_tier: {tier}")
        card = directory / f"card-{version}-{tier}.yaml"
        card.write_text(text)
    return catalogue.register_version(cat.ctx(user), card, artifact=artifact).ref


def store_evaluation(
    ctx: Context, ref: str, document: dict[str, Any], *, at: dt.datetime | None = None
) -> int:
    """Store an Evaluation row for ``ref`` as ``ctx``'s user, the way the evaluation service
    does, with its signed ``evaluation.create`` event (so the catalogue still verifies), and
    return its id. ``at`` backdates it (default: now).

    Use it when a test needs evidence without the assessment stack; tests of evaluation itself
    call ``govern.services.evaluation.evaluate_version``.
    """
    from govern.storage import crud

    backdated: dict[str, Any] = {"created_at": at} if at is not None else {}
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
            **backdated,
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
