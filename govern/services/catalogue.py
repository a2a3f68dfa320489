"""Catalogue use cases: create or upgrade a catalogue, register versions, list and show them."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from govern.assess.artifacts import inspect_artifact
from govern.documents import load_model_file
from govern.domain.card import Card
from govern.domain.refs import ModelRef, semver_key
from govern.domain.roles import Role
from govern.errors import CardError, ConflictError, NotFoundError
from govern.services.context import Context
from govern.services.views import (
    ArtifactPublic,
    DecisionPublic,
    InitResult,
    VersionDetail,
    VersionSummary,
)
from govern.storage import audit, crud, migrate
from govern.storage.tables import (
    Decision,
    Evaluation,
    Model,
    ModelVersion,
    PolicyRun,
    Report,
    utcnow,
)

REGISTER_ROLES = (Role.DEVELOPER, Role.ADMIN)


def init_catalogue(ctx: Context) -> InitResult:
    """Create the catalogue, or upgrade it to the current schema. Safe to run twice.

    On a new catalogue the acting user becomes its first admin, so someone can add users.
    """
    db = ctx.db
    found: dict[str, str | None] = {}

    def record(session: Session, before: str | None, after: str | None) -> None:
        # Runs in the migration's transaction: schema, facts and events commit together.
        catalogue_id = crud.get_meta(session=session, key="catalogue_id")
        conn = session.connection()
        if catalogue_id is None:
            catalogue_id = str(uuid.uuid4())
            crud.set_meta(session=session, key="catalogue_id", value=catalogue_id)
            crud.set_meta(session=session, key="created_at", value=utcnow().isoformat())
            audit.append_event(
                conn,
                actor=ctx.actor,
                action="catalogue.init",
                subject="",
                payload={"catalogue_id": catalogue_id, "revision": after},
            )
        elif before != after:
            from govern.services.checks import refresh_digests

            written = refresh_digests(session)  # evaluations stored before digests, or older
            audit.append_event(
                conn,
                actor=ctx.actor,
                action="catalogue.upgrade",
                subject="",
                payload={"from": before, "to": after, "digests_written": written},
            )
        found["catalogue_id"] = catalogue_id
        if crud.count_users(session=session) == 0:
            found["admin"] = ctx.actor
            crud.create_user(
                session=session,
                name=ctx.actor,
                role=Role.ADMIN,
                display_name="",
                created_by=ctx.actor,
            )
            audit.append_event(
                conn,
                actor=ctx.actor,
                action="user.add",
                subject=f"user:{ctx.actor}",
                payload={"role": str(Role.ADMIN), "bootstrap": True},
            )

    before, after = migrate.upgrade(db, then=record)
    created = before is None
    catalogue_id = found["catalogue_id"] or ""
    admin = found.get("admin")
    ctx._checked = False
    return InitResult(
        database=db.display_url,
        created=created,
        revision_before=before,
        revision_after=after,
        catalogue_id=catalogue_id,
        admin=admin,
    )


def upgrade_catalogue(ctx: Context) -> InitResult:
    """``govern db upgrade``: like init, but refuses to create a catalogue that is not there."""
    path = ctx.db.sqlite_path
    if path is not None and not path.exists():
        raise NotFoundError(f"no catalogue at {path}; create one with `govern init`")
    if not ctx.db.exists():  # e.g. an empty PostgreSQL database: nothing to upgrade
        raise NotFoundError(
            f"{ctx.db.display_url} is not a govern catalogue; create one with `govern init`"
        )
    return init_catalogue(ctx)


def load_card(path: Path, *, max_bytes: int) -> Card:
    card, _document = load_model_file(
        path, Card, kind="model card", max_bytes=max_bytes, error=CardError
    )
    return card


def card_sha256(card_json: dict[str, Any]) -> str:
    return hashlib.sha256(audit.canonical_json(card_json).encode("utf-8")).hexdigest()


def register_version(
    ctx: Context, card_path: Path, *, artifact: Path | None = None
) -> VersionDetail:
    """Add a model version from a card file (and optionally its artifact).

    Everything is read and checked before the catalogue is touched; registering a
    ``NAME@VERSION`` that exists is refused.
    """
    card = load_card(card_path, max_bytes=ctx.settings.max_card_bytes)
    info = inspect_artifact(artifact) if artifact is not None else None
    ref = f"{card.name}@{card.version}"
    card_json = card.to_json_dict()
    governance = card.governance
    with ctx.write("version.register", ref) as tx:
        ctx.require_role(tx.session, REGISTER_ROLES, doing=f"register {ref}")
        model = crud.get_model(session=tx.session, name=card.name)
        model_fields = {
            "owner": governance.owner,
            "business_owner": governance.business_owner,
            "business_unit": governance.business_unit,
            "description": card.model_details.description,
        }
        if model is None:
            model = crud.create_model(
                session=tx.session,
                model_in={"name": card.name, **model_fields},
                created_by=ctx.actor,
            )
        else:
            existing = crud.get_version(session=tx.session, model=model, version=card.version)
            if existing is not None:
                raise ConflictError(
                    f"{ref} is already registered (state {existing.state}); give the new "
                    f"version a new number in {card_path}"
                )
            for key, value in model_fields.items():
                setattr(model, key, value)
            tx.session.add(model)
        row = crud.create_version(
            session=tx.session,
            model=model,
            created_by=ctx.actor,
            version_in={
                "version": card.version,
                "state": "draft",
                "risk_tier": str(governance.risk_tier),
                "card": card_json,
                "card_sha256": card_sha256(card_json),
                "artifact_sha256": info.sha256 if info else None,
                "artifact_size": info.size if info else None,
                "artifact_format": info.format if info else None,
                "artifact_path": str(info.path.resolve()) if info else None,
                "next_validation_due": governance.next_validation_due,
            },
        )
        tx.audit(
            card_sha256=row.card_sha256,
            card_file=str(card_path),
            risk_tier=row.risk_tier,
            artifact={
                "sha256": row.artifact_sha256,
                "size": row.artifact_size,
                "format": row.artifact_format,
            }
            if info
            else None,
        )
        return _detail(tx.session, model, row)


def resolve(
    session: Session, ref: ModelRef | str, *, for_update: bool = False
) -> tuple[Model, ModelVersion]:
    """Find ``NAME@VERSION`` (or the latest version of ``NAME``) or raise NotFoundError."""
    parsed = ModelRef.parse(ref) if isinstance(ref, str) else ref
    model = crud.get_model(session=session, name=parsed.name)
    if model is None:
        raise NotFoundError(f"no model named {parsed.name!r} in the catalogue")
    version = crud.get_version(
        session=session, model=model, version=parsed.version, for_update=for_update
    )
    if version is None:
        if parsed.version is None:
            raise NotFoundError(f"model {parsed.name!r} has no versions")
        known = ", ".join(v.version for v in crud.versions_of(session=session, model=model))
        raise NotFoundError(f"no version {parsed} in the catalogue (known: {known or 'none'})")
    return model, version


def list_versions(
    ctx: Context, *, model: str | None = None, states: list[str] | None = None
) -> list[VersionSummary]:
    """Every version with its state, tier, owner, last evaluation and latest policy outcome."""
    with ctx.read() as session:
        last_eval = (
            select(Evaluation.version_id, func.max(Evaluation.created_at).label("at"))
            .group_by(col(Evaluation.version_id))
            .subquery()
        )
        last_run_id = (
            select(PolicyRun.version_id, func.max(PolicyRun.id).label("run_id"))
            .group_by(col(PolicyRun.version_id))
            .subquery()
        )
        query = (
            select(  # type: ignore[call-overload]
                Model.name,
                Model.owner,
                Model.business_unit,
                ModelVersion.version,
                ModelVersion.state,
                ModelVersion.risk_tier,
                ModelVersion.created_at,
                ModelVersion.created_by,
                ModelVersion.next_validation_due,
                last_eval.c.at,
                PolicyRun.outcome,
            )
            .join(ModelVersion, col(ModelVersion.model_id) == Model.id)
            .outerjoin(last_eval, last_eval.c.version_id == ModelVersion.id)
            .outerjoin(last_run_id, last_run_id.c.version_id == ModelVersion.id)
            .outerjoin(PolicyRun, col(PolicyRun.id) == last_run_id.c.run_id)
        )
        if model:
            query = query.where(Model.name == model)
        if states:
            query = query.where(col(ModelVersion.state).in_(states))
        rows = session.exec(query).all()
        summaries = [
            VersionSummary(
                name=r[0],
                owner=r[1],
                business_unit=r[2],
                version=r[3],
                state=r[4],
                risk_tier=r[5],
                created_at=r[6],
                created_by=r[7],
                next_validation_due=r[8],
                last_evaluated_at=r[9],
                policy_outcome=r[10],
            )
            for r in rows
        ]
    summaries.sort(key=lambda s: semver_key(s.version), reverse=True)
    summaries.sort(key=lambda s: s.name)
    return summaries


def show_version(ctx: Context, ref: str) -> VersionDetail:
    with ctx.read() as session:
        model, version = resolve(session, ref)
        return _detail(session, model, version)


def _detail(session: Session, model: Model, version: ModelVersion) -> VersionDetail:
    vid = version.id
    evaluations = session.exec(
        select(Evaluation).where(Evaluation.version_id == vid).order_by(col(Evaluation.id).desc())
    ).all()
    runs = session.exec(
        select(PolicyRun).where(PolicyRun.version_id == vid).order_by(col(PolicyRun.id).desc())
    ).all()
    decisions = session.exec(
        select(Decision).where(Decision.version_id == vid).order_by(col(Decision.id))
    ).all()
    reports = session.exec(
        select(Report).where(Report.version_id == vid).order_by(col(Report.id).desc())
    ).all()
    others = [v.version for v in crud.versions_of(session=session, model=model) if v.id != vid]
    return VersionDetail(
        name=model.name,
        version=version.version,
        state=version.state,
        risk_tier=version.risk_tier,
        owner=model.owner,
        business_owner=model.business_owner,
        business_unit=model.business_unit,
        description=model.description,
        created_at=version.created_at,
        created_by=version.created_by,
        updated_at=version.updated_at,
        next_validation_due=version.next_validation_due,
        card=version.card,
        card_sha256=version.card_sha256,
        artifact=ArtifactPublic(
            path=version.artifact_path,
            sha256=version.artifact_sha256,
            size=version.artifact_size,
            format=version.artifact_format,
        ),
        other_versions=others,
        evaluations=[
            {
                "id": e.id,
                "created_at": e.created_at.isoformat(),
                "created_by": e.created_by,
                "dataset": e.dataset_name,
                "dataset_sha256": e.dataset_sha256,
                "rows": e.rows,
            }
            for e in evaluations
        ],
        policy_runs=[
            {
                "id": r.id,
                "created_at": r.created_at.isoformat(),
                "outcome": r.outcome,
                "policies": [p.get("id") for p in r.policies],
            }
            for r in runs
        ],
        decisions=[DecisionPublic.model_validate(d) for d in decisions],
        reports=[
            {
                "id": r.id,
                "format": r.format,
                "path": r.path,
                "sha256": r.sha256,
                "created_at": r.created_at.isoformat(),
                "signer": r.signer,
            }
            for r in reports
        ],
    )


__all__ = [
    "REGISTER_ROLES",
    "card_sha256",
    "init_catalogue",
    "list_versions",
    "load_card",
    "register_version",
    "resolve",
    "show_version",
    "upgrade_catalogue",
]
