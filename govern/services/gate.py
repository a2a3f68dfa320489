"""The policy gate of approval and deployment: the version's bound policies, run inside the
workflow's transaction; the transition is refused while a blocking rule fails unwaived."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from govern.policy.engine import evaluate, utcnow
from govern.policy.loader import load_policies
from govern.policy.outcomes import WAIVED, RuleOutcome
from govern.services.binding import bound_to, version_categories
from govern.services.context import Transaction
from govern.services.runs import audit_payload, store_run
from govern.services.subjects import snapshot_for
from govern.storage.tables import Model, ModelVersion

#: Lifecycle states in which a version is waiting for approvals (the gate defers that rule).
_COLLECTING_APPROVALS = frozenset({"submitted", "draft", "changes_requested"})


@dataclass(frozen=True)
class GateResult:
    """What :func:`gate` found. ``blocking`` is empty when the transition may go ahead."""

    subject: str
    policies: list[str]
    outcomes: tuple[RuleOutcome, ...]
    notes: list[str] = field(default_factory=list)
    policy_run_id: int | None = None

    @property
    def failures(self) -> list[RuleOutcome]:
        """Blocking rules (severity error) that fail or cannot be decided, without a waiver."""
        return [o for o in self.outcomes if o.blocking]

    @property
    def blocking(self) -> list[str]:
        """Qualified ids (``policy/rule``) of :attr:`failures`."""
        return [o.qualified_id for o in self.failures]

    @property
    def passed(self) -> bool:
        return not self.failures

    def describe(self) -> str:
        """``policy/rule (why)`` for each blocking rule, for a refusal message."""
        return "; ".join(f"{o.qualified_id} ({o.message})" for o in self.failures)


#: What the approval gate leaves to the deployment gate, and why.
_APPROVAL_DEFERRED = {
    "approvals": "approvals are being collected; checked again at deployment",
    # The card's date is replaced by the one the approval sets (revalidation_months_by_tier):
    # judging the old one would refuse the very validation that renews it.
    "validation_due": "this approval sets the next validation date; checked again at deployment",
}


def gate(
    tx: Transaction,
    model: Model,
    version: ModelVersion,
    *,
    stage: str | None = None,
    now: dt.datetime | None = None,
    record: bool = False,
) -> GateResult:
    """Run the policies bound to ``version`` inside the caller's transaction.

    For approval and deployment: the workflow refuses the transition when
    ``result.blocking`` is not empty. Reads only, unless ``record``.

    Args:
        tx: The caller's transaction; the catalogue's ``policy_bindings`` say what runs.
        model: The version's model row.
        version: The version being approved or deployed.
        stage: ``"approve"`` or ``"deploy"``. At ``approve`` rules of kind ``approvals``
            (being collected) and ``validation_due`` (the approval sets the date) are
            deferred. Default: ``approve`` while the
            version is submitted, else ``deploy``.
        now: Time of the check; default the current UTC time.
        record: Also store the run (PolicyRun + RuleResults + a ``policy.gate`` audit event)
            in the caller's transaction, so it commits or rolls back with the decision.

    Raises:
        PolicyError: a bound policy file is invalid.
    """
    at = now or utcnow()
    session = tx.session
    subject = f"{model.name}@{version.version}"
    bound = bound_to(tx.governance, version)
    if not bound:
        # An organisation may bind no policy at all: then nothing can block the transition.
        return GateResult(
            subject=subject,
            policies=[],
            outcomes=(),
            notes=["policy gate: no policy is bound to this version (setting policy_bindings)"],
        )
    loaded = version_categories(
        tx.ctx.governance,
        version,
        load_policies(bound, max_bytes=tx.ctx.settings.max_policy_bytes),
    )
    if stage is None:
        stage = "approve" if version.state in _COLLECTING_APPROVALS else "deploy"
    snapshot = snapshot_for(session, model, version, min_group_size=tx.governance.min_group_size)
    result = evaluate(
        loaded, snapshot, now=at, defer_kinds=_APPROVAL_DEFERRED if stage == "approve" else ()
    )
    notes = [f"policy gate ({stage}): {', '.join(f'{p.id} {p.policy.version}' for p in loaded)}"]
    notes += [
        f"waived {o.qualified_id} ({o.waiver['granted_by']}, until {o.waiver['expires_on']})"
        for o in result.outcomes
        if o.status == WAIVED and o.waiver
    ]
    warnings = [o.qualified_id for o in result.outcomes if o.status == "fail" and not o.blocking]
    if warnings:
        notes.append(f"non-blocking rules failed: {', '.join(warnings)}")
    run_id = None
    if record:
        run = store_run(
            session, version, loaded, result, actor=tx.actor, checked_at=at, stage=f"gate:{stage}"
        )
        run_id = run.id
        tx.audit("policy.gate", subject, stage=stage, **audit_payload(loaded, result, run_id))
    return GateResult(
        subject=subject,
        policies=[p.id for p in loaded],
        outcomes=result.outcomes,
        notes=notes,
        policy_run_id=run_id,
    )


__all__ = ["GateResult", "gate"]
