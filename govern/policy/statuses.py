"""Status-only rule evaluation: what a batch check decides before anyone reads a message.

Each function here answers one question, "does this rule pass, fail, error or not apply to
this subject?", for one rule kind, without building the message and evidence that the
kind's function in :mod:`govern.policy.rules` returns. Those functions stay the reference:
a batch :func:`~govern.policy.engine.check` decides every status here, and builds a
subject's messages and evidence with the reference functions only when they are read
(formatting, storing, the TUI), then checks the statuses agree.

Each kind has a compiler: given a rule, it returns a function of ``(snapshot, now)`` with
the rule's settings bound (a kind without one, or a compiler that returns ``None``, is
left to the reference). Parsed views of a subject's documents (groupings, rows of groups, the
groupings a rule selects) are kept in the snapshot's cache and shared by all its rules.

The contract, tested on random and hostile documents by ``tests/policy/test_statuses.py``:
for every rule and snapshot, a function here either returns exactly the status the
reference returns, or ``None`` ("ask the reference"), or raises one of the exceptions the
reference would turn into ``error`` (the engine then asks the reference). So a function
must not stop early where the reference would go on to read something that can raise,
and it must touch everything the reference's message and evidence touch in ways that can
raise (``float(p_value)``, ``int(n)``, ``str(label)``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from govern.policy.evidence import (
    GroupingView,
    group_sizes,
    groupings,
    overall_metric,
    select_groupings,
    value_of,
)
from govern.policy.outcomes import ERROR, FAIL, NOT_APPLICABLE, PASS
from govern.policy.rules import (
    _IMPACT,
    IF_MISSING,
    _drift_features,
    _last_validation,
    _reference_rate,
    _sensitive_match,
    _shortfall,
    add_months,
    card_dataset_hashes,
    card_steps,
    comparable_value,
    fairness_exclusions,
    listed_values,
    p_values_test,
    performance_groupings,
    sensitive_names,
)
from govern.policy.schema import (
    GROUP_METRICS,
    HIGHER_IS_BETTER,
    ApprovalsRule,
    ArtifactRule,
    CardRule,
    ChampionRule,
    DisclosureRule,
    DriftRule,
    ExplanationRule,
    FairnessRule,
    FreshnessRule,
    PerformanceRule,
    RuleBase,
    ValidationDueRule,
)
from govern.policy.snapshot import SubjectSnapshot

Status = Callable[[SubjectSnapshot, dt.datetime], str | None]
StatusCompiler = Callable[[Any], Status | None]

#: kind -> compiler. A kind without one is decided by its reference function.
STATUS_REGISTRY: dict[str, StatusCompiler] = {}


def _compiles(kind: str) -> Callable[[Callable[[Any], Status | None]], Callable[..., Any]]:
    def register(compiler: Callable[[Any], Status | None]) -> Callable[..., Any]:
        STATUS_REGISTRY[kind] = compiler
        return compiler

    return register


def compile_status(rule: RuleBase) -> Status | None:
    """The status function for ``rule``, or ``None`` if its reference function decides."""
    compiler = STATUS_REGISTRY.get(getattr(rule, "kind"))  # noqa: B009 - every rule has one
    return None if compiler is None else compiler(rule)


# --- shared views ---------------------------------------------------------------------------


def _chosen(
    results: Mapping[str, Any],
    cache: dict[Any, Any],
    features: tuple[str, ...] | None,
    choice: str,
) -> tuple[list[GroupingView], list[str]]:
    """``select_groupings`` over the fairness groupings, memoised per document and choice."""
    key = ("chosen", id(results), features, choice)
    found = cache.get(key)
    if found is None:
        found = cache[key] = select_groupings(groupings(results, cache), features, choice)
    return found


def _rows(
    grouping: GroupingView, cache: dict[Any, Any]
) -> list[tuple[str, int, Mapping[str, Any], Any]]:
    """``(label, n, group, metrics)`` per group, converted as the fairness reference does."""
    key = ("rows", id(grouping))
    found = cache.get(key)
    if found is None:
        found = cache[key] = [
            (str(g["group"]), int(g.get("n") or 0), g, g.get("metrics") or {})
            for g in grouping.groups
        ]
    return found


def _exclusions(
    rule: FairnessRule, grouping: GroupingView, cache: dict[Any, Any]
) -> tuple[set[str], float | None, str | None, bool]:
    """What the fairness reference leaves out of a grouping, and the reference it then uses.

    ``(excluded labels, reference rate or None, reference label, stored p-values hold)``,
    memoised per grouping, metric and exclusion options.
    """
    key = ("exclusions", id(grouping), rule.metric, rule.min_share, rule.exclude_unknown)
    found = cache.get(key)
    if found is None:
        under, unknown = fairness_exclusions(rule, grouping)
        excluded = under | unknown
        rate, label = _reference_rate(rule, grouping, excluded)
        holds = p_values_test(rule, grouping, excluded, label)
        found = cache[key] = (excluded, rate, label, holds)
    return found


def _features(features: list[str] | None) -> tuple[str, ...] | None:
    return None if features is None else tuple(features)


# --- kinds ----------------------------------------------------------------------------------


@_compiles("card")
def _card(rule: CardRule) -> Status:
    min_chars, min_items = rule.min_chars, rule.min_items
    plain = [tuple(path.split(".")) for path in rule.fields if "[]" not in path]
    listed = [card_steps(path) for path in rule.fields if "[]" in path]

    def short(value: Any) -> bool:
        # Most fields are text or lists of text: the reference's tests, without its checks
        # of every other type.
        if type(value) is str:
            length = len(value.strip())
            return length == 0 or length < min_chars
        if type(value) is list and all(type(item) is str for item in value):
            items = sum(1 for item in value if item.strip())
            return items == 0 or items < min_items
        return _shortfall(value, min_chars, min_items) is not None

    def status(snapshot: SubjectSnapshot, now: dt.datetime) -> str | None:
        card = snapshot.card
        for keys in plain:
            node: Any = card
            for key in keys:
                node = node.get(key) if type(node) is dict or isinstance(node, Mapping) else None
            if short(node):
                return FAIL  # nothing the reference reads later can raise
        for steps in listed:
            if any(short(value) for _where, value in listed_values(card, steps, places=False)):
                return FAIL
        return PASS

    return status


@_compiles("performance")
def _performance(rule: PerformanceRule) -> Status:
    missing = IF_MISSING[rule.if_missing]
    overall = rule.scope in {"overall", "both"}
    by_groups = rule.scope in {"groups", "both"}
    low, high, metric, min_size = rule.min, rule.max, rule.metric, rule.min_group_size
    features, choice = _features(rule.features), rule.groupings

    def status(snapshot: SubjectSnapshot, now: dt.datetime) -> str | None:
        if snapshot.evaluation is None:
            return missing
        results = snapshot.evaluation.results
        failed = False
        if overall:
            reported, value = overall_metric(results, metric)
            if not reported or value is None:
                return missing
            failed = (low is not None and value < low) or (high is not None and value > high)
        if not by_groups:
            return FAIL if failed else PASS
        cache = snapshot.cache
        by_group, views = performance_groupings(results, cache)
        chosen, absent = select_groupings(views, features, choice)
        sizes = group_sizes(results, cache)
        floor = min_size or int(results.get("min_group_size") or 0)
        for grouping in chosen:
            name = grouping.name
            for group, metrics in (by_group.get(name) or {}).items():
                n = sizes.get((name, group))
                if n is not None and n < floor:
                    continue
                value = value_of(metrics.get(metric) if metrics else None)
                if value is not None and (
                    (low is not None and value < low) or (high is not None and value > high)
                ):
                    failed = True
        if absent and not failed:
            return missing
        return FAIL if failed else PASS

    return status


@_compiles("fairness")
def _fairness(rule: FairnessRule) -> Status | None:
    if rule.reference is not None:
        return None  # an explicit reference (and its unknown-group error) is the reference's
    missing = IF_MISSING[rule.if_missing]
    low, high, alpha, metric = rule.min, rule.max, rule.significance, rule.metric
    min_size, features, choice = rule.min_group_size, _features(rule.features), rule.groupings
    per_group = metric in GROUP_METRICS
    rate_key = _IMPACT.get(metric)

    def status(snapshot: SubjectSnapshot, now: dt.datetime) -> str | None:
        if snapshot.evaluation is None:
            return missing
        results = snapshot.evaluation.results
        cache = snapshot.cache
        chosen, absent = _chosen(results, cache, features, choice)
        floor = min_size or int(results.get("min_group_size") or 0)
        judged, failed, small = 0, False, False
        for grouping in chosen:
            if not per_group:
                value = value_of(grouping.summary.get(metric))
                if value is not None:
                    judged += 1
                    if (low is not None and value < low) or (high is not None and value > high):
                        failed = True
                continue
            excluded, reference, reference_label, p_values_hold = _exclusions(rule, grouping, cache)
            for label, n, group, metrics in _rows(grouping, cache):
                if excluded and label in excluded:
                    continue
                if n < floor:
                    small = True
                    continue
                if rate_key is None:
                    raw = metrics.get(metric)
                    value = raw if type(raw) is float else value_of(raw)
                elif reference is None:
                    value = value_of(group.get(metric))
                else:
                    rate = value_of(metrics.get(rate_key))
                    value = None if rate is None or reference <= 0 else rate / reference
                if value is None:
                    reasons = group.get("undefined") or {}
                    _why = reasons.get(metric) or reasons.get("selection_rate")
                    continue
                judged += 1
                if not ((low is not None and value < low) or (high is not None and value > high)):
                    continue
                if rate_key is not None and label == reference_label:
                    continue
                p_value = group.get("p_value") if p_values_hold else None
                if p_value is not None:
                    # The reference reads float(p_value) for the test or for its message.
                    significant = float(p_value)
                    if alpha is not None and significant >= alpha:
                        continue
                failed = True
        if failed:
            return FAIL
        if absent or (judged == 0 and not small):
            return missing
        return ERROR if judged == 0 else PASS

    return status


@_compiles("explanation")
def _explanation(rule: ExplanationRule) -> Status:
    missing, require, top_k, use_flags = (
        IF_MISSING[rule.if_missing],
        rule.require,
        rule.top_k,
        rule.use_flags,
    )
    named = rule.sensitive
    # Versions of a model mostly share their top features and sensitive names: the answer
    # is kept by them as stored (top features, the evaluation's and the card's sensitive
    # names), so a repeat costs three tuples and a look-up, not the names' sorting.
    matches: dict[tuple[tuple[Any, ...], ...], bool] = {}

    def status(snapshot: SubjectSnapshot, now: dt.datetime) -> str | None:
        if snapshot.evaluation is None:
            return missing
        results = snapshot.evaluation.results
        explanations = results.get("explanations")
        if not explanations:
            return FAIL if require else NOT_APPLICABLE
        listed = tuple(explanations.get("top_features") or ())
        explanations.get("method")
        if top_k is None:
            return PASS
        key: tuple[tuple[Any, ...], ...]
        if named is None:
            factors = snapshot.card.get("factors") or {}
            key = (
                listed[:top_k],
                tuple(results.get("sensitive_features") or ()),
                tuple(factors.get("sensitive_features") or ()),
            )
        else:
            key = (listed[:top_k],)
        hit = matches.get(key)
        shown = [str(f) for f in key[0]] if hit is None or use_flags else []
        if hit is None:
            ordered = sensitive_names(rule, results, snapshot.card)
            hit = any(_sensitive_match(feature, ordered) is not None for feature in shown)
            # Kept for text only: 1, 1.0 and true are one key but not one name.
            if len(matches) < 4096 and all(type(f) is str for part in key for f in part):
                matches[key] = hit
        if use_flags:
            for flag in explanations.get("sensitive_flags") or []:
                if str(flag.get("feature")) in shown:
                    flag.get("reason")
                    hit = True
        return FAIL if hit else PASS

    return status


@_compiles("drift")
def _drift(rule: DriftRule) -> Status:
    missing, max_age, max_psi, min_p = (
        IF_MISSING[rule.if_missing],
        rule.max_age_days,
        rule.max_psi,
        rule.min_p_value,
    )
    features = rule.features

    def status(snapshot: SubjectSnapshot, now: dt.datetime) -> str | None:
        if snapshot.stateless:
            return NOT_APPLICABLE
        drift = snapshot.drift
        if drift is None:
            return missing
        age = (now - drift.created_at).days
        failed = max_age is not None and age > max_age
        for feature, stats in _drift_features(drift.results):
            if features is not None and feature not in features:
                continue
            psi = value_of(stats.get("psi"))
            p_value = value_of(stats.get("p_value"))
            if (max_psi is not None and psi is not None and psi > max_psi) or (
                min_p is not None and p_value is not None and p_value < min_p
            ):
                failed = True
        return FAIL if failed else PASS

    return status


@_compiles("freshness")
def _freshness(rule: FreshnessRule) -> Status:
    max_age, pinned, same_artifact = rule.max_age_days, rule.dataset_sha256, rule.same_artifact
    card_dataset = rule.card_dataset

    def status(snapshot: SubjectSnapshot, now: dt.datetime) -> str | None:
        evaluation = snapshot.evaluation
        if evaluation is None:
            return FAIL
        failed = (now - evaluation.created_at).days > max_age
        if pinned and evaluation.dataset_sha256 != pinned:
            evaluation.dataset_sha256[:12]  # the reference's message slices it
            failed = True
        if (
            same_artifact
            and evaluation.artifact_sha256
            and snapshot.artifact_sha256
            and evaluation.artifact_sha256 != snapshot.artifact_sha256
        ):
            failed = True
        if card_dataset:
            declared = card_dataset_hashes(snapshot.card)
            if not declared:
                failed = True
            elif evaluation.dataset_sha256 not in declared:
                evaluation.dataset_sha256[:12]  # the reference's message slices it
                failed = True
        return FAIL if failed else PASS

    return status


@_compiles("approvals")
def _approvals(rule: ApprovalsRule) -> Status:
    by_tier = {str(k): v for k, v in (rule.min_approvals_by_tier or {}).items()}
    roles = {str(r) for r in rule.roles}
    required = [str(r) for r in rule.required_roles]
    separate, default = rule.separation_of_duties, rule.min_approvals

    def status(snapshot: SubjectSnapshot, now: dt.datetime) -> str | None:
        if snapshot.stateless:
            return NOT_APPLICABLE
        tier = snapshot.risk_tier
        needed = by_tier.get(tier, default) if by_tier and tier is not None else default
        decisions = snapshot.decisions
        last = max((i for i, d in enumerate(decisions) if d.action == "submit"), default=-1)
        requesters = {a for a in (snapshot.submitter, snapshot.created_by) if a}
        counted: dict[str, str] = {}  # actor -> role
        self_approval = False
        for decision in decisions[last + 1 :]:
            if decision.action != "approve":
                continue
            if separate and decision.actor in requesters:
                self_approval = True
            elif decision.role in roles and decision.actor not in counted:
                counted[decision.actor] = decision.role
        present = set(counted.values())
        unmet = len(counted) < needed or any(r not in present for r in required)
        return FAIL if self_approval or unmet else PASS

    return status


@_compiles("validation_due")
def _validation_due(rule: ValidationDueRule) -> Status:
    require = rule.require_date
    cadences = {str(k): v for k, v in (rule.max_months_by_tier or {}).items()}

    def status(snapshot: SubjectSnapshot, now: dt.datetime) -> str | None:
        due = snapshot.next_validation_due
        today = now.date()
        if due is None:
            return FAIL if require else NOT_APPLICABLE
        if due < today:
            return FAIL
        if cadences and snapshot.risk_tier is not None:
            cadence = cadences.get(snapshot.risk_tier)
            if cadence is not None and due > add_months(_last_validation(snapshot, today), cadence):
                return FAIL
        return PASS

    return status


@_compiles("artifact")
def _artifact(rule: ArtifactRule) -> Status:
    allowed, require = set(rule.allowed_formats), rule.require_artifact

    def status(snapshot: SubjectSnapshot, now: dt.datetime) -> str | None:
        found = snapshot.artifact_format
        if found is None:
            return FAIL if require else NOT_APPLICABLE
        return PASS if found in allowed else FAIL

    return status


@_compiles("champion")
def _champion(rule: ChampionRule) -> Status:
    specs = [
        (spec.metric, spec.grouping, spec.max_regression + 1e-12, spec.metric in HIGHER_IS_BETTER)
        for spec in rule.metrics
    ]
    same_data = rule.require_same_data

    def status(snapshot: SubjectSnapshot, now: dt.datetime) -> str | None:
        champion = snapshot.champion
        if champion is None or snapshot.state == "deployed":
            return NOT_APPLICABLE
        ours = snapshot.evaluation
        theirs = champion.evaluation
        if ours is None or theirs is None:
            return ERROR
        if same_data and ours.dataset_sha256 != theirs.dataset_sha256:
            return ERROR
        worse = unknown = False
        for metric, grouping, limit, higher in specs:
            mine = comparable_value(ours.results, metric, grouping, snapshot.cache)[0]
            other = comparable_value(theirs.results, metric, grouping, theirs.cache)[0]
            if mine is None or other is None:
                unknown = True
            elif (other - mine if higher else mine - other) > limit:
                worse = True
        if worse:
            return FAIL
        return ERROR if unknown else PASS

    return status


@_compiles("disclosure")
def _disclosure(rule: DisclosureRule) -> Status:
    missing, features, choice = (
        IF_MISSING[rule.if_missing],
        _features(rule.features),
        rule.groupings,
    )

    def status(snapshot: SubjectSnapshot, now: dt.datetime) -> str | None:
        if snapshot.evaluation is None:
            return missing
        cache = snapshot.cache
        chosen, absent = _chosen(snapshot.evaluation.results, cache, features, choice)
        for grouping in chosen:
            key = ("disclosed", id(grouping))
            if key not in cache:
                for g in grouping.groups:  # what the reference's counts convert and can raise on
                    str(g.get("group"))
                    int(g.get("n") or 0)
                    float(g.get("share") or 0.0)
                cache[key] = True
        return missing if absent else PASS

    return status


__all__ = ["STATUS_REGISTRY", "Status", "compile_status"]
