"""Catalogue use cases: create or upgrade a catalogue, register versions, list and show them."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

from govern import personal_keys
from govern.assess.artifacts import inspect_artifact
from govern.documents import load_model_file
from govern.domain.card import Card
from govern.domain.governance import GovernanceSettings
from govern.domain.refs import ModelRef, semver_key
from govern.domain.roles import Role
from govern.errors import (
    CardError,
    ConflictError,
    InputError,
    NotFoundError,
    PermissionDenied,
    SignatureError,
)
from govern.services import governance, keys, users
from govern.services.context import Context
from govern.services.views import (
    ArtifactPublic,
    DecisionPublic,
    InitResult,
    VersionDetail,
    VersionSummary,
)
from govern.storage import audit, crud, migrate, queries
from govern.storage.audit import Signer
from govern.storage.database import Session
from govern.storage.tables import (
    Model,
    ModelVersion,
    utcnow,
)


def _upgrade_to_signing(
    ctx: Context,
    session: Session,
    key: personal_keys.PersonalKey,
    catalogue_id: str,
    settings: GovernanceSettings | None,
    payload: dict[str, Any],
) -> str:
    """The upgrade of a catalogue without keys (schema 0005): the admin who runs it enrols the
    first key, in one event with the organisation's certificate, if one was configured.
    Returns the admin's name."""
    admin = crud.find_user(session=session, name=ctx.actor)
    if admin is None or admin.role != Role.ADMIN or not admin.active:
        raise PermissionDenied(
            f"{ctx.actor} is not an admin of this catalogue: the upgrade to signed "
            "decisions enrols the key of the admin who runs it, as the first one"
        )
    legacy = _legacy_org_certificate(ctx)
    if legacy is not None:
        payload["org_certificate"] = legacy
        keys.add_org_certificate(session, legacy, added_by=admin.name)
    _bootstrap(ctx, session, key, admin.name, catalogue_id, settings, "catalogue.upgrade", payload)
    return admin.name


def init_catalogue(
    ctx: Context, *, settings: GovernanceSettings | None = None, display_name: str = ""
) -> InitResult:
    """Create the catalogue, or upgrade it to the current schema. Safe to run twice.

    On a new catalogue the acting person becomes its first admin, their personal key
    (``govern keys init``) its first enrolled key, and ``settings`` (default: govern's
    defaults) its first governance settings revision: one event, signed by that key.
    An upgrade to signed decisions (schema 0005) does the same for the admin who runs it.
    """
    db = ctx.db
    found: dict[str, str | None] = {}
    key = _bootstrap_key(ctx)

    def record(session: Session, before: str | None, after: str | None) -> None:
        # Runs in the migration's transaction: schema, facts and events commit together.
        catalogue_id = crud.get_meta(session=session, key="catalogue_id")
        found["catalogue_id"] = catalogue_id
        if catalogue_id is None:
            catalogue_id = str(uuid.uuid4())
            found["catalogue_id"] = catalogue_id
            crud.set_meta(session=session, key="catalogue_id", value=catalogue_id)
            crud.set_meta(session=session, key="created_at", value=utcnow().isoformat())
            name = users.check_name(ctx.actor)
            crud.create_user(
                session=session,
                name=name,
                role=Role.ADMIN,
                display_name=display_name,
                created_by=name,
            )
            found["admin"] = name
            _bootstrap(
                ctx,
                session,
                key,
                name,
                catalogue_id,
                settings,
                "catalogue.init",
                {
                    "catalogue_id": catalogue_id,
                    "schema": after,
                    "admin": {"name": name, "role": str(Role.ADMIN), "display_name": display_name},
                },
            )
        elif before != after:
            payload: dict[str, Any] = {"from": before, "to": after}
            if crud.keys_of(session=session):
                _signed_upgrade(ctx, session, key, catalogue_id, payload)
            else:
                found["admin"] = _upgrade_to_signing(
                    ctx, session, key, catalogue_id, settings, payload
                )

    before, after = migrate.upgrade(db, then=record)
    created = before is None
    ctx._checked = False
    ctx._catalogue_id = None
    ctx._governance = None
    return InitResult(
        database=db.display_url,
        created=created,
        revision_before=before,
        revision_after=after,
        catalogue_id=found.get("catalogue_id") or "",
        admin=found.get("admin"),
    )


def _bootstrap_key(ctx: Context) -> personal_keys.PersonalKey:
    try:
        return ctx.personal_key()
    except SignatureError as problem:
        raise SignatureError(
            f"{problem.message}. The catalogue's first admin signs its creation: create your "
            "key with `govern keys init`, then run this again"
        ) from None


def _bootstrap(
    ctx: Context,
    session: Session,
    key: personal_keys.PersonalKey,
    admin: str,
    catalogue_id: str,
    settings: GovernanceSettings | None,
    action: str,
    payload: dict[str, Any],
) -> None:
    """Enrol the first admin's key and the first settings revision, in one signed event.

    The one event that may be signed by the key it enrols: nobody holds a key here yet.
    """
    enrolled = keys.key_payload(key.public_pem, user=admin, label="first admin (bootstrap)")
    keys.store_key(session, enrolled, enrolled_by=admin)
    recorded = governance.write_revision(
        session, settings or GovernanceSettings(), created_by=admin
    )
    audit.append_event(
        session.connection(),
        actor=admin,
        action=action,
        subject="",
        payload={**payload, "key": enrolled, "settings": recorded},
        catalogue_id=catalogue_id,
        settings_revision=recorded["revision"],
        signer=Signer(key.fingerprint, key.sign),
    )


def _signed_upgrade(
    ctx: Context,
    session: Session,
    key: personal_keys.PersonalKey,
    catalogue_id: str,
    payload: dict[str, Any],
) -> None:
    """A later upgrade: signed by an admin whose key is enrolled, like any action."""
    admin = ctx.require_role(session, [Role.ADMIN], doing="upgrade the catalogue")
    ctx.authenticate(session)
    audit.append_event(
        session.connection(),
        actor=admin.name,
        action="catalogue.upgrade",
        subject="",
        payload=payload,
        catalogue_id=catalogue_id,
        settings_revision=crud.latest_settings_revision(session=session),
        signer=Signer(key.fingerprint, key.sign),
    )


def _legacy_org_certificate(ctx: Context) -> dict[str, str] | None:
    """The instance certificate an older govern signed cards with, if this machine has it:
    kept as an organisation certificate so the cards it signed still verify."""
    from govern import signing

    path = signing.key_paths(ctx.settings.resolved_org_key_dir)[1]
    if not path.exists():
        return None
    certificate = signing.read_certificate(path)
    return keys.certificate_payload(certificate, "existing")


def upgrade_catalogue(ctx: Context, *, settings: GovernanceSettings | None = None) -> InitResult:
    """``govern db upgrade``: like init, but refuses to create a catalogue that is not there."""
    path = ctx.db.sqlite_path
    if path is not None and not path.exists():
        raise NotFoundError(f"no catalogue at {path}; create one with `govern init`")
    if not ctx.db.exists():  # e.g. an empty PostgreSQL database: nothing to upgrade
        raise NotFoundError(
            f"{ctx.db.display_url} is not a govern catalogue; create one with `govern init`"
        )
    return init_catalogue(ctx, settings=settings)


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
    governance_ = card.governance
    with ctx.write("version.register", ref) as tx:
        ctx.require_role(tx.session, "register", doing=f"register {ref}")
        allowed = ctx.governance.allowed_artifact_formats
        if info is not None and info.format not in allowed:
            raise InputError(
                f"{artifact}: a {info.format} artifact is not allowed in this catalogue "
                f"(setting allowed_artifact_formats: {', '.join(allowed)})"
            )
        model = crud.get_model(session=tx.session, name=card.name)
        model_fields = {
            "owner": governance_.owner,
            "business_owner": governance_.business_owner,
            "business_unit": governance_.business_unit,
            "description": card.model_details.description,
        }
        if model is None:
            model = crud.create_model(
                session=tx.session,
                model_in={"name": card.name, **model_fields},
                created_by=tx.actor,
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
            created_by=tx.actor,
            version_in={
                "version": card.version,
                "state": "draft",
                "risk_tier": str(governance_.risk_tier),
                "card": card_json,
                "card_sha256": card_sha256(card_json),
                "artifact_sha256": info.sha256 if info else None,
                "artifact_size": info.size if info else None,
                "artifact_format": info.format if info else None,
                "artifact_path": str(info.path.resolve()) if info else None,
                "next_validation_due": governance_.next_validation_due,
            },
        )
        tx.audit(
            card_sha256=row.card_sha256,
            card_file=str(card_path),
            risk_tier=row.risk_tier,
            next_validation_due=(
                row.next_validation_due.isoformat() if row.next_validation_due else None
            ),
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
        rows = queries.version_summaries(session=session, model_name=model, states=states or ())
        summaries = [
            VersionSummary(
                name=r.name,
                owner=r.owner,
                business_unit=r.business_unit,
                version=r.version,
                state=r.state,
                risk_tier=r.risk_tier,
                created_at=r.created_at,
                created_by=r.created_by,
                next_validation_due=r.next_validation_due,
                last_evaluated_at=r.last_evaluated_at,
                policy_outcome=r.policy_outcome,
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


def _references(results: Any) -> list[dict[str, Any]]:
    """Each fairness grouping's impact-ratio reference group and why, as stored."""
    fairness = results.get("fairness") if isinstance(results, dict) else None
    return [
        {
            "grouping": item.get("name"),
            "group": item.get("reference_group"),
            "reason": item.get("reference_reason"),
        }
        for item in (fairness if isinstance(fairness, list) else [])
        if isinstance(item, dict)
    ]


def _warnings(results: Any) -> list[str]:
    """What the evaluation warned about (other data than the card's, figures unavailable)."""
    found = results.get("warnings") if isinstance(results, dict) else None
    return [str(w) for w in found] if isinstance(found, list) else []


def _detail(session: Session, model: Model, version: ModelVersion) -> VersionDetail:
    vid = version.id
    evaluations = queries.evaluations_of(session=session, version_id=vid)
    runs = queries.policy_runs_of(session=session, version_id=vid)
    decisions = queries.decisions_of(session=session, version_id=vid)
    reports = queries.reports_of(session=session, version_id=vid)
    others = [v.version for v in crud.versions_of(session=session, model=model) if v.id != vid]
    # This version's own card, as registered (its hash is the card_sha256 shown), never the
    # fields a later registration wrote to the model row.
    card: dict[str, Any] = version.card if isinstance(version.card, dict) else {}
    stated: dict[str, Any] = card.get("governance") or {}
    details: dict[str, Any] = card.get("model_details") or {}
    return VersionDetail(
        name=model.name,
        version=version.version,
        state=version.state,
        risk_tier=version.risk_tier,
        owner=str(stated.get("owner") or ""),
        business_owner=str(stated.get("business_owner") or ""),
        business_unit=str(stated.get("business_unit") or ""),
        description=str(details.get("description") or ""),
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
                "warnings": _warnings(e.results),
                "references": _references(e.results),
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
    "card_sha256",
    "init_catalogue",
    "list_versions",
    "load_card",
    "register_version",
    "resolve",
    "show_version",
    "upgrade_catalogue",
]
