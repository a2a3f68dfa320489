"""The policy engine: ``evaluate(policies, snapshot) -> SubjectResult``. Pure: no I/O.

For each policy and rule it applies the policy's selector and the rule's ``when``, runs the
rule kind's function from the registry, then applies waivers: an unexpired waiver turns a
``fail`` or ``error`` into ``waived`` (the outcome is still listed, with the waiver);
an expired one changes nothing but is mentioned. Manual items are listed as ``manual``.
"""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

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
)
from govern.policy.rules import REGISTRY
from govern.policy.schema import RuleBase, Selector
from govern.policy.snapshot import SubjectSnapshot, WaiverRecord

#: What a broken evidence document may raise inside a rule; it becomes an ``error`` outcome.
_EVIDENCE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError, ZeroDivisionError)


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
    except _EVIDENCE_ERRORS as exc:
        return Verdict(
            ERROR,
            f"the evidence is not in the expected shape ({type(exc).__name__}: {exc})",
        )


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
        defer_kinds: Rule kinds reported ``not-applicable`` with ``defer_reason`` (the
            approval gate defers ``approvals``, which are what it is collecting).
        defer_reason: Why deferred kinds are not evaluated.

    Returns:
        The subject's outcomes, one per rule and manual item.
    """
    at = now or utcnow()
    today = at.date()
    outcomes: list[RuleOutcome] = []
    for loaded in policies:
        policy = loaded.policy
        policy_gap = _mismatch(policy.selector, snapshot)
        for rule in policy.rules:
            kind = getattr(rule, "kind")  # noqa: B009
            if policy_gap is not None:
                verdict = Verdict(NOT_APPLICABLE, f"policy {policy.id} {policy_gap}")
            elif (rule_gap := _mismatch(rule.when, snapshot)) is not None:
                verdict = Verdict(NOT_APPLICABLE, f"rule {rule_gap}")
            elif kind in defer_kinds:
                verdict = Verdict(NOT_APPLICABLE, defer_reason)
            else:
                verdict = evaluate_rule(rule, snapshot, at)
            outcomes.append(_outcome(loaded, rule, kind, snapshot, verdict, today=today))
        for item in policy.manual:
            status = NOT_APPLICABLE if policy_gap is not None else MANUAL
            message = (
                f"policy {policy.id} {policy_gap}"
                if policy_gap is not None
                else "a person must review this; govern cannot check it automatically"
            )
            outcomes.append(
                RuleOutcome(
                    subject=snapshot.subject,
                    policy_id=policy.id,
                    rule_id=item.id,
                    kind="manual",
                    title=item.title,
                    severity=item.severity,
                    source=item.source,
                    status=status,
                    message=message,
                    description=item.description,
                    policy_path=loaded.path,
                    line=loaded.line_of(item.id),
                )
            )
    return SubjectResult(subject=snapshot.subject, outcomes=tuple(outcomes))


def _outcome(
    loaded: LoadedPolicy,
    rule: RuleBase,
    kind: str,
    snapshot: SubjectSnapshot,
    verdict: Verdict,
    *,
    today: dt.date,
) -> RuleOutcome:
    status, message = verdict.status, verdict.message
    waiver_info: dict[str, Any] | None = None
    if status in UNMET:
        active, expired = _waivers_for(snapshot.waivers, loaded.policy.id, rule.id, today)
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
            status = WAIVED
        elif expired is not None:
            message = f"{message} [waiver by {expired.granted_by} expired on {expired.expires_on}]"
    return RuleOutcome(
        subject=snapshot.subject,
        policy_id=loaded.policy.id,
        rule_id=rule.id,
        kind=kind,
        title=rule.title,
        severity=rule.severity,
        source=rule.source,
        status=status,
        message=message,
        evidence=verdict.evidence,
        description=rule.description,
        policy_path=loaded.path,
        line=loaded.line_of(rule.id),
        waiver=waiver_info,
    )


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
    """Evaluate ``policies`` against several subjects and bundle the results."""
    at = now or utcnow()
    with _collector_paused():
        subjects = tuple(
            evaluate(policies, snapshot, now=at, defer_kinds=defer_kinds) for snapshot in snapshots
        )
    return CheckReport(policies=tuple(policies), subjects=subjects, checked_at=at)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while outcomes are built.

    Checking thousands of stored versions allocates many small, acyclic evidence objects
    while the decoded documents keep the heap large, so each collection would walk every
    document again (it measured as half the run). Reference counting still frees what the
    engine drops: the outcomes hold no reference cycles.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


__all__ = ["check", "evaluate", "evaluate_rule", "utcnow"]
