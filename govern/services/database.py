"""Database access for the people of a shared PostgreSQL catalogue (``govern db grant``).

On PostgreSQL each person logs in with a role of their own, and with the governance setting
``identity: database-login`` that login must be the user they act as. What a login may do to
the tables is then PostgreSQL's to enforce, not only govern's: the grant gives three group
roles what govern needs (``govern.storage.grants``) and makes logins members of them, so a
person's login can append evidence and decisions through govern but cannot delete, rewrite,
truncate or alter them with any other client.

Only the catalogue's owner can grant on its tables, and only an admin may decide who gets
access: the grant is run by an admin connected with the owner's privileges, and it is signed
and audited like every other action, in the transaction that changes the privileges.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from govern.domain.roles import Role
from govern.errors import CatalogueError, InputError, NotFoundError, PermissionDenied
from govern.services.context import Context
from govern.services.views import View
from govern.storage import crud, grants
from govern.storage.database import Connection, Session

DEFAULT_PREFIX = grants.DEFAULT_PREFIX


class GrantResult(View):
    """What ``govern db grant`` did."""

    database: str
    schema_name: str
    owner: str
    #: The group roles by kind: ``reader``, ``writer``, ``admin``.
    roles: dict[str, str]
    #: Group roles this grant created (the others existed already).
    created_roles: list[str]
    #: The logins made members, by kind.
    members: dict[str, list[str]]
    #: Per group role: SELECT, INSERT, per-column UPDATE and sequences, as audited.
    privileges: dict[str, dict[str, Any]]
    #: What the admin should know (a login that is no user, grants left to a DBA...).
    notes: list[str]


def _group_roles(role_prefix: str | None) -> dict[grants.Group, str]:
    """The group roles' names made from ``role_prefix`` (default ``DEFAULT_PREFIX``)."""
    prefix = (role_prefix or DEFAULT_PREFIX).strip()
    roles = grants.group_names(prefix)
    if roles is None:
        raise InputError(
            f"{prefix!r} (--role-prefix) does not make plain role names: use letters, digits "
            "and '_', at most 56 characters"
        )
    return roles


# About 80 lines, a third of them the docstring (what is granted, when it is safe to run,
# five refusals); the body is one transaction.
def grant_access(
    ctx: Context,
    *,
    writers: Sequence[str] = (),
    readers: Sequence[str] = (),
    admins: Sequence[str] = (),
    role_prefix: str | None = None,
) -> GrantResult:
    """Give the reader, writer and admin group roles exactly what govern needs, create them
    if they do not exist, and make the given logins members (admin only, as the owner).

    Safe to run again, e.g. after ``govern db upgrade``: the group roles' privileges on
    govern's tables are revoked and granted anew in one transaction, with the audit event.

    Raises:
        CatalogueError: a SQLite catalogue, which has no logins to grant to.
        InputError: a bad prefix, or a login that is not a plain person's login.
        NotFoundError: a login that does not exist.
        PermissionDenied: the acting user is not an admin, or the connection does not hold
            the privileges of the tables' owner (both recorded).
    """
    if ctx.db.is_sqlite:
        raise CatalogueError(
            "govern db grant is for a PostgreSQL catalogue: a SQLite file has no database "
            "logins (protect it with file permissions)"
        )
    roles = _group_roles(role_prefix)
    members: dict[grants.Group, list[str]] = {
        "reader": _distinct(readers),
        "writer": _distinct(writers),
        "admin": _distinct(admins),
    }
    logins = [login for group in grants.GROUPS for login in members[group]]
    for login in logins:
        if login in roles.values():
            raise InputError(f"{login} is a group role, not a person's login")
    plan = grants.privilege_plan()
    with ctx.write("database.grant", "") as tx:
        ctx.require_role(tx.session, [Role.ADMIN], doing="grant database access")
        conn = tx.session.connection()
        where = grants.placement(conn)
        login, acting = grants.session_roles(conn)
        if not grants.has_privileges_of(conn, acting, where.owner):
            raise PermissionDenied(
                f"the database login {login} does not hold the privileges of {where.owner}, "
                "the owner of the catalogue's tables; grants are made as the owner"
            )
        notes = [_check_person_login(conn, name, where.owner) for name in dict.fromkeys(logins)]
        created = [
            roles[group] for group in grants.GROUPS if grants.ensure_group_role(conn, roles[group])
        ]
        for group in grants.GROUPS:
            _check_group_role(conn, roles[group], where.owner)
        applied = grants.apply_privileges(conn, where, plan, roles)
        for group in grants.GROUPS:
            grants.grant_membership(conn, roles[group], members[group])
        notes += applied.notes
        notes += _notes_on_users(tx.session, members)
        privileges = {
            roles[group]: {**plan[group].describe(), "sequences": applied.sequences[group]}
            for group in grants.GROUPS
        }
        tx.audit(
            database=where.database,
            schema=where.schema,
            owner=where.owner,
            login=login,
            roles=dict(roles),
            created_roles=created,
            members={roles[group]: members[group] for group in grants.GROUPS},
            privileges=privileges,
        )
        return GrantResult(
            database=where.database,
            schema_name=where.schema,
            owner=where.owner,
            roles=dict(roles),
            created_roles=created,
            members={group: members[group] for group in grants.GROUPS},
            privileges=privileges,
            notes=list(dict.fromkeys(note for note in notes if note)),
        )


def _distinct(names: Sequence[str]) -> list[str]:
    stripped = [name.strip() for name in names]
    if not all(stripped):
        raise InputError("a database login name cannot be empty")
    return list(dict.fromkeys(stripped))


def _check_person_login(conn: Connection, name: str, owner: str) -> str:
    """Refuse a login that is missing, cannot log in, or is already all-powerful; returns a
    note when the login will not get the privileges without SET ROLE."""
    facts = grants.role_facts(conn, name)
    if facts is None:
        raise NotFoundError(
            f"no database role {name!r}: create the person's login first (CREATE ROLE ... LOGIN)"
        )
    if not facts.can_login:
        raise InputError(f"{name} is not a login role (NOLOGIN); name a person's own login")
    if facts.superuser or grants.has_privileges_of(conn, name, owner):
        raise InputError(
            f"{name} holds the privileges of {owner}, the catalogue's owner (or is a "
            "superuser): a person must log in with a role that holds only the group roles' "
            "privileges"
        )
    if not facts.inherits:
        return (
            f"{name} is NOINHERIT: it gets the group role's privileges only after SET ROLE, "
            "which govern does not do (ALTER ROLE ... INHERIT)"
        )
    return ""


def _check_group_role(conn: Connection, name: str, owner: str) -> None:
    """A group role for people must be a plain NOLOGIN role without the owner's privileges:
    an existing role of that name that is more is refused, not given to people."""
    facts = grants.role_facts(conn, name)
    assert facts is not None  # ensure_group_role made it
    if facts.can_login or facts.powers:
        held = ", ".join(["LOGIN"] * facts.can_login + list(facts.powers))
        raise InputError(
            f"the role {name} exists and is not a plain group role ({held}); choose other "
            "names with --role-prefix"
        )
    if grants.is_member_of(conn, name, owner):
        raise InputError(
            f"the role {name} is a member of {owner}, the catalogue's owner; choose other "
            "names with --role-prefix"
        )


def _notes_on_users(session: Session, members: dict[grants.Group, list[str]]) -> list[str]:
    """Logins that will write but are not users (or, for the admin role, not admins)."""
    notes = []
    writing: tuple[grants.Group, ...] = ("writer", "admin")
    for group in writing:
        for name in members[group]:
            user = crud.find_user(session=session, name=name)
            if user is None:
                notes.append(
                    f"{name} is not a user of this catalogue: its login can write, but govern "
                    "lets only a user act (`govern users add`)"
                )
            elif group == "admin" and user.role != Role.ADMIN:
                notes.append(
                    f"{name} is {user.role}, not an admin, yet its login may now write users, "
                    "keys and settings"
                )
    return notes


__all__ = ["DEFAULT_PREFIX", "GrantResult", "grant_access"]
