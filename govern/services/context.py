"""The service context: settings, the catalogue, the acting person, and transactions.

Every mutating use case runs in one :meth:`Context.write` block: its changes and its audit
event commit together or not at all. The event is signed with the acting person's key
(``govern keys init``) and the signature is checked against the key an admin enrolled for
them before anything is stored: naming someone with ``--user`` is not enough to act as them.
The rules that decide whether an action is allowed (approvals, roles, policy bindings...) are
read from the catalogue's governance settings, never from a person's own configuration, and
every event records the revision it was taken under.

A :class:`~govern.errors.RefusedError` raised inside the block rolls the work back and is
itself recorded in the audit log, in a transaction of its own, before it reaches the caller.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from govern import outputs, personal_keys
from govern.config import Settings, load_settings
from govern.domain.governance import JUDGEMENT_ACTIONS, GovernanceSettings
from govern.domain.people import name_key
from govern.domain.roles import Role, as_noun
from govern.errors import PermissionDenied, RefusedError, SignatureError
from govern.personal_keys import PersonalKey
from govern.storage import audit, crud, grants
from govern.storage.audit import AuditRecord, Signer
from govern.storage.database import Database, Session
from govern.storage.migrate import ensure_current
from govern.storage.tables import User, UserKey

#: Asks the person at the keyboard for their key's passphrase; None means "cannot ask".
AskPassphrase = Callable[[str], str | None]


@dataclass
class Transaction:
    """What a use case sees inside :meth:`Context.write`."""

    session: Session
    ctx: Context
    action: str
    subject: str = ""
    events: list[AuditRecord] = field(default_factory=list)
    #: The acting person, once their key has been checked against their enrolment, and
    #: that enrolment (what every event of the transaction is verified against).
    user: User | None = None
    enrolled: UserKey | None = None

    @property
    def actor(self) -> str:
        return self.user.name if self.user is not None else self.ctx.actor

    @property
    def governance(self) -> GovernanceSettings:
        return self.ctx.governance

    @property
    def settings_revision(self) -> int | None:
        return self.ctx.settings_revision

    def authenticate(self) -> User:
        """The acting user, proven by their enrolled key (see :meth:`Context.authenticate`)."""
        if self.user is None:
            self.user, self.enrolled = self.ctx.enrolment(self.session)
        return self.user

    def audit(
        self, action: str | None = None, subject: str | None = None, /, **payload: Any
    ) -> AuditRecord:
        """Append an event signed by the acting person, in this transaction.

        ``action`` and ``subject`` are positional only: a payload may have keys of those names
        (a certificate's subject), which must not become the event's.

        The signature is checked against the person's enrolled, unrevoked key before the
        transaction can commit: a key that does not verify refuses the whole operation.
        """
        user = self.authenticate()
        key = self.ctx.personal_key()
        record = audit.append_event(
            self.session.connection(),
            actor=user.name,
            action=action or self.action,
            subject=self.subject if subject is None else subject,
            payload=payload,
            catalogue_id=self.ctx.catalogue_id(self.session),
            settings_revision=self.ctx.settings_revision,
            signer=Signer(key.fingerprint, key.sign),
        )
        enrolled = self.enrolled
        assert record.signature is not None and enrolled is not None
        if enrolled.fingerprint != key.fingerprint or not personal_keys.verify(
            personal_keys.public_key_of(enrolled.public_key),
            record.body(self.ctx.catalogue_id(self.session)),
            base64.b64decode(record.signature),
        ):
            raise SignatureError(
                f"the signature of {user.name}'s action does not verify against their enrolled "
                "key; nothing was changed"
            )
        self.events.append(record)
        return record


class Context:
    """Settings + catalogue + acting person: what every service function takes first.

    The CLI, the TUI and Python callers build one with :meth:`open`::

        from govern.services import Context, catalogue
        ctx = Context.open(database_url="sqlite:///govern.db", user="alice")
        catalogue.list_versions(ctx)

    ``ask_passphrase`` is how a front end asks for the personal key's passphrase when
    ``GOVERN_KEY_PASSPHRASE`` is not set (the CLI prompts on a terminal; the TUI uses a modal
    and calls :meth:`unlock`).
    """

    def __init__(self, settings: Settings, *, ask_passphrase: AskPassphrase | None = None) -> None:
        self.settings = settings
        self.db = Database(settings.database_url, lock_wait_seconds=settings.lock_wait_seconds)
        self._checked = False
        self._ask_passphrase = ask_passphrase
        self._key: PersonalKey | None = None
        self._catalogue_id: str | None = None
        self._governance: GovernanceSettings | None = None
        self._revision: int | None = None

    @classmethod
    def open(
        cls, *, database_url: str | None = None, user: str | None = None, **overrides: Any
    ) -> Context:
        return cls(load_settings(database_url=database_url, user=user, **overrides))

    @property
    def actor(self) -> str:
        """The name the person gave (``--user``, ``GOVERN_USER`` or the OS login): a claim."""
        return self.settings.actor

    def require_catalogue(self) -> None:
        if not self._checked:
            ensure_current(self.db)
            self._checked = True
            # A report or checkpoint a killed command left half-done is finished or undone
            # before anything else (govern.outputs); one listdir when there is none.
            self.recover_outputs()

    # --- files the catalogue records (govern.outputs) -----------------------------------

    @property
    def pending_dir(self) -> Path:
        """The journal of files being written: ``$GOVERN_HOME/pending``."""
        return self.settings.home / outputs.PENDING

    def recover_outputs(self) -> int:
        """Finish or undo the file writes crashed commands left; how many there were."""
        return outputs.recover(self.pending_dir, self.output_committed)

    def output_committed(self, catalogue_id: str, seq: int, event_hash: str) -> bool | None:
        """Whether this catalogue holds event ``seq`` with ``event_hash``; None if the
        journal entry is another catalogue's."""
        with self.db.read() as session:
            if catalogue_id != self.catalogue_id(session):
                return None
            return audit.hashes_at(session.connection(), [seq]).get(seq) == event_hash

    # --- the catalogue's rules ------------------------------------------------------------

    @property
    def governance(self) -> GovernanceSettings:
        """The governance settings in force (the catalogue's latest revision)."""
        if self._governance is None:
            with self.read():
                pass
        assert self._governance is not None
        return self._governance

    @property
    def settings_revision(self) -> int | None:
        if self._governance is None:
            _ = self.governance
        return self._revision

    def refresh_governance(self, session: Session) -> None:
        """Read the revision in force again (after ``settings apply`` wrote a new one)."""
        self._load_governance(session)

    def _load_governance(self, session: Session) -> None:
        revision = crud.latest_settings_revision(session=session)
        if self._governance is not None and revision == self._revision:
            return
        self._revision = revision
        self._governance = crud.get_settings(session=session, revision=revision)

    def catalogue_id(self, session: Session) -> str:
        if self._catalogue_id is None:
            self._catalogue_id = crud.get_meta(session=session, key="catalogue_id") or ""
        return self._catalogue_id

    # --- the person's key -----------------------------------------------------------------

    @property
    def key_locked(self) -> bool:
        """Whether acting needs a passphrase nobody has given yet (the TUI asks once)."""
        key_dir = self.settings.resolved_key_dir
        return (
            self._key is None
            and self.settings.key_passphrase is None
            and personal_keys.exists(key_dir)
            and personal_keys.is_encrypted(key_dir)
        )

    def unlock(self, passphrase: str) -> PersonalKey:
        """Unlock the personal key with ``passphrase`` for the rest of this session."""
        self._key = personal_keys.load(
            self.settings.resolved_key_dir, passphrase=passphrase.encode("utf-8")
        )
        return self._key

    def personal_key(self) -> PersonalKey:
        """The acting person's unlocked key (asked for once, then kept for the session)."""
        if self._key is not None:
            return self._key
        key_dir = self.settings.resolved_key_dir
        secret = self.settings.key_passphrase
        if secret is not None:
            return self.unlock(secret.get_secret_value())
        if self.key_locked and self._ask_passphrase is not None:
            given = self._ask_passphrase(f"Passphrase for the key in {key_dir}: ")
            if given is not None:
                return self.unlock(given)
        self._key = personal_keys.load(key_dir, passphrase=None)
        return self._key

    def authenticate(self, session: Session) -> User:
        """The user named by ``--user``, proven by the key that is about to sign for them.

        Refuses (PermissionDenied, recorded) an unknown or inactive user, a key that is not
        enrolled to them or is revoked, and, when the catalogue requires it, a database login
        that is not theirs.
        """
        return self.enrolment(session)[0]

    def enrolment(self, session: Session) -> tuple[User, UserKey]:
        """:meth:`authenticate`, with the enrolled key that proved the user."""
        user = self.find_user(session)
        key = self.personal_key()
        enrolled = crud.get_key(session=session, fingerprint=key.fingerprint)
        if enrolled is None or enrolled.user_name != user.name or enrolled.status != "active":
            if enrolled is None:
                whose = "is not enrolled in this catalogue"
            elif enrolled.user_name != user.name:
                whose = f"is enrolled to {enrolled.user_name}, not to {user.name}"
            else:
                whose = f"was revoked ({enrolled.revoked_reason or 'no reason given'})"
            raise PermissionDenied(
                f"cannot act as {user.name}: the key in {key.key_dir} ({key.fingerprint[:23]}…) "
                f"{whose}; {user.name} must act with their own enrolled key"
            )
        # The settings in force as this session reads them: during `govern db upgrade` the
        # schema is not yet current, so a fresh read (``self.governance``) would refuse.
        self._load_governance(session)
        assert self._governance is not None
        if self._governance.identity == "database-login":
            self._require_database_login(session, user)
        return user, enrolled

    def _require_database_login(self, session: Session, user: User) -> None:
        if self.db.is_sqlite:
            raise PermissionDenied(
                "this catalogue requires the database login to be the acting user (setting "
                "identity: database-login), which only a PostgreSQL catalogue can show"
            )
        login, _privileges = grants.session_roles(session.connection())
        if name_key(login) != user.name_key:
            raise PermissionDenied(
                f"cannot act as {user.name} while logged in to the database as {login}: this "
                "catalogue requires the acting user to be the session's database login "
                "(setting identity: database-login)"
            )

    def find_user(self, session: Session, *, doing: str = "act") -> User:
        """The active user ``--user`` names (compared after NFKC and case folding)."""
        user = crud.find_user(session=session, name=self.actor)
        if user is None:
            raise PermissionDenied(
                f"{self.actor} is not a user of this catalogue and cannot {doing}; an admin can "
                f"add them with `govern users add {self.actor} --role ROLE --key THEIR.pub.pem`"
            )
        if not user.active:
            raise PermissionDenied(
                f"{user.name} was deactivated in this catalogue and cannot {doing}"
            )
        return user

    # --- sessions -------------------------------------------------------------------------

    @contextmanager
    def read(self) -> Iterator[Session]:
        self.require_catalogue()
        with self.db.read() as session:
            self._load_governance(session)
            yield session

    @contextmanager
    def write(self, action: str, subject: str = "") -> Iterator[Transaction]:
        self.require_catalogue()
        tx: Transaction | None = None
        # Ask for the passphrase before the write lock is taken, never while holding it.
        unlock_problem: SignatureError | None = None
        try:
            self.personal_key()
        except SignatureError as problem:
            unlock_problem = problem
        try:
            with self.db.write() as session:
                self._load_governance(session)
                tx = Transaction(session=session, ctx=self, action=action, subject=subject)
                if crud.find_user(session=session, name=self.actor) is not None:
                    # A known name: prove it now, before any work. An unknown one is refused
                    # by the role check with the advice to add the user.
                    if unlock_problem is not None:
                        raise unlock_problem
                    tx.authenticate()
                yield tx
        except RefusedError as refusal:
            self.record_refusal(action, tx.subject if tx else subject, refusal)
            raise

    def record_refusal(self, action: str, subject: str, refusal: RefusedError) -> None:
        """Write ``<action>.refused`` with the reason, in its own transaction.

        The record is not signed: the attempt may have come from someone without a key, and it
        changes nothing but the log. It names the key that was presented, if any.
        """
        presented = self._key.fingerprint if self._key is not None else None
        with self.db.write() as session:
            payload: dict[str, Any] = {"reason": refusal.message, "presented_key": presented}
            if not self.db.is_sqlite:  # who really connected, beside the name they gave
                payload["database_login"] = grants.session_roles(session.connection())[0]
            audit.append_event(
                session.connection(),
                actor=self.actor,
                action=f"{action}.refused",
                subject=subject,
                payload=payload,
                catalogue_id=self.catalogue_id(session),
                settings_revision=self._revision,
                signer=None,
            )

    def require_role(
        self, session: Session, allowed: Collection[Role] | str, *, doing: str
    ) -> User:
        """The acting user, if they hold one of ``allowed`` roles; else refuse.

        ``allowed`` is a set of roles, or the name of an action whose roles the governance
        settings give (``workflow_roles``). A service account never takes a judgement
        (approve, reject, request changes, waive, deploy, retire), whatever its role.
        """
        user = self.find_user(session, doing=doing)
        if isinstance(allowed, str):
            action = allowed
            if user.kind == "service" and action in JUDGEMENT_ACTIONS:
                raise PermissionDenied(
                    f"{user.name} is a service account and can never {doing}: a person must"
                )
            allowed = self.governance.roles_for(action)
        if user.role not in {str(role) for role in allowed}:
            needed = " or ".join(sorted(str(role) for role in allowed))
            raise PermissionDenied(
                f"{user.name} is {as_noun(user.role)} and cannot {doing}; that needs the role "
                f"{needed}"
            )
        return user

    def close(self) -> None:
        self.db.dispose()
