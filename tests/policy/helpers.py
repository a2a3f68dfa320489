"""Snapshots and policies for policy tests; results documents come from ``tests.builders``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from govern.domain.card import Card
from govern.policy.loader import LoadedPolicy, parse_policy_text
from govern.policy.snapshot import EvaluationEvidence, SubjectSnapshot
from tests.builders import ARTIFACT_SHA, NOW, results_document
from tests.conftest import SAMPLE


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
