"""``validation_due``: the next validation date is set, not passed, and within the cadence
for the version's risk tier."""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import Field

from govern.domain.roles import RiskTier
from govern.policy.base import RuleBase
from govern.policy.judging import Findings
from govern.policy.snapshot import SubjectSnapshot
from govern.policy.status import FAIL, NOT_APPLICABLE, PASS


class ValidationDueRule(RuleBase):
    """The next validation date is set, not passed, and within the cadence for the tier."""

    kind: Literal["validation_due"]
    require_date: bool = True
    max_months_by_tier: dict[RiskTier, Annotated[int, Field(ge=1)]] | None = None


Rule = ValidationDueRule


def judge(rule: ValidationDueRule, subject: SubjectSnapshot, now: dt.datetime) -> Findings:
    due = subject.next_validation_due
    today = now.date()
    if due is None:
        return Findings(FAIL if rule.require_date else NOT_APPLICABLE, note="no-date")
    facts: dict[str, Any] = {"next_validation_due": due.isoformat(), "today": today.isoformat()}
    if due < today:
        return Findings(FAIL, facts, "overdue")
    if rule.max_months_by_tier and subject.risk_tier is not None:
        cadence = {str(k): v for k, v in rule.max_months_by_tier.items()}.get(subject.risk_tier)
        if cadence is not None:
            last = _last_validation(subject, today)
            limit = add_months(last, cadence)
            facts.update(
                cadence_months=cadence,
                last_validation=last.isoformat(),
                latest_allowed=limit.isoformat(),
            )
            if due > limit:
                return Findings(FAIL, facts, "beyond-cadence")
    return Findings(PASS, facts)


def describe(rule: ValidationDueRule, subject: SubjectSnapshot, findings: Findings) -> str:
    facts, note = findings.facts, findings.note
    if note == "no-date":
        if findings.status == FAIL:
            return "no next validation date (governance.next_validation_due)"
        return "no next validation date set"
    due = dt.date.fromisoformat(facts["next_validation_due"])
    today = dt.date.fromisoformat(facts["today"])
    if note == "overdue":
        return f"validation was due on {due} ({(today - due).days} days ago)"
    if note == "beyond-cadence":
        return (
            f"next validation {due} is more than {facts['cadence_months']} months after the "
            f"last ({facts['last_validation']}); {subject.risk_tier} risk needs it by "
            f"{facts['latest_allowed']}"
        )
    return f"next validation due {due} ({(due - today).days} days from now)"


def add_months(day: dt.date, months: int) -> dt.date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _last_validation(subject: SubjectSnapshot, today: dt.date) -> dt.date:
    """When the version was last validated: its latest approval or evaluation.

    Approval is the validation event the workflow schedules the next one from, so a version
    evaluated one day and approved the next is measured from the approval.
    """
    moments = [d.created_at.date() for d in subject.decisions if d.action == "approve"]
    if subject.evaluation is not None:
        moments.append(subject.evaluation.created_at.date())
    if moments:
        return max(moments)
    return subject.created_at.date() if subject.created_at is not None else today
