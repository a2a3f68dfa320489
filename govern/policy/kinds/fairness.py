"""``fairness``: a fairness metric within bounds for every group (or grouping) of the named
features, with the exclusions, reference group and significance test a rule may set."""

from __future__ import annotations

import datetime as dt
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from govern import formatting
from govern.policy.base import (
    GROUP_METRICS,
    SIGNIFICANCE_METRICS,
    Alpha,
    Bounds,
    FairnessMetric,
    FeatureName,
    Features,
    Fraction,
    GroupingChoice,
    IfMissing,
    Name,
    RuleBase,
)
from govern.policy.evidence import (
    MISSING_GROUP,
    GroupingView,
    interval_of,
    select_groupings,
    value_of,
)
from govern.policy.judging import Findings, listing, map_hint, missing, no_evaluation, view_of
from govern.policy.snapshot import SubjectSnapshot
from govern.policy.status import ERROR, FAIL, PASS


class FairnessRule(RuleBase, Bounds):
    """A fairness metric within bounds for every group (or grouping) of the named features.

    ``min_share`` leaves out categories under that share of the data and ``exclude_unknown``
    the category of rows with no value (``(missing)``); impact ratios are then recomputed
    against the most selected remaining group (6 RCNY §5-301). ``significance`` counts a
    group below the threshold only when its selection rate differs significantly.

    ``reference`` (``{race: Caucasian}``, impact_ratio only) sets the reference group: the
    impact ratios of a grouping whose every feature it names are recomputed from the stored
    selection rates against that group (an intersection's reference is the combination), and
    stored p-values count only where the evaluation tested against the same group.
    """

    kind: Literal["fairness"]
    metric: FairnessMetric
    features: Features = None
    groupings: GroupingChoice = "single"
    min_group_size: Annotated[int, Field(ge=1)] | None = None
    min_share: Fraction | None = None
    exclude_unknown: bool = False
    significance: Alpha | None = None
    reference: dict[FeatureName, Name] | None = None
    if_missing: IfMissing = "error"

    @model_validator(mode="after")
    def _options_fit_the_metric(self) -> typing.Self:
        if self.reference is not None:
            if self.metric != "impact_ratio":
                raise ValueError(
                    f"reference cannot apply to {self.metric}: it sets the group impact "
                    "ratios compare with, so use it with impact_ratio"
                )
            if not self.reference:
                raise ValueError("reference names no feature; give {feature: value}")
            if self.features is not None:
                stray = sorted(set(self.reference) - set(self.features))
                if stray:
                    raise ValueError(
                        f"reference names {', '.join(stray)}, which is not among the rule's "
                        f"features ({', '.join(self.features)})"
                    )
        if self.metric not in GROUP_METRICS:
            given = [
                name
                for name, value in (
                    ("min_share", self.min_share),
                    ("exclude_unknown", self.exclude_unknown or None),
                    ("significance", self.significance),
                )
                if value is not None
            ]
            if given:
                raise ValueError(
                    f"{', '.join(given)} cannot apply to {self.metric}, one figure per "
                    "grouping; use a per-group metric such as impact_ratio"
                )
        elif self.significance is not None and self.metric not in SIGNIFICANCE_METRICS:
            raise ValueError(
                f"significance cannot apply to {self.metric}: the stored test compares "
                "selection rates, so use it with impact_ratio or selection_rate"
            )
        return self


Rule = FairnessRule

#: Impact ratios, and the rate each is a ratio of.
IMPACT = {"impact_ratio": "selection_rate", "scoring_impact_ratio": "scoring_rate"}


def judge(rule: FairnessRule, subject: SubjectSnapshot, now: dt.datetime) -> Findings:
    if subject.evaluation is None:
        return missing(rule.if_missing, "no-evaluation")
    view = view_of(subject.evaluation)
    chosen, absent = select_groupings(view.groupings, rule.features, rule.groupings)
    floor = rule.min_group_size or view.min_group_size
    facts: dict[str, Any] = {
        "metric": rule.metric,
        "threshold": rule.describe(),
        "min_group_size": floor,
        "min_share": rule.min_share,
        "significance": rule.significance,
        "groupings": [g.name for g in chosen],
        "not_evaluated": absent,
        "groups_judged": 0,
        "violations": [],
        "not_significant": [],
        "too_small": [],
        "excluded_under_share": [],
        "undefined": [],
    }
    if rule.exclude_unknown:
        facts["excluded_unknown"] = []
    if rule.reference is not None:
        facts["references"] = []
    for grouping in chosen:
        if rule.metric not in GROUP_METRICS:
            _judge_summary(rule, grouping, facts)
            continue
        problem = _judge_groups(rule, grouping, floor, facts)
        if problem is not None:
            reference = {"metric": rule.metric, "reference": dict(rule.reference or {})}
            return Findings(ERROR, {**reference, "problem": problem}, "unknown-reference")
    return _status(rule, facts, chosen, absent)


def _status(
    rule: FairnessRule, facts: dict[str, Any], chosen: list[GroupingView], absent: list[str]
) -> Findings:
    if facts["violations"]:
        return Findings(FAIL, facts)
    if absent:
        return missing(rule.if_missing, "not-evaluated", **facts)
    if facts["groups_judged"] == 0 and not facts["too_small"]:
        return missing(rule.if_missing, "not-reported", **facts)
    if facts["groups_judged"] == 0:
        return Findings(ERROR, facts, "none-judged")
    return Findings(PASS, facts)


def _judge_summary(rule: FairnessRule, grouping: GroupingView, facts: dict[str, Any]) -> None:
    """A metric with one figure per grouping (``demographic_parity_difference``...)."""
    value = value_of(grouping.summary.get(rule.metric))
    if value is None:
        facts["undefined"].append({"grouping": grouping.name})
        return
    facts["groups_judged"] += 1
    if rule.violated_by(value):
        facts["violations"].append({"grouping": grouping.name, "value": value})


def _judge_groups(
    rule: FairnessRule, grouping: GroupingView, floor: int, facts: dict[str, Any]
) -> str | None:
    """Judge every group of one grouping into ``facts``; a problem with the rule's reference
    group (it names a group the evaluation does not have) is returned instead."""
    name, metric = grouping.name, rule.metric
    low, high, alpha = rule.min, rule.max, rule.significance
    rate_key = IMPACT.get(metric)
    excluded: set[str] = set()
    unknown: set[str] = set()
    if rule.min_share is not None or rule.exclude_unknown:
        excluded, unknown = exclusions(rule, grouping)
        facts["excluded_under_share"] += [{"grouping": name, "group": g} for g in sorted(excluded)]
    if rule.exclude_unknown:
        facts["excluded_unknown"] += [
            {"grouping": name, "group": str(g["group"]), "n": int(g.get("n") or 0)}
            for g in grouping.groups
            if str(g["group"]) in unknown
        ]
        excluded = excluded | unknown
    found = reference_rate(rule, grouping, excluded)
    if isinstance(found, str):
        return found
    reference, reference_label = found
    if rule.reference is not None:
        facts["references"].append(
            {"grouping": name, "group": reference_label, "reason": _why(rule, grouping, reference)}
        )
    p_values_hold = p_values_test(rule, grouping, excluded, reference_label)
    if metric in SIGNIFICANCE_METRICS and not p_values_hold:
        facts.setdefault("p_values_not_applicable", []).append(name)
    for label, n, metrics, group in grouping.rows:
        if excluded and label in excluded:
            continue
        if n < floor:
            facts["too_small"].append({"grouping": name, "group": label, "n": n})
            continue
        # Impact ratios are read as stored unless a reference rate is given (see
        # reference_rate), in which case they are recomputed against it.
        if rate_key is None:
            raw = metrics.get(metric)
            value = raw if type(raw) is float else value_of(raw)
        elif reference is None:
            raw = group.get(metric)
            value, raw = (raw if type(raw) is float else value_of(raw)), None
        else:
            rate = value_of(metrics.get(rate_key))
            value, raw = (None if rate is None or reference <= 0 else rate / reference), None
        if value is None:
            reasons = group.get("undefined") or {}
            why = reasons.get(metric) or reasons.get("selection_rate")
            facts["undefined"].append({"grouping": name, "group": label, "n": n, "reason": why})
            continue
        facts["groups_judged"] += 1
        if not ((low is not None and value < low) or (high is not None and value > high)):
            continue
        if rate_key is not None and label == reference_label:
            continue
        p_value = group.get("p_value") if p_values_hold else None
        row: dict[str, Any] = {"grouping": name, "group": label, "n": n, "value": value}
        lower, upper = interval_of(raw)
        if lower is not None or upper is not None:
            row.update(lower=lower, upper=upper)
        if p_value is not None:
            row["p_value"] = p_value
        if alpha is not None and p_value is not None and float(p_value) >= alpha:
            facts["not_significant"].append(row)
        else:
            facts["violations"].append(row)
    return None


def _why(rule: FairnessRule, grouping: GroupingView, reference: float | None) -> str:
    if explicit_reference(rule, grouping) is not None:
        return f"set by policy rule {rule.id}"
    return "as stored with the evaluation" if reference is None else "most selected group left in"


def describe(rule: FairnessRule, subject: SubjectSnapshot, findings: Findings) -> str:
    facts, note = findings.facts, findings.note
    if note == "no-evaluation":
        return no_evaluation(subject)
    if note == "unknown-reference":
        return f"{facts['problem']}; set by rule {rule.id}"
    bound, metric = rule.describe(), rule.metric
    if findings.status == FAIL:
        return listing([_violation(metric, v, bound) for v in facts["violations"]])
    if note == "not-evaluated":
        absent = facts["not_evaluated"]
        return (
            f"{', '.join(absent)} {'was' if len(absent) == 1 else 'were'} not evaluated; "
            f"evaluate with --sensitive {','.join(absent)}" + map_hint(absent, rule.features)
        )
    if note == "not-reported":
        what = "grouping" if not facts["groupings"] else "group"
        return f"{metric} is not reported for any {what} in scope"
    floor = facts["min_group_size"]
    if note == "none-judged":
        return (
            f"no group could be judged on {metric} (groups under {floor} rows or undefined values)"
        )
    extra = ""
    if facts["not_significant"]:
        extra = (
            f"; {len(facts['not_significant'])} below the threshold but not statistically "
            "significant"
        )
    if facts["too_small"]:
        extra += f"; {formatting.count(len(facts['too_small']), 'group')} under {floor} rows "
        extra += "not judged"
    return f"{metric} is {bound} for {facts['groups_judged']} judged{extra}"


def _violation(metric: str, row: Mapping[str, Any], bound: str) -> str:
    value = formatting.compact(row["value"])
    if "group" not in row:
        return f"{formatting.grouping(row['grouping'])}: {metric} {value} is not {bound}"
    text = f"{formatting.group(row['grouping'], row['group'])}: {metric} {value} (n={row['n']}"
    if row.get("p_value") is not None:
        text += f", p={formatting.p_value(row['p_value'])}"
    return text + f") is not {bound}"


def explicit_reference(rule: FairnessRule, grouping: GroupingView) -> str | None:
    """The label of the group the rule's ``reference`` sets for ``grouping``: ``None`` unless
    it names every feature of the grouping (an intersection's is the combination)."""
    chosen = rule.reference
    if not chosen or rule.metric != "impact_ratio":
        return None
    if not all(feature in chosen for feature in grouping.features):
        return None
    return formatting.STORED_SEPARATOR.join(chosen[feature] for feature in grouping.features)


def reference_rate(
    rule: FairnessRule, grouping: GroupingView, excluded: set[str]
) -> tuple[float | None, str | None] | str:
    """The reference for impact ratios: ``(rate to recompute against, reference label)``, or
    why the rule's reference cannot be used.

    A rule's ``reference`` comes first: the ratios are recomputed against that group's stored
    selection rate (0 when it has none, so every ratio is undefined). Otherwise stored ratios
    are used as they are (rate ``None``) unless ``min_share`` or ``exclude_unknown`` left a
    category out; then they are recomputed against the most selected remaining group, as
    6 RCNY §5-301 allows when categories under 2% of the data are excluded, and requires for
    individuals in an unknown category.
    """
    if rule.metric not in IMPACT:
        return None, None
    named = explicit_reference(rule, grouping)
    if named is not None:
        for group in grouping.groups:
            if str(group["group"]) == named:
                rate = value_of((group.get("metrics") or {}).get("selection_rate"))
                return (0.0 if rate is None else rate), named
        shown = ", ".join(str(g["group"]) for g in grouping.groups[:20])
        more = f" and {len(grouping.groups) - 20} more" if len(grouping.groups) > 20 else ""
        return (
            f"reference {grouping.name}={named} is not a group of the evaluation (its groups: "
            f"{shown}{more})"
        )
    if not excluded and rule.metric == "impact_ratio":
        return None, grouping.reference_group  # stored ratios, against the stored reference
    best: tuple[float | None, str | None] = (None, None)
    for group in grouping.groups:
        label = str(group["group"])
        if label in excluded:
            continue
        rate = value_of((group.get("metrics") or {}).get(IMPACT[rule.metric]))
        if rate is not None and (best[0] is None or rate > best[0]):
            best = (rate, label)
    if not excluded:
        return None, best[1]
    return best


def p_values_test(
    rule: FairnessRule, grouping: GroupingView, excluded: set[str], reference_label: str | None
) -> bool:
    """Whether a grouping's stored p-values test what the rule judges.

    They compare each group's selection rate with the stored reference group: they hold for
    selection rates unless that group is left out, and for impact ratios only when the ratios
    are taken against that same group.
    """
    if rule.metric not in SIGNIFICANCE_METRICS:
        return False
    if rule.metric in IMPACT:
        return reference_label == grouping.reference_group
    return not (excluded and grouping.reference_group in excluded)


def exclusions(rule: FairnessRule, grouping: GroupingView) -> tuple[set[str], set[str]]:
    """Labels a fairness rule leaves out: under ``min_share``, and unknown (``(missing)``)."""
    under: set[str] = set()
    if rule.min_share is not None:
        share = rule.min_share
        under = {
            str(g["group"]) for g in grouping.groups if (value_of(g.get("share")) or 0.0) < share
        }
    unknown: set[str] = set()
    if rule.exclude_unknown:
        unknown = {label for g in grouping.groups if MISSING_GROUP in (label := str(g["group"]))}
    return under, unknown
