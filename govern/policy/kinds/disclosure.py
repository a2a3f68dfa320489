"""``disclosure``: the evaluation reports each category's count, unknowns, and the categories
under a share of the data."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Literal

from govern import formatting
from govern.policy.base import Features, Fraction, GroupingChoice, IfMissing, RuleBase
from govern.policy.evidence import MISSING_GROUP, GroupingView, select_groupings, value_of
from govern.policy.judging import Deferred, Findings, map_hint, missing, no_evaluation, view_of
from govern.policy.snapshot import SubjectSnapshot
from govern.policy.status import PASS


class DisclosureRule(RuleBase):
    """The evaluation reports each category's count, unknowns, and categories under a share."""

    kind: Literal["disclosure"]
    features: Features = None
    groupings: GroupingChoice = "single"
    small_share: Fraction = 0.02
    if_missing: IfMissing = "fail"


Rule = DisclosureRule


def judge(rule: DisclosureRule, subject: SubjectSnapshot, now: dt.datetime) -> Findings:
    if subject.evaluation is None:
        return missing(rule.if_missing, "no-evaluation")
    view = view_of(subject.evaluation)
    chosen, absent = select_groupings(view.groupings, rule.features, rule.groupings)
    if absent:
        return missing(rule.if_missing, "not-evaluated", **_disclosed(rule, chosen, absent))
    # The status does not depend on the counts: they are gathered when the evidence is read.
    return Findings(PASS, Deferred(lambda: _disclosed(rule, chosen, absent)))


def _disclosed(
    rule: DisclosureRule, chosen: Sequence[GroupingView], absent: list[str]
) -> dict[str, Any]:
    """What the rule discloses of each grouping: its categories, unknowns and small ones."""
    report: dict[str, Any] = {}
    for grouping in chosen:
        categories: list[dict[str, Any]] = [
            {"group": label, "n": n, "share": group.get("share")}
            for label, n, _metrics, group in grouping.rows
        ]
        report[grouping.name] = {
            "categories": categories,
            "unknown": sum(c["n"] for c in categories if MISSING_GROUP in c["group"]),
            "under_share": [
                c for c in categories if (value_of(c["share"]) or 0.0) < rule.small_share
            ],
        }
    return {"groupings": report, "not_evaluated": absent, "small_share": rule.small_share}


def describe(rule: DisclosureRule, subject: SubjectSnapshot, findings: Findings) -> str:
    facts, note = findings.facts, findings.note
    if note == "no-evaluation":
        return no_evaluation(subject)
    if note == "not-evaluated":
        absent = facts["not_evaluated"]
        return f"{', '.join(absent)} not evaluated, so counts cannot be disclosed" + map_hint(
            absent, rule.features
        )
    lines = [
        f"{formatting.grouping(name)}: "
        f"{formatting.count(len(entry['categories']), 'category', 'categories')}, "
        f"{formatting.number(entry['unknown'])} unknown, {len(entry['under_share'])} under "
        f"{formatting.percent(rule.small_share, 0)}"
        for name, entry in facts["groupings"].items()
    ]
    return "; ".join(lines) or "nothing to disclose"
