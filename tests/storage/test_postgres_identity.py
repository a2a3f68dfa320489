"""PostgreSQL: the database login is the person (issue #20, item 6).

On a shared catalogue each person logs in with a role of their own. ``govern db grant`` gives
those logins what govern needs and nothing more, and the governance setting ``identity:
database-login`` makes the login the only name a person can act under. These tests run on a
real server as real logins: what govern refuses, and what PostgreSQL itself refuses to a
person's login whichever client they use.

Login roles are cluster-wide and tests run in parallel, so every login carries a per-test
suffix and is dropped afterwards; the catalogue's users are named after the logins. The
shared group roles (``govern_reader``, ``govern_writer``, ``govern_admin``) are created
idempotently by the grant and stay, as they would on a real server.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import errors, sql
from sqlalchemy.engine import make_url

from govern.services import users
from tests.conftest import (
    POSTGRES_URL,
    SAMPLE,
    Catalogue,
    SchemaTemplates,
    invoke_cli,
    make_catalogue,
    person_env,
    postgres_database,
    public_key,
)
from tests.helpers import assert_clean_failure

pytestmark = pytest.mark.postgres

CARD = SAMPLE / "credit-risk-1.0.0.card.yaml"
REF = "credit-risk@1.0.0"
DATABASE_LOGIN = "schema: govern-settings/1\nidentity: database-login\n"

#: The people of these tests: role in the catalogue, and the `db grant` option for their login.
PEOPLE = {
    "ann": ("admin", "--admin"),
    "alice": ("developer", "--login"),
    "bob": ("validator", "--login"),
    "carol": ("approver", "--login"),
    "erin": ("approver", "--login"),
    "dave": ("compliance", "--login"),
    "victor": ("viewer", "--reader"),
}

#: The columns a writer may change, and nothing else (govern.storage.grants.UPDATABLE), written
#: out here so that a change to what people may rewrite is a visible change to this test.
WRITER_UPDATES = {
    "model": {"business_owner", "business_unit", "description", "owner"},
    "model_version": {"next_validation_due", "state", "updated_at"},
}
#: An admin's login may also change these (users set-role/deactivate, key and certificate
#: revocation).
ADMIN_UPDATES = {
    **WRITER_UPDATES,
    "govern_user": {"active", "role"},
    "org_certificate": {"changed_at", "reason", "status"},
    "user_key": {"revoked_at", "revoked_by", "revoked_reason", "status"},
}
#: Written by admins' actions only: users, keys, certificates, settings revisions.
ADMIN_WRITES = {"govern_user", "user_key", "org_certificate", "governance_settings"}
#: Written by `govern init` and `govern db upgrade` (the owner) only.
OWNER_WRITES = {"alembic_version", "govern_meta"}


def dbapi(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def login_url(url: str, login: str) -> str:
    """``url`` with ``login`` as the user (trust authentication: no password)."""
    return make_url(url).set(username=login).render_as_string(hide_password=False)


@contextmanager
def superuser(url: str = POSTGRES_URL) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(dbapi(url), autocommit=True) as conn:
        yield conn


class Logins:
    """Login roles made for one test, with a suffix of its own, dropped after it."""

    def __init__(self) -> None:
        self.suffix = uuid.uuid4().hex[:8]
        self.made: list[str] = []

    def create(self, name: str, *attributes: str) -> str:
        login = f"{name}_{self.suffix}"
        extra = sql.SQL(" ".join(attributes))  # attribute keywords from this file only
        with superuser() as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN {}").format(sql.Identifier(login), extra))
        self.made.append(login)
        return login

    def drop(self) -> None:
        with superuser() as conn:
            for login in reversed(self.made):
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(login)))


@pytest.fixture
def logins() -> Iterator[Logins]:
    made = Logins()
    yield made
    made.drop()


@pytest.fixture
def pg_cat(schema_templates: SchemaTemplates) -> Iterator[Catalogue]:
    """A PostgreSQL catalogue owned by the server's superuser, with the usual cast."""
    with postgres_database(template=schema_templates.postgres()) as url:
        made = make_catalogue(url)
        yield made
        made.close()


@dataclass
class Shared:
    """A shared catalogue whose people log in as themselves, under ``identity:
    database-login``; the owner's login (the superuser) is nobody's."""

    cat: Catalogue
    tmp: Path
    suffix: str
    #: person -> their database login
    logins: dict[str, str] = field(default_factory=dict)
    #: person -> their user name in the catalogue: their login, in lower case
    users: dict[str, str] = field(default_factory=dict)

    def url(self, person: str) -> str:
        return login_url(self.cat.url, self.logins[person])

    def run(
        self, person: str, *args: str, user: str | None = None, key_of: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``govern ARGS`` logged in as ``person``, acting as ``user`` (default: the person)
        with the key of ``key_of`` (default: the acting user's own)."""
        env = person_env(self.users[key_of]) if key_of is not None else None
        return invoke_cli(
            *args, user=user or self.users[person], db=self.url(person), env=env, cwd=self.tmp
        )

    def ok(self, person: str, *args: str) -> str:
        result = self.run(person, *args)
        assert result.returncode == 0, (person, args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        return result.stdout

    def query(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        """What the catalogue holds, read by the superuser (not through govern)."""
        with superuser(self.cat.url) as conn:
            return conn.execute(statement, params).fetchall()  # type: ignore[arg-type]

    def head(self) -> tuple[int, str]:
        seq, hash_ = self.query("SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1")[0]
        return int(seq), str(hash_)


def setup_people(cat: Catalogue, tmp: Path, logins: Logins) -> Shared:
    """Logins and users for :data:`PEOPLE` (bob's login in capitals: names are compared
    without case), the grant, and ``identity: database-login``, all by the catalogue's first
    admin connected as the owner."""
    shared = Shared(cat, tmp, logins.suffix)
    for person, (role, _option) in PEOPLE.items():
        login = logins.create(person.title() if person == "bob" else person)
        shared.logins[person], shared.users[person] = login, login.lower()
        users.add_user(cat.ctx("admin"), login.lower(), role=role, key=public_key(login.lower()))
    options = [f"{option}={shared.logins[p]}" for p, (_role, option) in PEOPLE.items()]
    granted = invoke_cli("db", "grant", *options, user="admin", db=cat.url)
    assert granted.returncode == 0, granted.stderr
    assert granted.stderr == ""  # every login is a user; nothing left to a DBA
    settings = tmp / "org.yaml"
    settings.write_text(DATABASE_LOGIN, encoding="utf-8")
    applied = invoke_cli("settings", "apply", str(settings), user="admin", db=cat.url)
    assert applied.returncode == 0, applied.stderr
    return shared


@pytest.fixture
def shared(logins: Logins, pg_cat: Catalogue, tmp_path: Path) -> Shared:
    # logins first: they are dropped after the catalogue, whose grants depend on them
    return setup_people(pg_cat, tmp_path, logins)


# --- identity: database-login -------------------------------------------------------------------


def test_a_login_acts_as_its_own_user_and_no_one_else(shared: Shared) -> None:
    s = shared
    alice, bob = s.logins["alice"], s.users["bob"]
    s.ok("alice", "register", str(CARD))
    s.ok("alice", "submit", REF, "--comment", "ready for review")

    decisions = "SELECT id, action, actor FROM decision ORDER BY id"
    state = "SELECT state FROM model_version"
    before = (s.head(), s.query(decisions), s.query(state))
    # alice's login claiming to be bob, even with bob's own key
    refused = s.run(
        "alice", "request-changes", REF, "--comment", "needs work", user=bob, key_of="bob"
    )
    (line,) = assert_clean_failure(refused)
    assert line == (
        f"error: cannot act as {bob} while logged in to the database as {alice}: this catalogue "
        "requires the acting user to be the session's database login (setting identity: "
        "database-login)"
    )
    assert (s.query(decisions), s.query(state)) == before[1:]
    # the log gained the refusal and nothing else: unsigned, naming who was claimed
    (event,) = s.query(
        "SELECT action, actor, signature, prev_hash FROM audit_event WHERE seq > %s",
        before[0][0],
    )
    assert event == ("version.request_changes.refused", bob, None, before[0][1])

    # bob's login (Bob_...) is the user bob_...: names are compared without case
    assert s.logins["bob"] != bob
    s.ok("bob", "request-changes", REF, "--comment", "add an age-group analysis")
    assert s.query(state) == [("changes_requested",)]

    # the owner's login belongs to no one, so it can no longer act, not even as the admin
    owner = invoke_cli("users", "add", "zed", "--role", "viewer", user="admin", db=s.cat.url)
    (line,) = assert_clean_failure(owner)
    assert "while logged in to the database as govern" in line
    assert s.query("SELECT name FROM govern_user WHERE name = 'zed'") == []


def test_database_login_identity_needs_postgresql(sqlite_cat: Catalogue, tmp_path: Path) -> None:
    settings = tmp_path / "org.yaml"
    settings.write_text(DATABASE_LOGIN, encoding="utf-8")
    result = invoke_cli("settings", "apply", str(settings), user="admin", db=sqlite_cat.url)
    (line,) = assert_clean_failure(result)
    assert "identity: database-login needs a PostgreSQL catalogue" in line


# --- what PostgreSQL refuses a person's login ----------------------------------------------------

TAMPERING = [
    "ALTER TABLE audit_event DISABLE TRIGGER ALL",
    "ALTER TABLE decision DROP COLUMN actor",
    "DROP TABLE decision",
    "DELETE FROM decision",
    "UPDATE decision SET actor = 'mallory'",
    "UPDATE audit_event SET actor = 'mallory'",
    "DELETE FROM audit_event",
    "TRUNCATE audit_event",
    "DELETE FROM governance_settings",
    "UPDATE governance_settings SET document = '{}'",
    "DELETE FROM waiver",
    "UPDATE waiver SET expires_on = '2999-12-31'",
    "UPDATE model_version SET card_sha256 = 'forged'",
    "UPDATE evaluation SET results = '{}'",
    "DELETE FROM user_key",
    "UPDATE user_key SET user_name = 'mallory'",
    "INSERT INTO govern_meta (key, value) VALUES ('catalogue_id', 'forged')",
    "UPDATE alembic_version SET version_num = '0001'",
    "CREATE TRIGGER forged BEFORE INSERT ON decision FOR EACH ROW "
    "EXECUTE FUNCTION govern_audit_append_only()",
]
#: What a writer is refused beyond that: what only an admin's action writes.
ADMINISTERING = [
    "UPDATE govern_user SET role = 'admin'",
    "INSERT INTO govern_user (name, role, display_name, active, created_at, created_by, kind, "
    "name_key) VALUES ('mallory', 'admin', '', true, now(), 'x', 'person', 'mallory')",
    "INSERT INTO governance_settings (revision, document, sha256, created_at, created_by) "
    "VALUES (99, '{}', 'x', now(), 'x')",
    "UPDATE user_key SET status = 'revoked'",
]
#: What a reader is refused beyond those: every write.
WRITING = [
    "INSERT INTO decision (version_id, action, from_state, to_state, actor, role, comment, "
    "created_at) VALUES (1, 'approve', 'submitted', 'approved', 'x', 'approver', '', now())",
    "UPDATE model_version SET state = 'deployed'",
    "SELECT * FROM model_version FOR UPDATE",
]


def test_a_person_login_cannot_rewrite_delete_or_alter_the_record(shared: Shared) -> None:
    s = shared
    s.ok("alice", "register", str(CARD))
    s.ok("alice", "submit", REF)
    before = (s.head(), s.query("SELECT * FROM decision ORDER BY id"))
    for person, statements in (
        ("ann", TAMPERING),
        ("alice", TAMPERING + ADMINISTERING),
        ("victor", TAMPERING + ADMINISTERING + WRITING),
    ):
        with psycopg.connect(dbapi(s.url(person)), autocommit=True) as conn:
            assert conn.execute("SELECT session_user").fetchone() == (s.logins[person],)
            for statement in statements:
                with pytest.raises(errors.InsufficientPrivilege):
                    conn.execute(statement)
                    pytest.fail(f"{person}'s login could run: {statement}")
            # what govern itself needs still works through any client: reading
            assert conn.execute("SELECT count(*) FROM audit_event").fetchone() == (before[0][0],)
    assert (s.head(), s.query("SELECT * FROM decision ORDER BY id")) == before
    verified = s.run("victor", "audit", "verify")  # a reader's login verifies the log
    assert verified.returncode == 0, verified.stderr

    # what the grants must allow (govern changes a version's state) is caught by the log
    with psycopg.connect(dbapi(s.url("alice")), autocommit=True) as conn:
        conn.execute("UPDATE model_version SET state = 'approved'")
    forged = s.run("victor", "audit", "verify")
    assert forged.returncode == 1, (forged.stdout, forged.stderr)
    assert (
        f"model_version {REF} state: is 'approved', but the log says 'submitted'" in forged.stderr
    )


def test_the_append_only_trigger_holds_even_for_a_role_allowed_to_update(
    logins: Logins, pg_cat: Catalogue
) -> None:
    """Privileges are the first wall; the audit log's trigger is the second, for anyone who
    is granted UPDATE or DELETE on it outside govern's grant. (The catalogue is dropped
    before the login, and its grant with it.)"""
    extra = logins.create("auditor")
    with superuser(pg_cat.url) as conn:
        conn.execute(
            sql.SQL("GRANT UPDATE, DELETE ON audit_event TO {}").format(sql.Identifier(extra))
        )
    with psycopg.connect(dbapi(login_url(pg_cat.url, extra)), autocommit=True) as conn:
        for statement in ("UPDATE audit_event SET actor = 'mallory'", "DELETE FROM audit_event"):
            with pytest.raises(errors.RaiseException, match="audit log is append-only"):
                conn.execute(statement)


def test_the_group_roles_hold_exactly_what_govern_needs(shared: Shared) -> None:
    s = shared
    tables = {
        name
        for (name,) in s.query(
            "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace "
            "AND relkind = 'r'"
        )
    }
    assert {"audit_event", "decision", "waiver", "governance_settings"} <= tables

    def table_privileges(role: str) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for table, privilege in s.query(
            "SELECT c.relname, a.privilege_type FROM pg_class c, aclexplode(c.relacl) a "
            "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' "
            "AND a.grantee = %s::regrole",
            role,
        ):
            found.setdefault(table, set()).add(privilege)
        return found

    def column_privileges(role: str) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for table, column, privilege in s.query(
            "SELECT c.relname, t.attname, a.privilege_type FROM pg_attribute t "
            "JOIN pg_class c ON c.oid = t.attrelid, aclexplode(t.attacl) a "
            "WHERE c.relnamespace = 'public'::regnamespace AND a.grantee = %s::regrole",
            role,
        ):
            assert privilege == "UPDATE", (table, column, privilege)
            found.setdefault(table, set()).add(column)
        return found

    def sequence_privileges(role: str) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for sequence, privilege in s.query(
            "SELECT c.relname, a.privilege_type FROM pg_class c, aclexplode(c.relacl) a "
            "WHERE c.relkind = 'S' AND a.grantee = %s::regrole",
            role,
        ):
            found.setdefault(sequence, set()).add(privilege)
        return found

    def inserts(excluded: set[str]) -> dict[str, set[str]]:
        return {t: {"SELECT"} if t in excluded else {"SELECT", "INSERT"} for t in tables}

    assert table_privileges("govern_reader") == {table: {"SELECT"} for table in tables}
    assert column_privileges("govern_reader") == {}
    assert sequence_privileges("govern_reader") == {}
    assert table_privileges("govern_writer") == inserts(OWNER_WRITES | ADMIN_WRITES)
    assert column_privileges("govern_writer") == WRITER_UPDATES
    writer_sequences = sequence_privileges("govern_writer")
    assert {"decision_id_seq", "waiver_id_seq"} <= set(writer_sequences)
    assert "user_key_id_seq" not in writer_sequences
    assert set(map(frozenset, writer_sequences.values())) == {frozenset({"USAGE", "SELECT"})}
    assert table_privileges("govern_admin") == inserts(OWNER_WRITES)
    assert column_privileges("govern_admin") == ADMIN_UPDATES
    assert set(sequence_privileges("govern_admin")) == {*writer_sequences, "user_key_id_seq"}
    for role in ("govern_reader", "govern_writer", "govern_admin"):
        ((can_login, superuser_, owns),) = s.query(
            "SELECT rolcanlogin, rolsuper, pg_has_role(rolname, 'govern', 'MEMBER') "
            "FROM pg_roles WHERE rolname = %s",
            role,
        )
        assert (can_login, superuser_, owns) == (False, False, False)

    # granting again converges: a privilege added by hand is taken back
    with superuser(s.cat.url) as conn:
        conn.execute("GRANT DELETE ON decision TO govern_writer")
        conn.execute("GRANT UPDATE (actor) ON decision TO govern_writer")
    again = s.run("ann", "db", "grant", "--json")
    # ann is an admin but her login is not the owner: the grant is refused and recorded
    (line,) = assert_clean_failure(again)
    assert f"the database login {s.logins['ann']} does not hold the privileges of govern" in line
    assert s.query("SELECT actor FROM audit_event WHERE action = 'database.grant.refused'") == [
        (s.users["ann"],)
    ]
    assert table_privileges("govern_writer")["decision"] == {"SELECT", "INSERT", "DELETE"}
    with superuser(s.cat.url) as conn:  # ann holds the owner's privileges, for this once
        conn.execute(sql.SQL("GRANT govern TO {}").format(sql.Identifier(s.logins["ann"])))
    try:
        s.ok("ann", "db", "grant")
    finally:
        with superuser(s.cat.url) as conn:
            conn.execute(sql.SQL("REVOKE govern FROM {}").format(sql.Identifier(s.logins["ann"])))
    assert table_privileges("govern_writer")["decision"] == {"SELECT", "INSERT"}
    assert column_privileges("govern_writer") == WRITER_UPDATES


# --- the whole workflow as person logins ----------------------------------------------------------


def test_people_use_govern_normally_through_their_own_logins(shared: Shared) -> None:
    s = shared
    data = str(SAMPLE / "credit_holdout_scored.csv")
    s.ok("alice", "register", str(CARD))
    s.ok(
        "bob",
        "evaluate",
        REF,
        "--data",
        data,
        "--target",
        "credit",
        "--positive",
        "1",
        "--sensitive",
        "sex",
        "--predictions",
        "pred",
    )
    # stored by bob's own login: an INSERT, nothing updated afterwards
    assert s.query("SELECT created_by FROM evaluation") == [(s.users["bob"],)]
    s.ok("bob", "check", REF)
    expires = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=30)).isoformat()
    s.ok(
        "dave",
        "waive",
        REF,
        "--rule",
        "baseline/explanations-present",
        "--reason",
        "explanations follow with the next evaluation",
        "--expires",
        expires,
    )
    s.ok("alice", "submit", REF, "--comment", "first version")
    s.ok("carol", "approve", REF, "--comment", "fine")
    s.ok("erin", "approve", REF, "--comment", "agreed")
    s.ok("carol", "deploy", REF, "--comment", "first champion")
    # a Markdown card records its Report row as a PDF does, without the PDF's seconds
    s.ok("alice", "report", REF, "-o", str(s.tmp / "card.md"))
    assert s.query("SELECT state FROM model_version") == [("deployed",)]
    assert s.query("SELECT granted_by FROM waiver") == [(s.users["dave"],)]
    assert s.query("SELECT format, created_by FROM report") == [("md", s.users["alice"])]
    assert [row[0] for row in s.query("SELECT actor FROM decision ORDER BY id")] == [
        s.users[p] for p in ("alice", "carol", "erin", "carol")
    ]

    # an admin's own login administers: users, roles, keys, settings
    newcomer = f"frank_{s.suffix}"
    s.ok("ann", "users", "add", newcomer, "--role", "viewer", "--key", str(public_key(newcomer)))
    s.ok("ann", "users", "set-role", newcomer, "--role", "developer")
    s.ok("ann", "users", "deactivate", newcomer, "--reason", "left the team")
    settings = s.tmp / "org2.yaml"
    settings.write_text(DATABASE_LOGIN + "max_waiver_days: 90\n", encoding="utf-8")
    s.ok("ann", "settings", "apply", str(settings))
    assert s.query(
        "SELECT u.active, k.status FROM govern_user u JOIN user_key k ON k.user_name = u.name "
        "WHERE u.name = %s",
        newcomer,
    ) == [(False, "revoked")]

    # a reader reads, and writes nothing
    assert "credit-risk  1.0.0    deployed" in s.ok("victor", "list")
    assert s.ok("victor", "audit", "verify").strip()
    before = s.head()
    refused = s.run("victor", "submit", REF)  # PostgreSQL refuses it, whatever govern allows
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
    assert "permission denied for table" in refused.stderr and "govern db grant" in refused.stderr
    assert s.head() == before


# --- govern db grant: who may run it ------------------------------------------------------------


def test_grant_is_refused_on_sqlite_with_one_line(sqlite_cat: Catalogue) -> None:
    result = invoke_cli("db", "grant", "--login", "alice", user="admin", db=sqlite_cat.url)
    assert assert_clean_failure(result) == [
        "error: govern db grant is for a PostgreSQL catalogue: a SQLite file has no database "
        "logins (protect it with file permissions)"
    ]


def test_grant_needs_an_admin_and_real_person_logins(logins: Logins, pg_cat: Catalogue) -> None:
    url = pg_cat.url
    person = logins.create("pat")
    count = "SELECT count(*) FROM audit_event"
    with superuser(url) as conn:
        (events,) = conn.execute(count).fetchone()  # type: ignore[misc]

    refused = invoke_cli("db", "grant", "--login", person, user="alice", db=url)
    (line,) = assert_clean_failure(refused)
    assert (
        line
        == "error: alice is a developer and cannot grant database access; that needs the role admin"
    )

    nobody = invoke_cli("db", "grant", "--login", f"nobody_{logins.suffix}", user="admin", db=url)
    assert "no database role" in assert_clean_failure(nobody)[0]
    powerful = logins.create("root", "SUPERUSER")
    refused_login = invoke_cli("db", "grant", "--login", powerful, user="admin", db=url)
    assert "holds the privileges of govern" in assert_clean_failure(refused_login)[0]
    group = invoke_cli("db", "grant", "--role-prefix", "not a name", user="admin", db=url)
    assert "does not make plain role names" in assert_clean_failure(group)[0]

    with superuser(url) as conn:
        assert conn.execute(count).fetchone() == (events + 1,)  # alice's refusal, recorded
        member = conn.execute(
            "SELECT pg_has_role(%s, 'govern_writer', 'MEMBER')", (person,)
        ).fetchone()
    assert member == (False,)


def test_a_catalogue_owned_by_a_role_of_its_own_is_set_up_without_a_superuser(
    logins: Logins, tmp_path: Path
) -> None:
    """The setup of docs/postgresql.md: an owner role that is no superuser (CREATEROLE, to
    make the group roles), `govern init` as that owner, the grant, database-login; then an
    admin does the owner's work from her own login with `options=-c role=OWNER`."""
    owner = logins.create("owner")
    ann, alice = logins.create("ann"), logins.create("alice")
    prefix = f"catalogue_{logins.suffix}"  # group roles of its own, dropped below
    name = f"govern_test_{logins.suffix}"
    with superuser() as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(*map(sql.Identifier, (name, owner)))
        )
    try:
        url = login_url(f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}", owner)
        roles = ("--role-prefix", prefix)
        assert invoke_cli("init", user=ann, db=url).returncode == 0
        added = invoke_cli(
            "users",
            "add",
            alice,
            "--role",
            "developer",
            "--key",
            str(public_key(alice)),
            user=ann,
            db=url,
        )
        assert added.returncode == 0, added.stderr
        refused = invoke_cli("db", "grant", *roles, "--admin", ann, user=ann, db=url)
        (line,) = assert_clean_failure(refused)
        assert line.startswith(f"error: cannot create the group role {prefix}_reader (the owner")
        assert line.endswith(": permission denied to create role")
        with superuser() as conn:
            conn.execute(sql.SQL("ALTER ROLE {} CREATEROLE").format(sql.Identifier(owner)))
        granted = invoke_cli("db", "grant", *roles, "--admin", ann, user=ann, db=url)
        assert granted.returncode == 0, granted.stderr
        assert f"(created {prefix}_reader, {prefix}_writer, {prefix}_admin)" in granted.stdout
        settings = tmp_path / "org.yaml"
        settings.write_text(DATABASE_LOGIN, encoding="utf-8")
        assert invoke_cli("settings", "apply", str(settings), user=ann, db=url).returncode == 0

        # a newcomer: ann grants from her own login, taking the owner's role for the session
        with superuser() as conn:
            conn.execute(sql.SQL("GRANT {} TO {}").format(*map(sql.Identifier, (owner, ann))))
        as_owner = login_url(url, ann) + f"?options=-c%20role%3D{owner}"
        granted = invoke_cli("db", "grant", *roles, "--login", alice, user=ann, db=as_owner)
        assert granted.returncode == 0, granted.stderr
        with superuser() as conn:
            conn.execute(sql.SQL("REVOKE {} FROM {}").format(*map(sql.Identifier, (owner, ann))))
        registered = invoke_cli("register", str(CARD), user=alice, db=login_url(url, alice))
        assert registered.returncode == 0, registered.stderr
        owned = invoke_cli("db", "grant", *roles, user=ann, db=login_url(url, ann))
        assert "does not hold the privileges of" in assert_clean_failure(owned)[0]
    finally:
        with superuser() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            for group in ("reader", "writer", "admin"):
                role = f"{prefix}_{group}"
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
