"""Waivers: a named person accepts a failing rule for one version until a date.

An active waiver turns that rule's ``fail`` (or ``error``) into ``waived``: still shown, no
longer blocking ``govern check``, approval or deployment. It lapses after ``expires_on``,
and the rule blocks again. Only the roles the governance settings give ``waive`` (by default
approvers, compliance officers and admins) may grant one, and never for a version they
registered or submitted: a waiver needs someone other than the person asking to ship.
Rejected and retired versions are read-only: nothing can be waived for them.
"""

from __future__ import annotations

import datetime as dt
import re

from pydantic import BaseModel, ConfigDict

from govern.domain import lifecycle
from govern.errors import InputError, WorkflowError
from govern.services.binding import bound_to
from govern.services.catalogue import resolve
from govern.services.context import Context
from govern.storage import crud, queries
from govern.storage.database import Session
from govern.storage.tables import ModelVersion, Waiver

MAX_REASON_CHARS = 2_000
MIN_REASON_CHARS = 10
_PART = r"[a-z0-9](?:[a-z0-9._-]{0,98}[a-z0-9])?"
_RULE_RE = re.compile(rf"^(?:{_PART}/)?{_PART}$")


class WaiverPublic(BaseModel):
    """A waiver as shown to people and written as JSON."""

    model_config = ConfigDict(frozen=True)

    id: int
    ref: str
    rule: str
    reason: str
    granted_by: str
    granted_role: str
    expires_on: dt.date
    created_at: dt.datetime
    active: bool

    def to_json(self) -> dict[str, object]:
        return self.model_dump(mode="json")


def _public(row: Waiver, ref: str, today: dt.date) -> WaiverPublic:
    assert row.id is not None
    return WaiverPublic(
        id=row.id,
        ref=ref,
        rule=row.rule_id,
        reason=row.reason,
        granted_by=row.granted_by,
        granted_role=row.granted_role,
        expires_on=row.expires_on,
        created_at=row.created_at,
        active=today <= row.expires_on,
    )


def _known_rules(session: Session, ctx: Context, version: ModelVersion) -> set[str]:
    """Rule ids a waiver may name: those in the version's policy runs and bound policies."""
    from govern.policy.loader import load_policies

    known: set[str] = set()
    for policy_id, rule_id in queries.ruled_ids(session=session, version_id=version.id):
        known.update({rule_id, f"{policy_id}/{rule_id}"})
    names = bound_to(ctx.governance, version)
    for loaded in load_policies(names, max_bytes=ctx.settings.max_policy_bytes) if names else []:
        for rule in loaded.policy.rules:
            known.update({rule.id, f"{loaded.id}/{rule.id}"})
    return known


def _check_request(rule: str, text: str, expires: dt.date, day: dt.date, *, longest: int) -> None:
    """Refuse a malformed rule id or reason, or an expiry not within ``longest`` days."""
    if not _RULE_RE.match(rule):
        raise InputError(
            f"{rule!r} is not a rule id: use POLICY/RULE (e.g. baseline/no-pickle) or RULE"
        )
    if len(text) < MIN_REASON_CHARS:
        raise InputError(f"give a reason of at least {MIN_REASON_CHARS} characters (--reason)")
    if len(text) > MAX_REASON_CHARS:
        raise InputError(f"the reason is longer than {MAX_REASON_CHARS} characters")
    if any(not (ch.isprintable() or ch in "\n\t") for ch in text):
        # PostgreSQL refuses NUL in text; escapes would reach every table that shows it.
        raise InputError("the reason contains control characters; use plain text")
    if expires <= day:
        raise InputError(f"the expiry date {expires} must be after today ({day})")
    if (expires - day).days > longest:
        raise InputError(
            f"the expiry date {expires} is {(expires - day).days} days away; a waiver lasts at "
            f"most {longest} days (setting max_waiver_days), so give a date by "
            f"{day + dt.timedelta(days=longest)}"
        )


def grant_waiver(
    ctx: Context,
    ref: str,
    *,
    rule: str,
    reason: str,
    expires: dt.date,
    today: dt.date | None = None,
) -> WaiverPublic:
    """Waive ``rule`` (``policy/rule`` or a bare rule id) for ``ref`` until ``expires``.

    Args:
        ctx: The acting user must hold a role that may waive (by default approver,
            compliance or admin) and must not have registered or submitted the version.
        ref: ``NAME@VERSION``.
        rule: ``policy-id/rule-id``, or a bare ``rule-id`` that then covers that rule in
            every policy. It must appear in the version's policy runs or bound policies.
        reason: Why the failure is accepted (at least 10 characters).
        expires: Last day the waiver is active; after today and at most
            the governance setting ``max_waiver_days`` (default 365) days away.
        today: The current date (tests pin it).

    Raises:
        InputError: malformed rule id, reason or date, or a rule no policy knows.
        PermissionDenied / WorkflowError: wrong role, the requester waiving their own
            version, or a rejected or retired version (refusals are recorded in the audit
            log).
    """
    day = today or crud.today()
    rule, text = rule.strip(), reason.strip()
    _check_request(rule, text, expires, day, longest=ctx.governance.max_waiver_days)
    with ctx.write("waiver.grant", ref) as tx:
        model, version = resolve(tx.session, ref, for_update=True)
        subject = f"{model.name}@{version.version}"
        tx.subject = subject
        user = ctx.require_role(tx.session, "waive", doing=f"waive a rule for {subject}")
        if version.state in lifecycle.TERMINAL:
            raise WorkflowError(
                f"{subject} is {version.state} and read-only; nothing can be waived for it"
            )
        submitters = queries.submitters_of(session=tx.session, version_id=version.id)
        if user.name == version.created_by or user.name in submitters:
            did = "registered" if user.name == version.created_by else "submitted"
            raise WorkflowError(
                f"{user.name} {did} {subject} and cannot waive its rules: a waiver needs a "
                "permitted role different from the requester"
            )
        known = _known_rules(tx.session, ctx, version)
        if rule not in known:
            sample = ", ".join(sorted(k for k in known if "/" in k)[:6])
            raise InputError(
                f"no rule {rule!r} in {subject}'s policy runs or bound policies"
                + (f" (for example: {sample})" if sample else "")
            )
        assert version.id is not None
        row = Waiver(
            version_id=version.id,
            rule_id=rule,
            reason=text,
            granted_by=user.name,
            granted_role=user.role,
            expires_on=expires,
        )
        tx.session.add(row)
        tx.session.flush()
        tx.audit(
            waiver_id=row.id,
            rule=rule,
            reason=text,
            expires_on=expires.isoformat(),
            role=user.role,
        )
        return _public(row, subject, day)


def list_waivers(ctx: Context, ref: str, *, today: dt.date | None = None) -> list[WaiverPublic]:
    """Every waiver of a version, newest first, each marked active or expired."""
    day = today or crud.today()
    with ctx.read() as session:
        model, version = resolve(session, ref)
        rows = queries.waivers_of(session=session, version_id=version.id, newest_first=True)
        return [_public(r, f"{model.name}@{version.version}", day) for r in rows]


__all__ = ["WaiverPublic", "grant_waiver", "list_waivers"]
