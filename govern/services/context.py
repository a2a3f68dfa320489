"""The service context: settings, the catalogue, the acting user, and transactions.

Every mutating use case runs in one :meth:`Context.write` block: its changes and its audit
event commit together or not at all. A :class:`~govern.errors.RefusedError` raised inside
the block rolls the work back and is itself recorded in the audit log, in a transaction of
its own, before it reaches the caller.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from govern.config import Settings, load_settings
from govern.domain.roles import Role, as_noun
from govern.errors import PermissionDenied, RefusedError
from govern.storage import audit, crud
from govern.storage.audit import AuditRecord
from govern.storage.database import Database
from govern.storage.migrate import ensure_current
from govern.storage.tables import User


@dataclass
class Transaction:
    """What a use case sees inside :meth:`Context.write`."""

    session: Session
    actor: str
    action: str
    subject: str = ""
    events: list[AuditRecord] = field(default_factory=list)

    def audit(
        self, action: str | None = None, subject: str | None = None, **payload: Any
    ) -> AuditRecord:
        """Append an audit event in this transaction (defaults: the operation's action/subject)."""
        record = audit.append_event(
            self.session.connection(),
            actor=self.actor,
            action=action or self.action,
            subject=self.subject if subject is None else subject,
            payload=payload,
        )
        self.events.append(record)
        return record


class Context:
    """Settings + catalogue + acting user: what every service function takes first.

    The CLI, the TUI and Python callers build one with :meth:`open`::

        from govern.services import Context, catalogue
        ctx = Context.open(database_url="sqlite:///govern.db", user="alice")
        catalogue.list_versions(ctx)
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(settings.database_url)
        self._checked = False

    @classmethod
    def open(
        cls, *, database_url: str | None = None, user: str | None = None, **overrides: Any
    ) -> Context:
        return cls(load_settings(database_url=database_url, user=user, **overrides))

    @property
    def actor(self) -> str:
        return self.settings.actor

    def require_catalogue(self) -> None:
        if not self._checked:
            ensure_current(self.db)
            self._checked = True

    @contextmanager
    def read(self) -> Iterator[Session]:
        self.require_catalogue()
        with self.db.read() as session:
            yield session

    @contextmanager
    def write(self, action: str, subject: str = "") -> Iterator[Transaction]:
        self.require_catalogue()
        tx: Transaction | None = None
        try:
            with self.db.write() as session:
                tx = Transaction(session=session, actor=self.actor, action=action, subject=subject)
                yield tx
        except RefusedError as refusal:
            self.record_refusal(action, tx.subject if tx else subject, refusal)
            raise

    def record_refusal(self, action: str, subject: str, refusal: RefusedError) -> None:
        """Write ``<action>.refused`` with the reason, in its own transaction."""
        with self.db.write() as session:
            audit.append_event(
                session.connection(),
                actor=self.actor,
                action=f"{action}.refused",
                subject=subject,
                payload={"reason": refusal.message},
            )

    def require_role(self, session: Session, allowed: Collection[Role], *, doing: str) -> User:
        """The acting user, if they hold one of ``allowed`` roles; else refuse."""
        user = crud.get_user(session=session, name=self.actor)
        if user is None or not user.active:
            raise PermissionDenied(
                f"{self.actor} is not a user of this catalogue and cannot {doing}; an admin can "
                f"add them with `govern users add {self.actor} --role ROLE`"
            )
        if user.role not in {str(role) for role in allowed}:
            needed = " or ".join(sorted(str(role) for role in allowed))
            raise PermissionDenied(
                f"{self.actor} is {as_noun(user.role)} and cannot {doing}; that needs the role "
                f"{needed}"
            )
        return user

    def close(self) -> None:
        self.db.dispose()
