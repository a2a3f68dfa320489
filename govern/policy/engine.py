"""The policy engine: ``evaluate(policies, snapshot) -> SubjectResult``. Pure: no I/O.

For each policy and rule it applies the policy's selector and the rule's ``when``, asks the
rule kind's module (:mod:`govern.policy.kinds`) to judge the subject, then applies waivers:
an unexpired waiver turns a ``fail`` or ``error`` into ``waived`` (the outcome is still
listed, with the waiver); an expired one changes nothing but is mentioned. Manual items are
listed as ``manual``.

Statuses are decided at once; each outcome's message is worded by the kind's ``describe``
from the same findings when the outcomes are first read, so a check of thousands of versions
that only needs the counts and the exit code never words a message.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from govern.policy.evidence import NotInShape
from govern.policy.judging import Findings
from govern.policy.kinds import KINDS, Kind
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
    collector_paused,
)
from govern.policy.schema import RuleBase, Selector
from govern.policy.snapshot import SubjectSnapshot, WaiverRecord

#: A last resort, not a way to decide: what a rule may raise on evidence no check of shape
#: covers (a card or a decision of a type the catalogue never stores). Results documents are
#: checked once per evaluation instead (:class:`~govern.policy.evidence.NotInShape`).
LAST_RESORT = (KeyError, TypeError, ValueError, AttributeError, IndexError, ArithmeticError)

#: Notes of findings the engine makes itself rather than a kind.
_OUT_OF_SCOPE, _DEFERRED, _NOT_IN_SHAPE, _BROKEN = "@scope", "@deferred", "@shape", "@broken"


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


def judge(rule: RuleBase, snapshot: SubjectSnapshot, now: dt.datetime) -> Findings:
    """What one rule finds about one subject: its kind's judgement, or one ``error`` when
    the results it reads are not in govern's shape."""
    kind = KINDS[getattr(rule, "kind")]  # noqa: B009 - every rule model has a kind
    try:
        return kind.judge(rule, snapshot, now)
    except NotInShape as problem:
        return Findings(ERROR, {"problem": str(problem)}, _NOT_IN_SHAPE)
    except LAST_RESORT as exc:
        return Findings(ERROR, {"problem": f"{type(exc).__name__}: {exc}"}, _BROKEN)


def describe(rule: RuleBase, snapshot: SubjectSnapshot, findings: Findings) -> str:
    """The message of an outcome, worded from the findings its status came from."""
    note = findings.note
    if note in {_OUT_OF_SCOPE, _DEFERRED}:
        return str(findings.facts["reason"])
    if note == _NOT_IN_SHAPE:
        return f"results not in govern's shape: {findings.facts['problem']}"
    if note == _BROKEN:
        return f"the evidence is not in the expected shape ({findings.facts['problem']})"
    kind = KINDS[getattr(rule, "kind")]  # noqa: B009 - every rule model has a kind
    return kind.describe(rule, snapshot, findings)


def evaluate_rule(rule: RuleBase, snapshot: SubjectSnapshot, now: dt.datetime) -> RuleOutcome:
    """One rule against one subject, as an outcome (no selector, waivers or location)."""
    findings = judge(rule, snapshot, now)
    return RuleOutcome(
        snapshot.subject,
        "",
        rule.id,
        getattr(rule, "kind"),  # noqa: B009 - every rule model has a kind
        rule.title,
        rule.severity,
        rule.source,
        findings.status,
        describe(rule, snapshot, findings),
        _evidence(findings),
        rule.description,
    )


def _evidence(findings: Findings) -> Mapping[str, Any]:
    return {} if findings.note in {_OUT_OF_SCOPE, _DEFERRED} else findings.facts


class _Step(NamedTuple):
    """One rule of a policy with what every subject's outcome shares, worked out once."""

    rule: RuleBase
    kind: str
    module: Kind
    line: int


class _Plan(NamedTuple):
    """A check's policies with each rule's step, and the severity of every outcome in order
    (the same for every subject)."""

    policies: list[tuple[LoadedPolicy, list[_Step]]]
    severities: tuple[str, ...]


def _plan(policies: Sequence[LoadedPolicy]) -> _Plan:
    """Look up each rule's kind and source line once per check, not once per subject."""
    planned = [
        (
            loaded,
            [
                _Step(rule, kind, KINDS[kind], loaded.line_of(rule.id))
                for rule in loaded.policy.rules
                for kind in (getattr(rule, "kind"),)  # noqa: B009 - every rule model has a kind
            ],
        )
        for loaded in policies
    ]
    severities = tuple(
        severity
        for loaded, steps in planned
        for severity in (
            *(step.rule.severity for step in steps),
            *(item.severity for item in loaded.policy.manual),
        )
    )
    return _Plan(planned, severities)


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
    plan: _Plan,
    snapshot: SubjectSnapshot,
    at: dt.datetime,
    defer_kinds: Collection[str],
    defer_reason: str,
) -> SubjectResult:
    """Decide every status of one subject now; word its outcomes when they are read.

    Runs once per rule and subject of a check: only an unmet rule of a subject with waivers
    records more than its findings and status.
    """
    waivers = snapshot.waivers
    found: list[Findings] = []
    statuses: list[str] = []
    waived: dict[int, tuple[WaiverRecord | None, WaiverRecord | None]] = {}
    for loaded, steps in plan.policies:
        policy = loaded.policy
        policy_gap = _mismatch(policy.selector, snapshot)
        for step in steps:
            rule = step.rule
            if policy_gap is not None:
                reason = f"policy {policy.id} {policy_gap}"
                findings = Findings(NOT_APPLICABLE, {"reason": reason}, _OUT_OF_SCOPE)
            elif rule.when is not None and (rule_gap := _mismatch(rule.when, snapshot)):
                findings = Findings(NOT_APPLICABLE, {"reason": f"rule {rule_gap}"}, _OUT_OF_SCOPE)
            elif defer_kinds and step.kind in defer_kinds:
                why = defer_kinds[step.kind] if isinstance(defer_kinds, Mapping) else defer_reason
                findings = Findings(NOT_APPLICABLE, {"reason": why}, _DEFERRED)
            else:
                try:
                    findings = step.module.judge(rule, snapshot, at)
                except NotInShape as problem:
                    findings = Findings(ERROR, {"problem": str(problem)}, _NOT_IN_SHAPE)
                except LAST_RESORT as exc:
                    problem_text = f"{type(exc).__name__}: {exc}"
                    findings = Findings(ERROR, {"problem": problem_text}, _BROKEN)
            status = findings.status
            if waivers and status in UNMET:
                active, _expired = waived[len(found)] = _waivers_for(
                    waivers, policy.id, rule.id, at.date()
                )
                if active is not None:
                    status = WAIVED
            found.append(findings)
            statuses.append(status)
        if policy.manual:
            statuses += [NOT_APPLICABLE if policy_gap is not None else MANUAL] * len(policy.manual)
    decided = tuple(statuses)

    def word() -> tuple[RuleOutcome, ...]:
        return _outcomes(plan, snapshot, found, decided, waived)

    return SubjectResult.deferred(snapshot.subject, decided, plan.severities, word)


def _outcomes(
    plan: _Plan,
    snapshot: SubjectSnapshot,
    found: Sequence[Findings],
    statuses: Sequence[str],
    waived: Mapping[int, tuple[WaiverRecord | None, WaiverRecord | None]],
) -> tuple[RuleOutcome, ...]:
    """Every outcome of one subject, worded from what :func:`_evaluate` decided."""
    subject = snapshot.subject
    outcomes: list[RuleOutcome] = []
    at = 0  # index into ``found`` (rules only; manual items have no findings)
    for loaded, steps in plan.policies:
        policy = loaded.policy
        policy_gap = _mismatch(policy.selector, snapshot)
        for step in steps:
            rule, findings = step.rule, found[at]
            active, expired = waived.get(at, (None, None))
            at += 1
            message = describe(rule, snapshot, findings)
            waiver_info: dict[str, Any] | None = None
            if active is not None:
                waiver_info = {
                    "id": active.id,
                    "rule": active.rule_id,
                    "granted_by": active.granted_by,
                    "role": active.granted_role,
                    "reason": active.reason,
                    "expires_on": active.expires_on.isoformat(),
                    "original_status": findings.status,
                }
                message = f"{message} [waived by {active.granted_by} until {active.expires_on}]"
            elif expired is not None:
                message = (
                    f"{message} [waiver by {expired.granted_by} expired on {expired.expires_on}]"
                )
            outcomes.append(
                RuleOutcome(
                    subject,
                    policy.id,
                    rule.id,
                    step.kind,
                    rule.title,
                    rule.severity,
                    rule.source,
                    statuses[len(outcomes)],
                    message,
                    _evidence(findings),
                    rule.description,
                    loaded.path,
                    step.line,
                    waiver_info,
                )
            )
        for item in policy.manual:
            outcomes.append(
                RuleOutcome(
                    subject=subject,
                    policy_id=policy.id,
                    rule_id=item.id,
                    kind="manual",
                    title=item.title,
                    severity=item.severity,
                    source=item.source,
                    status=statuses[len(outcomes)],
                    message=f"policy {policy.id} {policy_gap}"
                    if policy_gap is not None
                    else "a person must review this; govern cannot check it automatically",
                    evidence={},
                    description=item.description,
                    policy_path=loaded.path,
                    line=loaded.line_of(item.id),
                )
            )
    return tuple(outcomes)


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
) -> CheckReport:
    """Evaluate ``policies`` against several subjects and bundle the results: the same
    :func:`evaluate` over each subject, with the plan worked out once."""
    at = now or utcnow()
    plan = _plan(policies)
    reason = "checked at a later stage"
    with collector_paused():
        results = tuple(
            _evaluate(plan, snapshot, at, defer_kinds, reason) for snapshot in snapshots
        )
    return CheckReport(policies=tuple(policies), subjects=results, checked_at=at)


__all__ = [
    "LAST_RESORT",
    "check",
    "collector_paused",
    "describe",
    "evaluate",
    "evaluate_rule",
    "judge",
    "utcnow",
]
