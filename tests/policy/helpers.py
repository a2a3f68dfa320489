"""Evidence for policy tests: result documents of the stored shape, snapshots and policies.

Documents are validated with ``govern.assess.results.EvaluationResults`` so the engine is
tested against exactly what the evaluation service stores.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from govern.assess.results import EvaluationResults
from govern.domain.card import Card
from govern.policy.loader import LoadedPolicy, parse_policy_text
from govern.policy.snapshot import EvaluationEvidence, SubjectSnapshot
from tests.conftest import SAMPLE

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)
DATA_SHA = "d" * 64
ARTIFACT_SHA = "a" * 64


def estimate(successes: int, trials: int) -> dict[str, Any]:
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
    ``(selected, n)``; impact ratios and the summary are computed from them."""
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
    min_group_size: int = 30,
) -> dict[str, Any]:
    """A stored evaluation document; default: sex with female 40/100 vs male 60/100."""
    if fairness is None:
        fairness = [grouping("sex", {"female": (40, 100), "male": (60, 100)}, total=200)]
    features = [g["name"] for g in fairness if g["kind"] == "single"]
    document = {
        "schema": 1,
        "task": "binary_classification",
        "dataset": {"name": "holdout.csv", "sha256": dataset_sha256, "rows": rows, "columns": []},
        "target": "y",
        "positive_label": "1",
        "sensitive_features": features,
        "prediction_source": "model",
        "min_group_size": min_group_size,
        "seed": 0,
        "packages": {"numpy": "2"},
        "artifact_sha256": ARTIFACT_SHA,
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


def explanations(top: Sequence[str], flags: Sequence[dict[str, str]] = ()) -> dict[str, Any]:
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


def sample_card() -> dict[str, Any]:
    text = (SAMPLE / "credit-risk-1.0.0.card.yaml").read_text()
    return Card.model_validate(yaml.safe_load(text)).to_json_dict()


def evaluation(
    results: Mapping[str, Any] | None = None,
    *,
    age_days: float = 10,
    artifact_sha256: str | None = ARTIFACT_SHA,
) -> EvaluationEvidence:
    document = results if results is not None else results_document()
    return EvaluationEvidence(
        results=document,
        created_at=NOW - dt.timedelta(days=age_days),
        dataset_sha256=document["dataset"]["sha256"],
        artifact_sha256=artifact_sha256,
        id=1,
    )


_UNSET: Any = object()


def snapshot(
    *, card: Mapping[str, Any] | None = None, evaluation_: Any = _UNSET, **values: Any
) -> SubjectSnapshot:
    """The sample card's version as a catalogued draft with a 10-day-old evaluation."""
    base: dict[str, Any] = {
        "state": "draft",
        "artifact_format": "skops",
        "artifact_sha256": ARTIFACT_SHA,
        "created_at": NOW - dt.timedelta(days=20),
        "created_by": "alice",
        "evaluation": evaluation() if evaluation_ is _UNSET else evaluation_,
    }
    base.update(values)
    return SubjectSnapshot.from_card("credit-risk@1.0.0", card or sample_card(), **base)


def policy(
    *rules: Mapping[str, Any], manual: Sequence[Mapping[str, Any]] = (), **top: Any
) -> LoadedPolicy:
    """A validated policy built from rule mappings (id/title/severity/source get defaults)."""
    full_rules = []
    for index, rule in enumerate(rules):
        full_rules.append(
            {
                "id": f"rule-{index}",
                "title": f"rule {index}",
                "severity": "error",
                "source": "test clause",
                **rule,
            }
        )
    document = {
        "schema": 1,
        "id": top.pop("id", "test-policy"),
        "title": "Test policy",
        "version": "1.0.0",
        **top,
        "rules": full_rules,
        "manual": list(manual),
    }
    return parse_policy_text(yaml.safe_dump(document, sort_keys=False), where="test-policy.yaml")
