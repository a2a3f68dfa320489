"""Users and roles. Only an admin adds users, changes roles or deactivates anyone; every
change is signed and audited.

Names are compared after NFKC normalisation and case folding (``Alice`` is ``alice``), and a
name that mixes scripts is refused (``govern.domain.people``). A ``service`` account is a CI
pipeline's: it has a key and a role like a person, but can never judge a model.
"""

from __future__ import annotations

from pathlib import Path

from govern.domain.people import check_user_name
from govern.domain.roles import Role
from govern.errors import ConflictError, InputError, NotFoundError
from govern.services import keys
from govern.services.context import Context
from govern.services.views import UserPublic
from govern.storage import crud

KINDS = ("person", "service")


def _parse_role(role: str) -> Role:
    try:
        return Role(role.strip().lower())
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise InputError(f"unknown role {role!r}: use one of {allowed}") from None


def check_name(name: str) -> str:
    """A valid user name, or InputError saying why not."""
    try:
        return check_user_name(name)
    except ValueError as exc:
        raise InputError(f"{exc} (user name)") from None


def add_user(
    ctx: Context,
    name: str,
    *,
    role: str,
    display_name: str = "",
    key: Path | None = None,
    key_label: str = "",
    service: bool = False,
) -> UserPublic:
    """Add a catalogue user with one role (admin only), and enrol their public key.

    Raises:
        InputError: a bad name (mixed scripts, odd characters), role or key file.
        ConflictError: the name exists, compared without case and width (``Alice``/``alice``).
        PermissionDenied: the acting user is not an admin, or a service account would be one.
    """
    parsed = _parse_role(role)
    user_name = check_name(name)
    if len(display_name.strip()) > 200:  # the column's size; PostgreSQL enforces it
        raise InputError("a display name is at most 200 characters long")
    if service and parsed == Role.ADMIN:
        raise InputError("a service account cannot be an admin: a person administers govern")
    pem = keys.read_public_key_file(key) if key is not None else None
    kind = "service" if service else "person"
    with ctx.write("user.add", f"user:{user_name}") as tx:
        ctx.require_role(tx.session, [Role.ADMIN], doing=f"add user {user_name}")
        existing = crud.find_user(session=tx.session, name=user_name)
        if existing is not None:
            same = "" if existing.name == user_name else f" (as {existing.name})"
            raise ConflictError(
                f"user {user_name} already exists{same}; names are compared without case and "
                f"width. Change their role with `govern users set-role {existing.name} --role "
                "ROLE`"
            )
        user = crud.create_user(
            session=tx.session,
            name=user_name,
            role=parsed,
            display_name=display_name.strip(),
            created_by=tx.actor,
            kind=kind,
        )
        enrolled = None
        if pem is not None:
            enrolled = keys.key_payload(pem, user=user_name, label=key_label.strip())
            keys.store_key(tx.session, enrolled, enrolled_by=tx.actor)
        tx.audit(role=str(parsed), display_name=user.display_name, kind=kind, key=enrolled)
        return UserPublic.model_validate(user)


def set_role(ctx: Context, name: str, *, role: str) -> UserPublic:
    """Change a user's role (admin only). Past decisions keep the role held at the time."""
    parsed = _parse_role(role)
    with ctx.write("user.set_role", f"user:{name}") as tx:
        actor = ctx.require_role(tx.session, [Role.ADMIN], doing=f"change the role of {name}")
        user = crud.find_user(session=tx.session, name=name)
        if user is None:
            raise NotFoundError(f"no user {name!r} in this catalogue")
        tx.subject = f"user:{user.name}"
        if user.kind == "service" and parsed == Role.ADMIN:
            raise InputError("a service account cannot be an admin: a person administers govern")
        if user.name == actor.name and parsed != Role.ADMIN:
            _keep_an_admin(tx.session, user.name)
        previous = user.role
        user.role = parsed
        tx.session.add(user)
        tx.session.flush()
        tx.audit(role=str(parsed), previous_role=previous)
        return UserPublic.model_validate(user)


def _keep_an_admin(session: object, leaving: str) -> None:
    admins = [
        u
        for u in crud.list_users(session=session)  # type: ignore[arg-type]
        if u.role == Role.ADMIN and u.active and u.name != leaving
    ]
    if not admins:
        raise InputError(f"{leaving} is the last admin; add another admin first")


def deactivate(ctx: Context, name: str, *, reason: str) -> UserPublic:
    """Deactivate a user who left (admin only): they can no longer act, and their enrolled
    keys are revoked. Their past decisions stay, verifiable against the keys of the time."""
    reason = reason.strip()
    if len(reason) < 3:
        raise InputError("say why the user is deactivated (--reason)")
    with ctx.write("user.deactivate", f"user:{name}") as tx:
        ctx.require_role(tx.session, [Role.ADMIN], doing=f"deactivate {name}")
        user = crud.find_user(session=tx.session, name=name)
        if user is None:
            raise NotFoundError(f"no user {name!r} in this catalogue")
        tx.subject = f"user:{user.name}"
        if not user.active:
            raise ConflictError(f"{user.name} is already deactivated")
        if user.role == Role.ADMIN:
            _keep_an_admin(tx.session, user.name)
        user.active = False
        tx.session.add(user)
        revoked = []
        for key in crud.keys_of(session=tx.session, user=user.name):
            if key.status == "active":
                keys.revoke_row(key, by=tx.actor, reason=f"user deactivated: {reason}")
                tx.session.add(key)
                revoked.append(key.fingerprint)
        tx.session.flush()
        tx.audit(reason=reason, revoked_keys=revoked)
        return UserPublic.model_validate(user)


def list_users(ctx: Context) -> list[UserPublic]:
    with ctx.read() as session:
        return [UserPublic.model_validate(u) for u in crud.list_users(session=session)]


def whoami(ctx: Context) -> UserPublic | None:
    with ctx.read() as session:
        user = crud.find_user(session=session, name=ctx.actor)
        return UserPublic.model_validate(user) if user else None
