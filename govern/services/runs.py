"""Recording a policy run (a ``PolicyRun`` with one ``RuleResult`` per rule) and reading the
latest back. The caller owns the transaction and writes the audit event."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from govern.policy.loader import LoadedPolicy
from govern.policy.outcomes import WAIVED, SubjectResult
from govern.services.catalogue import resolve
from govern.services.context import Context
from govern.storage import queries
from govern.storage.database import Session
from govern.storage.tables import ModelVersion, PolicyRun, RuleResult


def store_run(
    session: Session,
    version: ModelVersion | None,
    policies: Sequence[LoadedPolicy],
    result: SubjectResult,
    *,
    actor: str,
    checked_at: dt.datetime,
    stage: str = "check",
) -> PolicyRun:
    """Write a PolicyRun and its RuleResults in ``session`` (the caller owns the transaction).

    ``RuleResult.evidence`` holds ``{"kind", "evidence", "waiver", "blocking", "location"}``.
    """
    run = PolicyRun(
        version_id=version.id if version is not None else None,
        policies=[p.describe() for p in policies],
        outcome=result.outcome,
        summary={**result.summary(), "checked_at": checked_at.isoformat(), "stage": stage},
        created_by=actor,
        created_at=checked_at,
    )
    session.add(run)
    session.flush()
    assert run.id is not None
    session.add_all(
        [
            RuleResult(
                policy_run_id=run.id,
                policy_id=o.policy_id,
                rule_id=o.rule_id,
                subject=o.subject,
                status=o.status,
                severity=o.severity,
                title=o.title,
                message=o.message,
                source=o.source,
                evidence={
                    "kind": o.kind,
                    "evidence": dict(o.evidence),
                    "waiver": dict(o.waiver) if o.waiver else None,
                    "blocking": o.blocking,
                    "location": {"path": o.policy_path, "line": o.line},
                },
            )
            for o in result.outcomes
        ]
    )
    session.flush()
    return run


def audit_payload(
    policies: Sequence[LoadedPolicy], result: SubjectResult, run_id: int | None
) -> dict[str, Any]:
    """What a run's audit event records: the policies, the outcome and the blocking rules."""
    return {
        "policy_run_id": run_id,
        "policies": [
            {"id": p.id, "version": p.policy.version, "sha256": p.sha256} for p in policies
        ],
        "outcome": result.outcome,
        "counts": result.counts(),
        "blocking": [o.qualified_id for o in result.blocking],
        "waived": [o.qualified_id for o in result.outcomes if o.status == WAIVED],
    }


def latest_run(ctx: Context, ref: str) -> dict[str, Any] | None:
    """The version's most recent policy run with its rule results, JSON-ready."""
    with ctx.read() as session:
        _model, version = resolve(session, ref)
        run = queries.latest_policy_run(session=session, version_id=version.id)
        if run is None:
            return None
        rows = queries.rule_results_of(session=session, run_id=run.id)
        return {
            "id": run.id,
            "created_at": run.created_at.isoformat(),
            "created_by": run.created_by,
            "outcome": run.outcome,
            "policies": run.policies,
            "summary": run.summary,
            "results": [
                {
                    "policy": r.policy_id,
                    "rule": r.rule_id,
                    "status": r.status,
                    "severity": r.severity,
                    "title": r.title,
                    "message": r.message,
                    "source": r.source,
                    **r.evidence,
                }
                for r in rows
            ],
        }


__all__ = ["audit_payload", "latest_run", "store_run"]
