"""``approvals``: enough distinct approvals from the right roles, none by the submitter or
creator (separation of duties), since the latest submission."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import Field

from govern.domain.lifecycle import approvals_counted
from govern.domain.roles import RiskTier, Role
from govern.policy.base import RuleBase
from govern.policy.judging import Findings
from govern.policy.snapshot import SubjectSnapshot
from govern.policy.status import FAIL, NOT_APPLICABLE, PASS


class ApprovalsRule(RuleBase):
    """Enough distinct approvals from the right roles, none by the submitter or creator."""

    kind: Literal["approvals"]
    min_approvals: Annotated[int, Field(ge=0)] = 1
    min_approvals_by_tier: dict[RiskTier, Annotated[int, Field(ge=0)]] | None = None
    roles: Annotated[list[Role], Field(min_length=1)] = [Role.APPROVER, Role.COMPLIANCE]  # noqa: RUF012 - pydantic copies defaults
    required_roles: list[Role] = []  # noqa: RUF012 - pydantic copies defaults
    separation_of_duties: bool = True


Rule = ApprovalsRule

_SELF = "submitted or created this version"


def judge(rule: ApprovalsRule, subject: SubjectSnapshot, now: dt.datetime) -> Findings:
    if subject.stateless:
        return Findings(NOT_APPLICABLE, note="stateless")
    needed = rule.min_approvals
    if rule.min_approvals_by_tier and subject.risk_tier is not None:
        by_tier = {str(k): v for k, v in rule.min_approvals_by_tier.items()}
        needed = by_tier.get(subject.risk_tier, needed)
    decisions = list(subject.decisions)
    submits = [i for i, d in enumerate(decisions) if d.action == "submit"]
    since = decisions[submits[-1] + 1 :] if submits else decisions
    roles = {str(r) for r in rule.roles}
    requesters = {a for a in (subject.submitter, subject.created_by) if a}
    counted: list[dict[str, Any]] = []
    ignored: list[dict[str, Any]] = []
    self_approved = False
    for decision in since:
        if decision.action != "approve":
            continue
        entry = {
            "actor": decision.actor,
            "role": decision.role,
            "at": decision.created_at.isoformat(),
        }
        if rule.separation_of_duties and decision.actor in requesters:
            self_approved = True
            ignored.append({**entry, "why": _SELF})
        elif decision.role not in roles:
            ignored.append({**entry, "why": f"role {decision.role} does not count"})
        elif any(c["actor"] == decision.actor for c in counted):
            ignored.append({**entry, "why": "already counted"})
        else:
            counted.append(entry)
    present_roles = {c["role"] for c in counted}
    missing_roles = [str(r) for r in rule.required_roles if str(r) not in present_roles]
    facts = {
        "required": needed,
        "counted": counted,
        "ignored": ignored,
        "roles": sorted(roles),
        "missing_roles": missing_roles,
        "submitter": subject.submitter,
        "created_by": subject.created_by,
    }
    met = not self_approved and len(counted) >= needed and not missing_roles
    return Findings(PASS if met else FAIL, facts)


def describe(rule: ApprovalsRule, subject: SubjectSnapshot, findings: Findings) -> str:
    if findings.note == "stateless":
        return "a stateless check has no decisions; approvals are checked in the catalogue"
    facts = findings.facts
    counted, needed = facts["counted"], facts["required"]
    if findings.status == PASS:
        who = ", ".join(f"{c['actor']} ({c['role']})" for c in counted) or "none needed"
        return f"{approvals_counted(len(counted), needed)}: {who}"
    problems: list[str] = []
    selves = sorted({i["actor"] for i in facts["ignored"] if i["why"] == _SELF})
    if selves:
        problems.append(
            f"separation of duties broken: {', '.join(selves)} approved a version they "
            "submitted or created"
        )
    if len(counted) < needed:
        problems.append(f"{len(counted)} of {needed} required approvals")
    if facts["missing_roles"]:
        problems.append(f"no approval from a {' or '.join(facts['missing_roles'])}")
    return "; ".join(problems)
