"""Storage guarantees: SQLite pragmas, IMMEDIATE write transactions, one transaction per
operation including its audit event, and concurrent writers on both backends."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from govern.domain.roles import Role
from govern.errors import PermissionDenied
from govern.services import Context, catalogue, users
from govern.services import audit as audit_service
from govern.storage import crud
from govern.storage.database import BUSY_TIMEOUT_MS, Database, sqlite_pragmas
from govern.storage.tables import Model
from tests.conftest import key_dir
from tests.helpers import CARDS, raw_connection, snapshot, sqlite_file


def test_sqlite_pragmas_are_in_force(sqlite_cat):
    db = Database(sqlite_cat.url)
    try:
        with db.connect() as conn:
            pragmas = sqlite_pragmas(conn)
    finally:
        db.dispose()
    assert pragmas["journal_mode"] == "wal"
    assert pragmas["foreign_keys"] == 1
    assert pragmas["busy_timeout"] >= 5000
    assert pragmas["busy_timeout"] == BUSY_TIMEOUT_MS
    assert pragmas["synchronous"] == 2  # FULL


def test_sqlite_foreign_keys_are_enforced(sqlite_cat):
    db = Database(sqlite_cat.url)
    try:
        with pytest.raises(Exception, match="FOREIGN KEY"), db.write() as session:
            crud.create_version(
                session=session,
                model=Model(id=999, name="ghost", owner="x", created_by="x"),
                created_by="admin",
                version_in={
                    "version": "1.0.0",
                    "risk_tier": "low",
                    "card": {},
                    "card_sha256": "0" * 64,
                },
            )
    finally:
        db.dispose()


def _other_writer(url: str) -> sqlite3.Connection:
    return sqlite3.connect(sqlite_file(url), timeout=0.1, isolation_level=None)


def test_service_writes_hold_the_write_lock_from_their_first_statement(sqlite_cat):
    ctx = sqlite_cat.ctx("admin")
    other = _other_writer(sqlite_cat.url)
    try:
        with ctx.write("test.hold") as tx:
            # The first statement of the operation is a read; IMMEDIATE takes the lock anyway,
            # so no one can slip a write in between our read and our write.
            ctx.require_role(tx.session, [Role.ADMIN], doing="hold the lock")
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
            # WAL: readers are never blocked by the writer.
            assert other.execute("SELECT count(*) FROM govern_user").fetchone()[0] == 7
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    finally:
        other.close()


def test_reads_do_not_take_the_write_lock(sqlite_cat):
    ctx = sqlite_cat.ctx("admin")
    other = _other_writer(sqlite_cat.url)
    try:
        with ctx.read() as session:
            assert crud.count_users(session=session) == 7
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
    finally:
        other.close()


def test_a_second_writer_waits_instead_of_failing(sqlite_cat):
    holder = sqlite_cat.ctx("admin")
    waiter = Context.open(database_url=sqlite_cat.url, user="admin")
    locked = threading.Event()
    outcome: dict[str, object] = {}

    def add_user_later() -> None:
        locked.wait(5)
        started = time.monotonic()
        try:
            outcome["user"] = users.add_user(waiter, "late", role="viewer").name
        except Exception as exc:  # pragma: no cover - reported below
            outcome["error"] = exc
        outcome["waited"] = time.monotonic() - started

    thread = threading.Thread(target=add_user_later)
    thread.start()
    try:
        with holder.write("user.add", "user:early") as tx:
            holder.require_role(tx.session, [Role.ADMIN], doing="add early")
            locked.set()
            time.sleep(0.5)
            crud.create_user(
                session=tx.session, name="early", role="viewer", display_name="", created_by="admin"
            )
            tx.audit(role="viewer")
    finally:
        thread.join(30)
        waiter.close()
    assert "error" not in outcome, outcome
    assert outcome["user"] == "late"
    assert outcome["waited"] >= 0.3
    events = audit_service.audit_log(holder, action="user.add", limit=2)
    assert [e.subject for e in events] == ["user:late", "user:early"]


def test_concurrent_writers_keep_one_valid_chain(cat):
    """Several threads, each with its own connection, appending at once (both backends)."""
    before = snapshot(cat.url).events
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        ctx = Context.open(database_url=cat.url, user="admin")
        try:
            for n in range(8):
                users.add_user(ctx, f"w{index}-{n}", role="viewer")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            ctx.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    verdict = audit_service.verify_audit(cat.ctx("admin"))
    assert verdict.ok, verdict.problems
    assert verdict.events == before + 32


def test_racing_registrations_of_one_version_give_one_winner(cat):
    """Checks and writes of an operation are one unit on both backends: the losers of a race
    to register the same NAME@VERSION get the ordinary refusal, not a database error."""
    from govern.errors import ConflictError

    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def register() -> None:
        ctx = Context.open(database_url=cat.url, user="alice", key_dir=key_dir("alice"))
        try:
            barrier.wait(30)
            catalogue.register_version(ctx, CARDS / "minimal.card.yaml")
            outcomes.append("registered")
        except ConflictError:
            outcomes.append("conflict")
        except BaseException as exc:  # pragma: no cover - reported below
            outcomes.append(f"{type(exc).__name__}: {exc}")
        finally:
            ctx.close()

    threads = [threading.Thread(target=register) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "registered"], outcomes
    assert [r.ref for r in catalogue.list_versions(cat.ctx("admin"))] == ["tiny@1.0.0"]
    assert audit_service.verify_audit(cat.ctx("admin")).ok


# --- one transaction per operation ---------------------------------------------------------


class Boom(RuntimeError):
    pass


def test_failure_inside_an_operation_stores_neither_change_nor_event(cat):
    ctx = cat.ctx("admin")
    before = snapshot(cat.url)
    with pytest.raises(Boom), ctx.write("user.add", "user:zed") as tx:
        crud.create_user(
            session=tx.session, name="zed", role="viewer", display_name="", created_by="admin"
        )
        tx.audit(role="viewer")
        raise Boom
    assert snapshot(cat.url) == before
    with ctx.read() as session:
        assert crud.get_user(session=session, name="zed") is None


def test_failing_register_rolls_back_version_model_and_event(cat, monkeypatch):
    before = snapshot(cat.url)

    def explode(*_args, **_kwargs):
        raise Boom("after the version row and its audit event were written")

    # _detail runs inside register_version's transaction, after tx.audit(...).
    monkeypatch.setattr(catalogue, "_detail", explode)
    with pytest.raises(Boom):
        catalogue.register_version(cat.ctx("alice"), CARDS / "minimal.card.yaml")
    assert snapshot(cat.url) == before
    with raw_connection(cat.url) as conn:
        assert conn.execute("SELECT count(*) FROM model").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM model_version").fetchone()[0] == 0


def test_refusal_rolls_back_but_is_itself_audited(cat):
    before = snapshot(cat.url)
    with pytest.raises(PermissionDenied, match="victor is a viewer"):
        catalogue.register_version(cat.ctx("victor"), CARDS / "minimal.card.yaml")
    after = snapshot(cat.url)
    assert after.versions == before.versions
    assert after.events == before.events + 1
    [event] = audit_service.audit_log(cat.ctx("admin"), limit=1)
    assert (event.actor, event.action, event.subject) == (
        "victor",
        "version.register.refused",
        "tiny@1.0.0",
    )
    assert "needs the role admin or developer" in event.payload["reason"]


def test_each_operation_is_one_event_with_actor_and_time(cat):
    before = snapshot(cat.url).events
    catalogue.register_version(cat.ctx("alice"), CARDS / "minimal.card.yaml")
    [event] = audit_service.audit_log(cat.ctx("admin"), limit=1)
    assert snapshot(cat.url).events == before + 1
    assert event.seq == before + 1
    assert (event.actor, event.action, event.subject) == ("alice", "version.register", "tiny@1.0.0")
    assert event.ts.endswith("Z") and len(event.hash) == 64
    assert len(event.payload["card_sha256"]) == 64
