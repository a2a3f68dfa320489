"""The policy engine: ``evaluate(policies, snapshot) -> SubjectResult``. Pure: no I/O.

For each policy and rule it applies the policy's selector and the rule's ``when``, runs the
rule kind's function from the registry, then applies waivers: an unexpired waiver turns a
``fail`` or ``error`` into ``waived`` (the outcome is still listed, with the waiver);
an expired one changes nothing but is mentioned. Manual items are listed as ``manual``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

from govern.policy.loader import LoadedPolicy
from govern.policy.outcomes import (
    ERROR,
    MANUAL,
    NOT_APPLICABLE,
    UNMET,
    WAIVED,
    CheckReport,
    RuleOutcome,
    SubjectResult,
    Verdict,
    collector_paused,
)
from govern.policy.rules import EVIDENCE_ERRORS, REGISTRY, RuleFunction
from govern.policy.schema import RuleBase, Selector
from govern.policy.snapshot import SubjectSnapshot, WaiverRecord
from govern.policy.statuses import Status, compile_status

#: Subjects from which a batch check decides the kinds that read every group column-wise
#: (below it the arrays do not pay for themselves, and a small check need not import numpy).
BATCH_FROM = 256


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _mismatch(selector: Selector | None, snapshot: SubjectSnapshot) -> str | None:
    if selector is None:
        return None
    return selector.mismatch(
        risk_tier=snapshot.risk_tier,
        tags=snapshot.tags,
        regulatory_scope=snapshot.regulatory_scope,
        state=snapshot.state,
    )


def evaluate_rule(rule: RuleBase, snapshot: SubjectSnapshot, now: dt.datetime) -> Verdict:
    """Run one rule's function; evidence that is not in the expected shape gives ``error``."""
    function = REGISTRY[getattr(rule, "kind")]  # noqa: B009 - every rule model has a kind
    try:
        return function(rule, snapshot, now)
    except EVIDENCE_ERRORS as exc:
        return _broken(exc)


@dataclass(frozen=True, slots=True)
class _Step:
    """One rule of a policy with what every subject's outcome shares, worked out once."""

    rule: RuleBase
    kind: str
    function: RuleFunction
    line: int
    status: Status | None = None


def _plan(policies: Sequence[LoadedPolicy]) -> list[tuple[LoadedPolicy, list[_Step]]]:
    """Look up each rule's function and source line once per check, not once per subject."""
    return [
        (
            loaded,
            [
                _Step(rule, kind, REGISTRY[kind], loaded.line_of(rule.id), compile_status(rule))
                for rule in loaded.policy.rules
                for kind in (getattr(rule, "kind"),)  # noqa: B009 - every rule model has a kind
            ],
        )
        for loaded in policies
    ]


def evaluate(
    policies: Sequence[LoadedPolicy],
    snapshot: SubjectSnapshot,
    *,
    now: dt.datetime | None = None,
    defer_kinds: Collection[str] = (),
    defer_reason: str = "checked at a later stage",
) -> SubjectResult:
    """Evaluate every rule and manual item of ``policies`` against one subject.

    Args:
        policies: Loaded policies, in the order their results should appear.
        snapshot: The subject's evidence.
        now: Time of the check (UTC); ages and expiry are measured against it.
        defer_kinds: Rule kinds reported ``not-applicable`` with ``defer_reason``, or a
            mapping of kind to its own reason (the approval gate defers ``approvals``, which
            are what it is collecting, and ``validation_due``, which approval sets).
        defer_reason: Why deferred kinds are not evaluated.

    Returns:
        The subject's outcomes, one per rule and manual item.
    """
    return _evaluate(_plan(policies), snapshot, now or utcnow(), defer_kinds, defer_reason)


def _evaluate(
    plan: list[tuple[LoadedPolicy, list[_Step]]],
    snapshot: SubjectSnapshot,
    at: dt.datetime,
    defer_kinds: Collection[str],
    defer_reason: str,
) -> SubjectResult:
    today = at.date()
    subject = snapshot.subject
    outcomes: list[RuleOutcome] = []
    append = outcomes.append
    for loaded, steps in plan:
        policy = loaded.policy
        policy_id = policy.id
        path = loaded.path
        policy_gap = _mismatch(policy.selector, snapshot)
        for step in steps:
            rule, kind = step.rule, step.kind
            if policy_gap is not None:
                verdict = Verdict(NOT_APPLICABLE, f"policy {policy_id} {policy_gap}")
            elif rule.when is not None and (rule_gap := _mismatch(rule.when, snapshot)) is not None:
                verdict = Verdict(NOT_APPLICABLE, f"rule {rule_gap}")
            elif kind in defer_kinds:
                reason = defer_kinds[kind] if isinstance(defer_kinds, Mapping) else defer_reason
                verdict = Verdict(NOT_APPLICABLE, reason)
            else:
                try:
                    verdict = step.function(rule, snapshot, at)
                except EVIDENCE_ERRORS as exc:
                    verdict = _broken(exc)
            status, message = verdict.status, verdict.message
            waiver_info: dict[str, Any] | None = None
            if status in UNMET and snapshot.waivers:
                status, message, waiver_info = _apply_waivers(
                    snapshot.waivers, policy_id, rule.id, status, message, today
                )
            append(
                RuleOutcome(
                    subject,
                    policy_id,
                    rule.id,
                    kind,
                    rule.title,
                    rule.severity,
                    rule.source,
                    status,
                    message,
                    verdict.evidence,
                    rule.description,
                    path,
                    step.line,
                    waiver_info,
                )
            )
        for item in policy.manual:
            status = NOT_APPLICABLE if policy_gap is not None else MANUAL
            message = (
                f"policy {policy_id} {policy_gap}"
                if policy_gap is not None
                else "a person must review this; govern cannot check it automatically"
            )
            append(
                RuleOutcome(
                    subject=subject,
                    policy_id=policy_id,
                    rule_id=item.id,
                    kind="manual",
                    title=item.title,
                    severity=item.severity,
                    source=item.source,
                    status=status,
                    message=message,
                    evidence={},
                    description=item.description,
                    policy_path=path,
                    line=loaded.line_of(item.id),
                )
            )
    return SubjectResult(subject=subject, outcomes=tuple(outcomes))


def _broken(exc: Exception) -> Verdict:
    return Verdict(
        ERROR, f"the evidence is not in the expected shape ({type(exc).__name__}: {exc})"
    )


def _apply_waivers(
    waivers: Iterable[WaiverRecord],
    policy_id: str,
    rule_id: str,
    status: str,
    message: str,
    today: dt.date,
) -> tuple[str, str, dict[str, Any] | None]:
    """An unmet rule's status and message after waivers, and the waiver that applied."""
    active, expired = _waivers_for(waivers, policy_id, rule_id, today)
    if active is not None:
        waiver_info = {
            "id": active.id,
            "rule": active.rule_id,
            "granted_by": active.granted_by,
            "role": active.granted_role,
            "reason": active.reason,
            "expires_on": active.expires_on.isoformat(),
            "original_status": status,
        }
        message = f"{message} [waived by {active.granted_by} until {active.expires_on}]"
        return WAIVED, message, waiver_info
    if expired is not None:
        message = f"{message} [waiver by {expired.granted_by} expired on {expired.expires_on}]"
    return status, message, None


def _waivers_for(
    waivers: Iterable[WaiverRecord], policy_id: str, rule_id: str, today: dt.date
) -> tuple[WaiverRecord | None, WaiverRecord | None]:
    """The active waiver that lasts longest, else the most recently expired one."""
    active: WaiverRecord | None = None
    expired: WaiverRecord | None = None
    for waiver in waivers:
        if not waiver.covers(policy_id, rule_id):
            continue
        if waiver.active_on(today):
            if active is None or waiver.expires_on > active.expires_on:
                active = waiver
        elif expired is None or waiver.expires_on > expired.expires_on:
            expired = waiver
    return active, expired


def check(
    policies: Sequence[LoadedPolicy],
    snapshots: Iterable[SubjectSnapshot],
    *,
    now: dt.datetime | None = None,
    defer_kinds: Collection[str] = (),
    batch_from: int | None = None,
) -> CheckReport:
    """Evaluate ``policies`` against several subjects and bundle the results.

    Every status (and so the counts, each subject's outcome and the exit code) is decided
    here, rule by rule across all subjects: column-wise over arrays of every subject's groups
    (:mod:`govern.policy.columns`) for the kinds that read every group, once there are
    ``batch_from`` subjects or more, and by the status functions of
    :mod:`govern.policy.statuses` otherwise. Each subject's messages, evidence and waiver
    details are built by the rule functions when first read, as :func:`evaluate` builds
    them, and must agree with the statuses decided here.
    """
    at = now or utcnow()
    plan = _plan(policies)
    reason = "checked at a later stage"
    severities = tuple(
        severity
        for loaded, steps in plan
        for severity in (
            *(step.rule.severity for step in steps),
            *(item.severity for item in loaded.policy.manual),
        )
    )
    with collector_paused():
        subjects = list(snapshots)
        table = _status_table(plan, subjects, at, defer_kinds, batch_from)
        results = tuple(
            SubjectResult.deferred(
                snapshot.subject,
                statuses,
                severities,
                partial(_evaluate, plan, snapshot, at, defer_kinds, reason),
            )
            for snapshot, statuses in zip(subjects, table, strict=True)
        )
    return CheckReport(policies=tuple(policies), subjects=results, checked_at=at)


def _status_table(
    plan: list[tuple[LoadedPolicy, list[_Step]]],
    snapshots: Sequence[SubjectSnapshot],
    at: dt.datetime,
    defer_kinds: Collection[str],
    batch_from: int | None,
) -> list[tuple[str, ...]]:
    """Each subject's statuses, in :func:`_evaluate`'s order; decided one rule at a time."""
    count = len(snapshots)
    # Which subjects hold an unexpired waiver naming each rule id (``policy/rule`` or bare).
    waived: dict[str, list[int]] = {}
    today = at.date()
    for index, snapshot in enumerate(snapshots):
        for waiver in snapshot.waivers:
            if waiver.active_on(today):
                waived.setdefault(waiver.rule_id, []).append(index)
    columns: list[list[str]] = []
    arrays: Any = None
    if batch_from is None:
        batch_from = BATCH_FROM
    for loaded, steps in plan:
        policy = loaded.policy
        out_of_scope = _gaps(policy.selector, snapshots)
        for step in steps:
            rule = step.rule
            if step.kind in defer_kinds:
                columns.append([NOT_APPLICABLE] * count)
                continue
            skip = _gaps(rule.when, snapshots, out_of_scope)
            decided: list[str | None] = [None] * count
            if count >= batch_from and not (skip is not None and all(skip)):
                from govern.policy.columns import Columns, compile_columns, needs
                from govern.policy.digest import columns_of

                column = compile_columns(rule)
                if column is not None:
                    if arrays is None:  # read every figure the plan's rules compare, once
                        arrays = columns_of(snapshots) or Columns(
                            snapshots, needs([s.rule for _, ss in plan for s in ss])
                        )
                    decided = column(arrays, at)
            if skip is not None:
                for index in (i for i, gap in enumerate(skip) if gap):
                    decided[index] = NOT_APPLICABLE
            elif step.status is not None and count >= batch_from and decided.count(None) == count:
                decided = _statuses(step.status, snapshots, at)
            for index in [i for i, status in enumerate(decided) if status is None]:
                decided[index] = _status(step, snapshots[index], at)
            for key in (rule.id, f"{policy.id}/{rule.id}"):
                for index in waived.get(key, ()):
                    if decided[index] in UNMET:
                        decided[index] = WAIVED
            columns.append(cast(list[str], decided))  # every None was decided above
        for _item in policy.manual:
            columns.append(
                [NOT_APPLICABLE if gap else MANUAL for gap in out_of_scope]
                if out_of_scope is not None
                else [MANUAL] * count
            )
    if not columns:
        return [()] * count
    return list(zip(*columns, strict=True))


def _gaps(
    selector: Selector | None,
    snapshots: Sequence[SubjectSnapshot],
    already: list[bool] | None = None,
) -> list[bool] | None:
    """Per subject: is it out of ``selector``'s scope (or already out)? ``None``: none is."""
    if selector is None:
        return already
    gaps = [_mismatch(selector, snapshot) is not None for snapshot in snapshots]
    return gaps if already is None else [a or b for a, b in zip(already, gaps, strict=True)]


def _statuses(
    status: Status, snapshots: Sequence[SubjectSnapshot], at: dt.datetime
) -> list[str | None]:
    """Every subject's status from one status function, in one pass; ``None`` where it did
    not decide. Should it raise for one subject, every subject is left to :func:`_status`."""
    try:
        return [status(snapshot, at) for snapshot in snapshots]
    except EVIDENCE_ERRORS:
        return [None] * len(snapshots)


def _status(step: _Step, snapshot: SubjectSnapshot, at: dt.datetime) -> str:
    """One subject's status for one rule: its status function, else its rule function."""
    if step.status is not None:
        try:
            status = step.status(snapshot, at)
        except EVIDENCE_ERRORS:
            status = None  # the rule function decides, as it would have
        if status is not None:
            return status
    try:
        return step.function(step.rule, snapshot, at).status
    except EVIDENCE_ERRORS:
        return ERROR


__all__ = ["check", "collector_paused", "evaluate", "evaluate_rule", "utcnow"]
