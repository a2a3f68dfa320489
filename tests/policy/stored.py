"""Evidence stored as real catalogue rows, for service tests that need decisions, drift runs
and evaluations without running the whole workflow or assessment stack."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlmodel import col, func, select

from govern.services import catalogue, checks
from govern.services.catalogue import resolve
from govern.storage import crud
from govern.storage.tables import (
    AuditEvent,
    Decision,
    DriftRun,
    Evaluation,
    PolicyRun,
    RuleResult,
    Waiver,
)
from tests.conftest import SAMPLE, Catalogue
from tests.policy.helpers import NOW


def register(
    cat: Catalogue, version: str = "1.0.0", *, user: str = "alice", artifact: Path | None = None
) -> str:
    card = SAMPLE / f"credit-risk-{version}.card.yaml"
    return catalogue.register_version(cat.ctx(user), card, artifact=artifact).ref


def store_evaluation(
    cat: Catalogue,
    ref: str,
    document: dict[str, Any],
    *,
    at: dt.datetime | None = None,
    digest: bool = True,
) -> int:
    """An Evaluation row, with its digest and its signed event as the evaluation service
    writes them, unless ``digest`` is false (as an evaluation stored before migration 0003 is)."""
    with cat.ctx("bob").write("evaluation.create", ref) as tx:
        _model, version = resolve(tx.session, ref)
        assert version.id is not None
        row = Evaluation(
            version_id=version.id,
            dataset_name=document["dataset"]["name"],
            dataset_sha256=document["dataset"]["sha256"],
            rows=document["dataset"]["rows"],
            columns=document["dataset"]["columns"],
            target=document["target"],
            positive_label=document["positive_label"],
            sensitive_features=document["sensitive_features"],
            prediction_source=document["prediction_source"],
            artifact_sha256=document.get("artifact_sha256"),
            packages=document["packages"],
            params={},
            results=document,
            created_by="bob",
            created_at=at or NOW - dt.timedelta(days=10),
        )
        tx.session.add(row)
        tx.session.flush()
        assert row.id is not None
        if digest:
            checks.write_digest(tx.session, row.id)
        stored = crud.stored_sha256(
            connection=tx.session.connection(),
            column=Evaluation.results,
            key=Evaluation.id,
            ids=[row.id],
        )
        tx.audit(
            evaluation_id=row.id,
            results_sha256=stored[row.id],
            dataset={
                "name": row.dataset_name,
                "sha256": row.dataset_sha256,
                "rows": row.rows,
            },
        )
        return row.id


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
