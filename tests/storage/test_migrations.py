"""Schema migrations and catalogue locations: what `govern init` and `govern db upgrade` do
with new, current, old, foreign, broken and unreachable catalogues.

`govern init` and `govern db upgrade` run as real processes; the commands that read a
catalogue afterwards, and the refusals of every command on the same bad catalogue, run in
process (``invoke_cli``: the same ``run`` that ``python -m govern`` exits with).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlmodel import SQLModel

from govern.policy.evidence import checked
from govern.services import catalogue, subjects
from govern.storage import audit, crud, migrate
from govern.storage.database import Database
from tests.builders import grouping, results_document
from tests.conftest import invoke_cli, run_cli
from tests.helpers import append_legacy_event, assert_clean_failure, raw_connection

SCRIPTS = Path(migrate.__file__).resolve().parent / "migrations"


def _script_directory() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    return ScriptDirectory.from_config(config)


def test_head_revision_is_the_script_directory_head():
    scripts = _script_directory()
    assert scripts.get_heads() == [migrate.HEAD_REVISION]
    known = {rev.revision for rev in scripts.walk_revisions()}
    assert known == migrate._known_revisions()


def test_migrations_match_the_table_definitions(database_url):
    db = Database(database_url)
    try:
        assert migrate.upgrade(db) == (None, migrate.HEAD_REVISION)
        with db.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            differences = compare_metadata(context, SQLModel.metadata)
    finally:
        db.dispose()
    assert differences == []


def _fill_revision_0001(url: str) -> None:
    """A catalogue as govern 0001 left it: a user, a model version, audit events (format 1:
    hash-chained, unsigned), written as that govern's services wrote them."""
    card = {"schema": 1, "model_details": {"name": "legacy"}}
    db = Database(url)
    try:
        assert migrate.upgrade(db, "0001") == (None, "0001")
        with db.write() as session:
            catalogue_id = str(uuid.uuid4())
            crud.set_meta(session=session, key="catalogue_id", value=catalogue_id)
            conn = session.connection()
            append_legacy_event(
                conn,
                actor="admin",
                action="catalogue.init",
                payload={"catalogue_id": catalogue_id, "revision": "0001"},
            )
            users = sa.table(
                "govern_user",
                *(sa.column(n) for n in ("name", "role", "display_name", "active", "created_by")),
                sa.column("created_at", sa.DateTime(timezone=True)),
            )
            conn.execute(
                sa.insert(users).values(
                    name="admin",
                    role="admin",
                    display_name="",
                    active=True,
                    created_by="admin",
                    created_at=dt.datetime.now(dt.UTC),
                )
            )
            append_legacy_event(
                conn,
                actor="admin",
                action="user.add",
                subject="user:admin",
                payload={"role": "admin", "bootstrap": True},
            )
            model = crud.create_model(
                session=session,
                model_in={"name": "legacy", "owner": "alice", "description": "old"},
                created_by="admin",
            )
            crud.create_version(
                session=session,
                model=model,
                created_by="admin",
                version_in={
                    "version": "0.9.0",
                    "risk_tier": "medium",
                    "card": card,
                    "card_sha256": catalogue.card_sha256(card),
                },
            )
            append_legacy_event(
                conn,
                actor="admin",
                action="version.register",
                subject="legacy@0.9.0",
                payload={
                    "card_sha256": catalogue.card_sha256(card),
                    "card_file": "legacy.yaml",
                    "risk_tier": "medium",
                    "artifact": None,
                },
            )
    finally:
        db.dispose()


def test_upgrade_from_0002_keeps_stored_evaluations_checkable(database_url):
    """An evaluation stored at revision 0002 is read from its document after the upgrade."""
    _fill_revision_0001(database_url)
    document = results_document(
        [grouping("sex", {"female": (40, 100), "male": (60, 100)}, total=200)],
        overall={"accuracy": 0.8},
    )
    json_columns = ("columns", "sensitive_features", "packages", "params", "results")
    evaluation = sa.table(
        "evaluation",
        *(sa.column(name) for name in _EVALUATION_0002 if name not in json_columns),
        *(sa.column(name, sa.JSON) for name in json_columns),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    db = Database(database_url)
    try:
        assert migrate.upgrade(db, "0002") == ("0001", "0002")
        with db.write() as session:
            session.connection().execute(
                sa.insert(evaluation).values(
                    version_id=1,
                    dataset_name="holdout.csv",
                    dataset_sha256="d" * 64,
                    rows=200,
                    target="y",
                    prediction_source="model",
                    seed=0,
                    created_by="bob",
                    columns=[],
                    sensitive_features=["sex"],
                    packages={},
                    params={},
                    results=document,
                    created_at=dt.datetime(2026, 11, 20, tzinfo=dt.UTC),
                )
            )
            append_legacy_event(
                session.connection(),
                actor="bob",
                action="evaluation.create",
                subject="legacy@0.9.0",
                payload={"evaluation_id": 1, "dataset": {"sha256": "d" * 64}},
            )
    finally:
        db.dispose()

    result = run_cli("db", "upgrade", db=database_url)
    assert result.returncode == 0, result.stderr
    log = invoke_cli("audit", "log", "--json", db=database_url)
    assert '"catalogue.upgrade"' in log.stdout
    assert invoke_cli("audit", "verify", db=database_url).returncode == 0
    db = Database(database_url)
    try:
        with db.read() as session:
            (snapshot,) = subjects.snapshots_for(session)
    finally:
        db.dispose()
    assert snapshot.evaluation is not None
    # what rules read of it, checked as it was decoded
    assert snapshot.evaluation.results == checked(document)


def _digest_parts(conn: sa.Connection) -> tuple[bool, bool]:
    """Whether ``evaluation.digest`` and the trigger that cleared it (revision 0004) exist."""
    column = "digest" in {c["name"] for c in inspect(conn).get_columns("evaluation")}
    if conn.dialect.name == "sqlite":
        query = "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name = :name"
    else:
        query = "SELECT count(*) FROM pg_trigger WHERE tgname = :name"
    trigger = conn.execute(sa.text(query), {"name": "evaluation_digest_stale"}).scalar()
    return column, bool(trigger)


def test_revision_0006_drops_the_digest_and_its_trigger_and_downgrades(database_url):
    """The digest is gone with its trigger; the downgrade restores both."""
    from alembic import command

    db = Database(database_url)
    try:
        assert migrate.upgrade(db, "0005") == (None, "0005")
        with db.connect() as conn:
            assert _digest_parts(conn) == (True, True)
        assert migrate.upgrade(db, "0006") == ("0005", "0006")
        with db.connect() as conn:
            assert _digest_parts(conn) == (False, False)
        with db.connect() as conn, conn.begin():
            config = Config()
            config.set_main_option("script_location", str(SCRIPTS))
            config.attributes["connection"] = conn
            command.downgrade(config, "0005")
        with db.connect() as conn:
            assert migrate.current_revision(conn) == "0005"
            assert _digest_parts(conn) == (True, True)
    finally:
        db.dispose()


def test_signed_catalogue_upgrades_from_0005_with_evidence_pointing_at_evaluations(cat):
    """`govern db upgrade` of a signed 0005 catalogue whose evaluations have explanations and
    metrics pointing at them: the admin signs the upgrade, the rows survive, the log verifies.

    (Dropping the column by rebuilding the table broke those foreign keys on SQLite, and the
    signed upgrade read the settings as if the schema were already current.)
    """
    from alembic import command

    from tests.builders import register, results_by_sex, store_evaluation

    ref = register(cat)
    evaluation_id = store_evaluation(
        cat.ctx("bob"), ref, results_by_sex(accuracy=0.8, female_rate=0.7)
    )
    db = Database(cat.url)
    try:
        with db.write() as session:
            session.connection().execute(
                sa.text(
                    "INSERT INTO explanation (evaluation_id, kind, payload, created_at) "
                    "VALUES (:id, 'global', '{}', :at)"
                ),
                {"id": evaluation_id, "at": dt.datetime(2026, 11, 20, tzinfo=dt.UTC)},
            )
        with db.connect() as conn, conn.begin():
            config = Config()
            config.set_main_option("script_location", str(SCRIPTS))
            config.attributes["connection"] = conn
            command.downgrade(config, "0005")
    finally:
        db.dispose()
    cat.close()
    assert run_cli("check", ref, user="carol", db=cat.url).returncode == 2  # schema 0005

    upgraded = run_cli("db", "upgrade", user="admin", db=cat.url)
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"from schema 0005 to {migrate.HEAD_REVISION}" in upgraded.stdout
    verified = run_cli("audit", "verify", user="carol", db=cat.url)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    log = run_cli("audit", "log", "--json", user="carol", db=cat.url)
    assert '"catalogue.upgrade"' in log.stdout
    db = Database(cat.url)
    try:
        with db.connect() as conn:
            assert _digest_parts(conn) == (False, False)
            count = "SELECT count(*) FROM explanation WHERE evaluation_id = :id"
            assert conn.execute(sa.text(count), {"id": evaluation_id}).scalar() == 1
    finally:
        db.dispose()
    assert run_cli("check", ref, user="carol", db=cat.url).returncode in {0, 1}


_EVALUATION_0002 = (
    "version_id", "dataset_name", "dataset_sha256", "rows", "target", "prediction_source",
    "seed", "created_by",
)  # fmt: skip


@pytest.mark.parametrize("command", [("init",), ("db", "upgrade")])
def test_upgrade_from_0001_keeps_the_data(database_url, command):
    _fill_revision_0001(database_url)
    stale = run_cli("list", db=database_url)
    lines = assert_clean_failure(stale)
    assert len(lines) == 1, lines
    assert "schema revision 0001" in lines[0] and "govern db upgrade" in lines[0]

    result = run_cli(*command, db=database_url)
    assert result.returncode == 0, result.stderr
    assert f"from schema 0001 to {migrate.HEAD_REVISION}" in result.stdout

    listed = invoke_cli("list", "--json", db=database_url)
    assert listed.returncode == 0, listed.stderr
    assert '"legacy"' in listed.stdout and '"0.9.0"' in listed.stdout
    log = invoke_cli("audit", "log", "--json", db=database_url)
    assert '"catalogue.upgrade"' in log.stdout
    verified = invoke_cli("audit", "verify", db=database_url)
    assert verified.returncode == 0 and "4 events" in verified.stdout, verified
    db = Database(database_url)
    try:
        with db.connect() as conn:
            assert migrate.current_revision(conn) == migrate.HEAD_REVISION
            assert inspect(conn).has_table("evaluation")
    finally:
        db.dispose()


def test_init_twice_is_safe_and_writes_no_duplicate_events(database_url):
    first = run_cli("init", "--json", db=database_url)
    assert first.returncode == 0, first.stderr
    events = _event_count(database_url)
    assert events == 1  # catalogue.init: the first admin, their key and the settings in one
    second = run_cli("init", db=database_url)
    assert second.returncode == 0, second.stderr
    assert "is up to date" in second.stdout
    assert _event_count(database_url) == events
    upgraded = run_cli("db", "upgrade", db=database_url)
    assert upgraded.returncode == 0 and "is up to date" in upgraded.stdout
    assert _event_count(database_url) == events


def _event_count(url: str) -> int:
    with raw_connection(url) as conn:
        return conn.execute("SELECT count(*) FROM audit_event").fetchone()[0]


def test_newer_schema_is_refused(database_url):
    assert run_cli("init", db=database_url).returncode == 0
    with raw_connection(database_url) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
        conn.commit()
    for command in (("list",), ("init",), ("db", "upgrade")):
        runner = run_cli if command == ("init",) else invoke_cli
        lines = assert_clean_failure(runner(*command, db=database_url))
        assert len(lines) == 1 and "newer than this govern knows" in lines[0], (command, lines)


def test_db_upgrade_does_not_create_a_missing_catalogue(tmp_path):
    path = tmp_path / "absent.db"
    lines = assert_clean_failure(run_cli("db", "upgrade", db=f"sqlite:///{path}"))
    assert lines == [f"error: no catalogue at {path}; create one with `govern init`"]
    assert list(tmp_path.glob("absent.db*")) == []
    for command in (("list",), ("audit", "verify"), ("users", "list")):
        assert_clean_failure(invoke_cli(*command, db=str(path)))
        assert list(tmp_path.glob("absent.db*")) == []


@pytest.mark.postgres
def test_db_upgrade_does_not_create_a_catalogue_in_an_empty_postgres(postgres_url):
    lines = assert_clean_failure(run_cli("db", "upgrade", db=postgres_url))
    assert len(lines) == 1 and "not a govern catalogue" in lines[0]
    db = Database(postgres_url)
    try:
        with db.connect() as conn:
            assert inspect(conn).get_table_names() == []
    finally:
        db.dispose()


def test_init_in_a_missing_directory(tmp_path):
    path = tmp_path / "no" / "such" / "dir" / "govern.db"
    lines = assert_clean_failure(run_cli("init", db=str(path)))
    assert len(lines) == 1 and "does not exist" in lines[0]
    assert not (tmp_path / "no").exists()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _foreign_sqlite(path: Path) -> None:
    import sqlite3

    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL)")
    conn.execute("INSERT INTO invoices (amount) VALUES (9.5)")
    conn.commit()
    conn.close()


@pytest.mark.parametrize("kind", ["foreign-sqlite", "garbage"])
@pytest.mark.parametrize(
    "command", [("init",), ("db", "upgrade"), ("list",), ("audit", "verify"), ("users", "list")]
)
def test_not_a_catalogue_gives_one_line_and_is_left_alone(tmp_path, kind, command):
    path = tmp_path / "other.db"
    if kind == "garbage":
        path.write_bytes(hashlib.sha512(b"not a database").digest() * 100)
        expected = "file is not a database"
    else:
        _foreign_sqlite(path)
        expected = "not a govern catalogue"
    before = _digest(path)
    # init as a real process; the other commands meet the same file in process
    runner = run_cli if command == ("init",) else invoke_cli
    lines = assert_clean_failure(runner(*command, db=str(path)))
    assert len(lines) == 1 and expected in lines[0], lines
    assert _digest(path) == before


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("mysql://root@localhost/govern", "unsupported catalogue URL"),
        ("oracle://scott:tiger@localhost/db", "unsupported catalogue URL"),
        ("postgresql+asyncpg://u@localhost/db", "psycopg 3"),
        ("sqlite://", "in-memory SQLite"),
        ("sqlite:///:memory:", "in-memory SQLite"),
        ("sqlite+pysqlcipher://", "in-memory SQLite"),
    ],
)
def test_unsupported_urls_exit_2(url, fragment, tmp_path):
    for command in (("list",), ("init",)):
        lines = assert_clean_failure(invoke_cli(*command, db=url, cwd=tmp_path))
        assert len(lines) == 1 and fragment in lines[0], lines
    assert list(tmp_path.iterdir()) == []


def test_unsupported_url_does_not_show_the_password():
    lines = assert_clean_failure(run_cli("list", db="mysql://root:hunter2@localhost/govern"))
    assert "hunter2" not in lines[0]


def test_unreachable_postgres_exits_2_with_one_line():
    url = "postgresql+psycopg://govern:secret@127.0.0.1:1/govern"
    for command in (("init",), ("list",)):
        lines = assert_clean_failure(run_cli(*command, db=url))
        assert len(lines) == 1, lines
        assert "cannot use catalogue" in lines[0] and "127.0.0.1" in lines[0]
        assert "secret" not in lines[0]


# --- init is one transaction -------------------------------------------------------------


class Boom(RuntimeError):
    pass


def _tables(url: str) -> list[str]:
    db = Database(url)
    try:
        with db.connect() as conn:
            return sorted(inspect(conn).get_table_names())
    finally:
        db.dispose()


def test_failed_init_leaves_no_half_built_catalogue(database_url, monkeypatch):
    """The schema, the catalogue id, the first admin and their events commit together."""
    from govern.services import Context, catalogue

    def explode(**_kwargs):
        raise Boom("after the schema was built, before the first admin")

    ctx = Context.open(database_url=database_url, user="admin")
    try:
        with monkeypatch.context() as patched, pytest.raises(Boom):
            patched.setattr(crud, "create_user", explode)
            catalogue.init_catalogue(ctx)
    finally:
        ctx.close()
    assert _tables(database_url) == []
    result = run_cli("init", db=database_url)
    assert result.returncode == 0, result.stderr
    assert _event_count(database_url) == 1


def test_failed_upgrade_keeps_the_old_schema_and_logs_nothing(database_url, monkeypatch):
    from govern.services import Context, catalogue

    _fill_revision_0001(database_url)
    events = _event_count(database_url)

    def explode(*_args, **_kwargs):
        raise Boom("while recording the upgrade")

    ctx = Context.open(database_url=database_url, user="admin")
    try:
        with monkeypatch.context() as patched, pytest.raises(Boom):
            patched.setattr(audit, "append_event", explode)
            catalogue.init_catalogue(ctx)
    finally:
        ctx.close()
    db = Database(database_url)
    try:
        with db.connect() as conn:
            assert migrate.current_revision(conn) == "0001"
            assert not inspect(conn).has_table("evaluation")
    finally:
        db.dispose()
    assert _event_count(database_url) == events
    # Retrying records the upgrade it performs.
    assert run_cli("db", "upgrade", db=database_url).returncode == 0
    log = invoke_cli("audit", "log", "--action", "catalogue", "--json", db=database_url)
    assert '"catalogue.upgrade"' in log.stdout


def test_concurrent_inits_build_one_catalogue(database_url, tmp_path):
    """Several `govern init` at once on a new catalogue: all succeed, one is the creator."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "GOVERN_DATABASE_URL": database_url, "GOVERN_USER": "admin"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "govern", "init", "--json"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [(p.wait(120), *p.communicate()) for p in procs]
    assert [code for code, _out, _err in results] == [0, 0, 0], results
    created = [json.loads(out)["created"] for _code, out, _err in results]
    assert created.count(True) == 1, results
    assert _event_count(database_url) == 1
    verified = invoke_cli("audit", "verify", db=database_url)
    assert verified.returncode == 0, verified.stderr
