"""Users and roles. Only an admin adds users or changes roles; every change is audited."""

from __future__ import annotations

from govern.domain.refs import is_model_name
from govern.domain.roles import Role
from govern.errors import ConflictError, InputError, NotFoundError
from govern.services.context import Context
from govern.services.views import UserPublic
from govern.storage import crud


def _parse_role(role: str) -> Role:
    try:
        return Role(role.strip().lower())
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise InputError(f"unknown role {role!r}: use one of {allowed}") from None


def _check_name(name: str) -> str:
    cleaned = name.strip()
    if not is_model_name(cleaned.lower()) or len(cleaned) > 100:
        raise InputError(f"{name!r} is not a valid user name: use letters, digits, '.', '_' or '-'")
    return cleaned


def add_user(ctx: Context, name: str, *, role: str, display_name: str = "") -> UserPublic:
    """Add a catalogue user with one role (admin only)."""
    parsed = _parse_role(role)
    user_name = _check_name(name)
    if len(display_name.strip()) > 200:  # the column's size; PostgreSQL enforces it
        raise InputError("a display name is at most 200 characters long")
    with ctx.write("user.add", f"user:{user_name}") as tx:
        ctx.require_role(tx.session, [Role.ADMIN], doing=f"add user {user_name}")
        if crud.get_user(session=tx.session, name=user_name) is not None:
            raise ConflictError(
                f"user {user_name} already exists; change their role with "
                f"`govern users set-role {user_name} --role ROLE`"
            )
        user = crud.create_user(
            session=tx.session,
            name=user_name,
            role=parsed,
            display_name=display_name.strip(),
            created_by=ctx.actor,
        )
        tx.audit(role=str(parsed), display_name=user.display_name)
        return UserPublic.model_validate(user)


def set_role(ctx: Context, name: str, *, role: str) -> UserPublic:
    """Change a user's role (admin only). Past decisions keep the role held at the time."""
    parsed = _parse_role(role)
    with ctx.write("user.set_role", f"user:{name}") as tx:
        ctx.require_role(tx.session, [Role.ADMIN], doing=f"change the role of {name}")
        user = crud.get_user(session=tx.session, name=name)
        if user is None:
            raise NotFoundError(f"no user {name!r} in this catalogue")
        if user.name == ctx.actor and parsed != Role.ADMIN:
            admins = [u for u in crud.list_users(session=tx.session) if u.role == Role.ADMIN]
            if len(admins) == 1:
                raise InputError(f"{name} is the last admin; add another admin first")
        previous = user.role
        user.role = parsed
        tx.session.add(user)
        tx.session.flush()
        tx.audit(role=str(parsed), previous_role=previous)
        return UserPublic.model_validate(user)


def list_users(ctx: Context) -> list[UserPublic]:
    with ctx.read() as session:
        return [UserPublic.model_validate(u) for u in crud.list_users(session=session)]


def whoami(ctx: Context) -> UserPublic | None:
    with ctx.read() as session:
        user = crud.get_user(session=session, name=ctx.actor)
        return UserPublic.model_validate(user) if user else None
