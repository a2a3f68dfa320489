"""``monitoring``: production behaviour over recent windows, from ``govern monitor run``.

One rule watches one figure over the version's monitoring windows (``window``: a UTC day,
an ISO week or a calendar month):

* ``impact_ratio``, ``selection_rate``, ``tpr`` or ``fpr`` of every group (of the named
  features' groupings) that is not under the minimum size: it fails when the same group is
  outside the bounds in each of the latest ``consecutive`` windows;
* for a shadow counted beside its champion's decisions on the same requests:
  ``agreement`` (the share decided alike), ``selection_rate_delta`` and
  ``impact_ratio_delta`` (the shadow's figure minus the champion's) per group, judged as the
  group figures are ("a shadow worse than its champion on fairness");
* ``feature_psi``, each drift feature's PSI (``--features``; ``features`` names which)
  against the record's first window with it;
* ``score_psi``, the score histogram's PSI against the record's first window: it fails when
  the latest ``consecutive`` windows are all outside the bounds;
* ``log_age_days``, the days since the latest prediction counted ("no logs for 7 days").

Every earlier window outside the bounds is listed in the evidence, so the TUI and the card can
show which windows broke the rule even when the latest are back within it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import Field

from govern import formatting
from govern.policy.base import Bounds, Features, GroupingChoice, IfMissing, RuleBase
from govern.policy.evidence import GroupingView, select_groupings
from govern.policy.judging import Findings, listing, missing
from govern.policy.snapshot import SubjectSnapshot, WindowFigures
from govern.policy.status import FAIL, NOT_APPLICABLE, PASS

GROUP_METRICS = ("impact_ratio", "selection_rate", "tpr", "fpr")
#: A shadow against its champion on the same requests (``--champion-prediction``).
SHADOW_METRICS = ("agreement", "selection_rate_delta", "impact_ratio_delta")
MonitoringMetric = Literal[
    "impact_ratio",
    "selection_rate",
    "tpr",
    "fpr",
    "agreement",
    "selection_rate_delta",
    "impact_ratio_delta",
    "score_psi",
    "feature_psi",
    "log_age_days",
]
NAMES = {
    "impact_ratio": "impact ratio",
    "selection_rate": "selection rate",
    "tpr": "TPR",
    "fpr": "FPR",
    "score_psi": "score PSI",
    "feature_psi": "PSI",
    "agreement": "agreement with the champion",
    "selection_rate_delta": "selection rate minus the champion's",
    "impact_ratio_delta": "impact ratio minus the champion's",
    "log_age_days": "log age",
}
#: How many breaching windows the evidence lists (the latest), however long the record.
LISTED = 50


class MonitoringRule(RuleBase, Bounds):
    """A monitored figure within bounds over the latest windows."""

    kind: Literal["monitoring"]
    metric: MonitoringMetric
    window: Literal["1d", "1w", "1mo"] = "1d"
    consecutive: Annotated[int, Field(ge=1, le=1000)] = 1
    features: Features = None
    groupings: GroupingChoice = "single"
    if_missing: IfMissing = "fail"


Rule = MonitoringRule


def judge(rule: MonitoringRule, subject: SubjectSnapshot, now: dt.datetime) -> Findings:
    if subject.stateless:
        return Findings(NOT_APPLICABLE, note="stateless")
    record = subject.monitoring
    if record is None:
        return missing(rule.if_missing, "no-monitoring")
    if rule.metric == "log_age_days":
        if record.last_log_at is None:
            return missing(rule.if_missing, "no-monitoring")
        age = (now - record.last_log_at).total_seconds() / 86_400
        stale = {"last_log_at": record.last_log_at.isoformat(), "age_days": round(age, 1)}
        return Findings(FAIL if rule.violated_by(age) else PASS, stale)
    windows = [w for w in record.windows(rule.window) if w.rows]
    if rule.metric in SHADOW_METRICS:
        windows = [w for w in windows if w.shadow]
    if not windows:
        return missing(rule.if_missing, "no-windows")
    breaches = _breaches(rule, windows)
    latest = [w.start for w in windows[-rule.consecutive :]]
    streaks = [
        {"key": key, "values": [values[start] for start in latest], "since": latest[0].isoformat()}
        for key, values in breaches.items()
        if len(latest) == rule.consecutive and all(start in values for start in latest)
    ]
    listed = sorted(
        (
            {"window": start.isoformat(), "key": key, "value": value}
            for key, values in breaches.items()
            for start, value in values.items()
        ),
        key=lambda b: (b["window"], b["key"]),
    )
    broken = _broken(rule, windows, breaches)
    facts: dict[str, Any] = {
        "metric": rule.metric,
        "window": rule.window,
        "bounds": rule.describe(),
        "consecutive": rule.consecutive,
        "windows": len(windows),
        "latest": windows[-1].start.isoformat(),
        "violations": streaks,
        "breaches": listed[-LISTED:],
        "breach_count": len(listed),
        "broken": broken[-LISTED:],
        "broken_count": len(broken),
    }
    return Findings(FAIL if streaks else PASS, facts)


def _breaches(
    rule: MonitoringRule, windows: Sequence[WindowFigures]
) -> dict[str, dict[dt.date, float]]:
    """What broke the bounds: key (``score`` or ``grouping=group``) -> window -> value."""
    found: dict[str, dict[dt.date, float]] = {}
    for window in windows:
        if rule.metric == "score_psi":
            if window.score_psi is not None and rule.violated_by(window.score_psi):
                found.setdefault("score", {})[window.start] = window.score_psi
            continue
        if rule.metric == "feature_psi":
            for feature, value in window.feature_psi.items():
                wanted = rule.features is None or feature in rule.features
                if wanted and value is not None and rule.violated_by(value):
                    found.setdefault(feature, {})[window.start] = value
            continue
        views = [
            GroupingView(name, features, "intersection" if len(features) > 1 else "single")
            for name, features in window.features.items()
        ]
        chosen, _absent = select_groupings(views, rule.features, rule.groupings)
        figures = window.shadow if rule.metric in SHADOW_METRICS else window.groups
        for grouping in chosen:
            for label, metrics in figures.get(grouping.name, {}).items():
                value = metrics.get(rule.metric)
                if value is not None and rule.violated_by(value):
                    key = formatting.group(grouping.name, label)
                    found.setdefault(key, {})[window.start] = value
    return found


def _broken(
    rule: MonitoringRule,
    windows: Sequence[WindowFigures],
    breaches: dict[str, dict[dt.date, float]],
) -> list[dict[str, Any]]:
    """The windows in which the rule was broken: each that ends ``consecutive`` breaching
    windows of the same group (where the rule would have failed, had the record ended there),
    oldest first."""
    found = []
    for key, values in breaches.items():
        run = 0
        for window in windows:
            run = run + 1 if window.start in values else 0
            if run >= rule.consecutive:
                found.append(
                    {"window": window.start.isoformat(), "key": key, "value": values[window.start]}
                )
    return sorted(found, key=lambda b: (b["window"], b["key"]))


def describe(rule: MonitoringRule, subject: SubjectSnapshot, findings: Findings) -> str:
    facts, note = findings.facts, findings.note
    if note == "stateless":
        return "a stateless check has no production monitoring"
    if note in {"no-monitoring", "no-windows"} and rule.metric in SHADOW_METRICS:
        return (
            f"{subject.subject} has no prediction logs counted beside a champion's decisions "
            "(govern monitor run --champion-prediction COL)"
        )
    if note in {"no-monitoring", "no-windows"}:
        return f"{subject.subject} has no prediction logs counted (govern monitor run)"
    name = NAMES[rule.metric]
    if rule.metric == "log_age_days":
        age = formatting.compact(facts["age_days"])
        if findings.status == FAIL:
            return f"no prediction logs for {age} days (limit {rule.describe()})"
        return f"the latest prediction counted is {age} days old"
    latest = (
        "the latest window" if rule.consecutive == 1 else f"the latest {rule.consecutive} windows"
    )
    span = f"{latest} of {rule.window}"
    if findings.status == FAIL:
        return listing(
            [
                f"{'' if v['key'] == 'score' else v['key'] + ': '}{name} outside "
                f"{facts['bounds']} in {span} "
                f"({', '.join(formatting.compact(x) for x in v['values'])}; since {v['since']})"
                for v in facts["violations"]
            ]
        )
    earlier = facts["breach_count"]
    tail = f"; {formatting.count(earlier, 'earlier breach', 'earlier breaches')}" if earlier else ""
    return f"{name} within {facts['bounds']} in {span} (latest {facts['latest']}){tail}"
