"""The rule registry: one pure function per rule kind, keyed by the kind's name.

Each function takes the rule, the subject snapshot and the time of the check and returns a
:class:`~govern.policy.outcomes.Verdict` (status, message, evidence). Functions never touch
a database or a file; the evidence they return is JSON-ready so it can be stored in a
``rule_result`` row and printed in any output format.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar, cast

from govern.domain.lifecycle import approvals_counted
from govern.policy.evidence import (
    MISSING_GROUP,
    GroupingView,
    fmt,
    group_sizes,
    groupings,
    interval_of,
    overall_metric,
    select_groupings,
    value_of,
)
from govern.policy.outcomes import ERROR, FAIL, NOT_APPLICABLE, PASS, Verdict
from govern.policy.schema import (
    GROUP_METRICS,
    HIGHER_IS_BETTER,
    PERFORMANCE_METRICS,
    SIGNIFICANCE_METRICS,
    ApprovalsRule,
    ArtifactRule,
    CardRule,
    ChampionRule,
    DisclosureRule,
    DriftRule,
    ExplanationRule,
    FairnessRule,
    FreshnessRule,
    IfMissing,
    PerformanceRule,
    RuleBase,
    ValidationDueRule,
)
from govern.policy.snapshot import SubjectSnapshot

R = TypeVar("R", bound=RuleBase)
RuleFunction = Callable[[Any, SubjectSnapshot, dt.datetime], Verdict]

#: kind -> function. Every kind in ``schema.RULE_KINDS`` has an entry (a test checks it).
REGISTRY: dict[str, RuleFunction] = {}
#: What a broken evidence document may raise inside a rule; it becomes an ``error`` outcome
#: (``ArithmeticError``: ``int()`` of an infinite size, a division by a zero count).
EVIDENCE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError, ArithmeticError)

_SHOWN = 3  # violations named in a message; the evidence holds all of them


def rule_kind(kind: str) -> Callable[[Callable[[R, SubjectSnapshot, dt.datetime], Verdict]], Any]:
    """Register the function that evaluates rules of ``kind``."""

    def register(function: Callable[[R, SubjectSnapshot, dt.datetime], Verdict]) -> Any:
        if kind in REGISTRY:
            raise ValueError(f"rule kind {kind!r} registered twice")
        REGISTRY[kind] = cast(RuleFunction, function)
        return function

    return register


#: The status a rule with ``if_missing`` gives when the evidence it needs is absent.
IF_MISSING: dict[str, str] = {"error": ERROR, "fail": FAIL, "not-applicable": NOT_APPLICABLE}


def _missing(if_missing: IfMissing, message: str, **evidence: Any) -> Verdict:
    status = IF_MISSING[if_missing]
    return Verdict(status, message, evidence)


def _no_evaluation(snapshot: SubjectSnapshot) -> str:
    if snapshot.stateless:
        return "no evaluation results were given"
    return f"{snapshot.subject} has no evaluation on record; run `govern evaluate` first"


def map_hint(absent: Sequence[str], named: Sequence[str] | None) -> str:
    """What to do about categories a rule names that the evaluation has under another name:
    map them onto its columns (:mod:`govern.policy.categories`)."""
    if named is None or not absent:
        return ""
    them = "it" if len(absent) == 1 else "them"
    return (
        f"; if the data calls {them} otherwise, map {them} with --category "
        f"{absent[0]}=COLUMN or `categories:` in the policy binding"
    )


def _listing(items: Sequence[str], total: int | None = None) -> str:
    total = len(items) if total is None else total
    shown = "; ".join(items[:_SHOWN])
    return shown + (f"; and {total - _SHOWN} more" if total > _SHOWN else "")


# --- card -----------------------------------------------------------------------------------


def _card_values(card: Mapping[str, Any], path: str) -> Iterator[tuple[str, Any]]:
    """``(concrete path, value)`` for a field path; ``a.items[].b`` yields one per item."""
    if "[]" not in path:
        # Most paths name one field: walk straight down (this runs for every card rule).
        node: Any = card
        for key in path.split("."):
            node = node.get(key) if type(node) is dict or isinstance(node, Mapping) else None
        yield path, node
        return
    yield from listed_values(card, card_steps(path))


def card_steps(path: str) -> list[tuple[str, bool]]:
    """A field path as ``(key, listed)`` steps: ``a.items[].b`` is a, each of items, b."""
    return [(part[:-2], True) if part.endswith("[]") else (part, False) for part in path.split(".")]


def listed_values(
    card: Mapping[str, Any], steps: Sequence[tuple[str, bool]], *, places: bool = True
) -> list[tuple[str, Any]]:
    """``(concrete path, value)`` for the steps of a path with lists; with ``places=False``
    every path is ``""`` (a status needs the values only)."""
    nodes: list[tuple[str, Any, bool]] = [("", card, True)]
    for key, listed in steps:
        following: list[tuple[str, Any, bool]] = []
        for where, node, present in nodes:
            if not present:
                following.append((where, None, False))
                continue
            here = (f"{where}.{key}" if where else key) if places else ""
            value = node.get(key) if isinstance(node, Mapping) else None
            if not listed:
                following.append((here, value, True))
            elif isinstance(value, list) and value:
                following.extend(
                    (f"{here}[{i}]" if places else "", item, True) for i, item in enumerate(value)
                )
            else:
                following.append((here, None, False))
        nodes = following
    return [(where, value) for where, value, _present in nodes]


def _has_content(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, Mapping):
        return any(_has_content(v) for v in value.values())
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list | tuple):
        return any(_has_content(v) for v in value)
    return True


def _shortfall(value: Any, min_chars: int, min_items: int) -> str | None:
    if not _has_content(value):
        return "missing or empty"
    if isinstance(value, str) and len(value.strip()) < min_chars:
        return f"{len(value.strip())} characters, needs at least {min_chars}"
    if isinstance(value, list | tuple):
        items = sum(1 for v in value if _has_content(v))
        if items < min_items:
            return f"{items} item{'s' * (items != 1)}, needs at least {min_items}"
    return None


@rule_kind("card")
def check_card(rule: CardRule, snapshot: SubjectSnapshot, now: dt.datetime) -> Verdict:
    missing: list[str] = []
    short: list[dict[str, str]] = []
    checked = 0
    for path in rule.fields:
        for where, value in _card_values(snapshot.card, path):
            checked += 1
            problem = _shortfall(value, rule.min_chars, rule.min_items)
            if problem == "missing or empty":
                missing.append(where)
            elif problem is not None:
                short.append({"field": where, "problem": problem})
    evidence = {"fields": list(rule.fields), "checked": checked, "missing": missing, "short": short}
    if not missing and not short:
        return Verdict(PASS, f"all {checked} card fields present", evidence)
    described = [f"{m} is missing" for m in missing] + [
        f"{s['field']} has {s['problem']}" for s in short
    ]
    return Verdict(FAIL, _listing(described), evidence)


# --- performance ----------------------------------------------------------------------------


@rule_kind("performance")
def check_performance(
    rule: PerformanceRule, snapshot: SubjectSnapshot, now: dt.datetime
) -> Verdict:
    if snapshot.evaluation is None:
        return _missing(rule.if_missing, _no_evaluation(snapshot))
    results = snapshot.evaluation.results
    bound = rule.describe()
    violations: list[dict[str, Any]] = []
    evidence: dict[str, Any] = {"metric": rule.metric, "threshold": bound}
    if rule.scope in {"overall", "both"}:
        reported, value = overall_metric(results, rule.metric)
        evidence["overall"] = value
        if not reported or value is None:
            why = "not reported" if not reported else "undefined"
            return _missing(
                rule.if_missing, f"{rule.metric} is {why} in the evaluation", **evidence
            )
        if rule.violated_by(value):
            violations.append({"scope": "overall", "value": value})
    if rule.scope in {"groups", "both"}:
        by_group, views = performance_groupings(results, snapshot.cache)
        chosen, absent = select_groupings(views, rule.features, rule.groupings)
        sizes = group_sizes(results, snapshot.cache)
        floor = rule.min_group_size or int(results.get("min_group_size") or 0)
        metric, low, high = rule.metric, rule.min, rule.max
        judged, small, undefined = 0, [], []
        for grouping in chosen:
            name = grouping.name
            for group, metrics in (by_group.get(name) or {}).items():
                n = sizes.get((name, group))
                if n is not None and n < floor:
                    small.append({"grouping": name, "group": group, "n": n})
                    continue
                value = value_of(metrics.get(metric) if metrics else None)
                if value is None:
                    undefined.append({"grouping": name, "group": group})
                    continue
                judged += 1
                if (low is not None and value < low) or (high is not None and value > high):
                    violations.append({"scope": name, "group": group, "value": value, "n": n})
        evidence.update(
            groups_judged=judged, too_small=small, undefined=undefined, not_evaluated=absent
        )
        if absent and not violations:
            return _missing(
                rule.if_missing,
                f"{', '.join(absent)} not evaluated, so per-group {rule.metric} is unknown"
                + map_hint(absent, rule.features),
                **evidence,
            )
    evidence["violations"] = violations
    if violations:
        described = [
            f"{v['scope']}{'=' + str(v['group']) if 'group' in v else ''}: "
            f"{rule.metric} {fmt(v['value'])} is not {bound}"
            for v in violations
        ]
        return Verdict(FAIL, _listing(described), evidence)
    where = "overall" if rule.scope == "overall" else "overall and in every group judged"
    if rule.scope == "groups":
        where = "in every group judged"
    return Verdict(PASS, f"{rule.metric} is {bound} {where}", evidence)


def performance_groupings(
    results: Mapping[str, Any], cache: dict[Any, Any]
) -> tuple[Mapping[str, Any], list[GroupingView]]:
    """The per-group performance section and a view per grouping in it (memoised)."""
    by_group = (results.get("performance") or {}).get("by_group") or {}
    key = ("by_group", id(results))
    views = cache.get(key)
    if views is None:
        views = cache[key] = [
            GroupingView(name=name, features=tuple(name.split("*")), kind=_kind(name))
            for name in by_group
        ]
    return by_group, views


def _kind(name: str) -> str:
    return "intersection" if "*" in name else "single"


# --- fairness -------------------------------------------------------------------------------


_IMPACT = {"impact_ratio": "selection_rate", "scoring_impact_ratio": "scoring_rate"}


def explicit_reference(rule: FairnessRule, grouping: GroupingView) -> str | None:
    """The label of the group the rule's ``reference`` sets for ``grouping``: ``None`` unless
    it names every feature of the grouping (an intersection's is the combination)."""
    chosen = rule.reference
    if not chosen or rule.metric != "impact_ratio":
        return None
    if not all(feature in chosen for feature in grouping.features):
        return None
    return ", ".join(chosen[feature] for feature in grouping.features)


class UnknownReference(LookupError):
    """A rule's ``reference`` names a group the evaluation does not have."""


def _reference_rate(
    rule: FairnessRule, grouping: GroupingView, excluded: set[str]
) -> tuple[float | None, str | None]:
    """The reference for impact ratios: ``(rate to recompute against, reference label)``.

    A rule's ``reference`` comes first: the ratios are recomputed against that group's stored
    selection rate (0 when it has none, so every ratio is undefined). Otherwise stored ratios
    are used as they are (rate ``None``) unless ``min_share`` or ``exclude_unknown`` left a
    category out; then they are recomputed against the most selected remaining group, as
    6 RCNY §5-301 allows when categories under 2% of the data are excluded, and requires for
    individuals in an unknown category.

    Raises:
        UnknownReference: the rule's reference is not a group of the grouping.
    """
    if rule.metric not in _IMPACT:
        return None, None
    named = explicit_reference(rule, grouping)
    if named is not None:
        for group in grouping.groups:
            if str(group.get("group")) == named:
                rate = value_of((group.get("metrics") or {}).get("selection_rate"))
                return (0.0 if rate is None else rate), named
        shown = ", ".join(str(g.get("group")) for g in grouping.groups[:20])
        more = f" and {len(grouping.groups) - 20} more" if len(grouping.groups) > 20 else ""
        raise UnknownReference(
            f"reference {grouping.name}={named} is not a group of the evaluation (its groups: "
            f"{shown}{more})"
        )
    best: tuple[float | None, str | None] = (None, None)
    for group in grouping.groups:
        label = str(group.get("group"))
        if label in excluded:
            continue
        rate = value_of((group.get("metrics") or {}).get(_IMPACT[rule.metric]))
        if rate is not None and (best[0] is None or rate > best[0]):
            best = (rate, label)
    if not excluded:
        stored = grouping.reference_group if rule.metric == "impact_ratio" else best[1]
        return None, stored
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
    if rule.metric in _IMPACT:
        return reference_label == grouping.reference_group
    return not (excluded and grouping.reference_group in excluded)


def fairness_exclusions(rule: FairnessRule, grouping: GroupingView) -> tuple[set[str], set[str]]:
    """Labels a fairness rule leaves out: under ``min_share``, and unknown (``(missing)``)."""
    under: set[str] = set()
    if rule.min_share is not None:
        share = rule.min_share
        under = {str(g.get("group")) for g in grouping.groups if (g.get("share") or 0.0) < share}
    unknown: set[str] = set()
    if rule.exclude_unknown:
        unknown = {
            label for g in grouping.groups if MISSING_GROUP in (label := str(g.get("group")))
        }
    return under, unknown


@rule_kind("fairness")
def check_fairness(rule: FairnessRule, snapshot: SubjectSnapshot, now: dt.datetime) -> Verdict:
    if snapshot.evaluation is None:
        return _missing(rule.if_missing, _no_evaluation(snapshot))
    results = snapshot.evaluation.results
    chosen, absent = select_groupings(
        groupings(results, snapshot.cache), rule.features, rule.groupings
    )
    bound = rule.describe()
    floor = rule.min_group_size or int(results.get("min_group_size") or 0)
    low, high, alpha, min_share = rule.min, rule.max, rule.significance, rule.min_share
    metric = rule.metric
    per_group = metric in GROUP_METRICS
    rate_key = _IMPACT.get(metric)
    judged = 0
    violations: list[dict[str, Any]] = []
    small: list[dict[str, Any]] = []
    excluded_all: list[dict[str, Any]] = []
    undefined: list[dict[str, Any]] = []
    not_significant: list[dict[str, Any]] = []
    unknown_all: list[dict[str, Any]] = []
    untested: list[str] = []
    references: list[dict[str, Any]] = []
    # The stored p-value tests a group's selection rate against the stored reference group.
    tested = metric in SIGNIFICANCE_METRICS
    for grouping in chosen:
        name = grouping.name
        if not per_group:
            value = value_of(grouping.summary.get(metric))
            if value is None:
                undefined.append({"grouping": name})
                continue
            judged += 1
            if (low is not None and value < low) or (high is not None and value > high):
                violations.append({"grouping": name, "value": value})
            continue
        excluded, unknown = fairness_exclusions(rule, grouping)
        excluded_all += [{"grouping": name, "group": label} for label in sorted(excluded)]
        if rule.exclude_unknown:
            unknown_all += [
                {"grouping": name, "group": str(g.get("group")), "n": int(g.get("n") or 0)}
                for g in grouping.groups
                if str(g.get("group")) in unknown
            ]
            excluded = excluded | unknown
        try:
            reference, reference_label = _reference_rate(rule, grouping, excluded)
        except UnknownReference as unknown_reference:
            return Verdict(
                ERROR,
                f"{unknown_reference}; set by rule {rule.id}",
                {"metric": metric, "reference": dict(rule.reference or {})},
            )
        if rule.reference is not None:
            references.append(
                {
                    "grouping": name,
                    "group": reference_label,
                    "reason": (
                        f"set by policy rule {rule.id}"
                        if explicit_reference(rule, grouping) is not None
                        else "as stored with the evaluation"
                        if reference is None
                        else "most selected group left in"
                    ),
                }
            )
        p_values_hold = p_values_test(rule, grouping, excluded, reference_label)
        if tested and not p_values_hold:
            untested.append(name)
        for group in grouping.groups:
            label = str(group["group"])
            if excluded and label in excluded:
                continue
            n = int(group.get("n") or 0)
            if n < floor:
                small.append({"grouping": name, "group": label, "n": n})
                continue
            # The rule's figure for this group, inline: this runs for every group of every rule.
            # Impact ratios are read as stored unless a reference rate is given (see
            # _reference_rate), in which case they are recomputed against it.
            metrics = group.get("metrics") or {}
            if rate_key is None:
                raw = metrics.get(metric)
                value = raw if type(raw) is float else value_of(raw)
            elif reference is None:
                value, raw = value_of(group.get(metric)), None
            else:
                rate = value_of(metrics.get(rate_key))
                value, raw = (None if rate is None or reference <= 0 else rate / reference), None
            if value is None:
                reasons = group.get("undefined") or {}
                why = reasons.get(metric) or reasons.get("selection_rate")
                undefined.append({"grouping": name, "group": label, "n": n, "reason": why})
                continue
            judged += 1
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
                not_significant.append(row)
            else:
                violations.append(row)
    evidence: dict[str, Any] = {
        "metric": metric,
        "threshold": bound,
        "min_group_size": floor,
        "min_share": min_share,
        "significance": alpha,
        "groupings": [g.name for g in chosen],
        "not_evaluated": absent,
        "groups_judged": judged,
        "violations": violations,
        "not_significant": not_significant,
        "too_small": small,
        "excluded_under_share": excluded_all,
        "undefined": undefined,
    }
    if rule.exclude_unknown:
        evidence["excluded_unknown"] = unknown_all
    if rule.reference is not None:
        evidence["references"] = references
    if untested:
        evidence["p_values_not_applicable"] = untested
    if violations:
        described = [_describe_violation(rule, v, bound) for v in violations]
        return Verdict(FAIL, _listing(described), evidence)
    if absent:
        return _missing(
            rule.if_missing,
            f"{', '.join(absent)} {'was' if len(absent) == 1 else 'were'} not evaluated; "
            f"evaluate with --sensitive {','.join(absent)}" + map_hint(absent, rule.features),
            **evidence,
        )
    if judged == 0 and not small:
        what = "grouping" if not chosen else "group"
        return _missing(
            rule.if_missing, f"{rule.metric} is not reported for any {what} in scope", **evidence
        )
    if judged == 0:
        return Verdict(
            ERROR,
            f"no group could be judged on {rule.metric} (groups under {floor} rows or "
            "undefined values)",
            evidence,
        )
    note = ""
    if not_significant:
        note = f"; {len(not_significant)} below the threshold but not statistically significant"
    if small:
        note += f"; {len(small)} group{'s' * (len(small) != 1)} under {floor} rows not judged"
    return Verdict(PASS, f"{rule.metric} is {bound} for {judged} judged{note}", evidence)


def _describe_violation(rule: FairnessRule, row: Mapping[str, Any], bound: str) -> str:
    if "group" not in row:
        return f"{row['grouping']}: {rule.metric} {fmt(row['value'])} is not {bound}"
    text = f"{row['grouping']}={row['group']}: {rule.metric} {fmt(row['value'])} (n={row['n']}"
    if row.get("p_value") is not None:
        text += f", p={float(row['p_value']):.3g}"
    return text + f") is not {bound}"


# --- explanations ---------------------------------------------------------------------------


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


def sensitive_names(
    rule: ExplanationRule, results: Mapping[str, Any], card: Mapping[str, Any]
) -> list[str]:
    """The features an explanation rule treats as sensitive: named, else evaluated and carded."""
    if rule.sensitive is not None:
        return sorted(set(rule.sensitive))
    names = [str(f) for f in results.get("sensitive_features") or []]
    factors = card.get("factors") or {}
    names += [str(f) for f in factors.get("sensitive_features") or []]
    return sorted(set(names))


@rule_kind("explanation")
def check_explanation(
    rule: ExplanationRule, snapshot: SubjectSnapshot, now: dt.datetime
) -> Verdict:
    if snapshot.evaluation is None:
        return _missing(rule.if_missing, _no_evaluation(snapshot))
    results = snapshot.evaluation.results
    explanations = results.get("explanations")
    if not explanations:
        if rule.require:
            return Verdict(FAIL, "the evaluation has no explanations (run it with a model)")
        return Verdict(NOT_APPLICABLE, "no explanations in the evaluation")
    top = [str(f) for f in explanations.get("top_features") or []]
    evidence: dict[str, Any] = {"method": explanations.get("method"), "top_features": top}
    if rule.top_k is None:
        return Verdict(PASS, f"explanations present ({explanations.get('method')})", evidence)
    sensitive = sensitive_names(rule, results, snapshot.card)
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
    evidence.update(top_k=rule.top_k, sensitive=sensitive, hits=hits)
    if hits:
        described = [
            f"{h['feature']} (rank {h['rank']}"
            + (f", {h['reason']}" if h.get("reason") else f", sensitive: {h.get('sensitive')}")
            + ")"
            for h in hits
        ]
        return Verdict(
            FAIL, f"sensitive features in the top {rule.top_k}: " + _listing(described), evidence
        )
    return Verdict(PASS, f"no sensitive feature among the top {rule.top_k}", evidence)


# --- drift ----------------------------------------------------------------------------------


def _drift_features(results: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    raw = results.get("features")
    if isinstance(raw, Mapping):
        return [(str(k), v or {}) for k, v in raw.items()]
    if isinstance(raw, list):
        return [(str(item.get("feature") or item.get("name")), item) for item in raw]
    return []


@rule_kind("drift")
def check_drift(rule: DriftRule, snapshot: SubjectSnapshot, now: dt.datetime) -> Verdict:
    if snapshot.stateless:
        return Verdict(NOT_APPLICABLE, "a stateless check has no drift runs")
    drift = snapshot.drift
    if drift is None:
        return _missing(rule.if_missing, f"{snapshot.subject} has no drift run on record")
    age = (now - drift.created_at).days
    evidence: dict[str, Any] = {
        "drift_run": drift.id,
        "run_at": drift.created_at.isoformat(),
        "age_days": age,
        "max_age_days": rule.max_age_days,
        "max_psi": rule.max_psi,
        "min_p_value": rule.min_p_value,
    }
    problems: list[str] = []
    if rule.max_age_days is not None and age > rule.max_age_days:
        problems.append(f"the latest drift run is {age} days old (limit {rule.max_age_days})")
    drifted: list[dict[str, Any]] = []
    for feature, stats in _drift_features(drift.results):
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
    evidence["drifted"] = drifted
    problems += [
        f"{d['feature']} drifted (PSI {fmt(d['psi'])}, p={fmt(d['p_value'])})" for d in drifted
    ]
    if problems:
        return Verdict(FAIL, _listing(problems), evidence)
    return Verdict(PASS, f"no drift beyond the thresholds in a run {age} days old", evidence)


# --- freshness ------------------------------------------------------------------------------


@rule_kind("freshness")
def check_freshness(rule: FreshnessRule, snapshot: SubjectSnapshot, now: dt.datetime) -> Verdict:
    evaluation = snapshot.evaluation
    if evaluation is None:
        return Verdict(FAIL, _no_evaluation(snapshot))
    age = (now - evaluation.created_at).days
    evidence: dict[str, Any] = {
        "evaluation": evaluation.id,
        "evaluated_at": evaluation.created_at.isoformat(),
        "age_days": age,
        "max_age_days": rule.max_age_days,
        "dataset_sha256": evaluation.dataset_sha256,
        "pinned_dataset_sha256": rule.dataset_sha256,
    }
    problems: list[str] = []
    if age > rule.max_age_days:
        problems.append(f"the latest evaluation is {age} days old (limit {rule.max_age_days})")
    if rule.dataset_sha256 and evaluation.dataset_sha256 != rule.dataset_sha256:
        problems.append(
            f"evaluated on data sha256:{evaluation.dataset_sha256[:12]}, not the pinned "
            f"sha256:{rule.dataset_sha256[:12]}"
        )
    if (
        rule.same_artifact
        and evaluation.artifact_sha256
        and snapshot.artifact_sha256
        and evaluation.artifact_sha256 != snapshot.artifact_sha256
    ):
        problems.append(
            f"evaluated artifact sha256:{evaluation.artifact_sha256[:12]} is not the registered "
            f"sha256:{snapshot.artifact_sha256[:12]}"
        )
    if rule.card_dataset:
        declared = card_dataset_hashes(snapshot.card)
        evidence["card_dataset_sha256"] = declared
        if not declared:
            problems.append(
                "the card declares no SHA-256 of its evaluation data "
                "(evaluation_data.datasets[].sha256)"
            )
        elif evaluation.dataset_sha256 not in declared:
            problems.append(
                f"evaluated on data sha256:{evaluation.dataset_sha256[:12]}, not the evaluation "
                f"data the card declares (sha256:{', sha256:'.join(d[:12] for d in declared)})"
            )
    if problems:
        return Verdict(FAIL, "; ".join(problems), evidence)
    return Verdict(PASS, f"evaluated {age} days ago (limit {rule.max_age_days})", evidence)


def card_dataset_hashes(card: Mapping[str, Any]) -> list[str]:
    """The SHA-256 the card declares for its evaluation data (``evaluation_data.datasets``)."""
    section = card.get("evaluation_data") if isinstance(card, Mapping) else None
    datasets = section.get("datasets") if isinstance(section, Mapping) else None
    if not isinstance(datasets, list):
        return []
    found = [d.get("sha256") for d in datasets if isinstance(d, Mapping)]
    return [h for h in found if isinstance(h, str) and h]


# --- approvals ------------------------------------------------------------------------------


@rule_kind("approvals")
def check_approvals(rule: ApprovalsRule, snapshot: SubjectSnapshot, now: dt.datetime) -> Verdict:
    if snapshot.stateless:
        return Verdict(
            NOT_APPLICABLE,
            "a stateless check has no decisions; approvals are checked in the catalogue",
        )
    needed = rule.min_approvals
    if rule.min_approvals_by_tier and snapshot.risk_tier is not None:
        by_tier = {str(k): v for k, v in rule.min_approvals_by_tier.items()}
        needed = by_tier.get(snapshot.risk_tier, needed)
    decisions = list(snapshot.decisions)
    submits = [i for i, d in enumerate(decisions) if d.action == "submit"]
    since = decisions[submits[-1] + 1 :] if submits else decisions
    roles = {str(r) for r in rule.roles}
    requesters = {a for a in (snapshot.submitter, snapshot.created_by) if a}
    counted: list[dict[str, Any]] = []
    ignored: list[dict[str, Any]] = []
    self_approvals: list[str] = []
    for decision in since:
        if decision.action != "approve":
            continue
        entry = {
            "actor": decision.actor,
            "role": decision.role,
            "at": decision.created_at.isoformat(),
        }
        if rule.separation_of_duties and decision.actor in requesters:
            self_approvals.append(decision.actor)
            ignored.append({**entry, "why": "submitted or created this version"})
        elif decision.role not in roles:
            ignored.append({**entry, "why": f"role {decision.role} does not count"})
        elif any(c["actor"] == decision.actor for c in counted):
            ignored.append({**entry, "why": "already counted"})
        else:
            counted.append(entry)
    present_roles = {c["role"] for c in counted}
    missing_roles = [str(r) for r in rule.required_roles if str(r) not in present_roles]
    evidence = {
        "required": needed,
        "counted": counted,
        "ignored": ignored,
        "roles": sorted(roles),
        "missing_roles": missing_roles,
        "submitter": snapshot.submitter,
        "created_by": snapshot.created_by,
    }
    problems: list[str] = []
    if self_approvals:
        problems.append(
            f"separation of duties broken: {', '.join(sorted(set(self_approvals)))} approved a "
            "version they submitted or created"
        )
    if len(counted) < needed:
        problems.append(f"{len(counted)} of {needed} required approvals")
    if missing_roles:
        problems.append(f"no approval from a {' or '.join(missing_roles)}")
    if problems:
        return Verdict(FAIL, "; ".join(problems), evidence)
    who = ", ".join(f"{c['actor']} ({c['role']})" for c in counted) or "none needed"
    return Verdict(PASS, f"{approvals_counted(len(counted), needed)}: {who}", evidence)


# --- validation due date --------------------------------------------------------------------


def add_months(day: dt.date, months: int) -> dt.date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@rule_kind("validation_due")
def check_validation_due(
    rule: ValidationDueRule, snapshot: SubjectSnapshot, now: dt.datetime
) -> Verdict:
    due = snapshot.next_validation_due
    today = now.date()
    if due is None:
        if rule.require_date:
            return Verdict(FAIL, "no next validation date (governance.next_validation_due)")
        return Verdict(NOT_APPLICABLE, "no next validation date set")
    evidence: dict[str, Any] = {"next_validation_due": due.isoformat(), "today": today.isoformat()}
    if due < today:
        return Verdict(
            FAIL, f"validation was due on {due} ({(today - due).days} days ago)", evidence
        )
    if rule.max_months_by_tier and snapshot.risk_tier is not None:
        cadence = {str(k): v for k, v in rule.max_months_by_tier.items()}.get(snapshot.risk_tier)
        if cadence is not None:
            last = _last_validation(snapshot, today)
            limit = add_months(last, cadence)
            evidence.update(
                cadence_months=cadence,
                last_validation=last.isoformat(),
                latest_allowed=limit.isoformat(),
            )
            if due > limit:
                return Verdict(
                    FAIL,
                    f"next validation {due} is more than {cadence} months after the last "
                    f"({last}); {snapshot.risk_tier} risk needs it by {limit}",
                    evidence,
                )
    return Verdict(
        PASS, f"next validation due {due} ({(due - today).days} days from now)", evidence
    )


def _last_validation(snapshot: SubjectSnapshot, today: dt.date) -> dt.date:
    """When the version was last validated: its latest approval or evaluation.

    Approval is the validation event the workflow schedules the next one from, so a version
    evaluated one day and approved the next is measured from the approval.
    """
    moments = [d.created_at.date() for d in snapshot.decisions if d.action == "approve"]
    if snapshot.evaluation is not None:
        moments.append(snapshot.evaluation.created_at.date())
    if moments:
        return max(moments)
    return snapshot.created_at.date() if snapshot.created_at is not None else today


# --- artifact -------------------------------------------------------------------------------


@rule_kind("artifact")
def check_artifact(rule: ArtifactRule, snapshot: SubjectSnapshot, now: dt.datetime) -> Verdict:
    found = snapshot.artifact_format
    allowed = list(rule.allowed_formats)
    evidence = {"format": found, "allowed": allowed, "sha256": snapshot.artifact_sha256}
    if found is None:
        if rule.require_artifact:
            return Verdict(FAIL, "no model artifact is registered", evidence)
        return Verdict(NOT_APPLICABLE, "no model artifact registered (predictions only)", evidence)
    if found not in allowed:
        return Verdict(
            FAIL,
            f"artifact format {found} is not allowed (allowed: {', '.join(allowed)})",
            evidence,
        )
    return Verdict(PASS, f"artifact format {found} is allowed", evidence)


# --- champion / challenger ------------------------------------------------------------------


def comparable_value(
    results: Mapping[str, Any],
    metric: str,
    grouping: str | None,
    cache: dict[Any, Any] | None = None,
) -> tuple[float | None, str]:
    """A metric to compare across versions, and where it came from.

    Fairness summaries without a named grouping take the worst single grouping.
    """
    if cache is None:
        return _comparable(results, metric, grouping, None)
    key = ("comparable", id(results), metric, grouping)
    found: tuple[float | None, str] | None = cache.get(key)
    if found is None:
        found = cache[key] = _comparable(results, metric, grouping, cache)
    return found


def _comparable(
    results: Mapping[str, Any], metric: str, grouping: str | None, cache: dict[Any, Any] | None
) -> tuple[float | None, str]:
    if metric in PERFORMANCE_METRICS:
        return overall_metric(results, metric)[1], "overall"
    views = [
        g
        for g in groupings(results, cache)
        if (g.name == grouping if grouping else g.kind != "intersection")
    ]
    candidates = [
        (value, g.name) for g in views if (value := value_of(g.summary.get(metric))) is not None
    ]
    if not candidates:
        return None, grouping or "any grouping"
    worst = min if metric in HIGHER_IS_BETTER else max
    return worst(candidates)


@rule_kind("champion")
def check_champion(rule: ChampionRule, snapshot: SubjectSnapshot, now: dt.datetime) -> Verdict:
    champion = snapshot.champion
    if champion is None:
        return Verdict(NOT_APPLICABLE, "no deployed champion to compare with")
    if snapshot.state == "deployed":
        return Verdict(NOT_APPLICABLE, "this version is the deployed champion")
    if snapshot.evaluation is None:
        return Verdict(ERROR, _no_evaluation(snapshot))
    if champion.evaluation is None:
        return Verdict(ERROR, f"the champion {champion.ref} has no evaluation to compare with")
    ours, theirs = snapshot.evaluation, champion.evaluation
    same_data = ours.dataset_sha256 == theirs.dataset_sha256
    evidence: dict[str, Any] = {"champion": champion.ref, "same_data": same_data, "metrics": []}
    if rule.require_same_data and not same_data:
        return Verdict(
            ERROR,
            f"{snapshot.subject} and {champion.ref} were evaluated on different data "
            f"(sha256:{ours.dataset_sha256[:12]} vs sha256:{theirs.dataset_sha256[:12]})",
            evidence,
        )
    worse: list[str] = []
    unknown: list[str] = []
    for spec in rule.metrics:
        mine, where = comparable_value(ours.results, spec.metric, spec.grouping, snapshot.cache)
        theirs_value, theirs_where = comparable_value(
            theirs.results, spec.metric, spec.grouping, theirs.cache
        )
        row: dict[str, Any] = {
            "metric": spec.metric,
            "grouping": spec.grouping,
            "challenger": mine,
            "champion": theirs_value,
            "max_regression": spec.max_regression,
        }
        evidence["metrics"].append(row)
        if mine is None or theirs_value is None:
            unknown.append(spec.metric)
            continue
        worse_by = theirs_value - mine if spec.metric in HIGHER_IS_BETTER else mine - theirs_value
        row["worse_by"] = worse_by
        if worse_by > spec.max_regression + 1e-12:
            worse.append(
                f"{spec.metric} ({where}) {fmt(mine)} vs champion {fmt(theirs_value)} "
                f"({theirs_where}): worse by {fmt(worse_by)}, limit {fmt(spec.max_regression)}"
            )
    if worse:
        return Verdict(FAIL, _listing(worse), evidence)
    if unknown:
        return Verdict(
            ERROR,
            f"cannot compare {', '.join(unknown)} with {champion.ref}: not reported",
            evidence,
        )
    return Verdict(
        PASS,
        f"not worse than {champion.ref} beyond the limits on {len(rule.metrics)} metrics",
        evidence,
    )


# --- disclosure (group counts, unknowns, small categories) ----------------------------------


@rule_kind("disclosure")
def check_disclosure(rule: DisclosureRule, snapshot: SubjectSnapshot, now: dt.datetime) -> Verdict:
    if snapshot.evaluation is None:
        return _missing(rule.if_missing, _no_evaluation(snapshot))
    chosen, absent = select_groupings(
        groupings(snapshot.evaluation.results, snapshot.cache), rule.features, rule.groupings
    )
    report: dict[str, Any] = {}
    lines: list[str] = []
    for grouping in chosen:
        groups = grouping.groups
        unknown = sum(int(g.get("n") or 0) for g in groups if MISSING_GROUP in str(g.get("group")))
        under = [
            {"group": str(g.get("group")), "n": int(g.get("n") or 0), "share": g.get("share")}
            for g in groups
            if float(g.get("share") or 0.0) < rule.small_share
        ]
        report[grouping.name] = {
            "categories": [
                {"group": str(g.get("group")), "n": int(g.get("n") or 0), "share": g.get("share")}
                for g in groups
            ],
            "unknown": unknown,
            "under_share": under,
        }
        lines.append(
            f"{grouping.name}: {len(groups)} categories, {unknown} unknown, "
            f"{len(under)} under {rule.small_share:.0%}"
        )
    evidence = {"groupings": report, "not_evaluated": absent, "small_share": rule.small_share}
    if absent:
        return _missing(
            rule.if_missing,
            f"{', '.join(absent)} not evaluated, so counts cannot be disclosed"
            + map_hint(absent, rule.features),
            **evidence,
        )
    return Verdict(PASS, "; ".join(lines) or "nothing to disclose", evidence)


__all__ = ["EVIDENCE_ERRORS", "REGISTRY", "add_months", "comparable_value", "rule_kind"]
