"""``drift``: a recent drift run shows no feature drifting beyond the thresholds."""

from __future__ import annotations

import datetime as dt
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from govern import formatting
from govern.policy.base import Alpha, Features, IfMissing, RuleBase
from govern.policy.evidence import NotInShape, check_figure, value_of
from govern.policy.judging import Findings, listing, missing
from govern.policy.snapshot import SubjectSnapshot
from govern.policy.status import ERROR, FAIL, NOT_APPLICABLE, PASS


class DriftRule(RuleBase):
    """A recent drift run shows no feature drifting beyond the thresholds."""

    kind: Literal["drift"]
    max_psi: Annotated[float, Field(ge=0.0)] | None = None
    min_p_value: Alpha | None = None
    features: Features = None
    max_age_days: Annotated[int, Field(ge=0)] | None = None
    if_missing: IfMissing = "fail"

    @model_validator(mode="after")
    def _one_threshold(self) -> typing.Self:
        if self.max_psi is None and self.min_p_value is None and self.max_age_days is None:
            raise ValueError("give a threshold: max_psi, min_p_value or max_age_days")
        return self


Rule = DriftRule


def judge(rule: DriftRule, subject: SubjectSnapshot, now: dt.datetime) -> Findings:
    if subject.stateless:
        return Findings(NOT_APPLICABLE, note="stateless")
    drift = subject.drift
    if drift is None:
        return missing(rule.if_missing, "no-drift-run")
    age = (now - drift.created_at).days
    facts: dict[str, Any] = {
        "drift_run": drift.id,
        "run_at": drift.created_at.isoformat(),
        "age_days": age,
        "max_age_days": rule.max_age_days,
        "max_psi": rule.max_psi,
        "min_p_value": rule.min_p_value,
    }
    try:
        features = _features(drift.results)
    except NotInShape as problem:
        return Findings(ERROR, {**facts, "problem": str(problem)}, "not-in-shape")
    drifted: list[dict[str, Any]] = []
    for feature, stats in features:
        if rule.features is not None and feature not in rule.features:
            continue
        psi = value_of(stats.get("psi"))
        p_value = value_of(stats.get("p_value"))
        too_high = rule.max_psi is not None and psi is not None and psi > rule.max_psi
        too_low = (
            rule.min_p_value is not None and p_value is not None and p_value < rule.min_p_value
        )
        if too_high or too_low:
            drifted.append({"feature": feature, "psi": psi, "p_value": p_value})
    facts["drifted"] = drifted
    stale = rule.max_age_days is not None and age > rule.max_age_days
    return Findings(FAIL if stale or drifted else PASS, facts)


def describe(rule: DriftRule, subject: SubjectSnapshot, findings: Findings) -> str:
    facts, note = findings.facts, findings.note
    if note == "stateless":
        return "a stateless check has no drift runs"
    if note == "no-drift-run":
        return f"{subject.subject} has no drift run on record"
    if note == "not-in-shape":
        return f"drift results not in govern's shape: {facts['problem']}"
    age = facts["age_days"]
    problems: list[str] = []
    if rule.max_age_days is not None and age > rule.max_age_days:
        problems.append(f"the latest drift run is {age} days old (limit {rule.max_age_days})")
    problems += [
        f"{d['feature']} drifted (PSI {formatting.compact(d['psi'])}, "
        f"p={formatting.p_value(d['p_value'])})"
        for d in facts["drifted"]
    ]
    if problems:
        return listing(problems)
    return f"no drift beyond the thresholds in a run {age} days old"


def _features(results: Any) -> list[tuple[str, Mapping[str, Any]]]:
    """``(feature, statistics)`` of a drift run's results, their figures checked."""
    if not isinstance(results, Mapping):
        raise NotInShape("the document is not an object")
    raw = results.get("features")
    found: list[tuple[str, Mapping[str, Any]]] = []
    if isinstance(raw, Mapping):
        found = [(str(k), v or {}) for k, v in raw.items()]
    elif isinstance(raw, list):
        found = [
            (str(item.get("feature") or item.get("name")), item)
            for item in raw
            if isinstance(item, Mapping)
        ]
        if len(found) != len(raw):
            raise NotInShape("an entry of features is not an object")
    for feature, stats in found:
        if not isinstance(stats, Mapping):
            raise NotInShape(f"feature {feature} is not an object")
        check_figure(stats.get("psi"), f"feature {feature} psi")
        check_figure(stats.get("p_value"), f"feature {feature} p_value")
    return found
