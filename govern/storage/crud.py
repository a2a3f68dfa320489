"""Create/read functions over the catalogue tables, keyword-only, one concern each.

They never commit: the service layer owns the transaction (one per operation).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from govern.domain.governance import GovernanceSettings
from govern.domain.people import name_key
from govern.domain.refs import semver_key
from govern.errors import CatalogueError
from govern.storage.tables import (
    Meta,
    Model,
    ModelVersion,
    OrgCertificate,
    SettingsRevision,
    User,
    UserKey,
    utcnow,
)

# --- catalogue facts ----------------------------------------------------------------------


def get_meta(*, session: Session, key: str) -> str | None:
    row = session.get(Meta, key)
    return row.value if row else None


def set_meta(*, session: Session, key: str, value: str) -> None:
    row = session.get(Meta, key)
    if row is None:
        session.add(Meta(key=key, value=value))
    else:
        row.value = value
        session.add(row)


# --- users ------------------------------------------------------------------------------


def get_user(*, session: Session, name: str) -> User | None:
    return session.get(User, name)


def find_user(*, session: Session, name: str) -> User | None:
    """The user whose name equals ``name`` after NFKC and case folding."""
    return session.exec(select(User).where(User.name_key == name_key(name))).first()


def create_user(
    *,
    session: Session,
    name: str,
    role: str,
    display_name: str,
    created_by: str,
    kind: str = "person",
) -> User:
    user = User(
        name=name,
        name_key=name_key(name),
        role=role,
        display_name=display_name,
        created_by=created_by,
        kind=kind,
    )
    session.add(user)
    session.flush()
    return user


# --- keys and certificates -------------------------------------------------------------------


def get_key(*, session: Session, fingerprint: str) -> UserKey | None:
    return session.exec(select(UserKey).where(UserKey.fingerprint == fingerprint)).first()


def keys_of(*, session: Session, user: str | None = None) -> Sequence[UserKey]:
    query = select(UserKey).order_by(col(UserKey.id))
    if user is not None:
        query = query.where(UserKey.user_name == user)
    return session.exec(query).all()


def org_certificates(*, session: Session) -> Sequence[OrgCertificate]:
    return session.exec(select(OrgCertificate).order_by(col(OrgCertificate.added_at))).all()


# --- governance settings -------------------------------------------------------------------

_PARSED: dict[str, GovernanceSettings] = {}


def latest_settings_revision(*, session: Session) -> int | None:
    return session.exec(select(func.max(SettingsRevision.revision))).one()


def get_settings(*, session: Session, revision: int | None) -> GovernanceSettings:
    """Revision ``revision`` of the governance settings (the defaults when there is none)."""
    if revision is None:
        return GovernanceSettings()
    row = session.get(SettingsRevision, revision)
    if row is None:
        return GovernanceSettings()
    parsed = _PARSED.get(row.sha256)
    if parsed is None:
        # Validated again on read: a revision is only ever written by `settings apply`,
        # which validated it; `audit verify` checks the text against its hash.
        try:
            parsed = GovernanceSettings.model_validate_json(row.document)
        except (ValueError, TypeError):
            raise CatalogueError(
                f"governance settings revision {revision} in the catalogue is unreadable (it "
                "was edited outside govern); `govern audit verify` names what changed"
            ) from None
        _PARSED[row.sha256] = parsed
    return parsed


def list_users(*, session: Session) -> Sequence[User]:
    return session.exec(select(User).order_by(col(User.name))).all()


def count_users(*, session: Session) -> int:
    return int(session.exec(select(func.count()).select_from(User)).one())


# --- models and versions ----------------------------------------------------------------------


def get_model(*, session: Session, name: str) -> Model | None:
    return session.exec(select(Model).where(Model.name == name)).first()


def lock_model(*, session: Session, model: Model) -> None:
    """Hold ``model``'s row until the transaction ends (PostgreSQL ``SELECT ... FOR UPDATE``).

    Changing which version is champion reads the current one and then replaces it; two
    promotions of different versions would otherwise both replace the same champion. SQLite
    write transactions already run one at a time (``BEGIN IMMEDIATE``).
    """
    session.exec(select(Model.id).where(Model.id == model.id).with_for_update()).first()


def create_model(*, session: Session, model_in: dict[str, Any], created_by: str) -> Model:
    model = Model(**model_in, created_by=created_by)
    session.add(model)
    session.flush()
    return model


def get_version(
    *, session: Session, model: Model, version: str | None, for_update: bool = False
) -> ModelVersion | None:
    """One version of ``model``; ``version=None`` means the highest semantic version."""
    query = select(ModelVersion).where(ModelVersion.model_id == model.id)
    if version is not None:
        query = query.where(ModelVersion.version == version)
        if for_update:
            query = query.with_for_update()
        return session.exec(query).first()
    versions = session.exec(query).all()
    if not versions:
        return None
    latest = max(versions, key=lambda v: semver_key(v.version))
    if for_update:
        session.exec(
            select(ModelVersion).where(ModelVersion.id == latest.id).with_for_update()
        ).first()
    return latest


def create_version(
    *, session: Session, model: Model, version_in: dict[str, Any], created_by: str
) -> ModelVersion:
    assert model.id is not None
    row = ModelVersion(**version_in, model_id=model.id, created_by=created_by)
    session.add(row)
    session.flush()
    return row


def touch_version(*, session: Session, version: ModelVersion, **changes: Any) -> ModelVersion:
    for key, value in changes.items():
        setattr(version, key, value)
    version.updated_at = utcnow()
    session.add(version)
    session.flush()
    return version


def list_versions(
    *, session: Session, model_name: str | None = None, states: Sequence[str] = ()
) -> list[tuple[Model, ModelVersion]]:
    """All (model, version) pairs, models by name, versions newest semver first."""
    query = select(Model, ModelVersion).join(ModelVersion, col(ModelVersion.model_id) == Model.id)
    if model_name is not None:
        query = query.where(Model.name == model_name)
    if states:
        query = query.where(col(ModelVersion.state).in_(states))
    rows = [(m, v) for m, v in session.exec(query).all()]
    rows.sort(key=lambda pair: semver_key(pair[1].version), reverse=True)
    rows.sort(key=lambda pair: pair[0].name)
    return rows


def versions_of(*, session: Session, model: Model) -> list[ModelVersion]:
    rows = session.exec(select(ModelVersion).where(ModelVersion.model_id == model.id)).all()
    return sorted(rows, key=lambda v: semver_key(v.version), reverse=True)


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


# --- what events record of stored documents ---------------------------------------------------


def stored_sha256(*, connection: Any, column: Any, key: Any, ids: Sequence[int]) -> dict[int, str]:
    """SHA-256 of each row's ``column`` as stored (the exact text, not a re-serialisation)."""
    from sqlalchemy import Text, cast
    from sqlalchemy import select as sa_select

    found: dict[int, str] = {}
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        for row_id, text in connection.execute(
            sa_select(key, cast(column, Text)).where(key.in_(chunk))
        ):
            data = text.encode("utf-8") if isinstance(text, str) else bytes(text or b"")
            found[row_id] = hashlib.sha256(data).hexdigest()
    return found
