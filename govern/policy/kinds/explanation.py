"""``explanation``: explanations exist and no sensitive feature (or flagged proxy) is among
the top k."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import Field

from govern.policy.base import FeatureName, IfMissing, RuleBase
from govern.policy.judging import Findings, listing, missing, no_evaluation, view_of
from govern.policy.snapshot import SubjectSnapshot
from govern.policy.status import FAIL, NOT_APPLICABLE, PASS


class ExplanationRule(RuleBase):
    """Explanations exist and no sensitive feature (or flagged proxy) is among the top k."""

    kind: Literal["explanation"]
    require: bool = True
    top_k: Annotated[int, Field(ge=1, le=1000)] | None = None
    sensitive: list[FeatureName] | None = None
    use_flags: bool = True
    if_missing: IfMissing = "fail"


Rule = ExplanationRule


def judge(rule: ExplanationRule, subject: SubjectSnapshot, now: dt.datetime) -> Findings:
    if subject.evaluation is None:
        return missing(rule.if_missing, "no-evaluation")
    view = view_of(subject.evaluation)
    explanations = view.explanations
    if explanations is None:
        return Findings(FAIL if rule.require else NOT_APPLICABLE, note="no-explanations")
    top = [str(f) for f in explanations.get("top_features") or []]
    facts: dict[str, Any] = {"method": explanations.get("method"), "top_features": top}
    if rule.top_k is None:
        return Findings(PASS, facts)
    sensitive = sensitive_names(rule, view.sensitive_features, subject.card)
    top_k = top[: rule.top_k]
    hits = []
    for rank, feature in enumerate(top_k, start=1):
        match = _sensitive_match(feature, sensitive)
        if match is not None:
            hits.append({"feature": feature, "rank": rank, "sensitive": match})
    if rule.use_flags:
        for flag in explanations.get("sensitive_flags") or []:
            feature = str(flag.get("feature"))
            if feature in top_k and not any(h["feature"] == feature for h in hits):
                hits.append(
                    {
                        "feature": feature,
                        "rank": top_k.index(feature) + 1,
                        "reason": flag.get("reason"),
                    }
                )
    facts.update(top_k=rule.top_k, sensitive=sensitive, hits=hits)
    return Findings(FAIL if hits else PASS, facts)


def describe(rule: ExplanationRule, subject: SubjectSnapshot, findings: Findings) -> str:
    facts, note = findings.facts, findings.note
    if note == "no-evaluation":
        return no_evaluation(subject)
    if note == "no-explanations":
        if findings.status == FAIL:
            return "the evaluation has no explanations (run it with a model)"
        return "no explanations in the evaluation"
    if rule.top_k is None:
        return f"explanations present ({facts['method']})"
    if findings.status == FAIL:
        described = [
            f"{h['feature']} (rank {h['rank']}"
            + (f", {h['reason']}" if h.get("reason") else f", sensitive: {h.get('sensitive')}")
            + ")"
            for h in facts["hits"]
        ]
        return f"sensitive features in the top {rule.top_k}: " + listing(described)
    return f"no sensitive feature among the top {rule.top_k}"


def _sensitive_match(name: str, sensitive: Sequence[str]) -> str | None:
    """Which sensitive feature ``name`` is: ``cat__sex_female`` and ``sex=female`` are ``sex``."""
    base = name.split("__", 1)[-1].lower()
    for wanted in sensitive:
        lowered = wanted.lower()
        if base == lowered or (
            base.startswith(lowered) and base[len(lowered) : len(lowered) + 1] in {"_", "="}
        ):
            return wanted
    return None


def sensitive_names(rule: ExplanationRule, evaluated: Sequence[str], card: Any) -> list[str]:
    """The features an explanation rule treats as sensitive: named, else evaluated and carded."""
    if rule.sensitive is not None:
        return sorted(set(rule.sensitive))
    names = list(evaluated)
    factors = card.get("factors") or {}
    names += [str(f) for f in factors.get("sensitive_features") or []]
    return sorted(set(names))
