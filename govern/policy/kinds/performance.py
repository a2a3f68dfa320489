"""``performance``: a performance metric within bounds, overall and/or in every group."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import Field

from govern import formatting
from govern.policy.base import (
    Bounds,
    Features,
    GroupingChoice,
    IfMissing,
    PerformanceMetric,
    RuleBase,
)
from govern.policy.evidence import select_groupings, value_of
from govern.policy.judging import Findings, listing, map_hint, missing, no_evaluation, view_of
from govern.policy.snapshot import SubjectSnapshot
from govern.policy.status import FAIL, PASS


class PerformanceRule(RuleBase, Bounds):
    """A performance metric within bounds, overall and/or in every group."""

    kind: Literal["performance"]
    metric: PerformanceMetric
    scope: Literal["overall", "groups", "both"] = "overall"
    features: Features = None
    groupings: GroupingChoice = "single"
    min_group_size: Annotated[int, Field(ge=1)] | None = None
    if_missing: IfMissing = "error"


Rule = PerformanceRule


def judge(rule: PerformanceRule, subject: SubjectSnapshot, now: dt.datetime) -> Findings:
    if subject.evaluation is None:
        return missing(rule.if_missing, "no-evaluation")
    view = view_of(subject.evaluation)
    violations: list[dict[str, Any]] = []
    facts: dict[str, Any] = {"metric": rule.metric, "threshold": rule.describe()}
    low, high = rule.min, rule.max
    if rule.scope != "groups":
        reported = rule.metric in view.overall
        value = value_of(view.overall.get(rule.metric))
        facts["overall"] = value
        if value is None:
            note = "not-reported" if not reported else "undefined"
            return missing(rule.if_missing, note, **facts)
        if (low is not None and value < low) or (high is not None and value > high):
            violations.append({"scope": "overall", "value": value})
    if rule.scope != "overall":
        chosen, absent = select_groupings(view.performance_groupings, rule.features, rule.groupings)
        floor = rule.min_group_size or view.min_group_size
        judged, small, undefined = 0, [], []
        for grouping in chosen:
            name = grouping.name
            for group, metrics in view.by_group[name].items():
                n = view.sizes.get((name, group))
                if n is not None and n < floor:
                    small.append({"grouping": name, "group": group, "n": n})
                    continue
                value = value_of(metrics.get(rule.metric) if metrics else None)
                if value is None:
                    undefined.append({"grouping": name, "group": group})
                    continue
                judged += 1
                if (low is not None and value < low) or (high is not None and value > high):
                    violations.append({"scope": name, "group": group, "value": value, "n": n})
        facts.update(
            groups_judged=judged, too_small=small, undefined=undefined, not_evaluated=absent
        )
        if absent and not violations:
            return missing(rule.if_missing, "not-evaluated", **facts)
    facts["violations"] = violations
    return Findings(FAIL if violations else PASS, facts)


def describe(rule: PerformanceRule, subject: SubjectSnapshot, findings: Findings) -> str:
    facts, note, metric = findings.facts, findings.note, rule.metric
    bound = rule.describe()
    if note == "no-evaluation":
        return no_evaluation(subject)
    if note in {"not-reported", "undefined"}:
        return f"{metric} is {note.replace('-', ' ')} in the evaluation"
    if note == "not-evaluated":
        absent = facts["not_evaluated"]
        return f"{', '.join(absent)} not evaluated, so per-group {metric} is unknown" + map_hint(
            absent, rule.features
        )
    if findings.status == FAIL:
        described = [
            f"{_where(v)}: {metric} {formatting.compact(v['value'])} is not {bound}"
            for v in facts["violations"]
        ]
        return listing(described)
    where = {
        "overall": "overall",
        "groups": "in every group judged",
        "both": "overall and in every group judged",
    }[rule.scope]
    return f"{metric} is {bound} {where}"


def _where(violation: dict[str, Any]) -> str:
    if "group" not in violation:
        return str(violation["scope"])
    return formatting.group(violation["scope"], violation["group"])
