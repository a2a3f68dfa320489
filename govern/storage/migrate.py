"""Schema revisions: create a catalogue, upgrade an older one, check one is current."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlmodel import Session

from govern.errors import CatalogueError
from govern.storage.database import Database

#: The newest migration in ``migrations/versions``; a test keeps it in step with Alembic.
HEAD_REVISION = "0007"
_SCRIPTS = Path(__file__).resolve().parent / "migrations"
_PG_MIGRATION_LOCK = 0x676F766D  # "govm": one schema upgrade at a time per database


def current_revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(
    db: Database,
    revision: str = "head",
    *,
    then: Callable[[Session, str | None, str | None], None] | None = None,
) -> tuple[str | None, str | None]:
    """Apply migrations up to ``revision``; returns (revision before, revision after).

    Everything happens in one transaction, ``then(session, before, after)`` included, so a
    caller's record of the upgrade (its audit event) commits with the new schema or not at
    all. Concurrent callers queue: SQLite's ``BEGIN IMMEDIATE`` and, on PostgreSQL, an
    advisory lock make the second one find the schema already current.
    """
    from alembic import command  # 0.4 s: only paid by `init` and `db upgrade`
    from alembic.config import Config

    path = db.sqlite_path
    if path is not None and not path.parent.exists():
        raise CatalogueError(
            f"cannot create catalogue {path}: directory {path.parent} does not exist"
        )
    with db.connect() as conn:
        conn = conn.execution_options(govern_write=True)
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
            before = current_revision(conn)
            foreign = sorted(inspect(conn).get_table_names()) if before is None else []
            if foreign:
                # Never build a catalogue inside someone else's database.
                shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
                raise CatalogueError(
                    f"{db.display_url} is not a govern catalogue and not empty (tables: "
                    f"{shown}); use a new file or an empty database"
                )
            if before is not None and before not in _known_revisions():
                raise CatalogueError(
                    f"catalogue {db.display_url} is at schema revision {before}, newer than "
                    "this govern knows; upgrade govern"
                )
            config = Config()
            config.set_main_option("script_location", str(_SCRIPTS))
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
            after = current_revision(conn)
            if then is not None:
                # Joins the transaction above: the session flushes, the block commits.
                with Session(bind=conn, expire_on_commit=False) as session:
                    then(session, before, after)
                    session.flush()
    return before, after


def _known_revisions() -> set[str]:
    return {p.name.split("_", 1)[0] for p in (_SCRIPTS / "versions").glob("[0-9]*_*.py")}


def ensure_current(db: Database) -> None:
    """Refuse to work on a missing or out-of-date catalogue, without writing anything."""
    path = db.sqlite_path
    if path is not None and not path.exists():
        raise CatalogueError(f"no catalogue at {path}; create one with `govern init`")
    with db.connect() as conn:
        revision = current_revision(conn)
        conn.rollback()
    if revision is None:
        raise CatalogueError(
            f"{db.display_url} is not a govern catalogue; create one with `govern init`"
        )
    if revision != HEAD_REVISION:
        if revision in _known_revisions():
            raise CatalogueError(
                f"catalogue {db.display_url} is at schema revision {revision}; upgrade it with "
                "`govern db upgrade`"
            )
        raise CatalogueError(
            f"catalogue {db.display_url} is at schema revision {revision}, newer than this "
            "govern knows; upgrade govern"
        )
