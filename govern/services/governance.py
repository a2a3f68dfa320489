"""The organisation's governance settings: apply a revision, show it, list the history.

A revision is written only by ``govern settings apply`` (admin only): the whole document and
its SHA-256 go into the signed audit event, so ``govern audit verify`` can rebuild every
revision from the log and compare it with the ``governance_settings`` table. Every later
decision records the revision it was taken under.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import Field

from govern.documents import load_model_file
from govern.domain.governance import GovernanceSettings
from govern.domain.roles import Role
from govern.errors import InputError, NotFoundError
from govern.services.context import Context
from govern.services.views import View
from govern.storage import audit, crud, queries
from govern.storage.database import Session
from govern.storage.tables import SettingsRevision

MAX_SETTINGS_BYTES = 200_000


class SettingsRevisionPublic(View):
    revision: int
    sha256: str
    created_at: dt.datetime
    created_by: str
    document: dict[str, Any]
    #: What this revision changed from the one before (top-level keys).
    changed: list[str] = Field(default_factory=list)


def read_settings_file(path: Path) -> GovernanceSettings:
    """An ``org.yaml``: strict, every problem reported with file:line:column (exit 2)."""
    settings, _ = load_model_file(
        path, GovernanceSettings, kind="settings", max_bytes=MAX_SETTINGS_BYTES, error=InputError
    )
    return settings


def document_text(settings: GovernanceSettings) -> str:
    """The canonical JSON a revision stores, hashes and audits."""
    return audit.canonical_json(settings.document())


def write_revision(
    session: Session, settings: GovernanceSettings, *, created_by: str
) -> dict[str, Any]:
    """Store the next revision; returns what its audit event records."""
    text = document_text(settings)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    latest = crud.latest_settings_revision(session=session)
    revision = (latest or 0) + 1
    session.add(
        SettingsRevision(revision=revision, document=text, sha256=digest, created_by=created_by)
    )
    session.flush()
    return {"revision": revision, "sha256": digest, "document": settings.document()}


def apply_settings(ctx: Context, path: Path) -> SettingsRevisionPublic:
    """Replace the governance settings with the document in ``path`` (admin only).

    Raises:
        InputError: the file is missing, malformed or names an unknown setting (nothing is
            written).
        PermissionDenied: the acting user is not an admin (recorded).
    """
    return apply(ctx, read_settings_file(path), source=path.name)


def apply(ctx: Context, settings: GovernanceSettings, *, source: str) -> SettingsRevisionPublic:
    """Make ``settings`` the next revision (admin only; signed and audited, whole)."""
    if settings.identity == "database-login" and ctx.db.is_sqlite:
        raise InputError(
            f"{source}: identity: database-login needs a PostgreSQL catalogue; a SQLite file "
            "has no database logins"
        )
    with ctx.write("settings.apply", "settings") as tx:
        ctx.require_role(tx.session, [Role.ADMIN], doing="change the governance settings")
        before = ctx.governance.document()
        recorded = write_revision(tx.session, settings, created_by=tx.actor)
        changed = sorted(k for k, v in settings.document().items() if before.get(k) != v)
        # The event is recorded under the revision it creates: it is the first action
        # taken under the new rules.
        ctx.refresh_governance(tx.session)
        tx.audit(**recorded, source=source, changed=changed)
        row = tx.session.get(SettingsRevision, recorded["revision"])
        assert row is not None
        return _public(row, changed)


def _public(row: SettingsRevision, changed: list[str] | None = None) -> SettingsRevisionPublic:
    return SettingsRevisionPublic(
        revision=row.revision,
        sha256=row.sha256,
        created_at=row.created_at,
        created_by=row.created_by,
        document=json.loads(row.document),
        changed=changed or [],
    )


def show_settings(ctx: Context, *, revision: int | None = None) -> SettingsRevisionPublic:
    """The settings in force, or revision ``revision``."""
    with ctx.read() as session:
        wanted = (
            revision if revision is not None else crud.latest_settings_revision(session=session)
        )
        row = session.get(SettingsRevision, wanted) if wanted is not None else None
        if row is None:
            raise NotFoundError(
                f"no governance settings revision {revision}"
                if revision is not None
                else "this catalogue has no governance settings yet; `govern db upgrade`"
            )
        return _public(row)


def settings_history(ctx: Context) -> list[SettingsRevisionPublic]:
    """Every revision, oldest first, each with what it changed."""
    history: list[SettingsRevisionPublic] = []
    previous: dict[str, Any] = {}
    with ctx.read() as session:
        rows = queries.settings_revisions(session=session)
        for row in rows:  # read inside the session: rows are expired once it closes
            document = json.loads(row.document)
            changed = sorted(k for k, v in document.items() if previous.get(k) != v)
            history.append(_public(row, changed if previous else []))
            previous = document
    return history


__all__ = [
    "SettingsRevisionPublic",
    "apply_settings",
    "document_text",
    "read_settings_file",
    "settings_history",
    "show_settings",
    "write_revision",
]
