"""``champion``: not worse than the deployed champion by more than a delta on named metrics."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import Field

from govern import formatting
from govern.policy.base import (
    HIGHER_IS_BETTER,
    PERFORMANCE_METRICS,
    ComparableMetric,
    FeatureName,
    RuleBase,
    Strict,
)
from govern.policy.evidence import ResultsView, value_of
from govern.policy.judging import Findings, listing, no_evaluation, view_of
from govern.policy.snapshot import SubjectSnapshot
from govern.policy.status import ERROR, FAIL, NOT_APPLICABLE, PASS


class ChampionMetric(Strict):
    metric: ComparableMetric
    grouping: FeatureName | None = None
    max_regression: Annotated[float, Field(ge=0.0)]


class ChampionRule(RuleBase):
    """Not worse than the deployed champion by more than a delta on named metrics."""

    kind: Literal["champion"]
    metrics: Annotated[list[ChampionMetric], Field(min_length=1)]
    require_same_data: bool = False


Rule = ChampionRule


def judge(rule: ChampionRule, subject: SubjectSnapshot, now: dt.datetime) -> Findings:
    champion = subject.champion
    if champion is None:
        return Findings(NOT_APPLICABLE, note="no-champion")
    if subject.state == "deployed":
        return Findings(NOT_APPLICABLE, note="is-champion")
    if subject.evaluation is None:
        return Findings(ERROR, note="no-evaluation")
    if champion.evaluation is None:
        return Findings(ERROR, {"champion": champion.ref}, "champion-unevaluated")
    ours, theirs = subject.evaluation, champion.evaluation
    same_data = ours.dataset_sha256 == theirs.dataset_sha256
    facts: dict[str, Any] = {"champion": champion.ref, "same_data": same_data, "metrics": []}
    if rule.require_same_data and not same_data:
        return Findings(ERROR, facts, "different-data")
    mine_view, theirs_view = view_of(ours), view_of(theirs)
    worse = unknown = False
    for spec in rule.metrics:
        mine, _where = comparable_value(mine_view, spec.metric, spec.grouping)
        theirs_value, _where = comparable_value(theirs_view, spec.metric, spec.grouping)
        row: dict[str, Any] = {
            "metric": spec.metric,
            "grouping": spec.grouping,
            "challenger": mine,
            "champion": theirs_value,
            "max_regression": spec.max_regression,
        }
        facts["metrics"].append(row)
        if mine is None or theirs_value is None:
            unknown = True
            continue
        worse_by = theirs_value - mine if spec.metric in HIGHER_IS_BETTER else mine - theirs_value
        row["worse_by"] = worse_by
        if worse_by > spec.max_regression + 1e-12:
            worse = True
    if worse:
        return Findings(FAIL, facts)
    return Findings(ERROR, facts, "unknown") if unknown else Findings(PASS, facts)


def describe(rule: ChampionRule, subject: SubjectSnapshot, findings: Findings) -> str:
    facts, note = findings.facts, findings.note
    champion = subject.champion
    ref = champion.ref if champion is not None else facts.get("champion")
    if note == "no-champion":
        return "no deployed champion to compare with"
    if note == "is-champion":
        return "this version is the deployed champion"
    if note == "no-evaluation":
        return no_evaluation(subject)
    if note == "champion-unevaluated":
        return f"the champion {ref} has no evaluation to compare with"
    if note == "different-data":
        mine = subject.evaluation.dataset_sha256 if subject.evaluation else None
        other = champion.evaluation.dataset_sha256 if champion and champion.evaluation else None
        return (
            f"{subject.subject} and {ref} were evaluated on different data "
            f"(sha256:{formatting.short_hash(mine)} vs sha256:{formatting.short_hash(other)})"
        )
    rows = facts["metrics"]
    if findings.status == FAIL:
        assert subject.evaluation is not None and champion is not None  # as judged
        assert champion.evaluation is not None
        ours, theirs = view_of(subject.evaluation), view_of(champion.evaluation)
        worse = []
        for r in rows:
            if r.get("worse_by", 0.0) <= r["max_regression"] + 1e-12:
                continue
            # where each figure came from (the worst grouping of a summary), for the message
            where = comparable_value(ours, r["metric"], r["grouping"])[1]
            theirs_where = comparable_value(theirs, r["metric"], r["grouping"])[1]
            worse.append(
                f"{r['metric']} ({where}) {formatting.compact(r['challenger'])} vs "
                f"champion {formatting.compact(r['champion'])} ({theirs_where}): worse by "
                f"{formatting.compact(r['worse_by'])}, limit "
                f"{formatting.compact(r['max_regression'])}"
            )
        return listing(worse)
    if note == "unknown":
        unknown = [r["metric"] for r in rows if r["challenger"] is None or r["champion"] is None]
        return f"cannot compare {', '.join(unknown)} with {ref}: not reported"
    return f"not worse than {ref} beyond the limits on {len(rule.metrics)} metrics"


def comparable_value(
    view: ResultsView, metric: str, grouping: str | None
) -> tuple[float | None, str]:
    """A metric to compare across versions, and where it came from.

    Fairness summaries without a named grouping take the worst single grouping.
    """
    if metric in PERFORMANCE_METRICS:
        return value_of(view.overall.get(metric)), "overall"
    candidates = [
        (value, g.name)
        for g in view.groupings
        if (g.name == grouping if grouping else g.kind != "intersection")
        and (value := value_of(g.summary.get(metric))) is not None
    ]
    if not candidates:
        return None, grouping or "any grouping"
    worst = min if metric in HIGHER_IS_BETTER else max
    return worst(candidates)
