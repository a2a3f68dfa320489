"""PostgreSQL privileges for person logins (``govern db grant``).

A shared catalogue is owned by one role, the one that ran ``govern init``; people log in with
roles of their own and get their rights from three group roles:

* a *reader* reads every table;
* a *writer* also appends rows (evidence, decisions, waivers, reports, audit events) and
  changes only the columns govern itself changes after a row is written (a version's state,
  a model's owner...);
* an *admin* also writes users, keys, certificates and settings revisions, which only an
  admin's action writes: a developer's login that could insert a settings revision or change
  a role would change the rules in force, not only break them.

None may delete, truncate, alter, drop or disable the triggers of anything: those need the
owner, which is why a person must never log in as the owner.

The privileges are stated here once, as data (:data:`UPDATABLE`, :data:`ADMIN_WRITES`,
:data:`OWNER_WRITES`), and applied exactly: each grant first revokes whatever the group roles
held on govern's tables, so running it again after an upgrade converges on the current schema.
Everything runs on the caller's connection, inside its transaction (PostgreSQL roles and
grants are transactional), so the grants commit with their audit event or not at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from govern.errors import CatalogueError, InternalError
from govern.storage.tables import AuditEvent

Group = Literal["reader", "writer", "admin"]
#: The group roles, weakest first; ``--role-prefix govern`` names them govern_reader...
GROUPS: tuple[Group, ...] = ("reader", "writer", "admin")
DEFAULT_PREFIX = "govern"

#: Alembic's bookkeeping table: read by every command (is the schema current?), written by
#: migrations only.
ALEMBIC_TABLE = "alembic_version"

#: The columns govern changes in rows it wrote earlier, and by which action. Every other
#: column of every table is written once, by INSERT, and never changed: decisions, audit
#: events, waivers, settings revisions, evaluations' results... ``SELECT ... FOR UPDATE``
#: (taken on ``model`` and ``model_version`` so that concurrent transitions queue) needs
#: UPDATE on at least one column of the table, which these give.
UPDATABLE: dict[str, tuple[str, ...]] = {
    # register: a new version's card restates who owns the model (services.catalogue)
    "model": ("owner", "business_owner", "business_unit", "description"),
    # every transition: crud.touch_version(state=..., next_validation_due=...)
    "model_version": ("state", "next_validation_due", "updated_at"),
    # users set-role, users deactivate
    "govern_user": ("role", "active"),
    # keys revoke, keys enrol --replace, users deactivate (keys.revoke_row)
    "user_key": ("status", "revoked_at", "revoked_by", "revoked_reason"),
    # org-key rotate (the old certificate retires), org-key revoke
    "org_certificate": ("status", "changed_at", "reason"),
}

#: Tables only admin-only actions write (users, keys, org-key, settings apply).
ADMIN_WRITES = frozenset({"govern_user", "user_key", "org_certificate", "governance_settings"})

#: Tables only ``govern init`` and ``govern db upgrade`` write, as the owner.
OWNER_WRITES = frozenset({ALEMBIC_TABLE, "govern_meta"})

_INSUFFICIENT_PRIVILEGE = "42501"
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MAX_ROLE_NAME = 63  # PostgreSQL's NAMEDATALEN - 1


@dataclass(frozen=True)
class Privileges:
    """What one group role gets on govern's tables."""

    select: tuple[str, ...]
    insert: tuple[str, ...]
    #: Columns it may UPDATE, by table.
    update: Mapping[str, tuple[str, ...]]

    def describe(self) -> dict[str, object]:
        """As the grant's audit event records it."""
        return {
            "select": list(self.select),
            "insert": list(self.insert),
            "update": {table: list(columns) for table, columns in self.update.items()},
        }


def privilege_plan() -> dict[Group, Privileges]:
    """Each group role's privileges on the schema this govern knows (its SQLModel tables and
    Alembic's)."""
    metadata = AuditEvent.metadata.tables  # every table of govern.storage.tables
    for table, columns in UPDATABLE.items():
        # A renamed column must not silently drop out of (or into) what people may change.
        known = set(metadata[table].columns.keys()) if table in metadata else set()
        missing = [column for column in columns if column not in known]
        if missing:
            raise InternalError(f"grants.UPDATABLE names {table}.{missing}, not in the schema")
    tables = (*sorted(metadata), ALEMBIC_TABLE)

    def writes(exclude: frozenset[str]) -> Privileges:
        return Privileges(
            select=tables,
            insert=tuple(t for t in tables if t not in exclude),
            update={t: c for t, c in sorted(UPDATABLE.items()) if t not in exclude},
        )

    return {
        "reader": Privileges(select=tables, insert=(), update={}),
        "writer": writes(OWNER_WRITES | ADMIN_WRITES),
        "admin": writes(OWNER_WRITES),
    }


def group_names(prefix: str) -> dict[Group, str] | None:
    """The group roles' names for ``prefix`` (``govern_reader``...), or None if ``prefix``
    would not make plain role names (letters, digits and '_', at most 63 characters)."""
    names: dict[Group, str] = {group: f"{prefix}_{group}" for group in GROUPS}
    if not all(
        _PLAIN_NAME.fullmatch(name) and len(name) <= _MAX_ROLE_NAME for name in names.values()
    ):
        return None
    return names


# --- who is asking, and who owns what ---------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """Where govern's tables are and who owns them."""

    schema: str
    owner: str
    database: str


@dataclass(frozen=True)
class RoleFacts:
    """What PostgreSQL says of one role (``pg_roles``)."""

    name: str
    can_login: bool
    superuser: bool
    inherits: bool
    #: Attributes a group role for people must not carry.
    powers: tuple[str, ...]


def placement(conn: Connection) -> Placement:
    """The schema and owner of govern's tables, found through the audit log's table."""
    row = conn.execute(
        text(
            "SELECT n.nspname, pg_get_userbyid(c.relowner), current_database() "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.oid = to_regclass('audit_event')"
        )
    ).one()
    return Placement(schema=row[0], owner=row[1], database=row[2])


def session_roles(conn: Connection) -> tuple[str, str]:
    """(the login, the role whose privileges apply): ``session_user``, ``current_user``."""
    row = conn.execute(text("SELECT session_user, current_user")).one()
    return str(row[0]), str(row[1])


def has_privileges_of(conn: Connection, role: str, owner: str) -> bool:
    """Whether ``role`` holds ``owner``'s privileges (is it, inherits it, or is a superuser)."""
    return bool(
        conn.execute(
            text("SELECT pg_has_role(:role, :owner, 'USAGE')"), {"role": role, "owner": owner}
        ).scalar()
    )


def is_member_of(conn: Connection, role: str, group: str) -> bool:
    return bool(
        conn.execute(
            text("SELECT pg_has_role(:role, :group, 'MEMBER')"), {"role": role, "group": group}
        ).scalar()
    )


def role_facts(conn: Connection, name: str) -> RoleFacts | None:
    row = conn.execute(
        text(
            "SELECT rolname, rolcanlogin, rolsuper, rolinherit, rolcreaterole, rolcreatedb, "
            "rolreplication, rolbypassrls FROM pg_roles WHERE rolname = :name"
        ),
        {"name": name},
    ).first()
    if row is None:
        return None
    powers = ("SUPERUSER", "CREATEROLE", "CREATEDB", "REPLICATION", "BYPASSRLS")
    held = (row[2], row[4], row[5], row[6], row[7])
    return RoleFacts(
        name=row[0],
        can_login=bool(row[1]),
        superuser=bool(row[2]),
        inherits=bool(row[3]),
        powers=tuple(power for power, has in zip(powers, held, strict=True) if has),
    )


# --- changing roles and privileges ----------------------------------------------------------------


def ensure_group_role(conn: Connection, name: str) -> bool:
    """Create the NOLOGIN role ``name`` unless it exists; True if this call created it.

    Roles are cluster-wide: another catalogue's grant may be creating the same role at this
    moment, so a duplicate is expected, not an error.
    """
    if role_facts(conn, name) is not None:
        return False
    quoted = _quote(conn, name)  # a plain name (group_names): safe inside $$ ... $$
    _ddl(
        conn,
        f"DO $$ BEGIN CREATE ROLE {quoted} NOLOGIN; "
        "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$",
        refused=f"cannot create the group role {name} (the owner needs CREATEROLE, or a "
        f"database administrator creates it: CREATE ROLE {name} NOLOGIN, and grants it to the "
        "owner WITH ADMIN OPTION)",
    )
    return True


@dataclass(frozen=True)
class Applied:
    """What :func:`apply_privileges` did beyond the plan's tables."""

    #: The sequences of serial columns each group role may draw from (USAGE, SELECT).
    sequences: dict[Group, list[str]]
    #: What could not be granted (CONNECT and schema USAGE when they are not the owner's).
    notes: list[str]


def apply_privileges(
    conn: Connection,
    where: Placement,
    plan: Mapping[Group, Privileges],
    roles: Mapping[Group, str],
) -> Applied:
    """Give each group role exactly what ``plan`` says on govern's tables and on the
    sequences of the tables it inserts into, after revoking whatever they held there."""
    every = ", ".join(_quote(conn, roles[group]) for group in plan)
    schema = _quote(conn, where.schema)
    statements = []
    tables = sorted({table for privileges in plan.values() for table in privileges.select})
    for table in tables:
        # Revoking a table's privileges revokes its column privileges too.
        statements.append(f"REVOKE ALL ON TABLE {schema}.{_quote(conn, table)} FROM {every}")
    serial = _sequences(conn, where.schema, tables)
    for sequence in sorted({sequence for sequence, _table in serial}):
        statements.append(f"REVOKE ALL ON SEQUENCE {schema}.{_quote(conn, sequence)} FROM {every}")
    sequences: dict[Group, list[str]] = {}
    for group, privileges in plan.items():
        role = _quote(conn, roles[group])
        for table in privileges.select:
            statements.append(f"GRANT SELECT ON TABLE {schema}.{_quote(conn, table)} TO {role}")
        for table in privileges.insert:
            statements.append(f"GRANT INSERT ON TABLE {schema}.{_quote(conn, table)} TO {role}")
        for table, columns in privileges.update.items():
            listed = ", ".join(_quote(conn, column) for column in columns)
            statements.append(
                f"GRANT UPDATE ({listed}) ON TABLE {schema}.{_quote(conn, table)} TO {role}"
            )
        drawn = sorted(sequence for sequence, table in serial if table in privileges.insert)
        for sequence in drawn:
            statements.append(
                f"GRANT USAGE, SELECT ON SEQUENCE {schema}.{_quote(conn, sequence)} TO {role}"
            )
        sequences[group] = drawn
    notes = []
    if _can_grant(conn, "has_schema_privilege(:object, 'USAGE WITH GRANT OPTION')", where.schema):
        statements.append(f"GRANT USAGE ON SCHEMA {schema} TO {every}")
    else:
        notes.append(
            f"USAGE on schema {where.schema} is not {where.owner}'s to grant: people rely on "
            "the schema owner's grant (e.g. to PUBLIC)"
        )
    if _can_grant(
        conn, "has_database_privilege(:object, 'CONNECT WITH GRANT OPTION')", where.database
    ):
        statements.append(f"GRANT CONNECT ON DATABASE {_quote(conn, where.database)} TO {every}")
    else:
        notes.append(
            f"CONNECT on database {where.database} is not {where.owner}'s to grant: people "
            "rely on the database owner's grant (e.g. to PUBLIC)"
        )
    _ddl(conn, ";\n".join(statements))
    return Applied(sequences=sequences, notes=notes)


def grant_membership(conn: Connection, group: str, logins: Iterable[str]) -> None:
    """Make each login a member of ``group`` (a no-op for a login that already is)."""
    members = ", ".join(_quote(conn, login) for login in logins)
    if members:
        _ddl(
            conn,
            f"GRANT {_quote(conn, group)} TO {members}",
            refused=f"cannot add members to {group} (the owner needs ADMIN OPTION on it: a "
            f"database administrator runs GRANT {group} TO the owner WITH ADMIN OPTION, or "
            "give this catalogue group roles of its own with --role-prefix)",
        )


def _sequences(conn: Connection, schema: str, tables: Iterable[str]) -> list[tuple[str, str]]:
    """(sequence, table) for the tables' serial and identity columns."""
    rows = conn.execute(
        text(
            "SELECT s.relname, t.relname FROM pg_class s "
            "JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass "
            "AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') "
            "JOIN pg_class t ON t.oid = d.refobjid "
            "JOIN pg_namespace n ON n.oid = t.relnamespace "
            "WHERE s.relkind = 'S' AND n.nspname = :schema AND t.relname = ANY(:tables)"
        ),
        {"schema": schema, "tables": list(tables)},
    )
    return [(str(row[0]), str(row[1])) for row in rows]


def _can_grant(conn: Connection, check: str, name: str) -> bool:
    return bool(conn.execute(text(f"SELECT {check}"), {"object": name}).scalar())


def _quote(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote_identifier(name)


def _ddl(conn: Connection, sql: str, *, refused: str = "") -> None:
    """Run ``sql``; a refusal by the server (insufficient privilege) becomes ``refused``."""
    try:
        # No parameters: psycopg would otherwise read a '%' in a quoted name as a placeholder.
        conn.exec_driver_sql(sql, execution_options={"no_parameters": True})
    except DBAPIError as exc:
        if not refused or getattr(exc.orig, "sqlstate", None) != _INSUFFICIENT_PRIVILEGE:
            raise
        reason = str(exc.orig).strip().splitlines()[0]
        raise CatalogueError(f"{refused}: {reason}") from None


__all__ = [
    "ADMIN_WRITES",
    "DEFAULT_PREFIX",
    "GROUPS",
    "OWNER_WRITES",
    "UPDATABLE",
    "Applied",
    "Group",
    "Placement",
    "Privileges",
    "RoleFacts",
    "apply_privileges",
    "ensure_group_role",
    "grant_membership",
    "group_names",
    "has_privileges_of",
    "is_member_of",
    "placement",
    "privilege_plan",
    "role_facts",
    "session_roles",
]
