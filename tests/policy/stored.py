"""Evidence stored as real catalogue rows, for service tests that need decisions, drift runs
and evaluations without running the whole workflow or assessment stack."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlmodel import col, func, select

from govern.services.catalogue import resolve
from govern.storage.tables import (
    AuditEvent,
    Decision,
    DriftRun,
    PolicyRun,
    RuleResult,
    Waiver,
)
from tests import builders
from tests.builders import NOW
from tests.conftest import Catalogue


def store_evaluation(
    cat: Catalogue,
    ref: str,
    document: dict[str, Any],
    *,
    at: dt.datetime | None = None,
) -> int:
    """bob's evaluation of ``ref``, ten days before NOW unless ``at``
    (:func:`tests.builders.store_evaluation`)."""
    return builders.store_evaluation(
        cat.ctx("bob"), ref, document, at=at or NOW - dt.timedelta(days=10)
    )


def add_decision(
    cat: Catalogue, ref: str, action: str, actor: str, role: str, *, at: dt.datetime
) -> None:
    """A Decision row as the workflow writes it (action, actor, role, time)."""
    with cat.ctx().db.write() as session:
        _model, version = resolve(session, ref)
        assert version.id is not None
        session.add(
            Decision(
                version_id=version.id,
                action=action,
                from_state="",
                to_state="",
                actor=actor,
                role=role,
                created_at=at,
            )
        )


def set_state(cat: Catalogue, ref: str, state: str) -> None:
    with cat.ctx().db.write() as session:
        _model, version = resolve(session, ref)
        version.state = state
        session.add(version)


def store_drift(cat: Catalogue, ref: str, psi: float, *, at: dt.datetime) -> None:
    with cat.ctx().db.write() as session:
        _model, version = resolve(session, ref)
        assert version.id is not None
        session.add(
            DriftRun(
                version_id=version.id,
                reference_name="train.csv",
                reference_sha256="1" * 64,
                current_name="live.csv",
                current_sha256="2" * 64,
                results={"features": [{"feature": "age", "psi": psi, "p_value": 0.3}]},
                created_by="bob",
                created_at=at,
            )
        )


def counts(cat: Catalogue) -> dict[str, int]:
    """Rows per table that a check or waiver may write."""
    with cat.ctx().db.read() as session:
        return {
            table.__name__: int(session.exec(select(func.count()).select_from(table)).one())
            for table in (PolicyRun, RuleResult, Waiver, AuditEvent)
        }


def audit_actions(cat: Catalogue) -> list[str]:
    with cat.ctx().db.read() as session:
        return list(session.exec(select(AuditEvent.action).order_by(col(AuditEvent.seq))).all())
