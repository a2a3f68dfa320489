"""Connecting to a catalogue: SQLite by default, PostgreSQL (psycopg 3) for a shared one.

SQLite runs in WAL mode with foreign keys on, a busy timeout, ``synchronous=FULL`` and write
transactions that begin ``IMMEDIATE`` so two writers queue instead of failing half-way
(docs/architecture.md §2.2). PostgreSQL uses the same tables and migrations.

A write waits for the catalogue's write lock (SQLite's ``BEGIN IMMEDIATE``, PostgreSQL's
advisory lock) before it does anything, retrying busy, lock-timeout, serialization and deadlock
failures with backoff and jitter until the ``lock_wait_seconds`` setting runs out. Once the lock
is held, the operation is alone among writers: nothing it read can change under it, so it never
has to be run again, and its audit event takes the next sequence number exactly once.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text

# ``Connection`` and ``Session`` are re-exported: services name them in their signatures
# through storage, which alone imports SQLAlchemy and SQLModel (pyproject.toml's contracts).
from sqlalchemy.engine import URL, make_url
from sqlalchemy.engine import Connection as Connection
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    NoSuchModuleError,
    OperationalError,
    SQLAlchemyError,
)
from sqlmodel import Session as Session

from govern.errors import CatalogueError

BUSY_TIMEOUT_MS = 10_000
#: How long, in all, a write waits for the write lock by default (setting lock_wait_seconds).
LOCK_WAIT_SECONDS = 120.0
#: How long SQLite's own busy handler waits within one attempt at ``BEGIN IMMEDIATE``. It polls
#: after 1, 2, 5, 10... then every 100 ms, so a writer left in one long wait polls seldom and
#: loses the lock again and again to newcomers (writer starvation); short attempts, retried
#: with jittered sleeps, keep every waiter polling as often as the newest.
_BEGIN_BUSY_MS = 20
#: Backoff between attempts: a random sleep up to FIRST, doubling per attempt up to CAP.
_BACKOFF_FIRST_S = 0.002
_BACKOFF_CAP_S = 0.05
#: A process that writes again right after its own commit is running while the writers it
#: kept waiting still sleep between polls, so it would win the lock again and again (a convoy).
#: For a while after it last had to wait, a process first sleeps a random time up to
#: COURTESY before each write; a writer that never meets another never pays it.
_COURTESY_S = 0.02
_COURTESY_FOR_S = 1.0
#: SQLite result codes that mean "another connection holds the lock": BUSY, LOCKED, PROTOCOL
#: (WAL index contention), compared on the primary code (BUSY_RECOVERY, BUSY_SNAPSHOT...).
_SQLITE_BUSY_CODES = frozenset({5, 6, 15})
#: PostgreSQL's serialization_failure, deadlock_detected, lock_not_available (lock_timeout)
#: and query_canceled (a server's statement_timeout during the wait).
_PG_RETRY_SQLSTATES = frozenset({"40001", "40P01", "55P03", "57014"})
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

    def __init__(self, url: str, *, lock_wait_seconds: float = LOCK_WAIT_SECONDS) -> None:
        self.url = normalise_url(url)
        self.lock_wait_seconds = lock_wait_seconds
        #: Until when this process still defers to other writers (see _COURTESY_S).
        self.contended_until = 0.0
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
                _configure_sqlite(engine, self)
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

        It first takes the write lock (on SQLite ``BEGIN IMMEDIATE``, on PostgreSQL the
        advisory lock :data:`PG_WRITE_LOCK`), retrying with backoff and jitter while others
        write, for at most :attr:`lock_wait_seconds` in all; the caller's work starts only
        once the lock is held, so giving up leaves nothing changed.
        """
        wait = _LockWait(self.lock_wait_seconds)
        while True:
            with self.connect() as conn:
                conn = conn.execution_options(**{_WRITE: True})
                with Session(bind=conn, expire_on_commit=False) as session:
                    try:
                        self._take_write_lock(session, wait)
                    except DBAPIError as exc:
                        session.rollback()
                        if not self.is_busy(exc):
                            raise
                        if wait.over():
                            raise self.lock_wait_exceeded() from None
                        wait.pause()
                        continue
                    try:
                        yield session
                        session.commit()
                    except DBAPIError as exc:
                        session.rollback()
                        if not self.is_busy(exc):
                            raise
                        # Not expected once the lock is held; the work is rolled back whole.
                        raise CatalogueError(
                            f"catalogue {self.display_url} was busy ({_first_line(exc)}) and "
                            "the operation was rolled back; nothing was changed, run it again"
                        ) from None
                    except BaseException:
                        session.rollback()
                        raise
                    return

    def _take_write_lock(self, session: Session, wait: _LockWait) -> None:
        # On SQLite this is BEGIN IMMEDIATE, retried until the lock is free (_begin_immediate).
        conn = session.connection()
        if self.is_sqlite:
            return
        # Each statement must see what the writer before committed: an older snapshot, which a
        # server default of REPEATABLE READ would take at the lock's own SELECT, would not.
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
        # Wait in PostgreSQL's lock queue (first come, first served), for the time left.
        conn.exec_driver_sql(
            "SELECT set_config('lock_timeout', %s, true)",
            (f"{max(1, int(wait.remaining() * 1000))}ms",),
        )
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PG_WRITE_LOCK})")
        conn.exec_driver_sql("SET LOCAL lock_timeout TO DEFAULT")

    def is_busy(self, exc: BaseException) -> bool:
        """Whether ``exc`` means "others hold the lock, try again" rather than a real fault."""
        orig = exc.orig if isinstance(exc, DBAPIError) else exc
        if isinstance(orig, sqlite3.Error):
            return (getattr(orig, "sqlite_errorcode", 0) & 0xFF) in _SQLITE_BUSY_CODES
        return getattr(orig, "sqlstate", None) in _PG_RETRY_SQLSTATES

    def lock_wait_exceeded(self) -> CatalogueError:
        return CatalogueError(
            f"catalogue {self.display_url} is busy: another writer held its write lock for "
            f"longer than the {self.lock_wait_seconds:g} s this command waits (setting "
            "lock_wait_seconds); nothing was changed, try again"
        )

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def _configure_sqlite(engine: Engine, db: Database) -> None:
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
        if conn.get_execution_options().get(_WRITE, False):
            _begin_immediate(conn.connection.driver_connection, db)
        else:
            conn.exec_driver_sql("BEGIN")


def _begin_immediate(dbapi_connection: Any, db: Database) -> None:
    """``BEGIN IMMEDIATE``, tried again while another connection holds the write lock.

    Nothing has been done before it, so trying again is always safe. Each attempt waits only
    briefly in SQLite's busy handler (see :data:`_BEGIN_BUSY_MS`); giving up after
    ``db.lock_wait_seconds`` in all is one clean error.
    """
    wait = _LockWait(db.lock_wait_seconds)
    if time.monotonic() < db.contended_until:
        time.sleep(random.uniform(0.0, _COURTESY_S))  # noqa: S311 (jitter)
    dbapi_connection.execute(f"PRAGMA busy_timeout = {_BEGIN_BUSY_MS}")
    try:
        while True:
            try:
                dbapi_connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.Error as exc:
                if not db.is_busy(exc):
                    # As SQLAlchemy would have raised it: Database.connect reports it.
                    raise DBAPIError.instance("BEGIN IMMEDIATE", None, exc, sqlite3.Error) from None
                if wait.over():
                    raise db.lock_wait_exceeded() from None
                db.contended_until = time.monotonic() + _COURTESY_FOR_S
                wait.pause()
    finally:
        dbapi_connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")


class _LockWait:
    """The time a write has left to take the write lock, and the pauses between attempts."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.deadline = time.monotonic() + limit
        self.attempts = 0

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def over(self) -> bool:
        return self.remaining() <= 0.0

    def pause(self) -> None:
        """Sleep a random time up to a bound that doubles each attempt ("full jitter"), so
        waiting writers spread out instead of retrying in step."""
        bound = min(_BACKOFF_CAP_S, _BACKOFF_FIRST_S * 2**self.attempts)
        self.attempts += 1
        time.sleep(min(self.remaining(), random.uniform(0.0, bound)))  # noqa: S311 (jitter)


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
