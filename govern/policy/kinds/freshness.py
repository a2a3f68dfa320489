"""``freshness``: the latest evaluation is recent, of this artifact, and on pinned data."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field

from govern import formatting
from govern.policy.base import RuleBase, Sha256
from govern.policy.judging import Findings, no_evaluation
from govern.policy.snapshot import SubjectSnapshot
from govern.policy.status import FAIL, PASS


class FreshnessRule(RuleBase):
    """The latest evaluation is recent, of this artifact, and on pinned data if pinned.

    ``card_dataset`` requires the evaluated data to be one the card declares with its
    SHA-256 (``evaluation_data.datasets[].sha256``); a card that declares none fails it.
    """

    kind: Literal["freshness"]
    max_age_days: Annotated[int, Field(ge=0)]
    dataset_sha256: Sha256 | None = None
    same_artifact: bool = True
    card_dataset: bool = False


Rule = FreshnessRule


def judge(rule: FreshnessRule, subject: SubjectSnapshot, now: dt.datetime) -> Findings:
    evaluation = subject.evaluation
    if evaluation is None:
        return Findings(FAIL, note="no-evaluation")
    age = (now - evaluation.created_at).days
    facts: dict[str, Any] = {
        "evaluation": evaluation.id,
        "evaluated_at": evaluation.created_at.isoformat(),
        "age_days": age,
        "max_age_days": rule.max_age_days,
        "dataset_sha256": evaluation.dataset_sha256,
        "pinned_dataset_sha256": rule.dataset_sha256,
    }
    problems: list[str] = []
    if age > rule.max_age_days:
        problems.append("age")
    if rule.dataset_sha256 and evaluation.dataset_sha256 != rule.dataset_sha256:
        problems.append("pinned")
    if (
        rule.same_artifact
        and evaluation.artifact_sha256
        and subject.artifact_sha256
        and evaluation.artifact_sha256 != subject.artifact_sha256
    ):
        problems.append("artifact")
        facts["artifact_sha256"] = evaluation.artifact_sha256
        facts["registered_artifact_sha256"] = subject.artifact_sha256
    if rule.card_dataset:
        declared = card_dataset_hashes(subject.card)
        facts["card_dataset_sha256"] = declared
        if not declared or evaluation.dataset_sha256 not in declared:
            problems.append("card")
    return Findings(FAIL if problems else PASS, facts, ",".join(problems))


def describe(rule: FreshnessRule, subject: SubjectSnapshot, findings: Findings) -> str:
    facts, found = findings.facts, findings.note.split(",")
    if findings.note == "no-evaluation":
        return no_evaluation(subject)
    age, limit = facts["age_days"], rule.max_age_days
    if findings.status == PASS:
        return f"evaluated {age} days ago (limit {limit})"
    used = formatting.short_hash(facts["dataset_sha256"])
    problems: list[str] = []
    if "age" in found:
        problems.append(f"the latest evaluation is {age} days old (limit {limit})")
    if "pinned" in found:
        pinned = formatting.short_hash(rule.dataset_sha256)
        problems.append(f"evaluated on data sha256:{used}, not the pinned sha256:{pinned}")
    if "artifact" in found:
        evaluated = formatting.short_hash(facts["artifact_sha256"])
        registered = formatting.short_hash(facts["registered_artifact_sha256"])
        problems.append(
            f"evaluated artifact sha256:{evaluated} is not the registered sha256:{registered}"
        )
    if "card" in found:
        declared = facts["card_dataset_sha256"]
        if not declared:
            problems.append(
                "the card declares no SHA-256 of its evaluation data "
                "(evaluation_data.datasets[].sha256)"
            )
        else:
            listed = ", sha256:".join(formatting.short_hash(d) for d in declared)
            problems.append(
                f"evaluated on data sha256:{used}, not the evaluation data the card declares "
                f"(sha256:{listed})"
            )
    return "; ".join(problems)


def card_dataset_hashes(card: Mapping[str, Any]) -> list[str]:
    """The SHA-256 the card declares for its evaluation data (``evaluation_data.datasets``)."""
    section = card.get("evaluation_data") if isinstance(card, Mapping) else None
    datasets = section.get("datasets") if isinstance(section, Mapping) else None
    if not isinstance(datasets, list):
        return []
    found = [d.get("sha256") for d in datasets if isinstance(d, Mapping)]
    return [h for h in found if isinstance(h, str) and h]
