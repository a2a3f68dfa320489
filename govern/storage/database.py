"""Connecting to a catalogue: SQLite by default, PostgreSQL (psycopg 3) for a shared one.

SQLite runs in WAL mode with foreign keys on, a busy timeout, ``synchronous=FULL`` and write
transactions that begin ``IMMEDIATE`` so two writers queue instead of failing half-way
(DESIGN.md section 8). PostgreSQL uses the same tables and migrations.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    NoSuchModuleError,
    OperationalError,
    SQLAlchemyError,
)
from sqlmodel import Session

from govern.errors import CatalogueError

BUSY_TIMEOUT_MS = 10_000
_WRITE = "govern_write"
#: PostgreSQL advisory lock that every write transaction takes first ("gove"): writers queue
#: as they do behind SQLite's BEGIN IMMEDIATE, so an operation's checks (does this version
#: exist? may this user approve?) still hold when it writes, on both backends.
PG_WRITE_LOCK = 0x676F7665
#: PostgreSQL's SQLSTATE for "permission denied" (a login without govern's grants).
_INSUFFICIENT_PRIVILEGE = "42501"


def normalise_url(raw: str) -> URL:
    """Parse a catalogue URL: a plain path is a SQLite file, ``postgresql://`` uses psycopg 3."""
    candidate = raw.strip()
    if not candidate:
        raise CatalogueError(
            "the catalogue URL is empty: give a SQLite path or a URL (--db or GOVERN_DATABASE_URL)"
        )
    if "://" not in candidate:
        candidate = f"sqlite:///{candidate}"
    try:
        url = make_url(candidate)
    except ArgumentError:
        raise CatalogueError(f"{raw!r} is not a database URL") from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            # Each connection would see its own empty database, gone at exit.
            raise CatalogueError(
                f"{raw!r} is an in-memory SQLite database; a catalogue needs a file: sqlite:///PATH"
            )
        return url.set(drivername="sqlite")
    if backend in {"postgresql", "postgres"}:
        if url.get_driver_name() not in {"psycopg", ""} and "+" in url.drivername:
            raise CatalogueError(
                f"{url.drivername}: govern talks to PostgreSQL through psycopg 3; "
                "use postgresql+psycopg://"
            )
        return url.set(drivername="postgresql+psycopg")
    raise CatalogueError(
        f"unsupported catalogue URL {url.render_as_string(hide_password=True)!r}: use "
        "sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
    )


class Database:
    """One catalogue. Sessions come from :meth:`read` and :meth:`write` only."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.display_url = self.url.render_as_string(hide_password=True)
        self._engine: Engine | None = None

    @property
    def dialect(self) -> str:
        return self.url.get_backend_name()

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite or not self.url.database or self.url.database == ":memory:":
            return None
        return Path(self.url.database)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self._create_engine()
        return self._engine

    def _create_engine(self) -> Engine:
        try:
            if self.is_sqlite:
                engine = create_engine(self.url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
                _configure_sqlite(engine)
            else:
                engine = create_engine(self.url, pool_pre_ping=True)
        except (NoSuchModuleError, ImportError, SQLAlchemyError) as exc:
            raise CatalogueError(f"cannot open catalogue {self.display_url}: {exc}") from None
        return engine

    def exists(self) -> bool:
        """Whether a catalogue has been created here (without creating anything)."""
        path = self.sqlite_path
        if self.is_sqlite and path is not None and not path.exists():
            return False
        with self.connect() as conn:
            return inspect(conn).has_table("alembic_version")

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        try:
            opened = self.engine.connect()
        except DBAPIError as exc:
            # e.g. SQLite's "file is not a database" (a DatabaseError, not an OperationalError)
            raise CatalogueError(
                f"cannot use catalogue {self.display_url}: {_first_line(exc)}"
            ) from None
        try:
            with opened as conn:
                yield conn
        except OperationalError as exc:
            raise CatalogueError(
                f"cannot use catalogue {self.display_url}: {_first_line(exc)}"
            ) from None
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) != _INSUFFICIENT_PRIVILEGE:
                raise
            raise CatalogueError(
                f"cannot change catalogue {self.display_url}: {_first_line(exc)}; your database "
                "login may not write there (an admin grants it with `govern db grant --login "
                "NAME`)"
            ) from None

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session; nothing it does is committed."""
        with self.connect() as conn, Session(bind=conn, expire_on_commit=False) as session:
            try:
                yield session
            finally:
                session.rollback()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction: commits whole on success, rolls back on any exception.

        On SQLite it starts with ``BEGIN IMMEDIATE`` so the write lock is taken up front; on
        PostgreSQL with the advisory lock :data:`PG_WRITE_LOCK`, to the same effect.
        """
        with self.connect() as conn:
            conn = conn.execution_options(**{_WRITE: True})
            with Session(bind=conn, expire_on_commit=False) as session:
                try:
                    if not self.is_sqlite:
                        session.connection().exec_driver_sql(
                            f"SELECT pg_advisory_xact_lock({PG_WRITE_LOCK})"
                        )
                    yield session
                    session.commit()
                except BaseException:
                    session.rollback()
                    raise

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN, not the sqlite3 module.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA synchronous = FULL")
            mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
            if mode != "wal" and _is_new_or_govern(cursor):
                # WAL is stored in the file: never switch someone else's database to it.
                cursor.execute("PRAGMA journal_mode = WAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _is_new_or_govern(cursor: Any) -> bool:
    tables = {
        row[0] for row in cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    return not tables or "alembic_version" in tables


def sqlite_pragmas(conn: Connection) -> dict[str, Any]:
    """The pragmas in force on a connection (for ``govern db info`` and tests)."""
    names = ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
    return {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar() for name in names}


def _first_line(exc: BaseException) -> str:
    message = str(getattr(exc, "orig", None) or exc)
    return message.strip().splitlines()[0] if message.strip() else type(exc).__name__


def execute_scalar(conn: Connection, sql: str) -> Any:
    return conn.execute(text(sql)).scalar()
